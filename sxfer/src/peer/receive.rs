//! The receiving side of a peer session (PROTOCOL.md §13.4): read the
//! whole offer, plan where it lands, let the user decide, then take each
//! upload as the server would, but into a `PartialFile` under `--out`,
//! verified (the whole file's BLAKE3) before it takes its final name.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Result};

use super::landing::Landing;
use super::{Session, OFFER_TRANSFER};
use crate::client::download::{self, Counted};
use crate::engine::{self, BufferPool, PartialFile};
use crate::net::conn::{Incoming, SessionReader, SessionWriter};
use crate::output::{Output, Progress};
use sxfer_proto::manifest::{Manifest, OfferReader};
use sxfer_proto::msgs::app::error_code;
use sxfer_proto::msgs::{FileEntry, Message, OfferAnswer};
use sxfer_proto::transfer::Receiver;
use sxfer_proto::CloseCode;

/// How the receiver lands files.
#[derive(Debug, Clone)]
pub struct ReceiveOptions {
    pub out: PathBuf,
    /// Replace existing files.
    pub force: bool,
}

/// Nothing was received: the offer was declined here (by the user, or
/// because it could not land); the sender was told why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// How long a connected sender has to make its offer.
pub const OFFER_WAIT: Duration = Duration::from_secs(30);

/// Receives one offer over `session`. `decide` sees the checked manifest
/// (already shown) and says whether to take it; it runs on a blocking
/// thread, so it may ask on the terminal.
pub async fn receive(
    session: Session,
    options: &ReceiveOptions,
    decide: impl FnOnce(&Manifest, &str) -> Result<bool> + Send + 'static,
    output: &Output,
) -> Result<()> {
    let Session { mut reader, mut writer, peer, .. } = session;
    let offer = tokio::time::timeout(OFFER_WAIT, read_offer(&mut reader)).await;
    let manifest = match offer.map_err(|_| anyhow!("no offer within {} s", OFFER_WAIT.as_secs())).and_then(|m| m) {
        Ok(manifest) => Arc::new(manifest),
        Err(e) => {
            // A manifest that breaks §13.3 is a protocol violation; bytes
            // that do not decode end the connection without a Close.
            if let Some(sxfer_proto::Error::PeerMisbehaved(_)) = e.downcast_ref() {
                writer.close(CloseCode::ProtocolViolation).await.ok();
            }
            return Err(e);
        }
    };
    let (shared, out, force) = (manifest.clone(), options.out.clone(), options.force);
    let mut landing = match blocking(move || Landing::plan(&shared, &out, force)).await {
        Ok(landing) => landing,
        Err(e) => return decline(&mut writer, format!("{e:#}")).await,
    };
    output.offer(&manifest, &peer);
    let (shared, who) = (manifest.clone(), peer.clone());
    if !blocking(move || decide(&shared, &who)).await? {
        return decline(&mut writer, "the receiver declined the offer".into()).await;
    }
    landing = match blocking(move || landing.make_directories().map(|()| landing)).await {
        Ok(landing) => landing,
        Err(e) => return decline(&mut writer, format!("cannot make the directories: {e:#}")).await,
    };
    writer
        .send(&Message::OfferReply { transfer: OFFER_TRANSFER, answer: OfferAnswer::Accept(landing.wants()) })
        .await?;
    let progress = output.progress(landing.bytes_wanted(), "receive");
    let received = receive_files(&mut reader, &mut writer, &mut landing, options.force, &progress, output).await;
    progress.finish();
    let failures = match received {
        Ok(failures) => failures,
        Err(e) => {
            if e.downcast_ref::<OutOfStep>().is_some() {
                writer.close(CloseCode::ProtocolViolation).await.ok();
            }
            return Err(e);
        }
    };
    writer.close(CloseCode::Normal).await.ok();
    let landing = blocking(move || landing.finish_directories().map(|()| landing)).await?;
    match (failures.as_slice(), landing.pending()) {
        ([], 0) => Ok(()),
        ([], missing) => bail!("the sender stopped with {missing} of the offered files not sent"),
        ([only], _) => bail!("{only}"),
        ([first, ..], _) => bail!("{} files failed; first: {first}", failures.len()),
    }
}

/// The sender broke the peer protocol (an upload nobody offered, …).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct OutOfStep(String);

async fn read_offer(reader: &mut SessionReader) -> Result<Manifest> {
    let mut offer = OfferReader::default();
    loop {
        match reader.next().await? {
            Incoming::Message(message) => {
                if let Some(manifest) = offer.on_message(message)? {
                    return Ok(manifest);
                }
            }
            Incoming::Data(_) => bail!("the sender sent data before its offer"),
            Incoming::Closed(code) => bail!("the sender closed the connection ({code})"),
        }
    }
}

