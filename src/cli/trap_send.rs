//! `monbridge trap send`: every audit of the input, as the notifications the rules make, to
//! every destination. Reports go to stderr; stdout stays empty.
//!
//! SNMPv3 passphrases come from the environment or a file named on the command line, never
//! from the command line itself (argv is visible to every user of the machine).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{CliError, EXIT_DATA, EXIT_OK, RulesArgs, params_from, parse_key_value};
use crate::pipeline::trap::{self, RejectLog, RunError};
use crate::sink::snmp::usm::{
    AuthProtocol, EngineId, LocalEngine, PrivProtocol, SettingNames, V3Settings, default_engine_id,
    default_state_dir,
};
use crate::sink::snmp::{
    Community, CommunitySetting, Destination, NotificationKind, Sender, SenderConfig, SenderError,
    SenderSettings, Version, check_settings,
};

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
    /// Send InformRequests and wait for each manager's Response (SNMPv2c or SNMPv3).
    #[arg(long)]
    pub inform: bool,
    #[command(flatten)]
    pub v3: V3Args,
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
    // SNMPv3 with the User-based Security Model (needs --user).
    #[value(name = "3")]
    V3,
}

const V3_HEADING: &str = "SNMPv3 (--version 3)";

/// SNMPv3 (USM) options; only with `--version 3`.
#[derive(Debug, Clone, Args)]
pub struct V3Args {
    /// USM user name (at most 32 octets).
    #[arg(help_heading = V3_HEADING, long, value_name = "NAME")]
    pub user: Option<String>,
    /// Authentication: MD5, SHA, SHA-224, SHA-256, SHA-384 or SHA-512 (MD5 needs --allow-weak).
    #[arg(help_heading = V3_HEADING, long = "auth-protocol", value_name = "P", value_parser = parse_auth)]
    pub auth_protocol: Option<AuthProtocol>,
    /// Environment variable holding the authentication passphrase.
    #[arg(
        help_heading = V3_HEADING,
        long = "auth-pass-env",
        value_name = "VAR",
        conflicts_with = "auth_pass_file"
    )]
    pub auth_pass_env: Option<String>,
    /// File holding the authentication passphrase (one trailing newline is ignored).
    #[arg(help_heading = V3_HEADING, long = "auth-pass-file", value_name = "FILE")]
    pub auth_pass_file: Option<PathBuf>,
    /// Privacy: DES, AES (128), AES-192 or AES-256 (AES-192/256: the Blumenthal key extension
    /// net-snmp uses; DES needs --allow-weak). Needs authentication.
    #[arg(help_heading = V3_HEADING, long = "priv-protocol", value_name = "P", value_parser = parse_priv)]
    pub priv_protocol: Option<PrivProtocol>,
    /// Environment variable holding the privacy passphrase.
    #[arg(
        help_heading = V3_HEADING,
        long = "priv-pass-env",
        value_name = "VAR",
        conflicts_with = "priv_pass_file"
    )]
    pub priv_pass_env: Option<String>,
    /// File holding the privacy passphrase (one trailing newline is ignored).
    #[arg(help_heading = V3_HEADING, long = "priv-pass-file", value_name = "FILE")]
    pub priv_pass_file: Option<PathBuf>,
    /// Our snmpEngineID in hex [default: 80009893 04 + host name (RFC 3411 text format)].
    #[arg(help_heading = V3_HEADING, long = "engine-id", value_name = "HEX")]
    pub engine_id: Option<EngineId>,
    /// contextName of the notifications [default: empty].
    #[arg(help_heading = V3_HEADING, long, value_name = "NAME")]
    pub context: Option<String>,
    /// Where snmpEngineBoots is kept, incremented at every start [default:
    /// $XDG_STATE_HOME/monbridge, ~/.local/state/monbridge or /var/lib/monbridge].
    #[arg(help_heading = V3_HEADING, long = "state-dir", value_name = "DIR", env = "MONBRIDGE_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Accept MD5, DES and passphrases shorter than 8 characters (for old peers).
    #[arg(help_heading = V3_HEADING, long = "allow-weak")]
    pub allow_weak: bool,
}

