//! A client judged from what the server saw: its device codes and every poll's arrival
//! time on the server's clock (`server::play::DeviceLog`), every request it sent
//! (`server::play::RequestRecord`, read by [`code`] for redirect-based clients), and how
//! its process ended. Each check is one CLIENT row, and says what it saw in the words of
//! the row ("poll 3 came 1.0 s after poll 2; the interval then was 10 s").

mod code;
mod dpop;

use crate::client::scenario::ClientCheck;
use crate::server::play::{DeviceLog, RequestRecord};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Everything the judgement reads.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The device codes the client asked for, with their polls.
    pub devices: Vec<DeviceLog>,
    /// Every request the server received, in order.
    pub requests: Vec<RequestRecord>,
    /// Every authorization code the server issued, with the user who consented.
    pub code_users: HashMap<String, Arc<str>>,
    /// How the client's process ended (of several runs, the first that failed, else the
    /// last).
    pub ending: Ending,
}

impl Seen {
    /// A device-flow client's log alone.
    pub fn devices(devices: &[DeviceLog], ending: Ending) -> Seen {
        Seen {
            devices: devices.to_vec(),
            requests: Vec::new(),
            code_users: HashMap::new(),
            ending,
        }
    }
}

/// How the client's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It exited with this status.
    Exited(i32),
    /// A signal ended it.
    Signalled,
    /// It was still running at the time limit and was stopped.
    Stopped,
}

/// A check's outcome: what the row expects, what was seen, whether it held (`None`: the
/// run gave nothing to judge, with why).
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// What the row asks, in words.
    pub expected: String,
    /// What the server saw.
    pub actual: String,
    /// Held, failed, or nothing to judge.
    pub held: Option<bool>,
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn since(a: crate::clock::Timestamp, b: crate::clock::Timestamp) -> Duration {
    a.since(b)
}

/// Judges `check` on what the server saw of the client and its ending.
pub fn judge(check: ClientCheck, seen: &Seen) -> Judgement {
    let (logs, ending) = (&seen.devices[..], seen.ending);
    match check {
        ClientCheck::WaitsTheInterval => waits(logs, false),
        ClientCheck::AddsFiveAfterSlowDown => waits(logs, true),
        ClientCheck::HonoursRetryAfter => retry_after(logs),
        ClientCheck::BacksOffAfterTimeout => backs_off(logs),
        ClientCheck::StopsAfterAFinalAnswer => stops_after_final(logs),
        ClientCheck::StopsAtExpiry => stops_at_expiry(logs),
        ClientCheck::AsksOnce => asks_once(logs),
        ClientCheck::SendsState => code::sends_state(seen),
        ClientCheck::RefusesForgedCallback => code::refuses_forged_callback(seen),
        ClientCheck::RefusesMixedUpResponse => code::refuses_mixed_up_response(seen),
        ClientCheck::UsesPkceS256 => code::uses_pkce_s256(seen),
        ClientCheck::FreshVerifier => code::fresh_verifier(seen),
        ClientCheck::RedeemsOnce => code::redeems_once(seen),
        ClientCheck::OneAuthMethod => code::one_auth_method(seen),
        ClientCheck::TokenNotInUri => code::token_not_in_uri(seen),
        ClientCheck::RefreshesOnceAfter401 => code::refreshes_once_after_401(seen),
        ClientCheck::SendsValidProofs => dpop::sends_valid_proofs(seen),
        ClientCheck::RetriesWithNonce => dpop::retries_with_nonce(seen),
        ClientCheck::GetsTokens if logs.is_empty() => code::gets_tokens(seen),
        ClientCheck::GetsTokens => gets_tokens(logs, ending),
        ClientCheck::GivesUp => gives_up(ending),
    }
}

fn held(expected: &str, actual: String, ok: bool) -> Judgement {
    Judgement {
        expected: expected.to_string(),
        actual,
        held: Some(ok),
    }
}

fn nothing(expected: &str, why: &str) -> Judgement {
    Judgement {
        expected: expected.to_string(),
        actual: why.to_string(),
        held: None,
    }
}

