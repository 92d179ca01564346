//! The audit → SNMP job: decode audits, evaluate trap bindings, deliver notifications.
//!
//! Nothing is dropped silently: an input item that does not decode, or an audit a binding of
//! which fails, is logged and written to the reject log; an audit no binding matches is counted and
//! logged; every delivery failure is logged and counted.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};

use serde_json::{Value, json};

use super::audit::{self, Outcome};
use crate::files::{AppendError, JsonLines};
use crate::lang::Params;
use crate::lang::RuleSet;
use crate::record::Trap;
use crate::sink::snmp::{Delivery, DeliveryError, Sender};
use crate::source::audit::{AuditError, AuditReader, Decoded};

/// Counts for the one-line report at the end of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Input items, decodable or not.
    pub audits: usize,
    /// Audits every matching binding of which made a sendable notification.
    pub matched: usize,
    /// Audits no binding matched.
    pub unmatched: usize,
    /// Items that did not decode, and audits with a binding that failed (their other
    /// bindings' notifications are still sent).
    pub rejected: usize,
    /// Notifications the rules made and that could be encoded.
    pub notifications: usize,
    /// Messages that left: traps handed to the network, informs acknowledged.
    pub sent: usize,
    /// Informs a manager confirmed with a Response. Traps are never counted here: a manager
    /// that drops every trap would otherwise read as "delivered".
    pub acknowledged: usize,
    /// Messages that could not be sent, or informs never acknowledged.
    pub failed: usize,
}

impl Summary {
    /// Everything read was matched and went out (informs: acknowledged).
    pub fn is_success(&self) -> bool {
        self.rejected == 0 && self.failed == 0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "audits: {} read, {} matched, {} unmatched, {} rejected; \
             notifications: {} made, {} sent, {} acknowledged, {} failed",
            self.audits,
            self.matched,
            self.unmatched,
            self.rejected,
            self.notifications,
            self.sent,
            self.acknowledged,
            self.failed
        )
    }
}

/// Where rejected items go: JSON lines `{"error": "...", "audit": ...}` appended to a file
/// (opened on the first rejection, so a clean run leaves no file behind), or nowhere.
#[derive(Debug, Default)]
pub struct RejectLog {
    file: Option<JsonLines>,
}

impl RejectLog {
    /// Rejections are only logged.
    pub fn none() -> RejectLog {
        RejectLog::default()
    }

    /// Rejections are also appended to `path`. Not flushed line by line: a one-shot run has
    /// no acknowledgement to hold back until the line is on disk.
    pub fn to_file(path: &Path) -> RejectLog {
        RejectLog {
            file: Some(JsonLines::new("reject file", path)),
        }
    }

    /// Lines written so far.
    pub fn written(&self) -> usize {
        self.file.as_ref().map_or(0, JsonLines::written)
    }

    /// Records a rejected item; an error stops the job, since it could no longer keep its
    /// promise to record every rejected item.
    pub fn record(&mut self, error: &str, audit: &Value) -> Result<(), AppendError> {
        match &mut self.file {
            Some(file) => file.append(&json!({ "error": error, "audit": audit })),
            None => Ok(()),
        }
    }
}

