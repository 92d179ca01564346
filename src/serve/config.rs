//! The daemon's configuration: one YAML file, read with serde-saphyr (syntax and type errors
//! carry line and column), then checked as a whole so that every mistake is reported at once.
//!
//! Relative paths are read relative to the file's folder, so a configuration and its rules can
//! move together. Secrets (communities, the Fledge token) are given inline or, better, named by
//! environment variable or file; SNMPv3 passphrases only by variable or file. None appears in
//! `Debug` output or error messages.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::sink::snmp::usm::{
    AuthProtocol, EngineId, LocalEngine, PrivProtocol, SettingNames, V3Identity, V3Settings,
    default_engine_id,
};
use crate::sink::snmp::{Community, Destination, SenderConfig, SnmpVersion};

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

// ---------------------------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    rules: Option<PathBuf>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    params: BTreeMap<String, String>,
    state_dir: PathBuf,
    /// Our SNMPv3 engine ID (hex); the default is made from the host name.
    #[serde(default, deserialize_with = "parsed")]
    snmp_engine_id: Option<EngineId>,
    #[serde(default = "default_log_level")]
    log_level: String,
    #[serde(default)]
    intakes: RawIntakes,
    #[serde(default)]
    destinations: Vec<RawDestination>,
    #[serde(default)]
    policy: Policy,
    #[serde(default)]
    backoff: RawBackoff,
    #[serde(default)]
    queue: RawQueue,
    dead_letter: Option<PathBuf>,
    #[serde(default)]
    metrics: RawMetrics,
}

fn default_log_level() -> String {
    "info".to_owned()
}

