//! What every [`MetaStore`] must do.

use std::collections::HashSet;

use rand_core::OsRng;
use sxfer::store::{
    AuditEvent, AuditKind, AuditRecord, BlobId, Limits, MetaStore, NewFile, NewUser, StoreError, UserId, UserInfo,
};
use sxfer_proto::identity::{PrivateIdentity, PublicIdentity};
use sxfer_proto::msgs::{ClientId, FileMeta};

use super::Backend;
use crate::store::helpers::{digest, file, meta, user};

const NOW: i64 = 1_800_000_000;

fn new_user<'a>(name: &'a sxfer_proto::msgs::Username, seed: u8) -> NewUser<'a> {
    NewUser { name, client_id: ClientId([seed; 16]), password_hash: None, key: None, invite: None, now: NOW }
}

fn create(meta: &dyn MetaStore, name: &str) -> UserInfo {
    let name = user(name);
    meta.create_user(&new_user(&name, name.as_str().as_bytes()[0])).expect("create user")
}

fn key() -> PublicIdentity {
    PrivateIdentity::generate_ed25519(&mut OsRng).expect("key").public().clone()
}

fn new_file(name: &str, size: usize) -> NewFile {
    NewFile { name: file(name), meta: meta(size), digest: digest(name.as_bytes()), blob: BlobId::generate() }
}

fn commit(meta: &dyn MetaStore, owner: UserId, new: &NewFile) -> Option<BlobId> {
    meta.commit_upload(owner, new, &Limits::default(), NOW).expect("commit").1
}

pub fn accounts_are_created_once_and_listed_by_name(backend: &dyn Backend) {
    let meta = backend.meta();
    let (bob_name, alice_name) = (user("bob"), user("alice"));
    let bob = meta.create_user(&new_user(&bob_name, 2)).expect("bob");
    let hashed = NewUser { password_hash: Some("$argon2id$stand-in"), ..new_user(&alice_name, 1) };
    let alice = meta.create_user(&hashed).expect("alice");
    assert_eq!((alice.name.as_str(), alice.client_id, alice.created), ("alice", ClientId([1; 16]), NOW));
    assert_eq!((alice.has_password, bob.has_password), (true, false));
    assert_eq!((alice.keys, alice.files, alice.bytes, alice.quota_bytes, alice.quota_files), (0, 0, 0, None, None));
    assert_ne!(alice.id, bob.id);
    assert!(matches!(meta.create_user(&new_user(&alice_name, 3)), Err(StoreError::Exists(_))));

    let account = meta.account(&alice_name).expect("account").expect("alice exists");
    assert_eq!(account.info, alice);
    assert_eq!(account.password_hash.as_deref(), Some("$argon2id$stand-in"));
    assert_eq!(meta.account(&user("nobody")).expect("account"), None);
    let names: Vec<String> = meta.list_users().expect("list").iter().map(|u| u.name.as_str().to_owned()).collect();
    assert_eq!(names, ["alice", "bob"]);
    // Another handle (a restart) sees the same accounts.
    assert_eq!(backend.meta().account(&bob_name).expect("account").map(|a| a.info), Some(bob));
}

pub fn passwords_and_quotas_change_existing_accounts_only(backend: &dyn Backend) {
    let meta = backend.meta();
    create(&*meta, "alice");
    let alice = user("alice");
    meta.set_password_hash(&alice, "$argon2id$new").expect("set hash");
    meta.set_quota(&alice, Some(100), None).expect("set quota");
    let account = meta.account(&alice).expect("account").expect("exists");
    assert_eq!(account.password_hash.as_deref(), Some("$argon2id$new"));
    assert!(account.info.has_password);
    assert_eq!((account.info.quota_bytes, account.info.quota_files), (Some(100), None));
    meta.set_quota(&alice, None, Some(5)).expect("set quota");
    let info = meta.account(&alice).expect("account").expect("exists").info;
    assert_eq!((info.quota_bytes, info.quota_files), (None, Some(5)));
    let nobody = user("nobody");
    assert!(matches!(meta.set_password_hash(&nobody, "x"), Err(StoreError::NotFound(_))));
    assert!(matches!(meta.set_quota(&nobody, None, None), Err(StoreError::NotFound(_))));
}

