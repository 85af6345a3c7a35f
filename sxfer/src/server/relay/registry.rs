//! Who is waiting on which nameplate, how many relays run, and how often
//! each source has claimed a nameplate lately.
//!
//! A nameplate is a small random number: drawn from 1..=99 while few are in
//! use, from a range ten times larger whenever a tenth of the current one
//! is taken, so a guess rarely hits a live one by luck and the claims limit
//! bounds how many guesses a source gets. A nameplate is not given out
//! again while it is waiting or relaying, nor for one TTL after it expired
//! (so a late joiner hears "expired", not a stranger's relay).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand_core::{OsRng, RngCore};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::{Joiner, RelayLimits};
use crate::server::admission;
use sxfer_proto::msgs::app::error_code;
use sxfer_proto::msgs::relay::{Nameplate, MAX_NAMEPLATE};

/// Expired nameplates remembered at most (the oldest are forgotten first).
const MAX_EXPIRED: usize = 4096;
/// Sources whose claims are counted at most.
const MAX_SOURCES: usize = 16 * 1024;
const CLAIM_WINDOW: Duration = Duration::from_secs(60);

/// The relay registry of one server.
pub struct Relays {
    pub limits: RelayLimits,
    /// `max_relays`, within what a semaphore can count.
    capacity: usize,
    slots: Arc<Semaphore>,
    inner: Mutex<Registry>,
}

/// Why a request was refused: an Error code and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    pub message: String,
}

/// A nameplate held by its creator, with its relay slot. Dropping it frees
/// the nameplate (an expired one is remembered as expired for a while).
pub struct Claim {
    relays: Arc<Relays>,
    pub nameplate: Nameplate,
    pub expires: Instant,
    /// Whoever joins arrives here.
    pub joined: oneshot::Receiver<Box<Joiner>>,
    _slot: OwnedSemaphorePermit,
    expired: bool,
}

/// The way to the creator of a nameplate, for its joiner.
pub struct Pairing {
    pub nameplate: Nameplate,
    creator: oneshot::Sender<Box<Joiner>>,
}

#[derive(Default)]
struct Registry {
    plates: HashMap<Nameplate, Plate>,
    /// Expired nameplates, oldest first, until when they stay reserved.
    expired: VecDeque<(Nameplate, Instant)>,
    claims: HashMap<IpAddr, Window>,
}

enum Plate {
    Waiting(oneshot::Sender<Box<Joiner>>),
    Paired,
    Expired,
}

struct Window {
    start: Instant,
    count: u32,
}

impl Relays {
    pub fn new(limits: RelayLimits) -> Arc<Relays> {
        let capacity = limits.max_relays.min(Semaphore::MAX_PERMITS);
        Arc::new(Relays { capacity, slots: Arc::new(Semaphore::new(capacity)), limits, inner: Mutex::default() })
    }

    /// A nameplate and a relay slot for a creator at `address`.
    pub fn create(self: &Arc<Self>, address: IpAddr) -> Result<Claim, Refusal> {
        let now = Instant::now();
        let mut registry = self.lock();
        registry.count_claim(address, now, self.limits.claims_per_minute)?;
        let slot = self.slots.clone().try_acquire_owned().map_err(|_| Refusal {
            code: error_code::LIMIT,
            message: "the server is relaying as many sessions as it allows; try again later".to_owned(),
        })?;
        registry.forget_expired(now);
        let nameplate = registry.free_nameplate();
        let (creator, joined) = oneshot::channel();
        registry.plates.insert(nameplate, Plate::Waiting(creator));
        Ok(Claim {
            relays: self.clone(),
            nameplate,
            expires: now + self.limits.nameplate_ttl,
            joined,
            _slot: slot,
            expired: false,
        })
    }

