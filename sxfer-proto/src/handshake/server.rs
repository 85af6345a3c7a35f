//! Server side of the handshake (PROTOCOL.md §4).
//!
//! The server answers a ClientHello with one ServerHello (choices, key share,
//! identity, signature), then reads the client's credential and hands it to
//! the application as an [`AuthRequest`]: checking passwords and key
//! authorizations needs the account store, which is not the protocol's.
//!
//! A short-code PAKE (PROTOCOL.md §4.6.3) adds one step: the application
//! answers [`AuthRequest::Pake`] with [`AuthPending::accept_pake`] and the
//! code's password, and the connection is ready only after
//! [`ExpectPakeConfirm::read_pake_confirm`] has checked the client's key
//! confirmation.

use std::sync::Arc;

use rand_core::CryptoRngCore;

use super::connection::{Connection, Side};
use super::transcript::{
    client_signed_message, frame, frame_body, hash_of, pake_transcript_hash, server_signed_message,
};
use crate::codec::Codec;
use crate::error::{CloseCode, Error, Result};
use crate::identity::{PrivateIdentity, PublicIdentity, Signature, SignatureScheme};
use crate::key_schedule::{self, TrafficSecret, CONFIRM_LEN};
use crate::kx::{self, KexId};
use crate::msgs::auth::KeyProof;
use crate::msgs::handshake::VERSION_1;
use crate::msgs::{AuthResult, ClientAuth, ClientHello, ClientId, HelloRefusal, Negotiated, ServerHello, Username};
use crate::pake::{self, PakePassword};
use crate::record::suite::SuiteId;
use crate::secret::{Password, SecretBytes};

/// The server's identity and what it accepts.
pub struct ServerConfig {
    pub identity: Arc<PrivateIdentity>,
    /// Key exchanges accepted, most preferred first.
    pub kex: Vec<KexId>,
    /// Suites accepted. The client's preference order decides among them.
    pub suites: Vec<SuiteId>,
}

impl ServerConfig {
    pub fn new(identity: Arc<PrivateIdentity>) -> Self {
        ServerConfig { identity, kex: KexId::ALL.to_vec(), suites: SuiteId::DEFAULT.to_vec() }
    }
}

/// What the client asked for, with any key proof already verified.
#[derive(Debug, Clone)]
pub enum AuthRequest {
    Password {
        username: Username,
        password: Password,
    },
    /// The client proved it holds `key`; whether `key` may log in as
    /// `username` is the application's decision.
    PublicKey {
        username: Username,
        key: PublicIdentity,
    },
    Register {
        username: Username,
        password: Option<Password>,
        key: Option<PublicIdentity>,
        invite: Option<SecretBytes>,
    },
    Anonymous,
    /// A peer with a short code. Answer with [`AuthPending::accept_pake`]
    /// (or turn it away with [`AuthPending::reject`]).
    Pake,
}

/// Waiting for the ClientHello.
pub struct ExpectClientHello {
    config: Arc<ServerConfig>,
}

/// Sent the ServerHello; waiting for the client's credential.
pub struct ExpectClientAuth {
    transcript_hash: [u8; 32],
    connection: Connection,
}

/// The credential arrived; the application decides.
pub struct AuthPending {
    request: AuthRequest,
    /// SPAKE2 side A's message, for [`AuthRequest::Pake`].
    pake_message: Option<Vec<u8>>,
    transcript_hash: [u8; 32],
    connection: Connection,
}

/// Sent AuthResult(pake); waiting for the client's PakeConfirm. The client
/// now holds what it needs to test one guess at the code offline, so any
/// failure from here on burns the code.
pub struct ExpectPakeConfirm {
    connection: Connection,
    client_confirm: SecretBytes,
    client_to_server: TrafficSecret,
    exporter: SecretBytes,
}

impl ExpectClientHello {
    pub fn new(config: Arc<ServerConfig>) -> Self {
        ExpectClientHello { config }
    }

