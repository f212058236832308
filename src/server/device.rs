//! Device authorization (RFC 8628 §3.1–§3.3): `POST /oauth/device/authorize` and the
//! verification page `GET/POST /oauth/device/verify` where the user enters the user code.

use crate::clock::Timestamp;
use crate::oauth::{ErrorCode, GrantType};
use crate::server::client_auth::ClientRequest;
use crate::server::error::{no_store_json, OAuthError};
use crate::server::faults::Fault;
use crate::server::pages::{esc, page};
use crate::server::params::{Params, Posted};
use crate::server::session;
pub(crate) use crate::server::store::DecideError;
use crate::server::store::{DeviceStatus, NewDevice, Token};
use crate::server::AppState;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// `POST /oauth/device/authorize`.
pub async fn authorize(
    State(state): State<Arc<AppState>>,
    req: Posted,
) -> Result<Response, OAuthError> {
    handle(&state, req.uri.query(), &req.headers, &req.body)
}

fn handle(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthError> {
    if state.faults.has(Fault::Device429) {
        return Err(rate_limited(2));
    }
    let ClientRequest { params, client } = ClientRequest::read(state, query, headers, body)?;
    if !client.grants.contains(GrantType::DeviceCode)
        && !state.faults.has(Fault::DeviceGrantAnyClient)
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "Client may not use the device authorization grant",
        ));
    }
    let scope = state.requested_scope(&client, params.get("scope"))?;
    let now = state.now();
    let device_code = Token::random();
    let ttl = state.policy.device_code_ttl;
    let interval = state.policy.device_interval;
    let omit_interval = state.faults.has(Fault::OmitInterval);
    let log = state.play.as_ref().map(|_| crate::server::play::DeviceLog {
        client_id: client.id.clone(),
        issued_at: now,
        expires_in: Duration::from_secs(ttl),
        interval: (!omit_interval).then(|| Duration::from_secs(interval)),
        polls: Vec::new(),
    });
    let new = NewDevice {
        client_id: client.id.clone(),
        scope,
        ttl: Duration::from_secs(ttl),
        interval: Duration::from_secs(interval),
    };
    // NOORLE-16: a per-client fixed window of one minute on the server clock.
    let limit = (!state.faults.has(Fault::NoDeviceRateLimit))
        .then_some(state.policy.device_authorizations_per_minute);
    state
        .device_rate
        .admit(&new.client_id, now, limit)
        .map_err(|left| rate_limited(left.as_secs().max(1)))?;
    let user_code = state.store.start_device(now, device_code, new, log);
    let verification_uri = state.url(crate::endpoint::Endpoint::Verification.path());
    let mut body = json!({
        "device_code": device_code.as_str(),
        "user_code": user_code,
        "verification_uri": verification_uri,
        "verification_uri_complete": format!("{verification_uri}?user_code={user_code}"),
        "expires_in": ttl,
    });
    if !omit_interval {
        body["interval"] = json!(interval);
    }
    Ok(no_store_json(StatusCode::OK, body))
}

pub(crate) fn rate_limited(retry_after: u64) -> OAuthError {
    OAuthError::new(
        ErrorCode::RateLimited,
        "Too many device authorization requests for this client; retry later",
    )
    .with_status(StatusCode::TOO_MANY_REQUESTS)
    .with_retry_after(retry_after)
}

/// Approves or denies the device authorization behind `user_code` as `user`.
pub fn decide(
    state: &AppState,
    user_code: &str,
    user: &str,
    approve: bool,
) -> Result<(), DecideError> {
    let after_expiry = state.faults.has(Fault::ApproveAfterExpiry)
        || state.faults.has(Fault::NeverExpireDeviceCodes);
    let decision = if approve {
        DeviceStatus::Approved(Arc::from(user))
    } else {
        DeviceStatus::Denied
    };
    state
        .store
        .decide_device(user_code, state.now(), after_expiry, decision)
}

