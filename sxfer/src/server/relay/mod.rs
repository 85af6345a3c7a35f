//! Rendezvous and relay (PROTOCOL.md §12): a client creates a nameplate,
//! another joins it, both hear RelayStart, and from then on the server
//! only copies bytes between the two connections (`splice.rs`). What it
//! copies is the peers' own SXFR/1 session: it holds no key for it.
//!
//! A relay counts against `max_relays`, not the session limit: the
//! creator's session slot is given back once its nameplate is out, the
//! joiner's once it is paired. The creator's connection task runs the
//! relay, so shutdown ends it like any session; each relay leaves one
//! audit row (nameplate, bytes each way, both ends, duration, why it ended;
//! never content).

mod registry;
mod splice;

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use serde::Deserialize;
use tokio::sync::{watch, OwnedSemaphorePermit};

use super::context::error;
use super::ServerState;
use crate::net::conn::{Incoming, SessionReader, SessionWriter};
use crate::net::raw::RawStream;
use crate::store::{AuditEvent, AuditKind};
use sxfer_proto::msgs::app::error_code;
use sxfer_proto::msgs::{Message, Nameplate, Relay, Username};
use sxfer_proto::CloseCode;

use registry::Claim;
pub use registry::{Refusal, Relays};
use splice::{splice, SpliceLimits, Spliced};

/// Who may use the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayMode {
    /// Nobody: relay requests are refused.
    Off,
    /// Logged-in users.
    Accounts,
    /// Also anonymous clients (ClientAuth method anonymous), which may do
    /// nothing else.
    Open,
}

impl RelayMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RelayMode::Off => "off",
            RelayMode::Accounts => "accounts",
            RelayMode::Open => "open",
        }
    }
}

impl FromStr for RelayMode {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<RelayMode> {
        [RelayMode::Off, RelayMode::Accounts, RelayMode::Open]
            .into_iter()
            .find(|mode| mode.as_str() == text)
            .ok_or_else(|| anyhow!("unknown relay mode {text:?} (off, accounts or open)"))
    }
}

/// The operator's relay settings (`[relay]` in sxfer.toml).
#[derive(Debug, Clone)]
pub struct RelayLimits {
    pub mode: RelayMode,
    /// Relays waiting for a joiner or relaying, at once.
    pub max_relays: usize,
    /// Bytes one relay carries, both directions together.
    pub max_bytes: u64,
    /// A relay on which no byte moves this long is cut.
    pub idle_timeout: Duration,
    /// A relay is cut this long after it started.
    pub total_timeout: Duration,
    /// How long a nameplate waits for its joiner.
    pub nameplate_ttl: Duration,
    /// Nameplates one source (IPv4 address, IPv6 /64) may create or try to
    /// join per minute.
    pub claims_per_minute: u32,
}

impl Default for RelayLimits {
    fn default() -> Self {
        RelayLimits {
            mode: RelayMode::Accounts,
            max_relays: 64,
            max_bytes: 64 << 30,
            idle_timeout: Duration::from_secs(300),
            total_timeout: Duration::from_secs(6 * 60 * 60),
            nameplate_ttl: Duration::from_secs(600),
            claims_per_minute: 30,
        }
    }
}

/// One end of a relay: where it connects from, and as whom (`None`:
/// anonymous).
#[derive(Debug, Clone)]
pub struct Party {
    pub address: SocketAddr,
    pub user: Option<Username>,
}

/// A joiner's session, handed to the creator's task, which relays.
pub struct Joiner {
    reader: SessionReader,
    writer: SessionWriter,
    party: Party,
    transfer: u32,
}

/// What became of the session after a relay request.
pub enum Handled {
    /// Refused: the session goes on (an anonymous one is then closed).
    Refused(Box<(SessionReader, SessionWriter)>),
    /// The session became (part of) a relay, which is over, or the
    /// connection ended.
    Ended,
}

