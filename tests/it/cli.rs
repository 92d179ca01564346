//! Integration tests: the `monbridge` command line (inspection commands, exit codes, streams).

use std::path::Path;
use std::process::{Command, Output};

use crate::common;

use common::monbridge;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit status, then stdout, then stderr: the whole observable behaviour of one run.
fn transcript(output: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        output.status.code().unwrap_or(-1),
        text(&output.stdout),
        text(&output.stderr)
    )
}

fn snapshot(name: &str, output: &Output) {
    common::snapshot_settings().bind(|| insta::assert_snapshot!(name, transcript(output)));
}

#[test]
fn help_for_every_command() {
    for args in [
        vec!["--help"],
        vec!["check", "--help"],
        vec!["render", "trap", "--help"],
        vec!["render", "mist", "--help"],
        vec!["explain", "--help"],
        vec!["test", "--help"],
        vec!["fmt", "--help"],
        vec!["mist", "--help"],
        vec!["trap", "send", "--help"],
        vec!["import", "link-audit-trap", "--help"],
        vec!["serve", "--help"],
        vec!["package", "pandora", "--help"],
        vec!["rules", "export", "--help"],
    ] {
        let output = monbridge(&args);
        assert!(output.status.success(), "{args:?}");
        let name = format!("cli_help_{}", args[..args.len() - 1].join("_"));
        let name = if args.len() == 1 {
            "cli_help".to_owned()
        } else {
            name
        };
        common::snapshot_settings().bind(|| insta::assert_snapshot!(name, text(&output.stdout)));
    }
}

#[test]
fn check_default_rules() {
    snapshot("cli_check_default", &monbridge(&["check"]));
}

#[test]
fn check_shows_warnings_and_fails_on_them_only_when_asked() {
    let shipped = monbridge(&["check", "--deny-warnings"]);
    assert_eq!(shipped.status.code(), Some(0), "{}", transcript(&shipped));
    assert!(shipped.stderr.is_empty(), "{}", transcript(&shipped));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("typo.rules"),
        "trap t when audit.source == \"STLINK\" {\n  oid 1.3.6.1.4.1.39059.1.0.1\n  1 a = audit.source\n}\n",
    )
    .unwrap();
    let rules = dir.path().to_str().unwrap();
    // The binding is not PMC-MIB's: only the rules' own warnings are looked at here.
    let lenient = monbridge(&["check", "--no-mib", "--rules", rules]);
    assert_eq!(lenient.status.code(), Some(0), "{}", transcript(&lenient));
    assert!(
        text(&lenient.stderr).contains("warning[W0203]"),
        "{}",
        transcript(&lenient)
    );
    assert!(
        text(&lenient.stderr).contains("did you mean `STLNK`?"),
        "{}",
        transcript(&lenient)
    );
    let strict = monbridge(&["check", "--no-mib", "--deny-warnings", "--rules", rules]);
    assert_eq!(strict.status.code(), Some(1), "{}", transcript(&strict));
    assert!(strict.stdout.is_empty(), "{}", transcript(&strict));
    assert!(
        text(&strict.stderr).contains("1 warning denied by --deny-warnings"),
        "{}",
        transcript(&strict)
    );
}

