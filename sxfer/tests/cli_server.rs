//! The built binary as users run it: `sxfer serve`, `user add`, `upload`,
//! `download`, `ls`; exit codes and one-line errors; SIGTERM; kill -9 and
//! resume.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::cli::{add_user, serve, serve_under, setup, spawn_sxfer, stderr_line, sxfer, BIN, PASSWORD};

#[test]
fn pinning_upload_list_download_and_clear_errors() {
    let (dir, data, home) = setup();
    let server = serve(&data);
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, b"hello sxfer\n").unwrap();
    let file = file.to_str().unwrap();
    let target = format!("alice@127.0.0.1:{}:", server.port);

    // First contact without a terminal and without --fingerprint: refused.
    let out = sxfer(&home, &["upload", file, &target]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).contains("--fingerprint SHA256:"), "{}", stderr_line(&out));
    let wrong = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let out = sxfer(&home, &["upload", file, &target, "--fingerprint", wrong]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).contains("not the expected"));

    let out = sxfer(&home, &["upload", file, &target, "--fingerprint", &server.fingerprint]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = sxfer(&home, &["ls", &target, "--json"]);
    assert!(out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("\"name\":\"notes.txt\"") && listing.contains("\"size\":12"), "{listing}");

    let dest = dir.path().join("dest");
    let remote = format!("alice@127.0.0.1:{}:notes.txt", server.port);
    let out = sxfer(&home, &["download", &remote, dest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(dest.join("notes.txt")).unwrap(), b"hello sxfer\n");
    let out = sxfer(&home, &["download", &remote, dest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).contains("exists (use --force"));
    let out = sxfer(&home, &["download", &remote, dest.to_str().unwrap(), "--force"]);
    assert!(out.status.success());

    let out = sxfer(&home, &["upload", "/nonexistent/file", &target]);
    assert_eq!(out.status.code(), Some(1));
    stderr_line(&out);
    let out = sxfer(&home, &["stat", &format!("alice@127.0.0.1:{}:missing", server.port)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).contains("not found") || stderr_line(&out).contains("no such file"));
    let out = sxfer(&home, &["upload", "--bogus-flag"]);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn bad_names_are_refused_and_nothing_is_written() {
    let (dir, data, home) = setup();
    let server = serve(&data);
    let file = dir.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    let file = file.to_str().unwrap();
    let long = "a".repeat(4096);
    let port = server.port;
    for name in ["../x", "/etc/passwd", "a/../../b", "a//b", "\x1b[31m", "a\\b", ".", long.as_str()] {
        let target = format!("alice@127.0.0.1:{port}:{name}");
        let out = sxfer(&home, &["upload", file, &target, "--fingerprint", &server.fingerprint]);
        assert_eq!(out.status.code(), Some(1), "{name:?}");
        let line = stderr_line(&out);
        assert!(!line.contains('\x1b'), "no raw escapes on the terminal: {line:?}");
        let out = sxfer(&home, &["download", &target, dir.path().join("dl").to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{name:?}");
        stderr_line(&out);
    }
    let out = sxfer(&home, &["ls", &format!("alice@127.0.0.1:{port}"), "--fingerprint", &server.fingerprint]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "nothing was stored: {}", String::from_utf8_lossy(&out.stdout));
    assert!(!dir.path().join("dl").exists() || std::fs::read_dir(dir.path().join("dl")).unwrap().next().is_none());
}

#[test]
fn print_config_shows_flags_over_environment() {
    let out = Command::new(BIN)
        .args(["serve", "--print-config", "--listen", "127.0.0.1:9999", "--quota-files", "7"])
        .env("SXFER_LISTEN", "127.0.0.1:1")
        .env("SXFER_MAX_FILE_SIZE", "10M")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("listen = \"127.0.0.1:9999\""), "{text}");
    assert!(text.contains("max_file_size = \"10485760\""), "{text}");
    assert!(text.contains("quota_files = 7"), "{text}");
    let out = Command::new(BIN).args(["serve", "--print-config", "--suites", "rot13"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).contains("unknown suite"));
}

#[test]
fn print_config_shows_the_relay_table_and_the_relay_flag() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sxfer.toml");
    std::fs::write(&config, "[relay]\nmax_relays = 5\nidle_timeout_secs = 9\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--print-config", "--config"])
        .arg(&config)
        .env("SXFER_RELAY", "open")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let relay = text.split("\n[relay]\n").nth(1).unwrap_or_else(|| panic!("no [relay] table: {text}"));
    for line in ["mode = \"open\"", "max_relays = 5", "idle_timeout_secs = 9", "nameplate_ttl_secs = 600"] {
        assert!(relay.lines().any(|l| l == line), "{line} in {relay}");
    }
    let out = Command::new(BIN).args(["serve", "--print-config", "--relay", "public"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a bad flag value is a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown relay mode"));
}

#[test]
fn a_closed_output_pipe_is_not_a_panic() {
    // Like `sxfer serve --print-config | head -0`: the reader is gone
    // before the first write.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(BIN).args(["serve", "--print-config"]).stdout(writer).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let (_dir, data, _home) = setup();
    let mut server = serve(&data);
    let pid = server.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    // The signal handler ran (not the default action, which also ends the
    // process, with status "terminated by SIGTERM")...
    server.wait_for_line("sxfer: shutting down", Duration::from_secs(10));
    // ...then the server drained and exited by itself, with status 0.
    let status = server.wait_for_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    let address = format!("127.0.0.1:{}", server.port);
    assert!(std::net::TcpStream::connect(&address).is_err(), "{address} no longer accepts connections");
}

#[test]
fn offering_only_suites_the_server_refuses_is_a_clear_error() {
    let (_dir, data, home) = setup();
    let server = serve(&data); // accepts the defaults: aes-256-gcm, chacha20-poly1305
    let target = format!("alice@127.0.0.1:{}", server.port);
    let out = sxfer(&home, &["ls", &target, "--fingerprint", &server.fingerprint, "--suites", "aes-256-eax"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr_line(&out),
        "sxfer: error: the server accepts none of the offered record suites (offered: aes-256-eax)"
    );
    let out = sxfer(&home, &["ls", &target, "--suites", "aes-256-eax,hmac-sha256-ctr"]);
    assert_eq!(
        stderr_line(&out),
        "sxfer: error: the server accepts none of the offered record suites (offered: aes-256-eax, hmac-sha256-ctr)"
    );
}

#[test]
fn kill_dash_nine_mid_upload_then_resume() {
    let (dir, data, home) = setup();
    let server = serve(&data);
    let big = dir.path().join("big.bin");
    let mut bytes = vec![0u8; 128 << 20];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for chunk in bytes.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(&big, &bytes).unwrap();
    let target = format!("alice@127.0.0.1:{}:", server.port);
    let upload = spawn_sxfer(&home, &["upload", big.to_str().unwrap(), &target, "--fingerprint", &server.fingerprint]);
    let partial = data.join("partial");
    let deadline = Instant::now() + Duration::from_secs(60);
    while largest(&partial) < 48 << 20 {
        assert!(Instant::now() < deadline, "upload never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(server); // SIGKILL
    let out = upload.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "the client reports the cut");

    let server = serve(&data);
    let target = format!("alice@127.0.0.1:{}:", server.port);
    let out = sxfer(&home, &["upload", big.to_str().unwrap(), &target, "--fingerprint", &server.fingerprint]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("resuming big.bin at byte"), "{said}");
    let dest = dir.path().join("dest");
    let remote = format!("alice@127.0.0.1:{}:big.bin", server.port);
    let out = sxfer(&home, &["download", &remote, dest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(dest.join("big.bin")).unwrap() == bytes, "byte-identical after resume");
}

fn largest(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).max().unwrap_or(0))
        .unwrap_or(0)
}

#[test]
fn login_saves_a_default_server_for_later_commands() {
    let (dir, data, home) = setup();
    let server = serve(&data);
    let out =
        sxfer(&home, &["login", &format!("alice@127.0.0.1:{}", server.port), "--fingerprint", &server.fingerprint]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = dir.path().join("a.txt");
    std::fs::write(&file, b"profile").unwrap();
    let out = sxfer(&home, &["upload", file.to_str().unwrap(), ":docs/"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = sxfer(&home, &["ls"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("docs/a.txt"));
    let out = sxfer(&home, &["download", ":docs/a.txt", dir.path().join("back").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(dir.path().join("back/a.txt")).unwrap(), b"profile");
    let out = sxfer(&home, &["mv", ":docs/a.txt", "docs/b.txt"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = sxfer(&home, &["rm", ":docs/b.txt"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = sxfer(&home, &["ls", "--json"]);
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(home.join("client.log").exists(), "the client keeps a log");
    let log = std::fs::read_to_string(home.join("client.log")).unwrap();
    assert!(!log.contains(PASSWORD), "no secrets in the log");
}

#[test]
fn an_operator_invite_lets_a_user_register() {
    let (dir, data, home) = setup();
    let out = Command::new(BIN).args(["user", "invite", "--uses", "1", "--data-dir"]).arg(&data).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap();
    assert!(token.starts_with("sxfer-invite-"), "{token}");
    let invite_file = dir.path().join("invite");
    std::fs::write(&invite_file, &token).unwrap();
    let server = serve(&data);
    let target = format!("bob@127.0.0.1:{}", server.port);
    let register = |extra: &[&str]| {
        let mut args = vec!["register", target.as_str(), "--fingerprint", server.fingerprint.as_str()];
        args.extend_from_slice(extra);
        sxfer(&home, &args)
    };
    let out = register(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).contains("ask its operator for an invite"));
    let out = register(&["--invite-file", invite_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = sxfer(&home, &["ls", &target]);
    assert!(out.status.success(), "the new account logs in: {}", String::from_utf8_lossy(&out.stderr));
}

/// Under a file-size limit (RLIMIT_FSIZE, as systemd's `LimitFSIZE=` sets)
/// a write past it used to kill the whole server (SIGXFSZ). Now only that
/// upload fails, with a clear error, and the server goes on.
#[test]
fn a_file_size_limit_fails_only_that_upload() {
    let (dir, data, home) = setup();
    let server = serve_under(&["prlimit", "--fsize=4194304", "--"], &data);
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![7u8; 6 << 20]).unwrap();
    let small = dir.path().join("small.txt");
    std::fs::write(&small, b"still here\n").unwrap();
    let target = format!("alice@127.0.0.1:{}:", server.port);
    let out = sxfer(&home, &["upload", big.to_str().unwrap(), &target, "--fingerprint", &server.fingerprint]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stderr_line(&out).contains("file-size limit"), "{}", stderr_line(&out));
    let out = sxfer(&home, &["upload", small.to_str().unwrap(), &target]);
    assert!(out.status.success(), "the server went on: {}", String::from_utf8_lossy(&out.stderr));
    let out = sxfer(&home, &["ls", &target, "--json"]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("\"name\":\"small.txt\"") && !listing.contains("big.bin"), "{listing}");
}

/// A full disk is its own error ("out of space"), not "internal server
/// error", and fails only that upload. Needs root for a small tmpfs as
/// the data directory; without it the test says so and checks nothing.
#[test]
fn a_full_disk_fails_only_that_upload_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"]).arg(&data).output();
    if !mounted.is_ok_and(|out| out.status.success()) {
        eprintln!("skipped: cannot mount a 3 MiB tmpfs for a full disk (needs root)");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            Command::new("umount").arg("-l").arg(&self.0).status().ok();
        }
    }
    let _unmount = Unmount(data.clone());
    add_user(&data, "alice");
    let home = dir.path().join("home");
    let server = serve(&data);
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![9u8; 5 << 20]).unwrap();
    let target = format!("alice@127.0.0.1:{}:", server.port);
    let out = sxfer(&home, &["upload", big.to_str().unwrap(), &target, "--fingerprint", &server.fingerprint]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let error = stderr_line(&out);
    assert!(error.contains("out of space") && !error.contains("internal"), "{error}");
    let out = sxfer(&home, &["ls", &target, "--json"]);
    assert!(out.status.success(), "the server went on: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("big.bin"));
}

/// `download -r` run again after a cut: the file that completed is skipped
/// (same BLAKE3 as the server's), the one cut off resumes from its partial,
/// and a local file with other bytes is still refused without --force.
#[test]
fn download_recursive_resumes_when_run_again() {
    let (dir, data, home) = setup();
    let server = serve(&data);
    let src = dir.path().join("tree");
    std::fs::create_dir_all(&src).unwrap();
    let first: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let second: Vec<u8> = (0..6_000_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(src.join("a.bin"), &first).unwrap();
    std::fs::write(src.join("b.bin"), &second).unwrap();
    let target = format!("alice@127.0.0.1:{}:", server.port);
    let out = sxfer(&home, &["upload", "-r", src.to_str().unwrap(), &target, "--fingerprint", &server.fingerprint]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // As after a cut: a.bin complete, b.bin a third of the way.
    let dest = dir.path().join("dest");
    std::fs::create_dir_all(dest.join("tree")).unwrap();
    std::fs::write(dest.join("tree/a.bin"), &first).unwrap();
    std::fs::write(dest.join("tree/.b.bin.sxfer-part"), &second[..2_000_000]).unwrap();
    let remote = format!("alice@127.0.0.1:{}:tree", server.port);
    let out = sxfer(&home, &["download", "-r", &remote, dest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("skipped tree/a.bin"), "{said}");
    assert_eq!(std::fs::read(dest.join("tree/a.bin")).unwrap(), first);
    assert_eq!(std::fs::read(dest.join("tree/b.bin")).unwrap(), second);
    assert!(!dest.join("tree/.b.bin.sxfer-part").exists());

    // Other bytes under the name: refused, left alone.
    std::fs::write(dest.join("tree/a.bin"), b"mine").unwrap();
    let out = sxfer(&home, &["download", "-r", &remote, dest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).contains("exists (use --force"), "{}", stderr_line(&out));
    assert_eq!(std::fs::read(dest.join("tree/a.bin")).unwrap(), b"mine");
}

/// Modification times before 1970 survive an upload and a download
/// (−1.5 s used to come back as +0.5 s, −3 s as the epoch).
#[test]
fn mtimes_before_1970_survive_a_round_trip() {
    let (dir, data, home) = setup();
    let server = serve(&data);
    let target = format!("alice@127.0.0.1:{}:", server.port);
    let epoch = std::time::UNIX_EPOCH;
    for (name, when) in [("a.txt", epoch - Duration::from_millis(1500)), ("b.txt", epoch - Duration::from_secs(3))] {
        let path = dir.path().join(name);
        std::fs::write(&path, name).unwrap();
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(when).unwrap();
        let out = sxfer(&home, &["upload", path.to_str().unwrap(), &target, "--fingerprint", &server.fingerprint]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let dest = dir.path().join(format!("dest-{name}"));
        let remote = format!("alice@127.0.0.1:{}:{name}", server.port);
        let out = sxfer(&home, &["download", &remote, dest.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let got = std::fs::metadata(dest.join(name)).unwrap().modified().unwrap();
        assert_eq!(got, when, "{name}");
    }
}

/// `sxfer audit` lists what happened, and `audit verify` checks the chain:
/// an edit made directly in the database is reported at its row, exit 1.
#[test]
fn audit_lists_events_and_verify_finds_an_edit() {
    let (dir, data, home) = setup();
    let server = serve(&data);
    let file = dir.path().join("a.txt");
    std::fs::write(&file, b"audited").unwrap();
    let target = format!("alice@127.0.0.1:{}:", server.port);
    let out = sxfer(&home, &["upload", file.to_str().unwrap(), &target, "--fingerprint", &server.fingerprint]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    drop(server);
    let data_dir = data.to_str().unwrap();
    let out = sxfer(&home, &["audit", "--data-dir", data_dir, "--user", "alice", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("\"kind\":\"upload\"") && listed.contains("\"name\":\"a.txt\""), "{listed}");
    let out = sxfer(&home, &["audit", "verify", "--data-dir", data_dir]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("the audit log verifies"));

    let db = rusqlite::Connection::open(data.join(sxfer::store::sqlite::DATABASE_FILE)).unwrap();
    let first: i64 = db.query_row("SELECT min(id) FROM audit WHERE kind = 'upload'", [], |r| r.get(0)).unwrap();
    db.execute("UPDATE audit SET outcome = 'nothing happened' WHERE id = ?1", [first]).unwrap();
    drop(db);
    let out = sxfer(&home, &["audit", "verify", "--data-dir", data_dir]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).contains(&format!("does not verify from row {first}")), "{}", stderr_line(&out));

    let out = sxfer(&home, &["audit", "verify", "--data-dir", dir.path().join("nowhere").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).contains("no sxfer data directory"));
    assert!(!dir.path().join("nowhere").exists(), "reading the log creates nothing");
}
