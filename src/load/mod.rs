//! Load profiles run with goose: device-code polling, token exchange, and stress ramps.
//!
//! A run opens a [`Session`] on the target (the built-in server in-process, with the
//! profile's policy and time scale, or a live server through a target profile), builds
//! one goose scenario whose transactions are the flows in [`device`] and [`exchange`],
//! and executes it with `GooseAttack::initialize_with_config`. Every request is timed by
//! the flow itself and recorded twice: into goose's metrics under a name that says the
//! outcome (`token: slow_down`), so goose's HTML report shows the mix, and into the
//! [`summary::Recorder`]'s HDR histograms (microseconds), from which the thresholds are
//! judged and the mergeable `summary.json` is written.

pub mod profile;
pub mod report;
pub mod summary;
pub mod threshold;

pub(crate) mod open;

mod device;
mod exchange;
mod metrics;
mod model;
mod probes;
mod stress;
mod user;

pub(crate) use user::User;

use crate::clock::Clock;
use crate::runner::profile::Profile;
use crate::runner::target::{Session, TargetSpec};
use crate::scenario::model::Capability;
use crate::server::config::ServerConfig;
use goose::config::GooseConfiguration;
use goose::prelude::*;
use model::Model;
use profile::{LoadProfile, Workload};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use summary::{Recorder, RunMeta, Summary};

/// A running load test's figures for a progress line, every 200 ms.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The workload's name.
    pub kind: &'static str,
    /// Since the test started.
    pub elapsed: Duration,
    /// Requests sent so far.
    pub requests: u64,
    /// Each outcome seen so far, with its count.
    pub outcomes: Vec<(String, u64)>,
}

/// What shows a running test's progress: `cli/`, the only layer that writes to the
/// terminal, implements it.
pub trait ProgressSink: Send + Sync {
    /// The latest figures.
    fn update(&self, progress: &Progress);
    /// The test is over: clear the line.
    fn finish(&self);
}

impl std::fmt::Debug for dyn ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressSink")
    }
}

/// What to run, from the command line.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Built-in profile name or file.
    pub profile: String,
    /// A live target; `None` runs against the built-in server in-process.
    pub target: Option<Arc<Profile>>,
    /// Overrides of the profile.
    pub users: Option<usize>,
    /// Override of `run_time`.
    pub run_time: Option<Duration>,
    /// Override of `increase_rate`.
    pub increase_rate: Option<f64>,
    /// The open model at this rate (`2000/s`) for the run time, instead of the profile's
    /// model.
    pub arrival_rate: Option<String>,
    /// The open model with a ramp (`100/s..2000/s over 30s`).
    pub ramp: Option<String>,
    /// Override of `arrival.max_in_flight`.
    pub max_in_flight: Option<usize>,
    /// Rules added to the profile's.
    pub thresholds: Vec<String>,
    /// Where reports go.
    pub report_dir: Option<PathBuf>,
    /// `(index, count)`: this process runs its share of the users.
    pub shard: (usize, usize),
    /// Where a progress line goes while the test runs (the CLI draws it; `None`: nowhere).
    pub progress: Option<Arc<dyn ProgressSink>>,
    /// Whom the target's `manual` hooks ask.
    pub person: crate::runner::target::Person,
    /// Serve the live figures for scraping at `/metrics` here.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Push the live figures here with Prometheus remote write.
    pub remote_write: Option<String>,
}

/// Why a run could not be judged.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The profile is bad (exit 2).
    #[error(transparent)]
    Profile(#[from] profile::ProfileError),
    /// The target or the run failed (exit 3).
    #[error("{0}")]
    Runtime(String),
}

/// One step of a stress ramp.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Step {
    /// Users in this step (0 in the open model).
    pub users: usize,
    /// Arrivals per second in this step (the open model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Its summary with verdicts.
    pub summary: Summary,
}

