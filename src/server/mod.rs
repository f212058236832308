//! The reference OAuth 2.0 authorization server (and its small protected API).
//!
//! It behaves like Noorle's documented API and the RFCs on every documented path (the
//! conformance matrix says which), accepts form and JSON bodies, reads time from a
//! [`Clock`], and can break one rule at a time through [`faults::Fault`] switches.
//! One module per endpoint; this one owns the shared state, the router and start/stop.

pub mod api;
pub mod assertion;
pub mod authorize;
pub mod client_auth;
pub mod config;
pub mod device;
pub mod direct;
pub mod dpop;
pub mod error;
pub mod faults;
pub mod introspect;
pub mod metadata;
pub mod pages;
pub mod par;
pub mod params;
pub mod play;
pub(crate) mod race;
pub(crate) mod rate;
pub mod register;
pub mod revoke;
pub mod session;
pub mod stall;
pub mod store;
pub mod testmode;
pub mod token;

use crate::clock::{Clock, Timestamp};
use crate::endpoint::Endpoint;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use config::{Account, Client, Policy, ScopeSet, Scopes, ServerConfig};
use direct::Dispatch;
use faults::{Fault, FaultSet};
use pages::Page;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use store::{Lifetimes, Store};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower::util::{MapResponse, MapResponseLayer};

/// The whole server as one service: [`Dispatch`], and [`framework_errors`] over it.
pub(crate) type App = MapResponse<Dispatch, fn(Response) -> Response>;
use tower::Layer;

/// State shared by every handler.
#[derive(Debug)]
pub struct AppState {
    /// Known scopes.
    pub scopes: Arc<Scopes>,
    /// Accounts.
    pub accounts: Arc<HashMap<String, Account>>,
    /// Lifetimes and limits.
    pub policy: Policy,
    /// Fault switches.
    pub faults: FaultSet,
    /// Whether `/_test/` routes exist.
    pub test_mode: bool,
    /// The issuer identifier (`http://127.0.0.1:PORT` by default).
    pub issuer: String,
    /// The clock every expiry reads.
    pub clock: Clock,
    /// The fixture's clients by id: fixed for the server's life, so read without a lock
    /// (every token request looks its client up). foldhash, as the store's tables: ids are
    /// looked up by clients, never chosen by them.
    fixture_clients: ClientTable,
    /// Clients registered at run time (RFC 7591); their ids are drawn, so they never
    /// shadow a fixture client.
    registered: RwLock<ClientTable>,
    /// Codes, tokens, sessions, counters.
    pub(crate) store: Store,
    /// A pause of the token endpoint (load tests), placed from the state's creation.
    pub(crate) pause: Option<stall::Pause>,
    /// The server's part when a client is the subject.
    pub play: Option<play::Play>,
    /// NOORLE-16's window on device authorizations, per client.
    pub(crate) device_rate: rate::DeviceRate,
    /// Client assertions' `jti` values, each used once (OpenID Connect Core §9).
    pub(crate) assertion_jtis: assertion::SeenJtis,
    /// DPoP proofs' `jti`s and the nonce key (RFC 9449 §8, §11.1).
    pub(crate) dpop: dpop::DpopState,
    /// Where the race fault switches hold a request between its read and its write.
    pub(crate) rendezvous: race::Rendezvous,
}

/// Clients by id.
type ClientTable = HashMap<Arc<str>, Arc<Client>, foldhash::fast::RandomState>;

