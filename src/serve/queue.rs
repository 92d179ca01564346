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

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::config::{QueueConfig, SyncPolicy};

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

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub payload: Vec<u8>,
}

/// Reads the queue in order for one consumer, from its cursor.
pub struct Reader {
    shared: Arc<Shared>,
    name: String,
    /// The next record to return.
    next_seq: u64,
    persisted: u64,
    /// The segment being read (its first seq), open, and the offset of the next record.
    position: Option<(u64, File, u64)>,
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
fn delete_finished_segments(shared: &Shared) {
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

/// Reads the record at `offset`; `Err` with the reason when it is incomplete or damaged.
fn read_record(file: &File, offset: u64, end: u64) -> Result<(u64, Vec<u8>), String> {
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

fn frame(seq: u64, payload: &[u8], out: &mut Vec<u8>) {
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
fn recover_segment(path: &Path, first: u64) -> Result<(u64, u64), QueueError> {
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
fn open_active(shared: &Shared) -> Result<(u64, File), QueueError> {
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

fn create_segment(dir: &Path, first: u64) -> Result<(PathBuf, File), QueueError> {
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

fn sync_dir(dir: &Path) -> Result<(), QueueError> {
    crate::files::sync_dir(dir).map_err(io_error("cannot flush", dir))
}

fn writer_loop(shared: &Shared, active: (u64, File), appends: &mpsc::Receiver<Append>) {
    let (mut active_first, mut file) = active;
    let mut buffer = Vec::with_capacity(1024 * 1024);
    // Blocks for the first append, then takes every append already waiting: one flush for all.
    while let Ok(first_append) = appends.recv() {
        let mut batch = vec![first_append];
        let mut batch_bytes: usize = batch[0].payloads.iter().map(Vec::len).sum();
        while batch_bytes < MAX_COMMIT_BYTES {
            match appends.try_recv() {
                Ok(append) => {
                    batch_bytes += append.payloads.iter().map(Vec::len).sum::<usize>();
                    batch.push(append);
                }
                Err(_) => break,
            }
        }
        let (mut next_seq, used, active_len) = {
            let state = shared.lock();
            let active_len = state.segments.get(&active_first).map_or(0, |s| s.len);
            (state.next_seq, state.used_bytes(), active_len)
        };
        buffer.clear();
        let mut accepted = Vec::with_capacity(batch.len());
        let mut used_after = used;
        for append in batch {
            let bytes: u64 = append
                .payloads
                .iter()
                .map(|p| (p.len() + HEADER_LEN) as u64)
                .sum();
            if used_after + bytes > shared.config.max_bytes {
                (append.done)(Err(QueueError::Full {
                    used: used_after,
                    limit: shared.config.max_bytes,
                }));
                continue;
            }
            let receipt = Receipt {
                first: next_seq,
                count: append.payloads.len() as u64,
            };
            for payload in &append.payloads {
                frame(next_seq, payload, &mut buffer);
                next_seq += 1;
            }
            used_after += bytes;
            accepted.push((receipt, append.done));
        }
        if accepted.is_empty() {
            continue;
        }
        let path = shared
            .lock()
            .segments
            .get(&active_first)
            .map(|s| s.path.clone())
            .unwrap_or_default();
        let written = file
            .write_all(&buffer)
            .and_then(|()| match shared.config.sync {
                SyncPolicy::Always => file.sync_data(),
                SyncPolicy::Os => Ok(()),
            });
        if let Err(error) = written {
            // Cut back to the last commit so the failed records can never be read; callers
            // learn that nothing of theirs was accepted.
            let _ = file.set_len(active_len);
            let failure = io_error("cannot write", &path)(error);
            tracing::error!("queue: {failure}");
            for (_, done) in accepted {
                done(Err(failure.clone()));
            }
            continue;
        }
        let new_len = active_len + buffer.len() as u64;
        {
            let mut state = shared.lock();
            if let Some(segment) = state.segments.get_mut(&active_first) {
                segment.len = new_len;
            }
            state.next_seq = next_seq;
        }
        shared.committed.notify_all();
        if new_len >= shared.config.segment_bytes {
            match create_segment(&shared.dir, next_seq) {
                Ok((path, new_file)) => {
                    shared
                        .lock()
                        .segments
                        .insert(next_seq, Segment { path, len: 0 });
                    active_first = next_seq;
                    file = new_file;
                    delete_finished_segments(shared);
                }
                Err(error) => tracing::error!("queue: {error}; staying on the current segment"),
            }
        }
        for (receipt, done) in accepted {
            done(Ok(receipt));
        }
    }
}

fn read_cursor(path: &Path) -> Result<u64, QueueError> {
    let text = fs::read_to_string(path).map_err(io_error("cannot read", path))?;
    text.trim().parse::<u64>().map_err(|_| QueueError::Corrupt {
        path: path.to_owned(),
        offset: 0,
        reason: format!("{:?} is not a sequence number", text.trim()),
    })
}

/// Replaces a cursor file atomically: a crash leaves the old value or the new one.
fn write_cursor(dir: &Path, name: &str, seq: u64) -> Result<(), QueueError> {
    let path = dir.join(name);
    crate::files::replace(&path, format!("{seq}\n").as_bytes())
        .map_err(io_error("cannot replace", &path))
}

#[cfg(test)]
mod tests {
    use super::*;

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
