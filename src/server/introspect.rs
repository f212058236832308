//! RFC 7662 token introspection `POST /oauth/introspect`: the suite's oracle for "this
//! token is dead" (INTRO-1…5).

use crate::server::client_auth::{read_params, ClientRequest};
use crate::server::error::{no_store_json, OAuthError};
use crate::server::faults::Fault;
use crate::server::params::Posted;
use crate::server::store::Found;
use crate::server::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

/// `POST /oauth/introspect`.
pub async fn introspect(
    State(st): State<Arc<AppState>>,
    req: Posted,
) -> Result<Response, OAuthError> {
    handle(&st, req.uri.query(), &req.headers, &req.body)
}

fn handle(
    st: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthError> {
    let params = if st.faults.has(Fault::IntrospectNoAuth) {
        read_params(st, query, headers, body)?
    } else {
        let unauthorized = |e: OAuthError| e.with_status(StatusCode::UNAUTHORIZED);
        let ClientRequest { params, client } =
            ClientRequest::read_refusing(st, query, headers, body, unauthorized)?;
        if client.is_public() {
            // INTRO-1: a public client cannot authenticate, so it may not introspect.
            return Err(OAuthError::new(
                crate::oauth::ErrorCode::InvalidClient,
                "Client authentication required",
            )
            .with_status(StatusCode::UNAUTHORIZED));
        }
        params
    };
    let Some(token) = params.get("token") else {
        return Err(OAuthError::invalid_request("Missing token"));
    };
    let now = st.now();
    let idle = std::time::Duration::from_secs(st.policy.refresh_token_idle_ttl);
    let active = match st.store.find(token) {
        Some(Found::Access(t)) => (now < t.expires_at).then(|| {
            // RFC 9449 §6.2: a bound token's `token_type` "MUST contain the value DPoP",
            // and `cnf.jkt` is its key's thumbprint (DPOP-16).
            let bound = t
                .jkt
                .as_deref()
                .filter(|_| !st.faults.has(Fault::DpopNoCnf));
            let mut answer = json!({
                "active": true,
                "scope": st.render_scope(t.scope),
                "client_id": &*t.client_id,
                "token_type": if bound.is_some() { "DPoP" } else { "Bearer" },
                "exp": st.clock.unix_seconds(t.expires_at),
                "sub": t.user.as_deref().unwrap_or(&t.client_id),
            });
            if let Some(jkt) = bound {
                answer["cnf"] = json!({ "jkt": jkt });
            }
            answer
        }),
        Some(Found::Refresh(t)) => {
            (t.rotated.is_none() && now.since(t.last_used) <= idle).then(|| {
                json!({
                    "active": true,
                    "scope": st.render_scope(t.scope),
                    "client_id": &*t.client_id,
                    "token_type": "refresh_token",
                    "sub": t.user.as_deref().unwrap_or(&t.client_id),
                })
            })
        }
        None => None,
    };
    // INTRO-3, INTRO-4: an inactive token is `{"active":false}` and nothing more.
    Ok(no_store_json(
        StatusCode::OK,
        active.unwrap_or_else(|| json!({ "active": false })),
    ))
}
