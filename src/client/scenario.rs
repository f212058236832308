//! Client scenario files (`scenarios/clients/*.yaml`): what the reference server and its
//! user do while a client under test runs, and which CLIENT rows to judge. Read like
//! scenario files — serde_yaml, unknown fields refused, every error at its `file:line:col`
//! (exit 2) — and described by their own JSON Schema.

use crate::scenario::model::Level;
use crate::scenario::spans::{Loc, Seg, SpanIndex};
use crate::scenario::ScenarioError;
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// One client scenario.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "ClientScenario")]
pub struct ClientScenario {
    /// A short name, shown in every report.
    pub name: String,
    /// What the scenario shows.
    #[serde(default)]
    pub description: String,
    /// Conformance-matrix ids it checks (CLIENT rows).
    #[serde(default)]
    pub requirements: Vec<String>,
    /// The flow the client is expected to run.
    pub flow: Flow,
    /// How the server behaves.
    #[serde(default)]
    pub server: ServerPart,
    /// What the user does.
    #[serde(default)]
    pub user: UserPart,
    /// What the harness's browser does with an authorization request (`flow: code`).
    #[serde(default)]
    pub browser: BrowserPart,
    /// How many times the command runs, one after another with the same `HOME` (2 or more
    /// judge that `state` and the PKCE verifier are fresh for every authorization request).
    #[serde(default = "one")]
    pub runs: u32,
    /// Seconds of the server's clock the client may run before it is stopped.
    #[serde(default = "time_limit")]
    pub time_limit: u64,
    /// The server's clock speed for this scenario, overriding `--time-scale`: 1 where the
    /// judgement depends on the client's own clock (a client that stops at `expires_in`
    /// by its wall clock would overrun a faster server clock).
    pub time_scale: Option<u32>,
    /// The parts played when the scenario runs at real time (`flow: device`): for a
    /// client whose waits are not taken through the scaled `sleep`, which the server's
    /// faster clock would misjudge (docs/clients.md, "Time"). Each part given replaces the
    /// scenario's own; small intervals keep a real-time run short.
    pub real_time: Option<RealTimePart>,
    /// What is judged.
    pub expect: Vec<Expectation>,
}

/// What the server and the user do in a run at real time, in place of the scenario's own
/// parts (each part absent: the scenario's).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RealTimePart {
    /// How the server behaves.
    pub server: Option<ServerPart>,
    /// What the user does (the same decision as the scenario's; `after` may differ).
    pub user: Option<UserPart>,
    /// Seconds the client may run before it is stopped.
    pub time_limit: Option<u64>,
}

/// The parts a run plays: the scenario's, or its `real_time:` ones.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'a> {
    /// How the server behaves.
    pub server: &'a ServerPart,
    /// What the user does.
    pub user: &'a UserPart,
    /// Seconds of the server's clock the client may run.
    pub time_limit: u64,
}

impl ClientScenario {
    /// The parts of a scaled run (`real_time` false) or of a run at real time.
    pub fn parts(&self, real_time: bool) -> Parts<'_> {
        let own = Parts {
            server: &self.server,
            user: &self.user,
            time_limit: self.time_limit,
        };
        match (&self.real_time, real_time) {
            (Some(r), true) => Parts {
                server: r.server.as_ref().unwrap_or(own.server),
                user: r.user.as_ref().unwrap_or(own.user),
                time_limit: r.time_limit.unwrap_or(own.time_limit),
            },
            _ => own,
        }
    }
}

fn time_limit() -> u64 {
    600
}

/// The flows a client scenario plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// RFC 8628 device authorization.
    Device,
    /// RFC 6749 §4.1 authorization code with PKCE (RFC 7636), through a loopback redirect
    /// (RFC 8252 §7.3): the harness is the browser.
    Code,
}

/// The browser's part in the code flow.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BrowserPart {
    /// The callback the client's redirect URI receives.
    #[serde(default)]
    pub callback: Callback,
}

/// The callback the harness's browser delivers to the client's loopback redirect URI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Callback {
    /// The authorization server's redirect, as it came.
    #[default]
    Honest,
    /// An attacker's code with a `state` that is not the client's (CLIENT-9).
    ForgedState,
    /// An attacker's code with no `state` at all (CLIENT-9).
    MissingState,
}

