//! The token endpoint `POST /oauth/token` (RFC 6749 §3.2, §4.1.3, §4.4, §5, §6;
//! RFC 8628 §3.4–§3.5; RFC 7636 §4.5–§4.6): every grant the builtin supports.

use crate::clock::Timestamp;
use crate::oauth::{ErrorCode, GrantType};
use crate::server::client_auth::{authenticate, read_credentials, BasicBuf};
use crate::server::config::{Client, ScopeSet, Scopes};
use crate::server::error::{no_store_bytes, OAuthError};
use crate::server::faults::Fault;
use crate::server::params::{parse_body, Encoding, Params, Posted};
use crate::server::play::{Forced, PollRecord, UserDecision};
use crate::server::store::{
    AccessToken, DeviceStatus, PkceMethod, RefreshToken, Store, Token, STANDALONE,
};
use crate::server::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use parking_lot::MutexGuard;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// `POST /oauth/token`.
pub async fn token(State(state): State<Arc<AppState>>, req: Posted) -> Response {
    answer(&state, &req)
}

/// [`token`]'s answer, for a request whose body has been read.
pub fn answer(state: &AppState, req: &Posted) -> Response {
    match handle(state, req.uri.query(), &req.headers, &req.body) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// `GET /oauth/token`, routed only under fault `token-accepts-get` (TOK-1).
pub async fn token_get(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut h = headers.clone();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let q = uri.query().unwrap_or("").as_bytes().to_vec();
    match handle(&state, None, &h, &q) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// The encodings accepted at the device and token endpoints (matrix §15 #1).
pub fn accepted_encodings(state: &AppState) -> &'static [Encoding] {
    match (
        state.faults.has(Fault::RejectForm),
        state.faults.has(Fault::RejectJson),
    ) {
        (true, false) => &[Encoding::Json],
        (false, true) => &[Encoding::Form],
        _ => &[Encoding::Form, Encoding::Json],
    }
}

/// Parses a client-authenticated endpoint's body: encoding, query credentials (TOK-17)
/// and repeated parameters (TOK-4).
pub fn read_params<'a>(
    state: &AppState,
    query: Option<&'a str>,
    headers: &HeaderMap,
    body: &'a [u8],
) -> Result<Params<'a>, OAuthError> {
    let mut params = parse_body(headers, body, accepted_encodings(state))?;
    if let Some(q) = query {
        let qp = Params::from_form(q.as_bytes());
        if qp.has("client_id") || qp.has("client_secret") {
            if state.faults.has(Fault::CredentialsInQuery) {
                params.extend(qp);
            } else {
                return Err(OAuthError::invalid_request(
                    "Client credentials must not be sent in the request URI",
                ));
            }
        }
    }
    if state.faults.has(Fault::AcceptDuplicateParams) {
        params.accept_duplicates();
    }
    params.reject_duplicates()?;
    Ok(params)
}

fn handle(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthError> {
    let params = read_params(state, query, headers, body)?;
    let mut basic = BasicBuf::new();
    let creds = read_credentials(state, headers, &params, &mut basic)?;
    let client = authenticate(state, &creds)?;
    let Some(grant_type) = params.get("grant_type") else {
        return Err(OAuthError::invalid_request("Missing grant_type"));
    };
    if grant_type == "password" && state.faults.has(Fault::AllowPasswordGrant) {
        return password_grant(state, &client, &params);
    }
    let Some(grant) = GrantType::parse(grant_type) else {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("Unsupported grant_type '{grant_type}'"),
        ));
    };
    let allowed = client.grants.contains(grant)
        || (grant == GrantType::DeviceCode && state.faults.has(Fault::DeviceGrantAnyClient));
    if !allowed {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("Client may not use grant_type {}", grant.as_str()),
        ));
    }
    match grant {
        GrantType::AuthorizationCode => code_grant(state, &client, &params),
        GrantType::RefreshToken => refresh_grant(state, &client, &params),
        GrantType::DeviceCode => device_grant(state, &client, &params),
        GrantType::ClientCredentials => client_credentials_grant(state, &client, &params),
    }
}

