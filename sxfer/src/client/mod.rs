//! The client: connect, pin the server, authenticate, then run commands.
//!
//! After the handshake a reader task turns incoming records into
//! [`Event`]s on a channel, so the command can keep writing (pipelined
//! uploads) while acknowledgements and results arrive.

pub mod commands;
pub mod download;
pub mod known_hosts;
pub mod password;
pub mod pins;
pub mod relay;
pub mod target;
pub mod upload;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::engine::{BufferPool, Chunk, Record, Records};
use crate::net::conn::{client_handshake, Incoming, SessionReader, SessionWriter};
use known_hosts::{FirstContact, KnownHosts};
use sxfer_proto::handshake::{ClientConfig, Credential};
use sxfer_proto::identity::{Fingerprint, PrivateIdentity};
use sxfer_proto::msgs::{ClientId, Message, Username};
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::CloseCode;
use target::Target;

/// Everything about how to reach and log in to a server.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// `~/.sxfer` unless `SXFER_HOME` says otherwise.
    pub home: PathBuf,
    pub identity_file: Option<PathBuf>,
    pub password_file: Option<PathBuf>,
    pub fingerprint: Option<Fingerprint>,
    pub idle_timeout: Option<Duration>,
    /// Suites to offer, most preferred first (`None`: the secure defaults).
    pub suites: Option<Vec<SuiteId>>,
}

/// What the connection is for.
pub enum Purpose {
    Login,
    /// Create the account (password and/or the `-i` key), with an
    /// operator's invite token where registration is not open.
    Register {
        with_password: bool,
        invite: Option<sxfer_proto::secret::SecretBytes>,
    },
    /// No account (ClientAuth anonymous): for a relay on a server whose
    /// relay is open; such a session may do nothing else.
    Anonymous,
}

#[derive(Debug)]
pub enum Event {
    Message(Message),
    Data(Vec<u8>),
    Closed(CloseCode),
}

/// An authenticated connection to a server.
pub struct Remote {
    pub writer: SessionWriter,
    pub client_id: ClientId,
    pub address: String,
    /// This end's address on the TCP connection to the server (peer mode
    /// offers it as a direct candidate, PROTOCOL.md §13.10).
    pub local: Option<std::net::SocketAddr>,
    inbound: Inbound,
    buffers: BufferPool,
    next_transfer: u32,
    reader: ReaderTask,
}

pub async fn connect(target: &Target, options: &ClientOptions, purpose: Purpose) -> Result<Remote> {
    let address = target.address();
    let username = match (&purpose, &target.user) {
        (Purpose::Anonymous, _) => None,
        (_, Some(user)) => Some(user.clone()),
        (_, None) => Some(default_username()?),
    };
    let key = match &options.identity_file {
        Some(path) => Some(load_identity(path)?),
        None => None,
    };
    let credential = || -> Result<Credential<'_>> {
        let Some(username) = username.clone() else { return Ok(Credential::Anonymous) };
        let password = match (&purpose, &key) {
            (Purpose::Login, Some(_)) | (Purpose::Register { with_password: false, .. }, _) => None,
            _ => {
                let prompt = format!("Password for {username}@{address}: ");
                Some(password::obtain(options.password_file.as_deref(), &prompt)?)
            }
        };
        Ok(match purpose {
            Purpose::Login => match (&key, password) {
                (Some(key), _) => Credential::PublicKey { username, key },
                (None, Some(password)) => Credential::Password { username, password },
                (None, None) => bail!("no credential: give -i KEY or a password"),
            },
            Purpose::Register { invite, .. } => {
                Credential::Register { username, password, key: key.as_ref(), invite: invite.clone() }
            }
            Purpose::Anonymous => Credential::Anonymous,
        })
    };
    let stream = dial(&address).await?;
    let local = stream.local_addr().ok();
    let known_hosts = KnownHosts::new(options.home.join("known_hosts"));
    let first = options.fingerprint.map_or(FirstContact::Ask, FirstContact::Expect);
    let idle = options.idle_timeout.unwrap_or(Duration::from_secs(300));
    let session = client_handshake(
        stream,
        ClientConfig {
            suites: options.suites.clone().unwrap_or_else(|| SuiteId::DEFAULT.to_vec()),
            ..ClientConfig::default()
        },
        |identity| known_hosts.pin_for(&address, identity, &first),
        credential,
        idle,
    )
    .await
    .map_err(|error| handshake_error(error, &address))?;
    let user = username.as_ref().map_or("(anonymous)", Username::as_str);
    tracing::info!(server = %address, user, suite = session.suite.name(), "authenticated");
    let mut remote = Remote::start(session.reader, session.writer, session.client_id, address);
    remote.local = local;
    Ok(remote)
}

