//! Client side of the handshake (PROTOCOL.md §4).
//!
//! The only way to send a credential is [`IdentityVerified::authenticate`],
//! and the only way to get an `IdentityVerified` is to check the server's
//! identity against the caller's [`ServerPin`]: a wrong server never sees
//! a password or a signature. The one pin that checks nothing,
//! [`ServerPin::PakeOnly`], admits only [`Credential::Pake`], whose SPAKE2
//! authenticates the server instead (PROTOCOL.md §4.6.3).

use rand_core::CryptoRngCore;

use super::connection::{Connection, Side};
use super::transcript::{
    client_signed_message, frame, frame_body, hash_of, pake_transcript_hash, server_signed_message,
};
use crate::codec::Codec;
use crate::error::{CloseCode, Error, Result};
use crate::identity::{Fingerprint, PrivateIdentity, PublicIdentity};
use crate::key_schedule;
use crate::kx::{ClientKex, KexId};
use crate::msgs::auth::KeyProof;
use crate::msgs::auth::MAX_INVITE;
use crate::msgs::handshake::VERSION_1;
use crate::msgs::{
    AuthResult, ClientAuth, ClientHello, ClientId, HelloRefusal, KexShare, Negotiated, ServerHello, Username,
};
use crate::pake::PakeCredential;
use crate::record::suite::SuiteId;
use crate::secret::{Password, SecretBytes};

/// What the client offers, most preferred first.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub kex: Vec<KexId>,
    pub suites: Vec<SuiteId>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig { kex: KexId::ALL.to_vec(), suites: SuiteId::DEFAULT.to_vec() }
    }
}

/// What the caller trusts the server to be.
#[derive(Debug, Clone)]
pub enum ServerPin {
    /// `SHA256:…` as printed by `sxfer keygen` / `ssh-keygen -l`.
    Fingerprint(Fingerprint),
    /// The full public key (a known-hosts entry).
    Key(PublicIdentity),
    /// No pin: any server identity, because the short-code PAKE will
    /// authenticate the server (PROTOCOL.md §4.6.3). Only
    /// [`Credential::Pake`] may follow it; any other credential is refused
    /// before a byte of it is sent.
    PakeOnly,
}

impl ServerPin {
    fn matches(&self, identity: &PublicIdentity) -> bool {
        match self {
            ServerPin::Fingerprint(pinned) => pinned.ct_eq(&identity.fingerprint()),
            ServerPin::Key(pinned) => pinned.fingerprint().ct_eq(&identity.fingerprint()),
            ServerPin::PakeOnly => true,
        }
    }
}

/// How the client proves who it is.
pub enum Credential<'a> {
    Password {
        username: Username,
        password: Password,
    },
    PublicKey {
        username: Username,
        key: &'a PrivateIdentity,
    },
    Register {
        username: Username,
        password: Option<Password>,
        key: Option<&'a PrivateIdentity>,
        /// A token from the server's operator (servers without open registration).
        invite: Option<SecretBytes>,
    },
    Anonymous,
    /// Peer mode, short code: the SPAKE2 started from the code's password.
    Pake(PakeCredential),
}

/// Sent the ClientHello; waiting for the ServerHello.
pub struct ExpectServerHello {
    config: ClientConfig,
    client_hello_body: Vec<u8>,
    kex: Vec<ClientKex>,
}

/// The ServerHello is well formed, within our offers and correctly signed by
/// the identity it carries. Whether that identity is the right one is the
/// caller's decision: [`ServerHelloChecked::verify_identity`].
pub struct ServerHelloChecked {
    identity: PublicIdentity,
    suite: SuiteId,
    kex: KexId,
    transcript_hash: [u8; 32],
    connection: Connection,
}

/// The server is who the caller's pin says (or, with
/// [`ServerPin::PakeOnly`], will be proven by the PAKE). Credentials may now
/// be sent.
pub struct IdentityVerified {
    inner: ServerHelloChecked,
    pake_only: bool,
}

/// Sent our credential; waiting for the AuthResult.
pub struct ExpectAuthResult {
    connection: Connection,
    /// Set when the credential was a PAKE: the AuthResult must answer it.
    pake: Option<ClientPake>,
}

struct ClientPake {
    credential: PakeCredential,
    transcript_hash: [u8; 32],
}

