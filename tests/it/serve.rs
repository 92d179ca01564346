//! `monbridge serve` end to end: real daemon processes, snmptrapd as the manager, a mock Fledge
//! REST server, signals and `kill -9`. Everything on 127.0.0.1, every wait bounded.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use httpmock::MockServer;
use serde_json::{Value, json};

use crate::common::fledge_log::{FledgeLog, PAGE};
use crate::common::serve::{Serve, WAIT, free_tcp_port, object, request, wait_until, write};
use crate::common::snmptrapd::{Notification, Snmptrapd, free_udp_port};
use crate::common::{bin, repo_root};

/// A STLNK audit (REST shape) whose service name carries `id`, so each can be told apart.
/// [`stlnk`] at `timestamp`, as the Fledge log holds it.
fn stlnk_at(id: &str, timestamp: &str) -> Value {
    let mut entry = stlnk(id);
    entry["timestamp"] = json!(timestamp);
    entry
}

pub(crate) fn stlnk(id: &str) -> Value {
    json!({
        "source": "STLNK",
        "severity": "WARNING",
        "details": {"nameService": id, "nameLink": "PA-Lyon-1", "valueLink": "OFF"},
        "timestamp": "2026-11-21 09:15:42.317"
    })
}

/// The service names (object 2) of STLNK notifications received, with how often each came.
pub(crate) fn services(notifications: &[Notification]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for notification in notifications {
        if let Some(service) = object(notification, 2) {
            *counts.entry(service).or_default() += 1;
        }
    }
    counts
}

pub(crate) fn destination(name: &str, port: u16, extra: &str) -> String {
    format!("  - name: {name}\n    address: udp:127.0.0.1:{port}\n{extra}")
}

pub(crate) const INFORM: &str = "    notification: inform\n    retries: 0\n    timeout_ms: 300\n";
/// Informs for a test where a slow answer must not count as a failure.
const PATIENT_INFORM: &str = "    notification: inform\n    retries: 1\n    timeout_ms: 1000\n";
pub(crate) const FAST_BACKOFF: &str = "backoff: {initial_ms: 50, max_ms: 400}\n";

pub(crate) fn config(intakes: &str, destinations: &[String], extra: &str) -> String {
    format!(
        "state_dir: state\nenv: {{hostname: gw-test}}\nintakes:\n{intakes}destinations:\n{}{extra}",
        destinations.concat()
    )
}

