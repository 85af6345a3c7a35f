//! `docs/vectors/auth.json`: client key proofs over the worked example's
//! transcript (PROTOCOL.md §4.6.1) with both key types, the encodings of
//! ClientAuth, AuthResult (§4.6) and HelloRefusal (§4.7), and byte strings
//! that must not decode.

use serde_json::{json, Value};
use sxfer_proto::codec::Codec;
use sxfer_proto::error::Negotiated;
use sxfer_proto::handshake::Credential;
use sxfer_proto::identity::{PrivateIdentity, Signature, SignatureScheme};
use sxfer_proto::key_schedule::TrafficSecret;
use sxfer_proto::msgs::auth::KeyProof;
use sxfer_proto::msgs::{AuthResult, ClientAuth, ClientId, HelloRefusal, Username};
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::record::{Opened, Opener};
use sxfer_proto::secret::{Password, SecretBytes};
use sxfer_proto::CloseCode;

use super::file::{self, object};
use crate::common::worked::*;

const FILE: &str = "auth.json";
const CLIENT_CONTEXT: &[u8] = b"SXFR/1 client authentication signature";

/// Test-only OpenSSH keys (`sxfer-proto/tests/data/README.md`).
const KEYS: [(&str, &str); 2] =
    [("ssh-ed25519", include_str!("../data/ed25519")), ("ssh-rsa", include_str!("../data/rsa3072"))];

#[test]
fn auth_vectors() {
    let generated = generate();
    let on_disk = file::sync(FILE, &generated);
    for proof in file::list(&on_disk, "key_proofs") {
        check_proof(proof);
    }
    for vector in file::list(&on_disk, "vectors") {
        check_message(vector);
    }
    for vector in file::list(&on_disk, "invalid") {
        let bytes = file::bytes(vector, "hex");
        let decodes = match file::str(vector, "type") {
            "ClientAuth" => ClientAuth::decode(&bytes).is_ok(),
            "AuthResult" => AuthResult::decode(&bytes).is_ok(),
            "HelloRefusal" => HelloRefusal::decode(&bytes).is_ok(),
            other => panic!("unknown type {other:?}"),
        };
        assert!(!decodes, "must not decode: {vector}");
    }
}

fn generate() -> Value {
    let worked = run_connection();
    let transcript_hash = sha256(&[&worked.client_hello[4..], &worked.server_hello[4..]]);
    let (proofs, key_proofs): (Vec<Value>, Vec<KeyProof>) =
        KEYS.iter().map(|(kind, text)| key_proof(kind, text, &transcript_hash)).unzip();
    let vectors: Vec<Value> = examples(key_proofs[0].clone())
        .into_iter()
        .map(|(comment, message)| {
            let (kind, fields, bytes) = match &message {
                Example::Auth(auth) => ("ClientAuth", client_auth_json(auth), auth.to_bytes()),
                Example::Result(result) => ("AuthResult", auth_result_json(result), result.to_bytes()),
                Example::Refusal(refusal) => ("HelloRefusal", refusal_json(refusal), refusal.to_bytes()),
            };
            let mut fields = vec![
                ("comment", json!(comment)),
                ("type", json!(kind)),
                ("fields", fields),
                ("hex", file::hex(&bytes)),
            ];
            if let Example::Refusal(_) = message {
                let frame = [&(bytes.len() as u32).to_be_bytes()[..], &bytes].concat();
                fields.push(("frame", file::hex(&frame)));
            }
            Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        })
        .collect();
    let invalid: Vec<Value> = INVALID
        .iter()
        .map(|(kind, comment, hex)| object([("comment", json!(comment)), ("type", json!(kind)), ("hex", json!(hex))]))
        .collect();
    object([
        (
            "description",
            json!(
                "SXFR/1 client authentication: key proofs (public-key login) over the transcript hash of the \
                 worked example (handshake.json) with an Ed25519 and an RSA key, each with the whole ClientAuth \
                 record the client seals; field values and bytes of ClientAuth, AuthResult and HelloRefusal; \
                 byte strings that must not decode. See docs/vectors/README.md."
            ),
        ),
        ("spec_section", json!("4.4.4, 4.6, 4.7")),
        ("key_proofs", Value::Array(proofs)),
        ("vectors", Value::Array(vectors)),
        ("invalid", Value::Array(invalid)),
    ])
}

