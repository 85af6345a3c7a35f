//! The integration tests of `sxfer`: real servers, clients and peers.
//!
//! One test binary: each file here is a module of it, and each directory
//! with a `main.rs` one more (one link, and a fraction of the disk that a
//! binary per file takes). `every_test_file_is_a_module` keeps the list
//! whole: a new file must be added below.

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

#[test]
fn every_test_file_is_a_module() {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let list = include_str!("main.rs");
    for entry in std::fs::read_dir(&here).expect("tests/") {
        let path = entry.expect("entry").path();
        let name = path.file_stem().and_then(|n| n.to_str()).expect("name").to_owned();
        let declared = if path.is_dir() && path.join("main.rs").exists() {
            format!("#[path = \"{name}/main.rs\"]")
        } else if path.extension().is_some_and(|e| e == "rs") && name != "main" {
            format!("mod {name};")
        } else {
            continue;
        };
        assert!(list.contains(&declared), "tests/{name} is not a module of tests/main.rs");
    }
}
