//! The worked example of docs/PROTOCOL.md §11, regenerated from a real run
//! and cross-checked against the spec's formulas.
//!
//! One complete SXFR/1 connection with fixed seeds: kex `x25519`, suite
//! `aes-256-gcm`, an Ed25519 server identity, password login as `alice`, one
//! `Ack` from the client, then a Close in each direction. Every intermediate
//! value is then recomputed *from the frames and the documented RNG* with
//! aws-lc-rs primitives, following PROTOCOL.md rather than the crate's code:
//! the X25519 scalars and the shared secret, both transcript hashes, the
//! server's signature, HKDF written out as HMAC (RFC 5869), the nonces, and
//! AES-256-GCM opening and resealing of every record.
//!
//! The annotated dump must equal the ```` ```text ```` block between the
//! `worked-example` markers in PROTOCOL.md. With `SXFER_REGENERATE_DOCS=1`
//! the test rewrites that block instead.

mod common;

use std::sync::Arc;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::agreement::{self, X25519};
use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _};
use common::DangerTestRng;
use sxfer_proto::handshake::client::ExpectServerHello;
use sxfer_proto::handshake::server::ExpectClientHello;
use sxfer_proto::handshake::{
    next_hello_frame, next_record_frame, AuthRequest, ClientConfig, Connection, Credential, Event, ServerConfig,
    ServerPin,
};
use sxfer_proto::identity::PrivateIdentity;
use sxfer_proto::kx::KexId;
use sxfer_proto::msgs::{ClientId, Message, Username};
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::secret::Password;
use sxfer_proto::CloseCode;

const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md");
const BEGIN_MARKER: &str = "<!-- worked-example:begin -->";
const END_MARKER: &str = "<!-- worked-example:end -->";

const CLIENT_SEED: u8 = 0x01;
const SERVER_SEED: u8 = 0x02;
const IDENTITY_SEED: u8 = 0x03;
const USERNAME: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";
const CLIENT_ID: [u8; 16] =
    [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f];
const ACK_TRANSFER: u32 = 1;
const ACK_OFFSET: u64 = 0x0010_0000;

// The labels exactly as PROTOCOL.md §4.4 and §4.5 spell them (deliberately
// not taken from `sxfer_proto::labels`: the spec is what is checked here).
const HANDSHAKE_SALT: &[u8] = b"SXFR/1 handshake";
const CLIENT_TRAFFIC: &[u8] = b"SXFR/1 c2s traffic";
const SERVER_TRAFFIC: &[u8] = b"SXFR/1 s2c traffic";
const EXPORTER: &[u8] = b"SXFR/1 exporter";
const TRAFFIC_KEY: &[u8] = b"SXFR/1 key";
const TRAFFIC_IV: &[u8] = b"SXFR/1 iv";
const SERVER_SIGNATURE_CONTEXT: &[u8] = b"SXFR/1 server handshake signature";

/// Bytes shown on one line of hex.
const ROW: usize = 16;

#[test]
fn worked_example_matches_protocol_md() {
    let text = generate();
    assert_eq!(text, generate(), "the worked example must be deterministic");

    let doc = std::fs::read_to_string(DOC_PATH).expect("read docs/PROTOCOL.md");
    let (before, current, after) = split_doc(&doc);
    let wanted = block(&text);
    if std::env::var_os("SXFER_REGENERATE_DOCS").is_some_and(|v| v == "1") {
        if current != wanted {
            std::fs::write(DOC_PATH, format!("{before}{wanted}{after}")).expect("write docs/PROTOCOL.md");
        }
        return;
    }
    if current != wanted {
        let first_difference = current
            .lines()
            .zip(wanted.lines())
            .position(|(have, want)| have != want)
            .unwrap_or_else(|| current.lines().count().min(wanted.lines().count()));
        let line = |text: &str| text.lines().nth(first_difference).unwrap_or("<end>").to_owned();
        panic!(
            "the worked example in docs/PROTOCOL.md is out of date.\n\
             first difference at line {} of the block:\n  doc:       {}\n  generated: {}\n\
             If the protocol change is intended, regenerate it with\n  \
             SXFER_REGENERATE_DOCS=1 cargo test -p sxfer-proto --test worked_example\n\
             and review the diff.",
            first_difference + 1,
            line(current),
            line(&wanted),
        );
    }
}

