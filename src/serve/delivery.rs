//! Delivery: one worker thread per destination (mirror) or one for the whole list (failover),
//! each with its own queue cursor, socket and rate limit, so a manager that is down only holds
//! up its own worker.
//!
//! A worker takes the queue's records in order. A record is finished, and the cursor moves past
//! it, once each of its notifications is sent (traps) or acknowledged (informs); until then the
//! worker retries with a doubling back-off. With failover, each notification goes to the first
//! destination that takes it, in the configured order, starting again from the first for the
//! next one. A notification a destination can never carry (it does not encode for that SNMP
//! version) goes to the dead-letter file instead of blocking the queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

use super::ServeError;
use super::config::{Backoff, Config, DestinationConfig, Policy};
use super::dead_letter::DeadLetter;
use super::intake::QueuedAudit;
use super::metrics::{DestinationCounters, Metrics, add};
use super::queue::{Queue, QueueError, Reader, Throttle};
use crate::record::Trap;
use crate::sink::snmp::usm::LocalEngine;
use crate::sink::snmp::{Sender, SenderConfig};

/// Longest wait for a record before a worker looks at its stop flag again.
const POLL: Duration = Duration::from_millis(100);
/// A worker persists its cursor at most this often while busy (and always when idle or
/// stopping): a crash re-sends at most this much, and never loses anything.
const PERSIST_EVERY: Duration = Duration::from_millis(50);
/// Wait before writing a dead letter again after the write failed.
const DEAD_LETTER_RETRY: Duration = Duration::from_secs(1);

/// The running workers.
pub struct Delivery {
    workers: Vec<(String, Arc<AtomicBool>, JoinHandle<()>)>,
}

/// What a worker needs besides its destinations.
#[derive(Clone)]
pub struct Shared {
    pub queue: Arc<Queue>,
    pub metrics: Arc<Metrics>,
    pub dead_letter: Arc<DeadLetter>,
}

/// The readers the configuration asks for: one per destination, or one failover group.
pub fn groups(config: &Config) -> Vec<(String, Vec<DestinationConfig>)> {
    match config.policy {
        Policy::Mirror => config
            .destinations
            .iter()
            .map(|d| (d.name.clone(), vec![d.clone()]))
            .collect(),
        Policy::Failover => {
            let names: Vec<&str> = config
                .destinations
                .iter()
                .map(|d| d.name.as_str())
                .collect();
            vec![(
                format!("failover-{}", names.join("-")),
                config.destinations.clone(),
            )]
        }
    }
}

