//! The daemon's counters: kept as atomics, rendered in the Prometheus text format (served on
//! an optional address) and logged periodically.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};

use super::config::ListenConfig;
use super::http::access;
use super::http::{Answer, Handler, Peer, Server};
use super::listen::ListenError;

/// Counters of one destination (or failover group).
#[derive(Debug, Default)]
pub struct DestinationCounters {
    /// Notifications handed to the network (traps) or sent and acknowledged (informs).
    pub sent: AtomicU64,
    /// Informs the manager answered.
    pub acknowledged: AtomicU64,
    /// Delivery attempts repeated after a failure (after the back-off).
    pub retried: AtomicU64,
    /// Delivery attempts that failed (no Response, send error, encoding error).
    pub failed: AtomicU64,
}

/// Reads one counter of a destination.
type CounterOf = fn(&DestinationCounters) -> u64;

/// Every counter of the daemon.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Audits decoded from any intake.
    pub received: AtomicU64,
    /// Audits trap bindings matched, every one of which made a notification (an audit with a
    /// binding that failed counts as dead-lettered instead).
    pub matched: AtomicU64,
    /// Audits no trap binding matched (nothing to send).
    pub unmatched: AtomicU64,
    /// Audits durably queued.
    pub queued: AtomicU64,
    /// Audits (or inputs) written to the dead-letter file.
    pub dead_lettered: AtomicU64,
    /// Intake requests refused (bad input, full queue).
    pub rejected: AtomicU64,
    destinations: Mutex<BTreeMap<String, Arc<DestinationCounters>>>,
}

/// A point-in-time copy, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub received: u64,
    pub matched: u64,
    pub unmatched: u64,
    pub queued: u64,
    pub sent: u64,
    pub acknowledged: u64,
    pub retried: u64,
    pub failed: u64,
    pub dead_lettered: u64,
    pub rejected: u64,
}

pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Metrics {
    /// The counters of a destination, created on first use; kept across reloads.
    pub fn destination(&self, name: &str) -> Arc<DestinationCounters> {
        let mut destinations = self.destinations.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(destinations.entry(name.to_owned()).or_default())
    }

    fn destinations(&self) -> Vec<(String, Arc<DestinationCounters>)> {
        self.destinations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(name, counters)| (name.clone(), Arc::clone(counters)))
            .collect()
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot {
            received: get(&self.received),
            matched: get(&self.matched),
            unmatched: get(&self.unmatched),
            queued: get(&self.queued),
            dead_lettered: get(&self.dead_lettered),
            rejected: get(&self.rejected),
            ..Snapshot::default()
        };
        for (_, counters) in self.destinations() {
            snapshot.sent += get(&counters.sent);
            snapshot.acknowledged += get(&counters.acknowledged);
            snapshot.retried += get(&counters.retried);
            snapshot.failed += get(&counters.failed);
        }
        snapshot
    }

    /// The Prometheus text exposition format (version 0.0.4). `backlog` is each reader's
    /// records still to deliver; `queue_bytes` the queue's size on disk.
    pub fn prometheus(&self, backlog: &[(String, u64)], queue_bytes: u64) -> String {
        let mut text = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                text,
                "# HELP monbridge_{name} {help}\n# TYPE monbridge_{name} counter\nmonbridge_{name} {value}"
            );
        };
        counter(
            "audits_received_total",
            "Audits decoded from any intake.",
            get(&self.received),
        );
        counter(
            "audits_matched_total",
            "Audits matched whose every matching trap binding made a notification.",
            get(&self.matched),
        );
        counter(
            "audits_unmatched_total",
            "Audits no trap binding matched.",
            get(&self.unmatched),
        );
        counter(
            "audits_queued_total",
            "Audits durably queued for delivery.",
            get(&self.queued),
        );
        counter(
            "audits_dead_lettered_total",
            "Audits or inputs written to the dead-letter file.",
            get(&self.dead_lettered),
        );
        counter(
            "intake_rejected_total",
            "Intake requests refused (bad input or full queue).",
            get(&self.rejected),
        );
        let destinations = self.destinations();
        let per_destination: [(&str, &str, CounterOf); 4] = [
            (
                "notifications_sent_total",
                "Notifications sent (traps) or sent and acknowledged (informs).",
                |c| get(&c.sent),
            ),
            (
                "notifications_acknowledged_total",
                "Informs the manager acknowledged.",
                |c| get(&c.acknowledged),
            ),
            (
                "notifications_retried_total",
                "Deliveries tried again after a failure.",
                |c| get(&c.retried),
            ),
            (
                "notifications_failed_total",
                "Delivery attempts that failed.",
                |c| get(&c.failed),
            ),
        ];
        for (name, help, value) in per_destination {
            let _ = writeln!(
                text,
                "# HELP monbridge_{name} {help}\n# TYPE monbridge_{name} counter"
            );
            for (destination, counters) in &destinations {
                let _ = writeln!(
                    text,
                    "monbridge_{name}{{destination=\"{destination}\"}} {}",
                    value(counters)
                );
            }
        }
        let _ = writeln!(
            text,
            "# HELP monbridge_queue_backlog Queued audits a destination has yet to finish.\n# TYPE monbridge_queue_backlog gauge"
        );
        for (destination, records) in backlog {
            let _ = writeln!(
                text,
                "monbridge_queue_backlog{{destination=\"{destination}\"}} {records}"
            );
        }
        let _ = writeln!(
            text,
            "# HELP monbridge_queue_bytes Bytes of queued records on disk.\n# TYPE monbridge_queue_bytes gauge\nmonbridge_queue_bytes {queue_bytes}"
        );
        text
    }
}

