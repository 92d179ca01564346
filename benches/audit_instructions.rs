//! The audit → BER path (decode, match, evaluate, encode) run a given number of times, for
//! counting its instructions: `scripts/count-audit-instructions` runs it under callgrind
//! with 0 and N audits and prints the difference per audit. Instruction counts do not depend
//! on what else the machine is doing, unlike the timings of `cargo bench --bench rules`.
//!
//! Usage: `audit_instructions [N]` (default 1, as `cargo test --benches` runs it).

use std::collections::BTreeMap;
use std::hint::black_box;

use monbridge::lang::Params;
use monbridge::lang::{LoadOptions, RuleSet};
use monbridge::sink::snmp::{Envelope, PduKind, SnmpVersion, encode_into};

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(1);
    let env: BTreeMap<String, String> = [("hostname".to_owned(), "gw-poste-1".to_owned())].into();
    let rules = RuleSet::load(&LoadOptions { dir: None, env }).expect("default rules load");
    let params = Params::new();
    // The same audit as the `audit to BER` benchmark.
    let bytes = br#"{"source":"STCHA","severity":"INFORMATION","details":{"nameService":"iec104-south","nameLink":"PA-Lyon-1","nameChannel":"A","valueChannel":"ON"},"timestamp":"2026-11-21 09:15:42.317"}"#;
    let envelope = Envelope {
        version: SnmpVersion::V2c,
        pdu: PduKind::Trap,
        community: b"public",
        request_id: 1,
        uptime: 100,
        agent_addr: [127, 0, 0, 1],
    };
    let mut buffer = Vec::with_capacity(512);
    let mut encoded = 0;
    for _ in 0..count {
        for audit in monbridge::source::audit::decode_input(black_box(bytes))
            .into_iter()
            .flatten()
        {
            for trap in rules.traps(&audit, &params).into_iter().flatten() {
                buffer.clear();
                encode_into(&trap, &envelope, &mut buffer).expect("encodes");
                encoded += 1;
            }
        }
    }
    assert_eq!(encoded, count, "every audit gives one trap");
    black_box(&buffer);
}
