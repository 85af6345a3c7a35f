//! Uploads: staged blobs, the durable-offset rule, resume, and commit.
//!
//! ```text
//! begin_upload ── partials row + staged blob (age header) ── Upload
//!   write*  plaintext in order → BLAKE3 + AgeWriter → BlobWriter
//!   sync    BlobWriter::sync → ACK offset = durable_offset(bytes fed)
//!   commit  check length + digest, finish age, BlobWriter::commit (durable,
//!           under its final id), then MetaStore::commit_upload (ONE tx:
//!           files row ⇄, partials row ✗), then remove the replaced blob
//! ```
//!
//! The AgeWriter (`age_writer.rs`, like age's own StreamWriter) encrypts a
//! 64 KiB chunk only when the byte after it arrives (the last chunk is
//! special and written by `finish`), and age's StreamReader decrypts every
//! complete chunk of a truncated file before reporting the truncation. So
//! after a sync, exactly [`durable_offset`]`(fed)` bytes can be recovered,
//! and resuming copies that prefix into a fresh age stream (age cannot
//! append to a stream whose payload key it does not expose). This holds
//! for every [`BlobStore`](super::BlobStore): it only ever sees ciphertext.

use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;

use sxfer_proto::msgs::{FileEntry, FileMeta};
use sxfer_proto::names::RemoteName;

use super::age_writer::AgeWriter;
use super::blob::{BlobId, BlobState, BlobSync, BlobWriter};
use super::error::{IoContext, Result, StoreError};
use super::meta::{NewFile, Partial, UserId};
use super::{now, Inner, Store};

/// age's plaintext chunk size: the granularity of durable progress.
pub const CHUNK_SIZE: u64 = 64 * 1024;

/// Unfinished uploads kept per user; starting another evicts the oldest.
pub const MAX_PARTIALS_PER_USER: i64 = 8;

/// How many of `fed` plaintext bytes, written to an AgeWriter over a
/// blob, are recoverable after a sync: the complete chunks age has
/// already emitted, `(fed - 1) / 65536` of them (the chunk holding byte
/// `fed - 1` stays buffered until more data or `finish`).
pub fn durable_offset(fed: u64) -> u64 {
    if fed == 0 {
        0
    } else {
        (fed - 1) / CHUNK_SIZE * CHUNK_SIZE
    }
}

/// See [`Upload::sync_point`].
pub struct SyncPoint {
    handle: Box<dyn BlobSync>,
    offset: u64,
}

impl SyncPoint {
    /// `handle` makes durable what was written before it was made, of
    /// which `offset` bytes are then recoverable.
    pub(super) fn new(handle: Box<dyn BlobSync>, offset: u64) -> SyncPoint {
        SyncPoint { handle, offset }
    }

    /// Makes the blob durable up to the point this was made; returns the
    /// offset that is now durable and recoverable.
    pub fn sync(self) -> Result<u64> {
        self.handle.sync()?;
        Ok(self.offset)
    }
}

/// An upload in progress. Owns its staged blob's writer; holds no database
/// lock while writing. Dropping it (like [`abandon`](Self::abandon)) keeps
/// the partial for a later resume.
pub struct Upload {
    inner: Arc<Inner>,
    user: UserId,
    name: RemoteName,
    meta: FileMeta,
    blob_id: BlobId,
    /// `None` once a write failed: the stream's state is unknown, so the
    /// only way on is a resume, which recovers what is intact.
    writer: Option<AgeWriter<Box<dyn BlobWriter>>>,
    hasher: blake3::Hasher,
    /// Plaintext bytes fed to the writer, recovered prefix included.
    fed: u64,
    offset: u64,
}

