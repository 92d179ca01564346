//! `monbridge serve` polling a mock Fledge that behaves as the real one does where it matters:
//! entries that are not audits, tokens forgotten when Fledge restarts, the audit codes it
//! knows.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use httpmock::Method::{GET, POST};
use httpmock::MockServer;
use serde_json::{Value, json};

use crate::common::fledge_log::{FledgeLog, PAGE};
use crate::common::serve::{Serve, WAIT, object, wait_until, write};
use crate::common::snmptrapd::{Notification, Snmptrapd};

/// A STLNK audit (REST shape) whose service name carries `id`.
fn stlnk(id: &str, timestamp: &str) -> Value {
    json!({
        "source": "STLNK",
        "severity": "WARNING",
        "details": {"nameService": id, "nameLink": "PA-Lyon-1", "valueLink": "OFF"},
        "timestamp": timestamp
    })
}

fn services(notifications: &[Notification]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for notification in notifications {
        if let Some(service) = object(notification, 2) {
            *counts.entry(service).or_default() += 1;
        }
    }
    counts
}

fn once(ids: &[&str]) -> BTreeMap<String, usize> {
    ids.iter().map(|id| (id.to_string(), 1)).collect()
}

fn config(fledge: &str, manager_port: u16) -> String {
    format!(
        "state_dir: state\nenv: {{hostname: gw-test}}\nintakes:\n  fledge:\n{fledge}destinations:\n  - name: nms\n    address: udp:127.0.0.1:{manager_port}\n"
    )
}

fn dead_letters(serve: &Serve) -> Vec<Value> {
    std::fs::read_to_string(serve.path("state/dead-letter.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn entries_that_are_not_audits_are_dead_lettered_once_over_many_polls() {
    let manager = Snmptrapd::start();
    let server = MockServer::start();
    let mut log = FledgeLog::new(&server, None, None);
    log.add(stlnk("good-1", "2026-11-21 09:00:00.000"));
    let mut bad_details = stlnk("x", "2026-11-21 09:00:01.000");
    bad_details["details"] = json!("not an object");
    log.add(bad_details);
    log.add(stlnk("good-2", "2026-11-21 09:00:02.000"));
    let mut bad_severity = stlnk("y", "2026-11-21 09:00:02.000");
    bad_severity["severity"] = json!("LOUD");
    log.add(bad_severity);
    let mut undated = stlnk("z", "yesterday");
    undated["timestamp"] = json!("yesterday");
    log.add(undated);
    log.add(stlnk("good-3", "2026-11-21 09:00:03.000"));
    let mut serve = Serve::new(&config(
        &format!(
            "    url: {}\n    interval_ms: 50\n    page_size: {PAGE}\n    backfill: true\n",
            server.base_url()
        ),
        manager.port(),
    ));
    serve.start();
    let (delivered, seen) = wait_until(
        || manager.notifications(),
        |seen| services(seen).len() == 3,
        WAIT,
    );
    assert!(delivered, "{:?}\n{}", services(&seen), serve.log_text());
    log.wait_polls(15);
    // More of both while polling goes on, one of each at the cursor's timestamp.
    let mut late_bad = stlnk("w", "2026-11-21 09:00:03.000");
    late_bad["details"] = json!(["a", "list"]);
    log.add(late_bad);
    log.add(stlnk("good-4", "2026-11-21 09:00:03.000"));
    log.wait_polls(15);
    assert_eq!(
        services(&manager.notifications()),
        once(&["good-1", "good-2", "good-3", "good-4"])
    );
    let letters = dead_letters(&serve);
    assert_eq!(letters.len(), 4, "{letters:#?}");
    let reasons: Vec<&str> = letters
        .iter()
        .map(|letter| letter["reason"].as_str().unwrap_or_default())
        .collect();
    assert!(reasons.iter().any(|r| r.contains("details")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("LOUD")), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("yesterday")),
        "{reasons:?}"
    );
    assert_eq!(serve.stop(), Some(0));
}

/// `POST /fledge/login` for the daemon's user, giving `token`.
fn login<'a>(server: &'a MockServer, token: &str) -> httpmock::Mock<'a> {
    server.mock(|when, then| {
        when.method(POST)
            .path("/fledge/login")
            .json_body(json!({"username": "monbridge", "password": "pa55word"}));
        then.status(200).json_body(
            json!({"message": "Logged in successfully.", "uid": 2, "token": token, "admin": false}),
        );
    })
}

