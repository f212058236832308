//! The authorization endpoint (RFC 6749 §3.1, §4.1.1–§4.1.2.1; RFC 7636 §4.3–§4.4):
//! `GET /oauth/authorize`, its login form and consent form.
//!
//! Validation runs in two stages, as §4.1.2.1 demands. Stage one (client and redirect
//! URI) can only fail with an error *page*: without a trusted target there is nowhere safe
//! to redirect (AUTHZ-7, AUTHZ-8). Stage two (everything else) fails with an error
//! *redirect* carrying `state`, and only after the user has signed in (BCP-5).
//! The test route `/_test/authorize` runs the same two stages with the user implied.

use crate::endpoint::Endpoint;
use crate::oauth::{ErrorCode, GrantType};
use crate::server::config::{Client, ScopeSet};
use crate::server::faults::Fault;
use crate::server::pages::{error_page, esc, login_form, page, Page};
use crate::server::params::Params;
use crate::server::session;
use crate::server::store::{AuthorizationCode, Issuance, PkceMethod, RefreshPlan, Token};
use crate::server::token::verifier_well_formed;
use crate::server::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;

/// An authorization request that passed both stages.
#[derive(Debug, Clone)]
pub struct ValidRequest {
    /// The client.
    pub client: Arc<Client>,
    /// Where the response goes.
    pub target: String,
    /// `redirect_uri` as sent (for the token endpoint's comparison), if sent.
    pub redirect_given: Option<String>,
    /// `state` as sent.
    pub state: Option<String>,
    /// Scope requested.
    pub scope: ScopeSet,
    /// PKCE challenge.
    pub challenge: Option<(String, PkceMethod)>,
    /// `response_type=token` accepted under fault `allow-implicit`.
    pub implicit: bool,
    /// The `request_uri` it was pushed under (RFC 9126), used up when a code is issued.
    pub pushed: Option<String>,
    /// `dpop_jkt` (RFC 9449 §10): the DPoP key the code will be redeemable with.
    pub dpop_jkt: Option<String>,
}

/// How an authorization request reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via<'a> {
    /// In the authorization endpoint's query.
    Query,
    /// Pushed earlier (RFC 9126), named by this `request_uri`.
    Pushed(&'a str),
    /// Being pushed now, at the PAR endpoint.
    Push,
}

/// An authorization request as the endpoint reads it: its own query, or the pushed
/// request its `request_uri` names.
#[derive(Debug)]
pub(crate) struct Request {
    /// The request's parameters, form-encoded.
    pub query: String,
    /// The `request_uri` it was pushed under.
    pub request_uri: Option<String>,
}

impl Request {
    /// How the request came.
    pub(crate) fn via(&self) -> Via<'_> {
        match &self.request_uri {
            Some(u) => Via::Pushed(u),
            None => Via::Query,
        }
    }
}

/// Resolves `raw` (an authorization request's query) into the request it stands for: a
/// `request_uri` names a pushed request (RFC 9126 §4), which must be the asking client's
/// (§2.2: "The request_uri value MUST be bound to the client that posted the
/// authorization request"), unexpired (§4: "An expired request_uri MUST be rejected as
/// invalid") and unused (§4: "SHOULD treat request_uri values as one-time use").
/// An unusable one is told on a page: its redirect target is not to be trusted.
pub(crate) fn read_request(st: &AppState, raw: &str) -> Result<Request, String> {
    let q = Params::from_form(raw.as_bytes());
    let given = match q.get("request_uri") {
        Some(u) if !st.faults.has(Fault::ParIgnoreRequestUri) => u,
        _ => {
            return Ok(Request {
                query: raw.to_string(),
                request_uri: None,
            })
        }
    };
    let Some(p) = st.store.pushed_request(given) else {
        return Err("The request_uri is unknown.".into());
    };
    let bound = q.get("client_id") == Some(&*p.client_id);
    if !bound && !st.faults.has(Fault::ParUnboundRequestUri) {
        return Err("The request_uri was pushed by another client.".into());
    }
    if st.now() >= p.expires_at && !st.faults.has(Fault::ParNeverExpire) {
        return Err("The request_uri has expired.".into());
    }
    if p.used && !st.faults.has(Fault::ParReusableRequestUri) {
        return Err("The request_uri was already used.".into());
    }
    Ok(Request {
        query: p.query,
        request_uri: Some(given.to_string()),
    })
}

