//! Shared pieces of the fuzz targets: a deterministic RNG, fixed keys, and
//! hand-driven peers that hold the traffic keys, so fuzz input can be sealed
//! correctly and reach the decoders behind the AEAD.
//!
//! Every handshake here uses X25519 and fixed seeds, so a given input always
//! takes the same path (ML-KEM draws from aws-lc's own DRBG, which no seed
//! reaches; only `client_handshake` and `server_handshake` offer it).

use std::sync::{Arc, OnceLock};

use aws_lc_rs::digest::{digest, SHA256};
use rand_core::{CryptoRng, RngCore};
use sxfer_proto::codec::Codec;
use sxfer_proto::handshake::client::{ExpectAuthResult, ExpectServerHello};
use sxfer_proto::handshake::server::{ExpectClientAuth, ExpectClientHello};
use sxfer_proto::handshake::{ClientConfig, Connection, Credential, ServerConfig, ServerPin};
use sxfer_proto::identity::{PrivateIdentity, Signature, SignatureScheme};
use sxfer_proto::key_schedule::{self, HandshakeSecrets};
use sxfer_proto::kx::{self, ClientKex, KexId};
use sxfer_proto::labels;
use sxfer_proto::msgs::handshake::VERSION_1;
use sxfer_proto::msgs::{ClientAuth, ClientHello, ClientId, KexShare, ServerHello};
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::record::{ContentType, Sealer, FRAME_HEADER_LEN};
use sxfer_proto::secret::SecretBytes;

/// SplitMix64. Predictable by design: for fuzzing only, never for keys
/// that protect anything.
pub struct DangerFuzzRng(u64);

impl DangerFuzzRng {
    pub fn for_testing_only(seed: u64) -> Self {
        DangerFuzzRng(seed)
    }
}

impl RngCore for DangerFuzzRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let word = self.next_u64().to_be_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for DangerFuzzRng {}

/// The server's Ed25519 identity, from a fixed seed.
pub fn server_identity() -> Arc<PrivateIdentity> {
    static KEY: OnceLock<Arc<PrivateIdentity>> = OnceLock::new();
    KEY.get_or_init(|| {
        Arc::new(PrivateIdentity::generate_ed25519(&mut DangerFuzzRng::for_testing_only(9)).expect("ed25519"))
    })
    .clone()
}

/// A server that accepts every key exchange and every suite.
pub fn server_config() -> Arc<ServerConfig> {
    static CONFIG: OnceLock<Arc<ServerConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            Arc::new(ServerConfig { suites: SuiteId::ALL.to_vec(), ..ServerConfig::new(server_identity()) })
        })
        .clone()
}

/// `SuiteId::ALL[byte % 5]`: one input byte picks the suite.
pub fn suite_from(byte: u8) -> SuiteId {
    SuiteId::ALL[usize::from(byte) % SuiteId::ALL.len()]
}

pub fn frame(body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).expect("fuzz frames are small");
    [&len.to_be_bytes()[..], body].concat()
}

pub fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, &parts.concat()).as_ref());
    out
}

fn derive(shared: &SecretBytes, client_body: &[u8], server_body: &[u8]) -> HandshakeSecrets {
    key_schedule::derive(shared, &hash(&[client_body, server_body])).expect("key schedule")
}

/// A real client that has sent its ClientHello (returned as a frame).
pub fn start_client(config: ClientConfig) -> (ExpectServerHello, Vec<u8>) {
    ExpectServerHello::start(config, &mut DangerFuzzRng::for_testing_only(1)).expect("client starts")
}

/// Sign `hello` for `client_body` with the server identity (PROTOCOL.md
/// §4.4), whatever its fields say. Returns the ServerHello frame.
pub fn sign_server_hello(mut hello: ServerHello, client_body: &[u8]) -> Vec<u8> {
    let identity = server_identity();
    hello.identity = identity.public().to_wire();
    hello.signature = Signature { scheme: SignatureScheme::Ed25519, bytes: Vec::new() };
    let mut unsigned = Vec::new();
    hello.encode_unsigned(&mut unsigned);
    let signed_hash = hash(&[client_body, &unsigned]);
    hello.signature = identity.sign(&[labels::SERVER_SIGNATURE_CONTEXT, &[0x00], &signed_hash].concat()).expect("sign");
    frame(&hello.to_bytes())
}

