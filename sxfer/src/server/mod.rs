//! `sxfer serve`: accept loop, admission, graceful shutdown.
//!
//! Like mini-redis: `run(listener, state, shutdown)` is the one entry point
//! (tests call it on `127.0.0.1:0`); one task per connection; admission
//! (`admission.rs`) bounds unauthenticated connections, the expensive
//! handshake steps and authenticated sessions; on shutdown the listener
//! closes, sessions finish the request in hand, and after the grace period
//! the rest are cut (their partial uploads stay resumable).

mod admission;
mod auth;
mod batch;
mod blob_io;
mod context;
mod drops;
mod relay;
mod session;
mod transfer;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::store::Store;
use admission::{Admission, Ticket};
use relay::Relays;
use sxfer_proto::handshake::ServerConfig;

pub use auth::LoginLimiter;
pub use relay::{RelayLimits, RelayMode};

/// Limits and switches that shape how the server treats clients.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Authenticated sessions at once.
    pub max_connections: usize,
    /// Connections not yet authenticated, in all and from one source (an
    /// IPv4 address or IPv6 /64); over either, the least advanced, oldest
    /// one is dropped to make room for the new one.
    pub max_handshakes: usize,
    pub max_handshakes_per_address: usize,
    /// From accept to an accepted credential.
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    pub shutdown_grace: Duration,
    pub allow_registration: bool,
    pub relay: RelayLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 256,
            max_handshakes: 1024,
            max_handshakes_per_address: 256,
            handshake_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(30),
            allow_registration: false,
            relay: RelayLimits::default(),
        }
    }
}

/// Everything a connection task needs, shared.
pub struct ServerState {
    pub store: Arc<Store>,
    pub protocol: Arc<ServerConfig>,
    pub limits: Limits,
    pub logins: LoginLimiter,
}

/// Serve until `shutdown` resolves, then drain gracefully.
pub async fn run(listener: TcpListener, state: Arc<ServerState>, shutdown: impl Future<Output = ()>) -> Result<()> {
    let admission = Admission::new(&state.limits);
    let relays = Relays::new(state.limits.relay.clone());
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let mut sessions = JoinSet::new();
    let gc = tokio::spawn(collect_periodically(state.store.clone()));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // EMFILE and friends: free a descriptor held by an
                        // unauthenticated connection, and back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        admission.shed();
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                stream.set_nodelay(true).ok();
                let ticket = admission.admit(peer.ip());
                let relays = relays.clone();
                sessions.spawn(serve_connection(stream, peer, state.clone(), relays, ticket, stopping_rx.clone()));
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    gc.abort();
    tracing::info!(sessions = sessions.len(), "shutting down: no new connections; finishing transfers in progress");
    stopping_tx.send_replace(true);
    let drain = async { while sessions.join_next().await.is_some() {} };
    if tokio::time::timeout(state.limits.shutdown_grace, drain).await.is_err() {
        tracing::warn!(sessions = sessions.len(), "grace period over: cutting remaining connections");
        sessions.shutdown().await;
    }
    tracing::info!("server stopped");
    Ok(())
}

/// The store's garbage collection (expired drops, crash leftovers) every
/// [`GC_INTERVAL`](crate::store::GC_INTERVAL) while the server runs; it ran
/// once already when the store opened.
async fn collect_periodically(store: Arc<Store>) {
    let mut every = tokio::time::interval(crate::store::GC_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.recover(crate::store::ORPHAN_GRACE)).await {
            Ok(Ok(recovered)) => tracing::debug!(?recovered, "garbage collection"),
            Ok(Err(e)) => tracing::warn!(error = %e, "garbage collection failed"),
            Err(e) => tracing::warn!(error = %e, "garbage collection panicked"),
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<ServerState>,
    relays: Arc<Relays>,
    ticket: Ticket,
    stopping: watch::Receiver<bool>,
) {
    match session::run(stream, peer, &state, &relays, ticket, stopping).await {
        Ok(()) => tracing::debug!(%peer, "connection closed"),
        Err(e) => tracing::info!(%peer, error = format!("{e:#}"), "connection ended with an error"),
    }
}
