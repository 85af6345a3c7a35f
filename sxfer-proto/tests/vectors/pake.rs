//! `docs/vectors/pake.json`: a short-code PAKE (PROTOCOL.md §4.6.3) on the
//! hellos of the worked example: SPAKE2 scalars and messages, the key K,
//! TH', the re-derived secrets, both confirmations, and every record, up
//! to a Close each way under the new keys.

use std::sync::Arc;

use crypto_bigint::{Encoding, NonZero, U512};
use serde_json::{json, Value};
use sxfer_proto::handshake::client::ExpectServerHello;
use sxfer_proto::handshake::server::ExpectClientHello;
use sxfer_proto::handshake::{AuthRequest, ClientConfig, Credential, Event, ServerConfig, ServerPin, PAKE_CLIENT_ID};
use sxfer_proto::identity::PrivateIdentity;
use sxfer_proto::key_schedule::derive_pake;
use sxfer_proto::kx::KexId;
use sxfer_proto::pake::{PakeCredential, PakePassword};
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::record::{ContentType, Opened, Opener};
use sxfer_proto::secret::SecretBytes;
use sxfer_proto::CloseCode;

use super::file::{self, object};
use super::records;
use crate::common::worked::*;
use crate::common::DangerTestRng;

const FILE: &str = "pake.json";
const CODE: &str = "7-amber-falcon-harbor";
const CLIENT_SPAKE2_SEED: u8 = 0x06;
const SERVER_SPAKE2_SEED: u8 = 0x07;
const SUITE: SuiteId = SuiteId::Aes256Gcm;
/// The order q of the edwards25519 base point, big-endian.
const ORDER: &str = "00000000000000000000000000000000000000000000000000000000000000001000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed";

#[test]
fn pake_vectors() {
    let generated = generate();
    let on_disk = file::sync(FILE, &generated);
    check(&on_disk);
}

/// Every frame of a PAKE connection on the hellos of §11.
struct PakeWire {
    client_hello: Vec<u8>,
    server_hello: Vec<u8>,
    client_auth: Vec<u8>,
    auth_result: Vec<u8>,
    pake_confirm: Vec<u8>,
    client_close: Vec<u8>,
    server_close: Vec<u8>,
    exporter: Vec<u8>,
}

fn run(password: &str) -> PakeWire {
    let password = PakePassword::new(SecretBytes::new(password.as_bytes().to_vec())).expect("password");
    let identity = Arc::new(
        PrivateIdentity::generate_ed25519(&mut DangerTestRng::for_testing_only(IDENTITY_SEED)).expect("identity"),
    );
    let server_config = Arc::new(ServerConfig { identity, kex: vec![KexId::X25519], suites: vec![SUITE] });
    let client_config = ClientConfig { kex: vec![KexId::X25519], suites: vec![SUITE] };
    let (client, client_hello) =
        ExpectServerHello::start(client_config, &mut DangerTestRng::for_testing_only(CLIENT_SEED)).expect("start");
    let (server, server_hello) = ExpectClientHello::new(server_config)
        .read_client_hello(&client_hello, &mut DangerTestRng::for_testing_only(SERVER_SEED))
        .expect("server hello");
    let verified = client.read_server_hello(&server_hello).expect("checked").verify_identity(&ServerPin::PakeOnly);
    let credential = PakeCredential::new(&password, &mut DangerTestRng::for_testing_only(CLIENT_SPAKE2_SEED));
    let (client, client_auth) =
        verified.expect("no pin").authenticate(Credential::Pake(credential)).expect("authenticate");
    let pending = server.read_client_auth(&mut client_auth.clone()).expect("ClientAuth");
    assert!(matches!(pending.request(), AuthRequest::Pake));
    let mut auth_result = Vec::new();
    let server = pending
        .accept_pake(&password, &mut DangerTestRng::for_testing_only(SERVER_SPAKE2_SEED), &mut auth_result)
        .expect("accept");
    let mut pake_confirm = Vec::new();
    let (mut client, client_id) =
        client.read_auth_result(&mut auth_result.clone(), &mut pake_confirm).expect("AuthResult");
    assert_eq!(client_id, PAKE_CLIENT_ID);
    let mut server = server.read_pake_confirm(&mut pake_confirm.clone(), &mut Vec::new()).expect("confirmed");
    assert_eq!(client.exporter(), server.exporter());

    let mut client_close = Vec::new();
    client.close(CloseCode::Normal, &mut client_close).expect("close");
    let mut buf = client_close.clone();
    assert!(matches!(server.read(&mut buf).expect("opens"), Some((Event::Closed(CloseCode::Normal), _))));
    let mut server_close = Vec::new();
    server.close(CloseCode::Normal, &mut server_close).expect("close");
    let mut buf = server_close.clone();
    assert!(matches!(client.read(&mut buf).expect("opens"), Some((Event::Closed(CloseCode::Normal), _))));
    PakeWire {
        client_hello,
        server_hello,
        client_auth,
        auth_result,
        pake_confirm,
        client_close,
        server_close,
        exporter: client.exporter().expose().to_vec(),
    }
}

