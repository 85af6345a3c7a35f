//! The listening side: bind, say where and with which key, then take
//! connections one at a time until one transfer succeeds.
//!
//! A connection that fails or is refused — a connector that does not
//! trust our key, a key `--allow` does not admit, a garbled handshake, an
//! offer declined or one that cannot land, a transfer cut part way — is
//! reported on one line and the listener waits for the next one: the
//! right peer may still come, and a cut transfer resumes when it does.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::{Context, Result};
use tokio::net::{TcpListener, TcpStream};

use crate::output::Output;
use sxfer_proto::identity::Fingerprint;

/// Binds `address` and prints the key's fingerprint and the address
/// bound (one line each, or one JSON object each), in that order.
pub async fn bind(address: &str, fingerprint: &Fingerprint, output: &Output) -> Result<TcpListener> {
    let listener = TcpListener::bind(address).await.with_context(|| format!("listening on {address}"))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    output.listening(fingerprint, &bound.to_string());
    Ok(listener)
}

/// Runs `attempt` on each connection until one succeeds; failures are
/// reported and the listener goes on.
pub async fn serve<F>(
    listener: &TcpListener,
    output: &Output,
    mut attempt: impl FnMut(TcpStream, SocketAddr) -> F,
) -> Result<()>
where
    F: Future<Output = Result<()>>,
{
    loop {
        let (stream, address) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: the next accept may work.
                output.connection_failed("(accept)", &format!("{e}"));
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        stream.set_nodelay(true).ok();
        match attempt(stream, address).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::info!(peer = %address, "peer session failed: {e:#}");
                output.connection_failed(&address.to_string(), &format!("{e:#}"));
            }
        }
    }
}
