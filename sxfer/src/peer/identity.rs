//! Which key a peer shows: `--identity FILE`, else the sxfer client key
//! (`sxfer keygen`: `~/.sxfer/id_ed25519` or `id_rsa`), else
//! `~/.ssh/id_ed25519`, else a one-time Ed25519 key made for this run.

use std::path::{Path, PathBuf};

use anyhow::Result;
use rand_core::OsRng;

use crate::client::{self, load_identity};
use sxfer_proto::identity::PrivateIdentity;

/// Where the key came from, for the user.
pub enum Origin {
    File(PathBuf),
    /// Made for this run: its fingerprint changes every time.
    OneTime,
}

/// The key to authenticate with. A key named with `--identity` must load;
/// a default one that does not (encrypted, say) is passed over with a note.
pub fn load(explicit: Option<&Path>) -> Result<(PrivateIdentity, Origin)> {
    if let Some(path) = explicit {
        return Ok((load_identity(path)?, Origin::File(path.to_owned())));
    }
    for path in default_paths() {
        if std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        match load_identity(&path) {
            Ok(identity) => return Ok((identity, Origin::File(path))),
            Err(e) => eprintln!("sxfer: not using {}: {e:#}", path.display()),
        }
    }
    Ok((PrivateIdentity::generate_ed25519(&mut OsRng)?, Origin::OneTime))
}

fn default_paths() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Ok(home) = client::home() {
        paths.extend([home.join("id_ed25519"), home.join("id_rsa")]);
    }
    if let Some(home) = std::env::var_os("HOME").filter(|home| !home.is_empty()) {
        paths.push(PathBuf::from(home).join(".ssh").join("id_ed25519"));
    }
    paths
}
