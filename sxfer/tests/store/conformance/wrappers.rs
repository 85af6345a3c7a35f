//! Wrappers around any backend that watch or break it at chosen steps:
//! [`Hooked`] sees every blob commit and removal before it happens (and may
//! refuse it), [`Gated`] can hold audit writes and fail commits.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use sxfer::store::{
    Account, AuditEvent, AuditRecord, BatchCommit, BlobGroup, BlobId, BlobRead, BlobState, BlobStore, BlobSync,
    BlobWriter, ChainedRow, DeletedUser, Limits, ListedBlob, MetaStore, NewDrop, NewFile, NewUser, Partial, References,
    Result, SentRecord, StoreError, StoredDrop, UserId, UserInfo,
};
use sxfer_proto::identity::{Fingerprint, PublicIdentity};
use sxfer_proto::msgs::{DropId, DropState, FileEntry, FileMeta, Username};
use sxfer_proto::names::RemoteName;

/// A step a blob store is about to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A writer's or a group's commit of this blob.
    Commit,
    Remove(BlobState),
}

type Hook = dyn Fn(Step, &BlobId) -> Result<()> + Send + Sync;

/// A blob store that calls a hook before each commit and removal; an `Err`
/// from the hook fails the step without taking it.
pub struct Hooked {
    inner: Arc<dyn BlobStore>,
    hook: Arc<Hook>,
}

impl Hooked {
    pub fn new(inner: Arc<dyn BlobStore>, hook: impl Fn(Step, &BlobId) -> Result<()> + Send + Sync + 'static) -> Self {
        Hooked { inner, hook: Arc::new(hook) }
    }
}

pub fn injected() -> StoreError {
    StoreError::Internal("injected failure".into())
}

impl BlobStore for Hooked {
    fn create(&self, id: &BlobId) -> Result<Box<dyn BlobWriter>> {
        let inner = self.inner.create(id)?;
        Ok(Box::new(HookedWriter { inner, id: id.clone(), hook: Arc::clone(&self.hook) }))
    }

    fn open_staged(&self, id: &BlobId) -> Result<Option<Box<dyn BlobRead>>> {
        self.inner.open_staged(id)
    }

    fn open(&self, id: &BlobId) -> Result<Option<Box<dyn BlobRead>>> {
        self.inner.open(id)
    }

    fn group(&self) -> Box<dyn BlobGroup> {
        Box::new(HookedGroup { inner: self.inner.group(), hook: Arc::clone(&self.hook) })
    }

    fn remove(&self, id: &BlobId, state: BlobState) -> Result<()> {
        (self.hook)(Step::Remove(state), id)?;
        self.inner.remove(id, state)
    }

    fn list(&self) -> Result<Vec<ListedBlob>> {
        self.inner.list()
    }
}

struct HookedWriter {
    inner: Box<dyn BlobWriter>,
    id: BlobId,
    hook: Arc<Hook>,
}

impl Write for HookedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.inner.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl BlobWriter for HookedWriter {
    fn sync(&mut self) -> Result<()> {
        self.inner.sync()
    }

    fn sync_handle(&self) -> Result<Box<dyn BlobSync>> {
        self.inner.sync_handle()
    }

    fn commit(self: Box<Self>) -> Result<()> {
        (self.hook)(Step::Commit, &self.id)?;
        self.inner.commit()
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.inner.close()
    }
}

struct HookedGroup {
    inner: Box<dyn BlobGroup>,
    hook: Arc<Hook>,
}

impl BlobGroup for HookedGroup {
    fn commit(&mut self, ids: &[BlobId]) -> Result<()> {
        ids.iter().try_for_each(|id| (self.hook)(Step::Commit, id))?;
        self.inner.commit(ids)
    }
}

/// A metadata store whose audit writes can be held, and whose commits can
/// be made to fail.
pub struct Gated {
    inner: Arc<dyn MetaStore>,
    audit_open: Mutex<bool>,
    opened: Condvar,
    pub fail_commits: AtomicBool,
}

impl Gated {
    pub fn new(inner: Arc<dyn MetaStore>) -> Gated {
        Gated { inner, audit_open: Mutex::new(true), opened: Condvar::new(), fail_commits: AtomicBool::new(false) }
    }

    /// Holds (`false`) or lets through (`true`) every `append_audit`.
    pub fn set_audit_open(&self, open: bool) {
        *self.audit_open.lock().expect("gate") = open;
        self.opened.notify_all();
    }

    fn failing(&self) -> Result<()> {
        match self.fail_commits.load(Ordering::SeqCst) {
            true => Err(injected()),
            false => Ok(()),
        }
    }
}