#[test]
fn check_config_validates_the_file_and_the_rules() {
    let serve = Serve::new(&config(
        "  http: {listen: \"127.0.0.1:8611\"}\n",
        &[destination("nms", 162, "")],
        "",
    ));
    let output = Command::new(bin("monbridge"))
        .args(["serve", "--check-config", "--config"])
        .arg(serve.config_path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("ok: "), "{stdout}");
    assert!(stdout.contains("nms udp:127.0.0.1:162"), "{stdout}");
    assert!(!serve.path("state").exists(), "checking creates nothing");

    // A typo: line and column. Broken rules: their diagnostics. Both exit 1.
    write(
        &serve.config_path(),
        "state_dir: state\nintakes: {stdin: true}\ndestinations:\n  - name: nms\n    adress: udp:127.0.0.1:162\n",
    );
    let output = Command::new(bin("monbridge"))
        .args(["serve", "--check-config", "--config"])
        .arg(serve.config_path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 5 column 5"), "{stderr}");
    assert!(stderr.contains("unknown field `adress`"), "{stderr}");

    write(
        &serve.path("rules/broken.rules"),
        "trap t when audit.sorce == \"X\" {\n}\n",
    );
    write(
        &serve.config_path(),
        "state_dir: state\nrules: rules\nintakes: {stdin: true}\ndestinations:\n  - name: nms\n    address: udp:127.0.0.1:162\n",
    );
    let output = Command::new(bin("monbridge"))
        .args(["serve", "--check-config", "--config"])
        .arg(serve.config_path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("broken.rules"));
}

#[test]
fn http_intake_refuses_bad_inputs_with_the_reason_and_stays_healthy() {
    let manager = Snmptrapd::start();
    let metrics = format!("127.0.0.1:{}", free_tcp_port());
    let mut serve = Serve::new(&config(
        "  http: {listen: \"{http}\"}\n",
        &[destination("nms", manager.port(), INFORM)],
        &format!("metrics: {{listen: \"{metrics}\"}}\n"),
    ));
    serve.start();
    let json_type = "application/json";

    let refused = [
        serve.post(json_type, "{not json"),
        serve.post(json_type, r#"{"source": "STLNK", "severity": "LOUD"}"#),
        serve.post(json_type, ""),
        serve.post("text/plain", stlnk("plain").to_string()),
        // One bad audit among good ones: none of them is queued.
        serve.post(
            json_type,
            format!("{}\n{{\"bad\": 1}}\n", stlnk("with-a-bad-neighbour")),
        ),
        request(serve.http_url("/audit"), "GET", None, Vec::new()),
        request(
            serve.http_url("/elsewhere"),
            "POST",
            Some(json_type),
            b"{}".to_vec(),
        ),
    ];
    let statuses: Vec<u16> = refused.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, [400, 400, 400, 415, 400, 405, 404], "{refused:?}");
    assert!(refused[0].1.contains("not JSON"), "{}", refused[0].1);
    assert!(refused[1].1.contains("LOUD"), "{}", refused[1].1);
    assert!(refused[4].1.contains("line 2"), "{}", refused[4].1);

    // Still healthy: good audits of each shape are taken and delivered.
    let trigger_reason = json!({
        "reason": "triggered", "auditCode": ["STLNK"], "timestamp": "2026-11-21 09:15:42.317000+00:00",
        "data": {"STLNK": {"code": "STLNK", "level": 2, "log": {"nameService": "from-trigger", "nameLink": "L", "valueLink": "ON"}},
                 "timestamp_STLNK": 1_795_000_000.5}
    });
    let (status, body) = serve.post(json_type, trigger_reason.to_string());
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answer,
        json!({"accepted": 1, "queued": 1, "unmatched": 0, "dead_lettered": 0})
    );
    let (status, _) = serve.post(json_type, stlnk("from-rest").to_string());
    assert_eq!(status, 200);
    // An audit no binding matches is counted, not queued; one the rules cannot evaluate (no
    // nameLink) is dead-lettered.
    let (status, body) = serve.post(
        json_type,
        json!({"source": "PURGE", "severity": "INFORMATION", "details": {}}).to_string(),
    );
    assert_eq!(
        (status, body.contains("\"unmatched\":1")),
        (200, true),
        "{body}"
    );
    let (status, body) = serve.post(
        json_type,
        json!({"source": "STLNK", "severity": "WARNING", "details": {"nameService": "x", "valueLink": "ON"}})
            .to_string(),
    );
    assert_eq!(
        (status, body.contains("\"dead_lettered\":1")),
        (200, true),
        "{body}"
    );
    let dead_letters = std::fs::read_to_string(serve.path("state/dead-letter.jsonl")).unwrap();
    let dead_letter: Value = serde_json::from_str(dead_letters.lines().next().unwrap()).unwrap();
    assert_eq!(dead_letter["origin"], "http");
    assert!(dead_letter["reason"].as_str().unwrap().contains("nameLink"));

    let (delivered, seen) = wait_until(
        || manager.notifications(),
        |seen| services(seen).len() == 2,
        WAIT,
    );
    assert!(delivered, "{seen:?}");
    assert_eq!(
        services(&seen).keys().cloned().collect::<Vec<_>>(),
        ["from-rest", "from-trigger"]
    );

    let (status, text) = request(format!("http://{metrics}/metrics"), "GET", None, Vec::new());
    assert_eq!(status, 200);
    for line in [
        "monbridge_audits_received_total 4",
        "monbridge_audits_unmatched_total 1",
        "monbridge_audits_dead_lettered_total 1",
        "monbridge_intake_rejected_total 7",
        "monbridge_notifications_acknowledged_total{destination=\"nms\"} 2",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert_eq!(serve.stop(), Some(0));
}

#[test]
fn stdin_lines_are_queued_and_lines_that_are_not_audits_dead_lettered() {
    let manager = Snmptrapd::start();
    let mut serve = Serve::new(&config(
        "  stdin: true\n",
        &[destination("nms", manager.port(), "")],
        "",
    ));
    serve.start_with_stdin(Stdio::piped());
    let mut stdin = serve.stdin();
    let mut lines = String::new();
    for n in 0..20 {
        lines.push_str(&format!("{}\n", stlnk(&format!("stdin-{n}"))));
        if n == 10 {
            lines.push_str("this is not json\n");
        }
    }
    std::io::Write::write_all(&mut stdin, lines.as_bytes()).unwrap();
    drop(stdin);
    let (delivered, seen) = wait_until(
        || manager.notifications(),
        |seen| services(seen).len() == 20,
        WAIT,
    );
    assert!(delivered, "{:?}", services(&seen));
    let dead_letters = std::fs::read_to_string(serve.path("state/dead-letter.jsonl")).unwrap();
    assert_eq!(dead_letters.lines().count(), 1);
    assert!(dead_letters.contains("line 12") && dead_letters.contains("this is not json"));
    assert_eq!(serve.stop(), Some(0));
}

#[test]
fn a_second_daemon_on_the_same_state_directory_refuses_to_start() {
    let manager = Snmptrapd::start();
    let mut serve = Serve::new(&config(
        "  stdin: true\n",
        &[destination("nms", manager.port(), "")],
        "",
    ));
    serve.start_with_stdin(Stdio::piped());
    let mut second = serve
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    let mut exited = false;
    while !exited && std::time::Instant::now() < deadline {
        exited = second.try_wait().unwrap().is_some();
        std::thread::sleep(Duration::from_millis(20));
    }
    if !exited {
        second.kill().unwrap();
    }
    let second = second.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        exited,
        "a second daemon started on the same state directory:\n{stderr}"
    );
    assert!(!second.status.success(), "{stderr}");
    assert!(
        stderr.contains("another monbridge serve is using the state directory"),
        "{stderr}"
    );
    // The first daemon is untouched and still delivers.
    let mut stdin = serve.stdin();
    std::io::Write::write_all(&mut stdin, format!("{}\n", stlnk("after")).as_bytes()).unwrap();
    drop(stdin);
    let (delivered, seen) = wait_until(
        || manager.notifications(),
        |seen| services(seen).len() == 1,
        WAIT,
    );
    assert!(delivered, "{:?}", services(&seen));
    assert_eq!(serve.stop(), Some(0));
    // Once it has stopped, the directory is free again.
    serve.start();
    assert_eq!(serve.stop(), Some(0));
}