/// Whether a grant with `scope` gets a refresh token (NOORLE-18: with `offline_access`).
fn wants_refresh(state: &AppState, client: &Client, scope: ScopeSet) -> bool {
    if state.faults.has(Fault::AlwaysRefreshToken) {
        return true;
    }
    if state.faults.has(Fault::NoRefreshToken) {
        return false;
    }
    client.grants.contains(GrantType::RefreshToken)
        && scope.contains_all(state.scopes.one("offline_access"))
        && !state.scopes.one("offline_access").is_empty()
}

/// Whether a token response carries a refresh token.
enum RefreshPlan {
    /// No refresh token.
    None,
    /// A new refresh token with this scope (REF-5: the scope of the grant).
    New(ScopeSet),
    /// The refresh token presented stays valid and is returned again.
    Keep(String),
}

impl RefreshPlan {
    fn new_if(cond: bool, scope: ScopeSet) -> Self {
        if cond {
            RefreshPlan::New(scope)
        } else {
            RefreshPlan::None
        }
    }
}

/// Stores the tokens of a grant, releases the store and renders the RFC 6749 §5.1
/// response (outside the lock: the other workers wait only for the inserts).
///
/// The caller draws the access token: before taking the lock where nothing can fail after
/// it (client_credentials), else under the lock, once the request has been found good.
#[allow(clippy::too_many_arguments)]
fn issue(
    state: &AppState,
    mut store: MutexGuard<'_, Store>,
    now: Timestamp,
    access: Token,
    client: &Client,
    user: Option<Arc<str>>,
    scope: ScopeSet,
    grant: u64,
    refresh: RefreshPlan,
) -> Response {
    let ttl = Duration::from_secs(state.policy.access_token_ttl);
    store.insert_access(
        now,
        access,
        AccessToken {
            client_id: client.id.clone(),
            user: user.clone(),
            scope,
            expires_at: now.plus(ttl),
            grant,
        },
    );
    let fresh_refresh = match refresh {
        RefreshPlan::New(rt_scope) => {
            let token = Token::random();
            store.insert_refresh(
                now,
                token,
                RefreshToken {
                    client_id: client.id.clone(),
                    user,
                    scope: rt_scope,
                    last_used: now,
                    grant,
                    rotated: false,
                },
            );
            Some(token)
        }
        RefreshPlan::None | RefreshPlan::Keep(_) => None,
    };
    drop(store);
    let refresh_token = match &refresh {
        RefreshPlan::None => None,
        RefreshPlan::Keep(rt) => Some(rt.as_bytes()),
        RefreshPlan::New(_) => fresh_refresh.as_ref().map(Token::as_bytes),
    };
    let body = TokenResponse {
        access_token: access.as_bytes(),
        expires_in: state.policy.access_token_ttl,
        scope: (!state.faults.has(Fault::IgnoreScope)).then_some((&*state.scopes, scope)),
        refresh_token,
    };
    no_store_bytes(StatusCode::OK, body.to_json())
}

/// A successful token response (RFC 6749 §5.1), always `token_type` Bearer.
struct TokenResponse<'a> {
    access_token: &'a [u8],
    expires_in: u64,
    scope: Option<(&'a Scopes, ScopeSet)>,
    refresh_token: Option<&'a [u8]>,
}

