//! Pushed authorization requests (RFC 9126): `POST /oauth/par`.
//!
//! The client authenticates as at the token endpoint (§2.1: "Authenticate the client in
//! the same way as at the token endpoint"), its request is validated as the authorization
//! endpoint would (§2.1 step 3, `authorize::validate`), and it is kept under a fresh
//! `request_uri` bound to the client (§2.2), for `request_uri_ttl` seconds. Errors use the
//! token endpoint's format (§2.3): `authorize::Validation::json_error` renders one.

use crate::oauth::random_token;
use crate::server::authorize::{self, Validation};
use crate::server::client_auth::{read_credentials, read_params, BasicBuf, ClientRequest};
use crate::server::config::Client;
use crate::server::error::OAuthError;
use crate::server::faults::Fault;
use crate::server::params::{Params, Posted};
use crate::server::store::PushedRequest;
use crate::server::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::Arc;

/// The prefix of every `request_uri` (RFC 9126 §2.2's example form).
const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// `POST /oauth/par`.
pub async fn push(State(st): State<Arc<AppState>>, req: Posted) -> Response {
    respond(
        &st,
        ("POST", req.uri.path()),
        req.uri.query(),
        &req.headers,
        &req.body,
    )
}

/// `GET /oauth/par`, answered only under `par-allow-get` (else 405, RFC 9126 §2.3).
pub async fn push_get(State(st): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let query = uri.query().unwrap_or("").to_string();
    respond(&st, ("GET", uri.path()), None, &headers, query.as_bytes())
}

fn respond(
    st: &AppState,
    at: (&str, &str),
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    match handle(st, at, query, headers, body) {
        Ok(r) => r,
        Err((e, client)) => match client.filter(|_| st.faults.has(Fault::ParErrorRedirect)) {
            Some(c) => error_redirect(&c, &e),
            None => e.into_response(),
        },
    }
}

