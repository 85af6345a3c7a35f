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
//! Each batch is committed by a task of its own while the next batch is
//! received and staged. The task publishes its batch at once (blobs
//! durable at their final names, not yet visible: `Batch::publish`), then
//! waits for the batch before to commit, so the transactions run one at a
//! time and in order, and the replies of one batch go out before any reply
//! of the next. At most [`IN_FLIGHT`] batches wait for their commit; then
//! the session waits too.
//!
//! No reply claims a file before it is durable; an error of the whole
//! batch is reported for each of its files.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{bail, Result};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use super::context::{blocking, error, store_error, Connection};
use super::transfer::discard;
use crate::engine::{self, Memory, Received};
use crate::net::conn::{SessionReader, SessionWriter};
use crate::store::{AuditEvent, AuditKind, Batch, Staged, Stager, StoreError};
use sxfer_proto::msgs::app::error_code;
use sxfer_proto::msgs::{FileEntry, FileMeta, Message};
use sxfer_proto::names::RemoteName;
use sxfer_proto::transfer::Receiver;

/// Uploads without resume up to this size are group-committed (the
/// client pipelines files up to the same size).
pub const MAX_FILE: u64 = 4 << 20;
pub const MAX_FILES: usize = 512;
pub const MAX_BYTES: u64 = 32 << 20;
/// How long a non-empty batch waits for the next request.
pub const LINGER: Duration = Duration::from_millis(2);
/// Batches of one connection handed to commit tasks and not yet answered.
const IN_FLIGHT: usize = 3;

/// Bytes received but not yet staged, per connection, across all its
/// batches (the file being received comes on top): with 256 connections,
/// at most about 3 GiB in the worst case, and a few KiB for typical small
/// files.
const QUEUED_BYTES: usize = 8 << 20;
const _: () = assert!(MAX_FILE as usize <= QUEUED_BYTES);

/// The small uploads of this connection since the last commit, staged
/// (verified, encrypted, written) on blocking threads while the next ones
/// arrive.
pub struct Pending {
    worker: Option<Worker>,
    /// One permit per received byte not yet staged.
    room: Arc<Semaphore>,
    /// Files received and not yet staged, for all batches.
    staging: Arc<Staging>,
    /// Every upload handed to the worker, in order.
    transfers: Vec<Sent>,
    bytes: u64,
    /// Earlier batches, oldest first, being committed while this one is
    /// staged.
    committing: VecDeque<Committing>,
    /// Resolves (or is dropped) when the newest commit task is done; the
    /// next one waits for it.
    last_commit: Option<oneshot::Receiver<()>>,
}

/// An upload whose reply is still owed: transfer, name, length.
type Sent = (u32, RemoteName, u64);

type Outcomes = Vec<Result<FileEntry, StoreError>>;

struct Committing {
    transfers: Vec<Sent>,
    outcomes: tokio::task::JoinHandle<Outcomes>,
}

/// The batch being received, and the outcomes of staging its files, in
/// order.
struct Worker {
    batch: Batch,
    staged: Vec<oneshot::Receiver<Result<Staged, StoreError>>>,
}

/// A connection's queue of files to stage, and the blocking threads
/// ("lanes", at most one per core) staging them. A lane exits as soon as
/// the queue is empty, so none ever waits for the network, and while
/// files keep coming a lane takes one after another without a hand-off.
struct Staging {
    /// The queue and how many lanes are running.
    queue: Mutex<(VecDeque<Job>, usize)>,
}

struct Job {
    stager: Stager,
    name: RemoteName,
    meta: FileMeta,
    data: Vec<u8>,
    length: u64,
    digest: [u8; 32],
    /// Returned to `Pending::room` once staged.
    queued: OwnedSemaphorePermit,
    done: oneshot::Sender<Result<Staged, StoreError>>,
}

impl Pending {
    pub fn new() -> Self {
        Pending {
            worker: None,
            room: Arc::new(Semaphore::new(QUEUED_BYTES)),
            staging: Arc::new(Staging { queue: Mutex::new((VecDeque::new(), 0)) }),
            transfers: Vec::new(),
            bytes: 0,
            committing: VecDeque::new(),
            last_commit: None,
        }
    }

    /// Uploads received since the last commit started.
    pub fn has_staged(&self) -> bool {
        !self.transfers.is_empty()
    }

