//! The token endpoint `POST /oauth/token` (RFC 6749 §3.2, §4.1.3, §4.4, §5, §6;
//! RFC 8628 §3.4–§3.5; RFC 7636 §4.5–§4.6): every grant the builtin supports.

use crate::clock::Timestamp;
use crate::oauth::{s256, ErrorCode, GrantType};
use crate::server::client_auth::ClientRequest;
use crate::server::config::{Client, ScopeSet, Scopes};
use crate::server::error::{no_store_bytes, OAuthError};
use crate::server::faults::Fault;
use crate::server::params::{Params, Posted};
use crate::server::play::{Forced, UserDecision};
use crate::server::store::{
    AuthorizationCode, DevicePoll, DeviceStatus, Issuance, Issued, PkceMethod, PollMiss,
    PollVerdict, Polled, Presented, RefreshPlan, Token, Verdict,
};
use crate::server::{AppState, Rules};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;

/// `POST /oauth/token`.
pub async fn token(State(state): State<Arc<AppState>>, req: Posted) -> Response {
    if let Some(pause) = &state.pause {
        pause.hold().await;
    }
    answer(&state, &req)
}

/// [`token`]'s answer, for a request whose body has been read.
pub fn answer(state: &AppState, req: &Posted) -> Response {
    let at = (Method::Post, req.uri.path());
    handle(state, at, req.uri.query(), &req.headers, &req.body)
        .unwrap_or_else(|e| e.into_response())
}

/// The method a token request came with (a GET only under fault `token-accepts-get`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

/// `GET /oauth/token`, routed only under fault `token-accepts-get` (TOK-1).
pub(crate) async fn token_get(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let mut h = headers.clone();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let q = uri.query().unwrap_or("").as_bytes().to_vec();
    handle(&state, (Method::Get, uri.path()), None, &h, &q)
}

fn handle(
    state: &AppState,
    (method, path): (Method, &str),
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthError> {
    let ClientRequest { params, client } = ClientRequest::read(state, query, headers, body)?;
    let method = match method {
        Method::Get => "GET",
        Method::Post => "POST",
    };
    let jkt = proof_key(state, headers, method, path, &client)?;
    let jkt = jkt.as_ref();
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
        GrantType::AuthorizationCode => code_grant(state, &client, &params, jkt),
        GrantType::RefreshToken => refresh_grant(state, &client, &params, jkt),
        GrantType::DeviceCode => device_grant(state, &client, &params, jkt),
        GrantType::ClientCredentials => client_credentials_grant(state, &client, &params, jkt),
    }
}

/// The DPoP key the request's proof holds (RFC 9449 §5: a proof goes with "all access
/// token requests regardless of grant type"), checked as §4.3 says; `None` without one,
/// unless the client is registered as always using DPoP (§5.2, DPOP-18).
fn proof_key(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    client: &Client,
) -> Result<Option<Arc<str>>, OAuthError> {
    use crate::server::dpop::{check, Place};
    let proof = check(state, headers, method, path, Place::Token, None)
        .map_err(|r| crate::server::dpop::as_error(state, r))?;
    // §5.2 `dpop_bound_access_tokens`: "If the value is true, the authorization server
    // MUST reject token requests from the client that do not contain the DPoP header."
    if proof.is_none()
        && client.dpop_bound_access_tokens
        && !state.faults.has(Fault::DpopIgnoreBoundFlag)
    {
        return Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "This client must send a DPoP proof",
        ));
    }
    Ok(proof.map(|p| Arc::from(p.jkt)))
}

/// Whether a grant with `scope` gets a refresh token (NOORLE-18: with `offline_access`).
fn wants_refresh(rules: Rules<'_>, client: &Client, scope: ScopeSet) -> bool {
    if rules.faults.has(Fault::AlwaysRefreshToken) {
        return true;
    }
    if rules.faults.has(Fault::NoRefreshToken) {
        return false;
    }
    client.grants.contains(GrantType::RefreshToken)
        && scope.contains_all(rules.scopes.one("offline_access"))
        && !rules.scopes.one("offline_access").is_empty()
}

