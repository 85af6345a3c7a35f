//! `sxfer::store` against a real data directory in a tempdir: layout and
//! modes, accounts, uploads (round trips, integrity, quotas, resume after an
//! interruption), tamper detection, rename/delete, garbage collection.

mod audit_chain;
mod batch;
mod conformance;
mod drops;
mod helpers;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

use rand_core::OsRng;
use sxfer::store::{
    durable_offset, AuditEvent, AuditKind, Download, Limits, Store, StoreError, Upload, UserId, CHUNK_SIZE,
};
use sxfer_proto::identity::PrivateIdentity;
use sxfer_proto::msgs::{FileEntry, FileMeta};

use helpers::*;

// ---- layout and keys -----------------------------------------------------

#[test]
fn open_creates_the_layout_and_keys_with_private_modes() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    for sub in ["", "blobs", "partial"] {
        assert_eq!(mode(&dir.join(sub)), 0o700, "{sub}/");
    }
    assert_eq!(mode(&dir.join("storage.key")), 0o600);
    assert_eq!(mode(&dir.join("sxfer.db")), 0o600);

    let key = fs::read_to_string(dir.join("storage.key")).expect("key file");
    let secret_lines: Vec<&str> = key.lines().filter(|line| !line.starts_with('#')).collect();
    assert_eq!(secret_lines.len(), 1);
    assert!(secret_lines[0].starts_with("AGE-SECRET-KEY-1"));
    let recipient = store.storage_recipient();
    assert!(recipient.starts_with("age1"), "{recipient}");
    assert_eq!(fs::read_to_string(dir.join("storage.pub")).expect("pub file"), format!("{recipient}\n"));

    let version: i64 = db(&dir).query_row("PRAGMA user_version", [], |row| row.get(0)).expect("version");
    assert_eq!(version, 5, "0001_initial, 0002_invites, 0003_drops, 0004_drop_status and 0005_audit_chain");
    let journal: String = db(&dir).query_row("PRAGMA journal_mode", [], |row| row.get(0)).expect("journal");
    assert_eq!(journal, "wal");

    drop(store);
    let again = open(&dir);
    assert_eq!(again.storage_recipient(), recipient, "reopening keeps the key");
}

