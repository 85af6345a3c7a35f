//! Drops (PROTOCOL.md §14) with real `sxfer drop`, `sxfer inbox` and
//! `sxfer fetch` processes against a real server on 127.0.0.1:0: a file
//! from Alice to Bob arrives byte-identical with its mode and mtime, for
//! ssh-ed25519 and ssh-rsa keys; the stored ciphertext decrypts with the
//! stock `age` tool and Bob's key, not Carol's; a ciphertext, signature or
//! metadata altered in the server's store is refused with nothing written;
//! a recipient key swapped in the directory is refused by `drop`.
//!
//! Needs the `age` command (`scripts/install-test-deps.sh` installs it).
#![allow(clippy::unwrap_used)]

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, UNIX_EPOCH};

use rand_core::OsRng;

use common::{random_bytes, TestServer};
use sxfer::store;
use sxfer_proto::codec::Codec;
use sxfer_proto::identity::PrivateIdentity;
use sxfer_proto::msgs::{DropId, Username};

const BIN: &str = env!("CARGO_BIN_EXE_sxfer");

#[derive(Clone, Copy)]
enum Kind {
    Ed25519,
    Rsa,
}

/// One person: an account on the server, an OpenSSH key file that logs in,
/// and a client home of their own.
struct Person {
    name: String,
    key: PathBuf,
    home: PathBuf,
}

fn person(server: &TestServer, name: &str, kind: Kind) -> Person {
    let home = server.dir.path().join(format!("home-{name}"));
    std::fs::create_dir_all(&home).unwrap();
    let identity = match kind {
        Kind::Ed25519 => PrivateIdentity::generate_ed25519(&mut OsRng).unwrap(),
        Kind::Rsa => PrivateIdentity::generate_rsa(2048).unwrap(),
    };
    let key = home.join("id");
    std::fs::write(&key, identity.to_openssh().unwrap().as_bytes()).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    server.add_user(name);
    server.store.add_key(&Username::parse(name).unwrap(), identity.public()).unwrap();
    Person { name: name.to_owned(), key, home }
}

/// Runs `sxfer ARGS --fingerprint SERVER` with the client home `home`.
async fn sxfer(server: &TestServer, home: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .arg("--fingerprint")
        .arg(server.fingerprint.to_string())
        .env("HOME", home)
        .env("SXFER_HOME", home.join(".sxfer"))
        .env_remove("SXFER_PASSWORD");
    let run = tokio::task::spawn_blocking(move || command.output().expect("run sxfer"));
    tokio::time::timeout(Duration::from_secs(120), run).await.expect("sxfer finished").unwrap()
}

impl Person {
    /// Runs `sxfer ARGS -i KEY` as this person.
    async fn run(&self, server: &TestServer, args: &[&str]) -> Output {
        let key = self.key.display().to_string();
        let with_key: Vec<&str> = args.iter().copied().chain(["-i", key.as_str()]).collect();
        sxfer(server, &self.home, &with_key).await
    }

    fn at(&self, server: &TestServer) -> String {
        format!("{}@127.0.0.1:{}", self.name, server.address.port())
    }

    /// `sxfer drop FILE --to …`: the drop's id, from its output.
    async fn drop_to(&self, server: &TestServer, file: &Path, to: &[&Person]) -> String {
        let output = self.drop_output(server, file, to).await;
        assert!(output.status.success(), "drop failed: {}", text(&output));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let line = stdout.lines().find(|l| l.starts_with("dropped ")).unwrap_or_else(|| panic!("{}", text(&output)));
        line.rsplit(' ').next().unwrap().to_owned()
    }

    async fn drop_output(&self, server: &TestServer, file: &Path, to: &[&Person]) -> Output {
        let mut args = vec!["drop".to_owned(), file.display().to_string()];
        for recipient in to {
            args.push("--to".into());
            args.push(recipient.name.clone());
        }
        args.push(self.at(server));
        self.run(server, &args.iter().map(String::as_str).collect::<Vec<_>>()).await
    }

