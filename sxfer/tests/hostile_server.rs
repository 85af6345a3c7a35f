//! A hostile server: a real SXFR/1 handshake on 127.0.0.1:0, then scripted
//! replies that break the data phase. The client must end each with a
//! clear error, write nothing under a final name, and never write more
//! than the announced size.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rand_core::OsRng;
use tokio::net::TcpListener;

use common::PASSWORD;
use sxfer::client::target::Target;
use sxfer::client::{self, download, upload, ClientOptions, Purpose, Remote};
use sxfer::net::conn::{server_handshake, AuthDecision, Incoming, ServerSession, SessionWriter};
use sxfer::output::Output;
use sxfer_proto::handshake::ServerConfig;
use sxfer_proto::identity::PrivateIdentity;
use sxfer_proto::msgs::app::error_code;
use sxfer_proto::msgs::{ClientId, FileEntry, FileMeta, Message};
use sxfer_proto::names::RemoteName;
use sxfer_proto::CloseCode;

fn quiet() -> Output {
    Output { quiet: true, ..Output::default() }
}

/// What the hostile server does with each request.
type Script = fn(Message, &mut SessionWriter) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;

/// Starts a server that authenticates anyone and answers requests with
/// `script`; returns a connected client.
async fn hostile(home: &Path, script: Script) -> Remote {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let identity = Arc::new(PrivateIdentity::generate_ed25519(&mut OsRng).unwrap());
    let fingerprint = identity.public().fingerprint();
    let config = Arc::new(ServerConfig::new(identity));
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let accept = |_| async { Ok(AuthDecision::Accept(ClientId([1; 16]), ())) };
        let idle = Duration::from_secs(10);
        let Ok(session) = server_handshake(stream, config, || async { Ok(()) }, accept, idle).await else {
            return;
        };
        let ServerSession { mut reader, mut writer, .. } = session;
        loop {
            match reader.next().await {
                Ok(Incoming::Message(message)) => script(message, &mut writer).await,
                Ok(Incoming::Data(_)) => {}
                _ => return,
            }
        }
    });
    std::fs::create_dir_all(home).unwrap();
    std::fs::write(home.join("password"), PASSWORD).unwrap();
    let options = ClientOptions {
        home: home.to_path_buf(),
        password_file: Some(home.join("password")),
        fingerprint: Some(fingerprint),
        idle_timeout: Some(Duration::from_secs(10)),
        ..ClientOptions::default()
    };
    let target = Target::parse(&format!("alice@127.0.0.1:{}:", address.port())).unwrap();
    client::connect(&target, &options, Purpose::Login).await.unwrap()
}

fn entry(size: u64) -> FileEntry {
    let meta = FileMeta { size, mode: 0o644, mtime: 0, mtime_nanos: 0 };
    FileEntry {
        name: RemoteName::parse("f.bin").unwrap(),
        meta,
        digest: *blake3::hash(&vec![7; size as usize]).as_bytes(),
        stored: 0,
    }
}

