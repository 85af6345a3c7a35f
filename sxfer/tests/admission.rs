//! Admission and login throttling against the real server on 127.0.0.1:0:
//! idle, slow and garbage connections cannot lock users out, and password
//! guessing cannot lock out a user's key logins or her other addresses.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use crate::common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand_core::OsRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use common::*;
use sxfer::client::{self, commands, Purpose};
use sxfer::net::conn::client_handshake;
use sxfer::server::Limits;
use sxfer_proto::handshake::client::ExpectServerHello;
use sxfer_proto::handshake::{ClientConfig, Credential, ServerPin};
use sxfer_proto::identity::PrivateIdentity;
use sxfer_proto::msgs::Username;
use sxfer_proto::secret::Password;

/// Generous bound for the server to act; the tests wait on the event, this
/// only turns a missing event into a failure instead of a hang.
const EVENTUALLY: Duration = Duration::from_secs(20);

fn with_limits(limits: Limits) -> Options {
    Options { limits: Limits { shutdown_grace: Duration::from_secs(1), ..limits }, ..Options::default() }
}

/// Connections that never send a byte.
async fn stalled(address: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        streams.push(TcpStream::connect(address).await.unwrap());
    }
    streams
}

/// Connections that send something that is not SXFR/1 and stay open.
async fn garbage(address: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(count);
    for i in 0..count {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let bytes: Vec<u8> = match i % 3 {
            0 => b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            // A plausible frame length, then junk where the ClientHello goes.
            1 => [&[0u8, 0, 0, 40][..], &random_bytes(40, i as u64)].concat(),
            _ => random_bytes(3000, i as u64),
        };
        stream.write_all(&bytes).await.unwrap();
        streams.push(stream);
    }
    streams
}

/// Read until the server closes `stream` (EOF or reset); fails if it does
/// not within `EVENTUALLY`.
async fn closed_by_server(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(EVENTUALLY, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept the connection open");
}

/// Send a real ClientHello and expect a ServerHello frame header back: the
/// connection is alive and admitted.
async fn answers_a_hello(stream: &mut TcpStream) {
    let (_state, hello) = ExpectServerHello::start(ClientConfig::default(), &mut OsRng).unwrap();
    stream.write_all(&hello).await.unwrap();
    let mut header = [0u8; 4];
    tokio::time::timeout(EVENTUALLY, stream.read_exact(&mut header)).await.unwrap().unwrap();
    assert!(u32::from_be_bytes(header) > 0);
}

async fn login_and_list(server: &TestServer) {
    let mut remote = server.connect("alice").await;
    commands::list(&mut remote, "").await.unwrap();
    remote.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_and_garbage_connections_do_not_lock_out_a_real_client() {
    // More idle sockets than sessions and than the unauthenticated pool:
    // before admission, each took a session permit at accept.
    let server = TestServer::start(with_limits(Limits {
        max_connections: 4,
        max_handshakes: 16,
        handshake_timeout: Duration::from_secs(60),
        ..Limits::default()
    }))
    .await;
    server.add_user("alice");
    let _stalled = stalled(server.address, 40).await;
    let _garbage = garbage(server.address, 30).await;
    let _more_stalled = stalled(server.address, 10).await;
    login_and_list(&server).await;
    // And again while they are all still open.
    login_and_list(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_address_cap_are_dropped_oldest_first() {
    const CAP: usize = 4;
    let server = TestServer::start(with_limits(Limits {
        max_handshakes_per_address: CAP,
        handshake_timeout: Duration::from_secs(60),
        ..Limits::default()
    }))
    .await;
    server.add_user("alice");
    let mut streams = stalled(server.address, CAP + 6).await;
    for stream in &mut streams[..6] {
        closed_by_server(stream).await;
    }
    // The newest CAP are still admitted: the newest answers a ClientHello.
    answers_a_hello(streams.last_mut().unwrap()).await;
    // A real client from the same address gets in; it displaces the oldest
    // idle connection, not the one that already sent its hello.
    login_and_list(&server).await;
    closed_by_server(&mut streams[6]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_handshake_is_cut_at_the_deadline() {
    const DEADLINE: Duration = Duration::from_secs(1);
    let server = TestServer::start(with_limits(Limits { handshake_timeout: DEADLINE, ..Limits::default() })).await;
    server.add_user("alice");
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.address).await.unwrap();
    // This one sends its ClientHello, gets the ServerHello, then stalls
    // instead of authenticating.
    let mut half_done = TcpStream::connect(server.address).await.unwrap();
    answers_a_hello(&mut half_done).await;
    closed_by_server(&mut silent).await;
    closed_by_server(&mut half_done).await;
    assert!(started.elapsed() >= DEADLINE, "not cut before the deadline");
    login_and_list(&server).await;
}

/// A password login over a socket bound to `local` (any 127.0.0.0/8
/// address reaches the server's 127.0.0.1).
async fn password_login_from(server: &TestServer, local: &str, password: &str) -> anyhow::Result<()> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{local}:0").parse()?)?;
    let stream = socket.connect(server.address).await?;
    let credential = || {
        Ok(Credential::Password { username: Username::parse("alice")?, password: Password::new(password.to_owned()) })
    };
    let pin = |_: &_| Ok(ServerPin::Fingerprint(server.fingerprint));
    let mut session = client_handshake(stream, ClientConfig::default(), pin, credential, EVENTUALLY).await?;
    session.writer.close(sxfer_proto::CloseCode::Normal).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guessing_blocks_neither_key_logins_nor_other_addresses() {
    let server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let key = PrivateIdentity::generate_ed25519(&mut OsRng).unwrap();
    let key_file = server.dir.path().join("id_ed25519");
    std::fs::write(&key_file, key.to_openssh().unwrap().as_bytes()).unwrap();
    server.store.add_key(&Username::parse("alice").unwrap(), key.public()).unwrap();

    // Someone at 127.0.0.1 guesses Alice's password until throttled.
    let mut refused = None;
    for _ in 0..20 {
        let err = password_login_from(&server, "127.0.0.1", "guess").await.unwrap_err();
        if format!("{err:#}").contains("too many failed logins") {
            refused = Some(err);
            break;
        }
        assert!(format!("{err:#}").contains("login failed"), "{err:#}");
    }
    assert!(refused.is_some(), "guessing is throttled");
    let err = password_login_from(&server, "127.0.0.1", PASSWORD).await.unwrap_err();
    assert!(format!("{err:#}").contains("too many failed logins"), "the pair is refused unchecked: {err:#}");

    // Alice's key login from that same address still works...
    let mut options = server.client_options(&server.dir.path().join("home-key"), "unused");
    options.identity_file = Some(key_file);
    let mut remote = client::connect(&server.target("alice", ""), &options, Purpose::Login).await.unwrap();
    commands::list(&mut remote, "").await.unwrap();
    remote.close().await.unwrap();
    // ...and so does her password from another address.
    password_login_from(&server, "127.0.0.2", PASSWORD).await.unwrap();
}
