//! [`MetaStore`] on SQLite: one database file, WAL, `synchronous=FULL`,
//! schema = `migrations/*.sql` (`docs/STORAGE.md` §2).
//!
//! One `Mutex<Connection>` serialises access; every method is one short
//! statement or one `BEGIN IMMEDIATE` transaction. Other processes on the
//! same file (an admin command while the server runs) coordinate through
//! SQLite's locking and the busy timeout.
//!
//! By file: `accounts.rs` (users, keys, invites), `files.rs` (files,
//! partials, commits), `quota.rs` (usage and quotas, of files and of sent
//! drops), `drops.rs` (drops, inboxes), `audit.rs`, `schema.rs`
//! (connection settings, migrations).

mod accounts;
mod audit;
mod drops;
mod files;
mod quota;
mod schema;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, TransactionBehavior};
use sxfer_proto::identity::{Fingerprint, PublicIdentity};
use sxfer_proto::msgs::{DropId, DropState, FileEntry, FileMeta, Username};
use sxfer_proto::names::RemoteName;

use super::audit_event::AuditEvent;
use super::blob::BlobId;
use super::error::{Result, StoreError};
use super::meta::{
    Account, AuditRecord, BatchCommit, ChainedRow, DeletedUser, MetaStore, NewDrop, NewFile, NewUser, Partial,
    References, SentRecord, StoredDrop, UserId, UserInfo,
};
use super::Limits;

/// The database file's name in a data directory.
pub const DATABASE_FILE: &str = "sxfer.db";

/// Metadata in one SQLite database.
pub struct SqliteMeta {
    db: Mutex<Connection>,
    /// The audit chain's key (`audit_chain`), set by the store.
    audit_key: std::sync::OnceLock<[u8; 32]>,
}

impl SqliteMeta {
    /// Opens (creating it 0600) the database at `path` and applies pending
    /// migrations. A database from a newer sxfer is refused.
    pub fn open(path: &Path) -> Result<SqliteMeta> {
        let mut db = schema::open_database(path)?;
        schema::migrate(&mut db)?;
        Ok(SqliteMeta { db: Mutex::new(db), audit_key: std::sync::OnceLock::new() })
    }

    /// The connection. A panic while it was held leaves no open transaction
    /// (rusqlite rolls back on drop), so a poisoned lock is still usable.
    fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `work` in one `BEGIN IMMEDIATE` transaction, committed if it
    /// returns `Ok`.
    fn write<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let mut db = self.db();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = work(&tx)?;
        tx.commit()?;
        Ok(value)
    }
}

impl MetaStore for SqliteMeta {
    fn create_user(&self, user: &NewUser<'_>) -> Result<UserInfo> {
        self.write(|tx| accounts::create_user(tx, user))
    }

    fn create_invite(&self, token_hash: &[u8; 32], uses: u32, expires: i64, now: i64) -> Result<()> {
        accounts::create_invite(&self.db(), token_hash, uses, expires, now)
    }

    fn delete_user(&self, name: &Username) -> Result<DeletedUser> {
        self.write(|tx| accounts::delete_user(tx, name))
    }

    fn account(&self, name: &Username) -> Result<Option<Account>> {
        accounts::account(&self.db(), name)
    }

    fn list_users(&self) -> Result<Vec<UserInfo>> {
        accounts::list_users(&self.db())
    }

    fn set_password_hash(&self, name: &Username, hash: &str) -> Result<()> {
        accounts::set_password_hash(&self.db(), name, hash)
    }

    fn set_quota(&self, name: &Username, bytes: Option<u64>, files: Option<u64>) -> Result<()> {
        accounts::set_quota(&self.db(), name, bytes, files)
    }

    fn add_key(&self, name: &Username, key: &PublicIdentity, now: i64) -> Result<()> {
        self.write(|tx| accounts::add_key(tx, name, key, now))
    }

    fn delete_key(&self, name: &Username, fingerprint: &Fingerprint) -> Result<()> {
        self.write(|tx| accounts::delete_key(tx, name, fingerprint))
    }

    fn list_keys(&self, name: &Username) -> Result<Vec<PublicIdentity>> {
        accounts::list_keys(&self.db(), name)
    }

    fn key_wire(&self, user: UserId, fingerprint: &Fingerprint) -> Result<Option<Vec<u8>>> {
        accounts::key_wire(&self.db(), user, fingerprint)
    }

    fn list_files(&self, user: UserId, prefix: &str) -> Result<Vec<FileEntry>> {
        files::list(&self.db(), user, prefix)
    }

    fn file(&self, user: UserId, name: &RemoteName) -> Result<Option<(FileEntry, BlobId)>> {
        files::file_row(&self.db(), user, name)
    }

    fn delete_file(&self, user: UserId, name: &RemoteName) -> Result<Option<BlobId>> {
        files::delete(&self.db(), user, name)
    }

    fn rename_file(&self, user: UserId, from: &RemoteName, to: &RemoteName, replace: bool) -> Result<Option<BlobId>> {
        self.write(|tx| files::rename(tx, user, from, to, replace))
    }

    fn usage(&self, user: UserId) -> Result<(u64, u64)> {
        quota::usage(&self.db(), user)
    }

    fn check_quota(&self, user: UserId, name: &RemoteName, size: u64, limits: &Limits) -> Result<()> {
        files::check_quota(&self.db(), limits, user, name, size)
    }

