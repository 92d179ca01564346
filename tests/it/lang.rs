//! Integration tests: the rules language.
//!
//! Case files drive the snapshots: adding a case is adding a file.
//! - `tests/cases/diagnostics/*.rules`: a broken rules file → its exact rendered diagnostics.
//! - `tests/cases/eval/*.case`: rules, a `---` line, then a JSON case (`kind`, `env`,
//!   `params`, `input`) → the records (or errors) the rules produce.

use std::collections::BTreeMap;

use monbridge::lang::Params;
use monbridge::lang::diag::Code;
use monbridge::lang::{LoadOptions, RuleSet};
use proptest::prelude::*;
use serde_json::Value;

use crate::common;

fn load(
    name: &str,
    text: &str,
    env: BTreeMap<String, String>,
) -> Result<RuleSet, monbridge::lang::LoadError> {
    RuleSet::from_sources(vec![(name.to_owned(), text.to_owned())], &env)
}

#[test]
fn diagnostics_cases() {
    common::snapshot_settings().bind(|| {
        insta::glob!("../cases/diagnostics", "*.rules", |path| {
            let text = std::fs::read_to_string(path).unwrap();
            let name = format!(
                "tests/cases/diagnostics/{}",
                path.file_name().unwrap().to_string_lossy()
            );
            let rendered = match load(&name, &text, BTreeMap::new()) {
                Ok(rules) if rules.warnings().is_empty() => {
                    "rules loaded without errors".to_owned()
                }
                Ok(rules) => format!(
                    "{}rules loaded with {} warning(s)",
                    rules.sources().render(rules.warnings(), false),
                    rules.warnings().len()
                ),
                Err(error) => error.render(false),
            };
            insta::assert_snapshot!("diagnostic", rendered);
        });
    });
}

