//! The device-polling flow: one goose transaction is one device's life (RFC 8628).
//!
//! The device asks for a code, its user decides after a drawn delay (through the
//! target's approval hook; the built-in server's is the test-mode control API), and the
//! device polls the token endpoint exactly as §3.5 demands: it waits `interval` after
//! each answer, adds 5 s after every `slow_down`, and stops at `expires_in` or on
//! `access_denied` / `expired_token`. Each poll is recorded under its outcome
//! (`token: authorization_pending`...). The harness checks its own polling: a gap
//! shorter than the interval between two polls is an `interval_violation` (must stay 0);
//! the `eager` share of devices polls once after half the interval on purpose, counted
//! as `deliberate_early_poll`, which the built-in server's own audit must match exactly.
//! A share of the devices (the profile's `probes`) polls once more after its tokens or
//! after `expires_in`, for answers a server owes at any load (`super::probes`).

use super::probes::{self, Probe};
use super::profile::{DelaySettings, DeviceSettings};
use super::{send, Ctx, User};
use crate::endpoint::Endpoint;
use crate::polling::{Answer, Reply, Schedule};
use goose::prelude::{scenario, Scenario, Transaction, TransactionFunction};
use rand::Rng as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a device's user will do.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Decision {
    Approve,
    Deny,
    Never,
}

/// Roles are dealt by the user's place, so the mix is exact: with 20 devices and approve
/// 0.5, ten approve.
fn role(d: &DeviceSettings, (index, of): (usize, usize)) -> (Decision, bool) {
    let of = of.max(1);
    let n = of as f64;
    let f = (index as f64 + 0.5) / n;
    let decision = if f < d.approve {
        Decision::Approve
    } else if f < d.approve + d.deny {
        Decision::Deny
    } else {
        Decision::Never
    };
    // Eager devices spread over all decisions: a stride co-prime with most counts.
    let g = ((index * 7919) % of) as f64;
    let eager = (g + 0.5) / n < d.eager;
    (decision, eager)
}

/// What the devices need of the target, checked before any load is sent: the other
/// client of the DEV-23 probe must be confidential (it polls with its own credentials).
pub(super) fn check(ctx: &Ctx, d: &DeviceSettings) -> Result<(), String> {
    match d.other_client.as_deref() {
        Some(other) if ctx.session.secret_of(other).is_none() => Err(format!(
            "device.other_client `{other}` must be a confidential client whose secret the target profile gives"
        )),
        _ => Ok(()),
    }
}

/// The goose scenario: one transaction, one device life.
pub(super) fn scenario(ctx: &Arc<Ctx>, d: &DeviceSettings) -> Scenario {
    let (c, d) = (ctx.clone(), Arc::new(d.clone()));
    let life: TransactionFunction = Arc::new(move |user| {
        let (c, d) = (c.clone(), d.clone());
        Box::pin(async move {
            let mut user = User::goose(user, c.users);
            life(&mut user, &c, &d).await;
            Ok(())
        })
    });
    scenario!("device-polling").register_transaction(Transaction::new(life).set_name("device life"))
}

