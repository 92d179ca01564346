//! The Fledge notification delivery plugin (`integrations/fledge/`, Python) is tested by its
//! own pytest suite against a real `monbridge serve` and snmptrapd; this runs that suite as
//! part of `cargo test`, with the daemon binary cargo just built.

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{bin, repo_root};

/// The whole suite takes seconds; this only bounds a hung run.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn pytest_suite_passes_against_a_running_daemon() {
    // Output goes to a file: a pipe that nobody reads while we wait could fill and block pytest.
    let output = tempfile::NamedTempFile::new().expect("a temporary file");
    let stdout = File::create(output.path()).expect("open the output file");
    let stderr = stdout.try_clone().expect("share the output file");
    let mut child = match Command::new("python3")
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "integrations/fledge/tests",
        ])
        .current_dir(repo_root())
        .env("MONBRIDGE_BIN", bin("monbridge"))
        // Keep the source tree clean of __pycache__ folders.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
    {
        Ok(child) => child,
        Err(error) => crate::common::peers::missing("python3", &error),
    };
    let deadline = Instant::now() + SUITE_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for pytest") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = std::fs::read_to_string(output.path()).unwrap_or_default();
    assert!(
        !text.contains("No module named pytest"),
        "pytest is not installed: pip install pytest (scripts/test installs the pinned version)"
    );
    match status {
        Some(status) => assert!(status.success(), "pytest failed ({status}):\n{text}"),
        None => panic!("pytest did not finish within {SUITE_TIMEOUT:?}:\n{text}"),
    }
}
