//! Rendezvous and relay against a real server on 127.0.0.1:0 (PROTOCOL.md
//! §12): pairing by nameplate, bytes both ways exactly as sent, the errors
//! a client can meet, who may relay, and every limit the operator sets.
//! Timeouts under test are small (200 ms) and the tests wait for the cut
//! itself, never for a guessed time.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use crate::common;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::*;
use sxfer::client::relay::{self, RelayRefused};
use sxfer::client::{self, commands, Purpose, Remote, SessionEnded};
use sxfer::net::conn::ByteStream;
use sxfer::server::{Limits, RelayLimits, RelayMode};
use sxfer::store::{AuditEvent, AuditKind};
use sxfer_proto::msgs::app::error_code;
use sxfer_proto::msgs::{Message, Nameplate, Relay};
use sxfer_proto::names::RemoteName;

/// Bounds a wait for something the server must do; a missing event fails
/// the test instead of hanging it.
const EVENTUALLY: Duration = Duration::from_secs(20);

fn with_relay(relay: RelayLimits) -> Options {
    Options { limits: Limits { relay, ..Options::default().limits }, ..Options::default() }
}

async fn start(relay: RelayLimits) -> TestServer {
    let server = TestServer::start(with_relay(relay)).await;
    for user in ["alice", "bob", "carol"] {
        server.add_user(user);
    }
    server
}

async fn anonymous(server: &TestServer) -> anyhow::Result<Remote> {
    let options = server.client_options(&server.dir.path().join("home-anonymous"), PASSWORD);
    client::connect(&server.target("nobody", ""), &options, Purpose::Anonymous).await
}

/// Alice creates, Bob joins: (Alice's stream, Bob's stream).
async fn pair(server: &TestServer) -> (Box<dyn ByteStream>, Box<dyn ByteStream>) {
    let rendezvous = relay::create(server.connect("alice").await).await.unwrap();
    let bob = relay::join(server.connect("bob").await, rendezvous.nameplate()).await.unwrap();
    (rendezvous.wait().await.unwrap(), bob)
}

fn refusal(error: anyhow::Error) -> (u16, String) {
    match error.downcast_ref::<RelayRefused>() {
        Some(refused) => (refused.code, refused.message.clone()),
        None => panic!("expected the server's refusal, got: {error:#}"),
    }
}

