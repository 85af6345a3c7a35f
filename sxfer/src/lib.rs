//! # sxfer: the file server, client and their shared plumbing
//!
//! The protocol itself lives in `sxfer-proto` (sans-IO). This crate drives
//! it over tokio sockets and adds everything with side effects:
//!
//! * [`net`]: stream ↔ protocol-core drivers (handshake, record I/O)
//! * [`engine`]: the one data-phase pump (source → sender → session → receiver → sink)
//! * [`server`]: `sxfer serve` — accept loop, sessions, transfers
//! * [`store`]: SQLite metadata + age-encrypted blobs (blocking API)
//! * [`client`]: connect, pin, authenticate; upload, download, ls, …
//! * [`peer`]: person-to-person transfers (`sxfer send` / `sxfer receive`)
//! * [`config`], [`logging`], [`output`]: settings, logs, what users see
//! * [`durable`]: group fsync (one `syncfs` per batch on Linux)
//!
//! `docs/ARCHITECTURE.md` follows one upload from `main` to the disk.

pub mod client;
pub mod config;
pub mod drop;
pub mod durable;
pub mod duration;
pub mod engine;
pub mod keys;
pub mod logging;
pub mod net;
pub mod output;
pub mod peer;
pub mod prompt;
pub mod server;
pub mod store;
