//! Drops in the store (STORAGE.md "Drops", PROTOCOL.md §14): the header
//! against the key directory, the ciphertext kept as uploaded, the
//! sender's quota, inbox caps, removal by the last recipient, recovery
//! at open, and deleting a user.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use rand_core::OsRng;
use sxfer::store::{Limits, SentRecord, Staging, Store, StoreError, UserId, ENDED_DROP_RETENTION};
use sxfer_proto::codec::Codec;
use sxfer_proto::identity::PrivateIdentity;
use sxfer_proto::msgs::{
    DropContent, DropHeader, DropId, DropReceipt, DropRecipient, DropState, FileMeta, ReceiptContent,
};

use super::helpers::*;

struct Account {
    id: UserId,
    key: PrivateIdentity,
}

fn account(store: &Store, name: &str) -> Account {
    let id = new_user(store, name);
    let key = PrivateIdentity::generate_ed25519(&mut OsRng).expect("key");
    store.add_key(&user(name), key.public()).expect("add key");
    Account { id, key }
}

/// A signed header from `from` (named `sender`) to `to` for `ciphertext`.
fn header(sender: &str, from: &Account, to: &[(&str, &Account)], ciphertext: &[u8]) -> DropHeader {
    let content = DropContent {
        sender: user(sender),
        sender_key: from.key.public().clone(),
        recipients: to
            .iter()
            .map(|(name, a)| DropRecipient { user: user(name), keys: vec![a.key.public().fingerprint()] })
            .collect(),
        name: file("report.pdf"),
        meta: FileMeta { size: 3, mode: 0o600, mtime: 1, mtime_nanos: 0 },
        sent: 2,
        ciphertext_length: ciphertext.len() as u64,
        ciphertext_digest: digest(ciphertext),
    };
    DropHeader::sign(content, &from.key).expect("sign")
}

/// Checks, begins, writes and commits a drop; returns its id.
fn put(store: &Store, sender: &str, header: &DropHeader, ciphertext: &[u8]) -> DropId {
    put_expiring(store, sender, header, ciphertext, None)
}

fn put_expiring(store: &Store, sender: &str, header: &DropHeader, ciphertext: &[u8], expires: Option<u32>) -> DropId {
    let info = store.user(&user(sender)).expect("lookup").expect("sender");
    let recipients = store.drop_recipients(&info, header.content()).expect("recipients");
    let mut upload = store.begin_drop(info.id, recipients, header, expires).expect("begin");
    upload.write(ciphertext).expect("write");
    upload.commit(ciphertext.len() as u64, &digest(ciphertext)).expect("commit").0
}

fn blob_count(dir: &std::path::Path) -> usize {
    let blobs = dir.join("blobs");
    std::fs::read_dir(&blobs)
        .map_or(0, |fans| fans.flatten().map(|fan| std::fs::read_dir(fan.path()).unwrap().count()).sum())
}

#[test]
fn a_drop_is_kept_as_uploaded_until_its_last_recipient_removes_it() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let (alice, bob, carol) = (account(&store, "alice"), account(&store, "bob"), account(&store, "carol"));
    let ciphertext = bytes("age file", 100_000);
    let header = header("alice", &alice, &[("bob", &bob), ("carol", &carol)], &ciphertext);
    let id = put(&store, "alice", &header, &ciphertext);

    for recipient in [&bob, &carol] {
        let inbox = store.inbox(recipient.id).expect("inbox");
        assert_eq!(inbox.len(), 1);
        assert_eq!(inbox[0].id, id);
        assert_eq!(inbox[0].ciphertext_digest, digest(&ciphertext));
        let stored = DropHeader::decode(&inbox[0].header).expect("header as sent");
        stored.verify(alice.key.public()).expect("the signature survives storage");
    }
    assert!(store.inbox(alice.id).expect("inbox").is_empty(), "the sender's inbox");
    let (_, mut blob) = store.open_drop(bob.id, &id).expect("open").expect("found");
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut blob, &mut raw).expect("read");
    assert!(raw == ciphertext, "the blob is the ciphertext as uploaded");
    assert!(store.open_drop(alice.id, &id).expect("open").is_none(), "only recipients can fetch");

    // Recovery at open keeps it: its row names the blob.
    drop(store);
    let store = open(&dir);
    assert_eq!(blob_count(&dir), 1);
    assert!(store.remove_drop(bob.id, &id).expect("rm"));
    assert!(!store.remove_drop(bob.id, &id).expect("rm again"), "already out of bob's inbox");
    assert_eq!(blob_count(&dir), 1, "carol still holds it");
    assert!(store.remove_drop(carol.id, &id).expect("rm"));
    assert_eq!(blob_count(&dir), 0, "the last recipient's rm removes the blob");
}