/// Read until the relay cuts `stream` (end of stream or reset); what came.
async fn read_until_cut(stream: &mut Box<dyn ByteStream>) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        match tokio::time::timeout(EVENTUALLY, stream.read(&mut buf)).await.expect("the relay cuts in time") {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// The relay rows, after a graceful shutdown has ended every session.
async fn relay_rows(server: &mut TestServer) -> Vec<AuditEvent> {
    server.shutdown().await;
    server.store.flush_audit().unwrap();
    let rows = server.store.audit_log(0, 10_000).unwrap();
    rows.into_iter().map(|(_, record)| record.event).filter(|event| event.kind == AuditKind::Relay).collect()
}

fn detail_value(event: &AuditEvent, key: &str) -> Option<String> {
    let detail = event.detail.as_deref()?;
    detail.split(' ').find_map(|pair| pair.strip_prefix(&format!("{key}=")).map(str::to_owned))
}

#[tokio::test]
async fn two_clients_pair_by_nameplate_and_bytes_cross_both_ways_identically() {
    let mut server = start(RelayLimits::default()).await;
    let rendezvous = relay::create(server.connect("alice").await).await.unwrap();
    let nameplate = rendezvous.nameplate();
    assert!((1..=99).contains(&nameplate.get()), "a small number while few are in use");
    assert_eq!(rendezvous.expires_in(), RelayLimits::default().nameplate_ttl);
    let mut bob = relay::join(server.connect("bob").await, rendezvous.nameplate()).await.unwrap();
    // Bob speaks first, before Alice has even read her RelayStart: these
    // bytes may reach her in the same read as it, and must not be lost.
    let first = b"bytes right after RelayStart";
    bob.write_all(first).await.unwrap();
    let mut alice = rendezvous.wait().await.unwrap();
    let mut got = vec![0; first.len()];
    alice.read_exact(&mut got).await.unwrap();
    assert_eq!(got, first);

    let to_bob = random_bytes(3 << 20, 1);
    let to_alice = random_bytes((2 << 20) + 12345, 2);
    let (sent, received) = {
        let (to_bob, to_alice) = (to_bob.clone(), to_alice.clone());
        let alice_side = async move {
            let (mut read, mut write) = tokio::io::split(alice);
            let send = async {
                write.write_all(&to_bob).await.unwrap();
                write.shutdown().await.unwrap();
            };
            let mut got = Vec::new();
            tokio::join!(send, async { read.read_to_end(&mut got).await.unwrap() });
            got
        };
        let bob_side = async move {
            let (mut read, mut write) = tokio::io::split(bob);
            let send = async {
                write.write_all(&to_alice).await.unwrap();
                write.shutdown().await.unwrap();
            };
            let mut got = Vec::new();
            tokio::join!(send, async { read.read_to_end(&mut got).await.unwrap() });
            got
        };
        tokio::join!(alice_side, bob_side)
    };
    assert!(sent == to_alice, "Alice got Bob's bytes exactly ({} of {})", sent.len(), to_alice.len());
    assert!(received == to_bob, "Bob got Alice's bytes exactly ({} of {})", received.len(), to_bob.len());

    let rows = relay_rows(&mut server).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!((row.user.as_deref(), row.outcome.as_str()), (Some("alice"), "closed"));
    let to_creator = (first.len() + to_alice.len()) as u64;
    assert_eq!(detail_value(row, "to_joiner"), Some(to_bob.len().to_string()));
    assert_eq!(detail_value(row, "to_creator"), Some(to_creator.to_string()));
    assert_eq!(row.size, Some(to_bob.len() as u64 + to_creator));
    assert_eq!(detail_value(row, "joiner_user").as_deref(), Some("bob"));
    assert_eq!(detail_value(row, "nameplate"), Some(nameplate.to_string()));
    assert!(detail_value(row, "joiner").unwrap().starts_with("127.0.0.1:"));
    assert!(row.remote.is_some() && detail_value(row, "duration_ms").is_some());
    assert!(row.name.is_none() && row.digest.is_none(), "nothing about the content");
}

#[tokio::test]
async fn unknown_expired_and_taken_nameplates_are_refused_clearly() {
    let relay = RelayLimits { nameplate_ttl: Duration::from_millis(200), ..RelayLimits::default() };
    let server = start(relay).await;

    let rendezvous = relay::create(server.connect("alice").await).await.unwrap();
    let nameplate = rendezvous.nameplate();
    let other = Nameplate::new(if nameplate.get() == 1 { 2 } else { nameplate.get() - 1 }).unwrap();
    let error = relay::join(server.connect("bob").await, other).await.err().unwrap();
    let (code, message) = refusal(error);
    assert_eq!(code, error_code::NOT_FOUND);
    assert!(message.contains(&format!("no rendezvous has nameplate {other}")), "{message}");

    // Nobody joins: the creator hears that it expired, and so does a late joiner.
    let started = Instant::now();
    let (code, message) = refusal(rendezvous.wait().await.err().unwrap());
    assert!(started.elapsed() >= Duration::from_millis(190), "not before its time");
    assert_eq!(code, error_code::EXPIRED);
    assert!(message.contains(&format!("nobody joined nameplate {nameplate}")), "{message}");
    let (code, message) = refusal(relay::join(server.connect("bob").await, nameplate).await.err().unwrap());
    assert_eq!(code, error_code::EXPIRED);
    assert!(message.contains("expired"), "{message}");

    // A second joiner of a paired nameplate.
    let relay = RelayLimits::default();
    let server = start(relay).await;
    let rendezvous = relay::create(server.connect("alice").await).await.unwrap();
    let nameplate = rendezvous.nameplate();
    let _bob = relay::join(server.connect("bob").await, nameplate).await.unwrap();
    let (code, message) = refusal(relay::join(server.connect("carol").await, nameplate).await.err().unwrap());
    assert_eq!(code, error_code::EXISTS);
    assert!(message.contains("already joined"), "{message}");
}

/// A refused relay request is one failed request: a logged-in session
/// goes on with the next one.
#[tokio::test]
async fn a_refused_request_leaves_an_account_session_usable() {
    let server = start(RelayLimits::default()).await;
    let (mut reader, mut writer) = server.connect("bob").await.into_session().await.unwrap();
    let missing = Nameplate::new(7).unwrap();
    writer.send(&Message::Relay { transfer: 1, relay: Relay::Join { nameplate: missing } }).await.unwrap();
    let reply = reader.next().await.unwrap();
    assert!(
        matches!(reply, sxfer::net::Incoming::Message(Message::Error { transfer: 1, code: error_code::NOT_FOUND, .. })),
        "{reply:?}"
    );
    let name = RemoteName::parse("nothing-here").unwrap();
    writer.send(&Message::Stat { transfer: 2, name }).await.unwrap();
    let reply = reader.next().await.unwrap();
    assert!(
        matches!(reply, sxfer::net::Incoming::Message(Message::Error { transfer: 2, code: error_code::NOT_FOUND, .. })),
        "the Stat is answered: {reply:?}"
    );
    // A client may not send the server's messages.
    writer.send(&Message::Relay { transfer: 3, relay: Relay::Start }).await.unwrap();
    let reply = reader.next().await.unwrap();
    assert!(matches!(
        reply,
        sxfer::net::Incoming::Message(Message::Error { transfer: 3, code: error_code::BAD_REQUEST, .. })
    ));
}

#[tokio::test]
async fn the_relay_mode_decides_who_may_relay() {
    // off: even a user is refused.
    let server = start(RelayLimits { mode: RelayMode::Off, ..RelayLimits::default() }).await;
    let (code, message) = refusal(relay::create(server.connect("alice").await).await.err().unwrap());
    assert_eq!(code, error_code::REFUSED);
    assert!(message.contains("does not relay"), "{message}");
    let error = anonymous(&server).await.err().unwrap();
    assert!(format!("{error:#}").contains("needs an account"), "{error:#}");

    // accounts (the default): users yes, anonymous clients no.
    let server = start(RelayLimits::default()).await;
    let error = anonymous(&server).await.err().unwrap();
    assert!(format!("{error:#}").contains("needs an account"), "{error:#}");

    // open: anonymous clients pair, and may do nothing else.
    let server = start(RelayLimits { mode: RelayMode::Open, ..RelayLimits::default() }).await;
    let rendezvous = relay::create(anonymous(&server).await.unwrap()).await.unwrap();
    let mut joiner = relay::join(anonymous(&server).await.unwrap(), rendezvous.nameplate()).await.unwrap();
    let mut creator = rendezvous.wait().await.unwrap();
    creator.write_all(b"ping").await.unwrap();
    let mut got = [0; 4];
    joiner.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ping");
    let mut nosy = anonymous(&server).await.unwrap();
    let error = commands::list(&mut nosy, "").await.err().unwrap();
    assert!(format!("{error:#}").contains("may only create or join a relay"), "{error:#}");
}

#[tokio::test]
async fn the_byte_cap_cuts_both_sides_at_the_cap() {
    let cap = 1 << 20;
    let mut server = start(RelayLimits { max_bytes: cap, ..RelayLimits::default() }).await;
    let (mut alice, mut bob) = pair(&server).await;
    let data = random_bytes(4 << 20, 3);
    let sending = tokio::spawn(async move {
        // Fails once the relay cuts; what got through is Bob's to count.
        alice.write_all(&data).await.ok();
        let mut rest = Vec::new();
        alice.read_to_end(&mut rest).await.ok();
        (data, rest)
    });
    let got = read_until_cut(&mut bob).await;
    let (data, rest) = sending.await.unwrap();
    assert_eq!(got.len() as u64, cap, "exactly the cap got through");
    assert!(got == data[..got.len()], "and it is the start of what was sent");
    assert!(rest.is_empty(), "Alice's side is cut too");
    let rows = relay_rows(&mut server).await;
    assert_eq!((rows[0].outcome.as_str(), rows[0].size), ("byte cap", Some(cap)));
}

#[tokio::test]
async fn an_idle_relay_is_cut_and_a_busy_one_is_not() {
    let idle = Duration::from_millis(200);
    let mut server = start(RelayLimits { idle_timeout: idle, ..RelayLimits::default() }).await;
    let (mut alice, mut bob) = pair(&server).await;
    // A byte every 50 ms for 2.5 idle timeouts: never idle, never cut.
    let mut last_write = Instant::now();
    for i in 0..10u8 {
        if i > 0 {
            tokio::time::sleep(idle / 4).await;
        }
        last_write = Instant::now();
        alice.write_all(&[i]).await.unwrap();
        let mut got = [0; 1];
        bob.read_exact(&mut got).await.expect("a busy relay stays up");
        assert_eq!(got, [i]);
    }
    let (from_alice, from_bob) = tokio::join!(read_until_cut(&mut alice), read_until_cut(&mut bob));
    let silent = last_write.elapsed();
    assert!(silent >= idle, "not before the idle timeout: cut after {silent:?} of silence");
    assert!(from_alice.is_empty() && from_bob.is_empty());
    let rows = relay_rows(&mut server).await;
    assert_eq!(rows[0].outcome, "idle timeout");
    assert_eq!(rows[0].size, Some(10));
}

#[tokio::test]
async fn the_total_timeout_cuts_a_relay() {
    let total = Duration::from_millis(300);
    let mut server = start(RelayLimits { total_timeout: total, ..RelayLimits::default() }).await;
    let (mut alice, mut bob) = pair(&server).await;
    alice.write_all(b"hello").await.unwrap();
    let got = read_until_cut(&mut bob).await;
    assert_eq!(got, b"hello");
    let rows = relay_rows(&mut server).await;
    assert_eq!(rows[0].outcome, "total timeout");
}

/// Relays count against `max_relays`, not the session limit: with room
/// for three sessions, two relays (five connections: one still waiting)
/// run and a user can still log in; a third relay is refused until one
/// ends. (Three, not two: a refused client's connection may take a moment
/// to be noticed gone.)
#[tokio::test]
async fn max_relays_is_enforced_and_relays_do_not_hold_session_slots() {
    let options = Options {
        limits: Limits {
            max_connections: 3,
            relay: RelayLimits { max_relays: 2, ..RelayLimits::default() },
            ..Options::default().limits
        },
        ..Options::default()
    };
    let server = TestServer::start(options).await;
    for user in ["alice", "bob", "carol"] {
        server.add_user(user);
    }
    let (mut first, _first_peer) = pair(&server).await;
    let waiting = relay::create(server.connect("alice").await).await.unwrap();
    let (code, message) = refusal(relay::create(server.connect("carol").await).await.err().unwrap());
    assert_eq!(code, error_code::LIMIT);
    assert!(message.contains("as many sessions as it allows"), "{message}");
    let mut carol = server.connect("carol").await;
    commands::list(&mut carol, "").await.expect("a normal session still gets in");
    carol.close().await.unwrap();
    // The waiting one gives up: its slot is free again.
    waiting.cancel().await.unwrap();
    let _again = relay::create(server.connect("carol").await).await.expect("room again");
    first.shutdown().await.unwrap();
}

#[tokio::test]
async fn claims_are_rate_limited_per_address() {
    let server = start(RelayLimits { claims_per_minute: 3, ..RelayLimits::default() }).await;
    let missing = Nameplate::new(4242).unwrap();
    for _ in 0..3 {
        let (code, _) = refusal(relay::join(server.connect("bob").await, missing).await.err().unwrap());
        assert_eq!(code, error_code::NOT_FOUND);
    }
    let (code, message) = refusal(relay::create(server.connect("alice").await).await.err().unwrap());
    assert_eq!(code, error_code::LIMIT, "creating counts against the same allowance");
    assert!(message.contains("too many rendezvous requests"), "{message}");
}

#[tokio::test]
async fn shutdown_ends_relays_and_waiting_rendezvous() {
    let mut server = start(RelayLimits::default()).await;
    let (mut alice, mut bob) = pair(&server).await;
    let waiting = relay::create(server.connect("carol").await).await.unwrap();
    let waited = tokio::spawn(waiting.wait());
    server.shutdown().await;
    let (from_alice, from_bob) = tokio::join!(read_until_cut(&mut alice), read_until_cut(&mut bob));
    assert!(from_alice.is_empty() && from_bob.is_empty());
    let error = waited.await.unwrap().err().unwrap();
    assert!(error.downcast_ref::<SessionEnded>().is_some_and(|e| e.code == error_code::SHUTTING_DOWN), "{error:#}");
    server.store.flush_audit().unwrap();
    let rows = server.store.audit_log(0, 1000).unwrap();
    let outcomes: Vec<_> =
        rows.iter().filter(|(_, r)| r.event.kind == AuditKind::Relay).map(|(_, r)| r.event.outcome.clone()).collect();
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.iter().all(|o| o == "shutting down"), "{outcomes:?}");
}

