//! `monbridge rules export DIR`: the default rules embedded in the binary, and their golden
//! cases, written out as a rules folder to start customising from (an operator who installed
//! only the binary or the Pandora package has no `rules/` folder).

use std::path::PathBuf;

use clap::Args;

use super::{CliError, EXIT_OK};
use crate::lang::{DEFAULT_CASES, DEFAULT_RULES};

#[derive(Debug, Clone, Args)]
pub struct RulesExportArgs {
    /// Folder to write `*.rules` and `tests/` into (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Replace files that already exist there.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &RulesExportArgs) -> Result<u8, CliError> {
    let mut files: Vec<(PathBuf, &str)> = DEFAULT_RULES
        .iter()
        .map(|(name, text)| (args.dir.join(name), *text))
        .collect();
    for (name, case, expected) in DEFAULT_CASES {
        let tests = args.dir.join("tests");
        files.push((tests.join(format!("{name}.json")), case));
        files.push((tests.join(format!("{name}.expected")), expected));
    }
    // Nothing is written if anything would be overwritten: a half-exported folder mixing an
    // operator's edits with the defaults would be worse than none.
    if !args.force {
        let existing: Vec<String> = files
            .iter()
            .filter(|(path, _)| path.exists())
            .map(|(path, _)| path.display().to_string())
            .collect();
        if !existing.is_empty() {
            return Err(CliError::Usage(format!(
                "{} already exist{} (--force replaces them): {}",
                existing.len(),
                if existing.len() == 1 { "s" } else { "" },
                existing.join(", ")
            )));
        }
    }
    let folder_error = |path: &PathBuf, e: std::io::Error| {
        CliError::Internal(format!("cannot create {}: {e}", path.display()))
    };
    std::fs::create_dir_all(args.dir.join("tests"))
        .map_err(|e| folder_error(&args.dir.join("tests"), e))?;
    for (path, text) in &files {
        crate::files::replace(path, text.as_bytes())
            .map_err(|e| CliError::Internal(format!("cannot write {}: {e}", path.display())))?;
    }
    println!(
        "wrote {} rules files and {} golden cases to {}",
        DEFAULT_RULES.len(),
        DEFAULT_CASES.len(),
        args.dir.display()
    );
    Ok(EXIT_OK)
}