/// `bytes` as an integer (little-endian if `little`), mod q, as the 32-byte
/// little-endian scalar encoding of RFC 8032.
fn scalar(bytes: &[u8], little: bool) -> [u8; 32] {
    let mut wide = [0u8; 64];
    if little {
        wide[..bytes.len()].copy_from_slice(bytes);
    } else {
        for (i, b) in bytes.iter().rev().enumerate() {
            wide[i] = *b;
        }
    }
    let order = NonZero::new(U512::from_be_hex(ORDER)).expect("q");
    let reduced = U512::from_le_bytes(wide).rem(&order);
    reduced.to_le_bytes()[..32].try_into().expect("32 bytes")
}

fn generate() -> Value {
    let wire = run(CODE);
    let transcript_hash = sha256(&[&wire.client_hello[4..], &wire.server_hello[4..]]);
    let c2s_secret: [u8; 32] = handshake_secret(CLIENT_TRAFFIC, &transcript_hash);
    let s2c_secret: [u8; 32] = handshake_secret(SERVER_TRAFFIC, &transcript_hash);
    let exporter = hkdf_expand(&handshake_prk(), &[EXPORTER, &transcript_hash], 32);
    let client_auth = open_all(&c2s_secret, &[&wire.client_auth, &wire.pake_confirm]);
    let auth_result = open_all(&s2c_secret, &[&wire.auth_result]);
    let msg_a = client_auth[0][2..].to_vec();
    let msg_b = auth_result[0][2..2 + 33].to_vec();
    let server_confirm = auth_result[0][2 + 33..].to_vec();
    let client_confirm = client_auth[1].clone();

    let x_bytes = [rng_block(CLIENT_SPAKE2_SEED, 0), rng_block(CLIENT_SPAKE2_SEED, 1)].concat();
    let y_bytes = [rng_block(SERVER_SPAKE2_SEED, 0), rng_block(SERVER_SPAKE2_SEED, 1)].concat();
    let w_okm = hkdf_expand(&hkdf_extract(&[], CODE.as_bytes()), &[b"SPAKE2 pw"], 48);
    let pake_th = sha256(&[&transcript_hash, &[msg_a.len() as u8], &msg_a, &[msg_b.len() as u8], &msg_b]);

    // K is not on the wire: take it from SPAKE2 itself (the crate the
    // implementation uses), then check everything derived from it.
    let k = spake2_key(&x_bytes, &msg_b);
    let prk = hkdf_extract(&exporter, &k);
    let confirm = |label: &[u8]| {
        let key = hkdf_expand(&prk, &[label], 32);
        aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key), &pake_th)
            .as_ref()
            .to_vec()
    };
    assert_eq!(confirm(b"SXFR/1 pake server confirm"), server_confirm, "server_confirm as §4.6.3 says");
    assert_eq!(confirm(b"SXFR/1 pake client confirm"), client_confirm, "client_confirm as §4.6.3 says");
    let new_c2s: [u8; 32] = hkdf_expand(&prk, &[b"SXFR/1 pake c2s traffic", &pake_th], 32).try_into().expect("32");
    let new_s2c: [u8; 32] = hkdf_expand(&prk, &[b"SXFR/1 pake s2c traffic", &pake_th], 32).try_into().expect("32");
    let new_exporter = hkdf_expand(&prk, &[b"SXFR/1 pake exporter", &pake_th], 32);
    assert_eq!(new_exporter, wire.exporter, "exporter' replaces the exporter");

    let record = |comment: &str, direction: &str, secret: &[u8; 32], seq: u64, content, payload: &[u8], frame| {
        let mut vector = records::describe(SUITE, secret, seq, content, payload, frame, comment);
        vector.as_object_mut().expect("object").insert("direction".to_owned(), json!(direction));
        vector
    };
    let close = CloseCode::Normal.to_u16().to_be_bytes();
    let records = vec![
        record(
            "ClientAuth method 0x05 (msgA)",
            "c2s",
            &c2s_secret,
            0,
            ContentType::Message,
            &client_auth[0],
            &wire.client_auth,
        ),
        record(
            "AuthResult 0x02 (msgB, server_confirm)",
            "s2c",
            &s2c_secret,
            0,
            ContentType::Message,
            &auth_result[0],
            &wire.auth_result,
        ),
        record(
            "PakeConfirm (client_confirm)",
            "c2s",
            &c2s_secret,
            1,
            ContentType::Message,
            &client_auth[1],
            &wire.pake_confirm,
        ),
        record(
            "Close 0x0000 from the client, under c2s_secret'",
            "c2s",
            &new_c2s,
            0,
            ContentType::Close,
            &close,
            &wire.client_close,
        ),
        record(
            "Close 0x0000 from the server, under s2c_secret'",
            "s2c",
            &new_s2c,
            0,
            ContentType::Close,
            &close,
            &wire.server_close,
        ),
    ];
    object([
        (
            "description",
            json!(
                "SXFR/1 short-code PAKE (SPAKE2 over edwards25519) on the hellos of handshake.json: the code, \
                 the SPAKE2 scalars, w, both messages and the key K, TH', the re-derived traffic secrets and \
                 exporter, both key confirmations, and every record from the ClientAuth to a Close each way \
                 under the new keys. See docs/vectors/README.md."
            ),
        ),
        ("spec_section", json!("4.5, 4.6.3")),
        (
            "spake2",
            object([
                ("password", json!(CODE)),
                ("id_a", json!("SXFR/1 pake client")),
                ("id_b", json!("SXFR/1 pake server")),
                ("w_okm", file::hex(&w_okm)),
                ("w", file::hex(&scalar(&w_okm, false))),
                ("x_random", file::hex(&x_bytes)),
                ("x", file::hex(&scalar(&x_bytes, true))),
                ("y_random", file::hex(&y_bytes)),
                ("y", file::hex(&scalar(&y_bytes, true))),
                ("msg_a", file::hex(&msg_a)),
                ("msg_b", file::hex(&msg_b)),
                ("k", file::hex(&k)),
            ]),
        ),
        (
            "key_binding",
            object([
                ("transcript_hash", file::hex(&transcript_hash)),
                ("exporter", file::hex(&exporter)),
                ("pake_transcript_hash", file::hex(&pake_th)),
                ("prk", file::hex(&prk)),
                ("c2s_secret", file::hex(&new_c2s)),
                ("s2c_secret", file::hex(&new_s2c)),
                ("exporter_after", file::hex(&new_exporter)),
                ("server_confirm", file::hex(&server_confirm)),
                ("client_confirm", file::hex(&client_confirm)),
            ]),
        ),
        ("records", Value::Array(records)),
    ])
}