/// The outcome of validating an authorization request.
#[derive(Debug)]
pub(crate) enum Validation {
    /// No trusted redirect target: tell the user on a page.
    Page(String),
    /// Redirect target known, request bad: error redirect.
    ErrorRedirect {
        target: String,
        state: Option<String>,
        code: ErrorCode,
        description: String,
    },
    /// Good request.
    Valid(Box<ValidRequest>),
}

/// Stage one: who is asking and where the answer may go.
fn stage_one(
    st: &AppState,
    q: &Params,
    via: Via<'_>,
) -> Result<(Arc<Client>, String, Option<String>), Validation> {
    let open_redirect = st.faults.has(Fault::RedirectOnBadRequest);
    let given = q.get("redirect_uri").map(str::to_string);
    let bad = |msg: &str| -> Validation {
        match (&given, open_redirect) {
            (Some(target), true) => Validation::ErrorRedirect {
                target: target.clone(),
                state: q.get("state").map(str::to_string),
                code: ErrorCode::InvalidRequest,
                description: msg.to_string(),
            },
            _ => Validation::Page(msg.to_string()),
        }
    };
    if !st.faults.has(Fault::AcceptDuplicateParams) {
        for name in ["client_id", "redirect_uri"] {
            if q.get_all(name) > 1 {
                return Err(bad(&format!("Parameter '{name}' was sent more than once.")));
            }
        }
    }
    let Some(client_id) = q.get("client_id") else {
        return Err(bad("The request has no client_id."));
    };
    let Some(client) = st.client(client_id) else {
        return Err(bad(&format!("Unknown client: {client_id}")));
    };
    let target = match &given {
        Some(uri) => {
            let trusted_push =
                matches!(via, Via::Pushed(_)) && st.faults.has(Fault::ParSkipValidation);
            if redirect_allowed(st, &client, uri) || trusted_push {
                uri.clone()
            } else {
                return Err(bad("The redirect_uri is not registered for this client."));
            }
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => return Err(bad("This client must name its redirect_uri.")),
    };
    Ok((client, target, given))
}

/// Exact string comparison (RFC 6749 §3.1.2.3, BCP-1), with one exception: a loopback
/// `http` redirect of a native client may use any port (RFC 8252 §7.3, BCP-2).
pub(crate) fn redirect_allowed(st: &AppState, client: &Client, uri: &str) -> bool {
    if client.redirect_uris.iter().any(|r| r == uri) {
        return true;
    }
    if st.faults.has(Fault::LooseRedirectUri)
        && client
            .redirect_uris
            .iter()
            .any(|r| uri.starts_with(r.as_str()))
    {
        return true;
    }
    let Ok(mut given) = url::Url::parse(uri) else {
        return false;
    };
    let loopback = given.scheme() == "http"
        && matches!(given.host_str(), Some("127.0.0.1") | Some("[::1]"))
        && given.username().is_empty()
        && given.password().is_none();
    if !loopback || given.port().is_none() || st.faults.has(Fault::LoopbackPortExact) {
        return false;
    }
    if given.set_port(None).is_err() {
        return false;
    }
    let portless = given.as_str();
    client.redirect_uris.iter().any(|r| r == portless)
}

/// Both stages.
pub(crate) fn validate(st: &AppState, q: &Params, via: Via<'_>) -> Validation {
    let (client, target, given) = match stage_one(st, q, via) {
        Ok(v) => v,
        Err(v) => return v,
    };
    let state_param = q.get("state").map(str::to_string);
    let fail = |code: ErrorCode, description: &str| Validation::ErrorRedirect {
        target: target.clone(),
        state: state_param.clone(),
        code,
        description: description.to_string(),
    };
    if st.faults.has(Fault::Authorize500) {
        return fail(ErrorCode::ServerError, "Internal error");
    }
    // RFC 9126 §4: where PAR is required, "the authorization server will refuse, using
    // the invalid_request error code, to process any request to the authorization
    // endpoint that does not have a request_uri parameter with a value obtained from the
    // PAR endpoint."
    let par_required = client.require_par || st.policy.require_pushed_authorization_requests;
    if via == Via::Query && par_required && !st.faults.has(Fault::ParRequiredIgnored) {
        return fail(
            ErrorCode::InvalidRequest,
            "This client's authorization requests must be pushed (RFC 9126)",
        );
    }
    if let Some(name) = q.duplicate() {
        return fail(
            ErrorCode::InvalidRequest,
            &format!("Parameter '{name}' was sent more than once"),
        );
    }
    let implicit = match q.get("response_type") {
        None => return fail(ErrorCode::InvalidRequest, "Missing response_type"),
        Some("code") => false,
        Some("token") if st.faults.has(Fault::AllowImplicit) => true,
        Some(_) => {
            return fail(
                ErrorCode::UnsupportedResponseType,
                "Only response_type=code is supported",
            )
        }
    };
    if !client.grants.contains(GrantType::AuthorizationCode) {
        return fail(
            ErrorCode::UnauthorizedClient,
            "Client may not use the authorization code grant",
        );
    }
    // The OpenID Connect exception (OAUTH21-1) is played to the extent of taking
    // `openid` among the scopes; the rest are this server's own.
    let oidc_scope = st.policy.oidc_nonce_exception.then(|| {
        let rest: Vec<&str> = q
            .get("scope")
            .unwrap_or_default()
            .split(' ')
            .filter(|x| *x != "openid")
            .collect();
        rest.join(" ")
    });
    let raw_scope = match &oidc_scope {
        Some(rest) if rest.is_empty() => None,
        Some(rest) => Some(rest.as_str()),
        None => q.get("scope"),
    };
    let scope = match st.requested_scope(&client, raw_scope) {
        Ok(s) => s,
        Err(e) => return fail(e.code, e.description()),
    };
    // PKCE protects a code; the implicit grant (a fault) issues none.
    let challenge = match challenge_of(st, q, &client) {
        _ if implicit => None,
        Ok(c) => c,
        Err(description) => return fail(ErrorCode::InvalidRequest, description),
    };
    Validation::Valid(Box::new(ValidRequest {
        client,
        target,
        redirect_given: given,
        state: state_param,
        scope,
        challenge,
        implicit,
        pushed: match via {
            Via::Pushed(u) => Some(u.to_string()),
            Via::Query | Via::Push => None,
        },
        // DPOP-19's fault: the parameter is not kept.
        dpop_jkt: q
            .get("dpop_jkt")
            .filter(|_| !st.faults.has(Fault::DpopIgnoreDpopJkt))
            .map(str::to_string),
    }))
}

/// The request's PKCE challenge and method (RFC 7636 §4.3), or why it is an
/// `invalid_request`.
fn challenge_of(
    st: &AppState,
    q: &Params,
    client: &Client,
) -> Result<Option<(String, PkceMethod)>, &'static str> {
    let oauth21 = st.policy.oauth21;
    let method = match q.get("code_challenge_method") {
        None if st.faults.has(Fault::PkceDefaultS256) => PkceMethod::S256,
        // OAuth 2.1 -16 §4.1.1: code_challenge_method "REQUIRED, the value S256 or a
        // value defined by a future extension" (PKCE-4 under oauth21).
        None if oauth21
            && q.has("code_challenge")
            && !st.faults.has(Fault::PkceMissingMethodPlain) =>
        {
            return Err("code_challenge_method is required (S256)")
        }
        // -16 §7.5.2: "The plain code challenge method … is explicitly forbidden in
        // OAuth 2.1." (PKCE-5 under oauth21)
        Some("plain") if oauth21 && !st.faults.has(Fault::PkceAllowPlain) => {
            return Err("Unsupported code_challenge_method: plain")
        }
        None | Some("plain") => PkceMethod::Plain, // RFC 7636 §4.3: absent means plain (PKCE-4)
        Some("S256") => PkceMethod::S256,
        Some(_) => return Err("Unsupported code_challenge_method"),
    };
    match q.get("code_challenge") {
        // Same ABNF as the verifier (RFC 7636 §4.2, PKCE-9).
        Some(c) if !verifier_well_formed(c) => Err("Malformed code_challenge"),
        Some(c) => Ok(Some((c.to_string(), method))),
        None if q.has("code_challenge_method") => {
            Err("code_challenge_method without code_challenge")
        }
        // -16 §4.1.2.1: "An authorization server MUST reject requests without a
        // code_challenge from public clients" (PKCE-7, every public client under oauth21).
        None if (client.require_pkce || oauth21 && client.is_public())
            && !st.faults.has(Fault::PkceNotRequired) =>
        {
            Err("A code_challenge is required for this client (PKCE)")
        }
        // -16 §4.1.2.1: "…and MUST reject such requests from other clients unless there
        // is reasonable assurance that the client mitigates authorization code injection
        // in other ways"; §7.5.1.1 names the one way: a confidential client using the
        // OpenID Connect nonce (OAUTH21-1).
        None if oauth21
            && !client.is_public()
            && !st.faults.has(Fault::PkceOptionalConfidential) =>
        {
            let openid = q
                .get("scope")
                .is_some_and(|s| s.split(' ').any(|x| x == "openid"));
            let nonce_exception = st.policy.oidc_nonce_exception
                && openid
                && q.get("nonce").is_some_and(|n| !n.is_empty());
            if nonce_exception {
                Ok(None)
            } else {
                Err("A code_challenge is required (OAuth 2.1)")
            }
        }
        None => Ok(None),
    }
}

