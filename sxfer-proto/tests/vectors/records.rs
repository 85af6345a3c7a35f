//! `docs/vectors/records.json`: sealed records in every suite (PROTOCOL.md
//! §5, §6), with the keys and nonce they use and, for the three suites
//! composed from block cipher and MAC, every intermediate value.

use aes::cipher::{BlockEncrypt, KeyInit};
use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{EncryptingKey, EncryptionContext, UnboundCipherKey, AES_256};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use eax::aead::generic_array::GenericArray;
use eax::aead::AeadInPlace;
use serde_json::{json, Value};
use sxfer_proto::codec::Codec;
use sxfer_proto::key_schedule::TrafficSecret;
use sxfer_proto::msgs::Message;
use sxfer_proto::record::suite::{SuiteId, NONCE_LEN};
use sxfer_proto::record::{ContentType, Opened, Opener, Sealer};
use sxfer_proto::CloseCode;

use super::file::{self, object};

const FILE: &str = "records.json";

/// The traffic secret every record here is sealed under: bytes 0x00..0x1f.
pub const SECRET: [u8; 32] = {
    let mut secret = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        secret[i] = i as u8;
        i += 1;
    }
    secret
};

#[test]
fn record_vectors() {
    let generated = generate();
    let on_disk = file::sync(FILE, &generated);
    let vectors = file::list(&on_disk, "vectors");
    for suite in SuiteId::ALL {
        assert!(vectors.iter().any(|v| file::str(v, "suite") == suite.name()), "no record for {}", suite.name());
    }
    for vector in vectors {
        check(vector);
    }
}

/// What each suite seals: (seq, content type, payload, comment).
fn plan() -> Vec<(u64, ContentType, Vec<u8>, &'static str)> {
    let ack = Message::Ack { transfer: 1, offset: 1_048_576 }.to_bytes();
    let data: Vec<u8> = b"SXFR/1 record test vector: 47 bytes of data....".to_vec();
    assert_eq!(data.len(), 47);
    vec![
        (0, ContentType::Message, ack, "seq 0, a Message record holding an Ack (§7.3.2); plaintext 15 bytes"),
        (
            1,
            ContentType::Data,
            data,
            "seq 1, a Data record; plaintext 48 bytes, a multiple of 16 (aes-256-cbc-hmac-sha256 pads a full block)",
        ),
        (
            258,
            ContentType::Close,
            CloseCode::Normal.to_u16().to_be_bytes().to_vec(),
            "seq 258 = 0x0102, a Close record (code 0x0000); the sequence number changes two bytes of the nonce",
        ),
    ]
}

fn generate() -> Value {
    let mut vectors = Vec::new();
    for suite in SuiteId::ALL {
        let mut sealer = Sealer::new(suite, TrafficSecret::from_bytes_for_testing_only(SECRET)).expect("sealer");
        let mut seq = 0;
        for (target, content, payload, comment) in plan() {
            while seq < target {
                sealer.seal(ContentType::Data, &[], &mut Vec::new()).expect("filler");
                seq += 1;
            }
            let mut record = Vec::new();
            sealer.seal(content, &payload, &mut record).expect("seal");
            seq += 1;
            vectors.push(describe(suite, &SECRET, target, content, &payload, &record, comment));
        }
    }
    object([
        (
            "description",
            json!(
                "SXFR/1 records, one vector per sealed record: suite, traffic secret, the key and IV derived from \
                 it, sequence number, nonce, AAD, content type, payload, and the exact record bytes (length \
                 prefix included). Each vector stands alone: seal(key, nonce, aad, plaintext) gives ciphertext \
                 || tag. See docs/vectors/README.md."
            ),
        ),
        ("spec_section", json!("4.5, 5.1, 5.2, 5.3, 6")),
        ("vectors", Value::Array(vectors)),
    ])
}