impl Store {
    /// Starts (or, with `resume`, continues) an upload of `name` for `user`.
    ///
    /// Refuses with `TooLarge` above [`Limits::max_file_size`](super::Limits)
    /// and with `Quota` when committing would exceed the user's byte or file
    /// quota (a file of the same name being replaced does not count).
    /// Resumes only if a partial upload of the same name has the same size,
    /// mode and mtime; otherwise any partial of that name is discarded and
    /// the upload starts at 0. See [`Upload::offset`].
    pub fn begin_upload(&self, user: UserId, name: &RemoteName, meta: FileMeta, resume: bool) -> Result<Upload> {
        let limits = self.inner.limits();
        if meta.size > limits.max_file_size || i64::try_from(meta.size).is_err() {
            return Err(StoreError::TooLarge { size: meta.size, limit: limits.max_file_size });
        }
        self.inner.meta.check_quota(user, name, meta.size, &limits)?;
        match self.inner.meta.partial(user, name)? {
            Some(previous) if resume && previous.meta == meta => self.resume_upload(user, name, meta, previous),
            _ => self.fresh_upload(user, name, meta),
        }
    }

    fn fresh_upload(&self, user: UserId, name: &RemoteName, meta: FileMeta) -> Result<Upload> {
        let blob_id = BlobId::generate();
        // Unfinished uploads are not in the quota: keep at most
        // MAX_PARTIALS_PER_USER per user, evicting the oldest.
        let keep = MAX_PARTIALS_PER_USER as usize;
        let discarded = self.inner.meta.begin_partial(user, name, &meta, &blob_id, keep, now())?;
        for old in discarded {
            self.inner.remove_blob(&old, BlobState::Staged);
        }
        let writer = match self.inner.create_encrypted(&blob_id) {
            Ok(writer) => writer,
            Err(err) => {
                self.inner.forget_partial(&blob_id);
                return Err(err);
            }
        };
        Ok(self.upload(user, name, meta, blob_id, writer, blake3::Hasher::new(), 0))
    }

    /// Copies the recoverable prefix of the old partial into a new one,
    /// syncs it, points the row at it, then removes the old blob.
    fn resume_upload(&self, user: UserId, name: &RemoteName, meta: FileMeta, previous: Partial) -> Result<Upload> {
        let blob_id = BlobId::generate();
        let mut writer = self.inner.create_encrypted(&blob_id)?;
        let mut hasher = blake3::Hasher::new();
        let copied = copy_prefix(&self.inner, &previous.blob, meta.size, &mut writer, &mut hasher);
        let synced = copied.and_then(|fed| writer.get_mut().sync().map(|()| fed));
        let swapped = synced.and_then(|fed| match self.inner.meta.move_partial(&previous.blob, &blob_id, now())? {
            true => Ok(fed),
            false => Err(StoreError::Invalid(format!("another upload of {name} started at the same time"))),
        });
        let fed = match swapped {
            Ok(fed) => fed,
            Err(err) => {
                drop(writer);
                self.inner.remove_blob(&blob_id, BlobState::Staged);
                return Err(err);
            }
        };
        self.inner.remove_blob(&previous.blob, BlobState::Staged);
        tracing::debug!(user = %user, %name, offset = fed, "resuming upload");
        Ok(self.upload(user, name, meta, blob_id, writer, hasher, fed))
    }

    #[allow(clippy::too_many_arguments)]
    fn upload(
        &self,
        user: UserId,
        name: &RemoteName,
        meta: FileMeta,
        blob_id: BlobId,
        writer: AgeWriter<Box<dyn BlobWriter>>,
        hasher: blake3::Hasher,
        fed: u64,
    ) -> Upload {
        Upload {
            inner: Arc::clone(&self.inner),
            user,
            name: name.clone(),
            meta,
            blob_id,
            writer: Some(writer),
            hasher,
            fed,
            offset: fed,
        }
    }
}

/// What the server's upload sink writes into: a store upload ([`Upload`])
/// or a drop's ciphertext ([`DropUpload`](super::DropUpload)). Bytes in
/// order, durable progress reported as the offset a client may rely on.
pub trait Staging: Send + 'static {
    /// Appends received bytes, in order.
    fn write(&mut self, data: &[u8]) -> Result<()>;
    /// See [`Upload::sync_point`].
    fn sync_point(&self) -> Result<SyncPoint>;
    /// See [`Upload::sync`].
    fn sync(&mut self) -> Result<u64>;
    /// Gives it up for good (a failed check): nothing of it is kept.
    fn discard(self);
}

