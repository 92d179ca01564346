//! The `mist-plugin.pspz2` package that the Pandora FMS console's "Register plugin" page
//! accepts: a zip holding `plugin_definition.ini` and the `pandora_mist` executable.
//!
//! # What the console does with it
//!
//! The console unzips the upload, makes every file executable, parses the definition with
//! PHP's `parse_ini_file($file, true)` and stores one server plugin whose command is
//! `<attachment>/plugin/<filename>` (prefixed by `execution_command` when that is set) and
//! whose parameters are the `parameters` line. The upload's name must end in `.pspz2`: the
//! console takes the format from the extension, and only for `pspz2` does it read the
//! `[macro_N]` sections (description, help, default value, hidden or not) that become the
//! fields of the module form.
//!
//! # What the plugin server does with it
//!
//! On each run the plugin server replaces every `_fieldN_` of the parameters with the
//! value the operator typed, appends the result to the command, and runs the line through
//! `/bin/sh` under `timeout`. That is why every field sits in single quotes in
//! [`parameters`]: a value with spaces stays one argument, and `$`, `;` or backquotes in it
//! stay text. A value holding a single quote cannot be passed this way.
//!
//! # Writing INI that PHP reads back exactly
//!
//! In PHP's normal INI mode an unquoted value is rewritten (`yes` becomes `1`, `none`
//! becomes empty, constants are expanded, `!(){}|&~^?` are operators), so every text value
//! is written in double quotes. Inside double quotes only `"`, `\` and `${` are special;
//! [`PluginDefinition::to_ini`] refuses them, and a test checks the shipped definition.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use zip::CompressionMethod;

use crate::files::AtomicFile;
use zip::write::{SimpleFileOptions, ZipWriter};

use super::elf::{ElfError, GlibcVersion, glibc_needed};

use crate::pipeline::mist::{DEFAULT_DATA_DIR, DEFAULT_GROUP, DEFAULT_PREFIX};

/// The extension the console requires to read the macros.
pub const PACKAGE_EXTENSION: &str = "pspz2";
/// The name of the definition inside the package.
pub const DEFINITION_FILE: &str = "plugin_definition.ini";
/// The executable's name inside the package, as the original plugin's guide names it.
pub const PLUGIN_FILE: &str = "pandora_mist";
/// Seconds the plugin server may let the plugin run; the original guide asks for 20.
pub const PLUGIN_TIMEOUT_SECONDS: u32 = 20;
/// The default of the API host field: the Global 01 cloud, as the original plugin used.
pub const DEFAULT_API_URL: &str = "https://api.mist.com";

/// One field of the Pandora module form, and the option of `pandora_mist` it fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The label shown in the form.
    pub description: &'static str,
    /// The tooltip.
    pub help: &'static str,
    /// The value the form starts with.
    pub value: &'static str,
    /// Shown as a password field (the console never prints it back).
    pub hide: bool,
    /// The `pandora_mist` option that receives the value.
    pub option: &'static str,
}

/// A server plugin definition: `[plugin_definition]` and one `[macro_N]` per field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginDefinition {
    pub name: &'static str,
    pub filename: &'static str,
    pub description: &'static str,
    pub timeout: u32,
    pub fields: Vec<Field>,
}

/// Why a package could not be built; nothing was written at `out` in any case.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(
        "the package name {0} must end in .{PACKAGE_EXTENSION}: the Pandora console only reads the plugin's fields from a .{PACKAGE_EXTENSION} upload"
    )]
    Extension(PathBuf),
    #[error("cannot read the plugin executable {path}: {source}")]
    ReadBinary { path: PathBuf, source: io::Error },
    #[error("{0} is not a Linux executable (no ELF header); give the pandora_mist binary")]
    NotExecutable(PathBuf),
    #[error("{path}: {source}")]
    Elf { path: PathBuf, source: ElfError },
    #[error(
        "{path} needs glibc {needed}, newer than {max}: a Pandora server with an older C library \
         (CentOS 7 has 2.17) would not start it. Build the portable pandora_mist with \
         scripts/build-portable and give target/portable/pandora_mist (--binary), or raise \
         --max-glibc if every Pandora server it goes to has a newer glibc"
    )]
    GlibcTooNew {
        path: PathBuf,
        needed: GlibcVersion,
        max: GlibcVersion,
    },
    #[error(
        "{key} of {section} holds {found:?}, which PHP's INI parser would not read back as written"
    )]
    NotIniSafe {
        section: String,
        key: &'static str,
        found: char,
    },
    #[error("cannot create a temporary file in {dir}: {source}")]
    CreateTemp { dir: PathBuf, source: io::Error },
    #[error("cannot write the package: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// The Mist plugin as the original guide describes it: the fields "apitoken",
