//! `docs/vectors/key_update.json`: one direction through two key updates
//! (PROTOCOL.md §5.4): each traffic secret, the next one derived from it,
//! the keys of each, and every record of the stream.

use serde_json::{json, Value};
use sxfer_proto::codec::Codec;
use sxfer_proto::key_schedule::TrafficSecret;
use sxfer_proto::msgs::Message;
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::record::{frame_len, ContentType, Opened, Opener, Sealer, MAX_RECORD_BODY};
use sxfer_proto::CloseCode;

use super::file::{self, object};
use super::records::{self, SECRET};
use crate::common::worked::{hkdf_expand, KEY_UPDATE};

const FILE: &str = "key_update.json";

/// What the sender seals; each but the Close is followed by a KeyUpdate.
fn plan() -> Vec<(ContentType, Vec<u8>)> {
    vec![
        (ContentType::Data, b"sealed under the first traffic secret".to_vec()),
        (ContentType::Message, Message::Done { transfer: 1 }.to_bytes()),
        (ContentType::Close, CloseCode::Normal.to_u16().to_be_bytes().to_vec()),
    ]
}

#[test]
fn key_update_vectors() {
    let generated = generate();
    let on_disk = file::sync(FILE, &generated);
    for vector in file::list(&on_disk, "vectors") {
        check(vector);
    }
}

fn generate() -> Value {
    let vectors = [SuiteId::Aes256Gcm, SuiteId::HmacSha256Ctr].into_iter().map(vector).collect();
    object([
        (
            "description",
            json!(
                "SXFR/1 key update: one sending direction that updates its key after every record but the \
                 Close. Each epoch's traffic secret is HKDF-Expand(previous secret, \"SXFR/1 key update\", 32); \
                 its key and IV are derived from it as for any traffic secret, and the sequence number restarts \
                 at 0. The KeyUpdate record (content type 0x03, empty payload) is the last record under the old \
                 key. See docs/vectors/README.md."
            ),
        ),
        ("spec_section", json!("4.5, 5.4")),
        ("vectors", Value::Array(vectors)),
    ])
}

fn vector(suite: SuiteId) -> Value {
    // The sender updates after every record with a payload byte or more:
    // the threshold of §5.4 rule 2, lowered to 1 byte.
    let mut sealer = Sealer::new(suite, TrafficSecret::from_bytes_for_testing_only(SECRET)).expect("sealer");
    sealer.set_key_update_after_for_testing(1);
    let mut stream = Vec::new();
    for (content, payload) in plan() {
        sealer.seal(content, &payload, &mut stream).expect("seal");
    }

    let mut secrets = vec![SECRET];
    for _ in 0..2 {
        let next: [u8; 32] =
            hkdf_expand(secrets.last().expect("a secret"), &[KEY_UPDATE], 32).try_into().expect("32 bytes");
        secrets.push(next);
    }
    let epochs: Vec<Value> = secrets
        .iter()
        .enumerate()
        .map(|(epoch, secret)| {
            let keys = TrafficSecret::from_bytes_for_testing_only(*secret).keys(suite).expect("keys");
            let mut fields = vec![
                ("epoch", json!(epoch)),
                ("traffic_secret", file::hex(secret)),
                ("key", file::hex(keys.key.expose())),
                ("iv", file::hex(&keys.iv)),
            ];
            if let Some(next) = secrets.get(epoch + 1) {
                fields.push(("next_traffic_secret", file::hex(next)));
            }
            Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        })
        .collect();

    // Epoch and seq of each record, and what it carries.
    let mut expected = Vec::new();
    for (epoch, (content, payload)) in plan().into_iter().enumerate() {
        let last = content == ContentType::Close;
        expected.push((epoch, 0, content, payload));
        if !last {
            expected.push((epoch, 1, ContentType::KeyUpdate, Vec::new()));
        }
    }
    let frames = split(&stream);
    assert_eq!(frames.len(), expected.len(), "a KeyUpdate after every record but the Close");
    let records: Vec<Value> = frames
        .iter()
        .zip(expected)
        .map(|(frame, (epoch, seq, content, payload))| {
            let mut record = records::describe(suite, &secrets[epoch], seq, content, &payload, frame, "");
            let map = record.as_object_mut().expect("an object");
            map.remove("comment");
            map.insert("epoch".to_owned(), json!(epoch));
            record
        })
        .collect();
    object([
        ("suite", json!(suite.name())),
        ("suite_code", json!(suite.code())),
        ("epochs", Value::Array(epochs)),
        ("records", Value::Array(records)),
        ("stream", file::hex(&stream)),
    ])
}

/// The records of a stream, each with its length prefix.
fn split(stream: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let len = frame_len(rest, MAX_RECORD_BODY).expect("a record").expect("a whole record");
        let (frame, tail) = rest.split_at(len);
        frames.push(frame);
        rest = tail;
    }
    frames
}

fn check(vector: &Value) {
    let suite = SuiteId::from_name(file::str(vector, "suite")).expect("a known suite");
    let epochs = file::list(vector, "epochs");
    for pair in epochs.windows(2) {
        let old = TrafficSecret::from_bytes_for_testing_only(file::array(&pair[0], "traffic_secret"));
        let new = TrafficSecret::from_bytes_for_testing_only(file::array(&pair[1], "traffic_secret"));
        assert_eq!(old.next().expect("next"), new, "the next traffic secret of epoch {}", pair[0]);
        assert_eq!(file::bytes(&pair[0], "next_traffic_secret"), file::bytes(&pair[1], "traffic_secret"));
    }
    for epoch in epochs {
        let keys =
            TrafficSecret::from_bytes_for_testing_only(file::array(epoch, "traffic_secret")).keys(suite).expect("keys");
        assert_eq!(keys.key.expose(), file::bytes(epoch, "key"));
        assert_eq!(keys.iv.to_vec(), file::bytes(epoch, "iv"));
    }
    let records = file::list(vector, "records");
    for record in records {
        records::check(record);
    }

    // The whole stream: the implementation's sender produces it, its
    // receiver follows both updates.
    let stream = file::bytes(vector, "stream");
    let first = || TrafficSecret::from_bytes_for_testing_only(file::array(&epochs[0], "traffic_secret"));
    let mut sealer = Sealer::new(suite, first()).expect("sealer");
    sealer.set_key_update_after_for_testing(1);
    let mut sealed = Vec::new();
    for (content, payload) in plan() {
        sealer.seal(content, &payload, &mut sealed).expect("seal");
    }
    assert_eq!(hex::encode(&sealed), hex::encode(&stream), "the sender's stream");
    let mut opener = Opener::new(suite, first()).expect("opener");
    let mut buf = stream.clone();
    let mut at = 0;
    for record in records {
        let (opened, used) = opener.open_in_place(&mut buf[at..]).expect("opens").expect("whole");
        let payload = file::bytes(record, "payload");
        let content = ContentType::from_code(file::u64(record, "content_type") as u8).expect("type");
        match (content, opened) {
            (ContentType::Data, Opened::Data(got)) | (ContentType::Message, Opened::Message(got)) => {
                assert_eq!(got, payload)
            }
            (ContentType::KeyUpdate, Opened::KeyUpdate) => {}
            (ContentType::Close, Opened::Close(code)) => assert_eq!(code.to_u16().to_be_bytes().to_vec(), payload),
            (content, opened) => panic!("{content:?} opened as {opened:?}"),
        }
        at += used;
    }
    assert_eq!(at, stream.len());
}
