//! Browser sessions for the login, consent, verification and connected-apps pages: a
//! random cookie naming a server-side [`Session`] that holds the user and an anti-CSRF
//! value (AUTHZ-18).

use crate::oauth::random_token;
use crate::server::store::Session;
use crate::server::AppState;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use cookie::Cookie;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "harness_session";

/// The session id from the request's cookies.
pub(crate) fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string())
}

/// The request's session, created if it has none; the second value is `Some(id)` when a
/// cookie must be set.
pub(crate) fn ensure(state: &AppState, headers: &HeaderMap) -> (String, Session, Option<String>) {
    let now = state.now();
    if let Some(id) = session_id(headers) {
        if let Some(s) = state.store.touch_session(&id, now) {
            return (id, s, None);
        }
    }
    let id = random_token();
    let s = Session {
        user: None,
        csrf: random_token(),
        verify_failures: 0,
        locked_until: None,
        last_seen: now,
    };
    state.store.insert_session(now, id.clone(), s.clone());
    (id.clone(), s, Some(id))
}

/// Adds `Set-Cookie` for a new session.
pub(crate) fn set_cookie(resp: &mut Response, new_id: Option<String>) {
    if let Some(id) = new_id {
        let c = Cookie::build((COOKIE, id))
            .path("/")
            .http_only(true)
            .same_site(cookie::SameSite::Lax)
            .build();
        if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}
