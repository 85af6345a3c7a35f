//! What a drop's sender learns after sending (PROTOCOL.md §14.10): the
//! recipient's signed receipt ([`DropReceipt`]), and the status of each
//! drop it sent ([`SentDrop`]: waiting, delivered, revoked, expired, and
//! per recipient whether it is still in the inbox and its receipt).

use super::auth::{read_username, Username};
use super::drop::{read_key, DropHeader, DropId, Signed, SignedContent, MAX_RECIPIENTS};
use crate::codec::{Codec, Reader, Writer};
use crate::error::{Error, Result};
use crate::identity::PublicIdentity;
use crate::labels::DROP_RECEIPT_CONTEXT;

use super::app::read_bool;

/// What a recipient signs after a verified fetch: which drop, which
/// ciphertext, who and with which key, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptContent {
    pub id: DropId,
    pub recipient: Username,
    /// The key that decrypted it and signs this receipt.
    pub recipient_key: PublicIdentity,
    /// BLAKE3 of the ciphertext fetched (the header's `ciphertext_digest`).
    pub ciphertext_digest: [u8; 32],
    /// The recipient's clock, seconds since the epoch.
    pub fetched: i64,
}

/// A receipt and the recipient's signature over it.
pub type DropReceipt = Signed<ReceiptContent>;

impl SignedContent for ReceiptContent {
    const CONTEXT: &'static [u8] = DROP_RECEIPT_CONTEXT;
    fn signer(&self) -> &PublicIdentity {
        &self.recipient_key
    }
}

impl Codec for ReceiptContent {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.0);
        out.put_bytes_u8(self.recipient.as_str().as_bytes());
        out.put_bytes_u16(&self.recipient_key.to_wire());
        out.extend_from_slice(&self.ciphertext_digest);
        out.put_u64(self.fetched as u64);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let id = DropId(r.array()?);
        let recipient = read_username(r)?;
        let recipient_key = read_key(r)?;
        let ciphertext_digest = r.array()?;
        let fetched = r.u64()? as i64;
        Ok(ReceiptContent { id, recipient, recipient_key, ciphertext_digest, fetched })
    }
}

/// Where a sent drop stands as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropState {
    /// Stored; some recipient's inbox still holds it.
    Waiting = 0,
    /// Every recipient took it out of their inbox; the ciphertext is gone.
    Delivered = 1,
    /// The sender revoked it; the ciphertext is gone.
    Revoked = 2,
    /// Its expiry passed; the ciphertext is (or is about to be) gone.
    Expired = 3,
}

impl DropState {
    fn from_u8(value: u8) -> Result<DropState> {
        Ok(match value {
            0 => DropState::Waiting,
            1 => DropState::Delivered,
            2 => DropState::Revoked,
            3 => DropState::Expired,
            _ => return Err(Error::Malformed("drop state")),
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            DropState::Waiting => "waiting",
            DropState::Delivered => "delivered",
            DropState::Revoked => "revoked",
            DropState::Expired => "expired",
        }
    }
}

/// One recipient of a sent drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientState {
    pub user: Username,
    /// The drop is still in this recipient's inbox.
    pub in_inbox: bool,
    /// The receipt the recipient sent, as it sent it.
    pub receipt: Option<DropReceipt>,
}

/// One drop the session's account sent, as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentDrop {
    pub id: DropId,
    pub received: i64,
    /// When it expires, seconds since the epoch; 0: never.
    pub expires: i64,
    pub state: DropState,
    pub header: DropHeader,
    pub recipients: Vec<RecipientState>,
}

impl Codec for SentDrop {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.0);
        out.put_u64(self.received as u64);
        out.put_u64(self.expires as u64);
        out.put_u8(self.state as u8);
        self.header.encode(out);
        out.put_u8(self.recipients.len() as u8);
        for recipient in &self.recipients {
            out.put_bytes_u8(recipient.user.as_str().as_bytes());
            out.put_u8(u8::from(recipient.in_inbox));
            out.put_u8(u8::from(recipient.receipt.is_some()));
            if let Some(receipt) = &recipient.receipt {
                receipt.encode(out);
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let id = DropId(r.array()?);
        let received = r.u64()? as i64;
        let expires = r.u64()? as i64;
        let state = DropState::from_u8(r.u8()?)?;
        let header = DropHeader::read(r)?;
        let count = usize::from(r.u8()?);
        if count > MAX_RECIPIENTS {
            return Err(Error::Malformed("sent drop recipients"));
        }
        let mut recipients = Vec::with_capacity(count);
        for _ in 0..count {
            let user = read_username(r)?;
            let in_inbox = read_bool(r)?;
            let receipt = if read_bool(r)? { Some(DropReceipt::read(r)?) } else { None };
            recipients.push(RecipientState { user, in_inbox, receipt });
        }
        Ok(SentDrop { id, received, expires, state, header, recipients })
    }
}
