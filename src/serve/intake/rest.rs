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
//! Each entry is placed (timestamp, identity) and compared to the cursor before anything is
//! done with it, so an entry that is not an audit is dead-lettered once, not at every poll: its
//! identity is the MD5 of the entry as Fledge sent it (`raw:` before it, never an audit's). An
//! entry without a usable timestamp cannot be placed; the identities of those dead-lettered
//! are kept apart (the last [`MAX_UNDATED`]).
//!
//! On first start the cursor is set to the newest entry present, so only later audits are
//! sent, unless `backfill` asks for the whole log.
//!
//! At start the poller logs in (when given a user) and checks the `source` codes against
//! `GET /fledge/audit/logcode`: a refused login or an unknown code stops the start; a Fledge
//! that does not answer yet is logged and polled anyway.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::tz::TimeZone;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Intake, Processor};
use crate::serve::config::FledgeConfig;
use crate::source::audit::{decode_input, format_timestamp, parse_timestamp, zoneless_to_utc};
use crate::source::fledge::{AuditQuery, Client, ClientError, Settings};

/// Pages one poll walks at most: a log that grew by more than this between two polls is
/// taken in several polls, oldest last... so the walk stops and logs it instead.
const MAX_PAGES: u32 = 1000;
/// Wait before trying a full queue again.
const FULL_WAIT: Duration = Duration::from_millis(500);
/// Identities of undated entries remembered: they are rare (Fledge always dates its entries),
/// and the bound keeps a misbehaving log from growing the cursor without end.
const MAX_UNDATED: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum PollerError {
    #[error("fledge intake: {0}")]
    Setup(String),
    #[error("fledge intake: {0}")]
    Client(#[from] ClientError),
    #[error("fledge intake: cannot log in: {0}")]
    Login(#[source] ClientError),
    #[error(
        "intakes.fledge.source: Fledge knows no audit code {code:?}{}",
        near_text(near)
    )]
    UnknownCode { code: String, near: Vec<String> },
}

fn near_text(near: &[String]) -> String {
    if near.is_empty() {
        " (GET /fledge/audit/logcode lists the codes)".to_owned()
    } else {
        format!("; near ones: {}", near.join(", "))
    }
}

/// Where the poller is in the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Normalised timestamp (ISO 8601 UTC, milliseconds) of the newest entry queued; empty
    /// for "before everything".
    pub timestamp: String,
    /// Identities of the entries queued at exactly that timestamp (repeated for twins).
    pub seen: Vec<String>,
    /// Identities of the entries without a usable timestamp already dead-lettered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undated: Vec<String>,
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
        let mut client = Client::new(Settings {
            url: config.url.clone(),
            credentials: config.credentials.clone(),
            timeout: config.timeout,
            ca_file: config.ca_file.clone(),
            max_body_bytes: config.max_page_bytes,
        })?;
        start_checks(&mut client, &config.source)?;
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

/// One entry placed in the log: where it is, and what it is.
struct Entry {
    /// Normalised like an audit's; `None` when the entry has no usable one.
    timestamp: Option<String>,
    identity: String,
    item: Item,
}

enum Item {
    Audit(Value),
    /// Not an audit: dead-lettered, with the reason, as Fledge sent it.
    Bad {
        reason: String,
        raw: Value,
    },
}

/// What a raw entry is, given the cursor.
enum Placed {
    /// Older than the cursor: the walk is over (not decoded).
    Older,
    Entries(Vec<Entry>),
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

