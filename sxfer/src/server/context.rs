//! What every request handler of one connection shares: who is on the
//! other end, the server's state, and the helpers that turn store results
//! into replies and audit rows. Everything else in `server/` imports this;
//! it imports nothing of theirs.

use std::net::SocketAddr;
use std::sync::Arc;

use super::ServerState;
use crate::store::{AuditEvent, Store, StoreError, UserInfo};
use sxfer_proto::codec::Codec;
use sxfer_proto::msgs::Message;

/// One authenticated connection's context.
pub struct Connection {
    pub state: Arc<ServerState>,
    pub address: SocketAddr,
    pub user: UserInfo,
}

impl Connection {
    pub fn store(&self) -> Arc<Store> {
        self.state.store.clone()
    }

    /// Record an event in the audit table and the log, with who and from
    /// where.
    pub fn audit(&self, event: AuditEvent) {
        let event = self.stamp(event);
        self.log_audit(&event);
        if let Err(e) = self.state.store.audit(&event) {
            tracing::warn!(error = %e, "could not write the audit log");
        }
    }

    /// `event` with this connection's user and address.
    pub fn stamp(&self, event: AuditEvent) -> AuditEvent {
        event.user(self.user.name.as_str()).remote(self.address)
    }

    /// The log line of an audit event (for events whose row the store wrote).
    pub fn log_audit(&self, event: &AuditEvent) {
        tracing::info!(
            target: "audit",
            peer = %self.address,
            user = %self.user.name,
            event = event.kind.as_str(),
            file = event.name.as_ref().map(|n| n.as_str()),
            size = event.size,
            outcome = %event.outcome,
        );
    }
}

/// Run a store call on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(call).await.unwrap_or_else(|e| Err(StoreError::Internal(format!("store task: {e}"))))
}

pub fn error(transfer: u32, code: u16, message: &str) -> Message {
    Message::Error { transfer, code, message: message.to_owned() }
}

/// The client sees the store's refusal as a coded error with one clear
/// line; internal details stay in the server log.
pub fn store_error(transfer: u32, e: &StoreError) -> Message {
    match e.client_message() {
        Some(message) => {
            if matches!(e, StoreError::Io { .. }) {
                tracing::error!(error = %e, "storage full or at a file-size limit");
            }
            error(transfer, e.code(), &message)
        }
        None => {
            tracing::error!(error = %e, "store failure");
            error(transfer, e.code(), "internal server error")
        }
    }
}

/// "ok" or "refused", for the audit row of a request answered by `reply`.
pub fn reply_outcome(reply: &Message) -> &'static str {
    if matches!(reply, Message::Error { .. }) {
        "refused"
    } else {
        "ok"
    }
}

/// Split a listing (of files, or of an inbox) into parts that each fit one
/// record: at most `max_count` entries and well under `MAX_PAYLOAD` bytes
/// (an entry is at most ~10 KiB, so 512 KiB of entries leaves ample
/// room). Always at least one part; only the last has `more == false`.
pub fn listing_parts<T: Codec>(entries: Vec<T>, max_count: usize) -> Vec<(Vec<T>, bool)> {
    const PART_BYTES: usize = 512 * 1024;
    let mut parts = vec![Vec::new()];
    let mut bytes = 0;
    for entry in entries {
        let size = entry.to_bytes().len();
        let current = parts.last_mut().expect("never empty");
        if !current.is_empty() && (current.len() == max_count || bytes + size > PART_BYTES) {
            parts.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        parts.last_mut().expect("never empty").push(entry);
    }
    let last = parts.len() - 1;
    parts.into_iter().enumerate().map(|(i, part)| (part, i != last)).collect()
}