pub(super) async fn life(user: &mut User<'_>, ctx: &Arc<Ctx>, d: &DeviceSettings) {
    if ctx.ending() {
        // goose repeats transactions until its own stop reaches this user; a new device
        // now could not live, so wait for that stop without sending anything.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        return;
    }
    let (decision, eager) = role(d, user.slot);
    let device_url = ctx.session.endpoint_url(Endpoint::DeviceAuthorization);
    let client_id = d.client_id.clone();
    let secret = ctx.session.secret_of(&client_id).map(str::to_string);
    let basic = secret.as_deref().map(|s| (client_id.as_str(), s));
    let mut params = vec![("client_id", client_id.as_str())];
    if let Some(s) = &d.scope {
        params.push(("scope", s.as_str()));
    }
    let name = "device_authorization";
    let answer = match send(ctx.post(&device_url, &params, basic)).await {
        Ok(a) => a,
        Err(failed) => {
            ctx.record(user, name, failed.latency, false, None).await;
            ctx.recorder.count("error", 1);
            tracing::debug!("device authorization: {}", failed.why);
            return;
        }
    };
    let (Some(device_code), Some(user_code)) = (
        answer.str("device_code").map(str::to_string),
        answer.str("user_code").map(str::to_string),
    ) else {
        ctx.record(user, name, answer.latency, false, Some(answer.status))
            .await;
        ctx.recorder.count(
            if answer.status == 429 {
                "rate_limited"
            } else {
                "error"
            },
            1,
        );
        return;
    };
    ctx.record(
        user,
        name,
        answer.latency,
        answer.status == 200,
        Some(answer.status),
    )
    .await;
    let issued = Instant::now();
    // RFC 8628 §3.2: interval defaults to 5 s when absent; no expires_in, no limit.
    let secs = |k: &str| answer.u64(k).map(Duration::from_secs);
    let mut schedule = Schedule::new(secs("interval"), secs("expires_in"));
    if decision != Decision::Never {
        let delay = user_delay(&d.delay, secs("expires_in"));
        let c = ctx.clone();
        let (code, dc) = (user_code.clone(), device_code.clone());
        let other = d.other_client.clone();
        tokio::spawn(async move {
            if c.sleep_until(issued + c.real(delay)).await {
                let approve = decision == Decision::Approve;
                if decide(&c, &code, approve).await && approve && probes::drawn(&c) {
                    other_client_polls(&c, other.as_deref(), &dc).await;
                }
            }
        });
    }
    let device = Device {
        code: &device_code,
        client_id: &client_id,
        basic,
        eager,
        issued,
    };
    poll(user, ctx, &mut schedule, &device).await;
}

/// How long a user takes to decide: drawn from the profile's range, within the code's
/// life. A user who decides after `expires_in` only makes a run with no successes
/// (issue #19); what is left of the range is drawn from.
fn user_delay(range: &DelaySettings, expires_in: Option<Duration>) -> Duration {
    let life = expires_in.map(|e| e.saturating_sub(Duration::from_secs(1)));
    let hi = life.map_or(range.max.0, |l| range.max.0.min(l));
    let lo = range.min.0.min(hi);
    if hi > lo {
        rand::rng().random_range(lo..=hi)
    } else {
        lo
    }
}

/// The user approves or denies `user_code` through the target's consent path; true when
/// the decision was taken.
async fn decide(ctx: &Ctx, user_code: &str, approve: bool) -> bool {
    match ctx.session.decide(user_code, None, approve).await {
        Ok(ex) if ex.status < 300 => {
            let outcome = if approve {
                "user_approved"
            } else {
                "user_denied"
            };
            ctx.recorder.count(outcome, 1);
            true
        }
        Ok(ex) => {
            // A decision after the code ended is no failure of the server's.
            ctx.recorder.count("decision_refused", 1);
            tracing::debug!(status = ex.status, "decision refused");
            false
        }
        Err(e) => {
            ctx.recorder.count("decision_error", 1);
            tracing::warn!("approval hook failed: {e}");
            false
        }
    }
}

/// DEV-23: right after the approval, the profile's `device.other_client` polls the
/// device code with its own credentials; the code is bound to its client, so anything but
/// a refusal is counted (an advisory: the row is a SHOULD). The device's own poll comes an
/// interval later and still gets the tokens from a server that kept the rule.
async fn other_client_polls(ctx: &Ctx, other: Option<&str>, device_code: &str) {
    let Some(other) = other else {
        return;
    };
    let Some(secret) = ctx.session.secret_of(other) else {
        return;
    };
    let token_url = ctx.session.endpoint_url(Endpoint::Token);
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device_code),
    ];
    let req = ctx.post(&token_url, &form, Some((other, secret)));
    // Not one of the device's own polls: recorded apart from its user.
    let mut by = User::arrival((0, 1), Duration::ZERO);
    probes::send_probe(&mut by, ctx, Probe::DeviceOtherClient, req).await;
}