/// A TCP connection to `address` (`host:port`), given 20 s.
pub async fn dial(address: &str) -> Result<TcpStream> {
    let stream = tokio::time::timeout(Duration::from_secs(20), TcpStream::connect(address))
        .await
        .map_err(|_| anyhow!("connecting to {address} timed out"))?
        .with_context(|| format!("connecting to {address}"))?;
    stream.set_nodelay(true).ok();
    Ok(stream)
}

/// The reader task: records to events until the connection ends (`None`),
/// or until told to stop between records: then the reader, with whatever
/// it has read ahead still in its buffer.
async fn read_events(
    mut reader: SessionReader,
    tx: mpsc::Sender<Result<Event, String>>,
    pool: BufferPool,
    mut stop: oneshot::Receiver<()>,
) -> Option<SessionReader> {
    loop {
        let next = async {
            match reader.next().await {
                Ok(Incoming::Message(message)) => Ok(Event::Message(message)),
                Ok(Incoming::Data(bytes)) => Ok(Event::Data(pool.filled_with(bytes))),
                Ok(Incoming::Closed(code)) => Ok(Event::Closed(code)),
                Err(e) => Err(format!("{e:#}")),
            }
        };
        let event = tokio::select! {
            biased;
            // `next` is cancel-safe: a record half read stays in the buffer.
            _ = &mut stop => return Some(reader),
            event = next => event,
        };
        let last = !matches!(event, Ok(Event::Message(_)) | Ok(Event::Data(_)));
        if tx.send(event).await.is_err() || last {
            return None;
        }
    }
}

/// The reader task's handle, and the way to stop it.
struct ReaderTask {
    stop: oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<Option<SessionReader>>,
}

/// Events queued from the reader task ahead of the command.
const EVENT_QUEUE: usize = 8;

/// A handshake failure in context. The server's refusal of everything we
/// offered is reported as it is, which already says it all:
/// "the server accepts none of the offered record suites (offered: …)".
fn handshake_error(error: anyhow::Error, address: &str) -> anyhow::Error {
    let refused = error.chain().find_map(|cause| match cause.downcast_ref::<sxfer_proto::Error>() {
        Some(refused @ sxfer_proto::Error::OffersRefused { .. }) => Some(refused.clone()),
        _ => None,
    });
    match refused {
        Some(refused) => anyhow::Error::new(refused),
        None => error.context(format!("connecting to {address}")),
    }
}

/// The server's Error with transfer 0 (PROTOCOL.md §7.4): it ends the
/// session, for a reason of its own (shutting down, a limit) or because of
/// ours; its Close follows.
#[derive(Debug, thiserror::Error)]
#[error("the server ended the session: {}", sxfer_proto::names::display_safe(.message))]
pub struct SessionEnded {
    pub code: u16,
    pub message: String,
}

/// What the reader task delivers: replies and data, in order.
pub struct Inbound {
    events: mpsc::Receiver<Result<Event, String>>,
    address: String,
    /// The connection ended (closed, cut, or failed): no request can follow.
    gone: bool,
}

impl Inbound {
    /// The next event; a closed or failed connection is an error, and so
    /// is the server's Error with transfer 0 ([`SessionEnded`]).
    pub async fn next(&mut self) -> Result<Event> {
        let event = self.events.recv().await;
        self.settle(event.ok_or(mpsc::error::TryRecvError::Disconnected))?.ok_or_else(|| anyhow!("no event"))
    }

    /// An event that has already arrived, without waiting.
    pub fn try_next(&mut self) -> Result<Option<Event>> {
        let received = self.events.try_recv();
        self.settle(received)
    }

