//! Integration tests: `monbridge check` against MIBs. The shipped rules match the shipped
//! MIBs (embedded or given as files), each kind of disagreement is reported at the rule
//! with the MIB line, our SMI reader agrees with smidump on PMC-MIB, and a broken MIB is
//! an error naming its file and line.

use std::path::Path;
use std::process::Output;

use monbridge::lang::diag::Code;
use monbridge::lang::{LoadOptions, RuleSet};
use monbridge::mib::{Kind, MibSet, SmiType};

use crate::common;
use crate::common::mib::{MibKind, load_pmc_mib, mibs_dir, pmc_mib_path};

use common::monbridge;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn snapshot_stderr(name: &str, output: &Output) {
    let stderr = text(&output.stderr);
    common::snapshot_settings().bind(|| insta::assert_snapshot!(name, stderr));
}

fn default_rules() -> RuleSet {
    RuleSet::load(&LoadOptions {
        dir: None,
        env: [("hostname".to_owned(), "gw".to_owned())].into(),
    })
    .unwrap_or_else(|e| panic!("{}", e.render(false)))
}

const BAD: &str = "tests/fixtures/mib_check/bad";
const OWN_MIB: &str = "tests/fixtures/mib_check/own/TEST-MIB.txt";

#[test]
fn shipped_rules_match_the_embedded_mibs() {
    let output = monbridge(&["check", "--deny-warnings"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("ok: trap bindings match PMC-MIB (<embedded>/PMC-MIB.txt)"),
        "{}",
        text(&output.stdout)
    );
    assert_eq!(text(&output.stderr), "");
}

#[test]
fn shipped_rules_match_the_mib_files() {
    let framework = "mibs/ietf/SNMP-FRAMEWORK-MIB.txt";
    for mibs in [
        vec!["mibs/PMC-MIB.txt"],
        vec!["mibs/PMC-MIB.txt", "mibs/ietf"],
        vec!["mibs", framework],
    ] {
        let mut args = vec!["check", "--deny-warnings"];
        for mib in &mibs {
            args.extend(["--mib", mib]);
        }
        let output = monbridge(&args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{mibs:?}: {}",
            text(&output.stderr)
        );
        assert!(
            text(&output.stdout).contains("ok: trap bindings match PMC-MIB (mibs/PMC-MIB.txt)"),
            "{mibs:?}: {}",
            text(&output.stdout)
        );
    }
    let mibs = MibSet::load(&[pmc_mib_path(), mibs_dir().join("ietf")]).unwrap();
    assert_eq!(default_rules().check_mibs(&mibs), []);
}

/// One binding per mistake: an undefined notification, an object's OID as the
/// notification, an undefined object, `integer` for SnmpAdminString, objects out of order,
/// an object missing. Each diagnostic names the PMC-MIB line.
#[test]
fn each_disagreement_names_the_rule_and_the_mib_line() {
    let output = monbridge(&["check", "--rules", BAD]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    for (code, rule_line, mib_line) in [
        (
            "E0401",
            "bad/audit.rules:15:10",
            "<embedded>/PMC-MIB.txt:44:",
        ),
        (
            "E0401",
            "bad/audit.rules:22:10",
            "<embedded>/PMC-MIB.txt:111:",
        ),
        (
            "E0402",
            "bad/audit.rules:32:5",
            "<embedded>/PMC-MIB.txt:47:",
        ),
        (
            "E0403",
            "bad/audit.rules:42:5",
            "<embedded>/PMC-MIB.txt:83:",
        ),
        (
            "E0405",
            "bad/audit.rules:52:5",
            "<embedded>/PMC-MIB.txt:168:",
        ),
        (
            "E0406",
            "bad/audit.rules:61:6",
            "<embedded>/PMC-MIB.txt:177:",
        ),
    ] {
        let block = stderr
            .split("\n\n")
            .find(|b| b.contains(&format!("[{code}]")) && b.contains(rule_line))
            .unwrap_or_else(|| panic!("no {code} at {rule_line} in\n{stderr}"));
        assert!(
            block.contains(mib_line),
            "{code} without {mib_line}:\n{block}"
        );
    }
    assert!(stderr.ends_with("error: trap bindings disagree with the MIBs: 6 errors\n"));
    snapshot_stderr("mib_check_bad", &output);

    // The same with the MIB files named: the notes name them instead.
    let output = monbridge(&["check", "--rules", BAD, "--mib", "mibs/PMC-MIB.txt"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("= note: mibs/PMC-MIB.txt:83: `pmcLabelVariable` SYNTAX SnmpAdminString (SIZE (0..255)), an OCTET STRING"));

    // And none of it without the MIB check.
    let output = monbridge(&["check", "--rules", BAD, "--no-mib"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
}

#[test]
fn codes_of_the_mib_check_are_errors_but_w0401() {
    let rules = RuleSet::load(&LoadOptions {
        dir: Some(common::repo_root().join(BAD)),
        env: Default::default(),
    })
    .unwrap();
    let found = rules.check_mibs(&MibSet::embedded().unwrap());
    let codes: Vec<Code> = found.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        [
            Code::E0401,
            Code::E0401,
            Code::E0402,
            Code::E0403,
            Code::E0405,
            Code::E0406
        ]
    );
}

/// A MIB of one's own: SIZE and range of constants, an object beyond OBJECTS (a warning),
/// and the base modules it imports taken from the embedded ones.
#[test]
fn own_mib_size_range_and_extra_objects() {
    let output = monbridge(&[
        "check",
        "--rules",
        "tests/fixtures/mib_check/own/bad",
        "--mib",
        OWN_MIB,
    ]);
    assert_eq!(output.status.code(), Some(1));
    snapshot_stderr("mib_check_own", &output);

    let good = ["check", "--rules", "tests/fixtures/mib_check/own/good"];
    let output = monbridge(&[&good[..], &["--mib", OWN_MIB]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains(&format!("ok: trap bindings match TEST-MIB ({OWN_MIB})"))
    );
    // Against the default MIBs the same rules send what PMC-MIB does not define.
    let output = monbridge(&good);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("[E0401]"));
}

#[test]
fn an_extra_object_warns_and_fails_only_with_deny_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(common::repo_root().join("rules/audit.rules")).unwrap();
    let extra = shipped.replacen(
        "    5 valueVariable = audit.detail.valueLink\n",
        "    5 valueVariable = audit.detail.valueLink\n    8 upTime oid 1.3.6.1.2.1.1.3 : timeticks = 0\n",
        1,
    );
    assert_ne!(extra, shipped);
    std::fs::write(dir.path().join("audit.rules"), extra).unwrap();
    let rules = dir.path().to_str().unwrap();
    let lenient = monbridge(&["check", "--rules", rules]);
    assert_eq!(lenient.status.code(), Some(0));
    let stderr = text(&lenient.stderr);
    assert!(
        stderr.contains(
            "warning[W0401]: object `upTime` (`sysUpTime`) is not in `pmcStateLink`'s OBJECTS"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("<embedded>/PMC-MIB.txt:125: `pmcStateLink` OBJECTS {"),
        "{stderr}"
    );
    let strict = monbridge(&["check", "--rules", rules, "--deny-warnings"]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(text(&strict.stderr).contains("1 warning denied by --deny-warnings"));
}

#[test]
fn a_broken_mib_is_an_error_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let pmc = std::fs::read_to_string(pmc_mib_path()).unwrap();
    let cases = [
        (
            "unclosed.txt",
            pmc.replacen("::= { pmcAuditVars 7 }", "::= { pmcAuditVars 7", 1),
            "unclosed.txt:118: pmcDate: OID value not closed by `}` (or `pmcStateLink`, on line 124, without its number `pmcStateLink(N)`)",
        ),
        ("no-end.txt", pmc.replace("\nEND", "\n"), "no-end.txt:"),
        (
            "unknown-type.txt",
            pmc.replacen(
                "SnmpAdminString (SIZE (0..255))",
                "SnmpAdminStrin (SIZE (0..255))",
                1,
            ),
            "unknown-type.txt:57: type SnmpAdminStrin is neither defined in PMC-MIB nor imported",
        ),
        (
            "missing-import.txt",
            pmc.replacen("FROM SNMP-FRAMEWORK-MIB;", "FROM SNMP-FRAMEWORK-MIBB;", 1),
            "missing-import.txt:18: PMC-MIB imports SnmpAdminString from SNMP-FRAMEWORK-MIBB, which none of the MIB files defines (give it with --mib)",
        ),
        (
            "binary.txt",
            "PMC-MIB DEFINITIONS ::= BEGIN\n\u{7}\nEND".to_owned(),
            "binary.txt:2: unexpected character '\\u{7}'",
        ),
    ];
    for (name, text_of_mib, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text_of_mib).unwrap();
        let output = monbridge(&["check", "--mib", path.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(1), "{name}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.starts_with("error: MIB not read: "),
            "{name}: {stderr}"
        );
        assert!(
            stderr.contains(expected),
            "{name}: expected {expected:?} in {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
    }
    let missing = monbridge(&["check", "--mib", "no/such/MIB.txt"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).starts_with("error: MIB not read: no/such/MIB.txt: "));
    let not_utf8 = dir.path().join("latin1.txt");
    std::fs::write(&not_utf8, b"X DEFINITIONS ::= BEGIN -- \xe9\nEND\n").unwrap();
    let output = monbridge(&["check", "--mib", not_utf8.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("latin1.txt: stream did not contain valid UTF-8"));
}

/// Every prefix of PMC-MIB, cut anywhere, reads or fails with an error: never a panic.
#[test]
fn truncated_mibs_never_panic() {
    let pmc = std::fs::read_to_string(pmc_mib_path()).unwrap();
    let mut errors = 0;
    for cut in (0..pmc.len()).filter(|&i| pmc.is_char_boundary(i)) {
        let result = MibSet::from_sources(vec![("PMC-MIB.txt".to_owned(), pmc[..cut].to_owned())]);
        if let Err(error) = result {
            assert!(error.to_string().starts_with("PMC-MIB.txt:"), "{error}");
            errors += 1;
        }
    }
    assert!(errors > pmc.len() / 2, "most prefixes are broken modules");
    assert!(MibSet::from_sources(vec![("PMC-MIB.txt".to_owned(), pmc)]).is_ok());
}

/// Our reader and smidump (libsmi) see the same PMC-MIB: names, OIDs, base types, SIZE,
/// OBJECTS.
#[test]
fn reader_agrees_with_smidump() {
    let smidump = load_pmc_mib();
    let ours = MibSet::load(&[pmc_mib_path()]).unwrap();
    for entry in &smidump.entries {
        let def = ours
            .by_oid(&entry.oid)
            .unwrap_or_else(|| panic!("{} ({}) not read", entry.name, entry.oid));
        assert_eq!(def.name, entry.name);
        assert_eq!(def.module, "PMC-MIB");
        match (&entry.kind, &def.kind) {
            (MibKind::Object(theirs), Kind::Object(mine)) => {
                assert_eq!(theirs.base_type, "OctetString", "{}", entry.name);
                assert_eq!(mine.base, SmiType::OctetString, "{}", entry.name);
                assert_eq!(mine.convention, theirs.type_name, "{}", entry.name);
                let (min, max) = theirs.range.clone().unwrap();
                assert_eq!(
                    mine.size,
                    Some(vec![(min.parse().unwrap(), max.parse().unwrap())]),
                    "{}",
                    entry.name
                );
                assert_eq!(mine.base.snmp_type(), theirs.snmp_type());
            }
            (
                MibKind::Notification { objects: theirs },
                Kind::Notification { objects: mine, .. },
            ) => {
                let mine: Vec<&String> = mine.iter().map(|(name, _)| name).collect();
                assert_eq!(mine, theirs.iter().collect::<Vec<_>>(), "{}", entry.name);
            }
            (theirs, mine) => panic!("{}: smidump {theirs:?}, ours {mine:?}", entry.name),
        }
    }
    let line_of = |needle: &str| {
        let text = std::fs::read_to_string(pmc_mib_path()).unwrap();
        text.lines()
            .position(|l| l.starts_with(needle))
            .map(|i| i as u32 + 1)
    };
    let date = ours.by_name("pmcDate").unwrap();
    assert_eq!(Some(date.line), line_of("pmcDate OBJECT-TYPE"));
    assert_eq!(
        date.file,
        Path::new("mibs")
            .join("PMC-MIB.txt")
            .display()
            .to_string()
            .replace("mibs", &mibs_dir().display().to_string())
    );
}
