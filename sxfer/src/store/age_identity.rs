//! The storage key as an [`age::Identity`] whose X25519 runs on aws-lc-rs.
//!
//! The `age` crate stays the reader of every blob (header parse, header MAC,
//! payload STREAM decryption: an independent implementation checking what
//! `age_writer.rs` writes); only the step that unwraps the file key from the
//! header's one `X25519` stanza is done here. The crate's own
//! `x25519::Identity` does it with curve25519-dalek's serial backend, which
//! profiling showed among the largest per-file costs of small downloads.
//!
//! The stanza, from the age v1 specification (c2sp.org/age, "X25519
//! recipient stanza"), and what this identity answers:
//!
//! ```text
//! -> X25519 b64(E)                 tag "X25519", else None (not ours to judge)
//! b64(body)                        exactly one argument, canonical unpadded
//!                                  base64 of 32 bytes; body exactly 32 bytes;
//!                                  else Some(Err(InvalidHeader))
//! shared   = X25519(s, E)          all zero (E of low order): Some(Err(InvalidHeader))
//! wrap key = HKDF-SHA256(ikm = shared, salt = E ‖ R, info = "age-encryption.org/v1/X25519")
//! file key = ChaCha20-Poly1305-open(wrap key, nonce = 0, body)
//!                                  fails: None (a stanza for another key)
//! ```
//!
//! These are the answers of age 0.11's `x25519::Identity`, which the tests
//! compare on the same crafted stanzas. aws-lc's X25519 refuses an all-zero
//! result itself, so a failed agreement is the low-order case.
//!
//! The private key lives only inside aws-lc (an `EVP_PKEY`, cleansed by
//! `OPENSSL_free` when dropped); the copies on the way there that this
//! module holds are zeroized (see `secret_bytes`). There is no `Debug`.
//!
//! Measured (`opening_small_blobs_with_both_identities`, an ignored test;
//! release build, on-CPU time of the thread, three sessions on a shared
//! 2-core machine): opening a 200-byte blob from memory (header, file key,
//! payload), median of 9 runs of 2000, took 100–115 µs with age's identity
//! and 48–53 µs with this one, a saving of 52–63 µs per open (about half);
//! the unwrap alone took 79–108 µs and 30–42 µs.

use age::DecryptError;
use age_core::format::{FileKey, Stanza, FILE_KEY_BYTES};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use zeroize::Zeroizing;

use super::age_writer;

const STANZA_TAG: &str = "X25519";
const SHARE_BYTES: usize = 32;
/// The wrapped file key and its Poly1305 tag.
const BODY_BYTES: usize = FILE_KEY_BYTES + 16;
const SECRET_KEY_HRP: &str = "age-secret-key-";

/// An age X25519 identity (the storage key) backed by aws-lc-rs.
pub(super) struct X25519Identity {
    private: PrivateKey,
    /// R, the recipient's raw public key: the second half of the HKDF salt.
    public: [u8; SHARE_BYTES],
}

impl X25519Identity {
    /// The same key as `identity`. `None` if aws-lc refuses it or derives a
    /// different public key than age does (then this reader would not open
    /// what the writer wrote).
    pub(super) fn from_age(identity: &age::x25519::Identity) -> Option<X25519Identity> {
        let secret = secret_bytes(identity)?;
        let private = PrivateKey::from_private_key(&X25519, &secret[..]).ok()?;
        let public: [u8; SHARE_BYTES] = private.compute_public_key().ok()?.as_ref().try_into().ok()?;
        (age_writer::recipient_bytes(&identity.to_public())? == public).then_some(X25519Identity { private, public })
    }
}

