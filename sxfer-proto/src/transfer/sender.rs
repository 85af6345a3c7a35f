//! The sending side of one transfer: the client on upload, the server on
//! download (PROTOCOL.md §7.5.1–§7.5.3, §7.6, §7.7).

use super::{Commit, TransferError};
use crate::msgs::{DropId, DropMsg, FileEntry, FileMeta, Message};
use crate::names::RemoteName;

/// What a reply from the receiver meant to the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// (Resumable uploads) send from this offset: the receiver holds the
    /// bytes before it. Hash them locally; send the rest.
    Ready(u64),
    /// The receiver holds this many bytes durably.
    Progress(u64),
    /// The file is verified, durable and visible.
    Committed(FileEntry),
    /// (Drops, PROTOCOL.md §14.4) the ciphertext is verified, durable and
    /// in every recipient's inbox.
    Stored { id: DropId, received: i64 },
    /// The receiver refused or failed the transfer; it is over.
    Refused { code: u16, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// (Resumable uploads) nothing may be sent before UploadReady.
    AwaitReady,
    /// Data records, then the Commit.
    Sending,
    /// The Commit went out; waiting for the verdict (uploads).
    Committed,
    /// The verdict arrived, or (downloads) the Commit or an Error went out.
    Ended,
}

/// The sending state of one transfer.
///
/// It knows the file's size and where sending starts, counts the bytes
/// handed to the record layer so the Commit can only follow the last one,
/// and checks every reply: an UploadReady inside the file and only where
/// one is due, Acks within what was sent, a Committed that describes the
/// file that was sent.
#[derive(Debug, Clone)]
pub struct Sender {
    transfer: u32,
    phase: Phase,
    size: u64,
    start: u64,
    sent: u64,
    acked: u64,
    /// (Uploads) the receiver answers with a verdict after the Commit.
    expects_verdict: bool,
    commit: Option<Commit>,
}

impl Sender {
    /// Upload `meta.size` bytes as `name`: returns the sender and the
    /// Upload request. With `resume`, wait for [`Reply::Ready`] before
    /// sending; otherwise data follows at once from 0 (pipelined).
    pub fn upload(transfer: u32, name: RemoteName, meta: FileMeta, resume: bool) -> (Sender, Message) {
        (Sender::announced(transfer, meta.size, resume), Message::Upload { transfer, name, meta, resume })
    }

    /// The upload of `size` bytes whose request the caller sends (a
    /// DropPut, PROTOCOL.md §14.4): the same data phase as [`upload`](Self::upload).
    pub fn announced(transfer: u32, size: u64, resume: bool) -> Sender {
        let phase = if resume { Phase::AwaitReady } else { Phase::Sending };
        Sender { transfer, phase, size, start: 0, sent: 0, acked: 0, expects_verdict: true, commit: None }
    }

    /// Answer a Download request for `entry` from `offset`: the sender and
    /// the DownloadStart, or `None` if the offset is beyond the end of the
    /// file (refuse with BAD_REQUEST: §7.7.2).
    pub fn download(transfer: u32, entry: FileEntry, offset: u64) -> Option<(Sender, Message)> {
        let size = entry.meta.size;
        if offset > size {
            return None;
        }
        let sender = Sender {
            transfer,
            phase: Phase::Sending,
            size,
            start: offset,
            sent: offset,
            acked: 0,
            expects_verdict: false,
            commit: None,
        };
        Some((sender, Message::DownloadStart { transfer, entry, offset }))
    }

