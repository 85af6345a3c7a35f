//! The short-code PAKE inside the handshake (PROTOCOL.md §4.6.3), in
//! memory: the right code confirms both sides under new keys; a wrong code,
//! a man in the middle, any tampering or truncation fails before an
//! application message. Hand-driven peers built from the spec check the
//! implementation's TH', labels and SPAKE2 identities independently.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use crate::common;

use std::sync::Arc;

use common::hand::{hand_client, hand_server, hash, HandKeys};
use common::*;
use spake2::{Ed25519Group, Identity, Password as SpakePassword, Spake2};
use sxfer_proto::codec::Codec;
use sxfer_proto::handshake::client::{ExpectServerHello, IdentityVerified};
use sxfer_proto::handshake::server::ExpectClientHello;
use sxfer_proto::handshake::{
    next_auth_frame, next_hello_frame, AuthRequest, ClientConfig, Connection, Credential, ServerConfig, ServerPin,
    PAKE_CLIENT_ID,
};
use sxfer_proto::key_schedule::{derive_pake, PakeSecrets};
use sxfer_proto::kx::KexId;
use sxfer_proto::msgs::{AuthResult, ClientAuth, ClientId, Message};
use sxfer_proto::pake::{Code, PakeCredential, PakePassword, PasswordScope};
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::record::{ContentType, Sealer};
use sxfer_proto::secret::SecretBytes;
use sxfer_proto::{CloseCode, Error};

const CODE: &str = "7-amber-falcon-harbor";

fn password(code: &str) -> PakePassword {
    Code::parse(code).expect("code").password(PasswordScope::WholeCode)
}

fn x25519_client() -> ClientConfig {
    ClientConfig { kex: vec![KexId::X25519], ..ClientConfig::default() }
}

fn server_config() -> Arc<ServerConfig> {
    Arc::new(ServerConfig::new(ed25519_identity(3)))
}

/// Both ends of a PAKE handshake, and what each sent last.
struct Run {
    client: Result<Connection, Error>,
    server: Result<Connection, Error>,
    /// What `read_auth_result` asked the client to send (PakeConfirm or Close).
    client_reply: Vec<u8>,
    /// What `read_pake_confirm` asked the server to send (Close on a wrong code).
    server_reply: Vec<u8>,
}

/// Drive a PAKE handshake with real state machines; `attacker` sees and may
/// rewrite every frame (an empty result drops it).
fn run(
    client_password: &PakePassword,
    server_password: &PakePassword,
    mut attacker: impl FnMut(Flight, Vec<u8>) -> Vec<u8>,
) -> Run {
    let mut outcome = Run {
        client: Err(Error::Truncated),
        server: Err(Error::Truncated),
        client_reply: vec![],
        server_reply: vec![],
    };
    let mut client_rng = DangerTestRng::for_testing_only(1);
    let mut server_rng = DangerTestRng::for_testing_only(2);
    let (client, hello) = ExpectServerHello::start(x25519_client(), &mut client_rng).expect("start");
    let hello = attacker(Flight::ClientHello, hello);
    let Some(len) = frame_or(&hello, next_hello_frame, &mut outcome.server) else { return outcome };
    let (server, hello) =
        ExpectClientHello::new(server_config()).read_client_hello(&hello[..len], &mut server_rng).expect("hello");
    let hello = attacker(Flight::ServerHello, hello);
    let Some(len) = frame_or(&hello, next_hello_frame, &mut outcome.client) else { return outcome };
    let verified = client.read_server_hello(&hello[..len]).and_then(|c| c.verify_identity(&ServerPin::PakeOnly));
    let credential = PakeCredential::new(client_password, &mut DangerTestRng::for_testing_only(3));
    let (client, auth) = verified.and_then(|v| v.authenticate(Credential::Pake(credential))).expect("authenticate");

    let mut auth = attacker(Flight::ClientAuth, auth);
    let Some(len) = frame_or(&auth, next_auth_frame, &mut outcome.server) else { return outcome };
    let pending = match server.read_client_auth(&mut auth[..len]) {
        Ok(pending) => pending,
        Err(e) => return Run { server: Err(e), ..outcome },
    };
    assert!(matches!(pending.request(), AuthRequest::Pake));
    let mut result = Vec::new();
    let server = match pending.accept_pake(server_password, &mut DangerTestRng::for_testing_only(4), &mut result) {
        Ok(server) => server,
        Err(e) => return Run { server: Err(e), ..outcome },
    };

    let mut result = attacker(Flight::AuthResult, result);
    let Some(len) = frame_or(&result, next_auth_frame, &mut outcome.client) else { return outcome };
    outcome.client = client.read_auth_result(&mut result[..len], &mut outcome.client_reply).map(|(c, id)| {
        assert_eq!(id, PAKE_CLIENT_ID);
        c
    });

    let mut confirm = attacker(Flight::PakeConfirm, outcome.client_reply.clone());
    let Some(len) = frame_or(&confirm, next_auth_frame, &mut outcome.server) else { return outcome };
    outcome.server = server.read_pake_confirm(&mut confirm[..len], &mut outcome.server_reply);
    outcome
}