#[test]
fn informs_wait_for_a_manager_that_is_down_while_the_other_gets_them_at_once() {
    let up = Snmptrapd::start();
    let down_port = free_udp_port();
    let mut serve = Serve::new(&config(
        "  http: {listen: \"{http}\"}\n",
        &[
            destination("up", up.port(), INFORM),
            destination("down", down_port, INFORM),
        ],
        FAST_BACKOFF,
    ));
    serve.start();
    let ids: Vec<String> = (0..20).map(|n| format!("audit-{n}")).collect();
    for id in &ids {
        let (status, body) = serve.post("application/json", stlnk(id).to_string());
        assert_eq!(status, 200, "{body}");
    }
    // The manager that is up gets everything while the other is still down.
    let (all_up, seen) = wait_until(
        || up.notifications(),
        |seen| services(seen).len() == ids.len(),
        WAIT,
    );
    assert!(all_up, "{:?}", services(&seen));
    assert!(
        serve.wait_for_log(
            |l| l.contains("delivery to down") && l.contains("failed"),
            WAIT
        ),
        "{}",
        serve.log_text()
    );

    // The other comes up: it gets every audit, in order, none lost.
    let down = Snmptrapd::start_on(down_port);
    let (all_down, seen) = wait_until(
        || down.notifications(),
        |seen| services(seen).len() == ids.len(),
        WAIT,
    );
    assert!(all_down, "{:?}\n{}", services(&seen), serve.log_text());
    let first_seen: Vec<String> = {
        let mut order = Vec::new();
        for notification in &seen {
            let id = object(notification, 2).unwrap();
            if !order.contains(&id) {
                order.push(id);
            }
        }
        order
    };
    assert_eq!(first_seen, ids);
    assert_eq!(serve.stop(), Some(0));
}

