//! Client authentication (PROTOCOL.md §4.6): the client's first encrypted
//! message, and the server's AuthResult.

use crate::codec::{bounded_str, Codec, Reader, Writer};
use crate::error::{Error, Result};
use crate::identity::Signature;
use crate::key_schedule::CONFIRM_LEN;
use crate::pake::MAX_PAKE_MESSAGE;
use crate::secret::{Password, SecretBytes};

pub const MAX_USERNAME: usize = 64;
pub const MAX_PASSWORD: usize = 1024;
pub const MAX_PUBLIC_KEY: usize = 2048;
pub const MAX_AUTH_MESSAGE: usize = 1024;
pub const MAX_INVITE: usize = 128;

const AUTH_PASSWORD: u8 = 0x01;
const AUTH_PUBLIC_KEY: u8 = 0x02;
const AUTH_REGISTER: u8 = 0x03;
const AUTH_ANONYMOUS: u8 = 0x04;
const AUTH_PAKE: u8 = 0x05;

const RESULT_ACCEPTED: u8 = 0x00;
const RESULT_REJECTED: u8 = 0x01;
const RESULT_PAKE: u8 = 0x02;

/// A user name: 1..=64 bytes of `[a-z0-9._-]`, starting with a letter or
/// digit. Checked once here; everything downstream takes this type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    pub fn parse(name: &str) -> Result<Self> {
        let valid_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
        let starts_well = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if name.len() > MAX_USERNAME || !starts_well || !name.chars().all(valid_char) {
            return Err(Error::Malformed("user name (1-64 of a-z 0-9 . _ -, starting with a letter or digit)"));
        }
        Ok(Username(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The stable id a server gives every account, shown on registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientId(pub [u8; 16]);

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// A public key with a signature proving possession of its private half.
/// The signature covers the client-auth input of PROTOCOL.md §4.6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProof {
    /// SSH wire encoding of the public key.
    pub public_key: Vec<u8>,
    pub signature: Signature,
}

/// The client's first encrypted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    Password {
        username: Username,
        password: Password,
    },
    PublicKey {
        username: Username,
        proof: KeyProof,
    },
    /// Create an account: a password, a public key, or both; `invite` is a
    /// token from the server's operator, for servers without open
    /// registration.
    Register {
        username: Username,
        password: Option<Password>,
        key: Option<KeyProof>,
        invite: Option<SecretBytes>,
    },
    /// Peer mode: no account; both sides rely on the exporter / pinned keys.
    Anonymous,
    /// Peer mode, short code (§4.6.3): SPAKE2 side A's message.
    Pake {
        message: Vec<u8>,
    },
}

/// The server's verdict. A rejection says nothing about which part was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthResult {
    Accepted {
        client_id: ClientId,
    },
    Rejected {
        message: String,
    },
    /// The answer to a PAKE: SPAKE2 side B's message and the server's key
    /// confirmation (§4.6.3). Acceptance waits for the client's PakeConfirm.
    Pake {
        message: Vec<u8>,
        confirm: [u8; CONFIRM_LEN],
    },
}

impl Codec for KeyProof {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_bytes_u16(&self.public_key);
        self.signature.encode(out);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let public_key = r.bytes_u16(MAX_PUBLIC_KEY)?.to_vec();
        let signature = Signature::read(r)?;
        Ok(KeyProof { public_key, signature })
    }
}

impl Codec for ClientAuth {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ClientAuth::Password { username, password } => {
                out.put_u8(AUTH_PASSWORD);
                out.put_bytes_u8(username.as_str().as_bytes());
                out.put_bytes_u16(password.expose().as_bytes());
            }
            ClientAuth::PublicKey { username, proof } => {
                out.put_u8(AUTH_PUBLIC_KEY);
                out.put_bytes_u8(username.as_str().as_bytes());
                proof.encode(out);
            }
            ClientAuth::Register { username, password, key, invite } => {
                out.put_u8(AUTH_REGISTER);
                out.put_bytes_u8(username.as_str().as_bytes());
                match password {
                    Some(password) => {
                        out.put_u8(1);
                        out.put_bytes_u16(password.expose().as_bytes());
                    }
                    None => out.put_u8(0),
                }
                match key {
                    Some(proof) => {
                        out.put_u8(1);
                        proof.encode(out);
                    }
                    None => out.put_u8(0),
                }
                match invite {
                    Some(token) => {
                        out.put_u8(1);
                        out.put_bytes_u8(token.expose());
                    }
                    None => out.put_u8(0),
                }
            }
            ClientAuth::Anonymous => out.put_u8(AUTH_ANONYMOUS),
            ClientAuth::Pake { message } => {
                out.put_u8(AUTH_PAKE);
                out.put_bytes_u8(message);
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        match r.u8()? {
            AUTH_PASSWORD => {
                let username = read_username(r)?;
                let password = read_password(r)?;
                Ok(ClientAuth::Password { username, password })
            }
            AUTH_PUBLIC_KEY => {
                let username = read_username(r)?;
                let proof = KeyProof::read(r)?;
                Ok(ClientAuth::PublicKey { username, proof })
            }
            AUTH_REGISTER => {
                let username = read_username(r)?;
                let password = read_optional(r, read_password)?;
                let key = read_optional(r, KeyProof::read)?;
                let invite = read_optional(r, |r| {
                    let token = r.bytes_u8(MAX_INVITE)?;
                    if token.is_empty() {
                        return Err(Error::Malformed("empty invite token"));
                    }
                    Ok(SecretBytes::new(token.to_vec()))
                })?;
                if password.is_none() && key.is_none() {
                    return Err(Error::Malformed("registration without password or key"));
                }
                Ok(ClientAuth::Register { username, password, key, invite })
            }
            AUTH_ANONYMOUS => Ok(ClientAuth::Anonymous),
            AUTH_PAKE => Ok(ClientAuth::Pake { message: read_pake_message(r)? }),
            _ => Err(Error::Malformed("unknown authentication method")),
        }
    }
}

