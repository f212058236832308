//! Client authentication at the device, token, revocation and introspection endpoints
//! (RFC 6749 §2.3, §3.2.1; RFC 8628 §3.1 — DEV-12: the same rules everywhere).

use crate::oauth::{ErrorCode, GrantType};
use crate::server::config::Client;
use crate::server::error::OAuthError;
use crate::server::faults::Fault;
use crate::server::params::{form_component, Params};
use crate::server::AppState;
use axum::http::{header, HeaderMap, StatusCode};
use base64::Engine;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// What the request presented to identify its client.
#[derive(Debug)]
pub enum Credentials {
    /// `Authorization: Basic` (client_secret_basic).
    Basic { id: String, secret: String },
    /// `client_id` and `client_secret` in the body (client_secret_post).
    Post { id: String, secret: String },
    /// `client_id` only: a public client.
    IdOnly(String),
    /// Nothing at all.
    Missing,
}

impl Credentials {
    /// Whether the client tried the `Authorization` header (then failures are 401 with
    /// a `WWW-Authenticate` challenge, RFC 6749 §5.2).
    pub fn used_header(&self) -> bool {
        matches!(self, Credentials::Basic { .. })
    }

    /// The client id presented, if any.
    pub fn id(&self) -> Option<&str> {
        match self {
            Credentials::Basic { id, .. }
            | Credentials::Post { id, .. }
            | Credentials::IdOnly(id) => Some(id),
            Credentials::Missing => None,
        }
    }
}

fn basic_failure(
    state: &AppState,
    description: impl Into<std::borrow::Cow<'static, str>>,
) -> OAuthError {
    let mut e = OAuthError::new(ErrorCode::InvalidClient, description)
        .with_status(StatusCode::UNAUTHORIZED);
    e.basic_challenge = !state.faults.has(Fault::NoWwwAuthenticate);
    e
}

/// Reads the credentials; refuses malformed Basic headers and two methods at once (TOK-13).
pub fn read_credentials(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Credentials, OAuthError> {
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let auth = auth.to_str().unwrap_or("");
        let Some((scheme, rest)) = auth.split_once(' ') else {
            return Err(basic_failure(state, "Malformed Authorization header"));
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(basic_failure(state, "Unsupported authentication scheme"));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| basic_failure(state, "Malformed Basic credentials"))?;
        let Some((raw_id, raw_secret)) = decoded.split_once(':') else {
            return Err(basic_failure(state, "Malformed Basic credentials"));
        };
        // RFC 6749 §2.3.1: id and secret are form-urlencoded before base64 (TOK-16).
        let id = form_component(raw_id.as_bytes()).into_owned();
        let secret = form_component(raw_secret.as_bytes()).into_owned();
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "Use one client authentication method per request",
            ));
        }
        if let Some(b) = body_id {
            if b != id {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the Authorization header",
                ));
            }
        }
        return Ok(Credentials::Basic { id, secret });
    }
    Ok(match (body_id, body_secret) {
        (Some(id), Some(secret)) => Credentials::Post {
            id: id.to_string(),
            secret: secret.to_string(),
        },
        (Some(id), None) => Credentials::IdOnly(id.to_string()),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "client_secret without client_id",
            ))
        }
        (None, None) => Credentials::Missing,
    })
}

/// Authenticates the client. The description of an unknown client is Noorle's
/// `Unknown client: <id>` (NOORLE-10).
pub fn authenticate(state: &AppState, creds: &Credentials) -> Result<Arc<Client>, OAuthError> {
    let fail = |desc: std::borrow::Cow<'static, str>| -> OAuthError {
        if creds.used_header() {
            basic_failure(state, desc)
        } else {
            let status = if state.faults.has(Fault::InvalidClient401) {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_REQUEST
            };
            OAuthError::new(ErrorCode::InvalidClient, desc).with_status(status)
        }
    };
    let generic = state.faults.has(Fault::GenericErrorDescriptions);
    let Some(id) = creds.id() else {
        return Err(OAuthError::invalid_request("Missing client_id"));
    };
    let client = match state.client(id) {
        Some(c) => c,
        None if state.faults.has(Fault::AcceptUnknownClient) => {
            return Ok(Arc::new(Client {
                id: Arc::from(id),
                secret: None,
                grants: GrantType::ALL.into_iter().collect(),
                redirect_uris: vec![],
                scopes: state.scopes.all(),
                require_pkce: false,
                name: id.to_string(),
                registration: None,
            }))
        }
        None => {
            let desc: std::borrow::Cow<'static, str> = if generic {
                "Client authentication failed".into()
            } else {
                format!("Unknown client: {id}").into()
            };
            return Err(fail(desc));
        }
    };
    let presented = match creds {
        Credentials::Basic { secret, .. } | Credentials::Post { secret, .. } => {
            Some(secret.as_str())
        }
        _ => None,
    };
    match (&client.secret, presented) {
        (None, None) => Ok(client),
        (None, Some(_)) => Err(fail(
            "Public clients do not authenticate with a secret".into(),
        )),
        (Some(_), None) => Err(fail("Client authentication required".into())),
        (Some(expected), Some(given)) => {
            let ok: bool = expected.expose().as_bytes().ct_eq(given.as_bytes()).into();
            if ok || state.faults.has(Fault::AcceptWrongSecret) {
                Ok(client)
            } else {
                Err(fail("Invalid client credentials".into()))
            }
        }
    }
}
