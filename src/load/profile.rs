//! Load profiles: what to run, how many users, for how long, and what must hold.
//!
//! A profile is a YAML file (the built-in ones live in `scenarios/load/` and are
//! embedded) read with serde_yaml; errors name the file, line and field, located with
//! the same span index as scenario files.

use crate::scenario::spans::{Seg, SpanIndex};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The built-in profiles, by name.
pub(crate) const BUILTIN: &[(&str, &str)] = &[
    (
        "device-polling",
        include_str!("../../scenarios/load/device-polling.yaml"),
    ),
    (
        "token-grants",
        include_str!("../../scenarios/load/token-grants.yaml"),
    ),
    ("stress", include_str!("../../scenarios/load/stress.yaml")),
];

/// What the simulated users do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// RFC 8628 devices: authorize, then poll until a terminal answer.
    DevicePolling,
    /// Authorization code + PKCE, refresh rotation and client credentials, weighted.
    /// (Once called `token-exchange`, which is RFC 8693's name for something else; the old
    /// name still reads, with a warning.)
    #[serde(alias = "token-exchange")]
    TokenGrants,
    /// Steps of growing user counts over another kind, until a threshold breaks.
    Stress,
}

/// What a run's users do, with the settings only that workload reads: a flow of one
/// workload cannot reach another's settings, and dispatch on it is exhaustive. A stress
/// ramp is no workload: it drives one (`LoadProfile::stress`).
#[derive(Debug, Clone)]
pub enum Workload {
    /// RFC 8628 devices.
    Device(DeviceSettings),
    /// Authorization code + PKCE, refresh, client credentials.
    Grants(GrantSettings),
}

/// The token-grants workload's settings: its transactions and clients, and think time.
#[derive(Debug, Clone)]
pub struct GrantSettings {
    /// Transactions, weights and clients (`exchange:`).
    pub exchange: ExchangeSettings,
    /// Each user pauses between transactions for a uniform time in this range.
    pub wait_time: Option<DelaySettings>,
}

impl Workload {
    /// The name as written in profiles.
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Device(_) => WorkloadKind::DevicePolling.name(),
            Workload::Grants(_) => WorkloadKind::TokenGrants.name(),
        }
    }
}

/// A workload's name in a file: a profile's `kind`, or what the old `kind: stress` ramps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// `device-polling`.
    DevicePolling,
    /// `token-grants` (or its old name).
    #[serde(alias = "token-exchange")]
    TokenGrants,
}

impl WorkloadKind {
    /// The name as written in profiles.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::DevicePolling => Kind::DevicePolling.name(),
            WorkloadKind::TokenGrants => Kind::TokenGrants.name(),
        }
    }
}

impl Kind {
    /// The name as written in profiles.
    pub fn name(self) -> &'static str {
        match self {
            Kind::DevicePolling => "device-polling",
            Kind::TokenGrants => "token-grants",
            Kind::Stress => "stress",
        }
    }
}

/// A span of time written `30s`, `2m`, `500ms` or `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub Duration);

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_span(&text)
            .map(Span)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses `30s`, `2m`, `500ms`, `1h 30m` (a bare number is seconds).
pub(crate) fn parse_span(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(Duration::from_secs_f64(secs));
        }
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("`{text}` is not a time span like 30s, 2m or 500ms: {e}"))
}

/// A profile file as serde reads it; [`parse`] checks it and lowers it to a
/// [`LoadProfile`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileDoc {
    /// A name for reports (default: the file's stem).
    #[serde(default)]
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// What the users do.
    pub kind: Kind,
    /// Simulated users (devices for device-polling) of the closed model; an open-model
    /// profile (`arrival:`) has none.
    #[serde(default)]
    pub users: usize,
    /// Users started per second (default: all within one second).
    #[serde(default)]
    pub increase_rate: Option<f64>,
    /// Keep users running this long after all have started; without it, each user runs
    /// `iterations` times (device-polling: one device life each) and the run ends.
    #[serde(default)]
    pub run_time: Option<Span>,
    /// Iterations per user when `run_time` is absent.
    #[serde(default = "one")]
    pub iterations: usize,
    /// A hard cap on the whole run, whatever happens (default 10m).
    #[serde(default = "ten_minutes")]
    pub max_time: Span,
    /// Builtin target only: the server's clock runs this many times faster than real
    /// time, and the users wait intervals and lifetimes scaled down alike.
    #[serde(default = "one_u32")]
    pub time_scale: u32,
    /// The share of flows that end with a protocol probe (`load::probes`), 0 to 1
    /// (default 0.1; 0 sends none).
    #[serde(default = "a_tenth")]
    pub probes: f64,
    /// Every token request carries a DPoP proof (RFC 9449 §5), signed for it with the key
    /// J, and the tokens (a public client's refresh tokens too) come bound to it.
    #[serde(default)]
    pub dpop: bool,
    /// Device-polling settings.
    #[serde(default)]
    pub device: DeviceSettings,
    /// Token-exchange settings.
    #[serde(default)]
    pub exchange: ExchangeSettings,
    /// Token-exchange: each user pauses between transactions for a uniform time in this
    /// range (think time; default none: as fast as the server answers).
    #[serde(default)]
    pub wait_time: Option<DelaySettings>,
    /// The open model: flows started at a rate, whatever the server's latency, instead
    /// of `users` in a loop.
    #[serde(default)]
    pub arrival: Option<ArrivalSettings>,
    /// Stress settings.
    #[serde(default)]
    pub stress: Option<StressSettings>,
    /// Builtin target only: the server's policy for the run.
    #[serde(default)]
    pub server: ServerSettings,
    /// Rules checked at the end: `p99 < 50ms`, `error_rate < 0.1%`, `rps > 100`, each
    /// optionally `for <request name or group>`.
    #[serde(default)]
    pub thresholds: Vec<String>,
}

