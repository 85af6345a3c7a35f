//! Files, partial uploads and commits in SQLite (`files`, `partials`).
//! Every query is scoped to one user id; names are labels compared as
//! strings (BINARY collation: byte order).

use rusqlite::{params, Connection, OptionalExtension, Row};
use sxfer_proto::msgs::{FileEntry, FileMeta};
use sxfer_proto::names::RemoteName;

use super::{audit, blob_ids, from_sql_int, quota, to_sql_int};
use crate::store::audit_event::{AuditEvent, AuditKind};
use crate::store::blob::BlobId;
use crate::store::error::{Result, StoreError};
use crate::store::meta::{AuditRecord, BatchCommit, NewFile, Partial, UserId};
use crate::store::Limits;

pub(super) fn list(db: &Connection, user: UserId, prefix: &str) -> Result<Vec<FileEntry>> {
    // The prefix test compares blobs: byte lengths, no LIKE wildcards.
    // `name >= ?2` lets SQLite use the (user_id, name) index; TEXT's
    // default BINARY collation is memcmp, i.e. byte order.
    let mut statement = db.prepare_cached(&format!(
        "{FILE_SELECT} WHERE user_id = ?1 AND name >= ?2
             AND substr(CAST(name AS BLOB), 1, length(CAST(?2 AS BLOB))) = CAST(?2 AS BLOB)
         ORDER BY name"
    ))?;
    let rows =
        statement.query_map(params![user.raw(), prefix], FileRow::read)?.collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(|row| row.into_entry().map(|(entry, _)| entry)).collect()
}

/// The file and its blob id.
pub(super) fn file_row(db: &Connection, user: UserId, name: &RemoteName) -> Result<Option<(FileEntry, BlobId)>> {
    let row = db
        .prepare_cached(&format!("{FILE_SELECT} WHERE user_id = ?1 AND name = ?2"))?
        .query_row(params![user.raw(), name.as_str()], FileRow::read)
        .optional()?;
    row.map(FileRow::into_entry).transpose()
}

pub(super) fn delete(db: &Connection, user: UserId, name: &RemoteName) -> Result<Option<BlobId>> {
    let blob: Option<String> = db
        .query_row(
            "DELETE FROM files WHERE user_id = ?1 AND name = ?2 RETURNING blob_id",
            params![user.raw(), name.as_str()],
            |row| row.get(0),
        )
        .optional()?;
    blob.map(BlobId::from_db).transpose()
}

/// Inside the caller's transaction.
pub(super) fn rename(
    tx: &Connection,
    user: UserId,
    from: &RemoteName,
    to: &RemoteName,
    replace: bool,
) -> Result<Option<BlobId>> {
    if file_row(tx, user, from)?.is_none() {
        return Err(StoreError::NotFound(format!("file {from}")));
    }
    if from == to {
        return Ok(None);
    }
    let replaced = match file_row(tx, user, to)? {
        Some(_) if !replace => return Err(StoreError::Exists(format!("file {to}"))),
        Some((_, blob)) => {
            tx.execute("DELETE FROM files WHERE user_id = ?1 AND name = ?2", params![user.raw(), to.as_str()])?;
            Some(blob)
        }
        None => None,
    };
    tx.execute(
        "UPDATE files SET name = ?3 WHERE user_id = ?1 AND name = ?2",
        params![user.raw(), from.as_str(), to.as_str()],
    )?;
    Ok(replaced)
}

/// Refuses if storing `size` bytes as `name` (replacing any file of that
/// name) would exceed the user's quota.
pub(super) fn check_quota(db: &Connection, limits: &Limits, user: UserId, name: &RemoteName, size: u64) -> Result<()> {
    match quota::load_quota(db, limits, user)? {
        Some(mut quota) => quota.admit(replaced_size(db, user, name)?, size),
        None => Ok(()),
    }
}

pub(super) fn partial(db: &Connection, user: UserId, name: &RemoteName) -> Result<Option<Partial>> {
    let raw = db
        .prepare_cached(
            "SELECT blob_id, size, mode, mtime, mtime_nanos FROM partials WHERE user_id = ?1 AND name = ?2",
        )?
        .query_row(params![user.raw(), name.as_str()], |row| {
            let raw: (String, i64, i64, i64, i64) = (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?);
            Ok(raw)
        })
        .optional()?;
    let Some((blob, size, mode, mtime, mtime_nanos)) = raw else {
        return Ok(None);
    };
    let meta = FileMeta {
        size: from_sql_int(size, "size")?,
        mode: from_sql_int(mode, "mode")?,
        mtime,
        mtime_nanos: from_sql_int(mtime_nanos, "mtime")?,
    };
    Ok(Some(Partial { blob: BlobId::from_db(blob)?, meta }))
}

