//! `monbridge check`: load and check every rule file, then the trap bindings against MIBs.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, RulesArgs};
use crate::lang::diag::Severity;
use crate::mib::MibSet;

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Fail (exit 1) when the rules load with warnings.
    #[arg(long)]
    pub deny_warnings: bool,
    /// MIB file (or folder of them) the trap bindings must match (repeatable)
    /// [default: PMC-MIB and its IETF imports, embedded in the binary]. Modules imported but
    /// not given come from the embedded IETF ones.
    #[arg(long, value_name = "FILE")]
    pub mib: Vec<PathBuf>,
    /// Do not check the trap bindings against any MIB.
    #[arg(long, conflicts_with = "mib")]
    pub no_mib: bool,
}

pub fn run(args: &CheckArgs, color: bool) -> Result<u8, CliError> {
    let rules = args.rules.load()?;
    let mut warnings = rules.warnings().to_vec();
    let mut checked = None;
    if !args.no_mib && rules.has_trap_bindings() {
        let mibs = if args.mib.is_empty() {
            MibSet::embedded()
        } else {
            MibSet::load(&args.mib)
        }
        .map_err(|e| CliError::Data(format!("MIB not read: {e}")))?;
        let found = rules.check_mibs(&mibs);
        let errors = found
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        if errors > 0 {
            let mut all = warnings;
            all.extend(found);
            eprint!("{}", rules.sources().render_each(&all, color));
            return Err(CliError::Failed(format!(
                "trap bindings disagree with the MIBs: {errors} error{}",
                if errors == 1 { "" } else { "s" }
            )));
        }
        warnings.extend(found);
        checked = Some(mibs);
    }
    if !warnings.is_empty() {
        eprint!("{}", rules.sources().render(&warnings, color));
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
    if let Some(mibs) = checked {
        // The modules given (or PMC-MIB for the default), not the base ones filled in.
        let given: Vec<String> = mibs
            .modules()
            .iter()
            .filter(|(_, file)| match args.mib.is_empty() {
                true => file == crate::mib::EMBEDDED[0].0,
                false => !file.starts_with("<embedded>"),
            })
            .map(|(module, file)| format!("{module} ({file})"))
            .collect();
        println!("ok: trap bindings match {}", given.join(", "));
    }
    Ok(super::EXIT_OK)
}