impl TokenResponse<'_> {
    /// The JSON object, written directly: tokens are base64url and scope names are
    /// scope-tokens (checked when the fixture loads), so nothing needs escaping. The
    /// tests check the bytes against serde_json's.
    fn to_json(&self) -> Vec<u8> {
        const HEAD: &[u8] = br#"{"access_token":""#;
        const TYPE: &[u8] = br#"","token_type":"Bearer","expires_in":"#;
        const SCOPE: &[u8] = br#","scope":""#;
        const REFRESH: &[u8] = br#","refresh_token":""#;
        let plain = |t: &[u8]| {
            t.iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        };
        debug_assert!(plain(self.access_token) && self.refresh_token.is_none_or(plain));
        let mut digits = itoa::Buffer::new();
        let expires_in = digits.format(self.expires_in).as_bytes();
        // Exactly as long as the body: a Vec whose length is its capacity becomes the
        // response body without another allocation (bytes' `From<Vec<u8>>`).
        let len = HEAD.len()
            + self.access_token.len()
            + TYPE.len()
            + expires_in.len()
            + self.scope.map_or(0, |(scopes, set)| {
                SCOPE.len() + scopes.rendered_len(set) + 1
            })
            + self
                .refresh_token
                .map_or(0, |r| REFRESH.len() + r.len() + 1)
            + 1;
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(HEAD);
        out.extend_from_slice(self.access_token);
        out.extend_from_slice(TYPE);
        out.extend_from_slice(expires_in);
        if let Some((scopes, set)) = self.scope {
            out.extend_from_slice(SCOPE);
            scopes.render_into(set, &mut out);
            out.push(b'"');
        }
        if let Some(refresh) = self.refresh_token {
            out.extend_from_slice(REFRESH);
            out.extend_from_slice(refresh);
            out.push(b'"');
        }
        out.push(b'}');
        debug_assert_eq!(out.len(), len);
        out
    }
}

/// RFC 7636 §4.1: 43–128 characters of `[A-Za-z0-9-._~]`.
pub fn verifier_well_formed(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// BASE64URL(SHA256(ASCII(verifier))) without padding (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn code_expired(state: &AppState, issued: Timestamp, now: Timestamp) -> bool {
    if state.faults.has(Fault::NeverExpireCodes) {
        return false;
    }
    let ttl = Duration::from_secs(state.policy.authorization_code_ttl);
    let age = now.since(issued);
    if state.faults.has(Fault::EarlyExpireCodes) {
        age >= ttl.saturating_sub(Duration::from_secs(1))
    } else {
        age > ttl
    }
}

fn code_grant(state: &AppState, client: &Client, params: &Params) -> Result<Response, OAuthError> {
    let Some(code) = params.get("code") else {
        return Err(OAuthError::invalid_request("Missing code"));
    };
    let now = state.now();
    let mut store = state.store.lock();
    let Some(rec) = store.codes.get(code.as_bytes()).cloned() else {
        return Err(OAuthError::invalid_grant("Unknown authorization code"));
    };
    if rec.client_id != client.id && !state.faults.has(Fault::CodeAnyClient) {
        return Err(OAuthError::invalid_grant(
            "Authorization code was issued to another client",
        ));
    }
    if code_expired(state, rec.issued_at, now) {
        return Err(OAuthError::invalid_grant("Authorization code expired"));
    }
    if let Some(grant) = rec.redeemed {
        if !state.faults.has(Fault::ReuseCode) {
            // RFC 6749 §4.1.2, §10.5: refuse, and revoke what the code issued (TOK-22).
            if !state.faults.has(Fault::NoRevokeOnCodeReuse) {
                store.revoke_grant(grant);
            }
            return Err(OAuthError::invalid_grant(
                "Authorization code was already used",
            ));
        }
    }
    if !state.faults.has(Fault::IgnoreRedirectUriAtToken) {
        if let Some(expected) = &rec.redirect_uri {
            match params.get("redirect_uri") {
                None => return Err(OAuthError::invalid_request("Missing redirect_uri")),
                Some(given) if given != expected => {
                    return Err(OAuthError::invalid_grant(
                        "redirect_uri does not match the authorization request",
                    ))
                }
                Some(_) => {}
            }
        }
    }
    if !state.faults.has(Fault::SkipPkce) {
        match (&rec.challenge, params.get("code_verifier")) {
            (Some(_), None) => return Err(OAuthError::invalid_grant("Missing code_verifier")),
            (Some((challenge, method)), Some(v)) => {
                if !verifier_well_formed(v) {
                    return Err(OAuthError::invalid_grant("Malformed code_verifier"));
                }
                let derived = match method {
                    PkceMethod::S256 => s256(v),
                    PkceMethod::Plain => v.to_string(),
                };
                let ok: bool =
                    subtle::ConstantTimeEq::ct_eq(derived.as_bytes(), challenge.as_bytes()).into();
                if !ok {
                    return Err(OAuthError::invalid_grant(
                        "code_verifier does not match the code challenge",
                    ));
                }
            }
            (None, Some(_)) if !state.faults.has(Fault::PkceDowngrade) => {
                // RFC 9700 §2.1.1, §4.8.2: PKCE downgrade protection (BCP-7).
                return Err(OAuthError::invalid_grant(
                    "code_verifier sent for a code issued without a code challenge",
                ));
            }
            _ => {}
        }
    }
    let grant = store.new_grant(client.id.clone(), Some(rec.user.clone()));
    store.redeem_code(code, grant);
    let refresh = RefreshPlan::new_if(wants_refresh(state, client, rec.scope), rec.scope);
    Ok(issue(
        state,
        store,
        now,
        Token::random(),
        client,
        Some(rec.user),
        rec.scope,
        grant,
        refresh,
    ))
}

