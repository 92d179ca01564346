//! How a sender speaks to managers: the SNMP security ([`Security`]: a community for SNMPv1
//! and v2c, a USM user for SNMPv3), traps or informs, and the inform retransmissions
//! ([`SenderConfig`]).
//!
//! [`check_settings`] turns the settings as an operator writes them (`trap send` options, one `serve`
//! destination) into that configuration. It is the one place for the rules between version,
//! notification kind and community, so the command and the daemon accept and refuse the same
//! things; errors name the settings as the caller spells them ([`SettingNames`]).

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use super::SnmpVersion;
use super::usm::{LocalEngine, SettingNames, V3Config, V3Identity, V3Settings, V3SettingsError};

/// An SNMP community: a shared secret, so it never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Community(Vec<u8>);

impl Community {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Community {
        Community(bytes.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Community(<redacted>)")
    }
}

/// The SNMP version an operator chooses. [`SnmpVersion`] is the `version` field of a
/// community-based message; SNMPv3 messages have their own format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V1,
    V2c,
    V3,
}

impl Version {
    /// Whether this version has the PDU `kind` needs: SNMPv1 has no InformRequest.
    pub fn carries(self, kind: NotificationKind) -> bool {
        !(self == Version::V1 && kind == NotificationKind::Inform)
    }
}

impl FromStr for Version {
    type Err = String;

    /// `1`, `2c` or `3`, with or without a leading `v`, in any case.
    fn from_str(text: &str) -> Result<Version, String> {
        match text.to_ascii_lowercase().as_str() {
            "1" | "v1" => Ok(Version::V1),
            "2c" | "v2c" => Ok(Version::V2c),
            "3" | "v3" => Ok(Version::V3),
            other => Err(format!("{other:?} is not an SNMP version (1, 2c or 3)")),
        }
    }
}

/// Trap (fire and forget) or inform (acknowledged by the manager).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    #[default]
    Trap,
    Inform,
}

/// How messages are secured. `U` is what SNMPv3 carries: the checked [`V3Identity`] (user and
/// context) until our engine is started, then the [`V3Config`] a [`Sender`](super::Sender)
/// needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Security<U = V3Config> {
    V1 { community: Community },
    V2c { community: Community },
    V3(U),
}

impl<U> Security<U> {
    pub fn version(&self) -> Version {
        match self {
            Security::V1 { .. } => Version::V1,
            Security::V2c { .. } => Version::V2c,
            Security::V3(_) => Version::V3,
        }
    }

    /// The message version and community of SNMPv1 and v2c; `None` for SNMPv3.
    pub fn community(&self) -> Option<(SnmpVersion, &Community)> {
        match self {
            Security::V1 { community } => Some((SnmpVersion::V1, community)),
            Security::V2c { community } => Some((SnmpVersion::V2c, community)),
            Security::V3(_) => None,
        }
    }

    pub fn v3(&self) -> Option<&U> {
        match self {
            Security::V3(v3) => Some(v3),
            _ => None,
        }
    }

    /// The same security with the SNMPv3 part turned into something else by `f`.
    pub fn try_map_v3<W, E>(self, f: impl FnOnce(U) -> Result<W, E>) -> Result<Security<W>, E> {
        Ok(match self {
            Security::V1 { community } => Security::V1 { community },
            Security::V2c { community } => Security::V2c { community },
            Security::V3(v3) => Security::V3(f(v3)?),
        })
    }
}

/// How notifications are sent. `U` as in [`Security`].
#[derive(Debug, Clone, PartialEq)]
pub struct SenderConfig<U = V3Config> {
    pub security: Security<U>,
    /// Traps, or InformRequests that wait for Responses (not with SNMPv1).
    pub notification: NotificationKind,
    /// Informs: retransmissions after the first attempt.
    pub retries: u32,
    /// Informs: how long to wait for a Response to each attempt.
    pub timeout: Duration,
}

impl Default for SenderConfig {
    fn default() -> SenderConfig {
        SenderConfig {
            security: Security::V2c {
                community: Community::new("public"),
            },
            notification: NotificationKind::Trap,
            retries: 3,
            timeout: Duration::from_secs(1),
        }
    }
}