/// Seal the vector's record again with the implementation (after `seq`
/// empty filler records) and open it; both must give the file's values.
pub fn check(vector: &Value) {
    let suite = SuiteId::from_name(file::str(vector, "suite")).expect("a known suite");
    assert_eq!(u64::from(suite.code()), file::u64(vector, "suite_code"));
    let secret = || TrafficSecret::from_bytes_for_testing_only(file::array(vector, "traffic_secret"));
    let keys = secret().keys(suite).expect("keys");
    assert_eq!(keys.key.expose(), file::bytes(vector, "key"), "key of {vector}");
    assert_eq!(keys.iv.to_vec(), file::bytes(vector, "iv"), "iv of {vector}");
    let seq = file::u64(vector, "seq");
    let content = ContentType::from_code(file::u64(vector, "content_type") as u8).expect("content type");
    let payload = file::bytes(vector, "payload");
    let record = file::bytes(vector, "record");

    let mut sealer = Sealer::new(suite, secret()).expect("sealer");
    let mut opener = Opener::new(suite, secret()).expect("opener");
    for _ in 0..seq {
        let mut filler = Vec::new();
        sealer.seal(ContentType::Data, &[], &mut filler).expect("filler");
        let len = filler.len();
        assert_eq!(opener.open_in_place(&mut filler).expect("filler opens"), Some((Opened::Data(&[]), len)));
    }
    let mut sealed = Vec::new();
    sealer.seal(content, &payload, &mut sealed).expect("seal");
    assert_eq!(hex::encode(&sealed), hex::encode(&record), "sealing {vector}");
    let mut buf = record.clone();
    let (opened, used) = opener.open_in_place(&mut buf).expect("the record opens").expect("a whole record");
    assert_eq!(used, record.len());
    let expected = match content {
        ContentType::Message => Opened::Message(&payload),
        ContentType::Data => Opened::Data(&payload),
        ContentType::KeyUpdate => Opened::KeyUpdate,
        ContentType::Close => Opened::Close(CloseCode::from_u16(u16::from_be_bytes([payload[0], payload[1]]))),
    };
    assert_eq!(opened, expected, "opening {vector}");
}