/// Handle the relay request `request` of `party`'s session. The session
/// slot is given up once the request is granted.
#[allow(clippy::too_many_arguments)]
pub async fn handle(
    state: &ServerState,
    relays: &Arc<Relays>,
    party: Party,
    transfer: u32,
    request: Relay,
    reader: SessionReader,
    mut writer: SessionWriter,
    session_slot: &mut Option<OwnedSemaphorePermit>,
    stopping: &mut watch::Receiver<bool>,
) -> Result<Handled> {
    let allowed = match relays.limits.mode {
        RelayMode::Off => Err("this server does not relay"),
        RelayMode::Accounts if party.user.is_none() => Err("this server relays only for its users"),
        RelayMode::Accounts | RelayMode::Open => Ok(()),
    };
    let granted = match (allowed, request) {
        (_, request @ (Relay::Nameplate { .. } | Relay::Start)) => {
            writer.send(&error(transfer, error_code::BAD_REQUEST, "unexpected message")).await?;
            writer.close(CloseCode::ProtocolViolation).await?;
            bail!("a client sent the server's relay message {request:?}");
        }
        (Err(why), _) => Err(Refusal { code: error_code::REFUSED, message: why.to_owned() }),
        (Ok(()), Relay::Create) => relays.create(party.address.ip()).map(Granted::Create),
        (Ok(()), Relay::Join { nameplate }) => relays.join(party.address.ip(), nameplate).map(Granted::Join),
    };
    let refusal = match granted {
        Ok(Granted::Create(claim)) => {
            create(state, relays, claim, party, transfer, reader, writer, session_slot, stopping).await?;
            return Ok(Handled::Ended);
        }
        Ok(Granted::Join(pairing)) => {
            let nameplate = pairing.nameplate;
            match pairing.hand_over(Box::new(Joiner { reader, writer, party, transfer })) {
                Ok(()) => return Ok(Handled::Ended),
                Err(joiner) => {
                    let Joiner { reader, writer: back, party, .. } = *joiner;
                    tracing::debug!(peer = %party.address, %nameplate, "the creator left before the joiner arrived");
                    let message = format!("the creator of nameplate {nameplate} has left");
                    return refuse(transfer, Refusal { code: error_code::NOT_FOUND, message }, reader, back).await;
                }
            }
        }
        Err(refusal) => refusal,
    };
    tracing::info!(peer = %party.address, code = refusal.code, reason = %refusal.message, "relay request refused");
    refuse(transfer, refusal, reader, writer).await
}

/// An anonymous session (relay mode open): one relay request within the
/// handshake timeout, nothing else.
pub async fn anonymous(
    state: &ServerState,
    relays: &Arc<Relays>,
    address: SocketAddr,
    mut reader: SessionReader,
    mut writer: SessionWriter,
    mut session_slot: Option<OwnedSemaphorePermit>,
    stopping: &mut watch::Receiver<bool>,
) -> Result<()> {
    let first = tokio::time::timeout(state.limits.handshake_timeout, reader.next())
        .await
        .map_err(|_| anyhow!("an anonymous session asked for nothing in time"))??;
    let message = match first {
        Incoming::Message(Message::Relay { transfer, relay }) => {
            let party = Party { address, user: None };
            let handled =
                handle(state, relays, party, transfer, relay, reader, writer, &mut session_slot, stopping).await?;
            if let Handled::Refused(session) = handled {
                let (_, mut writer) = *session;
                writer.close(CloseCode::Application).await?;
            }
            return Ok(());
        }
        Incoming::Closed(_) => {
            writer.close(CloseCode::Normal).await.ok();
            return Ok(());
        }
        Incoming::Message(message) => message,
        Incoming::Data(_) => {
            writer.send(&error(0, error_code::BAD_REQUEST, "data outside an upload")).await?;
            writer.close(CloseCode::ProtocolViolation).await?;
            bail!("an anonymous client sent data");
        }
    };
    let refused = "an anonymous session may only create or join a relay";
    writer.send(&error(message.transfer(), error_code::REFUSED, refused)).await?;
    writer.close(CloseCode::Application).await?;
    Ok(())
}

enum Granted {
    Create(Claim),
    Join(registry::Pairing),
}

async fn refuse(transfer: u32, refusal: Refusal, reader: SessionReader, mut writer: SessionWriter) -> Result<Handled> {
    writer.send(&error(transfer, refusal.code, &refusal.message)).await?;
    Ok(Handled::Refused(Box::new((reader, writer))))
}

/// What ended the wait for a joiner.
enum Waited {
    Joined(Box<Joiner>),
    Expired,
    /// The creator closed (or sent something it must not).
    Left(Result<CloseCode>),
    ShuttingDown,
}

