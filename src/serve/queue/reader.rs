//! Readers: each delivery worker's place in the queue and its saved position, and the
//! deletion of the segments every reader has finished.

use std::fs::{self, File};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::segment::{Format, find_next, read_record};
use super::{QueueError, Shared, io_error};

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub payload: Vec<u8>,
}

/// The segment being read.
struct Open {
    first: u64,
    file: File,
    format: Format,
    /// Offset of the next record.
    offset: u64,
    /// The sequence number after the last record read in it (its first before any).
    expect: u64,
}

/// Reads the queue in order for one consumer, from its position.
pub struct Reader {
    shared: Arc<Shared>,
    name: String,
    /// The next record to return.
    next_seq: u64,
    persisted: u64,
    /// The position is not saved yet although nothing moved (the first save failed).
    unsaved: bool,
    open: Option<Open>,
}

impl Reader {
    pub(super) fn new(shared: Arc<Shared>, name: &str, next_seq: u64, unsaved: bool) -> Reader {
        Reader {
            shared,
            name: name.to_owned(),
            next_seq,
            persisted: next_seq,
            unsaved,
            open: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sequence number of the next record [`Reader::next`] returns.
    pub fn position(&self) -> u64 {
        self.next_seq
    }

    /// The next record, waiting up to `wait` for one to be committed. `Ok(None)` when none
    /// came (or the queue is closed and read to its end). A record returned is not finished
    /// until [`Reader::persist`] is called after it. Damaged records are skipped (and logged
    /// at ERROR once, with their sequence numbers): the next whole record is returned.
    pub fn next(&mut self, wait: Duration) -> Result<Option<Record>, QueueError> {
        let deadline = Instant::now() + wait;
        loop {
            let (first, path, format, committed_len, following) = {
                let mut state = self.shared.lock();
                // A deleted segment's space comes back only once its last descriptor is
                // closed: an idle reader must not hold it (on a full disk, that space is what
                // lets intake resume).
                if self
                    .open
                    .as_ref()
                    .is_some_and(|open| !state.segments.contains_key(&open.first))
                {
                    self.open = None;
                }
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
                let current = match &self.open {
                    Some(open) if state.segments.contains_key(&open.first) => open.first,
                    _ => {
                        self.open = None;
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
                (
                    current,
                    segment.path.clone(),
                    segment.format,
                    segment.len,
                    following,
                )
            };
            if self.open.is_none() {
                let file = File::open(&path).map_err(io_error("cannot open", &path))?;
                self.open = Some(Open {
                    first,
                    file,
                    format,
                    offset: 0,
                    expect: first,
                });
                if self.next_seq < first {
                    // Records before this segment are gone (delivered and deleted).
                    self.next_seq = first;
                }
            }
            let Some(open) = &mut self.open else {
                continue;
            };
            if open.offset >= committed_len {
                match following {
                    Some(next_first) => {
                        self.open = None;
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
            let reason = match read_record(&open.file, open.offset, committed_len, open.format) {
                Ok((seq, payload)) if seq >= open.expect => {
                    open.offset += (open.format.header_len() + payload.len()) as u64;
                    open.expect = seq + 1;
                    if seq < self.next_seq {
                        continue;
                    }
                    self.next_seq = seq + 1;
                    return Ok(Some(Record { seq, payload }));
                }
                Ok((seq, _)) => format!("sequence {seq} goes backwards"),
                Err(reason) => reason,
            };
            let found = match open.format {
                Format::Marked => {
                    find_next(&open.file, open.offset + 1, committed_len, open.expect).map_err(
                        |reason| QueueError::Io {
                            what: "cannot read",
                            path: path.clone(),
                            reason,
                        },
                    )?
                }
                Format::Legacy => None,
            };
            let damaged_at = open.offset;
            match (found, following) {
                (Some(found), _) => {
                    self.shared.report_damage(
                        &path,
                        first,
                        damaged_at,
                        open.expect..found.seq,
                        &reason,
                    );
                    open.offset = found.offset;
                }
                (None, Some(next_first)) => {
                    // Nothing whole after the damage: the rest of the segment is lost.
                    self.shared.report_damage(
                        &path,
                        first,
                        damaged_at,
                        open.expect..next_first,
                        &reason,
                    );
                    self.open = None;
                    self.next_seq = self.next_seq.max(next_first);
                }
                (None, None) => {
                    return Err(QueueError::Corrupt {
                        path,
                        offset: damaged_at,
                        reason,
                    });
                }
            }
        }
    }

    /// Records that every record before `next_seq` is finished: frees the segments no reader
    /// needs any more, then saves the position (atomically). When the save fails, the
    /// segments are freed all the same (a crash would resend less, not lose anything), and
    /// the next call tries the save again.
    pub fn persist(&mut self, next_seq: u64) -> Result<(), QueueError> {
        if next_seq == self.persisted && !self.unsaved {
            return Ok(());
        }
        self.shared
            .lock()
            .cursors
            .insert(self.name.clone(), next_seq);
        delete_finished_segments(&self.shared);
        if let Err(error) = self.shared.save_positions() {
            self.unsaved = true;
            return Err(error);
        }
        self.persisted = next_seq;
        self.unsaved = false;
        Ok(())
    }

    /// The position last saved.
    pub fn persisted(&self) -> u64 {
        self.persisted
    }
}

/// Deletes sealed segments every known reader is past (in memory: deleting needs no free
/// space, and must not wait for the positions file when the disk is full). With no reader
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