fn refresh_grant(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<Response, OAuthError> {
    let Some(rt) = params.get("refresh_token") else {
        return Err(OAuthError::invalid_request("Missing refresh_token"));
    };
    let requested = match params.get("scope") {
        None => None,
        Some(raw) => Some(state.requested_scope(client, Some(raw))?),
    };
    let now = state.now();
    let mut store = state.store.lock();
    let Some(rec) = store.refresh.get(rt.as_bytes()).cloned() else {
        return Err(OAuthError::invalid_grant("Unknown refresh token"));
    };
    if rec.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "Refresh token was issued to another client",
        ));
    }
    if !store.grant_alive(rec.grant) {
        return Err(OAuthError::invalid_grant("Refresh token was revoked"));
    }
    let idle = Duration::from_secs(state.policy.refresh_token_idle_ttl);
    if !state.faults.has(Fault::RefreshNeverIdleExpires) && now.since(rec.last_used) > idle {
        return Err(OAuthError::invalid_grant("Refresh token expired"));
    }
    if rec.rotated && !state.faults.has(Fault::NoRefreshReuseDetection) {
        // RFC 9700 §4.14.2: replay of a rotated token revokes the grant (REF-9, REF-10).
        store.revoke_grant(rec.grant);
        return Err(OAuthError::invalid_grant("Refresh token was already used"));
    }
    let scope = match requested {
        None => rec.scope,
        Some(s) if rec.scope.contains_all(s) || state.faults.has(Fault::RefreshWidensScope) => s,
        Some(_) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                "Requested scope exceeds the scope originally granted",
            ))
        }
    };
    let rotate = client.is_public() && !state.faults.has(Fault::NoRefreshRotation);
    let refresh = if rotate {
        if let Some(old) = store.refresh.get_mut(rt.as_bytes()) {
            old.rotated = true;
        }
        RefreshPlan::New(rec.scope)
    } else {
        if let Some(old) = store.refresh.get_mut(rt.as_bytes()) {
            old.last_used = now;
        }
        // The same refresh token stays valid; say so, as RFC 6749 §6 allows.
        RefreshPlan::Keep(rt.to_string())
    };
    Ok(issue(
        state,
        store,
        now,
        Token::random(),
        client,
        rec.user,
        scope,
        rec.grant,
        refresh,
    ))
}

