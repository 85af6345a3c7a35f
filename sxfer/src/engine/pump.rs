//! The pump: moves one transfer's records between a session and a source
//! or sink, with every protocol check made by the sans-IO machine.

use anyhow::{anyhow, bail, Result};
use tokio::sync::mpsc;

use super::source::{produce, Source};
use super::{Record, Records, Sink};
use crate::net::conn::SessionWriter;
use sxfer_proto::msgs::FileEntry;
use sxfer_proto::record::PAYLOAD_OFFSET;
use sxfer_proto::transfer::{Commit, Receiver, Sender, Step, TransferError};

/// How the sending side of a transfer ended.
#[derive(Debug)]
pub enum Sent {
    /// Every byte and the Commit are written (or queued, for
    /// [`queue_whole`]).
    Committed,
    /// The source failed before the end (a damaged stored file, a local
    /// file that changed): the caller reports it, as an Error in place of
    /// the Commit where the protocol has one (downloads).
    SourceFailed(anyhow::Error),
}

/// How the receiving side of a transfer ended (short of the connection
/// failing, which is an `Err`).
#[derive(Debug)]
pub enum Received {
    /// Every byte arrived and the Commit agrees with the announce: the
    /// sink's owner checks its digest and commits.
    Complete(Commit),
    /// The Commit contradicts what arrived (length, or the announced
    /// digest): this transfer fails with INTEGRITY, the connection goes on.
    Invalid(TransferError),
    /// The sender ended the transfer with an Error.
    Refused { code: u16, message: String },
    /// A refused pipelined upload was read up to its Commit.
    Discarded,
}

/// The peer sent its Close in the middle of a transfer: the transfer is
/// cut (an upload's partial stays for a resume), and nothing more is owed
/// to it; the server ends the connection without an Error or a Close of
/// its own (PROTOCOL.md §7.5.6).
#[derive(Debug, thiserror::Error)]
#[error("the peer closed the connection during a transfer")]
pub struct ClosedMidTransfer;

/// Streams `sender`'s remaining bytes from `source`: a blocking thread
/// reads (and hashes) into record buffers while this task seals and writes
/// each one, so disk, hash, cipher and socket overlap. `between` runs
/// after every record (a client handles replies that have arrived). On
/// success the Commit is queued, not yet written.
pub async fn send<S: Source>(
    writer: &mut SessionWriter,
    sender: &mut Sender,
    mut source: S,
    mut between: impl FnMut(&mut Sender) -> Result<()>,
) -> Result<Sent> {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
    let (spare_tx, spare) = std::sync::mpsc::channel::<Vec<u8>>();
    let (offset, size) = (sender.start(), sender.size());
    let producer = tokio::task::spawn_blocking(move || {
        produce(&mut source, offset, size, &spare, |buf| tx.blocking_send(buf).is_ok())
    });
    while let Some(mut buf) = rx.recv().await {
        sender.on_data(buf.len() - PAYLOAD_OFFSET)?;
        writer.send_data(&mut buf).await?;
        spare_tx.send(buf).ok();
        between(sender)?;
    }
    match producer.await.map_err(|e| anyhow!("file reader: {e}"))? {
        Ok(Some(digest)) => {
            writer.queue(&sender.commit(digest)?)?;
            Ok(Sent::Committed)
        }
        Ok(None) => bail!("the file reader stopped"),
        Err(e) => Ok(Sent::SourceFailed(e)),
    }
}

/// Queues a whole file already read into record buffers (by [`produce`])
/// and its Commit into the write buffer, for one write with its request
/// and the next files (pipelining).
pub fn queue_whole(
    writer: &mut SessionWriter,
    sender: &mut Sender,
    records: &[Vec<u8>],
    digest: [u8; 32],
) -> Result<()> {
    for buf in records {
        let payload = &buf[PAYLOAD_OFFSET..];
        sender.on_data(payload.len())?;
        writer.queue_data(payload)?;
    }
    writer.queue(&sender.commit(digest)?)?;
    Ok(())
}

/// Receives one transfer's records into `sink` up to its Commit (or the
/// sender's Error). Each Data record is checked by `receiver` before the
/// sink sees it, so no byte beyond the announced size is written. With a
/// `writer`, what the sink reports durable is acknowledged as it becomes
/// so. A protocol violation, or the connection ending, is an `Err`.
pub async fn receive<R: Records, K: Sink>(
    records: &mut R,
    mut writer: Option<&mut SessionWriter>,
    receiver: &mut Receiver,
    sink: &mut K,
) -> Result<Received> {
    loop {
        match records.next_record().await? {
            Record::Data(chunk) => {
                if receiver.on_data(chunk.bytes().len())? {
                    sink.write(chunk).await?;
                }
            }
            Record::Message(message) => match receiver.on_message(message) {
                Ok(Step::Started(_)) => {}
                Ok(Step::Complete(commit)) => return Ok(Received::Complete(commit)),
                Ok(Step::Refused { code, message }) => return Ok(Received::Refused { code, message }),
                Ok(Step::Discarded) => return Ok(Received::Discarded),
                Err(e) if e.ends_connection() => return Err(e.into()),
                Err(e) => return Ok(Received::Invalid(e)),
            },
            Record::Closed(_) => return Err(ClosedMidTransfer.into()),
        }
        if let (Some(writer), Some(durable)) = (writer.as_deref_mut(), sink.durable()) {
            if let Some(ack) = receiver.ack(durable) {
                writer.send(&ack).await?;
            }
        }
    }
}

/// Reads the announce of a download: the DownloadStart (`Ok(Some)`), or
/// the sender's refusal (`Ok(None)` with the Error's code and text).
pub async fn started<R: Records>(
    records: &mut R,
    receiver: &mut Receiver,
) -> Result<std::result::Result<FileEntry, (u16, String)>> {
    match records.next_record().await? {
        Record::Message(message) => match receiver.on_message(message)? {
            Step::Started(entry) => Ok(Ok(entry)),
            Step::Refused { code, message } => Ok(Err((code, message))),
            _ => bail!("unexpected reply to a download"),
        },
        Record::Data(_) => Err(TransferError::Protocol("data before the transfer started").into()),
        Record::Closed(_) => bail!("the peer closed the connection"),
    }
}
