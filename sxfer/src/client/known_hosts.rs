//! Server pinning: `~/.sxfer/known_hosts`, one `host:port key` line per
//! server, checked before any credential is sent (as OpenSSH does).

use std::path::PathBuf;

use anyhow::{bail, Result};

use sxfer_proto::handshake::ServerPin;
use sxfer_proto::identity::{Fingerprint, PublicIdentity};

pub struct KnownHosts {
    path: PathBuf,
}

/// How to treat a server whose key is not yet known.
#[derive(Debug, Clone)]
pub enum FirstContact {
    /// Only this fingerprint is acceptable (`--fingerprint`).
    Expect(Fingerprint),
    /// Ask on the terminal; refuse when there is none.
    Ask,
}

impl KnownHosts {
    pub fn new(path: PathBuf) -> Self {
        KnownHosts { path }
    }

    /// Decide the pin for `address` given the key the server proved it has.
    pub fn pin_for(&self, address: &str, presented: &PublicIdentity, first: &FirstContact) -> Result<ServerPin> {
        let fingerprint = presented.fingerprint();
        if let Some((line, known)) = self.lookup(address)? {
            if let FirstContact::Expect(expected) = first {
                if !expected.ct_eq(&known.fingerprint()) {
                    bail!(
                        "--fingerprint {expected} disagrees with the key pinned for {address} in {} line {line}",
                        self.path.display()
                    );
                }
            }
            if !known.fingerprint().ct_eq(&fingerprint) {
                bail!(
                    "WARNING: THE SERVER KEY FOR {address} HAS CHANGED (pinned {}, presented {fingerprint}); this may be an attack. If the change is expected, remove line {line} of {}",
                    known.fingerprint(),
                    self.path.display()
                );
            }
            return Ok(ServerPin::Key(known));
        }
        match first {
            FirstContact::Expect(expected) => {
                if !expected.ct_eq(&fingerprint) {
                    bail!("server {address} presented {fingerprint}, not the expected {expected}; nothing was sent");
                }
            }
            FirstContact::Ask => {
                let question = format!(
                    "The authenticity of server {address} can't be established.\n{} key fingerprint is {fingerprint}.\nAre you sure you want to continue connecting (yes/no)? ",
                    presented.key_type().label()
                );
                match crate::prompt::ask(&question)? {
                    None => bail!(
                        "unknown server {address} with key {fingerprint}; pass --fingerprint {fingerprint} after checking it with the server's operator"
                    ),
                    Some(answer) if answer != "yes" => bail!("server {address} not trusted; nothing was sent"),
                    Some(_) => {}
                }
            }
        }
        self.add(address, presented)?;
        Ok(ServerPin::Key(presented.clone()))
    }

    fn lookup(&self, address: &str) -> Result<Option<(usize, PublicIdentity)>> {
        Ok(super::pins::pinned(&self.path, address)?.into_iter().next())
    }

    fn add(&self, address: &str, key: &PublicIdentity) -> Result<()> {
        super::pins::add(&self.path, address, key)?;
        eprintln!("Permanently added {address} to {}", self.path.display());
        Ok(())
    }
}
