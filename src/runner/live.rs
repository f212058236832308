//! A live target's [`Backend`]: a server described by a profile, made ready once per run
//! ([`Live::prepare`]: secrets read, metadata discovered, roles registered); the user acts
//! through the profile's hooks, time through its clock hook or in real time.

use crate::assert::Exchange;
use crate::endpoint::Endpoint;
use crate::runner::clients::{Provided, Registered};
use crate::runner::error::TargetError;
use crate::runner::hooks::{self, HookError, Purpose};
use crate::runner::profile::{fill, Clients, Hook, Profile};
use crate::runner::session::{client, tls, Backend, Fut, Person, Session};
use crate::scenario::model::{Capability, Decision};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A live target, as every session of a run shares it.
#[derive(Debug)]
pub(crate) struct Live {
    profile: Arc<Profile>,
    base: String,
    issuer: String,
    endpoints: HashMap<Endpoint, String>,
    secrets: HashMap<String, String>,
    provided: Provided,
    registered: Vec<Registered>,
    timeout: Duration,
    /// The metadata says authorization responses carry `iss` (RFC 9207 §2.3).
    iss_advertised: bool,
    /// Its metadata lists `dpop_signing_alg_values_supported` (RFC 9449 §5.1).
    dpop_advertised: bool,
    /// The target's clock less ours, from the `Date` headers its sessions saw.
    date_offset: Arc<parking_lot::Mutex<Option<i64>>>,
    /// Where the harness publishes its roles' public keys (`jwks_uri_base`), while the
    /// run lasts.
    _jwks_host: Option<crate::runner::jwks_host::JwksHost>,
}

fn setup(p: &Profile, what: String) -> TargetError {
    TargetError::Setup(format!("profile {}: {what}", p.name))
}

/// Publishes the public half of the key the `pkj-uri` role signs with (its own, else the
/// fixture K) at `base`, a URL the target can reach.
async fn serve_keys(
    base: &str,
    provided: &Provided,
) -> Result<crate::runner::jwks_host::JwksHost, String> {
    use crate::runner::jwks_host::{bind_address, JwksHost, ROLE};
    let bind = bind_address(base)?;
    let key = provided
        .keys
        .get(crate::keys::KeyName::K, Some(ROLE))
        .map_err(|e| format!("the key of role {ROLE}: {e}"))?;
    let sets = HashMap::from([(ROLE.to_string(), key.public_jwks())]);
    JwksHost::start(&bind, Some(base), sets).await
}