#[test]
fn the_directory_decides_who_may_send_to_whom_with_which_keys() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let (alice, bob) = (account(&store, "alice"), account(&store, "bob"));
    let alice_info = store.user(&user("alice")).unwrap().unwrap();
    let bob_info = store.user(&user("bob")).unwrap().unwrap();
    let ciphertext = bytes("x", 10);
    // Sent as someone else, or with a key the sender has not published.
    let as_bob = header("bob", &bob, &[("alice", &alice)], &ciphertext);
    assert!(matches!(store.drop_recipients(&alice_info, as_bob.content()), Err(StoreError::Refused(_))));
    let stranger = Account { id: alice.id, key: PrivateIdentity::generate_ed25519(&mut OsRng).unwrap() };
    let unpublished = header("alice", &stranger, &[("bob", &bob)], &ciphertext);
    assert!(matches!(store.drop_recipients(&alice_info, unpublished.content()), Err(StoreError::Refused(_))));
    // To a key the recipient does not have, or to nobody known.
    let wrong_key = header("alice", &alice, &[("bob", &stranger)], &ciphertext);
    assert!(matches!(store.drop_recipients(&alice_info, wrong_key.content()), Err(StoreError::NotFound(_))));
    let ghost = header("alice", &alice, &[("ghost", &bob)], &ciphertext);
    assert!(matches!(store.drop_recipients(&alice_info, ghost.content()), Err(StoreError::NotFound(_))));
    assert_eq!(store.drop_recipients(&bob_info, as_bob.content()).expect("fine"), vec![alice.id]);
}

#[test]
fn drops_count_against_the_sender_and_inboxes_are_capped() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    store.set_limits(Limits { max_inbox_drops: 2, max_inbox_bytes: 1000, ..Limits::default() });
    let (alice, bob) = (account(&store, "alice"), account(&store, "bob"));
    let small = bytes("small", 100);
    let to_bob = header("alice", &alice, &[("bob", &bob)], &small);
    put(&store, "alice", &to_bob, &small);
    assert_eq!(store.usage(alice.id).expect("usage"), (100, 1), "the sender's usage counts the drop");
    assert_eq!(store.usage(bob.id).expect("usage"), (0, 0), "the recipient's does not");

    // Bytes: 100 + 901 > 1000.
    let big = bytes("big", 901);
    let too_big = header("alice", &alice, &[("bob", &bob)], &big);
    let info = store.user(&user("alice")).unwrap().unwrap();
    let refused = store.begin_drop(info.id, vec![bob.id], &too_big, None).err().expect("over the byte cap");
    assert!(matches!(refused, StoreError::Limit(ref m) if m.contains("inbox of bob is full")), "{refused}");
    // Count: a second fits, a third does not.
    put(&store, "alice", &to_bob, &small);
    assert!(matches!(store.begin_drop(info.id, vec![bob.id], &to_bob, None), Err(StoreError::Limit(_))));

    store.set_limits(Limits { default_quota_bytes: Some(250), ..Limits::default() });
    let to_alice = header("bob", &bob, &[("alice", &alice)], &small);
    let bob_info = store.user(&user("bob")).unwrap().unwrap();
    let mut upload = store.begin_drop(bob_info.id, vec![alice.id], &to_alice, None).expect("bob has room");
    upload.write(&small).unwrap();
    assert!(
        matches!(store.begin_drop(info.id, vec![bob.id], &to_alice, None), Err(StoreError::Quota(_))),
        "alice: 200 + 100"
    );
    upload.commit(100, &digest(&small)).expect("commit");
}

