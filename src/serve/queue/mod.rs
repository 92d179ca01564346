//! The durable queue between intake and delivery.
//!
//! On disk (in `<state>/queue/`):
//! - `seg-<first seq, 20 digits>.log`: append-only segments of framed records
//!   `[payload length u32 LE][crc32 u32 LE][seq u64 LE][payload]`, the CRC covering seq and
//!   payload. A record is acknowledged only once it is written and (by default) flushed with
//!   `fdatasync`; appends that arrive together share one flush (group commit).
//! - `cursors/<name>`: for each reader (a delivery worker), the sequence number of the next
//!   record it has not finished, replaced atomically (temporary file, fsync, rename, fsync of the
//!   folder).
//!
//! Recovery reads the last segment record by record and cuts it at the first record that is
//! incomplete or fails its CRC: that is the tail a crash tore, never an acknowledged record,
//! since acknowledgement waits for the flush. A segment is deleted once every reader's persisted
//! cursor is past it. When the segments hold `max_bytes`, appends are refused
//! ([`QueueError::Full`]) until readers catch up: nothing accepted is ever dropped.

mod reader;
mod segment;
mod writer;

pub use reader::{Reader, Record};
use reader::{delete_finished_segments, read_cursor, write_cursor};
use segment::{open_active, recover_segment};
use writer::writer_loop;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::config::QueueConfig;

/// Bytes of a record's frame before its payload.
pub const HEADER_LEN: usize = 16;
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
    /// Bytes of whole, committed records.
    len: u64,
}

struct State {
    segments: BTreeMap<u64, Segment>,
    /// Sequence number the next appended record gets; all below are committed.
    next_seq: u64,
    /// Persisted cursor of each reader opened since the queue was (kept after the reader is
    /// dropped, so a reader that ends early still holds back the segments it needs, until
    /// [`Queue::forget_readers_except`] drops it).
    cursors: BTreeMap<String, u64>,
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
}