impl AppState {
    /// Builds the state for a server whose issuer is `issuer`.
    pub fn new(config: ServerConfig, issuer: String, clock: Clock) -> Self {
        let policy = config.policy.clone();
        let fixture_clients = config
            .clients
            .iter()
            .map(|c| (c.id.clone(), c.clone()))
            .collect();
        AppState {
            scopes: config.scopes,
            accounts: config.accounts,
            policy: policy.clone(),
            faults: config.faults,
            test_mode: config.test_mode,
            issuer,
            clock,
            fixture_clients,
            registered: RwLock::default(),
            // A client under test gets stored tokens: the store must know every one to
            // redact it from what the client printed.
            store: Store::new(
                Lifetimes {
                    code: Policy::secs(policy.authorization_code_ttl),
                    device: Policy::secs(policy.device_code_ttl),
                    refresh_idle: Policy::secs(policy.refresh_token_idle_ttl),
                },
                config.play.is_none(),
            ),
            play: config.play,
            pause: config.stall.map(stall::Pause::starting_now),
            device_rate: rate::DeviceRate::default(),
            assertion_jtis: assertion::SeenJtis::default(),
            dpop: dpop::DpopState::default(),
            rendezvous: race::Rendezvous::default(),
        }
    }

    /// A registered client.
    pub fn client(&self, id: &str) -> Option<Arc<Client>> {
        match self.fixture_clients.get(id) {
            Some(c) => Some(c.clone()),
            None => self.registered.read().get(id).cloned(),
        }
    }

    /// Registers a client (dynamic registration, RFC 7591).
    pub(crate) fn add_client(&self, client: Arc<Client>) {
        self.registered.write().insert(client.id.clone(), client);
    }

    /// Every client: the fixture's and the registered ones.
    pub(crate) fn every_client(&self) -> Vec<Arc<Client>> {
        let mut all: Vec<Arc<Client>> = self.fixture_clients.values().cloned().collect();
        all.extend(self.registered.read().values().cloned());
        all
    }

    /// Number of registered clients.
    pub(crate) fn client_count(&self) -> usize {
        self.fixture_clients.len() + self.registered.read().len()
    }

    /// Now, on the server's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Renders a scope set.
    pub(crate) fn render_scope(&self, s: ScopeSet) -> String {
        self.scopes.render(s)
    }

    /// Parses and checks a requested scope for `client` (RFC 6749 §3.3): unknown scopes are
    /// `invalid_scope` with Noorle's message (NOORLE-11), as are scopes the client may not
    /// have. Under fault `ignore-scope` unknown scopes are dropped silently instead.
    pub(crate) fn requested_scope(
        &self,
        client: &Client,
        raw: Option<&str>,
    ) -> Result<ScopeSet, error::OAuthError> {
        use crate::oauth::ErrorCode;
        if self.faults.has(Fault::IgnoreScope) {
            return Ok(self.scopes.parse_lenient(raw).intersect(client.scopes));
        }
        let generic = self.faults.has(Fault::GenericErrorDescriptions);
        let set = self.scopes.parse(raw).map_err(|e| {
            let desc = match e {
                _ if generic => "Invalid scope".to_string(),
                config::ScopeError::Unsupported(s) => format!("Scope '{s}' is not supported"),
                config::ScopeError::Malformed => "Malformed scope".to_string(),
            };
            error::OAuthError::new(ErrorCode::InvalidScope, desc)
        })?;
        if !client.scopes.contains_all(set) {
            return Err(error::OAuthError::new(
                ErrorCode::InvalidScope,
                format!(
                    "Scope '{}' is not allowed for this client",
                    self.render_scope(ScopeSet::difference(set, client.scopes))
                ),
            ));
        }
        Ok(set)
    }

    /// What the store's judges may read: the rules, never the store itself (a judge runs
    /// under the store's lock; one that reached the store would deadlock, and [`Rules`]
    /// has no way to).
    pub(crate) fn rules(&self) -> Rules<'_> {
        Rules {
            faults: &self.faults,
            policy: &self.policy,
            scopes: &self.scopes,
            play: self.play.as_ref(),
            accounts: &self.accounts,
        }
    }

    /// The user who acts when none is named: the first account by name.
    pub(crate) fn default_user(&self) -> String {
        self.rules().default_user()
    }

    /// An absolute URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer.trim_end_matches('/'), path)
    }
}

