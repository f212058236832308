//! The server's part when the subject is a *client* (`oauth-harness client`): what its user
//! decides on each device code and when, and the answers the server gives on given polls
//! (a `slow_down`, a 429 with `Retry-After`), plus a log of every poll of every device
//! code — arrival time on the server's clock, the answer, the interval then in force — that
//! the client's judgement reads (matrix CLIENT-1…6, CLIENT-18); a poll can be held
//! unanswered until the client gives up (CLIENT-6).
//!
//! For redirect-based clients it also keeps every request the client sent — method, path,
//! query, the `Authorization` scheme and the form body — so the judgement can read the
//! authorization requests' PKCE and `state`, which codes were redeemed and how the client
//! authenticated and sent its tokens (CLIENT-9…14).
//!
//! Off (`None` in the configuration) for every other use: the load tests' hot path pays one
//! `Option` check.

use crate::clock::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// What the user does with a device code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserDecision {
    /// Approves it.
    Approve,
    /// Denies it.
    Deny,
}

/// How the server plays its part for a client under test.
#[derive(Debug, Clone, Default)]
pub struct Play {
    /// The user's decision, made once the device has had this many pending answers
    /// (`None`: the user never decides and the code expires).
    pub decision: Option<(UserDecision, u32)>,
    /// Polls (1-based, per device code) answered `slow_down`, whatever their timing; the
    /// interval grows by 5 s each time, as RFC 8628 §3.5 says.
    pub slow_down_on: Vec<u32>,
    /// Polls answered 429 with `Retry-After` of this many seconds.
    pub busy_on: BTreeMap<u32, u64>,
    /// Polls not answered for [`Play::hang_for`] (server time), so that the client's
    /// timeout fires first (CLIENT-6); a client that waits that long gets
    /// `authorization_pending`.
    pub hang_on: Vec<u32>,
    /// How long a hung poll is held.
    pub hang_for: Duration,
    /// The user revokes the app right after its first tokens are issued, so its first
    /// API call is answered 401 and its refresh `invalid_grant` (CLIENT-19).
    pub revoke_after_tokens: bool,
}

/// One poll as the server saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct PollRecord {
    /// Arrival, on the server's clock.
    pub at: Timestamp,
    /// What it was answered: an OAuth error code, `tokens`, or `429`.
    pub answer: String,
    /// The interval the server required before this poll.
    pub interval: Duration,
    /// The `Retry-After` of the answer, if it had one.
    pub retry_after: Option<Duration>,
    /// For a hung poll, when the client gave up waiting (closed the connection).
    pub abandoned: Option<Timestamp>,
}

impl PollRecord {
    /// A poll that arrived `at`, was answered `answer` and had to wait `interval`.
    pub(crate) fn new(at: Timestamp, answer: &str, interval: Duration) -> Self {
        PollRecord {
            at,
            answer: answer.to_string(),
            interval,
            retry_after: None,
            abandoned: None,
        }
    }
}

/// Everything the play logs kept of a client under test.
#[derive(Debug, Clone, Default)]
pub(crate) struct PlayRecord {
    /// The device codes the client asked for, with their polls.
    pub devices: Vec<DeviceLog>,
    /// Every request the server received, in order.
    pub requests: Vec<RequestRecord>,
    /// Every authorization code the server issued, with the user who consented.
    pub code_users: std::collections::HashMap<String, Arc<str>>,
}

/// Marks a response to hold (a hung poll): the device log and the poll's index in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hang {
    /// The entry in the store's `device_logs`.
    pub log: usize,
    /// The poll's index in it.
    pub poll: usize,
}

/// Everything about one device code that a client's judgement needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceLog {
    /// The client it was issued to.
    pub client_id: Arc<str>,
    /// When the device authorization response was sent.
    pub issued_at: Timestamp,
    /// Its `expires_in`.
    pub expires_in: Duration,
    /// The interval the response gave (`None`: omitted, so 5 s by RFC 8628 §3.2).
    pub interval: Option<Duration>,
    /// Every poll, in order.
    pub polls: Vec<PollRecord>,
}

