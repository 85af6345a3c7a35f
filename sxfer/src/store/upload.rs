//! Uploads: partial files, the durable-offset rule, resume, and commit.
//!
//! ```text
//! begin_upload ── partials row + partial/<id> (age header) ── Upload
//!   write*  plaintext in order → BLAKE3 + AgeWriter → partial/<id>
//!   sync    fsync → ACK offset = durable_offset(bytes fed)
//!   commit  check length + digest, finish age, fsync, rename to
//!           blobs/ab/<id>, fsync dirs, ONE tx (files row ⇄, partials row ✗),
//!           then unlink the replaced blob
//! ```
//!
//! The AgeWriter (`age_writer.rs`, like age's own StreamWriter) encrypts a
//! 64 KiB chunk only when the byte after it arrives (the last chunk is
//! special and written by `finish`), and age's StreamReader decrypts every
//! complete chunk of a truncated file before reporting the truncation. So after an fsync, exactly
//! [`durable_offset`]`(fed)` bytes can be recovered, and resuming copies that
//! prefix into a fresh age stream (age cannot append to a stream whose
//! payload key it does not expose).

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sxfer_proto::msgs::{FileEntry, FileMeta};
use sxfer_proto::names::RemoteName;

use super::accounts::UserId;
use super::age_writer::AgeWriter;
use super::blobs::{self, BlobId};
use super::error::{Result, StoreError};
use super::files::usage;
use super::{from_sql_int, io_context, now, to_sql_int, Inner, Limits, Store};

/// age's plaintext chunk size: the granularity of durable progress.
pub const CHUNK_SIZE: u64 = 64 * 1024;

/// Unfinished uploads kept per user; starting another evicts the oldest.
pub const MAX_PARTIALS_PER_USER: i64 = 8;

/// How many of `fed` plaintext bytes, written to an AgeWriter over a
/// file, are recoverable after an fsync: the complete chunks age has
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
    file: File,
    offset: u64,
    path: std::path::PathBuf,
}

impl SyncPoint {
    /// fsync; returns the offset that is now durable and recoverable.
    pub fn sync(self) -> Result<u64> {
        io_context(self.file.sync_data(), "cannot fsync", &self.path)?;
        Ok(self.offset)
    }
}

/// An upload in progress. Owns its partial file; holds no database lock
/// while writing. Dropping it (like [`abandon`](Self::abandon)) keeps the
/// partial for a later resume.
pub struct Upload {
    inner: Arc<Inner>,
    user: UserId,
    name: RemoteName,
    meta: FileMeta,
    blob_id: BlobId,
    /// `None` once a write failed: the stream's state is unknown, so the
    /// only way on is a resume, which recovers what is intact.
    writer: Option<AgeWriter<File>>,
    /// The same open file as the writer's, for fsync.
    file: File,
    hasher: blake3::Hasher,
    /// Plaintext bytes fed to the writer, recovered prefix included.
    fed: u64,
    offset: u64,
}

impl Store {
    /// Starts (or, with `resume`, continues) an upload of `name` for `user`.
    ///
    /// Refuses with `TooLarge` above [`Limits::max_file_size`] and with
    /// `Quota` when committing would exceed the user's byte or file quota
    /// (a file of the same name being replaced does not count). Resumes
    /// only if a partial upload of the same name has the same size, mode
    /// and mtime; otherwise any partial of that name is discarded and the
    /// upload starts at 0. See [`Upload::offset`].
    pub fn begin_upload(&self, user: UserId, name: &RemoteName, meta: FileMeta, resume: bool) -> Result<Upload> {
        let limits = self.inner.limits();
        if meta.size > limits.max_file_size || i64::try_from(meta.size).is_err() {
            return Err(StoreError::TooLarge { size: meta.size, limit: limits.max_file_size });
        }
        let previous = {
            let db = self.inner.db();
            check_quota(&db, &limits, user, name, meta.size)?;
            partial_row(&db, user, name)?
        };
        match previous {
            Some(previous) if resume && previous.meta == meta => self.resume_upload(user, name, meta, previous),
            _ => self.fresh_upload(user, name, meta),
        }
    }

