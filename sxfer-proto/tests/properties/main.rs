//! Property tests (proptest): the codec round-trips, nothing panics, and
//! nothing tampered with gets through.
//!
//! * Every wire message decodes back to itself; every strict prefix of its
//!   encoding, and the encoding plus one byte, fail to decode.
//! * No decoder and no state machine panics on arbitrary bytes.
//! * A frame with 1-3 bytes changed never completes a handshake and never
//!   opens as a record.
//!
//! Random bytes die at the first check (the hello magic, the AEAD tag), so
//! the inputs also include encodings of arbitrary messages, mutated valid
//! frames, and plaintext sealed by a hand-driven peer that holds the traffic
//! keys: that reaches the decoders behind the AEAD.

use crate::common;
mod drivers;
mod strategies;

use std::fmt::Debug;
use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, subsequence, Index};
use proptest::string::string_regex;

use drivers::*;
use strategies::*;

use common::{alice, client_rsa_identity, ed25519_identity, handshake, password, DangerTestRng, Flight, OwnedEvent};
use sxfer_proto::codec::Codec;
use sxfer_proto::handshake::client::{ExpectAuthResult, ExpectServerHello};
use sxfer_proto::handshake::server::{refusal_frame, ExpectClientAuth, ExpectClientHello};
use sxfer_proto::handshake::{
    next_hello_frame, next_record_frame, AuthRequest, ClientConfig, Connection, Credential, Event, ServerConfig,
    ServerPin,
};
use sxfer_proto::identity::{PublicIdentity, Signature, SignatureScheme};
use sxfer_proto::kx::{self, KexId};
use sxfer_proto::msgs::app::{MAX_ERROR_MESSAGE, MAX_LISTING};
use sxfer_proto::msgs::auth::{KeyProof, MAX_AUTH_MESSAGE, MAX_INVITE, MAX_PASSWORD, MAX_PUBLIC_KEY, MAX_USERNAME};
use sxfer_proto::msgs::handshake::{MAX_IDENTITY, MAX_KEX_SHARE, MAX_SIGNATURE, MAX_VERSIONS, VERSION_1};
use sxfer_proto::msgs::peer::{MAX_OFFER, MAX_OFFER_PART};
use sxfer_proto::msgs::relay::{Nameplate, Relay, MAX_NAMEPLATE};
use sxfer_proto::msgs::{
    AuthResult, ClientAuth, ClientHello, ClientId, EntryKind, FileEntry, FileMeta, KexShare, Message, OfferAnswer,
    OfferEntry, ServerHello, Username, Want,
};
use sxfer_proto::names::{RemoteName, MAX_NAME};
use sxfer_proto::pake::MAX_PAKE_MESSAGE;
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::record::{frame_len, ContentType, Sealer, FRAME_HEADER_LEN, MAX_HANDSHAKE_BODY, MAX_RECORD_BODY};
use sxfer_proto::secret::{Password, SecretBytes};
use sxfer_proto::{CloseCode, Error};

// ---------------------------------------------------------------------------
// Round trips

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn client_hello_round_trips(hello in client_hello()) {
        check_round_trip(&hello)?;
    }

    #[test]
    fn server_hello_round_trips(hello in server_hello()) {
        check_round_trip(&hello)?;
    }

    #[test]
    fn client_auth_round_trips(auth in client_auth()) {
        check_round_trip(&auth)?;
    }

    #[test]
    fn auth_result_round_trips(result in auth_result()) {
        check_round_trip(&result)?;
    }

    #[test]
    fn message_round_trips(message in message()) {
        check_round_trip(&message)?;
    }

    #[test]
    fn signature_round_trips(signature in signature()) {
        check_round_trip(&signature)?;
    }

    /// A cut anywhere, not just at the sampled points `check_round_trip` tries.
    #[test]
    fn any_strict_prefix_fails(wire in wire_message(), cut in any::<Index>()) {
        let cut = cut.index(wire.encoding.len());
        prop_assert!(!(wire.decodes)(&wire.encoding[..cut]), "{} decoded from {cut} bytes", wire.name);
    }
}

