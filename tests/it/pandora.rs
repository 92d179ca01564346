//! Integration tests: the Pandora FMS sink (agent XML and atomic spool writes), checked
//! against Perl `XML::Simple` called exactly as Pandora's data server calls it.

use std::path::Path;

use monbridge::record::Agent;
use monbridge::sink::pandora::{
    Problem, SpoolError, file_stem, render_agent, write_agent, write_data_file,
};
use serde_json::Value;

use crate::common;
use crate::common::pandora::{
    ExpectedModule, FIXED_SECONDS, SITE_AGENT_NAME, agent, fixed_now, installed_sax_parsers,
    listing, module, pandora_parse, site_agent, special_agent, special_expected, spool_match,
};

// ---------------------------------------------------------------------------------------
// XML snapshots

#[test]
fn site_agent_xml() {
    let xml = render_agent(&site_agent(), &fixed_now()).expect("a valid agent");
    common::snapshot_settings().bind(|| insta::assert_snapshot!("pandora_site_agent", xml));
}

#[test]
fn special_characters_xml() {
    let xml = render_agent(&special_agent(), &fixed_now()).expect("a valid agent");
    assert!(!xml.contains('\u{1}') && !xml.contains('\u{0}') && !xml.contains('\u{7}'));
    assert!(!xml.contains('\r'), "CR never reaches the file raw");
    common::snapshot_settings().bind(|| insta::assert_snapshot!("pandora_special_characters", xml));
}

#[test]
fn timestamp_is_the_local_wall_time_of_now() {
    let now: jiff::Zoned = "2024-07-10T10:05:00+02:00[+02:00]".parse().expect("a time");
    let xml = render_agent(&site_agent(), &now).expect("a valid agent");
    assert!(
        xml.contains(r#" timestamp="2024/07/10 10:05:00">"#),
        "{xml}"
    );
}

#[test]
fn a_rule_timestamp_replaces_the_clock() {
    let mut agent = site_agent();
    agent
        .attributes
        .push(("timestamp".into(), "2020/01/02 03:04:05".into()));
    let xml = render_agent(&agent, &fixed_now()).expect("a valid agent");
    assert_eq!(xml.matches("timestamp=").count(), 1, "{xml}");
    assert!(xml.contains(r#"timestamp="2020/01/02 03:04:05""#), "{xml}");
}

// ---------------------------------------------------------------------------------------
// Round trip through Perl XML::Simple, as the data server parses

/// The value Pandora reads for a `<module>` child: `forcearray` makes every child an array.
fn child<'a>(module: &'a Value, tag: &str) -> Option<&'a str> {
    let values = module.get(tag)?.as_array()?;
    assert_eq!(values.len(), 1, "one <{tag}> in {module}");
    values[0].as_str()
}

fn modules(parsed: &Value) -> &Vec<Value> {
    parsed["module"]
        .as_array()
        .unwrap_or_else(|| panic!("`module` is an array: {parsed}"))
}

/// Asserts each parsed module has exactly the given children (besides name/type/data).
fn assert_modules(parsed: &Value, expected: &[ExpectedModule]) {
    let parsed_modules = modules(parsed);
    assert_eq!(parsed_modules.len(), expected.len(), "{parsed}");
    for (module, (name, module_type, data, fields)) in parsed_modules.iter().zip(expected) {
        assert_eq!(child(module, "name"), Some(*name), "{module}");
        assert_eq!(child(module, "type"), Some(*module_type), "{module}");
        assert_eq!(child(module, "data"), Some(*data), "{module}");
        for (tag, value) in *fields {
            assert_eq!(child(module, tag), Some(*value), "<{tag}> in {module}");
        }
        let keys = module.as_object().map(|o| o.len()).unwrap_or_default();
        assert_eq!(keys, 3 + fields.len(), "no other children in {module}");
    }
}

fn attribute<'a>(parsed: &'a Value, key: &str) -> Option<&'a str> {
    parsed.get(key)?.as_str()
}

/// Parses with the default backend (what Pandora gets) and with each installed one.
fn parse_with_every_backend(file: &Path, check: impl Fn(&Value)) {
    let parsed = pandora_parse(file, None).unwrap_or_else(|e| panic!("XMLin failed: {e}"));
    check(&parsed);
    for parser in installed_sax_parsers() {
        let parsed = pandora_parse(file, Some(&parser))
            .unwrap_or_else(|e| panic!("XMLin with {parser} failed: {e}"));
        check(&parsed);
    }
}

