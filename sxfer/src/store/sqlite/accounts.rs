//! Accounts, keys and invites in SQLite (`users`, `user_keys`, `invites`).

use rusqlite::{params, Connection, OptionalExtension, Row};
use sxfer_proto::identity::{Fingerprint, PublicIdentity};
use sxfer_proto::msgs::{ClientId, Username};

use super::{blob_ids, from_sql_int, to_sql_int};
use crate::store::error::{Result, StoreError};
use crate::store::meta::{Account, DeletedUser, NewUser, UserId, UserInfo};

/// Inside the caller's transaction.
pub(super) fn create_user(tx: &Connection, user: &NewUser<'_>) -> Result<UserInfo> {
    let name = user.name;
    if let Some(hash) = user.invite {
        let used = tx.execute(
            "UPDATE invites SET uses_left = uses_left - 1
             WHERE token_hash = ?1 AND uses_left > 0 AND expires > ?2",
            params![hash.as_slice(), user.now],
        )?;
        if used != 1 {
            return Err(StoreError::Invalid("the invite token is unknown, used up or expired".into()));
        }
    }
    if user_id(tx, name)?.is_some() {
        return Err(StoreError::Exists(format!("user {name}")));
    }
    tx.execute(
        "INSERT INTO users (name, client_id, password_hash, created) VALUES (?1, ?2, ?3, ?4)",
        params![name.as_str(), user.client_id.0.as_slice(), user.password_hash, user.now],
    )?;
    let id = UserId::from_raw(tx.last_insert_rowid());
    if let Some(key) = user.key {
        insert_key(tx, id, key, user.now)?;
    }
    let account = account(tx, name)?.ok_or_else(|| StoreError::Internal("new user vanished".into()))?;
    Ok(account.info)
}

pub(super) fn create_invite(db: &Connection, token_hash: &[u8; 32], uses: u32, expires: i64, now: i64) -> Result<()> {
    db.execute(
        "INSERT INTO invites (token_hash, uses_left, expires, created) VALUES (?1, ?2, ?3, ?4)",
        params![token_hash.as_slice(), uses, expires, now],
    )?;
    Ok(())
}

/// Inside the caller's transaction.
pub(super) fn delete_user(tx: &Connection, name: &Username) -> Result<DeletedUser> {
    let id = user_id(tx, name)?.ok_or_else(|| not_found(name))?.raw();
    let mut files = blob_ids(tx, "SELECT blob_id FROM files WHERE user_id = ?1", [id])?;
    let partials = blob_ids(tx, "SELECT blob_id FROM partials WHERE user_id = ?1", [id])?;
    files.extend(super::drops::forget_user(tx, UserId::from_raw(id))?);
    tx.execute("DELETE FROM files WHERE user_id = ?1", [id])?;
    tx.execute("DELETE FROM partials WHERE user_id = ?1", [id])?;
    tx.execute("DELETE FROM users WHERE id = ?1", [id])?;
    Ok(DeletedUser { files, partials })
}

/// The account and its password hash.
pub(super) fn account(db: &Connection, name: &Username) -> Result<Option<Account>> {
    let raw = db.prepare_cached(&format!("{USER_SELECT} WHERE u.name = ?1"))?.query_row([name.as_str()], RawUser::read);
    raw.optional()?.map(RawUser::into_account).transpose()
}

pub(super) fn list_users(db: &Connection) -> Result<Vec<UserInfo>> {
    let mut statement = db.prepare(&format!("{USER_SELECT} ORDER BY u.name"))?;
    let rows = statement.query_map([], RawUser::read)?.collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(|raw| raw.into_account().map(|account| account.info)).collect()
}

pub(super) fn set_password_hash(db: &Connection, name: &Username, hash: &str) -> Result<()> {
    let changed = db.execute("UPDATE users SET password_hash = ?1 WHERE name = ?2", params![hash, name.as_str()])?;
    if changed == 0 {
        return Err(not_found(name));
    }
    Ok(())
}

pub(super) fn set_quota(db: &Connection, name: &Username, bytes: Option<u64>, files: Option<u64>) -> Result<()> {
    let bytes = bytes.map(|value| to_sql_int(value, "quota")).transpose()?;
    let files = files.map(|value| to_sql_int(value, "quota")).transpose()?;
    let changed = db.execute(
        "UPDATE users SET quota_bytes = ?1, quota_files = ?2 WHERE name = ?3",
        params![bytes, files, name.as_str()],
    )?;
    if changed == 0 {
        return Err(not_found(name));
    }
    Ok(())
}

/// Inside the caller's transaction.
pub(super) fn add_key(tx: &Connection, name: &Username, key: &PublicIdentity, now: i64) -> Result<()> {
    let id = user_id(tx, name)?.ok_or_else(|| not_found(name))?;
    insert_key(tx, id, key, now)
}

