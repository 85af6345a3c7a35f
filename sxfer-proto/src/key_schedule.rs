//! Key schedule (PROTOCOL.md §4.5). HKDF-SHA256 throughout.
//!
//! ```text
//! PRK         = HKDF-Extract(salt = "SXFR/1 handshake", IKM = shared secret)
//! c2s_secret  = HKDF-Expand(PRK, "SXFR/1 c2s traffic" ‖ TH, 32)
//! s2c_secret  = HKDF-Expand(PRK, "SXFR/1 s2c traffic" ‖ TH, 32)
//! exporter    = HKDF-Expand(PRK, "SXFR/1 exporter"    ‖ TH, 32)
//! key         = HKDF-Expand(secret, "SXFR/1 key", suite key length)
//! iv          = HKDF-Expand(secret, "SXFR/1 iv", 12)
//! next secret = HKDF-Expand(secret, "SXFR/1 key update", 32)
//! ```
//! TH is SHA-256 over both hello bodies as sent (PROTOCOL.md §4.4.3).
//!
//! After a short-code PAKE (PROTOCOL.md §4.6.3), with K its key and TH' the
//! transcript hash extended by both SPAKE2 messages, [`derive_pake`]:
//!
//! ```text
//! PRK'           = HKDF-Extract(salt = exporter, IKM = K)
//! c2s_secret'    = HKDF-Expand(PRK', "SXFR/1 pake c2s traffic" ‖ TH', 32)
//! s2c_secret'    = HKDF-Expand(PRK', "SXFR/1 pake s2c traffic" ‖ TH', 32)
//! exporter'      = HKDF-Expand(PRK', "SXFR/1 pake exporter"    ‖ TH', 32)
//! server_confirm = HMAC-SHA256(HKDF-Expand(PRK', "SXFR/1 pake server confirm", 32), TH')
//! client_confirm = HMAC-SHA256(HKDF-Expand(PRK', "SXFR/1 pake client confirm", 32), TH')
//! ```

use aws_lc_rs::hkdf::{self, Prk, Salt, HKDF_SHA256};
use aws_lc_rs::hmac;

use crate::error::{Error, Result};
use crate::labels;
use crate::record::suite::{SuiteId, NONCE_LEN};
use crate::secret::SecretBytes;

pub const SECRET_LEN: usize = 32;

/// One direction's current traffic secret.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TrafficSecret(SecretBytes);

/// Key and IV for one direction under one traffic secret.
pub struct TrafficKeys {
    pub key: SecretBytes,
    pub iv: [u8; NONCE_LEN],
}

impl TrafficSecret {
    pub fn keys(&self, suite: SuiteId) -> Result<TrafficKeys> {
        let prk = Prk::new_less_safe(HKDF_SHA256, self.0.expose());
        let key = expand(&prk, &[labels::TRAFFIC_KEY], suite.key_len())?;
        let iv_bytes = expand(&prk, &[labels::TRAFFIC_IV], NONCE_LEN)?;
        let mut iv = [0u8; NONCE_LEN];
        iv.copy_from_slice(iv_bytes.expose());
        Ok(TrafficKeys { key, iv })
    }

    /// A traffic secret from given bytes, for known-answer tests only
    /// (`docs/vectors/`): real secrets come from [`derive`] and [`derive_pake`].
    #[doc(hidden)]
    pub fn from_bytes_for_testing_only(bytes: [u8; SECRET_LEN]) -> TrafficSecret {
        TrafficSecret(SecretBytes::new(bytes.to_vec()))
    }

    /// The secret after a KeyUpdate. The old one is dropped (zeroized).
    pub fn next(&self) -> Result<TrafficSecret> {
        let prk = Prk::new_less_safe(HKDF_SHA256, self.0.expose());
        Ok(TrafficSecret(expand(&prk, &[labels::KEY_UPDATE], SECRET_LEN)?))
    }
}

/// What the handshake yields.
pub struct HandshakeSecrets {
    pub client_to_server: TrafficSecret,
    pub server_to_client: TrafficSecret,
    /// For channel binding (peer-mode verification codes, later layers).
    pub exporter: SecretBytes,
}

pub fn derive(shared_secret: &SecretBytes, transcript_hash: &[u8; 32]) -> Result<HandshakeSecrets> {
    let prk = Salt::new(HKDF_SHA256, labels::HANDSHAKE_SALT).extract(shared_secret.expose());
    Ok(HandshakeSecrets {
        client_to_server: TrafficSecret(expand(&prk, &[labels::CLIENT_TRAFFIC, transcript_hash], SECRET_LEN)?),
        server_to_client: TrafficSecret(expand(&prk, &[labels::SERVER_TRAFFIC, transcript_hash], SECRET_LEN)?),
        exporter: expand(&prk, &[labels::EXPORTER, transcript_hash], SECRET_LEN)?,
    })
}

