//! SSH wire public keys: `from_wire` never panics, accepts only canonical
//! blobs, and a key it accepts never verifies a signature of zeros.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sxfer_proto::identity::{PublicIdentity, Signature};

fuzz_target!(|data: &[u8]| {
    let Ok(key) = PublicIdentity::from_wire(data) else {
        return;
    };
    assert_eq!(key.to_wire(), data, "accepted a non-canonical key blob");
    let _ = key.fingerprint();
    let _ = key.to_openssh();
    let signature = Signature { scheme: key.key_type().signature_scheme(), bytes: vec![0; key.bits().div_ceil(8)] };
    assert!(key.verify(b"fuzz", &signature).is_err(), "a zero signature verified");
});
