//! The `monbridge` command line: clap definitions, then one handler per command.
//!
//! Handlers return `Result<ExitCode, CliError>`; errors are rendered once, here, to stderr.
//! Stdout carries only each command's result.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::lang::Params;
use crate::lang::{LoadError, LoadOptions, RuleSet};

mod check;
mod demo;
mod docs;
mod fmt;
mod import;
pub mod mist;
mod package;
mod render;
mod rules_export;
pub mod serve;
mod test_cmd;
mod trap_send;

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: the rules or the data were wrong (diagnostics on stderr).
pub const EXIT_DATA: u8 = 1;
/// Exit status: the command line was wrong, or something internal failed.
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "monbridge",
    version,
    about = "Bridges monitoring systems with rules operators can read: Juniper Mist to Pandora FMS, Fledge audits to SNMP",
    propagate_version = true
)]
pub struct Cli {
    /// Log level for messages on stderr (error, warn, info, debug, trace) [default: for
    /// serve, the configuration's log_level (info when it sets none); else warn].
    // No clap default: serve must tell a level given here from none, and --help must not
    // show a level that is not the one in force.
    #[arg(long, global = true, env = "MONBRIDGE_LOG")]
    pub log_level: Option<String>,
    /// When to colour diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load and check every rule file, and the trap bindings against the MIBs; print diagnostics to stderr.
    Check(check::CheckArgs),
    /// Evaluate rules over input data and print what they produce; sends and writes nothing.
    #[command(subcommand)]
    Render(RenderCommand),
    /// Like render, but print for every output field the expression, the paths it read and their values.
    #[command(subcommand)]
    Explain(RenderCommand),
    /// Rewrite rules files in the canonical layout; with --check, only report those that are not.
    Fmt(fmt::FmtArgs),
    /// Run the golden cases kept next to the rules (`<rules>/tests/`) and print a diff for each failure.
    Test(test_cmd::TestArgs),
    /// The default rules embedded in the binary.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Run both pipelines over the embedded sample data: no network, no credentials.
    Demo(demo::DemoArgs),
    /// Poll the Mist API and write one Pandora agent XML file per site into the spool.
    Mist(mist::MistArgs),
    /// Send SNMP notifications.
    #[command(subcommand)]
    Trap(TrapCommand),
    /// Convert another tool's configuration into rules.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Run the gateway daemon: audits in (Fledge REST, HTTP, stdin), a durable queue, SNMP out.
    Serve(serve::ServeArgs),
    /// Build what operators install: the Pandora FMS server plugin package.
    #[command(subcommand)]
    Package(PackageCommand),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell.
    Completions(docs::CompletionsArgs),
    /// Print the manual page (roff), or write one page per command into a folder.
    Man(docs::ManArgs),
    /// Serve the rules language to editors (LSP over stdin and stdout).
    Lsp(LspArgs),
}

#[derive(Debug, Args)]
pub struct LspArgs {
    /// Accepted for editors that pass it; stdio is the only transport.
    #[arg(long)]
    pub stdio: bool,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Write the default rules and their golden cases into a folder, to start customising.
    Export(rules_export::RulesExportArgs),
}

#[derive(Debug, Subcommand)]
pub enum RenderCommand {
    /// Trap bindings over one audit or JSON lines of audits.
    Trap(RenderTrapArgs),
    /// Agent mappings over a Mist document (`{"sites":[{..., "devices":[...]}]}`).
    Mist(RenderMistArgs),
}

#[derive(Debug, Subcommand)]
pub enum TrapCommand {
    /// Send every audit of the input, as the notifications the rules make, to every destination.
    Send(trap_send::TrapSendArgs),
}

#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Write the `mist-plugin.pspz2` that the Pandora console's Servers > Register plugin page accepts.
    Pandora(package::PandoraPackageArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Print rules equivalent to a FledgePOWER `link_audit_trap` JSON (bare, or a Fledge config item).
    LinkAuditTrap(import::ImportArgs),
}

/// Where rules come from and how `env.*` resolves.
#[derive(Debug, Clone, Args)]
pub struct RulesArgs {
    /// Folder of `*.rules` files [default: the rules embedded in the binary].
    #[arg(long, value_name = "DIR", env = "MONBRIDGE_RULES")]
    pub rules: Option<PathBuf>,
    /// Set `env.NAME` for this run instead of reading the environment (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_key_value)]
    pub env: Vec<(String, String)>,
}

impl RulesArgs {
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            dir: self.rules.clone(),
            env: self.env.iter().cloned().collect(),
        }
    }

    pub fn load(&self) -> Result<RuleSet, CliError> {
        Ok(RuleSet::load(&self.load_options())?)
    }
}

