//! Drops and inboxes in SQLite (`drops`, `drop_recipients`, PROTOCOL.md
//! §14). A drop counts against its sender's quota while any inbox holds
//! it; each recipient's inbox is capped by count and ciphertext bytes.

use rusqlite::{params, Connection, OptionalExtension, Row};
use sxfer_proto::msgs::DropId;

use super::{blob_ids, files, from_sql_int, to_sql_int};
use crate::store::blob::BlobId;
use crate::store::error::{Result, StoreError};
use crate::store::meta::{NewDrop, StoredDrop, UserId};
use crate::store::Limits;

const DROP_SELECT: &str = "SELECT d.id, d.created, d.header, d.ciphertext_length, d.ciphertext_digest, d.blob_id
     FROM drops d JOIN drop_recipients r ON r.drop_id = d.id";

/// Bytes and count of the drops `user` sent that some inbox still holds:
/// what they add to the sender's usage.
pub(super) fn sent_usage(db: &Connection, user: UserId) -> Result<(u64, u64)> {
    let (bytes, count): (i64, i64) = db
        .prepare_cached("SELECT coalesce(sum(ciphertext_length), 0), count(*) FROM drops WHERE sender_id = ?1")?
        .query_row([user.raw()], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok((from_sql_int(bytes, "byte count")?, from_sql_int(count, "drop count")?))
}

/// Inside the caller's transaction (or on a read snapshot).
pub(super) fn check(
    db: &Connection,
    sender: UserId,
    recipients: &[UserId],
    length: u64,
    limits: &Limits,
) -> Result<()> {
    if let Some(mut quota) = files::load_quota(db, limits, sender)? {
        quota.admit(None, length)?;
    }
    for &recipient in recipients {
        let (count, bytes): (i64, i64) = db
            .prepare_cached(
                "SELECT count(*), coalesce(sum(d.ciphertext_length), 0)
                 FROM drop_recipients r JOIN drops d ON d.id = r.drop_id WHERE r.user_id = ?1",
            )?
            .query_row([recipient.raw()], |row| Ok((row.get(0)?, row.get(1)?)))?;
        let (count, bytes): (u64, u64) = (from_sql_int(count, "drop count")?, from_sql_int(bytes, "byte count")?);
        if count >= limits.max_inbox_drops || bytes.saturating_add(length) > limits.max_inbox_bytes {
            let name: String = db
                .prepare_cached("SELECT name FROM users WHERE id = ?1")?
                .query_row([recipient.raw()], |row| row.get(0))?;
            return Err(StoreError::Limit(format!(
                "the inbox of {name} is full ({count} drops, {bytes} bytes; the server allows {} drops, {} bytes)",
                limits.max_inbox_drops, limits.max_inbox_bytes
            )));
        }
    }
    Ok(())
}

/// Inside the caller's transaction.
pub(super) fn commit(tx: &Connection, drop: &NewDrop, limits: &Limits, now: i64) -> Result<()> {
    check(tx, drop.sender, &drop.recipients, drop.ciphertext_length, limits)?;
    tx.prepare_cached(
        "INSERT INTO drops (id, sender_id, name, size, mode, mtime, header, ciphertext_length, ciphertext_digest,
                            blob_id, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        &drop.id.0[..],
        drop.sender.raw(),
        drop.name.as_str(),
        to_sql_int(drop.meta.size, "size")?,
        drop.meta.mode,
        drop.meta.mtime,
        &drop.header,
        to_sql_int(drop.ciphertext_length, "size")?,
        &drop.ciphertext_digest[..],
        drop.blob.as_str(),
        now,
    ])?;
    for recipient in &drop.recipients {
        tx.prepare_cached("INSERT INTO drop_recipients (drop_id, user_id) VALUES (?1, ?2)")?
            .execute(params![&drop.id.0[..], recipient.raw()])?;
    }
    Ok(())
}

pub(super) fn inbox(db: &Connection, user: UserId) -> Result<Vec<StoredDrop>> {
    let mut statement = db.prepare_cached(&format!("{DROP_SELECT} WHERE r.user_id = ?1 ORDER BY d.created, d.id"))?;
    let rows = statement.query_map([user.raw()], DropRow::read)?.collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(|row| row.into_drop().map(|(drop, _)| drop)).collect()
}

pub(super) fn inbox_drop(db: &Connection, user: UserId, id: &DropId) -> Result<Option<(StoredDrop, BlobId)>> {
    let row = db
        .prepare_cached(&format!("{DROP_SELECT} WHERE r.user_id = ?1 AND d.id = ?2"))?
        .query_row(params![user.raw(), &id.0[..]], DropRow::read)
        .optional()?;
    row.map(DropRow::into_drop).transpose()
}

/// Inside the caller's transaction.
pub(super) fn remove(tx: &Connection, user: UserId, id: &DropId) -> Result<Option<Option<BlobId>>> {
    let removed =
        tx.execute("DELETE FROM drop_recipients WHERE drop_id = ?1 AND user_id = ?2", params![&id.0[..], user.raw()])?;
    if removed == 0 {
        return Ok(None);
    }
    let blob: Option<String> = tx
        .query_row(
            "DELETE FROM drops WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM drop_recipients WHERE drop_id = ?1)
             RETURNING blob_id",
            [&id.0[..]],
            |row| row.get(0),
        )
        .optional()?;
    Ok(Some(blob.map(BlobId::from_db).transpose()?))
}

/// Inside the caller's transaction: `user`'s inbox rows and the drops it
/// sent go; returns the blobs of drops no inbox holds any more.
pub(super) fn forget_user(tx: &Connection, user: UserId) -> Result<Vec<BlobId>> {
    tx.execute("DELETE FROM drop_recipients WHERE user_id = ?1", [user.raw()])?;
    let orphaned = "DELETE FROM drops WHERE sender_id = ?1
                        OR NOT EXISTS (SELECT 1 FROM drop_recipients WHERE drop_id = drops.id)
                    RETURNING blob_id";
    blob_ids(tx, orphaned, [user.raw()])
}

struct DropRow {
    id: Vec<u8>,
    created: i64,
    header: Vec<u8>,
    length: i64,
    digest: Vec<u8>,
    blob: String,
}

impl DropRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<DropRow> {
        Ok(DropRow {
            id: row.get(0)?,
            created: row.get(1)?,
            header: row.get(2)?,
            length: row.get(3)?,
            digest: row.get(4)?,
            blob: row.get(5)?,
        })
    }

    fn into_drop(self) -> Result<(StoredDrop, BlobId)> {
        let invalid = |what: &str| StoreError::Internal(format!("database holds an invalid drop {what}"));
        let id = DropId(self.id.try_into().map_err(|_| invalid("id"))?);
        let ciphertext_digest = self.digest.try_into().map_err(|_| invalid("digest"))?;
        let drop = StoredDrop {
            id,
            received: self.created,
            header: self.header,
            ciphertext_length: from_sql_int(self.length, "size")?,
            ciphertext_digest,
        };
        Ok((drop, BlobId::from_db(self.blob)?))
    }
}
