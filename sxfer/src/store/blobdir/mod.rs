//! [`BlobStore`] on a local directory: staged blobs in `partial/<id>`,
//! committed ones in `blobs/<first two hex digits>/<id>`, every file and
//! directory private (0600 / 0700).
//!
//! ```text
//! create       partial/<id>, O_CREAT|O_EXCL, 0600
//! sync         fdatasync
//! commit       fsync, rename to blobs/ab/<id> (creating ab/ and then
//!              fsyncing blobs/ if needed), fsync blobs/ab/ and partial/
//! close        POSIX_FADV_DONTNEED: start writeback now (a hint)
//! group commit one `durable::Watch` sync of every partial, the renames,
//!              one more sync of the directories (Linux: a syncfs each)
//! ```
//!
//! `rename` is atomic, so a crash leaves a blob at exactly one of its two
//! names, and at `blobs/` only once its contents were durable.

use std::collections::BTreeSet;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::blob::{BlobGroup, BlobId, BlobRead, BlobState, BlobStore, BlobSync, BlobWriter, ListedBlob};
use super::error::{io_context, Result};
use crate::durable;

const BLOBS_DIR: &str = "blobs";
const PARTIAL_DIR: &str = "partial";
const PRIVATE_DIR_MODE: u32 = 0o700;
pub(crate) const PRIVATE_FILE_MODE: u32 = 0o600;

/// Blobs in a directory (the data directory: `blobs/` and `partial/`).
pub struct BlobDir {
    root: PathBuf,
}

impl BlobDir {
    /// Opens the blob directories under `root`, creating them (and `root`)
    /// 0700 if missing.
    pub fn open(root: &Path) -> Result<BlobDir> {
        create_private_dir_all(root)?;
        create_private_dir_all(&root.join(BLOBS_DIR))?;
        create_private_dir_all(&root.join(PARTIAL_DIR))?;
        Ok(BlobDir { root: root.to_path_buf() })
    }

    /// Where the committed blob `id` is: `blobs/ab/<id>`.
    pub fn blob_path(&self, id: &BlobId) -> PathBuf {
        blob_path(&self.root, id)
    }

    /// Where the staged blob `id` is: `partial/<id>`.
    pub fn partial_path(&self, id: &BlobId) -> PathBuf {
        partial_path(&self.root, id)
    }

    fn list_committed(&self, out: &mut Vec<ListedBlob>) -> Result<()> {
        let blobs = self.root.join(BLOBS_DIR);
        for fan_out in io_context(fs::read_dir(&blobs), "cannot list", &blobs)? {
            let fan_out = io_context(fan_out, "cannot list", &blobs)?.path();
            if !fan_out.is_dir() {
                tracing::warn!(path = %fan_out.display(), "unexpected file in the blob directory; leaving it");
                continue;
            }
            for entry in io_context(fs::read_dir(&fan_out), "cannot list", &fan_out)? {
                let path = io_context(entry, "cannot list", &fan_out)?.path();
                match blob_id_of(&path) {
                    Some(id) if fan_out == blobs.join(fan_out_of(&id)) => {
                        out.push(ListedBlob { modified: modified(&path), id, state: BlobState::Committed })
                    }
                    _ => tracing::warn!(path = %path.display(), "unexpected file in the blob directory; leaving it"),
                }
            }
        }
        Ok(())
    }

    fn list_staged(&self, out: &mut Vec<ListedBlob>) -> Result<()> {
        let partial = self.root.join(PARTIAL_DIR);
        for entry in io_context(fs::read_dir(&partial), "cannot list", &partial)? {
            let path = io_context(entry, "cannot list", &partial)?.path();
            match blob_id_of(&path) {
                Some(id) => out.push(ListedBlob { modified: modified(&path), id, state: BlobState::Staged }),
                None => tracing::warn!(path = %path.display(), "unexpected file in the partial directory; leaving it"),
            }
        }
        Ok(())
    }
}

impl BlobStore for BlobDir {
    fn create(&self, id: &BlobId) -> Result<Box<dyn BlobWriter>> {
        let path = self.partial_path(id);
        let file = io_context(create_private_file(&path), "cannot create", &path)?;
        Ok(Box::new(FileWriter { file, root: self.root.clone(), id: id.clone() }))
    }

    fn open_staged(&self, id: &BlobId) -> Result<Option<Box<dyn BlobRead>>> {
        open_if_exists(&self.partial_path(id))
    }

    fn open(&self, id: &BlobId) -> Result<Option<Box<dyn BlobRead>>> {
        open_if_exists(&self.blob_path(id))
    }

    fn group(&self) -> Box<dyn BlobGroup> {
        Box::new(DirGroup { root: self.root.clone(), watch: durable::Watch::new(&self.root) })
    }

    fn remove(&self, id: &BlobId, state: BlobState) -> Result<()> {
        let path = match state {
            BlobState::Staged => self.partial_path(id),
            BlobState::Committed => self.blob_path(id),
        };
        match fs::remove_file(&path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => io_context(Err(err), "cannot remove", &path),
            _ => Ok(()),
        }
    }

    fn list(&self) -> Result<Vec<ListedBlob>> {
        let mut out = Vec::new();
        self.list_committed(&mut out)?;
        self.list_staged(&mut out)?;
        Ok(out)
    }
}

