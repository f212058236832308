//! Requests as the runner sends them: a step's request built (endpoint, query, headers,
//! client authentication, body in the target's encoding) and sent, the response read under
//! a size limit, and every credential it carries registered with the redactor before
//! anything is summarized.

use crate::assert::Exchange;
use crate::jose::Signer;
use crate::keys::Keys;
use crate::runner::error::TargetError;
use crate::runner::http::to_exchange;
use crate::runner::profile::BodyEncoding;
use crate::runner::result::ExchangeSummary;
use crate::runner::session::Session;
use crate::runner::StepError;
use crate::scenario::model::{
    Auth, Body, ClientAssertion, Destination, DpopProof, EndpointRef, HtuSpelling, KeyName,
    Request, SignWith,
};
use crate::scenario::template::{Template, Tree};
use crate::scenario::vars::{is_sensitive_name, Redactor, Vars};
use base64::Engine;
use serde_json::Value;

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

/// A step's request with every template resolved: exactly what goes on the wire, and the
/// credentials in it, before anything is sent (hurl's `eval_request`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RequestSpec {
    pub method: reqwest::Method,
    pub url: String,
    /// Headers in order, the credentials' ones (`Authorization`) included.
    pub headers: Vec<(String, String)>,
    /// The body: its content type and text.
    pub body: Option<(String, String)>,
    pub follow_redirects: bool,
    /// Every credential the request carries, with its kind, for the redactor.
    pub secrets: Vec<(String, String)>,
}

/// What signing a client assertion needs of the target: its issuer (the default `aud`),
/// its clock, and the keys of its roles.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignCtx<'a> {
    /// The target's issuer identifier.
    pub issuer: &'a str,
    /// Now on the target's clock, Unix seconds.
    pub now: u64,
    /// The roles' private keys.
    pub keys: &'a Keys,
    /// The DPoP nonce the request's origin gave last (RFC 9449 §8, §9).
    pub dpop_nonce: Option<&'a str>,
}

/// Resolves `r` on `session`: its URL (a step calling an unmapped resource is skipped),
/// then [`resolve_at`].
pub(crate) fn resolve(
    session: &Session,
    vars: &mut Vars,
    r: &Request,
) -> Result<RequestSpec, StepError> {
    let url = target_url(session, vars, r)?;
    let nonce = session.dpop_nonce(&url);
    let ctx = SignCtx {
        issuer: &session.issuer,
        now: session.target_now(),
        keys: &session.provided.keys,
        dpop_nonce: nonce.as_deref(),
    };
    resolve_at(url, session.encoding, &ctx, vars, r)
}

/// Resolves `r` sent to `url`, `body:` pairs in `encoding`: method, headers, client
/// authentication and body, with the credentials they carry. Sends nothing.
pub(crate) fn resolve_at(
    url: String,
    encoding: BodyEncoding,
    ctx: &SignCtx,
    vars: &mut Vars,
    r: &Request,
) -> Result<RequestSpec, StepError> {
    let text = |vars: &mut Vars, s: &Template| vars.text(s).map_err(StepError::from);
    let method = reqwest::Method::from_bytes(r.method.to_ascii_uppercase().as_bytes())
        .map_err(|e| StepError::Step(format!("method: {e}")))?;
    let mut spec = RequestSpec {
        method,
        url,
        headers: Vec::new(),
        body: None,
        follow_redirects: r.follow_redirects,
        secrets: Vec::new(),
    };
    for (k, v) in &r.headers.0 {
        spec.headers.push((text(vars, k)?, text(vars, v)?));
    }
    let body_auth = authenticate(&mut spec, ctx, vars, r.auth.as_ref())?;
    if let Some(d) = &r.dpop {
        dpop_headers(&mut spec, ctx, vars, d, r.auth.as_ref())?;
    }
    spec.body = body(&mut spec.secrets, encoding, vars, r, &body_auth)?;
    Ok(spec)
}

/// The request's `DPoP` header(s) (RFC 9449 §4.1): the proof written, or one signed for
/// this request as `d` says.
fn dpop_headers(
    spec: &mut RequestSpec,
    ctx: &SignCtx,
    vars: &mut Vars,
    d: &DpopProof,
    auth: Option<&Auth>,
) -> Result<(), StepError> {
    let token = match auth {
        Some(Auth::Bearer { token } | Auth::Dpop { token }) => Some(vars.text(token)?),
        _ => None,
    };
    let proof = match &d.proof {
        Some(t) => vars.text(t)?,
        None => dpop_proof(spec, ctx, vars, d, token.as_deref())?,
    };
    if let Some(name) = &d.save_as {
        vars.set(name, Value::String(proof.clone()));
    }
    let mut proofs = vec![proof];
    if d.twice {
        proofs.push(dpop_proof(spec, ctx, vars, d, token.as_deref())?);
    }
    for p in proofs {
        spec.secrets.push((p.clone(), "dpop_proof".into()));
        spec.headers.push(("DPoP".into(), p));
    }
    Ok(())
}

