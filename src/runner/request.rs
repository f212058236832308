//! Requests as the runner sends them: a step's request built (endpoint, query, headers,
//! client authentication, body in the target's encoding) and sent, the response read under
//! a size limit, and every credential it carries registered with the redactor before
//! anything is summarized.

use crate::assert::Exchange;
use crate::runner::error::{TargetError, Transport};
use crate::runner::profile::BodyEncoding;
use crate::runner::result::ExchangeSummary;
use crate::runner::target::Session;
use crate::runner::StepError;
use crate::scenario::model::{Auth, Body, Destination, EndpointRef, Request};
use crate::scenario::vars::{is_sensitive_name, Redactor, Vars};
use base64::Engine;
use serde_json::Value;

/// Why a request failed, in words a user can act on.
pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    Transport::from(e).to_string()
}

/// The largest response body the runner reads.
pub(crate) const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// Reads a response into an [`Exchange`].
pub(crate) async fn to_exchange(resp: reqwest::Response) -> Result<Exchange, TargetError> {
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    // Read in chunks, so that an endless or enormous body is cut off, not buffered.
    let mut resp = resp;
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(TargetError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    let body = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).ok();
    Ok(Exchange {
        status,
        headers,
        body,
        json,
    })
}

pub(crate) fn cut(s: &str) -> String {
    const MAX: usize = 2048;
    if s.len() <= MAX {
        return s.to_string();
    }
    let end = s
        .char_indices()
        .map(|(i, _)| i)
        .take_while(|i| *i <= MAX)
        .last()
        .unwrap_or(0);
    format!("{}… ({} bytes)", &s[..end], s.len())
}

/// An exchange in the log, once its step has learned every secret (so redacted like the
/// reports): its line at `debug`, its bodies and headers at `trace`
/// (`OAUTH_HARNESS_LOG=oauth_harness=trace`).
pub(crate) fn log_exchange(s: &ExchangeSummary) {
    tracing::debug!("{} → {}", s.request, s.status);
    tracing::trace!(
        request_body = %s.request_body,
        response_headers = ?s.response_headers,
        response_body = %s.response_body,
        "exchange"
    );
}

pub(crate) fn summarize(
    red: &Redactor,
    method: &str,
    url: &str,
    body: &str,
    ex: &Exchange,
) -> ExchangeSummary {
    ExchangeSummary {
        request: red.redact(&format!("{method} {url}")),
        request_body: red.redact(&cut(body)),
        status: ex.status,
        response_headers: ex
            .headers
            .iter()
            .filter(|(k, _)| k != "date")
            .map(|(k, v)| red.redact(&format!("{k}: {v}")))
            .collect(),
        response_body: red.redact(&cut(&ex.body)),
    }
}

/// Registers every credential an exchange carries — JSON members and redirect parameters
/// whose names say they are credentials (`access_token`, `code`, `client_secret`…) — so
/// that no report, excerpt or message shows one, captured or not.
pub(crate) fn learn_secrets(red: &mut Redactor, ex: &Exchange) {
    fn walk(red: &mut Redactor, v: &Value) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match v {
                        Value::String(s) if is_sensitive_name(k) => red.add(s, k),
                        other => walk(red, other),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(red, i)),
            _ => {}
        }
    }
    if let Some(j) = &ex.json {
        walk(red, j);
    }
    if let Some(loc) = ex.header("location") {
        if let Ok(u) = url::Url::parse(loc) {
            let frag: Vec<(String, String)> = u
                .fragment()
                .map(|f| {
                    url::form_urlencoded::parse(f.as_bytes())
                        .into_owned()
                        .collect()
                })
                .unwrap_or_default();
            for (k, v) in u.query_pairs().into_owned().chain(frag) {
                if is_sensitive_name(&k) {
                    red.add(&v, &k);
                }
            }
        }
    }
    // Session cookies are credentials of the signed-in user.
    for (name, value) in &ex.headers {
        if name == "set-cookie" {
            if let Some((_, v)) = value.split(';').next().and_then(|kv| kv.split_once('=')) {
                red.add(v.trim(), "cookie");
            }
        }
    }
    // Hidden form fields of HTML pages (a CSRF token, a code carried through a form).
    if ex.json.is_none() && ex.body.contains("<input") {
        static HIDDEN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r#"name="([^"]+)"\s+value="([^"]*)""#)
                .unwrap_or_else(|_| unreachable!("a valid pattern"))
        });
        for c in HIDDEN.captures_iter(&ex.body) {
            if is_sensitive_name(&c[1]) {
                red.add(&html_escape::decode_html_entities(&c[2]), &c[1]);
            }
        }
    }
}