/// The creator's side: announce the nameplate, wait for the joiner, relay.
#[allow(clippy::too_many_arguments)]
async fn create(
    state: &ServerState,
    relays: &Arc<Relays>,
    mut claim: Claim,
    creator: Party,
    transfer: u32,
    mut reader: SessionReader,
    mut writer: SessionWriter,
    session_slot: &mut Option<OwnedSemaphorePermit>,
    stopping: &mut watch::Receiver<bool>,
) -> Result<()> {
    let limits = &relays.limits;
    let nameplate = claim.nameplate;
    let expires_in_secs = u32::try_from(limits.nameplate_ttl.as_secs().max(1)).unwrap_or(u32::MAX);
    // From here on the relay slot counts, not the session slot.
    drop(session_slot.take());
    writer.send(&Message::Relay { transfer, relay: Relay::Nameplate { nameplate, expires_in_secs } }).await?;
    tracing::info!(peer = %creator.address, %nameplate, relays = relays.active(), "rendezvous created");
    // The nameplate's lifetime bounds the wait, not the session's idle timeout.
    reader.set_idle_timeout(limits.nameplate_ttl + Duration::from_secs(30));
    let waited = tokio::select! {
        biased;
        joined = &mut claim.joined => match joined {
            Ok(joiner) => Waited::Joined(joiner),
            Err(_) => Waited::Left(Err(anyhow!("the joiner vanished while being paired"))),
        },
        _ = stopping.wait_for(|stopping| *stopping) => Waited::ShuttingDown,
        () = tokio::time::sleep_until(claim.expires) => Waited::Expired,
        incoming = reader.next() => Waited::Left(match incoming {
            Ok(Incoming::Closed(code)) => Ok(code),
            Ok(_) => Err(anyhow!("the creator sent a record while waiting for RelayStart")),
            Err(e) => Err(e),
        }),
    };
    let record = |joiner: Option<&Party>, spliced: Option<&Spliced>, outcome: &str| {
        audit(state, &creator, nameplate, joiner, spliced, outcome);
    };
    // Unless paired, the nameplate and the relay slot are free before the
    // creator hears why its wait ended.
    let joiner = match waited {
        Waited::Joined(joiner) => joiner,
        Waited::Expired => {
            claim.expire();
            record(None, None, "expired");
            let ttl = limits.nameplate_ttl.as_secs_f64();
            let message = format!("nobody joined nameplate {nameplate} within {ttl} s");
            writer.send(&error(transfer, error_code::EXPIRED, &message)).await?;
            writer.close(CloseCode::Application).await?;
            return Ok(());
        }
        Waited::ShuttingDown => {
            drop(claim);
            record(None, None, "shutting down");
            writer.send(&error(0, error_code::SHUTTING_DOWN, "the server is shutting down")).await?;
            writer.close(CloseCode::Normal).await?;
            return Ok(());
        }
        Waited::Left(Ok(_)) => {
            drop(claim);
            record(None, None, "cancelled");
            writer.close(CloseCode::Normal).await.ok();
            return Ok(());
        }
        Waited::Left(Err(e)) => {
            drop(claim);
            record(None, None, "cancelled");
            let violation = error(transfer, error_code::BAD_REQUEST, "nothing may be sent while waiting for a joiner");
            if writer.send(&violation).await.is_ok() {
                writer.close(CloseCode::ProtocolViolation).await.ok();
            }
            return Err(e);
        }
    };
    let Joiner { reader: joiner_reader, writer: mut joiner_writer, party: joined, transfer: joiner_transfer } = *joiner;
    let start = |transfer| Message::Relay { transfer, relay: Relay::Start };
    let (to_creator, to_joiner) = (start(transfer), start(joiner_transfer));
    let started = tokio::try_join!(writer.send(&to_creator), joiner_writer.send(&to_joiner));
    if let Err(e) = started {
        record(Some(&joined), None, "a side left before the start");
        return Err(e);
    }
    tracing::info!(creator = %creator.address, joiner = %joined.address, %nameplate, "relay started");
    let creator_stream = RawStream::after_session(reader, writer).await?;
    let joiner_stream = RawStream::after_session(joiner_reader, joiner_writer).await?;
    let limits = SpliceLimits {
        max_bytes: limits.max_bytes,
        idle_timeout: limits.idle_timeout,
        total_timeout: limits.total_timeout,
    };
    let spliced = splice(creator_stream, joiner_stream, limits, stopping).await;
    drop(claim);
    record(Some(&joined), Some(&spliced), &spliced.end.as_outcome());
    Ok(())
}

/// The audit row of one rendezvous: the creator as user and remote, the
/// rest in `detail` as `key=value` pairs.
fn audit(
    state: &ServerState,
    creator: &Party,
    nameplate: Nameplate,
    joiner: Option<&Party>,
    spliced: Option<&Spliced>,
    outcome: &str,
) {
    let mut detail = format!("nameplate={nameplate}");
    if let Some(joiner) = joiner {
        detail += &format!(" joiner={}", joiner.address);
        if let Some(user) = &joiner.user {
            detail += &format!(" joiner_user={user}");
        }
    }
    let mut event = AuditEvent::new(AuditKind::Relay, outcome).remote(creator.address);
    if let Some(user) = &creator.user {
        event = event.user(user.as_str());
    }
    if let Some(spliced) = spliced {
        detail += &format!(
            " to_joiner={} to_creator={} duration_ms={}",
            spliced.to_joiner,
            spliced.to_creator,
            spliced.duration.as_millis()
        );
        event = event.size(spliced.to_joiner + spliced.to_creator);
    }
    tracing::info!(target: "audit", peer = %creator.address, user = creator.user.as_ref().map(Username::as_str),
        event = AuditKind::Relay.as_str(), %detail, outcome);
    if let Err(e) = state.store.audit(&event.detail(detail)) {
        tracing::warn!(error = %e, "could not write the audit log");
    }
}
