//! Targets: where scenarios run.
//!
//! - `builtin` starts a fresh reference server in-process for every scenario (127.0.0.1:0,
//!   test mode, a frozen clock), so scenarios run concurrently with isolated state and move
//!   time freely.
//! - A profile (`--target FILE.yaml`, [`Profile`]) points at a live server; the user's
//!   part (approval, consent, app revocation) and a test clock go through its hooks, and
//!   waits take real time unless a clock hook exists.

use crate::assert::Exchange;
use crate::runner::profile::{fill, fill_json, BodyEncoding, Hook, Profile};
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

#[derive(Debug)]
enum Backend {
    Builtin(ServerHandle),
    Live(Arc<Profile>),
}

/// One scenario's connection to its target.
#[derive(Debug)]
pub struct Session {
    /// `http://host:port`, no trailing slash.
    pub base: String,
    /// No redirects followed.
    pub http: reqwest::Client,
    /// Redirects followed.
    pub http_follow: reqwest::Client,
    /// Secrets by name (`${secret.web}`).
    pub secrets: HashMap<String, String>,
    /// What the target can do.
    pub capabilities: HashSet<Capability>,
    /// Encoding of `body:` requests.
    pub encoding: BodyEncoding,
    endpoints: HashMap<String, String>,
    backend: Backend,
}

