//! Admission: which connections the server spends work on.
//!
//! Three limits, in the spirit of sshd's `MaxStartups`,
//! `PerSourceMaxStartups` and a session cap:
//!
//! * **Unauthenticated connections**: at most `max_handshakes` in all and
//!   `max_handshakes_per_address` from one source (an IPv4 address or an
//!   IPv6 /64). A new connection over either limit is never refused: the
//!   least advanced, oldest unauthenticated connection (from the same source,
//!   for the per-source limit) is dropped to make room. A flood of idle or
//!   slow sockets so cycles through the pool, while a client that completes
//!   its handshake in time gets in; the handshake deadline bounds how long
//!   anyone stays unauthenticated.
//! * **The ServerHello's signature and key encapsulation**: only after a
//!   complete ClientHello, at most one per CPU at a time, on blocking threads.
//! * **Authenticated sessions**: at most `max_connections`. A session slot is
//!   taken before the credential is checked (argon2id), and a client that
//!   finds none is refused without the check.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, SemaphorePermit};

use super::Limits;

/// The shared admission state of one server.
pub struct Admission {
    max_handshakes: usize,
    max_per_source: usize,
    pool: Mutex<Pool>,
    signing: Semaphore,
    sessions: Arc<Semaphore>,
}

/// One connection's place among the unauthenticated ones. Dropping it
/// leaves the pool.
pub struct Ticket {
    admission: Arc<Admission>,
    id: u64,
    dropped: Arc<Notify>,
}

/// How far an unauthenticated connection has come; the least advanced go
/// first when room is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// Accepted; no complete ClientHello yet.
    Connected,
    /// ClientHello in; waiting for, or holding, a signing permit, or for
    /// the client's credential.
    Hello,
    /// Credential in, holding a session slot while it is checked.
    Authenticating,
}

#[derive(Default)]
struct Pool {
    next_id: u64,
    /// By arrival: the first entry of a stage is its oldest.
    waiting: BTreeMap<u64, Entry>,
    per_source: HashMap<IpAddr, usize>,
}

struct Entry {
    source: IpAddr,
    stage: Stage,
    dropped: Arc<Notify>,
}

impl Admission {
    pub fn new(limits: &Limits) -> Arc<Admission> {
        let signers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(Admission {
            max_handshakes: limits.max_handshakes.max(1),
            max_per_source: limits.max_handshakes_per_address.max(1),
            pool: Mutex::default(),
            signing: Semaphore::new(signers),
            sessions: Arc::new(Semaphore::new(limits.max_connections)),
        })
    }

    /// Take a new connection from `address` into the unauthenticated pool,
    /// dropping others to make room (they see [`Ticket::dropped`]).
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Ticket {
        let source = source(address);
        let mut pool = self.lock();
        if pool.per_source.get(&source).is_some_and(|&count| count >= self.max_per_source) {
            pool.drop_one(Some(source));
        }
        if pool.waiting.len() >= self.max_handshakes {
            pool.drop_one(None);
        }
        let id = pool.next_id;
        pool.next_id += 1;
        let dropped = Arc::new(Notify::new());
        pool.waiting.insert(id, Entry { source, stage: Stage::Connected, dropped: dropped.clone() });
        *pool.per_source.entry(source).or_default() += 1;
        Ticket { admission: self.clone(), id, dropped }
    }

    /// Drop the least advanced, oldest unauthenticated connection, if any
    /// (the server is out of file descriptors).
    pub fn shed(&self) {
        self.lock().drop_one(None);
    }

    fn lock(&self) -> MutexGuard<'_, Pool> {
        // The pool is plain bookkeeping, consistent after every statement.
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Ticket {
    /// The ClientHello is in: wait for a permit to answer it (sign, encapsulate).
    pub async fn hello(&self) -> anyhow::Result<SemaphorePermit<'_>> {
        self.set_stage(Stage::Hello);
        Ok(self.admission.signing.acquire().await?)
    }

    /// The credential is in: a session slot to check it under, or `None`
    /// when the server is at its session limit.
    pub fn authenticating(&self) -> Option<OwnedSemaphorePermit> {
        self.set_stage(Stage::Authenticating);
        self.admission.sessions.clone().try_acquire_owned().ok()
    }

    /// The client is in: leave the unauthenticated pool (it can no longer
    /// be dropped to make room).
    pub fn authenticated(&self) {
        self.admission.lock().remove(self.id);
    }

    /// Resolves when the connection was dropped to make room for another.
    pub async fn dropped(&self) {
        self.dropped.notified().await;
    }

