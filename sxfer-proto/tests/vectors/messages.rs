//! `docs/vectors/messages.json`: application messages (PROTOCOL.md §7.3,
//! §12.2, §13.3, §13.10, §14.4) as field values and their exact bytes, Close payloads
//! (§5.3), and byte strings that must not decode.

use serde_json::{json, Value};
use sxfer_proto::codec::Codec;
use sxfer_proto::identity::{PrivateIdentity, PublicIdentity};
use sxfer_proto::msgs::app::error_code;
use sxfer_proto::msgs::auth::KeyProof;
use sxfer_proto::msgs::{
    Candidate, Direct, DropContent, DropHeader, DropId, DropMsg, DropReceipt, DropRecipient, DropState, EntryKind,
    FileEntry, FileMeta, InboxEntry, Message, Nameplate, OfferAnswer, OfferEntry, ReceiptContent, RecipientState,
    Relay, SentDrop, Username, Want,
};
use sxfer_proto::names::RemoteName;
use sxfer_proto::CloseCode;

use super::file::{self, object};

const FILE: &str = "messages.json";

#[test]
fn message_vectors() {
    let generated = generate();
    let on_disk = file::sync(FILE, &generated);
    let vectors = file::list(&on_disk, "vectors");
    for vector in vectors {
        check_message(vector);
    }
    for kind in KINDS {
        assert!(vectors.iter().any(|v| file::str(v, "type") == kind.0), "messages.json has no vector for {}", kind.0);
    }
    for vector in file::list(&on_disk, "close") {
        let code = CloseCode::from_u16(file::u16(file::field(vector, "fields"), "code"));
        assert_eq!(file::bytes(vector, "hex"), code.to_u16().to_be_bytes(), "{vector}");
    }
    for vector in file::list(&on_disk, "invalid") {
        let bytes = file::bytes(vector, "hex");
        assert!(Message::decode(&bytes).is_err(), "must not decode: {vector}");
    }
}

/// Encode the fields, compare with the bytes; decode the bytes, compare
/// with the fields.
fn check_message(vector: &Value) {
    let message = from_json(file::str(vector, "type"), file::field(vector, "fields"));
    let bytes = file::bytes(vector, "hex");
    assert_eq!(hex::encode(message.to_bytes()), hex::encode(&bytes), "encoding of {vector}");
    let decoded = Message::decode(&bytes).unwrap_or_else(|e| panic!("{vector} does not decode: {e}"));
    assert_eq!(decoded, message, "decoding of {vector}");
    let (kind_name, _) = to_json(&decoded);
    assert_eq!(kind_name, file::str(vector, "type"));
    assert_eq!(u64::from(u16::from_be_bytes([bytes[0], bytes[1]])), file::u64(vector, "kind"));
}

/// Every message type, with its kind code point.
const KINDS: [(&str, u16); 35] = [
    ("Error", 0x0100),
    ("Ack", 0x0101),
    ("Commit", 0x0102),
    ("Upload", 0x0200),
    ("UploadReady", 0x0201),
    ("Committed", 0x0202),
    ("Download", 0x0203),
    ("DownloadStart", 0x0204),
    ("List", 0x0205),
    ("Listing", 0x0206),
    ("Stat", 0x0207),
    ("Delete", 0x0208),
    ("Rename", 0x0209),
    ("Done", 0x020a),
    ("Offer", 0x0300),
    ("OfferReply", 0x0301),
    ("Candidates", 0x0302),
    ("Path", 0x0303),
    ("RelayCreate", 0x0400),
    ("RelayJoin", 0x0401),
    ("RelayNameplate", 0x0402),
    ("RelayStart", 0x0403),
    ("KeyLookup", 0x0500),
    ("KeyList", 0x0501),
    ("KeyPublish", 0x0502),
    ("DropPut", 0x0503),
    ("DropStored", 0x0504),
    ("InboxList", 0x0505),
    ("InboxListing", 0x0506),
    ("DropFetch", 0x0507),
    ("DropRemove", 0x0508),
    ("DropReceipt", 0x0509),
    ("DropStatus", 0x050a),
    ("DropStatusList", 0x050b),
    ("DropRevoke", 0x050c),
];

