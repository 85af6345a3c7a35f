//! The crash points of `docs/STORAGE.md` §7, through a [`Store`] built over
//! the backend: a write protocol cut short (a dropped or forgotten writer,
//! a failed step, a restart) never makes a file visible without its whole
//! blob, never loses a committed file, and leaves only what recovery
//! removes.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sxfer::store::{
    AuditEvent, AuditKind, BlobId, BlobState, BlobStore, MetaStore, Recovered, Store, StoreError, AUDIT_MAX_BATCH,
    AUDIT_QUEUE_CAPACITY,
};

use super::wrappers::{injected, Gated, Hooked, Step};
use super::Backend;
use crate::store::helpers::{bytes, digest, download, file, meta, new_user, upload, write_pieces, CHUNK};

fn identity() -> age::x25519::Identity {
    age::x25519::Identity::generate()
}

fn open_over(meta: Arc<dyn MetaStore>, blobs: Arc<dyn BlobStore>, identity: &age::x25519::Identity) -> Store {
    let store = Store::with_backends(meta, blobs, identity.clone()).expect("open store");
    store.set_password_hashing_for_testing_only(64, 1).expect("argon2 params");
    store
}

/// The store after a (re)start on the backend's persistent state.
fn open(backend: &dyn Backend, identity: &age::x25519::Identity) -> Store {
    open_over(backend.meta(), backend.blobs(), identity)
}

fn blobs_in(backend: &dyn Backend, state: BlobState) -> usize {
    backend.blobs().list().expect("list").iter().filter(|blob| blob.state == state).count()
}

fn stage(batch: &mut sxfer::store::Batch, name: &str, data: &[u8]) {
    batch.stage(file(name), meta(data.len()), data, data.len() as u64, digest(data)).expect("stage");
}

fn who() -> AuditEvent {
    AuditEvent::new(AuditKind::Upload, "ok").user("alice")
}

pub fn an_upload_cut_off_mid_write_is_invisible_and_resumes(backend: &dyn Backend) {
    let key = identity();
    let store = open(backend, &key);
    let alice = new_user(&store, "alice");
    let data = bytes("cut off", 3 * CHUNK + 100);
    let mut cut = store.begin_upload(alice, &file("f"), meta(data.len()), true).expect("begin");
    write_pieces(&mut cut, &data[..3 * CHUNK + 10]);
    assert_eq!(cut.sync().expect("sync"), 3 * CHUNK as u64);
    std::mem::forget(cut); // the process dies: nothing of the upload runs again
    assert_eq!(store.stat(alice, &file("f")).expect("stat"), None, "not visible while being written");
    drop(store);

    let store = open(backend, &key);
    assert_eq!(store.list(alice, "").expect("list"), [], "not visible after the crash");
    let mut resumed = store.begin_upload(alice, &file("f"), meta(data.len()), true).expect("resume");
    assert_eq!(resumed.offset(), 3 * CHUNK as u64, "every acknowledged chunk survived");
    write_pieces(&mut resumed, &data[3 * CHUNK..]);
    resumed.commit(data.len() as u64, &digest(&data)).expect("commit");
    assert_eq!(download(&store, alice, "f"), data);
    assert_eq!(store.recover(Duration::ZERO).expect("recover"), Recovered::default(), "nothing was left over");
    assert_eq!((blobs_in(backend, BlobState::Committed), blobs_in(backend, BlobState::Staged)), (1, 0));
}

pub fn staged_blobs_never_committed_are_invisible_and_collected(backend: &dyn Backend) {
    let key = identity();
    let store = open(backend, &key);
    let alice = new_user(&store, "alice");
    let mut batch = store.batch(alice);
    for name in ["a", "b", "c"] {
        stage(&mut batch, name, name.as_bytes());
    }
    std::mem::forget(batch); // crash before the group commit: no destructor removes them
    drop(store);

    let store = open(backend, &key);
    assert_eq!(store.list(alice, "").expect("list"), []);
    assert_eq!(blobs_in(backend, BlobState::Staged), 3, "recovery at open spares young blobs (another process's)");
    let recovered = store.recover(Duration::ZERO).expect("recover");
    assert_eq!((recovered.orphan_staged, recovered.orphan_blobs), (3, 0));
    assert!(backend.blobs().list().expect("list").is_empty());
}

