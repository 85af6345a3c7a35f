//! kill -9 of `sxfer serve` at random points of a mixed `upload -r`: the
//! upload goes through the fault proxy, which kills the server when the
//! chosen number of bytes has gone up; after each restart on the same data
//! directory every visible file must be whole (listed size and BLAKE3 the
//! source's, and a download byte-identical).
//!
//! Every fourth trial then runs the upload again, which must complete.
//!
//! The offsets come from a seeded generator; the seed is printed, and
//! `SXFER_CRASH_SEED=N` repeats a run.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::cli::{serve, setup, sxfer, Served};
use crate::common::faults::{Dir, Fault, FaultProxy, Plan};
use crate::common::peer::json_field;
use crate::common::random_bytes;

const TRIALS: usize = 20;

/// `tree/...` under `root`: many small files and two of 1.5 and 2.5 MiB
/// (pipelined), and one of 4.5 MiB, above the 4 MiB bound (sent alone,
/// resumable).
/// Returns each file's path relative to `root` and its bytes.
fn make_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for i in 0..40u64 {
        let len = (i as usize * 7919) % (32 << 10);
        files.insert(format!("tree/d{}/small-{i:02}", i % 4), random_bytes(len, i + 100));
    }
    for (name, len) in [("tree/1.5m.bin", 3 << 19), ("tree/2.5m.bin", (5 << 19) + 5), ("tree/big/4.5m.bin", 9 << 19)] {
        files.insert(name.to_owned(), random_bytes(len, len as u64));
    }
    for (name, bytes) in &files {
        let path = root.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }
    files
}

/// xorshift64*, enough to spread offsets.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
    }
}

fn seed() -> u64 {
    match std::env::var("SXFER_CRASH_SEED") {
        Ok(seed) => seed.parse().expect("SXFER_CRASH_SEED is a number"),
        Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1,
    }
}

/// Checks every file the server shows under `prefix/`: its listed size and
/// BLAKE3 are those of the source, and `download -r` brings it back
/// byte-identical. Returns how many there are.
fn verify_visible(server: &Served, home: &Path, prefix: &str, files: &BTreeMap<String, Vec<u8>>, dest: &Path) -> usize {
    let (port, pin) = (server.port, server.fingerprint.as_str());
    let out = sxfer(home, &["ls", &format!("alice@127.0.0.1:{port}"), "--json", "--fingerprint", pin]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listing = String::from_utf8(out.stdout).unwrap();
    let mut visible = Vec::new();
    for line in listing.lines() {
        let name = json_field(line, "name").unwrap_or_else(|| panic!("no name in {line}"));
        let Some(relative) = name.strip_prefix(&format!("{prefix}/")) else { continue };
        let source = files.get(relative).unwrap_or_else(|| panic!("{name} is no file that was sent"));
        let size = line.split("\"size\":").nth(1).and_then(|s| s.split(',').next()).unwrap();
        assert_eq!(size.parse::<usize>().unwrap(), source.len(), "{name}: truncated or grown");
        let digest = json_field(line, "blake3").unwrap();
        assert_eq!(digest, blake3::hash(source).to_hex().as_str(), "{name}: other bytes");
        visible.push(name);
    }
    if visible.is_empty() {
        return 0;
    }
    let remote = format!("alice@127.0.0.1:{port}:{prefix}");
    let out = sxfer(home, &["download", "-r", &remote, dest.to_str().unwrap(), "--fingerprint", pin]);
    assert!(out.status.success(), "every visible file downloads: {}", String::from_utf8_lossy(&out.stderr));
    for name in &visible {
        let got = fs::read(dest.join(name)).unwrap();
        assert!(got == files[&name[prefix.len() + 1..]], "{name}: the download differs");
    }
    visible.len()
}

#[test]
fn kill_dash_nine_at_random_points_of_a_mixed_upload_leaves_only_whole_files() {
    let started = Instant::now();
    let seed = seed();
    eprintln!("crash test seed {seed} (SXFER_CRASH_SEED={seed} repeats it)");
    let mut rng = Rng(seed);
    let (dir, data, home) = setup();
    let files = make_tree(dir.path());
    let tree = dir.path().join("tree");
    let tree = tree.to_str().unwrap();
    let mut server = serve(&data);
    let fingerprint = server.fingerprint.clone(); // the same key after every restart
    let upload = |port: u16, prefix: &str| {
        let target = format!("alice@127.0.0.1:{port}:{prefix}/");
        sxfer(&home, &["upload", "-r", tree, &target, "--fingerprint", &fingerprint])
    };

    // A clean run through the proxy: how many bytes a whole upload sends.
    let proxy = FaultProxy::recording(format!("127.0.0.1:{}", server.port));
    let out = upload(proxy.address.port(), "t00");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let total = proxy.forwarded(Dir::Up);
    let dest = dir.path().join("dest");
    assert_eq!(verify_visible(&server, &home, "t00", &files, &dest), files.len());

    let mut failed_uploads = 0;
    for trial in 1..=TRIALS {
        let offset = rng.below(total);
        let prefix = format!("t{trial:02}");
        let (killed, fired) = mpsc::channel();
        let upstream = format!("127.0.0.1:{}", server.port);
        let victim = server; // kill -9 and wait, in the proxy's callback
        let kill = Fault::call(move || {
            drop(victim);
            killed.send(()).ok();
        });
        let proxy = FaultProxy::start(upstream, Plan::default().up(offset, kill));
        let out = upload(proxy.address.port(), &prefix);
        fired
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("seed {seed} trial {trial}: no kill at byte {offset} of {total}: {e}"));
        failed_uploads += usize::from(!out.status.success());
        server = serve(&data);
        let visible = verify_visible(&server, &home, &prefix, &files, &dest);
        if trial % 4 == 0 {
            // Run again (directly), the upload completes: all files whole.
            let out = upload(server.port, &prefix);
            assert!(out.status.success(), "seed {seed} trial {trial}: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(verify_visible(&server, &home, &prefix, &files, &dir.path().join("rerun")), files.len());
        }
        eprintln!("trial {trial}: killed at byte {offset} of {total}, {visible} of {} files visible", files.len());
    }
    // After all the crashes, everything visible is still whole (and the
    // files of the trials run again are all there).
    for trial in 0..=TRIALS {
        let visible = verify_visible(&server, &home, &format!("t{trial:02}"), &files, &dir.path().join("final"));
        assert!(trial % 4 != 0 || visible == files.len(), "seed {seed}: t{trial:02} completed, {visible} files left");
    }
    eprintln!("{TRIALS} kills, {failed_uploads} uploads failed, in {:?}", started.elapsed());
    assert!(failed_uploads > TRIALS / 2, "the kills cut the uploads (seed {seed})");
}