fn generate() -> Value {
    let vectors: Vec<Value> = examples()
        .into_iter()
        .map(|(comment, message)| {
            let (kind_name, fields) = to_json(&message);
            let kind = KINDS.iter().find(|k| k.0 == kind_name).expect("a known kind").1;
            object([
                ("comment", json!(comment)),
                ("type", json!(kind_name)),
                ("kind", json!(kind)),
                ("fields", fields),
                ("hex", file::hex(&message.to_bytes())),
            ])
        })
        .collect();
    let close: Vec<Value> = [
        (CloseCode::Normal, "normal"),
        (CloseCode::AuthFailed, "authentication failed"),
        (CloseCode::Unknown(0x1234), "unknown code: a receiver accepts it"),
    ]
    .into_iter()
    .map(|(code, comment)| {
        object([
            ("comment", json!(comment)),
            ("fields", json!({ "code": code.to_u16() })),
            ("hex", file::hex(&code.to_u16().to_be_bytes())),
        ])
    })
    .collect();
    let invalid: Vec<Value> =
        INVALID.iter().map(|(comment, hex)| object([("comment", json!(comment)), ("hex", json!(hex))])).collect();
    object([
        ("description", json!("SXFR/1 application messages: field values and the exact message bytes (the payload of a Message record, content type 0x01), Close record payloads (content type 0x04), and messages that must fail to decode. See docs/vectors/README.md.")),
        ("spec_section", json!("7.2, 7.3, 12.2, 13.3, 5.3")),
        ("vectors", Value::Array(vectors)),
        ("close", Value::Array(close)),
        ("invalid", Value::Array(invalid)),
    ])
}

/// Byte strings that MUST fail to decode as a message (decode error, §3),
/// written field by field.
const INVALID: [(&str, &str); 25] = [
    ("unknown kind 0x0103", concat!("0103", "00000001")),
    ("Done with a trailing byte", concat!("020a", "00000001", "00")),
    ("Ack truncated: 7 of its 8 offset bytes", concat!("0101", "00000001", "00000000000000")),
    (
        "Upload with resume = 0x02",
        concat!("0200", "00000001", "0001", "61", "0000000000000006", "000001a4", "000000006955b900", "00000000", "02"),
    ),
    (
        "Upload with mode 0o10000, above 0o7777",
        concat!("0200", "00000001", "0001", "61", "0000000000000006", "00001000", "000000006955b900", "00000000", "00"),
    ),
    (
        "Upload with mtime_nanos = 1000000000",
        concat!("0200", "00000001", "0001", "61", "0000000000000006", "000001a4", "000000006955b900", "3b9aca00", "00"),
    ),
    ("Stat of the empty name", concat!("0207", "00000001", "0000")),
    ("Stat of \"../x\": a '..' segment", concat!("0207", "00000001", "0004", "2e2e2f78")),
    ("Delete of \"a//b\": an empty segment", concat!("0208", "00000001", "0004", "612f2f62")),
    ("Stat of \"/a\": a leading '/'", concat!("0207", "00000001", "0002", "2f61")),
    ("Stat of \"a\\b\": a backslash", concat!("0207", "00000001", "0003", "615c62")),
    ("Stat of \"a\" LF \"b\": a control character", concat!("0207", "00000001", "0003", "610a62")),
    ("Error whose message is not UTF-8", concat!("0100", "00000001", "0001", "0002", "c328")),
    ("Listing with count 4097, above MAX_LISTING", concat!("0206", "00000001", "1001")),
    ("Listing with more = 0x02", concat!("0206", "00000001", "0000", "02")),
    ("RelayJoin of nameplate 0", concat!("0401", "00000001", "00000000")),
    ("Candidates with count 9, above MAX_CANDIDATES", concat!("0302", "00000000", "09")),
    ("Candidates with address family 0x05", concat!("0302", "00000000", "01", "05", "0a000001", "0050")),
    ("Candidates with port 0", concat!("0302", "00000000", "01", "04", "0a000001", "0000")),
    ("Candidates with the unspecified address", concat!("0302", "00000000", "01", "04", "00000000", "0050")),
    ("Path with choice 0x02", concat!("0303", "00000000", "02")),
    ("RelayJoin of nameplate 1000000000", concat!("0401", "00000001", "3b9aca00")),
    ("Offer part with count 513, above MAX_OFFER_PART", concat!("0300", "00000001", "0201")),
    (
        "Offer of a directory with size 1",
        concat!(
            "0300",
            "00000001",
            "0001",
            "0001",
            "61",
            "01",
            "0000000000000001",
            "000001ed",
            "0000000000000000",
            "00000000",
            "00"
        ),
    ),
    (
        "OfferReply accept: a skip with from = 1",
        concat!("0301", "00000001", "00", "00000001", "01", "0000000000000001"),
    ),
];

