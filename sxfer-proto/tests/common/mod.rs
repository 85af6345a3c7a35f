//! In-memory two-party harness: a client and a server state machine with an
//! optional attacker between them that sees and may rewrite every frame.
#![allow(dead_code)]

pub mod hand;
pub mod worked;

use std::sync::{Arc, OnceLock};

use aws_lc_rs::digest::{digest, SHA256};
use rand_core::{CryptoRng, RngCore};
use sxfer_proto::handshake::client::ExpectServerHello;
use sxfer_proto::handshake::server::{refusal_frame, ExpectClientHello};
use sxfer_proto::handshake::{
    next_hello_frame, next_record_frame, AuthRequest, ClientConfig, Connection, Credential, Event, ServerConfig,
    ServerPin,
};
use sxfer_proto::identity::PrivateIdentity;
use sxfer_proto::msgs::{ClientId, Message, Username};
use sxfer_proto::secret::Password;
use sxfer_proto::Error;

/// A deterministic RNG for tests only: SHA-256(seed ‖ counter) blocks.
pub struct DangerTestRng {
    seed: [u8; 32],
    counter: u64,
}

impl DangerTestRng {
    pub fn for_testing_only(seed: u8) -> Self {
        DangerTestRng { seed: [seed; 32], counter: 0 }
    }
}