impl Callback {
    /// Its name in files and in the browser's environment.
    pub fn name(self) -> &'static str {
        match self {
            Callback::Honest => "honest",
            Callback::ForgedState => "forged_state",
            Callback::MissingState => "missing_state",
        }
    }

    /// The callback called `name`.
    pub fn named(name: &str) -> Option<Callback> {
        [
            Callback::Honest,
            Callback::ForgedState,
            Callback::MissingState,
        ]
        .into_iter()
        .find(|c| c.name() == name)
    }
}

/// The server's part.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerPart {
    /// The `interval` the device authorization response gives, in seconds.
    #[serde(default = "interval")]
    pub interval: u64,
    /// Leave `interval` out of the response (RFC 8628 §3.2: the client then uses 5 s).
    #[serde(default)]
    pub omit_interval: bool,
    /// The device code's `expires_in`, in seconds.
    #[serde(default = "expires_in")]
    pub expires_in: u64,
    /// Polls (1-based) answered `slow_down` whatever their timing.
    #[serde(default)]
    pub slow_down_on: Vec<u32>,
    /// Polls answered 429, with `Retry-After` of this many seconds.
    #[serde(default)]
    pub busy_on: BTreeMap<u32, u64>,
    /// Unknown members added to every JSON answer (CLIENT-15).
    #[serde(default)]
    pub extra_members: bool,
    /// Polls (1-based) left unanswered for `hang_for` seconds, so that the client's
    /// timeout fires (CLIENT-6).
    #[serde(default)]
    pub hang_on: Vec<u32>,
    /// How long a hung poll is held, in seconds of the server's clock.
    #[serde(default = "hang_for")]
    pub hang_for: u64,
    /// The user revokes the app right after its first tokens (its API calls are then
    /// answered 401 and its refresh `invalid_grant`; CLIENT-19).
    #[serde(default)]
    pub revoke_after_tokens: bool,
    /// The `iss` of the server's authorization responses (RFC 9207; ISS-6, ISS-7).
    #[serde(default)]
    pub iss: IssPlay,
    /// The client must use DPoP (RFC 9449): it is registered with
    /// `dpop_bound_access_tokens` (§5.2), so a token request without a proof is refused,
    /// and its tokens are bound to its key. The client is told with `OAUTH_HARNESS_DPOP=1`;
    /// the scenario judges only a client said to sign proofs (`client --dpop`), and is
    /// SKIPPED for others.
    #[serde(default)]
    pub dpop: bool,
    /// Where the server demands DPoP nonces (§8 at the token endpoint, §9 at the API):
    /// `none`, `as`, `rs` or `both`.
    #[serde(default)]
    pub dpop_nonce: crate::server::dpop::NoncePolicy,
}

/// What the server puts in `iss` of its authorization responses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IssPlay {
    /// Its issuer, as RFC 9207 §2 says.
    #[default]
    Honest,
    /// `https://evil.example`: a mix-up the client must reject (ISS-6).
    Foreign,
    /// None, while its metadata says it sends one: the client must reject the response
    /// (ISS-7).
    Missing,
}

fn hang_for() -> u64 {
    60
}

fn interval() -> u64 {
    5
}

fn expires_in() -> u64 {
    600
}

impl Default for ServerPart {
    fn default() -> Self {
        ServerPart {
            interval: interval(),
            omit_interval: false,
            expires_in: expires_in(),
            slow_down_on: Vec::new(),
            busy_on: BTreeMap::new(),
            extra_members: false,
            hang_on: Vec::new(),
            hang_for: hang_for(),
            revoke_after_tokens: false,
            iss: IssPlay::Honest,
            dpop: false,
            dpop_nonce: crate::server::dpop::NoncePolicy::None,
        }
    }
}

/// The user's part.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPart {
    /// What the user decides.
    #[serde(default = "approve")]
    pub decision: UserChoice,
    /// After how many pending answers the user decides (1: before the second poll).
    #[serde(default = "one")]
    pub after: u32,
}

fn approve() -> UserChoice {
    UserChoice::Approve
}

fn one() -> u32 {
    1
}

impl Default for UserPart {
    fn default() -> Self {
        UserPart {
            decision: UserChoice::Approve,
            after: 1,
        }
    }
}

/// A user's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserChoice {
    /// Approves.
    Approve,
    /// Denies.
    Deny,
    /// Never decides: the code expires.
    Never,
}

/// One judgement.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// What is checked.
    pub check: ClientCheck,
    /// The matrix row it judges. The outcome checks, `gets_tokens` and `gives_up`, name
    /// the row that asks for the outcome, at a level no higher than the row's: where the
    /// row does not itself require it, lower (`should`: WARNING, `may`: INFO).
    pub requirement: Option<String>,
    /// The row's level: `must` (FAILED), `should` (WARNING), `may` (INFO).
    #[serde(default)]
    pub level: Level,
}

