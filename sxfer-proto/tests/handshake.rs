//! Two-party handshake tests in memory: every combination completes, and an
//! attacker in the middle is always detected.

use crate::common;

use std::sync::Arc;

use common::*;
use sxfer_proto::codec::Codec;
use sxfer_proto::handshake::server::refusal_frame;
use sxfer_proto::handshake::{ClientConfig, Credential, ServerConfig, ServerPin};
use sxfer_proto::identity::PrivateIdentity;
use sxfer_proto::kx::KexId;
use sxfer_proto::msgs::{ClientHello, Message, Negotiated};
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::{CloseCode, Error};

fn server_config(identity: Arc<PrivateIdentity>, kex: &[KexId], suites: &[SuiteId]) -> Arc<ServerConfig> {
    Arc::new(ServerConfig { identity, kex: kex.to_vec(), suites: suites.to_vec() })
}

fn password_login<'a>() -> Credential<'a> {
    Credential::Password { username: alice(), password: password() }
}

fn pin_of(identity: &PrivateIdentity) -> ServerPin {
    ServerPin::Fingerprint(identity.public().fingerprint())
}

#[derive(Debug, Clone, Copy)]
enum Method {
    Password,
    Ed25519Key,
    RsaKey,
    Register,
    Anonymous,
}

fn credential<'a>(method: Method, ed: &'a PrivateIdentity, rsa: &'a PrivateIdentity) -> Credential<'a> {
    match method {
        Method::Password => Credential::Password { username: alice(), password: password() },
        Method::Ed25519Key => Credential::PublicKey { username: alice(), key: ed },
        Method::RsaKey => Credential::PublicKey { username: alice(), key: rsa },
        Method::Register => Credential::Register {
            username: alice(),
            password: Some(password()),
            key: Some(ed),
            invite: Some(sxfer_proto::secret::SecretBytes::new(b"sxfer-invite-test".to_vec())),
        },
        Method::Anonymous => Credential::Anonymous,
    }
}

/// Both directions carry a message, data and an authenticated close.
fn exchange(client: &mut sxfer_proto::handshake::Connection, server: &mut sxfer_proto::handshake::Connection) {
    let message = Message::Ack { transfer: 1, offset: 42 };
    let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    let mut wire = Vec::new();
    client.send_message(&message, &mut wire).expect("send");
    client.send_data(&data, &mut wire).expect("send");
    client.close(CloseCode::Normal, &mut wire).expect("close");
    let events = read_all(server, &mut wire).expect("server reads");
    assert_eq!(
        events,
        vec![
            OwnedEvent::Message(message.clone()),
            OwnedEvent::Data(data.clone()),
            OwnedEvent::Closed(CloseCode::Normal)
        ]
    );
    server.end_of_stream().expect("closed properly");

    let mut wire = Vec::new();
    server.send_data(&data, &mut wire).expect("send");
    server.close(CloseCode::Normal, &mut wire).expect("close");
    let events = read_all(client, &mut wire).expect("client reads");
    assert_eq!(events, vec![OwnedEvent::Data(data), OwnedEvent::Closed(CloseCode::Normal)]);
}

#[test]
fn every_kex_suite_identity_and_method_completes() {
    let ed_client = ed25519_identity(9);
    let rsa_client = client_rsa_identity();
    let mut completed = 0;
    for server_identity in [ed25519_identity(3), rsa_identity()] {
        for kex in KexId::ALL {
            for suite in SuiteId::ALL {
                for method in
                    [Method::Password, Method::Ed25519Key, Method::RsaKey, Method::Register, Method::Anonymous]
                {
                    let config = server_config(server_identity.clone(), &[kex], &[suite]);
                    let client_config = ClientConfig { kex: vec![kex], suites: vec![suite] };
                    let outcome = handshake(
                        client_config,
                        config,
                        &pin_of(&server_identity),
                        credential(method, &ed_client, &rsa_client),
                        no_attacker,
                    );
                    let context = format!("{kex:?} {suite:?} {method:?} {:?}", server_identity.public().key_type());
                    let (mut client, client_id) = outcome.client.unwrap_or_else(|e| panic!("{context}: client {e}"));
                    let mut server = outcome.server.unwrap_or_else(|e| panic!("{context}: server {e}"));
                    assert_eq!(client_id.0, [7; 16]);
                    assert_eq!(client.suite(), suite);
                    assert_eq!(client.exporter(), server.exporter(), "{context}");
                    exchange(&mut client, &mut server);
                    completed += 1;
                }
            }
        }
    }
    assert_eq!(completed, 2 * 2 * 5 * 5);
}