    /// Process the ClientHello frame. Returns the next state and the
    /// ServerHello frame to send.
    pub fn read_client_hello(
        self,
        hello_frame: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<(ExpectClientAuth, Vec<u8>)> {
        let config = &self.config;
        let client_hello_body = frame_body(hello_frame)?;
        let hello = ClientHello::decode(client_hello_body)?;
        if !hello.versions.contains(&VERSION_1) {
            return Err(Error::NoCommon(Negotiated::Version));
        }
        let offer = config
            .kex
            .iter()
            .find_map(|kex| hello.kex_offers.iter().find(|offer| offer.kex == *kex))
            .ok_or(Error::NoCommon(Negotiated::KeyExchange))?;
        let suite = *hello
            .suites
            .iter()
            .find(|suite| config.suites.contains(suite))
            .ok_or(Error::NoCommon(Negotiated::Suite))?;

        let (kex_share, shared) = kx::server_respond(offer.kex, &offer.share, rng)?;
        let mut random = [0u8; 32];
        rng.fill_bytes(&mut random);
        let mut server_hello = ServerHello {
            version: VERSION_1,
            random,
            kex: offer.kex,
            kex_share,
            suite,
            identity: config.identity.public().to_wire(),
            // Filled in below: the signed bytes are everything before it.
            signature: Signature { scheme: SignatureScheme::Ed25519, bytes: Vec::new() },
        };
        let mut unsigned = Vec::new();
        server_hello.encode_unsigned(&mut unsigned);
        let signed_hash = hash_of(&[client_hello_body, &unsigned]);
        server_hello.signature = config.identity.sign(&server_signed_message(&signed_hash))?;

        let server_hello_body = server_hello.to_bytes();
        let transcript_hash = hash_of(&[client_hello_body, &server_hello_body]);
        let secrets = key_schedule::derive(&shared, &transcript_hash)?;
        let connection = Connection::new(Side::Server, suite, secrets)?;
        Ok((ExpectClientAuth { transcript_hash, connection }, frame(&server_hello_body)))
    }
}

/// What to send, in place of a ServerHello, when
/// [`ExpectClientHello::read_client_hello`] failed with `error`: the
/// HelloRefusal frame (PROTOCOL.md §4.7) if the hello was well formed but
/// shares no version, key exchange or suite with this server. `None` for
/// every other failure, which ends the connection with nothing sent.
pub fn refusal_frame(error: &Error) -> Option<Vec<u8>> {
    match error {
        Error::NoCommon(what) => {
            let refusal = HelloRefusal { code: error.close_code(), negotiated: Some(*what) };
            Some(frame(&refusal.to_bytes()))
        }
        _ => None,
    }
}

impl ExpectClientAuth {
    /// Process the client's credential record; verify any key proof.
    pub fn read_client_auth(mut self, record: &mut [u8]) -> Result<AuthPending> {
        let auth = ClientAuth::decode(self.connection.read_handshake_message(record)?)?;
        let transcript_hash = self.transcript_hash;
        let verify = |username: &Username, proof: &KeyProof| -> Result<PublicIdentity> {
            let key = PublicIdentity::from_wire(&proof.public_key)?;
            key.verify(&client_signed_message(&transcript_hash, username), &proof.signature)?;
            Ok(key)
        };
        let mut pake_message = None;
        let request = match auth {
            ClientAuth::Password { username, password } => AuthRequest::Password { username, password },
            ClientAuth::PublicKey { username, proof } => {
                let key = verify(&username, &proof)?;
                AuthRequest::PublicKey { username, key }
            }
            ClientAuth::Register { username, password, key, invite } => {
                let key = key.map(|proof| verify(&username, &proof)).transpose()?;
                AuthRequest::Register { username, password, key, invite }
            }
            ClientAuth::Anonymous => AuthRequest::Anonymous,
            ClientAuth::Pake { message } => {
                pake_message = Some(message);
                AuthRequest::Pake
            }
        };
        Ok(AuthPending { request, pake_message, transcript_hash, connection: self.connection })
    }
}

impl AuthPending {
    pub fn request(&self) -> &AuthRequest {
        &self.request
    }

