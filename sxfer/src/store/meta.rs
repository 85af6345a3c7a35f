//! The metadata half of storage: the [`MetaStore`] trait and the records it
//! keeps. `sqlite/` implements it; PostgreSQL would be a second
//! implementation passing the same conformance suite
//! (`sxfer/tests/store/conformance/`).
//!
//! A metadata store keeps accounts, public keys, invites, committed files,
//! partial uploads and the audit log, and names blobs only by [`BlobId`].
//! It does no hashing, encryption or file I/O and reads no clock: times
//! arrive as parameters (`now`, seconds since the Unix epoch), so the
//! conformance suite can test expiry. The rules that are not storage (the
//! quota arithmetic, [`Quota`]) are written once here and used by every
//! implementation inside its own transaction.
//!
//! Every method is one atomic, durable step (a transaction): when it
//! returns `Ok`, a crash cannot undo it; when it fails, nothing of it
//! happened. That is what `docs/STORAGE.md` §7 builds the crash argument
//! on. All methods block.

use std::collections::HashSet;

use sxfer_proto::identity::{Fingerprint, PublicIdentity};
use sxfer_proto::msgs::{ClientId, DropId, DropState, FileEntry, FileMeta, Username};
use sxfer_proto::names::RemoteName;

use super::audit_event::AuditEvent;
use super::blob::BlobId;
use super::error::{Result, StoreError};
use super::Limits;

/// The id of an account. Everything about files is scoped to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(i64);

impl UserId {
    /// For metadata stores: the id as they store it.
    pub const fn from_raw(raw: i64) -> UserId {
        UserId(raw)
    }

    pub const fn raw(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// An account as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub id: UserId,
    pub name: Username,
    /// Random, assigned at creation, never changes.
    pub client_id: ClientId,
    pub has_password: bool,
    /// Public keys registered for key login.
    pub keys: u64,
    /// Committed files and their total size in bytes.
    pub files: u64,
    pub bytes: u64,
    /// The account's own quotas; `None` means the server default applies.
    pub quota_bytes: Option<u64>,
    pub quota_files: Option<u64>,
    /// Seconds since the Unix epoch.
    pub created: i64,
}

/// An account with its password hash (an argon2id PHC string), for login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub info: UserInfo,
    pub password_hash: Option<String>,
}

/// What [`MetaStore::create_user`] stores.
#[derive(Debug, Clone, Copy)]
pub struct NewUser<'a> {
    pub name: &'a Username,
    pub client_id: ClientId,
    pub password_hash: Option<&'a str>,
    /// A first key for key login.
    pub key: Option<&'a PublicIdentity>,
    /// BLAKE3 of an invite token: one of its uses is spent in the same
    /// transaction, or nothing is created.
    pub invite: Option<[u8; 32]>,
    pub now: i64,
}

/// An upload in progress, as its `partials` row records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partial {
    pub blob: BlobId,
    pub meta: FileMeta,
}

/// A file to commit: its staged-then-committed blob and what the client
/// announced and proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    pub name: RemoteName,
    pub meta: FileMeta,
    /// BLAKE3 of the plaintext.
    pub digest: [u8; 32],
    pub blob: BlobId,
}

/// A drop to commit (PROTOCOL.md §14): its verified ciphertext blob, the
/// header as the sender sent it, and whose inboxes it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDrop {
    pub id: DropId,
    pub sender: UserId,
    pub recipients: Vec<UserId>,
    pub name: RemoteName,
    /// The plaintext's size, mode and mtime as the header states them.
    pub meta: FileMeta,
    /// The DropHeader bytes (signed content and signature).
    pub header: Vec<u8>,
    pub ciphertext_length: u64,
    pub ciphertext_digest: [u8; 32],
    pub blob: BlobId,
    /// When it expires, seconds since the Unix epoch; `None`: never.
    pub expires: Option<i64>,
}

/// A stored drop as an inbox lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDrop {
    pub id: DropId,
    /// When it was committed, seconds since the Unix epoch.
    pub received: i64,
    /// The DropHeader bytes as the sender sent them.
    pub header: Vec<u8>,
    pub ciphertext_length: u64,
    pub ciphertext_digest: [u8; 32],
}

/// A drop as its sender's status shows it (PROTOCOL.md §14.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRecord {
    pub id: DropId,
    pub received: i64,
    pub expires: Option<i64>,
    /// Waiting, or how it ended; a live drop past its expiry is `Expired`.
    pub state: DropState,
    /// The DropHeader bytes as the sender sent them.
    pub header: Vec<u8>,
    pub recipients: Vec<RecipientRecord>,
}

