//! Integration tests: SNMPv3 (USM) notifications. net-snmp's snmptrapd is the peer: users
//! created with `createUser -e <our engine ID>` receive traps (we are authoritative), users
//! created without `-e` receive informs (the manager is authoritative, we discover it).

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use monbridge::lang::Params;
use monbridge::lang::{LoadOptions, RuleSet};
use monbridge::record::SnmpValue;
use monbridge::sink::snmp::usm::{
    AuthProtocol, DecodedV3, EngineId, LocalEngine, LocalizedKeys, MessageError, Passphrase,
    PrivProtocol, UsmUser, V3Config, V3Envelope, decode_v3, encode_v3_notification, localize_user,
    peek_header, render_v3,
};
use monbridge::sink::snmp::{
    Delivery, Destination, NotificationKind, OidNames, PduKind, Security, Sender, SenderConfig,
    hex_dump,
};
use monbridge::source::audit::decode_input;

use crate::common::snmptrapd::{Notification, Snmptrapd, SnmptrapdOptions};
use crate::common::{bin, fixture, read_fixture, snapshot_settings};

const ARRIVAL: Duration = Duration::from_secs(10);
/// Our engine ID in these tests: enterprise 39059, text format, "gw-test".
const ENGINE_ID: &str = "0x800098930467772d74657374";
const AUTH_PASS: &str = "auth-passphrase-1";
const PRIV_PASS: &str = "priv-passphrase-1";

fn engine_id() -> EngineId {
    ENGINE_ID.parse().expect("a valid engine ID")
}

use crate::common::traps::state_link_trap;

/// The user name of one combination, as created in snmptrapd.
fn user_name(auth: Option<AuthProtocol>, privacy: Option<PrivProtocol>) -> String {
    let auth = auth.map_or("none".to_owned(), |a| a.name().replace('-', ""));
    let privacy = privacy.map_or("none".to_owned(), |p| p.name().replace('-', ""));
    format!("u{auth}{privacy}").to_lowercase()
}

fn user(auth: Option<AuthProtocol>, privacy: Option<PrivProtocol>) -> UsmUser {
    UsmUser {
        name: user_name(auth, privacy),
        auth: auth.map(|a| (a, Passphrase::new(AUTH_PASS))),
        privacy: privacy.map(|p| (p, Passphrase::new(PRIV_PASS))),
    }
}

/// `createUser` for a user: keyed to `engine` (traps), or to snmptrapd's own (informs).
fn create_user(user: &UsmUser, engine: Option<&EngineId>) -> String {
    let mut line = String::from("createUser ");
    if let Some(engine) = engine {
        line.push_str(&format!("-e {engine} "));
    }
    line.push_str(&user.name);
    if let Some((auth, _)) = &user.auth {
        line.push_str(&format!(" {auth} \"{AUTH_PASS}\""));
    }
    if let Some((privacy, _)) = &user.privacy {
        line.push_str(&format!(" {privacy} \"{PRIV_PASS}\""));
    }
    line
}

/// Every supported combination: noAuthNoPriv, each authentication alone, and each
/// authentication with each privacy protocol.
fn every_combination() -> Vec<(Option<AuthProtocol>, Option<PrivProtocol>)> {
    let mut combinations = vec![(None, None)];
    for auth in AuthProtocol::ALL {
        combinations.push((Some(auth), None));
        for privacy in PrivProtocol::ALL {
            combinations.push((Some(auth), Some(privacy)));
        }
    }
    combinations
}

fn v3_sender(user: UsmUser, engine: LocalEngine, inform: bool, to: &str) -> Sender {
    let config = SenderConfig {
        security: Security::V3(V3Config {
            user,
            engine,
            context_name: Vec::new(),
        }),
        notification: if inform {
            NotificationKind::Inform
        } else {
            NotificationKind::Trap
        },
        retries: 2,
        timeout: Duration::from_secs(3),
    };
    let destination: Destination = to.parse().unwrap();
    Sender::new(config, &[destination]).expect("the sender starts")
}

fn single(deliveries: Vec<Delivery>) -> Delivery {
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    deliveries.into_iter().next().unwrap()
}

/// The seven objects as snmptrapd prints them (numeric OIDs).
fn expected_objects() -> Vec<(String, String, String)> {
    state_link_trap()
        .varbinds
        .iter()
        .map(|v| {
            let SnmpValue::OctetString(bytes) = &v.value else {
                unreachable!()
            };
            (
                format!(".{}", v.oid),
                "STRING".to_owned(),
                String::from_utf8(bytes.clone()).unwrap(),
            )
        })
        .collect()
}

