//! The configuration file as written: what serde reads, with line and column in its errors.
//! Nothing here is checked beyond types and names; [`check`](super::check) does the rest.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::http::{RawAccess, RawTls};
use super::{Policy, SyncPolicy};
use crate::sink::snmp::NotificationKind;
use crate::sink::snmp::usm::{AuthProtocol, EngineId, PrivProtocol};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) rules: Option<PathBuf>,
    #[serde(default)]
    pub(super) env: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) params: BTreeMap<String, String>,
    pub(super) state_dir: PathBuf,
    /// Our SNMPv3 engine ID (hex); the default is made from the host name.
    #[serde(default, deserialize_with = "parsed")]
    pub(super) snmp_engine_id: Option<EngineId>,
    #[serde(default = "default_log_level")]
    pub(super) log_level: String,
    #[serde(default)]
    pub(super) intakes: RawIntakes,
    #[serde(default)]
    pub(super) destinations: Vec<RawDestination>,
    #[serde(default)]
    pub(super) policy: Policy,
    #[serde(default)]
    pub(super) backoff: RawBackoff,
    #[serde(default)]
    pub(super) queue: RawQueue,
    pub(super) dead_letter: Option<PathBuf>,
    #[serde(default)]
    pub(super) metrics: RawMetrics,
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
pub(super) struct RawIntakes {
    #[serde(default)]
    pub(super) stdin: bool,
    pub(super) http: Option<RawHttp>,
    pub(super) fledge: Option<RawFledge>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    pub(super) listen: String,
    pub(super) token_env: Option<String>,
    pub(super) token_file: Option<PathBuf>,
    pub(super) tls: Option<RawTls>,
    pub(super) allowed_hosts: Option<Vec<String>>,
    #[serde(default)]
    pub(super) insecure: bool,
    #[serde(default = "default_max_connections")]
    pub(super) max_connections: usize,
    #[serde(default = "default_header_timeout_ms")]
    pub(super) header_timeout_ms: u64,
    #[serde(default = "default_body_timeout_ms")]
    pub(super) body_timeout_ms: u64,
}

impl RawHttp {
    pub(super) fn access(&mut self) -> RawAccess {
        RawAccess {
            token_env: self.token_env.take(),
            token_file: self.token_file.take(),
            tls: self.tls.take(),
            allowed_hosts: self.allowed_hosts.take(),
            insecure: self.insecure,
        }
    }
}

fn default_max_connections() -> usize {
    512
}
fn default_header_timeout_ms() -> u64 {
    10_000
}
fn default_body_timeout_ms() -> u64 {
    30_000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFledge {
    pub(super) url: String,
    #[serde(default)]
    pub(super) source: Vec<String>,
    pub(super) token_env: Option<String>,
    pub(super) token_file: Option<PathBuf>,
    /// Log in as this user (with `password_env` or `password_file`) instead of a fixed token.
    pub(super) username: Option<String>,
    pub(super) password_env: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) ca_file: Option<PathBuf>,
    #[serde(default = "default_poll_interval_ms")]
    pub(super) interval_ms: u64,
    #[serde(default = "default_page_size")]
    pub(super) page_size: u32,
    #[serde(default = "default_request_timeout_ms")]
    pub(super) timeout_ms: u64,
    #[serde(default)]
    pub(super) backfill: bool,
    /// Zone of timestamps written without one: `UTC`, `local` or an IANA name.
    #[serde(default = "default_timezone")]
    pub(super) timezone: String,
    #[serde(default = "default_max_page_mb")]
    pub(super) max_page_mb: u64,
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
fn default_timezone() -> String {
    "UTC".to_owned()
}
fn default_max_page_mb() -> u64 {
    16
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDestination {
    pub(super) name: String,
    pub(super) address: String,
    #[serde(default)]
    pub(super) version: RawVersion,
    pub(super) community: Option<String>,
    pub(super) community_env: Option<String>,
    pub(super) community_file: Option<PathBuf>,
    /// SNMPv3 (USM) settings, named as `trap send`'s options are.
    pub(super) user: Option<String>,
    #[serde(default, deserialize_with = "parsed")]
    pub(super) auth_protocol: Option<AuthProtocol>,
    pub(super) auth_pass_env: Option<String>,
    pub(super) auth_pass_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "parsed")]
    pub(super) priv_protocol: Option<PrivProtocol>,
    pub(super) priv_pass_env: Option<String>,
    pub(super) priv_pass_file: Option<PathBuf>,
    pub(super) context: Option<String>,
    #[serde(default)]
    pub(super) allow_weak: bool,
    #[serde(default)]
    pub(super) notification: RawNotification,
    pub(super) retries: Option<u32>,
    pub(super) timeout_ms: Option<u64>,
    #[serde(default)]
    pub(super) rate_limit: u32,
}

/// `version: 1`, `version: 2c` or `version: 3`: YAML reads `1` as a number and `2c` as a
/// string, so both are accepted here; which texts name a version is checked with the rest.
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "expected an SNMP version: 1, 2c or 3")]
pub(super) enum RawVersion {
    Number(u64),
    Negative(i64),
    Text(String),
}

impl Default for RawVersion {
    fn default() -> Self {
        RawVersion::Text("2c".to_owned())
    }
}

impl RawVersion {
    pub(super) fn text(&self) -> String {
        match self {
            RawVersion::Number(number) => number.to_string(),
            RawVersion::Negative(number) => number.to_string(),
            RawVersion::Text(text) => text.clone(),
        }
    }
}

/// `notification: trap` or `notification: inform`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum RawNotification {
    #[default]
    Trap,
    Inform,
}

impl From<RawNotification> for NotificationKind {
    fn from(raw: RawNotification) -> NotificationKind {
        match raw {
            RawNotification::Trap => NotificationKind::Trap,
            RawNotification::Inform => NotificationKind::Inform,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackoff {
    #[serde(default = "default_backoff_initial_ms")]
    pub(super) initial_ms: u64,
    #[serde(default = "default_backoff_max_ms")]
    pub(super) max_ms: u64,
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
pub(super) struct RawQueue {
    #[serde(default = "default_max_mb")]
    pub(super) max_mb: u64,
    #[serde(default = "default_segment_mb")]
    pub(super) segment_mb: u64,
    #[serde(default)]
    pub(super) sync: SyncPolicy,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) listen: Option<String>,
    #[serde(default = "default_log_interval_s")]
    pub(super) log_interval_s: u64,
    pub(super) token_env: Option<String>,
    pub(super) token_file: Option<PathBuf>,
    pub(super) tls: Option<RawTls>,
    pub(super) allowed_hosts: Option<Vec<String>>,
    #[serde(default)]
    pub(super) insecure: bool,
}

impl RawMetrics {
    pub(super) fn access(&mut self) -> RawAccess {
        RawAccess {
            token_env: self.token_env.take(),
            token_file: self.token_file.take(),
            tls: self.tls.take(),
            allowed_hosts: self.allowed_hosts.take(),
            insecure: self.insecure,
        }
    }
}

fn default_log_interval_s() -> u64 {
    60
}
