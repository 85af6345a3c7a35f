//! Peer mode as users run it: `sxfer send` and `sxfer receive` as real
//! processes on 127.0.0.1:0, both role arrangements, the listener's key
//! pinned by fingerprint. Hostile senders are driven through the library
//! (a real handshake, then crafted messages); a cut transfer is resumed.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use rand_core::OsRng;

use sxfer::client;
use sxfer::net::conn::Incoming;
use sxfer::output::Output;
use sxfer::peer::receive::{self, ReceiveOptions, Refused};
use sxfer::peer::session::{self, Allow, Pin};
use sxfer::peer::{offer, Session};
use sxfer_proto::handshake::ServerConfig;
use sxfer_proto::identity::{Fingerprint, PrivateIdentity};
use sxfer_proto::msgs::{FileMeta, Message, OfferAnswer};
use sxfer_proto::names::RemoteName;

use crate::common::cli::BIN;
use crate::common::peer::{args, error_line, json_field, run, Peer};

/// A key file and its fingerprint.
fn key(dir: &Path, name: &str) -> (PathBuf, String) {
    let identity = PrivateIdentity::generate_ed25519(&mut OsRng).unwrap();
    let path = dir.join(name);
    fs::write(&path, identity.to_openssh().unwrap().as_bytes()).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    (path, identity.public().fingerprint().to_string())
}

fn set_mtime(path: &Path, secs: u64, nanos: u32) {
    File::open(path).unwrap().set_modified(UNIX_EPOCH + Duration::new(secs, nanos)).unwrap();
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = vec![0u8; len];
    for chunk in out.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    out
}

/// `root/notes.txt` and `root/tree/...`: files small and large (above the
/// 4 MiB pipelining bound), modes from 0600 to setuid, an empty
/// directory, distinct mtimes with nanoseconds.
fn make_tree(root: &Path) -> Vec<(&'static str, u32)> {
    let files: [(&str, usize, u32); 4] = [
        ("notes.txt", 12, 0o644),
        ("tree/run.sh", 100, 0o755),
        ("tree/sub/data.bin", (5 << 20) + 3, 0o600),
        ("tree/sub/setuid", 10, 0o4755),
    ];
    fs::create_dir_all(root.join("tree/sub/empty")).unwrap();
    for (index, (name, len, mode)) in files.iter().enumerate() {
        let path = root.join(name);
        fs::write(&path, random_bytes(*len, index as u64 + 1)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).unwrap();
        set_mtime(&path, 1_000_000_000 + index as u64, 123_456_789);
    }
    let dirs = [("tree/sub/empty", 0o700), ("tree/sub", 0o750), ("tree", 0o755)];
    for (index, (name, mode)) in dirs.iter().enumerate() {
        fs::set_permissions(root.join(name), fs::Permissions::from_mode(*mode)).unwrap();
        set_mtime(&root.join(name), 1_100_000_000 + index as u64, 5);
    }
    files.iter().map(|(name, _, mode)| (*name, *mode)).chain(dirs).collect()
}

/// Every path of `make_tree` arrived under `out` as it was under `root`:
/// the same bytes, permission bits without setuid/setgid, mtime.
fn assert_same_tree(root: &Path, out: &Path, paths: &[(&str, u32)]) {
    for (name, mode) in paths {
        let (sent, got) = (root.join(name), out.join(name));
        let (a, b) = (fs::symlink_metadata(&sent).unwrap(), fs::symlink_metadata(&got).unwrap());
        assert_eq!(b.file_type().is_dir(), a.is_dir(), "{name}");
        if a.is_file() {
            assert!(fs::read(&sent).unwrap() == fs::read(&got).unwrap(), "{name}: the same bytes");
        }
        assert_eq!(b.mode() & 0o7777, mode & 0o777, "{name}: mode, without setuid");
        assert_eq!((b.mtime(), b.mtime_nsec()), (a.mtime(), a.mtime_nsec()), "{name}: mtime");
    }
}