/// What the default rules make of the STLNK fixture, as snmptrapd prints the objects.
fn expected_cli_objects() -> Vec<(String, String, String)> {
    let rules = RuleSet::load(&LoadOptions {
        dir: None,
        env: [("hostname".to_owned(), "gw-test".to_owned())].into(),
    })
    .unwrap();
    let audits = decode_input(&read_fixture("fledge/rest/STLNK.json"));
    let trap = rules
        .traps(audits[0].as_ref().unwrap(), &Params::new())
        .remove(0)
        .unwrap();
    trap.varbinds
        .iter()
        .map(|v| {
            let SnmpValue::OctetString(bytes) = &v.value else {
                unreachable!()
            };
            (
                format!(".{}", v.oid),
                "STRING".to_owned(),
                String::from_utf8(bytes.clone()).unwrap(),
            )
        })
        .collect()
}

fn assert_logged_with_varbinds(notification: &Notification) {
    assert_logged_with(notification, &expected_objects());
}

fn assert_logged_with(notification: &Notification, expected: &[(String, String, String)]) {
    assert_eq!(notification.version, "3", "{notification:?}");
    let names: Vec<&str> = notification.varbinds[..2]
        .iter()
        .map(|v| v.oid.as_str())
        .collect();
    assert_eq!(names, [".1.3.6.1.2.1.1.3.0", ".1.3.6.1.6.3.1.1.4.1.0"]);
    assert_eq!(notification.varbinds[1].value, ".1.3.6.1.4.1.39059.1.0.1");
    let objects: Vec<(String, String, String)> = notification.varbinds[2..]
        .iter()
        .map(|v| (v.oid.clone(), v.type_name.clone(), v.value.clone()))
        .collect();
    assert_eq!(objects, expected);
}

fn wait_for_user(daemon: &Snmptrapd, kind: &str, user: &str) -> Option<Notification> {
    let prefix = format!("{kind}, SNMP v3, user {user},");
    daemon.wait_for(|n| n.security.starts_with(&prefix), ARRIVAL)
}

// ---------------------------------------------------------------------------------------
// Traps to snmptrapd

#[test]
fn every_auth_and_priv_combination_is_logged_with_its_varbinds() {
    let engine = engine_id();
    let combinations = every_combination();
    let daemon = Snmptrapd::start_with(&SnmptrapdOptions {
        config_lines: combinations
            .iter()
            .map(|(auth, privacy)| create_user(&user(*auth, *privacy), Some(&engine)))
            .collect(),
        ..SnmptrapdOptions::default()
    });
    for (auth, privacy) in &combinations {
        let user = user(*auth, *privacy);
        let name = user.name.clone();
        let mut sender = v3_sender(
            user,
            LocalEngine::new(engine.clone(), 1),
            false,
            &daemon.destination(),
        );
        let delivery = single(sender.send(&state_link_trap()).unwrap());
        assert_eq!(delivery.result, Ok(()));
        let notification = wait_for_user(&daemon, "TRAP2", &name).unwrap_or_else(|| {
            panic!(
                "snmptrapd did not log a trap from {name}; its output:\n{}",
                daemon.output().join("\n")
            )
        });
        assert_logged_with_varbinds(&notification);
    }
    assert_eq!(daemon.notifications().len(), combinations.len());
}

#[test]
fn a_wrong_passphrase_is_rejected() {
    let engine = engine_id();
    let good = user(Some(AuthProtocol::Sha256), Some(PrivProtocol::Aes128));
    let daemon = Snmptrapd::start_with(&SnmptrapdOptions {
        config_lines: vec![create_user(&good, Some(&engine))],
        ..SnmptrapdOptions::default()
    });
    let wrong = UsmUser {
        auth: Some((AuthProtocol::Sha256, Passphrase::new("not-the-passphrase"))),
        ..good.clone()
    };
    let mut sender = v3_sender(
        wrong,
        LocalEngine::new(engine.clone(), 1),
        false,
        &daemon.destination(),
    );
    single(sender.send(&state_link_trap()).unwrap());
    let name = good.name.clone();
    let refused = daemon.wait_for_line(
        |line| line.contains(&format!("Authentication failed for {name}")),
        ARRIVAL,
    );
    assert!(refused, "{}", daemon.output().join("\n"));

    // The right passphrase afterwards: logged, so the daemon was listening all along.
    let mut sender = v3_sender(
        good,
        LocalEngine::new(engine, 1),
        false,
        &daemon.destination(),
    );
    single(sender.send(&state_link_trap()).unwrap());
    assert!(wait_for_user(&daemon, "TRAP2", &name).is_some());
    assert_eq!(daemon.notifications().len(), 1);
}