/// A public-key login as `alice` on the worked example's connection: the
/// implementation's client signs and seals it, its server verifies it.
fn key_proof(key_type: &str, openssh: &str, transcript_hash: &[u8; 32]) -> (Value, KeyProof) {
    let key = PrivateIdentity::from_openssh(openssh).expect("fixture key");
    let username = Username::parse(USERNAME).expect("username");
    let wire = run_with(Credential::PublicKey { username: username.clone(), key: &key });
    let c2s_secret: [u8; 32] =
        hkdf_expand(&hkdf_extract(HANDSHAKE_SALT, &shared_secret()), &[CLIENT_TRAFFIC, transcript_hash], 32)
            .try_into()
            .expect("32 bytes");
    let payload = open_message(&c2s_secret, &wire.client_auth);
    let Ok(ClientAuth::PublicKey { proof, .. }) = ClientAuth::decode(&payload) else {
        panic!("the client sent a public-key ClientAuth");
    };
    let signed_message =
        [CLIENT_CONTEXT, &[0x00], transcript_hash, &[USERNAME.len() as u8], USERNAME.as_bytes()].concat();
    key.public().verify(&signed_message, &proof.signature).expect("the proof is over the spec's signed message");
    let vector = object([
        ("key_type", json!(key_type)),
        ("private_key_openssh", json!(openssh)),
        ("public_key_blob", file::hex(&key.public().to_wire())),
        ("fingerprint", json!(key.public().fingerprint().to_string())),
        ("transcript_hash", file::hex(transcript_hash)),
        ("username", json!(USERNAME)),
        ("signed_message", file::hex(&signed_message)),
        ("signature_scheme", json!(proof.signature.scheme.code())),
        ("signature", file::hex(&proof.signature.bytes)),
        ("client_auth", file::hex(&payload)),
        ("c2s_secret", file::hex(&c2s_secret)),
        ("record", file::hex(&wire.client_auth)),
    ]);
    (vector, proof)
}

fn check_proof(v: &Value) {
    let key = PrivateIdentity::from_openssh(file::str(v, "private_key_openssh")).expect("key");
    assert_eq!(key.public().to_wire(), file::bytes(v, "public_key_blob"));
    assert_eq!(key.public().fingerprint().to_string(), file::str(v, "fingerprint"));
    let transcript_hash: [u8; 32] = file::array(v, "transcript_hash");
    let username = file::str(v, "username");
    let signed_message =
        [CLIENT_CONTEXT, &[0x00], &transcript_hash, &[username.len() as u8], username.as_bytes()].concat();
    assert_eq!(signed_message, file::bytes(v, "signed_message"));
    let signature = key.sign(&signed_message).expect("sign");
    assert_eq!(u64::from(signature.scheme.code()), file::u64(v, "signature_scheme"));
    assert_eq!(signature.bytes, file::bytes(v, "signature"), "Ed25519 and RSA PKCS#1 v1.5 are deterministic");
    let expected = ClientAuth::PublicKey {
        username: Username::parse(username).expect("username"),
        proof: KeyProof { public_key: key.public().to_wire(), signature },
    };
    assert_eq!(expected.to_bytes(), file::bytes(v, "client_auth"));
    // The client of the worked example, logging in with this key, sends
    // exactly the listed record.
    let wire = run_with(Credential::PublicKey { username: Username::parse(username).expect("username"), key: &key });
    assert_eq!(hex::encode(&wire.client_auth), file::str(v, "record"));
    assert_eq!(open_message(&file::array(v, "c2s_secret"), &wire.client_auth), file::bytes(v, "client_auth"));
}

fn shared_secret() -> Vec<u8> {
    let server_public = x25519_public(&rng_block(SERVER_SEED, 0));
    x25519(&rng_block(CLIENT_SEED, 1), &server_public)
}

/// The payload of the first c2s record: the ClientAuth.
fn open_message(c2s_secret: &[u8; 32], record: &[u8]) -> Vec<u8> {
    let mut opener =
        Opener::new(SuiteId::Aes256Gcm, TrafficSecret::from_bytes_for_testing_only(*c2s_secret)).expect("opener");
    let mut buf = record.to_vec();
    match opener.open_in_place(&mut buf).expect("opens").expect("whole") {
        (Opened::Message(payload), _) => payload.to_vec(),
        (other, _) => panic!("not a Message record: {other:?}"),
    }
}

enum Example {
    Auth(ClientAuth),
    Result(AuthResult),
    Refusal(HelloRefusal),
}

