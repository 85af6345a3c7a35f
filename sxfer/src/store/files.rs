//! Committed files: listing, stat, delete, rename, usage. Every call is
//! scoped to one user id; names are labels compared as strings. A row goes
//! first (in the metadata store's transaction), its blob after (I2).

use sxfer_proto::msgs::FileEntry;
use sxfer_proto::names::RemoteName;

use super::blob::BlobState;
use super::error::Result;
use super::meta::UserId;
use super::Store;

impl Store {
    /// The user's files whose name starts with `prefix` (a plain string
    /// prefix, byte for byte: `"a/b"` matches `"a/b"`, `"a/bc"` and
    /// `"a/b/c"`; `""` matches everything), sorted by name in byte order.
    pub fn list(&self, user: UserId, prefix: &str) -> Result<Vec<FileEntry>> {
        self.inner.meta.list_files(user, prefix)
    }

    pub fn stat(&self, user: UserId, name: &RemoteName) -> Result<Option<FileEntry>> {
        Ok(self.inner.meta.file(user, name)?.map(|(entry, _)| entry))
    }

    /// Removes a file: the row in a transaction, then the blob. `false` if
    /// there was no such file.
    pub fn delete(&self, user: UserId, name: &RemoteName) -> Result<bool> {
        match self.inner.meta.delete_file(user, name)? {
            Some(blob) => {
                self.inner.remove_blob(&blob, BlobState::Committed);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Renames a file. If `to` exists: `Exists` unless `replace`, in which
    /// case its blob is removed after the rename commits.
    pub fn rename(&self, user: UserId, from: &RemoteName, to: &RemoteName, replace: bool) -> Result<()> {
        if let Some(replaced) = self.inner.meta.rename_file(user, from, to, replace)? {
            self.inner.remove_blob(&replaced, BlobState::Committed);
        }
        Ok(())
    }

    /// Bytes and files the user has committed.
    pub fn usage(&self, user: UserId) -> Result<(u64, u64)> {
        self.inner.meta.usage(user)
    }
}
