//! Store errors, by what the server tells the client.
//!
//! Each variant maps to one protocol error code (PROTOCOL.md §7.4) through
//! [`StoreError::code`]. Causes the client cannot act on (disk, database,
//! key file) are all `Internal`: logged in full by the server, reported to
//! the client as `INTERNAL` without details.

use std::io;

use sxfer_proto::msgs::app::error_code;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such user, file or key.
    #[error("{0} not found")]
    NotFound(String),
    /// Not there, said as a whole sentence (a drop revoked, expired or
    /// taken out of the inbox); code NOT_FOUND.
    #[error("{0}")]
    Gone(String),
    /// The user or file already exists.
    #[error("{0} already exists")]
    Exists(String),
    /// Accepting this would exceed the user's byte or file quota.
    #[error("quota exceeded: {0}")]
    Quota(String),
    /// A server limit other than the account's quota (a recipient's inbox cap).
    #[error("{0}")]
    Limit(String),
    /// The server does not do this for this account (a drop signed with a
    /// key the sender has not published).
    #[error("{0}")]
    Refused(String),
    /// The announced size is above the server's maximum file size.
    #[error("file too large: {size} bytes, the limit is {limit}")]
    TooLarge { size: u64, limit: u64 },
    /// Length or digest mismatch on commit, more data than announced, or a
    /// stored blob that does not decrypt (tampered or truncated).
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// A request that makes no sense (e.g. registering without a credential).
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    /// Anything else the operator must fix (key file, data directory, a
    /// database from a newer sxfer).
    #[error("{0}")]
    Internal(String),
}

impl StoreError {
    /// The protocol error code the server sends for this error.
    pub fn code(&self) -> u16 {
        match self {
            StoreError::NotFound(_) | StoreError::Gone(_) => error_code::NOT_FOUND,
            StoreError::Exists(_) => error_code::EXISTS,
            StoreError::Quota(_) => error_code::QUOTA,
            StoreError::Limit(_) => error_code::LIMIT,
            StoreError::Refused(_) => error_code::REFUSED,
            StoreError::TooLarge { .. } => error_code::TOO_LARGE,
            StoreError::Integrity(_) => error_code::INTEGRITY,
            StoreError::Invalid(_) => error_code::BAD_REQUEST,
            StoreError::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull => error_code::OUT_OF_SPACE,
            StoreError::Io { source, .. } if source.kind() == io::ErrorKind::FileTooLarge => error_code::TOO_LARGE,
            StoreError::Database(_) | StoreError::Io { .. } | StoreError::Internal(_) => error_code::INTERNAL,
        }
    }

    /// True when the message is safe and useful to show the client; false
    /// for internal failures, whose details stay in the server log.
    pub fn is_client_facing(&self) -> bool {
        self.code() != error_code::INTERNAL
    }

    /// What the client is told: one clear line, or `None` for an internal
    /// failure (the details stay in the server log). A full disk or a
    /// file-size limit is named as such, without the server's paths.
    pub fn client_message(&self) -> Option<String> {
        match self {
            StoreError::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull => {
                Some("the server is out of space; try again later (the upload resumes)".into())
            }
            StoreError::Io { source, .. } if source.kind() == io::ErrorKind::FileTooLarge => {
                Some("the server cannot store a file this large (a file-size limit on its side)".into())
            }
            _ if self.is_client_facing() => Some(self.to_string()),
            _ => None,
        }
    }
}

/// Attaches a description of what was being done to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| StoreError::Io { context: what(), source })
    }
}

/// Wraps `io::Error`s with the path they concern.
pub(crate) fn io_context<T>(result: io::Result<T>, action: &str, path: &std::path::Path) -> Result<T> {
    result.context(|| format!("{action} {}", path.display()))
}
