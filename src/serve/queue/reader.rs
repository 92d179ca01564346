//! Readers: each delivery worker's position in the queue and its persisted cursor, and the
//! deletion of the segments every reader has finished.

use std::fs::{self, File};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::segment::read_record;
use super::{HEADER_LEN, QueueError, Shared, io_error};

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub payload: Vec<u8>,
}

/// Reads the queue in order for one consumer, from its cursor.
pub struct Reader {
    pub(super) shared: Arc<Shared>,
    pub(super) name: String,
    /// The next record to return.
    pub(super) next_seq: u64,
    pub(super) persisted: u64,
    /// The segment being read (its first seq), open, and the offset of the next record.
    pub(super) position: Option<(u64, File, u64)>,
}

impl Reader {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sequence number of the next record [`Reader::next`] returns.
    pub fn position(&self) -> u64 {
        self.next_seq
    }

    /// The next record, waiting up to `wait` for one to be committed. `Ok(None)` when none
    /// came (or the queue is closed and read to its end). A record returned is not finished
    /// until [`Reader::persist`] is called after it.
    pub fn next(&mut self, wait: Duration) -> Result<Option<Record>, QueueError> {
        let deadline = Instant::now() + wait;
        loop {
            let (first, path, committed_len, following) = {
                let mut state = self.shared.lock();
                while self.next_seq >= state.next_seq {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() || state.closed {
                        return Ok(None);
                    }
                    state = self
                        .shared
                        .committed
                        .wait_timeout(state, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                let current = match &self.position {
                    Some((first, _, _)) if state.segments.contains_key(first) => *first,
                    _ => {
                        self.position = None;
                        match state.segment_for(self.next_seq) {
                            Some(first) => first,
                            None => return Ok(None),
                        }
                    }
                };
                let Some(segment) = state.segments.get(&current) else {
                    return Ok(None);
                };
                let following = state
                    .segments
                    .range(current + 1..)
                    .next()
                    .map(|(first, _)| *first);
                (current, segment.path.clone(), segment.len, following)
            };
            if self.position.is_none() {
                let file = File::open(&path).map_err(io_error("cannot open", &path))?;
                self.position = Some((first, file, 0));
                if self.next_seq < first {
                    // Records before this segment are gone (deleted or never written).
                    self.next_seq = first;
                }
            }
            let Some((_, file, offset)) = &mut self.position else {
                continue;
            };
            if *offset >= committed_len {
                match following {
                    Some(next_first) => {
                        self.position = None;
                        self.next_seq = self.next_seq.max(next_first);
                        continue;
                    }
                    None => {
                        // Committed seq says more exists, yet this segment is read to its end:
                        // the writer is rolling to a new segment. Wait for it.
                        std::thread::sleep(Duration::from_millis(1));
                        if Instant::now() >= deadline {
                            return Ok(None);
                        }
                        continue;
                    }
                }
            }
            match read_record(file, *offset, committed_len) {
                Ok((seq, payload)) => {
                    *offset += (HEADER_LEN + payload.len()) as u64;
                    if seq < self.next_seq {
                        continue;
                    }
                    self.next_seq = seq + 1;
                    return Ok(Some(Record { seq, payload }));
                }
                Err(reason) => {
                    let error = QueueError::Corrupt {
                        path: path.clone(),
                        offset: *offset,
                        reason,
                    };
                    // A damaged sealed segment cannot be read further; skip to the next one
                    // rather than block this reader for ever.
                    tracing::error!("queue reader {}: {error}; skipping the segment", self.name);
                    match following {
                        Some(next_first) => {
                            self.position = None;
                            self.next_seq = self.next_seq.max(next_first);
                        }
                        None => return Err(error),
                    }
                }
            }
        }
    }

    /// Records that every record before `next_seq` is finished, on disk, atomically; then
    /// deletes the segments no reader needs any more.
    pub fn persist(&mut self, next_seq: u64) -> Result<(), QueueError> {
        if next_seq == self.persisted {
            return Ok(());
        }
        write_cursor(&self.shared.cursor_dir, &self.name, next_seq)?;
        self.persisted = next_seq;
        self.shared
            .lock()
            .cursors
            .insert(self.name.clone(), next_seq);
        delete_finished_segments(&self.shared);
        Ok(())
    }

    /// The cursor last persisted.
    pub fn persisted(&self) -> u64 {
        self.persisted
    }
}

/// Deletes sealed segments every known reader's persisted cursor is past. With no reader
/// known, nothing is deleted: a reader about to be opened may still need it.
pub(super) fn delete_finished_segments(shared: &Shared) {
    let mut state = shared.lock();
    let Some(oldest_needed) = state.cursors.values().min().copied() else {
        return;
    };
    let firsts: Vec<u64> = state.segments.keys().copied().collect();
    for pair in firsts.windows(2) {
        let (first, next_first) = (pair[0], pair[1]);
        if next_first > oldest_needed {
            break;
        }
        if let Some(segment) = state.segments.remove(&first) {
            match fs::remove_file(&segment.path) {
                Ok(()) => tracing::debug!("queue: deleted {}", segment.path.display()),
                Err(error) => {
                    tracing::warn!("queue: cannot delete {}: {error}", segment.path.display())
                }
            }
        }
    }
}

pub(super) fn read_cursor(path: &Path) -> Result<u64, QueueError> {
    let text = fs::read_to_string(path).map_err(io_error("cannot read", path))?;
    text.trim().parse::<u64>().map_err(|_| QueueError::Corrupt {
        path: path.to_owned(),
        offset: 0,
        reason: format!("{:?} is not a sequence number", text.trim()),
    })
}

/// Replaces a cursor file atomically: a crash leaves the old value or the new one.
pub(super) fn write_cursor(dir: &Path, name: &str, seq: u64) -> Result<(), QueueError> {
    let path = dir.join(name);
    crate::files::replace(&path, format!("{seq}\n").as_bytes())
        .map_err(io_error("cannot replace", &path))
}
