//! age's `ssh-rsa` recipient stanza (PROTOCOL.md §14.3) unwrapped with the
//! project's RSA-OAEP (aws-lc, constant time) instead of the `age` crate's,
//! which goes through the RustCrypto `rsa` crate (RUSTSEC-2023-0071).
//!
//! The stanza, as age defines it (`age/src/ssh/identity.rs`): tag
//! `ssh-rsa`, one argument — the unpadded base64 of the first 4 bytes of
//! SHA-256 of the recipient's SSH public key blob — and a body that is the
//! RSA-OAEP (SHA-256, MGF1-SHA-256, label `age-encryption.org/v1/ssh-rsa`)
//! encryption of the 16-byte file key.

use age::DecryptError;
use age_core::format::{FileKey, Stanza, FILE_KEY_BYTES};
use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use sxfer_proto::identity::{KeyType, PrivateIdentity};

const STANZA_TAG: &str = "ssh-rsa";
const OAEP_LABEL: &[u8] = b"age-encryption.org/v1/ssh-rsa";
const KEY_TAG_BYTES: usize = 4;

/// An `ssh-rsa` identity for age's decryptor.
pub struct SshRsaIdentity {
    key: PrivateIdentity,
    tag: [u8; KEY_TAG_BYTES],
}

impl SshRsaIdentity {
    /// `None` unless `key` is an RSA key.
    pub fn new(key: PrivateIdentity) -> Option<SshRsaIdentity> {
        if key.public().key_type() != KeyType::Rsa {
            return None;
        }
        let hash = digest(&SHA256, &key.public().to_wire());
        let tag = hash.as_ref()[..KEY_TAG_BYTES].try_into().ok()?;
        Some(SshRsaIdentity { key, tag })
    }
}

impl age::Identity for SshRsaIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        if stanza.tag != STANZA_TAG {
            return None;
        }
        let [arg] = &stanza.args[..] else {
            return Some(Err(DecryptError::InvalidHeader));
        };
        // Spare room: the decoder wants its estimate for 6 characters (6).
        let mut tag = [0u8; 2 * KEY_TAG_BYTES];
        if STANDARD_NO_PAD.decode_slice(arg, &mut tag) != Ok(KEY_TAG_BYTES) {
            return Some(Err(DecryptError::InvalidHeader));
        }
        if tag[..KEY_TAG_BYTES] != self.tag {
            return None; // for another key
        }
        // As age: a failure here is fatal (a 32-bit tag collision is not expected).
        let Ok(plain) = self.key.rsa_oaep_sha256_decrypt(&stanza.body, OAEP_LABEL) else {
            return Some(Err(DecryptError::DecryptionFailed));
        };
        if plain.len() != FILE_KEY_BYTES {
            return Some(Err(DecryptError::DecryptionFailed));
        }
        Some(Ok(FileKey::init_with_mut(|out| out.copy_from_slice(&plain))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn encrypt_to(key: &PrivateIdentity, plaintext: &[u8]) -> Vec<u8> {
        let recipient: age::ssh::Recipient = key.public().to_openssh().trim().parse().unwrap();
        let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient)).unwrap();
        let mut out = Vec::new();
        let mut writer = encryptor.wrap_output(&mut out).unwrap();
        writer.write_all(plaintext).unwrap();
        writer.finish().unwrap();
        out
    }

    fn decrypt(identity: &SshRsaIdentity, ciphertext: &[u8]) -> Result<Vec<u8>, DecryptError> {
        let decryptor = age::Decryptor::new(ciphertext)?;
        let mut reader = decryptor.decrypt(std::iter::once(identity as &dyn age::Identity))?;
        let mut plain = Vec::new();
        reader.read_to_end(&mut plain).unwrap();
        Ok(plain)
    }

    #[test]
    fn opens_what_age_encrypts_to_the_key_and_nothing_else() {
        let (bob, carol) = (PrivateIdentity::generate_rsa(2048).unwrap(), PrivateIdentity::generate_rsa(2048).unwrap());
        let ciphertext = encrypt_to(&bob, b"to bob only");
        let bob_identity = SshRsaIdentity::new(bob).unwrap();
        assert_eq!(decrypt(&bob_identity, &ciphertext).unwrap(), b"to bob only");
        let carol_identity = SshRsaIdentity::new(carol).unwrap();
        assert!(matches!(decrypt(&carol_identity, &ciphertext), Err(DecryptError::NoMatchingKeys)));

        // The stanza for bob, with its wrapped key altered: refused.
        let header_end = ciphertext.windows(4).position(|w| w == b"\n---").unwrap();
        let mut altered = ciphertext.clone();
        altered[header_end - 2] ^= 0x01;
        assert!(decrypt(&bob_identity, &altered).is_err());
        assert!(SshRsaIdentity::new(PrivateIdentity::generate_ed25519(&mut rand_core::OsRng).unwrap()).is_none());
    }
}
