//! Integration tests: PMC-MIB. smilint (smitools) finds nothing worse than notes in it,
//! net-snmp resolves every name to its OID from the vendored base modules alone, and the
//! smidump-based loader sees the layout the rules rely on.

use monbridge::record::{Oid, SnmpType};

use crate::common::mib::{
    MibKind, PMC_NOTIFICATIONS, PMC_OBJECTS, ietf_mibs_dir, load_pmc_mib, mib_search_path,
    mibs_dir, pmc_mib_path, run_tool,
};

/// smilint's report lines at levels 1 to 4 (errors and review warnings) for one MIB file.
/// smilint exits 0 even on errors, so its output is the verdict.
fn smilint_problems(mib: &std::path::Path, search_path: &str) -> (Vec<String>, String) {
    let mib = mib.to_string_lossy();
    let output = run_tool(
        "smilint",
        "smitools",
        &["-s", "-m", "-l", "6", &mib],
        &[("SMIPATH", search_path)],
    );
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let problems = report
        .lines()
        .filter(|line| {
            ["[1]", "[2]", "[3]", "[4]"]
                .iter()
                .any(|l| line.contains(l))
        })
        .map(str::to_owned)
        .collect();
    (problems, report)
}

#[test]
fn smilint_finds_nothing_at_levels_1_to_4() {
    let (problems, report) = smilint_problems(&pmc_mib_path(), &mib_search_path());
    assert!(
        problems.is_empty(),
        "smilint found {} problem(s) in PMC-MIB:\n{report}",
        problems.len()
    );
}

/// The gate above can fail: the same MIB with one type misspelt is caught.
#[test]
fn smilint_catches_a_broken_copy() {
    let text = std::fs::read_to_string(pmc_mib_path()).expect("PMC-MIB.txt is readable");
    let broken = text.replacen(
        "SYNTAX      SnmpAdminString (SIZE",
        "SYNTAX      SnmpAdminStrin (SIZE",
        1,
    );
    assert_ne!(broken, text, "the SYNTAX line to break was not found");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let copy = dir.path().join("PMC-MIB.txt");
    std::fs::write(&copy, broken).expect("the copy is writable");
    let search_path = format!("{}:{}", ietf_mibs_dir().display(), dir.path().display());
    let (problems, report) = smilint_problems(&copy, &search_path);
    assert!(
        problems.iter().any(|p| p.contains("SnmpAdminStrin")),
        "smilint did not report the misspelt type:\n{report}"
    );
}

/// `snmptranslate` with only the vendored modules (`-M` replaces net-snmp's defaults)
/// and no configuration files.
fn snmptranslate(args: &[&str]) -> (String, String) {
    let config = tempfile::tempdir().expect("a temporary directory");
    let config = config.path().to_string_lossy().into_owned();
    let search_path = mib_search_path();
    let mut all = vec!["-M", &search_path];
    all.extend_from_slice(args);
    let output = run_tool("snmptranslate", "snmp", &all, &[("SNMPCONFPATH", &config)]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "snmptranslate {} failed ({}):\n{stdout}{stderr}",
        args.join(" "),
        output.status
    );
    (stdout, stderr)
}

#[test]
fn snmptranslate_resolves_every_name() {
    let structure = [
        ("pmcMIB", "1.3.6.1.4.1.39059.1"),
        ("pmcNotifications", "1.3.6.1.4.1.39059.1.0"),
        ("pmcObjects", "1.3.6.1.4.1.39059.1.1"),
        ("pmcAudit", "1.3.6.1.4.1.39059.1.1.1"),
        ("pmcAuditVars", "1.3.6.1.4.1.39059.1.1.1.1"),
        ("pmcConformance", "1.3.6.1.4.1.39059.1.2"),
        ("pmcGroups", "1.3.6.1.4.1.39059.1.2.1"),
        ("pmcCompliances", "1.3.6.1.4.1.39059.1.2.2"),
        ("pmcAuditObjectGroup", "1.3.6.1.4.1.39059.1.2.1.1"),
        ("pmcNotificationGroup", "1.3.6.1.4.1.39059.1.2.1.2"),
        ("pmcCompliance", "1.3.6.1.4.1.39059.1.2.2.1"),
    ];
    let names = structure
        .into_iter()
        .chain(PMC_OBJECTS)
        .chain(PMC_NOTIFICATIONS.map(|(name, oid, _)| (name, oid)));
    for (name, oid) in names {
        let qualified = format!("PMC-MIB::{name}");
        let (stdout, stderr) = snmptranslate(&["-m", "PMC-MIB", "-On", &qualified]);
        assert_eq!(stdout.trim(), format!(".{oid}"), "{name}");
        assert!(stderr.trim().is_empty(), "{name}: {stderr}");
    }
}

