//! The Fledge REST intake: polls `GET /fledge/audit` (newest first, paged with `limit` and
//! `skip`, optionally filtered by `source`) through [`source::fledge::Client`] and queues the
//! entries it has not seen yet.
//!
//! [`source::fledge::Client`]: crate::source::fledge::Client
//!
//! Fledge gives audit entries no id, so the position is a cursor: the newest timestamp queued
//! plus the identities (MD5 of the normalised audit) of the entries queued at exactly that
//! timestamp. A poll walks pages back until it reaches an entry older than the cursor; entries
//! at the cursor's timestamp whose identity it holds are skipped. Entries newer than the first
//! one the walk saw arrived during the walk (they shift the pages) and are left for the next
//! poll; an entry seen twice in one walk (shifted onto the next page) is taken once. The cursor
//! is written (atomically) only after the entries are durably queued, so a restart neither
//! skips nor re-sends; a crash between the two re-sends that poll's entries.
//!
//! On first start the cursor is set to the newest entry present, so only later audits are
//! sent, unless `backfill` asks for the whole log.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Intake, Processor};
use crate::serve::config::FledgeConfig;
use crate::serve::queue::QueueError;
use crate::source::audit::decode_input;
use crate::source::fledge::{AuditQuery, Client, ClientError, Settings};

/// Pages one poll walks at most: a log that grew by more than this between two polls is
/// taken in several polls, oldest last... so the walk stops and logs it instead.
const MAX_PAGES: u32 = 1000;
/// Wait before trying a full queue again.
const FULL_WAIT: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum PollerError {
    #[error("fledge intake: {0}")]
    Setup(String),
    #[error("fledge intake: {0}")]
    Client(#[from] ClientError),
}

/// Where the poller is in the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Normalised timestamp (ISO 8601 UTC, milliseconds) of the newest entry queued; empty
    /// for "before everything".
    pub timestamp: String,
    /// Identities of the entries queued at exactly that timestamp (repeated for twins).
    pub seen: Vec<String>,
}