    fn settle(&mut self, received: Result<Result<Event, String>, mpsc::error::TryRecvError>) -> Result<Option<Event>> {
        let result = match received {
            Ok(Ok(Event::Closed(code))) => Err(anyhow!("the server closed the connection ({code})")),
            // About the connection, not a request: a Close follows (§7.4).
            Ok(Ok(Event::Message(Message::Error { transfer: 0, code, message }))) => {
                Err(SessionEnded { code, message }.into())
            }
            Ok(Ok(event)) => return Ok(Some(event)),
            Ok(Err(e)) => Err(anyhow!(e)),
            Err(mpsc::error::TryRecvError::Empty) => return Ok(None),
            Err(mpsc::error::TryRecvError::Disconnected) => Err(anyhow!("the connection to {} is gone", self.address)),
        };
        self.gone = true;
        result
    }

    /// The next message (data here is a protocol error).
    pub async fn next_message(&mut self) -> Result<Message> {
        match self.next().await? {
            Event::Message(message) => Ok(message),
            _ => bail!("the server sent data where a reply was expected"),
        }
    }
}

impl Records for Inbound {
    async fn next_record(&mut self) -> Result<Record<'_>> {
        Ok(match self.next().await? {
            Event::Message(message) => Record::Message(message),
            Event::Data(buf) => Record::Data(Chunk::Owned(buf)),
            Event::Closed(code) => Record::Closed(code),
        })
    }
}

/// The session's records as the engine reads them (a command that
/// receives a transfer through a [`Remote`]).
impl Records for Remote {
    async fn next_record(&mut self) -> Result<Record<'_>> {
        self.inbound.next_record().await
    }
}

impl Remote {
    /// The client's end of an authenticated session (from [`connect`], or
    /// a peer session whose sender uploads): starts the reader task.
    pub fn start(reader: SessionReader, writer: SessionWriter, client_id: ClientId, address: String) -> Remote {
        // One bounded queue from the reader task: a server cannot grow the
        // client's memory (at most EVENT_QUEUE events, each at most one 1 MiB
        // record). A pipelining client keeps reading replies while it writes
        // (PROTOCOL.md §7.2): `Remote::flush` drains them.
        let (tx, events) = mpsc::channel(EVENT_QUEUE);
        let buffers = BufferPool::default();
        let (stop, stopped) = oneshot::channel();
        let reader = tokio::spawn(read_events(reader, tx, buffers.clone(), stopped));
        Remote {
            writer,
            client_id,
            inbound: Inbound { events, address: address.clone(), gone: false },
            address,
            local: None,
            buffers,
            next_transfer: 1,
            reader: ReaderTask { stop, handle: reader },
        }
    }

    /// Where data buffers come from and go back to.
    pub fn buffers(&self) -> BufferPool {
        self.buffers.clone()
    }

    pub fn transfer_id(&mut self) -> u32 {
        let id = self.next_transfer;
        self.next_transfer = self.next_transfer.wrapping_add(1);
        id
    }

    /// The next event; a closed or failed connection is an error.
    pub async fn next(&mut self) -> Result<Event> {
        self.inbound.next().await
    }

    /// True once the connection has ended; nothing more can be asked.
    pub fn is_gone(&self) -> bool {
        self.inbound.gone
    }

    /// An event that has already arrived, without waiting.
    pub fn try_next(&mut self) -> Result<Option<Event>> {
        self.inbound.try_next()
    }

    /// The next message (data here is a protocol error).
    pub async fn next_message(&mut self) -> Result<Message> {
        self.inbound.next_message().await
    }

    /// Write everything queued while handing each reply that arrives
    /// meanwhile to `on_message`: the server may be blocked on its replies
    /// until we read them, and our queue to the reader task is bounded.
    pub async fn flush(&mut self, mut on_message: impl FnMut(Message) -> Result<()>) -> Result<()> {
        let Remote { writer, inbound, .. } = self;
        let flush = writer.flush();
        tokio::pin!(flush);
        loop {
            tokio::select! {
                flushed = &mut flush => return flushed,
                event = inbound.next() => match event? {
                    Event::Message(message) => on_message(message)?,
                    _ => bail!("the server sent data where a reply was expected"),
                },
            }
        }
    }

