//! Driving the state machines, honestly and otherwise.

#![allow(clippy::unwrap_used)]

use super::*;

pub(crate) use super::common::hand::{frame, sign_server_hello};
use super::common::hand::{hand_client, hand_server};

pub(crate) fn start_client(config: ClientConfig) -> (ExpectServerHello, Vec<u8>) {
    ExpectServerHello::start(config, &mut DangerTestRng::for_testing_only(1)).expect("client starts")
}

/// A server that has read a ClientHello from a hand-driven X25519 client,
/// and that client's sealer: it can seal anything to the server.
pub(crate) fn server_awaiting_auth(suite: SuiteId) -> (ExpectClientAuth, Sealer) {
    let config = Arc::new(ServerConfig { suites: SuiteId::ALL.to_vec(), ..ServerConfig::new(ed25519_identity(9)) });
    let (server, keys) = hand_client(config, suite, 11);
    (server, keys.send)
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
    let identity = ed25519_identity(9);
    let (keys, server_frame) = hand_server(&client_frame, &identity, 12);
    let verified = client
        .read_server_hello(&server_frame)
        .expect("the hand-made ServerHello is valid")
        .verify_identity(&ServerPin::Key(identity.public().clone()))
        .expect("pinned");
    let (client, _) = verified.authenticate(Credential::Anonymous).expect("authenticate");
    (client, keys.send)
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
        assert_eq!(client.read_auth_result(&mut record, &mut Vec::new()).expect("accepted").1, ClientId([3; 16]));
    }
}