#[test]
fn eval_cases() {
    common::snapshot_settings().bind(|| {
        insta::glob!("../cases/eval", "*.case", |path| {
            let text = std::fs::read_to_string(path).unwrap();
            let (rules, case) = text
                .split_once("\n---\n")
                .expect("a case has rules, `---`, then JSON");
            let case: Value = serde_json::from_str(case).expect("case JSON");
            let env: BTreeMap<String, String> = serde_json::from_value(
                case.get("env")
                    .cloned()
                    .unwrap_or(Value::Object(Default::default())),
            )
            .unwrap();
            let params: BTreeMap<String, String> = serde_json::from_value(
                case.get("params")
                    .cloned()
                    .unwrap_or(Value::Object(Default::default())),
            )
            .unwrap();
            let name = format!(
                "tests/cases/eval/{}",
                path.file_name().unwrap().to_string_lossy()
            );
            let rules = match load(&name, rules, env) {
                Ok(rules) => rules,
                Err(error) => panic!("{}", error.render(false)),
            };
            let input = &case["input"];
            let params = Params(params);
            let output = match case["kind"].as_str() {
                Some("mist") => rules
                    .agents(input, &params)
                    .into_iter()
                    .map(|r| match r {
                        Ok(agent) => serde_json::to_string_pretty(&agent).unwrap(),
                        Err(error) => format!("error: {error}"),
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
                Some("trap") => {
                    let results = rules.traps(input, &params);
                    if results.is_empty() {
                        "no trap binding matches".to_owned()
                    } else {
                        results
                            .into_iter()
                            .map(|r| match r {
                                Ok(trap) => trap.table(),
                                Err(error) => format!("error: {error}\n"),
                            })
                            .collect::<String>()
                    }
                }
                other => panic!("unknown case kind {other:?}"),
            };
            insta::assert_snapshot!("eval", output);
        });
    });
}

#[test]
fn default_rules_load_and_cover_the_eleven_audit_codes() {
    let rules = RuleSet::load(&LoadOptions {
        dir: None,
        env: [("hostname".to_owned(), "gw".to_owned())].into(),
    })
    .unwrap_or_else(|e| panic!("{}", e.render(false)));
    for code in [
        "STLNK", "STCHA", "STSRV", "START", "FSTOP", "CONCH", "SRVFL", "SNAUF", "EVTIF", "EVTWA",
        "EVTFA",
    ] {
        let audit = serde_json::json!({
            "source": code, "severity": "INFORMATION",
            "detail": {"nameService": "svc", "nameLink": "l", "valueLink": "ON", "nameChannel": "c",
                       "valueChannel": "OFF", "valueService": "running", "errorService": "e",
                       "nameEvent": "n", "valueEvent": "v"},
            "timestamp": "2026-11-21T09:15:42.317Z"
        });
        let traps = rules.traps(&audit, &Params::new());
        assert_eq!(traps.len(), 1, "{code} must match exactly one binding");
        let trap = traps
            .into_iter()
            .next()
            .unwrap()
            .unwrap_or_else(|e| panic!("{code}: {e}"));
        assert_eq!(trap.varbinds.len(), 7, "{code}");
        assert!(
            trap.oid.to_string().starts_with("1.3.6.1.4.1.39059.1.0."),
            "{code}: {}",
            trap.oid
        );
    }
}

#[test]
fn embedded_defaults_equal_the_rules_folder() {
    for (name, embedded) in monbridge::lang::DEFAULT_RULES {
        let on_disk =
            std::fs::read_to_string(common::repo_root().join("rules").join(name)).unwrap();
        assert_eq!(embedded, on_disk, "{name}");
    }
}

#[test]
fn every_code_is_documented() {
    let docs = std::fs::read_to_string(common::repo_root().join("docs/diagnostics.md")).unwrap();
    for code in Code::ALL {
        assert!(
            docs.contains(&format!("## {code}")),
            "docs/diagnostics.md has no section for {code}"
        );
    }
}

#[test]
fn rules_folder_and_env_overrides_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.rules"),
        "trap t when audit.source == env.CODE { oid 1.3.6.1.4.1.39059.1.0.1 }",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not rules").unwrap();
    let rules = RuleSet::load(&LoadOptions {
        dir: Some(dir.path().to_owned()),
        env: [("CODE".to_owned(), "START".to_owned())].into(),
    })
    .unwrap();
    assert_eq!(rules.rule_names(), ["t"]);
    let audit = serde_json::json!({"source": "START", "severity": "INFORMATION", "detail": {}, "timestamp": "t"});
    assert_eq!(rules.traps(&audit, &Params::new()).len(), 1);

    let empty = tempfile::tempdir().unwrap();
    let error = RuleSet::load(&LoadOptions {
        dir: Some(empty.path().to_owned()),
        env: BTreeMap::new(),
    })
    .unwrap_err();
    assert!(error.to_string().contains("has no *.rules file"), "{error}");
    assert_eq!(error.diagnostics[0].code, Code::E0104);
}

/// Text built from the language's own tokens, so that the parser gets deep before failing.
fn rules_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("agent "),
        Just("trap "),
        Just("objects "),
        Just("for "),
        Just("in "),
        Just("where "),
        Just("when "),
        Just("module "),
        Just("use "),
        Just("oid "),
        Just("base "),
        Just("{ "),
        Just("} "),
        Just("= "),
        Just("== "),
        Just("?? "),
        Just("and "),
        Just("not "),
        Just(": "),
        Just(", "),
        Just("( "),
        Just(") "),
        Just("[ "),
        Just("] "),
        Just("\""),
        Just("${"),
        Just("\\"),
        Just("1.3.6.1 "),
        Just("7 "),
        Just("audit.detail.x "),
        Just("mist.sites "),
        Just("env.hostname "),
        Just("site "),
        Just(".status "),
        Just("count("),
        Just("jsonpath(\"$..x\") "),
        Just("name "),
        Just("type "),
        Just("data "),
        Just("generic_data "),
        Just("string "),
        Just("\n"),
        Just("# c\n"),
        Just("é"),
        Just("\u{0}"),
    ];
    proptest::collection::vec(token, 0..60).prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn parser_and_checker_never_panic_on_token_soup(text in rules_text()) {
        let result = load("soup.rules", &text, BTreeMap::new());
        if let Err(error) = result {
            let rendered = error.render(false);
            prop_assert!(rendered.contains("error"));
        }
    }

    #[test]
    fn parser_and_checker_never_panic_on_any_text(text in "\\PC{0,200}") {
        let _ = load("any.rules", &text, BTreeMap::new()).map_err(|e| e.render(false));
    }
}