/// The vector for one sealed record, every value recomputed from the spec
/// with other primitives than the suite's and checked against `record`.
pub fn describe(
    suite: SuiteId,
    secret: &[u8; 32],
    seq: u64,
    content: ContentType,
    payload: &[u8],
    record: &[u8],
    comment: &str,
) -> Value {
    let keys = TrafficSecret::from_bytes_for_testing_only(*secret).keys(suite).expect("keys");
    let key = keys.key.expose();
    let nonce = nonce(&keys.iv, seq);
    let plaintext = [&[content.code()][..], payload].concat();
    let (aad, body) = record.split_at(4);
    assert_eq!(u32::from_be_bytes(aad.try_into().expect("4 bytes")) as usize, body.len(), "length prefix");
    let tag_len = match suite {
        SuiteId::Aes256CbcHmacSha256 | SuiteId::HmacSha256Ctr => 32,
        _ => 16,
    };
    let (ciphertext, tag) = body.split_at(body.len() - tag_len);
    let mut fields = vec![
        ("comment", json!(comment)),
        ("suite", json!(suite.name())),
        ("suite_code", json!(suite.code())),
        ("traffic_secret", file::hex(secret)),
        ("key", file::hex(key)),
        ("iv", file::hex(&keys.iv)),
        ("seq", json!(seq)),
        ("nonce", file::hex(&nonce)),
        ("content_type", json!(content.code())),
        ("payload", file::hex(payload)),
        ("plaintext", file::hex(&plaintext)),
        ("aad", file::hex(aad)),
        ("ciphertext", file::hex(ciphertext)),
        ("tag", file::hex(tag)),
        ("record", file::hex(record)),
    ];
    match suite {
        SuiteId::Aes256Gcm => check_aead(&aead::AES_256_GCM, key, &nonce, aad, &plaintext, body),
        SuiteId::ChaCha20Poly1305 => check_aead(&aead::CHACHA20_POLY1305, key, &nonce, aad, &plaintext, body),
        SuiteId::Aes256Eax => {
            let eax_nonce = [&nonce[..], &[0; 4]].concat();
            let cipher = eax::Eax::<aes::Aes256>::new_from_slice(key).expect("key");
            let mut sealed = plaintext.clone();
            cipher.encrypt_in_place(GenericArray::from_slice(&eax_nonce), aad, &mut sealed).expect("eax");
            assert_eq!(sealed, body, "EAX with N = nonce ‖ 00000000");
            fields.push(("eax_nonce", file::hex(&eax_nonce)));
        }
        SuiteId::Aes256CbcHmacSha256 => {
            let (k_enc, k_mac) = key.split_at(32);
            let mut block = GenericArray::from([0u8; 16]);
            block[..NONCE_LEN].copy_from_slice(&nonce);
            aes::Aes256::new_from_slice(k_enc).expect("key").encrypt_block(&mut block);
            let cbc_iv: [u8; 16] = block.into();
            let pad = 16 - plaintext.len() % 16;
            let mut padded = plaintext.clone();
            padded.resize(plaintext.len() + pad, pad as u8);
            let mut c = padded.clone();
            EncryptingKey::cbc(UnboundCipherKey::new(&AES_256, k_enc).expect("key"))
                .expect("cbc")
                .less_safe_encrypt(&mut c, EncryptionContext::Iv128(FixedLength::from(cbc_iv)))
                .expect("encrypt");
            assert_eq!(c, ciphertext, "C = AES-256-CBC(k_enc, IV, padded)");
            let mac_input = [&nonce[..], &(aad.len() as u64).to_be_bytes(), aad, &cbc_iv, &c].concat();
            assert_eq!(hmac_sha256(k_mac, &mac_input), tag, "T = HMAC(k_mac, MAC input)");
            fields.extend([
                ("k_enc", file::hex(k_enc)),
                ("k_mac", file::hex(k_mac)),
                ("cbc_iv", file::hex(&cbc_iv)),
                ("padding_len", json!(pad)),
                ("padded", file::hex(&padded)),
                ("mac_input", file::hex(&mac_input)),
            ]);
        }
        SuiteId::HmacSha256Ctr => {
            let (k_enc, k_mac) = key.split_at(32);
            let blocks = plaintext.len().div_ceil(32) as u64;
            let mut keystream: Vec<u8> =
                (0..blocks).flat_map(|i| hmac_sha256(k_enc, &[&nonce[..], &i.to_be_bytes()].concat())).collect();
            keystream.truncate(plaintext.len());
            let c: Vec<u8> = plaintext.iter().zip(&keystream).map(|(p, k)| p ^ k).collect();
            assert_eq!(c, ciphertext, "C = P XOR keystream");
            let mac_input = [&nonce[..], &(aad.len() as u64).to_be_bytes(), aad, &c].concat();
            assert_eq!(hmac_sha256(k_mac, &mac_input), tag, "T = HMAC(k_mac, MAC input)");
            fields.extend([
                ("k_enc", file::hex(k_enc)),
                ("k_mac", file::hex(k_mac)),
                ("keystream", file::hex(&keystream)),
                ("mac_input", file::hex(&mac_input)),
            ]);
        }
    }
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// §5.2: iv XOR (0x00000000 ‖ u64be(seq)).
pub fn nonce(iv: &[u8; NONCE_LEN], seq: u64) -> [u8; NONCE_LEN] {
    let mut nonce = *iv;
    for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
        *n ^= s;
    }
    nonce
}

fn check_aead(
    algorithm: &'static aead::Algorithm,
    key: &[u8],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
    body: &[u8],
) {
    let key = LessSafeKey::new(UnboundKey::new(algorithm, key).expect("key"));
    let mut buf = body.to_vec();
    let opened = key
        .open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), &mut buf)
        .expect("the record opens with aws-lc-rs");
    assert_eq!(opened, plaintext);
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message).as_ref().to_vec()
}