fn frame_or<T>(
    wire: &[u8],
    next: fn(&[u8]) -> Result<Option<usize>, Error>,
    slot: &mut Result<T, Error>,
) -> Option<usize> {
    match next(wire) {
        Ok(Some(len)) => Some(len),
        Ok(None) => {
            *slot = Err(Error::Truncated);
            None
        }
        Err(e) => {
            *slot = Err(e);
            None
        }
    }
}

/// TH' and the derived secrets, computed by the test from the spec.
fn spec_secrets(keys: &HandKeys, k: &[u8], msg_a: &[u8], msg_b: &[u8]) -> PakeSecrets {
    let th = hash(&[&keys.transcript_hash, &[msg_a.len() as u8], msg_a, &[msg_b.len() as u8], msg_b]);
    derive_pake(&keys.exporter, &SecretBytes::new(k.to_vec()), &th).expect("derive")
}

fn spake_identities() -> (Identity, Identity) {
    (Identity::new(b"SXFR/1 pake client"), Identity::new(b"SXFR/1 pake server"))
}

/// A real client, unpinned, that has sent its PAKE ClientAuth to a hand
/// server; returns it, the hand server's keys and SPAKE2 side A's message.
fn client_opposite_hand_server(code: &str) -> (sxfer_proto::handshake::client::ExpectAuthResult, HandKeys, Vec<u8>) {
    let (client, hello) = ExpectServerHello::start(x25519_client(), &mut DangerTestRng::for_testing_only(1)).unwrap();
    let (mut keys, server_hello) = hand_server(&hello, &ed25519_identity(66), 50);
    let verified: IdentityVerified =
        client.read_server_hello(&server_hello).unwrap().verify_identity(&ServerPin::PakeOnly).unwrap();
    let credential = PakeCredential::new(&password(code), &mut DangerTestRng::for_testing_only(3));
    let (client, auth) = verified.authenticate(Credential::Pake(credential)).unwrap();
    let ClientAuth::Pake { message } = ClientAuth::decode(&keys.open(&auth)).unwrap() else { panic!("not a PAKE") };
    (client, keys, message)
}

