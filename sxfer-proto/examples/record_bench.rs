//! Record-layer throughput per suite, beside the raw provider primitive.
//!
//! ```text
//! cargo run --release -p sxfer-proto --example record_bench [-- OPTIONS]
//!   --seconds S    time per measurement run (default 1.5)
//!   --runs N       runs per measurement; the median is reported (default 5)
//!   --suite NAME   only this suite (repeatable)
//!   --alignment    also time the raw primitive at a 64-byte-aligned address
//!   --verbose      print every run
//! ```
//!
//! For every suite it seals and opens 1 MiB records *in place* with the
//! record layer (`Sealer::seal_in_place`, `Opener::open_in_place`) and, on
//! the very same buffer, bytes and address, with the raw primitive the suite
//! is built from. Seal and open are timed separately (each call between its
//! own pair of `Instant`s). Record and raw are *paired*: every iteration of a
//! run does one record round trip and one raw round trip on the same buffer
//! (which goes first alternates), so the machine's drift in speed (large on
//! a shared VM) hits both sides alike. Every round trip restores the
//! plaintext, which is checked after each run.
//!
//! Throughput is payload bytes (1 MiB per record) per second, GB = 10^9
//! bytes; each figure is the median over runs. Overhead is the extra time
//! per byte the record layer costs over the raw primitive, raw GB/s /
//! record GB/s - 1, computed within each run (paired) and reported as the
//! median over runs.
//!
//! Lines starting with `result` are for `bench/record.sh`.

// A benchmark harness, not the sans-IO core: it reads the clock.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use aes::Aes256;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, CHACHA20_POLY1305};
use aws_lc_rs::cipher::{
    DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey, AES_256,
};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use eax::aead::generic_array::GenericArray;
use eax::aead::{AeadInPlace, KeyInit};
use eax::Eax;

use sxfer_proto::key_schedule::{self, TrafficSecret};
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::record::{ContentType, Opened, Opener, Sealer, FRAME_HEADER_LEN, PAYLOAD_OFFSET};
use sxfer_proto::secret::SecretBytes;

/// Payload of every record: 1 MiB, the protocol maximum.
const PAYLOAD: usize = 1 << 20;
/// What the record AEAD actually processes: type byte + payload.
const PLAINTEXT: usize = 1 + PAYLOAD;
/// Warm-up per suite and per side before anything is measured.
const WARMUP: Duration = Duration::from_millis(300);

type BoxError = Box<dyn std::error::Error>;

struct Options {
    seconds: f64,
    runs: usize,
    suites: Vec<SuiteId>,
    alignment: bool,
    verbose: bool,
}