/// The tokens `client` gets for `scope` now, a refresh token as `refresh` says, bound
/// to the DPoP key `jkt` if any.
fn issuance(
    rules: Rules<'_>,
    client: &Client,
    user: Option<Arc<str>>,
    scope: ScopeSet,
    refresh: RefreshPlan,
    jkt: Option<&Arc<str>>,
) -> Issuance {
    // RFC 9449 §5: "When an authorization server supporting DPoP issues a refresh token to
    // a public client that presents a valid DPoP proof at the token endpoint, the refresh
    // token MUST be bound to the respective public key." (DPOP-17)
    let bind_refresh = client.is_public() && !rules.faults.has(Fault::DpopUnboundPublicRt);
    Issuance {
        client_id: client.id.clone(),
        user,
        scope,
        access_ttl: Duration::from_secs(rules.policy.access_token_ttl),
        refresh,
        jkt: jkt.cloned(),
        refresh_jkt: jkt.filter(|_| bind_refresh).cloned(),
    }
}

/// A new refresh token with `scope` if `cond`.
fn refresh_if(cond: bool, scope: ScopeSet) -> RefreshPlan {
    if cond {
        RefreshPlan::New(scope)
    } else {
        RefreshPlan::None
    }
}

/// The RFC 6749 §5.1 response for `issued`; `kept` is the refresh token presented, when
/// it stays valid and is shown again; `bound`: the access token is DPoP-bound.
fn respond(state: &AppState, issued: &Issued, kept: Option<&str>, bound: bool) -> Response {
    let body = TokenResponse {
        access_token: issued.access.as_bytes(),
        // RFC 9449 §5: "A token_type of DPoP MUST be included in the access token response
        // to signal to the client that the access token was bound to its DPoP key" (DPOP-1).
        dpop: bound && !state.faults.has(Fault::DpopBearerTokenType),
        expires_in: state.policy.access_token_ttl,
        scope: (!state.faults.has(Fault::IgnoreScope)).then_some((&*state.scopes, issued.scope)),
        refresh_token: issued
            .refresh
            .as_ref()
            .map(Token::as_bytes)
            .or(kept.map(str::as_bytes)),
    };
    no_store_bytes(StatusCode::OK, body.to_json())
}

