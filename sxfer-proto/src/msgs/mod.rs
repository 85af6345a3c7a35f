//! Message types and their wire encodings (PROTOCOL.md §4, §7).
//!
//! * `handshake`: the two plaintext frames, ClientHello and ServerHello (or
//!   the HelloRefusal that replaces it).
//! * `auth`: the client's first encrypted message and the server's verdict.
//! * `app`: the envelope for everything after authentication.
//! * `fields`: file metadata, names and booleans the families share.
//! * `peer`: the manifest and its answer in peer mode.
//! * `relay`: rendezvous and relay requests inside that envelope.
//! * `direct`: peer mode's upgrade from a relayed session to a direct one.
//! * `drop`: the key directory, drops and the inbox (end-to-end files).

pub mod app;
pub mod auth;
pub mod direct;
pub mod drop;
mod fields;
pub mod handshake;
pub mod peer;
pub mod relay;

pub use app::{FileEntry, FileMeta, Message};
pub use auth::{AuthResult, ClientAuth, ClientId, Username};
pub use direct::{Candidate, Direct};
pub use drop::{
    DropContent, DropHeader, DropId, DropMsg, DropReceipt, DropRecipient, DropState, InboxEntry, ReceiptContent,
    RecipientState, SentDrop,
};
pub use handshake::{ClientHello, HelloRefusal, KexShare, Negotiated, ServerHello};
pub use peer::{EntryKind, OfferAnswer, OfferEntry, Want};
pub use relay::{Nameplate, Relay};
