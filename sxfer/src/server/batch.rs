//! Group commit of pipelined small uploads on one connection.
//!
//! A client pipelines small files (request, data, commit, next file) without
//! waiting. Each is checked and written as it completes, then held in a
//! [`Batch`]; the batch is made durable and committed in one go, and the
//! `Committed` replies go out in order, when
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

/// The files staged on this connection and the transfers they answer.
pub struct Pending {
    batch: Option<Batch>,
    transfers: Vec<(u32, RemoteName)>,
}

impl Pending {
    pub fn new() -> Self {
        Pending { batch: None, transfers: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.transfers.is_empty()
    }

    /// Receives one pipelined small upload (its data up to its Commit) and
    /// stages it; refusals are answered at once.
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
        let mut batch = self.batch.take().unwrap_or_else(|| state.store.batch(peer.user.id));
        let staged_name = name.clone();
        let (batch, staged) = tokio::task::spawn_blocking(move || {
            let staged = batch.stage(staged_name, meta, &data, length, digest);
            (batch, staged)
        })
        .await
        .map_err(|e| anyhow!("storage writer: {e}"))?;
        let full = batch.len() >= MAX_FILES || batch.bytes() >= MAX_BYTES;
        self.batch = Some(batch);
        match staged {
            Ok(()) => {
                self.transfers.push((transfer, name));
                if full {
                    self.flush(writer, state, peer).await?;
                }
                Ok(())
            }
            Err(e) => {
                let event = AuditEvent::new(AuditKind::Upload, "failed").name(&name).size(length);
                audit(state, peer, event.detail(e.to_string()));
                writer.send(&store_error(transfer, &e)).await
            }
        }
    }

    /// Commits what is staged and sends one reply per file, in order.
    pub async fn flush(&mut self, writer: &mut SessionWriter, state: &Arc<ServerState>, peer: &Peer) -> Result<()> {
        let transfers = std::mem::take(&mut self.transfers);
        let Some(batch) = self.batch.take().filter(|_| !transfers.is_empty()) else {
            return Ok(());
        };
        let who = AuditEvent::new(AuditKind::Upload, "ok").user(peer.user.name.as_str()).remote(peer.address);
        let committed = tokio::task::spawn_blocking(move || batch.commit(&who))
            .await
            .unwrap_or_else(|e| Err(StoreError::Internal(format!("store task: {e}"))));
        let results: Vec<Option<Result<FileEntry, StoreError>>> = match committed {
            Ok(results) => results.into_iter().map(Some).collect(),
            Err(e) => {
                tracing::error!(error = %e, files = transfers.len(), "committing a batch of uploads failed");
                std::iter::repeat_with(|| None).take(transfers.len()).collect()
            }
        };
        for ((transfer, name), result) in transfers.into_iter().zip(results) {
            let reply = match result {
                Some(Ok(entry)) => {
                    let event = AuditEvent::new(AuditKind::Upload, "ok").name(&entry.name).size(entry.meta.size);
                    log_audit(peer, &event);
                    Message::Committed { transfer, entry }
                }
                Some(Err(e)) => {
                    audit(state, peer, AuditEvent::new(AuditKind::Upload, "refused").name(&name).detail(e.to_string()));
                    store_error(transfer, &e)
                }
                None => {
                    audit(state, peer, AuditEvent::new(AuditKind::Upload, "failed").name(&name));
                    error(transfer, error_code::INTERNAL, "internal server error")
                }
            };
            writer.queue(&reply)?;
        }
        writer.flush().await
    }
}