/// The messages of the file, with a comment each.
fn examples() -> Vec<(&'static str, Message)> {
    let hello = name("hello.txt");
    let hello_meta = FileMeta { size: 6, mode: 0o644, mtime: 1_767_225_600, mtime_nanos: 0 };
    let hello_digest = *blake3::hash(b"hello\n").as_bytes();
    let hello_entry = FileEntry { name: hello.clone(), meta: hello_meta, digest: hello_digest, stored: 1_767_225_700 };
    let big_meta = FileMeta { size: 5_000_000_000, mode: 0o4755, mtime: -1, mtime_nanos: 999_999_999 };
    let big_entry = FileEntry {
        name: name("reports/2026/q3.pdf"),
        meta: big_meta,
        digest: *blake3::hash(b"q3").as_bytes(),
        stored: 1_767_225_800,
    };
    let empty_digest = *blake3::hash(b"").as_bytes();
    let plate = Nameplate::new(42).expect("nameplate");
    let mut examples = vec![
        ("§7.3.1: a request failed", Message::Error { transfer: 3, code: error_code::NOT_FOUND, message: "no such file".into() }),
        ("§7.3.1: transfer 0, the connection; before Close 0x0000", Message::Error { transfer: 0, code: error_code::SHUTTING_DOWN, message: "the server is shutting down".into() }),
        ("§7.3.1: an empty message, an unknown code", Message::Error { transfer: 5, code: 0x7777, message: String::new() }),
        ("§7.3.1: a non-ASCII message (UTF-8, length in bytes)", Message::Error { transfer: 6, code: error_code::QUOTA, message: "quota dépassé".into() }),
        ("§7.3.2: as in the worked example §11", Message::Ack { transfer: 1, offset: 1_048_576 }),
        ("§7.3.3, §7.5.7: Commit of hello.txt", Message::Commit { transfer: 1, length: 6, digest: hello_digest }),
        ("§7.3.3: Commit of an empty file (BLAKE3 of no bytes)", Message::Commit { transfer: 9, length: 0, digest: empty_digest }),
        ("§7.3.4, §7.5.7: Upload of hello.txt", Message::Upload { transfer: 1, name: hello.clone(), meta: hello_meta, resume: false }),
        ("§7.3.4: resumable; size above 2^32, setuid mode, mtime one second before 1970 (two's complement), largest mtime_nanos", Message::Upload { transfer: 2, name: name("reports/2026/q3.pdf"), meta: big_meta, resume: true }),
        ("§7.3.5", Message::UploadReady { transfer: 2, offset: 196_608 }),
        ("§7.3.6, §7.5.7: Committed hello.txt", Message::Committed { transfer: 1, entry: hello_entry.clone() }),
        ("§7.3.7: a fresh download of a non-ASCII name", Message::Download { transfer: 4, name: name("ünïcode/名前"), offset: 0 }),
        ("§7.3.7: a resumed download", Message::Download { transfer: 5, name: hello.clone(), offset: 3 }),
        ("§7.3.8", Message::DownloadStart { transfer: 5, entry: hello_entry.clone(), offset: 3 }),
        ("§7.3.9: every file", Message::List { transfer: 6, prefix: String::new() }),
        ("§7.3.9: a byte prefix", Message::List { transfer: 7, prefix: "reports/".into() }),
        ("§7.3.10: an empty result", Message::Listing { transfer: 6, entries: Vec::new(), more: false }),
        ("§7.3.10: two entries, another part follows", Message::Listing { transfer: 7, entries: vec![hello_entry.clone(), big_entry], more: true }),
        ("§7.3.10: the reply to a Stat", Message::Listing { transfer: 8, entries: vec![hello_entry], more: false }),
        ("§7.3.11", Message::Stat { transfer: 8, name: hello.clone() }),
        ("§7.3.12: a name with spaces", Message::Delete { transfer: 9, name: name("old notes.txt") }),
        ("§7.3.13", Message::Rename { transfer: 10, from: hello, to: name("archive/hello.txt") }),
        ("§7.3.14", Message::Done { transfer: 10 }),
        ("§13.3: a directory and a file in it, the last part", Message::Offer {
            transfer: 1,
            entries: vec![
                OfferEntry { name: name("photos"), kind: EntryKind::Directory, meta: FileMeta { size: 0, mode: 0o755, mtime: 1_767_225_000, mtime_nanos: 0 } },
                OfferEntry { name: name("photos/cat.jpg"), kind: EntryKind::File, meta: FileMeta { size: 123_456, mode: 0o600, mtime: 1_767_225_001, mtime_nanos: 500_000_000 } },
            ],
            more: false,
        }),
        ("§13.3: an empty part, more follow", Message::Offer { transfer: 1, entries: Vec::new(), more: true }),
        ("§13.3: accept: send the directory, skip the file", Message::OfferReply { transfer: 1, answer: OfferAnswer::Accept(vec![Want::Send { from: 0 }, Want::Skip]) }),
        ("§13.3: accept: resume the one file from byte 1048576", Message::OfferReply { transfer: 1, answer: OfferAnswer::Accept(vec![Want::Send { from: 1_048_576 }]) }),
        ("§13.3: decline", Message::OfferReply { transfer: 1, answer: OfferAnswer::Decline("declined by the user".into()) }),
        ("§12.2 example", Message::Relay { transfer: 1, relay: Relay::Create }),
        ("§12.2 example", Message::Relay { transfer: 2, relay: Relay::Join { nameplate: plate } }),
        ("§12.2: the largest nameplate", Message::Relay { transfer: 3, relay: Relay::Join { nameplate: Nameplate::new(999_999_999).expect("nameplate") } }),
        ("§12.2 example", Message::Relay { transfer: 1, relay: Relay::Nameplate { nameplate: plate, expires_in_secs: 300 } }),
        ("§12.2 example", Message::Relay { transfer: 2, relay: Relay::Start }),
        ("§13.10: an IPv4 and an IPv6 candidate", Message::Direct { transfer: 0, direct: Direct::Candidates(vec![candidate("192.168.1.20:40001"), candidate("[2001:db8::7]:443")]) }),
        ("§13.10: relay only", Message::Direct { transfer: 0, direct: Direct::Candidates(Vec::new()) }),
        ("§13.10: direct", Message::Direct { transfer: 0, direct: Direct::Path { direct: true } }),
        ("§13.10: relayed", Message::Direct { transfer: 0, direct: Direct::Path { direct: false } }),
    ];
    examples.extend(drop_examples());
    examples
}

