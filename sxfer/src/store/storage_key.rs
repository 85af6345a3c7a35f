//! The storage key: the age X25519 identity every blob is encrypted to.
//!
//! `storage.key` is in the format `age-keygen` writes (comment lines, then
//! one `AGE-SECRET-KEY-1…` line), so `age -d -i storage.key` reads it.
//! `storage.pub` holds the recipient (`age1…`), a valid age recipients file.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use zeroize::Zeroizing;

use super::blobdir::{self, PRIVATE_FILE_MODE};
use super::error::{io_context, Result, StoreError};

pub(super) const KEY_FILE: &str = "storage.key";
pub(super) const PUBLIC_FILE: &str = "storage.pub";

/// Loads `storage.key`, or creates it (and `storage.pub`) if it is missing
/// and nothing has been encrypted yet (`holds_data` says whether the
/// storage holds anything). Rewrites `storage.pub` if it is missing or does
/// not match.
pub(super) fn load_or_create(dir: &Path, holds_data: impl FnOnce() -> Result<bool>) -> Result<age::x25519::Identity> {
    let key_path = dir.join(KEY_FILE);
    let identity = if key_path.exists() {
        load(&key_path)?
    } else {
        if holds_data()? {
            return Err(StoreError::Internal(format!(
                "{} is missing but {} holds encrypted files; restore the key from a backup \
                 (a new key could not decrypt them)",
                key_path.display(),
                dir.display()
            )));
        }
        let identity = age::x25519::Identity::generate();
        write_key(dir, &identity)?;
        tracing::info!(path = %key_path.display(), recipient = %identity.to_public(), "created the storage key; back it up");
        identity
    };
    let public_path = dir.join(PUBLIC_FILE);
    let recipient_line = format!("{}\n", identity.to_public());
    if fs::read_to_string(&public_path).ok().as_deref() != Some(recipient_line.as_str()) {
        io_context(fs::write(&public_path, &recipient_line), "cannot write", &public_path)?;
    }
    Ok(identity)
}

fn load(path: &Path) -> Result<age::x25519::Identity> {
    warn_if_readable_by_others(path);
    let text = Zeroizing::new(io_context(fs::read_to_string(path), "cannot read", path)?);
    let mut keys = text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#'));
    let (Some(line), None) = (keys.next(), keys.next()) else {
        return Err(StoreError::Internal(format!(
            "{}: expected exactly one AGE-SECRET-KEY-1… line (the file age-keygen writes)",
            path.display()
        )));
    };
    // Never echo the line: it is the secret key.
    age::x25519::Identity::from_str(line)
        .map_err(|_| StoreError::Internal(format!("{}: not a valid age X25519 secret key", path.display())))
}

/// Writes `storage.key` atomically: a 0600 temporary file, fsync, rename,
/// fsync the directory.
fn write_key(dir: &Path, identity: &age::x25519::Identity) -> Result<()> {
    let path = dir.join(KEY_FILE);
    let temporary = dir.join(format!("{KEY_FILE}.tmp"));
    let secret = identity.to_string();
    let contents = Zeroizing::new(format!(
        "# sxfer storage key: every file in blobs/ is an age file encrypted to it.\n\
         # Back it up: without it the stored files cannot be decrypted.\n\
         # public key: {}\n{}\n",
        identity.to_public(),
        secret.expose_secret()
    ));
    let _ = fs::remove_file(&temporary);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, PRIVATE_FILE_MODE);
    let write = |file: &mut File| -> std::io::Result<()> {
        file.write_all(contents.as_bytes())?;
        file.sync_all()
    };
    let mut file = io_context(options.open(&temporary), "cannot create", &temporary)?;
    io_context(write(&mut file), "cannot write", &temporary)?;
    io_context(fs::rename(&temporary, &path), "cannot create", &path)?;
    io_context(blobdir::sync_dir(dir), "cannot fsync", dir)
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = fs::metadata(path) {
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the storage key is accessible to other users; chmod 600 it");
            }
        }
    }
}