fn device_grant(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<Response, OAuthError> {
    let Some(dc) = params.get("device_code") else {
        return Err(OAuthError::invalid_request("Missing device_code"));
    };
    let now = state.now();
    let mut store = state.store.lock();
    let Some(d) = store.devices.get_mut(dc.as_bytes()) else {
        return Err(OAuthError::invalid_grant("Unknown device code"));
    };
    if d.client_id != client.id && !state.faults.has(Fault::DeviceCodeAnyClient) {
        return Err(OAuthError::invalid_grant(
            "Device code was issued to another client",
        ));
    }
    // CLIENT-1 audit and DEV-16: gaps between arrivals of consecutive polls. The first
    // poll is exempt (matrix §16 #6).
    let early = d.last_poll.is_some_and(|last| now.since(last) < d.interval);
    d.last_poll = Some(now);
    d.seen.polls += 1;
    let (log, required) = (d.seen.log, d.interval);
    // A client under test: the answer this poll is to get whatever its timing.
    let forced = state.play.as_ref().and_then(|p| p.forced(d.seen.polls));
    if let Some(Forced::Busy(secs)) = forced {
        record_poll(&mut store, log, now, "429", required, Some(secs));
        return Err(
            OAuthError::new(ErrorCode::RateLimited, "Too many requests; retry later")
                .with_status(axum::http::StatusCode::TOO_MANY_REQUESTS)
                .with_retry_after(secs),
        );
    }
    if forced == Some(Forced::Hang) {
        // Held by the play layer until the client gives up; an answer only for a client
        // that waits that long.
        let poll = record_poll(&mut store, log, now, "no answer", required, None);
        let mut resp = OAuthError::new(
            ErrorCode::AuthorizationPending,
            "The user has not decided yet",
        )
        .into_response();
        if let (Some(log), Some(poll)) = (log, poll) {
            resp.extensions_mut()
                .insert(crate::server::play::Hang { log, poll });
        }
        return Ok(resp);
    }
    let Some(d) = store.devices.get_mut(dc.as_bytes()) else {
        return Err(OAuthError::invalid_grant("Unknown device code"));
    };
    let early = early || forced == Some(Forced::SlowDown);
    let after_terminal = d.terminal_sent;
    let expired = !state.faults.has(Fault::NeverExpireDeviceCodes) && now >= d.expires_at;
    let outcome = match d.status.clone() {
        DeviceStatus::Consumed(_) if !state.faults.has(Fault::ReuseDeviceCode) => {
            Err(OAuthError::invalid_grant("Device code was already used"))
        }
        _ if expired => {
            d.terminal_sent = true;
            Err(OAuthError::new(
                ErrorCode::ExpiredToken,
                "Device code expired",
            ))
        }
        DeviceStatus::Denied if !state.faults.has(Fault::IgnoreDeviceDenial) => {
            d.terminal_sent = true;
            Err(OAuthError::new(
                ErrorCode::AccessDenied,
                "The user denied the request",
            ))
        }
        DeviceStatus::Pending | DeviceStatus::Denied => {
            d.seen.pending += 1;
            if let Some(decision) = state
                .play
                .as_ref()
                .and_then(|p| p.decision_after(d.seen.pending))
            {
                d.status = match decision {
                    UserDecision::Approve => {
                        DeviceStatus::Approved(Arc::from(state.default_user()))
                    }
                    UserDecision::Deny => DeviceStatus::Denied,
                };
            }
            if early && !state.faults.has(Fault::NeverSlowDown) {
                if !state.faults.has(Fault::SlowDownNoIncrease) {
                    d.interval += Duration::from_secs(5);
                }
                Err(OAuthError::new(
                    ErrorCode::SlowDown,
                    "Polling too fast; add 5 seconds to the interval",
                ))
            } else {
                Err(OAuthError::new(
                    ErrorCode::AuthorizationPending,
                    "The user has not decided yet",
                ))
            }
        }
        DeviceStatus::Approved(user) => Ok(Some(user)),
        DeviceStatus::Consumed(_) => Ok(None),
    };
    let scope = d.scope;
    let client_id = client.id.clone();
    let answer = match &outcome {
        Ok(_) => "tokens",
        Err(e) => e.code.as_str(),
    };
    record_poll(&mut store, log, now, answer, required, None);
    let audit = store.audit_of(&client_id);
    audit.polls += 1;
    audit.early_polls += u64::from(early);
    audit.polls_after_terminal += u64::from(after_terminal);
    if early {
        tracing::warn!(client = %client_id, "device poll arrived before the interval (CLIENT-1)");
    }
    let user = outcome?;
    let grant = store.new_grant(client_id, user.clone());
    store.consume_device(dc, grant);
    let refresh = RefreshPlan::new_if(wants_refresh(state, client, scope), scope);
    Ok(issue(
        state,
        store,
        now,
        Token::random(),
        client,
        user,
        scope,
        grant,
        refresh,
    ))
}

/// Logs a poll of a device code whose polls are logged (a client under test); its index.
fn record_poll(
    store: &mut Store,
    log: Option<usize>,
    at: Timestamp,
    answer: &str,
    interval: Duration,
    retry_after: Option<u64>,
) -> Option<usize> {
    store.log_poll(
        log?,
        PollRecord {
            at,
            answer: answer.to_string(),
            interval,
            retry_after: retry_after.map(Duration::from_secs),
            abandoned: None,
        },
    )
}

fn client_credentials_grant(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<Response, OAuthError> {
    if client.is_public() {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "client_credentials is for confidential clients",
        ));
    }
    let scope = state.requested_scope(client, params.get("scope"))?;
    let access = Token::random();
    let now = state.now();
    let mut store = state.store.lock();
    // RFC 6749 §4.4.3: no refresh token (TOK-31), unless a fault says otherwise; without
    // one, nothing but the token itself can be revoked.
    let with_refresh = state.faults.has(Fault::AlwaysRefreshToken);
    let grant = if with_refresh {
        store.new_grant(client.id.clone(), None)
    } else {
        STANDALONE
    };
    let refresh = RefreshPlan::new_if(with_refresh, scope);
    Ok(issue(
        state, store, now, access, client, None, scope, grant, refresh,
    ))
}

