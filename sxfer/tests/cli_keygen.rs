//! `sxfer keygen` and `sxfer fingerprint`, run as the built binary: output,
//! files and modes, exit codes, one-line errors, and agreement with
//! OpenSSH's `ssh-keygen` when it is installed.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sxfer_proto::identity::PrivateIdentity;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn sxfer(args: &[&str]) -> Run {
    sxfer_with_home(args, None)
}

fn sxfer_with_home(args: &[&str], home: Option<&Path>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sxfer"));
    command.args(args).env_remove("SXFER_HOME");
    if let Some(home) = home {
        command.env("HOME", home);
    }
    let output = command.output().expect("run sxfer");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
    }
}

impl Run {
    fn success(&self) -> &str {
        assert_eq!(self.code, Some(0), "stderr: {}", self.stderr);
        assert_eq!(self.stderr, "");
        &self.stdout
    }

    /// Asserts the exit code and exactly one `sxfer: error:` line on stderr.
    fn failure(&self, code: i32) -> &str {
        assert_eq!(self.code, Some(code), "stdout: {} stderr: {}", self.stdout, self.stderr);
        assert_eq!(self.stdout, "");
        assert!(self.stderr.starts_with("sxfer: error: "), "{:?}", self.stderr);
        assert!(self.stderr.ends_with('\n'));
        assert_eq!(self.stderr.lines().count(), 1, "{:?}", self.stderr);
        &self.stderr
    }
}

/// `ssh-keygen ARGS` if it is installed; `None` (with a note) if not.
fn ssh_keygen(args: &[&str]) -> Option<Output> {
    match Command::new("ssh-keygen").args(args).output() {
        Ok(output) => Some(output),
        Err(err) => {
            eprintln!("note: skipping the ssh-keygen comparison: {err}");
            None
        }
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sxfer-proto/tests/data").join(name)
}

/// Generates a key with `args`, checks the files and the printed line, and
/// returns that line.
fn keygen_and_check(dir: &Path, name: &str, args: &[&str], expect: &str) -> String {
    let file = dir.join(name);
    let mut all = vec!["keygen", "-f", path_str(&file), "-C", "test@sxfer"];
    all.extend_from_slice(args);
    let run = sxfer(&all);
    let line = run.success().to_owned();
    assert_eq!(line.lines().count(), 1, "{line:?}");
    assert!(line.starts_with(expect), "{line:?}");
    assert!(line.contains(" SHA256:"), "{line:?}");

    let public_file = dir.join(format!("{name}.pub"));
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&public_file), 0o644);
    let key = PrivateIdentity::from_openssh(&fs::read_to_string(&file).expect("read key")).expect("our key loads");
    assert_eq!(key.comment(), "test@sxfer");
    assert!(line.contains(&key.public().fingerprint().to_string()));
    let public_line = fs::read_to_string(&public_file).expect("read pub");
    assert_eq!(public_line, format!("{}\n", key.public().to_openssh()));

    // `sxfer fingerprint` says the same about either file.
    assert_eq!(sxfer(&["fingerprint", path_str(&file)]).success(), line);
    assert_eq!(sxfer(&["fingerprint", path_str(&public_file)]).success(), line);

    // So does ssh-keygen, which must also be able to read the private key.
    for path in [&file, &public_file] {
        if let Some(output) = ssh_keygen(&["-l", "-E", "sha256", "-f", path_str(path)]) {
            assert!(output.status.success(), "{output:?}");
            assert_eq!(String::from_utf8_lossy(&output.stdout), line);
        }
    }
    if let Some(output) = ssh_keygen(&["-y", "-f", path_str(&file)]) {
        assert!(output.status.success(), "{output:?}");
        let derived = String::from_utf8_lossy(&output.stdout);
        let ours = public_line.rsplit_once(' ').expect("comment").0;
        assert_eq!(derived.trim_end().trim_end_matches(" test@sxfer"), ours);
    }
    line
}

