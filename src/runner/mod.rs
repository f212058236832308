//! The runner: scenarios in, a [`result::RunResult`] out. It never prints; reporters
//! render what it returns.
//!
//! A verdict is a claim about someone else's server, so the runner judges only what a
//! scenario's assertions cite, at the cited row's level, and says why wherever it cannot
//! judge: a step whose needs the target does not meet is SKIPPED with the reason (a role,
//! a resource, a lifetime, a wait longer than the target allows, a value an earlier step
//! could not give); a step that cannot run because the target or a hook failed is an
//! ERROR, and ends its scenario (later steps would only cascade).
//!
//! - [`target`]: where (the builtin, or a live server from a profile: [`builtin`] and
//!   [`live`] are the two backends) and its hooks;
//! - [`step`]: one step — action, assertions, captures, snapshot;
//! - [`request`], [`poll`], [`evaluate`]: a request sent, the RFC 8628 poll, a predicate.

pub mod browser;
pub(crate) mod builtin;
pub mod chromium;
pub mod clients;
pub mod discovery;
pub mod error;
pub(crate) mod evaluate;
pub mod expected;
pub mod form;
pub mod hooks;
pub(crate) mod http;
pub mod jwks_host;
pub(crate) mod live;
pub(crate) mod mixup;
pub(crate) mod poll;
pub mod profile;
pub(crate) mod race;
pub mod recipe;
pub mod request;
pub mod result;
pub(crate) mod session;
pub(crate) mod step;
pub mod target;

use crate::scenario::spans::Seg;
use crate::scenario::vars::{VarError, Vars};
use crate::scenario::Loaded;
use result::{RunResult, ScenarioResult, Status, StepResult};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use target::{Session, Target, TargetSpec};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where.
    pub target: TargetSpec,
    /// Scenarios at once.
    pub jobs: usize,
    /// Keep every exchange of every step.
    pub verbose: bool,
    /// The contract to hold the target to; `None`: the target's own (builtin: Noorle's,
    /// a profile: its `contract`).
    pub expect: Option<profile::Contract>,
    /// Response snapshots; `None`: off.
    pub snapshots: Option<crate::snapshot::Settings>,
    /// Whom `manual` hooks ask (the command line: the terminal).
    pub person: target::Person,
    /// Variables given from outside (`--var`, files, `OAUTH_HARNESS_VAR_*`): every
    /// scenario's run starts with them.
    pub given: std::sync::Arc<crate::scenario::inputs::Inputs>,
}

impl RunOptions {
    /// The contract in force.
    pub fn contract(&self) -> profile::Contract {
        self.expect.unwrap_or(match &self.target {
            TargetSpec::Builtin { .. } => profile::Contract::Noorle,
            TargetSpec::Live(p) => p.contract,
        })
    }
}

/// Why a step could not give a verdict.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum StepError {
    /// The step needs something that is not there (a value an earlier step could not give,
    /// a wait longer than the target allows): SKIPPED, with the reason.
    #[error("{0}")]
    Skip(String),
    /// The server took another path its contract allows (an optional value it did not
    /// give, a condition that does not hold): the step does not apply.
    #[error("{0}")]
    NotApplicable(String),
    /// The target failed (a transport error, an unreadable body) or a hook could not do
    /// its work.
    #[error("{0}")]
    Target(#[from] error::TargetError),
    /// The step itself cannot be done as written (a value of the wrong kind).
    #[error("{0}")]
    Step(String),
}

impl From<VarError> for StepError {
    fn from(e: VarError) -> Self {
        match e {
            VarError::Missing {
                not_applicable: true,
                ..
            } => StepError::NotApplicable(e.to_string()),
            VarError::Missing { .. } => StepError::Skip(e.to_string()),
            other => StepError::Step(other.to_string()),
        }
    }
}

/// Whether a scenario changes what other scenarios on the same live server stand on: it
/// moves the shared clock (the clock hook, explicitly or by polling where waits move the
/// clock; real-time waits move nothing others share), or revokes an app for the user
/// (which kills that client's tokens in every scenario running beside it).
fn moves_clock(l: &Loaded, target: &TargetSpec) -> bool {
    let TargetSpec::Live(p) = target else {
        return false;
    };
    let steps = &l.scenario.steps;
    (p.clock.is_some() && steps.iter().any(|s| s.action.moves_clock()))
        || steps
            .iter()
            .any(|s| matches!(s.action, crate::scenario::model::Action::RevokeApp(_)))
}