/// The text between the markers: a fenced `text` block.
fn block(text: &str) -> String {
    format!("\n```text\n{text}```\n")
}

/// `(up to and including the begin marker, the block, from the end marker)`.
fn split_doc(doc: &str) -> (&str, &str, &str) {
    let begin =
        doc.find(BEGIN_MARKER).expect("docs/PROTOCOL.md has the worked-example begin marker") + BEGIN_MARKER.len();
    let end = doc[begin..].find(END_MARKER).expect("docs/PROTOCOL.md has the worked-example end marker") + begin;
    (&doc[..begin], &doc[begin..end], &doc[end..])
}

/// Run the connection and describe it. Panics if anything disagrees with
/// the spec.
fn generate() -> String {
    let wire = run_connection();
    let mut dump = Dump::default();

    dump.line("SXFR/1 worked example: x25519, aes-256-gcm, Ed25519 server identity,");
    dump.line("password login, one Ack, a Close in each direction.");
    dump.line("Generated by sxfer-proto/tests/worked_example.rs; do not edit by hand.");
    dump.line("Hex is 16 bytes a line; every frame byte appears once, in order.");

    // ---- Inputs ----------------------------------------------------------
    let client_random = rng_block(CLIENT_SEED, 0);
    let client_scalar = rng_block(CLIENT_SEED, 1);
    let server_scalar = rng_block(SERVER_SEED, 0);
    let server_random = rng_block(SERVER_SEED, 1);
    let identity_seed = rng_block(IDENTITY_SEED, 0);
    let identity = Ed25519KeyPair::from_seed_unchecked(&identity_seed).expect("ed25519 seed");
    let identity_public = identity.public_key().as_ref().to_vec();

    dump.heading("Inputs (test RNG: block(s, i) = SHA-256(32 bytes of s ‖ u64be(i)))");
    dump.value("client random = block(0x01, 0)", &client_random);
    dump.value("client X25519 private scalar = block(0x01, 1)", &client_scalar);
    dump.value("server X25519 private scalar = block(0x02, 0)", &server_scalar);
    dump.value("server random = block(0x02, 1)", &server_random);
    dump.value("server identity Ed25519 seed (RFC 8032 private key) = block(0x03, 0)", &identity_seed);
    dump.value("server identity Ed25519 public key", &identity_public);
    dump.text(&format!("username {USERNAME:?}, password {PASSWORD:?}"));
    dump.text(&format!("client id the server assigns: {}", hex::encode(CLIENT_ID)));

    // ---- ClientHello -----------------------------------------------------
    let client_public = x25519_public(&client_scalar);
    dump.heading("ClientHello frame (client -> server, plaintext, §4.2)");
    let mut f = Fields::new(&mut dump, &wire.client_hello);
    let body_len = f.u32(|n| format!("frame length = {n}"));
    assert_eq!(body_len as usize + 4, wire.client_hello.len());
    f.expect(b"SXFR", "magic \"SXFR\"");
    f.expect(&[0x01], "versions: count = 1");
    f.expect(&[0x00, 0x01], "  version 0x0001 (SXFR/1)");
    f.expect(&client_random, "random");
    f.expect(&[0x01], "key exchange offers: count = 1");
    f.expect(&[0x00, 0x1d], "  kex 0x001d x25519");
    f.expect(&[0x00, 0x20], "  share length = 32");
    f.expect(&client_public, "  share: client X25519 public key");
    f.expect(&[0x01], "suites: count = 1");
    f.expect(&[0x00, 0x01], "  suite 0x0001 aes-256-gcm");
    f.finish();
    let client_hello_body = &wire.client_hello[4..];

    // ---- ServerHello -----------------------------------------------------
    let server_public = x25519_public(&server_scalar);
    dump.heading("ServerHello frame (server -> client, plaintext, §4.3)");
    let mut f = Fields::new(&mut dump, &wire.server_hello);
    let body_len = f.u32(|n| format!("frame length = {n}"));
    assert_eq!(body_len as usize + 4, wire.server_hello.len());
    f.expect(b"SXFR", "magic \"SXFR\"");
    f.expect(&[0x00, 0x01], "version 0x0001 (SXFR/1)");
    f.expect(&server_random, "random");
    f.expect(&[0x00, 0x1d], "kex 0x001d x25519");
    f.expect(&[0x00, 0x20], "share length = 32");
    f.expect(&server_public, "share: server X25519 public key");
    f.expect(&[0x00, 0x01], "suite 0x0001 aes-256-gcm");
    f.expect(&[0x00, 0x33], "identity length = 51");
    f.expect(&[0x00, 0x00, 0x00, 0x0b], "  SSH string length = 11");
    f.expect(b"ssh-ed25519", "  \"ssh-ed25519\"");
    f.expect(&[0x00, 0x00, 0x00, 0x20], "  SSH string length = 32");
    f.expect(&identity_public, "  Ed25519 public key");
    let unsigned_len = f.position() - 4;
    f.expect(&[0x08, 0x07], "signature scheme 0x0807 ssh-ed25519");
    f.expect(&[0x00, 0x40], "signature length = 64");
    let server_signature = f.take(64, "signature");
    f.finish();
    let server_hello_body = &wire.server_hello[4..];
    let identity_blob = &server_hello_body[4 + 2 + 32 + 2 + 2 + 32 + 2 + 2..unsigned_len];

    // ---- Key exchange, transcript, signature -----------------------------
    dump.heading("Key exchange (§4.4)");
    let shared = x25519(&client_scalar, &server_public);
    assert_eq!(shared, x25519(&server_scalar, &client_public), "both sides agree");
    dump.value("shared secret = X25519(client scalar, server public) = X25519(server scalar, client public)", &shared);

    dump.heading("Transcript and server signature (§4.4)");
    let signed_hash = sha256(&[client_hello_body, &server_hello_body[..unsigned_len]]);
    dump.text(&format!("the ServerHello body without its signature field is its first {unsigned_len} bytes"));
    dump.value("signed_hash = SHA-256(ClientHello body ‖ ServerHello body without signature)", &signed_hash);
    let signed_message = [SERVER_SIGNATURE_CONTEXT, &[0x00], &signed_hash].concat();
    dump.value("signed message = \"SXFR/1 server handshake signature\" ‖ 00 ‖ signed_hash", &signed_message);
    signature::UnparsedPublicKey::new(&signature::ED25519, &identity_public)
        .verify(&signed_message, server_signature)
        .expect("the server's signature verifies over the spec's signed message");
    dump.text("the signature above is Ed25519(identity seed, signed message) and verifies");
    let fingerprint = sha256(&[identity_blob]);
    dump.value("identity fingerprint = SHA-256(identity blob), shown as SHA256:<base64>", &fingerprint);
    let shown = wire.server_fingerprint.clone();
    assert_eq!(wire.server_fingerprint_bytes, fingerprint, "fingerprint is SHA-256 of the blob");
    dump.text(&format!("  = {shown}"));
    let transcript_hash = sha256(&[client_hello_body, server_hello_body]);
    dump.value("TH = SHA-256(ClientHello body ‖ ServerHello body)", &transcript_hash);

    // ---- Key schedule ----------------------------------------------------
    dump.heading("Key schedule (§4.5; HKDF-SHA256, info strings in ASCII)");
    let prk = hkdf_extract(HANDSHAKE_SALT, &shared);
    dump.value("PRK = HKDF-Extract(salt = \"SXFR/1 handshake\", IKM = shared secret)", &prk);
    let c2s_secret = hkdf_expand(&prk, &[CLIENT_TRAFFIC, &transcript_hash], 32);
    dump.value("c2s_secret = HKDF-Expand(PRK, \"SXFR/1 c2s traffic\" ‖ TH, 32)", &c2s_secret);
    let s2c_secret = hkdf_expand(&prk, &[SERVER_TRAFFIC, &transcript_hash], 32);
    dump.value("s2c_secret = HKDF-Expand(PRK, \"SXFR/1 s2c traffic\" ‖ TH, 32)", &s2c_secret);
    let exporter = hkdf_expand(&prk, &[EXPORTER, &transcript_hash], 32);
    dump.value("exporter = HKDF-Expand(PRK, \"SXFR/1 exporter\" ‖ TH, 32)", &exporter);
    assert_eq!(exporter, wire.client_exporter, "client exporter");
    assert_eq!(exporter, wire.server_exporter, "server exporter");
    let c2s = Direction::new(&c2s_secret);
    let s2c = Direction::new(&s2c_secret);
    dump.value("c2s key = HKDF-Expand(c2s_secret, \"SXFR/1 key\", 32)", &c2s.key);
    dump.value("c2s iv = HKDF-Expand(c2s_secret, \"SXFR/1 iv\", 12)", &c2s.iv);
    dump.value("s2c key = HKDF-Expand(s2c_secret, \"SXFR/1 key\", 32)", &s2c.key);
    dump.value("s2c iv = HKDF-Expand(s2c_secret, \"SXFR/1 iv\", 12)", &s2c.iv);

    // ---- Records ---------------------------------------------------------
    let plaintext =
        record(&mut dump, "ClientAuth record (client -> server, c2s seq 0, §4.6, §5)", &wire.client_auth, &c2s, 0);
    let mut p = Fields::new(&mut dump, &plaintext);
    p.expect(&[0x01], "content type 0x01 Message");
    p.expect(&[0x01], "auth method 0x01 password");
    p.expect(&[0x05], "username length = 5");
    p.expect(USERNAME.as_bytes(), "username \"alice\"");
    p.expect(&[0x00, 0x1c], "password length = 28");
    p.expect(PASSWORD.as_bytes(), "password (UTF-8)");
    p.finish();

    let plaintext =
        record(&mut dump, "AuthResult record (server -> client, s2c seq 0, §4.6)", &wire.auth_result, &s2c, 0);
    let mut p = Fields::new(&mut dump, &plaintext);
    p.expect(&[0x01], "content type 0x01 Message");
    p.expect(&[0x00], "result 0x00 accepted");
    p.expect(&CLIENT_ID, "client id");
    p.finish();

    let plaintext = record(&mut dump, "Ack message record (client -> server, c2s seq 1, §7)", &wire.ack, &c2s, 1);
    let mut p = Fields::new(&mut dump, &plaintext);
    p.expect(&[0x01], "content type 0x01 Message");
    p.expect(&[0x01, 0x01], "kind 0x0101 Ack");
    p.expect(&ACK_TRANSFER.to_be_bytes(), "transfer = 1");
    p.expect(&ACK_OFFSET.to_be_bytes(), "offset = 1048576");
    p.finish();

    let plaintext =
        record(&mut dump, "Close record (client -> server, c2s seq 2, §5.5, §8)", &wire.client_close, &c2s, 2);
    let mut p = Fields::new(&mut dump, &plaintext);
    p.expect(&[0x04], "content type 0x04 Close");
    p.expect(&[0x00, 0x00], "close code 0x0000 normal");
    p.finish();

    let plaintext =
        record(&mut dump, "Close record (server -> client, s2c seq 1, §5.5, §8)", &wire.server_close, &s2c, 1);
    let mut p = Fields::new(&mut dump, &plaintext);
    p.expect(&[0x04], "content type 0x04 Close");
    p.expect(&[0x00, 0x00], "close code 0x0000 normal");
    p.finish();

    dump.finish()
}

