//! `sxfer inbox`: what waits for the logged-in user, each drop's sender
//! checked against the contact pins and its signature verified
//! (PROTOCOL.md §14.5 steps 2–3); `sxfer inbox rm ID`.

use anyhow::{bail, Result};

use super::{verify_sender, Party};
use crate::client::Remote;
use sxfer_proto::msgs::{DropId, DropMsg, InboxEntry, Message};

/// One inbox entry and whether its signature verified against the pinned
/// sender key (`Err`: why not).
pub struct Listed {
    pub entry: InboxEntry,
    pub verified: std::result::Result<(), String>,
}

pub async fn show(remote: &mut Remote, party: &Party<'_>) -> Result<Vec<Listed>> {
    let mut listed = Vec::new();
    for entry in super::list(remote).await? {
        let addressed = entry.header.content().recipients.iter().any(|r| &r.user == party.user);
        let verified = if addressed {
            verify_sender(remote, party, &entry).await.map(drop).map_err(|e| format!("{e:#}"))
        } else {
            Err(format!("not addressed to {}", party.user))
        };
        listed.push(Listed { entry, verified });
    }
    Ok(listed)
}

/// Takes drop `id` out of the inbox (DropRemove).
pub async fn remove(remote: &mut Remote, id: DropId) -> Result<()> {
    let transfer = remote.transfer_id();
    match remote.request(&Message::Drop { transfer, drop: DropMsg::Remove { id } }).await? {
        Message::Done { .. } => Ok(()),
        other => bail!("unexpected reply to an inbox removal: {other:?}"),
    }
}
