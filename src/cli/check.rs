//! `monbridge check`: load and check every rule file.

use clap::Args;

use super::{CliError, RulesArgs};

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Fail (exit 1) when the rules load with warnings.
    #[arg(long)]
    pub deny_warnings: bool,
}

pub fn run(args: &CheckArgs, color: bool) -> Result<u8, CliError> {
    let rules = args.rules.load()?;
    let warnings = rules.warnings();
    if !warnings.is_empty() {
        eprint!("{}", rules.sources().render(warnings, color));
        if args.deny_warnings {
            return Err(CliError::Failed(format!(
                "{} warning{} denied by --deny-warnings",
                warnings.len(),
                if warnings.len() == 1 { "" } else { "s" }
            )));
        }
    }
    let files = rules.files_read();
    println!(
        "ok: {} rules ({}) in {}",
        rules.rule_names().len(),
        rules.rule_names().join(", "),
        files.join(", ")
    );
    Ok(super::EXIT_OK)
}
