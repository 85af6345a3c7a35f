//! Socket ↔ protocol-core drivers: the only place bytes meet the network.

pub mod conn;
pub mod frames;

pub use conn::{client_handshake, server_handshake, ClientSession, Incoming, SessionReader, SessionWriter};
