//! Writes valid inputs for every target into `fuzz/corpus/<target>/`, so the
//! fuzzers start past the magic, the signature and the AEAD instead of
//! finding them by chance:
//!
//! ```sh
//! cargo +nightly run --release --example seed_corpus   # from fuzz/
//! ```

use std::fs;
use std::path::Path;

use sxfer_proto::codec::Codec;
use sxfer_proto::handshake::server::ExpectClientHello;
use sxfer_proto::handshake::ClientConfig;
use sxfer_proto::identity::{PrivateIdentity, Signature, SignatureScheme};
use sxfer_proto::kx::KexId;
use sxfer_proto::msgs::auth::KeyProof;
use sxfer_proto::msgs::{AuthResult, ClientAuth, ClientId, FileEntry, FileMeta, Message, Nameplate, Relay, Username};
use sxfer_proto::names::RemoteName;
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::record::FRAME_HEADER_LEN;
use sxfer_proto::secret::Password;
use sxfer_proto_fuzz::{server_config, start_client, DangerFuzzRng};

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let write = |target: &str, seeds: &[Vec<u8>]| {
        let dir = corpus.join(target);
        fs::create_dir_all(&dir).expect("corpus directory");
        for (i, seed) in seeds.iter().enumerate() {
            fs::write(dir.join(format!("seed-{i:02}")), seed).expect("write seed");
        }
        println!("{target}: {} seeds", seeds.len());
    };

    // Hellos: a real client against a real server, for each key exchange.
    let mut client_hellos = Vec::new();
    let mut server_hellos = Vec::new();
    let mut resigned = Vec::new();
    for kex in [vec![KexId::X25519], vec![KexId::MlKem768X25519], KexId::ALL.to_vec()] {
        let (_, client_frame) = start_client(ClientConfig { kex, suites: SuiteId::ALL.to_vec() });
        let server = ExpectClientHello::new(server_config());
        let (_, server_frame) =
            server.read_client_hello(&client_frame, &mut DangerFuzzRng::for_testing_only(2)).expect("server answers");
        client_hellos.push(client_frame);
        resigned.push([&[1u8][..], &server_frame[FRAME_HEADER_LEN..]].concat());
        server_hellos.push(server_frame);
    }
    // The client of `client_handshake` offers both key exchanges; only its
    // X25519 share is the same every run (ML-KEM uses aws-lc's own RNG).
    let (_, client_frame) = start_client(ClientConfig { kex: KexId::ALL.to_vec(), suites: SuiteId::ALL.to_vec() });
    for kex in KexId::ALL {
        let config = std::sync::Arc::new(sxfer_proto::handshake::ServerConfig {
            kex: vec![kex],
            ..sxfer_proto::handshake::ServerConfig::new(sxfer_proto_fuzz::server_identity())
        });
        let (_, server_frame) = ExpectClientHello::new(config)
            .read_client_hello(&client_frame, &mut DangerFuzzRng::for_testing_only(2))
            .expect("server answers");
        resigned.push([&[1u8][..], &server_frame[FRAME_HEADER_LEN..]].concat());
        resigned.push([&[0u8][..], &server_frame].concat());
    }
    let bodies = |frames: &[Vec<u8>]| frames.iter().map(|f| f[FRAME_HEADER_LEN..].to_vec()).collect::<Vec<_>>();
    write("client_hello", &bodies(&client_hellos));
    write("server_hello", &bodies(&server_hellos));
    write("server_handshake", &client_hellos);
    write("client_handshake", &resigned);

    // Credentials and verdicts.
    let key = PrivateIdentity::generate_ed25519(&mut DangerFuzzRng::for_testing_only(5)).expect("ed25519");
    let rsa = PrivateIdentity::generate_rsa(2048).expect("rsa");
    let alice = Username::parse("alice").expect("name");
    let proof = |key: &PrivateIdentity| KeyProof {
        public_key: key.public().to_wire(),
        signature: key.sign(b"not the transcript").expect("sign"),
    };
    let auths: Vec<Vec<u8>> = [
        ClientAuth::Password { username: alice.clone(), password: Password::new("hunter2".into()) },
        ClientAuth::PublicKey { username: alice.clone(), proof: proof(&key) },
        ClientAuth::PublicKey { username: alice.clone(), proof: proof(&rsa) },
        ClientAuth::Register {
            username: alice.clone(),
            password: Some(Password::new("hunter2".into())),
            key: Some(proof(&key)),
            invite: None,
        },
        ClientAuth::Anonymous,
    ]
    .iter()
    .map(Codec::to_bytes)
    .collect();
    let results: Vec<Vec<u8>> = [
        AuthResult::Accepted { client_id: ClientId([7; 16]) },
        AuthResult::Rejected { message: "login failed".into() },
    ]
    .iter()
    .map(Codec::to_bytes)
    .collect();
    write("client_auth", &auths);
    write("auth_result", &results);
    write("public_key_wire", &[key.public().to_wire(), rsa.public().to_wire()]);

    // Application messages, one of each kind, and a signature.
    let name = RemoteName::parse("reports/q3.pdf").expect("name");
    let meta = FileMeta { size: 1234, mode: 0o644, mtime: 1_700_000_000, mtime_nanos: 5 };
    let entry = FileEntry { name: name.clone(), meta, digest: [9; 32], stored: 1_700_000_001 };
    let messages: Vec<Vec<u8>> = [
        Message::Error { transfer: 1, code: 2, message: "no".into() },
        Message::Ack { transfer: 1, offset: 4096 },
        Message::Commit { transfer: 1, length: 4096, digest: [3; 32] },
        Message::Upload { transfer: 1, name: name.clone(), meta, resume: true },
        Message::UploadReady { transfer: 1, offset: 0 },
        Message::Committed { transfer: 1, entry: entry.clone() },
        Message::Download { transfer: 1, name: name.clone(), offset: 7 },
        Message::DownloadStart { transfer: 1, entry: entry.clone(), offset: 7 },
        Message::List { transfer: 1, prefix: "reports/".into() },
        Message::Listing { transfer: 1, entries: vec![entry.clone(), entry], more: false },
        Message::Stat { transfer: 1, name: name.clone() },
        Message::Delete { transfer: 1, name: name.clone() },
        Message::Rename { transfer: 1, from: name.clone(), to: RemoteName::parse("old/q3.pdf").expect("name") },
        Message::Done { transfer: 1 },
        Message::Relay { transfer: 1, relay: Relay::Create },
        Message::Relay { transfer: 2, relay: Relay::Join { nameplate: Nameplate::new(42).expect("nameplate") } },
        Message::Relay {
            transfer: 1,
            relay: Relay::Nameplate { nameplate: Nameplate::new(42).expect("nameplate"), expires_in_secs: 600 },
        },
        Message::Relay { transfer: 2, relay: Relay::Start },
    ]
    .iter()
    .map(Codec::to_bytes)
    .collect();
    let signature = Signature { scheme: SignatureScheme::Ed25519, bytes: vec![1; 64] }.to_bytes();
    write("app_message", &[messages.clone(), vec![signature]].concat());

    // Sealed plaintexts: selector byte (suite, record type), then the bytes.
    // Selector `s` picks suite `s % 5` and type `s / 5 % 4` (0 = Message).
    let sealed = |plaintexts: &[Vec<u8>]| -> Vec<Vec<u8>> {
        plaintexts.iter().enumerate().map(|(i, p)| [&[(i % SuiteId::ALL.len()) as u8][..], p].concat()).collect()
    };
    write("sealed_client_auth", &sealed(&auths));
    write("sealed_auth_result", &sealed(&results));

    // record_open, sealed mode: mode byte (suite + 5), key-update threshold,
    // then `type ‖ len:u8 ‖ payload` records (types: 0 message, 1 data, 2
    // key update, 3 close).
    let mut records = Vec::new();
    for (i, message) in messages.iter().filter(|m| m.len() < 256).enumerate() {
        let suite = (i % SuiteId::ALL.len()) as u8;
        let threshold = if i % 2 == 0 { 0 } else { 40 };
        let mut input = vec![suite + 5, threshold];
        input.extend_from_slice(&[0, message.len() as u8]);
        input.extend_from_slice(message);
        input.extend_from_slice(&[1, 5, b'h', b'e', b'l', b'l', b'o']);
        input.extend_from_slice(&[3, 2, 0, 0]);
        records.push(input);
    }
    write("record_open", &records);
}
