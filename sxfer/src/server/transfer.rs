//! Resumable uploads and downloads on the server: the store's side of the
//! request, then the transfer engine moves the bytes (`blob_io.rs` holds
//! the store's source and sink).

use anyhow::{anyhow, bail, Result};

use super::blob_io::{BlobSource, UploadSink, WriterStopped};
use super::context::{blocking, error, store_error, Connection};
use crate::engine::{self, Received, Sent, CHUNK};
use crate::net::conn::{SessionReader, SessionWriter};
use crate::store::{AuditEvent, AuditKind, Staging, StoreError};
use sxfer_proto::msgs::app::error_code;
use sxfer_proto::msgs::{FileEntry, FileMeta, Message};
use sxfer_proto::names::RemoteName;
use sxfer_proto::transfer::{Commit, Receiver, Sender};

#[allow(clippy::too_many_arguments)]
pub async fn upload(
    reader: &mut SessionReader,
    writer: &mut SessionWriter,
    connection: &Connection,
    transfer: u32,
    name: RemoteName,
    meta: FileMeta,
    resume: bool,
) -> Result<()> {
    let store = connection.store();
    let (user, begin_name) = (connection.user.id, name.clone());
    let upload = match blocking(move || store.begin_upload(user, &begin_name, meta, resume)).await {
        Ok(upload) => upload,
        Err(e) => {
            connection.audit(AuditEvent::new(AuditKind::Upload, "refused").name(&name).size(meta.size));
            writer.send(&store_error(transfer, &e)).await?;
            if !resume {
                // The client pipelined its data: skip it up to its Commit.
                discard(reader, transfer).await?;
            }
            return Ok(());
        }
    };
    let offset = upload.offset();
    let (commit, upload) = match receive_staged(reader, writer, transfer, meta.size, offset, resume, upload).await? {
        Landed::Complete(commit, upload) => (commit, upload),
        Landed::Failed(e, size) => return fail(writer, connection, transfer, &name, size, &e).await,
        Landed::Interrupted(e, received, _) => {
            connection.audit(AuditEvent::new(AuditKind::Upload, "interrupted").name(&name).size(received));
            return Err(e);
        }
    };
    match blocking(move || upload.commit(commit.length, &commit.digest)).await {
        Ok(entry) => {
            let event = AuditEvent::new(AuditKind::Upload, "ok").name(&entry.name).size(entry.meta.size);
            connection.audit(event.digest(entry.digest));
            writer.send(&Message::Committed { transfer, entry }).await
        }
        Err(e) => fail(writer, connection, transfer, &name, commit.length, &e).await,
    }
}

/// How receiving an upload's data into the store ended.
pub enum Landed<U> {
    /// Every byte arrived and the Commit agrees with the announce: check
    /// its digest and commit `U`.
    Complete(Commit, U),
    /// The upload failed (and was discarded, for a failed check); report
    /// the error, for this many bytes.
    Failed(StoreError, u64),
    /// The connection ended or broke the protocol after this many bytes;
    /// the upload, if it could be finished, is given back (a file's
    /// partial stays for a resume).
    Interrupted(anyhow::Error, u64, Option<U>),
}

/// The data phase of an accepted upload (a file or a drop) into the
/// store: data from `offset` (announced with UploadReady if `resume`),
/// synced and acknowledged as it becomes durable, up to the Commit.
pub async fn receive_staged<U: Staging>(
    reader: &mut SessionReader,
    writer: &mut SessionWriter,
    transfer: u32,
    size: u64,
    offset: u64,
    resume: bool,
    upload: U,
) -> Result<Landed<U>> {
    let mut receiver = Receiver::accept_upload(transfer, size, offset)?;
    if resume {
        writer.send(&Message::UploadReady { transfer, offset }).await?;
    }
    let mut sink = UploadSink::start(upload);
    let received = engine::receive(reader, Some(&mut *writer), &mut receiver, &mut sink).await;
    // The writer has synced what it wrote: an interrupted upload resumes.
    let upload = sink.finish().await;
    Ok(match (received, upload) {
        (Ok(Received::Complete(commit)), Ok(upload)) => Landed::Complete(commit, upload),
        (Ok(Received::Invalid(e)), upload) => {
            // A retry starts at 0 (§7.6). Discarding is a database call
            // and an unlink: not on this thread.
            if let Ok(upload) = upload {
                blocking(move || {
                    upload.discard();
                    Ok(())
                })
                .await
                .ok();
            }
            Landed::Failed(StoreError::Integrity(e.to_string()), receiver.received())
        }
        (Ok(Received::Complete(_)), Err(e)) => Landed::Failed(e, size),
        // The store failed under the data phase (a full disk, a file-size
        // limit): read the rest of this upload up to its Commit and refuse
        // it; the connection goes on, and the synced prefix stays for a
        // resume.
        (Err(e), Err(store)) if e.downcast_ref::<WriterStopped>().is_some() => {
            engine::receive(reader, None, &mut receiver, &mut engine::Discard).await?;
            Landed::Failed(store, receiver.received())
        }
        (Ok(Received::Refused { .. } | Received::Discarded), _) => bail!("an upload ended out of step"),
        (Err(e), upload) => Landed::Interrupted(e, receiver.received(), upload.ok()),
    })
}

async fn fail(
    writer: &mut SessionWriter,
    connection: &Connection,
    transfer: u32,
    name: &RemoteName,
    size: u64,
    e: &StoreError,
) -> Result<()> {
    let event = AuditEvent::new(AuditKind::Upload, "failed").name(name).size(size).detail(e.to_string());
    connection.audit(event);
    writer.send(&store_error(transfer, e)).await
}

