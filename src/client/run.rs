//! One client scenario: a fresh reference server whose clock runs `time_scale` times
//! real time and which plays the scenario's part, the client's command run against it,
//! then the judgement from the server's log of the client's requests.
//!
//! What the command gets: `OAUTH_HARNESS_BASE_URL` and the endpoint URLs
//! (`OAUTH_HARNESS_DEVICE_AUTHORIZATION_URL`, `OAUTH_HARNESS_TOKEN_URL`), its client id
//! (`OAUTH_HARNESS_CLIENT_ID`, the fixture's public device client), `NOORLE_API` (the base
//! URL, for Noorle's own example script), `{base}` replaced in its arguments, a fresh
//! `HOME` (with the `.noorle/` folder Noorle's example writes its token to), and
//! `OAUTH_HARNESS_TIME_SCALE`. A `sleep` command on its `PATH` sleeps the scaled time, so a
//! shell client that waits 5 s waits 5 s of the server's clock; a client that keeps its
//! own time waits in real time, and the server only sees longer gaps.
//!
//! In the code flow the client id is the fixture's native client (`native`, loopback
//! redirect `OAUTH_HARNESS_REDIRECT_URI` on any port), `OAUTH_HARNESS_AUTHORIZATION_URL` and
//! `OAUTH_HARNESS_API_URL` are set, and `BROWSER` names the harness's browser
//! ([`browser`](crate::client::browser)); with `--open-url-from stdout` there is no
//! `BROWSER` and the harness opens the authorization URLs the client prints.

use crate::client::browser::{self, Browse};
use crate::client::judge::{self, Ending, Seen};
use crate::client::pace;
use crate::client::scenario::{check_name, Flow, IssPlay, LoadedClient, Parts, UserChoice};
use crate::clock::Clock;
use crate::endpoint::Endpoint;
use crate::runner::result::{AssertionResult, ExchangeSummary, ScenarioResult, Status, StepResult};
use crate::scenario::model::Level;
use crate::scenario::spans::Seg;
use crate::scenario::vars::Redactor;
use crate::server::config::ServerConfig;
use crate::server::faults::{Fault, FaultSet};
use crate::server::play::{Play, UserDecision};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::AsyncReadExt;

/// How clients are run.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The command and its arguments (`{base}` is replaced by the server's URL).
    pub command: Vec<String>,
    /// Server seconds per real second.
    pub time_scale: u32,
    /// The harness's own binary, for the scaled `sleep` and the browser on the client's
    /// `PATH` (`None`: no shims: the client sleeps real time, and authorization URLs are
    /// read from its output only).
    pub harness_bin: Option<PathBuf>,
    /// Where a redirect-based client's authorization URL comes from.
    pub open_url_from: OpenUrlFrom,
    /// The client signs DPoP proofs (RFC 9449) when `OAUTH_HARNESS_DPOP` is set: the
    /// scenarios whose server demands DPoP judge it (without, they are SKIPPED).
    pub dpop: bool,
}

/// Where the harness's browser gets the authorization URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OpenUrlFrom {
    /// The client runs `$BROWSER URL`.
    #[default]
    Browser,
    /// The client prints the URL (no `BROWSER` is set).
    Stdout,
}

/// The most of a client's output kept (each stream).
const MAX_OUTPUT: usize = 64 << 10;

/// The client id the command should use in the device flow (Noorle's CLI client).
pub(crate) const CLIENT_ID: &str = "noorle-cli";

/// The client id in the code flow: the fixture's public native client.
pub(crate) const NATIVE_CLIENT_ID: &str = "native";

/// Its registered loopback redirect URI; any port is accepted (RFC 8252 §7.3).
pub(crate) const REDIRECT_URI: &str = "http://127.0.0.1/cb";

/// The browser's log in the client's `HOME`.
const BROWSER_LOG: &str = ".oauth-harness-browser.log";

