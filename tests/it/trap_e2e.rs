//! End to end: `monbridge trap send` with the default rules, to net-snmp's snmptrapd, for
//! every audit code, as v1 trap, v2c trap and v2c inform; and snmptrapd naming our
//! notifications and objects from PMC-MIB.

use std::process::Command;
use std::time::Duration;

use monbridge::lang::Params;
use monbridge::lang::{LoadOptions, RuleSet};
use monbridge::record::Trap;

use crate::common::snmptrapd::{Notification, Snmptrapd, SnmptrapdOptions};
use crate::common::{self, bin, mib};

const ARRIVAL: Duration = Duration::from_secs(10);
const HOSTNAME: &str = "gw-poste-1";

/// What the default rules make of the fixture's 11 audits, in input order.
fn expected_traps() -> Vec<Trap> {
    let rules = RuleSet::load(&LoadOptions {
        dir: None,
        env: [("hostname".to_owned(), HOSTNAME.to_owned())].into(),
    })
    .unwrap();
    monbridge::source::audit::decode_input(&common::read_fixture(
        "fledge/rest/audit_list_response.json",
    ))
    .into_iter()
    .flat_map(|audit| rules.traps(&audit.unwrap(), &Params::new()))
    .map(Result::unwrap)
    .collect()
}

fn send(daemon: &Snmptrapd, extra: &[&str]) -> std::process::Output {
    let output = Command::new(bin("monbridge"))
        .args([
            "trap",
            "send",
            "--env",
            &format!("hostname={HOSTNAME}"),
            "--to",
        ])
        .arg(daemon.destination())
        .args(extra)
        .arg(common::fixture("fledge/rest/audit_list_response.json"))
        .env_remove("MONBRIDGE_RULES")
        .output()
        .expect("run monbridge");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stdout.is_empty());
    output
}

