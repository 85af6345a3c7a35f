//! Drop requests (PROTOCOL.md §14): the key directory, a drop's upload on
//! the ordinary upload data phase ([`transfer::receive_staged`]), the
//! inbox, a fetch answered as a download ([`transfer::send_one`]),
//! removal; receipts, the sender's status and revocation (§14.10). The server checks who sends to whom with which keys; it never
//! reads a drop, and it leaves the signature to the recipient.

use anyhow::{anyhow, Result};

use super::blob_io::BlobSource;
use super::context::{blocking, error, listing_parts, reply_outcome, store_error, Connection};
use super::transfer::{self, DownloadRequest, Landed, Opened};
use crate::net::conn::{SessionReader, SessionWriter};
use crate::store::{AuditEvent, AuditKind, SentRecord, StoreError, StoredDrop};
use sxfer_proto::codec::Codec;
use sxfer_proto::identity::PublicIdentity;
use sxfer_proto::msgs::app::error_code;
use sxfer_proto::msgs::auth::KeyProof;
use sxfer_proto::msgs::drop::{publish_message, MAX_INBOX_LISTING, MAX_LISTED_KEYS, MAX_STATUS_LISTING};
use sxfer_proto::msgs::{
    DropHeader, DropId, DropMsg, DropReceipt, FileEntry, FileMeta, InboxEntry, Message, RecipientState, SentDrop,
};
use sxfer_proto::names::RemoteName;
use sxfer_proto::CloseCode;

pub async fn handle(
    drop: DropMsg,
    transfer: u32,
    reader: &mut SessionReader,
    writer: &mut SessionWriter,
    connection: &Connection,
) -> Result<()> {
    let store = connection.store();
    let user = connection.user.id;
    let reply = |drop| Message::Drop { transfer, drop };
    match drop {
        DropMsg::KeyLookup { user: name } => {
            let lookup = name.clone();
            let answer = match blocking(move || store.list_keys(&lookup)).await {
                Ok(mut keys) => {
                    keys.truncate(MAX_LISTED_KEYS);
                    keys.iter_mut().for_each(|key| key.set_comment(""));
                    reply(DropMsg::KeyList { user: name, keys })
                }
                Err(e) => store_error(transfer, &e),
            };
            writer.send(&answer).await
        }
        DropMsg::KeyPublish { proof } => {
            let answer = publish(connection, transfer, proof).await;
            connection.audit(AuditEvent::new(AuditKind::KeyPublish, reply_outcome(&answer)));
            writer.send(&answer).await
        }
        DropMsg::Put { header, expires_in_secs, resume } => {
            put(reader, writer, connection, transfer, header, expires_in_secs, resume).await
        }
        DropMsg::InboxList => match blocking(move || store.inbox(user)).await {
            Ok(drops) => {
                let entries = drops.into_iter().filter_map(inbox_entry).collect();
                for (entries, more) in listing_parts(entries, MAX_INBOX_LISTING) {
                    writer.queue(&reply(DropMsg::InboxListing { entries, more }))?;
                }
                writer.flush().await
            }
            Err(e) => writer.send(&store_error(transfer, &e)).await,
        },
        DropMsg::Fetch { id, offset } => {
            let opened = match blocking(move || store.open_drop(user, &id)).await {
                Ok(Some((drop, blob))) => {
                    let entry = ciphertext_entry(&drop)?;
                    let source = BlobSource::new(blob, &entry);
                    Opened::Stream(entry, Box::new(source))
                }
                Ok(None) => Opened::Failed(connection.store().not_in_inbox(user, &id)),
                Err(e) => Opened::Failed(e),
            };
            let request = DownloadRequest { transfer, name: id_name(&id)?, offset };
            transfer::send_one(writer, connection, request, opened, AuditKind::DropFetch).await?;
            writer.flush().await
        }
        DropMsg::Remove { id } => {
            let answer = match blocking(move || store.remove_drop(user, &id)).await {
                Ok(true) => Message::Done { transfer },
                Ok(false) => error(transfer, error_code::NOT_FOUND, &format!("no drop {id} in your inbox")),
                Err(e) => store_error(transfer, &e),
            };
            connection.audit(AuditEvent::new(AuditKind::DropRemove, reply_outcome(&answer)).name(&id_name(&id)?));
            writer.send(&answer).await
        }
        DropMsg::Receipt { receipt } => {
            let name = connection.user.name.clone();
            let id = receipt.content().id;
            let answer = match blocking(move || store.store_receipt(user, &name, &receipt)).await {
                Ok(()) => Message::Done { transfer },
                Err(e) => store_error(transfer, &e),
            };
            connection.audit(AuditEvent::new(AuditKind::DropReceipt, reply_outcome(&answer)).name(&id_name(&id)?));
            writer.send(&answer).await
        }
        DropMsg::Status => match blocking(move || store.sent_drops(user)).await {
            Ok(records) => {
                let drops = records.into_iter().filter_map(sent_drop).collect();
                for (drops, more) in listing_parts(drops, MAX_STATUS_LISTING) {
                    writer.queue(&reply(DropMsg::StatusList { drops, more }))?;
                }
                writer.flush().await
            }
            Err(e) => writer.send(&store_error(transfer, &e)).await,
        },
        DropMsg::Revoke { id } => {
            let answer = match blocking(move || store.revoke_drop(user, &id)).await {
                Ok(()) => Message::Done { transfer },
                Err(e) => store_error(transfer, &e),
            };
            connection.audit(AuditEvent::new(AuditKind::DropRevoke, reply_outcome(&answer)).name(&id_name(&id)?));
            writer.send(&answer).await
        }
        DropMsg::KeyList { .. }
        | DropMsg::Stored { .. }
        | DropMsg::InboxListing { .. }
        | DropMsg::StatusList { .. } => {
            writer.send(&error(transfer, error_code::BAD_REQUEST, "unexpected message")).await?;
            writer.close(CloseCode::ProtocolViolation).await?;
            Err(anyhow!("a client sent a server's drop message"))
        }
    }
}