/// Every frame of the connection as it went over the wire.
struct Wire {
    client_hello: Vec<u8>,
    server_hello: Vec<u8>,
    client_auth: Vec<u8>,
    auth_result: Vec<u8>,
    ack: Vec<u8>,
    client_close: Vec<u8>,
    server_close: Vec<u8>,
    server_fingerprint: String,
    server_fingerprint_bytes: [u8; 32],
    client_exporter: Vec<u8>,
    server_exporter: Vec<u8>,
}

/// Drive both sides through the public API; check each side saw what the
/// other meant.
fn run_connection() -> Wire {
    let identity = Arc::new(
        PrivateIdentity::generate_ed25519(&mut DangerTestRng::for_testing_only(IDENTITY_SEED)).expect("identity"),
    );
    let server_config = Arc::new(ServerConfig {
        identity: identity.clone(),
        kex: vec![KexId::X25519],
        suites: vec![SuiteId::Aes256Gcm],
    });
    let client_config = ClientConfig { kex: vec![KexId::X25519], suites: vec![SuiteId::Aes256Gcm] };
    let mut client_rng = DangerTestRng::for_testing_only(CLIENT_SEED);
    let mut server_rng = DangerTestRng::for_testing_only(SERVER_SEED);

    let (client, client_hello) = ExpectServerHello::start(client_config, &mut client_rng).expect("client starts");
    assert_eq!(next_hello_frame(&client_hello), Ok(Some(client_hello.len())));
    let (server, server_hello) = ExpectClientHello::new(server_config)
        .read_client_hello(&client_hello, &mut server_rng)
        .expect("server reads ClientHello");
    assert_eq!(next_hello_frame(&server_hello), Ok(Some(server_hello.len())));
    let checked = client.read_server_hello(&server_hello).expect("client reads ServerHello");
    let server_fingerprint = checked.server_identity().fingerprint();
    let verified =
        checked.verify_identity(&ServerPin::Fingerprint(identity.public().fingerprint())).expect("pin matches");
    let (client, client_auth) = verified
        .authenticate(Credential::Password {
            username: Username::parse(USERNAME).expect("username"),
            password: Password::new(PASSWORD.to_owned()),
        })
        .expect("client authenticates");
    assert_eq!(next_record_frame(&client_auth), Ok(Some(client_auth.len())));

    let pending = server.read_client_auth(&mut client_auth.clone()).expect("server reads ClientAuth");
    match pending.request() {
        AuthRequest::Password { username, password } => {
            assert_eq!(username.as_str(), USERNAME);
            assert_eq!(password.expose(), PASSWORD);
        }
        other => panic!("unexpected request {other:?}"),
    }
    let mut auth_result = Vec::new();
    let mut server = pending.accept(ClientId(CLIENT_ID), &mut auth_result).expect("server accepts");
    let (mut client, client_id) =
        client.read_auth_result(&mut auth_result.clone(), &mut Vec::new()).expect("client reads AuthResult");
    assert_eq!(client_id, ClientId(CLIENT_ID));

    let ack_message = Message::Ack { transfer: ACK_TRANSFER, offset: ACK_OFFSET };
    let mut ack = Vec::new();
    client.send_message(&ack_message, &mut ack).expect("ack");
    let mut client_close = Vec::new();
    client.close(CloseCode::Normal, &mut client_close).expect("client close");
    assert_eq!(read_one(&mut server, &ack), Some(Event::Message(ack_message)));
    assert_eq!(read_one(&mut server, &client_close), Some(Event::Closed(CloseCode::Normal)));
    server.end_of_stream().expect("server saw an orderly close");

    let mut server_close = Vec::new();
    server.close(CloseCode::Normal, &mut server_close).expect("server close");
    assert_eq!(read_one(&mut client, &server_close), Some(Event::Closed(CloseCode::Normal)));
    client.end_of_stream().expect("client saw an orderly close");

    Wire {
        client_hello,
        server_hello,
        client_auth,
        auth_result,
        ack,
        client_close,
        server_close,
        server_fingerprint: server_fingerprint.to_string(),
        server_fingerprint_bytes: *server_fingerprint.as_bytes(),
        client_exporter: client.exporter().expose().to_vec(),
        server_exporter: server.exporter().expose().to_vec(),
    }
}

