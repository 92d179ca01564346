//! The outside programs the tests run as peers, and the Debian package each comes from: a
//! test whose peer is missing fails naming both (`scripts/test` installs every one).

use std::process::{Child, Command, Output};

/// Program → the Debian package that installs it (and what else the tests need with it).
pub const PEERS: &[(&str, &str)] = &[
    ("snmptrapd", "snmptrapd"),
    ("snmptrap", "snmp"),
    ("snmptranslate", "snmp"),
    ("smilint", "smitools"),
    ("smidump", "smitools"),
    ("php", "php-cli and php-zip"),
    ("perl", "perl and libxml-simple-perl"),
    ("groff", "groff-base"),
    ("nvim", "neovim"),
    ("python3", "python3, with pytest from PyPI"),
    ("systemd-analyze", "systemd"),
    ("dpkg", "dpkg"),
    ("dpkg-deb", "dpkg"),
    ("dpkg-query", "dpkg"),
    ("bash", "bash"),
    ("objdump", "binutils"),
    ("readelf", "binutils"),
    ("file", "file"),
    ("curl", "curl"),
];

/// The Debian package of `program`.
pub fn debian_package(program: &str) -> &'static str {
    PEERS
        .iter()
        .find(|(name, _)| *name == program)
        .map_or("(unknown: add it to tests/it/common/peers.rs)", |(_, p)| *p)
}

/// Fails the test: `program` could not be started.
pub fn missing(program: &str, error: &std::io::Error) -> ! {
    panic!(
        "cannot run `{program}` ({error}): install the Debian package {} \
         (scripts/test installs every test peer)",
        debian_package(program)
    )
}

fn program_of(command: &Command) -> String {
    command.get_program().to_string_lossy().into_owned()
}

/// `command.spawn()`, failing with the package to install when the program is missing.
pub fn spawn(command: &mut Command) -> Child {
    command
        .spawn()
        .unwrap_or_else(|error| missing(&program_of(command), &error))
}

/// `command.output()`, failing with the package to install when the program is missing.
pub fn output(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|error| missing(&program_of(command), &error))
}

#[test]
#[should_panic(
    expected = "cannot run `smilint` (entity not found): install the Debian package smitools"
)]
fn a_missing_peer_names_its_package() {
    missing(
        "smilint",
        &std::io::Error::from(std::io::ErrorKind::NotFound),
    );
}
