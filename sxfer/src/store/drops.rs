//! Drops (PROTOCOL.md §14): files the server stores but cannot read.
//!
//! ```text
//! drop_recipients  header vs the key directory → the recipients' ids
//! begin_drop       size limit, sender quota, inbox caps; a staged blob
//!   write*         ciphertext in order → BLAKE3 → BlobWriter (as uploaded)
//!   commit         check length + digest, BlobWriter::commit, then
//!                  MetaStore::commit_drop (ONE tx: checks again, drops row,
//!                  an inbox row per recipient)
//! inbox / open_drop / remove_drop      the recipient's side
//! store_receipt                        checked against the drop, kept for the sender
//! sent_drops / revoke_drop             the sender's side (PROTOCOL.md §14.10)
//! collect_drops(now)                   expiry and forgetting ended drops (gc.rs)
//! ```
//!
//! The ciphertext is an age file to the recipients' keys and is stored as
//! it arrived, not re-encrypted to the storage key: the blob store still
//! only ever holds age ciphertext, and `age -d -i KEY` on the blob gives
//! the recipient the file (disaster recovery, interop). There are no
//! partial drops: an interrupted upload is discarded (a leftover staged
//! blob is collected at the next open).

use std::io::Write;
use std::sync::Arc;

use rand_core::{OsRng, RngCore};
use sxfer_proto::codec::Codec;
use sxfer_proto::msgs::{DropContent, DropHeader, DropId, DropReceipt, DropState, Username};

use super::blob::{BlobId, BlobRead, BlobState, BlobWriter};
use super::error::{IoContext, Result, StoreError};
use super::meta::{NewDrop, SentRecord, StoredDrop, UserId, UserInfo};
use super::upload::{check_received, Staging, SyncPoint};
use super::{now, Inner, Store};

/// A drop's ciphertext being received. Dropping it without
/// [`commit`](Self::commit) leaves a staged blob that no row names;
/// [`discard`](Self::discard) removes it at once.
pub struct DropUpload {
    inner: Arc<Inner>,
    drop: NewDrop,
    writer: Option<Box<dyn BlobWriter>>,
    hasher: blake3::Hasher,
    fed: u64,
    /// Seconds after it is stored that it expires.
    expires_in: Option<u32>,
}

/// Ended drops are kept this long for their sender's status, then forgotten.
pub const ENDED_DROP_RETENTION: i64 = 30 * 24 * 60 * 60;

impl Store {
    /// Checks `content` against the key directory for a drop sent by
    /// `sender`: it must be the sender (`Refused`), signed with one of its
    /// keys (`Refused`), to accounts that exist, by keys they have
    /// (`NotFound`). Returns the recipients' ids, in order.
    pub fn drop_recipients(&self, sender: &UserInfo, content: &DropContent) -> Result<Vec<UserId>> {
        if content.sender != sender.name {
            return Err(StoreError::Refused(format!(
                "a drop from {} cannot be sent as {}",
                content.sender, sender.name
            )));
        }
        let own = self.inner.meta.list_keys(&sender.name)?;
        if !own.iter().any(|key| key == &content.sender_key) {
            return Err(StoreError::Refused(format!(
                "the drop is signed with {}, which is not a key of {}; publish it first (sxfer key publish)",
                content.sender_key.fingerprint(),
                sender.name
            )));
        }
        let mut ids = Vec::with_capacity(content.recipients.len());
        for recipient in &content.recipients {
            let account = self.inner.meta.account(&recipient.user)?;
            let account = account.ok_or_else(|| StoreError::NotFound(format!("user {}", recipient.user)))?;
            let keys = self.inner.meta.list_keys(&recipient.user)?;
            if let Some(unknown) = recipient.keys.iter().find(|f| !keys.iter().any(|key| key.fingerprint() == **f)) {
                return Err(StoreError::NotFound(format!("key {unknown} of {}", recipient.user)));
            }
            ids.push(account.info.id);
        }
        Ok(ids)
    }