// ---------------------------------------------------------------------------------------
// `monbridge trap send --version 3`

const AUTH_VAR: &str = "MONBRIDGE_TEST_AUTH_PASS";
const PRIV_VAR: &str = "MONBRIDGE_TEST_PRIV_PASS";

/// `monbridge trap send --version 3` with the passphrases in its environment, never on argv.
fn trap_send(daemon: &Snmptrapd, user: &UsmUser, state_dir: &Path, extra: &[&str]) -> Output {
    let mut command = Command::new(bin("monbridge"));
    command
        .args([
            "--log-level",
            "trace",
            "trap",
            "send",
            "--env",
            "hostname=gw-test",
        ])
        .args([
            "--to",
            &daemon.destination(),
            "--version",
            "3",
            "--user",
            &user.name,
        ])
        .arg("--state-dir")
        .arg(state_dir)
        .args(extra)
        .env_remove("MONBRIDGE_RULES")
        .env_remove(AUTH_VAR)
        .env_remove(PRIV_VAR);
    if let Some((auth, passphrase)) = &user.auth {
        command
            .args(["--auth-protocol", auth.name(), "--auth-pass-env", AUTH_VAR])
            .env(
                AUTH_VAR,
                String::from_utf8(passphrase.as_bytes().to_vec()).unwrap(),
            );
    }
    if let Some((privacy, passphrase)) = &user.privacy {
        command
            .args([
                "--priv-protocol",
                privacy.name(),
                "--priv-pass-env",
                PRIV_VAR,
            ])
            .env(
                PRIV_VAR,
                String::from_utf8(passphrase.as_bytes().to_vec()).unwrap(),
            );
    }
    command
        .arg(fixture("fledge/rest/STLNK.json"))
        .output()
        .expect("run monbridge")
}

fn assert_success(output: &Output) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn traps_are_still_accepted_after_a_restart_with_the_same_state_dir() {
    let engine = engine_id();
    let user = user(Some(AuthProtocol::Sha256), Some(PrivProtocol::Aes128));
    let daemon = Snmptrapd::start_with(&SnmptrapdOptions {
        config_lines: vec![create_user(&user, Some(&engine))],
        ..SnmptrapdOptions::default()
    });
    let state = tempfile::tempdir().unwrap();
    let engine_arg = ["--engine-id", ENGINE_ID];

    // First start: boots 1.
    assert_success(&trap_send(&daemon, &user, state.path(), &engine_arg));
    let first = wait_for_user(&daemon, "TRAP2", &user.name).expect("logged");
    assert_logged_with(&first, &expected_cli_objects());

    // That first process, had it run for a day, would have left the manager with boots 1 and
    // a large time: a trap with those values stands for it.
    let keys = localize_user(&user, engine.as_bytes()).unwrap();
    let mut message = Vec::new();
    let envelope = V3Envelope {
        message_id: 77,
        reportable: false,
        engine_id: engine.as_bytes(),
        boots: 1,
        time: 86_400,
        user: user.name.as_bytes(),
        context_engine_id: engine.as_bytes(),
        context_name: b"",
        salt: 1,
    };
    encode_v3_notification(
        &state_link_trap(),
        PduKind::Trap,
        1,
        100,
        &envelope,
        &keys,
        &mut message,
    )
    .unwrap();
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(&message, ("127.0.0.1", daemon.port()))
        .unwrap();
    let wait_for_count = |count: usize| {
        let deadline = std::time::Instant::now() + ARRIVAL;
        while daemon.notifications().len() < count && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        daemon.notifications().len()
    };
    assert_eq!(wait_for_count(2), 2, "{}", daemon.output().join("\n"));

    // A new process with the same state dir: boots 2, so its traps are timely again.
    assert_success(&trap_send(&daemon, &user, state.path(), &engine_arg));
    assert_eq!(wait_for_count(3), 3, "{}", daemon.output().join("\n"));

    // Control: a process that forgot its boots (fresh state dir: boots 1 again, time 0) is
    // silently discarded, which is what persisting the counter prevents.
    let forgetful = tempfile::tempdir().unwrap();
    assert_success(&trap_send(&daemon, &user, forgetful.path(), &engine_arg));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(daemon.notifications().len(), 3);
    let boots: Vec<String> = std::fs::read_dir(state.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "boots"))
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect();
    assert_eq!(boots, ["2\n"]);
}