impl Codec for AuthResult {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            AuthResult::Accepted { client_id } => {
                out.put_u8(RESULT_ACCEPTED);
                out.extend_from_slice(&client_id.0);
            }
            AuthResult::Rejected { message } => {
                out.put_u8(RESULT_REJECTED);
                out.put_bytes_u16(bounded_str(message, MAX_AUTH_MESSAGE).as_bytes());
            }
            AuthResult::Pake { message, confirm } => {
                out.put_u8(RESULT_PAKE);
                out.put_bytes_u8(message);
                out.extend_from_slice(confirm);
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        match r.u8()? {
            RESULT_ACCEPTED => Ok(AuthResult::Accepted { client_id: ClientId(r.array()?) }),
            RESULT_REJECTED => Ok(AuthResult::Rejected { message: r.str_u16(MAX_AUTH_MESSAGE)?.to_owned() }),
            RESULT_PAKE => Ok(AuthResult::Pake { message: read_pake_message(r)?, confirm: r.array()? }),
            _ => Err(Error::Malformed("unknown authentication result")),
        }
    }
}

pub(crate) fn read_username(r: &mut Reader<'_>) -> Result<Username> {
    Username::parse(r.str_u8(MAX_USERNAME)?)
}

fn read_password(r: &mut Reader<'_>) -> Result<Password> {
    let password = r.str_u16(MAX_PASSWORD)?;
    if password.is_empty() {
        return Err(Error::Malformed("empty password"));
    }
    Ok(Password::new(password.to_owned()))
}

fn read_pake_message(r: &mut Reader<'_>) -> Result<Vec<u8>> {
    let message = r.bytes_u8(MAX_PAKE_MESSAGE)?;
    if message.is_empty() {
        return Err(Error::Malformed("empty PAKE message"));
    }
    Ok(message.to_vec())
}

fn read_optional<T>(r: &mut Reader<'_>, read: impl FnOnce(&mut Reader<'_>) -> Result<T>) -> Result<Option<T>> {
    match r.u8()? {
        0 => Ok(None),
        1 => read(r).map(Some),
        _ => Err(Error::Malformed("optional field flag")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for good in ["alice", "a", "bob.smith-2", "0day_"] {
            assert!(Username::parse(good).is_ok(), "{good}");
        }
        let long = "a".repeat(65);
        for bad in ["", "Alice", ".alice", "-x", "a/b", "a b", "é", "a\0", long.as_str()] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    /// The largest ClientAuth any client can send fits the first-record
    /// limit a server enforces before authentication.
    #[test]
    fn the_largest_client_auth_fits_the_auth_record_limit() {
        use crate::identity::SignatureScheme;
        use crate::record::suite::MAX_OVERHEAD;
        let largest = ClientAuth::Register {
            username: Username::parse(&"a".repeat(MAX_USERNAME)).unwrap(),
            password: Some(Password::new("p".repeat(MAX_PASSWORD))),
            key: Some(KeyProof {
                public_key: vec![7; MAX_PUBLIC_KEY],
                signature: Signature { scheme: SignatureScheme::Ed25519, bytes: vec![9; 1024] },
            }),
            invite: Some(SecretBytes::new(vec![1; MAX_INVITE])),
        };
        let record_body = 1 + largest.to_bytes().len() + MAX_OVERHEAD;
        assert!(record_body <= crate::handshake::MAX_AUTH_RECORD_BODY, "{record_body}");
        let result = AuthResult::Rejected { message: "m".repeat(MAX_AUTH_MESSAGE) };
        assert!(1 + result.to_bytes().len() + MAX_OVERHEAD <= crate::handshake::MAX_AUTH_RECORD_BODY);
    }
}
