//! `docs/vectors/handshake.json`: the worked example of PROTOCOL.md §11 as
//! data. The same run as the text of §11 (`common::worked`): fixed randoms
//! and keys, every frame, the key exchange, both transcript hashes, the
//! signed message, the key schedule and every record.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use rand_core::{CryptoRng, RngCore};
use serde_json::{json, Value};
use sxfer_proto::codec::Codec;
use sxfer_proto::identity::PrivateIdentity;
use sxfer_proto::key_schedule::{self, TrafficSecret};
use sxfer_proto::kx::{self, ClientKex, KexId};
use sxfer_proto::msgs::{ClientHello, ServerHello};
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::record::{ContentType, Opened, Opener};
use sxfer_proto::secret::SecretBytes;

use super::file::{self, object};
use super::records;
use crate::common::worked::*;

const FILE: &str = "handshake.json";
const SUITE: SuiteId = SuiteId::Aes256Gcm;

#[test]
fn handshake_vectors() {
    let generated = generate();
    let on_disk = file::sync(FILE, &generated);
    check(&on_disk);
}

fn generate() -> Value {
    let wire = run_connection();
    let client_random = rng_block(CLIENT_SEED, 0);
    let client_scalar = rng_block(CLIENT_SEED, 1);
    let server_scalar = rng_block(SERVER_SEED, 0);
    let server_random = rng_block(SERVER_SEED, 1);
    let identity_seed = rng_block(IDENTITY_SEED, 0);
    let identity_public =
        Ed25519KeyPair::from_seed_unchecked(&identity_seed).expect("seed").public_key().as_ref().to_vec();

    let client_body = &wire.client_hello[4..];
    let server_body = &wire.server_hello[4..];
    let hello = ServerHello::decode(server_body).expect("ServerHello");
    let unsigned = &server_body[..server_body.len() - 4 - hello.signature.bytes.len()];
    let client_public = x25519_public(&client_scalar);
    let server_public = x25519_public(&server_scalar);
    let shared = x25519(&client_scalar, &server_public);
    let signed_hash = sha256(&[client_body, unsigned]);
    let signed_message = [SERVER_SIGNATURE_CONTEXT, &[0x00], &signed_hash].concat();
    let transcript_hash = sha256(&[client_body, server_body]);
    let prk = hkdf_extract(HANDSHAKE_SALT, &shared);
    let c2s_secret: [u8; 32] = secret(&prk, CLIENT_TRAFFIC, &transcript_hash);
    let s2c_secret: [u8; 32] = secret(&prk, SERVER_TRAFFIC, &transcript_hash);
    let exporter = hkdf_expand(&prk, &[EXPORTER, &transcript_hash], 32);
    let (c2s, s2c) = (Direction::new(&c2s_secret), Direction::new(&s2c_secret));

    let c2s_records = [&wire.client_auth, &wire.ack, &wire.client_close];
    let s2c_records = [&wire.auth_result, &wire.server_close];
    let comments = [
        ("c2s", "ClientAuth (password login as alice, §4.6.1)"),
        ("c2s", "Ack (§7.3.2)"),
        ("c2s", "Close 0x0000 from the client (§5.5)"),
        ("s2c", "AuthResult (accepted, §4.6.2)"),
        ("s2c", "Close 0x0000 from the server (§5.5)"),
    ];
    let opened = [open_all(&c2s_secret, &c2s_records), open_all(&s2c_secret, &s2c_records)].concat();
    let frames = c2s_records.iter().chain(&s2c_records);
    let mut seqs = [0u64, 1, 2, 0, 1].into_iter();
    let records: Vec<Value> = frames
        .zip(opened)
        .zip(comments)
        .map(|((record, (content, payload)), (direction, comment))| {
            let secret = if direction == "c2s" { &c2s_secret } else { &s2c_secret };
            let seq = seqs.next().expect("a seq");
            let mut vector = records::describe(SUITE, secret, seq, content, &payload, record, comment);
            vector.as_object_mut().expect("object").insert("direction".to_owned(), json!(direction));
            vector
        })
        .collect();

    object([
        (
            "description",
            json!(
                "The worked example of PROTOCOL.md §11 as data: one SXFR/1 connection (x25519, aes-256-gcm, \
                 Ed25519 server identity, password login, one Ack, a Close each way) from fixed randoms and \
                 keys, with every frame, the key exchange, the transcript hashes, the server's signed message \
                 and signature, the key schedule and every record. See docs/vectors/README.md."
            ),
        ),
        ("spec_section", json!("4, 5, 11")),
        (
            "parameters",
            object([
                ("kex", json!(KexId::X25519.name())),
                ("kex_code", json!(KexId::X25519.code())),
                ("suite", json!(SUITE.name())),
                ("suite_code", json!(SUITE.code())),
                ("identity_key_type", json!("ssh-ed25519")),
                ("signature_scheme", json!(0x0807)),
                ("rng", json!("block(s, i) = SHA-256(32 bytes of s || u64be(i)); seeds: client 0x01, server 0x02, identity 0x03")),
            ]),
        ),
        (
            "inputs",
            object([
                ("client_random", file::hex(&client_random)),
                ("client_x25519_private", file::hex(&client_scalar)),
                ("server_x25519_private", file::hex(&server_scalar)),
                ("server_random", file::hex(&server_random)),
                ("identity_ed25519_seed", file::hex(&identity_seed)),
                ("username", json!(USERNAME)),
                ("password", json!(PASSWORD)),
                ("client_id", file::hex(&CLIENT_ID)),
                ("ack_transfer", json!(ACK_TRANSFER)),
                ("ack_offset", json!(ACK_OFFSET)),
            ]),
        ),
        (
            "frames",
            object([("client_hello", file::hex(&wire.client_hello)), ("server_hello", file::hex(&wire.server_hello))]),
        ),
        (
            "derived",
            object([
                ("client_x25519_public", file::hex(&client_public)),
                ("server_x25519_public", file::hex(&server_public)),
                ("shared_secret", file::hex(&shared)),
                ("identity_ed25519_public", file::hex(&identity_public)),
                ("identity_blob", file::hex(&hello.identity)),
                ("identity_fingerprint_sha256", file::hex(&wire.server_fingerprint_bytes)),
                ("identity_fingerprint", json!(wire.server_fingerprint)),
                ("unsigned_server_hello", file::hex(unsigned)),
                ("signed_hash", file::hex(&signed_hash)),
                ("signed_message", file::hex(&signed_message)),
                ("signature", file::hex(&hello.signature.bytes)),
                ("transcript_hash", file::hex(&transcript_hash)),
                ("prk", file::hex(&prk)),
                ("c2s_secret", file::hex(&c2s_secret)),
                ("s2c_secret", file::hex(&s2c_secret)),
                ("exporter", file::hex(&exporter)),
                ("c2s_key", file::hex(&c2s.key)),
                ("c2s_iv", file::hex(&c2s.iv)),
                ("s2c_key", file::hex(&s2c.key)),
                ("s2c_iv", file::hex(&s2c.iv)),
            ]),
        ),
        ("records", Value::Array(records)),
    ])
}

