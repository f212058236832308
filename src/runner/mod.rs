//! The runner: scenarios in, a [`result::RunResult`] out. It never prints; reporters
//! render what it returns. A failed assertion is a result, not an error; only a step that
//! cannot run (target unreachable, undefined variable at run time) is an ERROR, and it
//! ends its scenario (later steps would only cascade).

pub mod expected;
pub mod profile;
pub mod result;
pub mod target;

use crate::assert::{self, Exchange};
use crate::scenario::model::{Assertion, Auth, Level, Poll, Query, Request, Step};
use crate::scenario::spans::Seg;
use crate::scenario::vars::{is_sensitive_name, Redactor, Vars};
use crate::scenario::{step_name, Loaded};
use base64::Engine;
use result::{
    AssertionResult, ExchangeSummary, PollStats, RunResult, ScenarioResult, Status, StepResult,
};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use target::{Session, TargetSpec};

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

/// Whether a requirement id belongs to Noorle's contract only.
fn noorle_only(id: &str) -> bool {
    id.starts_with("NOORLE-")
}

/// Whether a scenario moves the target's clock (explicitly, or by polling where waits
/// move the clock).
fn moves_clock(l: &Loaded) -> bool {
    l.scenario
        .steps
        .iter()
        .any(|s| s.advance_clock.is_some() || s.poll.is_some())
}

/// Runs scenarios concurrently (at most `jobs` at once); results keep the input order.
///
/// The builtin gives every scenario its own server and clock. A live target is one server
/// with one clock shared by all scenarios, so there the scenarios that move the clock run
/// alone, one after another, once the others have finished: a 30-day jump must not expire
/// the codes of a scenario running beside it.
pub async fn run(scenarios: Vec<Arc<Loaded>>, opts: &RunOptions) -> RunResult {
    run_until(scenarios, opts, std::future::pending()).await
}

/// [`run`], stopped early when `stop` completes (Ctrl-C): the scenarios that finished keep
/// their results, the others are ERROR "interrupted", and the result is returned all the
/// same, so that every report is still written.
pub async fn run_until(
    scenarios: Vec<Arc<Loaded>>,
    opts: &RunOptions,
    stop: impl std::future::Future<Output = ()>,
) -> RunResult {
    tokio::pin!(stop);
    let mut stopped = false;
    let started = Instant::now();
    let shared_clock = matches!(opts.target, TargetSpec::Live(_));
    let (alone, together): (Vec<usize>, Vec<usize>) =
        (0..scenarios.len()).partition(|i| shared_clock && moves_clock(&scenarios[*i]));
    let mut out: Vec<Option<ScenarioResult>> = vec![None; scenarios.len()];
    for (batch, jobs) in [(together, opts.jobs.max(1)), (alone, 1)] {
        if stopped {
            break;
        }
        let sem = Arc::new(tokio::sync::Semaphore::new(jobs));
        let mut set = tokio::task::JoinSet::new();
        for i in batch {
            let (sem, opts, l) = (sem.clone(), opts.clone(), scenarios[i].clone());
            set.spawn(async move {
                let _permit = sem.acquire_owned().await;
                (i, run_scenario(&l, &opts).await)
            });
        }
        loop {
            tokio::select! {
                joined = set.join_next() => match joined {
                    None => break,
                    Some(Ok((i, r))) => out[i] = Some(r),
                    Some(Err(_)) => {}
                },
                () = &mut stop, if !stopped => {
                    stopped = true;
                    set.abort_all();
                }
            }
        }
    }
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
    RunResult::new(opts.target.describe(), results, ms(started))
}

