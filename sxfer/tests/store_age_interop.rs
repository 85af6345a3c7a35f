//! Stored blobs are plain age v1 files: the stock `age` tool decrypts them
//! with `storage.key` (the disaster-recovery path in docs/STORAGE.md).
//!
//! Needs the `age` command (`scripts/install-test-deps.sh` installs it).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sxfer::store::Store;
use sxfer_proto::msgs::{FileMeta, Username};
use sxfer_proto::names::RemoteName;

fn require_age() {
    let found = Command::new("age").arg("--version").output().is_ok_and(|output| output.status.success());
    assert!(
        found,
        "the `age` command is not on PATH; this test checks that stored blobs decrypt with the stock tool. \
         Install it with scripts/install-test-deps.sh (Debian package `age`)"
    );
}

fn blob_path(dir: &Path, name: &str) -> PathBuf {
    let db = rusqlite::Connection::open(dir.join("sxfer.db")).expect("open database");
    let id: String =
        db.query_row("SELECT blob_id FROM files WHERE name = ?1", [name], |row| row.get(0)).expect("blob id");
    dir.join("blobs").join(&id[..2]).join(id)
}

#[test]
fn stored_blobs_decrypt_with_the_age_cli() {
    require_age();
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("sxfer-data");
    let store = Store::open(&dir).expect("open store");
    let alice = store.add_user(&Username::parse("alice").expect("name"), None).expect("add user").id;

    for size in [0usize, 1, 65_536, 200_003] {
        let mut data = vec![0u8; size];
        blake3::Hasher::new().update(&size.to_le_bytes()).finalize_xof().fill(&mut data);
        let name = RemoteName::parse(&format!("reports/file-{size}.bin")).expect("file name");
        let meta = FileMeta { size: size as u64, mode: 0o644, mtime: 1_700_000_000, mtime_nanos: 0 };
        let mut upload = store.begin_upload(alice, &name, meta, false).expect("begin upload");
        upload.write(&data).expect("write");
        upload.commit(size as u64, blake3::hash(&data).as_bytes()).expect("commit");

        let blob = blob_path(&dir, name.as_str());
        let output =
            Command::new("age").arg("-d").arg("-i").arg(dir.join("storage.key")).arg(&blob).output().expect("run age");
        assert!(output.status.success(), "age -d failed: {}", String::from_utf8_lossy(&output.stderr));
        assert!(output.stdout == data, "age -d output differs for {size} bytes");

        // And the other way: our download reads what was stored.
        let (_, mut download) = store.open_download(alice, &name).expect("open").expect("exists");
        let mut read = Vec::new();
        download.read_to_end(&mut read).expect("read");
        assert!(read == data);
    }

    // The published recipient is the key's: `age -R storage.pub` encrypts to it.
    let recipients = std::fs::read_to_string(dir.join("storage.pub")).expect("storage.pub");
    assert_eq!(recipients.trim(), store.storage_recipient());
    let output = Command::new("age-keygen").arg("-y").arg(dir.join("storage.key")).output();
    if let Ok(output) = output {
        assert!(output.status.success(), "age-keygen -y: {}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), store.storage_recipient());
    }
}
