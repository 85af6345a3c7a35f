//! Copy two raw streams into each other until both ends are done or a
//! limit cuts them: the total byte cap (both directions together), no byte
//! either way for the idle timeout, the total timeout, or shutdown. The
//! relay only copies; what it copies is the peers' own SXFR/1 session,
//! which it cannot read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::net::conn::{ReadStream, WriteStream};
use crate::net::raw::RawStream;

/// Bytes read and written at a time in each direction.
const CHUNK: usize = 256 * 1024;

/// The limits one relay runs under.
#[derive(Debug, Clone, Copy)]
pub struct SpliceLimits {
    pub max_bytes: u64,
    pub idle_timeout: Duration,
    pub total_timeout: Duration,
}

/// How a relay went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spliced {
    /// Bytes from the creator to the joiner, and back.
    pub to_joiner: u64,
    pub to_creator: u64,
    pub duration: Duration,
    pub end: End,
}

/// Why a relay ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Both peers closed their side.
    Closed,
    ByteCap,
    IdleTimeout,
    TotalTimeout,
    ShuttingDown,
    /// A read or write failed (a reset, a broken pipe): on whose side, and why.
    Failed(&'static str, String),
}

impl End {
    /// The audit outcome.
    pub fn as_outcome(&self) -> String {
        match self {
            End::Closed => "closed".to_owned(),
            End::ByteCap => "byte cap".to_owned(),
            End::IdleTimeout => "idle timeout".to_owned(),
            End::TotalTimeout => "total timeout".to_owned(),
            End::ShuttingDown => "shutting down".to_owned(),
            End::Failed(side, error) => format!("{side} failed: {error}"),
        }
    }
}

/// Relay `creator` and `joiner` (each with the bytes already read from it)
/// until they are done or cut. Cutting drops both connections.
pub async fn splice(
    creator: RawStream,
    joiner: RawStream,
    limits: SpliceLimits,
    stopping: &mut watch::Receiver<bool>,
) -> Spliced {
    let start = Instant::now();
    let meter = Meter { start, cap: limits.max_bytes, total: AtomicU64::new(0), last_ms: AtomicU64::new(0) };
    let (to_joiner, to_creator) = (AtomicU64::new(0), AtomicU64::new(0));
    let (creator_read, creator_leftover, creator_write) = creator.into_parts();
    let (joiner_read, joiner_leftover, joiner_write) = joiner.into_parts();
    let both = async {
        tokio::try_join!(
            pump(creator_read, creator_leftover, joiner_write, &meter, &to_joiner, ["creator", "joiner"]),
            pump(joiner_read, joiner_leftover, creator_write, &meter, &to_creator, ["joiner", "creator"]),
        )
    };
    let end = tokio::select! {
        done = both => match done {
            Ok(((), ())) => End::Closed,
            Err(end) => end,
        },
        () = meter.idle_for(limits.idle_timeout) => End::IdleTimeout,
        () = tokio::time::sleep_until(start + limits.total_timeout) => End::TotalTimeout,
        _ = stopping.wait_for(|stopping| *stopping) => End::ShuttingDown,
    };
    Spliced { to_joiner: to_joiner.into_inner(), to_creator: to_creator.into_inner(), duration: start.elapsed(), end }
}

/// What both directions share: the byte budget and the last time a byte moved.
struct Meter {
    start: Instant,
    cap: u64,
    total: AtomicU64,
    last_ms: AtomicU64,
}

impl Meter {
    /// How many of `len` more bytes fit under the cap (taken from it).
    fn take(&self, len: usize) -> usize {
        let before = self.total.fetch_add(len as u64, Ordering::Relaxed);
        let room = self.cap.saturating_sub(before);
        usize::try_from(room).map_or(len, |room| room.min(len))
    }

    fn touch(&self) {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(elapsed, Ordering::Relaxed);
    }

