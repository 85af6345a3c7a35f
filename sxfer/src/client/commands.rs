//! `sxfer ls`, `stat`, `rm`, `mv`: one request, one reply.

use anyhow::{bail, Result};

use super::Remote;
use sxfer_proto::msgs::{FileEntry, Message};
use sxfer_proto::names::RemoteName;

/// Every entry whose name starts with `prefix`, across Listing parts.
pub async fn list(remote: &mut Remote, prefix: &str) -> Result<Vec<FileEntry>> {
    let transfer = remote.transfer_id();
    let mut reply = remote.request(&Message::List { transfer, prefix: prefix.to_owned() }).await?;
    let mut all = Vec::new();
    loop {
        match reply {
            Message::Listing { entries, more, .. } => {
                all.extend(entries);
                if !more {
                    return Ok(all);
                }
            }
            other => bail!("unexpected reply to a listing: {other:?}"),
        }
        reply = remote.next_message().await?;
    }
}

pub async fn stat(remote: &mut Remote, name: &RemoteName) -> Result<FileEntry> {
    let transfer = remote.transfer_id();
    match remote.request(&Message::Stat { transfer, name: name.clone() }).await? {
        Message::Listing { mut entries, .. } if entries.len() == 1 => Ok(entries.remove(0)),
        other => bail!("unexpected reply to stat: {other:?}"),
    }
}

pub async fn remove(remote: &mut Remote, name: &RemoteName) -> Result<()> {
    let transfer = remote.transfer_id();
    expect_done(remote.request(&Message::Delete { transfer, name: name.clone() }).await?)
}

pub async fn rename(remote: &mut Remote, from: &RemoteName, to: &RemoteName) -> Result<()> {
    let transfer = remote.transfer_id();
    expect_done(remote.request(&Message::Rename { transfer, from: from.clone(), to: to.clone() }).await?)
}

fn expect_done(reply: Message) -> Result<()> {
    match reply {
        Message::Done { .. } => Ok(()),
        other => bail!("unexpected reply: {other:?}"),
    }
}