#[test]
fn the_right_code_confirms_both_sides_under_new_keys() {
    let code = password(CODE);
    let outcome = run(&code, &code, no_attacker);
    let (mut client, mut server) = (outcome.client.expect("client"), outcome.server.expect("server"));
    assert!(outcome.server_reply.is_empty());
    assert_eq!(client.exporter(), server.exporter(), "both hold the same exporter'");

    // The same hellos (same seeds) without the PAKE: the exporter changed.
    let identity = ed25519_identity(3);
    let pin = ServerPin::Fingerprint(identity.public().fingerprint());
    let plain = handshake(x25519_client(), server_config(), &pin, Credential::Anonymous, no_attacker);
    let (plain_client, _) = plain.client.expect("plain");
    assert_ne!(plain_client.exporter(), client.exporter(), "K is bound into the key schedule");

    let mut wire = Vec::new();
    client.send_message(&Message::Ack { transfer: 1, offset: 2 }, &mut wire).unwrap();
    assert_eq!(
        read_all(&mut server, &mut wire).unwrap(),
        vec![OwnedEvent::Message(Message::Ack { transfer: 1, offset: 2 })]
    );
    let mut wire = Vec::new();
    server.send_message(&Message::Done { transfer: 1 }, &mut wire).unwrap();
    server.close(CloseCode::Normal, &mut wire).unwrap();
    let events = read_all(&mut client, &mut wire).unwrap();
    assert_eq!(events, vec![OwnedEvent::Message(Message::Done { transfer: 1 }), OwnedEvent::Closed(CloseCode::Normal)]);
}

#[test]
fn a_wrong_code_fails_on_both_sides_before_any_message() {
    let outcome = run(&password(CODE), &password("7-amber-falcon-heart"), no_attacker);
    assert_eq!(outcome.client.err(), Some(Error::WrongCode));
    assert_eq!(outcome.server.err(), Some(Error::WrongCode), "the client's Close(0x0005) tells the server");
    assert!(!outcome.client_reply.is_empty() && !outcome.server_reply.is_empty(), "both close");
    assert!(Error::WrongCode.to_string().contains("wrong code"));
}

#[test]
fn the_nameplate_is_part_of_a_direct_password_but_not_of_a_relay_one() {
    let (mine, theirs) = (Code::parse("7-amber-falcon-harbor").unwrap(), Code::parse("8-amber-falcon-harbor").unwrap());
    let direct = run(&mine.password(PasswordScope::WholeCode), &theirs.password(PasswordScope::WholeCode), no_attacker);
    assert_eq!(direct.client.err(), Some(Error::WrongCode));
    let relay = run(&mine.password(PasswordScope::WordsOnly), &theirs.password(PasswordScope::WordsOnly), no_attacker);
    assert!(relay.client.is_ok() && relay.server.is_ok());
}

/// The attacker runs its own key exchange with each side (the client pins
/// nothing) and relays the SPAKE2 messages unchanged. Both PAKE runs then
/// agree on K, but K is bound to each side's own handshake: nothing confirms.
#[test]
fn a_man_in_the_middle_who_relays_the_pake_cannot_complete() {
    let (client, mut to_client, msg_a) = client_opposite_hand_server(CODE);
    let (server, mut to_server) = hand_client(server_config(), to_client.suite, 60);
    let mut auth = to_server.seal(&ClientAuth::Pake { message: msg_a }.to_bytes());
    let pending = server.read_client_auth(&mut auth).unwrap();
    let mut result = Vec::new();
    let server = pending.accept_pake(&password(CODE), &mut DangerTestRng::for_testing_only(4), &mut result).unwrap();
    let mut relayed = to_client.seal(&to_server.open(&result));
    let mut reply = Vec::new();
    assert_eq!(client.read_auth_result(&mut relayed, &mut reply).err(), Some(Error::WrongCode));
    assert_eq!(to_client.open_close(&reply), Some(CloseCode::AuthFailed), "Close(0x0005) under the old c2s key");
    // Nor can the attacker confirm to the server: relay the Close, or guess.
    let mut close = Vec::new();
    to_server.send.seal(ContentType::Close, &0x0005u16.to_be_bytes(), &mut close).unwrap();
    let mut out = Vec::new();
    assert_eq!(server.read_pake_confirm(&mut close, &mut out).err(), Some(Error::WrongCode));
    assert!(!out.is_empty(), "the server closes too");
}

