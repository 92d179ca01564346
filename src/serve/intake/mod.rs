//! Intakes: where audits come in. Every intake hands decoded audits to the [`Processor`], which
//! runs the rules once, dead-letters what they cannot evaluate, and turns the rest into queue
//! records; an intake acknowledges only once its records are durable.
//!
//! Each intake is started by its own constructor and runs as an [`Intake`], so the daemon
//! stops them all the same way.

pub mod http;
pub mod rest;
pub mod stdin;

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::dead_letter::DeadLetter;
use super::metrics::{Metrics, add};
use super::queue::{Queue, QueueError, Receipt};
use crate::files::AppendError;
use crate::lang::Params;
use crate::lang::RuleSet;
use crate::pipeline::audit::{Outcome as Evaluated, evaluate, label};
use crate::record::Trap;

/// A running intake. On SIGTERM the daemon calls [`stop_accepting`](Self::stop_accepting) on
/// every intake, closes the queue, then calls [`finish`](Self::finish) on every intake.
pub trait Intake {
    /// For log lines: `http`, `fledge`, `stdin`.
    fn name(&self) -> &'static str;
    /// Stops taking audits. Once it returns, the intake appends nothing more to the queue;
    /// appends already made may still be waiting for their commit.
    fn stop_accepting(&mut self);
    /// After the queue is closed (so every pending append has completed): answers what was
    /// taken and releases the intake's threads.
    fn finish(self: Box<Self>);
}

/// The rules in force and the parameters they read; replaced whole on reload.
#[derive(Debug)]
pub struct Rules {
    pub set: RuleSet,
    pub params: Params,
}

/// Shared by the intakes and swapped by a reload.
pub type SharedRules = Arc<RwLock<Arc<Rules>>>;

/// One queue record: the audit and the notifications its rules made when it came in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedAudit {
    pub audit: Value,
    pub traps: Vec<Trap>,
}

#[derive(Serialize)]
struct QueuedAuditRef<'a> {
    audit: &'a Value,
    traps: &'a [Trap],
}

/// What happened to the audits of one intake request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub accepted: u64,
    pub queued: u64,
    pub unmatched: u64,
    pub dead_lettered: u64,
}

/// Audits turned into queue records, not yet appended.
#[derive(Debug, Default)]
pub struct Prepared {
    pub payloads: Vec<Vec<u8>>,
    pub outcome: Outcome,
}

/// Rules, queue, dead letters and counters, as every intake uses them.
pub struct Processor {
    pub rules: SharedRules,
    pub queue: Arc<Queue>,
    pub dead_letter: Arc<DeadLetter>,
    pub metrics: Arc<Metrics>,
}

impl Processor {
    /// The rules in force now.
    pub fn rules(&self) -> Arc<Rules> {
        Arc::clone(&self.rules.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Runs the rules over decoded audits, by the partial-failure rule of
    /// [`pipeline::audit`](crate::pipeline::audit): an audit no binding matches is counted and
    /// dropped; the notifications of the bindings that evaluate are queued; an audit with a
    /// binding that fails is written to the dead-letter file with the errors, and counts as
    /// dead-lettered rather than matched.
    pub fn prepare(&self, audits: Vec<Value>, origin: &str) -> Result<Prepared, AppendError> {
        let rules = self.rules();
        let mut prepared = Prepared::default();
        add(&self.metrics.received, audits.len() as u64);
        for audit in audits {
            prepared.outcome.accepted += 1;
            let (traps, errors) = match evaluate(&rules.set, &rules.params, &audit) {
                Evaluated::Unmatched => {
                    prepared.outcome.unmatched += 1;
                    add(&self.metrics.unmatched, 1);
                    tracing::debug!("{origin}: no trap binding matched {}", label(None, &audit));
                    continue;
                }
                Evaluated::Matched {
                    notifications,
                    errors,
                } => (notifications, errors),
            };
            let mut errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
            if !traps.is_empty() {
                match serde_json::to_vec(&QueuedAuditRef {
                    audit: &audit,
                    traps: &traps,
                }) {
                    Ok(payload) => prepared.payloads.push(payload),
                    // Values that came from JSON always serialise back; kept as a dead letter
                    // rather than a panic all the same.
                    Err(error) => errors.push(error.to_string()),
                }
            }
            if errors.is_empty() {
                add(&self.metrics.matched, 1);
            } else {
                let reason = errors.join("; ");
                tracing::warn!(
                    "{origin}: {} goes to the dead-letter file: {reason}",
                    label(None, &audit)
                );
                self.dead_letter.record(origin, &reason, &audit)?;
                prepared.outcome.dead_lettered += 1;
                add(&self.metrics.dead_lettered, 1);
            }
        }
        prepared.outcome.queued = prepared.payloads.len() as u64;
        Ok(prepared)
    }

    /// Counts what an append did once it is known.
    pub fn appended(&self, result: &Result<Receipt, QueueError>) {
        match result {
            Ok(receipt) => add(&self.metrics.queued, receipt.count),
            Err(_) => add(&self.metrics.rejected, 1),
        }
    }
}
