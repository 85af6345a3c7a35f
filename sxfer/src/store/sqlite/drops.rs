//! Drops and inboxes in SQLite (`drops`, `drop_recipients`, PROTOCOL.md
//! §14). A drop counts against its sender's quota while it is live (some
//! inbox holds it); each recipient's inbox is capped by count and
//! ciphertext bytes. A drop *ends* (delivered, revoked, expired) with its
//! blob; its rows stay for the sender's status until forgotten.

use rusqlite::{params, Connection, OptionalExtension, Row};
use sxfer_proto::msgs::{DropId, DropState, Username};

use super::{blob_ids, from_sql_int, quota, to_sql_int};
use crate::store::blob::BlobId;
use crate::store::error::{Result, StoreError};
use crate::store::meta::{NewDrop, RecipientRecord, SentRecord, StoredDrop, UserId};
use crate::store::Limits;

/// The drops in inboxes at `?2`: live, not expired, not removed.
const DROP_SELECT: &str = "SELECT d.id, d.created, d.header, d.ciphertext_length, d.ciphertext_digest, d.blob_id
     FROM drops d JOIN drop_recipients r ON r.drop_id = d.id
     WHERE d.ended IS NULL AND (d.expires IS NULL OR d.expires > ?2) AND r.removed IS NULL";

/// Inside the caller's transaction (or on a read snapshot).
pub(super) fn check(
    db: &Connection,
    sender: UserId,
    recipients: &[UserId],
    length: u64,
    limits: &Limits,
) -> Result<()> {
    if let Some(mut quota) = quota::load_quota(db, limits, sender)? {
        quota.admit(None, length)?;
    }
    for &recipient in recipients {
        let (count, bytes): (i64, i64) = db
            .prepare_cached(
                "SELECT count(*), coalesce(sum(d.ciphertext_length), 0)
                 FROM drop_recipients r JOIN drops d ON d.id = r.drop_id
                 WHERE r.user_id = ?1 AND r.removed IS NULL AND d.ended IS NULL",
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
                            blob_id, created, expires)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
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
        drop.expires,
    ])?;
    for recipient in &drop.recipients {
        tx.prepare_cached("INSERT INTO drop_recipients (drop_id, user_id) VALUES (?1, ?2)")?
            .execute(params![&drop.id.0[..], recipient.raw()])?;
    }
    Ok(())
}

pub(super) fn inbox(db: &Connection, user: UserId, now: i64) -> Result<Vec<StoredDrop>> {
    let mut statement = db.prepare_cached(&format!("{DROP_SELECT} AND r.user_id = ?1 ORDER BY d.created, d.id"))?;
    let rows = statement.query_map(params![user.raw(), now], DropRow::read)?.collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(|row| row.into_drop().map(|(drop, _)| drop)).collect()
}

pub(super) fn inbox_drop(db: &Connection, user: UserId, id: &DropId, now: i64) -> Result<Option<(StoredDrop, BlobId)>> {
    let row = db
        .prepare_cached(&format!("{DROP_SELECT} AND r.user_id = ?1 AND d.id = ?3"))?
        .query_row(params![user.raw(), now, &id.0[..]], DropRow::read)
        .optional()?;
    row.map(DropRow::into_drop).transpose()
}

/// Inside the caller's transaction.
pub(super) fn remove(tx: &Connection, user: UserId, id: &DropId, now: i64) -> Result<Option<Option<BlobId>>> {
    let removed = tx.execute(
        "UPDATE drop_recipients SET removed = ?3 WHERE drop_id = ?1 AND user_id = ?2 AND removed IS NULL
           AND EXISTS (SELECT 1 FROM drops WHERE id = ?1 AND ended IS NULL AND (expires IS NULL OR expires > ?3))",
        params![&id.0[..], user.raw(), now],
    )?;
    if removed == 0 {
        return Ok(None);
    }
    let blob: Option<String> = tx
        .query_row(
            "UPDATE drops SET ended = ?2, end_reason = 'delivered'
             WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM drop_recipients WHERE drop_id = ?1 AND removed IS NULL)
             RETURNING blob_id",
            params![&id.0[..], now],
            |row| row.get(0),
        )
        .optional()?;
    Ok(Some(blob.map(BlobId::from_db).transpose()?))
}

pub(super) fn store_receipt(db: &Connection, user: UserId, id: &DropId, receipt: &[u8], now: i64) -> Result<bool> {
    let stored = db.execute(
        "UPDATE drop_recipients SET receipt = ?3, receipt_time = ?4
         WHERE drop_id = ?1 AND user_id = ?2 AND removed IS NULL
           AND EXISTS (SELECT 1 FROM drops WHERE id = ?1 AND ended IS NULL AND (expires IS NULL OR expires > ?4))",
        params![&id.0[..], user.raw(), receipt, now],
    )?;
    Ok(stored == 1)
}