/// A hand server built from the spec with the right code is accepted (so
/// TH', labels and identities match PROTOCOL.md), and the client's
/// PakeConfirm is the spec's value; a changed SPAKE2 message or confirm is not.
#[test]
fn a_spec_server_is_confirmed_and_a_tampered_answer_is_not() {
    for tamper in [None, Some("message"), Some("confirm"), Some("side")] {
        let (client, mut keys, msg_a) = client_opposite_hand_server(CODE);
        let (a, b) = spake_identities();
        let spake_pw = SpakePassword::new(CODE.as_bytes());
        let (state, mut msg_b) =
            Spake2::<Ed25519Group>::start_b_with_rng(&spake_pw, &a, &b, DangerTestRng::for_testing_only(8));
        let k = state.finish(&msg_a).unwrap();
        let secrets = spec_secrets(&keys, &k, &msg_a, &msg_b);
        let mut confirm: [u8; 32] = secrets.server_confirm.expose().try_into().unwrap();
        match tamper {
            Some("message") => msg_b[5] ^= 0x01,
            Some("confirm") => confirm[0] ^= 0x80,
            Some(_) => msg_b[0] = b'A', // a reflected side-A message
            None => {}
        }
        let mut record = keys.seal(&AuthResult::Pake { message: msg_b, confirm }.to_bytes());
        let mut reply = Vec::new();
        let result = client.read_auth_result(&mut record, &mut reply);
        let Some(what) = tamper else {
            let (mut connection, _) = result.expect("a spec server is accepted");
            assert_eq!(keys.open(&reply), secrets.client_confirm.expose(), "PakeConfirm = client_confirm");
            assert_eq!(connection.exporter(), &secrets.secrets.exporter);
            // The client now reads s2c' from sequence 0.
            let mut new_keys = Sealer::new(keys.suite, secrets.secrets.server_to_client.clone()).unwrap();
            let mut wire = Vec::new();
            new_keys.seal(ContentType::Message, &Message::Done { transfer: 9 }.to_bytes(), &mut wire).unwrap();
            assert_eq!(
                read_all(&mut connection, &mut wire).unwrap(),
                vec![OwnedEvent::Message(Message::Done { transfer: 9 })]
            );
            continue;
        };
        let error = result.err().expect(what);
        assert!(matches!(error, Error::WrongCode | Error::PeerMisbehaved(_)), "{what}: {error}");
        if error == Error::WrongCode {
            assert_eq!(keys.open_close(&reply), Some(CloseCode::AuthFailed), "{what}");
        }
    }
}

