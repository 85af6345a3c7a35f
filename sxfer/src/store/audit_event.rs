//! One audit event: what happened, to whom, from where. The log that
//! queues and writes events is `audit.rs`; the backends store them
//! (`meta.rs`).

use std::net::SocketAddr;

use sxfer_proto::names::RemoteName;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    Login,
    LoginFailed,
    Register,
    Upload,
    Download,
    Delete,
    Rename,
    /// A rendezvous: relayed, or expired or cancelled before a joiner came.
    Relay,
    /// Drops (PROTOCOL.md §14): sent, fetched, removed from an inbox; a key
    /// published to the directory.
    DropPut,
    DropFetch,
    DropRemove,
    /// A recipient's receipt; a sender's revocation (PROTOCOL.md §14.10).
    DropReceipt,
    DropRevoke,
    KeyPublish,
    /// Written by the audit writer itself: events that could not be recorded.
    Lost,
}

impl AuditKind {
    /// The name stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Login => "login",
            AuditKind::LoginFailed => "login_failed",
            AuditKind::Register => "register",
            AuditKind::Upload => "upload",
            AuditKind::Download => "download",
            AuditKind::Delete => "delete",
            AuditKind::Rename => "rename",
            AuditKind::Relay => "relay",
            AuditKind::DropPut => "drop",
            AuditKind::DropFetch => "drop_fetch",
            AuditKind::DropRemove => "drop_remove",
            AuditKind::DropReceipt => "drop_receipt",
            AuditKind::DropRevoke => "drop_revoke",
            AuditKind::KeyPublish => "key_publish",
            AuditKind::Lost => "audit_lost",
        }
    }

    /// The kind stored as `name` ([`as_str`](Self::as_str)).
    pub fn parse(name: &str) -> Option<AuditKind> {
        [
            AuditKind::Login,
            AuditKind::LoginFailed,
            AuditKind::Register,
            AuditKind::Upload,
            AuditKind::Download,
            AuditKind::Delete,
            AuditKind::Rename,
            AuditKind::Relay,
            AuditKind::DropPut,
            AuditKind::DropFetch,
            AuditKind::DropRemove,
            AuditKind::DropReceipt,
            AuditKind::DropRevoke,
            AuditKind::KeyPublish,
            AuditKind::Lost,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }
}

/// One event. Build with [`AuditEvent::new`] and the setters; the time is
/// taken when it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub kind: AuditKind,
    /// The user name as presented (it need not exist: failed logins).
    pub user: Option<String>,
    pub remote: Option<SocketAddr>,
    pub name: Option<RemoteName>,
    pub size: Option<u64>,
    pub digest: Option<[u8; 32]>,
    /// Extra context, e.g. a rename's new name or an auth method.
    pub detail: Option<String>,
    /// `ok`, or what went wrong (an error code name or short message).
    pub outcome: String,
}

impl AuditEvent {
    pub fn new(kind: AuditKind, outcome: impl Into<String>) -> Self {
        AuditEvent {
            kind,
            user: None,
            remote: None,
            name: None,
            size: None,
            digest: None,
            detail: None,
            outcome: outcome.into(),
        }
    }

    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    pub fn remote(mut self, remote: SocketAddr) -> Self {
        self.remote = Some(remote);
        self
    }

    pub fn name(mut self, name: &RemoteName) -> Self {
        self.name = Some(name.clone());
        self
    }

    pub fn size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    pub fn digest(mut self, digest: [u8; 32]) -> Self {
        self.digest = Some(digest);
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}
