//! The delivery positions, `<queue>/positions`: every reader (destination or failover group)
//! the queue knows, with the sequence number of its next unfinished record, and the queue's
//! high-water mark (the sequence number the next record got when the file was written). One
//! small text file, checksummed and replaced atomically:
//!
//! ```text
//! monbridge queue positions 1
//! high_water 250
//! reader nms-a 200
//! reader nms-b 250
//! crc32 3c312886
//! ```
//!
//! The CRC (hexadecimal) covers every byte before its line. A file that does not check is
//! damage, never a reason to skip records: the queue then redelivers what it holds.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

const FIRST_LINE: &str = "monbridge queue positions 1\n";
/// A real file is a few hundred bytes; anything larger is damage, not read whole.
const MAX_LEN: u64 = 1024 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Positions {
    pub high_water: u64,
    pub readers: BTreeMap<String, u64>,
}

/// What the positions file held.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Loaded {
    Missing,
    Good(Positions),
    /// Why it cannot be trusted.
    Damaged(String),
}

pub(super) fn encode(positions: &Positions) -> Vec<u8> {
    let mut text = String::from(FIRST_LINE);
    text.push_str(&format!("high_water {}\n", positions.high_water));
    for (name, seq) in &positions.readers {
        text.push_str(&format!("reader {name} {seq}\n"));
    }
    let crc = crc32fast::hash(text.as_bytes());
    text.push_str(&format!("crc32 {crc:08x}\n"));
    text.into_bytes()
}

pub(super) fn decode(bytes: &[u8]) -> Result<Positions, String> {
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "the file is not text".to_owned())?;
    let body_end = text
        .trim_end_matches('\n')
        .rfind('\n')
        .map(|at| at + 1)
        .ok_or("no checksum line")?;
    let (body, crc_line) = text.split_at(body_end);
    let crc = crc_line
        .trim_end()
        .strip_prefix("crc32 ")
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .ok_or("no checksum line")?;
    if crc32fast::hash(body.as_bytes()) != crc {
        return Err("checksum mismatch".into());
    }
    let mut lines = body.lines();
    if lines.next() != FIRST_LINE.strip_suffix('\n') {
        return Err("not a positions file of this version".into());
    }
    let mut positions = Positions::default();
    for line in lines {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["high_water", seq] => {
                positions.high_water = seq.parse().map_err(|_| format!("bad line {line:?}"))?;
            }
            ["reader", name, seq] if !name.is_empty() => {
                let seq = seq.parse().map_err(|_| format!("bad line {line:?}"))?;
                positions.readers.insert((*name).to_owned(), seq);
            }
            _ => return Err(format!("bad line {line:?}")),
        }
    }
    Ok(positions)
}

/// Reads the positions file; an I/O error other than "not found" is damage too (the queue
/// must start and redeliver rather than stop).
pub(super) fn load(path: &Path) -> Loaded {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Loaded::Missing,
        Err(error) => return Loaded::Damaged(format!("cannot open it: {error}")),
    };
    let mut bytes = Vec::new();
    if let Err(error) = file.take(MAX_LEN + 1).read_to_end(&mut bytes) {
        return Loaded::Damaged(format!("cannot read it: {error}"));
    }
    if bytes.len() as u64 > MAX_LEN {
        return Loaded::Damaged(format!("the file is larger than {MAX_LEN} bytes"));
    }
    match decode(&bytes) {
        Ok(positions) => Loaded::Good(positions),
        Err(reason) => Loaded::Damaged(reason),
    }
}

/// The positions of a queue written before this file existed: `cursors/<name>`, one number
/// each. A cursor that is not a number comes back as `Err` with the reason.
pub(super) fn load_legacy(dir: &Path) -> Option<BTreeMap<String, Result<u64, String>>> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut cursors = BTreeMap::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let value = std::fs::read_to_string(entry.path())
            .map_err(|e| e.to_string())
            .and_then(|text| {
                text.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{:?} is not a sequence number", text.trim()))
            });
        cursors.insert(name, value);
    }
    Some(cursors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Positions {
        Positions {
            high_water: 250,
            readers: [("nms-a".to_owned(), 200), ("nms-b".to_owned(), 250)].into(),
        }
    }

    #[test]
    fn positions_come_back_as_written_and_any_changed_byte_is_caught() {
        let bytes = encode(&sample());
        assert_eq!(decode(&bytes), Ok(sample()));
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x04;
            assert!(decode(&damaged).is_err(), "byte {at} changed unnoticed");
        }
        assert!(decode(&bytes[..bytes.len() / 2]).is_err());
        assert_eq!(decode(b""), Err("the file is empty".into()));
    }

    #[test]
    fn the_documented_example_checks() {
        let example = "monbridge queue positions 1\nhigh_water 250\nreader nms-a 200\n\
                       reader nms-b 250\ncrc32 3c312886\n";
        assert_eq!(decode(example.as_bytes()), Ok(sample()));
        assert_eq!(encode(&sample()), example.as_bytes());
    }

    #[test]
    fn a_missing_empty_or_huge_file_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("positions");
        assert_eq!(load(&path), Loaded::Missing);
        std::fs::write(&path, b"").unwrap();
        assert!(matches!(load(&path), Loaded::Damaged(_)));
        std::fs::write(&path, vec![b'7'; 2 * MAX_LEN as usize]).unwrap();
        assert!(matches!(load(&path), Loaded::Damaged(r) if r.contains("larger")));
        std::fs::write(&path, encode(&sample())).unwrap();
        assert_eq!(load(&path), Loaded::Good(sample()));
    }
}
