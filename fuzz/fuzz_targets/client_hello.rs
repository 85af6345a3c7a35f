//! ClientHello decoding: never panics, and accepts only canonical encodings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sxfer_proto::msgs::ClientHello;
use sxfer_proto_fuzz::check_canonical;

fuzz_target!(|data: &[u8]| check_canonical::<ClientHello>(data));