/// One recipient of a sent drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientRecord {
    pub user: Username,
    /// Not yet taken out of the recipient's inbox.
    pub in_inbox: bool,
    /// The DropReceipt bytes the recipient sent, as sent.
    pub receipt: Option<Vec<u8>>,
}

/// What [`MetaStore::commit_batch`] did.
#[derive(Debug)]
pub struct BatchCommit {
    /// One per file, in order: its entry, or why it was refused (quota).
    pub results: Vec<Result<FileEntry>>,
    /// Blobs of files the batch replaced, no longer named by any row.
    pub replaced: Vec<BlobId>,
    /// Staged blobs of partial uploads the batch superseded.
    pub superseded: Vec<BlobId>,
}

/// What [`MetaStore::delete_user`] unlinked from the account.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DeletedUser {
    /// Committed blobs of the account's files.
    pub files: Vec<BlobId>,
    /// Staged blobs of the account's partial uploads.
    pub partials: Vec<BlobId>,
}

/// Every blob id the metadata names, for recovery.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct References {
    /// Named by committed files and live drops: must be committed blobs.
    pub files: HashSet<BlobId>,
    /// Named by partial uploads: staged blobs.
    pub partials: HashSet<BlobId>,
}

impl References {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.partials.is_empty()
    }
}

/// One audit event with the time it was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub time: i64,
    pub event: AuditEvent,
}

/// An audit row as the chain check reads it: sequence number, record, and
/// its stored chain value (`None` for rows from before the chain).
pub type ChainedRow = (u64, AuditRecord, Option<[u8; 32]>);

/// Accounts, keys, invites, files, partial uploads and the audit log.
/// Object-safe: the store holds an `Arc<dyn MetaStore>`.
pub trait MetaStore: Send + Sync {
    // ---- accounts --------------------------------------------------------