/// A JWT's `claims:` and `header:` edits applied: each member set, or left out for `null`.
fn apply_edits(
    vars: &mut Vars,
    edits: [(&Option<Tree>, &mut serde_json::Map<String, Value>); 2],
) -> Result<(), StepError> {
    for (tree, into) in edits {
        if let Some(Value::Object(m)) = tree.as_ref().map(|t| vars.json(t)).transpose()? {
            for (k, v) in m {
                if v.is_null() {
                    into.remove(&k);
                } else {
                    into.insert(k, v);
                }
            }
        }
    }
    Ok(())
}

/// `url` spelled otherwise, meaning the same (RFC 3986 §6.2.2–§6.2.3); a URL that names
/// its port has no default port to write out (the step is SKIPPED).
fn respell(url: &str, s: HtuSpelling) -> Result<String, StepError> {
    let parsed =
        url::Url::parse(url).map_err(|e| StepError::Step(format!("dpop.htu_spelling: {e}")))?;
    let host = parsed.host_str().unwrap_or_default();
    let rest = &url[url.find(host).map_or(0, |i| i + host.len())..];
    match s {
        HtuSpelling::UpperCase => Ok(format!(
            "{}://{}{rest}",
            parsed.scheme().to_ascii_uppercase(),
            host.to_ascii_uppercase()
        )),
        HtuSpelling::DefaultPort => match (parsed.port(), parsed.port_or_known_default()) {
            (None, Some(port)) => Ok(format!("{}://{host}:{port}{rest}", parsed.scheme())),
            _ => Err(StepError::Skip(format!(
                "dpop.htu_spelling: default_port: {url} names its port, so no default port can be written out"
            ))),
        },
    }
}

/// A DPoP proof for `spec` (matrix §17a's `P(J; m; u; …)`) with `d`'s deviations.
fn dpop_proof(
    spec: &RequestSpec,
    ctx: &SignCtx,
    vars: &mut Vars,
    d: &DpopProof,
    token: Option<&str>,
) -> Result<String, StepError> {
    let key_error = |e: crate::jose::KeyError| StepError::Step(format!("dpop.key: {e}"));
    let name = d.key.unwrap_or(KeyName::J);
    let key = ctx.keys.get(name, None).map_err(key_error)?;
    let htm = match &d.htm {
        Some(t) => vars.text(t)?,
        None => spec.method.to_string(),
    };
    let htu = match (&d.htu, d.htu_spelling) {
        (Some(t), _) => vars.text(t)?,
        (None, Some(s)) => respell(&spec.url, s)?,
        (None, None) => spec.url.clone(),
    };
    let ath_of = d.ath_of.as_ref().map(|t| vars.text(t)).transpose()?;
    let now = i64::try_from(ctx.now).unwrap_or(i64::MAX);
    let mut claims = crate::dpop::Claims {
        htm: &htm,
        htu: &htu,
        iat: now,
        nonce: ctx.dpop_nonce,
        access_token: ath_of.as_deref().or(token),
    }
    .to_map();
    for (k, offset) in &d.times {
        claims.insert(k.clone(), Value::from(now.saturating_add(*offset)));
    }
    let mut header = crate::dpop::header(&key);
    if d.private_jwk {
        let private = key.private_jwk().clone();
        // The private member goes on the wire only inside the (redacted) proof.
        if let Some(d) = private.get("d").and_then(Value::as_str) {
            vars.redactor.add(d, "private_key");
        }
        header.insert("jwk".into(), Value::Object(private));
    }
    apply_edits(vars, [(&d.claims, &mut claims), (&d.header, &mut header)])?;
    let other = d
        .sign_with
        .map(|n| ctx.keys.get(n, None))
        .transpose()
        .map_err(key_error)?;
    let public_jwk = crate::jose::canonical_json(&Value::Object(key.public_jwk().clone()));
    let signer = match (d.sign.unwrap_or(SignWith::Key), &other) {
        (SignWith::None, _) => Signer::Unsigned,
        (SignWith::HmacPublicJwk | SignWith::HmacPublicPem, _) => {
            header.insert("alg".into(), Value::from("HS256"));
            Signer::Hmac(public_jwk.as_bytes())
        }
        (SignWith::Key, Some(o)) => Signer::Key(o),
        (SignWith::Key, None) => Signer::Key(&key),
    };
    if matches!(signer, Signer::Unsigned) {
        header.insert("alg".into(), Value::from("none"));
    }
    crate::jose::compact(&header, &claims, signer).map_err(StepError::Step)
}

