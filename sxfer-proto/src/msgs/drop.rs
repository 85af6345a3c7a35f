//! Drops (PROTOCOL.md §14): the key directory (`KeyLookup`, `KeyList`,
//! `KeyPublish`), a drop's upload (`DropPut`, answered by `DropStored`
//! after the ordinary upload data phase), the inbox (`InboxList`,
//! `InboxListing`), `DropFetch` (answered like a Download) and
//! `DropRemove`; after sending, the recipient's `DropReceipt`, the
//! sender's `DropStatus`/`DropStatusList` and `DropRevoke` (§14.10, at the end
//! of this file).
//!
//! The sender signs [`DropContent`], the bytes as encoded, under the
//! context of §14.2; a [`DropHeader`] keeps those bytes as they were made
//! or received, so the signature is always checked over what travelled.
//!
//! They travel in the application envelope (`kind ‖ transfer ‖ body`,
//! §7.2) as [`Message::Drop`](super::Message::Drop), kinds
//! `0x0500..=0x050c`; `0x050d..=0x050f` are reserved (§14.9).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use super::auth::{read_username, KeyProof, Username, MAX_PUBLIC_KEY};
use super::fields::{put_name, read_bool, read_name, FileMeta};
use crate::codec::{Codec, Reader, Writer};
use crate::error::{Error, Result};
use crate::identity::{Fingerprint, PrivateIdentity, PublicIdentity, Signature};
use crate::labels::{DROP_RECEIPT_CONTEXT, DROP_SIGNATURE_CONTEXT, KEY_PUBLISH_CONTEXT};
use crate::names::RemoteName;

/// Recipients (accounts) of one drop.
pub const MAX_RECIPIENTS: usize = 16;
/// Keys of one recipient a drop is encrypted to.
pub const MAX_RECIPIENT_KEYS: usize = 8;
/// Keys in one KeyList.
pub const MAX_LISTED_KEYS: usize = 16;
/// Entries in one InboxListing part.
pub const MAX_INBOX_LISTING: usize = 4096;
/// Entries in one DropStatusList part.
pub const MAX_STATUS_LISTING: usize = 4096;

const KIND_KEY_LOOKUP: u16 = 0x0500;
const KIND_KEY_LIST: u16 = 0x0501;
const KIND_KEY_PUBLISH: u16 = 0x0502;
const KIND_DROP_PUT: u16 = 0x0503;
const KIND_DROP_STORED: u16 = 0x0504;
const KIND_INBOX_LIST: u16 = 0x0505;
const KIND_INBOX_LISTING: u16 = 0x0506;
const KIND_DROP_FETCH: u16 = 0x0507;
const KIND_DROP_REMOVE: u16 = 0x0508;
const KIND_DROP_RECEIPT: u16 = 0x0509;
const KIND_DROP_STATUS: u16 = 0x050a;
const KIND_DROP_STATUS_LIST: u16 = 0x050b;
const KIND_DROP_REVOKE: u16 = 0x050c;

/// A drop's id: 16 random bytes chosen by the server, shown as 32
/// lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DropId(pub [u8; 16]);

impl fmt::Display for DropId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl FromStr for DropId {
    type Err = Error;

    /// Exactly 32 lowercase hex digits.
    fn from_str(text: &str) -> Result<DropId> {
        let bad = Error::Malformed("drop id (32 lowercase hex digits)");
        let valid = text.len() == 32 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid {
            return Err(bad);
        }
        let mut id = [0u8; 16];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad.clone())?;
        }
        Ok(DropId(id))
    }
}

/// One recipient of a drop: the account and the fingerprints of the keys
/// the ciphertext is encrypted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropRecipient {
    pub user: Username,
    pub keys: Vec<Fingerprint>,
}

/// What the sender signs (§14.1): who, to whom, which file, which bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropContent {
    pub sender: Username,
    pub sender_key: PublicIdentity,
    pub recipients: Vec<DropRecipient>,
    pub name: RemoteName,
    /// Size, mode and mtime of the plaintext.
    pub meta: FileMeta,
    /// The sender's clock when it made the drop, seconds since the epoch.
    pub sent: i64,
    pub ciphertext_length: u64,
    /// BLAKE3 of the whole ciphertext.
    pub ciphertext_digest: [u8; 32],
}