/// Why a run stopped before the end of its input.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The reject log could no longer be written.
    #[error(transparent)]
    Reject(#[from] AppendError),
    /// The input could not be read.
    #[error("cannot read the input: {0}")]
    Read(#[source] io::Error),
}

/// Runs the job over one input: every audit through the rules, every notification to every
/// destination of `sender`. Counts follow the partial-failure rule of [`audit`]: an audit
/// with a binding that fails (or a notification that cannot be encoded) is rejected, while
/// the notifications of its other bindings are still sent.
///
/// The input is read as a stream ([`AuditReader`]), so memory stays flat whatever its size.
/// Traps are made on a reading thread (decode, evaluate) and encoded and sent on this one,
/// in batches; an audit's outcome is logged, counted and written to the reject log only once
/// the batch holding its traps has left, in input order, so what a run reports was done. A
/// batch leaves when it is full or when nothing more has been read yet, so an audit written
/// to a pipe does not wait for the next one. Informs, each an exchange with the managers,
/// are sent one at a time.
pub fn run<R: Read + Send>(
    input: R,
    rules: &RuleSet,
    params: &Params,
    sender: &mut Sender,
    rejects: &mut RejectLog,
) -> Result<Summary, RunError> {
    let mut report = Report {
        sender,
        rejects,
        summary: Summary::default(),
        waiting: Vec::new(),
        done: Vec::new(),
        give_back: None,
    };
    if report.sender.is_inform() {
        let mut reader = AuditReader::new(input);
        let mut number = 0;
        while let Some(decoded) = reader.next_audit().map_err(RunError::Read)? {
            number += 1;
            report.take(make_work(number, decoded, rules, params))?;
        }
        return Ok(report.summary);
    }
    std::thread::scope(|scope| {
        let (chunks, received) = mpsc::sync_channel::<Vec<Work>>(CHANNEL_CHUNKS);
        let (given_back, returned) = mpsc::channel();
        report.give_back = Some(given_back);
        let reading = scope.spawn(move || read_work(input, rules, params, &chunks, &returned));
        loop {
            let chunk = match received.try_recv() {
                Ok(chunk) => chunk,
                Err(TryRecvError::Empty) => {
                    // Nothing more read yet: what is queued leaves now.
                    report.flush()?;
                    match received.recv() {
                        Ok(chunk) => chunk,
                        Err(_) => break,
                    }
                }
                Err(TryRecvError::Disconnected) => break,
            };
            for work in chunk {
                report.take(work)?;
            }
        }
        report.flush()?;
        match reading.join() {
            Ok(result) => result.map_err(RunError::Read)?,
            Err(panic) => std::panic::resume_unwind(panic),
        }
        Ok(report.summary)
    })
}

/// Audits handed from the reading thread to the sending one at a time, at most.
const CHUNK: usize = 64;
/// Chunks on their way between the threads, at most: this bounds the memory between them.
const CHANNEL_CHUNKS: usize = 16;
/// Traps sent together, at most.
const BATCH: usize = 64;

/// What the rules made of one input item.
enum Work {
    Undecodable {
        number: usize,
        error: AuditError,
        raw: Option<String>,
    },
    Evaluated {
        number: usize,
        audit: Value,
        outcome: Outcome,
    },
}

fn make_work(number: usize, decoded: Decoded, rules: &RuleSet, params: &Params) -> Work {
    match decoded.result {
        Ok(audit) => Work::Evaluated {
            number,
            outcome: audit::evaluate(rules, params, &audit),
            audit,
        },
        Err(error) => Work::Undecodable {
            number,
            error,
            raw: decoded.raw,
        },
    }
}

/// The reading thread: decodes and evaluates every item, and hands the results on in chunks,
/// a chunk as soon as it is full or before a read that may wait for more input.
fn read_work<R: Read>(
    input: R,
    rules: &RuleSet,
    params: &Params,
    chunks: &SyncSender<Vec<Work>>,
    returned: &Receiver<Vec<Waiting>>,
) -> io::Result<()> {
    let chunk = RefCell::new(Vec::with_capacity(CHUNK));
    let hand_on = || {
        let full = std::mem::replace(&mut *chunk.borrow_mut(), Vec::with_capacity(CHUNK));
        if full.is_empty() {
            return Ok(());
        }
        // The sending side only hangs up when it stopped on an error of its own.
        chunks
            .send(full)
            .map_err(|_| io::Error::other("the sending side stopped"))?;
        // What was made here is freed here: memory freed by another thread than the one
        // that allocated it costs glibc's malloc far more.
        while let Ok(done) = returned.try_recv() {
            drop(done);
        }
        Ok(())
    };
    let mut reader = AuditReader::new(BeforeRead {
        input,
        before: &hand_on,
    });
    let mut number = 0;
    while let Some(decoded) = reader.next_audit()? {
        number += 1;
        let work = make_work(number, decoded, rules, params);
        let full = {
            let mut chunk = chunk.borrow_mut();
            chunk.push(work);
            chunk.len() >= CHUNK
        };
        if full {
            hand_on()?;
        }
    }
    match hand_on() {
        // The sending side reports its own error.
        Err(_) => Ok(()),
        ok => ok,
    }
}

/// A reader that calls `before` ahead of every read of `input`.
struct BeforeRead<'a, R, F> {
    input: R,
    before: &'a F,
}