/// Runs scenarios concurrently (at most `jobs` at once); results keep the input order.
///
/// The builtin gives every scenario its own server and clock. A live target is one server
/// with one clock and one user shared by all scenarios, so there the scenarios that move
/// its clock or revoke an app run alone, one after another, once the others have finished:
/// a 30-day jump must not expire the codes of a scenario running beside it, nor "revoke
/// access" kill its tokens.
pub async fn run(scenarios: Vec<Arc<Loaded>>, opts: &RunOptions) -> RunResult {
    run_until(scenarios, opts, std::future::pending()).await
}

/// [`run`], stopped early when `stop` completes (Ctrl-C): the scenarios that finished keep
/// their results, the others are ERROR "interrupted", and the result is returned all the
/// same, so that every report is still written.
pub(crate) async fn run_until(
    scenarios: Vec<Arc<Loaded>>,
    opts: &RunOptions,
    stop: impl std::future::Future<Output = ()>,
) -> RunResult {
    tokio::pin!(stop);
    let started = Instant::now();
    let target = tokio::select! {
        t = Target::prepare(&opts.target, opts.contract()) => t.map_err(|e| e.to_string()),
        () = &mut stop => Err("interrupted (Ctrl-C) before the target was ready".to_string()),
    };
    let target = match target {
        Ok(t) => t.with_person(opts.person.clone()),
        Err(e) => {
            let results = scenarios
                .iter()
                .map(|l| scenario_error(l, 0.0, e.clone()))
                .collect();
            let mut run = RunResult::new(opts.target.describe(), results, ms(started));
            run.judged_under(opts.contract());
            return run;
        }
    };
    let mut stopped = false;
    let (alone, together): (Vec<usize>, Vec<usize>) =
        (0..scenarios.len()).partition(|i| moves_clock(&scenarios[*i], &opts.target));
    let mut out: Vec<Option<ScenarioResult>> = vec![None; scenarios.len()];
    for (batch, jobs) in [(together, opts.jobs.max(1)), (alone, 1)] {
        if stopped {
            break;
        }
        let run = Batch {
            scenarios: &scenarios,
            opts,
            target: &target,
            jobs,
        };
        stopped = run.run(batch, &mut out, stop.as_mut()).await;
    }
    let notes = target.finish().await;
    // A scenario whose task panicked still appears, as an ERROR: results are never lost.
    let results = out
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.unwrap_or_else(|| {
                let l = &scenarios[i];
                let why = if stopped {
                    "interrupted (Ctrl-C) before this scenario finished"
                } else {
                    "the harness failed while running this scenario (a bug: please report it)"
                };
                scenario_error(l, 0.0, why.into())
            })
        })
        .collect();
    let mut run = RunResult::new(opts.target.describe(), results, ms(started));
    run.judged_under(opts.contract());
    run.notes = notes;
    run.notes.extend(new_snapshots_note(&run));
    run
}

/// Scenarios run together, at most `jobs` at a time.
struct Batch<'a> {
    scenarios: &'a [Arc<Loaded>],
    opts: &'a RunOptions,
    target: &'a Target,
    jobs: usize,
}

impl Batch<'_> {
    /// Runs the scenarios numbered `batch`, each result into `out` at its number, until
    /// all end or `stop` fires (then the rest are aborted); whether it fired.
    async fn run(
        &self,
        batch: Vec<usize>,
        out: &mut [Option<ScenarioResult>],
        mut stop: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    ) -> bool {
        let sem = Arc::new(tokio::sync::Semaphore::new(self.jobs));
        let mut set = tokio::task::JoinSet::new();
        for i in batch {
            let (sem, opts, l, target) = (
                sem.clone(),
                self.opts.clone(),
                self.scenarios[i].clone(),
                self.target.clone(),
            );
            set.spawn(async move {
                let _permit = sem.acquire_owned().await;
                (i, run_scenario(&l, &opts, &target).await)
            });
        }
        let mut stopped = false;
        loop {
            tokio::select! {
                joined = set.join_next() => match joined {
                    None => return stopped,
                    Some(Ok((i, r))) => {
                        tracing::info!(scenario = %r.name, status = ?r.status, "scenario done");
                        out[i] = Some(r);
                    }
                    Some(Err(_)) => {}
                },
                () = &mut stop, if !stopped => {
                    stopped = true;
                    set.abort_all();
                }
            }
        }
    }
}

/// How many snapshots were new (against a live target: not judged), as a run note.
fn new_snapshots_note(run: &RunResult) -> Option<String> {
    let new_snapshots = run
        .scenarios
        .iter()
        .flat_map(|s| &s.steps)
        .filter(|st| st.snapshot.as_ref().is_some_and(|s| s.new))
        .count();
    (new_snapshots > 0).then(|| format!(
        "{new_snapshots} response snapshot(s) had no stored one to compare with: recorded in report.json as new, not judged"
    ))
}