/// Open one whole record (a copy) and return what it meant, owned.
fn read_one(connection: &mut Connection, record: &[u8]) -> Option<Event<'static>> {
    let mut buf = record.to_vec();
    let (event, used) = connection.read(&mut buf).expect("record opens").expect("record is complete");
    assert_eq!(used, record.len());
    match event {
        Event::Message(message) => Some(Event::Message(message)),
        Event::Closed(code) => Some(Event::Closed(code)),
        Event::KeyUpdate => Some(Event::KeyUpdate),
        Event::Data(_) => None,
    }
}

/// Annotate one sealed record: nonce, length, ciphertext, tag. Opens it with
/// the spec's keys and checks that resealing reproduces the wire bytes.
/// Returns the plaintext (`type ‖ payload`).
fn record(dump: &mut Dump, title: &str, wire: &[u8], direction: &Direction, seq: u64) -> Vec<u8> {
    dump.heading(title);
    let mut nonce = direction.iv;
    for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
        *n ^= s;
    }
    dump.value(&format!("nonce = iv XOR (0x00000000 ‖ u64be({seq}))"), &nonce);
    dump.text("wire:");
    let mut f = Fields::new(dump, wire);
    let body_len = f.u32(|n| format!("length = {n} (also the AAD)")) as usize;
    assert_eq!(body_len + 4, wire.len());
    f.take(body_len - 16, "ciphertext");
    f.take(16, "tag");
    f.finish();

    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &direction.key).expect("key"));
    let aad = &wire[..4];
    let mut body = wire[4..].to_vec();
    let plaintext = key
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut body)
        .expect("the record opens with the keys and nonce of the spec")
        .to_vec();
    let mut resealed = plaintext.clone();
    let tag = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut resealed)
        .expect("seal");
    resealed.extend_from_slice(tag.as_ref());
    assert_eq!(resealed, &wire[4..], "resealing reproduces the record");
    dump.text("plaintext = AES-256-GCM-Open(key, nonce, aad = length, ciphertext ‖ tag):");
    plaintext
}