#[test]
fn xml_simple_reads_the_site_agent() {
    let dir = tempfile::tempdir().expect("a spool directory");
    let path = write_agent(dir.path(), &site_agent(), &fixed_now()).expect("written");
    parse_with_every_backend(&path, |parsed| {
        assert_eq!(attribute(parsed, "agent_name"), Some(SITE_AGENT_NAME));
        assert_eq!(
            attribute(parsed, "agent_alias"),
            Some("MIST_Mist Office_US")
        );
        assert_eq!(attribute(parsed, "group"), Some("Mist"));
        assert_eq!(attribute(parsed, "interval"), Some("300"));
        assert_eq!(attribute(parsed, "os_name"), Some("Other"));
        assert_eq!(attribute(parsed, "timestamp"), Some("2024/07/10 10:05:00"));
        assert_modules(
            parsed,
            &[
                ("Total devices connected", "generic_data", "3", &[]),
                ("Total devices not connected", "generic_data", "1", &[]),
                (
                    "ap_Phoenix_5c5b35d0077b",
                    "generic_proc",
                    "1",
                    &[("description", "IP: 192.168.95.3. Status: connected")],
                ),
                (
                    "ap_Lobby-AP_5c5b35d00a11",
                    "generic_proc",
                    "0",
                    &[("description", "IP: 192.168.95.4. Status: disconnected")],
                ),
                (
                    "switch_xg50b_dc38e1dbf3cd",
                    "generic_proc",
                    "1",
                    &[
                        ("description", "IP: 192.168.95.10. Status: connected"),
                        ("unit", "state"),
                    ],
                ),
            ],
        );
    });
}

#[test]
fn xml_simple_reads_special_characters_back() {
    let dir = tempfile::tempdir().expect("a spool directory");
    let path = write_agent(dir.path(), &special_agent(), &fixed_now()).expect("written");
    parse_with_every_backend(&path, |parsed| {
        assert_eq!(
            attribute(parsed, "agent_name"),
            Some(special_expected::AGENT_NAME)
        );
        assert_eq!(
            attribute(parsed, "agent_alias"),
            Some(special_expected::AGENT_ALIAS)
        );
        assert_eq!(attribute(parsed, "group"), Some(special_expected::GROUP));
        assert_eq!(
            attribute(parsed, "description"),
            Some(special_expected::DESCRIPTION)
        );
        assert_modules(parsed, &special_expected::MODULES);
    });
}

/// The peer is strict: what the hygiene removes really does break Pandora's parser.
#[test]
fn xml_simple_rejects_what_the_hygiene_removes() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let good = render_agent(&site_agent(), &fixed_now()).expect("a valid agent");
    let cases = [
        ("control character", good.replace("Phoenix", "Pho\u{1}enix")),
        (
            "raw ]]> in CDATA",
            good.replace("Status: connected", "a]]>b"),
        ),
        (
            "raw apostrophe",
            good.replace("group=\"Mist\"", "group='Mist's'"),
        ),
    ];
    let file = dir.path().join("case.xml");
    std::fs::write(&file, &good).expect("written");
    assert!(
        pandora_parse(&file, None).is_ok(),
        "the unbroken file parses"
    );
    for (what, xml) in cases {
        std::fs::write(&file, xml).expect("written");
        assert!(
            pandora_parse(&file, None).is_err(),
            "XML::Simple accepted a file with a {what}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Validation: an error naming the agent and the problem, never a file

fn rejected(agent: &Agent) -> Problem {
    let dir = tempfile::tempdir().expect("a spool directory");
    let error = write_agent(dir.path(), agent, &fixed_now()).expect_err("refused");
    assert!(
        listing(dir.path()).is_empty(),
        "nothing written for {error}"
    );
    assert!(
        error.to_string().contains(&format!("{:?}", agent.name)),
        "the message names the agent: {error}"
    );
    match render_agent(agent, &fixed_now()) {
        Err(SpoolError::Invalid { problem, .. }) => problem,
        other => panic!("expected an invalid agent, got {other:?}"),
    }
}

fn simple(name: &str) -> Agent {
    agent(
        name,
        &[("group", "Mist")],
        vec![module("m", "generic_data", "1", &[])],
    )
}

#[test]
fn empty_or_blank_agent_names_are_refused() {
    for name in ["", "   ", "\t\n", "\u{1}\u{2}"] {
        assert_eq!(rejected(&simple(name)), Problem::EmptyAgentName, "{name:?}");
    }
}

#[test]
fn empty_module_names_are_refused() {
    let mut agent = simple("site");
    agent.modules.push(module("", "generic_data", "1", &[]));
    assert_eq!(rejected(&agent), Problem::EmptyModuleName { position: 2 });
    agent.modules[1].name = " \r\n\u{1}".into();
    assert_eq!(rejected(&agent), Problem::EmptyModuleName { position: 2 });
}

#[test]
fn duplicate_module_names_are_refused() {
    let mut agent = simple("site");
    agent.modules.push(module("m", "generic_proc", "0", &[]));
    assert_eq!(rejected(&agent), Problem::DuplicateModule("m".into()));
    // Names equal once cleaned are the same module to Pandora.
    agent.modules[0].name = "a\nb".into();
    agent.modules[1].name = "a\r\nb\u{1}".into();
    assert_eq!(rejected(&agent), Problem::DuplicateModule("a b".into()));
}

#[test]
fn attribute_names_must_be_xml_names() {
    for bad in ["1st", "a b", "a:b", "x=\"y\"", "", "xmlns", "café"] {
        let mut agent = simple("site");
        agent.attributes.push((bad.into(), "v".into()));
        assert_eq!(
            rejected(&agent),
            Problem::BadAttributeName(bad.into()),
            "{bad:?}"
        );
    }
}

#[test]
fn attributes_that_change_the_file_meaning_are_refused() {
    for reserved in [
        "server_name",
        "connection_source",
        "ipam_source",
        "agent_name",
        "module",
    ] {
        let mut agent = simple("site");
        agent.attributes.push((reserved.into(), "v".into()));
        match rejected(&agent) {
            Problem::ReservedAttribute { name, .. } => assert_eq!(name, reserved),
            other => panic!("{reserved}: {other:?}"),
        }
    }
}

#[test]
fn duplicate_attributes_are_refused() {
    let mut agent = simple("site");
    agent.attributes.push(("group".into(), "Other".into()));
    assert_eq!(
        rejected(&agent),
        Problem::DuplicateAttribute("group".into())
    );
}

#[test]
fn fields_named_like_the_fixed_children_are_refused() {
    for reserved in ["name", "type", "data", "datalist"] {
        let agent = agent(
            "site",
            &[],
            vec![module("m", "generic_data", "1", &[(reserved, "x")])],
        );
        assert_eq!(
            rejected(&agent),
            Problem::ReservedField {
                module: "m".into(),
                field: reserved.into()
            }
        );
    }
    let agent = agent(
        "site",
        &[],
        vec![module("m", "generic_data", "1", &[("bad field", "x")])],
    );
    assert_eq!(
        rejected(&agent),
        Problem::BadFieldName {
            module: "m".into(),
            field: "bad field".into()
        }
    );
}

// ---------------------------------------------------------------------------------------
// Spool: names, atomicity, no clobbering, nothing left on failure

fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|name| name.to_str())
        .expect("a UTF-8 file name")
}

