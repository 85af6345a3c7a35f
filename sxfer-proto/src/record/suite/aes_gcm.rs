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
//! Implemented by [`AwsLcAead`](super::aws_lc::AwsLcAead).

use aws_lc_rs::aead::AES_256_GCM;

use super::aws_lc::AwsLcAead;
use super::SuiteId;
use crate::error::Result;

/// One direction's aes-256-gcm cipher from a 32-byte key.
pub fn new(key: &[u8]) -> Result<AwsLcAead> {
    AwsLcAead::new(&AES_256_GCM, SuiteId::Aes256Gcm, key)
}
