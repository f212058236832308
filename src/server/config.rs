//! What the reference server serves: its clients, accounts, scopes and policy, loaded from
//! a fixture file (`fixtures/clients.yaml`, embedded as the default).

use crate::oauth::{GrantSet, GrantType};
use crate::secret::Secret;
use crate::server::assertion::AssertionMethod;
use crate::server::faults::FaultSet;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The fixture file shipped in the repository and embedded in the binary.
pub(crate) const DEFAULT_FIXTURE: &str = include_str!("../../fixtures/clients.yaml");

/// A fixture file could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FixtureError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: serde_yaml::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    scopes: Vec<String>,
    default_scope: String,
    clients: Vec<ClientSpec>,
    #[serde(default)]
    accounts: Vec<AccountSpec>,
    #[serde(default)]
    policy: Policy,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientSpec {
    id: String,
    #[serde(default)]
    public: bool,
    secret: Option<String>,
    grant_types: Vec<GrantType>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    scopes: Option<Vec<String>>,
    require_pkce: Option<bool>,
    /// RFC 9126 §6 client metadata of the same name.
    #[serde(default)]
    require_pushed_authorization_requests: bool,
    /// RFC 9449 §5.2: its token requests must carry a DPoP proof.
    #[serde(default)]
    dpop_bound_access_tokens: bool,
    /// RFC 7591 §2: `private_key_jwt` (with `jwks`) or `client_secret_jwt` (with a
    /// secret); the secret methods when not given.
    token_endpoint_auth_method: Option<String>,
    /// RFC 7591 §2: the client's public keys, `{"keys": [...]}`.
    jwks: Option<serde_json::Value>,
    /// RFC 7591 §2: where the client publishes them (fetched when the server starts).
    jwks_uri: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountSpec {
    username: String,
    password: String,
}

/// Lifetimes and limits. Every field has the builtin default of the conformance matrix.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Authorization code lifetime, seconds (NOORLE-19: 600).
    pub authorization_code_ttl: u64,
    /// Device code lifetime, seconds (NOORLE-7: 1800).
    pub device_code_ttl: u64,
    /// Minimum polling interval, seconds (NOORLE-8: 5).
    pub device_interval: u64,
    /// Access token lifetime, seconds.
    pub access_token_ttl: u64,
    /// Refresh tokens unused this long die (REF-11), seconds.
    pub refresh_token_idle_ttl: u64,
    /// Device authorizations per client per minute before 429 (NOORLE-16).
    pub device_authorizations_per_minute: u32,
    /// Wrong user codes in a row at the verification page before lockout (DEV-24).
    pub verify_failures_before_lockout: u32,
    /// Lockout after too many wrong user codes, seconds.
    pub verify_lockout: u64,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Lifetime of a pushed request's `request_uri`, seconds (RFC 9126 §2.2's example: 60).
    pub request_uri_ttl: u64,
    /// Authorization requests only through PAR, for every client (RFC 9126 §5).
    pub require_pushed_authorization_requests: bool,
    /// Which `aud` identifies this AS in client assertions (conformance matrix §24.2 #1).
    pub jwt_aud: JwtAudPolicy,
    /// OAuth 2.1's rules (draft-ietf-oauth-v2-1-16, matrix §22): PKCE with S256 for every
    /// client, no `redirect_uri` needed at the token endpoint, a code issued without a
    /// challenge never redeemed, an invalid code replay revoking nothing, no private-use
    /// redirect scheme without a period.
    pub oauth21: bool,
    /// Under `oauth21`: a confidential client asking for `openid` with a `nonce` may omit
    /// `code_challenge` (-16 §7.5.1.1's OpenID Connect exception).
    pub oidc_nonce_exception: bool,
    /// A reuse window for rotated refresh tokens, seconds (matrix §23 RACE-5…8, a
    /// declared deviation: no RFC allows one). Inside it the token rotated out last still
    /// refreshes, answered with the refresh token that replaced it (the grant never
    /// forks); older generations and any reuse after it are replay (RFC 9700 §4.14.2).
    /// `None`, the default: every reuse is replay.
    pub refresh_token_grace: Option<u64>,
    /// Where DPoP nonces are demanded (RFC 9449 §8 at the token endpoint and PAR, §9 at
    /// the protected resource); none by default.
    pub dpop_nonce: crate::server::dpop::NoncePolicy,
    /// How far a DPoP proof's `iat` may be from now, either way, seconds (RFC 9449 §11.1:
    /// "a limited time after their creation"); a `jti` is remembered for twice as long.
    pub dpop_proof_window: u64,
}

