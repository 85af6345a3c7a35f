//! The input as the plaintext of a correctly sealed AuthResult record into
//! the client (`ExpectAuthResult::read_auth_result`). Byte 0 picks the suite
//! and (`/ 5 % 4`) the record type. Never panics; the client is let in only
//! by an Accepted message carrying exactly that client id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sxfer_proto::codec::Codec;
use sxfer_proto::msgs::AuthResult;
use sxfer_proto::record::ContentType;
use sxfer_proto_fuzz::{client_awaiting_result, content_from, suite_from};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, plaintext)) = data.split_first() else {
        return;
    };
    let (client, mut server) = client_awaiting_result(suite_from(selector));
    let content = content_from(selector / 5);
    let mut record = Vec::new();
    server.seal(content, plaintext, &mut record).expect("seal");
    if let Ok((_, client_id)) = client.read_auth_result(&mut record, &mut Vec::new()) {
        assert_eq!(content, ContentType::Message);
        assert_eq!(AuthResult::decode(plaintext), Ok(AuthResult::Accepted { client_id }));
    }
});