fn verify_form(
    state: &AppState,
    status: StatusCode,
    user_code: &str,
    csrf: &str,
    message: Option<&str>,
) -> Response {
    let msg = message
        .map(|m| format!("<p class=\"message\">{}</p>\n", esc(m)))
        .unwrap_or_default();
    page(
        state,
        status,
        "Connect a device",
        &format!(
            "{msg}<form method=\"post\" action=\"{}\">\n<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n<label>Code shown on your device <input name=\"user_code\" value=\"{}\" autocomplete=\"off\"></label>\n<label>Username <input name=\"username\"></label>\n<label>Password <input name=\"password\" type=\"password\"></label>\n<button name=\"action\" value=\"approve\">Approve</button>\n<button name=\"action\" value=\"deny\">Deny</button>\n</form>",
            crate::endpoint::Endpoint::Verification.path(),
            esc(csrf),
            esc(user_code)
        ),
    )
}

/// `GET /oauth/device/verify[?user_code=…]`: the page at `verification_uri` (DEV-25).
pub(crate) async fn verify_page(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (_, s, new) = session::ensure(&state, &headers);
    let code = q.get("user_code").map(String::as_str).unwrap_or("");
    let mut resp = verify_form(&state, StatusCode::OK, code, &s.csrf, None);
    session::set_cookie(&mut resp, new);
    resp
}

/// `POST /oauth/device/verify`: sign in and decide.
pub(crate) async fn verify_submit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::from_form(&body);
    let (sid, s, new) = session::ensure(&state, &headers);
    let now = state.now();
    let code = p.get("user_code").unwrap_or("");
    let mut resp = verify_decision(&state, &sid, &s, &p, now, code);
    session::set_cookie(&mut resp, new);
    resp
}

fn verify_decision(
    state: &AppState,
    sid: &str,
    s: &crate::server::store::Session,
    p: &Params,
    now: Timestamp,
    code: &str,
) -> Response {
    let limited = !state.faults.has(Fault::VerifyNoRateLimit);
    if limited && s.locked_until.is_some_and(|t| now < t) {
        return verify_form(
            state,
            StatusCode::TOO_MANY_REQUESTS,
            code,
            &s.csrf,
            Some("Too many wrong codes. Try again later."),
        );
    }
    if p.get("csrf") != Some(s.csrf.as_str()) && !state.faults.has(Fault::ConsentNoCsrf) {
        return verify_form(
            state,
            StatusCode::FORBIDDEN,
            code,
            &s.csrf,
            Some("The form expired. Try again."),
        );
    }
    let user = p.get("username").unwrap_or("");
    let password_ok = crate::server::config::signs_in(&state.accounts, user, p.get("password"));
    if !password_ok {
        return verify_form(
            state,
            StatusCode::UNAUTHORIZED,
            code,
            &s.csrf,
            Some("Wrong username or password."),
        );
    }
    let approve = p.get("action") != Some("deny");
    let decided = decide(state, code, user, approve);
    // DEV-24: wrong or expired codes in a row lock the session for a while.
    let counted = !matches!(decided, Err(DecideError::AlreadyDecided));
    if counted {
        state.store.verify_attempt(
            sid,
            now,
            decided.is_ok(),
            state.policy.verify_failures_before_lockout,
            Duration::from_secs(state.policy.verify_lockout),
        );
    }
    match decided {
        Ok(()) => {
            let msg = if approve {
                "Device connected. You can return to your device."
            } else {
                "Request denied."
            };
            page(
                state,
                StatusCode::OK,
                "Done",
                &format!("<p class=\"message\">{msg}</p>"),
            )
        }
        Err(e) => {
            let msg = match e {
                DecideError::Unknown => "That code is not valid.",
                DecideError::Expired => "That code has expired. Start again on your device.",
                DecideError::AlreadyDecided => "That code was already used.",
            };
            verify_form(state, StatusCode::BAD_REQUEST, code, &s.csrf, Some(msg))
        }
    }
}