#[test]
fn failover_sends_to_the_backup_only_while_the_primary_fails() {
    let primary_port = free_udp_port();
    let backup = Snmptrapd::start();
    let mut serve = Serve::new(&config(
        "  http: {listen: \"{http}\"}\n",
        &[
            destination("primary", primary_port, PATIENT_INFORM),
            destination("backup", backup.port(), PATIENT_INFORM),
        ],
        &format!("policy: failover\n{FAST_BACKOFF}"),
    ));
    serve.start();
    serve.post("application/json", stlnk("while-primary-down").to_string());
    let (to_backup, seen) = wait_until(
        || backup.notifications(),
        |seen| services(seen).contains_key("while-primary-down"),
        WAIT,
    );
    assert!(to_backup, "{seen:?}");

    let primary = Snmptrapd::start_on(primary_port);
    serve.post("application/json", stlnk("while-primary-up").to_string());
    let (to_primary, seen) = wait_until(
        || primary.notifications(),
        |seen| services(seen).contains_key("while-primary-up"),
        WAIT,
    );
    assert!(to_primary, "{seen:?}");
    assert_eq!(serve.stop(), Some(0));
    assert!(
        !services(&backup.notifications()).contains_key("while-primary-up"),
        "the backup got a copy although the primary answered"
    );
}

#[test]
fn kill_9_during_a_burst_loses_no_acknowledged_audit() {
    const AUDITS: usize = 5000;
    const CLIENTS: usize = 8;
    let manager = Snmptrapd::start();
    let mut serve = Serve::new(&config(
        "  http: {listen: \"{http}\"}\n",
        &[destination(
            "nms",
            manager.port(),
            "    notification: inform\n    timeout_ms: 1000\n",
        )],
        FAST_BACKOFF,
    ));
    serve.start();
    let acknowledged = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let url = serve.http_url("/audit");
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (acknowledged, next, killed, url) = (
                Arc::clone(&acknowledged),
                Arc::clone(&next),
                Arc::clone(&killed),
                url.clone(),
            );
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= AUDITS || killed.load(Ordering::Relaxed) {
                        return;
                    }
                    let id = format!("burst-{n:04}");
                    let sent = client
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .body(stlnk(&id).to_string())
                        .send();
                    match sent {
                        Ok(response) if response.status().as_u16() == 200 => {
                            acknowledged.lock().unwrap().insert(id);
                        }
                        Ok(response) => panic!("unexpected answer {}", response.status()),
                        // The daemon was killed under this request: not acknowledged.
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    // Kill in the middle of the burst.
    let deadline = std::time::Instant::now() + WAIT;
    while acknowledged.lock().unwrap().len() < AUDITS / 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    serve.kill9();
    killed.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= AUDITS / 3 && acknowledged.len() < AUDITS,
        "the kill did not land mid-burst: {} acknowledged",
        acknowledged.len()
    );

    serve.start();
    let (complete, seen) = wait_until(
        || manager.notifications(),
        |seen| {
            let received = services(seen);
            acknowledged.iter().all(|id| received.contains_key(id))
        },
        Duration::from_secs(120),
    );
    let received = services(&seen);
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !received.contains_key(*id))
        .collect();
    assert!(
        complete,
        "{} acknowledged audits lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    let duplicates: usize = received.values().map(|count| count - 1).sum();
    eprintln!(
        "kill -9 mid-burst: {} acknowledged, {} received, {duplicates} duplicates",
        acknowledged.len(),
        received.len()
    );
    assert_eq!(serve.stop(), Some(0));
}

