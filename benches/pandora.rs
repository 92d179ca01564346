//! Benchmark: rendering one site agent (two totals and ten device modules) as Pandora XML.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use monbridge::record::{Agent, Module};
use monbridge::sink::pandora::render_agent;

fn module(name: String, module_type: &str, data: &str, fields: Vec<(String, String)>) -> Module {
    Module {
        name,
        module_type: module_type.to_owned(),
        data: data.to_owned(),
        fields,
    }
}

/// A site agent shaped like the default Mist rules' output, with ten devices.
fn site_agent_with_ten_devices() -> Agent {
    let mut modules = vec![
        module(
            "Total devices connected".into(),
            "generic_data",
            "8",
            vec![],
        ),
        module(
            "Total devices not connected".into(),
            "generic_data",
            "2",
            vec![],
        ),
    ];
    for device in 0..10u32 {
        let connected = device % 5 != 0;
        modules.push(module(
            format!("ap_Floor {device} & Lobby_5c5b35d0{device:04x}"),
            "generic_proc",
            if connected { "1" } else { "0" },
            vec![(
                "description".into(),
                format!(
                    "IP: 192.168.95.{device}. Status: {}",
                    if connected {
                        "connected"
                    } else {
                        "disconnected"
                    }
                ),
            )],
        ));
    }
    Agent {
        rule: "site".into(),
        name: "MIST_O'Brien's Café & Bar <Dublin>_IE_497f6eca-6276-5007-bfeb-53cbbbba6f19".into(),
        attributes: [
            ("agent_alias", "MIST_O'Brien's Café & Bar <Dublin>_IE"),
            ("group", "Mist"),
            ("os_name", "Other"),
            ("interval", "300"),
            ("version", "monbridge 0.1.0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        modules,
    }
}

fn bench_render(c: &mut Criterion) {
    let agent = site_agent_with_ten_devices();
    let now: jiff::Zoned = "2024-07-10T10:05:00[UTC]"
        .parse()
        .expect("a valid fixed timestamp");
    c.bench_function("pandora render_agent (site, 10 devices)", |b| {
        b.iter(|| render_agent(black_box(&agent), black_box(&now)))
    });
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
