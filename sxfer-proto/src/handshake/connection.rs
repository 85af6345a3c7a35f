//! An established connection: both record directions plus close state.

use crate::codec::Codec;
use crate::error::{CloseCode, Error, Result};
use crate::key_schedule::{HandshakeSecrets, TrafficSecret};
use crate::msgs::Message;
use crate::record::suite::SuiteId;
use crate::record::{ContentType, Opened, Opener, Sealer};
use crate::secret::SecretBytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// What one received record meant.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    Message(Message),
    /// File bytes, decrypted in place in the caller's buffer.
    Data(&'a [u8]),
    /// The peer moved to its next key; nothing for the application.
    KeyUpdate,
    /// The peer closed the stream, authenticated. Nothing may follow.
    Closed(CloseCode),
}

pub struct Connection {
    send: SendHalf,
    receive: ReceiveHalf,
    exporter: SecretBytes,
}

impl Connection {
    pub(crate) fn new(side: Side, suite: SuiteId, secrets: HandshakeSecrets) -> Result<Self> {
        let (send, receive) = match side {
            Side::Client => (secrets.client_to_server, secrets.server_to_client),
            Side::Server => (secrets.server_to_client, secrets.client_to_server),
        };
        Ok(Connection {
            send: SendHalf { inner: Sealer::new(suite, send)?, closed: false },
            receive: ReceiveHalf { inner: Opener::new(suite, receive)?, peer_closed: false },
            exporter: secrets.exporter,
        })
    }

    /// Handshake use: seal raw message bytes (ClientAuth, AuthResult).
    pub(crate) fn send_handshake_message(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.send.inner.seal(ContentType::Message, bytes, out)
    }

    /// Handshake use: `frame` is exactly one record, which must be a message.
    pub(crate) fn read_handshake_message<'a>(&mut self, frame: &'a mut [u8]) -> Result<&'a [u8]> {
        let frame_len = frame.len();
        match self.receive.inner.open_in_place(frame)? {
            Some((Opened::Message(bytes), used)) if used == frame_len => Ok(bytes),
            Some((Opened::Close(code), _)) => Err(Error::PeerClosed(code)),
            Some(_) => Err(Error::PeerMisbehaved("unexpected record during authentication")),
            None => Err(Error::Misuse("incomplete frame")),
        }
    }

    /// PAKE key switch (§4.6.3): the sending direction moves to `secret`,
    /// its sequence number back to 0.
    pub(crate) fn switch_send(&mut self, secret: TrafficSecret) -> Result<()> {
        self.send.inner = Sealer::new(self.suite(), secret)?;
        Ok(())
    }

    /// PAKE key switch of the receiving direction.
    pub(crate) fn switch_receive(&mut self, secret: TrafficSecret) -> Result<()> {
        self.receive.inner = Opener::new(self.suite(), secret)?;
        Ok(())
    }

    /// PAKE: the exporter' that replaces the handshake's.
    pub(crate) fn switch_exporter(&mut self, exporter: SecretBytes) {
        self.exporter = exporter;
    }

    pub fn suite(&self) -> SuiteId {
        self.send.inner.suite()
    }

    /// A secret both ends share and nobody else knows, for channel binding.
    pub fn exporter(&self) -> &SecretBytes {
        &self.exporter
    }

    /// Append a sealed message record to `out`.
    pub fn send_message(&mut self, message: &Message, out: &mut Vec<u8>) -> Result<()> {
        self.send.send_message(message, out)
    }

    /// Append a sealed data record carrying a copy of `data` to `out`.
    pub fn send_data(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.send.send_data(data, out)
    }

    /// Seal a data record in place: the caller put the payload at
    /// `buf[start + PAYLOAD_OFFSET..]` (see [`Sealer::seal_in_place`]).
    pub fn seal_data_in_place(&mut self, buf: &mut Vec<u8>, start: usize) -> Result<()> {
        self.send.seal_data_in_place(buf, start)
    }

    /// Append an authenticated Close record. Nothing can be sent after it.
    pub fn close(&mut self, code: CloseCode, out: &mut Vec<u8>) -> Result<()> {
        self.send.close(code, out)
    }

    /// Open the record at the start of `buf`. `Ok(None)`: need more bytes.
    /// Otherwise the event and how many bytes of `buf` it used.
    pub fn read<'a>(&mut self, buf: &'a mut [u8]) -> Result<Option<(Event<'a>, usize)>> {
        self.receive.read(buf)
    }

    /// The transport reached end of stream: fine after an authenticated
    /// Close, a truncation attack (or crash) otherwise.
    pub fn end_of_stream(&self) -> Result<()> {
        self.receive.end_of_stream()
    }

    pub fn is_peer_closed(&self) -> bool {
        self.receive.peer_closed
    }

    /// Lower the key-update threshold of both directions (tests only; the
    /// peer must be given the same value).
    pub fn set_key_update_after_for_testing(&mut self, bytes: u64) {
        self.send.inner.set_key_update_after_for_testing(bytes);
        self.receive.inner.set_key_update_after_for_testing(bytes);
    }

    /// Split into independently owned halves, for a transport that reads
    /// and writes concurrently. The exporter secret comes along.
    pub fn split(self) -> (SendHalf, ReceiveHalf, SecretBytes) {
        (self.send, self.receive, self.exporter)
    }
}

