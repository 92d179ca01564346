//! `monbridge serve` under load: sustained HTTP intake with durable queueing (default
//! durability: every acknowledgement waits for the group commit's fdatasync), delivering v2c
//! traps to a local UDP receiver.
//!
//! Not a criterion benchmark: it runs the real daemon binary and reports what an operator
//! would measure — audits acknowledged per second, and the latency from the start of the
//! POST to the trap's arrival at the manager (p50/p90/p99/p99.9/max), plus the intake's
//! acknowledgement latency. Three scenarios: one audit per request (many keep-alive
//! connections), batches of JSON lines, and one audit per HTTP/1.0 connection. `cargo bench --bench serve`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use monbridge::record::SnmpValue;
use monbridge::sink::snmp::decode;

/// The varbind that carries the audit's identity (PMC-MIB nameService).
const NAME_SERVICE: [u32; 12] = [1, 3, 6, 1, 4, 1, 39059, 1, 1, 1, 1, 2];

/// A datagram and when it arrived.
type Arrival = (Instant, Vec<u8>);

struct Scenario {
    name: &'static str,
    connections: usize,
    /// Kept-alive HTTP/1.1 connections; otherwise one HTTP/1.0 connection per request, as
    /// `ab` without `-k` makes them.
    keep_alive: bool,
    audits_per_request: usize,
    total_audits: usize,
}

fn main() {
    // `cargo bench` passes `--bench`; a name filter, if any, selects scenarios.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let scenarios = [
        Scenario {
            name: "one audit per request, 64 connections",
            connections: 64,
            keep_alive: true,
            audits_per_request: 1,
            total_audits: 100_000,
        },
        Scenario {
            name: "100 audits per request (JSON lines), 4 connections",
            connections: 4,
            keep_alive: true,
            audits_per_request: 100,
            total_audits: 200_000,
        },
        Scenario {
            name: "one audit per request, a new HTTP/1.0 connection each, 64 clients",
            connections: 64,
            keep_alive: false,
            audits_per_request: 1,
            total_audits: 50_000,
        },
    ];
    println!(
        "| scenario | audits | audits/s acknowledged | intake→send p50 | p90 | p99 | p99.9 | max | ack p50 | ack p99 | ack max | traps received |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for scenario in scenarios {
        if filter
            .as_deref()
            .is_some_and(|f| !scenario.name.contains(f))
        {
            continue;
        }
        run(&scenario);
    }
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind")
}

