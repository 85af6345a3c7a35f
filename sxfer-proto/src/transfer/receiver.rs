//! The receiving side of one transfer: the server on upload, the client on
//! download (PROTOCOL.md §7.5.1–§7.5.3, §7.6, §7.7).

use super::{Commit, TransferError};
use crate::msgs::{FileEntry, Message};
use crate::names::RemoteName;

/// What a message meant to the receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// (Downloads) the sender's announce: data from [`Receiver::start`]
    /// follows, then a Commit.
    Started(FileEntry),
    /// Every byte arrived and the Commit agrees with the announce. Check
    /// the digest of what is held with [`Receiver::verify`].
    Complete(Commit),
    /// The sender ended the transfer with an Error instead of data or a
    /// Commit. On a download the bytes received so far passed the
    /// server's checks and may be kept to resume from; nothing is a file.
    Refused { code: u16, message: String },
    /// (A refused pipelined upload) its Commit arrived; every Data record
    /// before it was to be discarded.
    Discarded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// (Downloads) asked from `offset`; waiting for DownloadStart or Error.
    Requested,
    /// Data records until the Commit.
    Data,
    /// (Refused pipelined uploads) discard Data up to the next Commit.
    Discarding,
    /// The Commit (or a refusal) arrived: nothing more belongs to it.
    Ended,
}

/// The receiving state of one transfer.
///
/// Tracks the start offset, the bytes received against the announced
/// size, and the acknowledged offset. [`Receiver::on_data`] refuses a byte
/// beyond the size as it arrives (a hostile sender cannot fill a disk);
/// [`Receiver::on_message`] accepts only the messages the phase allows.
#[derive(Debug, Clone)]
pub struct Receiver {
    transfer: u32,
    phase: Phase,
    size: u64,
    start: u64,
    received: u64,
    acked: u64,
    /// The digest announced before the data (downloads: `entry.digest`);
    /// the Commit must repeat it.
    announced: Option<[u8; 32]>,
    /// (Downloads) the sender may end with an Error instead of a Commit.
    refusable: bool,
}

impl Receiver {
    /// The server accepted an upload of `size` bytes and holds `offset` of
    /// them (0, or what a partial upload recovered): data follows from
    /// there. `offset > size` is a bug of the caller.
    pub fn accept_upload(transfer: u32, size: u64, offset: u64) -> Result<Receiver, TransferError> {
        if offset > size {
            return Err(TransferError::Misuse("resume offset beyond the file"));
        }
        Ok(Receiver {
            transfer,
            phase: Phase::Data,
            size,
            start: offset,
            received: offset,
            acked: 0,
            announced: None,
            refusable: false,
        })
    }

    /// A refused pipelined upload: its Data records are discarded up to
    /// and including the next Commit, whatever its transfer id (§7.5.1).
    pub fn discard(transfer: u32) -> Receiver {
        Receiver {
            transfer,
            phase: Phase::Discarding,
            size: 0,
            start: 0,
            received: 0,
            acked: 0,
            announced: None,
            refusable: false,
        }
    }

    /// Ask for `name` from `offset` (the bytes already held from an
    /// earlier attempt): returns the receiver and the Download request.
    pub fn download(transfer: u32, name: RemoteName, offset: u64) -> (Receiver, Message) {
        (Receiver::requested(transfer, offset), Message::Download { transfer, name, offset })
    }

    /// A download from `offset` whose request the caller sends (a
    /// DropFetch, PROTOCOL.md §14.4), answered exactly like a Download.
    pub fn requested(transfer: u32, offset: u64) -> Receiver {
        Receiver {
            transfer,
            phase: Phase::Requested,
            size: 0,
            start: offset,
            received: offset,
            acked: 0,
            announced: None,
            refusable: true,
        }
    }

    pub fn transfer(&self) -> u32 {
        self.transfer
    }

    /// The announced size (known once the transfer started).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The offset data starts from.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Bytes held: the start offset plus the Data received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Bytes still to come before the Commit (0 while a download waits
    /// for its announce: the size is not known yet).
    pub fn remaining(&self) -> u64 {
        self.size.saturating_sub(self.received)
    }

    /// A Data record of `len` bytes arrived. In the data phase it must fit
    /// within the announced size (`Ok(true)`: write it); while discarding
    /// it is dropped (`Ok(false)`); anywhere else it is out of place.
    pub fn on_data(&mut self, len: usize) -> Result<bool, TransferError> {
        match self.phase {
            Phase::Data => {
                let len = len as u64;
                if len > self.size - self.received {
                    return Err(TransferError::Protocol("more data than the announced size"));
                }
                self.received += len;
                Ok(true)
            }
            Phase::Discarding => Ok(false),
            Phase::Requested => Err(TransferError::Protocol("data before the transfer started")),
            Phase::Ended => Err(TransferError::Protocol("data after the transfer ended")),
        }
    }

