//! `monbridge import link-audit-trap`.

use std::path::PathBuf;

use clap::Args;

use super::CliError;

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The `link_audit_trap` JSON, bare or as a Fledge config item; `-` reads stdin.
    #[arg(value_name = "FILE")]
    pub input: PathBuf,
}

pub fn run(_args: &ImportArgs) -> Result<u8, CliError> {
    Err(CliError::Internal("import is not available yet".into()))
}