impl ExpectServerHello {
    /// Start a handshake. Returns the state and the ClientHello frame to send.
    pub fn start(config: ClientConfig, rng: &mut impl CryptoRngCore) -> Result<(Self, Vec<u8>)> {
        if config.kex.is_empty() || config.suites.is_empty() {
            return Err(Error::Misuse("client offers no key exchange or no suite"));
        }
        let mut random = [0u8; 32];
        rng.fill_bytes(&mut random);
        let mut kex = Vec::new();
        let mut kex_offers = Vec::new();
        for &id in &config.kex {
            let (private, share) = ClientKex::generate(id, rng)?;
            kex.push(private);
            kex_offers.push(KexShare { kex: id, share });
        }
        let hello = ClientHello { versions: vec![VERSION_1], random, kex_offers, suites: config.suites.clone() };
        let client_hello_body = hello.to_bytes();
        let out = frame(&client_hello_body);
        Ok((ExpectServerHello { config, client_hello_body, kex }, out))
    }

    /// Process the ServerHello frame: check every choice against our offers,
    /// verify the server's signature over the transcript, derive keys.
    ///
    /// A HelloRefusal in its place (PROTOCOL.md §4.7) is
    /// [`Error::OffersRefused`], naming what we offered, or
    /// [`Error::PeerClosed`] if the server did not say what it lacks.
    pub fn read_server_hello(self, hello_frame: &[u8]) -> Result<ServerHelloChecked> {
        let body = frame_body(hello_frame)?;
        if HelloRefusal::is_refusal(body) {
            return Err(self.refused(HelloRefusal::decode(body)?));
        }
        let hello = ServerHello::decode(body)?;
        if hello.version != VERSION_1 {
            return Err(Error::PeerMisbehaved("server chose a version we did not offer"));
        }
        if !self.config.suites.contains(&hello.suite) {
            return Err(Error::PeerMisbehaved("server chose a suite we did not offer"));
        }
        let kex = self
            .kex
            .iter()
            .find(|kex| kex.id() == hello.kex)
            .ok_or(Error::PeerMisbehaved("server chose a key exchange we did not offer"))?;

        let identity = PublicIdentity::from_wire(&hello.identity)?;
        let unsigned_len =
            body.len().checked_sub(4 + hello.signature.bytes.len()).ok_or(Error::Malformed("server hello"))?;
        let signed_hash = hash_of(&[&self.client_hello_body, &body[..unsigned_len]]);
        identity.verify(&server_signed_message(&signed_hash), &hello.signature)?;

        let shared = kex.complete(&hello.kex_share)?;
        let transcript_hash = hash_of(&[&self.client_hello_body, body]);
        let secrets = key_schedule::derive(&shared, &transcript_hash)?;
        let connection = Connection::new(Side::Client, hello.suite, secrets)?;
        Ok(ServerHelloChecked { identity, suite: hello.suite, kex: hello.kex, transcript_hash, connection })
    }

    /// The error for a HelloRefusal, naming what we offered.
    fn refused(&self, refusal: HelloRefusal) -> Error {
        let what = match refusal.negotiated {
            Some(what) if refusal.code == CloseCode::HandshakeFailure => what,
            _ => return Error::PeerClosed(refusal.code),
        };
        let offered: Vec<&str> = match what {
            Negotiated::Version => vec!["SXFR/1"],
            Negotiated::KeyExchange => self.config.kex.iter().map(|kex| kex.name()).collect(),
            Negotiated::Suite => self.config.suites.iter().map(|suite| suite.name()).collect(),
        };
        Error::OffersRefused { what, offered: offered.join(", ") }
    }
}

impl ServerHelloChecked {
    /// The identity the server proved it holds, to show or look up.
    pub fn server_identity(&self) -> &PublicIdentity {
        &self.identity
    }

    pub fn suite(&self) -> SuiteId {
        self.suite
    }

    pub fn kex(&self) -> KexId {
        self.kex
    }

    /// The pin check. A mismatch ends the handshake with nothing sent.
    pub fn verify_identity(self, pin: &ServerPin) -> Result<IdentityVerified> {
        if !pin.matches(&self.identity) {
            return Err(Error::IdentityMismatch);
        }
        Ok(IdentityVerified { inner: self, pake_only: matches!(pin, ServerPin::PakeOnly) })
    }
}

impl IdentityVerified {
    pub fn server_identity(&self) -> &PublicIdentity {
        &self.inner.identity
    }

