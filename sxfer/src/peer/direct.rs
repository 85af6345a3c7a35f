//! The direct upgrade of a relayed peer session (PROTOCOL.md §13.10).
//!
//! Inside the relayed session both sides say where they listen
//! (`Candidates`: the address each reaches the relay server from, with the
//! port of a listener opened for this, or nothing with `--relay-only`).
//! If both offered one, each dials the other's addresses and accepts on
//! its own for [`WINDOW`]; every TCP connection that comes up runs a fresh
//! SXFR/1 handshake authenticated by a PAKE over a 256-bit secret derived
//! from the relayed session's exporter, the dialer as its client. The
//! creator (the relayed session's server, "the leader") takes the first
//! direct session to authenticate, says `Path direct` on it and on the
//! relay, and the transfer runs on it; otherwise it says `Path relayed`
//! and the transfer stays on the relay.
//!
//! A stranger who reaches a listener fails the PAKE and changes nothing;
//! the relay learns only that the peers left it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::{session, Session};
use crate::net::conn::{Incoming, SessionReader};
use sxfer_proto::handshake::ServerConfig;
use sxfer_proto::msgs::{Candidate, Direct, Message};
use sxfer_proto::pake::PakePassword;
use sxfer_proto::CloseCode;

/// How long the leader waits for a direct session before it stays on the
/// relay: connecting and the handshake, from its Candidates.
pub const WINDOW: Duration = Duration::from_secs(3);
/// How long the follower waits for the leader's choice and, when it is
/// direct, for the chosen connection's `Path` (the leader's window and a
/// slow handshake, with room).
const FOLLOW: Duration = Duration::from_secs(30);
/// Connections a listener takes during one window (strangers included).
const MAX_INCOMING: usize = 8;

/// How this side takes part.
pub struct Upgrade {
    /// The creator decides; the joiner follows.
    pub leader: bool,
    /// The address to offer (this end of the connection to the relay
    /// server); `None`: relay only, offer nothing and dial nothing.
    pub local: Option<IpAddr>,
    /// The identity this side's listener shows (the PAKE authenticates).
    pub config: Arc<ServerConfig>,
}

/// Run the upgrade on a freshly authenticated relayed session, before the
/// peer phase. Returns the session the transfer takes and whether it is
/// direct.
pub async fn upgrade(mut relayed: Session, how: Upgrade) -> Result<(Session, bool)> {
    let listener = match how.local {
        Some(ip) => TcpListener::bind(SocketAddr::new(ip, 0)).await.ok(),
        None => None,
    };
    let ours: Vec<SocketAddr> = listener.as_ref().and_then(|l| l.local_addr().ok()).into_iter().collect();
    relayed.writer.send(&direct(Direct::Candidates(ours.iter().map(|&a| candidate(a)).collect()))).await?;
    let theirs: Vec<SocketAddr> = match next(&mut relayed.reader).await? {
        Direct::Candidates(theirs) => theirs.into_iter().map(socket_address).collect(),
        Direct::Path { .. } => bail!("the peer sent its path choice before its candidates"),
    };
    let (listener, theirs) = match listener {
        Some(listener) if !theirs.is_empty() => (listener, theirs),
        _ => return stay(relayed, how.leader).await,
    };
    let password = PakePassword::direct(&relayed.exporter)?;
    let (found, mut attempts) = attempt(listener, theirs, password, how.config, !how.leader);
    if how.leader {
        lead(relayed, found, attempts).await
    } else {
        let result = follow(relayed, found).await;
        attempts.shutdown().await;
        result
    }
}

/// Neither side can go direct: the leader says so, the follower hears it.
async fn stay(mut relayed: Session, leader: bool) -> Result<(Session, bool)> {
    if leader {
        relayed.writer.send(&direct(Direct::Path { direct: false })).await?;
    } else if next(&mut relayed.reader).await? != (Direct::Path { direct: false }) {
        bail!("the peer chose a direct path that neither side offered");
    }
    Ok((relayed, false))
}

async fn lead(
    mut relayed: Session,
    mut found: mpsc::Receiver<Session>,
    mut attempts: JoinSet<()>,
) -> Result<(Session, bool)> {
    let chosen = tokio::time::timeout(WINDOW, found.recv()).await.ok().flatten();
    attempts.shutdown().await;
    let Some(mut chosen) = chosen else {
        relayed.writer.send(&direct(Direct::Path { direct: false })).await?;
        return Ok((relayed, false));
    };
    chosen.writer.send(&direct(Direct::Path { direct: true })).await?;
    relayed.writer.send(&direct(Direct::Path { direct: true })).await?;
    relayed.writer.close(CloseCode::Normal).await.ok();
    Ok((chosen, true))
}

