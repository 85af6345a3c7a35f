//! Drops (PROTOCOL.md §14): files sent to a person through a server that
//! cannot read them. `send.rs` (`sxfer drop`: encrypt to the recipients'
//! pinned keys, sign, upload on the ordinary upload path), `inbox.rs`
//! (`sxfer inbox`: list and verify, `inbox rm`), `fetch.rs` (`sxfer fetch`:
//! verify, download on the ordinary download path, decrypt, place as a
//! download is placed, then a signed receipt), `status.rs` (`sxfer drop
//! status`: sent drops, receipts checked against the pins; `drop revoke`),
//! `contacts.rs` (the pins of §14.6). This module: the
//! directory requests and the sender check every command shares.

pub mod contacts;
pub mod fetch;
pub mod inbox;
mod rsa_unwrap;
pub mod send;
pub mod status;

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::client::Remote;
use contacts::Contacts;
use sxfer_proto::identity::PublicIdentity;
use sxfer_proto::msgs::auth::KeyProof;
use sxfer_proto::msgs::drop::publish_message;
use sxfer_proto::msgs::{DropMsg, InboxEntry, Message, Username};

/// Who is asking, where: the account, the server's address (what pins
/// are bound to) and the contacts file.
pub struct Party<'a> {
    pub user: &'a Username,
    pub server: &'a str,
    pub contacts: &'a Contacts,
}

/// The keys of `user` in the server's directory (KeyLookup).
pub async fn lookup(remote: &mut Remote, user: &Username) -> Result<Vec<PublicIdentity>> {
    let transfer = remote.transfer_id();
    let request = Message::Drop { transfer, drop: DropMsg::KeyLookup { user: user.clone() } };
    match remote.request(&request).await.with_context(|| format!("looking up the keys of {user}"))? {
        Message::Drop { drop: DropMsg::KeyList { user: listed, keys }, .. } if listed == *user => Ok(keys),
        other => bail!("unexpected reply to a key lookup: {other:?}"),
    }
}

/// The keys of `user` to encrypt to: the directory's, held to the pins
/// (pinned now on first use; a key not pinned is refused).
pub async fn recipient_keys(remote: &mut Remote, party: &Party<'_>, user: &Username) -> Result<Vec<PublicIdentity>> {
    let listed = lookup(remote, user).await?;
    party.contacts.check(party.server, user, &listed)
}

/// Checks a drop's sender and signature (steps 2–3 of §14.5): its
/// `sender_key` must be pinned for the sender on this server — on first
/// contact, found in the directory and pinned — and the signature must
/// verify. Returns the sender's key.
pub async fn verify_sender(remote: &mut Remote, party: &Party<'_>, entry: &InboxEntry) -> Result<PublicIdentity> {
    let content = entry.header.content();
    let sender = &content.sender;
    let mut pinned = party.contacts.keys(party.server, sender)?;
    if pinned.is_empty() {
        pinned = recipient_keys(remote, party, sender).await?;
    }
    let Some(key) = pinned.iter().find(|key| key.fingerprint().ct_eq(&content.sender_key.fingerprint())) else {
        bail!(
            "drop {} claims to be from {sender}@{} signed by {}, which is not a key pinned for {sender}; refused",
            entry.id,
            party.server,
            content.sender_key.fingerprint()
        );
    };
    entry
        .header
        .verify(key)
        .map_err(|_| anyhow::anyhow!("drop {}: the signature of {sender} does not verify; refused", entry.id))?;
    Ok(key.clone())
}

/// The session's inbox (InboxList, all parts).
pub async fn list(remote: &mut Remote) -> Result<Vec<InboxEntry>> {
    all_parts(remote, DropMsg::InboxList, "an inbox listing", |drop| match drop {
        DropMsg::InboxListing { entries, more } => Ok((entries, more)),
        other => Err(other),
    })
    .await
}

/// Sends `request` and gathers the parts of its answer (`part` takes one
/// apart: its items and whether more follow) until the last.
async fn all_parts<T>(
    remote: &mut Remote,
    request: DropMsg,
    what: &str,
    part: impl Fn(DropMsg) -> std::result::Result<(Vec<T>, bool), DropMsg>,
) -> Result<Vec<T>> {
    let transfer = remote.transfer_id();
    remote.writer.send(&Message::Drop { transfer, drop: request }).await?;
    let mut all = Vec::new();
    loop {
        match remote.next_message().await? {
            Message::Drop { transfer: t, drop } if t == transfer => match part(drop) {
                Ok((items, more)) => {
                    all.extend(items);
                    if !more {
                        return Ok(all);
                    }
                }
                Err(other) => bail!("unexpected reply to {what}: {other:?}"),
            },
            Message::Error { message, .. } => bail!("{}", sxfer_proto::names::display_safe(&message)),
            other => bail!("unexpected reply to {what}: {other:?}"),
        }
    }
}

/// `sxfer key publish`: add the `-i` key to the session's account.
pub async fn publish(remote: &mut Remote, user: &Username, identity: &Path) -> Result<PublicIdentity> {
    let key = crate::client::load_identity(identity)?;
    let proof = KeyProof { public_key: key.public().to_wire(), signature: key.sign(&publish_message(user))? };
    let transfer = remote.transfer_id();
    remote.request(&Message::Drop { transfer, drop: DropMsg::KeyPublish { proof } }).await?;
    Ok(key.public().clone())
}
