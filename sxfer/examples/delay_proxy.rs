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
//! killed. `--trace` logs every chunk it reads on stderr (connection,
//! direction, milliseconds since the connection opened, bytes): the
//! flights of a protocol, to count its round trips.
//!
//! `--self-test MIB` measures the proxy alone instead: see [`self_test`].

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
    /// `None` with `--self-test`.
    to: Option<SocketAddr>,
    delay: Duration,
    queue_bytes: usize,
    self_test_mib: Option<usize>,
    trace: bool,
}

/// What one proxy forwards, and how.
#[derive(Clone, Copy)]
struct Link {
    to: SocketAddr,
    delay: Duration,
    queue_bytes: usize,
    /// Log every chunk read (connection, direction, time, size) on stderr.
    trace: bool,
}

fn parse_args() -> Result<Options, BoxError> {
    let mut listen: SocketAddr = "127.0.0.1:0".parse()?;
    let mut to = None;
    let mut delay = Duration::ZERO;
    let mut queue_mib: usize = 256;
    let mut self_test_mib = None;
    let mut trace = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => listen = value()?.parse()?,
            "--to" => to = Some(value()?.parse()?),
            "--delay-ms" => delay = Duration::from_secs_f64(value()?.parse::<f64>()? / 1e3),
            "--queue-mib" => queue_mib = value()?.parse()?,
            "--self-test" => self_test_mib = Some(value()?.parse()?),
            "--trace" => trace = true,
            "-h" | "--help" => {
                println!("delay_proxy --to ADDR [--listen ADDR] [--delay-ms D] [--queue-mib M] [--trace]");
                println!("delay_proxy --self-test MIB [--delay-ms D] [--queue-mib M]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if to.is_none() && self_test_mib.is_none() {
        return Err("--to ADDR is required".into());
    }
    if queue_mib == 0 {
        return Err("--queue-mib must be positive".into());
    }
    Ok(Options { listen, to, delay, queue_bytes: queue_mib << 20, self_test_mib, trace })
}

fn main() {
    let result = parse_args().and_then(|options| match options.self_test_mib {
        Some(mib) => self_test(&options, mib),
        None => runtime()?.block_on(serve(options)),
    });
    if let Err(e) = result {
        eprintln!("delay_proxy: error: {e}");
        std::process::exit(1);
    }
}

/// One thread for the whole proxy: it only moves bytes and waits on timers.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

async fn serve(options: Options) -> Result<(), BoxError> {
    let to = options.to.ok_or("--to ADDR is required")?;
    let listener = TcpListener::bind(options.listen).await?;
    println!("delay_proxy listening on {}", listener.local_addr()?);
    std::io::Write::flush(&mut std::io::stdout())?;
    accept_loop(listener, Link { to, delay: options.delay, queue_bytes: options.queue_bytes, trace: options.trace })
        .await
}

async fn accept_loop(listener: TcpListener, link: Link) -> Result<(), BoxError> {
    for id in 1u64.. {
        let (client, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, say: keep serving the connections we have.
                eprintln!("delay_proxy: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            if let Err(e) = forward(client, link, id).await {
                if !quiet(&e) {
                    eprintln!("delay_proxy: connection ended: {e}");
                }
            }
        });
    }
    Ok(())
}

/// Resets and broken pipes are how benchmark clients often end.
fn quiet(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    matches!(e.kind(), BrokenPipe | ConnectionReset | ConnectionAborted)
}

