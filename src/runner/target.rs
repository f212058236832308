//! Targets: where scenarios run.
//!
//! - `builtin` starts a fresh reference server in-process for every scenario (127.0.0.1:0,
//!   test mode, a frozen clock), so scenarios run concurrently with isolated state and move
//!   time freely. It provides every client role, resource and lifetime from its fixture.
//! - A profile (`--target FILE.yaml`, [`Profile`]) points at a live server. It is made
//!   ready once per run ([`Target::prepare`]: metadata discovered, roles registered when
//!   the profile says `clients: register`); the user's part (approval, consent, app
//!   revocation) and a test clock go through its hooks, and waits take real time unless
//!   a clock hook exists.

use crate::assert::Exchange;
use crate::endpoint::Endpoint;
use crate::runner::clients::{Provided, Registered};
use crate::runner::hooks::{self, HookError, Purpose};
use crate::runner::profile::{BodyEncoding, Clients, Hook, Profile};
use crate::scenario::model::{Capability, Decision};
use crate::server::config::ServerConfig;
use crate::server::faults::FaultSet;
use crate::server::ServerHandle;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// What to run against.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// The reference server, with these fault switches on.
    Builtin {
        /// Faults.
        faults: FaultSet,
    },
    /// A live server described by a profile.
    Live(Arc<Profile>),
}

impl TargetSpec {
    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        match self {
            TargetSpec::Builtin { faults } if faults.is_empty() => "builtin".into(),
            TargetSpec::Builtin { faults } => {
                let names: Vec<String> = faults
                    .iter()
                    .map(|f| format!("--fault {}", f.name()))
                    .collect();
                format!("builtin {}", names.join(" "))
            }
            TargetSpec::Live(p) => format!("profile {}", p.name),
        }
    }
}

/// A target made ready for a run.
#[derive(Debug, Clone)]
pub struct Target(Inner);

#[derive(Debug, Clone)]
enum Inner {
    Builtin(FaultSet),
    Live(Arc<Live>),
}

/// A live target, as every session of a run shares it.
#[derive(Debug)]
struct Live {
    profile: Arc<Profile>,
    base: String,
    issuer: String,
    endpoints: HashMap<String, String>,
    secrets: HashMap<String, String>,
    provided: Provided,
    registered: Vec<Registered>,
    timeout: Duration,
}

/// One scenario's connection to its target.
#[derive(Debug)]
pub struct Session {
    /// `http://host:port`, no trailing slash.
    pub base: String,
    /// The issuer identifier (RFC 8414): the profile's `issuer`, else the base URL.
    pub issuer: String,
    /// No redirects followed.
    pub http: reqwest::Client,
    /// Redirects followed.
    pub http_follow: reqwest::Client,
    /// Secrets by name (`${secret.web}`).
    pub secrets: HashMap<String, String>,
    /// Client roles, resources and lifetimes (`${client.web.id}`…).
    pub provided: Provided,
    /// What the target can do.
    pub capabilities: HashSet<Capability>,
    /// Encoding of `body:` requests.
    pub encoding: BodyEncoding,
    endpoints: HashMap<String, String>,
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    Builtin(ServerHandle),
    Live(Arc<Live>),
}

/// An endpoint's default path: the builtin's (and Noorle's), used where a profile says
/// nothing; `api:/PATH` is that path.
fn default_path(endpoint: &str) -> &str {
    match Endpoint::from_name(endpoint) {
        Some(e) => e.path(),
        None => endpoint.strip_prefix("api:").unwrap_or(endpoint),
    }
}