/// A checked profile: what the run does and what must hold.
#[derive(Debug, Clone)]
pub struct LoadProfile {
    /// A name for reports (the file's stem unless it says).
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// What the users do, with its settings.
    pub workload: Workload,
    /// Simulated users of the closed model (none for the open model or a stress ramp).
    pub users: usize,
    /// Users started per second (default: all within one second).
    pub increase_rate: Option<f64>,
    /// Keep users running this long after all have started.
    pub run_time: Option<Span>,
    /// Iterations per user when `run_time` is absent.
    pub iterations: usize,
    /// A hard cap on the whole run.
    pub max_time: Span,
    /// Builtin target only: server seconds per real second.
    pub time_scale: u32,
    /// The share of flows that end with a protocol probe, 0 to 1.
    pub probes: f64,
    /// Token requests carry DPoP proofs (RFC 9449).
    pub dpop: bool,
    /// The open model: flows started at a rate.
    pub arrival: Option<ArrivalSettings>,
    /// A stress ramp driving the workload in steps of growing users or rates.
    pub stress: Option<StressSettings>,
    /// What the reader noticed but accepted (an old name), for the CLI to print.
    pub warnings: Vec<String>,
    /// Builtin target only: the server's policy for the run.
    pub server: ServerSettings,
    /// Rules checked at the end.
    pub thresholds: Vec<String>,
}

impl ProfileDoc {
    /// The workload its users run: its kind, or for the old `kind: stress` what the ramp
    /// drives (`stress.of`); `None` for `kind: stress` without it.
    fn workload_kind(&self) -> Option<WorkloadKind> {
        match self.kind {
            Kind::DevicePolling => Some(WorkloadKind::DevicePolling),
            Kind::TokenGrants => Some(WorkloadKind::TokenGrants),
            Kind::Stress => self.stress.as_ref().and_then(|s| s.of),
        }
    }

    /// The checked document as a profile running `kind`.
    fn lower(self, kind: WorkloadKind, warnings: Vec<String>) -> LoadProfile {
        let workload = match kind {
            WorkloadKind::DevicePolling => Workload::Device(self.device),
            WorkloadKind::TokenGrants => Workload::Grants(GrantSettings {
                exchange: self.exchange,
                wait_time: self.wait_time,
            }),
        };
        LoadProfile {
            name: self.name,
            description: self.description,
            workload,
            users: self.users,
            increase_rate: self.increase_rate,
            run_time: self.run_time,
            iterations: self.iterations,
            max_time: self.max_time,
            time_scale: self.time_scale,
            probes: self.probes,
            dpop: self.dpop,
            arrival: self.arrival,
            stress: self.stress,
            warnings,
            server: self.server,
            thresholds: self.thresholds,
        }
    }
}

fn one() -> usize {
    1
}
fn a_tenth() -> f64 {
    0.1
}

fn one_u32() -> u32 {
    1
}
fn ten_minutes() -> Span {
    Span(Duration::from_secs(600))
}

/// How simulated devices behave, and how their users decide.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSettings {
    /// The device's client (public device clients need no secret).
    #[serde(default = "default_device_client")]
    pub client_id: String,
    /// Scope asked for (default: the server's default).
    #[serde(default)]
    pub scope: Option<String>,
    /// Share of devices whose user approves.
    #[serde(default = "default_approve")]
    pub approve: f64,
    /// Share of devices whose user denies. The rest never decide: their codes expire.
    #[serde(default)]
    pub deny: f64,
    /// Share of devices that poll once after half the interval, on purpose, to provoke
    /// `slow_down`; they then obey the grown interval. These polls are counted apart, as
    /// deliberate, never as the harness's own interval violations.
    #[serde(default)]
    pub eager: f64,
    /// When the user decides, in server time after the device code is issued.
    #[serde(default)]
    pub delay: DelaySettings,
    /// A second confidential client with the device grant: after a probed approval it
    /// polls the code with its own credentials, which a server should refuse (DEV-23).
    /// None: not probed.
    #[serde(default)]
    pub other_client: Option<String>,
}