/// One direction's key and IV, derived as §4.5 says.
struct Direction {
    key: Vec<u8>,
    iv: [u8; 12],
}

impl Direction {
    fn new(secret: &[u8]) -> Self {
        let key = hkdf_expand(secret, &[TRAFFIC_KEY], 32);
        let iv = hkdf_expand(secret, &[TRAFFIC_IV], 12).try_into().expect("12 bytes");
        Direction { key, iv }
    }
}

/// The test RNG's `i`-th 32-byte block: SHA-256(32 × seed ‖ u64be(i)).
/// Every draw in this handshake is exactly one block, in the order §11 lists.
fn rng_block(seed: u8, index: u64) -> [u8; 32] {
    sha256(&[&[seed; 32], &index.to_be_bytes()])
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    digest(&SHA256, &parts.concat()).as_ref().try_into().expect("32 bytes")
}

fn x25519_public(scalar: &[u8; 32]) -> Vec<u8> {
    agreement::PrivateKey::from_private_key(&X25519, scalar)
        .expect("x25519 scalar")
        .compute_public_key()
        .expect("x25519 public key")
        .as_ref()
        .to_vec()
}

fn x25519(scalar: &[u8; 32], peer: &[u8]) -> Vec<u8> {
    let key = agreement::PrivateKey::from_private_key(&X25519, scalar).expect("x25519 scalar");
    agreement::agree(&key, agreement::UnparsedPublicKey::new(&X25519, peer), (), |secret| Ok(secret.to_vec()))
        .expect("x25519 agreement")
}

