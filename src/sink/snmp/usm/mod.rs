//! SNMPv3 User-based Security Model (RFC 3414, RFC 7860, RFC 3826): who a message speaks for,
//! how it is authenticated and encrypted, and the engine identity and clock it carries.
//!
//! - [`AuthProtocol`], [`PrivProtocol`], [`SecurityLevel`]: the choices, named as net-snmp
//!   names them;
//! - [`keys`]: password-to-key and key localisation, once per (engine ID, user);
//! - [`crypto`]: HMAC and the privacy ciphers, from RustCrypto;
//! - [`engine`]: our engine ID, `snmpEngineBoots` persisted across restarts, `snmpEngineTime`;
//! - [`message`]: building and reading v3 messages around the same PDUs v2c carries;
//! - [`session`]: a sender's v3 state: discovered engines, localised keys, msgIDs, salts.

pub mod crypto;
pub mod engine;
pub mod keys;
pub mod message;
pub mod session;
pub mod settings;

use std::fmt;
use std::str::FromStr;

pub use engine::{EngineError, EngineId, LocalEngine, default_engine_id, default_state_dir};
pub use keys::{LocalizedKeys, localize_user};
pub use message::{
    DecodedV3, MessageError, REPORT_COUNTERS, ReportKind, UsmHeader, V3Body, V3Envelope, decode_v3,
    encode_v3, encode_v3_into, encode_v3_notification, peek_header, render_v3,
};
pub use session::{RemoteEngine, V3Config, V3Session};
pub use settings::{SettingNames, V3Identity, V3Settings, V3SettingsError};

/// Shortest passphrase accepted without `--allow-weak` (RFC 3414 §11.2 recommends at least 8
/// characters; net-snmp refuses shorter ones).
pub const MIN_PASSPHRASE_LEN: usize = 8;

/// The user name field is `OCTET STRING (SIZE(0..32))` (RFC 3414 §2.4).
pub const MAX_USER_NAME_LEN: usize = 32;

/// Authentication protocols (`usmHMAC...AuthProtocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthProtocol {
    /// HMAC-MD5-96 (RFC 3414): legacy.
    Md5,
    /// HMAC-SHA-96 (RFC 3414): legacy.
    Sha1,
    /// usmHMAC128SHA224AuthProtocol (RFC 7860).
    Sha224,
    /// usmHMAC192SHA256AuthProtocol (RFC 7860).
    Sha256,
    /// usmHMAC256SHA384AuthProtocol (RFC 7860).
    Sha384,
    /// usmHMAC384SHA512AuthProtocol (RFC 7860).
    Sha512,
}

impl AuthProtocol {
    pub const ALL: [AuthProtocol; 6] = [
        AuthProtocol::Md5,
        AuthProtocol::Sha1,
        AuthProtocol::Sha224,
        AuthProtocol::Sha256,
        AuthProtocol::Sha384,
        AuthProtocol::Sha512,
    ];

    /// The name net-snmp gives it (`snmptrap -a`, `createUser`).
    pub fn name(self) -> &'static str {
        match self {
            AuthProtocol::Md5 => "MD5",
            AuthProtocol::Sha1 => "SHA",
            AuthProtocol::Sha224 => "SHA-224",
            AuthProtocol::Sha256 => "SHA-256",
            AuthProtocol::Sha384 => "SHA-384",
            AuthProtocol::Sha512 => "SHA-512",
        }
    }

    /// Octets of `msgAuthenticationParameters`: the truncated HMAC.
    pub fn mac_len(self) -> usize {
        match self {
            AuthProtocol::Md5 | AuthProtocol::Sha1 => 12,
            AuthProtocol::Sha224 => 16,
            AuthProtocol::Sha256 => 24,
            AuthProtocol::Sha384 => 32,
            AuthProtocol::Sha512 => 48,
        }
    }

    /// Octets of the hash output, which is also the length of a localised key.
    pub fn digest_len(self) -> usize {
        match self {
            AuthProtocol::Md5 => 16,
            AuthProtocol::Sha1 => 20,
            AuthProtocol::Sha224 => 28,
            AuthProtocol::Sha256 => 32,
            AuthProtocol::Sha384 => 48,
            AuthProtocol::Sha512 => 64,
        }
    }

    /// MD5 is broken as a hash; HMAC-MD5 still holds but is refused unless allowed.
    pub fn is_weak(self) -> bool {
        self == AuthProtocol::Md5
    }
}

