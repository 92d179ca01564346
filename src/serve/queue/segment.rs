//! Segments on disk: framing, reading one record back, recovery of a torn tail, creation.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{HEADER_LEN, MAX_PAYLOAD_LEN, QueueError, Segment, Shared, io_error};

/// Reads the record at `offset`; `Err` with the reason when it is incomplete or damaged.
pub(super) fn read_record(file: &File, offset: u64, end: u64) -> Result<(u64, Vec<u8>), String> {
    if end.saturating_sub(offset) < HEADER_LEN as u64 {
        return Err("incomplete record header".into());
    }
    let mut header = [0u8; HEADER_LEN];
    file.read_exact_at(&mut header, offset)
        .map_err(|e| e.to_string())?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let mut seq_bytes = [0u8; 8];
    seq_bytes.copy_from_slice(&header[8..16]);
    if len == 0 || len > MAX_PAYLOAD_LEN {
        return Err(format!("impossible record length {len}"));
    }
    if end - offset - (HEADER_LEN as u64) < len as u64 {
        return Err("incomplete record".into());
    }
    let mut payload = vec![0u8; len];
    file.read_exact_at(&mut payload, offset + HEADER_LEN as u64)
        .map_err(|e| e.to_string())?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq_bytes);
    hasher.update(&payload);
    if hasher.finalize() != crc {
        return Err("checksum mismatch".into());
    }
    Ok((u64::from_le_bytes(seq_bytes), payload))
}

pub(super) fn frame(seq: u64, payload: &[u8], out: &mut Vec<u8>) {
    let seq_bytes = seq.to_le_bytes();
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq_bytes);
    hasher.update(payload);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&hasher.finalize().to_le_bytes());
    out.extend_from_slice(&seq_bytes);
    out.extend_from_slice(payload);
}

/// Reads a segment to its last whole record, cuts off anything after it (a torn write), and
/// returns its valid length and the sequence number after its last record.
pub(super) fn recover_segment(path: &Path, first: u64) -> Result<(u64, u64), QueueError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_error("cannot open", path))?;
    let end = file
        .metadata()
        .map_err(io_error("cannot read", path))?
        .len();
    let mut offset = 0;
    let mut next_seq = first;
    while offset < end {
        match read_record(&file, offset, end) {
            Ok((seq, payload)) if seq >= next_seq => {
                next_seq = seq + 1;
                offset += (HEADER_LEN + payload.len()) as u64;
            }
            Ok((seq, _)) => {
                tracing::warn!(
                    "queue: {} at byte {offset}: sequence {seq} goes backwards; cutting here",
                    path.display()
                );
                break;
            }
            Err(reason) => {
                tracing::warn!(
                    "queue: {} at byte {offset}: {reason}; cutting the {} bytes of a torn write",
                    path.display(),
                    end - offset
                );
                break;
            }
        }
    }
    if offset < end {
        file.set_len(offset).map_err(io_error("cannot cut", path))?;
        file.sync_all().map_err(io_error("cannot flush", path))?;
    }
    Ok((offset, next_seq))
}

/// The segment appends go to: the last one, or a new one when there is none.
pub(super) fn open_active(shared: &Shared) -> Result<(u64, File), QueueError> {
    let mut state = shared.lock();
    let last = state
        .segments
        .iter()
        .next_back()
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
            state.segments.insert(first, Segment { path, len: 0 });
            Ok((first, file))
        }
    }
}

pub(super) fn create_segment(dir: &Path, first: u64) -> Result<(PathBuf, File), QueueError> {
    let path = dir.join(format!("seg-{first:020}.log"));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_error("cannot create", &path))?;
    // The new name must survive a power loss before records in it are acknowledged.
    sync_dir(dir)?;
    Ok((path, file))
}

pub(super) fn sync_dir(dir: &Path) -> Result<(), QueueError> {
    crate::files::sync_dir(dir).map_err(io_error("cannot flush", dir))
}
