//! Whether a verdict on a scaled clock can be trusted: the client's waits, as the server
//! saw them, against the waits it took through the scaled `sleep` on its `PATH`.
//!
//! A device scenario runs first on the server's clock at ×N. The `sleep` shim logs every
//! nap it takes (real start and end, [`log_nap`]). Time the client spent outside those
//! naps is *unscaled*: its own timers (`setTimeout`, `time.sleep`, `tokio::time::sleep`),
//! its latency, its work. The server counts it N times. Two things make a scaled run
//! untrustworthy ([`unscaled`]):
//!
//! - **a gap whose verdict hangs on the scale**: the next poll came at least the required
//!   wait after the last (interval, `Retry-After`, the interval after a timed-out poll) on
//!   the server's clock, but would not have with its unscaled part counted once: a client
//!   that waits 1 s of its own clock where 5 s are due looks like 20 s at ×20. (A gap that
//!   is short even at ×N is short at ×1: scaling only lengthens, and that FAILED stands.)
//! - **a wait of its own**: the client sat more than [`IDLE`] of real time after an answer
//!   that was not final without the scaled `sleep` running. At ×N its time limit and its
//!   device code's `expires_in` then run out N times early on the server's clock (a false
//!   "never got tokens"), so nothing of the run can be judged.
//!
//! Either way the scenario is run again at real time, with the smaller intervals its
//! `real_time:` part gives, and only that run is judged.

use crate::client::judge::is_final;
use crate::clock::Clock;
use crate::server::play::DeviceLog;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The file in the client's `HOME` where the scaled `sleep` logs its naps.
pub(crate) const SLEEP_LOG: &str = ".oauth-harness-sleeps.log";

/// The longest a client may sit, after an answer that asks it to poll again, neither
/// asleep in the scaled `sleep` nor sending its next poll, before its waits are taken to
/// be its own (real time; at ×20 it is 40 s of the server's clock).
pub const IDLE: Duration = Duration::from_secs(2);

/// One nap of the scaled `sleep`, in real time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nap {
    /// When it began.
    pub start: SystemTime,
    /// When it was due to end (a nap cut short by a killed client ends no later).
    pub end: SystemTime,
}

fn micros(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros())
}

fn from_micros(us: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(us)
}

/// Appends a nap of `real` starting now to `log` (`start end` in Unix microseconds, one
/// line per nap, one write each). A log that cannot be written is not the nap's concern.
pub fn log_nap(log: &Path, real: Duration) {
    let start = SystemTime::now();
    let line = format!("{} {}\n", micros(start), micros(start + real));
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = f.write_all(line.as_bytes());
    }
}

/// The naps logged in `log` (none when there is no log; malformed lines are skipped).
pub fn naps(log: &Path) -> Vec<Nap> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (a, b) = l.split_once(' ')?;
            Some(Nap {
                start: from_micros(a.trim().parse().ok()?),
                end: from_micros(b.trim().parse().ok()?),
            })
        })
        .collect()
}

/// Seconds from `a` to `b` (0 when `b` is not later).
fn span(a: SystemTime, b: SystemTime) -> f64 {
    b.duration_since(a).map_or(0.0, |d| d.as_secs_f64())
}

/// Seconds of `[a, b]` spent in a nap.
fn asleep(naps: &[Nap], a: SystemTime, b: SystemTime) -> f64 {
    naps.iter()
        .map(|n| span(n.start.max(a), n.end.min(b)))
        .sum()
}

/// Why the run at `clock`'s rate cannot be judged, as of the real moment `now` (module
/// docs), or `None` while it can.
pub fn unscaled(
    devices: &[DeviceLog],
    naps: &[Nap],
    clock: &Clock,
    now: SystemTime,
) -> Option<String> {
    let rate = f64::from(clock.rate().max(1));
    if rate <= 1.0 {
        return None;
    }
    for log in devices {
        if let Some(why) = gap_on_the_scale(log, naps, clock, rate) {
            return Some(why);
        }
        if let Some(why) = own_wait(log, naps, clock, now) {
            return Some(why);
        }
    }
    None
}

/// The first gap between two polls whose verdict depends on counting the client's
/// unscaled time N times.
fn gap_on_the_scale(log: &DeviceLog, naps: &[Nap], clock: &Clock, rate: f64) -> Option<String> {
    for i in 1..log.polls.len() {
        let (prev, this) = (&log.polls[i - 1], &log.polls[i]);
        // From the poll before (CLIENT-1, CLIENT-18), and from the moment the client gave
        // up on it, for a timed-out poll (CLIENT-6).
        let since_poll = this.interval.max(prev.retry_after.unwrap_or_default());
        let from = [
            Some((prev.at, since_poll, "poll")),
            prev.abandoned
                .map(|t| (t, this.interval, "giving up on poll")),
        ];
        for (start, need, what) in from.into_iter().flatten() {
            let seen = this.at.since(start).as_secs_f64();
            let (a, b) = (clock.wall_time(start), clock.wall_time(this.at));
            let real = span(a, b);
            let napped = asleep(naps, a, b);
            // The gap with the naps counted N times and the rest once: what a client that
            // waits on its own clock would have shown at real time.
            let counted_once = napped * rate + (real - napped).max(0.0);
            let need = need.as_secs_f64();
            if seen >= need && counted_once + 0.001 < need {
                return Some(format!(
                    "poll {} came {:.1} s after {what} {i} on the server's ×{rate} clock, but {:.1} s of that real time was not spent in the scaled `sleep` ({:.1} s was): counted once, the gap is {:.1} s against the {:.0} s due",
                    i + 1,
                    seen,
                    real - napped,
                    napped,
                    counted_once,
                    need,
                ));
            }
        }
    }
    None
}

