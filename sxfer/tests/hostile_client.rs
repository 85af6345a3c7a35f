//! A hostile client: a real handshake and password login against a real
//! server on 127.0.0.1:0, then requests, Data records and Commits written
//! by hand that break the upload data phase (PROTOCOL.md §7.2, §7.5.1,
//! §7.5.2, §7.6, §7.7). For each, what the server answers (an Error for
//! the request, or Error(0, BAD_REQUEST) and Close 0x0002 for a protocol
//! violation), and that nothing is stored under the name, while the
//! well-formed uploads before it on the same connection are.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use crate::common;

use std::time::Duration;

use common::*;
use sxfer::client::{self, Event, Purpose, Remote, SessionEnded};
use sxfer::{server, store};
use sxfer_proto::msgs::app::error_code;
use sxfer_proto::msgs::{FileMeta, Message};
use sxfer_proto::names::RemoteName;
use sxfer_proto::record::MAX_PAYLOAD;
use sxfer_proto::CloseCode;

const MTIME: i64 = 1_767_225_600;

fn meta(size: usize) -> FileMeta {
    FileMeta { size: size as u64, mode: 0o644, mtime: MTIME, mtime_nanos: 0 }
}

fn name(name: &str) -> RemoteName {
    RemoteName::parse(name).unwrap()
}

fn upload(transfer: u32, file: &str, size: usize, resume: bool) -> Message {
    Message::Upload { transfer, name: name(file), meta: meta(size), resume }
}

fn commit(transfer: u32, data: &[u8]) -> Message {
    Message::Commit { transfer, length: data.len() as u64, digest: *blake3::hash(data).as_bytes() }
}

fn stat(transfer: u32, file: &str) -> Message {
    Message::Stat { transfer, name: name(file) }
}

fn queue(remote: &mut Remote, message: &Message) {
    remote.writer.queue(message).unwrap();
}

/// Queues `data` as Data records of at most `MAX_PAYLOAD` bytes.
fn queue_data(remote: &mut Remote, data: &[u8]) {
    for chunk in data.chunks(MAX_PAYLOAD) {
        remote.writer.queue_data(chunk).unwrap();
    }
}

/// Queues a well-formed pipelined upload: request, data, Commit.
fn queue_upload(remote: &mut Remote, transfer: u32, file: &str, data: &[u8]) {
    queue(remote, &upload(transfer, file, data.len(), false));
    queue_data(remote, data);
    queue(remote, &commit(transfer, data));
}

async fn flush(remote: &mut Remote) {
    remote.writer.flush().await.unwrap();
}

/// The next message from the server, within a deadline.
async fn reply(remote: &mut Remote) -> Message {
    tokio::time::timeout(Duration::from_secs(20), remote.next_message()).await.expect("the server must answer").unwrap()
}

/// Every message until the connection ends, and how it ended.
async fn until_end(remote: &mut Remote) -> (Vec<Message>, anyhow::Error) {
    let mut messages = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(20), remote.next()).await.expect("the server must not hang") {
            Ok(Event::Message(message)) => messages.push(message),
            Ok(Event::Data(_)) => panic!("data from the server during an upload"),
            Ok(Event::Closed(code)) => unreachable!("Remote::next reports a Close as an error ({code})"),
            Err(e) => return (messages, e),
        }
    }
}

/// The server's answer to a protocol violation (§7.2 rule 5, §10.6): the
/// replies owed so far, then Error(0, BAD_REQUEST) and Close 0x0002.
/// Returns the replies before the Error.
async fn ended_for_violation(remote: &mut Remote) -> Vec<Message> {
    let (messages, end) = until_end(remote).await;
    match end.downcast_ref::<SessionEnded>() {
        Some(ended) => assert_eq!(ended.code, error_code::BAD_REQUEST, "{ended}"),
        None => panic!("expected Error(0, BAD_REQUEST) after {messages:?}, got: {end:#}"),
    }
    let close = remote.next().await.map(|_| ()).expect_err("the Close follows");
    assert_eq!(close.to_string(), "the server closed the connection (protocol violation)");
    messages
}