/// Registers the credentials a request sends (form or JSON fields with credential names).
fn learn_sent_secrets(red: &mut Redactor, pairs: &[(String, String)]) {
    for (k, v) in pairs {
        if is_sensitive_name(k) {
            red.add(v, k);
        }
    }
}

fn form_component(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Builds and sends one request.
pub(crate) async fn send(
    session: &Session,
    vars: &mut Vars,
    r: &Request,
) -> Result<(Exchange, ExchangeSummary), StepError> {
    let text = |vars: &mut Vars, s: &str| vars.text(s).map_err(StepError::from);
    let url = target_url(session, vars, r)?;
    let method = reqwest::Method::from_bytes(r.method.to_ascii_uppercase().as_bytes())
        .map_err(|e| StepError::Step(format!("method: {e}")))?;
    let client = if r.follow_redirects {
        &session.http_follow
    } else {
        &session.http
    };
    let mut req = client.request(method.clone(), &url);
    for (k, v) in &r.headers.0 {
        req = req.header(text(vars, k)?, text(vars, v)?);
    }
    let (req, body_auth) = authenticate(req, vars, r.auth.as_ref())?;
    let (req, body_text) = with_body(session, req, vars, r, &body_auth)?;
    let resp = req.send().await.map_err(TargetError::from)?;
    let ex = to_exchange(resp).await?;
    learn_secrets(&mut vars.redactor, &ex);
    remember_verification(session, &ex);
    let summary = summarize(&vars.redactor, method.as_str(), &url, &body_text, &ex);
    Ok((ex, summary))
}

/// Keeps where a device authorization response sends its user (RFC 8628 §3.2), by user code.
fn remember_verification(session: &Session, ex: &Exchange) {
    let Some(j) = &ex.json else { return };
    let text = |k: &str| {
        j.get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    if let (Some(code), Some(uri)) = (text("user_code"), text("verification_uri")) {
        session
            .verification
            .lock()
            .insert(code, (uri, text("verification_uri_complete")));
    }
}

/// The request's URL: its endpoint or path on the target, with its query.
fn target_url(session: &Session, vars: &mut Vars, r: &Request) -> Result<String, StepError> {
    let text = |vars: &mut Vars, s: &str| vars.text(s).map_err(StepError::from);
    let mut url = match &r.to {
        // A protected resource the target does not map: only this step is SKIPPED, naming
        // it (the scenario's other steps need none).
        Destination::Endpoint(EndpointRef::Resource(name))
            if !session.provided.has(&format!("resource.{name}.url")) =>
        {
            return Err(StepError::Skip(
                session
                    .provided
                    .why_missing(&format!("resource.{name}.url")),
            ));
        }
        Destination::Endpoint(e) => session.url(e),
        Destination::Path(p) => session.path_url(&text(vars, p)?),
    };
    if !r.query.0.is_empty() {
        let mut pairs = Vec::new();
        for (k, v) in &r.query.0 {
            pairs.push((text(vars, k)?, text(vars, v)?));
        }
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(
            &url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish(),
        );
    }
    Ok(url)
}

/// The request's credentials: a Bearer or Basic header on `req`, or the pairs that go in
/// the body (client_secret_post, public clients).
fn authenticate(
    mut req: reqwest::RequestBuilder,
    vars: &mut Vars,
    auth: Option<&Auth>,
) -> Result<(reqwest::RequestBuilder, Vec<(String, String)>), StepError> {
    let text = |vars: &mut Vars, s: &str| vars.text(s).map_err(StepError::from);
    // Client credentials that go in the body (client_secret_post, public clients).
    let mut body_auth: Vec<(String, String)> = Vec::new();
    match auth {
        Some(Auth::Bearer { token }) => {
            let token = text(vars, token)?;
            vars.redactor.add(&token, "access_token");
            req = req.header("authorization", format!("Bearer {token}"));
        }
        Some(auth) => {
            let (client, secret) = auth.client_and_secret().map_err(StepError::Step)?;
            let client = match client {
                Some(c) => text(vars, &c)?,
                None => String::new(),
            };
            let secret = match secret {
                Some(s) => Some(text(vars, &s)?),
                None => None,
            };
            match (auth, secret) {
                (Auth::Basic { .. }, Some(secret)) => {
                    // RFC 6749 §2.3.1: form-urlencode, then base64 (TOK-16).
                    vars.redactor.add(&secret, "client_secret");
                    let raw = format!("{}:{}", form_component(&client), form_component(&secret));
                    let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
                    vars.redactor.add(&encoded, "basic_credentials");
                    req = req.header("authorization", format!("Basic {encoded}"));
                }
                (_, Some(secret)) => {
                    body_auth.push(("client_id".into(), client));
                    body_auth.push(("client_secret".into(), secret));
                }
                (_, None) => body_auth.push(("client_id".into(), client)),
            }
        }
        None => {}
    }
    Ok((req, body_auth))
}

/// The request's body (`body:` in the target's encoding, `form:`, `json:`, `raw:`) with
/// the body credentials added, and its text for the report.
fn with_body(
    session: &Session,
    mut req: reqwest::RequestBuilder,
    vars: &mut Vars,
    r: &Request,
    body_auth: &[(String, String)],
) -> Result<(reqwest::RequestBuilder, String), StepError> {
    let text = |vars: &mut Vars, s: &str| vars.text(s).map_err(StepError::from);
    let mut body_text = String::new();
    // `body:` takes the target's encoding.
    let as_json: Option<serde_yaml::Value>;
    let (json_body, form_body, raw_body) = match &r.body {
        Some(Body::Params(pairs)) if session.encoding == BodyEncoding::Json => {
            let mut m = serde_yaml::Mapping::new();
            for (k, v) in &pairs.0 {
                m.insert(
                    serde_yaml::Value::String(k.clone()),
                    serde_yaml::Value::String(v.clone()),
                );
            }
            as_json = Some(serde_yaml::Value::Mapping(m));
            (as_json.as_ref(), None, None)
        }
        Some(Body::Params(pairs) | Body::Form(pairs)) => (None, Some(pairs), None),
        Some(Body::Json(v)) => (Some(v), None, None),
        Some(Body::Raw(raw)) => (None, None, Some(raw)),
        None => (None, None, None),
    };
    if let Some(json) = json_body {
        let mut v = vars.json(json)?;
        if !body_auth.is_empty() && !v.is_object() {
            return Err(StepError::Step(
                "the client's credentials go in the body, and this JSON body is not an object: nowhere to put them".into(),
            ));
        }
        if let Value::Object(m) = &mut v {
            for (k, val) in body_auth {
                m.insert(k.clone(), Value::String(val.clone()));
            }
            let sent: Vec<(String, String)> = m
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect();
            learn_sent_secrets(&mut vars.redactor, &sent);
        }
        body_text = v.to_string();
        req = req
            .header("content-type", "application/json")
            .body(body_text.clone());
    } else if let Some(raw) = raw_body {
        // Refused at load (scenario::check_request); never dropped in silence.
        if !body_auth.is_empty() {
            return Err(StepError::Step(
                "the client's credentials go in the body, and a `raw:` body is sent as written"
                    .into(),
            ));
        }
        body_text = text(vars, &raw.body)?;
        req = req
            .header("content-type", text(vars, &raw.content_type)?)
            .body(body_text.clone());
    } else if form_body.is_some() || !body_auth.is_empty() {
        let mut pairs = Vec::new();
        if let Some(form) = form_body {
            for (k, v) in &form.0 {
                pairs.push((text(vars, k)?, text(vars, v)?));
            }
        }
        pairs.extend(body_auth.iter().cloned());
        learn_sent_secrets(&mut vars.redactor, &pairs);
        body_text = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        req = req
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body_text.clone());
    }
    Ok((req, body_text))
}
