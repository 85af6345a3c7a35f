//! Checking credentials against the account store, with login throttling.
//!
//! A failed login says only "login failed", whichever part was wrong, and
//! costs the same argon2 verification whether or not the user exists (the
//! store verifies against a dummy hash).
//!
//! Only password logins are throttled, as sshd with fail2ban behaves:
//! failures are counted per (user, source address) and, with a higher
//! allowance, per source address; past the allowance each further failure
//! doubles the time during which that pair (or address) is refused without
//! a check. A key login proves possession of a private key and costs no
//! argon2, so password failures never block it, and nobody can lock Alice
//! out by guessing her password from elsewhere. The table is bounded: quiet
//! entries are forgotten, and when it is full the mildest entry goes.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{mpsc, Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use super::admission;
use super::relay::RelayMode;
use super::ServerState;
use crate::net::conn::AuthDecision;
use crate::store::{AuditEvent, AuditKind, UserInfo};
use sxfer_proto::handshake::AuthRequest;
use sxfer_proto::msgs::{ClientId, Username};

pub const LOGIN_FAILED: &str = "login failed";
pub const TOO_MANY_FAILURES: &str = "too many failed logins";
const REGISTRATION_CLOSED: &str = "registration is disabled on this server (ask its operator for an invite)";

/// Password failures one user may have from one source before backoff.
const FREE_PER_USER: u32 = 5;
/// Password failures one source may have, over all user names, before backoff.
const FREE_PER_SOURCE: u32 = 50;
/// The refusal after the first failure past the allowance; each further
/// failure doubles it, up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// An entry is forgotten this long after its last refusal period ended.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Most (user, source) and source entries kept.
const MAX_TRACKED: usize = 16 * 1024;

/// Throttles password logins and runs the credential checks.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<Failures>,
    checkers: OnceLock<Checkers>,
}

/// Who a session is for.
pub enum Client {
    Account(UserInfo),
    /// ClientAuth method anonymous, accepted only where the relay is open
    /// (and then good for nothing but a relay request).
    Anonymous,
}

/// The server's answer to one authentication request.
pub async fn authorize(state: &ServerState, peer: SocketAddr, request: AuthRequest) -> Result<AuthDecision<Client>> {
    if matches!(request, AuthRequest::Anonymous) && state.limits.relay.mode == RelayMode::Open {
        audit(state, peer, None, AuditKind::Login, "ok (anonymous)").await;
        return Ok(AuthDecision::Accept(ClientId([0; 16]), Client::Anonymous));
    }
    let username = match &request {
        AuthRequest::Password { username, .. }
        | AuthRequest::PublicKey { username, .. }
        | AuthRequest::Register { username, .. } => Some(username.clone()),
        AuthRequest::Anonymous | AuthRequest::Pake => None,
    };
    let name = username.as_ref().map(Username::as_str);
    let throttled = match &request {
        AuthRequest::Password { username, .. } => Some(Key::for_password(username, peer.ip())),
        _ => None,
    };
    if let Some(keys) = &throttled {
        if let Some(wait) = state.logins.refused_for(keys, Instant::now()) {
            audit(state, peer, name, AuditKind::LoginFailed, "rate limited").await;
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Ok(AuthDecision::Reject(format!("{TOO_MANY_FAILURES}; try again in {seconds} s")));
        }
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
                // A peer's short code means nothing to the file server.
                AuthRequest::Anonymous | AuthRequest::Pake => {
                    (AuditKind::Login, Err("this server needs an account".to_owned()))
                }
            })
        })
        .await??;
    match outcome {
        Ok(Some(user)) => {
            if let Some([user_at_source, _]) = &throttled {
                state.logins.forgive(user_at_source);
            }
            audit(state, peer, name, kind, "ok").await;
            Ok(AuthDecision::Accept(ClientId(user.client_id.0), Client::Account(user)))
        }
        Ok(None) => {
            if let Some(keys) = &throttled {
                state.logins.record_failure(keys, Instant::now());
            }
            audit(state, peer, name, AuditKind::LoginFailed, "bad credentials").await;
            Ok(AuthDecision::Reject(LOGIN_FAILED.into()))
        }
        Err(message) => {
            audit(state, peer, name, kind, &message).await;
            Ok(AuthDecision::Reject(message))
        }
    }
}

/// Log the event and write its audit row on a blocking thread.
async fn audit(state: &ServerState, peer: SocketAddr, user: Option<&str>, kind: AuditKind, outcome: &str) {
    tracing::info!(target: "audit", %peer, user = user.unwrap_or("-"), event = kind.as_str(), outcome);
    let mut event = AuditEvent::new(kind, outcome).remote(peer);
    if let Some(user) = user {
        event = event.user(user);
    }
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.audit(&event)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not write the audit log"),
        Err(e) => tracing::warn!(error = %e, "the audit task failed"),
    }
}

/// What a password failure counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    UserAt(Username, IpAddr),
    Source(IpAddr),
}

impl Key {
    /// The (user, source) entry first, then the source's.
    fn for_password(username: &Username, address: IpAddr) -> [Key; 2] {
        let source = admission::source(address);
        [Key::UserAt(username.clone(), source), Key::Source(source)]
    }

    fn allowance(&self) -> u32 {
        match self {
            Key::UserAt(..) => FREE_PER_USER,
            Key::Source(_) => FREE_PER_SOURCE,
        }
    }
}

