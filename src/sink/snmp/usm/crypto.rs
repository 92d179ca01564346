//! The cryptography of USM messages, from RustCrypto primitives: HMAC authentication
//! (RFC 3414 §6-7, RFC 7860) and the privacy ciphers (CBC-DES, RFC 3414 §8; CFB128-AES,
//! RFC 3826 and its 192/256-bit extension).

use aes::{Aes128, Aes192, Aes256};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use des::Des;
use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Sha224, Sha256, Sha384, Sha512};

use super::{AuthProtocol, PrivProtocol};

/// Octets of `msgPrivacyParameters` (the salt) for every supported cipher.
pub const SALT_LEN: usize = 8;

/// A failure of the cryptographic layer, on keys or on a received message's fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("{protocol}: a key of {length} octets is not usable")]
    KeyLength {
        protocol: &'static str,
        length: usize,
    },
    #[error("msgPrivacyParameters has {0} octets, not 8")]
    PrivacyParameters(usize),
    #[error("the encrypted PDU has {0} octets, not a multiple of the DES block (8)")]
    CiphertextLength(usize),
}

#[derive(Clone)]
enum MacState {
    Md5(Hmac<Md5>),
    Sha1(Hmac<Sha1>),
    Sha224(Hmac<Sha224>),
    Sha256(Hmac<Sha256>),
    Sha384(Hmac<Sha384>),
    Sha512(Hmac<Sha512>),
}

/// A localised authentication key with its HMAC already keyed: each message only clones the
/// keyed state.
#[derive(Clone)]
pub struct MacKey {
    protocol: AuthProtocol,
    state: MacState,
}

impl MacKey {
    pub fn new(protocol: AuthProtocol, key: &[u8]) -> Result<MacKey, CryptoError> {
        let bad_key = |_| CryptoError::KeyLength {
            protocol: protocol.name(),
            length: key.len(),
        };
        let state = match protocol {
            AuthProtocol::Md5 => MacState::Md5(Hmac::new_from_slice(key).map_err(bad_key)?),
            AuthProtocol::Sha1 => MacState::Sha1(Hmac::new_from_slice(key).map_err(bad_key)?),
            AuthProtocol::Sha224 => MacState::Sha224(Hmac::new_from_slice(key).map_err(bad_key)?),
            AuthProtocol::Sha256 => MacState::Sha256(Hmac::new_from_slice(key).map_err(bad_key)?),
            AuthProtocol::Sha384 => MacState::Sha384(Hmac::new_from_slice(key).map_err(bad_key)?),
            AuthProtocol::Sha512 => MacState::Sha512(Hmac::new_from_slice(key).map_err(bad_key)?),
        };
        Ok(MacKey { protocol, state })
    }

    pub fn protocol(&self) -> AuthProtocol {
        self.protocol
    }

    /// Writes the truncated HMAC of `message` into `mac` (exactly `mac_len()` octets).
    pub fn sign(&self, message: &[u8], mac: &mut [u8]) {
        fn run<M: Mac + Clone>(state: &M, message: &[u8], mac: &mut [u8]) {
            let mut state = state.clone();
            state.update(message);
            let full = state.finalize().into_bytes();
            let length = mac.len().min(full.len());
            mac[..length].copy_from_slice(&full[..length]);
        }
        match &self.state {
            MacState::Md5(state) => run(state, message, mac),
            MacState::Sha1(state) => run(state, message, mac),
            MacState::Sha224(state) => run(state, message, mac),
            MacState::Sha256(state) => run(state, message, mac),
            MacState::Sha384(state) => run(state, message, mac),
            MacState::Sha512(state) => run(state, message, mac),
        }
    }

    /// Whether `mac` is the truncated HMAC of `message`, compared in constant time.
    pub fn verify(&self, message: &[u8], mac: &[u8]) -> bool {
        fn run<M: Mac + Clone>(state: &M, message: &[u8], mac: &[u8]) -> bool {
            let mut state = state.clone();
            state.update(message);
            state.verify_truncated_left(mac).is_ok()
        }
        if mac.len() != self.protocol.mac_len() {
            return false;
        }
        match &self.state {
            MacState::Md5(state) => run(state, message, mac),
            MacState::Sha1(state) => run(state, message, mac),
            MacState::Sha224(state) => run(state, message, mac),
            MacState::Sha256(state) => run(state, message, mac),
            MacState::Sha384(state) => run(state, message, mac),
            MacState::Sha512(state) => run(state, message, mac),
        }
    }
}

