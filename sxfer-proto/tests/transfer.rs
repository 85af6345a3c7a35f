//! The data phase in memory: a Sender against a Receiver, with a toy sink
//! that keeps a partial and moves it to a "final name" only after the
//! whole-file check. Whatever happens on the wire — truncation at every
//! message boundary, a wrong digest or length, duplicated, reordered or
//! altered messages, resume at any offset — the outcome is the file,
//! verified, or a clear error with nothing under the final name.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use sxfer_proto::msgs::{FileEntry, FileMeta, Message};
use sxfer_proto::names::RemoteName;
use sxfer_proto::transfer::{Commit, Receiver, Reply, Sender, Step, TransferError};

/// One record on the wire.
#[derive(Debug, Clone, PartialEq)]
enum Wire {
    Message(Message),
    Data(Vec<u8>),
}

/// How a receiver's run ended.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Verified and moved to its final name.
    Placed,
    /// The stream ended before the transfer did (a cut connection).
    Cut,
    /// The sender refused (Error instead of Commit).
    Refused,
    Failed(TransferError),
}

/// A receiving end: a partial file and a final name.
#[derive(Default)]
struct Disk {
    partial: Vec<u8>,
    placed: Option<Vec<u8>>,
}

const RECORD: usize = 1000;

fn meta(size: usize) -> FileMeta {
    FileMeta { size: size as u64, mode: 0o640, mtime: 1_700_000_000, mtime_nanos: 5 }
}

fn name() -> RemoteName {
    RemoteName::parse("dir/file.bin").unwrap()
}

fn file(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 % 251) as u8).collect()
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    *blake3::hash(bytes).as_bytes()
}

fn entry(file: &[u8]) -> FileEntry {
    FileEntry { name: name(), meta: meta(file.len()), digest: digest(file), stored: 1 }
}

/// What a sender puts on the wire from its start offset: data records of
/// `RECORD` bytes (the last shorter), then the Commit.
fn send_data(sender: &mut Sender, file: &[u8]) -> Vec<Wire> {
    let mut wire = Vec::new();
    let start = sender.start() as usize;
    for chunk in file[start..].chunks(RECORD) {
        sender.on_data(chunk.len()).unwrap();
        wire.push(Wire::Data(chunk.to_vec()));
    }
    wire.push(Wire::Message(sender.commit(digest(file)).unwrap()));
    wire
}

/// Feeds `wire` to the receiver; the stream ends after the last item.
fn receive(receiver: &mut Receiver, disk: &mut Disk, wire: &[Wire]) -> Outcome {
    for item in wire {
        let step = match item {
            Wire::Data(bytes) => match receiver.on_data(bytes.len()) {
                Ok(write) => {
                    if write {
                        disk.partial.extend_from_slice(bytes);
                    }
                    continue;
                }
                Err(e) => return Outcome::Failed(e),
            },
            Wire::Message(message) => receiver.on_message(message.clone()),
        };
        match step {
            Ok(Step::Started(_)) => {}
            Ok(Step::Complete(commit)) => return place(receiver, disk, &commit),
            Ok(Step::Refused { .. }) => return Outcome::Refused,
            Ok(Step::Discarded) => return Outcome::Refused,
            Err(e) => return Outcome::Failed(e),
        }
    }
    Outcome::Cut
}

fn place(receiver: &Receiver, disk: &mut Disk, commit: &Commit) -> Outcome {
    match receiver.verify(commit, disk.partial.len() as u64, &digest(&disk.partial)) {
        Ok(()) => {
            disk.placed = Some(std::mem::take(&mut disk.partial));
            Outcome::Placed
        }
        Err(e) => Outcome::Failed(e),
    }
}

/// An upload of `file` resumed at `offset` (0: a fresh one): the wire from
/// the UploadReady on, and a receiver holding the prefix.
fn upload(file: &[u8], offset: usize) -> (Sender, Receiver, Disk, Vec<Wire>) {
    let (mut sender, request) = Sender::upload(9, name(), meta(file.len()), true);
    assert!(matches!(request, Message::Upload { transfer: 9, resume: true, .. }));
    let receiver = Receiver::accept_upload(9, file.len() as u64, offset as u64).unwrap();
    let ready = Message::UploadReady { transfer: 9, offset: offset as u64 };
    assert_eq!(sender.on_message(ready), Ok(Reply::Ready(offset as u64)));
    let disk = Disk { partial: file[..offset].to_vec(), placed: None };
    let wire = send_data(&mut sender, file);
    (sender, receiver, disk, wire)
}

