//! Upload and download on the server: the network side stays async; the
//! file side (BLAKE3, age encryption, disk) runs on a blocking thread, so
//! record decryption and at-rest encryption overlap on two cores.

use std::io::{Read, Seek, SeekFrom};
use std::sync::mpsc::TrySendError;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use tokio::sync::mpsc;

use super::session::{blocking, error, store_error, Peer};
use super::ServerState;
use crate::net::conn::{Incoming, SessionReader, SessionWriter};
use crate::net::record_buffer;
use crate::store::{AuditEvent, AuditKind, Download, StoreError, SyncPoint, Upload};
use sxfer_proto::msgs::app::error_code;
use sxfer_proto::msgs::{FileEntry, FileMeta, Message};
use sxfer_proto::names::RemoteName;
use sxfer_proto::record::{MAX_PAYLOAD, PAYLOAD_OFFSET};

/// The receiver makes its data durable and acknowledges at least this often.
const ACK_INTERVAL: u64 = 32 << 20;
/// Plaintext per data record on downloads.
const CHUNK: usize = MAX_PAYLOAD;

#[allow(clippy::too_many_arguments)]
pub async fn upload(
    reader: &mut SessionReader,
    writer: &mut SessionWriter,
    state: &Arc<ServerState>,
    peer: &Peer,
    transfer: u32,
    name: RemoteName,
    meta: FileMeta,
    resume: bool,
) -> Result<()> {
    let store = state.store.clone();
    let (user, begin_name) = (peer.user.id, name.clone());
    let upload = match blocking(move || store.begin_upload(user, &begin_name, meta, resume)).await {
        Ok(upload) => upload,
        Err(e) => {
            audit(state, peer, AuditEvent::new(AuditKind::Upload, "refused").name(&name).size(meta.size));
            writer.send(&store_error(transfer, &e)).await?;
            if !resume {
                // The client pipelined its data: skip it up to its Commit.
                skip_to_commit(reader).await?;
            }
            return Ok(());
        }
    };
    let offset = upload.offset();
    if resume {
        writer.send(&Message::UploadReady { transfer, offset }).await?;
    }

    let (chunks, chunks_rx) = mpsc::channel::<Vec<u8>>(8);
    let (acks_tx, mut acks) = mpsc::unbounded_channel::<u64>();
    let (spare_tx, spare) = std::sync::mpsc::channel::<Vec<u8>>();
    let worker = tokio::task::spawn_blocking(move || write_side(upload, chunks_rx, acks_tx, spare_tx));

    let mut received = offset;
    let outcome = loop {
        let incoming = match reader.next().await {
            Ok(incoming) => incoming,
            Err(e) => break Err(e),
        };
        match incoming {
            Incoming::Data(bytes) => {
                received += bytes.len() as u64;
                if received > meta.size {
                    break Err(anyhow!("client sent more than the declared {} bytes", meta.size));
                }
                let mut buf = spare.try_recv().unwrap_or_default();
                buf.clear();
                buf.extend_from_slice(bytes);
                if chunks.send(buf).await.is_err() {
                    break Err(anyhow!("the storage writer stopped"));
                }
                while let Ok(durable) = acks.try_recv() {
                    writer.send(&Message::Ack { transfer, offset: durable }).await?;
                }
            }
            Incoming::Message(Message::Commit { transfer: t, length, digest }) if t == transfer => {
                break Ok((length, digest));
            }
            Incoming::Message(other) => break Err(anyhow!("unexpected message during an upload: {other:?}")),
            Incoming::Closed(_) => break Err(anyhow!("client closed during an upload")),
        }
    };
    drop(chunks);
    let upload = worker.await.map_err(|e| anyhow!("storage writer: {e}"));
    let (length, digest) = match outcome {
        Ok(commit) => commit,
        Err(e) => {
            // The partial stays on disk (synced by the writer) for a resume.
            audit(state, peer, AuditEvent::new(AuditKind::Upload, "interrupted").name(&name).size(received));
            return Err(e);
        }
    };
    let committed = match upload {
        Ok(Ok(upload)) => blocking(move || upload.commit(length, &digest)).await,
        Ok(Err(e)) => Err(e),
        Err(e) => Err(StoreError::Internal(e.to_string())),
    };
    match committed {
        Ok(entry) => {
            let event = AuditEvent::new(AuditKind::Upload, "ok").name(&entry.name).size(entry.meta.size);
            audit(state, peer, event.digest(entry.digest));
            writer.send(&Message::Committed { transfer, entry }).await
        }
        Err(e) => {
            audit(
                state,
                peer,
                AuditEvent::new(AuditKind::Upload, "failed").name(&name).size(length).detail(e.to_string()),
            );
            writer.send(&store_error(transfer, &e)).await
        }
    }
}

