//! `monbridge completions SHELL` and `monbridge man`: shell completions and manual pages
//! generated from the clap definitions, so they never disagree with `--help`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{Cli, CliError, EXIT_OK};

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_name = "SHELL")]
    pub shell: Shell,
}

#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write one page per command (monbridge.1, monbridge-check.1, ...) into this folder
    /// instead of printing monbridge.1.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

pub fn completions(args: &CompletionsArgs) -> Result<u8, CliError> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "monbridge", &mut script);
    write_stdout(&script)?;
    Ok(EXIT_OK)
}

pub fn man(args: &ManArgs) -> Result<u8, CliError> {
    // `help` gets no page of its own, so no page may point to one.
    let command = Cli::command().disable_help_subcommand(true);
    match &args.out_dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .map_err(|e| CliError::Internal(format!("cannot render the manual page: {e}")))?;
            write_stdout(&page)?;
        }
        Some(dir) => {
            write_pages(command, dir)?;
            println!("{}", dir.display());
        }
    }
    Ok(EXIT_OK)
}

/// Every page of the command tree, named `monbridge-<sub>-<sub>.1` as `man` expects.
fn write_pages(command: clap::Command, dir: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Internal(format!("cannot create {}: {e}", dir.display())))?;
    clap_mangen::generate_to(command, dir).map_err(|e| {
        CliError::Internal(format!(
            "cannot write the manual pages into {}: {e}",
            dir.display()
        ))
    })
}

fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::Internal(format!("cannot write to standard output: {e}")))
}