/// `state` as it goes back, possibly broken by a fault (AUTHZ-3).
fn returned_state(st: &AppState, state: &Option<String>) -> Option<String> {
    if st.faults.has(Fault::DropState) {
        return None;
    }
    let s = state.clone()?;
    if st.faults.has(Fault::AlterState) {
        return Some(s.trim().replace(' ', "+").chars().take(32).collect());
    }
    Some(s)
}

/// The `iss` of an authorization response (RFC 9207 §2: "In authorization responses to the
/// client, including error responses, an authorization server supporting this
/// specification MUST indicate its identity by including the iss parameter in the
/// response"), or `None` where a fault leaves it out.
fn issuer_param(st: &AppState, error: bool) -> Option<String> {
    const FOREIGN: &str = "https://evil.example";
    let f = &st.faults;
    if f.has(Fault::IssMissing) || (error && f.has(Fault::IssMissingOnError)) {
        return None;
    }
    if (!error && f.has(Fault::IssForeign)) || (error && f.has(Fault::IssForeignError)) {
        return Some(FOREIGN.into());
    }
    if f.has(Fault::IssWrongValue) {
        return Some(format!("{}/", st.issuer));
    }
    Some(st.issuer.clone())
}

/// Appends an authorization response's parameters to the target's query, keeping the
/// query it has (AUTHZ-4), with `iss` last (RFC 9207 §2).
fn respond(
    st: &AppState,
    status: StatusCode,
    target: &str,
    pairs: &[(&str, &str)],
    fragment: bool,
) -> Response {
    let error = pairs.iter().any(|(k, _)| *k == "error");
    let iss = issuer_param(st, error);
    let mut all = pairs.to_vec();
    if let Some(i) = &iss {
        all.push(("iss", i.as_str()));
    }
    redirect(status, target, &all, fragment)
}