fn secret(prk: &[u8], label: &[u8], transcript_hash: &[u8]) -> [u8; 32] {
    hkdf_expand(prk, &[label, transcript_hash], 32).try_into().expect("32 bytes")
}

/// Open one direction's records in order with the implementation's
/// receiver: (content type, payload) of each.
fn open_all(secret: &[u8; 32], frames: &[&Vec<u8>]) -> Vec<(ContentType, Vec<u8>)> {
    let mut opener = Opener::new(SUITE, TrafficSecret::from_bytes_for_testing_only(*secret)).expect("opener");
    frames
        .iter()
        .map(|frame| {
            let mut buf = frame.to_vec();
            let (opened, used) = opener.open_in_place(&mut buf).expect("opens").expect("whole");
            assert_eq!(used, frame.len());
            match opened {
                Opened::Message(payload) => (ContentType::Message, payload.to_vec()),
                Opened::Data(payload) => (ContentType::Data, payload.to_vec()),
                Opened::KeyUpdate => (ContentType::KeyUpdate, Vec::new()),
                Opened::Close(code) => (ContentType::Close, code.to_u16().to_be_bytes().to_vec()),
            }
        })
        .collect()
}

/// Every value of the file from its inputs, through the implementation's
/// own key exchange, identity, codec and key schedule.
fn check(v: &Value) {
    let inputs = file::field(v, "inputs");
    let frames = file::field(v, "frames");
    let d = file::field(v, "derived");

    // The run reproduces the frames and records.
    let wire = run_connection();
    assert_eq!(hex::encode(&wire.client_hello), file::str(frames, "client_hello"));
    assert_eq!(hex::encode(&wire.server_hello), file::str(frames, "server_hello"));
    let sent = [&wire.client_auth, &wire.ack, &wire.client_close, &wire.auth_result, &wire.server_close];
    let listed = file::list(v, "records");
    assert_eq!(listed.len(), sent.len());
    for (record, frame) in listed.iter().zip(sent) {
        assert_eq!(file::bytes(record, "record"), *frame);
        records::check(record);
    }

    // Key exchange, from the listed private scalars.
    let mut rng = FixedRng::new(file::bytes(inputs, "client_x25519_private"));
    let (client_kex, client_share) = ClientKex::generate(KexId::X25519, &mut rng).expect("client kex");
    rng.used_up();
    assert_eq!(client_share, file::bytes(d, "client_x25519_public"));
    let mut rng = FixedRng::new(file::bytes(inputs, "server_x25519_private"));
    let (server_share, server_secret) = kx::server_respond(KexId::X25519, &client_share, &mut rng).expect("server kex");
    rng.used_up();
    assert_eq!(server_share, file::bytes(d, "server_x25519_public"));
    let shared = client_kex.complete(&server_share).expect("client completes");
    assert_eq!(shared.expose(), file::bytes(d, "shared_secret"));
    assert_eq!(server_secret, shared);

    // The hellos decode to the listed values.
    let frame_client = file::bytes(frames, "client_hello");
    let frame_server = file::bytes(frames, "server_hello");
    let (client_body, server_body) = (&frame_client[4..], &frame_server[4..]);
    let client_hello = ClientHello::decode(client_body).expect("ClientHello");
    assert_eq!(client_hello.random.to_vec(), file::bytes(inputs, "client_random"));
    assert_eq!(client_hello.kex_offers[0].share, client_share);
    let server_hello = ServerHello::decode(server_body).expect("ServerHello");
    assert_eq!(server_hello.random.to_vec(), file::bytes(inputs, "server_random"));
    assert_eq!(server_hello.kex_share, server_share);
    let mut unsigned = Vec::new();
    server_hello.encode_unsigned(&mut unsigned);
    assert_eq!(unsigned, file::bytes(d, "unsigned_server_hello"));

    // The identity, its fingerprint and its signature.
    let mut rng = FixedRng::new(file::bytes(inputs, "identity_ed25519_seed"));
    let identity = PrivateIdentity::generate_ed25519(&mut rng).expect("identity");
    rng.used_up();
    assert_eq!(identity.public().to_wire(), file::bytes(d, "identity_blob"));
    assert_eq!(server_hello.identity, file::bytes(d, "identity_blob"));
    assert_eq!(identity.public().fingerprint().as_bytes().to_vec(), file::bytes(d, "identity_fingerprint_sha256"));
    assert_eq!(identity.public().fingerprint().to_string(), file::str(d, "identity_fingerprint"));
    let signed_message = file::bytes(d, "signed_message");
    assert_eq!(signed_message, [SERVER_SIGNATURE_CONTEXT, &[0x00], &sha256(&[client_body, &unsigned])].concat());
    assert_eq!(sha256(&[client_body, &unsigned]).to_vec(), file::bytes(d, "signed_hash"));
    let signature = identity.sign(&signed_message).expect("sign");
    assert_eq!(signature.bytes, file::bytes(d, "signature"), "Ed25519 is deterministic");
    assert_eq!(server_hello.signature, signature);
    identity.public().verify(&signed_message, &server_hello.signature).expect("the signature verifies");

    // The key schedule.
    let transcript_hash = sha256(&[client_body, server_body]);
    assert_eq!(transcript_hash.to_vec(), file::bytes(d, "transcript_hash"));
    assert_eq!(hkdf_extract(HANDSHAKE_SALT, shared.expose()), file::bytes(d, "prk"));
    let secrets = key_schedule::derive(&shared, &transcript_hash).expect("key schedule");
    assert_eq!(secrets.exporter, SecretBytes::new(file::bytes(d, "exporter")));
    for (name, secret) in [("c2s", &secrets.client_to_server), ("s2c", &secrets.server_to_client)] {
        let listed = TrafficSecret::from_bytes_for_testing_only(file::array(d, &format!("{name}_secret")));
        assert_eq!(secret, &listed, "{name} traffic secret");
        let keys = secret.keys(SUITE).expect("keys");
        assert_eq!(keys.key.expose(), file::bytes(d, &format!("{name}_key")));
        assert_eq!(keys.iv.to_vec(), file::bytes(d, &format!("{name}_iv")));
    }
    assert_eq!(file::str(inputs, "username"), USERNAME);
    assert_eq!(file::str(inputs, "password"), PASSWORD);
    assert_eq!(file::bytes(inputs, "client_id"), CLIENT_ID);
}

/// An RNG that hands out exactly the given bytes: the listed private
/// values become the implementation's draws.
pub struct FixedRng(Vec<u8>);

impl FixedRng {
    pub fn new(bytes: Vec<u8>) -> Self {
        FixedRng(bytes)
    }

    /// The implementation drew exactly the listed bytes.
    pub fn used_up(&self) {
        assert!(self.0.is_empty(), "{} listed random bytes were not drawn", self.0.len());
    }
}

impl RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        unimplemented!("only fill_bytes")
    }
    fn next_u64(&mut self) -> u64 {
        unimplemented!("only fill_bytes")
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert!(dest.len() <= self.0.len(), "the implementation drew more than the vector lists");
        let rest = self.0.split_off(dest.len());
        dest.copy_from_slice(&self.0);
        self.0 = rest;
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for FixedRng {}
