//! A scenario's connection to its target ([`Session`]) and what differs between targets
//! ([`Backend`]: [`builtin`](super::builtin) or [`live`](super::live)), with the person
//! `manual` hooks ask and the HTTP clients a session uses. Below `target.rs`, which picks
//! the backend: the backends name this module, never `target`.

use crate::assert::Exchange;
use crate::endpoint::Endpoint;
use crate::runner::clients::Provided;
use crate::runner::error::TargetError;
use crate::runner::profile::{BodyEncoding, Profile};
use crate::scenario::model::{Capability, Decision, EndpointRef};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct Person {
    tell: Arc<dyn Fn(&str) + Send + Sync>,
    ask: Arc<Ask>,
}

/// A question put to a person, and their one line of answer.
type Ask = dyn Fn(&str) -> Option<String> + Send + Sync;

impl Person {
    /// A person reached through `tell` (a message) and `ask` (a question; one line of
    /// answer, `None` when there is none). `ask` may block: it runs on a blocking thread.
    pub fn new(
        tell: impl Fn(&str) + Send + Sync + 'static,
        ask: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Person {
        Person {
            tell: Arc::new(tell),
            ask: Arc::new(ask),
        }
    }

    /// No one: messages go nowhere, questions get no answer.
    pub fn nobody() -> Person {
        Person::new(|_| {}, |_| None)
    }

    /// Tells the person what to do now.
    pub fn tell(&self, what: &str) {
        (self.tell)(what)
    }

    /// Asks, waiting at most `timeout` for the answer.
    pub async fn ask(&self, question: String, timeout: Duration) -> Option<String> {
        let ask = self.ask.clone();
        let answer = tokio::task::spawn_blocking(move || ask(&question));
        tokio::time::timeout(timeout, answer).await.ok()?.ok()?
    }
}

impl Default for Person {
    fn default() -> Self {
        Person::nobody()
    }
}

impl fmt::Debug for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Person")
    }
}

/// A future a [`Backend`] returns.
pub(crate) type Fut<'a, T> = Pin<Box<dyn Future<Output = Result<T, TargetError>> + Send + 'a>>;

/// What differs between the builtin and a live target: how the user acts and how time
/// moves. The runner calls these through [`Session`] and never asks which it has.
pub(crate) trait Backend: Send + Sync + fmt::Debug {
    /// Approves or denies a user code as the user: the target's answer (2xx: done; 4xx:
    /// refused).
    fn decide<'a>(
        &'a self,
        s: &'a Session,
        user_code: &'a str,
        user: Option<&'a str>,
        approve: bool,
    ) -> Fut<'a, Exchange>;

    /// The user decides on an authorization request (`query` encoded): the URL opened and
    /// what the server answered (a redirect, or a page that did not redirect).
    fn consent<'a>(
        &'a self,
        s: &'a Session,
        query: String,
        decision: Decision,
        user: Option<&'a str>,
    ) -> Fut<'a, (String, Exchange)>;

    /// Revokes a connected app as the user.
    fn revoke_app<'a>(
        &'a self,
        s: &'a Session,
        client: &'a str,
        user: Option<&'a str>,
    ) -> Fut<'a, Exchange>;

    /// Moves the target's clock by `secs`; `false` when it cannot wait that long.
    fn advance<'a>(&'a self, s: &'a Session, secs: f64) -> Fut<'a, bool>;

    /// Why an advance of `secs` cannot be made, in words for a SKIP.
    fn cannot_wait(&self, secs: f64) -> String;

    /// Whether a consent's time is the server's alone (the harness's own requests), not a
    /// hook's process or a person's.
    fn consent_is_server_time(&self) -> bool {
        true
    }

    /// Now on the target's own clock, Unix seconds, when the backend can read it (the
    /// builtin's); else the session reckons it from the `Date` headers it saw.
    fn now(&self) -> Option<u64> {
        None
    }

    /// Ends the session (a builtin server stops).
    fn close(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// One scenario's connection to its target.
#[derive(Debug)]
pub(crate) struct Session {
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
    /// Where the target documents PKCE support, or "" (matrix BCP-6).
    pub pkce_documentation: String,
    pub(crate) endpoints: HashMap<Endpoint, String>,
    /// Only the endpoints discovery or the profile name are offered.
    pub(crate) discovered_only: bool,
    /// The target is known to send `iss` in authorization responses (its metadata's flag,
    /// or its profile): the harness rejects a response without it (RFC 9207 §2.4, ISS-7).
    pub(crate) iss_required: bool,
    /// Parameters added to every authorization request.
    pub(crate) authorization_params: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) backend: Box<dyn Backend>,
    /// Each user code seen in a device authorization response → its `verification_uri`
    /// and `verification_uri_complete`: where a `form` approval hook starts, as a user
    /// reading the device's screen would.
    pub(crate) verification: parking_lot::Mutex<HashMap<String, (String, Option<String>)>>,
    /// The target's clock less ours, seconds, from the `Date` of its latest response
    /// (matrix §17a: "now" is the target's clock).
    /// How races run on this target (matrix §24.4 `race: {n, rounds}`).
    pub(crate) race: crate::runner::profile::RaceSettings,
    /// Where the user's approval of an authorization request can be asked N times at
    /// once (`${approval_url}`, RACE-9): the builtin's test route, a profile's `race_hook`.
    pub(crate) approval_url: Option<String>,
    /// Shared by the sessions of one live target (a clock hook moves it for all).
    pub(crate) date_offset: Arc<parking_lot::Mutex<Option<i64>>>,
    /// The DPoP nonce each origin gave last (`DPoP-Nonce`, RFC 9449 §8, §9), for the
    /// next proof sent there.
    pub(crate) dpop_nonces: parking_lot::Mutex<HashMap<String, String>>,
}