/// The real server after a ClientHello from a hand-driven X25519 client,
/// and that client's sealer: anything sealed with it opens at the server.
pub fn server_awaiting_auth(suite: SuiteId) -> (ExpectClientAuth, Sealer) {
    let mut rng = DangerFuzzRng::for_testing_only(11);
    let (kex, share) = ClientKex::generate(KexId::X25519, &mut rng).expect("x25519");
    let hello = ClientHello {
        versions: vec![VERSION_1],
        random: [1; 32],
        kex_offers: vec![KexShare { kex: KexId::X25519, share }],
        suites: vec![suite],
    };
    let client_body = hello.to_bytes();
    let (server, server_frame) =
        ExpectClientHello::new(server_config()).read_client_hello(&frame(&client_body), &mut rng).expect("answer");
    let server_body = &server_frame[FRAME_HEADER_LEN..];
    let server_hello = ServerHello::decode(server_body).expect("server hello");
    let shared = kex.complete(&server_hello.kex_share).expect("x25519");
    let secrets = derive(&shared, &client_body, server_body);
    (server, Sealer::new(suite, secrets.client_to_server).expect("sealer"))
}

/// An established server connection opposite the hand-driven client.
pub fn server_connection(suite: SuiteId) -> (Connection, Sealer) {
    let (server, mut client) = server_awaiting_auth(suite);
    let mut record = Vec::new();
    client.seal(ContentType::Message, &ClientAuth::Anonymous.to_bytes(), &mut record).expect("seal");
    let pending = server.read_client_auth(&mut record).expect("anonymous");
    let connection = pending.accept(ClientId([7; 16]), &mut Vec::new()).expect("accept");
    (connection, client)
}

/// A real client that has sent its credential to a hand-driven server, and
/// that server's sealer for the AuthResult.
pub fn client_awaiting_result(suite: SuiteId) -> (ExpectAuthResult, Sealer) {
    let (client, client_frame) = start_client(ClientConfig { kex: vec![KexId::X25519], suites: vec![suite] });
    let client_body = &client_frame[FRAME_HEADER_LEN..];
    let offer = ClientHello::decode(client_body).expect("client hello").kex_offers.remove(0);
    let mut rng = DangerFuzzRng::for_testing_only(12);
    let (kex_share, shared) = kx::server_respond(offer.kex, &offer.share, &mut rng).expect("x25519");
    let hello = ServerHello {
        version: VERSION_1,
        random: [2; 32],
        kex: offer.kex,
        kex_share,
        suite,
        identity: Vec::new(),
        signature: Signature { scheme: SignatureScheme::Ed25519, bytes: Vec::new() },
    };
    let server_frame = sign_server_hello(hello, client_body);
    let secrets = derive(&shared, client_body, &server_frame[FRAME_HEADER_LEN..]);
    let verified = client
        .read_server_hello(&server_frame)
        .expect("valid ServerHello")
        .verify_identity(&ServerPin::Key(server_identity().public().clone()))
        .expect("pinned");
    let (client, _) = verified.authenticate(Credential::Anonymous).expect("authenticate");
    (client, Sealer::new(suite, secrets.server_to_client).expect("sealer"))
}

/// Read records from `wire` until it is used up, more bytes are needed, or
/// an error; every record must report a length inside what it was given.
pub fn read_all(connection: &mut Connection, wire: &mut [u8]) {
    let mut at = 0;
    while at < wire.len() {
        match connection.read(&mut wire[at..]) {
            Ok(Some((_, used))) => {
                assert!(used >= FRAME_HEADER_LEN && at + used <= wire.len(), "used {used} at {at} of {}", wire.len());
                at += used;
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// `ContentType` from one byte (all four types, evenly).
pub fn content_from(byte: u8) -> ContentType {
    match byte % 4 {
        0 => ContentType::Message,
        1 => ContentType::Data,
        2 => ContentType::KeyUpdate,
        _ => ContentType::Close,
    }
}

/// Decoding is canonical: whatever decodes re-encodes to the same bytes.
pub fn check_canonical<T: Codec>(data: &[u8]) {
    if let Ok(value) = T::decode(data) {
        assert_eq!(value.to_bytes(), data, "accepted a non-canonical encoding");
    }
}
