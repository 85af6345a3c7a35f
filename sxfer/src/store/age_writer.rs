//! Writing age v1 files with aws-lc-rs. Reading stays with the `age` crate,
//! so every blob written here is also checked by an independent
//! implementation (and the tests decrypt it with the stock `age` CLI).
//!
//! Why not `age::Encryptor`: on a 1 GiB upload its StreamWriter (a fresh
//! `Vec` and a copy per 64 KiB chunk, RustCrypto ChaCha20-Poly1305) took
//! about 40% of the server's CPU, and its X25519 (curve25519-dalek, serial
//! backend) was the largest single cost of storing a small file
//! (PERFORMANCE.md). Here each chunk is sealed in place by aws-lc-rs, the
//! provider the rest of sxfer uses, and the file key is wrapped with
//! aws-lc's X25519.
//!
//! The format, from the age v1 specification (age-encryption.org/v1):
//!
//! ```text
//! header   "age-encryption.org/v1\n"
//!          "-> X25519 " b64(E) "\n" b64(ChaCha20-Poly1305(wrap key, 0, file key)) "\n"
//!          "--- " b64(HMAC-SHA256(HKDF(file key, "", "header"), header up to "---")) "\n"
//!          (E = e·G for a fresh e; wrap key = HKDF(e·R, E ‖ R, "age-encryption.org/v1/X25519"))
//! payload  nonce (16 random bytes), then 64 KiB chunks, each
//!          ChaCha20-Poly1305(HKDF(file key, nonce, "payload"), counter₈₈ ‖ last₈, chunk)
//! ```
//!
//! b64 is standard base64 without padding. Chunk `i` is sealed and written
//! only when the byte after it arrives (or at [`AgeWriter::finish`], with
//! the last flag), exactly as age's own StreamWriter does: the durable-
//! offset rule of `upload.rs` depends on it.

use std::io::{self, Write};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use aws_lc_rs::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::{hkdf, hmac};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use zeroize::Zeroizing;

/// Plaintext bytes per payload chunk (the last may be shorter).
pub const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const VERSION_LINE: &str = "age-encryption.org/v1";
pub(super) const X25519_LABEL: &[u8] = b"age-encryption.org/v1/X25519";

/// An age v1 stream to one X25519 recipient being written to `out`.
pub struct AgeWriter<W: Write> {
    out: W,
    key: LessSafeKey,
    /// The current chunk's plaintext, with room for its tag.
    chunk: Vec<u8>,
    counter: u64,
}

impl<W: Write> AgeWriter<W> {
    /// Writes the header and payload nonce for a new file key wrapped to
    /// `recipient` (a raw X25519 public key).
    pub fn new(mut out: W, recipient: &[u8; 32]) -> io::Result<Self> {
        let rng = SystemRandom::new();
        let mut file_key = Zeroizing::new([0u8; 16]);
        rng.fill(file_key.as_mut()).map_err(|_| failure("no randomness"))?;
        let header = header(&rng, &file_key, recipient)?;
        let mut nonce = [0u8; 16];
        rng.fill(&mut nonce).map_err(|_| failure("no randomness"))?;
        let mut payload_key = Zeroizing::new([0u8; 32]);
        hkdf_sha256(&file_key[..], &nonce, b"payload", &mut payload_key)?;
        let key = chacha_key(&payload_key)?;
        out.write_all(header.as_bytes())?;
        out.write_all(&nonce)?;
        Ok(AgeWriter { out, key, chunk: Vec::with_capacity(CHUNK + TAG), counter: 0 })
    }

    /// The output, e.g. to sync what has been written so far (the chunk
    /// being filled is not in it yet).
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Seals the last chunk (possibly empty, for an empty file) and returns
    /// the output, not flushed or synced.
    pub fn finish(mut self) -> io::Result<W> {
        self.seal_chunk(true)?;
        Ok(self.out)
    }

    fn seal_chunk(&mut self, last: bool) -> io::Result<()> {
        let mut nonce = [0u8; 12];
        nonce[3..11].copy_from_slice(&self.counter.to_be_bytes());
        nonce[11] = u8::from(last);
        let tag = self
            .key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut self.chunk)
            .map_err(|_| failure("chunk encryption failed"))?;
        self.chunk.extend_from_slice(tag.as_ref());
        self.out.write_all(&self.chunk)?;
        self.chunk.clear();
        self.counter = self.counter.checked_add(1).ok_or_else(|| failure("too many chunks"))?;
        Ok(())
    }
}

