//! `monbridge import link-audit-trap`: prints rules equivalent to a FledgePOWER
//! `link_audit_trap` configuration.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, read_input};
use crate::import::link_audit_trap;
use crate::lang::RuleSet;

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The `link_audit_trap` JSON, bare or as a Fledge config item; `-` reads stdin.
    #[arg(value_name = "FILE")]
    pub input: PathBuf,
}

pub fn run(args: &ImportArgs) -> Result<u8, CliError> {
    let bytes = read_input(&args.input)?;
    let rules = link_audit_trap::import(&bytes)
        .map_err(|e| CliError::Data(format!("{}: {e}", args.input.display())))?;
    // The output must load as it is: check it (with any env value) before printing it.
    let env = std::iter::once(("hostname".to_owned(), "check".to_owned())).collect();
    if let Err(error) = RuleSet::from_sources(vec![("imported.rules".into(), rules.clone())], &env)
    {
        return Err(CliError::Internal(format!(
            "the imported rules do not load; please report this:\n{}",
            error.render(false)
        )));
    }
    print!("{rules}");
    Ok(super::EXIT_OK)
}