    fn fresh_upload(&self, user: UserId, name: &RemoteName, meta: FileMeta) -> Result<Upload> {
        let blob_id = BlobId::generate();
        let discarded = {
            let mut db = self.inner.db();
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let discarded: Option<String> = tx
                .query_row(
                    "DELETE FROM partials WHERE user_id = ?1 AND name = ?2 RETURNING blob_id",
                    params![user.0, name.as_str()],
                    |row| row.get(0),
                )
                .optional()?;
            tx.execute(
                "INSERT INTO partials (user_id, name, blob_id, size, mode, mtime, mtime_nanos, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    user.0,
                    name.as_str(),
                    blob_id.as_str(),
                    to_sql_int(meta.size, "size")?,
                    meta.mode,
                    meta.mtime,
                    meta.mtime_nanos,
                    now()
                ],
            )?;
            // Unfinished uploads are not in the quota: keep at most
            // MAX_PARTIALS_PER_USER per user, evicting the oldest.
            let mut evicted = tx
                .prepare(
                    "DELETE FROM partials WHERE user_id = ?1 AND blob_id IN (
                         SELECT blob_id FROM partials WHERE user_id = ?1
                         ORDER BY created DESC, rowid DESC LIMIT -1 OFFSET ?2)
                     RETURNING blob_id",
                )?
                .query_map(params![user.0, MAX_PARTIALS_PER_USER], |row| row.get::<_, String>(0))?
                .collect::<std::result::Result<Vec<String>, _>>()?;
            tx.commit()?;
            evicted.extend(discarded);
            evicted
        };
        for old in discarded {
            blobs::remove_unreferenced(&self.inner.partial_path(&BlobId::from_db(old)?));
        }
        let (writer, file) = match self.inner.create_partial(&blob_id) {
            Ok(created) => created,
            Err(err) => {
                forget_partial(&self.inner, &blob_id);
                return Err(err);
            }
        };
        Ok(Upload {
            inner: Arc::clone(&self.inner),
            user,
            name: name.clone(),
            meta,
            blob_id,
            writer: Some(writer),
            file,
            hasher: blake3::Hasher::new(),
            fed: 0,
            offset: 0,
        })
    }

    /// Copies the recoverable prefix of the old partial into a new one,
    /// fsyncs it, points the row at it, then unlinks the old file.
    fn resume_upload(&self, user: UserId, name: &RemoteName, meta: FileMeta, previous: PartialRow) -> Result<Upload> {
        let blob_id = BlobId::generate();
        let (mut writer, file) = self.inner.create_partial(&blob_id)?;
        let mut hasher = blake3::Hasher::new();
        let new_path = self.inner.partial_path(&blob_id);
        let copied = copy_prefix(&self.inner, &previous.blob_id, meta.size, &mut writer, &mut hasher)
            .and_then(|fed| io_context(file.sync_data(), "cannot fsync", &new_path).map(|()| fed));
        let swapped = copied.and_then(|fed| {
            let db = self.inner.db();
            let changed = db.execute(
                "UPDATE partials SET blob_id = ?1, created = ?2 WHERE id = ?3 AND blob_id = ?4",
                params![blob_id.as_str(), now(), previous.id, previous.blob_id.as_str()],
            )?;
            match changed {
                1 => Ok(fed),
                _ => Err(StoreError::Invalid(format!("another upload of {name} started at the same time"))),
            }
        });
        let fed = match swapped {
            Ok(fed) => fed,
            Err(err) => {
                drop(writer);
                blobs::remove_unreferenced(&new_path);
                return Err(err);
            }
        };
        blobs::remove_unreferenced(&self.inner.partial_path(&previous.blob_id));
        tracing::debug!(user = %user, %name, offset = fed, "resuming upload");
        Ok(Upload {
            inner: Arc::clone(&self.inner),
            user,
            name: name.clone(),
            meta,
            blob_id,
            writer: Some(writer),
            file,
            hasher,
            fed,
            offset: fed,
        })
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
            return Err(StoreError::Internal("the upload failed earlier; resume it".into()));
        };
        if self.fed.checked_add(data.len() as u64).is_none_or(|total| total > self.meta.size) {
            return Err(StoreError::Integrity(format!("more data than the announced {} bytes", self.meta.size)));
        }
        if let Err(err) = writer.write_all(data) {
            self.writer = None;
            return io_context(Err(err), "cannot write", &self.inner.partial_path(&self.blob_id));
        }
        self.hasher.update(data);
        self.fed += data.len() as u64;
        Ok(())
    }

    /// fsyncs the partial file and returns the offset that is now durable:
    /// the value to acknowledge to the client ([`durable_offset`]).
    /// A handle to make everything written so far durable from another
    /// thread, so the disk works while more data arrives. Its `sync`
    /// returns the ACK offset as of this call, exactly as [`Upload::sync`]
    /// would have.
    pub fn sync_point(&self) -> Result<SyncPoint> {
        let path = self.inner.partial_path(&self.blob_id);
        let file = io_context(self.file.try_clone(), "cannot reopen", &path)?;
        Ok(SyncPoint { file, offset: durable_offset(self.fed), path })
    }

    pub fn sync(&mut self) -> Result<u64> {
        if self.writer.is_none() {
            return Err(StoreError::Internal("the upload failed earlier; resume it".into()));
        }
        io_context(self.file.sync_data(), "cannot fsync", &self.inner.partial_path(&self.blob_id))?;
        Ok(durable_offset(self.fed))
    }

    /// Verifies and publishes the file. `length` must equal the announced
    /// size and the bytes written, `digest` the BLAKE3 of them; otherwise
    /// the partial is discarded and the error is `Integrity`. On success the
    /// file is durable and visible, replacing any file of the same name.
    pub fn commit(mut self, length: u64, digest: &[u8; 32]) -> Result<FileEntry> {
        let Some(writer) = self.writer.take() else {
            return Err(StoreError::Internal("the upload failed earlier; resume it".into()));
        };
        if let Err(err) = check_received(self.meta.size, length, self.fed, self.hasher.finalize(), digest) {
            drop(writer);
            self.discard_files();
            return Err(err);
        }
        let published = self.finish_and_publish(writer);
        let committed = published.and_then(|()| self.insert_row(digest));
        match committed {
            Ok((entry, replaced)) => {
                if let Some(old) = replaced {
                    blobs::remove_unreferenced(&self.inner.blob_path(&old));
                }
                tracing::debug!(user = %self.user, name = %self.name, size = self.meta.size, blob = self.blob_id.as_str(), "committed upload");
                Ok(entry)
            }
            Err(err) => {
                // Nothing references the new blob: remove it wherever it is.
                self.discard_files();
                blobs::remove_unreferenced(&self.inner.blob_path(&self.blob_id));
                Err(err)
            }
        }
    }

    /// Keeps the partial for a later resume (the connection died). fsyncs
    /// what was written so a resume recovers as much as possible.
    pub fn abandon(self) -> Result<()> {
        if self.writer.is_some() {
            io_context(self.file.sync_data(), "cannot fsync", &self.inner.partial_path(&self.blob_id))?;
        }
        Ok(())
    }

    /// Drops the partial upload for good (row and file).
    pub fn discard(mut self) {
        self.writer = None;
        self.discard_files();
    }

    fn finish_and_publish(&self, writer: AgeWriter<File>) -> Result<()> {
        let path = self.inner.partial_path(&self.blob_id);
        let file = io_context(writer.finish(), "cannot write", &path)?;
        io_context(file.sync_all(), "cannot fsync", &path)?;
        drop(file);
        self.inner.publish_blob(&self.blob_id)
    }

    /// One transaction: quota re-check, the files row inserted or replaced,
    /// the partials row deleted. Returns the entry and the replaced blob.
    fn insert_row(&self, digest: &[u8; 32]) -> Result<(FileEntry, Option<BlobId>)> {
        let limits = self.inner.limits();
        let stored = now();
        let mut db = self.inner.db();
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        check_quota(&tx, &limits, self.user, &self.name, self.meta.size)?;
        let replaced = upsert_file(&tx, self.user, &self.name, &self.meta, digest, &self.blob_id, stored)?;
        tx.execute("DELETE FROM partials WHERE blob_id = ?1", [self.blob_id.as_str()])?;
        tx.commit()?;
        let entry = FileEntry { name: self.name.clone(), meta: self.meta, digest: *digest, stored };
        Ok((entry, replaced))
    }

    fn discard_files(&self) {
        forget_partial(&self.inner, &self.blob_id);
        blobs::remove_unreferenced(&self.inner.partial_path(&self.blob_id));
    }
}

