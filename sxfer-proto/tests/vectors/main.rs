//! The shared test vectors of `docs/vectors/` (README.md there), checked
//! byte for byte against this implementation: every message encodes to its
//! bytes and decodes back to its fields, every record seals to its bytes and
//! opens to its plaintext, every key derives as listed, every key proof
//! signs as listed, and the worked handshake (PROTOCOL.md §11) runs to the
//! listed frames.
//!
//! The files are generated from the implementation: each test also builds
//! its file afresh and fails if the file on disk differs. After an intended
//! protocol change, rewrite them with
//! `SXFER_WRITE_VECTORS=1 cargo test -p sxfer-proto --test integration vectors::` and
//! review the diff.

mod auth;
mod file;
mod handshake;
mod key_exchange;
mod key_update;
mod messages;
mod pake;
mod records;