#[test]
fn keygen_ed25519() {
    let dir = tempfile::tempdir().expect("tempdir");
    let line = keygen_and_check(dir.path(), "id_ed25519", &[], "256 SHA256:");
    assert!(line.ends_with(" test@sxfer (ED25519)\n"), "{line:?}");
    keygen_and_check(dir.path(), "explicit", &["-t", "ed25519", "-b", "256"], "256 ");
}

#[test]
fn keygen_rsa_defaults_to_3072_bits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let line = keygen_and_check(dir.path(), "id_rsa", &["-t", "rsa"], "3072 SHA256:");
    assert!(line.ends_with(" test@sxfer (RSA)\n"), "{line:?}");
    keygen_and_check(dir.path(), "small", &["-t", "rsa", "-b", "2048"], "2048 SHA256:");
}

#[test]
fn keygen_default_file_follows_sxfer_home_like_the_other_client_commands() {
    let home = tempfile::tempdir().expect("tempdir");
    let client_home = home.path().join("elsewhere");
    let output = Command::new(env!("CARGO_BIN_EXE_sxfer"))
        .args(["keygen", "-C", "me"])
        .env("HOME", home.path())
        .env("SXFER_HOME", &client_home)
        .output()
        .expect("run sxfer");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(mode(&client_home), 0o700);
    assert!(client_home.join("id_ed25519").is_file());
    assert!(!home.path().join(".sxfer").exists());
}

#[test]
fn keygen_default_file_is_under_home() {
    let home = tempfile::tempdir().expect("tempdir");
    let run = sxfer_with_home(&["keygen", "-C", "me"], Some(home.path()));
    let line = run.success();
    assert!(line.ends_with(" me (ED25519)\n"), "{line:?}");
    let directory = home.path().join(".sxfer");
    assert_eq!(mode(&directory), 0o700);
    assert_eq!(mode(&directory.join("id_ed25519")), 0o600);
    assert_eq!(mode(&directory.join("id_ed25519.pub")), 0o644);
    // No temporary files are left behind.
    let mut names: Vec<_> =
        fs::read_dir(&directory).expect("list").map(|entry| entry.expect("entry").file_name()).collect();
    names.sort();
    assert_eq!(names, ["id_ed25519", "id_ed25519.pub"]);
}

#[test]
fn keygen_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("key");
    let file_arg = path_str(&file);
    sxfer(&["keygen", "-f", file_arg]).success();
    let before = fs::read(&file).expect("read");

    let message = sxfer(&["keygen", "-f", file_arg]).failure(1).to_owned();
    assert!(message.contains("already exists"), "{message}");
    assert!(message.contains("--force"), "{message}");
    assert_eq!(fs::read(&file).expect("read"), before);

    // A stray .pub alone also blocks.
    let other = dir.path().join("other");
    fs::write(dir.path().join("other.pub"), "keep me\n").expect("write");
    sxfer(&["keygen", "-f", path_str(&other)]).failure(1);
    assert!(!other.exists());

    sxfer(&["keygen", "-f", file_arg, "--force"]).success();
    assert_ne!(fs::read(&file).expect("read"), before);
    assert_eq!(mode(&file), 0o600);
}

#[test]
fn keygen_rejects_bad_type_and_bits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("key");
    let file_arg = path_str(&file);
    // Usage errors (clap): exit 2.
    let message = sxfer(&["keygen", "-f", file_arg, "-t", "dsa"]).failure(2).to_owned();
    assert!(message.contains("dsa") && message.contains("ed25519, rsa"), "{message}");
    sxfer(&["keygen", "-f", file_arg, "-b", "lots"]).failure(2);
    sxfer(&["keygen", "--no-such-flag"]).failure(2);
    // Values that parse but are not allowed: exit 1.
    let message = sxfer(&["keygen", "-f", file_arg, "-b", "1024"]).failure(1).to_owned();
    assert!(message.contains("Ed25519 keys are always 256 bits"), "{message}");
    let message = sxfer(&["keygen", "-f", file_arg, "-t", "rsa", "-b", "1024"]).failure(1).to_owned();
    assert!(message.contains("2048, 3072, 4096 or 8192"), "{message}");
    let message = sxfer(&["keygen", "-f", file_arg, "-C", "two\nlines"]).failure(1).to_owned();
    assert!(message.contains("comment"), "{message}");
    assert!(!file.exists());
}

