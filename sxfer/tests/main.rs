//! The integration tests of `sxfer`: real servers, clients and peers.
//!
//! One test binary: each file here is a module of it, and each directory
//! with a `main.rs` one more (one link, and a fraction of the disk that a
//! binary per file takes). `every_test_file_is_a_module` (shared, in
//! `testing/`) keeps the list whole: a new file must be added below.

mod common;

mod admission;
mod cli_keygen;
mod cli_server;
mod crash;
mod drops;
mod engine;
mod faults;
mod hostile_client;
mod hostile_server;
mod peer;
mod relay;
mod server;
#[path = "store/main.rs"]
mod store;
mod store_age_interop;

#[path = "../../testing/every_test_file_is_a_module.rs"]
mod every_test_file_is_a_module;
