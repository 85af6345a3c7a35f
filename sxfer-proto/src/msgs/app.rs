//! The application message envelope (PROTOCOL.md §7): everything sent in
//! `Message` records after authentication. `kind: u16 ‖ body`; unknown kinds
//! are errors. File bytes travel in `Data` records, never in messages.
//!
//! Requests carry a client-chosen `transfer` id that every response about
//! them echoes; the server handles them in order, so a client may pipeline.

use super::direct::Direct;
use super::drop::DropMsg;
use super::fields::{put_name, read_bool, read_name};
pub use super::fields::{FileMeta, MAX_ERROR_MESSAGE};
use super::peer::{encode_offer, read_offer, OfferAnswer, OfferEntry};
use super::relay::Relay;
use crate::codec::{bounded_str, Codec, Reader, Writer};
use crate::error::{Error, Result};
use crate::names::{RemoteName, MAX_NAME};

/// Entries per Listing message (a listing may span several).
pub const MAX_LISTING: usize = 4096;

const KIND_ERROR: u16 = 0x0100;
const KIND_ACK: u16 = 0x0101;
const KIND_COMMIT: u16 = 0x0102;
const KIND_UPLOAD: u16 = 0x0200;
const KIND_UPLOAD_READY: u16 = 0x0201;
const KIND_COMMITTED: u16 = 0x0202;
const KIND_DOWNLOAD: u16 = 0x0203;
const KIND_DOWNLOAD_START: u16 = 0x0204;
const KIND_LIST: u16 = 0x0205;
const KIND_LISTING: u16 = 0x0206;
const KIND_STAT: u16 = 0x0207;
const KIND_DELETE: u16 = 0x0208;
const KIND_RENAME: u16 = 0x0209;
const KIND_DONE: u16 = 0x020a;
const KIND_OFFER: u16 = 0x0300;
const KIND_OFFER_REPLY: u16 = 0x0301;

/// Error codes in `Message::Error` (PROTOCOL.md §7.4).
pub mod error_code {
    pub const NOT_FOUND: u16 = 0x0001;
    pub const EXISTS: u16 = 0x0002;
    pub const QUOTA: u16 = 0x0003;
    pub const TOO_LARGE: u16 = 0x0004;
    pub const BAD_NAME: u16 = 0x0005;
    pub const INTEGRITY: u16 = 0x0006;
    pub const INTERNAL: u16 = 0x0007;
    pub const BAD_REQUEST: u16 = 0x0008;
    pub const SHUTTING_DOWN: u16 = 0x0009;
    /// A server limit was reached (concurrent relays, claims per address).
    pub const LIMIT: u16 = 0x000a;
    /// The nameplate expired before anyone joined it.
    pub const EXPIRED: u16 = 0x000b;
    /// The server does not offer this to this session (relay off, or an
    /// anonymous session asking for anything but a relay).
    pub const REFUSED: u16 = 0x000c;
    /// The server's storage is full (or a file-size limit on its side
    /// stopped the write); the upload's verified prefix is kept, so retrying
    /// later resumes it.
    pub const OUT_OF_SPACE: u16 = 0x000d;
}

