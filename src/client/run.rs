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

use crate::client::judge::{self, Ending};
use crate::client::scenario::{ClientCheck, LoadedClient, UserChoice};
use crate::clock::Clock;
use crate::endpoint::Endpoint;
use crate::runner::result::{AssertionResult, ExchangeSummary, ScenarioResult, Status, StepResult};
use crate::scenario::model::Level;
use crate::scenario::spans::Seg;
use crate::scenario::vars::Redactor;
use crate::server::config::ServerConfig;
use crate::server::faults::{Fault, FaultSet};
use crate::server::play::{DeviceLog, Play, UserDecision};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// How clients are run.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The command and its arguments (`{base}` is replaced by the server's URL).
    pub command: Vec<String>,
    /// Server seconds per real second.
    pub time_scale: u32,
    /// The harness's own binary, for the scaled `sleep` on the client's `PATH` (`None`:
    /// no shim, the client sleeps real time).
    pub harness_bin: Option<PathBuf>,
}

/// The most of a client's output kept (each stream).
const MAX_OUTPUT: usize = 64 << 10;

/// The client id the command should use.
pub const CLIENT_ID: &str = "noorle-cli";

fn server_config(l: &LoadedClient) -> ServerConfig {
    let s = &l.scenario;
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
    config.faults = faults;
    config.play = Some(Play {
        decision: match s.user.decision {
            UserChoice::Approve => Some((UserDecision::Approve, s.user.after)),
            UserChoice::Deny => Some((UserDecision::Deny, s.user.after)),
            UserChoice::Never => None,
        },
        slow_down_on: s.server.slow_down_on.clone(),
        busy_on: s.server.busy_on.clone(),
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
            let shim = dir.join(".bin");
            std::fs::create_dir_all(&shim)?;
            let script = format!(
                "#!/bin/sh\n# oauth-harness: sleep on the server's scaled clock\nexec '{}' scaled-sleep \"$@\"\n",
                bin.display().to_string().replace('\'', "'\\''")
            );
            let path = shim.join("sleep");
            std::fs::write(&path, script)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
            }
        }
        Ok(Home { dir })
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
}

async fn read_capped(mut r: impl tokio::io::AsyncRead + Unpin) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if out.len() < MAX_OUTPUT {
            out.extend_from_slice(&buf[..n.min(MAX_OUTPUT - out.len())]);
        }
    }
    out
}

async fn run_command(
    opts: &ClientOptions,
    base: &str,
    home: &Home,
    limit: Duration,
    scale: u32,
) -> std::io::Result<Ran> {
    let started = Instant::now();
    let args: Vec<String> = opts
        .command
        .iter()
        .map(|a| a.replace("{base}", base))
        .collect();
    let (program, rest) = args.split_first().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command to run")
    })?;
    let url = |e: Endpoint| format!("{base}{}", e.path());
    let mut child = tokio::process::Command::new(program)
        .args(rest)
        .env("HOME", &home.dir)
        .env("PATH", home.path_with_shim())
        .env("OAUTH_HARNESS_BASE_URL", base)
        .env("OAUTH_HARNESS_CLIENT_ID", CLIENT_ID)
        .env(
            "OAUTH_HARNESS_DEVICE_AUTHORIZATION_URL",
            url(Endpoint::DeviceAuthorization),
        )
        .env("OAUTH_HARNESS_TOKEN_URL", url(Endpoint::Token))
        .env("OAUTH_HARNESS_TIME_SCALE", scale.to_string())
        .env("NOORLE_API", base)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().map(|s| tokio::spawn(read_capped(s)));
    let stderr = child.stderr.take().map(|s| tokio::spawn(read_capped(s)));
    let ending = match tokio::time::timeout(limit, child.wait()).await {
        Ok(Ok(status)) => status.code().map_or(Ending::Signalled, Ending::Exited),
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            let _ = child.kill().await;
            Ending::Stopped
        }
    };
    let mut output = String::new();
    for stream in [stdout, stderr].into_iter().flatten() {
        // A stopped client's grandchildren may still hold the pipe: do not wait for them.
        if let Ok(Ok(bytes)) = tokio::time::timeout(Duration::from_secs(2), stream).await {
            output.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    Ok(Ran {
        ending,
        output,
        wall: started.elapsed(),
    })
}

/// Every credential the server issued or saw, to blank from the client's output.
fn learned(state: &crate::server::AppState, red: &mut Redactor) {
    let store = state.store.lock();
    for (code, d) in store.devices.iter() {
        red.add(code.as_str(), "device_code");
        red.add(&d.user_code, "user_code");
    }
    for (token, _) in store.access.iter() {
        red.add(token.as_str(), "access_token");
    }
    for (token, _) in store.refresh.iter() {
        red.add(token.as_str(), "refresh_token");
    }
}

fn level_status(level: Level) -> Status {
    match level {
        Level::Must => Status::Failed,
        Level::Should => Status::Warning,
        Level::May => Status::Info,
    }
}

fn check_name(c: ClientCheck) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{c:?}"))
}