/// Appends parameters to the target's query, keeping the query it has (AUTHZ-4).
fn redirect(status: StatusCode, target: &str, pairs: &[(&str, &str)], fragment: bool) -> Response {
    let location = match url::Url::parse(target) {
        Ok(mut u) => {
            if fragment {
                let frag: String = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish();
                u.set_fragment(Some(&frag));
            } else {
                u.query_pairs_mut().extend_pairs(pairs);
            }
            u.to_string()
        }
        Err(_) => target.to_string(),
    };
    let mut resp = status.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The redirect for an error.
fn error_redirect(
    st: &AppState,
    status: StatusCode,
    target: &str,
    state: &Option<String>,
    code: ErrorCode,
    description: &str,
) -> Response {
    let desc = crate::server::error::sanitize_description(description);
    let s = returned_state(st, state);
    let mut pairs = vec![
        ("error", code.as_str()),
        ("error_description", desc.as_str()),
    ];
    if let Some(s) = &s {
        pairs.push(("state", s.as_str()));
    }
    respond(st, status, target, &pairs, false)
}

/// Issues a code (or, under `allow-implicit`, a token) and builds the success redirect.
pub fn approve(st: &AppState, req: &ValidRequest, user: &str, status: StatusCode) -> Response {
    let now = st.now();
    let user: Arc<str> = Arc::from(user);
    let value = Token::random();
    let s = returned_state(st, &req.state);
    if req.implicit {
        let iss = Issuance {
            client_id: req.client.id.clone(),
            user: Some(user),
            scope: req.scope,
            access_ttl: Duration::from_secs(st.policy.access_token_ttl),
            refresh: RefreshPlan::None,
            jkt: None,
            refresh_jkt: None,
        };
        st.store.issue(now, value, &iss);
        let mut pairs = vec![("access_token", value.as_str()), ("token_type", "Bearer")];
        if let Some(s) = &s {
            pairs.push(("state", s.as_str()));
        }
        return respond(st, status, &req.target, &pairs, true);
    }
    if let Some(uri) = &req.pushed {
        // RFC 9126 §4: "Authorization servers SHOULD treat request_uri values as one-time
        // use" — claimed here under the store's lock, not on the check of read_request, so
        // that concurrent approvals yield one code (RACE-9). Its fault: the claim trusts
        // that earlier check, and waits for a second approval in between.
        let racy = st.faults.has(Fault::RaceParDoubleUse);
        if racy {
            st.rendezvous.meet(uri.as_bytes());
        }
        let claimed = st.store.use_pushed_request(uri);
        if !claimed && !racy && !st.faults.has(Fault::ParReusableRequestUri) {
            return error_page(
                st,
                StatusCode::BAD_REQUEST,
                "The request_uri was already used.",
            );
        }
    }
    st.store.insert_code(
        now,
        value,
        AuthorizationCode {
            client_id: req.client.id.clone(),
            user,
            redirect_uri: req.redirect_given.clone(),
            scope: req.scope,
            challenge: req.challenge.clone(),
            issued_at: now,
            dpop_jkt: req.dpop_jkt.clone(),
            redeemed: None,
        },
    );
    let mut pairs = vec![("code", value.as_str())];
    if let Some(s) = &s {
        pairs.push(("state", s.as_str()));
    }
    respond(st, status, &req.target, &pairs, false)
}

/// Renders a validation result for a user who has decided (`approve` or not).
pub(crate) fn conclude(
    st: &AppState,
    v: Validation,
    user: &str,
    approve_it: bool,
    status: StatusCode,
) -> Response {
    match v {
        // OAuth 2.1 -16 §4.1.2.1: "When returning an error response directly to the user
        // agent, the authorization server SHOULD use the HTTP 400 (Bad Request) status
        // code." (OAUTH21-6)
        Validation::Page(msg) if st.faults.has(Fault::AuthorizeError200) => {
            error_page(st, StatusCode::OK, &msg)
        }
        Validation::Page(msg) => error_page(st, StatusCode::BAD_REQUEST, &msg),
        Validation::ErrorRedirect {
            target,
            state,
            code,
            description,
        } => error_redirect(st, status, &target, &state, code, &description),
        Validation::Valid(req) if approve_it => approve(st, &req, user, status),
        Validation::Valid(req) => error_redirect(
            st,
            status,
            &req.target,
            &req.state,
            ErrorCode::AccessDenied,
            "The user denied the request",
        ),
    }
}

/// `GET /oauth/authorize`.
pub async fn authorize(State(st): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let query = uri.query().unwrap_or("");
    let mut resp = authorize_page(&st, query, &headers);
    if st.faults.has(Fault::CorsAuthorize) {
        resp.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    resp
}

pub(crate) fn params_of<'a>(st: &AppState, query: &'a str) -> Params<'a> {
    let mut q = Params::from_form(query.as_bytes());
    if st.faults.has(Fault::AcceptDuplicateParams) {
        q.accept_duplicates();
    }
    q
}

