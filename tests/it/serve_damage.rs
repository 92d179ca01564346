//! `monbridge serve` with its queue damaged while it is stopped (a torn tail, a damaged or
//! missing positions file, a flipped byte, a bad length field) and with its file system full:
//! no acknowledged audit is lost without an ERROR line naming the damage, and a full disk
//! recovers without a restart.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::serve::{Serve, WAIT, wait_until};
use crate::common::snmptrapd::{Snmptrapd, free_udp_port};
use crate::serve::{FAST_BACKOFF, INFORM, config, destination, services, stlnk};

/// Bytes before a record's payload: marker, length, sequence number, CRC.
const HEADER_LEN: usize = 20;

fn http_config(port: u16, extra: &str) -> String {
    config(
        "  http: {listen: \"{http}\"}\n",
        &[destination("nms", port, INFORM)],
        &format!("{FAST_BACKOFF}{extra}"),
    )
}

/// Posts one audit per request; every answer must be 200.
fn post_all(serve: &Serve, ids: &[String]) {
    for id in ids {
        let (status, body) = serve.post("application/json", stlnk(id).to_string());
        assert_eq!(status, 200, "{id}: {body}");
    }
}

fn ids(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|n| format!("{prefix}-{n:03}")).collect()
}

/// Waits until the manager has every id; the ids it has.
fn wait_for_all(manager: &Snmptrapd, ids: &[String], serve: &Serve) -> BTreeSet<String> {
    let (complete, seen) = wait_until(
        || manager.notifications(),
        |seen| {
            let received = services(seen);
            ids.iter().all(|id| received.contains_key(id))
        },
        Duration::from_secs(60),
    );
    let received: BTreeSet<String> = services(&seen).into_keys().collect();
    let missing: Vec<&String> = ids.iter().filter(|id| !received.contains(*id)).collect();
    assert!(
        complete,
        "{} never delivered: {:?}\n{}",
        missing.len(),
        &missing[..missing.len().min(10)],
        serve.log_text()
    );
    received
}

fn segments(serve: &Serve) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(serve.path("state/queue"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seg-")
        })
        .collect();
    paths.sort();
    paths
}

fn error_logged(serve: &Serve, words: &[&str]) -> bool {
    serve.wait_for_log(
        |line| line.contains("ERROR") && words.iter().all(|word| line.contains(word)),
        WAIT,
    )
}

/// 200 audits delivered, then the newest segment loses its second half while the daemon is
/// stopped (what `sync: os` allows after a power cut): the audits posted after the restart
/// must all be delivered, and the lost tail is reported.
#[test]
fn after_a_torn_tail_every_new_audit_is_delivered() {
    let manager = Snmptrapd::start();
    let mut serve = Serve::new(&http_config(manager.port(), ""));
    serve.start();
    let before = ids("before", 200);
    post_all(&serve, &before);
    wait_for_all(&manager, &before, &serve);
    assert_eq!(serve.stop(), Some(0));

    let segment = segments(&serve).pop().unwrap();
    let bytes = std::fs::read(&segment).unwrap();
    std::fs::write(&segment, &bytes[..bytes.len() / 2]).unwrap();

    serve.start();
    assert!(
        error_logged(
            &serve,
            &["missing from the end", "every destination had them"]
        ),
        "{}",
        serve.log_text()
    );
    let after = ids("after", 50);
    post_all(&serve, &after);
    wait_for_all(&manager, &after, &serve);
    assert_eq!(serve.stop(), Some(0));

    // State files are private to the daemon's user.
    let mut paths = vec![serve.path("state")];
    while let Some(path) = paths.pop() {
        let metadata = std::fs::metadata(&path).unwrap();
        let mode = metadata.permissions().mode() & 0o777;
        if metadata.is_dir() {
            assert_eq!(mode, 0o700, "{}", path.display());
            paths.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            assert_eq!(mode, 0o600, "{}", path.display());
        }
    }
}

/// Posts `count` audits while the manager is down, stops, lets `damage` touch the state
/// directory, starts the manager and the daemon again: every audit must come, and so must
/// one posted after the restart.
fn backlog_survives(damage: impl FnOnce(&Serve), count: usize, error: &[&str]) -> Vec<String> {
    let port = free_udp_port();
    let mut serve = Serve::new(&http_config(port, ""));
    serve.start();
    let backlog = ids("backlog", count);
    post_all(&serve, &backlog);
    assert_eq!(serve.stop(), Some(0));
    damage(&serve);

    let manager = Snmptrapd::start_on(port);
    serve.start();
    assert!(error_logged(&serve, error), "{}", serve.log_text());
    let next = ids("next", 1);
    post_all(&serve, &next);
    let expected: Vec<String> = backlog.into_iter().chain(next).collect();
    let (_, seen) = wait_until(
        || manager.notifications(),
        |seen| services(seen).contains_key("next-000"),
        Duration::from_secs(60),
    );
    // Give the rest of the backlog its chance to arrive as well before counting.
    let _ = wait_until(
        || manager.notifications(),
        |seen| services(seen).len() >= expected.len(),
        WAIT,
    );
    let received: BTreeSet<String> = services(&manager.notifications()).into_keys().collect();
    assert!(
        services(&seen).contains_key("next-000"),
        "{}",
        serve.log_text()
    );
    assert_eq!(serve.stop(), Some(0));
    expected
        .into_iter()
        .filter(|id| !received.contains(id))
        .collect()
}