#[test]
fn listing_at_its_maximum_round_trips() {
    let entry = |i: usize| FileEntry {
        name: RemoteName::parse(&format!("dir/file-{i}")).expect("valid name"),
        meta: FileMeta { size: i as u64, mode: 0o644, mtime: -1, mtime_nanos: 999_999_999 },
        digest: [i as u8; 32],
        stored: i64::MAX,
    };
    let full = Message::Listing { transfer: 1, entries: (0..MAX_LISTING).map(entry).collect(), more: true };
    assert_eq!(Message::decode(&full.to_bytes()), Ok(full));
    let over = Message::Listing { transfer: 1, entries: (0..=MAX_LISTING).map(entry).collect(), more: false };
    assert!(Message::decode(&over.to_bytes()).is_err());
}

#[test]
fn offers_and_replies_at_their_maximum_fit_one_record() {
    // The longest names: 4 segments of 255 bytes and 3 slashes = 1 023 bytes.
    let entry = |i: usize| OfferEntry {
        name: RemoteName::parse(&format!("{:0>255}/{}/{}/{}", i, "b".repeat(255), "c".repeat(255), "d".repeat(255)))
            .expect("valid name"),
        kind: EntryKind::File,
        meta: FileMeta { size: u64::MAX, mode: 0o7777, mtime: i64::MIN, mtime_nanos: 999_999_999 },
    };
    let full = Message::Offer { transfer: 1, entries: (0..MAX_OFFER_PART).map(entry).collect(), more: true };
    let bytes = full.to_bytes();
    assert!(bytes.len() <= sxfer_proto::record::MAX_PAYLOAD, "{} bytes", bytes.len());
    assert_eq!(Message::decode(&bytes), Ok(full));
    let over = Message::Offer { transfer: 1, entries: (0..=MAX_OFFER_PART).map(entry).collect(), more: false };
    assert_eq!(Message::decode(&over.to_bytes()), Err(Error::Malformed("offer part longer than its maximum")));

    let wants = (0..MAX_OFFER as u64).map(|from| Want::Send { from }).collect();
    let reply = Message::OfferReply { transfer: 1, answer: OfferAnswer::Accept(wants) };
    let bytes = reply.to_bytes();
    assert!(bytes.len() <= sxfer_proto::record::MAX_PAYLOAD, "{} bytes", bytes.len());
    assert_eq!(Message::decode(&bytes), Ok(reply));
    let over = OfferAnswer::Accept(vec![Want::Skip; MAX_OFFER + 1]);
    assert_eq!(OfferAnswer::decode(&over.to_bytes()), Err(Error::Malformed("offer reply longer than its maximum")));
}

