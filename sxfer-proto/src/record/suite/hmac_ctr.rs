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
use sha2::compress256;
use sha2::digest::generic_array::GenericArray;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{RecordCipher, SuiteId, NONCE_LEN};
use crate::error::{Error, Result};

/// Length of the (untruncated) HMAC-SHA256 tag, and of one keystream block.
const TAG_LEN: usize = 32;

/// Length of each half of the suite key.
const HALF_KEY_LEN: usize = 32;

/// Keystream blocks computed together (see `apply_keystream`).
const BATCH: usize = 8;

/// SHA-256's block length.
const BLOCK_LEN: usize = 64;

/// SHA-256's initial hash value (FIPS 180-4 §5.3.3).
const SHA256_IV: [u32; 8] =
    [0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19];

/// One direction's HMAC-SHA256-CTR keys. The MAC key is an aws-lc-rs
/// `hmac::Key` (zeroized by aws-lc on drop); the keystream key is held only
/// as its two HMAC midstates, zeroized on drop. No raw copy of the key bytes
/// is kept.
pub struct HmacSha256Ctr {
    enc: Midstates,
    mac_key: hmac::Key,
}

impl HmacSha256Ctr {
    /// Key the suite from exactly 64 bytes: `k_enc ‖ k_mac`.
    pub fn new(key: &[u8]) -> Result<Self> {
        if key.len() != SuiteId::HmacSha256Ctr.key_len() {
            return Err(Error::Misuse("hmac-sha256-ctr key must be 64 bytes"));
        }
        let (enc, mac) = key.split_at(HALF_KEY_LEN);
        Ok(HmacSha256Ctr { enc: Midstates::new(enc), mac_key: hmac::Key::new(hmac::HMAC_SHA256, mac) })
    }

