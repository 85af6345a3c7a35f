//! Small uploads committed as a group: one durability round and one
//! transaction for many files, instead of several fsyncs and two
//! transactions each.
//!
//! ```text
//! stage*   check length + BLAKE3 in memory, age-encrypt to partial/<id>,
//!          start writeback (fadvise), close
//! publish  make every staged partial durable, rename each to
//!          blobs/ab/<id>, make the renames durable (Linux: one syncfs
//!          for each step; elsewhere an fsync per file and directory)
//! commit   (after the previous batch of the connection has committed)
//!          ONE tx: per file quota check + files row ⇄ + audit row,
//!          then unlink replaced blobs and discarded partials
//! ```
//!
//! The write protocol and the crash argument are those of a single upload
//! (temporary name, fsync, rename, directory fsync, then the row): only the
//! order of the steps across files changes. A crash before the transaction
//! commits leaves unreferenced files that recovery at open removes; no
//! staged file is visible before its blob is durable. Nothing staged has a
//! `partials` row: a small upload is sent again, not resumed.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::{params, TransactionBehavior};
use sxfer_proto::msgs::{FileEntry, FileMeta};
use sxfer_proto::names::RemoteName;

use super::accounts::UserId;
use super::audit::{insert_audit, AuditEvent, AuditKind};
use super::blobs::{self, BlobId};
use super::error::{Result, StoreError};
use super::upload::{check_received, upsert_file, Quota};
use super::{io_context, now, Inner, Store};
use crate::durable;

/// One staged file: verified, written to `partial/`, not yet durable or
/// visible. Dropping it (uncommitted) removes its partial file.
pub struct Staged {
    name: RemoteName,
    meta: FileMeta,
    digest: [u8; 32],
    blob_id: BlobId,
    inner: Arc<Inner>,
    /// Still in `partial/` (not yet renamed into `blobs/`).
    partial: bool,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.partial {
            blobs::remove_unreferenced(&self.inner.partial_path(&self.blob_id));
        }
    }
}

/// A group of small uploads by one user. Dropping it uncommitted removes
/// what it staged.
pub struct Batch {
    inner: Arc<Inner>,
    user: UserId,
    staged: Vec<Staged>,
    /// Made before anything is staged, so that its sync reports a failed
    /// write of any staged file.
    watch: durable::Watch,
    /// Every staged file is durable in `blobs/` (and no longer in
    /// `partial/`), without a row yet.
    published: bool,
}

impl Drop for Batch {
    /// An uncommitted batch (the connection died) leaves nothing behind.
    fn drop(&mut self) {
        self.discard();
    }
}

/// Stages files for a batch; cheap to clone, so that several threads can
/// stage the files of one batch at once ([`Batch::push`] puts them in
/// order).
#[derive(Clone)]
pub struct Stager {
    inner: Arc<Inner>,
}

impl Store {
    /// An empty batch of uploads for `user`.
    pub fn batch(&self, user: UserId) -> Batch {
        let watch = durable::Watch::new(&self.inner.dir);
        Batch { inner: Arc::clone(&self.inner), user, staged: Vec::new(), watch, published: false }
    }
}

impl Batch {
    /// Files staged so far.
    pub fn len(&self) -> usize {
        self.staged.len()
    }

    pub fn is_empty(&self) -> bool {
        self.staged.is_empty()
    }

    /// A stager whose files can be [pushed](Self::push) into this batch.
    pub fn stager(&self) -> Stager {
        Stager { inner: Arc::clone(&self.inner) }
    }

    /// Adds a staged file; files commit in the order they were pushed (a
    /// later file of the same name replaces an earlier one).
    pub fn push(&mut self, staged: Staged) {
        self.staged.push(staged);
    }

    /// [`Stager::stage`], then [`push`](Self::push).
    pub fn stage(
        &mut self,
        name: RemoteName,
        meta: FileMeta,
        data: &[u8],
        length: u64,
        digest: [u8; 32],
    ) -> Result<()> {
        let staged = self.stager().stage(name, meta, data, length, digest)?;
        self.push(staged);
        Ok(())
    }

    /// Makes every staged file durable at its final name in `blobs/`, not
    /// yet visible: the write protocol of a single upload, each step done
    /// for the whole batch at once ([`durable::Watch`]: one `syncfs` each
    /// on Linux). This needs no database and no other batch, so it can run
    /// while an earlier batch commits. On an error nothing staged remains.
    pub fn publish(&mut self) -> Result<()> {
        if self.published || self.staged.is_empty() {
            return Ok(());
        }
        match self.publish_staged() {
            Ok(()) => {
                self.published = true;
                Ok(())
            }
            Err(err) => {
                self.discard();
                Err(err)
            }
        }
    }

    /// [Publishes](Self::publish) the batch if that is not done yet, then
    /// makes every file visible in one transaction. Returns one result per
    /// staged file, in order: its entry, or why it was refused (quota).
    /// An `Err` of the whole call means nothing was committed and nothing
    /// staged remains. Each committed file gets an `upload` audit row in
    /// the same transaction, with `who` (user and remote) filled in.
    pub fn commit(mut self, who: &AuditEvent) -> Result<Vec<Result<FileEntry>>> {
        if self.staged.is_empty() {
            return Ok(Vec::new());
        }
        self.publish()?;
        match self.insert_rows(who) {
            Ok((results, unreferenced)) => {
                self.staged.clear();
                for path in unreferenced {
                    blobs::remove_unreferenced(&path);
                }
                Ok(results)
            }
            Err(err) => {
                self.discard();
                Err(err)
            }
        }
    }

