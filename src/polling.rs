//! RFC 8628 §3.5 as a client: when the next device poll may go out. Pure (no clock, no
//! I/O), so the rule is written once and tested once; the scenario runner's `poll` step
//! and the load generator's devices both follow it.
//!
//! - Wait `interval` between polls; 5 s when the server gave none (§3.2, CLIENT-2).
//! - After `slow_down`, add 5 s to the interval, for that poll and every later one
//!   (§3.5, CLIENT-3): 5 → 10 → 15, never doubled.
//! - After a 429, wait as `Retry-After` says, else as after a `slow_down` (matrix §15 #6,
//!   CLIENT-18).
//! - After a connection timeout, double the interval (§3.5, CLIENT-6).
//! - Never poll once `expires_in` has passed since the device authorization response
//!   (CLIENT-5).

use std::time::Duration;

/// What the server answered a poll, as far as scheduling goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `authorization_pending`.
    Pending,
    /// `slow_down`.
    SlowDown,
    /// 429, with its `Retry-After` if it had one.
    TooMany(Option<Duration>),
    /// The request timed out.
    Timeout,
}

/// A poll's answer, read once for everyone who polls (the runner's `poll` step and the load
/// generator's devices): tokens, poll again (as [`Answer`] schedules it), or the code's
/// last word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// 200 with an access token.
    Tokens,
    /// `authorization_pending`, `slow_down` (400, RFC 8628 §3.5) or a 429 (flow control,
    /// matrix §15 #6): poll again.
    Again(Answer),
    /// Anything else ends the polling (`access_denied`, `expired_token`, another error,
    /// an unexpected status): its status and `error`.
    Final(u16, Option<&'a str>),
}

/// Reads a poll's answer: its status, its `error` member, whether it carries an access
/// token, and its `Retry-After` (read only for a 429).
pub fn reply(
    status: u16,
    error: Option<&str>,
    has_token: bool,
    retry_after: Option<Duration>,
) -> Reply<'_> {
    match (status, error) {
        (200, None) if has_token => Reply::Tokens,
        (400, Some("authorization_pending")) => Reply::Again(Answer::Pending),
        (400, Some("slow_down")) => Reply::Again(Answer::SlowDown),
        (429, _) => Reply::Again(Answer::TooMany(retry_after)),
        (status, error) => Reply::Final(status, error),
    }
}

/// How long a `Retry-After` value asks to wait (RFC 9110 §10.2.3): delta-seconds, or an
/// HTTP-date in any of the three forms a recipient must accept (§5.6.7), counted from
/// `now` (a date already past is 0). `None` when it is neither. One parser for the
/// runner's steps and polls, the load generator and the client judge.
pub fn retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The schedule of one device code's polls.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    interval: Duration,
    expires_in: Option<Duration>,
    elapsed: Duration,
}

/// RFC 8628 §3.2's interval when the response has none.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

impl Schedule {
    /// A schedule for a device authorization response's `interval` and `expires_in`.
    pub fn new(interval: Option<Duration>, expires_in: Option<Duration>) -> Schedule {
        Schedule {
            interval: interval
                .unwrap_or(DEFAULT_INTERVAL)
                .max(Duration::from_secs(1)),
            expires_in,
            elapsed: Duration::ZERO,
        }
    }

    /// The current interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Time since the device authorization response, as far as the schedule waited.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// How long to wait before the next poll (`early` shortens it, for a client that
    /// polls too soon on purpose), or `None` when that poll would come at or after
    /// `expires_in`: the client stops.
    pub(crate) fn next_wait(&self, early: Duration) -> Option<Duration> {
        let wait = self.interval.saturating_sub(early);
        match self.expires_in {
            Some(limit) if self.elapsed + wait >= limit => None,
            _ => Some(wait),
        }
    }

    /// Whether `n` more polls, each after the current interval, still come before
    /// `expires_in` (always, for a code without one).
    pub(crate) fn room_for(&self, n: u32) -> bool {
        match self.expires_in {
            Some(limit) => self.elapsed + self.interval * n < limit,
            None => true,
        }
    }

    /// Time left until `expires_in`, if the code has one.
    pub fn remaining(&self) -> Option<Duration> {
        self.expires_in
            .map(|limit| limit.saturating_sub(self.elapsed))
    }

