//! Dynamic client registration, RFC 7591 `POST /oauth/register` (REG-1…13). Open
//! registration (no initial access token), as REG-13 recommends.

use crate::oauth::random_token;
use crate::oauth::{ErrorCode, GrantType};
use crate::server::assertion::AssertionMethod;
use crate::server::config::{Client, ScopeSet};
use crate::server::error::{no_store_json, OAuthError};
use crate::server::faults::Fault;
use crate::server::params::{encoding_of, Encoding};
use crate::server::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Most clients a server will register; a flood of registrations cannot grow memory
/// without bound.
pub(crate) const MAX_REGISTERED: usize = 10_000;

#[derive(Debug, Deserialize)]
struct Metadata {
    #[serde(default)]
    redirect_uris: Vec<String>,
    client_name: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    scope: Option<String>,
    /// RFC 9126 §6: the client's authorization requests only through PAR.
    #[serde(default)]
    require_pushed_authorization_requests: bool,
    /// RFC 9449 §5.2.
    #[serde(default)]
    dpop_bound_access_tokens: bool,
    /// RFC 7591 §2: the client's public keys (`private_key_jwt`).
    jwks: Option<serde_json::Value>,
    /// RFC 7591 §2: where they are published (fetched when the client registers, and
    /// again when no key on hand verifies an assertion).
    jwks_uri: Option<String>,
}

/// `POST /oauth/register`.
pub async fn register(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let (md, accepted) = read(&st, &headers, &body)?;
    // A client whose keys are at jwks_uri: fetched now, so that a URI that gives no public
    // keys is refused as the metadata it is (RFC 7591 §3.2.2, invalid_client_metadata).
    if let Some(AssertionMethod::PrivateKeyUri(remote)) = &accepted.assertion {
        if !st.faults.has(Fault::JwksUriIgnored) {
            remote.fetch().await.map_err(metadata_error)?;
        }
    }
    Ok(no_store_json(StatusCode::CREATED, add(&st, md, accepted)))
}

fn metadata_error(desc: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, desc)
}

/// RFC 7591 §2 and RFC 9700 §2.6 (BCP-3): absolute, no fragment, `https` or loopback `http`.
fn redirect_uri_ok(uri: &str, dotless_ok: bool) -> bool {
    let Ok(u) = url::Url::parse(uri) else {
        return false;
    };
    if u.fragment().is_some() || u.cannot_be_a_base() {
        return false;
    }
    match u.scheme() {
        "https" => true,
        "http" => matches!(
            u.host_str(),
            Some("127.0.0.1") | Some("[::1]") | Some("localhost")
        ),
        // Private-use schemes of native apps (RFC 8252 §7.1) have a dot in them; OAuth
        // 2.1 -16 §2.3.1: "At a minimum, any private-use URI scheme that doesn't contain
        // a period character (.) SHOULD be rejected." (OAUTH21-7)
        s => s.contains('.') || dotless_ok,
    }
}

/// The metadata of a registration request, and what registration makes of it.
fn read(
    st: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Metadata, Accepted), OAuthError> {
    if encoding_of(headers) != Some(Encoding::Json) {
        return Err(metadata_error(
            "Registration takes an application/json body",
        ));
    }
    let md: Metadata = serde_json::from_slice(body)
        .map_err(|e| metadata_error(format!("Malformed client metadata: {e}")))?;
    let accepted = accept(st, &md)?;
    if st.client_count() >= MAX_REGISTERED {
        return Err(OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            "Too many registered clients",
        )
        .with_status(StatusCode::TOO_MANY_REQUESTS)
        .with_retry_after(60));
    }
    Ok((md, accepted))
}

/// What registration makes of metadata it accepts.
struct Accepted {
    method: String,
    assertion: Option<AssertionMethod>,
    grants: Vec<GrantType>,
    response_types: Vec<String>,
    scopes: ScopeSet,
}