/// The audience rules of client assertions (matrix §24.2 #1: the sources disagree).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum JwtAudPolicy {
    /// RFC 7523 §3 item 3 and RFC 9126 §2: the issuer, the token endpoint URL or the PAR
    /// endpoint URL, alone or among others.
    #[default]
    Legacy,
    /// draft-ietf-oauth-rfc7523bis: the issuer, as the sole value, at every endpoint.
    IssuerOnly,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            authorization_code_ttl: 600,
            device_code_ttl: 1800,
            device_interval: 5,
            access_token_ttl: 3600,
            refresh_token_idle_ttl: 30 * 24 * 3600,
            device_authorizations_per_minute: 60,
            verify_failures_before_lockout: 10,
            verify_lockout: 300,
            max_body_bytes: 64 * 1024,
            request_uri_ttl: 60,
            require_pushed_authorization_requests: false,
            jwt_aud: JwtAudPolicy::Legacy,
            oauth21: false,
            oidc_nonce_exception: false,
            refresh_token_grace: None,
            dpop_nonce: crate::server::dpop::NoncePolicy::None,
            dpop_proof_window: 60,
        }
    }
}

impl Policy {
    /// OAuth 2.1's rules, with the audience rules of client assertions its -16 §2.4
    /// adopts (draft-ietf-oauth-rfc7523bis).
    pub fn follow_oauth21(&mut self) {
        self.oauth21 = true;
        self.jwt_aud = JwtAudPolicy::IssuerOnly;
    }

    pub(crate) fn secs(v: u64) -> Duration {
        Duration::from_secs(v)
    }
}

/// The scopes a server knows, as a fixed list; a set of them is a bitmask.
#[derive(Clone, Debug)]
pub struct Scopes {
    names: Vec<String>,
    default: ScopeSet,
}

/// A set of scopes of one server ([`Scopes`] gives the names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(u32);

impl ScopeSet {
    /// The set as bits, one per scope in the server's order (a sealed token carries them).
    pub(crate) fn bits(self) -> u32 {
        self.0
    }

    /// The set whose bits are `bits`.
    pub(crate) fn from_bits(bits: u32) -> ScopeSet {
        ScopeSet(bits)
    }

    /// Whether every scope of `other` is in `self`.
    pub(crate) fn contains_all(self, other: ScopeSet) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members of `a` that are not in `b`.
    pub(crate) fn difference(a: ScopeSet, b: ScopeSet) -> ScopeSet {
        ScopeSet(a.0 & !b.0)
    }

    /// The intersection.
    pub(crate) fn intersect(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 & other.0)
    }
}

/// Why a `scope` parameter was refused (RFC 6749 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError {
    /// A scope token the server does not know: Noorle's `Scope 'x' is not supported`.
    Unsupported(String),
    /// Not a space-separated list of scope tokens.
    Malformed,
}

/// scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) (RFC 6749 §3.3). Nothing in one needs
/// escaping in JSON, which the token response relies on.
fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

impl Scopes {
    fn new(names: Vec<String>, default: &str) -> Result<Self, String> {
        if names.len() > 32 {
            return Err("at most 32 scopes are supported".into());
        }
        if let Some(bad) = names.iter().find(|n| !is_scope_token(n)) {
            return Err(format!(
                "scope {bad:?} is not a scope-token (RFC 6749 §3.3: printable ASCII without space, '\"' or '\\')"
            ));
        }
        let mut s = Scopes {
            names,
            default: ScopeSet::default(),
        };
        s.default = s
            .parse(Some(default))
            .map_err(|e| format!("default_scope: {e:?}"))?;
        Ok(s)
    }

