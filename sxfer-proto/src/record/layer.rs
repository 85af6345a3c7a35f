//! Sealing and opening records in place, sequence numbers and key updates.
//!
//! One `Sealer` per sending direction, one `Opener` per receiving direction.
//! The nonce is the direction's IV XOR the 64-bit sequence number (big
//! endian, in the IV's last eight bytes). The sequence number starts at 0
//! under each traffic secret and never wraps: a sender updates its key after
//! `SuiteId::key_update_after_bytes()` payload bytes or `MAX_RECORDS_PER_KEY`
//! records, whichever comes first, and a receiver rejects a peer that goes
//! further than that without updating.

use crate::error::{CloseCode, Error, Result};
use crate::key_schedule::TrafficSecret;
use crate::record::deframer::{frame_len, FRAME_HEADER_LEN};
use crate::record::suite::{RecordCipher, SuiteId, MAX_OVERHEAD, NONCE_LEN};
use crate::record::{ContentType, MAX_PAYLOAD, MAX_RECORD_BODY};

/// Where the payload starts in a record buffer: after the length and type.
pub const PAYLOAD_OFFSET: usize = FRAME_HEADER_LEN + 1;

/// Records under one traffic secret before a key update is due.
pub const MAX_RECORDS_PER_KEY: u64 = 1 << 24;

/// A record as opened. Payloads borrow the caller's buffer (decrypted in place).
#[derive(Debug, PartialEq, Eq)]
pub enum Opened<'a> {
    Message(&'a [u8]),
    Data(&'a [u8]),
    /// The peer switched keys; this opener has followed.
    KeyUpdate,
    Close(CloseCode),
}

/// The sending half of the record layer.
pub struct Sealer {
    state: DirectionState,
}

/// The receiving half of the record layer.
pub struct Opener {
    state: DirectionState,
}

impl Sealer {
    pub fn new(suite: SuiteId, secret: TrafficSecret) -> Result<Self> {
        Ok(Sealer { state: DirectionState::new(suite, secret)? })
    }

    /// Capacity a buffer needs so sealing a record of `payload_len` (and a
    /// key update after it) never reallocates.
    pub fn record_capacity(payload_len: usize) -> usize {
        2 * (PAYLOAD_OFFSET + MAX_OVERHEAD) + payload_len
    }

    /// Seal the record that starts at `buf[start]` in place. The caller has
    /// left `PAYLOAD_OFFSET` bytes of room at `start` and put the payload
    /// after it, up to `buf.len()`. On return `buf[start..]` is the wire
    /// form, possibly followed by a KeyUpdate record.
    pub fn seal_in_place(&mut self, content: ContentType, buf: &mut Vec<u8>, start: usize) -> Result<()> {
        let payload_len = buf
            .len()
            .checked_sub(start + PAYLOAD_OFFSET)
            .ok_or(Error::Misuse("record buffer shorter than its header"))?;
        if payload_len > MAX_PAYLOAD {
            return Err(Error::Misuse("record payload larger than the maximum"));
        }
        let state = &mut self.state;
        let plaintext_len = 1 + payload_len;
        let body_len = state.cipher.sealed_len(plaintext_len);
        buf.resize(start + FRAME_HEADER_LEN + body_len, 0);
        let record = &mut buf[start..];
        record[..FRAME_HEADER_LEN].copy_from_slice(&(body_len as u32).to_be_bytes());
        record[FRAME_HEADER_LEN] = content.code();
        let (header, body) = record.split_at_mut(FRAME_HEADER_LEN);
        state.cipher.seal_in_place(&state.nonce(), header, body, plaintext_len)?;
        state.advance(payload_len)?;
        // Nothing may follow a Close, not even a key update.
        if !matches!(content, ContentType::KeyUpdate | ContentType::Close) && state.update_due() {
            self.seal(ContentType::KeyUpdate, &[], buf)?;
            self.state.rekey()?;
        }
        Ok(())
    }

    /// Append a sealed record carrying a copy of `payload` to `out`.
    pub fn seal(&mut self, content: ContentType, payload: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        out.reserve(Self::record_capacity(payload.len()));
        out.resize(start + PAYLOAD_OFFSET, 0);
        out.extend_from_slice(payload);
        self.seal_in_place(content, out, start)
    }

    pub fn suite(&self) -> SuiteId {
        self.state.suite
    }

    /// Lower the key-update threshold so tests can watch updates happen.
    pub fn set_key_update_after_for_testing(&mut self, bytes: u64) {
        self.state.update_after = bytes;
    }
}

impl Opener {
    pub fn new(suite: SuiteId, secret: TrafficSecret) -> Result<Self> {
        Ok(Opener { state: DirectionState::new(suite, secret)? })
    }

    /// Open the record at the start of `buf` in place. `Ok(None)`: need more
    /// bytes. Otherwise the record and how many bytes of `buf` it used.
    pub fn open_in_place<'a>(&mut self, buf: &'a mut [u8]) -> Result<Option<(Opened<'a>, usize)>> {
        let Some(total) = frame_len(buf, MAX_RECORD_BODY)? else {
            return Ok(None);
        };
        let state = &mut self.state;
        let (header, body) = buf[..total].split_at_mut(FRAME_HEADER_LEN);
        let plaintext_len = state.cipher.open_in_place(&state.nonce(), header, body)?;
        let (&type_code, payload) =
            body[..plaintext_len].split_first().ok_or(Error::Malformed("record without a type"))?;
        let content = ContentType::from_code(type_code)?;
        if payload.len() > MAX_PAYLOAD {
            return Err(Error::Malformed("record payload larger than the maximum"));
        }
        state.advance(payload.len())?;
        if state.bytes > state.update_after + MAX_PAYLOAD as u64 || state.seq > MAX_RECORDS_PER_KEY + 1 {
            return Err(Error::PeerMisbehaved("peer exceeded the key usage limit without a key update"));
        }
        let opened = match content {
            ContentType::Message => Opened::Message(payload),
            ContentType::Data => Opened::Data(payload),
            ContentType::KeyUpdate => {
                if !payload.is_empty() {
                    return Err(Error::Malformed("key update with a payload"));
                }
                state.rekey()?;
                Opened::KeyUpdate
            }
            ContentType::Close => {
                let code: [u8; 2] = payload.try_into().map_err(|_| Error::Malformed("close record"))?;
                Opened::Close(CloseCode::from_u16(u16::from_be_bytes(code)))
            }
        };
        Ok(Some((opened, total)))
    }

    /// Match the peer's lowered threshold in tests.
    pub fn set_key_update_after_for_testing(&mut self, bytes: u64) {
        self.state.update_after = bytes;
    }
}