impl Delivery {
    /// Opens a reader per group (persisting new cursors at once) and starts the workers; the
    /// SNMPv3 destinations speak for `engine`, the daemon's.
    pub fn start(
        config: &Config,
        engine: Option<&LocalEngine>,
        shared: &Shared,
    ) -> Result<Delivery, ServeError> {
        let groups = groups(config);
        let names: Vec<String> = groups.iter().map(|(name, _)| name.clone()).collect();
        let mut readers = Vec::with_capacity(groups.len());
        for (name, destinations) in groups {
            let mut targets = Vec::with_capacity(destinations.len());
            for config in destinations {
                let sender_config = config
                    .sender
                    .clone()
                    .with_engine(engine)
                    .ok_or_else(|| ServeError::NoEngine(config.name.clone()))?;
                targets.push(Target {
                    counters: shared.metrics.destination(&config.name),
                    limiter: RateLimiter::new(config.rate_limit),
                    sender_config,
                    sender: None,
                    config,
                });
            }
            readers.push((shared.queue.reader(&name)?, targets));
        }
        shared.queue.forget_readers_except(&names)?;
        let mut workers = Vec::with_capacity(readers.len());
        for (reader, targets) in readers {
            let stop = Arc::new(AtomicBool::new(false));
            let name = reader.name().to_owned();
            let mut worker = Worker {
                reader,
                targets,
                backoff: config.backoff,
                shared: shared.clone(),
                stop: Arc::clone(&stop),
                last_persist: Instant::now(),
                finished: 0,
                persist_failures: Throttle::default(),
                dead_letter_failures: Throttle::default(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("deliver-{name}"))
                .spawn(move || worker.run())
                .map_err(|e| QueueError::Io {
                    what: "cannot start the delivery worker for",
                    path: name.clone().into(),
                    reason: e.to_string(),
                })?;
            workers.push((name, stop, thread));
        }
        Ok(Delivery { workers })
    }

    /// Asks every worker to stop after the notification in hand.
    pub fn request_stop(&self) {
        for (_, stop, _) in &self.workers {
            stop.store(true, Ordering::Relaxed);
        }
    }

    /// Stops every worker and waits for them; each persists its cursor on the way out.
    pub fn stop(self) {
        self.request_stop();
        for (name, _, thread) in self.workers {
            if thread.join().is_err() {
                tracing::error!("delivery worker {name} ended abnormally");
            }
        }
    }
}

struct Target {
    config: DestinationConfig,
    /// `config.sender` with the SNMPv3 user bound to the engine.
    sender_config: SenderConfig,
    counters: Arc<DestinationCounters>,
    limiter: RateLimiter,
    /// Opened on first use, and again after a failure to open.
    sender: Option<Sender>,
}

/// What sending one notification to one destination came to.
enum Attempt {
    Delivered,
    /// Worth trying again later (or at the next destination).
    Failed(String),
    /// This destination can never carry it.
    Unsendable(String),
}

struct Worker {
    reader: Reader,
    targets: Vec<Target>,
    backoff: Backoff,
    shared: Shared,
    stop: Arc<AtomicBool>,
    last_persist: Instant,
    /// Every record before this one is finished.
    finished: u64,
    persist_failures: Throttle,
    dead_letter_failures: Throttle,
}

impl Worker {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn run(&mut self) {
        let name = self.reader.name().to_owned();
        self.finished = self.reader.position();
        tracing::info!(
            "delivery {name}: starting at record {}",
            self.reader.position()
        );
        while !self.stopping() {
            let record = match self.reader.next(POLL) {
                Ok(Some(record)) => record,
                Ok(None) => {
                    self.persist(true);
                    continue;
                }
                Err(error) => {
                    tracing::error!("delivery {name}: {error}");
                    self.sleep(self.backoff.max);
                    continue;
                }
            };
            let queued: QueuedAudit = match serde_json::from_slice(&record.payload) {
                Ok(queued) => queued,
                Err(error) => {
                    let reason =
                        format!("queue record {} is not a queued audit: {error}", record.seq);
                    tracing::error!("delivery {name}: {reason}");
                    let item = json!(String::from_utf8_lossy(&record.payload));
                    if !self.dead_letter(&reason, &item) {
                        self.persist(true);
                        return;
                    }
                    self.finished = record.seq + 1;
                    self.persist(false);
                    continue;
                }
            };
            for trap in &queued.traps {
                if !self.deliver(trap, &queued) {
                    // Stopping: the record stays unfinished and is delivered after a restart.
                    self.persist(true);
                    return;
                }
            }
            self.finished = record.seq + 1;
            self.persist(false);
        }
        self.persist(true);
        tracing::info!(
            "delivery {name}: stopped at record {}",
            self.reader.persisted()
        );
    }

    /// Persists the cursor after the records read so far, now (`force`) or when it is due.
    fn persist(&mut self, force: bool) {
        if !force && self.last_persist.elapsed() < PERSIST_EVERY {
            return;
        }
        match self.reader.persist(self.finished) {
            Ok(()) => {
                if let Some(failed) = self.persist_failures.succeeded() {
                    tracing::info!(
                        "delivery {}: position saved again after {failed} failure(s)",
                        self.reader.name()
                    );
                }
            }
            // Retried at the next persist (at least every 100 ms while idle): log the first
            // failure and then at most one line per period, not one per retry.
            Err(error) => {
                if let Some(note) = self.persist_failures.failed() {
                    tracing::error!(
                        "delivery {}: cannot save the position: {error}{note}",
                        self.reader.name()
                    );
                }
            }
        }
        self.last_persist = Instant::now();
    }