/// A localised (and, for AES-192/256, extended) privacy key.
#[derive(Clone)]
pub struct PrivKey {
    protocol: PrivProtocol,
    /// `key_material_len()` octets: for DES, 8 of key then 8 of pre-IV.
    material: Vec<u8>,
}

impl PrivKey {
    /// `material` must hold at least `protocol.key_material_len()` octets.
    pub fn new(protocol: PrivProtocol, material: &[u8]) -> PrivKey {
        PrivKey {
            protocol,
            material: material[..protocol.key_material_len().min(material.len())].to_vec(),
        }
    }

    pub fn protocol(&self) -> PrivProtocol {
        self.protocol
    }

    /// Encrypts a BER-encoded ScopedPDU. `boots` and `time` are the authoritative engine's
    /// values that the message carries; `salt` must never repeat under one key: AES puts it
    /// in the IV after boots and time (RFC 3826 §3.1.2.1), DES uses it as its salt (the caller
    /// puts the local boots in its high half, RFC 3414 §8.1.1.1). Returns the ciphertext and
    /// `msgPrivacyParameters`.
    pub fn encrypt(
        &self,
        plaintext: &[u8],
        boots: u32,
        time: u32,
        salt: u64,
    ) -> Result<(Vec<u8>, [u8; SALT_LEN]), CryptoError> {
        let salt = salt.to_be_bytes();
        let mut buffer = plaintext.to_vec();
        match self.protocol {
            PrivProtocol::Des => {
                // Padding content is irrelevant (RFC 3414 §8.1.1.2): zeros to the block.
                let padded = plaintext.len().div_ceil(8) * 8;
                buffer.resize(padded, 0);
                let iv = self.des_iv(&salt);
                cbc::Encryptor::<Des>::new_from_slices(&self.material[..8], &iv)
                    .map_err(|_| self.key_error())?
                    .encrypt_padded::<NoPadding>(&mut buffer, padded)
                    .map_err(|_| CryptoError::CiphertextLength(padded))?;
            }
            aes => self.aes_cfb(aes, &aes_iv(boots, time, &salt), &mut buffer, true)?,
        }
        Ok((buffer, salt))
    }

    /// AES in CFB mode (RFC 3826; the Blumenthal key extension for 192 and 256 bits).
    fn aes_cfb(
        &self,
        protocol: PrivProtocol,
        iv: &[u8; 16],
        buffer: &mut [u8],
        encrypt: bool,
    ) -> Result<(), CryptoError> {
        let done = match protocol {
            PrivProtocol::Aes192 => cfb::<Aes192>(&self.material, iv, buffer, encrypt),
            PrivProtocol::Aes256 => cfb::<Aes256>(&self.material, iv, buffer, encrypt),
            _ => cfb::<Aes128>(&self.material, iv, buffer, encrypt),
        };
        done.ok_or_else(|| self.key_error())
    }

    /// Decrypts an encryptedPDU. DES output keeps its padding: the BER decoder stops at the
    /// end of the ScopedPDU.
    pub fn decrypt(
        &self,
        ciphertext: &[u8],
        boots: u32,
        time: u32,
        privacy_parameters: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let salt: [u8; SALT_LEN] = privacy_parameters
            .try_into()
            .map_err(|_| CryptoError::PrivacyParameters(privacy_parameters.len()))?;
        let mut buffer = ciphertext.to_vec();
        match self.protocol {
            PrivProtocol::Des => {
                if !buffer.len().is_multiple_of(8) {
                    return Err(CryptoError::CiphertextLength(buffer.len()));
                }
                let iv = self.des_iv(&salt);
                cbc::Decryptor::<Des>::new_from_slices(&self.material[..8], &iv)
                    .map_err(|_| self.key_error())?
                    .decrypt_padded::<NoPadding>(&mut buffer)
                    .map_err(|_| CryptoError::CiphertextLength(ciphertext.len()))?;
            }
            aes => self.aes_cfb(aes, &aes_iv(boots, time, &salt), &mut buffer, false)?,
        }
        Ok(buffer)
    }