/// The blocking half of an upload: write, hash and encrypt. Every
/// `ACK_INTERVAL` a sync point goes to a second thread (started on first
/// need, so small files never pay for it) that fsyncs and reports the
/// durable offset, so the disk flushes while data keeps arriving; at most
/// one fsync is in flight. At the end, one more sync so an interrupted
/// upload resumes as late as possible.
fn write_side(
    mut upload: Upload,
    mut chunks: mpsc::Receiver<Vec<u8>>,
    acks: mpsc::UnboundedSender<u64>,
    spare: std::sync::mpsc::Sender<Vec<u8>>,
) -> Result<Upload, StoreError> {
    let mut syncer: Option<Syncer> = None;
    let mut since_sync = 0u64;
    let written = (|| {
        while let Some(chunk) = chunks.blocking_recv() {
            upload.write(&chunk)?;
            since_sync += chunk.len() as u64;
            spare.send(chunk).ok();
            if since_sync >= ACK_INTERVAL {
                let syncer = syncer.get_or_insert_with(|| Syncer::start(acks.clone()));
                // Skipped (and retried at the next chunk) while one is in flight.
                if let Err(TrySendError::Full(_)) = syncer.points.try_send(upload.sync_point()?) {
                    continue;
                }
                since_sync = 0;
            }
        }
        Ok(())
    })();
    let synced = syncer.map_or(Ok(()), Syncer::finish);
    written.and(synced)?;
    upload.sync()?;
    Ok(upload)
}

/// The fsync thread of one upload.
struct Syncer {
    points: std::sync::mpsc::SyncSender<SyncPoint>,
    thread: std::thread::JoinHandle<Result<(), StoreError>>,
}

impl Syncer {
    fn start(acks: mpsc::UnboundedSender<u64>) -> Self {
        let (points, pending) = std::sync::mpsc::sync_channel::<SyncPoint>(1);
        let thread = std::thread::spawn(move || -> Result<(), StoreError> {
            for point in pending {
                acks.send(point.sync()?).ok();
            }
            Ok(())
        });
        Syncer { points, thread }
    }

    fn finish(self) -> Result<(), StoreError> {
        drop(self.points);
        self.thread.join().unwrap_or_else(|_| Err(StoreError::Internal("the fsync thread panicked".into())))
    }
}

pub async fn skip_to_commit(reader: &mut SessionReader) -> Result<()> {
    loop {
        match reader.next().await? {
            Incoming::Data(_) => {}
            Incoming::Message(Message::Commit { .. }) => return Ok(()),
            Incoming::Message(other) => return Err(anyhow!("unexpected message while skipping: {other:?}")),
            Incoming::Closed(_) => return Err(anyhow!("client closed")),
        }
    }
}

pub async fn download(
    writer: &mut SessionWriter,
    state: &Arc<ServerState>,
    peer: &Peer,
    transfer: u32,
    name: RemoteName,
    offset: u64,
) -> Result<()> {
    let store = state.store.clone();
    let (user, open_name) = (peer.user.id, name.clone());
    // A file that fits one record is opened and read in the same blocking
    // call, and its replies go out in one write.
    let opened = blocking(move || {
        let Some((entry, mut blob)) = store.open_download(user, &open_name)? else {
            return Ok(None);
        };
        if offset > entry.meta.size || entry.meta.size - offset > CHUNK as u64 {
            return Ok(Some((entry, Err(blob))));
        }
        // No buffers come back on this path: an empty spare channel.
        let (_, spare) = std::sync::mpsc::channel();
        let mut records = Vec::new();
        let read = read_blob(&mut blob, offset, &entry, &spare, |buf| {
            records.push(buf);
            true
        });
        Ok(Some((entry, Ok((records, read)))))
    })
    .await;
    let (entry, opened) = match opened {
        Ok(Some(found)) => found,
        Ok(None) => {
            let message = format!("no such file: {name}");
            return writer.send(&error(transfer, error_code::NOT_FOUND, &message)).await;
        }
        Err(e) => return writer.send(&store_error(transfer, &e)).await,
    };
    if offset > entry.meta.size {
        let message = "resume offset is past the end of the file";
        return writer.send(&error(transfer, error_code::BAD_REQUEST, message)).await;
    }
    writer.queue(&Message::DownloadStart { transfer, entry: entry.clone(), offset })?;
    let (size, expected) = (entry.meta.size, entry.digest);
    let read = match opened {
        Ok((records, read)) => {
            // Queued with the DownloadStart; the Commit (or Error) below
            // writes all of it at once.
            for buf in records {
                writer.queue_data(&buf[PAYLOAD_OFFSET..])?;
            }
            read
        }
        Err(blob) => stream_blob(writer, blob, offset, entry).await?,
    };
    match read {
        Ok(()) => {
            writer.send(&Message::Commit { transfer, length: size, digest: expected }).await?;
            let event = AuditEvent::new(AuditKind::Download, "ok").name(&name).size(size - offset);
            audit(state, peer, event.digest(expected));
            Ok(())
        }
        Err(message) => {
            tracing::error!(user = %peer.user.name, file = %name, "{message}");
            audit(state, peer, AuditEvent::new(AuditKind::Download, "integrity").name(&name).size(size));
            writer.send(&error(transfer, error_code::INTEGRITY, &message)).await
        }
    }
}