/// A download of `file` resumed at `offset`: the wire from the
/// DownloadStart on, and a receiver (client) holding the prefix.
fn download(file: &[u8], offset: usize) -> (Receiver, Disk, Vec<Wire>) {
    let (receiver, request) = Receiver::download(4, name(), offset as u64);
    assert_eq!(request, Message::Download { transfer: 4, name: name(), offset: offset as u64 });
    let (mut sender, start) = Sender::download(4, entry(file), offset as u64).unwrap();
    let mut wire = vec![Wire::Message(start)];
    wire.extend(send_data(&mut sender, file));
    assert!(sender.is_ended());
    (receiver, Disk { partial: file[..offset].to_vec(), placed: None }, wire)
}

/// The resume points the issue names: 0, mid-record, a record boundary,
/// the full size.
fn offsets(size: usize) -> [usize; 4] {
    [0, RECORD + RECORD / 2, 2 * RECORD, size]
}

#[test]
fn uploads_and_downloads_arrive_verified_from_every_resume_point() {
    let file = file(5 * RECORD + 17);
    for offset in offsets(file.len()) {
        let (mut sender, mut receiver, mut disk, wire) = upload(&file, offset);
        assert_eq!(receive(&mut receiver, &mut disk, &wire), Outcome::Placed, "upload from {offset}");
        assert_eq!(disk.placed.as_deref(), Some(&file[..]));
        let committed = Message::Committed { transfer: 9, entry: entry(&file) };
        assert_eq!(sender.on_message(committed), Ok(Reply::Committed(entry(&file))));

        let (mut receiver, mut disk, wire) = download(&file, offset);
        assert_eq!(receive(&mut receiver, &mut disk, &wire), Outcome::Placed, "download from {offset}");
        assert_eq!(disk.placed.as_deref(), Some(&file[..]));
    }
}

#[test]
fn empty_files_arrive_verified() {
    let (_, mut receiver, mut disk, wire) = upload(&[], 0);
    assert_eq!(wire.len(), 1, "nothing but the Commit");
    assert_eq!(receive(&mut receiver, &mut disk, &wire), Outcome::Placed);
    let (mut receiver, mut disk, wire) = download(&[], 0);
    assert_eq!(receive(&mut receiver, &mut disk, &wire), Outcome::Placed);
    assert_eq!(disk.placed, Some(Vec::new()));
}

#[test]
fn truncation_at_every_message_boundary_places_nothing() {
    let file = file(4 * RECORD + 1);
    for offset in offsets(file.len()) {
        let (_, _, _, wire) = upload(&file, offset);
        for cut in 0..wire.len() {
            let (_, mut receiver, mut disk, _) = upload(&file, offset);
            assert_eq!(receive(&mut receiver, &mut disk, &wire[..cut]), Outcome::Cut, "upload cut at {cut}");
            assert_eq!(disk.placed, None);
            // What is held is a prefix of the file: resumable.
            assert!(file.starts_with(&disk.partial));
            assert_eq!(receiver.received(), disk.partial.len() as u64);
        }
        let (_, _, wire) = download(&file, offset);
        for cut in 0..wire.len() {
            let (mut receiver, mut disk, _) = download(&file, offset);
            assert_eq!(receive(&mut receiver, &mut disk, &wire[..cut]), Outcome::Cut, "download cut at {cut}");
            assert_eq!(disk.placed, None);
            assert!(file.starts_with(&disk.partial));
        }
    }
}

#[test]
fn a_wrong_digest_places_nothing() {
    let file = file(3 * RECORD);
    let (_, mut receiver, mut disk, mut wire) = upload(&file, 0);
    let last = wire.len() - 1;
    wire[last] = Wire::Message(Message::Commit { transfer: 9, length: file.len() as u64, digest: [1; 32] });
    assert_eq!(
        receive(&mut receiver, &mut disk, &wire),
        Outcome::Failed(TransferError::Integrity("the received bytes do not match the sender's digest"))
    );
    assert_eq!(disk.placed, None);

    // A download whose Commit disagrees with its own announce.
    let (mut receiver, mut disk, mut wire) = download(&file, 0);
    let last = wire.len() - 1;
    wire[last] = Wire::Message(Message::Commit { transfer: 4, length: file.len() as u64, digest: [1; 32] });
    assert_eq!(
        receive(&mut receiver, &mut disk, &wire),
        Outcome::Failed(TransferError::Integrity("the commit's digest differs from the announced one"))
    );
    assert_eq!(disk.placed, None);
}

#[test]
fn a_resumed_prefix_from_another_version_places_nothing() {
    let file = file(3 * RECORD);
    for offset in [RECORD / 2, RECORD, 3 * RECORD] {
        let (_, mut receiver, mut disk, wire) = upload(&file, offset);
        disk.partial[0] ^= 1;
        assert_eq!(
            receive(&mut receiver, &mut disk, &wire),
            Outcome::Failed(TransferError::Integrity("the received bytes do not match the sender's digest")),
            "upload from {offset}"
        );
        assert_eq!(disk.placed, None);
        let (mut receiver, mut disk, wire) = download(&file, offset);
        disk.partial[0] ^= 1;
        assert!(matches!(receive(&mut receiver, &mut disk, &wire), Outcome::Failed(TransferError::Integrity(_))));
        assert_eq!(disk.placed, None);
    }
}

