//! The audit → SNMP job: decode audits, evaluate trap bindings, deliver notifications.
//!
//! Nothing is dropped silently: an input item that does not decode, or an audit a binding of
//! which fails, is logged and written to the reject log; an audit no binding matches is counted and
//! logged; every delivery failure is logged and counted.

use std::fmt;
use std::path::Path;

use serde_json::{Value, json};

use super::audit::{self, Outcome};
use crate::files::{AppendError, JsonLines};
use crate::lang::Params;
use crate::lang::RuleSet;
use crate::record::Trap;
use crate::sink::snmp::{Delivery, Sender};
use crate::source::audit::decode_input;

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

/// Runs the job over one input: every audit through the rules, every notification to every
/// destination of `sender`. Counts follow the partial-failure rule of [`audit`]: an audit
/// with a binding that fails (or a notification that cannot be encoded) is rejected, while
/// the notifications of its other bindings are still sent.
pub fn run(
    input: &[u8],
    rules: &RuleSet,
    params: &Params,
    sender: &mut Sender,
    rejects: &mut RejectLog,
) -> Result<Summary, AppendError> {
    let mut summary = Summary::default();
    let items = decode_input(input);
    let raw_items = RawItems::new(input, items.len());
    for (position, item) in items.into_iter().enumerate() {
        summary.audits += 1;
        let number = position + 1;
        let audit = match item {
            Ok(audit) => audit,
            Err(error) => {
                tracing::error!("input item {number}: rejected: {error}");
                summary.rejected += 1;
                rejects.record(&error.to_string(), &raw_items.get(position))?;
                continue;
            }
        };
        let label = audit::label(Some(number), &audit);
        let (traps, eval_errors) = match audit::evaluate(rules, params, &audit) {
            Outcome::Unmatched => {
                tracing::warn!("{label}: no trap binding matched");
                summary.unmatched += 1;
                continue;
            }
            Outcome::Matched {
                notifications,
                errors,
            } => (notifications, errors),
        };
        let mut errors: Vec<String> = eval_errors.iter().map(ToString::to_string).collect();
        for trap in traps {
            match sender.send(&trap) {
                Ok(deliveries) => deliver(&mut summary, &label, &trap, &deliveries),
                Err(error) => errors.push(format!("trap `{}`: {error}", trap.rule)),
            }
        }
        if errors.is_empty() {
            summary.matched += 1;
        } else {
            let error = errors.join("; ");
            tracing::error!("{label}: rejected: {error}");
            summary.rejected += 1;
            rejects.record(&error, &audit)?;
        }
    }
    Ok(summary)
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

/// The raw text of each input item, for the reject log of items that did not decode.
/// The decoder reports errors without their text, so this recovers it where the input's
/// layout makes it certain: a single item is the whole input; when the input has exactly as
/// many non-blank lines as items, it is JSON lines and item N is line N. Otherwise an item
/// has no raw text (null) and its error message tells where it was.
struct RawItems<'a> {
    items: Vec<&'a [u8]>,
}

impl<'a> RawItems<'a> {
    fn new(input: &'a [u8], count: usize) -> RawItems<'a> {
        if count == 1 {
            return RawItems { items: vec![input] };
        }
        let lines: Vec<&[u8]> = input
            .split(|&b| b == b'\n')
            .filter(|line| !line.trim_ascii().is_empty())
            .collect();
        RawItems {
            items: if lines.len() == count {
                lines
            } else {
                Vec::new()
            },
        }
    }

    fn get(&self, position: usize) -> Value {
        match self.items.get(position) {
            Some(raw) => Value::String(String::from_utf8_lossy(raw.trim_ascii()).into_owned()),
            None => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_items_follow_the_input_layout() {
        let whole = RawItems::new(b"  not json \n", 1);
        assert_eq!(whole.get(0), json!("not json"));

        let lines = RawItems::new(b"{\"a\":1}\n\nbad line\n{\"b\":2}\n", 3);
        assert_eq!(lines.get(1), json!("bad line"));

        let unknown = RawItems::new(b"[1,\n2,\n3,\n4]", 2);
        assert_eq!(unknown.get(0), Value::Null);
    }

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