pub(super) fn revoke(db: &Connection, sender: UserId, id: &DropId, now: i64) -> Result<Option<BlobId>> {
    let blob: Option<String> = db
        .query_row(
            "UPDATE drops SET ended = ?3, end_reason = 'revoked'
             WHERE id = ?1 AND sender_id = ?2 AND ended IS NULL AND (expires IS NULL OR expires > ?3)
             RETURNING blob_id",
            params![&id.0[..], sender.raw(), now],
            |row| row.get(0),
        )
        .optional()?;
    blob.map(BlobId::from_db).transpose()
}

pub(super) fn end_expired(db: &Connection, now: i64) -> Result<Vec<BlobId>> {
    blob_ids(
        db,
        "UPDATE drops SET ended = expires, end_reason = 'expired'
         WHERE ended IS NULL AND expires IS NOT NULL AND expires <= ?1 RETURNING blob_id",
        [now],
    )
}

pub(super) fn forget_ended(db: &Connection, before: i64) -> Result<usize> {
    Ok(db.execute("DELETE FROM drops WHERE ended IS NOT NULL AND ended < ?1", [before])?)
}

pub(super) fn received_state(
    db: &Connection,
    user: UserId,
    id: &DropId,
    now: i64,
) -> Result<Option<(DropState, bool)>> {
    let row: Option<(Option<i64>, Option<String>, bool)> = db
        .query_row(
            "SELECT d.expires, d.end_reason, r.removed IS NOT NULL FROM drops d
             JOIN drop_recipients r ON r.drop_id = d.id WHERE d.id = ?1 AND r.user_id = ?2",
            params![&id.0[..], user.raw()],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    row.map(|(expires, reason, removed)| Ok((state(expires, reason.as_deref(), now)?, removed))).transpose()
}

/// A drop's state from its row at `now`.
fn state(expires: Option<i64>, end_reason: Option<&str>, now: i64) -> Result<DropState> {
    Ok(match end_reason {
        None if expires.is_some_and(|at| at <= now) => DropState::Expired,
        None => DropState::Waiting,
        Some("delivered") => DropState::Delivered,
        Some("revoked") => DropState::Revoked,
        Some("expired") => DropState::Expired,
        Some(_) => return Err(StoreError::Internal("database holds an invalid drop end reason".into())),
    })
}

/// On a read snapshot (the caller's transaction).
pub(super) fn sent(db: &Connection, sender: UserId, now: i64) -> Result<Vec<SentRecord>> {
    let mut statement = db.prepare_cached(
        "SELECT id, created, expires, end_reason, header FROM drops WHERE sender_id = ?1 ORDER BY created, id",
    )?;
    let rows = statement
        .query_map([sender.raw()], |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, Option<i64>>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Vec<u8>>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut recipients = db.prepare_cached(
        "SELECT u.name, r.removed IS NULL, r.receipt FROM drop_recipients r JOIN users u ON u.id = r.user_id
         WHERE r.drop_id = ?1 ORDER BY u.name",
    )?;
    let invalid = |what: &str| StoreError::Internal(format!("database holds an invalid drop {what}"));
    let mut sent = Vec::with_capacity(rows.len());
    for (id, received, expires, end_reason, header) in rows {
        let state = state(expires, end_reason.as_deref(), now)?;
        let listed = recipients
            .query_map([&id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, bool>(1)?, row.get(2)?)))?
            .collect::<rusqlite::Result<Vec<(String, bool, Option<Vec<u8>>)>>>()?;
        let recipients = listed
            .into_iter()
            .map(|(name, in_inbox, receipt)| {
                let user = Username::parse(&name).map_err(|_| invalid("recipient"))?;
                Ok(RecipientRecord { user, in_inbox: in_inbox && state == DropState::Waiting, receipt })
            })
            .collect::<Result<Vec<_>>>()?;
        let id = DropId(id.try_into().map_err(|_| invalid("id"))?);
        sent.push(SentRecord { id, received, expires, state, header, recipients });
    }
    Ok(sent)
}

/// Inside the caller's transaction: `user`'s inbox rows and the drops it
/// sent go, and a drop no inbox holds any more ends (delivered); returns
/// the blobs of the live drops that went or ended.
pub(super) fn forget_user(tx: &Connection, user: UserId) -> Result<Vec<BlobId>> {
    tx.execute("DELETE FROM drop_recipients WHERE user_id = ?1", [user.raw()])?;
    let gone = "(sender_id = ?1 OR NOT EXISTS (SELECT 1 FROM drop_recipients WHERE drop_id = drops.id))";
    let mut blobs = blob_ids(tx, &format!("SELECT blob_id FROM drops WHERE ended IS NULL AND {gone}"), [user.raw()])?;
    tx.execute(&format!("DELETE FROM drops WHERE {gone}"), [user.raw()])?;
    blobs.extend(blob_ids(
        tx,
        "UPDATE drops SET end_reason = 'delivered',
             ended = (SELECT max(removed) FROM drop_recipients WHERE drop_id = drops.id)
         WHERE ended IS NULL AND NOT EXISTS (SELECT 1 FROM drop_recipients WHERE drop_id = drops.id AND removed IS NULL)
         RETURNING blob_id",
        [],
    )?);
    Ok(blobs)
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
