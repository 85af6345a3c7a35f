//! The five record suites behind one AEAD trait (PROTOCOL.md §6).
//!
//! Every suite seals and opens *in place* in the caller's buffer: the record
//! layer reads file bytes straight into the buffer that goes on the wire.

mod aes_gcm;
mod aws_lc;
mod cbc_hmac;
mod chacha;
mod eax;
mod hmac_ctr;

use crate::error::{Error, Result};

pub use cbc_hmac::Aes256CbcHmacSha256;
pub use eax::Aes256Eax;
pub use hmac_ctr::HmacSha256Ctr;

/// Nonce length of every suite: the per-direction IV XOR the sequence number.
pub const NONCE_LEN: usize = 12;

/// Largest expansion any suite adds to a plaintext (CBC: 16 padding + 32 tag).
pub const MAX_OVERHEAD: usize = 48;

/// A record suite, as negotiated on the wire (u16 code points, PROTOCOL.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SuiteId {
    Aes256Gcm,
    ChaCha20Poly1305,
    Aes256CbcHmacSha256,
    Aes256Eax,
    HmacSha256Ctr,
}

impl SuiteId {
    /// All suites, in the default preference order.
    pub const ALL: [SuiteId; 5] = [
        SuiteId::Aes256Gcm,
        SuiteId::ChaCha20Poly1305,
        SuiteId::Aes256CbcHmacSha256,
        SuiteId::Aes256Eax,
        SuiteId::HmacSha256Ctr,
    ];

    /// What a client offers and a server accepts unless configured otherwise:
    /// only the two modern AEADs. The compatibility suites are opt-in.
    pub const DEFAULT: [SuiteId; 2] = [SuiteId::Aes256Gcm, SuiteId::ChaCha20Poly1305];

    pub fn code(self) -> u16 {
        match self {
            SuiteId::Aes256Gcm => 0x0001,
            SuiteId::ChaCha20Poly1305 => 0x0002,
            SuiteId::Aes256CbcHmacSha256 => 0x0003,
            SuiteId::Aes256Eax => 0x0004,
            SuiteId::HmacSha256Ctr => 0x0005,
        }
    }

    pub fn from_code(code: u16) -> Option<Self> {
        SuiteId::ALL.into_iter().find(|suite| suite.code() == code)
    }

    /// The name used in configuration and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SuiteId::Aes256Gcm => "aes-256-gcm",
            SuiteId::ChaCha20Poly1305 => "chacha20-poly1305",
            SuiteId::Aes256CbcHmacSha256 => "aes-256-cbc-hmac-sha256",
            SuiteId::Aes256Eax => "aes-256-eax",
            SuiteId::HmacSha256Ctr => "hmac-sha256-ctr",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        SuiteId::ALL.into_iter().find(|suite| suite.name() == name)
    }

    /// Bytes of key material the suite takes from the key schedule.
    pub fn key_len(self) -> usize {
        match self {
            SuiteId::Aes256Gcm | SuiteId::ChaCha20Poly1305 | SuiteId::Aes256Eax => 32,
            // 32 bytes encryption key ‖ 32 bytes MAC key.
            SuiteId::Aes256CbcHmacSha256 | SuiteId::HmacSha256Ctr => 64,
        }
    }

    /// Plaintext bytes after which the sender must update its key
    /// (PROTOCOL.md §5.4), far below each construction's safe limit.
    pub fn key_update_after_bytes(self) -> u64 {
        match self {
            // 2^34 bytes = 2^30 AES blocks per key: advantage far below 2^-57.
            SuiteId::Aes256Gcm | SuiteId::Aes256Eax | SuiteId::Aes256CbcHmacSha256 => 1 << 34,
            SuiteId::ChaCha20Poly1305 | SuiteId::HmacSha256Ctr => 1 << 38,
        }
    }

    /// Build the cipher for one direction from `key_len()` bytes.
    pub fn cipher(self, key: &[u8]) -> Result<Box<dyn RecordCipher>> {
        if key.len() != self.key_len() {
            return Err(Error::Misuse("suite key has the wrong length"));
        }
        Ok(match self {
            SuiteId::Aes256Gcm => Box::new(aes_gcm::new(key)?),
            SuiteId::ChaCha20Poly1305 => Box::new(chacha::new(key)?),
            SuiteId::Aes256CbcHmacSha256 => Box::new(Aes256CbcHmacSha256::new(key)?),
            SuiteId::Aes256Eax => Box::new(Aes256Eax::new(key)?),
            SuiteId::HmacSha256Ctr => Box::new(HmacSha256Ctr::new(key)?),
        })
    }
}

/// One direction's keyed suite. Implementations are one file each.
pub trait RecordCipher: Send + Sync {
    fn id(&self) -> SuiteId;

    /// Ciphertext length for a plaintext of `plaintext_len` bytes.
    fn sealed_len(&self, plaintext_len: usize) -> usize;

    /// Encrypt in place. `buf.len() == self.sealed_len(plaintext_len)`; the
    /// plaintext is `buf[..plaintext_len]`, the rest is scratch for padding
    /// and tag. On return `buf` holds the ciphertext.
    fn seal_in_place(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8], plaintext_len: usize) -> Result<()>;

    /// Verify and decrypt in place; returns the plaintext length (the
    /// plaintext is `buf[..len]`). Any failure is `Error::Crypto`, and no
    /// plaintext is released: integrity is checked before anything else.
    fn open_in_place(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8]) -> Result<usize>;
}