fn handshake_prk() -> Vec<u8> {
    let server_public = x25519_public(&rng_block(SERVER_SEED, 0));
    hkdf_extract(HANDSHAKE_SALT, &x25519(&rng_block(CLIENT_SEED, 1), &server_public))
}

fn handshake_secret(label: &[u8], transcript_hash: &[u8; 32]) -> [u8; 32] {
    hkdf_expand(&handshake_prk(), &[label, transcript_hash], 32).try_into().expect("32 bytes")
}

/// The payloads of one direction's Message records, in order.
fn open_all(secret: &[u8; 32], frames: &[&Vec<u8>]) -> Vec<Vec<u8>> {
    let mut opener = Opener::new(SUITE, sxfer_proto::key_schedule::TrafficSecret::from_bytes_for_testing_only(*secret))
        .expect("opener");
    frames
        .iter()
        .map(|frame| {
            let mut buf = frame.to_vec();
            match opener.open_in_place(&mut buf).expect("opens").expect("whole") {
                (Opened::Message(payload), _) => payload.to_vec(),
                (other, _) => panic!("not a Message: {other:?}"),
            }
        })
        .collect()
}

/// SPAKE2 side A from the listed randomness, finished with msgB.
fn spake2_key(x_random: &[u8], msg_b: &[u8]) -> Vec<u8> {
    let (state, _) = spake2::Spake2::<spake2::Ed25519Group>::start_a_with_rng(
        &spake2::Password::new(CODE.as_bytes()),
        &spake2::Identity::new(b"SXFR/1 pake client"),
        &spake2::Identity::new(b"SXFR/1 pake server"),
        &mut super::handshake::FixedRng::new(x_random.to_vec()),
    );
    state.finish(msg_b).expect("msgB is valid")
}