impl<R: Read, F: Fn() -> io::Result<()>> Read for BeforeRead<'_, R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (self.before)()?;
        self.input.read(buf)
    }
}

/// The sending side: queues each audit's traps, and reports each audit once its traps left.
struct Report<'a> {
    sender: &'a mut Sender,
    rejects: &'a mut RejectLog,
    summary: Summary,
    /// Audits whose traps are queued (or that wait behind such audits), in input order.
    waiting: Vec<Waiting>,
    /// Audits reported, to be freed by the thread that made them (`give_back`).
    done: Vec<Waiting>,
    give_back: Option<mpsc::Sender<Vec<Waiting>>>,
}

struct Waiting {
    work: Work,
    /// The traps queued, in order; their results follow the ones before.
    queued: Vec<Trap>,
    /// Errors of bindings that failed and of traps that could not be encoded.
    errors: Vec<String>,
}

impl Report<'_> {
    fn take(&mut self, mut work: Work) -> Result<(), RunError> {
        let (traps, mut errors): (Vec<Trap>, Vec<String>) = match &mut work {
            Work::Evaluated {
                outcome:
                    Outcome::Matched {
                        notifications,
                        errors,
                    },
                ..
            } => (
                std::mem::take(notifications),
                errors.iter().map(ToString::to_string).collect(),
            ),
            _ => (Vec::new(), Vec::new()),
        };
        let mut queued = Vec::with_capacity(traps.len());
        for trap in traps {
            if self.sender.is_inform() {
                match self.sender.send(&trap) {
                    Ok(deliveries) => {
                        deliver(&mut self.summary, &work_label(&work), &trap, &deliveries);
                    }
                    Err(error) => errors.push(format!("trap `{}`: {error}", trap.rule)),
                }
                continue;
            }
            match self.sender.queue_trap(&trap) {
                Ok(()) => queued.push(trap),
                Err(error) => errors.push(format!("trap `{}`: {error}", trap.rule)),
            }
        }
        self.waiting.push(Waiting {
            work,
            queued,
            errors,
        });
        // With nothing queued, nothing is waiting to leave: report at once.
        if self.sender.queued() >= BATCH || self.sender.queued() == 0 {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends what is queued, then reports every audit waiting, in order.
    fn flush(&mut self) -> Result<(), RunError> {
        let results = if self.sender.queued() > 0 {
            self.sender.flush()
        } else {
            Vec::new()
        };
        let targets = self.sender.destinations().count();
        let mut results = results.chunks(targets.max(1));
        for waiting in std::mem::take(&mut self.waiting) {
            self.report(&waiting, &mut results)?;
            self.done.push(waiting);
        }
        if self.done.len() >= CHUNK {
            let done = std::mem::take(&mut self.done);
            if let Some(give_back) = &self.give_back {
                // A reading thread that ended frees nothing more: drop them here.
                let _ = give_back.send(done);
            }
        }
        Ok(())
    }

    fn report<'r>(
        &mut self,
        waiting: &Waiting,
        results: &mut impl Iterator<Item = &'r [Result<(), DeliveryError>]>,
    ) -> Result<(), RunError> {
        let Waiting {
            work,
            queued,
            errors,
        } = waiting;
        self.summary.audits += 1;
        let (number, audit, outcome) = match work {
            Work::Undecodable { number, error, raw } => {
                tracing::error!("input item {number}: rejected: {error}");
                self.summary.rejected += 1;
                let raw = raw.clone().map_or(Value::Null, Value::String);
                self.rejects.record(&error.to_string(), &raw)?;
                return Ok(());
            }
            Work::Evaluated {
                number,
                audit,
                outcome,
            } => (*number, audit, outcome),
        };
        if matches!(outcome, Outcome::Unmatched) {
            tracing::warn!(
                "{}: no trap binding matched",
                audit::label(Some(number), audit)
            );
            self.summary.unmatched += 1;
            return Ok(());
        }
        let logs = tracing::enabled!(tracing::Level::INFO);
        for Trap { rule, .. } in queued {
            let deliveries = results.next().unwrap_or_default();
            self.summary.notifications += 1;
            for (target, result) in deliveries.iter().enumerate() {
                let destination = self.sender.destination(target);
                match result {
                    Ok(()) => {
                        self.summary.sent += 1;
                        if logs {
                            let label = audit::label(Some(number), audit);
                            tracing::info!(
                                "{label}: trap `{rule}` sent to {destination} (1 attempt(s))"
                            );
                        }
                    }
                    Err(error) => {
                        self.summary.failed += 1;
                        let label = audit::label(Some(number), audit);
                        tracing::error!(
                            "{label}: trap `{rule}` not delivered to {destination}: {error}"
                        );
                    }
                }
            }
        }
        if errors.is_empty() {
            self.summary.matched += 1;
        } else {
            let error = errors.join("; ");
            let label = audit::label(Some(number), audit);
            tracing::error!("{label}: rejected: {error}");
            self.summary.rejected += 1;
            self.rejects.record(&error, audit)?;
        }
        Ok(())
    }
}

