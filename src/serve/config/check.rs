//! Checking the configuration as written ([`raw`](super::raw)) into a [`Config`]: every
//! address parsed, every secret read, every path made absolute, and every problem collected.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::tz::TimeZone;

use super::http::Limits;
use super::raw::{RawConfig, RawDestination, RawFledge, RawIntakes};
use super::{
    Backoff, Config, DestinationConfig, FledgeConfig, Intakes, MetricsConfig, Policy, QueueConfig,
};
use crate::sink::snmp::usm::{SettingNames, V3Settings, default_engine_id};
use crate::sink::snmp::{
    Community, CommunitySetting, Destination, SecurityError, SenderConfig, SenderSettings, Version,
    check_settings,
};
use crate::source::fledge::Credentials;

/// The configuration keys, for errors that name what the operator wrote.
const SETTING_NAMES: SettingNames = SettingNames {
    user: "user",
    auth_protocol: "auth_protocol",
    auth_pass_env: "auth_pass_env",
    auth_pass_file: "auth_pass_file",
    priv_protocol: "priv_protocol",
    priv_pass_env: "priv_pass_env",
    priv_pass_file: "priv_pass_file",
    allow_weak: "allow_weak: true",
    v3_settings_need_v3: "user, auth_*, priv_*, context and allow_weak are SNMPv3 settings; \
                          give version: 3",
    inform_needs_v2c: "informs need version 2c or 3 (SNMPv1 has no InformRequest)",
    community_is_not_v3: "community settings are for versions 1 and 2c; SNMPv3 uses user",
};

/// Checks a configuration as written, collecting every problem.
pub(super) struct Checker {
    pub(super) base: PathBuf,
    pub(super) problems: Vec<String>,
}

impl Checker {
    pub(super) fn problem(&mut self, text: String) {
        self.problems.push(text);
    }

