//! The daemon's configuration: one YAML file, read with serde-saphyr (syntax and type errors
//! carry line and column), then checked as a whole so that every mistake is reported at once.
//!
//! `raw` is the file as serde reads it; `check` turns it into the [`Config`] below.
//!
//! Relative paths are read relative to the file's folder, so a configuration and its rules can
//! move together. Secrets (communities, the Fledge token) are given inline or, better, named by
//! environment variable or file; SNMPv3 passphrases and the Fledge password only by variable or
//! file. None appears in `Debug` output or error messages.

mod check;
mod check_http;
mod excerpt;
mod http;
mod raw;

pub use http::{LOOPBACK_HOSTS, Limits, ListenConfig, TlsConfig, Tokens};

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::sink::snmp::usm::{EngineId, V3Identity};
use crate::sink::snmp::{Destination, SenderConfig, Version};
use crate::source::fledge::Credentials;
use check::Checker;
use raw::RawConfig;

/// Largest configuration file read: a hand-written file is far smaller; this keeps a wrong path
/// (a log, a binary) from being parsed.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// A configuration that cannot be used, with every reason found.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the configuration {} is {size} bytes, more than the {MAX_CONFIG_BYTES}-byte limit", path.display())]
    TooLarge { path: PathBuf, size: usize },
    /// YAML syntax or a value of the wrong type or name; the text has line and column.
    #[error("{}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    /// Well-formed YAML whose values do not make a usable configuration.
    #[error("{}: {}", path.display(), problems.join("\n  "))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

/// How destinations share the audits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Every destination gets every notification, each at its own pace.
    #[default]
    Mirror,
    /// The first destination gets every notification; the next one only when it fails.
    Failover,
}

impl Policy {
    /// The name as the configuration spells it.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Mirror => "mirror",
            Policy::Failover => "failover",
        }
    }
}

/// When appended audits reach the disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncPolicy {
    /// Every commit (a group of appends) is flushed to the disk before it is acknowledged:
    /// nothing acknowledged is lost, even on power loss.
    #[default]
    Always,
    /// Leave flushing to the operating system: survives a crash of the daemon, not of the
    /// machine.
    Os,
}

/// A checked configuration: every address parsed, every secret read, every path absolute.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// Folder of `*.rules` files; `None` for the rules embedded in the binary.
    pub rules: Option<PathBuf>,
    /// `env.NAME` overrides for the rules.
    pub env: BTreeMap<String, String>,
    /// `param.NAME` values for the rules.
    pub params: BTreeMap<String, String>,
    pub state_dir: PathBuf,
    /// Our one SNMPv3 engine, authoritative for the traps of every v3 destination; its boots
    /// counter lives in `state_dir`.
    pub snmp_engine_id: EngineId,
    pub log_level: String,
    pub intakes: Intakes,
    pub destinations: Vec<DestinationConfig>,
    pub policy: Policy,
    pub backoff: Backoff,
    pub queue: QueueConfig,
    pub dead_letter: PathBuf,
    pub metrics: MetricsConfig,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intakes {
    pub stdin: bool,
    pub http: Option<ListenConfig>,
    pub fledge: Option<FledgeConfig>,
}

/// Polling of `GET /fledge/audit`.
#[derive(Clone, PartialEq, Eq)]
pub struct FledgeConfig {
    /// Base URL: scheme, host, port (and a path prefix, if Fledge sits behind one).
    pub url: String,
    /// `source` filter: audit codes; empty for all.
    pub source: Vec<String>,
    /// A fixed token, or a user who logs in.
    pub credentials: Credentials,
    /// Extra trusted CA certificate (PEM) for HTTPS.
    pub ca_file: Option<PathBuf>,
    pub interval: Duration,
    pub page_size: u32,
    pub timeout: Duration,
    /// On first start, send the audits already in the log (otherwise start from now).
    pub backfill: bool,
    /// Zone of the timestamps Fledge writes without one (its storage's: UTC for SQLite).
    pub timezone: TimeZone,
    /// Largest page answer read.
    pub max_page_bytes: u64,
}