/// A staged blob being written: the open `partial/<id>`.
struct FileWriter {
    file: File,
    root: PathBuf,
    id: BlobId,
}

impl Write for FileWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.file.write(data)
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl BlobWriter for FileWriter {
    fn sync(&mut self) -> Result<()> {
        io_context(self.file.sync_data(), "cannot fsync", &partial_path(&self.root, &self.id))
    }

    fn sync_handle(&self) -> Result<Box<dyn BlobSync>> {
        let path = partial_path(&self.root, &self.id);
        let file = io_context(self.file.try_clone(), "cannot reopen", &path)?;
        Ok(Box::new(FileSync { file, path }))
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let path = partial_path(&self.root, &self.id);
        io_context(self.file.sync_all(), "cannot fsync", &path)?;
        drop(self.file);
        for dir in move_to_blobs(&self.root, &self.id)? {
            io_context(sync_dir(&dir), "cannot fsync", &dir)?;
        }
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        start_writeback(&self.file);
        Ok(())
    }
}

struct FileSync {
    file: File,
    path: PathBuf,
}

impl BlobSync for FileSync {
    fn sync(self: Box<Self>) -> Result<()> {
        io_context(self.file.sync_data(), "cannot fsync", &self.path)
    }
}

/// A group commit: the filesystem watched for write errors since the group
/// was made (before its blobs were written).
struct DirGroup {
    root: PathBuf,
    watch: durable::Watch,
}

impl BlobGroup for DirGroup {
    fn commit(&mut self, ids: &[BlobId]) -> Result<()> {
        let partial_dir = self.root.join(PARTIAL_DIR);
        let partials: Vec<PathBuf> = ids.iter().map(|id| partial_path(&self.root, id)).collect();
        io_context(self.watch.sync(partials.iter().map(PathBuf::as_path)), "cannot sync", &partial_dir)?;
        let mut dirs = BTreeSet::new();
        for id in ids {
            dirs.extend(move_to_blobs(&self.root, id)?);
        }
        io_context(self.watch.sync(dirs.iter().map(PathBuf::as_path)), "cannot sync", &partial_dir)
    }
}

fn blob_path(root: &Path, id: &BlobId) -> PathBuf {
    root.join(BLOBS_DIR).join(fan_out_of(id)).join(id.as_str())
}

fn partial_path(root: &Path, id: &BlobId) -> PathBuf {
    root.join(PARTIAL_DIR).join(id.as_str())
}

/// The fan-out directory name: the first two hex digits.
fn fan_out_of(id: &BlobId) -> &str {
    &id.as_str()[..2]
}

fn blob_id_of(path: &Path) -> Option<BlobId> {
    path.file_name()?.to_str().and_then(BlobId::parse)
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    fs::symlink_metadata(path).and_then(|metadata| metadata.modified()).ok()
}

fn open_if_exists(path: &Path) -> Result<Option<Box<dyn BlobRead>>> {
    match File::open(path) {
        Ok(file) => Ok(Some(Box::new(file))),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => io_context(Err(err), "cannot open", path),
    }
}

/// Renames `partial/<id>` to `blobs/ab/<id>`, creating the fan-out
/// directory if needed. Returns the directories whose fsync makes the move
/// durable (the caller may batch them).
fn move_to_blobs(root: &Path, id: &BlobId) -> Result<Vec<PathBuf>> {
    let blobs = root.join(BLOBS_DIR);
    let fan_out = blobs.join(fan_out_of(id));
    let mut dirs = Vec::with_capacity(3);
    if !fan_out.is_dir() {
        match DirBuilder::new().mode_private().create(&fan_out) {
            Ok(()) => dirs.push(blobs),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return io_context(Err(err), "cannot create", &fan_out),
        }
    }
    let from = partial_path(root, id);
    io_context(fs::rename(&from, fan_out.join(id.as_str())), "cannot move into place", &from)?;
    dirs.push(fan_out);
    dirs.push(root.join(PARTIAL_DIR));
    Ok(dirs)
}

/// `mkdir -p` with 0700 for every directory it creates.
pub(crate) fn create_private_dir_all(path: &Path) -> Result<()> {
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
pub(crate) fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Asks the kernel to start writing `file` out now (on Linux,
/// `POSIX_FADV_DONTNEED` starts writeback of dirty pages, then drops the
/// clean ones: a stored blob is not read again soon), so the sync of a
/// group commit finds little left to do and the writes of many small files
/// reach the disk together. Only a hint: durability comes from the sync.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn start_writeback(file: &File) {
    rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed).ok();
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn start_writeback(_file: &File) {}

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
    fn blobs_fan_out_by_their_first_two_digits() -> Result<()> {
        let temp = tempfile::tempdir().map_err(|err| crate::store::StoreError::Internal(err.to_string()))?;
        let store = BlobDir::open(temp.path())?;
        let id = BlobId::generate();
        let expected = temp.path().join("blobs").join(&id.as_str()[..2]).join(id.as_str());
        assert_eq!(store.blob_path(&id), expected);
        assert_eq!(store.partial_path(&id), temp.path().join("partial").join(id.as_str()));
        Ok(())
    }
}