/// Signed bytes: a content, the exact bytes it was encoded as (made here,
/// or as received) and a signature over them under `C`'s context. A drop's
/// header ([`DropHeader`], §14.2) and a receipt ([`DropReceipt`], §14.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<C> {
    /// Boxed: a public key makes it large, and every message carries it.
    content: Box<C>,
    content_bytes: Vec<u8>,
    signature: Signature,
}

/// What [`Signed`] can hold: a content with its context string and the key
/// that must have signed it.
pub trait SignedContent: Codec {
    const CONTEXT: &'static [u8];
    fn signer(&self) -> &PublicIdentity;
}

/// A drop's signed description: the content and the sender's signature.
pub type DropHeader = Signed<DropContent>;

impl SignedContent for DropContent {
    const CONTEXT: &'static [u8] = DROP_SIGNATURE_CONTEXT;
    fn signer(&self) -> &PublicIdentity {
        &self.sender_key
    }
}

/// One drop waiting in an inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    pub id: DropId,
    /// When the server stored it, seconds since the epoch.
    pub received: i64,
    pub header: DropHeader,
}

/// One drop message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropMsg {
    /// c→s: the public keys of `user` in the directory.
    KeyLookup { user: Username },
    /// s→c: the answer to KeyLookup (possibly empty).
    KeyList { user: Username, keys: Vec<PublicIdentity> },
    /// c→s: add a key (proven by a signature over [`publish_message`]) to
    /// the session's account.
    KeyPublish { proof: KeyProof },
    /// c→s: a drop's header; its ciphertext follows in the upload data
    /// phase (§7.5.1 or, with `resume`, §7.5.2).
    Put { header: DropHeader, expires_in_secs: u32, resume: bool },
    /// s→c: the final reply to a Put: stored and in every recipient's inbox.
    Stored { id: DropId, received: i64 },
    /// c→s: what waits in the session's inbox.
    InboxList,
    /// s→c: part of the inbox; the last part has `more == false`.
    InboxListing { entries: Vec<InboxEntry>, more: bool },
    /// c→s: the ciphertext of a drop from `offset`, answered like a Download.
    Fetch { id: DropId, offset: u64 },
    /// c→s: take a drop out of the session's inbox.
    Remove { id: DropId },
    /// c→s: the signed receipt for a drop fetched and verified (§14.10).
    Receipt { receipt: DropReceipt },
    /// c→s: the drops the session's account sent.
    Status,
    /// s→c: part of the answer to Status; the last part has `more == false`.
    StatusList { drops: Vec<SentDrop>, more: bool },
    /// c→s: the sender withdraws a drop from every inbox.
    Revoke { id: DropId },
}

/// The message a signer signs: `context ‖ 0x00 ‖ content` (§14.2, §14.10).
pub fn signed_message(context: &[u8], content_bytes: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(context.len() + 1 + content_bytes.len());
    message.extend_from_slice(context);
    message.push(0);
    message.extend_from_slice(content_bytes);
    message
}

/// The message a KeyPublish proof signs (§14.4).
pub fn publish_message(username: &Username) -> Vec<u8> {
    let mut message = KEY_PUBLISH_CONTEXT.to_vec();
    message.push(0);
    message.put_bytes_u8(username.as_str().as_bytes());
    message
}

impl<C: SignedContent> Signed<C> {
    /// Signs `content` with `key`, which must be its signer.
    pub fn sign(content: C, key: &PrivateIdentity) -> Result<Signed<C>> {
        if key.public() != content.signer() {
            return Err(Error::Misuse("signed by another key than the content names"));
        }
        let content_bytes = content.to_bytes();
        let signature = key.sign(&signed_message(C::CONTEXT, &content_bytes))?;
        Ok(Signed { content: Box::new(content), content_bytes, signature })
    }

    /// Checks the signature with `pinned`, the key the verifier holds for
    /// the signer: it must be the content's signer key, and the signature
    /// must verify over the content bytes. Any failure is `Error::Crypto`.
    pub fn verify(&self, pinned: &PublicIdentity) -> Result<()> {
        if !pinned.fingerprint().ct_eq(&self.content.signer().fingerprint()) {
            return Err(Error::Crypto);
        }
        pinned.verify(&signed_message(C::CONTEXT, &self.content_bytes), &self.signature)
    }

    pub fn content(&self) -> &C {
        &self.content
    }

    pub fn signature(&self) -> &Signature {
        &self.signature
    }
}