/// The narrow view of [`AppState`] the store's judges (`redeem_code`, `refresh`,
/// `poll_device` verdicts) see: fault switches, policy, scopes, the play of a client under
/// test, the user accounts. No store, no clients table.
#[derive(Clone, Copy)]
pub(crate) struct Rules<'a> {
    pub faults: &'a FaultSet,
    pub policy: &'a Policy,
    pub scopes: &'a Scopes,
    pub play: Option<&'a play::Play>,
    accounts: &'a HashMap<String, Account>,
}

impl Rules<'_> {
    /// The user the play's decisions are made for: the first account by name.
    pub(crate) fn default_user(&self) -> String {
        let mut names: Vec<&String> = self.accounts.keys().collect();
        names.sort();
        names
            .first()
            .map(|s| s.to_string())
            .unwrap_or_else(|| "alice".into())
    }
}

/// The routes, built once. Exposed for `tower::ServiceExt::oneshot` style tests.
///
/// Layers go around the finished router, not through `Router::layer`, which wraps every
/// route and so clones a boxed service per layer on every request. The
/// endpoints that read bodies with [`params::Posted`] (the load-test targets) hold them to
/// the policy's limit themselves; the others get it from `DefaultBodyLimit`.
pub fn router(state: Arc<AppState>) -> App {
    app(state, true)
}

/// How an endpoint is mounted.
enum Mount {
    /// Its handler reads the body itself ([`params::Posted`], held to the policy's limit):
    /// the endpoints load tests drive.
    Posted(MethodRouter<Arc<AppState>>),
    /// Its handler reads the body through extractors, under `DefaultBodyLimit`.
    Extracted(MethodRouter<Arc<AppState>>),
}

/// Each endpoint's handlers. Exhaustive: a new [`Endpoint`] is mounted, or the build
/// fails here.
fn mount(e: Endpoint, state: &AppState) -> Mount {
    match e {
        Endpoint::Token if state.faults.has(Fault::TokenAcceptsGet) => {
            Mount::Posted(post(token::token).get(token::token_get))
        }
        Endpoint::Token => Mount::Posted(post(token::token)),
        Endpoint::DeviceAuthorization => Mount::Posted(post(device::authorize)),
        Endpoint::Revocation => Mount::Posted(post(revoke::revoke)),
        Endpoint::Introspection => Mount::Posted(post(introspect::introspect)),
        Endpoint::Metadata => Mount::Extracted(get(metadata::metadata)),
        Endpoint::Verification => {
            Mount::Extracted(get(device::verify_page).post(device::verify_submit))
        }
        Endpoint::Authorization => Mount::Extracted(get(authorize::authorize)),
        Endpoint::Registration => Mount::Extracted(post(register::register)),
        Endpoint::PushedAuthorization if state.faults.has(Fault::ParAllowGet) => {
            Mount::Posted(post(par::push).get(par::push_get))
        }
        Endpoint::PushedAuthorization => Mount::Posted(post(par::push)),
    }
}

/// [`router`], with or without the direct way to the token endpoint.
fn app(state: Arc<AppState>, direct: bool) -> App {
    let (mut posted, mut extracted) = (Router::new(), Router::new());
    for &e in Endpoint::all() {
        match mount(e, &state) {
            Mount::Posted(route) => posted = posted.route(e.path(), route),
            Mount::Extracted(route) => extracted = extracted.route(e.path(), route),
        }
    }
    let mut extracted = extracted
        .route(Page::ConsentDecision.path(), post(authorize::decision))
        .route(Page::Login.path(), post(authorize::login))
        .route(Page::Apps.path(), get(revoke::apps_page))
        .route(Page::AppsRevoke.path(), post(revoke::apps_revoke))
        .route("/api/me", get(api::me).post(api::me_post))
        .route("/api/items", get(api::items))
        .route("/api/admin", get(api::admin));
    if state.test_mode {
        extracted = extracted.merge(testmode::routes());
    }
    let shaping = state.faults.shapes_responses();
    let mut app = posted
        .merge(extracted.layer(DefaultBodyLimit::max(state.policy.max_body_bytes)))
        .fallback(not_found)
        .with_state(state.clone());
    if shaping {
        app = app.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            shape_responses,
        ));
    }
    // In test mode the clock can be moved: `Date` (RFC 9110 §6.6.1) says the server's own
    // time (`stamp_date`; the direct way stamps its answers itself).
    if state.test_mode {
        app = app.layer(axum::middleware::map_response_with_state(
            state.clone(),
            date_from_clock,
        ));
    }
    // A client under test: every request is kept, so none takes the direct way.
    let played = state.play.is_some();
    if played {
        app = app.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            record_request,
        ));
    }
    let dispatch = Dispatch::new(state, app, direct && !played);
    MapResponseLayer::new(framework_errors as fn(Response) -> Response).layer(dispatch)
}