fn ms(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

fn scenario_error(l: &Loaded, duration_ms: f64, message: String) -> ScenarioResult {
    let s = &l.scenario;
    ScenarioResult {
        file: l.path.to_string(),
        name: s.name.clone(),
        requirements: s.requirements.clone(),
        tags: s.tags.clone(),
        status: Status::Error,
        skip_reason: None,
        duration_ms,
        steps: vec![StepResult {
            name: "target".into(),
            loc: l.spans.loc(&[]),
            status: Status::Error,
            duration_ms: 0.0,
            assertions: vec![],
            exchange: None,
            exchanges: vec![],
            error: Some(message),
            poll: None,
            snapshot: None,
        }],
    }
}

/// Runs one scenario on a fresh session.
pub async fn run_scenario(l: &Loaded, opts: &RunOptions) -> ScenarioResult {
    let started = Instant::now();
    let s = &l.scenario;
    let session = match Session::open(&opts.target).await {
        Ok(sess) => sess,
        Err(e) => return scenario_error(l, ms(started), e),
    };
    // A live target without a clock hook may wait short advances out in real time.
    let real_waits = match &opts.target {
        TargetSpec::Live(p) => p.wait_for_expiry,
        TargetSpec::Builtin { .. } => None,
    };
    let missing: Vec<String> = s
        .needs()
        .iter()
        .filter(|c| !session.capabilities.contains(c))
        .filter(|c| {
            !(**c == crate::scenario::model::Capability::Clock
                && real_waits.is_some_and(|w| advances_within(s, w)))
        })
        .map(|c| format!("{c:?}").to_lowercase())
        .collect();
    let mut result = ScenarioResult {
        file: l.path.to_string(),
        name: s.name.clone(),
        requirements: s.requirements.clone(),
        tags: s.tags.clone(),
        status: Status::Passed,
        skip_reason: None,
        duration_ms: 0.0,
        steps: vec![],
    };
    let missing_secrets: Vec<String> = crate::scenario::model::Scenario::secrets_needed(&l.source)
        .into_iter()
        .filter(|n| !session.secrets.contains_key(n))
        .collect();
    // A scenario about Noorle's documented behaviour only has nothing to say under `rfc`.
    let noorle_scenario =
        !s.requirements.is_empty() && s.requirements.iter().all(|r| noorle_only(r));
    if opts.contract() == profile::Contract::Rfc && noorle_scenario {
        result.status = Status::Skipped;
        result.skip_reason =
            Some("checks Noorle's documented contract only (run with --expect noorle)".into());
        session.close().await;
        return result;
    }
    if !missing.is_empty() || !missing_secrets.is_empty() {
        result.status = Status::Skipped;
        let mut why = Vec::new();
        if !missing.is_empty() {
            why.push(format!("the target lacks: {}", missing.join(", ")));
        }
        if !missing_secrets.is_empty() {
            why.push(format!(
                "the target supplies no secret: {}",
                missing_secrets.join(", ")
            ));
        }
        result.skip_reason = Some(why.join("; "));
        session.close().await;
        return result;
    }
    let mut vars = Vars::new(session.secrets.clone());
    vars.set("base_url", Value::String(session.base.clone()));
    for (name, raw) in &s.vars.0 {
        match vars.value(raw) {
            Ok(v) => vars.set(name, v),
            Err(e) => {
                session.close().await;
                return scenario_error(l, ms(started), format!("vars.{name}: {e}"));
            }
        }
    }
    for (i, step) in s.steps.iter().enumerate() {
        let r = run_step(l, i, step, &session, &mut vars, opts).await;
        result.status = result.status.worst(r.status);
        let stop = r.status == Status::Error;
        result.steps.push(r);
        if stop {
            break;
        }
    }
    session.close().await;
    result.duration_ms = ms(started);
    result
}

struct StepCtx<'a> {
    l: &'a Loaded,
    index: usize,
    contract: profile::Contract,
    result: StepResult,
}

impl StepCtx<'_> {
    fn fail(&mut self, message: String) {
        self.result.status = Status::Error;
        self.result.error = Some(message);
    }
}

