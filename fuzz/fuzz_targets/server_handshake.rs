//! The input as the ClientHello frame into a fresh server (all key
//! exchanges and suites enabled). Never panics; a ServerHello it sends is
//! one well-formed frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sxfer_proto::handshake::next_hello_frame;
use sxfer_proto::handshake::server::ExpectClientHello;
use sxfer_proto_fuzz::{server_config, DangerFuzzRng};

fuzz_target!(|data: &[u8]| {
    let server = ExpectClientHello::new(server_config());
    let mut rng = DangerFuzzRng::for_testing_only(2);
    if let Ok((_, server_hello)) = server.read_client_hello(data, &mut rng) {
        assert_eq!(next_hello_frame(&server_hello), Ok(Some(server_hello.len())));
    }
});
