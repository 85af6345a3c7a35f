//! The connection of the worked example (PROTOCOL.md §11) and the spec's
//! formulas written out with independent primitives. Shared by the worked
//! example (the text in PROTOCOL.md) and the test vectors (`docs/vectors/`),
//! so both describe one run.
#![allow(dead_code)]

use std::sync::Arc;

use aws_lc_rs::agreement::{self, X25519};
use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::hmac;
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

use super::DangerTestRng;

pub const CLIENT_SEED: u8 = 0x01;
pub const SERVER_SEED: u8 = 0x02;
pub const IDENTITY_SEED: u8 = 0x03;
pub const USERNAME: &str = "alice";
pub const PASSWORD: &str = "correct horse battery staple";
pub const CLIENT_ID: [u8; 16] =
    [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f];
pub const ACK_TRANSFER: u32 = 1;
pub const ACK_OFFSET: u64 = 0x0010_0000;

// The labels exactly as PROTOCOL.md §4.4 and §4.5 spell them (deliberately
// not taken from `sxfer_proto::labels`: the spec is what is checked here).
pub const HANDSHAKE_SALT: &[u8] = b"SXFR/1 handshake";
pub const CLIENT_TRAFFIC: &[u8] = b"SXFR/1 c2s traffic";
pub const SERVER_TRAFFIC: &[u8] = b"SXFR/1 s2c traffic";
pub const EXPORTER: &[u8] = b"SXFR/1 exporter";
pub const TRAFFIC_KEY: &[u8] = b"SXFR/1 key";
pub const TRAFFIC_IV: &[u8] = b"SXFR/1 iv";
pub const KEY_UPDATE: &[u8] = b"SXFR/1 key update";
pub const SERVER_SIGNATURE_CONTEXT: &[u8] = b"SXFR/1 server handshake signature";

/// Every frame of the connection as it went over the wire.
pub struct Wire {
    pub client_hello: Vec<u8>,
    pub server_hello: Vec<u8>,
    pub client_auth: Vec<u8>,
    pub auth_result: Vec<u8>,
    pub ack: Vec<u8>,
    pub client_close: Vec<u8>,
    pub server_close: Vec<u8>,
    pub server_fingerprint: String,
    pub server_fingerprint_bytes: [u8; 32],
    pub client_exporter: Vec<u8>,
    pub server_exporter: Vec<u8>,
}

/// Drive both sides through the public API; check each side saw what the
/// other meant.
pub fn run_connection() -> Wire {
    run_with(Credential::Password {
        username: Username::parse(USERNAME).expect("username"),
        password: Password::new(PASSWORD.to_owned()),
    })
}

/// The same connection with another credential: the hellos, and so TH and
/// the traffic keys, stay those of §11. The server accepts whatever it is
/// asked (a key proof is verified on the way).
pub fn run_with(credential: Credential<'_>) -> Wire {
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
    let (client, client_auth) = verified.authenticate(credential).expect("client authenticates");
    assert_eq!(next_record_frame(&client_auth), Ok(Some(client_auth.len())));

    let pending = server.read_client_auth(&mut client_auth.clone()).expect("server reads ClientAuth");
    match pending.request() {
        AuthRequest::Password { username, password } => {
            assert_eq!(username.as_str(), USERNAME);
            assert_eq!(password.expose(), PASSWORD);
        }
        AuthRequest::PublicKey { username, .. } => assert_eq!(username.as_str(), USERNAME),
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
pub fn read_one(connection: &mut Connection, record: &[u8]) -> Option<Event<'static>> {
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

/// One direction's key and IV, derived as §4.5 says.
pub struct Direction {
    pub key: Vec<u8>,
    pub iv: [u8; 12],
}

impl Direction {
    pub fn new(secret: &[u8]) -> Self {
        let key = hkdf_expand(secret, &[TRAFFIC_KEY], 32);
        let iv = hkdf_expand(secret, &[TRAFFIC_IV], 12).try_into().expect("12 bytes");
        Direction { key, iv }
    }
}

/// The test RNG's `i`-th 32-byte block: SHA-256(32 × seed ‖ u64be(i)).
/// Every draw in this handshake is exactly one block, in the order §11 lists.
pub fn rng_block(seed: u8, index: u64) -> [u8; 32] {
    sha256(&[&[seed; 32], &index.to_be_bytes()])
}

pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    digest(&SHA256, &parts.concat()).as_ref().try_into().expect("32 bytes")
}

pub fn x25519_public(scalar: &[u8; 32]) -> Vec<u8> {
    agreement::PrivateKey::from_private_key(&X25519, scalar)
        .expect("x25519 scalar")
        .compute_public_key()
        .expect("x25519 public key")
        .as_ref()
        .to_vec()
}

pub fn x25519(scalar: &[u8; 32], peer: &[u8]) -> Vec<u8> {
    let key = agreement::PrivateKey::from_private_key(&X25519, scalar).expect("x25519 scalar");
    agreement::agree(&key, agreement::UnparsedPublicKey::new(&X25519, peer), (), |secret| Ok(secret.to_vec()))
        .expect("x25519 agreement")
}

/// RFC 5869 HKDF-Extract with SHA-256: HMAC(salt, IKM).
pub fn hkdf_extract(salt: &[u8], ikm: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, salt), ikm).as_ref().to_vec()
}

/// RFC 5869 HKDF-Expand with SHA-256: T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i).
pub fn hkdf_expand(prk: &[u8], info: &[&[u8]], len: usize) -> Vec<u8> {
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