    pub fn transfer(&self) -> u32 {
        self.transfer
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Where sending starts (known once ready).
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Bytes counted as sent, the skipped prefix included.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Bytes still to send.
    pub fn remaining(&self) -> u64 {
        self.size - self.sent
    }

    /// True once the transfer is over, either way.
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// The caller is about to send a Data record of `len` bytes.
    pub fn on_data(&mut self, len: usize) -> Result<(), TransferError> {
        if self.phase != Phase::Sending {
            return Err(TransferError::Misuse("data outside the sending phase"));
        }
        if len as u64 > self.size - self.sent {
            return Err(TransferError::Misuse("the file grew while being sent"));
        }
        self.sent += len as u64;
        Ok(())
    }

    /// All data is out; `digest` is the BLAKE3 of the whole file (the
    /// skipped prefix included). Returns the Commit to send.
    pub fn commit(&mut self, digest: [u8; 32]) -> Result<Message, TransferError> {
        if self.phase != Phase::Sending {
            return Err(TransferError::Misuse("commit outside the sending phase"));
        }
        if self.sent != self.size {
            return Err(TransferError::Misuse("the file shrank while being sent"));
        }
        self.phase = if self.expects_verdict { Phase::Committed } else { Phase::Ended };
        self.commit = Some(Commit { length: self.size, digest });
        Ok(Message::Commit { transfer: self.transfer, length: self.size, digest })
    }

    /// The source failed (e.g. a stored file found damaged): the Error to
    /// send in place of the Commit. The transfer is over.
    pub fn fail(&mut self, code: u16, message: String) -> Message {
        self.phase = Phase::Ended;
        Message::Error { transfer: self.transfer, code, message }
    }

    /// A reply about this transfer arrived (the caller routes by transfer
    /// id; see [`Message::transfer`]).
    pub fn on_message(&mut self, message: Message) -> Result<Reply, TransferError> {
        if message.transfer() != self.transfer {
            return Err(TransferError::Misuse("a reply for another transfer"));
        }
        match (self.phase, message) {
            (Phase::AwaitReady, Message::UploadReady { offset, .. }) => {
                if offset > self.size {
                    return Err(TransferError::Protocol("the resume offset is beyond the end of the file"));
                }
                self.start = offset;
                self.sent = offset;
                self.phase = Phase::Sending;
                Ok(Reply::Ready(offset))
            }
            (Phase::Sending | Phase::Committed, Message::Ack { offset, .. }) if self.expects_verdict => {
                if offset > self.sent || offset < self.acked {
                    return Err(TransferError::Protocol("an acknowledgement of bytes not sent"));
                }
                self.acked = offset;
                Ok(Reply::Progress(offset))
            }
            (Phase::Committed, Message::Committed { entry, .. }) => {
                self.phase = Phase::Ended;
                let commit = self.commit.ok_or(TransferError::Misuse("committed before a commit"))?;
                if entry.meta.size != commit.length || entry.digest != commit.digest {
                    return Err(TransferError::Protocol("the stored file is not the one sent"));
                }
                Ok(Reply::Committed(entry))
            }
            (Phase::Committed, Message::Drop { drop: DropMsg::Stored { id, received }, .. }) => {
                self.phase = Phase::Ended;
                Ok(Reply::Stored { id, received })
            }
            (Phase::AwaitReady | Phase::Sending | Phase::Committed, Message::Error { code, message, .. })
                if self.expects_verdict =>
            {
                self.phase = Phase::Ended;
                Ok(Reply::Refused { code, message })
            }
            (Phase::Ended, _) => Err(TransferError::Protocol("a reply after the transfer ended")),
            _ => Err(TransferError::Protocol("unexpected reply during a transfer")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64) -> FileMeta {
        FileMeta { size, mode: 0o644, mtime: 0, mtime_nanos: 0 }
    }

    #[test]
    fn an_upload_ready_beyond_the_file_is_a_protocol_error() {
        let (mut sender, _) = Sender::upload(1, RemoteName::parse("f").unwrap(), meta(5), true);
        let ready = sender.on_message(Message::UploadReady { transfer: 1, offset: 6 });
        assert_eq!(ready, Err(TransferError::Protocol("the resume offset is beyond the end of the file")));
    }

    #[test]
    fn a_drop_upload_ends_with_its_stored_reply_and_only_after_the_commit() {
        let id = crate::msgs::DropId([7; 16]);
        let stored = Message::Drop { transfer: 4, drop: DropMsg::Stored { id, received: 9 } };
        let mut sender = Sender::announced(4, 3, true);
        assert_eq!(sender.on_message(Message::UploadReady { transfer: 4, offset: 0 }), Ok(Reply::Ready(0)));
        sender.on_data(3).unwrap();
        assert!(sender.on_message(stored.clone()).is_err(), "stored before the commit");
        let mut sender = Sender::announced(4, 3, false);
        sender.on_data(3).unwrap();
        sender.commit([1; 32]).unwrap();
        assert_eq!(sender.on_message(stored.clone()), Ok(Reply::Stored { id, received: 9 }));
        assert!(sender.is_ended());
        assert!(sender.on_message(stored).is_err(), "a second verdict");
    }

    #[test]
    fn nothing_is_sent_before_ready_and_the_commit_follows_the_last_byte() {
        let (mut sender, _) = Sender::upload(1, RemoteName::parse("f").unwrap(), meta(5), true);
        assert!(sender.on_data(1).is_err());
        assert_eq!(sender.on_message(Message::UploadReady { transfer: 1, offset: 2 }), Ok(Reply::Ready(2)));
        assert!(sender.commit([0; 32]).is_err());
        sender.on_data(3).unwrap();
        assert!(sender.on_data(1).is_err());
        assert!(sender.commit([0; 32]).is_ok());
    }
}
