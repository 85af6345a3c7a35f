//! A userspace TCP delay proxy for `bench/transfer.sh` (this machine's
//! kernel has no netem).
//!
//! ```text
//! cargo run --release -p sxfer --example delay_proxy -- \
//!     --to 127.0.0.1:PORT [--listen 127.0.0.1:0] [--delay-ms D] [--queue-mib M]
//! ```
//!
//! Every accepted connection is forwarded to `--to`; bytes in each
//! direction reach the other side `D` ms after the proxy read them (so the
//! round trip gains 2·D). Each direction is a timestamped queue: a reader
//! keeps reading and stamps every chunk with its due time, a writer sends
//! each chunk when it is due. The delay therefore adds latency without
//! serialising the stream: throughput is not capped, as long as what is in
//! flight fits the queue (`--queue-mib`, default 256 MiB per direction,
//! i.e. 3.2 GiB/s at 40 ms). When the queue is full the reader stops, and
//! TCP's flow control pushes back on the sender, like a full link buffer.
//!
//! The proxy terminates TCP on both sides, so kernel windows and congestion
//! control see loopback, not the delay: what the delay exposes is the
//! applications' own round trips and windows. Connecting costs no delayed
//! round trip either (the proxy accepts at once); the first bytes do.
//!
//! A half-close is forwarded (after the delay, like data); a reset or
//! error on either side closes both. Due times use tokio's timer (1 ms
//! resolution: a chunk is late by at most ~1 ms, never early).
//!
//! Prints `delay_proxy listening on ADDR` once on stdout, then runs until
//! killed.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

type BoxError = Box<dyn std::error::Error>;

/// Largest read, and the size of every pooled buffer.
const CHUNK: usize = 64 << 10;

struct Options {
    listen: SocketAddr,
    to: SocketAddr,
    delay: Duration,
    queue_bytes: usize,
}

fn parse_args() -> Result<Options, BoxError> {
    let mut listen: SocketAddr = "127.0.0.1:0".parse()?;
    let mut to = None;
    let mut delay = Duration::ZERO;
    let mut queue_mib: usize = 256;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => listen = value()?.parse()?,
            "--to" => to = Some(value()?.parse()?),
            "--delay-ms" => delay = Duration::from_secs_f64(value()?.parse::<f64>()? / 1e3),
            "--queue-mib" => queue_mib = value()?.parse()?,
            "-h" | "--help" => {
                println!("delay_proxy --to ADDR [--listen ADDR] [--delay-ms D] [--queue-mib M]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let to = to.ok_or("--to ADDR is required")?;
    if queue_mib == 0 {
        return Err("--queue-mib must be positive".into());
    }
    Ok(Options { listen, to, delay, queue_bytes: queue_mib << 20 })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = serve().await {
        eprintln!("delay_proxy: error: {e}");
        std::process::exit(1);
    }
}

async fn serve() -> Result<(), BoxError> {
    let options = parse_args()?;
    let listener = TcpListener::bind(options.listen).await?;
    println!("delay_proxy listening on {}", listener.local_addr()?);
    std::io::Write::flush(&mut std::io::stdout())?;
    loop {
        let (client, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, say: keep serving the connections we have.
                eprintln!("delay_proxy: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let (to, delay, queue_bytes) = (options.to, options.delay, options.queue_bytes);
        tokio::spawn(async move {
            if let Err(e) = forward(client, to, delay, queue_bytes).await {
                if !quiet(&e) {
                    eprintln!("delay_proxy: connection ended: {e}");
                }
            }
        });
    }
}

/// Resets and broken pipes are how benchmark clients often end.
fn quiet(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    matches!(e.kind(), BrokenPipe | ConnectionReset | ConnectionAborted)
}

async fn forward(client: TcpStream, to: SocketAddr, delay: Duration, queue_bytes: usize) -> std::io::Result<()> {
    let server = TcpStream::connect(to).await?;
    // The proxy must not add Nagle's (or delayed-ACK) waits of its own.
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Either direction failing ends both (dropping the other's future).
    tokio::try_join!(
        direction(client_read, server_write, delay, queue_bytes),
        direction(server_read, client_write, delay, queue_bytes),
    )?;
    Ok(())
}

/// A chunk read at some instant, due at `due`; `None` is the half-close.
struct Due {
    due: Instant,
    chunk: Option<(Vec<u8>, usize)>,
}

/// One direction: read and stamp, and (concurrently) write when due.
async fn direction(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    delay: Duration,
    queue_bytes: usize,
) -> std::io::Result<()> {
    let queued = Semaphore::new(queue_bytes);
    // Spent buffers go back to the reader (a mutex only for `Send`: never contended).
    let pool: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
    let spare = || pool.lock().ok().and_then(|mut p| p.pop());
    let (tx, mut rx) = mpsc::unbounded_channel::<Due>();
    let closed = || std::io::Error::other("queue closed");

    let reader = async {
        loop {
            // Room for a whole chunk first; what the read leaves unused goes back.
            queued.acquire_many(CHUNK as u32).await.map_err(|_| closed())?.forget();
            let mut buf = spare().unwrap_or_else(|| vec![0; CHUNK]);
            let read = from.read(&mut buf).await?;
            queued.add_permits(CHUNK - read);
            let due = Instant::now() + delay;
            let chunk = (read > 0).then_some((buf, read));
            let end = chunk.is_none();
            tx.send(Due { due, chunk }).map_err(|_| closed())?;
            if end {
                return Ok::<(), std::io::Error>(());
            }
        }
    };
    let writer = async {
        while let Some(Due { due, chunk }) = rx.recv().await {
            if Instant::now() < due {
                tokio::time::sleep_until(due).await;
            }
            match chunk {
                Some((buf, len)) => {
                    to.write_all(&buf[..len]).await?;
                    queued.add_permits(len);
                    if let Ok(mut pool) = pool.lock() {
                        pool.push(buf);
                    }
                }
                None => {
                    to.shutdown().await?;
                    return Ok(());
                }
            }
        }
        Err(closed())
    };
    tokio::try_join!(reader, writer)?;
    Ok(())
}
