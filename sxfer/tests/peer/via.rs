//! Relayed peer mode through a real `sxfer serve` (`--via`): both
//! arrangements, the direct upgrade, relay only, fingerprint mode, the
//! accounts relay, and a relay that records or corrupts what it splices.

use super::*;
use crate::common::cli::{serve_with, Served};
use crate::common::faults::{Dir, Fault, FaultProxy, Plan};

fn serve_relay(data: &Path, mode: &str) -> Served {
    serve_with(&[], &["--relay", mode], data)
}

const PASSWORD: &str = "a relay user's password";

fn code_of(peer: &mut Peer) -> String {
    let line = peer.wait_for("with the code", |l| l.starts_with("code "));
    line["code ".len()..].to_owned()
}

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    server: Served,
    data: Vec<u8>,
    file: PathBuf,
    out: PathBuf,
}

fn setup() -> Setup {
    setup_relay("open", &[])
}

/// A server whose relay is `mode`, with `users` (password [`PASSWORD`])
/// made before it starts.
fn setup_relay(mode: &str, users: &[&str]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    for user in users {
        let status = Command::new(BIN)
            .args(["user", "add", user, "--data-dir"])
            .arg(root.join("data"))
            .env("SXFER_PASSWORD", PASSWORD)
            .stdin(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "user add {user}");
    }
    let server = serve_relay(&root.join("data"), mode);
    // Above the 4 MiB bound under which files are sent whole, not resumed.
    let data = random_bytes(6 << 20, 11);
    let file = root.join("big.bin");
    fs::write(&file, &data).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
    set_mtime(&file, 1_234_567_890, 42);
    let out = root.join("out");
    Setup { _dir: dir, root, server, data, file, out }
}

/// A command line: `list`, then `--via host` and the server's pin.
fn line(list: &[&dyn AsRef<OsStr>], s: &Setup, host: &str) -> Vec<std::ffi::OsString> {
    let mut all: Vec<std::ffi::OsString> = list.iter().map(|a| a.as_ref().to_owned()).collect();
    all.extend(["--via", host, "--server-fingerprint", &s.server.fingerprint].map(Into::into));
    all
}

fn start(home: &Path, line: &[std::ffi::OsString]) -> Peer {
    Peer::spawn(home, &line.iter().map(|a| a.as_os_str()).collect::<Vec<_>>())
}

fn assert_landed(s: &Setup) {
    let landed = s.out.join("big.bin");
    assert!(fs::read(&landed).unwrap() == s.data, "the file differs");
    let meta = fs::metadata(&landed).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o640);
    assert_eq!((meta.mtime(), meta.mtime_nsec()), (1_234_567_890, 42));
}

#[test]
fn a_creating_sender_and_a_joining_receiver_move_the_file_and_the_relay_sees_no_plaintext() {
    let s = setup();
    let (sender_proxy, receiver_proxy) =
        (FaultProxy::recording(s.server.address()), FaultProxy::recording(s.server.address()));
    let send = line(&[&"send", &s.file, &"--relay-only"], &s, &sender_proxy.addr());
    let mut sender = start(&s.root.join("a"), &send);
    let code = code_of(&mut sender);
    let receive = line(&[&"receive", &code, &"--yes", &"--out", &s.out], &s, &receiver_proxy.addr());
    let (status, lines) = start(&s.root.join("b"), &receive).finish();
    assert!(status.success(), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("relayed via ")), "{lines:#?}");
    let (status, lines) = sender.finish();
    assert!(status.success(), "{lines:#?}");
    assert_landed(&s);
    let window = &s.data[1_000_000..1_000_064];
    for proxy in [&sender_proxy, &receiver_proxy] {
        let (up, down) = (proxy.recorded(Dir::Up), proxy.recorded(Dir::Down));
        assert!(up.len() + down.len() > s.data.len(), "the proxy saw the transfer");
        for recording in [up, down] {
            assert!(!recording.windows(64).any(|w| w == window), "plaintext crossed the relay");
        }
    }
}

#[test]
fn a_creating_receiver_and_a_joining_sender_move_the_file() {
    let s = setup();
    let host = s.server.address();
    let receive = line(&[&"receive", &"--yes", &"--out", &s.out, &"--json"], &s, &host);
    let mut receiver = start(&s.root.join("b"), &receive);
    let shown = receiver.wait_for("with the code", |l| l.contains("\"event\":\"code\""));
    let code = json_field(&shown, "code").unwrap();
    let send = line(&[&"send", &s.file, &code, &"--relay-only"], &s, &host);
    let (status, lines) = start(&s.root.join("a"), &send).finish();
    assert!(status.success(), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("relayed via ")), "{lines:#?}");
    let (status, lines) = receiver.finish();
    assert!(status.success(), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("\"event\":\"relayed\"")), "{lines:#?}");
    assert_landed(&s);
}

