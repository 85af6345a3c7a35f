//! `aes-256-gcm` (suite 0x0001): AES-256-GCM as specified in NIST SP 800-38D.
//!
//! ```text
//! key        = 32 bytes
//! nonce      = 12 bytes (per-direction IV XOR sequence number, §5)
//! sealed     = C ‖ T        where (C, T) = AES-256-GCM(key, nonce, aad, P)
//! len(C)     = len(P)
//! len(T)     = 16
//! ```
//!
//! Opening recomputes and checks the tag before any plaintext is returned;
//! every failure is `Error::Crypto`.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

use super::{RecordCipher, SuiteId, NONCE_LEN};
use crate::error::{Error, Result};

/// Length of the GCM authentication tag.
const TAG_LEN: usize = 16;

/// One direction's AES-256-GCM key. aws-lc-rs zeroizes the key on drop.
pub struct Aes256Gcm {
    key: LessSafeKey,
}

impl Aes256Gcm {
    /// Key the suite from exactly 32 bytes.
    pub fn new(key: &[u8]) -> Result<Self> {
        if key.len() != SuiteId::Aes256Gcm.key_len() {
            return Err(Error::Misuse("aes-256-gcm key must be 32 bytes"));
        }
        let key = UnboundKey::new(&AES_256_GCM, key).map_err(|_| Error::Crypto)?;
        Ok(Aes256Gcm { key: LessSafeKey::new(key) })
    }
}

impl RecordCipher for Aes256Gcm {
    fn id(&self) -> SuiteId {
        SuiteId::Aes256Gcm
    }

    fn sealed_len(&self, plaintext_len: usize) -> usize {
        plaintext_len.saturating_add(TAG_LEN)
    }

    fn seal_in_place(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8], plaintext_len: usize) -> Result<()> {
        if buf.len() != self.sealed_len(plaintext_len) {
            return Err(Error::Misuse("seal buffer is not sealed_len(plaintext_len)"));
        }
        let (data, tag_out) = buf.split_at_mut(plaintext_len);
        let tag = self
            .key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), data)
            .map_err(|_| Error::Crypto)?;
        tag_out.copy_from_slice(tag.as_ref());
        Ok(())
    }

    fn open_in_place(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8]) -> Result<usize> {
        if buf.len() < TAG_LEN {
            return Err(Error::Crypto);
        }
        let plaintext = self
            .key
            .open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), buf)
            .map_err(|_| Error::Crypto)?;
        Ok(plaintext.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_wrong_key_length() {
        assert!(matches!(Aes256Gcm::new(&[0; 16]), Err(Error::Misuse(_))));
        assert!(matches!(Aes256Gcm::new(&[0; 64]), Err(Error::Misuse(_))));
    }

    #[test]
    fn seal_rejects_wrong_buffer_length() {
        let cipher = Aes256Gcm::new(&[7; 32]).expect("32-byte key");
        let mut buf = [0u8; 20];
        assert!(matches!(cipher.seal_in_place(&[0; NONCE_LEN], b"", &mut buf, 3), Err(Error::Misuse(_))));
    }
}