fn examples(proof: KeyProof) -> Vec<(&'static str, Example)> {
    let alice = || Username::parse(USERNAME).expect("username");
    let password = || Password::new(PASSWORD.to_owned());
    let spake2 = |side: u8| [&[side][..], &[0x5a; 32]].concat();
    vec![
        (
            "§4.6.1 method 0x01, as in the worked example",
            Example::Auth(ClientAuth::Password { username: alice(), password: password() }),
        ),
        (
            "§4.6.1 method 0x02: the Ed25519 key proof of key_proofs[0]",
            Example::Auth(ClientAuth::PublicKey { username: alice(), proof: proof.clone() }),
        ),
        (
            "§4.6.1 method 0x03: registration with a password only",
            Example::Auth(ClientAuth::Register {
                username: Username::parse("bob.smith-2").expect("username"),
                password: Some(password()),
                key: None,
                invite: None,
            }),
        ),
        (
            "§4.6.1 method 0x03: registration with a key and an invite",
            Example::Auth(ClientAuth::Register {
                username: alice(),
                password: None,
                key: Some(proof.clone()),
                invite: Some(SecretBytes::new(b"invite-token-1".to_vec())),
            }),
        ),
        (
            "§4.6.1 method 0x03: registration with all three",
            Example::Auth(ClientAuth::Register {
                username: alice(),
                password: Some(password()),
                key: Some(proof),
                invite: Some(SecretBytes::new(vec![0xff; 16])),
            }),
        ),
        ("§4.6.1 method 0x04", Example::Auth(ClientAuth::Anonymous)),
        (
            "§4.6.3 method 0x05: a SPAKE2 message (0x41 and a 32-byte point; the point here is a placeholder)",
            Example::Auth(ClientAuth::Pake { message: spake2(0x41) }),
        ),
        (
            "§4.6.2 accepted, as in the worked example",
            Example::Result(AuthResult::Accepted { client_id: ClientId(CLIENT_ID) }),
        ),
        ("§4.6.2 rejected", Example::Result(AuthResult::Rejected { message: "login failed".into() })),
        (
            "§4.6.3 pake (the point and confirmation here are placeholders)",
            Example::Result(AuthResult::Pake { message: spake2(0x42), confirm: [0xc3; 32] }),
        ),
        (
            "§4.7: no common version",
            Example::Refusal(HelloRefusal { code: CloseCode::HandshakeFailure, negotiated: Some(Negotiated::Version) }),
        ),
        (
            "§4.7: no common key exchange",
            Example::Refusal(HelloRefusal {
                code: CloseCode::HandshakeFailure,
                negotiated: Some(Negotiated::KeyExchange),
            }),
        ),
        (
            "§4.7: no common record suite (the frame of §4.7)",
            Example::Refusal(HelloRefusal { code: CloseCode::HandshakeFailure, negotiated: Some(Negotiated::Suite) }),
        ),
        ("§4.7: unspecified", Example::Refusal(HelloRefusal { code: CloseCode::HandshakeFailure, negotiated: None })),
    ]
}

/// Byte strings that MUST fail to decode as the given type (§3, §4.6, §4.7).
const INVALID: [(&str, &str, &str); 12] = [
    ("ClientAuth", "unknown method 0x06", "06"),
    ("ClientAuth", "user name \"Alice\": upper case", concat!("01", "05", "416c696365", "0001", "78")),
    ("ClientAuth", "an empty password", concat!("01", "05", "616c696365", "0000")),
    ("ClientAuth", "registration with neither password nor key", concat!("03", "05", "616c696365", "00", "00", "00")),
    (
        "ClientAuth",
        "registration with has_password = 0x02",
        concat!("03", "05", "616c696365", "02", "0001", "78", "00", "00"),
    ),
    (
        "ClientAuth",
        "registration with an empty invite",
        concat!("03", "05", "616c696365", "01", "0001", "78", "00", "01", "00"),
    ),
    ("ClientAuth", "pake with an empty SPAKE2 message", concat!("05", "00")),
    ("ClientAuth", "anonymous with a trailing byte", concat!("04", "00")),
    ("AuthResult", "unknown result 0x03", "03"),
    ("AuthResult", "accepted with a 15-byte client id", concat!("00", "000102030405060708090a0b0c0d0e")),
    ("HelloRefusal", "a trailing byte", concat!("53584652", "0000", "0004", "03", "00")),
    ("HelloRefusal", "version 0x0001 is not a refusal", concat!("53584652", "0001", "0004", "03")),
];

