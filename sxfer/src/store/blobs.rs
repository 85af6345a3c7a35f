//! Blob files on disk: ids, paths, permissions, fsync helpers, and the age
//! encryption every blob goes through.
//!
//! A blob id is 16 random bytes as 32 lowercase hex characters. Committed
//! blobs live at `blobs/<first two hex chars>/<id>`, uploads in progress at
//! `partial/<id>`. No user-supplied text ever reaches a path.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use age::stream::StreamReader;
use rand_core::{OsRng, RngCore};

use super::age_writer::AgeWriter;
use super::error::{Result, StoreError};
use super::{io_context, Inner};

pub(super) const BLOBS_DIR: &str = "blobs";
pub(super) const PARTIAL_DIR: &str = "partial";
pub(super) const PRIVATE_DIR_MODE: u32 = 0o700;
pub(super) const PRIVATE_FILE_MODE: u32 = 0o600;

/// The name of one blob file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct BlobId(String);

impl BlobId {
    pub(super) fn generate() -> BlobId {
        let mut bytes = [0u8; 16];
        OsRng.fill_bytes(&mut bytes);
        BlobId(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
    }

    /// Accepts exactly 32 lowercase hex characters: anything else found in
    /// the database or a directory is not one of ours.
    pub(super) fn parse(text: &str) -> Option<BlobId> {
        let valid = text.len() == 32 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| BlobId(text.to_owned()))
    }

    /// Like [`parse`](Self::parse), for ids read from the database.
    pub(super) fn from_db(text: String) -> Result<BlobId> {
        BlobId::parse(&text).ok_or_else(|| StoreError::Internal(format!("database holds an invalid blob id {text:?}")))
    }

    pub(super) fn as_str(&self) -> &str {
        &self.0
    }

    /// The fan-out directory name: the first two hex characters.
    pub(super) fn fan_out(&self) -> &str {
        &self.0[..2]
    }
}

impl Inner {
    pub(super) fn blob_path(&self, id: &BlobId) -> PathBuf {
        self.dir.join(BLOBS_DIR).join(id.fan_out()).join(id.as_str())
    }

    pub(super) fn partial_path(&self, id: &BlobId) -> PathBuf {
        self.dir.join(PARTIAL_DIR).join(id.as_str())
    }

    /// Creates `partial/<id>` (0600, must not exist) and starts an age
    /// stream in it. Returns the writer and a second handle on the same
    /// open file, for fsync.
    pub(super) fn create_partial(&self, id: &BlobId) -> Result<(AgeWriter<File>, File)> {
        let path = self.partial_path(id);
        let file = self.create_partial_file(id)?;
        let sync_handle = io_context(file.try_clone(), "cannot duplicate the handle of", &path)?;
        Ok((self.encrypt_to(file, &path)?, sync_handle))
    }

    /// Creates `partial/<id>` (0600, must not exist).
    pub(super) fn create_partial_file(&self, id: &BlobId) -> Result<File> {
        let path = self.partial_path(id);
        io_context(create_private_file(&path), "cannot create", &path)
    }

    /// Starts an age stream to the storage key in `output` (writes the
    /// header; see `age_writer.rs`).
    pub(super) fn encrypt_to<W: io::Write>(&self, output: W, path: &Path) -> Result<AgeWriter<W>> {
        io_context(AgeWriter::new(output, &self.recipient_key), "cannot write", path)
    }

    /// Opens an age file written by [`create_partial`](Self::create_partial)
    /// for decryption. A header that does not parse or is not for our key
    /// is an integrity error; a missing file is an `Io` error of kind
    /// `NotFound`.
    pub(super) fn open_encrypted(&self, path: &Path) -> Result<StreamReader<File>> {
        let file = io_context(File::open(path), "cannot open", path)?;
        let decryptor = age::Decryptor::new(file)
            .map_err(|err| StoreError::Integrity(format!("{}: not a readable age file: {err}", path.display())))?;
        let identity: &dyn age::Identity = &self.identity;
        decryptor
            .decrypt(std::iter::once(identity))
            .map_err(|err| StoreError::Integrity(format!("{}: cannot decrypt: {err}", path.display())))
    }

    /// Moves a finished, fsynced partial into `blobs/`, durably: creates the
    /// fan-out directory if needed, renames, fsyncs the directories.
    pub(super) fn publish_blob(&self, id: &BlobId) -> Result<()> {
        for dir in self.move_to_blobs(id)? {
            io_context(sync_dir(&dir), "cannot fsync", &dir)?;
        }
        Ok(())
    }

    /// Renames `partial/<id>` to `blobs/ab/<id>`, creating the fan-out
    /// directory if needed. Returns the directories whose fsync makes the
    /// move durable (the caller may batch them).
    pub(super) fn move_to_blobs(&self, id: &BlobId) -> Result<Vec<PathBuf>> {
        let blobs = self.dir.join(BLOBS_DIR);
        let fan_out = blobs.join(id.fan_out());
        let partial = self.dir.join(PARTIAL_DIR);
        let mut dirs = Vec::with_capacity(3);
        if !fan_out.is_dir() {
            match DirBuilder::new().mode_private().create(&fan_out) {
                Ok(()) => dirs.push(blobs),
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(err) => return io_context(Err(err), "cannot create", &fan_out),
            }
        }
        let from = self.partial_path(id);
        io_context(fs::rename(&from, fan_out.join(id.as_str())), "cannot move into place", &from)?;
        dirs.push(fan_out);
        dirs.push(partial);
        Ok(dirs)
    }
}

/// Removes a file that is no longer referenced. Already gone is fine; any
/// other failure is logged, not returned: the operation it follows has
/// committed, and the next open's garbage collection retries.
pub(super) fn remove_unreferenced(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "cannot remove an unreferenced file; it will be collected at the next start")
        }
    }
}

/// `mkdir -p` with 0700 for every directory it creates.
pub(super) fn create_private_dir_all(path: &Path) -> Result<()> {
    io_context(DirBuilder::new().recursive(true).mode_private().create(path), "cannot create directory", path)
}

fn create_private_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, PRIVATE_FILE_MODE);
    options.open(path)
}

/// fsync a directory, making renames and creations in it durable.
pub(super) fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

trait DirBuilderExt {
    fn mode_private(&mut self) -> &mut Self;
}

impl DirBuilderExt for DirBuilder {
    fn mode_private(&mut self) -> &mut Self {
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(self, PRIVATE_DIR_MODE);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ids_are_32_lowercase_hex() {
        let id = BlobId::generate();
        assert_eq!(BlobId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(id.fan_out(), &id.as_str()[..2]);
        assert_ne!(BlobId::generate(), id);
        for bad in ["", "../../etc/passwd", &"A".repeat(32), &"a".repeat(31), &"g".repeat(32), &"a".repeat(33)] {
            assert_eq!(BlobId::parse(bad), None, "{bad}");
        }
    }
}
