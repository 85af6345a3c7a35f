//! A TCP fault proxy: stands between a client and a server on
//! 127.0.0.1:0, forwards bytes both ways, records them, and at chosen
//! byte offsets cuts the connection, stalls it, corrupts a byte or calls
//! back into the test.
//!
//! Offsets count the bytes the proxy has forwarded in one direction, over
//! all its connections, in the order it forwarded them (the tests make one
//! connection at a time). A fault at offset `N` takes effect when exactly
//! `N` bytes have passed that way and byte `N` is about to: a cut sends
//! the first `N` bytes and closes; a corruption inverts byte `N`; a stall
//! or a callback holds byte `N` (and everything after it that way) until
//! it is released or returns. Each fault happens once. A fault at or past
//! the end of the stream never happens: [`Stall::wait_reached`] and the
//! test's own channels tell whether it did. The recording holds the bytes
//! as they were delivered (a corrupted byte corrupted).
//!
//! Plain threads and blocking sockets: one thread accepts, two forward
//! each connection.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which way bytes go through the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Client to server (an upload's data).
    Up,
    /// Server to client (a download's data).
    Down,
}

/// What happens at an offset.
pub enum Fault {
    /// Close the connection, both sockets, both ways.
    Cut,
    /// Invert every bit of the byte at the offset.
    Corrupt,
    /// Hold the bytes until the test releases them (see [`Fault::stall`]).
    Stall { reached: mpsc::Sender<()>, release: mpsc::Receiver<()> },
    /// Hold the bytes for this long, then go on.
    Pause(Duration),
    /// Run this on the forwarding thread; the bytes wait until it returns.
    Call(Box<dyn FnOnce() + Send>),
}

impl Fault {
    /// A stall and the test's handle on it.
    pub fn stall() -> (Fault, Stall) {
        let (reached_tx, reached) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        (Fault::Stall { reached: reached_tx, release: release_rx }, Stall { reached, release })
    }

    pub fn call(f: impl FnOnce() + Send + 'static) -> Fault {
        Fault::Call(Box::new(f))
    }
}

/// The test's side of a [`Fault::Stall`]. Dropping it releases the stall.
pub struct Stall {
    reached: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

impl Stall {
    /// Waits (at most `within`) until the proxy holds the stalled bytes.
    pub fn wait_reached(&self, within: Duration) {
        self.reached.recv_timeout(within).unwrap_or_else(|e| panic!("the stall was not reached in {within:?}: {e}"));
    }

    /// Lets the held bytes go.
    pub fn release(self) {
        self.release.send(()).ok();
    }
}

/// The faults of a proxy, by direction and offset.
#[derive(Default)]
pub struct Plan {
    faults: Vec<(Dir, u64, Fault)>,
}

impl Plan {
    pub fn at(mut self, dir: Dir, offset: u64, fault: Fault) -> Plan {
        self.faults.push((dir, offset, fault));
        self
    }

    pub fn up(self, offset: u64, fault: Fault) -> Plan {
        self.at(Dir::Up, offset, fault)
    }

    pub fn down(self, offset: u64, fault: Fault) -> Plan {
        self.at(Dir::Down, offset, fault)
    }
}

/// One direction's count, faults still to come (sorted by offset) and
/// recording.
#[derive(Default)]
struct Way {
    forwarded: u64,
    faults: Vec<(u64, Fault)>,
    recording: Vec<u8>,
}

struct Shared {
    up: Mutex<Way>,
    down: Mutex<Way>,
    stopped: AtomicBool,
}

impl Shared {
    fn way(&self, dir: Dir) -> &Mutex<Way> {
        match dir {
            Dir::Up => &self.up,
            Dir::Down => &self.down,
        }
    }
}

/// A running proxy; dropping it stops accepting (connections already
/// made go on until they end).
pub struct FaultProxy {
    pub address: SocketAddr,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// A proxy that only forwards and records.
    pub fn recording(upstream: impl Into<String>) -> FaultProxy {
        FaultProxy::start(upstream, Plan::default())
    }

