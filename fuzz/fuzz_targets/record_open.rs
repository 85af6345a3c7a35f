//! Records into an established (server-side) `Connection::read`.
//!
//! Byte 0 picks the suite (`% 5`) and the mode (`/ 5 % 2`):
//! * raw: the rest is the wire as is (random bytes never pass the AEAD,
//!   but exercise framing and the length checks);
//! * sealed: the rest is a list of `type:u8 ‖ len:u8 ‖ payload[len]`
//!   records, sealed by the peer with the real keys, so the content types,
//!   message decoding, close and key-update handling all get fuzzed. Byte 1
//!   sets the peer's key-update threshold (0 = the default).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sxfer_proto_fuzz::{content_from, read_all, server_connection, suite_from};

fuzz_target!(|data: &[u8]| {
    let [mode, threshold, rest @ ..] = data else {
        return;
    };
    let (mut server, mut peer) = server_connection(suite_from(*mode));
    if *mode / 5 % 2 == 0 {
        let mut wire = data[1..].to_vec();
        read_all(&mut server, &mut wire);
        return;
    }
    if *threshold != 0 {
        peer.set_key_update_after_for_testing(u64::from(*threshold));
    }
    let mut wire = Vec::new();
    let mut rest = rest;
    while let [content, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        if peer.seal(content_from(*content), payload, &mut wire).is_err() {
            return;
        }
        rest = tail;
    }
    read_all(&mut server, &mut wire);
});
