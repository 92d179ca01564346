//! `monbridge serve` with SNMPv3 destinations: `--check-config` on v3 settings, and the daemon
//! delivering audits from its HTTP intake to net-snmp's snmptrapd as authPriv traps (the
//! user keyed to our engine ID with `createUser -e`) and informs (keyed to snmptrapd's own
//! engine, discovered), including after a restart with the same state directory.

use std::process::{Command, Output};

use serde_json::{Value, json};

use monbridge::record::{SnmpValue, Trap, VarBind};
use monbridge::sink::snmp::PduKind;
use monbridge::sink::snmp::usm::{
    AuthProtocol, EngineId, Passphrase, PrivProtocol, UsmUser, V3Envelope, encode_v3_notification,
    localize_user,
};

use crate::common::bin;
use crate::common::serve::{Serve, WAIT, object, write};
use crate::common::snmptrapd::{Notification, Snmptrapd, SnmptrapdOptions};

/// The daemon's engine ID in these tests: enterprise 39059, text format, "gw-test".
const ENGINE_ID: &str = "0x800098930467772d74657374";
const AUTH_PASS: &str = "serve-auth-passphrase";
const PRIV_PASS: &str = "serve-priv-passphrase";
const AUTH_VAR: &str = "MONBRIDGE_TEST_SERVE_V3_AUTH";

/// A STLNK audit whose service name carries `id`.
fn stlnk(id: &str) -> Value {
    json!({
        "source": "STLNK",
        "severity": "WARNING",
        "details": {"nameService": id, "nameLink": "PA-Lyon-1", "valueLink": "OFF"},
        "timestamp": "2026-11-21 09:15:42.317"
    })
}

/// `createUser` for an SHA-256/AES user: keyed to our engine (traps) or snmptrapd's (informs).
fn create_user(name: &str, keyed_to_our_engine: bool) -> String {
    let engine = if keyed_to_our_engine {
        format!("-e {ENGINE_ID} ")
    } else {
        String::new()
    };
    format!("createUser {engine}{name} SHA-256 \"{AUTH_PASS}\" AES \"{PRIV_PASS}\"")
}

/// A v3 authPriv destination whose passphrases are in files next to the configuration.
fn v3_destination(name: &str, port: u16, user: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    address: udp:127.0.0.1:{port}\n    version: 3\n    user: {user}\n    \
         auth_protocol: SHA-256\n    auth_pass_file: secrets/auth\n    priv_protocol: AES\n    \
         priv_pass_file: secrets/priv\n{extra}"
    )
}

fn v3_config(destinations: &[String]) -> String {
    format!(
        "state_dir: state\nsnmp_engine_id: '{ENGINE_ID}'\nenv: {{hostname: gw-test}}\n\
         intakes:\n  http: {{listen: \"{{http}}\"}}\ndestinations:\n{}",
        destinations.concat()
    )
}

fn with_secrets(serve: &Serve) {
    write(&serve.path("secrets/auth"), &format!("{AUTH_PASS}\n"));
    write(&serve.path("secrets/priv"), &format!("{PRIV_PASS}\n"));
}

fn check_config(serve: &Serve, auth_variable: Option<&str>) -> Output {
    let mut command = Command::new(bin("monbridge"));
    command
        .args(["serve", "--check-config", "--config"])
        .arg(serve.config_path())
        .env_remove(AUTH_VAR);
    if let Some(value) = auth_variable {
        command.env(AUTH_VAR, value);
    }
    command.output().unwrap()
}

fn v3_user(name: &str) -> String {
    format!("user: {name}\n    auth_protocol: SHA-256\n    auth_pass_env: {AUTH_VAR}\n")
}

#[test]
fn check_config_accepts_a_v3_destination_and_refuses_bad_ones() {
    let good = format!(
        "state_dir: state\nsnmp_engine_id: '{ENGINE_ID}'\nintakes: {{stdin: true}}\n\
         destinations:\n  - name: nms\n    address: udp:127.0.0.1:162\n    version: 3\n    {}",
        v3_user("ops")
    );
    let serve = Serve::new(&good);
    let output = check_config(&serve, Some(AUTH_PASS));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("nms udp:127.0.0.1:162 (SNMPv3 user ops, authNoPriv)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("SNMPv3 engine ID {ENGINE_ID}")),
        "{stdout}"
    );
    assert!(!serve.path("state").exists(), "checking counts no boot");

    let refused = |text: &str, variable: Option<&str>, expected: &[&str]| {
        write(&serve.config_path(), text);
        let output = check_config(&serve, variable);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        for part in expected {
            assert!(stderr.contains(part), "missing {part:?} in {stderr}");
        }
        assert!(!stderr.contains(AUTH_PASS), "{stderr}");
    };
    // An unknown protocol is a syntax error: line and column.
    refused(
        &good.replace("SHA-256", "SHA-3"),
        Some(AUTH_PASS),
        &[
            "unknown authentication protocol \"SHA-3\"",
            "line 9 column 20",
        ],
    );
    refused(
        &good.replace(
            "    version: 3\n",
            "    version: 3\n    priv_protocol: 3DES\n",
        ),
        Some(AUTH_PASS),
        &["unknown privacy protocol \"3DES\"", "line 8"],
    );
    refused(
        &good,
        None,
        &[&format!(
            "destinations[0]: the authentication passphrase variable {AUTH_VAR} (named by \
             auth_pass_env) is not set"
        )],
    );
    refused(
        &good.replace("SHA-256", "MD5"),
        Some(AUTH_PASS),
        &[
            "destinations[0]: authentication protocol MD5 is weak",
            "allow_weak: true",
        ],
    );
    refused(
        &good,
        Some("short"),
        &[
            "authentication passphrase is 5 characters long",
            "allow_weak: true",
        ],
    );
    // Allowed when asked for.
    write(
        &serve.config_path(),
        &format!("{}    allow_weak: true\n", good.replace("SHA-256", "MD5")),
    );
    assert_eq!(check_config(&serve, Some(AUTH_PASS)).status.code(), Some(0));
}