/// §14.4: Alice's drop of hello.txt to Bob, signed with a fixed Ed25519 key
/// (seed 32 × 0x11; Ed25519 signatures are deterministic).
fn drop_examples() -> Vec<(&'static str, Message)> {
    let mut seed = super::handshake::FixedRng::new(vec![0x11; 32]);
    let alice_key = PrivateIdentity::generate_ed25519(&mut seed).expect("key");
    let mut seed = super::handshake::FixedRng::new(vec![0x22; 32]);
    let bob_key = PrivateIdentity::generate_ed25519(&mut seed).expect("key");
    let (alice, bob) = (Username::parse("alice").expect("user"), Username::parse("bob").expect("user"));
    let hello = FileMeta { size: 6, mode: 0o644, mtime: 1_767_225_600, mtime_nanos: 0 };
    let content = DropContent {
        sender: alice.clone(),
        sender_key: alice_key.public().clone(),
        recipients: vec![DropRecipient { user: bob.clone(), keys: vec![bob_key.public().fingerprint()] }],
        name: name("hello.txt"),
        meta: hello,
        sent: 1_767_225_650,
        ciphertext_length: 200,
        ciphertext_digest: [0xcd; 32],
    };
    let header = DropHeader::sign(content, &alice_key).expect("sign");
    let proof = proof(&bob_key, &bob);
    let id = DropId([0xab; 16]);
    let receipt = DropReceipt::sign(
        ReceiptContent {
            id,
            recipient: bob.clone(),
            recipient_key: bob_key.public().clone(),
            ciphertext_digest: [0xcd; 32],
            fetched: 1_767_225_800,
        },
        &bob_key,
    )
    .expect("sign");
    vec![
        ("§14.4: look up bob's keys", Message::Drop { transfer: 1, drop: DropMsg::KeyLookup { user: bob.clone() } }),
        (
            "§14.4: bob's one key",
            Message::Drop {
                transfer: 1,
                drop: DropMsg::KeyList { user: bob.clone(), keys: vec![bob_key.public().clone()] },
            },
        ),
        (
            "§14.4: nobody's keys",
            Message::Drop {
                transfer: 2,
                drop: DropMsg::KeyList { user: Username::parse("carol").expect("user"), keys: Vec::new() },
            },
        ),
        ("§14.4: bob publishes his key", Message::Drop { transfer: 3, drop: DropMsg::KeyPublish { proof } }),
        (
            "§14.4: alice's drop of hello.txt to bob",
            Message::Drop {
                transfer: 4,
                drop: DropMsg::Put { header: header.clone(), expires_in_secs: 0, resume: false },
            },
        ),
        ("§14.4", Message::Drop { transfer: 4, drop: DropMsg::Stored { id, received: 1_767_225_700 } }),
        ("§14.4", Message::Drop { transfer: 5, drop: DropMsg::InboxList }),
        (
            "§14.4: bob's inbox, one drop",
            Message::Drop {
                transfer: 5,
                drop: DropMsg::InboxListing {
                    entries: vec![InboxEntry { id, received: 1_767_225_700, header: header.clone() }],
                    more: false,
                },
            },
        ),
        ("§14.4: fetch from the start", Message::Drop { transfer: 6, drop: DropMsg::Fetch { id, offset: 0 } }),
        ("§14.4", Message::Drop { transfer: 7, drop: DropMsg::Remove { id } }),
        ("§14.10: bob's receipt", Message::Drop { transfer: 8, drop: DropMsg::Receipt { receipt: receipt.clone() } }),
        ("§14.10", Message::Drop { transfer: 9, drop: DropMsg::Status }),
        (
            "§14.10: alice's one sent drop, delivered with a receipt",
            Message::Drop {
                transfer: 9,
                drop: DropMsg::StatusList {
                    drops: vec![SentDrop {
                        id,
                        received: 1_767_225_700,
                        expires: 1_767_830_500,
                        state: DropState::Delivered,
                        header: header.clone(),
                        recipients: vec![RecipientState { user: bob.clone(), in_inbox: false, receipt: Some(receipt) }],
                    }],
                    more: false,
                },
            },
        ),
        ("§14.10", Message::Drop { transfer: 10, drop: DropMsg::Revoke { id } }),
    ]
}

