//! Real `sxfer` processes through the fault proxy (`common::faults`):
//! uploads, downloads and peer transfers cut, corrupted and stalled at
//! chosen byte offsets; what is left must be resumable or absent, never
//! wrong.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output};
use std::time::Duration;

use crate::common::cli::{serve, setup, spawn_sxfer, stderr_line, sxfer, Served};
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

/// A server with alice, her client home, and `big.bin` to send.
struct Fixture {
    dir: tempfile::TempDir,
    home: PathBuf,
    server: Served,
    big: PathBuf,
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

    /// Uploads big.bin through a proxy with `fault` at [`AT`] of the data
    /// going up, which must fail with nothing visible. Returns the bytes
    /// the proxy forwarded up and the error line.
    fn failed_upload(&self, fault: Fault) -> (u64, String) {
        let proxy = self.proxy(Plan::default().up(AT, fault));
        let out = self.upload(proxy.address.port());
        assert_eq!(out.status.code(), Some(1), "the fault is an error");
        assert!(!self.listing().contains("big.bin"), "nothing under the final name");
        (proxy.forwarded(Dir::Up), stderr_line(&out))
    }

    /// Uploads big.bin, then downloads it through a proxy with `fault` at
    /// [`AT`] of the data coming down, which must fail with nothing under
    /// the final name. Returns the destination and the error line.
    fn failed_download(&self, fault: Fault) -> (PathBuf, String) {
        ok(&self.upload(self.server.port));
        let proxy = self.proxy(Plan::default().down(AT, fault));
        let dest = self.dir.path().join("dest");
        let out = self.download(proxy.address.port(), &dest);
        assert_eq!(out.status.code(), Some(1), "the fault is an error");
        assert!(!dest.join("big.bin").exists(), "nothing under the final name");
        (dest, stderr_line(&out))
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
    let (forwarded, error) = f.failed_upload(Fault::Cut);
    assert!(error.contains("connection"), "{error}");
    assert_eq!(forwarded, AT, "the proxy forwarded up to the cut and no more");

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
    let (forwarded, error) = f.failed_upload(Fault::Corrupt);
    assert!(error.contains("the server ended the session") && error.contains("authentication failed"), "{error}");
    assert!(forwarded > AT, "the flipped byte went through");
    // A clean run stores it whole.
    ok(&f.upload(f.server.port));
    f.assert_stored_whole();
}

#[test]
fn a_download_cut_mid_way_leaves_a_partial_and_a_rerun_completes() {
    let f = fixture();
    let (dest, error) = f.failed_download(Fault::Cut);
    assert!(error.contains("connection closed"), "{error}");
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
    let (dest, error) = f.failed_download(Fault::Corrupt);
    assert!(error.contains("authentication failed"), "the tampered record is refused: {error}");
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
    let to = target(proxy.address.port(), "");
    let mut upload =
        spawn_sxfer(&f.home, &["upload", f.big.to_str().unwrap(), &to, "--fingerprint", &f.server.fingerprint]);
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

    // A pause of bounded time: the download waits it out and completes.
    let pause = Duration::from_millis(300);
    let proxy = f.proxy(Plan::default().down(AT, Fault::Pause(pause)));
    let (started, dest) = (std::time::Instant::now(), f.dir.path().join("paused"));
    ok(&f.download(proxy.address.port(), &dest));
    assert!(started.elapsed() >= pause, "the proxy held the bytes for {pause:?}");
    assert!(fs::read(dest.join("big.bin")).unwrap() == f.bytes, "byte-identical");
}

// ---------------------------------------------------------------------------
// Peer transfers: a listening receiver, the sender through the proxy.

/// A receiver listening on 127.0.0.1:0 into `out`, and `big.bin` to send.
struct PeerFixture {
    dir: tempfile::TempDir,
    file: PathBuf,
    bytes: Vec<u8>,
    out: PathBuf,
    receiver: Peer,
    fingerprint: String,
    address: String,
}

impl PeerFixture {
    fn send(&self, address: &str) -> (ExitStatus, Vec<String>) {
        run(self.dir.path(), &args(&[&"send", &self.file, &address, &"--fingerprint", &self.fingerprint]))
    }
}

/// Sends big.bin through a proxy with `fault` at [`AT`]: the sender fails,
/// the receiver says so and keeps listening, nothing is under the final
/// name. Returns the fixture and the receiver's line about it.
fn failed_send(fault: Fault) -> (PeerFixture, String) {
    let dir = tempfile::tempdir().unwrap();
    let bytes = random_bytes(BIG, 9);
    let file = dir.path().join("big.bin");
    fs::write(&file, &bytes).unwrap();
    let out = dir.path().join("out");
    let mut receiver =
        Peer::spawn(dir.path(), &args(&[&"receive", &"--listen", &"127.0.0.1:0", &"--out", &out, &"--yes"]));
    let (fingerprint, address) = receiver.listening();
    let mut f = PeerFixture { dir, file, bytes, out, receiver, fingerprint, address };
    let proxy = FaultProxy::start(f.address.clone(), Plan::default().up(AT, fault));
    let (status, lines) = f.send(&proxy.addr());
    assert_eq!(status.code(), Some(1), "{lines:#?}");
    error_line(&lines);
    let failed = f.receiver.wait_for("about the fault", |l| l.starts_with("sxfer: connection from 127.0.0.1:"));
    assert!(failed.ends_with("still listening") && f.receiver.is_running(), "{failed}");
    assert!(!f.out.join("big.bin").exists(), "nothing under the final name");
    (f, failed)
}

#[test]
fn a_peer_transfer_cut_mid_way_resumes_when_run_again() {
    let (f, failed) = failed_send(Fault::Cut);
    assert!(failed.contains("failed: connection"), "{failed}");
    let partial = fs::read(f.out.join(".big.bin.sxfer-part")).expect("a partial is left");
    assert!(f.bytes.starts_with(&partial), "the partial is a prefix of the file");

    let (status, lines) = f.send(&f.address);
    assert!(status.success(), "{lines:#?}");
    let at = lines.iter().find_map(|l| resumed_at(l, "big.bin"));
    assert!(at.is_some_and(|at| at > 0 && at < AT), "resumed within what passed: {lines:#?}");
    let (status, lines) = f.receiver.finish();
    assert!(status.success(), "{lines:#?}");
    assert!(fs::read(f.out.join("big.bin")).unwrap() == f.bytes, "byte-identical after the resume");
    assert!(!f.out.join(".big.bin.sxfer-part").exists());
}

#[test]
fn a_peer_transfer_with_a_flipped_byte_fails_with_nothing_under_the_final_name() {
    let (f, failed) = failed_send(Fault::Corrupt);
    assert!(failed.contains("authentication failed"), "{failed}");
    if let Ok(partial) = fs::read(f.out.join(".big.bin.sxfer-part")) {
        assert!(f.bytes.starts_with(&partial), "only verified bytes are kept");
    }
    let (status, lines) = f.send(&f.address);
    assert!(status.success(), "{lines:#?}");
    assert!(f.receiver.finish().0.success());
    assert!(fs::read(f.out.join("big.bin")).unwrap() == f.bytes, "byte-identical after the rerun");
}