    /// Batches being committed and not yet answered.
    pub fn is_committing(&self) -> bool {
        !self.committing.is_empty()
    }

    /// Waits until the oldest batch being committed is done (cancel-safe);
    /// pass the outcomes to [`answer`](Self::answer).
    pub async fn committed(&mut self) -> Outcomes {
        match self.committing.front_mut() {
            Some(oldest) => (&mut oldest.outcomes).await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "the commit task failed");
                Vec::new()
            }),
            None => std::future::pending().await,
        }
    }

    /// Receives one pipelined small upload (its data up to its Commit) and
    /// hands it to a staging task. A size above the limit is refused
    /// at once; every other outcome is answered when the batch commits.
    pub async fn upload(
        &mut self,
        reader: &mut SessionReader,
        writer: &mut SessionWriter,
        connection: &Connection,
        transfer: u32,
        name: RemoteName,
        meta: FileMeta,
    ) -> Result<()> {
        let limit = connection.state.store.limits().max_file_size;
        if meta.size > limit {
            // Replies go in request order: answer the staged uploads first.
            self.flush(writer, connection).await?;
            connection.audit(AuditEvent::new(AuditKind::Upload, "refused").name(&name).size(meta.size));
            writer.send(&store_error(transfer, &StoreError::TooLarge { size: meta.size, limit })).await?;
            return discard(reader, transfer).await;
        }
        let mut receiver = Receiver::accept_upload(transfer, meta.size, 0)?;
        let mut sink = Memory::with_capacity(meta.size, engine::BufferPool::default());
        let received = engine::receive(reader, None, &mut receiver, &mut sink).await?;
        let store = &connection.state.store;
        let worker =
            self.worker.get_or_insert_with(|| Worker { batch: store.batch(connection.user.id), staged: Vec::new() });
        let (done, staged) = oneshot::channel();
        worker.staged.push(staged);
        let length = match received {
            Received::Complete(commit) => {
                let data = sink.data;
                self.bytes += data.len() as u64;
                // MAX_FILE < QUEUED_BYTES, so a file always fits once the
                // queue drains; the permits are given back however staging
                // ends. The stager checks the digest.
                let queued = Arc::clone(&self.room).acquire_many_owned(u32::try_from(data.len())?).await?;
                let stager = worker.batch.stager();
                let (length, digest) = (commit.length, commit.digest);
                self.staging.submit(Job { stager, name: name.clone(), meta, data, length, digest, queued, done });
                length
            }
            // Its reply (INTEGRITY) comes in order with the others'.
            Received::Invalid(e) => {
                done.send(Err(StoreError::Integrity(e.to_string()))).ok();
                receiver.received()
            }
            Received::Refused { .. } | Received::Discarded => bail!("an upload ended out of step"),
        };
        self.transfers.push((transfer, name, length));
        if self.transfers.len() >= MAX_FILES || self.bytes >= MAX_BYTES {
            self.start_commit(writer, connection).await?;
        }
        Ok(())
    }

    /// Commits everything staged and sends one reply per upload, in order.
    pub async fn flush(&mut self, writer: &mut SessionWriter, connection: &Connection) -> Result<()> {
        self.start_commit(writer, connection).await?;
        self.answer_committing(writer, connection).await
    }

    /// Waits for every batch already being committed and sends its
    /// replies (the batch still being received is left alone): before the
    /// session ends on an error, so that the client learns which of its
    /// files were stored.
    pub async fn answer_committing(&mut self, writer: &mut SessionWriter, connection: &Connection) -> Result<()> {
        while self.is_committing() {
            let outcomes = self.committed().await;
            self.answer(outcomes, writer, connection).await?;
        }
        Ok(())
    }

    /// Hands the staged batch to a commit task of its own, which commits
    /// it after the batch before. With [`IN_FLIGHT`] batches already
    /// waiting, first answers the oldest.
    pub async fn start_commit(&mut self, writer: &mut SessionWriter, connection: &Connection) -> Result<()> {
        let transfers = std::mem::take(&mut self.transfers);
        self.bytes = 0;
        let Some(worker) = self.worker.take() else {
            return Ok(());
        };
        if self.committing.len() >= IN_FLIGHT {
            let outcomes = self.committed().await;
            self.answer(outcomes, writer, connection).await?;
        }
        let who = connection.stamp(AuditEvent::new(AuditKind::Upload, "ok"));
        let previous = self.last_commit.take();
        let (done, next) = oneshot::channel();
        self.last_commit = Some(next);
        let outcomes = tokio::spawn(async move {
            let (batch, staged) = worker.staged().await;
            let outcomes = commit(batch, staged, previous, who).await;
            done.send(()).ok();
            outcomes
        });
        self.committing.push_back(Committing { transfers, outcomes });
        Ok(())
    }

    /// Sends the replies of the oldest batch being committed, given its
    /// [`committed`](Self::committed) outcomes.
    pub async fn answer(
        &mut self,
        outcomes: Outcomes,
        writer: &mut SessionWriter,
        connection: &Connection,
    ) -> Result<()> {
        let Some(Committing { transfers, .. }) = self.committing.pop_front() else {
            return Ok(());
        };
        let mut outcomes = outcomes.into_iter();
        for (transfer, name, length) in transfers {
            let reply = match outcomes.next() {
                Some(Ok(entry)) => {
                    let event = AuditEvent::new(AuditKind::Upload, "ok").name(&entry.name).size(entry.meta.size);
                    connection.log_audit(&connection.stamp(event));
                    Message::Committed { transfer, entry }
                }
                Some(Err(e)) => {
                    let event = AuditEvent::new(AuditKind::Upload, "failed").name(&name).size(length);
                    connection.audit(event.detail(e.to_string()));
                    store_error(transfer, &e)
                }
                None => {
                    connection.audit(AuditEvent::new(AuditKind::Upload, "failed").name(&name).size(length));
                    error(transfer, error_code::INTERNAL, "internal server error")
                }
            };
            writer.queue(&reply)?;
        }
        writer.flush().await
    }
}