/// The option names, for errors that name what the operator typed.
const V3_OPTION_NAMES: SettingNames = SettingNames {
    user: "--user NAME",
    auth_protocol: "--auth-protocol",
    auth_pass_env: "--auth-pass-env",
    auth_pass_file: "--auth-pass-file",
    priv_protocol: "--priv-protocol",
    priv_pass_env: "--priv-pass-env",
    priv_pass_file: "--priv-pass-file",
    allow_weak: "--allow-weak",
    v3_settings_need_v3: "SNMPv3 options (--user, --auth-protocol, ...) need --version 3",
    inform_needs_v2c: "--inform needs --version 2c or 3: SNMPv1 has no InformRequest",
    // Unused: the option has a default, so SNMPv3 ignores it rather than refuse it.
    community_is_not_v3: "--community is for versions 1 and 2c; SNMPv3 uses --user",
};

impl V3Args {
    fn settings(&self) -> V3Settings {
        V3Settings {
            user: self.user.clone(),
            auth_protocol: self.auth_protocol,
            auth_pass_env: self.auth_pass_env.clone(),
            auth_pass_file: self.auth_pass_file.clone(),
            priv_protocol: self.priv_protocol,
            priv_pass_env: self.priv_pass_env.clone(),
            priv_pass_file: self.priv_pass_file.clone(),
            context: self.context.clone(),
            allow_weak: self.allow_weak,
        }
    }

    /// Our engine, started (boots + 1).
    fn engine(&self) -> Result<LocalEngine, CliError> {
        let engine_id = match &self.engine_id {
            Some(id) => id.clone(),
            None => default_engine_id(&gethostname::gethostname().to_string_lossy()),
        };
        let state_dir = self.state_dir.clone().unwrap_or_else(default_state_dir);
        LocalEngine::start(engine_id, &state_dir)
            .map_err(|error| CliError::Internal(error.to_string()))
    }
}

fn parse_auth(text: &str) -> Result<AuthProtocol, String> {
    text.parse()
}

fn parse_priv(text: &str) -> Result<PrivProtocol, String> {
    text.parse()
}

fn parse_community(text: &str) -> Result<Community, String> {
    Ok(Community::new(text))
}

pub fn run(args: &TrapSendArgs) -> Result<u8, CliError> {
    let version = match args.version {
        VersionArg::V1 => Version::V1,
        VersionArg::V2c => Version::V2c,
        VersionArg::V3 => Version::V3,
    };
    let mut community = || Some(args.community.clone());
    let settings = SenderSettings {
        version,
        notification: if args.inform {
            NotificationKind::Inform
        } else {
            NotificationKind::Trap
        },
        // `--community` has a default (and an environment variable), so it cannot be told
        // apart from not given: SNMPv3 ignores it.
        community: match version {
            Version::V3 => CommunitySetting::Default,
            _ => CommunitySetting::Given(&mut community),
        },
        v3: args.v3.settings(),
        other_v3_given: args.v3.engine_id.is_some(),
        retries: args.retries,
        timeout: Duration::from_millis(args.timeout_ms),
    };
    // The user, with passphrases read and checked; then our engine, started.
    let checked = check_settings(settings, &V3_OPTION_NAMES, None).map_err(|errors| {
        CliError::Usage(errors.first().map(ToString::to_string).unwrap_or_default())
    })?;
    let config: SenderConfig = checked
        .try_map_v3(|identity| Ok::<_, CliError>(identity.with_engine(args.v3.engine()?)))?;
    // Destinations first: a wrong --to is a usage error, found before any work is done.
    let mut sender = Sender::new(config, &args.to).map_err(|error| match error {
        SenderError::Socket { .. } => CliError::Internal(error.to_string()),
        other => CliError::Usage(other.to_string()),
    })?;
    let rules = args.rules.load()?;
    let input = open_input(&args.input)?;
    let mut rejects = match &args.reject {
        Some(path) => RejectLog::to_file(path),
        None => RejectLog::none(),
    };
    let summary = trap::run(
        input,
        &rules,
        &params_from(&args.params),
        &mut sender,
        &mut rejects,
    )
    .map_err(|error| match error {
        RunError::Read(error) => {
            CliError::Data(format!("cannot read {}: {error}", input_name(&args.input)))
        }
        RunError::Reject(error) => CliError::Internal(error.to_string()),
    })?;
    eprintln!("{summary}");
    Ok(if summary.is_success() {
        EXIT_OK
    } else {
        EXIT_DATA
    })
}

/// The input, read as a stream: the file, or stdin for `-`.
fn open_input(path: &Path) -> Result<Box<dyn Read + Send>, CliError> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::stdin()));
    }
    std::fs::File::open(path)
        .map(|file| Box::new(file) as Box<dyn Read + Send>)
        .map_err(|e| CliError::Data(format!("cannot read {}: {e}", path.display())))
}

fn input_name(path: &Path) -> String {
    if path == Path::new("-") {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    }
}