fn names_under(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn a_listening_receiver_gets_a_tree_byte_identical_with_modes_and_mtimes() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (dir.path().join("src"), dir.path().join("out"));
    let paths = make_tree(&src);
    let mut receiver =
        Peer::spawn(dir.path(), &args(&[&"receive", &"--listen", &"127.0.0.1:0", &"--out", &out, &"--yes"]));
    let (fingerprint, address) = receiver.listening();
    assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}");
    let (status, lines) = run(
        dir.path(),
        &args(&[&"send", &src.join("notes.txt"), &src.join("tree"), &address, &"--fingerprint", &fingerprint]),
    );
    assert!(status.success(), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("sent notes.txt")), "a person is sent files: {lines:#?}");
    let (status, lines) = receiver.finish();
    assert!(status.success(), "a successful transfer ends the listener: {lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("received tree/sub/data.bin (5242883 bytes)")), "{lines:#?}");
    assert_same_tree(&src, &out, &paths);
    assert_eq!(names_under(&out), ["notes.txt", "tree"], "no partial files left behind");
}

#[test]
fn a_listening_sender_sends_to_the_allowed_receiver_that_connects() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (dir.path().join("src"), dir.path().join("out"));
    let paths = make_tree(&src);
    let (receiver_key, receiver_fingerprint) = key(dir.path(), "receiver_key");
    let (sender_key, _) = key(dir.path(), "sender_key");
    let mut sender = Peer::spawn(
        dir.path(),
        &args(&[
            &"send",
            &"--listen",
            &"127.0.0.1:0",
            &src.join("tree"),
            &src.join("notes.txt"),
            &"--allow",
            &receiver_fingerprint,
            &"-i",
            &sender_key,
            &"--json",
        ]),
    );
    let (fingerprint, address) = sender.listening();
    let (status, lines) = run(
        dir.path(),
        &args(&[
            &"receive",
            &address,
            &"--fingerprint",
            &fingerprint,
            &"--out",
            &out,
            &"--yes",
            &"-i",
            &receiver_key,
            &"--json",
        ]),
    );
    assert!(status.success(), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("\"event\":\"offer\"") && l.contains("\"files\":4")), "{lines:#?}");
    assert_eq!(lines.iter().filter(|l| l.contains("\"event\":\"received\"")).count(), 4, "{lines:#?}");
    let (status, lines) = sender.finish();
    assert!(status.success(), "{lines:#?}");
    assert_same_tree(&src, &out, &paths);

    // The same key file gives the same fingerprint every time.
    let again = Peer::spawn(
        dir.path(),
        &args(&[&"send", &"--listen", &"127.0.0.1:0", &src, &"--allow", &receiver_fingerprint, &"-i", &sender_key]),
    )
    .listening()
    .0;
    assert_eq!(again, fingerprint);
}

#[test]
fn a_wrong_fingerprint_fails_before_any_metadata_and_the_listener_keeps_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (dir.path().join("src"), dir.path().join("out"));
    make_tree(&src);
    let wrong = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let file = src.join("notes.txt");

    // Receiver listening; a sender that pins another key.
    let mut receiver =
        Peer::spawn(dir.path(), &args(&[&"receive", &"--listen", &"127.0.0.1:0", &"--out", &out, &"--yes"]));
    let (fingerprint, address) = receiver.listening();
    let (status, lines) = run(dir.path(), &args(&[&"send", &file, &address, &"--fingerprint", &wrong]));
    assert_eq!(status.code(), Some(1));
    assert!(error_line(&lines).contains("not the expected"), "{lines:#?}");
    receiver.wait_for("about the failed connection", |l| l.starts_with("sxfer: connection from 127.0.0.1:"));
    assert!(receiver.is_running(), "the listener keeps waiting");
    assert!(!receiver.seen.iter().any(|l| l.contains("offers")), "no offer was made: {:#?}", receiver.seen);
    assert!(names_under(&out).is_empty(), "nothing written");
    // Without --fingerprint and without a terminal: refused before connecting.
    let (status, lines) = run(dir.path(), &args(&[&"send", &file, &address]));
    assert_eq!(status.code(), Some(1));
    assert!(error_line(&lines).contains("--fingerprint"), "{lines:#?}");
    let (status, lines) = run(dir.path(), &args(&[&"send", &file, &address, &"--fingerprint", &fingerprint]));
    assert!(status.success(), "{lines:#?}");
    assert!(receiver.finish().0.success());
    assert_eq!(names_under(&out), ["notes.txt"]);

    // Sender listening for one key: another key, then a wrong pin, are turned away.
    let out = dir.path().join("out2");
    let (allowed_key, allowed) = key(dir.path(), "allowed");
    let (other_key, _) = key(dir.path(), "other");
    let mut sender =
        Peer::spawn(dir.path(), &args(&[&"send", &"--listen", &"127.0.0.1:0", &file, &"--allow", &allowed]));
    let (fingerprint, address) = sender.listening();
    let receive = |key: &Path, pin: &str| {
        run(dir.path(), &args(&[&"receive", &address, &"--fingerprint", &pin, &"--out", &out, &"--yes", &"-i", &key]))
    };
    let (status, lines) = receive(&other_key, &fingerprint);
    assert_eq!(status.code(), Some(1));
    assert!(error_line(&lines).contains("not allowed"), "{lines:#?}");
    sender.wait_for("about the refused key", |l| l.starts_with("sxfer: connection from 127.0.0.1:"));
    let (status, lines) = receive(&allowed_key, wrong);
    assert!(error_line(&lines).contains("not the expected"), "{lines:#?}");
    assert_eq!(status.code(), Some(1));
    sender.wait_for("about the wrong pin", |l| l.starts_with("sxfer: connection from 127.0.0.1:"));
    assert!(sender.is_running(), "the listener keeps waiting");
    assert!(names_under(&out).is_empty(), "nothing written");
    let (status, lines) = receive(&allowed_key, &fingerprint);
    assert!(status.success(), "{lines:#?}");
    assert!(sender.finish().0.success());
    assert_eq!(fs::read(out.join("notes.txt")).unwrap(), fs::read(&file).unwrap());
}