impl<U> SenderConfig<U> {
    pub fn is_inform(&self) -> bool {
        self.notification == NotificationKind::Inform
    }

    /// The same configuration with the SNMPv3 part turned into something else by `f`.
    pub fn try_map_v3<W, E>(self, f: impl FnOnce(U) -> Result<W, E>) -> Result<SenderConfig<W>, E> {
        Ok(SenderConfig {
            security: self.security.try_map_v3(f)?,
            notification: self.notification,
            retries: self.retries,
            timeout: self.timeout,
        })
    }
}

impl SenderConfig<V3Identity> {
    /// The configuration a sender takes, its SNMPv3 user (if any) speaking for `engine`;
    /// `None` for SNMPv3 without an engine.
    pub fn with_engine(self, engine: Option<&LocalEngine>) -> Option<SenderConfig> {
        self.try_map_v3(|identity| {
            engine
                .map(|engine| identity.with_engine(engine.clone()))
                .ok_or(())
        })
        .ok()
    }
}

/// The community as given.
pub enum CommunitySetting<'a> {
    /// Not given: `public` for SNMPv1 and v2c.
    Default,
    /// Given: read when the version uses it (SNMPv3 refuses it unread). `None` from the reader
    /// when it could not be read; the reader reports why.
    Given(&'a mut dyn FnMut() -> Option<Community>),
}

/// The settings of one sender as written.
pub struct SenderSettings<'a> {
    pub version: Version,
    pub notification: NotificationKind,
    pub community: CommunitySetting<'a>,
    pub v3: V3Settings,
    /// SNMPv3-only settings the caller has beyond `v3` (the command line's `--engine-id`).
    pub other_v3_given: bool,
    pub retries: u32,
    pub timeout: Duration,
}