    /// A message arrived while this transfer is the one in progress.
    pub fn on_message(&mut self, message: Message) -> Result<Step, TransferError> {
        match (self.phase, message) {
            (Phase::Requested, Message::DownloadStart { transfer, entry, offset }) if transfer == self.transfer => {
                if offset != self.start {
                    return Err(TransferError::Protocol("the download starts at another offset than asked"));
                }
                if offset > entry.meta.size {
                    return Err(TransferError::Protocol("the download starts beyond the end of the file"));
                }
                self.size = entry.meta.size;
                self.announced = Some(entry.digest);
                self.phase = Phase::Data;
                Ok(Step::Started(entry))
            }
            (Phase::Requested | Phase::Data, Message::Error { transfer, code, message })
                if self.refusable && transfer == self.transfer =>
            {
                self.phase = Phase::Ended;
                Ok(Step::Refused { code, message })
            }
            (Phase::Data, Message::Commit { transfer, length, digest }) if transfer == self.transfer => {
                self.phase = Phase::Ended;
                if length != self.size {
                    return Err(TransferError::Integrity("the commit's length differs from the announced size"));
                }
                if self.announced.is_some_and(|announced| announced != digest) {
                    return Err(TransferError::Integrity("the commit's digest differs from the announced one"));
                }
                if self.received != self.size {
                    return Err(TransferError::Integrity("fewer bytes arrived than the file's size"));
                }
                Ok(Step::Complete(Commit { length, digest }))
            }
            (Phase::Discarding, Message::Commit { .. }) => {
                self.phase = Phase::Ended;
                Ok(Step::Discarded)
            }
            (Phase::Ended, _) => Err(TransferError::Protocol("a message after the transfer ended")),
            _ => Err(TransferError::Protocol("unexpected message during a transfer")),
        }
    }

    /// The first `durable` bytes are on stable storage: the Ack to send,
    /// if that is news. Never more than was received, never backwards,
    /// never after the end.
    pub fn ack(&mut self, durable: u64) -> Option<Message> {
        let durable = durable.min(self.received);
        if self.phase != Phase::Data || durable <= self.acked {
            return None;
        }
        self.acked = durable;
        Some(Message::Ack { transfer: self.transfer, offset: durable })
    }

    /// The whole-file check (§7.6): the sink holds `length` bytes whose
    /// BLAKE3 is `digest`; both must equal the commit.
    pub fn verify(&self, commit: &Commit, length: u64, digest: &[u8; 32]) -> Result<(), TransferError> {
        if length != commit.length {
            return Err(TransferError::Integrity("the received length differs from the sender's"));
        }
        // Not secret: the digest of the file being transferred.
        if digest != &commit.digest {
            return Err(TransferError::Integrity("the received bytes do not match the sender's digest"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgs::FileMeta;

    fn entry(size: u64) -> FileEntry {
        let meta = FileMeta { size, mode: 0o644, mtime: 0, mtime_nanos: 0 };
        FileEntry { name: RemoteName::parse("f").unwrap(), meta, digest: [7; 32], stored: 0 }
    }

    #[test]
    fn a_server_offset_beyond_the_file_is_a_protocol_error() {
        // Used to wrap `size - offset` in the client and write without bound.
        let (mut receiver, _) = Receiver::download(1, RemoteName::parse("f").unwrap(), 10);
        let started = receiver.on_message(Message::DownloadStart { transfer: 1, entry: entry(5), offset: 10 });
        assert_eq!(started, Err(TransferError::Protocol("the download starts beyond the end of the file")));
    }

    #[test]
    fn nothing_is_known_to_remain_before_a_resumed_download_starts() {
        // Was `0 - offset`: a panic in debug builds, a wrap in release.
        let (mut receiver, _) = Receiver::download(1, RemoteName::parse("f").unwrap(), 10);
        assert_eq!(receiver.remaining(), 0);
        receiver.on_message(Message::DownloadStart { transfer: 1, entry: entry(25), offset: 10 }).unwrap();
        assert_eq!(receiver.remaining(), 15);
    }

    #[test]
    fn acks_never_exceed_what_arrived_nor_go_back() {
        let mut receiver = Receiver::accept_upload(3, 100, 0).unwrap();
        receiver.on_data(40).unwrap();
        assert_eq!(receiver.ack(90), Some(Message::Ack { transfer: 3, offset: 40 }));
        assert_eq!(receiver.ack(30), None);
        assert_eq!(receiver.ack(40), None);
    }
}