fn default_device_client() -> String {
    "noorle-cli".into()
}
fn default_approve() -> f64 {
    1.0
}

impl Default for DeviceSettings {
    fn default() -> Self {
        DeviceSettings {
            client_id: default_device_client(),
            scope: None,
            approve: default_approve(),
            deny: 0.0,
            eager: 0.0,
            delay: DelaySettings::default(),
            other_client: None,
        }
    }
}

/// A uniform delay between `min` and `max`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelaySettings {
    /// Shortest.
    pub min: Span,
    /// Longest.
    pub max: Span,
}

impl Default for DelaySettings {
    fn default() -> Self {
        DelaySettings {
            min: Span(Duration::from_secs(5)),
            max: Span(Duration::from_secs(30)),
        }
    }
}

/// Token-exchange transactions and their clients.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeSettings {
    /// Transaction weights: `authorization_code`, `refresh_token`, `client_credentials`.
    #[serde(default = "default_weights")]
    pub weights: BTreeMap<String, usize>,
    /// The confidential web client of the code flow.
    #[serde(default = "default_code_client")]
    pub code_client: String,
    /// Its registered redirect URI.
    #[serde(default = "default_redirect")]
    pub redirect_uri: String,
    /// Scope of the code flow (with offline_access, so that refresh has a token).
    #[serde(default = "default_code_scope")]
    pub scope: String,
    /// The client of the client_credentials grant.
    #[serde(default = "default_cc_client")]
    pub client_credentials_client: String,
    /// A second confidential client: probed refreshes present the code client's refresh
    /// token with its credentials, which a server must refuse (REF-6). None: not probed.
    #[serde(default)]
    pub other_client: Option<String>,
}

/// The transactions of token-grants, in report order.
/// A token-grants transaction: one grant's flow. Dispatch on it is exhaustive, and
/// [`TokenGrant::all`] is derived, so a new one is weighted, dealt and run, or the build
/// says where it is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum TokenGrant {
    /// A sign-in: authorization code with PKCE (the user's consent through the target).
    AuthorizationCode,
    /// A refresh of a token an earlier sign-in got.
    RefreshToken,
    /// A machine client's client_credentials grant.
    ClientCredentials,
}

impl TokenGrant {
    /// Every transaction, in declaration order.
    pub fn all() -> &'static [TokenGrant] {
        <TokenGrant as clap::ValueEnum>::value_variants()
    }

    /// Its name in profiles (`exchange.weights`) and reports: the grant type.
    pub fn name(self) -> &'static str {
        match self {
            TokenGrant::AuthorizationCode => "authorization_code",
            TokenGrant::RefreshToken => "refresh_token",
            TokenGrant::ClientCredentials => "client_credentials",
        }
    }

    /// The transaction called `name`.
    pub fn from_name(name: &str) -> Option<TokenGrant> {
        TokenGrant::all().iter().copied().find(|t| t.name() == name)
    }
}

impl ExchangeSettings {
    /// The weight of `t` in the mix (0 when the profile gives none).
    pub fn weight(&self, t: TokenGrant) -> usize {
        self.weights.get(t.name()).copied().unwrap_or(0)
    }
}

fn default_weights() -> BTreeMap<String, usize> {
    TokenGrant::all()
        .iter()
        .map(|t| (t.name().to_string(), 1))
        .collect()
}
fn default_code_client() -> String {
    "web".into()
}
fn default_redirect() -> String {
    "https://web.example/callback".into()
}
fn default_code_scope() -> String {
    "api offline_access".into()
}
fn default_cc_client() -> String {
    "m2m".into()
}

impl Default for ExchangeSettings {
    fn default() -> Self {
        ExchangeSettings {
            weights: default_weights(),
            code_client: default_code_client(),
            redirect_uri: default_redirect(),
            scope: default_code_scope(),
            client_credentials_client: default_cc_client(),
            other_client: None,
        }
    }
}

/// The open model's arrivals.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrivalSettings {
    /// A constant rate (`2000/s`, `120/m`) for the profile's `run_time`.
    #[serde(default)]
    pub rate: Option<String>,
    /// A linear ramp instead: `100/s..2000/s over 30s`.
    #[serde(default)]
    pub ramp: Option<String>,
    /// Flows in flight at most; an arrival that finds them all running is dropped and
    /// counted (default 10,000).
    #[serde(default = "ten_thousand")]
    pub max_in_flight: usize,
}

fn ten_thousand() -> usize {
    10_000
}

