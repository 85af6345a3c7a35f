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

/// A failure after which a listener stops instead of waiting for the next
/// connection (say, a one-time secret that a wrong guess used up).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EndsListening(pub String);

/// Runs `attempt` on each connection until one succeeds; failures are
/// reported and the listener goes on, except an [`EndsListening`].
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
            Err(e) if e.downcast_ref::<EndsListening>().is_some() => return Err(e),
            Err(e) => {
                tracing::info!(peer = %address, "peer session failed: {e:#}");
                output.connection_failed(&address.to_string(), &format!("{e:#}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_keep_the_listener_waiting_until_one_ends_it() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let connections: Vec<TcpStream> =
            connect_many(address, 3).await.into_iter().collect::<std::io::Result<_>>().unwrap();
        let mut attempts = 0;
        let quiet = Output { quiet: true, ..Output::default() };
        let served = serve(&listener, &quiet, |_, _| {
            attempts += 1;
            let attempt = attempts;
            async move {
                match attempt {
                    1 => anyhow::bail!("refused"),
                    _ => Err(EndsListening("burnt".into()).into()),
                }
            }
        })
        .await;
        assert_eq!(served.unwrap_err().to_string(), "burnt");
        assert_eq!(attempts, 2, "the first failure did not end it, the second did");
        drop(connections);
    }

    async fn connect_many(address: SocketAddr, count: usize) -> Vec<std::io::Result<TcpStream>> {
        let mut streams = Vec::new();
        for _ in 0..count {
            streams.push(TcpStream::connect(address).await);
        }
        streams
    }
}
