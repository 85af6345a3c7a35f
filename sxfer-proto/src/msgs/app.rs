//! The application message envelope (PROTOCOL.md §7): everything sent in
//! `Message` records after authentication. `kind: u16 ‖ body`; unknown kinds
//! are errors. File requests are added here by the file-transfer layer; file
//! bytes themselves travel in `Data` records, not in messages.

use crate::codec::{Codec, Reader, Writer};
use crate::error::{Error, Result};

pub const MAX_ERROR_MESSAGE: usize = 1024;

const KIND_ERROR: u16 = 0x0100;
const KIND_ACK: u16 = 0x0101;
const KIND_COMMIT: u16 = 0x0102;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A refusal or failure the peer should show its user.
    Error { code: u16, message: String },
    /// The receiver has durably stored `offset` bytes of `transfer`: the
    /// resume point.
    Ack { transfer: u32, offset: u64 },
    /// The sender has sent all `length` bytes; `digest` is the whole-file
    /// digest the receiver must check before committing.
    Commit {
        transfer: u32,
        length: u64,
        digest: [u8; 32],
    },
}

impl Codec for Message {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Message::Error { code, message } => {
                out.put_u16(KIND_ERROR);
                out.put_u16(*code);
                out.put_bytes_u16(message.as_bytes());
            }
            Message::Ack { transfer, offset } => {
                out.put_u16(KIND_ACK);
                out.put_u32(*transfer);
                out.put_u64(*offset);
            }
            Message::Commit {
                transfer,
                length,
                digest,
            } => {
                out.put_u16(KIND_COMMIT);
                out.put_u32(*transfer);
                out.put_u64(*length);
                out.extend_from_slice(digest);
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        match r.u16()? {
            KIND_ERROR => {
                let code = r.u16()?;
                let message = r.str_u16(MAX_ERROR_MESSAGE)?.to_owned();
                Ok(Message::Error { code, message })
            }
            KIND_ACK => Ok(Message::Ack {
                transfer: r.u32()?,
                offset: r.u64()?,
            }),
            KIND_COMMIT => Ok(Message::Commit {
                transfer: r.u32()?,
                length: r.u64()?,
                digest: r.array()?,
            }),
            _ => Err(Error::Malformed("unknown message kind")),
        }
    }
}
