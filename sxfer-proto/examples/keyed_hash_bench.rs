//! The `hmac-sha256-ctr` suite (PROTOCOL.md §6.6) against its floor: the
//! SHA-256 compressions its construction needs.
//!
//! ```text
//! cargo run --release -p sxfer-proto --example keyed_hash_bench [-- OPTIONS]
//!   --runs N       runs per figure; median, min and max are printed (default 5)
//!   --seconds S    time per run (default 1)
//!   --only NAME    only this measurement (for `perf record`; repeatable)
//!   --cpu          time by this thread's CPU time (/proc/thread-self/schedstat)
//!                  instead of the wall clock, as `openssl speed` divides by
//!                  its user CPU time: on a loaded machine the two then agree
//! ```
//!
//! Measurements (GB = 10^9 bytes; each run is a fresh timing of `--seconds`):
//!
//! - `seal`, `open`: `HmacSha256Ctr::seal_in_place` / `open_in_place` of a
//!   1 MiB record, the suite as the record layer calls it.
//! - `keystream-sign`: the keystream as it was before issue 14, one
//!   aws-lc-rs `hmac::sign(k_enc, nonce ‖ u64be(i))` per 32-byte block.
//! - `keystream-digest`: the keystream from aws-lc-rs `digest::Context`
//!   clones of the precomputed ipad/opad states (the aws-lc-only midstate).
//! - `mac`: the MAC pass alone, aws-lc-rs `hmac::sign` over 1 MiB.
//! - `sha256-awslc`, `sha256-sha2`: the compression rate, aws-lc-rs
//!   `digest::digest(SHA256, 1 MiB)` and `sha2::compress256` over 16 384
//!   chained blocks. GB/s / 64 = compressions per second.
//!
//! The floor: per payload byte the suite needs 2/32 compressions for the
//! keystream and 1/64 for the MAC, 5/64 in all; with the compression
//! throughput `rate` in bytes/s (64 bytes a compression), floor = rate / 5,
//! computed per run and the ratio to it within each run. Lines starting
//! with `result` are for `bench/keyed_hash.sh`.

// A benchmark harness, not the sans-IO core: it reads the clock.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::{digest, hmac};
use sha2::digest::generic_array::GenericArray;

use sxfer_proto::record::suite::{HmacSha256Ctr, RecordCipher};

const RECORD: usize = 1 << 20;
const TAG_LEN: usize = 32;
const NONCE: [u8; 12] = [7; 12];
const AAD: [u8; 4] = [0, 0x10, 0, 0x21];

type BoxError = Box<dyn std::error::Error>;

struct Options {
    runs: usize,
    seconds: f64,
    only: Vec<String>,
    clock: Clock,
}

/// What a figure divides by.
#[derive(Clone, Copy)]
enum Clock {
    Wall(Instant),
    ThreadCpu,
}

impl Clock {
    /// Time since an arbitrary origin fixed for the process.
    fn now(self) -> Duration {
        match self {
            Clock::Wall(origin) => origin.elapsed(),
            Clock::ThreadCpu => {
                // The first field: nanoseconds this thread has run on a CPU.
                let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("read schedstat");
                let nanos = stat.split_whitespace().next().and_then(|n| n.parse().ok()).expect("schedstat field");
                Duration::from_nanos(nanos)
            }
        }
    }
}

fn parse_args() -> Result<Options, BoxError> {
    let mut options = Options { runs: 5, seconds: 1.0, only: Vec::new(), clock: Clock::Wall(Instant::now()) };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => options.runs = args.next().ok_or("--runs needs a value")?.parse()?,
            "--seconds" => options.seconds = args.next().ok_or("--seconds needs a value")?.parse()?,
            "--only" => options.only.push(args.next().ok_or("--only needs a value")?),
            "--cpu" => options.clock = Clock::ThreadCpu,
            "-h" | "--help" => {
                println!("keyed_hash_bench [--runs N] [--seconds S] [--only NAME]... [--cpu]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if options.runs == 0 || options.seconds.is_nan() || options.seconds <= 0.0 {
        return Err("--runs and --seconds must be positive".into());
    }
    Ok(options)
}

/// GB/s of `op` over `bytes` bytes a call, for about `budget`.
fn rate(clock: Clock, budget: Duration, bytes: usize, op: &mut dyn FnMut()) -> f64 {
    let (mut calls, start) = (0u64, clock.now());
    while clock.now() - start < budget {
        op();
        calls += 1;
    }
    (calls * bytes as u64) as f64 / (clock.now() - start).as_secs_f64() / 1e9
}

/// Median, min and max of `values`.
fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    let median = if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 };
    (median, values[0], values[values.len() - 1])
}

/// The keystream before issue 14: one `hmac::sign` per block.
fn keystream_sign(key: &hmac::Key, data: &mut [u8]) {
    let mut input = [0u8; 20];
    input[..12].copy_from_slice(&NONCE);
    for (counter, chunk) in (0u64..).zip(data.chunks_mut(TAG_LEN)) {
        input[12..].copy_from_slice(&counter.to_be_bytes());
        xor(chunk, hmac::sign(key, &input).as_ref());
    }
}

/// SHA-256 after one block of `key ⊕ pad`, as an aws-lc-rs context.
fn keyed_context(key: &[u8; 32], pad: u8) -> digest::Context {
    let mut block = [pad; 64];
    block.iter_mut().zip(key).for_each(|(byte, key)| *byte ^= key);
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(&block);
    context
}

