//! Files of key pins, one `LABEL KEY` line each (`KEY` an OpenSSH public
//! key line; `#` comments): `known_hosts` (LABEL `host:port`) and the drop
//! contacts (LABEL `user@host:port`) share this format and its code.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use sxfer_proto::identity::PublicIdentity;

/// `(line number, key)` of every pin of `label` in `path`, in file order;
/// none if the file does not exist. A pin of `label` that does not parse
/// is an error naming its line.
pub fn pinned(path: &Path, label: &str) -> Result<Vec<(usize, PublicIdentity)>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((who, key)) = line.split_once(' ') else { continue };
        if who == label {
            let key =
                PublicIdentity::from_openssh(key).with_context(|| format!("{} line {}", path.display(), index + 1))?;
            keys.push((index + 1, key));
        }
    }
    Ok(keys)
}

/// Appends (and syncs) a pin of `key`, without its comment, for `label`,
/// creating the file and its private directory if needed.
pub fn add(path: &Path, label: &str, key: &PublicIdentity) -> Result<()> {
    if let Some(dir) = path.parent() {
        crate::keys::create_private_dir(dir)?;
    }
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut key = key.clone();
    key.set_comment("");
    writeln!(file, "{label} {}", key.to_openssh().trim_end())?;
    file.sync_all()?;
    Ok(())
}