pub fn committed_blobs_without_rows_are_invisible_and_collected(backend: &dyn Backend) {
    let key = identity();
    let store = open(backend, &key);
    let alice = new_user(&store, "alice");
    upload(&store, alice, "kept", b"kept");
    let mut batch = store.batch(alice);
    for name in ["a", "b", "c"] {
        stage(&mut batch, name, name.as_bytes());
    }
    batch.publish().expect("publish");
    std::mem::forget(batch); // crash between the blobs' commit and the rows'
                             // A blob committed by hand, named by no row.
    let mut stray = backend.blobs().create(&BlobId::generate()).expect("create");
    stray.write_all(b"stray").expect("write");
    stray.commit().expect("commit");
    drop(store);

    let store = open(backend, &key);
    assert_eq!(store.list(alice, "").expect("list").len(), 1, "only the committed file");
    assert_eq!(blobs_in(backend, BlobState::Committed), 5);
    let recovered = store.recover(Duration::ZERO).expect("recover");
    assert_eq!((recovered.orphan_blobs, recovered.orphan_staged, recovered.missing_blobs), (4, 0, 0));
    assert_eq!(blobs_in(backend, BlobState::Committed), 1);
    assert_eq!(download(&store, alice, "kept"), b"kept");
}

/// I1 and I2 for every path that commits or removes a blob: no row names a
/// blob before the blob is committed, and none names it when it is removed.
pub fn a_blob_is_committed_before_its_row_and_removed_after_it(backend: &dyn Backend) {
    let checker = backend.meta();
    let steps = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&steps);
    let hooked = Hooked::new(backend.blobs(), move |step, id| {
        let references = checker.references()?;
        match step {
            Step::Commit => assert!(!references.files.contains(id), "a row named blob {id} before its commit"),
            Step::Remove(BlobState::Committed) => {
                assert!(!references.files.contains(id), "blob {id} removed while a file names it")
            }
            Step::Remove(BlobState::Staged) => {
                assert!(!references.partials.contains(id), "blob {id} removed while a partial names it")
            }
        }
        counted.fetch_add(1, Ordering::SeqCst);
        Ok(())
    });
    let store = open_over(backend.meta(), Arc::new(hooked), &identity());
    let alice = new_user(&store, "alice");
    let bob = new_user(&store, "bob");
    upload(&store, alice, "a", b"first");
    upload(&store, alice, "a", b"second"); // replaces: removes the first blob
    let mut unfinished = store.begin_upload(alice, &file("p"), meta(3 * CHUNK), false).expect("begin");
    unfinished.write(&[1; CHUNK + 1]).expect("write");
    unfinished.abandon().expect("abandon");
    store.begin_upload(alice, &file("p"), meta(10), false).expect("a fresh start").discard();
    let mut batch = store.batch(alice);
    for (name, data) in [("b", &b"b"[..]), ("c", b"c"), ("a", b"third")] {
        stage(&mut batch, name, data);
    }
    batch.commit(&who()).expect("batch").into_iter().for_each(|result| drop(result.expect("committed")));
    store.rename(alice, &file("b"), &file("c"), true).expect("rename over");
    assert!(store.delete(alice, &file("a")).expect("delete"));
    upload(&store, bob, "x", b"bob's");
    let mut bobs = store.begin_upload(bob, &file("y"), meta(2 * CHUNK), false).expect("begin");
    bobs.write(&[2; CHUNK + 1]).expect("write");
    bobs.abandon().expect("abandon");
    store.delete_user(&sxfer_proto::msgs::Username::parse("bob").expect("name")).expect("delete bob");

    // 6 commits; removals: 2 replaced, 2 partials, 1 renamed over, 1 deleted, bob's file and partial.
    assert!(steps.load(Ordering::SeqCst) >= 6 + 8, "{} steps seen", steps.load(Ordering::SeqCst));
    assert_eq!(download(&store, alice, "c"), b"b");
    assert_eq!(store.recover(Duration::ZERO).expect("recover"), Recovered::default(), "nothing was left over");
}

pub fn a_failed_blob_commit_leaves_no_row_and_nothing_behind(backend: &dyn Backend) {
    let failing = Arc::new(AtomicBool::new(true));
    let fail = Arc::clone(&failing);
    let hooked = Hooked::new(backend.blobs(), move |step, _| match (step, fail.load(Ordering::SeqCst)) {
        (Step::Commit, true) => Err(injected()),
        _ => Ok(()),
    });
    let store = open_over(backend.meta(), Arc::new(hooked), &identity());
    let alice = new_user(&store, "alice");
    let data = bytes("doomed", 2 * CHUNK + 5);
    let mut doomed = store.begin_upload(alice, &file("f"), meta(data.len()), true).expect("begin");
    write_pieces(&mut doomed, &data);
    assert!(doomed.commit(data.len() as u64, &digest(&data)).is_err());
    let mut batch = store.batch(alice);
    stage(&mut batch, "g", b"group");
    assert!(batch.commit(&who()).is_err());

    assert_eq!(store.list(alice, "").expect("list"), []);
    assert!(backend.blobs().list().expect("list").is_empty(), "no blob left in either state");
    assert!(backend.meta().references().expect("references").is_empty(), "no partial row left");
    assert_eq!(store.usage(alice).expect("usage"), (0, 0));
    failing.store(false, Ordering::SeqCst);
    upload(&store, alice, "f", &data);
    assert_eq!(download(&store, alice, "f"), data, "the store goes on");
}

