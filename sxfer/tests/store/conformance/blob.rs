//! What every [`BlobStore`] must do.

use std::io::{Read, Seek, SeekFrom, Write};
use std::time::{Duration, SystemTime};

use sxfer::store::{BlobId, BlobState, BlobStore, ListedBlob};

use super::Backend;
use crate::store::helpers::bytes;

fn read_all(mut reader: impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    reader.read_to_end(&mut out).expect("read");
    out
}

fn staged(blobs: &dyn BlobStore, id: &BlobId) -> Option<Vec<u8>> {
    blobs.open_staged(id).expect("open staged").map(read_all)
}

fn committed(blobs: &dyn BlobStore, id: &BlobId) -> Option<Vec<u8>> {
    blobs.open(id).expect("open").map(read_all)
}

/// Writes and commits one blob.
fn put(blobs: &dyn BlobStore, data: &[u8]) -> BlobId {
    let id = BlobId::generate();
    let mut writer = blobs.create(&id).expect("create");
    writer.write_all(data).expect("write");
    writer.commit().expect("commit");
    id
}

fn listed(blobs: &dyn BlobStore) -> Vec<(BlobId, BlobState)> {
    let mut listed: Vec<_> = blobs.list().expect("list").into_iter().map(|blob| (blob.id, blob.state)).collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    listed
}

pub fn staged_blobs_are_invisible_until_committed(backend: &dyn Backend) {
    let blobs = backend.blobs();
    let id = BlobId::generate();
    let data = bytes("staged", 100_000);
    let mut writer = blobs.create(&id).expect("create");
    assert!(blobs.create(&id).is_err(), "an id is created once");
    writer.write_all(&data[..60_000]).expect("write");
    writer.sync().expect("sync");
    assert_eq!(committed(&*blobs, &id), None, "a staged blob is not readable as committed");
    assert_eq!(staged(&*blobs, &id).as_deref(), Some(&data[..60_000]), "what was synced is readable for resume");
    assert_eq!(listed(&*blobs), [(id.clone(), BlobState::Staged)]);
    writer.write_all(&data[60_000..]).expect("write");
    writer.commit().expect("commit");
    assert_eq!(committed(&*blobs, &id).as_deref(), Some(&data[..]));
    assert_eq!(staged(&*blobs, &id), None, "committed, no longer staged");
    assert_eq!(listed(&*blobs), [(id.clone(), BlobState::Committed)]);
    // After a restart too.
    assert_eq!(committed(&*backend.blobs(), &id).as_deref(), Some(&data[..]));
    assert_eq!(committed(&*blobs, &BlobId::generate()), None);
    assert_eq!(staged(&*blobs, &BlobId::generate()), None);
}

pub fn committed_blobs_read_from_any_offset(backend: &dyn Backend) {
    let blobs = backend.blobs();
    let data = bytes("ranged", 3 * 65_536 + 17);
    let id = put(&*blobs, &data);
    let len = data.len() as u64;
    for offset in [0, 1, 65_535, 65_536, 2 * 65_536 + 100, len - 1, len] {
        let mut reader = blobs.open(&id).expect("open").expect("committed");
        assert_eq!(reader.seek(SeekFrom::Start(offset)).expect("seek"), offset);
        assert_eq!(read_all(&mut reader), data[offset as usize..], "from {offset}");
    }
    let mut reader = blobs.open(&id).expect("open").expect("committed");
    assert_eq!(reader.seek(SeekFrom::End(-10)).expect("seek"), len - 10);
    let mut ten = [0u8; 10];
    reader.read_exact(&mut ten).expect("read");
    assert_eq!(ten, data[data.len() - 10..]);
    assert_eq!(reader.seek(SeekFrom::Current(-4)).expect("seek"), len - 4);
    assert_eq!(read_all(&mut reader), data[data.len() - 4..]);
    // An empty blob is a blob.
    let empty = put(&*blobs, b"");
    assert_eq!(committed(&*blobs, &empty), Some(Vec::new()));
}

