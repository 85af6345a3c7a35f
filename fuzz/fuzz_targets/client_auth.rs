//! ClientAuth decoding: never panics, and accepts only canonical encodings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sxfer_proto::msgs::ClientAuth;
use sxfer_proto_fuzz::check_canonical;

fuzz_target!(|data: &[u8]| check_canonical::<ClientAuth>(data));
