//! Group commit of small uploads (`store/batch.rs`).

use std::path::PathBuf;

use sxfer::store::{AuditEvent, AuditKind, Limits, StoreError};

use super::helpers::*;

fn stage(batch: &mut sxfer::store::Batch, name: &str, data: &[u8]) -> Result<(), StoreError> {
    batch.stage(file(name), meta(data.len()), data, data.len() as u64, digest(data))
}

#[test]
fn a_batch_commits_all_its_files_at_once_with_audit_rows() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    upload(&store, alice, "d/1", b"old version");
    let old_blob = blob_path(&dir, "d/1");
    // An unfinished large upload of a name the batch then stores.
    let mut unfinished = store.begin_upload(alice, &file("d/2"), meta(3 * CHUNK), true).expect("begin");
    unfinished.write(&bytes("x", CHUNK + 1)).expect("write");
    unfinished.abandon().expect("abandon");

    let mut batch = store.batch(alice);
    let contents: Vec<Vec<u8>> = (0..20).map(|i| bytes(&format!("f{i}"), i * 997)).collect();
    for (i, data) in contents.iter().enumerate() {
        stage(&mut batch, &format!("d/{i}"), data).expect("stage");
    }
    assert_eq!(batch.len(), 20);
    // Staged files are invisible until the commit.
    assert_eq!(store.list(alice, "d/").expect("list").len(), 1);
    assert_eq!(download(&store, alice, "d/1"), b"old version");

    let who = AuditEvent::new(AuditKind::Upload, "ok").user("alice").remote("192.0.2.7:4242".parse().expect("addr"));
    let results = batch.commit(&who).expect("commit");
    assert_eq!(results.len(), 20);
    for (i, (result, data)) in results.iter().zip(&contents).enumerate() {
        let entry = result.as_ref().expect("committed");
        assert_eq!((entry.name.as_str(), entry.digest), (format!("d/{i}").as_str(), digest(data)));
        assert_eq!(download(&store, alice, &format!("d/{i}")), *data);
    }
    // The replaced blob and the superseded partial are gone; nothing else is left over.
    assert!(!old_blob.exists());
    assert_eq!(files_under(&dir.join("blobs")).len(), 20);
    assert_eq!(files_under(&dir.join("partial")), Vec::<PathBuf>::new());
    let partial_rows: i64 = db(&dir).query_row("SELECT count(*) FROM partials", [], |row| row.get(0)).expect("count");
    assert_eq!(partial_rows, 0);
    let audited: Vec<(String, String, String)> = db(&dir)
        .prepare("SELECT name, remote, digest FROM audit WHERE kind = 'upload' AND user = 'alice' ORDER BY id")
        .expect("prepare")
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(audited.len(), 20);
    assert_eq!(
        audited[3],
        ("d/3".to_owned(), "192.0.2.7:4242".to_owned(), blake3::hash(&contents[3]).to_hex().to_string())
    );
}

