//! Group commit of pipelined small uploads on one connection.
//!
//! A client pipelines small files (request, data, commit, next file) without
//! waiting. Each is handed, as it completes, to a blocking worker that
//! checks and writes it into a [`Batch`] while the next one arrives; the
//! batch is made durable and committed in one go, and the replies
//! (`Committed` or `Error`) go out in order, when
//!
//! * it holds [`MAX_FILES`] files or [`MAX_BYTES`] bytes,
//! * the connection has been quiet for [`LINGER`] (the client is waiting),
//! * any other request arrives (so it sees the files), or the session ends.
//!
//! No reply claims a file before it is durable; an error of the whole
//! batch is reported for each of its files.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use tokio::sync::{mpsc, Semaphore};

use super::session::{error, store_error, Peer};
use super::transfer::{audit, log_audit, skip_to_commit};
use super::ServerState;
use crate::net::conn::{Incoming, SessionReader, SessionWriter};
use crate::store::{AuditEvent, AuditKind, Batch, StoreError};
use sxfer_proto::msgs::app::error_code;
use sxfer_proto::msgs::{FileEntry, FileMeta, Message};
use sxfer_proto::names::RemoteName;

/// Uploads without resume up to this size are group-committed (the
/// client pipelines files up to the same size).
pub const MAX_FILE: u64 = 4 << 20;
pub const MAX_FILES: usize = 512;
pub const MAX_BYTES: u64 = 32 << 20;
/// How long a non-empty batch waits for the next request.
pub const LINGER: Duration = Duration::from_millis(2);

/// Bytes received but not yet staged, per connection (the file being
/// received comes on top): with 256 connections, at most about 3 GiB in
/// the worst case, and a few KiB for typical small files.
const QUEUED_BYTES: usize = 8 << 20;
const _: () = assert!(MAX_FILE as usize <= QUEUED_BYTES);

/// The small uploads of this connection since the last commit: a blocking
/// worker stages (verifies, encrypts, writes) them while the next ones
/// arrive.
pub struct Pending {
    worker: Option<Worker>,
    /// Every upload handed to the worker, in order: transfer, name, length.
    transfers: Vec<(u32, RemoteName, u64)>,
    bytes: u64,
}

struct Worker {
    files: mpsc::UnboundedSender<Received>,
    /// One permit per queued byte, returned as each file is staged.
    room: Arc<Semaphore>,
    done: tokio::task::JoinHandle<(Batch, Vec<Result<(), StoreError>>)>,
}

struct Received {
    name: RemoteName,
    meta: FileMeta,
    data: Vec<u8>,
    length: u64,
    digest: [u8; 32],
}

impl Pending {
    pub fn new() -> Self {
        Pending { worker: None, transfers: Vec::new(), bytes: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.transfers.is_empty()
    }

    /// Receives one pipelined small upload (its data up to its Commit) and
    /// hands it to the staging worker. A size above the limit is refused
    /// at once; every other outcome is answered when the batch commits.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload(
        &mut self,
        reader: &mut SessionReader,
        writer: &mut SessionWriter,
        state: &Arc<ServerState>,
        peer: &Peer,
        transfer: u32,
        name: RemoteName,
        meta: FileMeta,
    ) -> Result<()> {
        let limit = state.store.limits().max_file_size;
        if meta.size > limit {
            // Replies go in request order: answer the staged uploads first.
            self.flush(writer, state, peer).await?;
            audit(state, peer, AuditEvent::new(AuditKind::Upload, "refused").name(&name).size(meta.size));
            writer.send(&store_error(transfer, &StoreError::TooLarge { size: meta.size, limit })).await?;
            return skip_to_commit(reader).await;
        }
        let mut data = Vec::with_capacity(usize::try_from(meta.size)?);
        let (length, digest) = loop {
            match reader.next().await? {
                Incoming::Data(bytes) => {
                    if (data.len() + bytes.len()) as u64 > meta.size {
                        return Err(anyhow!("client sent more than the declared {} bytes", meta.size));
                    }
                    data.extend_from_slice(bytes);
                }
                Incoming::Message(Message::Commit { transfer: t, length, digest }) if t == transfer => {
                    break (length, digest)
                }
                Incoming::Message(other) => return Err(anyhow!("unexpected message during an upload: {other:?}")),
                Incoming::Closed(_) => return Err(anyhow!("client closed during an upload")),
            }
        };
        let worker = self.worker.get_or_insert_with(|| Worker::start(state.store.batch(peer.user.id)));
        self.bytes += data.len() as u64;
        // MAX_FILE < QUEUED_BYTES, so a file always fits once the queue drains.
        let permits = u32::try_from(data.len())?;
        worker.room.acquire_many(permits).await.map_err(|_| anyhow!("the storage writer stopped"))?.forget();
        let received = Received { name: name.clone(), meta, data, length, digest };
        if worker.files.send(received).is_err() {
            return Err(anyhow!("the storage writer stopped"));
        }
        self.transfers.push((transfer, name, length));
        if self.transfers.len() >= MAX_FILES || self.bytes >= MAX_BYTES {
            self.flush(writer, state, peer).await?;
        }
        Ok(())
    }