pub(crate) fn ms(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

fn scenario_result(l: &Loaded, status: Status) -> ScenarioResult {
    let s = &l.scenario;
    ScenarioResult {
        file: l.path.to_string(),
        name: s.name.clone(),
        requirements: s.requirements.clone(),
        tags: s.tags.clone(),
        status,
        skip_reason: None,
        duration_ms: 0.0,
        steps: vec![],
        race: None,
    }
}

fn scenario_error(l: &Loaded, duration_ms: f64, message: String) -> ScenarioResult {
    let mut r = scenario_result(l, Status::Error);
    r.duration_ms = duration_ms;
    r.steps.push(StepResult {
        error: Some(message),
        status: Status::Error,
        ..StepResult::new("target".into(), l.spans.loc(&[]))
    });
    r
}

/// Why a scenario cannot run on this session: capabilities, roles, resources, lifetimes
/// and secrets it needs that the target does not provide.
fn unmet_needs(l: &Loaded, session: &Session, opts: &RunOptions, can_wait: bool) -> Vec<String> {
    use crate::scenario::model::Capability;
    let mut why: Vec<String> = Vec::new();
    // The contract is the run's, not the target's.
    if l.scenario.needs().contains(&Capability::Oauth21)
        && opts.contract() != crate::contract::Contract::Oauth21
    {
        why.push("checks OAuth 2.1's contract only (run with --expect oauth21)".into());
    }
    let lacks: Vec<String> = l
        .scenario
        .needs()
        .iter()
        .filter(|c| **c != Capability::Oauth21)
        .filter(|c| !session.capabilities.contains(c))
        // Without a clock hook, a live target may wait short advances out in real time;
        // a longer one skips the rest of its scenario when it comes.
        .filter(|c| !(**c == Capability::Clock && can_wait))
        .map(|c| c.name())
        .collect();
    if !lacks.is_empty() {
        let browser = match &opts.target {
            TargetSpec::Live(p) => p.browser_missing().map(|m| format!(" ({m})")),
            TargetSpec::Builtin { .. } => None,
        };
        why.push(format!(
            "the target lacks: {}{}",
            lacks.join(", "),
            browser.unwrap_or_default()
        ));
    }
    for e in l.endpoints_used() {
        if !session.offers(e) {
            why.push(format!(
                "the target offers no `{}` endpoint (none in its metadata or its profile's `endpoints`)",
                e.name()
            ));
        }
    }
    for name in l.target_references() {
        let missing = match name.strip_prefix("secret.") {
            Some(s) => (!session.secrets.contains_key(s))
                .then(|| format!("the target supplies no secret: {s}")),
            None => (!session.provided.has(&name)).then(|| session.provided.why_missing(&name)),
        };
        if let Some(m) = missing {
            if !why.contains(&m) {
                why.push(m);
            }
        }
    }
    why
}

/// Runs one scenario on a fresh session.
pub(crate) async fn run_scenario(l: &Loaded, opts: &RunOptions, target: &Target) -> ScenarioResult {
    let s = &l.scenario;
    let race = s.steps.iter().find_map(|st| match &st.action {
        crate::scenario::model::Action::Race(r) => Some(r),
        _ => None,
    });
    let settings = target.race_settings();
    let rounds = s
        .rounds
        .unwrap_or(if race.is_some() { settings.rounds } else { 1 });
    if rounds <= 1 && race.is_none() {
        return run_round(l, opts, target).await;
    }
    // Rounds from scratch; one bad round is a definitive result (matrix §17a).
    let started = Instant::now();
    let n = race.map(|r| r.n.unwrap_or(settings.n));
    let mut round = 1;
    loop {
        let mut r = run_round(l, opts, target).await;
        let clean = matches!(r.status, Status::Passed | Status::Info);
        if !clean || round == rounds {
            r.race = match (clean, n) {
                (_, _) if r.status == Status::Skipped => None,
                (true, Some(n)) => Some(format!("not observed in {rounds} rounds of {n} at once")),
                (true, None) => Some(format!("held in {rounds} rounds")),
                (false, Some(n)) => Some(format!(
                    "observed in round {round} of {rounds} ({n} at once)"
                )),
                (false, None) => Some(format!("round {round} of {rounds}")),
            };
            r.duration_ms = ms(started);
            return r;
        }
        round += 1;
    }
}

/// One run of a scenario against its own session.
async fn run_round(l: &Loaded, opts: &RunOptions, target: &Target) -> ScenarioResult {
    let started = Instant::now();
    let s = &l.scenario;
    let session = match target.session_for(&s.needs()).await {
        Ok(sess) => sess,
        Err(e) => return scenario_error(l, ms(started), e.to_string()),
    };
    let mut result = scenario_result(l, Status::Passed);
    // A scenario about rows another contract judges has nothing to say under this one.
    let contract = opts.contract();
    let foreign = s
        .requirements
        .first()
        .filter(|_| s.requirements.iter().all(|r| !contract.judges(r)));
    let can_wait = matches!(&opts.target, TargetSpec::Live(p) if p.wait_for_expiry.is_some());
    let unmet = unmet_needs(l, &session, opts, can_wait);
    let skip = if let Some(r) = foreign {
        let (whose, name) = crate::contract::Contract::judged_by(r);
        Some(format!("checks {whose} only (run with --expect {name})"))
    } else if !unmet.is_empty() {
        Some(unmet.join("; "))
    } else {
        None
    };
    if let Some(why) = skip {
        result.status = Status::Skipped;
        result.skip_reason = Some(why);
        session.close().await;
        return result;
    }
    let mut vars = match scenario_vars(l, &session, opts) {
        Ok(v) => v,
        Err(e) => {
            session.close().await;
            return scenario_error(l, ms(started), e.to_string());
        }
    };
    result.steps = run_steps(l, &session, &mut vars, opts).await;
    session.close().await;
    result.status = scenario_status(&result.steps, &s.requirements);
    if result.status == Status::Skipped {
        let first = |na: bool| {
            result
                .steps
                .iter()
                .find(|st| st.status == Status::Skipped && st.not_applicable == na)
                .and_then(|st| st.skip_reason.clone())
        };
        result.skip_reason = first(false).or_else(|| first(true));
    }
    result.duration_ms = ms(started);
    result
}

/// A scenario's `vars:` entry that cannot be given a value.
#[derive(Debug, thiserror::Error)]
#[error("vars.{name}: {source}")]
struct VarsError {
    name: String,
    source: VarError,
}

/// The variables every scenario starts with (the target's addresses, its provided
/// values, the contract), then the scenario's own `vars:`.
fn scenario_vars(l: &Loaded, session: &Session, opts: &RunOptions) -> Result<Vars, VarsError> {
    let mut vars = Vars::new(session.secrets.clone());
    let text = |s: &str| Value::String(s.to_string());
    vars.set("base_url", text(&session.base));
    vars.set("issuer", text(&session.issuer));
    let metadata_url = crate::runner::discovery::candidate_urls(&session.issuer).remove(0);
    vars.set("metadata_url", Value::String(metadata_url));
    // The URLs that identify the AS besides its issuer (RFC 9126 §2, JWTAUTH-6).
    vars.set(
        "token_endpoint",
        text(&session.endpoint_url(crate::endpoint::Endpoint::Token)),
    );
    vars.set(
        "par_endpoint",
        text(&session.endpoint_url(crate::endpoint::Endpoint::PushedAuthorization)),
    );
    // RACE-9: where approvals can be asked at once ("" where none: the scenario needs
    // `race_hook` and is SKIPPED).
    vars.set(
        "approval_url",
        text(session.approval_url.as_deref().unwrap_or_default()),
    );
    // BCP-6: a documented way to detect PKCE support, besides metadata ("" when none).
    vars.set("pkce_documentation", text(&session.pkce_documentation));
    vars.set("contract", text(opts.contract().name()));
    // The thumbprint of the DPoP key J the session signs with (a profile's own, else the
    // fixture's): a `dpop_jkt`, a `cnf.jkt` (RFC 9449 §6, §10).
    let j = session
        .provided
        .keys
        .get(crate::keys::KeyName::J, None)
        .map(|k| k.thumbprint().to_string())
        .unwrap_or_default();
    // Not secrets, but token-shaped: kept out of reports like PKCE challenges, the other
    // fixture DPoP key's too.
    vars.redactor.add(&j, "dpop_jkt");
    if let Ok(j2) = crate::keys::fixture_key(crate::keys::KeyName::J2) {
        vars.redactor.add(j2.thumbprint(), "jkt");
    }
    vars.set("dpop_jkt", text(&j));
    vars.seed(&opts.given);
    for (name, value) in &session.provided.values {
        vars.set(name, value.clone());
    }
    for (name, raw) in &l.scenario.vars.0 {
        let v = vars.value(raw).map_err(|source| VarsError {
            name: name.to_string(),
            source,
        })?;
        vars.set(name.as_str(), v);
    }
    Ok(vars)
}

/// Runs the steps in order, until one errs. Once a step that changes the target's state
/// (the clock, a user's decision) did not run, the later steps would run against another
/// state than written: they do not run either, for the same reason. Once a step that may
/// change the server's state did not hold on what the server did (its status, the code or
/// error it redirected with: FAILED or WARNING) and the server accepted it (a 2xx, or a
/// redirect onward: it did something the scenario did not intend, such as accepting a
/// replayed refresh token and rotating it), later steps would be judged on that unintended state: they do not run, SKIPPED
/// with the reason, except a step that `stands_alone`.
async fn run_steps(
    l: &Loaded,
    session: &Session,
    vars: &mut Vars,
    opts: &RunOptions,
) -> Vec<StepResult> {
    let mut steps = Vec::new();
    let mut cut_short: Option<(String, bool)> = None;
    let mut state_unintended: Option<String> = None;
    for (i, st) in l.scenario.steps.iter().enumerate() {
        let r = match (&cut_short, &state_unintended) {
            (Some((why, na)), _) => step::skipped(l, i, st, why.clone(), *na),
            (None, Some(why)) if !st.stands_alone => step::skipped(l, i, st, why.clone(), false),
            _ => step::run_step(l, i, st, session, vars, opts).await,
        };
        // The server accepted (2xx, or a redirect onward that is no error redirect) what
        // the step expected it to treat otherwise: it may have issued, rotated or spent
        // something.
        let accepted = r
            .result
            .exchange
            .as_ref()
            .is_none_or(crate::runner::result::ExchangeSummary::accepted);
        if state_unintended.is_none()
            && st.action.may_change_server_state()
            && accepted
            && r.result.outcome_unexpected
        {
            state_unintended = Some(format!(
                "an earlier step failed and changed the server's state: step {} (`{}`) did not \
                 hold, so what the server holds now is not what this scenario set up",
                i + 1,
                r.result.name
            ));
        }
        let changes_state = st.action.changes_state();
        if cut_short.is_none() && r.result.status == Status::Skipped && changes_state {
            let why = r.result.skip_reason.clone().unwrap_or_default();
            cut_short = Some((
                format!("step {} did not run: {why}", i + 1),
                r.result.not_applicable,
            ));
        }
        let stop = r.result.status == Status::Error;
        steps.push(r.result);
        if stop {
            break;
        }
    }
    steps
}

/// A scenario's verdict: its worst step; but a scenario whose steps did not all run (other
/// than steps that do not apply), or none of whose own rows (`requirements:`) was judged
/// because nothing applied, and whose steps that ran found nothing worse than INFO, proved
/// nothing whole: SKIPPED.
fn scenario_status(steps: &[StepResult], rows: &[String]) -> Status {
    let worst = steps
        .iter()
        .map(|st| st.status)
        .filter(|s| *s != Status::Skipped)
        .fold(Status::Passed, Status::worst);
    let some_skipped = steps
        .iter()
        .any(|st| st.status == Status::Skipped && !st.not_applicable);
    // None of the scenario's own rows judged because nothing applied (the server took
    // another path every time): no claim either way, whatever its setup steps saw.
    let own = |a: &crate::runner::result::AssertionResult| {
        rows.is_empty() || a.requirement.as_ref().is_some_and(|r| rows.contains(r))
    };
    let judged = steps
        .iter()
        .flat_map(|st| &st.assertions)
        .any(|a| a.status != Status::Skipped && own(a));
    let none_applied = !judged && steps.iter().any(|st| st.not_applicable);
    if (some_skipped || none_applied) && worst <= Status::Info {
        Status::Skipped
    } else {
        worst
    }
}

/// What a step knows while it runs.
pub(crate) struct StepCtx<'a> {
    pub(crate) l: &'a Loaded,
    pub(crate) index: usize,
    pub(crate) contract: profile::Contract,
    pub(crate) result: StepResult,
    /// Why the harness, as the client, rejected the step's authorization response (RFC
    /// 9207 §2.4): its code and tokens are not captured, so nothing redeems them.
    pub(crate) rejected: Option<String>,
}

impl StepCtx<'_> {
    pub(crate) fn loc(&self, rest: &[Seg<'_>]) -> crate::scenario::spans::Loc {
        let mut path = vec![Seg::Key("steps"), Seg::Index(self.index)];
        path.extend_from_slice(rest);
        self.l.spans.loc(&path)
    }
}