    /// One poll: the new entries, oldest first, queued (and those that are not audits
    /// dead-lettered); returns how many were queued.
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
            let (raw_entries, full_page) = self.fetch(page_number)?;
            for (index, raw) in raw_entries.into_iter().enumerate() {
                let entries = match place(raw, page_number, index, Some(&cursor.timestamp)) {
                    Placed::Older => break 'walk,
                    Placed::Entries(entries) => entries,
                };
                for entry in entries {
                    // Pages shift while the log grows, so one entry can show up twice in a
                    // walk: only its first sighting counts, whether it was new or already
                    // behind the cursor (else a repeat of a skipped entry is sent again).
                    let times = in_walk.entry(entry.identity.clone()).or_default();
                    *times += 1;
                    if *times > 1 {
                        continue;
                    }
                    match &entry.timestamp {
                        Some(timestamp) => {
                            if *timestamp < cursor.timestamp {
                                break 'walk;
                            }
                            let newest = newest_in_walk.get_or_insert_with(|| timestamp.clone());
                            if timestamp > newest {
                                // Arrived during the walk: left for the next poll.
                                continue;
                            }
                            if *timestamp == cursor.timestamp
                                && let Some(count) = seen_at_cursor.get_mut(entry.identity.as_str())
                                && *count > 0
                            {
                                *count -= 1;
                                continue;
                            }
                        }
                        None => {
                            if cursor.undated.contains(&entry.identity) {
                                continue;
                            }
                        }
                    }
                    collected.push(entry);
                }
            }
            page_number += 1;
            if !full_page {
                break;
            }
        }
        if collected.is_empty() {
            return Ok(0);
        }
        collected.reverse();
        let newest = collected
            .iter()
            .rev()
            .find_map(|e| e.timestamp.clone())
            .unwrap_or_else(|| cursor.timestamp.clone());
        let mut seen: Vec<String> = if newest == cursor.timestamp {
            cursor.seen.clone()
        } else {
            Vec::new()
        };
        seen.extend(
            collected
                .iter()
                .filter(|e| e.timestamp.as_ref() == Some(&newest))
                .map(|e| e.identity.clone()),
        );
        let mut undated = cursor.undated.clone();
        undated.extend(
            collected
                .iter()
                .filter(|e| e.timestamp.is_none())
                .map(|e| e.identity.clone()),
        );
        let excess = undated.len().saturating_sub(MAX_UNDATED);
        undated.drain(..excess);
        // Dead letters first: should queueing fail, the poll is done again and they are
        // written twice, which is better than audits sent twice.
        let mut audits = Vec::with_capacity(collected.len());
        for entry in collected {
            match entry.item {
                Item::Audit(audit) => audits.push(audit),
                Item::Bad { reason, raw } => self.dead_letter(&reason, &raw)?,
            }
        }
        let count = audits.len();
        self.queue(audits)?;
        self.save(Cursor {
            timestamp: newest,
            seen,
            undated,
        })?;
        Ok(count)
    }

    /// Without a cursor: start after the newest entry present, or from the beginning when
    /// asked to backfill (or when the log is empty).
    fn first_poll(&mut self) -> Result<usize, String> {
        let cursor = if self.config.backfill {
            Cursor::default()
        } else {
            let (raw_entries, _) = self.fetch(0)?;
            let entries: Vec<Entry> = raw_entries
                .into_iter()
                .enumerate()
                .flat_map(|(index, raw)| match place(raw, 0, index, None) {
                    Placed::Older => Vec::new(),
                    Placed::Entries(entries) => entries,
                })
                .collect();
            // Entries present before the first start are neither sent nor dead-lettered.
            let newest = entries.iter().find_map(|e| e.timestamp.clone());
            Cursor {
                seen: entries
                    .iter()
                    .filter(|e| newest.is_some() && e.timestamp == newest)
                    .map(|e| e.identity.clone())
                    .collect(),
                undated: entries
                    .iter()
                    .filter(|e| e.timestamp.is_none())
                    .map(|e| e.identity.clone())
                    .take(MAX_UNDATED)
                    .collect(),
                timestamp: newest.unwrap_or_default(),
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

    /// One page, newest first, as Fledge sent it (timestamps without a zone read in the
    /// configured one), and whether it was full (more may follow).
    fn fetch(&mut self, page: u32) -> Result<(Vec<Value>, bool), String> {
        let mut raw_entries = self
            .client
            .audit(&AuditQuery {
                limit: self.config.page_size,
                skip: page.saturating_mul(self.config.page_size),
                source: &self.config.source,
            })
            .map_err(|e| e.to_string())?;
        let full_page = raw_entries.len() as u64 >= u64::from(self.config.page_size);
        if self.config.timezone != TimeZone::UTC {
            for raw in &mut raw_entries {
                in_zone(raw, &self.config.timezone);
            }
        }
        Ok((raw_entries, full_page))
    }

    fn dead_letter(&mut self, reason: &str, raw: &Value) -> Result<(), String> {
        tracing::warn!("fledge intake: {reason}; dead-lettered");
        crate::serve::metrics::add(&self.processor.metrics.dead_lettered, 1);
        self.processor
            .dead_letter
            .record("fledge", reason, raw)
            .map_err(|e| e.to_string())
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
                Err(error) if error.retry_later() && !self.stopping() => {
                    if !warned {
                        tracing::warn!("fledge intake: waiting: {error}");
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

/// Places a raw entry: older than `stop_before` (then not decoded), or its audits each with
/// its timestamp and identity (the MD5 of the normalised audit, as cursors have always held),
/// or, when it is not an audit, the entry itself with the timestamp it carries and the MD5 of
/// its JSON text.
fn place(raw: Value, page: u32, index: usize, stop_before: Option<&str>) -> Placed {
    let raw_timestamp = raw
        .get("timestamp")
        .and_then(|value| parse_timestamp(value).ok())
        .map(format_timestamp);
    if let (Some(timestamp), Some(cursor)) = (&raw_timestamp, stop_before)
        && timestamp.as_str() < cursor
    {
        return Placed::Older;
    }
    // serde_json writes a Value it read back the same way every time (keys in their order),
    // so the text, and the identity, of an entry stays the same across polls.
    let bytes = serde_json::to_vec(&raw).unwrap_or_default();
    let mut audits = Vec::new();
    let mut problems = Vec::new();
    for item in decode_input(&bytes) {
        match item {
            Ok(audit) => audits.push(audit),
            Err(error) => problems.push(error.to_string()),
        }
    }
    if raw_timestamp.is_none() && problems.is_empty() {
        // Decoded, it would be dated now, and so be new at every poll.
        problems.push("no usable timestamp, so it cannot be placed in the log".to_owned());
    }
    if problems.is_empty() {
        return Placed::Entries(
            audits
                .into_iter()
                .map(|audit| Entry {
                    timestamp: Some(
                        audit
                            .get("timestamp")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    ),
                    identity: hex_md5(audit.to_string().as_bytes()),
                    item: Item::Audit(audit),
                })
                .collect(),
        );
    }
    Placed::Entries(vec![Entry {
        timestamp: raw_timestamp,
        identity: format!("raw:{}", hex_md5(&bytes)),
        item: Item::Bad {
            reason: format!("page {page}, entry {index}: {}", problems.join("; ")),
            raw,
        },
    }])
}

/// The entry's timestamp, when written without a zone, rewritten as UTC from `zone`.
fn in_zone(raw: &mut Value, zone: &TimeZone) {
    if let Some(field) = raw.get_mut("timestamp")
        && let Some(utc) = field.as_str().and_then(|text| zoneless_to_utc(text, zone))
    {
        *field = Value::String(utc);
    }
}

/// Logs in (when given a user) and checks the `source` codes against those Fledge knows.
/// A refusal stops the start; a Fledge that does not answer is logged and polled anyway.
fn start_checks(client: &mut Client, source: &[String]) -> Result<(), PollerError> {
    if client.logs_in() {
        match client.login() {
            Ok(()) => tracing::info!("fledge intake: logged in to {}", client.url()),
            Err(error) if error.is_refusal() => return Err(PollerError::Login(error)),
            Err(error) => {
                tracing::warn!(
                    "fledge intake: cannot log in yet ({error}); trying again at each poll"
                );
                return Ok(());
            }
        }
    }
    if source.is_empty() {
        return Ok(());
    }
    match client.log_codes() {
        Ok(known) => check_codes(source, &known),
        Err(error) => {
            tracing::warn!(
                "fledge intake: cannot check the source codes against Fledge's ({error}); \
                 polling anyway"
            );
            Ok(())
        }
    }
}

/// Every code in `source` is one Fledge knows; otherwise the first unknown one, with the
/// known codes that look like it.
fn check_codes(source: &[String], known: &[String]) -> Result<(), PollerError> {
    let Some(code) = source.iter().find(|code| !known.contains(code)) else {
        return Ok(());
    };
    let upper = code.to_ascii_uppercase();
    let mut near: Vec<(usize, &String)> = known
        .iter()
        .map(|candidate| (strsim::osa_distance(&upper, candidate), candidate))
        .filter(|(distance, _)| *distance <= 2)
        .collect();
    near.sort();
    Err(PollerError::UnknownCode {
        code: code.clone(),
        near: near.into_iter().take(5).map(|(_, c)| c.clone()).collect(),
    })
}

fn hex_md5(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entries(raw: Value) -> Vec<Entry> {
        match place(raw, 0, 0, Some("2026-11-21T09:00:00.000Z")) {
            Placed::Older => panic!("placed as older"),
            Placed::Entries(entries) => entries,
        }
    }

    #[test]
    fn a_good_entry_keeps_the_identity_cursors_hold() {
        let raw = json!({"source": "STLNK", "severity": "WARNING",
            "details": {"nameLink": "PA-Lyon-1"}, "timestamp": "2026-11-21 09:15:42.317"});
        let placed = entries(raw.clone());
        let [entry] = placed.as_slice() else {
            panic!("one entry expected")
        };
        let audit = decode_input(raw.to_string().as_bytes()).remove(0).unwrap();
        assert_eq!(entry.identity, hex_md5(audit.to_string().as_bytes()));
        assert_eq!(entry.timestamp.as_deref(), Some("2026-11-21T09:15:42.317Z"));
        assert!(matches!(entry.item, Item::Audit(_)));
    }

    #[test]
    fn a_bad_entry_is_placed_by_its_timestamp_with_a_stable_identity() {
        let raw = json!({"source": "STLNK", "severity": "WARNING",
            "details": "not an object", "timestamp": "2026-11-21 09:15:42.317"});
        let first = entries(raw.clone());
        let second = entries(raw);
        assert_eq!(first[0].identity, second[0].identity);
        assert!(first[0].identity.starts_with("raw:"));
        assert_eq!(
            first[0].timestamp.as_deref(),
            Some("2026-11-21T09:15:42.317Z")
        );
        assert!(matches!(first[0].item, Item::Bad { .. }));
        // Without a timestamp a decodable entry would be dated now: it cannot be placed.
        let undated = entries(json!({"source": "STLNK", "severity": "WARNING", "details": {}}));
        assert_eq!(undated[0].timestamp, None);
        assert!(
            matches!(&undated[0].item, Item::Bad { reason, .. } if reason.contains("no usable timestamp"))
        );
    }

    #[test]
    fn an_entry_older_than_the_cursor_is_not_decoded() {
        let raw = json!({"details": "bad", "timestamp": "2026-11-21 08:00:00"});
        assert!(matches!(
            place(raw, 0, 0, Some("2026-11-21T09:00:00.000Z")),
            Placed::Older
        ));
    }

    #[test]
    fn timestamps_without_a_zone_are_read_in_the_configured_one() {
        let mut raw = json!({"timestamp": "2026-11-21 11:15:42.317"});
        in_zone(&mut raw, &TimeZone::fixed(jiff::tz::offset(2)));
        assert_eq!(raw["timestamp"], "2026-11-21T09:15:42.317Z");
        let mut zoned = json!({"timestamp": "2026-11-21 11:15:42.317+00:00"});
        in_zone(&mut zoned, &TimeZone::fixed(jiff::tz::offset(2)));
        assert_eq!(zoned["timestamp"], "2026-11-21 11:15:42.317+00:00");
    }

    #[test]
    fn an_unknown_source_code_is_named_with_the_near_ones() {
        let known: Vec<String> = ["CONCH", "CONAD", "STLNK", "NTFSN"]
            .map(String::from)
            .to_vec();
        assert!(check_codes(&["STLNK".into()], &known).is_ok());
        let error = check_codes(&["STLNK".into(), "CONHC".into()], &known)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "intakes.fledge.source: Fledge knows no audit code \"CONHC\"; near ones: CONCH, CONAD"
        );
        let far = check_codes(&["ZZZZZ".into()], &known)
            .unwrap_err()
            .to_string();
        assert!(
            far.contains("GET /fledge/audit/logcode lists the codes"),
            "{far}"
        );
    }
}
