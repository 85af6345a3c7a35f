//! The input as the ServerHello into a started client (both key exchanges,
//! all suites offered). First byte even: the rest is the frame as is. Odd:
//! the rest, if it decodes as a ServerHello body, is re-signed by the
//! identity it then carries, so the choices and key share get past the
//! signature and into the key exchange. Never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sxfer_proto::codec::Codec;
use sxfer_proto::handshake::ClientConfig;
use sxfer_proto::kx::KexId;
use sxfer_proto::msgs::ServerHello;
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::record::FRAME_HEADER_LEN;
use sxfer_proto_fuzz::{sign_server_hello, start_client};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let config = ClientConfig { kex: KexId::ALL.to_vec(), suites: SuiteId::ALL.to_vec() };
    let (client, client_frame) = start_client(config);
    if mode % 2 == 0 {
        let _ = client.read_server_hello(rest);
    } else if let Ok(hello) = ServerHello::decode(rest) {
        let frame = sign_server_hello(hello, &client_frame[FRAME_HEADER_LEN..]);
        let _ = client.read_server_hello(&frame);
    }
});