#[test]
fn a_lost_storage_key_is_not_silently_replaced() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    upload(&store, alice, "a", b"secret");
    drop(store);
    fs::remove_file(dir.join("storage.key")).expect("remove key");
    match Store::open(&dir) {
        Err(StoreError::Internal(message)) => assert!(message.contains("restore"), "{message}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

// ---- accounts ------------------------------------------------------------

#[test]
fn passwords_are_argon2id_and_verify() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = store.add_user(&user("alice"), Some(&password("hunter2"))).expect("add");
    assert!(alice.has_password);
    let hash: String =
        db(&dir).query_row("SELECT password_hash FROM users WHERE name = 'alice'", [], |row| row.get(0)).expect("hash");
    assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
    assert!(!hash.contains("hunter2"));

    let verified = store.verify_password(&user("alice"), &password("hunter2")).expect("verify");
    assert_eq!(verified.as_ref().map(|info| info.client_id), Some(alice.client_id));
    assert_eq!(store.verify_password(&user("alice"), &password("hunter3")).expect("verify"), None);
    assert_eq!(store.verify_password(&user("mallory"), &password("hunter2")).expect("verify"), None);

    let bob = store.add_user(&user("bob"), None).expect("add");
    assert!(!bob.has_password);
    assert_eq!(store.verify_password(&user("bob"), &password("")).expect("verify"), None);
    assert_ne!(alice.client_id, bob.client_id);

    store.set_password(&user("alice"), &password("new")).expect("set password");
    assert!(store.verify_password(&user("alice"), &password("hunter2")).expect("verify").is_none());
    assert!(store.verify_password(&user("alice"), &password("new")).expect("verify").is_some());
    assert!(matches!(store.set_password(&user("nobody"), &password("x")), Err(StoreError::NotFound(_))));

    assert!(matches!(store.add_user(&user("alice"), None), Err(StoreError::Exists(_))));

    drop(store);
    let store = open(&dir);
    let listed = store.list_users().expect("list");
    let names: Vec<&str> = listed.iter().map(|info| info.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(listed[0].client_id, alice.client_id, "client ids are stable");
}

#[test]
fn keys_log_in_only_for_their_user() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let mut key = PrivateIdentity::generate_ed25519(&mut OsRng).expect("key").public().clone();
    key.set_comment("alice@laptop");
    let other = PrivateIdentity::generate_ed25519(&mut OsRng).expect("key").public().clone();
    store.add_user(&user("alice"), None).expect("add");
    store.add_user(&user("bob"), None).expect("add");

    store.add_key(&user("alice"), &key).expect("add key");
    assert!(matches!(store.add_key(&user("alice"), &key), Err(StoreError::Exists(_))));
    assert!(matches!(store.add_key(&user("nobody"), &key), Err(StoreError::NotFound(_))));
    let keys = store.list_keys(&user("alice")).expect("list keys");
    assert_eq!(keys, [key.clone()]);
    assert_eq!(keys[0].comment(), "alice@laptop");
    assert_eq!(store.user(&user("alice")).expect("user").map(|info| info.keys), Some(1));

    assert!(store.key_login(&user("alice"), &key).expect("login").is_some());
    assert!(store.key_login(&user("alice"), &other).expect("login").is_none());
    assert!(store.key_login(&user("bob"), &key).expect("login").is_none());
    assert!(store.key_login(&user("nobody"), &key).expect("login").is_none());

    store.delete_key(&user("alice"), &key.fingerprint()).expect("delete key");
    assert!(store.key_login(&user("alice"), &key).expect("login").is_none());
    assert!(matches!(store.delete_key(&user("alice"), &key.fingerprint()), Err(StoreError::NotFound(_))));
}

#[test]
fn registration_needs_a_credential_and_a_free_name() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let key = PrivateIdentity::generate_ed25519(&mut OsRng).expect("key").public().clone();
    assert!(matches!(store.register(&user("carol"), None, None), Err(StoreError::Invalid(_))));
    let carol = store.register(&user("carol"), None, Some(&key)).expect("register");
    assert_eq!((carol.has_password, carol.keys), (false, 1));
    assert!(store.key_login(&user("carol"), &key).expect("login").is_some());
    assert!(matches!(store.register(&user("carol"), Some(&password("pw")), None), Err(StoreError::Exists(_))));
    let dave = store.register(&user("dave"), Some(&password("pw")), Some(&key)).expect("register");
    assert_eq!((dave.has_password, dave.keys), (true, 1));
}

// ---- uploads and downloads -----------------------------------------------

#[test]
fn uploads_round_trip_byte_for_byte() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 << 20] {
        let data = bytes(&format!("round trip {size}"), size);
        let name = format!("dir/file-{size}");
        let entry = upload(&store, alice, &name, &data);
        assert_eq!((entry.meta, entry.digest), (meta(size), digest(&data)));
        assert_eq!(store.stat(alice, &file(&name)).expect("stat"), Some(entry.clone()));
        assert_eq!(download(&store, alice, &name), data, "size {size}");
        let blob = fs::read(blob_path(&dir, &name)).expect("blob");
        assert!(blob.starts_with(b"age-encryption.org/v1\n"));
        assert_eq!(mode(&blob_path(&dir, &name)), 0o600);
    }
    assert_eq!(files_under(&dir.join("partial")), Vec::<PathBuf>::new());
    let (bytes_used, files) = store.usage(alice).expect("usage");
    assert_eq!(files, 6);
    assert_eq!(bytes_used, (1 + (CHUNK - 1) + CHUNK + (CHUNK + 1) + (5 << 20)) as u64);
}

#[test]
fn downloads_seek_to_a_resume_offset() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    let data = bytes("seek", 3 * CHUNK + 17);
    upload(&store, alice, "f", &data);
    let (entry, mut download): (FileEntry, Download) =
        store.open_download(alice, &file("f")).expect("open").expect("exists");
    assert_eq!(download.size(), entry.meta.size);
    for offset in [CHUNK + 5, 5, 3 * CHUNK, 3 * CHUNK + 17] {
        download.seek(SeekFrom::Start(offset as u64)).expect("seek");
        let mut rest = Vec::new();
        download.read_to_end(&mut rest).expect("read");
        assert_eq!(rest, &data[offset..], "from {offset}");
    }
    assert!(store.open_download(alice, &file("missing")).expect("open").is_none());
}