#[test]
fn informs_succeed_after_discovery() {
    let user = user(Some(AuthProtocol::Sha256), Some(PrivProtocol::Aes128));
    let daemon = Snmptrapd::start_with(&SnmptrapdOptions {
        config_lines: vec![create_user(&user, None)],
        ..SnmptrapdOptions::default()
    });
    let state = tempfile::tempdir().unwrap();
    let output = trap_send(
        &daemon,
        &user,
        state.path(),
        &["--inform", "--retries", "2", "--timeout-ms", "3000"],
    );
    assert_success(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("1 sent, 1 acknowledged, 0 failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("discovered the manager's SNMP engine"),
        "{stderr}"
    );
    let notification = wait_for_user(&daemon, "INFORM", &user.name).expect("logged");
    assert_logged_with(&notification, &expected_cli_objects());
}

#[test]
fn every_combination_of_informs_is_acknowledged() {
    let combinations: Vec<_> = every_combination()
        .into_iter()
        .filter(|(auth, _)| auth.is_some())
        .collect();
    let daemon = Snmptrapd::start_with(&SnmptrapdOptions {
        config_lines: combinations
            .iter()
            .map(|(auth, privacy)| create_user(&user(*auth, *privacy), None))
            .collect(),
        ..SnmptrapdOptions::default()
    });
    for (auth, privacy) in &combinations {
        let user = user(*auth, *privacy);
        let name = user.name.clone();
        let mut sender = v3_sender(
            user,
            LocalEngine::new(engine_id(), 1),
            true,
            &daemon.destination(),
        );
        let delivery = single(sender.send(&state_link_trap()).unwrap());
        assert_eq!(delivery.result, Ok(()), "{name}");
        assert!(wait_for_user(&daemon, "INFORM", &name).is_some(), "{name}");
    }
}

#[test]
fn an_inform_rejected_for_authentication_is_reported_as_such() {
    let user = user(Some(AuthProtocol::Sha256), Some(PrivProtocol::Aes128));
    let daemon = Snmptrapd::start_with(&SnmptrapdOptions {
        config_lines: vec![create_user(&user, None)],
        ..SnmptrapdOptions::default()
    });
    let state = tempfile::tempdir().unwrap();
    let inform = ["--inform", "--retries", "1", "--timeout-ms", "3000"];

    let wrong = UsmUser {
        auth: Some((AuthProtocol::Sha256, Passphrase::new("wrong-passphrase"))),
        ..user.clone()
    };
    let output = trap_send(&daemon, &wrong, state.path(), &inform);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("rejected the inform for authentication reasons: usmStatsWrongDigests"),
        "{stderr}"
    );

    let unknown = UsmUser {
        name: "nobody".into(),
        ..user
    };
    let output = trap_send(&daemon, &unknown, state.path(), &inform);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("rejected the inform for authentication reasons: usmStatsUnknownUserNames"),
        "{stderr}"
    );
    assert!(daemon.notifications().is_empty());
}

#[test]
fn passphrases_appear_in_no_log_or_error() {
    let user = user(Some(AuthProtocol::Sha256), Some(PrivProtocol::Aes128));
    let daemon = Snmptrapd::start_with(&SnmptrapdOptions {
        config_lines: vec![create_user(&user, None)],
        ..SnmptrapdOptions::default()
    });
    let state = tempfile::tempdir().unwrap();
    // Trace logging, an inform exchange, and a failure: every path that prints.
    let outputs = [
        trap_send(
            &daemon,
            &user,
            state.path(),
            &["--inform", "--timeout-ms", "3000"],
        ),
        trap_send(&daemon, &user, state.path(), &["--engine-id", "0x80"]),
    ];
    for output in &outputs {
        for stream in [&output.stdout, &output.stderr] {
            let text = String::from_utf8_lossy(stream);
            assert!(
                !text.contains(AUTH_PASS) && !text.contains(PRIV_PASS),
                "{text}"
            );
        }
    }
    assert_eq!(outputs[1].status.code(), Some(2));
}

