//! The blob half of storage: the [`BlobStore`] trait and the types it
//! speaks. `blobdir/` implements it over a local directory; an object store
//! (S3) would be a second implementation passing the same conformance suite
//! (`sxfer/tests/store/conformance/`).
//!
//! A blob store keeps opaque bytes under random [`BlobId`]s. It never sees
//! a plaintext, a file name, a user or the storage key: [`Store`] encrypts
//! (age, to the storage key) before bytes reach a [`BlobWriter`] and
//! decrypts what a [`BlobRead`] returns. A blob is in one of two states:
//!
//! ```text
//! create ──► staged ──commit / BlobGroup::commit──► committed ──remove──► gone
//!              │  (written, sync()ed; readable by open_staged, for resume)
//!              └──remove──► gone
//! ```
//!
//! The write protocol every implementation keeps (`docs/STORAGE.md` §5, §7):
//!
//! * a staged blob is never readable through [`BlobStore::open`];
//! * after [`BlobWriter::sync`] returns, everything written before it
//!   survives a crash and is readable by [`BlobStore::open_staged`];
//! * when [`BlobWriter::commit`] or [`BlobGroup::commit`] returns, the blob
//!   is complete, durable and readable by [`BlobStore::open`] under its id
//!   (until then a crash leaves it staged, committed or both, never torn at
//!   its committed name);
//! * [`BlobStore::list`] shows every blob a crash may have left behind, so
//!   recovery can remove what no metadata row names.
//!
//! All methods block (the async server calls them from blocking threads).
//! Per-byte work is the caller's; a writer or reader is one `Box<dyn …>`
//! per blob, called once per 64 KiB age chunk.
//!
//! [`Store`]: super::Store

use std::io::{Read, Seek, Write};
use std::time::SystemTime;

use rand_core::{OsRng, RngCore};

use super::error::{Result, StoreError};

/// The name of one blob: 16 random bytes as 32 lowercase hex digits, never
/// reused and never derived from a user or a file name, so it is safe as a
/// path component or an object key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(String);

impl BlobId {
    pub fn generate() -> BlobId {
        let mut bytes = [0u8; 16];
        OsRng.fill_bytes(&mut bytes);
        BlobId(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
    }

    /// Accepts exactly 32 lowercase hex characters: anything else found in
    /// a database or a directory is not one of ours.
    pub fn parse(text: &str) -> Option<BlobId> {
        let valid = text.len() == 32 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| BlobId(text.to_owned()))
    }

    /// Like [`parse`](Self::parse), for ids read from metadata: anything
    /// else is a corrupt database.
    pub fn from_db(text: String) -> Result<BlobId> {
        BlobId::parse(&text).ok_or_else(|| StoreError::Internal(format!("database holds an invalid blob id {text:?}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a blob is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobState {
    /// Being written, or written and not yet committed: invisible to
    /// [`BlobStore::open`].
    Staged,
    /// Complete and durable under its id.
    Committed,
}

/// One blob found by [`BlobStore::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedBlob {
    pub id: BlobId,
    pub state: BlobState,
    /// When it was last written, if the backend knows; recovery keeps
    /// blobs of unknown age.
    pub modified: Option<SystemTime>,
}

/// Opaque blobs under random ids. Object-safe: the store holds an
/// `Arc<dyn BlobStore>`.
pub trait BlobStore: Send + Sync {
    /// Creates the staged blob `id` (a fresh [`BlobId::generate`]; one that
    /// is already staged is refused) and returns its writer.
    fn create(&self, id: &BlobId) -> Result<Box<dyn BlobWriter>>;

    /// Reads a staged blob from its first byte: at least everything made
    /// durable by [`BlobWriter::sync`]. `None` if there is no staged blob
    /// `id`. Resume reads the old partial upload through this.
    fn open_staged(&self, id: &BlobId) -> Result<Option<Box<dyn BlobRead>>>;

    /// Reads a committed blob (seekable: ranged reads). `None` if there is
    /// no committed blob `id`. An open reader keeps reading the blob even if
    /// it is removed meanwhile.
    fn open(&self, id: &BlobId) -> Result<Option<Box<dyn BlobRead>>>;

    /// Starts a group of blobs to be committed together; make it before
    /// [creating](Self::create) them (a local filesystem watches for write
    /// errors from that moment).
    fn group(&self) -> Box<dyn BlobGroup>;

    /// Removes blob `id` in `state`. A blob that is not there is not an
    /// error (removal is retried by recovery, and may race with it).
    fn remove(&self, id: &BlobId, state: BlobState) -> Result<()>;

    /// Every blob in either state, for recovery at open. Objects that are
    /// not blobs of this store are reported (logged) and left out, never
    /// returned for removal.
    fn list(&self) -> Result<Vec<ListedBlob>>;
}

/// Writes one staged blob. Bytes go in through `Write`; dropping the writer
/// without [`commit`](Self::commit) leaves the blob staged (as a crash
/// would), with at least what was synced.
pub trait BlobWriter: Write + Send {
    /// Makes everything written so far durable (still staged).
    fn sync(&mut self) -> Result<()>;

    /// A handle that makes everything written before this call durable, from
    /// another thread, while writing goes on.
    fn sync_handle(&self) -> Result<Box<dyn BlobSync>>;

    /// The last byte is written: makes the blob durable and commits it
    /// under its id. When this returns `Ok` the blob is committed; on an
    /// error it may be staged or committed (the caller removes both).
    fn commit(self: Box<Self>) -> Result<()>;

    /// The last byte is written; the blob stays staged until a
    /// [`BlobGroup::commit`] makes it durable and commits it. A backend may
    /// start writing it out now (a hint).
    fn close(self: Box<Self>) -> Result<()>;
}

/// See [`BlobWriter::sync_handle`].
pub trait BlobSync: Send {
    fn sync(self: Box<Self>) -> Result<()>;
}

/// Reads one blob; `Seek` makes ranged reads.
pub trait BlobRead: Read + Seek + Send {}

impl<T: Read + Seek + Send> BlobRead for T {}

/// Commits many closed staged blobs at once (group commit of small
/// uploads), cheaper than a [`BlobWriter::commit`] each.
pub trait BlobGroup: Send {
    /// Makes every blob of `ids` (created after this group was made, then
    /// closed) durable and commits it under its id. On an error each may be
    /// staged or committed (the caller removes both).
    fn commit(&mut self, ids: &[BlobId]) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ids_are_32_lowercase_hex() {
        let id = BlobId::generate();
        assert_eq!(BlobId::parse(id.as_str()), Some(id.clone()));
        assert_ne!(BlobId::generate(), id);
        for bad in ["", "../../etc/passwd", &"A".repeat(32), &"a".repeat(31), &"g".repeat(32), &"a".repeat(33)] {
            assert_eq!(BlobId::parse(bad), None, "{bad}");
        }
        assert!(matches!(BlobId::from_db("x".into()), Err(StoreError::Internal(_))));
    }
}