fn password_grant(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<Response, OAuthError> {
    let user = params.get("username").unwrap_or("");
    let ok = crate::server::config::signs_in(&state.accounts, user, params.get("password"));
    if !ok {
        return Err(OAuthError::invalid_grant(
            "Invalid resource owner credentials",
        ));
    }
    let scope = state.requested_scope(client, params.get("scope"))?;
    let now = state.now();
    let mut store = state.store.lock();
    let user: Arc<str> = Arc::from(user);
    let grant = store.new_grant(client.id.clone(), Some(user.clone()));
    Ok(issue(
        state,
        store,
        now,
        Token::random(),
        client,
        Some(user),
        scope,
        grant,
        RefreshPlan::None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::ServerConfig;

    /// What serde_json writes for the same response (the struct this one replaced).
    #[derive(serde::Serialize)]
    struct Reference<'a> {
        access_token: &'a str,
        token_type: &'static str,
        expires_in: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        refresh_token: Option<&'a str>,
    }

    proptest::proptest! {
        #[test]
        fn token_responses_are_what_serde_json_writes(
            access in "[A-Za-z0-9_-]{1,64}",
            refresh in proptest::option::of("[A-Za-z0-9_-]{1,64}"),
            expires_in in proptest::num::u64::ANY,
            bits in proptest::option::of(proptest::num::u32::ANY),
        ) {
            let config = ServerConfig::builtin();
            let scopes: &Scopes = &config.scopes;
            let scope = bits.map(|b| {
                let chosen: Vec<&str> = scopes
                    .names()
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| b & (1 << i) != 0)
                    .map(|(_, n)| n.as_str())
                    .collect();
                scopes.parse(Some(&chosen.join(" "))).expect("known scopes")
            });
            let ours = TokenResponse {
                access_token: access.as_bytes(),
                expires_in,
                scope: scope.map(|s| (scopes, s)),
                refresh_token: refresh.as_deref().map(str::as_bytes),
            }
            .to_json();
            let reference = serde_json::to_vec(&Reference {
                access_token: &access,
                token_type: "Bearer",
                expires_in,
                scope: scope.map(|s| scopes.render(s)),
                refresh_token: refresh.as_deref(),
            })
            .expect("serializes");
            proptest::prop_assert_eq!(String::from_utf8(ours).expect("UTF-8"), String::from_utf8(reference).expect("UTF-8"));
        }
    }
}