    /// Send our credential. Returns the next state and the record to send.
    pub fn authenticate(self, credential: Credential<'_>) -> Result<(ExpectAuthResult, Vec<u8>)> {
        if self.pake_only && !matches!(credential, Credential::Pake(_)) {
            return Err(Error::Misuse("an unpinned server (ServerPin::PakeOnly) gets only a PAKE credential"));
        }
        let ServerHelloChecked { transcript_hash, mut connection, .. } = self.inner;
        let mut pake = None;
        let prove = |username: &Username, key: &PrivateIdentity| -> Result<KeyProof> {
            let signature = key.sign(&client_signed_message(&transcript_hash, username))?;
            Ok(KeyProof { public_key: key.public().to_wire(), signature })
        };
        let check_password = |password: &Password| {
            let len = password.expose().len();
            if len == 0 || len > crate::msgs::auth::MAX_PASSWORD {
                return Err(Error::Misuse("password must be 1 to 1024 bytes"));
            }
            Ok(())
        };
        let auth = match credential {
            Credential::Password { username, password } => {
                check_password(&password)?;
                ClientAuth::Password { username, password }
            }
            Credential::PublicKey { username, key } => {
                let proof = prove(&username, key)?;
                ClientAuth::PublicKey { username, proof }
            }
            Credential::Register { username, password, key, invite } => {
                if password.is_none() && key.is_none() {
                    return Err(Error::Misuse("registration needs a password or a key"));
                }
                password.as_ref().map(check_password).transpose()?;
                let key = key.map(|key| prove(&username, key)).transpose()?;
                if invite.as_ref().is_some_and(|t| t.expose().is_empty() || t.expose().len() > MAX_INVITE) {
                    return Err(Error::Misuse("invite token must be 1 to 128 bytes"));
                }
                ClientAuth::Register { username, password, key, invite }
            }
            Credential::Anonymous => ClientAuth::Anonymous,
            Credential::Pake(credential) => {
                let auth = ClientAuth::Pake { message: credential.message().to_vec() };
                pake = Some(ClientPake { credential, transcript_hash });
                auth
            }
        };
        let mut out = Vec::new();
        connection.send_handshake_message(&auth.to_bytes(), &mut out)?;
        Ok((ExpectAuthResult { connection, pake }, out))
    }
}

/// The client id reported for a PAKE peer, which has no account.
pub const PAKE_CLIENT_ID: ClientId = ClientId([0; 16]);

impl ExpectAuthResult {
    /// Process the AuthResult record. On acceptance the connection is ready.
    ///
    /// After a PAKE credential this also checks the server's key
    /// confirmation and appends to `out` what must be sent next: on success
    /// the PakeConfirm record (the connection is then ready, with the keys
    /// of §4.6.3, and the id is [`PAKE_CLIENT_ID`]); on
    /// [`Error::WrongCode`] a Close(0x0005) under the old key. Otherwise
    /// `out` stays empty.
    pub fn read_auth_result(mut self, record: &mut [u8], out: &mut Vec<u8>) -> Result<(Connection, ClientId)> {
        let bytes = self.connection.read_handshake_message(record)?;
        match (AuthResult::decode(bytes)?, self.pake) {
            (AuthResult::Rejected { message }, _) => Err(Error::AuthRejected(message)),
            (AuthResult::Accepted { client_id }, None) => Ok((self.connection, client_id)),
            (AuthResult::Accepted { .. }, Some(_)) => {
                Err(Error::PeerMisbehaved("server accepted a PAKE credential without running the PAKE"))
            }
            (AuthResult::Pake { .. }, None) => Err(Error::PeerMisbehaved("PAKE result for a credential without one")),
            (AuthResult::Pake { message, confirm }, Some(pake)) => {
                let mut connection = self.connection;
                let client_message = pake.credential.message().to_vec();
                let key = pake.credential.finish(&message)?;
                let th = pake_transcript_hash(&pake.transcript_hash, &client_message, &message);
                let derived = key_schedule::derive_pake(connection.exporter(), &key, &th)?;
                if derived.server_confirm != SecretBytes::new(confirm.to_vec()) {
                    connection.close(CloseCode::AuthFailed, out)?;
                    return Err(Error::WrongCode);
                }
                let secrets = derived.secrets;
                connection.switch_receive(secrets.server_to_client)?;
                connection.send_handshake_message(derived.client_confirm.expose(), out)?;
                connection.switch_send(secrets.client_to_server)?;
                connection.switch_exporter(secrets.exporter);
                Ok((connection, PAKE_CLIENT_ID))
            }
        }
    }
}
