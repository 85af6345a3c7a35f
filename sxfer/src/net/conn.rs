//! Drives the sans-IO handshake and connection over a tokio `TcpStream`.
//!
//! After the handshake the stream and the connection are split: a
//! [`SessionReader`] opens records in place in its [`FrameBuffer`], a
//! [`SessionWriter`] seals into its own buffer and writes. Either can live
//! in its own task.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use rand_core::OsRng;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::frames::FrameBuffer;
use sxfer_proto::handshake::client::ExpectServerHello;
use sxfer_proto::handshake::server::{refusal_frame, ExpectClientHello};
use sxfer_proto::handshake::{
    next_hello_frame, next_record_frame, AuthRequest, ClientConfig, Credential, Event, ReceiveHalf, SendHalf,
    ServerConfig, ServerPin,
};
use sxfer_proto::identity::PublicIdentity;
use sxfer_proto::msgs::{ClientId, Message};
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::CloseCode;

/// What the reader saw next.
#[derive(Debug)]
pub enum Incoming<'a> {
    Message(Message),
    Data(&'a [u8]),
    /// The peer closed with an authenticated Close.
    Closed(CloseCode),
}

pub struct SessionReader {
    stream: OwnedReadHalf,
    receive: ReceiveHalf,
    buffer: FrameBuffer,
    pending_consume: usize,
    idle: Duration,
}

pub struct SessionWriter {
    stream: OwnedWriteHalf,
    send: SendHalf,
    out: Vec<u8>,
    /// A write that makes no progress for this long fails, so a peer that
    /// stops reading cannot hold the connection for ever.
    idle: Duration,
}

/// An authenticated client connection.
pub struct ClientSession {
    pub reader: SessionReader,
    pub writer: SessionWriter,
    pub client_id: ClientId,
    pub server_identity: PublicIdentity,
    pub suite: SuiteId,
}

/// Run the client handshake. `decide_pin` sees the server's (already
/// signature-checked) identity and returns the pin to hold it to, or an
/// error to stop before any credential is sent. `credential` is asked for
/// only after the pin check, so a password prompt follows the host-key
/// question, as in ssh.
pub async fn client_handshake<'k>(
    mut stream: TcpStream,
    config: ClientConfig,
    decide_pin: impl FnOnce(&PublicIdentity) -> Result<ServerPin>,
    credential: impl FnOnce() -> Result<Credential<'k>>,
    idle: Duration,
) -> Result<ClientSession> {
    stream.set_nodelay(true).ok();
    let mut buffer = FrameBuffer::default();
    let (state, hello) = ExpectServerHello::start(config, &mut OsRng)?;
    stream.write_all(&hello).await.context("sending ClientHello")?;
    let len = buffer.require(&mut stream, next_hello_frame, idle, "during the handshake").await?;
    let checked = state.read_server_hello(buffer.frame_mut(len))?;
    buffer.consume(len);
    let server_identity = checked.server_identity().clone();
    let suite = checked.suite();
    let pin = decide_pin(&server_identity)?;
    let verified = checked.verify_identity(&pin)?;
    let (state, auth) = verified.authenticate(credential()?)?;
    stream.write_all(&auth).await.context("sending credentials")?;
    let len = buffer.require(&mut stream, next_record_frame, idle, "during authentication").await?;
    let (connection, client_id) = state.read_auth_result(buffer.frame_mut(len))?;
    buffer.consume(len);
    let (send, receive, _exporter) = connection.split();
    let (read_half, write_half) = stream.into_split();
    Ok(ClientSession {
        reader: SessionReader { stream: read_half, receive, buffer, pending_consume: 0, idle },
        writer: SessionWriter { stream: write_half, send, out: Vec::new(), idle },
        client_id,
        server_identity,
        suite,
    })
}

/// How the server application answered an authentication request.
pub enum AuthDecision {
    Accept(ClientId),
    Reject(String),
}

/// Run the server handshake; `authorize` checks the credential against the
/// account store. A rejection is sent to the client and returned as an error.
pub async fn server_handshake<F, Fut>(
    mut stream: TcpStream,
    config: Arc<ServerConfig>,
    authorize: F,
    idle: Duration,
) -> Result<(SessionReader, SessionWriter, ClientId)>
where
    F: FnOnce(AuthRequest) -> Fut,
    Fut: Future<Output = Result<AuthDecision>>,
{
    stream.set_nodelay(true).ok();
    let mut buffer = FrameBuffer::default();
    let len = buffer.require(&mut stream, next_hello_frame, idle, "before its hello").await?;
    let (state, hello) = match ExpectClientHello::new(config).read_client_hello(buffer.frame_mut(len), &mut OsRng) {
        Ok(next) => next,
        Err(error) => {
            // No common version, kex or suite: say so (PROTOCOL.md §4.7).
            if let Some(refusal) = refusal_frame(&error) {
                stream.write_all(&refusal).await.ok();
            }
            return Err(error.into());
        }
    };
    buffer.consume(len);
    stream.write_all(&hello).await?;
    let len = buffer.require(&mut stream, next_record_frame, idle, "before authenticating").await?;
    let pending = state.read_client_auth(buffer.frame_mut(len))?;
    buffer.consume(len);
    let request = pending.request().clone();
    let mut out = Vec::new();
    match authorize(request).await? {
        AuthDecision::Accept(client_id) => {
            let connection = pending.accept(client_id, &mut out)?;
            stream.write_all(&out).await?;
            let (send, receive, _exporter) = connection.split();
            let (read_half, write_half) = stream.into_split();
            Ok((
                SessionReader { stream: read_half, receive, buffer, pending_consume: 0, idle },
                SessionWriter { stream: write_half, send, out: Vec::new(), idle },
                client_id,
            ))
        }
        AuthDecision::Reject(message) => {
            pending.reject(&message, &mut out)?;
            stream.write_all(&out).await.ok();
            stream.shutdown().await.ok();
            bail!("authentication rejected: {message}")
        }
    }
}

