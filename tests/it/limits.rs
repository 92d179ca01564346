//! Nothing in a rules file can crash monbridge: nesting, long chains and deep trees get a coded
//! diagnostic (E0105) from `check`, `render` and the daemon, or they load and evaluate, on
//! threads with small stacks too. A stack overflow aborts the whole test binary, so any
//! regression here fails loudly.

use std::collections::BTreeMap;
use std::process::Command;

use monbridge::lang::diag::Code;
use monbridge::lang::limits::{MAX_EXPRESSION_DEPTH, MAX_NESTING, MAX_OPERATORS};
use monbridge::lang::{Params, RuleSet};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::common::serve::{Serve, WAIT, wait_until, write};
use crate::common::snmptrapd::Snmptrapd;
use crate::common::{bin, repo_root};

const OID: &str = "oid 1.3.6.1.4.1.39059.1.0.1\n    base 1.3.6.1.4.1.39059.1.1.1.1";

fn trap_when(condition: &str) -> String {
    format!("trap deep when {condition} {{\n    {OID}\n    1 source = audit.source\n}}\n")
}

fn trap_object(value: &str) -> String {
    format!("trap deep when audit.source == \"STLNK\" {{\n    {OID}\n    1 source = {value}\n}}\n")
}

/// The minimal forms that used to overflow the stack, by name.
fn hostile_rules() -> Vec<(&'static str, String)> {
    let n = 10_000;
    let chain = |term: &str, op: &str, count: usize| vec![term; count].join(op);
    vec![
        (
            "10,000 nested parentheses",
            trap_when(&format!("{}true{}", "(".repeat(n), ")".repeat(n))),
        ),
        (
            "10,000 nested lists",
            trap_when(&format!(
                "audit.source in {}\"STLNK\"{}",
                "[".repeat(n),
                "]".repeat(n)
            )),
        ),
        (
            "10,000 nested calls",
            trap_object(&format!(
                "{}audit.source{}",
                "lower(".repeat(n),
                ")".repeat(n)
            )),
        ),
        (
            "10,000 nested interpolations",
            trap_object(&format!(
                "{}audit.source{}",
                "\"${".repeat(n),
                "}\"".repeat(n)
            )),
        ),
        (
            "100,000 `not`",
            trap_when(&format!("{}true", "not ".repeat(100_000))),
        ),
        (
            "100,000-term `??` chain",
            trap_object(&chain("audit.source", " ?? ", 100_000)),
        ),
        (
            "100,000-term `==` chain",
            trap_when(&chain("true", " == ", 100_000)),
        ),
        (
            "10,000-term `or` chain",
            trap_when(&chain("audit.source == \"STLNK\"", " or ", 10_000)),
        ),
        (
            "10,000-deep JSONPath query",
            trap_object(&format!(
                "jsonpath(audit, \"$.details{}\")",
                "[?(@".repeat(n)
            )),
        ),
        (
            "101-deep `or` tree in one expression",
            trap_when(&chain(
                "audit.source == \"STLNK\"",
                " or ",
                MAX_EXPRESSION_DEPTH + 1,
            )),
        ),
    ]
}

fn load(text: &str) -> Result<RuleSet, monbridge::lang::LoadError> {
    RuleSet::from_sources(
        vec![("deep.rules".to_owned(), text.to_owned())],
        &BTreeMap::new(),
    )
}

fn stlnk() -> Value {
    json!({
        "source": "STLNK",
        "severity": "INFORMATION",
        "details": {"nameService": "svc", "nameLink": "PA-Lyon-1", "valueLink": "OFF"},
        "timestamp": "2026-11-21 09:15:42.317"
    })
}

/// Evaluates every binding over an STLNK audit on a thread with a 2 MiB stack, the size the
/// daemon's threads get.
fn evaluate_on_small_stack(rules: &RuleSet) {
    let audit = monbridge::source::audit::decode_input(stlnk().to_string().as_bytes())
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn_scoped(scope, || rules.traps(&audit, &Params::new()).len())
            .unwrap()
            .join()
            .unwrap()
    });
}

#[test]
fn every_minimal_hostile_form_gets_a_diagnostic() {
    for (name, text) in hostile_rules() {
        let error = match load(&text) {
            Ok(_) => panic!("{name}: loaded"),
            Err(error) => error,
        };
        assert!(
            error.diagnostics.iter().any(|d| d.code == Code::E0105),
            "{name}: {}",
            error.render(false)
        );
        // One report, not one per level.
        assert!(
            error.diagnostics.len() <= 2,
            "{name}: {}",
            error.render(false)
        );
    }
}

