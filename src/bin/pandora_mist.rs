//! The drop-in Pandora FMS server plugin: `pandora_mist -t <token> -o <org_id> ...`.
//!
//! The plugin server stores everything this program prints on stdout as the value of a
//! boolean module, so stdout carries exactly `1` (success) or `0` (any failure) and nothing
//! else; every message goes to stderr. Exit status: 0 success, 1 failure, 2 usage error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use monbridge::cli::mist::{TokenParser, parse_api_url, parse_host, parse_org_id};
use monbridge::lang::Params;
use monbridge::lang::{LoadOptions, RuleSet};
use monbridge::pipeline::mist::{
    DEFAULT_DATA_DIR, DEFAULT_GROUP, DEFAULT_MAX_RESPONSE_MB, DEFAULT_PREFIX, FetchSettings,
    MistJob, Output, incomplete, parse_plan, run,
};
use monbridge::source::mist::{
    ApiToken, DEFAULT_CALLS_PER_HOUR, DEFAULT_CONCURRENCY, DEFAULT_INTERVAL, DEFAULT_PAGE_LIMIT,
    Mode,
};

/// Monitors the devices of every site of a Juniper Mist organisation: writes one Pandora FMS
/// agent per site (device totals and one module per device) into the data server's spool.
/// Prints 1 on success and 0 on any failure.
#[derive(Debug, Parser)]
#[command(name = "pandora_mist", version, disable_version_flag = true)]
struct PluginArgs {
    /// Mandatory. Mist API token (or the MIST_API_TOKEN environment variable, which keeps
    /// it out of the process list).
    #[arg(short = 't', long, env = "MIST_API_TOKEN", hide_env_values = true, value_name = "token", value_parser = TokenParser)]
    token: ApiToken,
    /// Mandatory. Mist organization ID from which to extract the information of the zones.
    #[arg(short = 'o', long = "org", value_name = "org_id", value_parser = parse_org_id)]
    org: String,
    /// Group where agents created will belong.
    #[arg(short = 'g', long, value_name = "group", default_value = DEFAULT_GROUP)]
    group: String,
    /// Prefix in the created agent names.
    #[arg(short = 'p', long, value_name = "prefix", default_value = DEFAULT_PREFIX)]
    prefix: String,
    /// Pandora FMS data directory.
    #[arg(long = "data_dir", alias = "data-dir", value_name = "data_dir", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Regional Mist API host, e.g. api.eu.mist.com [default: api.mist.com].
    #[arg(long, value_name = "host", value_parser = parse_host, conflicts_with = "api_url")]
    host: Option<String>,
    /// Any API base URL (scheme, host and port), e.g. a proxy; without a scheme, a Mist
    /// host as for --host.
    #[arg(long, value_name = "url", value_parser = parse_api_url)]
    api_url: Option<String>,
    /// Folder of rule files [default: the rules built into the program].
    #[arg(long, value_name = "dir", env = "MONBRIDGE_RULES")]
    rules: Option<PathBuf>,
    /// Seconds the whole run may take (fetching, rules, writing; no file appears after
    /// it); keep it below the plugin server's plugin_timeout.
    #[arg(long, value_name = "seconds", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
    /// Which calls fetch the devices: auto (one call per site while that fits this run's
    /// share of --calls-per-hour, org-wide calls beyond), per-site or org-stats.
    #[arg(long, value_name = "plan", default_value = "auto", value_parser = parse_plan)]
    plan: Mode,
    /// The same as --plan org-stats.
    #[arg(long, conflicts_with = "plan")]
    org_stats: bool,
    /// Seconds between two runs: the module interval in Pandora.
    #[arg(long, value_name = "seconds", default_value_t = DEFAULT_INTERVAL.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86_400))]
    interval: u64,
    /// API calls the token may make in an hour (Mist allows 5,000).
    #[arg(long, value_name = "n", default_value_t = DEFAULT_CALLS_PER_HOUR, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    calls_per_hour: u32,
    /// Megabytes a response body may have; a larger one fails.
    #[arg(long, value_name = "mb", default_value_t = DEFAULT_MAX_RESPONSE_MB, value_parser = clap::value_parser!(u64).range(1..=4096))]
    max_response_mb: u64,
    /// Requests in flight at once.
    #[arg(long, value_name = "n", default_value_t = DEFAULT_CONCURRENCY, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    concurrency: usize,
    /// Items asked per page (the API allows at most 1000).
    #[arg(long, value_name = "n", default_value_t = DEFAULT_PAGE_LIMIT, value_parser = clap::value_parser!(u32).range(1..=1000))]
    page_limit: u32,
}

/// What the plugin server reads.
fn verdict(ok: bool) -> ExitCode {
    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(if ok { b"1\n" } else { b"0\n" });
    let _ = stdout.flush();
    ExitCode::from(if ok { 0 } else { 1 })
}

fn main() -> ExitCode {
    let args = match PluginArgs::try_parse() {
        Ok(args) => args,
        Err(error) if error.kind() == ErrorKind::DisplayHelp => {
            // Help is the one thing that goes to stdout, as the operator asked for it.
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            // clap would print to stderr and exit on its own; the module value must still be 0.
            eprint!("{}", error.render());
            let _ = verdict(false);
            return ExitCode::from(2);
        }
    };
    let level = std::env::var("MONBRIDGE_LOG").unwrap_or_else(|_| "warn".to_owned());
    monbridge::cli::init_logging(&level);
    match plugin(&args) {
        Ok(()) => verdict(true),
        Err(message) => {
            tracing::error!("{message}");
            verdict(false)
        }
    }
}

fn plugin(args: &PluginArgs) -> Result<(), String> {
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
    .options()?;
    let rules = RuleSet::load(&LoadOptions {
        dir: args.rules.clone(),
        env: Default::default(),
    })
    .map_err(|e| e.render(false))?;
    let params = Params::new()
        .with("prefix", &args.prefix)
        .with("group", &args.group);
    let now = jiff::Zoned::now();
    let summary = run(MistJob {
        fetch: &options,
        rules: &rules,
        params: &params,
        now: &now,
        output: Output::Spool(&args.data_dir),
        save: None,
    })
    .map_err(|e| e.to_string())?;
    tracing::info!("{}", summary.line());
    if summary.succeeded() {
        Ok(())
    } else {
        Err(format!("{}; {}", incomplete(&summary), summary.line()))
    }
}