    /// Creates an account (`Exists` if the name is taken), with its first
    /// key if any, spending one use of the invite if any (`Invalid`, and
    /// nothing created, if it is unknown, used up or expired at `now`).
    fn create_user(&self, user: &NewUser<'_>) -> Result<UserInfo>;

    /// Stores an invite: `uses` registrations until `expires`.
    fn create_invite(&self, token_hash: &[u8; 32], uses: u32, expires: i64, now: i64) -> Result<()>;

    /// Deletes an account with its keys, files and partial uploads (audit
    /// rows stay). `NotFound` if there is no such account.
    fn delete_user(&self, name: &Username) -> Result<DeletedUser>;

    fn account(&self, name: &Username) -> Result<Option<Account>>;

    /// Every account, sorted by name.
    fn list_users(&self) -> Result<Vec<UserInfo>>;

    /// `NotFound` if there is no such account.
    fn set_password_hash(&self, name: &Username, hash: &str) -> Result<()>;

    /// The account's quotas; `None`: the server default. `NotFound` if
    /// there is no such account.
    fn set_quota(&self, name: &Username, bytes: Option<u64>, files: Option<u64>) -> Result<()>;

    /// `Exists` if the key is already the user's, `NotFound` without the user.
    fn add_key(&self, name: &Username, key: &PublicIdentity, now: i64) -> Result<()>;

    /// `NotFound` without the user or the key.
    fn delete_key(&self, name: &Username, fingerprint: &Fingerprint) -> Result<()>;

    /// The user's keys, oldest first, with their comments.
    fn list_keys(&self, name: &Username) -> Result<Vec<PublicIdentity>>;

    /// The user's key with this fingerprint, in SSH wire encoding.
    fn key_wire(&self, user: UserId, fingerprint: &Fingerprint) -> Result<Option<Vec<u8>>>;

    // ---- files -----------------------------------------------------------

    /// The user's files whose name starts with `prefix` (byte for byte),
    /// sorted by name in byte order.
    fn list_files(&self, user: UserId, prefix: &str) -> Result<Vec<FileEntry>>;

    /// One file and its blob.
    fn file(&self, user: UserId, name: &RemoteName) -> Result<Option<(FileEntry, BlobId)>>;

    /// Deletes a file's row; returns its blob, or `None` if there was no
    /// such file.
    fn delete_file(&self, user: UserId, name: &RemoteName) -> Result<Option<BlobId>>;

    /// Renames a file (`NotFound` without `from`; `Exists` if `to` exists
    /// and not `replace`). Returns the blob of a replaced `to`.
    fn rename_file(&self, user: UserId, from: &RemoteName, to: &RemoteName, replace: bool) -> Result<Option<BlobId>>;

    /// Bytes and files the user has committed.
    fn usage(&self, user: UserId) -> Result<(u64, u64)>;

    /// `Quota` if storing `size` bytes as `name` (replacing any file of that
    /// name) would exceed the user's quota ([`Quota::admit`]); `NotFound`
    /// without the user.
    fn check_quota(&self, user: UserId, name: &RemoteName, size: u64, limits: &Limits) -> Result<()>;

    // ---- partial uploads -------------------------------------------------

    fn partial(&self, user: UserId, name: &RemoteName) -> Result<Option<Partial>>;

    /// Records a fresh upload of `name` into staged blob `blob`, replacing
    /// any partial of that name, and keeps at most `keep` partials for the
    /// user (dropping the oldest). Returns the staged blobs no longer named.
    fn begin_partial(
        &self,
        user: UserId,
        name: &RemoteName,
        meta: &FileMeta,
        blob: &BlobId,
        keep: usize,
        now: i64,
    ) -> Result<Vec<BlobId>>;

    /// Points the partial that names `from` at `to` (a resumed copy), as
    /// begun at `now`. `false` (and no change) if no partial names `from`
    /// any more.
    fn move_partial(&self, from: &BlobId, to: &BlobId, now: i64) -> Result<bool>;

    /// Drops the partial that names `blob`, if any.
    fn forget_partial(&self, blob: &BlobId) -> Result<()>;

    /// Blobs of partials begun (or last resumed) before `before`.
    fn stale_partials(&self, before: i64) -> Result<Vec<BlobId>>;

    // ---- commits ---------------------------------------------------------

    /// One transaction: the quota checked again, the file's row inserted or
    /// replacing the row of the same name, the partial naming `file.blob`
    /// dropped. Returns the entry (stored at `now`) and the replaced blob.
    fn commit_upload(
        &self,
        user: UserId,
        file: &NewFile,
        limits: &Limits,
        now: i64,
    ) -> Result<(FileEntry, Option<BlobId>)>;

    /// One transaction for a group of files, in order (a later file of a
    /// name replaces an earlier one): per file the quota (seeing the files
    /// before it), its row, any partial of its name dropped, and an audit
    /// row made from `who` (kind `upload`, outcome `ok`, name, size,
    /// digest). A refused file gets its error in `results` and the others
    /// go on; an `Err` of the call means nothing was committed.
    fn commit_batch(
        &self,
        user: UserId,
        files: &[NewFile],
        limits: &Limits,
        who: &AuditEvent,
        now: i64,
    ) -> Result<BatchCommit>;

    // ---- audit -----------------------------------------------------------

    /// The key of the audit chain (`audit_chain`): every row appended
    /// from now on carries its chain value. Set once, before any append.
    fn set_audit_key(&self, key: [u8; 32]);

    /// Appends events, in order, in one transaction, each chained to the
    /// one before (`audit_chain::link`).
    fn append_audit(&self, records: &[AuditRecord]) -> Result<()>;

    /// As [`audit_log`](Self::audit_log), with each row's stored chain
    /// value (`None` for rows from before the chain).
    fn audit_chain(&self, after: u64, limit: usize) -> Result<Vec<ChainedRow>>;

    /// Up to `limit` events after sequence number `after` (0: from the
    /// first), in the order they were appended, with their sequence
    /// numbers (increasing).
    fn audit_log(&self, after: u64, limit: usize) -> Result<Vec<(u64, AuditRecord)>>;

    // ---- drops (PROTOCOL.md §14) -------------------------------------------

    /// Refuses (`Quota`, `Limit`) if a drop of `length` ciphertext bytes from
    /// `sender` to `recipients` would exceed the sender's quota (its files
    /// and the drops it sent that some inbox still holds) or a recipient's
    /// inbox cap.
    fn check_drop(&self, sender: UserId, recipients: &[UserId], length: u64, limits: &Limits) -> Result<()>;

    /// In one transaction: the checks of [`check_drop`](Self::check_drop),
    /// the drop's row and one inbox row per recipient. Its blob is
    /// committed before this is called.
    fn commit_drop(&self, drop: &NewDrop, limits: &Limits, now: i64) -> Result<()>;

    /// The drops in `user`'s inbox at `now` (live, not expired), oldest first.
    fn inbox(&self, user: UserId, now: i64) -> Result<Vec<StoredDrop>>;

    /// One drop in `user`'s inbox at `now` and its blob.
    fn inbox_drop(&self, user: UserId, id: &DropId, now: i64) -> Result<Option<(StoredDrop, BlobId)>>;

    /// Takes `id` out of `user`'s inbox at `now`: `None` if it is not there;
    /// `Some(Some(blob))` if no inbox holds it any more, so it ended
    /// (delivered) and `blob` is unreferenced.
    fn remove_from_inbox(&self, user: UserId, id: &DropId, now: i64) -> Result<Option<Option<BlobId>>>;

    /// Keeps `receipt` (DropReceipt bytes) for `user`'s copy of drop `id`,
    /// replacing an earlier one; `false` if the drop is not in `user`'s
    /// inbox at `now`.
    fn store_receipt(&self, user: UserId, id: &DropId, receipt: &[u8], now: i64) -> Result<bool>;

    /// Ends drop `id` of `sender` as revoked at `now`: out of every inbox.
    /// Returns its blob, now unreferenced; `None` if `sender` sent no such
    /// drop or it has already ended.
    fn revoke_drop(&self, sender: UserId, id: &DropId, now: i64) -> Result<Option<BlobId>>;

    /// Where drop `id` stands at `now` for `user`, one of its recipients:
    /// its state and whether `user` took it out of its inbox. `None` if
    /// `user` received no such drop (or its row is forgotten).
    fn received_drop_state(&self, user: UserId, id: &DropId, now: i64) -> Result<Option<(DropState, bool)>>;

    /// Every drop `sender` sent whose row is kept (live, or ended and not
    /// yet forgotten), oldest first, as at `now`.
    fn sent_drops(&self, sender: UserId, now: i64) -> Result<Vec<SentRecord>>;

    /// Ends every live drop whose expiry is at or before `now`; returns
    /// their blobs, now unreferenced.
    fn end_expired_drops(&self, now: i64) -> Result<Vec<BlobId>>;

    /// Deletes the rows of drops that ended before `before`; returns how many.
    fn forget_ended_drops(&self, before: i64) -> Result<usize>;

    // ---- recovery --------------------------------------------------------

    /// Every blob any row names.
    fn references(&self) -> Result<References>;
}

/// A user's quota and usage, loaded once per transaction and kept up to
/// date by [`admit`](Self::admit): the quota rule every [`MetaStore`]
/// applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    max_bytes: Option<u64>,
    max_files: Option<u64>,
    bytes: u64,
    files: u64,
}