    /// Removes every staged file, at either name.
    fn discard(&mut self) {
        for file in self.staged.drain(..) {
            if !file.partial {
                blobs::remove_unreferenced(&self.inner.blob_path(&file.blob_id));
            }
            // Dropping `file` removes it from partial/ if it is still there.
        }
    }

    fn publish_staged(&mut self) -> Result<()> {
        let partials: Vec<PathBuf> = self.staged.iter().map(|file| self.inner.partial_path(&file.blob_id)).collect();
        let partial_dir = self.inner.dir.join(blobs::PARTIAL_DIR);
        io_context(self.watch.sync(partials.iter().map(PathBuf::as_path)), "cannot sync", &partial_dir)?;
        let mut dirs = BTreeSet::new();
        for file in &mut self.staged {
            dirs.extend(self.inner.move_to_blobs(&file.blob_id)?);
            file.partial = false;
        }
        io_context(self.watch.sync(dirs.iter().map(PathBuf::as_path)), "cannot sync", &partial_dir)
    }

    /// One transaction for the whole batch. Returns the per-file results
    /// and the files to unlink once it has committed.
    #[allow(clippy::type_complexity)]
    fn insert_rows(&self, who: &AuditEvent) -> Result<(Vec<Result<FileEntry>>, Vec<PathBuf>)> {
        let staged = &self.staged;
        let limits = self.inner.limits();
        let stored = now();
        let mut results = Vec::with_capacity(staged.len());
        let mut unreferenced = Vec::new();
        let mut db = self.inner.db();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Usage is summed once for the group, then counted file by file.
        let mut quota = Quota::load(&tx, &limits, self.user)?;
        let has_partials: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM partials WHERE user_id = ?1)")?
            .query_row([self.user.0], |row| row.get(0))?;
        for file in staged {
            let admitted = quota.as_mut().map_or(Ok(()), |quota| quota.admit(&tx, &file.name, file.meta.size));
            if let Err(err) = admitted {
                unreferenced.push(self.inner.blob_path(&file.blob_id));
                results.push(Err(err));
                continue;
            }
            let replaced = upsert_file(&tx, self.user, &file.name, &file.meta, &file.digest, &file.blob_id, stored)?;
            unreferenced.extend(replaced.map(|old| self.inner.blob_path(&old)));
            // A small upload replaces any unfinished upload of the same name.
            if has_partials {
                let mut discard =
                    tx.prepare_cached("DELETE FROM partials WHERE user_id = ?1 AND name = ?2 RETURNING blob_id")?;
                let discarded = discard
                    .query_map(params![self.user.0, file.name.as_str()], |row| row.get::<_, String>(0))?
                    .collect::<std::result::Result<Vec<String>, _>>()?;
                for old in discarded {
                    unreferenced.push(self.inner.partial_path(&BlobId::from_db(old)?));
                }
            }
            let event = AuditEvent { kind: AuditKind::Upload, outcome: "ok".into(), ..who.clone() };
            insert_audit(&tx, &event.name(&file.name).size(file.meta.size).digest(file.digest))?;
            results.push(Ok(FileEntry { name: file.name.clone(), meta: file.meta, digest: file.digest, stored }));
        }
        tx.commit()?;
        Ok((results, unreferenced))
    }
}

impl Stager {
    /// Checks and writes one whole file. `data` must be exactly the
    /// announced size and `length` bytes long and hash to `digest`
    /// (otherwise `Integrity`, and nothing is written); above the maximum
    /// file size it is `TooLarge`. The file becomes visible only through
    /// [`Batch::commit`]; the quota is checked there.
    pub fn stage(
        &self,
        name: RemoteName,
        meta: FileMeta,
        data: &[u8],
        length: u64,
        digest: [u8; 32],
    ) -> Result<Staged> {
        let limit = self.inner.limits().max_file_size;
        if meta.size > limit {
            return Err(StoreError::TooLarge { size: meta.size, limit });
        }
        check_received(meta.size, length, data.len() as u64, blake3::hash(data), &digest)?;
        let blob_id = BlobId::generate();
        let path = self.inner.partial_path(&blob_id);
        // One buffer for the whole age file: header, nonce and final chunk
        // in one write instead of a write per header line.
        let written = self.inner.create_partial_file(&blob_id).and_then(|file| {
            let buffered = std::io::BufWriter::with_capacity(data.len().min(256 << 10) + 4096, file);
            let mut writer = self.inner.encrypt_to(buffered, &path)?;
            io_context(writer.write_all(data), "cannot write", &path)?;
            let buffered = io_context(writer.finish(), "cannot write", &path)?;
            let file = io_context(buffered.into_inner().map_err(|e| e.into_error()), "cannot write", &path)?;
            start_writeback(&file);
            Ok(())
        });
        if let Err(err) = written {
            blobs::remove_unreferenced(&path);
            return Err(err);
        }
        Ok(Staged { name, meta, digest, blob_id, inner: Arc::clone(&self.inner), partial: true })
    }
}

/// Asks the kernel to start writing `file` out now (on Linux,
/// `POSIX_FADV_DONTNEED` starts writeback of dirty pages, then drops the
/// clean ones: a stored blob is not read again soon), so the sync at
/// publish finds little left to do and the writes of many small files
/// reach the disk together. Only a hint: durability comes from the sync.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn start_writeback(file: &File) {
    rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed).ok();
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn start_writeback(_file: &File) {}