impl ArrivalSettings {
    /// The plan, with `run_time` the length of a constant rate.
    pub(crate) fn plan(&self, run_time: Option<Duration>) -> Result<super::open::Plan, String> {
        use super::open::{Arrivals, Plan};
        let arrivals = match (&self.rate, &self.ramp) {
            (Some(_), Some(_)) => return Err("give `rate` or `ramp`, not both".into()),
            (None, None) => return Err("needs `rate` (with run_time) or `ramp`".into()),
            (Some(rate), None) => {
                let over = run_time.ok_or(
                    "a constant `rate` runs for the profile's `run_time`, which is missing",
                )?;
                let a = Arrivals::constant(Arrivals::parse_rate(rate)?, over);
                a.check()?;
                a
            }
            (None, Some(ramp)) => Arrivals::parse_ramp(ramp)?,
        };
        if self.max_in_flight == 0 {
            return Err("max_in_flight must be at least 1".into());
        }
        Ok(Plan {
            arrivals,
            max_in_flight: self.max_in_flight,
        })
    }
}

/// The ramp of a stress profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StressSettings {
    /// The workload each step runs, with the old `kind: stress` only (now the profile's
    /// `kind` says it, and a `stress:` section makes it a ramp).
    #[serde(default)]
    pub of: Option<WorkloadKind>,
    /// Users in the first step (later steps multiply by `factor`): the closed model.
    #[serde(default)]
    pub start_users: Option<usize>,
    /// Or the arrival rate of the first step (`200/s`): the open model.
    #[serde(default)]
    pub start_rate: Option<String>,
    /// Growth per step.
    #[serde(default = "two")]
    pub factor: f64,
    /// Steps at most.
    pub steps: usize,
    /// Each step's time with all its users running.
    pub step_time: Span,
    /// Fail (exit 5) if the knee comes before this many users.
    #[serde(default)]
    pub require_users: Option<usize>,
    /// Fail (exit 5) if the knee comes before this arrival rate (`1000/s`).
    #[serde(default)]
    pub require_rate: Option<String>,
}

fn two() -> f64 {
    2.0
}

/// The builtin server's policy for a load run (ignored for live targets).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Device authorizations per client per minute before 429 (default: unlimited).
    #[serde(default)]
    pub device_rate_limit: Option<u32>,
    /// Device code lifetime, seconds of server time.
    #[serde(default)]
    pub device_code_ttl: Option<u64>,
    /// Polling interval, seconds of server time.
    #[serde(default)]
    pub device_interval: Option<u64>,
    /// Fault switches to turn on (`serve --list-faults`): a server that breaks rules, to
    /// see the protocol probes catch it.
    #[serde(default)]
    pub faults: Vec<String>,
    /// A pause of the token endpoint: `{after: 5s, for: 2s}` from the server's start,
    /// every token request waits until it ends (to see a load model report a stall).
    #[serde(default)]
    pub stall: Option<StallSettings>,
}

/// When the builtin's token endpoint pauses.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StallSettings {
    /// From the server's start.
    pub after: Span,
    /// How long.
    #[serde(rename = "for")]
    pub length: Span,
}

impl ServerSettings {
    /// The fault switches named (unknown names are refused when the profile is read).
    pub(crate) fn fault_set(&self) -> crate::server::faults::FaultSet {
        use crate::server::faults::Fault;
        self.faults
            .iter()
            .filter_map(|n| Fault::from_name(n))
            .collect()
    }
}

/// A profile that cannot be used, with where.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ProfileError {
    /// `file:line:col`, or the built-in name.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

/// The threshold every device-polling profile with approving users gets unless it judges
/// `token: success` itself.
pub(crate) const DEVICES_SUCCEED: &str = "count > 0 for token: success";

/// The old name of the `token-grants` profile and kind.
const OLD_TOKEN_GRANTS: &str = "token-exchange";

const RENAMED: &str = "`token-exchange` is now `token-grants` (it runs authorization-code, refresh and client_credentials grants; token exchange is RFC 8693's name for something else); the old name will go";

const STRESS_MOVED: &str = "`kind: stress` is now the workload's kind with a `stress:` section (a ramp drives a workload; it is none itself): write ";

/// Reads a profile by built-in name or file path.
pub fn load(name_or_path: &str) -> Result<LoadProfile, ProfileError> {
    if name_or_path == OLD_TOKEN_GRANTS && !Path::new(name_or_path).exists() {
        let mut p = load(Kind::TokenGrants.name())?;
        p.warnings.push(RENAMED.into());
        return Ok(p);
    }
    if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
        return parse(
            name,
            &format!("scenarios/load/{name}.yaml (built in)"),
            text,
        );
    }
    let path = Path::new(name_or_path);
    let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
        location: name_or_path.to_string(),
        message: if path.extension().is_none() && !path.exists() {
            format!(
                "no such profile: not a built-in name ({}) and not a file ({e})",
                BUILTIN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            format!("cannot read the file: {e}")
        },
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "load".into());
    parse(&stem, name_or_path, &text)
}

