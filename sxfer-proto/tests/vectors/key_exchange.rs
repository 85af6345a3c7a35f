//! `docs/vectors/key_exchange.json`: the hybrid `mlkem768x25519` key
//! exchange (PROTOCOL.md §4.4.1) and the key schedule from its 64-byte
//! secret (§4.5), and X25519 shares that must be refused.
//!
//! ML-KEM key generation and encapsulation draw from aws-lc's internal RNG
//! (`kx.rs`), so that part cannot come from a seed: the decapsulation key
//! and ciphertext are drawn once, kept in the file, and reused whenever the
//! file is regenerated. Everything else follows from them and fixed seeds.

use aws_lc_rs::agreement::{PrivateKey, X25519};
use aws_lc_rs::digest::{digest, SHA3_256};
use aws_lc_rs::kem::{Ciphertext, DecapsulationKey, ML_KEM_768};
use serde_json::{json, Value};
use sxfer_proto::key_schedule::{self, TrafficSecret};
use sxfer_proto::kx::{self, ClientKex, KexId};
use sxfer_proto::secret::SecretBytes;

use super::file::{self, object};
use super::handshake::FixedRng;
use crate::common::worked::*;

const FILE: &str = "key_exchange.json";
const CLIENT_X25519_SEED: u8 = 0x04;
const SERVER_X25519_SEED: u8 = 0x05;

#[test]
fn key_exchange_vectors() {
    let generated = generate();
    let on_disk = file::sync(FILE, &generated);
    check_hybrid(file::field(&on_disk, "hybrid"));
    for vector in file::list(&on_disk, "invalid_x25519_shares") {
        let share = file::bytes(vector, "share");
        let private = file::bytes(vector, "x25519_private");
        let client = ClientKex::X25519(PrivateKey::from_private_key(&X25519, &private).expect("scalar"));
        assert!(client.complete(&share).is_err(), "the client must refuse {vector}");
        assert!(
            kx::server_respond(KexId::X25519, &share, &mut FixedRng::new(private)).is_err(),
            "the server must refuse {vector}"
        );
    }
}

/// The ML-KEM decapsulation key, its encapsulation key and a ciphertext to
/// it: those in the file, or, when there is none yet, fresh ones.
fn mlkem_material() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let kept = std::fs::read_to_string(format!("{}/../docs/vectors/{FILE}", env!("CARGO_MANIFEST_DIR")))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|v| {
            let hybrid = v.get("hybrid")?;
            let field = |key: &str| hex::decode(hybrid.get(key)?.as_str()?).ok();
            Some((
                field("client_mlkem768_decapsulation_key")?,
                field("client_mlkem768_encapsulation_key")?,
                field("server_mlkem768_ciphertext")?,
            ))
        });
    kept.unwrap_or_else(|| {
        let dk = DecapsulationKey::generate(&ML_KEM_768).expect("ML-KEM key");
        let ek = dk.encapsulation_key().expect("encapsulation key");
        let (ct, _) = ek.encapsulate().expect("encapsulate");
        let ek = ek.key_bytes().expect("ek bytes").as_ref().to_vec();
        (dk.key_bytes().expect("key bytes").as_ref().to_vec(), ek, ct.as_ref().to_vec())
    })
}

/// FIPS 203 §7.1: the decapsulation key is `dk_pke ‖ ek ‖ H(ek) ‖ z` (1152,
/// 1184, 32 and 32 bytes), so it holds its encapsulation key.
fn check_decapsulation_key(dk: &[u8], ek: &[u8]) {
    assert_eq!((dk.len(), ek.len()), (2400, 1184));
    assert_eq!(&dk[1152..2336], ek, "ek inside dk");
    assert_eq!(&dk[2336..2368], digest(&SHA3_256, ek).as_ref(), "H(ek) = SHA3-256(ek) inside dk");
}