/// A stored file as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub name: RemoteName,
    pub meta: FileMeta,
    /// BLAKE3 of the contents.
    pub digest: [u8; 32],
    /// When the server committed it, seconds since the Unix epoch.
    pub stored: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A refusal or failure the peer should show its user.
    Error {
        transfer: u32,
        code: u16,
        message: String,
    },
    /// The receiver has durably stored `offset` bytes of `transfer`: the
    /// resume point.
    Ack {
        transfer: u32,
        offset: u64,
    },
    /// The sender has sent all `length` bytes; `digest` is the whole-file
    /// BLAKE3 the receiver must check before committing.
    Commit {
        transfer: u32,
        length: u64,
        digest: [u8; 32],
    },
    /// Store a file. `resume`: wait for UploadReady and continue a partial
    /// upload of the same name, size and mtime; otherwise data follows at
    /// once from offset 0 (small files, no round trip).
    Upload {
        transfer: u32,
        name: RemoteName,
        meta: FileMeta,
        resume: bool,
    },
    /// Send data for `transfer` from `offset`.
    UploadReady {
        transfer: u32,
        offset: u64,
    },
    /// The upload is verified, durable and visible.
    Committed {
        transfer: u32,
        entry: FileEntry,
    },
    /// Fetch a file from `offset` (resuming a partial download).
    Download {
        transfer: u32,
        name: RemoteName,
        offset: u64,
    },
    /// Data from `offset` follows, then a Commit with the whole-file digest.
    DownloadStart {
        transfer: u32,
        entry: FileEntry,
        offset: u64,
    },
    /// List files whose name starts with `prefix` ("" = all).
    List {
        transfer: u32,
        prefix: String,
    },
    /// Part of a listing; the last part has `more == false`.
    Listing {
        transfer: u32,
        entries: Vec<FileEntry>,
        more: bool,
    },
    Stat {
        transfer: u32,
        name: RemoteName,
    },
    Delete {
        transfer: u32,
        name: RemoteName,
    },
    Rename {
        transfer: u32,
        from: RemoteName,
        to: RemoteName,
    },
    /// A request without a payload of its own succeeded.
    Done {
        transfer: u32,
    },
    /// Peer mode (§13): part of the sender's manifest; the last part has
    /// `more == false`.
    Offer {
        transfer: u32,
        entries: Vec<OfferEntry>,
        more: bool,
    },
    /// Peer mode: the receiver accepts the whole offer (saying what it
    /// already holds) or declines it.
    OfferReply {
        transfer: u32,
        answer: OfferAnswer,
    },
    /// Rendezvous and relay (PROTOCOL.md §12).
    Relay {
        transfer: u32,
        relay: Relay,
    },
    /// Peer mode's direct upgrade (PROTOCOL.md §13.10).
    Direct {
        transfer: u32,
        direct: Direct,
    },
    /// Key directory, drops and inbox (PROTOCOL.md §14).
    Drop {
        transfer: u32,
        drop: DropMsg,
    },
}

impl Codec for FileEntry {
    fn encode(&self, out: &mut Vec<u8>) {
        put_name(out, &self.name);
        self.meta.encode(out);
        out.extend_from_slice(&self.digest);
        out.put_u64(self.stored as u64);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let name = read_name(r)?;
        let meta = FileMeta::read(r)?;
        let digest = r.array()?;
        let stored = r.u64()? as i64;
        Ok(FileEntry { name, meta, digest, stored })
    }
}

impl Message {
    /// The request this message belongs to.
    pub fn transfer(&self) -> u32 {
        match self {
            Message::Error { transfer, .. }
            | Message::Ack { transfer, .. }
            | Message::Commit { transfer, .. }
            | Message::Upload { transfer, .. }
            | Message::UploadReady { transfer, .. }
            | Message::Committed { transfer, .. }
            | Message::Download { transfer, .. }
            | Message::DownloadStart { transfer, .. }
            | Message::List { transfer, .. }
            | Message::Listing { transfer, .. }
            | Message::Stat { transfer, .. }
            | Message::Delete { transfer, .. }
            | Message::Rename { transfer, .. }
            | Message::Done { transfer }
            | Message::Offer { transfer, .. }
            | Message::OfferReply { transfer, .. }
            | Message::Relay { transfer, .. }
            | Message::Direct { transfer, .. }
            | Message::Drop { transfer, .. } => *transfer,
        }
    }
}