/// Sends a large file's records as a blocking thread reads them; returns
/// the reader's verdict (an integrity failure as a message).
async fn stream_blob(
    writer: &mut SessionWriter,
    mut blob: Download,
    offset: u64,
    entry: FileEntry,
) -> Result<Result<(), String>> {
    let (tx, mut rx) = mpsc::channel::<Result<Vec<u8>, String>>(4);
    let (spare_tx, spare) = std::sync::mpsc::channel::<Vec<u8>>();
    tokio::task::spawn_blocking(move || {
        let read = read_blob(&mut blob, offset, &entry, &spare, |buf| tx.blocking_send(Ok(buf)).is_ok());
        if let Err(message) = read {
            tx.blocking_send(Err(message)).ok();
        }
    });
    while let Some(item) = rx.recv().await {
        match item {
            Ok(mut buf) => {
                writer.send_data(&mut buf).await?;
                spare_tx.send(buf).ok();
            }
            Err(message) => return Ok(Err(message)),
        }
    }
    Ok(Ok(()))
}

/// Reads the stored file from `offset` into record buffers, handing each
/// to `emit` (which returns false to stop: the connection is gone). From
/// offset 0 it also checks the recorded digest; in any case the recorded
/// length. A failure is the message for the client.
fn read_blob(
    blob: &mut Download,
    offset: u64,
    entry: &FileEntry,
    spare: &std::sync::mpsc::Receiver<Vec<u8>>,
    mut emit: impl FnMut(Vec<u8>) -> bool,
) -> Result<(), String> {
    let damaged = |e: std::io::Error| {
        tracing::error!(error = %e, "reading a stored file failed");
        "stored file is damaged (integrity check failed)".to_owned()
    };
    let size = entry.meta.size;
    blob.seek(SeekFrom::Start(offset)).map_err(damaged)?;
    let mut hasher = (offset == 0).then(blake3::Hasher::new);
    let mut sent = offset;
    while sent < size {
        // Sized to what is left, so a small file costs no 1 MiB buffer.
        let want = (size - sent).min(CHUNK as u64) as usize;
        let mut buf = record_buffer(spare, want);
        let read = read_full(blob, &mut buf[PAYLOAD_OFFSET..]).map_err(damaged)?;
        if read == 0 {
            break;
        }
        buf.truncate(PAYLOAD_OFFSET + read);
        if let Some(hasher) = hasher.as_mut() {
            hasher.update(&buf[PAYLOAD_OFFSET..]);
        }
        sent += read as u64;
        if !emit(buf) {
            return Ok(());
        }
    }
    let longer = read_full(blob, &mut [0u8; 1]).map_err(damaged)? > 0;
    if sent != size || longer || hasher.is_some_and(|h| *h.finalize().as_bytes() != entry.digest) {
        return Err("stored file does not match its recorded length and digest".into());
    }
    Ok(())
}

fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Record an event in the audit table and the log, with who and from where.
pub fn audit(state: &ServerState, peer: &Peer, event: AuditEvent) {
    let event = event.user(peer.user.name.as_str()).remote(peer.address);
    log_audit(peer, &event);
    if let Err(e) = state.store.audit(&event) {
        tracing::warn!(error = %e, "could not write the audit log");
    }
}

/// The log line of an audit event (for events whose row the store wrote).
pub fn log_audit(peer: &Peer, event: &AuditEvent) {
    tracing::info!(
        target: "audit",
        peer = %peer.address,
        user = %peer.user.name,
        event = event.kind.as_str(),
        file = event.name.as_ref().map(|n| n.as_str()),
        size = event.size,
        outcome = %event.outcome,
    );
}
