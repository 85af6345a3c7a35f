//! `sxfer drop FILE... --to USER [user@]host[:port]`: each file becomes
//! one drop (PROTOCOL.md §14.5). The recipients' keys come from the
//! server's directory, held to the contact pins; the file is encrypted
//! on this machine (age, one ciphertext for every recipient key) into a
//! temporary file, whose BLAKE3 and length go into the signed header; then
//! that file is uploaded on the ordinary upload path
//! (`client::upload::send_resumable`, `engine::send`, `LocalFile`).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use rand_core::{OsRng, RngCore};

use super::{recipient_keys, Party};
use crate::client::upload::{file_meta, send_resumable};
use crate::client::Remote;
use crate::output::Output;
use sxfer_proto::identity::{PrivateIdentity, PublicIdentity};
use sxfer_proto::msgs::drop::{MAX_RECIPIENTS, MAX_RECIPIENT_KEYS};
use sxfer_proto::msgs::{DropContent, DropHeader, DropId, DropMsg, DropRecipient, FileMeta, Message, Username};
use sxfer_proto::names::{display_safe, RemoteName};
use sxfer_proto::transfer::{Reply, Sender};

/// One file to drop.
#[derive(Debug, Clone)]
pub struct Job {
    pub local: PathBuf,
    /// The file's base name: what the recipient's file will be called.
    pub name: RemoteName,
    pub meta: FileMeta,
}

/// A drop the server stored.
#[derive(Debug, Clone)]
pub struct Dropped {
    pub id: DropId,
    pub name: RemoteName,
    pub ciphertext_length: u64,
}

/// Regular files only, each named by its base name.
pub fn plan(files: &[PathBuf]) -> Result<Vec<Job>> {
    files
        .iter()
        .map(|local| {
            let meta = file_meta(local)?;
            let base = local
                .file_name()
                .and_then(|n| n.to_str())
                .with_context(|| format!("{} has no usable file name (names must be UTF-8)", local.display()))?;
            let name =
                RemoteName::parse(base).with_context(|| format!("cannot drop {} as {base:?}", local.display()))?;
            Ok(Job { local: local.clone(), name, meta })
        })
        .collect()
}

/// How to drop: to whom, signed by which key (the one the session logged
/// in with), expiring after how many seconds (0: never), with each
/// ciphertext held in `staging` while it is uploaded.
pub struct Plan<'a> {
    pub identity: Arc<PrivateIdentity>,
    pub to: &'a [Username],
    pub expires_in_secs: u32,
    pub staging: &'a Path,
}

/// Drops every job as `plan` says.
pub async fn send(
    remote: &mut Remote,
    party: &Party<'_>,
    plan: Plan<'_>,
    jobs: &[Job],
    output: &Output,
) -> Result<Vec<Dropped>> {
    let Plan { identity, to, expires_in_secs, staging } = plan;
    if to.is_empty() || to.len() > MAX_RECIPIENTS {
        bail!("a drop goes to 1 to {MAX_RECIPIENTS} recipients (--to USER)");
    }
    let mut recipients: Vec<(Username, Vec<PublicIdentity>)> = Vec::new();
    for user in to {
        if user == party.user {
            bail!("you cannot drop to yourself ({user})");
        }
        if recipients.iter().any(|(seen, _)| seen == user) {
            bail!("{user} is named twice");
        }
        let keys = recipient_keys(remote, party, user).await?;
        if keys.len() > MAX_RECIPIENT_KEYS {
            bail!("{user} has {} keys; a drop is encrypted to at most {MAX_RECIPIENT_KEYS}", keys.len());
        }
        recipients.push((user.clone(), keys));
    }
    crate::keys::create_private_dir(staging)?;
    remove_stale_ciphertexts(staging, STALE_CIPHERTEXT);
    let mut dropped = Vec::new();
    for job in jobs {
        let temporary = Staged(staging.join(format!(".out-{}.age", random_hex())));
        let keys: Vec<PublicIdentity> = recipients.iter().flat_map(|(_, keys)| keys.iter().cloned()).collect();
        let (local, size, path) = (job.local.clone(), job.meta.size, temporary.0.clone());
        let (ciphertext_length, ciphertext_digest) =
            tokio::task::spawn_blocking(move || encrypt(&local, size, &keys, &path))
                .await
                .map_err(|e| anyhow!("encrypting: {e}"))??;
        let content = DropContent {
            sender: party.user.clone(),
            sender_key: identity.public().clone(),
            recipients: recipients
                .iter()
                .map(|(user, keys)| DropRecipient {
                    user: user.clone(),
                    keys: keys.iter().map(|k| k.fingerprint()).collect(),
                })
                .collect(),
            name: job.name.clone(),
            meta: job.meta,
            sent: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64),
            ciphertext_length,
            ciphertext_digest,
        };
        let signer = Arc::clone(&identity);
        let header = tokio::task::spawn_blocking(move || DropHeader::sign(content, &signer))
            .await
            .map_err(|e| anyhow!("signing: {e}"))??;
        let (id, _) = upload(remote, header, expires_in_secs, &temporary.0, output, job).await?;
        output.dropped(job.name.as_str(), &id.to_string());
        dropped.push(Dropped { id, name: job.name.clone(), ciphertext_length });
    }
    Ok(dropped)
}