#[test]
fn a_batch_refuses_bad_files_alone_and_drops_cleanly() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    store.set_limits(Limits { max_file_size: 100, ..Limits::default() });
    store.set_quota(&user("alice"), None, Some(2)).expect("quota");
    let mut batch = store.batch(alice);
    stage(&mut batch, "a", &[1; 10]).expect("stage");
    let wrong = batch.stage(file("b"), meta(10), &[2; 10], 10, digest(&[9; 10]));
    assert!(integrity(wrong).contains("digest"));
    let short = batch.stage(file("b"), meta(10), &[2; 9], 10, digest(&[2; 9]));
    assert!(integrity(short).contains("length"));
    assert!(matches!(stage(&mut batch, "big", &[0; 101]), Err(StoreError::TooLarge { .. })));
    stage(&mut batch, "b", &[2; 10]).expect("stage");
    stage(&mut batch, "c", &[3; 10]).expect("stage");
    assert_eq!(batch.len(), 3, "refused files are not staged");
    assert_eq!(files_under(&dir.join("partial")).len(), 3);

    // The file quota admits two: the third is refused inside the same commit.
    let results = batch.commit(&AuditEvent::new(AuditKind::Upload, "ok").user("alice")).expect("commit");
    assert!(results[0].is_ok() && results[1].is_ok());
    assert!(matches!(results[2], Err(StoreError::Quota(_))), "{:?}", results[2]);
    assert_eq!(store.stat(alice, &file("c")).expect("stat"), None);
    assert_eq!(files_under(&dir.join("blobs")).len(), 2, "the refused blob is removed");
    assert_eq!(files_under(&dir.join("partial")), Vec::<PathBuf>::new());

    // An uncommitted batch (the connection died) leaves nothing behind.
    store.set_quota(&user("alice"), None, None).expect("quota");
    let mut batch = store.batch(alice);
    stage(&mut batch, "d", &[4; 10]).expect("stage");
    drop(batch);
    assert_eq!(files_under(&dir.join("partial")), Vec::<PathBuf>::new());
    assert_eq!(files_under(&dir.join("blobs")).len(), 2);
    assert_eq!(store.stat(alice, &file("d")).expect("stat"), None);
}

#[test]
fn a_batch_counts_its_own_files_and_replacements_against_the_quota() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    store.set_quota(&user("alice"), Some(30), Some(2)).expect("quota");
    let mut batch = store.batch(alice);
    stage(&mut batch, "a", &[1; 10]).expect("stage");
    stage(&mut batch, "a", &[2; 20]).expect("stage"); // replaces the first a: 20 bytes, 1 file
    stage(&mut batch, "b", &[3; 10]).expect("stage"); // 30 bytes, 2 files
    stage(&mut batch, "c", &[4; 1]).expect("stage"); // a third file
    stage(&mut batch, "b", &[5; 11]).expect("stage"); // 31 bytes
    let results = batch.commit(&AuditEvent::new(AuditKind::Upload, "ok").user("alice")).expect("commit");
    let refused: Vec<bool> = results.iter().map(|result| matches!(result, Err(StoreError::Quota(_)))).collect();
    assert_eq!(refused, [false, false, false, true, true], "{results:?}");
    assert_eq!(store.usage(alice).expect("usage"), (30, 2));
    assert_eq!(store.stat(alice, &file("a")).expect("stat").expect("a").meta.size, 20);
    assert_eq!(store.stat(alice, &file("b")).expect("stat").expect("b").meta.size, 10);
    assert_eq!(files_under(&dir.join("blobs")).len(), 2, "replaced and refused blobs are removed");
}

#[test]
fn a_published_batch_is_invisible_until_committed_and_dropping_it_removes_its_blobs() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    let mut batch = store.batch(alice);
    stage(&mut batch, "a", &[1; 10]).expect("stage");
    stage(&mut batch, "b", &[2; 10]).expect("stage");
    batch.publish().expect("publish");
    assert_eq!(files_under(&dir.join("partial")), Vec::<PathBuf>::new(), "published files left partial/");
    assert_eq!(files_under(&dir.join("blobs")).len(), 2);
    assert_eq!(store.stat(alice, &file("a")).expect("stat"), None, "not visible before the commit");
    drop(batch);
    assert_eq!(files_under(&dir.join("blobs")), Vec::<PathBuf>::new(), "an uncommitted batch leaves nothing");

    let mut batch = store.batch(alice);
    stage(&mut batch, "c", &[3; 10]).expect("stage");
    batch.publish().expect("publish");
    let results = batch.commit(&AuditEvent::new(AuditKind::Upload, "ok").user("alice")).expect("commit");
    assert!(results[0].is_ok());
    assert_eq!(store.stat(alice, &file("c")).expect("stat").expect("c").meta.size, 10);
    assert_eq!(files_under(&dir.join("blobs")).len(), 1);
}