/// The result of a load run.
#[derive(Debug)]
pub struct LoadOutcome {
    /// The run's summary (the last step's for stress), with verdicts.
    pub summary: Summary,
    /// Stress steps, in order (empty for other kinds).
    pub steps: Vec<Step>,
    /// The users of the step where a threshold first broke (stress, closed model).
    pub knee: Option<usize>,
    /// The arrival rate of the step where a threshold first broke (stress, open model).
    pub knee_rate: Option<f64>,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// 0 when every threshold held, 5 when one broke, 3 when the run itself failed.
    pub exit: u8,
}

/// Shared by every simulated user of a run.
pub(crate) struct Ctx {
    pub session: Session,
    pub profile: LoadProfile,
    pub recorder: Recorder,
    /// Server seconds per real second.
    pub scale: f64,
    /// No user waits past this.
    pub deadline: Instant,
    /// Users of this process (for role assignment).
    pub users: usize,
    /// Open model: refresh tokens that code flows left for later refresh arrivals.
    pub refresh_pool: parking_lot::Mutex<Vec<String>>,
    /// Under `dpop: true`: what signs the token requests' proofs.
    pub dpop: Option<LoadDpop>,
}

/// DPoP for a load run (RFC 9449): the key J, where proofs go, the nonce the server gave
/// last (§8), and the target's clock (a proof's `iat` is the target's now, matrix §17a).
pub(crate) struct LoadDpop {
    key: Arc<crate::jose::SigningKey>,
    token_url: String,
    nonce: parking_lot::Mutex<Option<String>>,
    /// The target's Unix time at an instant of ours, and how fast its clock runs.
    clock: (Instant, u64, f64),
}

impl LoadDpop {
    /// DPoP for the token endpoint of `session`, with its key J; a live target's clock is
    /// read from the `Date` of an answer (the builtin's is its own).
    async fn new(session: &Session, scale: f64) -> Result<LoadDpop, LoadError> {
        let key = session
            .provided
            .keys
            .get(crate::keys::KeyName::J, None)
            .map_err(|e| LoadError::Runtime(format!("dpop: the key J: {e}")))?;
        if !session.knows_target_time() {
            if let Ok(ex) = session.fetch(session.http.get(&session.base)).await {
                session.observe_date(&ex);
            }
        }
        Ok(LoadDpop {
            key,
            token_url: session.endpoint_url(crate::endpoint::Endpoint::Token),
            nonce: parking_lot::Mutex::default(),
            clock: (Instant::now(), session.target_now(), scale),
        })
    }

    /// The target's Unix time now.
    fn now(&self) -> i64 {
        let (at, unix, scale) = self.clock;
        let secs = unix as f64 + at.elapsed().as_secs_f64() * scale;
        secs as i64
    }
}