/// Uploads the ciphertext at `path` under `header` (a DropPut with
/// `resume = 1`, so a refusal comes before any data).
async fn upload(
    remote: &mut Remote,
    header: DropHeader,
    expires_in_secs: u32,
    path: &Path,
    output: &Output,
    job: &Job,
) -> Result<(DropId, i64)> {
    let size = header.content().ciphertext_length;
    let transfer = remote.transfer_id();
    let mut sender = Sender::announced(transfer, size, true);
    remote.writer.queue(&Message::Drop { transfer, drop: DropMsg::Put { header, expires_in_secs, resume: true } })?;
    let progress = output.progress(size, job.name.as_str());
    let verdict = send_resumable(remote, &mut sender, path, &progress).await;
    progress.finish();
    match verdict? {
        Reply::Stored { id, received } => Ok((id, received)),
        Reply::Refused { message, .. } => bail!("{}: {}", job.name, display_safe(&message)),
        other => bail!("unexpected reply to a drop: {other:?}"),
    }
}

/// Encrypts bytes `0..size` of `local` to `keys` into `out` (created 0600,
/// new); returns the ciphertext's length and BLAKE3. Blocking.
fn encrypt(local: &Path, size: u64, keys: &[PublicIdentity], out: &Path) -> Result<(u64, [u8; 32])> {
    let recipients = keys
        .iter()
        .map(|key| {
            let mut key = key.clone();
            key.set_comment("");
            key.to_openssh()
                .trim()
                .parse::<age::ssh::Recipient>()
                .map_err(|e| anyhow!("age cannot encrypt to {}: {e:?}", key.fingerprint()))
        })
        .collect::<Result<Vec<_>>>()?;
    let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|e| anyhow!("age: {e}"))?;
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| format!("creating {}", out.display()))?;
    let mut hashed = Hashed { inner: BufWriter::new(file), hasher: blake3::Hasher::new(), length: 0 };
    let mut writer = encryptor.wrap_output(&mut hashed).context("writing the ciphertext")?;
    let mut input = File::open(local).with_context(|| format!("opening {}", local.display()))?;
    let copied =
        io::copy(&mut (&mut input).take(size), &mut writer).with_context(|| format!("reading {}", local.display()))?;
    if copied != size || input.read(&mut [0u8; 1])? != 0 {
        bail!("{} changed while being encrypted", local.display());
    }
    writer.finish().context("writing the ciphertext")?;
    hashed.inner.flush().context("writing the ciphertext")?;
    Ok((hashed.length, *hashed.hasher.finalize().as_bytes()))
}

/// A writer that hashes and counts what passes through it.
struct Hashed<W> {
    inner: W,
    hasher: blake3::Hasher,
    length: u64,
}

impl<W: Write> Write for Hashed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.length += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A temporary ciphertext untouched this long was left by a drop that was
/// killed (a running one writes it only while encrypting, then reads it).
const STALE_CIPHERTEXT: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 60 * 60);

/// Removes the temporary ciphertexts (`.out-*.age`) in `staging` last
/// modified at least `age` ago; best effort.
fn remove_stale_ciphertexts(staging: &Path, age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(staging) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let ours = name.to_str().is_some_and(|n| n.starts_with(".out-") && n.ends_with(".age"));
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|elapsed| elapsed >= age);
        if ours && old && entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(entry.path()).ok();
        }
    }
}

/// A temporary ciphertext, removed when done with (sent or not).
struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        std::fs::remove_file(&self.0).ok();
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stale_temporary_ciphertexts_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        for name in [".out-0011223344556677.age", ".out-8899aabbccddeeff.age", "0123.part", ".out-x.txt"] {
            std::fs::write(path(name), b"x").unwrap();
        }
        let long_ago = SystemTime::now() - STALE_CIPHERTEXT - std::time::Duration::from_secs(60);
        for name in [".out-0011223344556677.age", "0123.part", ".out-x.txt"] {
            File::options().write(true).open(path(name)).unwrap().set_modified(long_ago).unwrap();
        }
        remove_stale_ciphertexts(dir.path(), STALE_CIPHERTEXT);
        assert!(!path(".out-0011223344556677.age").exists(), "stale: removed");
        assert!(path(".out-8899aabbccddeeff.age").exists(), "fresh: another drop may be sending it");
        assert!(path("0123.part").exists() && path(".out-x.txt").exists(), "not ours");
    }
}