/// A `partials` row.
struct PartialRow {
    id: i64,
    blob_id: BlobId,
    meta: FileMeta,
}

fn partial_row(db: &Connection, user: UserId, name: &RemoteName) -> Result<Option<PartialRow>> {
    let raw = db
        .query_row(
            "SELECT id, blob_id, size, mode, mtime, mtime_nanos FROM partials WHERE user_id = ?1 AND name = ?2",
            params![user.0, name.as_str()],
            |row| {
                let raw: (i64, String, i64, i64, i64, i64) =
                    (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?);
                Ok(raw)
            },
        )
        .optional()?;
    let Some((id, blob_id, size, mode, mtime, mtime_nanos)) = raw else {
        return Ok(None);
    };
    let meta = FileMeta {
        size: from_sql_int(size, "size")?,
        mode: from_sql_int(mode, "mode")?,
        mtime,
        mtime_nanos: from_sql_int(mtime_nanos, "mtime")?,
    };
    Ok(Some(PartialRow { id, blob_id: BlobId::from_db(blob_id)?, meta }))
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

/// Inserts or replaces the `files` row of `name`; returns the blob it
/// replaced, which the caller unlinks once the transaction has committed.
pub(super) fn upsert_file(
    db: &Connection,
    user: UserId,
    name: &RemoteName,
    meta: &FileMeta,
    digest: &[u8; 32],
    blob_id: &BlobId,
    stored: i64,
) -> Result<Option<BlobId>> {
    let replaced: Option<String> = db
        .prepare_cached("SELECT blob_id FROM files WHERE user_id = ?1 AND name = ?2")?
        .query_row(params![user.0, name.as_str()], |row| row.get(0))
        .optional()?;
    db.prepare_cached(
        "INSERT INTO files (user_id, name, size, mode, mtime, mtime_nanos, digest, blob_id, stored)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (user_id, name) DO UPDATE SET
             size = excluded.size, mode = excluded.mode, mtime = excluded.mtime,
             mtime_nanos = excluded.mtime_nanos, digest = excluded.digest,
             blob_id = excluded.blob_id, stored = excluded.stored",
    )?
    .execute(params![
        user.0,
        name.as_str(),
        to_sql_int(meta.size, "size")?,
        meta.mode,
        meta.mtime,
        meta.mtime_nanos,
        digest.as_slice(),
        blob_id.as_str(),
        stored
    ])?;
    replaced.map(BlobId::from_db).transpose()
}

/// Refuses if storing `size` bytes as `name` (replacing any file of that
/// name) would exceed the user's quota.
pub(super) fn check_quota(db: &Connection, limits: &Limits, user: UserId, name: &RemoteName, size: u64) -> Result<()> {
    match Quota::load(db, limits, user)? {
        Some(mut quota) => quota.admit(db, name, size),
        None => Ok(()),
    }
}

/// A user's quota and usage, read once and then kept up to date by
/// [`admit`](Self::admit), for checking many files in one transaction
/// without summing the user's files again for each.
pub(super) struct Quota {
    user: UserId,
    max_bytes: Option<u64>,
    max_files: Option<u64>,
    bytes: u64,
    files: u64,
}

impl Quota {
    /// `None` when the user has no quota at all.
    pub(super) fn load(db: &Connection, limits: &Limits, user: UserId) -> Result<Option<Quota>> {
        let quotas: Option<(Option<i64>, Option<i64>)> = db
            .prepare_cached("SELECT quota_bytes, quota_files FROM users WHERE id = ?1")?
            .query_row([user.0], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let Some((max_bytes, max_files)) = quotas else {
            return Err(StoreError::NotFound(format!("user {user}")));
        };
        let max_bytes = max_bytes.map(|value| from_sql_int::<u64>(value, "quota")).transpose()?;
        let max_files = max_files.map(|value| from_sql_int::<u64>(value, "quota")).transpose()?;
        let max_bytes = max_bytes.or(limits.default_quota_bytes);
        let max_files = max_files.or(limits.default_quota_files);
        if max_bytes.is_none() && max_files.is_none() {
            return Ok(None);
        }
        let (bytes, files) = usage(db, user)?;
        Ok(Some(Quota { user, max_bytes, max_files, bytes, files }))
    }

    /// Refuses if storing `size` bytes as `name` (replacing any file of
    /// that name) would exceed the quota; otherwise counts it as stored.
    pub(super) fn admit(&mut self, db: &Connection, name: &RemoteName, size: u64) -> Result<()> {
        let replaced: Option<i64> = db
            .prepare_cached("SELECT size FROM files WHERE user_id = ?1 AND name = ?2")?
            .query_row(params![self.user.0, name.as_str()], |row| row.get(0))
            .optional()?;
        let replaced_size = replaced.map(|value| from_sql_int::<u64>(value, "size")).transpose()?.unwrap_or(0);
        let new_bytes = self.bytes.saturating_sub(replaced_size).saturating_add(size);
        let new_files = self.files - u64::from(replaced.is_some()) + 1;
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

/// Copies the recoverable prefix of `partial/<old>` (whole chunks, at most
/// `size` bytes) into `writer` and `hasher`; returns its length. An old
/// partial that is missing or unreadable recovers nothing.
fn copy_prefix(
    inner: &Inner,
    old: &BlobId,
    size: u64,
    writer: &mut AgeWriter<File>,
    hasher: &mut blake3::Hasher,
) -> Result<u64> {
    let old_path = inner.partial_path(old);
    let mut reader = match inner.open_encrypted(&old_path) {
        Ok(reader) => reader,
        Err(err) => {
            tracing::info!(partial = %old_path.display(), error = %err, "cannot read the partial upload; starting over");
            return Ok(0);
        }
    };
    let mut chunk = vec![0u8; CHUNK_SIZE as usize];
    let mut fed = 0;
    while fed + CHUNK_SIZE <= size && read_chunk(&mut reader, &mut chunk) {
        io_context(writer.write_all(&chunk), "cannot write the resumed copy of", &old_path)?;
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

/// Deletes the partials row for `blob_id`, logging (not returning) failure:
/// a leftover row expires at a later open.
fn forget_partial(inner: &Inner, blob_id: &BlobId) {
    let db = inner.db();
    if let Err(err) = db.execute("DELETE FROM partials WHERE blob_id = ?1", [blob_id.as_str()]) {
        tracing::warn!(blob = blob_id.as_str(), error = %err, "cannot delete a partial upload's row");
    }
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