impl Ctx {
    /// A POST sent, and under DPoP sent once more with the server's nonce after a
    /// `use_dpop_nonce` (RFC 9449 §8: what a client does); its latency is then both
    /// round trips, as the client waited for both.
    pub(crate) async fn send_post(
        &self,
        url: &str,
        params: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<Answer, NoAnswer> {
        let first = send(self.post(url, params, basic)).await?;
        let Some(d) = &self.dpop else {
            return Ok(first);
        };
        let Some(nonce) = first.dpop_nonce.clone() else {
            return Ok(first);
        };
        *d.nonce.lock() = Some(nonce);
        if first.status != 400 || first.error() != Some("use_dpop_nonce") {
            return Ok(first);
        }
        self.recorder.count("dpop_nonce_retry", 1);
        let mut again = send(self.post(url, params, basic)).await?;
        again.latency += first.latency;
        Ok(again)
    }

    /// Real time for `server` seconds of server time.
    pub fn real(&self, server: Duration) -> Duration {
        server.div_f64(self.scale)
    }

    /// Whether the run is ending: past its deadline, or stopped (Ctrl-C, `max_time`).
    pub fn ending(&self) -> bool {
        goose::is_killswitch_triggered() || Instant::now() >= self.deadline
    }

    /// Sleeps until `at`; false when the run is ending first (deadline or Ctrl-C).
    pub(crate) async fn sleep_until(&self, at: Instant) -> bool {
        loop {
            if goose::is_killswitch_triggered() {
                return false;
            }
            let now = Instant::now();
            if now >= at {
                return true;
            }
            if now >= self.deadline {
                return false;
            }
            let step = (at.min(self.deadline) - now).min(Duration::from_millis(250));
            tokio::time::sleep(step).await;
        }
    }

    /// Records a request in the recorder (and goose's metrics for a goose user).
    pub(crate) async fn record(
        &self,
        user: &mut User<'_>,
        name: &str,
        latency: Duration,
        ok: bool,
        status: Option<u16>,
    ) {
        user.record(&self.recorder, name, latency, ok, status).await;
    }

    /// A POST with the target's body encoding (JSON for Noorle, form for RFC servers).
    pub fn post(
        &self,
        url: &str,
        params: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> reqwest::RequestBuilder {
        // The session's client: one connection pool for all users, with the target
        // profile's TLS settings (goose's per-user clients are not used).
        let mut req = self.session.http.post(url);
        // RFC 9449 §5: a proof with every token request, signed for it.
        if let Some(d) = self.dpop.as_ref().filter(|d| d.token_url == url) {
            let nonce = d.nonce.lock().clone();
            let claims = crate::dpop::Claims {
                htm: "POST",
                htu: url,
                iat: d.now(),
                nonce: nonce.as_deref(),
                access_token: None,
            };
            if let Ok(proof) = crate::dpop::proof(&d.key, &claims) {
                req = req.header("DPoP", proof);
            }
        }
        req = match self.session.encoding {
            crate::runner::profile::BodyEncoding::Json => {
                let body: serde_json::Map<String, serde_json::Value> = params
                    .iter()
                    .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
                    .collect();
                req.json(&body)
            }
            crate::runner::profile::BodyEncoding::Form => req.form(params),
        };
        if let Some((id, secret)) = basic {
            // RFC 6749 §2.3.1: each part form-urlencoded before Basic.
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            req = req.basic_auth(enc(id), Some(enc(secret)));
        }
        req
    }
}

/// A response, read whole.
pub(crate) struct Answer {
    pub status: u16,
    pub json: Option<serde_json::Value>,
    pub latency: Duration,
    /// `Retry-After` (a 429's or a 503's), in seconds or as an HTTP-date.
    pub retry_after: Option<Duration>,
    /// `DPoP-Nonce` (RFC 9449 §8).
    pub dpop_nonce: Option<String>,
}

impl Answer {
    /// The OAuth `error` member, if any.
    pub fn error(&self) -> Option<&str> {
        self.json.as_ref()?.get("error")?.as_str()
    }

    /// A string member.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.json.as_ref()?.get(key)?.as_str()
    }

    /// A number member.
    pub fn u64(&self, key: &str) -> Option<u64> {
        self.json.as_ref()?.get(key)?.as_u64()
    }
}

/// A transport error, described as the runner describes one, without its URL (which may
/// carry a code in its query).
fn transport(e: reqwest::Error) -> String {
    crate::runner::http::describe_reqwest(&e.without_url())
}

/// A request that got no answer.
#[derive(Debug)]
pub(crate) struct NoAnswer {
    /// Why, in words.
    pub why: String,
    /// How long it took to fail.
    pub latency: Duration,
    /// Whether it timed out (RFC 8628 §3.5: a device then polls less often).
    pub timed_out: bool,
}

/// Sends and reads the answer; `Err` is a transport failure.
pub(crate) async fn send(req: reqwest::RequestBuilder) -> Result<Answer, NoAnswer> {
    let started = Instant::now();
    let failed = |e: reqwest::Error| NoAnswer {
        timed_out: e.is_timeout(),
        why: transport(e),
        latency: started.elapsed(),
    };
    let resp = req.send().await.map_err(failed)?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| crate::polling::retry_after(v, std::time::SystemTime::now()));
    let dpop_nonce = resp
        .headers()
        .get("dpop-nonce")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = resp.bytes().await.map_err(failed)?;
    let latency = started.elapsed();
    Ok(Answer {
        status,
        json: serde_json::from_slice(&bytes).ok(),
        latency,
        retry_after,
        dpop_nonce,
    })
}