impl fmt::Display for AuthProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AuthProtocol {
    type Err = String;

    /// net-snmp's names, case-insensitive (`SHA1` and `SHA-1` are accepted for `SHA`).
    fn from_str(text: &str) -> Result<AuthProtocol, String> {
        match text.to_ascii_uppercase().as_str() {
            "MD5" => Ok(AuthProtocol::Md5),
            "SHA" | "SHA1" | "SHA-1" => Ok(AuthProtocol::Sha1),
            "SHA-224" | "SHA224" => Ok(AuthProtocol::Sha224),
            "SHA-256" | "SHA256" => Ok(AuthProtocol::Sha256),
            "SHA-384" | "SHA384" => Ok(AuthProtocol::Sha384),
            "SHA-512" | "SHA512" => Ok(AuthProtocol::Sha512),
            _ => Err(format!(
                "unknown authentication protocol {text:?} (expected MD5, SHA, SHA-224, SHA-256, \
                 SHA-384 or SHA-512)"
            )),
        }
    }
}

/// Privacy protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrivProtocol {
    /// CBC-DES (RFC 3414 §8): legacy, 56-bit keys.
    Des,
    /// CFB128-AES-128 (RFC 3826).
    Aes128,
    /// CFB128-AES-192 with the key extension of draft-blumenthal-aes-usm-04, which net-snmp
    /// calls `AES-192` (not an IETF standard).
    Aes192,
    /// CFB128-AES-256, same key extension as [`PrivProtocol::Aes192`]; net-snmp's `AES-256`.
    Aes256,
}

impl PrivProtocol {
    pub const ALL: [PrivProtocol; 4] = [
        PrivProtocol::Des,
        PrivProtocol::Aes128,
        PrivProtocol::Aes192,
        PrivProtocol::Aes256,
    ];

    /// The name net-snmp gives it (`snmptrap -x`, `createUser`).
    pub fn name(self) -> &'static str {
        match self {
            PrivProtocol::Des => "DES",
            PrivProtocol::Aes128 => "AES",
            PrivProtocol::Aes192 => "AES-192",
            PrivProtocol::Aes256 => "AES-256",
        }
    }

    /// A description that names the key-extension variant where one is involved.
    pub fn description(self) -> &'static str {
        match self {
            PrivProtocol::Des => "CBC-DES (RFC 3414)",
            PrivProtocol::Aes128 => "CFB128-AES-128 (RFC 3826)",
            PrivProtocol::Aes192 => "CFB128-AES-192, Blumenthal key extension",
            PrivProtocol::Aes256 => "CFB128-AES-256, Blumenthal key extension",
        }
    }

    /// Octets of key material the cipher needs from the localised privacy key (DES takes 8 of
    /// key and 8 of pre-IV).
    pub fn key_material_len(self) -> usize {
        match self {
            PrivProtocol::Des | PrivProtocol::Aes128 => 16,
            PrivProtocol::Aes192 => 24,
            PrivProtocol::Aes256 => 32,
        }
    }

    pub fn is_weak(self) -> bool {
        self == PrivProtocol::Des
    }
}

impl fmt::Display for PrivProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PrivProtocol {
    type Err = String;

    /// net-snmp's names, case-insensitive (`AES128`, `AES-128` accepted for `AES`).
    fn from_str(text: &str) -> Result<PrivProtocol, String> {
        match text.to_ascii_uppercase().as_str() {
            "DES" => Ok(PrivProtocol::Des),
            "AES" | "AES128" | "AES-128" => Ok(PrivProtocol::Aes128),
            "AES-192" | "AES192" => Ok(PrivProtocol::Aes192),
            "AES-256" | "AES256" => Ok(PrivProtocol::Aes256),
            _ => Err(format!(
                "unknown privacy protocol {text:?} (expected DES, AES, AES-192 or AES-256)"
            )),
        }
    }
}

