//! Record layer (PROTOCOL.md §5).
//!
//! ```text
//! frame   = length:u32 ‖ body[length]
//! body    = Seal(key, nonce = IV ⊕ seq, aad = length bytes, type:u8 ‖ payload)
//! ```
//! Handshake frames (the two hellos) have the same `length` prefix with a
//! plaintext body. The length is checked against the maximum before any
//! buffer is grown, and it is authenticated as the AEAD's associated data.

mod deframer;
mod layer;
pub mod suite;

pub use deframer::{frame_len, FRAME_HEADER_LEN};
pub use layer::{Opened, Opener, Sealer, PAYLOAD_OFFSET};

use crate::error::{Error, Result};

/// Largest payload of one record: 1 MiB.
pub const MAX_PAYLOAD: usize = 1 << 20;
/// Largest encrypted body: type byte + payload + the largest suite overhead.
pub const MAX_RECORD_BODY: usize = 1 + MAX_PAYLOAD + suite::MAX_OVERHEAD;
/// Largest plaintext handshake frame body.
pub const MAX_HANDSHAKE_BODY: usize = 16 * 1024;

/// The first plaintext byte of every encrypted record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// A codec-encoded message (authentication or application).
    Message,
    /// Raw file bytes of the transfer in progress.
    Data,
    /// The sender switches to its next traffic secret after this record.
    KeyUpdate,
    /// Authenticated end of stream: `code:u16`. Nothing may follow.
    Close,
}

impl ContentType {
    pub fn code(self) -> u8 {
        match self {
            ContentType::Message => 0x01,
            ContentType::Data => 0x02,
            ContentType::KeyUpdate => 0x03,
            ContentType::Close => 0x04,
        }
    }

    pub fn from_code(code: u8) -> Result<Self> {
        match code {
            0x01 => Ok(ContentType::Message),
            0x02 => Ok(ContentType::Data),
            0x03 => Ok(ContentType::KeyUpdate),
            0x04 => Ok(ContentType::Close),
            _ => Err(Error::Malformed("unknown record type")),
        }
    }
}
