//! The notifications the default rules make of every audit fixture (each code, each of
//! Fledge's three shapes): the decoded varbind table and the BER hex of the SNMPv2c Trap,
//! with request-id, sysUpTime and the time of receipt fixed.

use monbridge::lang::Params;
use monbridge::lang::{LoadOptions, RuleSet};
use monbridge::sink::snmp::{Envelope, PduKind, SnmpVersion, describe};

use crate::common;

#[test]
fn every_fixture_through_the_default_rules() {
    let rules = RuleSet::load(&LoadOptions {
        dir: None,
        env: [("hostname".to_owned(), "gw-poste-1".to_owned())].into(),
    })
    .unwrap();
    // Storage payloads carry no time: they are dated when received.
    let received: jiff::Timestamp = "2026-11-21T09:15:42.500Z".parse().unwrap();
    let envelope = Envelope {
        version: SnmpVersion::V2c,
        pdu: PduKind::Trap,
        community: b"public",
        request_id: 4242,
        uptime: 12345,
        agent_addr: [127, 0, 0, 1],
    };
    common::snapshot_settings().bind(|| {
        insta::glob!(
            "../fixtures/fledge",
            "{rest,storage,notification}/[A-Z]*.json",
            |path| {
                let bytes = std::fs::read(path).unwrap();
                let mut text = String::new();
                for audit in monbridge::source::audit::decode_input_at(&bytes, received) {
                    let audit = audit.unwrap();
                    let traps = rules.traps(&audit, &Params::new());
                    assert_eq!(traps.len(), 1, "{}: one binding per code", path.display());
                    for trap in traps {
                        let trap = trap.unwrap();
                        text.push_str(&trap.table());
                        text.push('\n');
                        text.push_str(&describe(&trap, &envelope).unwrap());
                    }
                }
                insta::assert_snapshot!("default_trap", text);
            }
        );
    });
}