/// The keystream from `digest::Context` clones of precomputed states.
fn keystream_digest(inner: &digest::Context, outer: &digest::Context, data: &mut [u8]) {
    let mut input = [0u8; 20];
    input[..12].copy_from_slice(&NONCE);
    for (counter, chunk) in (0u64..).zip(data.chunks_mut(TAG_LEN)) {
        input[12..].copy_from_slice(&counter.to_be_bytes());
        let mut context = inner.clone();
        context.update(&input);
        let inner_digest = context.finish();
        let mut context = outer.clone();
        context.update(inner_digest.as_ref());
        xor(chunk, context.finish().as_ref());
    }
}

/// GB/s of seal (or of open) alone: round trips on `buf`, the other half untimed.
/// Each round trip must give the plaintext back.
fn round_trips(suite: &HmacSha256Ctr, clock: Clock, budget: Duration, time_open: bool, buf: &mut [u8]) -> f64 {
    let plaintext = buf[..RECORD].to_vec();
    let (mut timed, mut calls) = (Duration::ZERO, 0u64);
    while timed < budget {
        let start = clock.now();
        suite.seal_in_place(&NONCE, &AAD, black_box(&mut *buf), RECORD).expect("seal");
        let sealed = clock.now();
        suite.open_in_place(&NONCE, &AAD, black_box(&mut *buf)).expect("open");
        timed += if time_open { clock.now() - sealed } else { sealed - start };
        calls += 1;
    }
    assert_eq!(buf[..RECORD], plaintext[..], "seal then open must give the plaintext back");
    (calls * RECORD as u64) as f64 / timed.as_secs_f64() / 1e9
}

fn xor(chunk: &mut [u8], key: &[u8]) {
    chunk.iter_mut().zip(key).for_each(|(byte, key)| *byte ^= key);
}

fn main() -> Result<(), BoxError> {
    let options = parse_args()?;
    let (budget, clock) = (Duration::from_secs_f64(options.seconds), options.clock);
    let key = [0x42u8; 64];
    let k_enc: [u8; 32] = key[..32].try_into()?;
    let suite = HmacSha256Ctr::new(&key)?;
    let sign_key = hmac::Key::new(hmac::HMAC_SHA256, &k_enc);
    let mac_key = hmac::Key::new(hmac::HMAC_SHA256, &key[32..]);
    let (inner, outer) = (keyed_context(&k_enc, 0x36), keyed_context(&k_enc, 0x5c));

    let mut buf: Vec<u8> = (0..RECORD + TAG_LEN).map(|i| (i.wrapping_mul(31) ^ (i >> 11)) as u8).collect();
    let blocks = vec![GenericArray::from([0x5au8; 64]); RECORD / 64];
    let mut state = [0u32; 8];

    let names = ["seal", "open", "keystream-sign", "keystream-digest", "mac", "sha256-awslc", "sha256-sha2"];
    let chosen: Vec<&str> =
        names.iter().copied().filter(|n| options.only.is_empty() || options.only.iter().any(|o| o == n)).collect();
    println!(
        "each figure: {} runs of ~{} s, 1 MiB per call; GB/s = 10^9 bytes/s; median (min..max)",
        options.runs, options.seconds
    );
    // Run k of every measurement, then run k + 1: the machine's drift hits all alike.
    let mut figures = vec![Vec::new(); chosen.len()];
    for _ in 0..options.runs {
        for (name, figures) in chosen.iter().zip(&mut figures) {
            figures.push(match *name {
                "seal" | "open" => round_trips(&suite, clock, budget, *name == "open", &mut buf),
                "keystream-sign" => rate(clock, budget, RECORD, &mut || keystream_sign(&sign_key, &mut buf[..RECORD])),
                "keystream-digest" => {
                    rate(clock, budget, RECORD, &mut || keystream_digest(&inner, &outer, &mut buf[..RECORD]))
                }
                "mac" => rate(clock, budget, RECORD, &mut || {
                    black_box(hmac::sign(&mac_key, black_box(&buf[..RECORD])));
                }),
                "sha256-awslc" => rate(clock, budget, RECORD, &mut || {
                    black_box(digest::digest(&digest::SHA256, black_box(&buf[..RECORD])));
                }),
                "sha256-sha2" => rate(clock, budget, RECORD, &mut || sha2::compress256(black_box(&mut state), &blocks)),
                _ => unreachable!("names are fixed"),
            });
        }
    }
    for (name, figures) in chosen.iter().zip(&figures) {
        let (median, min, max) = spread(figures.clone());
        println!("{name:<17} {median:7.3} GB/s ({min:.3}..{max:.3})");
        println!("result\t{name}\t{median:.4}\t{min:.4}\t{max:.4}");
    }
    // The floor per run, from that run's compression rate; the ratio within each run.
    let of = |wanted: &str| chosen.iter().position(|name| *name == wanted).map(|i| &figures[i]);
    if let (Some(seal), Some(open), Some(sha256)) = (of("seal"), of("open"), of("sha256-awslc")) {
        let floors: Vec<f64> = sha256.iter().map(|rate| rate / 5.0).collect();
        let ratio = |side: &[f64]| spread(side.iter().zip(&floors).map(|(s, f)| s / f).collect());
        let (floor, floor_min, floor_max) = spread(floors.clone());
        let ((seal, seal_min, seal_max), (open, open_min, open_max)) = (ratio(seal), ratio(open));
        println!("floor (sha256-awslc / 5) {floor:7.3} GB/s ({floor_min:.3}..{floor_max:.3})");
        println!("seal / floor {seal:.2} ({seal_min:.2}..{seal_max:.2}), open / floor {open:.2} ({open_min:.2}..{open_max:.2})");
    }
    Ok(())
}