#[test]
fn a_ciphertext_that_is_not_the_headers_is_refused_and_removed() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let (alice, bob) = (account(&store, "alice"), account(&store, "bob"));
    let ciphertext = bytes("c", 5000);
    let header = header("alice", &alice, &[("bob", &bob)], &ciphertext);
    let mut upload = store.begin_drop(alice.id, vec![bob.id], &header, None).expect("begin");
    let mut other = ciphertext.clone();
    other[7] ^= 1;
    upload.write(&other).unwrap();
    let refused = upload.commit(5000, &digest(&other)).expect_err("not the signed ciphertext");
    assert!(matches!(refused, StoreError::Integrity(_)), "{refused}");
    let mut upload = store.begin_drop(alice.id, vec![bob.id], &header, None).expect("begin");
    assert!(matches!(upload.write(&bytes("long", 5001)), Err(StoreError::Integrity(_))), "beyond the length");
    Staging::discard(upload);
    assert_eq!(blob_count(&dir), 0);
    assert!(store.inbox(bob.id).unwrap().is_empty());
    assert!(std::fs::read_dir(dir.join("partial")).unwrap().next().is_none(), "no staged blob left");
}

#[test]
fn deleting_a_user_takes_the_drops_it_sent_and_its_inbox() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let (alice, bob) = (account(&store, "alice"), account(&store, "bob"));
    let ciphertext = bytes("d", 300);
    put(&store, "alice", &header("alice", &alice, &[("bob", &bob)], &ciphertext), &ciphertext);
    put(&store, "bob", &header("bob", &bob, &[("alice", &alice)], &ciphertext), &ciphertext);
    assert_eq!(blob_count(&dir), 2);
    store.delete_user(&user("alice")).expect("delete");
    assert_eq!(blob_count(&dir), 0, "alice's sent drop and the one only she held are gone");
    assert!(store.inbox(bob.id).unwrap().is_empty());
}

/// A receipt for drop `id` as `name` fetched it, signed by `key`.
fn receipt(id: DropId, name: &str, key: &PrivateIdentity, ciphertext: &[u8]) -> DropReceipt {
    let content = ReceiptContent {
        id,
        recipient: user(name),
        recipient_key: key.public().clone(),
        ciphertext_digest: digest(ciphertext),
        fetched: 1_800_000_000,
    };
    DropReceipt::sign(content, key).unwrap()
}

fn sent(store: &Store, sender: &Account, id: DropId) -> SentRecord {
    store.sent_drops(sender.id).unwrap().into_iter().find(|d| d.id == id).expect("in the sender's status")
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn a_receipt_that_matches_the_drop_is_kept_for_the_sender_and_others_are_refused() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let (alice, bob, carol) = (account(&store, "alice"), account(&store, "bob"), account(&store, "carol"));
    let ciphertext = bytes("r", 1000);
    let id = put(&store, "alice", &header("alice", &alice, &[("bob", &bob)], &ciphertext), &ciphertext);
    let waiting = sent(&store, &alice, id);
    assert_eq!(waiting.state, DropState::Waiting);
    assert!(waiting.recipients[0].in_inbox && waiting.recipients[0].receipt.is_none());

    // Signed by another key, for another ciphertext, by a non-recipient.
    let by_carol = receipt(id, "bob", &carol.key, &ciphertext);
    let invalid = store.store_receipt(bob.id, &user("bob"), &by_carol).unwrap_err();
    assert!(matches!(invalid, StoreError::Invalid(_)), "{invalid}");
    let other = receipt(id, "bob", &bob.key, b"another ciphertext");
    assert!(matches!(store.store_receipt(bob.id, &user("bob"), &other), Err(StoreError::Invalid(_))));
    let as_carol = receipt(id, "carol", &carol.key, &ciphertext);
    assert!(matches!(
        store.store_receipt(carol.id, &user("carol"), &as_carol),
        Err(StoreError::NotFound(_) | StoreError::Gone(_))
    ));
    assert!(sent(&store, &alice, id).recipients[0].receipt.is_none(), "nothing stored");

    let good = receipt(id, "bob", &bob.key, &ciphertext);
    store.store_receipt(bob.id, &user("bob"), &good).expect("a receipt by bob's key");
    let kept = sent(&store, &alice, id).recipients[0].receipt.clone().expect("kept");
    let decoded = DropReceipt::decode(&kept).unwrap();
    decoded.verify(bob.key.public()).expect("as bob signed it");
    assert!(store.sent_drops(bob.id).unwrap().is_empty(), "bob sent nothing");

    // Taken out of the inbox by its only recipient: delivered, blob gone.
    assert!(store.remove_drop(bob.id, &id).unwrap());
    let delivered = sent(&store, &alice, id);
    assert_eq!(delivered.state, DropState::Delivered);
    assert!(!delivered.recipients[0].in_inbox && delivered.recipients[0].receipt.is_some());
    assert_eq!(blob_count(&dir), 0);
    assert!(matches!(
        store.store_receipt(bob.id, &user("bob"), &good),
        Err(StoreError::NotFound(_) | StoreError::Gone(_))
    ));
}

