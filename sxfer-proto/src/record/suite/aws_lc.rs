//! The two AEADs aws-lc-rs provides whole (`aes-256-gcm`,
//! `chacha20-poly1305`): one implementation, keyed by algorithm. Each
//! suite's file states its construction and builds one of these.
//!
//! Opening recomputes and checks the tag before any plaintext is returned;
//! every failure is `Error::Crypto`.

use aws_lc_rs::aead::{Aad, Algorithm, LessSafeKey, Nonce, UnboundKey};

use super::{RecordCipher, SuiteId, NONCE_LEN};
use crate::error::{Error, Result};

/// Length of the authentication tag (GCM and Poly1305 alike).
const TAG_LEN: usize = 16;

/// One direction's key for an aws-lc-rs AEAD. aws-lc-rs zeroizes it on drop.
pub struct AwsLcAead {
    key: LessSafeKey,
    id: SuiteId,
}

impl AwsLcAead {
    /// Key `algorithm` from exactly the suite's key length.
    pub fn new(algorithm: &'static Algorithm, id: SuiteId, key: &[u8]) -> Result<Self> {
        if key.len() != id.key_len() || key.len() != algorithm.key_len() {
            return Err(Error::Misuse("suite key has the wrong length"));
        }
        let key = UnboundKey::new(algorithm, key).map_err(|_| Error::Crypto)?;
        Ok(AwsLcAead { key: LessSafeKey::new(key), id })
    }
}

impl RecordCipher for AwsLcAead {
    fn id(&self) -> SuiteId {
        self.id
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
    use aws_lc_rs::aead::{AES_256_GCM, CHACHA20_POLY1305};

    use super::*;

    #[test]
    fn rejects_wrong_key_length() {
        for (algorithm, id) in [(&AES_256_GCM, SuiteId::Aes256Gcm), (&CHACHA20_POLY1305, SuiteId::ChaCha20Poly1305)] {
            assert!(matches!(AwsLcAead::new(algorithm, id, &[0; 16]), Err(Error::Misuse(_))));
            assert!(matches!(AwsLcAead::new(algorithm, id, &[0; 64]), Err(Error::Misuse(_))));
        }
    }

    #[test]
    fn seal_rejects_wrong_buffer_length() {
        let cipher = AwsLcAead::new(&AES_256_GCM, SuiteId::Aes256Gcm, &[7; 32]).expect("32-byte key");
        let mut buf = [0u8; 20];
        assert!(matches!(cipher.seal_in_place(&[0; NONCE_LEN], b"", &mut buf, 3), Err(Error::Misuse(_))));
    }
}
