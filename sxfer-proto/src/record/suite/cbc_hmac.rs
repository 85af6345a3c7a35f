//! `aes-256-cbc-hmac-sha256` (suite 0x0003): AES-256-CBC with PKCS#7 padding,
//! then HMAC-SHA256 over the ciphertext (encrypt-then-MAC).
//!
//! ```text
//! key        = k_enc (32 bytes) ‖ k_mac (32 bytes)
//! nonce      = 12 bytes (per-direction IV XOR sequence number, §5)
//! IV         = AES-256-ECB(k_enc, nonce ‖ 0x00000000)        (not sent)
//! padded     = P ‖ [p; p]   with p = 16 - len(P) mod 16,  1 <= p <= 16
//! C          = AES-256-CBC(k_enc, IV, padded)                (no further padding)
//! T          = HMAC-SHA256(k_mac, nonce ‖ u64be(len(aad)) ‖ aad ‖ IV ‖ C)
//! sealed     = C ‖ T
//! len(sealed) = (len(P) / 16 + 1) * 16 + 32
//! ```
//!
//! The IV is the forward cipher applied to a unique nonce, the first method
//! of NIST SP 800-38A Appendix C: unique per record, and unpredictable to
//! anyone without `k_enc`. The MAC covers the nonce, so it covers the
//! sequence number.
//!
//! Opening: `len(sealed)` must be at least 48 and `len(sealed) - 32` a
//! multiple of 16. `T` is recomputed and compared in constant time *before*
//! anything is decrypted or any padding is looked at; only then is `C`
//! decrypted and the padding checked and removed. Every failure is
//! `Error::Crypto`.

use aws_lc_rs::cipher::{
    DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey, AES_256,
};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;

use super::{RecordCipher, SuiteId, NONCE_LEN};
use crate::error::{Error, Result};

/// AES block length, also the IV length.
const BLOCK_LEN: usize = 16;

/// Length of the (untruncated) HMAC-SHA256 tag.
const TAG_LEN: usize = 32;

/// Length of each half of the suite key.
const HALF_KEY_LEN: usize = 32;

/// One direction's AES-256-CBC + HMAC-SHA256 keys. aws-lc-rs zeroizes them on
/// drop; no raw copy of the key bytes is kept.
pub struct Aes256CbcHmacSha256 {
    /// `k_enc` as a raw block cipher, to derive each record's IV.
    iv_key: EncryptingKey,
    encrypt_key: EncryptingKey,
    decrypt_key: DecryptingKey,
    mac_key: hmac::Key,
}

impl Aes256CbcHmacSha256 {
    /// Key the suite from exactly 64 bytes: `k_enc ‖ k_mac`.
    pub fn new(key: &[u8]) -> Result<Self> {
        if key.len() != SuiteId::Aes256CbcHmacSha256.key_len() {
            return Err(Error::Misuse("aes-256-cbc-hmac-sha256 key must be 64 bytes"));
        }
        let (enc, mac) = key.split_at(HALF_KEY_LEN);
        let aes = || UnboundCipherKey::new(&AES_256, enc).map_err(|_| Error::Crypto);
        Ok(Aes256CbcHmacSha256 {
            iv_key: EncryptingKey::ecb(aes()?).map_err(|_| Error::Crypto)?,
            encrypt_key: EncryptingKey::cbc(aes()?).map_err(|_| Error::Crypto)?,
            decrypt_key: DecryptingKey::cbc(aes()?).map_err(|_| Error::Crypto)?,
            mac_key: hmac::Key::new(hmac::HMAC_SHA256, mac),
        })
    }

    /// `IV = AES-256-ECB(k_enc, nonce ‖ 0x00000000)`.
    fn iv(&self, nonce: &[u8; NONCE_LEN]) -> Result<[u8; BLOCK_LEN]> {
        let mut block = [0u8; BLOCK_LEN];
        block[..NONCE_LEN].copy_from_slice(nonce);
        self.iv_key.less_safe_encrypt(&mut block, EncryptionContext::None).map_err(|_| Error::Crypto)?;
        Ok(block)
    }

