//! `monbridge check`.

use super::{CliError, RulesArgs};

pub fn run(args: &RulesArgs, _color: bool) -> Result<u8, CliError> {
    args.load()?;
    Ok(super::EXIT_OK)
}