/// Why the server required its interval before poll `i` of `log`, when it is more than
/// the interval the response gave (` (…)`, or nothing).
fn why_interval(log: &DeviceLog, i: usize) -> String {
    let slow_downs = log.polls[..i]
        .iter()
        .filter(|p| p.answer == "slow_down")
        .count();
    let base = match log.interval {
        Some(d) => secs(d),
        None => "5.0 s, RFC 8628 §3.2's default when the response gives none".to_string(),
    };
    match (slow_downs, log.interval) {
        (0, Some(_)) => String::new(),
        (0, None) => format!(" ({base})"),
        (n, _) => format!(" ({base} + 5 s for each of {n} slow_down answer(s))"),
    }
}

/// CLIENT-1/2 (`after_slow_down` false): every poll after the first waits the interval
/// then in force. CLIENT-3 (true): the same, for the polls after a `slow_down`.
fn waits(logs: &[DeviceLog], after_slow_down: bool) -> Judgement {
    let expected = if after_slow_down {
        "after a slow_down, every poll waits the interval plus 5 s per slow_down"
    } else {
        "every poll after the first waits the interval in force since the previous answer"
    };
    let mut judged = 0;
    for log in logs {
        let first_slow = log.polls.iter().position(|p| p.answer == "slow_down");
        for i in 1..log.polls.len() {
            if after_slow_down && first_slow.is_none_or(|f| i <= f) {
                continue;
            }
            judged += 1;
            let (prev, this) = (&log.polls[i - 1], &log.polls[i]);
            let gap = since(this.at, prev.at);
            if gap < this.interval {
                return held(
                    expected,
                    format!(
                        "poll {} came {} after poll {}; the interval then was {}{}",
                        i + 1,
                        secs(gap),
                        i,
                        secs(this.interval),
                        why_interval(log, i)
                    ),
                    false,
                );
            }
        }
    }
    match judged {
        0 if after_slow_down => nothing(expected, "no poll came after a slow_down answer"),
        0 => nothing(expected, "the client polled at most once per device code"),
        n => held(expected, format!("{n} poll gap(s), none short"), true),
    }
}

/// CLIENT-18: after a 429, the next poll waits its `Retry-After`.
fn retry_after(logs: &[DeviceLog]) -> Judgement {
    let expected = "after a 429, the next poll waits as its Retry-After says";
    let mut judged = 0;
    for log in logs {
        for i in 1..log.polls.len() {
            let Some(wait) = log.polls[i - 1].retry_after else {
                continue;
            };
            judged += 1;
            let gap = since(log.polls[i].at, log.polls[i - 1].at);
            if gap < wait {
                return held(
                    expected,
                    format!(
                        "poll {} came {} after poll {}, answered 429 with Retry-After: {}",
                        i + 1,
                        secs(gap),
                        i,
                        wait.as_secs()
                    ),
                    false,
                );
            }
        }
    }
    match judged {
        0 => nothing(expected, "no poll came after a 429"),
        n => held(
            expected,
            format!("{n} poll(s) after a 429, each in time"),
            true,
        ),
    }
}

/// CLIENT-6: after a poll it gave up waiting for, the client lowers its polling
/// frequency: its next poll comes more than the interval after it gave up (RFC 8628 §3.5;
/// twice the interval is RECOMMENDED, and said).
fn backs_off(logs: &[DeviceLog]) -> Judgement {
    let expected = "after a poll times out, the next comes more than the interval later (doubling is RECOMMENDED)";
    let mut seen = Vec::new();
    for log in logs {
        for (i, p) in log.polls.iter().enumerate() {
            if p.answer != "no answer" {
                continue;
            }
            let Some(gave_up) = p.abandoned else {
                seen.push(format!(
                    "poll {} was held and the client waited for its answer",
                    i + 1
                ));
                continue;
            };
            let Some(next) = log.polls.get(i + 1) else {
                seen.push(format!(
                    "the client gave up on poll {} and did not poll again",
                    i + 1
                ));
                continue;
            };
            let gap = since(next.at, gave_up);
            let interval = next.interval;
            if gap <= interval {
                return held(
                    expected,
                    format!(
                        "the client gave up on poll {} and polled again {} later; the interval was {}: it did not lower its polling frequency",
                        i + 1,
                        secs(gap),
                        secs(interval)
                    ),
                    false,
                );
            }
            return held(
                expected,
                format!(
                    "the client gave up on poll {} and polled again {} later (the interval was {}{})",
                    i + 1,
                    secs(gap),
                    secs(interval),
                    if gap >= interval * 2 {
                        "; at least doubled, as recommended"
                    } else {
                        "; lowered, but not doubled as RECOMMENDED"
                    }
                ),
                true,
            );
        }
    }
    if seen.is_empty() {
        nothing(expected, "no poll was held")
    } else {
        nothing(expected, &seen.join("; "))
    }
}

