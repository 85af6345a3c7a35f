//! The built binary as users run it: `sxfer serve` as a process on
//! 127.0.0.1:0, and `sxfer` client commands against it.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sxfer");
pub const PASSWORD: &str = "s3cret-for-tests-only";

pub struct Served {
    pub child: Child,
    pub port: u16,
    pub fingerprint: String,
    /// The server's stderr after its start-up lines, line by line.
    pub stderr: mpsc::Receiver<String>,
}

impl Served {
    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Waits for a stderr line starting with `prefix`, for at most `within`.
    pub fn wait_for_line(&self, prefix: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(e) => panic!("no server line {prefix:?} within {within:?}: {e}"),
            }
        }
    }

    /// Waits for the server process to exit, for at most `within`.
    pub fn wait_for_exit(&mut self, within: Duration) -> ExitStatus {
        let pid = self.child.id().to_string();
        let child = &mut self.child;
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel();
            scope.spawn(move || tx.send(child.wait()).ok());
            match rx.recv_timeout(within) {
                Ok(status) => status.expect("wait"),
                Err(_) => {
                    Command::new("kill").args(["-KILL", &pid]).status().ok();
                    panic!("the server did not exit within {within:?}");
                }
            }
        })
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

pub fn serve(data: &Path) -> Served {
    serve_under(&[], data)
}

/// `sxfer serve` started through `wrapper` (a command and its arguments,
/// e.g. `prlimit --fsize=N --`), or directly when it is empty.
pub fn serve_under(wrapper: &[&str], data: &Path) -> Served {
    serve_with(wrapper, &[], data)
}

/// `sxfer serve` through `wrapper` (see [`serve_under`]) with `extra` flags.
pub fn serve_with(wrapper: &[&str], extra: &[&str], data: &Path) -> Served {
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(BIN);
            command
        }
        None => Command::new(BIN),
    };
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0", "--shutdown-grace", "5"])
        .args(extra)
        .arg("--data-dir")
        .arg(data)
        .env("SXFER_LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sxfer serve");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let (mut port, mut fingerprint) = (None, None);
    while port.is_none() || fingerprint.is_none() {
        let line = lines.next().expect("server output").expect("line");
        if let Some(address) = line.strip_prefix("sxfer server listening on ") {
            port = address.rsplit(':').next().and_then(|p| p.parse().ok());
        }
        if let Some(rest) = line.strip_prefix("host key ") {
            fingerprint = rest.split_whitespace().nth(1).map(str::to_owned);
        }
    }
    // Keep draining stderr so the server never blocks on a full pipe, even
    // once nobody listens.
    let (tx, stderr) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            tx.send(line).ok();
        }
    });
    Served { child, port: port.unwrap(), fingerprint: fingerprint.unwrap(), stderr }
}

/// `sxfer` with `args` started in the background (stderr piped).
pub fn spawn_sxfer(home: &Path, args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .env("SXFER_HOME", home)
        .env("SXFER_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sxfer")
}

pub fn sxfer(home: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("SXFER_HOME", home)
        .env("SXFER_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .output()
        .expect("run sxfer")
}

pub fn stderr_line(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("sxfer: error:")).collect();
    assert_eq!(errors.len(), 1, "exactly one error line, got: {text}");
    errors[0].to_owned()
}

pub fn add_user(data: &Path, name: &str) {
    let out = Command::new(BIN)
        .args(["user", "add", name, "--data-dir"])
        .arg(data)
        .env("SXFER_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

pub fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let home = dir.path().join("home");
    add_user(&data, "alice");
    (dir, data, home)
}