    pub(super) fn path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.base.join(path)
        }
    }

    pub(super) fn check(&mut self, path: &Path, raw: RawConfig) -> Config {
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
        let mut raw_metrics = raw.metrics;
        let metrics_access = raw_metrics.access();
        let metrics_listen = raw_metrics
            .listen
            .as_deref()
            .and_then(|text| self.listen("metrics", text, metrics_access, Limits::METRICS));
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
                log_interval: (raw_metrics.log_interval_s > 0)
                    .then(|| Duration::from_secs(raw_metrics.log_interval_s)),
            },
        }
    }

    pub(super) fn socket_address(&mut self, field: &str, text: &str) -> Option<SocketAddr> {
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
        let http = raw.http.and_then(|mut http| {
            let limits = Limits {
                max_connections: http.max_connections,
                header_timeout: Duration::from_millis(http.header_timeout_ms),
                body_timeout: Duration::from_millis(http.body_timeout_ms),
            };
            let access = http.access();
            self.listen("intakes.http", &http.listen, access, limits)
        });
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
        let credentials = self.fledge_credentials(&raw);
        let ca_file = raw.ca_file.as_deref().map(|p| self.path(p));
        if let Some(ca) = &ca_file
            && !ca.is_file()
        {
            self.problem(format!(
                "intakes.fledge.ca_file: {} is not a file",
                ca.display()
            ));
        }
        if raw.interval_ms == 0 || raw.page_size == 0 || raw.timeout_ms == 0 || raw.max_page_mb == 0
        {
            self.problem(
                "intakes.fledge: interval_ms, page_size, timeout_ms and max_page_mb must be at \
                 least 1"
                    .into(),
            );
        }
        let timezone = self.or_problem(time_zone(&raw.timezone));
        Some(FledgeConfig {
            url,
            source: raw.source,
            credentials: credentials?,
            ca_file,
            interval: Duration::from_millis(raw.interval_ms),
            page_size: raw.page_size,
            timeout: Duration::from_millis(raw.timeout_ms),
            backfill: raw.backfill,
            timezone: timezone?,
            max_page_bytes: raw.max_page_mb.saturating_mul(1024 * 1024),
        })
    }

    /// A fixed token, or a user and password to log in with; passwords never inline.
    fn fledge_credentials(&mut self, raw: &RawFledge) -> Option<Credentials> {
        let token_given = raw.token_env.is_some() || raw.token_file.is_some();
        let password_given = raw.password_env.is_some() || raw.password_file.is_some();
        if token_given && (raw.username.is_some() || password_given) {
            self.problem(
                "intakes.fledge: give a token (token_env or token_file) or a user (username \
                 with password_env or password_file), not both"
                    .into(),
            );
            return None;
        }
        if let Some(username) = &raw.username {
            let password = match (&raw.password_env, &raw.password_file) {
                (Some(_), Some(_)) => {
                    Err("intakes.fledge: give password_env or password_file, not both".to_owned())
                }
                (Some(name), None) => secret_from_env("intakes.fledge.password_env", name),
                (None, Some(file)) => {
                    secret_from_file("intakes.fledge.password_file", &self.path(file))
                }
                (None, None) => Err(
                    "intakes.fledge.username: give the password with password_env or \
                     password_file"
                        .to_owned(),
                ),
            };
            return self
                .or_problem(password)
                .map(|password| Credentials::Login {
                    username: username.clone(),
                    password,
                });
        }
        if password_given {
            self.problem("intakes.fledge: a password needs a username".into());
            return None;
        }
        let token = match (&raw.token_env, &raw.token_file) {
            (Some(_), Some(_)) => {
                Err("intakes.fledge: give token_env or token_file, not both".to_owned())
            }
            (Some(name), None) => secret_from_env("intakes.fledge.token_env", name),
            (None, Some(file)) => secret_from_file("intakes.fledge.token_file", &self.path(file)),
            (None, None) => return Some(Credentials::None),
        };
        self.or_problem(token).map(Credentials::Token)
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
        let RawDestination {
            name,
            address,
            version,
            community,
            community_env,
            community_file,
            user,
            auth_protocol,
            auth_pass_env,
            auth_pass_file,
            priv_protocol,
            priv_pass_env,
            priv_pass_file,
            context,
            allow_weak,
            notification,
            retries,
            timeout_ms,
            rate_limit,
        } = raw;
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            self.problem(format!(
                "{field}.name: {name:?} must be 1 to 64 letters, digits, '-' or '_'"
            ));
        }
        let address = match address.parse::<Destination>() {
            Ok(address) => Some(address),
            Err(error) => {
                self.problem(format!("{field}.address: {error}"));
                None
            }
        };
        let defaults = <SenderConfig>::default();
        let timeout_ms = timeout_ms.unwrap_or(defaults.timeout.as_millis() as u64);
        // The community is read only when the version uses it, and is the last setting
        // checked: problems reading it come after the others.
        let given = community.is_some() || community_env.is_some() || community_file.is_some();
        let mut community_problems = Vec::new();
        let mut read_community = || {
            let read = match (&community, &community_env, &community_file) {
                (Some(text), None, None) => Ok(text.clone()),
                (None, Some(name), None) => {
                    secret_from_env(&format!("{field}.community_env"), name)
                }
                (None, None, Some(file)) => {
                    secret_from_file(&format!("{field}.community_file"), &self.path(file))
                }
                _ => Err(format!(
                    "{field}: give one of community, community_env and community_file"
                )),
            };
            read.map(Community::new)
                .map_err(|problem| community_problems.push(problem))
                .ok()
        };
        let sender = match version.text().parse::<Version>() {
            Ok(version) => {
                let settings = SenderSettings {
                    version,
                    notification: notification.into(),
                    community: if given {
                        CommunitySetting::Given(&mut read_community)
                    } else {
                        CommunitySetting::Default
                    },
                    v3: V3Settings {
                        user,
                        auth_protocol,
                        auth_pass_env,
                        auth_pass_file,
                        priv_protocol,
                        priv_pass_env,
                        priv_pass_file,
                        context,
                        allow_weak,
                    },
                    other_v3_given: false,
                    retries: retries.unwrap_or(defaults.retries),
                    timeout: Duration::from_millis(timeout_ms),
                };
                check_settings(settings, &SETTING_NAMES, Some(&self.base)).map_err(|errors| {
                    errors
                        .into_iter()
                        .map(|error| match error {
                            SecurityError::InformNeedsV2c(_) => {
                                format!("{field}.notification: {error}")
                            }
                            _ => format!("{field}: {error}"),
                        })
                        .collect()
                })
            }
            Err(error) => {
                // Without a version nothing else can be checked, but the community can be read.
                if given {
                    read_community();
                }
                Err(vec![format!("{field}.version: {error}")])
            }
        };
        let sender = match sender {
            Ok(sender) => Some(sender),
            Err(problems) => {
                self.problems.extend(problems);
                None
            }
        };
        self.problems.extend(community_problems);
        if timeout_ms == 0 {
            self.problem(format!("{field}.timeout_ms must be at least 1"));
        }
        if self.problems.len() != before {
            return None;
        }
        Some(DestinationConfig {
            name,
            address: address?,
            sender: sender?,
            rate_limit,
        })
    }

    /// The value, or `None` with the problem recorded.
    pub(super) fn or_problem<T>(&mut self, result: Result<T, String>) -> Option<T> {
        result.map_err(|problem| self.problem(problem)).ok()
    }
}

/// `UTC`, `local` (the system's zone) or an IANA name such as `Europe/Paris`.
fn time_zone(name: &str) -> Result<TimeZone, String> {
    if name.eq_ignore_ascii_case("utc") {
        return Ok(TimeZone::UTC);
    }
    if name == "local" {
        return TimeZone::try_system().map_err(|e| {
            format!("intakes.fledge.timezone: the system's time zone is unknown ({e})")
        });
    }
    TimeZone::get(name).map_err(|_| {
        format!(
            "intakes.fledge.timezone: {name:?} is not a time zone (give UTC, local or an IANA \
             name such as Europe/Paris)"
        )
    })
}

pub(super) fn secret_from_env(field: &str, name: &str) -> Result<String, String> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => Err(format!(
            "{field}: the environment variable {name} is not set"
        )),
    }
}

fn secret_from_file(field: &str, file: &Path) -> Result<String, String> {
    match std::fs::read_to_string(file) {
        // A trailing newline is an editor's, not part of the secret.
        Ok(text) if !text.trim_end_matches(['\n', '\r']).is_empty() => {
            Ok(text.trim_end_matches(['\n', '\r']).to_owned())
        }
        Ok(_) => Err(format!("{field}: {} is empty", file.display())),
        Err(error) => Err(format!("{field}: cannot read {}: {error}", file.display())),
    }
}