impl Quota {
    /// The quota of an account with `bytes`/`files` of its own (`None`: the
    /// server's default) that has committed `usage` (bytes, files). `None`
    /// when no quota applies at all (`usage` is then not called).
    pub fn new(
        bytes: Option<u64>,
        files: Option<u64>,
        limits: &Limits,
        usage: impl FnOnce() -> Result<(u64, u64)>,
    ) -> Result<Option<Quota>> {
        let max_bytes = bytes.or(limits.default_quota_bytes);
        let max_files = files.or(limits.default_quota_files);
        if max_bytes.is_none() && max_files.is_none() {
            return Ok(None);
        }
        let (bytes, files) = usage()?;
        Ok(Some(Quota { max_bytes, max_files, bytes, files }))
    }

    /// Refuses (`Quota`) if storing `size` bytes, replacing a file of
    /// `replaced` bytes (`None`: a new name), would exceed the quota;
    /// otherwise counts it as stored.
    pub fn admit(&mut self, replaced: Option<u64>, size: u64) -> Result<()> {
        let new_bytes = self.bytes.saturating_sub(replaced.unwrap_or(0)).saturating_add(size);
        let new_files = self.files.saturating_sub(u64::from(replaced.is_some())).saturating_add(1);
        if let Some(quota) = self.max_bytes.filter(|quota| new_bytes > *quota) {
            return Err(StoreError::Quota(format!("{new_bytes} bytes would exceed the quota of {quota} bytes")));
        }
        if let Some(quota) = self.max_files.filter(|quota| new_files > *quota) {
            return Err(StoreError::Quota(format!("{new_files} files would exceed the quota of {quota} files")));
        }
        (self.bytes, self.files) = (new_bytes, new_files);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(bytes: Option<u64>, files: Option<u64>) -> Limits {
        Limits { default_quota_bytes: bytes, default_quota_files: files, ..Limits::default() }
    }

    #[test]
    fn no_quota_reads_no_usage() -> Result<()> {
        let quota = Quota::new(None, None, &limits(None, None), || panic!("usage read"))?;
        assert_eq!(quota, None);
        Ok(())
    }

    #[test]
    fn the_account_quota_overrides_the_default_and_replacements_count_once() -> Result<()> {
        let mut quota = Quota::new(Some(100), None, &limits(Some(10), Some(2)), || Ok((90, 1)))?
            .ok_or_else(|| StoreError::Internal("a quota applies".into()))?;
        quota.admit(Some(40), 50)?; // 100 bytes, still 1 file
        assert!(matches!(quota.admit(None, 1), Err(StoreError::Quota(_))), "101 bytes");
        quota.admit(Some(50), 50)?;
        quota.admit(None, 0)?; // 2 files
        assert!(matches!(quota.admit(None, 0), Err(StoreError::Quota(message)) if message.contains("3 files")));
        Ok(())
    }
}
