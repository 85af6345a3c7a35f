//! The real server on 127.0.0.1:0 with a temp data dir, driven by the real
//! client library: round trips, resume after crashes, integrity, limits.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use sxfer::client::{self, commands, download, upload, Purpose};
use sxfer::output::Output;
use sxfer::store;
use sxfer_proto::identity::PrivateIdentity;
use sxfer_proto::names::RemoteName;

fn quiet() -> Output {
    Output { quiet: true, ..Output::default() }
}

fn write_file(path: &Path, bytes: &[u8], mode: u32, mtime: SystemTime) {
    std::fs::write(path, bytes).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    std::fs::File::options().write(true).open(path).expect("open").set_modified(mtime).expect("mtime");
}

fn download_jobs(dest: &Path, names: &[&str]) -> Vec<download::Job> {
    names
        .iter()
        .map(|name| {
            let name = RemoteName::parse(name).expect("name");
            let last = name.segments().count() - 1;
            download::Job { local: download::local_path(dest, &name, last).expect("path"), remote: name, listed: None }
        })
        .collect()
}

/// Polls `done` (often: it may guard a short-lived state) until it holds,
/// for at most 30 s.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn size_of_largest_in(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).max().unwrap_or(0))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_list_download_keeps_bytes_mode_and_mtime() {
    let server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let work = server.dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let old = UNIX_EPOCH + Duration::new(1_600_000_000, 123_456_789);
    let files: Vec<(PathBuf, Vec<u8>, u32)> = vec![
        (work.join("run.sh"), b"#!/bin/sh\necho sxfer-ok\n".to_vec(), 0o755),
        (work.join("image.png"), random_bytes(300 * 1024, 1), 0o640),
        (work.join("empty"), Vec::new(), 0o600),
        (work.join("big.bin"), random_bytes(6 << 20, 2), 0o644),
    ];
    for (path, bytes, mode) in &files {
        write_file(path, bytes, *mode, old);
    }
    let mut remote = server.connect("alice").await;
    let sources: Vec<PathBuf> = files.iter().map(|(p, _, _)| p.clone()).collect();
    let jobs = upload::plan(&sources, Some("stuff/"), false).unwrap();
    let uploaded = upload::run(&mut remote, &jobs, &quiet()).await.unwrap();
    assert_eq!(uploaded.entries.len(), 4);
    assert_eq!(uploaded.resumed_bytes, 0);

    let listed: Vec<String> =
        commands::list(&mut remote, "stuff/").await.unwrap().into_iter().map(|e| e.name.as_str().to_owned()).collect();
    assert_eq!(listed, ["stuff/big.bin", "stuff/empty", "stuff/image.png", "stuff/run.sh"]);
    let stat = commands::stat(&mut remote, &RemoteName::parse("stuff/image.png").unwrap()).await.unwrap();
    assert_eq!(stat.digest, *blake3::hash(&files[1].1).as_bytes());

    let out = server.dir.path().join("out");
    let jobs = download_jobs(&out, &["stuff/run.sh", "stuff/image.png", "stuff/empty", "stuff/big.bin"]);
    download::run(&mut remote, &jobs, &out, false, &quiet()).await.unwrap();
    remote.close().await.unwrap();

    for (path, bytes, mode) in &files {
        let local = out.join(path.file_name().unwrap());
        assert_eq!(&std::fs::read(&local).unwrap(), bytes, "{}", local.display());
        let metadata = std::fs::metadata(&local).unwrap();
        assert_eq!(metadata.permissions().mode() & 0o7777, *mode, "{}", local.display());
        assert_eq!(metadata.modified().unwrap(), old, "{}", local.display());
    }
    let ran = std::process::Command::new(out.join("run.sh")).output().expect("the downloaded script runs");
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "sxfer-ok\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_blobs_decrypt_with_the_stock_age_tool() {
    let server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let source = server.dir.path().join("photo.jpg");
    let bytes = random_bytes(200_000, 3);
    std::fs::write(&source, &bytes).unwrap();
    let mut remote = server.connect("alice").await;
    upload::run(&mut remote, &upload::plan(&[source], None, false).unwrap(), &quiet()).await.unwrap();
    remote.close().await.unwrap();
    let blobs = blobs_under(&server.data);
    assert_eq!(blobs.len(), 1);
    let stored = std::fs::read(&blobs[0]).unwrap();
    assert!(stored.starts_with(b"age-encryption.org/v1\n"), "blobs are age files");
    assert!(!stored.windows(64).any(|w| w == &bytes[..64]), "no plaintext at rest");
    let decrypted = std::process::Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(server.data.join("storage.key"))
        .arg(&blobs[0])
        .output()
        .expect("Debian's age must be installed (scripts/install-test-deps.sh)");
    assert!(decrypted.status.success(), "{}", String::from_utf8_lossy(&decrypted.stderr));
    assert_eq!(decrypted.stdout, bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_resumes_after_the_server_is_killed() {
    let mut server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let source = server.dir.path().join("large.bin");
    let bytes = random_bytes(96 << 20, 4);
    std::fs::write(&source, &bytes).unwrap();
    let jobs = upload::plan(std::slice::from_ref(&source), None, false).unwrap();

    let mut remote = server.connect("alice").await;
    let first_jobs = jobs.clone();
    let first = tokio::spawn(async move { upload::run(&mut remote, &first_jobs, &quiet()).await });
    let partial_dir = server.data.join("partial");
    wait_until("half the upload on disk", || size_of_largest_in(&partial_dir) > 40 << 20).await;
    server.kill().await;
    assert!(first.await.unwrap().is_err(), "the interrupted upload must fail");
    assert!(server.stat("alice", "large.bin").is_none(), "nothing visible after a crash");

    server.restart_with(Options::default()).await;
    let mut remote = server.connect("alice").await;
    let second = upload::run(&mut remote, &jobs, &quiet()).await.unwrap();
    assert!(second.resumed_bytes >= 32 << 20, "resumed from {} bytes", second.resumed_bytes);
    assert!(second.resumed_bytes < bytes.len() as u64);
    let out = server.dir.path().join("out");
    download::run(&mut remote, &download_jobs(&out, &["large.bin"]), &out, false, &quiet()).await.unwrap();
    remote.close().await.unwrap();
    assert!(std::fs::read(out.join("large.bin")).unwrap() == bytes, "resumed upload is byte-identical");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_resumes_after_the_client_is_killed_and_checks_the_prefix() {
    let server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let source = server.dir.path().join("movie.bin");
    let bytes = random_bytes(64 << 20, 5);
    std::fs::write(&source, &bytes).unwrap();
    let mut remote = server.connect("alice").await;
    upload::run(&mut remote, &upload::plan(&[source], None, false).unwrap(), &quiet()).await.unwrap();
    remote.close().await.unwrap();

    let out = server.dir.path().join("out");
    let partial = out.join(".movie.bin.sxfer-part");
    let mut remote = server.connect("alice").await;
    let (first_out, jobs) = (out.clone(), download_jobs(&out, &["movie.bin"]));
    let first = tokio::spawn(async move { download::run(&mut remote, &jobs, &first_out, false, &quiet()).await });
    wait_until("part of the download on disk", || std::fs::metadata(&partial).map_or(0, |m| m.len()) > 16 << 20).await;
    first.abort();
    assert!(first.await.is_err(), "the client was killed");
    let mut last = 0;
    wait_until("the killed client's writer to stop", || {
        let now = std::fs::metadata(&partial).map_or(0, |m| m.len());
        let stable = now == last;
        last = now;
        stable
    })
    .await;
    assert!(!out.join("movie.bin").exists(), "no final file before verification");

    let mut remote = server.connect("alice").await;
    let resumed =
        download::run(&mut remote, &download_jobs(&out, &["movie.bin"]), &out, false, &quiet()).await.unwrap();
    assert!(resumed > 16 << 20, "resumed from {resumed}");
    assert!(std::fs::read(out.join("movie.bin")).unwrap() == bytes);

    // A corrupted partial prefix is detected by the whole-file digest, removed, and
    // the next run starts over.
    let out2 = server.dir.path().join("out2");
    std::fs::create_dir_all(&out2).unwrap();
    std::fs::write(out2.join(".movie.bin.sxfer-part"), vec![0u8; 1 << 20]).unwrap();
    let err =
        download::run(&mut remote, &download_jobs(&out2, &["movie.bin"]), &out2, false, &quiet()).await.unwrap_err();
    assert!(format!("{err:#}").contains("do not match"), "{err:#}");
    assert!(!out2.join(".movie.bin.sxfer-part").exists() && !out2.join("movie.bin").exists());
    download::run(&mut remote, &download_jobs(&out2, &["movie.bin"]), &out2, false, &quiet()).await.unwrap();
    assert!(std::fs::read(out2.join("movie.bin")).unwrap() == bytes);
    remote.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_names_for_one_local_file_are_refused_before_any_transfer() {
    let server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let mut remote = server.connect("alice").await;
    let out = server.dir.path().join("out");
    // Both would land at out/x (a download keeps only the last segment).
    let err =
        download::run(&mut remote, &download_jobs(&out, &["a/x", "b/x"]), &out, false, &quiet()).await.unwrap_err();
    assert!(format!("{err:#}").contains("both be saved as"), "{err:#}");
    assert!(!out.exists(), "nothing was created");
    remote.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_or_truncated_blobs_are_refused_on_download() {
    let server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let mut remote = server.connect("alice").await;
    // One record (read and sent in one go) and several (streamed).
    for (name, size) in [("note.txt", 100 << 10), ("doc.pdf", 3 << 20)] {
        let source = server.dir.path().join(name);
        std::fs::write(&source, random_bytes(size, 6)).unwrap();
        let before = blobs_under(&server.data);
        upload::run(&mut remote, &upload::plan(&[source], None, false).unwrap(), &quiet()).await.unwrap();
        let blob = blobs_under(&server.data).into_iter().find(|blob| !before.contains(blob)).unwrap();
        let original = std::fs::read(&blob).unwrap();

        let mut flipped = original.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x20;
        std::fs::write(&blob, &flipped).unwrap();
        let out = server.dir.path().join("out");
        let err = download::run(&mut remote, &download_jobs(&out, &[name]), &out, false, &quiet()).await.unwrap_err();
        assert!(format!("{err:#}").contains("damaged"), "{name}: {err:#}");
        assert!(!out.join(name).exists());

        std::fs::write(&blob, &original[..original.len() - 1000]).unwrap();
        std::fs::remove_file(out.join(format!(".{name}.sxfer-part"))).ok();
        let err = download::run(&mut remote, &download_jobs(&out, &[name]), &out, false, &quiet()).await.unwrap_err();
        assert!(format!("{err:#}").contains("damaged"), "{name}: {err:#}");
        assert!(!out.join(name).exists());
    }
    remote.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_fingerprint_stops_the_client_before_any_credential() {
    let mut server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let home = server.dir.path().join("home");
    let mut options = server.client_options(&home, PASSWORD);
    let impostor = PrivateIdentity::generate_ed25519(&mut rand_core::OsRng).unwrap();
    options.fingerprint = Some(impostor.public().fingerprint());
    let err = client::connect(&server.target("alice", ""), &options, Purpose::Login).await.err().expect("refused");
    assert!(format!("{err:#}").contains("not the expected"), "{err:#}");
    // A graceful shutdown returns once every connection task has ended, so
    // anything the server did with that connection is in the audit by now.
    server.shutdown().await;
    assert_eq!(server.audit_count(), 0, "the server saw no credential at all");
    assert!(!home.join("known_hosts").exists(), "nothing pinned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_server_key_is_a_loud_refusal() {
    let mut server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let home = server.dir.path().join("home");
    let options = server.client_options(&home, PASSWORD);
    client::connect(&server.target("alice", ""), &options, Purpose::Login).await.unwrap().close().await.unwrap();
    // Same address, different key: what an attacker in the middle looks like.
    let pinned = std::fs::read_to_string(home.join("known_hosts")).unwrap();
    let other = PrivateIdentity::generate_ed25519(&mut rand_core::OsRng).unwrap();
    let line = format!("127.0.0.1:{} {}\n", server.address.port(), other.public().to_openssh());
    std::fs::write(home.join("known_hosts"), line).unwrap();
    let mut unpinned = options.clone();
    unpinned.fingerprint = None;
    let err = client::connect(&server.target("alice", ""), &unpinned, Purpose::Login).await.err().expect("refused");
    assert!(format!("{err:#}").contains("HAS CHANGED"), "{err:#}");
    assert!(pinned.contains("ssh-ed25519"));
    server.shutdown().await;
}

/// A peer's short code (ClientAuth method 0x05) means nothing to the file
/// server: a plain rejection, audited, and the server goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_code_login_is_refused_plainly() {
    use sxfer::net::conn::{client_handshake, is_wrong_code};
    use sxfer_proto::handshake::{ClientConfig, Credential, ServerPin};
    use sxfer_proto::pake::{Code, PakeCredential, PasswordScope};

    let mut server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let audited = server.audit_count();
    let stream = tokio::net::TcpStream::connect(server.address).await.unwrap();
    let password = Code::parse("3-amber-falcon-harbor").unwrap().password(PasswordScope::WholeCode);
    let credential = || Ok(Credential::Pake(PakeCredential::new(&password, &mut rand_core::OsRng)));
    let pin = |_: &_| Ok(ServerPin::Fingerprint(server.fingerprint));
    let idle = Duration::from_secs(30);
    let err = client_handshake(stream, ClientConfig::default(), pin, credential, idle).await.err().unwrap();
    assert!(format!("{err:#}").ends_with("authentication rejected: this server needs an account"), "{err:#}");
    assert!(!is_wrong_code(&err), "a refusal, not a failed PAKE");
    assert_eq!(server.audit_count(), audited + 1);
    server.connect("alice").await.close().await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_and_registration() {
    let server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let home = server.dir.path().join("home");
    let wrong = server.client_options(&home, "not the password");
    let err = client::connect(&server.target("alice", ""), &wrong, Purpose::Login).await.err().unwrap();
    let unknown = client::connect(&server.target("mallory", ""), &wrong, Purpose::Login).await.err().unwrap();
    assert!(format!("{err:#}").ends_with("authentication rejected: login failed"), "{err:#}");
    assert_eq!(format!("{err:#}").replace("alice", "x"), format!("{unknown:#}").replace("mallory", "x"), "same answer");

    let right = server.client_options(&home, PASSWORD);
    let err =
        client::connect(&server.target("bob", ""), &right, Purpose::Register { with_password: true, invite: None })
            .await
            .err()
            .unwrap();
    assert!(format!("{err:#}").contains("registration is disabled"), "{err:#}");

    let mut open = TestServer::start(Options {
        limits: sxfer::server::Limits { allow_registration: true, ..Options::default().limits },
        ..Options::default()
    })
    .await;
    let home = open.dir.path().join("home");
    let options = open.client_options(&home, PASSWORD);
    let bob =
        client::connect(&open.target("bob", ""), &options, Purpose::Register { with_password: true, invite: None })
            .await
            .unwrap();
    let id = bob.client_id;
    bob.close().await.unwrap();
    let again = client::connect(&open.target("bob", ""), &options, Purpose::Login).await.unwrap();
    assert_eq!(again.client_id, id, "the client id is stable");
    again.close().await.unwrap();
    let err =
        client::connect(&open.target("bob", ""), &options, Purpose::Register { with_password: true, invite: None })
            .await
            .err()
            .unwrap();
    assert!(format!("{err:#}").contains("exists"), "{err:#}");
    open.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_and_size_limits_are_refused_clearly() {
    let server = TestServer::start(Options {
        store_limits: store::Limits {
            max_file_size: 1 << 20,
            default_quota_bytes: Some(3 << 19),
            default_quota_files: Some(3),
            ..store::Limits::default()
        },
        ..Options::default()
    })
    .await;
    server.add_user("alice");
    let work = server.dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let make = |name: &str, len: usize| {
        let path = work.join(name);
        std::fs::write(&path, random_bytes(len, len as u64)).unwrap();
        path
    };
    let mut remote = server.connect("alice").await;
    let too_big = make("too-big", 2 << 20);
    let err = upload::run(&mut remote, &upload::plan(&[too_big], None, false).unwrap(), &quiet()).await.unwrap_err();
    assert!(format!("{err:#}").contains("too large"), "{err:#}");
    let first = make("first", 1 << 20);
    upload::run(&mut remote, &upload::plan(&[first], None, false).unwrap(), &quiet()).await.unwrap();
    let second = make("second", 1 << 20);
    let err = upload::run(&mut remote, &upload::plan(&[second], None, false).unwrap(), &quiet()).await.unwrap_err();
    assert!(format!("{err:#}").contains("quota"), "{err:#}");
    let small: Vec<PathBuf> = (0..3).map(|i| make(&format!("s{i}"), 10)).collect();
    let err = upload::run(&mut remote, &upload::plan(&small, None, false).unwrap(), &quiet()).await.unwrap_err();
    assert!(format!("{err:#}").contains("4 files would exceed the quota of 3"), "{err:#}");
    let names: Vec<String> =
        commands::list(&mut remote, "").await.unwrap().into_iter().map(|e| e.name.as_str().to_owned()).collect();
    assert_eq!(names, ["first", "s0", "s1"], "refused uploads left nothing behind");
    remote.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_clients_upload_and_download_distinct_files() {
    let server = TestServer::start(Options::default()).await;
    for i in 0..50 {
        server.add_user(&format!("user{i}"));
    }
    let server = std::sync::Arc::new(server);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50u64 {
        let server = server.clone();
        tasks.spawn(async move {
            let user = format!("user{i}");
            let dir = server.dir.path().join(&user);
            std::fs::create_dir_all(&dir).unwrap();
            let source = dir.join("file.bin");
            let bytes = random_bytes(256 * 1024 + i as usize, 100 + i);
            std::fs::write(&source, &bytes).unwrap();
            let mut remote = server.connect(&user).await;
            upload::run(&mut remote, &upload::plan(&[source], None, false).unwrap(), &quiet()).await.unwrap();
            let out = dir.join("out");
            download::run(&mut remote, &download_jobs(&out, &["file.bin"]), &out, false, &quiet()).await.unwrap();
            remote.close().await.unwrap();
            assert!(std::fs::read(out.join("file.bin")).unwrap() == bytes, "client {i}");
        });
    }
    let mut done = 0;
    while let Some(result) = tasks.join_next().await {
        result.expect("client task");
        done += 1;
    }
    assert_eq!(done, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_upload_of_many_small_files_is_pipelined() {
    let server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let tree = server.dir.path().join("tree");
    // More files than one group commit holds, of uneven sizes (some empty).
    const FILES: u64 = 600;
    for i in 0..FILES {
        let dir = tree.join(format!("d{}", i % 7));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("f{i}.txt")), random_bytes((i as usize * 37) % 5000, i)).unwrap();
    }
    let audited_before = server.audit_count();
    let mut remote = server.connect("alice").await;
    let jobs = upload::plan(std::slice::from_ref(&tree), None, true).unwrap();
    assert_eq!(jobs.len(), FILES as usize);
    let uploaded = upload::run(&mut remote, &jobs, &quiet()).await.unwrap();
    assert_eq!(uploaded.entries.len(), FILES as usize);
    let listing = commands::list(&mut remote, "tree/").await.unwrap();
    assert_eq!(listing.len(), FILES as usize);
    let out = server.dir.path().join("out");
    let names: Vec<String> = listing.iter().map(|e| e.name.as_str().to_owned()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    download::run(&mut remote, &download_jobs(&out, &names), &out, false, &quiet()).await.unwrap();
    remote.close().await.unwrap();
    for job in &jobs {
        let copy = out.join(job.local.file_name().unwrap());
        assert!(std::fs::read(&copy).unwrap() == std::fs::read(&job.local).unwrap(), "{}", job.remote);
    }
    assert_eq!(blobs_under(&server.data).len(), FILES as usize);
    assert_eq!(std::fs::read_dir(server.data.join("partial")).unwrap().count(), 0, "nothing left in partial/");
    // The login, then one upload row and one download row per file.
    assert_eq!(server.audit_count() - audited_before, 1 + 2 * FILES as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_commit_in_order_so_a_quota_refuses_exactly_the_last_files() {
    // Three groups (512 + 512 + 276) are in flight at once; the quota is
    // reached inside the third, after the first two committed.
    const FILES: usize = 1300;
    const QUOTA: usize = 1100;
    let server = TestServer::start(Options {
        store_limits: store::Limits { default_quota_files: Some(QUOTA as u64), ..store::Limits::default() },
        ..Options::default()
    })
    .await;
    server.add_user("alice");
    let tree = server.dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    for i in 0..FILES {
        std::fs::write(tree.join(format!("f{i:04}")), random_bytes(i % 97, i as u64)).unwrap();
    }
    let mut remote = server.connect("alice").await;
    let jobs = upload::plan(std::slice::from_ref(&tree), None, true).unwrap();
    let err = upload::run(&mut remote, &jobs, &quiet()).await.unwrap_err();
    assert!(format!("{err:#}").contains(&format!("{} of {FILES} uploads failed", FILES - QUOTA)), "{err:#}");
    assert!(format!("{err:#}").contains("would exceed the quota"), "{err:#}");
    let mut listed: Vec<String> =
        commands::list(&mut remote, "").await.unwrap().into_iter().map(|e| e.name.as_str().to_owned()).collect();
    remote.close().await.unwrap();
    // Files are sent in plan order: exactly the first QUOTA of them are stored.
    let mut sent_first: Vec<String> = jobs[..QUOTA].iter().map(|job| job.remote.as_str().to_owned()).collect();
    listed.sort();
    sent_first.sort();
    assert_eq!(listed, sent_first);
    assert_eq!(blobs_under(&server.data).len(), QUOTA, "refused files left no blob");
    assert_eq!(std::fs::read_dir(server.data.join("partial")).unwrap().count(), 0, "nothing left in partial/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_tells_idle_clients() {
    let mut server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let mut remote = server.connect("alice").await;
    server.shutdown().await;
    let err = commands::list(&mut remote, "").await.unwrap_err();
    assert!(format!("{err:#}").contains("shutting down"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_during_a_pipelined_upload_is_reported_as_such() {
    let mut server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let tree = server.dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    // Large enough that the client is still writing when the server hangs up.
    const FILES: usize = 1000;
    for i in 0..FILES {
        std::fs::write(tree.join(format!("f{i:04}")), random_bytes(32 << 10, i as u64)).unwrap();
    }
    let mut remote = server.connect("alice").await;
    let jobs = upload::plan(std::slice::from_ref(&tree), None, true).unwrap();
    let sources: Vec<(String, PathBuf)> =
        jobs.iter().map(|job| (job.remote.as_str().to_owned(), job.local.clone())).collect();
    let upload = tokio::spawn(async move { upload::run(&mut remote, &jobs, &quiet()).await });
    // Stop the server as soon as it has staged a first file, early in the
    // stream. (Waiting for the first group's commit raced with the end of
    // the upload: a group can hold 512 files, and the whole tree fits in
    // the socket buffers plus two groups.)
    let partial = server.data.join("partial");
    let staged = || std::fs::read_dir(&partial).map_or(0, |d| d.count()) + blobs_under(&server.data).len();
    wait_until("a first file staged", || staged() > 0).await;
    server.shutdown().await;
    let err = upload.await.unwrap().expect_err("the upload cannot have finished");
    assert!(format!("{err:#}").contains("the server is shutting down"), "{err:#}");
    // Nothing is left half-done, and what was committed before the shutdown
    // is stored whole: back up, the server lists it and serves its bytes.
    assert_eq!(std::fs::read_dir(server.data.join("partial")).unwrap().count(), 0, "nothing left in partial/");
    let stored = blobs_under(&server.data).len();
    assert!(stored > 0 && stored < FILES, "{stored} of {FILES} stored");
    server.restart_with(Options::default()).await;
    let mut remote = server.connect("alice").await;
    let listed = commands::list(&mut remote, "").await.unwrap();
    assert_eq!(listed.len(), stored, "every blob is a listed file");
    let names: Vec<String> = listed.iter().map(|entry| entry.name.as_str().to_owned()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let out = server.dir.path().join("out");
    download::run(&mut remote, &download_jobs(&out, &names), &out, false, &quiet()).await.unwrap();
    remote.close().await.unwrap();
    for name in names {
        let (_, source) = sources.iter().find(|(remote, _)| remote == name).expect("a file that was sent");
        let copy = out.join(source.file_name().unwrap());
        assert!(std::fs::read(copy).unwrap() == std::fs::read(source).unwrap(), "{name} is intact");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_key_login_works_only_for_authorized_keys() {
    let server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let home = server.dir.path().join("home");
    let key = PrivateIdentity::generate_ed25519(&mut rand_core::OsRng).unwrap();
    let key_file = server.dir.path().join("id_ed25519");
    std::fs::write(&key_file, key.to_openssh().unwrap().as_bytes()).unwrap();
    let mut options = server.client_options(&home, "wrong password, must not be used");
    options.identity_file = Some(key_file);
    let err = client::connect(&server.target("alice", ""), &options, Purpose::Login).await.err().unwrap();
    assert!(format!("{err:#}").contains("login failed"), "an unknown key is refused: {err:#}");
    let alice = sxfer_proto::msgs::Username::parse("alice").unwrap();
    server.store.add_key(&alice, key.public()).unwrap();
    let remote = client::connect(&server.target("alice", ""), &options, Purpose::Login).await.unwrap();
    remote.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_are_rate_limited() {
    let server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let home = server.dir.path().join("home");
    let wrong = server.client_options(&home, "guess");
    for _ in 0..5 {
        let err = client::connect(&server.target("alice", ""), &wrong, Purpose::Login).await.err().unwrap();
        assert!(format!("{err:#}").contains("login failed"), "{err:#}");
    }
    // Now even the right password is turned away for a while.
    let right = server.client_options(&home, PASSWORD);
    let err = client::connect(&server.target("alice", ""), &right, Purpose::Login).await.err().unwrap();
    assert!(format!("{err:#}").contains("too many failed logins"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_is_a_clear_refusal() {
    let server = TestServer::start(Options {
        limits: sxfer::server::Limits { max_connections: 1, ..Options::default().limits },
        ..Options::default()
    })
    .await;
    server.add_user("alice");
    let mut first = server.connect("alice").await;
    // Refused in the AuthResult, before the password is checked.
    let audited = server.audit_count();
    let options = server.client_options(&server.dir.path().join("home-second"), PASSWORD);
    let err = client::connect(&server.target("alice", ""), &options, Purpose::Login).await.err().unwrap();
    assert!(format!("{err:#}").contains("connection limit"), "{err:#}");
    assert_eq!(server.audit_count(), audited, "no credential was checked");
    commands::list(&mut first, "").await.unwrap();
    first.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_delete_and_recursive_download_stay_inside_the_destination() {
    let server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let tree = server.dir.path().join("proj");
    std::fs::create_dir_all(tree.join("src/deep")).unwrap();
    std::fs::write(tree.join("README"), b"readme").unwrap();
    std::fs::write(tree.join("src/main.rs"), b"fn main() {}").unwrap();
    std::fs::write(tree.join("src/deep/x.bin"), random_bytes(70_000, 9)).unwrap();
    let mut remote = server.connect("alice").await;
    upload::run(&mut remote, &upload::plan(&[tree], Some("backup/"), true).unwrap(), &quiet()).await.unwrap();

    let readme = RemoteName::parse("backup/proj/README").unwrap();
    let renamed = RemoteName::parse("backup/proj/README.md").unwrap();
    commands::rename(&mut remote, &readme, &renamed).await.unwrap();
    assert!(commands::stat(&mut remote, &readme).await.is_err());
    commands::remove(&mut remote, &RemoteName::parse("backup/proj/src/main.rs").unwrap()).await.unwrap();
    let err = commands::remove(&mut remote, &RemoteName::parse("backup/proj/src/main.rs").unwrap()).await.unwrap_err();
    assert!(format!("{err:#}").contains("no such file"), "{err:#}");

    // Recursive download of backup/proj keeps the tree under dest/proj.
    let dest = server.dir.path().join("restore");
    let entries = commands::list(&mut remote, "backup/proj").await.unwrap();
    let jobs: Vec<download::Job> = entries
        .into_iter()
        .map(|e| download::Job {
            local: download::local_path(&dest, &e.name, 1).unwrap(),
            remote: e.name,
            listed: None,
        })
        .collect();
    download::run(&mut remote, &jobs, &dest, false, &quiet()).await.unwrap();
    assert_eq!(std::fs::read(dest.join("proj/README.md")).unwrap(), b"readme");
    assert_eq!(std::fs::read(dest.join("proj/src/deep/x.bin")).unwrap(), random_bytes(70_000, 9));
    assert!(!dest.join("proj/src/main.rs").exists());

    // A symbolic link inside the destination is never written through.
    let outside = server.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let trap = server.dir.path().join("trap");
    std::fs::create_dir_all(&trap).unwrap();
    std::os::unix::fs::symlink(&outside, trap.join("proj")).unwrap();
    let jobs = vec![download::Job {
        local: download::local_path(&trap, &renamed, 1).unwrap(),
        remote: renamed.clone(),
        listed: None,
    }];
    let err = download::run(&mut remote, &jobs, &trap, false, &quiet()).await.unwrap_err();
    assert!(format!("{err:#}").contains("symbolic link"), "{err:#}");
    assert!(std::fs::read_dir(&outside).unwrap().next().is_none(), "nothing written outside");
    remote.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_suite_carries_a_transfer_when_both_sides_allow_it() {
    use sxfer_proto::record::suite::SuiteId;
    let server = TestServer::start(Options { all_suites: true, ..Options::default() }).await;
    server.add_user("alice");
    let source = server.dir.path().join("data.bin");
    let bytes = random_bytes((5 << 20) + 3, 11);
    std::fs::write(&source, &bytes).unwrap();
    for suite in SuiteId::ALL {
        let home = server.dir.path().join(format!("home-{}", suite.name()));
        let mut options = server.client_options(&home, PASSWORD);
        options.suites = Some(vec![suite]);
        let mut remote = client::connect(&server.target("alice", ""), &options, Purpose::Login).await.unwrap();
        upload::run(&mut remote, &upload::plan(std::slice::from_ref(&source), None, false).unwrap(), &quiet())
            .await
            .unwrap();
        let out = server.dir.path().join(format!("out-{}", suite.name()));
        download::run(&mut remote, &download_jobs(&out, &["data.bin"]), &out, false, &quiet()).await.unwrap();
        remote.close().await.unwrap();
        assert!(std::fs::read(out.join("data.bin")).unwrap() == bytes, "{suite:?}");
    }
    // A server on the defaults refuses a client that offers only a legacy suite.
    let strict = TestServer::start(Options::default()).await;
    strict.add_user("alice");
    let mut options = strict.client_options(&strict.dir.path().join("h"), PASSWORD);
    options.suites = Some(vec![SuiteId::HmacSha256Ctr]);
    let err = client::connect(&strict.target("alice", ""), &options, Purpose::Login).await.err().expect("refused");
    assert_eq!(format!("{err:#}"), "the server accepts none of the offered record suites (offered: hmac-sha256-ctr)");
    assert!(!strict.dir.path().join("h/known_hosts").exists(), "the refusal came before any pin was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_longer_than_the_stored_file_is_discarded_and_the_download_restarts() {
    let server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let source = server.dir.path().join("notes.txt");
    std::fs::write(&source, b"short now").unwrap();
    let mut remote = server.connect("alice").await;
    upload::run(&mut remote, &upload::plan(std::slice::from_ref(&source), None, false).unwrap(), &quiet())
        .await
        .unwrap();
    let out = server.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join(".notes.txt.sxfer-part"), vec![b'x'; 5000]).unwrap();
    download::run(&mut remote, &download_jobs(&out, &["notes.txt"]), &out, false, &quiet()).await.unwrap();
    assert_eq!(std::fs::read(out.join("notes.txt")).unwrap(), b"short now");
    remote.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_tokens_admit_exactly_as_many_accounts_as_they_allow() {
    use sxfer_proto::secret::SecretBytes;
    let server = TestServer::start(Options::default()).await; // registration closed
    let token = server.store.create_invite(1, 3600).unwrap();
    let register = |name: &'static str, invite: Option<&str>| {
        let home = server.dir.path().join(format!("home-{name}"));
        let options = server.client_options(&home, PASSWORD);
        let target = server.target(name, "");
        let invite = invite.map(|t| SecretBytes::new(t.as_bytes().to_vec()));
        async move { client::connect(&target, &options, Purpose::Register { with_password: true, invite }).await }
    };
    let err = register("carol", Some("sxfer-invite-00")).await.err().unwrap();
    assert!(format!("{err:#}").contains("unknown, used up or expired"), "{err:#}");
    let carol = register("carol", Some(token.as_str())).await.unwrap();
    carol.close().await.unwrap();
    let err = register("dave", Some(token.as_str())).await.err().unwrap();
    assert!(format!("{err:#}").contains("unknown, used up or expired"), "a one-use token works once: {err:#}");
    let err = register("dave", None).await.err().unwrap();
    assert!(format!("{err:#}").contains("registration is disabled"), "{err:#}");
    let expired = server.store.create_invite(5, 0).unwrap();
    let err = register("erin", Some(expired.as_str())).await.err().unwrap();
    assert!(format!("{err:#}").contains("unknown, used up or expired"), "{err:#}");
    // A token is only spent when an account is actually created.
    let two = server.store.create_invite(1, 3600).unwrap();
    let err = register("carol", Some(two.as_str())).await.err().unwrap();
    assert!(format!("{err:#}").contains("exists"), "{err:#}");
    register("frank", Some(two.as_str())).await.unwrap().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_a_last_segment_of_up_to_255_bytes_download() {
    // `.NAME.sxfer-part` used to pass NAME_MAX for segments of 244+ bytes.
    let server = TestServer::start(Options::default()).await;
    server.add_user("alice");
    let mut remote = server.connect("alice").await;
    let names: Vec<String> = ["n".repeat(244), "m".repeat(255), format!("{}é", "x".repeat(253))].into();
    let local_dir = server.dir.path().join("src");
    std::fs::create_dir_all(&local_dir).unwrap();
    for (i, name) in names.iter().enumerate() {
        // Large and small: both download paths make a partial.
        let bytes = random_bytes(if i == 0 { 5 << 20 } else { 3000 }, i as u64);
        std::fs::write(local_dir.join(name), &bytes).unwrap();
        let jobs = upload::plan(&[local_dir.join(name)], Some(&format!("d/{name}")), false).unwrap();
        upload::run(&mut remote, &jobs, &quiet()).await.unwrap();
    }
    let out = server.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let remote_names: Vec<String> = names.iter().map(|n| format!("d/{n}")).collect();
    let refs: Vec<&str> = remote_names.iter().map(String::as_str).collect();
    download::run(&mut remote, &download_jobs(&out, &refs), &out, false, &quiet()).await.unwrap();
    for name in &names {
        assert_eq!(std::fs::read(out.join(name)).unwrap(), std::fs::read(local_dir.join(name)).unwrap());
    }
    remote.close().await.unwrap();
}
