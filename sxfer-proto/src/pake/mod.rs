//! Short-code authentication for peer mode (PROTOCOL.md §4.6.3).
//!
//! SPAKE2 over Ed25519 (RustCrypto `spake2`, as magic-wormhole.rs uses),
//! client = side A with identity "SXFR/1 pake client", server = side B with
//! "SXFR/1 pake server". The shared key K it yields is bound into the key
//! schedule by `key_schedule::derive_pake`; the handshake states in
//! `handshake::client` / `handshake::server` run it and the confirmations.
//!
//! * [`Code`]: the `NAMEPLATE-word-word-word` a person reads out.
//! * [`PakePassword`]: what SPAKE2 runs over (from a code, or a secret the
//!   application derived itself).
//! * [`PakeCredential`]: the client's started SPAKE2, for
//!   `Credential::Pake`.
//!
//! The `spake2` crate does not zeroize its own state (its scalars and its
//! copy of the password are freed, not wiped); every copy this crate holds
//! is zeroized.

mod code;
mod words;

use rand_core::CryptoRngCore;
use spake2::{Ed25519Group, Identity, Password, Spake2};

pub use code::{
    Code, CodeWords, Nameplate, PasswordScope, BITS_PER_WORD, DEFAULT_WORDS, MAX_DIRECT_NAMEPLATE, MAX_NAMEPLATE,
    MAX_WORDS, MIN_WORDS,
};
pub use words::WORDS;

use crate::error::{Error, Result};
use crate::labels;
use crate::secret::SecretBytes;

/// Longest SPAKE2 message on the wire (`opaque8<1..64>`; Ed25519 ones are 33).
pub const MAX_PAKE_MESSAGE: usize = 64;

/// The secret both peers must hold. No Debug contents; zeroized on drop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PakePassword(SecretBytes);

impl PakePassword {
    /// A password the application made itself (for example from the
    /// exporter of an earlier session). Must not be empty.
    pub fn new(secret: SecretBytes) -> Result<Self> {
        if secret.expose().is_empty() {
            return Err(Error::Misuse("empty PAKE password"));
        }
        Ok(PakePassword(secret))
    }

    /// The direct upgrade's password (PROTOCOL.md §13.10), from the
    /// exporter of the relayed session it upgrades.
    pub fn direct(relayed_exporter: &SecretBytes) -> Result<Self> {
        Ok(PakePassword(crate::key_schedule::direct_password(relayed_exporter)?))
    }

    /// For `Code::password`, which is never empty.
    pub(crate) fn from_secret(secret: SecretBytes) -> Self {
        PakePassword(secret)
    }

    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }
}

/// The client's SPAKE2, started: side A's message is ready for the
/// ClientAuth. Build one per connection attempt.
pub struct PakeCredential {
    state: Spake2<Ed25519Group>,
    message: Vec<u8>,
}

impl PakeCredential {
    pub fn new(password: &PakePassword, rng: &mut impl CryptoRngCore) -> Self {
        let (state, message) =
            Spake2::<Ed25519Group>::start_a_with_rng(&spake_password(password), &client_id(), &server_id(), rng);
        PakeCredential { state, message }
    }

    /// Side A's message, as the ClientAuth carries it (public on the wire).
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// K from the server's message.
    pub(crate) fn finish(self, server_message: &[u8]) -> Result<SecretBytes> {
        let key = self.state.finish(server_message).map_err(|_| Error::PeerMisbehaved("invalid SPAKE2 message"))?;
        Ok(SecretBytes::new(key))
    }
}

/// The server's side B against the client's message: its own message and K.
pub(crate) fn server_respond(
    password: &PakePassword,
    client_message: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Result<(Vec<u8>, SecretBytes)> {
    let (state, message) =
        Spake2::<Ed25519Group>::start_b_with_rng(&spake_password(password), &client_id(), &server_id(), rng);
    let key = state.finish(client_message).map_err(|_| Error::PeerMisbehaved("invalid SPAKE2 message"))?;
    Ok((message, SecretBytes::new(key)))
}

fn spake_password(password: &PakePassword) -> Password {
    Password::new(password.expose())
}

fn client_id() -> Identity {
    Identity::new(labels::PAKE_CLIENT_IDENTITY)
}

fn server_id() -> Identity {
    Identity::new(labels::PAKE_SERVER_IDENTITY)
}