pub fn a_sync_handle_makes_earlier_bytes_durable(backend: &dyn Backend) {
    let blobs = backend.blobs();
    let id = BlobId::generate();
    let data = bytes("handle", 200_000);
    let mut writer = blobs.create(&id).expect("create");
    writer.write_all(&data[..120_000]).expect("write");
    let handle = writer.sync_handle().expect("handle");
    writer.write_all(&data[120_000..]).expect("write on while the handle syncs");
    std::thread::spawn(move || handle.sync()).join().expect("sync thread").expect("sync");
    drop(writer); // cut off: never committed
    let recovered = staged(&*backend.blobs(), &id).expect("still staged after a restart");
    assert!(recovered.len() >= 120_000, "{} bytes", recovered.len());
    assert_eq!(recovered[..], data[..recovered.len()], "a prefix of what was written");
    assert_eq!(committed(&*blobs, &id), None);
}

pub fn a_group_commits_many_blobs(backend: &dyn Backend) {
    let blobs = backend.blobs();
    let mut group = blobs.group();
    let contents: Vec<Vec<u8>> = (0..40).map(|i| bytes(&format!("group {i}"), i * 301)).collect();
    let ids: Vec<BlobId> = contents
        .iter()
        .map(|data| {
            let id = BlobId::generate();
            let mut writer = blobs.create(&id).expect("create");
            writer.write_all(data).expect("write");
            writer.close().expect("close");
            id
        })
        .collect();
    for id in &ids {
        assert_eq!(committed(&*blobs, id), None, "closed is still staged");
    }
    group.commit(&ids).expect("group commit");
    for (id, data) in ids.iter().zip(&contents) {
        assert_eq!(committed(&*backend.blobs(), id).as_ref(), Some(data));
        assert_eq!(staged(&*blobs, id), None);
    }
    assert!(listed(&*blobs).iter().all(|(_, state)| *state == BlobState::Committed));
    group.commit(&[]).expect("an empty group commit");
}

pub fn removal_is_per_state_and_idempotent(backend: &dyn Backend) {
    let blobs = backend.blobs();
    let kept = put(&*blobs, b"kept");
    let gone = put(&*blobs, b"gone");
    let draft = BlobId::generate();
    blobs.create(&draft).expect("create").write_all(b"draft").expect("write");
    blobs.remove(&kept, BlobState::Staged).expect("no staged blob of that id: nothing to do");
    blobs.remove(&draft, BlobState::Committed).expect("no committed blob of that id: nothing to do");
    assert_eq!(committed(&*blobs, &kept).as_deref(), Some(&b"kept"[..]));
    assert_eq!(staged(&*blobs, &draft).as_deref(), Some(&b"draft"[..]));
    blobs.remove(&gone, BlobState::Committed).expect("remove");
    blobs.remove(&gone, BlobState::Committed).expect("removing twice is fine");
    blobs.remove(&draft, BlobState::Staged).expect("remove");
    assert_eq!(committed(&*blobs, &gone), None);
    assert_eq!(staged(&*blobs, &draft), None);
    assert_eq!(listed(&*backend.blobs()), [(kept, BlobState::Committed)]);
}

pub fn an_open_reader_outlives_removal(backend: &dyn Backend) {
    let blobs = backend.blobs();
    let data = bytes("outlives", 150_000);
    let id = put(&*blobs, &data);
    let mut reader = blobs.open(&id).expect("open").expect("committed");
    let mut head = vec![0u8; 1000];
    reader.read_exact(&mut head).expect("read");
    blobs.remove(&id, BlobState::Committed).expect("remove");
    assert_eq!(committed(&*blobs, &id), None);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).expect("read after removal");
    head.extend(rest);
    assert_eq!(head, data, "a download in progress finishes");
}

pub fn listing_shows_every_blob_with_a_recent_time(backend: &dyn Backend) {
    let started = SystemTime::now() - Duration::from_secs(5);
    let blobs = backend.blobs();
    let done = put(&*blobs, b"done");
    let writing = BlobId::generate();
    let _writer = blobs.create(&writing).expect("create");
    let all = backend.blobs().list().expect("list");
    assert_eq!(all.len(), 2, "{all:?}");
    for ListedBlob { id, state, modified } in all {
        let expected = if id == done { BlobState::Committed } else { BlobState::Staged };
        assert_eq!(state, expected, "{id}");
        if let Some(modified) = modified {
            assert!(
                modified >= started && modified <= SystemTime::now() + Duration::from_secs(5),
                "{id}: {modified:?}"
            );
        }
    }
}