struct Shared {
    dir: PathBuf,
    cursor_dir: PathBuf,
    config: QueueConfig,
    state: Mutex<State>,
    /// Signalled on every commit and on close.
    committed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A durable, multi-reader queue of opaque records.
pub struct Queue {
    shared: Arc<Shared>,
    appends: Mutex<Option<mpsc::Sender<Append>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Queue {
    /// Opens (or creates) the queue in `dir`, repairing a torn tail, and starts its writer.
    pub fn open(dir: &Path, config: QueueConfig) -> Result<Queue, QueueError> {
        let cursor_dir = dir.join("cursors");
        fs::create_dir_all(&cursor_dir).map_err(io_error("cannot create", &cursor_dir))?;
        let mut segments = BTreeMap::new();
        for entry in fs::read_dir(dir).map_err(io_error("cannot read", dir))? {
            let entry = entry.map_err(io_error("cannot read", dir))?;
            let name = entry.file_name();
            let Some(first) = name
                .to_str()
                .and_then(|n| n.strip_prefix("seg-"))
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let path = entry.path();
            let len = entry
                .metadata()
                .map_err(io_error("cannot read", &path))?
                .len();
            segments.insert(first, Segment { path, len });
        }
        let mut next_seq = 0;
        if let Some((&first, last)) = segments.iter_mut().next_back() {
            let (len, next) = recover_segment(&last.path, first)?;
            last.len = len;
            next_seq = next;
        } else {
            // No segment: continue after the furthest cursor, so sequence numbers never repeat.
            for entry in fs::read_dir(&cursor_dir)
                .map_err(io_error("cannot read", &cursor_dir))?
                .flatten()
            {
                if let Ok(seq) = read_cursor(&entry.path()) {
                    next_seq = next_seq.max(seq);
                }
            }
        }
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            cursor_dir,
            config,
            state: Mutex::new(State {
                segments,
                next_seq,
                cursors: BTreeMap::new(),
                closed: false,
            }),
            committed: Condvar::new(),
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

    /// Records each reader has yet to finish, by reader name (from persisted cursors).
    pub fn backlog(&self) -> Vec<(String, u64)> {
        let state = self.shared.lock();
        state
            .cursors
            .iter()
            .map(|(name, cursor)| (name.clone(), state.next_seq.saturating_sub(*cursor)))
            .collect()
    }

    /// Opens the reader `name` at its persisted cursor. A reader seen for the first time starts
    /// after the last committed record, and its cursor is persisted at once, so no record
    /// appended from now on can be missed by it after a crash.
    pub fn reader(&self, name: &str) -> Result<Reader, QueueError> {
        let path = self.shared.cursor_dir.join(name);
        let next_seq = match read_cursor(&path) {
            Ok(seq) => seq,
            Err(_) => {
                let seq = self.shared.lock().next_seq;
                write_cursor(&self.shared.cursor_dir, name, seq)?;
                seq
            }
        };
        self.shared.lock().cursors.insert(name.to_owned(), next_seq);
        Ok(Reader {
            shared: Arc::clone(&self.shared),
            name: name.to_owned(),
            next_seq,
            persisted: next_seq,
            position: None,
        })
    }

    /// Deletes the cursors of readers not in `keep` (destinations removed from the
    /// configuration), so they no longer hold segments back.
    pub fn forget_readers_except(&self, keep: &[String]) -> Result<(), QueueError> {
        let cursor_dir = &self.shared.cursor_dir;
        let entries = fs::read_dir(cursor_dir).map_err(io_error("cannot read", cursor_dir))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || keep.contains(&name) {
                continue;
            }
            let path = entry.path();
            fs::remove_file(&path).map_err(io_error("cannot remove", &path))?;
            self.shared.lock().cursors.remove(&name);
            tracing::info!("queue: forgot the cursor of {name}, no longer configured");
        }
        delete_finished_segments(&self.shared);
        Ok(())
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::serve::config::SyncPolicy;

    fn config() -> QueueConfig {
        QueueConfig {
            max_bytes: 1024 * 1024,
            segment_bytes: 256,
            sync: SyncPolicy::Always,
        }
    }

    fn payload(n: u64) -> Vec<u8> {
        format!("record {n:04}").into_bytes()
    }

    fn read_all(reader: &mut Reader) -> Vec<Record> {
        let mut records = Vec::new();
        while let Some(record) = reader.next(Duration::from_millis(20)).unwrap() {
            records.push(record);
        }
        records
    }

    #[test]
    fn records_come_back_in_order_across_segments_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path(), config()).unwrap();
        let mut reader = queue.reader("a").unwrap();
        for n in 0..50 {
            let receipt = queue.append_wait(vec![payload(n)]).unwrap();
            assert_eq!(receipt, Receipt { first: n, count: 1 });
        }
        let records = read_all(&mut reader);
        assert_eq!(records.len(), 50);
        assert!(
            records
                .iter()
                .enumerate()
                .all(|(i, r)| r.seq == i as u64 && r.payload == payload(i as u64))
        );
        reader.persist(20).unwrap();
        drop(reader);
        drop(queue);

        let queue = Queue::open(dir.path(), config()).unwrap();
        let mut reader = queue.reader("a").unwrap();
        let records = read_all(&mut reader);
        assert_eq!(records.first().map(|r| r.seq), Some(20));
        assert_eq!(records.len(), 30);
        assert_eq!(queue.append_wait(vec![payload(50)]).unwrap().first, 50);
    }