/// Parses and checks a profile's text; `file` names it in errors.
pub fn parse(stem: &str, file: &str, text: &str) -> Result<LoadProfile, ProfileError> {
    let mut p: ProfileDoc = serde_yaml::from_str(text).map_err(|e| {
        let (line, col, message) = crate::scenario::spans::yaml_error(&e, text);
        ProfileError {
            location: format!("{file}:{line}:{col}"),
            message,
        }
    })?;
    let mut warnings = old_names(file, text);
    if p.name.is_empty() {
        p.name = stem.to_string();
    }
    let spans = SpanIndex::new(Arc::from(file), text);
    let bad = |path: &[Seg<'_>], message: String| ProfileError {
        location: spans.loc(path).to_string(),
        message,
    };
    check_counts(&p, &bad)?;
    check_device(&p, &bad)?;
    check_exchange(&p, &bad)?;
    check_stress(&p, &bad)?;
    let Some(kind) = p.workload_kind() else {
        return Err(bad(&[Seg::Key("kind")], "kind: names no workload".into()));
    };
    if p.kind == Kind::Stress {
        warnings.push(format!(
            "{}: {STRESS_MOVED}`kind: {}`",
            spans.loc(&[Seg::Key("kind")]),
            kind.name()
        ));
    }
    check_workload_blocks(kind, text, &bad)?;
    // A device-polling run where users approve fails unless some device gets its tokens:
    // latency alone passed runs that issued none (issue #19).
    if kind == WorkloadKind::DevicePolling
        && p.device.approve > 0.0
        && !p.thresholds.iter().any(|t| t.contains("token: success"))
    {
        p.thresholds.push(DEVICES_SUCCEED.into());
    }
    // Rules a server keeps at any load (MUST rows): none broken, unless the profile says
    // otherwise about the group.
    if !p.thresholds.iter().any(|t| t.contains("protocol")) {
        p.thresholds.push(super::probes::RULE.into());
    }
    for (i, rule) in p.thresholds.iter().enumerate() {
        if let Err(e) = super::threshold::Threshold::parse(rule) {
            return Err(bad(
                &[Seg::Key("thresholds"), Seg::Index(i)],
                format!("thresholds[{i}]: {e}"),
            ));
        }
    }
    Ok(p.lower(kind, warnings))
}

/// How a check names the place of what is wrong.
type Bad<'a> = dyn Fn(&[Seg<'_>], String) -> ProfileError + 'a;

/// Warnings for the old `token-exchange` kind name (a serde alias), at its place.
fn old_names(file: &str, text: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Ok(raw) = serde_yaml::from_str::<serde_yaml::Value>(text) {
        let old = |v: &serde_yaml::Value| v.as_str() == Some(OLD_TOKEN_GRANTS);
        let spans = SpanIndex::new(Arc::from(file), text);
        for path in [
            vec![Seg::Key("kind")],
            vec![Seg::Key("stress"), Seg::Key("of")],
        ] {
            let value = path.iter().try_fold(&raw, |v, seg| match seg {
                Seg::Key(k) => v.get(*k),
                Seg::Index(i) => v.get(*i),
            });
            if value.is_some_and(old) {
                warnings.push(format!("{}: {RENAMED}", spans.loc(&path)));
            }
        }
    }
    warnings
}

/// Users, their start rate, iterations and the clock's speed.
fn check_counts(p: &ProfileDoc, bad: &Bad<'_>) -> Result<(), ProfileError> {
    match &p.arrival {
        Some(a) => {
            if p.stress.is_some() {
                return Err(bad(
                    &[Seg::Key("arrival")],
                    "arrival: a stress profile ramps rates with `stress.start_rate` instead".into(),
                ));
            }
            a.plan(p.run_time.map(|t| t.0))
                .map_err(|e| bad(&[Seg::Key("arrival")], format!("arrival: {e}")))?;
        }
        None if p.users == 0 && p.stress.is_none() => {
            return Err(bad(
                &[Seg::Key("users")],
                "users: must be at least 1 (or give `arrival:` for the open model)".into(),
            ));
        }
        None => {}
    }
    if let Some(r) = p.increase_rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(bad(
                &[Seg::Key("increase_rate")],
                "increase_rate: must be a number of users per second above 0".into(),
            ));
        }
    }
    if p.iterations == 0 {
        return Err(bad(
            &[Seg::Key("iterations")],
            "iterations: must be at least 1".into(),
        ));
    }
    for (i, name) in p.server.faults.iter().enumerate() {
        if crate::server::faults::Fault::from_name(name).is_none() {
            return Err(bad(
                &[Seg::Key("server"), Seg::Key("faults"), Seg::Index(i)],
                format!("server.faults[{i}]: unknown fault '{name}' (see `oauth-harness serve --list-faults`)"),
            ));
        }
    }
    if !(0.0..=1.0).contains(&p.probes) {
        return Err(bad(
            &[Seg::Key("probes")],
            "probes: must be a share of flows from 0 to 1".into(),
        ));
    }
    if !(1..=1000).contains(&p.time_scale) {
        return Err(bad(
            &[Seg::Key("time_scale")],
            "time_scale: must be between 1 and 1000".into(),
        ));
    }
    Ok(())
}