/// The builtin's (and Noorle's) paths, used where a profile says nothing.
fn default_path(endpoint: &str) -> &str {
    match endpoint {
        "token" => "/oauth/token",
        "device_authorization" => "/oauth/device/authorize",
        "authorization" => "/oauth/authorize",
        "revocation" => "/oauth/revoke",
        "introspection" => "/oauth/introspect",
        "registration" => "/oauth/register",
        "metadata" => "/.well-known/oauth-authorization-server",
        "verification" => "/oauth/device/verify",
        other => other.strip_prefix("api:").unwrap_or(other),
    }
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
    let mut b = reqwest::Client::builder()
        .redirect(policy)
        .timeout(timeout)
        .cookie_provider(jar.clone());
    if let Some(p) = profile {
        if p.tls.insecure {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        if let Some(ca) = &p.tls.ca_file {
            let pem = std::fs::read(ca).map_err(|e| format!("tls.ca_file {ca}: {e}"))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| format!("tls.ca_file {ca}: {e}"))?;
            b = b.add_root_certificate(cert);
        }
    }
    b.build()
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

impl Session {
    /// Opens a session on the target.
    pub async fn open(spec: &TargetSpec) -> Result<Session, String> {
        match spec {
            TargetSpec::Builtin { faults } => Self::open_builtin(*faults).await,
            TargetSpec::Live(p) => Self::open_live(p.clone()).await,
        }
    }

    async fn open_builtin(faults: FaultSet) -> Result<Session, String> {
        let config = ServerConfig::builtin()
            .with_test_mode(true)
            .with_faults(faults);
        Self::start_builtin(config, crate::clock::Clock::frozen()).await
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
        let server = crate::server::start(config, "127.0.0.1:0", clock)
            .await
            .map_err(|e| format!("cannot start the built-in server: {e}"))?;
        let timeout = Duration::from_secs(30);
        let jar = Arc::new(reqwest::cookie::Jar::default());
        Ok(Session {
            base: server.base_url(),
            http: client(false, timeout, None, &jar)?,
            http_follow: client(true, timeout, None, &jar)?,
            secrets,
            capabilities: Capability::ALL.into_iter().collect(),
            encoding: BodyEncoding::Json,
            endpoints: HashMap::new(),
            backend: Backend::Builtin(server),
        })
    }

    async fn open_live(p: Arc<Profile>) -> Result<Session, String> {
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
        let http = client(false, timeout, Some(&p), &jar)?;
        let mut endpoints = HashMap::new();
        if p.discovery {
            endpoints = discover(&http, &base).await?;
        }
        for (name, path) in &p.endpoints {
            let url = if path.starts_with("http://") || path.starts_with("https://") {
                path.clone()
            } else {
                format!("{base}{path}")
            };
            endpoints.insert(name.clone(), url);
        }
        Ok(Session {
            base,
            http_follow: client(true, timeout, Some(&p), &jar)?,
            http,
            secrets,
            capabilities: p.capabilities().into_iter().collect(),
            encoding: p.encoding,
            endpoints,
            backend: Backend::Live(p),
        })
    }

    /// The URL of an endpoint name, or of a literal path.
    pub fn url(&self, endpoint: Option<&str>, path: Option<&str>) -> String {
        if let Some(p) = path {
            if p.starts_with("http://") || p.starts_with("https://") {
                return p.to_string();
            }
            return format!("{}{p}", self.base);
        }
        let e = endpoint.unwrap_or("");
        if let Some(u) = self.endpoints.get(e) {
            return u.clone();
        }
        format!("{}{}", self.base, default_path(e))
    }

    fn profile(&self) -> Option<&Profile> {
        match &self.backend {
            Backend::Live(p) => Some(p),
            Backend::Builtin(_) => None,
        }
    }

    /// Moves the target's clock: the builtin's directly, a live one's through its hook.
    pub async fn advance(&self, secs: f64) -> Result<(), String> {
        match &self.backend {
            Backend::Builtin(s) => {
                s.clock().advance(Duration::from_secs_f64(secs.max(0.0)));
                Ok(())
            }
            Backend::Live(p) => match &p.clock {
                Some(hook) => {
                    let s = format!("{secs}");
                    let ex = self.run_hook(hook, &[("seconds", &s)], "POST").await?;
                    if (200..300).contains(&ex.status) {
                        Ok(())
                    } else {
                        Err(format!(
                            "the clock hook answered {}: {}",
                            ex.status,
                            ex.body.trim()
                        ))
                    }
                }
                None => match p.wait_for_expiry {
                    // Real time passes instead (the server was given short lifetimes).
                    Some(max) if secs <= max as f64 => {
                        tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await;
                        Ok(())
                    }
                    Some(max) => Err(format!(
                        "advance_clock of {secs} s is longer than the profile's wait_for_expiry ({max} s), and this target has no clock hook"
                    )),
                    None => Err(
                        "this target has no clock to move (no `clock` hook in its profile)".into(),
                    ),
                },
            },
        }
    }

    /// Waits `secs` between polls: a clock moves if there is one, else real time passes.
    pub async fn wait(&self, secs: f64) -> Result<(), String> {
        if self.capabilities.contains(&Capability::Clock) {
            self.advance(secs).await
        } else {
            tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await;
            Ok(())
        }
    }

    async fn fetch(&self, req: reqwest::RequestBuilder) -> Result<Exchange, String> {
        let resp = req
            .send()
            .await
            .map_err(|e| crate::runner::describe_reqwest(&e))?;
        crate::runner::to_exchange(resp).await
    }

    async fn run_hook(
        &self,
        hook: &Hook,
        values: &[(&str, &str)],
        default_method: &str,
    ) -> Result<Exchange, String> {
        let mut all: Vec<(&str, &str)> = vec![("base", self.base.as_str())];
        all.extend_from_slice(values);
        match hook {
            Hook::Http {
                method,
                url,
                json,
                headers,
            } => {
                let method = method.clone().unwrap_or_else(|| default_method.into());
                let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                    .map_err(|e| format!("hook method: {e}"))?;
                let mut req = self.http.request(m, fill(url, &all, false));
                for (k, v) in headers {
                    req = req.header(k, fill(v, &all, false));
                }
                if let Some(j) = json {
                    req = req.json(&fill_json(j, &all));
                }
                self.fetch(req).await
            }
            Hook::Follow { .. } => Err("a `follow` hook only works for consent".into()),
            Hook::Manual { timeout_seconds } => {
                // A person acts on the server; nothing to read back (approval, app revocation).
                let what = values
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                eprintln!("oauth-harness: please act on the target now ({what}); continuing in at most {timeout_seconds} s");
                Ok(Exchange {
                    status: 200,
                    ..Exchange::default()
                })
            }
            Hook::Command { run } => {
                let cmd = fill(run, &all, true);
                let timeout = Duration::from_secs(
                    self.profile()
                        .map(|p| p.timeout_seconds)
                        .unwrap_or(30)
                        .max(1),
                );
                let out = tokio::time::timeout(
                    timeout,
                    tokio::process::Command::new("sh")
                        .arg("-c")
                        .arg(&cmd)
                        .kill_on_drop(true)
                        .output(),
                )
                .await
                .map_err(|_| format!("hook command timed out after {} s", timeout.as_secs()))?
                .map_err(|e| format!("hook command could not start: {e}"))?;
                let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
                // A command reports only success (200) or refusal (400) — and what it printed.
                Ok(Exchange {
                    status: if out.status.success() { 200 } else { 400 },
                    headers: vec![],
                    body: if out.status.success() {
                        stdout
                    } else {
                        format!("{stdout}{stderr}")
                    },
                    json: None,
                })
            }
        }
    }

    /// Approves or denies a user code as the user.
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
            Backend::Live(p) => {
                let hooks = p
                    .approval
                    .as_ref()
                    .ok_or("this target has no approval hook")?;
                let hook = if approve {
                    Some(&hooks.approve)
                } else {
                    hooks.deny.as_ref()
                };
                let hook = hook.ok_or("this target has no deny hook")?;
                self.run_hook(
                    hook,
                    &[("user_code", user_code), ("user", user.unwrap_or(""))],
                    "POST",
                )
                .await
            }
        }
    }

    /// The redirect that the user's decision on an authorization request produces.
    pub async fn consent(
        &self,
        query: &[(String, String)],
        decision: Decision,
        user: Option<&str>,
    ) -> Result<(String, Exchange), String> {
        let request_query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
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
            Backend::Live(p) => {
                let hook = p
                    .consent
                    .as_ref()
                    .ok_or("this target has no consent hook")?;
                let full = format!("{}?{request_query}", self.url(Some("authorization"), None));
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
                if let Hook::Follow { max_redirects } = hook {
                    let redirect_uri = query
                        .iter()
                        .find(|(k, _)| k == "redirect_uri")
                        .map(|(_, v)| v.clone());
                    return self
                        .follow(&full, redirect_uri.as_deref(), *max_redirects)
                        .await
                        .map(|ex| (full.clone(), ex));
                }
                if let Hook::Manual { timeout_seconds } = hook {
                    return manual_consent(&full, *timeout_seconds)
                        .await
                        .map(|ex| (full.clone(), ex));
                }
                let mut ex = self.run_hook(hook, &values, "GET").await?;
                if let Hook::Command { .. } = hook {
                    // The command prints the final redirect URL; nothing means no redirect.
                    let location = ex.body.lines().last().unwrap_or("").trim().to_string();
                    if ex.status == 200 && !location.is_empty() {
                        ex = Exchange {
                            status: 302,
                            headers: vec![("location".into(), location)],
                            body: String::new(),
                            json: None,
                        };
                    }
                }
                Ok((full, ex))
            }
        }
    }

    /// Follows the authorization server's redirects with a cookie jar until a redirect
    /// leads to `redirect_uri`; that redirect response is returned.
    async fn follow(
        &self,
        start: &str,
        redirect_uri: Option<&str>,
        max: usize,
    ) -> Result<Exchange, String> {
        let stop_at = redirect_uri.map(str::to_string);
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            let target = attempt.url().as_str().to_string();
            if stop_at.as_deref().is_some_and(|r| target.starts_with(r)) {
                attempt.stop()
            } else if attempt.previous().len() >= max {
                attempt.error(format!("more than {max} redirects"))
            } else {
                attempt.follow()
            }
        });
        let timeout = Duration::from_secs(
            self.profile()
                .map(|p| p.timeout_seconds)
                .unwrap_or(30)
                .max(1),
        );
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(policy)
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let ex = self.fetch(http.get(start)).await?;
        let reached = ex
            .header("location")
            .is_some_and(|l| redirect_uri.is_none_or(|r| l.starts_with(r)));
        if !(300..400).contains(&ex.status) || !reached {
            return Err(format!(
                "follow: the authorization server stopped at status {} without redirecting to the redirect_uri (it may need a person: use a `manual` or `command` consent hook)",
                ex.status
            ));
        }
        Ok(ex)
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
            Backend::Live(p) => {
                let hook = p
                    .revoke_app
                    .as_ref()
                    .ok_or("this target has no revoke_app hook")?;
                self.run_hook(
                    hook,
                    &[("client", client), ("user", user.unwrap_or(""))],
                    "POST",
                )
                .await
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
    Ok(Exchange {
        status: 302,
        headers: vec![("location".into(), line.trim().to_string())],
        ..Exchange::default()
    })
}