// ---------------------------------------------------------------------------
// Code mode

impl Peer {
    /// A code-mode listener's one-time code, in either output form.
    fn code(&mut self) -> String {
        let line = self.wait_for("with the code", |l| l.starts_with("code ") || l.contains("\"event\":\"code\""));
        json_field(&line, "code").unwrap_or_else(|| line["code ".len()..].to_owned())
    }
}

#[test]
fn a_code_pairs_the_peers_in_both_arrangements() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (dir.path().join("src"), dir.path().join("out"));
    let paths = make_tree(&src);
    let tree = src.join("tree");
    let notes = src.join("notes.txt");

    // Receiver listening with a code; the sender types it (argv).
    let mut receiver =
        Peer::spawn(dir.path(), &args(&[&"receive", &"--listen", &"127.0.0.1:0", &"--code", &"--out", &out, &"--yes"]));
    let (_, address) = receiver.listening();
    let code = receiver.code();
    assert_eq!(code.split('-').count(), 4, "a nameplate and three words by default: {code}");
    let (status, lines) = run(dir.path(), &args(&[&"send", &notes, &tree, &address, &"--code", &code]));
    assert!(status.success(), "{lines:#?}");
    assert!(receiver.finish().0.success());
    assert_same_tree(&src, &out, &paths);

    // Sender listening with a five-word code and no --allow (the code is
    // the authorization); the receiver takes it from $SXFER_CODE.
    let out = dir.path().join("out2");
    let mut sender = Peer::spawn(
        dir.path(),
        &args(&[&"send", &"--listen", &"127.0.0.1:0", &"--code", &"--code-words", &"5", &tree, &notes, &"--json"]),
    );
    let (_, address) = sender.listening();
    let code = sender.code();
    assert_eq!(code.split('-').count(), 6, "--code-words 5: {code}");
    let receive = ["receive", &address, "--code", "--out", out.to_str().unwrap(), "--yes"];
    let receive: Vec<&OsStr> = receive.iter().map(OsStr::new).collect();
    let (status, lines) = Peer::spawn_with(dir.path(), &receive, &[("SXFER_CODE", &code)]).finish();
    assert!(status.success(), "{lines:#?}");
    assert!(sender.finish().0.success());
    assert_same_tree(&src, &out, &paths);
}

