//! Revocation: RFC 7009 `POST /oauth/revoke`, and the user's "connected apps" (Noorle's
//! console "Revoke Access": every token the app holds for that user dies, REV-12).

use crate::oauth::ErrorCode;
use crate::server::client_auth::ClientRequest;
use crate::server::error::OAuthError;
use crate::server::faults::Fault;
use crate::server::pages::{esc, page, Page};
use crate::server::params::{Params, Posted};
use crate::server::session;
use crate::server::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `POST /oauth/revoke`.
pub async fn revoke(State(st): State<Arc<AppState>>, req: Posted) -> Result<Response, OAuthError> {
    handle(&st, req.uri.query(), &req.headers, &req.body)?;
    let mut r = StatusCode::OK.into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

fn handle(
    st: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), OAuthError> {
    if st.faults.has(Fault::Revoke503) {
        return Err(OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            "Revocation is unavailable",
        )
        .with_status(StatusCode::SERVICE_UNAVAILABLE)
        .with_retry_after(1));
    }
    let ClientRequest { params, client } = ClientRequest::read(st, query, headers, body)?;
    let Some(token) = params.get("token") else {
        return Err(OAuthError::invalid_request("Missing token"));
    };
    if st.faults.has(Fault::RevokeNoop) {
        return Ok(());
    }
    // The hint only says where to look first (RFC 7009 §2.1, REV-6): look everywhere.
    let owns = |id: &str| id == &*client.id || st.faults.has(Fault::RevokeAnyClient);
    if st.store.revoke(token, st.now(), owns) {
        return Ok(());
    }
    if st.faults.has(Fault::RevokeUnknown400) {
        return Err(OAuthError::invalid_request("Unknown token"));
    }
    // RFC 7009 §2.2: an invalid token is answered 200 as well (REV-5). A token of another
    // client is left alone and answered the same way, so its existence is not disclosed.
    Ok(())
}

/// The apps a user has active grants for, with the number of live tokens.
pub(crate) fn connected_apps(st: &AppState, user: &str) -> BTreeMap<String, usize> {
    st.store.connected_apps(user, st.now())
}

/// Revokes every grant of `client_id` for `user`; returns how many grants died.
pub fn revoke_app(st: &AppState, user: &str, client_id: &str) -> usize {
    if st.faults.has(Fault::ConnectedAppRevokeNoop) {
        return 0;
    }
    st.store.revoke_app(user, client_id)
}

fn signed_in_user(st: &AppState, headers: &HeaderMap) -> Option<(Arc<str>, String)> {
    let id = session::session_id(headers)?;
    let s = st.store.session(&id)?;
    Some((s.user?, s.csrf))
}

/// `GET /account/apps`: the signed-in user's connected apps.
pub async fn apps_page(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some((user, csrf)) = signed_in_user(&st, &headers) else {
        let (_, _, new) = session::ensure(&st, &headers);
        let mut r = crate::server::pages::login_form(&st, Page::Apps.path(), None);
        session::set_cookie(&mut r, new);
        return r;
    };
    let mut rows = String::new();
    for (app, tokens) in connected_apps(&st, &user) {
        rows.push_str(&format!(
            "<li>{} ({tokens} active tokens) <form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"client_id\" value=\"{}\"><button>Revoke access</button></form></li>\n",
            esc(&app),
            Page::AppsRevoke.path(),
            esc(&csrf),
            esc(&app)
        ));
    }
    if rows.is_empty() {
        rows.push_str("<li>No connected apps.</li>");
    }
    page(
        &st,
        StatusCode::OK,
        "Connected apps",
        &format!("<ul>\n{rows}</ul>"),
    )
}

/// `POST /account/apps/revoke`.
pub async fn apps_revoke(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::from_form(&body);
    let Some((user, csrf)) = signed_in_user(&st, &headers) else {
        return crate::server::pages::error_page(&st, StatusCode::FORBIDDEN, "Sign in first.");
    };
    if p.get("csrf") != Some(csrf.as_str()) {
        return crate::server::pages::error_page(
            &st,
            StatusCode::FORBIDDEN,
            "This form is not valid for your session.",
        );
    }
    let client_id = p.get("client_id").unwrap_or("");
    revoke_app(&st, &user, client_id);
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_static(Page::Apps.path()),
    );
    r
}
