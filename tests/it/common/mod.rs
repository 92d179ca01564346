//! Shared test helpers.

// Each test module uses a different subset of these helpers.
#![allow(dead_code)]

pub mod fledge_log;
pub mod mib;
pub mod pandora;
pub mod peers;

use std::path::{Path, PathBuf};

/// insta settings shared by every snapshot test: snapshots live in the top-level `snapshots/`.
pub fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(repo_root().join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under `tests/fixtures/`.
pub fn fixture(relative: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(relative)
}

pub fn read_fixture(relative: &str) -> Vec<u8> {
    let path = fixture(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Path of a binary built by this package.
pub fn bin(name: &str) -> &'static Path {
    match name {
        "monbridge" => Path::new(env!("CARGO_BIN_EXE_monbridge")),
        "pandora_mist" => Path::new(env!("CARGO_BIN_EXE_pandora_mist")),
        other => panic!("unknown binary {other}"),
    }
}

pub mod mist_mock;
pub mod serve;
pub mod snmptrapd;
pub mod traps;

/// `monbridge ARGS` from the repository's root, with no rules folder from the environment
/// and no colour: what the command-line tests compare.
pub fn monbridge(args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin("monbridge"))
        .args(args)
        .current_dir(repo_root())
        .env_remove("MONBRIDGE_RULES")
        .env("NO_COLOR", "1")
        .output()
        .expect("run monbridge")
}