/// Runs a profile.
pub async fn run(opts: &LoadOptions) -> Result<LoadOutcome, LoadError> {
    let mut p = profile::load(&opts.profile)?;
    for t in &opts.thresholds {
        threshold::Threshold::parse(t).map_err(|e| {
            LoadError::Profile(profile::ProfileError {
                location: "--threshold".into(),
                message: e,
            })
        })?;
        p.thresholds.push(t.clone());
    }
    if let Some(u) = opts.users {
        p.users = u;
    }
    if let Some(t) = opts.run_time {
        p.run_time = Some(profile::Span(t));
    }
    if let Some(r) = opts.increase_rate {
        p.increase_rate = Some(r);
    }
    model::arrival_overrides(opts, &mut p)?;
    let report_dir = opts
        .report_dir
        .clone()
        .unwrap_or_else(|| default_report_dir(&p.name, opts.shard));
    std::fs::create_dir_all(&report_dir)
        .map_err(|e| LoadError::Runtime(format!("cannot create {}: {e}", report_dir.display())))?;
    match p.stress.clone() {
        Some(stress) => stress::run(opts, p, stress, &report_dir).await,
        None => {
            let model = match &p.arrival {
                Some(a) => Model::Open(model::plan_of(a, &p, opts.shard)?),
                None => Model::Closed(share(p.users, opts.shard)),
            };
            let (summary, files) = one_run(opts, &p, model, &report_dir, true).await?;
            let exit = if summary.thresholds.iter().all(|v| v.passed) {
                crate::exit::PASSED
            } else {
                crate::exit::THRESHOLD_BREACHED
            };
            Ok(LoadOutcome {
                summary,
                steps: Vec::new(),
                knee: None,
                knee_rate: None,
                files,
                exit,
            })
        }
    }
}

/// `reports/load/<name>` (with `-shard-I` for sharded runs).
pub(crate) fn default_report_dir(name: &str, shard: (usize, usize)) -> PathBuf {
    let mut dir = PathBuf::from("reports").join("load");
    if shard.1 > 1 {
        dir.push(format!("{name}-shard-{}", shard.0));
    } else {
        dir.push(name);
    }
    dir
}

/// This shard's users: `total` split as evenly as possible, the first shards taking one
/// more when it does not divide.
pub(crate) fn share(total: usize, (index, count): (usize, usize)) -> usize {
    let count = count.max(1);
    total / count + usize::from(index < total % count)
}

