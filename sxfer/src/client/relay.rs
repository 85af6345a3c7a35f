//! Rendezvous through a server's relay (PROTOCOL.md §12): create a
//! nameplate and wait for the peer, or join one; either way the result is
//! the raw relayed stream, on which the two peers then run their own
//! SXFR/1 handshake (the creator as its server). The sxfer server between
//! them only copies bytes.
//!
//! ```text
//! let rendezvous = relay::create(remote).await?;      // RelayCreate -> RelayNameplate
//! show(rendezvous.nameplate());                       // 42-amber-falcon-harbor
//! let stream = rendezvous.wait().await?;              // -> RelayStart
//! // or, on the other side:
//! let stream = relay::join(remote, nameplate).await?; // RelayJoin -> RelayStart
//! ```

use std::time::Duration;

use anyhow::{anyhow, bail, Result};

use super::{Remote, SessionEnded};
use crate::net::conn::{ByteStream, Incoming, SessionReader, SessionWriter};
use crate::net::raw::RawStream;
use sxfer_proto::msgs::{Message, Nameplate, Relay};
use sxfer_proto::names::display_safe;
use sxfer_proto::CloseCode;

/// How much longer than the nameplate's lifetime the creator waits for
/// the server's RelayStart or its Error saying the nameplate expired.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// The server refused a relay request or ended the rendezvous: its Error
/// code (PROTOCOL.md §7.4, e.g. NOT_FOUND for an unknown nameplate,
/// EXPIRED, LIMIT, REFUSED) and message.
#[derive(Debug, thiserror::Error)]
#[error("{}", display_safe(.message))]
pub struct RelayRefused {
    pub code: u16,
    pub message: String,
}

/// A nameplate this client holds on the server, waiting for the peer.
pub struct Rendezvous {
    reader: SessionReader,
    writer: SessionWriter,
    transfer: u32,
    nameplate: Nameplate,
    expires_in: Duration,
}

/// Ask the server behind `remote` (logged in, or anonymous where its relay
/// is open) for a nameplate. The session is given up to the rendezvous.
pub async fn create(mut remote: Remote) -> Result<Rendezvous> {
    let transfer = remote.transfer_id();
    let (mut reader, mut writer) = remote.into_session().await?;
    writer.send(&Message::Relay { transfer, relay: Relay::Create }).await?;
    match reply(&mut reader, transfer).await? {
        Relay::Nameplate { nameplate, expires_in_secs } => Ok(Rendezvous {
            reader,
            writer,
            transfer,
            nameplate,
            expires_in: Duration::from_secs(expires_in_secs.into()),
        }),
        other => bail!("the server answered RelayCreate with {other:?}"),
    }
}

/// Join the rendezvous `nameplate` on the server behind `remote`; returns
/// the relayed stream to the creator.
pub async fn join(mut remote: Remote, nameplate: Nameplate) -> Result<Box<dyn ByteStream>> {
    let transfer = remote.transfer_id();
    let (mut reader, mut writer) = remote.into_session().await?;
    writer.send(&Message::Relay { transfer, relay: Relay::Join { nameplate } }).await?;
    match reply(&mut reader, transfer).await? {
        Relay::Start => relayed(reader, writer).await,
        other => bail!("the server answered RelayJoin with {other:?}"),
    }
}

impl Rendezvous {
    /// The nameplate to pass to the peer (the first part of the code).
    pub fn nameplate(&self) -> Nameplate {
        self.nameplate
    }

    /// How long the server waits for the peer to join.
    pub fn expires_in(&self) -> Duration {
        self.expires_in
    }

    /// Wait until the peer has joined; returns the relayed stream to it.
    /// Bytes the peer sent at once are not lost: they come first.
    pub async fn wait(mut self) -> Result<Box<dyn ByteStream>> {
        self.reader.set_idle_timeout(self.expires_in + EXPIRY_MARGIN);
        match reply(&mut self.reader, self.transfer).await? {
            Relay::Start => relayed(self.reader, self.writer).await,
            other => bail!("the server sent {other:?} instead of RelayStart"),
        }
    }

    /// Give the nameplate up: Close, and the server's Close.
    pub async fn cancel(mut self) -> Result<()> {
        self.writer.close(CloseCode::Normal).await?;
        loop {
            match self.reader.next().await? {
                Incoming::Closed(_) => return Ok(()),
                // RelayStart crossed our Close: the raw stream follows; drop it.
                Incoming::Message(Message::Relay { relay: Relay::Start, .. }) => return Ok(()),
                Incoming::Message(_) | Incoming::Data(_) => {}
            }
        }
    }
}

/// The stream after RelayStart, with what the session read past it.
async fn relayed(reader: SessionReader, writer: SessionWriter) -> Result<Box<dyn ByteStream>> {
    Ok(Box::new(RawStream::after_session(reader, writer).await?))
}

/// The server's reply to relay request `transfer`.
async fn reply(reader: &mut SessionReader, transfer: u32) -> Result<Relay> {
    match reader.next().await? {
        Incoming::Message(Message::Relay { transfer: t, relay }) if t == transfer => Ok(relay),
        Incoming::Message(Message::Error { transfer: 0, code, message }) => Err(SessionEnded { code, message }.into()),
        Incoming::Message(Message::Error { transfer: t, code, message }) if t == transfer => {
            Err(RelayRefused { code, message }.into())
        }
        Incoming::Closed(code) => Err(anyhow!("the server closed the connection ({code})")),
        Incoming::Message(other) => bail!("unexpected reply to a relay request: {other:?}"),
        Incoming::Data(_) => bail!("the server sent data where a relay reply was expected"),
    }
}