pub fn keys_belong_to_one_user_oldest_first(backend: &dyn Backend) {
    let meta = backend.meta();
    let alice = create(&*meta, "alice");
    let bob = create(&*meta, "bob");
    let (mut newer, older) = (key(), key());
    newer.set_comment("alice@laptop");
    meta.add_key(&user("alice"), &newer, NOW + 10).expect("add");
    meta.add_key(&user("alice"), &older, NOW).expect("add");
    assert!(matches!(meta.add_key(&user("alice"), &older, NOW), Err(StoreError::Exists(_))));
    assert!(matches!(meta.add_key(&user("nobody"), &older, NOW), Err(StoreError::NotFound(_))));
    let listed = meta.list_keys(&user("alice")).expect("list");
    assert_eq!(listed, [older.clone(), newer.clone()], "oldest first");
    assert_eq!(listed[1].comment(), "alice@laptop");
    assert_eq!(meta.account(&user("alice")).expect("account").expect("exists").info.keys, 2);

    assert_eq!(meta.key_wire(alice.id, &newer.fingerprint()).expect("key"), Some(newer.to_wire()));
    assert_eq!(meta.key_wire(bob.id, &newer.fingerprint()).expect("key"), None, "not bob's");
    assert_eq!(meta.key_wire(alice.id, &key().fingerprint()).expect("key"), None);

    meta.delete_key(&user("alice"), &newer.fingerprint()).expect("delete");
    assert_eq!(meta.key_wire(alice.id, &newer.fingerprint()).expect("key"), None);
    assert!(matches!(meta.delete_key(&user("alice"), &newer.fingerprint()), Err(StoreError::NotFound(_))));
    assert!(matches!(meta.delete_key(&user("nobody"), &older.fingerprint()), Err(StoreError::NotFound(_))));
    assert!(matches!(meta.list_keys(&user("nobody")), Err(StoreError::NotFound(_))));

    // A first key with the account, in the same step.
    let carol_key = key();
    let carol_name = user("carol");
    let carol = meta.create_user(&NewUser { key: Some(&carol_key), ..new_user(&carol_name, 3) }).expect("carol");
    assert_eq!(carol.keys, 1);
    assert_eq!(meta.key_wire(carol.id, &carol_key.fingerprint()).expect("key"), Some(carol_key.to_wire()));
}

pub fn invites_admit_as_many_accounts_as_they_have_uses(backend: &dyn Backend) {
    let meta = backend.meta();
    let (token, expiring) = ([7u8; 32], [8u8; 32]);
    meta.create_invite(&token, 2, NOW + 100, NOW).expect("invite");
    meta.create_invite(&expiring, 5, NOW + 10, NOW).expect("invite");
    let names: Vec<_> = ["a1", "a2", "a3", "b1"].into_iter().map(user).collect();
    let with =
        |index: usize, invite, now| NewUser { invite: Some(invite), now, ..new_user(&names[index], index as u8) };
    meta.create_user(&with(0, token, NOW + 1)).expect("first use");
    // A failed registration (name taken) spends nothing.
    assert!(matches!(meta.create_user(&with(0, token, NOW + 1)), Err(StoreError::Exists(_))));
    meta.create_user(&with(1, token, NOW + 1)).expect("second use");
    assert!(matches!(meta.create_user(&with(2, token, NOW + 1)), Err(StoreError::Invalid(_))), "used up");
    assert!(matches!(meta.create_user(&with(3, expiring, NOW + 10)), Err(StoreError::Invalid(_))), "expired");
    assert!(matches!(meta.create_user(&with(3, [9; 32], NOW)), Err(StoreError::Invalid(_))), "unknown");
    assert_eq!(meta.account(&names[2]).expect("account"), None, "a refused invite creates nothing");
    assert_eq!(meta.account(&names[3]).expect("account"), None);
}

pub fn deleting_a_user_takes_files_and_partials_and_keeps_audit(backend: &dyn Backend) {
    let meta = backend.meta();
    let alice = create(&*meta, "alice");
    let bob = create(&*meta, "bob");
    meta.add_key(&user("alice"), &key(), NOW).expect("key");
    let (a, b) = (new_file("a", 10), new_file("b", 20));
    commit(&*meta, alice.id, &a);
    commit(&*meta, bob.id, &b);
    let partial = BlobId::generate();
    meta.begin_partial(alice.id, &file("p"), &meta_of(5), &partial, 8, NOW).expect("partial");
    let login = AuditRecord { time: NOW, event: AuditEvent::new(AuditKind::Login, "ok").user("alice") };
    meta.append_audit(std::slice::from_ref(&login)).expect("audit");

    let deleted = meta.delete_user(&user("alice")).expect("delete");
    assert_eq!((deleted.files, deleted.partials), (vec![a.blob.clone()], vec![partial.clone()]));
    assert_eq!(meta.account(&user("alice")).expect("account"), None);
    assert!(matches!(meta.delete_user(&user("alice")), Err(StoreError::NotFound(_))));
    let references = meta.references().expect("references");
    assert_eq!(references.files, HashSet::from([b.blob.clone()]), "bob keeps his file");
    assert!(references.partials.is_empty());
    let audit = meta.audit_log(0, 10).expect("audit");
    assert_eq!(audit.iter().map(|(_, record)| record).collect::<Vec<_>>(), [&login], "audit stays");
    // The name is free again, as a new account with a new id.
    let again = create(&*meta, "alice");
    assert_eq!(meta.list_files(again.id, "").expect("list"), []);
}