/// "organization ID", "group", "prefix" and "data dir", plus the API host, which the
/// original could not change.
pub fn mist_plugin() -> PluginDefinition {
    PluginDefinition {
        name: "Mist Plugin",
        filename: PLUGIN_FILE,
        description: "Monitors the devices registered in each site of a Juniper Mist organization: writes one agent per site (devices connected, not connected, one boolean module per device) into the data server spool. The module value is 1 on success and 0 on any failure.",
        timeout: PLUGIN_TIMEOUT_SECONDS,
        fields: vec![
            Field {
                description: "apitoken",
                help: "Mandatory. Mist API token: the key value of a token listed at /api/v1/self/apitokens.",
                value: "",
                hide: true,
                option: "-t",
            },
            Field {
                description: "organization ID",
                help: "Mandatory. Mist organization ID from which to extract the information of the zones (Organization > Settings).",
                value: "",
                hide: false,
                option: "-o",
            },
            Field {
                description: "group",
                help: "Group where agents created will belong. Default: Mist",
                value: DEFAULT_GROUP,
                hide: false,
                option: "-g",
            },
            Field {
                description: "prefix",
                help: "Prefix in the created agent names. Default: Mist",
                value: DEFAULT_PREFIX,
                hide: false,
                option: "-p",
            },
            Field {
                description: "data dir",
                help: "Pandora FMS data directory. Default: /var/spool/pandora/data_in",
                value: DEFAULT_DATA_DIR,
                hide: false,
                option: "--data_dir",
            },
            Field {
                description: "API host",
                help: "Mist API of the cloud that issued the token: api.mist.com (Global 01), api.eu.mist.com (EMEA 01), api.gc1.mist.com, api.ac2.mist.com and so on, or an http(s) URL such as a proxy. Default: https://api.mist.com",
                value: DEFAULT_API_URL,
                hide: false,
                option: "--api-url",
            },
        ],
    }
}

/// The plugin's parameters: every option followed by its `_fieldN_` macro in single quotes.
pub fn parameters(fields: &[Field]) -> String {
    fields
        .iter()
        .enumerate()
        .map(|(index, field)| format!("{} '_field{}_'", field.option, index + 1))
        .collect::<Vec<_>>()
        .join(" ")
}

impl PluginDefinition {
    /// The `plugin_definition.ini` text. Keys the console reads without checking whether
    /// they exist (`ip_opt`, `port_opt`, `user_opt`, `pass_opt`, `total_modules_provided`)
    /// are written empty or zero so that it warns about none of them.
    pub fn to_ini(&self) -> Result<String, PackageError> {
        let mut ini = String::new();
        ini.push_str("; Pandora FMS server plugin definition, read by the console's\n");
        ini.push_str("; Servers > Register plugin page from a .pspz2 upload.\n\n");
        ini.push_str("[plugin_definition]\n");
        let section = "plugin_definition";
        push_text(&mut ini, section, "name", self.name)?;
        push_text(&mut ini, section, "filename", self.filename)?;
        push_text(&mut ini, section, "description", self.description)?;
        ini.push_str(&format!("timeout = {}\n", self.timeout));
        for key in ["ip_opt", "port_opt", "user_opt", "pass_opt"] {
            push_text(&mut ini, section, key, "")?;
        }
        push_text(&mut ini, section, "execution_command", "")?;
        push_text(&mut ini, section, "execution_postcommand", "")?;
        push_text(&mut ini, section, "parameters", &parameters(&self.fields))?;
        // 0 is a standard plugin: stdout is the value; 1 would map exit codes (Nagios).
        ini.push_str("plugin_type = 0\n");
        ini.push_str(&format!("total_macros_provided = {}\n", self.fields.len()));
        ini.push_str("total_modules_provided = 0\n");
        for (index, field) in self.fields.iter().enumerate() {
            let section = format!("macro_{}", index + 1);
            ini.push_str(&format!("\n[{section}]\n"));
            push_text(&mut ini, &section, "description", field.description)?;
            push_text(&mut ini, &section, "help", field.help)?;
            push_text(&mut ini, &section, "value", field.value)?;
            ini.push_str(&format!("hide = {}\n", u8::from(field.hide)));
        }
        Ok(ini)
    }
}

/// Appends `key = "value"`, refusing what double quotes do not keep literal in PHP.
fn push_text(
    ini: &mut String,
    section: &str,
    key: &'static str,
    value: &str,
) -> Result<(), PackageError> {
    if let Some(found) = value
        .chars()
        .find(|c| matches!(c, '"' | '\\' | '$' | '\n' | '\r'))
    {
        return Err(PackageError::NotIniSafe {
            section: section.to_owned(),
            key,
            found,
        });
    }
    ini.push_str(&format!("{key} = \"{value}\"\n"));
    Ok(())
}