/// A combination of settings that cannot be sent. The texts come from the caller's
/// [`SettingNames`].
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("{0}")]
    V3SettingsWithoutV3(&'static str),
    #[error("{0}")]
    InformNeedsV2c(&'static str),
    #[error("{0}")]
    CommunityWithV3(&'static str),
    #[error(transparent)]
    V3(#[from] V3SettingsError),
}

/// Checks the settings and reads their secrets (SNMPv3 passphrases, and the community through
/// its reader); `relative_to` anchors relative passphrase files. Every problem found is
/// returned, in the order of the settings. The SNMPv3 user waits for our engine
/// ([`SenderConfig::with_engine`]), so that checking counts no boot.
pub fn check_settings(
    settings: SenderSettings<'_>,
    names: &SettingNames,
    relative_to: Option<&Path>,
) -> Result<SenderConfig<V3Identity>, Vec<SecurityError>> {
    let mut errors = Vec::new();
    let identity = if settings.version == Version::V3 {
        match settings.v3.identity(names, relative_to) {
            Ok(identity) => Some(identity),
            Err(error) => {
                errors.push(error.into());
                None
            }
        }
    } else {
        if settings.v3.any_given() || settings.other_v3_given {
            errors.push(SecurityError::V3SettingsWithoutV3(
                names.v3_settings_need_v3,
            ));
        }
        None
    };
    if !settings.version.carries(settings.notification) {
        errors.push(SecurityError::InformNeedsV2c(names.inform_needs_v2c));
    }
    let community = match (settings.community, settings.version) {
        (CommunitySetting::Given(_), Version::V3) => {
            errors.push(SecurityError::CommunityWithV3(names.community_is_not_v3));
            None
        }
        (CommunitySetting::Given(read), _) => read(),
        (CommunitySetting::Default, _) => Some(Community::new("public")),
    };
    let security = match (settings.version, community, identity) {
        (Version::V1, Some(community), _) => Some(Security::V1 { community }),
        (Version::V2c, Some(community), _) => Some(Security::V2c { community }),
        (Version::V3, _, Some(identity)) => Some(Security::V3(identity)),
        // An unreadable community: its reader has said why.
        _ => None,
    };
    match security {
        Some(security) if errors.is_empty() => Ok(SenderConfig {
            security,
            notification: settings.notification,
            retries: settings.retries,
            timeout: settings.timeout,
        }),
        _ => Err(errors),
    }
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
        v3_settings_need_v3: "v3 settings need version 3",
        inform_needs_v2c: "informs need 2c or 3",
        community_is_not_v3: "no community with v3",
    };

    fn settings(version: Version, community: CommunitySetting<'_>) -> SenderSettings<'_> {
        SenderSettings {
            version,
            notification: NotificationKind::Trap,
            community,
            v3: V3Settings::default(),
            other_v3_given: false,
            retries: 1,
            timeout: Duration::from_millis(5),
        }
    }

    fn texts(result: Result<SenderConfig<V3Identity>, Vec<SecurityError>>) -> Vec<String> {
        result
            .err()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn versions_are_read_with_or_without_v() {
        for (text, version) in [
            ("1", Version::V1),
            ("V2C", Version::V2c),
            ("v3", Version::V3),
        ] {
            assert_eq!(text.parse(), Ok(version));
        }
        assert_eq!(
            "2".parse::<Version>(),
            Err("\"2\" is not an SNMP version (1, 2c or 3)".to_owned())
        );
    }

    #[test]
    fn a_community_is_public_unless_given_and_read() {
        let checked = check_settings(
            settings(Version::V1, CommunitySetting::Default),
            &NAMES,
            None,
        );
        assert_eq!(
            checked.unwrap().security,
            Security::V1 {
                community: Community::new("public")
            }
        );
        let mut read = || Some(Community::new("private"));
        let checked = check_settings(
            settings(Version::V2c, CommunitySetting::Given(&mut read)),
            &NAMES,
            None,
        );
        assert_eq!(
            checked.unwrap().security.community(),
            Some((SnmpVersion::V2c, &Community::new("private")))
        );
        // Unreadable: the reader reported it, nothing is added.
        let mut unreadable = || None;
        let checked = check_settings(
            settings(Version::V2c, CommunitySetting::Given(&mut unreadable)),
            &NAMES,
            None,
        );
        assert!(texts(checked).is_empty());
    }

    #[test]
    fn every_rule_is_checked_once_and_all_problems_are_returned() {
        let mut read_anyway = || -> Option<Community> { panic!("v3 does not read a community") };
        let mut v3 = settings(Version::V3, CommunitySetting::Given(&mut read_anyway));
        v3.notification = NotificationKind::Inform;
        assert_eq!(
            texts(check_settings(v3, &NAMES, None)),
            ["SNMPv3 needs a user name (user)", "no community with v3"]
        );
        let mut v1 = settings(Version::V1, CommunitySetting::Default);
        v1.notification = NotificationKind::Inform;
        v1.other_v3_given = true;
        assert_eq!(
            texts(check_settings(v1, &NAMES, None)),
            ["v3 settings need version 3", "informs need 2c or 3"]
        );
        let mut v2c = settings(Version::V2c, CommunitySetting::Default);
        v2c.v3.context = Some("ctx".into());
        assert_eq!(
            texts(check_settings(v2c, &NAMES, None)),
            ["v3 settings need version 3"]
        );
    }

    #[test]
    fn a_v3_user_waits_for_the_engine() {
        let mut v3 = settings(Version::V3, CommunitySetting::Default);
        v3.v3.user = Some("ops".into());
        let checked = check_settings(v3, &NAMES, None).unwrap();
        assert_eq!(checked.security.version(), Version::V3);
        assert!(checked.clone().with_engine(None).is_none());
        let engine = LocalEngine::new("0x8000989304746573".parse().unwrap(), 3);
        let bound = checked.with_engine(Some(&engine)).unwrap();
        assert_eq!(bound.security.v3().map(|v3| v3.engine.boots), Some(3));
        assert!(Version::V2c.carries(NotificationKind::Inform));
        assert!(!Version::V1.carries(NotificationKind::Inform));
    }
}