pub(super) fn delete_key(tx: &Connection, name: &Username, fingerprint: &Fingerprint) -> Result<()> {
    let id = user_id(tx, name)?.ok_or_else(|| not_found(name))?;
    let changed = tx.execute(
        "DELETE FROM user_keys WHERE user_id = ?1 AND fingerprint = ?2",
        params![id.raw(), fingerprint.as_bytes().as_slice()],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("key {fingerprint} of user {name}")));
    }
    Ok(())
}

pub(super) fn list_keys(db: &Connection, name: &Username) -> Result<Vec<PublicIdentity>> {
    let id = user_id(db, name)?.ok_or_else(|| not_found(name))?;
    let mut statement =
        db.prepare("SELECT public_key, comment FROM user_keys WHERE user_id = ?1 ORDER BY added, fingerprint")?;
    let rows = statement
        .query_map([id.raw()], |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, String>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(wire, comment)| {
            let mut key = PublicIdentity::from_wire(&wire)
                .map_err(|err| StoreError::Internal(format!("database holds an invalid public key: {err}")))?;
            key.set_comment(comment);
            Ok(key)
        })
        .collect()
}

pub(super) fn key_wire(db: &Connection, user: UserId, fingerprint: &Fingerprint) -> Result<Option<Vec<u8>>> {
    Ok(db
        .prepare_cached("SELECT public_key FROM user_keys WHERE user_id = ?1 AND fingerprint = ?2")?
        .query_row(params![user.raw(), fingerprint.as_bytes().as_slice()], |row| row.get(0))
        .optional()?)
}

const USER_SELECT: &str = "SELECT u.id, u.name, u.client_id, u.password_hash, u.quota_bytes, u.quota_files, u.created,
        (SELECT count(*) FROM user_keys k WHERE k.user_id = u.id),
        (SELECT count(*) FROM files f WHERE f.user_id = u.id),
        (SELECT coalesce(sum(f.size), 0) FROM files f WHERE f.user_id = u.id)
    FROM users u";

/// A `users` row as stored, before checking.
struct RawUser {
    id: i64,
    name: String,
    client_id: Vec<u8>,
    password_hash: Option<String>,
    quota_bytes: Option<i64>,
    quota_files: Option<i64>,
    created: i64,
    keys: i64,
    files: i64,
    bytes: i64,
}

impl RawUser {
    fn read(row: &Row<'_>) -> rusqlite::Result<RawUser> {
        Ok(RawUser {
            id: row.get(0)?,
            name: row.get(1)?,
            client_id: row.get(2)?,
            password_hash: row.get(3)?,
            quota_bytes: row.get(4)?,
            quota_files: row.get(5)?,
            created: row.get(6)?,
            keys: row.get(7)?,
            files: row.get(8)?,
            bytes: row.get(9)?,
        })
    }

    fn into_account(self) -> Result<Account> {
        let name = Username::parse(&self.name)
            .map_err(|_| StoreError::Internal(format!("database holds an invalid user name {:?}", self.name)))?;
        let client_id = <[u8; 16]>::try_from(self.client_id.as_slice())
            .map_err(|_| StoreError::Internal(format!("database holds an invalid client id for {name}")))?;
        let info = UserInfo {
            id: UserId::from_raw(self.id),
            client_id: ClientId(client_id),
            has_password: self.password_hash.is_some(),
            keys: from_sql_int(self.keys, "key count")?,
            files: from_sql_int(self.files, "file count")?,
            bytes: from_sql_int(self.bytes, "byte count")?,
            quota_bytes: self.quota_bytes.map(|value| from_sql_int(value, "quota")).transpose()?,
            quota_files: self.quota_files.map(|value| from_sql_int(value, "quota")).transpose()?,
            created: self.created,
            name,
        };
        Ok(Account { info, password_hash: self.password_hash })
    }
}

fn user_id(db: &Connection, name: &Username) -> Result<Option<UserId>> {
    Ok(db
        .prepare_cached("SELECT id FROM users WHERE name = ?1")?
        .query_row([name.as_str()], |row| row.get(0))
        .optional()?
        .map(UserId::from_raw))
}

fn insert_key(db: &Connection, id: UserId, key: &PublicIdentity, now: i64) -> Result<()> {
    let fingerprint = key.fingerprint();
    let exists: bool = db.query_row(
        "SELECT EXISTS (SELECT 1 FROM user_keys WHERE user_id = ?1 AND fingerprint = ?2)",
        params![id.raw(), fingerprint.as_bytes().as_slice()],
        |row| row.get(0),
    )?;
    if exists {
        return Err(StoreError::Exists(format!("key {fingerprint}")));
    }
    db.execute(
        "INSERT INTO user_keys (user_id, fingerprint, public_key, comment, added) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id.raw(), fingerprint.as_bytes().as_slice(), key.to_wire(), key.comment(), now],
    )?;
    Ok(())
}

fn not_found(name: &Username) -> StoreError {
    StoreError::NotFound(format!("user {name}"))
}
