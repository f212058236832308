//! The one clock that every expiry in the harness reads.
//!
//! The reference server and the runner take a [`Clock`] as a parameter, so that expiry
//! (a 10-minute authorization code, a 30-minute device code, a 5-second polling interval)
//! is tested by *moving* the clock, never by sleeping (STYLE.md §6).
//!
//! A clock is real time plus an offset that only grows. Real time keeps flowing, so a
//! real client that sleeps between polls (the seed's bash script) is seen as well-behaved;
//! the offset lets a harness skip 1800 seconds in one call. A *frozen* clock ignores real
//! time altogether, for unit tests that must be exact to the millisecond. A *scaled*
//! clock runs real time N times faster, so a load profile that obeys a 5-second polling
//! interval in server time finishes a device's life in seconds (both sides agree on the
//! scale; `oauth-harness serve --time-scale N`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A point in server time: milliseconds since the clock was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// Milliseconds since the clock's start.
    pub(crate) fn as_millis(self) -> u64 {
        self.0
    }

    /// The instant `ms` milliseconds after the clock's start.
    pub(crate) fn from_millis(ms: u64) -> Timestamp {
        Timestamp(ms)
    }

    /// This instant moved forward by `d` (saturating).
    pub(crate) fn plus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration_ms(d)))
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Debug)]
struct Inner {
    started: Instant,
    wall_at_start: SystemTime,
    offset_ms: AtomicU64,
    /// Server milliseconds per real millisecond; 0 means frozen.
    rate: u64,
}

/// Shared, cheaply cloned clock. Clones observe the same time.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: Arc<Inner>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    /// Real time (plus whatever [`Clock::advance`] adds).
    pub(crate) fn system() -> Self {
        Self::new(1)
    }

    /// Time that moves only through [`Clock::advance`].
    pub fn frozen() -> Self {
        Self::new(0)
    }

    /// Real time run `rate` times faster (1 is [`Clock::system`], 0 is [`Clock::frozen`]).
    pub fn scaled(rate: u32) -> Self {
        Self::new(u64::from(rate))
    }

    /// Server seconds per real second (0 when frozen).
    pub fn rate(&self) -> u32 {
        u32::try_from(self.inner.rate).unwrap_or(u32::MAX)
    }

    fn new(rate: u64) -> Self {
        Clock {
            inner: Arc::new(Inner {
                started: Instant::now(),
                wall_at_start: SystemTime::now(),
                offset_ms: AtomicU64::new(0),
                rate,
            }),
        }
    }

    /// Whether the clock is the wall clock (never scaled, frozen or advanced).
    pub(crate) fn is_real_time(&self) -> bool {
        self.inner.rate == 1 && self.inner.offset_ms.load(Ordering::Acquire) == 0
    }

    /// The current instant.
    pub fn now(&self) -> Timestamp {
        // From microseconds, so that a scaled clock rounds once, not `rate` times.
        let micros = u64::try_from(self.inner.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let real = micros.saturating_mul(self.inner.rate) / 1000;
        Timestamp(real.saturating_add(self.inner.offset_ms.load(Ordering::Acquire)))
    }

    /// Moves the clock forward. Time never goes back.
    pub fn advance(&self, d: Duration) {
        self.inner
            .offset_ms
            .fetch_add(duration_ms(d), Ordering::AcqRel);
    }

    /// Now, in seconds since the Unix epoch (what a JWT's `iat` says).
    pub fn unix_now(&self) -> u64 {
        self.unix_seconds(self.now())
    }

    /// Seconds since the Unix epoch at `t`, for wire fields such as `client_id_issued_at`.
    pub(crate) fn unix_seconds(&self, t: Timestamp) -> u64 {
        let base = self
            .inner
            .wall_at_start
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        base + t.as_millis() / 1000
    }

    /// The real (wall-clock) moment at which this clock read `t`, for a clock never
    /// advanced by hand (a client scenario's): `t` less the offset, divided by the rate.
    pub(crate) fn wall_time(&self, t: Timestamp) -> SystemTime {
        let ms = t
            .as_millis()
            .saturating_sub(self.inner.offset_ms.load(Ordering::Acquire));
        let rate = self.inner.rate.max(1);
        self.inner.wall_at_start + Duration::from_micros(ms.saturating_mul(1000) / rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_advanced() {
        let c = Clock::frozen();
        assert_eq!(c.now(), Timestamp(0));
        c.advance(Duration::from_secs(1800));
        assert_eq!(c.now().as_millis(), 1_800_000);
        let clone = c.clone();
        clone.advance(Duration::from_millis(5));
        assert_eq!(c.now().as_millis(), 1_800_005);
    }

    #[test]
    fn scaled_clock_runs_faster_than_real_time() {
        let c = Clock::scaled(1000);
        assert_eq!(c.rate(), 1000);
        let start = Instant::now();
        // This test is about the coupling to real time itself, so it lets some pass.
        std::thread::sleep(Duration::from_millis(3));
        let real = duration_ms(start.elapsed());
        assert!(
            c.now().as_millis() >= real * 1000,
            "{:?} after {real} ms",
            c.now()
        );
    }

    #[test]
    fn system_clock_adds_offset_to_real_time() {
        let c = Clock::system();
        let before = c.now();
        c.advance(Duration::from_secs(600));
        assert!(c.now().since(before) >= Duration::from_secs(600));
    }
}