fn positions(serve: &Serve) -> PathBuf {
    serve.path("state/queue/positions")
}

#[test]
fn a_garbage_positions_file_redelivers_the_backlog() {
    let lost = backlog_survives(
        |serve| std::fs::write(positions(serve), b"\x00\x13 not positions\n").unwrap(),
        50,
        &["positions file", "damaged", "may be delivered twice"],
    );
    assert_eq!(lost, Vec::<String>::new());
}

#[test]
fn an_emptied_positions_file_redelivers_the_backlog() {
    let lost = backlog_survives(
        |serve| std::fs::write(positions(serve), b"").unwrap(),
        50,
        &["positions file", "empty"],
    );
    assert_eq!(lost, Vec::<String>::new());
}

#[test]
fn a_deleted_positions_file_redelivers_the_backlog() {
    let lost = backlog_survives(
        |serve| std::fs::remove_file(positions(serve)).unwrap(),
        50,
        &["positions file", "missing"],
    );
    assert_eq!(lost, Vec::<String>::new());
}

#[test]
fn a_too_large_positions_file_redelivers_the_backlog() {
    let lost = backlog_survives(
        |serve| std::fs::write(positions(serve), vec![b'9'; 4 << 20]).unwrap(),
        50,
        &["positions file", "larger than"],
    );
    assert_eq!(lost, Vec::<String>::new());
}

#[test]
fn a_position_past_the_end_redelivers_the_backlog_and_takes_the_next_audits() {
    let lost = backlog_survives(
        |serve| {
            // A file that checks, with a position far past what was ever queued.
            let body = "monbridge queue positions 1\nhigh_water 50\nreader nms 1000000\n";
            let text = format!("{body}crc32 {:08x}\n", crc32fast::hash(body.as_bytes()));
            std::fs::write(positions(serve), text).unwrap();
        },
        50,
        &["position of nms (1000000) is past the end"],
    );
    assert_eq!(lost, Vec::<String>::new());
}

/// Byte offsets of the records in a segment, by walking their lengths.
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 0;
    while at + HEADER_LEN <= bytes.len() {
        offsets.push(at);
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        at += HEADER_LEN + len;
    }
    offsets
}

fn damage_record(serve: &Serve, index: usize, damage: impl FnOnce(&mut [u8])) {
    let segment = segments(serve).pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let at = record_offsets(&bytes)[index];
    damage(&mut bytes[at..]);
    std::fs::write(&segment, bytes).unwrap();
}

#[test]
fn one_flipped_byte_costs_exactly_one_audit_and_is_named() {
    let lost = backlog_survives(
        // A byte of the 11th audit's JSON.
        |serve| damage_record(serve, 10, |record| record[HEADER_LEN + 30] ^= 0x04),
        200,
        &["damaged at byte", "1 record lost, sequence number 10"],
    );
    assert_eq!(lost, ["backlog-010"]);
}

#[test]
fn a_bad_length_field_costs_exactly_one_audit_and_is_named() {
    let lost = backlog_survives(
        |serve| damage_record(serve, 10, |record| record[6] ^= 0x40),
        200,
        &["damaged at byte", "1 record lost, sequence number 10"],
    );
    assert_eq!(lost, ["backlog-010"]);
}