/// What a client is judged on, from the server's log of its requests and its own exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientCheck {
    /// Every poll after the first waits the interval in force (CLIENT-1; CLIENT-2 when the
    /// interval was omitted).
    WaitsTheInterval,
    /// After a `slow_down`, every later poll waits the interval plus 5 s per `slow_down`
    /// (CLIENT-3).
    AddsFiveAfterSlowDown,
    /// After a 429, the next poll waits its `Retry-After` (CLIENT-18).
    HonoursRetryAfter,
    /// After a poll it gave up waiting for, the client waits longer than the interval
    /// before it polls again (CLIENT-6; doubling is RECOMMENDED and reported).
    BacksOffAfterTimeout,
    /// No poll after an answer that ends the device code (tokens, `access_denied`,
    /// `expired_token`, any other error) (CLIENT-4).
    StopsAfterAFinalAnswer,
    /// No poll once `expires_in` has passed (CLIENT-5).
    StopsAtExpiry,
    /// One device authorization only, never a new one after a final answer (CLIENT-7).
    AsksOnce,
    /// Every authorization request carries a `state`, never the same twice (CLIENT-9).
    SendsState,
    /// A callback with a forged or missing `state` is refused: its code is never
    /// redeemed (CLIENT-9).
    RefusesForgedCallback,
    /// An authorization response the client must reject under RFC 9207 §2.4 (a foreign
    /// `iss`, or none from a server whose metadata says it sends one) is refused: its
    /// code is never redeemed (ISS-6, ISS-7).
    RefusesMixedUpResponse,
    /// Every authorization request uses PKCE with `S256` (CLIENT-10).
    UsesPkceS256,
    /// Every `code_verifier` has 43–128 unreserved characters, and no code challenge is
    /// sent twice (CLIENT-11).
    FreshVerifier,
    /// No code is presented twice, and an exchange without client authentication carries
    /// `client_id` (CLIENT-12).
    RedeemsOnce,
    /// One client-authentication method and one way of sending the access token per
    /// request (CLIENT-13).
    OneAuthMethod,
    /// No access token in a request URI (CLIENT-14).
    TokenNotInUri,
    /// After an API call answered 401, at most one refresh and no API call with the dead
    /// token again (CLIENT-19).
    #[serde(rename = "refreshes_once_after_401")]
    RefreshesOnceAfter401,
    /// Every token request, and every API call with its DPoP-bound token, carries one
    /// DPoP proof that the server's RFC 9449 §4.3 checks accept (§4.2: `htm` the method,
    /// `htu` the URI without query and fragment, a fresh `jti` and `iat`, `typ`, an
    /// asymmetric `alg`, the public `jwk`); the token goes with the `DPoP` scheme (§7.1).
    /// Needs `server: {dpop: true}`.
    SendsValidProofs,
    /// After a `use_dpop_nonce` answer with a `DPoP-Nonce`, the client sends the request
    /// again with that nonce in its proof (RFC 9449 §8, §9). Needs `server: {dpop: true}`
    /// and a `dpop_nonce` policy.
    RetriesWithNonce,
    /// The client gets its tokens, and exits 0.
    GetsTokens,
    /// The client gives up: it exits with a non-zero status by itself, within the time
    /// limit.
    GivesUp,
}

impl ClientCheck {
    /// The flow the check judges (`None`: both).
    pub fn flow(self) -> Option<Flow> {
        use ClientCheck::*;
        match self {
            WaitsTheInterval
            | AddsFiveAfterSlowDown
            | HonoursRetryAfter
            | BacksOffAfterTimeout
            | StopsAfterAFinalAnswer
            | StopsAtExpiry
            | AsksOnce => Some(Flow::Device),
            SendsState
            | RefusesForgedCallback
            | RefusesMixedUpResponse
            | UsesPkceS256
            | FreshVerifier
            | RedeemsOnce
            | OneAuthMethod
            | TokenNotInUri => Some(Flow::Code),
            RefreshesOnceAfter401 | SendsValidProofs | RetriesWithNonce | GetsTokens | GivesUp => {
                None
            }
        }
    }
}

/// A client scenario with its source and spans.
#[derive(Debug)]
pub struct LoadedClient {
    /// The file as named.
    pub path: Arc<str>,
    /// Its text.
    pub source: String,
    /// The scenario.
    pub scenario: ClientScenario,
    /// Node locations.
    pub spans: SpanIndex,
}

