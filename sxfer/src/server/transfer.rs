//! Resumable uploads and downloads on the server: the store's side of the
//! request, then the transfer engine moves the bytes (`blob_io.rs` holds
//! the store's source and sink).

use anyhow::{anyhow, bail, Result};

use super::blob_io::{BlobSource, UploadSink};
use super::context::{blocking, error, store_error, Connection};
use crate::engine::{self, Received, Sent, CHUNK};
use crate::net::conn::{SessionReader, SessionWriter};
use crate::store::{AuditEvent, AuditKind, StoreError};
use sxfer_proto::msgs::app::error_code;
use sxfer_proto::msgs::{FileMeta, Message};
use sxfer_proto::names::RemoteName;
use sxfer_proto::transfer::{Receiver, Sender};

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
    let mut receiver = Receiver::accept_upload(transfer, meta.size, offset)?;
    if resume {
        writer.send(&Message::UploadReady { transfer, offset }).await?;
    }
    let mut sink = UploadSink::start(upload);
    let received = engine::receive(reader, Some(&mut *writer), &mut receiver, &mut sink).await;
    // The writer has synced what it wrote: an interrupted upload resumes.
    let upload = sink.finish().await;
    let (commit, upload) = match (received, upload) {
        (Ok(Received::Complete(commit)), Ok(upload)) => (commit, upload),
        (Ok(Received::Invalid(e)), upload) => {
            if let Ok(upload) = upload {
                upload.discard();
            }
            let event = AuditEvent::new(AuditKind::Upload, "failed").name(&name).size(receiver.received());
            connection.audit(event.detail(e.to_string()));
            return writer.send(&error(transfer, e.error_code(), &e.to_string())).await;
        }
        (Ok(Received::Complete(_)), Err(e)) => return fail(writer, connection, transfer, &name, meta.size, &e).await,
        (Ok(Received::Refused { .. } | Received::Discarded), _) => bail!("an upload ended out of step"),
        (Err(e), _) => {
            connection.audit(AuditEvent::new(AuditKind::Upload, "interrupted").name(&name).size(receiver.received()));
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

pub async fn download(
    writer: &mut SessionWriter,
    connection: &Connection,
    transfer: u32,
    name: RemoteName,
    offset: u64,
) -> Result<()> {
    let store = connection.store();
    let (user, open_name) = (connection.user.id, name.clone());
    // A file that fits one record is opened and read in the same blocking
    // call, and its replies go out in one write.
    let opened = blocking(move || {
        let Some((entry, blob)) = store.open_download(user, &open_name)? else {
            return Ok(None);
        };
        let mut source = BlobSource::new(blob, &entry);
        if offset > entry.meta.size || entry.meta.size - offset > CHUNK as u64 {
            return Ok(Some((entry, Err(source))));
        }
        // No buffers come back on this path: an empty spare channel.
        let (_, spare) = std::sync::mpsc::channel();
        let mut records = Vec::new();
        let read = engine::produce(&mut source, offset, entry.meta.size, &spare, |buf| {
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
    let (size, recorded) = (entry.meta.size, entry.digest);
    let Some((mut sender, start)) = Sender::download(transfer, entry, offset) else {
        let message = "resume offset is past the end of the file";
        return writer.send(&error(transfer, error_code::BAD_REQUEST, message)).await;
    };
    writer.queue(&start)?;
    let sent = match opened {
        // Queued with the DownloadStart: one write for all of it.
        Ok((records, Ok(Some(digest)))) => {
            engine::queue_whole(writer, &mut sender, &records, digest)?;
            Sent::Committed
        }
        Ok((_, Ok(None))) => Sent::SourceFailed(anyhow!("the file reader stopped")),
        Ok((_, Err(e))) => Sent::SourceFailed(e),
        Err(source) => engine::send(writer, &mut sender, source, |_| Ok(())).await?,
    };
    match sent {
        Sent::Committed => {
            writer.flush().await?;
            let event = AuditEvent::new(AuditKind::Download, "ok").name(&name).size(size - offset);
            connection.audit(event.digest(recorded));
            Ok(())
        }
        Sent::SourceFailed(e) => {
            tracing::error!(user = %connection.user.name, file = %name, "{e}");
            connection.audit(AuditEvent::new(AuditKind::Download, "integrity").name(&name).size(size));
            writer.send(&sender.fail(error_code::INTEGRITY, e.to_string())).await
        }
    }
}
