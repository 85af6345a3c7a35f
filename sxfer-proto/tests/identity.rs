//! Identities: key file round trips, signatures, and interop with keys and
//! fingerprints produced by OpenSSH's `ssh-keygen` (fixtures in `tests/data`).

use sxfer_proto::identity::{Fingerprint, KeyType, PrivateIdentity, PublicIdentity, Signature, SignatureScheme};
use sxfer_proto::Error;

const ED25519: &str = include_str!("data/ed25519");
const ED25519_PUB: &str = include_str!("data/ed25519.pub");
const ED25519_FINGERPRINT: &str = include_str!("data/ed25519.fingerprint");
const RSA3072: &str = include_str!("data/rsa3072");
const RSA3072_PUB: &str = include_str!("data/rsa3072.pub");
const RSA3072_FINGERPRINT: &str = include_str!("data/rsa3072.fingerprint");
const RSA1024: &str = include_str!("data/rsa1024");
const ECDSA_P256: &str = include_str!("data/ecdsa_p256");
const ED25519_ENCRYPTED: &str = include_str!("data/ed25519_encrypted");

/// The line `ssh-keygen -l -E sha256 -f FILE` prints.
fn keygen_line(public: &PublicIdentity) -> String {
    format!("{} {} {} ({})", public.bits(), public.fingerprint(), public.comment(), public.key_type().label())
}

fn key_error(result: Result<PrivateIdentity, Error>) -> String {
    match result {
        Err(Error::Key(message)) => message,
        Err(other) => panic!("expected Error::Key, got {other:?}"),
        Ok(key) => panic!("expected an error, loaded {key:?}"),
    }
}