#[derive(Debug, Clone, Args)]
pub struct RenderTrapArgs {
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Set `param.NAME` (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_key_value)]
    pub params: Vec<(String, String)>,
    /// Also print each notification as an SNMPv2c Trap message in BER hex.
    #[arg(long)]
    pub hex: bool,
    /// Print JSON (one object per line) instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Audit file (one audit, a Fledge audit list, or JSON lines); `-` reads stdin.
    #[arg(value_name = "FILE")]
    pub input: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct RenderMistArgs {
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Set `param.NAME` (repeatable); the default rules read `prefix` and `group`.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_key_value)]
    pub params: Vec<(String, String)>,
    /// Agent timestamp (RFC 3339, e.g. 2024-07-10T10:05:00Z) [default: now].
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Print JSON records instead of agent XML.
    #[arg(long)]
    pub json: bool,
    /// Mist document; `-` reads stdin.
    #[arg(value_name = "DOCUMENT")]
    pub input: PathBuf,
}

/// Parameters given on the command line, with defaults the default rules expect.
pub fn params_from(pairs: &[(String, String)]) -> Params {
    let mut params = Params::new();
    for (key, value) in pairs {
        params.0.insert(key.clone(), value.clone());
    }
    params
}

pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("expected NAME=VALUE, found {text:?}")),
    }
}

/// Reads a whole input file, or stdin for `-`.
pub fn read_input(path: &Path) -> Result<Vec<u8>, CliError> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::Data(format!("cannot read standard input: {e}")))?;
        Ok(bytes)
    } else {
        std::fs::read(path)
            .map_err(|e| CliError::Data(format!("cannot read {}: {e}", path.display())))
    }
}

/// Everything a command can fail with; each variant knows its exit status.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Rules did not load; the diagnostics say why.
    #[error("{0}")]
    Rules(#[from] LoadError),
    /// Bad input data, an evaluation that failed, an outside service that failed.
    #[error("{0}")]
    Data(String),
    /// Some items failed and were reported one by one already; this is the summary.
    #[error("{0}")]
    Failed(String),
    /// The command line was wrong.
    #[error("{0}")]
    Usage(String),
    /// Something on this machine failed (a file we must write, a socket).
    #[error("{0}")]
    Internal(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Rules(_) | CliError::Data(_) | CliError::Failed(_) => EXIT_DATA,
            CliError::Usage(_) | CliError::Internal(_) => EXIT_USAGE,
        }
    }
}

/// `monbridge lsp`: 0 after `shutdown` then `exit`, 1 when the client left without `shutdown`.
fn run_lsp() -> Result<u8, CliError> {
    match crate::lsp::run() {
        Ok(crate::lsp::Ending::ShutDown) => Ok(EXIT_OK),
        Ok(crate::lsp::Ending::NoShutdown) => Ok(EXIT_DATA),
        Err(error) => Err(CliError::Internal(error.to_string())),
    }
}

/// The log level of every command but serve when none is given.
pub const DEFAULT_LOG_LEVEL: &str = "warn";

/// Sends log records to stderr, never stdout.
pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_LEVEL));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Entry point of the `monbridge` binary.
pub fn main() -> ExitCode {
    crate::sink::snmp::process_start();
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    // The daemon logs at its configuration's level unless one is given explicitly.
    let daemon = matches!(cli.command, Command::Serve(_));
    match (&cli.log_level, daemon) {
        (Some(level), _) => init_logging(level),
        (None, false) => init_logging(DEFAULT_LOG_LEVEL),
        (None, true) => {}
    }
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let result = match &cli.command {
        Command::Check(args) => check::run(args, color),
        Command::Render(command) => render::run(command, false),
        Command::Explain(command) => render::run(command, true),
        Command::Fmt(args) => fmt::run(args, color),
        Command::Test(args) => test_cmd::run(args, color),
        Command::Rules(RulesCommand::Export(args)) => rules_export::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Mist(args) => mist::run(args),
        Command::Trap(TrapCommand::Send(args)) => trap_send::run(args),
        Command::Import(ImportCommand::LinkAuditTrap(args)) => import::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Package(PackageCommand::Pandora(args)) => package::run_pandora(args),
        Command::Completions(args) => docs::completions(args),
        Command::Man(args) => docs::man(args),
        Command::Lsp(_) => run_lsp(),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            let text = match &error {
                CliError::Rules(load) => load.render(color),
                other => format!("error: {other}"),
            };
            eprintln!("{}", text.trim_end());
            ExitCode::from(error.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }
}