impl Live {
    /// Reads the profile's secrets, discovers the target's metadata and registers its
    /// roles, once for the whole run.
    pub(crate) async fn prepare(p: &Arc<Profile>) -> Result<Live, TargetError> {
        let mut vars = crate::scenario::vars::Vars::default();
        let base = vars
            .render(&p.base_url)
            .map_err(|e| setup(p, format!("base_url: {e}")))?
            .trim_end_matches('/')
            .to_string();
        let parsed =
            url::Url::parse(&base).map_err(|e| setup(p, format!("base_url `{base}`: {e}")))?;
        // CLIENT-17: TLS for every non-loopback target unless explicitly overridden.
        if parsed.scheme() == "http"
            && !crate::runner::http::is_loopback(&parsed)
            && !p.allow_insecure_http
        {
            return Err(setup(p, format!(
                "refusing plain http to {base}: only loopback targets may use http (set allow_insecure_http: true to override)"
            )));
        }
        let issuer = match &p.issuer {
            Some(i) => vars
                .render(i)
                .map_err(|e| setup(p, format!("issuer: {e}")))?,
            None => base.clone(),
        };
        let mut secrets = HashMap::new();
        for (name, env) in &p.secrets {
            let v = std::env::var(env).map_err(|_| {
                setup(
                    p,
                    format!("secret `{name}`: environment variable {env} is not set"),
                )
            })?;
            secrets.insert(name.clone(), v);
        }
        let timeout = Duration::from_secs(p.timeout_seconds.max(1));
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let http = client(false, timeout, Some(p), &jar)?;
        let mut endpoints = HashMap::new();
        let mut iss_advertised = false;
        let mut dpop_advertised = false;
        if p.discovery {
            let metadata = crate::runner::discovery::discover(&http, &issuer).await?;
            endpoints = metadata.endpoints();
            iss_advertised = metadata.document["authorization_response_iss_parameter_supported"]
                == serde_json::Value::Bool(true);
            dpop_advertised = metadata.document["dpop_signing_alg_values_supported"].is_array();
        }
        for (name, path) in &p.endpoints {
            // Names were checked when the profile loaded.
            let Some(e) = Endpoint::from_name(name) else {
                continue;
            };
            let url = if path.starts_with("http://") || path.starts_with("https://") {
                path.clone()
            } else {
                format!("{base}{path}")
            };
            endpoints.insert(e, url);
        }
        let mut provided = Provided::from_profile(p, &base)?;
        let jwks_host = match &p.jwks_uri_base {
            Some(text) => {
                let at = vars
                    .render(text)
                    .map_err(|e| setup(p, format!("jwks_uri_base: {e}")))?;
                Some(
                    serve_keys(&at, &provided)
                        .await
                        .map_err(|e| setup(p, format!("jwks_uri_base: {e}")))?,
                )
            }
            None => None,
        };
        let mut registered = Vec::new();
        if let Clients::Register = p.clients {
            let endpoint = endpoints
                .get(&Endpoint::Registration)
                .cloned()
                .unwrap_or_else(|| format!("{base}{}", Endpoint::Registration.path()));
            let jwks_uri = jwks_host
                .as_ref()
                .map(|h| h.uri(crate::runner::jwks_host::ROLE));
            registered = crate::runner::clients::register(
                &http,
                &endpoint,
                &mut provided,
                jwks_uri.as_deref(),
            )
            .await;
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
            iss_advertised,
            dpop_advertised,
            date_offset: Default::default(),
            _jwks_host: jwks_host,
        })
    }

    /// The profile's race settings (its defaults where it names none).
    pub(crate) fn race_settings(&self) -> crate::runner::profile::RaceSettings {
        self.profile.race.unwrap_or_default()
    }

    /// A session for one scenario; `manual` hooks ask `person`.
    pub(crate) fn session(self: &Arc<Self>, person: Person) -> Result<Session, TargetError> {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let p = &self.profile;
        Ok(Session {
            base: self.base.clone(),
            issuer: self.issuer.clone(),
            http: client(false, self.timeout, Some(p), &jar)?,
            http_follow: client(true, self.timeout, Some(p), &jar)?,
            secrets: self.secrets.clone(),
            provided: self.provided.clone(),
            capabilities: p
                .capabilities()
                .into_iter()
                .chain(self.dpop_advertised.then_some(Capability::Dpop))
                .collect(),
            encoding: p.encoding,
            pkce_documentation: self.pkce_documentation(),
            endpoints: self.endpoints.clone(),
            discovered_only: p.discovery,
            iss_required: self.iss_advertised || p.capabilities().contains(&Capability::Iss),
            authorization_params: p
                .authorization_params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            timeout: self.timeout,
            backend: Box::new(LiveBackend {
                live: self.clone(),
                person,
            }),
            verification: Default::default(),
            date_offset: self.date_offset.clone(),
            dpop_nonces: Default::default(),
            race: p.race.unwrap_or_default(),
            approval_url: self.race_hook(),
        })
    }

    /// The profile's `race_hook`: a URL, or a path on the base URL.
    fn race_hook(&self) -> Option<String> {
        self.profile.race_hook.as_deref().map(|h| self.on_base(h))
    }

    /// A URL, or a path on the base URL.
    fn on_base(&self, url_or_path: &str) -> String {
        if url_or_path.starts_with('/') {
            format!("{}{url_or_path}", self.base)
        } else {
            url_or_path.to_string()
        }
    }

    /// Where the target documents its PKCE support (the profile's `pkce_documentation`:
    /// a URL, or a path on the base URL; `${env.X}` expanded), or "".
    fn pkce_documentation(&self) -> String {
        let Some(doc) = &self.profile.pkce_documentation else {
            return String::new();
        };
        let doc = crate::scenario::vars::Vars::default()
            .render(doc)
            .unwrap_or_else(|_| doc.clone());
        self.on_base(&doc)
    }

    /// Deletes the clients registered for the run (RFC 7592), where the server allows;
    /// the notes say what could not be deleted.
    pub(crate) async fn finish(&self) -> Vec<String> {
        if self.registered.is_empty() {
            return Vec::new();
        }
        let jar = Arc::new(reqwest::cookie::Jar::default());
        match client(false, self.timeout, Some(&self.profile), &jar) {
            Ok(http) => crate::runner::clients::unregister(&http, &self.registered).await,
            Err(e) => vec![e.to_string()],
        }
    }
}

/// One session's way to the live target's user and clock.
#[derive(Debug)]
struct LiveBackend {
    live: Arc<Live>,
    person: Person,
}