#[test]
fn a_replaced_file_leaves_only_the_new_blob() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    upload(&store, alice, "f", b"old contents");
    upload(&store, alice, "f", b"new contents!");
    assert_eq!(download(&store, alice, "f"), b"new contents!");
    assert_eq!(files_under(&dir.join("blobs")).len(), 1);
    assert_eq!(store.usage(alice).expect("usage"), (13, 1));
}

#[test]
fn length_or_digest_mismatch_commits_nothing() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    let data = bytes("mismatch", 2 * CHUNK + 3);

    let mut wrong_digest = store.begin_upload(alice, &file("f"), meta(data.len()), false).expect("begin");
    write_pieces(&mut wrong_digest, &data);
    let mut bad = digest(&data);
    bad[0] ^= 1;
    assert!(integrity(wrong_digest.commit(data.len() as u64, &bad)).contains("digest"));

    let mut short = store.begin_upload(alice, &file("f"), meta(data.len()), false).expect("begin");
    write_pieces(&mut short, &data[..data.len() - 1]);
    integrity(short.commit(data.len() as u64 - 1, &digest(&data[..data.len() - 1])));

    let mut long = store.begin_upload(alice, &file("f"), meta(data.len()), false).expect("begin");
    write_pieces(&mut long, &data);
    integrity(long.write(b"x"));
    integrity(long.commit(data.len() as u64 + 1, &digest(&data)));

    assert_eq!(store.stat(alice, &file("f")).expect("stat"), None);
    assert!(store.open_download(alice, &file("f")).expect("open").is_none());
    assert_eq!(files_under(&dir.join("blobs")), Vec::<PathBuf>::new());
    assert_eq!(files_under(&dir.join("partial")), Vec::<PathBuf>::new());
    let partial_rows: i64 = db(&dir).query_row("SELECT count(*) FROM partials", [], |row| row.get(0)).expect("rows");
    assert_eq!(partial_rows, 0);
}

#[test]
fn size_limit_and_quotas_are_enforced() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    store.set_limits(Limits { max_file_size: 1000, ..Limits::default() });
    match store.begin_upload(alice, &file("big"), meta(1001), false) {
        Err(error @ StoreError::TooLarge { .. }) => assert_eq!(error.code(), 0x0004),
        other => panic!("expected TooLarge, got {:?}", other.map(|upload| upload.offset())),
    }
    store.begin_upload(alice, &file("ok"), meta(1000), false).expect("at the limit").discard();

    store.set_quota(&user("alice"), Some(100), Some(2)).expect("quota");
    upload(&store, alice, "a", &[1; 60]);
    let over = store.begin_upload(alice, &file("b"), meta(41), false);
    assert!(matches!(over, Err(StoreError::Quota(_))), "{:?}", over.map(|upload| upload.offset()));
    upload(&store, alice, "b", &[2; 40]);
    // Replacing a file counts only the difference.
    upload(&store, alice, "a", &[3; 60]);
    let third = store.begin_upload(alice, &file("c"), meta(0), false);
    assert!(matches!(third, Err(StoreError::Quota(_))), "file count");

    // The server default applies to accounts without their own quota.
    store.set_quota(&user("alice"), None, None).expect("quota");
    store.set_limits(Limits {
        max_file_size: 1000,
        default_quota_bytes: Some(120),
        default_quota_files: None,
        ..Limits::default()
    });
    assert!(matches!(store.begin_upload(alice, &file("c"), meta(21), false), Err(StoreError::Quota(_))));
    upload(&store, alice, "c", &[4; 20]);

    // Two uploads that each fit, but not together: the second commit is refused.
    store.set_limits(Limits {
        max_file_size: 1000,
        default_quota_bytes: Some(200),
        default_quota_files: None,
        ..Limits::default()
    });
    let mut first = store.begin_upload(alice, &file("d"), meta(50), false).expect("begin");
    let mut second = store.begin_upload(alice, &file("e"), meta(50), false).expect("begin");
    first.write(&[5; 50]).expect("write");
    second.write(&[6; 50]).expect("write");
    first.commit(50, &digest(&[5; 50])).expect("first fits");
    assert!(matches!(second.commit(50, &digest(&[6; 50])), Err(StoreError::Quota(_))));
    assert_eq!(store.stat(alice, &file("e")).expect("stat"), None);
    assert_eq!(files_under(&dir.join("blobs")).len(), 4);
}

