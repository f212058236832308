//! The user-facing HTML pages: login, consent, device verification, connected apps and
//! error pages. Every page is anti-framing protected (BCP-12) and never cached.

use crate::server::faults::Fault;
use crate::server::AppState;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// HTML-escapes text for element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).into_owned()
}

/// A complete page with the security headers.
pub fn page(state: &AppState, status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\n<body>\n<h1>{t}</h1>\n{body}\n</body></html>\n",
        t = esc(title)
    );
    let mut resp = (status, Html(html)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if !state.faults.has(Fault::NoFrameProtection) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    resp
}

/// An error page that names the problem (AUTHZ-7: tell the user, do not redirect).
pub(crate) fn error_page(state: &AppState, status: StatusCode, message: &str) -> Response {
    page(
        state,
        status,
        "Authorization error",
        &format!("<p class=\"error\">{}</p>", esc(message)),
    )
}

/// The builtin's own pages besides the protocol endpoints ([`crate::endpoint::Endpoint`]):
/// one name, one path, for the router, the forms that post to them and the sign-in's
/// local return check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The consent form's answer.
    ConsentDecision,
    /// The sign-in form's answer.
    Login,
    /// The user's connected apps (the console's "Revoke Access").
    Apps,
    /// An app revoked from that page.
    AppsRevoke,
}

impl Page {
    /// Its path on the server.
    pub fn path(self) -> &'static str {
        match self {
            Page::ConsentDecision => "/oauth/authorize/decision",
            Page::Login => "/oauth/login",
            Page::Apps => "/account/apps",
            Page::AppsRevoke => "/account/apps/revoke",
        }
    }
}

/// The login form; `return_to` is a local path the user goes back to.
pub fn login_form(state: &AppState, return_to: &str, message: Option<&str>) -> Response {
    let msg = message
        .map(|m| format!("<p class=\"error\">{}</p>\n", esc(m)))
        .unwrap_or_default();
    page(
        state,
        if message.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK },
        "Sign in",
        &format!(
            "{msg}<form method=\"post\" action=\"{}\">\n<input type=\"hidden\" name=\"return_to\" value=\"{}\">\n<label>Username <input name=\"username\" autocomplete=\"username\"></label>\n<label>Password <input name=\"password\" type=\"password\"></label>\n<button type=\"submit\">Sign in</button>\n</form>",
            Page::Login.path(),
            esc(return_to)
        ),
    )
}
