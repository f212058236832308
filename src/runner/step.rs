//! One step: its action, then its assertions, its captures and its snapshot.
//!
//! - A step that needs a value an earlier step could not give is SKIPPED with the reason,
//!   and so are the captures it would have made.
//! - A step whose status assertion fails judges nothing else: the rest of its assertions
//!   are about a response the server did not give (a missing `no-store` on an error
//!   response says nothing about TOK-6), so they are SKIPPED, "not judged".
//! - A 5xx answer is judged only by a step that asserts a status (the row it cites says
//!   what the server must answer); elsewhere it is the target failing: ERROR.
//! - A hook that reports the target refused (an approval of an unknown user code) is
//!   judged only by a step that asserts a status; elsewhere it is an ERROR, never a pass.
//! - Captures come after the assertions: a value the contract does not promise takes its
//!   `default` or is marked missing with the capture's `optional` reason; a promised value
//!   that is absent after a failed assertion is missing (the failure is the verdict); one
//!   that is absent with nothing failed is an ERROR.

use crate::assert::{self, Exchange};
use crate::runner::evaluate::{condition, evaluate};
use crate::runner::request::{cut, learn_secrets, log_exchange, send, summarize};
use crate::runner::result::{AssertionResult, Status, StepResult};
use crate::runner::target::{Session, TargetSpec};
use crate::runner::{ms, RunOptions, StepCtx, StepError};
use crate::scenario::model::{Action, Query, Step};
use crate::scenario::spans::Seg;
use crate::scenario::vars::{is_sensitive_name, Vars};
use crate::scenario::{step_name, Loaded};
use serde_json::Value;
use std::time::Instant;

/// A step's result.
pub(crate) struct StepOutcome {
    pub(crate) result: StepResult,
}

enum Done {
    Response(Exchange),
    Nothing,
    CutShort(String),
}

/// The result of a step that does not run.
pub(crate) fn skipped(
    l: &Loaded,
    index: usize,
    step: &Step,
    why: String,
    not_applicable: bool,
) -> StepOutcome {
    let mut r = StepResult::new(
        step_name(step, index),
        l.spans.loc(&[Seg::Key("steps"), Seg::Index(index)]),
    );
    r.status = Status::Skipped;
    // Each assertion is listed, not judged, with the reason: its row reads "skipped, why"
    // in every report rather than "not run". A step that does not apply (the server took
    // another path its row accepts) has nothing to list.
    r.assertions = step
        .expect
        .iter()
        .filter(|_| !not_applicable)
        .enumerate()
        .map(|(j, a)| {
            let at = [
                Seg::Key("steps"),
                Seg::Index(index),
                Seg::Key("expect"),
                Seg::Index(j),
            ];
            not_judged(l.spans.loc(&at), a, step, &why)
        })
        .collect();
    r.skip_reason = Some(why);
    r.not_applicable = not_applicable;
    StepOutcome { result: r }
}

