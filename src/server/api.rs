//! A small protected resource (RFC 6750): `/api/me` needs scope `api`, `/api/items`
//! needs `read`, `/api/admin` needs `admin`. Bearer tokens in the header only; a token in
//! the query or a form body alone counts as no credentials (builtin policy, RES-10), one
//! beside the header is a second method (RES-8) — except that under OAuth 2.1 the query's
//! is ignored (-16 §5.1).

use crate::server::error::REALM;
use crate::server::faults::Fault;
use crate::server::store::{AccessToken, Found};
use crate::server::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::Arc;

/// Why a request was refused, rendered as an RFC 6750 §3 challenge.
#[derive(Debug)]
enum Denied {
    /// No usable credentials: 401 without an error attribute (RES-2, RES-3).
    NoCredentials,
    /// Token sent by two methods: 400 `invalid_request` (RES-8).
    TwoMethods,
    /// Unknown, expired or revoked: 401 `invalid_token` (RES-6).
    InvalidToken,
    /// Scope missing: 403 `insufficient_scope` naming the scope (RES-7); 401 under a fault.
    Insufficient(&'static str, StatusCode),
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::NoCredentials => challenge(StatusCode::UNAUTHORIZED, "", None),
            Denied::TwoMethods => challenge(
                StatusCode::BAD_REQUEST,
                ", error=\"invalid_request\", error_description=\"Token sent by more than one method\"",
                Some("invalid_request"),
            ),
            Denied::InvalidToken => challenge(
                StatusCode::UNAUTHORIZED,
                ", error=\"invalid_token\", error_description=\"The access token is invalid, expired or revoked\"",
                Some("invalid_token"),
            ),
            Denied::Insufficient(needed, status) => challenge(
                status,
                &format!(", error=\"insufficient_scope\", scope=\"{needed}\""),
                Some("insufficient_scope"),
            ),
        }
    }
}

fn challenge(status: StatusCode, attrs: &str, error: Option<&str>) -> Response {
    let value = format!("Bearer realm=\"{REALM}\"{attrs}");
    let body = match error {
        Some(e) => json!({ "error": e }),
        None => json!({ "error": "unauthorized" }),
    };
    let mut r = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// Checks the bearer token for `needed` scope; the token record on success.
fn check(
    st: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    body_token: bool,
    needed: &'static str,
) -> Result<AccessToken, Denied> {
    let from_query = uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
    });
    // OAuth 2.1 -16 §5.1: "resource servers MUST ignore access tokens in a URI query
    // parameter" (RES-10 under oauth21); under the RFCs one sent beside the header is a
    // second method (RES-8).
    let in_query = from_query.is_some() && !st.policy.oauth21;
    let header_value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    // RES-8's fault: a second method is not looked at (the header wins).
    let strict = !st.faults.has(Fault::TwoMethodsAccepted);
    let token = match header_value {
        _ if strict && in_query && header_value.is_some() => return Err(Denied::TwoMethods),
        // RFC 6750 §2.2: the form body is a second method too.
        Some(_) if strict && body_token => return Err(Denied::TwoMethods),
        Some(h) => match h.split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
                t.trim()
            }
            _ => return Err(Denied::NoCredentials),
        },
        // RES-10's fault: the query's token is taken.
        None => match from_query.as_deref() {
            Some(t) if st.faults.has(Fault::QueryTokenAccepted) => t,
            _ => return Err(Denied::NoCredentials),
        },
    };
    let now = st.now();
    let Some(Found::Access(t)) = st.store.find(token) else {
        return Err(Denied::InvalidToken);
    };
    if now >= t.expires_at && !st.faults.has(Fault::TokensNeverExpire) {
        return Err(Denied::InvalidToken);
    }
    let need = st.scopes.one(needed);
    if !t.scope.contains_all(need) && !st.faults.has(Fault::ApiNoScopeCheck) {
        let status = if st.faults.has(Fault::Api401ForInsufficientScope) {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::FORBIDDEN
        };
        return Err(Denied::Insufficient(needed, status));
    }
    Ok(t)
}

fn answer(
    st: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    body: Option<&[u8]>,
    needed: &'static str,
    what: &str,
) -> Response {
    // A form body's `access_token` (RFC 6750 §2.2) is never accepted (builtin policy, as
    // for the query); beside the header it is a second method (RES-8).
    let body_token =
        body.is_some_and(|b| url::form_urlencoded::parse(b).any(|(k, _)| k == "access_token"));
    let checked = check(st, headers, uri, body_token, needed);
    if st.faults.has(Fault::BareBearerChallenge) {
        if let Err(d) = checked {
            let mut r = d.into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    match checked {
        Ok(t) => Json(json!({
            "resource": what,
            "sub": t.user.as_deref().unwrap_or(&t.client_id),
            "client_id": &*t.client_id,
            "scope": st.render_scope(t.scope),
        }))
        .into_response(),
        Err(d) => d.into_response(),
    }
}

/// `GET /api/me` (scope `api`).
pub async fn me(State(st): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    answer(&st, &headers, &uri, None, "api", "me")
}

/// `POST /api/me` (scope `api`): the same resource, for requests with a form body.
pub async fn me_post(
    State(st): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    answer(&st, &headers, &uri, Some(&body), "api", "me")
}

/// `GET /api/items` (scope `read`).
pub async fn items(State(st): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    answer(&st, &headers, &uri, None, "read", "items")
}

/// `GET /api/admin` (scope `admin`).
pub async fn admin(State(st): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    answer(&st, &headers, &uri, None, "admin", "admin")
}