#[test]
fn defaults_choose_hybrid_kex_and_aes_gcm() {
    let identity = ed25519_identity(3);
    let outcome = handshake(
        ClientConfig::default(),
        Arc::new(ServerConfig::new(identity.clone())),
        &pin_of(&identity),
        Credential::Anonymous,
        no_attacker,
    );
    let (client, _) = outcome.client.expect("client");
    assert_eq!(client.suite(), SuiteId::Aes256Gcm);
}

#[test]
fn wrong_password_is_rejected_without_detail() {
    let identity = ed25519_identity(3);
    let outcome = handshake(
        ClientConfig::default(),
        Arc::new(ServerConfig::new(identity.clone())),
        &pin_of(&identity),
        Credential::Password { username: alice(), password: sxfer_proto::secret::Password::new("wrong".into()) },
        no_attacker,
    );
    assert_eq!(outcome.client.err(), Some(Error::AuthRejected("login failed".into())));
}

#[test]
fn no_common_suite_or_kex_fails() {
    let identity = ed25519_identity(3);
    let config = server_config(identity.clone(), &KexId::ALL, &[SuiteId::HmacSha256Ctr]);
    let outcome = handshake(ClientConfig::default(), config, &pin_of(&identity), Credential::Anonymous, no_attacker);
    assert_eq!(outcome.server.err(), Some(Error::NoCommon(Negotiated::Suite)));

    let config = server_config(identity.clone(), &[KexId::MlKem768X25519], &SuiteId::ALL);
    let client = ClientConfig { kex: vec![KexId::X25519], suites: SuiteId::DEFAULT.to_vec() };
    let outcome = handshake(client, config, &pin_of(&identity), Credential::Anonymous, no_attacker);
    assert_eq!(outcome.server.err(), Some(Error::NoCommon(Negotiated::KeyExchange)));
}

/// The server answers a hello it shares nothing with by a HelloRefusal
/// (PROTOCOL.md §4.7), and the client says what it offered in vain.
#[test]
fn the_client_is_told_which_offers_the_server_refused() {
    let identity = ed25519_identity(3);
    let defaults = Arc::new(ServerConfig::new(identity.clone()));
    let suites = |suites: &[SuiteId]| ClientConfig { suites: suites.to_vec(), ..ClientConfig::default() };
    let outcome =
        handshake(suites(&[SuiteId::Aes256Eax]), defaults.clone(), &pin_of(&identity), password_login(), no_attacker);
    assert_eq!(outcome.server.err(), Some(Error::NoCommon(Negotiated::Suite)));
    let refused = outcome.client.err().expect("the client fails");
    assert_eq!(refused.to_string(), "the server accepts none of the offered record suites (offered: aes-256-eax)");
    assert_eq!(refused, Error::OffersRefused { what: Negotiated::Suite, offered: "aes-256-eax".into() });
    assert_eq!(refused.close_code(), CloseCode::HandshakeFailure);
    assert_eq!(outcome.client_sent_after_hello, 0, "no credential after a refusal");

    let two = suites(&[SuiteId::Aes256Eax, SuiteId::HmacSha256Ctr]);
    let outcome = handshake(two, defaults.clone(), &pin_of(&identity), password_login(), no_attacker);
    assert_eq!(
        outcome.client.err().map(|e| e.to_string()).as_deref(),
        Some("the server accepts none of the offered record suites (offered: aes-256-eax, hmac-sha256-ctr)")
    );

    let hybrid_only = server_config(identity.clone(), &[KexId::MlKem768X25519], &SuiteId::DEFAULT);
    let client = ClientConfig { kex: vec![KexId::X25519], ..ClientConfig::default() };
    let outcome = handshake(client, hybrid_only, &pin_of(&identity), password_login(), no_attacker);
    assert_eq!(
        outcome.client.err().map(|e| e.to_string()).as_deref(),
        Some("the server accepts none of the offered key exchanges (offered: x25519)")
    );

    // A ClientHello rewritten to offer only a future version.
    let future_only = |flight: Flight, bytes: Vec<u8>| {
        if flight != Flight::ClientHello {
            return bytes;
        }
        let mut hello = ClientHello::decode(&bytes[4..]).expect("decode");
        hello.versions = vec![0x0002];
        let body = hello.to_bytes();
        [&(body.len() as u32).to_be_bytes()[..], &body].concat()
    };
    let outcome = handshake(ClientConfig::default(), defaults, &pin_of(&identity), password_login(), future_only);
    assert_eq!(outcome.server.err(), Some(Error::NoCommon(Negotiated::Version)));
    assert_eq!(
        outcome.client.err().map(|e| e.to_string()).as_deref(),
        Some("the server accepts none of the offered protocol versions (offered: SXFR/1)")
    );
}