    /// `HMAC-SHA256(k_mac, nonce ‖ u64be(len(aad)) ‖ aad ‖ IV ‖ C)`.
    fn tag(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], iv: &[u8; BLOCK_LEN], ciphertext: &[u8]) -> hmac::Tag {
        let mut mac = hmac::Context::with_key(&self.mac_key);
        mac.update(nonce);
        mac.update(&(aad.len() as u64).to_be_bytes());
        mac.update(aad);
        mac.update(iv);
        mac.update(ciphertext);
        mac.sign()
    }
}

impl RecordCipher for Aes256CbcHmacSha256 {
    fn id(&self) -> SuiteId {
        SuiteId::Aes256CbcHmacSha256
    }

    fn sealed_len(&self, plaintext_len: usize) -> usize {
        (plaintext_len / BLOCK_LEN + 1).saturating_mul(BLOCK_LEN).saturating_add(TAG_LEN)
    }

    fn seal_in_place(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8], plaintext_len: usize) -> Result<()> {
        if buf.len() != self.sealed_len(plaintext_len) {
            return Err(Error::Misuse("seal buffer is not sealed_len(plaintext_len)"));
        }
        let (body, tag_out) = buf.split_at_mut(buf.len() - TAG_LEN);
        // `body` is the plaintext rounded up to the next whole block, always
        // leaving 1..=16 bytes of padding.
        let padding = u8::try_from(body.len() - plaintext_len).map_err(|_| Error::Crypto)?;
        body[plaintext_len..].fill(padding);

        let iv = self.iv(nonce)?;
        self.encrypt_key
            .less_safe_encrypt(body, EncryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| Error::Crypto)?;
        tag_out.copy_from_slice(self.tag(nonce, aad, &iv, body).as_ref());
        Ok(())
    }

    fn open_in_place(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8]) -> Result<usize> {
        if buf.len() < BLOCK_LEN + TAG_LEN || (buf.len() - TAG_LEN) % BLOCK_LEN != 0 {
            return Err(Error::Crypto);
        }
        let (body, tag) = buf.split_at_mut(buf.len() - TAG_LEN);

        // Integrity first: nothing is decrypted unless the MAC is right.
        let iv = self.iv(nonce)?;
        verify_slices_are_equal(self.tag(nonce, aad, &iv, body).as_ref(), tag).map_err(|_| Error::Crypto)?;

        let padded_len = self
            .decrypt_key
            .decrypt(body, DecryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| Error::Crypto)?
            .len();
        match unpadded_len(&body[..padded_len]) {
            Some(len) => Ok(len),
            None => {
                // Only a sender holding k_mac can get here. Release nothing.
                body.fill(0);
                Err(Error::Crypto)
            }
        }
    }
}

/// Length of `padded` without its PKCS#7 padding, or `None` if the padding
/// is malformed. Runs after the MAC check, so timing reveals nothing an
/// attacker without `k_mac` could use.
fn unpadded_len(padded: &[u8]) -> Option<usize> {
    let padding = usize::from(*padded.last()?);
    if padding == 0 || padding > BLOCK_LEN || padding > padded.len() {
        return None;
    }
    let (data, pad) = padded.split_at(padded.len() - padding);
    pad.iter().all(|&byte| usize::from(byte) == padding).then_some(data.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_checked() {
        assert_eq!(unpadded_len(&[1; 16]), Some(15));
        assert_eq!(unpadded_len(&[16; 16]), Some(0));
        let mut block = [0xaa; 16];
        block[12..].copy_from_slice(&[4, 4, 4, 4]);
        assert_eq!(unpadded_len(&block), Some(12));
        block[12] = 3;
        assert_eq!(unpadded_len(&block), None);
        assert_eq!(unpadded_len(&[0; 16]), None);
        assert_eq!(unpadded_len(&[17; 16]), None);
        assert_eq!(unpadded_len(&[]), None);
    }

    #[test]
    fn sealed_len_always_pads() {
        let cipher = Aes256CbcHmacSha256::new(&[1; 64]).expect("64-byte key");
        assert_eq!(cipher.sealed_len(0), 16 + 32);
        assert_eq!(cipher.sealed_len(15), 16 + 32);
        assert_eq!(cipher.sealed_len(16), 32 + 32);
        assert_eq!(cipher.sealed_len(17), 32 + 32);
    }

    #[test]
    fn rejects_wrong_key_length() {
        assert!(matches!(Aes256CbcHmacSha256::new(&[0; 32]), Err(Error::Misuse(_))));
    }
}
