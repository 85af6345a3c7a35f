//! Drives the sans-IO handshake and connection over any byte stream: a
//! `TcpStream`, a relayed stream, or `tokio::io::duplex` in tests.
//!
//! The stream is split into boxed halves at once (a `TcpStream` with
//! `into_split`, which takes no lock; anything else with `tokio::io::split`).
//! After the handshake a [`SessionReader`] opens records in place in its
//! [`FrameBuffer`], a [`SessionWriter`] seals into its own buffer and
//! writes. Either can live in its own task.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use rand_core::OsRng;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::frames::FrameBuffer;
use sxfer_proto::handshake::client::ExpectServerHello;
use sxfer_proto::handshake::server::{refusal_frame, AuthPending, ExpectClientHello};
use sxfer_proto::handshake::{
    next_auth_frame, next_hello_frame, next_record_frame, AuthRequest, ClientConfig, Connection, Credential, Event,
    ReceiveHalf, SendHalf, ServerConfig, ServerPin, PAKE_CLIENT_ID,
};
use sxfer_proto::identity::PublicIdentity;
use sxfer_proto::msgs::{ClientId, Message};
use sxfer_proto::pake::PakePassword;
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::secret::SecretBytes;
use sxfer_proto::CloseCode;

/// What a session can run over.
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<S: AsyncRead + AsyncWrite + Send + Unpin + 'static> ByteStream for S {}

/// The halves a session runs over.
pub type ReadStream = Box<dyn AsyncRead + Send + Unpin>;
pub type WriteStream = Box<dyn AsyncWrite + Send + Unpin>;

/// What the reader saw next.
#[derive(Debug)]
pub enum Incoming<'a> {
    Message(Message),
    Data(&'a [u8]),
    /// The peer closed with an authenticated Close.
    Closed(CloseCode),
}

pub struct SessionReader {
    stream: ReadStream,
    receive: ReceiveHalf,
    buffer: FrameBuffer,
    pending_consume: usize,
    idle: Duration,
}

pub struct SessionWriter {
    stream: WriteStream,
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
    /// [`PAKE_CLIENT_ID`] after a short-code PAKE (a peer has no account).
    pub client_id: ClientId,
    pub server_identity: PublicIdentity,
    pub suite: SuiteId,
    /// The secret both ends share for channel binding (PROTOCOL.md §4.5;
    /// after a PAKE, exporter' of §4.6.3).
    pub exporter: SecretBytes,
}

/// An authenticated connection on the server, with what `authorize`
/// yielded for it (the account, a session permit, ...).
pub struct ServerSession<T> {
    pub reader: SessionReader,
    pub writer: SessionWriter,
    /// [`PAKE_CLIENT_ID`] after a short-code PAKE.
    pub client_id: ClientId,
    pub user: T,
    /// As [`ClientSession::exporter`].
    pub exporter: SecretBytes,
}

/// True if `error` is a short code that did not confirm
/// ([`sxfer_proto::Error::WrongCode`]). On the server (listener) side it is
/// true for every failure after the PAKE answer went out, because from then
/// on the peer could test one guess at the code: the code is burnt.
pub fn is_wrong_code(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.downcast_ref::<sxfer_proto::Error>() == Some(&sxfer_proto::Error::WrongCode))
}

/// Run the client handshake. `decide_pin` sees the server's (already
/// signature-checked) identity and returns the pin to hold it to, or an
/// error to stop before any credential is sent. `credential` is asked for
/// only after the pin check, so a password prompt follows the host-key
/// question, as in ssh.
///
/// Short-code mode: `decide_pin` returns [`ServerPin::PakeOnly`] (or a real
/// pin) and `credential` a `Credential::Pake`; the session is returned only
/// after the server's key confirmation checked out and the client's was
/// sent. A wrong code is an error for which [`is_wrong_code`] holds; the
/// server has then been sent Close(0x0005).
pub async fn client_handshake<'k>(
    stream: impl ByteStream,
    config: ClientConfig,
    decide_pin: impl FnOnce(&PublicIdentity) -> Result<ServerPin>,
    credential: impl FnOnce() -> Result<Credential<'k>>,
    idle: Duration,
) -> Result<ClientSession> {
    let (mut read, mut write) = into_halves(stream);
    let mut buffer = FrameBuffer::default();
    let (state, hello) = ExpectServerHello::start(config, &mut OsRng)?;
    write.write_all(&hello).await.context("sending ClientHello")?;
    let len = buffer.require(&mut read, next_hello_frame, idle, "during the handshake").await?;
    let checked = state.read_server_hello(buffer.frame_mut(len))?;
    buffer.consume(len);
    let server_identity = checked.server_identity().clone();
    let suite = checked.suite();
    let pin = decide_pin(&server_identity)?;
    let verified = checked.verify_identity(&pin)?;
    let (state, auth) = verified.authenticate(credential()?)?;
    write.write_all(&auth).await.context("sending credentials")?;
    let len = buffer.require(&mut read, next_auth_frame, idle, "during authentication").await?;
    // After a PAKE: the PakeConfirm, or the Close for a wrong code.
    let mut reply = Vec::new();
    let result = state.read_auth_result(buffer.frame_mut(len), &mut reply);
    buffer.consume(len);
    if result.is_err() && !reply.is_empty() {
        last_words(&mut write, &reply).await;
    }
    let (connection, client_id) = result?;
    write.write_all(&reply).await.context("sending the key confirmation")?;
    let (reader, writer, exporter) = session_halves(connection, read, write, buffer, idle);
    Ok(ClientSession { reader, writer, client_id, server_identity, suite, exporter })
}