/// Reads a refused pipelined upload's data up to its Commit (§7.5.1).
pub async fn discard(reader: &mut SessionReader, transfer: u32) -> Result<()> {
    let mut receiver = Receiver::discard(transfer);
    engine::receive(reader, None, &mut receiver, &mut engine::Discard).await.map(drop)
}

/// One Download request.
#[derive(Clone)]
pub struct DownloadRequest {
    pub transfer: u32,
    pub name: RemoteName,
    pub offset: u64,
}

/// Pipelined Download requests answered together: at most this many.
pub const DOWNLOAD_BATCH: usize = 256;
/// ... and at most this many bytes read ahead into memory for them.
const BATCH_BYTES: u64 = 4 << 20;

/// A requested file as the batch's blocking call left it.
pub enum Opened {
    NotFound,
    Failed(StoreError),
    /// Read whole (it fits one record): its records and the source's verdict.
    Whole(FileEntry, Vec<Vec<u8>>, Result<Option<[u8; 32]>>),
    /// Larger (or past the batch's memory): streamed when its turn comes.
    Stream(FileEntry, Box<BlobSource>),
}

/// Answers pipelined Download requests in order. A blocking call opens
/// files one after another (a database lookup each, one hand-off for all)
/// and reads those that fit one record, until it meets a larger one or has
/// read [`BATCH_BYTES`]; their replies are queued and go out in one write;
/// the larger file is streamed; the next call takes the rest. Only the
/// file being streamed stays open.
pub async fn download(
    writer: &mut SessionWriter,
    connection: &Connection,
    requests: Vec<DownloadRequest>,
) -> Result<()> {
    let mut requests = requests.into_iter().peekable();
    while requests.peek().is_some() {
        let (store, user) = (connection.store(), connection.user.id);
        let lookups: Vec<(RemoteName, u64)> = requests.clone().map(|r| (r.name, r.offset)).collect();
        let opened = blocking(move || Ok(open_prefix(&store, user, lookups))).await;
        let opened = match opened {
            Ok(opened) => opened,
            Err(e) => {
                for request in requests {
                    writer.queue(&store_error(request.transfer, &e))?;
                }
                return writer.flush().await;
            }
        };
        for opened in opened {
            let Some(request) = requests.next() else { break };
            send_one(writer, connection, request, opened, AuditKind::Download).await?;
        }
    }
    writer.flush().await
}

/// Opens the files of `lookups` in order, reading those that fit one
/// record, and stops after the first one to be streamed (or once
/// [`BATCH_BYTES`] are read). Blocking.
fn open_prefix(
    store: &crate::store::Store,
    user: crate::store::UserId,
    lookups: Vec<(RemoteName, u64)>,
) -> Vec<Opened> {
    let (_, spare) = std::sync::mpsc::channel();
    let mut budget = BATCH_BYTES;
    let mut opened = Vec::new();
    for (name, offset) in lookups {
        let (entry, blob) = match store.open_download(user, &name) {
            Ok(Some(found)) => found,
            Ok(None) => {
                opened.push(Opened::NotFound);
                continue;
            }
            Err(e) => {
                opened.push(Opened::Failed(e));
                continue;
            }
        };
        let mut source = BlobSource::new(Box::new(blob), &entry);
        let rest = entry.meta.size.saturating_sub(offset);
        if offset > entry.meta.size || rest > CHUNK as u64 || rest > budget {
            opened.push(Opened::Stream(entry, Box::new(source)));
            break;
        }
        budget -= rest;
        let mut records = Vec::new();
        let read = engine::produce(&mut source, offset, entry.meta.size, &spare, |buf| {
            records.push(buf);
            true
        });
        opened.push(Opened::Whole(entry, records, read));
    }
    opened
}

/// Queues (or, for a large file, streams) the replies to one request, and
/// writes its audit row as `kind`.
pub async fn send_one(
    writer: &mut SessionWriter,
    connection: &Connection,
    request: DownloadRequest,
    opened: Opened,
    kind: AuditKind,
) -> Result<()> {
    let DownloadRequest { transfer, name, offset } = request;
    let (entry, read) = match opened {
        Opened::NotFound => {
            return writer.queue(&error(transfer, error_code::NOT_FOUND, &format!("no such file: {name}")));
        }
        Opened::Failed(e) => return writer.queue(&store_error(transfer, &e)),
        Opened::Whole(entry, records, read) => (entry, Ok((records, read))),
        Opened::Stream(entry, source) => (entry, Err(source)),
    };
    let (size, recorded) = (entry.meta.size, entry.digest);
    let Some((mut sender, start)) = Sender::download(transfer, entry, offset) else {
        return writer.queue(&error(transfer, error_code::BAD_REQUEST, "resume offset is past the end of the file"));
    };
    writer.queue(&start)?;
    let sent = match read {
        Ok((records, Ok(Some(digest)))) => {
            engine::queue_whole(writer, &mut sender, &records, digest)?;
            Sent::Committed
        }
        Ok((_, Ok(None))) => Sent::SourceFailed(anyhow!("the file reader stopped")),
        Ok((_, Err(e))) => Sent::SourceFailed(e),
        Err(source) => engine::send(writer, &mut sender, *source, |_| Ok(())).await?,
    };
    match sent {
        Sent::Committed => {
            let event = AuditEvent::new(kind, "ok").name(&name).size(size - offset);
            connection.audit(event.digest(recorded));
            Ok(())
        }
        Sent::SourceFailed(e) => {
            tracing::error!(user = %connection.user.name, file = %name, "{e}");
            connection.audit(AuditEvent::new(kind, "integrity").name(&name).size(size));
            writer.queue(&sender.fail(error_code::INTEGRITY, e.to_string()))
        }
    }
}