/// Without --relay-only peers that can reach each other meet at the
/// relay and move the file directly: the relay carries only the two
/// handshakes and the path choice, far less than the file.
#[test]
fn a_creating_sender_and_a_joining_receiver_go_direct_past_the_relay() {
    let s = setup();
    let (sender_proxy, receiver_proxy) =
        (FaultProxy::recording(s.server.address()), FaultProxy::recording(s.server.address()));
    let send = line(&[&"send", &s.file], &s, &sender_proxy.addr());
    let mut sender = start(&s.root.join("a"), &send);
    let code = code_of(&mut sender);
    let receive = line(&[&"receive", &code, &"--yes", &"--out", &s.out], &s, &receiver_proxy.addr());
    let (status, lines) = start(&s.root.join("b"), &receive).finish();
    assert!(status.success(), "{lines:#?}");
    assert!(lines.iter().any(|l| l == "direct"), "{lines:#?}");
    let (status, lines) = sender.finish();
    assert!(status.success(), "{lines:#?}");
    assert!(lines.iter().any(|l| l == "direct"), "{lines:#?}");
    assert_landed(&s);
    for proxy in [&sender_proxy, &receiver_proxy] {
        let relayed = proxy.forwarded(Dir::Up) + proxy.forwarded(Dir::Down);
        assert!(relayed > 0 && relayed < 256 << 10, "the relay carried {relayed} bytes");
    }
}

#[test]
fn a_creating_receiver_and_a_joining_sender_go_direct() {
    let s = setup();
    let host = s.server.address();
    let receive = line(&[&"receive", &"--yes", &"--out", &s.out, &"--json"], &s, &host);
    let mut receiver = start(&s.root.join("b"), &receive);
    let shown = receiver.wait_for("with the code", |l| l.contains("\"event\":\"code\""));
    let code = json_field(&shown, "code").unwrap();
    let send = line(&[&"send", &s.file, &code], &s, &host);
    let (status, lines) = start(&s.root.join("a"), &send).finish();
    assert!(status.success(), "{lines:#?}");
    assert!(lines.iter().any(|l| l == "direct"), "{lines:#?}");
    let (status, lines) = receiver.finish();
    assert!(status.success(), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("\"event\":\"direct\"")), "{lines:#?}");
    assert_landed(&s);
}

#[test]
fn a_wrong_code_fails_both_sides_and_writes_nothing() {
    let s = setup();
    let host = s.server.address();
    let send = line(&[&"send", &s.file], &s, &host);
    let mut sender = start(&s.root.join("a"), &send);
    let code = code_of(&mut sender);
    let (nameplate, words) = code.split_once('-').unwrap();
    let wrong = if words.starts_with("acorn-") { "agent-agent-agent" } else { "acorn-acorn-acorn" };
    let wrong = format!("{nameplate}-{wrong}");
    let receive = line(&[&"receive", &wrong, &"--yes", &"--out", &s.out], &s, &host);
    let (status, lines) = start(&s.root.join("b"), &receive).finish();
    assert!(!status.success(), "{lines:#?}");
    assert!(error_line(&lines).contains("wrong code"), "{lines:#?}");
    let (status, lines) = sender.finish();
    assert!(!status.success(), "{lines:#?}");
    assert!(error_line(&lines).contains("wrong code"), "{lines:#?}");
    assert!(!s.out.exists() || names_under(&s.out).is_empty(), "{:?}", names_under(&s.out));
}

#[test]
fn a_flipped_relayed_byte_fails_the_receiver_with_nothing_under_the_final_name() {
    let s = setup();
    let sender_proxy = FaultProxy::start(s.server.address(), Plan::default().up(3 << 20, Fault::Corrupt));
    let send = line(&[&"send", &s.file, &"--relay-only"], &s, &sender_proxy.addr());
    let mut sender = start(&s.root.join("a"), &send);
    let code = code_of(&mut sender);
    let host = s.server.address();
    let receive = line(&[&"receive", &code, &"--yes", &"--out", &s.out], &s, &host);
    let (status, lines) = start(&s.root.join("b"), &receive).finish();
    assert!(!status.success(), "{lines:#?}");
    let error = error_line(&lines);
    assert!(error.contains("record") || error.contains("integrity") || error.contains("authent"), "{error}");
    assert!(!s.out.join("big.bin").exists());
    assert!(s.out.join(".big.bin.sxfer-part").exists(), "the verified prefix is kept");
    drop(sender);
    // The cut transfer resumes: the pair runs again, relayed, and completes.
    let send = line(&[&"send", &s.file], &s, &host);
    let mut sender = start(&s.root.join("a"), &send);
    let code = code_of(&mut sender);
    let receive = line(&[&"receive", &code, &"--yes", &"--out", &s.out, &"--relay-only"], &s, &host);
    let (status, lines) = start(&s.root.join("b"), &receive).finish();
    assert!(status.success(), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("relayed via ")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("resuming big.bin at byte ")), "{lines:#?}");
    assert_landed(&s);
}

