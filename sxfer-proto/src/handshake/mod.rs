//! The SXFR/1 handshake (PROTOCOL.md §4) as typed states.
//!
//! Client: [`client::ExpectServerHello`] → [`client::ServerHelloChecked`] →
//! (pin check) [`client::IdentityVerified`] → [`client::ExpectAuthResult`] →
//! [`Connection`]. Server: [`server::ExpectClientHello`] →
//! [`server::ExpectClientAuth`] → [`server::AuthPending`] → [`Connection`],
//! or, for a short-code PAKE (§4.6.3), [`server::AuthPending::accept_pake`]
//! → [`server::ExpectPakeConfirm`] → [`Connection`]. A PAKE client reads its
//! AuthResult like any other and sends the PakeConfirm that call produces.
//!
//! Every transition consumes `self`, so a state cannot be used twice. Each
//! transition takes one *complete* frame; find frame boundaries with
//! [`next_hello_frame`] (plaintext hellos), [`next_auth_frame`] (the
//! ClientAuth, AuthResult and PakeConfirm records) and [`next_record_frame`]
//! (every later record). The drive loop, for either side:
//!
//! ```text
//! loop {
//!     read bytes from the socket, append to `inbuf`
//!     while let Some(len) = next_*_frame(&inbuf)? {
//!         state = state.read_*(&mut inbuf[..len], ...)?;   // may produce bytes
//!         write produced bytes; inbuf.drain(..len);
//!     }
//! }
//! ```

pub mod client;
mod connection;
pub mod server;
mod transcript;

pub use client::{ClientConfig, Credential, ServerPin, PAKE_CLIENT_ID};
pub use connection::{Connection, Event, ReceiveHalf, SendHalf, Side};
pub use server::{AuthRequest, ExpectPakeConfirm, ServerConfig};

use crate::error::Result;
use crate::record::{frame_len, MAX_HANDSHAKE_BODY, MAX_RECORD_BODY};

/// Length of the complete plaintext hello frame at the start of `buf`.
pub fn next_hello_frame(buf: &[u8]) -> Result<Option<usize>> {
    frame_len(buf, MAX_HANDSHAKE_BODY)
}

/// Largest body of the first record in each direction (ClientAuth,
/// AuthResult; PROTOCOL.md §4.6): the largest ClientAuth is ~4.4 KiB, so a
/// peer that is not yet authenticated cannot make the other side buffer a
/// maximum record.
pub const MAX_AUTH_RECORD_BODY: usize = MAX_HANDSHAKE_BODY;

/// Length of the complete authentication record (ClientAuth or AuthResult)
/// at the start of `buf`.
pub fn next_auth_frame(buf: &[u8]) -> Result<Option<usize>> {
    frame_len(buf, MAX_AUTH_RECORD_BODY)
}

/// Length of the complete encrypted record at the start of `buf`.
pub fn next_record_frame(buf: &[u8]) -> Result<Option<usize>> {
    frame_len(buf, MAX_RECORD_BODY)
}