/// A KeyProof (§14.4): the public key and its signature over
/// `publish_message(user)`.
fn proof(key: &PrivateIdentity, user: &Username) -> KeyProof {
    let signature = key.sign(&sxfer_proto::msgs::drop::publish_message(user)).expect("sign");
    KeyProof { public_key: key.public().to_wire(), signature }
}

fn name(text: &str) -> RemoteName {
    RemoteName::parse(text).expect("a valid name")
}

// ---------------------------------------------------------------------------
// Message <-> JSON fields
// ---------------------------------------------------------------------------

fn to_json(message: &Message) -> (&'static str, Value) {
    match message {
        Message::Error { transfer, code, message } => {
            ("Error", json!({ "transfer": transfer, "code": code, "message": message }))
        }
        Message::Ack { transfer, offset } => ("Ack", json!({ "transfer": transfer, "offset": offset })),
        Message::Commit { transfer, length, digest } => {
            ("Commit", json!({ "transfer": transfer, "length": length, "digest": hex::encode(digest) }))
        }
        Message::Upload { transfer, name, meta, resume } => (
            "Upload",
            json!({ "transfer": transfer, "name": name.as_str(), "meta": meta_json(meta), "resume": resume }),
        ),
        Message::UploadReady { transfer, offset } => ("UploadReady", json!({ "transfer": transfer, "offset": offset })),
        Message::Committed { transfer, entry } => {
            ("Committed", json!({ "transfer": transfer, "entry": entry_json(entry) }))
        }
        Message::Download { transfer, name, offset } => {
            ("Download", json!({ "transfer": transfer, "name": name.as_str(), "offset": offset }))
        }
        Message::DownloadStart { transfer, entry, offset } => {
            ("DownloadStart", json!({ "transfer": transfer, "entry": entry_json(entry), "offset": offset }))
        }
        Message::List { transfer, prefix } => ("List", json!({ "transfer": transfer, "prefix": prefix })),
        Message::Listing { transfer, entries, more } => (
            "Listing",
            json!({ "transfer": transfer, "entries": entries.iter().map(entry_json).collect::<Vec<_>>(), "more": more }),
        ),
        Message::Stat { transfer, name } => ("Stat", json!({ "transfer": transfer, "name": name.as_str() })),
        Message::Delete { transfer, name } => ("Delete", json!({ "transfer": transfer, "name": name.as_str() })),
        Message::Rename { transfer, from, to } => {
            ("Rename", json!({ "transfer": transfer, "from": from.as_str(), "to": to.as_str() }))
        }
        Message::Done { transfer } => ("Done", json!({ "transfer": transfer })),
        Message::Offer { transfer, entries, more } => (
            "Offer",
            json!({ "transfer": transfer, "entries": entries.iter().map(offer_entry_json).collect::<Vec<_>>(), "more": more }),
        ),
        Message::OfferReply { transfer, answer: OfferAnswer::Accept(wants) } => (
            "OfferReply",
            json!({ "transfer": transfer, "answer": "accept", "wants": wants.iter().map(want_json).collect::<Vec<_>>() }),
        ),
        Message::OfferReply { transfer, answer: OfferAnswer::Decline(message) } => {
            ("OfferReply", json!({ "transfer": transfer, "answer": "decline", "message": message }))
        }
        Message::Relay { transfer, relay: Relay::Create } => ("RelayCreate", json!({ "transfer": transfer })),
        Message::Relay { transfer, relay: Relay::Join { nameplate } } => {
            ("RelayJoin", json!({ "transfer": transfer, "nameplate": nameplate.get() }))
        }
        Message::Relay { transfer, relay: Relay::Nameplate { nameplate, expires_in_secs } } => (
            "RelayNameplate",
            json!({ "transfer": transfer, "nameplate": nameplate.get(), "expires_in_secs": expires_in_secs }),
        ),
        Message::Relay { transfer, relay: Relay::Start } => ("RelayStart", json!({ "transfer": transfer })),
        Message::Direct { transfer, direct: Direct::Candidates(addresses) } => (
            "Candidates",
            json!({ "transfer": transfer, "addresses": addresses.iter().map(|&a| address_text(a)).collect::<Vec<_>>() }),
        ),
        Message::Direct { transfer, direct: Direct::Path { direct } } => {
            ("Path", json!({ "transfer": transfer, "path": if *direct { "direct" } else { "relayed" } }))
        }
        Message::Drop { transfer, drop } => drop_json(*transfer, drop),
    }
}