fn work_label(work: &Work) -> String {
    match work {
        Work::Evaluated { number, audit, .. } => audit::label(Some(*number), audit),
        Work::Undecodable { number, .. } => format!("input item {number}"),
    }
}

/// Counts and logs what became of one notification at each destination.
fn deliver(summary: &mut Summary, label: &str, trap: &Trap, deliveries: &[Delivery]) {
    summary.notifications += 1;
    for delivery in deliveries {
        match &delivery.result {
            Ok(()) => {
                summary.sent += 1;
                if delivery.acknowledged {
                    summary.acknowledged += 1;
                }
                tracing::info!(
                    "{label}: trap `{}` {} {} ({} attempt(s))",
                    trap.rule,
                    if delivery.acknowledged {
                        "acknowledged by"
                    } else {
                        "sent to"
                    },
                    delivery.destination,
                    delivery.attempts
                );
            }
            Err(error) => {
                summary.failed += 1;
                tracing::error!(
                    "{label}: trap `{}` not delivered to {}: {error}",
                    trap.rule,
                    delivery.destination
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_log_appends_whole_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rejects.jsonl");
        std::fs::write(&path, "{\"earlier\":true}\n").unwrap();
        let mut log = RejectLog::to_file(&path);
        log.record("bad \"quote\"", &json!({"source": "STLNK"}))
            .unwrap();
        log.record("second", &json!("raw\ntext")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[1],
            json!({"error": "bad \"quote\"", "audit": {"source": "STLNK"}})
        );
        assert_eq!(lines[2]["audit"], json!("raw\ntext"));
        assert_eq!(log.written(), 2);
    }

    #[test]
    fn no_reject_file_is_created_without_rejections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rejects.jsonl");
        let log = RejectLog::to_file(&path);
        assert_eq!(log.written(), 0);
        assert!(!path.exists());
    }

    #[test]
    fn summary_reads_as_one_line() {
        let summary = Summary {
            audits: 4,
            matched: 2,
            unmatched: 1,
            rejected: 1,
            notifications: 2,
            sent: 4,
            acknowledged: 3,
            failed: 1,
        };
        assert_eq!(
            summary.to_string(),
            "audits: 4 read, 2 matched, 1 unmatched, 1 rejected; \
             notifications: 2 made, 4 sent, 3 acknowledged, 1 failed"
        );
        assert!(!summary.is_success());
        assert!(Summary::default().is_success());
    }
}