async fn forward(client: TcpStream, link: Link, id: u64) -> std::io::Result<()> {
    let Link { to, delay, queue_bytes, trace } = link;
    let start = Instant::now();
    let server = TcpStream::connect(to).await?;
    // The proxy must not add Nagle's (or delayed-ACK) waits of its own.
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Either direction failing ends both (dropping the other's future).
    tokio::try_join!(
        direction(client_read, server_write, delay, queue_bytes, trace.then_some((id, "->", start))),
        direction(server_read, client_write, delay, queue_bytes, trace.then_some((id, "<-", start))),
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
    trace: Option<(u64, &str, Instant)>,
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
            let now = Instant::now();
            if let Some((id, arrow, start)) = trace {
                eprintln!("trace {id} {arrow} {:10.3} ms {read:8} bytes", (now - start).as_secs_f64() * 1e3);
            }
            let due = now + delay;
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

/// `--self-test MIB`: the proxy (on its own thread, as when it serves) in
/// front of an echo-and-count server (on this thread). Measures round trips
/// of one byte, then the time to stream MIB MiB through it and hear back
/// the count: the proxy's own cost and precision, without any contender.
fn self_test(options: &Options, mib: usize) -> Result<(), BoxError> {
    let rt = runtime()?;
    let (sink, proxy) = rt.block_on(async {
        Ok::<_, std::io::Error>((TcpListener::bind("127.0.0.1:0").await?, std::net::TcpListener::bind("127.0.0.1:0")?))
    })?;
    let link = Link { to: sink.local_addr()?, delay: options.delay, queue_bytes: options.queue_bytes, trace: false };
    let proxy_addr = proxy.local_addr()?;
    proxy.set_nonblocking(true)?;
    std::thread::spawn(move || {
        let served = runtime()
            .map_err(BoxError::from)
            .and_then(|rt| rt.block_on(async { accept_loop(TcpListener::from_std(proxy)?, link).await }));
        if let Err(e) = served {
            eprintln!("delay_proxy: self-test proxy: {e}");
        }
    });
    rt.block_on(async move {
        tokio::spawn(async move {
            while let Ok((conn, _)) = sink.accept().await {
                tokio::spawn(echo_and_count(conn));
            }
        });
        // Round trips: one byte each way, 50 times, after one to warm up.
        let mut conn = TcpStream::connect(proxy_addr).await?;
        conn.set_nodelay(true)?;
        let mut rtts = Vec::new();
        let mut byte = [0u8; 1];
        for i in 0..51 {
            let t = Instant::now();
            conn.write_all(b"p").await?;
            conn.read_exact(&mut byte).await?;
            if i > 0 {
                rtts.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        drop(conn);
        rtts.sort_by(f64::total_cmp);
        let expected = 2.0 * options.delay.as_secs_f64() * 1e3;
        println!(
            "self-test: delay {:.1} ms one-way: RTT min {:.2} / median {:.2} / max {:.2} ms over {} (2 x delay = {expected:.1} ms)",
            options.delay.as_secs_f64() * 1e3,
            rtts[0],
            rtts[rtts.len() / 2],
            rtts[rtts.len() - 1],
            rtts.len()
        );
        // Throughput: MIB MiB one way, then the sink's count back.
        let mut conn = TcpStream::connect(proxy_addr).await?;
        let block = vec![0x5au8; 1 << 20];
        let t = Instant::now();
        for _ in 0..mib {
            conn.write_all(&block).await?;
        }
        conn.shutdown().await?;
        let mut count = Vec::new();
        conn.read_to_end(&mut count).await?;
        let seconds = t.elapsed().as_secs_f64();
        let received: u64 = String::from_utf8_lossy(&count).trim().parse()?;
        if received != (mib as u64) << 20 {
            return Err(format!("the sink counted {received} bytes, not {}", (mib as u64) << 20).into());
        }
        println!(
            "self-test: streamed {mib} MiB in {seconds:.3} s = {:.0} MiB/s (sender, proxy and sink on this machine)",
            mib as f64 / seconds
        );
        Ok(())
    })
}

/// The self-test's server: a connection that starts with `p` is echoed byte
/// for byte; any other is counted, and the count sent back at its end.
async fn echo_and_count(mut conn: TcpStream) -> std::io::Result<()> {
    conn.set_nodelay(true)?;
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    let mut echo = None;
    loop {
        let read = conn.read(&mut buf).await?;
        if read == 0 {
            break;
        }
        if *echo.get_or_insert(buf[0] == b'p') {
            conn.write_all(&buf[..read]).await?;
        }
        total += read as u64;
    }
    conn.write_all(total.to_string().as_bytes()).await?;
    conn.shutdown().await
}
