//! What the server signs and what the key schedule absorbs (PROTOCOL.md §4.4).
//!
//! ```text
//! signed_hash = SHA-256(ClientHello body ‖ ServerHello body without signature)
//! server signs  "SXFR/1 server handshake signature" ‖ 0x00 ‖ signed_hash
//! TH          = SHA-256(ClientHello body ‖ ServerHello body)
//! client key proof signs "SXFR/1 client authentication signature" ‖ 0x00 ‖ TH ‖ len:u8 ‖ username
//! ```
//! After a short-code PAKE (§4.6.3) the key schedule absorbs
//!
//! ```text
//! TH' = SHA-256(TH ‖ len(msgA):u8 ‖ msgA ‖ len(msgB):u8 ‖ msgB)
//! ```
//! Hashes are over the bytes as sent and received, never a re-encoding.

use aws_lc_rs::digest::{Context, SHA256};

use crate::error::{Error, Result};
use crate::labels;
use crate::msgs::Username;
use crate::record::FRAME_HEADER_LEN;

pub fn hash_of(parts: &[&[u8]]) -> [u8; 32] {
    let mut context = Context::new(&SHA256);
    for part in parts {
        context.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

pub fn server_signed_message(signed_hash: &[u8; 32]) -> Vec<u8> {
    [labels::SERVER_SIGNATURE_CONTEXT, &[0x00], signed_hash].concat()
}

pub fn client_signed_message(transcript_hash: &[u8; 32], username: &Username) -> Vec<u8> {
    let name = username.as_str().as_bytes();
    [labels::CLIENT_SIGNATURE_CONTEXT, &[0x00], transcript_hash, &[name.len() as u8], name].concat()
}

/// TH' of a PAKE run: `client_message` and `server_message` are at most
/// `MAX_PAKE_MESSAGE` (64) bytes, checked by their decoders.
pub fn pake_transcript_hash(transcript_hash: &[u8; 32], client_message: &[u8], server_message: &[u8]) -> [u8; 32] {
    hash_of(&[
        transcript_hash,
        &[client_message.len() as u8],
        client_message,
        &[server_message.len() as u8],
        server_message,
    ])
}

/// The body of a complete frame (its 4-byte length checked and stripped).
pub fn frame_body(frame: &[u8]) -> Result<&[u8]> {
    let (header, body) = frame.split_at_checked(FRAME_HEADER_LEN).ok_or(Error::Malformed("frame"))?;
    if u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize != body.len() {
        return Err(Error::Malformed("frame length does not match its body"));
    }
    Ok(body)
}

/// Wrap a body in a frame.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}
