//! The CPU floor of a transfer: what moving one GiB costs in primitives a
//! transfer cannot avoid, measured on this machine, for `bench/transfer.sh`.
//!
//! ```text
//! cargo run --release -p sxfer --example floor [-- OPTIONS]
//!   --mib N       MiB per primitive per run (default 256)
//!   --runs N      runs; every figure is the median over runs (default 5)
//!   --verbose     print every run
//! ```
//!
//! One 1 MiB unit of every primitive is done in turn (the order rotates;
//! an open always follows its seal),
//! until each has done `--mib` units, so a shared machine's drift in speed
//! hits all of them alike. The hash and the ciphers work on warm buffers,
//! as in a transfer, where each follows a copy; the copy reads memory that
//! is not in cache. Each call is timed on its own (`Instant`), and a
//! primitive's cost in a run is the median call, so the calls that another
//! process preempted do not count (see [`run`]). Figures are seconds of one
//! core per GiB (2^30 bytes), "CPU-s/GiB". `--verbose` also prints each
//! run's on-CPU share (`/proc/thread-self/schedstat`): how busy the machine
//! was.
//!
//! Primitives, each with the parameters the transfer uses:
//! - AES-256-GCM seal and open of 1 MiB records, in place (aws-lc-rs
//!   `LessSafeKey`; the record layer costs the same, see `record_bench`);
//! - BLAKE3 (`blake3::Hasher::update`, 1 MiB at a time, one thread);
//! - ChaCha20-Poly1305 seal and open of 64 KiB chunks, in place, as age's
//!   STREAM does (aws-lc-rs, as the server's age writer uses);
//! - one memory copy: 1 MiB from a 256 MiB source that is not in cache, as
//!   a copy out of the page cache or a socket buffer is (`copy_from_slice`).
//!
//! For comparison only (not in the floor): the `age` crate's StreamReader,
//! which the server decrypts downloads with today, reading an in-memory
//! age file (this includes its copy out of the input).
//!
//! The floor of one direction, both ends together:
//! - upload: client reads the file (copy), hashes, seals, sends (copy);
//!   server receives (copy), opens, hashes, age-encrypts, writes (copy);
//! - download: server reads (copy), age-decrypts, hashes, seals, sends
//!   (copy); client receives (copy), opens, hashes, writes (copy).
//!
//! Lines starting with `result` are for `bench/transfer.sh`:
//! `result <kind> <name> <median> <min> <max>` in CPU-s per GiB.

use std::hint::black_box;
use std::io::Read;
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, CHACHA20_POLY1305};

type BoxError = Box<dyn std::error::Error>;

const UNIT: usize = 1 << 20;
/// age's STREAM chunk.
const AGE_CHUNK: usize = 64 << 10;
const TAG: usize = 16;
/// Larger than any cache here (32 MiB L3), so every copy reads memory.
const COLD_SOURCE: usize = 256 << 20;
/// The in-memory age file the comparison decrypts.
const AGE_FILE: usize = 64 << 20;
const GIB: f64 = (1u64 << 30) as f64;

struct Options {
    mib: usize,
    runs: usize,
    verbose: bool,
}