impl age::Identity for X25519Identity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        if stanza.tag != STANZA_TAG {
            return None;
        }
        let (Some(share), Ok(body)) = (single_share(&stanza.args), <[u8; BODY_BYTES]>::try_from(&stanza.body[..]))
        else {
            return Some(Err(DecryptError::InvalidHeader));
        };
        let mut salt = [0u8; 2 * SHARE_BYTES];
        salt[..SHARE_BYTES].copy_from_slice(&share);
        salt[SHARE_BYTES..].copy_from_slice(&self.public);
        let mut wrap_key = Zeroizing::new([0u8; 32]);
        // aws-lc refuses an all-zero shared secret: E is of low order.
        let agreed = agreement::agree(&self.private, UnparsedPublicKey::new(&X25519, &share), (), |shared| {
            age_writer::hkdf_sha256(shared, &salt, age_writer::X25519_LABEL, &mut wrap_key).map_err(|_| ())
        });
        if agreed.is_err() {
            return Some(Err(DecryptError::InvalidHeader));
        }
        let Ok(key) = UnboundKey::new(&CHACHA20_POLY1305, &wrap_key[..]) else {
            return Some(Err(DecryptError::DecryptionFailed));
        };
        let mut body = Zeroizing::new(body);
        // Failing to open is not an error: the stanza is for another key.
        let file_key = LessSafeKey::new(key)
            .open_in_place(Nonce::assume_unique_for_key([0u8; 12]), Aad::empty(), &mut body[..])
            .ok()?;
        Some(Ok(FileKey::init_with_mut(|out| out.copy_from_slice(file_key))))
    }
}

/// E from the stanza's arguments: exactly one, the canonical unpadded
/// base64 of 32 bytes (the engine refuses padding and non-zero trailing
/// bits, as age's does).
fn single_share(args: &[String]) -> Option<[u8; SHARE_BYTES]> {
    let [arg] = args else {
        return None;
    };
    // One spare byte: the decoder's length estimate for 43 characters is 33.
    let mut decoded = [0u8; SHARE_BYTES + 1];
    match STANDARD_NO_PAD.decode_slice(arg, &mut decoded) {
        Ok(SHARE_BYTES) => decoded[..SHARE_BYTES].try_into().ok(),
        _ => None,
    }
}