    #[test]
    fn finished_segments_are_deleted_only_when_every_reader_is_past_them() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path(), config()).unwrap();
        let mut fast = queue.reader("fast").unwrap();
        let slow = queue.reader("slow").unwrap();
        for n in 0..60 {
            queue.append_wait(vec![payload(n)]).unwrap();
        }
        let segments = || {
            fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with("seg-")
                })
                .count()
        };
        let before = segments();
        assert!(before > 3, "{before}");
        read_all(&mut fast);
        fast.persist(60).unwrap();
        assert_eq!(segments(), before, "the slow reader still needs them");
        drop(slow);
        let mut slow = queue.reader("slow").unwrap();
        assert_eq!(read_all(&mut slow).len(), 60);
        slow.persist(60).unwrap();
        assert_eq!(segments(), 1, "only the active segment is left");
    }

    #[test]
    fn a_torn_tail_is_cut_and_earlier_records_survive() {
        let dir = tempfile::tempdir().unwrap();
        let one_segment = QueueConfig {
            segment_bytes: 1 << 20,
            ..config()
        };
        {
            let queue = Queue::open(dir.path(), one_segment).unwrap();
            queue.reader("a").unwrap();
            for n in 0..10 {
                queue.append_wait(vec![payload(n)]).unwrap();
            }
        }
        let segment = dir.path().join(format!("seg-{:020}.log", 0));
        let whole = fs::read(&segment).unwrap();
        // Every way a crash can tear the last record: a partial header, a partial payload,
        // a damaged payload, and zeros where the file was extended but not written.
        let record_len = HEADER_LEN + payload(9).len();
        let last_start = whole.len() - record_len;
        let mut damaged = whole.clone();
        damaged[last_start + HEADER_LEN + 2] ^= 0xff;
        let mut zeros = whole[..last_start].to_vec();
        zeros.extend(std::iter::repeat_n(0u8, 40));
        for tail in [
            whole[..last_start + 5].to_vec(),
            whole[..whole.len() - 3].to_vec(),
            damaged,
            zeros,
        ] {
            fs::write(&segment, &tail).unwrap();
            let queue = Queue::open(dir.path(), one_segment).unwrap();
            let mut reader = queue.reader("a").unwrap();
            let records = read_all(&mut reader);
            assert_eq!(records.len(), 9);
            assert_eq!(records[8].payload, payload(8));
            assert_eq!(fs::metadata(&segment).unwrap().len(), last_start as u64);
            // The next append reuses the torn record's sequence number.
            assert_eq!(queue.append_wait(vec![payload(99)]).unwrap().first, 9);
            drop(reader);
            drop(queue);
            fs::write(&segment, &whole).unwrap();
        }
    }

    #[test]
    fn a_full_queue_refuses_appends_until_readers_catch_up() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(
            dir.path(),
            QueueConfig {
                max_bytes: 300,
                segment_bytes: 100,
                sync: SyncPolicy::Os,
            },
        )
        .unwrap();
        let mut reader = queue.reader("a").unwrap();
        let mut accepted = 0;
        let error = loop {
            match queue.append_wait(vec![payload(accepted)]) {
                Ok(_) => accepted += 1,
                Err(error) => break error,
            }
        };
        assert!(matches!(error, QueueError::Full { .. }), "{error}");
        assert_eq!(read_all(&mut reader).len() as u64, accepted);
        reader.persist(accepted).unwrap();
        queue.append_wait(vec![payload(accepted)]).unwrap();
    }

    #[test]
    fn a_new_reader_starts_after_what_is_already_queued() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path(), config()).unwrap();
        let _first = queue.reader("first").unwrap();
        queue.append_wait(vec![payload(0), payload(1)]).unwrap();
        let mut late = queue.reader("late").unwrap();
        assert_eq!(late.position(), 2);
        queue.append_wait(vec![payload(2)]).unwrap();
        let records = read_all(&mut late);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].seq, 2);
    }

    #[test]
    fn close_commits_pending_appends_then_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path(), config()).unwrap();
        let (sender, receiver) = mpsc::channel();
        for n in 0..100 {
            let sender = sender.clone();
            queue.append(
                vec![payload(n)],
                Box::new(move |result| {
                    let _ = sender.send(result.is_ok());
                }),
            );
        }
        queue.close();
        drop(sender);
        assert_eq!(receiver.iter().filter(|ok| *ok).count(), 100);
        assert!(matches!(
            queue.append_wait(vec![payload(0)]),
            Err(QueueError::Closed)
        ));
    }
}