    async fn fetch(&self, server: &TestServer, id: &str, dest: &Path) -> Output {
        let dest = dest.display().to_string();
        self.run(server, &["fetch", id, &dest, "--server", &self.at(server)]).await
    }
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A file with these bytes, mode and mtime.
fn file(dir: &Path, name: &str, bytes: &[u8], mode: u32, mtime: i64) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(UNIX_EPOCH + Duration::from_secs(mtime as u64)).unwrap();
    path
}

fn mtime(path: &Path) -> i64 {
    let modified = std::fs::metadata(path).unwrap().modified().unwrap();
    modified.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn db(server: &TestServer) -> rusqlite::Connection {
    rusqlite::Connection::open(server.data.join("sxfer.db")).unwrap()
}

/// The blob of drop `id` in the server's blob directory.
fn blob_of(server: &TestServer, id: &str) -> PathBuf {
    let raw = id.parse::<DropId>().unwrap().0.to_vec();
    let blob: String = db(server).query_row("SELECT blob_id FROM drops WHERE id = ?1", [raw], |r| r.get(0)).unwrap();
    server.data.join("blobs").join(&blob[..2]).join(blob)
}

fn require_age() {
    let found = Command::new("age").arg("--version").output().is_ok_and(|output| output.status.success());
    assert!(found, "the `age` command is not on PATH; install it with scripts/install-test-deps.sh (Debian `age`)");
}

/// `age -d -i KEY FILE`.
fn age_decrypt(key: &Path, ciphertext: &Path) -> Output {
    Command::new("age").arg("-d").arg("-i").arg(key).arg(ciphertext).output().expect("run age")
}

/// Everything in `dir`, hidden files included.
fn entries(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(read) => read.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

async fn a_drop_arrives_intact(kind: Kind, size: usize) {
    require_age();
    let server = TestServer::start(common::Options::default()).await;
    let (alice, bob, carol) =
        (person(&server, "alice", kind), person(&server, "bob", kind), person(&server, "carol", kind));
    let bytes = random_bytes(size, 12);
    let source = file(server.dir.path(), "report.bin", &bytes, 0o750, 1_700_000_123);
    let id = alice.drop_to(&server, &source, &[&bob]).await;

    let inbox = bob.run(&server, &["inbox", &bob.at(&server)]).await;
    assert!(inbox.status.success(), "{}", text(&inbox));
    let listing = String::from_utf8_lossy(&inbox.stdout).into_owned();
    let line = listing.lines().find(|l| l.starts_with(&id)).unwrap_or_else(|| panic!("{listing}"));
    assert!(line.contains(" alice ") && line.contains("report.bin") && line.ends_with("[verified]"), "{line}");
    assert!(line.contains(&format!(" {size} ")), "{line}");

    // The stored blob is the age ciphertext: Bob's key opens it, Carol's not.
    let blob = blob_of(&server, &id);
    let opened = age_decrypt(&bob.key, &blob);
    assert!(opened.status.success(), "age -d with Bob's key: {}", String::from_utf8_lossy(&opened.stderr));
    assert!(opened.stdout == bytes, "age decrypts the blob to the file");
    let refused = age_decrypt(&carol.key, &blob);
    assert!(!refused.status.success() && refused.stdout.is_empty(), "Carol's key must not decrypt Bob's drop");
    assert!(!std::fs::read(&blob).unwrap().windows(16).any(|w| w == &bytes[..16]), "no plaintext on the server");

    let dest = server.dir.path().join("fetched");
    let fetched = bob.fetch(&server, &id, &dest).await;
    assert!(fetched.status.success(), "{}", text(&fetched));
    let landed = dest.join("report.bin");
    assert!(std::fs::read(&landed).unwrap() == bytes, "byte-identical");
    assert_eq!(std::fs::metadata(&landed).unwrap().permissions().mode() & 0o7777, 0o750);
    assert_eq!(mtime(&landed), 1_700_000_123);
    assert_eq!(entries(&dest), vec!["report.bin".to_owned()], "no partial left behind");
    // The download's rules: no writing through a link at the partial's
    // name, and an existing file is replaced only with --force.
    let victim = server.dir.path().join("victim");
    std::fs::write(&victim, b"untouched").unwrap();
    std::os::unix::fs::symlink(&victim, dest.join(".report.bin.sxfer-part")).unwrap();
    std::fs::remove_file(&landed).unwrap();
    let linked = bob.fetch(&server, &id, &dest).await;
    assert!(!linked.status.success() && text(&linked).contains("not a regular file"), "{}", text(&linked));
    assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
    std::fs::remove_file(dest.join(".report.bin.sxfer-part")).unwrap();
    std::fs::write(&landed, b"mine").unwrap();
    let kept = bob.fetch(&server, &id, &dest).await;
    assert!(!kept.status.success() && text(&kept).contains("--force"), "{}", text(&kept));
    assert_eq!(std::fs::read(&landed).unwrap(), b"mine");
    let dest_text = dest.display().to_string();
    let forced = bob.run(&server, &["fetch", &id, &dest_text, "--force", "--server", &bob.at(&server)]).await;
    assert!(forced.status.success(), "{}", text(&forced));
    assert!(std::fs::read(&landed).unwrap() == bytes);

    // Carol cannot fetch it: it is not in her inbox.
    let theirs = carol.fetch(&server, &id, &server.dir.path().join("carol-out")).await;
    assert!(!theirs.status.success() && text(&theirs).contains("no drop"), "{}", text(&theirs));

    let removed = bob.run(&server, &["inbox", "rm", &id, &bob.at(&server)]).await;
    assert!(removed.status.success(), "{}", text(&removed));
    assert!(!blob.exists(), "the last recipient's rm removes the blob");
    let again = bob.run(&server, &["inbox", &bob.at(&server)]).await;
    assert!(!String::from_utf8_lossy(&again.stdout).contains(&id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ed25519_drop_arrives_byte_identical_with_mode_and_mtime() {
    a_drop_arrives_intact(Kind::Ed25519, 300_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rsa_drop_arrives_byte_identical_with_mode_and_mtime() {
    // Over 4 MiB: more than one record, and the resumable request.
    a_drop_arrives_intact(Kind::Rsa, 5 << 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_drop_to_two_recipients_decrypts_for_each() {
    require_age();
    let server = TestServer::start(common::Options::default()).await;
    let alice = person(&server, "alice", Kind::Ed25519);
    let (bob, carol) = (person(&server, "bob", Kind::Rsa), person(&server, "carol", Kind::Ed25519));
    let bytes = random_bytes(70_000, 3);
    let source = file(server.dir.path(), "both.txt", &bytes, 0o644, 1_650_000_000);
    let id = alice.drop_to(&server, &source, &[&bob, &carol]).await;
    let blob = blob_of(&server, &id);
    for recipient in [&bob, &carol] {
        assert!(age_decrypt(&recipient.key, &blob).stdout == bytes, "{} decrypts the one ciphertext", recipient.name);
        let dest = server.dir.path().join(format!("out-{}", recipient.name));
        let fetched = recipient.fetch(&server, &id, &dest).await;
        assert!(fetched.status.success(), "{}", text(&fetched));
        assert!(std::fs::read(dest.join("both.txt")).unwrap() == bytes);
    }
    assert!(!age_decrypt(&alice.key, &blob).status.success(), "the sender is not a recipient");
}

/// What to alter in the server's store before Bob fetches.
enum Tamper {
    /// A ciphertext byte, with the recorded digest updated to match: the
    /// server serves it as sound; only the signature can tell.
    Ciphertext,
    Signature,
    /// The mtime in the signed header.
    Metadata,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_ciphertext_signature_or_metadata_is_refused_with_nothing_written() {
    let server = TestServer::start(common::Options::default()).await;
    let (alice, bob) = (person(&server, "alice", Kind::Ed25519), person(&server, "bob", Kind::Ed25519));
    for (i, tamper) in [Tamper::Ciphertext, Tamper::Signature, Tamper::Metadata].into_iter().enumerate() {
        let bytes = random_bytes(200_000, i as u64);
        let name = format!("t{i}.bin");
        let source = file(server.dir.path(), &name, &bytes, 0o600, 1_600_000_000);
        let id = alice.drop_to(&server, &source, &[&bob]).await;
        let raw = id.parse::<DropId>().unwrap().0.to_vec();
        let db = db(&server);
        match tamper {
            Tamper::Ciphertext => {
                let blob = blob_of(&server, &id);
                let mut ciphertext = std::fs::read(&blob).unwrap();
                let at = ciphertext.len() - 100;
                ciphertext[at] ^= 0x01;
                std::fs::write(&blob, &ciphertext).unwrap();
                let digest = blake3::hash(&ciphertext).as_bytes().to_vec();
                db.execute("UPDATE drops SET ciphertext_digest = ?1 WHERE id = ?2", rusqlite::params![digest, raw])
                    .unwrap();
            }
            Tamper::Signature | Tamper::Metadata => {
                let mut header: Vec<u8> =
                    db.query_row("SELECT header FROM drops WHERE id = ?1", [&raw], |r| r.get(0)).unwrap();
                let at = match tamper {
                    Tamper::Signature => header.len() - 1,
                    // After the name: size (8), mode (4), then mtime's low byte.
                    _ => find(&header, name.as_bytes()) + name.len() + 8 + 4 + 7,
                };
                header[at] ^= 0x01;
                db.execute("UPDATE drops SET header = ?1 WHERE id = ?2", rusqlite::params![header, raw]).unwrap();
            }
        }
        let dest = server.dir.path().join(format!("dest-{i}"));
        let fetched = bob.fetch(&server, &id, &dest).await;
        assert!(!fetched.status.success(), "tampered drop {i} was accepted: {}", text(&fetched));
        assert!(text(&fetched).contains("refused"), "{}", text(&fetched));
        assert!(entries(&dest).is_empty(), "drop {i}: something was written: {:?}", entries(&dest));
        let inbox = bob.run(&server, &["inbox", &bob.at(&server)]).await;
        let listing = String::from_utf8_lossy(&inbox.stdout).into_owned();
        let line = listing.lines().find(|l| l.starts_with(&id)).unwrap();
        let verified = line.ends_with("[verified]");
        assert_eq!(verified, matches!(tamper, Tamper::Ciphertext), "the header check of drop {i}: {line}");
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).position(|w| w == needle).expect("in the header")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_key_swapped_in_the_directory_is_refused_by_drop() {
    let server = TestServer::start(common::Options::default()).await;
    let (alice, bob) = (person(&server, "alice", Kind::Ed25519), person(&server, "bob", Kind::Ed25519));
    let source = file(server.dir.path(), "first.txt", b"pinned on first use\n", 0o644, 1_600_000_000);
    alice.drop_to(&server, &source, &[&bob]).await;

    // The server now hands out a key of its own for bob.
    let name = Username::parse("bob").unwrap();
    let real = server.store.list_keys(&name).unwrap().remove(0);
    let swapped = PrivateIdentity::generate_ed25519(&mut OsRng).unwrap();
    server.store.add_key(&name, swapped.public()).unwrap();
    server.store.delete_key(&name, &real.fingerprint()).unwrap();

    let second = file(server.dir.path(), "second.txt", b"must not be sent\n", 0o644, 1_600_000_000);
    let refused = alice.drop_output(&server, &second, &[&bob]).await;
    assert!(!refused.status.success());
    let said = text(&refused);
    assert!(
        said.contains("DIFFERENT KEY FOR bob@") && said.contains(&swapped.public().fingerprint().to_string()),
        "{said}"
    );
    let bob_id = server.store.user(&name).unwrap().unwrap().id;
    assert_eq!(server.store.inbox(bob_id).unwrap().len(), 1, "nothing more was stored");

    // Once the new key is confirmed out of band, Alice forgets the pin.
    let contacts = |args: &[&str]| {
        Command::new(BIN).arg("contacts").args(args).env("SXFER_HOME", alice.home.join(".sxfer")).output().unwrap()
    };
    let listed = String::from_utf8_lossy(&contacts(&[]).stdout).into_owned();
    assert!(
        listed.contains(&format!("{} ", bob.at(&server))) && listed.contains(&real.fingerprint().to_string()),
        "{listed}"
    );
    let forgot = contacts(&["rm", &bob.at(&server)]);
    assert!(forgot.status.success(), "{}", text(&forgot));
    let renewed = alice.drop_output(&server, &second, &[&bob]).await;
    assert!(renewed.status.success(), "pinned anew: {}", text(&renewed));
    assert!(text(&renewed).contains(&swapped.public().fingerprint().to_string()), "shows the new pin");
    assert!(!contacts(&["rm", "nobody@127.0.0.1:1"]).status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_cap_and_the_senders_quota_refuse_a_drop() {
    let store_limits = store::Limits { max_inbox_drops: 1, ..store::Limits::default() };
    let server = TestServer::start(common::Options { store_limits, ..common::Options::default() }).await;
    let (alice, bob, carol) = (
        person(&server, "alice", Kind::Ed25519),
        person(&server, "bob", Kind::Ed25519),
        person(&server, "carol", Kind::Ed25519),
    );
    let source = file(server.dir.path(), "a.txt", b"one\n", 0o644, 1_600_000_000);
    alice.drop_to(&server, &source, &[&bob]).await;
    let full = alice.drop_output(&server, &source, &[&bob]).await;
    assert!(!full.status.success() && text(&full).contains("inbox of bob is full"), "{}", text(&full));

    // Drops count against the sender's quota: carol may store 10 bytes.
    server.store.set_quota(&Username::parse("carol").unwrap(), Some(10), None).unwrap();
    let over = carol.drop_output(&server, &source, &[&alice]).await;
    assert!(!over.status.success() && text(&over).contains("quota"), "{}", text(&over));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_published_by_its_owner_receives_drops() {
    let server = TestServer::start(common::Options::default()).await;
    let alice = person(&server, "alice", Kind::Ed25519);
    // Dave has a password only; he publishes a key of his own.
    server.add_user("dave");
    let home = server.dir.path().join("home-dave");
    std::fs::create_dir_all(&home).unwrap();
    let dave_key = PrivateIdentity::generate_ed25519(&mut OsRng).unwrap();
    let key = home.join("id");
    std::fs::write(&key, dave_key.to_openssh().unwrap().as_bytes()).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let password = home.join("password");
    std::fs::write(&password, common::PASSWORD).unwrap();
    let dave = Person { name: "dave".into(), key: key.clone(), home: home.clone() };
    let (at, key_text, password_text) = (dave.at(&server), key.display().to_string(), password.display().to_string());

    let no_key = alice.drop_output(&server, &key, &[&dave]).await;
    assert!(!no_key.status.success() && text(&no_key).contains("no public key"), "{}", text(&no_key));
    let published =
        sxfer(&server, &home, &["key", "publish", &at, "--key", &key_text, "--password-file", &password_text]).await;
    assert!(published.status.success(), "{}", text(&published));
    assert!(text(&published).contains(&dave_key.public().fingerprint().to_string()), "{}", text(&published));

    let source = file(server.dir.path(), "for-dave.txt", b"hello dave\n", 0o640, 1_600_000_000);
    let id = alice.drop_to(&server, &source, &[&dave]).await;
    let dest = server.dir.path().join("dave-out");
    let fetched = dave.fetch(&server, &id, &dest).await;
    assert!(fetched.status.success(), "{}", text(&fetched));
    assert_eq!(std::fs::read(dest.join("for-dave.txt")).unwrap(), b"hello dave\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_fetch_resumes_and_a_wrong_prefix_starts_over() {
    let server = TestServer::start(common::Options::default()).await;
    let (alice, bob) = (person(&server, "alice", Kind::Ed25519), person(&server, "bob", Kind::Ed25519));
    let staging = bob.home.join(".sxfer").join("drops");
    std::fs::create_dir_all(&staging).unwrap();
    for (i, prefix_is_right) in [true, false].into_iter().enumerate() {
        let bytes = random_bytes(3 << 20, 40 + i as u64);
        let source = file(server.dir.path(), &format!("big{i}.bin"), &bytes, 0o644, 1_600_000_000);
        let id = alice.drop_to(&server, &source, &[&bob]).await;
        // What a cut fetch leaves: the first 1 MiB of the ciphertext (or
        // bytes that are not it).
        let ciphertext = std::fs::read(blob_of(&server, &id)).unwrap();
        let prefix = if prefix_is_right { ciphertext[..1 << 20].to_vec() } else { random_bytes(1 << 20, 99) };
        std::fs::write(staging.join(format!("{id}.part")), prefix).unwrap();
        let dest = server.dir.path().join(format!("resumed-{i}"));
        let fetched = bob.fetch(&server, &id, &dest).await;
        if prefix_is_right {
            assert!(fetched.status.success(), "{}", text(&fetched));
        } else {
            assert!(!fetched.status.success() && text(&fetched).contains("refused"), "{}", text(&fetched));
            assert!(entries(&dest).is_empty(), "nothing written: {:?}", entries(&dest));
            assert!(!staging.join(format!("{id}.part")).exists(), "the wrong prefix is dropped");
            let again = bob.fetch(&server, &id, &dest).await;
            assert!(again.status.success(), "the next fetch starts over: {}", text(&again));
        }
        assert!(std::fs::read(dest.join(format!("big{i}.bin"))).unwrap() == bytes, "drop {i} intact");
        assert!(!staging.join(format!("{id}.part")).exists(), "the ciphertext is not kept once placed");
    }
    // The resumed fetch asked for the rest only.
    server.store.flush_audit().unwrap();
    let sizes: Vec<i64> = {
        let db = db(&server);
        let mut statement = db.prepare("SELECT size FROM audit WHERE kind = 'drop_fetch' ORDER BY id").unwrap();
        statement.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert!(sizes[0] < (3 << 20) - (1 << 20) + 4096, "resumed from the partial: {sizes:?}");
}

impl Person {
    /// `sxfer drop status`: its stdout, after checking it succeeded.
    async fn status(&self, server: &TestServer) -> String {
        let output = self.run(server, &["drop", "status", &self.at(server)]).await;
        assert!(output.status.success(), "drop status: {}", text(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// The status lines of drop `id`: its own line, then one per recipient.
fn status_of(status: &str, id: &str) -> Vec<String> {
    let mut lines = status.lines().skip_while(|l| !l.starts_with(id));
    let head = lines.next().unwrap_or_else(|| panic!("no {id} in {status}")).to_owned();
    std::iter::once(head).chain(lines.take_while(|l| l.starts_with("  ")).map(str::to_owned)).collect()
}

fn set_receipt(server: &TestServer, id: &str, receipt: &[u8]) {
    let raw = id.parse::<DropId>().unwrap().0.to_vec();
    let changed = db(server)
        .execute("UPDATE drop_recipients SET receipt = ?1 WHERE drop_id = ?2", rusqlite::params![receipt, raw])
        .unwrap();
    assert_eq!(changed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_verifies_against_the_pinned_key_and_a_forged_one_does_not() {
    let server = TestServer::start(common::Options::default()).await;
    let (alice, bob) = (person(&server, "alice", Kind::Ed25519), person(&server, "bob", Kind::Rsa));
    let source = file(server.dir.path(), "signed.txt", b"read me\n", 0o644, 1_600_000_000);
    let id = alice.drop_to(&server, &source, &[&bob]).await;
    let waiting = status_of(&alice.status(&server).await, &id);
    assert!(waiting[0].contains(" waiting ") && waiting[0].contains("signed.txt"), "{waiting:?}");
    assert_eq!(waiting[1], "  bob: waiting");

    let fetched = bob.fetch(&server, &id, &server.dir.path().join("bob-out")).await;
    assert!(fetched.status.success(), "{}", text(&fetched));
    assert!(!text(&fetched).contains("warning"), "the receipt was stored: {}", text(&fetched));
    let verified = status_of(&alice.status(&server).await, &id);
    assert!(verified[1].starts_with("  bob: fetched ") && verified[1].ends_with("(receipt verified)"), "{verified:?}");

    // Altered in the server's store: a signature byte flipped.
    let raw = id.parse::<DropId>().unwrap().0.to_vec();
    let stored: Vec<u8> =
        db(&server).query_row("SELECT receipt FROM drop_recipients WHERE drop_id = ?1", [&raw], |r| r.get(0)).unwrap();
    let mut altered = stored.clone();
    *altered.last_mut().unwrap() ^= 0x01;
    set_receipt(&server, &id, &altered);
    let forged = status_of(&alice.status(&server).await, &id);
    assert!(forged[1].contains("RECEIPT DOES NOT VERIFY") && !forged[1].contains("fetched"), "{forged:?}");

    // A well-formed receipt for the right drop, signed by a key of the
    // server's own claiming to be bob's.
    let decoded = sxfer_proto::msgs::DropReceipt::decode(&stored).unwrap();
    let mallory = PrivateIdentity::generate_ed25519(&mut OsRng).unwrap();
    let content =
        sxfer_proto::msgs::ReceiptContent { recipient_key: mallory.public().clone(), ..decoded.content().clone() };
    let by_mallory = sxfer_proto::msgs::DropReceipt::sign(content, &mallory).unwrap();
    set_receipt(&server, &id, &by_mallory.to_bytes());
    let forged = status_of(&alice.status(&server).await, &id);
    assert!(forged[1].contains("RECEIPT DOES NOT VERIFY") && forged[1].contains("not a key pinned"), "{forged:?}");
    set_receipt(&server, &id, &stored);
    assert!(status_of(&alice.status(&server).await, &id)[1].ends_with("(receipt verified)"), "restored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_drop_leaves_every_inbox_and_its_fetch_is_refused() {
    let server = TestServer::start(common::Options::default()).await;
    let (alice, bob, carol) = (
        person(&server, "alice", Kind::Ed25519),
        person(&server, "bob", Kind::Ed25519),
        person(&server, "carol", Kind::Ed25519),
    );
    let source = file(server.dir.path(), "oops.txt", b"sent by mistake\n", 0o644, 1_600_000_000);
    let id = alice.drop_to(&server, &source, &[&bob, &carol]).await;
    let blob = blob_of(&server, &id);
    let alice_id = server.store.user(&Username::parse("alice").unwrap()).unwrap().unwrap().id;
    assert_eq!(server.store.usage(alice_id).unwrap().0, std::fs::metadata(&blob).unwrap().len());

    let not_theirs = bob.run(&server, &["drop", "revoke", &id, &bob.at(&server)]).await;
    assert!(!not_theirs.status.success() && text(&not_theirs).contains("no waiting drop"), "{}", text(&not_theirs));
    let revoked = alice.run(&server, &["drop", "revoke", &id, &alice.at(&server)]).await;
    assert!(revoked.status.success(), "{}", text(&revoked));
    assert!(!blob.exists(), "the blob is deleted");
    assert_eq!(server.store.usage(alice_id).unwrap(), (0, 0), "the quota is freed");
    for recipient in [&bob, &carol] {
        let inbox = recipient.run(&server, &["inbox", &recipient.at(&server)]).await;
        assert!(inbox.status.success() && !text(&inbox).contains(&id), "{}", text(&inbox));
        let dest = server.dir.path().join(format!("out-{}", recipient.name));
        let fetched = recipient.fetch(&server, &id, &dest).await;
        assert!(!fetched.status.success(), "{}", text(&fetched));
        assert!(text(&fetched).contains(&format!("drop {id} was revoked by its sender")), "{}", text(&fetched));
        assert!(entries(&dest).is_empty());
    }
    let status = status_of(&alice.status(&server).await, &id);
    assert!(status[0].contains(" revoked "), "{status:?}");
    assert!(status[1..].iter().all(|l| l.ends_with(": not fetched")), "{status:?}");
    let again = alice.run(&server, &["drop", "revoke", &id, &alice.at(&server)]).await;
    assert!(!again.status.success(), "revoked once");
}

/// No sleeping: the drop asks for 30 minutes, and the test drives the
/// server's garbage collection with a clock 31 minutes ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_drop_is_deleted_by_the_gc_and_shown_as_expired() {
    let store_limits = store::Limits { max_drop_expires: 3600, ..store::Limits::default() };
    let server = TestServer::start(common::Options { store_limits, ..common::Options::default() }).await;
    let (alice, bob) = (person(&server, "alice", Kind::Ed25519), person(&server, "bob", Kind::Ed25519));
    let source = file(server.dir.path(), "brief.txt", b"for half an hour\n", 0o644, 1_600_000_000);
    let (at, path) = (alice.at(&server), source.display().to_string());

    let too_long = alice.run(&server, &["drop", &path, "--to", "bob", "--expires", "2h", &at]).await;
    assert!(!too_long.status.success(), "{}", text(&too_long));
    assert!(text(&too_long).contains("at most 1h (--expires 2h)"), "{}", text(&too_long));
    let bad = alice.run(&server, &["drop", &path, "--to", "bob", "--expires", "30 minutes", &at]).await;
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert_eq!(String::from_utf8_lossy(&bad.stderr).trim().lines().count(), 1, "one line: {}", text(&bad));

    let dropped = alice.run(&server, &["drop", &path, "--to", "bob", "--expires", "30m", &at]).await;
    assert!(dropped.status.success(), "{}", text(&dropped));
    let stdout = String::from_utf8_lossy(&dropped.stdout).into_owned();
    let id = stdout.lines().find_map(|l| l.strip_prefix("dropped brief.txt as ")).unwrap().to_owned();
    let blob = blob_of(&server, &id);
    let status = status_of(&alice.status(&server).await, &id);
    assert!(status[0].contains(" waiting ") && status[0].contains(" expires "), "{status:?}");

    let later = std::time::SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64 + 31 * 60;
    assert_eq!(server.store.collect_drops(later).unwrap(), (1, 0));
    assert!(!blob.exists(), "the gc deleted the blob");
    let fetched = bob.fetch(&server, &id, &server.dir.path().join("late")).await;
    assert!(!fetched.status.success() && text(&fetched).contains("has expired"), "{}", text(&fetched));
    let status = status_of(&alice.status(&server).await, &id);
    assert!(status[0].contains(" expired "), "{status:?}");
}

/// `sxfer contacts verify`: Alice pins Bob's key only if its fingerprint is
/// the one Bob read to her; a wrong one pins nothing, and a drop then uses
/// the verified pin.
#[tokio::test]
async fn contacts_verify_pins_only_the_fingerprint_given() {
    let server = TestServer::start(common::Options::default()).await;
    let (alice, bob) = (person(&server, "alice", Kind::Ed25519), person(&server, "bob", Kind::Ed25519));
    let real = server.store.list_keys(&Username::parse("bob").unwrap()).unwrap().remove(0).fingerprint().to_string();
    let wrong = PrivateIdentity::generate_ed25519(&mut OsRng).unwrap().public().fingerprint().to_string();
    let target = alice.at(&server);
    let refused = alice.run(&server, &["contacts", "verify", "bob", &target, "--key-fingerprint", &wrong]).await;
    assert!(!refused.status.success());
    assert!(text(&refused).contains("has no key") && text(&refused).contains(&real), "{}", text(&refused));
    let pins = || {
        let listed = Command::new(BIN).arg("contacts").env("SXFER_HOME", alice.home.join(".sxfer")).output().unwrap();
        assert!(listed.status.success(), "{}", text(&listed));
        String::from_utf8_lossy(&listed.stdout).into_owned()
    };
    assert!(!pins().contains("bob@"), "nothing pinned: {}", pins());

    let verified = alice.run(&server, &["contacts", "verify", "bob", &target, "--key-fingerprint", &real]).await;
    assert!(verified.status.success(), "{}", text(&verified));
    assert!(String::from_utf8_lossy(&verified.stdout).contains("verified bob@"), "{}", text(&verified));
    assert!(pins().contains(&real), "{}", pins());
    let source = file(server.dir.path(), "v.txt", b"to a verified contact\n", 0o644, 1_600_000_000);
    let sent = alice.drop_output(&server, &source, &[&bob]).await;
    assert!(sent.status.success(), "{}", text(&sent));
    assert!(!text(&sent).contains("on first use"), "the pin was already there: {}", text(&sent));
}
