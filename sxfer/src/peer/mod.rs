//! Peer mode: one person sends files straight to another (PROTOCOL.md
//! §13), `sxfer send` and `sxfer receive`, either side listening.
//!
//! Three steps, each its own piece, so that other ways of pairing plug in:
//!
//! 1. **Make a session.** The listener is the SXFR/1 server of the
//!    handshake, the connector the client. How the two authenticate each
//!    other is the mode; fingerprint mode is [`session::connect`] and
//!    [`session::accept`]. Either runs over any [`ByteStream`] (a TCP
//!    connection, a relayed stream) and yields a [`Session`]. A listener
//!    takes connections until one transfer succeeds ([`listen::serve`]).
//! 2. **Offer and answer.** The sender offers a manifest ([`offer::plan`]);
//!    the receiver checks every name, works out where each entry lands
//!    under `--out` ([`landing::Landing`]), shows it, and accepts or
//!    declines.
//! 3. **Move the files.** Each file is an upload of PROTOCOL.md §7.5 with
//!    the sender uploading, on the one engine: the sender is the client's
//!    `upload::run` over the session ([`send::send`]), the receiver
//!    `engine::receive` into a `PartialFile` under `--out`
//!    ([`receive::receive`]).
//!
//! [`ByteStream`]: crate::net::conn::ByteStream

pub mod code;
pub mod direct;
pub mod identity;
pub mod landing;
pub mod listen;
pub mod offer;
pub mod receive;
pub mod send;
pub mod session;
pub mod via;

use anyhow::{bail, Context, Result};

use crate::net::conn::{SessionReader, SessionWriter};
use sxfer_proto::secret::SecretBytes;

/// The port a listener takes unless told otherwise.
pub const DEFAULT_PORT: u16 = 7273;

/// The transfer id of the Offer and its OfferReply (each upload then
/// takes the next ids, 1 being the offer's).
pub const OFFER_TRANSFER: u32 = 1;

/// An authenticated peer session, however it was made: the sender and the
/// receiver run over it whichever side listened and whatever the mode.
pub struct Session {
    pub reader: SessionReader,
    pub writer: SessionWriter,
    /// The other side, for messages: its address and key fingerprint.
    pub peer: String,
    /// The session's exporter (PROTOCOL.md §4.5; after a PAKE, §4.6.3's
    /// exporter'): a relayed session derives the direct one's password
    /// from it (§13.10).
    pub exporter: SecretBytes,
}

/// `HOST:PORT`, `HOST` (the default port) or `[IPv6]:PORT`, as a string
/// for connecting or binding.
pub fn address(text: &str) -> Result<String> {
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            let port: u16 = port.parse().with_context(|| format!("bad port in {text:?}"))?;
            (host, port)
        }
        _ => (text, DEFAULT_PORT),
    };
    if host.is_empty() {
        bail!("no host in {text:?} (expected HOST:PORT)");
    }
    Ok(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_take_the_default_port() {
        assert_eq!(address("10.0.0.1:9000").unwrap(), "10.0.0.1:9000");
        assert_eq!(address("example.org").unwrap(), "example.org:7273");
        assert_eq!(address("[::1]:5").unwrap(), "[::1]:5");
        assert_eq!(address("[::1]").unwrap(), "[::1]:7273");
        assert!(address(":5").is_err());
        assert!(address("h:99999").is_err());
    }
}