    /// Parses a `scope` parameter. `None` or empty gives the default scope (TOK-29).
    pub fn parse(&self, raw: Option<&str>) -> Result<ScopeSet, ScopeError> {
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            return Ok(self.default);
        };
        let mut set = 0u32;
        for token in raw.split(' ') {
            if !is_scope_token(token) {
                return Err(ScopeError::Malformed);
            }
            match self.names.iter().position(|n| n == token) {
                Some(i) => set |= 1 << i,
                None => return Err(ScopeError::Unsupported(token.to_string())),
            }
        }
        Ok(ScopeSet(set))
    }

    /// Parses, dropping unknown scopes instead of refusing them (fault `ignore-scope`).
    pub(crate) fn parse_lenient(&self, raw: Option<&str>) -> ScopeSet {
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            return self.default;
        };
        let mut set = 0u32;
        for token in raw.split(' ') {
            if let Some(i) = self.names.iter().position(|n| n == token) {
                set |= 1 << i;
            }
        }
        ScopeSet(set)
    }

    /// The set holding just `name` (empty if unknown).
    pub fn one(&self, name: &str) -> ScopeSet {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| ScopeSet(1 << i))
            .unwrap_or_default()
    }

    /// Every scope.
    pub fn all(&self) -> ScopeSet {
        ScopeSet(((1u64 << self.names.len()) - 1) as u32)
    }

    /// The wire form: names in declaration order, space-separated.
    pub fn render(&self, set: ScopeSet) -> String {
        let mut out = Vec::new();
        self.render_into(set, &mut out);
        // Names are scope-tokens (checked in `new`): ASCII.
        String::from_utf8(out).unwrap_or_default()
    }

    /// The names in `set`, in declaration order.
    fn names_in(&self, set: ScopeSet) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .enumerate()
            .filter(move |(i, _)| set.0 & (1 << i) != 0)
            .map(|(_, name)| name.as_str())
    }

    /// [`Scopes::render`], appended to `out`.
    pub(crate) fn render_into(&self, set: ScopeSet, out: &mut Vec<u8>) {
        for (i, name) in self.names_in(set).enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(name.as_bytes());
        }
    }

    /// The length of [`Scopes::render`]'s text.
    pub(crate) fn rendered_len(&self, set: ScopeSet) -> usize {
        self.names_in(set)
            .enumerate()
            .map(|(i, name)| name.len() + usize::from(i > 0))
            .sum()
    }

    /// The names, for metadata.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// A registered client (from the fixture or from dynamic registration).
#[derive(Debug, Clone)]
pub struct Client {
    /// `client_id`.
    pub id: Arc<str>,
    /// `None` for public clients.
    pub secret: Option<Secret<String>>,
    /// Grants it may use.
    pub grants: GrantSet,
    /// Registered redirect URIs, compared by exact string match (RFC 6749 §3.1.2.3).
    pub redirect_uris: Vec<String>,
    /// Scopes it may be given.
    pub scopes: ScopeSet,
    /// Whether authorization requests must carry a PKCE challenge (PKCE-7).
    pub require_pkce: bool,
    /// Whether its authorization requests must come through PAR (RFC 9126 §6).
    pub require_par: bool,
    /// Its token requests must carry a DPoP proof (RFC 9449 §5.2
    /// `dpop_bound_access_tokens`).
    pub dpop_bound_access_tokens: bool,
    /// Human name, for the consent page.
    pub name: String,
    /// Metadata echoed by dynamic registration (RFC 7591 §3.2.1), if registered that way.
    pub registration: Option<serde_json::Value>,
    /// Authentication by signed assertion (RFC 7523), the only way this client
    /// authenticates when set.
    pub assertion: Option<AssertionMethod>,
}

impl Client {
    /// Public clients have no credentials: no secret and no key (RFC 6749 §2.1).
    pub(crate) fn is_public(&self) -> bool {
        self.secret.is_none() && self.assertion.is_none()
    }
}

/// An end user.
#[derive(Debug)]
pub struct Account {
    /// Login name.
    pub username: Arc<str>,
    /// Password.
    pub password: Secret<String>,
}

/// Whether `username` exists and `password` is its password: the one place passwords are
/// compared, in constant time (as client secrets are).
pub(crate) fn signs_in(
    accounts: &HashMap<String, Account>,
    username: &str,
    password: Option<&str>,
) -> bool {
    use subtle::ConstantTimeEq;
    match (accounts.get(username), password) {
        (Some(a), Some(given)) => a
            .password
            .expose()
            .as_bytes()
            .ct_eq(given.as_bytes())
            .into(),
        _ => false,
    }
}