/// Runs one step.
pub(crate) async fn run_step(
    l: &Loaded,
    index: usize,
    step: &Step,
    session: &Session,
    vars: &mut Vars,
    opts: &RunOptions,
) -> StepOutcome {
    let started = Instant::now();
    let mut ctx = StepCtx {
        l,
        index,
        contract: opts.contract(),
        rejected: None,
        result: StepResult::new(
            step_name(step, index),
            l.spans.loc(&[Seg::Key("steps"), Seg::Index(index)]),
        ),
    };
    let applies = match &step.if_ {
        Some(c) => condition(c, vars).map_err(StepError::from),
        None => Ok(None),
    };
    let mut outcome = match applies {
        Ok(None) => act(&mut ctx, step, session, vars, opts).await,
        Ok(Some(why)) => Err(StepError::NotApplicable(why)),
        Err(e) => Err(e),
    };
    for _ in 1..step.repeat {
        if !matches!(outcome, Ok(Done::Response(_) | Done::Nothing)) {
            break;
        }
        outcome = act(&mut ctx, step, session, vars, opts).await;
    }
    match outcome {
        Err(StepError::Skip(why)) => {
            let why = vars.redactor.redact(&why);
            skip_captures(vars, step, index, &why, false);
            ctx.result.status = Status::Skipped;
            ctx.result.skip_reason = Some(why);
        }
        Err(StepError::NotApplicable(why)) => {
            let why = vars.redactor.redact(&why);
            skip_captures(vars, step, index, &why, true);
            ctx.result.status = Status::Skipped;
            ctx.result.not_applicable = true;
            ctx.result.skip_reason = Some(why);
        }
        Err(e) => fail(&mut ctx, vars, e.to_string()),
        Ok(Done::CutShort(why)) => {
            ctx.result.status = Status::Skipped;
            ctx.result.skip_reason = Some(why);
        }
        Ok(Done::Nothing) => {}
        Ok(Done::Response(ex)) => match unjudgeable(step, &ex) {
            Some(why) => fail(&mut ctx, vars, why),
            None => judge(&mut ctx, step, &ex, vars, opts),
        },
    }
    for ex in ctx
        .result
        .exchange
        .iter_mut()
        .chain(ctx.result.exchanges.iter_mut())
    {
        ex.redact(&vars.redactor);
        log_exchange(ex);
    }
    ctx.result.duration_ms = ms(started);
    tracing::debug!(
        step = %ctx.result.name,
        status = ?ctx.result.status,
        ms = ctx.result.duration_ms,
        "step done"
    );
    StepOutcome { result: ctx.result }
}

fn fail(ctx: &mut StepCtx<'_>, vars: &Vars, message: String) {
    ctx.result.status = Status::Error;
    ctx.result.error = Some(vars.redactor.redact(&message));
}

/// Why a response cannot be judged by this step: the target failed (5xx), or a hook says
/// the target refused, where the step asserts no status to judge that by.
fn unjudgeable(step: &Step, ex: &Exchange) -> Option<String> {
    if asserts_status(step) {
        return None;
    }
    let excerpt = || cut(&ex.body.split_whitespace().collect::<Vec<_>>().join(" "));
    if ex.status >= 500 {
        let ct = ex.header("content-type").unwrap_or("no content type");
        return Some(format!(
            "the target failed: HTTP {} ({ct}): {}",
            ex.status,
            excerpt()
        ));
    }
    let hooked = matches!(
        step.action,
        Action::Approve(_) | Action::Deny(_) | Action::RevokeApp(_)
    );
    if hooked && !(200..300).contains(&ex.status) {
        return Some(format!(
            "the target refused the user's action: HTTP {} {}",
            ex.status,
            crate::runner::hooks::quote(&ex.body)
        ));
    }
    None
}

/// The longest a `sleep` step waits, in seconds.
const MAX_SLEEP: f64 = 60.0;

