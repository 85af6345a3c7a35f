//! Shared by each crate's `tests/main.rs` (one integration-test binary per
//! crate, `autotests = false`): a test file that is not declared as a
//! module of it would silently never run.

#[test]
fn every_test_file_is_a_module() {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let list = std::fs::read_to_string(here.join("main.rs")).expect("tests/main.rs");
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