#[test]
fn snmptranslate_describes_each_object_and_notification() {
    for (name, _) in PMC_OBJECTS {
        let (description, _) =
            snmptranslate(&["-m", "PMC-MIB", "-Td", &format!("PMC-MIB::{name}")]);
        for part in [
            "-- TEXTUAL CONVENTION SnmpAdminString",
            "SYNTAX\tOCTET STRING (0..255)",
            "MAX-ACCESS\taccessible-for-notify",
            "STATUS\tcurrent",
        ] {
            assert!(
                description.contains(part),
                "{name}: {part:?} not in\n{description}"
            );
        }
    }
    let objects = format!(
        "OBJECTS\t{{ {} }}",
        PMC_OBJECTS.map(|(name, _)| name).join(", ")
    );
    for (name, _, code) in PMC_NOTIFICATIONS {
        let (description, _) =
            snmptranslate(&["-m", "PMC-MIB", "-Td", &format!("PMC-MIB::{name}")]);
        assert!(description.contains(&objects), "{name}:\n{description}");
        assert!(
            description.contains(&format!("Audit {code}")),
            "{name} does not cite {code}:\n{description}"
        );
    }
}

/// net-snmp names the two varbinds every notification starts with from the vendored
/// SNMPv2-MIB.
#[test]
fn snmptranslate_knows_the_notification_header_objects() {
    for (name, oid) in [
        ("SNMPv2-MIB::sysUpTime.0", ".1.3.6.1.2.1.1.3.0"),
        ("SNMPv2-MIB::snmpTrapOID.0", ".1.3.6.1.6.3.1.1.4.1.0"),
    ] {
        let (stdout, _) = snmptranslate(&["-m", "SNMPv2-MIB", "-On", name]);
        assert_eq!(stdout.trim(), oid, "{name}");
    }
}

#[test]
fn loader_sees_seven_objects_and_eleven_notifications() {
    let mib = load_pmc_mib();
    let objects: Vec<(String, Oid)> = mib
        .objects()
        .map(|e| (e.name.clone(), e.oid.clone()))
        .collect();
    let expected: Vec<(String, Oid)> = PMC_OBJECTS
        .iter()
        .map(|(name, oid)| (name.to_string(), oid.parse().expect("a valid OID")))
        .collect();
    assert_eq!(objects, expected);
    for object in mib.objects() {
        let MibKind::Object(syntax) = &object.kind else {
            unreachable!("objects() yields objects")
        };
        assert_eq!(syntax.base_type, "OctetString", "{}", object.name);
        assert_eq!(
            syntax.type_name.as_deref(),
            Some("SnmpAdminString"),
            "{}",
            object.name
        );
        assert_eq!(
            syntax.range,
            Some(("0".to_owned(), "255".to_owned())),
            "{}",
            object.name
        );
        assert_eq!(syntax.access, "notifyonly", "{}", object.name);
        assert_eq!(syntax.snmp_type(), Some(SnmpType::OctetString));
    }

    let object_names: Vec<String> = PMC_OBJECTS.iter().map(|(n, _)| n.to_string()).collect();
    let notifications: Vec<(String, Oid, Vec<String>)> = mib
        .notifications()
        .map(|e| match &e.kind {
            MibKind::Notification { objects } => (e.name.clone(), e.oid.clone(), objects.clone()),
            MibKind::Object(_) => unreachable!("notifications() yields notifications"),
        })
        .collect();
    let expected: Vec<(String, Oid, Vec<String>)> = PMC_NOTIFICATIONS
        .iter()
        .map(|(name, oid, _)| {
            (
                name.to_string(),
                oid.parse().expect("a valid OID"),
                object_names.clone(),
            )
        })
        .collect();
    assert_eq!(notifications, expected);
    assert_eq!(mib.entries.len(), 18);

    let trap: Oid = "1.3.6.1.4.1.39059.1.0.1".parse().expect("a valid OID");
    assert_eq!(
        mib.by_oid(&trap).map(|e| e.name.as_str()),
        Some("pmcStateLink")
    );
    assert!(mib.by_name("pmcDate").is_some());
}

