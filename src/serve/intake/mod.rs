//! Intakes: where audits come in. Every intake hands decoded audits to the [`Processor`], which
//! runs the rules once, dead-letters what they cannot evaluate, and turns the rest into queue
//! records; an intake acknowledges only once its records are durable.

pub mod http;
pub mod rest;
pub mod stdin;

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::dead_letter::{DeadLetter, DeadLetterError};
use super::metrics::{Metrics, add};
use super::queue::{Queue, QueueError, Receipt};
use crate::lang::Params;
use crate::lang::RuleSet;
use crate::record::Trap;

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

    /// Runs the rules over decoded audits. An audit no binding matches is counted and
    /// dropped; one whose bindings fail is written to the dead-letter file (with the
    /// notifications of its other bindings still queued).
    pub fn prepare(&self, audits: Vec<Value>, origin: &str) -> Result<Prepared, DeadLetterError> {
        let rules = self.rules();
        let mut prepared = Prepared::default();
        add(&self.metrics.received, audits.len() as u64);
        for audit in audits {
            prepared.outcome.accepted += 1;
            let results = rules.set.traps(&audit, &rules.params);
            if results.is_empty() {
                prepared.outcome.unmatched += 1;
                add(&self.metrics.unmatched, 1);
                tracing::debug!("{origin}: no trap binding matched {}", audit_code(&audit));
                continue;
            }
            let mut traps = Vec::with_capacity(results.len());
            let mut errors = Vec::new();
            for result in results {
                match result {
                    Ok(trap) => traps.push(trap),
                    Err(error) => errors.push(error.to_string()),
                }
            }
            if !errors.is_empty() {
                let reason = errors.join("; ");
                tracing::warn!(
                    "{origin}: {} goes to the dead-letter file: {reason}",
                    audit_code(&audit)
                );
                self.dead_letter.record(origin, &reason, &audit)?;
                prepared.outcome.dead_lettered += 1;
                add(&self.metrics.dead_lettered, 1);
            }
            if traps.is_empty() {
                continue;
            }
            add(&self.metrics.matched, 1);
            let payload = serde_json::to_vec(&QueuedAuditRef {
                audit: &audit,
                traps: &traps,
            });
            match payload {
                Ok(payload) => prepared.payloads.push(payload),
                // Values that came from JSON always serialise back; kept as a dead letter
                // rather than a panic all the same.
                Err(error) => {
                    self.dead_letter
                        .record(origin, &error.to_string(), &audit)?;
                    add(&self.metrics.dead_lettered, 1);
                }
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

/// `STLNK` (or `audit` when it has no code), for log lines.
pub fn audit_code(audit: &Value) -> String {
    match audit.get("source").and_then(Value::as_str) {
        Some(code) => format!("audit {code}"),
        None => "audit".to_owned(),
    }
}