/// A tmpfs of `size` mounted on `path` for the test, unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(path: &Path, size: &str) -> Option<Mount> {
        std::fs::create_dir_all(path).unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .ok()?;
        output.status.success().then(|| Mount(path.to_owned()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Writes `path` until its file system is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    for size in [64 * 1024, 4096, 1] {
        let block = vec![0u8; size];
        while std::io::Write::write_all(&mut file, &block).is_ok() {}
    }
}

/// An STLNK audit with a few kilobytes of detail, to fill the disk in a few hundred posts.
fn big_audit(id: &str) -> String {
    let mut audit = stlnk(id);
    // Strings are limited to 4096 bytes each.
    for n in 0..3 {
        audit["details"][format!("padding{n}")] = serde_json::json!("x".repeat(3000));
    }
    audit.to_string()
}

#[test]
fn a_full_disk_refuses_audits_then_recovers_by_itself() {
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    let Some(_mount) = Mount::tmpfs(&state, "3m") else {
        eprintln!(
            "skipped: mounting a tmpfs is not permitted here (needs root); the full-disk test \
             did not run"
        );
        return;
    };
    let port = free_udp_port();
    // Segments larger than the disk: the one being written must be sealed to be freed.
    let mut serve = Serve::new(&http_config(port, "queue: {max_mb: 64, segment_mb: 16}\n"));
    let config_text = std::fs::read_to_string(serve.config_path()).unwrap();
    std::fs::write(
        serve.config_path(),
        config_text.replace(
            "state_dir: state\n",
            &format!("state_dir: {}\n", state.display()),
        ),
    )
    .unwrap();
    serve.start();

    // The manager is down: the queue grows until the disk is full.
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for n in 0..2000 {
        let id = format!("fill-{n:04}");
        let (status, body) = serve.post("application/json", big_audit(&id));
        match status {
            200 => acknowledged.push(id),
            503 => {
                refused += 1;
                if refused == 5 {
                    break;
                }
            }
            _ => panic!("{id}: {status} {body}\n{}", serve.log_text()),
        }
    }
    assert_eq!(refused, 5, "the disk never filled:\n{}", serve.log_text());
    assert!(acknowledged.len() > 100, "{}", acknowledged.len());

    // Not a byte left, not even for the positions file.
    let filler = state.join("filler");
    fill(&filler);

    // The manager comes up: delivery frees the segments and the intake takes audits again,
    // with no restart.
    let manager = Snmptrapd::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut after = Vec::new();
    while after.len() < 20 {
        assert!(
            Instant::now() < deadline,
            "the intake never took audits again:\n{}",
            serve.log_text()
        );
        let id = format!("after-{:03}", after.len());
        match serve.post("application/json", big_audit(&id)) {
            (200, _) => after.push(id),
            (503, _) => std::thread::sleep(Duration::from_millis(100)),
            (status, body) => panic!("{id}: {status} {body}"),
        }
    }
    let expected: Vec<String> = acknowledged.iter().chain(&after).cloned().collect();
    wait_for_all(&manager, &expected, &serve);

    // Full of something else: refused; freed: taken again.
    fill(&state.join("filler-2"));
    let (status, _) = serve.post("application/json", big_audit("while-full"));
    assert_eq!(status, 503, "{}", serve.log_text());
    std::fs::remove_file(state.join("filler-2")).unwrap();
    let (status, body) = serve.post("application/json", big_audit("freed"));
    assert_eq!(status, 200, "{body}\n{}", serve.log_text());
    wait_for_all(&manager, &["freed".to_owned()], &serve);
    assert_eq!(serve.stop(), Some(0));
    let log = serve.log_text();
    let write_errors = log
        .lines()
        .filter(|line| line.contains("cannot store audits"))
        .count();
    eprintln!(
        "full disk: {} acknowledged, {write_errors} write-error lines",
        acknowledged.len()
    );
}

/// An audit the rules cannot evaluate is dead-lettered before it is acknowledged: when the
/// dead-letter file cannot be written, nothing is acknowledged, the client is told to come
/// back (503 with `Retry-After`), and the same post succeeds once the file can be written.
#[test]
fn an_unwritable_dead_letter_file_answers_503_until_it_can_be_written() {
    let manager = Snmptrapd::start();
    let mut serve = Serve::new(&http_config(manager.port(), ""));
    serve.start();
    let dead_letters = serve.path("state/dead-letter.jsonl");
    // A folder where the file should be: opening it for appending fails.
    std::fs::create_dir_all(&dead_letters).unwrap();
    let unevaluable = serde_json::json!({
        "source": "STLNK", "severity": "WARNING",
        "details": {"nameService": "no-link", "valueLink": "ON"}
    })
    .to_string();

    let client = reqwest::blocking::Client::new();
    let post = || {
        client
            .post(serve.http_url("/audit"))
            .header("Content-Type", "application/json")
            .body(unevaluable.clone())
            .send()
            .unwrap()
    };
    let refused = post();
    assert_eq!(refused.status().as_u16(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    assert!(
        error_logged(&serve, &["dead-letter file"]),
        "{}",
        serve.log_text()
    );

    std::fs::remove_dir(&dead_letters).unwrap();
    let accepted = post();
    assert_eq!(accepted.status().as_u16(), 200);
    assert!(accepted.text().unwrap().contains("\"dead_lettered\":1"));
    let written = std::fs::read_to_string(&dead_letters).unwrap();
    assert_eq!(written.lines().count(), 1, "{written}");
}