fn server_config(s: Parts<'_>) -> ServerConfig {
    let mut config = ServerConfig::builtin().with_test_mode(true);
    // RFC 8628 §3.2: without an interval the client uses 5 s, so that is what is asked.
    config.policy.device_interval = if s.server.omit_interval {
        5
    } else {
        s.server.interval
    };
    config.policy.device_code_ttl = s.server.expires_in;
    let mut faults = FaultSet::none();
    if s.server.omit_interval {
        faults.insert(Fault::OmitInterval);
    }
    if s.server.extra_members {
        faults.insert(Fault::ExtraMembers);
    }
    match s.server.iss {
        IssPlay::Honest => {}
        IssPlay::Foreign => faults.insert(Fault::IssForeign),
        IssPlay::Missing => faults.insert(Fault::IssMissing),
    }
    config.faults = faults;
    if s.server.dpop {
        // RFC 9449 §5.2: the client under test is registered as always using DPoP.
        config.policy.dpop_nonce = s.server.dpop_nonce;
        for c in &mut config.clients {
            if [CLIENT_ID, NATIVE_CLIENT_ID].contains(&&*c.id) {
                let mut bound = (**c).clone();
                bound.dpop_bound_access_tokens = true;
                *c = std::sync::Arc::new(bound);
            }
        }
    }
    config.play = Some(Play {
        decision: match s.user.decision {
            UserChoice::Approve => Some((UserDecision::Approve, s.user.after)),
            UserChoice::Deny => Some((UserDecision::Deny, s.user.after)),
            UserChoice::Never => None,
        },
        slow_down_on: s.server.slow_down_on.clone(),
        busy_on: s.server.busy_on.clone(),
        hang_on: s.server.hang_on.clone(),
        hang_for: Duration::from_secs(s.server.hang_for),
        revoke_after_tokens: s.server.revoke_after_tokens,
    });
    config
}

/// A fresh folder for the client's `HOME` and the scaled `sleep`.
struct Home {
    dir: PathBuf,
}

