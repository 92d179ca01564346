//! `monbridge mist`: the Mist → Pandora job with monbridge's conventions.

use clap::Args;

use super::CliError;

#[derive(Debug, Clone, Args)]
pub struct MistArgs {}

pub fn run(_args: &MistArgs) -> Result<u8, CliError> {
    Err(CliError::Internal("mist is not available yet".into()))
}