fn parse_args() -> Result<Options, BoxError> {
    let mut options = Options { seconds: 1.5, runs: 5, suites: Vec::new(), alignment: false, verbose: false };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => options.seconds = args.next().ok_or("--seconds needs a value")?.parse()?,
            "--runs" => options.runs = args.next().ok_or("--runs needs a value")?.parse()?,
            "--suite" => {
                let name = args.next().ok_or("--suite needs a value")?;
                options.suites.push(SuiteId::from_name(&name).ok_or_else(|| format!("unknown suite {name}"))?);
            }
            "--alignment" => options.alignment = true,
            "--verbose" => options.verbose = true,
            "-h" | "--help" => {
                println!("record_bench [--seconds S] [--runs N] [--suite NAME]... [--alignment] [--verbose]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if options.suites.is_empty() {
        options.suites = SuiteId::ALL.to_vec();
    }
    if options.runs == 0 || options.seconds.is_nan() || options.seconds <= 0.0 {
        return Err("--runs and --seconds must be positive".into());
    }
    Ok(options)
}

/// Accumulated time and bytes of one side of one run.
#[derive(Default, Clone, Copy)]
struct Tally {
    seal: Duration,
    open: Duration,
    bytes: u64,
}

impl Tally {
    fn seal_gbps(&self) -> f64 {
        self.bytes as f64 / self.seal.as_secs_f64() / 1e9
    }
    fn open_gbps(&self) -> f64 {
        self.bytes as f64 / self.open.as_secs_f64() / 1e9
    }
}

/// One way of sealing and opening a 1 MiB payload in place in `buf`.
trait Side {
    /// Untimed: bring `buf` into the shape `seal` expects.
    fn prepare(&mut self, buf: &mut Vec<u8>);
    fn seal(&mut self, buf: &mut Vec<u8>);
    /// Must leave the original plaintext where it was before `seal`.
    fn open(&mut self, buf: &mut Vec<u8>);
}

/// Round trips on `buf`, alternating between the two sides record by record
/// (and which goes first), until both have had `budget` of seal + open time.
fn run_paired(budget: Duration, buf: &mut Vec<u8>, sides: [&mut dyn Side; 2]) -> [Tally; 2] {
    let mut tallies = [Tally::default(); 2];
    let mut iteration = 0usize;
    while tallies.iter().any(|t| t.seal + t.open < budget) {
        for k in 0..2 {
            let which = (k + iteration) % 2;
            let (side, tally) = (&mut *sides[which], &mut tallies[which]);
            side.prepare(buf);
            let t = Instant::now();
            side.seal(black_box(&mut *buf));
            tally.seal += t.elapsed();
            let t = Instant::now();
            side.open(black_box(&mut *buf));
            tally.open += t.elapsed();
            tally.bytes += PAYLOAD as u64;
        }
        iteration += 1;
    }
    tallies
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn traffic_secret() -> Result<TrafficSecret, BoxError> {
    // `TrafficSecret`'s constructor is private: derive one the way a handshake does.
    Ok(key_schedule::derive(&SecretBytes::new(vec![0x5a; 32]), &[0; 32])?.client_to_server)
}

/// The record buffer: `PAYLOAD_OFFSET` headroom, then the payload, with the
/// capacity `Sealer::record_capacity` asks for so sealing never reallocates.
fn record_buffer() -> Vec<u8> {
    let mut buf = Vec::with_capacity(Sealer::record_capacity(PAYLOAD));
    buf.resize(PAYLOAD_OFFSET, 0);
    buf.extend((0..PAYLOAD).map(|i| (i.wrapping_mul(31) ^ (i >> 11)) as u8));
    buf
}

/// The record layer, one `Sealer` and one `Opener` sharing a traffic secret.
struct RecordSide {
    sealer: Sealer,
    opener: Opener,
}

impl RecordSide {
    fn new(suite: SuiteId) -> Result<Self, BoxError> {
        let secret = traffic_secret()?;
        Ok(RecordSide { sealer: Sealer::new(suite, secret.clone())?, opener: Opener::new(suite, secret)? })
    }
}

impl Side for RecordSide {
    fn prepare(&mut self, buf: &mut Vec<u8>) {
        // Headroom + payload, exactly what a caller hands `seal_in_place`.
        buf.truncate(PAYLOAD_OFFSET + PAYLOAD);
    }

    /// Leaves the record in `buf` (and, every 16 GiB for the AES suites, a
    /// KeyUpdate record after it).
    fn seal(&mut self, buf: &mut Vec<u8>) {
        self.sealer.seal_in_place(ContentType::Data, buf, 0).expect("seal");
    }

    /// Decrypts everything back in place: `buf[PAYLOAD_OFFSET..]` is plaintext again.
    fn open(&mut self, buf: &mut Vec<u8>) {
        let mut at = 0;
        while at < buf.len() {
            let (opened, used) = self.opener.open_in_place(&mut buf[at..]).expect("open").expect("whole record");
            match opened {
                Opened::Data(payload) => assert_eq!(black_box(payload).len(), PAYLOAD),
                Opened::KeyUpdate => {}
                other => panic!("unexpected record {other:?}"),
            }
            at += used;
        }
    }
}

/// What "raw" means per suite: the provider calls the suite is built from,
/// keyed once, over the same bytes the record AEAD covers (type byte +
/// payload at `buf[FRAME_HEADER_LEN..]`, same address and alignment), with
/// the 4 length bytes as AAD where the primitive takes AAD.
#[allow(clippy::large_enum_variant)] // one value per suite, built once
enum Raw {
    /// aws-lc-rs `LessSafeKey::seal_in_place_separate_tag` / `open_in_place`.
    Aead(LessSafeKey),
    /// `eax` crate `Eax<Aes256>::encrypt_in_place_detached` / `decrypt_in_place_detached`, keyed once.
    Eax(Box<Eax<Aes256>>),
    /// aws-lc-rs unpadded AES-256-CBC + `hmac::sign` over the ciphertext
    /// (open: `hmac::sign` + constant-time compare + CBC decrypt), on the
    /// padded length the suite encrypts (1 MiB + 16).
    CbcHmac { enc: EncryptingKey, dec: DecryptingKey, mac: hmac::Key },
    /// One `hmac::sign(k_enc, nonce ‖ u64be(i))` per 32-byte keystream block,
    /// XORed in, + one `hmac::sign(k_mac, ciphertext)`: the construction as
    /// written, which the suite beats (issue 14, docs/PERFORMANCE.md).
    HmacCtr { enc: hmac::Key, mac: hmac::Key },
}

fn raw_description(suite: SuiteId) -> &'static str {
    match suite {
        SuiteId::Aes256Gcm => "aws-lc-rs LessSafeKey(AES_256_GCM) seal_in_place_separate_tag / open_in_place",
        SuiteId::ChaCha20Poly1305 => {
            "aws-lc-rs LessSafeKey(CHACHA20_POLY1305) seal_in_place_separate_tag / open_in_place"
        }
        SuiteId::Aes256CbcHmacSha256 => {
            "aws-lc-rs AES-256-CBC (unpadded, 1 MiB+16) + hmac::sign(HMAC_SHA256) over the ciphertext; open = sign + verify + CBC decrypt"
        }
        SuiteId::Aes256Eax => "eax 0.5 Eax<Aes256> (keyed once) encrypt_in_place_detached / decrypt_in_place_detached",
        SuiteId::HmacSha256Ctr => {
            "aws-lc-rs hmac::sign(k_enc, nonce||ctr) per 32-byte keystream block XORed in + hmac::sign(k_mac, ciphertext) (the construction as written; the suite computes the same bytes from precomputed midstates, 2x faster: examples/keyed_hash_bench)"
        }
    }
}

impl Raw {
    fn new(suite: SuiteId) -> Result<Self, BoxError> {
        let key = [0x42u8; 64];
        let unspecified = |_| "aws-lc-rs key setup failed";
        Ok(match suite {
            SuiteId::Aes256Gcm => {
                Raw::Aead(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key[..32]).map_err(unspecified)?))
            }
            SuiteId::ChaCha20Poly1305 => {
                Raw::Aead(LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key[..32]).map_err(unspecified)?))
            }
            SuiteId::Aes256Eax => Raw::Eax(Box::new(Eax::<Aes256>::new_from_slice(&key[..32]).map_err(|_| "eax key")?)),
            SuiteId::Aes256CbcHmacSha256 => Raw::CbcHmac {
                enc: EncryptingKey::cbc(UnboundCipherKey::new(&AES_256, &key[..32]).map_err(unspecified)?)
                    .map_err(unspecified)?,
                dec: DecryptingKey::cbc(UnboundCipherKey::new(&AES_256, &key[..32]).map_err(unspecified)?)
                    .map_err(unspecified)?,
                mac: hmac::Key::new(hmac::HMAC_SHA256, &key[32..]),
            },
            SuiteId::HmacSha256Ctr => Raw::HmacCtr {
                enc: hmac::Key::new(hmac::HMAC_SHA256, &key[..32]),
                mac: hmac::Key::new(hmac::HMAC_SHA256, &key[32..]),
            },
        })
    }

    /// Bytes of `region` the primitive works on, starting at `region[0]`,
    /// and the tag length after them.
    fn layout(&self) -> (usize, usize) {
        match self {
            Raw::Aead(_) | Raw::Eax(_) => (PLAINTEXT, 16),
            Raw::CbcHmac { .. } => ((PLAINTEXT / 16 + 1) * 16, 32),
            Raw::HmacCtr { .. } => (PLAINTEXT, 32),
        }
    }

    fn seal(&self, seq: u64, aad: &[u8; 4], region: &mut [u8]) {
        let (len, tag_len) = self.layout();
        let (data, rest) = region.split_at_mut(len);
        let tag_out = &mut rest[..tag_len];
        let nonce = nonce12(seq);
        match self {
            Raw::Aead(key) => {
                let tag = key
                    .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), data)
                    .expect("raw seal");
                tag_out.copy_from_slice(tag.as_ref());
            }
            Raw::Eax(eax) => {
                let tag = eax.encrypt_in_place_detached(&nonce16(nonce), aad, data).expect("raw eax seal");
                tag_out.copy_from_slice(&tag);
            }
            Raw::CbcHmac { enc, mac, .. } => {
                enc.less_safe_encrypt(data, EncryptionContext::Iv128(FixedLength::from(iv16(nonce)))).expect("raw cbc");
                tag_out.copy_from_slice(hmac::sign(mac, data).as_ref());
            }
            Raw::HmacCtr { enc, mac } => {
                hmac_keystream(enc, &nonce, data);
                tag_out.copy_from_slice(hmac::sign(mac, data).as_ref());
            }
        }
    }

    fn open(&self, seq: u64, aad: &[u8; 4], region: &mut [u8]) {
        let (len, tag_len) = self.layout();
        let nonce = nonce12(seq);
        match self {
            Raw::Aead(key) => {
                let plaintext = key
                    .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut region[..len + tag_len])
                    .expect("raw open");
                black_box(plaintext);
            }
            Raw::Eax(eax) => {
                let (data, rest) = region.split_at_mut(len);
                let tag: [u8; 16] = rest[..16].try_into().expect("16-byte tag");
                eax.decrypt_in_place_detached(&nonce16(nonce), aad, data, &GenericArray::from(tag))
                    .expect("raw eax open");
            }
            Raw::CbcHmac { dec, mac, .. } => {
                let (data, rest) = region.split_at_mut(len);
                verify_slices_are_equal(hmac::sign(mac, data).as_ref(), &rest[..tag_len]).expect("raw cbc tag");
                dec.decrypt(data, DecryptionContext::Iv128(FixedLength::from(iv16(nonce)))).expect("raw cbc decrypt");
            }
            Raw::HmacCtr { enc, mac } => {
                let (data, rest) = region.split_at_mut(len);
                verify_slices_are_equal(hmac::sign(mac, data).as_ref(), &rest[..tag_len]).expect("raw ctr tag");
                hmac_keystream(enc, &nonce, data);
            }
        }
    }
}

