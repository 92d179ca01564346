//! What a Mist run is given: the original plugin's defaults, the fetch settings both
//! `monbridge mist` and `pandora_mist` take, and the agent timestamp.

use std::time::{Duration, Instant};

use super::MistSummary;
use crate::source::mist::{
    ApiToken, BaseUrl, CallBudget, DEFAULT_CONNECT_TIMEOUT, DEFAULT_HOST, FetchOptions, MAX_PAGES,
    Mode, Paging,
};

/// Response bodies larger than this many megabytes fail by default.
pub const DEFAULT_MAX_RESPONSE_MB: u64 = 64;

/// A `--plan` value.
pub fn parse_plan(text: &str) -> Result<Mode, String> {
    match text {
        "auto" => Ok(Mode::Auto),
        "per-site" => Ok(Mode::PerSite),
        "org-stats" => Ok(Mode::OrgStats),
        other => Err(format!(
            "unknown plan `{other}`: auto, per-site or org-stats"
        )),
    }
}

/// The Pandora data server's spool, where the original plugin writes.
pub const DEFAULT_DATA_DIR: &str = "/var/spool/pandora/data_in";
/// The default agent group and name prefix of the original plugin.
pub const DEFAULT_GROUP: &str = "Mist";
pub const DEFAULT_PREFIX: &str = "Mist";

/// Settings of a Mist fetch that both commands take.
pub struct FetchSettings<'a> {
    pub token: &'a ApiToken,
    pub org: &'a str,
    /// A regional host, checked when the command line was parsed.
    pub host: Option<&'a str>,
    /// Any API base URL, checked likewise.
    pub api_url: Option<&'a str>,
    pub timeout: u64,
    pub plan: Mode,
    /// `--org-stats`, the older spelling of `--plan org-stats`.
    pub org_stats: bool,
    /// Seconds between two runs (the plugin module's interval).
    pub interval: u64,
    pub calls_per_hour: u32,
    pub max_response_mb: u64,
    pub concurrency: usize,
    pub page_limit: u32,
}

impl FetchSettings<'_> {
    /// The fetch options; the run's deadline starts now, so call this first thing.
    pub fn options(&self) -> Result<FetchOptions, String> {
        let started = Instant::now();
        let base = match (self.api_url, self.host) {
            (Some(url), _) => BaseUrl::from_api_url(url),
            (None, Some(host)) => BaseUrl::from_host(host),
            (None, None) => BaseUrl::from_host(DEFAULT_HOST),
        }
        .map_err(|e| e.to_string())?;
        let mut options = FetchOptions::new(base, self.token.clone(), self.org);
        options.mode = if self.org_stats {
            Mode::OrgStats
        } else {
            self.plan
        };
        options.budget = Duration::from_secs(self.timeout);
        options.deadline = Some(started + options.budget);
        options.calls = CallBudget {
            calls_per_hour: self.calls_per_hour,
            interval: Duration::from_secs(self.interval),
        };
        options.max_response_bytes = self.max_response_mb.saturating_mul(1_000_000);
        options.connect_timeout = DEFAULT_CONNECT_TIMEOUT;
        options.concurrency = self.concurrency;
        options.paging = Paging {
            limit: self.page_limit,
            max_pages: MAX_PAGES,
        };
        Ok(options)
    }
}

/// Why a run that processed sites still failed.
pub fn incomplete(summary: &MistSummary) -> String {
    let mut parts = Vec::new();
    if !summary.site_failures.is_empty() {
        parts.push(format!(
            "{} site(s) could not be fetched and got no file",
            summary.site_failures.len()
        ));
    }
    if !summary.agent_failures.is_empty() {
        parts.push(format!(
            "{} agent(s) failed and got no file",
            summary.agent_failures.len()
        ));
    }
    format!("the run is incomplete: {}", parts.join("; "))
}

/// An RFC 3339 time (in the machine's time zone), or one with a `[zone]` suffix.
pub fn parse_time(text: &str) -> Result<jiff::Zoned, String> {
    if let Ok(zoned) = text.parse::<jiff::Zoned>() {
        return Ok(zoned);
    }
    text.parse::<jiff::Timestamp>()
        .map(|ts| ts.to_zoned(jiff::tz::TimeZone::system()))
        .map_err(|e| format!("expected an RFC 3339 time such as 2024-07-10T10:05:00Z: {e}"))
}