fn parse_args() -> Result<Options, BoxError> {
    let mut options = Options { mib: 256, runs: 5, verbose: false };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--mib" => options.mib = args.next().ok_or("--mib needs a value")?.parse()?,
            "--runs" => options.runs = args.next().ok_or("--runs needs a value")?.parse()?,
            "--verbose" => options.verbose = true,
            "-h" | "--help" => {
                println!("floor [--mib N] [--runs N] [--verbose]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if options.mib == 0 || options.runs == 0 {
        return Err("--mib and --runs must be positive".into());
    }
    Ok(options)
}

/// The primitives, in the order of [`Primitives::unit`].
const NAMES: [&str; 8] = [
    "aes-256-gcm seal",
    "aes-256-gcm open",
    "blake3",
    "chacha20-poly1305 seal",
    "chacha20-poly1305 open",
    "memory copy",
    "memory copy (hot)",
    "age crate decrypt",
];
const GCM_SEAL: usize = 0;
const GCM_OPEN: usize = 1;
const BLAKE3: usize = 2;
const CHACHA_SEAL: usize = 3;
const CHACHA_OPEN: usize = 4;
const COPY: usize = 5;
const HOT_COPY: usize = 6;
const AGE_DECRYPT: usize = 7;
/// The order within a run rotates over these; an open follows its seal.
const TASKS: [&[usize]; 6] =
    [&[GCM_SEAL, GCM_OPEN], &[BLAKE3], &[CHACHA_SEAL, CHACHA_OPEN], &[COPY], &[HOT_COPY], &[AGE_DECRYPT]];

/// Buffers and keys for one 1 MiB unit of each primitive.
struct Primitives {
    gcm: LessSafeKey,
    chacha: LessSafeKey,
    /// 1 MiB + tag: sealed, then opened back, in place.
    record: Vec<u8>,
    record_seq: u64,
    /// 16 age chunks of 64 KiB + tag each.
    chunks: Vec<u8>,
    chunk_seq: u64,
    hasher: blake3::Hasher,
    hashed: Vec<u8>,
    cold: Vec<u8>,
    cold_at: usize,
    hot: Vec<u8>,
    copy_to: Vec<u8>,
    age_file: Vec<u8>,
    age_identity: age::x25519::Identity,
    age_reader: Option<age::stream::StreamReader<std::io::Cursor<Vec<u8>>>>,
    age_out: Vec<u8>,
}

impl Primitives {
    fn new() -> Result<Self, BoxError> {
        let key = |alg| -> Result<LessSafeKey, BoxError> {
            Ok(LessSafeKey::new(UnboundKey::new(alg, &[0x42; 32]).map_err(|_| "aws-lc-rs key setup failed")?))
        };
        let pattern = |len: usize| (0..len).map(|i| (i.wrapping_mul(31) ^ (i >> 11)) as u8).collect::<Vec<u8>>();
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public();
        let mut age_file = Vec::with_capacity(AGE_FILE + AGE_FILE / 1024 + 4096);
        let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))?;
        let mut writer = encryptor.wrap_output(&mut age_file)?;
        std::io::Write::write_all(&mut writer, &pattern(AGE_FILE))?;
        writer.finish()?;
        Ok(Primitives {
            gcm: key(&AES_256_GCM)?,
            chacha: key(&CHACHA20_POLY1305)?,
            record: pattern(UNIT + TAG),
            record_seq: 0,
            chunks: pattern(UNIT / AGE_CHUNK * (AGE_CHUNK + TAG)),
            chunk_seq: 0,
            hasher: blake3::Hasher::new(),
            hashed: pattern(UNIT),
            cold: pattern(COLD_SOURCE),
            cold_at: 0,
            hot: pattern(UNIT),
            copy_to: vec![0; UNIT],
            age_file,
            age_identity: identity,
            age_reader: None,
            age_out: vec![0; UNIT],
        })
    }

    /// Untimed preparation before unit `which`.
    ///
    /// In a transfer the data reaches the hash and the ciphers warm, just
    /// copied in by the read before them; so each one's buffer is read
    /// through first. Only the copy works on cold memory.
    fn prepare(&mut self, which: usize) -> Result<(), BoxError> {
        match which {
            GCM_SEAL => touch(&self.record),
            BLAKE3 => touch(&self.hashed),
            CHACHA_SEAL => touch(&self.chunks),
            _ => {}
        }
        if which == AGE_DECRYPT && self.age_reader.is_none() {
            let decryptor = age::Decryptor::new_buffered(std::io::Cursor::new(self.age_file.clone()))?;
            self.age_reader = Some(decryptor.decrypt(std::iter::once(&self.age_identity as &dyn age::Identity))?);
        }
        Ok(())
    }

    /// One 1 MiB unit of primitive `which`.
    fn unit(&mut self, which: usize) -> Result<(), BoxError> {
        let failed = |_| "aws-lc-rs AEAD call failed";
        match which {
            GCM_SEAL => {
                let (data, tag_out) = self.record.split_at_mut(UNIT);
                let tag = self
                    .gcm
                    .seal_in_place_separate_tag(nonce(self.record_seq), Aad::from([0u8; 4]), data)
                    .map_err(failed)?;
                tag_out.copy_from_slice(tag.as_ref());
            }
            GCM_OPEN => {
                let plain = self.gcm.open_in_place(nonce(self.record_seq), Aad::from([0u8; 4]), &mut self.record);
                black_box(plain.map_err(failed)?);
                self.record_seq += 1;
            }
            BLAKE3 => {
                self.hasher.update(&self.hashed);
            }
            CHACHA_SEAL => {
                for (i, chunk) in self.chunks.chunks_mut(AGE_CHUNK + TAG).enumerate() {
                    let (data, tag_out) = chunk.split_at_mut(AGE_CHUNK);
                    let seq = self.chunk_seq + i as u64;
                    let tag = self.chacha.seal_in_place_separate_tag(nonce(seq), Aad::empty(), data).map_err(failed)?;
                    tag_out.copy_from_slice(tag.as_ref());
                }
            }
            CHACHA_OPEN => {
                let mut opened = 0;
                for (i, chunk) in self.chunks.chunks_mut(AGE_CHUNK + TAG).enumerate() {
                    let seq = self.chunk_seq + i as u64;
                    opened += self.chacha.open_in_place(nonce(seq), Aad::empty(), chunk).map_err(failed)?.len();
                }
                black_box(opened);
                self.chunk_seq += (UNIT / AGE_CHUNK) as u64;
            }
            COPY => {
                self.copy_to.copy_from_slice(&self.cold[self.cold_at..self.cold_at + UNIT]);
                self.cold_at = (self.cold_at + UNIT) % COLD_SOURCE;
                black_box(&mut self.copy_to);
            }
            HOT_COPY => {
                self.copy_to.copy_from_slice(&self.hot);
                black_box(&mut self.copy_to);
            }
            AGE_DECRYPT => {
                let reader = self.age_reader.as_mut().ok_or("age reader not prepared")?;
                let mut filled = 0;
                while filled < UNIT {
                    match reader.read(&mut self.age_out[filled..])? {
                        0 => break,
                        n => filled += n,
                    }
                }
                if filled < UNIT {
                    // The file ended mid-unit: the rest comes from a fresh reader next time.
                    self.age_reader = None;
                }
                black_box(&mut self.age_out);
            }
            _ => return Err(format!("no primitive {which}").into()),
        }
        Ok(())
    }
}