fn assert_error(message: &Message, transfer: u32, code: u16) -> String {
    match message {
        Message::Error { transfer: t, code: c, message } if *t == transfer && *c == code => message.clone(),
        other => panic!("expected Error({transfer}, {code:#06x}), got {other:?}"),
    }
}

fn assert_committed(message: &Message, transfer: u32, data: &[u8]) {
    match message {
        Message::Committed { transfer: t, entry } if *t == transfer => {
            assert_eq!(entry.meta.size, data.len() as u64);
            assert_eq!(entry.digest, *blake3::hash(data).as_bytes());
        }
        other => panic!("expected Committed({transfer}), got {other:?}"),
    }
}

/// The server holds exactly `data` under `file`.
fn assert_stored(server: &TestServer, file: &str, data: &[u8]) {
    let entry = server.stat("alice", file).unwrap_or_else(|| panic!("{file} is not stored"));
    assert_eq!((entry.meta.size, entry.digest), (data.len() as u64, *blake3::hash(data).as_bytes()), "{file}");
}

fn assert_absent(server: &TestServer, file: &str) {
    assert!(server.stat("alice", file).is_none(), "{file} must not be stored");
}

/// Partial uploads the server keeps under `file` (STORAGE.md §6).
fn partials(server: &TestServer, file: &str) -> i64 {
    let db = rusqlite::Connection::open(server.data.join("sxfer.db")).unwrap();
    db.query_row("SELECT COUNT(*) FROM partials WHERE name = ?1", [file], |row| row.get(0)).unwrap()
}

async fn start() -> TestServer {
    let server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    server
}

/// Uploads `good.txt` and waits for its Committed: a well-formed upload
/// on the connection before the hostile part.
async fn upload_good(server: &TestServer, remote: &mut Remote, transfer: u32) -> Vec<u8> {
    let good = random_bytes(1000, u64::from(transfer));
    queue_upload(remote, transfer, "good.txt", &good);
    flush(remote).await;
    assert_committed(&reply(remote).await, transfer, &good);
    assert_stored(server, "good.txt", &good);
    good
}

/// Sends Upload(`transfer`, `file`, `size`, `resume`); a resumable one
/// waits for its UploadReady, at 0 (there is nothing to resume).
async fn begin(remote: &mut Remote, transfer: u32, file: &str, size: usize, resume: bool) {
    queue(remote, &upload(transfer, file, size, resume));
    if resume {
        flush(remote).await;
        assert_eq!(reply(remote).await, Message::UploadReady { transfer, offset: 0 });
    }
}

/// A fresh connection that has stored `good.txt` (transfer 1) and begun
/// the upload of `file` as transfer 2; returns it and good.txt's bytes.
async fn hostile_upload(server: &TestServer, file: &str, size: usize, resume: bool) -> (Remote, Vec<u8>) {
    let mut remote = server.connect("alice").await;
    let good = upload_good(server, &mut remote, 1).await;
    begin(&mut remote, 2, file, size, resume).await;
    (remote, good)
}

