//! `monbridge trap send`: every audit of the input, as the notifications the rules make, to
//! every destination. Reports go to stderr; stdout stays empty.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{CliError, EXIT_DATA, EXIT_OK, RulesArgs, params_from, parse_key_value, read_input};
use crate::pipeline::trap::{self, RejectLog};
use crate::sink::snmp::{Community, Destination, Sender, SenderConfig, SenderError, SnmpVersion};

#[derive(Debug, Clone, Args)]
// `--version` selects the SNMP version here, not the program's.
#[command(disable_version_flag = true)]
pub struct TrapSendArgs {
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Manager to notify: udp:HOST:PORT, HOST:PORT or udp6:[ADDRESS]:PORT; port 162 when
    /// omitted (repeatable).
    #[arg(long = "to", value_name = "DEST", required = true)]
    pub to: Vec<Destination>,
    /// SNMPv1/v2c community.
    #[arg(
        long,
        env = "MONBRIDGE_COMMUNITY",
        hide_env_values = true,
        default_value = "public",
        value_parser = parse_community
    )]
    pub community: Community,
    /// SNMP version of the messages.
    #[arg(long = "version", value_name = "VERSION", value_enum, default_value_t = VersionArg::V2c)]
    pub version: VersionArg,
    /// Send InformRequests and wait for each manager's Response (SNMPv2c only).
    #[arg(long)]
    pub inform: bool,
    /// Informs: retransmissions when no Response comes.
    #[arg(long, value_name = "N", requires = "inform", default_value_t = SenderConfig::default().retries)]
    pub retries: u32,
    /// Informs: how long to wait for a Response to each attempt, in milliseconds.
    #[arg(
        long = "timeout-ms",
        value_name = "T",
        requires = "inform",
        default_value_t = SenderConfig::default().timeout.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub timeout_ms: u64,
    /// Set `param.NAME` for the rules (repeatable), as `render trap --param` does.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_key_value)]
    pub params: Vec<(String, String)>,
    /// Append each rejected item to FILE as a JSON line `{"error": ..., "audit": ...}`.
    #[arg(long, value_name = "FILE")]
    pub reject: Option<PathBuf>,
    /// Audit file (one audit, a Fledge audit list, or JSON lines); `-` reads stdin.
    #[arg(value_name = "FILE")]
    pub input: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VersionArg {
    #[value(name = "1")]
    V1,
    #[value(name = "2c")]
    V2c,
}

fn parse_community(text: &str) -> Result<Community, String> {
    Ok(Community::new(text))
}

pub fn run(args: &TrapSendArgs) -> Result<u8, CliError> {
    let version = match args.version {
        VersionArg::V1 => SnmpVersion::V1,
        VersionArg::V2c => SnmpVersion::V2c,
    };
    let config = SenderConfig {
        version,
        inform: args.inform,
        community: args.community.clone(),
        retries: args.retries,
        timeout: Duration::from_millis(args.timeout_ms),
    };
    // Destinations first: a wrong --to is a usage error, found before any work is done.
    let mut sender = Sender::new(config, &args.to).map_err(|error| match error {
        SenderError::Socket { .. } => CliError::Internal(error.to_string()),
        SenderError::InformNeedsV2c => {
            CliError::Usage("--inform needs --version 2c: SNMPv1 has no InformRequest".into())
        }
        other => CliError::Usage(other.to_string()),
    })?;
    let rules = args.rules.load()?;
    let input = read_input(&args.input)?;
    let mut rejects = match &args.reject {
        Some(path) => RejectLog::to_file(path),
        None => RejectLog::none(),
    };
    let summary = trap::run(
        &input,
        &rules,
        &params_from(&args.params),
        &mut sender,
        &mut rejects,
    )
    .map_err(|error| CliError::Internal(error.to_string()))?;
    eprintln!("{summary}");
    Ok(if summary.is_success() {
        EXIT_OK
    } else {
        EXIT_DATA
    })
}