impl Codec for Message {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Message::Error { transfer, code, message } => {
                head(out, KIND_ERROR, *transfer);
                out.put_u16(*code);
                out.put_bytes_u16(bounded_str(message, MAX_ERROR_MESSAGE).as_bytes());
            }
            Message::Ack { transfer, offset } => {
                head(out, KIND_ACK, *transfer);
                out.put_u64(*offset);
            }
            Message::Commit { transfer, length, digest } => {
                head(out, KIND_COMMIT, *transfer);
                out.put_u64(*length);
                out.extend_from_slice(digest);
            }
            Message::Upload { transfer, name, meta, resume } => {
                head(out, KIND_UPLOAD, *transfer);
                put_name(out, name);
                meta.encode(out);
                out.put_u8(u8::from(*resume));
            }
            Message::UploadReady { transfer, offset } => {
                head(out, KIND_UPLOAD_READY, *transfer);
                out.put_u64(*offset);
            }
            Message::Committed { transfer, entry } => {
                head(out, KIND_COMMITTED, *transfer);
                entry.encode(out);
            }
            Message::Download { transfer, name, offset } => {
                head(out, KIND_DOWNLOAD, *transfer);
                put_name(out, name);
                out.put_u64(*offset);
            }
            Message::DownloadStart { transfer, entry, offset } => {
                head(out, KIND_DOWNLOAD_START, *transfer);
                entry.encode(out);
                out.put_u64(*offset);
            }
            Message::List { transfer, prefix } => {
                head(out, KIND_LIST, *transfer);
                out.put_bytes_u16(bounded_str(prefix, MAX_NAME).as_bytes());
            }
            Message::Listing { transfer, entries, more } => {
                head(out, KIND_LISTING, *transfer);
                out.put_u16(entries.len() as u16);
                for entry in entries {
                    entry.encode(out);
                }
                out.put_u8(u8::from(*more));
            }
            Message::Stat { transfer, name } => {
                head(out, KIND_STAT, *transfer);
                put_name(out, name);
            }
            Message::Delete { transfer, name } => {
                head(out, KIND_DELETE, *transfer);
                put_name(out, name);
            }
            Message::Rename { transfer, from, to } => {
                head(out, KIND_RENAME, *transfer);
                put_name(out, from);
                put_name(out, to);
            }
            Message::Done { transfer } => head(out, KIND_DONE, *transfer),
            Message::Offer { transfer, entries, more } => {
                head(out, KIND_OFFER, *transfer);
                encode_offer(out, entries, *more);
            }
            Message::OfferReply { transfer, answer } => {
                head(out, KIND_OFFER_REPLY, *transfer);
                answer.encode(out);
            }
            Message::Relay { transfer, relay } => {
                head(out, relay.kind(), *transfer);
                relay.encode_body(out);
            }
            Message::Direct { transfer, direct } => {
                head(out, direct.kind(), *transfer);
                direct.encode_body(out);
            }
            Message::Drop { transfer, drop } => {
                head(out, drop.kind(), *transfer);
                drop.encode_body(out);
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let kind = r.u16()?;
        let transfer = r.u32()?;
        Ok(match kind {
            KIND_ERROR => {
                let code = r.u16()?;
                let message = r.str_u16(MAX_ERROR_MESSAGE)?.to_owned();
                Message::Error { transfer, code, message }
            }
            KIND_ACK => Message::Ack { transfer, offset: r.u64()? },
            KIND_COMMIT => Message::Commit { transfer, length: r.u64()?, digest: r.array()? },
            KIND_UPLOAD => {
                let name = read_name(r)?;
                let meta = FileMeta::read(r)?;
                let resume = read_bool(r)?;
                Message::Upload { transfer, name, meta, resume }
            }
            KIND_UPLOAD_READY => Message::UploadReady { transfer, offset: r.u64()? },
            KIND_COMMITTED => Message::Committed { transfer, entry: FileEntry::read(r)? },
            KIND_DOWNLOAD => Message::Download { transfer, name: read_name(r)?, offset: r.u64()? },
            KIND_DOWNLOAD_START => Message::DownloadStart { transfer, entry: FileEntry::read(r)?, offset: r.u64()? },
            KIND_LIST => Message::List { transfer, prefix: r.str_u16(MAX_NAME)?.to_owned() },
            KIND_LISTING => {
                let count = usize::from(r.u16()?);
                if count > MAX_LISTING {
                    return Err(Error::Malformed("listing longer than its maximum"));
                }
                let mut entries = Vec::with_capacity(count);
                for _ in 0..count {
                    entries.push(FileEntry::read(r)?);
                }
                Message::Listing { transfer, entries, more: read_bool(r)? }
            }
            KIND_STAT => Message::Stat { transfer, name: read_name(r)? },
            KIND_DELETE => Message::Delete { transfer, name: read_name(r)? },
            KIND_RENAME => Message::Rename { transfer, from: read_name(r)?, to: read_name(r)? },
            KIND_DONE => Message::Done { transfer },
            KIND_OFFER => {
                let (entries, more) = read_offer(r)?;
                Message::Offer { transfer, entries, more }
            }
            KIND_OFFER_REPLY => Message::OfferReply { transfer, answer: OfferAnswer::read(r)? },
            _ => {
                if let Some(relay) = Relay::read_body(kind, r)? {
                    Message::Relay { transfer, relay }
                } else if let Some(direct) = Direct::read_body(kind, r)? {
                    Message::Direct { transfer, direct }
                } else if let Some(drop) = DropMsg::read_body(kind, r)? {
                    Message::Drop { transfer, drop }
                } else {
                    return Err(Error::Malformed("unknown message kind"));
                }
            }
        })
    }
}

fn head(out: &mut Vec<u8>, kind: u16, transfer: u32) {
    out.put_u16(kind);
    out.put_u32(transfer);
}
