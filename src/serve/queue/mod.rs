//! The durable queue between intake and delivery.
//!
//! On disk (in `<state>/queue/`, folder 0700, files 0600):
//! - `seg-<first seq, 20 digits>.log`: append-only segments of framed records (see
//!   [`segment`]: a marker, the length, the sequence number, a CRC over all of them and the
//!   payload). A record is acknowledged only once it is written and (by default) flushed with
//!   `fdatasync`; appends that arrive together share one flush (group commit).
//! - `positions`: every reader (a delivery worker) the queue knows, with the sequence number of
//!   its next unfinished record, and the high-water mark; checksummed and replaced atomically
//!   (see [`positions`]).
//!
//! Nothing is lost silently. Sequence numbers are never reused: the next one is past the
//! last record kept, every saved position and the saved high-water mark. Damage found at
//! start is repaired toward redelivery and logged at ERROR with the records it concerns: a
//! positions file that is missing (while records are kept), unreadable or fails its checksum
//! sends every reader back to the oldest record kept, as does a position past the high-water
//! mark; a damaged record costs that record only (readers resynchronise on the next marker);
//! records missing from the end of the last segment below the high-water mark (a torn tail
//! after a power loss with `sync: os`) are reported, and new records never take their numbers.
//! Bytes after the last whole record that no later record follows are a torn, never
//! acknowledged write (with `sync: always`) and are cut.
//!
//! A segment is deleted once every reader has finished it, even when the positions cannot be
//! saved (a crash then resends less, never loses); when the segments hold `max_bytes`, appends
//! are refused ([`QueueError::Full`]), and when the disk refuses a write, appends fail with
//! [`QueueError::Unavailable`] until it takes them again: nothing accepted is ever dropped.

mod open;
mod positions;
mod reader;
mod segment;
mod throttle;
mod writer;

pub use open::private_dir;
pub use reader::{Reader, Record};
pub use throttle::{LOG_EVERY, Throttle};

use reader::delete_finished_segments;
use segment::{Format, open_active};
use writer::writer_loop;

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::config::QueueConfig;

/// Bytes of a record's frame before its payload.
pub const HEADER_LEN: usize = 20;
/// Largest payload: an audit is at most 1 MiB of JSON, its notifications a few times that.
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024 * 1024;
/// Most bytes one group commit writes before flushing.
const MAX_COMMIT_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    #[error("{what} {}: {reason}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "the queue is full ({used} of {limit} bytes on disk): new audits are refused until the \
         destinations catch up"
    )]
    Full { used: u64, limit: u64 },
    /// The disk refused the write (full, over quota, failing): nothing of the append was
    /// accepted, and the same append may succeed later.
    #[error("cannot store audits in {} now ({reason}): retry later", path.display())]
    Unavailable { path: PathBuf, reason: String },
    #[error("a record of {size} bytes is larger than the {MAX_PAYLOAD_LEN}-byte limit")]
    TooLarge { size: usize },
    #[error("the queue is closed")]
    Closed,
    #[error("segment {} is corrupt at byte {offset}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
}

impl QueueError {
    /// The append was refused for now and may be retried as it is (full queue or storage
    /// unavailable): an intake answers "retry later" (HTTP 503 with `Retry-After`) or waits.
    pub fn retry_later(&self) -> bool {
        matches!(
            self,
            QueueError::Full { .. } | QueueError::Unavailable { .. }
        )
    }
}

fn io_error<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> QueueError + 'a {
    move |error| QueueError::Io {
        what,
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

/// Sequence numbers given to one append: `first..first + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub first: u64,
    pub count: u64,
}

/// Called once an append is durable (or failed); runs on the queue's writer thread, so it must
/// be quick (hand the result to another thread).
pub type Completion = Box<dyn FnOnce(Result<Receipt, QueueError>) + Send>;

struct Append {
    payloads: Vec<Vec<u8>>,
    done: Completion,
}

#[derive(Debug, Clone)]
struct Segment {
    path: PathBuf,
    /// Bytes of whole, committed records (and of damage between them).
    len: u64,
    format: Format,
}