fn tls(
    mut b: reqwest::ClientBuilder,
    profile: Option<&Profile>,
) -> Result<reqwest::ClientBuilder, String> {
    if let Some(p) = profile {
        if p.tls.insecure {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        if let Some(ca) = &p.tls.ca_file {
            let certs = crate::runner::profile::ca_certificates(std::path::Path::new(ca))
                .map_err(|e| format!("tls.ca_file {e}"))?;
            for cert in certs {
                b = b.add_root_certificate(cert);
            }
        }
    }
    Ok(b)
}

fn client(
    follow: bool,
    timeout: Duration,
    profile: Option<&Profile>,
    jar: &Arc<reqwest::cookie::Jar>,
) -> Result<reqwest::Client, String> {
    let policy = if follow {
        reqwest::redirect::Policy::limited(10)
    } else {
        reqwest::redirect::Policy::none()
    };
    // One cookie jar per scenario session, shared by both clients: login, consent and
    // verification pages keep their browser session across steps.
    let b = reqwest::Client::builder()
        .redirect(policy)
        .timeout(timeout)
        .cookie_provider(jar.clone());
    tls(b, profile)?
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

impl Target {
    /// Makes `spec` ready: for a live target, reads the profile's secrets, discovers its
    /// metadata and registers its roles, once for the whole run.
    pub async fn prepare(spec: &TargetSpec) -> Result<Target, String> {
        match spec {
            TargetSpec::Builtin { faults } => Ok(Target(Inner::Builtin(*faults))),
            TargetSpec::Live(p) => Ok(Target(Inner::Live(Arc::new(prepare_live(p).await?)))),
        }
    }

    /// A fresh session for one scenario.
    pub async fn session(&self) -> Result<Session, String> {
        match &self.0 {
            Inner::Builtin(faults) => {
                let config = ServerConfig::builtin()
                    .with_test_mode(true)
                    .with_faults(*faults);
                Session::start_builtin(config, crate::clock::Clock::frozen()).await
            }
            Inner::Live(live) => Session::on_live(live.clone()),
        }
    }

    /// Ends the run: deletes the clients registered for it (RFC 7592), where the server
    /// allows; the notes say what could not be deleted.
    pub async fn finish(&self) -> Vec<String> {
        match &self.0 {
            Inner::Live(live) if !live.registered.is_empty() => {
                let jar = Arc::new(reqwest::cookie::Jar::default());
                match client(false, live.timeout, Some(&live.profile), &jar) {
                    Ok(http) => crate::runner::clients::unregister(&http, &live.registered).await,
                    Err(e) => vec![e],
                }
            }
            _ => Vec::new(),
        }
    }
}

async fn prepare_live(p: &Arc<Profile>) -> Result<Live, String> {
    let mut vars = crate::scenario::vars::Vars::default();
    let base = vars
        .text(&p.base_url)
        .map_err(|e| format!("profile {}: base_url: {e}", p.name))?
        .trim_end_matches('/')
        .to_string();
    let parsed = url::Url::parse(&base)
        .map_err(|e| format!("profile {}: base_url `{base}`: {e}", p.name))?;
    // CLIENT-17: TLS for every non-loopback target unless explicitly overridden.
    if parsed.scheme() == "http" && !is_loopback(&parsed) && !p.allow_insecure_http {
        return Err(format!(
            "profile {}: refusing plain http to {base}: only loopback targets may use http (set allow_insecure_http: true to override)",
            p.name
        ));
    }
    let issuer = match &p.issuer {
        Some(i) => vars
            .text(i)
            .map_err(|e| format!("profile {}: issuer: {e}", p.name))?,
        None => base.clone(),
    };
    let mut secrets = HashMap::new();
    for (name, env) in &p.secrets {
        let v = std::env::var(env).map_err(|_| {
            format!(
                "profile {}: secret `{name}`: environment variable {env} is not set",
                p.name
            )
        })?;
        secrets.insert(name.clone(), v);
    }
    let timeout = Duration::from_secs(p.timeout_seconds.max(1));
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let http = client(false, timeout, Some(p), &jar)?;
    let mut endpoints = HashMap::new();
    if p.discovery {
        endpoints = crate::runner::discovery::discover(&http, &issuer)
            .await?
            .endpoints();
    }
    for (name, path) in &p.endpoints {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.clone()
        } else {
            format!("{base}{path}")
        };
        endpoints.insert(name.clone(), url);
    }
    let mut provided = Provided::from_profile(p, &base)?;
    let mut registered = Vec::new();
    if let Clients::Register = p.clients {
        let endpoint = endpoints
            .get("registration")
            .cloned()
            .unwrap_or_else(|| format!("{base}{}", default_path("registration")));
        registered = crate::runner::clients::register(&http, &endpoint, &mut provided).await;
    }
    Ok(Live {
        profile: p.clone(),
        base,
        issuer,
        endpoints,
        secrets,
        provided,
        registered,
        timeout,
    })
}

impl Session {
    /// Opens a session on the target (made ready for this session alone).
    pub async fn open(spec: &TargetSpec) -> Result<Session, String> {
        Target::prepare(spec).await?.session().await
    }

    /// Starts the built-in server with `config` (test mode on) on 127.0.0.1 and opens a
    /// session on it; the session owns the server and stops it on [`Session::close`].
    pub async fn start_builtin(
        config: ServerConfig,
        clock: crate::clock::Clock,
    ) -> Result<Session, String> {
        let secrets = config
            .clients
            .iter()
            .filter_map(|c| {
                c.secret
                    .as_ref()
                    .map(|s| (c.id.to_string(), s.expose().clone()))
            })
            .collect();
        let config = config.with_test_mode(true);
        let server = crate::server::start(config.clone(), "127.0.0.1:0", clock)
            .await
            .map_err(|e| format!("cannot start the built-in server: {e}"))?;
        let base = server.base_url();
        let timeout = Duration::from_secs(30);
        let jar = Arc::new(reqwest::cookie::Jar::default());
        Ok(Session {
            provided: Provided::builtin(&config, &base),
            issuer: base.clone(),
            base,
            http: client(false, timeout, None, &jar)?,
            http_follow: client(true, timeout, None, &jar)?,
            secrets,
            capabilities: Capability::ALL.into_iter().collect(),
            encoding: BodyEncoding::Json,
            endpoints: HashMap::new(),
            backend: Backend::Builtin(server),
        })
    }

    fn on_live(live: Arc<Live>) -> Result<Session, String> {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let p = &live.profile;
        Ok(Session {
            base: live.base.clone(),
            issuer: live.issuer.clone(),
            http: client(false, live.timeout, Some(p), &jar)?,
            http_follow: client(true, live.timeout, Some(p), &jar)?,
            secrets: live.secrets.clone(),
            provided: live.provided.clone(),
            capabilities: p.capabilities().into_iter().collect(),
            encoding: p.encoding,
            endpoints: live.endpoints.clone(),
            backend: Backend::Live(live),
        })
    }

    /// The URL of an endpoint name (`token`, `resource:me`), or of a literal path.
    pub fn url(&self, endpoint: Option<&str>, path: Option<&str>) -> String {
        if let Some(p) = path {
            if p.starts_with("http://") || p.starts_with("https://") {
                return p.to_string();
            }
            return format!("{}{p}", self.base);
        }
        let e = endpoint.unwrap_or("");
        if let Some(name) = e.strip_prefix("resource:") {
            if let Some(u) = self
                .provided
                .values
                .get(&format!("resource.{name}.url"))
                .and_then(|v| v.as_str())
            {
                return u.to_string();
            }
        }
        if let Some(u) = self.endpoints.get(e) {
            return u.clone();
        }
        format!("{}{}", self.base, default_path(e))
    }

    /// The secret of the client with id `client_id`: a profile secret of that name, else
    /// the secret of the client role that id plays.
    pub fn secret_of(&self, client_id: &str) -> Option<&str> {
        if let Some(s) = self.secrets.get(client_id) {
            return Some(s);
        }
        let role = self.provided.values.iter().find_map(|(k, v)| {
            let role = k.strip_prefix("client.")?.strip_suffix(".id")?;
            (v.as_str() == Some(client_id)).then_some(role)
        })?;
        self.provided
            .values
            .get(&format!("client.{role}.secret"))
            .and_then(|v| v.as_str())
    }

    /// Whether the target offers `endpoint`: the builtin every one; a live target with
    /// discovery those its metadata or profile name; one without, every one at its
    /// default path (a Noorle-shaped server).
    pub fn offers(&self, endpoint: &str) -> bool {
        match self.live() {
            Some(l) if l.profile.discovery => self.endpoints.contains_key(endpoint),
            _ => true,
        }
    }

    /// Where the target documents its PKCE support (a profile's `pkce_documentation`: a
    /// URL, or a path on the base URL; `${env.X}` expanded), or "" (the builtin advertises
    /// it in its metadata).
    pub fn pkce_documentation(&self) -> String {
        let Some((l, doc)) = self
            .live()
            .and_then(|l| l.profile.pkce_documentation.as_ref().map(|d| (l, d)))
        else {
            return String::new();
        };
        let doc = crate::scenario::vars::Vars::default()
            .text(doc)
            .unwrap_or_else(|_| doc.clone());
        if doc.starts_with('/') {
            format!("{}{doc}", l.base)
        } else {
            doc
        }
    }

    fn live(&self) -> Option<&Live> {
        match &self.backend {
            Backend::Live(l) => Some(l),
            Backend::Builtin(_) => None,
        }
    }

    fn timeout(&self) -> Duration {
        self.live()
            .map(|l| l.timeout)
            .unwrap_or(Duration::from_secs(30))
    }

    async fn hook(
        &self,
        hook: &Hook,
        purpose: Purpose,
        values: &[(&str, &str)],
    ) -> Result<Exchange, HookError> {
        let mut all: Vec<(&str, &str)> = vec![("base", self.base.as_str())];
        all.extend_from_slice(values);
        if let Hook::Manual { timeout_seconds } = hook {
            // A person acts on the server; nothing to read back (approval, app revocation).
            let what = values
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            eprintln!("oauth-harness: please act on the target now ({what}); continuing in at most {timeout_seconds} s");
            return Ok(Exchange {
                status: 200,
                ..Exchange::default()
            });
        }
        hooks::run(&self.http, hook, purpose, &all, self.timeout()).await
    }

    /// Moves the target's clock: the builtin's directly, a live one's through its hook,
    /// else real time passes when the profile allows waits that long (`wait_for_expiry`).
    /// `Ok(false)`: the advance is longer than the target can wait (the caller skips).
    pub async fn advance(&self, secs: f64) -> Result<bool, String> {
        match &self.backend {
            Backend::Builtin(s) => {
                s.clock().advance(Duration::from_secs_f64(secs.max(0.0)));
                Ok(true)
            }
            Backend::Live(live) => match &live.profile.clock {
                Some(hook) => {
                    let s = format!("{secs}");
                    let ex = self
                        .hook(hook, Purpose::Clock, &[("seconds", &s)])
                        .await
                        .map_err(|e| e.0)?;
                    if (200..300).contains(&ex.status) {
                        Ok(true)
                    } else {
                        Err(format!(
                            "the clock hook answered {}: {}",
                            ex.status,
                            hooks::quote(&ex.body)
                        ))
                    }
                }
                None => match live.profile.wait_for_expiry {
                    // Real time passes instead (the server was given short lifetimes).
                    Some(max) if secs <= max as f64 => {
                        tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await;
                        Ok(true)
                    }
                    _ => Ok(false),
                },
            },
        }
    }

    /// Why an advance of `secs` cannot be made on this target, in words for a SKIP.
    pub fn cannot_wait(&self, secs: f64) -> String {
        match self.live().and_then(|l| l.profile.wait_for_expiry) {
            Some(max) => format!(
                "waiting {secs} s is longer than the profile's wait_for_expiry ({max} s), and the target has no clock hook"
            ),
            None => format!(
                "waiting {secs} s needs a clock hook or `wait_for_expiry` in the target's profile"
            ),
        }
    }

    /// Waits `secs` between polls: a clock moves if there is one, else real time passes.
    pub async fn wait(&self, secs: f64) -> Result<(), String> {
        if self.capabilities.contains(&Capability::Clock) && self.advance(secs).await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await;
        Ok(())
    }

    async fn fetch(&self, req: reqwest::RequestBuilder) -> Result<Exchange, String> {
        let resp = req
            .send()
            .await
            .map_err(|e| crate::runner::describe_reqwest(&e))?;
        crate::runner::to_exchange(resp).await
    }

    /// Approves or denies a user code as the user: the answer of the target (2xx: done;
    /// 4xx: refused), or an error when the hook itself failed.
    pub async fn decide(
        &self,
        user_code: &str,
        user: Option<&str>,
        approve: bool,
    ) -> Result<Exchange, String> {
        match &self.backend {
            Backend::Builtin(_) => {
                let path = if approve {
                    "/_test/device/approve"
                } else {
                    "/_test/device/deny"
                };
                let mut body = serde_json::json!({ "user_code": user_code });
                if let Some(u) = user {
                    body["user"] = serde_json::json!(u);
                }
                self.fetch(self.http.post(format!("{}{path}", self.base)).json(&body))
                    .await
            }
            Backend::Live(live) => {
                let hooks = live
                    .profile
                    .approval
                    .as_ref()
                    .ok_or("this target has no approval hook")?;
                let hook = if approve {
                    Some(&hooks.approve)
                } else {
                    hooks.deny.as_ref()
                };
                let hook = hook.ok_or("this target has no deny hook")?;
                self.hook(
                    hook,
                    Purpose::Decide,
                    &[("user_code", user_code), ("user", user.unwrap_or(""))],
                )
                .await
                .map_err(|e| e.0)
            }
        }
    }

    /// What the authorization server answered the user's decision on an authorization
    /// request: a redirect, or a page that did not redirect. An error when the hook failed.
    pub async fn consent(
        &self,
        query: &[(String, String)],
        decision: Decision,
        user: Option<&str>,
    ) -> Result<(String, Exchange), String> {
        let mut query = query.to_vec();
        if let Some(live) = self.live() {
            for (k, v) in &live.profile.authorization_params {
                if !query.iter().any(|(name, _)| name == k) {
                    query.push((k.clone(), v.clone()));
                }
            }
        }
        let request_query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&query)
            .finish();
        match &self.backend {
            Backend::Builtin(_) => {
                let mut q = request_query;
                if decision == Decision::Deny {
                    q.push_str("&decision=deny");
                }
                if let Some(u) = user {
                    q.push_str(&format!(
                        "&user={}",
                        url::form_urlencoded::byte_serialize(u.as_bytes()).collect::<String>()
                    ));
                }
                let url = format!("{}/_test/authorize?{q}", self.base);
                let ex = self.fetch(self.http.get(&url)).await?;
                Ok((url, ex))
            }
            Backend::Live(live) => {
                let hook = live
                    .profile
                    .consent
                    .as_ref()
                    .ok_or("this target has no consent hook")?;
                let full = format!("{}?{request_query}", self.url(Some("authorization"), None));
                let ex = match hook {
                    Hook::Follow { max_redirects } => {
                        let redirect_uri = query
                            .iter()
                            .find(|(k, _)| k == "redirect_uri")
                            .map(|(_, v)| v.clone());
                        let profile = live.profile.clone();
                        hooks::follow(
                            &full,
                            redirect_uri.as_deref(),
                            *max_redirects,
                            self.timeout(),
                            |b| tls(b, Some(&profile)),
                        )
                        .await
                    }
                    Hook::Manual { timeout_seconds } => manual_consent(&full, *timeout_seconds)
                        .await
                        .map_err(HookError),
                    _ => {
                        let d = if decision == Decision::Deny {
                            "deny"
                        } else {
                            "approve"
                        };
                        let values = [
                            ("query", request_query.as_str()),
                            ("url", full.as_str()),
                            ("decision", d),
                            ("user", user.unwrap_or("")),
                        ];
                        self.hook(hook, Purpose::Consent, &values).await
                    }
                };
                ex.map(|ex| (full, ex)).map_err(|e| e.0)
            }
        }
    }

    /// Revokes a connected app as the user.
    pub async fn revoke_app(&self, client: &str, user: Option<&str>) -> Result<Exchange, String> {
        match &self.backend {
            Backend::Builtin(_) => {
                let mut body = serde_json::json!({ "client_id": client });
                if let Some(u) = user {
                    body["user"] = serde_json::json!(u);
                }
                self.fetch(
                    self.http
                        .post(format!("{}/_test/apps/revoke", self.base))
                        .json(&body),
                )
                .await
            }
            Backend::Live(live) => {
                let hook = live
                    .profile
                    .revoke_app
                    .as_ref()
                    .ok_or("this target has no revoke_app hook")?;
                self.hook(
                    hook,
                    Purpose::RevokeApp,
                    &[("client", client), ("user", user.unwrap_or(""))],
                )
                .await
                .map_err(|e| e.0)
            }
        }
    }

    /// Ends the session (stops a builtin server).
    pub async fn close(self) {
        if let Backend::Builtin(s) = self.backend {
            let _ = s.shutdown().await;
        }
    }
}

/// Asks a person to open `url`, consent, and paste the URL the browser was redirected to.
async fn manual_consent(url: &str, timeout_seconds: u64) -> Result<Exchange, String> {
    use tokio::io::AsyncBufReadExt;
    eprintln!(
        "oauth-harness: open this URL, decide, then paste the URL you were redirected to:\n  {url}"
    );
    let mut line = String::new();
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let read = tokio::time::timeout(
        Duration::from_secs(timeout_seconds),
        stdin.read_line(&mut line),
    )
    .await
    .map_err(|_| format!("manual consent: nothing was entered within {timeout_seconds} s"))?
    .map_err(|e| format!("manual consent: cannot read standard input: {e}"))?;
    if read == 0 || line.trim().is_empty() {
        return Err("manual consent: standard input is closed or empty".into());
    }
    Ok(hooks::redirect(line.trim()))
}