fn generate() -> Value {
    let (dk_bytes, ek, ct) = mlkem_material();
    check_decapsulation_key(&dk_bytes, &ek);
    let dk = DecapsulationKey::new(&ML_KEM_768, &dk_bytes).expect("decapsulation key");
    let mlkem_secret = dk.decapsulate(Ciphertext::from(ct.as_slice())).expect("decapsulate").as_ref().to_vec();
    let client_private = rng_block(CLIENT_X25519_SEED, 0);
    let server_private = rng_block(SERVER_X25519_SEED, 0);
    let client_public = x25519_public(&client_private);
    let server_public = x25519_public(&server_private);
    let x25519_secret = x25519(&client_private, &server_public);
    let shared = [&mlkem_secret[..], &x25519_secret].concat();
    // Any transcript hash will do for the key schedule: that of §11.
    let worked = run_connection();
    let transcript_hash = sha256(&[&worked.client_hello[4..], &worked.server_hello[4..]]);
    let prk = hkdf_extract(HANDSHAKE_SALT, &shared);
    let expand = |label: &[u8]| file::hex(&hkdf_expand(&prk, &[label, &transcript_hash], 32));

    let hybrid = object([
        ("kex", json!(KexId::MlKem768X25519.name())),
        ("kex_code", json!(KexId::MlKem768X25519.code())),
        ("client_mlkem768_decapsulation_key", file::hex(&dk_bytes)),
        ("client_mlkem768_encapsulation_key", file::hex(&ek)),
        ("client_x25519_private", file::hex(&client_private)),
        ("client_x25519_public", file::hex(&client_public)),
        ("client_share", file::hex(&[&ek[..], &client_public].concat())),
        ("server_mlkem768_ciphertext", file::hex(&ct)),
        ("server_x25519_private", file::hex(&server_private)),
        ("server_x25519_public", file::hex(&server_public)),
        ("server_share", file::hex(&[&ct[..], &server_public].concat())),
        ("mlkem768_shared_secret", file::hex(&mlkem_secret)),
        ("x25519_shared_secret", file::hex(&x25519_secret)),
        ("shared_secret", file::hex(&shared)),
        ("transcript_hash", file::hex(&transcript_hash)),
        ("prk", file::hex(&prk)),
        ("c2s_secret", expand(CLIENT_TRAFFIC)),
        ("s2c_secret", expand(SERVER_TRAFFIC)),
        ("exporter", expand(EXPORTER)),
    ]);
    let low_order: Vec<Value> = [
        ("the all-zero point", [0u8; 32]),
        ("u = 1, a point of order 4: X25519 of any scalar with it is all zero", {
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        }),
    ]
    .into_iter()
    .map(|(comment, share)| {
        object([
            ("comment", json!(comment)),
            ("x25519_private", file::hex(&client_private)),
            ("share", file::hex(&share)),
        ])
    })
    .collect();
    object([
        (
            "description",
            json!(
                "SXFR/1 key exchange: the hybrid mlkem768x25519 (ML-KEM-768 and X25519, ML-KEM first in the \
                 shares and in the 64-byte shared secret) with the key schedule from its secret, and X25519 \
                 shares whose all-zero result MUST be refused. See docs/vectors/README.md."
            ),
        ),
        ("spec_section", json!("4.4.1, 4.5")),
        ("hybrid", hybrid),
        ("invalid_x25519_shares", Value::Array(low_order)),
    ])
}

/// The client side through the implementation's `ClientKex`, the server
/// side's layout through `kx::server_respond`, the key schedule through
/// `key_schedule::derive`.
fn check_hybrid(v: &Value) {
    let dk_bytes = file::bytes(v, "client_mlkem768_decapsulation_key");
    let ek = file::bytes(v, "client_mlkem768_encapsulation_key");
    check_decapsulation_key(&dk_bytes, &ek);
    let dk = DecapsulationKey::new(&ML_KEM_768, &dk_bytes).expect("dk");
    let ct = file::bytes(v, "server_mlkem768_ciphertext");
    let mlkem_secret = dk.decapsulate(Ciphertext::from(ct.as_slice())).expect("decapsulate");
    assert_eq!(mlkem_secret.as_ref(), file::bytes(v, "mlkem768_shared_secret"));

    let client_private = file::bytes(v, "client_x25519_private");
    let client = ClientKex::Hybrid {
        mlkem: dk,
        x25519: PrivateKey::from_private_key(&X25519, &client_private).expect("scalar"),
    };
    let client_share = [&ek[..], &file::bytes(v, "client_x25519_public")].concat();
    assert_eq!(client_share, file::bytes(v, "client_share"));
    let shared = client.complete(&file::bytes(v, "server_share")).expect("the client completes");
    assert_eq!(shared.expose(), file::bytes(v, "shared_secret"), "ML-KEM secret ‖ X25519 secret");

    // The server's ciphertext is random; its X25519 half and the layout are not.
    let mut rng = FixedRng::new(file::bytes(v, "server_x25519_private"));
    let (server_share, server_secret) =
        kx::server_respond(KexId::MlKem768X25519, &client_share, &mut rng).expect("the server answers");
    rng.used_up();
    assert_eq!(server_share.len(), 1088 + 32);
    assert_eq!(server_share[1088..], file::bytes(v, "server_x25519_public"));
    assert_eq!(server_secret.expose()[32..], file::bytes(v, "x25519_shared_secret"));
    assert_eq!(client.complete(&server_share).expect("completes"), server_secret);

    let transcript_hash: [u8; 32] = file::array(v, "transcript_hash");
    assert_eq!(hkdf_extract(HANDSHAKE_SALT, shared.expose()), file::bytes(v, "prk"));
    let secrets = key_schedule::derive(&shared, &transcript_hash).expect("key schedule");
    assert_eq!(secrets.client_to_server, TrafficSecret::from_bytes_for_testing_only(file::array(v, "c2s_secret")));
    assert_eq!(secrets.server_to_client, TrafficSecret::from_bytes_for_testing_only(file::array(v, "s2c_secret")));
    assert_eq!(secrets.exporter, SecretBytes::new(file::bytes(v, "exporter")));
}