fn meta_of(size: u64) -> FileMeta {
    FileMeta { size, mode: 0o600, mtime: 1_700_000_000, mtime_nanos: 5 }
}

pub fn files_commit_replace_rename_and_delete(backend: &dyn Backend) {
    let meta = backend.meta();
    let alice = create(&*meta, "alice");
    let bob = create(&*meta, "bob");
    let first = new_file("a", 10);
    let (entry, replaced) = meta.commit_upload(alice.id, &first, &Limits::default(), NOW).expect("commit");
    assert_eq!(replaced, None);
    assert_eq!((entry.name.as_str(), entry.meta, entry.digest, entry.stored), ("a", first.meta, first.digest, NOW));
    assert_eq!(meta.file(alice.id, &file("a")).expect("file"), Some((entry, first.blob.clone())));
    assert_eq!(meta.file(bob.id, &file("a")).expect("file"), None, "files are per user");

    let second = new_file("a", 30);
    assert_eq!(commit(&*meta, alice.id, &second), Some(first.blob.clone()), "replacing returns the old blob");
    assert_eq!(meta.usage(alice.id).expect("usage"), (30, 1));
    commit(&*meta, alice.id, &new_file("b", 5));
    assert_eq!(meta.usage(alice.id).expect("usage"), (35, 2));
    assert_eq!(meta.account(&user("alice")).expect("account").expect("exists").info.files, 2);

    assert_eq!(meta.rename_file(alice.id, &file("a"), &file("c"), false).expect("rename"), None);
    assert_eq!(meta.file(alice.id, &file("a")).expect("file"), None);
    assert_eq!(meta.file(alice.id, &file("c")).expect("file").map(|(_, blob)| blob), Some(second.blob.clone()));
    assert!(matches!(meta.rename_file(alice.id, &file("b"), &file("c"), false), Err(StoreError::Exists(_))));
    assert!(matches!(meta.rename_file(alice.id, &file("x"), &file("y"), true), Err(StoreError::NotFound(_))));
    assert!(matches!(meta.rename_file(bob.id, &file("b"), &file("y"), true), Err(StoreError::NotFound(_))));
    assert_eq!(meta.rename_file(alice.id, &file("c"), &file("c"), false).expect("same name"), None);
    let replaced = meta.rename_file(alice.id, &file("b"), &file("c"), true).expect("rename over");
    assert_eq!(replaced, Some(second.blob.clone()));
    assert_eq!(meta.usage(alice.id).expect("usage"), (5, 1));

    let c_blob = meta.file(alice.id, &file("c")).expect("file").map(|(_, blob)| blob);
    assert_eq!(meta.delete_file(alice.id, &file("c")).expect("delete"), c_blob);
    assert_eq!(meta.delete_file(alice.id, &file("c")).expect("delete"), None);
    assert_eq!(meta.usage(alice.id).expect("usage"), (0, 0));
    assert!(meta.references().expect("references").is_empty());
}

pub fn listing_is_a_byte_prefix_in_byte_order(backend: &dyn Backend) {
    let meta = backend.meta();
    let alice = create(&*meta, "alice");
    for name in ["a/b", "a/bc", "a/b/c", "a%", "a_", "ab", "B", "é", "a/b-"] {
        commit(&*meta, alice.id, &new_file(name, 1));
    }
    let names = |prefix: &str| -> Vec<String> {
        meta.list_files(alice.id, prefix).expect("list").iter().map(|e| e.name.as_str().to_owned()).collect()
    };
    assert_eq!(names(""), ["B", "a%", "a/b", "a/b-", "a/b/c", "a/bc", "a_", "ab", "é"]);
    assert_eq!(names("a/b"), ["a/b", "a/b-", "a/b/c", "a/bc"]);
    assert_eq!(names("a%"), ["a%"], "% is an ordinary character");
    assert_eq!(names("a_"), ["a_"], "_ is an ordinary character");
    assert_eq!(names("b"), Vec::<String>::new(), "case matters");
}

