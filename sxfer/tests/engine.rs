//! The transfer engine between two real sessions over `tokio::io::duplex`:
//! no socket, no server, no store. A `Sender` with a `LocalFile` source
//! against a `Receiver` with a `PartialFile` or `Memory` sink, from every
//! resume point, and a cut in the middle.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use rand_core::OsRng;

use sxfer::engine::{self, BufferPool, LocalFile, Memory, PartialFile, Received, Sent};
use sxfer::net::conn::{client_handshake, server_handshake, AuthDecision, ClientSession, ServerSession};
use sxfer_proto::handshake::{ClientConfig, Credential, ServerConfig, ServerPin};
use sxfer_proto::identity::PrivateIdentity;
use sxfer_proto::msgs::{ClientId, FileMeta, Message, Username};
use sxfer_proto::names::RemoteName;
use sxfer_proto::secret::Password;
use sxfer_proto::transfer::{Receiver, Reply, Sender};

const IDLE: Duration = Duration::from_secs(30);

/// A connected pair of sessions over an in-memory stream.
async fn pair() -> (ClientSession, ServerSession<()>) {
    let identity = PrivateIdentity::generate_ed25519(&mut OsRng).unwrap();
    let pin = ServerPin::Fingerprint(identity.public().fingerprint());
    let config = Arc::new(ServerConfig::new(Arc::new(identity)));
    let (client_io, server_io) = tokio::io::duplex(256 << 10);
    let accept = |_| async { Ok(AuthDecision::Accept(ClientId([3; 16]), ())) };
    let server = tokio::spawn(server_handshake(server_io, config, || async { Ok(()) }, accept, IDLE));
    let credential = || {
        let username = Username::parse("alice").unwrap();
        Ok(Credential::Password { username, password: Password::new("pw".into()) })
    };
    let client = client_handshake(client_io, ClientConfig::default(), |_| Ok(pin), credential, IDLE).await.unwrap();
    (client, server.await.unwrap().unwrap())
}

fn bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 253) as u8).collect()
}

fn meta(size: usize) -> FileMeta {
    FileMeta { size: size as u64, mode: 0o600, mtime: 0, mtime_nanos: 0 }
}

/// Uploads `file` from a local file, the receiving end holding its first
/// `offset` bytes already (a resume): the receiving end's partial after
/// the pump and the whole-file check.
async fn upload_from(file: &[u8], offset: usize) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local.bin");
    std::fs::write(&local, file).unwrap();
    let partial = dir.path().join(".local.bin.sxfer-part");
    std::fs::write(&partial, &file[..offset]).unwrap();
    let (mut client, mut server) = pair().await;
    let name = RemoteName::parse("local.bin").unwrap();

    let (mut sender, request) = Sender::upload(1, name, meta(file.len()), true);
    client.writer.send(&request).await.unwrap();
    let Message::Upload { transfer, meta, .. } = next_message(&mut server).await else { panic!("an Upload") };
    let mut receiver = Receiver::accept_upload(transfer, meta.size, offset as u64).unwrap();
    server.writer.send(&Message::UploadReady { transfer, offset: offset as u64 }).await.unwrap();
    let ready = match client.reader.next().await.unwrap() {
        sxfer::net::conn::Incoming::Message(message) => sender.on_message(message).unwrap(),
        _ => panic!("a reply"),
    };
    assert_eq!(ready, Reply::Ready(offset as u64));

    let receiving = tokio::spawn(async move {
        let mut sink = PartialFile::start(&partial, offset as u64, BufferPool::default());
        let received = engine::receive(&mut server.reader, Some(&mut server.writer), &mut receiver, &mut sink).await;
        let written = sink.finish().await.unwrap();
        let Received::Complete(commit) = received.unwrap() else { panic!("complete") };
        receiver.verify(&commit, written.length, &written.digest).unwrap();
        std::fs::read(&partial).unwrap()
    });
    let sent = engine::send(&mut client.writer, &mut sender, LocalFile::open(&local).unwrap(), |_| Ok(())).await;
    assert!(matches!(sent.unwrap(), Sent::Committed));
    client.writer.flush().await.unwrap();
    receiving.await.unwrap()
}

async fn next_message(server: &mut ServerSession<()>) -> Message {
    match server.reader.next().await.unwrap() {
        sxfer::net::conn::Incoming::Message(message) => message,
        _ => panic!("expected a message"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_crosses_two_sessions_from_every_resume_point() {
    const RECORD: usize = 1 << 20;
    let file = bytes(3 * RECORD + 12_345);
    for offset in [0, RECORD / 2, RECORD, file.len()] {
        assert!(upload_from(&file, offset).await == file, "from {offset}");
    }
    assert!(upload_from(&[], 0).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_in_the_middle_is_an_error_and_leaves_a_prefix() {
    let file = bytes(3 << 20);
    let (mut client, mut server) = pair().await;
    let mut receiver = Receiver::accept_upload(1, file.len() as u64, 0).unwrap();
    // Two of three records, then the connection goes away without a Close.
    let prefix = file[..2 << 20].to_vec();
    tokio::spawn(async move {
        for chunk in prefix.chunks(1 << 20) {
            client.writer.queue_data(chunk).unwrap();
        }
        client.writer.flush().await.unwrap();
        drop(client);
    });
    let mut sink = Memory::with_capacity(file.len() as u64, BufferPool::default());
    let received = engine::receive(&mut server.reader, None, &mut receiver, &mut sink).await;
    let error = format!("{:#}", received.unwrap_err());
    assert!(error.contains("cut") || error.contains("truncat"), "{error}");
    assert!(file.starts_with(&sink.data) && sink.data.len() == 2 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_files_queued_whole_arrive_in_order_in_one_write() {
    let (mut client, mut server) = pair().await;
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<Vec<u8>> = (0..20).map(|i| bytes(100 * i + 1)).collect();
    let (_, spare) = std::sync::mpsc::channel();
    for (i, file) in files.iter().enumerate() {
        let path = dir.path().join(format!("f{i}"));
        std::fs::write(&path, file).unwrap();
        let mut records = Vec::new();
        let mut source = LocalFile::open(&path).unwrap();
        let digest = engine::produce(&mut source, 0, file.len() as u64, &spare, |buf| {
            records.push(buf);
            true
        })
        .unwrap()
        .unwrap();
        let name = RemoteName::parse(&format!("f{i}")).unwrap();
        let (mut sender, request) = Sender::upload(i as u32 + 1, name, meta(file.len()), false);
        client.writer.queue(&request).unwrap();
        engine::queue_whole(&mut client.writer, &mut sender, &records, digest).unwrap();
    }
    client.writer.flush().await.unwrap();
    for file in &files {
        let Message::Upload { transfer, meta, .. } = next_message(&mut server).await else { panic!("an Upload") };
        let mut receiver = Receiver::accept_upload(transfer, meta.size, 0).unwrap();
        let mut sink = Memory::with_capacity(meta.size, BufferPool::default());
        let Received::Complete(commit) =
            engine::receive(&mut server.reader, None, &mut receiver, &mut sink).await.unwrap()
        else {
            panic!("complete")
        };
        let (length, digest) = sink.digest();
        receiver.verify(&commit, length, &digest).unwrap();
        assert!(&sink.data == file);
    }
}