impl SessionReader {
    /// The next message, data record or close. End of stream without an
    /// authenticated Close is an error (truncation). A data payload borrows
    /// the receive buffer (decrypted in place) until the next call.
    pub async fn next(&mut self) -> Result<Incoming<'_>> {
        self.buffer.consume(std::mem::take(&mut self.pending_consume));
        loop {
            let Some(len) = self.buffer.fill(&mut self.stream, next_record_frame, self.idle).await? else {
                self.receive.end_of_stream().context("the connection was cut")?;
                bail!("connection ended after close");
            };
            let frame = self.buffer.frame_mut(len);
            let base = frame.as_ptr() as usize;
            let (event, _) = self.receive.read(frame)?.ok_or_else(|| anyhow!("incomplete record"))?;
            let kind = match event {
                Event::Data(bytes) => Kind::Data(bytes.as_ptr() as usize - base, bytes.len()),
                Event::Message(message) => Kind::Message(message),
                Event::KeyUpdate => Kind::KeyUpdate,
                Event::Closed(code) => Kind::Closed(code),
            };
            match kind {
                Kind::KeyUpdate => self.buffer.consume(len),
                Kind::Message(message) => {
                    self.buffer.consume(len);
                    return Ok(Incoming::Message(message));
                }
                Kind::Closed(code) => {
                    self.buffer.consume(len);
                    return Ok(Incoming::Closed(code));
                }
                Kind::Data(offset, data_len) => {
                    self.pending_consume = len;
                    return Ok(Incoming::Data(&self.buffer.frame_mut(len)[offset..offset + data_len]));
                }
            }
        }
    }
}

impl SessionReader {
    /// True if the next record has already arrived (`next` will not wait
    /// for the network): a pipelined request can be handled together with
    /// the one before it.
    pub fn has_buffered_record(&self) -> bool {
        self.pending_consume == 0 && self.buffer.has_frame(next_record_frame)
    }
}

/// Writes all of `buf`, failing if the peer takes no byte for `idle`.
async fn write_all(stream: &mut (impl tokio::io::AsyncWrite + Unpin), mut buf: &[u8], idle: Duration) -> Result<()> {
    while !buf.is_empty() {
        let written = tokio::time::timeout(idle, stream.write(buf))
            .await
            .map_err(|_| anyhow!("the peer took no data for {} s", idle.as_secs()))?
            .context("writing to the connection")?;
        if written == 0 {
            bail!("writing to the connection: it is closed");
        }
        buf = &buf[written..];
    }
    Ok(())
}

/// An event with the data payload as a position, so the buffer borrow ends.
enum Kind {
    Message(Message),
    Data(usize, usize),
    KeyUpdate,
    Closed(CloseCode),
}

impl SessionWriter {
    /// Seal `message` into the outgoing buffer without writing yet.
    pub fn queue(&mut self, message: &Message) -> Result<()> {
        self.send.send_message(message, &mut self.out)?;
        Ok(())
    }

    /// Seal a (small) data record into the outgoing buffer, copying
    /// `data`, without writing yet.
    pub fn queue_data(&mut self, data: &[u8]) -> Result<()> {
        self.send.send_data(data, &mut self.out)?;
        Ok(())
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.out.len()
    }

    /// Write everything queued.
    pub async fn flush(&mut self) -> Result<()> {
        if !self.out.is_empty() {
            write_all(&mut self.stream, &self.out, self.idle).await?;
            self.out.clear();
        }
        Ok(())
    }

    pub async fn send(&mut self, message: &Message) -> Result<()> {
        self.queue(message)?;
        self.flush().await
    }

    /// Seal and write a data record whose payload the caller placed at
    /// `buf[PAYLOAD_OFFSET..]` (see `Sealer::record_capacity`). Anything
    /// queued goes first.
    pub async fn send_data(&mut self, buf: &mut Vec<u8>) -> Result<()> {
        self.flush().await?;
        self.send.seal_data_in_place(buf, 0)?;
        write_all(&mut self.stream, buf, self.idle).await?;
        Ok(())
    }

    /// Send an authenticated Close and shut the write side.
    pub async fn close(&mut self, code: CloseCode) -> Result<()> {
        self.send.close(code, &mut self.out)?;
        self.flush().await?;
        self.stream.shutdown().await.ok();
        Ok(())
    }
}