/// A successful token response (RFC 6749 §5.1), `token_type` Bearer or DPoP.
struct TokenResponse<'a> {
    access_token: &'a [u8],
    dpop: bool,
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
        let kind: &[u8] = if self.dpop {
            br#"","token_type":"DPoP","expires_in":"#
        } else {
            br#"","token_type":"Bearer","expires_in":"#
        };
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
            + kind.len()
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
        out.extend_from_slice(kind);
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
pub(crate) fn verifier_well_formed(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn code_expired(rules: Rules<'_>, issued: Timestamp, now: Timestamp) -> bool {
    if rules.faults.has(Fault::NeverExpireCodes) {
        return false;
    }
    let ttl = Duration::from_secs(rules.policy.authorization_code_ttl);
    let age = now.since(issued);
    if rules.faults.has(Fault::EarlyExpireCodes) {
        age >= ttl.saturating_sub(Duration::from_secs(1))
    } else {
        age > ttl
    }
}

fn code_grant(
    state: &AppState,
    client: &Client,
    params: &Params,
    jkt: Option<&Arc<str>>,
) -> Result<Response, OAuthError> {
    let Some(code) = params.get("code") else {
        return Err(OAuthError::invalid_request("Missing code"));
    };
    let now = state.now();
    // The judge sees the rules, never the store it runs under.
    let rules = state.rules();
    // RACE-1's fault: the two reads of one code meet before either marks it used.
    let gap = || state.rendezvous.meet(code.as_bytes());
    let racy = state.faults.has(Fault::RaceCodeDoubleSpend);
    let issued = state.store.redeem_code(
        code,
        now,
        |rec| {
            let Some(rec) = rec else {
                return Verdict::Refuse(OAuthError::invalid_grant("Unknown authorization code"));
            };
            match judge_code(rules, client, params, rec, now, jkt) {
                Ok(()) => {
                    let refresh = refresh_if(wants_refresh(rules, client, rec.scope), rec.scope);
                    let user = Some(rec.user.clone());
                    Verdict::Grant(issuance(rules, client, user, rec.scope, refresh, jkt))
                }
                Err(verdict) => verdict,
            }
        },
        racy.then_some(&gap as &dyn Fn()),
    )?;
    Ok(respond(state, &issued, None, jkt.is_some()))
}

/// Whether `rec` may be redeemed by `client` with `params` (RFC 6749 §4.1.3, RFC 7636
/// §4.6); if not, the refusal.
fn judge_code(
    rules: Rules<'_>,
    client: &Client,
    params: &Params,
    rec: &AuthorizationCode,
    now: Timestamp,
    jkt: Option<&Arc<str>>,
) -> Result<(), Verdict> {
    let refuse = |m: &'static str| Err(Verdict::Refuse(OAuthError::invalid_grant(m)));
    if rec.client_id != client.id && !rules.faults.has(Fault::CodeAnyClient) {
        return refuse("Authorization code was issued to another client");
    }
    // RFC 9449 §10: the thumbprint of the proof's key "matches the dpop_jkt parameter
    // value in the authorization request. If they do not match, it MUST reject the
    // request." (DPOP-19, DPOP-20)
    if let Some(pinned) = &rec.dpop_jkt {
        if jkt.map(|k| &**k) != Some(pinned.as_str()) {
            return refuse("The authorization code is bound to another DPoP key");
        }
    }
    if code_expired(rules, rec.issued_at, now) {
        return refuse("Authorization code expired");
    }
    let oauth21 = rules.policy.oauth21;
    if let Some(grant) = rec.redeemed {
        if !rules.faults.has(Fault::ReuseCode) {
            // RFC 6749 §4.1.2, §10.5: refuse, and revoke what the code issued (TOK-22).
            let e = OAuthError::invalid_grant("Authorization code was already used");
            // RACE-2's fault: the losers of a race (a reuse right after the issue) revoke
            // nothing.
            let racing = rules.faults.has(Fault::RaceCodeNoRevoke)
                && now.since(rec.issued_at) < Duration::from_secs(1);
            // OAuth 2.1 -16 §7.5.3: "The authorization server SHOULD NOT revoke any issued
            // tokens when receiving a replayed authorization code that contains invalid
            // parameters." (OAUTH21-4; the client was judged above.)
            let invalid_replay = oauth21
                && !rules.faults.has(Fault::RevokeOnInvalidReplay)
                && check_pkce(rules, rec.challenge.as_ref(), params.get("code_verifier")).is_err();
            if rules.faults.has(Fault::NoRevokeOnCodeReuse) || racing || invalid_replay {
                return Err(Verdict::Refuse(e));
            }
            return Err(Verdict::RefuseRevoking(grant, e));
        }
    }
    // -16 §4.1.3: "If there was no code_challenge in the authorization request associated
    // with the authorization code in the token request, the authorization server MUST
    // reject the token request." (OAUTH21-2: such a code exists only under the OpenID
    // Connect nonce exception.)
    if oauth21
        && rec.challenge.is_none()
        && !rules.faults.has(Fault::CodeWithoutChallengeRedeemable)
    {
        return refuse("Authorization code was issued without a code_challenge");
    }
    // -16 §10.2: the redirect_uri parameter "has been removed" from the token request,
    // and is enforced as RFC 6749 says when sent (OAUTH21-3, TOK-24).
    let needs_redirect_uri = !oauth21 || rules.faults.has(Fault::RequireRedirectUriAtToken);
    if !rules.faults.has(Fault::IgnoreRedirectUriAtToken) {
        if let Some(expected) = &rec.redirect_uri {
            match params.get("redirect_uri") {
                None if !needs_redirect_uri => {}
                None => {
                    let e = OAuthError::invalid_request("Missing redirect_uri");
                    return Err(Verdict::Refuse(e));
                }
                Some(given) if given != expected => {
                    return refuse("redirect_uri does not match the authorization request")
                }
                Some(_) => {}
            }
        }
    }
    if rules.faults.has(Fault::SkipPkce) {
        return Ok(());
    }
    check_pkce(rules, rec.challenge.as_ref(), params.get("code_verifier"))
        .map_err(|m| Verdict::Refuse(OAuthError::invalid_grant(m)))
}

/// RFC 7636 §4.6 and PKCE downgrade protection (RFC 9700 §4.8.2, BCP-7): why the
/// verifier does not fit the challenge, if it does not.
fn check_pkce(
    rules: Rules<'_>,
    challenge: Option<&(String, PkceMethod)>,
    verifier: Option<&str>,
) -> Result<(), &'static str> {
    match (challenge, verifier) {
        (Some(_), None) => Err("Missing code_verifier"),
        (Some(_), Some(v)) if !verifier_well_formed(v) => Err("Malformed code_verifier"),
        (Some((challenge, method)), Some(v)) => {
            let derived = match method {
                PkceMethod::S256 => s256(v),
                PkceMethod::Plain => v.to_string(),
            };
            let ok: bool =
                subtle::ConstantTimeEq::ct_eq(derived.as_bytes(), challenge.as_bytes()).into();
            if ok {
                Ok(())
            } else {
                Err("code_verifier does not match the code challenge")
            }
        }
        (None, Some(_)) if !rules.faults.has(Fault::PkceDowngrade) => {
            Err("code_verifier sent for a code issued without a code challenge")
        }
        (None, _) => Ok(()),
    }
}