#[derive(Default)]
struct Failures {
    entries: HashMap<Key, Record>,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    /// Refused without a check until then (the last failure's time while
    /// within the allowance).
    until: Instant,
}

impl Record {
    fn forgotten(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.until) >= FORGET_AFTER
    }
}

impl LoginLimiter {
    /// How much longer password logins under `keys` are refused, if they are.
    fn refused_for(&self, keys: &[Key], now: Instant) -> Option<Duration> {
        let failures = self.lock();
        keys.iter()
            .filter_map(|key| failures.entries.get(key))
            .map(|record| record.until.saturating_duration_since(now))
            .filter(|wait| !wait.is_zero())
            .max()
    }

    fn record_failure(&self, keys: &[Key], now: Instant) {
        let mut failures = self.lock();
        for key in keys {
            if !failures.entries.contains_key(key) && failures.entries.len() >= MAX_TRACKED {
                failures.make_room(now);
            }
            let record = failures.entries.entry(key.clone()).or_insert(Record { failures: 0, until: now });
            if record.forgotten(now) {
                record.failures = 0;
            }
            record.failures = record.failures.saturating_add(1);
            record.until = now + backoff(record.failures, key.allowance());
        }
    }

    fn forgive(&self, key: &Key) {
        self.lock().entries.remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Failures> {
        // Counters only: consistent after every statement.
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Failures {
    /// Forget quiet entries; if that frees nothing, the mildest eighth (the
    /// refusals that end first), so a full table costs one scan per
    /// `MAX_TRACKED / 8` new entries.
    fn make_room(&mut self, now: Instant) {
        self.entries.retain(|_, record| !record.forgotten(now));
        if self.entries.len() >= MAX_TRACKED {
            let mut by_end: Vec<(Instant, Key)> =
                self.entries.iter().map(|(key, record)| (record.until, key.clone())).collect();
            let cut = by_end.len() / 8;
            by_end.select_nth_unstable_by_key(cut, |(until, _)| *until);
            for (_, key) in &by_end[..=cut] {
                self.entries.remove(key);
            }
        }
    }
}

/// How long logins are refused after the `failures`th failure.
fn backoff(failures: u32, allowance: u32) -> Duration {
    match failures.checked_sub(allowance) {
        None => Duration::ZERO,
        Some(past) => FIRST_BACKOFF.saturating_mul(1 << past.min(20)).min(MAX_BACKOFF),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(user: &str, address: &str) -> [Key; 2] {
        Key::for_password(&Username::parse(user).unwrap(), address.parse().unwrap())
    }

    #[test]
    fn backoff_starts_after_the_allowance_and_doubles() {
        let limiter = LoginLimiter::default();
        let alice = keys("alice", "192.0.2.1");
        let mut now = Instant::now();
        for _ in 0..FREE_PER_USER - 1 {
            limiter.record_failure(&alice, now);
            assert_eq!(limiter.refused_for(&alice, now), None, "within the allowance");
        }
        let mut expected = FIRST_BACKOFF;
        for _ in 0..12 {
            limiter.record_failure(&alice, now);
            assert_eq!(limiter.refused_for(&alice, now), Some(expected));
            assert!(limiter.refused_for(&alice, now + expected).is_none(), "over when it says");
            now += expected;
            expected = (expected * 2).min(MAX_BACKOFF);
        }
        assert_eq!(limiter.refused_for(&alice, now - MAX_BACKOFF), Some(MAX_BACKOFF), "capped");
        // Quiet long enough, the count starts again.
        now += FORGET_AFTER;
        limiter.record_failure(&alice, now);
        assert_eq!(limiter.refused_for(&alice, now), None);
    }

    #[test]
    fn failures_count_per_user_and_source() {
        let limiter = LoginLimiter::default();
        let now = Instant::now();
        for _ in 0..FREE_PER_USER {
            limiter.record_failure(&keys("alice", "192.0.2.1"), now);
        }
        assert!(limiter.refused_for(&keys("alice", "192.0.2.1"), now).is_some());
        assert!(limiter.refused_for(&keys("alice", "192.0.2.2"), now).is_none(), "another address");
        assert!(limiter.refused_for(&keys("bob", "192.0.2.1"), now).is_none(), "another user");
        // Addresses in one IPv6 /64 are one source.
        for _ in 0..FREE_PER_USER {
            limiter.record_failure(&keys("carol", "2001:db8::1"), now);
        }
        assert!(limiter.refused_for(&keys("carol", "2001:db8::ffff:2"), now).is_some());
        // Spraying many user names from one source runs into its own allowance.
        for i in 0..FREE_PER_SOURCE {
            limiter.record_failure(&keys(&format!("user{i}"), "198.51.100.7"), now);
        }
        assert!(limiter.refused_for(&keys("dave", "198.51.100.7"), now).is_some());
        limiter.forgive(&keys("alice", "192.0.2.1")[0]);
        assert!(limiter.refused_for(&keys("alice", "192.0.2.1"), now).is_none());
    }

    #[test]
    fn the_table_is_bounded() {
        let limiter = LoginLimiter::default();
        let now = Instant::now();
        for i in 0..MAX_TRACKED + 100 {
            let address = IpAddr::from((i as u32).to_be_bytes());
            limiter.record_failure(&keys("alice", &address.to_string()), now);
        }
        assert!(limiter.lock().entries.len() <= MAX_TRACKED);
    }
}