/// Adds a proven key to the session's account (PROTOCOL.md §14.4).
async fn publish(connection: &Connection, transfer: u32, proof: KeyProof) -> Message {
    let name = connection.user.name.clone();
    let verified = tokio::task::spawn_blocking(move || {
        let key = PublicIdentity::from_wire(&proof.public_key).ok()?;
        key.verify(&publish_message(&name), &proof.signature).ok().map(|()| key)
    })
    .await;
    let Ok(Some(key)) = verified else {
        return error(transfer, error_code::BAD_REQUEST, "the key's proof does not verify");
    };
    let (store, name) = (connection.store(), connection.user.name.clone());
    match blocking(move || store.add_key(&name, &key)).await {
        Ok(()) | Err(StoreError::Exists(_)) => Message::Done { transfer },
        Err(e) => store_error(transfer, &e),
    }
}

/// A drop's upload: the header checked against the directory, quota and
/// inbox caps, then its ciphertext exactly as any upload's data.
#[allow(clippy::too_many_arguments)]
async fn put(
    reader: &mut SessionReader,
    writer: &mut SessionWriter,
    connection: &Connection,
    transfer: u32,
    header: DropHeader,
    expires_in_secs: u32,
    resume: bool,
) -> Result<()> {
    let content = header.content();
    let (name, size) = (content.name.clone(), content.ciphertext_length);
    let event = |outcome: &str| AuditEvent::new(AuditKind::DropPut, outcome).name(&name).size(size);
    let (store, sender) = (connection.store(), connection.user.clone());
    let max_expires = store.limits().max_drop_expires;
    let begun = if u64::from(expires_in_secs) > max_expires {
        Err(StoreError::Invalid(format!(
            "this server keeps a drop at most {} (--expires {})",
            crate::duration::format_duration(max_expires),
            crate::duration::format_duration(u64::from(expires_in_secs)),
        )))
    } else {
        let expires_in = (expires_in_secs != 0).then_some(expires_in_secs);
        blocking(move || {
            let recipients = store.drop_recipients(&sender, header.content())?;
            store.begin_drop(sender.id, recipients, &header, expires_in)
        })
        .await
    };
    let upload = match begun {
        Ok(upload) => upload,
        Err(e) => {
            connection.audit(event("refused").detail(e.to_string()));
            writer.send(&store_error(transfer, &e)).await?;
            if !resume {
                transfer::discard(reader, transfer).await?;
            }
            return Ok(());
        }
    };
    let (commit, upload) = match transfer::receive_staged(reader, writer, transfer, size, 0, resume, upload).await? {
        Landed::Complete(commit, upload) => (commit, upload),
        Landed::Failed(e, _) => {
            connection.audit(event("failed").detail(e.to_string()));
            return writer.send(&store_error(transfer, &e)).await;
        }
        Landed::Interrupted(e, _, upload) => {
            // There are no partial drops: a rerun sends it again.
            if let Some(upload) = upload {
                blocking(move || {
                    crate::store::Staging::discard(upload);
                    Ok(())
                })
                .await
                .ok();
            }
            connection.audit(event("interrupted"));
            return Err(e);
        }
    };
    match blocking(move || upload.commit(commit.length, &commit.digest)).await {
        Ok((id, received)) => {
            connection.audit(event("ok").digest(commit.digest).detail(id.to_string()));
            writer.send(&Message::Drop { transfer, drop: DropMsg::Stored { id, received } }).await
        }
        Err(e) => {
            connection.audit(event("failed").detail(e.to_string()));
            writer.send(&store_error(transfer, &e)).await
        }
    }
}