/// What was packaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSummary {
    pub out: PathBuf,
    pub binary_bytes: u64,
    pub package_bytes: u64,
}

/// Writes the package of `definition` with `binary` as its executable to `out`, through a
/// temporary file in the same folder renamed into place: a failed run leaves no file.
/// An executable that needs a glibc newer than `max_glibc` is refused.
pub fn write_package(
    definition: &PluginDefinition,
    binary: &Path,
    out: &Path,
    max_glibc: GlibcVersion,
) -> Result<PackageSummary, PackageError> {
    if out.extension().and_then(|e| e.to_str()) != Some(PACKAGE_EXTENSION) {
        return Err(PackageError::Extension(out.to_owned()));
    }
    let ini = definition.to_ini()?;
    let executable = std::fs::read(binary).map_err(|source| PackageError::ReadBinary {
        path: binary.to_owned(),
        source,
    })?;
    if !executable.starts_with(b"\x7fELF") {
        return Err(PackageError::NotExecutable(binary.to_owned()));
    }
    check_glibc(binary, &executable, max_glibc)?;

    let write_error = |source: io::Error| PackageError::Write {
        path: out.to_owned(),
        source,
    };
    // A package is copied and uploaded by others: the usual 0644 (less the umask) rather
    // than a temporary file's private 0600.
    let mut file = AtomicFile::create_with_mode(out, Some(0o644)).map_err(|source| {
        PackageError::CreateTemp {
            dir: out
                .parent()
                .filter(|dir| !dir.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_owned),
            source,
        }
    })?;
    write_zip(file.as_file_mut(), &ini, &executable)?;
    let package_bytes = file.as_file_mut().metadata().map_err(write_error)?.len();
    file.commit().map_err(write_error)?;
    Ok(PackageSummary {
        out: out.to_owned(),
        binary_bytes: executable.len() as u64,
        package_bytes,
    })
}

/// Refuses an executable whose highest `GLIBC_` need is above `max`.
pub fn check_glibc(path: &Path, executable: &[u8], max: GlibcVersion) -> Result<(), PackageError> {
    let needed = glibc_needed(executable).map_err(|source| PackageError::Elf {
        path: path.to_owned(),
        source,
    })?;
    match needed {
        Some(needed) if needed > max => Err(PackageError::GlibcTooNew {
            path: path.to_owned(),
            needed,
            max,
        }),
        _ => Ok(()),
    }
}

fn write_zip(file: &mut File, ini: &str, executable: &[u8]) -> Result<(), PackageError> {
    // Entries keep zip's default 1980-01-01 time, so one input always gives the same bytes.
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    let mut zip = ZipWriter::new(file);
    zip.start_file(DEFINITION_FILE, options.unix_permissions(0o644))?;
    zip.write_all(ini.as_bytes())
        .map_err(zip::result::ZipError::Io)?;
    zip.start_file(PLUGIN_FILE, options.unix_permissions(0o755))?;
    zip.write_all(executable)
        .map_err(zip::result::ZipError::Io)?;
    zip.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_definition_is_ini_safe() {
        let ini = mist_plugin().to_ini().unwrap();
        assert!(ini.contains("total_macros_provided = 6\n"));
        assert!(ini.contains(
            "parameters = \"-t '_field1_' -o '_field2_' -g '_field3_' -p '_field4_' --data_dir '_field5_' --api-url '_field6_'\"\n"
        ));
    }

    #[test]
    fn values_php_would_rewrite_are_refused() {
        for bad in ["say \"hi\"", "C:\\x", "${HOME}", "two\nlines"] {
            let mut definition = mist_plugin();
            definition.description = Box::leak(bad.to_owned().into_boxed_str());
            assert!(
                matches!(definition.to_ini(), Err(PackageError::NotIniSafe { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_extension_and_the_binary_are_checked_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let not_elf = dir.path().join("script.sh");
        std::fs::write(&not_elf, "#!/bin/sh\necho 1\n").unwrap();
        let out = dir.path().join("mist-plugin.zip");
        assert!(matches!(
            write_package(&mist_plugin(), &not_elf, &out, GlibcVersion::PORTABLE),
            Err(PackageError::Extension(_))
        ));
        let out = dir.path().join("mist-plugin.pspz2");
        assert!(matches!(
            write_package(&mist_plugin(), &not_elf, &out, GlibcVersion::PORTABLE),
            Err(PackageError::NotExecutable(_))
        ));
        assert!(matches!(
            write_package(
                &mist_plugin(),
                &dir.path().join("missing"),
                &out,
                GlibcVersion::PORTABLE
            ),
            Err(PackageError::ReadBinary { .. })
        ));
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the script remains");
    }
}