/// One device's code and how it authenticates.
struct Device<'a> {
    code: &'a str,
    client_id: &'a str,
    basic: Option<(&'a str, &'a str)>,
    /// Polls early once, on purpose.
    eager: bool,
    /// When the device authorization answer came.
    issued: Instant,
}

/// The device's polls (RFC 8628 §3.5) on `polling::Schedule`, the rule the scenario
/// runner follows too: `interval` after each answer, +5 s per `slow_down`, a 429's
/// `Retry-After`, twice the interval after a timeout, and no poll at or past
/// `expires_in` (counted as `expired`). Each poll is checked against the interval in
/// force: a shorter gap is an `interval_violation`, except the eager device's one
/// deliberate early poll.
async fn poll(user: &mut User<'_>, ctx: &Arc<Ctx>, schedule: &mut Schedule, device: &Device<'_>) {
    let token_url = ctx.session.endpoint_url(Endpoint::Token);
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device.code),
        ("client_id", device.client_id),
    ];
    let again = || ctx.post(&token_url, &form, device.basic);
    let mut last_poll: Option<Instant> = None;
    let mut eager_left = device.eager;
    // The schedule counts the server's time since the device authorization answer.
    let mut mark = device.issued;
    loop {
        let now = Instant::now();
        schedule.waited((now - mark).mul_f64(ctx.scale));
        mark = now;
        // The first poll is exempt from the early check (matrix §16 #6), so an eager
        // device polls early on its second poll.
        let early_on_purpose = eager_left && last_poll.is_some();
        let early = if early_on_purpose {
            schedule.interval() / 2
        } else {
            Duration::ZERO
        };
        let Some(wait) = schedule.next_wait(early) else {
            // §3.5: the device code has expired by then; the device stops.
            ctx.recorder.count("expired", 1);
            if probes::drawn(ctx) {
                // DEV-19: sent past expires_in, and an interval after the last poll.
                let left = schedule.remaining().unwrap_or_default();
                let wait = left.max(schedule.interval()) + Duration::from_secs(1);
                probe_after(user, ctx, wait, Probe::PollAfterExpiry, again()).await;
            }
            return;
        };
        if !ctx.sleep_until(now + ctx.real(wait)).await {
            ctx.recorder.count("unfinished", 1);
            return;
        }
        let sent = Instant::now();
        if let Some(prev) = last_poll {
            audit_gap(
                ctx,
                (sent - prev).mul_f64(ctx.scale),
                schedule,
                early_on_purpose,
            );
        }
        last_poll = Some(sent);
        if early_on_purpose {
            // One deliberate early poll per device, whatever the server answers.
            eager_left = false;
        }
        let next = match ctx.send_post(&token_url, &form, device.basic).await {
            Ok(answer) => judge(user, ctx, schedule, &answer, early_on_purpose).await,
            Err(failed) => unanswered(user, ctx, schedule, &failed).await,
        };
        match next {
            Next::Poll => {}
            Next::Stop => return,
            Next::Tokens => {
                if probes::drawn(ctx) {
                    // DEV-21: the spent code polled again, an interval later.
                    let wait = schedule.interval();
                    probe_after(user, ctx, wait, Probe::DeviceCodeAgain, again()).await;
                }
                return;
            }
        }
    }
}

/// Records a poll that got no answer: a timeout makes the device poll less often, not
/// give up (§3.5); a transport error ends it.
async fn unanswered(
    user: &mut User<'_>,
    ctx: &Ctx,
    schedule: &mut Schedule,
    failed: &super::NoAnswer,
) -> Next {
    if failed.timed_out {
        ctx.record(user, "token: timeout", failed.latency, false, None)
            .await;
        ctx.recorder.count("timeout", 1);
        schedule.answered(Answer::Timeout);
        return Next::Poll;
    }
    ctx.record(user, "token: transport error", failed.latency, false, None)
        .await;
    ctx.recorder.count("error", 1);
    tracing::debug!("poll: {}", failed.why);
    Next::Stop
}

