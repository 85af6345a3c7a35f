//! The audit log: one row per security-relevant event, kept in the database
//! next to what it describes.

use std::net::SocketAddr;

use rusqlite::{params, Connection};
use sxfer_proto::names::RemoteName;

use super::error::Result;
use super::{now, to_sql_int, Store};

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
        }
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

impl Store {
    /// Records an event with the current time.
    pub fn audit(&self, event: &AuditEvent) -> Result<()> {
        insert_audit(&self.inner.db(), event)
    }
}

/// Inserts one audit row, inside whatever transaction `db` is in.
pub(super) fn insert_audit(db: &Connection, event: &AuditEvent) -> Result<()> {
    let size = event.size.map(|size| to_sql_int(size, "size")).transpose()?;
    let digest = event.digest.map(|digest| digest.iter().map(|byte| format!("{byte:02x}")).collect::<String>());
    db.prepare_cached(
        "INSERT INTO audit (time, user, remote, kind, name, size, digest, detail, outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        now(),
        event.user,
        event.remote.map(|remote| remote.to_string()),
        event.kind.as_str(),
        event.name.as_ref().map(RemoteName::as_str),
        size,
        digest,
        event.detail,
        event.outcome
    ])?;
    Ok(())
}