    /// DES IV: the pre-IV (second half of the key material) XOR the salt.
    fn des_iv(&self, salt: &[u8; SALT_LEN]) -> [u8; 8] {
        let mut iv = [0u8; 8];
        for (index, byte) in iv.iter_mut().enumerate() {
            let pre_iv = self.material.get(8 + index).copied().unwrap_or(0);
            *byte = pre_iv ^ salt[index];
        }
        iv
    }

    fn key_error(&self) -> CryptoError {
        CryptoError::KeyLength {
            protocol: self.protocol.name(),
            length: self.material.len(),
        }
    }
}

/// AES IV (RFC 3826 §3.1.2.1): boots ‖ time ‖ salt, big-endian.
fn aes_iv(boots: u32, time: u32, salt: &[u8; SALT_LEN]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..4].copy_from_slice(&boots.to_be_bytes());
    iv[4..8].copy_from_slice(&time.to_be_bytes());
    iv[8..].copy_from_slice(salt);
    iv
}

/// CFB128 in place; `None` when the key has the wrong length for the cipher.
fn cfb<C>(key: &[u8], iv: &[u8; 16], buffer: &mut [u8], encrypt: bool) -> Option<()>
where
    C: cbc::cipher::BlockCipherEncrypt + cbc::cipher::KeyInit,
    cfb_mode::Encryptor<C>: KeyIvInit,
    cfb_mode::Decryptor<C>: KeyIvInit,
{
    if encrypt {
        cfb_mode::Encryptor::<C>::new_from_slices(key, iv)
            .ok()?
            .encrypt(buffer);
    } else {
        cfb_mode::Decryptor::<C>::new_from_slices(key, iv)
            .ok()?
            .decrypt(buffer);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cipher_round_trips_and_changes_the_bytes() {
        let plaintext = b"a scoped PDU that is not a multiple of anything!".to_vec();
        for protocol in PrivProtocol::ALL {
            let key = PrivKey::new(protocol, &[0x5a; 32]);
            let (ciphertext, salt) = key.encrypt(&plaintext, 3, 1234, 0x0102).unwrap();
            assert_ne!(&ciphertext[..plaintext.len()], &plaintext[..], "{protocol}");
            let decrypted = key.decrypt(&ciphertext, 3, 1234, &salt).unwrap();
            assert_eq!(&decrypted[..plaintext.len()], &plaintext[..], "{protocol}");
            match protocol {
                PrivProtocol::Des => assert_eq!(ciphertext.len() % 8, 0),
                _ => assert_eq!(ciphertext.len(), plaintext.len()),
            }
            // Another salt, another ciphertext.
            let (other, _) = key.encrypt(&plaintext, 3, 1234, 0x0103).unwrap();
            assert_ne!(other, ciphertext, "{protocol}");
        }
    }

    #[test]
    fn received_fields_of_the_wrong_size_are_errors() {
        let des = PrivKey::new(PrivProtocol::Des, &[1; 16]);
        assert_eq!(
            des.decrypt(&[0; 12], 0, 0, &[0; 8]),
            Err(CryptoError::CiphertextLength(12))
        );
        let aes = PrivKey::new(PrivProtocol::Aes128, &[1; 16]);
        assert_eq!(
            aes.decrypt(&[0; 12], 0, 0, &[0; 7]),
            Err(CryptoError::PrivacyParameters(7))
        );
    }

    /// RFC 2202 test case 2 (HMAC-MD5 and HMAC-SHA-1, key "Jefe"), truncated to 96 bits.
    #[test]
    fn hmac_is_truncated_to_the_mac_length() {
        let message = b"what do ya want for nothing?";
        let md5 = MacKey::new(AuthProtocol::Md5, b"Jefe").unwrap();
        let mut mac = [0u8; 12];
        md5.sign(message, &mut mac);
        assert_eq!(
            mac,
            [
                0x75, 0x0c, 0x78, 0x3e, 0x6a, 0xb0, 0xb5, 0x03, 0xea, 0xa8, 0x6e, 0x31
            ]
        );
        assert!(md5.verify(message, &mac));
        assert!(!md5.verify(b"something else", &mac));
        assert!(!md5.verify(message, &mac[..11]));

        let sha1 = MacKey::new(AuthProtocol::Sha1, b"Jefe").unwrap();
        sha1.sign(message, &mut mac);
        assert_eq!(
            mac,
            [
                0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74, 0x16, 0xd5
            ]
        );
    }
}
