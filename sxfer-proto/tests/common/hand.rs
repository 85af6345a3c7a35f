//! Peers driven by hand from the spec (PROTOCOL.md §4) opposite a real state
//! machine. They hold the traffic keys, so they can seal and open anything:
//! a malicious peer, a man in the middle, or an independent check that the
//! implementation does what the spec says.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use aws_lc_rs::digest::{digest, SHA256};
use sxfer_proto::codec::Codec;
use sxfer_proto::handshake::server::{ExpectClientAuth, ExpectClientHello};
use sxfer_proto::handshake::ServerConfig;
use sxfer_proto::identity::{PrivateIdentity, Signature, SignatureScheme};
use sxfer_proto::key_schedule::{self, HandshakeSecrets, TrafficSecret};
use sxfer_proto::kx::{self, ClientKex, KexId};
use sxfer_proto::labels;
use sxfer_proto::msgs::handshake::VERSION_1;
use sxfer_proto::msgs::{ClientHello, KexShare, ServerHello};
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::record::{ContentType, Opened, Opener, Sealer, FRAME_HEADER_LEN};
use sxfer_proto::secret::SecretBytes;

use super::DangerTestRng;

pub fn frame(body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).expect("test frames are small");
    [&len.to_be_bytes()[..], body].concat()
}

pub fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, &parts.concat()).as_ref());
    out
}

/// Sign `hello` as PROTOCOL.md §4.4 says; returns the ServerHello frame.
pub fn sign_server_hello(mut hello: ServerHello, client_body: &[u8], identity: &PrivateIdentity) -> Vec<u8> {
    let mut unsigned = Vec::new();
    hello.encode_unsigned(&mut unsigned);
    let signed_hash = hash(&[client_body, &unsigned]);
    hello.signature = identity.sign(&[labels::SERVER_SIGNATURE_CONTEXT, &[0x00], &signed_hash].concat()).expect("sign");
    frame(&hello.to_bytes())
}

pub fn derive(shared: &SecretBytes, client_body: &[u8], server_body: &[u8]) -> HandshakeSecrets {
    key_schedule::derive(shared, &hash(&[client_body, server_body])).expect("key schedule")
}

/// One side's keys of a hand-driven handshake.
pub struct HandKeys {
    pub suite: SuiteId,
    pub transcript_hash: [u8; 32],
    pub exporter: SecretBytes,
    pub send: Sealer,
    pub receive: Opener,
}

impl HandKeys {
    fn new(
        suite: SuiteId,
        transcript_hash: [u8; 32],
        send: TrafficSecret,
        receive: TrafficSecret,
        exporter: SecretBytes,
    ) -> Self {
        HandKeys {
            suite,
            transcript_hash,
            exporter,
            send: Sealer::new(suite, send).unwrap(),
            receive: Opener::new(suite, receive).unwrap(),
        }
    }

    /// One Message record holding `bytes`.
    pub fn seal(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut record = Vec::new();
        self.send.seal(ContentType::Message, bytes, &mut record).unwrap();
        record
    }

    /// The payload of the Message record that is all of `record`.
    pub fn open(&mut self, record: &[u8]) -> Vec<u8> {
        let mut record = record.to_vec();
        let len = record.len();
        match self.receive.open_in_place(&mut record).unwrap() {
            Some((Opened::Message(bytes), used)) if used == len => bytes.to_vec(),
            _ => panic!("expected one Message record"),
        }
    }

    /// What a Close record in `record` says, if it is one.
    pub fn open_close(&mut self, record: &[u8]) -> Option<sxfer_proto::CloseCode> {
        let mut record = record.to_vec();
        match self.receive.open_in_place(&mut record) {
            Ok(Some((Opened::Close(code), _))) => Some(code),
            _ => None,
        }
    }
}

/// Answer a real client's ClientHello as a server with `identity`: the
/// client's first kex and suite. Returns the keys and the ServerHello frame.
pub fn hand_server(client_hello_frame: &[u8], identity: &PrivateIdentity, seed: u8) -> (HandKeys, Vec<u8>) {
    let client_body = &client_hello_frame[FRAME_HEADER_LEN..];
    let hello = ClientHello::decode(client_body).unwrap();
    let offer = &hello.kex_offers[0];
    let suite = hello.suites[0];
    let mut rng = DangerTestRng::for_testing_only(seed);
    let (kex_share, shared) = kx::server_respond(offer.kex, &offer.share, &mut rng).unwrap();
    let server_hello = ServerHello {
        version: VERSION_1,
        random: [seed; 32],
        kex: offer.kex,
        kex_share,
        suite,
        identity: identity.public().to_wire(),
        signature: Signature { scheme: SignatureScheme::Ed25519, bytes: Vec::new() },
    };
    let server_frame = sign_server_hello(server_hello, client_body, identity);
    let server_body = &server_frame[FRAME_HEADER_LEN..];
    let secrets = derive(&shared, client_body, server_body);
    let th = hash(&[client_body, server_body]);
    let keys = HandKeys::new(suite, th, secrets.server_to_client, secrets.client_to_server, secrets.exporter);
    (keys, server_frame)
}

/// Open a handshake with a real server as an X25519 client. Returns the
/// server, waiting for the ClientAuth, and the client's keys.
pub fn hand_client(config: Arc<ServerConfig>, suite: SuiteId, seed: u8) -> (ExpectClientAuth, HandKeys) {
    let mut rng = DangerTestRng::for_testing_only(seed);
    let (kex, share) = ClientKex::generate(KexId::X25519, &mut rng).unwrap();
    let hello = ClientHello {
        versions: vec![VERSION_1],
        random: [seed; 32],
        kex_offers: vec![KexShare { kex: KexId::X25519, share }],
        suites: vec![suite],
    };
    let client_body = hello.to_bytes();
    let (server, server_frame) =
        ExpectClientHello::new(config).read_client_hello(&frame(&client_body), &mut rng).unwrap();
    let server_body = &server_frame[FRAME_HEADER_LEN..];
    let shared = kex.complete(&ServerHello::decode(server_body).unwrap().kex_share).unwrap();
    let secrets = derive(&shared, &client_body, server_body);
    let th = hash(&[&client_body, server_body]);
    (server, HandKeys::new(suite, th, secrets.client_to_server, secrets.server_to_client, secrets.exporter))
}