impl std::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "received {}, matched {}, unmatched {}, queued {}, sent {}, acknowledged {}, \
             retried {}, failed {}, dead-lettered {}, rejected {}",
            self.received,
            self.matched,
            self.unmatched,
            self.queued,
            self.sent,
            self.acknowledged,
            self.retried,
            self.failed,
            self.dead_lettered,
            self.rejected
        )
    }
}

/// `GET /metrics` on its own address, with its own access rules.
pub struct MetricsServer {
    server: Server,
}

struct MetricsHandler {
    metrics: Arc<Metrics>,
    queue: Arc<super::queue::Queue>,
}

impl Handler for MetricsHandler {
    fn handle(self: Arc<Self>, request: Request<Incoming>, peer: Peer) -> Answer {
        Box::pin(async move {
            if request.uri().path() != "/metrics" {
                return access::text(
                    StatusCode::NOT_FOUND,
                    "text/plain",
                    "not found: see /metrics\n".into(),
                );
            }
            if request.method() != Method::GET {
                return access::method_not_allowed("GET", "the metrics are read with GET");
            }
            if !peer.authorized {
                return access::unauthorized();
            }
            let text = self
                .metrics
                .prometheus(&self.queue.backlog(), self.queue.used_bytes());
            access::text(StatusCode::OK, "text/plain; version=0.0.4", text)
        })
    }
}

impl MetricsServer {
    pub fn start(
        config: &ListenConfig,
        metrics: Arc<Metrics>,
        queue: Arc<super::queue::Queue>,
    ) -> Result<MetricsServer, ListenError> {
        let handler = Arc::new(MetricsHandler { metrics, queue });
        let server = Server::start("metrics", config, 1, 1, handler)?;
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        tracing::info!("metrics on {scheme}://{}/metrics", server.address());
        if config.is_exposed() {
            tracing::warn!(
                "metrics: {} is reachable from other machines without TLS and authentication \
                 (insecure: true)",
                server.address()
            );
        }
        Ok(MetricsServer { server })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_every_counter_with_destination_labels() {
        let metrics = Metrics::default();
        add(&metrics.received, 3);
        add(&metrics.destination("nms-a").sent, 2);
        add(&metrics.destination("nms-b").failed, 1);
        let text = metrics.prometheus(&[("nms-a".into(), 4)], 100);
        for line in [
            "monbridge_audits_received_total 3",
            "monbridge_notifications_sent_total{destination=\"nms-a\"} 2",
            "monbridge_notifications_failed_total{destination=\"nms-b\"} 1",
            "monbridge_queue_backlog{destination=\"nms-a\"} 4",
            "monbridge_queue_bytes 100",
            "# TYPE monbridge_audits_dead_lettered_total counter",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert_eq!(metrics.snapshot().sent, 2);
    }
}