/// One request as the server received it, when a client is the subject. Held in memory
/// for the judgement only; what reaches a report goes through the run's redactor.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// Arrival, on the server's clock.
    pub at: Timestamp,
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query's pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The `Authorization` header's scheme (`Basic`, `Bearer`, …), if it had one.
    pub auth_scheme: Option<String>,
    /// The pairs of a form-encoded body, decoded, in order.
    pub form: Vec<(String, String)>,
    /// The response's status.
    pub status: u16,
    /// The DPoP proofs the request carried (RFC 9449 §4), one per `DPoP` field line.
    pub dpop: Vec<ProofSeen>,
    /// The OAuth error of a refusal: `error` and `error_description`, from a JSON body or
    /// a `WWW-Authenticate` challenge.
    pub error: Option<(String, String)>,
    /// The `DPoP-Nonce` the answer gave (RFC 9449 §8, §9).
    pub nonce_given: Option<String>,
}

/// A DPoP proof as a request carried it: what its claims say, unverified (the server's
/// verdict is the answer's `error`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProofSeen {
    /// `htm`.
    pub htm: Option<String>,
    /// `htu`.
    pub htu: Option<String>,
    /// `nonce`.
    pub nonce: Option<String>,
}

impl ProofSeen {
    /// The claims of `proof`, a compact JWS (all `None` when it is not one).
    pub(crate) fn of(proof: &str) -> ProofSeen {
        let Ok(jwt) = crate::jose::parse(proof) else {
            return ProofSeen::default();
        };
        let text = |name: &str| {
            jwt.claims
                .get(name)
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        };
        ProofSeen {
            htm: text("htm"),
            htu: text("htu"),
            nonce: text("nonce"),
        }
    }
}

impl RequestRecord {
    /// The first value of `name` in the query.
    pub(crate) fn query_value(&self, name: &str) -> Option<&str> {
        first(&self.query, name)
    }

    /// The first value of `name` in the form body.
    pub(crate) fn form_value(&self, name: &str) -> Option<&str> {
        first(&self.form, name)
    }

    /// The `error` of the answer, if it was an OAuth refusal.
    pub(crate) fn error_code(&self) -> Option<&str> {
        self.error.as_ref().map(|(e, _)| e.as_str())
    }
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl Play {
    /// The answer this poll gets whatever the device's state: a 429 with its
    /// `Retry-After`, or a `slow_down`.
    pub(crate) fn forced(&self, poll: u32) -> Option<Forced> {
        if self.hang_on.contains(&poll) {
            return Some(Forced::Hang);
        }
        if let Some(secs) = self.busy_on.get(&poll) {
            return Some(Forced::Busy(*secs));
        }
        self.slow_down_on
            .contains(&poll)
            .then_some(Forced::SlowDown)
    }

    /// The user's decision due after `pending` pending answers, if one is.
    pub(crate) fn decision_after(&self, pending: u32) -> Option<UserDecision> {
        match self.decision {
            Some((d, n)) if n == pending => Some(d),
            _ => None,
        }
    }
}

/// An answer [`Play`] imposes on a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forced {
    /// 429 with `Retry-After` in seconds.
    Busy(u64),
    /// `slow_down`.
    SlowDown,
    /// No answer for a while ([`Play::hang_for`]).
    Hang,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_poll_wins_over_a_slow_down_and_decisions_come_once() {
        let play = Play {
            decision: Some((UserDecision::Approve, 3)),
            slow_down_on: vec![1, 2],
            busy_on: BTreeMap::from([(2, 10)]),
            hang_on: vec![4],
            hang_for: Duration::from_secs(60),
            revoke_after_tokens: false,
        };
        assert_eq!(play.forced(1), Some(Forced::SlowDown));
        assert_eq!(play.forced(2), Some(Forced::Busy(10)));
        assert_eq!(play.forced(3), None);
        assert_eq!(play.forced(4), Some(Forced::Hang));
        assert_eq!(play.decision_after(2), None);
        assert_eq!(play.decision_after(3), Some(UserDecision::Approve));
        assert_eq!(play.decision_after(4), None);
    }
}