#[test]
fn wrong_lengths_place_nothing() {
    let file = file(3 * RECORD);
    // One record missing: fewer bytes than the size.
    let (_, mut receiver, mut disk, mut wire) = upload(&file, 0);
    wire.remove(1);
    assert_eq!(
        receive(&mut receiver, &mut disk, &wire),
        Outcome::Failed(TransferError::Integrity("fewer bytes arrived than the file's size"))
    );
    assert_eq!(disk.placed, None);

    // A Commit claiming another length.
    let (_, mut receiver, mut disk, mut wire) = upload(&file, 0);
    let last = wire.len() - 1;
    wire[last] = Wire::Message(Message::Commit { transfer: 9, length: 1, digest: digest(&file) });
    assert_eq!(
        receive(&mut receiver, &mut disk, &wire),
        Outcome::Failed(TransferError::Integrity("the commit's length differs from the announced size"))
    );

    // One byte too many is refused as it arrives, before it is written.
    let (_, up_receiver, up_disk, up_wire) = upload(&file, 0);
    for (mut receiver, mut disk, mut wire) in [(up_receiver, up_disk, up_wire), download(&file, 0)] {
        let commit = wire.len() - 1;
        wire.insert(commit, Wire::Data(vec![0]));
        assert_eq!(
            receive(&mut receiver, &mut disk, &wire),
            Outcome::Failed(TransferError::Protocol("more data than the announced size"))
        );
        assert_eq!(disk.partial, file, "the extra byte was never written");
        assert_eq!(disk.placed, None);
    }
}

#[test]
fn duplicate_and_out_of_order_messages_are_refused() {
    let file = file(2 * RECORD);
    // A second Commit after the first, data after the Commit.
    let (_, mut receiver, mut disk, wire) = upload(&file, 0);
    assert_eq!(receive(&mut receiver, &mut disk, &wire), Outcome::Placed);
    let commit = wire.last().unwrap().clone();
    assert_eq!(
        receive(&mut receiver, &mut disk, &[commit]),
        Outcome::Failed(TransferError::Protocol("a message after the transfer ended"))
    );
    assert_eq!(
        receive(&mut receiver, &mut disk, &[Wire::Data(vec![1])]),
        Outcome::Failed(TransferError::Protocol("data after the transfer ended"))
    );

    // The Commit of another transfer, or a request, during the data.
    let (_, mut receiver, mut disk, mut wire) = upload(&file, 0);
    let last = wire.len() - 1;
    wire[last] = Wire::Message(Message::Commit { transfer: 8, length: file.len() as u64, digest: digest(&file) });
    assert_eq!(
        receive(&mut receiver, &mut disk, &wire),
        Outcome::Failed(TransferError::Protocol("unexpected message during a transfer"))
    );
    let (_, mut receiver, mut disk, mut wire) = upload(&file, 0);
    wire.insert(1, Wire::Message(Message::Stat { transfer: 10, name: name() }));
    assert!(matches!(receive(&mut receiver, &mut disk, &wire), Outcome::Failed(TransferError::Protocol(_))));

    // Downloads: data before the DownloadStart, a second DownloadStart,
    // a DownloadStart at another offset than asked.
    let (mut receiver, mut disk, mut wire) = download(&file, 0);
    wire.swap(0, 1);
    assert_eq!(
        receive(&mut receiver, &mut disk, &wire),
        Outcome::Failed(TransferError::Protocol("data before the transfer started"))
    );
    let (mut receiver, mut disk, mut wire) = download(&file, 0);
    wire.insert(1, wire[0].clone());
    assert!(matches!(receive(&mut receiver, &mut disk, &wire), Outcome::Failed(TransferError::Protocol(_))));
    let (mut receiver, mut disk, _) = download(&file, RECORD);
    let (_, _, wire) = download(&file, 0);
    assert_eq!(
        receive(&mut receiver, &mut disk, &wire),
        Outcome::Failed(TransferError::Protocol("the download starts at another offset than asked"))
    );
    assert_eq!(disk.placed, None);
}

