//! `sxfer send` and `sxfer receive` as real processes: their output line
//! by line, the listener's fingerprint and address, their exit.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::cli::BIN;

pub const WAIT: Duration = Duration::from_secs(60);

/// A running `sxfer send` or `sxfer receive`: its stdout and stderr,
/// line by line, in one channel.
pub struct Peer {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Peer {
    pub fn spawn(home: &Path, args: &[&OsStr]) -> Peer {
        Peer::spawn_with(home, args, &[])
    }

    pub fn spawn_with(home: &Path, args: &[&OsStr], env: &[(&str, &str)]) -> Peer {
        let mut child = Command::new(BIN)
            .args(args)
            .envs(env.iter().copied())
            .env("HOME", home)
            .env("SXFER_HOME", home.join(".sxfer"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sxfer");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for stream in [Box::new(stdout) as Box<dyn Read + Send>, Box::new(stderr)] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    tx.send(line).ok();
                }
            });
        }
        Peer { child, lines, seen: Vec::new() }
    }

    /// The next line that satisfies `wanted` (waiting at most [`WAIT`]).
    pub fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(e) => panic!("no line {what} within {WAIT:?} ({e}); saw {:#?}", self.seen),
            }
        }
    }

    /// The listener's fingerprint and bound address, in either output form.
    pub fn listening(&mut self) -> (String, String) {
        let line =
            self.wait_for("with the fingerprint", |l| l.starts_with("fingerprint ") || l.contains("\"fingerprint\""));
        let fingerprint = json_field(&line, "fingerprint").unwrap_or_else(|| line["fingerprint ".len()..].to_owned());
        let line = self.wait_for("with the address", |l| l.starts_with("listening on ") || l.contains("\"listening\""));
        let address = json_field(&line, "address").unwrap_or_else(|| line["listening on ".len()..].to_owned());
        (fingerprint, address)
    }

    /// Waits for the process to end; returns its status and every line it printed.
    pub fn finish(mut self) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break self.child.wait().unwrap(),
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("sxfer did not exit within {WAIT:?}: {:#?}", self.seen),
            }
        };
        self.seen.extend(self.lines.iter());
        (status, std::mem::take(&mut self.seen))
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Runs sxfer to the end.
pub fn run(home: &Path, args: &[&OsStr]) -> (ExitStatus, Vec<String>) {
    Peer::spawn(home, args).finish()
}

pub fn json_field(line: &str, field: &str) -> Option<String> {
    let start = line.find(&format!("\"{field}\":\""))? + field.len() + 4;
    Some(line[start..start + line[start..].find('"')?].to_owned())
}

pub fn args<'a>(list: &'a [&'a dyn AsRef<OsStr>]) -> Vec<&'a OsStr> {
    list.iter().map(|a| a.as_ref()).collect()
}

pub fn error_line(lines: &[String]) -> String {
    let errors: Vec<&String> = lines.iter().filter(|l| l.starts_with("sxfer: error:")).collect();
    assert_eq!(errors.len(), 1, "exactly one error line: {lines:#?}");
    errors[0].clone()
}
