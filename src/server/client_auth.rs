//! Client authentication at the device, token, revocation and introspection endpoints
//! (RFC 6749 §2.3, §3.2.1; RFC 8628 §3.1 — DEV-12: the same rules everywhere).

use crate::oauth::{ErrorCode, GrantType};
use crate::server::config::Client;
use crate::server::error::OAuthError;
use crate::server::faults::Fault;
use crate::server::params::{parse_body, text_component, Encoding, Params};
use crate::server::AppState;
use axum::http::{header, HeaderMap, StatusCode};
use base64::Engine;
use std::borrow::Cow;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// What the request presented to identify its client, borrowed from the request (and,
/// for Basic, from the caller's [`BasicBuf`]): nothing is copied to the heap unless a
/// component is percent-encoded.
pub enum Credentials<'a> {
    /// `Authorization: Basic` (client_secret_basic).
    Basic {
        /// The client id, form-decoded.
        id: Cow<'a, str>,
        /// The secret, form-decoded.
        secret: Cow<'a, str>,
    },
    /// `client_id` and `client_secret` in the body (client_secret_post).
    Post {
        /// The client id.
        id: &'a str,
        /// The secret.
        secret: &'a str,
    },
    /// `client_id` only: a public client.
    IdOnly(&'a str),
    /// A signed client assertion (RFC 7521 §4.2): `private_key_jwt`, `client_secret_jwt`.
    Assertion {
        /// The client the assertion names, before it is verified.
        id: String,
        /// The JWT.
        assertion: &'a str,
    },
    /// Nothing at all.
    Missing,
}

/// The secret is never shown, not even in debug output.
impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let method = match self {
            Credentials::Basic { .. } => "Basic",
            Credentials::Post { .. } => "Post",
            Credentials::IdOnly(_) => "IdOnly",
            Credentials::Assertion { .. } => "Assertion",
            Credentials::Missing => "Missing",
        };
        f.debug_struct("Credentials")
            .field("method", &method)
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl Credentials<'_> {
    /// Whether the client tried the `Authorization` header (then failures are 401 with
    /// a `WWW-Authenticate` challenge, RFC 6749 §5.2).
    pub(crate) fn used_header(&self) -> bool {
        matches!(self, Credentials::Basic { .. })
    }

    /// The client id presented, if any.
    pub fn id(&self) -> Option<&str> {
        match self {
            Credentials::Basic { id, .. } => Some(id),
            Credentials::Post { id, .. } | Credentials::IdOnly(id) => Some(id),
            Credentials::Assertion { id, .. } => Some(id),
            Credentials::Missing => None,
        }
    }

    /// The secret presented, if any.
    fn secret(&self) -> Option<&str> {
        match self {
            Credentials::Basic { secret, .. } => Some(secret),
            Credentials::Post { secret, .. } => Some(secret),
            Credentials::IdOnly(_) | Credentials::Assertion { .. } | Credentials::Missing => None,
        }
    }
}

/// A request to a client-authenticated endpoint (device authorization, token,
/// revocation, introspection), read the one way they all share: its parameters and the
/// client they authenticate (RFC 6749 §2.3, DEV-12).
#[derive(Debug)]
pub(crate) struct ClientRequest<'a> {
    /// The body's parameters.
    pub params: Params<'a>,
    /// The authenticated client.
    pub client: Arc<Client>,
}

impl<'a> ClientRequest<'a> {
    /// Reads the parameters ([`read_params`]) and authenticates the client they present.
    pub fn read(
        state: &AppState,
        query: Option<&'a str>,
        headers: &HeaderMap,
        body: &'a [u8],
    ) -> Result<Self, OAuthError> {
        Self::read_refusing(state, query, headers, body, |e| e)
    }

    /// As [`ClientRequest::read`], a failed authentication answered as `refusal` makes it
    /// (introspection answers every one 401, RFC 7662 §2.1).
    pub(crate) fn read_refusing(
        state: &AppState,
        query: Option<&'a str>,
        headers: &HeaderMap,
        body: &'a [u8],
        refusal: impl FnOnce(OAuthError) -> OAuthError,
    ) -> Result<Self, OAuthError> {
        let params = read_params(state, query, headers, body)?;
        let client = {
            let mut basic = BasicBuf::new();
            let creds = read_credentials(state, headers, &params, &mut basic)?;
            authenticate(state, &creds).map_err(refusal)?
        };
        Ok(ClientRequest { params, client })
    }
}

/// The encodings accepted at the device and token endpoints (matrix §15 #1).
pub(crate) fn accepted_encodings(state: &AppState) -> &'static [Encoding] {
    match (
        state.faults.has(Fault::RejectForm),
        state.faults.has(Fault::RejectJson),
    ) {
        (true, false) => &[Encoding::Json],
        (false, true) => &[Encoding::Form],
        _ => &[Encoding::Form, Encoding::Json],
    }
}