/// Runs one client scenario and judges it.
pub async fn run_client(l: &LoadedClient, opts: &ClientOptions) -> ScenarioResult {
    let started = Instant::now();
    let s = &l.scenario;
    let mut result = ScenarioResult {
        file: l.path.to_string(),
        name: s.name.clone(),
        requirements: s.requirements.clone(),
        tags: vec!["client".into()],
        status: Status::Passed,
        skip_reason: None,
        duration_ms: 0.0,
        steps: Vec::new(),
    };
    let mut step = StepResult::new("the client runs".into(), l.loc(&[Seg::Key("name")]));
    let scale = s.time_scale.unwrap_or(opts.time_scale).max(1);
    let server =
        match crate::server::start(server_config(l), "127.0.0.1:0", Clock::scaled(scale)).await {
            Ok(s) => s,
            Err(e) => {
                return errored(
                    result,
                    step,
                    format!("cannot start the server: {e}"),
                    started,
                )
            }
        };
    let base = server.base_url();
    let home = match Home::new(opts.harness_bin.as_deref()) {
        Ok(h) => h,
        Err(e) => {
            return errored(
                result,
                step,
                format!("cannot make the client's HOME: {e}"),
                started,
            )
        }
    };
    let limit = Duration::from_secs_f64(s.time_limit as f64 / f64::from(scale));
    let ran = run_command(opts, &base, &home, limit, scale).await;
    let mut red = Redactor::default();
    learned(server.state(), &mut red);
    let logs: Vec<DeviceLog> = server.state().store.lock().device_logs.clone();
    let _ = server.shutdown().await;
    let ran = match ran {
        Ok(r) => r,
        Err(e) => {
            let command = red.redact(&opts.command.join(" "));
            return errored(
                result,
                step,
                format!("cannot run `{command}`: {e}"),
                started,
            );
        }
    };
    step.duration_ms = ran.wall.as_secs_f64() * 1000.0;
    step.exchange = Some(ExchangeSummary {
        request: red.redact(&opts.command.join(" ").replace("{base}", &base)),
        request_body: String::new(),
        status: 0,
        response_headers: vec![judge::describe(ran.ending)],
        response_body: red.redact(&crate::runner::request::cut(&ran.output)),
    });
    if logs.is_empty() {
        return errored(
            result,
            step,
            format!(
                "the client asked for no device code: nothing to judge (is it pointed at {base}? it gets OAUTH_HARNESS_BASE_URL and NOORLE_API; {})",
                judge::describe(ran.ending)
            ),
            started,
        );
    }
    result.steps.push(step);
    let mut verdicts = StepResult::new("what the server saw".into(), l.loc(&[Seg::Key("expect")]));
    for (i, e) in s.expect.iter().enumerate() {
        let j = judge::judge(e.check, &logs, ran.ending);
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
        });
    }
    // Nothing judged at all is no pass.
    if verdicts
        .assertions
        .iter()
        .all(|a| a.status == Status::Skipped)
    {
        verdicts.status = Status::Skipped;
        result.skip_reason = Some("the client's run gave nothing to judge".into());
    }
    result.status = verdicts.status;
    result.steps.push(verdicts);
    result.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    result
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
