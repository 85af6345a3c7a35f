//! The SQLite database: connection settings and embedded migrations.
//!
//! Migration *n* (1-based) is `MIGRATIONS[n - 1]`; `PRAGMA user_version`
//! records how many are applied. Each runs in its own transaction together
//! with the version bump, so a crash leaves the old or the new schema.

use std::fs::OpenOptions;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::store::error::{io_context, Result, StoreError};

/// Mode of the database file (and of SQLite's -wal and -shm files).
const PRIVATE_FILE_MODE: u32 = 0o600;

/// How long a statement waits for another process's write lock (e.g. an
/// admin command running while the server is up).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_invites.sql"),
    include_str!("migrations/0003_drops.sql"),
    include_str!("migrations/0004_drop_status.sql"),
    include_str!("migrations/0005_audit_chain.sql"),
];

/// Opens (creating, 0600) the database with the settings the crash-safety
/// argument relies on: WAL, `synchronous=FULL` (a commit is durable when it
/// returns), foreign keys on.
pub(super) fn open_database(path: &Path) -> Result<Connection> {
    // Create the file ourselves so it is 0600 from the start; SQLite gives
    // its -wal and -shm files the same mode.
    io_context(create_if_missing(path), "cannot create", path)?;
    let db = Connection::open(path)?;
    db.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = db.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Internal(format!("{}: cannot switch to WAL mode (got {mode})", path.display())));
    }
    db.pragma_update(None, "synchronous", "FULL")?;
    db.pragma_update(None, "foreign_keys", true)?;
    Ok(db)
}

/// Applies every migration newer than the database's `user_version`.
pub(super) fn migrate(db: &mut Connection) -> Result<()> {
    let known = MIGRATIONS.len() as i64;
    let current: i64 = db.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if current > known {
        return Err(StoreError::Internal(format!(
            "the database has schema version {current}, newer than this sxfer knows ({known}); upgrade sxfer"
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let tx = db.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        // Another process may have migrated while we waited for the lock.
        let now: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if now >= version {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}

fn create_if_missing(path: &Path) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, PRIVATE_FILE_MODE);
    options.open(path).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_record_the_version() -> Result<()> {
        let mut db = Connection::open_in_memory()?;
        migrate(&mut db)?;
        migrate(&mut db)?;
        let version: i64 = db.pragma_query_value(None, "user_version", |row| row.get(0))?;
        assert_eq!(version, MIGRATIONS.len() as i64);
        let tables: i64 = db.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('users', 'user_keys', 'files', 'partials', 'audit')",
            [],
            |row| row.get(0),
        )?;
        assert_eq!(tables, 5);
        Ok(())
    }

    #[test]
    fn a_newer_database_is_refused() -> Result<()> {
        let mut db = Connection::open_in_memory()?;
        db.pragma_update(None, "user_version", 999)?;
        assert!(matches!(migrate(&mut db), Err(StoreError::Internal(_))));
        Ok(())
    }
}