    /// Commits what is staged and sends one reply per upload, in order.
    pub async fn flush(&mut self, writer: &mut SessionWriter, state: &Arc<ServerState>, peer: &Peer) -> Result<()> {
        let transfers = std::mem::take(&mut self.transfers);
        self.bytes = 0;
        let Some(worker) = self.worker.take() else {
            return Ok(());
        };
        drop(worker.files);
        let outcomes = match worker.done.await {
            Ok((batch, staged)) => commit(batch, staged, peer).await,
            Err(e) => {
                tracing::error!(error = %e, "the staging worker failed");
                Vec::new()
            }
        };
        let mut outcomes = outcomes.into_iter();
        for (transfer, name, length) in transfers {
            let reply = match outcomes.next() {
                Some(Ok(entry)) => {
                    let event = AuditEvent::new(AuditKind::Upload, "ok").name(&entry.name).size(entry.meta.size);
                    log_audit(peer, &event);
                    Message::Committed { transfer, entry }
                }
                Some(Err(e)) => {
                    let event = AuditEvent::new(AuditKind::Upload, "failed").name(&name).size(length);
                    audit(state, peer, event.detail(e.to_string()));
                    store_error(transfer, &e)
                }
                None => {
                    audit(state, peer, AuditEvent::new(AuditKind::Upload, "failed").name(&name).size(length));
                    error(transfer, error_code::INTERNAL, "internal server error")
                }
            };
            writer.queue(&reply)?;
        }
        writer.flush().await
    }
}

impl Worker {
    fn start(mut batch: Batch) -> Worker {
        let (files, mut incoming) = mpsc::unbounded_channel::<Received>();
        let room = Arc::new(Semaphore::new(QUEUED_BYTES));
        let freed = Arc::clone(&room);
        let done = tokio::task::spawn_blocking(move || {
            let mut staged = Vec::new();
            while let Some(file) = incoming.blocking_recv() {
                staged.push(batch.stage(file.name, file.meta, &file.data, file.length, file.digest));
                freed.add_permits(file.data.len());
            }
            (batch, staged)
        });
        Worker { files, room, done }
    }
}

/// Commits the batch; returns one outcome per file handed to the worker:
/// its staging error, or its commit result.
async fn commit(batch: Batch, staged: Vec<Result<(), StoreError>>, peer: &Peer) -> Vec<Result<FileEntry, StoreError>> {
    let who = AuditEvent::new(AuditKind::Upload, "ok").user(peer.user.name.as_str()).remote(peer.address);
    let committed = tokio::task::spawn_blocking(move || batch.commit(&who))
        .await
        .unwrap_or_else(|e| Err(StoreError::Internal(format!("store task: {e}"))));
    let mut committed = match committed {
        Ok(results) => results.into_iter(),
        Err(e) => {
            tracing::error!(error = %e, files = staged.len(), "committing a batch of uploads failed");
            Vec::new().into_iter()
        }
    };
    staged
        .into_iter()
        .map(|outcome| match outcome {
            Ok(()) => {
                committed.next().unwrap_or_else(|| Err(StoreError::Internal("the batch was not committed".into())))
            }
            Err(e) => Err(e),
        })
        .collect()
}