#[test]
fn a_wrong_code_fails_on_both_sides_before_any_metadata_and_burns_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (dir.path().join("src"), dir.path().join("out"));
    make_tree(&src);
    let notes = src.join("notes.txt");
    let mut receiver =
        Peer::spawn(dir.path(), &args(&[&"receive", &"--listen", &"127.0.0.1:0", &"--code", &"--out", &out, &"--yes"]));
    let (_, address) = receiver.listening();
    let code = receiver.code();
    // The same nameplate and words but the last, which is another word.
    let (rest, last) = code.rsplit_once('-').unwrap();
    let other = if last == "amber" { "harbor" } else { "amber" };
    let wrong = format!("{rest}-{other}");
    let (status, lines) = run(dir.path(), &args(&[&"send", &notes, &address, &"--code", &wrong]));
    assert_eq!(status.code(), Some(1));
    assert!(error_line(&lines).contains("wrong code"), "{lines:#?}");
    let (status, lines) = receiver.finish();
    assert_eq!(status.code(), Some(1), "a spent guess ends the listener: {lines:#?}");
    assert!(error_line(&lines).contains("the code is burnt"), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("offers")), "no metadata reached the receiver: {lines:#?}");
    assert!(names_under(&out).is_empty(), "nothing written");
    // The right code now finds nobody listening.
    let (status, lines) = run(dir.path(), &args(&[&"send", &notes, &address, &"--code", &code]));
    assert_eq!(status.code(), Some(1), "{lines:#?}");
    assert!(names_under(&out).is_empty(), "nothing written");
}

#[test]
fn failures_before_the_pake_answer_do_not_burn_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (dir.path().join("src"), dir.path().join("out"));
    make_tree(&src);
    let notes = src.join("notes.txt");
    // `--code FILE`: clap takes the file for the code's value; a listener
    // makes its own code, so an existing path is sent.
    let mut sender = Peer::spawn(dir.path(), &args(&[&"send", &"--listen", &"127.0.0.1:0", &"--code", &notes]));
    let (fingerprint, address) = sender.listening();
    let code = sender.code();
    let failed = |l: &str| l.contains("failed") && l.contains("still listening");
    // A bare TCP connection that closes before its hello.
    drop(std::net::TcpStream::connect(&address).unwrap());
    sender.wait_for("about the closed connection", failed);
    // A fingerprint-mode connector: refused before any PAKE answer.
    let receive = [&"receive" as &dyn AsRef<OsStr>, &address, &"--fingerprint", &fingerprint, &"--out", &out, &"--yes"];
    let (status, lines) = run(dir.path(), &args(&receive));
    assert_eq!(status.code(), Some(1), "{lines:#?}");
    assert!(error_line(&lines).contains("takes a code"), "{lines:#?}");
    sender.wait_for("about the refused connector", failed);
    assert!(sender.is_running(), "no guess was spent");
    // The code still works.
    let (status, lines) = run(dir.path(), &args(&[&"receive", &address, &"--code", &code, &"--out", &out, &"--yes"]));
    assert!(status.success(), "{lines:#?}");
    assert!(sender.finish().0.success());
    assert_eq!(fs::read(out.join("notes.txt")).unwrap(), fs::read(&notes).unwrap());
}

#[test]
fn bad_codes_and_code_flags_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    fs::write(&file, b"x").unwrap();
    let f = file.to_str().unwrap();
    for (argv, expected) in [
        (vec!["send", f, "127.0.0.1:9", "--code", "7-notaword-amber-harbor"], "bad --code"),
        (vec!["send", f, "127.0.0.1:9", "--code", "amber"], "bad --code"),
        (vec!["send", "--listen", "127.0.0.1:0", "--code", "--code-words", "9", f], "bad --code-words"),
        (vec!["send", "--listen", "127.0.0.1:0", "--code", "7-amber-falcon-harbor", f], "makes its own code"),
        (
            vec!["receive", "127.0.0.1:9", "--code", "7-amber-falcon-harbor", "--code-words", "4", "--yes"],
            "listening side",
        ),
        (vec!["send", "--listen", "127.0.0.1:0", "--code", "--code-words", "0", f], "bad --code-words"),
        (vec!["send", "--listen", "127.0.0.1:0", "--code"], "give the files"),
        (
            vec!["send", f, "127.0.0.1:9", "--code", "7-amber-falcon-harbor", "--fingerprint", "SHA256:x"],
            "cannot be used",
        ),
    ] {
        let argv: Vec<&OsStr> = argv.iter().map(OsStr::new).collect();
        let (status, lines) = run(dir.path(), &argv);
        // 2 is clap's exit status for flags that do not go together.
        let usage = expected == "cannot be used";
        assert_eq!(status.code(), Some(if usage { 2 } else { 1 }), "{argv:?}: {lines:#?}");
        assert_eq!(lines.len(), 1, "one line: {argv:?}: {lines:#?}");
        assert!(error_line(&lines).contains(expected), "{argv:?}: {lines:#?}");
    }
}

