//! Socket ↔ protocol-core drivers: the only place bytes meet the network.

pub mod conn;
pub mod frames;
pub mod raw;

use sxfer_proto::record::{Sealer, PAYLOAD_OFFSET};

/// A buffer for one data record with `payload_len` bytes of payload room
/// after the header, reusing a sealed buffer sent back by the writer when
/// there is one: a reused buffer is only truncated, never zero-filled again.
pub fn record_buffer(spare: &std::sync::mpsc::Receiver<Vec<u8>>, payload_len: usize) -> Vec<u8> {
    let mut buf = spare.try_recv().unwrap_or_else(|_| Vec::with_capacity(Sealer::record_capacity(payload_len)));
    buf.resize(PAYLOAD_OFFSET + payload_len, 0);
    buf
}

pub use conn::{
    client_handshake, server_handshake, AuthDecision, ByteStream, ClientSession, Incoming, ServerSession,
    SessionReader, SessionWriter,
};