fn meta_json(meta: &FileMeta) -> Value {
    json!({ "size": meta.size, "mode": meta.mode, "mtime": meta.mtime, "mtime_nanos": meta.mtime_nanos })
}

fn entry_json(entry: &FileEntry) -> Value {
    json!({ "name": entry.name.as_str(), "meta": meta_json(&entry.meta), "digest": hex::encode(entry.digest), "stored": entry.stored })
}

fn offer_entry_json(entry: &OfferEntry) -> Value {
    let kind = match entry.kind {
        EntryKind::File => "file",
        EntryKind::Directory => "directory",
    };
    json!({ "name": entry.name.as_str(), "kind": kind, "meta": meta_json(&entry.meta) })
}

fn want_json(want: &Want) -> Value {
    match want {
        Want::Send { from } => json!({ "want": "send", "from": from }),
        Want::Skip => json!({ "want": "skip", "from": 0 }),
    }
}

fn from_json(kind: &str, f: &Value) -> Message {
    let transfer = file::u32(f, "transfer");
    match kind {
        "Error" => Message::Error { transfer, code: file::u16(f, "code"), message: file::str(f, "message").to_owned() },
        "Ack" => Message::Ack { transfer, offset: file::u64(f, "offset") },
        "Commit" => Message::Commit { transfer, length: file::u64(f, "length"), digest: file::array(f, "digest") },
        "Upload" => Message::Upload {
            transfer,
            name: name_of(f, "name"),
            meta: meta_of(file::field(f, "meta")),
            resume: file::bool(f, "resume"),
        },
        "UploadReady" => Message::UploadReady { transfer, offset: file::u64(f, "offset") },
        "Committed" => Message::Committed { transfer, entry: entry_of(file::field(f, "entry")) },
        "Download" => Message::Download { transfer, name: name_of(f, "name"), offset: file::u64(f, "offset") },
        "DownloadStart" => Message::DownloadStart {
            transfer,
            entry: entry_of(file::field(f, "entry")),
            offset: file::u64(f, "offset"),
        },
        "List" => Message::List { transfer, prefix: file::str(f, "prefix").to_owned() },
        "Listing" => Message::Listing {
            transfer,
            entries: file::list(f, "entries").iter().map(entry_of).collect(),
            more: file::bool(f, "more"),
        },
        "Stat" => Message::Stat { transfer, name: name_of(f, "name") },
        "Delete" => Message::Delete { transfer, name: name_of(f, "name") },
        "Rename" => Message::Rename { transfer, from: name_of(f, "from"), to: name_of(f, "to") },
        "Done" => Message::Done { transfer },
        "Offer" => Message::Offer {
            transfer,
            entries: file::list(f, "entries").iter().map(offer_entry_of).collect(),
            more: file::bool(f, "more"),
        },
        "OfferReply" => {
            let answer = match file::str(f, "answer") {
                "accept" => OfferAnswer::Accept(file::list(f, "wants").iter().map(want_of).collect()),
                "decline" => OfferAnswer::Decline(file::str(f, "message").to_owned()),
                other => panic!("unknown answer {other:?}"),
            };
            Message::OfferReply { transfer, answer }
        }
        "RelayCreate" => Message::Relay { transfer, relay: Relay::Create },
        "RelayJoin" => Message::Relay { transfer, relay: Relay::Join { nameplate: nameplate_of(f) } },
        "RelayNameplate" => Message::Relay {
            transfer,
            relay: Relay::Nameplate { nameplate: nameplate_of(f), expires_in_secs: file::u32(f, "expires_in_secs") },
        },
        "RelayStart" => Message::Relay { transfer, relay: Relay::Start },
        "Candidates" => Message::Direct {
            transfer,
            direct: Direct::Candidates(
                file::list(f, "addresses").iter().map(|a| candidate(a.as_str().expect("address"))).collect(),
            ),
        },
        "Path" => Message::Direct {
            transfer,
            direct: Direct::Path {
                direct: match file::str(f, "path") {
                    "direct" => true,
                    "relayed" => false,
                    other => panic!("unknown path {other:?}"),
                },
            },
        },
        kind if kind.starts_with("Key") || kind.starts_with("Drop") || kind.starts_with("Inbox") => {
            drop_of(kind, transfer, f)
        }
        other => panic!("unknown message type {other:?}"),
    }
}

