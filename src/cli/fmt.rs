//! `monbridge fmt`: rewrite rules files in the canonical layout, or check that they are.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::{CliError, EXIT_OK, read_input};
use crate::files;
use crate::lang::MAX_RULES_FILE;
use crate::lang::diag::SourceMap;
use crate::lang::syntax::format_file;

#[derive(Debug, Clone, Args)]
pub struct FmtArgs {
    /// Write nothing; list the files that are not formatted, with a diff, and fail (exit 1) if any.
    #[arg(long)]
    pub check: bool,
    /// Folder whose `*.rules` files are formatted when no FILE is given.
    #[arg(long, value_name = "DIR", env = "MONBRIDGE_RULES")]
    pub rules: Option<PathBuf>,
    /// Rules files or folders of `*.rules` files; `-` reads stdin and writes stdout.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(args: &FmtArgs, color: bool) -> Result<u8, CliError> {
    let mut targets = Vec::new();
    let given: Vec<PathBuf> = match (&args.files[..], &args.rules) {
        ([], Some(dir)) => vec![dir.clone()],
        ([], None) => {
            return Err(CliError::Usage(
                "nothing to format: give FILE arguments, `-`, or --rules DIR".to_owned(),
            ));
        }
        (files, _) => files.to_vec(),
    };
    for path in given {
        if path.is_dir() {
            targets.extend(rules_files(&path)?);
        } else {
            targets.push(path);
        }
    }
    let mut unformatted = Vec::new();
    let mut broken = 0;
    for path in &targets {
        match format_one(path, args.check, color)? {
            Outcome::Formatted => {}
            Outcome::WouldChange => unformatted.push(path.display().to_string()),
            Outcome::Broken => broken += 1,
        }
    }
    let mut failures = Vec::new();
    if !unformatted.is_empty() {
        failures.push(format!(
            "{} file{} not formatted: {}",
            unformatted.len(),
            plural(unformatted.len()),
            unformatted.join(", ")
        ));
    }
    if broken > 0 {
        failures.push(format!(
            "{broken} file{} did not parse and {} left untouched",
            plural(broken),
            if broken == 1 { "was" } else { "were" },
        ));
    }
    if !failures.is_empty() {
        return Err(CliError::Failed(failures.join("; ")));
    }
    Ok(EXIT_OK)
}

enum Outcome {
    Formatted,
    WouldChange,
    Broken,
}

fn format_one(path: &Path, check: bool, color: bool) -> Result<Outcome, CliError> {
    let stdin = path == Path::new("-");
    let name = if stdin {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    };
    let bytes = read_input(path)?;
    if bytes.len() > MAX_RULES_FILE {
        return Err(CliError::Data(format!(
            "{name} is {} bytes; rules files are limited to {MAX_RULES_FILE}",
            bytes.len()
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| CliError::Data(format!("{name} is not UTF-8 text")))?;
    let mut sources = SourceMap::default();
    let id = sources.add(name.clone(), text.clone());
    let formatted = match format_file(id, &text) {
        Ok(formatted) => formatted,
        Err(diagnostics) => {
            eprint!("{}", sources.render(&diagnostics, color));
            return Ok(Outcome::Broken);
        }
    };
    if check {
        if formatted == text {
            return Ok(Outcome::Formatted);
        }
        let diff = similar::TextDiff::from_lines(&text, &formatted)
            .unified_diff()
            .context_radius(2)
            .header(&name, &name)
            .to_string();
        print!("{diff}");
        return Ok(Outcome::WouldChange);
    }
    if stdin {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(formatted.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| CliError::Internal(format!("cannot write standard output: {e}")))?;
    } else if formatted != text {
        files::replace(path, formatted.as_bytes())
            .map_err(|e| CliError::Internal(format!("cannot write {name}: {e}")))?;
    }
    Ok(Outcome::Formatted)
}

/// The `*.rules` files of a folder, in name order, as rules folders are loaded.
fn rules_files(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| CliError::Data(format!("cannot read {}: {e}", dir.display())))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rules") && path.is_file())
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(CliError::Data(format!(
            "{} has no *.rules file",
            dir.display()
        )));
    }
    Ok(paths)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