/// A value written as text and read with its `FromStr`, so that a wrong one is a syntax error
/// with line and column.
fn parsed<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: fmt::Display,
{
    Option::<String>::deserialize(deserializer)?
        .map(|text| text.parse().map_err(serde::de::Error::custom))
        .transpose()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntakes {
    #[serde(default)]
    stdin: bool,
    http: Option<RawHttp>,
    fledge: Option<RawFledge>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFledge {
    url: String,
    #[serde(default)]
    source: Vec<String>,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    #[serde(default = "default_poll_interval_ms")]
    interval_ms: u64,
    #[serde(default = "default_page_size")]
    page_size: u32,
    #[serde(default = "default_request_timeout_ms")]
    timeout_ms: u64,
    #[serde(default)]
    backfill: bool,
}

fn default_poll_interval_ms() -> u64 {
    1000
}
fn default_page_size() -> u32 {
    100
}
fn default_request_timeout_ms() -> u64 {
    10_000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDestination {
    name: String,
    address: String,
    #[serde(default)]
    version: VersionText,
    community: Option<String>,
    community_env: Option<String>,
    community_file: Option<PathBuf>,
    /// SNMPv3 (USM) settings, named as `trap send`'s options are.
    user: Option<String>,
    #[serde(default, deserialize_with = "parsed")]
    auth_protocol: Option<AuthProtocol>,
    auth_pass_env: Option<String>,
    auth_pass_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "parsed")]
    priv_protocol: Option<PrivProtocol>,
    priv_pass_env: Option<String>,
    priv_pass_file: Option<PathBuf>,
    context: Option<String>,
    #[serde(default)]
    allow_weak: bool,
    #[serde(default)]
    notification: NotificationKind,
    retries: Option<u32>,
    timeout_ms: Option<u64>,
    #[serde(default)]
    rate_limit: u32,
}

/// `version: 1`, `version: 2c` or `version: 3`: YAML reads `1` as a number and `2c` as a
/// string, so both are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct VersionText(String);

impl Default for VersionText {
    fn default() -> Self {
        VersionText("2c".to_owned())
    }
}

impl<'de> Deserialize<'de> for VersionText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = VersionText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an SNMP version: 1, 2c or 3")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<VersionText, E> {
                Ok(VersionText(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<VersionText, E> {
                Ok(VersionText(v.to_string()))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<VersionText, E> {
                Ok(VersionText(v.to_owned()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Trap (fire and forget) or inform (acknowledged by the manager).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationKind {
    #[default]
    Trap,
    Inform,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackoff {
    #[serde(default = "default_backoff_initial_ms")]
    initial_ms: u64,
    #[serde(default = "default_backoff_max_ms")]
    max_ms: u64,
}

impl Default for RawBackoff {
    fn default() -> Self {
        RawBackoff {
            initial_ms: default_backoff_initial_ms(),
            max_ms: default_backoff_max_ms(),
        }
    }
}

fn default_backoff_initial_ms() -> u64 {
    500
}
fn default_backoff_max_ms() -> u64 {
    30_000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    #[serde(default = "default_max_mb")]
    max_mb: u64,
    #[serde(default = "default_segment_mb")]
    segment_mb: u64,
    #[serde(default)]
    sync: SyncPolicy,
}

impl Default for RawQueue {
    fn default() -> Self {
        RawQueue {
            max_mb: default_max_mb(),
            segment_mb: default_segment_mb(),
            sync: SyncPolicy::default(),
        }
    }
}

fn default_max_mb() -> u64 {
    1024
}
fn default_segment_mb() -> u64 {
    16
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<String>,
    #[serde(default = "default_log_interval_s")]
    log_interval_s: u64,
}

fn default_log_interval_s() -> u64 {
    60
}

// ---------------------------------------------------------------------------------------------
// The checked configuration.

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
    pub http: Option<SocketAddr>,
    pub fledge: Option<FledgeConfig>,
}

/// Polling of `GET /fledge/audit`.
#[derive(Clone, PartialEq, Eq)]
pub struct FledgeConfig {
    /// Base URL: scheme, host, port (and a path prefix, if Fledge sits behind one).
    pub url: String,
    /// `source` filter: audit codes; empty for all.
    pub source: Vec<String>,
    /// Sent as the `authorization` header.
    pub token: Option<String>,
    /// Extra trusted CA certificate (PEM) for HTTPS.
    pub ca_file: Option<PathBuf>,
    pub interval: Duration,
    pub page_size: u32,
    pub timeout: Duration,
    /// On first start, send the audits already in the log (otherwise start from now).
    pub backfill: bool,
}

impl fmt::Debug for FledgeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FledgeConfig")
            .field("url", &self.url)
            .field("source", &self.source)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca_file", &self.ca_file)
            .field("interval", &self.interval)
            .field("page_size", &self.page_size)
            .field("timeout", &self.timeout)
            .field("backfill", &self.backfill)
            .finish()
    }
}

/// One manager.
#[derive(Debug, Clone)]
pub struct DestinationConfig {
    /// Unique; names the delivery cursor in the state directory and the metrics.
    pub name: String,
    pub address: Destination,
    /// Its `v3` is set only once the daemon's engine is started ([`Config::bind_engine`]).
    pub sender: SenderConfig,
    /// The SNMPv3 user and context, for `version: 3`.
    pub v3: Option<V3Identity>,
    /// Messages per second at most; 0 for no limit.
    pub rate_limit: u32,
}

impl PartialEq for DestinationConfig {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.address == other.address
            && self.rate_limit == other.rate_limit
            && self.sender.version == other.sender.version
            && self.sender.inform == other.sender.inform
            && self.sender.community == other.sender.community
            && self.sender.retries == other.sender.retries
            && self.sender.timeout == other.sender.timeout
            && self.v3 == other.v3
    }
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
    pub listen: Option<SocketAddr>,
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
            let rendered = e.to_string();
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
        self.destinations.iter().any(|d| d.v3.is_some())
    }

    /// Gives every SNMPv3 destination the daemon's engine, started once per run.
    pub fn bind_engine(&mut self, engine: &LocalEngine) {
        for destination in &mut self.destinations {
            destination.sender.v3 = destination
                .v3
                .clone()
                .map(|identity| identity.with_engine(engine.clone()));
        }
    }
}

/// The configuration keys, for errors that name what the operator wrote.
const V3_SETTING_NAMES: SettingNames = SettingNames {
    user: "user",
    auth_protocol: "auth_protocol",
    auth_pass_env: "auth_pass_env",
    auth_pass_file: "auth_pass_file",
    priv_protocol: "priv_protocol",
    priv_pass_env: "priv_pass_env",
    priv_pass_file: "priv_pass_file",
    allow_weak: "allow_weak: true",
};

struct Checker {
    base: PathBuf,
    problems: Vec<String>,
}

impl Checker {
    fn problem(&mut self, text: String) {
        self.problems.push(text);
    }

    fn path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.base.join(path)
        }
    }

    fn check(&mut self, path: &Path, raw: RawConfig) -> Config {
        let state_dir = self.path(&raw.state_dir);
        let rules = raw.rules.as_deref().map(|p| self.path(p));
        if let Some(dir) = &rules
            && !dir.is_dir()
        {
            self.problem(format!("rules: {} is not a folder", dir.display()));
        }
        if tracing_subscriber::EnvFilter::try_new(&raw.log_level).is_err() {
            self.problem(format!(
                "log_level: {:?} is not a level (error, warn, info, debug, trace)",
                raw.log_level
            ));
        }
        let intakes = self.intakes(raw.intakes);
        let destinations = self.destinations(raw.destinations);
        if raw.policy == Policy::Failover && destinations.len() < 2 {
            self.problem(
                "policy: failover needs at least two destinations (primary, then backup)".into(),
            );
        }
        if raw.backoff.initial_ms == 0 || raw.backoff.max_ms < raw.backoff.initial_ms {
            self.problem(
                "backoff: initial_ms must be at least 1 and max_ms at least initial_ms".into(),
            );
        }
        if raw.queue.segment_mb == 0 || raw.queue.max_mb < raw.queue.segment_mb {
            self.problem(
                "queue: segment_mb must be at least 1 and max_mb at least segment_mb".into(),
            );
        }
        let metrics_listen = raw
            .metrics
            .listen
            .as_deref()
            .and_then(|text| self.socket_address("metrics.listen", text));
        let dead_letter = raw
            .dead_letter
            .as_deref()
            .map(|p| self.path(p))
            .unwrap_or_else(|| state_dir.join("dead-letter.jsonl"));
        Config {
            path: path.to_owned(),
            rules,
            env: raw.env,
            params: raw.params,
            state_dir,
            snmp_engine_id: raw.snmp_engine_id.unwrap_or_else(|| {
                default_engine_id(&gethostname::gethostname().to_string_lossy())
            }),
            log_level: raw.log_level,
            intakes,
            destinations,
            policy: raw.policy,
            backoff: Backoff {
                initial: Duration::from_millis(raw.backoff.initial_ms),
                max: Duration::from_millis(raw.backoff.max_ms),
            },
            queue: QueueConfig {
                max_bytes: raw.queue.max_mb.saturating_mul(1024 * 1024),
                segment_bytes: raw.queue.segment_mb.saturating_mul(1024 * 1024),
                sync: raw.queue.sync,
            },
            dead_letter,
            metrics: MetricsConfig {
                listen: metrics_listen,
                log_interval: (raw.metrics.log_interval_s > 0)
                    .then(|| Duration::from_secs(raw.metrics.log_interval_s)),
            },
        }
    }

    fn socket_address(&mut self, field: &str, text: &str) -> Option<SocketAddr> {
        match text.parse::<SocketAddr>() {
            Ok(address) => Some(address),
            Err(_) => {
                self.problem(format!(
                    "{field}: {text:?} is not an IP address and port (e.g. 127.0.0.1:8611)"
                ));
                None
            }
        }
    }

    fn intakes(&mut self, raw: RawIntakes) -> Intakes {
        let http = raw
            .http
            .and_then(|http| self.socket_address("intakes.http.listen", &http.listen));
        let fledge = raw.fledge.and_then(|fledge| self.fledge(fledge));
        let intakes = Intakes {
            stdin: raw.stdin,
            http,
            fledge,
        };
        if !intakes.stdin && intakes.http.is_none() && intakes.fledge.is_none() {
            self.problem("intakes: none configured (give stdin, http and/or fledge)".into());
        }
        intakes
    }

    fn fledge(&mut self, raw: RawFledge) -> Option<FledgeConfig> {
        let url = raw.url.trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            self.problem(format!(
                "intakes.fledge.url: {:?} must start with http:// or https://",
                raw.url
            ));
        }
        for code in &raw.source {
            if code.len() != 5 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
                self.problem(format!(
                    "intakes.fledge.source: {code:?} is not a 5-character audit code"
                ));
            }
        }
        let token = match (&raw.token_env, &raw.token_file) {
            (Some(_), Some(_)) => {
                self.problem("intakes.fledge: give token_env or token_file, not both".into());
                None
            }
            (Some(name), None) => self.secret_from_env("intakes.fledge.token_env", name),
            (None, Some(file)) => {
                let file = self.path(file);
                self.secret_from_file("intakes.fledge.token_file", &file)
            }
            (None, None) => None,
        };
        let ca_file = raw.ca_file.as_deref().map(|p| self.path(p));
        if let Some(ca) = &ca_file
            && !ca.is_file()
        {
            self.problem(format!(
                "intakes.fledge.ca_file: {} is not a file",
                ca.display()
            ));
        }
        if raw.interval_ms == 0 || raw.page_size == 0 || raw.timeout_ms == 0 {
            self.problem(
                "intakes.fledge: interval_ms, page_size and timeout_ms must be at least 1".into(),
            );
        }
        Some(FledgeConfig {
            url,
            source: raw.source,
            token,
            ca_file,
            interval: Duration::from_millis(raw.interval_ms),
            page_size: raw.page_size,
            timeout: Duration::from_millis(raw.timeout_ms),
            backfill: raw.backfill,
        })
    }

    fn destinations(&mut self, raw: Vec<RawDestination>) -> Vec<DestinationConfig> {
        if raw.is_empty() {
            self.problem("destinations: none configured".into());
        }
        let mut names = std::collections::BTreeSet::new();
        let mut checked = Vec::with_capacity(raw.len());
        for (index, destination) in raw.into_iter().enumerate() {
            let field = format!("destinations[{index}]");
            if !names.insert(destination.name.clone()) {
                self.problem(format!(
                    "{field}.name: {:?} is used twice",
                    destination.name
                ));
            }
            if let Some(checked_destination) = self.destination(&field, destination) {
                checked.push(checked_destination);
            }
        }
        checked
    }

    fn destination(&mut self, field: &str, raw: RawDestination) -> Option<DestinationConfig> {
        let before = self.problems.len();
        if raw.name.is_empty()
            || raw.name.len() > 64
            || !raw
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            self.problem(format!(
                "{field}.name: {:?} must be 1 to 64 letters, digits, '-' or '_'",
                raw.name
            ));
        }
        let address = match raw.address.parse::<Destination>() {
            Ok(address) => Some(address),
            Err(error) => {
                self.problem(format!("{field}.address: {error}"));
                None
            }
        };
        // SNMPv3 carries the same PDUs as v2c, inside a USM message.
        let (version, is_v3) = match raw.version.0.to_ascii_lowercase().as_str() {
            "1" | "v1" => (Some(SnmpVersion::V1), false),
            "2c" | "v2c" => (Some(SnmpVersion::V2c), false),
            "3" | "v3" => (Some(SnmpVersion::V2c), true),
            other => {
                self.problem(format!(
                    "{field}.version: {other:?} is not an SNMP version (1, 2c or 3)"
                ));
                (None, false)
            }
        };
        let settings = V3Settings {
            user: raw.user,
            auth_protocol: raw.auth_protocol,
            auth_pass_env: raw.auth_pass_env,
            auth_pass_file: raw.auth_pass_file,
            priv_protocol: raw.priv_protocol,
            priv_pass_env: raw.priv_pass_env,
            priv_pass_file: raw.priv_pass_file,
            context: raw.context,
            allow_weak: raw.allow_weak,
        };
        let v3 = if is_v3 {
            match settings.identity(&V3_SETTING_NAMES, Some(&self.base)) {
                Ok(identity) => Some(identity),
                Err(error) => {
                    self.problem(format!("{field}: {error}"));
                    None
                }
            }
        } else {
            if version.is_some() && settings.any_given() {
                self.problem(format!(
                    "{field}: user, auth_*, priv_*, context and allow_weak are SNMPv3 settings; \
                     give version: 3"
                ));
            }
            None
        };
        let inform = raw.notification == NotificationKind::Inform;
        if inform && version == Some(SnmpVersion::V1) {
            self.problem(format!(
                "{field}.notification: informs need version 2c or 3 (SNMPv1 has no InformRequest)"
            ));
        }
        let community = match (&raw.community, &raw.community_env, &raw.community_file) {
            (None, None, None) => Some("public".to_owned()),
            _ if is_v3 => {
                self.problem(format!(
                    "{field}: community settings are for versions 1 and 2c; SNMPv3 uses user"
                ));
                None
            }
            (Some(text), None, None) => Some(text.clone()),
            (None, Some(name), None) => {
                self.secret_from_env(&format!("{field}.community_env"), name)
            }
            (None, None, Some(file)) => {
                let file = self.path(file);
                self.secret_from_file(&format!("{field}.community_file"), &file)
            }
            _ => {
                self.problem(format!(
                    "{field}: give one of community, community_env and community_file"
                ));
                None
            }
        };
        let defaults = SenderConfig::default();
        let timeout_ms = raw
            .timeout_ms
            .unwrap_or(defaults.timeout.as_millis() as u64);
        if timeout_ms == 0 {
            self.problem(format!("{field}.timeout_ms must be at least 1"));
        }
        if self.problems.len() != before {
            return None;
        }
        Some(DestinationConfig {
            name: raw.name,
            address: address?,
            sender: SenderConfig {
                version: version?,
                inform,
                community: Community::new(community?),
                retries: raw.retries.unwrap_or(defaults.retries),
                timeout: Duration::from_millis(timeout_ms),
                // Set by `Config::bind_engine` once the daemon's engine has started: checking a
                // configuration must not count a boot.
                v3: None,
            },
            v3,
            rate_limit: raw.rate_limit,
        })
    }

    fn secret_from_env(&mut self, field: &str, name: &str) -> Option<String> {
        match std::env::var(name) {
            Ok(value) if !value.is_empty() => Some(value),
            _ => {
                self.problem(format!(
                    "{field}: the environment variable {name} is not set"
                ));
                None
            }
        }
    }

    fn secret_from_file(&mut self, field: &str, file: &Path) -> Option<String> {
        match std::fs::read_to_string(file) {
            // A trailing newline is an editor's, not part of the secret.
            Ok(text) if !text.trim_end_matches(['\n', '\r']).is_empty() => {
                Some(text.trim_end_matches(['\n', '\r']).to_owned())
            }
            Ok(_) => {
                self.problem(format!("{field}: {} is empty", file.display()));
                None
            }
            Err(error) => {
                self.problem(format!("{field}: cannot read {}: {error}", file.display()));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(config.destinations[0].sender.version, SnmpVersion::V2c);
        assert!(!config.destinations[0].sender.inform);
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
        let mut config = parse(V3).unwrap();
        assert!(config.uses_v3());
        assert_eq!(config.snmp_engine_id.to_hex(), "800098930467772d74657374");
        let identity = config.destinations[0].v3.clone().unwrap();
        assert_eq!(identity.user.name, "ops");
        assert!(config.destinations[0].sender.v3.is_none());
        config.bind_engine(&LocalEngine::new(config.snmp_engine_id.clone(), 7));
        assert_eq!(
            config.destinations[0]
                .sender
                .v3
                .as_ref()
                .map(|v3| v3.engine.boots),
            Some(7)
        );
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
}
