//! Checking credentials against the account store, with rate limiting.
//!
//! A failed login says only "login failed", whichever part was wrong, and
//! costs the same argon2 verification whether or not the user exists (the
//! store verifies against a dummy hash). Failures are counted per user and
//! per source address; past the limit, logins are refused for a while
//! without checking the password at all.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use super::ServerState;
use crate::net::conn::AuthDecision;
use crate::store::{AuditEvent, AuditKind, UserInfo};
use sxfer_proto::handshake::AuthRequest;
use sxfer_proto::msgs::ClientId;

pub const LOGIN_FAILED: &str = "login failed";
const REGISTRATION_CLOSED: &str = "registration is disabled on this server (ask its operator for an invite)";
const MAX_FAILURES: u32 = 5;
const WINDOW: Duration = Duration::from_secs(60);

/// Limits logins: failures per user and per address, and how many
/// credential checks run at once.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<Key, (u32, Instant)>>,
    checkers: OnceLock<Checkers>,
}

/// The credential-checking threads (started on first use).
struct Checkers {
    jobs: mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

impl Checkers {
    fn start() -> Checkers {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = Arc::clone(&queue);
            let worker = move || loop {
                let job = match queue.lock() {
                    Ok(queue) => queue.recv(),
                    Err(_) => return,
                };
                match job {
                    // A panicking check fails that login only (its reply is dropped).
                    Ok(job) => drop(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))),
                    Err(_) => return,
                }
            };
            if let Err(e) = std::thread::Builder::new().name(format!("sxfer-login-{i}")).spawn(worker) {
                tracing::error!(error = %e, "cannot start a credential-checking thread");
            }
        }
        Checkers { jobs }
    }

    async fn run<T: Send + 'static>(&self, check: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The client gave up (handshake timeout, disconnect): skip the work.
            if !reply.is_closed() {
                drop(reply.send(check()));
            }
        });
        self.jobs.send(job).map_err(|_| anyhow!("no credential-checking thread"))?;
        answer.await.map_err(|_| anyhow!("the credential check failed"))
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Address(IpAddr),
}

impl LoginLimiter {
    fn blocked(&self, keys: &[Key]) -> bool {
        let Ok(mut failures) = self.failures.lock() else { return true };
        let now = Instant::now();
        failures.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        keys.iter().any(|key| failures.get(key).is_some_and(|(count, _)| *count >= MAX_FAILURES))
    }

    fn record_failure(&self, keys: &[Key]) {
        if let Ok(mut failures) = self.failures.lock() {
            let now = Instant::now();
            for key in keys {
                let entry = failures.entry(key.clone()).or_insert((0, now));
                entry.0 += 1;
            }
        }
    }
}

/// The server's answer to one authentication request.
pub async fn authorize(
    state: &ServerState,
    peer: SocketAddr,
    request: AuthRequest,
) -> Result<(AuthDecision, Option<UserInfo>)> {
    let username = match &request {
        AuthRequest::Password { username, .. }
        | AuthRequest::PublicKey { username, .. }
        | AuthRequest::Register { username, .. } => Some(username.clone()),
        AuthRequest::Anonymous => None,
    };
    let mut keys = vec![Key::Address(peer.ip())];
    if let Some(name) = &username {
        keys.push(Key::User(name.to_string()));
    }
    if state.logins.blocked(&keys) {
        audit(state, peer, username.as_ref().map(|u| u.as_str()), AuditKind::LoginFailed, "rate limited");
        return Ok((AuthDecision::Reject("too many failed logins; try again later".into()), None));
    }
    let store = state.store.clone();
    let allow_registration = state.limits.allow_registration;
    let checkers = state.logins.checkers.get_or_init(Checkers::start);
    let (kind, outcome) = checkers
        .run(move || -> Result<(AuditKind, Result<Option<UserInfo>, String>)> {
            Ok(match request {
                AuthRequest::Password { username, password } => {
                    (AuditKind::Login, Ok(store.verify_password(&username, &password)?))
                }
                AuthRequest::PublicKey { username, key } => (AuditKind::Login, Ok(store.key_login(&username, &key)?)),
                AuthRequest::Register { username, password, key, invite } => {
                    let registered = match (&invite, allow_registration) {
                        (Some(token), _) => {
                            Some(store.register_with_invite(&username, password.as_ref(), key.as_ref(), token.expose()))
                        }
                        (None, true) => Some(store.register(&username, password.as_ref(), key.as_ref())),
                        (None, false) => None,
                    };
                    match registered {
                        None => (AuditKind::Register, Err(REGISTRATION_CLOSED.to_owned())),
                        Some(Ok(user)) => (AuditKind::Register, Ok(Some(user))),
                        Some(Err(e)) => (AuditKind::Register, Err(format!("registration failed: {e}"))),
                    }
                }
                AuthRequest::Anonymous => (AuditKind::Login, Err("this server needs an account".to_owned())),
            })
        })
        .await??;
    let name = username.as_ref().map(|u| u.as_str());
    match outcome {
        Ok(Some(user)) => {
            audit(state, peer, name, kind, "ok");
            Ok((AuthDecision::Accept(ClientId(user.client_id.0)), Some(user)))
        }
        Ok(None) => {
            state.logins.record_failure(&keys);
            audit(state, peer, name, AuditKind::LoginFailed, "bad credentials");
            Ok((AuthDecision::Reject(LOGIN_FAILED.into()), None))
        }
        Err(message) => {
            audit(state, peer, name, kind, &message);
            Ok((AuthDecision::Reject(message), None))
        }
    }
}

fn audit(state: &ServerState, peer: SocketAddr, user: Option<&str>, kind: AuditKind, outcome: &str) {
    tracing::info!(target: "audit", %peer, user = user.unwrap_or("-"), event = kind.as_str(), outcome);
    let mut event = AuditEvent::new(kind, outcome).remote(peer);
    if let Some(user) = user {
        event = event.user(user);
    }
    if let Err(e) = state.store.audit(&event) {
        tracing::warn!(error = %e, "could not write the audit log");
    }
}
