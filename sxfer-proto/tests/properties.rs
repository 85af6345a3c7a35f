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

mod common;

use std::fmt::Debug;
use std::sync::Arc;

use aws_lc_rs::digest::{digest, SHA256};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, subsequence, Index};
use proptest::string::string_regex;

use common::{alice, client_rsa_identity, ed25519_identity, handshake, password, DangerTestRng, Flight, OwnedEvent};
use sxfer_proto::codec::Codec;
use sxfer_proto::handshake::client::{ExpectAuthResult, ExpectServerHello};
use sxfer_proto::handshake::server::{ExpectClientAuth, ExpectClientHello};
use sxfer_proto::handshake::{
    next_hello_frame, next_record_frame, AuthRequest, ClientConfig, Connection, Credential, Event, ServerConfig,
    ServerPin,
};
use sxfer_proto::identity::{PrivateIdentity, PublicIdentity, Signature, SignatureScheme};
use sxfer_proto::key_schedule::{self, HandshakeSecrets};
use sxfer_proto::kx::{self, ClientKex, KexId};
use sxfer_proto::labels;
use sxfer_proto::msgs::app::{MAX_ERROR_MESSAGE, MAX_LISTING};
use sxfer_proto::msgs::auth::{KeyProof, MAX_AUTH_MESSAGE, MAX_PASSWORD, MAX_PUBLIC_KEY, MAX_USERNAME};
use sxfer_proto::msgs::handshake::{MAX_IDENTITY, MAX_KEX_SHARE, MAX_SIGNATURE, MAX_VERSIONS, VERSION_1};
use sxfer_proto::msgs::{
    AuthResult, ClientAuth, ClientHello, ClientId, FileEntry, FileMeta, KexShare, Message, ServerHello, Username,
};
use sxfer_proto::names::{RemoteName, MAX_NAME};
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::record::{frame_len, ContentType, Sealer, FRAME_HEADER_LEN, MAX_HANDSHAKE_BODY, MAX_RECORD_BODY};
use sxfer_proto::secret::Password;
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
        if let Ok((_, server_hello)) = result {
            prop_assert_eq!(next_hello_frame(&server_hello), Ok(Some(server_hello.len())));
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
                AuthRequest::Password { .. } | AuthRequest::Anonymous => false,
            };
            prop_assert!(!proven_key, "an arbitrary key proof verified");
        }
    }

    #[test]
    fn client_never_panics_on_auth_result(mut record in record_input(), suite in select(SuiteId::ALL.to_vec())) {
        let (client, _) = client_awaiting_result(suite);
        let _ = client.read_auth_result(&mut record);
    }

    #[test]
    fn client_never_panics_on_sealed_auth_result(
        (content, payload) in sealed_input(auth_result().prop_map(|result| result.to_bytes()).boxed()),
        suite in select(SuiteId::ALL.to_vec()),
    ) {
        let (client, mut evil) = client_awaiting_result(suite);
        let mut record = Vec::new();
        evil.seal(content, &payload, &mut record).map_err(fail)?;
        let result = client.read_auth_result(&mut record);
        if content != ContentType::Message {
            prop_assert!(result.is_err());
        } else {
            // Behind the AEAD the client does exactly what the payload says.
            match (AuthResult::decode(&payload), result) {
                (Ok(AuthResult::Accepted { client_id }), Ok((_, got))) => prop_assert_eq!(got, client_id),
                (Ok(AuthResult::Rejected { message }), Err(Error::AuthRejected(got))) => prop_assert_eq!(got, message),
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
            _ => Credential::Register { username: alice(), password: Some(password()), key: Some(&client_key) },
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
            Flight::AuthResult => {}
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

// ---------------------------------------------------------------------------
// Strategies for wire values, each field within its maximum

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// Bytes up to `max`: mostly short, sometimes any length, sometimes exactly `max`.
fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => vec(any::<u8>(), 0..=max.min(64)),
        2 => vec(any::<u8>(), 0..=max),
        1 => vec(any::<u8>(), max),
    ]
}

/// UTF-8 text of at least `min` characters and at most `max_bytes` bytes:
/// printable ASCII up to the limit, or arbitrary characters (up to 4 bytes each).
fn text(min: usize, max_bytes: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        vec(0x20u8..0x7f, min..=max_bytes).prop_map(|ascii| ascii.into_iter().map(char::from).collect()),
        vec(any::<char>(), min..=max_bytes / 4).prop_map(String::from_iter),
    ]
}

fn username() -> impl Strategy<Value = Username> {
    let pattern = format!("[a-z0-9][a-z0-9._-]{{0,{}}}", MAX_USERNAME - 1);
    string_regex(&pattern)
        .expect("a valid pattern")
        .prop_map(|name| Username::parse(&name).expect("the pattern only makes valid names"))
}