#[test]
fn revoking_takes_a_drop_out_of_every_inbox_and_frees_the_senders_quota() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let (alice, bob, carol) = (account(&store, "alice"), account(&store, "bob"), account(&store, "carol"));
    let ciphertext = bytes("v", 4000);
    let id =
        put(&store, "alice", &header("alice", &alice, &[("bob", &bob), ("carol", &carol)], &ciphertext), &ciphertext);
    assert!(store.remove_drop(carol.id, &id).unwrap(), "carol already took hers");
    assert_eq!(store.usage(alice.id).unwrap(), (4000, 1));
    assert!(matches!(store.revoke_drop(bob.id, &id), Err(StoreError::Gone(_))), "only the sender revokes");

    store.revoke_drop(alice.id, &id).expect("revoke");
    assert!(store.inbox(bob.id).unwrap().is_empty());
    assert!(store.open_drop(bob.id, &id).unwrap().is_none());
    assert_eq!(blob_count(&dir), 0, "the blob is deleted");
    assert_eq!(store.usage(alice.id).unwrap(), (0, 0), "the quota is freed");
    let why = store.not_in_inbox(bob.id, &id).to_string();
    assert!(!why.ends_with("not found"), "one sentence, not \"… not found\": {why}");
    assert!(why.contains("revoked by its sender"), "{why}");
    assert!(store.not_in_inbox(alice.id, &id).to_string().contains("no drop"), "alice never received it");
    let revoked = sent(&store, &alice, id);
    assert_eq!(revoked.state, DropState::Revoked);
    assert!(revoked.recipients.iter().all(|r| !r.in_inbox));
    assert!(matches!(store.revoke_drop(alice.id, &id), Err(StoreError::Gone(_))), "once");
    assert!(!store.remove_drop(bob.id, &id).unwrap());
    // Recovery keeps no blob for it and does not trip over its row.
    drop(store);
    let store = open(&dir);
    assert_eq!(sent(&store, &alice, id).state, DropState::Revoked);
}

#[test]
fn the_gc_deletes_expired_drops_and_forgets_ended_ones_later() {
    let (_temp, dir) = data_dir();
    let store = open(&dir);
    let (alice, bob) = (account(&store, "alice"), account(&store, "bob"));
    let ciphertext = bytes("e", 2000);
    let to_bob = header("alice", &alice, &[("bob", &bob)], &ciphertext);
    let start = now();
    let expiring = put_expiring(&store, "alice", &to_bob, &ciphertext, Some(3600));
    let kept = put(&store, "alice", &to_bob, &ciphertext);
    let expires = sent(&store, &alice, expiring).expires.expect("an expiry");
    assert!((start + 3600..=now() + 3600).contains(&expires), "an hour after it was stored");
    assert_eq!(sent(&store, &alice, kept).expires, None);

    assert_eq!(store.collect_drops(expires - 1).unwrap(), (0, 0), "not yet");
    assert_eq!(store.inbox(bob.id).unwrap().len(), 2);
    assert_eq!(store.collect_drops(expires).unwrap(), (1, 0), "due");
    assert_eq!(blob_count(&dir), 1, "only the expired drop's blob went");
    let inbox: Vec<DropId> = store.inbox(bob.id).unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(inbox, vec![kept]);
    assert!(store.not_in_inbox(bob.id, &expiring).to_string().contains("expired"));
    assert_eq!(sent(&store, &alice, expiring).state, DropState::Expired);
    assert_eq!(store.usage(alice.id).unwrap(), (2000, 1), "only the kept drop counts");
    assert_eq!(store.collect_drops(expires + 10).unwrap(), (0, 0), "once");

    // Ended rows stay for the sender's status, then are forgotten.
    assert_eq!(store.collect_drops(expires + ENDED_DROP_RETENTION - 1).unwrap(), (0, 0));
    assert_eq!(store.collect_drops(expires + ENDED_DROP_RETENTION + 1).unwrap(), (0, 1));
    let left: Vec<DropId> = store.sent_drops(alice.id).unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(left, vec![kept]);
}