async fn run_step(
    l: &Loaded,
    index: usize,
    step: &Step,
    session: &Session,
    vars: &mut Vars,
    opts: &RunOptions,
) -> StepResult {
    let started = Instant::now();
    let mut ctx = StepCtx {
        l,
        index,
        contract: opts.contract(),
        result: StepResult {
            name: step_name(step, index),
            loc: l.spans.loc(&[Seg::Key("steps"), Seg::Index(index)]),
            status: Status::Passed,
            duration_ms: 0.0,
            assertions: vec![],
            exchange: None,
            exchanges: vec![],
            error: None,
            poll: None,
            snapshot: None,
        },
    };
    let mut outcome = act(&mut ctx, step, session, vars, opts).await;
    for _ in 1..step.repeat {
        if outcome.is_err() {
            break;
        }
        outcome = act(&mut ctx, step, session, vars, opts).await;
    }
    match outcome {
        Err(e) => ctx.fail(vars.redactor.redact(&e)),
        Ok(None) => {}
        Ok(Some(ex)) if ex.status >= 500 && !expects_server_error(step) => {
            // A server error is the target failing, not a verdict on a rule: ERROR (exit 3),
            // unless the step asked for it.
            let ct = ex.header("content-type").unwrap_or("no content type");
            let excerpt = cut(&ex.body.split_whitespace().collect::<Vec<_>>().join(" "));
            ctx.fail(vars.redactor.redact(&format!(
                "the target failed: HTTP {} ({ct}): {excerpt}",
                ex.status
            )));
        }
        Ok(Some(ex)) => {
            for c in &step.capture {
                match assert::select(&c.query, &ex) {
                    Ok(Some(v)) => vars.set(&c.name, v),
                    Ok(None) => {
                        ctx.fail(format!(
                            "capture `{}`: {} is absent from the response",
                            c.name, c.query
                        ));
                        break;
                    }
                    Err(e) => {
                        ctx.fail(format!("capture `{}`: {e}", c.name));
                        break;
                    }
                }
            }
            for (j, a) in step.expect.iter().enumerate() {
                let r = evaluate(&ctx, j, a, &ex, vars, step);
                ctx.result.status = ctx.result.status.worst(r.status);
                ctx.result.assertions.push(r);
            }
            if let Some(settings) = &opts.snapshots {
                snapshot(&mut ctx, step, &ex, vars, settings, &opts.target);
            }
        }
    }
    for ex in ctx
        .result
        .exchange
        .iter_mut()
        .chain(ctx.result.exchanges.iter_mut())
    {
        ex.redact(&vars.redactor);
    }
    ctx.result.duration_ms = ms(started);
    ctx.result
}