/// The raw primitive on `buf[offset..]`, a fresh nonce per round trip.
struct RawSide<'a> {
    raw: &'a Raw,
    offset: usize,
    seq: u64,
}

impl<'a> RawSide<'a> {
    fn new(raw: &'a Raw, offset: usize) -> Self {
        RawSide { raw, offset, seq: 0 }
    }

    fn len(&self) -> usize {
        let (data, tag) = self.raw.layout();
        self.offset + data + tag
    }
}

/// The record's AAD: its length bytes.
const RAW_AAD: [u8; 4] = (PLAINTEXT as u32 + 16).to_be_bytes();

impl Side for RawSide<'_> {
    fn prepare(&mut self, buf: &mut Vec<u8>) {
        // Same bytes as the record: the payload stays where it is; the
        // buffer only needs room for the tag (the record layer grows the
        // Vec itself, the raw primitive takes a slice).
        if buf.len() < self.len() {
            buf.resize(self.len(), 0);
        }
    }

    fn seal(&mut self, buf: &mut Vec<u8>) {
        self.raw.seal(self.seq, &RAW_AAD, &mut buf[self.offset..]);
    }

    fn open(&mut self, buf: &mut Vec<u8>) {
        self.raw.open(self.seq, &RAW_AAD, &mut buf[self.offset..]);
        self.seq += 1;
    }
}