impl Segment {
    fn new(path: PathBuf) -> Segment {
        Segment {
            path,
            len: 0,
            format: Format::Marked,
        }
    }
}

struct State {
    segments: BTreeMap<u64, Segment>,
    /// Sequence number the next appended record gets; all below are committed (or lost).
    next_seq: u64,
    /// Position of each reader known: saved in `positions`, or opened since the queue was
    /// (kept after the reader is dropped, so a reader that ends early still holds back the
    /// segments it needs, until [`Queue::forget_readers_except`] drops it). Updated before
    /// the file is written, so segments are freed even when it cannot be.
    cursors: BTreeMap<String, u64>,
    /// The positions file was damaged: a reader not in it may be one whose position was lost,
    /// so it starts at the oldest record kept rather than at the end. Cleared once the
    /// configured readers are opened.
    unknown_from_oldest: bool,
    /// Damage already logged, by segment first seq and byte offset: logged once, not by
    /// every reader that reaches it.
    reported: HashSet<(u64, u64)>,
    closed: bool,
}

impl State {
    fn used_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.len).sum()
    }

    /// The segment holding `seq`, or the first one when `seq` is older than all of them.
    fn segment_for(&self, seq: u64) -> Option<u64> {
        self.segments
            .range(..=seq)
            .next_back()
            .map(|(first, _)| *first)
            .or_else(|| self.segments.keys().next().copied())
    }

    /// The oldest record kept (or the next one when none is).
    fn oldest_seq(&self) -> u64 {
        self.segments
            .keys()
            .next()
            .copied()
            .unwrap_or(self.next_seq)
            .min(self.next_seq)
    }
}

struct Shared {
    dir: PathBuf,
    positions_path: PathBuf,
    config: QueueConfig,
    state: Mutex<State>,
    /// Signalled on every commit and on close.
    committed: Condvar,
    /// Held while the positions file is replaced, so writes never cross.
    saving: Mutex<()>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes every known position and the high-water mark, atomically.
    fn save_positions(&self) -> Result<(), QueueError> {
        let _saving = self.saving.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = {
            let state = self.lock();
            positions::encode(&positions::Positions {
                high_water: state.next_seq,
                readers: state.cursors.clone(),
            })
        };
        crate::files::replace(&self.positions_path, &bytes)
            .map_err(io_error("cannot replace", &self.positions_path))
    }

    /// Logs damage in a segment at ERROR, once however many readers come across it.
    fn report_damage(&self, segment: &Path, first: u64, offset: u64, lost: Range<u64>, why: &str) {
        if !self.lock().reported.insert((first, offset)) {
            return;
        }
        let lost_text = match lost.end.saturating_sub(lost.start) {
            0 => "no record lost".to_owned(),
            1 => format!("1 record lost, sequence number {}", lost.start),
            n => format!(
                "{n} records lost, sequence numbers {} to {}",
                lost.start,
                lost.end - 1
            ),
        };
        tracing::error!(
            "queue: {} is damaged at byte {offset} ({why}): {lost_text}; reading on from the \
             next whole record",
            segment.display()
        );
    }
}