struct Daemon {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_daemon(http: &str, manager_port: u16) -> Daemon {
    let dir = tempfile::tempdir().expect("temporary folder");
    let config = format!(
        "state_dir: state\nlog_level: warn\nenv: {{hostname: gw-bench}}\nintakes:\n  http: {{listen: \"{http}\"}}\n\
         destinations:\n  - name: manager\n    address: udp:127.0.0.1:{manager_port}\nmetrics: {{log_interval_s: 0}}\n"
    );
    std::fs::write(dir.path().join("monbridge.yaml"), config).expect("write the configuration");
    // MONBRIDGE_BENCH_BIN runs another build (an older one, to compare) under the same load.
    let binary = std::env::var_os("MONBRIDGE_BENCH_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_monbridge").into());
    let child = Command::new(binary)
        .args(["serve", "--config"])
        .arg(dir.path().join("monbridge.yaml"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run monbridge serve");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(http).is_err() {
        assert!(Instant::now() < deadline, "the daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Daemon { child, _dir: dir }
}

fn audit_line(id: usize) -> String {
    format!(
        "{{\"source\":\"STLNK\",\"severity\":\"WARNING\",\"details\":{{\"nameService\":\"b-{id}\",\"nameLink\":\"PA-Lyon-1\",\"valueLink\":\"OFF\"}},\"timestamp\":\"2026-11-21 09:15:42.317\"}}\n"
    )
}

/// One POST (HTTP/1.1 on a kept-alive connection, or HTTP/1.0); the status code.
fn post(
    stream: &mut BufReader<TcpStream>,
    host: &str,
    body: &[u8],
    keep_alive: bool,
) -> std::io::Result<u16> {
    let version = if keep_alive { "1.1" } else { "1.0" };
    let head = format!(
        "POST /audit HTTP/{version}\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let socket = stream.get_mut();
    socket.write_all(head.as_bytes())?;
    socket.write_all(body)?;
    let mut line = String::new();
    stream.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = 0usize;
    loop {
        line.clear();
        stream.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body)?;
    Ok(status)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn run(scenario: &Scenario) {
    let manager = UdpSocket::bind("127.0.0.1:0").expect("bind the manager");
    manager
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let manager_port = manager.local_addr().expect("address").port();
    let http = format!("127.0.0.1:{}", free_tcp_port());
    let daemon = start_daemon(&http, manager_port);

    // The manager only timestamps datagrams; decoding comes after, off the receive path.
    let received: Arc<Mutex<Vec<Arrival>>> = Arc::default();
    let receiving = Arc::new(AtomicBool::new(true));
    let receiver = {
        let (received, receiving) = (Arc::clone(&received), Arc::clone(&receiving));
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 65_535];
            let mut local = Vec::with_capacity(scenario_capacity());
            while receiving.load(Ordering::Relaxed) {
                if let Ok((length, _)) = manager.recv_from(&mut buffer) {
                    local.push((Instant::now(), buffer[..length].to_vec()));
                }
            }
            received.lock().expect("lock").extend(local);
        })
    };

    let requests = scenario.total_audits / scenario.audits_per_request;
    let next = Arc::new(AtomicUsize::new(0));
    let started_at: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let ack_latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let started = Instant::now();
    let clients: Vec<_> = (0..scenario.connections)
        .map(|_| {
            let (next, started_at, ack_latencies, http) = (
                Arc::clone(&next),
                Arc::clone(&started_at),
                Arc::clone(&ack_latencies),
                http.clone(),
            );
            let per_request = scenario.audits_per_request;
            let keep_alive = scenario.keep_alive;
            std::thread::spawn(move || {
                let connect = || {
                    let stream =
                        BufReader::new(TcpStream::connect(&http).expect("connect to the intake"));
                    let _ = stream.get_ref().set_nodelay(true);
                    stream
                };
                let mut stream = connect();
                let mut local_starts = Vec::new();
                let mut local_acks = Vec::new();
                loop {
                    let request = next.fetch_add(1, Ordering::Relaxed);
                    if request >= requests {
                        break;
                    }
                    let first = request * per_request;
                    let body: String = (first..first + per_request).map(audit_line).collect();
                    let sent = Instant::now();
                    if !keep_alive {
                        stream = connect();
                    }
                    let status =
                        post(&mut stream, &http, body.as_bytes(), keep_alive).expect("post");
                    assert_eq!(status, 200, "the intake refused a request");
                    local_acks.push(sent.elapsed());
                    local_starts.extend((first..first + per_request).map(|id| (id, sent)));
                }
                started_at.lock().expect("lock").extend(local_starts);
                ack_latencies.lock().expect("lock").extend(local_acks);
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client");
    }
    let elapsed = started.elapsed();
    // Let delivery finish: stop once no trap came for a while.
    let mut last_count = 0;
    let mut quiet_since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let count = received.lock().expect("lock").len();
        if count != last_count {
            last_count = count;
            quiet_since = Instant::now();
        }
        if quiet_since.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    receiving.store(false, Ordering::Relaxed);
    receiver.join().expect("receiver");
    drop(daemon);

    let started_at = started_at.lock().expect("lock");
    let mut latencies = Vec::with_capacity(scenario.total_audits);
    for (arrived, datagram) in received.lock().expect("lock").iter() {
        let Ok(message) = decode(datagram) else {
            continue;
        };
        let id = message
            .varbinds
            .iter()
            .find_map(|(oid, value)| match value {
                SnmpValue::OctetString(bytes) if oid.arcs() == NAME_SERVICE => {
                    std::str::from_utf8(bytes)
                        .ok()?
                        .strip_prefix("b-")?
                        .parse::<usize>()
                        .ok()
                }
                _ => None,
            });
        if let Some(sent) = id.and_then(|id| started_at.get(&id)) {
            latencies.push(arrived.duration_since(*sent));
        }
    }
    latencies.sort();
    let mut acks = ack_latencies.lock().expect("lock").clone();
    acks.sort();
    let rate = scenario.total_audits as f64 / elapsed.as_secs_f64();
    println!(
        "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        scenario.name,
        scenario.total_audits,
        rate,
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.90)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 0.999)),
        ms(latencies.last().copied().unwrap_or_default()),
        ms(percentile(&acks, 0.50)),
        ms(percentile(&acks, 0.99)),
        ms(acks.last().copied().unwrap_or_default()),
        latencies.len(),
    );
}

fn scenario_capacity() -> usize {
    200_000
}