fn refresh_grant(
    state: &AppState,
    client: &Client,
    params: &Params,
    jkt: Option<&Arc<str>>,
) -> Result<Response, OAuthError> {
    let Some(rt) = params.get("refresh_token") else {
        return Err(OAuthError::invalid_request("Missing refresh_token"));
    };
    let requested = match params.get("scope") {
        None => None,
        Some(raw) => Some(state.requested_scope(client, Some(raw))?),
    };
    let now = state.now();
    // The same refresh token stays valid unless rotated; say so, as RFC 6749 §6 allows.
    let rotate = client.is_public() && !state.faults.has(Fault::NoRefreshRotation);
    let rules = state.rules();
    // RACE-4's fault: the two reads of one refresh token meet before either rotates it.
    let gap = || state.rendezvous.meet(rt.as_bytes());
    let racy = state.faults.has(Fault::RaceRtFork);
    let issued = state.store.refresh(
        rt,
        now,
        |found| {
            let Some(presented) = found else {
                return Verdict::Refuse(OAuthError::invalid_grant("Unknown refresh token"));
            };
            match judge_refresh(rules, client, presented, requested, now, jkt) {
                Ok((scope, reuse)) => {
                    let scope_granted = presented.token.scope;
                    let refresh = match reuse {
                        Reuse::Fresh if rotate => RefreshPlan::New(scope_granted),
                        Reuse::Fresh => RefreshPlan::Keep,
                        // RACE-5's fault: a reuse inside the window starts a new branch.
                        Reuse::InWindow if rules.faults.has(Fault::RaceRtGraceFork) => {
                            RefreshPlan::New(scope_granted)
                        }
                        Reuse::InWindow => RefreshPlan::Successor,
                    };
                    let user = presented.token.user.clone();
                    Verdict::Grant(issuance(rules, client, user, scope, refresh, jkt))
                }
                Err(verdict) => verdict,
            }
        },
        racy.then_some(&gap as &dyn Fn()),
    )?;
    Ok(respond(
        state,
        &issued,
        (!rotate).then_some(rt),
        jkt.is_some(),
    ))
}

/// How a refresh token presented is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reuse {
    /// Not rotated yet (or reuse detection is off, by a fault).
    Fresh,
    /// Rotated out, inside the reuse window the policy declares (matrix §23).
    InWindow,
}

