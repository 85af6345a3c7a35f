//! The server's storage: SQLite metadata plus a directory of age-encrypted
//! blobs. `docs/STORAGE.md` describes the layout, schema, write protocol and
//! crash-safety argument; this module implements exactly that.
//!
//! The API is **blocking**. The async server calls it through
//! `tokio::task::spawn_blocking`. [`Store`] is a cheap handle (`Clone`,
//! `Send + Sync`, an `Arc` inside): clone it into each blocking task.
//! Database work happens under one mutex in short transactions; slow work
//! (argon2, encryption, fsync, decryption) never holds it.
//!
//! ```text
//! sxfer-data/                 0700
//!   storage.key               age X25519 identity (AGE-SECRET-KEY-1…), 0600
//!   storage.pub               its recipient (age1…)
//!   sxfer.db                  SQLite (WAL), schema = migrations/*.sql
//!   blobs/ab/<blob id>        committed files: age v1, to storage.key
//!   partial/<blob id>         uploads in progress: age v1, being written
//! ```
//!
//! The API, by file (all methods take `&self` and block):
//!
//! * here: [`Store::open`]`(data_dir) -> Store`, [`Store::storage_recipient`],
//!   [`Store::data_dir`], [`Store::limits`] / [`Store::set_limits`] ([`Limits`]).
//! * `accounts.rs`: [`Store::add_user`], [`Store::register`],
//!   [`Store::delete_user`], [`Store::user`], [`Store::list_users`],
//!   [`Store::set_password`], [`Store::set_quota`], [`Store::add_key`],
//!   [`Store::delete_key`], [`Store::list_keys`], [`Store::verify_password`],
//!   [`Store::key_login`], [`Store::set_password_hashing_for_testing_only`];
//!   [`UserId`], [`UserInfo`].
//! * `files.rs`: [`Store::list`], [`Store::stat`], [`Store::delete`],
//!   [`Store::rename`], [`Store::usage`].
//! * `upload.rs`: [`Store::begin_upload`] → [`Upload`] (`offset`, `write`,
//!   `sync`, `commit`, `abandon`, `discard`); [`durable_offset`], [`CHUNK_SIZE`].
//! * `batch.rs`: [`Store::batch`] → [`Batch`] (`stage`, `commit`): small
//!   uploads made durable and committed as a group.
//! * `download.rs`: [`Store::open_download`] → [`Download`] (`Read + Seek`, `size`).
//! * `audit.rs`: [`Store::audit`], [`AuditEvent`], [`AuditKind`].
//! * `error.rs`: [`StoreError`], its protocol error [`code`](StoreError::code).
//! * internal: `schema.rs` (connection settings, migrations), `blobs.rs`
//!   (blob ids, paths, fsync, age streams), `age_writer.rs` (age v1 files
//!   written with aws-lc-rs), `age_identity.rs` (the storage key's file-key
//!   unwrap for age's reader, with aws-lc-rs), `storage_key.rs`, `gc.rs`
//!   (recovery at open).
//!
//! File names ([`RemoteName`](sxfer_proto::names::RemoteName)) are labels in
//! the database; the filesystem only ever sees random blob ids.

mod accounts;
mod age_identity;
mod age_writer;
mod audit;
mod batch;
mod blobs;
mod download;
mod error;
mod files;
mod gc;
mod schema;
mod storage_key;
mod upload;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

pub use accounts::{UserId, UserInfo};
pub use audit::{AuditEvent, AuditKind};
pub use batch::{Batch, Staged, Stager};
pub use download::Download;
pub use error::{Result, StoreError};
pub use upload::{durable_offset, SyncPoint, Upload, CHUNK_SIZE, MAX_PARTIALS_PER_USER};

use accounts::PasswordHashing;
use error::IoContext;

/// Limits the server enforces on uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file accepted, in bytes.
    pub max_file_size: u64,
    /// Bytes a user may store, unless their account sets its own (`None`: unlimited).
    pub default_quota_bytes: Option<u64>,
    /// Files a user may store, unless their account sets its own (`None`: unlimited).
    pub default_quota_files: Option<u64>,
}