/// Everything the server is configured with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Known scopes.
    pub scopes: Arc<Scopes>,
    /// Fixture clients.
    pub clients: Vec<Arc<Client>>,
    /// Accounts.
    pub accounts: Arc<HashMap<String, Account>>,
    /// Lifetimes and limits.
    pub policy: Policy,
    /// Fault switches.
    pub faults: FaultSet,
    /// Whether the `/_test/` control API is served.
    pub test_mode: bool,
    /// The issuer; `None` means `http://<bound address>`.
    pub issuer: Option<String>,
    /// The server's part when a client is the subject (`oauth-harness client`).
    pub play: Option<crate::server::play::Play>,
    /// A pause of the token endpoint (load tests).
    pub stall: Option<crate::server::stall::Stall>,
}

impl ServerConfig {
    /// Adds a `private_key_jwt` client whose public keys are published at `jwks_uri`
    /// (RFC 7591 §2), fetched when the server starts: the builtin's `pkj-uri`, whose keys
    /// the harness serves.
    pub fn add_jwks_uri_client(&mut self, id: &str, jwks_uri: &str, redirect_uri: &str) {
        use crate::server::assertion::RemoteKeys;
        self.clients.push(Arc::new(Client {
            name: id.to_string(),
            id: Arc::from(id),
            require_pkce: false,
            require_par: false,
            dpop_bound_access_tokens: false,
            secret: None,
            grants: [
                GrantType::ClientCredentials,
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
            ]
            .into_iter()
            .collect(),
            redirect_uris: vec![redirect_uri.to_string()],
            scopes: self.scopes.all(),
            registration: None,
            assertion: Some(AssertionMethod::PrivateKeyUri(Arc::new(RemoteKeys::new(
                jwks_uri,
            )))),
        }));
    }

    /// The embedded default fixture, no faults, test mode off.
    pub fn builtin() -> Self {
        // The embedded fixture is validated by a unit test; failing here is a build defect.
        Self::from_yaml(DEFAULT_FIXTURE, "<embedded fixtures/clients.yaml>")
            .unwrap_or_else(|e| panic!("embedded fixture is invalid: {e}"))
    }