#[test]
fn the_hello_refusal_bytes_are_as_specified() {
    let refusal = refusal_frame(&Error::NoCommon(Negotiated::Suite)).expect("a refusal");
    // length 9 ‖ "SXFR" ‖ version 0x0000 ‖ code 0x0004 ‖ negotiated 0x03 (PROTOCOL.md §4.7).
    assert_eq!(hex::encode(&refusal), "00000009535846520000000403");
    let kex = refusal_frame(&Error::NoCommon(Negotiated::KeyExchange)).expect("a refusal");
    assert_eq!(hex::encode(&kex), "00000009535846520000000402");
    let version = refusal_frame(&Error::NoCommon(Negotiated::Version)).expect("a refusal");
    assert_eq!(hex::encode(&version), "00000009535846520000000401");
    // Every other failure sends nothing.
    for error in [Error::Malformed("x"), Error::PeerMisbehaved("x"), Error::Crypto, Error::Misuse("x")] {
        assert_eq!(refusal_frame(&error), None, "{error}");
    }
}

/// A refusal is unauthenticated: whatever it says, or whoever puts it in
/// place of the ServerHello, the client only stops, with nothing sent.
#[test]
fn a_forged_or_odd_refusal_only_stops_the_client() {
    let identity = ed25519_identity(3);
    let config = Arc::new(ServerConfig::new(identity.clone()));
    let forged = Error::OffersRefused { what: Negotiated::Suite, offered: "aes-256-gcm, chacha20-poly1305".into() };
    let cases = [
        ("forged suite refusal", "535846520000000403", Some(forged)),
        ("unspecified", "535846520000000400", Some(Error::PeerClosed(CloseCode::HandshakeFailure))),
        ("unknown negotiated", "5358465200000004ff", Some(Error::PeerClosed(CloseCode::HandshakeFailure))),
        ("another code", "535846520000099903", Some(Error::PeerClosed(CloseCode::Unknown(0x0999)))),
        ("trailing byte", "53584652000000040300", None),
        ("cut short", "5358465200000004", None),
    ];
    for (what, body, expected) in cases {
        let body = hex::decode(body).expect("hex");
        let outcome = handshake(
            ClientConfig::default(),
            config.clone(),
            &pin_of(&identity),
            password_login(),
            |flight, bytes| {
                if flight == Flight::ServerHello {
                    [&(body.len() as u32).to_be_bytes()[..], &body].concat()
                } else {
                    bytes
                }
            },
        );
        let error = outcome.client.err().expect(what);
        match expected {
            Some(expected) => assert_eq!(error, expected, "{what}"),
            None => assert!(matches!(error, Error::Malformed(_)), "{what}: {error}"),
        }
        assert_eq!(outcome.client_sent_after_hello, 0, "{what}");
    }
}

#[test]
fn substituted_server_identity_gets_no_credential() {
    let real = ed25519_identity(3);
    // The attacker runs a whole server of its own with its own key.
    let impostor = server_config(ed25519_identity(66), &KexId::ALL, &SuiteId::ALL);
    for pin in [ServerPin::Fingerprint(real.public().fingerprint()), ServerPin::Key(real.public().clone())] {
        let outcome = handshake(
            ClientConfig::default(),
            impostor.clone(),
            &pin,
            Credential::Password { username: alice(), password: password() },
            no_attacker,
        );
        assert_eq!(outcome.client.err(), Some(Error::IdentityMismatch));
        assert_eq!(outcome.client_sent_after_hello, 0, "no credential may leave the client");
        assert!(!outcome.request_seen);
    }
}