impl fmt::Debug for FledgeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FledgeConfig")
            .field("url", &self.url)
            .field("source", &self.source)
            .field("credentials", &self.credentials)
            .field("ca_file", &self.ca_file)
            .field("interval", &self.interval)
            .field("page_size", &self.page_size)
            .field("timeout", &self.timeout)
            .field("backfill", &self.backfill)
            .field("timezone", &self.timezone)
            .field("max_page_bytes", &self.max_page_bytes)
            .finish()
    }
}

/// One manager. A reload compares destinations to decide whether delivery restarts, so every
/// field is a setting: the SNMPv3 user is bound to the daemon's engine only when delivery starts
/// ([`SenderConfig::with_engine`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DestinationConfig {
    /// Unique; names the delivery cursor in the state directory and the metrics.
    pub name: String,
    pub address: Destination,
    pub sender: SenderConfig<V3Identity>,
    /// Messages per second at most; 0 for no limit.
    pub rate_limit: u32,
}

/// Waits between delivery attempts that failed: doubling from `initial` up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Bytes on disk at most; beyond, new audits are refused.
    pub max_bytes: u64,
    /// A segment file is closed and a new one started past this size.
    pub segment_bytes: u64,
    pub sync: SyncPolicy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    pub listen: Option<ListenConfig>,
    /// Counters are logged this often; `None` never.
    pub log_interval: Option<Duration>,
}