/// RFC 5869 HKDF-Extract with SHA-256: HMAC(salt, IKM).
fn hkdf_extract(salt: &[u8], ikm: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, salt), ikm).as_ref().to_vec()
}

/// RFC 5869 HKDF-Expand with SHA-256: T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i).
fn hkdf_expand(prk: &[u8], info: &[&[u8]], len: usize) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, prk);
    let mut out = Vec::new();
    let mut previous = Vec::new();
    for counter in 1u8.. {
        if out.len() >= len {
            break;
        }
        let mut context = hmac::Context::with_key(&key);
        context.update(&previous);
        for part in info {
            context.update(part);
        }
        context.update(&[counter]);
        previous = context.sign().as_ref().to_vec();
        out.extend_from_slice(&previous);
    }
    out.truncate(len);
    out
}

/// The lines of the annotated dump.
#[derive(Default)]
struct Dump {
    lines: Vec<String>,
}

impl Dump {
    fn line(&mut self, text: &str) {
        self.lines.push(text.to_owned());
    }

    fn heading(&mut self, text: &str) {
        self.lines.push(String::new());
        self.lines.push(format!("## {text}"));
    }

    fn text(&mut self, text: &str) {
        self.lines.push(format!("  {text}"));
    }

    /// A field: hex on the left, its meaning on the right of the first line.
    fn row(&mut self, bytes: &[u8], label: &str) {
        let mut chunks = bytes.chunks(ROW);
        let first = chunks.next().unwrap_or_default();
        self.lines.push(format!("  {:<width$}  {label}", hex::encode(first), width = 2 * ROW));
        for chunk in chunks {
            self.lines.push(format!("  {}", hex::encode(chunk)));
        }
    }