/// Checks client metadata (RFC 7591 §2, §3.2.2: `invalid_client_metadata`,
/// `invalid_redirect_uri`).
fn accept(st: &AppState, md: &Metadata) -> Result<Accepted, OAuthError> {
    let lax = st.faults.has(Fault::RegistrationAcceptsBadMetadata);
    let method = md
        .token_endpoint_auth_method
        .as_deref()
        .unwrap_or("client_secret_basic");
    const METHODS: [&str; 5] = [
        "client_secret_basic",
        "client_secret_post",
        "none",
        "private_key_jwt",
        "client_secret_jwt",
    ];
    if !lax && !METHODS.contains(&method) {
        return Err(metadata_error(format!(
            "Unsupported token_endpoint_auth_method '{method}'"
        )));
    }
    let assertion =
        AssertionMethod::from_registration(method, md.jwks.as_ref(), md.jwks_uri.as_deref())
            .map_err(metadata_error)?;
    let grant_names = md
        .grant_types
        .clone()
        .unwrap_or_else(|| vec!["authorization_code".into()]);
    let grants = grant_names
        .iter()
        .map(|g| {
            GrantType::parse(g)
                .ok_or_else(|| metadata_error(format!("Unsupported grant type '{g}'")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let response_types = md
        .response_types
        .clone()
        .unwrap_or_else(|| vec!["code".into()]);
    if !lax && response_types.iter().any(|r| r != "code") {
        return Err(metadata_error("Only response type 'code' is supported"));
    }
    let wants_code = grants.contains(&GrantType::AuthorizationCode);
    if !lax && wants_code != response_types.iter().any(|r| r == "code") {
        return Err(metadata_error(
            "grant_types and response_types do not agree",
        ));
    }
    if method == "none" && grants.contains(&GrantType::ClientCredentials) {
        return Err(metadata_error("client_credentials needs a client secret"));
    }
    check_redirect_uris(st, &md.redirect_uris, wants_code)?;
    let scopes = match &md.scope {
        None => st.scopes.all(),
        Some(s) => st
            .scopes
            .parse(Some(s))
            .map_err(|_| metadata_error("Unsupported scope"))?,
    };
    Ok(Accepted {
        method: method.to_string(),
        assertion,
        grants,
        response_types,
        scopes,
    })
}

/// Redirect URIs are required for the code grant and must each be acceptable.
fn check_redirect_uris(st: &AppState, uris: &[String], wants_code: bool) -> Result<(), OAuthError> {
    if wants_code && uris.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidRedirectUri,
            "redirect_uris is required",
        ));
    }
    if st.faults.has(Fault::RegistrationAcceptsBadRedirect) {
        return Ok(());
    }
    let dotless_ok = st.faults.has(Fault::AllowSchemeWithoutDot);
    match uris.iter().find(|u| !redirect_uri_ok(u, dotless_ok)) {
        Some(bad) => Err(OAuthError::new(
            ErrorCode::InvalidRedirectUri,
            format!("Invalid redirect URI '{bad}'"),
        )),
        None => Ok(()),
    }
}

/// Adds the client and returns its information response (RFC 7591 §3.2.1).
fn add(st: &AppState, md: Metadata, a: Accepted) -> serde_json::Value {
    let client_id = format!("dyn-{}", &random_token()[..22]);
    // Only the secret methods draw a secret (a private_key_jwt client has its keys).
    let secret = (!matches!(a.method.as_str(), "none" | "private_key_jwt")).then(random_token);
    let issued_at = st.clock.unix_seconds(st.now());
    let mut body = json!({
        "client_id": client_id,
        "client_id_issued_at": issued_at,
        "redirect_uris": md.redirect_uris,
        "grant_types": a.grants.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "response_types": a.response_types,
        "token_endpoint_auth_method": a.method,
        "scope": st.render_scope(a.scopes),
    });
    if let Some(name) = &md.client_name {
        body["client_name"] = json!(name);
    }
    if md.require_pushed_authorization_requests {
        body["require_pushed_authorization_requests"] = json!(true);
    }
    if md.dpop_bound_access_tokens {
        body["dpop_bound_access_tokens"] = json!(true);
    }
    if let Some(jwks) = &md.jwks {
        body["jwks"] = jwks.clone();
    }
    if let Some(uri) = &md.jwks_uri {
        body["jwks_uri"] = json!(uri);
    }
    if let Some(s) = &secret {
        body["client_secret"] = json!(s);
        body["client_secret_expires_at"] = json!(0);
    }
    st.add_client(Arc::new(Client {
        id: Arc::from(client_id.as_str()),
        secret: secret.map(crate::secret::Secret::new),
        grants: a.grants.into_iter().collect(),
        redirect_uris: md.redirect_uris,
        scopes: a.scopes,
        require_pkce: a.method == "none",
        require_par: md.require_pushed_authorization_requests,
        dpop_bound_access_tokens: md.dpop_bound_access_tokens,
        name: md.client_name.unwrap_or(client_id),
        registration: Some(body.clone()),
        assertion: a.assertion,
    }));
    body
}
