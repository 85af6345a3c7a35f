//! The input as the plaintext of a correctly sealed credential record into
//! the server (`ExpectClientAuth::read_client_auth`): reaches ClientAuth
//! decoding and key-proof verification behind the AEAD. Byte 0 picks the
//! suite and (`/ 5 % 4`) the record type. Never panics, and a key proof
//! made by nobody never verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sxfer_proto::handshake::AuthRequest;
use sxfer_proto_fuzz::{content_from, server_awaiting_auth, suite_from};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, plaintext)) = data.split_first() else {
        return;
    };
    let (server, mut client) = server_awaiting_auth(suite_from(selector));
    let mut record = Vec::new();
    client.seal(content_from(selector / 5), plaintext, &mut record).expect("seal");
    if let Ok(pending) = server.read_client_auth(&mut record) {
        let proven = match pending.request() {
            AuthRequest::PublicKey { .. } => true,
            AuthRequest::Register { key, .. } => key.is_some(),
            AuthRequest::Password { .. } | AuthRequest::Anonymous | AuthRequest::Pake => false,
        };
        assert!(!proven, "a forged key proof verified");
    }
});
