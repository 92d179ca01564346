//! SNMPv3 settings as an operator writes them (`trap send` options, `serve` configuration
//! keys) turned into a checked [`UsmUser`] and, with our engine, a [`V3Config`]. One place for
//! the pairing of protocols and passphrases, where passphrases come from, and the refusal of
//! weak choices, so the command and the daemon accept and refuse the same things.

use std::path::{Path, PathBuf};

use super::engine::LocalEngine;
use super::session::V3Config;
use super::{AuthProtocol, Passphrase, PrivProtocol, UsmUser, UsmUserError};

/// The settings, before any passphrase is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V3Settings {
    pub user: Option<String>,
    pub auth_protocol: Option<AuthProtocol>,
    /// Environment variable holding the authentication passphrase.
    pub auth_pass_env: Option<String>,
    /// File holding the authentication passphrase (one trailing newline is ignored).
    pub auth_pass_file: Option<PathBuf>,
    pub priv_protocol: Option<PrivProtocol>,
    pub priv_pass_env: Option<String>,
    pub priv_pass_file: Option<PathBuf>,
    /// `contextName`; empty when not given.
    pub context: Option<String>,
    /// Accept MD5, DES and passphrases shorter than 8 characters.
    pub allow_weak: bool,
}

/// What the settings are called where they were written, so that errors name them as the
/// operator wrote them (`--auth-pass-env` on the command line, `auth_pass_env` in YAML).
#[derive(Debug, Clone, Copy)]
pub struct SettingNames {
    pub user: &'static str,
    pub auth_protocol: &'static str,
    pub auth_pass_env: &'static str,
    pub auth_pass_file: &'static str,
    pub priv_protocol: &'static str,
    pub priv_pass_env: &'static str,
    pub priv_pass_file: &'static str,
    /// How to allow weak choices, e.g. `--allow-weak`.
    pub allow_weak: &'static str,
    /// The rules between version, notification kind and community
    /// ([`check_settings`](crate::sink::snmp::check_settings)), worded for where the settings were written.
    pub v3_settings_need_v3: &'static str,
    pub inform_needs_v2c: &'static str,
    pub community_is_not_v3: &'static str,
}

/// Settings that do not make a usable user. Passphrases are never part of the text.
#[derive(Debug, thiserror::Error)]
pub enum V3SettingsError {
    #[error("SNMPv3 needs a user name ({0})")]
    NoUser(&'static str),
    #[error("the {what} passphrase was given without {protocol}")]
    PassphraseWithoutProtocol {
        what: &'static str,
        protocol: &'static str,
    },
    #[error("give the {what} passphrase by {env} or {file}, not both")]
    TwoPassphrases {
        what: &'static str,
        env: &'static str,
        file: &'static str,
    },
    #[error("the {what} protocol needs a passphrase: {env} VAR or {file} FILE")]
    NoPassphrase {
        what: &'static str,
        env: &'static str,
        file: &'static str,
    },
    #[error("the {what} passphrase variable {variable} (named by {env}) is not set")]
    VariableNotSet {
        what: &'static str,
        variable: String,
        env: &'static str,
    },
    #[error("cannot read the {what} passphrase file {} ({file}): {kind}", path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        file: &'static str,
        kind: std::io::ErrorKind,
    },
    #[error("{source}; choose a stronger one, or give {allow_weak} if a peer cannot do better")]
    Weak {
        source: UsmUserError,
        allow_weak: &'static str,
    },
    #[error(transparent)]
    User(UsmUserError),
}

/// The checked user and context of one SNMPv3 sender, waiting for our engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Identity {
    pub user: UsmUser,
    pub context_name: Vec<u8>,
}

impl V3Identity {
    /// The sender configuration with `engine` authoritative (the one engine of the process).
    pub fn with_engine(self, engine: LocalEngine) -> V3Config {
        V3Config {
            user: self.user,
            engine,
            context_name: self.context_name,
        }
    }
}

impl V3Settings {
    /// Whether any SNMPv3 setting is given (they mean nothing for SNMPv1/v2c).
    pub fn any_given(&self) -> bool {
        self != &V3Settings::default()
    }

    /// Reads the passphrases and checks the user; `relative_to` anchors relative passphrase
    /// files (the configuration's folder), `None` leaves them to the working directory.
    pub fn identity(
        &self,
        names: &SettingNames,
        relative_to: Option<&Path>,
    ) -> Result<V3Identity, V3SettingsError> {
        let name = self
            .user
            .clone()
            .ok_or(V3SettingsError::NoUser(names.user))?;
        let source = |env: &Option<String>, file: &Option<PathBuf>| {
            let file = file.as_ref().map(|file| match relative_to {
                Some(base) if file.is_relative() => base.join(file),
                _ => file.clone(),
            });
            (env.clone(), file)
        };
        let auth = secret(
            Secret {
                what: "authentication",
                protocol_name: names.auth_protocol,
                env_name: names.auth_pass_env,
                file_name: names.auth_pass_file,
            },
            self.auth_protocol,
            source(&self.auth_pass_env, &self.auth_pass_file),
        )?;
        let privacy = secret(
            Secret {
                what: "privacy",
                protocol_name: names.priv_protocol,
                env_name: names.priv_pass_env,
                file_name: names.priv_pass_file,
            },
            self.priv_protocol,
            source(&self.priv_pass_env, &self.priv_pass_file),
        )?;
        let user = UsmUser {
            name,
            auth,
            privacy,
        };
        user.validate(self.allow_weak).map_err(|error| {
            if error.is_weakness() {
                V3SettingsError::Weak {
                    source: error,
                    allow_weak: names.allow_weak,
                }
            } else {
                V3SettingsError::User(error)
            }
        })?;
        Ok(V3Identity {
            user,
            context_name: self.context.clone().unwrap_or_default().into_bytes(),
        })
    }
}

