//! `sxfer fetch ID [DIR]`: the client's side of §14.5, in its order. The
//! drop's header is checked (for us, from a pinned sender, signature)
//! before anything is asked for; the ciphertext comes on the ordinary
//! download path (`engine::receive` into a `PartialFile` under
//! `~/.sxfer/drops/`, resumable) and must match the signed length and
//! BLAKE3; only then is it decrypted, next to its destination, into a
//! hidden partial that is placed as a download is (`client::download`:
//! the name's last segment, no symbolic links, `--force` to replace, mode
//! `& 0o777`, mtime, fsync, rename). Then a signed receipt goes back for
//! the sender (§14.10).

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};

use super::{verify_sender, Party};
use crate::client::download::{check_destination, finish_with, local_path, partial_length, partial_name};
use crate::client::Remote;
use crate::engine::{self, open_locked, PartialFile};
use crate::output::Output;
use sxfer_proto::identity::PrivateIdentity;
use sxfer_proto::msgs::{DropContent, DropId, DropMsg, DropReceipt, InboxEntry, Message, ReceiptContent};
use sxfer_proto::names::display_safe;
use sxfer_proto::transfer::Receiver;

/// Fetches drop `id` into the directory `dest`; returns where it landed.
/// `identity` is the OpenSSH private key to decrypt with (the `-i` key).
#[allow(clippy::too_many_arguments)]
pub async fn fetch(
    remote: &mut Remote,
    party: &Party<'_>,
    identity: &Path,
    id: DropId,
    dest: &Path,
    force: bool,
    staging: &Path,
    output: &Output,
) -> Result<PathBuf> {
    let decryptor = load_age_identity(identity)?;
    let entries = super::list(remote).await?;
    let Some(entry) = entries.into_iter().find(|e| e.id == id) else {
        bail!("{}", why_not_listed(remote, id).await);
    };
    let signer = crate::client::load_identity(identity)?;
    let own = signer.public().fingerprint();
    check_addressed(&entry, party, &own)?;
    verify_sender(remote, party, &entry).await?;
    let content = entry.header.content().clone();
    let last = content.name.segments().count() - 1;
    let local = local_path(dest, &content.name, last)?;
    check_destination(dest, &local, force)?;

    crate::keys::create_private_dir(staging)?;
    let ciphertext = staging.join(format!("{id}.part"));
    let file = receive_ciphertext(remote, id, &content, &ciphertext, output).await?;
    let parent = local.parent().unwrap_or(dest).to_path_buf();
    let file_name = local.file_name().and_then(|n| n.to_str()).context("destination has no file name")?;
    let partial = parent.join(partial_name(file_name));
    // As for downloads: a link (or anything but a file) there is refused.
    partial_length(&partial)?;
    let (placed, size, meta) = (local.clone(), content.meta.size, content.meta);
    tokio::task::spawn_blocking(move || {
        let plain = decrypt_into(file, decryptor, &partial, size).inspect_err(|_| {
            fs::remove_file(&partial).ok();
        })?;
        finish_with(plain, &partial, &placed, &meta, force)
    })
    .await
    .map_err(|e| anyhow!("decrypting: {e}"))??;
    fs::remove_file(&ciphertext).ok();
    if let Err(e) = send_receipt(remote, party, signer, &entry).await {
        eprintln!("sxfer: warning: drop {id} is fetched, but its receipt was not stored: {e:#}");
    }
    Ok(local)
}

/// After a verified fetch: the receipt for the sender (§14.10), signed
/// with the key that decrypted it.
async fn send_receipt(remote: &mut Remote, party: &Party<'_>, key: PrivateIdentity, entry: &InboxEntry) -> Result<()> {
    let content = ReceiptContent {
        id: entry.id,
        recipient: party.user.clone(),
        recipient_key: key.public().clone(),
        ciphertext_digest: entry.header.content().ciphertext_digest,
        fetched: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64),
    };
    let receipt = tokio::task::spawn_blocking(move || DropReceipt::sign(content, &key))
        .await
        .map_err(|e| anyhow!("signing the receipt: {e}"))??;
    let transfer = remote.transfer_id();
    match remote.request(&Message::Drop { transfer, drop: DropMsg::Receipt { receipt } }).await? {
        Message::Done { .. } => Ok(()),
        other => bail!("unexpected reply to a receipt: {other:?}"),
    }
}

/// Why a drop is not in the inbox listing, as the server tells it (a
/// DropFetch it refuses: revoked, expired, removed, unknown). Anything but
/// a refusal is out of step: the session ends with the command.
async fn why_not_listed(remote: &mut Remote, id: DropId) -> String {
    let transfer = remote.transfer_id();
    let asked = Message::Drop { transfer, drop: DropMsg::Fetch { id, offset: 0 } };
    match remote.request(&asked).await {
        Err(refused) => format!("{refused:#}"),
        Ok(_) => format!("the server offers drop {id}, which its inbox listing does not show; refused"),
    }
}