impl Default for Limits {
    /// 1 TiB per file, no quotas.
    fn default() -> Self {
        Limits { max_file_size: 1 << 40, default_quota_bytes: None, default_quota_files: None }
    }
}

/// A handle on one data directory. Clones share everything.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// What every handle, [`Upload`] and [`Download`] share.
struct Inner {
    dir: PathBuf,
    db: Mutex<Connection>,
    /// The storage key, unwrapping file keys with aws-lc (`age_identity`).
    identity: age_identity::X25519Identity,
    recipient: age::x25519::Recipient,
    /// The same recipient as a raw X25519 key, for `age_writer`.
    recipient_key: [u8; 32],
    limits: RwLock<Limits>,
    hashing: RwLock<Arc<PasswordHashing>>,
}

impl Store {
    /// Opens the data directory, creating it (0700), `blobs/`, `partial/`,
    /// the database and the storage key on first use. Applies pending
    /// migrations, then garbage-collects what a crash may have left behind
    /// (see `docs/STORAGE.md`, "Recovery at open").
    ///
    /// Refuses to create a new storage key when encrypted files already
    /// exist: a lost `storage.key` must be restored, not replaced.
    pub fn open(data_dir: &Path) -> Result<Store> {
        blobs::create_private_dir_all(data_dir)?;
        blobs::create_private_dir_all(&data_dir.join(blobs::BLOBS_DIR))?;
        blobs::create_private_dir_all(&data_dir.join(blobs::PARTIAL_DIR))?;
        let mut db = schema::open_database(&data_dir.join(schema::DATABASE_FILE))?;
        schema::migrate(&mut db)?;
        let identity = storage_key::load_or_create(data_dir, &db)?;
        let recipient = identity.to_public();
        let recipient_key = age_writer::recipient_bytes(&recipient)
            .ok_or_else(|| StoreError::Internal("the storage key's recipient does not decode".into()))?;
        let inner = Inner {
            dir: data_dir.to_path_buf(),
            db: Mutex::new(db),
            identity: age_identity::X25519Identity::from_age(&identity)
                .ok_or_else(|| StoreError::Internal("aws-lc refuses the storage key".into()))?,
            recipient,
            recipient_key,
            limits: RwLock::new(Limits::default()),
            hashing: RwLock::new(Arc::new(PasswordHashing::production())),
        };
        gc::collect(&inner)?;
        Ok(Store { inner: Arc::new(inner) })
    }

    /// The age recipient (`age1…`) every blob is encrypted to.
    pub fn storage_recipient(&self) -> String {
        self.inner.recipient.to_string()
    }

    /// The data directory this store was opened on.
    pub fn data_dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn limits(&self) -> Limits {
        *self.inner.limits.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_limits(&self, limits: Limits) {
        *self.inner.limits.write().unwrap_or_else(PoisonError::into_inner) = limits;
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.inner.dir).finish_non_exhaustive()
    }
}

impl Inner {
    /// The database. A panic while it was held leaves no open transaction
    /// (rusqlite rolls back on drop), so a poisoned lock is still usable.
    fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn limits(&self) -> Limits {
        *self.limits.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn hashing(&self) -> Arc<PasswordHashing> {
        Arc::clone(&self.hashing.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Seconds since the Unix epoch.
fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// A size or count as SQLite stores it (signed 64-bit).
fn to_sql_int(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value).map_err(|_| StoreError::Invalid(format!("{what} {value} is out of range")))
}

/// A stored integer that must fit `T`; anything else is a corrupt database.
fn from_sql_int<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T> {
    T::try_from(value).map_err(|_| StoreError::Internal(format!("database holds an invalid {what}: {value}")))
}

/// Wraps `io::Error`s with the path they concern.
fn io_context<T>(result: std::io::Result<T>, action: &str, path: &Path) -> Result<T> {
    result.context(|| format!("{action} {}", path.display()))
}