#[test]
fn an_interrupted_upload_resumes_at_the_durable_offset() {
    let (_temp, dir) = data_dir();
    let data = bytes("resume", 5 * CHUNK + 123);
    let written = 3 * CHUNK + CHUNK / 2;
    let alice = {
        let store = open(&dir);
        let alice = new_user(&store, "alice");
        let mut upload = store.begin_upload(alice, &file("big"), meta(data.len()), true).expect("begin");
        assert_eq!(upload.offset(), 0, "nothing to resume yet");
        write_pieces(&mut upload, &data[..written]);
        assert_eq!(upload.sync().expect("sync"), 3 * CHUNK_SIZE);
        assert_eq!(durable_offset(written as u64), 3 * CHUNK_SIZE);
        drop(upload); // the connection died: no commit, no abandon
        alice
    };

    let store = open(&dir);
    let partial_before = files_under(&dir.join("partial"));
    assert_eq!(partial_before.len(), 1, "the partial survives a reopen");
    let mut upload = store.begin_upload(alice, &file("big"), meta(data.len()), true).expect("resume");
    assert_eq!(upload.offset(), 3 * CHUNK_SIZE);
    let partial_after = files_under(&dir.join("partial"));
    assert_eq!(partial_after.len(), 1, "the old partial was replaced by the copy");
    assert_ne!(partial_after, partial_before);
    write_pieces(&mut upload, &data[3 * CHUNK..]);
    let entry = upload.commit(data.len() as u64, &digest(&data)).expect("commit");
    assert_eq!(entry.digest, digest(&data));
    assert_eq!(download(&store, alice, "big"), data);
    assert_eq!(files_under(&dir.join("partial")), Vec::<PathBuf>::new());
}

#[test]
fn resume_needs_the_same_metadata_and_a_request() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    let data = bytes("meta", 4 * CHUNK);
    let start = |resume: bool, meta: FileMeta| {
        let mut upload = store.begin_upload(alice, &file("f"), meta, resume).expect("begin");
        let offset = upload.offset();
        if offset == 0 {
            write_pieces(&mut upload, &data[..2 * CHUNK + 1]);
        }
        upload.abandon().expect("abandon");
        offset
    };
    assert_eq!(start(true, meta(data.len())), 0);
    assert_eq!(start(true, meta(data.len())), 2 * CHUNK_SIZE);
    let newer = FileMeta { mtime: 1_800_000_000, ..meta(data.len()) };
    assert_eq!(start(true, newer), 0, "a different mtime starts over");
    assert_eq!(start(false, newer), 0, "resume=false starts over");
    assert_eq!(start(true, newer), 2 * CHUNK_SIZE);
    assert_eq!(files_under(&dir.join("partial")).len(), 1, "one partial per name");
}

#[test]
fn a_torn_partial_resumes_from_its_last_whole_chunk() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    let data = bytes("torn", 4 * CHUNK + 1);
    let mut upload = store.begin_upload(alice, &file("f"), meta(data.len()), true).expect("begin");
    write_pieces(&mut upload, &data[..3 * CHUNK + 1]);
    upload.abandon().expect("abandon");
    // A crash mid-write: the third chunk only half on disk.
    let partial = files_under(&dir.join("partial")).pop().expect("partial");
    let length = fs::metadata(&partial).expect("metadata").len();
    OpenOptions::new().write(true).open(&partial).expect("open").set_len(length - 1000).expect("truncate");
    let mut upload = store.begin_upload(alice, &file("f"), meta(data.len()), true).expect("resume");
    assert_eq!(upload.offset(), 2 * CHUNK_SIZE);
    write_pieces(&mut upload, &data[2 * CHUNK..]);
    upload.commit(data.len() as u64, &digest(&data)).expect("commit");
    assert_eq!(download(&store, alice, "f"), data);
}

