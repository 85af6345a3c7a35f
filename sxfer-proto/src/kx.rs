//! Key exchange (PROTOCOL.md §4.4): `x25519` and the hybrid
//! `mlkem768x25519` (ML-KEM-768 + X25519, laid out as TLS's X25519MLKEM768).
//!
//! X25519 private keys come from the caller's RNG. ML-KEM key generation and
//! encapsulation use aws-lc's internal DRBG: aws-lc-rs exposes no seeded
//! variant, so the hybrid is not reproducible from a test seed (the worked
//! example in PROTOCOL.md therefore uses `x25519`).

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::kem::{Ciphertext, DecapsulationKey, EncapsulationKey, ML_KEM_768};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::SecretBytes;

pub const X25519_LEN: usize = 32;
pub const MLKEM768_ENCAPSULATION_KEY_LEN: usize = 1184;
pub const MLKEM768_CIPHERTEXT_LEN: usize = 1088;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KexId {
    /// ML-KEM-768 + X25519 hybrid: secure if either one is.
    MlKem768X25519,
    X25519,
}

impl KexId {
    pub const ALL: [KexId; 2] = [KexId::MlKem768X25519, KexId::X25519];

    pub fn code(self) -> u16 {
        match self {
            KexId::MlKem768X25519 => 0x11ec,
            KexId::X25519 => 0x001d,
        }
    }

    pub fn from_code(code: u16) -> Option<Self> {
        KexId::ALL.into_iter().find(|kex| kex.code() == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            KexId::MlKem768X25519 => "mlkem768x25519",
            KexId::X25519 => "x25519",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        KexId::ALL.into_iter().find(|kex| kex.name() == name)
    }
}

/// The client's private half of one offered key exchange.
pub enum ClientKex {
    X25519(PrivateKey),
    Hybrid { mlkem: DecapsulationKey, x25519: PrivateKey },
}

impl ClientKex {
    /// Generate a key pair for `kex`; returns it and the public share to send.
    pub fn generate(kex: KexId, rng: &mut impl CryptoRngCore) -> Result<(Self, Vec<u8>)> {
        let x25519 = x25519_from_rng(rng)?;
        let x25519_public = x25519_public(&x25519)?;
        match kex {
            KexId::X25519 => Ok((ClientKex::X25519(x25519), x25519_public)),
            KexId::MlKem768X25519 => {
                let mlkem = DecapsulationKey::generate(&ML_KEM_768).map_err(|_| Error::Crypto)?;
                let encapsulation_key = mlkem.encapsulation_key().map_err(|_| Error::Crypto)?;
                let mut share = encapsulation_key.key_bytes().map_err(|_| Error::Crypto)?.as_ref().to_vec();
                share.extend_from_slice(&x25519_public);
                Ok((ClientKex::Hybrid { mlkem, x25519 }, share))
            }
        }
    }

    pub fn id(&self) -> KexId {
        match self {
            ClientKex::X25519(_) => KexId::X25519,
            ClientKex::Hybrid { .. } => KexId::MlKem768X25519,
        }
    }