    /// Loads a fixture file.
    pub(crate) fn from_file(path: &Path) -> Result<Self, FixtureError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Read {
            path: display.clone(),
            source,
        })?;
        Self::from_yaml(&text, &display)
    }

    /// Parses fixture text; `path` names it in errors.
    pub(crate) fn from_yaml(text: &str, path: &str) -> Result<Self, FixtureError> {
        let file: FixtureFile =
            serde_yaml::from_str(text).map_err(|source| FixtureError::Parse {
                path: path.to_string(),
                source,
            })?;
        let invalid = |message: String| FixtureError::Invalid {
            path: path.to_string(),
            message,
        };
        let scopes = Scopes::new(file.scopes, &file.default_scope).map_err(invalid)?;
        let mut clients = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for c in file.clients {
            if !seen.insert(c.id.clone()) {
                return Err(invalid(format!("client '{}' is listed twice", c.id)));
            }
            let assertion = AssertionMethod::from_registration(
                c.token_endpoint_auth_method.as_deref().unwrap_or(""),
                c.jwks.as_ref(),
                c.jwks_uri.as_deref(),
            )
            .map_err(|e| invalid(format!("client '{}': {e}", c.id)))?;
            let keyed = assertion
                .as_ref()
                .is_some_and(|a| a.public_keys().is_some());
            if c.public == (c.secret.is_some() || keyed) {
                return Err(invalid(format!(
                    "client '{}': give either `public: true`, a `secret` or `jwks` (or `jwks_uri`)",
                    c.id
                )));
            }
            if matches!(assertion, Some(AssertionMethod::Secret)) && c.secret.is_none() {
                return Err(invalid(format!(
                    "client '{}': client_secret_jwt needs a `secret`",
                    c.id
                )));
            }
            let allowed = match &c.scopes {
                None => scopes.all(),
                Some(list) => scopes
                    .parse(Some(&list.join(" ")))
                    .map_err(|e| invalid(format!("client '{}': scopes: {e:?}", c.id)))?,
            };
            for uri in &c.redirect_uris {
                url::Url::parse(uri).map_err(|e| {
                    invalid(format!("client '{}': redirect URI '{uri}': {e}", c.id))
                })?;
            }
            clients.push(Arc::new(Client {
                name: c.id.clone(),
                id: Arc::from(c.id.as_str()),
                require_pkce: c.require_pkce.unwrap_or(c.public),
                require_par: c.require_pushed_authorization_requests,
                dpop_bound_access_tokens: c.dpop_bound_access_tokens,
                secret: c.secret.map(Secret::new),
                grants: c.grant_types.into_iter().collect(),
                redirect_uris: c.redirect_uris,
                scopes: allowed,
                registration: None,
                assertion,
            }));
        }
        let accounts = file
            .accounts
            .into_iter()
            .map(|a| {
                (
                    a.username.clone(),
                    Account {
                        username: Arc::from(a.username.as_str()),
                        password: Secret::new(a.password),
                    },
                )
            })
            .collect();
        Ok(ServerConfig {
            scopes: Arc::new(scopes),
            clients,
            accounts: Arc::new(accounts),
            policy: file.policy,
            faults: FaultSet::none(),
            test_mode: false,
            issuer: None,
            play: None,
            stall: None,
        })
    }

    /// Switches faults on.
    pub fn with_faults(mut self, faults: FaultSet) -> Self {
        self.faults = faults;
        self
    }

    /// Turns the `/_test/` control API on or off.
    pub fn with_test_mode(mut self, on: bool) -> Self {
        self.test_mode = on;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_fixture_has_every_matrix_client() {
        let cfg = ServerConfig::from_yaml(DEFAULT_FIXTURE, "fixture").expect("valid fixture");
        for id in [
            "noorle-cli",
            "tv",
            "web",
            "web2",
            "parc",
            "multi",
            "spa",
            "m2m",
            "native",
            "odd",
            "pkj",
            "csj",
        ] {
            assert!(cfg.clients.iter().any(|c| &*c.id == id), "missing {id}");
        }
        assert_eq!(cfg.policy, Policy::default());
    }

    #[test]
    fn only_an_account_and_its_own_password_sign_in() {
        let cfg = ServerConfig::builtin();
        let a = &cfg.accounts;
        assert!(signs_in(a, "alice", Some("alice-password")));
        assert!(!signs_in(a, "alice", Some("bob-password")));
        assert!(!signs_in(a, "alice", Some("alice-passwor")));
        assert!(!signs_in(a, "alice", Some("")));
        assert!(!signs_in(a, "alice", None));
        assert!(!signs_in(a, "carol", Some("alice-password")));
    }

    #[test]
    fn scope_names_must_be_scope_tokens() {
        for bad in ["a\"b", "a\\b", "a b", "", "caf\u{e9}"] {
            let e = Scopes::new(vec!["api".into(), bad.into()], "api").expect_err(bad);
            assert!(e.contains("is not a scope-token"), "{e}");
        }
        assert!(Scopes::new(vec!["api".into(), "read:all".into()], "api").is_ok());
    }

    #[test]
    fn scopes_parse_strictly() {
        let s = Scopes::new(vec!["api".into(), "read".into()], "api").expect("scopes");
        assert_eq!(s.render(s.parse(None).expect("default")), "api");
        assert_eq!(
            s.render(s.parse(Some("read api")).expect("two")),
            "api read"
        );
        assert_eq!(
            s.parse(Some("api unknown")),
            Err(ScopeError::Unsupported("unknown".into()))
        );
        assert_eq!(s.parse(Some("api  read")), Err(ScopeError::Malformed));
        assert_eq!(s.parse(Some("a\"b")), Err(ScopeError::Malformed));
        assert_eq!(s.render(s.parse_lenient(Some("api unknown"))), "api");
    }

    #[test]
    fn fixture_errors_name_the_file() {
        let err = ServerConfig::from_yaml("scopes: [api]\n", "x.yaml").expect_err("incomplete");
        assert!(err.to_string().starts_with("x.yaml: "), "{err}");
        let err = ServerConfig::from_yaml(
            "scopes: [api]\ndefault_scope: api\nclients:\n  - id: a\n    grant_types: []\n",
            "y.yaml",
        )
        .expect_err("neither public nor secret");
        assert!(err.to_string().contains("client 'a'"), "{err}");
    }
}