/// A PAR error as a redirect (the `par-error-redirect` fault; §2.3 forbids it).
fn error_redirect(client: &Client, e: &OAuthError) -> Response {
    let Some(target) = client.redirect_uris.first() else {
        return e.clone().into_response();
    };
    let location = match url::Url::parse(target) {
        Ok(mut u) => {
            u.query_pairs_mut().append_pair("error", e.code.as_str());
            u.to_string()
        }
        Err(_) => target.clone(),
    };
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

type Failure = (OAuthError, Option<Arc<Client>>);

fn handle(
    st: &AppState,
    (method, path): (&str, &str),
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Failure> {
    use crate::server::dpop::{as_error, check, Place};
    let (params, client) = authenticated(st, query, headers, body).map_err(|e| (e, None))?;
    let fail = |e: OAuthError| (e, Some(client.clone()));
    // RFC 9449 §10.1: a proof sent with the push binds the code to its key, as
    // `dpop_jkt` does; both at once must name the same key (DPOP-20).
    let proof = check(st, headers, method, path, Place::Par, None)
        .map_err(|r| fail(as_error(st, r)))?
        .filter(|_| !st.faults.has(Fault::DpopParIgnoreHeader));
    if let (Some(p), Some(pinned)) = (&proof, params.get("dpop_jkt")) {
        if p.jkt != pinned {
            return Err(fail(OAuthError::new(
                crate::oauth::ErrorCode::InvalidDpopProof,
                "dpop_jkt is not the thumbprint of the DPoP proof's key",
            )));
        }
    }
    // §2.1: "The request_uri authorization request parameter is one exception, and it
    // MUST NOT be provided."
    if params.has("request_uri") && !st.faults.has(Fault::ParAcceptRequestUri) {
        return Err(fail(OAuthError::invalid_request(
            "request_uri must not be pushed (RFC 9126 section 2.1)",
        )));
    }
    if params.get("client_id").is_some_and(|id| id != &*client.id) {
        return Err(fail(OAuthError::invalid_request(
            "client_id is not the authenticated client",
        )));
    }
    // The authorization request: every parameter but the client's credentials, with
    // its client_id.
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| !matches!(*k, "client_secret" | "client_id" | "request_uri"))
        .collect();
    pairs.insert(0, ("client_id", &client.id));
    if let Some(p) = proof.as_ref().filter(|_| !params.has("dpop_jkt")) {
        pairs.push(("dpop_jkt", &p.jkt));
    }
    let request = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    if !st.faults.has(Fault::ParSkipValidation) {
        // §2.1 step 3: "Validate the pushed request as it would an authorization
        // request sent to the authorization endpoint."
        let mut q = Params::from_form(request.as_bytes());
        if st.faults.has(Fault::AcceptDuplicateParams) {
            q.accept_duplicates();
        }
        authorize::validate(st, &q, authorize::Via::Push)
            .json_error()
            .map_err(fail)?;
    }
    let now = st.now();
    let ttl = st.policy.request_uri_ttl;
    let request_uri = new_request_uri();
    st.store.push_request(
        now,
        request_uri.clone(),
        PushedRequest {
            client_id: client.id.clone(),
            query: request,
            expires_at: now.plus(std::time::Duration::from_secs(ttl)),
            used: false,
        },
    );
    let mut answer = json!({ "request_uri": request_uri, "expires_in": ttl });
    if st.faults.has(Fault::ParNoExpiresIn) {
        if let Some(m) = answer.as_object_mut() {
            m.remove("expires_in");
        }
    }
    // §2.2: "the server MUST generate a request URI and provide it in the response with
    // a 201 HTTP status code".
    let status = if st.faults.has(Fault::ParStatus200) {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut resp = (status, Json(answer)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// A fresh `request_uri`: the prefix and 256 bits from the operating system's CSPRNG
/// (§2.2: "computationally infeasible to predict or guess", PAR-12).
fn new_request_uri() -> String {
    format!("{PREFIX}{}", random_token())
}

/// The request's parameters and its client, authenticated as at the token endpoint
/// (PAR-1), or under `par-no-client-auth` whoever it says it is.
fn authenticated<'a>(
    st: &AppState,
    query: Option<&'a str>,
    headers: &HeaderMap,
    body: &'a [u8],
) -> Result<(Params<'a>, Arc<Client>), OAuthError> {
    if !st.faults.has(Fault::ParNoClientAuth) {
        let ClientRequest { params, client } = ClientRequest::read(st, query, headers, body)?;
        return Ok((params, client));
    }
    let params = read_params(st, query, headers, body)?;
    let id = {
        let mut basic = BasicBuf::new();
        let creds = read_credentials(st, headers, &params, &mut basic)?;
        creds
            .id()
            .map(str::to_string)
            .ok_or_else(|| OAuthError::invalid_request("Missing client_id"))?
    };
    let client = st
        .client(&id)
        .ok_or_else(|| OAuthError::invalid_request(format!("Unknown client: {id}")))?;
    Ok((params, client))
}

impl Validation {
    /// The request, or the error a back channel answers with (RFC 9126 §2.3: "the same
    /// format as is specified for error responses from the token endpoint"): a request
    /// with no trusted redirect target is an `invalid_request`, any other failure keeps
    /// its code.
    pub(crate) fn json_error(self) -> Result<authorize::ValidRequest, OAuthError> {
        match self {
            Validation::Valid(r) => Ok(*r),
            Validation::Page(msg) => Err(OAuthError::invalid_request(msg)),
            Validation::ErrorRedirect {
                code, description, ..
            } => Err(OAuthError::new(code, description)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_uris_are_distinct_and_carry_256_bits() {
        let all: std::collections::HashSet<String> = (0..1000).map(|_| new_request_uri()).collect();
        assert_eq!(all.len(), 1000);
        for u in &all {
            let random = u.strip_prefix(PREFIX).unwrap_or_default();
            // 43 base64url characters: 258 bits of text for 256 random bits.
            assert_eq!(random.len(), 43, "{u}");
            assert!(random
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
    }
}
