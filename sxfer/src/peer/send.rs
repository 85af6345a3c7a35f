//! The sending side of a peer session (PROTOCOL.md §13.4): offer the
//! manifest, read the answer, then upload each wanted file exactly as
//! `sxfer upload` does to a server (`client::upload::run`: small files
//! pipelined from 0, large ones resumed from the receiver's UploadReady).

use anyhow::{anyhow, bail, Result};

use super::offer::Plan;
use super::{Session, OFFER_TRANSFER};
use crate::client::{upload, Remote};
use crate::net::conn::{Incoming, SessionReader};
use crate::output::Output;
use sxfer_proto::msgs::{ClientId, EntryKind, Message, OfferAnswer, Want};
use sxfer_proto::names::display_safe;
use sxfer_proto::CloseCode;

/// The receiver said no; nothing was sent.
#[derive(Debug, thiserror::Error)]
#[error("the receiver declined: {}", display_safe(.0))]
pub struct Declined(pub String);

/// Offers `plan` over `session` and sends what the receiver wants.
pub async fn send(session: Session, plan: &Plan, output: &Output) -> Result<()> {
    let Session { mut reader, mut writer, peer, .. } = session;
    for part in plan.manifest.offer(OFFER_TRANSFER) {
        writer.queue(&part)?;
    }
    writer.flush().await?;
    let manifest = &plan.manifest;
    output.note(&format!(
        "offered {} files ({} bytes) to {peer}; waiting for the receiver to accept",
        manifest.file_count(),
        manifest.total_bytes()
    ));
    let wants = match answer(&mut reader).await {
        Ok(OfferAnswer::Accept(wants)) => wants,
        Ok(OfferAnswer::Decline(message)) => {
            writer.close(CloseCode::Normal).await.ok();
            return Err(Declined(message).into());
        }
        Err(e) => {
            writer.close(CloseCode::ProtocolViolation).await.ok();
            return Err(e);
        }
    };
    if let Err(e) = manifest.check_wants(&wants) {
        writer.close(e.close_code()).await.ok();
        return Err(e.into());
    }
    // The plan's files are the manifest's file entries, in order.
    let entries = manifest.entries().iter().zip(&wants);
    let file_wants = entries.filter(|(entry, _)| entry.kind == EntryKind::File).map(|(_, want)| want);
    let mut jobs = Vec::with_capacity(plan.files.len());
    for (job, want) in plan.files.iter().zip(file_wants) {
        match want {
            Want::Skip => output.note(&format!("skipping {}: the receiver already has it", job.remote)),
            Want::Send { .. } => jobs.push(job.clone()),
        }
    }
    let mut remote = Remote::start(reader, writer, ClientId([0; 16]), peer);
    // Uploads take fresh transfer ids: the first is the offer's.
    let _offer = remote.transfer_id();
    let sent = upload::run(&mut remote, &jobs, output).await;
    remote.close().await.ok();
    sent.map(|_| ())
}

/// The receiver's OfferReply (it may take a while: a person decides).
async fn answer(reader: &mut SessionReader) -> Result<OfferAnswer> {
    match reader.next().await? {
        Incoming::Message(Message::OfferReply { transfer: OFFER_TRANSFER, answer }) => Ok(answer),
        Incoming::Closed(code) => Err(anyhow!("the receiver closed the connection ({code})")),
        _ => bail!("the receiver did not answer the offer"),
    }
}