/// Opens the target for a run.
async fn open(opts: &LoadOptions, p: &LoadProfile) -> Result<(Session, u32), LoadError> {
    match &opts.target {
        None => {
            let mut config = ServerConfig::builtin();
            // A load run is not a rate-limit test: unlimited unless the profile says.
            config.policy.device_authorizations_per_minute =
                p.server.device_rate_limit.unwrap_or(u32::MAX);
            if let Some(t) = p.server.device_code_ttl {
                config.policy.device_code_ttl = t;
            }
            if let Some(i) = p.server.device_interval {
                config.policy.device_interval = i;
            }
            config.faults = p.server.fault_set();
            config.stall = p.server.stall.map(|s| crate::server::stall::Stall {
                after: s.after.0,
                length: s.length.0,
            });
            let session = Session::start_builtin(config, Clock::scaled(p.time_scale))
                .await
                .map_err(|e| LoadError::Runtime(e.to_string()))?;
            Ok((session, p.time_scale))
        }
        Some(target) => {
            let session = Session::open(&TargetSpec::Live(target.clone()), opts.person.clone())
                .await
                .map_err(|e| LoadError::Runtime(e.to_string()))?;
            // What the users will need of the target, checked before any load is sent.
            let code_flow = |g: &profile::GrantSettings| {
                g.exchange.weight(profile::TokenGrant::AuthorizationCode)
                    + g.exchange.weight(profile::TokenGrant::RefreshToken)
                    > 0
            };
            let (need, why) = match &p.workload {
                Workload::Device(d) if d.approve + d.deny > 0.0 => (
                    Some(Capability::Approve),
                    "device users must approve or deny, but the profile has no approval hook",
                ),
                Workload::Grants(g) if code_flow(g) => (
                    Some(Capability::Consent),
                    "the code flow needs the user's consent, but the profile has no consent hook",
                ),
                Workload::Device(_) | Workload::Grants(_) => (None, ""),
            };
            if need.is_some_and(|c| !session.capabilities.contains(&c)) {
                return Err(LoadError::Runtime(format!("target {}: {why}", target.name)));
            }
            Ok((session, target.time_scale.max(1)))
        }
    }
}

async fn one_run(
    opts: &LoadOptions,
    p: &LoadProfile,
    model: Model,
    dir: &Path,
    write: bool,
) -> Result<(Summary, Vec<PathBuf>), LoadError> {
    let (session, scale) = open(opts, p).await?;
    let dpop = if p.dpop {
        Some(LoadDpop::new(&session, f64::from(scale)).await?)
    } else {
        None
    };
    let mut p = p.clone();
    let resolved = model::resolve_roles(&mut p, &session);
    let (users, budget) = model.budget(&p);
    let started = Instant::now();
    let ctx = Arc::new(Ctx {
        session,
        profile: p,
        recorder: Recorder::default(),
        scale: f64::from(scale),
        deadline: started + budget,
        users,
        refresh_pool: parking_lot::Mutex::default(),
        dpop,
    });
    let progress = opts
        .progress
        .clone()
        .map(|sink| (sink.clone(), report_progress(ctx.clone(), sink)));
    let live = live_metrics(opts, &ctx).await?;
    let (result, arrivals, mut files) = match model {
        Model::Closed(users) => closed(&ctx, users, budget, dir).await?,
        Model::Open(plan) => {
            match &ctx.profile.workload {
                Workload::Grants(g) => exchange::check(&ctx, &g.exchange),
                Workload::Device(d) => device::check(&ctx, d),
            }
            .map_err(LoadError::Runtime)?;
            let figures = open::drive(ctx.clone(), plan).await;
            (Ok(()), Some(figures), Vec::new())
        }
    };
    let pushed = live.stop().await;
    let elapsed = started.elapsed();
    if let Some((sink, task)) = progress {
        task.abort();
        sink.finish();
    }
    let error = result.as_ref().err();
    let mut summary = judged(opts, &ctx, scale, elapsed, arrivals, error).await?;
    summary.notes.extend(resolved);
    summary.notes.extend(pushed);
    // A user's decision task may still be asleep and hold the context; the builtin server
    // then stops when the process ends instead of here.
    if let Ok(ctx) = Arc::try_unwrap(ctx) {
        ctx.session.close().await;
    }
    let written = if write {
        report::write(dir, &summary)
    } else {
        report::write_summary(dir, &summary).map(|_| Vec::new())
    };
    files.extend(written.map_err(|e| LoadError::Runtime(format!("cannot write reports: {e}")))?);
    if let Err(e) = result {
        return Err(LoadError::Runtime(format!(
            "goose: {e} (partial results in {})",
            dir.display()
        )));
    }
    Ok((summary, files))
}

/// What a closed-model run gives: goose's result, no arrivals, goose's report files.
type Closed = (
    Result<(), LoadError>,
    Option<summary::ArrivalFigures>,
    Vec<PathBuf>,
);