/// Builds and sends one request: [`resolve`], its credentials registered, then the
/// exchange, read and summarized.
pub(crate) async fn send(
    session: &Session,
    vars: &mut Vars,
    r: &Request,
) -> Result<(Exchange, ExchangeSummary), StepError> {
    let (ex, summary) = send_once(session, vars, r).await?;
    // RFC 9449 §8, §9: a client asked for a nonce sends the request again with it.
    let retry = r.dpop.as_ref().is_some_and(DpopProof::retries_nonce)
        && asks_for_nonce(&ex)
        && ex.header("dpop-nonce").is_some();
    if !retry {
        return Ok((ex, summary));
    }
    let (ex, mut summary) = send_once(session, vars, r).await?;
    summary.request = format!(
        "{} (sent again with the server's DPoP nonce, after use_dpop_nonce)",
        summary.request
    );
    Ok((ex, summary))
}

/// Whether an answer asks for a DPoP nonce: 400 `use_dpop_nonce` from an authorization
/// server (RFC 9449 §8), 401 with that error in a `DPoP` challenge from a resource (§9).
pub(crate) fn asks_for_nonce(ex: &Exchange) -> bool {
    match ex.status {
        400 => {
            ex.json
                .as_ref()
                .and_then(|j| j.get("error"))
                .and_then(Value::as_str)
                == Some("use_dpop_nonce")
        }
        401 => ex
            .headers
            .iter()
            .any(|(k, v)| k == "www-authenticate" && v.contains("use_dpop_nonce")),
        _ => false,
    }
}

/// [`send`] without the nonce retry.
async fn send_once(
    session: &Session,
    vars: &mut Vars,
    r: &Request,
) -> Result<(Exchange, ExchangeSummary), StepError> {
    know_target_time(session, r).await;
    let spec = resolve(session, vars, r)?;
    for (value, kind) in &spec.secrets {
        vars.redactor.add(value, kind);
    }
    let client = if spec.follow_redirects {
        &session.http_follow
    } else {
        &session.http
    };
    let mut req = client.request(spec.method.clone(), &spec.url);
    for (k, v) in &spec.headers {
        req = req.header(k, v);
    }
    if let Some((content_type, text)) = &spec.body {
        req = req.header("content-type", content_type).body(text.clone());
    }
    let resp = req.send().await.map_err(TargetError::from)?;
    let ex = to_exchange(resp).await?;
    learn_secrets(&mut vars.redactor, &ex);
    remember_verification(session, &ex);
    session.observe_date(&ex);
    session.observe_dpop_nonce(&spec.url, &ex);
    let body_text = spec.body.as_ref().map_or("", |(_, t)| t.as_str());
    let summary = summarize(
        &vars.redactor,
        spec.method.as_str(),
        &spec.url,
        body_text,
        &ex,
    );
    Ok((ex, summary))
}