/// The sending half of a split [`Connection`].
pub struct SendHalf {
    inner: Sealer,
    closed: bool,
}

/// The receiving half of a split [`Connection`].
pub struct ReceiveHalf {
    inner: Opener,
    peer_closed: bool,
}

impl SendHalf {
    pub fn send_message(&mut self, message: &Message, out: &mut Vec<u8>) -> Result<()> {
        self.check_open()?;
        self.inner.seal(ContentType::Message, &message.to_bytes(), out)
    }

    pub fn send_data(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.check_open()?;
        self.inner.seal(ContentType::Data, data, out)
    }

    /// Seal `body` as a Message record without encoding or checking it: a
    /// test plays a hostile peer that sends what no `Message` can hold
    /// (a name with `..`, an unknown entry kind).
    pub fn send_raw_message_for_testing_only(&mut self, body: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.check_open()?;
        self.inner.seal(ContentType::Message, body, out)
    }

    /// See [`Connection::seal_data_in_place`].
    pub fn seal_data_in_place(&mut self, buf: &mut Vec<u8>, start: usize) -> Result<()> {
        self.check_open()?;
        self.inner.seal_in_place(ContentType::Data, buf, start)
    }

    pub fn close(&mut self, code: CloseCode, out: &mut Vec<u8>) -> Result<()> {
        self.check_open()?;
        self.inner.seal(ContentType::Close, &code.to_u16().to_be_bytes(), out)?;
        self.closed = true;
        Ok(())
    }

    fn check_open(&self) -> Result<()> {
        if self.closed {
            return Err(Error::Misuse("send after close"));
        }
        Ok(())
    }
}

impl ReceiveHalf {
    /// See [`Connection::read`].
    pub fn read<'a>(&mut self, buf: &'a mut [u8]) -> Result<Option<(Event<'a>, usize)>> {
        read_event(&mut self.inner, &mut self.peer_closed, buf)
    }

    /// See [`Connection::end_of_stream`].
    pub fn end_of_stream(&self) -> Result<()> {
        if self.peer_closed {
            Ok(())
        } else {
            Err(Error::Truncated)
        }
    }
}

fn read_event<'a>(
    opener: &mut Opener,
    peer_closed: &mut bool,
    buf: &'a mut [u8],
) -> Result<Option<(Event<'a>, usize)>> {
    if *peer_closed {
        if buf.is_empty() {
            return Ok(None);
        }
        return Err(Error::PeerMisbehaved("bytes after close"));
    }
    let Some((opened, used)) = opener.open_in_place(buf)? else {
        return Ok(None);
    };
    let event = match opened {
        Opened::Message(bytes) => Event::Message(Message::decode(bytes)?),
        Opened::Data(bytes) => Event::Data(bytes),
        Opened::KeyUpdate => Event::KeyUpdate,
        Opened::Close(code) => {
            *peer_closed = true;
            Event::Closed(code)
        }
    };
    Ok(Some((event, used)))
}
