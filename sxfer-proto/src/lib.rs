//! # sxfer-proto: the sans-IO core of SXFR/1
//!
//! Handshake, record layer and message codec as pure state machines over
//! byte buffers: no sockets, no tokio, no files, no clocks. Randomness is a
//! caller-supplied `&mut impl CryptoRngCore`. The async shell in the `sxfer`
//! crate drives these types; tests drive them with plain `Vec<u8>`s.
//!
//! `docs/PROTOCOL.md` is the normative specification; module docs quote it.

pub mod codec;
pub mod error;
pub mod handshake;
pub mod identity;
pub mod key_schedule;
pub mod kx;
pub mod labels;
pub mod manifest;
pub mod msgs;
pub mod names;
pub mod pake;
pub mod record;
pub mod secret;
pub mod transfer;

pub use error::{CloseCode, Error, Result};