/// Flip every bit of every byte of each handshake flight (x25519, Ed25519
/// keep it fast); the hellos are exhaustive, the encrypted flights sampled.
#[test]
fn any_flipped_bit_in_the_handshake_fails() {
    let identity = ed25519_identity(3);
    let config = server_config(identity.clone(), &[KexId::X25519], &SuiteId::ALL);
    let client_config = || ClientConfig { kex: vec![KexId::X25519], suites: SuiteId::ALL.to_vec() };
    for flight in [Flight::ClientHello, Flight::ServerHello, Flight::ClientAuth, Flight::AuthResult] {
        // Learn the flight's length from a clean run.
        let mut len = 0;
        let clean =
            handshake(client_config(), config.clone(), &pin_of(&identity), Credential::Anonymous, |f, bytes| {
                if f == flight {
                    len = bytes.len();
                }
                bytes
            });
        assert!(clean.client.is_ok() && len > 0);
        let mut tried = 0;
        for byte in 0..len {
            for bit in 0..8 {
                let outcome = handshake(
                    client_config(),
                    config.clone(),
                    &pin_of(&identity),
                    Credential::Password { username: alice(), password: password() },
                    |f, mut bytes| {
                        if f == flight {
                            bytes[byte] ^= 1 << bit;
                        }
                        bytes
                    },
                );
                tried += 1;
                let failed = outcome.client.is_err() || outcome.server.is_err();
                assert!(failed, "{flight:?} byte {byte} bit {bit} went unnoticed");
                if flight == Flight::ServerHello {
                    // A tampered ServerHello is caught before any credential leaves.
                    assert_eq!(outcome.client_sent_after_hello, 0, "byte {byte} bit {bit}");
                }
                if let Err(e) = &outcome.client {
                    assert!(!matches!(e, Error::Misuse(_)), "{flight:?} {byte}/{bit}: {e}");
                }
            }
        }
        assert_eq!(tried, len * 8);
    }
}

/// Strip, reorder or add offers in the ClientHello: the server signs what it
/// received, the client checks against what it sent, so any edit fails.
#[test]
fn offer_stripping_and_reordering_is_detected() {
    let identity = ed25519_identity(3);
    let config = server_config(identity.clone(), &KexId::ALL, &SuiteId::ALL);
    let client_config = || ClientConfig { kex: KexId::ALL.to_vec(), suites: SuiteId::ALL.to_vec() };
    type Edit = fn(&mut ClientHello);
    let edits: [(&str, Edit); 5] = [
        ("strip the hybrid kex", |h| h.kex_offers.retain(|o| o.kex != KexId::MlKem768X25519)),
        ("reorder kex", |h| h.kex_offers.reverse()),
        ("strip strong suites", |h| h.suites.retain(|s| *s == SuiteId::HmacSha256Ctr)),
        ("reorder suites", |h| h.suites.reverse()),
        ("change random", |h| h.random[0] ^= 1),
    ];
    for (what, edit) in edits {
        let outcome =
            handshake(client_config(), config.clone(), &pin_of(&identity), Credential::Anonymous, |f, bytes| {
                if f != Flight::ClientHello {
                    return bytes;
                }
                let mut hello = ClientHello::decode(&bytes[4..]).expect("decode");
                edit(&mut hello);
                let body = hello.to_bytes();
                [&(body.len() as u32).to_be_bytes()[..], &body].concat()
            });
        assert_eq!(outcome.client.err(), Some(Error::Crypto), "{what}: the server's signature must not verify");
        assert_eq!(outcome.client_sent_after_hello, 0, "{what}");
    }
}

#[test]
fn dropped_or_truncated_flights_fail() {
    let identity = ed25519_identity(3);
    let config = server_config(identity.clone(), &KexId::ALL, &SuiteId::ALL);
    for flight in [Flight::ClientHello, Flight::ServerHello, Flight::ClientAuth, Flight::AuthResult] {
        for keep in [0usize, 3, 4, 10] {
            let outcome = handshake(
                ClientConfig::default(),
                config.clone(),
                &pin_of(&identity),
                Credential::Anonymous,
                |f, mut b| {
                    if f == flight {
                        b.truncate(keep.min(b.len() - 1));
                    }
                    b
                },
            );
            assert!(outcome.client.is_err(), "{flight:?} cut to {keep}");
        }
    }
}