#[test]
fn a_tampered_or_truncated_blob_fails_to_read() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    let data = bytes("tamper", 3 * CHUNK + 10);
    let read_all = |name: &str| -> Result<Vec<u8>, String> {
        let (_, mut download) = store.open_download(alice, &file(name)).map_err(|e| e.to_string())?.expect("exists");
        let mut out = Vec::new();
        download.read_to_end(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    };

    upload(&store, alice, "flipped", &data);
    let path = blob_path(&dir, "flipped");
    let mut blob = fs::read(&path).expect("blob");
    let middle = blob.len() / 2;
    blob[middle] ^= 0x01;
    fs::write(&path, &blob).expect("write blob");
    assert!(read_all("flipped").is_err(), "a flipped bit must not decrypt");

    // The last chunk is 10 bytes + a 16-byte tag: cut into it, exactly off,
    // and off together with the whole chunk before it.
    for cut in [1, 17, 26, CHUNK + 16 + 26] {
        let name = format!("truncated-{cut}");
        upload(&store, alice, &name, &data);
        let path = blob_path(&dir, &name);
        let length = fs::metadata(&path).expect("metadata").len();
        OpenOptions::new().write(true).open(&path).expect("open").set_len(length - cut as u64).expect("truncate");
        assert!(read_all(&name).is_err(), "cut {cut} bytes");
    }

    upload(&store, alice, "header", &data);
    let path = blob_path(&dir, "header");
    let mut blob = fs::read(&path).expect("blob");
    blob[40] ^= 0x01;
    fs::write(&path, &blob).expect("write blob");
    integrity(store.open_download(alice, &file("header")).map(|found| found.map(|(entry, _)| entry)));
}

// ---- files -----------------------------------------------------------------

#[test]
fn list_is_a_sorted_plain_prefix_match() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    let bob = new_user(&store, "bob");
    for name in ["b", "a/x", "a%b", "a_c", "ab", "a/y", "é", "z"] {
        upload(&store, alice, name, name.as_bytes());
    }
    upload(&store, bob, "a/bob", b"bob's");
    let names = |prefix: &str| -> Vec<String> {
        store.list(alice, prefix).expect("list").into_iter().map(|entry| entry.name.as_str().to_owned()).collect()
    };
    assert_eq!(names(""), ["a%b", "a/x", "a/y", "a_c", "ab", "b", "z", "é"]);
    assert_eq!(names("a/"), ["a/x", "a/y"]);
    assert_eq!(names("a%"), ["a%b"], "% is not a wildcard");
    assert_eq!(names("a_"), ["a_c"], "_ is not a wildcard");
    assert_eq!(names("é"), ["é"]);
    assert_eq!(names("q"), Vec::<String>::new());
    assert_eq!(store.list(bob, "").expect("list").len(), 1, "scoped to the user");
}

#[test]
fn rename_and_delete() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    let bob = new_user(&store, "bob");
    upload(&store, alice, "one", b"1");
    upload(&store, alice, "two", b"22");

    store.rename(alice, &file("one"), &file("uno"), false).expect("rename");
    assert_eq!(store.stat(alice, &file("one")).expect("stat"), None);
    assert_eq!(download(&store, alice, "uno"), b"1");
    assert!(matches!(store.rename(alice, &file("uno"), &file("two"), false), Err(StoreError::Exists(_))));
    assert!(matches!(store.rename(alice, &file("nope"), &file("x"), true), Err(StoreError::NotFound(_))));
    assert!(matches!(store.rename(bob, &file("uno"), &file("x"), true), Err(StoreError::NotFound(_))));
    store.rename(alice, &file("uno"), &file("two"), true).expect("rename over");
    assert_eq!(download(&store, alice, "two"), b"1");
    assert_eq!(files_under(&dir.join("blobs")).len(), 1, "the replaced blob is gone");

    assert!(!store.delete(bob, &file("two")).expect("delete"), "another user's file");
    assert!(store.delete(alice, &file("two")).expect("delete"));
    assert!(!store.delete(alice, &file("two")).expect("delete again"));
    assert_eq!(files_under(&dir.join("blobs")), Vec::<PathBuf>::new());
    assert_eq!(store.usage(alice).expect("usage"), (0, 0));
}