    fn partial(&self, user: UserId, name: &RemoteName) -> Result<Option<Partial>> {
        files::partial(&self.db(), user, name)
    }

    fn begin_partial(
        &self,
        user: UserId,
        name: &RemoteName,
        meta: &FileMeta,
        blob: &BlobId,
        keep: usize,
        now: i64,
    ) -> Result<Vec<BlobId>> {
        self.write(|tx| files::begin_partial(tx, user, name, meta, blob, keep, now))
    }

    fn move_partial(&self, from: &BlobId, to: &BlobId, now: i64) -> Result<bool> {
        files::move_partial(&self.db(), from, to, now)
    }

    fn forget_partial(&self, blob: &BlobId) -> Result<()> {
        self.db().execute("DELETE FROM partials WHERE blob_id = ?1", [blob.as_str()])?;
        Ok(())
    }

    fn stale_partials(&self, before: i64) -> Result<Vec<BlobId>> {
        blob_ids(&self.db(), "SELECT blob_id FROM partials WHERE created < ?1", [before])
    }

    fn commit_upload(
        &self,
        user: UserId,
        file: &NewFile,
        limits: &Limits,
        now: i64,
    ) -> Result<(FileEntry, Option<BlobId>)> {
        self.write(|tx| files::commit_upload(tx, user, file, limits, now))
    }

    fn commit_batch(
        &self,
        user: UserId,
        files: &[NewFile],
        limits: &Limits,
        who: &AuditEvent,
        now: i64,
    ) -> Result<BatchCommit> {
        self.write(|tx| files::commit_batch(tx, user, files, limits, who, now, self.audit_key.get()))
    }

    fn set_audit_key(&self, key: [u8; 32]) {
        self.audit_key.set(key).ok();
    }

    fn append_audit(&self, records: &[AuditRecord]) -> Result<()> {
        let key = self.audit_key.get();
        self.write(|tx| records.iter().try_for_each(|record| audit::insert(tx, record, key)))
    }

    fn audit_log(&self, after: u64, limit: usize) -> Result<Vec<(u64, AuditRecord)>> {
        let rows = audit::read(&self.db(), after, limit)?;
        Ok(rows.into_iter().map(|(id, record, _)| (id, record)).collect())
    }

    fn audit_chain(&self, after: u64, limit: usize) -> Result<Vec<ChainedRow>> {
        audit::read(&self.db(), after, limit)
    }

    fn check_drop(&self, sender: UserId, recipients: &[UserId], length: u64, limits: &Limits) -> Result<()> {
        drops::check(&self.db(), sender, recipients, length, limits)
    }

    fn commit_drop(&self, drop: &NewDrop, limits: &Limits, now: i64) -> Result<()> {
        self.write(|tx| drops::commit(tx, drop, limits, now))
    }

    fn inbox(&self, user: UserId, now: i64) -> Result<Vec<StoredDrop>> {
        drops::inbox(&self.db(), user, now)
    }

    fn inbox_drop(&self, user: UserId, id: &DropId, now: i64) -> Result<Option<(StoredDrop, BlobId)>> {
        drops::inbox_drop(&self.db(), user, id, now)
    }

    fn remove_from_inbox(&self, user: UserId, id: &DropId, now: i64) -> Result<Option<Option<BlobId>>> {
        self.write(|tx| drops::remove(tx, user, id, now))
    }

    fn store_receipt(&self, user: UserId, id: &DropId, receipt: &[u8], now: i64) -> Result<bool> {
        drops::store_receipt(&self.db(), user, id, receipt, now)
    }

    fn revoke_drop(&self, sender: UserId, id: &DropId, now: i64) -> Result<Option<BlobId>> {
        drops::revoke(&self.db(), sender, id, now)
    }

    fn received_drop_state(&self, user: UserId, id: &DropId, now: i64) -> Result<Option<(DropState, bool)>> {
        drops::received_state(&self.db(), user, id, now)
    }

    fn sent_drops(&self, sender: UserId, now: i64) -> Result<Vec<SentRecord>> {
        self.write(|tx| drops::sent(tx, sender, now))
    }

    fn end_expired_drops(&self, now: i64) -> Result<Vec<BlobId>> {
        drops::end_expired(&self.db(), now)
    }

    fn forget_ended_drops(&self, before: i64) -> Result<usize> {
        drops::forget_ended(&self.db(), before)
    }

    fn references(&self) -> Result<References> {
        let db = self.db();
        let mut files: HashSet<BlobId> = blob_ids(&db, "SELECT blob_id FROM files", [])?.into_iter().collect();
        files.extend(blob_ids(&db, "SELECT blob_id FROM drops WHERE ended IS NULL", [])?);
        let partials = blob_ids(&db, "SELECT blob_id FROM partials", [])?.into_iter().collect();
        Ok(References { files, partials })
    }
}

/// The blob ids a one-column query returns.
fn blob_ids(db: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<BlobId>> {
    let mut statement = db.prepare_cached(sql)?;
    let ids = statement.query_map(params, |row| row.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
    ids.into_iter().map(BlobId::from_db).collect()
}

/// A size or count as SQLite stores it (signed 64-bit).
fn to_sql_int(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value).map_err(|_| StoreError::Invalid(format!("{what} {value} is out of range")))
}

/// A stored integer that must fit `T`; anything else is a corrupt database.
fn from_sql_int<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T> {
    T::try_from(value).map_err(|_| StoreError::Internal(format!("database holds an invalid {what}: {value}")))
}