/// Waits for a notification of `kind` (`TRAP2`, `INFORM`) from `user` about service `id`.
fn wait_for(manager: &Snmptrapd, kind: &str, user: &str, id: &str) -> Option<Notification> {
    let prefix = format!("{kind}, SNMP v3, user {user},");
    manager.wait_for(
        |n| n.security.starts_with(&prefix) && object(n, 2).as_deref() == Some(id),
        WAIT,
    )
}

fn post(serve: &Serve, id: &str) {
    let (status, body) = serve.post("application/json", stlnk(id).to_string());
    assert_eq!(status, 200, "{body}");
}

#[test]
fn the_daemon_delivers_audits_as_v3_auth_priv_traps_and_informs() {
    let manager = Snmptrapd::start_with(&SnmptrapdOptions {
        config_lines: vec![create_user("traps", true), create_user("informs", false)],
        ..SnmptrapdOptions::default()
    });
    let mut serve = Serve::new(&v3_config(&[
        v3_destination("v3-traps", manager.port(), "traps", ""),
        v3_destination(
            "v3-informs",
            manager.port(),
            "informs",
            "    notification: inform\n    retries: 2\n    timeout_ms: 2000\n    context: ''\n",
        ),
    ]));
    with_secrets(&serve);
    serve.start();
    post(&serve, "v3-first");

    let trap = wait_for(&manager, "TRAP2", "traps", "v3-first");
    let inform = wait_for(&manager, "INFORM", "informs", "v3-first");
    let output = manager.output().join("\n");
    let trap = trap.unwrap_or_else(|| panic!("no v3 trap:\n{output}\n{}", serve.log_text()));
    let inform = inform.unwrap_or_else(|| panic!("no v3 inform:\n{output}\n{}", serve.log_text()));
    for notification in [&trap, &inform] {
        assert_eq!(notification.version, "3");
        assert_eq!(object(notification, 3).as_deref(), Some("stateLink"));
        assert_eq!(object(notification, 1).as_deref(), Some("gw-test"));
    }
    assert_eq!(serve.stop(), Some(0));
    let log = serve.log_text();
    assert!(
        !log.contains(AUTH_PASS) && !log.contains(PRIV_PASS),
        "{log}"
    );
    assert_eq!(
        std::fs::read_to_string(serve.path("state/engine-800098930467772d74657374.boots")).unwrap(),
        "1\n"
    );
}

/// A trap from our engine with `boots` and `time`, as a daemon that had run that long would
/// have left the manager's view of it.
fn trap_from_our_engine(boots: u32, time: u32) -> Vec<u8> {
    let engine: EngineId = ENGINE_ID.parse().unwrap();
    let user = UsmUser {
        name: "traps".into(),
        auth: Some((AuthProtocol::Sha256, Passphrase::new(AUTH_PASS))),
        privacy: Some((PrivProtocol::Aes128, Passphrase::new(PRIV_PASS))),
    };
    let keys = localize_user(&user, engine.as_bytes()).unwrap();
    let trap = Trap {
        rule: "stateLink".into(),
        oid: "1.3.6.1.4.1.39059.1.0.1".parse().unwrap(),
        varbinds: vec![VarBind {
            index: 2,
            name: "nameService".into(),
            oid: "1.3.6.1.4.1.39059.1.1.1.1.2".parse().unwrap(),
            value: SnmpValue::OctetString(b"injected".to_vec()),
        }],
    };
    let envelope = V3Envelope {
        message_id: 77,
        reportable: false,
        engine_id: engine.as_bytes(),
        boots,
        time,
        user: user.name.as_bytes(),
        context_engine_id: engine.as_bytes(),
        context_name: b"",
        salt: 1,
    };
    let mut message = Vec::new();
    encode_v3_notification(&trap, PduKind::Trap, 1, 100, &envelope, &keys, &mut message).unwrap();
    message
}

#[test]
fn v3_traps_are_still_accepted_after_a_daemon_restart_with_the_same_state_dir() {
    let manager = Snmptrapd::start_with(&SnmptrapdOptions {
        config_lines: vec![create_user("traps", true)],
        ..SnmptrapdOptions::default()
    });
    let mut serve = Serve::new(&v3_config(&[v3_destination(
        "v3-traps",
        manager.port(),
        "traps",
        "",
    )]));
    with_secrets(&serve);
    serve.start();
    post(&serve, "before-restart");
    assert!(
        wait_for(&manager, "TRAP2", "traps", "before-restart").is_some(),
        "{}",
        manager.output().join("\n")
    );
    assert_eq!(serve.stop(), Some(0));

    // Had that first run lasted a day, the manager would now hold boots 1 and a large time,
    // and discard any later trap still claiming boots 1.
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(
            &trap_from_our_engine(1, 86_400),
            ("127.0.0.1", manager.port()),
        )
        .unwrap();
    assert!(
        wait_for(&manager, "TRAP2", "traps", "injected").is_some(),
        "{}",
        manager.output().join("\n")
    );

    // The restarted daemon counts boot 2 from its state directory: its traps are timely.
    serve.start();
    post(&serve, "after-restart");
    assert!(
        wait_for(&manager, "TRAP2", "traps", "after-restart").is_some(),
        "{}\n{}",
        manager.output().join("\n"),
        serve.log_text()
    );
    assert_eq!(serve.stop(), Some(0));
    assert_eq!(
        std::fs::read_to_string(serve.path("state/engine-800098930467772d74657374.boots")).unwrap(),
        "2\n"
    );
}
