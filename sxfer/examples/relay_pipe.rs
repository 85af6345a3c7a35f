//! Load for `bench/relay.sh`: pair two clients through a server's relay
//! and push MIB MiB from the creator to the joiner, or the same bytes over
//! one plain loopback TCP connection (`direct`) for comparison.
//!
//! ```text
//! SXFER_HOME=... SXFER_PASSWORD=... \
//!   relay_pipe USER@127.0.0.1:PORT SHA256:FINGERPRINT MIB   # through the relay
//! relay_pipe direct MIB                                     # plain TCP
//! ```
//!
//! Prints one line: `MIB MiB in SECONDS s`, timed from the first byte
//! written to the last byte read (pairing excluded). The payload is a 1 MiB
//! buffer of pseudo-random bytes written again and again; the reader checks
//! the count and a running sum.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use sxfer::client::target::Target;
use sxfer::client::{self, relay, ClientOptions, Purpose};

const CHUNK: usize = 1 << 20;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (seconds, mib) = match args.as_slice() {
        [direct, mib] if direct == "direct" => {
            let mib = mib.parse().context("MIB")?;
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let address = listener.local_addr()?;
            let (connected, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
            let (sender, receiver) = (connected?, accepted?.0);
            sender.set_nodelay(true).ok();
            (pipe(sender, receiver, mib).await?, mib)
        }
        [target, fingerprint, mib] => {
            let mib = mib.parse().context("MIB")?;
            let target = Target::parse(target)?;
            let options = ClientOptions {
                home: client::home()?,
                fingerprint: Some(fingerprint.parse().context("fingerprint")?),
                idle_timeout: Some(Duration::from_secs(60)),
                ..ClientOptions::default()
            };
            let rendezvous = relay::create(client::connect(&target, &options, Purpose::Login).await?).await?;
            let joiner = client::connect(&target, &options, Purpose::Login).await?;
            let receiver = relay::join(joiner, rendezvous.nameplate()).await?;
            let sender = rendezvous.wait().await?;
            (pipe(sender, receiver, mib).await?, mib)
        }
        _ => bail!("usage: relay_pipe USER@HOST:PORT FINGERPRINT MIB | relay_pipe direct MIB"),
    };
    println!("{mib} MiB in {seconds:.3} s");
    Ok(())
}

/// Write `mib` MiB into `sender`, read them from `receiver`; the seconds taken.
async fn pipe(
    mut sender: impl AsyncWrite + Unpin + Send + 'static,
    mut receiver: impl AsyncRead + Unpin,
    mib: u64,
) -> Result<f64> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let chunk: Vec<u8> = (0..CHUNK)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let chunk_sum: u64 = chunk.iter().map(|&b| u64::from(b)).sum();
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        for _ in 0..mib {
            sender.write_all(&chunk).await?;
        }
        sender.shutdown().await?;
        anyhow::Ok(())
    });
    let mut buf = vec![0; CHUNK];
    let (mut total, mut sum) = (0u64, 0u64);
    loop {
        let n = receiver.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        total += n as u64;
        sum = buf[..n].iter().fold(sum, |sum, &b| sum.wrapping_add(u64::from(b)));
    }
    let seconds = started.elapsed().as_secs_f64();
    writer.await.context("writer task")??;
    if total != mib * CHUNK as u64 || sum != chunk_sum.wrapping_mul(mib) {
        bail!("received {total} bytes (sum {sum}), sent {} bytes", mib * CHUNK as u64);
    }
    Ok(seconds)
}