/// The device users' shares and delays, and the think time.
fn check_device(p: &ProfileDoc, bad: &Bad<'_>) -> Result<(), ProfileError> {
    let d = &p.device;
    for (field, v) in [("approve", d.approve), ("deny", d.deny), ("eager", d.eager)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(bad(
                &[Seg::Key("device"), Seg::Key(field)],
                format!("device.{field}: a share must be between 0 and 1, not {v}"),
            ));
        }
    }
    if d.approve + d.deny > 1.0 + 1e-9 {
        return Err(bad(
            &[Seg::Key("device"), Seg::Key("deny")],
            format!(
                "device: approve ({}) and deny ({}) add up to more than 1",
                d.approve, d.deny
            ),
        ));
    }
    if let Some(w) = &p.wait_time {
        if w.min.0 > w.max.0 {
            return Err(bad(
                &[Seg::Key("wait_time"), Seg::Key("min")],
                "wait_time: min is longer than max".into(),
            ));
        }
    }
    if d.delay.min.0 > d.delay.max.0 {
        return Err(bad(
            &[Seg::Key("device"), Seg::Key("delay"), Seg::Key("min")],
            "device.delay: min is longer than max".into(),
        ));
    }
    Ok(())
}

/// The token-grants transactions and their weights.
fn check_exchange(p: &ProfileDoc, bad: &Bad<'_>) -> Result<(), ProfileError> {
    for name in p.exchange.weights.keys() {
        if TokenGrant::from_name(name).is_none() {
            return Err(bad(
                &[Seg::Key("exchange"), Seg::Key("weights")],
                format!(
                    "exchange.weights: unknown transaction `{name}` (known: {})",
                    TokenGrant::all()
                        .iter()
                        .map(|t| t.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    if p.workload_kind() == Some(WorkloadKind::TokenGrants)
        && p.exchange.weights.values().all(|w| *w == 0)
    {
        return Err(bad(
            &[Seg::Key("exchange"), Seg::Key("weights")],
            "exchange.weights: at least one transaction needs a weight above 0".into(),
        ));
    }
    Ok(())
}

/// Each workload's settings only where that workload runs: a `device:` block on a
/// token-grants profile (or `exchange:`, `wait_time:` on a device-polling one) would be
/// read and never used, so it is refused at its line.
fn check_workload_blocks(
    workload: WorkloadKind,
    text: &str,
    bad: &Bad<'_>,
) -> Result<(), ProfileError> {
    let raw = serde_yaml::from_str::<serde_yaml::Value>(text).ok();
    let given = |key: &str| raw.as_ref().is_some_and(|v| v.get(key).is_some());
    let foreign: &[&str] = match workload {
        WorkloadKind::DevicePolling => &["exchange", "wait_time"],
        WorkloadKind::TokenGrants => &["device"],
    };
    for key in foreign {
        if given(key) {
            return Err(bad(
                &[Seg::Key(key)],
                format!(
                    "{key}: this profile runs {}, which never reads this section (it belongs to {})",
                    workload.name(),
                    if *key == "device" {
                        "device-polling"
                    } else {
                        "token-grants"
                    }
                ),
            ));
        }
    }
    Ok(())
}

/// A stress ramp that grows, over a workload: `kind: WORKLOAD` with a `stress:` section,
/// or the old `kind: stress` with `stress.of` (read with a warning).
fn check_stress(p: &ProfileDoc, bad: &Bad<'_>) -> Result<(), ProfileError> {
    let Some(s) = &p.stress else {
        if p.kind == Kind::Stress {
            return Err(bad(
                &[Seg::Key("kind")],
                "kind: stress needs a `stress:` section; better, name the workload the ramp drives (`kind: token-grants`) and add `stress:` (start_users or start_rate, steps, step_time)".into(),
            ));
        }
        return Ok(());
    };
    match (p.kind, s.of) {
        (Kind::Stress, None) => {
            return Err(bad(
                &[Seg::Key("kind")],
                "kind: stress names no workload: write `kind: token-grants` (or device-polling) beside the `stress:` section".into(),
            ))
        }
        (Kind::DevicePolling | Kind::TokenGrants, Some(of)) => {
            return Err(bad(
                &[Seg::Key("stress"), Seg::Key("of")],
                format!(
                    "stress.of: the profile's kind ({}) is what the ramp drives; drop `of: {}`",
                    p.kind.name(),
                    of.name()
                ),
            ))
        }
        _ => {}
    }
    match (s.start_users, &s.start_rate) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(bad(
                &[Seg::Key("stress")],
                "stress: give start_users (closed model) or start_rate (open model)".into(),
            ))
        }
        (None, Some(r)) => {
            for (field, text) in [
                ("start_rate", Some(r)),
                ("require_rate", s.require_rate.as_ref()),
            ] {
                if let Some(t) = text {
                    super::open::Arrivals::parse_rate(t)
                        .ok()
                        .filter(|r| *r > 0.0)
                        .ok_or_else(|| {
                            bad(
                                &[Seg::Key("stress"), Seg::Key(field)],
                                format!(
                                    "stress.{field}: `{t}` is not a rate above 0 such as 200/s"
                                ),
                            )
                        })?;
                }
            }
        }
        (Some(_), None) => {}
    }
    if s.start_users == Some(0) || s.steps == 0 || !(s.factor.is_finite() && s.factor > 1.0) {
        return Err(bad(
            &[Seg::Key("stress")],
            "stress: start_users and steps must be at least 1, factor above 1".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_polling_with_approving_users_must_see_a_success() {
        let p = load("device-polling").expect("built in");
        assert!(
            p.thresholds.iter().any(|t| t == DEVICES_SUCCEED),
            "{:?}",
            p.thresholds
        );
        let text = "kind: device-polling\nusers: 2\ndevice: {approve: 0, deny: 1}\n";
        let p = parse("deny", "deny.yaml", text).expect("all deny");
        assert!(!p.thresholds.iter().any(|t| t == DEVICES_SUCCEED));
        let text =
            "kind: device-polling\nusers: 2\nthresholds: [\"count > 5 for token: success\"]\n";
        let p = parse("own", "own.yaml", text).expect("its own rule");
        assert_eq!(
            p.thresholds,
            ["count > 5 for token: success", super::super::probes::RULE]
        );
    }

    #[test]
    fn every_profile_gets_the_protocol_rule_unless_it_has_its_own() {
        for kind in ["device-polling", "token-grants"] {
            let text = format!("kind: {kind}\nusers: 2\nrun_time: 1s\n");
            let p = parse("p", "p.yaml", &text).expect("valid");
            assert!(
                p.thresholds.iter().any(|t| t == super::super::probes::RULE),
                "{kind}"
            );
        }
        let text = "kind: token-grants\nusers: 2\nrun_time: 1s\nthresholds: [\"count < 3 for protocol\"]\n";
        let p = parse("p", "p.yaml", text).expect("valid");
        assert_eq!(p.thresholds, ["count < 3 for protocol"]);
        let text = "kind: token-grants\nusers: 2\nrun_time: 1s\nprobes: 2\n";
        let e = parse("p", "p.yaml", text).expect_err("a share above 1");
        assert!(e.to_string().starts_with("p.yaml:4:9: probes:"), "{e}");
        let text = "kind: token-grants\nusers: 2\nserver:\n  faults: [nope]\n";
        let e = parse("p", "p.yaml", text).expect_err("an unknown fault");
        assert!(
            e.to_string()
                .contains("server.faults[0]: unknown fault 'nope'"),
            "{e}"
        );
    }

    #[test]
    fn the_old_token_exchange_name_reads_with_a_warning_at_its_place() {
        let p = load("token-exchange").expect("the old built-in name");
        assert_eq!(p.workload.name(), "token-grants");
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("is now `token-grants`"));
        let text = "users: 2\nkind: token-exchange\nrun_time: 1s\n";
        let p = parse("old", "old.yaml", text).expect("the old kind");
        assert_eq!(p.workload.name(), "token-grants");
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(
            p.warnings[0].starts_with("old.yaml:2:7: "),
            "{}",
            p.warnings[0]
        );
        let p = load("token-grants").expect("the new name");
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn arrival_settings_are_checked_where_they_are_written() {
        let base = "kind: token-grants\nrun_time: 10s\n";
        let ok = parse("p", "p.yaml", &format!("{base}arrival: {{rate: 2000/s}}\n")).expect("ok");
        let plan = ok
            .arrival
            .expect("arrival")
            .plan(Some(Duration::from_secs(10)));
        assert_eq!(
            plan.map(|p| p.arrivals.describe()),
            Ok("2000/s for 10s".into())
        );
        for (text, line, why) in [
            ("arrival: {rate: 10/s, ramp: 1..2 over 5s}\n", 3, "not both"),
            ("arrival: {ramp: 1..2}\n", 3, "not a ramp"),
            ("arrival: {rate: 0/s}\n", 3, "above 0"),
            ("arrival: {rate: 5/s, max_in_flight: 0}\n", 3, "at least 1"),
            ("users: 0\n", 3, "users: must be at least 1"),
        ] {
            let e = parse("p", "p.yaml", &format!("{base}{text}")).expect_err(text);
            assert!(
                e.location.starts_with(&format!("p.yaml:{line}:")),
                "{text}: {e}"
            );
            assert!(e.message.contains(why), "{text}: {e}");
        }
        let e = parse(
            "p",
            "p.yaml",
            "kind: stress\nstress: {of: token-grants, start_rate: 1/s, start_users: 2, steps: 2, step_time: 1s}\n",
        )
        .expect_err("both");
        assert!(
            e.message
                .contains("start_users (closed model) or start_rate"),
            "{e}"
        );
    }

    #[test]
    fn a_stress_ramp_drives_the_workload_its_kind_names() {
        let ramp = "stress: {start_users: 2, steps: 2, step_time: 1s}\n";
        let p = parse("s", "s.yaml", &format!("kind: device-polling\n{ramp}")).expect("new form");
        assert!(matches!(p.workload, Workload::Device(_)) && p.stress.is_some());
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        // The old form reads, with a warning at `kind`.
        let old = "users: 1\nkind: stress\nstress: {of: device-polling, start_users: 2, steps: 2, step_time: 1s}\n";
        let p = parse("s", "s.yaml", old).expect("old form");
        assert!(matches!(p.workload, Workload::Device(_)));
        assert!(
            p.warnings
                .iter()
                .any(|w| w.starts_with("s.yaml:2:7: `kind: stress` is now")
                    && w.ends_with("`kind: device-polling`")),
            "{:?}",
            p.warnings
        );
        for (text, at, why) in [
            ("kind: stress\nstress: {start_users: 2, steps: 2, step_time: 1s}\n", "x.yaml:1:7", "names no workload"),
            ("kind: token-grants\nstress: {of: device-polling, start_users: 2, steps: 2, step_time: 1s}\n", "x.yaml:2:14", "drop `of: device-polling`"),
            ("kind: stress\nstress: {of: stress, start_users: 2, steps: 2, step_time: 1s}\n", "x.yaml:2", "unknown variant `stress`"),
            ("users: 1\nkind: stress\n", "x.yaml:2:7", "needs a `stress:` section"),
        ] {
            let e = parse("x", "x.yaml", text).expect_err(text);
            assert!(e.location.starts_with(at), "{text}: {e}");
            assert!(e.message.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn every_builtin_profile_parses() {
        for (name, _) in BUILTIN {
            let p = load(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&p.name, name);
        }
        // And every profile shipped beside them.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/load");
        for entry in std::fs::read_dir(dir).expect("scenarios/load") {
            let path = entry.expect("entry").path();
            load(&path.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn a_section_for_another_workload_is_refused_at_its_line() {
        let cases = [
            (
                "kind: token-grants\nusers: 3\ndevice:\n  approve: 0.5\n",
                "x.yaml:4:3",
                "device: this profile runs token-grants",
            ),
            (
                "kind: device-polling\nusers: 3\nexchange:\n  weights: {refresh_token: 1}\n",
                "x.yaml:4:3",
                "exchange: this profile runs device-polling",
            ),
            (
                "kind: device-polling\nusers: 3\nwait_time: {min: 1s, max: 2s}\n",
                "x.yaml:3:",
                "wait_time: this profile runs device-polling",
            ),
            (
                "kind: stress\nstress: {of: token-grants, start_users: 1, steps: 2, step_time: 5s}\ndevice: {approve: 1}\n",
                "x.yaml:3:",
                "device: this profile runs token-grants",
            ),
        ];
        for (text, at, says) in cases {
            let e = parse("x", "x.yaml", text).expect_err(text);
            assert!(e.location.starts_with(at), "{text}: {e}");
            assert!(e.message.contains(says), "{text}: {e}");
        }
        // Its own sections are read.
        parse(
            "x",
            "x.yaml",
            "kind: token-grants\nusers: 3\nwait_time: {min: 1s, max: 2s}\n",
        )
        .expect("token-grants reads wait_time");
    }

    #[test]
    fn errors_name_the_line_of_the_field() {
        let text = "kind: device-polling\nusers: 3\ndevice:\n  approve: 0.7\n  deny: 0.5\n";
        let e = parse("x", "x.yaml", text).expect_err("invalid");
        assert_eq!(e.location, "x.yaml:5:9");
        assert!(e.message.contains("more than 1"), "{e}");
        let e = parse(
            "x",
            "x.yaml",
            "kind: device-polling\nusers: 3\nrun_time: soon\n",
        )
        .expect_err("invalid");
        assert!(e.location.starts_with("x.yaml:3:"), "{e}");
        let e = parse(
            "x",
            "x.yaml",
            "kind: device-polling\nusers: 3\nthresholds:\n  - p99 < 5ms\n  - p101 < 5ms\n",
        )
        .expect_err("invalid");
        assert_eq!(e.location, "x.yaml:5:5", "{e}");
    }

    #[test]
    fn spans_read_like_goose_times() {
        assert_eq!(parse_span("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_span("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_span("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_span("2.5"), Ok(Duration::from_millis(2500)));
        assert!(parse_span("-1").is_err());
    }
}