#[test]
fn weak_choices_and_missing_passphrases_are_refused_with_a_clear_message() {
    let daemon = Snmptrapd::start();
    let state = tempfile::tempdir().unwrap();
    let md5 = UsmUser {
        name: "old".into(),
        auth: Some((AuthProtocol::Md5, Passphrase::new(AUTH_PASS))),
        privacy: Some((PrivProtocol::Des, Passphrase::new(PRIV_PASS))),
    };
    let output = trap_send(&daemon, &md5, state.path(), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("authentication protocol MD5 is weak (MD5 is a broken hash)")
    );
    let short = UsmUser {
        name: "short".into(),
        auth: Some((AuthProtocol::Sha256, Passphrase::new("2short"))),
        privacy: None,
    };
    let output = trap_send(&daemon, &short, state.path(), &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("passphrase is 6 characters long"),
        "{stderr}"
    );
    assert!(!stderr.contains("2short"), "{stderr}");

    let output = Command::new(bin("monbridge"))
        .args([
            "trap",
            "send",
            "--to",
            &daemon.destination(),
            "--version",
            "3",
        ])
        .args(["--user", "ops", "--auth-protocol", "SHA", "--auth-pass-env"])
        .arg("MONBRIDGE_TEST_UNSET_VARIABLE")
        .arg(fixture("fledge/rest/STLNK.json"))
        .env_remove("MONBRIDGE_TEST_UNSET_VARIABLE")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains(
        "the authentication passphrase variable MONBRIDGE_TEST_UNSET_VARIABLE (named by \
             --auth-pass-env) is not set"
    ));
    assert!(daemon.notifications().is_empty());
}

// ---------------------------------------------------------------------------------------
// Message structure

/// Encodes the STLNK trap with everything fixed (msgID, salt, request-id, uptime, boots,
/// time), reads it back with the same keys, and renders header, scoped PDU and bytes.
fn fixed_message(user: &UsmUser) -> (Vec<u8>, DecodedV3, LocalizedKeys) {
    let engine = engine_id();
    let keys = localize_user(user, engine.as_bytes()).unwrap();
    let envelope = V3Envelope {
        message_id: 4711,
        reportable: false,
        engine_id: engine.as_bytes(),
        boots: 3,
        time: 1234,
        user: user.name.as_bytes(),
        context_engine_id: engine.as_bytes(),
        context_name: b"",
        salt: 0x0102_0304_0506_0708,
    };
    let mut bytes = Vec::new();
    encode_v3_notification(
        &state_link_trap(),
        PduKind::Trap,
        12345,
        4242,
        &envelope,
        &keys,
        &mut bytes,
    )
    .unwrap();
    let decoded = decode_v3(&bytes, &keys).expect("our message decodes and authenticates");
    (bytes, decoded, keys)
}

fn snapshot_v3(name: &str, user: &UsmUser) {
    let (bytes, decoded, _) = fixed_message(user);
    let mut text = render_v3(&decoded, &OidNames::for_trap(&state_link_trap()));
    text.push_str(&format!("\nBER ({} bytes)\n", bytes.len()));
    text.push_str(&hex_dump(&bytes));
    snapshot_settings().bind(|| insta::assert_snapshot!(name, text));
}

#[test]
fn v3_message_structure_snapshots() {
    snapshot_v3("snmp_v3_trap_noauthnopriv", &user(None, None));
    snapshot_v3(
        "snmp_v3_trap_authnopriv_sha256",
        &user(Some(AuthProtocol::Sha256), None),
    );
    snapshot_v3(
        "snmp_v3_trap_authpriv_sha256_aes128",
        &user(Some(AuthProtocol::Sha256), Some(PrivProtocol::Aes128)),
    );
}

#[test]
fn our_assembly_is_what_rasn_encodes() {
    for (auth, privacy) in every_combination() {
        let (bytes, _, _) = fixed_message(&user(auth, privacy));
        let parsed: rasn_snmp::v3::Message = rasn::ber::decode(&bytes).unwrap();
        assert_eq!(
            rasn::ber::encode(&parsed).unwrap(),
            bytes,
            "{auth:?} {privacy:?}"
        );
    }
}

