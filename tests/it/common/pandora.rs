//! Pandora sink helpers: sample agents, a fixed clock, and Perl peers that read the files
//! as Pandora's data server does.

use std::fs::File;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use monbridge::record::{Agent, Module};

/// 2024-07-10 10:05:00 UTC, i.e. Unix second 1720605900.
pub fn fixed_now() -> jiff::Zoned {
    "2024-07-10T10:05:00[UTC]"
        .parse()
        .expect("a valid fixed timestamp")
}

pub const FIXED_SECONDS: i64 = 1_720_605_900;

pub fn module(name: &str, module_type: &str, data: &str, fields: &[(&str, &str)]) -> Module {
    Module {
        name: name.to_owned(),
        module_type: module_type.to_owned(),
        data: data.to_owned(),
        fields: pairs(fields),
    }
}

pub fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub fn agent(name: &str, attributes: &[(&str, &str)], modules: Vec<Module>) -> Agent {
    Agent {
        rule: "site".to_owned(),
        name: name.to_owned(),
        attributes: pairs(attributes),
        modules,
    }
}

pub const SITE_AGENT_NAME: &str = "MIST_Mist Office_US_497f6eca-6276-5007-bfeb-53cbbbba6f19";

/// A typical site agent: totals as `generic_data`, one `generic_proc` per device.
pub fn site_agent() -> Agent {
    agent(
        SITE_AGENT_NAME,
        &[
            ("agent_alias", "MIST_Mist Office_US"),
            ("group", "Mist"),
            ("os_name", "Other"),
            ("interval", "300"),
            ("version", "monbridge 0.1.0"),
            ("description", "Mist site Mist Office (US)"),
        ],
        vec![
            module("Total devices connected", "generic_data", "3", &[]),
            module("Total devices not connected", "generic_data", "1", &[]),
            module(
                "ap_Phoenix_5c5b35d0077b",
                "generic_proc",
                "1",
                &[("description", "IP: 192.168.95.3. Status: connected")],
            ),
            module(
                "ap_Lobby-AP_5c5b35d00a11",
                "generic_proc",
                "0",
                &[("description", "IP: 192.168.95.4. Status: disconnected")],
            ),
            module(
                "switch_xg50b_dc38e1dbf3cd",
                "generic_proc",
                "1",
                &[
                    ("description", "IP: 192.168.95.10. Status: connected"),
                    ("unit", "state"),
                ],
            ),
        ],
    )
}

/// An agent whose names and values hold everything XML and Pandora make hard: quotes,
/// entities, accents, `]]>`, control characters, line breaks (also in a module name).
pub fn special_agent() -> Agent {
    agent(
        "MIST_O'Brien's Café & Bar <Dublin> \"HQ\"_IE_\u{1}0b1e4f2a",
        &[
            ("agent_alias", "O'Brien's Café & Bar <Dublin> \"HQ\""),
            ("group", "Mist & <Friends>"),
            ("description", "Line one\nLine two\tafter a tab\r\nend\u{7}"),
            ("os_name", "Other"),
        ],
        vec![
            module(
                "Total devices connected",
                "generic_data",
                "2",
                &[("unit", "°C & ü")],
            ),
            module(
                "ap_Café_<lobby>&\"main\"'s\r\nfloor",
                "generic_proc",
                "1",
                &[(
                    "description",
                    "IP: 10.0.0.1. Status: connected ]]> <b>&amp;</b> \u{1}bell\r\nnext\rlast",
                )],
            ),
            module(
                "switch\nB\u{ffff}",
                "generic_data_string",
                "a]]>b]]>",
                &[("description", "tab\there, nul\u{0} gone, fffe\u{fffe} gone")],
            ),
        ],
    )
}

/// A module as Pandora must read it: name, type, data, then the other children.
pub type ExpectedModule = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The names and values Pandora must read back for [`special_agent`]: written out by hand
/// from the documented hygiene, not computed by the code under test.
pub mod special_expected {
    pub const AGENT_NAME: &str = "MIST_O'Brien's Café & Bar <Dublin> \"HQ\"_IE_0b1e4f2a";
    pub const AGENT_ALIAS: &str = "O'Brien's Café & Bar <Dublin> \"HQ\"";
    pub const GROUP: &str = "Mist & <Friends>";
    pub const DESCRIPTION: &str = "Line one\nLine two\tafter a tab\r\nend";
    pub const MODULES: [super::ExpectedModule; 3] = [
        (
            "Total devices connected",
            "generic_data",
            "2",
            &[("unit", "°C & ü")],
        ),
        (
            "ap_Café_<lobby>&\"main\"'s floor",
            "generic_proc",
            "1",
            &[(
                "description",
                "IP: 10.0.0.1. Status: connected ]]> <b>&amp;</b> bell\nnext\nlast",
            )],
        ),
        (
            "switch B",
            "generic_data_string",
            "a]]>b]]>",
            &[("description", "tab\there, nul gone, fffe gone")],
        ),
    ];
}