/// Compares the step's response with its stored snapshot, as one more assertion.
fn snapshot(
    ctx: &mut StepCtx<'_>,
    step: &Step,
    ex: &Exchange,
    vars: &Vars,
    settings: &crate::snapshot::Settings,
    target: &TargetSpec,
) {
    use crate::snapshot::{compare, file_name, normalize, Outcome};
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
        Some(_) => l.spans.loc(&[
            Seg::Key("steps"),
            Seg::Index(ctx.index),
            Seg::Key("snapshot"),
        ]),
        None => ctx.result.loc.clone(),
    };
    let mut redact = l.scenario.snapshot_redact.clone();
    if let Some(own) = step.snapshot.as_ref().and_then(|s| s.redact()) {
        redact.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let mut dir = settings.dir.clone();
    if let TargetSpec::Live(p) = target {
        // A live target keeps its own set.
        dir.push(crate::snapshot::slug(&p.name));
    }
    let file = dir.join(file_name(&l.path, &name));
    let mut result = AssertionResult {
        loc,
        description: format!("snapshot `{name}`"),
        expected: format!("the stored snapshot {}", file.display()),
        actual: String::new(),
        status: Status::Passed,
        requirement: None,
    };
    // The target's address changes from run to run (the builtin's port): a placeholder.
    let mut redactor = vars.redactor.clone();
    if let Some(Value::String(base)) = vars.get("base_url") {
        redactor.add(base, "base_url");
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
    match compare(&file, settings.mode, &l.path, &expression, &content) {
        Ok(Outcome::Matched) => result.actual = "the same".into(),
        Ok(Outcome::Written) => result.actual = "written".into(),
        Ok(Outcome::Missing { pending }) => {
            result.status = Status::Failed;
            result.actual = match pending {
                Some(p) => format!(
                    "no stored snapshot; the new one is in {} for review (cargo insta review, or oauth-harness snapshots accept)",
                    p.display()
                ),
                None => "no stored snapshot (run with --snapshots update to write one for review)".into(),
            };
        }
        Ok(Outcome::Changed { diff, pending }) => {
            result.status = Status::Failed;
            let review = pending
                .map(|p| format!("\nthe new one is in {} for review", p.display()))
                .unwrap_or_default();
            result.actual = format!("a different response:\n{diff}{review}");
        }
        Err(e) => {
            result.status = Status::Error;
            result.actual = format!("cannot use {}: {e}", file.display());
        }
    }
    ctx.result.status = ctx.result.status.worst(result.status);
    ctx.result.assertions.push(result);
    ctx.result.snapshot = Some(crate::runner::result::SnapshotRecord {
        name,
        file: file.display().to_string(),
        content,
    });
}

/// Whether every `advance_clock` of the scenario is a plain number of at most `max` seconds.
fn advances_within(s: &crate::scenario::model::Scenario, max: u64) -> bool {
    s.steps
        .iter()
        .filter_map(|st| st.advance_clock.as_ref())
        .all(|a| {
            a.seconds
                .trim()
                .parse::<f64>()
                .is_ok_and(|n| n >= 0.0 && n <= max as f64)
        })
}

/// Whether a step's assertions ask for a 5xx status.
fn expects_server_error(step: &Step) -> bool {
    let big = |v: &serde_yaml::Value| match v {
        serde_yaml::Value::Sequence(items) => {
            items.iter().any(|i| i.as_u64().is_some_and(|n| n >= 500))
        }
        other => other.as_u64().is_some_and(|n| n >= 500),
    };
    step.expect.iter().any(|a| {
        a.status.as_ref().is_some_and(big)
            || (matches!(a.query(), Ok(Query::Status))
                && (a.equals.as_ref().is_some_and(big)
                    || a.one_of.iter().flatten().any(big)
                    || a.greater_than.is_some()))
    })
}

/// Performs the step's action; the response to assert on, if any.
async fn act(
    ctx: &mut StepCtx<'_>,
    step: &Step,
    session: &Session,
    vars: &mut Vars,
    opts: &RunOptions,
) -> Result<Option<Exchange>, String> {
    if let Some(r) = &step.request {
        let (ex, summary) = send(session, vars, r).await?;
        if opts.verbose {
            ctx.result.exchanges.push(summary.clone());
        }
        ctx.result.exchange = Some(summary);
        return Ok(Some(ex));
    }
    if let Some(p) = &step.poll {
        return poll(ctx, p, session, vars, opts).await.map(Some);
    }
    if let Some(u) = step.approve.as_ref().or(step.deny.as_ref()) {
        let code = vars.text(&u.user_code).map_err(|e| e.to_string())?;
        let ex = session
            .decide(&code, u.user.as_deref(), step.approve.is_some())
            .await?;
        return Ok(Some(ex));
    }
    if let Some(c) = &step.consent {
        let mut q = Vec::new();
        for (k, v) in &c.query.0 {
            q.push((
                vars.text(k).map_err(|e| e.to_string())?,
                vars.text(v).map_err(|e| e.to_string())?,
            ));
        }
        let (url, ex) = session.consent(&q, c.decision, c.user.as_deref()).await?;
        learn_secrets(&mut vars.redactor, &ex);
        ctx.result.exchange = Some(summarize(&vars.redactor, "GET", &url, "", &ex));
        return Ok(Some(ex));
    }
    if let Some(a) = &step.advance_clock {
        let v = vars.value(&a.seconds).map_err(|e| e.to_string())?;
        let secs = assert::number(&v)
            .ok_or_else(|| format!("advance_clock: `{}` is not a number of seconds", a.seconds))?;
        session.advance(secs).await?;
        return Ok(None);
    }
    if let Some(r) = &step.revoke_app {
        let client = vars.text(&r.client).map_err(|e| e.to_string())?;
        return session
            .revoke_app(&client, r.user.as_deref())
            .await
            .map(Some);
    }
    Err("a step without an action".into())
}

/// Why a request failed, in words a user can act on.
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "too many redirects"
    } else if e.is_body() || e.is_decode() {
        "the response body could not be read"
    } else {
        "failed"
    };
    let url = e.url().map(|u| format!(" {u}")).unwrap_or_default();
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    let hint = if detail.contains("certificate") || detail.contains("UnknownIssuer") {
        " (a self-signed or private CA certificate? trust it with the profile's `tls.ca_file` or `--ca-file PEM`, or, for a test server only, `tls.insecure: true` / `--insecure`)"
    } else {
        ""
    };
    if detail.is_empty() {
        format!("request{url} {what}{hint}")
    } else {
        format!("request{url} {what}: {detail}{hint}")
    }
}

/// The largest response body the runner reads.
pub const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// Reads a response into an [`Exchange`].
pub async fn to_exchange(resp: reqwest::Response) -> Result<Exchange, String> {
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    // Read in chunks, so that an endless or enormous body is cut off, not buffered.
    let mut resp = resp;
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe_reqwest(&e))? {
        if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!(
                "the response body is larger than {} MiB; the harness stopped reading it",
                MAX_RESPONSE_BYTES >> 20
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    let body = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).ok();
    Ok(Exchange {
        status,
        headers,
        body,
        json,
    })
}

fn cut(s: &str) -> String {
    const MAX: usize = 2048;
    if s.len() <= MAX {
        return s.to_string();
    }
    let end = s
        .char_indices()
        .map(|(i, _)| i)
        .take_while(|i| *i <= MAX)
        .last()
        .unwrap_or(0);
    format!("{}… ({} bytes)", &s[..end], s.len())
}