/// `msgFlags` security levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecurityLevel {
    NoAuthNoPriv,
    AuthNoPriv,
    AuthPriv,
}

impl SecurityLevel {
    pub fn name(self) -> &'static str {
        match self {
            SecurityLevel::NoAuthNoPriv => "noAuthNoPriv",
            SecurityLevel::AuthNoPriv => "authNoPriv",
            SecurityLevel::AuthPriv => "authPriv",
        }
    }

    /// The auth and priv bits of `msgFlags`.
    pub fn flag_bits(self) -> u8 {
        match self {
            SecurityLevel::NoAuthNoPriv => 0x00,
            SecurityLevel::AuthNoPriv => 0x01,
            SecurityLevel::AuthPriv => 0x03,
        }
    }
}

impl fmt::Display for SecurityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A passphrase: never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Passphrase(Vec<u8>);

impl Passphrase {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Passphrase {
        Passphrase(bytes.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in characters (bytes when it is not UTF-8), as net-snmp counts it.
    pub fn char_len(&self) -> usize {
        std::str::from_utf8(&self.0).map_or(self.0.len(), |text| text.chars().count())
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// A USM user as the sender knows it: name, protocols and passphrases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsmUser {
    pub name: String,
    pub auth: Option<(AuthProtocol, Passphrase)>,
    /// Needs `auth` (there is no noAuthPriv level).
    pub privacy: Option<(PrivProtocol, Passphrase)>,
}

/// A user that cannot be used as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsmUserError {
    #[error("the SNMPv3 user name is empty")]
    EmptyName,
    #[error("the SNMPv3 user name is {0} octets long; USM allows at most 32")]
    NameTooLong(usize),
    #[error("privacy needs authentication: give an authentication protocol too")]
    PrivacyWithoutAuth,
    #[error("{what} {name} is weak ({why})")]
    WeakProtocol {
        what: &'static str,
        name: &'static str,
        why: &'static str,
    },
    #[error("the {0} passphrase is empty")]
    EmptyPassphrase(&'static str),
    #[error(
        "the {what} passphrase is {length} characters long; at least {MIN_PASSPHRASE_LEN} are \
         needed (net-snmp peers refuse shorter ones even when allowed here)"
    )]
    ShortPassphrase { what: &'static str, length: usize },
}

impl UsmUserError {
    /// A weak choice, acceptable when the operator allows weak ones (the rest never are).
    pub fn is_weakness(&self) -> bool {
        matches!(
            self,
            UsmUserError::WeakProtocol { .. } | UsmUserError::ShortPassphrase { .. }
        )
    }
}

impl UsmUser {
    pub fn security_level(&self) -> SecurityLevel {
        match (&self.auth, &self.privacy) {
            (None, _) => SecurityLevel::NoAuthNoPriv,
            (Some(_), None) => SecurityLevel::AuthNoPriv,
            (Some(_), Some(_)) => SecurityLevel::AuthPriv,
        }
    }

