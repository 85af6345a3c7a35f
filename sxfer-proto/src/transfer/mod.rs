//! The data phase of one file transfer (PROTOCOL.md §7.5–§7.7), as a pair
//! of sans-IO state machines: a [`Sender`] and a [`Receiver`].
//!
//! A transfer moves one file in one direction: the receiver learns its
//! size (the announce), both agree on a start offset (the resume point),
//! Data records carry bytes `offset .. size` with no round trip per
//! record, the receiver may acknowledge durable progress, and the sender
//! ends with `Commit(length, digest)`: the whole file's length and BLAKE3.
//! The receiver compares that with what it holds before anything becomes
//! visible. Uploads (client → server) and downloads (server → client) are
//! the same phase with the roles swapped; only who asks first differs:
//!
//! ```text
//! upload:    Sender::upload ──Upload──▶ Receiver::accept_upload
//!            (resume: ◀──UploadReady(offset)──)   Data…  Commit ──▶
//!            ◀──Ack…── ◀──Committed / Error──
//! download:  Receiver::download ──Download(offset)──▶ Sender::download
//!            ◀──DownloadStart(entry, offset)── ◀──Data…── ◀──Commit / Error──
//! ```
//!
//! The machines see messages and data lengths, never sockets, files or
//! clocks. Hashing is the caller's: the source hashes what it reads (the
//! digest goes into [`Sender::commit`]), the sink what it holds (its
//! digest goes into [`Receiver::verify`]), so hashing can overlap the
//! network on another thread. Every check of the data phase lives here:
//! the offset is within the file, no byte beyond the announced size, no
//! message out of place, the commit agrees with the announce and with the
//! bytes received, acknowledgements only for bytes received.
//!
//! The drive loop of a receiver (the sender's mirrors it):
//!
//! ```text
//! loop {
//!     match next record {
//!         Data(bytes)  => { receiver.on_data(bytes.len())?; sink.write(bytes) }
//!         Message(m)   => match receiver.on_message(m)? {
//!             Step::Started(entry) => …,          // downloads: data follows
//!             Step::Complete(commit) => break,
//!             Step::Refused { .. } => return,      // the sender gave up
//!         }
//!     }
//!     if let Some(ack) = receiver.ack(sink.durable()) { send(ack) }
//! }
//! receiver.verify(&commit, sink.length(), sink.digest())?;   // then commit the sink
//! ```

mod receiver;
mod sender;

pub use receiver::{Receiver, Step};
pub use sender::{Reply, Sender};

use crate::error::CloseCode;
use crate::msgs::app::error_code;

/// What the sender states at the end: the whole file's length and BLAKE3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    pub length: u64,
    pub digest: [u8; 32],
}

/// Why a transfer did not end in a verified file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// The peer broke the data phase (a byte beyond the announced size, a
    /// message out of place, an offset outside the file): the connection
    /// ends (Close `ProtocolViolation`).
    #[error("the peer broke the transfer protocol: {0}")]
    Protocol(&'static str),
    /// The bytes held do not match the sender's commit: this transfer
    /// fails (`INTEGRITY`), the connection goes on, the partial is
    /// discarded so a retry starts at 0.
    #[error("{0}")]
    Integrity(&'static str),
    /// This side used the machine wrongly (a bug here, or a local file
    /// that changed while being sent).
    #[error("{0}")]
    Misuse(&'static str),
}

impl TransferError {
    /// The close code when this error ends the connection.
    pub fn close_code(&self) -> CloseCode {
        match self {
            TransferError::Protocol(_) => CloseCode::ProtocolViolation,
            TransferError::Integrity(_) | TransferError::Misuse(_) => CloseCode::InternalError,
        }
    }

    /// The error code when this error is reported for the transfer alone.
    pub fn error_code(&self) -> u16 {
        match self {
            TransferError::Protocol(_) => error_code::BAD_REQUEST,
            TransferError::Integrity(_) => error_code::INTEGRITY,
            TransferError::Misuse(_) => error_code::INTERNAL,
        }
    }

    /// True if the connection must end (the data phase is out of step).
    pub fn ends_connection(&self) -> bool {
        matches!(self, TransferError::Protocol(_))
    }
}