/// The TLS settings of `profile` on a client builder.
pub(crate) fn tls(
    mut b: reqwest::ClientBuilder,
    profile: Option<&Profile>,
) -> Result<reqwest::ClientBuilder, TargetError> {
    if let Some(p) = profile {
        if p.tls.insecure {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        if let Some(ca) = &p.tls.ca_file {
            let certs = crate::runner::profile::ca_certificates(std::path::Path::new(ca))
                .map_err(|e| TargetError::Setup(format!("tls.ca_file {e}")))?;
            for cert in certs {
                b = b.add_root_certificate(cert);
            }
        }
    }
    Ok(b)
}

/// An HTTP client for a session: `follow`ing redirects or not, sharing `jar`.
pub(crate) fn client(
    follow: bool,
    timeout: Duration,
    profile: Option<&Profile>,
    jar: &Arc<reqwest::cookie::Jar>,
) -> Result<reqwest::Client, TargetError> {
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
        .map_err(|e| TargetError::Setup(format!("cannot build an HTTP client: {e}")))
}

impl Session {
    /// The URL a request's `endpoint:` names: a server endpoint where the target has it
    /// (its metadata or profile), else at its default path; a protected resource's mapped
    /// URL (the caller skips a step whose resource is unmapped: here, its default path);
    /// an API path on the target.
    pub fn url(&self, r: &EndpointRef) -> String {
        match r {
            EndpointRef::Known(e) => self.endpoint_url(*e),
            EndpointRef::Resource(name) => self
                .provided
                .resource_url(name)
                .map_or_else(|| format!("{}/{name}", self.base), str::to_string),
            EndpointRef::Api(path) => format!("{}{path}", self.base),
        }
    }

    /// The URL of a server endpoint on the target.
    pub fn endpoint_url(&self, e: Endpoint) -> String {
        match self.endpoints.get(&e) {
            Some(u) => u.clone(),
            None => format!("{}{}", self.base, e.path()),
        }
    }

    /// A literal `path:` (or an absolute URL) on the target.
    pub fn path_url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            return path.to_string();
        }
        format!("{}{path}", self.base)
    }

    /// The client id and the redirect URIs the target gives the suite's role `role`
    /// (`web` → `harness-web` on a live server; the same name on the builtin).
    pub(crate) fn role(&self, role: &str) -> Option<(&str, Vec<&str>)> {
        self.provided.role(role)
    }

    /// The secret of the client with id `client_id`: a profile secret of that name, else
    /// the secret of the client role that id plays.
    pub(crate) fn secret_of(&self, client_id: &str) -> Option<&str> {
        if let Some(s) = self.secrets.get(client_id) {
            return Some(s);
        }
        self.provided.secret_of_client(client_id)
    }

    /// Whether the target offers `endpoint`: the builtin every one; a live target with
    /// discovery those its metadata or profile name; one without, every one at its
    /// default path (a Noorle-shaped server).
    pub(crate) fn offers(&self, endpoint: Endpoint) -> bool {
        !self.discovered_only || self.endpoints.contains_key(&endpoint)
    }

    /// Moves the target's clock: the builtin's directly, a live one's through its hook,
    /// else real time passes when the profile allows waits that long (`wait_for_expiry`).
    /// `Ok(false)`: the advance is longer than the target can wait (the caller skips).
    pub async fn advance(&self, secs: f64) -> Result<bool, TargetError> {
        self.backend.advance(self, secs).await
    }

    /// Whether [`Session::consent`]'s time is the server's alone: the builtin's test route
    /// or a `follow` hook, not a command, an HTTP hook of the user's or a person.
    pub(crate) fn consent_is_server_time(&self) -> bool {
        self.backend.consent_is_server_time()
    }

    /// Why an advance of `secs` cannot be made on this target, in words for a SKIP.
    pub(crate) fn cannot_wait(&self, secs: f64) -> String {
        self.backend.cannot_wait(secs)
    }

    /// Waits `secs` between polls: a clock moves if there is one, else real time passes.
    pub async fn wait(&self, secs: f64) -> Result<(), TargetError> {
        if self.capabilities.contains(&Capability::Clock) && self.advance(secs).await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await;
        Ok(())
    }

    /// A request sent and its answer read.
    pub(crate) async fn fetch(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<Exchange, TargetError> {
        let resp = req.send().await?;
        crate::runner::http::to_exchange(resp).await
    }

    /// Approves or denies a user code as the user: the answer of the target (2xx: done;
    /// 4xx: refused), or an error when the hook itself failed.
    pub async fn decide(
        &self,
        user_code: &str,
        user: Option<&str>,
        approve: bool,
    ) -> Result<Exchange, TargetError> {
        self.backend.decide(self, user_code, user, approve).await
    }

    /// What the authorization server answered the user's decision on an authorization
    /// request: a redirect, or a page that did not redirect. An error when the hook failed.
    pub async fn consent(
        &self,
        query: &[(String, String)],
        decision: Decision,
        user: Option<&str>,
    ) -> Result<(String, Exchange), TargetError> {
        let mut query = query.to_vec();
        for (k, v) in &self.authorization_params {
            if !query.iter().any(|(name, _)| name == k) {
                query.push((k.clone(), v.clone()));
            }
        }
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&query)
            .finish();
        self.backend.consent(self, encoded, decision, user).await
    }

    /// Revokes a connected app as the user.
    pub async fn revoke_app(
        &self,
        client: &str,
        user: Option<&str>,
    ) -> Result<Exchange, TargetError> {
        self.backend.revoke_app(self, client, user).await
    }

    /// Now on the target's clock, Unix seconds: the builtin's own, else ours corrected by
    /// the `Date` of the target's latest response.
    pub(crate) fn target_now(&self) -> u64 {
        if let Some(now) = self.backend.now() {
            return now;
        }
        let ours = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let offset = self.date_offset.lock().unwrap_or(0);
        ours.saturating_add_signed(offset)
    }

    /// Whether the session knows the target's clock (its own, or a `Date` seen).
    pub(crate) fn knows_target_time(&self) -> bool {
        self.backend.now().is_some() || self.date_offset.lock().is_some()
    }

    /// Keeps the `DPoP-Nonce` a response from `url` carries, for the next proof sent to
    /// its origin.
    pub(crate) fn observe_dpop_nonce(&self, url: &str, ex: &Exchange) {
        if let (Some(nonce), Some(origin)) = (ex.header("dpop-nonce"), origin(url)) {
            self.dpop_nonces.lock().insert(origin, nonce.to_string());
        }
    }

    /// The DPoP nonce `url`'s origin gave last.
    pub(crate) fn dpop_nonce(&self, url: &str) -> Option<String> {
        origin(url).and_then(|o| self.dpop_nonces.lock().get(&o).cloned())
    }

    /// Notes the target's clock from a response's `Date` (RFC 9110 §6.6.1).
    pub(crate) fn observe_date(&self, ex: &Exchange) {
        let Some(date) = ex
            .header("date")
            .and_then(|d| httpdate::parse_http_date(d).ok())
        else {
            return;
        };
        let secs = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        };
        *self.date_offset.lock() = Some(secs(date) - secs(std::time::SystemTime::now()));
    }

    /// Ends the session (stops a builtin server).
    pub async fn close(self) {
        self.backend.close().await;
    }
}

/// The origin of `url` (scheme, host and port): where a DPoP nonce holds.
fn origin(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
}
