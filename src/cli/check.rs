//! `monbridge check`: load and check every rule file.

use super::{CliError, RulesArgs};

pub fn run(args: &RulesArgs, color: bool) -> Result<u8, CliError> {
    let rules = args.load()?;
    if !rules.warnings().is_empty() {
        eprint!("{}", rules.sources().render(rules.warnings(), color));
    }
    let files: Vec<&str> = rules
        .sources()
        .files()
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    println!(
        "ok: {} rules ({}) in {}",
        rules.rule_names().len(),
        rules.rule_names().join(", "),
        files.join(", ")
    );
    Ok(super::EXIT_OK)
}
