//! Audits as upstream Fledge writes them (`tests/fixtures/fledge/upstream/`: CONCH for one
//! JSON-typed item and in bulk, SRVFL `{name}`, an UNKNOWN severity) reach the manager with
//! the default rules, each as exactly one notification of its code with nameService filled:
//! through `monbridge trap send` and through each of the daemon's intakes (HTTP, stdin,
//! Fledge REST polling), to snmptrapd.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use httpmock::Method::GET;
use httpmock::MockServer;

use crate::common::serve::{Serve, WAIT, object, wait_until};
use crate::common::snmptrapd::{Notification, Snmptrapd};
use crate::common::{self, bin};

/// Each fixture with the notification it must give: trap OID, nameService, severity, date.
const CASES: [(&str, &str, &str, &str, &str); 4] = [
    (
        "CONCH_single.json",
        ".1.3.6.1.4.1.39059.1.0.6",
        "iec104-south",
        "INFORMATION",
        "2026-11-21T09:20:05.114Z",
    ),
    (
        "CONCH_bulk.json",
        ".1.3.6.1.4.1.39059.1.0.6",
        "iec104-south",
        "INFORMATION",
        "2026-11-21T09:21:37.502Z",
    ),
    (
        "SRVFL.json",
        ".1.3.6.1.4.1.39059.1.0.7",
        "iec104-south",
        "FAILURE",
        "2026-11-21T09:25:11.876Z",
    ),
    (
        "UNKNOWN_severity.json",
        ".1.3.6.1.4.1.39059.1.0.7",
        "iec104-north",
        "UNKNOWN",
        "2026-11-21T09:26:02.040Z",
    ),
];

const TRAP_OID: &str = ".1.3.6.1.6.3.1.1.4.1.0";
/// Time left for a stray extra notification to show up before counting is final.
const SETTLE: Duration = Duration::from_millis(500);

fn fixture(file: &str) -> Value {
    serde_json::from_slice(&common::read_fixture(&format!("fledge/upstream/{file}")))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

type Key = (String, String, String, String);

fn expected() -> BTreeMap<Key, usize> {
    let mut counts = BTreeMap::new();
    for (_, oid, service, severity, date) in CASES {
        let key = (oid.into(), service.into(), severity.into(), date.into());
        *counts.entry(key).or_default() += 1;
    }
    counts
}

/// Notifications received, counted by trap OID, nameService, severity and date.
fn received(notifications: &[Notification]) -> BTreeMap<Key, usize> {
    let mut counts = BTreeMap::new();
    for notification in notifications {
        let oid = notification
            .varbind(TRAP_OID)
            .map(|v| v.value.clone())
            .unwrap_or_default();
        let value = |index| object(notification, index).unwrap_or_default();
        *counts
            .entry((oid, value(2), value(6), value(7)))
            .or_default() += 1;
    }
    counts
}

/// Waits for the four notifications, then a little longer so that a duplicate would show.
fn assert_each_once(manager: &Snmptrapd) {
    let (arrived, _) = wait_until(
        || manager.notifications(),
        |seen| seen.len() >= CASES.len(),
        WAIT,
    );
    assert!(arrived, "snmptrapd said:\n{}", manager.output().join("\n"));
    std::thread::sleep(SETTLE);
    assert_eq!(received(&manager.notifications()), expected());
}

#[test]
fn trap_send_delivers_each_upstream_audit_once() {
    let manager = Snmptrapd::start();
    let lines: String = CASES
        .iter()
        .map(|(file, ..)| format!("{}\n", fixture(file)))
        .collect();
    let mut child = Command::new(bin("monbridge"))
        .args(["trap", "send", "--env", "hostname=gw-poste-1", "--to"])
        .arg(manager.destination())
        .arg("-")
        .env_remove("MONBRIDGE_RULES")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run monbridge");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(lines.as_bytes())
        .expect("write the audits");
    let output = child.wait_with_output().expect("monbridge ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("4 read, 4 matched, 0 unmatched, 0 rejected"),
        "{stderr}"
    );
    assert_each_once(&manager);
}

#[test]
fn http_intake_delivers_each_upstream_audit_once() {
    let manager = Snmptrapd::start();
    let mut serve = Serve::new(&format!(
        "state_dir: state\nenv: {{hostname: gw-poste-1}}\nintakes:\n  http: {{listen: \"{{http}}\"}}\n\
         destinations:\n  - name: nms\n    address: udp:127.0.0.1:{}\n",
        manager.port()
    ));
    serve.start();
    for (file, ..) in CASES {
        let (status, body) = serve.post("application/json", fixture(file).to_string());
        assert_eq!(status, 200, "{file}: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(
            answer,
            json!({"accepted": 1, "queued": 1, "unmatched": 0, "dead_lettered": 0}),
            "{file}"
        );
    }
    assert_each_once(&manager);
    assert_eq!(serve.stop(), Some(0));
}

#[test]
fn stdin_intake_delivers_each_upstream_audit_once() {
    let manager = Snmptrapd::start();
    let mut serve = Serve::new(&format!(
        "state_dir: state\nenv: {{hostname: gw-poste-1}}\nintakes: {{stdin: true}}\n\
         destinations:\n  - name: nms\n    address: udp:127.0.0.1:{}\n",
        manager.port()
    ));
    serve.start_with_stdin(Stdio::piped());
    let mut stdin = serve.stdin();
    for (file, ..) in CASES {
        writeln!(stdin, "{}", fixture(file)).expect("write an audit");
    }
    stdin.flush().expect("flush");
    assert_each_once(&manager);
    drop(stdin);
    assert_eq!(serve.stop(), Some(0));
}

#[test]
fn fledge_rest_intake_delivers_each_upstream_audit_once() {
    let manager = Snmptrapd::start();
    let fledge = MockServer::start();
    // Newest first, as `GET /fledge/audit` answers; the poller keeps asking, and must not
    // send any of them twice.
    let mut entries: Vec<Value> = CASES.iter().map(|(file, ..)| fixture(file)).collect();
    entries.reverse();
    let log = fledge.mock(|when, then| {
        when.method(GET).path("/fledge/audit");
        then.status(200)
            .header("content-type", "application/json")
            .json_body(json!({"audit": entries, "totalCount": entries.len()}));
    });
    let mut serve = Serve::new(&format!(
        "state_dir: state\nenv: {{hostname: gw-poste-1}}\nintakes:\n  fledge:\n    url: {}\n    \
         backfill: true\n    interval_ms: 100\ndestinations:\n  - name: nms\n    address: udp:127.0.0.1:{}\n",
        fledge.base_url(),
        manager.port()
    ));
    serve.start();
    assert_each_once(&manager);
    let deadline = std::time::Instant::now() + WAIT;
    while log.calls() < 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(log.calls() >= 5, "the poller stopped polling");
    std::thread::sleep(SETTLE);
    assert_eq!(received(&manager.notifications()), expected());
    assert_eq!(serve.stop(), Some(0));
}
