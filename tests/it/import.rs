//! Integration tests: import of the FledgePOWER `link_audit_trap` configuration.

use std::collections::BTreeMap;

use monbridge::import::link_audit_trap::{ImportError, import};
use monbridge::lang::Params;
use monbridge::lang::RuleSet;
use monbridge::record::SnmpValue;
use serde_json::Value;

use crate::common;

fn load(rules: &str) -> RuleSet {
    let env: BTreeMap<String, String> = [("hostname".to_owned(), "gw-poste-1".to_owned())].into();
    RuleSet::from_sources(vec![("imported.rules".into(), rules.to_owned())], &env)
        .unwrap_or_else(|e| panic!("{}\n{rules}", e.render(false)))
}

#[test]
fn seed_example_gives_exactly_the_trap_it_describes() {
    let seed_bytes = common::read_fixture("fledge/link_audit_trap.seed-example.json");
    let rules = import(&seed_bytes).unwrap();
    common::snapshot_settings().bind(|| insta::assert_snapshot!("import_seed_example", rules));

    let audits =
        monbridge::source::audit::decode_input(&common::read_fixture("fledge/rest/STLNK.json"));
    let audit = audits.into_iter().next().unwrap().unwrap();
    let traps = load(&rules).traps(&audit, &Params::new());
    assert_eq!(traps.len(), 1);
    let trap = traps.into_iter().next().unwrap().unwrap();

    // What the JSON says, object by object.
    let seed: Value = serde_json::from_slice(&seed_bytes).unwrap();
    let binding = &seed["stateLink "];
    assert_eq!(trap.oid.to_string(), binding["oid"].as_str().unwrap());
    assert_eq!(trap.varbinds.len(), 7);
    for varbind in &trap.varbinds {
        let object = &binding[varbind.index.to_string()];
        assert_eq!(varbind.oid.to_string(), object["oid"].as_str().unwrap());
        assert_eq!(&*varbind.name, object["dest"].as_str().unwrap());
        let expected = match (
            object["origin"].as_str().unwrap(),
            object["value"].as_str().unwrap(),
        ) {
            ("env", "hostname") => "gw-poste-1".to_owned(),
            ("audit", path) => path
                .split('.')
                .fold(&audit, |value, key| &value[key])
                .as_str()
                .unwrap()
                .to_owned(),
            other => panic!("unexpected origin {other:?}"),
        };
        assert_eq!(
            varbind.value,
            SnmpValue::OctetString(expected.into_bytes()),
            "object {}",
            varbind.index
        );
    }
}

#[test]
fn fledge_config_item_and_bare_json_import_the_same() {
    let bare = import(&common::read_fixture(
        "fledge/link_audit_trap.seed-example.json",
    ))
    .unwrap();
    let item = import(&common::read_fixture("fledge/plugin_config_item.json")).unwrap();
    assert_eq!(bare, item);
    let as_object = serde_json::json!({"link_audit_trap": {"type": "json", "value":
        serde_json::from_slice::<Value>(&common::read_fixture("fledge/link_audit_trap.seed-example.json")).unwrap()}});
    assert_eq!(import(as_object.to_string().as_bytes()).unwrap(), bare);
}

#[test]
fn codes_names_statics_and_odd_keys() {
    let config = serde_json::json!({
        " STCHA": {"oid": "1.3.6.1.4.1.39059.1.0.2",
            "2": {"dest": "nameService", "origin": "audit", "value": "detail.nameService"},
            "1": {"dest": "name gateway", "origin": "env", "value": "hostname"},
            "3": {"dest": "nameEvent", "origin": "static", "value": "say \"${hi}\""}},
        "eventinfo": {"oid": "1.3.6.1.4.1.39059.1.0.9",
            "1": {"oid": "1.3.6.1.4.1.39059.1.1.1.1.3", "dest": "in", "origin": "audit", "value": "details.odd-key"}},
        "SNMPAuthenficationFailure ": {"oid": "1.3.6.1.4.1.39059.1.0.8"}
    });
    let rules = import(config.to_string().as_bytes()).unwrap();
    common::snapshot_settings().bind(|| insta::assert_snapshot!("import_variants", rules));
    let rules = load(&rules);
    let audit = serde_json::json!({"source": "STCHA", "severity": "INFORMATION",
        "detail": {"nameService": "svc"}, "timestamp": "2026-11-21T09:15:42.317Z"});
    let trap = rules.traps(&audit, &Params::new()).remove(0).unwrap();
    let values: Vec<String> = trap.varbinds.iter().map(|v| v.value.to_string()).collect();
    assert_eq!(
        values,
        ["\"gw-poste-1\"", "\"svc\"", "\"say \\\"${hi}\\\"\""]
    );
}

#[test]
fn bad_configurations_are_named() {
    let cases = [
        (
            r#"{"stateLnk": {"oid": "1.3.6.1"}}"#,
            "`stateLnk`: not an audit name or code; did you mean `stateLink`?",
        ),
        (
            r#"{"STLNK": {"1": {"dest": "a", "origin": "audit", "value": "source"}}}"#,
            "`STLNK`: `oid` is missing",
        ),
        (
            r#"{"STLNK": {"oid": "1.3.x"}}"#,
            "`STLNK`: `oid` \"1.3.x\" is not an OID: arc \"x\" is not a number from 0 to 4294967295",
        ),
        (
            r#"{"STLNK": {"oid": "1.3.6", "8x": {}}}"#,
            "`STLNK`: `8x` is not an object index (\"1\" to \"128\")",
        ),
        (
            r#"{"STLNK": {"oid": "1.3.6", "1": {"dest": "a", "origin": "file", "value": "x"}}}"#,
            "`STLNK.1`: origin `file` is not one of audit, env, static",
        ),
        (
            r#"{"STLNK": {"oid": "1.3.6", "1": {"dest": "a", "origin": "audit"}}}"#,
            "`STLNK.1`: `value` is missing",
        ),
        (
            r#"[1, 2]"#,
            "expected a JSON object of audit bindings, found a list",
        ),
        (
            r#"{"link_audit_trap": {"default": "{not json"}}"#,
            "the link_audit_trap item's default is not valid JSON: key must be a string at line 1 column 2",
        ),
    ];
    for (input, message) in cases {
        let error: ImportError = import(input.as_bytes()).unwrap_err();
        assert_eq!(error.to_string(), message, "{input}");
    }
}

#[test]
fn cli_prints_rules_that_load() {
    let output = std::process::Command::new(common::bin("monbridge"))
        .args(["import", "link-audit-trap", "-"])
        .stdin(std::fs::File::open(common::fixture("fledge/plugin_config_item.json")).unwrap())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    load(&String::from_utf8(output.stdout).unwrap());

    let output = std::process::Command::new(common::bin("monbridge"))
        .args([
            "import",
            "link-audit-trap",
            common::fixture("fledge/bad/not_json.txt").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not JSON"));
}