impl Staging for Upload {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        Upload::write(self, data)
    }

    fn sync_point(&self) -> Result<SyncPoint> {
        Upload::sync_point(self)
    }

    fn sync(&mut self) -> Result<u64> {
        Upload::sync(self)
    }

    fn discard(self) {
        Upload::discard(self)
    }
}

impl Upload {
    /// Where the client must continue: 0, or the recovered prefix of a
    /// resumed upload (a multiple of [`CHUNK_SIZE`]).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn name(&self) -> &RemoteName {
        &self.name
    }

    pub fn meta(&self) -> &FileMeta {
        &self.meta
    }

    /// Plaintext received so far, counting the recovered prefix.
    pub fn received(&self) -> u64 {
        self.fed
    }

    /// Appends plaintext, in order. More bytes than the announced size is
    /// an `Integrity` error. After an I/O error the upload is unusable (the
    /// partial remains for a resume).
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(failed_earlier());
        };
        if self.fed.checked_add(data.len() as u64).is_none_or(|total| total > self.meta.size) {
            return Err(StoreError::Integrity(format!("more data than the announced {} bytes", self.meta.size)));
        }
        if let Err(err) = writer.write_all(data) {
            self.writer = None;
            return Err(err).context(|| format!("cannot write staged blob {}", self.blob_id));
        }
        self.hasher.update(data);
        self.fed += data.len() as u64;
        Ok(())
    }

    /// A handle to make everything written so far durable from another
    /// thread, so the disk works while more data arrives. Its `sync`
    /// returns the ACK offset as of this call, exactly as [`Upload::sync`]
    /// would have.
    pub fn sync_point(&self) -> Result<SyncPoint> {
        let writer = self.writer.as_ref().ok_or_else(failed_earlier)?;
        Ok(SyncPoint::new(writer.get_ref().sync_handle()?, durable_offset(self.fed)))
    }

    /// Makes the staged blob durable and returns the offset that now is:
    /// the value to acknowledge to the client ([`durable_offset`]).
    pub fn sync(&mut self) -> Result<u64> {
        let writer = self.writer.as_mut().ok_or_else(failed_earlier)?;
        writer.get_mut().sync()?;
        Ok(durable_offset(self.fed))
    }

    /// Verifies and publishes the file. `length` must equal the announced
    /// size and the bytes written, `digest` the BLAKE3 of them; otherwise
    /// the partial is discarded and the error is `Integrity`. On success the
    /// file is durable and visible, replacing any file of the same name.
    pub fn commit(mut self, length: u64, digest: &[u8; 32]) -> Result<FileEntry> {
        let writer = self.writer.take().ok_or_else(failed_earlier)?;
        if let Err(err) = check_received(self.meta.size, length, self.fed, self.hasher.finalize(), digest) {
            drop(writer);
            self.discard_blob();
            return Err(err);
        }
        let blob_id = &self.blob_id;
        let finished = writer.finish().context(|| format!("cannot write staged blob {blob_id}"));
        // The blob is durable under its final id before any row names it (I1).
        let committed = finished.and_then(|blob| blob.commit()).and_then(|()| {
            let file = NewFile { name: self.name.clone(), meta: self.meta, digest: *digest, blob: blob_id.clone() };
            self.inner.meta.commit_upload(self.user, &file, &self.inner.limits(), now())
        });
        match committed {
            Ok((entry, replaced)) => {
                if let Some(old) = replaced {
                    self.inner.remove_blob(&old, BlobState::Committed);
                }
                tracing::debug!(user = %self.user, name = %self.name, size = self.meta.size, blob = %self.blob_id, "committed upload");
                Ok(entry)
            }
            Err(err) => {
                // Nothing references the new blob: remove it wherever it is.
                self.discard_blob();
                self.inner.remove_blob(&self.blob_id, BlobState::Committed);
                Err(err)
            }
        }
    }

    /// Keeps the partial for a later resume (the connection died). Syncs
    /// what was written so a resume recovers as much as possible.
    pub fn abandon(mut self) -> Result<()> {
        match self.writer.as_mut() {
            Some(writer) => writer.get_mut().sync(),
            None => Ok(()),
        }
    }

    /// Drops the partial upload for good (row and blob).
    pub fn discard(mut self) {
        self.writer = None;
        self.discard_blob();
    }

    fn discard_blob(&self) {
        self.inner.forget_partial(&self.blob_id);
        self.inner.remove_blob(&self.blob_id, BlobState::Staged);
    }
}