#[test]
fn a_sender_checks_every_reply() {
    let file = file(2 * RECORD);
    let (mut sender, _, _, _) = upload(&file, 0);
    // An Ack beyond what was sent, a Committed for another file, replies
    // after the verdict.
    let (mut early, _) = Sender::upload(9, name(), meta(file.len()), false);
    early.on_data(10).unwrap();
    assert_eq!(
        early.on_message(Message::Ack { transfer: 9, offset: 11 }),
        Err(TransferError::Protocol("an acknowledgement of bytes not sent"))
    );
    let mut other = entry(&file);
    other.digest[0] ^= 1;
    assert_eq!(
        sender.on_message(Message::Committed { transfer: 9, entry: other }),
        Err(TransferError::Protocol("the stored file is not the one sent"))
    );
    assert_eq!(
        sender.on_message(Message::Committed { transfer: 9, entry: entry(&file) }),
        Err(TransferError::Protocol("a reply after the transfer ended"))
    );
    // A second UploadReady, a Committed before the Commit.
    let (mut sender, _) = Sender::upload(9, name(), meta(file.len()), true);
    assert_eq!(sender.on_message(Message::UploadReady { transfer: 9, offset: 0 }), Ok(Reply::Ready(0)));
    assert!(matches!(
        sender.on_message(Message::UploadReady { transfer: 9, offset: 0 }),
        Err(TransferError::Protocol(_))
    ));
    assert!(matches!(
        sender.on_message(Message::Committed { transfer: 9, entry: entry(&file) }),
        Err(TransferError::Protocol(_))
    ));
    // A refusal before UploadReady ends it: nothing may be sent.
    let (mut sender, _) = Sender::upload(9, name(), meta(file.len()), true);
    let refusal = Message::Error { transfer: 9, code: 3, message: "quota".into() };
    assert_eq!(sender.on_message(refusal), Ok(Reply::Refused { code: 3, message: "quota".into() }));
    assert!(sender.on_data(1).is_err());
    // A download offset past the end is refused by the server's sender.
    assert!(Sender::download(4, entry(&file), file.len() as u64 + 1).is_none());
}

#[test]
fn a_refused_pipelined_upload_is_discarded_up_to_its_commit() {
    let file = file(2 * RECORD);
    let (_, _, _, wire) = upload(&file, 0);
    let mut receiver = Receiver::discard(9);
    let mut disk = Disk::default();
    assert_eq!(receive(&mut receiver, &mut disk, &wire), Outcome::Refused);
    assert!(disk.partial.is_empty() && disk.placed.is_none());
}

#[test]
fn an_error_instead_of_the_commit_keeps_a_resumable_prefix_and_places_nothing() {
    let file = file(3 * RECORD);
    let (mut receiver, mut disk, mut wire) = download(&file, 0);
    let last = wire.len() - 1;
    wire[last] = Wire::Message(Message::Error { transfer: 4, code: 6, message: "damaged".into() });
    assert_eq!(receive(&mut receiver, &mut disk, &wire), Outcome::Refused);
    assert_eq!(disk.placed, None);
    assert_eq!(disk.partial, file);
}

/// One change an attacker (or a fault) makes to the wire.
#[derive(Debug, Clone)]
enum Mutation {
    Drop(usize),
    Duplicate(usize),
    Swap(usize),
    Flip(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Drop),
        any::<usize>().prop_map(Mutation::Duplicate),
        any::<usize>().prop_map(Mutation::Swap),
        (any::<usize>(), any::<usize>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(wire: &mut Vec<Wire>, mutation: &Mutation) {
    if wire.is_empty() {
        return;
    }
    let n = wire.len();
    match *mutation {
        Mutation::Drop(i) => {
            wire.remove(i % n);
        }
        Mutation::Duplicate(i) => wire.insert(i % n, wire[i % n].clone()),
        Mutation::Swap(i) if n > 1 => wire.swap(i % (n - 1), i % (n - 1) + 1),
        Mutation::Swap(_) => {}
        Mutation::Flip(i, b) => {
            if let Wire::Data(bytes) = &mut wire[i % n] {
                if !bytes.is_empty() {
                    let at = b % bytes.len();
                    bytes[at] ^= 1;
                }
            }
        }
        Mutation::Truncate(i) => wire.truncate(i % n),
    }
}

proptest! {
    /// Whatever is done to the wire, the final name holds the file or
    /// nothing, and the partial never exceeds the file's size.
    #[test]
    fn mutated_wires_place_the_file_or_nothing(
        size in 0usize..4 * RECORD,
        offset_pick in any::<usize>(),
        download_side in any::<bool>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let file = file(size);
        let offset = offset_pick % (size + 1);
        let (mut receiver, mut disk, mut wire) = if download_side {
            download(&file, offset)
        } else {
            let (_, receiver, disk, wire) = upload(&file, offset);
            (receiver, disk, wire)
        };
        for m in &mutations {
            mutate(&mut wire, m);
        }
        let outcome = receive(&mut receiver, &mut disk, &wire);
        prop_assert!(disk.partial.len() <= file.len());
        match disk.placed {
            Some(placed) => {
                prop_assert_eq!(outcome, Outcome::Placed);
                prop_assert_eq!(placed, file);
            }
            None => prop_assert_ne!(outcome, Outcome::Placed),
        }
    }
}