/// A wait of the client's own: more than [`IDLE`] of real time since an answer that was
/// not final, with no request in flight and the scaled `sleep` not running.
fn own_wait(log: &DeviceLog, naps: &[Nap], clock: &Clock, now: SystemTime) -> Option<String> {
    let (answered, after) = match log.polls.last() {
        None => (
            log.issued_at,
            "the device authorization response".to_string(),
        ),
        Some(p) if is_final(&p.answer) => return None,
        Some(p) if p.answer == "no answer" => match p.abandoned {
            // Held, and the client still waits for its answer: a request in flight.
            None => return None,
            Some(t) => (t, format!("it gave up on poll {}", log.polls.len())),
        },
        Some(p) => (p.at, format!("the answer to poll {}", log.polls.len())),
    };
    let answered = clock.wall_time(answered);
    let mut quiet_since = answered;
    for n in naps.iter().filter(|n| n.end > answered) {
        if n.start <= now && now < n.end {
            return None;
        }
        quiet_since = quiet_since.max(n.end.min(now));
    }
    let idle = span(quiet_since, now);
    (idle > IDLE.as_secs_f64()).then(|| {
        format!(
            "the client sat {idle:.1} s of real time after {after} without the scaled `sleep`: its waits are its own"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::server::play::PollRecord;

    /// A device log on `clock` with polls at these server milliseconds, each answered
    /// pending with a 5-s interval.
    fn log(polls: &[u64]) -> DeviceLog {
        DeviceLog {
            client_id: "c".into(),
            issued_at: Timestamp::from_millis(0),
            expires_in: Duration::from_secs(1800),
            interval: Some(Duration::from_secs(5)),
            polls: polls
                .iter()
                .map(|ms| {
                    PollRecord::new(
                        Timestamp::from_millis(*ms),
                        "authorization_pending",
                        Duration::from_secs(5),
                    )
                })
                .collect(),
        }
    }

    /// A nap from `a` to `b` server milliseconds on `clock`.
    fn nap(clock: &Clock, a: u64, b: u64) -> Nap {
        Nap {
            start: clock.wall_time(Timestamp::from_millis(a)),
            end: clock.wall_time(Timestamp::from_millis(b)),
        }
    }

    #[test]
    fn a_client_that_naps_in_the_scaled_sleep_is_judged_on_the_scaled_clock() {
        let clock = Clock::scaled(20);
        // Poll 2 at 5.4 s: 5 s asleep, 0.4 s of the server's clock (20 ms real) its own.
        let l = log(&[0, 5_400]);
        let naps = [nap(&clock, 200, 5_200)];
        let now = clock.wall_time(Timestamp::from_millis(5_500));
        assert_eq!(unscaled(&[l], &naps, &clock, now), None);
    }

    #[test]
    fn a_gap_of_its_own_clock_that_passes_only_at_scale_is_caught() {
        let clock = Clock::scaled(20);
        // One real second between polls, no nap: 20 s at ×20, 1 s at real time.
        let l = log(&[0, 20_000]);
        let why = unscaled(
            std::slice::from_ref(&l),
            &[],
            &clock,
            clock.wall_time(Timestamp::from_millis(20_000)),
        )
        .expect("caught");
        assert!(why.contains("poll 2 came 20.0 s after poll 1"), "{why}");
        assert!(
            why.contains("the gap is 1.0 s against the 5 s due"),
            "{why}"
        );
        // At real time there is nothing to distrust.
        let real = Clock::scaled(1);
        assert_eq!(unscaled(&[l], &[], &real, SystemTime::now()), None);
    }

    #[test]
    fn a_gap_short_even_at_scale_stands_as_it_is() {
        let clock = Clock::scaled(20);
        // A client that does not wait: its FAILED at ×20 is true at any rate.
        let l = log(&[0, 400]);
        let now = clock.wall_time(Timestamp::from_millis(500));
        assert_eq!(unscaled(&[l], &[], &clock, now), None);
    }

    #[test]
    fn a_long_wait_without_the_scaled_sleep_is_its_own() {
        let clock = Clock::scaled(20);
        let l = log(&[0]);
        // 2.5 s of real time after poll 1 (50 s of the server's clock), no nap.
        let now = clock.wall_time(Timestamp::from_millis(50_000));
        let why = unscaled(std::slice::from_ref(&l), &[], &clock, now).expect("caught");
        assert!(
            why.contains("sat 2.5 s of real time after the answer to poll 1"),
            "{why}"
        );
        // Asleep in the shim all that time: not idle.
        let naps = [nap(&clock, 100, 60_000)];
        assert_eq!(unscaled(std::slice::from_ref(&l), &naps, &clock, now), None);
        // After a final answer the client may do as it likes.
        let mut done = l;
        done.polls[0].answer = "access_denied".into();
        assert_eq!(unscaled(&[done], &[], &clock, now), None);
    }

    #[test]
    fn the_nap_log_round_trips() {
        let dir = std::env::temp_dir().join(format!("pace-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(SLEEP_LOG);
        log_nap(&path, Duration::from_millis(250));
        log_nap(&path, Duration::from_millis(500));
        let n = naps(&path);
        assert_eq!(n.len(), 2);
        assert_eq!(
            n[0].end.duration_since(n[0].start).ok(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(naps(&dir.join("missing")), []);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