fn a_text(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

/// How often a step asks again after a 429 or 503 before judging the answer.
const MAX_RETRIES: u32 = 3;

/// How long a 429 or 503 asks the client to wait (`Retry-After` in seconds or as an
/// HTTP-date, [`crate::polling::retry_after`]), capped at 10 s; 1 s when it does not say.
/// `None`: too long to wait.
fn retry_after(ex: &Exchange) -> Option<f64> {
    let Some(v) = ex.header("retry-after") else {
        return Some(1.0);
    };
    let secs = crate::polling::retry_after(v, std::time::SystemTime::now())?.as_secs_f64();
    (secs <= 10.0).then_some(secs)
}

/// Whether the step asserts that the status is `code` (then that answer is the subject).
fn expects_status(step: &Step, code: u16) -> bool {
    step.expect
        .iter()
        .any(|a| a.statuses().contains(&u64::from(code)))
}

/// Whether the step has an assertion on the status.
fn asserts_status(step: &Step) -> bool {
    step.expect.iter().any(|a| a.judges_status())
}

/// Whether a capture takes a credential from a redirect (a code, a token): what a client
/// does not keep from an authorization response it rejected.
fn withheld(q: &Query) -> bool {
    matches!(q, Query::Redirect(p) | Query::RedirectAll(p) if is_sensitive_name(p))
}

/// Assertions (status first: if it fails, nothing else is judged), captures, snapshot.
fn judge(ctx: &mut StepCtx<'_>, step: &Step, ex: &Exchange, vars: &mut Vars, opts: &RunOptions) {
    let mut absent = Vec::new();
    for c in &step.capture {
        if let Some(why) = ctx.rejected.as_deref().filter(|_| withheld(&c.query)) {
            let what = &ctx.result.name;
            vars.set_missing(&c.name, format!("step `{what}`: {why}"), false);
            continue;
        }
        match assert::select(&c.query, ex) {
            Ok(Some(v)) => vars.set(&c.name, v),
            Ok(None) => absent.push((c, format!("{} is absent from the response", c.query))),
            Err(e) => absent.push((c, e)),
        }
    }
    let order: Vec<usize> = {
        let (status, rest): (Vec<usize>, Vec<usize>) =
            (0..step.expect.len()).partition(|j| step.expect[*j].query() == Some(&Query::Status));
        status.into_iter().chain(rest).collect()
    };
    let mut results: Vec<Option<AssertionResult>> = vec![None; step.expect.len()];
    let mut wrong_status: Option<String> = None;
    for j in order {
        let a = &step.expect[j];
        let is_status = a.query() == Some(&Query::Status);
        let applies = match &a.if_ {
            Some(c) => condition(c, vars),
            None => Ok(None),
        };
        let r = match (applies, &wrong_status, is_status) {
            // An alternative the row accepts was not taken: nothing to judge, nothing shown.
            (Ok(Some(_)), _, _) => continue,
            (Err(e), _, _) => not_judged(
                ctx.loc(&[Seg::Key("expect"), Seg::Index(j)]),
                a,
                step,
                &e.to_string(),
            ),
            (Ok(None), Some(why), false) => {
                not_judged(ctx.loc(&[Seg::Key("expect"), Seg::Index(j)]), a, step, why)
            }
            (Ok(None), _, _) => evaluate(ctx, j, a, ex, vars, step),
        };
        if a.judges_outcome() && matches!(r.status, Status::Failed | Status::Warning) {
            ctx.result.outcome_unexpected = true;
        }
        if is_status
            && wrong_status.is_none()
            && matches!(r.status, Status::Failed | Status::Warning | Status::Info)
        {
            wrong_status = Some(format!(
                "not judged: the response's status is {}, not the one this step expects",
                ex.status
            ));
        }
        results[j] = Some(r);
    }
    for r in results.into_iter().flatten() {
        ctx.result.status = ctx.result.status.worst(r.status);
        ctx.result.assertions.push(r);
    }
    let deviated = ctx.result.status >= Status::Info;
    for (c, why) in absent {
        let what = ctx.result.name.clone();
        if let Some(d) = &c.default {
            match vars.json(d) {
                Ok(v) => vars.set(&c.name, v),
                Err(e) => fail(ctx, vars, format!("capture `{}`: default: {e}", c.name)),
            }
        } else if let Some(reason) = &c.optional {
            vars.set_missing(
                &c.name,
                format!("step `{what}` did not give it ({why}; {reason})"),
                true,
            );
        } else if deviated {
            vars.set_missing(
                &c.name,
                format!("step `{what}` did not give it ({why}), and its assertions did not hold"),
                false,
            );
        } else {
            fail(ctx, vars, format!("capture `{}`: {why}", c.name));
        }
    }
    if let Some(settings) = &opts.snapshots {
        crate::runner::step::snapshot(ctx, step, ex, vars, settings, &opts.target);
    }
}

/// An assertion listed, not judged, with the reason.
fn not_judged(
    loc: crate::scenario::spans::Loc,
    a: &crate::scenario::model::Assertion,
    step: &Step,
    why: &str,
) -> AssertionResult {
    AssertionResult {
        loc,
        description: a.query().map(|q| q.to_string()).unwrap_or_default(),
        expected: String::new(),
        actual: why.to_string(),
        status: Status::Skipped,
        requirement: a
            .requirement
            .clone()
            .or_else(|| step.requirements.first().cloned()),
        row: None,
    }
}

/// The captures of a step that did not run are missing, with its reason.
fn skip_captures(vars: &mut Vars, step: &Step, index: usize, why: &str, not_applicable: bool) {
    for c in &step.capture {
        vars.set_missing(
            &c.name,
            format!("step {} did not run ({why})", index + 1),
            not_applicable,
        );
    }
}

/// Performs the step's action; the response to judge, if any.
async fn act(
    ctx: &mut StepCtx<'_>,
    step: &Step,
    session: &Session,
    vars: &mut Vars,
    opts: &RunOptions,
) -> Result<Done, StepError> {
    match &step.action {
        Action::Request(r) => request(ctx, step, r, session, vars, opts.verbose)
            .await
            .map(Done::Response),
        Action::Poll(p) => crate::runner::poll::poll(ctx, p, session, vars, opts.verbose)
            .await
            .map(Done::Response),
        Action::Approve(u) | Action::Deny(u) => {
            let code = vars.text(&u.user_code)?;
            let approve = matches!(step.action, Action::Approve(_));
            let ex = session.decide(&code, u.user.as_deref(), approve).await?;
            Ok(Done::Response(ex))
        }
        Action::Consent(c) => {
            let mut q = Vec::new();
            for (k, v) in &c.query.0 {
                q.push((vars.text(k)?, vars.text(v)?));
            }
            if c.par {
                q = push(ctx, session, vars, q).await?;
            }
            let (url, ex) = session.consent(&q, c.decision, c.user.as_deref()).await?;
            learn_secrets(&mut vars.redactor, &ex);
            ctx.rejected =
                crate::runner::mixup::rejected(&ex, &session.issuer, session.iss_required);
            ctx.result.exchange = Some(summarize(&vars.redactor, "GET", &url, "", &ex));
            Ok(Done::Response(ex))
        }
        Action::AdvanceClock(a) => {
            let v = vars.value(&a.seconds)?;
            let secs = assert::number(&v).ok_or_else(|| {
                StepError::Step(format!(
                    "advance_clock: `{}` is not a number of seconds",
                    a.seconds
                ))
            })?;
            Ok(match session.advance(secs).await? {
                true => Done::Nothing,
                false => Done::CutShort(session.cannot_wait(secs)),
            })
        }
        Action::Sleep(s) => {
            let v = vars.value(&s.seconds)?;
            let secs = assert::number(&v)
                .filter(|n| (0.0..=MAX_SLEEP).contains(n))
                .ok_or_else(|| {
                    StepError::Step(format!(
                        "sleep: `{}` is not a number of seconds from 0 to {MAX_SLEEP} (advance_clock waits longer, where the target allows)",
                        a_text(&v)
                    ))
                })?;
            session.wait(secs).await?;
            Ok(Done::Nothing)
        }
        Action::RevokeApp(r) => {
            let client = vars.text(&r.client)?;
            let ex = session.revoke_app(&client, r.user.as_deref()).await?;
            Ok(Done::Response(ex))
        }
        Action::Each(e) => {
            let (ex, mut lines) = crate::runner::race::each(e, session, vars).await?;
            ctx.result.exchange = lines.last().cloned();
            if opts.verbose {
                ctx.result.exchanges.append(&mut lines);
            }
            Ok(Done::Response(ex))
        }
        Action::Race(r) => {
            let (ex, line) = crate::runner::race::race(r, session, vars).await?;
            if opts.verbose {
                ctx.result.exchanges.push(line.clone());
            }
            ctx.result.exchange = Some(line);
            Ok(Done::Response(ex))
        }
    }
}

/// Pushes an authorization request (RFC 9126 §2.1) for a `consent` with `par: true`: the
/// query the user then opens (`client_id` and the `request_uri`), or why it cannot be.
async fn push(
    ctx: &mut StepCtx<'_>,
    session: &Session,
    vars: &mut Vars,
    query: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, StepError> {
    use crate::endpoint::Endpoint;
    if !session.offers(Endpoint::PushedAuthorization) {
        return Err(StepError::Skip(
            "the target offers no `par` endpoint (none in its metadata or its profile's `endpoints`)".into(),
        ));
    }
    let client_id = query
        .iter()
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| StepError::Step("`par: true` needs `client_id` in the query".into()))?;
    let url = session.endpoint_url(Endpoint::PushedAuthorization);
    let mut req = session.http.post(&url);
    // A confidential client authenticates with Basic (RFC 6749 §2.3.1: form-urlencoded
    // first), a public one by its `client_id` in the pushed parameters.
    if let Some(secret) = session.secret_of(&client_id) {
        let basic = crate::oauth::basic_credentials(&client_id, secret);
        vars.redactor.add(secret, "client_secret");
        vars.redactor.add(&basic, "basic_credentials");
        req = req.header("authorization", format!("Basic {basic}"));
    }
    let sent = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&query)
        .finish();
    let ex = session
        .fetch(
            req.header("content-type", "application/x-www-form-urlencoded")
                .body(sent.clone()),
        )
        .await?;
    learn_secrets(&mut vars.redactor, &ex);
    let summary = summarize(&vars.redactor, "POST", &url, &sent, &ex);
    ctx.result.exchanges.push(summary);
    let uri = ex
        .json
        .as_ref()
        .and_then(|j| j.get("request_uri"))
        .and_then(serde_json::Value::as_str)
        .filter(|_| (200..300).contains(&ex.status))
        .ok_or_else(|| {
            StepError::Step(format!(
                "`par: true`: the push was answered {} {}",
                ex.status,
                vars.redactor.redact(&cut(&ex.body))
            ))
        })?;
    Ok(vec![
        ("client_id".to_string(), client_id),
        ("request_uri".to_string(), uri.to_string()),
    ])
}