fn wait_for_all(daemon: &Snmptrapd, count: usize) -> Vec<Notification> {
    let deadline = std::time::Instant::now() + ARRIVAL;
    loop {
        let notifications = daemon.notifications();
        if notifications.len() >= count || std::time::Instant::now() > deadline {
            assert_eq!(
                notifications.len(),
                count,
                "snmptrapd said:\n{}",
                daemon.output().join("\n")
            );
            return notifications;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Objects as snmptrapd printed them: numeric OID, type and value.
fn objects(notification: &Notification, skip: usize) -> Vec<(String, String, String)> {
    notification.varbinds[skip..]
        .iter()
        .map(|v| (v.oid.clone(), v.type_name.clone(), v.value.clone()))
        .collect()
}

fn expected_objects(trap: &Trap) -> Vec<(String, String, String)> {
    trap.varbinds
        .iter()
        .map(|v| {
            let monbridge::record::SnmpValue::OctetString(bytes) = &v.value else {
                panic!("PMC-MIB objects are strings")
            };
            (
                format!(".{}", v.oid),
                "STRING".to_owned(),
                String::from_utf8(bytes.clone()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn v2c_traps_for_all_eleven_codes() {
    let daemon = Snmptrapd::start();
    let output = send(&daemon, &[]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("11 matched"));
    let expected = expected_traps();
    let received = wait_for_all(&daemon, 11);
    for trap in &expected {
        let notification = received
            .iter()
            .find(|n| {
                n.varbind(".1.3.6.1.6.3.1.1.4.1.0")
                    .is_some_and(|v| v.value == format!(".{}", trap.oid))
            })
            .unwrap_or_else(|| panic!("no notification {} ({})", trap.oid, trap.rule));
        assert!(
            notification.security.starts_with("TRAP2, SNMP v2c"),
            "{}",
            notification.security
        );
        assert_eq!(notification.varbinds[0].oid, ".1.3.6.1.2.1.1.3.0");
        assert_eq!(notification.varbinds[0].type_name, "Timeticks");
        assert_eq!(
            objects(notification, 2),
            expected_objects(trap),
            "{}",
            trap.rule
        );
    }
}

#[test]
fn v2c_informs_for_all_eleven_codes_are_acknowledged() {
    let daemon = Snmptrapd::start();
    let output = send(
        &daemon,
        &["--inform", "--retries", "2", "--timeout-ms", "2000"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("11 sent, 11 acknowledged") && stderr.contains("0 failed"),
        "{stderr}"
    );
    let received = wait_for_all(&daemon, 11);
    assert!(
        received
            .iter()
            .all(|n| n.security.starts_with("INFORM, SNMP v2c"))
    );
    let expected = expected_traps();
    for (trap, notification) in expected.iter().zip(sorted_like(&expected, &received)) {
        assert_eq!(
            objects(notification, 2),
            expected_objects(trap),
            "{}",
            trap.rule
        );
    }
}

#[test]
fn v1_traps_for_all_eleven_codes() {
    let daemon = Snmptrapd::start();
    send(&daemon, &["--version", "1"]);
    let received = wait_for_all(&daemon, 11);
    for trap in expected_traps() {
        let specific = trap.oid.arcs().last().unwrap().to_string();
        let notification = received
            .iter()
            .find(|n| n.specific_trap == specific)
            .unwrap_or_else(|| panic!("no v1 trap with specific {specific} ({})", trap.rule));
        assert!(
            notification.security.starts_with("TRAP, SNMP v1"),
            "{}",
            notification.security
        );
        assert_eq!(notification.enterprise, ".1.3.6.1.4.1.39059.1");
        assert_eq!(notification.generic_trap, "6");
        assert_eq!(
            objects(notification, 0),
            expected_objects(&trap),
            "{}",
            trap.rule
        );
    }
}

#[test]
fn snmptrapd_names_our_notifications_and_objects_from_pmc_mib() {
    let daemon = Snmptrapd::start_with(&SnmptrapdOptions {
        mib_dirs: vec![mib::ietf_mibs_dir(), mib::mibs_dir()],
        mib_modules: vec!["SNMPv2-MIB".into(), "PMC-MIB".into()],
        symbolic: true,
        config_lines: Vec::new(),
    });
    send(&daemon, &[]);
    let received = wait_for_all(&daemon, 11);
    let link = received
        .iter()
        .find(|n| {
            n.varbinds
                .iter()
                .any(|v| v.value == "PMC-MIB::pmcStateLink")
        })
        .unwrap_or_else(|| {
            panic!(
                "no symbolic pmcStateLink; snmptrapd said:\n{}",
                daemon.output().join("\n")
            )
        });
    let names: Vec<&str> = link.varbinds.iter().map(|v| v.oid.as_str()).collect();
    assert_eq!(
        names,
        [
            "SNMPv2-MIB::sysUpTime.0",
            "SNMPv2-MIB::snmpTrapOID.0",
            "PMC-MIB::pmcNameGateway",
            "PMC-MIB::pmcNameService",
            "PMC-MIB::pmcNameEvent",
            "PMC-MIB::pmcLabelVariable",
            "PMC-MIB::pmcValueVariable",
            "PMC-MIB::pmcSeverity",
            "PMC-MIB::pmcDate",
        ]
    );
    for (name, _, _) in mib::PMC_NOTIFICATIONS {
        assert!(
            received.iter().any(|n| n
                .varbinds
                .iter()
                .any(|v| v.value == format!("PMC-MIB::{name}"))),
            "{name} was not named"
        );
    }
}

/// Notifications in the order of `expected`, matched by trap OID.
fn sorted_like<'a>(expected: &[Trap], received: &'a [Notification]) -> Vec<&'a Notification> {
    expected
        .iter()
        .map(|trap| {
            received
                .iter()
                .find(|n| {
                    n.varbind(".1.3.6.1.6.3.1.1.4.1.0")
                        .is_some_and(|v| v.value == format!(".{}", trap.oid))
                })
                .unwrap_or_else(|| panic!("no notification {}", trap.oid))
        })
        .collect()
}
