//! OAuth error responses (RFC 6749 §5.2): a status, a JSON object with `error` and
//! `error_description`, and the challenge header when the client used HTTP Basic.

use crate::oauth::ErrorCode;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;

/// The realm named in every challenge this server sends (the Basic challenge spells it
/// out, as a header value built at compile time).
pub(crate) const REALM: &str = "oauth-harness";

/// An error answered in the token endpoint's format.
#[derive(Debug, Clone)]
pub struct OAuthError {
    /// HTTP status (400 unless the RFC says otherwise).
    pub status: StatusCode,
    /// The `error` member.
    pub code: ErrorCode,
    /// The `error_description` member, restricted to the RFC's characters: private, so
    /// that [`OAuthError::new`] is the only way in.
    description: Cow<'static, str>,
    /// `WWW-Authenticate: Basic` is added (RFC 6749 §5.2, TOK-15).
    pub basic_challenge: bool,
    /// `Retry-After` seconds (429, 503).
    pub retry_after: Option<u64>,
    /// A `DPoP-Nonce` to send (RFC 9449 §8).
    pub dpop_nonce: Option<String>,
}

impl OAuthError {
    /// A 400 error.
    /// Static descriptions are ours and used as they are; built ones (which may echo
    /// request values) are sanitized.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        let description = match description.into() {
            Cow::Borrowed(s) => {
                debug_assert_eq!(
                    sanitize_description(s),
                    s,
                    "static descriptions must be clean"
                );
                Cow::Borrowed(s)
            }
            Cow::Owned(s) => Cow::Owned(sanitize_description(&s)),
        };
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            code,
            description,
            basic_challenge: false,
            retry_after: None,
            dpop_nonce: None,
        }
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant` with a description.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// The `error_description` member.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Sets the status.
    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds `Retry-After`.
    pub(crate) fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

/// Keeps `error_description` within %x20-21 / %x23-5B / %x5D-7E (RFC 6749 §5.2, TOK-11):
/// descriptions may echo request values, which may hold anything.
pub(crate) fn sanitize_description(s: &str) -> String {
    s.chars()
        .map(|c| if allowed_in_description(c) { c } else { '?' })
        .collect()
}

fn allowed_in_description(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{21}' | '\u{23}'..='\u{5B}' | '\u{5D}'..='\u{7E}')
}

#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    error_description: &'a str,
}

impl ErrorBody<'_> {
    /// The JSON object. The description is within the RFC's characters ([`OAuthError::new`]
    /// is the only way to set one), so it holds no quote, backslash or control character,
    /// and codes are the RFC's names: neither needs escaping, and the object is written as
    /// it is, on the error path of every poll.
    fn to_json(&self) -> Vec<u8> {
        debug_assert!(self.error_description.chars().all(allowed_in_description));
        const HEAD: &[u8] = br#"{"error":""#;
        const MIDDLE: &[u8] = br#"","error_description":""#;
        const TAIL: &[u8] = br#""}"#;
        // Exactly as long as the body: a Vec whose length is its capacity becomes the
        // response body without another allocation (bytes' `From<Vec<u8>>`).
        let len = HEAD.len()
            + self.error.len()
            + MIDDLE.len()
            + self.error_description.len()
            + TAIL.len();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(HEAD);
        out.extend_from_slice(self.error.as_bytes());
        out.extend_from_slice(MIDDLE);
        out.extend_from_slice(self.error_description.as_bytes());
        out.extend_from_slice(TAIL);
        debug_assert_eq!(out.len(), len);
        out
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        // Error descriptions are fixed texts: they never carry a credential.
        tracing::debug!(
            status = self.status.as_u16(),
            error = self.code.as_str(),
            description = %self.description,
            "refused"
        );
        let body = ErrorBody {
            error: self.code.as_str(),
            error_description: &self.description,
        };
        let mut resp = no_store_bytes(self.status, body.to_json());
        let h = resp.headers_mut();
        if self.basic_challenge {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"oauth-harness\", charset=\"UTF-8\""),
            );
        }
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if let Some(v) = self.dpop_nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
            h.insert("dpop-nonce", v);
        }
        resp
    }
}

/// A JSON success that carries credentials: `Cache-Control: no-store` and `Pragma:
/// no-cache` (RFC 6749 §5.1, TOK-6, TOK-7; DEV-3 for device codes).
///
/// Serialized straight into the body's buffer, headers set once: these are the token
/// endpoint's answers, the load tests' hot path (axum's `Json` writes through a `BytesMut`
/// writer and the headers would then be added one by one to a built response).
pub(crate) fn no_store_json(status: StatusCode, body: impl serde::Serialize) -> Response {
    let mut buf = Vec::with_capacity(256);
    if let Err(e) = serde_json::to_writer(&mut buf, &body) {
        // Only a map with non-string keys can fail; none of ours has one.
        tracing::error!("cannot serialize a response: {e}");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    no_store_bytes(status, buf)
}

/// [`no_store_json`] of an already serialized body.
pub(crate) fn no_store_bytes(status: StatusCode, json: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(json));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The error object written by hand is the one serde_json writes, for any
        /// description an error can hold (any text, sanitized as `OAuthError::new` does).
        #[test]
        fn error_objects_are_what_serde_json_writes(raw in "\\PC{0,40}|[ -~]{0,40}") {
            for code in [ErrorCode::InvalidRequest, ErrorCode::AuthorizationPending] {
                let error = OAuthError::new(code, raw.clone());
                let description = error.description();
                let body = ErrorBody { error: code.as_str(), error_description: description };
                let ours = body.to_json();
                let theirs = serde_json::to_vec(&body).expect("serializable");
                proptest::prop_assert_eq!(&ours, &theirs);
                let parsed: serde_json::Value = serde_json::from_slice(&ours).expect("JSON");
                proptest::prop_assert_eq!(parsed["error_description"].as_str(), Some(description));
            }
        }
    }

    #[test]
    fn descriptions_never_carry_quotes_or_backslashes() {
        assert_eq!(sanitize_description("a\"b\\c\u{e9}\n"), "a?b?c??");
        assert_eq!(
            sanitize_description("Unknown client: invalid-id"),
            "Unknown client: invalid-id"
        );
    }
}