/// How the server application answered an authentication request.
pub enum AuthDecision<T> {
    Accept(ClientId, T),
    /// Run the short-code PAKE of an [`AuthRequest::Pake`] with this
    /// password; the session exists only if the client confirms.
    AcceptPake(PakePassword, T),
    Reject(String),
}

/// Run the server handshake.
///
/// `hello_received` is called once a complete ClientHello frame is in,
/// before any expensive work: it returns when the server may spend a
/// signature and a key encapsulation on this client, and what it returns (a
/// permit) is held until the ServerHello is made, on a blocking thread.
/// `authorize` checks the credential against the account store; what it
/// accepts with comes back in the [`ServerSession`]. A rejection is sent to
/// the client and returned as an error. After [`AuthDecision::AcceptPake`]
/// any failure is one for which [`is_wrong_code`] holds (burn the code).
pub async fn server_handshake<T, Permit, Hello, Authorize, Decided>(
    stream: impl ByteStream,
    config: Arc<ServerConfig>,
    hello_received: impl FnOnce() -> Hello,
    authorize: Authorize,
    idle: Duration,
) -> Result<ServerSession<T>>
where
    Hello: Future<Output = Result<Permit>>,
    Authorize: FnOnce(AuthRequest) -> Decided,
    Decided: Future<Output = Result<AuthDecision<T>>>,
{
    let (mut read, mut write) = into_halves(stream);
    let mut buffer = FrameBuffer::default();
    let len = buffer.require(&mut read, next_hello_frame, idle, "before its hello").await?;
    let client_hello = buffer.frame_mut(len).to_vec();
    buffer.consume(len);
    let permit = hello_received().await?;
    let answered = tokio::task::spawn_blocking(move || {
        ExpectClientHello::new(config).read_client_hello(&client_hello, &mut OsRng)
    })
    .await
    .map_err(|e| anyhow!("the handshake task failed: {e}"))?;
    drop(permit);
    let (state, hello) = match answered {
        Ok(next) => next,
        Err(error) => {
            // No common version, kex or suite: say so (PROTOCOL.md §4.7).
            if let Some(refusal) = refusal_frame(&error) {
                write.write_all(&refusal).await.ok();
            }
            return Err(error.into());
        }
    };
    write.write_all(&hello).await?;
    let len = buffer.require(&mut read, next_auth_frame, idle, "before authenticating").await?;
    let pending = state.read_client_auth(buffer.frame_mut(len))?;
    buffer.consume(len);
    let request = pending.request().clone();
    let mut out = Vec::new();
    let (connection, client_id, user) = match authorize(request).await? {
        AuthDecision::Accept(client_id, user) => {
            let connection = pending.accept(client_id, &mut out)?;
            write.write_all(&out).await?;
            (connection, client_id, user)
        }
        AuthDecision::AcceptPake(password, user) => {
            // The peer may now test one guess: every failure burns the code.
            let connection = match run_pake(pending, &password, &mut read, &mut write, &mut buffer, idle).await {
                Ok(connection) => connection,
                Err(e) if is_wrong_code(&e) => return Err(e),
                Err(e) => return Err(anyhow!(sxfer_proto::Error::WrongCode).context(format!("{e:#}"))),
            };
            (connection, PAKE_CLIENT_ID, user)
        }
        AuthDecision::Reject(message) => {
            pending.reject(&message, &mut out)?;
            last_words(&mut write, &out).await;
            bail!("authentication rejected: {message}")
        }
    };
    let (reader, writer, exporter) = session_halves(connection, read, write, buffer, idle);
    Ok(ServerSession { reader, writer, client_id, user, exporter })
}

