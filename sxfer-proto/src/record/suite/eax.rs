//! `aes-256-eax` (suite 0x0004): AES-256 in EAX mode (Bellare, Rogaway and
//! Wagner, "The EAX Mode of Operation", FSE 2004) with a 16-byte EAX nonce.
//!
//! ```text
//! key        = 32 bytes
//! nonce      = 12 bytes (per-direction IV XOR sequence number, §5)
//! N          = nonce ‖ 0x00000000                        (16 bytes)
//! sealed     = C ‖ T        where (C, T) = AES-256-EAX(key, N, aad, P)
//! len(C)     = len(P)
//! len(T)     = 16
//! ```
//!
//! EAX accepts nonces of any length, but the result depends on that length:
//! this suite always passes the 16-byte `N` above, never the bare 12-byte
//! nonce. An implementation whose EAX takes arbitrary nonces must append the
//! four zero bytes itself.
//!
//! Opening recomputes and checks the tag (in constant time) before anything
//! is decrypted; every failure is `Error::Crypto`.

use aes::Aes256;
use eax::aead::generic_array::GenericArray;
use eax::aead::{AeadInPlace, KeyInit};
use eax::Eax;
use zeroize::Zeroizing;

use super::{RecordCipher, SuiteId, NONCE_LEN};
use crate::error::{Error, Result};

/// Length of the EAX authentication tag (full OMAC output).
const TAG_LEN: usize = 16;

/// Length of the nonce EAX is given: the record nonce plus four zero bytes.
const EAX_NONCE_LEN: usize = 16;

/// One direction's AES-256-EAX key.
///
/// The `eax` crate keeps its own copy of the key in a type that does not
/// zeroize, so we hold the key here (zeroized on drop) and build the `Eax`
/// value for each record on the stack instead of keeping one for the life of
/// the connection.
pub struct Aes256Eax {
    key: Zeroizing<[u8; 32]>,
}

impl Aes256Eax {
    /// Key the suite from exactly 32 bytes.
    pub fn new(key: &[u8]) -> Result<Self> {
        let key: [u8; 32] = key.try_into().map_err(|_| Error::Misuse("aes-256-eax key must be 32 bytes"))?;
        Ok(Aes256Eax { key: Zeroizing::new(key) })
    }

    fn eax(&self) -> Result<Eax<Aes256>> {
        Eax::<Aes256>::new_from_slice(self.key.as_slice()).map_err(|_| Error::Crypto)
    }
}

/// `nonce ‖ 0x00000000`: the 16-byte nonce the `eax` crate requires.
fn eax_nonce(nonce: &[u8; NONCE_LEN]) -> GenericArray<u8, eax::aead::consts::U16> {
    let mut padded = [0u8; EAX_NONCE_LEN];
    padded[..NONCE_LEN].copy_from_slice(nonce);
    GenericArray::from(padded)
}

impl RecordCipher for Aes256Eax {
    fn id(&self) -> SuiteId {
        SuiteId::Aes256Eax
    }

    fn sealed_len(&self, plaintext_len: usize) -> usize {
        plaintext_len.saturating_add(TAG_LEN)
    }

    fn seal_in_place(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8], plaintext_len: usize) -> Result<()> {
        if buf.len() != self.sealed_len(plaintext_len) {
            return Err(Error::Misuse("seal buffer is not sealed_len(plaintext_len)"));
        }
        let (data, tag_out) = buf.split_at_mut(plaintext_len);
        let tag = self.eax()?.encrypt_in_place_detached(&eax_nonce(nonce), aad, data).map_err(|_| Error::Crypto)?;
        tag_out.copy_from_slice(&tag);
        Ok(())
    }

    fn open_in_place(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8]) -> Result<usize> {
        let Some(plaintext_len) = buf.len().checked_sub(TAG_LEN) else {
            return Err(Error::Crypto);
        };
        let (data, tag) = buf.split_at_mut(plaintext_len);
        let tag: [u8; TAG_LEN] = (&*tag).try_into().map_err(|_| Error::Crypto)?;
        self.eax()?
            .decrypt_in_place_detached(&eax_nonce(nonce), aad, data, &GenericArray::from(tag))
            .map_err(|_| Error::Crypto)?;
        Ok(plaintext_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_wrong_key_length() {
        assert!(matches!(Aes256Eax::new(&[0; 16]), Err(Error::Misuse(_))));
        assert!(matches!(Aes256Eax::new(&[0; 33]), Err(Error::Misuse(_))));
    }

    #[test]
    fn nonce_is_padded_with_four_zero_bytes() {
        let nonce = [0xab; NONCE_LEN];
        let padded = eax_nonce(&nonce);
        assert_eq!(&padded[..NONCE_LEN], &nonce);
        assert_eq!(&padded[NONCE_LEN..], &[0, 0, 0, 0]);
    }
}