fn nonce12(seq: u64) -> [u8; 12] {
    let mut nonce = [0x17u8; 12];
    for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
        *n ^= s;
    }
    nonce
}

fn nonce16(nonce: [u8; 12]) -> GenericArray<u8, eax::aead::consts::U16> {
    let mut padded = [0u8; 16];
    padded[..12].copy_from_slice(&nonce);
    GenericArray::from(padded)
}

/// CBC IV: the nonce zero-padded (the suite's extra one-block ECB to derive it is not part of "raw").
fn iv16(nonce: [u8; 12]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..12].copy_from_slice(&nonce);
    iv
}

fn hmac_keystream(key: &hmac::Key, nonce: &[u8; 12], data: &mut [u8]) {
    let mut input = [0u8; 20];
    input[..12].copy_from_slice(nonce);
    for (counter, chunk) in (0u64..).zip(data.chunks_mut(32)) {
        input[12..].copy_from_slice(&counter.to_be_bytes());
        let block = hmac::sign(key, &input);
        for (byte, k) in chunk.iter_mut().zip(block.as_ref()) {
            *byte ^= k;
        }
    }
}

fn machine_info() {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|line| line.split(':').next().is_some_and(|key| key.trim() == name))
            .and_then(|line| line.split_once(':'))
            .map(|(_, value)| value.trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    let flags = field("flags");
    let flags: Vec<&str> = flags.split_whitespace().collect();
    let has = |flag: &str| if flags.contains(&flag) { "yes" } else { "no" };
    let cpus = cpuinfo.lines().filter(|line| line.starts_with("processor")).count();
    println!(
        "cpu: {} (family {}, model {}, stepping {}), {} logical CPUs",
        field("model name"),
        field("cpu family"),
        field("model"),
        field("stepping"),
        cpus
    );
    println!(
        "flags: aes={} pclmulqdq={} avx2={} vaes={} vpclmulqdq={} avx512f={} sha_ni={}",
        has("aes"),
        has("pclmulqdq"),
        has("avx2"),
        has("vaes"),
        has("vpclmulqdq"),
        has("avx512f"),
        has("sha_ni")
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("loadavg at start: {}", load.trim());
    }
    if cfg!(debug_assertions) {
        println!("WARNING: debug build; numbers are meaningless. Use --release.");
    }
}

