//! Key files on disk: the server's host key, public-key files, and the
//! crash-safe way every key file is written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use rand_core::{OsRng, RngCore};

use sxfer_proto::identity::{PrivateIdentity, PublicIdentity};

pub const HOST_KEY_FILE: &str = "host_key";
/// RSA-3072 for new server identities (the designs sxfer grew from used RSA
/// server authentication; `rsa-sha2-256` signatures).
pub const HOST_KEY_BITS: usize = 3072;
const MAX_KEY_FILE_BYTES: u64 = 1 << 20;

/// The server's identity: `DIR/host_key` (0600) and `DIR/host_key.pub`,
/// created as RSA-3072 on first start.
pub fn load_or_create_host_key(data_dir: &Path) -> Result<PrivateIdentity> {
    let path = data_dir.join(HOST_KEY_FILE);
    if path.exists() {
        let text = read_key_file(&path).with_context(|| format!("reading host key {}", path.display()))?;
        return PrivateIdentity::from_openssh(&text).with_context(|| format!("loading host key {}", path.display()));
    }
    let mut identity = PrivateIdentity::generate_rsa(HOST_KEY_BITS)?;
    identity.set_comment("sxfer host key");
    write_key_file(&path, identity.to_openssh()?.as_bytes(), 0o600, false)?;
    let public = identity.public().to_openssh();
    write_key_file(
        &data_dir.join(format!("{HOST_KEY_FILE}.pub")),
        format!("{}\n", public.trim_end()).as_bytes(),
        0o644,
        false,
    )?;
    tracing::info!(fingerprint = %identity.public().fingerprint(), "created a new host key");
    Ok(identity)
}

/// The public keys in a `.pub` / `authorized_keys` file, or the public
/// half of an OpenSSH private key file.
pub fn read_public_keys(path: &Path) -> Result<Vec<PublicIdentity>> {
    let text = read_key_file(path).with_context(|| format!("reading {}", path.display()))?;
    if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
        let key = PrivateIdentity::from_openssh(&text).with_context(|| path.display().to_string())?;
        return Ok(vec![key.public().clone()]);
    }
    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        keys.push(
            PublicIdentity::from_openssh(line).with_context(|| format!("{} line {}", path.display(), index + 1))?,
        );
    }
    Ok(keys)
}

/// Create `dir` and its parents, 0700, if missing.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

/// A key file's text: a regular file of at most 1 MiB of UTF-8.
pub fn read_key_file(path: &Path) -> Result<String> {
    let file = File::open(path)?;
    if !file.metadata()?.is_file() {
        bail!("not a regular file");
    }
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        bail!("not a key file (larger than 1 MiB)");
    }
    String::from_utf8(bytes).map_err(|_| anyhow!("not an OpenSSH key file (not text)"))
}

/// Write `contents` to `path` with exactly `mode` so that `path` is either
/// absent or complete: a synced temporary file in the same directory is
/// linked (no overwrite) or renamed (overwrite) into place.
pub fn write_key_file(path: &Path, contents: &[u8], mode: u32, overwrite: bool) -> Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| anyhow!("{}: not a file name", path.display()))?;
    let temporary = directory.join(format!(".{}.{:016x}.tmp", name.to_string_lossy(), OsRng.next_u64()));
    let result = write_new_file(&temporary, contents, mode)
        .with_context(|| path.display().to_string())
        .and_then(|()| move_into_place(&temporary, path, overwrite));
    // After a link the temporary is a second name; after a failure, debris.
    let _ = fs::remove_file(&temporary);
    result?;
    if let Ok(directory) = File::open(directory) {
        let _ = directory.sync_all();
    }
    Ok(())
}

fn move_into_place(temporary: &Path, path: &Path, overwrite: bool) -> Result<()> {
    let refuse = || anyhow!("{}: already exists; use --force to overwrite", path.display());
    if overwrite {
        return fs::rename(temporary, path).with_context(|| path.display().to_string());
    }
    match fs::hard_link(temporary, path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Err(refuse()),
        // Some file systems have no hard links: check, then rename.
        Err(_) if fs::symlink_metadata(path).is_ok() => Err(refuse()),
        Err(_) => fs::rename(temporary, path).with_context(|| path.display().to_string()),
    }
}

fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = OpenOptions::new().write(true).create_new(true).mode(mode).open(path)?;
    // Exactly `mode`, whatever the umask.
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.write_all(contents)?;
    file.sync_all()
}
