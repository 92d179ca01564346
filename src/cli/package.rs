//! `monbridge package pandora`: writes the Pandora FMS server plugin package
//! (`mist-plugin.pspz2`) holding the plugin definition and the `pandora_mist` executable.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, EXIT_OK};
use crate::package::pandora_plugin::{PLUGIN_FILE, PackageError, mist_plugin, write_package};

#[derive(Debug, Clone, Args)]
pub struct PandoraPackageArgs {
    /// Package to write; the console requires the .pspz2 extension.
    #[arg(long, value_name = "FILE", default_value = "mist-plugin.pspz2")]
    pub out: PathBuf,
    /// The pandora_mist executable to ship [default: the pandora_mist next to this program].
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
}

pub fn run_pandora(args: &PandoraPackageArgs) -> Result<u8, CliError> {
    let binary = match &args.binary {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .map_err(|e| CliError::Internal(format!("cannot find this program's path: {e}")))?
            .with_file_name(PLUGIN_FILE),
    };
    let summary =
        write_package(&mist_plugin(), &binary, &args.out).map_err(|error| match error {
            PackageError::Extension(_) => CliError::Usage(error.to_string()),
            PackageError::ReadBinary { .. } | PackageError::NotExecutable(_) => {
                CliError::Data(error.to_string())
            }
            other => CliError::Internal(other.to_string()),
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