    /// The way to the creator of `nameplate`, for a joiner at `address`.
    pub fn join(&self, address: IpAddr, nameplate: Nameplate) -> Result<Pairing, Refusal> {
        let now = Instant::now();
        let mut registry = self.lock();
        registry.count_claim(address, now, self.limits.claims_per_minute)?;
        registry.forget_expired(now);
        let refused = |code, message: String| Err(Refusal { code, message });
        match registry.plates.get_mut(&nameplate) {
            None => refused(error_code::NOT_FOUND, format!("no rendezvous has nameplate {nameplate}")),
            Some(Plate::Expired) => refused(error_code::EXPIRED, format!("nameplate {nameplate} has expired")),
            Some(Plate::Paired) => {
                refused(error_code::EXISTS, format!("someone has already joined nameplate {nameplate}"))
            }
            Some(plate @ Plate::Waiting(_)) => match std::mem::replace(plate, Plate::Paired) {
                Plate::Waiting(creator) => Ok(Pairing { nameplate, creator }),
                _ => unreachable!("matched as waiting"),
            },
        }
    }

    /// Relays running or waiting.
    pub fn active(&self) -> usize {
        self.capacity - self.slots.available_permits()
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // Plain bookkeeping, consistent after every statement.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Claim {
    /// Nobody joined in time: the nameplate is remembered as expired.
    pub fn expire(mut self) {
        self.expired = true;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut registry = self.relays.lock();
        if self.expired {
            registry.plates.insert(self.nameplate, Plate::Expired);
            let until = Instant::now() + self.relays.limits.nameplate_ttl;
            registry.expired.push_back((self.nameplate, until));
        } else {
            registry.plates.remove(&self.nameplate);
        }
    }
}

impl Pairing {
    /// Hand the joiner's session to the creator; it comes back if the
    /// creator has gone meanwhile.
    pub fn hand_over(self, joiner: Box<Joiner>) -> Result<(), Box<Joiner>> {
        self.creator.send(joiner)
    }
}

impl Registry {
    /// Count one claim by `address`'s source, or refuse it over the limit.
    fn count_claim(&mut self, address: IpAddr, now: Instant, per_minute: u32) -> Result<(), Refusal> {
        let source = admission::source(address);
        if !self.claims.contains_key(&source) && self.claims.len() >= MAX_SOURCES {
            self.claims.retain(|_, window| now.duration_since(window.start) < CLAIM_WINDOW);
            if self.claims.len() >= MAX_SOURCES {
                let oldest = self.claims.iter().min_by_key(|(_, window)| window.start).map(|(source, _)| *source);
                if let Some(oldest) = oldest {
                    self.claims.remove(&oldest);
                }
            }
        }
        let window = self.claims.entry(source).or_insert(Window { start: now, count: 0 });
        if now.duration_since(window.start) >= CLAIM_WINDOW {
            *window = Window { start: now, count: 0 };
        }
        if window.count >= per_minute {
            let wait = CLAIM_WINDOW.saturating_sub(now.duration_since(window.start)).as_secs() + 1;
            return Err(Refusal {
                code: error_code::LIMIT,
                message: format!("too many rendezvous requests from this address; try again in {wait} s"),
            });
        }
        window.count += 1;
        Ok(())
    }

    fn forget_expired(&mut self, now: Instant) {
        while let Some(&(nameplate, until)) = self.expired.front() {
            if until > now && self.expired.len() <= MAX_EXPIRED {
                break;
            }
            self.expired.pop_front();
            if matches!(self.plates.get(&nameplate), Some(Plate::Expired)) {
                self.plates.remove(&nameplate);
            }
        }
    }