pub fn a_failed_row_commit_leaves_no_blob_behind(backend: &dyn Backend) {
    let gated = Arc::new(Gated::new(backend.meta()));
    let store = open_over(gated.clone(), backend.blobs(), &identity());
    let alice = new_user(&store, "alice");
    upload(&store, alice, "old", b"old");
    gated.fail_commits.store(true, Ordering::SeqCst);
    let data = bytes("refused", CHUNK + 1);
    let mut refused = store.begin_upload(alice, &file("old"), meta(data.len()), true).expect("begin");
    write_pieces(&mut refused, &data);
    assert!(refused.commit(data.len() as u64, &digest(&data)).is_err());
    let mut batch = store.batch(alice);
    stage(&mut batch, "g", b"group");
    batch.publish().expect("the blobs are durable");
    assert!(batch.commit(&who()).is_err());

    assert_eq!(download(&store, alice, "old"), b"old", "the file it would have replaced is intact");
    assert_eq!(store.stat(alice, &file("g")).expect("stat"), None);
    assert_eq!((blobs_in(backend, BlobState::Committed), blobs_in(backend, BlobState::Staged)), (1, 0));
    assert_eq!(backend.meta().partial(alice, &file("old")).expect("partial"), None);
    // The quota refusing at commit time takes the same path, for real.
    gated.fail_commits.store(false, Ordering::SeqCst);
    let mut late = store.begin_upload(alice, &file("q"), meta(4), false).expect("begin");
    late.write(b"late").expect("write");
    store.set_quota(&sxfer_proto::msgs::Username::parse("alice").expect("name"), None, Some(1)).expect("quota");
    assert!(matches!(late.commit(4, &digest(b"late")), Err(StoreError::Quota(_))));
    assert_eq!((blobs_in(backend, BlobState::Committed), blobs_in(backend, BlobState::Staged)), (1, 0));
}

pub fn a_removal_cut_off_after_the_row_is_collected(backend: &dyn Backend) {
    let key = identity();
    let hooked = Hooked::new(backend.blobs(), |step, _| match step {
        Step::Remove(_) => Err(injected()), // the process dies between the row and the blob
        Step::Commit => Ok(()),
    });
    let store = open_over(backend.meta(), Arc::new(hooked), &key);
    let alice = new_user(&store, "alice");
    upload(&store, alice, "deleted", b"deleted");
    upload(&store, alice, "replaced", b"v1");
    upload(&store, alice, "replaced", b"v2");
    assert!(store.delete(alice, &file("deleted")).expect("the delete itself succeeds"));
    assert_eq!(store.stat(alice, &file("deleted")).expect("stat"), None);
    assert_eq!(blobs_in(backend, BlobState::Committed), 3, "two blobs left behind");
    drop(store);

    let store = open(backend, &key);
    assert_eq!(store.recover(Duration::ZERO).expect("recover").orphan_blobs, 2);
    assert_eq!(blobs_in(backend, BlobState::Committed), 1);
    assert_eq!(download(&store, alice, "replaced"), b"v2");
}

pub fn a_resume_cut_off_before_the_old_blob_is_removed_recovers(backend: &dyn Backend) {
    let key = identity();
    let hooked = Hooked::new(backend.blobs(), |step, _| match step {
        Step::Remove(BlobState::Staged) => Err(injected()),
        _ => Ok(()),
    });
    let store = open_over(backend.meta(), Arc::new(hooked), &key);
    let alice = new_user(&store, "alice");
    let data = bytes("resumed", 4 * CHUNK);
    let mut first = store.begin_upload(alice, &file("f"), meta(data.len()), true).expect("begin");
    write_pieces(&mut first, &data[..2 * CHUNK + 1]);
    first.sync().expect("sync");
    drop(first);
    let mut second = store.begin_upload(alice, &file("f"), meta(data.len()), true).expect("resume");
    assert_eq!(second.offset(), 2 * CHUNK as u64);
    write_pieces(&mut second, &data[2 * CHUNK..3 * CHUNK + 1]);
    assert_eq!(second.sync().expect("sync"), 3 * CHUNK as u64);
    drop(second);
    assert_eq!(blobs_in(backend, BlobState::Staged), 2, "the old partial outlived the swap");
    drop(store);

    let store = open(backend, &key);
    let recovered = store.recover(Duration::ZERO).expect("recover");
    assert_eq!(recovered.orphan_staged, 1, "the old copy, which no row names");
    let mut third = store.begin_upload(alice, &file("f"), meta(data.len()), true).expect("resume");
    assert_eq!(third.offset(), 3 * CHUNK as u64);
    write_pieces(&mut third, &data[3 * CHUNK..]);
    third.commit(data.len() as u64, &digest(&data)).expect("commit");
    assert_eq!(download(&store, alice, "f"), data);
}