    /// Delivers one notification, retrying until it is delivered (true) or the worker is
    /// asked to stop (false).
    fn deliver(&mut self, trap: &Trap, queued: &QueuedAudit) -> bool {
        let mut wait = self.backoff.initial;
        let mut first_try = true;
        loop {
            if !first_try {
                if !self.sleep(wait) {
                    return false;
                }
                wait = (wait * 2).min(self.backoff.max);
            }
            let mut unsendable = Vec::new();
            for index in 0..self.targets.len() {
                if !first_try {
                    add(&self.targets[index].counters.retried, 1);
                }
                match self.attempt(index, trap) {
                    Attempt::Delivered => return true,
                    Attempt::Failed(reason) => {
                        let target = &self.targets[index];
                        add(&target.counters.failed, 1);
                        tracing::warn!(
                            "delivery to {} ({}): trap `{}` failed: {reason}",
                            target.config.name,
                            target.config.address,
                            trap.rule
                        );
                    }
                    Attempt::Unsendable(reason) => {
                        add(&self.targets[index].counters.failed, 1);
                        unsendable.push(format!("{}: {reason}", self.targets[index].config.name));
                    }
                }
            }
            if unsendable.len() == self.targets.len() {
                let reason = format!(
                    "trap `{}` cannot be sent: {}",
                    trap.rule,
                    unsendable.join("; ")
                );
                tracing::error!("delivery {}: {reason}", self.reader.name());
                return self.dead_letter(&reason, &queued.audit);
            }
            first_try = false;
            if self.stopping() {
                return false;
            }
        }
    }

    fn attempt(&mut self, index: usize, trap: &Trap) -> Attempt {
        let target = &mut self.targets[index];
        if target.sender.is_none() {
            match Sender::new(
                target.sender_config.clone(),
                std::slice::from_ref(&target.config.address),
            ) {
                Ok(sender) => target.sender = Some(sender),
                Err(error) => return Attempt::Failed(error.to_string()),
            }
        }
        let Some(sender) = target.sender.as_mut() else {
            return Attempt::Failed("no sender".into());
        };
        target.limiter.acquire();
        let deliveries = match sender.send(trap) {
            Ok(deliveries) => deliveries,
            Err(error) => return Attempt::Unsendable(error.to_string()),
        };
        let Some(delivery) = deliveries.into_iter().next() else {
            return Attempt::Failed("no outcome".into());
        };
        match delivery.result {
            Ok(()) => {
                add(&target.counters.sent, 1);
                if target.sender_config.is_inform() {
                    add(&target.counters.acknowledged, 1);
                }
                Attempt::Delivered
            }
            Err(error) => Attempt::Failed(error.to_string()),
        }
    }

    /// Writes a dead letter, retrying until it is written (true) or the worker is asked to
    /// stop (false: the record stays unfinished and comes back after a restart). A dead
    /// letter that cannot be written is not dropped: on a full disk, the worker waits for
    /// space like the intakes do.
    fn dead_letter(&mut self, reason: &str, item: &serde_json::Value) -> bool {
        let origin = format!("delivery {}", self.reader.name());
        loop {
            match self.shared.dead_letter.record(&origin, reason, item) {
                Ok(()) => {
                    add(&self.shared.metrics.dead_lettered, 1);
                    if let Some(failed) = self.dead_letter_failures.succeeded() {
                        tracing::info!("{origin}: dead letter written after {failed} failure(s)");
                    }
                    return true;
                }
                Err(error) => {
                    if let Some(note) = self.dead_letter_failures.failed() {
                        tracing::error!("{origin}: {error}; retrying{note}");
                    }
                }
            }
            if !self.sleep(DEAD_LETTER_RETRY) {
                return false;
            }
        }
    }

    /// Sleeps up to `duration`, waking early to stop; false when stopping.
    fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        while !self.stopping() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(POLL));
        }
        false
    }
}

/// At most `rate` messages a second, with bursts of a tenth of a second's worth.
struct RateLimiter {
    interval: Option<Duration>,
    burst: Duration,
    next: Instant,
}

impl RateLimiter {
    fn new(rate: u32) -> RateLimiter {
        RateLimiter {
            interval: (rate > 0).then(|| Duration::from_secs(1) / rate),
            burst: Duration::from_millis(100),
            next: Instant::now(),
        }
    }

    fn acquire(&mut self) {
        let Some(interval) = self.interval else {
            return;
        };
        let now = Instant::now();
        // Unused time builds credit up to the burst, no more.
        let earliest = now.checked_sub(self.burst).unwrap_or(now);
        if self.next < earliest {
            self.next = earliest;
        }
        if self.next > now {
            std::thread::sleep(self.next - now);
        }
        self.next += interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_spaces_messages_after_the_burst() {
        let mut limiter = RateLimiter::new(1000);
        let started = Instant::now();
        for _ in 0..300 {
            limiter.acquire();
        }
        // 300 messages at 1000/s with a 100 ms burst take at least about 200 ms.
        assert!(started.elapsed() >= Duration::from_millis(150));
        let mut unlimited = RateLimiter::new(0);
        unlimited.acquire();
        assert!(unlimited.interval.is_none());
    }
}
