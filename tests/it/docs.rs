//! `monbridge completions` and `monbridge man`: generated from the clap definitions, they
//! cover every command, the completion script completes in a real bash, and the manual
//! pages format without a warning.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use clap::CommandFactory;
use monbridge::cli::Cli;

use crate::common::bin;

fn monbridge(args: &[&str]) -> Output {
    Command::new(bin("monbridge"))
        .args(args)
        .env_remove("MONBRIDGE_LOG")
        .env_remove("MONBRIDGE_RULES")
        .output()
        .expect("monbridge runs")
}

/// Every command path, e.g. `["trap", "send"]`, from the clap definitions.
fn command_paths() -> Vec<Vec<String>> {
    fn walk(command: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in command.get_subcommands() {
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_owned());
            out.push(path.clone());
            walk(sub, &path, out);
        }
    }
    let mut paths = Vec::new();
    walk(&Cli::command(), &[], &mut paths);
    paths
}

/// What bash's programmable completion offers for `words` (the last one being typed).
fn bash_completes(script: &str, words: &[&str]) -> BTreeSet<String> {
    let line = words.join(" ");
    let program = format!(
        "{script}\nCOMP_WORDS=({line}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n\
         _monbridge monbridge '{current}' '{previous}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        cword = words.len() - 1,
        current = words[words.len() - 1],
        previous = words[words.len() - 2],
    );
    let output = crate::common::peers::output(Command::new("bash").args([
        "--norc",
        "--noprofile",
        "-c",
        &program,
    ]));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completion_offers_every_command_and_option() {
    let output = monbridge(&["completions", "bash"]);
    assert!(output.status.success());
    let script = String::from_utf8(output.stdout).expect("UTF-8 script");

    let top: BTreeSet<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    let offered = bash_completes(&script, &["monbridge", ""]);
    assert!(
        top.is_subset(&offered),
        "missing: {:?}",
        top.difference(&offered).collect::<Vec<_>>()
    );
    assert_eq!(
        bash_completes(&script, &["monbridge", "pa"]),
        BTreeSet::from(["package".to_owned()])
    );
    let options = bash_completes(&script, &["monbridge", "package", "pandora", "--"]);
    assert!(
        options.contains("--out") && options.contains("--binary"),
        "{options:?}"
    );
}

#[test]
fn zsh_and_fish_scripts_name_every_command() {
    for shell in ["zsh", "fish"] {
        let output = monbridge(&["completions", shell]);
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8(output.stdout).expect("UTF-8 script");
        for path in command_paths() {
            let name = path.last().expect("a name");
            assert!(script.contains(name.as_str()), "{shell} lacks {name}");
        }
    }
}

#[test]
fn man_pages_cover_every_command_and_format_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = monbridge(&["man", "--out-dir", &dir.path().display().to_string()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut expected: BTreeSet<String> = command_paths()
        .iter()
        .filter(|path| path.last().is_some_and(|name| name != "help"))
        .map(|path| format!("monbridge-{}.1", path.join("-")))
        .collect();
    expected.insert("monbridge.1".to_owned());
    let written: BTreeSet<String> = std::fs::read_dir(dir.path())
        .expect("read pages")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, expected);

    // The printed page is the top-level page, and groff formats every page without warnings.
    let printed = monbridge(&["man"]);
    assert!(printed.status.success());
    let top = std::fs::read_to_string(dir.path().join("monbridge.1")).expect("monbridge.1");
    assert_eq!(String::from_utf8_lossy(&printed.stdout), top);
    for page in &written {
        let formatted = crate::common::peers::output(
            Command::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(dir.path().join(page)),
        );
        assert!(
            formatted.status.success() && formatted.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&formatted.stderr)
        );
    }
    assert!(top.contains(".TH monbridge 1"), "{top}");
    assert!(top.contains("monbridge\\-package(1)"), "{top}");
    assert!(!top.contains("monbridge\\-help(1)"), "{top}");
}

/// `serve --help` shows no log level that is not the one in force: the daemon's comes from
/// its configuration unless `--log-level` or `MONBRIDGE_LOG` gives one.
#[test]
fn serve_help_names_the_configuration_s_log_level() {
    let help = monbridge(&["serve", "--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    let option = text
        .split("\n  -")
        .chain(text.split("\n      --"))
        .find(|part| part.contains("log-level <LOG_LEVEL>"))
        .unwrap_or_else(|| panic!("no --log-level in:\n{text}"));
    let option: String = option.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(!option.contains("[default: warn]"), "{option}");
    assert!(
        option.contains("for serve, the configuration's log_level"),
        "{option}"
    );
}

/// The hand-written pages of packaging/man/ (pandora_mist, the configuration format, the
/// rules language) format without a warning, and pandora_mist's names every option its
/// `--help` lists, and no other.
#[test]
fn the_packaged_pages_format_cleanly_and_pandora_mist_s_lists_its_options() {
    let dir = crate::common::repo_root().join("packaging/man");
    let mut pages: Vec<_> = std::fs::read_dir(&dir)
        .expect("packaging/man")
        .map(|entry| entry.expect("entry").path())
        .collect();
    pages.sort();
    let names: Vec<String> = pages
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["monbridge-rules.5", "monbridge.yaml.5", "pandora_mist.1"]
    );
    for page in &pages {
        let formatted = crate::common::peers::output(
            Command::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(page),
        );
        assert!(
            formatted.status.success() && formatted.stderr.is_empty(),
            "{}: {}",
            page.display(),
            String::from_utf8_lossy(&formatted.stderr)
        );
    }

    let long_options = |text: &str| -> BTreeSet<String> {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .filter(|word| word.starts_with("--") && word.len() > 2)
            .map(str::to_owned)
            .collect()
    };
    let help = Command::new(bin("pandora_mist"))
        .arg("--help")
        .output()
        .expect("pandora_mist runs");
    let in_help = long_options(&String::from_utf8_lossy(&help.stdout));
    let page = std::fs::read_to_string(dir.join("pandora_mist.1"))
        .expect("pandora_mist.1")
        .replace("\\-", "-");
    let in_page = long_options(&page);
    assert!(in_help.len() >= 10, "{in_help:?}");
    assert_eq!(in_page, in_help);
}