#[test]
fn sighup_keeps_the_running_rules_when_the_new_ones_are_broken_and_switches_to_good_ones() {
    let manager = Snmptrapd::start();
    let original = std::fs::read_to_string(repo_root().join("rules/audit.rules")).unwrap();
    let mut serve = Serve::new(&config(
        "  http: {listen: \"{http}\"}\n",
        &[destination("nms", manager.port(), "")],
        "rules: rules\n",
    ));
    write(&serve.path("rules/audit.rules"), &original);
    serve.start();
    let event_of = |id: &str| {
        let (arrived, seen) = wait_until(
            || manager.notifications(),
            |seen| seen.iter().any(|n| object(n, 2).as_deref() == Some(id)),
            WAIT,
        );
        assert!(arrived, "{id} never arrived: {seen:?}");
        seen.iter()
            .find(|n| object(n, 2).as_deref() == Some(id))
            .and_then(|n| object(n, 3))
            .unwrap()
    };
    serve.post("application/json", stlnk("before").to_string());
    assert_eq!(event_of("before"), "stateLink");

    write(
        &serve.path("rules/audit.rules"),
        &original.replace("audit.detail.nameLink", "audit.detail."),
    );
    serve.signal("HUP");
    assert!(
        serve.wait_for_log(|l| l.contains("reload refused"), WAIT),
        "{}",
        serve.log_text()
    );
    serve.post("application/json", stlnk("after-broken").to_string());
    assert_eq!(event_of("after-broken"), "stateLink");

    write(
        &serve.path("rules/audit.rules"),
        &original.replace(
            "3 nameEvent     = \"stateLink\"",
            "3 nameEvent     = \"linkState\"",
        ),
    );
    serve.signal("HUP");
    assert!(
        serve.wait_for_log(|l| l.contains("reloaded:"), WAIT),
        "{}",
        serve.log_text()
    );
    serve.post("application/json", stlnk("after-good").to_string());
    assert_eq!(event_of("after-good"), "linkState");
    assert_eq!(serve.stop(), Some(0));
}

#[test]
fn fledge_polling_delivers_each_new_entry_exactly_once_across_a_restart() {
    let manager = Snmptrapd::start();
    let server = MockServer::start();
    let mut log = FledgeLog::new(&server, Some("fledge-token"), Some("STLNK"));
    // Already in the log at first start: not sent (no backfill).
    log.add(stlnk_at("old-1", "2026-11-21 09:00:00.000"));
    log.add(stlnk_at("old-2", "2026-11-21 09:00:01.000"));
    let token_file = "fledge-token.txt";
    let mut serve = Serve::new(&config(
        &format!(
            "  fledge:\n    url: {}\n    source: [STLNK]\n    token_file: {token_file}\n    interval_ms: 100\n    page_size: {PAGE}\n",
            server.base_url()
        ),
        &[destination("nms", manager.port(), INFORM)],
        "",
    ));
    write(&serve.path(token_file), "fledge-token\n");
    serve.start();
    log.wait_polls(2);

    // The log grows: entries in one millisecond, including one at the cursor's timestamp.
    log.add(stlnk_at("new-1", "2026-11-21 09:00:01.000"));
    log.add(stlnk_at("new-2", "2026-11-21 09:00:02.000"));
    log.add(stlnk_at("new-3", "2026-11-21 09:00:02.000"));
    log.add(stlnk_at("new-4", "2026-11-21 09:00:03.000"));
    let (first_batch, seen) = wait_until(
        || manager.notifications(),
        |seen| services(seen).len() == 4,
        WAIT,
    );
    assert!(first_batch, "{:?}\n{}", services(&seen), serve.log_text());

    // Restart in the middle of the growth: entries added while the daemon is down come after.
    assert_eq!(serve.stop(), Some(0));
    log.add(stlnk_at("while-down-1", "2026-11-21 09:00:03.000"));
    log.add(stlnk_at("while-down-2", "2026-11-21 09:00:04.500"));
    serve.start();
    log.add(stlnk_at("after-restart", "2026-11-21 09:00:05.000"));
    let (second_batch, _) = wait_until(
        || manager.notifications(),
        |seen| services(seen).len() == 7,
        WAIT,
    );
    assert!(second_batch, "{}", serve.log_text());
    // A few more polls over the same log must send nothing again.
    log.wait_polls(3);
    let received = services(&manager.notifications());
    let expected: BTreeMap<String, usize> = [
        "new-1",
        "new-2",
        "new-3",
        "new-4",
        "while-down-1",
        "while-down-2",
        "after-restart",
    ]
    .iter()
    .map(|id| (id.to_string(), 1))
    .collect();
    assert_eq!(received, expected);
    assert_eq!(serve.stop(), Some(0));
}
