//! `monbridge test`: operator golden cases.

use super::{CliError, RulesArgs};

pub fn run(_args: &RulesArgs, _color: bool) -> Result<u8, CliError> {
    Err(CliError::Internal("test is not available yet".into()))
}