/// The session's reader and writer over an established connection, and
/// its exporter.
fn session_halves(
    connection: Connection,
    read: ReadStream,
    write: WriteStream,
    buffer: FrameBuffer,
    idle: Duration,
) -> (SessionReader, SessionWriter, SecretBytes) {
    let (send, receive, exporter) = connection.split();
    let reader = SessionReader { stream: read, receive, buffer, pending_consume: 0, idle };
    (reader, SessionWriter { stream: write, send, out: Vec::new(), idle }, exporter)
}

/// Best effort: send what ends the connection (a Close) and shut the write
/// side; the error that ended it is what gets reported.
async fn last_words(write: &mut WriteStream, bytes: &[u8]) {
    write.write_all(bytes).await.ok();
    write.shutdown().await.ok();
}

/// The server's PAKE round trip: AuthResult(pake) out, PakeConfirm in. On a
/// wrong code the client is sent Close(0x0005).
async fn run_pake(
    pending: AuthPending,
    password: &PakePassword,
    read: &mut ReadStream,
    write: &mut WriteStream,
    buffer: &mut FrameBuffer,
    idle: Duration,
) -> Result<Connection> {
    let mut out = Vec::new();
    let state = pending.accept_pake(password, &mut OsRng, &mut out)?;
    write.write_all(&out).await.context("sending the PAKE answer")?;
    let len = buffer.require(read, next_auth_frame, idle, "before confirming the code").await?;
    out.clear();
    let confirmed = state.read_pake_confirm(buffer.frame_mut(len), &mut out);
    buffer.consume(len);
    if confirmed.is_err() && !out.is_empty() {
        last_words(write, &out).await;
    }
    Ok(confirmed?)
}