#[test]
fn check_names_files_it_does_not_read_and_both_files_of_a_duplicate() {
    let rule = |code: &str, oid: u32| {
        format!(
            "trap t when audit.source == \"{code}\" {{\n  oid 1.3.6.1.4.1.39059.1.0.{oid}\n  1 a = audit.source\n}}\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("links.rules"), rule("STLNK", 1)).unwrap();
    std::fs::write(dir.path().join("channels.rule"), rule("STCHA", 2)).unwrap();
    std::fs::write(dir.path().join("old.rules~"), rule("STCHA", 2)).unwrap();
    let rules = dir.path().to_str().unwrap();
    let output = monbridge(&["check", "--no-mib", "--rules", rules]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
    assert!(stderr.contains("warning[W0205]"), "{stderr}");
    assert!(stderr.contains("channels.rule is not read"), "{stderr}");
    assert!(
        !stderr.contains("old.rules~"),
        "editor backups are not reported: {stderr}"
    );
    assert!(
        !text(&output.stdout).contains("channels.rule"),
        "{}",
        transcript(&output)
    );

    // The same name in two files: both files are shown.
    std::fs::rename(
        dir.path().join("channels.rule"),
        dir.path().join("channels.rules"),
    )
    .unwrap();
    let output = monbridge(&["check", "--no-mib", "--rules", rules]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    assert!(stderr.contains("error[E0207]"), "{stderr}");
    assert!(stderr.contains("channels.rules:1:6"), "{stderr}");
    assert!(stderr.contains("links.rules:1:6"), "{stderr}");
}

#[test]
fn check_reports_every_error_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.rules"),
        "trap t when audit.sorce == \"X\" {\n  oid 1.3.6.1.4.1.39059.1.0.1\n  1 a : integr = lowr(audit.x)\n}\n",
    )
    .unwrap();
    let output = monbridge(&["check", "--rules", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "diagnostics go to stderr only");
    let stderr = text(&output.stderr).replace(dir.path().to_str().unwrap(), "RULES");
    common::snapshot_settings().bind(|| insta::assert_snapshot!("cli_check_errors", stderr));
}

#[test]
fn rules_folder_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("only.rules"),
        "trap only when audit.source == \"START\" { oid 1.3.6.1.4.1.39059.1.0.4 }\n",
    )
    .unwrap();
    let output = Command::new(common::bin("monbridge"))
        .args(["check", "--no-mib"])
        .env("MONBRIDGE_RULES", dir.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(
        text(&output.stdout).contains("1 rules (only)"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn render_trap_table_and_json() {
    let input = "tests/fixtures/fledge/rest/STCHA.json";
    snapshot(
        "cli_render_trap",
        &monbridge(&["render", "trap", "--env", "hostname=gw-poste-1", input]),
    );
    snapshot(
        "cli_render_trap_json",
        &monbridge(&[
            "render",
            "trap",
            "--json",
            "--env",
            "hostname=gw-poste-1",
            input,
        ]),
    );
}

#[test]
fn render_trap_reports_bad_audits_and_keeps_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mixed.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"source":"START","severity":"INFORMATION","details":{},"timestamp":"2026-11-21 09:15:42.317"}"#,
            "\n{\"source\": \"STLNK\", \"sever\n",
            r#"{"source":"STLNK","severity":"WARNING","details":{"nameService":"s"},"timestamp":"2026-11-21 09:15:42.317"}"#,
            "\n",
            r#"{"source":"FSTOP","severity":"INFORMATION","details":{},"timestamp":"2026-11-21 09:15:43.000"}"#,
            "\n"
        ),
    )
    .unwrap();
    let output = monbridge(&[
        "render",
        "trap",
        "--env",
        "hostname=gw",
        input.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("trap start ") && stdout.contains("trap stop "),
        "{stdout}"
    );
    snapshot("cli_render_trap_mixed", &output);
}

#[test]
fn explain_trap_shows_expressions_paths_and_values() {
    snapshot(
        "cli_explain_trap",
        &monbridge(&[
            "explain",
            "trap",
            "--env",
            "hostname=gw-poste-1",
            "tests/fixtures/fledge/rest/STLNK.json",
        ]),
    );
}

#[test]
fn render_and_explain_mist_document() {
    let case: serde_json::Value = serde_json::from_slice(
        &std::fs::read(common::repo_root().join("rules/tests/mist_fixture_org.json")).unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let document = dir.path().join("org.json");
    std::fs::write(&document, serde_json::to_vec(&case["input"]).unwrap()).unwrap();
    let document = document.to_str().unwrap();
    let params = ["--param", "prefix=MIST", "--param", "group=Mist"];
    let mut args = vec!["render", "mist", "--now", "2024-07-10T10:05:00+00:00[UTC]"];
    args.extend(params);
    args.push(document);
    snapshot("cli_render_mist", &monbridge(&args));
    let mut args = vec!["explain", "mist"];
    args.extend(params);
    args.push(document);
    snapshot("cli_explain_mist", &monbridge(&args));
}

#[test]
fn golden_cases_of_the_default_rules_pass() {
    let output = monbridge(&["test"]);
    assert!(output.status.success(), "{}", transcript(&output));
    let output = monbridge(&["test", "--rules", "rules"]);
    assert!(output.status.success(), "{}", transcript(&output));
    assert!(
        text(&output.stdout).ends_with("8 passed, 0 failed\n"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn failing_golden_case_prints_a_diff_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    copy_rules(dir.path());
    let expected = dir.path().join("tests/audit_shapes.expected");
    let changed = std::fs::read_to_string(&expected)
        .unwrap()
        .replace("PA-Lyon-1-A", "PA-Lyon-1/A");
    std::fs::write(&expected, changed).unwrap();
    let output = monbridge(&[
        "test",
        "--rules",
        dir.path().to_str().unwrap(),
        "audit_shapes",
    ]);
    assert_eq!(output.status.code(), Some(1));
    snapshot("cli_test_failure", &output);
}

#[test]
fn usage_errors_exit_2() {
    let output = monbridge(&["render", "trap"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let output = monbridge(&[
        "render",
        "mist",
        "--now",
        "yesterday",
        "rules/tests/mist_fixture_org.json",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", transcript(&output));
    assert!(text(&output.stderr).contains("--now"));
}

fn copy_rules(to: &Path) {
    let from = common::repo_root().join("rules");
    std::fs::create_dir_all(to.join("tests")).unwrap();
    for entry in std::fs::read_dir(&from)
        .unwrap()
        .chain(std::fs::read_dir(from.join("tests")).unwrap())
    {
        let path = entry.unwrap().path();
        if path.is_file() {
            let relative = path.strip_prefix(&from).unwrap();
            std::fs::copy(&path, to.join(relative)).unwrap();
        }
    }
}

#[test]
fn monbridge_mist_takes_the_plugin_s_short_options() {
    use clap::Parser;
    use monbridge::cli::{Cli, Command};
    let cli = Cli::try_parse_from([
        "monbridge",
        "mist",
        "-t",
        "token-0123456789abcdef",
        "-o",
        "5e1f0000-0000-4000-8000-00000000b0b0",
        "-g",
        "Gateways",
        "-p",
        "MIST",
        "--dry-run",
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let Command::Mist(args) = cli.command else {
        panic!("not the mist command");
    };
    assert_eq!(args.org, "5e1f0000-0000-4000-8000-00000000b0b0");
    assert_eq!(
        (args.group.as_str(), args.prefix.as_str()),
        ("Gateways", "MIST")
    );
}

#[test]
fn the_embedded_golden_cases_are_every_case_of_rules_tests() {
    let output = monbridge(&["test"]);
    assert!(output.status.success(), "{}", transcript(&output));
    let mut embedded: Vec<String> = text(&output.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("ok ").map(str::to_owned))
        .collect();
    embedded.sort();
    let mut files: Vec<String> = std::fs::read_dir(common::repo_root().join("rules/tests"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(embedded, files);
}

#[test]
fn rules_export_writes_a_folder_that_checks_and_passes_its_cases() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rules");
    let out = out.to_str().unwrap();
    let export = monbridge(&["rules", "export", out]);
    assert_eq!(export.status.code(), Some(0), "{}", transcript(&export));
    let check = monbridge(&["check", "--deny-warnings", "--rules", out]);
    assert_eq!(check.status.code(), Some(0), "{}", transcript(&check));
    let test = monbridge(&["test", "--rules", out]);
    assert_eq!(test.status.code(), Some(0), "{}", transcript(&test));
    assert!(
        text(&test.stdout).contains("8 passed, 0 failed"),
        "{}",
        transcript(&test)
    );
    for name in ["audit.rules", "mist.rules"] {
        assert_eq!(
            std::fs::read_to_string(dir.path().join("rules").join(name)).unwrap(),
            std::fs::read_to_string(common::repo_root().join("rules").join(name)).unwrap()
        );
    }

    // An operator's edits are never overwritten without --force.
    std::fs::write(dir.path().join("rules/audit.rules"), "# edited\n").unwrap();
    let again = monbridge(&["rules", "export", out]);
    assert_eq!(again.status.code(), Some(2), "{}", transcript(&again));
    assert!(
        text(&again.stderr).contains("--force"),
        "{}",
        transcript(&again)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("rules/audit.rules")).unwrap(),
        "# edited\n"
    );
    let forced = monbridge(&["rules", "export", "--force", out]);
    assert_eq!(forced.status.code(), Some(0), "{}", transcript(&forced));
}