fn round_trip(key: &PrivateIdentity) {
    let text = key.to_openssh().expect("encode");
    assert!(text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
    let loaded = PrivateIdentity::from_openssh(&text).expect("decode");
    assert_eq!(loaded.public(), key.public());
    assert_eq!(loaded.comment(), key.comment());
    // The reloaded key signs, and the original's public key accepts it.
    let signature = loaded.sign(b"round trip").expect("sign");
    key.public().verify(b"round trip", &signature).expect("verify");
    let public = PublicIdentity::from_openssh(&key.public().to_openssh()).expect("pub line");
    assert_eq!(&public, key.public());
    assert_eq!(public.comment(), key.comment());
}

fn sign_and_tamper(key: &PrivateIdentity, scheme: SignatureScheme) {
    let public = key.public();
    let signature = key.sign(b"message").expect("sign");
    assert_eq!(signature.scheme, scheme);
    public.verify(b"message", &signature).expect("verify");
    assert_eq!(public.verify(b"messagE", &signature), Err(Error::Crypto));
    for index in [0, signature.bytes.len() / 2, signature.bytes.len() - 1] {
        let mut flipped = signature.clone();
        flipped.bytes[index] ^= 0x01;
        assert_eq!(public.verify(b"message", &flipped), Err(Error::Crypto));
    }
    let mut truncated = signature.clone();
    truncated.bytes.pop();
    assert_eq!(public.verify(b"message", &truncated), Err(Error::Crypto));
    let wrong_scheme = Signature {
        scheme: match scheme {
            SignatureScheme::Ed25519 => SignatureScheme::RsaSha256,
            SignatureScheme::RsaSha256 => SignatureScheme::Ed25519,
        },
        bytes: signature.bytes.clone(),
    };
    assert_eq!(public.verify(b"message", &wrong_scheme), Err(Error::Crypto));
}

#[test]
fn generated_ed25519_round_trips_and_signs() {
    let mut key = PrivateIdentity::generate_ed25519(&mut rand_core::OsRng).expect("generate");
    key.set_comment("alice@example");
    assert_eq!(key.key_type(), KeyType::Ed25519);
    assert_eq!(key.public().bits(), 256);
    assert!(key.public().to_openssh().ends_with(" alice@example"));
    round_trip(&key);
    sign_and_tamper(&key, SignatureScheme::Ed25519);
}

#[test]
fn generated_rsa_round_trips_and_signs() {
    let mut key = PrivateIdentity::generate_rsa(2048).expect("generate");
    key.set_comment("server");
    assert_eq!(key.key_type(), KeyType::Rsa);
    assert_eq!(key.public().bits(), 2048);
    round_trip(&key);
    sign_and_tamper(&key, SignatureScheme::RsaSha256);
    assert_eq!(key.sign(b"x").expect("sign").bytes.len(), 256);
}

#[test]
fn rsa_generation_rejects_other_sizes() {
    for bits in [0, 1024, 2047, 3000, 16384] {
        let message = key_error(PrivateIdentity::generate_rsa(bits));
        assert!(message.contains("2048, 3072, 4096 or 8192"), "{message}");
    }
}

#[test]
fn ssh_keygen_ed25519_fixture_matches_its_fingerprint() {
    let key = PrivateIdentity::from_openssh(ED25519).expect("load");
    assert_eq!(keygen_line(key.public()), ED25519_FINGERPRINT.trim_end());
    let public = PublicIdentity::from_openssh(ED25519_PUB).expect("load pub");
    assert_eq!(&public, key.public());
    assert_eq!(keygen_line(&public), ED25519_FINGERPRINT.trim_end());
    assert_eq!(public.to_openssh(), ED25519_PUB.trim_end());
    sign_and_tamper(&key, SignatureScheme::Ed25519);
}

#[test]
fn ssh_keygen_rsa_fixture_matches_its_fingerprint() {
    let key = PrivateIdentity::from_openssh(RSA3072).expect("load");
    assert_eq!(keygen_line(key.public()), RSA3072_FINGERPRINT.trim_end());
    let public = PublicIdentity::from_openssh(RSA3072_PUB).expect("load pub");
    assert_eq!(&public, key.public());
    assert_eq!(public.bits(), 3072);
    assert_eq!(public.to_openssh(), RSA3072_PUB.trim_end());
    sign_and_tamper(&key, SignatureScheme::RsaSha256);
    // Re-encoding an ssh-keygen key and loading it again changes nothing.
    round_trip(&key);
}

#[test]
fn fixture_fingerprints_parse_back() {
    for line in [ED25519_FINGERPRINT, RSA3072_FINGERPRINT] {
        let text = line.split(' ').nth(1).expect("fingerprint field");
        let fingerprint: Fingerprint = text.parse().expect("parse");
        assert_eq!(fingerprint.to_string(), text);
    }
}

#[test]
fn wire_blob_round_trips_and_is_strict() {
    for text in [ED25519_PUB, RSA3072_PUB] {
        let public = PublicIdentity::from_openssh(text).expect("load pub");
        let wire = public.to_wire();
        assert_eq!(PublicIdentity::from_wire(&wire).expect("from_wire"), public);

        let mut trailing = wire.clone();
        trailing.push(0);
        assert!(matches!(PublicIdentity::from_wire(&trailing), Err(Error::Malformed(_))));
        for len in 0..wire.len() {
            assert!(PublicIdentity::from_wire(&wire[..len]).is_err(), "prefix of {len} bytes");
        }
    }
}

#[test]
fn wire_blob_rejects_other_key_types_and_names() {
    let ed25519 = PublicIdentity::from_openssh(ED25519_PUB).expect("load pub");
    let wire = ed25519.to_wire();
    // Same key bytes under the name of a type sxfer does not use.
    let mut renamed = Vec::new();
    renamed.extend_from_slice(&11u32.to_be_bytes());
    renamed.extend_from_slice(b"ssh-ed448xx");
    renamed.extend_from_slice(&wire[4 + 11..]);
    assert!(matches!(PublicIdentity::from_wire(&renamed), Err(Error::Malformed(_))));

    // An RSA key blob under the signature name `rsa-sha2-256` is not canonical.
    let rsa = PublicIdentity::from_openssh(RSA3072_PUB).expect("load pub").to_wire();
    let mut renamed = Vec::new();
    renamed.extend_from_slice(&12u32.to_be_bytes());
    renamed.extend_from_slice(b"rsa-sha2-256");
    renamed.extend_from_slice(&rsa[4 + 7..]);
    assert!(matches!(PublicIdentity::from_wire(&renamed), Err(Error::Malformed(_))));
}

#[test]
fn small_rsa_keys_are_rejected() {
    let message = key_error(PrivateIdentity::from_openssh(RSA1024));
    assert!(message.contains("1024 bits"), "{message}");
}

#[test]
fn other_key_types_are_named() {
    let message = key_error(PrivateIdentity::from_openssh(ECDSA_P256));
    assert!(message.contains("ecdsa-sha2-nistp256"), "{message}");
    assert!(!message.contains('\n'));
}

#[test]
fn encrypted_keys_get_one_clear_line() {
    let message = key_error(PrivateIdentity::from_openssh(ED25519_ENCRYPTED));
    assert!(message.contains("encrypted with a passphrase"), "{message}");
    assert!(message.contains("not supported yet"), "{message}");
    assert!(!message.contains('\n'));
}

#[test]
fn garbage_is_rejected_without_panicking() {
    let public_line = ED25519_PUB.trim_end();
    for text in [
        "",
        "hello",
        "-----BEGIN OPENSSH PRIVATE KEY-----\n-----END OPENSSH PRIVATE KEY-----\n",
        "-----BEGIN OPENSSH PRIVATE KEY-----\n!!!!\n-----END OPENSSH PRIVATE KEY-----\n",
        &ED25519[..ED25519.len() / 2],
        public_line,
    ] {
        let _ = key_error(PrivateIdentity::from_openssh(text));
    }
    for line in ["", "ssh-ed25519", "ssh-ed25519 AAAA", &public_line[..40], ED25519] {
        assert!(matches!(PublicIdentity::from_openssh(line), Err(Error::Key(_))), "{line:?}");
    }
}

#[test]
fn tampered_private_key_is_rejected() {
    // Flip a character inside the private half of the ed25519 fixture: the
    // seed no longer matches the public key.
    let lines: Vec<&str> = ED25519.lines().collect();
    let mut tampered = String::new();
    for (index, line) in lines.iter().enumerate() {
        if index == 4 {
            let mut bytes = line.as_bytes().to_vec();
            bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
            tampered.push_str(std::str::from_utf8(&bytes).expect("ascii"));
        } else {
            tampered.push_str(line);
        }
        tampered.push('\n');
    }
    let _ = key_error(PrivateIdentity::from_openssh(&tampered));
}

#[test]
fn signature_scheme_codes_round_trip() {
    for scheme in [SignatureScheme::Ed25519, SignatureScheme::RsaSha256] {
        assert_eq!(SignatureScheme::from_code(scheme.code()), Some(scheme));
    }
    assert_eq!(SignatureScheme::Ed25519.code(), 0x0807);
    assert_eq!(SignatureScheme::RsaSha256.code(), 0x0401);
    assert_eq!(SignatureScheme::from_code(0x0201), None);
    assert_eq!(SignatureScheme::Ed25519.name(), "ssh-ed25519");
    assert_eq!(SignatureScheme::RsaSha256.name(), "rsa-sha2-256");
}

#[test]
fn key_type_names() {
    assert_eq!("ed25519".parse::<KeyType>(), Ok(KeyType::Ed25519));
    assert_eq!("rsa".parse::<KeyType>(), Ok(KeyType::Rsa));
    assert!("dsa".parse::<KeyType>().is_err());
    assert_eq!(KeyType::Rsa.to_string(), "rsa");
    assert_eq!(KeyType::Ed25519.ssh_name(), "ssh-ed25519");
}

/// A deterministic stand-in for a CSPRNG: counts up from its seed.
struct DangerCountingRngForTestingOnly(u8);

impl rand_core::RngCore for DangerCountingRngForTestingOnly {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            self.0 = self.0.wrapping_add(1);
            *byte = self.0;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for DangerCountingRngForTestingOnly {}

#[test]
fn ed25519_generation_uses_only_the_given_rng() {
    let generate =
        |seed| PrivateIdentity::generate_ed25519(&mut DangerCountingRngForTestingOnly(seed)).expect("generate");
    assert_eq!(generate(0).public(), generate(0).public());
    assert_ne!(generate(0).public(), generate(1).public());
}

#[test]
fn fingerprint_matches_ssh_key_and_parses_back() {
    let key = PrivateIdentity::generate_ed25519(&mut DangerCountingRngForTestingOnly(7)).expect("generate");
    let ours = key.public().fingerprint();
    let theirs = ssh_key::PublicKey::from_openssh(&key.public().to_openssh())
        .expect("ssh-key parses our line")
        .fingerprint(ssh_key::HashAlg::Sha256);
    assert_eq!(ours.to_string(), theirs.to_string());
    assert_eq!(format!("{ours:?}"), ours.to_string());
    assert_eq!(ours.to_string().parse::<Fingerprint>(), Ok(ours));
    assert!(ours.ct_eq(&ours));
    assert!(!ours.ct_eq(&Fingerprint::from_bytes([0; 32])));
    for bad in [
        "",
        "SHA256:",
        "SHA256:abc",
        "sha256:AAAA",
        "MD5:aa:bb",
        "SHA512:AAAA",
        "wZD659BXzJZTlceezj6tr+i7LVIYEsgrP8r3ygmNUYM",
        "SHA256:wZD659BXzJZTlceezj6tr+i7LVIYEsgrP8r3ygmNUYM=",
        "SHA256:wZD659BXzJZTlceezj6tr+i7LVIYEsgrP8r3ygmNUY",
    ] {
        assert!(matches!(bad.parse::<Fingerprint>(), Err(Error::Key(_))), "{bad:?}");
    }
}

#[test]
fn debug_does_not_print_secrets() {
    let key = PrivateIdentity::generate_ed25519(&mut DangerCountingRngForTestingOnly(0)).expect("generate");
    let debug = format!("{key:?}");
    assert!(debug.starts_with("PrivateIdentity { public: PublicIdentity(ssh-ed25519 256 SHA256:"), "{debug}");
    // The seed is 01 02 03 …: neither its hex nor its decimal form appears.
    assert!(!debug.contains("0102030405"));
    assert!(!debug.contains("1, 2, 3, 4"));
}