fn summarize(
    red: &Redactor,
    method: &str,
    url: &str,
    body: &str,
    ex: &Exchange,
) -> ExchangeSummary {
    ExchangeSummary {
        request: red.redact(&format!("{method} {url}")),
        request_body: red.redact(&cut(body)),
        status: ex.status,
        response_headers: ex
            .headers
            .iter()
            .filter(|(k, _)| k != "date")
            .map(|(k, v)| red.redact(&format!("{k}: {v}")))
            .collect(),
        response_body: red.redact(&cut(&ex.body)),
    }
}

/// Registers every credential an exchange carries — JSON members and redirect parameters
/// whose names say they are credentials (`access_token`, `code`, `client_secret`…) — so
/// that no report, excerpt or message shows one, captured or not.
fn learn_secrets(red: &mut Redactor, ex: &Exchange) {
    fn walk(red: &mut Redactor, v: &Value) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match v {
                        Value::String(s) if is_sensitive_name(k) => red.add(s, k),
                        other => walk(red, other),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(red, i)),
            _ => {}
        }
    }
    if let Some(j) = &ex.json {
        walk(red, j);
    }
    if let Some(loc) = ex.header("location") {
        if let Ok(u) = url::Url::parse(loc) {
            let frag: Vec<(String, String)> = u
                .fragment()
                .map(|f| {
                    url::form_urlencoded::parse(f.as_bytes())
                        .into_owned()
                        .collect()
                })
                .unwrap_or_default();
            for (k, v) in u.query_pairs().into_owned().chain(frag) {
                if is_sensitive_name(&k) {
                    red.add(&v, &k);
                }
            }
        }
    }
    // Session cookies are credentials of the signed-in user.
    for (name, value) in &ex.headers {
        if name == "set-cookie" {
            if let Some((_, v)) = value.split(';').next().and_then(|kv| kv.split_once('=')) {
                red.add(v.trim(), "cookie");
            }
        }
    }
    // Hidden form fields of HTML pages (a CSRF token, a code carried through a form).
    if ex.json.is_none() && ex.body.contains("<input") {
        static HIDDEN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r#"name="([^"]+)"\s+value="([^"]*)""#)
                .unwrap_or_else(|_| unreachable!("a valid pattern"))
        });
        for c in HIDDEN.captures_iter(&ex.body) {
            if is_sensitive_name(&c[1]) {
                red.add(&html_escape::decode_html_entities(&c[2]), &c[1]);
            }
        }
    }
}

/// Registers the credentials a request sends (form or JSON fields with credential names).
fn learn_sent_secrets(red: &mut Redactor, pairs: &[(String, String)]) {
    for (k, v) in pairs {
        if is_sensitive_name(k) {
            red.add(v, k);
        }
    }
}