/// Inside the caller's transaction.
pub(super) fn begin_partial(
    tx: &Connection,
    user: UserId,
    name: &RemoteName,
    meta: &FileMeta,
    blob: &BlobId,
    keep: usize,
    now: i64,
) -> Result<Vec<BlobId>> {
    let mut unnamed = blob_ids(
        tx,
        "DELETE FROM partials WHERE user_id = ?1 AND name = ?2 RETURNING blob_id",
        params![user.raw(), name.as_str()],
    )?;
    tx.execute(
        "INSERT INTO partials (user_id, name, blob_id, size, mode, mtime, mtime_nanos, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            user.raw(),
            name.as_str(),
            blob.as_str(),
            to_sql_int(meta.size, "size")?,
            meta.mode,
            meta.mtime,
            meta.mtime_nanos,
            now
        ],
    )?;
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    unnamed.extend(blob_ids(
        tx,
        "DELETE FROM partials WHERE user_id = ?1 AND blob_id IN (
             SELECT blob_id FROM partials WHERE user_id = ?1
             ORDER BY created DESC, rowid DESC LIMIT -1 OFFSET ?2)
         RETURNING blob_id",
        params![user.raw(), keep],
    )?);
    Ok(unnamed)
}

pub(super) fn move_partial(db: &Connection, from: &BlobId, to: &BlobId, now: i64) -> Result<bool> {
    let changed = db.execute(
        "UPDATE partials SET blob_id = ?1, created = ?2 WHERE blob_id = ?3",
        params![to.as_str(), now, from.as_str()],
    )?;
    Ok(changed == 1)
}

/// Inside the caller's transaction.
pub(super) fn commit_upload(
    tx: &Connection,
    user: UserId,
    file: &NewFile,
    limits: &Limits,
    now: i64,
) -> Result<(FileEntry, Option<BlobId>)> {
    check_quota(tx, limits, user, &file.name, file.meta.size)?;
    let replaced = upsert_file(tx, user, file, now)?;
    tx.execute("DELETE FROM partials WHERE blob_id = ?1", [file.blob.as_str()])?;
    let entry = FileEntry { name: file.name.clone(), meta: file.meta, digest: file.digest, stored: now };
    Ok((entry, replaced))
}

/// Inside the caller's transaction.
pub(super) fn commit_batch(
    tx: &Connection,
    user: UserId,
    files: &[NewFile],
    limits: &Limits,
    who: &AuditEvent,
    now: i64,
    audit_key: Option<&[u8; 32]>,
) -> Result<BatchCommit> {
    let mut commit =
        BatchCommit { results: Vec::with_capacity(files.len()), replaced: Vec::new(), superseded: Vec::new() };
    // Usage is summed once for the group, then counted file by file.
    let mut quota = quota::load_quota(tx, limits, user)?;
    let has_partials: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM partials WHERE user_id = ?1)")?
        .query_row([user.raw()], |row| row.get(0))?;
    for file in files {
        if let Some(quota) = quota.as_mut() {
            if let Err(err) = quota.admit(replaced_size(tx, user, &file.name)?, file.meta.size) {
                commit.results.push(Err(err));
                continue;
            }
        }
        commit.replaced.extend(upsert_file(tx, user, file, now)?);
        // A small upload replaces any unfinished upload of the same name.
        if has_partials {
            commit.superseded.extend(blob_ids(
                tx,
                "DELETE FROM partials WHERE user_id = ?1 AND name = ?2 RETURNING blob_id",
                params![user.raw(), file.name.as_str()],
            )?);
        }
        let event = AuditEvent { kind: AuditKind::Upload, outcome: "ok".into(), ..who.clone() };
        let event = event.name(&file.name).size(file.meta.size).digest(file.digest);
        audit::insert(tx, &AuditRecord { time: now, event }, audit_key)?;
        commit.results.push(Ok(FileEntry {
            name: file.name.clone(),
            meta: file.meta,
            digest: file.digest,
            stored: now,
        }));
    }
    Ok(commit)
}

const FILE_SELECT: &str = "SELECT name, size, mode, mtime, mtime_nanos, digest, stored, blob_id FROM files";

/// A `files` row as stored, before checking.
struct FileRow {
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
    fn read(row: &Row<'_>) -> rusqlite::Result<FileRow> {
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

    fn into_entry(self) -> Result<(FileEntry, BlobId)> {
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

/// Inserts or replaces the `files` row of `file.name`; returns the blob it
/// replaced, which the caller removes once the transaction has committed.
fn upsert_file(db: &Connection, user: UserId, file: &NewFile, stored: i64) -> Result<Option<BlobId>> {
    let replaced: Option<String> = db
        .prepare_cached("SELECT blob_id FROM files WHERE user_id = ?1 AND name = ?2")?
        .query_row(params![user.raw(), file.name.as_str()], |row| row.get(0))
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
        user.raw(),
        file.name.as_str(),
        to_sql_int(file.meta.size, "size")?,
        file.meta.mode,
        file.meta.mtime,
        file.meta.mtime_nanos,
        file.digest.as_slice(),
        file.blob.as_str(),
        stored
    ])?;
    replaced.map(BlobId::from_db).transpose()
}

/// The size of the user's file called `name`, if there is one.
fn replaced_size(db: &Connection, user: UserId, name: &RemoteName) -> Result<Option<u64>> {
    let size: Option<i64> = db
        .prepare_cached("SELECT size FROM files WHERE user_id = ?1 AND name = ?2")?
        .query_row(params![user.raw(), name.as_str()], |row| row.get(0))
        .optional()?;
    size.map(|value| from_sql_int(value, "size")).transpose()
}