impl<C: SignedContent> Codec for Signed<C> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.content_bytes);
        self.signature.encode(out);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let start = r.consumed().len();
        let content = Box::new(C::read(r)?);
        let content_bytes = r.consumed()[start..].to_vec();
        let signature = Signature::read(r)?;
        Ok(Signed { content, content_bytes, signature })
    }
}

impl Codec for DropContent {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_bytes_u8(self.sender.as_str().as_bytes());
        out.put_bytes_u16(&self.sender_key.to_wire());
        out.put_u8(self.recipients.len() as u8);
        for recipient in &self.recipients {
            out.put_bytes_u8(recipient.user.as_str().as_bytes());
            out.put_u8(recipient.keys.len() as u8);
            for key in &recipient.keys {
                out.extend_from_slice(key.as_bytes());
            }
        }
        put_name(out, &self.name);
        self.meta.encode(out);
        out.put_u64(self.sent as u64);
        out.put_u64(self.ciphertext_length);
        out.extend_from_slice(&self.ciphertext_digest);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let sender = read_username(r)?;
        let sender_key = read_key(r)?;
        let count = list_count(r, MAX_RECIPIENTS, "recipients")?;
        let mut recipients = Vec::with_capacity(count);
        let mut users = HashSet::new();
        for _ in 0..count {
            let user = read_username(r)?;
            if user == sender || !users.insert(user.clone()) {
                return Err(Error::Malformed("drop recipients: the sender or a user twice"));
            }
            let keys = list_count(r, MAX_RECIPIENT_KEYS, "recipient keys")?;
            let mut fingerprints = Vec::with_capacity(keys);
            for _ in 0..keys {
                let fingerprint = Fingerprint::from_bytes(r.array()?);
                if fingerprints.contains(&fingerprint) {
                    return Err(Error::Malformed("drop recipient keys: a key twice"));
                }
                fingerprints.push(fingerprint);
            }
            recipients.push(DropRecipient { user, keys: fingerprints });
        }
        let name = read_name(r)?;
        let meta = FileMeta::read(r)?;
        let sent = r.u64()? as i64;
        let ciphertext_length = r.u64()?;
        let ciphertext_digest = r.array()?;
        Ok(DropContent { sender, sender_key, recipients, name, meta, sent, ciphertext_length, ciphertext_digest })
    }
}

impl Codec for InboxEntry {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.0);
        out.put_u64(self.received as u64);
        self.header.encode(out);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let id = DropId(r.array()?);
        let received = r.u64()? as i64;
        let header = DropHeader::read(r)?;
        Ok(InboxEntry { id, received, header })
    }
}

impl DropMsg {
    pub(super) fn kind(&self) -> u16 {
        match self {
            DropMsg::KeyLookup { .. } => KIND_KEY_LOOKUP,
            DropMsg::KeyList { .. } => KIND_KEY_LIST,
            DropMsg::KeyPublish { .. } => KIND_KEY_PUBLISH,
            DropMsg::Put { .. } => KIND_DROP_PUT,
            DropMsg::Stored { .. } => KIND_DROP_STORED,
            DropMsg::InboxList => KIND_INBOX_LIST,
            DropMsg::InboxListing { .. } => KIND_INBOX_LISTING,
            DropMsg::Fetch { .. } => KIND_DROP_FETCH,
            DropMsg::Remove { .. } => KIND_DROP_REMOVE,
            DropMsg::Receipt { .. } => KIND_DROP_RECEIPT,
            DropMsg::Status => KIND_DROP_STATUS,
            DropMsg::StatusList { .. } => KIND_DROP_STATUS_LIST,
            DropMsg::Revoke { .. } => KIND_DROP_REVOKE,
        }
    }

