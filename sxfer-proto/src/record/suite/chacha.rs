//! `chacha20-poly1305` (suite 0x0002): ChaCha20-Poly1305 as specified in RFC 8439.
//!
//! ```text
//! key        = 32 bytes
//! nonce      = 12 bytes (per-direction IV XOR sequence number, §5)
//! sealed     = C ‖ T        where (C, T) = ChaCha20-Poly1305(key, nonce, aad, P)
//! len(C)     = len(P)
//! len(T)     = 16
//! ```
//!
//! Implemented by [`AwsLcAead`](super::aws_lc::AwsLcAead).

use aws_lc_rs::aead::CHACHA20_POLY1305;

use super::aws_lc::AwsLcAead;
use super::SuiteId;
use crate::error::Result;

/// One direction's chacha20-poly1305 cipher from a 32-byte key.
pub fn new(key: &[u8]) -> Result<AwsLcAead> {
    AwsLcAead::new(&CHACHA20_POLY1305, SuiteId::ChaCha20Poly1305, key)
}
