//! The audit log: one record per security-relevant event, kept by the
//! [`MetaStore`] next to what it describes.
//!
//! [`Store::audit`] only enqueues: it never waits for the database, so it
//! is safe to call from an async worker. One writer thread per store owns
//! the queue and appends what has accumulated, up to [`MAX_BATCH`] events,
//! in one transaction ([`MetaStore::append_audit`]); events arrive in the
//! order they were enqueued. Dropping the last handle on the store (and
//! [`Store::flush_audit`]) waits until every queued event is written.
//!
//! The queue holds [`QUEUE_CAPACITY`] events. It fills only if the
//! database stalls (another process holding its write lock, a dead disk)
//! while events keep coming; then `audit` does **not** block the caller (a
//! stalled database would stall every connection with it) but refuses the
//! event with an error, which the server logs with the event (the `audit`
//! log target already carries every event). Nothing is lost silently: the
//! writer appends an `audit_lost` record with the number of events that
//! were refused or failed to write as soon as it can write again, and
//! [`Store::audit_lost`] counts them.
//! Upload events of a group commit are written in the commit's own
//! transaction (`commit_batch`), not through the queue.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::audit_event::{AuditEvent, AuditKind};
use super::error::{Result, StoreError};
use super::meta::{AuditRecord, MetaStore};
use super::{now, Store};

/// Events the queue holds before `audit` refuses more.
pub const QUEUE_CAPACITY: usize = 4096;
/// Events appended in one transaction, at most.
pub const MAX_BATCH: usize = 512;

impl Store {
    /// Records an event with the current time: enqueues it for the audit
    /// writer and returns at once. An error means the event was not
    /// queued (the queue is full, see the module docs); it is counted and
    /// reported in the log itself.
    pub fn audit(&self, event: &AuditEvent) -> Result<()> {
        self.inner.audit.enqueue(AuditRecord { time: now(), event: event.clone() })
    }

    /// Waits until every event enqueued before this call is written (or
    /// failed to be: then the error). Blocks.
    pub fn flush_audit(&self) -> Result<()> {
        self.inner.audit.flush()
    }

    /// Events refused or lost since the store was opened.
    pub fn audit_lost(&self) -> u64 {
        self.inner.audit.shared.lost_total.load(Ordering::Relaxed)
    }

    /// Up to `limit` recorded events after sequence number `after` (0: from
    /// the first), oldest first. Events still queued are not included
    /// ([`flush_audit`](Self::flush_audit) first).
    pub fn audit_log(&self, after: u64, limit: usize) -> Result<Vec<(u64, AuditRecord)>> {
        self.inner.meta.audit_log(after, limit)
    }

    /// Walk the whole audit log against its chain (`audit_chain`): the
    /// first row altered, or after a deleted or moved one, and the head.
    /// Queued events are written first.
    pub fn verify_audit(&self) -> Result<super::audit_chain::Verified> {
        self.flush_audit()?;
        const PAGE: usize = 10_000;
        let mut rows = Vec::new();
        let mut after = 0;
        loop {
            let page = self.inner.meta.audit_chain(after, PAGE)?;
            let Some(&(last, _, _)) = page.last() else { break };
            after = last;
            rows.extend(page);
        }
        Ok(super::audit_chain::verify(&self.inner.audit_key, rows))
    }
}

/// The queue and its writer thread.
pub(super) struct AuditLog {
    /// `None` only while dropping: closing it stops the writer.
    queue: Option<SyncSender<Message>>,
    writer: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

enum Message {
    Record(AuditRecord),
    /// Answered once everything before it is written.
    Flush(mpsc::Sender<Result<(), String>>),
}

#[derive(Default)]
struct Shared {
    /// Events not recorded and not yet reported by an `audit_lost` record.
    unreported: AtomicU64,
    lost_total: AtomicU64,
}

impl AuditLog {
    /// Starts the writer thread over `meta`.
    pub(super) fn start(meta: Arc<dyn MetaStore>) -> Result<AuditLog> {
        let (queue, pending) = mpsc::sync_channel(QUEUE_CAPACITY);
        let shared = Arc::new(Shared::default());
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("sxfer-audit".into())
            .spawn(move || write_queued(&*meta, &pending, &writer_shared))
            .map_err(|err| StoreError::Internal(format!("cannot start the audit writer: {err}")))?;
        Ok(AuditLog { queue: Some(queue), writer: Some(writer), shared })
    }

    fn enqueue(&self, record: AuditRecord) -> Result<()> {
        let Some(queue) = &self.queue else {
            return Err(StoreError::Internal("the audit log is closed".into()));
        };
        match queue.try_send(Message::Record(record)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.shared.unreported.fetch_add(1, Ordering::Relaxed);
                let total = self.shared.lost_total.fetch_add(1, Ordering::Relaxed) + 1;
                Err(StoreError::Internal(format!(
                    "the audit queue is full (the database is not keeping up); event not recorded ({total} so far)"
                )))
            }
            Err(TrySendError::Disconnected(_)) => Err(StoreError::Internal("the audit writer has stopped".into())),
        }
    }

    fn flush(&self) -> Result<()> {
        let (done, wait) = mpsc::channel();
        let stopped = || StoreError::Internal("the audit writer has stopped".into());
        self.queue.as_ref().ok_or_else(stopped)?.send(Message::Flush(done)).map_err(|_| stopped())?;
        wait.recv().map_err(|_| stopped())?.map_err(StoreError::Internal)
    }
}

impl Drop for AuditLog {
    /// Writes what is still queued, then stops the writer.
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!("the audit writer panicked; queued events may be lost");
            }
        }
    }
}

/// The writer thread: until the queue closes, take what is queued (at
/// most [`MAX_BATCH`] events), append it in one transaction, answer the
/// flushes among it.
fn write_queued(meta: &dyn MetaStore, pending: &Receiver<Message>, shared: &Shared) {
    let mut records = Vec::with_capacity(MAX_BATCH);
    let mut flushes = Vec::new();
    while let Ok(first) = pending.recv() {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Record(record) => records.push(record),
                Message::Flush(done) => flushes.push(done),
            }
            if records.len() < MAX_BATCH {
                next = pending.try_recv().ok();
            }
        }
        let events = records.len() as u64;
        let unreported = shared.unreported.swap(0, Ordering::Relaxed);
        if unreported > 0 {
            tracing::error!(events = unreported, "audit events were not recorded");
            let event = AuditEvent::new(AuditKind::Lost, "lost")
                .detail(format!("{unreported} audit events could not be recorded"));
            records.push(AuditRecord { time: now(), event });
        }
        let written = if records.is_empty() { Ok(()) } else { meta.append_audit(&records) };
        let answer = match written {
            Ok(()) => Ok(()),
            Err(err) => {
                tracing::error!(events, error = %err, "cannot write audit events; they are lost");
                shared.unreported.fetch_add(events + unreported, Ordering::Relaxed);
                shared.lost_total.fetch_add(events, Ordering::Relaxed);
                Err(format!("cannot write audit events: {err}"))
            }
        };
        for done in flushes.drain(..) {
            done.send(answer.clone()).ok();
        }
        records.clear();
    }
}