    /// A random nameplate not in use, from a range at least ten times the
    /// number in use.
    fn free_nameplate(&self) -> Nameplate {
        let mut range: u32 = 99;
        loop {
            if range >= MAX_NAMEPLATE || (self.plates.len() as u64 + 1) * 10 <= u64::from(range) {
                for _ in 0..64 {
                    let value = OsRng.next_u32() % range + 1;
                    if let Some(nameplate) = Nameplate::new(value).filter(|n| !self.plates.contains_key(n)) {
                        return nameplate;
                    }
                }
            }
            if range >= MAX_NAMEPLATE {
                // Unreachable in practice (at most `max_relays` plus
                // MAX_EXPIRED are in use); scan for the first free one.
                let free = (1..=MAX_NAMEPLATE).filter_map(Nameplate::new).find(|n| !self.plates.contains_key(n));
                return free.unwrap_or_else(|| Nameplate::new(1).expect("1 is a nameplate"));
            }
            range = range.saturating_mul(10).saturating_add(9).min(MAX_NAMEPLATE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relays(max_relays: usize, claims_per_minute: u32) -> Arc<Relays> {
        Relays::new(RelayLimits { max_relays, claims_per_minute, ..RelayLimits::default() })
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[tokio::test]
    async fn a_nameplate_pairs_once_and_is_freed_with_its_claim() {
        let relays = relays(4, 100);
        let claim = relays.create(ip("10.0.0.1")).unwrap();
        let nameplate = claim.nameplate;
        assert!((1..=99).contains(&nameplate.get()), "few in use: two digits at most");
        assert_eq!(relays.active(), 1);
        let pairing = relays.join(ip("10.0.0.2"), nameplate).unwrap();
        let second = relays.join(ip("10.0.0.3"), nameplate).err().unwrap();
        assert_eq!(second.code, error_code::EXISTS, "{second:?}");
        drop(pairing);
        drop(claim);
        assert_eq!(relays.active(), 0);
        let gone = relays.join(ip("10.0.0.2"), nameplate).err().unwrap();
        assert_eq!(gone.code, error_code::NOT_FOUND);
    }

    #[tokio::test]
    async fn an_expired_nameplate_says_so_and_is_not_reused() {
        let relays = relays(200, 1000);
        let claim = relays.create(ip("10.0.0.1")).unwrap();
        let nameplate = claim.nameplate;
        claim.expire();
        assert_eq!(relays.join(ip("10.0.0.2"), nameplate).err().unwrap().code, error_code::EXPIRED);
        let claims: Vec<Claim> = (0..150).map(|_| relays.create(ip("10.0.0.1")).unwrap()).collect();
        assert!(claims.iter().all(|c| c.nameplate != nameplate), "not given out again while reserved");
        let mut distinct: Vec<u32> = claims.iter().map(|c| c.nameplate.get()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 150, "no live nameplate twice");
        assert!(claims.iter().any(|c| c.nameplate.get() > 99), "the range grew with use");
    }

    #[test]
    fn the_relay_cap_and_the_claims_limit_refuse_with_limit() {
        let relays = relays(1, 3);
        let held = relays.create(ip("10.0.0.1")).unwrap();
        assert_eq!(relays.create(ip("10.0.0.1")).err().unwrap().code, error_code::LIMIT, "one relay at most");
        drop(held);
        let third = relays.create(ip("10.0.0.1")).unwrap();
        drop(third);
        let refused = relays.create(ip("10.0.0.1")).err().unwrap();
        assert_eq!(refused.code, error_code::LIMIT, "three claims a minute");
        assert!(refused.message.contains("too many"), "{refused:?}");
        let missing = Nameplate::new(5).unwrap();
        assert_eq!(relays.join(ip("10.0.0.1"), missing).err().unwrap().code, error_code::LIMIT, "joins count too");
        // Another source has its own allowance; one IPv6 /64 is one source.
        assert_eq!(relays.join(ip("10.0.0.2"), missing).err().unwrap().code, error_code::NOT_FOUND);
        for _ in 0..3 {
            relays.join(ip("2001:db8::1"), missing).err().unwrap();
        }
        assert_eq!(relays.join(ip("2001:db8::2"), missing).err().unwrap().code, error_code::LIMIT);
    }
}
