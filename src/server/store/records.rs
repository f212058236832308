//! What the store holds: the values it draws (tokens, user codes) and one record per kind
//! of entry.

use crate::clock::Timestamp;
use crate::server::config::ScopeSet;
use base64::Engine;
use rand::RngCore;
use std::sync::Arc;
use std::time::Duration;

/// Characters in a [`Token`].
pub(crate) const TOKEN_LEN: usize = 43;

/// A value the store keys its tables by: a device code, authorization code, access or
/// refresh token, drawn as [`crate::oauth::random_token`] draws it and held inline. Issuing one
/// allocates nothing, and a lookup compares the bytes in the table itself, with no
/// pointer to chase into a table of a million entries. Looked up by the bytes a client
/// presents (`Borrow<[u8]>`; arrays hash as slices do).
///
/// A secret: `Debug` shows only its first characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token([u8; TOKEN_LEN]);

impl Token {
    /// 256 bits from the CSPRNG (TOK-32).
    pub fn random() -> Self {
        Token::from_raw(&crate::oauth::random_raw())
    }

    /// The token whose 32 bytes are `raw`.
    pub(crate) fn from_raw(raw: &[u8; 32]) -> Self {
        let mut text = [0u8; TOKEN_LEN];
        let written = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_slice(raw, &mut text);
        debug_assert_eq!(written, Ok(TOKEN_LEN), "32 bytes are 43 base64 characters");
        Token(text)
    }

    /// The 32 bytes of a token's text, if it is one (43 base64url characters).
    pub(crate) fn raw_of(text: &str) -> Option<[u8; 32]> {
        if text.len() != TOKEN_LEN {
            return None;
        }
        let mut raw = [0u8; 33];
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode_slice(text, &mut raw)
            .ok()?;
        let mut out = [0u8; 32];
        out.copy_from_slice(raw.get(..32).filter(|_| n == 32)?);
        Some(out)
    }

    /// The value as text (base64url, so always ASCII).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The value's bytes, as a lookup takes them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::borrow::Borrow<[u8]> for Token {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}…)", self.as_str().get(..4).unwrap_or_default())
    }
}

/// The user-code alphabet: 20 consonants, no vowels (no words) and no confusable
/// characters (RFC 8628 §6.1).
pub(crate) const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// A user code `XXXX-XXXX` (8 characters of base 20, about 34.6 bits; brute force is
/// limited by the device code's lifetime and the verification page's lockout, DEV-24).
pub(crate) fn random_user_code() -> String {
    let mut rng = rand::rng();
    let mut s = String::with_capacity(9);
    for i in 0..8 {
        if i == 4 {
            s.push('-');
        }
        let idx = (rng.next_u32() % USER_CODE_ALPHABET.len() as u32) as usize;
        s.push(USER_CODE_ALPHABET[idx] as char);
    }
    s
}

/// What users type: case and dashes do not matter (RFC 8628 §6.1, DEV-25).
pub(crate) fn normalize_user_code(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Where a device authorization stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeviceStatus {
    /// The user has not decided.
    Pending,
    /// Approved by this user; the next poll gets tokens.
    Approved(Arc<str>),
    /// Denied: polls get `access_denied`.
    Denied,
    /// Tokens were issued (grant id): polls get `invalid_grant` (DEV-21).
    Consumed(u64),
}

/// An outstanding device authorization (RFC 8628 §3.2).
#[derive(Debug, Clone)]
pub(crate) struct DeviceAuthorization {
    /// Client it was issued to.
    pub client_id: Arc<str>,
    /// Scope requested.
    pub scope: ScopeSet,
    /// Its user code, as issued (`XXXX-XXXX`).
    pub user_code: String,
    /// When the device and user codes die.
    pub expires_at: Timestamp,
    /// The current minimum gap between polls (grows by 5 s per `slow_down`, DEV-16).
    pub interval: Duration,
    /// Arrival time of the latest poll.
    pub last_poll: Option<Timestamp>,
    /// The decision.
    pub status: DeviceStatus,
    /// A terminal answer (tokens, `access_denied`, `expired_token`) was sent: any later
    /// poll is a client that did not stop (CLIENT-4).
    pub terminal_sent: bool,
    /// Polls so far, and where they are logged when a client is the subject.
    pub seen: Seen,
}

/// A device code's polls so far (what [`crate::server::play::Play`] counts on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// Polls received.
    pub polls: u32,
    /// Of those, answered `authorization_pending` or `slow_down`.
    pub pending: u32,
    /// Its entry in [`Store::device_logs`], when polls are logged.
    pub log: Option<usize>,
}