fn check(v: &Value) {
    let s = file::field(v, "spake2");
    let b = file::field(v, "key_binding");
    assert_eq!(file::str(s, "password"), CODE);
    // The implementation, from the listed randomness, sends the listed msgA.
    let password = PakePassword::new(SecretBytes::new(CODE.as_bytes().to_vec())).expect("password");
    let mut rng = super::handshake::FixedRng::new(file::bytes(s, "x_random"));
    let credential = PakeCredential::new(&password, &mut rng);
    rng.used_up();
    assert_eq!(credential.message(), file::bytes(s, "msg_a"));
    assert_eq!(scalar(&file::bytes(s, "x_random"), true).to_vec(), file::bytes(s, "x"));
    assert_eq!(scalar(&file::bytes(s, "y_random"), true).to_vec(), file::bytes(s, "y"));
    assert_eq!(scalar(&file::bytes(s, "w_okm"), false).to_vec(), file::bytes(s, "w"));
    assert_eq!(spake2_key(&file::bytes(s, "x_random"), &file::bytes(s, "msg_b")), file::bytes(s, "k"));

    // Key binding through the implementation's derive_pake.
    let pake = derive_pake(
        &SecretBytes::new(file::bytes(b, "exporter")),
        &SecretBytes::new(file::bytes(s, "k")),
        &file::array(b, "pake_transcript_hash"),
    )
    .expect("derive_pake");
    let secret = |key| sxfer_proto::key_schedule::TrafficSecret::from_bytes_for_testing_only(file::array(b, key));
    assert_eq!(pake.secrets.client_to_server, secret("c2s_secret"));
    assert_eq!(pake.secrets.server_to_client, secret("s2c_secret"));
    assert_eq!(pake.secrets.exporter, SecretBytes::new(file::bytes(b, "exporter_after")));
    assert_eq!(pake.server_confirm, SecretBytes::new(file::bytes(b, "server_confirm")));
    assert_eq!(pake.client_confirm, SecretBytes::new(file::bytes(b, "client_confirm")));

    // The whole run reproduces every record.
    let wire = run(CODE);
    let frames = [&wire.client_auth, &wire.auth_result, &wire.pake_confirm, &wire.client_close, &wire.server_close];
    let listed = file::list(v, "records");
    assert_eq!(listed.len(), frames.len());
    for (record, frame) in listed.iter().zip(frames) {
        assert_eq!(hex::encode(frame), file::str(record, "record"));
        records::check(record);
    }
    assert_eq!(sha256(&[&wire.client_hello[4..], &wire.server_hello[4..]]).to_vec(), file::bytes(b, "transcript_hash"));
}
