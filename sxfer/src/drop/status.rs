//! `sxfer drop status` and `sxfer drop revoke` (PROTOCOL.md §14.10): the
//! drops this account sent, each recipient's receipt checked against the
//! key this client pinned for that recipient — a receipt that does not
//! verify is shown as such, never as fetched — and revocation.

use anyhow::{bail, Result};

use super::Party;
use crate::client::Remote;
use sxfer_proto::msgs::{DropId, DropMsg, DropReceipt, Message, SentDrop, Username};

/// One recipient of a sent drop, as this client judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Still in the recipient's inbox, no receipt.
    Waiting,
    /// A receipt that verifies against the recipient's pinned key: fetched
    /// at this time (the recipient's clock).
    Fetched(i64),
    /// A receipt that does not verify (why).
    BadReceipt(String),
    /// Out of the inbox without a receipt (removed unread, or the drop ended).
    NotFetched,
}

/// A sent drop and its recipients.
pub struct Sent {
    pub drop: SentDrop,
    pub recipients: Vec<(Username, Delivery)>,
}

/// The account's sent drops (DropStatus, all parts), receipts checked.
pub async fn show(remote: &mut Remote, party: &Party<'_>) -> Result<Vec<Sent>> {
    let sent = super::all_parts(remote, DropMsg::Status, "a status request", |drop| match drop {
        DropMsg::StatusList { drops, more } => Ok((drops, more)),
        other => Err(other),
    })
    .await?;
    Ok(sent.into_iter().map(|drop| judge(party, drop)).collect())
}

fn judge(party: &Party<'_>, drop: SentDrop) -> Sent {
    let mut recipients = Vec::with_capacity(drop.recipients.len());
    for recipient in &drop.recipients {
        let delivery = match &recipient.receipt {
            Some(receipt) => match check_receipt(party, &drop, &recipient.user, receipt) {
                Ok(()) => Delivery::Fetched(receipt.content().fetched),
                Err(why) => Delivery::BadReceipt(why),
            },
            None if recipient.in_inbox => Delivery::Waiting,
            None => Delivery::NotFetched,
        };
        recipients.push((recipient.user.clone(), delivery));
    }
    Sent { drop, recipients }
}

/// A receipt counts only if it names this drop, this recipient and the
/// ciphertext the sender signed, and is signed by a key pinned for the
/// recipient that the drop was encrypted to.
fn check_receipt(party: &Party<'_>, drop: &SentDrop, user: &Username, receipt: &DropReceipt) -> Result<(), String> {
    let content = receipt.content();
    let signed = drop.header.content();
    if content.id != drop.id || &content.recipient != user || content.ciphertext_digest != signed.ciphertext_digest {
        return Err("the receipt is for another drop".into());
    }
    let fingerprint = content.recipient_key.fingerprint();
    let encrypted_to =
        signed.recipients.iter().any(|r| &r.user == user && r.keys.iter().any(|k| k.ct_eq(&fingerprint)));
    let pinned = party.contacts.keys(party.server, user).map_err(|e| format!("{e:#}"))?;
    let Some(key) = pinned.iter().find(|key| key.fingerprint().ct_eq(&fingerprint)).filter(|_| encrypted_to) else {
        return Err(format!("signed by {fingerprint}, not a key pinned for {user} that the drop went to"));
    };
    receipt.verify(key).map_err(|_| "the signature does not verify".to_owned())
}

/// Revokes drop `id` (DropRevoke).
pub async fn revoke(remote: &mut Remote, id: DropId) -> Result<()> {
    let transfer = remote.transfer_id();
    match remote.request(&Message::Drop { transfer, drop: DropMsg::Revoke { id } }).await? {
        Message::Done { .. } => Ok(()),
        other => bail!("unexpected reply to a revocation: {other:?}"),
    }
}

impl Delivery {
    pub fn label(&self) -> String {
        match self {
            Delivery::Waiting => "waiting".into(),
            Delivery::Fetched(at) => format!("fetched {} (receipt verified)", crate::output::format_time(*at)),
            Delivery::BadReceipt(why) => format!("RECEIPT DOES NOT VERIFY: {why}"),
            Delivery::NotFetched => "not fetched".into(),
        }
    }
}