fn no_hook(what: &str) -> TargetError {
    TargetError::Hook(HookError(format!("this target has no {what} hook")))
}

impl LiveBackend {
    async fn hook(
        &self,
        s: &Session,
        hook: &Hook,
        purpose: Purpose,
        values: &[(&str, &str)],
    ) -> Result<Exchange, TargetError> {
        let mut all: Vec<(&str, &str)> = vec![("base", s.base.as_str())];
        all.extend_from_slice(values);
        if let Hook::Form(recipe) | Hook::Browser(recipe) = hook {
            let browser = matches!(hook, Hook::Browser(_));
            return self.form(s, recipe, browser, purpose, &all).await;
        }
        if let Hook::Manual { timeout_seconds } = hook {
            // A person acts on the server; nothing to read back (approval, app revocation).
            let what = values
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            self.person.tell(&format!(
                "please act on the target now ({what}); continuing in at most {timeout_seconds} s"
            ));
            return Ok(Exchange {
                status: 200,
                ..Exchange::default()
            });
        }
        Ok(hooks::run(&s.http, hook, purpose, &all, s.timeout).await?)
    }

    /// Plays the user with a `form` recipe: the account's name and password are its
    /// `{user.username}` and `{user.password}`.
    async fn form(
        &self,
        s: &Session,
        recipe: &crate::runner::form::Recipe,
        browser: bool,
        purpose: Purpose,
        values: &[(&str, &str)],
    ) -> Result<Exchange, TargetError> {
        use crate::runner::form::{self, Goal, Stop};
        let user: Vec<(&str, String)> = ["user.username", "user.password"]
            .into_iter()
            .filter_map(|k| {
                let v = s.provided.values.get(k)?.as_str()?;
                Some((k, v.to_string()))
            })
            .collect();
        let mut all = values.to_vec();
        all.extend(user.iter().map(|(k, v)| (*k, v.as_str())));
        let value = |k: &str| all.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        // Consent starts at the authorization request; approval where the device sends
        // its user (`verification_uri_complete`, else `verification_uri`).
        let seen = |k: &str| value(k).filter(|v| !v.is_empty());
        let start =
            match (&recipe.start, purpose) {
                (Some(start), _) => fill(start, &all, false),
                (None, Purpose::Consent) => seen("url").unwrap_or_default().to_string(),
                (None, Purpose::Decide) => seen("verification_uri_complete")
                    .or_else(|| seen("verification_uri"))
                    .ok_or_else(|| {
                        HookError(
                            "a form approval hook without `start:` begins at the device \
                         authorization response's verification_uri, and none was seen for this \
                         user code"
                                .into(),
                        )
                    })?
                    .to_string(),
                (None, _) => return Err(TargetError::Hook(HookError(
                    "a form hook for revoke_app needs `start:`, the page where the user begins \
                     (e.g. `{base}/account/apps`)"
                        .into(),
                ))),
            };
        let stop = Stop {
            redirect_uri: value("query").and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "redirect_uri")
                    .map(|(_, v)| v.into_owned())
            }),
        };
        let goal = if purpose == Purpose::Consent {
            Goal::Consent
        } else {
            Goal::Act
        };
        if browser {
            let task = crate::runner::browser::Task {
                recipe,
                start: &start,
                goal,
                stop: &stop,
                values: &all,
                timeout: s.timeout,
            };
            return Ok(crate::runner::browser::run(task).await?);
        }
        let profile = self.live.profile.clone();
        let http = form::client(s.timeout, |b| tls(b, Some(&profile)))?;
        Ok(form::run(&http, recipe, &start, goal, &stop, &all).await?)
    }

    /// Asks the person to open `url`, decide, and paste the URL the browser ended on.
    async fn manual_consent(
        &self,
        url: &str,
        timeout_seconds: u64,
    ) -> Result<Exchange, TargetError> {
        let question =
            format!("open this URL, decide, then paste the URL you were redirected to:\n  {url}");
        let answer = self
            .person
            .ask(question, Duration::from_secs(timeout_seconds))
            .await
            .filter(|line| !line.trim().is_empty())
            .ok_or_else(|| {
                HookError(format!(
                    "manual consent: no redirect URL was entered within {timeout_seconds} s"
                ))
            })?;
        Ok(hooks::redirect(answer.trim()))
    }
}