/// Downloads `f.bin` from a hostile server into a fresh directory;
/// returns the error and what the directory holds afterwards.
async fn download_from(script: Script) -> (String, Vec<(String, u64)>) {
    let dir = tempfile::tempdir().unwrap();
    let mut remote = hostile(&dir.path().join("home"), script).await;
    let dest = dir.path().join("out");
    std::fs::create_dir_all(&dest).unwrap();
    let job = download::Job { remote: RemoteName::parse("f.bin").unwrap(), local: dest.join("f.bin"), listed: None };
    let outcome =
        tokio::time::timeout(Duration::from_secs(20), download::run(&mut remote, &[job], &dest, false, &quiet()))
            .await
            .expect("the client must not hang");
    let error = format!("{:#}", outcome.expect_err("a hostile download must fail"));
    let mut held: Vec<(String, u64)> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len())
        })
        .collect();
    held.sort();
    (error, held)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_offset_beyond_the_file_is_a_protocol_error() {
    // The size - offset underflow that let a server write without bound.
    let (error, held) = download_from(|message, writer| {
        Box::pin(async move {
            let Message::Download { transfer, .. } = message else { return };
            // Claims offset 20 of a 10-byte file, then pours data.
            writer.send(&Message::DownloadStart { transfer, entry: entry(10), offset: 20 }).await.ok();
            for _ in 0..64 {
                if writer.queue_data(&[0; 65536]).is_err() || writer.flush().await.is_err() {
                    return;
                }
            }
        })
    })
    .await;
    assert!(error.contains("protocol"), "{error}");
    assert!(held.iter().all(|(name, _)| name != "f.bin"), "{held:?}");
    assert!(held.iter().all(|(_, len)| *len == 0), "nothing written: {held:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_data_than_announced_is_refused_as_it_arrives() {
    let (error, held) = download_from(|message, writer| {
        Box::pin(async move {
            let Message::Download { transfer, .. } = message else { return };
            writer.send(&Message::DownloadStart { transfer, entry: entry(5 << 20), offset: 0 }).await.ok();
            for _ in 0..64 {
                if writer.queue_data(&[7; 1 << 20]).is_err() || writer.flush().await.is_err() {
                    return;
                }
            }
        })
    })
    .await;
    assert!(error.contains("more data than the announced size"), "{error}");
    assert!(held.iter().all(|(name, _)| name != "f.bin"), "{held:?}");
    assert!(held.iter().all(|(_, len)| *len <= 5 << 20), "never beyond the size: {held:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_contradicts_the_announce_places_nothing() {
    let (error, held) = download_from(|message, writer| {
        Box::pin(async move {
            let Message::Download { transfer, .. } = message else { return };
            writer.queue(&Message::DownloadStart { transfer, entry: entry(5 << 20), offset: 0 }).ok();
            for _ in 0..5 {
                writer.queue_data(&[7; 1 << 20]).ok();
            }
            writer.send(&Message::Commit { transfer, length: 5 << 20, digest: [0; 32] }).await.ok();
        })
    })
    .await;
    assert!(error.contains("digest"), "{error}");
    assert!(held.iter().all(|(name, _)| name != "f.bin"), "{held:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_ready_beyond_the_file_is_a_protocol_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut remote = hostile(&dir.path().join("home"), |message, writer| {
        Box::pin(async move {
            if let Message::Upload { transfer, meta, .. } = message {
                writer.send(&Message::UploadReady { transfer, offset: meta.size + 1 }).await.ok();
            }
        })
    })
    .await;
    let local = dir.path().join("big.bin");
    std::fs::write(&local, vec![1u8; 5 << 20]).unwrap();
    let jobs = upload::plan(&[local], None, false).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(20), upload::run(&mut remote, &jobs, &quiet()))
        .await
        .expect("the client must not hang");
    let error = format!("{:#}", outcome.expect_err("must fail"));
    assert!(error.contains("beyond the end of the file"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_entry_for_another_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut remote = hostile(&dir.path().join("home"), |message, writer| {
        Box::pin(async move {
            if let Message::Commit { transfer, length, .. } = message {
                // Claims to have stored other bytes than those sent.
                writer.send(&Message::Committed { transfer, entry: entry(length) }).await.ok();
            }
        })
    })
    .await;
    let local = dir.path().join("small.bin");
    std::fs::write(&local, b"hello").unwrap();
    let jobs = upload::plan(&[local], None, false).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(20), upload::run(&mut remote, &jobs, &quiet()))
        .await
        .expect("the client must not hang");
    let error = format!("{:#}", outcome.expect_err("must fail"));
    assert!(error.contains("not the one sent"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_ending_the_session_instead_of_a_download_is_reported_as_such() {
    // What the real server does when it shuts down between two pipelined
    // downloads (PROTOCOL.md §7.5.6): Error(0, SHUTTING_DOWN) and a Close.
    let (error, held) = download_from(|message, writer| {
        Box::pin(async move {
            if let Message::Download { .. } = message {
                let reason = "the server is shutting down".to_owned();
                writer
                    .send(&Message::Error { transfer: 0, code: error_code::SHUTTING_DOWN, message: reason })
                    .await
                    .ok();
                writer.close(CloseCode::Normal).await.ok();
            }
        })
    })
    .await;
    assert!(error.contains("the server ended the session: the server is shutting down"), "{error}");
    assert!(held.is_empty(), "{held:?}");
}

/// How many flood messages the hostile server managed to write, and when
/// it stopped: all written, or its write deadline (the idle timeout) cut
/// it off because nobody read.
static FLOODED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static FLOOD_ENDED: tokio::sync::Notify = tokio::sync::Notify::const_new();
const FLOOD: usize = 2_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_cannot_grow_the_clients_memory_with_replies_it_does_not_read() {
    // The client's reader task used to queue every message on an unbounded
    // channel: a server could pour replies (here ~100 MB of Acks) into a
    // client busy elsewhere until it ran out of memory. Now the queue is
    // bounded, so the reader stops reading and the server's writes stall
    // until its write deadline gives up.
    let dir = tempfile::tempdir().unwrap();
    let mut remote = hostile(&dir.path().join("home"), |message, writer| {
        Box::pin(async move {
            let Message::Stat { transfer, .. } = message else { return };
            for _ in 0..FLOOD {
                let ack = Message::Ack { transfer, offset: 0 };
                if writer.queue(&ack).is_err() || writer.flush().await.is_err() {
                    break;
                }
                FLOODED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            FLOOD_ENDED.notify_one();
        })
    })
    .await;
    let stat = Message::Stat { transfer: 1, name: RemoteName::parse("x").unwrap() };
    remote.writer.send(&stat).await.unwrap();
    // The client reads nothing meanwhile.
    tokio::time::timeout(Duration::from_secs(60), FLOOD_ENDED.notified()).await.expect("the flood must end");
    let written = FLOODED.load(std::sync::atomic::Ordering::Relaxed);
    // What the two socket buffers and 8 queued events hold: a few MB.
    assert!(written < FLOOD / 4, "the server wrote {written} of {FLOOD} replies nobody read");
    drop(remote);
}
