//! Segments on disk: framing, reading one record back, finding the next whole record after a
//! damaged one, recovery of the last segment at start, creation.
//!
//! A record is `[marker "\xFBMQ2"][payload length u32 LE][seq u64 LE][crc32 u32 LE][payload]`,
//! the CRC covering marker, length, seq and payload. The marker lets a reader find the next
//! record after a damaged one (it cannot occur in a JSON payload: 0xFB is never in UTF-8), so
//! a damaged byte costs one record, not the rest of the segment. Segments written before the
//! marker (`[length][crc32][seq][payload]`, the CRC over seq and payload) are still read; they
//! are recognised by their first bytes and never appended to.

use std::fs::{File, OpenOptions};
use std::ops::Range;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{HEADER_LEN, MAX_PAYLOAD_LEN, QueueError, Segment, Shared, io_error};

/// The first bytes of every record.
pub(super) const MARKER: [u8; 4] = [0xFB, b'M', b'Q', b'2'];
/// Header bytes of a record written before the marker.
const LEGACY_HEADER_LEN: usize = 16;
/// Bytes read at a time while looking for the next record.
const SCAN_CHUNK: usize = 64 * 1024;

/// How a segment's records are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Marked,
    /// Before the marker: read only, never resynchronised.
    Legacy,
}

impl Format {
    /// The format of the segment `file`: legacy when it has bytes that do not start with the
    /// marker (a legacy record starts with its length, below 16 MiB, so its fourth byte is 0 or
    /// 1, never `'2'`).
    pub(super) fn of(file: &File, len: u64) -> std::io::Result<Format> {
        if len < MARKER.len() as u64 {
            return Ok(Format::Marked);
        }
        let mut start = [0u8; 4];
        file.read_exact_at(&mut start, 0)?;
        Ok(if start == MARKER {
            Format::Marked
        } else {
            Format::Legacy
        })
    }

    pub(super) fn header_len(self) -> usize {
        match self {
            Format::Marked => HEADER_LEN,
            Format::Legacy => LEGACY_HEADER_LEN,
        }
    }
}

/// Reads the record at `offset`; `Err` with the reason when it is incomplete or damaged.
pub(super) fn read_record(
    file: &File,
    offset: u64,
    end: u64,
    format: Format,
) -> Result<(u64, Vec<u8>), String> {
    let header_len = format.header_len();
    if end.saturating_sub(offset) < header_len as u64 {
        return Err("incomplete record header".into());
    }
    let mut header = [0u8; HEADER_LEN];
    let header = &mut header[..header_len];
    file.read_exact_at(header, offset)
        .map_err(|e| e.to_string())?;
    let word = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let (len, crc, seq_at) = match format {
        Format::Marked => {
            if header[..4] != MARKER {
                return Err("no record marker".into());
            }
            (word(4) as usize, word(16), 8)
        }
        Format::Legacy => (word(0) as usize, word(4), 8),
    };
    let mut seq_bytes = [0u8; 8];
    seq_bytes.copy_from_slice(&header[seq_at..seq_at + 8]);
    if len == 0 || len > MAX_PAYLOAD_LEN {
        return Err(format!("impossible record length {len}"));
    }
    if end - offset - (header_len as u64) < len as u64 {
        return Err("incomplete record".into());
    }
    let mut payload = vec![0u8; len];
    file.read_exact_at(&mut payload, offset + header_len as u64)
        .map_err(|e| e.to_string())?;
    let mut hasher = crc32fast::Hasher::new();
    match format {
        Format::Marked => hasher.update(&header[..16]),
        Format::Legacy => hasher.update(&seq_bytes),
    }
    hasher.update(&payload);
    if hasher.finalize() != crc {
        return Err("checksum mismatch".into());
    }
    Ok((u64::from_le_bytes(seq_bytes), payload))
}