#[test]
fn loader_reads_other_syntaxes() {
    // A hand-written dump in smidump's format, with types PMC-MIB does not use, so the
    // loader is ready for objects other tests may add.
    let xml = r#"<?xml version="1.0"?>
<smi><nodes>
  <scalar name="c" oid="1.3.6.1.4.1.39059.9.1" status="current">
    <syntax><type module="SNMPv2-SMI" name="Counter32"/></syntax>
    <access>notifyonly</access>
  </scalar>
  <scalar name="i" oid="1.3.6.1.4.1.39059.9.2" status="current">
    <syntax><typedef basetype="Integer32"><range min="0" max="10"/></typedef></syntax>
    <access>readonly</access>
  </scalar>
</nodes><notifications>
  <notification name="n" oid="1.3.6.1.4.1.39059.9.0.1" status="current">
    <objects><object module="X" name="c"/><object module="X" name="i"/></objects>
  </notification>
</notifications></smi>"#;
    let mib = crate::common::mib::parse_smidump_xml(xml).expect("the dump parses");
    let types: Vec<Option<SnmpType>> = mib
        .objects()
        .map(|e| match &e.kind {
            MibKind::Object(syntax) => syntax.snmp_type(),
            MibKind::Notification { .. } => None,
        })
        .collect();
    assert_eq!(types, [Some(SnmpType::Counter32), Some(SnmpType::Integer)]);
    assert_eq!(
        mib.by_name("n").map(|e| &e.kind),
        Some(&MibKind::Notification {
            objects: vec!["c".to_owned(), "i".to_owned()]
        })
    );
}

#[test]
fn base_modules_are_vendored() {
    for module in [
        "SNMPv2-SMI",
        "SNMPv2-TC",
        "SNMPv2-CONF",
        "SNMPv2-MIB",
        "SNMP-FRAMEWORK-MIB",
    ] {
        let path = ietf_mibs_dir().join(format!("{module}.txt"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            text.trim_start()
                .starts_with(&format!("{module} DEFINITIONS ::= BEGIN")),
            "{} does not define {module}",
            path.display()
        );
    }
    assert!(mibs_dir().join("README.md").is_file());
    assert!(ietf_mibs_dir().join("README.md").is_file());
}

/// Every notification the default rules send is a NOTIFICATION-TYPE of PMC-MIB, and every
/// object it carries is an object of that notification, with a SYNTAX whose type is the
/// object's SNMP type.
#[test]
fn default_rules_send_only_what_the_mib_defines() {
    use monbridge::lang::Params;
    use monbridge::lang::{LoadOptions, RuleSet};

    let mib = load_pmc_mib();
    let rules = RuleSet::load(&LoadOptions {
        dir: None,
        env: [("hostname".to_owned(), "gw".to_owned())].into(),
    })
    .unwrap_or_else(|e| panic!("{}", e.render(false)));
    let audits = monbridge::source::audit::decode_input(&crate::common::read_fixture(
        "fledge/rest/audit_list_response.json",
    ));
    let mut codes_seen = 0;
    for audit in audits {
        let audit = audit.unwrap();
        for trap in rules.traps(&audit, &Params::new()) {
            let trap = trap.unwrap();
            codes_seen += 1;
            let notification = mib.by_oid(&trap.oid).unwrap_or_else(|| {
                panic!("{}: trap OID {} is not in PMC-MIB", trap.rule, trap.oid)
            });
            let MibKind::Notification { objects } = &notification.kind else {
                panic!("{}: {} is not a NOTIFICATION-TYPE", trap.rule, trap.oid);
            };
            let mut sent = Vec::new();
            for varbind in &trap.varbinds {
                let object = mib.by_oid(&varbind.oid).unwrap_or_else(|| {
                    panic!(
                        "{}: object {} ({}) is not in PMC-MIB",
                        trap.rule, varbind.name, varbind.oid
                    )
                });
                let MibKind::Object(syntax) = &object.kind else {
                    panic!("{}: {} is not an OBJECT-TYPE", trap.rule, varbind.oid);
                };
                assert_eq!(
                    syntax.snmp_type(),
                    Some(varbind.value.snmp_type()),
                    "{}: {} is sent as {} but PMC-MIB says {:?}",
                    trap.rule,
                    object.name,
                    varbind.value.snmp_type().smi_name(),
                    syntax
                );
                if let (monbridge::record::SnmpValue::OctetString(bytes), Some((_, max))) =
                    (&varbind.value, &syntax.range)
                {
                    let max: usize = max.parse().unwrap();
                    assert!(
                        bytes.len() <= max,
                        "{}: {} is longer than its SIZE",
                        trap.rule,
                        object.name
                    );
                }
                sent.push(object.name.clone());
            }
            assert_eq!(
                &sent, objects,
                "{}: objects differ from the notification's OBJECTS",
                trap.rule
            );
        }
    }
    assert_eq!(codes_seen, 11, "one notification per audit code");
}
