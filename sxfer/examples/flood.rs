//! Load for `bench/admission.sh`: open stalled and garbage connections to a
//! server and hold them until stdin closes.
//!
//! ```text
//! cargo run --release --example flood -- 127.0.0.1:7272 500 300 [SOURCES]
//! ```
//!
//! Stalled connections never send a byte; garbage ones send bytes that are
//! not SXFR/1 (an HTTP request, a junk frame, random bytes) and then stay
//! open. With `SOURCES` > 1 they come from 127.0.0.1 .. 127.0.0.SOURCES in
//! turn (all of 127.0.0.0/8 is loopback on Linux), under the server's
//! per-address cap. Prints `ready` once all are open, and on stdin's end one
//! line saying how many the server has closed meanwhile.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use rand_core::{OsRng, RngCore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, stalled, garbage, rest @ ..] = args.as_slice() else {
        bail!("usage: flood SERVER_ADDRESS STALLED GARBAGE [SOURCES]");
    };
    let server: SocketAddr = server.parse().context("server address")?;
    let stalled: usize = stalled.parse().context("STALLED")?;
    let garbage: usize = garbage.parse().context("GARBAGE")?;
    let sources: u8 = rest.first().map_or(Ok(1), |s| s.parse()).context("SOURCES (1..=254)")?;
    if sources == 0 || sources == 255 {
        bail!("SOURCES must be 1..=254");
    }
    let closed_stalled = Arc::new(AtomicUsize::new(0));
    let closed_garbage = Arc::new(AtomicUsize::new(0));
    for i in 0..stalled + garbage {
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % usize::from(sources)) as u8));
        let mut stream = connect(source, server).await.with_context(|| format!("connection {i}"))?;
        let closed = if i < stalled {
            closed_stalled.clone()
        } else {
            stream.write_all(&junk(i)).await.ok();
            closed_garbage.clone()
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            closed.fetch_add(1, Ordering::Relaxed);
        });
    }
    println!("ready");
    tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink())).await??;
    println!(
        "closed by the server: {} of {stalled} stalled, {} of {garbage} garbage",
        closed_stalled.load(Ordering::Relaxed),
        closed_garbage.load(Ordering::Relaxed)
    );
    Ok(())
}

async fn connect(source: IpAddr, server: SocketAddr) -> Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    Ok(socket.connect(server).await?)
}

fn junk(i: usize) -> Vec<u8> {
    let random = |len: usize| {
        let mut bytes = vec![0; len];
        OsRng.fill_bytes(&mut bytes);
        bytes
    };
    match i % 3 {
        0 => b"GET / HTTP/1.1\r\nHost: sxfer\r\n\r\n".to_vec(),
        1 => [&[0u8, 0, 0, 40][..], &random(40)].concat(),
        _ => random(3000),
    }
}
