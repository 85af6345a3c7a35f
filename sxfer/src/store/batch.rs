//! Small uploads committed as a group: one durability round and one
//! transaction for many files, instead of several fsyncs and two
//! transactions each.
//!
//! ```text
//! stage*   check length + BLAKE3 in memory, age-encrypt into a staged
//!          blob, close it (blob dir: start writeback)
//! publish  BlobGroup::commit: every staged blob durable and committed
//!          under its id (blob dir: one syncfs, renames, one more syncfs;
//!          elsewhere an fsync per file and directory)
//! commit   (after the previous batch of the connection has committed)
//!          MetaStore::commit_batch, ONE tx: per file quota check + files
//!          row ⇄ + audit row, then remove replaced blobs and superseded
//!          partials
//! ```
//!
//! The write protocol and the crash argument are those of a single upload
//! (temporary name, fsync, rename, directory fsync, then the row): only the
//! order of the steps across files changes. A crash before the transaction
//! commits leaves unreferenced files that recovery at open removes; no
//! staged file is visible before its blob is durable. Nothing staged has a
//! `partials` row: a small upload is sent again, not resumed.

use std::io::{BufWriter, Write};
use std::sync::Arc;

use sxfer_proto::msgs::{FileEntry, FileMeta};
use sxfer_proto::names::RemoteName;

use super::audit_event::AuditEvent;
use super::blob::{BlobGroup, BlobId, BlobState};
use super::error::{IoContext, Result, StoreError};
use super::meta::{NewFile, UserId};
use super::upload::check_received;
use super::{now, Inner, Store};

/// One staged file: verified, written to a staged blob, not yet durable or
/// visible. Dropping it (uncommitted) removes its blob.
pub struct Staged {
    name: RemoteName,
    meta: FileMeta,
    digest: [u8; 32],
    blob_id: BlobId,
    inner: Arc<Inner>,
    place: Place,
}

/// Where a staged file's blob is, i.e. what dropping it removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Staged,
    /// Committed by the blob store, no row yet.
    Committed,
    /// A group commit failed: staged or committed.
    Either,
    /// Named by a committed row: keep.
    Settled,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if matches!(self.place, Place::Staged | Place::Either) {
            self.inner.remove_blob(&self.blob_id, BlobState::Staged);
        }
        if matches!(self.place, Place::Committed | Place::Either) {
            self.inner.remove_blob(&self.blob_id, BlobState::Committed);
        }
    }
}

/// A group of small uploads by one user. Dropping it uncommitted removes
/// what it staged.
pub struct Batch {
    inner: Arc<Inner>,
    user: UserId,
    staged: Vec<Staged>,
    /// Made before anything is staged, so that its commit reports a failed
    /// write of any staged file.
    group: Box<dyn BlobGroup>,
    /// Every staged file is durable and committed in the blob store,
    /// without a row yet.
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
        let group = self.inner.blobs.group();
        Batch { inner: Arc::clone(&self.inner), user, staged: Vec::new(), group, published: false }
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

    /// Makes every staged file durable at its final id, not yet visible:
    /// the write protocol of a single upload, each step done for the whole
    /// batch at once ([`BlobGroup::commit`]; blob dir: one `syncfs` each on
    /// Linux). This needs no database and no other batch, so it can run
    /// while an earlier batch commits. On an error nothing staged remains.
    pub fn publish(&mut self) -> Result<()> {
        if self.published || self.staged.is_empty() {
            return Ok(());
        }
        let ids: Vec<BlobId> = self.staged.iter().map(|file| file.blob_id.clone()).collect();
        let committed = self.group.commit(&ids);
        let place = if committed.is_ok() { Place::Committed } else { Place::Either };
        for file in &mut self.staged {
            file.place = place;
        }
        match committed {
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
        let files: Vec<NewFile> = self
            .staged
            .iter()
            .map(|file| NewFile {
                name: file.name.clone(),
                meta: file.meta,
                digest: file.digest,
                blob: file.blob_id.clone(),
            })
            .collect();
        let commit = match self.inner.meta.commit_batch(self.user, &files, &self.inner.limits(), who, now()) {
            Ok(commit) => commit,
            Err(err) => {
                self.discard();
                return Err(err);
            }
        };
        for (file, result) in self.staged.iter_mut().zip(&commit.results) {
            if result.is_ok() {
                file.place = Place::Settled;
            }
        }
        // Refused files are still `Committed`: dropping them removes their blobs.
        self.staged.clear();
        for old in &commit.replaced {
            self.inner.remove_blob(old, BlobState::Committed);
        }
        for old in &commit.superseded {
            self.inner.remove_blob(old, BlobState::Staged);
        }
        Ok(commit.results)
    }

    /// Removes every staged file, wherever it is.
    fn discard(&mut self) {
        self.staged.clear();
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
        let blob = self.inner.blobs.create(&blob_id)?;
        let what = || format!("cannot write staged blob {blob_id}");
        // One buffer for the whole age file: header, nonce and final chunk
        // in one write instead of a write per header line.
        let written = self
            .inner
            .encrypt_to(BufWriter::with_capacity(data.len().min(256 << 10) + 4096, blob), &blob_id)
            .and_then(|mut writer| {
                writer.write_all(data).context(what)?;
                let buffered = writer.finish().context(what)?;
                buffered.into_inner().map_err(|err| err.into_error()).context(what)?.close()
            });
        if let Err(err) = written {
            self.inner.remove_blob(&blob_id, BlobState::Staged);
            return Err(err);
        }
        Ok(Staged { name, meta, digest, blob_id, inner: Arc::clone(&self.inner), place: Place::Staged })
    }
}
