//! Driving the state machines, honestly and otherwise.

#![allow(clippy::unwrap_used)]

use super::*;

pub(crate) fn frame(body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).expect("test frames are small");
    [&len.to_be_bytes()[..], body].concat()
}

pub(crate) fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, &parts.concat()).as_ref());
    out
}

pub(crate) fn start_client(config: ClientConfig) -> (ExpectServerHello, Vec<u8>) {
    ExpectServerHello::start(config, &mut DangerTestRng::for_testing_only(1)).expect("client starts")
}

/// A server that has read a ClientHello from a hand-driven X25519 client,
/// and that client's sealer: it can seal anything to the server.
pub(crate) fn server_awaiting_auth(suite: SuiteId) -> (ExpectClientAuth, Sealer) {
    let mut rng = DangerTestRng::for_testing_only(11);
    let (kex, share) = ClientKex::generate(KexId::X25519, &mut rng).expect("x25519");
    let hello = ClientHello {
        versions: vec![VERSION_1],
        random: [1; 32],
        kex_offers: vec![KexShare { kex: KexId::X25519, share }],
        suites: vec![suite],
    };
    let client_body = hello.to_bytes();
    let config = Arc::new(ServerConfig { suites: SuiteId::ALL.to_vec(), ..ServerConfig::new(ed25519_identity(9)) });
    let (server, server_frame) =
        ExpectClientHello::new(config).read_client_hello(&frame(&client_body), &mut rng).expect("server answers");
    let server_body = &server_frame[FRAME_HEADER_LEN..];
    let server_hello = ServerHello::decode(server_body).expect("server hello");
    let shared = kex.complete(&server_hello.kex_share).expect("x25519");
    let secrets = derive(&shared, &client_body, server_body);
    (server, Sealer::new(suite, secrets.client_to_server).expect("sealer"))
}

/// An established server connection opposite a hand-driven client.
pub(crate) fn server_connection(suite: SuiteId) -> (Connection, Sealer) {
    let (server, mut evil) = server_awaiting_auth(suite);
    let mut record = Vec::new();
    evil.seal(ContentType::Message, &ClientAuth::Anonymous.to_bytes(), &mut record).expect("seal");
    let pending = server.read_client_auth(&mut record).expect("anonymous is fine");
    let connection = pending.accept(ClientId([7; 16]), &mut Vec::new()).expect("accept");
    (connection, evil)
}

/// A real client that has sent its credential to a hand-driven server, and
/// that server's sealer for the AuthResult.
pub(crate) fn client_awaiting_result(suite: SuiteId) -> (ExpectAuthResult, Sealer) {
    let config = ClientConfig { kex: vec![KexId::X25519], suites: vec![suite] };
    let (client, client_frame) = start_client(config);
    let client_body = &client_frame[FRAME_HEADER_LEN..];
    let offer = ClientHello::decode(client_body).expect("client hello").kex_offers.remove(0);
    let mut rng = DangerTestRng::for_testing_only(12);
    let (kex_share, shared) = kx::server_respond(offer.kex, &offer.share, &mut rng).expect("x25519");
    let identity = ed25519_identity(9);
    let hello = ServerHello {
        version: VERSION_1,
        random: [2; 32],
        kex: offer.kex,
        kex_share,
        suite,
        identity: identity.public().to_wire(),
        signature: Signature { scheme: SignatureScheme::Ed25519, bytes: Vec::new() },
    };
    let server_frame = sign_server_hello(hello, client_body, &identity);
    let secrets = derive(&shared, client_body, &server_frame[FRAME_HEADER_LEN..]);
    let verified = client
        .read_server_hello(&server_frame)
        .expect("the hand-made ServerHello is valid")
        .verify_identity(&ServerPin::Key(identity.public().clone()))
        .expect("pinned");
    let (client, _) = verified.authenticate(Credential::Anonymous).expect("authenticate");
    (client, Sealer::new(suite, secrets.server_to_client).expect("sealer"))
}

/// Sign `hello` as PROTOCOL.md §4.4 says; returns the ServerHello frame.
pub(crate) fn sign_server_hello(mut hello: ServerHello, client_body: &[u8], identity: &PrivateIdentity) -> Vec<u8> {
    let mut unsigned = Vec::new();
    hello.encode_unsigned(&mut unsigned);
    let signed_hash = hash(&[client_body, &unsigned]);
    hello.signature = identity.sign(&[labels::SERVER_SIGNATURE_CONTEXT, &[0x00], &signed_hash].concat()).expect("sign");
    frame(&hello.to_bytes())
}

pub(crate) fn derive(
    shared: &sxfer_proto::secret::SecretBytes,
    client_body: &[u8],
    server_body: &[u8],
) -> HandshakeSecrets {
    key_schedule::derive(shared, &hash(&[client_body, server_body])).expect("key schedule")
}

/// Both ends of an honest handshake (the shared harness), client first.
pub(crate) fn established(suite: SuiteId) -> (Connection, Connection) {
    let identity = ed25519_identity(3);
    let config = Arc::new(ServerConfig { suites: vec![suite], ..ServerConfig::new(identity.clone()) });
    let pin = ServerPin::Fingerprint(identity.public().fingerprint());
    let client_config = ClientConfig { suites: vec![suite], ..ClientConfig::default() };
    let outcome = handshake(client_config, config, &pin, Credential::Anonymous, common::no_attacker);
    (outcome.client.expect("client").0, outcome.server.expect("server"))
}

#[test]
pub(crate) fn hand_driven_peers_are_accepted() {
    // The evil peers must be protocol-correct, or the sealed properties above
    // only test the AEAD.
    for suite in SuiteId::ALL {
        let (mut server, mut evil) = server_connection(suite);
        let mut wire = Vec::new();
        evil.seal(ContentType::Message, &Message::Ack { transfer: 1, offset: 2 }.to_bytes(), &mut wire).expect("seal");
        let event = server.read(&mut wire).expect("read").map(|(event, _)| event);
        assert_eq!(event, Some(Event::Message(Message::Ack { transfer: 1, offset: 2 })));

        let (client, mut evil) = client_awaiting_result(suite);
        let mut record = Vec::new();
        let accepted = AuthResult::Accepted { client_id: ClientId([3; 16]) };
        evil.seal(ContentType::Message, &accepted.to_bytes(), &mut record).expect("seal");
        assert_eq!(client.read_auth_result(&mut record).expect("accepted").1, ClientId([3; 16]));
    }
}