/// The framework's own refusals (an oversized body, a method the route does not take) as
/// RFC 6749 §5.2 error objects like every other error, instead of plain text or nothing.
/// A plain function under tower's `MapResponseLayer`, not axum's `map_response`, which
/// boxes a future for every request.
fn framework_errors(resp: Response) -> Response {
    let status = resp.status();
    let (description, close) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("Request body too large", true),
        StatusCode::METHOD_NOT_ALLOWED => ("Method not allowed for this endpoint", true),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("Unsupported content type", false),
        _ => return resp,
    };
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return resp;
    }
    let allow = resp.headers().get(header::ALLOW).cloned();
    let mut out = error::OAuthError::invalid_request(description)
        .with_status(status)
        .into_response();
    if let Some(a) = allow {
        out.headers_mut().insert(header::ALLOW, a);
    }
    if close {
        // The request's body is never read: the connection cannot be reused.
        out.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    out
}

async fn not_found() -> Response {
    error::OAuthError::invalid_request("No such endpoint")
        .with_status(StatusCode::NOT_FOUND)
        .into_response()
}

/// Sets `Date` from the server's clock where that is not the wall clock (test mode, where
/// it can be advanced or scaled), so that a client reckoning "now" from it (a client
/// assertion's `exp`) agrees with the server. On the wall clock hyper's own `Date` is it.
pub(crate) fn stamp_date(state: &AppState, res: &mut Response) {
    if !state.test_mode || state.clock.is_real_time() {
        return;
    }
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(state.clock.unix_now());
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(at)) {
        res.headers_mut().insert(header::DATE, v);
    }
}

async fn date_from_clock(State(state): State<Arc<AppState>>, mut res: Response) -> Response {
    stamp_date(&state, &mut res);
    res
}

/// Keeps the request in the store's play log (a client is the
/// subject, [`play`]): its form body is read here and handed on unchanged.
async fn record_request(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let is_form = parts.headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes()
            .starts_with(b"application/x-www-form-urlencoded")
    });
    let bytes = match axum::body::to_bytes(body, state.policy.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let pairs = |raw: &[u8]| -> Vec<(String, String)> {
        url::form_urlencoded::parse(raw)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    };
    let mut record = play::RequestRecord {
        at: state.now(),
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: pairs(parts.uri.query().unwrap_or("").as_bytes()),
        auth_scheme: parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_whitespace().next())
            .map(str::to_string),
        form: if is_form { pairs(&bytes) } else { Vec::new() },
        status: 0,
        dpop: dpop::proofs(&parts.headers)
            .into_iter()
            .map(play::ProofSeen::of)
            .collect(),
        error: None,
        nonce_given: None,
    };
    let resp = next
        .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await;
    record.status = resp.status().as_u16();
    record.nonce_given = resp
        .headers()
        .get("dpop-nonce")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let resp = if resp.status().is_client_error() {
        let (parts, body) = resp.into_parts();
        let Ok(body) = axum::body::to_bytes(body, state.policy.max_body_bytes).await else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        record.error = refusal(&parts.headers, &body);
        Response::from_parts(parts, axum::body::Body::from(body))
    } else {
        resp
    };
    let first_tokens = record.path == Endpoint::Token.path()
        && record.status == 200
        && state.play.as_ref().is_some_and(|p| p.revoke_after_tokens);
    let client = record.form_value("client_id").map(str::to_string);
    let first_tokens = first_tokens && !state.store.answered_200(Endpoint::Token.path());
    state.store.keep_request(record);
    if let (true, Some(client)) = (first_tokens, client) {
        // The user's "Revoke Access" in the console, right after the first sign-in.
        revoke::revoke_app(&state, &state.default_user(), &client);
    }
    if let Some(&hang) = resp.extensions().get::<play::Hang>() {
        hold(&state, hang).await;
    }
    resp
}