/// The inbox entry of a stored drop; a header that no longer decodes (a
/// damaged database) is left out and logged.
fn inbox_entry(drop: StoredDrop) -> Option<InboxEntry> {
    match DropHeader::decode(&drop.header) {
        Ok(header) => Some(InboxEntry { id: drop.id, received: drop.received, header }),
        Err(e) => {
            tracing::error!(drop = %drop.id, error = %e, "a stored drop header does not decode; not listed");
            None
        }
    }
}

/// A sent drop as DropStatusList reports it; a stored header that no
/// longer decodes is left out and logged, as in the inbox.
fn sent_drop(record: SentRecord) -> Option<SentDrop> {
    let header = match DropHeader::decode(&record.header) {
        Ok(header) => header,
        Err(e) => {
            tracing::error!(drop = %record.id, error = %e, "a stored drop header does not decode; not listed");
            return None;
        }
    };
    let recipients = record
        .recipients
        .into_iter()
        .map(|r| {
            // A damaged receipt is shown as missing, not as fetched.
            let receipt = r.receipt.and_then(|bytes| DropReceipt::decode(&bytes).ok());
            RecipientState { user: r.user, in_inbox: r.in_inbox, receipt }
        })
        .collect();
    let expires = record.expires.unwrap_or(0);
    Some(SentDrop { id: record.id, received: record.received, expires, state: record.state, header, recipients })
}

/// What a DropFetch's DownloadStart describes: the ciphertext (§14.4).
fn ciphertext_entry(drop: &StoredDrop) -> Result<FileEntry> {
    let meta = FileMeta { size: drop.ciphertext_length, mode: 0, mtime: drop.received, mtime_nanos: 0 };
    Ok(FileEntry { name: id_name(&drop.id)?, meta, digest: drop.ciphertext_digest, stored: drop.received })
}

/// A drop id as a name: 32 hex digits are always a valid one.
fn id_name(id: &DropId) -> Result<RemoteName> {
    Ok(RemoteName::parse(&id.to_string())?)
}