impl Home {
    fn new(harness_bin: Option<&Path>) -> std::io::Result<Home> {
        let dir =
            std::env::temp_dir().join(format!("oauth-harness-client-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join(".noorle"))?;
        if let Some(bin) = harness_bin {
            let bin = bin.display().to_string().replace('\'', "'\\''");
            let log = dir
                .join(BROWSER_LOG)
                .display()
                .to_string()
                .replace('\'', "'\\''");
            let shim = dir.join(".bin");
            std::fs::create_dir_all(&shim)?;
            let naps = dir
                .join(pace::SLEEP_LOG)
                .display()
                .to_string()
                .replace('\'', "'\\''");
            write_script(
                &shim.join("sleep"),
                &format!("# oauth-harness: sleep on the server's scaled clock\nOAUTH_HARNESS_SLEEP_LOG='{naps}' exec '{bin}' scaled-sleep \"$@\"\n"),
            )?;
            // The harness itself, for a client that signs its DPoP proofs with
            // `oauth-harness dpop-proof`.
            write_script(
                &shim.join("oauth-harness"),
                &format!("# oauth-harness\nexec '{bin}' \"$@\"\n"),
            )?;
            // A browser returns once it has opened the page: the visit goes on in the
            // background, its account in the log.
            write_script(
                &shim.join("oauth-harness-browser"),
                &format!("# oauth-harness: the test user's browser\n'{bin}' browse \"$1\" >> '{log}' 2>&1 &\n"),
            )?;
        }
        Ok(Home { dir })
    }

    fn browser(&self) -> Option<PathBuf> {
        let path = self.dir.join(".bin").join("oauth-harness-browser");
        path.exists().then_some(path)
    }

    /// The naps the scaled `sleep` took.
    fn naps(&self) -> Vec<pace::Nap> {
        pace::naps(&self.dir.join(pace::SLEEP_LOG))
    }

    /// What the browser wrote, one visit per line.
    fn browser_log(&self) -> String {
        std::fs::read_to_string(self.dir.join(BROWSER_LOG)).unwrap_or_default()
    }

    fn path_with_shim(&self) -> String {
        let shim = self.dir.join(".bin");
        let rest = std::env::var("PATH").unwrap_or_default();
        if shim.exists() {
            format!("{}:{rest}", shim.display())
        } else {
            rest
        }
    }
}

fn write_script(path: &Path, body: &str) -> std::io::Result<()> {
    std::fs::write(path, format!("#!/bin/sh\n{body}"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What the client's process did.
struct Ran {
    ending: Ending,
    output: String,
    wall: Duration,
    /// Why the run was stopped as one that cannot be judged at its scale.
    own_clock: Option<String>,
    /// When it ended.
    ended: SystemTime,
}

/// Reads a stream of the client's output, keeping at most [`MAX_OUTPUT`] bytes; each
/// complete line is offered to `scan` (the stdout of a client whose authorization URL is
/// read from its output).
async fn read_capped(
    mut r: impl tokio::io::AsyncRead + Unpin,
    scan: Option<tokio::sync::mpsc::UnboundedSender<String>>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut line = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if out.len() < MAX_OUTPUT {
            out.extend_from_slice(&buf[..n.min(MAX_OUTPUT - out.len())]);
        }
        if let Some(tx) = &scan {
            for &b in &buf[..n] {
                if b == b'\n' {
                    let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
                    line.clear();
                } else if line.len() < MAX_OUTPUT {
                    line.push(b);
                }
            }
        }
    }
    out
}

/// Where the client runs: the server, the scenario's parts, the `HOME`.
struct Stage<'a> {
    base: &'a str,
    server: &'a crate::server::AppState,
    home: &'a Home,
    flow: Flow,
    browse: Browse,
    scale: u32,
    limit: Duration,
    /// The server's clock.
    clock: Clock,
    /// Whether the run is watched for waits the client did not take through the scaled
    /// `sleep` ([`pace`]).
    watch: bool,
    /// The client must use DPoP (`OAUTH_HARNESS_DPOP=1`).
    dpop: bool,
}

/// The client's command with its environment (module docs), output piped.
fn command(opts: &ClientOptions, stage: &Stage<'_>) -> std::io::Result<tokio::process::Command> {
    let base = stage.base;
    let args: Vec<String> = opts
        .command
        .iter()
        .map(|a| a.replace("{base}", base))
        .collect();
    let (program, rest) = args.split_first().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command to run")
    })?;
    let url = |e: Endpoint| format!("{base}{}", e.path());
    let mut command = tokio::process::Command::new(program);
    command
        .args(rest)
        .env("HOME", &stage.home.dir)
        .env("PATH", stage.home.path_with_shim())
        .env("OAUTH_HARNESS_BASE_URL", base)
        .env(
            "OAUTH_HARNESS_CLIENT_ID",
            match stage.flow {
                Flow::Device => CLIENT_ID,
                Flow::Code => NATIVE_CLIENT_ID,
            },
        )
        .env(
            "OAUTH_HARNESS_DEVICE_AUTHORIZATION_URL",
            url(Endpoint::DeviceAuthorization),
        )
        .env(
            "OAUTH_HARNESS_AUTHORIZATION_URL",
            url(Endpoint::Authorization),
        )
        .env("OAUTH_HARNESS_TOKEN_URL", url(Endpoint::Token))
        .env("OAUTH_HARNESS_REDIRECT_URI", REDIRECT_URI)
        .env("OAUTH_HARNESS_API_URL", format!("{base}/api/me"))
        .env("OAUTH_HARNESS_TIME_SCALE", stage.scale.to_string())
        .envs(stage.browse.env())
        .env("NOORLE_API", base)
        .env_remove("BROWSER")
        .env_remove("OAUTH_HARNESS_DPOP")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if stage.dpop {
        command.env("OAUTH_HARNESS_DPOP", "1");
    }
    if opts.open_url_from == OpenUrlFrom::Browser {
        if let Some(b) = stage.home.browser() {
            command.env("BROWSER", b);
        }
    }
    Ok(command)
}

async fn run_command(opts: &ClientOptions, stage: &Stage<'_>) -> std::io::Result<Ran> {
    let started = Instant::now();
    let mut child = command(opts, stage)?.spawn()?;
    // Authorization URLs printed by the client, opened in-process.
    let (urls, printed) = tokio::sync::mpsc::unbounded_channel::<String>();
    let scan =
        (opts.open_url_from == OpenUrlFrom::Stdout && stage.flow == Flow::Code).then_some(urls);
    let stdout = child
        .stdout
        .take()
        .map(|s| tokio::spawn(read_capped(s, scan)));
    let stderr = child
        .stderr
        .take()
        .map(|s| tokio::spawn(read_capped(s, None)));
    let visits = tokio::spawn(open_printed(stage.browse.clone(), printed));
    let mut own_clock = None;
    let ending = tokio::select! {
        waited = tokio::time::timeout(stage.limit, child.wait()) => match waited {
            Ok(Ok(status)) => status.code().map_or(Ending::Signalled, Ending::Exited),
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                let _ = child.kill().await;
                Ending::Stopped
            }
        },
        // A client of the other flow is not judged here: no need to wait for it.
        () = other_flow(stage) => {
            let _ = child.kill().await;
            Ending::Stopped
        }
        // Its verdicts would not hold at this scale: it runs again at real time.
        why = own_clock_seen(stage), if stage.watch => {
            let _ = child.kill().await;
            own_clock = Some(why);
            Ending::Stopped
        }
    };
    let ended = SystemTime::now();
    let mut output = String::new();
    for stream in [stdout, stderr].into_iter().flatten() {
        // A stopped client's grandchildren may still hold the pipe: do not wait for them.
        if let Ok(Ok(bytes)) = tokio::time::timeout(Duration::from_secs(2), stream).await {
            output.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    if let Ok(Ok(log)) = tokio::time::timeout(Duration::from_secs(2), visits).await {
        output.push_str(&log);
    }
    Ok(Ran {
        ending,
        output,
        wall: started.elapsed(),
        own_clock,
        ended,
    })
}

/// Resolves, with why, once the client has shown that its waits are not the scaled
/// `sleep`'s ([`pace::unscaled`]).
async fn own_clock_seen(stage: &Stage<'_>) -> String {
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let devices = stage.server.store.device_logs();
        let naps = stage.home.naps();
        if let Some(why) = pace::unscaled(&devices, &naps, &stage.clock, SystemTime::now()) {
            return why;
        }
    }
}

/// Opens every authorization URL the client prints, as the browser; what it did, one
/// line per visit.
async fn open_printed(
    browse: Browse,
    mut printed: tokio::sync::mpsc::UnboundedReceiver<String>,
) -> String {
    let mut log = String::new();
    while let Some(line) = printed.recv().await {
        if let Some(url) = browser::find_authorization_url(&browse.base, &line) {
            let said = match browser::visit(&browse, url).await {
                Ok(done) => done,
                Err(e) => format!("error: {e}"),
            };
            log.push_str(&format!("oauth-harness browser: {said}\n"));
        }
    }
    log
}

/// Runs the command `runs` times with the same `HOME`: the output of all, the first
/// ending that is not success (else the last), or the error that stopped the runs.
async fn run_times(
    opts: &ClientOptions,
    stage: &Stage<'_>,
    runs: u32,
) -> (Ran, Option<std::io::Error>) {
    let mut ran = Ran {
        ending: Ending::Exited(0),
        output: String::new(),
        wall: Duration::ZERO,
        own_clock: None,
        ended: SystemTime::now(),
    };
    for run in 1..=runs {
        match run_command(opts, stage).await {
            Ok(r) => {
                if runs > 1 {
                    ran.output
                        .push_str(&format!("--- run {run} of {runs} ---\n"));
                }
                ran.output.push_str(&r.output);
                ran.wall += r.wall;
                ran.ended = r.ended;
                if ran.ending == Ending::Exited(0) {
                    ran.ending = r.ending;
                }
                if r.own_clock.is_some() {
                    ran.own_clock = r.own_clock;
                    break;
                }
            }
            Err(e) => return (ran, Some(e)),
        }
    }
    (ran, None)
}

/// Resolves once the client has started the flow the scenario does not play.
async fn other_flow(stage: &Stage<'_>) {
    let other = match stage.flow {
        Flow::Device => Endpoint::Authorization,
        Flow::Code => Endpoint::DeviceAuthorization,
    };
    loop {
        if stage.server.store.requested(other.path()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every credential the server issued or saw, to blank from the client's output.
fn learned(state: &crate::server::AppState, red: &mut Redactor) {
    for (kind, value) in state.store.credentials() {
        red.add(&value, kind);
    }
}

/// What the server saw of the client.
fn seen(state: &crate::server::AppState, ending: Ending) -> Seen {
    let record = state.store.play_record();
    Seen {
        devices: record.devices,
        requests: record.requests,
        code_users: record.code_users,
        ending,
    }
}

fn level_status(level: Level) -> Status {
    match level {
        Level::Must => Status::Failed,
        Level::Should => Status::Warning,
        Level::May => Status::Info,
    }
}

/// How a run keeps time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pace {
    /// On the server's clock at `--time-scale` (or the scenario's `time_scale`), watched
    /// for waits the client does not take through the scaled `sleep`.
    Scaled,
    /// At real time, with the scenario's `real_time` parts, for this reason.
    RealTime(String),
}

/// A run's end: judged, or found to keep its own clock (to be run again at real time).
#[derive(Debug)]
pub enum Paced {
    /// The scenario's result.
    Judged(ScenarioResult),
    /// Why the scaled run cannot be judged.
    OwnClock(String),
}

/// Runs one client scenario and judges it: on the scaled clock, and again at real time
/// when the client's waits were its own ([`pace`]), only the second run judged.
pub async fn run_client(l: &LoadedClient, opts: &ClientOptions) -> ScenarioResult {
    run_client_at(l, opts, Pace::Scaled).await
}

/// [`run_client`], starting at `pace`.
pub async fn run_client_at(
    l: &LoadedClient,
    opts: &ClientOptions,
    mut pace: Pace,
) -> ScenarioResult {
    loop {
        match run_paced(l, opts, &pace).await {
            Paced::Judged(r) => return r,
            // A run at real time is never watched, so this happens once.
            Paced::OwnClock(why) => pace = Pace::RealTime(why),
        }
    }
}

/// Runs one client scenario at `pace`.
pub async fn run_paced(l: &LoadedClient, opts: &ClientOptions, pace: &Pace) -> Paced {
    let started = Instant::now();
    let s = &l.scenario;
    let result = ScenarioResult {
        file: l.path.to_string(),
        name: s.name.clone(),
        requirements: s.requirements.clone(),
        tags: vec!["client".into()],
        status: Status::Passed,
        skip_reason: None,
        duration_ms: 0.0,
        steps: Vec::new(),
        race: None,
    };
    if s.server.dpop && !opts.dpop {
        let mut result = result;
        result.status = Status::Skipped;
        result.skip_reason = Some(
            "not applicable: the client is not said to sign DPoP proofs (client --dpop)".into(),
        );
        return Paced::Judged(result);
    }
    let real_time = matches!(pace, Pace::RealTime(_));
    let name = match pace {
        Pace::Scaled => "the client runs".to_string(),
        Pace::RealTime(why) => format!("the client runs, at real time ({why})"),
    };
    let mut step = StepResult::new(name, l.loc(&[Seg::Key("name")]));
    let scale = if real_time {
        1
    } else {
        s.time_scale.unwrap_or(opts.time_scale).max(1)
    };
    let parts = s.parts(real_time);
    let clock = Clock::scaled(scale);
    let server =
        match crate::server::start(server_config(parts), "127.0.0.1:0", clock.clone()).await {
            Ok(s) => s,
            Err(e) => {
                let why = format!("cannot start the server: {e}");
                return Paced::Judged(errored(result, step, why, started));
            }
        };
    let base = server.base_url();
    let home = match Home::new(opts.harness_bin.as_deref()) {
        Ok(h) => h,
        Err(e) => {
            let why = format!("cannot make the client's HOME: {e}");
            return Paced::Judged(errored(result, step, why, started));
        }
    };
    let stage = Stage {
        base: &base,
        server: server.state(),
        home: &home,
        flow: s.flow,
        browse: Browse {
            base: base.clone(),
            approve: parts.user.decision == UserChoice::Approve,
            callback: s.browser.callback,
        },
        scale,
        limit: Duration::from_secs_f64(parts.time_limit as f64 / f64::from(scale)),
        clock: clock.clone(),
        watch: s.flow == Flow::Device && scale > 1,
        dpop: parts.server.dpop,
    };
    let (mut ran, failure) = run_times(opts, &stage, s.runs).await;
    if stage.watch && failure.is_none() {
        let devices = server.state().store.device_logs();
        let unscaled = ran
            .own_clock
            .take()
            .or_else(|| pace::unscaled(&devices, &home.naps(), &clock, ran.ended));
        if let Some(why) = unscaled {
            let _ = server.shutdown().await;
            return Paced::OwnClock(why);
        }
    }
    // The background browser's account of its visits.
    ran.output.push_str(&home.browser_log());
    let mut red = Redactor::default();
    learned(server.state(), &mut red);
    let seen = seen(server.state(), ran.ending);
    let _ = server.shutdown().await;
    if let Some(e) = failure {
        let command = red.redact(&opts.command.join(" "));
        let why = format!("cannot run `{command}`: {e}");
        return Paced::Judged(errored(result, step, why, started));
    }
    step.duration_ms = ran.wall.as_secs_f64() * 1000.0;
    step.exchange = Some(ExchangeSummary {
        request: red.redact(&opts.command.join(" ").replace("{base}", &base)),
        request_body: String::new(),
        status: 0,
        response_headers: vec![judge::describe(ran.ending)],
        response_body: red.redact(&crate::runner::request::cut(&ran.output)),
    });
    let applies = not_applicable(&seen, s.flow, &base, ran.ending);
    Paced::Judged(judged(l, result, step, applies, &seen, &red, started))
}

/// The scenario's result once the client has run: SKIPPED where the scenario does not
/// apply to what the client did, else every `expect` judged.
fn judged(
    l: &LoadedClient,
    mut result: ScenarioResult,
    step: StepResult,
    applies: Option<Applies>,
    seen: &Seen,
    red: &Redactor,
    started: Instant,
) -> ScenarioResult {
    match applies {
        Some(Applies::NothingAsked(why)) => return errored(result, step, why, started),
        Some(Applies::Not(why)) => {
            result.steps.push(step);
            result.status = Status::Skipped;
            result.skip_reason = Some(why);
            result.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
            return result;
        }
        None => {}
    }
    result.steps.push(step);
    let verdicts = verdicts(l, seen, red);
    if verdicts.status == Status::Skipped {
        result.skip_reason = Some("the client's run gave nothing to judge".into());
    }
    result.status = verdicts.status;
    result.steps.push(verdicts);
    result.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    result
}

/// Every `expect` of the scenario judged on what the server saw; SKIPPED when nothing at
/// all could be judged (never a pass).
fn verdicts(l: &LoadedClient, seen: &Seen, red: &Redactor) -> StepResult {
    let mut verdicts = StepResult::new("what the server saw".into(), l.loc(&[Seg::Key("expect")]));
    let s = &l.scenario;
    for (i, e) in s.expect.iter().enumerate() {
        let j = judge::judge(e.check, seen);
        let status = match j.held {
            Some(true) => Status::Passed,
            Some(false) => level_status(e.level),
            None => Status::Skipped,
        };
        verdicts.status = verdicts.status.worst(status);
        verdicts.assertions.push(AssertionResult {
            loc: l.loc(&[Seg::Key("expect"), Seg::Index(i)]),
            description: match &e.requirement {
                Some(r) => format!("{} ({r})", check_name(e.check)),
                None => check_name(e.check),
            },
            expected: j.expected,
            actual: red.redact(&j.actual),
            status,
            requirement: e.requirement.clone(),
            row: None,
        });
    }
    // Nothing judged at all is no pass.
    if verdicts
        .assertions
        .iter()
        .all(|a| a.status == Status::Skipped)
    {
        verdicts.status = Status::Skipped;
    }
    verdicts
}

/// Why a scenario does not judge this client.
enum Applies {
    /// The client runs the other flow: the scenario is skipped, with why.
    Not(String),
    /// The client asked for nothing at all: an error (is it pointed at the server?).
    NothingAsked(String),
}

fn not_applicable(seen: &Seen, flow: Flow, base: &str, ending: Ending) -> Option<Applies> {
    let asked = |e: Endpoint| seen.requests.iter().filter(|r| r.path == e.path()).count();
    let authorizations = asked(Endpoint::Authorization);
    let devices = asked(Endpoint::DeviceAuthorization);
    let (mine, other, other_flow) = match flow {
        Flow::Device => (devices, authorizations, "the code flow"),
        Flow::Code => (authorizations, devices, "the device flow"),
    };
    if mine > 0 {
        return None;
    }
    if other > 0 {
        return Some(Applies::Not(format!(
            "not applicable: the client ran {other_flow}"
        )));
    }
    let asked = match flow {
        Flow::Device => "the client asked for no device code",
        Flow::Code => "the client opened no authorization request (through $BROWSER, or printed with --open-url-from stdout)",
    };
    Some(Applies::NothingAsked(format!(
        "{asked}: nothing to judge (is it pointed at {base}? it gets OAUTH_HARNESS_BASE_URL and NOORLE_API; {})",
        judge::describe(ending)
    )))
}

fn errored(
    mut result: ScenarioResult,
    mut step: StepResult,
    why: String,
    started: Instant,
) -> ScenarioResult {
    step.status = Status::Error;
    step.error = Some(why);
    result.steps.push(step);
    result.status = Status::Error;
    result.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    result
}