/// The OAuth error of a refused request: `error` and `error_description` from a JSON
/// body (RFC 6749 §5.2), the description from a `WWW-Authenticate` challenge when the body
/// has none (RFC 6750 §3, RFC 9449 §7.1).
fn refusal(headers: &axum::http::HeaderMap, body: &[u8]) -> Option<(String, String)> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = json.get("error")?.as_str()?.to_string();
    let description = json
        .get("error_description")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            let challenge = headers.get(header::WWW_AUTHENTICATE)?.to_str().ok()?;
            let (_, rest) = challenge.split_once("error_description=\"")?;
            rest.split_once('"').map(|(d, _)| d.to_string())
        })
        .unwrap_or_default();
    Some((error, description))
}

/// Holds a hung poll's answer for the play's `hang_for` (server time); when the client
/// closes the connection first, hyper drops this future and the poll's log records when.
async fn hold(state: &Arc<AppState>, hang: play::Hang) {
    struct Abandoned<'a> {
        state: &'a AppState,
        hang: play::Hang,
        answered: bool,
    }
    impl Drop for Abandoned<'_> {
        fn drop(&mut self) {
            if !self.answered {
                let now = self.state.now();
                self.state.store.log_abandoned(self.hang, now);
            }
        }
    }
    let for_ = state
        .play
        .as_ref()
        .map_or(std::time::Duration::ZERO, |p| p.hang_for);
    let mut guard = Abandoned {
        state,
        hang,
        answered: false,
    };
    tokio::time::sleep(for_ / state.clock.rate().max(1)).await;
    guard.answered = true;
}

/// Response-shape faults, applied after the handler so no endpoint needs to know them:
/// `extra-members` (CLIENT-15) and `no-cache-headers` (TOK-6).
async fn shape_responses(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let (mut parts, body) = resp.into_parts();
    if state.faults.has(Fault::NoCacheHeaders) {
        parts.headers.remove(header::CACHE_CONTROL);
        parts.headers.remove(header::PRAGMA);
    }
    if state.faults.has(Fault::ExtraMembers) {
        if let Some(loc) = parts
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
        {
            // Not `iss`: that one is RFC 9207's, with rules of its own (ISS-2…ISS-8).
            let sep = if loc.contains('?') { '&' } else { '?' };
            let extended = format!("{loc}{sep}x_extra=1");
            if let Ok(v) = HeaderValue::from_str(&extended) {
                parts.headers.insert(header::LOCATION, v);
            }
        }
        let is_json = parts
            .headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if is_json {
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let out = match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(serde_json::Value::Object(mut m)) => {
                    m.insert("x_extra".into(), serde_json::Value::from(1));
                    serde_json::to_vec(&m).unwrap_or_else(|_| bytes.to_vec())
                }
                _ => bytes.to_vec(),
            };
            parts.headers.remove(header::CONTENT_LENGTH);
            return Response::from_parts(parts, Body::from(out));
        }
    }
    Response::from_parts(parts, body)
}

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding the address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// A running server: its address, its clock, and the switch that stops it.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl ServerHandle {
    /// The bound address (the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's clock.
    pub fn clock(&self) -> &Clock {
        &self.state.clock
    }

    /// The shared state (for in-process inspection).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task)
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