/// A durable, multi-reader queue of opaque records.
pub struct Queue {
    shared: Arc<Shared>,
    appends: Mutex<Option<mpsc::Sender<Append>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Queue {
    /// Opens (or creates) the queue in `dir`, repairing what it finds damaged (see the module
    /// documentation), and starts its writer.
    pub fn open(dir: &Path, config: QueueConfig) -> Result<Queue, QueueError> {
        let opened = open::open_state(dir)?;
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            positions_path: opened.positions_path,
            config,
            state: Mutex::new(opened.state),
            committed: Condvar::new(),
            saving: Mutex::new(()),
        });
        let active = open_active(&shared)?;
        let (sender, receiver) = mpsc::channel();
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("queue-writer".into())
            .spawn(move || writer_loop(&writer_shared, active, &receiver))
            .map_err(io_error("cannot start the writer for", dir))?;
        Ok(Queue {
            shared,
            appends: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Appends records; `done` runs once they are durable (or could not be written). The
    /// records of one append are committed together, in order.
    pub fn append(&self, payloads: Vec<Vec<u8>>, done: Completion) {
        if let Some(size) = payloads
            .iter()
            .map(Vec::len)
            .find(|&len| len > MAX_PAYLOAD_LEN || len == 0)
        {
            done(Err(QueueError::TooLarge { size }));
            return;
        }
        let sender = self
            .appends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match sender {
            Some(sender) => {
                if let Err(mpsc::SendError(append)) = sender.send(Append { payloads, done }) {
                    (append.done)(Err(QueueError::Closed));
                }
            }
            None => done(Err(QueueError::Closed)),
        }
    }

    /// Appends and waits until the records are durable.
    pub fn append_wait(&self, payloads: Vec<Vec<u8>>) -> Result<Receipt, QueueError> {
        let (sender, receiver) = mpsc::sync_channel(1);
        self.append(
            payloads,
            Box::new(move |result| {
                let _ = sender.send(result);
            }),
        );
        receiver.recv().unwrap_or(Err(QueueError::Closed))
    }

    /// Commits every append already made, then stops the writer; later appends fail with
    /// [`QueueError::Closed`]. Readers see the queue as closed once they reach its end.
    pub fn close(&self) {
        self.appends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = writer.join();
        }
        self.shared.lock().closed = true;
        self.shared.committed.notify_all();
    }

    /// Sequence number of the next record to be appended.
    pub fn next_seq(&self) -> u64 {
        self.shared.lock().next_seq
    }

    /// Bytes of committed records on disk.
    pub fn used_bytes(&self) -> u64 {
        self.shared.lock().used_bytes()
    }

    /// Records each reader has yet to finish, by reader name.
    pub fn backlog(&self) -> Vec<(String, u64)> {
        let state = self.shared.lock();
        state
            .cursors
            .iter()
            .map(|(name, cursor)| (name.clone(), state.next_seq.saturating_sub(*cursor)))
            .collect()
    }

    /// Opens the reader `name` at its saved position. A reader seen for the first time starts
    /// after the last committed record (or, when the positions file was damaged, at the oldest
    /// record kept), and its position is saved at once, so no record appended from now on can
    /// be missed by it after a crash.
    pub fn reader(&self, name: &str) -> Result<Reader, QueueError> {
        let (next_seq, new) = {
            let mut state = self.shared.lock();
            match state.cursors.get(name) {
                Some(&seq) => (seq, false),
                None => {
                    let seq = if state.unknown_from_oldest {
                        state.oldest_seq()
                    } else {
                        state.next_seq
                    };
                    state.cursors.insert(name.to_owned(), seq);
                    (seq, true)
                }
            }
        };
        let mut unsaved = false;
        if new && let Err(error) = self.shared.save_positions() {
            // The daemon still starts: the worker saves its position again as it goes.
            tracing::error!("queue: {error}; the position of {name} is saved again later");
            unsaved = true;
        }
        Ok(Reader::new(
            Arc::clone(&self.shared),
            name,
            next_seq,
            unsaved,
        ))
    }

    /// Forgets the readers not in `keep` (destinations removed from the configuration), so
    /// they no longer hold segments back. Called once the configured readers are opened: a
    /// reader unknown from then on is a new destination.
    pub fn forget_readers_except(&self, keep: &[String]) -> Result<(), QueueError> {
        let forgotten: Vec<String> = {
            let mut state = self.shared.lock();
            state.unknown_from_oldest = false;
            let names: Vec<String> = state
                .cursors
                .keys()
                .filter(|name| !keep.contains(name))
                .cloned()
                .collect();
            for name in &names {
                state.cursors.remove(name);
            }
            names
        };
        for name in &forgotten {
            tracing::info!("queue: forgot the position of {name}, no longer configured");
        }
        delete_finished_segments(&self.shared);
        if !forgotten.is_empty()
            && let Err(error) = self.shared.save_positions()
        {
            tracing::error!("queue: {error}; the positions are saved again later");
        }
        Ok(())
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests;