struct Row {
    suite: SuiteId,
    record_seal: f64,
    raw_seal: f64,
    seal_overhead: f64,
    record_open: f64,
    raw_open: f64,
    open_overhead: f64,
}

/// Extra time per byte of `record` over `raw`, in percent.
fn overhead(raw: f64, record: f64) -> f64 {
    (raw / record - 1.0) * 100.0
}

#[derive(Default)]
struct Series {
    record_seal: Vec<f64>,
    record_open: Vec<f64>,
    raw_seal: Vec<f64>,
    raw_open: Vec<f64>,
    seal_overhead: Vec<f64>,
    open_overhead: Vec<f64>,
}

impl Series {
    fn push(&mut self, record: &Tally, raw: &Tally) {
        self.record_seal.push(record.seal_gbps());
        self.record_open.push(record.open_gbps());
        self.raw_seal.push(raw.seal_gbps());
        self.raw_open.push(raw.open_gbps());
        self.seal_overhead.push(overhead(raw.seal_gbps(), record.seal_gbps()));
        self.open_overhead.push(overhead(raw.open_gbps(), record.open_gbps()));
    }
}

fn spread(values: &[f64]) -> String {
    let (lo, hi) = values.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    format!("{lo:.3}..{hi:.3}")
}

fn main() -> Result<(), BoxError> {
    let options = parse_args()?;
    let budget = Duration::from_secs_f64(options.seconds);
    println!("sxfer-proto record_bench: 1 MiB records, seal and open in place, single thread");
    machine_info();
    println!(
        "each figure: median of {} runs; a run pairs record and raw round trips until each side has ~{:.1} s \
         of seal + open time; {} ms warm-up first; GB/s = 10^9 payload bytes/s",
        options.runs,
        options.seconds,
        WARMUP.as_millis()
    );
    println!("overhead = raw GB/s / record GB/s - 1 within each run, median over runs");
    println!("raw = the suite's provider primitive(s) on the same buffer, bytes and address as the record body:");
    for &suite in &options.suites {
        println!("  {:<24} {}", suite.name(), raw_description(suite));
    }
    println!();

    let mut rows = Vec::new();
    for &suite in &options.suites {
        let mut buf = record_buffer();
        let reference = buf[PAYLOAD_OFFSET..].to_vec();
        let mut record = RecordSide::new(suite)?;
        let raw = Raw::new(suite)?;
        // The record body (type byte + payload) starts after the length.
        let mut raw_side = RawSide::new(&raw, FRAME_HEADER_LEN);
        let body_align = (buf.as_ptr() as usize + FRAME_HEADER_LEN) % 64;

        run_paired(WARMUP, &mut buf, [&mut record, &mut raw_side]);
        let mut series = Series::default();
        for i in 0..options.runs {
            let [rec, raw] = run_paired(budget, &mut buf, [&mut record, &mut raw_side]);
            assert!(buf[PAYLOAD_OFFSET..PAYLOAD_OFFSET + PAYLOAD] == reference[..], "round trip lost the plaintext");
            if options.verbose {
                println!(
                    "  {} run {i}: record seal {:.3} open {:.3} | raw seal {:.3} open {:.3} GB/s | {} records each",
                    suite.name(),
                    rec.seal_gbps(),
                    rec.open_gbps(),
                    raw.seal_gbps(),
                    raw.open_gbps(),
                    rec.bytes / PAYLOAD as u64
                );
            }
            series.push(&rec, &raw);
        }
        println!(
            "{:<24} body at addr%64={body_align:<2} runs: record seal {} open {} | raw seal {} open {} GB/s",
            suite.name(),
            spread(&series.record_seal),
            spread(&series.record_open),
            spread(&series.raw_seal),
            spread(&series.raw_open)
        );
        rows.push(Row {
            suite,
            record_seal: median(series.record_seal),
            raw_seal: median(series.raw_seal),
            seal_overhead: median(series.seal_overhead),
            record_open: median(series.record_open),
            raw_open: median(series.raw_open),
            open_overhead: median(series.open_overhead),
        });
    }

    println!();
    println!(
        "| {:<23} | {:>11} | {:>10} | {:>8} | {:>11} | {:>10} | {:>8} |",
        "suite", "record seal", "raw seal", "seal ovh", "record open", "raw open", "open ovh"
    );
    println!("|{:-<25}|{:->13}|{:->12}|{:->10}|{:->13}|{:->12}|{:->10}|", ":", ":", ":", ":", ":", ":", ":");
    for row in &rows {
        println!(
            "| {:<23} | {:>6.3} GB/s | {:>5.3} GB/s | {:>+7.1}% | {:>6.3} GB/s | {:>5.3} GB/s | {:>+7.1}% |",
            row.suite.name(),
            row.record_seal,
            row.raw_seal,
            row.seal_overhead,
            row.record_open,
            row.raw_open,
            row.open_overhead,
        );
    }
    println!();
    for row in &rows {
        println!(
            "result\t{}\t{:.4}\t{:.4}\t{:.4}\t{:.4}\t{:.2}\t{:.2}",
            row.suite.name(),
            row.record_seal,
            row.raw_seal,
            row.record_open,
            row.raw_open,
            row.seal_overhead,
            row.open_overhead
        );
    }

    if options.alignment {
        alignment_check(&options, budget)?;
    }
    Ok(())
}