impl LoadedClient {
    /// Where `path` (a path into the document) is written.
    pub fn loc(&self, path: &[Seg<'_>]) -> Loc {
        self.spans.loc(path)
    }
}

/// Reads and checks one client scenario file.
pub fn load(path: &Path) -> Result<LoadedClient, ScenarioError> {
    let (name, text) = crate::scenario::read(path)?;
    load_str(name, text)
}

/// Checks client scenario text; `name` is used in locations.
pub fn load_str(name: Arc<str>, text: String) -> Result<LoadedClient, ScenarioError> {
    let scenario: ClientScenario = crate::scenario::parse(
        &name,
        &text,
        "a client scenario needs `name`, `flow` and `expect`",
    )?;
    let loaded = LoadedClient {
        spans: SpanIndex::new(name.clone(), &text),
        path: name,
        source: text,
        scenario,
    };
    check(&loaded)?;
    Ok(loaded)
}

fn check(l: &LoadedClient) -> Result<(), ScenarioError> {
    check_parts(l)?;
    let rows = crate::coverage::requirements();
    for (i, e) in l.scenario.expect.iter().enumerate() {
        check_expectation(l, i, e, &rows)?;
    }
    Ok(())
}

/// The server's, the user's and the browser's parts, and the counts.
fn check_parts(l: &LoadedClient) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let err = |path: &[Seg<'_>], message: String| ScenarioError {
        loc: l.loc(path),
        message,
    };
    if s.expect.is_empty() {
        return Err(err(
            &[Seg::Key("expect")],
            "a client scenario judges at least one thing".into(),
        ));
    }
    if s.time_scale == Some(0) {
        return Err(err(
            &[Seg::Key("time_scale")],
            "time_scale is at least 1".into(),
        ));
    }
    check_play(l, &[], s.parts(false))?;
    if let Some(r) = &s.real_time {
        let here = [Seg::Key("real_time")];
        if s.flow != Flow::Device {
            return Err(err(
                &here,
                "only the device flow waits between polls: `real_time` is for `flow: device`"
                    .into(),
            ));
        }
        if s.time_scale == Some(1) {
            return Err(err(
                &here,
                "this scenario runs at real time already (time_scale: 1): leave real_time out"
                    .into(),
            ));
        }
        if r.user
            .as_ref()
            .is_some_and(|u| u.decision != s.user.decision)
        {
            return Err(err(
                &[
                    Seg::Key("real_time"),
                    Seg::Key("user"),
                    Seg::Key("decision"),
                ],
                "the user decides the same at real time: the checks judge that decision".into(),
            ));
        }
        check_play(l, &here, s.parts(true))?;
    }
    if s.runs == 0 {
        return Err(err(&[Seg::Key("runs")], "runs is at least 1".into()));
    }
    for (i, e) in s.expect.iter().enumerate() {
        let dpop_check = matches!(
            e.check,
            ClientCheck::SendsValidProofs | ClientCheck::RetriesWithNonce
        );
        if dpop_check && !s.server.dpop {
            return Err(err(
                &[Seg::Key("expect"), Seg::Index(i), Seg::Key("check")],
                format!(
                    "`{}` judges a client that must use DPoP: give `server: {{dpop: true}}`",
                    check_name(e.check)
                ),
            ));
        }
        if e.check == ClientCheck::RetriesWithNonce
            && s.server.dpop_nonce == crate::server::dpop::NoncePolicy::None
        {
            return Err(err(
                &[Seg::Key("expect"), Seg::Index(i), Seg::Key("check")],
                "`retries_with_nonce` needs a server that asks for nonces: give `server: {dpop_nonce: as}` (or rs, both)".into(),
            ));
        }
    }
    if s.flow != Flow::Code && s.browser.callback != Callback::Honest {
        return Err(err(
            &[Seg::Key("browser"), Seg::Key("callback")],
            "the browser plays its part in `flow: code` only".into(),
        ));
    }
    Ok(())
}