/// Appends the frame of one record to `out`.
pub(super) fn frame(seq: u64, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&out[start..]);
    hasher.update(payload);
    out.extend_from_slice(&hasher.finalize().to_le_bytes());
    out.extend_from_slice(payload);
}

/// A whole record found after damage.
#[derive(Debug)]
pub(super) struct Found {
    pub offset: u64,
    pub seq: u64,
}

/// The first whole record in `from..end` of a marked segment whose seq is at least `min_seq`,
/// found by its marker and checked by its CRC.
pub(super) fn find_next(
    file: &File,
    from: u64,
    end: u64,
    min_seq: u64,
) -> Result<Option<Found>, String> {
    let mut buffer = vec![0u8; SCAN_CHUNK];
    let mut start = from;
    while end.saturating_sub(start) >= HEADER_LEN as u64 {
        let len = SCAN_CHUNK.min((end - start) as usize);
        let chunk = &mut buffer[..len];
        file.read_exact_at(chunk, start)
            .map_err(|e| e.to_string())?;
        for at in 0..len.saturating_sub(MARKER.len() - 1) {
            if chunk[at..at + MARKER.len()] != MARKER {
                continue;
            }
            let offset = start + at as u64;
            if let Ok((seq, _)) = read_record(file, offset, end, Format::Marked)
                && seq >= min_seq
            {
                return Ok(Some(Found { offset, seq }));
            }
        }
        // The next chunk overlaps by less than a marker, so none is seen twice or missed.
        start += (len - (MARKER.len() - 1)) as u64;
    }
    Ok(None)
}

/// Damage found inside a segment: bytes at `offset` that are no record, and the sequence
/// numbers missing there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Damage {
    pub offset: u64,
    pub bytes: u64,
    pub lost: Range<u64>,
    pub reason: String,
}

/// What reading the last segment at start found.
#[derive(Debug)]
pub(super) struct Recovered {
    pub format: Format,
    /// Bytes up to the end of the last whole record.
    pub len: u64,
    /// The sequence number after the last whole record (the segment's first when empty).
    pub next_seq: u64,
    /// Damaged records with whole records after them (kept in the file, skipped by readers).
    pub damage: Vec<Damage>,
    /// Bytes cut off the end: a write torn by a crash or power loss, and why they were cut.
    pub cut: Option<(u64, String)>,
}

/// Reads the last segment record by record: damage followed by whole records is skipped (and
/// listed), bytes after the last whole record are cut off (a torn write).
pub(super) fn recover_segment(path: &Path, first: u64) -> Result<Recovered, QueueError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_error("cannot open", path))?;
    let end = file
        .metadata()
        .map_err(io_error("cannot read", path))?
        .len();
    let format = Format::of(&file, end).map_err(io_error("cannot read", path))?;
    let mut recovered = Recovered {
        format,
        len: 0,
        next_seq: first,
        damage: Vec::new(),
        cut: None,
    };
    let mut offset = 0;
    while offset < end {
        let reason = match read_record(&file, offset, end, format) {
            Ok((seq, payload)) if seq >= recovered.next_seq => {
                recovered.next_seq = seq + 1;
                offset += (format.header_len() + payload.len()) as u64;
                continue;
            }
            Ok((seq, _)) => format!("sequence {seq} goes backwards"),
            Err(reason) => reason,
        };
        let found = match format {
            Format::Marked => {
                find_next(&file, offset + 1, end, recovered.next_seq).map_err(|reason| {
                    QueueError::Io {
                        what: "cannot read",
                        path: path.to_owned(),
                        reason,
                    }
                })?
            }
            Format::Legacy => None,
        };
        match found {
            Some(found) => {
                recovered.damage.push(Damage {
                    offset,
                    bytes: found.offset - offset,
                    lost: recovered.next_seq..found.seq,
                    reason,
                });
                offset = found.offset;
            }
            None => {
                recovered.cut = Some((end - offset, reason));
                break;
            }
        }
    }
    recovered.len = offset;
    if offset < end {
        file.set_len(offset).map_err(io_error("cannot cut", path))?;
        file.sync_all().map_err(io_error("cannot flush", path))?;
    }
    Ok(recovered)
}