    pub(super) fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            DropMsg::KeyLookup { user } => out.put_bytes_u8(user.as_str().as_bytes()),
            DropMsg::KeyList { user, keys } => {
                out.put_bytes_u8(user.as_str().as_bytes());
                out.put_u8(keys.len() as u8);
                for key in keys {
                    out.put_bytes_u16(&key.to_wire());
                }
            }
            DropMsg::KeyPublish { proof } => proof.encode(out),
            DropMsg::Put { header, expires_in_secs, resume } => {
                header.encode(out);
                out.put_u32(*expires_in_secs);
                out.put_u8(u8::from(*resume));
            }
            DropMsg::Stored { id, received } => {
                out.extend_from_slice(&id.0);
                out.put_u64(*received as u64);
            }
            DropMsg::InboxList => {}
            DropMsg::InboxListing { entries, more } => {
                out.put_u16(entries.len() as u16);
                for entry in entries {
                    entry.encode(out);
                }
                out.put_u8(u8::from(*more));
            }
            DropMsg::Fetch { id, offset } => {
                out.extend_from_slice(&id.0);
                out.put_u64(*offset);
            }
            DropMsg::Remove { id } | DropMsg::Revoke { id } => out.extend_from_slice(&id.0),
            DropMsg::Receipt { receipt } => receipt.encode(out),
            DropMsg::Status => {}
            DropMsg::StatusList { drops, more } => {
                out.put_u16(drops.len() as u16);
                for drop in drops {
                    drop.encode(out);
                }
                out.put_u8(u8::from(*more));
            }
        }
    }

    /// The body of a message of `kind`, or `None` if `kind` is not a
    /// drop kind.
    pub(super) fn read_body(kind: u16, r: &mut Reader<'_>) -> Result<Option<DropMsg>> {
        Ok(Some(match kind {
            KIND_KEY_LOOKUP => DropMsg::KeyLookup { user: read_username(r)? },
            KIND_KEY_LIST => {
                let user = read_username(r)?;
                let count = usize::from(r.u8()?);
                if count > MAX_LISTED_KEYS {
                    return Err(Error::Malformed("key list longer than its maximum"));
                }
                let mut keys = Vec::with_capacity(count);
                for _ in 0..count {
                    keys.push(read_key(r)?);
                }
                DropMsg::KeyList { user, keys }
            }
            KIND_KEY_PUBLISH => DropMsg::KeyPublish { proof: KeyProof::read(r)? },
            KIND_DROP_PUT => {
                let header = DropHeader::read(r)?;
                DropMsg::Put { header, expires_in_secs: r.u32()?, resume: read_bool(r)? }
            }
            KIND_DROP_STORED => DropMsg::Stored { id: DropId(r.array()?), received: r.u64()? as i64 },
            KIND_INBOX_LIST => DropMsg::InboxList,
            KIND_INBOX_LISTING => {
                let count = usize::from(r.u16()?);
                if count > MAX_INBOX_LISTING {
                    return Err(Error::Malformed("inbox listing longer than its maximum"));
                }
                let mut entries = Vec::with_capacity(count.min(r.remaining() / 64));
                for _ in 0..count {
                    entries.push(InboxEntry::read(r)?);
                }
                DropMsg::InboxListing { entries, more: read_bool(r)? }
            }
            KIND_DROP_FETCH => DropMsg::Fetch { id: DropId(r.array()?), offset: r.u64()? },
            KIND_DROP_REMOVE => DropMsg::Remove { id: DropId(r.array()?) },
            KIND_DROP_RECEIPT => DropMsg::Receipt { receipt: DropReceipt::read(r)? },
            KIND_DROP_STATUS => DropMsg::Status,
            KIND_DROP_STATUS_LIST => {
                let count = usize::from(r.u16()?);
                if count > MAX_STATUS_LISTING {
                    return Err(Error::Malformed("status listing longer than its maximum"));
                }
                let mut drops = Vec::with_capacity(count.min(r.remaining() / 64));
                for _ in 0..count {
                    drops.push(SentDrop::read(r)?);
                }
                DropMsg::StatusList { drops, more: read_bool(r)? }
            }
            KIND_DROP_REVOKE => DropMsg::Revoke { id: DropId(r.array()?) },
            _ => return Ok(None),
        }))
    }
}

/// A `list8<1..max>` count.
fn list_count(r: &mut Reader<'_>, max: usize, what: &'static str) -> Result<usize> {
    let count = usize::from(r.u8()?);
    if count == 0 || count > max {
        return Err(Error::Malformed(what));
    }
    Ok(count)
}

pub(super) fn read_key(r: &mut Reader<'_>) -> Result<PublicIdentity> {
    let blob = r.bytes_u16(MAX_PUBLIC_KEY)?;
    if blob.is_empty() {
        return Err(Error::Malformed("empty public key"));
    }
    PublicIdentity::from_wire(blob)
}

