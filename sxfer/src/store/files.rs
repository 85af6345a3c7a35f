//! Committed files: listing, stat, delete, rename, usage. Every query is
//! scoped to one user id; names are labels compared as strings.

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use sxfer_proto::msgs::{FileEntry, FileMeta};
use sxfer_proto::names::RemoteName;

use super::accounts::UserId;
use super::blobs::{self, BlobId};
use super::error::{Result, StoreError};
use super::{from_sql_int, Store};

impl Store {
    /// The user's files whose name starts with `prefix` (a plain string
    /// prefix, byte for byte: `"a/b"` matches `"a/b"`, `"a/bc"` and
    /// `"a/b/c"`; `""` matches everything), sorted by name in byte order.
    pub fn list(&self, user: UserId, prefix: &str) -> Result<Vec<FileEntry>> {
        let db = self.inner.db();
        // The prefix test compares blobs: byte lengths, no LIKE wildcards.
        // `name >= ?2` lets SQLite use the (user_id, name) index; TEXT's
        // default BINARY collation is memcmp, i.e. byte order.
        let mut statement = db.prepare(&format!(
            "{FILE_SELECT} WHERE user_id = ?1 AND name >= ?2
                 AND substr(CAST(name AS BLOB), 1, length(CAST(?2 AS BLOB))) = CAST(?2 AS BLOB)
             ORDER BY name"
        ))?;
        let rows =
            statement.query_map(params![user.0, prefix], FileRow::read)?.collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(|row| row.into_entry().map(|(entry, _)| entry)).collect()
    }

    pub fn stat(&self, user: UserId, name: &RemoteName) -> Result<Option<FileEntry>> {
        let db = self.inner.db();
        Ok(file_row(&db, user, name)?.map(|(entry, _)| entry))
    }

    /// Removes a file: the row in a transaction, then the blob. `false` if
    /// there was no such file.
    pub fn delete(&self, user: UserId, name: &RemoteName) -> Result<bool> {
        let blob_id = {
            let db = self.inner.db();
            let blob_id: Option<String> = db
                .query_row(
                    "DELETE FROM files WHERE user_id = ?1 AND name = ?2 RETURNING blob_id",
                    params![user.0, name.as_str()],
                    |row| row.get(0),
                )
                .optional()?;
            blob_id.map(BlobId::from_db).transpose()?
        };
        match blob_id {
            Some(blob_id) => {
                blobs::remove_unreferenced(&self.inner.blob_path(&blob_id));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Renames a file. If `to` exists: `Exists` unless `replace`, in which
    /// case its blob is removed after the rename commits.
    pub fn rename(&self, user: UserId, from: &RemoteName, to: &RemoteName, replace: bool) -> Result<()> {
        let replaced = {
            let mut db = self.inner.db();
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if file_row(&tx, user, from)?.is_none() {
                return Err(StoreError::NotFound(format!("file {from}")));
            }
            if from == to {
                return Ok(());
            }
            let replaced = match file_row(&tx, user, to)? {
                Some(_) if !replace => return Err(StoreError::Exists(format!("file {to}"))),
                Some((_, blob_id)) => {
                    tx.execute("DELETE FROM files WHERE user_id = ?1 AND name = ?2", params![user.0, to.as_str()])?;
                    Some(blob_id)
                }
                None => None,
            };
            tx.execute(
                "UPDATE files SET name = ?3 WHERE user_id = ?1 AND name = ?2",
                params![user.0, from.as_str(), to.as_str()],
            )?;
            tx.commit()?;
            replaced
        };
        if let Some(blob_id) = replaced {
            blobs::remove_unreferenced(&self.inner.blob_path(&blob_id));
        }
        Ok(())
    }

    /// Bytes and files the user has committed.
    pub fn usage(&self, user: UserId) -> Result<(u64, u64)> {
        let db = self.inner.db();
        usage(&db, user)
    }
}

pub(super) const FILE_SELECT: &str = "SELECT name, size, mode, mtime, mtime_nanos, digest, stored, blob_id FROM files";

/// A `files` row as stored, before checking.
pub(super) struct FileRow {
    name: String,
    size: i64,
    mode: i64,
    mtime: i64,
    mtime_nanos: i64,
    digest: Vec<u8>,
    stored: i64,
    blob_id: String,
}

impl FileRow {
    pub(super) fn read(row: &Row<'_>) -> rusqlite::Result<FileRow> {
        Ok(FileRow {
            name: row.get(0)?,
            size: row.get(1)?,
            mode: row.get(2)?,
            mtime: row.get(3)?,
            mtime_nanos: row.get(4)?,
            digest: row.get(5)?,
            stored: row.get(6)?,
            blob_id: row.get(7)?,
        })
    }

    pub(super) fn into_entry(self) -> Result<(FileEntry, BlobId)> {
        let name = RemoteName::parse(&self.name)
            .map_err(|_| StoreError::Internal(format!("database holds an invalid file name {:?}", self.name)))?;
        let digest = <[u8; 32]>::try_from(self.digest.as_slice())
            .map_err(|_| StoreError::Internal(format!("database holds an invalid digest for {name}")))?;
        let meta = FileMeta {
            size: from_sql_int(self.size, "size")?,
            mode: from_sql_int(self.mode, "mode")?,
            mtime: self.mtime,
            mtime_nanos: from_sql_int(self.mtime_nanos, "mtime")?,
        };
        let entry = FileEntry { name, meta, digest, stored: self.stored };
        Ok((entry, BlobId::from_db(self.blob_id)?))
    }
}

/// The file and its blob id.
pub(super) fn file_row(db: &Connection, user: UserId, name: &RemoteName) -> Result<Option<(FileEntry, BlobId)>> {
    let row = db
        .prepare_cached(&format!("{FILE_SELECT} WHERE user_id = ?1 AND name = ?2"))?
        .query_row(params![user.0, name.as_str()], FileRow::read)
        .optional()?;
    row.map(FileRow::into_entry).transpose()
}

pub(super) fn usage(db: &Connection, user: UserId) -> Result<(u64, u64)> {
    let (bytes, files): (i64, i64) =
        db.query_row("SELECT coalesce(sum(size), 0), count(*) FROM files WHERE user_id = ?1", [user.0], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    Ok((from_sql_int(bytes, "byte count")?, from_sql_int(files, "file count")?))
}
