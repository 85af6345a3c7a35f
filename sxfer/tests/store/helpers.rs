//! Helpers shared by the store tests.

use std::fs::{self, OpenOptions};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sxfer::store::{Store, StoreError, Upload, UserId, CHUNK_SIZE};
use sxfer_proto::msgs::{FileEntry, FileMeta, Username};
use sxfer_proto::names::RemoteName;
use sxfer_proto::secret::Password;

pub const CHUNK: usize = CHUNK_SIZE as usize;

pub fn open(dir: &Path) -> Store {
    let store = Store::open(dir).expect("open store");
    store.set_password_hashing_for_testing_only(64, 1).expect("argon2 params");
    store
}

pub fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("sxfer-data");
    (temp, dir)
}

pub fn user(name: &str) -> Username {
    Username::parse(name).expect("user name")
}

pub fn file(name: &str) -> RemoteName {
    RemoteName::parse(name).expect("file name")
}

pub fn password(text: &str) -> Password {
    Password::new(text.to_owned())
}

/// Deterministic pseudo-random bytes.
pub fn bytes(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new().update(seed.as_bytes()).finalize_xof().fill(&mut out);
    out
}

pub fn meta(size: usize) -> FileMeta {
    FileMeta { size: size as u64, mode: 0o755, mtime: 1_700_000_000, mtime_nanos: 123_456_789 }
}

pub fn digest(data: &[u8]) -> [u8; 32] {
    *blake3::hash(data).as_bytes()
}

pub fn new_user(store: &Store, name: &str) -> UserId {
    store.add_user(&user(name), None).expect("add user").id
}

/// Writes `data` in uneven pieces (so writes straddle chunk boundaries).
pub fn write_pieces(upload: &mut Upload, data: &[u8]) {
    for piece in data.chunks(10_007) {
        upload.write(piece).expect("write");
    }
}

pub fn upload(store: &Store, owner: UserId, name: &str, data: &[u8]) -> FileEntry {
    let mut upload = store.begin_upload(owner, &file(name), meta(data.len()), false).expect("begin upload");
    assert_eq!(upload.offset(), 0);
    write_pieces(&mut upload, data);
    upload.sync().expect("sync");
    upload.commit(data.len() as u64, &digest(data)).expect("commit")
}

pub fn download(store: &Store, owner: UserId, name: &str) -> Vec<u8> {
    let (_, mut download) = store.open_download(owner, &file(name)).expect("open download").expect("file exists");
    let mut out = Vec::new();
    download.read_to_end(&mut out).expect("read");
    out
}

pub fn db(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("sxfer.db")).expect("open database")
}

/// Where the blob of the file called `name` is (names are unique in these tests).
pub fn blob_path(dir: &Path, name: &str) -> PathBuf {
    let id: String =
        db(dir).query_row("SELECT blob_id FROM files WHERE name = ?1", [name], |row| row.get(0)).expect("blob id");
    dir.join("blobs").join(&id[..2]).join(id)
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

pub fn backdate(path: &Path, age: Duration) {
    let file = OpenOptions::new().write(true).open(path).expect("open to backdate");
    file.set_modified(SystemTime::now() - age).expect("set mtime");
}

pub fn integrity<T: std::fmt::Debug>(result: Result<T, StoreError>) -> String {
    match result {
        Err(StoreError::Integrity(message)) => message,
        other => panic!("expected an integrity error, got {other:?}"),
    }
}