/// Before a request that signs a client assertion: the target's clock, read from the
/// `Date` of any answer when the session has not seen one (an assertion's times are the
/// target's, matrix §17a).
pub(crate) async fn know_target_time(session: &Session, r: &Request) {
    let signs = matches!(
        r.auth,
        Some(Auth::PrivateKeyJwt(_) | Auth::ClientSecretJwt(_))
    ) || r.dpop.as_ref().is_some_and(|d| d.proof.is_none());
    if signs && !session.knows_target_time() {
        if let Ok(ex) = session.fetch(session.http.get(&session.base)).await {
            session.observe_date(&ex);
        }
    }
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
    let text = |vars: &mut Vars, s: &Template| vars.text(s).map_err(StepError::from);
    let mut url = match &r.to {
        // A protected resource the target does not map: only this step is SKIPPED, naming
        // it (the scenario's other steps need none).
        Destination::Endpoint(EndpointRef::Resource(name))
            if session.provided.resource_url(name).is_none() =>
        {
            return Err(StepError::Skip(session.provided.why_no_resource(name)));
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

/// The request's credentials: a Bearer or Basic header on `spec`, or the pairs that go in
/// the body (client_secret_post, public clients), returned.
fn authenticate(
    spec: &mut RequestSpec,
    ctx: &SignCtx,
    vars: &mut Vars,
    auth: Option<&Auth>,
) -> Result<Vec<(String, String)>, StepError> {
    let text = |vars: &mut Vars, s: &Template| vars.text(s).map_err(StepError::from);
    // Client credentials that go in the body (client_secret_post, public clients).
    let mut body_auth: Vec<(String, String)> = Vec::new();
    match auth {
        Some(a @ (Auth::PrivateKeyJwt(c) | Auth::ClientSecretJwt(c))) => {
            let (client, secret) = a.client_and_secret().map_err(StepError::Step)?;
            let client = client.map(|c| text(vars, &c)).transpose()?;
            let secret = secret.map(|s| text(vars, &s)).transpose()?;
            let private = matches!(a, Auth::PrivateKeyJwt(_));
            let jwt =
                client_assertion(ctx, vars, c, private, client.as_deref(), secret.as_deref())?;
            if let Some(s) = secret {
                spec.secrets.push((s, "client_secret".into()));
            }
            spec.secrets.push((jwt.clone(), "client_assertion".into()));
            if let Some(name) = &c.save_as {
                vars.set(name, Value::String(jwt.clone()));
            }
            let kind = match &c.assertion_type {
                Some(t) => text(vars, t)?,
                None => crate::server::assertion::JWT_BEARER.to_string(),
            };
            if let Some(id) = &c.client_id {
                body_auth.push(("client_id".into(), text(vars, id)?));
            }
            body_auth.push(("client_assertion_type".into(), kind));
            body_auth.push(("client_assertion".into(), jwt));
        }
        Some(Auth::Bearer { token }) => {
            let token = text(vars, token)?;
            spec.secrets.push((token.clone(), "access_token".into()));
            spec.headers
                .push(("authorization".into(), format!("Bearer {token}")));
        }
        Some(Auth::Dpop { token }) => {
            let token = text(vars, token)?;
            spec.secrets.push((token.clone(), "access_token".into()));
            spec.headers
                .push(("authorization".into(), format!("DPoP {token}")));
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
                    let encoded = crate::oauth::basic_credentials(&client, &secret);
                    spec.secrets.push((secret, "client_secret".into()));
                    spec.secrets
                        .push((encoded.clone(), "basic_credentials".into()));
                    spec.headers
                        .push(("authorization".into(), format!("Basic {encoded}")));
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
    Ok(body_auth)
}

/// A client assertion (RFC 7523 §2.2) as `c` asks: the one written (`assertion:`), or a
/// new one with the defaults of matrix §17a and `c`'s deviations, signed with the role's
/// key (`private`) or secret.
fn client_assertion(
    ctx: &SignCtx,
    vars: &mut Vars,
    c: &ClientAssertion,
    private: bool,
    client: Option<&str>,
    secret: Option<&str>,
) -> Result<String, StepError> {
    if let Some(t) = &c.assertion {
        return vars.text(t).map_err(StepError::from);
    }
    let client = client.unwrap_or_default();
    let now = i64::try_from(ctx.now).unwrap_or(i64::MAX);
    let mut claims = serde_json::Map::new();
    for (k, v) in [
        ("iss", Value::from(client)),
        ("sub", Value::from(client)),
        ("aud", Value::from(ctx.issuer)),
        ("exp", Value::from(now + 60)),
        ("iat", Value::from(now)),
        ("jti", Value::from(crate::oauth::random_token())),
    ] {
        claims.insert(k.into(), v);
    }
    for (k, offset) in &c.times {
        claims.insert(k.clone(), Value::from(now.saturating_add(*offset)));
    }
    let mut header = serde_json::Map::new();
    apply_edits(vars, [(&c.claims, &mut claims), (&c.header, &mut header)])?;
    let key_error = |e: crate::jose::KeyError| StepError::Step(format!("auth.key: {e}"));
    let role = c.role.as_deref();
    let key = ctx
        .keys
        .get(c.key.unwrap_or(KeyName::K), role)
        .map_err(key_error)?;
    let public_jwk = crate::jose::canonical_json(&Value::Object(key.public_jwk().clone()));
    let public_pem = key.public_pem();
    let signer = match c.sign.unwrap_or(SignWith::Key) {
        SignWith::None => Signer::Unsigned,
        SignWith::HmacPublicJwk => Signer::Hmac(public_jwk.as_bytes()),
        SignWith::HmacPublicPem => Signer::Hmac(public_pem.as_bytes()),
        SignWith::Key if private || c.key.is_some() => Signer::Key(&key),
        SignWith::Key => Signer::Hmac(secret.unwrap_or_default().as_bytes()),
    };
    if c.tamper {
        // Signed as issued, then one byte of the payload changed: `jti`'s last character.
        let jwt = crate::jose::compact(&header, &claims, signer).map_err(StepError::Step)?;
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut changed = jti.clone();
        let last = if changed.pop() == Some('A') { 'B' } else { 'A' };
        changed.push(last);
        claims.insert("jti".into(), Value::from(changed));
        let (head, rest) = jwt.split_once('.').unwrap_or_default();
        let signature = rest.rsplit_once('.').map(|(_, s)| s).unwrap_or_default();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Value::Object(claims).to_string());
        return Ok(format!("{head}.{payload}.{signature}"));
    }
    crate::jose::compact(&header, &claims, signer).map_err(StepError::Step)
}

/// The request's body (`body:` in the target's encoding, `form:`, `json:`, `raw:`) with
/// the body credentials added: its content type and text; the credentials it sends go to
/// `secrets`.
fn body(
    secrets: &mut Vec<(String, String)>,
    encoding: BodyEncoding,
    vars: &mut Vars,
    r: &Request,
    body_auth: &[(String, String)],
) -> Result<Option<(String, String)>, StepError> {
    let text = |vars: &mut Vars, s: &Template| vars.text(s).map_err(StepError::from);
    let sent = |secrets: &mut Vec<(String, String)>, pairs: &[(String, String)]| {
        for (k, v) in pairs {
            if is_sensitive_name(k) {
                secrets.push((v.clone(), k.clone()));
            }
        }
    };
    // `body:` takes the target's encoding.
    let as_json: Option<Tree>;
    let (json_body, form_body, raw_body) = match &r.body {
        Some(Body::Params(pairs)) if encoding == BodyEncoding::Json => {
            let m = pairs
                .0
                .iter()
                .map(|(k, v)| (k.clone(), Tree::Text(v.clone())))
                .collect();
            as_json = Some(Tree::Map(m));
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
            let pairs: Vec<(String, String)> = m
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect();
            sent(secrets, &pairs);
        }
        return Ok(Some(("application/json".into(), v.to_string())));
    }
    if let Some(raw) = raw_body {
        // Refused at load (scenario::check_request); never dropped in silence.
        if !body_auth.is_empty() {
            return Err(StepError::Step(
                "the client's credentials go in the body, and a `raw:` body is sent as written"
                    .into(),
            ));
        }
        let content_type = text(vars, &raw.content_type)?;
        return Ok(Some((content_type, text(vars, &raw.body)?)));
    }
    if form_body.is_none() && body_auth.is_empty() {
        return Ok(None);
    }
    let mut pairs = Vec::new();
    if let Some(form) = form_body {
        for (k, v) in &form.0 {
            pairs.push((text(vars, k)?, text(vars, v)?));
        }
    }
    pairs.extend(body_auth.iter().cloned());
    sent(secrets, &pairs);
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    Ok(Some(("application/x-www-form-urlencoded".into(), encoded)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Endpoint;
    use crate::scenario::model::{EndpointRef, Pairs, RawBody};

    fn tpl(s: &str) -> Template {
        Template::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn pairs(p: &[(&str, &str)]) -> Pairs {
        Pairs(p.iter().map(|(k, v)| (tpl(k), tpl(v))).collect())
    }

    fn request(auth: Option<Auth>, body: Option<Body>) -> Request {
        Request {
            method: "post".into(),
            to: Destination::Endpoint(EndpointRef::Known(Endpoint::Token)),
            query: Pairs::default(),
            headers: pairs(&[("x-trace", "${id}")]),
            body,
            auth,
            dpop: None,
            follow_redirects: false,
        }
    }

    const BASIC: &str = "Basic Yzpz";

    static KEYS: std::sync::LazyLock<Keys> = std::sync::LazyLock::new(Keys::default);

    fn ctx() -> SignCtx<'static> {
        SignCtx {
            issuer: "https://as.example",
            now: 1_800_000_000,
            keys: &KEYS,
            dpop_nonce: Some("n-1"),
        }
    }

    /// The DPoP headers a request with `dpop` (YAML) and a Bearer token sends, parsed.
    fn proofs_of(dpop: &str) -> Vec<(Value, Value, bool)> {
        let d: DpopProof = serde_yaml::from_str(dpop).expect("dpop");
        let mut r = request(
            Some(Auth::Dpop {
                token: tpl("the-token"),
            }),
            None,
        );
        r.method = "GET".into();
        r.dpop = Some(d);
        let mut vars = Vars::default();
        vars.set("id", Value::from("7"));
        let spec = resolve_at(
            "https://rs.example/api/me?x=1".into(),
            BodyEncoding::Form,
            &ctx(),
            &mut vars,
            &r,
        )
        .expect("resolves");
        assert!(spec
            .headers
            .contains(&("authorization".into(), "DPoP the-token".into())));
        let j = crate::keys::fixture_key(KeyName::J).expect("J");
        let jwk = Value::Object(
            crate::dpop::header(&j)["jwk"]
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        spec.headers
            .iter()
            .filter(|(k, _)| k == "DPoP")
            .map(|(_, p)| {
                assert!(spec
                    .secrets
                    .iter()
                    .any(|(s, kind)| s == p && kind == "dpop_proof"));
                let c = crate::jose::parse(p).expect("a JWS");
                (
                    Value::Object(c.header.clone()),
                    Value::Object(c.claims.clone()),
                    c.verify_jwk(&jwk),
                )
            })
            .collect()
    }

    #[test]
    fn a_dpop_proof_has_the_matrix_defaults_and_each_deviation() {
        let p = proofs_of("{key: J}");
        let (h, c, verified) = &p[0];
        assert_eq!(p.len(), 1);
        assert!(verified, "signed by J");
        assert_eq!(h["typ"], "dpop+jwt");
        assert_eq!(h["alg"], "ES256");
        assert!(h["jwk"].get("d").is_none());
        assert_eq!(c["htm"], "GET");
        assert_eq!(c["htu"], "https://rs.example/api/me", "no query");
        assert_eq!(c["iat"], 1_800_000_000);
        assert_eq!(c["nonce"], "n-1", "the origin's nonce");
        assert_eq!(c["ath"], Value::from(crate::dpop::ath("the-token")));
        assert_eq!(proofs_of("{twice: true}").len(), 2);
        let (_, _, verified) = &proofs_of("{sign_with: J2}")[0];
        assert!(!verified, "jwk J, signed by J2");
        let (h, _, _) = &proofs_of("{sign: none}")[0];
        assert_eq!(h["alg"], "none");
        let (h, _, _) = &proofs_of("{private_jwk: true}")[0];
        assert!(h["jwk"].get("d").is_some());
        let (h, c, _) = &proofs_of(
            "{htm: POST, htu: 'https://x.example/t', times: {iat: -30}, claims: {nonce: null, jti: j1}, header: {typ: JWT}, ath_of: other}",
        )[0];
        assert_eq!(
            (&c["htm"], &c["htu"], &c["iat"], &c["jti"], &h["typ"]),
            (
                &Value::from("POST"),
                &Value::from("https://x.example/t"),
                &Value::from(1_800_000_000 - 30),
                &Value::from("j1"),
                &Value::from("JWT")
            )
        );
        assert!(c.get("nonce").is_none());
        assert_eq!(c["ath"], Value::from(crate::dpop::ath("other")));
        let (_, c, _) = &proofs_of("{htu_spelling: upper_case}")[0];
        assert_eq!(c["htu"], "HTTPS://RS.EXAMPLE/api/me");
        assert!(matches!(
            respell("http://127.0.0.1:8080/t", HtuSpelling::DefaultPort),
            Err(StepError::Skip(_))
        ));
        assert_eq!(
            respell("https://as.example/t", HtuSpelling::DefaultPort)
                .ok()
                .as_deref(),
            Some("https://as.example:443/t")
        );
    }

    /// The client assertion a `private_key_jwt` request sends, and the verdict of the
    /// public key K on it.
    fn assertion_of(
        yaml: &str,
    ) -> (
        serde_json::Map<String, Value>,
        crate::jose::Compact<'static>,
        bool,
        Vars,
    ) {
        let auth: Auth = serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        let mut vars = Vars::new(Default::default());
        vars.set("client.pkj.id", Value::from("pkj"));
        vars.set("id", Value::from("7"));
        let r = request(
            Some(auth),
            Some(Body::Form(pairs(&[("grant_type", "client_credentials")]))),
        );
        let spec = resolve_at(
            "http://t/token".into(),
            BodyEncoding::Form,
            &ctx(),
            &mut vars,
            &r,
        )
        .expect("resolves");
        let body = spec.body.expect("a body").1;
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
        let jwt: &'static str = Box::leak(form["client_assertion"].clone().into_boxed_str());
        assert!(
            spec.secrets.iter().any(|(v, _)| v == jwt),
            "the assertion is redacted"
        );
        let compact = crate::jose::parse(jwt).expect("one JWT");
        let k = crate::keys::fixture_key(KeyName::K).expect("K");
        let verified = compact.verify_jwk(&Value::Object(k.public_jwk().clone()));
        let params = form.into_iter().map(|(k, v)| (k, Value::from(v))).collect();
        (params, compact, verified, vars)
    }

    #[test]
    fn a_client_assertion_has_the_matrix_defaults_and_each_deviation() {
        let (params, jwt, verified, _) = assertion_of("{type: private_key_jwt, role: pkj}");
        assert!(verified);
        assert_eq!(
            params["client_assertion_type"],
            crate::server::assertion::JWT_BEARER
        );
        assert!(!params.contains_key("client_id"));
        let c = &jwt.claims;
        assert_eq!(
            (c["iss"].as_str(), c["sub"].as_str()),
            (Some("pkj"), Some("pkj"))
        );
        assert_eq!(c["aud"], "https://as.example");
        assert_eq!(
            (c["iat"].as_u64(), c["exp"].as_u64()),
            (Some(1_800_000_000), Some(1_800_000_060))
        );
        assert!(c["jti"].as_str().is_some_and(|j| j.len() >= 32));

        let (_, jwt, verified, _) = assertion_of(
            "{type: private_key_jwt, role: pkj, claims: {iss: web, aud: null}, times: {exp: -300}, header: {typ: client-authentication+jwt}}",
        );
        assert!(verified);
        assert_eq!(jwt.claims["iss"], "web");
        assert!(!jwt.claims.contains_key("aud"));
        assert_eq!(jwt.claims["exp"].as_u64(), Some(1_800_000_000 - 300));
        assert_eq!(jwt.header["typ"], "client-authentication+jwt");

        let (_, _, verified, _) = assertion_of("{type: private_key_jwt, role: pkj, key: K2}");
        assert!(!verified, "K2 is not K");
        let (_, _, verified, _) = assertion_of("{type: private_key_jwt, role: pkj, tamper: true}");
        assert!(!verified, "a changed payload");
        let (_, jwt, verified, _) = assertion_of("{type: private_key_jwt, role: pkj, sign: none}");
        assert!(!verified && jwt.unsigned() && jwt.alg() == Some("none"));
        let (_, jwt, _, _) =
            assertion_of("{type: private_key_jwt, role: pkj, sign: hmac_public_pem}");
        let k = crate::keys::fixture_key(KeyName::K).expect("K");
        assert!(jwt.verify_hmac(k.public_pem().as_bytes()));

        let (params, _, _, vars) = assertion_of(
            "{type: private_key_jwt, role: pkj, client_id: web, assertion_type: 'urn:example:other', save_as: a1_assertion}",
        );
        assert_eq!(params["client_id"], "web");
        assert_eq!(params["client_assertion_type"], "urn:example:other");
        assert_eq!(vars.get("a1_assertion"), Some(&params["client_assertion"]));
    }

    /// Resolution, as a table over client authentication × body × the target's encoding:
    /// where the credentials go, what the body is, which credentials are registered; the
    /// combinations that leave the credentials nowhere are errors, never a silent drop.
    #[test]
    fn a_request_resolves_over_auth_body_and_encoding() {
        let basic = || Auth::Basic {
            role: None,
            client: Some(tpl("c")),
            secret: Some(tpl("s")),
        };
        let post = || Auth::Post {
            role: None,
            client: Some(tpl("c")),
            secret: Some(tpl("${secret.web}")),
        };
        let public = || Auth::None {
            role: None,
            client: Some(tpl("c")),
        };
        let bearer = || Auth::Bearer { token: tpl("tok") };
        let form = || Some(Body::Form(pairs(&[("grant_type", "client_credentials")])));
        let params = || Some(Body::Params(pairs(&[("a", "${id}")])));
        let json = || {
            Some(Body::Json(
                serde_yaml::from_str("{grant_type: client_credentials}").expect("yaml"),
            ))
        };
        let json_list = || Some(Body::Json(serde_yaml::from_str("[1, 2]").expect("yaml")));
        let raw = || {
            Some(Body::Raw(RawBody {
                content_type: tpl("text/plain"),
                body: tpl("as written ${id}"),
            }))
        };
        use BodyEncoding::{Form, Json};
        const FORM: &str = "application/x-www-form-urlencoded";
        const JSON: &str = "application/json";
        // (auth, body, encoding) → Authorization header, (content type, body), secrets
        // registered; or the error's words.
        type Row = (
            Option<Auth>,
            Option<Body>,
            BodyEncoding,
            Result<
                (
                    Option<&'static str>,
                    Option<(&'static str, &'static str)>,
                    &'static [&'static str],
                ),
                &'static str,
            >,
        );
        let rows: Vec<Row> = vec![
            // No authentication: the body alone, in the encoding `body:` asks for.
            (None, None, Form, Ok((None, None, &[]))),
            (
                None,
                form(),
                Json,
                Ok((None, Some((FORM, "grant_type=client_credentials")), &[])),
            ),
            (None, params(), Form, Ok((None, Some((FORM, "a=7")), &[]))),
            (
                None,
                params(),
                Json,
                Ok((None, Some((JSON, r#"{"a":"7"}"#)), &[])),
            ),
            (
                None,
                raw(),
                Form,
                Ok((None, Some(("text/plain", "as written 7")), &[])),
            ),
            (
                None,
                json_list(),
                Form,
                Ok((None, Some((JSON, "[1,2]")), &[])),
            ),
            // Basic: a header; the body untouched, whatever it is.
            (
                Some(basic()),
                None,
                Form,
                Ok((Some(BASIC), None, &["s", "Yzpz"])),
            ),
            (
                Some(basic()),
                raw(),
                Json,
                Ok((
                    Some(BASIC),
                    Some(("text/plain", "as written 7")),
                    &["s", "Yzpz"],
                )),
            ),
            (
                Some(basic()),
                json(),
                Form,
                Ok((
                    Some(BASIC),
                    Some((JSON, r#"{"grant_type":"client_credentials"}"#)),
                    &["s", "Yzpz"],
                )),
            ),
            // client_secret_post: in the body, whatever its encoding.
            (
                Some(post()),
                None,
                Form,
                Ok((
                    None,
                    Some((FORM, "client_id=c&client_secret=p%40ss+word")),
                    &["p@ss word"],
                )),
            ),
            (
                Some(post()),
                form(),
                Form,
                Ok((
                    None,
                    Some((
                        FORM,
                        "grant_type=client_credentials&client_id=c&client_secret=p%40ss+word",
                    )),
                    &["p@ss word"],
                )),
            ),
            (
                Some(post()),
                params(),
                Json,
                Ok((
                    None,
                    Some((
                        JSON,
                        r#"{"a":"7","client_id":"c","client_secret":"p@ss word"}"#,
                    )),
                    &["p@ss word"],
                )),
            ),
            (
                Some(post()),
                json(),
                Form,
                Ok((
                    None,
                    Some((
                        JSON,
                        r#"{"client_id":"c","client_secret":"p@ss word","grant_type":"client_credentials"}"#,
                    )),
                    &["p@ss word"],
                )),
            ),
            (
                Some(post()),
                raw(),
                Form,
                Err("a `raw:` body is sent as written"),
            ),
            (
                Some(post()),
                json_list(),
                Form,
                Err("this JSON body is not an object"),
            ),
            // A public client: its id in the body.
            (
                Some(public()),
                None,
                Json,
                Ok((None, Some((FORM, "client_id=c")), &[])),
            ),
            (
                Some(public()),
                params(),
                Json,
                Ok((None, Some((JSON, r#"{"a":"7","client_id":"c"}"#)), &[])),
            ),
            (
                Some(public()),
                raw(),
                Form,
                Err("a `raw:` body is sent as written"),
            ),
            // A bearer token: a header.
            (
                Some(bearer()),
                None,
                Form,
                Ok((Some("Bearer tok"), None, &["tok"])),
            ),
            (
                Some(bearer()),
                raw(),
                Form,
                Ok((
                    Some("Bearer tok"),
                    Some(("text/plain", "as written 7")),
                    &["tok"],
                )),
            ),
        ];
        for (i, (auth, body, encoding, want)) in rows.into_iter().enumerate() {
            let mut vars = Vars::new(std::collections::HashMap::from([(
                "web".to_string(),
                "p@ss word".to_string(),
            )]));
            vars.set("id", Value::String("7".into()));
            let r = request(auth, body);
            let got = resolve_at("http://t/token".into(), encoding, &ctx(), &mut vars, &r);
            match (got, want) {
                (Ok(spec), Ok((authorization, body, secrets))) => {
                    assert_eq!(spec.method, reqwest::Method::POST, "row {i}");
                    assert_eq!(spec.headers[0], ("x-trace".into(), "7".into()), "row {i}");
                    let header = spec
                        .headers
                        .iter()
                        .find(|(k, _)| k == "authorization")
                        .map(|(_, v)| v.as_str());
                    assert_eq!(header, authorization, "row {i}");
                    let body_got = spec.body.as_ref().map(|(c, t)| (c.as_str(), t.as_str()));
                    assert_eq!(body_got, body, "row {i}");
                    let secrets_got: Vec<&str> =
                        spec.secrets.iter().map(|(v, _)| v.as_str()).collect();
                    assert_eq!(secrets_got, secrets, "row {i}");
                }
                (Err(e), Err(words)) => {
                    assert!(e.to_string().contains(words), "row {i}: {e}");
                }
                (got, want) => panic!("row {i}: got {got:?}, want {want:?}"),
            }
        }
    }
}