impl<W: Write> Write for AgeWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            // A full chunk is sealed only now that a byte after it exists.
            if self.chunk.len() == CHUNK {
                self.seal_chunk(false)?;
            }
            let take = (CHUNK - self.chunk.len()).min(rest.len());
            self.chunk.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        Ok(data.len())
    }

    /// Flushes the output; the buffered chunk stays buffered (as in age).
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The header for `file_key` wrapped to `recipient`, MAC included.
fn header(rng: &SystemRandom, file_key: &[u8; 16], recipient: &[u8; 32]) -> io::Result<String> {
    let ephemeral = EphemeralPrivateKey::generate(&X25519, rng).map_err(|_| failure("X25519 key generation failed"))?;
    let share = ephemeral.compute_public_key().map_err(|_| failure("X25519 key generation failed"))?;
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(share.as_ref());
    salt[32..].copy_from_slice(recipient);
    let mut wrap_key = Zeroizing::new([0u8; 32]);
    // aws-lc refuses an all-zero shared secret (a low-order recipient key).
    agreement::agree_ephemeral(ephemeral, UnparsedPublicKey::new(&X25519, recipient), (), |shared| {
        hkdf_sha256(shared, &salt, X25519_LABEL, &mut wrap_key).map_err(|_| ())
    })
    .map_err(|()| failure("X25519 agreement with the storage key failed"))?;
    let mut body = file_key.to_vec();
    let tag = chacha_key(&wrap_key)?
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key([0u8; 12]), Aad::empty(), &mut body)
        .map_err(|_| failure("file key wrapping failed"))?;
    body.extend_from_slice(tag.as_ref());
    let mut header = format!(
        "{VERSION_LINE}\n-> X25519 {}\n{}\n---",
        STANDARD_NO_PAD.encode(share.as_ref()),
        STANDARD_NO_PAD.encode(&body)
    );
    let mut mac_key = Zeroizing::new([0u8; 32]);
    hkdf_sha256(file_key, &[], b"header", &mut mac_key)?;
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &mac_key[..]), header.as_bytes());
    header.push(' ');
    header.push_str(&STANDARD_NO_PAD.encode(mac.as_ref()));
    header.push('\n');
    Ok(header)
}

pub(super) fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8], out: &mut [u8; 32]) -> io::Result<()> {
    let info = [info];
    hkdf::Salt::new(hkdf::HKDF_SHA256, salt)
        .extract(ikm)
        .expand(&info, hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(out))
        .map_err(|_| failure("HKDF failed"))
}

fn chacha_key(key: &[u8; 32]) -> io::Result<LessSafeKey> {
    UnboundKey::new(&CHACHA20_POLY1305, key).map(LessSafeKey::new).map_err(|_| failure("bad ChaCha20-Poly1305 key"))
}

fn failure(what: &str) -> io::Error {
    io::Error::other(what.to_owned())
}

/// The raw X25519 public key of an age recipient (`age1…`, bech32).
pub fn recipient_bytes(recipient: &age::x25519::Recipient) -> Option<[u8; 32]> {
    use bech32::FromBase32;
    let (hrp, data, variant) = bech32::decode(&recipient.to_string()).ok()?;
    if hrp != "age" || variant != bech32::Variant::Bech32 {
        return None;
    }
    Vec::<u8>::from_base32(&data).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn decrypt(identity: &age::x25519::Identity, file: &[u8]) -> io::Result<Vec<u8>> {
        let decryptor = age::Decryptor::new(file).map_err(io::Error::other)?;
        let identity: &dyn age::Identity = identity;
        let mut reader = decryptor.decrypt(std::iter::once(identity)).map_err(io::Error::other)?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out)?;
        Ok(out)
    }

    fn encrypt(recipient: &[u8; 32], data: &[u8], pieces: usize) -> Vec<u8> {
        let mut writer = AgeWriter::new(Vec::new(), recipient).unwrap();
        for piece in data.chunks(pieces.max(1)) {
            writer.write_all(piece).unwrap();
        }
        writer.finish().unwrap()
    }

    #[test]
    fn the_age_crate_decrypts_every_length_around_chunk_edges() {
        let identity = age::x25519::Identity::generate();
        let recipient = recipient_bytes(&identity.to_public()).unwrap();
        for len in [0, 1, 100, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            for pieces in [1000, CHUNK, len] {
                let file = encrypt(&recipient, &data, pieces);
                // Header, nonce, then one tag per chunk (at least one chunk).
                assert!(file.len() >= len + 16 + 16 * len.div_ceil(CHUNK).max(1), "{len}");
                assert_eq!(decrypt(&identity, &file).unwrap(), data, "length {len}, pieces of {pieces}");
            }
        }
    }

    #[test]
    fn a_full_chunk_is_written_only_when_the_next_byte_arrives() {
        let identity = age::x25519::Identity::generate();
        let recipient = recipient_bytes(&identity.to_public()).unwrap();
        let mut writer = AgeWriter::new(Vec::new(), &recipient).unwrap();
        let header_len = writer.out.len();
        writer.write_all(&vec![7u8; CHUNK]).unwrap();
        assert_eq!(writer.out.len(), header_len, "the chunk could still be the last");
        writer.write_all(&[7]).unwrap();
        assert_eq!(writer.out.len(), header_len + CHUNK + TAG);
    }

    #[test]
    fn tampering_and_other_keys_fail() {
        let identity = age::x25519::Identity::generate();
        let recipient = recipient_bytes(&identity.to_public()).unwrap();
        let file = encrypt(&recipient, &[5u8; 3000], 3000);
        let mut flipped = file.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(decrypt(&identity, &flipped).is_err());
        assert!(decrypt(&identity, &file[..file.len() - 1]).is_err());
        assert!(decrypt(&age::x25519::Identity::generate(), &file).is_err());
        // Two files never share a file key, a share or a nonce.
        assert_ne!(encrypt(&recipient, &[5u8; 3000], 3000)[..200], file[..200]);
    }

    #[test]
    fn recipient_bytes_match_the_identity() {
        let identity = age::x25519::Identity::generate();
        let bytes = recipient_bytes(&identity.to_public()).unwrap();
        assert_eq!(bytes.len(), 32);
        assert_ne!(bytes, [0u8; 32]);
    }
}