// ---------------------------------------------------------------------------
// Hostile senders

/// The bytes of an Offer message, built by hand: names and kinds no
/// `Message` can hold.
fn raw_offer(entries: &[(&[u8], u8, u64)]) -> Vec<u8> {
    let mut out = vec![0x03, 0x00, 0, 0, 0, 1];
    out.extend_from_slice(&(entries.len() as u16).to_be_bytes());
    for (name, kind, size) in entries {
        out.extend_from_slice(&(name.len() as u16).to_be_bytes());
        out.extend_from_slice(name);
        out.push(*kind);
        out.extend_from_slice(&size.to_be_bytes());
        out.extend_from_slice(&0o644u32.to_be_bytes());
        out.extend_from_slice(&1_000_000_000u64.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
    }
    out.push(0);
    out
}

/// A peer session to the listener at `address`, holding it to `pin`,
/// with a key of its own.
async fn connect(address: &str, pin: &str) -> Session {
    let identity = PrivateIdentity::generate_ed25519(&mut OsRng).unwrap();
    let pin = Pin::Expect(pin.parse::<Fingerprint>().unwrap());
    let stream = client::dial(address).await.unwrap();
    session::connect(stream, address, &identity, &pin).await.unwrap()
}

/// A sender with a real handshake and key that sends `offer` as it is,
/// then whatever `then` sends after an accepting answer. Returns the
/// answer, `None` if the receiver hung up instead.
async fn hostile(address: &str, pin: &str, offer: Vec<u8>, then: Option<Message>) -> Option<OfferAnswer> {
    let Session { mut reader, mut writer, .. } = connect(address, pin).await;
    writer.queue_raw_message_for_testing_only(&offer).unwrap();
    writer.flush().await.unwrap();
    let answer = match reader.next().await {
        Ok(Incoming::Message(Message::OfferReply { answer, .. })) => answer,
        _ => return None,
    };
    if let (OfferAnswer::Accept(_), Some(message)) = (&answer, then) {
        writer.send(&message).await.ok();
        while let Ok(Incoming::Message(_) | Incoming::Data(_)) = reader.next().await {}
    }
    Some(answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_sender_writes_nothing_outside_out_and_overwrites_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deep/er/out");
    let outside = dir.path().join("outside");
    fs::create_dir_all(&out).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(out.join("exists.txt"), b"mine").unwrap();
    std::os::unix::fs::symlink(&outside, out.join("link")).unwrap();
    assert!(!Path::new("/etc/x").exists(), "the test needs /etc/x absent");
    let mut receiver =
        Peer::spawn(dir.path(), &args(&[&"receive", &"--listen", &"127.0.0.1:0", &"--out", &out, &"--yes"]));
    let (fingerprint, address) = receiver.listening();
    let mut failures = 0;
    let mut expect_failure = |receiver: &mut Peer, what: &str| {
        receiver.wait_for(what, |l| l.starts_with("sxfer: connection from 127.0.0.1:"));
        failures += 1;
    };

    // Names no receiver may take, and a kind that does not exist (what a
    // symbolic link would need): decode errors, the session ends.
    for (name, kind) in [(&b"../../x"[..], 0u8), (b"/etc/x", 0), (b"a/../../x", 0), (b"\x1b[31mred", 0), (b"ln", 2)] {
        let answer = hostile(&address, &fingerprint, raw_offer(&[(name, kind, 3)]), None).await;
        assert_eq!(answer, None, "{name:?}: no answer, the receiver hung up");
        expect_failure(&mut receiver, "about a bad name");
    }
    // Legal names that cannot land: declined, with the reason.
    for (name, kind, size, why) in [
        (&b"exists.txt"[..], 0u8, 3, "exists here (use --force"),
        (b"link/x", 0, 3, "symbolic link"),
        (b"link", 1, 0, "symbolic link"),
        (b".a.sxfer-part", 0, 3, "partial files"),
    ] {
        match hostile(&address, &fingerprint, raw_offer(&[(b"fine", 0, 1), (name, kind, size)]), None).await {
            Some(OfferAnswer::Decline(reason)) => assert!(reason.contains(why), "{reason}"),
            other => panic!("{name:?}: expected a decline, got {other:?}"),
        }
        expect_failure(&mut receiver, "about a declined offer");
    }
    // Accepted, then an upload of something never offered: the session ends.
    let meta = FileMeta { size: 1, mode: 0o644, mtime: 1_000_000_000, mtime_nanos: 0 };
    let upload = Message::Upload { transfer: 2, name: RemoteName::parse("other").unwrap(), meta, resume: false };
    let offer = raw_offer(&[("bidi\u{202e}txt.exe".as_bytes(), 0, 1)]);
    let answer = hostile(&address, &fingerprint, offer, Some(upload)).await;
    assert!(matches!(answer, Some(OfferAnswer::Accept(_))), "{answer:?}");
    expect_failure(&mut receiver, "about the unoffered upload");

    assert!(receiver.is_running(), "the listener keeps waiting after {failures} failures");
    assert_eq!(fs::read(out.join("exists.txt")).unwrap(), b"mine", "nothing overwritten");
    assert_eq!(names_under(&out), ["exists.txt", "link"], "nothing else under --out");
    assert!(names_under(&outside).is_empty(), "nothing through the symbolic link");
    assert_eq!(names_under(&dir.path().join("deep")), ["er"]);
    assert!(!dir.path().join("x").exists() && !dir.path().join("deep/x").exists() && !Path::new("/etc/x").exists());
    receiver.child.kill().ok();
    let (_, lines) = receiver.finish();
    for line in &lines {
        assert!(!line.contains('\x1b') && !line.contains('\u{202e}'), "names shown escaped: {line:?}");
    }
    assert!(lines.iter().any(|l| l.contains("bidi\\u{202e}txt.exe")), "{lines:#?}");
}

// ---------------------------------------------------------------------------
// Declining and resuming

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_offer_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (dir.path().join("src"), dir.path().join("out"));
    make_tree(&src);
    fs::create_dir_all(&out).unwrap();
    // No terminal and no --yes: refused before listening.
    let (status, lines) = run(dir.path(), &args(&[&"receive", &"--listen", &"127.0.0.1:0", &"--out", &out]));
    assert_eq!(status.code(), Some(1));
    assert!(error_line(&lines).contains("--yes"), "{lines:#?}");

    // A receiver whose user says no, and the real sender.
    let identity = PrivateIdentity::generate_ed25519(&mut OsRng).unwrap();
    let fingerprint = identity.public().fingerprint().to_string();
    let config = std::sync::Arc::new(ServerConfig::new(std::sync::Arc::new(identity)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let sender =
        Peer::spawn(dir.path(), &args(&[&"send", &src.join("tree"), &address, &"--fingerprint", &fingerprint]));
    let (stream, from) = listener.accept().await.unwrap();
    let session = session::accept(stream, &from.to_string(), config, &Allow::Anyone).await.unwrap();
    let options = ReceiveOptions { out: out.clone(), force: false };
    let shown = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = shown.clone();
    let decide = move |manifest: &sxfer_proto::manifest::Manifest, _: &str| {
        seen.store(manifest.file_count(), std::sync::atomic::Ordering::SeqCst);
        Ok(false)
    };
    let quiet = Output { quiet: true, ..Output::default() };
    let error = receive::receive(session, &options, decide, &quiet).await.unwrap_err();
    assert!(error.downcast_ref::<Refused>().is_some(), "{error:#}");
    assert_eq!(shown.load(std::sync::atomic::Ordering::SeqCst), 3, "the receiver saw the manifest first");
    let (status, lines) = sender.finish();
    assert_eq!(status.code(), Some(1));
    assert!(error_line(&lines).contains("the receiver declined"), "{lines:#?}");
    assert!(names_under(&out).is_empty(), "nothing written");
}

/// A sender that offers `file`, uploads its first `cut` bytes and dies
/// (the connection ends without a Close, as when the process is killed).
async fn send_part_and_die(address: &str, pin: &str, file: &Path, cut: usize) {
    let Session { mut reader, mut writer, .. } = connect(address, pin).await;
    let plan = offer::plan(&[file.to_owned()]).unwrap();
    for part in plan.manifest.offer(1) {
        writer.send(&part).await.unwrap();
    }
    assert!(matches!(reader.next().await.unwrap(), Incoming::Message(Message::OfferReply { .. })));
    let job = &plan.files[0];
    writer
        .send(&Message::Upload { transfer: 2, name: job.remote.clone(), meta: job.meta, resume: true })
        .await
        .unwrap();
    assert!(matches!(reader.next().await.unwrap(), Incoming::Message(Message::UploadReady { offset: 0, .. })));
    let bytes = fs::read(file).unwrap();
    for chunk in bytes[..cut].chunks(1 << 20) {
        writer.queue_data(chunk).unwrap();
        writer.flush().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_transfer_resumes_from_the_verified_partial() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (dir.path().join("src"), dir.path().join("out"));
    fs::create_dir_all(&src).unwrap();
    let big = src.join("big.bin");
    let bytes = random_bytes(40 << 20, 42);
    fs::write(&big, &bytes).unwrap();
    set_mtime(&big, 1_234_567_890, 1);
    let receive =
        || Peer::spawn(dir.path(), &args(&[&"receive", &"--listen", &"127.0.0.1:0", &"--out", &out, &"--yes"]));

    let mut receiver = receive();
    let (fingerprint, address) = receiver.listening();
    send_part_and_die(&address, &fingerprint, &big, 16 << 20).await;
    receiver.wait_for("about the cut", |l| l.starts_with("sxfer: connection from 127.0.0.1:"));
    assert!(receiver.is_running(), "the listener keeps waiting after a cut");
    assert!(!out.join("big.bin").exists(), "nothing under the final name");
    let partial = out.join(".big.bin.sxfer-part");
    assert_eq!(fs::metadata(&partial).unwrap().len(), 16 << 20, "the partial holds what arrived");
    drop(receiver);

    // The same pair again: it continues from the partial.
    let mut receiver = receive();
    let (fingerprint, address) = receiver.listening();
    let send = || run(dir.path(), &args(&[&"send", &big, &address, &"--fingerprint", &fingerprint]));
    let (status, lines) = send();
    assert!(status.success(), "{lines:#?}");
    assert!(lines.iter().any(|l| l == "resuming big.bin at byte 16777216"), "{lines:#?}");
    let (status, lines) = receiver.finish();
    assert!(status.success(), "{lines:#?}");
    assert!(fs::read(out.join("big.bin")).unwrap() == bytes, "byte-identical after the resume");
    assert_eq!(fs::metadata(out.join("big.bin")).unwrap().mtime(), 1_234_567_890);
    assert!(!partial.exists());

    // Once more: the receiver already has it, nothing moves.
    let mut receiver = receive();
    let (fingerprint, address) = receiver.listening();
    let (status, lines) = run(dir.path(), &args(&[&"send", &big, &address, &"--fingerprint", &fingerprint]));
    assert!(status.success(), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("skipping big.bin: the receiver already has it")), "{lines:#?}");
    assert!(receiver.finish().0.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_that_does_not_match_is_discarded_and_nothing_is_placed() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (dir.path().join("src"), dir.path().join("out"));
    fs::create_dir_all(&src).unwrap();
    fs::create_dir_all(&out).unwrap();
    let big = src.join("big.bin");
    fs::write(&big, random_bytes(6 << 20, 7)).unwrap();
    // A partial from another version of the file: the resumed transfer
    // hashes it with the rest, and the whole-file check fails.
    fs::write(out.join(".big.bin.sxfer-part"), random_bytes(2 << 20, 8)).unwrap();
    let mut receiver =
        Peer::spawn(dir.path(), &args(&[&"receive", &"--listen", &"127.0.0.1:0", &"--out", &out, &"--yes"]));
    let (fingerprint, address) = receiver.listening();
    let (status, lines) = run(dir.path(), &args(&[&"send", &big, &address, &"--fingerprint", &fingerprint]));
    assert_eq!(status.code(), Some(1), "{lines:#?}");
    assert!(error_line(&lines).contains("do not match"), "{lines:#?}");
    receiver.wait_for("about the failed file", |l| l.starts_with("sxfer: connection from 127.0.0.1:"));
    assert!(names_under(&out).is_empty(), "nothing under the final name, the partial removed");
    // The next run starts over and succeeds.
    let (status, lines) = run(dir.path(), &args(&[&"send", &big, &address, &"--fingerprint", &fingerprint]));
    assert!(status.success(), "{lines:#?}");
    assert!(receiver.finish().0.success());
    assert!(fs::read(out.join("big.bin")).unwrap() == fs::read(&big).unwrap());
}

/// Relayed peer mode (`--via`) through a real `sxfer serve` with an open
/// relay, each peer behind a test proxy that records (and may corrupt)
/// every byte it forwards.
mod via;