impl MetaStore for Gated {
    fn create_user(&self, user: &NewUser<'_>) -> Result<UserInfo> {
        self.inner.create_user(user)
    }
    fn create_invite(&self, token_hash: &[u8; 32], uses: u32, expires: i64, now: i64) -> Result<()> {
        self.inner.create_invite(token_hash, uses, expires, now)
    }
    fn delete_user(&self, name: &Username) -> Result<DeletedUser> {
        self.inner.delete_user(name)
    }
    fn account(&self, name: &Username) -> Result<Option<Account>> {
        self.inner.account(name)
    }
    fn list_users(&self) -> Result<Vec<UserInfo>> {
        self.inner.list_users()
    }
    fn set_password_hash(&self, name: &Username, hash: &str) -> Result<()> {
        self.inner.set_password_hash(name, hash)
    }
    fn set_quota(&self, name: &Username, bytes: Option<u64>, files: Option<u64>) -> Result<()> {
        self.inner.set_quota(name, bytes, files)
    }
    fn add_key(&self, name: &Username, key: &PublicIdentity, now: i64) -> Result<()> {
        self.inner.add_key(name, key, now)
    }
    fn delete_key(&self, name: &Username, fingerprint: &Fingerprint) -> Result<()> {
        self.inner.delete_key(name, fingerprint)
    }
    fn list_keys(&self, name: &Username) -> Result<Vec<PublicIdentity>> {
        self.inner.list_keys(name)
    }
    fn key_wire(&self, user: UserId, fingerprint: &Fingerprint) -> Result<Option<Vec<u8>>> {
        self.inner.key_wire(user, fingerprint)
    }
    fn list_files(&self, user: UserId, prefix: &str) -> Result<Vec<FileEntry>> {
        self.inner.list_files(user, prefix)
    }
    fn file(&self, user: UserId, name: &RemoteName) -> Result<Option<(FileEntry, BlobId)>> {
        self.inner.file(user, name)
    }
    fn delete_file(&self, user: UserId, name: &RemoteName) -> Result<Option<BlobId>> {
        self.inner.delete_file(user, name)
    }
    fn rename_file(&self, user: UserId, from: &RemoteName, to: &RemoteName, replace: bool) -> Result<Option<BlobId>> {
        self.inner.rename_file(user, from, to, replace)
    }
    fn usage(&self, user: UserId) -> Result<(u64, u64)> {
        self.inner.usage(user)
    }
    fn check_quota(&self, user: UserId, name: &RemoteName, size: u64, limits: &Limits) -> Result<()> {
        self.inner.check_quota(user, name, size, limits)
    }
    fn partial(&self, user: UserId, name: &RemoteName) -> Result<Option<Partial>> {
        self.inner.partial(user, name)
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
        self.inner.begin_partial(user, name, meta, blob, keep, now)
    }
    fn move_partial(&self, from: &BlobId, to: &BlobId, now: i64) -> Result<bool> {
        self.inner.move_partial(from, to, now)
    }
    fn forget_partial(&self, blob: &BlobId) -> Result<()> {
        self.inner.forget_partial(blob)
    }
    fn stale_partials(&self, before: i64) -> Result<Vec<BlobId>> {
        self.inner.stale_partials(before)
    }
    fn commit_upload(
        &self,
        user: UserId,
        file: &NewFile,
        limits: &Limits,
        now: i64,
    ) -> Result<(FileEntry, Option<BlobId>)> {
        self.failing()?;
        self.inner.commit_upload(user, file, limits, now)
    }
    fn commit_batch(
        &self,
        user: UserId,
        files: &[NewFile],
        limits: &Limits,
        who: &AuditEvent,
        now: i64,
    ) -> Result<BatchCommit> {
        self.failing()?;
        self.inner.commit_batch(user, files, limits, who, now)
    }
    fn append_audit(&self, records: &[AuditRecord]) -> Result<()> {
        let open = self.audit_open.lock().expect("gate");
        drop(self.opened.wait_while(open, |open| !*open).expect("gate"));
        self.inner.append_audit(records)
    }
    fn audit_log(&self, after: u64, limit: usize) -> Result<Vec<(u64, AuditRecord)>> {
        self.inner.audit_log(after, limit)
    }
    fn set_audit_key(&self, key: [u8; 32]) {
        self.inner.set_audit_key(key)
    }
    fn audit_chain(&self, after: u64, limit: usize) -> Result<Vec<ChainedRow>> {
        self.inner.audit_chain(after, limit)
    }
    fn check_drop(&self, sender: UserId, recipients: &[UserId], length: u64, limits: &Limits) -> Result<()> {
        self.inner.check_drop(sender, recipients, length, limits)
    }
    fn commit_drop(&self, drop: &NewDrop, limits: &Limits, now: i64) -> Result<()> {
        self.failing()?;
        self.inner.commit_drop(drop, limits, now)
    }
    fn inbox(&self, user: UserId, now: i64) -> Result<Vec<StoredDrop>> {
        self.inner.inbox(user, now)
    }
    fn inbox_drop(&self, user: UserId, id: &DropId, now: i64) -> Result<Option<(StoredDrop, BlobId)>> {
        self.inner.inbox_drop(user, id, now)
    }
    fn remove_from_inbox(&self, user: UserId, id: &DropId, now: i64) -> Result<Option<Option<BlobId>>> {
        self.inner.remove_from_inbox(user, id, now)
    }
    fn store_receipt(&self, user: UserId, id: &DropId, receipt: &[u8], now: i64) -> Result<bool> {
        self.inner.store_receipt(user, id, receipt, now)
    }
    fn revoke_drop(&self, sender: UserId, id: &DropId, now: i64) -> Result<Option<BlobId>> {
        self.inner.revoke_drop(sender, id, now)
    }
    fn received_drop_state(&self, user: UserId, id: &DropId, now: i64) -> Result<Option<(DropState, bool)>> {
        self.inner.received_drop_state(user, id, now)
    }
    fn sent_drops(&self, sender: UserId, now: i64) -> Result<Vec<SentRecord>> {
        self.inner.sent_drops(sender, now)
    }
    fn end_expired_drops(&self, now: i64) -> Result<Vec<BlobId>> {
        self.inner.end_expired_drops(now)
    }
    fn forget_ended_drops(&self, before: i64) -> Result<usize> {
        self.inner.forget_ended_drops(before)
    }
    fn references(&self) -> Result<References> {
        self.inner.references()
    }
}