/// The closed model: `users` goose users, started at the profile's rate, for `budget`.
async fn closed(
    ctx: &Arc<Ctx>,
    users: usize,
    budget: Duration,
    dir: &Path,
) -> Result<Closed, LoadError> {
    let goose_files = [dir.join("goose-report.html"), dir.join("goose-report.json")];
    let scenario = match &ctx.profile.workload {
        Workload::Device(d) => device::check(ctx, d).map(|()| device::scenario(ctx, d)),
        Workload::Grants(g) => exchange::scenario(ctx, g),
    }
    .map_err(LoadError::Runtime)?;
    let p = &ctx.profile;
    let rate = p.increase_rate.unwrap_or(users as f64).max(0.001);
    let config = goose_config(p, users, rate, &ctx.session.base, &goose_files);
    let result = attack(config, scenario, budget).await;
    let written = goose_files.into_iter().filter(|f| f.exists()).collect();
    Ok((result, None, written))
}

/// Starts the live metrics the options ask for (`/metrics`, remote write).
async fn live_metrics(opts: &LoadOptions, ctx: &Arc<Ctx>) -> Result<metrics::Live, LoadError> {
    let labels = metrics::RunLabels {
        profile: ctx.profile.name.clone(),
        shard: format!("{}/{}", opts.shard.0, opts.shard.1),
    };
    let c = ctx.clone();
    let source: metrics::Source = Arc::new(move || metrics::series(&c.recorder, &labels));
    let remote = opts
        .remote_write
        .clone()
        .map(|url| (url, ctx.session.http.clone()));
    metrics::Live::start(source, opts.metrics_addr, remote)
        .await
        .map_err(|e| LoadError::Runtime(e.to_string()))
}

/// goose's settings for one run: `users` started at `rate` per second, for the
/// profile's run time or iterations, its reports in `files` (HTML, JSON), quiet.
fn goose_config(
    p: &LoadProfile,
    users: usize,
    rate: f64,
    host: &str,
    files: &[PathBuf; 2],
) -> GooseConfiguration {
    let mut config = GooseConfiguration::default();
    config.host = Some(host.to_string());
    config.users = Some(users);
    config.increase_rate = Some(format!("{rate}"));
    match p.run_time {
        Some(t) => {
            config.run_time = Some(format!("{}", t.0.as_secs().max(1)));
            config.no_reset_metrics = true;
        }
        None => config.iterations = Some(p.iterations),
    }
    config.report_file = files.iter().map(|f| f.display().to_string()).collect();
    config.no_telnet = true;
    config.no_print_metrics = true;
    config.quiet = 1;
    config
}

/// Runs goose, stopped by its killswitch `budget` (and a grace period) after the start.
async fn attack(
    config: GooseConfiguration,
    scenario: goose::prelude::Scenario,
    budget: Duration,
) -> Result<(), LoadError> {
    // The hard cap: goose's killswitch ends the run (users check it while they wait).
    let watchdog = tokio::spawn(async move {
        tokio::time::sleep(budget + Duration::from_secs(5)).await;
        goose::trigger_killswitch("max_time reached");
    });
    // One shared client, built once: a client per user (goose's default) costs a TLS
    // setup each, which caps how fast 10,000 users can start.
    let attack = GooseAttack::initialize_with_config(config)
        .and_then(|a| {
            a.set_client_builder_without_cookies(
                goose::client::GooseClientBuilder::new().without_cookies(),
            )
        })
        .map_err(|e| LoadError::Runtime(format!("goose: {e}")))?
        .register_scenario(scenario);
    let result = attack.execute().await;
    watchdog.abort();
    result
        .map(|_| ())
        .map_err(|e| LoadError::Runtime(e.to_string()))
}

