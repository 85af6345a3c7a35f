//! Application message decoding (and the signature codec): never panics,
//! and accepts only canonical encodings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sxfer_proto::identity::Signature;
use sxfer_proto::msgs::Message;
use sxfer_proto_fuzz::check_canonical;

fuzz_target!(|data: &[u8]| {
    check_canonical::<Message>(data);
    check_canonical::<Signature>(data);
});
