//! `monbridge render` and `monbridge explain`.

use super::{CliError, RenderCommand};

pub fn run(_command: &RenderCommand, _explain: bool) -> Result<u8, CliError> {
    Err(CliError::Internal("render is not available yet".into()))
}