/// The scope `presented` may be refreshed to for `client` (RFC 6749 §6) and how it is
/// used, or the refusal.
fn judge_refresh(
    rules: Rules<'_>,
    client: &Client,
    presented: Presented<'_>,
    requested: Option<ScopeSet>,
    now: Timestamp,
    jkt: Option<&Arc<str>>,
) -> Result<(ScopeSet, Reuse), Verdict> {
    let rec = presented.token;
    let refuse = |m: &'static str| Err(Verdict::Refuse(OAuthError::invalid_grant(m)));
    if rec.client_id != client.id && !rules.faults.has(Fault::RefreshAnyClient) {
        return refuse("Refresh token was issued to another client");
    }
    // RFC 9449 §5: a public client's refresh token is bound to its key, and "The binding
    // MUST be validated when the refresh token is later presented" (DPOP-17).
    if let Some(bound) = &rec.jkt {
        if jkt != Some(bound) {
            return refuse("The refresh token is bound to another DPoP key");
        }
    }
    if !presented.alive {
        return refuse("Refresh token was revoked");
    }
    let idle = Duration::from_secs(rules.policy.refresh_token_idle_ttl);
    if !rules.faults.has(Fault::RefreshNeverIdleExpires) && now.since(rec.last_used) > idle {
        return refuse("Refresh token expired");
    }
    let mut reuse = Reuse::Fresh;
    if let Some(rotation) = rec
        .rotated
        .filter(|_| !rules.faults.has(Fault::NoRefreshReuseDetection))
    {
        if in_reuse_window(rules, presented, rotation.at, now) {
            reuse = Reuse::InWindow;
        } else {
            // RFC 9700 §4.14.2: replay of a rotated token revokes the grant (REF-9, REF-10).
            let e = OAuthError::invalid_grant("Refresh token was already used");
            return Err(Verdict::RefuseRevoking(rec.grant, e));
        }
    }
    let scope = match requested {
        None => rec.scope,
        Some(s) if rec.scope.contains_all(s) || rules.faults.has(Fault::RefreshWidensScope) => s,
        Some(_) => {
            return Err(Verdict::Refuse(OAuthError::new(
                ErrorCode::InvalidScope,
                "Requested scope exceeds the scope originally granted",
            )))
        }
    };
    Ok((scope, reuse))
}

/// Whether a rotated-out refresh token, rotated at `rotated_at`, is still accepted: only
/// under a declared reuse window (a deviation no RFC allows, matrix §24.2 #4), only the
/// token rotated out last (RACE-8) and only inside the window (RACE-7: "outside the
/// window rotation applies unchanged", RFC 9700 §4.14.2).
fn in_reuse_window(
    rules: Rules<'_>,
    presented: Presented<'_>,
    rotated_at: Timestamp,
    now: Timestamp,
) -> bool {
    let Some(window) = rules.policy.refresh_token_grace else {
        return false;
    };
    // RACE-6's fault: a benign race inside the window is taken for replay.
    if rules.faults.has(Fault::RaceRtGraceKillsFamily) {
        return false;
    }
    // RACE-7's and RACE-8's fault: the window never closes and covers every generation.
    if rules.faults.has(Fault::RaceRtGraceForever) {
        return true;
    }
    presented.replaced_last && now.since(rotated_at) <= Duration::from_secs(window)
}

fn device_grant(
    state: &AppState,
    client: &Client,
    params: &Params,
    jkt: Option<&Arc<str>>,
) -> Result<Response, OAuthError> {
    let Some(dc) = params.get("device_code") else {
        return Err(OAuthError::invalid_request("Missing device_code"));
    };
    let now = state.now();
    let any_client = state.faults.has(Fault::DeviceCodeAnyClient);
    let rules = state.rules();
    // RACE-3's fault: concurrent polls each read the approved code before any redeems it.
    let gap = || state.rendezvous.meet(dc.as_bytes());
    let racy = state.faults.has(Fault::RaceDeviceDoubleSpend);
    let polled = state.store.poll_device(
        dc,
        now,
        &client.id,
        any_client,
        |poll| judge_poll(rules, client, poll, now, jkt),
        racy.then_some(&gap as &dyn Fn()),
    );
    match polled {
        Ok(Polled::Tokens(issued)) => Ok(respond(state, &issued, None, jkt.is_some())),
        Ok(Polled::Refused(e)) => Err(e),
        Ok(Polled::Held(e, hang)) => {
            // Held by the play layer until the client gives up; an answer only for a
            // client that waits that long.
            let mut resp = e.into_response();
            resp.extensions_mut().insert(hang);
            Ok(resp)
        }
        Err(PollMiss::Unknown) => Err(OAuthError::invalid_grant("Unknown device code")),
        Err(PollMiss::OtherClient) => Err(OAuthError::invalid_grant(
            "Device code was issued to another client",
        )),
    }
}