#[test]
fn data_file_name_is_md5_dot_seconds_and_matches_the_server_pattern() {
    let dir = tempfile::tempdir().expect("a spool directory");
    let path = write_agent(dir.path(), &site_agent(), &fixed_now()).expect("written");
    assert_eq!(path.parent(), Some(dir.path()));
    // md5 of SITE_AGENT_NAME, computed with md5sum.
    let md5 = "605ab1a44cd513aca4267efccb64957f";
    assert_eq!(file_stem(SITE_AGENT_NAME), md5);
    assert_eq!(file_name(&path), format!("{md5}.{FIXED_SECONDS}.data"));
    assert_eq!(
        spool_match(&[file_name(&path)]),
        vec![Some(md5.to_owned())],
        "the data server queues it, with the agent's md5 as lock key"
    );
    assert_eq!(listing(dir.path()), vec![file_name(&path).to_owned()]);
    let written = std::fs::read_to_string(&path).expect("readable");
    assert_eq!(
        written,
        render_agent(&site_agent(), &fixed_now()).expect("valid")
    );
}

#[test]
fn the_file_name_uses_the_cleaned_agent_name() {
    let dir = tempfile::tempdir().expect("a spool directory");
    let path = write_agent(dir.path(), &special_agent(), &fixed_now()).expect("written");
    let stem = file_stem(special_expected::AGENT_NAME);
    assert_eq!(file_name(&path), format!("{stem}.{FIXED_SECONDS}.data"));
}

#[test]
fn the_same_agent_twice_in_one_second_gives_two_files() {
    let dir = tempfile::tempdir().expect("a spool directory");
    let first = write_agent(dir.path(), &site_agent(), &fixed_now()).expect("first");
    let second = write_agent(dir.path(), &site_agent(), &fixed_now()).expect("second");
    assert_ne!(first, second);
    let stem = file_stem(SITE_AGENT_NAME);
    assert_eq!(
        file_name(&second),
        format!("{stem}.{}.data", FIXED_SECONDS + 1)
    );
    let names = [file_name(&first), file_name(&second)];
    assert_eq!(
        spool_match(&names),
        vec![Some(stem.clone()), Some(stem.clone())],
        "both are queued under the same lock key"
    );
    assert_eq!(listing(dir.path()).len(), 2);
}