pub fn stale_partials_expire_unless_written_recently(backend: &dyn Backend) {
    let key = identity();
    let store = open(backend, &key);
    let alice = new_user(&store, "alice");
    drop(store);
    let meta = backend.meta();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64;
    let long_ago = now - 8 * 24 * 3600;
    let (missing, fresh, recent) = (BlobId::generate(), BlobId::generate(), BlobId::generate());
    meta.begin_partial(alice, &file("missing"), &meta_of(10), &missing, 8, long_ago).expect("partial");
    meta.begin_partial(alice, &file("fresh"), &meta_of(10), &fresh, 8, long_ago).expect("partial");
    meta.begin_partial(alice, &file("recent"), &meta_of(10), &recent, 8, now).expect("partial");
    for id in [&fresh, &recent] {
        backend.blobs().create(id).expect("create").sync().expect("sync");
    }

    let store = open(backend, &key); // recovery at open
    assert_eq!(meta.partial(alice, &file("missing")).expect("partial"), None, "a week old and no blob");
    assert!(meta.partial(alice, &file("fresh")).expect("partial").is_some(), "begun long ago, written just now");
    assert!(meta.partial(alice, &file("recent")).expect("partial").is_some());
    assert_eq!(store.recover(Duration::ZERO).expect("recover"), Recovered::default());
    assert_eq!(blobs_in(backend, BlobState::Staged), 2);
}

fn meta_of(size: u64) -> sxfer_proto::msgs::FileMeta {
    meta(size as usize)
}

pub fn audit_events_survive_dropping_the_store_in_order(backend: &dyn Backend) {
    const THREADS: usize = 4;
    const EACH: usize = 300;
    let store = open(backend, &identity());
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..EACH {
                    let event =
                        AuditEvent::new(AuditKind::Download, "ok").user(format!("t{thread}")).detail(i.to_string());
                    store.audit(&event).expect("queued");
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|thread| thread.join().expect("thread"));
    drop(store); // the last handle: writes everything still queued

    let log = backend.meta().audit_log(0, 10 * THREADS * EACH).expect("audit log");
    assert_eq!(log.len(), THREADS * EACH);
    for thread in 0..THREADS {
        let user = format!("t{thread}");
        let details: Vec<String> = log
            .iter()
            .filter(|(_, record)| record.event.user.as_deref() == Some(user.as_str()))
            .filter_map(|(_, record)| record.event.detail.clone())
            .collect();
        let expected: Vec<String> = (0..EACH).map(|i| i.to_string()).collect();
        assert_eq!(details, expected, "thread {thread}'s events in the order it recorded them");
    }
}

pub fn a_full_audit_queue_refuses_without_blocking_and_says_so(backend: &dyn Backend) {
    let gated = Arc::new(Gated::new(backend.meta()));
    let store = open_over(gated.clone(), backend.blobs(), &identity());
    gated.set_audit_open(false); // the database stalls
    let event = |i: usize| AuditEvent::new(AuditKind::Login, "ok").detail(i.to_string());
    let mut accepted = 0;
    while store.audit(&event(accepted)).is_ok() {
        accepted += 1;
        assert!(accepted <= AUDIT_QUEUE_CAPACITY + AUDIT_MAX_BATCH, "the queue never filled");
    }
    assert!(accepted >= AUDIT_QUEUE_CAPACITY, "refused after {accepted}");
    for i in 0..9 {
        assert!(store.audit(&event(accepted + 1 + i)).is_err(), "still full");
    }
    assert_eq!(store.audit_lost(), 10);
    gated.set_audit_open(true);
    store.flush_audit().expect("flush");
    assert!(store.audit(&event(0)).is_ok(), "room again");
    store.flush_audit().expect("flush");

    let log = store.audit_log(0, 2 * (AUDIT_QUEUE_CAPACITY + AUDIT_MAX_BATCH)).expect("audit log");
    let lost: Vec<_> = log.iter().filter(|(_, record)| record.event.kind == AuditKind::Lost).collect();
    assert_eq!(lost.len(), 1, "one record of the gap");
    assert_eq!(lost[0].1.event.detail.as_deref(), Some("10 audit events could not be recorded"));
    let details: Vec<String> = log
        .iter()
        .filter(|(_, record)| record.event.kind == AuditKind::Login)
        .filter_map(|(_, record)| record.event.detail.clone())
        .collect();
    let expected: Vec<String> = (0..accepted).chain([0]).map(|i| i.to_string()).collect();
    assert_eq!(details, expected, "every accepted event, in order");
    assert_eq!(store.audit_lost(), 10, "reported, still counted");
}