/// The answer to a device code's poll (RFC 8628 §3.5), or for a client under test, the
/// answer its play forces.
fn judge_poll(
    rules: Rules<'_>,
    client: &Client,
    poll: &DevicePoll,
    now: Timestamp,
    jkt: Option<&Arc<str>>,
) -> PollVerdict {
    let forced = rules.play.as_ref().and_then(|p| p.forced(poll.number));
    let pending = || {
        OAuthError::new(
            ErrorCode::AuthorizationPending,
            "The user has not decided yet",
        )
    };
    match forced {
        Some(Forced::Busy(secs)) => {
            let e = OAuthError::new(ErrorCode::RateLimited, "Too many requests; retry later")
                .with_status(StatusCode::TOO_MANY_REQUESTS)
                .with_retry_after(secs);
            return PollVerdict::Busy(e, secs);
        }
        Some(Forced::Hang) => return PollVerdict::Hang(pending()),
        _ => {}
    }
    let d = poll.device;
    let early = poll.early || forced == Some(Forced::SlowDown);
    let expired = !rules.faults.has(Fault::NeverExpireDeviceCodes) && now >= d.expires_at;
    let user = match &d.status {
        DeviceStatus::Consumed(_) if !rules.faults.has(Fault::ReuseDeviceCode) => {
            let e = OAuthError::invalid_grant("Device code was already used");
            return PollVerdict::Refuse(e);
        }
        _ if expired => {
            let e = OAuthError::new(ErrorCode::ExpiredToken, "Device code expired");
            return PollVerdict::Terminal(e);
        }
        DeviceStatus::Denied if !rules.faults.has(Fault::IgnoreDeviceDenial) => {
            let e = OAuthError::new(ErrorCode::AccessDenied, "The user denied the request");
            return PollVerdict::Terminal(e);
        }
        DeviceStatus::Pending | DeviceStatus::Denied => {
            let decided = rules
                .play
                .and_then(|p| p.decision_after(d.seen.pending + 1))
                .map(|decision| match decision {
                    UserDecision::Approve => {
                        DeviceStatus::Approved(Arc::from(rules.default_user()))
                    }
                    UserDecision::Deny => DeviceStatus::Denied,
                });
            if !early || rules.faults.has(Fault::NeverSlowDown) {
                let (error, widen) = (pending(), Duration::ZERO);
                return PollVerdict::Pending {
                    error,
                    decided,
                    widen,
                };
            }
            let widen = if rules.faults.has(Fault::SlowDownNoIncrease) {
                Duration::ZERO
            } else {
                Duration::from_secs(5)
            };
            let error = OAuthError::new(
                ErrorCode::SlowDown,
                "Polling too fast; add 5 seconds to the interval",
            );
            return PollVerdict::Pending {
                error,
                decided,
                widen,
            };
        }
        DeviceStatus::Approved(user) => Some(user.clone()),
        DeviceStatus::Consumed(_) => None,
    };
    let refresh = refresh_if(wants_refresh(rules, client, d.scope), d.scope);
    PollVerdict::Grant(issuance(rules, client, user, d.scope, refresh, jkt))
}

fn client_credentials_grant(
    state: &AppState,
    client: &Client,
    params: &Params,
    jkt: Option<&Arc<str>>,
) -> Result<Response, OAuthError> {
    if client.is_public() {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "client_credentials is for confidential clients",
        ));
    }
    let scope = state.requested_scope(client, params.get("scope"))?;
    let now = state.now();
    // RFC 6749 §4.4.3: no refresh token (TOK-31), unless a fault says otherwise; without
    // one, nothing but the token itself can be revoked.
    let issued = if state.faults.has(Fault::AlwaysRefreshToken) {
        let refresh = RefreshPlan::New(scope);
        let iss = issuance(state.rules(), client, None, scope, refresh, jkt);
        state.store.issue(now, Token::random(), &iss)
    } else {
        let iss = issuance(state.rules(), client, None, scope, RefreshPlan::None, jkt);
        state.store.issue_standalone(now, &iss)
    };
    Ok(respond(state, &issued, None, jkt.is_some()))
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
    let iss = issuance(
        state.rules(),
        client,
        Some(Arc::from(user)),
        scope,
        RefreshPlan::None,
        None,
    );
    let issued = state.store.issue(state.now(), Token::random(), &iss);
    Ok(respond(state, &issued, None, false))
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
                dpop: false,
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