/// The harness's own discipline (CLIENT-1): a gap of server time shorter than the interval
/// is an `interval_violation`, unless the poll was early on purpose.
fn audit_gap(ctx: &Ctx, server_gap: Duration, schedule: &Schedule, early_on_purpose: bool) {
    if early_on_purpose {
        ctx.recorder.count("deliberate_early_poll", 1);
    } else if server_gap < schedule.interval() {
        ctx.recorder.count("interval_violation", 1);
        ctx.recorder
            .request("harness: interval_violation", Duration::ZERO, false);
    }
}

/// Sends `probe` after `wait` of server time, unless the run ends first.
async fn probe_after(
    user: &mut User<'_>,
    ctx: &Ctx,
    wait: Duration,
    probe: Probe,
    req: reqwest::RequestBuilder,
) {
    if ctx.sleep_until(Instant::now() + ctx.real(wait)).await {
        probes::send_probe(user, ctx, probe, req).await;
    }
}

/// What a device does after an answer.
enum Next {
    /// Polls again.
    Poll,
    /// Stops: denied, expired, or an answer it cannot use.
    Stop,
    /// Stops with its tokens.
    Tokens,
}

/// Records one poll's answer and adjusts the schedule; what the device does next.
async fn judge(
    user: &mut User<'_>,
    ctx: &Arc<Ctx>,
    schedule: &mut Schedule,
    answer: &super::Answer,
    early_on_purpose: bool,
) -> Next {
    let status = Some(answer.status);
    let has_token = answer.str("access_token").is_some();
    let reply = crate::polling::reply(answer.status, answer.error(), has_token, answer.retry_after);
    let (name, ok, next) = match reply {
        Reply::Tokens => ("success", true, Next::Tokens),
        Reply::Again(a) => {
            schedule.answered(a);
            match a {
                Answer::Pending => {
                    tracing::trace!("poll: authorization_pending");
                    ("authorization_pending", true, Next::Poll)
                }
                Answer::SlowDown => {
                    if !early_on_purpose {
                        // The poll kept the interval: a server may still throttle (DEV-15
                        // and DEV-16 are MAYs), so this is counted and shown, never failed.
                        ctx.recorder.count("slow_down_unprovoked", 1);
                    }
                    ("slow_down", true, Next::Poll)
                }
                // Flow control (matrix §15 #6, CLIENT-18): wait as told and poll again.
                Answer::TooMany(_) => ("rate_limited", true, Next::Poll),
                // Not an answer `reply` gives (a timeout has none); counted if it were.
                Answer::Timeout => ("timeout", true, Next::Poll),
            }
        }
        Reply::Final(400, Some("access_denied")) => ("access_denied", true, Next::Stop),
        Reply::Final(400, Some("expired_token")) => ("expired_token", true, Next::Stop),
        Reply::Final(status, error) => {
            tracing::debug!(status, ?error, "unexpected poll answer");
            ("unexpected", false, Next::Stop)
        }
    };
    ctx.record(user, &format!("token: {name}"), answer.latency, ok, status)
        .await;
    ctx.recorder.count(name, 1);
    next
}

/// The built-in server's own count of early polls for the device client, added to the
/// outcomes as `server_early_polls` and `server_polls` (a check independent of the
/// harness's own bookkeeping).
pub(super) async fn server_audit(ctx: &Ctx, d: &DeviceSettings, summary: &mut super::Summary) {
    let url = format!("{}/_test/audit", ctx.session.base);
    let Ok(resp) = ctx.session.http.get(&url).send().await else {
        return;
    };
    let Ok(v) = resp.json::<serde_json::Value>().await else {
        return;
    };
    let audit = &v["clients"][d.client_id.as_str()];
    for (key, name) in [
        ("early_polls", "server_early_polls"),
        ("polls", "server_polls"),
    ] {
        if let Some(n) = audit[key].as_u64() {
            summary.outcomes.insert(name.into(), n);
        }
    }
}
