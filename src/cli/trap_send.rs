//! `monbridge trap send`.

use clap::Args;

use super::CliError;

#[derive(Debug, Clone, Args)]
pub struct TrapSendArgs {}

pub fn run(_args: &TrapSendArgs) -> Result<u8, CliError> {
    Err(CliError::Internal("trap send is not available yet".into()))
}