/// RFC 8414 discovery. The document is used only if its `issuer` is the base URL, code
/// point for code point (RFC 8414 §3.3, META-5, CLIENT-16).
async fn discover(http: &reqwest::Client, base: &str) -> Result<HashMap<String, String>, String> {
    let url = format!("{base}/.well-known/oauth-authorization-server");
    let resp = http
        .get(&url)
        .send()
        .await
        .map_err(|e| crate::runner::describe_reqwest(&e))?;
    let ex = crate::runner::to_exchange(resp).await?;
    if ex.status != 200 {
        return Err(format!("discovery: {url} answered {}", ex.status));
    }
    let meta = ex
        .json
        .ok_or_else(|| format!("discovery: {url} is not JSON"))?;
    let issuer = meta.get("issuer").and_then(|v| v.as_str()).unwrap_or("");
    if issuer != base {
        return Err(format!(
            "discovery: the metadata's issuer `{issuer}` is not the target `{base}` (RFC 8414 §3.3): none of its endpoints are used"
        ));
    }
    let mut out = HashMap::from([("metadata".to_string(), url)]);
    for (member, name) in [
        ("token_endpoint", "token"),
        ("device_authorization_endpoint", "device_authorization"),
        ("authorization_endpoint", "authorization"),
        ("revocation_endpoint", "revocation"),
        ("introspection_endpoint", "introspection"),
        ("registration_endpoint", "registration"),
    ] {
        if let Some(u) = meta.get(member).and_then(|v| v.as_str()) {
            out.insert(name.to_string(), u.to_string());
        }
    }
    Ok(out)
}