pub fn quotas_count_replacements_and_are_checked_again_at_commit(backend: &dyn Backend) {
    let meta = backend.meta();
    let alice = create(&*meta, "alice");
    let none = Limits::default();
    meta.set_quota(&user("alice"), Some(100), Some(2)).expect("quota");
    commit(&*meta, alice.id, &new_file("a", 60));
    meta.check_quota(alice.id, &file("a"), 100, &none).expect("replacing a counts once");
    assert!(matches!(meta.check_quota(alice.id, &file("b"), 41, &none), Err(StoreError::Quota(_))));
    meta.check_quota(alice.id, &file("b"), 40, &none).expect("fits");
    commit(&*meta, alice.id, &new_file("b", 40));
    assert!(matches!(meta.check_quota(alice.id, &file("c"), 0, &none), Err(StoreError::Quota(_))), "a third file");
    // The commit checks again: a concurrent upload may have used the room.
    let late = new_file("c", 0);
    assert!(matches!(meta.commit_upload(alice.id, &late, &none, NOW), Err(StoreError::Quota(_))));
    assert_eq!(meta.file(alice.id, &file("c")).expect("file"), None, "a refused commit stores nothing");
    // Without an account quota, the server's default applies.
    meta.set_quota(&user("alice"), None, None).expect("quota");
    meta.check_quota(alice.id, &file("c"), 1 << 40, &none).expect("no quota at all");
    let default = Limits { default_quota_files: Some(2), ..Limits::default() };
    assert!(matches!(meta.check_quota(alice.id, &file("c"), 0, &default), Err(StoreError::Quota(_))));
    assert!(matches!(meta.check_quota(UserId::from_raw(-5), &file("c"), 0, &default), Err(StoreError::NotFound(_))));
}

pub fn partials_are_one_per_name_and_capped_oldest_first(backend: &dyn Backend) {
    let meta = backend.meta();
    let alice = create(&*meta, "alice");
    let bob = create(&*meta, "bob");
    let ids: Vec<BlobId> = (0..6).map(|_| BlobId::generate()).collect();
    let begin = |owner: UserId, name: &str, blob: &BlobId, now: i64| {
        meta.begin_partial(owner, &file(name), &meta_of(100), blob, 2, now).expect("begin")
    };
    assert_eq!(begin(bob.id, "x", &ids[5], NOW), []);
    assert_eq!(begin(alice.id, "a", &ids[0], NOW), []);
    assert_eq!(begin(alice.id, "a", &ids[1], NOW + 1), [ids[0].clone()], "a fresh start replaces the old partial");
    let partial = meta.partial(alice.id, &file("a")).expect("partial").expect("exists");
    assert_eq!((partial.blob, partial.meta), (ids[1].clone(), meta_of(100)));
    assert_eq!(begin(alice.id, "b", &ids[2], NOW + 2), []);
    assert_eq!(begin(alice.id, "c", &ids[3], NOW + 3), [ids[1].clone()], "over the cap, the oldest goes");
    assert_eq!(meta.partial(alice.id, &file("a")).expect("partial"), None);
    assert!(meta.partial(bob.id, &file("x")).expect("partial").is_some(), "another user's partial stays");
    assert_eq!(meta.partial(bob.id, &file("b")).expect("partial"), None);

    // Resume: the row moves to the new blob, and is renewed.
    assert!(meta.move_partial(&ids[2], &ids[4], NOW + 10).expect("move"));
    assert!(!meta.move_partial(&ids[2], &ids[0], NOW + 10).expect("move"), "no partial names the old blob now");
    assert_eq!(meta.partial(alice.id, &file("b")).expect("partial").map(|p| p.blob), Some(ids[4].clone()));
    let stale: HashSet<BlobId> = meta.stale_partials(NOW + 5).expect("stale").into_iter().collect();
    assert_eq!(stale, HashSet::from([ids[3].clone(), ids[5].clone()]), "b was renewed at its move");
    let references = meta.references().expect("references");
    assert_eq!(references.partials, HashSet::from([ids[3].clone(), ids[4].clone(), ids[5].clone()]));

    // A commit drops the partial naming its own blob, nothing else.
    let upload = NewFile { blob: ids[4].clone(), ..new_file("b", 100) };
    commit(&*meta, alice.id, &upload);
    assert_eq!(meta.partial(alice.id, &file("b")).expect("partial"), None);
    assert!(meta.partial(alice.id, &file("c")).expect("partial").is_some());
    meta.forget_partial(&ids[3]).expect("forget");
    meta.forget_partial(&ids[3]).expect("forgetting twice is fine");
    assert_eq!(meta.partial(alice.id, &file("c")).expect("partial"), None);
}