impl RngCore for DangerTestRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_be_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_be_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(32) {
            let block = digest(&SHA256, &[&self.seed[..], &self.counter.to_be_bytes()].concat());
            self.counter += 1;
            chunk.copy_from_slice(&block.as_ref()[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for DangerTestRng {}

pub fn ed25519_identity(seed: u8) -> Arc<PrivateIdentity> {
    Arc::new(PrivateIdentity::generate_ed25519(&mut DangerTestRng::for_testing_only(seed)).expect("ed25519"))
}

/// RSA key generation is slow: one RSA-3072 key shared by all tests.
pub fn rsa_identity() -> Arc<PrivateIdentity> {
    static KEY: OnceLock<Arc<PrivateIdentity>> = OnceLock::new();
    KEY.get_or_init(|| Arc::new(PrivateIdentity::generate_rsa(3072).expect("rsa"))).clone()
}

pub fn client_rsa_identity() -> Arc<PrivateIdentity> {
    static KEY: OnceLock<Arc<PrivateIdentity>> = OnceLock::new();
    KEY.get_or_init(|| Arc::new(PrivateIdentity::generate_rsa(2048).expect("rsa"))).clone()
}

pub fn alice() -> Username {
    Username::parse("alice").expect("name")
}

pub fn password() -> Password {
    Password::new("correct horse battery staple".into())
}

/// Which frame of the handshake the attacker is looking at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flight {
    ClientHello,
    ServerHello,
    ClientAuth,
    AuthResult,
    /// The client's key confirmation after a PAKE (§4.6.3).
    PakeConfirm,
}

pub struct Outcome {
    pub client: Result<(Connection, ClientId), Error>,
    pub server: Result<Connection, Error>,
    /// Bytes the client sent after its ClientHello (credentials).
    pub client_sent_after_hello: usize,
    /// What the server application was asked to decide, if anything.
    pub request_seen: bool,
}

/// The server application's decision for tests: accept the right password,
/// any proven key, registrations and anonymous.
pub fn default_decision(request: &AuthRequest) -> bool {
    match request {
        AuthRequest::Password { username, password: given } => username == &alice() && given == &password(),
        AuthRequest::PublicKey { .. } | AuthRequest::Register { .. } | AuthRequest::Anonymous => true,
        AuthRequest::Pake => false,
    }
}

/// Drive a whole handshake in memory. `attacker` may rewrite any frame in
/// flight (it gets the frame bytes; an empty result drops the frame).
pub fn handshake(
    client_config: ClientConfig,
    server_config: Arc<ServerConfig>,
    pin: &ServerPin,
    credential: Credential<'_>,
    mut attacker: impl FnMut(Flight, Vec<u8>) -> Vec<u8>,
) -> Outcome {
    let mut client_rng = DangerTestRng::for_testing_only(1);
    let mut server_rng = DangerTestRng::for_testing_only(2);
    let mut outcome = Outcome {
        client: Err(Error::Truncated),
        server: Err(Error::Truncated),
        client_sent_after_hello: 0,
        request_seen: false,
    };

    let (client, client_hello) = match ExpectServerHello::start(client_config, &mut client_rng) {
        Ok(started) => started,
        Err(e) => {
            outcome.client = Err(e);
            return outcome;
        }
    };
    // Client -> server: ClientHello.
    let wire = attacker(Flight::ClientHello, client_hello);
    let Some(frame) = one_frame(&wire, next_hello_frame, &mut outcome.server) else {
        return outcome;
    };
    let server = ExpectClientHello::new(server_config);
    // A server that shares nothing with the client answers with a refusal.
    let (server, server_hello) = match server.read_client_hello(&wire[..frame], &mut server_rng) {
        Ok((server, hello)) => (Some(server), hello),
        Err(e) => {
            let refusal = refusal_frame(&e);
            outcome.server = Err(e);
            match refusal {
                Some(refusal) => (None, refusal),
                None => return outcome,
            }
        }
    };
    // Server -> client: ServerHello (or the refusal).
    let wire = attacker(Flight::ServerHello, server_hello);
    let Some(frame) = one_frame(&wire, next_hello_frame, &mut outcome.client) else {
        return outcome;
    };
    let checked = match client.read_server_hello(&wire[..frame]) {
        Ok(checked) => checked,
        Err(e) => {
            outcome.client = Err(e);
            return outcome;
        }
    };
    let verified = match checked.verify_identity(pin) {
        Ok(verified) => verified,
        Err(e) => {
            outcome.client = Err(e);
            return outcome;
        }
    };
    let (client, auth) = match verified.authenticate(credential) {
        Ok(next) => next,
        Err(e) => {
            outcome.client = Err(e);
            return outcome;
        }
    };
    outcome.client_sent_after_hello = auth.len();
    let Some(server) = server else {
        return outcome;
    };
    // Client -> server: credential.
    let mut wire = attacker(Flight::ClientAuth, auth);
    let Some(frame) = one_frame(&wire, next_record_frame, &mut outcome.server) else {
        return outcome;
    };
    let pending = match server.read_client_auth(&mut wire[..frame]) {
        Ok(pending) => pending,
        Err(e) => {
            outcome.server = Err(e);
            return outcome;
        }
    };
    outcome.request_seen = true;
    let mut result = Vec::new();
    if default_decision(pending.request()) {
        match pending.accept(ClientId([7; 16]), &mut result) {
            Ok(connection) => outcome.server = Ok(connection),
            Err(e) => {
                outcome.server = Err(e);
                return outcome;
            }
        }
    } else if let Err(e) = pending.reject("login failed", &mut result) {
        outcome.server = Err(e);
        return outcome;
    }
    // Server -> client: AuthResult.
    let mut wire = attacker(Flight::AuthResult, result);
    let Some(frame) = one_frame(&wire, next_record_frame, &mut outcome.client) else {
        return outcome;
    };
    outcome.client = client.read_auth_result(&mut wire[..frame], &mut Vec::new());
    outcome
}

/// Exactly the first frame of `wire`, or the reason there is none.
fn one_frame<T>(
    wire: &[u8],
    next: fn(&[u8]) -> Result<Option<usize>, Error>,
    error_slot: &mut Result<T, Error>,
) -> Option<usize> {
    match next(wire) {
        Ok(Some(len)) => Some(len),
        Ok(None) => {
            *error_slot = Err(Error::Truncated);
            None
        }
        Err(e) => {
            *error_slot = Err(e);
            None
        }
    }
}

pub fn no_attacker(_: Flight, bytes: Vec<u8>) -> Vec<u8> {
    bytes
}

/// Read every event from `wire`, in order, until it is used up.
pub fn read_all(connection: &mut Connection, wire: &mut [u8]) -> Result<Vec<OwnedEvent>, Error> {
    let mut events = Vec::new();
    let mut at = 0;
    while at < wire.len() {
        match connection.read(&mut wire[at..])? {
            None => return Err(Error::Truncated),
            Some((event, used)) => {
                events.push(OwnedEvent::from(event));
                at += used;
            }
        }
    }
    Ok(events)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedEvent {
    Message(Message),
    Data(Vec<u8>),
    KeyUpdate,
    Closed(sxfer_proto::CloseCode),
}

impl From<Event<'_>> for OwnedEvent {
    fn from(event: Event<'_>) -> Self {
        match event {
            Event::Message(m) => OwnedEvent::Message(m),
            Event::Data(d) => OwnedEvent::Data(d.to_vec()),
            Event::KeyUpdate => OwnedEvent::KeyUpdate,
            Event::Closed(code) => OwnedEvent::Closed(code),
        }
    }
}