    /// Starts receiving the ciphertext of the drop `header` from `sender`
    /// to `recipients` (from [`drop_recipients`](Self::drop_recipients)).
    /// Refuses with `TooLarge` above the maximum file size, `Quota` beyond
    /// the sender's quota, `Limit` beyond a recipient's inbox cap. It
    /// expires `expires_in` seconds after it is stored (`None`: never).
    pub fn begin_drop(
        &self,
        sender: UserId,
        recipients: Vec<UserId>,
        header: &DropHeader,
        expires_in: Option<u32>,
    ) -> Result<DropUpload> {
        let content = header.content();
        let limits = self.inner.limits();
        let length = content.ciphertext_length;
        if length > limits.max_file_size || i64::try_from(length).is_err() {
            return Err(StoreError::TooLarge { size: length, limit: limits.max_file_size });
        }
        self.inner.meta.check_drop(sender, &recipients, length, &limits)?;
        let mut id = [0u8; 16];
        OsRng.fill_bytes(&mut id);
        let blob = BlobId::generate();
        let writer = self.inner.blobs.create(&blob)?;
        let drop = NewDrop {
            id: DropId(id),
            sender,
            recipients,
            name: content.name.clone(),
            meta: content.meta,
            header: header.to_bytes(),
            ciphertext_length: length,
            ciphertext_digest: content.ciphertext_digest,
            blob,
            expires: None,
        };
        Ok(DropUpload {
            inner: Arc::clone(&self.inner),
            drop,
            writer: Some(writer),
            hasher: blake3::Hasher::new(),
            fed: 0,
            expires_in,
        })
    }

    /// The drops waiting for `user`, oldest first.
    pub fn inbox(&self, user: UserId) -> Result<Vec<StoredDrop>> {
        self.inner.meta.inbox(user, now())
    }

    /// A drop in `user`'s inbox and its ciphertext, read as stored.
    pub fn open_drop(&self, user: UserId, id: &DropId) -> Result<Option<(StoredDrop, Box<dyn BlobRead>)>> {
        let Some((drop, blob)) = self.inner.meta.inbox_drop(user, id, now())? else {
            return Ok(None);
        };
        match self.inner.blobs.open(&blob)? {
            Some(reader) => Ok(Some((drop, reader))),
            // Removed by its last recipient since the lookup.
            None => Ok(None),
        }
    }

    /// Why drop `id` is not (or no longer) in `user`'s inbox: `NotFound`
    /// with a message saying so (revoked, expired, removed, or unknown).
    pub fn not_in_inbox(&self, user: UserId, id: &DropId) -> StoreError {
        let why = match self.inner.meta.received_drop_state(user, id, now()) {
            Ok(Some((DropState::Revoked, _))) => format!("drop {id} was revoked by its sender"),
            Ok(Some((DropState::Expired, _))) => format!("drop {id} has expired"),
            Ok(Some((_, true))) => format!("drop {id} was taken out of your inbox"),
            Ok(_) => format!("no drop {id} in your inbox"),
            Err(e) => return e,
        };
        StoreError::Gone(why)
    }

    /// Takes `id` out of `user`'s inbox; the drop ends (delivered) and its
    /// blob goes when no inbox holds it any more. `false` if it was not in
    /// the inbox.
    pub fn remove_drop(&self, user: UserId, id: &DropId) -> Result<bool> {
        match self.inner.meta.remove_from_inbox(user, id, now())? {
            None => Ok(false),
            Some(unreferenced) => {
                if let Some(blob) = unreferenced {
                    self.inner.remove_blob(&blob, BlobState::Committed);
                }
                Ok(true)
            }
        }
    }

    /// Keeps `receipt` from `user` (named `name`) for its sender
    /// (PROTOCOL.md §14.10). The drop must be in `user`'s inbox
    /// (`NotFound`); the receipt must name it, `name`, its ciphertext
    /// digest and one of the keys it was encrypted to for `name`, and its
    /// signature must verify (`Invalid`). Blocking (a signature check).
    pub fn store_receipt(&self, user: UserId, name: &Username, receipt: &DropReceipt) -> Result<()> {
        let content = receipt.content();
        let id = content.id;
        let Some((drop, _)) = self.inner.meta.inbox_drop(user, &id, now())? else {
            return Err(self.not_in_inbox(user, &id));
        };
        let header = DropHeader::decode(&drop.header)
            .map_err(|_| StoreError::Internal(format!("the stored header of drop {id} does not decode")))?;
        let fingerprint = content.recipient_key.fingerprint();
        let encrypted_to = header
            .content()
            .recipients
            .iter()
            .find(|r| &r.user == name)
            .is_some_and(|r| r.keys.iter().any(|key| key.ct_eq(&fingerprint)));
        if &content.recipient != name || content.ciphertext_digest != drop.ciphertext_digest || !encrypted_to {
            return Err(StoreError::Invalid(format!("the receipt does not describe drop {id} as {name} fetched it")));
        }
        receipt
            .verify(&content.recipient_key)
            .map_err(|_| StoreError::Invalid(format!("the receipt for drop {id} does not verify")))?;
        if !self.inner.meta.store_receipt(user, &id, &receipt.to_bytes(), now())? {
            return Err(self.not_in_inbox(user, &id));
        }
        Ok(())
    }