/// Length of a key confirmation value (HMAC-SHA256).
pub const CONFIRM_LEN: usize = 32;

/// What the PAKE re-derivation yields: the new secrets and both key
/// confirmations.
pub struct PakeSecrets {
    pub secrets: HandshakeSecrets,
    pub server_confirm: SecretBytes,
    pub client_confirm: SecretBytes,
}

/// Bind the PAKE key `pake_key` (K) to the handshake: salted with the
/// handshake's exporter, so a man in the middle who ran two separate key
/// exchanges gets two different results even if both PAKE runs agree.
pub fn derive_pake(
    exporter: &SecretBytes,
    pake_key: &SecretBytes,
    pake_transcript_hash: &[u8; 32],
) -> Result<PakeSecrets> {
    let prk = Salt::new(HKDF_SHA256, exporter.expose()).extract(pake_key.expose());
    let th = pake_transcript_hash;
    let confirm = |label: &[u8]| -> Result<SecretBytes> {
        let key = expand(&prk, &[label], SECRET_LEN)?;
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key.expose()), th);
        Ok(SecretBytes::new(tag.as_ref().to_vec()))
    };
    Ok(PakeSecrets {
        secrets: HandshakeSecrets {
            client_to_server: TrafficSecret(expand(&prk, &[labels::PAKE_CLIENT_TRAFFIC, th], SECRET_LEN)?),
            server_to_client: TrafficSecret(expand(&prk, &[labels::PAKE_SERVER_TRAFFIC, th], SECRET_LEN)?),
            exporter: expand(&prk, &[labels::PAKE_EXPORTER, th], SECRET_LEN)?,
        },
        server_confirm: confirm(labels::PAKE_SERVER_CONFIRM)?,
        client_confirm: confirm(labels::PAKE_CLIENT_CONFIRM)?,
    })
}

/// Peer mode's direct upgrade (PROTOCOL.md §13.10): the secret both peers
/// run the direct connection's PAKE over, `HKDF-Expand(exporter,
/// "SXFR/1 direct password", 32)` with the relayed session's exporter as
/// the PRK. 256 bits: a stranger who reaches the direct listener cannot
/// guess it, and it differs for every relayed session.
pub fn direct_password(exporter: &SecretBytes) -> Result<SecretBytes> {
    let prk = Prk::new_less_safe(HKDF_SHA256, exporter.expose());
    expand(&prk, &[labels::DIRECT_PASSWORD], SECRET_LEN)
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand(prk: &Prk, info: &[&[u8]], len: usize) -> Result<SecretBytes> {
    let mut out = vec![0u8; len];
    prk.expand(info, Len(len)).and_then(|okm| okm.fill(&mut out)).map_err(|_| Error::Misuse("HKDF output length"))?;
    Ok(SecretBytes::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_differ_and_updates_move_on() {
        let secrets = derive(&SecretBytes::new(vec![7; 32]), &[1; 32]).expect("derive");
        assert_ne!(secrets.client_to_server, secrets.server_to_client);
        let next = secrets.client_to_server.next().expect("next");
        assert_ne!(next, secrets.client_to_server);
        let other = derive(&SecretBytes::new(vec![7; 32]), &[2; 32]).expect("derive");
        assert_ne!(other.client_to_server, secrets.client_to_server, "transcript feeds the keys");
    }

    #[test]
    fn pake_secrets_depend_on_the_exporter_the_key_and_the_transcript() {
        let base = derive(&SecretBytes::new(vec![7; 32]), &[1; 32]).expect("derive");
        let pake = |exporter: &SecretBytes, k: u8, th: u8| {
            derive_pake(exporter, &SecretBytes::new(vec![k; 32]), &[th; 32]).expect("derive_pake")
        };
        let one = pake(&base.exporter, 3, 4);
        assert_ne!(one.secrets.client_to_server, base.client_to_server);
        assert_ne!(one.secrets.exporter, base.exporter);
        assert_ne!(one.server_confirm, one.client_confirm);
        assert_eq!(one.server_confirm.expose().len(), CONFIRM_LEN);
        let other_exporter = SecretBytes::new(vec![9; 32]);
        for other in [pake(&other_exporter, 3, 4), pake(&base.exporter, 5, 4), pake(&base.exporter, 3, 6)] {
            assert_ne!(other.secrets.client_to_server, one.secrets.client_to_server);
            assert_ne!(other.secrets.server_to_client, one.secrets.server_to_client);
            assert_ne!(other.server_confirm, one.server_confirm);
            assert_ne!(other.client_confirm, one.client_confirm);
        }
    }
}