/// A hand client built from the spec is let in; a tampered side-A message,
/// a wrong confirm, an application message or a data record in the
/// PakeConfirm's place is not.
#[test]
fn a_spec_client_is_confirmed_and_anything_else_in_its_place_is_not() {
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Instead {
        Nothing,
        TamperedMessage,
        WrongConfirm,
        ApplicationMessage,
        DataRecord,
    }
    use Instead::*;
    for instead in [Nothing, TamperedMessage, WrongConfirm, ApplicationMessage, DataRecord] {
        let (server, mut keys) = hand_client(server_config(), SuiteId::Aes256Gcm, 61);
        let (a, b) = spake_identities();
        let spake_pw = SpakePassword::new(CODE.as_bytes());
        let (state, mut msg_a) =
            Spake2::<Ed25519Group>::start_a_with_rng(&spake_pw, &a, &b, DangerTestRng::for_testing_only(9));
        let sent_a = msg_a.clone();
        if instead == TamperedMessage {
            msg_a[7] ^= 0x04;
        }
        let mut auth = keys.seal(&ClientAuth::Pake { message: msg_a.clone() }.to_bytes());
        let pending = server.read_client_auth(&mut auth).unwrap();
        let mut out = Vec::new();
        let accepted = pending.accept_pake(&password(CODE), &mut DangerTestRng::for_testing_only(4), &mut out);
        let server = match accepted {
            Ok(server) => server,
            Err(error) => {
                // Not a curve point: refused before the server says anything.
                assert_eq!((instead, &error), (TamperedMessage, &Error::PeerMisbehaved("invalid SPAKE2 message")));
                assert!(out.is_empty());
                continue;
            }
        };
        let AuthResult::Pake { message: msg_b, confirm } = AuthResult::decode(&keys.open(&out)).unwrap() else {
            panic!("expected a PAKE result")
        };
        let k = state.finish(&msg_b).unwrap();
        let secrets = spec_secrets(&keys, &k, &sent_a, &msg_b);
        let server_confirm_ok = confirm == secrets.server_confirm.expose();
        assert_eq!(server_confirm_ok, instead != TamperedMessage, "{instead:?}");
        let mut client_confirm = secrets.client_confirm.expose().to_vec();
        let mut record = Vec::new();
        match instead {
            Nothing | TamperedMessage => {}
            WrongConfirm => client_confirm[31] ^= 1,
            ApplicationMessage => keys
                .send
                .seal(ContentType::Message, &Message::Ack { transfer: 1, offset: 0 }.to_bytes(), &mut record)
                .unwrap(),
            DataRecord => keys.send.seal(ContentType::Data, &client_confirm, &mut record).unwrap(),
        }
        if record.is_empty() {
            record = keys.seal(&client_confirm);
        }
        let mut out = Vec::new();
        let result = server.read_pake_confirm(&mut record, &mut out);
        match instead {
            Nothing => {
                let mut connection = result.expect("a spec client is let in");
                assert_eq!(connection.exporter(), &secrets.secrets.exporter);
                let mut new_keys = Sealer::new(keys.suite, secrets.secrets.client_to_server.clone()).unwrap();
                let mut wire = Vec::new();
                new_keys.seal(ContentType::Message, &Message::Done { transfer: 3 }.to_bytes(), &mut wire).unwrap();
                assert_eq!(
                    read_all(&mut connection, &mut wire).unwrap(),
                    vec![OwnedEvent::Message(Message::Done { transfer: 3 })]
                );
            }
            TamperedMessage | WrongConfirm => {
                assert_eq!(result.err(), Some(Error::WrongCode), "{instead:?}");
                assert!(!out.is_empty(), "{instead:?}: the server closes");
            }
            ApplicationMessage | DataRecord => {
                assert!(matches!(result.err(), Some(Error::PeerMisbehaved(_))), "{instead:?}");
            }
        }
    }
}

/// Flip a bit in any PAKE flight, or cut or drop it: nobody completes.
#[test]
fn tampered_truncated_or_dropped_pake_flights_fail() {
    let code = password(CODE);
    for flight in [Flight::ClientAuth, Flight::AuthResult, Flight::PakeConfirm] {
        for at in [0usize, 4, 5, 20, 40] {
            let outcome = run(&code, &code, |f, mut bytes| {
                if f == flight {
                    let at = at.min(bytes.len() - 1);
                    bytes[at] ^= 0x10;
                }
                bytes
            });
            assert!(outcome.server.is_err(), "{flight:?} flipped at {at}: the server must not complete");
            if flight != Flight::PakeConfirm {
                assert!(outcome.client.is_err(), "{flight:?} flipped at {at}");
            }
        }
        for keep in [0usize, 3, 4, 10, 30] {
            let outcome = run(&code, &code, |f, mut bytes| {
                if f == flight {
                    bytes.truncate(keep.min(bytes.len() - 1));
                }
                bytes
            });
            assert!(outcome.server.is_err(), "{flight:?} cut to {keep}");
            if flight == Flight::PakeConfirm {
                // The client has confirmed; the server has not and says so.
                assert!(outcome.client.is_ok());
                assert!(matches!(outcome.server.err(), Some(Error::Truncated | Error::Malformed(_))));
            } else {
                assert!(outcome.client.is_err(), "{flight:?} cut to {keep}");
            }
        }
    }
}