/// The run's summary, with its notes and its thresholds judged.
async fn judged(
    opts: &LoadOptions,
    ctx: &Ctx,
    scale: u32,
    elapsed: Duration,
    arrivals: Option<summary::ArrivalFigures>,
    error: Option<&LoadError>,
) -> Result<Summary, LoadError> {
    let p = &ctx.profile;
    let meta = RunMeta {
        profile: p.name.clone(),
        kind: ctx.profile.workload.name().into(),
        target: match &opts.target {
            None => "builtin (in-process)".to_string(),
            Some(t) => format!("profile {}", t.name),
        },
        users: ctx.users,
        shard: format!("{}/{}", opts.shard.0, opts.shard.1),
        time_scale: scale,
    };
    let mut summary = ctx.recorder.summary(meta, elapsed);
    summary.notes = notes(opts, p, scale);
    if let Some(a) = &arrivals {
        summary.notes.push(open::NOTE.into());
        if a.abandoned > 0 {
            summary.notes.push(format!(
                "{} flows were still running when the run stopped waiting for them; their unfinished requests are not in the figures.",
                a.abandoned
            ));
        }
    }
    summary.arrivals = arrivals;
    if let Some(e) = error {
        summary
            .notes
            .push(format!("goose ended with an error: {e}"));
    }
    if goose::is_killswitch_triggered() {
        summary.notes.push(
            "The run was stopped early (Ctrl-C, or max_time reached); the figures cover what ran."
                .into(),
        );
    }
    let devices = match &ctx.profile.workload {
        Workload::Device(d) => Some(d),
        Workload::Grants(_) => None,
    };
    if let (Some(d), None) = (devices, &opts.target) {
        device::server_audit(ctx, d, &mut summary).await;
    }
    let mut rules = p.thresholds.clone();
    if devices.is_some() {
        // The harness must itself be a well-behaved client (CLIENT-1).
        rules.insert(0, "count == 0 for harness: interval_violation".into());
    }
    if summary.arrivals.is_some() && !rules.iter().any(|r| r.trim_start().starts_with("dropped")) {
        // An arrival-rate run that could not start its arrivals did not test that rate.
        rules.insert(0, open::RULE.into());
    }
    summary.thresholds = threshold::judge_all(&rules, &summary).map_err(LoadError::Runtime)?;
    Ok(summary)
}

fn notes(opts: &LoadOptions, p: &LoadProfile, scale: u32) -> Vec<String> {
    let mut notes = Vec::new();
    if opts.target.is_none() {
        notes.push(
            "Target: the built-in server in this process. The load generator and the server share the machine's cores, so latencies include the generator's own scheduling; for a server's true capacity run `oauth-harness serve` on other cores or another host and point a target profile at it."
                .into(),
        );
    }
    if scale > 1 {
        notes.push(format!(
            "Time scale {scale}: the server's clock runs {scale}x real time and the users wait scaled intervals, so each device polls {scale}x as often in real time as it would at scale 1."
        ));
    } else if p.time_scale > 1 {
        notes.push("The profile's time_scale applies to the built-in server only; a live target's is its target profile's `time_scale` (1 here).".into());
    }
    notes
}

/// Samples the test's figures every 200 ms for `sink`.
fn report_progress(ctx: Arc<Ctx>, sink: Arc<dyn ProgressSink>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        loop {
            sink.update(&Progress {
                kind: ctx.profile.workload.name(),
                elapsed: started.elapsed(),
                requests: ctx.recorder.total_requests(),
                outcomes: ctx
                    .recorder
                    .outcomes()
                    .into_iter()
                    .filter(|(_, v)| *v > 0)
                    .collect(),
            });
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_users_exactly() {
        for total in [0usize, 1, 7, 10, 10_000] {
            for count in 1..=5 {
                let sum: usize = (0..count).map(|i| share(total, (i, count))).sum();
                assert_eq!(sum, total, "{total} over {count}");
            }
        }
        assert_eq!(share(7, (0, 3)), 3);
        assert_eq!(share(7, (2, 3)), 2);
    }
}