    pub fn start(upstream: impl Into<String>, plan: Plan) -> FaultProxy {
        let (mut up, mut down) = (Way::default(), Way::default());
        for (dir, offset, fault) in plan.faults {
            let way = if dir == Dir::Up { &mut up } else { &mut down };
            way.faults.push((offset, fault));
        }
        for way in [&mut up, &mut down] {
            way.faults.sort_by_key(|(offset, _)| *offset);
        }
        let shared = Arc::new(Shared { up: Mutex::new(up), down: Mutex::new(down), stopped: AtomicBool::new(false) });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let (upstream, accepting) = (upstream.into(), shared.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                if accepting.stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                let pair = Pair { client, server };
                for dir in [Dir::Up, Dir::Down] {
                    let (pair, shared) = (pair.try_clone(), accepting.clone());
                    std::thread::spawn(move || forward(&pair, dir, &shared));
                }
            }
        });
        FaultProxy { address, shared }
    }

    /// `127.0.0.1:PORT`, for command lines.
    pub fn addr(&self) -> String {
        self.address.to_string()
    }

    /// Every byte forwarded `dir` so far.
    pub fn recorded(&self, dir: Dir) -> Vec<u8> {
        self.shared.way(dir).lock().unwrap().recording.clone()
    }

    /// How many bytes have been forwarded `dir` so far.
    pub fn forwarded(&self, dir: Dir) -> u64 {
        self.shared.way(dir).lock().unwrap().forwarded
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        TcpStream::connect(self.address).ok(); // wakes the accepting thread
    }
}

/// The two sockets of one proxied connection.
struct Pair {
    client: TcpStream,
    server: TcpStream,
}

impl Pair {
    fn try_clone(&self) -> Pair {
        Pair { client: self.client.try_clone().unwrap(), server: self.server.try_clone().unwrap() }
    }

    fn cut(&self) {
        self.client.shutdown(Shutdown::Both).ok();
        self.server.shutdown(Shutdown::Both).ok();
    }
}

/// Copies `dir`'s bytes of `pair` until either end closes, applying the
/// faults on the way.
fn forward(pair: &Pair, dir: Dir, shared: &Shared) {
    let (mut from, mut to) = match dir {
        Dir::Up => (&pair.client, &pair.server),
        Dir::Down => (&pair.server, &pair.client),
    };
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => {
                to.shutdown(Shutdown::Write).ok();
                return;
            }
            Ok(n) => n,
            Err(_) => return pair.cut(),
        };
        let mut chunk = &mut buf[..n];
        while !chunk.is_empty() {
            // Under the lock: how much passes before the next fault, and
            // the fault if it falls in this chunk.
            let (pass, fault) = {
                let mut way = shared.way(dir).lock().unwrap();
                let end = way.forwarded + chunk.len() as u64;
                let due = way.faults.first().is_some_and(|(at, _)| *at < end);
                let fault = due.then(|| way.faults.remove(0));
                let pass = fault.as_ref().map_or(chunk.len(), |(at, _)| at.saturating_sub(way.forwarded) as usize);
                way.forwarded += pass as u64;
                way.recording.extend_from_slice(&chunk[..pass]);
                (pass, fault.map(|(_, fault)| fault))
            };
            if to.write_all(&chunk[..pass]).is_err() {
                return pair.cut();
            }
            chunk = &mut chunk[pass..];
            match fault {
                None => {}
                Some(Fault::Cut) => return pair.cut(),
                Some(Fault::Corrupt) => chunk[0] ^= 0xff,
                Some(Fault::Stall { reached, release }) => {
                    reached.send(()).ok();
                    release.recv().ok();
                }
                Some(Fault::Pause(duration)) => std::thread::sleep(duration),
                Some(Fault::Call(f)) => f(),
            }
        }
    }
}