fn password_strategy() -> impl Strategy<Value = Password> {
    text(1, MAX_PASSWORD).prop_map(Password::new)
}

fn signature() -> impl Strategy<Value = Signature> {
    (select(vec![SignatureScheme::Ed25519, SignatureScheme::RsaSha256]), bytes(MAX_SIGNATURE))
        .prop_map(|(scheme, bytes)| Signature { scheme, bytes })
}

fn key_proof() -> impl Strategy<Value = KeyProof> {
    (bytes(MAX_PUBLIC_KEY), signature()).prop_map(|(public_key, signature)| KeyProof { public_key, signature })
}

fn client_auth() -> impl Strategy<Value = ClientAuth> {
    prop_oneof![
        (username(), password_strategy()).prop_map(|(username, password)| ClientAuth::Password { username, password }),
        (username(), key_proof()).prop_map(|(username, proof)| ClientAuth::PublicKey { username, proof }),
        (
            username(),
            prop_oneof![
                password_strategy().prop_map(|p| (Some(p), None)),
                key_proof().prop_map(|k| (None, Some(k))),
                (password_strategy(), key_proof()).prop_map(|(p, k)| (Some(p), Some(k))),
            ]
        )
            .prop_map(|(username, (password, key))| ClientAuth::Register { username, password, key }),
        Just(ClientAuth::Anonymous),
    ]
}

fn auth_result() -> impl Strategy<Value = AuthResult> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(|id| AuthResult::Accepted { client_id: ClientId(id) }),
        text(0, MAX_AUTH_MESSAGE).prop_map(|message| AuthResult::Rejected { message }),
    ]
}

/// A valid remote name: 1-4 segments, some at the 255-byte segment limit.
fn remote_name() -> impl Strategy<Value = RemoteName> {
    let segment = prop_oneof![
        4 => r"[^/\\\p{Cc}]{1,16}",
        1 => "[a-z]{255}",
    ];
    vec(segment, 1..=4).prop_filter_map("a '.' or '..' segment", |segments| RemoteName::parse(&segments.join("/")).ok())
}

fn file_meta() -> impl Strategy<Value = FileMeta> {
    (any::<u64>(), 0..=0o7777u32, any::<i64>(), 0..1_000_000_000u32)
        .prop_map(|(size, mode, mtime, mtime_nanos)| FileMeta { size, mode, mtime, mtime_nanos })
}

fn file_entry() -> impl Strategy<Value = FileEntry> {
    (remote_name(), file_meta(), any::<[u8; 32]>(), any::<i64>()).prop_map(|(name, meta, digest, stored)| FileEntry {
        name,
        meta,
        digest,
        stored,
    })
}

/// Every `Message` variant. Listings stay short here; one test below
/// checks a listing at its maximum length.
fn message() -> impl Strategy<Value = Message> {
    let t = any::<u32>;
    prop_oneof![
        (t(), any::<u16>(), text(0, MAX_ERROR_MESSAGE)).prop_map(|(transfer, code, message)| Message::Error {
            transfer,
            code,
            message
        }),
        (t(), any::<u64>()).prop_map(|(transfer, offset)| Message::Ack { transfer, offset }),
        (t(), any::<u64>(), any::<[u8; 32]>()).prop_map(|(transfer, length, digest)| Message::Commit {
            transfer,
            length,
            digest
        }),
        (t(), remote_name(), file_meta(), any::<bool>()).prop_map(|(transfer, name, meta, resume)| Message::Upload {
            transfer,
            name,
            meta,
            resume
        }),
        (t(), any::<u64>()).prop_map(|(transfer, offset)| Message::UploadReady { transfer, offset }),
        (t(), file_entry()).prop_map(|(transfer, entry)| Message::Committed { transfer, entry }),
        (t(), remote_name(), any::<u64>()).prop_map(|(transfer, name, offset)| Message::Download {
            transfer,
            name,
            offset
        }),
        (t(), file_entry(), any::<u64>()).prop_map(|(transfer, entry, offset)| Message::DownloadStart {
            transfer,
            entry,
            offset
        }),
        (t(), text(0, MAX_NAME)).prop_map(|(transfer, prefix)| Message::List { transfer, prefix }),
        (t(), vec(file_entry(), 0..8), any::<bool>()).prop_map(|(transfer, entries, more)| Message::Listing {
            transfer,
            entries,
            more
        }),
        (t(), remote_name()).prop_map(|(transfer, name)| Message::Stat { transfer, name }),
        (t(), remote_name()).prop_map(|(transfer, name)| Message::Delete { transfer, name }),
        (t(), remote_name(), remote_name()).prop_map(|(transfer, from, to)| Message::Rename { transfer, from, to }),
        t().prop_map(|transfer| Message::Done { transfer }),
    ]
}