/// Whether an answer ends the device code (RFC 8628 §3.5: anything but pending,
/// slow_down, or a 429 to retry).
pub(crate) fn is_final(answer: &str) -> bool {
    !matches!(
        answer,
        "authorization_pending" | "slow_down" | "429" | "no answer"
    )
}

/// CLIENT-4: no poll after an answer that ends the device code.
fn stops_after_final(logs: &[DeviceLog]) -> Judgement {
    let expected = "no poll after an answer that ends the device code";
    let mut finals = 0;
    for log in logs {
        if let Some(f) = log.polls.iter().position(|p| is_final(&p.answer)) {
            finals += 1;
            if let Some(extra) = log.polls.get(f + 1) {
                return held(
                    expected,
                    format!(
                        "poll {} came {} after `{}` answered poll {}",
                        f + 2,
                        secs(since(extra.at, log.polls[f].at)),
                        log.polls[f].answer,
                        f + 1
                    ),
                    false,
                );
            }
        }
    }
    match finals {
        0 => nothing(expected, "no device code got a final answer"),
        n => held(
            expected,
            format!("{n} final answer(s), no poll after any"),
            true,
        ),
    }
}

/// CLIENT-5: no poll once `expires_in` has passed since the device authorization.
fn stops_at_expiry(logs: &[DeviceLog]) -> Judgement {
    let expected = "no poll once expires_in has passed since the device authorization";
    for log in logs {
        for (i, p) in log.polls.iter().enumerate() {
            let age = since(p.at, log.issued_at);
            if age >= log.expires_in {
                return held(
                    expected,
                    format!(
                        "poll {} came {} after the device authorization; expires_in was {}",
                        i + 1,
                        secs(age),
                        secs(log.expires_in)
                    ),
                    false,
                );
            }
        }
    }
    let polls: usize = logs.iter().map(|l| l.polls.len()).sum();
    held(
        expected,
        format!("{polls} poll(s), all before expires_in"),
        true,
    )
}

/// CLIENT-7: one device authorization, none started again after a final answer.
fn asks_once(logs: &[DeviceLog]) -> Judgement {
    let expected = "one device authorization for the user's one request";
    held(
        expected,
        format!("{} device authorization(s)", logs.len()),
        logs.len() == 1,
    )
}

fn gets_tokens(logs: &[DeviceLog], ending: Ending) -> Judgement {
    let expected = "the client gets tokens once and exits 0";
    let tokens = logs
        .iter()
        .flat_map(|l| &l.polls)
        .filter(|p| p.answer == "tokens")
        .count();
    let ok = tokens == 1 && ending == Ending::Exited(0);
    held(
        expected,
        format!("{tokens} token response(s); {}", describe(ending)),
        ok,
    )
}

fn gives_up(ending: Ending) -> Judgement {
    let expected = "the client stops by itself, with a non-zero exit status";
    let ok = matches!(ending, Ending::Exited(c) if c != 0);
    held(expected, describe(ending), ok)
}