#[test]
fn forms_just_inside_the_limits_load_and_evaluate_on_a_small_stack() {
    let depth = MAX_EXPRESSION_DEPTH - 1;
    let cases = [
        trap_when(&format!(
            "{}audit.source == \"STLNK\"{}",
            "(".repeat(MAX_NESTING - 4),
            ")".repeat(MAX_NESTING - 4)
        )),
        trap_when(&vec!["audit.source == \"STLNK\""; depth].join(" or ")),
        trap_when(&format!("{}true", "not ".repeat(depth - 1))),
        trap_object(&vec!["audit.source"; depth].join(" ?? ")),
        trap_object(&format!(
            "{}audit.source{}",
            "lower(".repeat(MAX_NESTING - 4),
            ")".repeat(MAX_NESTING - 4)
        )),
        trap_object(&format!(
            "{}audit.source{}",
            "\"${".repeat(MAX_NESTING - 4),
            "}\"".repeat(MAX_NESTING - 4)
        )),
        // Many operators at one level are fine as long as the tree stays shallow: a list.
        trap_when(&format!(
            "audit.source in [{}]",
            vec!["\"STLNK\""; MAX_OPERATORS * 5].join(", ")
        )),
    ];
    for text in cases {
        let rules = match load(&text) {
            Ok(rules) => rules,
            Err(error) => panic!("{}\n{}", &text[..200.min(text.len())], error.render(false)),
        };
        evaluate_on_small_stack(&rules);
    }
}

#[test]
fn check_and_render_report_the_limit_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let chain = vec!["audit.source == \"STLNK\""; 10_000].join(" or ");
    std::fs::write(dir.path().join("deep.rules"), trap_when(&chain)).unwrap();
    let audit = dir.path().join("audit.json");
    std::fs::write(&audit, stlnk().to_string()).unwrap();
    let rules = dir.path().to_str().unwrap();
    for args in [
        vec!["check", "--rules", rules],
        vec!["render", "trap", "--rules", rules, audit.to_str().unwrap()],
    ] {
        let output = Command::new(bin("monbridge")).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("E0105"), "{args:?}: {stderr}");
        assert!(stderr.contains("deep.rules:1:"), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn the_daemon_keeps_its_rules_when_a_reload_brings_a_hostile_file() {
    let manager = Snmptrapd::start();
    let original = std::fs::read_to_string(repo_root().join("rules/audit.rules")).unwrap();
    let mut serve = Serve::new(&format!(
        "state_dir: state\nenv: {{hostname: gw-test}}\nintakes:\n  http: {{listen: \"{{http}}\"}}\n\
         destinations:\n  - name: nms\n    address: udp:127.0.0.1:{}\nrules: rules\n",
        manager.port()
    ));
    write(&serve.path("rules/audit.rules"), &original);
    serve.start();
    let chain = vec!["audit.source == \"STLNK\""; 10_000].join(" or ");
    write(&serve.path("rules/deep.rules"), &trap_when(&chain));
    serve.signal("HUP");
    assert!(
        serve.wait_for_log(|line| line.contains("reload refused"), WAIT),
        "{}",
        serve.log_text()
    );
    assert!(
        serve.wait_for_log(|line| line.contains("E0105"), WAIT),
        "{}",
        serve.log_text()
    );
    serve.post("application/json", stlnk().to_string());
    let (arrived, seen) = wait_until(|| manager.notifications(), |seen| !seen.is_empty(), WAIT);
    assert!(arrived, "no trap after the refused reload: {seen:?}");
    assert_eq!(serve.stop(), Some(0));
}

/// A random expression mixing every construct that nests, as text: a chain of up to 3,000
/// terms wrapped in up to 200 random layers (parentheses, lists, calls, interpolations, `not`,
/// binary operators with a leaf), so its size grows linearly with its depth.
fn nested_expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("audit.source"),
        Just("true"),
        Just("\"STLNK\""),
        Just("1"),
    ];
    let chain = (
        leaf.clone(),
        prop_oneof![Just(" or "), Just(" == "), Just(" ?? "), Just(" and ")],
        1..3_000usize,
    )
        .prop_map(|(term, op, n)| vec![term; n].join(op));
    let layer = prop_oneof![
        Just(("(", ")")),
        Just(("[", "]")),
        Just(("lower(", ")")),
        Just(("\"${", "}\"")),
        Just(("not ", "")),
        Just(("audit.source ?? ", "")),
        Just(("", " or true")),
        Just(("1 == ", "")),
    ];
    (chain, proptest::collection::vec(layer, 0..200)).prop_map(|(inner, layers)| {
        layers
            .iter()
            .rev()
            .fold(inner, |expr, (open, close)| format!("{open}{expr}{close}"))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever the nesting, loading never crashes, and what loads evaluates on a small stack.
    #[test]
    fn deep_and_long_expressions_never_crash(condition in nested_expression(), value in nested_expression()) {
        for text in [trap_when(&condition), trap_object(&value)] {
            if let Ok(rules) = load(&text) {
                evaluate_on_small_stack(&rules);
            }
        }
    }
}