    /// Checks the user; weak choices (MD5, DES, passphrases under 8 characters) are refused
    /// unless `allow_weak`, and logged as warnings when allowed.
    pub fn validate(&self, allow_weak: bool) -> Result<(), UsmUserError> {
        if self.name.is_empty() {
            return Err(UsmUserError::EmptyName);
        }
        if self.name.len() > MAX_USER_NAME_LEN {
            return Err(UsmUserError::NameTooLong(self.name.len()));
        }
        if self.auth.is_none() && self.privacy.is_some() {
            return Err(UsmUserError::PrivacyWithoutAuth);
        }
        for (what, passphrase) in [
            ("authentication", self.auth.as_ref().map(|(_, p)| p)),
            ("privacy", self.privacy.as_ref().map(|(_, p)| p)),
        ] {
            if passphrase.is_some_and(|p| p.as_bytes().is_empty()) {
                return Err(UsmUserError::EmptyPassphrase(what));
            }
        }
        let mut weaknesses = Vec::new();
        if let Some((protocol, passphrase)) = &self.auth {
            if protocol.is_weak() {
                weaknesses.push(UsmUserError::WeakProtocol {
                    what: "authentication protocol",
                    name: protocol.name(),
                    why: "MD5 is a broken hash",
                });
            }
            if passphrase.char_len() < MIN_PASSPHRASE_LEN {
                weaknesses.push(UsmUserError::ShortPassphrase {
                    what: "authentication",
                    length: passphrase.char_len(),
                });
            }
        }
        if let Some((protocol, passphrase)) = &self.privacy {
            if protocol.is_weak() {
                weaknesses.push(UsmUserError::WeakProtocol {
                    what: "privacy protocol",
                    name: protocol.name(),
                    why: "DES has 56-bit keys",
                });
            }
            if passphrase.char_len() < MIN_PASSPHRASE_LEN {
                weaknesses.push(UsmUserError::ShortPassphrase {
                    what: "privacy",
                    length: passphrase.char_len(),
                });
            }
        }
        match weaknesses.into_iter().next() {
            Some(first) if !allow_weak => Err(first),
            Some(first) => {
                tracing::warn!("weak SNMPv3 setting allowed: {first}");
                Ok(())
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_follow_net_snmp_case_insensitively() {
        for protocol in AuthProtocol::ALL {
            assert_eq!(protocol.name().parse::<AuthProtocol>(), Ok(protocol));
            assert_eq!(
                protocol.name().to_lowercase().parse::<AuthProtocol>(),
                Ok(protocol)
            );
        }
        for protocol in PrivProtocol::ALL {
            assert_eq!(protocol.name().parse::<PrivProtocol>(), Ok(protocol));
            assert_eq!(
                protocol.name().to_lowercase().parse::<PrivProtocol>(),
                Ok(protocol)
            );
        }
        assert!("SHA-3".parse::<AuthProtocol>().is_err());
        assert!("3DES".parse::<PrivProtocol>().is_err());
    }

    #[test]
    fn weak_choices_are_refused_unless_allowed() {
        let strong = UsmUser {
            name: "ops".into(),
            auth: Some((AuthProtocol::Sha256, Passphrase::new("long enough"))),
            privacy: Some((PrivProtocol::Aes128, Passphrase::new("also long enough"))),
        };
        assert_eq!(strong.validate(false), Ok(()));
        assert_eq!(strong.security_level(), SecurityLevel::AuthPriv);

        let md5 = UsmUser {
            auth: Some((AuthProtocol::Md5, Passphrase::new("long enough"))),
            ..strong.clone()
        };
        assert!(matches!(
            md5.validate(false),
            Err(UsmUserError::WeakProtocol { name: "MD5", .. })
        ));
        assert_eq!(md5.validate(true), Ok(()));

        let des = UsmUser {
            privacy: Some((PrivProtocol::Des, Passphrase::new("long enough"))),
            ..strong.clone()
        };
        assert!(matches!(
            des.validate(false),
            Err(UsmUserError::WeakProtocol { name: "DES", .. })
        ));

        let short = UsmUser {
            auth: Some((AuthProtocol::Sha1, Passphrase::new("short"))),
            ..strong.clone()
        };
        let error = short.validate(false).unwrap_err();
        assert_eq!(
            error,
            UsmUserError::ShortPassphrase {
                what: "authentication",
                length: 5
            }
        );
        assert!(!error.to_string().contains("short\""));

        let no_auth = UsmUser {
            auth: None,
            ..strong.clone()
        };
        assert_eq!(
            no_auth.validate(true),
            Err(UsmUserError::PrivacyWithoutAuth)
        );
        let long_name = UsmUser {
            name: "x".repeat(33),
            ..strong
        };
        assert_eq!(
            long_name.validate(false),
            Err(UsmUserError::NameTooLong(33))
        );
    }

    #[test]
    fn passphrases_are_redacted() {
        let user = UsmUser {
            name: "ops".into(),
            auth: Some((AuthProtocol::Sha1, Passphrase::new("hunter2-secret"))),
            privacy: None,
        };
        assert!(!format!("{user:?}").contains("hunter2"));
    }
}
