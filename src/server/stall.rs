//! A pause of the token endpoint, for load tests: from `after` past the server's start,
//! for `length`, every token request waits until the pause ends, as in a long garbage
//! collection or a database failover. It breaks no rule (the conformance suite passes
//! through it); it shows whether a load model reports a stall or hides it.

use std::time::Duration;
use tokio::time::Instant;

/// When the token endpoint pauses, from the server's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    /// How long after the start the pause begins.
    pub after: Duration,
    /// How long it lasts.
    pub length: Duration,
}

/// A [`Stall`] placed in time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pause {
    from: Instant,
    until: Instant,
}

impl Pause {
    /// `stall`, counted from now.
    pub(crate) fn starting_now(stall: Stall) -> Pause {
        let from = Instant::now() + stall.after;
        Pause {
            from,
            until: from + stall.length,
        }
    }

    /// Waits out the pause when a request comes during it.
    pub(crate) async fn hold(&self) {
        let now = Instant::now();
        if now >= self.from && now < self.until {
            tokio::time::sleep_until(self.until).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_during_the_pause_wait_for_its_end_and_others_pass() {
        let p = Pause::starting_now(Stall {
            after: Duration::from_secs(5),
            length: Duration::from_secs(2),
        });
        let timed = |p: Pause| async move {
            let t = Instant::now();
            p.hold().await;
            t.elapsed()
        };
        assert_eq!(timed(p).await, Duration::ZERO);
        tokio::time::advance(Duration::from_millis(5_500)).await;
        assert_eq!(timed(p).await, Duration::from_millis(1_500));
        // Now at 7 s: the pause is over.
        assert_eq!(timed(p).await, Duration::ZERO);
    }
}