fn form_component(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Builds and sends one request.
async fn send(
    session: &Session,
    vars: &mut Vars,
    r: &Request,
) -> Result<(Exchange, ExchangeSummary), String> {
    let text = |vars: &mut Vars, s: &str| vars.text(s).map_err(|e| e.to_string());
    let endpoint = match &r.endpoint {
        Some(e) => Some(text(vars, e)?),
        None => None,
    };
    let path = match &r.path {
        Some(p) => Some(text(vars, p)?),
        None => None,
    };
    let mut url = session.url(endpoint.as_deref(), path.as_deref());
    if !r.query.0.is_empty() {
        let mut pairs = Vec::new();
        for (k, v) in &r.query.0 {
            pairs.push((text(vars, k)?, text(vars, v)?));
        }
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(
            &url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish(),
        );
    }
    let method = reqwest::Method::from_bytes(r.method.to_ascii_uppercase().as_bytes())
        .map_err(|e| format!("method: {e}"))?;
    let client = if r.follow_redirects {
        &session.http_follow
    } else {
        &session.http
    };
    let mut req = client.request(method.clone(), &url);
    for (k, v) in &r.headers.0 {
        req = req.header(text(vars, k)?, text(vars, v)?);
    }
    // Client credentials that go in the body (client_secret_post, public clients).
    let mut body_auth: Vec<(String, String)> = Vec::new();
    match &r.auth {
        Some(Auth::Basic { client, secret }) => {
            // RFC 6749 §2.3.1: form-urlencode, then base64 (TOK-16).
            let secret = text(vars, secret)?;
            vars.redactor.add(&secret, "client_secret");
            let raw = format!(
                "{}:{}",
                form_component(&text(vars, client)?),
                form_component(&secret)
            );
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
            req = req.header("authorization", format!("Basic {encoded}"));
        }
        Some(Auth::Post { client, secret }) => {
            body_auth.push(("client_id".into(), text(vars, client)?));
            body_auth.push(("client_secret".into(), text(vars, secret)?));
        }
        Some(Auth::None { client }) => body_auth.push(("client_id".into(), text(vars, client)?)),
        Some(Auth::Bearer { token }) => {
            let token = text(vars, token)?;
            vars.redactor.add(&token, "access_token");
            req = req.header("authorization", format!("Bearer {token}"));
        }
        None => {}
    }
    let mut body_text = String::new();
    // `body:` takes the target's encoding.
    let as_json: Option<serde_yaml::Value>;
    let (json_body, form_body) = match (&r.body, session.encoding) {
        (Some(pairs), crate::runner::profile::BodyEncoding::Json) => {
            let mut m = serde_yaml::Mapping::new();
            for (k, v) in &pairs.0 {
                m.insert(
                    serde_yaml::Value::String(k.clone()),
                    serde_yaml::Value::String(v.clone()),
                );
            }
            as_json = Some(serde_yaml::Value::Mapping(m));
            (as_json.as_ref(), None)
        }
        (Some(pairs), crate::runner::profile::BodyEncoding::Form) => (None, Some(pairs)),
        (None, _) => (r.json.as_ref(), r.form.as_ref()),
    };
    if let Some(json) = json_body {
        let mut v = vars.json(json).map_err(|e| e.to_string())?;
        if let Value::Object(m) = &mut v {
            for (k, val) in &body_auth {
                m.insert(k.clone(), Value::String(val.clone()));
            }
            let sent: Vec<(String, String)> = m
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect();
            learn_sent_secrets(&mut vars.redactor, &sent);
        }
        body_text = v.to_string();
        req = req
            .header("content-type", "application/json")
            .body(body_text.clone());
    } else if let Some(raw) = &r.raw {
        body_text = text(vars, &raw.body)?;
        req = req
            .header("content-type", text(vars, &raw.content_type)?)
            .body(body_text.clone());
    } else if form_body.is_some() || !body_auth.is_empty() {
        let mut pairs = Vec::new();
        if let Some(form) = form_body {
            for (k, v) in &form.0 {
                pairs.push((text(vars, k)?, text(vars, v)?));
            }
        }
        pairs.extend(body_auth.iter().cloned());
        learn_sent_secrets(&mut vars.redactor, &pairs);
        body_text = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        req = req
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body_text.clone());
    }
    let resp = req.send().await.map_err(|e| describe_reqwest(&e))?;
    let ex = to_exchange(resp).await?;
    learn_secrets(&mut vars.redactor, &ex);
    let summary = summarize(&vars.redactor, method.as_str(), &url, &body_text, &ex);
    Ok((ex, summary))
}

fn error_of(ex: &Exchange) -> Option<&str> {
    ex.json
        .as_ref()
        .and_then(|j| j.get("error"))
        .and_then(Value::as_str)
}