/// `decode(encode(x)) == x`; strict prefixes and one extra byte fail.
fn check_round_trip<T: Codec + PartialEq + Debug>(value: &T) -> Result<(), TestCaseError> {
    let bytes = value.to_bytes();
    prop_assert_eq!(&T::decode(&bytes).map_err(|e| TestCaseError::fail(format!("{e}")))?, value);
    // Every prefix of short encodings; of long ones (kex shares, keys) the
    // first and last 64 and every 64th in between, so the file stays fast.
    let len = bytes.len();
    let cuts = (0..len).filter(|&cut| len <= 256 || cut < 64 || cut + 64 >= len || cut % 64 == 0);
    for cut in cuts {
        prop_assert!(T::decode(&bytes[..cut]).is_err(), "decoded from a {cut}-byte prefix of {len}");
    }
    for extra in [0x00, 0x01, 0xff] {
        let mut longer = bytes.clone();
        longer.push(extra);
        prop_assert!(T::decode(&longer).is_err(), "decoded with a trailing {extra:#04x}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Decoders never panic

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn decoders_never_panic(bytes in parser_input()) {
        decode_everything(&bytes)?;
    }

    #[test]
    fn public_key_wire_never_panics(blob in public_key_input()) {
        if let Ok(key) = PublicIdentity::from_wire(&blob) {
            // Only canonical encodings are accepted, so they round-trip exactly.
            prop_assert_eq!(key.to_wire(), blob);
        }
    }
}

/// Arbitrary bytes into every decoder and framer; `Ok` results must be sane.
fn decode_everything(bytes: &[u8]) -> Result<(), TestCaseError> {
    let _ = ClientHello::decode(bytes);
    let _ = ServerHello::decode(bytes);
    let _ = ClientAuth::decode(bytes);
    let _ = AuthResult::decode(bytes);
    let _ = Message::decode(bytes);
    let _ = Signature::decode(bytes);
    let _ = PublicIdentity::from_wire(bytes);
    for (max, result) in [
        (0, frame_len(bytes, 0)),
        (MAX_HANDSHAKE_BODY, next_hello_frame(bytes)),
        (MAX_RECORD_BODY, next_record_frame(bytes)),
    ] {
        if let Ok(Some(len)) = result {
            prop_assert!((FRAME_HEADER_LEN..=bytes.len()).contains(&len));
            prop_assert!(len - FRAME_HEADER_LEN <= max);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// State machines never panic on arbitrary bytes

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn server_never_panics_on_client_hello(frame in hello_frame_input(client_hello()), suites in offered_suites()) {
        let config = Arc::new(ServerConfig { suites, ..ServerConfig::new(ed25519_identity(9)) });
        let result = ExpectClientHello::new(config).read_client_hello(&frame, &mut DangerTestRng::for_testing_only(2));
        match result {
            Ok((_, server_hello)) => prop_assert_eq!(next_hello_frame(&server_hello), Ok(Some(server_hello.len()))),
            // Only a hello that shares nothing with the server is answered (by a refusal).
            Err(error) => match refusal_frame(&error) {
                Some(refusal) => {
                    prop_assert!(matches!(error, sxfer_proto::Error::NoCommon(_)), "{}", error);
                    prop_assert_eq!(next_hello_frame(&refusal), Ok(Some(refusal.len())));
                }
                None => prop_assert!(!matches!(error, sxfer_proto::Error::NoCommon(_)), "{}", error),
            },
        }
    }

    #[test]
    fn client_never_panics_on_server_hello(frame in hello_frame_input(server_hello())) {
        let (client, _) = start_client(ClientConfig::default());
        let _ = client.read_server_hello(&frame);
    }

    /// A ServerHello correctly signed by the identity it carries, with
    /// arbitrary choices and key share: reaches the key exchange.
    #[test]
    fn client_never_panics_on_signed_server_hello(
        version in prop_oneof![Just(VERSION_1), any::<u16>()],
        kex in select(KexId::ALL.to_vec()),
        kex_share in prop_oneof![bytes(MAX_KEX_SHARE), share_of_plausible_length()],
        suite in select(SuiteId::ALL.to_vec()),
    ) {
        let (client, client_frame) = start_client(ClientConfig::default());
        let identity = ed25519_identity(9);
        let hello = ServerHello {
            version, random: [2; 32], kex, kex_share, suite,
            identity: identity.public().to_wire(),
            signature: Signature { scheme: SignatureScheme::Ed25519, bytes: Vec::new() },
        };
        let server_frame = sign_server_hello(hello, &client_frame[FRAME_HEADER_LEN..], &identity);
        if let Ok(checked) = client.read_server_hello(&server_frame) {
            prop_assert_eq!(version, VERSION_1);
            prop_assert!(SuiteId::DEFAULT.contains(&checked.suite()));
            prop_assert_eq!(checked.kex(), kex);
        }
    }

    #[test]
    fn server_never_panics_on_client_auth(mut record in record_input(), suite in select(SuiteId::ALL.to_vec())) {
        let (server, _) = server_awaiting_auth(suite);
        let _ = server.read_client_auth(&mut record);
    }

    /// A correctly sealed record carrying arbitrary plaintext as the credential.
    #[test]
    fn server_never_panics_on_sealed_client_auth(
        (content, payload) in sealed_input(client_auth().prop_map(|auth| auth.to_bytes()).boxed()),
        suite in select(SuiteId::ALL.to_vec()),
    ) {
        let (server, mut evil) = server_awaiting_auth(suite);
        let mut record = Vec::new();
        evil.seal(content, &payload, &mut record).map_err(fail)?;
        if let Ok(pending) = server.read_client_auth(&mut record) {
            prop_assert_eq!(content, ContentType::Message);
            // A key proof over the wrong transcript can never verify.
            let proven_key = match pending.request() {
                AuthRequest::PublicKey { .. } => true,
                AuthRequest::Register { key, .. } => key.is_some(),
                AuthRequest::Password { .. } | AuthRequest::Anonymous | AuthRequest::Pake => false,
            };
            prop_assert!(!proven_key, "an arbitrary key proof verified");
        }
    }

    #[test]
    fn client_never_panics_on_auth_result(mut record in record_input(), suite in select(SuiteId::ALL.to_vec())) {
        let (client, _) = client_awaiting_result(suite);
        let _ = client.read_auth_result(&mut record, &mut Vec::new());
    }

    #[test]
    fn client_never_panics_on_sealed_auth_result(
        (content, payload) in sealed_input(auth_result().prop_map(|result| result.to_bytes()).boxed()),
        suite in select(SuiteId::ALL.to_vec()),
    ) {
        let (client, mut evil) = client_awaiting_result(suite);
        let mut record = Vec::new();
        evil.seal(content, &payload, &mut record).map_err(fail)?;
        let result = client.read_auth_result(&mut record, &mut Vec::new());
        if content != ContentType::Message {
            prop_assert!(result.is_err());
        } else {
            // Behind the AEAD the client does exactly what the payload says.
            match (AuthResult::decode(&payload), result) {
                (Ok(AuthResult::Accepted { client_id }), Ok((_, got))) => prop_assert_eq!(got, client_id),
                (Ok(AuthResult::Rejected { message }), Err(Error::AuthRejected(got))) => prop_assert_eq!(got, message),
                // This client sent no PAKE, so a PAKE answer is the server's fault.
                (Ok(AuthResult::Pake { .. }), Err(Error::PeerMisbehaved(_))) => {}
                (Err(expected), Err(got)) => prop_assert_eq!(got, expected),
                (decoded, result) => {
                    prop_assert!(false, "payload {decoded:?}, client {:?}", result.map(|(_, id)| id));
                }
            }
        }
    }

    #[test]
    fn connection_never_panics_on_arbitrary_records(
        mut wire in record_input(),
        suite in select(SuiteId::ALL.to_vec()),
    ) {
        let (mut client, _) = established(suite);
        let _ = read_everything(&mut client, &mut wire)?;
    }

    /// Several correctly sealed records with arbitrary types and payloads,
    /// the sender updating its key every few bytes or not at all.
    #[test]
    fn connection_never_panics_on_sealed_records(
        records in vec(sealed_input(message().prop_map(|m| m.to_bytes()).boxed()), 1..6),
        suite in select(SuiteId::ALL.to_vec()),
        update_after in prop_oneof![Just(None), (1u64..256).prop_map(Some)],
    ) {
        let (mut server, mut evil) = server_connection(suite);
        if let Some(bytes) = update_after {
            evil.set_key_update_after_for_testing(bytes);
        }
        let mut wire = Vec::new();
        for (content, payload) in &records {
            evil.seal(*content, payload, &mut wire).map_err(fail)?;
        }
        let events = read_everything(&mut server, &mut wire)?;
        // Every record opens unless the sender misbehaved: a manually sealed
        // KeyUpdate (the sender does not switch keys itself) or one with a
        // payload, an invalid payload, or anything after a Close.
        // (A Close with the threshold lowered is left out: the known bug in
        // `close_at_the_key_update_threshold_is_the_last_record`.)
        let honest = records.iter().enumerate().all(|(i, (content, payload))| {
            *content != ContentType::KeyUpdate
                && valid_payload(*content, payload)
                && (*content != ContentType::Close || (i + 1 == records.len() && update_after.is_none()))
        });
        if honest {
            prop_assert!(events.is_ok(), "{events:?}");
        }
    }

    /// What an honest connection sends arrives in order, across key updates.
    #[test]
    fn honest_records_arrive_in_order(
        outgoing in vec(outgoing().prop_filter("no close", |o| !matches!(o, Outgoing::Close(_))), 1..8),
        close in proptest::option::of(any::<u16>()),
        suite in select(SuiteId::ALL.to_vec()),
        update_after in proptest::option::of(1u64..4096),
    ) {
        let (mut client, mut server) = established(suite);
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        if let Some(bytes) = update_after {
            server.set_key_update_after_for_testing(bytes);
        }
        for out in &outgoing {
            match out {
                Outgoing::Message(message) => {
                    server.send_message(message, &mut wire).map_err(fail)?;
                    expected.push(OwnedEvent::Message(message.clone()));
                }
                Outgoing::Data(data) => {
                    server.send_data(data, &mut wire).map_err(fail)?;
                    expected.push(OwnedEvent::Data(data.clone()));
                }
                Outgoing::Close(_) => unreachable!("filtered out"),
            }
        }
        // A Close only at the default threshold: see the known bug in
        // `close_at_the_key_update_threshold_is_the_last_record`.
        if let (Some(code), None) = (close, update_after) {
            server.close(CloseCode::from_u16(code), &mut wire).map_err(fail)?;
            expected.push(OwnedEvent::Closed(CloseCode::from_u16(code)));
        }
        let events = common::read_all(&mut client, &mut wire).map_err(fail)?;
        let key_updates = events.iter().filter(|e| **e == OwnedEvent::KeyUpdate).count();
        let events: Vec<_> = events.into_iter().filter(|e| *e != OwnedEvent::KeyUpdate).collect();
        prop_assert_eq!(events, expected);
        if update_after.is_none() {
            prop_assert_eq!(key_updates, 0);
        }
    }
}

/// Known bug (record/layer.rs, `Sealer::seal_in_place`): when the Close
/// record itself reaches the key-update threshold, the sealer appends a
/// KeyUpdate record after it, and the peer rejects that as "bytes after
/// close". At the real thresholds this needs the Close to land in the last
/// two bytes before 2^34 (2^38) bytes, or to be record number 2^24 under a
/// key; lowering the threshold shows it at once.
#[test]
fn close_at_the_key_update_threshold_is_the_last_record() {
    for suite in SuiteId::ALL {
        let (mut client, mut server) = established(suite);
        server.set_key_update_after_for_testing(1);
        let mut wire = Vec::new();
        server.send_data(&[1, 2, 3], &mut wire).expect("send");
        server.close(CloseCode::Normal, &mut wire).expect("close");
        let events = common::read_all(&mut client, &mut wire);
        assert_eq!(
            events,
            Ok(vec![OwnedEvent::Data(vec![1, 2, 3]), OwnedEvent::KeyUpdate, OwnedEvent::Closed(CloseCode::Normal)]),
            "{suite:?}"
        );
    }
}

/// Read records from `wire` until it is used up, more bytes are needed, or
/// an error. Checks that every record reports a sane length.
fn read_everything(connection: &mut Connection, wire: &mut [u8]) -> Result<Result<usize, Error>, TestCaseError> {
    let mut at = 0;
    let mut events = 0;
    while at < wire.len() {
        match connection.read(&mut wire[at..]) {
            Ok(None) => break,
            Ok(Some((_, used))) => {
                prop_assert!(used >= FRAME_HEADER_LEN && at + used <= wire.len(), "used {used} at {at}");
                at += used;
                events += 1;
            }
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(events))
}

fn valid_payload(content: ContentType, payload: &[u8]) -> bool {
    match content {
        ContentType::Message => Message::decode(payload).is_ok(),
        ContentType::Data => true,
        ContentType::KeyUpdate => payload.is_empty(),
        ContentType::Close => payload.len() == 2,
    }
}

// ---------------------------------------------------------------------------
// Tampering: a frame with 1-3 bytes changed is always caught

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// An attacker on the wire changes bytes of one handshake flight. The
    /// handshake fails; a tampered hello means no credential leaves the
    /// client, a tampered credential never reaches the server application.
    #[test]
    fn tampered_handshake_flight_fails(
        flight in select(vec![Flight::ClientHello, Flight::ServerHello, Flight::ClientAuth, Flight::AuthResult]),
        method in 0..4u8,
        suite in select(SuiteId::ALL.to_vec()),
        edits in edits(),
    ) {
        let identity = ed25519_identity(9);
        let client_key = ed25519_identity(5);
        let config = Arc::new(ServerConfig { suites: vec![suite], ..ServerConfig::new(identity.clone()) });
        let client_config = ClientConfig { suites: vec![suite], ..ClientConfig::default() };
        let pin = ServerPin::Fingerprint(identity.public().fingerprint());
        let credential = match method {
            0 => Credential::Anonymous,
            1 => Credential::Password { username: alice(), password: password() },
            2 => Credential::PublicKey { username: alice(), key: &client_key },
            _ => Credential::Register { username: alice(), password: Some(password()), key: Some(&client_key), invite: None },
        };
        let mut changed = false;
        let outcome = handshake(client_config, config, &pin, credential, |at, bytes| {
            if at != flight {
                return bytes;
            }
            let tampered = mutate(&bytes, &edits);
            changed = tampered != bytes;
            tampered
        });
        prop_assume!(changed);
        prop_assert!(outcome.client.is_err(), "{flight:?} tampered, client completed");
        match flight {
            Flight::ClientHello | Flight::ServerHello => prop_assert_eq!(outcome.client_sent_after_hello, 0),
            Flight::ClientAuth => {
                prop_assert!(outcome.server.is_err());
                prop_assert!(!outcome.request_seen);
            }
            Flight::AuthResult | Flight::PakeConfirm => {}
        }
    }

    /// A tampered record never opens, and changes no state: the genuine
    /// record still opens afterwards.
    #[test]
    fn tampered_record_never_opens(outgoing in outgoing(), suite in select(SuiteId::ALL.to_vec()), edits in edits()) {
        let (mut client, mut server) = established(suite);
        // Make the record under test the second one, with sequence number 1.
        let mut first = Vec::new();
        server.send_data(&[0x5a; 3], &mut first).map_err(fail)?;
        prop_assert!(matches!(client.read(&mut first), Ok(Some((Event::Data(_), _)))));
        let mut record = Vec::new();
        match &outgoing {
            Outgoing::Message(message) => server.send_message(message, &mut record),
            Outgoing::Data(data) => server.send_data(data, &mut record),
            Outgoing::Close(code) => server.close(CloseCode::from_u16(*code), &mut record),
        }
        .map_err(fail)?;
        let mut tampered = mutate(&record, &edits);
        prop_assume!(tampered != record);
        let result = client.read(&mut tampered);
        prop_assert!(!matches!(result, Ok(Some(_))), "tampered record opened: {result:?}");
        let record_len = record.len();
        let genuine = client.read(&mut record);
        prop_assert!(matches!(genuine, Ok(Some((_, used))) if used == record_len), "{genuine:?}");
    }
}

/// What an honest connection can send.
#[derive(Debug, Clone)]
enum Outgoing {
    Message(Message),
    Data(Vec<u8>),
    Close(u16),
}

fn outgoing() -> impl Strategy<Value = Outgoing> {
    prop_oneof![
        message().prop_map(Outgoing::Message),
        vec(any::<u8>(), 0..2048).prop_map(Outgoing::Data),
        any::<u16>().prop_map(Outgoing::Close),
    ]
}
