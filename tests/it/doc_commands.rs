//! Every command shown in README.md and docs/ is tested: each `monbridge …` line of a shell
//! block must parse with today's command line, and each one that needs no outside service
//! runs, against the shipped rules and the test fixtures standing in for the operator's
//! files, and must succeed. Commands that reach outside services (Mist, a manager, Fledge)
//! are exercised by their own end-to-end tests against local peers; they are listed here
//! with that test, so a new documented command cannot go untested unnoticed.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use monbridge::cli::Cli;

use crate::common::{bin, repo_root};

/// Documented commands that talk to an outside service, and the tests that run them.
const COVERED_ELSEWHERE: &[(&str, &str)] = &[
    (
        "monbridge trap send",
        "tests/it/trap_e2e.rs, tests/it/snmp_v3.rs (snmptrapd), tests/it/trap_stream.rs (a pipe kept open)",
    ),
    ("monbridge mist", "tests/it/mist.rs (recorded Mist API)"),
    (
        "monbridge serve",
        "tests/it/serve.rs (snmptrapd, mock Fledge)",
    ),
    (
        "pandora_mist",
        "tests/it/package.rs, tests/it/mist.rs (the plugin server's call, recorded Mist API)",
    ),
    ("cargo", "the commands CI runs (.ci/run)"),
    (
        "scripts/",
        "scripts/ are run by CI (.ci/run) and tests/it/package.rs",
    ),
    ("mkdir", "plain shell"),
    ("printf", "plain shell"),
    (
        "snmptrapd",
        "the manager: tests/it/common/snmptrapd.rs runs it with PMC-MIB loaded",
    ),
    (
        "sudo",
        "the plugin run as Pandora runs it: tests/it/package.rs",
    ),
    (
        "apt install ./",
        "tests/it/deb.rs: the packages installed with dpkg into a clean root, in CI",
    ),
    (
        "systemctl",
        "tests/it/service.rs: the unit through systemd-analyze verify, the daemon's sd_notify",
    ),
    ("journalctl", "the service's stderr: tests/it/service.rs"),
    (
        "curl -H",
        "the_documented_curl_commands_post_to_a_running_daemon, below",
    ),
];

/// The shell lines of every ```sh block, continuations joined, comments dropped.
fn documented_commands() -> Vec<(String, String)> {
    let root = repo_root();
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut commands = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable doc");
        let name = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        let mut in_shell = false;
        let mut pending = String::new();
        for line in text.lines() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("```") {
                in_shell = !in_shell && matches!(trimmed, "```sh" | "```shell" | "```bash");
                continue;
            }
            if !in_shell {
                continue;
            }
            let code = strip_comment(line);
            if let Some(start) = code.strip_suffix('\\') {
                pending.push_str(start);
                pending.push(' ');
                continue;
            }
            pending.push_str(&code);
            let command = std::mem::take(&mut pending);
            // `… | monbridge …`: the documented part is the command after the pipe.
            let command = command.rsplit('|').next().unwrap_or("").trim().to_owned();
            if !command.is_empty() && !command.starts_with("export ") {
                commands.push((name.clone(), command));
            }
        }
    }
    commands
}

/// The line without a `#` comment (a `#` inside quotes is kept).
fn strip_comment(line: &str) -> String {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if i == 0 || line[..i].ends_with(' ') => return line[..i].to_owned(),
            _ => {}
        }
    }
    line.to_owned()
}

/// Words as the shell splits them (quotes removed), and the redirection dropped.
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut started = false;
    for c in command.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, ' ' | '\t') => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            _ => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(word);
    }
    if let Some(redirect) = out.iter().position(|w| w == ">") {
        out.truncate(redirect);
    }
    out
}

/// A `<placeholder>` of the docs as a value the command accepts.
fn placeholder(word: &str) -> String {
    match word {
        "<org_id>" => "5e1f0000-0000-4000-8000-00000000b0b0".to_owned(),
        "<token>" => "doc-example-token-0123456789".to_owned(),
        w if w.starts_with('<') && w.ends_with('>') => "example".to_owned(),
        w => w.to_owned(),
    }
}

/// The operator's files of the documented examples, stood in for by the repository's.
struct Stand {
    dir: tempfile::TempDir,
}