#[test]
fn keygen_into_a_missing_directory_fails_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("missing").join("key");
    let message = sxfer(&["keygen", "-f", path_str(&file)]).failure(1).to_owned();
    assert!(message.contains("No such file or directory"), "{message}");
}

#[test]
fn fingerprint_of_ssh_keygen_fixtures() {
    for name in ["ed25519", "rsa3072"] {
        let expected = fs::read_to_string(fixture(&format!("{name}.fingerprint"))).expect("read");
        for file in [fixture(name), fixture(&format!("{name}.pub"))] {
            assert_eq!(sxfer(&["fingerprint", path_str(&file)]).success(), expected);
        }
    }
    // The public half of a passphrase-protected key is readable; its comment
    // is encrypted, so ssh-keygen says "no comment" as well.
    let encrypted = fixture("ed25519_encrypted");
    let line = sxfer(&["fingerprint", path_str(&encrypted)]).success().to_owned();
    assert_eq!(line, "256 SHA256:QPbMrshScO7+AmOKz9prgXhyf+GFU+uitbZIAIHhi/4 no comment (ED25519)\n");
    if let Some(output) = ssh_keygen(&["-l", "-E", "sha256", "-f", path_str(&encrypted)]) {
        assert_eq!(String::from_utf8_lossy(&output.stdout), line);
    }
}

#[test]
fn fingerprint_of_an_authorized_keys_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("authorized_keys");
    let ed25519 = fs::read_to_string(fixture("ed25519.pub")).expect("read");
    let rsa = fs::read_to_string(fixture("rsa3072.pub")).expect("read");
    fs::write(&file, format!("# keys\n\nfrom=\"10.0.0.1\" {ed25519}{rsa}")).expect("write");
    let expected = [
        fs::read_to_string(fixture("ed25519.fingerprint")).expect("read"),
        fs::read_to_string(fixture("rsa3072.fingerprint")).expect("read"),
    ]
    .concat();
    assert_eq!(sxfer(&["fingerprint", path_str(&file)]).success(), expected);
}

#[test]
fn fingerprint_errors_are_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage");
    fs::write(&garbage, "this is not a key\nnor is this\n").expect("write");
    let message = sxfer(&["fingerprint", path_str(&garbage)]).failure(1).to_owned();
    assert!(message.contains("not an OpenSSH public or private key file"), "{message}");

    let binary = dir.path().join("binary");
    fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).expect("write");
    sxfer(&["fingerprint", path_str(&binary)]).failure(1);

    let truncated = dir.path().join("truncated");
    let key = fs::read_to_string(fixture("ed25519")).expect("read");
    fs::write(&truncated, &key[..key.len() / 2]).expect("write");
    sxfer(&["fingerprint", path_str(&truncated)]).failure(1);

    let message = sxfer(&["fingerprint", path_str(&fixture("ecdsa_p256"))]).failure(1).to_owned();
    assert!(message.contains("unsupported key type ecdsa-sha2-nistp256"), "{message}");

    let missing = dir.path().join("missing");
    let message = sxfer(&["fingerprint", path_str(&missing)]).failure(1).to_owned();
    assert!(message.contains("No such file or directory"), "{message}");
    assert!(message.contains(path_str(&missing)), "{message}");

    sxfer(&["fingerprint", path_str(dir.path())]).failure(1);
    sxfer(&["fingerprint"]).failure(2);
}

#[test]
fn help_and_missing_command() {
    let run = sxfer(&["--help"]);
    assert_eq!(run.code, Some(0));
    assert!(run.stdout.contains("keygen") && run.stdout.contains("fingerprint"));
    let run = sxfer(&["keygen", "--help"]);
    assert_eq!(run.code, Some(0));
    assert!(run.stdout.contains("--force"));
    assert_eq!(sxfer(&[]).code, Some(2));
}