/// The 32 secret bytes of an age identity, from its `AGE-SECRET-KEY-1…`
/// form (age exposes no other). What this function holds is cleared; the
/// bech32 decoder grows its vectors, so freed memory may keep partial
/// copies, as it already does from age parsing `storage.key` the same way.
fn secret_bytes(identity: &age::x25519::Identity) -> Option<Zeroizing<[u8; 32]>> {
    use age::secrecy::ExposeSecret;
    use bech32::FromBase32;
    let encoded = identity.to_string();
    let (hrp, mut data, variant) = bech32::decode(encoded.expose_secret()).ok()?;
    let bytes = Zeroizing::new(Vec::<u8>::from_base32(&data).ok());
    // `u5` has no Zeroize; overwrite, and keep the stores from being elided.
    data.fill(bech32::u5::default());
    std::hint::black_box(&mut data);
    if hrp != SECRET_KEY_HRP || variant != bech32::Variant::Bech32 {
        return None;
    }
    let mut secret = Zeroizing::new([0u8; 32]);
    secret.copy_from_slice(bytes.as_deref().filter(|bytes| bytes.len() == 32)?);
    Some(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    use age::secrecy::ExposeSecret;
    use aws_lc_rs::agreement::EphemeralPrivateKey;
    use aws_lc_rs::rand::SystemRandom;

    use crate::store::age_writer::AgeWriter;

    /// One storage key, as both identities.
    struct Keys {
        age: age::x25519::Identity,
        ours: X25519Identity,
        recipient: [u8; 32],
    }

    fn keys() -> Keys {
        let age = age::x25519::Identity::generate();
        let ours = X25519Identity::from_age(&age).unwrap();
        let recipient = age_writer::recipient_bytes(&age.to_public()).unwrap();
        Keys { age, ours, recipient }
    }

    fn decrypt(identity: &dyn age::Identity, file: &[u8]) -> Result<Vec<u8>, DecryptError> {
        let decryptor = age::Decryptor::new(file)?;
        let mut reader = decryptor.decrypt(std::iter::once(identity))?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out)?;
        Ok(out)
    }

    fn encrypt_with_age_crate(recipient: &age::x25519::Recipient, data: &[u8]) -> Vec<u8> {
        let recipient: &dyn age::Recipient = recipient;
        let mut out = Vec::new();
        let mut writer =
            age::Encryptor::with_recipients(std::iter::once(recipient)).unwrap().wrap_output(&mut out).unwrap();
        writer.write_all(data).unwrap();
        writer.finish().unwrap();
        out
    }

    fn encrypt_with_age_writer(recipient: &[u8; 32], data: &[u8]) -> Vec<u8> {
        let mut writer = AgeWriter::new(Vec::new(), recipient).unwrap();
        writer.write_all(data).unwrap();
        writer.finish().unwrap()
    }

    #[derive(Debug, PartialEq)]
    enum Answer {
        NotOurs,
        FileKey([u8; FILE_KEY_BYTES]),
        Refused(String),
    }

    fn answer(identity: &dyn age::Identity, stanza: &Stanza) -> Answer {
        match identity.unwrap_stanza(stanza) {
            None => Answer::NotOurs,
            Some(Ok(file_key)) => Answer::FileKey(*file_key.expose_secret()),
            Some(Err(err)) => Answer::Refused(format!("{err:?}")),
        }
    }

    /// What both identities answer to `stanza`; they must agree.
    fn both(keys: &Keys, stanza: &Stanza) -> Answer {
        let theirs = answer(&keys.age, stanza);
        assert_eq!(answer(&keys.ours, stanza), theirs, "{stanza:?}");
        theirs
    }

    fn refused() -> Answer {
        Answer::Refused(format!("{:?}", DecryptError::InvalidHeader))
    }

    /// A stanza wrapping `file_key` to `recipient` made by age's own recipient.
    fn age_stanza(recipient: &age::x25519::Recipient, file_key: [u8; FILE_KEY_BYTES]) -> Stanza {
        let (mut stanzas, _) = age::Recipient::wrap_file_key(recipient, &FileKey::new(Box::new(file_key))).unwrap();
        assert_eq!(stanzas.len(), 1);
        stanzas.remove(0)
    }

    /// A stanza wrapping `file_key` to `recipient` whose share is E with
    /// `high_bit` ORed into its last byte (the bit X25519 ignores), the salt
    /// made with that same encoding.
    fn stanza_with_share_bit(recipient: &[u8; 32], file_key: [u8; FILE_KEY_BYTES], high_bit: u8) -> Stanza {
        let ephemeral = EphemeralPrivateKey::generate(&X25519, &SystemRandom::new()).unwrap();
        let mut share: [u8; 32] = ephemeral.compute_public_key().unwrap().as_ref().try_into().unwrap();
        share[31] |= high_bit;
        let mut salt = [0u8; 64];
        salt[..32].copy_from_slice(&share);
        salt[32..].copy_from_slice(recipient);
        let mut wrap_key = [0u8; 32];
        agreement::agree_ephemeral(ephemeral, UnparsedPublicKey::new(&X25519, recipient), (), |shared| {
            age_writer::hkdf_sha256(shared, &salt, age_writer::X25519_LABEL, &mut wrap_key).map_err(|_| ())
        })
        .unwrap();
        let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &wrap_key).unwrap());
        let mut body = file_key.to_vec();
        let tag =
            key.seal_in_place_separate_tag(Nonce::assume_unique_for_key([0; 12]), Aad::empty(), &mut body).unwrap();
        body.extend_from_slice(tag.as_ref());
        Stanza { tag: STANZA_TAG.into(), args: vec![STANDARD_NO_PAD.encode(share)], body }
    }

    fn with_args(stanza: &Stanza, args: &[&str]) -> Stanza {
        Stanza {
            tag: stanza.tag.clone(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            body: stanza.body.clone(),
        }
    }

    fn with_body(stanza: &Stanza, body: Vec<u8>) -> Stanza {
        Stanza { tag: stanza.tag.clone(), args: stanza.args.clone(), body }
    }

    #[test]
    fn the_key_is_the_one_age_holds() {
        let keys = keys();
        assert_eq!(keys.ours.public, keys.recipient);
        let other = age::x25519::Identity::generate();
        assert_ne!(X25519Identity::from_age(&other).unwrap().public, keys.ours.public);
    }

    #[test]
    fn it_opens_files_of_the_age_crate_and_of_our_writer() {
        let keys = keys();
        for len in [0, 1, 200, age_writer::CHUNK, age_writer::CHUNK + 1, 3 * age_writer::CHUNK + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let from_crate = encrypt_with_age_crate(&keys.age.to_public(), &data);
            let from_writer = encrypt_with_age_writer(&keys.recipient, &data);
            assert_eq!(decrypt(&keys.ours, &from_crate).unwrap(), data, "age::Encryptor, {len} bytes");
            assert_eq!(decrypt(&keys.ours, &from_writer).unwrap(), data, "AgeWriter, {len} bytes");
        }
    }

    #[test]
    fn a_file_for_another_key_has_no_matching_key() {
        let keys = keys();
        let other = self::keys();
        for file in [
            encrypt_with_age_crate(&other.age.to_public(), b"not yours"),
            encrypt_with_age_writer(&other.recipient, b"not yours"),
        ] {
            assert!(matches!(decrypt(&keys.ours, &file), Err(DecryptError::NoMatchingKeys)));
            assert_eq!(decrypt(&other.ours, &file).unwrap(), b"not yours");
        }
    }

    #[test]
    fn well_formed_stanzas_get_the_answers_age_gives() {
        let keys = keys();
        let file_key = [0x42; FILE_KEY_BYTES];
        let good = age_stanza(&keys.age.to_public(), file_key);
        assert_eq!(both(&keys, &good), Answer::FileKey(file_key));
        // For another key, or tampered: not ours, so age tries other identities.
        assert_eq!(both(&keys, &age_stanza(&age::x25519::Identity::generate().to_public(), file_key)), Answer::NotOurs);
        for bit in [0, 8 * 15, 8 * 16, 8 * 31] {
            let mut body = good.body.clone();
            body[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(both(&keys, &with_body(&good, body)), Answer::NotOurs, "bit {bit}");
        }
        // Other stanza types are not for an X25519 identity to judge.
        for tag in ["x25519", "X25519 ", "scrypt", "ssh-ed25519", ""] {
            let stanza = Stanza { tag: tag.into(), args: good.args.clone(), body: good.body.clone() };
            assert_eq!(both(&keys, &stanza), Answer::NotOurs, "{tag:?}");
        }
        // X25519 ignores the top bit of a share: a share with it set, salted
        // as sent, unwraps in both.
        assert_eq!(both(&keys, &stanza_with_share_bit(&keys.recipient, file_key, 0x80)), Answer::FileKey(file_key));
    }

    #[test]
    fn malformed_stanzas_are_refused_as_age_refuses_them() {
        let keys = keys();
        let good = age_stanza(&keys.age.to_public(), [7; FILE_KEY_BYTES]);
        let share = good.args[0].as_str();
        assert_eq!(share.len(), 43);
        // The last character carries 4 data bits and 2 that must be zero.
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let last = alphabet.find(&share[42..]).unwrap();
        let trailing_bits = format!("{}{}", &share[..42], &alphabet[last | 1..=last | 1]);
        let url_safe = share.replace('+', "-").replace('/', "_");
        let mut cases = vec![
            with_args(&good, &[]),
            with_args(&good, &[share, share]),
            with_args(&good, &[share, ""]),
            with_args(&good, &[""]),
            with_args(&good, &[&format!("{share}=")]),
            with_args(&good, &[&trailing_bits]),
            with_args(&good, &[&share[..42]]),
            with_args(&good, &[&format!("{share}A")]),
            with_args(&good, &[&format!("{share}AA")]),
            with_args(&good, &[&format!(" {share}")]),
            with_args(&good, &[&format!("{}!", &share[..42])]),
            with_body(&good, Vec::new()),
            with_body(&good, good.body[..31].to_vec()),
            with_body(&good, [&good.body[..], &[0]].concat()),
            with_body(&good, [&good.body[..], &good.body[..]].concat()),
        ];
        if url_safe != share {
            cases.push(with_args(&good, &[&url_safe]));
        }
        for stanza in &cases {
            assert_eq!(both(&keys, stanza), refused(), "{stanza:?}");
        }
    }

    #[test]
    fn low_order_shares_are_refused_as_age_refuses_them() {
        let keys = keys();
        let good = age_stanza(&keys.age.to_public(), [7; FILE_KEY_BYTES]);
        // The points whose X25519 with any clamped scalar is all zero
        // (0, 1, the two of order 8, p - 1, p, p + 1), each also with the
        // ignored top bit set.
        let edge = |low: u8| {
            let mut point = [0xff; 32];
            point[0] = low;
            point[31] = 0x7f;
            point
        };
        let mut one = [0; 32];
        one[0] = 1;
        let low_order = [
            [0; 32],
            one,
            [
                0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda,
                0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00,
            ],
            [
                0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04,
                0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57,
            ],
            edge(0xec),
            edge(0xed),
            edge(0xee),
        ];
        for point in low_order {
            for top_bit in [0, 0x80] {
                let mut share = point;
                share[31] |= top_bit;
                let stanza = with_args(&good, &[&STANDARD_NO_PAD.encode(share)]);
                assert_eq!(both(&keys, &stanza), refused(), "{point:02x?} | {top_bit:#x}");
            }
        }
        // And a whole file whose one stanza has such a share is refused, not
        // "no matching key".
        let file = encrypt_with_age_writer(&keys.recipient, b"data");
        let text_end = file.windows(4).position(|window| window == b"\n---").unwrap();
        let header = std::str::from_utf8(&file[..text_end]).unwrap();
        let real_share = header.lines().nth(1).unwrap().strip_prefix("-> X25519 ").unwrap();
        let forged =
            [header.replace(real_share, &STANDARD_NO_PAD.encode([0u8; 32])).as_bytes(), &file[text_end..]].concat();
        assert!(matches!(decrypt(&keys.ours, &forged), Err(DecryptError::InvalidHeader)));
        assert!(matches!(decrypt(&keys.age, &forged), Err(DecryptError::InvalidHeader)));
    }

    /// Prints the time to open (header, file key, read to the end) N small
    /// blobs with each identity, and to unwrap N stanzas alone: the median
    /// of several runs, the two identities alternating. Run with
    /// `cargo test --release -p sxfer --lib opening_small_blobs -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn opening_small_blobs_with_both_identities() {
        const ITEMS: usize = 2000;
        const RUNS: usize = 9;
        let keys = keys();
        let data = vec![0x5a; 200];
        let blobs: Vec<Vec<u8>> = (0..ITEMS).map(|_| encrypt_with_age_writer(&keys.recipient, &data)).collect();
        let stanzas: Vec<Stanza> = (0..ITEMS).map(|_| age_stanza(&keys.age.to_public(), [1; FILE_KEY_BYTES])).collect();
        let open_all = |identity: &dyn age::Identity| {
            for blob in &blobs {
                assert_eq!(decrypt(identity, blob).unwrap(), data);
            }
        };
        let unwrap_all = |identity: &dyn age::Identity| {
            for stanza in &stanzas {
                assert!(matches!(identity.unwrap_stanza(stanza), Some(Ok(_))));
            }
        };
        type Work<'a> = &'a dyn Fn(&dyn age::Identity);
        let work: [(&str, Work); 2] = [("open a 200-byte blob", &open_all), ("unwrap a stanza", &unwrap_all)];
        for (what, work) in work {
            let (mut theirs, mut ours) = (Vec::new(), Vec::new());
            for _ in 0..RUNS {
                theirs.push(time(|| work(&keys.age)));
                ours.push(time(|| work(&keys.ours)));
            }
            let (theirs, ours) = (median_micros(theirs) / ITEMS as f64, median_micros(ours) / ITEMS as f64);
            println!(
                "{what} (median of {RUNS} runs of {ITEMS}): age x25519::Identity {theirs:.1} µs, \
                 aws-lc {ours:.1} µs, saving {:.1} µs ({:.0}%)",
                theirs - ours,
                100.0 * (theirs - ours) / theirs
            );
        }
    }

    /// How long `work` ran on this thread's CPU (Linux: others' load on a
    /// shared machine does not count), else wall time.
    fn time(work: impl FnOnce()) -> Duration {
        let on_cpu = || {
            let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
            text.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
        };
        let (wall, cpu) = (Instant::now(), on_cpu());
        work();
        match (cpu, on_cpu()) {
            (Some(start), Some(end)) => end - start,
            _ => wall.elapsed(),
        }
    }

    fn median_micros(mut times: Vec<Duration>) -> f64 {
        times.sort();
        times[times.len() / 2].as_secs_f64() * 1e6
    }
}