/// A running poller.
pub struct Poller {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Poller {
    pub fn start(
        config: FledgeConfig,
        state_dir: &Path,
        processor: Arc<Processor>,
    ) -> Result<Poller, PollerError> {
        let client = Client::new(Settings {
            url: config.url.clone(),
            token: config.token.clone(),
            timeout: config.timeout,
            ca_file: config.ca_file.clone(),
        })?;
        let cursor_path = state_dir.join("fledge-cursor.json");
        let cursor = match std::fs::read(&cursor_path) {
            Ok(bytes) => Some(serde_json::from_slice::<Cursor>(&bytes).map_err(|e| {
                PollerError::Setup(format!(
                    "{} is not a cursor ({e}); move it away to start again",
                    cursor_path.display()
                ))
            })?),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => {
                return Err(PollerError::Setup(format!(
                    "cannot read {}: {error}",
                    cursor_path.display()
                )));
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let mut poller = PollLoop {
            client,
            config,
            cursor_path,
            cursor,
            processor,
            stop: Arc::clone(&stop),
            last_error: None,
        };
        let thread = std::thread::Builder::new()
            .name("fledge-intake".into())
            .spawn(move || poller.run())
            .map_err(|e| PollerError::Setup(e.to_string()))?;
        Ok(Poller {
            stop,
            thread: Some(thread),
        })
    }
}

impl Intake for Poller {
    fn name(&self) -> &'static str {
        "fledge"
    }

    /// Stops after the poll in progress, waiting for it: its audits are queued and its
    /// cursor written while the queue still takes appends.
    fn stop_accepting(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn finish(mut self: Box<Self>) {
        self.stop_accepting();
    }
}

struct PollLoop {
    client: Client,
    config: FledgeConfig,
    cursor_path: PathBuf,
    cursor: Option<Cursor>,
    processor: Arc<Processor>,
    stop: Arc<AtomicBool>,
    /// The last error logged, so a Fledge that stays down is logged once, not every poll.
    last_error: Option<String>,
}

/// One fetched entry: normalised, with its identity.
struct Entry {
    audit: Value,
    timestamp: String,
    identity: String,
}

impl PollLoop {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn run(&mut self) {
        tracing::info!("fledge intake: polling {}/fledge/audit", self.client.url());
        while !self.stopping() {
            let started = Instant::now();
            match self.poll() {
                Ok(queued) => {
                    if self.last_error.take().is_some() {
                        tracing::info!("fledge intake: polling works again");
                    }
                    if queued > 0 {
                        tracing::debug!("fledge intake: {queued} new audits");
                    }
                }
                Err(error) => {
                    if self.last_error.as_deref() != Some(error.as_str()) {
                        tracing::warn!("fledge intake: {error}");
                        self.last_error = Some(error);
                    }
                }
            }
            let deadline = started + self.config.interval;
            while !self.stopping() && Instant::now() < deadline {
                std::thread::sleep(
                    deadline
                        .saturating_duration_since(Instant::now())
                        .min(crate::serve::STOP_POLL),
                );
            }
        }
    }

    /// One poll: the new entries, oldest first, queued; returns how many.
    fn poll(&mut self) -> Result<usize, String> {
        let Some(cursor) = self.cursor.clone() else {
            return self.first_poll();
        };
        let mut collected: Vec<Entry> = Vec::new();
        let mut in_walk: HashMap<String, usize> = HashMap::new();
        let mut seen_at_cursor: HashMap<&str, usize> = HashMap::new();
        for identity in &cursor.seen {
            *seen_at_cursor.entry(identity).or_default() += 1;
        }
        let mut newest_in_walk: Option<String> = None;
        let mut page_number = 0;
        'walk: loop {
            if page_number == MAX_PAGES {
                tracing::warn!(
                    "fledge intake: stopped after {MAX_PAGES} pages; the rest comes next poll"
                );
                break;
            }
            let (entries, full_page) = self.fetch(page_number)?;
            page_number += 1;
            if newest_in_walk.is_none() {
                newest_in_walk = entries.first().map(|e| e.timestamp.clone());
            }
            for entry in entries {
                if entry.timestamp < cursor.timestamp {
                    break 'walk;
                }
                if entry.timestamp == cursor.timestamp
                    && let Some(count) = seen_at_cursor.get_mut(entry.identity.as_str())
                    && *count > 0
                {
                    *count -= 1;
                    continue;
                }
                if newest_in_walk
                    .as_ref()
                    .is_some_and(|newest| &entry.timestamp > newest)
                {
                    continue;
                }
                let times = in_walk.entry(entry.identity.clone()).or_default();
                if *times > 0 {
                    continue;
                }
                *times += 1;
                collected.push(entry);
            }
            if !full_page {
                break;
            }
        }
        if collected.is_empty() {
            return Ok(0);
        }
        collected.reverse();
        let newest = collected
            .last()
            .map(|e| e.timestamp.clone())
            .unwrap_or_default();
        let mut seen: Vec<String> = if newest == cursor.timestamp {
            cursor.seen.clone()
        } else {
            Vec::new()
        };
        seen.extend(
            collected
                .iter()
                .filter(|e| e.timestamp == newest)
                .map(|e| e.identity.clone()),
        );
        let count = collected.len();
        let audits = collected.into_iter().map(|e| e.audit).collect();
        self.queue(audits)?;
        self.save(Cursor {
            timestamp: newest,
            seen,
        })?;
        Ok(count)
    }

    /// Without a cursor: start after the newest entry present, or from the beginning when
    /// asked to backfill (or when the log is empty).
    fn first_poll(&mut self) -> Result<usize, String> {
        let cursor = if self.config.backfill {
            Cursor::default()
        } else {
            let (entries, _) = self.fetch(0)?;
            match entries.first() {
                Some(newest) => Cursor {
                    timestamp: newest.timestamp.clone(),
                    seen: entries
                        .iter()
                        .filter(|e| e.timestamp == newest.timestamp)
                        .map(|e| e.identity.clone())
                        .collect(),
                },
                None => Cursor::default(),
            }
        };
        tracing::info!(
            "fledge intake: first start, sending audits after {}",
            if cursor.timestamp.is_empty() {
                "the beginning of the log"
            } else {
                cursor.timestamp.as_str()
            }
        );
        self.save(cursor)?;
        self.poll()
    }

    /// One page, newest first, and whether it was full (more may follow).
    fn fetch(&mut self, page: u32) -> Result<(Vec<Entry>, bool), String> {
        let raw_entries = self
            .client
            .audit(&AuditQuery {
                limit: self.config.page_size,
                skip: page.saturating_mul(self.config.page_size),
                source: &self.config.source,
            })
            .map_err(|e| e.to_string())?;
        let full_page = raw_entries.len() as u64 >= u64::from(self.config.page_size);
        let mut entries = Vec::with_capacity(raw_entries.len());
        for (index, raw) in raw_entries.iter().enumerate() {
            let bytes = serde_json::to_vec(raw).unwrap_or_default();
            for item in decode_input(&bytes) {
                match item {
                    Ok(audit) => {
                        let timestamp = audit
                            .get("timestamp")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        let identity = hex_md5(audit.to_string().as_bytes());
                        entries.push(Entry {
                            audit,
                            timestamp,
                            identity,
                        });
                    }
                    Err(error) => {
                        // Not an audit: it cannot be sent, and must not stop the others.
                        let reason = format!("page {page}, entry {index}: {error}");
                        tracing::warn!("fledge intake: {reason}; dead-lettered");
                        crate::serve::metrics::add(&self.processor.metrics.dead_lettered, 1);
                        if let Err(error) =
                            self.processor.dead_letter.record("fledge", &reason, raw)
                        {
                            return Err(error.to_string());
                        }
                    }
                }
            }
        }
        Ok((entries, full_page))
    }

    /// Queues the audits, waiting while the queue is full.
    fn queue(&mut self, audits: Vec<Value>) -> Result<(), String> {
        let prepared = self
            .processor
            .prepare(audits, "fledge")
            .map_err(|e| e.to_string())?;
        if prepared.payloads.is_empty() {
            return Ok(());
        }
        let mut warned = false;
        loop {
            let result = self.processor.queue.append_wait(prepared.payloads.clone());
            match &result {
                Err(QueueError::Full { .. }) if !self.stopping() => {
                    if !warned {
                        tracing::warn!("fledge intake: the queue is full; waiting");
                        warned = true;
                    }
                    std::thread::sleep(FULL_WAIT);
                }
                _ => {
                    self.processor.appended(&result);
                    return result.map(|_| ()).map_err(|e| e.to_string());
                }
            }
        }
    }

    /// Writes the cursor atomically (temporary file, fsync, rename, fsync of the folder).
    fn save(&mut self, cursor: Cursor) -> Result<(), String> {
        let text = serde_json::to_vec(&cursor).map_err(|e| e.to_string())?;
        crate::files::replace(&self.cursor_path, &text)
            .map_err(|e| format!("cannot write {}: {e}", self.cursor_path.display()))?;
        self.cursor = Some(cursor);
        Ok(())
    }
}

fn hex_md5(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