impl Worker {
    /// Waits for every file to be staged; returns the batch holding them,
    /// in order, and one outcome per file: staged, or why not.
    async fn staged(self) -> (Batch, Vec<Result<(), StoreError>>) {
        let Worker { mut batch, staged } = self;
        let mut outcomes = Vec::with_capacity(staged.len());
        for file in staged {
            let file = file.await.unwrap_or_else(|_| Err(StoreError::Internal("the staging thread failed".into())));
            outcomes.push(file.map(|file| batch.push(file)));
        }
        (batch, outcomes)
    }
}

impl Staging {
    /// Queues a file, starting a lane if fewer than one per core run.
    fn submit(self: &Arc<Self>, job: Job) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue.0.push_back(job);
        if queue.1 < stagers() {
            queue.1 += 1;
            let staging = Arc::clone(self);
            tokio::task::spawn_blocking(move || staging.run());
        }
    }

    /// A lane: stages queued files until the queue is empty.
    fn run(&self) {
        loop {
            let job = {
                let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                match queue.0.pop_front() {
                    Some(job) => job,
                    None => {
                        queue.1 -= 1;
                        return;
                    }
                }
            };
            let Job { stager, name, meta, data, length, digest, queued, done } = job;
            if done.is_closed() {
                // Its batch was dropped (the connection is gone): skip it.
                continue;
            }
            // A panic fails this file only; the lane and its count go on.
            let staged = std::panic::catch_unwind(AssertUnwindSafe(|| stager.stage(name, meta, &data, length, digest)))
                .unwrap_or_else(|_| Err(StoreError::Internal("staging a file panicked".into())));
            drop(queued);
            done.send(staged).ok();
        }
    }
}

/// Files of one connection staged at once: one per core, at most 4.
fn stagers() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()).min(4))
}

/// Publishes the batch (its blobs durable, not yet visible), then, once
/// the `previous` batch of the connection has committed, commits it;
/// returns one outcome per file handed to the worker: its staging error,
/// or its commit result.
async fn commit(
    mut batch: Batch,
    staged: Vec<Result<(), StoreError>>,
    previous: Option<oneshot::Receiver<()>>,
    who: AuditEvent,
) -> Outcomes {
    let published = blocking(move || batch.publish().map(|()| batch)).await;
    if let Some(previous) = previous {
        // Dropped instead of sent if that task failed: go on either way.
        previous.await.ok();
    }
    let committed = match published {
        Ok(batch) => blocking(move || batch.commit(&who)).await,
        Err(e) => Err(e),
    };
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