#[test]
fn delete_user_removes_their_blobs_and_partials() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    let bob = new_user(&store, "bob");
    let key = PrivateIdentity::generate_ed25519(&mut OsRng).expect("key").public().clone();
    store.add_key(&user("alice"), &key).expect("add key");
    upload(&store, alice, "a", &bytes("a", 100));
    upload(&store, alice, "b", &bytes("b", 2 * CHUNK));
    upload(&store, bob, "c", b"bob keeps this");
    let mut partial = store.begin_upload(alice, &file("p"), meta(3 * CHUNK), false).expect("begin");
    partial.write(&bytes("p", CHUNK + 1)).expect("write");
    partial.abandon().expect("abandon");

    store.delete_user(&user("alice")).expect("delete user");
    assert!(store.user(&user("alice")).expect("lookup").is_none());
    assert!(matches!(store.delete_user(&user("alice")), Err(StoreError::NotFound(_))));
    assert_eq!(files_under(&dir.join("blobs")).len(), 1);
    assert_eq!(files_under(&dir.join("partial")), Vec::<PathBuf>::new());
    assert_eq!(download(&store, bob, "c"), b"bob keeps this");
    let keys: i64 = db(&dir).query_row("SELECT count(*) FROM user_keys", [], |row| row.get(0)).expect("count");
    assert_eq!(keys, 0);
}

// ---- recovery at open ------------------------------------------------------

#[test]
fn open_collects_what_a_crash_left_behind() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    upload(&store, alice, "kept", b"committed");
    let mut live = store.begin_upload(alice, &file("live"), meta(2 * CHUNK), false).expect("begin");
    live.write(&[7; CHUNK + 1]).expect("write");
    live.abandon().expect("abandon");
    let mut stale = store.begin_upload(alice, &file("stale"), meta(2 * CHUNK), false).expect("begin");
    stale.write(&[8; 10]).expect("write");
    stale.abandon().expect("abandon");
    drop(store);

    let hour = Duration::from_secs(3600);
    let week = Duration::from_secs(8 * 24 * 3600);
    let orphan_blob = dir.join("blobs/ab/ab0123456789abcdef0123456789abcd");
    let young_orphan = dir.join("blobs/cd/cd0123456789abcdef0123456789abcd");
    let orphan_partial = dir.join("partial/ef0123456789abcdef0123456789abcd");
    let stray = dir.join("blobs/ab/README");
    for path in [&orphan_blob, &young_orphan, &orphan_partial, &stray] {
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        File::create(path).expect("create").write_all(b"junk").expect("write");
    }
    backdate(&orphan_blob, 2 * hour);
    backdate(&orphan_partial, 2 * hour);
    // The stale upload: begun over a week ago, untouched since.
    let connection = db(&dir);
    let stale_id: String = connection
        .query_row("SELECT blob_id FROM partials WHERE name = 'stale'", [], |row| row.get(0))
        .expect("stale row");
    connection.execute("UPDATE partials SET created = created - 8 * 86400 WHERE name = 'stale'", []).expect("age");
    drop(connection);
    backdate(&dir.join("partial").join(&stale_id), week);

    let store = open(&dir);
    assert!(!orphan_blob.exists(), "unreferenced blob removed");
    assert!(!orphan_partial.exists(), "unreferenced partial removed");
    assert!(young_orphan.exists(), "a fresh file may be another process's commit in flight");
    assert!(stray.exists(), "files that are not ours are left alone");
    assert!(!dir.join("partial").join(&stale_id).exists(), "week-old partial removed");
    let names: Vec<String> = db(&dir)
        .prepare("SELECT name FROM partials")
        .and_then(|mut statement| statement.query_map([], |row| row.get(0))?.collect())
        .expect("partials");
    assert_eq!(names, ["live"]);
    assert_eq!(download(&store, alice, "kept"), b"committed");
    let resumed = store.begin_upload(alice, &file("live"), meta(2 * CHUNK), true).expect("resume");
    assert_eq!(resumed.offset(), CHUNK_SIZE);
}