#[test]
fn a_changed_byte_or_another_key_fails_authentication() {
    let user = user(Some(AuthProtocol::Sha512), Some(PrivProtocol::Aes256));
    let (bytes, _, keys) = fixed_message(&user);
    // The last byte is ciphertext: the MAC covers it.
    let mut tampered = bytes.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    assert_eq!(decode_v3(&tampered, &keys), Err(MessageError::WrongDigest));

    let other = UsmUser {
        auth: Some((AuthProtocol::Sha512, Passphrase::new("another passphrase"))),
        ..user.clone()
    };
    let other_keys = localize_user(&other, engine_id().as_bytes()).unwrap();
    assert_eq!(
        decode_v3(&bytes, &other_keys),
        Err(MessageError::WrongDigest)
    );

    // Localised to another engine ID: another key.
    let elsewhere = localize_user(&user, b"\x80\x00\x1f\x88\x04other").unwrap();
    assert_eq!(
        decode_v3(&bytes, &elsewhere),
        Err(MessageError::WrongDigest)
    );
    assert_eq!(
        decode_v3(&bytes, &LocalizedKeys::none()),
        Err(MessageError::NoAuthKey)
    );
}

#[test]
fn the_default_engine_id_names_the_host() {
    let id = monbridge::sink::snmp::usm::default_engine_id("gw-poste-1");
    assert_eq!(id.to_string(), "0x800098930467772d706f7374652d31");
}

/// A manager played by the test: answers discovery, then says the first inform is outside
/// its time window (with new boots and time), then acknowledges the resent one.
#[test]
fn a_not_in_time_window_report_leads_to_a_resend_with_the_managers_new_time() {
    use rasn_snmp::v2;

    let manager = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    manager.set_read_timeout(Some(ARRIVAL)).unwrap();
    let address = manager.local_addr().unwrap();
    let manager_engine: EngineId = "0x80001f888004746573746d616e61676572".parse().unwrap();
    let user = user(Some(AuthProtocol::Sha256), Some(PrivProtocol::Aes128));
    let keys = localize_user(&user, manager_engine.as_bytes()).unwrap();

    let player_user = user.clone();
    let player_engine = manager_engine.clone();
    let player = std::thread::spawn(move || {
        let mut inbox = vec![0u8; 65_535];
        let mut receive = |keys: Option<&LocalizedKeys>| {
            let (length, from) = manager.recv_from(&mut inbox).expect("a message in time");
            let header = peek_header(&inbox[..length]).expect("an SNMPv3 message");
            let decoded = keys.map(|keys| decode_v3(&inbox[..length], keys).expect("decodes"));
            (header, decoded, from)
        };
        let reply = |pdus: v2::Pdus, to, message_id, boots, time, keys: &LocalizedKeys| {
            let envelope = V3Envelope {
                message_id,
                reportable: false,
                engine_id: player_engine.as_bytes(),
                boots,
                time,
                user: player_user.name.as_bytes(),
                context_engine_id: player_engine.as_bytes(),
                context_name: b"",
                salt: 99,
            };
            let bytes = monbridge::sink::snmp::usm::encode_v3(pdus, &envelope, keys).unwrap();
            manager.send_to(&bytes, to).unwrap();
        };
        let report = |counter: &[u32], request_id| {
            v2::Pdus::Report(v2::Report(v2::Pdu {
                request_id,
                error_status: 0,
                error_index: 0,
                variable_bindings: vec![v2::VarBind {
                    name: rasn::types::ObjectIdentifier::new(counter.to_vec()).unwrap(),
                    value: v2::VarBindValue::Value(rasn_smi::v2::ObjectSyntax::ApplicationWide(
                        rasn_smi::v2::ApplicationSyntax::Counter(rasn_smi::v1::Counter(1)),
                    )),
                }],
            }))
        };
        let none = LocalizedKeys::none();

        // The discovery probe: a GetRequest, which only its header tells about.
        let (probe, _, from) = receive(None);
        assert!(probe.engine_id.is_empty() && probe.reportable && probe.user.is_empty());
        let unknown_engine = [1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0];
        reply(
            report(&unknown_engine, 0),
            from,
            probe.message_id,
            5,
            100,
            &none,
        );

        let (first, _, from) = receive(Some(&keys));
        assert_eq!(
            (first.boots, first.engine_id.as_slice()),
            (5, player_engine.as_bytes())
        );
        let not_in_time_window = [1, 3, 6, 1, 6, 3, 15, 1, 1, 2, 0];
        let auth_only = LocalizedKeys {
            auth: keys.auth.clone(),
            privacy: None,
        };
        reply(
            report(&not_in_time_window, 0),
            from,
            first.message_id,
            6,
            7,
            &auth_only,
        );

        let (second_header, second, from) = receive(Some(&keys));
        let Some(monbridge::sink::snmp::usm::V3Body::Pdu(inform)) = second.map(|m| m.body) else {
            panic!("an InformRequest")
        };
        let response = v2::Pdus::Response(v2::Response(v2::Pdu {
            request_id: inform.request_id.unwrap(),
            error_status: 0,
            error_index: 0,
            variable_bindings: Vec::new(),
        }));
        reply(response, from, second_header.message_id, 6, 8, &keys);
        (
            second_header.boots,
            second_header.time,
            first.message_id != second_header.message_id,
        )
    });

    let mut sender = v3_sender(
        user,
        LocalEngine::new(engine_id(), 1),
        true,
        &format!("udp:{address}"),
    );
    let delivery = single(sender.send(&state_link_trap()).unwrap());
    let (boots, time, new_message) = player.join().expect("the manager played its part");
    assert_eq!(delivery.result, Ok(()));
    assert_eq!(
        delivery.attempts, 3,
        "discovery, first inform, resent inform"
    );
    assert_eq!(boots, 6);
    assert!((7..=9).contains(&time), "{time}");
    assert!(new_message, "a resend is a new message");
}

