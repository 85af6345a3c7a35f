//! `hmac-sha256-ctr` (suite 0x0005): confidentiality and integrity from keyed
//! SHA-256 alone. HMAC-SHA256 as a PRF in counter mode gives the keystream,
//! a second HMAC-SHA256 key authenticates the ciphertext (encrypt-then-MAC).
//!
//! ```text
//! key        = k_enc (32 bytes) ‖ k_mac (32 bytes)
//! nonce      = 12 bytes (per-direction IV XOR sequence number, §5)
//! S_i        = HMAC-SHA256(k_enc, nonce ‖ u64be(i))         i = 0, 1, 2, …
//! C          = P XOR (S_0 ‖ S_1 ‖ …)[..len(P)]
//! T          = HMAC-SHA256(k_mac, nonce ‖ u64be(len(aad)) ‖ aad ‖ C)
//! sealed     = C ‖ T
//! len(C)     = len(P)
//! len(T)     = 32
//! ```
//!
//! Opening recomputes `T` and compares it in constant time before anything
//! is decrypted; every failure is `Error::Crypto`.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;

use super::{RecordCipher, SuiteId, NONCE_LEN};
use crate::error::{Error, Result};

/// Length of the (untruncated) HMAC-SHA256 tag, and of one keystream block.
const TAG_LEN: usize = 32;

/// Length of each half of the suite key.
const HALF_KEY_LEN: usize = 32;

/// One direction's HMAC-SHA256-CTR keys. aws-lc-rs keeps each key as a
/// precomputed HMAC state (inner and outer pad already absorbed) and
/// zeroizes it on drop; no raw copy of the key bytes is kept.
pub struct HmacSha256Ctr {
    enc_key: hmac::Key,
    mac_key: hmac::Key,
}

impl HmacSha256Ctr {
    /// Key the suite from exactly 64 bytes: `k_enc ‖ k_mac`.
    pub fn new(key: &[u8]) -> Result<Self> {
        if key.len() != SuiteId::HmacSha256Ctr.key_len() {
            return Err(Error::Misuse("hmac-sha256-ctr key must be 64 bytes"));
        }
        let (enc, mac) = key.split_at(HALF_KEY_LEN);
        Ok(HmacSha256Ctr {
            enc_key: hmac::Key::new(hmac::HMAC_SHA256, enc),
            mac_key: hmac::Key::new(hmac::HMAC_SHA256, mac),
        })
    }

    /// XOR `data` with the keystream `S_0 ‖ S_1 ‖ …` for `nonce`.
    fn apply_keystream(&self, nonce: &[u8; NONCE_LEN], data: &mut [u8]) {
        let mut input = [0u8; NONCE_LEN + 8];
        input[..NONCE_LEN].copy_from_slice(nonce);
        for (counter, chunk) in (0u64..).zip(data.chunks_mut(TAG_LEN)) {
            input[NONCE_LEN..].copy_from_slice(&counter.to_be_bytes());
            // `sign` starts from a copy of the precomputed keyed state, so
            // each block costs two SHA-256 compressions and one state copy.
            let block = hmac::sign(&self.enc_key, &input);
            for (byte, key) in chunk.iter_mut().zip(block.as_ref()) {
                *byte ^= key;
            }
        }
    }

    /// `HMAC-SHA256(k_mac, nonce ‖ u64be(len(aad)) ‖ aad ‖ C)`.
    fn tag(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], ciphertext: &[u8]) -> hmac::Tag {
        let mut mac = hmac::Context::with_key(&self.mac_key);
        mac.update(nonce);
        mac.update(&(aad.len() as u64).to_be_bytes());
        mac.update(aad);
        mac.update(ciphertext);
        mac.sign()
    }
}

impl RecordCipher for HmacSha256Ctr {
    fn id(&self) -> SuiteId {
        SuiteId::HmacSha256Ctr
    }

    fn sealed_len(&self, plaintext_len: usize) -> usize {
        plaintext_len.saturating_add(TAG_LEN)
    }

    fn seal_in_place(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8], plaintext_len: usize) -> Result<()> {
        if buf.len() != self.sealed_len(plaintext_len) {
            return Err(Error::Misuse("seal buffer is not sealed_len(plaintext_len)"));
        }
        let (data, tag_out) = buf.split_at_mut(plaintext_len);
        self.apply_keystream(nonce, data);
        tag_out.copy_from_slice(self.tag(nonce, aad, data).as_ref());
        Ok(())
    }

    fn open_in_place(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8]) -> Result<usize> {
        let Some(plaintext_len) = buf.len().checked_sub(TAG_LEN) else {
            return Err(Error::Crypto);
        };
        let (data, tag) = buf.split_at_mut(plaintext_len);
        verify_slices_are_equal(self.tag(nonce, aad, data).as_ref(), tag).map_err(|_| Error::Crypto)?;
        self.apply_keystream(nonce, data);
        Ok(plaintext_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystream_blocks_are_hmac_of_nonce_and_counter() {
        let cipher = HmacSha256Ctr::new(&[3; 64]).expect("64-byte key");
        let nonce = [9; NONCE_LEN];
        let mut stream = [0u8; 70];
        cipher.apply_keystream(&nonce, &mut stream);

        let k_enc = hmac::Key::new(hmac::HMAC_SHA256, &[3; 32]);
        for (i, chunk) in stream.chunks(TAG_LEN).enumerate() {
            let mut input = nonce.to_vec();
            input.extend_from_slice(&(i as u64).to_be_bytes());
            let block = hmac::sign(&k_enc, &input);
            assert_eq!(chunk, &block.as_ref()[..chunk.len()]);
        }
    }

    #[test]
    fn rejects_wrong_key_length() {
        assert!(matches!(HmacSha256Ctr::new(&[0; 32]), Err(Error::Misuse(_))));
    }
}
