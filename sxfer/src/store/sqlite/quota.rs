//! What counts against an account's quota (files, and drops it sent that
//! an inbox still holds), for the file and drop checks alike.

use rusqlite::{Connection, OptionalExtension};

use super::from_sql_int;
use crate::store::error::{Result, StoreError};
use crate::store::meta::{Quota, UserId};
use crate::store::Limits;

/// The user's quota and usage; `NotFound` without the user.
pub(super) fn load_quota(db: &Connection, limits: &Limits, user: UserId) -> Result<Option<Quota>> {
    let quotas: Option<(Option<i64>, Option<i64>)> = db
        .prepare_cached("SELECT quota_bytes, quota_files FROM users WHERE id = ?1")?
        .query_row([user.raw()], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let Some((bytes, files)) = quotas else {
        return Err(StoreError::NotFound(format!("user {user}")));
    };
    let bytes = bytes.map(|value| from_sql_int::<u64>(value, "quota")).transpose()?;
    let files = files.map(|value| from_sql_int::<u64>(value, "quota")).transpose()?;
    Quota::new(bytes, files, limits, || usage(db, user))
}

/// What counts against `user`'s quota: its files, and the drops it sent
/// that some inbox still holds (at their ciphertext length).
pub(super) fn usage(db: &Connection, user: UserId) -> Result<(u64, u64)> {
    let (bytes, files): (i64, i64) = db
        .prepare_cached("SELECT coalesce(sum(size), 0), count(*) FROM files WHERE user_id = ?1")?
        .query_row([user.raw()], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let (drop_bytes, drops) = sent_usage(db, user)?;
    let bytes: u64 = from_sql_int(bytes, "byte count")?;
    let files: u64 = from_sql_int(files, "file count")?;
    Ok((bytes.saturating_add(drop_bytes), files.saturating_add(drops)))
}

/// Bytes and count of the drops `user` sent that some inbox still holds:
/// what they add to the sender's usage.
pub(super) fn sent_usage(db: &Connection, user: UserId) -> Result<(u64, u64)> {
    let (bytes, count): (i64, i64) = db
        .prepare_cached(
            "SELECT coalesce(sum(ciphertext_length), 0), count(*) FROM drops WHERE sender_id = ?1 AND ended IS NULL",
        )?
        .query_row([user.raw()], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok((from_sql_int(bytes, "byte count")?, from_sql_int(count, "drop count")?))
}