/// Parses a client-authenticated endpoint's body: encoding, query credentials (TOK-17)
/// and repeated parameters (TOK-4).
pub(crate) fn read_params<'a>(
    state: &AppState,
    query: Option<&'a str>,
    headers: &HeaderMap,
    body: &'a [u8],
) -> Result<Params<'a>, OAuthError> {
    let mut params = parse_body(headers, body, accepted_encodings(state))?;
    if let Some(q) = query {
        let qp = Params::from_form(q.as_bytes());
        if qp.has("client_id") || qp.has("client_secret") {
            if state.faults.has(Fault::CredentialsInQuery) {
                params.extend(qp);
            } else {
                return Err(OAuthError::invalid_request(
                    "Client credentials must not be sent in the request URI",
                ));
            }
        }
    }
    if state.faults.has(Fault::AcceptDuplicateParams) {
        params.accept_duplicates();
    }
    params.reject_duplicates()?;
    Ok(params)
}

/// Where the base64 of a Basic header is decoded: on the stack when it fits (it nearly
/// always does: an id and a 43-character secret take ~60 bytes), on the heap otherwise.
/// The caller owns it, so that the [`Credentials`] can borrow from it.
pub(crate) struct BasicBuf {
    inline: [u8; BasicBuf::INLINE],
    heap: Vec<u8>,
}

/// It holds a secret: not shown.
impl std::fmt::Debug for BasicBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicBuf").finish_non_exhaustive()
    }
}

impl BasicBuf {
    const INLINE: usize = 192;

    /// An empty buffer (no allocation).
    pub fn new() -> Self {
        BasicBuf {
            inline: [0; Self::INLINE],
            heap: Vec::new(),
        }
    }

    /// The decoded bytes of `encoded` (standard base64, padded), or `None` if it is not
    /// base64.
    fn decode(&mut self, encoded: &str) -> Option<&[u8]> {
        let engine = &base64::engine::general_purpose::STANDARD;
        if base64::decoded_len_estimate(encoded.len()) <= Self::INLINE {
            let n = engine.decode_slice(encoded, &mut self.inline).ok()?;
            Some(&self.inline[..n])
        } else {
            self.heap = engine.decode(encoded).ok()?;
            Some(&self.heap)
        }
    }
}

impl Default for BasicBuf {
    fn default() -> Self {
        Self::new()
    }
}

/// `text.split_once(sep)` for an ASCII separator, by a plain loop: the scheme and the
/// client id before it are a few bytes long, where `split_once`'s searcher costs more.
fn split_at_byte(text: &str, sep: u8) -> Option<(&str, &str)> {
    let at = text.bytes().position(|b| b == sep)?;
    Some((&text[..at], &text[at + 1..]))
}

fn basic_failure(state: &AppState, description: impl Into<Cow<'static, str>>) -> OAuthError {
    let mut e = OAuthError::new(ErrorCode::InvalidClient, description)
        .with_status(StatusCode::UNAUTHORIZED);
    e.basic_challenge = !state.faults.has(Fault::NoWwwAuthenticate);
    e
}

/// Reads the credentials; refuses malformed Basic headers and two methods at once (TOK-13).
/// A Basic header is decoded into `buf`.
pub(crate) fn read_credentials<'a>(
    state: &AppState,
    headers: &'a HeaderMap,
    params: &'a Params,
    buf: &'a mut BasicBuf,
) -> Result<Credentials<'a>, OAuthError> {
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    if let Some(creds) = read_assertion(state, headers, params)? {
        return Ok(creds);
    }
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let auth = auth.to_str().unwrap_or("");
        let Some((scheme, rest)) = split_at_byte(auth, b' ') else {
            return Err(basic_failure(state, "Malformed Authorization header"));
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(basic_failure(state, "Unsupported authentication scheme"));
        }
        let decoded = buf
            .decode(rest.trim())
            .and_then(|b| std::str::from_utf8(b).ok())
            .ok_or_else(|| basic_failure(state, "Malformed Basic credentials"))?;
        let Some((raw_id, raw_secret)) = split_at_byte(decoded, b':') else {
            return Err(basic_failure(state, "Malformed Basic credentials"));
        };
        // RFC 6749 §2.3.1: id and secret are form-urlencoded before base64 (TOK-16).
        let id = text_component(raw_id);
        let secret = text_component(raw_secret);
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
        // OAUTH21-5's fault: OAuth 2.1 -16 §2.4.1 says "the authorization server MUST
        // support the client including the client credentials in the request body".
        (Some(_), Some(_)) if state.faults.has(Fault::NoClientSecretPost) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidClient,
                "Client credentials in the request body are not supported",
            ))
        }
        (Some(id), Some(secret)) => Credentials::Post { id, secret },
        (Some(id), None) => Credentials::IdOnly(id),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "client_secret without client_id",
            ))
        }
        (None, None) => Credentials::Missing,
    })
}

