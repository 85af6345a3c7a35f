//! The one async pump of the data phase:
//! `Source -> Sender -> session -> Receiver -> Sink`.
//!
//! The protocol checks are the sans-IO machines of
//! [`sxfer_proto::transfer`]; this module moves the bytes. A [`Source`]
//! is read on a blocking thread into record buffers (hashing as it reads)
//! while the async side seals and writes them ([`send`]); on the other
//! end [`receive`] feeds each Data record to the [`Receiver`] and then to
//! a [`Sink`], acknowledging what the sink reports durable. Every caller —
//! the server's upload and download, the client's upload and download,
//! and peer mode — is this pump with its own source and sink:
//!
//! | path | source | sink |
//! |---|---|---|
//! | client upload | [`LocalFile`] (hashed while read) | server: `UploadSink` in `server/blob_io.rs` (a store upload), or [`Memory`] for a pipelined small file, staged by `server/batch.rs` |
//! | client download | server: `BlobSource` in `server/blob_io.rs` (a stored age blob) | [`PartialFile`] or [`Memory`] |
//!
//! A file that fits in memory can skip the blocking hand-off: [`produce`]
//! reads it whole in the caller's blocking call and [`queue_whole`] seals
//! it into the write buffer with its request and Commit (pipelining).

mod pump;
mod sink;
mod source;

pub use pump::{queue_whole, receive, send, started, ClosedMidTransfer, Received, Sent};
pub use sink::{open_locked, Discard, Memory, PartialFile, Sink, Written};
pub use source::{produce, LocalFile, Source};

use std::sync::{Arc, Mutex};

use anyhow::Result;

use crate::net::conn::{Incoming, SessionReader};
use sxfer_proto::msgs::Message;
use sxfer_proto::record::MAX_PAYLOAD;
use sxfer_proto::CloseCode;

/// Plaintext per data record: every record but a file's last is full.
pub const CHUNK: usize = MAX_PAYLOAD;

/// A Data record's bytes: borrowed from the receive buffer (opened in
/// place, the server) or an owned buffer (from the client's reader task),
/// so a sink that keeps them copies only when it must.
pub enum Chunk<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl Chunk<'_> {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Borrowed(bytes) => bytes,
            Chunk::Owned(buf) => buf,
        }
    }

    /// The bytes as an owned buffer, copied into a pooled one if borrowed.
    pub fn into_owned(self, buffers: &BufferPool) -> Vec<u8> {
        match self {
            Chunk::Borrowed(bytes) => buffers.filled_with(bytes),
            Chunk::Owned(buf) => buf,
        }
    }
}

/// Spare buffers kept for reuse.
const SPARE_BUFFERS: usize = 8;

/// Data buffers go from whoever fills them (the client's reader task, a
/// sink copying a borrowed record) to whoever writes them and back, so a
/// long transfer allocates a handful of buffers, not one per record.
#[derive(Clone, Default)]
pub struct BufferPool(Arc<Mutex<Vec<Vec<u8>>>>);

impl BufferPool {
    /// A pooled buffer holding a copy of `bytes`.
    pub fn filled_with(&self, bytes: &[u8]) -> Vec<u8> {
        let mut buf = self.0.lock().ok().and_then(|mut spare| spare.pop()).unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(bytes);
        buf
    }

    /// Hand a buffer back once its bytes are used.
    pub fn recycle(&self, buf: Vec<u8>) {
        if let Ok(mut spare) = self.0.lock() {
            if spare.len() < SPARE_BUFFERS {
                spare.push(buf);
            }
        }
    }
}

/// One record from the session.
pub enum Record<'a> {
    Message(Message),
    Data(Chunk<'a>),
    /// The peer closed with an authenticated Close.
    Closed(CloseCode),
}

/// The inbound side of a session, as the pump reads it: the server's
/// [`SessionReader`] directly, the client's reader-task events.
pub trait Records {
    fn next_record(&mut self) -> impl std::future::Future<Output = Result<Record<'_>>> + Send;
}

impl Records for SessionReader {
    async fn next_record(&mut self) -> Result<Record<'_>> {
        Ok(match self.next().await? {
            Incoming::Message(message) => Record::Message(message),
            Incoming::Data(bytes) => Record::Data(Chunk::Borrowed(bytes)),
            Incoming::Closed(code) => Record::Closed(code),
        })
    }
}