/// What the relayed stream is for: the peers run SXFR/1 end to end over
/// it (the creator as its server), and the relay in between only copies.
#[tokio::test]
async fn the_peers_run_their_own_sxfr_session_over_the_relay() {
    use std::sync::Arc;

    use rand_core::OsRng;
    use sxfer::net::conn::{client_handshake, server_handshake, AuthDecision};
    use sxfer::net::Incoming;
    use sxfer_proto::handshake::{AuthRequest, ClientConfig, Credential, ServerConfig, ServerPin};
    use sxfer_proto::identity::PrivateIdentity;
    use sxfer_proto::msgs::ClientId;
    use sxfer_proto::CloseCode;

    let server = start(RelayLimits::default()).await;
    let (alice, bob) = pair(&server).await;
    let identity = Arc::new(PrivateIdentity::generate_ed25519(&mut OsRng).unwrap());
    let pin = ServerPin::Fingerprint(identity.public().fingerprint());
    let idle = Duration::from_secs(30);
    let listener = tokio::spawn(server_handshake(
        alice,
        Arc::new(ServerConfig::new(identity)),
        || async { Ok(()) },
        |request| async move {
            assert!(matches!(request, AuthRequest::Anonymous));
            Ok(AuthDecision::Accept(ClientId([9; 16]), ()))
        },
        idle,
    ));
    let mut connector =
        client_handshake(bob, ClientConfig::default(), |_| Ok(pin), || Ok(Credential::Anonymous), idle).await.unwrap();
    let mut listener = listener.await.unwrap().unwrap();
    assert_eq!(connector.client_id, ClientId([9; 16]));
    connector.writer.send(&Message::Done { transfer: 5 }).await.unwrap();
    assert!(matches!(listener.reader.next().await.unwrap(), Incoming::Message(Message::Done { transfer: 5 })));
    connector.writer.close(CloseCode::Normal).await.unwrap();
    assert!(matches!(listener.reader.next().await.unwrap(), Incoming::Closed(CloseCode::Normal)));
}