impl Backend for LiveBackend {
    fn decide<'a>(
        &'a self,
        s: &'a Session,
        user_code: &'a str,
        user: Option<&'a str>,
        approve: bool,
    ) -> Fut<'a, Exchange> {
        Box::pin(async move {
            let hooks = self
                .live
                .profile
                .approval
                .as_ref()
                .ok_or_else(|| no_hook("approval"))?;
            let hook = if approve {
                Some(&hooks.approve)
            } else {
                hooks.deny.as_ref()
            };
            let hook = hook.ok_or_else(|| no_hook("deny"))?;
            let decision = if approve { "approve" } else { "deny" };
            let (uri, complete) = s
                .verification
                .lock()
                .get(user_code)
                .cloned()
                .unwrap_or_default();
            let values = [
                ("user_code", user_code),
                ("user", user.unwrap_or("")),
                ("decision", decision),
                ("verification_uri", uri.as_str()),
                (
                    "verification_uri_complete",
                    complete.as_deref().unwrap_or(""),
                ),
            ];
            self.hook(s, hook, Purpose::Decide, &values).await
        })
    }

    fn consent_is_server_time(&self) -> bool {
        matches!(self.live.profile.consent, Some(Hook::Follow { .. }))
    }

    fn consent<'a>(
        &'a self,
        s: &'a Session,
        query: String,
        decision: Decision,
        user: Option<&'a str>,
    ) -> Fut<'a, (String, Exchange)> {
        Box::pin(async move {
            let hook = self
                .live
                .profile
                .consent
                .as_ref()
                .ok_or_else(|| no_hook("consent"))?;
            let full = format!("{}?{query}", s.endpoint_url(Endpoint::Authorization));
            let ex = match hook {
                Hook::Follow { max_redirects } => {
                    let redirect_uri = url::form_urlencoded::parse(query.as_bytes())
                        .find(|(k, _)| k == "redirect_uri")
                        .map(|(_, v)| v.into_owned());
                    let profile = self.live.profile.clone();
                    hooks::follow(
                        &full,
                        redirect_uri.as_deref(),
                        *max_redirects,
                        s.timeout,
                        |b| tls(b, Some(&profile)),
                    )
                    .await?
                }
                Hook::Manual { timeout_seconds } => {
                    self.manual_consent(&full, *timeout_seconds).await?
                }
                _ => {
                    let d = match decision {
                        Decision::Deny => "deny",
                        Decision::Approve => "approve",
                    };
                    let values = [
                        ("query", query.as_str()),
                        ("url", full.as_str()),
                        ("decision", d),
                        ("user", user.unwrap_or("")),
                    ];
                    self.hook(s, hook, Purpose::Consent, &values).await?
                }
            };
            Ok((full, ex))
        })
    }

    fn revoke_app<'a>(
        &'a self,
        s: &'a Session,
        client: &'a str,
        user: Option<&'a str>,
    ) -> Fut<'a, Exchange> {
        Box::pin(async move {
            let hook = self
                .live
                .profile
                .revoke_app
                .as_ref()
                .ok_or_else(|| no_hook("revoke_app"))?;
            let values = [("client", client), ("user", user.unwrap_or(""))];
            self.hook(s, hook, Purpose::RevokeApp, &values).await
        })
    }

    fn advance<'a>(&'a self, s: &'a Session, secs: f64) -> Fut<'a, bool> {
        Box::pin(async move {
            match (&self.live.profile.clock, self.live.profile.wait_for_expiry) {
                (Some(hook), _) => {
                    let n = format!("{secs}");
                    let ex = self
                        .hook(s, hook, Purpose::Clock, &[("seconds", &n)])
                        .await?;
                    if (200..300).contains(&ex.status) {
                        // The target's clock moved by `secs`: so does the harness's reckoning
                        // of it, until the next `Date` says more.
                        if let Some(offset) = s.date_offset.lock().as_mut() {
                            *offset += secs.round() as i64;
                        }
                        Ok(true)
                    } else {
                        Err(TargetError::Hook(HookError(format!(
                            "the clock hook answered {}: {}",
                            ex.status,
                            hooks::quote(&ex.body)
                        ))))
                    }
                }
                // Real time passes instead (the server was given short lifetimes).
                (None, Some(max)) if secs <= max as f64 => {
                    tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await;
                    Ok(true)
                }
                (None, _) => Ok(false),
            }
        })
    }

    fn cannot_wait(&self, secs: f64) -> String {
        match self.live.profile.wait_for_expiry {
            Some(max) => format!(
                "waiting {secs} s is longer than the profile's wait_for_expiry ({max} s), and the target has no clock hook"
            ),
            None => format!(
                "waiting {secs} s needs a clock hook or `wait_for_expiry` in the target's profile"
            ),
        }
    }

    fn close(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async {})
    }
}
