//! `monbridge package pandora`: writes the Pandora FMS server plugin package
//! (`mist-plugin.pspz2`) holding the plugin definition and the `pandora_mist` executable.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{CliError, EXIT_OK};
use crate::package::elf::GlibcVersion;
use crate::package::pandora_plugin::{
    PLUGIN_FILE, PackageError, check_glibc, mist_plugin, write_package,
};

#[derive(Debug, Clone, Args)]
pub struct PandoraPackageArgs {
    /// Package to write; the console requires the .pspz2 extension.
    #[arg(long, value_name = "FILE", default_value = "mist-plugin.pspz2")]
    pub out: PathBuf,
    /// The pandora_mist executable to ship [default: the pandora_mist next to this program
    /// if it runs on glibc --max-glibc, else the portable build's, ../portable/pandora_mist
    /// (scripts/build-portable)].
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// Refuse an executable that needs a newer glibc than this (2.17 is CentOS 7's).
    #[arg(long, value_name = "VERSION", default_value = "2.17")]
    pub max_glibc: GlibcVersion,
}

/// Whether the file at `path` is an executable that runs on glibc `max`.
fn runs_on(path: &Path, max: GlibcVersion) -> bool {
    std::fs::read(path).is_ok_and(|bytes| check_glibc(path, &bytes, max).is_ok())
}

/// The executable next to this program, or else the portable build's: `target/release/` and
/// `target/portable/` are siblings, so `cargo run -- package pandora` after
/// `scripts/build-portable` ships the portable one.
fn default_binary(max: GlibcVersion) -> Result<PathBuf, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Internal(format!("cannot find this program's path: {e}")))?;
    let beside = exe.with_file_name(PLUGIN_FILE);
    let portable = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("portable").join(PLUGIN_FILE));
    if runs_on(&beside, max) {
        return Ok(beside);
    }
    match portable {
        Some(portable) if runs_on(&portable, max) => {
            tracing::info!(
                "{} needs a newer glibc than {max}: shipping {}",
                beside.display(),
                portable.display()
            );
            Ok(portable)
        }
        // The one beside, for write_package to say what is wrong with it.
        _ => Ok(beside),
    }
}

pub fn run_pandora(args: &PandoraPackageArgs) -> Result<u8, CliError> {
    let binary = match &args.binary {
        Some(path) => path.clone(),
        None => default_binary(args.max_glibc)?,
    };
    let summary =
        write_package(&mist_plugin(), &binary, &args.out, args.max_glibc).map_err(|error| {
            match error {
                PackageError::Extension(_) => CliError::Usage(error.to_string()),
                PackageError::ReadBinary { .. }
                | PackageError::NotExecutable(_)
                | PackageError::Elf { .. }
                | PackageError::GlibcTooNew { .. } => CliError::Data(error.to_string()),
                other => CliError::Internal(other.to_string()),
            }
        })?;
    tracing::info!(
        "packaged {} ({} bytes) into {} ({} bytes)",
        binary.display(),
        summary.binary_bytes,
        summary.out.display(),
        summary.package_bytes
    );
    println!("{}", summary.out.display());
    Ok(EXIT_OK)
}