fn check_message(vector: &Value) {
    let f = file::field(vector, "fields");
    let bytes = file::bytes(vector, "hex");
    match file::str(vector, "type") {
        "ClientAuth" => {
            let auth = client_auth_of(f);
            assert_eq!(hex::encode(auth.to_bytes()), hex::encode(&bytes), "encoding of {vector}");
            assert_eq!(ClientAuth::decode(&bytes).expect("decodes"), auth, "decoding of {vector}");
        }
        "AuthResult" => {
            let result = auth_result_of(f);
            assert_eq!(hex::encode(result.to_bytes()), hex::encode(&bytes), "encoding of {vector}");
            assert_eq!(AuthResult::decode(&bytes).expect("decodes"), result, "decoding of {vector}");
        }
        "HelloRefusal" => {
            let refusal = HelloRefusal {
                code: CloseCode::from_u16(file::u16(f, "code")),
                negotiated: Negotiated::from_code(file::u64(f, "negotiated") as u8),
            };
            assert_eq!(hex::encode(refusal.to_bytes()), hex::encode(&bytes), "encoding of {vector}");
            assert_eq!(HelloRefusal::decode(&bytes).expect("decodes"), refusal, "decoding of {vector}");
            assert!(HelloRefusal::is_refusal(&bytes));
            assert_eq!(file::bytes(vector, "frame"), [&(bytes.len() as u32).to_be_bytes()[..], &bytes].concat());
        }
        other => panic!("unknown type {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Messages <-> JSON fields
// ---------------------------------------------------------------------------

fn proof_json(proof: &KeyProof) -> Value {
    json!({
        "public_key": hex::encode(&proof.public_key),
        "signature_scheme": proof.signature.scheme.code(),
        "signature": hex::encode(&proof.signature.bytes),
    })
}

fn client_auth_json(auth: &ClientAuth) -> Value {
    match auth {
        ClientAuth::Password { username, password } => {
            json!({ "method": "password", "username": username.as_str(), "password": password.expose() })
        }
        ClientAuth::PublicKey { username, proof } => {
            json!({ "method": "public_key", "username": username.as_str(), "key": proof_json(proof) })
        }
        ClientAuth::Register { username, password, key, invite } => json!({
            "method": "register",
            "username": username.as_str(),
            "password": password.as_ref().map(|p| p.expose()),
            "key": key.as_ref().map(proof_json),
            "invite": invite.as_ref().map(|token| hex::encode(token.expose())),
        }),
        ClientAuth::Anonymous => json!({ "method": "anonymous" }),
        ClientAuth::Pake { message } => json!({ "method": "pake", "message": hex::encode(message) }),
    }
}

fn auth_result_json(result: &AuthResult) -> Value {
    match result {
        AuthResult::Accepted { client_id } => json!({ "result": "accepted", "client_id": hex::encode(client_id.0) }),
        AuthResult::Rejected { message } => json!({ "result": "rejected", "message": message }),
        AuthResult::Pake { message, confirm } => {
            json!({ "result": "pake", "message": hex::encode(message), "confirm": hex::encode(confirm) })
        }
    }
}

fn refusal_json(refusal: &HelloRefusal) -> Value {
    json!({ "code": refusal.code.to_u16(), "negotiated": refusal.negotiated.map_or(0, Negotiated::code) })
}

fn key_of(f: &Value) -> KeyProof {
    KeyProof {
        public_key: file::bytes(f, "public_key"),
        signature: Signature {
            scheme: SignatureScheme::from_code(file::u16(f, "signature_scheme")).expect("scheme"),
            bytes: file::bytes(f, "signature"),
        },
    }
}

fn client_auth_of(f: &Value) -> ClientAuth {
    let username = || Username::parse(file::str(f, "username")).expect("username");
    let password = || Password::new(file::str(f, "password").to_owned());
    match file::str(f, "method") {
        "password" => ClientAuth::Password { username: username(), password: password() },
        "public_key" => ClientAuth::PublicKey { username: username(), proof: key_of(file::field(f, "key")) },
        "register" => ClientAuth::Register {
            username: username(),
            password: (!file::field(f, "password").is_null()).then(password),
            key: Some(file::field(f, "key")).filter(|k| !k.is_null()).map(key_of),
            invite: (!file::field(f, "invite").is_null()).then(|| SecretBytes::new(file::bytes(f, "invite"))),
        },
        "anonymous" => ClientAuth::Anonymous,
        "pake" => ClientAuth::Pake { message: file::bytes(f, "message") },
        other => panic!("unknown method {other:?}"),
    }
}

fn auth_result_of(f: &Value) -> AuthResult {
    match file::str(f, "result") {
        "accepted" => AuthResult::Accepted { client_id: ClientId(file::array(f, "client_id")) },
        "rejected" => AuthResult::Rejected { message: file::str(f, "message").to_owned() },
        "pake" => AuthResult::Pake { message: file::bytes(f, "message"), confirm: file::array(f, "confirm") },
        other => panic!("unknown result {other:?}"),
    }
}