async fn decline(writer: &mut SessionWriter, reason: String) -> Result<()> {
    let answer = OfferAnswer::Decline(reason.clone());
    writer.send(&Message::OfferReply { transfer: OFFER_TRANSFER, answer }).await.ok();
    writer.close(CloseCode::Normal).await.ok();
    Err(Refused(reason).into())
}

/// Takes uploads until every wanted file is in or the sender closes; the
/// files that failed (each already reported to the sender) come back.
async fn receive_files(
    reader: &mut SessionReader,
    writer: &mut SessionWriter,
    landing: &mut Landing,
    force: bool,
    progress: &Progress,
    output: &Output,
) -> Result<Vec<String>> {
    let buffers = BufferPool::default();
    let mut failures = Vec::new();
    loop {
        if landing.pending() == 0 {
            // Every file is in place: the sender's Close is all that is
            // due, and if the connection ends without it, nothing is lost.
            return match reader.next().await {
                Ok(Incoming::Closed(_)) | Err(_) => Ok(failures),
                Ok(_) => Err(OutOfStep("the sender sent more than it offered".into()).into()),
            };
        }
        let (transfer, name, meta, resume) = match reader.next().await? {
            Incoming::Message(Message::Upload { transfer, name, meta, resume }) => (transfer, name, meta, resume),
            Incoming::Closed(_) => return Ok(failures),
            Incoming::Message(other) => return Err(OutOfStep(format!("unexpected {other:?} from the sender")).into()),
            Incoming::Data(_) => return Err(OutOfStep("data outside an upload".into()).into()),
        };
        let target = landing.start(&name, &meta).map_err(|e| OutOfStep(format!("{e:#}")))?;
        let (local, partial) = (target.local.clone(), target.partial.clone());
        let mut offset = if resume { download::partial_length(&partial)? } else { 0 };
        if offset > meta.size {
            offset = 0;
        }
        if resume {
            writer.send(&Message::UploadReady { transfer, offset }).await?;
        }
        if offset > 0 {
            output.note(&format!("resuming {name} at byte {offset}"));
        }
        progress.inc(offset);
        let mut receiver = Receiver::accept_upload(transfer, meta.size, offset)?;
        let mut sink = Counted { progress, inner: PartialFile::start(&partial, offset, buffers.clone()) };
        let received = engine::receive(reader, Some(writer), &mut receiver, &mut sink).await;
        let written = sink.inner.finish().await;
        let outcome = match (received?, written) {
            (engine::Received::Complete(commit), Ok(written)) => {
                match receiver.verify(&commit, written.length, &written.digest) {
                    Ok(()) => {
                        let entry = FileEntry { name: name.clone(), meta, digest: commit.digest, stored: now() };
                        place(written.file, &partial, &local, entry, force).await
                    }
                    Err(e) => {
                        std::fs::remove_file(&partial).ok();
                        Err((e.error_code(), format!("{e}; the partial file was removed")))
                    }
                }
            }
            (engine::Received::Invalid(e), _) => {
                std::fs::remove_file(&partial).ok();
                Err((e.error_code(), format!("{e}; the partial file was removed")))
            }
            (engine::Received::Complete(_), Err(e)) => Err((error_code::INTERNAL, format!("{e:#}"))),
            (other, _) => return Err(OutOfStep(format!("the upload of {name} ended as {other:?}")).into()),
        };
        match outcome {
            Ok(entry) => {
                output.received(&entry, &local);
                writer.send(&Message::Committed { transfer, entry }).await?;
            }
            Err((code, message)) => {
                let message = format!("{name}: {message}");
                output.failure(&message);
                writer.send(&Message::Error { transfer, code, message: message.clone() }).await?;
                failures.push(message);
            }
        }
    }
}

/// Makes a verified partial durable and gives it its final name
/// (blocking work, on a blocking thread).
async fn place(
    file: std::fs::File,
    partial: &Path,
    local: &Path,
    entry: FileEntry,
    force: bool,
) -> Result<FileEntry, (u16, String)> {
    let (partial, local) = (partial.to_owned(), local.to_owned());
    blocking(move || download::finish(file, &partial, &local, &entry, force).map(|()| entry))
        .await
        .map_err(|e| (error_code::INTERNAL, format!("{e:#}")))
}

/// Runs blocking file-system work (thousands of stats, mkdirs) or a
/// question on the terminal off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| anyhow!("file task: {e}"))?
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
