//! Rules language speed: loading (parse + check) and evaluation.
//!
//! Targets: parsing and checking 1,000 trap bindings under 50 ms; evaluating one trap
//! binding over a decoded audit under 2 µs.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use monbridge::lang::Params;
use monbridge::lang::{LoadOptions, RuleSet};

fn thousand_bindings() -> String {
    let mut text = String::from(
        "objects common {\n    1 nameGateway = env.hostname ?? \"gw\"\n    6 severity = audit.severity\n    7 date = audit.timestamp\n}\n",
    );
    for n in 0..1000 {
        text.push_str(&format!(
            "trap binding{n} when audit.source == \"C{n:04}\" and audit.severity in [\"WARNING\", \"FAILURE\"] {{\n    oid 1.3.6.1.4.1.39059.1.0.{n}\n    base 1.3.6.1.4.1.39059.1.1.1.1\n    use common\n    2 nameService = audit.detail.nameService\n    3 nameEvent = \"event{n}\"\n    4 labelVariable = \"${{audit.detail.nameLink}}-${{audit.detail.nameChannel ?? \"none\"}}\"\n    5 valueVariable = upper(audit.detail.valueLink)\n}}\n\n"
        ));
    }
    text
}

fn audit() -> serde_json::Value {
    serde_json::json!({
        "source": "STCHA",
        "severity": "INFORMATION",
        "detail": {"nameService": "iec104-south", "nameLink": "PA-Lyon-1", "nameChannel": "A", "valueChannel": "ON"},
        "timestamp": "2026-11-21T09:15:42.317Z"
    })
}

fn load(c: &mut Criterion) {
    let text = thousand_bindings();
    let env = BTreeMap::new();
    c.bench_function("load 1000 trap bindings (parse + check)", |b| {
        b.iter(|| {
            RuleSet::from_sources(vec![("bench.rules".into(), black_box(text.clone()))], &env)
                .unwrap()
        })
    });
}

fn evaluate(c: &mut Criterion) {
    let env: BTreeMap<String, String> = [("hostname".to_owned(), "gw-poste-1".to_owned())].into();
    let defaults = RuleSet::load(&LoadOptions {
        dir: None,
        env: env.clone(),
    })
    .unwrap();
    let one = RuleSet::from_sources(
        vec![(
            "one.rules".into(),
            monbridge::lang::DEFAULT_RULES[0].1.to_owned(),
        )],
        &env,
    )
    .unwrap();
    let audit = audit();
    let params = Params::new();
    let single = RuleSet::from_sources(
        vec![(
            "single.rules".into(),
            r#"trap stateChannel when audit.source == "STCHA" {
                oid 1.3.6.1.4.1.39059.1.0.2
                base 1.3.6.1.4.1.39059.1.1.1.1
                1 nameGateway = env.hostname
                2 nameService = audit.detail.nameService
                3 nameEvent = "stateChannel"
                4 labelVariable = "${audit.detail.nameLink}-${audit.detail.nameChannel}"
                5 valueVariable = audit.detail.valueChannel
                6 severity = audit.severity
                7 date = audit.timestamp
            }"#
            .into(),
        )],
        &env,
    )
    .unwrap();
    c.bench_function("evaluate one trap binding over a decoded audit", |b| {
        b.iter(|| single.traps(black_box(&audit), &params))
    });
    c.bench_function(
        "evaluate the 11 default trap bindings over a decoded audit",
        |b| b.iter(|| one.traps(black_box(&audit), &params)),
    );
    let bytes = serde_json::to_vec(&serde_json::json!({
        "source": "STCHA", "severity": "INFORMATION",
        "details": {"nameService": "iec104-south", "nameLink": "PA-Lyon-1", "nameChannel": "A", "valueChannel": "ON"},
        "timestamp": "2026-11-21 09:15:42.317"
    }))
    .unwrap();
    c.bench_function("decode audit JSON and evaluate the default rules", |b| {
        b.iter(|| {
            for audit in monbridge::source::audit::decode_input(black_box(&bytes))
                .into_iter()
                .flatten()
            {
                black_box(defaults.traps(&audit, &params));
            }
        })
    });
}

/// The audit → trap path without the network: decode, match, evaluate, encode.
fn audit_to_ber(c: &mut Criterion) {
    use monbridge::sink::snmp::{Envelope, PduKind, SnmpVersion, encode_into};
    let env: BTreeMap<String, String> = [("hostname".to_owned(), "gw-poste-1".to_owned())].into();
    let rules = RuleSet::load(&LoadOptions { dir: None, env }).unwrap();
    let params = Params::new();
    let bytes = serde_json::to_vec(&serde_json::json!({
        "source": "STCHA", "severity": "INFORMATION",
        "details": {"nameService": "iec104-south", "nameLink": "PA-Lyon-1", "nameChannel": "A", "valueChannel": "ON"},
        "timestamp": "2026-11-21 09:15:42.317"
    }))
    .unwrap();
    let envelope = Envelope {
        version: SnmpVersion::V2c,
        pdu: PduKind::Trap,
        community: b"public",
        request_id: 1,
        uptime: 100,
        agent_addr: [127, 0, 0, 1],
    };
    let mut buffer = Vec::with_capacity(512);
    let mut group = c.benchmark_group("audit to BER");
    group.throughput(criterion::Throughput::Elements(1));
    group.bench_function(
        "decode + match + evaluate + encode (default rules, v2c)",
        |b| {
            b.iter(|| {
                for audit in monbridge::source::audit::decode_input(black_box(&bytes))
                    .into_iter()
                    .flatten()
                {
                    for trap in rules.traps(&audit, &params).into_iter().flatten() {
                        buffer.clear();
                        encode_into(&trap, &envelope, &mut buffer).unwrap();
                        black_box(&buffer);
                    }
                }
            })
        },
    );
    group.finish();
}

criterion_group!(benches, load, evaluate, audit_to_ber);
criterion_main!(benches);
