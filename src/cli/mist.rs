//! `monbridge mist`: the Mist → Pandora job with monbridge's conventions.
//!
//! Also holds the argument parsers `pandora_mist` shares, so both commands accept and
//! refuse the same tokens, hosts and URLs with the same messages.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use clap::builder::TypedValueParser;
use clap::error::ErrorKind;

use super::{CliError, RulesArgs, params_from, parse_key_value};
use crate::pipeline::mist::{
    DEFAULT_DATA_DIR, DEFAULT_GROUP, DEFAULT_MAX_RESPONSE_MB, DEFAULT_PREFIX, FetchSettings,
    JobError, MistJob, Output, incomplete, parse_plan, run as run_job,
};
use crate::source::mist::{
    ApiToken, BaseUrl, DEFAULT_CALLS_PER_HOUR, DEFAULT_CONCURRENCY, DEFAULT_INTERVAL,
    DEFAULT_PAGE_LIMIT, Mode,
};

#[derive(Debug, Clone, Args)]
pub struct MistArgs {
    /// Mist API token (better given in the environment, out of the process list).
    #[arg(short = 't', long, env = "MIST_API_TOKEN", hide_env_values = true, value_name = "TOKEN", value_parser = TokenParser)]
    pub token: ApiToken,
    /// Mist organisation id.
    #[arg(short = 'o', long, value_name = "ORG_ID", value_parser = parse_org_id)]
    pub org: String,
    /// Pandora group of the agents (`param.group`).
    #[arg(short = 'g', long, value_name = "GROUP", default_value = DEFAULT_GROUP)]
    pub group: String,
    /// Prefix of the agent names (`param.prefix`).
    #[arg(short = 'p', long, value_name = "PREFIX", default_value = DEFAULT_PREFIX)]
    pub prefix: String,
    /// Pandora data server spool directory.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Regional Mist API host (api.eu.mist.com, api.gc1.mist.com, ...) [default: api.mist.com].
    #[arg(long, value_name = "HOST", value_parser = parse_host, conflicts_with = "api_url")]
    pub host: Option<String>,
    /// Any API base URL (scheme, host and port), e.g. a proxy or a test server.
    #[arg(long, value_name = "URL", value_parser = parse_api_url)]
    pub api_url: Option<String>,
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Set another `param.NAME` for the rules (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_key_value)]
    pub params: Vec<(String, String)>,
    /// Seconds the whole run may take: fetching, rules and writing; no file is renamed into
    /// the spool after it.
    #[arg(long, value_name = "SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// Which calls fetch the devices: `auto` (per site while one call per site fits this
    /// run's share of --calls-per-hour, org-wide beyond), `per-site` or `org-stats`.
    #[arg(long, value_name = "PLAN", default_value = "auto", value_parser = parse_plan)]
    pub plan: Mode,
    /// The same as --plan org-stats.
    #[arg(long, conflicts_with = "plan")]
    pub org_stats: bool,
    /// Seconds between two runs (the module interval): with --calls-per-hour, the calls one
    /// run may make.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_INTERVAL.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub interval: u64,
    /// API calls the token may make in an hour (Mist allows 5,000).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CALLS_PER_HOUR, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub calls_per_hour: u32,
    /// Megabytes a response body may have; a larger one fails.
    #[arg(long, value_name = "MB", default_value_t = DEFAULT_MAX_RESPONSE_MB, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_response_mb: u64,
    /// Requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CONCURRENCY, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    pub concurrency: usize,
    /// Items asked per page (the API allows at most 1000).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PAGE_LIMIT, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_limit: u32,
    /// Agent timestamp (RFC 3339, e.g. 2024-07-10T10:05:00Z), shown in the local time zone
    /// [default: now].
    #[arg(long, value_name = "TIME", value_parser = check_now)]
    pub now: Option<String>,
    /// Also save the fetched document, for `monbridge render mist`.
    #[arg(long, value_name = "DOCUMENT.json")]
    pub save: Option<PathBuf>,
    /// Print the agents' XML on stdout instead of writing files.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(args: &MistArgs) -> Result<u8, CliError> {
    for (name, _) in &args.params {
        if name == "prefix" || name == "group" {
            return Err(CliError::Usage(format!(
                "set param.{name} with --{name}, not --param"
            )));
        }
    }
    let options = FetchSettings {
        token: &args.token,
        org: &args.org,
        host: args.host.as_deref(),
        api_url: args.api_url.as_deref(),
        timeout: args.timeout,
        plan: args.plan,
        org_stats: args.org_stats,
        interval: args.interval,
        calls_per_hour: args.calls_per_hour,
        max_response_mb: args.max_response_mb,
        concurrency: args.concurrency,
        page_limit: args.page_limit,
    }
    .options()
    .map_err(CliError::Internal)?;
    // Rules first: broken rules must not cost rate-limited API calls.
    let rules = args.rules.load()?;
    let params = params_from(&args.params)
        .with("prefix", &args.prefix)
        .with("group", &args.group);
    let now = match &args.now {
        Some(text) => parse_now(text).map_err(CliError::Usage)?,
        None => jiff::Zoned::now(),
    };
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    let output = if args.dry_run {
        Output::Print(&mut stdout)
    } else {
        Output::Spool(&args.data_dir)
    };
    let result = run_job(MistJob {
        fetch: &options,
        rules: &rules,
        params: &params,
        now: &now,
        output,
        save: args.save.as_deref(),
    });
    let _ = stdout.flush();
    let summary = match result {
        Ok(summary) => summary,
        Err(JobError::Fetch { failure, elapsed }) => {
            eprintln!(
                "mist: no site processed, {} API call(s), {:.2} s",
                failure.calls,
                elapsed.as_secs_f64()
            );
            return Err(CliError::Data(failure.to_string()));
        }
        Err(error @ (JobError::Spool { .. } | JobError::Save { .. })) => {
            return Err(CliError::Internal(error.to_string()));
        }
    };
    eprintln!("{}", summary.line());
    if summary.succeeded() {
        Ok(super::EXIT_OK)
    } else {
        Err(CliError::Failed(incomplete(&summary)))
    }
}

