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
    let keys = lines(path, |who| who == label)?;
    Ok(keys.into_iter().map(|(line, _, key)| (line, key)).collect())
}

/// Every pin in `path`: `(line number, label, key)`, in file order.
pub fn all(path: &Path) -> Result<Vec<(usize, String, PublicIdentity)>> {
    lines(path, |_| true)
}

/// Removes every pin of `label` (rewriting the file whole, crash-safe);
/// returns how many there were.
pub fn remove(path: &Path, label: &str) -> Result<usize> {
    let text = read(path)?;
    let (gone, kept): (Vec<&str>, Vec<&str>) =
        text.lines().partition(|line| line.trim().split_once(' ').is_some_and(|(who, _)| who == label));
    if !gone.is_empty() {
        let mut rest = kept.join("\n");
        if !rest.is_empty() {
            rest.push('\n');
        }
        crate::keys::write_key_file(path, rest.as_bytes(), 0o600, true)?;
    }
    Ok(gone.len())
}

fn read(path: &Path) -> Result<String> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn lines(path: &Path, wanted: impl Fn(&str) -> bool) -> Result<Vec<(usize, String, PublicIdentity)>> {
    let mut keys = Vec::new();
    for (index, line) in read(path)?.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((who, key)) = line.split_once(' ') else { continue };
        if wanted(who) {
            let key =
                PublicIdentity::from_openssh(key).with_context(|| format!("{} line {}", path.display(), index + 1))?;
            keys.push((index + 1, who.to_owned(), key));
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
