//! Reading, writing and comparing the vector files, and the JSON field
//! accessors the checks use (a missing or mistyped field panics with its
//! name: a broken vector file is a test failure).

use serde_json::{Map, Value};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors");
const WRITE_VAR: &str = "SXFER_WRITE_VECTORS";

/// With `SXFER_WRITE_VECTORS=1`, write `generated` to `docs/vectors/NAME`;
/// otherwise require the file to hold exactly `generated`. Returns the file
/// as parsed from disk, for the per-vector checks.
pub fn sync(name: &str, generated: &Value) -> Value {
    let path = format!("{DIR}/{name}");
    let text = serde_json::to_string_pretty(generated).expect("vectors serialize") + "\n";
    if std::env::var_os(WRITE_VAR).is_some_and(|v| v == "1") {
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("write {path}: {e}"));
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let parsed: Value = serde_json::from_str(&on_disk).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"));
    if &parsed != generated {
        let first = text.lines().zip(on_disk.lines()).position(|(want, have)| want != have).unwrap_or(0);
        panic!(
            "docs/vectors/{name} differs from what the implementation generates \
             (first at line {}: file {:?}, generated {:?}).\n\
             If the protocol change is intended, regenerate with\n  \
             {WRITE_VAR}=1 cargo test -p sxfer-proto --test integration vectors::\nand review the diff.",
            first + 1,
            on_disk.lines().nth(first).unwrap_or("<end>"),
            text.lines().nth(first).unwrap_or("<end>"),
        );
    }
    parsed
}

/// A JSON object from `(key, value)` pairs.
pub fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>())
}

pub fn hex(bytes: &[u8]) -> Value {
    Value::String(hex::encode(bytes))
}

pub fn field<'a>(value: &'a Value, key: &str) -> &'a Value {
    value.get(key).unwrap_or_else(|| panic!("vector field {key:?} missing in {value}"))
}

pub fn bytes(value: &Value, key: &str) -> Vec<u8> {
    let text = field(value, key).as_str().unwrap_or_else(|| panic!("{key:?} is not a hex string"));
    hex::decode(text).unwrap_or_else(|e| panic!("{key:?} is not hex: {e}"))
}

pub fn array<const N: usize>(value: &Value, key: &str) -> [u8; N] {
    bytes(value, key).try_into().unwrap_or_else(|b: Vec<u8>| panic!("{key:?} has {} bytes, not {N}", b.len()))
}

pub fn u64(value: &Value, key: &str) -> u64 {
    field(value, key).as_u64().unwrap_or_else(|| panic!("{key:?} is not an unsigned integer"))
}

pub fn i64(value: &Value, key: &str) -> i64 {
    field(value, key).as_i64().unwrap_or_else(|| panic!("{key:?} is not an integer"))
}

pub fn u32(value: &Value, key: &str) -> u32 {
    u64(value, key).try_into().unwrap_or_else(|_| panic!("{key:?} does not fit a u32"))
}

pub fn u16(value: &Value, key: &str) -> u16 {
    u64(value, key).try_into().unwrap_or_else(|_| panic!("{key:?} does not fit a u16"))
}

pub fn str<'a>(value: &'a Value, key: &str) -> &'a str {
    field(value, key).as_str().unwrap_or_else(|| panic!("{key:?} is not a string"))
}

pub fn bool(value: &Value, key: &str) -> bool {
    field(value, key).as_bool().unwrap_or_else(|| panic!("{key:?} is not a boolean"))
}

pub fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    field(value, key).as_array().unwrap_or_else(|| panic!("{key:?} is not a list"))
}