// ---- audit and sharing -------------------------------------------------------

#[test]
fn audit_events_are_recorded() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let remote = "192.0.2.7:4242".parse().expect("address");
    store
        .audit(&AuditEvent::new(AuditKind::LoginFailed, "rejected").user("mallory").remote(remote).detail("password"))
        .expect("audit");
    let data = b"payload";
    store
        .audit(
            &AuditEvent::new(AuditKind::Upload, "ok")
                .user("alice")
                .name(&file("r/q3.pdf"))
                .size(7)
                .digest(digest(data)),
        )
        .expect("audit");
    // Recording only enqueues; the flush waits for the writer.
    store.flush_audit().expect("flush");
    let connection = db(&dir);
    let column = |column: &str, id: i64| -> Option<String> {
        connection
            .query_row(&format!("SELECT CAST({column} AS TEXT) FROM audit WHERE id = ?1"), [id], |row| row.get(0))
            .expect("audit row")
    };
    assert_eq!(column("kind", 1).as_deref(), Some("login_failed"));
    assert_eq!(column("user", 1).as_deref(), Some("mallory"));
    assert_eq!(column("remote", 1).as_deref(), Some("192.0.2.7:4242"));
    assert_eq!(column("detail", 1).as_deref(), Some("password"));
    assert_eq!(column("outcome", 1).as_deref(), Some("rejected"));
    assert_eq!(column("name", 1), None);
    assert_eq!(column("kind", 2).as_deref(), Some("upload"));
    assert_eq!(column("name", 2).as_deref(), Some("r/q3.pdf"));
    assert_eq!(column("size", 2).as_deref(), Some("7"));
    assert_eq!(column("digest", 2).as_deref(), Some(blake3::hash(data).to_hex().as_str()));
    assert_eq!(column("outcome", 2).as_deref(), Some("ok"));
    assert!(column("time", 2).and_then(|time| time.parse::<i64>().ok()).is_some_and(|time| time > 1_700_000_000));
}

#[test]
fn store_uploads_and_downloads_cross_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    fn movable<T: Send + 'static>() {}
    shareable::<Store>();
    movable::<Upload>();
    movable::<Download>();

    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    let threads: Vec<_> = (0..4)
        .map(|index| {
            let store = store.clone();
            std::thread::spawn(move || {
                let data = bytes(&format!("thread {index}"), CHUNK * 2 + index);
                upload(&store, alice, &format!("t{index}"), &data);
                assert_eq!(download(&store, alice, &format!("t{index}")), data);
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread");
    }
    assert_eq!(store.usage(alice).expect("usage").1, 4);
}

#[test]
fn unfinished_uploads_are_capped_per_user_oldest_first() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let alice = new_user(&store, "alice");
    let bob = new_user(&store, "bob");
    let data = bytes("cap", 2 * CHUNK + 1);
    let start = |owner: UserId, name: &str| {
        let mut upload = store.begin_upload(owner, &file(name), meta(data.len()), true).expect("begin");
        write_pieces(&mut upload, &data);
        upload.sync().expect("sync");
        drop(upload); // interrupted
    };
    start(bob, "bobs");
    for i in 0..10 {
        start(alice, &format!("f{i}"));
    }
    let cap = sxfer::store::MAX_PARTIALS_PER_USER as usize;
    assert_eq!(files_under(&dir.join("partial")).len(), cap + 1, "alice's {cap} newest and bob's one");
    let resumes = |owner: UserId, name: &str| {
        let upload = store.begin_upload(owner, &file(name), meta(data.len()), true).expect("begin");
        let offset = upload.offset();
        drop(upload);
        offset
    };
    assert_eq!(resumes(bob, "bobs"), 2 * CHUNK_SIZE, "another user's partial is untouched");
    assert_eq!(resumes(alice, "f9"), 2 * CHUNK_SIZE, "the newest still resumes");
    assert_eq!(resumes(alice, "f0"), 0, "the oldest was evicted");
}
