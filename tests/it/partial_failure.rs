//! The partial-failure rule, the same for `trap send` and `serve`: an audit for which one
//! binding evaluates and another fails (a missing path) has the first binding's notification
//! sent, is recorded with the second one's error (`--reject` file, dead-letter file), and
//! counts as rejected / dead-lettered, not as matched.

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use monbridge::sink::snmp::{DecodedMessage, decode};
use serde_json::{Value, json};

use crate::common::bin;
use crate::common::serve::{Serve, WAIT, free_tcp_port, request, write};

/// Two bindings for STLNK: `good` reads what the audit has, `bad` a detail it lacks.
const RULES: &str = r#"trap good when audit.source == "STLNK" {
    oid  1.3.6.1.4.1.39059.1.0.1
    base 1.3.6.1.4.1.39059.1.1.1.1
    2 nameService = audit.detail.nameService
    6 severity    = audit.severity
}

trap bad when audit.source == "STLNK" {
    oid  1.3.6.1.4.1.39059.1.0.2
    base 1.3.6.1.4.1.39059.1.1.1.1
    2 nameService = audit.detail.nameService
    4 nameLink    = audit.detail.nameLink
}
"#;

fn audit() -> Value {
    json!({
        "source": "STLNK",
        "severity": "WARNING",
        "details": {"nameService": "iec104-south", "valueLink": "OFF"},
        "timestamp": "2026-11-21 09:15:42.317"
    })
}

/// The notifications that reach `socket`, decoded, until none comes for a while.
fn received(socket: &UdpSocket) -> Vec<DecodedMessage> {
    let mut messages = Vec::new();
    let mut buffer = [0u8; 65_536];
    // The first may take a while (the daemon's worker); a second would follow it closely.
    socket.set_read_timeout(Some(WAIT)).unwrap();
    while let Ok(length) = socket.recv(&mut buffer) {
        messages.push(decode(&buffer[..length]).expect("an SNMP notification"));
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
    }
    messages
}

/// What identifies a notification whatever sent it: its OID and objects.
fn content(messages: &[DecodedMessage]) -> Vec<String> {
    messages
        .iter()
        .map(|m| format!("{:?} {:?}", m.trap_oid, m.varbinds))
        .collect()
}

fn json_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

#[test]
fn trap_send_and_serve_send_the_same_notifications_and_count_the_same_failure() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = format!("udp:{}", socket.local_addr().unwrap());
    let metrics = format!("127.0.0.1:{}", free_tcp_port());
    let mut serve = Serve::new(&format!(
        "state_dir: state\nrules: rules\nintakes:\n  http: {{listen: \"{{http}}\"}}\n\
         destinations:\n  - name: nms\n    address: {to}\nmetrics: {{listen: \"{metrics}\"}}\n"
    ));
    write(&serve.path("rules/partial.rules"), RULES);

    // trap send: the good binding's notification goes out; the audit is rejected.
    let input = serve.path("audit.json");
    write(&input, &audit().to_string());
    let rejects = serve.path("rejects.jsonl");
    let output = Command::new(bin("monbridge"))
        .args(["trap", "send", "--rules"])
        .arg(serve.path("rules"))
        .args(["--to", &to, "--reject"])
        .arg(&rejects)
        .arg(&input)
        .env_remove("MONBRIDGE_RULES")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "audits: 1 read, 0 matched, 0 unmatched, 1 rejected; \
             notifications: 1 made, 1 sent, 0 acknowledged, 0 failed"
        ),
        "{stderr}"
    );
    let sent_by_trap_send = received(&socket);
    assert_eq!(sent_by_trap_send.len(), 1, "{sent_by_trap_send:?}");
    let rejected = json_lines(&rejects);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    let error = rejected[0]["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("`bad`") && error.contains("nameLink"),
        "{error}"
    );

    // serve: the same notification is queued and sent; the audit is dead-lettered with the
    // same error, and counted as dead-lettered, not matched.
    serve.start();
    let (status, body) = serve.post("application/json", audit().to_string());
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"accepted": 1, "queued": 1, "unmatched": 0, "dead_lettered": 1})
    );
    let sent_by_serve = received(&socket);
    assert_eq!(content(&sent_by_serve), content(&sent_by_trap_send));
    let dead_letters = json_lines(&serve.path("state/dead-letter.jsonl"));
    assert_eq!(dead_letters.len(), 1, "{dead_letters:?}");
    assert_eq!(dead_letters[0]["reason"], error.as_str());
    assert_eq!(dead_letters[0]["item"], rejected[0]["audit"]);
    assert_eq!(dead_letters[0]["origin"], "http");

    let (status, text) = request(format!("http://{metrics}/metrics"), "GET", None, Vec::new());
    assert_eq!(status, 200);
    for line in [
        "monbridge_audits_received_total 1",
        "monbridge_audits_matched_total 0",
        "monbridge_audits_unmatched_total 0",
        "monbridge_audits_dead_lettered_total 1",
        "monbridge_audits_queued_total 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert_eq!(serve.stop(), Some(0));
}