/// Which passphrase, and what its settings are called.
struct Secret {
    what: &'static str,
    protocol_name: &'static str,
    env_name: &'static str,
    file_name: &'static str,
}

/// The protocol with its passphrase, from the environment variable or the file named.
fn secret<P>(
    secret: Secret,
    protocol: Option<P>,
    (variable, file): (Option<String>, Option<PathBuf>),
) -> Result<Option<(P, Passphrase)>, V3SettingsError> {
    let Some(protocol) = protocol else {
        if variable.is_some() || file.is_some() {
            return Err(V3SettingsError::PassphraseWithoutProtocol {
                what: secret.what,
                protocol: secret.protocol_name,
            });
        }
        return Ok(None);
    };
    let passphrase = match (variable, file) {
        (Some(_), Some(_)) => {
            return Err(V3SettingsError::TwoPassphrases {
                what: secret.what,
                env: secret.env_name,
                file: secret.file_name,
            });
        }
        (Some(variable), None) => match std::env::var_os(&variable) {
            Some(value) => Passphrase::new(value.into_encoded_bytes()),
            None => {
                return Err(V3SettingsError::VariableNotSet {
                    what: secret.what,
                    variable,
                    env: secret.env_name,
                });
            }
        },
        (None, Some(path)) => {
            let mut bytes = std::fs::read(&path).map_err(|error| V3SettingsError::File {
                what: secret.what,
                path: path.clone(),
                file: secret.file_name,
                kind: error.kind(),
            })?;
            // One trailing newline is an editor's, not part of the passphrase.
            if bytes.ends_with(b"\n") {
                bytes.pop();
                if bytes.ends_with(b"\r") {
                    bytes.pop();
                }
            }
            Passphrase::new(bytes)
        }
        (None, None) => {
            return Err(V3SettingsError::NoPassphrase {
                what: secret.what,
                env: secret.env_name,
                file: secret.file_name,
            });
        }
    };
    Ok(Some((protocol, passphrase)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: SettingNames = SettingNames {
        user: "user",
        auth_protocol: "auth_protocol",
        auth_pass_env: "auth_pass_env",
        auth_pass_file: "auth_pass_file",
        priv_protocol: "priv_protocol",
        priv_pass_env: "priv_pass_env",
        priv_pass_file: "priv_pass_file",
        allow_weak: "allow_weak: true",
        v3_settings_need_v3: "",
        inform_needs_v2c: "",
        community_is_not_v3: "",
    };

    fn file_with(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn passphrases_from_files_make_an_auth_priv_user() {
        let auth = file_with("auth-passphrase\n");
        let privacy = file_with("priv-passphrase");
        let settings = V3Settings {
            user: Some("ops".into()),
            auth_protocol: Some(AuthProtocol::Sha256),
            auth_pass_file: Some(auth.path().to_owned()),
            priv_protocol: Some(PrivProtocol::Aes128),
            priv_pass_file: Some(privacy.path().to_owned()),
            context: Some("ctx".into()),
            ..V3Settings::default()
        };
        let identity = settings.identity(&NAMES, None).unwrap();
        assert_eq!(
            identity.user.auth,
            Some((AuthProtocol::Sha256, Passphrase::new("auth-passphrase")))
        );
        assert_eq!(
            identity.user.privacy,
            Some((PrivProtocol::Aes128, Passphrase::new("priv-passphrase")))
        );
        assert_eq!(identity.context_name, b"ctx");
    }

    #[test]
    fn mistakes_are_named_as_written_and_weakness_needs_allowing() {
        let weak_file = file_with("long enough passphrase");
        let md5 = V3Settings {
            user: Some("old".into()),
            auth_protocol: Some(AuthProtocol::Md5),
            auth_pass_file: Some(weak_file.path().to_owned()),
            ..V3Settings::default()
        };
        let error = md5.identity(&NAMES, None).unwrap_err().to_string();
        assert!(error.contains("MD5 is weak"), "{error}");
        assert!(error.contains("give allow_weak: true"), "{error}");
        let allowed = V3Settings {
            allow_weak: true,
            ..md5.clone()
        };
        assert!(allowed.identity(&NAMES, None).is_ok());

        let unset = V3Settings {
            auth_protocol: Some(AuthProtocol::Sha1),
            auth_pass_file: None,
            auth_pass_env: Some("MONBRIDGE_TEST_SURELY_UNSET".into()),
            ..md5.clone()
        };
        let error = unset.identity(&NAMES, None).unwrap_err().to_string();
        assert!(
            error.contains("MONBRIDGE_TEST_SURELY_UNSET (named by auth_pass_env) is not set"),
            "{error}"
        );
        let both = V3Settings {
            auth_pass_file: Some(weak_file.path().to_owned()),
            ..unset
        };
        assert!(matches!(
            both.identity(&NAMES, None),
            Err(V3SettingsError::TwoPassphrases { .. })
        ));
        let orphan = V3Settings {
            priv_pass_env: Some("X".into()),
            ..V3Settings {
                user: Some("u".into()),
                ..V3Settings::default()
            }
        };
        assert!(
            orphan
                .identity(&NAMES, None)
                .unwrap_err()
                .to_string()
                .contains("without priv_protocol")
        );
        assert!(matches!(
            V3Settings::default().identity(&NAMES, None),
            Err(V3SettingsError::NoUser("user"))
        ));
    }
}
