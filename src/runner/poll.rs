//! The `poll` step: a device token request repeated as RFC 8628 §3.5 demands of a client
//! ([`crate::polling`]), the user approving or denying after so many "still pending"
//! answers. The loop ends on any other answer, or when `expires_in` leaves no room for
//! another poll: then the last answer is the step's response, and the step's assertions
//! judge it (a server that answers `slow_down` or `authorization_pending` for ever after
//! approval breaks DEV-17; polling on regardless would break CLIENT-5).
//!
//! The harness's own timing is never the server's fault (issue #27): when the code's
//! lifetime leaves room for only one more poll, the user decides now rather than after the
//! pending answers the scenario asked for; and when it left no room to poll after the
//! decision at all, the step is SKIPPED, naming the lifetime, the interval and where the
//! decision fell, never judged on an answer that came before the user acted.

use crate::assert::{self, Exchange};
use crate::polling::{Answer, Reply, Schedule};
use crate::runner::error::TargetError;
use crate::runner::hooks::HookError;
use crate::runner::request::send;
use crate::runner::result::PollStats;
use crate::runner::session::Session;
use crate::runner::{StepCtx, StepError};
use crate::scenario::model::Poll;
use crate::scenario::template::Template;
use crate::scenario::vars::Vars;
use serde_json::Value;
use std::time::Duration;

fn error_of(ex: &Exchange) -> Option<&str> {
    ex.json
        .as_ref()
        .and_then(|j| j.get("error"))
        .and_then(Value::as_str)
}

fn seconds(vars: &mut Vars, s: &Option<Template>, what: &str) -> Result<Option<f64>, StepError> {
    match s {
        None => Ok(None),
        Some(s) => {
            let v = vars.value(s)?;
            assert::number(&v)
                .map(Some)
                .ok_or_else(|| StepError::Step(format!("poll {what}: `{s}` is not a number")))
        }
    }
}

/// Runs the loop; the last answer.
pub(crate) async fn poll(
    ctx: &mut StepCtx<'_>,
    p: &Poll,
    session: &Session,
    vars: &mut Vars,
    verbose: bool,
) -> Result<Exchange, StepError> {
    let interval = seconds(vars, &p.interval, "interval")?.map(Duration::from_secs_f64);
    let expires = seconds(vars, &p.expires_in, "expires_in")?.map(Duration::from_secs_f64);
    let user_code = match &p.user_code {
        Some(u) => Some(vars.text(u)?),
        None => None,
    };
    let mut schedule = Schedule::new(interval, expires);
    let mut stats = PollStats::default();
    let mut last = None;
    let early = Duration::from_secs(p.early_by);
    let decision = user_code.as_ref().and_then(|code| {
        [(p.approve_after, true), (p.deny_after, false)]
            .into_iter()
            .find_map(|(after, approve)| after.map(|n| (code.clone(), n, approve)))
    });
    // When the user decided: after how many polls, and at what time.
    let mut decided: Option<(u32, Duration)> = None;
    while stats.polls < p.max_polls {
        if stats.polls > 0 {
            let Some(wait) = schedule.next_wait(early) else {
                let stopped = format!(
                    "expires_in ({} s) left no room for another poll after {} s",
                    expires.map(|e| e.as_secs_f64()).unwrap_or_default(),
                    schedule.elapsed().as_secs_f64()
                );
                stats.stopped = Some(stopped);
                if let Some(why) = no_room_after_decision(&decision, decided, &schedule, &stats) {
                    stats.final_interval = schedule.interval().as_secs();
                    ctx.result.poll = Some(stats);
                    return Err(StepError::Skip(why));
                }
                break;
            };
            session.wait(wait.as_secs_f64()).await?;
            schedule.waited(wait);
            stats.waits.push(wait.as_secs());
        }
        let (ex, summary) = send(session, vars, &p.request).await?;
        stats.polls += 1;
        if verbose {
            ctx.result.exchanges.push(summary.clone());
        }
        ctx.result.exchange = Some(summary);
        let retry_after = ex
            .header("retry-after")
            .and_then(|v| crate::polling::retry_after(v, std::time::SystemTime::now()));
        let has_token = ex
            .json
            .as_ref()
            .is_some_and(|j| j.get("access_token").is_some());
        let answer = match crate::polling::reply(ex.status, error_of(&ex), has_token, retry_after) {
            Reply::Again(answer) => answer,
            Reply::Tokens | Reply::Final(..) => {
                last = Some(ex);
                break;
            }
        };
        if answer == Answer::SlowDown {
            stats.slow_downs += 1;
        }
        schedule.answered(answer);
        // `slow_down` is a variant of pending (RFC 8628 §3.5): the user still decides.
        if matches!(answer, Answer::Pending | Answer::SlowDown) {
            stats.pending += 1;
            if let (Some((code, after, approve)), None) = (&decision, decided) {
                // Due now, or the last chance to poll after deciding (a short-lived code).
                if *after == stats.pending || !schedule.room_for(2) {
                    decide(session, code, *approve).await?;
                    decided = Some((stats.polls, schedule.elapsed()));
                }
            }
        }
        last = Some(ex);
    }
    stats.final_interval = schedule.interval().as_secs();
    ctx.result.poll = Some(stats);
    last.ok_or_else(|| StepError::Step("poll: no request was sent".into()))
}

/// Why the loop's end says nothing of the server: the scenario has the user decide, and
/// the code's lifetime left no room for a poll after the decision (or for the decision).
fn no_room_after_decision(
    decision: &Option<(String, u32, bool)>,
    decided: Option<(u32, Duration)>,
    schedule: &Schedule,
    stats: &PollStats,
) -> Option<String> {
    let (_, after, approve) = decision.as_ref()?;
    let what = if *approve { "approval" } else { "denial" };
    let lifetime = schedule
        .remaining()
        .map(|r| (r + schedule.elapsed()).as_secs_f64())
        .unwrap_or_default();
    let interval = schedule.interval().as_secs_f64();
    let at = schedule.elapsed().as_secs_f64();
    match decided {
        Some((polls, _)) if polls < stats.polls => None,
        Some((_, when)) => Some(format!(
            "the device code's lifetime (expires_in {lifetime} s) left no room to poll after the \
             user's {what}: interval {interval} s, the {what} came after the poll at {} s, and the \
             next poll would have been at {} s; give the target a longer device code lifetime",
            when.as_secs_f64(),
            at + interval
        )),
        None => Some(format!(
            "the device code's lifetime (expires_in {lifetime} s) ended before the user's {what}, \
             due after {after} pending answer(s): {} came, at interval {interval} s",
            stats.pending
        )),
    }
}

/// The user's decision during the loop; a refusal or a failed hook ends the step (the
/// loop would otherwise run to `expires_in` and blame the server).
async fn decide(session: &Session, code: &str, approve: bool) -> Result<(), StepError> {
    let what = if approve { "approve" } else { "deny" };
    let ex = session.decide(code, None, approve).await?;
    if (200..300).contains(&ex.status) {
        Ok(())
    } else {
        Err(StepError::Target(TargetError::Hook(HookError(format!(
            "the target refused to {what} the user code while polling: HTTP {} {}",
            ex.status,
            crate::runner::hooks::quote(&ex.body)
        )))))
    }
}