    /// A computed value: a description, then its hex below it.
    fn value(&mut self, label: &str, bytes: &[u8]) {
        self.lines.push(format!("  {label}:"));
        for chunk in bytes.chunks(ROW) {
            self.lines.push(format!("    {}", hex::encode(chunk)));
        }
    }

    fn finish(self) -> String {
        let mut out = self.lines.join("\n");
        out.push('\n');
        out
    }
}

/// Walks a byte string field by field, annotating each; `finish` checks
/// that every byte was accounted for.
struct Fields<'d, 'b> {
    dump: &'d mut Dump,
    bytes: &'b [u8],
    pos: usize,
}

impl<'d, 'b> Fields<'d, 'b> {
    fn new(dump: &'d mut Dump, bytes: &'b [u8]) -> Self {
        Fields { dump, bytes, pos: 0 }
    }

    fn position(&self) -> usize {
        self.pos
    }

    fn take(&mut self, len: usize, label: &str) -> &'b [u8] {
        let field =
            self.bytes.get(self.pos..self.pos + len).unwrap_or_else(|| panic!("{label}: {len} bytes past the end"));
        self.pos += len;
        self.dump.row(field, label);
        field
    }

    /// A field whose value the spec fixes: check it, then annotate it.
    fn expect(&mut self, value: &[u8], label: &str) {
        let field = self.take(value.len(), label);
        assert_eq!(field, value, "{label}");
    }

    fn u32(&mut self, label: impl FnOnce(u32) -> String) -> u32 {
        let bytes = self.bytes.get(self.pos..self.pos + 4).expect("a u32 field");
        let value = u32::from_be_bytes(bytes.try_into().expect("4 bytes"));
        self.take(4, &label(value));
        value
    }

    fn finish(self) {
        assert_eq!(self.pos, self.bytes.len(), "every byte of the frame is annotated");
    }
}
