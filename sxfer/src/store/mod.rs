//! The server's storage: metadata behind [`MetaStore`], blobs behind
//! [`BlobStore`], and [`Store`], the one place that orchestrates them
//! (uploads, resume, group commit, downloads, deletes, recovery), written
//! once against the traits. `docs/STORAGE.md` describes the layout,
//! schema, write protocol and crash-safety argument; this module implements
//! exactly that.
//!
//! ```text
//!            Store (age encryption, argon2, the write protocol, recovery, audit queue)
//!           /                                  \
//!   Arc<dyn MetaStore>                     Arc<dyn BlobStore>
//!   sqlite/: SqliteMeta (sxfer.db)         blobdir/: BlobDir (blobs/, partial/)
//!   (PostgreSQL next)                      (S3-compatible next)
//! ```
//!
//! Encryption at rest sits in `Store`, above both: a blob store only ever
//! holds age ciphertext and never sees the storage key, so an object store
//! holds nothing it could read, and the durable-offset rule (`upload.rs`)
//! is the same for every backend. A new backend implements one trait and
//! passes the conformance suite in `sxfer/tests/store/conformance/`.
//!
//! The API is **blocking**. The async server calls it through
//! `tokio::task::spawn_blocking`; only [`Store::audit`] is safe on an async
//! worker (it enqueues). [`Store`] is a cheap handle (`Clone`,
//! `Send + Sync`, an `Arc` inside): clone it into each blocking task.
//! Slow work (argon2, encryption, fsync, decryption) never happens inside
//! a metadata call.
//!
//! ```text
//! sxfer-data/                 0700 (Store::open: SqliteMeta + BlobDir)
//!   storage.key               age X25519 identity (AGE-SECRET-KEY-1…), 0600
//!   storage.pub               its recipient (age1…)
//!   sxfer.db                  SQLite (WAL), schema = sqlite/migrations/*.sql
//!   blobs/ab/<blob id>        committed blobs: age v1, to storage.key
//!   partial/<blob id>         staged blobs (uploads in progress): age v1
//! ```
//!
//! The API, by file (all methods take `&self` and block):
//!
//! * here: [`Store::open`]`(data_dir) -> Store`, [`Store::with_backends`],
//!   [`Store::storage_recipient`], [`Store::data_dir`], [`Store::limits`] /
//!   [`Store::set_limits`] ([`Limits`]).
//! * `meta.rs`: the [`MetaStore`] trait and its records ([`UserId`],
//!   [`UserInfo`], [`Account`], [`NewFile`], [`Partial`], [`Quota`], …).
//! * `blob.rs`: the [`BlobStore`] trait ([`BlobWriter`], [`BlobRead`],
//!   [`BlobGroup`], [`BlobId`], [`BlobState`]).
//! * `accounts.rs`: [`Store::add_user`], [`Store::register`],
//!   [`Store::delete_user`], [`Store::user`], [`Store::list_users`],
//!   [`Store::set_password`], [`Store::set_quota`], [`Store::add_key`],
//!   [`Store::delete_key`], [`Store::list_keys`], [`Store::verify_password`],
//!   [`Store::key_login`], [`Store::set_password_hashing_for_testing_only`].
//! * `files.rs`: [`Store::list`], [`Store::stat`], [`Store::delete`],
//!   [`Store::rename`], [`Store::usage`].
//! * `upload.rs`: [`Store::begin_upload`] → [`Upload`] (`offset`, `write`,
//!   `sync`, `commit`, `abandon`, `discard`); [`durable_offset`], [`CHUNK_SIZE`].
//! * `batch.rs`: [`Store::batch`] → [`Batch`] (`stage`, `commit`): small
//!   uploads made durable and committed as a group.
//! * `download.rs`: [`Store::open_download`] → [`Download`] (`Read + Seek`, `size`).
//! * `drops.rs`: [`Store::begin_drop`] → [`DropUpload`] (a drop's age
//!   ciphertext, stored as uploaded), [`Store::inbox`], [`Store::open_drop`],
//!   [`Store::remove_drop`], [`Store::store_receipt`], [`Store::sent_drops`],
//!   [`Store::revoke_drop`], [`Store::collect_drops`] (PROTOCOL.md §14).
//! * `audit.rs`: [`Store::audit`] (queued), [`Store::flush_audit`],
//!   [`Store::audit_log`], [`AuditEvent`], [`AuditKind`].
//! * `gc.rs`: [`Store::recover`] (recovery at open, and every [`GC_INTERVAL`]
//!   in a running server).
//! * `error.rs`: [`StoreError`], its protocol error [`code`](StoreError::code).
//! * internal: `age_writer.rs` (age v1 files written with aws-lc-rs),
//!   `age_identity.rs` (the storage key's file-key unwrap for age's
//!   reader, with aws-lc-rs), `storage_key.rs`.
//!
//! File names ([`RemoteName`](sxfer_proto::names::RemoteName)) are labels in
//! the metadata; blob stores only ever see random blob ids.