fn name_of(f: &Value, key: &str) -> RemoteName {
    name(file::str(f, key))
}

fn nameplate_of(f: &Value) -> Nameplate {
    Nameplate::new(file::u32(f, "nameplate")).expect("a nameplate in range")
}

fn meta_of(f: &Value) -> FileMeta {
    FileMeta {
        size: file::u64(f, "size"),
        mode: file::u32(f, "mode"),
        mtime: file::i64(f, "mtime"),
        mtime_nanos: file::u32(f, "mtime_nanos"),
    }
}

fn entry_of(f: &Value) -> FileEntry {
    FileEntry {
        name: name_of(f, "name"),
        meta: meta_of(file::field(f, "meta")),
        digest: file::array(f, "digest"),
        stored: file::i64(f, "stored"),
    }
}

fn offer_entry_of(f: &Value) -> OfferEntry {
    let kind = match file::str(f, "kind") {
        "file" => EntryKind::File,
        "directory" => EntryKind::Directory,
        other => panic!("unknown entry kind {other:?}"),
    };
    OfferEntry { name: name_of(f, "name"), kind, meta: meta_of(file::field(f, "meta")) }
}

fn want_of(f: &Value) -> Want {
    match file::str(f, "want") {
        "send" => Want::Send { from: file::u64(f, "from") },
        "skip" => {
            assert_eq!(file::u64(f, "from"), 0, "a skip has from = 0");
            Want::Skip
        }
        other => panic!("unknown want {other:?}"),
    }
}