    /// Send a request and wait for its one reply; an Error reply is an error.
    pub async fn request(&mut self, message: &Message) -> Result<Message> {
        self.writer.send(message).await?;
        let reply = self.next_message().await?;
        if let Message::Error { message, .. } = &reply {
            bail!("{}", sxfer_proto::names::display_safe(message));
        }
        Ok(reply)
    }

    /// `error` ended a command. If the server had ended the session with
    /// an error of its own (shutting down, a limit), that error, which the
    /// reader may still be delivering, explains it better; otherwise
    /// `error` as it is.
    pub async fn reason_for(&mut self, error: anyhow::Error) -> anyhow::Error {
        let hung_up = self.inbound.gone
            || error.chain().filter_map(|cause| cause.downcast_ref::<std::io::Error>()).any(|e| {
                use std::io::ErrorKind::*;
                matches!(e.kind(), BrokenPipe | ConnectionReset | ConnectionAborted | UnexpectedEof)
            });
        if !hung_up {
            return error;
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(500);
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.inbound.events.recv()).await {
            match event {
                Ok(Event::Message(Message::Error { transfer: 0, code, message })) => {
                    self.inbound.gone = true;
                    return SessionEnded { code, message }.into();
                }
                Ok(Event::Closed(_)) | Err(_) => break,
                Ok(Event::Data(_) | Event::Message(_)) => {}
            }
        }
        error
    }

    /// Give up the reader task and take the session back, to drive it
    /// directly (a relay request, whose reply is followed by raw bytes).
    /// Nothing the task read is lost: it stops between records, its read
    /// buffer comes back with it, and a reply it had already delivered but
    /// nobody read is an error (the session was not idle).
    pub async fn into_session(self) -> Result<(SessionReader, SessionWriter)> {
        let Remote { writer, mut inbound, reader: ReaderTask { stop, mut handle }, .. } = self;
        stop.send(()).ok();
        let mut unread = None;
        let mut ended = false;
        let stopped = loop {
            tokio::select! {
                biased;
                event = inbound.events.recv(), if !ended => match event {
                    Some(event) => drop(unread.get_or_insert(event)),
                    None => ended = true,
                },
                stopped = &mut handle => break stopped,
            }
        };
        while let Ok(event) = inbound.events.try_recv() {
            unread.get_or_insert(event);
        }
        if let Some(event) = unread {
            // The connection's end, or the server's reason for it, if that is what it was.
            inbound.settle(Ok(event))?;
            bail!("the server sent a reply nobody asked for");
        }
        match stopped {
            Ok(Some(reader)) => Ok((reader, writer)),
            Ok(None) => Err(anyhow!("the connection to {} is gone", inbound.address)),
            Err(e) => Err(anyhow!("the reader task failed: {e}")),
        }
    }

    /// Close cleanly: our Close, then the server's.
    pub async fn close(mut self) -> Result<()> {
        self.writer.close(CloseCode::Normal).await?;
        while let Some(event) = self.inbound.events.recv().await {
            if matches!(event, Ok(Event::Closed(_)) | Err(_)) {
                break;
            }
        }
        Ok(())
    }
}

/// The client's own directory: `SXFER_HOME`, else `~/.sxfer` (known_hosts,
/// profile, log, keys made by `sxfer keygen`).
pub fn home() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os("SXFER_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).context("HOME is not set (or set SXFER_HOME)")?;
    Ok(PathBuf::from(home).join(".sxfer"))
}

pub fn load_identity(path: &std::path::Path) -> Result<PrivateIdentity> {
    let text = crate::keys::read_key_file(path).with_context(|| format!("reading key {}", path.display()))?;
    PrivateIdentity::from_openssh(&text).with_context(|| format!("loading key {}", path.display()))
}

fn default_username() -> Result<Username> {
    let name = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).context("no user given (user@host)")?;
    Username::parse(&name).with_context(|| format!("local user name {name:?} is not a valid sxfer user; use user@host"))
}
