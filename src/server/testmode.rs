//! The test-mode control API under `/_test/`: a harness acts as the user and moves time
//! without a browser. Served only when test mode is on (`serve --test-mode`, and always
//! in-process for the runner's builtin target); otherwise these paths answer 404.

use crate::server::authorize::{conclude, validate};
use crate::server::device::{decide, DecideError};
use crate::server::pages::error_page;
use crate::server::params::Params;
use crate::server::revoke::{connected_apps, revoke_app};
use crate::server::store::NewDevice;
use crate::server::AppState;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// The control routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/_test/clock/advance", post(advance))
        .route("/_test/device/approve", post(approve))
        .route("/_test/device/deny", post(deny))
        .route("/_test/device/bulk", post(bulk))
        .route("/_test/authorize", get(authorize))
        .route("/_test/audit", get(audit))
        .route("/_test/apps", get(apps))
        .route("/_test/apps/revoke", post(apps_revoke))
        .route("/_test/stats", get(stats))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: f64,
}

async fn advance(State(st): State<Arc<AppState>>, Json(a): Json<Advance>) -> Response {
    if !a.seconds.is_finite() || a.seconds < 0.0 || a.seconds > 1e9 {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "seconds must be between 0 and 1e9"})),
        )
            .into_response();
    }
    st.clock.advance(Duration::from_secs_f64(a.seconds));
    Json(json!({ "now_ms": st.now().as_millis() })).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Decision {
    user_code: String,
    user: Option<String>,
}

fn default_user(st: &AppState) -> String {
    st.default_user()
}

fn decide_route(st: &AppState, d: Decision, approve: bool) -> Response {
    let user = d.user.unwrap_or_else(|| default_user(st));
    match decide(st, &d.user_code, &user, approve) {
        Ok(()) => {
            Json(json!({ "status": if approve { "approved" } else { "denied" } })).into_response()
        }
        Err(e) => {
            let code = match e {
                DecideError::Unknown => "unknown_user_code",
                DecideError::Expired => "expired_token",
                DecideError::AlreadyDecided => "already_decided",
            };
            (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": code, "error_description": e.to_string() })),
            )
                .into_response()
        }
    }
}

async fn approve(State(st): State<Arc<AppState>>, Json(d): Json<Decision>) -> Response {
    decide_route(&st, d, true)
}

async fn deny(State(st): State<Arc<AppState>>, Json(d): Json<Decision>) -> Response {
    decide_route(&st, d, false)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Bulk {
    client_id: String,
    count: usize,
    #[serde(default)]
    scope: Option<String>,
    /// `false`: create them but answer only the count (memory measurements).
    #[serde(default = "yes")]
    return_codes: bool,
}

fn yes() -> bool {
    true
}

/// Creates many pending device authorizations at once, without rate limiting: the
/// starting point of polling benchmarks and load profiles.
async fn bulk(State(st): State<Arc<AppState>>, Json(b): Json<Bulk>) -> Response {
    let Some(client) = st.client(&b.client_id) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unknown client"})),
        )
            .into_response();
    };
    if b.count > 1_000_000 {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "count must be at most 1000000"})),
        )
            .into_response();
    }
    let scope = match st.requested_scope(&client, b.scope.as_deref()) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let now = st.now();
    let mut out = Vec::with_capacity(b.count);
    let new = NewDevice {
        client_id: client.id.clone(),
        scope,
        ttl: Duration::from_secs(st.policy.device_code_ttl),
        interval: Duration::from_secs(st.policy.device_interval),
    };
    st.store.start_devices(now, &new, b.count, |dc, uc| {
        if b.return_codes {
            out.push(json!({ "device_code": dc.as_str(), "user_code": uc }));
        }
    });
    Json(json!({ "created": b.count, "devices": out, "interval": st.policy.device_interval, "expires_in": st.policy.device_code_ttl })).into_response()
}

/// `GET /_test/authorize?<authorization request>[&decision=deny][&user=NAME]`: the redirect
/// that the user's consent (or refusal) would produce, through the same validation as the
/// real endpoint.
async fn authorize(State(st): State<Arc<AppState>>, uri: Uri) -> Response {
    let raw = uri.query().unwrap_or("");
    let all = Params::from_form(raw.as_bytes());
    let deny = all.get("decision") == Some("deny");
    let user = all
        .get("user")
        .map(str::to_string)
        .unwrap_or_else(|| default_user(&st));
    // The harness's own parameters are not part of the authorization request.
    let request: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            url::form_urlencoded::parse(raw.as_bytes())
                .filter(|(k, _)| k != "decision" && k != "user"),
        )
        .finish();
    let r = match crate::server::authorize::read_request(&st, &request) {
        Ok(r) => r,
        Err(msg) => return error_page(&st, StatusCode::BAD_REQUEST, &msg),
    };
    let q = crate::server::authorize::params_of(&st, &r.query);
    conclude(
        &st,
        validate(&st, &q, r.via()),
        &user,
        !deny,
        StatusCode::FOUND,
    )
}

async fn audit(State(st): State<Arc<AppState>>) -> Response {
    Json(json!({ "clients": st.store.audit() })).into_response()
}

#[derive(Debug, Deserialize)]
struct UserQuery {
    user: Option<String>,
}

async fn apps(State(st): State<Arc<AppState>>, Query(q): Query<UserQuery>) -> Response {
    let user = q.user.unwrap_or_else(|| default_user(&st));
    Json(json!({ "user": user, "apps": connected_apps(&st, &user) })).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppRevoke {
    client_id: String,
    user: Option<String>,
}

/// Emulates the console's "Revoke Access" (REV-12, matrix §15 #17).
async fn apps_revoke(State(st): State<Arc<AppState>>, Json(r): Json<AppRevoke>) -> Response {
    let user = r.user.unwrap_or_else(|| default_user(&st));
    let n = revoke_app(&st, &user, &r.client_id);
    Json(json!({ "revoked_grants": n })).into_response()
}

async fn stats(State(st): State<Arc<AppState>>) -> Response {
    let mut stats: serde_json::Map<String, serde_json::Value> = st
        .store
        .counts()
        .into_iter()
        .map(|(k, n)| (k.to_string(), json!(n)))
        .collect();
    stats.insert("now_ms".into(), json!(st.now().as_millis()));
    Json(stats).into_response()
}