mod accounts;
mod age_identity;
mod age_writer;
mod audit;
pub mod audit_chain;
mod audit_event;
mod batch;
mod blob;
pub mod blobdir;
mod download;
mod drops;
mod error;
mod files;
mod gc;
mod meta;
pub mod sqlite;
mod storage_key;
mod upload;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use age::stream::StreamReader;

pub use audit::{MAX_BATCH as AUDIT_MAX_BATCH, QUEUE_CAPACITY as AUDIT_QUEUE_CAPACITY};
pub use audit_event::{AuditEvent, AuditKind};
pub use batch::{Batch, Staged, Stager};
pub use blob::{BlobGroup, BlobId, BlobRead, BlobState, BlobStore, BlobSync, BlobWriter, ListedBlob};
pub use download::Download;
pub use drops::DropUpload;
pub use drops::ENDED_DROP_RETENTION;
pub use error::{Result, StoreError};
pub use gc::{Recovered, GC_INTERVAL, ORPHAN_GRACE, PARTIAL_EXPIRY};
pub use meta::{
    Account, AuditRecord, BatchCommit, ChainedRow, DeletedUser, MetaStore, NewDrop, NewFile, NewUser, Partial, Quota,
    RecipientRecord, References, SentRecord, StoredDrop, UserId, UserInfo,
};
pub use upload::{durable_offset, Staging, SyncPoint, Upload, CHUNK_SIZE, MAX_PARTIALS_PER_USER};

use accounts::PasswordHashing;
use age_writer::AgeWriter;
use audit::AuditLog;
use blobdir::BlobDir;
use sqlite::SqliteMeta;

/// Limits the server enforces on uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file accepted, in bytes.
    pub max_file_size: u64,
    /// Bytes a user may store, unless their account sets its own (`None`: unlimited).
    pub default_quota_bytes: Option<u64>,
    /// Files a user may store, unless their account sets its own (`None`: unlimited).
    pub default_quota_files: Option<u64>,
    /// Drops one account's inbox holds at most (PROTOCOL.md §14.8).
    pub max_inbox_drops: u64,
    /// Ciphertext bytes one account's inbox holds at most.
    pub max_inbox_bytes: u64,
    /// The longest expiry a drop may ask for, in seconds.
    pub max_drop_expires: u64,
}

impl Default for Limits {
    /// 1 TiB per file, no quotas; inboxes of 1000 drops and 10 GiB; drops
    /// expire within 30 days if they ask to.
    fn default() -> Self {
        Limits {
            max_file_size: 1 << 40,
            default_quota_bytes: None,
            default_quota_files: None,
            max_inbox_drops: 1000,
            max_inbox_bytes: 10 << 30,
            max_drop_expires: 30 * 86_400,
        }
    }
}