/// The default relay mode: two logged-in users pair through it (the
/// transfer kept on the relay), an anonymous peer is refused.
#[test]
fn an_accounts_relay_pairs_two_users_and_refuses_an_anonymous_peer() {
    let s = setup_relay("accounts", &["alice", "bob"]);
    let address = s.server.address();
    let anonymous = line(&[&"send", &s.file], &s, &address);
    let (status, lines) = start(&s.root.join("c"), &anonymous).finish();
    assert!(!status.success(), "{lines:#?}");
    let refused = error_line(&lines);
    assert!(refused.contains("needs an account"), "{refused}");

    let password = [("SXFER_PASSWORD", PASSWORD)];
    let (alice, bob) = (format!("alice@{address}"), format!("bob@{address}"));
    let send = line(&[&"send", &s.file, &"--relay-only"], &s, &alice);
    let args: Vec<&OsStr> = send.iter().map(|a| a.as_os_str()).collect();
    let mut sender = Peer::spawn_with(&s.root.join("a"), &args, &password);
    let code = code_of(&mut sender);
    let receive = line(&[&"receive", &code, &"--yes", &"--out", &s.out], &s, &bob);
    let args: Vec<&OsStr> = receive.iter().map(|a| a.as_os_str()).collect();
    let (status, lines) = Peer::spawn_with(&s.root.join("b"), &args, &password).finish();
    assert!(status.success(), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("relayed via ")), "{lines:#?}");
    let (status, lines) = sender.finish();
    assert!(status.success(), "{lines:#?}");
    assert_landed(&s);
}

/// Fingerprint mode through the relay: the joiner pins the creator's key
/// (`--fingerprint`) and the creator lets in the joiner's (`--allow`),
/// in both arrangements, one relayed and one direct.
#[test]
fn fingerprint_mode_pairs_through_the_relay_in_both_arrangements() {
    for (creator_sends, relay_only) in [(true, true), (false, false)] {
        let s = setup();
        let host = s.server.address();
        let (creator_key, creator_fp) = key(&s.root, "creator");
        let (joiner_key, joiner_fp) = key(&s.root, "joiner");
        let mut create: Vec<&dyn AsRef<OsStr>> =
            if creator_sends { vec![&"send", &s.file] } else { vec![&"receive", &"--yes", &"--out", &s.out] };
        create.extend([&"--allow" as &dyn AsRef<OsStr>, &joiner_fp, &"-i", &creator_key]);
        let mut creator = start(&s.root.join("a"), &line(&create, &s, &host));
        let code = code_of(&mut creator);
        let mut join: Vec<&dyn AsRef<OsStr>> = if creator_sends {
            vec![&"receive", &code, &"--yes", &"--out", &s.out]
        } else {
            vec![&"send", &s.file, &code]
        };
        join.extend([&"--fingerprint" as &dyn AsRef<OsStr>, &creator_fp, &"-i", &joiner_key]);
        if relay_only {
            join.push(&"--relay-only");
        }
        let (status, lines) = start(&s.root.join("b"), &line(&join, &s, &host)).finish();
        assert!(status.success(), "{lines:#?}");
        let path = if relay_only { "relayed via " } else { "direct" };
        assert!(lines.iter().any(|l| l.starts_with(path)), "{lines:#?}");
        let (status, lines) = creator.finish();
        assert!(status.success(), "{lines:#?}");
        assert_landed(&s);
    }
}

/// A joiner pinning the wrong key stops before any credential or
/// metadata; a joiner whose key the creator does not allow is refused.
/// Neither writes anything.
#[test]
fn a_wrong_fingerprint_through_the_relay_fails_before_anything_moves() {
    let s = setup();
    let host = s.server.address();
    let (creator_key, creator_fp) = key(&s.root, "creator");
    let (joiner_key, joiner_fp) = key(&s.root, "joiner");
    let (_, stranger_fp) = key(&s.root, "stranger");
    for (allow, pin, expected) in
        [(&joiner_fp, &stranger_fp, "not the expected"), (&stranger_fp, &creator_fp, "not allowed")]
    {
        let create = line(&[&"send", &s.file, &"--allow", allow, &"-i", &creator_key], &s, &host);
        let mut creator = start(&s.root.join("a"), &create);
        let code = code_of(&mut creator);
        let join = [
            &"receive" as &dyn AsRef<OsStr>,
            &code,
            &"--yes",
            &"--out",
            &s.out,
            &"--fingerprint",
            pin,
            &"-i",
            &joiner_key,
        ];
        let (status, lines) = start(&s.root.join("b"), &line(&join, &s, &host)).finish();
        assert!(!status.success(), "{lines:#?}");
        assert!(error_line(&lines).contains(expected), "{lines:#?}");
        let (status, lines) = creator.finish();
        assert!(!status.success(), "{lines:#?}");
        assert!(!s.out.exists() || names_under(&s.out).is_empty(), "{:?}", names_under(&s.out));
    }
}
