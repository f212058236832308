//! A simulated user as the flows see it. In the closed model it is one of goose's users
//! (its index deals its role, its refresh token lives in goose's session data, and each
//! request is also recorded in goose's metrics); in the open model it is one arrival
//! (`super::open`), whose first request is timed from the arrival's intended start.

use goose::prelude::GooseUser;
use std::time::Duration;

/// The refresh token a goose user holds between transactions.
#[derive(Debug, Clone, Default)]
struct Held {
    refresh: Option<String>,
}

/// One user of a flow.
pub(crate) struct User<'a> {
    goose: Option<&'a mut GooseUser>,
    /// `(index, of)`: where this user stands in the deal of roles (device decisions).
    pub slot: (usize, usize),
    /// The refresh token the user holds.
    pub refresh: Option<String>,
    /// How late the flow started after its intended time; added once, to the first
    /// request's latency, so a generator that falls behind cannot hide it.
    late: Duration,
}

impl<'a> User<'a> {
    /// goose's user `g`, one of `users`, with the refresh token it kept.
    pub(crate) fn goose(g: &'a mut GooseUser, users: usize) -> User<'a> {
        let refresh = g.get_session_data::<Held>().and_then(|h| h.refresh.clone());
        User {
            slot: (g.weighted_users_index, users),
            goose: Some(g),
            refresh,
            late: Duration::ZERO,
        }
    }

    /// An arrival of the open model.
    pub(crate) fn arrival(slot: (usize, usize), late: Duration) -> User<'static> {
        User {
            goose: None,
            slot,
            refresh: None,
            late,
        }
    }

    /// Gives the refresh token back to goose's session data for the next transaction.
    pub(crate) fn keep(self) {
        if let Some(g) = self.goose {
            g.set_session_data(Held {
                refresh: self.refresh,
            });
        }
    }

    /// The latency to record for a request that took `latency`: the first one carries
    /// the start's lateness.
    fn charge(&mut self, latency: Duration) -> Duration {
        latency + std::mem::take(&mut self.late)
    }

    /// Records a request in goose's metrics (closed model) and the recorder.
    pub(crate) async fn record(
        &mut self,
        recorder: &super::summary::Recorder,
        name: &str,
        latency: Duration,
        ok: bool,
        status: Option<u16>,
    ) {
        let latency = self.charge(latency);
        recorder.request(name, latency, ok);
        if let Some(g) = self.goose.as_deref_mut() {
            // Goose refuses only malformed labels (none here) or a closed metrics channel
            // at the very end of a run; the recorder has the request either way.
            let _ = g
                .record_custom_request_duration("POST", name, latency, ok, status, None)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_is_charged_to_the_first_request_only() {
        let mut u = User::arrival((0, 1), Duration::from_millis(7));
        assert_eq!(u.charge(Duration::from_millis(1)), Duration::from_millis(8));
        assert_eq!(u.charge(Duration::from_millis(1)), Duration::from_millis(1));
    }
}
