//! The OAuth 2.0 vocabulary shared by the server, the runner, the load generator and the
//! scenario language: error codes and grant types as the RFCs spell them on the wire, and
//! the random values and PKCE transform both sides draw (a leaf: it imports no module of
//! the crate).

use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// 256 bits from the CSPRNG (TOK-32: at least 128).
pub fn random_raw() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A 256-bit random value, base64url without padding (43 characters): codes, tokens,
/// device codes, secrets, PKCE verifiers and `state` values.
pub fn random_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_raw())
}

/// BASE64URL(SHA256(ASCII(verifier))) without padding (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 6749 §2.3.1's Basic credentials of a client: id and secret each form-urlencoded,
/// joined by `:`, then base64 — the text after `Basic ` (TOK-16).
pub fn basic_credentials(id: &str, secret: &str) -> String {
    let form = |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", form(id), form(secret)))
}

/// Error codes of RFC 6749 §4.1.2.1 and §5.2, RFC 8628 §3.5, RFC 7009 §2.2.1,
/// RFC 7591 §3.2.2 and RFC 6750 §3.1. Serializes to the registered strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
    UnsupportedTokenType,
    InvalidRedirectUri,
    InvalidClientMetadata,
    InvalidToken,
    InsufficientScope,
    /// RFC 9449 §5: the DPoP proof is invalid.
    InvalidDpopProof,
    /// RFC 9449 §8: the proof must carry the server's nonce.
    UseDpopNonce,
    /// Not an OAuth code: the builtin's body for a 429 (NOORLE-16; never asserted).
    RateLimited,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::ExpiredToken => "expired_token",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
            ErrorCode::RateLimited => "rate_limited",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The device grant's `grant_type` value (RFC 8628 §3.4).
pub(crate) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Grant types a client may be registered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GrantType {
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    #[serde(rename = "refresh_token")]
    RefreshToken,
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    #[serde(
        rename = "urn:ietf:params:oauth:grant-type:device_code",
        alias = "device_code"
    )]
    DeviceCode,
}

impl GrantType {
    /// Every grant type, in the order metadata lists them.
    pub(crate) const ALL: [GrantType; 4] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::DeviceCode,
    ];

    /// The wire value of `grant_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::DeviceCode => DEVICE_CODE_GRANT,
        }
    }

    /// Parses a wire value; `None` for grant types the builtin does not support
    /// (including `password`, which RFC 9700 §2.4 forbids: BCP-9).
    pub fn parse(s: &str) -> Option<GrantType> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A small set of grant types.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantSet(u8);

impl GrantSet {
    /// Whether `g` is in the set.
    pub fn contains(self, g: GrantType) -> bool {
        self.0 & g.bit() != 0
    }

    /// Adds `g`.
    pub(crate) fn insert(&mut self, g: GrantType) {
        self.0 |= g.bit();
    }

    /// The members, in [`GrantType::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = GrantType> {
        GrantType::ALL
            .into_iter()
            .filter(move |g| self.contains(*g))
    }
}

impl FromIterator<GrantType> for GrantSet {
    fn from_iter<I: IntoIterator<Item = GrantType>>(iter: I) -> Self {
        let mut s = GrantSet::default();
        for g in iter {
            s.insert(g);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_serialize_to_rfc_strings() {
        let json = serde_json::to_string(&ErrorCode::AuthorizationPending).unwrap_or_default();
        assert_eq!(json, "\"authorization_pending\"");
        assert_eq!(ErrorCode::SlowDown.as_str(), "slow_down");
    }

    #[test]
    fn grant_types_round_trip() {
        for g in GrantType::ALL {
            assert_eq!(GrantType::parse(g.as_str()), Some(g));
        }
        assert_eq!(GrantType::parse("password"), None);
        let set: GrantSet = [GrantType::DeviceCode, GrantType::RefreshToken]
            .into_iter()
            .collect();
        assert!(set.contains(GrantType::DeviceCode));
        assert!(!set.contains(GrantType::ClientCredentials));
        assert_eq!(set.iter().count(), 2);
    }
}