/// Step 1 of §14.5: the drop names us, and the key we decrypt with.
fn check_addressed(entry: &InboxEntry, party: &Party<'_>, own: &sxfer_proto::identity::Fingerprint) -> Result<()> {
    let content = entry.header.content();
    let Some(me) = content.recipients.iter().find(|r| &r.user == party.user) else {
        bail!("drop {} is not addressed to {}; refused", entry.id, party.user);
    };
    if !me.keys.iter().any(|key| key.ct_eq(own)) {
        bail!("drop {} is not encrypted to your key {own} (give -i with the key it was sent to)", entry.id);
    }
    Ok(())
}

/// Step 4: the ciphertext, resumed from what an earlier attempt kept,
/// checked against the signed length and BLAKE3. Returns the verified
/// file, open at its end.
async fn receive_ciphertext(
    remote: &mut Remote,
    id: DropId,
    content: &DropContent,
    path: &Path,
    output: &Output,
) -> Result<File> {
    let offset = partial_length(path)?.min(content.ciphertext_length);
    let transfer = remote.transfer_id();
    let mut receiver = Receiver::requested(transfer, offset);
    remote.writer.send(&Message::Drop { transfer, drop: DropMsg::Fetch { id, offset } }).await?;
    let announced = match engine::started(remote, &mut receiver).await? {
        Ok(entry) => entry,
        Err((_, message)) => {
            if offset > 0 {
                fs::remove_file(path).ok();
            }
            bail!("{}", display_safe(&message));
        }
    };
    if announced.meta.size != content.ciphertext_length || announced.digest != content.ciphertext_digest {
        bail!("the server offers drop {id} with another ciphertext than its sender signed; refused");
    }
    let progress = output.progress(content.ciphertext_length, content.name.as_str());
    progress.inc(offset);
    let mut sink = crate::client::download::Counted {
        progress: &progress,
        inner: PartialFile::start(path, offset, remote.buffers()),
    };
    let received = engine::receive(remote, None, &mut receiver, &mut sink).await;
    let written = sink.inner.finish().await;
    progress.finish();
    let commit = match received? {
        engine::Received::Complete(commit) => commit,
        engine::Received::Refused { message, .. } => bail!("server: {}", display_safe(&message)),
        engine::Received::Invalid(e) => {
            fs::remove_file(path).ok();
            bail!("drop {id}: {e}; refused");
        }
        engine::Received::Discarded => bail!("the fetch ended out of step"),
    };
    let written = written?;
    if let Err(e) = receiver.verify(&commit, written.length, &written.digest) {
        fs::remove_file(path).ok();
        bail!("drop {id}: the ciphertext does not match its signed digest ({e}); refused");
    }
    Ok(written.file)
}

/// Step 5: decrypts the verified ciphertext into the partial `partial`
/// (locked, truncated first); the plaintext must be exactly `size` bytes
/// that age authenticated. Returns the partial, open. Blocking.
fn decrypt_into(
    mut ciphertext: File,
    identity: Box<dyn age::Identity + Send>,
    partial: &Path,
    size: u64,
) -> Result<File> {
    ciphertext.seek(SeekFrom::Start(0))?;
    let decryptor = age::Decryptor::new(BufReader::new(ciphertext)).map_err(|e| anyhow!("not an age file: {e}"))?;
    let identity: &dyn age::Identity = identity.as_ref();
    let mut plaintext =
        decryptor.decrypt(std::iter::once(identity)).map_err(|e| anyhow!("cannot decrypt the drop: {e}"))?;
    let mut out = open_locked(partial)?;
    // Private until it is verified and given the drop's mode.
    out.set_permissions(fs::Permissions::from_mode(0o600))?;
    out.set_len(0).with_context(|| format!("writing {}", partial.display()))?;
    let mut writer = io::BufWriter::new(&mut out);
    let copied = io::copy(&mut (&mut plaintext).take(size), &mut writer)
        .map_err(|e| anyhow!("the drop does not decrypt (damaged or altered): {e}"))?;
    writer.flush().with_context(|| format!("writing {}", partial.display()))?;
    drop(writer);
    let longer = plaintext.read(&mut [0u8; 1]).map_err(|e| anyhow!("the drop does not decrypt: {e}"))? != 0;
    if copied != size || longer {
        bail!("the drop decrypts to another size than its sender signed ({size} bytes); refused");
    }
    Ok(out)
}

/// The OpenSSH private key as age's decryptor takes it: an `ssh-rsa` key
/// unwraps with aws-lc's RSA-OAEP (`rsa_unwrap.rs`), an `ssh-ed25519` key
/// through age's own (unencrypted keys only).
fn load_age_identity(path: &Path) -> Result<Box<dyn age::Identity + Send>> {
    let key = crate::client::load_identity(path)?;
    if let Some(rsa) = super::rsa_unwrap::SshRsaIdentity::new(key) {
        return Ok(Box::new(rsa));
    }
    let text = zeroize::Zeroizing::new(
        crate::keys::read_key_file(path).with_context(|| format!("reading key {}", path.display()))?,
    );
    match age::ssh::Identity::from_buffer(text.as_bytes(), None) {
        Ok(identity @ age::ssh::Identity::Unencrypted(_)) => Ok(Box::new(identity)),
        Ok(_) => bail!("{}: a passphrase-protected or unsupported key cannot decrypt drops here", path.display()),
        Err(e) => bail!("{}: not an OpenSSH private key age can use: {e}", path.display()),
    }
}
