//! One connection: admission and handshake, then requests in order.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use tokio::sync::{watch, OwnedSemaphorePermit};

use super::admission::Ticket;
use super::auth::Client;
use super::batch::{self, Pending};
use super::context::{blocking, error, listing_parts, reply_outcome, store_error, Connection};
use super::relay::{self, Handled, Party, Relays};
use super::{auth, drops, transfer, ServerState};
use crate::engine::ClosedMidTransfer;
use crate::net::conn::{
    server_handshake, AuthDecision, ByteStream, Incoming, ServerSession, SessionReader, SessionWriter,
};
use crate::store::{AuditEvent, AuditKind};
use sxfer_proto::handshake::AuthRequest;
use sxfer_proto::msgs::app::{error_code, MAX_LISTING};
use sxfer_proto::msgs::Message;
use sxfer_proto::CloseCode;

pub const AT_CONNECTION_LIMIT: &str = "the server is at its connection limit; try again later";

pub async fn run(
    stream: impl ByteStream,
    address: SocketAddr,
    state: &Arc<ServerState>,
    relays: &Arc<Relays>,
    ticket: Ticket,
    mut stopping: watch::Receiver<bool>,
) -> Result<()> {
    let handshake = server_handshake(
        stream,
        state.protocol.clone(),
        || ticket.hello(),
        |request| authorize(state, address, &ticket, request),
        state.limits.idle_timeout,
    );
    let session = tokio::select! {
        finished = tokio::time::timeout(state.limits.handshake_timeout, handshake) => {
            finished.map_err(|_| anyhow!("handshake timed out"))??
        }
        () = ticket.dropped() => bail!("dropped before authenticating, to make room for a newer connection"),
    };
    drop(ticket);
    let ServerSession { mut reader, mut writer, user: (client, slot), .. } = session;
    // Held while this is a session; a relay gives it up for a relay slot.
    let mut session_slot = Some(slot);
    let user = match client {
        Client::Account(user) => user,
        Client::Anonymous => {
            return relay::anonymous(state, relays, address, reader, writer, session_slot, &mut stopping).await;
        }
    };
    let peer = Connection { state: Arc::clone(state), address, user };
    tracing::debug!(peer = %peer.address, user = %peer.user.name, "session started");
    let mut pending = Pending::new();
    // A record read ahead while gathering pipelined downloads.
    let mut held: Option<Next> = None;
    loop {
        if *stopping.borrow() {
            pending.flush(&mut writer, &peer).await?;
            writer.send(&error(0, error_code::SHUTTING_DOWN, "the server is shutting down")).await?;
            writer.close(CloseCode::Normal).await?;
            return Ok(());
        }
        let incoming = match held.take() {
            Some(next) => next,
            None => tokio::select! {
            incoming = reader.next() => Next::from(incoming?),
            _ = stopping.changed() => continue,
            _ = tokio::time::sleep(batch::LINGER), if pending.has_staged() => {
                pending.start_commit(&mut writer, &peer).await?;
                continue;
            }
            outcomes = pending.committed(), if pending.is_committing() => {
                pending.answer(outcomes, &mut writer, &peer).await?;
                continue;
            }
            },
        };
        match incoming {
            Next::Message(Message::Relay { transfer, relay }) => {
                pending.flush(&mut writer, &peer).await?;
                let party = Party { address, user: Some(peer.user.name.clone()) };
                let handled = relay::handle(
                    state,
                    relays,
                    party,
                    transfer,
                    relay,
                    reader,
                    writer,
                    &mut session_slot,
                    &mut stopping,
                );
                match handled.await? {
                    Handled::Refused(session) => (reader, writer) = *session,
                    Handled::Ended => return Ok(()),
                }
            }
            Next::Message(message) => {
                let handled = match message {
                    // Pipelined small uploads are group-committed (batch.rs).
                    Message::Upload { transfer, name, meta, resume: false } if meta.size <= batch::MAX_FILE => {
                        pending.upload(&mut reader, &mut writer, &peer, transfer, name, meta).await
                    }
                    // Downloads already pipelined behind this one are
                    // opened and read together (after the staged files are
                    // committed, so that they see them).
                    Message::Download { transfer, name, offset } => match pending.flush(&mut writer, &peer).await {
                        Ok(()) => {
                            let first = transfer::DownloadRequest { transfer, name, offset };
                            match gather_downloads(&mut reader, first).await {
                                Ok((requests, next)) => {
                                    held = next;
                                    transfer::download(&mut writer, &peer, requests).await
                                }
                                Err(e) => Err(e),
                            }
                        }
                        Err(e) => Err(e),
                    },
                    // Anything else sees the staged files committed first.
                    message => match pending.flush(&mut writer, &peer).await {
                        Ok(()) => handle(message, &mut reader, &mut writer, &peer).await,
                        Err(e) => Err(e),
                    },
                };
                if let Err(e) = handled {
                    // Tell the client which files were stored, and why the
                    // session ends, before hanging up; it may not be listening.
                    pending.answer_committing(&mut writer, &peer).await.ok();
                    if e.is::<ClosedMidTransfer>() {
                        // The client's way to stop an upload (§7.5.6): no
                        // Error, no Close; the partial stays.
                        tracing::debug!(peer = %peer.address, "the client closed during an upload");
                        return Ok(());
                    }
                    let reason = error(0, error_code::BAD_REQUEST, &format!("request failed: {e}"));
                    if writer.send(&reason).await.is_ok() {
                        writer.close(CloseCode::ProtocolViolation).await.ok();
                    }
                    return Err(e);
                }
            }
            Next::Data => {
                pending.answer_committing(&mut writer, &peer).await.ok();
                writer.send(&error(0, error_code::BAD_REQUEST, "data outside an upload")).await?;
                writer.close(CloseCode::ProtocolViolation).await?;
                return Err(anyhow!("client sent data outside an upload"));
            }
            Next::Closed => {
                pending.flush(&mut writer, &peer).await?;
                writer.close(CloseCode::Normal).await.ok();
                return Ok(());
            }
        }
    }
}

