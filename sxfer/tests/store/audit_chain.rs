//! The audit log's hash chain against a real data directory: edits,
//! deletions and moves made directly in the database are found at their
//! row; a chain rewritten without the storage key does not verify.

#![allow(clippy::unwrap_used)] // test: a failed unwrap is a failed test

use rusqlite::Connection;
use sxfer::store::{AuditEvent, AuditKind};

use super::helpers::*;

fn events(count: u64) -> (tempfile::TempDir, std::path::PathBuf) {
    let (temp, dir) = data_dir();
    let store = open(&dir);
    for n in 1..=count {
        store.audit(&AuditEvent::new(AuditKind::Upload, "ok").user("alice").size(n)).unwrap();
    }
    store.flush_audit().unwrap();
    (temp, dir)
}

fn database(dir: &std::path::Path) -> Connection {
    Connection::open(dir.join(sxfer::store::sqlite::DATABASE_FILE)).unwrap()
}

fn first_bad(dir: &std::path::Path) -> Option<u64> {
    open(dir).verify_audit().unwrap().first_bad
}

#[test]
fn an_untouched_log_verifies_with_its_head() {
    let (_temp, dir) = events(5);
    let found = open(&dir).verify_audit().unwrap();
    assert_eq!((found.rows, found.unchained, found.first_bad), (5, 0, None));
    assert_eq!(found.head.map(|(id, _)| id), Some(5));
}

#[test]
fn an_altered_row_is_found() {
    let (_temp, dir) = events(5);
    database(&dir).execute("UPDATE audit SET outcome = 'refused' WHERE id = 3", []).unwrap();
    assert_eq!(first_bad(&dir), Some(3));
}

#[test]
fn a_deleted_row_is_found_at_the_next() {
    let (_temp, dir) = events(5);
    database(&dir).execute("DELETE FROM audit WHERE id = 2", []).unwrap();
    assert_eq!(first_bad(&dir), Some(3));
}

#[test]
fn swapped_rows_are_found() {
    let (_temp, dir) = events(5);
    let db = database(&dir);
    db.execute("UPDATE audit SET id = 100 WHERE id = 2", []).unwrap();
    db.execute("UPDATE audit SET id = 2 WHERE id = 4", []).unwrap();
    db.execute("UPDATE audit SET id = 4 WHERE id = 100", []).unwrap();
    assert_eq!(first_bad(&dir), Some(2));
}

#[test]
fn a_chain_rewritten_without_the_key_does_not_verify() {
    let (_temp, dir) = events(3);
    // Whoever can write the database but not read storage.key: edit a row
    // and recompute every chain value with a key of their own.
    let db = database(&dir);
    db.execute("UPDATE audit SET size = 999 WHERE id = 2", []).unwrap();
    let forged = [0x42u8; 32];
    let mut previous = [0u8; 32];
    let store = open(&dir);
    for (id, record) in store.audit_log(0, 10).unwrap() {
        previous = sxfer::store::audit_chain::link(&forged, &previous, id, &record);
        db.execute("UPDATE audit SET chain = ?1 WHERE id = ?2", rusqlite::params![previous.to_vec(), id]).unwrap();
    }
    assert_eq!(first_bad(&dir), Some(1));
}

#[test]
fn new_rows_continue_the_chain_across_reopens() {
    let (_temp, dir) = events(2);
    let store = open(&dir);
    store.audit(&AuditEvent::new(AuditKind::Delete, "ok").user("bob")).unwrap();
    store.flush_audit().unwrap();
    drop(store);
    let found = open(&dir).verify_audit().unwrap();
    assert_eq!((found.rows, found.first_bad), (3, None));
}