const PERL_TIMEOUT: Duration = Duration::from_secs(60);

pub fn perl_script(name: &str) -> std::path::PathBuf {
    super::repo_root().join("tests/perl").join(name)
}

/// Output of a Perl peer run with a deadline.
pub struct PerlRun {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `perl tests/perl/SCRIPT ARGS...` (with extra environment), killed after a minute.
pub fn run_perl(script: &str, args: &[&str], env: &[(&str, &str)]) -> PerlRun {
    let script_path = perl_script(script);
    let mut all_args = vec![script_path.to_str().expect("a UTF-8 repository path")];
    all_args.extend_from_slice(args);
    let run = run_perl_args(&all_args, env);
    if run.status.code() == Some(3) {
        panic!(
            "Perl XML::Simple is missing: install the Debian package libxml-simple-perl\n{}",
            run.stderr
        );
    }
    run
}

/// Runs `perl ARGS...`, killed after a minute.
///
/// Output goes to files rather than pipes so a chatty child can never block while the
/// test waits for it.
pub fn run_perl_args(args: &[&str], env: &[(&str, &str)]) -> PerlRun {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let stdout_path = scratch.path().join("stdout");
    let stderr_path = scratch.path().join("stderr");
    let stdout = File::create(&stdout_path).expect("stdout file");
    let stderr = File::create(&stderr_path).expect("stderr file");
    let mut command = Command::new("perl");
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => panic!(
            "cannot run perl ({error}): the Pandora round-trip tests need perl and XML::Simple \
             (Debian: apt-get install libxml-simple-perl)"
        ),
    };
    let deadline = Instant::now() + PERL_TIMEOUT;
    let status = loop {
        match child.try_wait().expect("waiting for perl") {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("perl {args:?} did not finish within {PERL_TIMEOUT:?}");
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let read = |path: &Path| {
        String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
    };
    PerlRun {
        status,
        stdout: read(&stdout_path),
        stderr: read(&stderr_path),
    }
}

/// Parses a data file with `XMLin($file, forcearray => 'module')`, as the data server does.
pub fn pandora_parse(file: &Path, parser: Option<&str>) -> Result<serde_json::Value, String> {
    let path = file.to_str().expect("a UTF-8 temporary path");
    let env: Vec<(&str, &str)> = parser
        .map(|p| vec![("XML_SIMPLE_PREFERRED_PARSER", p)])
        .unwrap_or_default();
    let run = run_perl("pandora_parse.pl", &[path], &env);
    if !run.status.success() {
        return Err(format!("exit {:?}: {}", run.status.code(), run.stderr));
    }
    serde_json::from_str(&run.stdout)
        .map_err(|e| format!("pandora_parse.pl printed no JSON ({e}): {}", run.stdout))
}

/// For each file name: the lock key if the data server's pattern accepts it.
pub fn spool_match(names: &[&str]) -> Vec<Option<String>> {
    let run = run_perl("pandora_spool_match.pl", names, &[]);
    assert!(
        run.status.success(),
        "pandora_spool_match.pl: {}",
        run.stderr
    );
    let lines: Vec<Option<String>> = run
        .stdout
        .lines()
        .map(|line| line.strip_prefix("match ").map(str::to_owned))
        .collect();
    assert_eq!(
        lines.len(),
        names.len(),
        "one answer per name: {}",
        run.stdout
    );
    lines
}

/// SAX backends XML::Simple may use on a Pandora server and that this machine has.
pub fn installed_sax_parsers() -> Vec<String> {
    ["XML::SAX::Expat", "XML::LibXML::SAX", "XML::Parser"]
        .into_iter()
        .filter(|module| {
            run_perl_args(&[&format!("-M{module}"), "-e", "1"], &[])
                .status
                .success()
        })
        .map(str::to_owned)
        .collect()
}

/// File names in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("a readable directory")
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}
