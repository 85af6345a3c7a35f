//! Real `sxfer` processes through the fault proxy (`common::faults`):
//! uploads, downloads and peer transfers cut, corrupted and stalled at
//! chosen byte offsets; what is left must be resumable or absent, never
//! wrong.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::cli::{serve, setup, stderr_line, sxfer, Served, BIN, PASSWORD};
use crate::common::faults::{Dir, Fault, FaultProxy, Plan};
use crate::common::peer::{args, error_line, run, Peer};
use crate::common::random_bytes;

/// Above the 4 MiB bound under which files go whole (never resumed).
const BIG: usize = 6 << 20;
/// Where the faults fall: well into the big file's data.
const AT: u64 = 3 << 20;
const WAIT: Duration = Duration::from_secs(60);

fn ok(out: &Output) {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn target(port: u16, path: &str) -> String {
    format!("alice@127.0.0.1:{port}:{path}")
}

/// The byte offset in a "resuming NAME at byte N" line of `text`.
fn resumed_at(text: &str, name: &str) -> Option<u64> {
    let prefix = format!("resuming {name} at byte ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).map(|n| n.trim().parse().unwrap())
}

/// A server with alice, her pin saved in `home`, and `big.bin` to send.
struct Fixture {
    dir: tempfile::TempDir,
    home: std::path::PathBuf,
    server: Served,
    big: std::path::PathBuf,
    bytes: Vec<u8>,
}

fn fixture() -> Fixture {
    let (dir, data, home) = setup();
    let server = serve(&data);
    let bytes = random_bytes(BIG, 5);
    let big = dir.path().join("big.bin");
    fs::write(&big, &bytes).unwrap();
    Fixture { dir, home, server, big, bytes }
}

impl Fixture {
    /// `sxfer` with `args`, and the pin (known hosts are by port, and a
    /// proxy has its own).
    fn sxfer(&self, args: &[&str]) -> Output {
        sxfer(&self.home, &[args, &["--fingerprint", &self.server.fingerprint]].concat())
    }

    fn upload(&self, port: u16) -> Output {
        self.sxfer(&["upload", self.big.to_str().unwrap(), &target(port, "")])
    }

    fn download(&self, port: u16, dest: &Path) -> Output {
        self.sxfer(&["download", &target(port, "big.bin"), dest.to_str().unwrap()])
    }

    fn listing(&self) -> String {
        let out = self.sxfer(&["ls", &target(self.server.port, ""), "--json"]);
        ok(&out);
        String::from_utf8(out.stdout).unwrap()
    }

    fn proxy(&self, plan: Plan) -> FaultProxy {
        FaultProxy::start(format!("127.0.0.1:{}", self.server.port), plan)
    }

    /// Downloads big.bin directly and compares it with what was sent.
    fn assert_stored_whole(&self) {
        let dest = self.dir.path().join("check");
        ok(&self.download(self.server.port, &dest));
        assert!(fs::read(dest.join("big.bin")).unwrap() == self.bytes, "the stored file differs");
    }
}

#[test]
fn an_upload_cut_mid_way_resumes_when_run_again() {
    let f = fixture();
    let proxy = f.proxy(Plan::default().up(AT, Fault::Cut));
    let out = f.upload(proxy.address.port());
    assert_eq!(out.status.code(), Some(1), "the cut is an error");
    stderr_line(&out);
    assert_eq!(proxy.forwarded(Dir::Up), AT, "the proxy forwarded up to the cut and no more");
    assert!(!f.listing().contains("big.bin"), "nothing visible after the cut");

    let out = f.upload(f.server.port);
    ok(&out);
    let said = String::from_utf8_lossy(&out.stderr);
    let at = resumed_at(&said, "big.bin").unwrap_or_else(|| panic!("no resume: {said}"));
    assert!(at > 0 && at < AT, "resumed at {at}, within what passed the proxy");
    f.assert_stored_whole();
}

#[test]
fn an_upload_with_a_flipped_byte_is_refused_and_nothing_is_stored() {
    let f = fixture();
    let proxy = f.proxy(Plan::default().up(AT, Fault::Corrupt));
    let out = f.upload(proxy.address.port());
    assert_eq!(out.status.code(), Some(1), "the server refuses the tampered record");
    stderr_line(&out);
    assert!(proxy.forwarded(Dir::Up) > AT, "the flipped byte went through");
    assert!(!f.listing().contains("big.bin"), "nothing under the final name");
    // A clean run stores it whole.
    ok(&f.upload(f.server.port));
    f.assert_stored_whole();
}

#[test]
fn a_download_cut_mid_way_leaves_a_partial_and_a_rerun_completes() {
    let f = fixture();
    ok(&f.upload(f.server.port));
    let proxy = f.proxy(Plan::default().down(AT, Fault::Cut));
    let dest = f.dir.path().join("dest");
    let out = f.download(proxy.address.port(), &dest);
    assert_eq!(out.status.code(), Some(1), "the cut is an error");
    stderr_line(&out);
    assert!(!dest.join("big.bin").exists(), "nothing under the final name");
    let partial = fs::read(dest.join(".big.bin.sxfer-part")).expect("a partial is left");
    assert!(!partial.is_empty() && (partial.len() as u64) < AT, "{} bytes kept", partial.len());
    assert!(f.bytes.starts_with(&partial), "the partial is a prefix of the file");

    let out = f.download(f.server.port, &dest);
    ok(&out);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(resumed_at(&said, "big.bin"), Some(partial.len() as u64), "{said}");
    assert!(fs::read(dest.join("big.bin")).unwrap() == f.bytes, "byte-identical after the resume");
    assert!(!dest.join(".big.bin.sxfer-part").exists());
}

#[test]
fn a_download_with_a_flipped_byte_fails_and_nothing_is_placed() {
    let f = fixture();
    ok(&f.upload(f.server.port));
    let proxy = f.proxy(Plan::default().down(AT, Fault::Corrupt));
    let dest = f.dir.path().join("dest");
    let out = f.download(proxy.address.port(), &dest);
    assert_eq!(out.status.code(), Some(1), "the tampered record is refused");
    stderr_line(&out);
    assert!(!dest.join("big.bin").exists(), "nothing under the final name");
    if let Ok(partial) = fs::read(dest.join(".big.bin.sxfer-part")) {
        assert!(f.bytes.starts_with(&partial), "only verified bytes are kept");
    }
    ok(&f.download(f.server.port, &dest));
    assert!(fs::read(dest.join("big.bin")).unwrap() == f.bytes, "byte-identical after the rerun");
}

#[test]
fn stalled_transfers_complete_when_released() {
    let f = fixture();
    let (up, stall) = Fault::stall();
    let proxy = f.proxy(Plan::default().up(AT, up));
    let mut upload = Command::new(BIN)
        .args(["upload", f.big.to_str().unwrap(), &target(proxy.address.port(), ""), "--fingerprint"])
        .arg(&f.server.fingerprint)
        .env("SXFER_HOME", &f.home)
        .env("SXFER_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    stall.wait_reached(WAIT);
    assert_eq!(proxy.forwarded(Dir::Up), AT, "held at the offset");
    assert!(upload.try_wait().unwrap().is_none(), "the client waits");
    assert!(!f.listing().contains("big.bin"), "not stored while held");
    stall.release();
    let out = upload.wait_with_output().unwrap();
    ok(&out);
    assert!(proxy.forwarded(Dir::Up) > BIG as u64, "everything went through the proxy");
    f.assert_stored_whole();

    let (down, stall) = Fault::stall();
    let proxy = f.proxy(Plan::default().down(AT, down));
    let dest = f.dir.path().join("dest");
    let (from, to) = (target(proxy.address.port(), "big.bin"), dest.to_str().unwrap());
    let download = ["download", &from, to, "--fingerprint", &f.server.fingerprint];
    let download = std::thread::scope(|scope| {
        let download = scope.spawn(|| sxfer(&f.home, &download));
        stall.wait_reached(WAIT);
        assert_eq!(proxy.forwarded(Dir::Down), AT, "held at the offset");
        assert!(!dest.join("big.bin").exists(), "not placed while held");
        stall.release();
        download.join().unwrap()
    });
    ok(&download);
    assert!(fs::read(dest.join("big.bin")).unwrap() == f.bytes, "byte-identical");
}

// ---------------------------------------------------------------------------
// Peer transfers: a listening receiver, the sender through the proxy.

/// A receiver listening on 127.0.0.1:0 into `out`; its fingerprint and address.
fn receiver(home: &Path, out: &Path) -> (Peer, String, String) {
    let mut peer = Peer::spawn(home, &args(&[&"receive", &"--listen", &"127.0.0.1:0", &"--out", &out, &"--yes"]));
    let (fingerprint, address) = peer.listening();
    (peer, fingerprint, address)
}

fn send(home: &Path, file: &Path, address: &str, fingerprint: &str) -> (std::process::ExitStatus, Vec<String>) {
    run(home, &args(&[&"send", &file, &address, &"--fingerprint", &fingerprint]))
}

fn peer_fixture() -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let bytes = random_bytes(BIG, 9);
    let file = dir.path().join("big.bin");
    fs::write(&file, &bytes).unwrap();
    (dir, file, bytes)
}

#[test]
fn a_peer_transfer_cut_mid_way_resumes_when_run_again() {
    let (dir, file, bytes) = peer_fixture();
    let out = dir.path().join("out");
    let (mut receiver, fingerprint, address) = receiver(dir.path(), &out);
    let proxy = FaultProxy::start(address.clone(), Plan::default().up(AT, Fault::Cut));
    let (status, lines) = send(dir.path(), &file, &proxy.addr(), &fingerprint);
    assert_eq!(status.code(), Some(1), "{lines:#?}");
    error_line(&lines);
    receiver.wait_for("about the cut", |l| l.starts_with("sxfer: connection from 127.0.0.1:"));
    assert!(receiver.is_running(), "the listener keeps waiting after a cut");
    assert!(!out.join("big.bin").exists(), "nothing under the final name");
    let partial = fs::read(out.join(".big.bin.sxfer-part")).expect("a partial is left");
    assert!(bytes.starts_with(&partial), "the partial is a prefix of the file");

    let (status, lines) = send(dir.path(), &file, &address, &fingerprint);
    assert!(status.success(), "{lines:#?}");
    let at = lines.iter().find_map(|l| resumed_at(l, "big.bin"));
    assert!(at.is_some_and(|at| at > 0 && at < AT), "resumed within what passed: {lines:#?}");
    let (status, lines) = receiver.finish();
    assert!(status.success(), "{lines:#?}");
    assert!(fs::read(out.join("big.bin")).unwrap() == bytes, "byte-identical after the resume");
    assert!(!out.join(".big.bin.sxfer-part").exists());
}

#[test]
fn a_peer_transfer_with_a_flipped_byte_fails_with_nothing_under_the_final_name() {
    let (dir, file, bytes) = peer_fixture();
    let out = dir.path().join("out");
    let (mut receiver, fingerprint, address) = receiver(dir.path(), &out);
    let proxy = FaultProxy::start(address.clone(), Plan::default().up(AT, Fault::Corrupt));
    let (status, lines) = send(dir.path(), &file, &proxy.addr(), &fingerprint);
    assert_eq!(status.code(), Some(1), "{lines:#?}");
    error_line(&lines);
    receiver.wait_for("about the tampered record", |l| l.starts_with("sxfer: connection from 127.0.0.1:"));
    assert!(!out.join("big.bin").exists(), "nothing under the final name");
    if let Ok(partial) = fs::read(out.join(".big.bin.sxfer-part")) {
        assert!(bytes.starts_with(&partial), "only verified bytes are kept");
    }
    let (status, lines) = send(dir.path(), &file, &address, &fingerprint);
    assert!(status.success(), "{lines:#?}");
    assert!(receiver.finish().0.success());
    assert!(fs::read(out.join("big.bin")).unwrap() == bytes, "byte-identical after the rerun");
}