async fn follow(mut relayed: Session, mut found: mpsc::Receiver<Session>) -> Result<(Session, bool)> {
    let choice = tokio::time::timeout(FOLLOW, next(&mut relayed.reader))
        .await
        .map_err(|_| anyhow::anyhow!("the peer did not choose a path within {} s", FOLLOW.as_secs()))??;
    match choice {
        Direct::Path { direct: false } => Ok((relayed, false)),
        Direct::Path { direct: true } => {
            let chosen = tokio::time::timeout(FOLLOW, found.recv()).await.ok().flatten();
            let chosen = chosen.context("the peer chose a direct connection that did not reach this side")?;
            relayed.writer.close(CloseCode::Normal).await.ok();
            Ok((chosen, true))
        }
        Direct::Candidates(_) => bail!("the peer sent its candidates twice"),
    }
}

/// Dial every one of `theirs` and accept on `listener`, each connection
/// authenticated by the PAKE over `password`. Sessions that authenticate
/// come out of the receiver; for the follower (`chosen_only`), only the one
/// the leader says `Path direct` on. Dropping or shutting down the set
/// ends every attempt.
fn attempt(
    listener: TcpListener,
    theirs: Vec<SocketAddr>,
    password: PakePassword,
    config: Arc<ServerConfig>,
    chosen_only: bool,
) -> (mpsc::Receiver<Session>, JoinSet<()>) {
    let (tx, rx) = mpsc::channel(MAX_INCOMING + theirs.len());
    let mut attempts = JoinSet::new();
    for address in theirs {
        let (tx, password) = (tx.clone(), password.clone());
        attempts.spawn(async move {
            let dialled = async {
                let stream = TcpStream::connect(address).await?;
                stream.set_nodelay(true).ok();
                session::connect_code(stream, &address.to_string(), &password).await
            };
            if let Ok(session) = dialled.await {
                deliver(session, address, chosen_only, &tx).await;
            }
        });
    }
    attempts.spawn(async move {
        let mut incoming = JoinSet::new();
        for _ in 0..MAX_INCOMING {
            let Ok((stream, from)) = listener.accept().await else { break };
            stream.set_nodelay(true).ok();
            let (tx, password, config) = (tx.clone(), password.clone(), config.clone());
            incoming.spawn(async move {
                if let Ok(session) = session::accept_code(stream, &from.to_string(), config, &password).await {
                    deliver(session, from, chosen_only, &tx).await;
                }
            });
        }
        while incoming.join_next().await.is_some() {}
    });
    (rx, attempts)
}

/// Hand an authenticated direct session on; the follower's only once the
/// leader has said `Path direct` on it.
async fn deliver(mut session: Session, address: SocketAddr, chosen_only: bool, tx: &mpsc::Sender<Session>) {
    if chosen_only && next(&mut session.reader).await.ok() != Some(Direct::Path { direct: true }) {
        return;
    }
    session.peer = format!("{address} (direct)");
    tx.send(session).await.ok();
}

/// The next message, which must be one of the upgrade's.
async fn next(reader: &mut SessionReader) -> Result<Direct> {
    match reader.next().await? {
        Incoming::Message(Message::Direct { transfer: 0, direct }) => Ok(direct),
        Incoming::Message(other) => bail!("the peer sent {other:?} during the path choice"),
        Incoming::Data(_) => bail!("the peer sent data during the path choice"),
        Incoming::Closed(code) => bail!("the peer closed the session during the path choice ({code})"),
    }
}

/// A socket address as the wire carries it, and back.
pub fn candidate(address: SocketAddr) -> Candidate {
    match address.ip() {
        IpAddr::V4(ip) => Candidate::V4 { ip: ip.octets(), port: address.port() },
        IpAddr::V6(ip) => Candidate::V6 { ip: ip.octets(), port: address.port() },
    }
}

pub fn socket_address(candidate: Candidate) -> SocketAddr {
    match candidate {
        Candidate::V4 { ip, port } => SocketAddr::new(IpAddr::from(ip), port),
        Candidate::V6 { ip, port } => SocketAddr::new(IpAddr::from(ip), port),
    }
}

