//! The browser of a redirect-based client under test (`flow: code`): given the
//! authorization URL the client opened, it loads it as a browser would, consents as the
//! test user through the reference server's test route (same validation as the real
//! endpoint), and delivers the callback to the client's loopback `redirect_uri` (RFC 8252
//! §7.3) — as the server sent it, or, to judge CLIENT-9, with an attacker's code and a
//! forged or missing `state`.
//!
//! It runs in two ways: as `oauth-harness browse URL`, the command a client finds in
//! `$BROWSER` (started in the background, so a client that waits for its browser to
//! return before serving its callback is not deadlocked), or in-process when the URL is
//! read from the client's output (`--open-url-from stdout`).

use crate::client::scenario::Callback;
use crate::endpoint::Endpoint;
use std::time::Duration;

/// The user whose consent the browser gives.
pub(crate) const USER: &str = "alice";

/// The attacker whose code a forged callback carries (a second fixture account, so the
/// judgement knows the code by its user).
pub(crate) const ATTACKER: &str = "bob";

/// How the browser plays its part.
#[derive(Debug, Clone)]
pub struct Browse {
    /// The server's base URL.
    pub base: String,
    /// Whether the user approves.
    pub approve: bool,
    /// The callback delivered.
    pub callback: Callback,
}

impl Browse {
    /// The part as the environment of `oauth-harness browse` gives it
    /// (`OAUTH_HARNESS_BASE_URL`, `OAUTH_HARNESS_USER_DECISION`, `OAUTH_HARNESS_CALLBACK`).
    pub(crate) fn from_env() -> Result<Browse, String> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
        let base = var("OAUTH_HARNESS_BASE_URL")?;
        let approve = match var("OAUTH_HARNESS_USER_DECISION")?.as_str() {
            "approve" => true,
            "deny" => false,
            other => return Err(format!("OAUTH_HARNESS_USER_DECISION={other}")),
        };
        let callback = var("OAUTH_HARNESS_CALLBACK")?;
        let callback = Callback::named(&callback)
            .ok_or_else(|| format!("OAUTH_HARNESS_CALLBACK={callback}"))?;
        Ok(Browse {
            base,
            approve,
            callback,
        })
    }

    /// The environment that [`Browse::from_env`] reads.
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            (
                "OAUTH_HARNESS_USER_DECISION",
                if self.approve { "approve" } else { "deny" }.to_string(),
            ),
            ("OAUTH_HARNESS_CALLBACK", self.callback.name().to_string()),
        ]
    }
}

/// Whether `text` is an authorization URL of the server at `base`.
pub(crate) fn is_authorization_url(base: &str, text: &str) -> bool {
    text.strip_prefix(base)
        .and_then(|rest| rest.strip_prefix(Endpoint::Authorization.path()))
        .is_some_and(|rest| rest.starts_with('?'))
}

/// The first authorization URL of the server at `base` in a line of output.
pub(crate) fn find_authorization_url<'a>(base: &str, line: &'a str) -> Option<&'a str> {
    line.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
        .find(|word| is_authorization_url(base, word))
}

/// Opens `url` as the browser: what happened, in one line (no secret in it: codes and
/// states are not printed), or why it could not.
pub async fn visit(part: &Browse, url: &str) -> Result<String, String> {
    if !is_authorization_url(&part.base, url) {
        return Err(format!(
            "not an authorization request of {}{}: the browser opens only those",
            part.base,
            Endpoint::Authorization.path()
        ));
    }
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    // The request as the client made it reaches the real endpoint (its log is the
    // client's authorization request); the test route then gives the user's consent.
    http.get(url).send().await.map_err(|e| e.to_string())?;
    let mut consent = format!("{}/_test/authorize?{query}&user={USER}", part.base);
    if !part.approve {
        consent.push_str("&decision=deny");
    }
    let redirect = location(&http, &consent).await?;
    let callback = match part.callback {
        Callback::Honest => redirect,
        Callback::ForgedState | Callback::MissingState => forged(&http, part, query).await?,
    };
    deliver(&http, &callback, part.callback).await
}

/// The server's redirect for a consent request.
async fn location(http: &reqwest::Client, url: &str) -> Result<url::Url, String> {
    let resp = http.get(url).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let loc = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match loc {
        Some(loc) if status.is_redirection() => {
            url::Url::parse(&loc).map_err(|e| format!("the server's redirect: {e}"))
        }
        _ => {
            let body = resp.text().await.unwrap_or_default();
            let reason = body
                .split("<p>")
                .nth(1)
                .and_then(|p| p.split('<').next())
                .unwrap_or("no reason given");
            Err(format!(
                "the server refused the authorization request with HTTP {status} and no redirect: {reason}"
            ))
        }
    }
}

/// An attacker's callback: a code the server issued to the attacker for the same client
/// and redirect URI, with a `state` that is not the client's (or none).
async fn forged(http: &reqwest::Client, part: &Browse, query: &str) -> Result<url::Url, String> {
    let theirs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "client_id" || k == "redirect_uri" || k == "scope")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let verifier = format!("{}{}", uuid::Uuid::new_v4().simple(), "attacker-verifier");
    let challenge = crate::oauth::s256(&verifier);
    let attack = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&theirs)
        .append_pair("response_type", "code")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "attacker-state")
        .append_pair("user", ATTACKER)
        .finish();
    let theirs = location(http, &format!("{}/_test/authorize?{attack}", part.base)).await?;
    let param = |name: &str| {
        theirs
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let code = param("code").ok_or("the server gave the attacker no code")?;
    // The server's own `iss` comes along (RFC 9207): the response is genuine but for the
    // `state`, so only the `state` check can refuse it.
    let iss = param("iss");
    let mut callback = theirs.clone();
    callback.set_query(None);
    {
        let mut q = callback.query_pairs_mut();
        q.append_pair("code", &code);
        if part.callback == Callback::ForgedState {
            q.append_pair("state", "forged-by-oauth-harness");
        }
        if let Some(iss) = &iss {
            q.append_pair("iss", iss);
        }
    }
    Ok(callback)
}

/// Sends the callback to the client's loopback listener, waiting a little for it to
/// listen.
async fn deliver(
    http: &reqwest::Client,
    callback: &url::Url,
    kind: Callback,
) -> Result<String, String> {
    let loopback = callback.scheme() == "http"
        && matches!(
            callback.host_str(),
            Some("127.0.0.1") | Some("[::1]") | Some("localhost")
        );
    let shown = format!(
        "{}://{}{}",
        callback.scheme(),
        callback.host_str().unwrap_or(""),
        callback.port().map(|p| format!(":{p}")).unwrap_or_default()
    );
    if !loopback {
        return Err(format!(
            "the redirect goes to {shown}, not a loopback address (RFC 8252 §7.3)"
        ));
    }
    let mut last = String::new();
    for _ in 0..50 {
        match http.get(callback.as_str()).send().await {
            Ok(resp) => {
                return Ok(format!(
                    "delivered the {} callback to {shown}{}: HTTP {}",
                    kind.name(),
                    callback.path(),
                    resp.status().as_u16()
                ))
            }
            Err(e) if e.is_connect() => {
                last = e.to_string();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(format!("the callback to {shown}: {e}")),
        }
    }
    Err(format!("nothing listens on {shown}: {last}"))
}