    /// Combine with the server's share into the shared secret.
    pub fn complete(&self, server_share: &[u8]) -> Result<SecretBytes> {
        match self {
            ClientKex::X25519(private) => x25519_agree(private, server_share),
            ClientKex::Hybrid { mlkem, x25519 } => {
                if server_share.len() != MLKEM768_CIPHERTEXT_LEN + X25519_LEN {
                    return Err(Error::PeerMisbehaved("key exchange share has the wrong length"));
                }
                let (ciphertext, x25519_share) = server_share.split_at(MLKEM768_CIPHERTEXT_LEN);
                let mlkem_secret = mlkem.decapsulate(Ciphertext::from(ciphertext)).map_err(|_| Error::Crypto)?;
                let x25519_secret = x25519_agree(x25519, x25519_share)?;
                Ok(concat_secrets(mlkem_secret.as_ref(), x25519_secret.expose()))
            }
        }
    }
}

/// Server side: answer the client's share for `kex`. Returns the server's
/// share and the shared secret.
pub fn server_respond(kex: KexId, client_share: &[u8], rng: &mut impl CryptoRngCore) -> Result<(Vec<u8>, SecretBytes)> {
    let x25519 = x25519_from_rng(rng)?;
    let x25519_public = x25519_public(&x25519)?;
    match kex {
        KexId::X25519 => {
            let secret = x25519_agree(&x25519, client_share)?;
            Ok((x25519_public, secret))
        }
        KexId::MlKem768X25519 => {
            if client_share.len() != MLKEM768_ENCAPSULATION_KEY_LEN + X25519_LEN {
                return Err(Error::PeerMisbehaved("key exchange share has the wrong length"));
            }
            let (encapsulation_key, x25519_share) = client_share.split_at(MLKEM768_ENCAPSULATION_KEY_LEN);
            let encapsulation_key = EncapsulationKey::new(&ML_KEM_768, encapsulation_key)
                .map_err(|_| Error::PeerMisbehaved("invalid ML-KEM encapsulation key"))?;
            let (ciphertext, mlkem_secret) = encapsulation_key.encapsulate().map_err(|_| Error::Crypto)?;
            let x25519_secret = x25519_agree(&x25519, x25519_share)?;
            let mut share = ciphertext.as_ref().to_vec();
            share.extend_from_slice(&x25519_public);
            Ok((share, concat_secrets(mlkem_secret.as_ref(), x25519_secret.expose())))
        }
    }
}

fn x25519_from_rng(rng: &mut impl CryptoRngCore) -> Result<PrivateKey> {
    let mut scalar = Zeroizing::new([0u8; X25519_LEN]);
    rng.fill_bytes(scalar.as_mut());
    PrivateKey::from_private_key(&X25519, scalar.as_ref()).map_err(|_| Error::Crypto)
}

fn x25519_public(private: &PrivateKey) -> Result<Vec<u8>> {
    Ok(private.compute_public_key().map_err(|_| Error::Crypto)?.as_ref().to_vec())
}

/// X25519 with the peer's share. An all-zero result (low-order point) is
/// rejected by aws-lc and surfaces here as a crypto failure.
fn x25519_agree(private: &PrivateKey, peer: &[u8]) -> Result<SecretBytes> {
    if peer.len() != X25519_LEN {
        return Err(Error::PeerMisbehaved("key exchange share has the wrong length"));
    }
    agreement::agree(private, UnparsedPublicKey::new(&X25519, peer), Error::Crypto, |secret| {
        Ok(SecretBytes::new(secret.to_vec()))
    })
}

/// Hybrid secret: ML-KEM shared secret ‖ X25519 shared secret.
fn concat_secrets(mlkem: &[u8], x25519: &[u8]) -> SecretBytes {
    let mut both = Vec::with_capacity(mlkem.len() + x25519.len());
    both.extend_from_slice(mlkem);
    both.extend_from_slice(x25519);
    SecretBytes::new(both)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed-output RNG is enough here: only X25519 scalars come from it.
    struct Counter(u8);

    impl rand_core::RngCore for Counter {
        fn next_u32(&mut self) -> u32 {
            rand_core::impls::next_u32_via_fill(self)
        }
        fn next_u64(&mut self) -> u64 {
            rand_core::impls::next_u64_via_fill(self)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for byte in dest {
                self.0 = self.0.wrapping_mul(31).wrapping_add(7);
                *byte = self.0;
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> std::result::Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    impl rand_core::CryptoRng for Counter {}

    #[test]
    fn both_sides_agree_for_every_kex() {
        for kex in KexId::ALL {
            let (client, share) = ClientKex::generate(kex, &mut Counter(1)).expect("generate");
            let (server_share, server_secret) = server_respond(kex, &share, &mut Counter(2)).expect("respond");
            let client_secret = client.complete(&server_share).expect("complete");
            assert_eq!(client_secret, server_secret, "{kex:?}");
            let expected = if kex == KexId::MlKem768X25519 { 64 } else { 32 };
            assert_eq!(client_secret.expose().len(), expected);
        }
    }

    #[test]
    fn a_tampered_mlkem_ciphertext_yields_a_different_secret() {
        // ML-KEM's implicit rejection: decapsulation "succeeds" with an
        // unrelated secret, so the handshake fails at the key schedule.
        let (client, share) = ClientKex::generate(KexId::MlKem768X25519, &mut Counter(1)).expect("generate");
        let (mut server_share, server_secret) =
            server_respond(KexId::MlKem768X25519, &share, &mut Counter(2)).expect("respond");
        for position in [0, 500, MLKEM768_CIPHERTEXT_LEN - 1] {
            server_share[position] ^= 1;
            let secret = client.complete(&server_share).expect("implicit rejection");
            assert_ne!(secret, server_secret, "byte {position}");
            server_share[position] ^= 1;
        }
        // The X25519 half is protected too.
        server_share[MLKEM768_CIPHERTEXT_LEN] ^= 1;
        assert_ne!(client.complete(&server_share).ok(), Some(server_secret));
    }

    #[test]
    fn malformed_shares_are_refused() {
        for kex in KexId::ALL {
            let (client, share) = ClientKex::generate(kex, &mut Counter(1)).expect("generate");
            assert!(server_respond(kex, &share[..share.len() - 1], &mut Counter(2)).is_err(), "{kex:?}");
            assert!(client.complete(&[0u8; 7]).is_err(), "{kex:?}");
        }
        // An encapsulation key whose coefficients are out of range (all 0xff).
        let mut bad = vec![0xffu8; MLKEM768_ENCAPSULATION_KEY_LEN + X25519_LEN];
        bad[MLKEM768_ENCAPSULATION_KEY_LEN..].fill(9);
        assert!(server_respond(KexId::MlKem768X25519, &bad, &mut Counter(2)).is_err());
        // The all-zero X25519 point is low order: refused, never an all-zero secret.
        let (client, _) = ClientKex::generate(KexId::X25519, &mut Counter(1)).expect("generate");
        assert_eq!(client.complete(&[0u8; 32]).err(), Some(Error::Crypto));
    }
}