/// One set of parts (the scenario's, or under `real_time`: `prefix`).
fn check_play(l: &LoadedClient, prefix: &[Seg<'_>], p: Parts<'_>) -> Result<(), ScenarioError> {
    let err = |path: &[Seg<'_>], message: String| {
        let full: Vec<Seg<'_>> = prefix.iter().chain(path).cloned().collect();
        ScenarioError {
            loc: l.loc(&full),
            message,
        }
    };
    if p.server.interval == 0 || p.server.expires_in == 0 || p.time_limit == 0 {
        return Err(err(
            &[Seg::Key("server")],
            "interval, expires_in and time_limit are whole seconds above 0".into(),
        ));
    }
    if p.user.after == 0 {
        return Err(err(
            &[Seg::Key("user"), Seg::Key("after")],
            "user.after counts pending answers: at least 1".into(),
        ));
    }
    for poll in p
        .server
        .slow_down_on
        .iter()
        .chain(p.server.busy_on.keys())
        .chain(&p.server.hang_on)
    {
        if *poll == 0 {
            return Err(err(
                &[Seg::Key("server")],
                "polls are numbered from 1".into(),
            ));
        }
    }
    if p.server.dpop_nonce != crate::server::dpop::NoncePolicy::None && !p.server.dpop {
        return Err(err(
            &[Seg::Key("server"), Seg::Key("dpop_nonce")],
            "DPoP nonces go with `dpop: true`".into(),
        ));
    }
    if p.server.omit_interval && p.server.interval != 5 {
        return Err(err(
            &[Seg::Key("server"), Seg::Key("interval")],
            "with omit_interval the client must use 5 s (RFC 8628 §3.2): leave interval at 5"
                .into(),
        ));
    }
    Ok(())
}

/// One `expect` entry: a check of the scenario's flow, naming a row of the matrix (outcome
/// checks may name none) at the row's level.
fn check_expectation(
    l: &LoadedClient,
    i: usize,
    e: &Expectation,
    rows: &[crate::coverage::Requirement],
) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let err = |path: &[Seg<'_>], message: String| ScenarioError {
        loc: l.loc(path),
        message,
    };
    let here = [Seg::Key("expect"), Seg::Index(i)];
    if let Some(flow) = e.check.flow().filter(|f| *f != s.flow) {
        return Err(err(
            &[Seg::Key("expect"), Seg::Index(i), Seg::Key("check")],
            format!(
                "`{}` judges the {} flow; this scenario's flow is {}",
                check_name(e.check),
                flow_name(flow),
                flow_name(s.flow)
            ),
        ));
    }
    let Some(id) = &e.requirement else {
        let why = if matches!(e.check, ClientCheck::GetsTokens | ClientCheck::GivesUp) {
            "an outcome is judged on the row that asks for it: name it with `requirement`, and `level` no higher than the row's (an outcome no MUST requires is a `should` or a `may`)"
        } else {
            "this check judges a CLIENT row: name it with `requirement`"
        };
        return Err(err(&here, why.into()));
    };
    match rows.iter().find(|r| &r.id == id) {
        None => {
            return Err(err(
                &here,
                format!("`{id}` is not a row of the conformance matrix"),
            ))
        }
        // An outcome the row does not itself require (getting tokens after a 429 that
        // CLIENT-18 says SHOULD be waited out; after a timeout, which CLIENT-6 only says
        // how to retry) is judged no higher than the row, and may be judged lower.
        //
        // RFC 9449 §8 says a client "is expected to retry" with the nonce, in no BCP 14
        // word: the check may be judged below the server row it names (DPOP-13).
        Some(r)
            if matches!(
                e.check,
                ClientCheck::GetsTokens | ClientCheck::GivesUp | ClientCheck::RetriesWithNonce
            ) && Level::of_row(&r.level).is_some_and(|row| rank(e.level) >= rank(row)) => {}
        Some(r) if Level::of_row(&r.level) != Some(e.level) => {
            return Err(err(
                &here,
                format!(
                    "{} is a {} row: give it `level: {}`",
                    r.id,
                    r.level,
                    match Level::of_row(&r.level) {
                        Some(Level::Should) => "should",
                        Some(Level::May) => "may",
                        _ => "must",
                    }
                ),
            ))
        }
        Some(_) => {}
    }
    Ok(())
}

/// How strong a level is: MUST 0, SHOULD 1, MAY 2.
fn rank(l: Level) -> u8 {
    match l {
        Level::Must => 0,
        Level::Should => 1,
        Level::May => 2,
    }
}

/// The name a check has in files.
pub(crate) fn check_name(c: ClientCheck) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{c:?}"))
}

fn flow_name(f: Flow) -> &'static str {
    match f {
        Flow::Device => "device",
        Flow::Code => "code",
    }
}

/// The JSON Schema of client scenario files (`scenarios/clients/client.schema.json`).
pub fn schema() -> String {
    let s = schemars::schema_for!(ClientScenario);
    serde_json::to_string_pretty(&s).unwrap_or_default() + "\n"
}