    /// XOR `data` with the keystream `S_0 ‖ S_1 ‖ …` for `nonce`.
    ///
    /// `S_i = HMAC(k_enc, nonce ‖ u64be(i))` is two SHA-256 compressions
    /// from the precomputed midstates: the inner one over the single padded
    /// block `nonce ‖ u64be(i) ‖ 0x80 ‖ 0… ‖ u64be(8 × (64 + 20))`, the outer
    /// one over `inner digest ‖ 0x80 ‖ 0… ‖ u64be(8 × (64 + 32))`. The same
    /// bytes `hmac::sign` would hash, without its per-call context copies.
    fn apply_keystream(&self, nonce: &[u8; NONCE_LEN], data: &mut [u8]) {
        let mut inner_block = [0u8; BLOCK_LEN];
        inner_block[..NONCE_LEN].copy_from_slice(nonce);
        pad_block(&mut inner_block, NONCE_LEN + 8);
        let mut outer_block = [0u8; BLOCK_LEN];
        pad_block(&mut outer_block, TAG_LEN);
        let mut states = [[0u32; 8]; BATCH];
        let mut keystream = [0u8; BATCH * TAG_LEN];
        for (batch, group) in (0u64..).zip(data.chunks_mut(BATCH * TAG_LEN)) {
            let blocks = &mut states[..group.len().div_ceil(TAG_LEN)];
            // The inner compressions of a batch do not depend on each other,
            // so the CPU overlaps them; then the outer ones likewise.
            for (counter, state) in (batch * BATCH as u64..).zip(blocks.iter_mut()) {
                inner_block[NONCE_LEN..NONCE_LEN + 8].copy_from_slice(&counter.to_be_bytes());
                *state = self.enc.inner;
                compress(state, &inner_block);
            }
            for state in blocks.iter_mut() {
                store_be(state, &mut outer_block[..TAG_LEN]);
                *state = self.enc.outer;
                compress(state, &outer_block);
            }
            for (state, out) in blocks.iter().zip(keystream.chunks_exact_mut(TAG_LEN)) {
                store_be(state, out);
            }
            group.iter_mut().zip(&keystream).for_each(|(byte, key)| *byte ^= key);
        }
        // The inner digests and the keystream are key-derived.
        outer_block.zeroize();
        states.zeroize();
        keystream.zeroize();
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

/// HMAC-SHA256 keyed for single-block messages: SHA-256's chaining value
/// after absorbing `key ⊕ ipad` (inner) and `key ⊕ opad` (outer), RFC 2104.
#[derive(Zeroize, ZeroizeOnDrop)]
struct Midstates {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl Midstates {
    /// `key` is at most one block (the suite's is 32 bytes), so it is used
    /// as is, zero-padded, as RFC 2104 says.
    fn new(key: &[u8]) -> Self {
        let absorb = |pad: u8| {
            let mut block = [pad; BLOCK_LEN];
            for (byte, key) in block.iter_mut().zip(key) {
                *byte ^= key;
            }
            let mut state = SHA256_IV;
            compress(&mut state, &block);
            block.zeroize();
            state
        };
        Midstates { inner: absorb(0x36), outer: absorb(0x5c) }
    }
}

/// SHA-256 padding for a message of `BLOCK_LEN + len` bytes (the keyed pad
/// block, then `len` bytes at the start of `block`): 0x80, zeros, and the
/// bit length in the last 8 bytes.
fn pad_block(block: &mut [u8; BLOCK_LEN], len: usize) {
    block[len] = 0x80;
    block[BLOCK_LEN - 8..].copy_from_slice(&(8 * (BLOCK_LEN + len) as u64).to_be_bytes());
}

/// One SHA-256 compression of `block` into `state` (SHA-NI where the CPU has it).
fn compress(state: &mut [u32; 8], block: &[u8; BLOCK_LEN]) {
    compress256(state, core::slice::from_ref(GenericArray::from_slice(block)));
}

/// `state` as the big-endian digest bytes.
fn store_be(state: &[u32; 8], out: &mut [u8]) {
    for (bytes, word) in out.chunks_exact_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_be_bytes());
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

    /// The construction of §6.6 written out with aws-lc-rs `hmac::sign`, one
    /// call per keystream block: what the fast path must equal byte for byte.
    fn reference_seal(key: &[u8; 64], nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let k_enc = hmac::Key::new(hmac::HMAC_SHA256, &key[..32]);
        let k_mac = hmac::Key::new(hmac::HMAC_SHA256, &key[32..]);
        let mut sealed = plaintext.to_vec();
        for (i, chunk) in (0u64..).zip(sealed.chunks_mut(TAG_LEN)) {
            let block = hmac::sign(&k_enc, &[&nonce[..], &i.to_be_bytes()].concat());
            chunk.iter_mut().zip(block.as_ref()).for_each(|(byte, key)| *byte ^= key);
        }
        let tag = hmac::sign(&k_mac, &[&nonce[..], &(aad.len() as u64).to_be_bytes(), aad, &sealed].concat());
        sealed.extend_from_slice(tag.as_ref());
        sealed
    }

    /// Seal with the suite, compare with the reference, open it back.
    fn assert_matches_reference(key: &[u8; 64], nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) {
        let cipher = HmacSha256Ctr::new(key).expect("64-byte key");
        let mut buf = plaintext.to_vec();
        buf.resize(cipher.sealed_len(plaintext.len()), 0);
        cipher.seal_in_place(nonce, aad, &mut buf, plaintext.len()).expect("seal");
        assert!(buf == reference_seal(key, nonce, aad, plaintext), "sealed {} bytes differ", plaintext.len());
        assert_eq!(cipher.open_in_place(nonce, aad, &mut buf), Ok(plaintext.len()));
        assert!(buf[..plaintext.len()] == *plaintext, "open of {} bytes differs", plaintext.len());
    }

    #[test]
    fn fast_path_equals_hmac_sign_at_block_and_batch_edges() {
        let key: [u8; 64] = core::array::from_fn(|i| (i * 7 + 1) as u8);
        let batch = BATCH * TAG_LEN;
        let lengths = [0, 1, 31, 32, 33, 63, 64, 65, batch - 1, batch, batch + 1, 3 * batch + 17, 1 << 20];
        for nonce in [[0u8; NONCE_LEN], [0xff; NONCE_LEN], core::array::from_fn(|i| i as u8)] {
            for len in lengths {
                let plaintext: Vec<u8> = (0..len).map(|i| (i ^ (i >> 8)) as u8).collect();
                assert_matches_reference(&key, &nonce, b"aad", &plaintext);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_path_equals_hmac_sign(
            key in proptest::collection::vec(proptest::num::u8::ANY, 64),
            nonce: [u8; NONCE_LEN],
            aad in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            plaintext in proptest::collection::vec(proptest::num::u8::ANY, 0..3000),
        ) {
            let key: [u8; 64] = key.try_into().expect("64 bytes");
            assert_matches_reference(&key, &nonce, &aad, &plaintext);
        }
    }

    #[test]
    fn rejects_wrong_key_length() {
        assert!(matches!(HmacSha256Ctr::new(&[0; 32]), Err(Error::Misuse(_))));
    }
}