fn direct(direct: Direct) -> Message {
    Message::Direct { transfer: 0, direct }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use sxfer_proto::identity::PrivateIdentity;
    use sxfer_proto::pake::{Code, CodeWords, PasswordScope};

    const LOOPBACK: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));

    fn config() -> Arc<ServerConfig> {
        let identity = PrivateIdentity::generate_ed25519(&mut rand_core::OsRng).unwrap();
        Arc::new(ServerConfig::new(Arc::new(identity)))
    }

    fn password() -> PakePassword {
        Code::generate(None, CodeWords::new(3).unwrap(), &mut rand_core::OsRng).password(PasswordScope::WordsOnly)
    }

    /// A code-mode pair over an in-memory stream, as through a relay:
    /// (the creator's session, the joiner's).
    async fn relayed_pair() -> (Session, Session) {
        let (near, far) = tokio::io::duplex(1 << 16);
        let password = password();
        let creator = session::accept_code(near, "joiner", config(), &password);
        let joiner = session::connect_code(far, "creator", &password);
        let (creator, joiner) = tokio::join!(creator, joiner);
        (creator.unwrap(), joiner.unwrap())
    }

    async fn both(leader: Option<IpAddr>, follower: Option<IpAddr>) -> ((Session, bool), (Session, bool)) {
        let (creator, joiner) = relayed_pair().await;
        let lead = upgrade(creator, Upgrade { leader: true, local: leader, config: config() });
        let follow = upgrade(joiner, Upgrade { leader: false, local: follower, config: config() });
        let (lead, follow) = tokio::join!(lead, follow);
        (lead.unwrap(), follow.unwrap())
    }

    /// One message each way on the chosen sessions: they are the two ends
    /// of one channel.
    async fn talk(a: &mut Session, b: &mut Session) {
        let ping = Message::Done { transfer: 7 };
        a.writer.send(&ping).await.unwrap();
        assert!(matches!(b.reader.next().await.unwrap(), Incoming::Message(m) if m == ping));
        b.writer.send(&ping).await.unwrap();
        assert!(matches!(a.reader.next().await.unwrap(), Incoming::Message(m) if m == ping));
    }

    #[tokio::test]
    async fn peers_that_reach_each_other_go_direct() {
        let ((mut lead, lead_direct), (mut follow, follow_direct)) = both(LOOPBACK, LOOPBACK).await;
        assert!(lead_direct && follow_direct);
        assert!(lead.peer.ends_with("(direct)") && follow.peer.ends_with("(direct)"), "{} {}", lead.peer, follow.peer);
        talk(&mut lead, &mut follow).await;
    }

    #[tokio::test]
    async fn relay_only_on_either_side_stays_relayed() {
        for (leader, follower) in [(None, LOOPBACK), (LOOPBACK, None), (None, None)] {
            let ((mut lead, lead_direct), (mut follow, follow_direct)) = both(leader, follower).await;
            assert!(!lead_direct && !follow_direct, "{leader:?} {follower:?}");
            talk(&mut lead, &mut follow).await;
        }
    }

    /// A peer's candidate that answers, but is not the peer (it does not
    /// hold the direct password): the leader does not take it, and says
    /// relayed once its window is over.
    #[tokio::test]
    async fn an_address_that_answers_but_is_not_the_peer_is_not_taken() {
        let (creator, mut joiner) = relayed_pair().await;
        let impostor = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = impostor.local_addr().unwrap();
        let answered = tokio::spawn(async move {
            let (stream, _) = impostor.accept().await.unwrap();
            session::accept_code(stream, "leader", config(), &password()).await.is_err()
        });
        let lead = tokio::spawn(upgrade(creator, Upgrade { leader: true, local: LOOPBACK, config: config() }));
        joiner.writer.send(&direct(Direct::Candidates(vec![candidate(at)]))).await.unwrap();
        assert!(matches!(next(&mut joiner.reader).await.unwrap(), Direct::Candidates(offered) if offered.len() == 1));
        assert_eq!(next(&mut joiner.reader).await.unwrap(), Direct::Path { direct: false });
        assert!(answered.await.unwrap(), "the impostor's handshake failed");
        let (mut lead, is_direct) = lead.await.unwrap().unwrap();
        assert!(!is_direct);
        talk(&mut lead, &mut joiner).await;
    }

    #[tokio::test]
    async fn a_path_before_the_candidates_is_refused() {
        let (creator, mut joiner) = relayed_pair().await;
        joiner.writer.send(&direct(Direct::Path { direct: true })).await.unwrap();
        let error = upgrade(creator, Upgrade { leader: true, local: LOOPBACK, config: config() }).await.err().unwrap();
        assert!(error.to_string().contains("before its candidates"), "{error:#}");
    }
}