#[test]
fn an_existing_file_is_never_replaced() {
    let dir = tempfile::tempdir().expect("a spool directory");
    let stem = file_stem(SITE_AGENT_NAME);
    let taken = dir.path().join(format!("{stem}.{FIXED_SECONDS}.data"));
    std::fs::write(&taken, "older data").expect("written");
    // A directory in the way counts as taken too.
    std::fs::create_dir(
        dir.path()
            .join(format!("{stem}.{}.data", FIXED_SECONDS + 1)),
    )
    .expect("created");
    let path = write_agent(dir.path(), &site_agent(), &fixed_now()).expect("written");
    assert_eq!(
        file_name(&path),
        format!("{stem}.{}.data", FIXED_SECONDS + 2)
    );
    assert_eq!(
        std::fs::read_to_string(&taken).expect("readable"),
        "older data"
    );
}

#[test]
fn the_data_file_appears_only_through_the_rename() {
    let dir = tempfile::tempdir().expect("a spool directory");
    let mut seen_while_writing = Vec::new();
    let path = write_data_file(dir.path(), SITE_AGENT_NAME, &fixed_now(), |file| {
        use std::io::Write;
        file.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")?;
        seen_while_writing = listing(dir.path());
        file.write_all(b"<agent_data agent_name=\"x\"></agent_data>\n")
    })
    .expect("written");

    assert_eq!(seen_while_writing.len(), 1, "{seen_while_writing:?}");
    let temp = &seen_while_writing[0];
    let stem = file_stem(SITE_AGENT_NAME);
    assert!(
        temp.starts_with(&format!(".{stem}.")) && temp.ends_with(".tmp"),
        "a hidden temporary file: {temp}"
    );
    assert_eq!(
        spool_match(&[temp]),
        vec![None],
        "the data server ignores the temporary file"
    );
    assert_eq!(listing(dir.path()), vec![file_name(&path).to_owned()]);
}

#[test]
fn a_write_failing_midway_leaves_nothing() {
    let dir = tempfile::tempdir().expect("a spool directory");
    let mut seen_while_writing = Vec::new();
    let error = write_data_file(dir.path(), SITE_AGENT_NAME, &fixed_now(), |file| {
        use std::io::Write;
        file.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<agent_da")?;
        seen_while_writing = listing(dir.path());
        Err(std::io::Error::other("disk full (injected)"))
    })
    .expect_err("the failure is reported");

    assert_eq!(
        seen_while_writing.len(),
        1,
        "only the temporary file existed"
    );
    assert!(listing(dir.path()).is_empty(), "the temporary file is gone");
    match &error {
        SpoolError::Write {
            agent,
            path,
            source,
        } => {
            assert_eq!(agent, SITE_AGENT_NAME);
            assert_eq!(
                path.file_name().and_then(|n| n.to_str()),
                Some(seen_while_writing[0].as_str())
            );
            assert_eq!(source.to_string(), "disk full (injected)");
        }
        other => panic!("expected a write error, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains(SITE_AGENT_NAME) && message.contains("disk full"),
        "{message}"
    );
}

#[test]
fn a_missing_spool_directory_is_an_error_and_creates_nothing() {
    let parent = tempfile::tempdir().expect("a scratch directory");
    let missing = parent.path().join("data_in");
    let error = write_agent(&missing, &site_agent(), &fixed_now()).expect_err("refused");
    match &error {
        SpoolError::CreateTemp { agent, dir, source } => {
            assert_eq!(agent, SITE_AGENT_NAME);
            assert_eq!(dir, &missing);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected a temporary file error, got {other:?}"),
    }
    assert!(
        error.to_string().contains(&missing.display().to_string()),
        "{error}"
    );
    assert!(listing(parent.path()).is_empty());
}

#[test]
fn a_spool_path_that_is_a_file_is_an_error() {
    let parent = tempfile::tempdir().expect("a scratch directory");
    let not_a_dir = parent.path().join("data_in");
    std::fs::write(&not_a_dir, "").expect("written");
    let error = write_agent(&not_a_dir, &site_agent(), &fixed_now()).expect_err("refused");
    assert!(matches!(error, SpoolError::CreateTemp { .. }), "{error:?}");
    assert_eq!(listing(parent.path()), vec!["data_in".to_owned()]);
}

#[test]
fn spool_errors_name_the_agent_as_the_record_has_it() {
    let parent = tempfile::tempdir().expect("a scratch directory");
    let record = special_agent();
    let error =
        write_agent(&parent.path().join("missing"), &record, &fixed_now()).expect_err("refused");
    assert_eq!(error.agent(), record.name, "not the cleaned name");
}