/// Does the record body's address (4 bytes into the allocation) slow the
/// primitive down compared with a 64-byte-aligned buffer? Raw only, paired.
fn alignment_check(options: &Options, budget: Duration) -> Result<(), BoxError> {
    println!();
    println!("alignment: raw primitive 64-byte aligned vs. at addr%64 = 20, where a record body lands in a fresh");
    println!("1 MiB Vec from glibc (mmap chunk + 16, + 4 length bytes); seal / open GB/s, medians, paired");
    for &suite in &options.suites {
        let raw = Raw::new(suite)?;
        let mut buf = vec![0u8; FRAME_HEADER_LEN + PLAINTEXT + 64 + 128];
        let aligned = buf.as_ptr().align_offset(64);
        let mut aligned_side = RawSide::new(&raw, aligned);
        let mut unaligned_side = RawSide::new(&raw, aligned + 20);
        run_paired(WARMUP, &mut buf, [&mut aligned_side, &mut unaligned_side]);
        let mut series = Series::default();
        for _ in 0..options.runs {
            let [a, u] = run_paired(budget, &mut buf, [&mut aligned_side, &mut unaligned_side]);
            // "record" = unaligned, "raw" = aligned: overhead = cost of misalignment.
            series.push(&u, &a);
        }
        println!(
            "  {:<24} aligned {:.3} / {:.3}   addr%64=20 {:.3} / {:.3}   misalignment cost {:+.1}% / {:+.1}%",
            suite.name(),
            median(series.raw_seal),
            median(series.raw_open),
            median(series.record_seal),
            median(series.record_open),
            median(series.seal_overhead),
            median(series.open_overhead)
        );
    }
    Ok(())
}