pub fn a_batch_commits_in_order_with_quota_and_audit_rows(backend: &dyn Backend) {
    let meta = backend.meta();
    let alice = create(&*meta, "alice");
    let old = new_file("a", 5);
    commit(&*meta, alice.id, &old);
    let unfinished = BlobId::generate();
    meta.begin_partial(alice.id, &file("b"), &meta_of(1000), &unfinished, 8, NOW).expect("partial");
    meta.set_quota(&user("alice"), Some(30), Some(2)).expect("quota");
    let files = [new_file("a", 10), new_file("a", 20), new_file("b", 10), new_file("c", 1), new_file("b", 11)];
    let remote = "192.0.2.7:4242".parse().expect("address");
    let who = AuditEvent::new(AuditKind::Upload, "ok").user("alice").remote(remote);
    let commit = meta.commit_batch(alice.id, &files, &Limits::default(), &who, NOW).expect("commit");

    let refused: Vec<bool> = commit.results.iter().map(|r| matches!(r, Err(StoreError::Quota(_)))).collect();
    assert_eq!(refused, [false, false, false, true, true], "{:?}", commit.results);
    let stored = commit.results[2].as_ref().expect("b");
    assert_eq!((stored.name.as_str(), stored.meta, stored.stored), ("b", files[2].meta, NOW));
    let mut replaced = commit.replaced.clone();
    replaced.sort();
    let mut expected = vec![old.blob.clone(), files[0].blob.clone()];
    expected.sort();
    assert_eq!(replaced, expected, "the old a and the batch's own first a");
    assert_eq!(commit.superseded, [unfinished], "the unfinished upload of b");
    assert_eq!(meta.usage(alice.id).expect("usage"), (30, 2));
    assert_eq!(meta.file(alice.id, &file("a")).expect("file").map(|(_, blob)| blob), Some(files[1].blob.clone()));
    assert_eq!(meta.partial(alice.id, &file("b")).expect("partial"), None);

    let audit = meta.audit_log(0, 100).expect("audit");
    let rows: Vec<(&str, Option<u64>)> =
        audit.iter().map(|(_, r)| (r.event.name.as_ref().map_or("", |n| n.as_str()), r.event.size)).collect();
    assert_eq!(rows, [("a", Some(10)), ("a", Some(20)), ("b", Some(10))], "one row per committed file, in order");
    let (_, first) = &audit[0];
    assert_eq!(first.time, NOW);
    assert_eq!((first.event.kind, first.event.outcome.as_str()), (AuditKind::Upload, "ok"));
    assert_eq!((first.event.user.as_deref(), first.event.remote), (Some("alice"), Some(remote)));
    assert_eq!(first.event.digest, Some(files[0].digest));
    // An empty batch commits nothing.
    let empty = meta.commit_batch(alice.id, &[], &Limits::default(), &who, NOW).expect("empty");
    assert!(empty.results.is_empty() && empty.replaced.is_empty());
}

pub fn audit_records_come_back_in_order(backend: &dyn Backend) {
    let meta = backend.meta();
    let remote = "[2001:db8::1]:7272".parse().expect("address");
    let full = AuditEvent::new(AuditKind::Rename, "ok")
        .user("alice")
        .remote(remote)
        .name(&file("r/q3.pdf"))
        .size(7)
        .digest(digest(b"x"))
        .detail("r/q4.pdf");
    let records: Vec<AuditRecord> = [
        AuditEvent::new(AuditKind::LoginFailed, "bad credentials").user("mallory"),
        AuditEvent::new(AuditKind::Login, "ok"),
        full,
        AuditEvent::new(AuditKind::Lost, "lost").detail("3 audit events could not be recorded"),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, event)| AuditRecord { time: NOW + i as i64, event })
    .collect();
    meta.append_audit(&records[..2]).expect("append");
    meta.append_audit(&[]).expect("append nothing");
    meta.append_audit(&records[2..]).expect("append");

    let read = backend.meta().audit_log(0, 100).expect("read");
    assert_eq!(read.iter().map(|(_, record)| record.clone()).collect::<Vec<_>>(), records, "every field round-trips");
    let sequence: Vec<u64> = read.iter().map(|(seq, _)| *seq).collect();
    assert!(sequence[0] > 0 && sequence.windows(2).all(|pair| pair[0] < pair[1]), "{sequence:?}");
    let after_first = meta.audit_log(sequence[0], 2).expect("page");
    assert_eq!(after_first.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), sequence[1..3]);
    assert_eq!(meta.audit_log(sequence[3], 10).expect("end"), []);
}