struct DirectionState {
    suite: SuiteId,
    secret: TrafficSecret,
    cipher: Box<dyn RecordCipher>,
    iv: [u8; NONCE_LEN],
    seq: u64,
    bytes: u64,
    update_after: u64,
}

impl DirectionState {
    fn new(suite: SuiteId, secret: TrafficSecret) -> Result<Self> {
        let keys = secret.keys(suite)?;
        Ok(DirectionState {
            suite,
            cipher: suite.cipher(keys.key.expose())?,
            iv: keys.iv,
            secret,
            seq: 0,
            bytes: 0,
            update_after: suite.key_update_after_bytes(),
        })
    }

    fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut nonce = self.iv;
        for (n, s) in nonce[NONCE_LEN - 8..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        nonce
    }

    fn advance(&mut self, payload_len: usize) -> Result<()> {
        self.seq = self.seq.checked_add(1).ok_or(Error::Misuse("sequence number exhausted"))?;
        self.bytes = self.bytes.saturating_add(payload_len as u64);
        Ok(())
    }

    fn update_due(&self) -> bool {
        self.bytes >= self.update_after || self.seq >= MAX_RECORDS_PER_KEY
    }

    fn rekey(&mut self) -> Result<()> {
        let update_after = self.update_after;
        *self = DirectionState::new(self.suite, self.secret.next()?)?;
        self.update_after = update_after;
        Ok(())
    }
}