impl Stand {
    fn new() -> Stand {
        let dir = tempfile::tempdir().expect("temporary folder");
        let rules = dir.path().join("rules");
        std::fs::create_dir_all(rules.join("tests")).expect("rules folder");
        for entry in std::fs::read_dir(repo_root().join("rules")).expect("rules/") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                std::fs::copy(&path, rules.join(path.file_name().expect("name"))).expect("copy");
            }
        }
        for entry in std::fs::read_dir(repo_root().join("rules/tests")).expect("rules/tests") {
            let path = entry.expect("entry").path();
            std::fs::copy(
                &path,
                rules.join("tests").join(path.file_name().expect("name")),
            )
            .expect("copy");
        }
        let case: serde_json::Value = serde_json::from_slice(
            &std::fs::read(repo_root().join("rules/tests/mist_fixture_org.json")).expect("case"),
        )
        .expect("JSON case");
        std::fs::write(dir.path().join("org.json"), case["input"].to_string()).expect("doc");
        Stand { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// The word with the documented path replaced by the stand-in.
    fn substitute(&self, word: &str) -> String {
        let fixture = |relative: &str| repo_root().join(relative).display().to_string();
        match word {
            "/etc/monbridge/rules" => self.path("rules"),
            "audit.json" => fixture("tests/fixtures/fledge/rest/STLNK.json"),
            "/tmp/org.json" => self.path("org.json"),
            "link_audit_trap.json" => {
                fixture("tests/fixtures/fledge/link_audit_trap.seed-example.json")
            }
            "/usr/local/share/man/man1" => self.path("man"),
            "mist-plugin.pspz2" => self.path("mist-plugin.pspz2"),
            "path/to/pandora_mist" => bin("pandora_mist").display().to_string(),
            "/usr/share/snmp/mibs/MY-MIB.txt" => fixture("mibs/PMC-MIB.txt"),
            // The shipped samples, from wherever the command runs.
            other if other.starts_with("examples/") => fixture(other),
            other => other.to_owned(),
        }
    }
}

fn covered_elsewhere(command: &str) -> Option<&'static str> {
    let command = command.trim_start_matches("./");
    COVERED_ELSEWHERE
        .iter()
        .find(|(prefix, _)| command.starts_with(prefix))
        .map(|(_, test)| *test)
}