fn log_codes<'a>(server: &'a MockServer) -> httpmock::Mock<'a> {
    server.mock(|when, then| {
        when.method(GET).path("/fledge/audit/logcode");
        then.status(200).json_body(json!({"logCode": [
            {"code": "CONCH", "description": "Configuration Change"},
            {"code": "STLNK", "description": "Link state"},
            {"code": "SRVRG", "description": "Service Registered"}
        ]}));
    })
}

#[test]
fn the_daemon_logs_in_again_when_fledge_forgets_its_token_and_misses_nothing() {
    let manager = Snmptrapd::start();
    let server = MockServer::start();
    let mut first_login = login(&server, "token-1");
    let codes = log_codes(&server);
    let mut log = FledgeLog::new(&server, Some("token-1"), None);
    log.add(stlnk("old", "2026-11-21 09:00:00.000"));
    let fledge = format!(
        "    url: {}\n    source: [STLNK]\n    username: monbridge\n    password_file: fledge-password\n    interval_ms: 50\n    page_size: {PAGE}\n",
        server.base_url()
    );
    let mut serve = Serve::new(&config(&fledge, manager.port()));
    write(&serve.path("fledge-password"), "pa55word\n");
    serve.start();
    log.wait_polls(2);
    log.add(stlnk("before-1", "2026-11-21 09:00:01.000"));
    log.add(stlnk("before-2", "2026-11-21 09:00:02.000"));
    let (delivered, _) = wait_until(
        || manager.notifications(),
        |seen| services(seen).len() == 2,
        WAIT,
    );
    assert!(delivered, "{}", serve.log_text());
    assert_eq!(codes.calls(), 1);

    // Fledge restarts: every token is gone, the old one is refused from now on, and audits
    // written meanwhile wait in the log.
    first_login.delete();
    let refused = server.mock(|when, then| {
        when.path("/fledge/audit")
            .header("authorization", "token-1");
        then.status(401)
            .json_body(json!({"message": "Token appears to be invalid"}));
    });
    let second_login = login(&server, "token-2");
    log.token = Some("token-2".to_owned());
    log.add(stlnk("during-restart", "2026-11-21 09:00:03.000"));
    log.add(stlnk("after-1", "2026-11-21 09:00:04.000"));
    let (delivered, seen) = wait_until(
        || manager.notifications(),
        |seen| services(seen).len() == 4,
        WAIT,
    );
    assert!(delivered, "{:?}\n{}", services(&seen), serve.log_text());
    log.add(stlnk("after-2", "2026-11-21 09:00:05.000"));
    log.wait_polls(5);
    assert_eq!(
        services(&manager.notifications()),
        once(&[
            "before-1",
            "before-2",
            "during-restart",
            "after-1",
            "after-2"
        ])
    );
    assert!(refused.calls() >= 1);
    assert_eq!(second_login.calls(), 1, "{}", serve.log_text());
    let text = serve.log_text();
    assert!(text.contains("logging in again"), "{text}");
    assert!(
        !text.contains("pa55word") && !text.contains("token-"),
        "{text}"
    );
    assert_eq!(serve.stop(), Some(0));
}

#[test]
fn an_audit_code_fledge_does_not_know_stops_the_start_with_the_near_ones() {
    let server = MockServer::start();
    log_codes(&server);
    let audit = server.mock(|when, then| {
        when.path("/fledge/audit");
        then.status(400).body("STLNX is not a valid source");
    });
    let serve = Serve::new(&config(
        &format!("    url: {}\n    source: [STLNX]\n", server.base_url()),
        9,
    ));
    let mut daemon = serve
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while daemon.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let exited = daemon.try_wait().unwrap().is_some();
    if !exited {
        daemon.kill().unwrap();
    }
    let output = daemon.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(exited && !output.status.success(), "{stderr}");
    assert!(
        stderr.contains("Fledge knows no audit code \"STLNX\"; near ones: STLNK"),
        "{stderr}"
    );
    assert_eq!(audit.calls(), 0);
}