    /// Records that `d` has been waited.
    pub fn waited(&mut self, d: Duration) {
        self.elapsed += d;
    }

    /// Adjusts the interval to the server's answer.
    pub fn answered(&mut self, answer: Answer) {
        let five = Duration::from_secs(5);
        match answer {
            Answer::Pending => {}
            Answer::SlowDown => self.interval += five,
            Answer::TooMany(Some(retry)) => self.interval = self.interval.max(retry),
            Answer::TooMany(None) => self.interval += five,
            Answer::Timeout => self.interval *= 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_answer_is_read_once_for_everyone() {
        let ra = Some(Duration::from_secs(7));
        assert_eq!(reply(200, None, true, None), Reply::Tokens);
        assert_eq!(reply(200, None, false, None), Reply::Final(200, None));
        assert_eq!(
            reply(400, Some("authorization_pending"), false, ra),
            Reply::Again(Answer::Pending)
        );
        assert_eq!(
            reply(400, Some("slow_down"), false, None),
            Reply::Again(Answer::SlowDown)
        );
        assert_eq!(
            reply(429, Some("whatever"), false, ra),
            Reply::Again(Answer::TooMany(ra))
        );
        assert_eq!(
            reply(400, Some("access_denied"), false, None),
            Reply::Final(400, Some("access_denied"))
        );
        // RFC 8628 §3.5's codes come with 400; on another status they end the polling.
        assert_eq!(
            reply(401, Some("authorization_pending"), false, None),
            Reply::Final(401, Some("authorization_pending"))
        );
    }

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn slow_down_adds_five_seconds_for_every_later_poll() {
        let mut p = Schedule::new(Some(s(5)), None);
        p.answered(Answer::SlowDown);
        assert_eq!(p.next_wait(Duration::ZERO), Some(s(10)));
        p.answered(Answer::Pending);
        assert_eq!(p.next_wait(Duration::ZERO), Some(s(10)), "never back to 5");
        p.answered(Answer::SlowDown);
        assert_eq!(p.interval(), s(15), "added, not doubled");
    }

    #[test]
    fn retry_after_reads_seconds_and_all_three_http_date_forms() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:30 GMT").expect("date");
        assert_eq!(retry_after(" 120 ", now), Some(s(120)));
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(retry_after(date, now), Some(s(7)), "{date}");
        }
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(s(0)),
            "past"
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }

    #[test]
    fn room_for_counts_whole_intervals_before_expiry() {
        let mut p = Schedule::new(Some(s(5)), Some(s(8)));
        assert!(p.room_for(1), "a poll at 5 s");
        assert!(!p.room_for(2), "none at 10 s");
        p.waited(s(5));
        assert!(!p.room_for(1));
        assert!(Schedule::new(Some(s(5)), None).room_for(1000));
    }

    #[test]
    fn no_interval_means_five_and_timeouts_double() {
        let mut p = Schedule::new(None, None);
        assert_eq!(p.interval(), s(5));
        p.answered(Answer::Timeout);
        assert_eq!(p.interval(), s(10));
    }

    #[test]
    fn retry_after_is_honoured_and_never_shortens_the_interval() {
        let mut p = Schedule::new(Some(s(5)), None);
        p.answered(Answer::TooMany(Some(s(30))));
        assert_eq!(p.interval(), s(30));
        p.answered(Answer::TooMany(Some(s(1))));
        assert_eq!(p.interval(), s(30));
        p.answered(Answer::TooMany(None));
        assert_eq!(p.interval(), s(35));
    }

    #[test]
    fn the_client_stops_before_a_poll_at_or_after_expires_in() {
        let mut p = Schedule::new(Some(s(5)), Some(s(12)));
        assert_eq!(p.next_wait(Duration::ZERO), Some(s(5)));
        p.waited(s(5));
        assert_eq!(p.next_wait(Duration::ZERO), Some(s(5)));
        p.waited(s(5));
        assert_eq!(p.next_wait(Duration::ZERO), None, "10 + 5 >= 12");
        assert_eq!(p.next_wait(s(4)), Some(s(1)), "an early poll may still fit");
    }
}