impl Config {
    /// Reads and checks the configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        if bytes.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                path: path.to_owned(),
                size: bytes.len(),
            });
        }
        let text = String::from_utf8(bytes).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        })?;
        Config::from_text(path, &text)
    }

    /// Checks a configuration's text; `path` names it in errors and anchors relative paths.
    pub fn from_text(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = serde_saphyr::from_str(text).map_err(|e| {
            let rendered = excerpt::without_secret_lines(text, &e.to_string());
            ConfigError::Syntax {
                path: path.to_owned(),
                // The CLI prefixes its own `error:`.
                message: rendered
                    .strip_prefix("error: ")
                    .unwrap_or(&rendered)
                    .to_owned(),
            }
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut checker = Checker {
            base,
            problems: Vec::new(),
        };
        let config = checker.check(path, raw);
        if checker.problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems: checker.problems,
            })
        }
    }

    /// What a reload cannot change without a restart, as the names of the settings that differ.
    pub fn restart_only_changes(&self, newer: &Config) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if self.state_dir != newer.state_dir {
            changed.push("state_dir");
        }
        if self.snmp_engine_id != newer.snmp_engine_id {
            changed.push("snmp_engine_id");
        }
        if self.intakes != newer.intakes {
            changed.push("intakes");
        }
        if self.queue != newer.queue {
            changed.push("queue");
        }
        if self.dead_letter != newer.dead_letter {
            changed.push("dead_letter");
        }
        if self.metrics != newer.metrics {
            changed.push("metrics");
        }
        if self.log_level != newer.log_level {
            changed.push("log_level");
        }
        changed
    }

    /// Whether a destination speaks SNMPv3 (and so needs the engine).
    pub fn uses_v3(&self) -> bool {
        self.destinations
            .iter()
            .any(|d| d.sender.security.version() == Version::V3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::snmp::usm::LocalEngine;
    use crate::sink::snmp::{Community, Security};

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_text(Path::new("/etc/monbridge/monbridge.yaml"), text)
    }

    const MINIMAL: &str = "state_dir: state\nintakes:\n  stdin: true\ndestinations:\n  - name: nms\n    address: udp:127.0.0.1:162\n";

    #[test]
    fn minimal_configuration_gets_defaults_and_absolute_paths() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.state_dir, Path::new("/etc/monbridge/state"));
        assert_eq!(
            config.dead_letter,
            Path::new("/etc/monbridge/state/dead-letter.jsonl")
        );
        assert_eq!(config.policy, Policy::Mirror);
        assert_eq!(
            config.destinations[0].sender.security,
            Security::V2c {
                community: Community::new("public")
            }
        );
        assert!(!config.destinations[0].sender.is_inform());
        assert_eq!(config.queue.sync, SyncPolicy::Always);
        assert_eq!(config.log_level, "info");
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let error = parse("state_dir: state\ndestinations:\n  - name: nms\n    adress: x\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("adress"), "{error}");
        assert!(error.contains("line 4"), "{error}");
        assert!(error.contains("column 5"), "{error}");
    }

    #[test]
    fn every_problem_is_reported_and_secrets_are_not() {
        let text = "state_dir: s\nintakes: {}\npolicy: failover\ndestinations:\n  - name: 'a b'\n    address: tcp:x:1\n    version: 3\n  - name: ok\n    address: udp:127.0.0.1:1\n    version: 1\n    notification: inform\n    community: s3cret\n";
        let error = parse(text).unwrap_err().to_string();
        for expected in [
            "intakes: none configured",
            "destinations[0].name",
            "destinations[0].address",
            "destinations[0]: SNMPv3 needs a user name (user)",
            "destinations[1].notification: informs need version 2c or 3",
        ] {
            assert!(error.contains(expected), "missing {expected:?} in {error}");
        }
        assert!(!error.contains("s3cret"));
    }

    #[test]
    fn versions_are_numbers_or_text() {
        let with = |version: &str| parse(&format!("{MINIMAL}    version: {version}\n"));
        for (text, expected) in [
            ("1", Version::V1),
            ("'1'", Version::V1),
            ("2c", Version::V2c),
            ("V2C", Version::V2c),
            ("v1", Version::V1),
        ] {
            let config = with(text).unwrap();
            assert_eq!(config.destinations[0].sender.security.version(), expected);
        }
        for (text, problem) in [("2", "\"2\""), ("-1", "\"-1\""), ("v4", "\"v4\"")] {
            let error = with(text).unwrap_err().to_string();
            assert!(
                error.contains(&format!(
                    "destinations[0].version: {problem} is not an SNMP version (1, 2c or 3)"
                )),
                "{error}"
            );
        }
        let error = with("1.5").unwrap_err().to_string();
        assert!(
            error.contains("expected an SNMP version: 1, 2c or 3"),
            "{error}"
        );
        assert!(error.contains("line 7"), "{error}");
    }

    #[test]
    fn a_syntax_error_never_quotes_a_line_with_an_inline_community() {
        let text = "state_dir: s\nintakes: {stdin: true}\ndestinations:\n  - {name: nms, address: \"udp:127.0.0.1:162\", community: s3cretcomm, bogus: 1}\n  - name: b\n    community: other-s3cret\n";
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains("unknown field `bogus`"), "{error}");
        assert!(error.contains("line 4"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
        let error = parse(&text.replace(", bogus: 1", ""))
            .unwrap_err()
            .to_string();
        assert!(error.contains("missing field `address`"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
    }

    #[test]
    fn community_from_the_environment_must_be_set() {
        let text = format!("{MINIMAL}    community_env: MONBRIDGE_TEST_UNSET_COMMUNITY_VARIABLE\n");
        let error = parse(&text).unwrap_err().to_string();
        assert!(
            error.contains("MONBRIDGE_TEST_UNSET_COMMUNITY_VARIABLE is not set"),
            "{error}"
        );
    }

    const V3: &str = "state_dir: state\nsnmp_engine_id: '0x800098930467772d74657374'\nintakes:\n  stdin: true\ndestinations:\n  - name: nms\n    address: udp:127.0.0.1:162\n    version: 3\n    user: ops\n    auth_protocol: SHA-256\n    auth_pass_env: PATH\n";

    #[test]
    fn v3_destination_has_its_user_and_waits_for_the_engine() {
        let config = parse(V3).unwrap();
        assert!(config.uses_v3());
        assert_eq!(config.snmp_engine_id.to_hex(), "800098930467772d74657374");
        let sender = config.destinations[0].sender.clone();
        let identity = sender.security.v3().unwrap();
        assert_eq!(identity.user.name, "ops");
        assert!(sender.clone().with_engine(None).is_none());
        let engine = LocalEngine::new(config.snmp_engine_id.clone(), 7);
        let bound = sender.with_engine(Some(&engine)).unwrap();
        assert_eq!(bound.security.v3().map(|v3| v3.engine.boots), Some(7));
    }

    #[test]
    fn v3_mistakes_are_refused_with_line_and_column_or_the_setting() {
        let error = parse(&V3.replace("SHA-256", "SHA-3"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown authentication protocol"), "{error}");
        assert!(error.contains("line 10"), "{error}");
        let error = parse(&V3.replace("'0x8000", "'0xZZ"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 2"), "{error}");
        let error = parse(&V3.replace("SHA-256", "MD5"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("destinations[0]: authentication protocol MD5 is weak"));
        assert!(error.contains("allow_weak: true"), "{error}");
        assert!(
            parse(&format!(
                "{}    allow_weak: true\n",
                V3.replace("SHA-256", "MD5")
            ))
            .is_ok()
        );
        let error = parse(&format!("{V3}    community: s3cret\n"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("SNMPv3 uses user"), "{error}");
        assert!(!error.contains("s3cret"));
        let error = parse(&V3.replace("version: 3", "version: 2c"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("give version: 3"), "{error}");
    }

    #[test]
    fn reload_reports_restart_only_changes() {
        let old = parse(MINIMAL).unwrap();
        let new = parse(&MINIMAL.replace("state_dir: state", "state_dir: other")).unwrap();
        assert_eq!(
            old.restart_only_changes(&new),
            vec!["state_dir", "dead_letter"]
        );
        assert!(old.restart_only_changes(&old).is_empty());
    }

    fn fledge(settings: &str) -> Result<Config, ConfigError> {
        parse(&format!(
            "state_dir: state\nintakes:\n  fledge:\n    url: http://fledge:8081\n{settings}destinations:\n  - name: nms\n    address: udp:127.0.0.1:162\n"
        ))
    }

    #[test]
    fn fledge_logs_in_with_a_password_from_a_variable_never_inline() {
        // SAFETY: set once, read by this test only (the name is its own).
        unsafe { std::env::set_var("MONBRIDGE_TEST_FLEDGE_PASSWORD", "pa55word") };
        let config =
            fledge("    username: monbridge\n    password_env: MONBRIDGE_TEST_FLEDGE_PASSWORD\n")
                .unwrap();
        let settings = config.intakes.fledge.unwrap();
        assert_eq!(
            settings.credentials,
            Credentials::Login {
                username: "monbridge".into(),
                password: "pa55word".into()
            }
        );
        assert_eq!(settings.timezone, TimeZone::UTC);
        assert_eq!(settings.max_page_bytes, 16 * 1024 * 1024);
        assert!(!format!("{settings:?}").contains("pa55word"));

        let inline = fledge("    username: monbridge\n    password: pa55word\n")
            .unwrap_err()
            .to_string();
        assert!(inline.contains("unknown field `password`"), "{inline}");
        let error = fledge(
            "    username: u\n    token_file: t\n    timezone: Mars/Olympus\n    max_page_mb: 0\n",
        )
        .unwrap_err()
        .to_string();
        for expected in [
            "give a token (token_env or token_file) or a user",
            "\"Mars/Olympus\" is not a time zone",
            "max_page_mb must be at least 1",
        ] {
            assert!(error.contains(expected), "missing {expected:?} in {error}");
        }
        let no_password = fledge("    username: u\n").unwrap_err().to_string();
        assert!(
            no_password.contains("give the password with"),
            "{no_password}"
        );
    }

    #[test]
    fn fledge_timezone_is_utc_local_or_an_iana_name() {
        let zone = |name: &str| {
            fledge(&format!("    timezone: {name}\n")).map(|c| c.intakes.fledge.unwrap().timezone)
        };
        assert_eq!(zone("UTC").unwrap(), TimeZone::UTC);
        assert!(zone("local").is_ok());
        // The system's time zone database may be absent (minimal containers).
        if std::path::Path::new("/usr/share/zoneinfo/Europe/Paris").exists() {
            assert_eq!(
                zone("Europe/Paris").unwrap().iana_name(),
                Some("Europe/Paris")
            );
        }
    }
}