#[test]
fn every_documented_command_parses_and_the_offline_ones_succeed() {
    let commands = documented_commands();
    assert!(commands.len() >= 20, "too few commands found: {commands:?}");
    let stand = Stand::new();
    let mut ran = 0;
    let mut problems = Vec::new();
    for (file, command) in &commands {
        let args: Vec<String> = words(command).iter().map(|w| placeholder(w)).collect();
        if args.first().map(String::as_str) == Some("monbridge") {
            // Every documented command line is valid for today's command line parser. The Mist
            // token may come from the environment, as the docs say it should.
            let token_from_environment = |error: &clap::Error| {
                error.kind() == clap::error::ErrorKind::MissingRequiredArgument
                    && error.to_string().contains("--token <TOKEN>")
                    && !args.iter().any(|a| a == "--token" || a == "-t")
            };
            if let Err(error) = Cli::try_parse_from(&args)
                && !token_from_environment(&error)
            {
                problems.push(format!("{file}: `{command}` does not parse:\n{error}"));
                continue;
            }
        }
        if let Some(test) = covered_elsewhere(command) {
            assert!(!test.is_empty());
            continue;
        }
        if args.first().map(String::as_str) != Some("monbridge") {
            problems.push(format!(
                "{file}: `{command}` is neither run here nor listed in COVERED_ELSEWHERE"
            ));
            continue;
        }
        let mut args: Vec<String> = args[1..].iter().map(|w| stand.substitute(w)).collect();
        // Exporting writes a rules folder of its own: not over the stand-in's.
        if args.starts_with(&["rules".to_owned(), "export".to_owned()]) && args.len() > 2 {
            args[2] = stand.path("exported");
        }
        // The stand-in pandora_mist is this build's, linked against the build machine's
        // glibc; tests/it/package.rs checks the refusal of such a binary.
        if args.starts_with(&["package".to_owned(), "pandora".to_owned()]) {
            args.extend(["--max-glibc".to_owned(), "2.99".to_owned()]);
        }
        let output = Command::new(bin("monbridge"))
            .args(&args)
            .current_dir(stand.dir.path())
            .env_remove("MONBRIDGE_RULES")
            .env("NO_COLOR", "1")
            .output()
            .expect("run monbridge");
        if !output.status.success() {
            problems.push(format!(
                "{file}: `{command}` (run as {args:?}) failed: {}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        ran += 1;
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert!(ran >= 10, "only {ran} documented commands ran");
    assert!(
        Path::new(&stand.path("man"))
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    );
}

/// Every `curl -H …` of the docs posts an audit to the daemon's HTTP intake: run against a
/// daemon listening where the command says, with the sample file from the repository.
#[test]
fn the_documented_curl_commands_post_to_a_running_daemon() {
    use crate::common::serve::Serve;
    use crate::common::snmptrapd::free_udp_port;

    let commands: Vec<(String, String)> = documented_commands()
        .into_iter()
        .filter(|(_, command)| command.starts_with("curl -H"))
        .collect();
    assert!(!commands.is_empty(), "no curl example in the docs");
    let mut serve = Serve::new(&format!(
        "state_dir: state\nintakes:\n  http: {{listen: \"{{http}}\"}}\ndestinations:\n  \
         - name: nms\n    address: udp:127.0.0.1:{}\n",
        free_udp_port()
    ));
    serve.start();
    let address = serve.http.clone().expect("an HTTP intake");
    for (file, command) in commands {
        let args: Vec<String> = words(&command)[1..]
            .iter()
            .map(|word| {
                let word = word.replace("127.0.0.1:8611", &address);
                match word.strip_prefix("@examples/") {
                    Some(sample) => {
                        format!("@{}", repo_root().join("examples").join(sample).display())
                    }
                    None => word,
                }
            })
            .collect();
        assert!(
            args.iter().any(|a| a.ends_with("/audit")),
            "{file}: `{command}` posts elsewhere than /audit"
        );
        let output = crate::common::peers::output(
            Command::new("curl")
                .args(["--silent", "--show-error", "--fail-with-body"])
                .args(&args),
        );
        let body = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && body.contains("\"accepted\":1"),
            "{file}: `{command}`: {} {body} {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(serve.stop(), Some(0));
}

#[test]
fn the_reader_of_the_docs_splits_lines_as_the_shell_does() {
    assert_eq!(
        words("monbridge trap send --community \"$C\" -  > out # note"),
        vec!["monbridge", "trap", "send", "--community", "$C", "-"]
    );
    assert_eq!(
        strip_comment("monbridge check   # explain"),
        "monbridge check   "
    );
    assert_eq!(strip_comment("echo \"a # b\""), "echo \"a # b\"");
}

/// The sample data of `examples/` stays what the fixtures are, and every command its README
/// shows works.
#[test]
fn the_examples_are_the_fixtures_and_their_commands_work() {
    let root = repo_root();
    for shape in ["rest", "storage", "notification", "upstream"] {
        let fixtures = root.join("tests/fixtures/fledge").join(shape);
        for entry in std::fs::read_dir(&fixtures).expect("fixtures") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                let example = root
                    .join("examples/audits")
                    .join(shape)
                    .join(path.file_name().expect("name"));
                assert_eq!(
                    std::fs::read(&example).unwrap_or_default(),
                    std::fs::read(&path).expect("fixture"),
                    "{} differs from {}",
                    example.display(),
                    path.display()
                );
            }
        }
    }
    let readme = std::fs::read_to_string(root.join("examples/README.md")).expect("README");
    let commands: Vec<&str> = readme
        .split('`')
        .filter(|part| part.starts_with("monbridge "))
        .collect();
    assert!(commands.len() >= 5, "{commands:?}");
    for command in commands {
        let output = Command::new(bin("monbridge"))
            .args(&words(command)[1..])
            .current_dir(&root)
            .env_remove("MONBRIDGE_RULES")
            .output()
            .expect("run monbridge");
        assert!(
            output.status.success(),
            "`{command}`: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