// ---- after sending: receipts and status (PROTOCOL.md §14.10) ----------------

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::DROP_RECEIPT_CONTEXT;
    use crate::msgs::Message;

    #[allow(clippy::disallowed_types)] // a test's keys: fresh randomness is what we want
    fn key() -> PrivateIdentity {
        PrivateIdentity::generate_ed25519(&mut rand_core::OsRng).unwrap()
    }

    fn user(name: &str) -> Username {
        Username::parse(name).unwrap()
    }

    fn content(sender: &PrivateIdentity, bob: &PrivateIdentity) -> DropContent {
        DropContent {
            sender: user("alice"),
            sender_key: sender.public().clone(),
            recipients: vec![DropRecipient { user: user("bob"), keys: vec![bob.public().fingerprint()] }],
            name: RemoteName::parse("report.pdf").unwrap(),
            meta: FileMeta { size: 5, mode: 0o640, mtime: 1_767_225_600, mtime_nanos: 7 },
            sent: 1_767_225_700,
            ciphertext_length: 300,
            ciphertext_digest: [9; 32],
        }
    }

    fn round_trip(drop: DropMsg) -> DropMsg {
        let message = Message::Drop { transfer: 3, drop };
        let decoded = Message::decode(&message.to_bytes()).unwrap();
        assert_eq!(decoded, message);
        let Message::Drop { drop, .. } = decoded else { unreachable!() };
        drop
    }

    #[test]
    fn a_signed_header_verifies_only_with_its_sender_key_and_unaltered() {
        let (alice, bob) = (key(), key());
        let header = DropHeader::sign(content(&alice, &bob), &alice).unwrap();
        let put = DropMsg::Put { header: header.clone(), expires_in_secs: 0, resume: true };
        let DropMsg::Put { header: received, .. } = round_trip(put) else { unreachable!() };
        received.verify(alice.public()).unwrap();
        assert_eq!(received.verify(bob.public()), Err(Error::Crypto));
        // Every byte of the content is covered: flip each in turn.
        let bytes =
            Message::Drop { transfer: 1, drop: DropMsg::Put { header, expires_in_secs: 0, resume: false } }.to_bytes();
        let content_end = 6 + received.content_bytes.len();
        for i in 6..content_end {
            let mut altered = bytes.clone();
            altered[i] ^= 0x01;
            if let Ok(Message::Drop { drop: DropMsg::Put { header, .. }, .. }) = Message::decode(&altered) {
                assert!(header.verify(alice.public()).is_err(), "byte {i} is not covered");
            }
        }
        assert!(DropHeader::sign(content(&alice, &bob), &bob).is_err(), "signed by another key");
    }

    #[test]
    fn every_message_round_trips() {
        let (alice, bob) = (key(), key());
        let header = DropHeader::sign(content(&alice, &bob), &alice).unwrap();
        let id = DropId([0xab; 16]);
        let proof = KeyProof {
            public_key: alice.public().to_wire(),
            signature: alice.sign(&publish_message(&user("alice"))).unwrap(),
        };
        for drop in [
            DropMsg::KeyLookup { user: user("bob") },
            DropMsg::KeyList { user: user("bob"), keys: vec![bob.public().clone(), alice.public().clone()] },
            DropMsg::KeyList { user: user("bob"), keys: vec![] },
            DropMsg::KeyPublish { proof },
            DropMsg::Stored { id, received: -1 },
            DropMsg::InboxList,
            DropMsg::InboxListing { entries: vec![InboxEntry { id, received: 5, header: header.clone() }], more: true },
            DropMsg::InboxListing { entries: vec![], more: false },
            DropMsg::Fetch { id, offset: 77 },
            DropMsg::Remove { id },
            DropMsg::Receipt { receipt: receipt(&bob, id) },
            DropMsg::Status,
            DropMsg::StatusList { drops: vec![], more: false },
            DropMsg::StatusList {
                drops: vec![SentDrop {
                    id,
                    received: 5,
                    expires: 0,
                    state: DropState::Revoked,
                    header: header.clone(),
                    recipients: vec![
                        RecipientState { user: user("bob"), in_inbox: false, receipt: Some(receipt(&bob, id)) },
                        RecipientState { user: user("carol"), in_inbox: true, receipt: None },
                    ],
                }],
                more: true,
            },
            DropMsg::Revoke { id },
        ] {
            round_trip(drop);
        }
    }

    fn receipt(bob: &PrivateIdentity, id: DropId) -> DropReceipt {
        let content = ReceiptContent {
            id,
            recipient: user("bob"),
            recipient_key: bob.public().clone(),
            ciphertext_digest: [9; 32],
            fetched: 1_767_225_800,
        };
        DropReceipt::sign(content, bob).unwrap()
    }

    #[test]
    fn a_receipt_verifies_only_with_its_recipient_key_and_unaltered() {
        let (alice, bob) = (key(), key());
        let id = DropId([0x22; 16]);
        let sent = DropMsg::Receipt { receipt: receipt(&bob, id) };
        let DropMsg::Receipt { receipt: received } = round_trip(sent.clone()) else { unreachable!() };
        received.verify(bob.public()).unwrap();
        assert_eq!(received.verify(alice.public()), Err(Error::Crypto), "another key");
        let bytes = Message::Drop { transfer: 1, drop: sent }.to_bytes();
        for i in 6..bytes.len() {
            let mut altered = bytes.clone();
            altered[i] ^= 0x01;
            if let Ok(Message::Drop { drop: DropMsg::Receipt { receipt }, .. }) = Message::decode(&altered) {
                assert!(receipt.verify(bob.public()).is_err(), "byte {i} is not covered");
            }
        }
        // A drop header's signature is no receipt: the contexts differ.
        let header = DropHeader::sign(content(&alice, &bob), &alice).unwrap();
        let as_receipt = signed_message(DROP_RECEIPT_CONTEXT, &received.content().to_bytes());
        assert!(alice.public().verify(&as_receipt, header.signature()).is_err());
        assert!(DropReceipt::sign(received.content().clone(), &alice).is_err(), "signed by another key");
    }

    #[test]
    fn golden_bytes_of_the_fixed_messages() {
        let id = DropId([0x11; 16]);
        let cases = [
            (DropMsg::InboxList, "050500000002".to_owned()),
            (DropMsg::Remove { id }, format!("050800000002{}", "11".repeat(16))),
            (DropMsg::Fetch { id, offset: 0x10000 }, format!("050700000002{}0000000000010000", "11".repeat(16))),
            (DropMsg::KeyLookup { user: user("bob") }, "05000000000203626f62".to_owned()),
            (DropMsg::Status, "050a00000002".to_owned()),
            (DropMsg::Revoke { id }, format!("050c00000002{}", "11".repeat(16))),
        ];
        for (drop, hex) in cases {
            let bytes = Message::Drop { transfer: 2, drop }.to_bytes();
            let shown: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(shown, hex);
        }
    }

    #[test]
    fn malformed_drops_do_not_decode() {
        let (alice, bob) = (key(), key());
        let mut to_self = content(&alice, &bob);
        to_self.recipients.push(DropRecipient { user: user("alice"), keys: vec![alice.public().fingerprint()] });
        let mut twice = content(&alice, &bob);
        twice.recipients.push(twice.recipients[0].clone());
        let mut same_key = content(&alice, &bob);
        same_key.recipients[0].keys.push(bob.public().fingerprint());
        let mut no_keys = content(&alice, &bob);
        no_keys.recipients[0].keys.clear();
        let mut nobody = content(&alice, &bob);
        nobody.recipients.clear();
        for bad in [to_self, twice, same_key, no_keys, nobody] {
            let mut bytes = vec![0x05, 0x03, 0, 0, 0, 1];
            bad.encode(&mut bytes);
            alice.sign(b"x").unwrap().encode(&mut bytes);
            bytes.extend_from_slice(&[0, 0, 0, 0, 0]);
            assert!(Message::decode(&bytes).is_err(), "{bad:?}");
        }
        for reserved in 0x050du16..=0x050f {
            let mut bytes = reserved.to_be_bytes().to_vec();
            bytes.extend_from_slice(&[0, 0, 0, 1]);
            assert!(Message::decode(&bytes).is_err(), "{reserved:#06x}");
        }
        let id = "0123456789abcdef0123456789abcdef".parse::<DropId>().unwrap();
        assert_eq!(id.to_string(), "0123456789abcdef0123456789abcdef");
        for bad in ["", "0123456789ABCDEF0123456789abcdef", "0123", "g123456789abcdef0123456789abcdef"] {
            assert!(bad.parse::<DropId>().is_err(), "{bad}");
        }
    }
}
