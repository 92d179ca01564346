//! The daemon's counters: kept as atomics, rendered in the Prometheus text format (served on
//! an optional local address) and logged periodically.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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

/// `GET /metrics` on a local address, on its own thread.
pub struct MetricsServer {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    pub fn start(
        address: std::net::SocketAddr,
        metrics: Arc<Metrics>,
        queue: Arc<super::queue::Queue>,
    ) -> Result<MetricsServer, ListenError> {
        let listen_error = |reason: String| ListenError { address, reason };
        let server = tiny_http::Server::http(address).map_err(|e| listen_error(e.to_string()))?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                while !thread_stop.load(Ordering::Relaxed) {
                    let request = match server.recv_timeout(std::time::Duration::from_millis(100)) {
                        Ok(Some(request)) => request,
                        Ok(None) => continue,
                        Err(error) => {
                            tracing::warn!("metrics endpoint: {error}");
                            continue;
                        }
                    };
                    let response = if request.url() == "/metrics" {
                        let text = metrics.prometheus(&queue.backlog(), queue.used_bytes());
                        let mut response = tiny_http::Response::from_string(text);
                        if let Ok(header) = tiny_http::Header::from_bytes(
                            &b"Content-Type"[..],
                            &b"text/plain; version=0.0.4"[..],
                        ) {
                            response.add_header(header);
                        }
                        response
                    } else {
                        tiny_http::Response::from_string("not found: see /metrics\n")
                            .with_status_code(404)
                    };
                    let _ = request.respond(response);
                }
            })
            .map_err(|e| listen_error(e.to_string()))?;
        tracing::info!("metrics on http://{address}/metrics");
        Ok(MetricsServer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
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