/// Sends a step's request. CLIENT-18 (RFC 6585 §4, RFC 9110 §10.2.3, RFC 7009 §2.2.1):
/// a 429 or 503 is flow control; wait as Retry-After says and ask again, a few times,
/// before the answer is judged — unless the step is about that very status.
async fn request(
    ctx: &mut StepCtx<'_>,
    step: &Step,
    r: &crate::scenario::model::Request,
    session: &Session,
    vars: &mut Vars,
    verbose: bool,
) -> Result<Exchange, StepError> {
    let mut retries = 0;
    loop {
        let (ex, summary) = send(session, vars, r).await?;
        if verbose {
            ctx.result.exchanges.push(summary.clone());
        }
        ctx.result.exchange = Some(summary);
        let busy = matches!(ex.status, 429 | 503) && !expects_status(step, ex.status);
        match retry_after(&ex) {
            Some(wait) if busy && retries < MAX_RETRIES => {
                retries += 1;
                ctx.result.retries = retries;
                session.wait(wait).await?;
            }
            _ => return Ok(ex),
        }
    }
}

/// Compares the step's response with its stored snapshot, as one more assertion. A live
/// target without a stored snapshot gets none compared: the new one is recorded in the
/// report (and written for review only when asked), never a verdict.
pub(crate) fn snapshot(
    ctx: &mut StepCtx<'_>,
    step: &Step,
    ex: &Exchange,
    vars: &Vars,
    settings: &crate::snapshot::Settings,
    target: &TargetSpec,
) {
    use crate::snapshot::{compare, file_name, normalize};
    if settings.mode == crate::snapshot::Mode::Off {
        return;
    }
    let name = match &step.snapshot {
        Some(s) => s.name().to_string(),
        None if settings.all => format!("step-{:02}", ctx.index + 1),
        None => return,
    };
    let l = ctx.l;
    let loc = match &step.snapshot {
        Some(_) => ctx.loc(&[Seg::Key("snapshot")]),
        None => ctx.result.loc.clone(),
    };
    let mut redact = l.scenario.snapshot_redact.clone();
    if let Some(own) = step.snapshot.as_ref().and_then(|s| s.redact()) {
        redact.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let mut dir = settings.dir.clone();
    let live = matches!(target, TargetSpec::Live(_));
    if let TargetSpec::Live(p) = target {
        // A live target keeps its own set.
        dir.push(crate::scenario::slug(&p.name));
    }
    let file = dir.join(file_name(&l.path, &name));
    let mut result = AssertionResult {
        loc,
        description: format!("snapshot `{name}`"),
        expected: format!("the stored snapshot {}", file.display()),
        actual: String::new(),
        status: Status::Passed,
        requirement: None,
        row: None,
    };
    // The target's address changes from run to run (the builtin's port): a placeholder.
    let mut redactor = vars.redactor.clone();
    // The base first: where the issuer is the base, the placeholder is `[base_url]`.
    for var in ["base_url", "issuer"] {
        if let Some(Value::String(url)) = vars.get(var) {
            redactor.add(url, var);
        }
    }
    let content = match normalize(ex, &redactor, &redact) {
        Ok(c) => c,
        Err(e) => {
            result.status = Status::Error;
            result.actual = e;
            ctx.result.status = ctx.result.status.worst(result.status);
            ctx.result.assertions.push(result);
            return;
        }
    };
    let expression = ctx.result.name.clone();
    let compared = compare(&file, settings.mode, &l.path, &expression, &content);
    // Against a live target a missing snapshot is recorded, not judged (SKIPPED).
    let new = live && matches!(compared, Ok(crate::snapshot::Outcome::Missing { .. }));
    (result.status, result.actual) = snapshot_verdict(compared, &file, live);
    ctx.result.status = ctx.result.status.worst(result.status);
    ctx.result.assertions.push(result);
    ctx.result.snapshot = Some(crate::runner::result::SnapshotRecord {
        name,
        file: file.display().to_string(),
        content,
        new,
    });
}

/// A snapshot comparison's status and what the assertion shows as found. A new snapshot
/// fails against the builtin (its set ships with the harness) and is skipped against a
/// live target (its first run has nothing to compare with).
fn snapshot_verdict(
    compared: std::io::Result<crate::snapshot::Outcome>,
    file: &std::path::Path,
    live: bool,
) -> (Status, String) {
    use crate::snapshot::Outcome;
    match compared {
        Ok(Outcome::Matched) => (Status::Passed, "the same".into()),
        Ok(Outcome::Written) => (Status::Passed, "written".into()),
        Ok(Outcome::Missing { pending }) => {
            let review = match pending {
                Some(p) => format!(
                    "the new one is in {} for review (cargo insta review, or oauth-harness snapshots accept)",
                    p.display()
                ),
                None => "run with --snapshots update to write it for review".into(),
            };
            if live {
                let found = format!("new: no stored snapshot to compare with; {review}");
                (Status::Skipped, found)
            } else {
                (Status::Failed, format!("no stored snapshot; {review}"))
            }
        }
        Ok(Outcome::Changed { diff, pending }) => {
            let review = pending
                .map(|p| format!("\nthe new one is in {} for review", p.display()))
                .unwrap_or_default();
            (
                Status::Failed,
                format!("a different response:\n{diff}{review}"),
            )
        }
        Err(e) => (Status::Error, format!("cannot use {}: {e}", file.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(retry_after: Option<&str>) -> Exchange {
        Exchange {
            status: 503,
            headers: retry_after
                .map(|v| vec![("retry-after".to_string(), v.to_string())])
                .unwrap_or_default(),
            ..Exchange::default()
        }
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date_and_never_too_long() {
        assert_eq!(retry_after(&busy(Some("2"))), Some(2.0));
        assert_eq!(retry_after(&busy(None)), Some(1.0));
        assert_eq!(retry_after(&busy(Some("3600"))), None);
        assert_eq!(
            retry_after(&busy(Some("Sun, 06 Nov 1994 08:49:37 GMT"))),
            Some(0.0)
        );
        let soon = httpdate::fmt_http_date(
            std::time::SystemTime::now() + std::time::Duration::from_secs(5),
        );
        let wait = retry_after(&busy(Some(&soon)));
        assert!(wait.is_some_and(|w| (3.0..=5.0).contains(&w)), "{wait:?}");
        assert!(retry_after(&busy(Some("soon"))).is_none());
    }
}