/// Writes what is queued: the server must end the connection for a
/// protocol violation, with no reply owed, and hold `good.txt` but
/// nothing under `file`.
async fn assert_violation(server: &TestServer, remote: &mut Remote, good: &[u8], file: &str) {
    flush(remote).await;
    assert_eq!(ended_for_violation(remote).await, Vec::new());
    assert_stored(server, "good.txt", good);
    assert_absent(server, file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_beyond_the_announced_size_ends_the_connection() {
    let server = start().await;
    for (file, resume) in [("over.txt", false), ("over.bin", true)] {
        let (mut remote, good) = hostile_upload(&server, file, 100, resume).await;
        // Within the size in two records, then one byte beyond it.
        queue_data(&mut remote, &[7; 60]);
        queue_data(&mut remote, &[7; 41]);
        queue(&mut remote, &commit(2, &[7; 101]));
        assert_violation(&server, &mut remote, &good, file).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_with_a_wrong_length_fails_that_upload_only() {
    let server = start().await;
    let data = random_bytes(100, 2);
    let (mut remote, good) = hostile_upload(&server, "short.txt", 100, false).await;
    // Pipelined: all 100 bytes, a Commit claiming 99 (with their digest).
    queue_data(&mut remote, &data);
    queue(&mut remote, &commit(2, &data[..99]));
    // Pipelined: 50 of the 100 bytes, and the whole file's Commit.
    begin(&mut remote, 3, "half.txt", 100, false).await;
    queue_data(&mut remote, &data[..50]);
    queue(&mut remote, &commit(3, &data));
    queue_upload(&mut remote, 4, "after.txt", &data);
    flush(&mut remote).await;
    let short = assert_error(&reply(&mut remote).await, 2, error_code::INTEGRITY);
    let half = assert_error(&reply(&mut remote).await, 3, error_code::INTEGRITY);
    assert_committed(&reply(&mut remote).await, 4, &data);

    // Resumable: the same, and the partial upload is discarded (§7.6).
    begin(&mut remote, 5, "resumed.bin", 100, true).await;
    queue_data(&mut remote, &data);
    queue(&mut remote, &Message::Commit { transfer: 5, length: 101, digest: *blake3::hash(&data).as_bytes() });
    flush(&mut remote).await;
    let resumed = assert_error(&reply(&mut remote).await, 5, error_code::INTEGRITY);
    for text in [&short, &half, &resumed] {
        assert!(text.starts_with("integrity check failed: "), "{text}");
    }
    assert_eq!(partials(&server, "resumed.bin"), 0, "a failed commit discards the partial upload");

    // The connection goes on.
    queue(&mut remote, &stat(6, "good.txt"));
    flush(&mut remote).await;
    assert!(matches!(reply(&mut remote).await, Message::Listing { transfer: 6, .. }));
    remote.close().await.unwrap();
    assert_stored(&server, "good.txt", &good);
    assert_stored(&server, "after.txt", &data);
    for file in ["short.txt", "half.txt", "resumed.bin"] {
        assert_absent(&server, file);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_with_a_wrong_digest_fails_that_upload_only() {
    let server = start().await;
    let data = random_bytes(3 * MAX_PAYLOAD + 5, 3);
    let digest = *blake3::hash(b"something else").as_bytes();
    for (file, resume) in [("wrong.bin", false), ("wrong-resumed.bin", true)] {
        let (mut remote, good) = hostile_upload(&server, file, data.len(), resume).await;
        queue_data(&mut remote, &data);
        queue(&mut remote, &Message::Commit { transfer: 2, length: data.len() as u64, digest });
        flush(&mut remote).await;
        let text = assert_error(&reply(&mut remote).await, 2, error_code::INTEGRITY);
        assert!(text.contains("digest"), "{text}");
        remote.close().await.unwrap();
        assert_stored(&server, "good.txt", &good);
        assert_absent(&server, file);
        assert_eq!(partials(&server, file), 0, "a failed commit discards the partial upload");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_for_another_transfer_is_a_protocol_violation() {
    let server = start().await;
    let data = random_bytes(100, 4);
    for (file, resume) in [("other.txt", false), ("other.bin", true)] {
        let (mut remote, good) = hostile_upload(&server, file, 100, resume).await;
        queue_data(&mut remote, &data);
        queue(&mut remote, &commit(1, &data));
        assert_violation(&server, &mut remote, &good, file).await;
    }
    // What arrived of the resumable one stays a partial upload (§7.7).
    assert_eq!(partials(&server, "other.bin"), 1, "left for a resume");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_the_middle_of_an_upload_is_a_protocol_violation() {
    let server = start().await;
    let data = random_bytes(100, 5);
    for (file, resume) in [("mid.txt", false), ("mid.bin", true)] {
        let (mut remote, good) = hostile_upload(&server, file, 100, resume).await;
        queue_data(&mut remote, &data[..50]);
        // A Stat, or a second Upload, where Data belongs.
        match resume {
            false => queue(&mut remote, &stat(3, "good.txt")),
            true => queue_upload(&mut remote, 3, "inner.txt", &data),
        }
        queue_data(&mut remote, &data[50..]);
        queue(&mut remote, &commit(2, &data));
        assert_violation(&server, &mut remote, &good, file).await;
    }
    assert_absent(&server, "inner.txt");
    assert_eq!(partials(&server, "mid.bin"), 1, "left for a resume");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_outside_any_upload_ends_the_connection() {
    let server = start().await;
    // Right after the login.
    let mut remote = server.connect("alice").await;
    queue_data(&mut remote, b"stray");
    flush(&mut remote).await;
    assert_eq!(ended_for_violation(&mut remote).await, Vec::new());

    // After a committed upload, and after a stat.
    let mut remote = server.connect("alice").await;
    let good = upload_good(&server, &mut remote, 1).await;
    queue(&mut remote, &stat(2, "good.txt"));
    queue_data(&mut remote, b"stray");
    flush(&mut remote).await;
    let replies = ended_for_violation(&mut remote).await;
    assert!(matches!(replies[..], [Message::Listing { transfer: 2, .. }]), "{replies:?}");
    assert_stored(&server, "good.txt", &good);

    // After a refused upload's Commit: its data was discarded up to it
    // (§7.5.1); what follows is outside any upload.
    let limits = store::Limits { max_file_size: 10, ..store::Limits::default() };
    let server = TestServer::start(Options { store_limits: limits, ..Options::default() }).await;
    server.add_user("alice");
    let mut remote = server.connect("alice").await;
    queue_upload(&mut remote, 1, "big.txt", &[1; 20]);
    queue_data(&mut remote, b"stray");
    flush(&mut remote).await;
    let replies = ended_for_violation(&mut remote).await;
    assert!(matches!(&replies[..], [m] if assert_error(m, 1, error_code::TOO_LARGE).contains("too large")));
    assert_absent(&server, "big.txt");

    // After a refused resumable upload: its client had to wait for the
    // answer and send nothing after the Error (§7.5.2).
    let mut remote = server.connect("alice").await;
    queue(&mut remote, &upload(1, "big.bin", 20, true));
    queue_data(&mut remote, &[1; 20]);
    queue(&mut remote, &commit(1, &[1; 20]));
    flush(&mut remote).await;
    let replies = ended_for_violation(&mut remote).await;
    assert!(matches!(&replies[..], [m] if assert_error(m, 1, error_code::TOO_LARGE).contains("too large")));
    assert_absent(&server, "big.bin");
    assert_eq!(partials(&server, "big.bin"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_sent_before_upload_ready_is_taken_from_the_resume_offset() {
    let server = start().await;
    let data = random_bytes(256 << 10, 6);
    // A first attempt leaves a partial upload of 200 KiB (it ends in a
    // violation, whose Close comes after the partial was synced).
    let mut remote = server.connect("alice").await;
    begin(&mut remote, 1, "early.bin", data.len(), true).await;
    queue_data(&mut remote, &data[..200 << 10]);
    queue(&mut remote, &stat(2, "early.bin"));
    flush(&mut remote).await;
    ended_for_violation(&mut remote).await;

    // The client does not wait for UploadReady and sends all of it from
    // byte 0: the server takes it as data from its offset (it cannot tell
    // otherwise), and the bytes beyond the size end the connection.
    let mut remote = server.connect("alice").await;
    let good = upload_good(&server, &mut remote, 1).await;
    queue(&mut remote, &upload(2, "early.bin", data.len(), true));
    queue_data(&mut remote, &data);
    queue(&mut remote, &commit(2, &data));
    flush(&mut remote).await;
    let replies = ended_for_violation(&mut remote).await;
    let [Message::UploadReady { transfer: 2, offset }] = replies[..] else { panic!("{replies:?}") };
    assert_eq!(offset, 192 << 10, "the whole 64 KiB units of the first attempt");
    assert_stored(&server, "good.txt", &good);
    assert_absent(&server, "early.bin");

    // Fewer bytes than the rest, sent early: they land at the offset, and
    // the length check refuses the mixture.
    let mut remote = server.connect("alice").await;
    queue(&mut remote, &upload(1, "early.bin", data.len(), true));
    queue_data(&mut remote, &data[..1000]);
    queue(&mut remote, &commit(1, &data));
    flush(&mut remote).await;
    assert!(matches!(reply(&mut remote).await, Message::UploadReady { transfer: 1, offset } if offset > 0));
    assert_error(&reply(&mut remote).await, 1, error_code::INTEGRITY);
    remote.close().await.unwrap();
    assert_absent(&server, "early.bin");
    assert_eq!(partials(&server, "early.bin"), 0, "a failed commit discards the partial upload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_in_the_middle_of_the_data_leaves_a_partial_and_no_file() {
    let server = start().await;
    let data = random_bytes(100, 7);
    for (file, resume) in [("closed.txt", false), ("closed.bin", true)] {
        let (mut remote, good) = hostile_upload(&server, file, data.len(), resume).await;
        queue_data(&mut remote, &data[..50]);
        remote.writer.close(CloseCode::Normal).await.unwrap();
        // §7.5.6: the upload ends; the server drops the connection
        // without an Error or a Close of its own.
        let (replies, end) = until_end(&mut remote).await;
        assert_eq!(replies, Vec::new());
        let end = format!("{end:#}");
        assert!(end.contains("the connection was cut"), "no Error, no Close from the server: {end}");
        assert_stored(&server, "good.txt", &good);
        assert_absent(&server, file);
    }
    assert_eq!(partials(&server, "closed.bin"), 1, "left for a resume");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_byte_files_upload_both_ways_and_take_no_data() {
    let server = start().await;
    let mut remote = server.connect("alice").await;
    queue_upload(&mut remote, 1, "empty.txt", b"");
    // A Data record of 0 bytes is a legal record (§7.2 rule 3).
    begin(&mut remote, 2, "empty-record.txt", 0, false).await;
    remote.writer.queue_data(b"").unwrap();
    queue(&mut remote, &commit(2, b""));
    flush(&mut remote).await;
    assert_committed(&reply(&mut remote).await, 1, b"");
    assert_committed(&reply(&mut remote).await, 2, b"");
    begin(&mut remote, 3, "empty.bin", 0, true).await;
    queue(&mut remote, &commit(3, b""));
    flush(&mut remote).await;
    assert_committed(&reply(&mut remote).await, 3, b"");
    for file in ["empty.txt", "empty-record.txt", "empty.bin"] {
        assert_stored(&server, file, b"");
    }
    // One byte is beyond a 0-byte file.
    begin(&mut remote, 4, "not-empty.txt", 0, false).await;
    queue_data(&mut remote, b"x");
    queue(&mut remote, &commit(4, b""));
    flush(&mut remote).await;
    assert_eq!(ended_for_violation(&mut remote).await, Vec::new());
    assert_absent(&server, "not-empty.txt");
}

/// Queues 200 distinct small pipelined uploads (transfers 1..=200); the
/// one at index `bad` gets its data and Commit from `hostile` instead.
/// Returns their names and bytes.
fn queue_many(remote: &mut Remote, bad: usize, hostile: impl Fn(&mut Remote, u32, &[u8])) -> Vec<(String, Vec<u8>)> {
    let files: Vec<(String, Vec<u8>)> =
        (0..200).map(|i| (format!("many/{i:03}.txt"), random_bytes(20 + i % 50, 100 + i as u64))).collect();
    for (i, (file, data)) in files.iter().enumerate() {
        let transfer = i as u32 + 1;
        queue(remote, &upload(transfer, file, data.len(), false));
        if i == bad {
            hostile(remote, transfer, data);
        } else {
            queue_data(remote, data);
            queue(remote, &commit(transfer, data));
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_digest_among_many_pipelined_uploads_fails_alone() {
    let server = start().await;
    let mut remote = server.connect("alice").await;
    let bad = 117;
    let files = queue_many(&mut remote, bad, |remote, transfer, data| {
        queue_data(remote, data);
        queue(remote, &Message::Commit { transfer, length: data.len() as u64, digest: [0; 32] });
    });
    flush(&mut remote).await;
    // Replies in request order, only the bad one refused.
    for (i, (_, data)) in files.iter().enumerate() {
        let message = reply(&mut remote).await;
        match i == bad {
            true => drop(assert_error(&message, i as u32 + 1, error_code::INTEGRITY)),
            false => assert_committed(&message, i as u32 + 1, data),
        }
    }
    remote.close().await.unwrap();
    for (i, (file, data)) in files.iter().enumerate() {
        match i == bad {
            true => assert_absent(&server, file),
            false => assert_stored(&server, file, data),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_violation_among_many_pipelined_uploads_ends_the_connection() {
    let server = start().await;
    let mut remote = server.connect("alice").await;
    let bad = 117;
    let files = queue_many(&mut remote, bad, |remote, transfer, data| {
        queue_data(remote, data);
        queue_data(remote, b"one more");
        queue(remote, &commit(transfer, data));
    });
    flush(&mut remote).await;
    // Every upload answered before the violation is stored; every other
    // one is not (§7.4: a pipelined upload that got no Committed is not
    // stored), and none after the bad one was even read.
    let replies = ended_for_violation(&mut remote).await;
    assert!(replies.len() <= bad, "{} replies", replies.len());
    for (i, (file, data)) in files.iter().enumerate() {
        match replies.get(i) {
            Some(message) => {
                assert_committed(message, i as u32 + 1, data);
                assert_stored(&server, file, data);
            }
            None => assert_absent(&server, file),
        }
    }
}

/// Stores `data` as `file` of alice's through the store itself.
fn store_directly(server: &TestServer, file: &str, data: &[u8]) {
    let username = sxfer_proto::msgs::Username::parse("alice").unwrap();
    let user = server.store.user(&username).unwrap().unwrap();
    let mut upload = server.store.begin_upload(user.id, &name(file), meta(data.len()), false).unwrap();
    upload.write(data).unwrap();
    upload.commit(data.len() as u64, blake3::hash(data).as_bytes()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_does_not_keep_its_connection() {
    let limits =
        server::Limits { max_connections: 1, idle_timeout: Duration::from_secs(1), ..Options::default().limits };
    let server = TestServer::start(Options { limits, ..Options::default() }).await;
    server.add_user("alice");
    // More than the socket buffers and the client's queue hold.
    store_directly(&server, "big.bin", &random_bytes(96 << 20, 8));
    let mut stalled = server.connect("alice").await;
    queue(&mut stalled, &Message::Download { transfer: 1, name: name("big.bin"), offset: 0 });
    flush(&mut stalled).await;

    // The server's writes to it stop making progress; once that has
    // lasted its idle timeout it ends the connection, and the one slot
    // is free again: another client gets in.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let options = server.client_options(&server.dir.path().join("home-other"), PASSWORD);
    let refused = |e: anyhow::Error| assert!(format!("{e:#}").contains("connection limit"), "{e:#}");
    loop {
        assert!(tokio::time::Instant::now() < deadline, "the stalled client keeps the only connection");
        // Refused at the login, or right after it (Error(0)).
        match client::connect(&server.target("alice", ""), &options, Purpose::Login).await {
            Err(e) => refused(e),
            Ok(mut other) => {
                queue(&mut other, &stat(1, "big.bin"));
                flush(&mut other).await;
                match other.next_message().await {
                    Err(e) => refused(e),
                    Ok(Message::Listing { transfer: 1, .. }) => break,
                    Ok(message) => panic!("{message:?}"),
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // What the stalled client reads now ends short of the Commit (the
    // connection was cut, here in the middle of a record).
    loop {
        match stalled.next().await {
            Ok(Event::Data(_) | Event::Message(Message::DownloadStart { .. })) => {}
            Ok(Event::Message(message)) => panic!("the download was cut, yet: {message:?}"),
            Ok(Event::Closed(code)) => unreachable!("Remote::next reports a Close as an error ({code})"),
            Err(_) => break,
        }
    }
}