/// The credentials of a request that carries a client assertion (RFC 7521 §4.2), or
/// `None` when it carries none.
fn read_assertion<'a>(
    state: &AppState,
    headers: &HeaderMap,
    params: &'a Params,
) -> Result<Option<Credentials<'a>>, OAuthError> {
    let kind = params.get("client_assertion_type");
    let assertion = params.get("client_assertion");
    if kind.is_none() && assertion.is_none() {
        return Ok(None);
    }
    let faults = &state.faults;
    // RFC 7521 §4.2.1: "If an assertion is invalid for any reason or if more than one
    // client authentication mechanism is used … The value of the "error" parameter MUST
    // be the "invalid_client" error code."
    let refuse = |desc: &'static str| OAuthError::new(ErrorCode::InvalidClient, desc);
    if !faults.has(Fault::JwtMultiAuthOk) {
        if headers.contains_key(header::AUTHORIZATION) {
            return Err(basic_failure(
                state,
                "Use one client authentication method per request",
            ));
        }
        if params.has("client_secret") {
            return Err(refuse("Use one client authentication method per request"));
        }
    }
    if kind != Some(crate::server::assertion::JWT_BEARER) && !faults.has(Fault::JwtAnyAssertionType)
    {
        return Err(refuse("Unsupported client_assertion_type"));
    }
    let Some(assertion) = assertion else {
        return Err(refuse("client_assertion is missing"));
    };
    let Some(id) = crate::server::assertion::claimed_client(assertion) else {
        return Err(refuse(
            "The client assertion is not one JWT naming its client",
        ));
    };
    // RFC 7521 §4.2: "If present, the value of the "client_id" parameter MUST identify
    // the same client as is identified by the client assertion."
    if let Some(b) = params.get("client_id") {
        if b != id && !faults.has(Fault::JwtIgnoreClientId) {
            return Err(refuse("client_id does not match the client assertion"));
        }
    }
    Ok(Some(Credentials::Assertion { id, assertion }))
}

/// Authenticates the client. The description of an unknown client is Noorle's
/// `Unknown client: <id>` (NOORLE-10).
pub fn authenticate(state: &AppState, creds: &Credentials) -> Result<Arc<Client>, OAuthError> {
    let fail = |desc: Cow<'static, str>| -> OAuthError {
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
                require_par: false,
                dpop_bound_access_tokens: false,
                name: id.to_string(),
                registration: None,
                assertion: None,
            }))
        }
        None => {
            let desc: Cow<'static, str> = if generic {
                "Client authentication failed".into()
            } else {
                format!("Unknown client: {id}").into()
            };
            return Err(fail(desc));
        }
    };
    match (&client.assertion, creds) {
        (Some(method), Credentials::Assertion { assertion, .. }) => {
            return crate::server::assertion::verify(state, &client, method, assertion)
                .map(|()| client)
                .map_err(|d| fail(d.into()));
        }
        (None, Credentials::Assertion { .. }) => {
            return Err(fail(
                "The client is not registered to authenticate with a client assertion".into(),
            ))
        }
        (Some(method), _) => {
            return Err(fail(
                format!("The client authenticates with {}", method.name()).into(),
            ))
        }
        (None, _) => {}
    }
    match (&client.secret, creds.secret()) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decode_on_the_stack_or_the_heap_alike() {
        let engine = &base64::engine::general_purpose::STANDARD;
        for len in [0, 1, 60, 190, 191, 192, 193, 300, 4000] {
            let plain: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let encoded = engine.encode(&plain);
            let mut buf = BasicBuf::new();
            assert_eq!(buf.decode(&encoded), Some(&plain[..]), "{len} bytes");
            assert_eq!(buf.heap.is_empty(), len <= BasicBuf::INLINE, "{len} bytes");
        }
        let mut buf = BasicBuf::new();
        assert_eq!(
            buf.decode("bTJtOm0ybS1zZWNyZXQ="),
            Some(&b"m2m:m2m-secret"[..])
        );
        let shown = format!("{buf:?}");
        assert!(
            !shown.contains("secret") && !shown.contains("109"),
            "{shown}"
        );
        assert_eq!(buf.decode("bTJt*m0ybS1zZWNyZXQ="), None, "not base64");
        assert_eq!(
            buf.decode("bTJtOm0ybS1zZWNyZXQ"),
            None,
            "padding is required"
        );
    }
}