    /// Revokes drop `id` of `sender`: out of every inbox, its blob gone.
    /// `NotFound` unless `sender` sent it and it is still waiting.
    pub fn revoke_drop(&self, sender: UserId, id: &DropId) -> Result<()> {
        match self.inner.meta.revoke_drop(sender, id, now())? {
            Some(blob) => {
                self.inner.remove_blob(&blob, BlobState::Committed);
                Ok(())
            }
            None => Err(StoreError::Gone(format!("no waiting drop {id} that you sent"))),
        }
    }

    /// The drops `sender` sent (waiting, or ended within the last
    /// [`ENDED_DROP_RETENTION`]), oldest first.
    pub fn sent_drops(&self, sender: UserId) -> Result<Vec<SentRecord>> {
        self.inner.meta.sent_drops(sender, now())
    }

    /// The garbage collection of drops as at `now`: ends the drops whose
    /// expiry passed and removes their blobs, forgets the rows of drops
    /// ended more than [`ENDED_DROP_RETENTION`] ago. Returns (expired,
    /// forgotten). Part of [`recover`](Self::recover); callable with another
    /// clock for tests.
    pub fn collect_drops(&self, now: i64) -> Result<(usize, usize)> {
        let expired = self.inner.meta.end_expired_drops(now)?;
        for blob in &expired {
            self.inner.remove_blob(blob, BlobState::Committed);
        }
        if !expired.is_empty() {
            tracing::info!(count = expired.len(), "expired drops removed");
        }
        let forgotten = self.inner.meta.forget_ended_drops(now.saturating_sub(ENDED_DROP_RETENTION))?;
        Ok((expired.len(), forgotten))
    }
}

impl Staging for DropUpload {
    /// More bytes than the header's ciphertext length is `Integrity`.
    fn write(&mut self, data: &[u8]) -> Result<()> {
        let writer = self.writer.as_mut().ok_or_else(failed_earlier)?;
        let length = self.drop.ciphertext_length;
        if self.fed.checked_add(data.len() as u64).is_none_or(|total| total > length) {
            return Err(StoreError::Integrity(format!("more data than the announced {length} bytes")));
        }
        if let Err(err) = writer.write_all(data) {
            self.writer = None;
            return Err(err).context(|| format!("cannot write staged blob {}", self.drop.blob));
        }
        self.hasher.update(data);
        self.fed += data.len() as u64;
        Ok(())
    }

    fn sync_point(&self) -> Result<SyncPoint> {
        let writer = self.writer.as_ref().ok_or_else(failed_earlier)?;
        Ok(SyncPoint::new(writer.sync_handle()?, self.fed))
    }

    fn sync(&mut self) -> Result<u64> {
        self.writer.as_mut().ok_or_else(failed_earlier)?.sync()?;
        Ok(self.fed)
    }

    fn discard(mut self) {
        self.writer = None;
        self.inner.remove_blob(&self.drop.blob, BlobState::Staged);
    }
}

impl DropUpload {
    /// Verifies the ciphertext (`length` and `digest` must be the header's
    /// and the bytes received: `Integrity` otherwise, and the blob goes),
    /// makes it durable and puts the drop in every recipient's inbox.
    /// Returns its id and the time it was stored.
    pub fn commit(mut self, length: u64, digest: &[u8; 32]) -> Result<(DropId, i64)> {
        let writer = self.writer.take().ok_or_else(failed_earlier)?;
        let announced = self.drop.ciphertext_length;
        let checked = check_received(announced, length, self.fed, self.hasher.finalize(), digest).and_then(|()| {
            if *digest != self.drop.ciphertext_digest {
                return Err(StoreError::Integrity("the ciphertext is not the one the header names".into()));
            }
            Ok(())
        });
        if let Err(err) = checked {
            drop(writer);
            self.inner.remove_blob(&self.drop.blob, BlobState::Staged);
            return Err(err);
        }
        let received = now();
        self.drop.expires = self.expires_in.map(|secs| received + i64::from(secs));
        let committed =
            writer.commit().and_then(|()| self.inner.meta.commit_drop(&self.drop, &self.inner.limits(), received));
        match committed {
            Ok(()) => {
                tracing::debug!(drop = %self.drop.id, blob = %self.drop.blob, size = length, "committed drop");
                Ok((self.drop.id, received))
            }
            Err(err) => {
                self.inner.remove_blob(&self.drop.blob, BlobState::Staged);
                self.inner.remove_blob(&self.drop.blob, BlobState::Committed);
                Err(err)
            }
        }
    }
}

fn failed_earlier() -> StoreError {
    StoreError::Internal("the drop upload failed earlier; send it again".into())
}