/// Parses a token without ever echoing it: clap's own messages quote the refused value.
#[derive(Debug, Clone, Copy)]
pub struct TokenParser;

impl TypedValueParser for TokenParser {
    type Value = ApiToken;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<ApiToken, clap::Error> {
        let name = arg.map_or_else(|| "--token".to_owned(), |a| a.to_string());
        let refuse = |reason: &str| {
            clap::Error::raw(
                ErrorKind::ValueValidation,
                format!("invalid value for '{name}': {reason}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("the token is not valid UTF-8"))?;
        ApiToken::new(text).map_err(|e| refuse(&e.to_string()))
    }
}

/// Checks a `--host` when the command line is parsed; kept as text (a URL is large, and
/// clap's argument structs stay small), turned into a [`BaseUrl`] by [`FetchSettings`].
pub fn parse_host(text: &str) -> Result<String, String> {
    BaseUrl::from_host(text)
        .map(|_| text.to_owned())
        .map_err(|e| e.to_string())
}

/// Checks an `--api-url` likewise.
pub fn parse_api_url(text: &str) -> Result<String, String> {
    BaseUrl::from_api_url(text)
        .map(|_| text.to_owned())
        .map_err(|e| e.to_string())
}

/// Organisation ids are UUIDs; anything with spaces or slashes is a copy-paste accident.
pub fn parse_org_id(text: &str) -> Result<String, String> {
    let id = text.trim();
    if id.is_empty() {
        return Err("the organisation id is empty".to_owned());
    }
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err("an organisation id has only letters, digits and dashes (a UUID)".to_owned());
    }
    Ok(id.to_owned())
}

/// Checks a `--now` when the command line is parsed.
pub fn check_now(text: &str) -> Result<String, String> {
    parse_now(text).map(|_| text.to_owned())
}

/// An RFC 3339 instant, seen in the local time zone like the Pandora server sees its clock.
pub fn parse_now(text: &str) -> Result<jiff::Zoned, String> {
    crate::pipeline::mist::parse_time(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_ids_refuse_accidents() {
        assert_eq!(
            parse_org_id(" a40f5d1f-d889-42e9-94ea-b9b33585fc6b "),
            Ok("a40f5d1f-d889-42e9-94ea-b9b33585fc6b".to_owned())
        );
        assert!(parse_org_id("").is_err());
        assert!(parse_org_id("a/b").is_err());
        assert!(parse_org_id("my org").is_err());
    }

    #[test]
    fn now_is_an_instant() {
        let now = parse_now("2024-07-10T10:05:00Z").unwrap();
        assert_eq!(now.timestamp().as_second(), 1_720_605_900);
        assert!(parse_now("2024-07-10 10:05").is_err());
    }
}