    /// Resolves once no byte has moved for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let deadline = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// One direction: `leftover`, then everything read from `from`, into `to`;
/// at the end of `from`, shut `to`'s write side (a half close travels on).
async fn pump(
    mut from: ReadStream,
    leftover: Vec<u8>,
    mut to: WriteStream,
    meter: &Meter,
    counted: &AtomicU64,
    [source, sink]: [&'static str; 2],
) -> Result<(), End> {
    let failed = |side: &'static str| move |e: std::io::Error| End::Failed(side, e.to_string());
    let mut buf = leftover;
    let mut filled = buf.len();
    if buf.len() < CHUNK {
        buf.resize(CHUNK, 0);
    }
    loop {
        if filled == 0 {
            filled = from.read(&mut buf).await.map_err(failed(source))?;
            if filled == 0 {
                to.shutdown().await.map_err(failed(sink))?;
                return Ok(());
            }
            meter.touch();
        }
        let allowed = meter.take(filled);
        to.write_all(&buf[..allowed]).await.map_err(failed(sink))?;
        counted.fetch_add(allowed as u64, Ordering::Relaxed);
        meter.touch();
        if allowed < filled {
            return Err(End::ByteCap);
        }
        filled = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::DuplexStream;

    const LIMITS: SpliceLimits = SpliceLimits {
        max_bytes: u64::MAX,
        idle_timeout: Duration::from_secs(30),
        total_timeout: Duration::from_secs(30),
    };

    /// A raw stream over one end of a duplex pipe; the other end is the peer.
    fn raw(leftover: &[u8]) -> (RawStream, DuplexStream) {
        let (near, far) = tokio::io::duplex(1 << 16);
        let (read, write) = tokio::io::split(near);
        (RawStream::new(Box::new(read), leftover.to_vec(), Box::new(write)), far)
    }

    #[tokio::test]
    async fn bytes_and_leftovers_cross_both_ways_and_half_closes_travel() {
        let (creator, mut alice) = raw(b"early-from-alice ");
        let (joiner, mut bob) = raw(b"early-from-bob ");
        let (_stop, mut stopping) = watch::channel(false);
        let relay = tokio::spawn(async move { splice(creator, joiner, LIMITS, &mut stopping).await });
        alice.write_all(b"hello bob").await.unwrap();
        alice.shutdown().await.unwrap();
        let mut got = Vec::new();
        bob.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"early-from-alice hello bob");
        bob.write_all(b"hi alice").await.unwrap();
        bob.shutdown().await.unwrap();
        let mut got = Vec::new();
        alice.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"early-from-bob hi alice");
        let spliced = relay.await.unwrap();
        assert_eq!(spliced.end, End::Closed);
        assert_eq!((spliced.to_joiner, spliced.to_creator), (26, 23));
    }

    #[tokio::test]
    async fn the_byte_cap_counts_both_ways_and_cuts_both_sides() {
        let (creator, mut alice) = raw(b"");
        let (joiner, mut bob) = raw(b"");
        let (_stop, mut stopping) = watch::channel(false);
        let limits = SpliceLimits { max_bytes: 10, ..LIMITS };
        let relay = tokio::spawn(async move { splice(creator, joiner, limits, &mut stopping).await });
        bob.write_all(b"1234").await.unwrap();
        let mut got = [0; 4];
        alice.read_exact(&mut got).await.unwrap();
        alice.write_all(b"abcdefghij").await.unwrap();
        let spliced = relay.await.unwrap();
        assert_eq!(spliced.end, End::ByteCap);
        assert_eq!((spliced.to_joiner, spliced.to_creator), (6, 4), "exactly the cap, no more");
        let mut got = Vec::new();
        bob.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"abcdef", "then the end of the stream");
        let mut rest = Vec::new();
        assert_eq!(alice.read_to_end(&mut rest).await.unwrap(), 0, "the other side is cut too");
    }

    /// Real time, with timeouts small enough to wait for.
    #[tokio::test]
    async fn silence_and_the_total_timeout_and_shutdown_cut() {
        let (creator, _alice) = raw(b"");
        let (joiner, _bob) = raw(b"");
        let (_stop, mut stopping) = watch::channel(false);
        let limits = SpliceLimits { idle_timeout: Duration::from_millis(200), ..LIMITS };
        assert_eq!(splice(creator, joiner, limits, &mut stopping).await.end, End::IdleTimeout);

        let (creator, mut alice) = raw(b"");
        let (joiner, _bob) = raw(b"");
        let limits = SpliceLimits {
            idle_timeout: Duration::from_millis(200),
            total_timeout: Duration::from_millis(600),
            ..LIMITS
        };
        let relay = tokio::spawn(async move { splice(creator, joiner, limits, &mut stopping).await });
        // Traffic every 50 ms keeps it from idling; the total timeout still ends it.
        let talk = tokio::spawn(async move {
            while alice.write_all(b"x").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let spliced = relay.await.unwrap();
        assert_eq!(spliced.end, End::TotalTimeout);
        assert!(spliced.duration >= Duration::from_millis(600) && spliced.to_joiner >= 5, "{spliced:?}");
        talk.abort();

        let (creator, _alice) = raw(b"");
        let (joiner, _bob) = raw(b"");
        let (stop, mut stopping) = watch::channel(false);
        let relay = tokio::spawn(async move { splice(creator, joiner, LIMITS, &mut stopping).await });
        stop.send_replace(true);
        assert_eq!(relay.await.unwrap().end, End::ShuttingDown);
    }
}
