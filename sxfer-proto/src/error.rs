//! Errors by fault. Each maps to a close code sent to the peer (PROTOCOL.md §8).

use thiserror::Error;

/// Everything the protocol core can fail with, grouped by whose fault it is.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The bytes do not parse: truncated, oversize, trailing bytes, unknown code.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The bytes parse, but the peer broke the protocol (wrong state, bad choice).
    #[error("peer misbehaved: {0}")]
    PeerMisbehaved(&'static str),
    /// Authentication or decryption failed. Deliberately vague.
    #[error("decryption or authentication failed")]
    Crypto,
    /// The server identity did not match the caller's pin.
    #[error("server identity does not match the pinned fingerprint")]
    IdentityMismatch,
    /// (Server) No common version, key exchange or suite.
    #[error("no common {0}")]
    NoCommon(Negotiated),
    /// (Client) The server's HelloRefusal: it accepts none of what we
    /// offered of `what`; `offered` lists those offers by name.
    #[error("the server accepts none of the offered {} (offered: {offered})", .what.plural())]
    OffersRefused { what: Negotiated, offered: String },
    /// The peer closed the connection with this code.
    #[error("peer closed the connection: {0}")]
    PeerClosed(CloseCode),
    /// The stream ended without an authenticated Close.
    #[error("connection truncated (no authenticated close)")]
    Truncated,
    /// The server rejected our credentials.
    #[error("authentication rejected: {0}")]
    AuthRejected(String),
    /// The caller used the API wrongly (a bug on this side).
    #[error("misuse: {0}")]
    Misuse(&'static str),
    /// A key file or key could not be used.
    #[error("key: {0}")]
    Key(String),
    /// The short-code PAKE did not confirm (PROTOCOL.md §4.6.3): the two
    /// sides used different codes, or someone in the middle tried to guess.
    #[error("wrong code (the peer's code does not match)")]
    WrongCode,
    /// What the user typed (or a flag) is not a valid short code.
    #[error("invalid code: {0}")]
    InvalidCode(&'static str),
}

impl Error {
    /// The close code that tells the peer why we are closing.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Error::Malformed(_) => CloseCode::DecodeError,
            Error::PeerMisbehaved(_) | Error::Truncated => CloseCode::ProtocolViolation,
            Error::Crypto => CloseCode::BadRecord,
            Error::IdentityMismatch | Error::AuthRejected(_) | Error::WrongCode => CloseCode::AuthFailed,
            Error::NoCommon(_) | Error::OffersRefused { .. } => CloseCode::HandshakeFailure,
            Error::PeerClosed(_) | Error::Misuse(_) | Error::Key(_) | Error::InvalidCode(_) => CloseCode::InternalError,
        }
    }
}

/// Why a connection ends (PROTOCOL.md §8). Sent in an authenticated Close record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    /// Orderly end of the connection.
    Normal,
    DecodeError,
    ProtocolViolation,
    BadRecord,
    HandshakeFailure,
    AuthFailed,
    InternalError,
    /// Application-level refusal; details were in an error message before.
    Application,
    /// A code this implementation does not know (kept for reporting).
    Unknown(u16),
}

impl CloseCode {
    pub fn to_u16(self) -> u16 {
        match self {
            CloseCode::Normal => 0x0000,
            CloseCode::DecodeError => 0x0001,
            CloseCode::ProtocolViolation => 0x0002,
            CloseCode::BadRecord => 0x0003,
            CloseCode::HandshakeFailure => 0x0004,
            CloseCode::AuthFailed => 0x0005,
            CloseCode::InternalError => 0x0006,
            CloseCode::Application => 0x0007,
            CloseCode::Unknown(code) => code,
        }
    }

    pub fn from_u16(code: u16) -> Self {
        match code {
            0x0000 => CloseCode::Normal,
            0x0001 => CloseCode::DecodeError,
            0x0002 => CloseCode::ProtocolViolation,
            0x0003 => CloseCode::BadRecord,
            0x0004 => CloseCode::HandshakeFailure,
            0x0005 => CloseCode::AuthFailed,
            0x0006 => CloseCode::InternalError,
            0x0007 => CloseCode::Application,
            other => CloseCode::Unknown(other),
        }
    }
}

impl std::fmt::Display for CloseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            CloseCode::Normal => "normal",
            CloseCode::DecodeError => "decode error",
            CloseCode::ProtocolViolation => "protocol violation",
            CloseCode::BadRecord => "bad record",
            CloseCode::HandshakeFailure => "handshake failure",
            CloseCode::AuthFailed => "authentication failed",
            CloseCode::InternalError => "internal error",
            CloseCode::Application => "application error",
            CloseCode::Unknown(code) => return write!(f, "unknown code {code:#06x}"),
        };
        f.write_str(name)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the hellos negotiate (PROTOCOL.md §4.4.2), and so what a server can
/// find no common choice for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiated {
    Version,
    KeyExchange,
    Suite,
}

impl Negotiated {
    pub fn code(self) -> u8 {
        match self {
            Negotiated::Version => 0x01,
            Negotiated::KeyExchange => 0x02,
            Negotiated::Suite => 0x03,
        }
    }

    /// `None` for 0x00 (unspecified) and codes this implementation does not know.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0x01 => Some(Negotiated::Version),
            0x02 => Some(Negotiated::KeyExchange),
            0x03 => Some(Negotiated::Suite),
            _ => None,
        }
    }

    /// Singular: "no common record suite".
    pub fn name(self) -> &'static str {
        match self {
            Negotiated::Version => "protocol version",
            Negotiated::KeyExchange => "key exchange",
            Negotiated::Suite => "record suite",
        }
    }

    /// Plural: "none of the offered record suites".
    pub fn plural(self) -> &'static str {
        match self {
            Negotiated::Version => "protocol versions",
            Negotiated::KeyExchange => "key exchanges",
            Negotiated::Suite => "record suites",
        }
    }
}

impl std::fmt::Display for Negotiated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