fn authorize_page(st: &AppState, raw_query: &str, headers: &HeaderMap) -> Response {
    let r = match read_request(st, raw_query) {
        Ok(r) => r,
        Err(msg) => return error_page(st, StatusCode::BAD_REQUEST, &msg),
    };
    let q = &params_of(st, &r.query);
    if let Err(v) = stage_one(st, q, r.via()) {
        return conclude(st, v, "", false, StatusCode::FOUND);
    }
    let (_, session, new) = session::ensure(st, headers);
    let Some(user) = session.user.clone() else {
        if st.faults.has(Fault::RedirectBeforeLogin) {
            if let v @ Validation::ErrorRedirect { .. } = validate(st, q, r.via()) {
                return conclude(st, v, "", false, StatusCode::FOUND);
            }
        }
        // BCP-5: the user signs in before any redirect, error redirects included.
        let back = format!("{}?{raw_query}", Endpoint::Authorization.path());
        let mut resp = login_form(st, &back, None);
        session::set_cookie(&mut resp, new);
        return resp;
    };
    match validate(st, q, r.via()) {
        Validation::Valid(req) => {
            let scope = st.render_scope(req.scope);
            let mut resp = page(
                st,
                StatusCode::OK,
                "Authorize access",
                &format!(
                    "<p><strong>{}</strong> asks to access your account as <strong>{}</strong> with scope <code>{}</code>.</p>\n<form method=\"post\" action=\"{}\">\n<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n<input type=\"hidden\" name=\"request\" value=\"{}\">\n<button name=\"decision\" value=\"approve\">Allow</button>\n<button name=\"decision\" value=\"deny\">Deny</button>\n</form>",
                    esc(&req.client.name),
                    esc(&user),
                    esc(&scope),
                    Page::ConsentDecision.path(),
                    esc(&session.csrf),
                    esc(raw_query)
                ),
            );
            session::set_cookie(&mut resp, new);
            resp
        }
        other => conclude(st, other, &user, false, StatusCode::FOUND),
    }
}