/// A handle on one storage (a data directory, or any pair of backends).
/// Clones share everything.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// What every handle, [`Upload`], [`Batch`] and [`Download`] share.
struct Inner {
    meta: Arc<dyn MetaStore>,
    blobs: Arc<dyn BlobStore>,
    /// The data directory, for a store made by [`Store::open`].
    dir: Option<PathBuf>,
    /// The storage key, unwrapping file keys with aws-lc (`age_identity`).
    identity: age_identity::X25519Identity,
    recipient: age::x25519::Recipient,
    /// The same recipient as a raw X25519 key, for `age_writer`.
    recipient_key: [u8; 32],
    limits: RwLock<Limits>,
    hashing: RwLock<Arc<PasswordHashing>>,
    audit: AuditLog,
    /// The audit chain's key (from the storage key; `audit_chain`).
    audit_key: zeroize::Zeroizing<[u8; 32]>,
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
        let blobs = BlobDir::open(data_dir)?;
        let meta = SqliteMeta::open(&data_dir.join(sqlite::DATABASE_FILE))?;
        let holds_data = || Ok(!meta.references()?.is_empty() || !blobs.list()?.is_empty());
        let identity = storage_key::load_or_create(data_dir, holds_data)?;
        Store::build(Arc::new(meta), Arc::new(blobs), identity, Some(data_dir.to_path_buf()))
    }

    /// A store over any metadata and blob backends, encrypting to
    /// `identity`'s recipient. Garbage-collects like [`open`](Self::open).
    pub fn with_backends(
        meta: Arc<dyn MetaStore>,
        blobs: Arc<dyn BlobStore>,
        identity: age::x25519::Identity,
    ) -> Result<Store> {
        Store::build(meta, blobs, identity, None)
    }

    fn build(
        meta: Arc<dyn MetaStore>,
        blobs: Arc<dyn BlobStore>,
        identity: age::x25519::Identity,
        dir: Option<PathBuf>,
    ) -> Result<Store> {
        let recipient = identity.to_public();
        let recipient_key = age_writer::recipient_bytes(&recipient)
            .ok_or_else(|| StoreError::Internal("the storage key's recipient does not decode".into()))?;
        let audit_key = zeroize::Zeroizing::new(audit_chain::key_from(&identity));
        meta.set_audit_key(*audit_key);
        let audit = AuditLog::start(Arc::clone(&meta))?;
        let inner = Inner {
            meta,
            blobs,
            dir,
            identity: age_identity::X25519Identity::from_age(&identity)
                .ok_or_else(|| StoreError::Internal("aws-lc refuses the storage key".into()))?,
            recipient,
            recipient_key,
            limits: RwLock::new(Limits::default()),
            hashing: RwLock::new(Arc::new(PasswordHashing::production())),
            audit,
            audit_key,
        };
        let store = Store { inner: Arc::new(inner) };
        store.recover(ORPHAN_GRACE)?;
        Ok(store)
    }

    /// The age recipient (`age1…`) every blob is encrypted to.
    pub fn storage_recipient(&self) -> String {
        self.inner.recipient.to_string()
    }

    /// The data directory this store was [opened](Self::open) on; `None`
    /// for one made [`with_backends`](Self::with_backends).
    pub fn data_dir(&self) -> Option<&Path> {
        self.inner.dir.as_deref()
    }

    pub fn limits(&self) -> Limits {
        self.inner.limits()
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
    fn limits(&self) -> Limits {
        *self.limits.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn hashing(&self) -> Arc<PasswordHashing> {
        Arc::clone(&self.hashing.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Starts an age stream to the storage key in `output` (writes the
    /// header; see `age_writer.rs`).
    fn encrypt_to<W: Write>(&self, output: W, id: &BlobId) -> Result<AgeWriter<W>> {
        use error::IoContext;
        AgeWriter::new(output, &self.recipient_key).context(|| format!("cannot write staged blob {id}"))
    }

    /// Creates staged blob `id` with an age stream started in it; nothing
    /// is left behind on an error.
    fn create_encrypted(&self, id: &BlobId) -> Result<AgeWriter<Box<dyn BlobWriter>>> {
        let blob = self.blobs.create(id)?;
        self.encrypt_to(blob, id).inspect_err(|_| self.remove_blob(id, BlobState::Staged))
    }

    /// Decrypts a blob as it is read. A header that does not parse or is
    /// not for our key is an integrity error.
    fn decrypt(&self, blob: Box<dyn BlobRead>, id: &BlobId) -> Result<StreamReader<Box<dyn BlobRead>>> {
        let decryptor = age::Decryptor::new(blob)
            .map_err(|err| StoreError::Integrity(format!("blob {id}: not a readable age file: {err}")))?;
        let identity: &dyn age::Identity = &self.identity;
        decryptor
            .decrypt(std::iter::once(identity))
            .map_err(|err| StoreError::Integrity(format!("blob {id}: cannot decrypt: {err}")))
    }

    /// Removes a blob no row names any more, logging (not returning) a
    /// failure: the operation it follows has committed, and the next
    /// recovery retries.
    fn remove_blob(&self, id: &BlobId, state: BlobState) {
        if let Err(err) = self.blobs.remove(id, state) {
            tracing::warn!(blob = %id, error = %err, "cannot remove an unreferenced blob; it will be collected at the next start");
        }
    }

    /// Drops the partial row naming `id`, logging (not returning) a
    /// failure: a leftover row expires at a later open.
    fn forget_partial(&self, id: &BlobId) {
        if let Err(err) = self.meta.forget_partial(id) {
            tracing::warn!(blob = %id, error = %err, "cannot delete a partial upload's row");
        }
    }
}

/// Seconds since the Unix epoch.
fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64)
}
