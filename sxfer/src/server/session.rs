//! One connection: handshake, authentication, then requests in order.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context, Result};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{auth, transfer, ServerState};
use crate::net::conn::{server_handshake, Incoming, SessionReader, SessionWriter};
use crate::store::{AuditEvent, AuditKind, StoreError, UserInfo};
use sxfer_proto::msgs::app::{error_code, MAX_LISTING};
use sxfer_proto::msgs::Message;
use sxfer_proto::CloseCode;

/// Who is on the other end, for handlers and the audit log.
pub struct Peer {
    pub address: SocketAddr,
    pub user: UserInfo,
}

pub async fn run(
    stream: TcpStream,
    address: SocketAddr,
    state: &Arc<ServerState>,
    admitted: bool,
    mut stopping: watch::Receiver<bool>,
) -> Result<()> {
    let authenticated: Mutex<Option<UserInfo>> = Mutex::new(None);
    let handshake = server_handshake(
        stream,
        state.protocol.clone(),
        |request| async {
            let (decision, user) = auth::authorize(state, address, request).await?;
            if let Ok(mut slot) = authenticated.lock() {
                *slot = user;
            }
            Ok(decision)
        },
        state.limits.idle_timeout,
    );
    let (mut reader, mut writer, _) = tokio::time::timeout(state.limits.handshake_timeout, handshake)
        .await
        .map_err(|_| anyhow!("handshake timed out"))??;
    let user = authenticated.lock().ok().and_then(|mut slot| slot.take()).context("authenticated without a user")?;
    let peer = Peer { address, user };
    if !admitted {
        let message = "the server is at its connection limit; try again later";
        writer.send(&error(0, error_code::SHUTTING_DOWN, message)).await?;
        writer.close(CloseCode::Application).await?;
        return Ok(());
    }
    tracing::debug!(peer = %peer.address, user = %peer.user.name, "session started");
    loop {
        if *stopping.borrow() {
            writer.send(&error(0, error_code::SHUTTING_DOWN, "the server is shutting down")).await?;
            writer.close(CloseCode::Normal).await?;
            return Ok(());
        }
        let incoming = tokio::select! {
            incoming = reader.next() => incoming?,
            _ = stopping.changed() => continue,
        };
        match incoming {
            Incoming::Message(message) => handle(message, &mut reader, &mut writer, state, &peer).await?,
            Incoming::Data(_) => {
                writer.send(&error(0, error_code::BAD_REQUEST, "data outside an upload")).await?;
                writer.close(CloseCode::ProtocolViolation).await?;
                return Err(anyhow!("client sent data outside an upload"));
            }
            Incoming::Closed(_) => {
                writer.close(CloseCode::Normal).await.ok();
                return Ok(());
            }
        }
    }
}

async fn handle(
    message: Message,
    reader: &mut SessionReader,
    writer: &mut SessionWriter,
    state: &Arc<ServerState>,
    peer: &Peer,
) -> Result<()> {
    let store = state.store.clone();
    let user = peer.user.id;
    match message {
        Message::Upload { transfer, name, meta, resume } => {
            transfer::upload(reader, writer, state, peer, transfer, name, meta, resume).await
        }
        Message::Download { transfer, name, offset } => {
            transfer::download(writer, state, peer, transfer, name, offset).await
        }
        Message::List { transfer, prefix } => {
            let listed = blocking(move || store.list(user, &prefix)).await;
            match listed {
                Ok(entries) => {
                    let mut chunks = entries.chunks(MAX_LISTING).peekable();
                    if chunks.peek().is_none() {
                        writer.queue(&Message::Listing { transfer, entries: Vec::new(), more: false })?;
                    }
                    while let Some(chunk) = chunks.next() {
                        let more = chunks.peek().is_some();
                        writer.queue(&Message::Listing { transfer, entries: chunk.to_vec(), more })?;
                    }
                    writer.flush().await
                }
                Err(e) => writer.send(&store_error(transfer, &e)).await,
            }
        }
        Message::Stat { transfer, name } => {
            let stat_name = name.clone();
            let reply = match blocking(move || store.stat(user, &stat_name)).await {
                Ok(Some(entry)) => Message::Listing { transfer, entries: vec![entry], more: false },
                Ok(None) => error(transfer, error_code::NOT_FOUND, &format!("no such file: {name}")),
                Err(e) => store_error(transfer, &e),
            };
            writer.send(&reply).await
        }
        Message::Delete { transfer, name } => {
            let delete_name = name.clone();
            let reply = match blocking(move || store.delete(user, &delete_name)).await {
                Ok(true) => Message::Done { transfer },
                Ok(false) => error(transfer, error_code::NOT_FOUND, &format!("no such file: {name}")),
                Err(e) => store_error(transfer, &e),
            };
            transfer::audit(state, peer, AuditEvent::new(AuditKind::Delete, reply_outcome(&reply)).name(&name));
            writer.send(&reply).await
        }
        Message::Rename { transfer, from, to } => {
            let (f, t) = (from.clone(), to.clone());
            let reply = match blocking(move || store.rename(user, &f, &t, false)).await {
                Ok(()) => Message::Done { transfer },
                Err(e) => store_error(transfer, &e),
            };
            transfer::audit(
                state,
                peer,
                AuditEvent::new(AuditKind::Rename, reply_outcome(&reply)).name(&from).detail(to.as_str()),
            );
            writer.send(&reply).await
        }
        other => {
            let message = format!("unexpected message from a client: {other:?}");
            writer.send(&error(other.transfer(), error_code::BAD_REQUEST, "unexpected message")).await?;
            writer.close(CloseCode::ProtocolViolation).await?;
            Err(anyhow!(message))
        }
    }
}

/// Run a store call on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(call).await.unwrap_or_else(|e| Err(StoreError::Internal(format!("store task: {e}"))))
}

pub fn error(transfer: u32, code: u16, message: &str) -> Message {
    Message::Error { transfer, code, message: message.to_owned() }
}

/// The client sees the store's refusal as a coded error with one clear
/// line; internal details stay in the server log.
pub fn store_error(transfer: u32, e: &StoreError) -> Message {
    if e.is_client_facing() {
        error(transfer, e.code(), &e.to_string())
    } else {
        tracing::error!(error = %e, "store failure");
        error(transfer, e.code(), "internal server error")
    }
}

fn reply_outcome(reply: &Message) -> &'static str {
    if matches!(reply, Message::Error { .. }) {
        "refused"
    } else {
        "ok"
    }
}