    fn set_stage(&self, stage: Stage) {
        if let Some(entry) = self.admission.lock().waiting.get_mut(&self.id) {
            entry.stage = stage;
        }
    }

    /// Whether this connection still holds its place in the pool.
    #[cfg(test)]
    fn waiting(&self) -> bool {
        self.admission.lock().waiting.contains_key(&self.id)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.lock().remove(self.id);
    }
}

impl Pool {
    /// Drop the least advanced, oldest connection (from `source`, if given).
    fn drop_one(&mut self, source: Option<IpAddr>) {
        let mut victim: Option<(Stage, u64)> = None;
        for (&id, entry) in &self.waiting {
            if source.is_some_and(|source| source != entry.source) {
                continue;
            }
            if victim.is_none_or(|(stage, _)| entry.stage < stage) {
                victim = Some((entry.stage, id));
                if entry.stage == Stage::Connected {
                    break;
                }
            }
        }
        if let Some(entry) = victim.and_then(|(_, id)| self.remove(id)) {
            tracing::debug!(source = %entry.source, stage = ?entry.stage, per_source = source.is_some(),
                "dropping an unauthenticated connection to make room");
            entry.dropped.notify_one();
        }
    }

    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.waiting.remove(&id)?;
        if let Some(count) = self.per_source.get_mut(&entry.source) {
            *count -= 1;
            if *count == 0 {
                self.per_source.remove(&entry.source);
            }
        }
        Some(entry)
    }
}

/// The source a limit counts against: an IPv4 address (also when mapped
/// into IPv6), or an IPv6 /64, the smallest block one host is given.
pub fn source(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u64::MAX as u128))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(max_handshakes: usize, per_address: usize, sessions: usize) -> Arc<Admission> {
        Admission::new(&Limits {
            max_handshakes,
            max_handshakes_per_address: per_address,
            max_connections: sessions,
            ..Limits::default()
        })
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[tokio::test]
    async fn a_full_pool_drops_the_least_advanced_oldest_connection() {
        let admission = admission(3, 10, 10);
        let first = admission.admit(ip("10.0.0.1"));
        let second = admission.admit(ip("10.0.0.2"));
        let third = admission.admit(ip("10.0.0.3"));
        drop(first.hello().await.unwrap());
        let fourth = admission.admit(ip("10.0.0.4"));
        assert!(first.waiting(), "a connection past its hello outranks idle ones");
        assert!(!second.waiting(), "the oldest idle connection made room");
        assert!(third.waiting() && fourth.waiting());
        second.dropped().await; // told to go
        let _fifth = admission.admit(ip("10.0.0.5"));
        assert!(!third.waiting());
        assert!(first.waiting() && fourth.waiting());
    }

    #[test]
    fn the_per_source_limit_drops_only_that_sources_connections() {
        let admission = admission(100, 2, 10);
        let other = admission.admit(ip("10.0.0.9"));
        let a = admission.admit(ip("10.0.0.1"));
        let b = admission.admit(ip("10.0.0.1"));
        let c = admission.admit(ip("10.0.0.1"));
        assert!(!a.waiting() && b.waiting() && c.waiting() && other.waiting());
        // One IPv6 /64 is one source; an IPv4-mapped address is its IPv4 one.
        let v6 = admission.admit(ip("2001:db8:1:2::1"));
        let _v6b = admission.admit(ip("2001:db8:1:2:ffff::7"));
        let _v6c = admission.admit(ip("2001:db8:1:2:abcd::1"));
        assert!(!v6.waiting());
        let _mapped = admission.admit(ip("::ffff:10.0.0.9"));
        let _mapped2 = admission.admit(ip("::ffff:10.0.0.9"));
        assert!(!other.waiting());
    }

    #[test]
    fn leaving_frees_the_place_and_authenticated_clients_are_never_dropped() {
        let admission = admission(2, 2, 1);
        let a = admission.admit(ip("10.0.0.1"));
        let permit = a.authenticating().expect("a session slot");
        a.authenticated();
        let b = admission.admit(ip("10.0.0.1"));
        let c = admission.admit(ip("10.0.0.1"));
        assert!(b.waiting() && c.waiting(), "an authenticated client holds no place");
        assert!(c.authenticating().is_none(), "the one session slot is taken");
        drop(permit);
        assert!(c.authenticating().is_some());
        drop(b);
        assert_eq!(admission.lock().per_source.get(&ip("10.0.0.1")), Some(&1));
        drop(c);
        assert!(admission.lock().per_source.is_empty() && admission.lock().waiting.is_empty());
    }
}
