//! Keys from passphrases (RFC 3414 §2.6, A.2; RFC 7860 §9.3 for SHA-2): the passphrase is
//! hashed into `Ku` once, then localised to one engine as `Kul = H(Ku ‖ engineID ‖ Ku)`.
//! Both steps happen once per (engine ID, user), never per message: password-to-key alone
//! hashes a megabyte.

use std::fmt;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use super::crypto::{CryptoError, MacKey, PrivKey};
use super::{AuthProtocol, Passphrase, PrivProtocol, SecurityLevel, UsmUser};

/// How many octets of repeated passphrase password-to-key hashes (RFC 3414 A.2.1).
const EXPANDED_PASSPHRASE_LEN: usize = 1_048_576;

/// A user's keys localised to one engine, ready to authenticate and encrypt.
#[derive(Clone)]
pub struct LocalizedKeys {
    pub auth: Option<MacKey>,
    pub privacy: Option<PrivKey>,
}

impl fmt::Debug for LocalizedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalizedKeys")
            .field("auth", &self.auth.as_ref().map(MacKey::protocol))
            .field("privacy", &self.privacy.as_ref().map(PrivKey::protocol))
            .finish()
    }
}

impl LocalizedKeys {
    /// The security level these keys give a message.
    pub fn level(&self) -> SecurityLevel {
        match (&self.auth, &self.privacy) {
            (None, _) => SecurityLevel::NoAuthNoPriv,
            (Some(_), None) => SecurityLevel::AuthNoPriv,
            (Some(_), Some(_)) => SecurityLevel::AuthPriv,
        }
    }

    /// No keys: noAuthNoPriv (discovery probes, unauthenticated Reports).
    pub fn none() -> LocalizedKeys {
        LocalizedKeys {
            auth: None,
            privacy: None,
        }
    }
}

/// Localises `user`'s keys to `engine_id`. The privacy key comes from the privacy passphrase
/// through the authentication hash (RFC 3414 §8.1.1.1, RFC 3826 §3.1.2.1).
pub fn localize_user(user: &UsmUser, engine_id: &[u8]) -> Result<LocalizedKeys, CryptoError> {
    let Some((auth, auth_passphrase)) = &user.auth else {
        return Ok(LocalizedKeys {
            auth: None,
            privacy: None,
        });
    };
    let auth_key = localize(*auth, &password_to_key(*auth, auth_passphrase), engine_id);
    let privacy = user.privacy.as_ref().map(|(privacy, passphrase)| {
        let localized = localize(*auth, &password_to_key(*auth, passphrase), engine_id);
        PrivKey::new(*privacy, &extend_privacy_key(*auth, *privacy, localized))
    });
    Ok(LocalizedKeys {
        auth: Some(MacKey::new(*auth, &auth_key)?),
        privacy,
    })
}

/// `Ku`: the hash of the passphrase repeated to exactly 1 048 576 octets (RFC 3414 A.2).
/// An empty passphrase gives the hash of nothing (refused earlier by [`UsmUser::validate`]).
pub fn password_to_key(protocol: AuthProtocol, passphrase: &Passphrase) -> Vec<u8> {
    match protocol {
        AuthProtocol::Md5 => expand_and_hash::<Md5>(passphrase.as_bytes()),
        AuthProtocol::Sha1 => expand_and_hash::<Sha1>(passphrase.as_bytes()),
        AuthProtocol::Sha224 => expand_and_hash::<Sha224>(passphrase.as_bytes()),
        AuthProtocol::Sha256 => expand_and_hash::<Sha256>(passphrase.as_bytes()),
        AuthProtocol::Sha384 => expand_and_hash::<Sha384>(passphrase.as_bytes()),
        AuthProtocol::Sha512 => expand_and_hash::<Sha512>(passphrase.as_bytes()),
    }
}

/// `Kul = H(Ku ‖ engineID ‖ Ku)` (RFC 3414 A.2).
pub fn localize(protocol: AuthProtocol, key: &[u8], engine_id: &[u8]) -> Vec<u8> {
    hash(protocol, &[key, engine_id, key])
}

/// Extends a localised privacy key to what the cipher needs: AES-192/256 after a 20-octet
/// SHA-1 key, for instance. Blumenthal's scheme (draft-blumenthal-aes-usm-04 §3.1.2.1), as
/// net-snmp's `AES-192`/`AES-256` do it: append `H(key so far)` until long enough.
fn extend_privacy_key(protocol: AuthProtocol, privacy: PrivProtocol, mut key: Vec<u8>) -> Vec<u8> {
    let needed = privacy.key_material_len();
    while key.len() < needed {
        let more = hash(protocol, &[&key]);
        key.extend_from_slice(&more);
    }
    key.truncate(needed);
    key
}