#[test]
fn passphrases_can_come_from_files() {
    let engine = engine_id();
    let user = user(Some(AuthProtocol::Sha1), Some(PrivProtocol::Aes192));
    let daemon = Snmptrapd::start_with(&SnmptrapdOptions {
        config_lines: vec![create_user(&user, Some(&engine))],
        ..SnmptrapdOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let auth_file = dir.path().join("auth");
    let priv_file = dir.path().join("priv");
    std::fs::write(&auth_file, format!("{AUTH_PASS}\n")).unwrap();
    std::fs::write(&priv_file, format!("{PRIV_PASS}\r\n")).unwrap();
    let output = Command::new(bin("monbridge"))
        .args([
            "trap",
            "send",
            "--env",
            "hostname=gw-test",
            "--to",
            &daemon.destination(),
        ])
        .args([
            "--version",
            "3",
            "--user",
            &user.name,
            "--engine-id",
            ENGINE_ID,
        ])
        .args(["--auth-protocol", "sha", "--priv-protocol", "aes-192"])
        .arg("--auth-pass-file")
        .arg(&auth_file)
        .arg("--priv-pass-file")
        .arg(&priv_file)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg(fixture("fledge/rest/STLNK.json"))
        .env_remove("MONBRIDGE_RULES")
        .output()
        .unwrap();
    assert_success(&output);
    let notification = wait_for_user(&daemon, "TRAP2", &user.name).expect("logged");
    assert_logged_with(&notification, &expected_cli_objects());
}

/// Informs to several managers: two snmptrapd, each with its own engine to discover, and a
/// third address where nothing answers; each gets its own outcome.
#[test]
fn informs_to_several_managers_are_acknowledged_by_each() {
    let user = user(Some(AuthProtocol::Sha256), Some(PrivProtocol::Aes128));
    let daemons: Vec<Snmptrapd> = (0..2)
        .map(|_| {
            Snmptrapd::start_with(&SnmptrapdOptions {
                config_lines: vec![create_user(&user, None)],
                ..SnmptrapdOptions::default()
            })
        })
        .collect();
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let destinations: Vec<Destination> = daemons
        .iter()
        .map(|daemon| daemon.destination())
        .chain([format!("udp:{}", silent.local_addr().unwrap())])
        .map(|to| to.parse().unwrap())
        .collect();
    let config = SenderConfig {
        security: Security::V3(V3Config {
            user: user.clone(),
            engine: LocalEngine::new(engine_id(), 1),
            context_name: Vec::new(),
        }),
        notification: NotificationKind::Inform,
        retries: 1,
        timeout: Duration::from_millis(700),
    };
    let mut sender = Sender::new(config, &destinations).unwrap();
    let deliveries = sender.send(&state_link_trap()).unwrap();
    assert_eq!(deliveries.len(), 3, "{deliveries:?}");
    assert_eq!(deliveries[0].result, Ok(()), "{deliveries:?}");
    assert_eq!(deliveries[1].result, Ok(()), "{deliveries:?}");
    assert_eq!(
        deliveries[2].result,
        Err(monbridge::sink::snmp::DeliveryError::Discovery {
            attempts: 2,
            timeout_ms: 700
        })
    );
    assert_eq!(deliveries[2].attempts, 2);
    for daemon in &daemons {
        assert!(wait_for_user(daemon, "INFORM", &user.name).is_some());
    }
    // Engines are cached: the next inform needs no discovery.
    let again = sender.send(&state_link_trap()).unwrap();
    assert_eq!((again[0].attempts, again[1].attempts), (1, 1), "{again:?}");
}

/// Two managers played by the test, each answering its discovery probe only once the other
/// has received its own: informs that went one destination after the other would never get
/// there.
#[test]
fn v3_informs_go_to_every_manager_before_any_answer_is_awaited() {
    use std::sync::mpsc;

    let manager_engine: EngineId = "0x80001f888004746573746d616e61676572".parse().unwrap();
    let user = user(Some(AuthProtocol::Sha1), None);
    let keys = localize_user(&user, manager_engine.as_bytes()).unwrap();
    let (first_probe, first_probed) = mpsc::channel();
    let (second_probe, second_probed) = mpsc::channel();
    let mut addresses = Vec::new();
    let mut players = Vec::new();
    for (probed, other_probed) in [(first_probe, second_probed), (second_probe, first_probed)] {
        let manager = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        manager.set_read_timeout(Some(ARRIVAL)).unwrap();
        addresses.push(format!("udp:{}", manager.local_addr().unwrap()));
        let (engine, user, keys) = (manager_engine.clone(), user.clone(), keys.clone());
        players.push(std::thread::spawn(move || {
            let mut inbox = vec![0u8; 65_535];
            let (length, from) = manager.recv_from(&mut inbox).expect("a discovery probe");
            let probe = peek_header(&inbox[..length]).unwrap();
            probed.send(()).unwrap();
            other_probed
                .recv_timeout(ARRIVAL)
                .expect("the other manager probed too");
            let reply = |pdus, message_id, keys: &LocalizedKeys| {
                let envelope = V3Envelope {
                    message_id,
                    reportable: false,
                    engine_id: engine.as_bytes(),
                    boots: 3,
                    time: 50,
                    user: user.name.as_bytes(),
                    context_engine_id: engine.as_bytes(),
                    context_name: b"",
                    salt: 0,
                };
                let bytes = monbridge::sink::snmp::usm::encode_v3(pdus, &envelope, keys).unwrap();
                manager.send_to(&bytes, from).unwrap();
            };
            let unknown_engine =
                rasn::types::ObjectIdentifier::new(vec![1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0]).unwrap();
            let report = rasn_snmp::v2::Pdus::Report(rasn_snmp::v2::Report(rasn_snmp::v2::Pdu {
                request_id: 0,
                error_status: 0,
                error_index: 0,
                variable_bindings: vec![rasn_snmp::v2::VarBind {
                    name: unknown_engine,
                    value: rasn_snmp::v2::VarBindValue::Value(
                        rasn_smi::v2::ObjectSyntax::ApplicationWide(
                            rasn_smi::v2::ApplicationSyntax::Counter(rasn_smi::v1::Counter(1)),
                        ),
                    ),
                }],
            }));
            reply(report, probe.message_id, &LocalizedKeys::none());
            let (length, _) = manager.recv_from(&mut inbox).expect("the inform");
            let header = peek_header(&inbox[..length]).unwrap();
            let Ok(monbridge::sink::snmp::usm::V3Body::Pdu(inform)) =
                decode_v3(&inbox[..length], &keys).map(|m| m.body)
            else {
                panic!("an authenticated InformRequest")
            };
            let response =
                rasn_snmp::v2::Pdus::Response(rasn_snmp::v2::Response(rasn_snmp::v2::Pdu {
                    request_id: inform.request_id.unwrap(),
                    error_status: 0,
                    error_index: 0,
                    variable_bindings: Vec::new(),
                }));
            reply(response, header.message_id, &keys);
        }));
    }
    let destinations: Vec<Destination> = addresses.iter().map(|a| a.parse().unwrap()).collect();
    let config = SenderConfig {
        security: Security::V3(V3Config {
            user,
            engine: LocalEngine::new(engine_id(), 1),
            context_name: Vec::new(),
        }),
        notification: NotificationKind::Inform,
        retries: 0,
        timeout: Duration::from_secs(5),
    };
    let mut sender = Sender::new(config, &destinations).unwrap();
    let deliveries = sender.send(&state_link_trap()).unwrap();
    for player in players {
        player.join().expect("the manager played its part");
    }
    assert_eq!(deliveries.len(), 2);
    for delivery in &deliveries {
        assert_eq!(delivery.result, Ok(()), "{deliveries:?}");
        assert_eq!(delivery.attempts, 2, "probe and inform: {deliveries:?}");
    }
}