    /// Let the client in. Appends the AuthResult record to `out`. A PAKE
    /// request cannot be let in without running it: [`Self::accept_pake`].
    pub fn accept(mut self, client_id: ClientId, out: &mut Vec<u8>) -> Result<Connection> {
        if self.pake_message.is_some() {
            return Err(Error::Misuse("a PAKE request is accepted with accept_pake"));
        }
        let result = AuthResult::Accepted { client_id };
        self.connection.send_handshake_message(&result.to_bytes(), out)?;
        Ok(self.connection)
    }

    /// Run the server side of the PAKE with `password` (the code, as the
    /// listener holds it). Appends AuthResult(pake) to `out`; the sending
    /// direction moves to the new key right after it.
    pub fn accept_pake(
        mut self,
        password: &PakePassword,
        rng: &mut impl CryptoRngCore,
        out: &mut Vec<u8>,
    ) -> Result<ExpectPakeConfirm> {
        let client_message =
            self.pake_message.take().ok_or(Error::Misuse("accept_pake on a request without a PAKE"))?;
        let (message, key) = pake::server_respond(password, &client_message, rng)?;
        let th = pake_transcript_hash(&self.transcript_hash, &client_message, &message);
        let derived = key_schedule::derive_pake(self.connection.exporter(), &key, &th)?;
        let mut confirm = [0u8; CONFIRM_LEN];
        confirm.copy_from_slice(derived.server_confirm.expose());
        let result = AuthResult::Pake { message, confirm };
        self.connection.send_handshake_message(&result.to_bytes(), out)?;
        let secrets = derived.secrets;
        self.connection.switch_send(secrets.server_to_client)?;
        Ok(ExpectPakeConfirm {
            connection: self.connection,
            client_confirm: derived.client_confirm,
            client_to_server: secrets.client_to_server,
            exporter: secrets.exporter,
        })
    }

    /// Turn the client away with a message that must not say which part of
    /// the credential was wrong. Appends AuthResult and Close to `out`.
    pub fn reject(mut self, message: &str, out: &mut Vec<u8>) -> Result<()> {
        let result = AuthResult::Rejected { message: message.to_owned() };
        self.connection.send_handshake_message(&result.to_bytes(), out)?;
        self.connection.close(CloseCode::AuthFailed, out)
    }
}

impl ExpectPakeConfirm {
    /// Process the client's PakeConfirm record (one Message record holding
    /// exactly the 32-byte confirmation). On success the connection is
    /// ready. A wrong confirmation, or the client's Close(0x0005) in its
    /// place, is [`Error::WrongCode`], and a Close(0x0005) for the client is
    /// appended to `out`.
    pub fn read_pake_confirm(mut self, record: &mut [u8], out: &mut Vec<u8>) -> Result<Connection> {
        let confirmed = match self.connection.read_handshake_message(record) {
            Ok(bytes) if bytes.len() != CONFIRM_LEN => Err(Error::PeerMisbehaved("expected a PakeConfirm")),
            Ok(bytes) if SecretBytes::new(bytes.to_vec()) == self.client_confirm => Ok(()),
            Ok(_) | Err(Error::PeerClosed(CloseCode::AuthFailed)) => Err(Error::WrongCode),
            Err(error) => Err(error),
        };
        if let Err(error) = confirmed {
            if error == Error::WrongCode {
                self.connection.close(CloseCode::AuthFailed, out)?;
            }
            return Err(error);
        }
        self.connection.switch_receive(self.client_to_server)?;
        self.connection.switch_exporter(self.exporter);
        Ok(self.connection)
    }
}