fn client_hello() -> impl Strategy<Value = ClientHello> {
    // Lists hold distinct items; order is preference, so it is shuffled too.
    let versions = vec(any::<u16>(), 1..=MAX_VERSIONS).prop_map(|mut versions| {
        let mut seen = Vec::new();
        versions.retain(|v| {
            !seen.contains(v) && {
                seen.push(*v);
                true
            }
        });
        versions
    });
    let kex_offers = subsequence(KexId::ALL.to_vec(), 1..=KexId::ALL.len()).prop_shuffle().prop_flat_map(|kexes| {
        kexes
            .into_iter()
            .map(|kex| {
                prop_oneof![bytes(MAX_KEX_SHARE), share_of_plausible_length()]
                    .prop_map(move |share| KexShare { kex, share })
            })
            .collect::<Vec<_>>()
    });
    let suites = subsequence(SuiteId::ALL.to_vec(), 1..=SuiteId::ALL.len()).prop_shuffle();
    (versions, any::<[u8; 32]>(), kex_offers, suites).prop_map(|(versions, random, kex_offers, suites)| ClientHello {
        versions,
        random,
        kex_offers,
        suites,
    })
}

fn server_hello() -> impl Strategy<Value = ServerHello> {
    (
        prop_oneof![Just(VERSION_1), any::<u16>()],
        any::<[u8; 32]>(),
        select(KexId::ALL.to_vec()),
        bytes(MAX_KEX_SHARE),
        select(SuiteId::ALL.to_vec()),
        bytes(MAX_IDENTITY),
        signature(),
    )
        .prop_map(|(version, random, kex, kex_share, suite, identity, signature)| ServerHello {
            version,
            random,
            kex,
            kex_share,
            suite,
            identity,
            signature,
        })
}

/// Random key shares of the lengths the key exchanges expect, so they get
/// past the length checks into X25519 and ML-KEM.
fn share_of_plausible_length() -> impl Strategy<Value = Vec<u8>> {
    select(vec![
        kx::X25519_LEN,
        kx::MLKEM768_ENCAPSULATION_KEY_LEN + kx::X25519_LEN,
        kx::MLKEM768_CIPHERTEXT_LEN + kx::X25519_LEN,
    ])
    .prop_flat_map(|len| prop_oneof![vec(any::<u8>(), len), Just(vec![0; len])])
}

fn offered_suites() -> impl Strategy<Value = Vec<SuiteId>> {
    subsequence(SuiteId::ALL.to_vec(), 1..=SuiteId::ALL.len()).prop_shuffle()
}

/// The encoding of some wire message, and whether bytes decode as its type.
#[derive(Debug, Clone)]
struct Wire {
    name: &'static str,
    encoding: Vec<u8>,
    decodes: fn(&[u8]) -> bool,
}

fn wire_of<T: Codec + Debug + 'static>(
    name: &'static str,
    values: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Wire> {
    values.prop_map(move |v| Wire { name, encoding: v.to_bytes(), decodes: |b| T::decode(b).is_ok() }).boxed()
}

fn wire_message() -> impl Strategy<Value = Wire> {
    prop_oneof![
        wire_of("ClientHello", client_hello()),
        wire_of("ServerHello", server_hello()),
        wire_of("ClientAuth", client_auth()),
        wire_of("AuthResult", auth_result()),
        wire_of("Message", message()),
        wire_of("Signature", signature()),
    ]
}

/// Where an edit lands: anywhere, or in the first 16 bytes (the headers).
#[derive(Debug, Clone)]
enum Position {
    Anywhere(Index),
    Header(usize),
}

/// Up to three byte positions to change and a nonzero XOR mask for each.
fn edits() -> impl Strategy<Value = Vec<(Position, u8)>> {
    let position = prop_oneof![any::<Index>().prop_map(Position::Anywhere), (0..16usize).prop_map(Position::Header)];
    vec((position, 1..=u8::MAX), 1..=3)
}

/// `bytes` with the edits applied (two edits may cancel: callers check).
fn mutate(bytes: &[u8], edits: &[(Position, u8)]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if out.is_empty() {
        return out;
    }
    for (position, mask) in edits {
        let at = match position {
            Position::Anywhere(index) => index.index(out.len()),
            Position::Header(at) => at % out.len(),
        };
        out[at] ^= mask;
    }
    out
}

fn mutated(inputs: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (inputs, edits()).prop_map(|(bytes, edits)| mutate(&bytes, &edits))
}

/// Arbitrary bytes, bytes after a valid hello magic, and mutated encodings.
fn parser_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..4096),
        vec(any::<u8>(), 0..512).prop_map(|rest| [&b"SXFR"[..], &rest].concat()),
        mutated(wire_message().prop_map(|wire| wire.encoding)),
    ]
}