/// Reads one byte per cache line of `buf`, to bring it into the caches.
fn touch(buf: &[u8]) {
    black_box(buf.iter().step_by(64).fold(0u8, |sum, &b| sum.wrapping_add(b)));
}

fn nonce(seq: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&seq.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

/// This thread's time on a CPU so far, if the kernel reports it.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// One run: CPU-s per GiB of every primitive, and the run's CPU / wall share.
///
/// A primitive's cost is the median of its calls' times: on a shared
/// machine some calls are preempted (their wall time includes another
/// process's slice), and the median leaves those out as long as they are
/// fewer than half. Per-call CPU time is not to be had here: the kernel's
/// per-thread figure advances in 4 ms ticks.
fn run(primitives: &mut Primitives, units: usize) -> Result<([f64; NAMES.len()], f64), BoxError> {
    let mut calls: [Vec<f64>; NAMES.len()] = std::array::from_fn(|_| Vec::with_capacity(units));
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    for i in 0..units {
        for k in 0..TASKS.len() {
            for &which in TASKS[(i + k) % TASKS.len()] {
                primitives.prepare(which)?;
                let t = Instant::now();
                primitives.unit(which)?;
                calls[which].push(t.elapsed().as_secs_f64());
            }
        }
    }
    let wall = wall0.elapsed();
    let share = match (cpu0, thread_cpu()) {
        (Some(a), Some(b)) if !wall.is_zero() => ((b - a).as_secs_f64() / wall.as_secs_f64()).min(1.0),
        _ => 1.0,
    };
    let per_gib = GIB / UNIT as f64;
    Ok((calls.map(|c| median(c) * per_gib), share))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.is_empty() {
        f64::NAN
    } else if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn range(values: &[f64]) -> (f64, f64) {
    values.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

/// Client and server floor of one direction from one run's primitive costs.
fn floors(c: &[f64; NAMES.len()]) -> [(&'static str, f64); 6] {
    let copy = c[COPY];
    let up_client = copy + c[BLAKE3] + c[GCM_SEAL] + copy;
    let up_server = copy + c[GCM_OPEN] + c[BLAKE3] + c[CHACHA_SEAL] + copy;
    let down_server = copy + c[CHACHA_OPEN] + c[BLAKE3] + c[GCM_SEAL] + copy;
    let down_client = copy + c[GCM_OPEN] + c[BLAKE3] + copy;
    [
        ("upload", up_client + up_server),
        ("upload-client", up_client),
        ("upload-server", up_server),
        ("download", down_client + down_server),
        ("download-client", down_client),
        ("download-server", down_server),
    ]
}

fn main() -> Result<(), BoxError> {
    let options = parse_args()?;
    println!(
        "sxfer floor: CPU-s per GiB of the primitives a transfer cannot avoid; median of {} runs of {} MiB each, \
         one thread",
        options.runs, options.mib
    );
    if cfg!(debug_assertions) {
        println!("WARNING: debug build; numbers are meaningless. Use --release.");
    }
    if thread_cpu().is_none() {
        println!("note: no /proc/thread-self/schedstat; times are wall-clock, preemption included");
    }
    let mut primitives = Primitives::new()?;
    run(&mut primitives, 32)?; // warm-up: page in the buffers, settle the clocks
    let mut costs: Vec<[f64; NAMES.len()]> = Vec::new();
    for i in 0..options.runs {
        let (cost, share) = run(&mut primitives, options.mib)?;
        if options.verbose {
            let figures: Vec<String> = cost.iter().map(|c| format!("{c:.3}")).collect();
            println!("  run {i}: on-CPU share {share:.3}; CPU-s/GiB {}", figures.join(" "));
        }
        costs.push(cost);
    }
    black_box(primitives.hasher.finalize());

    println!();
    println!("| {:<24} | {:>10} | {:>15} | {:>7} |", "primitive", "CPU-s/GiB", "runs min..max", "GB/s");
    println!("|:{:-<24}|{:->11}:|{:->16}:|{:->8}:|", "", "", "", "");
    let mut result_lines = Vec::new();
    for (k, name) in NAMES.iter().enumerate() {
        let values: Vec<f64> = costs.iter().map(|c| c[k]).collect();
        let (lo, hi) = range(&values);
        let m = median(values);
        println!("| {name:<24} | {m:>10.3} | {lo:>7.3}..{hi:<7.3} | {:>7.2} |", GIB / m / 1e9);
        result_lines.push(format!("result\tprimitive\t{name}\t{m:.4}\t{lo:.4}\t{hi:.4}"));
    }
    println!();
    println!("floor (sum within each run, median over runs), CPU-s per GiB, client + server:");
    println!("  upload   = client: 2 copies + blake3 + gcm seal;  server: 2 copies + gcm open + blake3 + chacha seal");
    println!("  download = server: 2 copies + chacha open + blake3 + gcm seal;  client: 2 copies + gcm open + blake3");
    let per_run: Vec<[(&str, f64); 6]> = costs.iter().map(floors).collect();
    for j in 0..6 {
        let name = per_run[0][j].0;
        let values: Vec<f64> = per_run.iter().map(|f| f[j].1).collect();
        let (lo, hi) = range(&values);
        let m = median(values);
        println!("  {name:<16} {m:.3}  (runs {lo:.3}..{hi:.3})");
        result_lines.push(format!("result\tfloor\t{name}\t{m:.4}\t{lo:.4}\t{hi:.4}"));
    }
    println!();
    for line in result_lines {
        println!("{line}");
    }
    Ok(())
}
