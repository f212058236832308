//! A small protected resource (RFC 6750): `/api/me` needs scope `api`, `/api/items`
//! needs `read`, `/api/admin` needs `admin`. Bearer tokens in the header only; a token in
//! the query or a form body alone counts as no credentials (builtin policy, RES-10), one
//! beside the header is a second method (RES-8) — except that under OAuth 2.1 the query's
//! is ignored (-16 §5.1). DPoP-bound tokens (RFC 9449 §7) only with the `DPoP` scheme and
//! a proof by their key; without credentials the answer challenges both schemes.

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
    /// A DPoP request refused (RFC 9449 §7.1, §9): 401 with a `DPoP` challenge naming the
    /// error, and the nonce to use for `use_dpop_nonce`.
    Dpop {
        error: &'static str,
        description: &'static str,
        nonce: Option<String>,
    },
}

/// The `DPoP` challenge's parameter naming the algorithms taken (RFC 9449 §7.1).
fn dpop_algs() -> String {
    format!("algs=\"{}\"", crate::server::dpop::ALGS.join(" "))
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::NoCredentials => {
                let mut r = challenge(StatusCode::UNAUTHORIZED, "", None);
                // RFC 9449 §7.2: both schemes are offered, without error information.
                let dpop = format!("DPoP {}", dpop_algs());
                if let Ok(v) = HeaderValue::from_str(&dpop) {
                    r.headers_mut().append(header::WWW_AUTHENTICATE, v);
                }
                r
            }
            Denied::Dpop {
                error,
                description,
                nonce,
            } => {
                let value = format!(
                    "DPoP error=\"{error}\", error_description=\"{description}\", {}",
                    dpop_algs()
                );
                let mut r = (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({ "error": error })),
                )
                    .into_response();
                if let Ok(v) = HeaderValue::from_str(&value) {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                if let Some(v) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
                    r.headers_mut().insert("dpop-nonce", v);
                }
                r
            }
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

/// Checks the bearer or DPoP token for `needed` scope; the token record on success.
fn check(
    st: &AppState,
    (method, headers, uri): (&str, &HeaderMap, &Uri),
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
    let mut dpop_scheme = false;
    let token = match header_value {
        _ if strict && in_query && header_value.is_some() => return Err(Denied::TwoMethods),
        // RFC 6750 §2.2: the form body is a second method too.
        Some(_) if strict && body_token => return Err(Denied::TwoMethods),
        Some(h) => match h.split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
                t.trim()
            }
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("dpop") && !t.trim().is_empty() => {
                dpop_scheme = true;
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
        return Err(if dpop_scheme {
            dpop_denied(
                "invalid_token",
                "The access token is invalid, expired or revoked",
            )
        } else {
            Denied::InvalidToken
        });
    };
    check_binding(st, (method, headers, uri), token, &t, dpop_scheme)?;
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

/// A refusal under the `DPoP` scheme.
fn dpop_denied(error: &'static str, description: &'static str) -> Denied {
    Denied::Dpop {
        error,
        description,
        nonce: None,
    }
}

/// RFC 9449 §7: a DPoP-bound token only with the `DPoP` scheme and a proof by its key
/// (§7.1: "The resource server MUST NOT grant access to the resource unless all checks
/// are successful"); a bound token sent as Bearer is refused (§7.2, DPOP-25).
fn check_binding(
    st: &AppState,
    (method, headers, uri): (&str, &HeaderMap, &Uri),
    token: &str,
    t: &AccessToken,
    dpop_scheme: bool,
) -> Result<(), Denied> {
    use crate::server::dpop::{check, Place, Refusal};
    let f = |fault| st.faults.has(fault);
    if !dpop_scheme {
        // §7.2: "such a protected resource MUST reject a DPoP-bound access token received
        // as a bearer token".
        return match &t.jkt {
            Some(_) if !f(Fault::DpopRsAcceptBearer) => Err(Denied::InvalidToken),
            _ => Ok(()),
        };
    }
    let Some(bound) = &t.jkt else {
        return Err(dpop_denied(
            "invalid_token",
            "The access token is not DPoP-bound",
        ));
    };
    let proof = match check(
        st,
        headers,
        method,
        uri.path(),
        Place::Resource,
        Some(token),
    ) {
        Ok(p) => p,
        Err(Refusal::Invalid(why)) => return Err(dpop_denied("invalid_dpop_proof", why)),
        Err(Refusal::UseNonce(n)) => {
            return Err(Denied::Dpop {
                error: "use_dpop_nonce",
                description: "Resource server requires nonce in DPoP proof",
                nonce: Some(n),
            })
        }
    };
    match proof {
        // §7.1: "check that a DPoP proof was also received in the DPoP header field".
        None if f(Fault::DpopRsNoProofOk) => Ok(()),
        None => Err(dpop_denied(
            "invalid_dpop_proof",
            "A DPoP proof is required with a DPoP-bound token",
        )),
        // §4.3 item 12: "confirm that the public key to which the access token is bound
        // matches the public key from the DPoP proof".
        Some(p) if *p.jkt != **bound && !f(Fault::DpopRsSkipKeyMatch) => Err(dpop_denied(
            "invalid_token",
            "The DPoP proof's key is not the key the token is bound to",
        )),
        Some(_) => Ok(()),
    }
}

fn answer(
    st: &AppState,
    method: &str,
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
    let checked = check(st, (method, headers, uri), body_token, needed);
    // DPOP-26's fault: the DPoP challenge names an error though no credentials came
    // (the Bearer challenge stays as RFC 6750 §3.1 wants it).
    if st.faults.has(Fault::DpopRsChallengeErrorAlways) {
        if let Err(Denied::NoCredentials) = checked {
            let mut r = challenge(StatusCode::UNAUTHORIZED, "", None);
            let dpop = format!("DPoP error=\"invalid_token\", {}", dpop_algs());
            if let Ok(v) = HeaderValue::from_str(&dpop) {
                r.headers_mut().append(header::WWW_AUTHENTICATE, v);
            }
            return r;
        }
    }
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
    answer(&st, "GET", &headers, &uri, None, "api", "me")
}

/// `POST /api/me` (scope `api`): the same resource, for requests with a form body.
pub async fn me_post(
    State(st): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    answer(&st, "POST", &headers, &uri, Some(&body), "api", "me")
}

/// `GET /api/items` (scope `read`).
pub async fn items(State(st): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    answer(&st, "GET", &headers, &uri, None, "read", "items")
}

/// `GET /api/admin` (scope `admin`).
pub async fn admin(State(st): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    answer(&st, "GET", &headers, &uri, None, "admin", "admin")
}