#[test]
fn an_unpinned_server_gets_no_other_credential() {
    let (client, hello) = ExpectServerHello::start(x25519_client(), &mut DangerTestRng::for_testing_only(1)).unwrap();
    let (_keys, server_hello) = hand_server(&hello, &ed25519_identity(66), 50);
    let verified = client.read_server_hello(&server_hello).unwrap().verify_identity(&ServerPin::PakeOnly).unwrap();
    let credential = Credential::Password { username: alice(), password: common::password() };
    assert!(matches!(verified.authenticate(credential).err(), Some(Error::Misuse(_))));
}

/// A server that does not do PAKE turns it away with a plain rejection, and
/// cannot let it in by mistake with `accept`.
#[test]
fn a_server_without_pake_rejects_it_plainly() {
    for reject in [true, false] {
        // A real PAKE client opposite a hand server, and a real server
        // opposite a hand client carrying a real PAKE message.
        let (client, mut keys, _) = client_opposite_hand_server(CODE);
        let (server, mut to_server) = hand_client(server_config(), SuiteId::Aes256Gcm, 62);
        let credential = PakeCredential::new(&password(CODE), &mut DangerTestRng::for_testing_only(5));
        let mut auth = to_server.seal(&ClientAuth::Pake { message: credential.message().to_vec() }.to_bytes());
        let pending = server.read_client_auth(&mut auth).unwrap();
        let mut out = Vec::new();
        if reject {
            pending.reject("login failed", &mut out).unwrap();
            let result = AuthResult::decode(&to_server.open(&out[..next_auth_frame(&out).unwrap().unwrap()])).unwrap();
            assert_eq!(result, AuthResult::Rejected { message: "login failed".into() });
            // And a PAKE client reads such a rejection as one.
            let mut record = keys.seal(&result.to_bytes());
            let error = client.read_auth_result(&mut record, &mut Vec::new()).err();
            assert_eq!(error, Some(Error::AuthRejected("login failed".into())));
        } else {
            assert!(matches!(pending.accept(ClientId([1; 16]), &mut out).err(), Some(Error::Misuse(_))));
            assert!(out.is_empty(), "nothing sent");
            // A server that answers a PAKE with a plain acceptance is refused.
            let mut record = keys.seal(&AuthResult::Accepted { client_id: ClientId([1; 16]) }.to_bytes());
            assert!(matches!(
                client.read_auth_result(&mut record, &mut Vec::new()).err(),
                Some(Error::PeerMisbehaved(_))
            ));
        }
    }
}

/// Golden bytes: the PAKE messages' layouts (§4.6.1-4.6.3), and side A's
/// message for a fixed code and RNG, which pins the SPAKE2 variant (a
/// change of the `spake2` crate's group, constants or password hash would
/// show here first).
#[test]
fn pake_messages_have_the_specified_bytes() {
    let auth = ClientAuth::Pake { message: vec![0x41; 33] };
    assert_eq!(hex::encode(auth.to_bytes()), format!("0521{}", "41".repeat(33)));
    let result = AuthResult::Pake { message: vec![0x42; 33], confirm: [0xcc; 32] };
    assert_eq!(hex::encode(result.to_bytes()), format!("0221{}{}", "42".repeat(33), "cc".repeat(32)));
    for bad in ["0500", "0200", &format!("0541{}", "41".repeat(65))] {
        let bytes = hex::decode(bad).unwrap();
        assert!(ClientAuth::decode(&bytes).is_err() && AuthResult::decode(&bytes).is_err(), "{bad}");
    }
    let credential = PakeCredential::new(&password(CODE), &mut DangerTestRng::for_testing_only(3));
    assert_eq!(hex::encode(credential.message()), "419664e54ae1943ca6e9aed69fd2ee240e417ed3a9635381f8187165bf9d919e21");
}