/// RFC 8628 §3.5 as a client: wait `interval` between polls, add 5 s per `slow_down`,
/// stop on anything else or at `expires_in`. Every wait is recorded.
async fn poll(
    ctx: &mut StepCtx<'_>,
    p: &Poll,
    session: &Session,
    vars: &mut Vars,
    opts: &RunOptions,
) -> Result<Exchange, String> {
    let num = |vars: &mut Vars, s: &Option<String>, what: &str| -> Result<Option<f64>, String> {
        match s {
            None => Ok(None),
            Some(s) => {
                let v = vars.value(s).map_err(|e| e.to_string())?;
                assert::number(&v)
                    .map(Some)
                    .ok_or_else(|| format!("poll {what}: `{s}` is not a number"))
            }
        }
    };
    // RFC 8628 §3.2: without an interval the client uses 5 seconds (CLIENT-2).
    let mut interval = num(vars, &p.interval, "interval")?.unwrap_or(5.0).max(1.0) as u64;
    let expires = num(vars, &p.expires_in, "expires_in")?;
    let user_code = match &p.user_code {
        Some(u) => Some(vars.text(u).map_err(|e| e.to_string())?),
        None => None,
    };
    let mut stats = PollStats::default();
    let mut elapsed = 0u64;
    let mut last = None;
    while stats.polls < p.max_polls {
        if stats.polls > 0 {
            let wait = interval.saturating_sub(p.early_by);
            if let Some(limit) = expires {
                if (elapsed + wait) as f64 >= limit {
                    ctx.result.poll = Some(stats);
                    return Err(format!("the device code expired while polling (expires_in {limit} s, {elapsed} s elapsed)"));
                }
            }
            session.wait(wait as f64).await?;
            elapsed += wait;
            stats.waits.push(wait);
        }
        let (ex, summary) = send(session, vars, &p.request).await?;
        stats.polls += 1;
        if opts.verbose {
            ctx.result.exchanges.push(summary.clone());
        }
        ctx.result.exchange = Some(summary);
        match (ex.status, error_of(&ex)) {
            (400, Some("authorization_pending")) => {
                stats.pending += 1;
                if let Some(code) = &user_code {
                    if p.approve_after == Some(stats.pending) {
                        session.decide(code, None, true).await?;
                    }
                    if p.deny_after == Some(stats.pending) {
                        session.decide(code, None, false).await?;
                    }
                }
            }
            (400, Some("slow_down")) => {
                stats.slow_downs += 1;
                interval += 5; // RFC 8628 §3.5: for this and all later requests (CLIENT-3)
            }
            (429, _) => {
                // Flow control (matrix §15 #6): honour Retry-After, else back off like slow_down.
                let retry = ex
                    .header("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok());
                interval = interval.max(retry.unwrap_or(interval + 5));
            }
            _ => {
                last = Some(ex);
                break;
            }
        }
        last = Some(ex);
    }
    stats.final_interval = interval;
    ctx.result.poll = Some(stats);
    last.ok_or_else(|| "poll: no request was sent".into())
}

fn expected_value(vars: &mut Vars, v: &serde_yaml::Value) -> Result<Value, String> {
    vars.json(v).map_err(|e| e.to_string())
}

/// Evaluates one assertion into a result (never an `Err`: a query that cannot be evaluated
/// is a failed assertion that says why).
fn evaluate(
    ctx: &StepCtx<'_>,
    j: usize,
    a: &Assertion,
    ex: &Exchange,
    vars: &mut Vars,
    step: &Step,
) -> AssertionResult {
    let loc = ctx.l.spans.loc(&[
        Seg::Key("steps"),
        Seg::Index(ctx.index),
        Seg::Key("expect"),
        Seg::Index(j),
    ]);
    let requirement = a
        .requirement
        .clone()
        .or_else(|| step.requirements.first().cloned());
    let red = vars.redactor.clone();
    let fail_status = match a.level {
        Level::Must => Status::Failed,
        Level::Should => Status::Warning,
    };
    if ctx.contract == profile::Contract::Rfc && requirement.as_deref().is_some_and(noorle_only) {
        return AssertionResult {
            loc,
            description: a.query().map(|q| q.to_string()).unwrap_or_default(),
            expected: "Noorle's contract (skipped under --expect rfc)".into(),
            actual: String::new(),
            status: Status::Skipped,
            requirement,
        };
    }
    let query = match a.query() {
        Ok(q) => q,
        Err(e) => {
            return AssertionResult {
                loc,
                description: e.clone(),
                expected: String::new(),
                actual: e,
                status: Status::Error,
                requirement,
            };
        }
    };
    let actual = match assert::select(&query, ex) {
        Ok(v) => v,
        Err(e) => {
            return AssertionResult {
                loc,
                description: format!("{query}"),
                expected: "a value".into(),
                actual: red.redact(&e),
                status: fail_status,
                requirement,
            };
        }
    };
    let mut checks: Vec<(String, String, bool)> = Vec::new(); // (predicate text, expected, held)
    let mut problem = None;
    let mut push =
        |name: &str, expected: String, held: bool| checks.push((name.to_string(), expected, held));
    if let Some(status) = &a.status {
        match status {
            serde_yaml::Value::Sequence(list) => {
                let vals: Vec<Value> = list
                    .iter()
                    .filter_map(|v| expected_value(vars, v).ok())
                    .collect();
                let held = actual
                    .as_ref()
                    .is_some_and(|x| vals.iter().any(|v| assert::equal(x, v)));
                push("one of", Value::Array(vals).to_string(), held);
            }
            other => match expected_value(vars, other) {
                Ok(v) => {
                    let held = actual.as_ref().is_some_and(|x| assert::equal(x, &v));
                    push("equals", v.to_string(), held);
                }
                Err(e) => problem = Some(e),
            },
        }
    }
    if let Some(v) = &a.equals {
        match expected_value(vars, v) {
            Ok(v) => push(
                "equals",
                v.to_string(),
                actual.as_ref().is_some_and(|x| assert::equal(x, &v)),
            ),
            Err(e) => problem = Some(e),
        }
    }
    if let Some(v) = &a.not_equals {
        match expected_value(vars, v) {
            Ok(v) => push(
                "not equals",
                v.to_string(),
                !actual.as_ref().is_some_and(|x| assert::equal(x, &v)),
            ),
            Err(e) => problem = Some(e),
        }
    }
    if let Some(e) = a.exists {
        push(
            if e { "exists" } else { "is absent" },
            String::new(),
            actual.is_some() == e,
        );
    }
    if a.absent == Some(true) {
        push("is absent", String::new(), actual.is_none());
    }
    if let Some(re) = &a.matches {
        match vars
            .text(re)
            .map_err(|e| e.to_string())
            .and_then(|p| regex::Regex::new(&p).map_err(|e| e.to_string()))
        {
            Ok(rx) => {
                let held = actual.as_ref().is_some_and(|x| {
                    rx.is_match(
                        &x.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| x.to_string()),
                    )
                });
                push("matches", format!("/{}/", rx.as_str()), held);
            }
            Err(e) => problem = Some(e),
        }
    }
    if let Some(v) = &a.contains {
        match expected_value(vars, v) {
            Ok(v) => {
                let held = assert::contains(actual.as_ref(), &v);
                push("contains", v.to_string(), held);
            }
            Err(e) => problem = Some(e),
        }
    }
    if let Some(v) = &a.not_contains {
        match expected_value(vars, v) {
            Ok(v) => {
                let found = assert::contains(actual.as_ref(), &v);
                push("does not contain", v.to_string(), !found);
            }
            Err(e) => problem = Some(e),
        }
    }
    if let Some(list) = &a.one_of {
        let vals: Result<Vec<Value>, String> =
            list.iter().map(|v| expected_value(vars, v)).collect();
        match vals {
            Ok(vals) => {
                let held = actual
                    .as_ref()
                    .is_some_and(|x| vals.iter().any(|v| assert::equal(x, v)));
                push("one of", Value::Array(vals).to_string(), held);
            }
            Err(e) => problem = Some(e),
        }
    }
    if let Some(t) = a.type_ {
        let name = format!("{t:?}").to_lowercase();
        push(
            "has type",
            name,
            actual.as_ref().is_some_and(|x| assert::has_type(x, t)),
        );
    }
    if let Some(n) = a.greater_than {
        push(
            "greater than",
            n.to_string(),
            actual
                .as_ref()
                .and_then(assert::number)
                .is_some_and(|x| x > n),
        );
    }
    if let Some(n) = a.less_than {
        push(
            "less than",
            n.to_string(),
            actual
                .as_ref()
                .and_then(assert::number)
                .is_some_and(|x| x < n),
        );
    }
    if let Some(n) = a.length {
        push(
            "has length",
            n.to_string(),
            actual.as_ref().and_then(assert::length) == Some(n),
        );
    }
    let description = red.redact(&format!(
        "{query} {}",
        checks
            .iter()
            .map(|(p, e, _)| if e.is_empty() {
                p.clone()
            } else {
                format!("{p} {e}")
            })
            .collect::<Vec<_>>()
            .join(" and ")
    ));
    let expected = red.redact(
        &checks
            .iter()
            .map(|(p, e, _)| {
                if e.is_empty() {
                    p.clone()
                } else {
                    format!("{p} {e}")
                }
            })
            .collect::<Vec<_>>()
            .join(" and "),
    );
    let status = if let Some(e) = problem {
        return AssertionResult {
            loc,
            description,
            expected,
            actual: red.redact(&e),
            status: Status::Error,
            requirement,
        };
    } else if checks.iter().all(|(_, _, held)| *held) {
        Status::Passed
    } else {
        fail_status
    };
    let shown = match (&query, &actual) {
        (Query::Body, Some(Value::String(b))) => cut(b),
        _ => assert::show(actual.as_ref()),
    };
    AssertionResult {
        loc,
        description,
        expected,
        actual: red.redact(&shown),
        status,
        requirement,
    }
}