fn failed_earlier() -> StoreError {
    StoreError::Internal("the upload failed earlier; resume it".into())
}

/// The commit check of every upload, single or grouped: `length` must
/// equal the announced size and the bytes received, and `computed` (their
/// BLAKE3) the client's digest; otherwise `Integrity`.
pub(super) fn check_received(
    announced: u64,
    length: u64,
    received: u64,
    computed: blake3::Hash,
    digest: &[u8; 32],
) -> Result<()> {
    if length != announced || received != length {
        return Err(StoreError::Integrity(format!(
            "length mismatch: announced {announced}, committed {length}, received {received}"
        )));
    }
    if computed != blake3::Hash::from_bytes(*digest) {
        return Err(StoreError::Integrity("BLAKE3 digest mismatch".into()));
    }
    Ok(())
}

/// Copies the recoverable prefix of the staged blob `old` (whole chunks, at
/// most `size` bytes) into `writer` and `hasher`; returns its length. An old
/// partial that is missing or unreadable recovers nothing.
fn copy_prefix(
    inner: &Inner,
    old: &BlobId,
    size: u64,
    writer: &mut AgeWriter<Box<dyn BlobWriter>>,
    hasher: &mut blake3::Hasher,
) -> Result<u64> {
    let opened = inner.blobs.open_staged(old).and_then(|found| found.map(|blob| inner.decrypt(blob, old)).transpose());
    let mut reader = match opened {
        Ok(Some(reader)) => reader,
        Ok(None) => {
            tracing::info!(blob = %old, "the partial upload's blob is missing; starting over");
            return Ok(0);
        }
        Err(err) => {
            tracing::info!(blob = %old, error = %err, "cannot read the partial upload; starting over");
            return Ok(0);
        }
    };
    let mut chunk = vec![0u8; CHUNK_SIZE as usize];
    let mut fed = 0;
    while fed + CHUNK_SIZE <= size && read_chunk(&mut reader, &mut chunk) {
        writer.write_all(&chunk).context(|| format!("cannot write the resumed copy of {old}"))?;
        hasher.update(&chunk);
        fed += CHUNK_SIZE;
    }
    Ok(fed)
}

/// Fills `chunk` completely. `false` at the first error (a truncated or torn
/// chunk) or end of stream: nothing from there on is usable.
fn read_chunk(reader: &mut impl Read, chunk: &mut [u8]) -> bool {
    let mut filled = 0;
    while filled < chunk.len() {
        match reader.read(&mut chunk[filled..]) {
            Ok(0) => return false,
            Ok(read) => filled += read,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_offset_counts_emitted_chunks() {
        let chunk = CHUNK_SIZE;
        for (fed, durable) in [
            (0, 0),
            (1, 0),
            (chunk - 1, 0),
            (chunk, 0),
            (chunk + 1, chunk),
            (2 * chunk, chunk),
            (2 * chunk + 1, 2 * chunk),
            (3 * chunk + chunk / 2, 3 * chunk),
        ] {
            assert_eq!(durable_offset(fed), durable, "fed {fed}");
        }
    }

    #[test]
    fn read_chunk_stops_at_errors_and_short_ends() {
        let mut chunk = [0u8; 4];
        assert!(read_chunk(&mut &b"abcdef"[..], &mut chunk));
        assert_eq!(&chunk, b"abcd");
        assert!(!read_chunk(&mut &b"abc"[..], &mut chunk));
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::new(ErrorKind::UnexpectedEof, "truncated"))
            }
        }
        assert!(!read_chunk(&mut Failing, &mut chunk));
    }
}