/// Starts a server on `addr` (use `127.0.0.1:0` in tests) in the background.
pub async fn start(
    config: ServerConfig,
    addr: &str,
    clock: Clock,
) -> Result<ServerHandle, ServerError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    let issuer = config
        .issuer
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"));
    let state = Arc::new(AppState::new(config, issuer, clock));
    // Clients whose keys are at a jwks_uri (RFC 7591 §2): fetched before the first
    // request; one that cannot be fetched is retried when an assertion misses.
    if !state
        .faults
        .has(crate::server::faults::Fault::JwksUriIgnored)
    {
        for c in state.every_client() {
            if let Some(crate::server::assertion::AssertionMethod::PrivateKeyUri(keys)) =
                &c.assertion
            {
                if let Err(e) = keys.fetch().await {
                    tracing::warn!("client {}: {e}", c.id);
                }
            }
        }
    }
    let app = router(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            axum::ServiceExt::<Request>::into_make_service(app),
        )
        .with_graceful_shutdown(async {
            let _ = rx.await;
        })
        .await
    });
    Ok(ServerHandle {
        addr: bound,
        state,
        shutdown: Some(tx),
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    /// What a client can see of a response, with the issued token blanked.
    async fn seen(app: App, req: axum::http::Request<Body>) -> String {
        let resp = app.oneshot(req).await.expect("infallible");
        let mut out = format!("{}\n", resp.status());
        for name in [
            "content-type",
            "cache-control",
            "pragma",
            "www-authenticate",
            "allow",
            "connection",
        ] {
            if let Some(v) = resp.headers().get(name) {
                out += &format!("{name}: {}\n", v.to_str().unwrap_or("?"));
            }
        }
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        let mut text = String::from_utf8_lossy(&body).into_owned();
        if let Ok(serde_json::Value::Object(mut o)) = serde_json::from_slice(&body) {
            for k in ["access_token", "refresh_token"] {
                if o.contains_key(k) {
                    o.insert(k.into(), "<token>".into());
                }
            }
            text = serde_json::Value::Object(o).to_string();
        }
        out + &text
    }

    /// A token request of the m2m client (Basic), with `body`.
    fn m2m_token_request(body: Body) -> axum::http::Request<Body> {
        use base64::Engine as _;
        let pair = base64::engine::general_purpose::STANDARD.encode("m2m:m2m-secret");
        axum::http::Request::builder()
            .method("POST")
            .uri("/oauth/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, format!("Basic {pair}"))
            .body(body)
            .expect("request")
    }

    /// What a client sees of `request()` sent the direct way, checked to be what it sees
    /// through the router (each way on a server of its own).
    async fn both_ways(request: impl Fn() -> axum::http::Request<Body>, what: &str) -> String {
        let state = || {
            Arc::new(AppState::new(
                ServerConfig::builtin(),
                "http://127.0.0.1:1".into(),
                Clock::frozen(),
            ))
        };
        let direct = seen(app(state(), true), request()).await;
        let routed = seen(app(state(), false), request()).await;
        assert_eq!(direct, routed, "{what}");
        direct
    }

    /// The direct way to the token endpoint answers every kind of request exactly as
    /// the router does: success, client authentication failure, a bad content type, a
    /// query string, an oversized body, other methods, a near-miss path.
    #[tokio::test]
    async fn the_direct_way_to_the_token_endpoint_answers_as_the_router_does() {
        const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
        const CC: &str = "grant_type=client_credentials";
        let big = format!("{CC}&pad={}", "x".repeat(70 * 1024));
        let device = r#"{"grant_type":"urn:ietf:params:oauth:grant-type:device_code","client_id":"noorle-cli","device_code":"nope"}"#;
        // (method, path, content type, m2m's secret in a Basic header, body)
        let cases = [
            (
                "POST",
                "/oauth/token",
                FORM,
                Some("m2m-secret"),
                "grant_type=client_credentials&scope=api",
            ),
            ("POST", "/oauth/token", FORM, Some("wrong"), CC),
            ("POST", "/oauth/token", None, None, CC),
            (
                "POST",
                "/oauth/token?client_id=m2m",
                FORM,
                Some("m2m-secret"),
                CC,
            ),
            ("POST", "/oauth/token", FORM, Some("m2m-secret"), &big),
            (
                "POST",
                "/oauth/token",
                Some("application/json"),
                None,
                device,
            ),
            ("GET", "/oauth/token", None, None, ""),
            ("PUT", "/oauth/token", FORM, None, CC),
            ("POST", "/oauth/token/", FORM, None, CC),
        ];
        for (method, path, content_type, secret, body) in cases {
            let request = || {
                let mut r = axum::http::Request::builder().method(method).uri(path);
                if let Some(t) = content_type {
                    r = r.header(header::CONTENT_TYPE, t);
                }
                if let Some(secret) = secret {
                    use base64::Engine as _;
                    let pair =
                        base64::engine::general_purpose::STANDARD.encode(format!("m2m:{secret}"));
                    r = r.header(header::AUTHORIZATION, format!("Basic {pair}"));
                }
                r.body(Body::from(body.to_string())).expect("request")
            };
            both_ways(request, &format!("{method} {path}")).await;
        }
    }

    /// Under every fault switch, a token request taken the direct way (allowed by
    /// `router`, closed by `Dispatch` where a fault shapes responses) is answered as the
    /// router alone answers it: no fault's behaviour is bypassed by the fast path.
    #[tokio::test]
    async fn no_fault_is_bypassed_by_the_direct_way() {
        for &f in faults::Fault::all() {
            let state = || {
                Arc::new(AppState::new(
                    ServerConfig::builtin().with_faults([f].into_iter().collect()),
                    "http://127.0.0.1:1".into(),
                    Clock::frozen(),
                ))
            };
            let request =
                || m2m_token_request(Body::from("grant_type=client_credentials&scope=api"));
            let direct = seen(router(state()), request()).await;
            let routed = seen(app(state(), false), request()).await;
            assert_eq!(direct, routed, "fault {}", f.name());
        }
    }

    /// The same for bodies that arrive in pieces, with no length known in advance: joined,
    /// refused once they pass the limit, or refused when the connection fails midway.
    #[tokio::test]
    async fn bodies_in_pieces_are_read_the_same_both_ways() {
        let big = "x".repeat(20 * 1024);
        // (what happens, the pieces (Err: the connection fails), the status expected)
        type Piece<'a> = Result<&'a str, &'a str>;
        let cases: [(&str, Vec<Piece>, &str); 3] = [
            (
                "in three pieces",
                vec![
                    Ok("grant_type=client_"),
                    Ok("credentials&sc"),
                    Ok("ope=api"),
                ],
                "200 OK",
            ),
            (
                "past the limit",
                vec![
                    Ok("grant_type=client_credentials&pad="),
                    Ok(&big),
                    Ok(&big),
                    Ok(&big),
                    Ok(&big),
                ],
                "413 Payload Too Large",
            ),
            (
                "broken midway",
                vec![Ok("grant_type=client_"), Err("reset")],
                "400 Bad Request",
            ),
        ];
        for (name, pieces, status) in cases {
            let request = || {
                let items: Vec<Result<axum::body::Bytes, std::io::Error>> = pieces
                    .iter()
                    .map(|p| match p {
                        Ok(text) => Ok(axum::body::Bytes::from(text.to_string())),
                        Err(why) => Err(std::io::Error::other(why.to_string())),
                    })
                    .collect();
                m2m_token_request(Body::from_stream(futures_util::stream::iter(items)))
            };
            let seen = both_ways(request, name).await;
            assert!(seen.starts_with(status), "{name}: {seen}");
        }
    }
}