fn public_key_input() -> impl Strategy<Value = Vec<u8>> {
    let ed25519 = ed25519_identity(4).public().to_wire();
    let rsa = client_rsa_identity().public().to_wire();
    prop_oneof![
        vec(any::<u8>(), 0..4096),
        Just(ed25519.clone()),
        Just(rsa.clone()),
        mutated(Just(ed25519.clone())),
        mutated(Just(rsa.clone())),
        (Just(rsa), any::<Index>()).prop_map(|(rsa, cut)| rsa[..cut.index(rsa.len())].to_vec()),
        (Just(ed25519), vec(any::<u8>(), 1..8)).prop_map(|(key, extra)| [key, extra].concat()),
    ]
}

/// A frame with a correct header around arbitrary bytes or an arbitrary
/// (unsigned) hello, or arbitrary bytes with no frame structure at all.
fn hello_frame_input<T: Codec + Debug>(hello: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..4096),
        vec(any::<u8>(), 0..2048).prop_map(|body| frame(&body)),
        hello.prop_map(|hello| frame(&hello.to_bytes())),
    ]
}

/// Arbitrary bytes, and arbitrary record bodies with a correct header.
fn record_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![vec(any::<u8>(), 0..4096), vec(any::<u8>(), 0..2048).prop_map(|body| frame(&body))]
}

/// A content type and a payload to seal: arbitrary bytes, a valid
/// encoding from `valid`, or a mutated one.
fn sealed_input(valid: BoxedStrategy<Vec<u8>>) -> impl Strategy<Value = (ContentType, Vec<u8>)> {
    let content = prop_oneof![
        6 => Just(ContentType::Message),
        2 => Just(ContentType::Data),
        1 => Just(ContentType::KeyUpdate),
        1 => Just(ContentType::Close),
    ];
    let payload = prop_oneof![
        vec(any::<u8>(), 0..512),
        valid.clone(),
        mutated(valid),
        any::<u16>().prop_map(|code| code.to_be_bytes().to_vec()),
        Just(Vec::new()),
    ];
    (content, payload)
}

// ---------------------------------------------------------------------------
// Driving the state machines, honestly and otherwise

fn frame(body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).expect("test frames are small");
    [&len.to_be_bytes()[..], body].concat()
}

fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, &parts.concat()).as_ref());
    out
}

fn start_client(config: ClientConfig) -> (ExpectServerHello, Vec<u8>) {
    ExpectServerHello::start(config, &mut DangerTestRng::for_testing_only(1)).expect("client starts")
}

/// A server that has read a ClientHello from a hand-driven X25519 client,
/// and that client's sealer: it can seal anything to the server.
fn server_awaiting_auth(suite: SuiteId) -> (ExpectClientAuth, Sealer) {
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
fn server_connection(suite: SuiteId) -> (Connection, Sealer) {
    let (server, mut evil) = server_awaiting_auth(suite);
    let mut record = Vec::new();
    evil.seal(ContentType::Message, &ClientAuth::Anonymous.to_bytes(), &mut record).expect("seal");
    let pending = server.read_client_auth(&mut record).expect("anonymous is fine");
    let connection = pending.accept(ClientId([7; 16]), &mut Vec::new()).expect("accept");
    (connection, evil)
}

/// A real client that has sent its credential to a hand-driven server, and
/// that server's sealer for the AuthResult.
fn client_awaiting_result(suite: SuiteId) -> (ExpectAuthResult, Sealer) {
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
fn sign_server_hello(mut hello: ServerHello, client_body: &[u8], identity: &PrivateIdentity) -> Vec<u8> {
    let mut unsigned = Vec::new();
    hello.encode_unsigned(&mut unsigned);
    let signed_hash = hash(&[client_body, &unsigned]);
    hello.signature = identity.sign(&[labels::SERVER_SIGNATURE_CONTEXT, &[0x00], &signed_hash].concat()).expect("sign");
    frame(&hello.to_bytes())
}

fn derive(shared: &sxfer_proto::secret::SecretBytes, client_body: &[u8], server_body: &[u8]) -> HandshakeSecrets {
    key_schedule::derive(shared, &hash(&[client_body, server_body])).expect("key schedule")
}

/// Both ends of an honest handshake (the shared harness), client first.
fn established(suite: SuiteId) -> (Connection, Connection) {
    let identity = ed25519_identity(3);
    let config = Arc::new(ServerConfig { suites: vec![suite], ..ServerConfig::new(identity.clone()) });
    let pin = ServerPin::Fingerprint(identity.public().fingerprint());
    let client_config = ClientConfig { suites: vec![suite], ..ClientConfig::default() };
    let outcome = handshake(client_config, config, &pin, Credential::Anonymous, common::no_attacker);
    (outcome.client.expect("client").0, outcome.server.expect("server"))
}

#[test]
fn hand_driven_peers_are_accepted() {
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