/// A record read between requests. Data outside an upload is only ever
/// an error, so its bytes are not kept.
enum Next {
    Message(Message),
    Data,
    Closed,
}

impl From<Incoming<'_>> for Next {
    fn from(incoming: Incoming<'_>) -> Self {
        match incoming {
            Incoming::Message(message) => Next::Message(message),
            Incoming::Data(_) => Next::Data,
            Incoming::Closed(_) => Next::Closed,
        }
    }
}

/// `first` and the Download requests that have already arrived behind it
/// (at most [`transfer::DOWNLOAD_BATCH`]), and the record after them if
/// one was read that is not a Download.
async fn gather_downloads(
    reader: &mut SessionReader,
    first: transfer::DownloadRequest,
) -> Result<(Vec<transfer::DownloadRequest>, Option<Next>)> {
    let mut requests = vec![first];
    while requests.len() < transfer::DOWNLOAD_BATCH && reader.has_buffered_record() {
        match Next::from(reader.next().await?) {
            Next::Message(Message::Download { transfer, name, offset }) => {
                requests.push(transfer::DownloadRequest { transfer, name, offset });
            }
            other => return Ok((requests, Some(other))),
        }
    }
    Ok((requests, None))
}

/// Check the credential under a session slot: a client that finds none is
/// refused before any argon2 work. Once accepted it leaves the
/// unauthenticated pool, so it can no longer be dropped to make room.
async fn authorize(
    state: &ServerState,
    address: SocketAddr,
    ticket: &Ticket,
    request: AuthRequest,
) -> Result<AuthDecision<(Client, OwnedSemaphorePermit)>> {
    let Some(slot) = ticket.authenticating() else {
        tracing::info!(peer = %address, "refused: at the connection limit");
        return Ok(AuthDecision::Reject(AT_CONNECTION_LIMIT.to_owned()));
    };
    Ok(match auth::authorize(state, address, request).await? {
        AuthDecision::Accept(client_id, user) => {
            ticket.authenticated();
            AuthDecision::Accept(client_id, (user, slot))
        }
        // auth::authorize never runs a PAKE; mapped for completeness.
        AuthDecision::AcceptPake(password, user) => {
            ticket.authenticated();
            AuthDecision::AcceptPake(password, (user, slot))
        }
        AuthDecision::Reject(message) => AuthDecision::Reject(message),
    })
}

async fn handle(
    message: Message,
    reader: &mut SessionReader,
    writer: &mut SessionWriter,
    peer: &Connection,
) -> Result<()> {
    let store = peer.store();
    let user = peer.user.id;
    match message {
        Message::Upload { transfer, name, meta, resume } => {
            transfer::upload(reader, writer, peer, transfer, name, meta, resume).await
        }
        Message::Download { transfer, name, offset } => {
            transfer::download(writer, peer, vec![transfer::DownloadRequest { transfer, name, offset }]).await
        }
        Message::List { transfer, prefix } => {
            let listed = blocking(move || store.list(user, &prefix)).await;
            match listed {
                Ok(entries) => {
                    for (part, more) in listing_parts(entries, MAX_LISTING) {
                        writer.queue(&Message::Listing { transfer, entries: part, more })?;
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
            peer.audit(AuditEvent::new(AuditKind::Delete, reply_outcome(&reply)).name(&name));
            writer.send(&reply).await
        }
        Message::Drop { transfer, drop } => drops::handle(drop, transfer, reader, writer, peer).await,
        Message::Rename { transfer, from, to } => {
            let (f, t) = (from.clone(), to.clone());
            let reply = match blocking(move || store.rename(user, &f, &t, false)).await {
                Ok(()) => Message::Done { transfer },
                Err(e) => store_error(transfer, &e),
            };
            peer.audit(AuditEvent::new(AuditKind::Rename, reply_outcome(&reply)).name(&from).detail(to.as_str()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use sxfer_proto::codec::Codec;
    use sxfer_proto::msgs::{FileEntry, FileMeta};
    use sxfer_proto::names::RemoteName;
    use sxfer_proto::record::MAX_PAYLOAD;

    fn entry(i: usize) -> FileEntry {
        let segment = "d".repeat(250);
        let name = format!("{segment}/{segment}/{segment}/{i:06}");
        let meta = FileMeta { size: 1, mode: 0o644, mtime: 0, mtime_nanos: 0 };
        FileEntry { name: RemoteName::parse(&name).unwrap(), meta, digest: [0; 32], stored: 0 }
    }

    #[test]
    fn listings_are_split_to_fit_a_record() {
        assert_eq!(listing_parts(Vec::<FileEntry>::new(), MAX_LISTING), vec![(Vec::new(), false)]);
        let parts = listing_parts((0..3000).map(entry).collect(), MAX_LISTING);
        assert!(parts.len() > 1);
        assert_eq!(parts.iter().map(|(p, _)| p.len()).sum::<usize>(), 3000);
        for (i, (part, more)) in parts.iter().enumerate() {
            assert_eq!(*more, i + 1 < parts.len());
            let message = Message::Listing { transfer: 1, entries: part.clone(), more: *more };
            assert!(message.to_bytes().len() < MAX_PAYLOAD, "part {i} fits one record");
        }
    }
}