/// `POST /oauth/authorize/decision`: the consent form.
pub async fn decision(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::from_form(&body);
    let session = session::session_id(&headers).and_then(|id| st.store.session(&id));
    let Some(session) = session else {
        return error_page(
            &st,
            StatusCode::FORBIDDEN,
            "Your session has expired. Start again.",
        );
    };
    let csrf_ok = p.get("csrf") == Some(session.csrf.as_str());
    if !csrf_ok && !st.faults.has(Fault::ConsentNoCsrf) {
        // AUTHZ-18: a decision not bound to this session is refused; no code is issued.
        return error_page(
            &st,
            StatusCode::FORBIDDEN,
            "This consent form is not valid for your session.",
        );
    }
    let Some(user) = session.user else {
        return error_page(&st, StatusCode::FORBIDDEN, "Sign in first.");
    };
    let raw = p.get("request").unwrap_or("");
    let r = match read_request(&st, raw) {
        Ok(r) => r,
        Err(msg) => return error_page(&st, StatusCode::BAD_REQUEST, &msg),
    };
    let q = params_of(&st, &r.query);
    let approve_it = p.get("decision") == Some("approve");
    conclude(
        &st,
        validate(&st, &q, r.via()),
        &user,
        approve_it,
        StatusCode::SEE_OTHER,
    )
}

/// `POST /oauth/login`: checks the password, binds the user to the session and goes back
/// with 303 (BCP-10). `return_to` must be a local path (BCP-4: no open redirector).
pub async fn login(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let p = Params::from_form(&body);
    let raw_return = p.get("return_to").unwrap_or("/");
    // The pages a sign-in interrupts: an authorization request, the code entry, the apps.
    let local = raw_return
        .strip_prefix(Endpoint::Authorization.path())
        .is_some_and(|rest| rest.starts_with('?'))
        || [Endpoint::Verification.path(), Page::Apps.path()]
            .iter()
            .any(|prefix| raw_return.starts_with(prefix));
    let return_to = if local || st.faults.has(Fault::RedirectOnBadRequest) {
        raw_return
    } else {
        Page::Apps.path()
    };
    let user = p.get("username").unwrap_or("");
    let ok = crate::server::config::signs_in(&st.accounts, user, p.get("password"));
    if !ok {
        return login_form(&st, return_to, Some("Wrong username or password."));
    }
    let (sid, _, new) = session::ensure(&st, &headers);
    st.store.sign_in(&sid, user);
    let status = if st.faults.has(Fault::Login307) {
        StatusCode::TEMPORARY_REDIRECT
    } else {
        StatusCode::SEE_OTHER
    };
    let mut resp = status.into_response();
    if let Ok(v) = HeaderValue::from_str(return_to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    session::set_cookie(&mut resp, new);
    resp
}