/// The segment appends go to: the last one, or a new one when there is none or the last one
/// is in the legacy format.
pub(super) fn open_active(shared: &Shared) -> Result<(u64, File), QueueError> {
    let mut state = shared.lock();
    let last = state
        .segments
        .iter()
        .next_back()
        .filter(|(_, segment)| segment.format == Format::Marked)
        .map(|(first, segment)| (*first, segment.path.clone()));
    match last {
        Some((first, path)) => {
            let file = OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(io_error("cannot open", &path))?;
            Ok((first, file))
        }
        None => {
            let first = state.next_seq;
            let (path, file) = create_segment(&shared.dir, first)?;
            state.segments.insert(first, Segment::new(path));
            Ok((first, file))
        }
    }
}

/// Creates an empty segment, private to the daemon's user. Needs no free data block, so a
/// full file system can still seal the active segment.
pub(super) fn create_segment(dir: &Path, first: u64) -> Result<(PathBuf, File), QueueError> {
    let path = dir.join(format!("seg-{first:020}.log"));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(io_error("cannot create", &path))?;
    // The new name must survive a power loss before records in it are acknowledged.
    sync_dir(dir)?;
    Ok((path, file))
}

pub(super) fn sync_dir(dir: &Path) -> Result<(), QueueError> {
    crate::files::sync_dir(dir).map_err(io_error("cannot flush", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_record_is_found_past_damage_across_read_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        // Records larger than a scan chunk, so the marker sought may straddle two chunks.
        let payloads: Vec<Vec<u8>> = (0..4u8).map(|n| vec![b'a' + n; 100_000]).collect();
        let mut bytes = Vec::new();
        let mut offsets = Vec::new();
        for (seq, payload) in payloads.iter().enumerate() {
            offsets.push(bytes.len() as u64);
            frame(seq as u64 + 7, payload, &mut bytes);
        }
        bytes[offsets[1] as usize + HEADER_LEN + 50_000] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let end = bytes.len() as u64;
        assert!(read_record(&file, offsets[1], end, Format::Marked).is_err());
        let found = find_next(&file, offsets[1] + 1, end, 9).unwrap().unwrap();
        assert_eq!((found.offset, found.seq), (offsets[2], 9));
        // A record older than asked for is passed over; none after the last one.
        let found = find_next(&file, 0, end, 10).unwrap().unwrap();
        assert_eq!((found.offset, found.seq), (offsets[3], 10));
        assert!(find_next(&file, offsets[3] + 1, end, 0).unwrap().is_none());
        for start in offsets[2] - 3..=offsets[2] {
            let found = find_next(&file, start, offsets[2] + 10, 0).unwrap();
            assert!(found.is_none(), "a record cut short is no record");
        }
    }

    #[test]
    fn recovery_keeps_records_after_damage_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        let mut bytes = Vec::new();
        let mut offsets = Vec::new();
        for seq in 10..20u64 {
            offsets.push(bytes.len());
            frame(seq, format!("record {seq}").as_bytes(), &mut bytes);
        }
        let whole = bytes.len() as u64;
        bytes[offsets[4] + 6] ^= 0x01;
        bytes.extend_from_within(offsets[9]..offsets[9] + 9);
        std::fs::write(&path, &bytes).unwrap();
        let recovered = recover_segment(&path, 10).unwrap();
        assert_eq!(recovered.next_seq, 20);
        assert_eq!(recovered.len, whole);
        assert_eq!(recovered.damage.len(), 1);
        assert_eq!(recovered.damage[0].offset, offsets[4] as u64);
        assert_eq!(recovered.damage[0].lost, 14..15);
        assert_eq!(recovered.cut.map(|(bytes, _)| bytes), Some(9));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
    }
}