fn hash(protocol: AuthProtocol, parts: &[&[u8]]) -> Vec<u8> {
    fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
        let mut digest = D::new();
        for part in parts {
            digest.update(part);
        }
        digest.finalize().to_vec()
    }
    match protocol {
        AuthProtocol::Md5 => run::<Md5>(parts),
        AuthProtocol::Sha1 => run::<Sha1>(parts),
        AuthProtocol::Sha224 => run::<Sha224>(parts),
        AuthProtocol::Sha256 => run::<Sha256>(parts),
        AuthProtocol::Sha384 => run::<Sha384>(parts),
        AuthProtocol::Sha512 => run::<Sha512>(parts),
    }
}

fn expand_and_hash<D: Digest>(passphrase: &[u8]) -> Vec<u8> {
    let mut digest = D::new();
    if !passphrase.is_empty() {
        // Feed the repetition in 64-octet chunks as the RFC's reference code does; the
        // result only depends on the byte stream.
        let mut chunk = [0u8; 64];
        let mut position = 0usize;
        let mut fed = 0usize;
        while fed < EXPANDED_PASSPHRASE_LEN {
            for byte in chunk.iter_mut() {
                *byte = passphrase[position % passphrase.len()];
                position += 1;
            }
            digest.update(chunk);
            fed += chunk.len();
        }
    }
    digest.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let clean: String = text.split_whitespace().collect();
        (0..clean.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 3414 A.3.1-A.3.2: passphrase "maplesyrup", engine ID 00…02.
    const ENGINE: &str = "000000000000000000000002";

    #[test]
    fn rfc_3414_a3_md5() {
        let ku = password_to_key(AuthProtocol::Md5, &Passphrase::new("maplesyrup"));
        assert_eq!(ku, hex("9f af 32 83 88 4e 92 83 4e bc 98 47 d8 ed d9 63"));
        let kul = localize(AuthProtocol::Md5, &ku, &hex(ENGINE));
        assert_eq!(kul, hex("52 6f 5e ed 9f cc e2 6f 89 64 c2 93 07 87 d8 2b"));
    }

    #[test]
    fn rfc_3414_a3_sha1() {
        let ku = password_to_key(AuthProtocol::Sha1, &Passphrase::new("maplesyrup"));
        assert_eq!(
            ku,
            hex("9f b5 cc 03 81 49 7b 37 93 52 89 39 ff 78 8d 5d 79 14 52 11")
        );
        let kul = localize(AuthProtocol::Sha1, &ku, &hex(ENGINE));
        assert_eq!(
            kul,
            hex("66 95 fe bc 92 88 e3 62 82 23 5f c7 15 1f 12 84 97 b3 8f 3f")
        );
    }

    /// RFC 7860 §9.3 keeps the RFC 3414 algorithm and changes only the hash; it prints no
    /// vectors. These are the RFC 3414 inputs localised with the SHA-2 hashes by an
    /// independent implementation (Python's hashlib), the SHA-256 one as widely published.
    #[test]
    fn rfc_7860_sha2_localisation() {
        let engine = hex(ENGINE);
        let passphrase = Passphrase::new("maplesyrup");
        let expected = [
            (
                AuthProtocol::Sha224,
                "0bd8827c6e29f8065e08e09237f177e410f69b90e1782be682075674",
            ),
            (
                AuthProtocol::Sha256,
                "8982e0e549e866db361a6b625d84cccc11162d453ee8ce3a6445c2d6776f0f8b",
            ),
            (
                AuthProtocol::Sha384,
                "3b298f16164a11184279d5432bf169e2d2a48307de02b3d3f7e2b4f36eb6f045\
                 5a53689a3937eea07319a633d2ccba78",
            ),
            (
                AuthProtocol::Sha512,
                "22a5a36cedfcc085807a128d7bc6c2382167ad6c0dbc5fdff856740f3d84c099\
                 ad1ea87a8db096714d9788bd544047c9021e4229ce27e4c0a69250adfcffbb0b",
            ),
        ];
        for (protocol, key) in expected {
            let localized = localize(protocol, &password_to_key(protocol, &passphrase), &engine);
            assert_eq!(localized, hex(key), "{protocol}");
            assert_eq!(localized.len(), protocol.digest_len(), "{protocol}");
        }
    }

    #[test]
    fn privacy_keys_are_extended_by_hashing_what_is_there() {
        let localized = vec![7u8; 20];
        let extended =
            extend_privacy_key(AuthProtocol::Sha1, PrivProtocol::Aes256, localized.clone());
        assert_eq!(extended.len(), 32);
        assert_eq!(&extended[..20], &localized[..]);
        assert_eq!(
            &extended[20..],
            &hash(AuthProtocol::Sha1, &[&localized])[..12]
        );
        // Long enough already: only cut.
        let long = vec![9u8; 64];
        assert_eq!(
            extend_privacy_key(AuthProtocol::Sha512, PrivProtocol::Aes128, long),
            vec![9u8; 16]
        );
    }
}