/// Drop messages as fields; keys, proofs and signed headers as the hex of
/// their encodings (§14.1, §14.4), which the checker decodes and re-encodes.
fn drop_json(transfer: u32, drop: &DropMsg) -> (&'static str, Value) {
    let keys = |keys: &[PublicIdentity]| keys.iter().map(|k| file::hex(&k.to_wire())).collect::<Vec<_>>();
    match drop {
        DropMsg::KeyLookup { user } => ("KeyLookup", json!({ "transfer": transfer, "user": user.as_str() })),
        DropMsg::KeyList { user, keys: list } => {
            ("KeyList", json!({ "transfer": transfer, "user": user.as_str(), "keys": keys(list) }))
        }
        DropMsg::KeyPublish { proof } => {
            ("KeyPublish", json!({ "transfer": transfer, "proof": file::hex(&proof.to_bytes()) }))
        }
        DropMsg::Put { header, expires_in_secs, resume } => (
            "DropPut",
            json!({ "transfer": transfer, "header": file::hex(&header.to_bytes()), "expires_in_secs": expires_in_secs, "resume": resume }),
        ),
        DropMsg::Stored { id, received } => {
            ("DropStored", json!({ "transfer": transfer, "id": id.to_string(), "received": received }))
        }
        DropMsg::InboxList => ("InboxList", json!({ "transfer": transfer })),
        DropMsg::InboxListing { entries, more } => (
            "InboxListing",
            json!({ "transfer": transfer, "entries": entries.iter().map(|e| file::hex(&e.to_bytes())).collect::<Vec<_>>(), "more": more }),
        ),
        DropMsg::Fetch { id, offset } => {
            ("DropFetch", json!({ "transfer": transfer, "id": id.to_string(), "offset": offset }))
        }
        DropMsg::Remove { id } => ("DropRemove", json!({ "transfer": transfer, "id": id.to_string() })),
        DropMsg::Receipt { receipt } => {
            ("DropReceipt", json!({ "transfer": transfer, "receipt": file::hex(&receipt.to_bytes()) }))
        }
        DropMsg::Status => ("DropStatus", json!({ "transfer": transfer })),
        DropMsg::StatusList { drops, more } => (
            "DropStatusList",
            json!({ "transfer": transfer, "drops": drops.iter().map(|d| file::hex(&d.to_bytes())).collect::<Vec<_>>(), "more": more }),
        ),
        DropMsg::Revoke { id } => ("DropRevoke", json!({ "transfer": transfer, "id": id.to_string() })),
    }
}

fn drop_of(kind: &str, transfer: u32, f: &Value) -> Message {
    let user = || Username::parse(file::str(f, "user")).expect("user");
    let id = || file::str(f, "id").parse::<DropId>().expect("id");
    let hexes = |key: &str| -> Vec<Vec<u8>> {
        file::list(f, key).iter().map(|v| hex_decode(v.as_str().expect("hex"))).collect()
    };
    let drop = match kind {
        "KeyLookup" => DropMsg::KeyLookup { user: user() },
        "KeyList" => DropMsg::KeyList {
            user: user(),
            keys: hexes("keys").iter().map(|k| PublicIdentity::from_wire(k).expect("key")).collect(),
        },
        "KeyPublish" => DropMsg::KeyPublish { proof: KeyProof::decode(&file::bytes(f, "proof")).expect("proof") },
        "DropPut" => DropMsg::Put {
            header: DropHeader::decode(&file::bytes(f, "header")).expect("header"),
            expires_in_secs: file::u32(f, "expires_in_secs"),
            resume: file::bool(f, "resume"),
        },
        "DropStored" => DropMsg::Stored { id: id(), received: file::i64(f, "received") },
        "InboxList" => DropMsg::InboxList,
        "InboxListing" => DropMsg::InboxListing {
            entries: hexes("entries").iter().map(|e| InboxEntry::decode(e).expect("entry")).collect(),
            more: file::bool(f, "more"),
        },
        "DropFetch" => DropMsg::Fetch { id: id(), offset: file::u64(f, "offset") },
        "DropRemove" => DropMsg::Remove { id: id() },
        "DropReceipt" => {
            DropMsg::Receipt { receipt: DropReceipt::decode(&file::bytes(f, "receipt")).expect("receipt") }
        }
        "DropStatus" => DropMsg::Status,
        "DropStatusList" => DropMsg::StatusList {
            drops: hexes("drops").iter().map(|d| SentDrop::decode(d).expect("sent drop")).collect(),
            more: file::bool(f, "more"),
        },
        "DropRevoke" => DropMsg::Revoke { id: id() },
        other => panic!("unknown drop message {other:?}"),
    };
    Message::Drop { transfer, drop }
}

fn hex_decode(text: &str) -> Vec<u8> {
    hex::decode(text).expect("hex")
}

/// `IP:PORT` (IPv6 as `[IP]:PORT`) as a Candidate, and back.
fn candidate(text: &str) -> Candidate {
    match text.parse::<std::net::SocketAddr>().expect("address") {
        std::net::SocketAddr::V4(a) => Candidate::V4 { ip: a.ip().octets(), port: a.port() },
        std::net::SocketAddr::V6(a) => Candidate::V6 { ip: a.ip().octets(), port: a.port() },
    }
}

fn address_text(candidate: Candidate) -> String {
    match candidate {
        Candidate::V4 { ip, port } => std::net::SocketAddr::from((ip, port)).to_string(),
        Candidate::V6 { ip, port } => std::net::SocketAddr::from((ip, port)).to_string(),
    }
}
