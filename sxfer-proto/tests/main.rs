//! The integration tests of `sxfer-proto`: handshakes, records, vectors and properties driven from byte buffers.
//!
//! One test binary: each file here is a module of it, and each directory
//! with a `main.rs` one more (one link, and a fraction of the disk that a
//! binary per file takes). `every_test_file_is_a_module` (shared, in
//! `testing/`) keeps the list whole: a new file must be added below.

mod common;

mod handshake;
mod identity;
mod identity_vectors;
mod pake;
#[path = "properties/main.rs"]
mod properties;
mod records;
mod suites;
mod transfer;
#[path = "vectors/main.rs"]
mod vectors;
mod worked_example;

#[path = "../../testing/every_test_file_is_a_module.rs"]
mod every_test_file_is_a_module;