/// An authorization code and what it was issued for.
#[derive(Debug, Clone)]
pub struct AuthorizationCode {
    /// Client it was issued to.
    pub client_id: Arc<str>,
    /// User who consented.
    pub user: Arc<str>,
    /// `redirect_uri` of the authorization request, if it had one (TOK-24, TOK-25).
    pub redirect_uri: Option<String>,
    /// Scope granted.
    pub scope: ScopeSet,
    /// PKCE challenge and method (`S256` or `plain`).
    pub challenge: Option<(String, PkceMethod)>,
    /// Issue time.
    pub issued_at: Timestamp,
    /// The DPoP key the code is redeemable with (RFC 9449 §10 `dpop_jkt`, or the proof
    /// sent to PAR, §10.1).
    pub dpop_jkt: Option<String>,
    /// Set once redeemed: the grant its tokens belong to (TOK-21, TOK-22).
    pub redeemed: Option<u64>,
}

/// A pushed authorization request (RFC 9126 §2.2), by its `request_uri`.
#[derive(Debug, Clone)]
pub struct PushedRequest {
    /// The client that pushed it: the only one that may use it (PAR-6).
    pub client_id: Arc<str>,
    /// Its authorization request parameters, form-encoded (with `client_id`).
    pub query: String,
    /// When the `request_uri` stops working (PAR-7).
    pub expires_at: Timestamp,
    /// Whether an authorization code was issued for it (PAR-8: one-time use).
    pub used: bool,
}

/// PKCE transformation (RFC 7636 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkceMethod {
    /// `S256`.
    S256,
    /// `plain`.
    Plain,
}

/// An issued access token.
#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    /// Client it was issued to.
    pub client_id: Arc<str>,
    /// Resource owner (`None` for client_credentials).
    pub user: Option<Arc<str>>,
    /// Scope.
    pub scope: ScopeSet,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Grant it belongs to (revoking the grant kills it).
    pub grant: u64,
    /// The thumbprint of the DPoP key it is bound to (RFC 9449 §6: `cnf.jkt`).
    pub jkt: Option<Arc<str>>,
}

/// An issued refresh token.
#[derive(Debug, Clone)]
pub(crate) struct RefreshToken {
    /// Client it was issued to.
    pub client_id: Arc<str>,
    /// Resource owner.
    pub user: Option<Arc<str>>,
    /// Scope originally granted (REF-2, REF-5).
    pub scope: ScopeSet,
    /// Last use (or issue); idle expiry counts from here (REF-11).
    pub last_used: Timestamp,
    /// Grant it belongs to.
    pub grant: u64,
    /// The DPoP key a public client's refresh token is bound to (RFC 9449 §5).
    pub jkt: Option<Arc<str>>,
    /// Replaced by rotation; presenting it again is replay (REF-9), unless a declared
    /// reuse window still covers it (matrix §23, RACE-5…8).
    pub rotated: Option<Rotation>,
}

/// When and by what a refresh token was replaced.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rotation {
    /// The moment of the rotation: a reuse window counts from here.
    pub at: Timestamp,
    /// The refresh token issued in its place.
    pub successor: Token,
}

/// The grant of a token that nothing else can revoke: a client_credentials access token
/// has no code, no refresh token and no user behind it, only its own revocation and
/// expiry. It has no entry in the grant table (issuance skips one insert into a large
/// table), is always alive, and counts no references.
pub(crate) const STANDALONE: u64 = 0;

/// A grant: one user's authorization of one client, shared by the tokens it produced.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    /// Client.
    pub client_id: Arc<str>,
    /// User, if any.
    pub user: Option<Arc<str>>,
    /// Revoked: every token of the grant is dead.
    pub revoked: bool,
    /// Tokens and codes that refer to it; at zero the grant is dropped.
    pub refs: u32,
}

/// A browser session at the login, consent and verification pages.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// Logged-in user, if any.
    pub user: Option<Arc<str>>,
    /// Anti-CSRF value bound to the session (AUTHZ-18).
    pub csrf: String,
    /// Wrong user codes in a row at the verification page (DEV-24).
    pub verify_failures: u32,
    /// Verification attempts are refused until then.
    pub locked_until: Option<Timestamp>,
    /// Last use.
    pub last_seen: Timestamp,
}

/// Per-client counters of client behaviour (CLIENT-1, CLIENT-4, CLIENT-5).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct ClientAudit {
    /// Token-endpoint polls of device codes.
    pub polls: u64,
    /// Polls that arrived sooner than the current interval after the previous one.
    pub early_polls: u64,
    /// Polls after the device code had answered a terminal error or tokens.
    pub polls_after_terminal: u64,
    /// Device authorizations started.
    pub device_authorizations: u64,
}