/// How a process ended, in words.
pub(crate) fn describe(ending: Ending) -> String {
    match ending {
        Ending::Exited(c) => format!("it exited with status {c}"),
        Ending::Signalled => "a signal ended it".into(),
        Ending::Stopped => "it was still running at the time limit and was stopped".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::server::play::PollRecord;
    use std::sync::Arc;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    /// A device code polled at these server times (ms), each with its answer and the
    /// interval (s) required before it.
    fn log(polls: &[(u64, &str, u64)]) -> DeviceLog {
        DeviceLog {
            client_id: Arc::from("noorle-cli"),
            issued_at: at(0),
            expires_in: Duration::from_secs(60),
            interval: Some(Duration::from_secs(5)),
            polls: polls
                .iter()
                .map(|(ms, answer, interval)| PollRecord {
                    at: at(*ms),
                    answer: answer.to_string(),
                    interval: Duration::from_secs(*interval),
                    retry_after: (*answer == "429").then(|| Duration::from_secs(10)),
                    abandoned: (*answer == "no answer").then(|| at(ms + 10_000)),
                })
                .collect(),
        }
    }

    #[test]
    fn a_short_gap_fails_and_says_which_poll_and_why() {
        let l = log(&[
            (100, "slow_down", 5),
            (5_200, "authorization_pending", 10),
            (10_300, "tokens", 10),
        ]);
        let j = judge(
            ClientCheck::AddsFiveAfterSlowDown,
            &Seen::devices(std::slice::from_ref(&l), Ending::Exited(0)),
        );
        assert_eq!(j.held, Some(false));
        assert!(
            j.actual
                .starts_with("poll 2 came 5.1 s after poll 1; the interval then was 10.0 s"),
            "{}",
            j.actual
        );
        assert!(j.actual.contains("1 slow_down"), "{}", j.actual);
        let ok = log(&[(0, "authorization_pending", 5), (5_000, "tokens", 5)]);
        assert_eq!(
            judge(
                ClientCheck::WaitsTheInterval,
                &Seen::devices(std::slice::from_ref(&ok), Ending::Exited(0))
            )
            .held,
            Some(true)
        );
        assert_eq!(
            judge(
                ClientCheck::GetsTokens,
                &Seen::devices(&[ok], Ending::Exited(0))
            )
            .held,
            Some(true)
        );
    }

    #[test]
    fn final_answers_expiry_and_retry_after_are_judged() {
        let after_final = log(&[(0, "expired_token", 5), (6_000, "expired_token", 5)]);
        let j = judge(
            ClientCheck::StopsAfterAFinalAnswer,
            &Seen::devices(&[after_final], Ending::Stopped),
        );
        assert_eq!(j.held, Some(false));
        assert!(
            j.actual.contains("after `expired_token` answered poll 1"),
            "{}",
            j.actual
        );
        let late = log(&[
            (59_000, "authorization_pending", 5),
            (64_000, "expired_token", 5),
        ]);
        assert_eq!(
            judge(
                ClientCheck::StopsAtExpiry,
                &Seen::devices(&[late], Ending::Exited(1))
            )
            .held,
            Some(false)
        );
        let busy = log(&[(0, "429", 5), (6_000, "authorization_pending", 5)]);
        let j = judge(
            ClientCheck::HonoursRetryAfter,
            &Seen::devices(&[busy], Ending::Exited(0)),
        );
        assert_eq!(j.held, Some(false), "{}", j.actual);
        let none: [DeviceLog; 0] = [];
        assert_eq!(
            judge(
                ClientCheck::HonoursRetryAfter,
                &Seen::devices(&none, Ending::Exited(0))
            )
            .held,
            None
        );
        assert_eq!(
            judge(ClientCheck::GivesUp, &Seen::devices(&none, Ending::Stopped)).held,
            Some(false)
        );
        assert_eq!(
            judge(
                ClientCheck::GivesUp,
                &Seen::devices(&none, Ending::Exited(1))
            )
            .held,
            Some(true)
        );
    }

    #[test]
    fn a_retry_after_a_timeout_is_judged_from_when_the_client_gave_up() {
        // Poll 2 held; the client gave up 10 s after it arrived (at 15 s).
        let at_once = log(&[
            (0, "authorization_pending", 5),
            (5_000, "no answer", 5),
            (15_300, "authorization_pending", 5),
        ]);
        let j = judge(
            ClientCheck::BacksOffAfterTimeout,
            &Seen::devices(&[at_once], Ending::Exited(0)),
        );
        assert_eq!(j.held, Some(false), "{}", j.actual);
        assert!(
            j.actual.contains("polled again 0.3 s later"),
            "{}",
            j.actual
        );
        let doubled = log(&[
            (0, "authorization_pending", 5),
            (5_000, "no answer", 5),
            (25_100, "tokens", 5),
        ]);
        let j = judge(
            ClientCheck::BacksOffAfterTimeout,
            &Seen::devices(&[doubled], Ending::Exited(0)),
        );
        assert_eq!(j.held, Some(true), "{}", j.actual);
        assert!(j.actual.contains("at least doubled"), "{}", j.actual);
        let none = log(&[(0, "authorization_pending", 5), (5_000, "tokens", 5)]);
        assert_eq!(
            judge(
                ClientCheck::BacksOffAfterTimeout,
                &Seen::devices(&[none], Ending::Exited(0))
            )
            .held,
            None
        );
    }
}
