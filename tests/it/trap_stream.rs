//! `trap send` reads its input as a stream: an audit written to a pipe leaves before the pipe
//! closes, an input larger than any whole-input limit is sent whole, and a killed run's
//! reject file holds what was rejected before it.

use std::io::Write;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::bin;

const STLNK: &str = r#"{"source":"STLNK","severity":"WARNING","details":{"nameService":"iec104-south","nameLink":"PA-Lyon-1","valueLink":"OFF"},"timestamp":"2026-11-21 09:15:42.317"}"#;

/// A generous wait for a datagram that should come at once: a test's wait for arrival, not a
/// measure of speed.
const ARRIVAL: Duration = Duration::from_secs(20);

fn manager() -> (UdpSocket, String) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(ARRIVAL)).unwrap();
    let to = format!("udp:{}", socket.local_addr().unwrap());
    (socket, to)
}

fn trap_send(to: &str) -> Command {
    let mut command = Command::new(bin("monbridge"));
    command
        .args(["trap", "send", "--env", "hostname=gw", "--to", to])
        .env_remove("MONBRIDGE_RULES")
        .env_remove("MONBRIDGE_COMMUNITY");
    command
}

#[test]
fn an_audit_on_stdin_leaves_while_the_pipe_stays_open() {
    let (socket, to) = manager();
    let mut child = trap_send(&to)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut buffer = [0u8; 2048];
    for round in 0..2 {
        writeln!(stdin, "{STLNK}").unwrap();
        stdin.flush().unwrap();
        let received = socket.recv(&mut buffer);
        assert!(
            received.is_ok(),
            "round {round}: no trap while the pipe is open: {received:?}"
        );
        assert_eq!(child.try_wait().unwrap(), None, "monbridge ended early");
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("audits: 2 read, 2 matched"), "{stderr}");
}

#[test]
fn an_input_over_16_mib_is_sent_whole() {
    let (socket, to) = manager();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.jsonl");
    let line = format!("{STLNK}\n");
    let count = 17 * 1024 * 1024 / line.len() + 1;
    std::fs::write(&input, line.repeat(count)).unwrap();
    // Nobody reads the socket: its buffer fills and the kernel drops the rest, as a busy
    // manager's would; the sender counts what it handed to the network.
    let output = trap_send(&to).arg(&input).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "audits: {count} read, {count} matched, 0 unmatched, 0 rejected; \
             notifications: {count} made, {count} sent"
        )),
        "{stderr}"
    );
    drop(socket);
}

#[test]
fn rejects_are_written_as_they_happen() {
    let (socket, to) = manager();
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let mut child = trap_send(&to)
        .arg("--reject")
        .arg(&rejects)
        .arg("-")
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "not an audit\n{STLNK}").unwrap();
    stdin.flush().unwrap();
    let mut buffer = [0u8; 2048];
    socket.recv(&mut buffer).expect("the good audit's trap");
    // The rejection came before the trap that left, so it is in the file already.
    let written = std::fs::read_to_string(&rejects).expect("a reject file");
    assert_eq!(written.lines().count(), 1, "{written}");
    assert!(written.contains("not an audit"), "{written}");
    child.kill().unwrap();
    child.wait().unwrap();
}