/// Split `stream` into boxed halves: a `TcpStream` without a lock, any
/// other stream through `tokio::io::split`.
fn into_halves<S: ByteStream>(stream: S) -> (ReadStream, WriteStream) {
    let mut slot = Some(stream);
    let tcp = (&mut slot as &mut dyn Any).downcast_mut::<Option<TcpStream>>().and_then(Option::take);
    match (tcp, slot) {
        (Some(tcp), _) => {
            let (read, write) = tcp.into_split();
            (Box::new(read), Box::new(write))
        }
        (None, Some(stream)) => {
            let (read, write) = tokio::io::split(stream);
            (Box::new(read), Box::new(write))
        }
        (None, None) => unreachable!("the slot is emptied only when it holds a TcpStream"),
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
    /// Give up the session and hand over its read half, with the bytes
    /// already read from it past the last record returned: what follows the
    /// session on the stream (a relayed stream, PROTOCOL.md §12) starts
    /// with them.
    pub fn into_stream(mut self) -> (ReadStream, Vec<u8>) {
        self.buffer.consume(std::mem::take(&mut self.pending_consume));
        let leftover = self.buffer.take_buffered();
        (self.stream, leftover)
    }

    /// How long a read may wait for the peer from now on.
    pub fn set_idle_timeout(&mut self, idle: Duration) {
        self.idle = idle;
    }

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

    /// Seal `body` as a Message record as it is, unchecked, without writing
    /// yet: for tests that play a hostile peer.
    pub fn queue_raw_message_for_testing_only(&mut self, body: &[u8]) -> Result<()> {
        self.send.send_raw_message_for_testing_only(body, &mut self.out)?;
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

    /// Give up the session and hand over its write half (after writing
    /// anything still queued).
    pub async fn into_stream(mut self) -> Result<WriteStream> {
        self.flush().await?;
        Ok(self.stream)
    }

    /// Send an authenticated Close and shut the write side.
    pub async fn close(&mut self, code: CloseCode) -> Result<()> {
        self.send.close(code, &mut self.out)?;
        self.flush().await?;
        self.stream.shutdown().await.ok();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sxfer_proto::handshake::ServerPin;
    use sxfer_proto::identity::PrivateIdentity;
    use sxfer_proto::msgs::Username;
    use sxfer_proto::secret::Password;

    const IDLE: Duration = Duration::from_secs(30);

    /// A server handshake on one end of an in-memory stream; returns the
    /// other end and the pin for the server's key.
    fn spawn_server<T, Decided>(
        authorize: impl FnOnce(AuthRequest) -> Decided + Send + 'static,
    ) -> (tokio::task::JoinHandle<Result<ServerSession<T>>>, tokio::io::DuplexStream, ServerPin)
    where
        T: Send + 'static,
        Decided: Future<Output = Result<AuthDecision<T>>> + Send + 'static,
    {
        let identity = PrivateIdentity::generate_ed25519(&mut OsRng).unwrap();
        let pin = ServerPin::Fingerprint(identity.public().fingerprint());
        let config = Arc::new(ServerConfig::new(Arc::new(identity)));
        let (client_io, server_io) = tokio::io::duplex(1 << 20);
        let server = tokio::spawn(server_handshake(server_io, config, || async { Ok(()) }, authorize, IDLE));
        (server, client_io, pin)
    }

    fn password(username: &str) -> Credential<'static> {
        Credential::Password { username: Username::parse(username).unwrap(), password: Password::new("pw".into()) }
    }

    /// A full handshake, messages and data both ways, and Close, over an
    /// in-memory stream: the session layer needs no socket.
    #[tokio::test]
    async fn a_session_runs_over_an_in_memory_duplex_stream() {
        let (server, client_io, pin) = spawn_server(|request| async move {
            let AuthRequest::Password { username, .. } = request else { bail!("expected a password") };
            Ok(AuthDecision::Accept(ClientId([7; 16]), username))
        });
        let client =
            client_handshake(client_io, ClientConfig::default(), |_| Ok(pin), || Ok(password("alice")), IDLE).await;
        let mut client = client.unwrap();
        let mut server = server.await.unwrap().unwrap();
        assert_eq!(client.client_id, ClientId([7; 16]));
        assert_eq!(server.user.as_str(), "alice", "authorize's value comes back with the session");

        client.writer.queue(&Message::Ack { transfer: 1, offset: 42 }).unwrap();
        client.writer.queue_data(b"hello over duplex").unwrap();
        assert!(client.writer.queued() > 0);
        client.writer.flush().await.unwrap();
        match server.reader.next().await.unwrap() {
            Incoming::Message(Message::Ack { transfer: 1, offset: 42 }) => {}
            other => panic!("expected the Ack, got {other:?}"),
        }
        match server.reader.next().await.unwrap() {
            Incoming::Data(bytes) => assert_eq!(bytes, b"hello over duplex"),
            other => panic!("expected data, got {other:?}"),
        }
        // A data record larger than the initial receive buffer.
        let payload = vec![0x5a; 200_000];
        let mut record = [&[0; sxfer_proto::record::PAYLOAD_OFFSET][..], &payload].concat();
        server.writer.send_data(&mut record).await.unwrap();
        server.writer.send(&Message::Done { transfer: 1 }).await.unwrap();
        match client.reader.next().await.unwrap() {
            Incoming::Data(bytes) => assert!(bytes == payload.as_slice()),
            other => panic!("expected data, got {other:?}"),
        }
        assert!(matches!(client.reader.next().await.unwrap(), Incoming::Message(Message::Done { transfer: 1 })));
        client.writer.close(CloseCode::Normal).await.unwrap();
        assert!(matches!(server.reader.next().await.unwrap(), Incoming::Closed(CloseCode::Normal)));
        server.writer.close(CloseCode::Normal).await.unwrap();
        assert!(matches!(client.reader.next().await.unwrap(), Incoming::Closed(CloseCode::Normal)));
    }

    fn code_password(code: &str) -> PakePassword {
        sxfer_proto::pake::Code::parse(code).unwrap().password(sxfer_proto::pake::PasswordScope::WholeCode)
    }

    /// An unpinned client with `code` against a listener holding `listener_code`.
    async fn pake_sessions(code: &str, listener_code: &str) -> (Result<ClientSession>, Result<ServerSession<()>>) {
        let listener_password = code_password(listener_code);
        let (server, client_io, _pin) = spawn_server(move |request| async move {
            let AuthRequest::Pake = request else { bail!("expected a PAKE") };
            Ok(AuthDecision::AcceptPake(listener_password, ()))
        });
        let password = code_password(code);
        let credential = move || Ok(Credential::Pake(sxfer_proto::pake::PakeCredential::new(&password, &mut OsRng)));
        let client =
            client_handshake(client_io, ClientConfig::default(), |_| Ok(ServerPin::PakeOnly), credential, IDLE);
        let client = client.await;
        (client, server.await.unwrap())
    }

    #[tokio::test]
    async fn the_right_code_gives_both_sides_a_ready_session_over_duplex() {
        let (client, server) = pake_sessions("12-amber-falcon-harbor", "12-amber-falcon-harbor").await;
        let (mut client, mut server) = (client.unwrap(), server.unwrap());
        assert_eq!(client.exporter, server.exporter);
        assert_eq!((client.client_id, server.client_id), (PAKE_CLIENT_ID, PAKE_CLIENT_ID));
        client.writer.send(&Message::Ack { transfer: 1, offset: 2 }).await.unwrap();
        assert!(matches!(
            server.reader.next().await.unwrap(),
            Incoming::Message(Message::Ack { transfer: 1, offset: 2 })
        ));
        server.writer.send(&Message::Done { transfer: 1 }).await.unwrap();
        assert!(matches!(client.reader.next().await.unwrap(), Incoming::Message(Message::Done { transfer: 1 })));
    }

    #[tokio::test]
    async fn a_wrong_code_is_reported_as_such_on_both_sides() {
        let (client, server) = pake_sessions("12-amber-falcon-harbor", "12-amber-falcon-heart").await;
        let (client, server) = (client.err().unwrap(), server.err().unwrap());
        assert!(is_wrong_code(&client), "{client:#}");
        assert!(is_wrong_code(&server), "{server:#}");
        assert!(format!("{client:#}").contains("wrong code"), "{client:#}");
    }

    /// A peer that takes the PAKE answer and leaves (it can now test one
    /// guess offline) burns the code as surely as a wrong confirm.
    #[tokio::test]
    async fn a_peer_that_leaves_after_the_pake_answer_burns_the_code() {
        let listener_password = code_password("5-acorn-acorn-acorn");
        let (server, mut client_io, _pin) =
            spawn_server(move |_| async move { Ok(AuthDecision::AcceptPake(listener_password, ())) });
        let (state, hello) = ExpectServerHello::start(ClientConfig::default(), &mut OsRng).unwrap();
        client_io.write_all(&hello).await.unwrap();
        let mut buffer = FrameBuffer::default();
        let len = buffer.require(&mut client_io, next_hello_frame, IDLE, "test").await.unwrap();
        let verified = state.read_server_hello(buffer.frame_mut(len)).unwrap().verify_identity(&ServerPin::PakeOnly);
        buffer.consume(len);
        let guess = sxfer_proto::pake::PakeCredential::new(&code_password("5-acorn-acorn-agent"), &mut OsRng);
        let (_state, auth) = verified.unwrap().authenticate(Credential::Pake(guess)).unwrap();
        client_io.write_all(&auth).await.unwrap();
        buffer.require(&mut client_io, next_auth_frame, IDLE, "test").await.unwrap();
        drop(client_io);
        let error = server.await.unwrap().err().unwrap();
        assert!(is_wrong_code(&error), "{error:#}");
    }

    /// Bytes that follow a session's last record on the stream, read ahead
    /// with it into the receive buffer, come back with the stream.
    #[tokio::test]
    async fn a_handed_over_stream_keeps_the_bytes_read_past_the_last_record() {
        let (server, client_io, pin) = spawn_server(|_| async { Ok(AuthDecision::Accept(ClientId([1; 16]), ())) });
        let client =
            client_handshake(client_io, ClientConfig::default(), |_| Ok(pin), || Ok(password("alice")), IDLE).await;
        let ClientSession { mut reader, writer, .. } = client.unwrap();
        let mut server = server.await.unwrap().unwrap();
        // One write: a record, then raw bytes that are no record at all.
        server.writer.queue(&Message::Done { transfer: 3 }).unwrap();
        server.writer.out.extend_from_slice(b"\xff\xff\xff\xff raw bytes after the session");
        server.writer.flush().await.unwrap();
        assert!(matches!(reader.next().await.unwrap(), Incoming::Message(Message::Done { transfer: 3 })));
        let (mut read, leftover) = reader.into_stream();
        assert_eq!(leftover, b"\xff\xff\xff\xff raw bytes after the session", "read ahead, handed over");
        let mut server_write = server.writer.into_stream().await.unwrap();
        server_write.write_all(b"and more").await.unwrap();
        let mut more = [0; 8];
        tokio::io::AsyncReadExt::read_exact(&mut read, &mut more).await.unwrap();
        assert_eq!(&more, b"and more");
        drop(writer);
    }

    #[tokio::test]
    async fn a_rejection_reaches_the_client_over_a_duplex_stream() {
        let (server, client_io, pin) = spawn_server(|_| async { Ok(AuthDecision::<()>::Reject("not today".into())) });
        let client = client_handshake(client_io, ClientConfig::default(), |_| Ok(pin), || Ok(password("bob")), IDLE);
        let err = client.await.err().unwrap();
        assert!(format!("{err:#}").contains("not today"), "{err:#}");
        let err = server.await.unwrap().err().unwrap();
        assert!(format!("{err:#}").contains("rejected: not today"), "{err:#}");
    }
}
