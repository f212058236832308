//! The scenario language, as typed data: a [`Scenario`] is steps, each one [`Action`]
//! with its captures and [`Assertion`]s; a request has one [`Destination`] and at most one
//! [`Body`]; an assertion is one [`Query`] with its [`Predicate`]s, or alternatives.
//! [`syntax`](super::syntax) reads files into this; `docs/scenarios.md` documents every
//! field.

mod assertion;

pub use assertion::{Assertion, CaptureEntry, Check, JsonType, Level, Predicate, Query};

use crate::endpoint::Endpoint;
pub use crate::keys::KeyName;
use crate::scenario::roles::ClientField;
use crate::scenario::template::{Expr, Template, Tree};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// A short name, shown in every report.
    pub name: String,
    /// What the scenario shows, in a sentence or two.
    pub description: String,
    /// Conformance-matrix ids this scenario checks (`DEV-14`).
    pub requirements: Vec<String>,
    /// Free-form tags for `--tag`.
    pub tags: Vec<String>,
    /// Capabilities the target must have; otherwise the scenario is SKIPPED.
    pub requires: Vec<Capability>,
    /// Variables, in order; later ones may use earlier ones.
    pub vars: Pairs,
    /// The steps, run in order.
    pub steps: Vec<Step>,
    /// Placeholders for this scenario's snapshots, on top of the defaults for the RFC
    /// fields: JSONPath into the body → placeholder (`$.items[*].id: "[item id]"`).
    /// How many times the scenario runs from scratch (its `race` steps' rounds); `None`:
    /// once, or the target's `race.rounds` (else 5) when it has a race step.
    pub rounds: Option<u32>,
    pub snapshot_redact: BTreeMap<String, String>,
}

/// A step's response snapshot: a name, or a name with its own placeholders.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SnapshotSpec {
    /// `snapshot: token-response`.
    Name(String),
    /// `snapshot: {name: token-response, redact: {"$.scope": "[scope]"}}`.
    Full {
        /// The snapshot's name, unique within the scenario.
        name: String,
        /// JSONPath into the body → placeholder, for this snapshot only.
        #[serde(default)]
        redact: BTreeMap<String, String>,
    },
}

impl SnapshotSpec {
    /// The name.
    pub fn name(&self) -> &str {
        match self {
            SnapshotSpec::Name(n) | SnapshotSpec::Full { name: n, .. } => n,
        }
    }

    /// This snapshot's own placeholders.
    pub fn redact(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            SnapshotSpec::Name(_) => None,
            SnapshotSpec::Full { redact, .. } => Some(redact),
        }
    }
}

/// What a target can do beyond plain HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Move the server's clock (builtin only).
    Clock,
    /// Approve a user code.
    Approve,
    /// Deny a user code (some servers' pages have no refusal).
    Deny,
    /// Consent to an authorization request.
    Consent,
    /// Refuse an authorization request (a `follow` consent hook cannot).
    RefuseConsent,
    /// Refresh tokens.
    Refresh,
    /// Dynamic client registration.
    Registration,
    /// The device authorization grant.
    DeviceFlow,
    /// The builtin's audit log of client behaviour.
    Audit,
    /// Revoke a connected app as the user.
    RevokeApp,
    /// The reference server's own login, consent and verification pages (other servers have
    /// their own user interface).
    Pages,
    /// Authorization responses carry `iss` (RFC 9207): one without it is then rejected
    /// (ISS-7). A target whose metadata sets `authorization_response_iss_parameter_supported`
    /// has it without saying.
    Iss,
    /// Client assertions are bound as OpenID Connect Core §9 says: `jti` required and used
    /// once (a profile's `oidc_client_auth: true`). Under RFC 7523 alone both are MAYs.
    OidcClientAuth,
    /// Client assertions' `aud` follows RFC 7523 §3 and RFC 9126 §2: the issuer, the
    /// token endpoint URL and the PAR endpoint URL all identify the AS (a profile's
    /// `jwt_aud: legacy`, the default).
    JwtAudLegacy,
    /// … or draft-ietf-oauth-rfc7523bis: the issuer as the sole audience (`jwt_aud:
    /// issuer-only`).
    JwtAudIssuerOnly,
    /// Every reuse of a rotated refresh token is replay (a profile's `rt_reuse: strict`,
    /// the default; not under a documented grace window or sender-constrained tokens).
    RtReuseStrict,
    /// The target documents a reuse window for rotated refresh tokens (a profile's
    /// `rt_reuse: grace:<s>`; `${lifetime.refresh_token_grace}` is s): a deviation no RFC
    /// allows, judged by its own rows (matrix §23, RACE-5…8). The builtin declares one
    /// only for the scenarios about it.
    RtReuseGrace,
    /// The run holds the target to OAuth 2.1 (`--expect oauth21`, or a profile's
    /// `contract: oauth21`): scenarios on its own rules (matrix §22) run only then.
    Oauth21,
    /// OAuth 2.1's exception to PKCE for a confidential client that uses the OpenID Connect
    /// `nonce` (draft -16 §7.5.1.1; a profile's `oidc_nonce_exception: true`).
    OidcNonceException,
    /// The user's approval of an authorization request can be asked N times at once
    /// (`${approval_url}`: the builtin's test route, or a profile's `race_hook`; RACE-9).
    RaceHook,
    /// Races may be run against it (`race` steps: N requests at once, R rounds); a live
    /// target's profile says `race: {n, rounds}`.
    Race,
    /// DPoP (RFC 9449) at the token endpoint (a profile's `dpop: true`, or metadata that
    /// lists `dpop_signing_alg_values_supported`).
    Dpop,
    /// The protected resource takes the `DPoP` scheme (a profile's `dpop_rs: true`).
    DpopRs,
    /// The authorization endpoint takes `dpop_jkt` (RFC 9449 §10; a profile's `dpop_jkt:
    /// true`).
    DpopJkt,
    /// The authorization server demands DPoP nonces (§8; a profile's `dpop_nonce: as` or
    /// `both`). The builtin demands them only for the scenarios about them.
    DpopNonceAs,
    /// The protected resource demands DPoP nonces (§9; `dpop_nonce: rs` or `both`).
    DpopNonceRs,
}

/// One step: one action, then captures and expectations.
#[derive(Debug, Clone)]
pub struct Step {
    /// Shown in reports; defaults to the action.
    pub name: Option<String>,
    /// Matrix ids this step checks, in addition to the scenario's.
    pub requirements: Vec<String>,
    /// Run the step only when this holds; otherwise it does not apply (an alternative the
    /// row accepts was taken), and neither do the steps that need its captures.
    pub if_: Option<Condition>,
    /// What the step does.
    pub action: Action,
    /// Perform the action this many times; captures and expectations apply to the last.
    pub repeat: u32,
    /// Judged even after an earlier step that changed the server's state did not hold.
    pub stands_alone: bool,
    /// Values to keep from the response.
    pub capture: Vec<CaptureEntry>,
    /// Assertions on the response.
    pub expect: Vec<Assertion>,
    /// Keep the normalized response as a snapshot under this name and compare it with the
    /// stored one (`--snapshots`).
    pub snapshot: Option<SnapshotSpec>,
}

/// What a step does: one of the language's step kinds.
#[derive(Debug, Clone)]
pub enum Action {
    /// Send one HTTP request.
    Request(Request),
    /// Repeat a token request as RFC 8628 §3.5 demands.
    Poll(Poll),
    /// Approve a user code as the user.
    Approve(UserCode),
    /// Deny a user code as the user.
    Deny(UserCode),
    /// Consent to (or refuse) an authorization request as the user.
    Consent(Consent),
    /// Move the target's clock forward (or wait, on a live target that allows it).
    AdvanceClock(AdvanceClock),
    /// Revoke a connected app as the user.
    RevokeApp(RevokeApp),
    /// Wait a while of the target's time (a clock that can move moves; else real time).
    Sleep(Sleep),
    /// Send one request N times at once, each on its own connection (conformance matrix
    /// §17a, *(race N×R)*).
    Race(Race),
    /// Send one request per member of a list, in turn, summed up as a race is.
    Each(Each),
}

/// One request per member of a list (the refresh tokens a race returned: matrix §23,
/// RACE-5 and RACE-6), sent in turn, the member bound to a variable. Its response is the
/// same summary a [`Race`] gives, over the answers in the order they were sent.
#[derive(Debug, Clone)]
pub struct Each {
    /// The list (`${rts}`: a variable that holds a JSON array, or a list written out).
    pub over: Tree,
    /// The variable each member is bound to.
    pub bind: String,
    /// Last member first (the newest of what a race returned, as the answers arrived).
    pub reverse: bool,
    /// Stop after the first 2xx answer.
    pub until_ok: bool,
    /// The request.
    pub request: Request,
}

/// N identical requests released together after every connection is open (a barrier),
/// each on its own connection. Its response, for expectations and captures, is a JSON
/// summary of the answers: `n`, `ok` (2xx answers), `refused` (the others: 429 and 5xx
/// count as refusals), `statuses` (status → count), `errors` (`error` → count), `winner`
/// (the first 2xx answer's JSON body, or null).
#[derive(Debug, Clone)]
pub struct Race {
    /// The request.
    pub request: Request,
    /// How many at once (default: the target's `race.n`, else 16).
    pub n: Option<u32>,
}

/// A step kind without its content, as files name it. [`Action::kind`] is one exhaustive
/// match, and [`ActionKind::all`] is derived, so a new kind is named everywhere a file's
/// step kinds are listed, or the build says where it is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ActionKind {
    /// `request`.
    Request,
    /// `poll`.
    Poll,
    /// `approve`.
    Approve,
    /// `deny`.
    Deny,
    /// `consent`.
    Consent,
    /// `advance_clock`.
    AdvanceClock,
    /// `revoke_app`.
    RevokeApp,
    /// `sleep`.
    Sleep,
    /// `race`.
    Race,
    /// `each`.
    Each,
}

impl ActionKind {
    /// Every step kind.
    pub fn all() -> &'static [ActionKind] {
        <ActionKind as clap::ValueEnum>::value_variants()
    }

    /// The name files use.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Request => "request",
            ActionKind::Poll => "poll",
            ActionKind::Approve => "approve",
            ActionKind::Deny => "deny",
            ActionKind::Consent => "consent",
            ActionKind::AdvanceClock => "advance_clock",
            ActionKind::RevokeApp => "revoke_app",
            ActionKind::Sleep => "sleep",
            ActionKind::Race => "race",
            ActionKind::Each => "each",
        }
    }
}

impl Action {
    /// Its kind.
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Request(_) => ActionKind::Request,
            Action::Poll(_) => ActionKind::Poll,
            Action::Approve(_) => ActionKind::Approve,
            Action::Deny(_) => ActionKind::Deny,
            Action::Consent(_) => ActionKind::Consent,
            Action::AdvanceClock(_) => ActionKind::AdvanceClock,
            Action::RevokeApp(_) => ActionKind::RevokeApp,
            Action::Sleep(_) => ActionKind::Sleep,
            Action::Race(_) => ActionKind::Race,
            Action::Each(_) => ActionKind::Each,
        }
    }

    /// The name files use for this kind.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// What the target must be able to do for this action (acting as the user, moving
    /// the clock), so that a target without it SKIPS the scenario.
    pub fn needs(&self) -> Vec<Capability> {
        match self {
            Action::Request(_) => vec![],
            Action::Poll(p) => [
                (p.approve_after.is_some(), Capability::Approve),
                (p.deny_after.is_some(), Capability::Deny),
            ]
            .into_iter()
            .filter_map(|(yes, c)| yes.then_some(c))
            .collect(),
            Action::Approve(_) => vec![Capability::Approve],
            Action::Deny(_) => vec![Capability::Deny],
            Action::Consent(c) if c.decision == Decision::Deny => {
                vec![Capability::Consent, Capability::RefuseConsent]
            }
            Action::Consent(_) => vec![Capability::Consent],
            Action::AdvanceClock(_) => vec![Capability::Clock],
            Action::RevokeApp(_) => vec![Capability::RevokeApp],
            Action::Sleep(_) => vec![],
            Action::Race(_) => vec![Capability::Race],
            Action::Each(_) => vec![],
        }
    }

    /// Whether the action changes the target's state besides its requests' effects (the
    /// clock, a user's decision): once one did not run, the later steps would meet
    /// another state than written.
    pub fn changes_state(&self) -> bool {
        match self {
            Action::Request(_)
            | Action::Poll(_)
            | Action::Consent(_)
            | Action::Race(_)
            | Action::Each(_) => false,
            Action::Approve(_)
            | Action::Deny(_)
            | Action::AdvanceClock(_)
            | Action::RevokeApp(_)
            | Action::Sleep(_) => true,
        }
    }

    /// Whether the action may change what the server holds through what it sends (a
    /// token request, a poll, a revocation, a user's decision): once such a step did not
    /// hold, the server may be in a state the scenario never meant, and what later steps
    /// see is no verdict on their own rows (issue #27). A `GET`, `HEAD` or `OPTIONS`
    /// request changes nothing (RFC 9110 §9.2.1: safe methods), nor does introspection;
    /// moving the clock is
    /// handled apart ([`Action::changes_state`]).
    pub fn may_change_server_state(&self) -> bool {
        match self {
            // Introspection and metadata only read (RFC 7662 §2, RFC 8414 §3).
            Action::Request(r) => {
                !["GET", "HEAD", "OPTIONS"]
                    .iter()
                    .any(|m| r.method.eq_ignore_ascii_case(m))
                    && !matches!(
                        r.to.endpoint(),
                        Some(Endpoint::Introspection | Endpoint::Metadata)
                    )
            }
            Action::Poll(_)
            | Action::Approve(_)
            | Action::Deny(_)
            | Action::Consent(_)
            | Action::RevokeApp(_)
            | Action::Race(_)
            | Action::Each(_) => true,
            Action::AdvanceClock(_) | Action::Sleep(_) => false,
        }
    }

    /// Whether the action may move the target's clock (a poll waits its intervals that
    /// way), so that a scenario with it must not share a movable clock with others.
    pub fn moves_clock(&self) -> bool {
        match self {
            Action::AdvanceClock(_) | Action::Poll(_) | Action::Sleep(_) => true,
            Action::Request(_)
            | Action::Approve(_)
            | Action::Deny(_)
            | Action::Consent(_)
            | Action::RevokeApp(_)
            | Action::Race(_)
            | Action::Each(_) => false,
        }
    }

    /// Whether the action gets a response to judge, capture and snapshot.
    pub fn responds(&self) -> bool {
        match self {
            Action::Request(_)
            | Action::Poll(_)
            | Action::Approve(_)
            | Action::Deny(_)
            | Action::Consent(_)
            | Action::RevokeApp(_)
            | Action::Race(_)
            | Action::Each(_) => true,
            Action::AdvanceClock(_) | Action::Sleep(_) => false,
        }
    }

    /// The request the action sends itself (a request, or a poll's).
    pub fn request(&self) -> Option<&Request> {
        match self {
            Action::Request(r) => Some(r),
            Action::Poll(p) => Some(&p.request),
            Action::Race(r) => Some(&r.request),
            Action::Each(e) => Some(&e.request),
            _ => None,
        }
    }
}

/// A condition on a variable: the step or assertion that carries it applies only when it
/// holds (an alternative the cited row accepts: `if: {var: answer, equals: 400}`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The variable (a capture of an earlier step; for an assertion, also of its own).
    pub var: String,
    /// Holds when the variable equals this.
    pub equals: Option<Tree>,
    /// Holds when the variable equals one of these.
    pub one_of: Option<Vec<Tree>>,
    /// Holds when the variable is anything but this.
    pub not_equals: Option<Tree>,
    /// Holds when the variable equals none of these.
    pub none_of: Option<Vec<Tree>>,
    /// Holds when the variable is a number greater than this (may be `${…}`).
    pub greater_than: Option<Tree>,
}

/// An HTTP request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method (`POST` unless the file says).
    pub method: String,
    /// Where it goes.
    pub to: Destination,
    /// Query parameters, in order.
    pub query: Pairs,
    /// Headers, in order.
    pub headers: Pairs,
    /// The body, if any.
    pub body: Option<Body>,
    /// Client authentication or a bearer token.
    pub auth: Option<Auth>,
    /// A DPoP proof to send with it (RFC 9449).
    pub dpop: Option<DpopProof>,
    /// Follow redirects (default: no; an authorization response is a redirect to inspect).
    pub follow_redirects: bool,
}

/// A DPoP proof (RFC 9449 §4.2) sent in the request's `DPoP` header, with the defaults of
/// conformance matrix §17a: `typ: dpop+jwt`, `alg: ES256`, `jwk` the public key, a fresh
/// `jti`, `htm` and `htu` the request's method and URL (without query and fragment),
/// `iat` the target's now, `ath` the hash of the access token the request sends, and the
/// nonce the server last gave (§8, §9; after a `use_dpop_nonce` the request is sent once
/// more with the nonce it came with). The other fields are the deviations negative cases
/// need.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DpopProof {
    /// The key: `J` (the default) or `J2`, a key no token is bound to.
    pub key: Option<KeyName>,
    /// Sign with this key instead, `key`'s public half staying in `jwk` (a signature the
    /// proof's own key does not verify).
    pub sign_with: Option<KeyName>,
    /// Sign otherwise: `none` (`alg: none`, no signature) or `hmac_public_jwk` (HS256
    /// keyed with the public JWK's text).
    pub sign: Option<SignWith>,
    /// `htm` instead of the request's method.
    pub htm: Option<Template>,
    /// `htu` instead of the request's URL.
    pub htu: Option<Template>,
    /// `htu` as another spelling of the request's URL (RFC 3986 §6.2.2–§6.2.3):
    /// `upper_case` scheme and host, or the `default_port` written out.
    pub htu_spelling: Option<HtuSpelling>,
    /// Claims to set, or to leave out (`null`): `jti`, `nonce`, `ath`…
    pub claims: Option<Tree>,
    /// Time claims relative to the target's now, in seconds (`{iat: -86400}`).
    #[serde(default)]
    pub times: BTreeMap<String, i64>,
    /// JOSE header members to set, or to leave out (`null`).
    pub header: Option<Tree>,
    /// Put the private key in `jwk` (with `d`).
    #[serde(default)]
    pub private_jwk: bool,
    /// `ath` is the hash of this token instead of the one the request sends.
    pub ath_of: Option<Template>,
    /// Send this proof as written (a saved one, or a malformed one) instead of signing.
    pub proof: Option<Template>,
    /// Send a second proof in a second `DPoP` header field.
    #[serde(default)]
    pub twice: bool,
    /// Send the request once more with the server's nonce after `use_dpop_nonce` (the
    /// default unless the proof is written, or `claims` names `nonce`).
    pub retry_nonce: Option<bool>,
    /// Keep the proof sent in this variable (a credential: redacted) for a later step.
    pub save_as: Option<String>,
}

/// An equivalent spelling of a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HtuSpelling {
    /// Scheme and host in upper case.
    UpperCase,
    /// The scheme's default port written out (a URL that names its port has none to add).
    DefaultPort,
}

impl DpopProof {
    /// Whether a `use_dpop_nonce` answer is met by sending the request again with the
    /// server's nonce (RFC 9449 §8: what a client does).
    pub fn retries_nonce(&self) -> bool {
        let names_nonce = self.claims.as_ref().is_some_and(|t| t.has_key("nonce"));
        self.retry_nonce
            .unwrap_or(self.proof.is_none() && !names_nonce)
    }
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Destination {
    /// A name the target resolves (`token`, `resource:me`, `api:/me`); never a template.
    Endpoint(EndpointRef),
    /// A literal path on the target, or an absolute URL (may use variables).
    Path(Template),
}

impl Destination {
    /// The server endpoint, when the request names one.
    pub fn endpoint(&self) -> Option<Endpoint> {
        match self {
            Destination::Endpoint(EndpointRef::Known(e)) => Some(*e),
            _ => None,
        }
    }
}

/// What `endpoint:` names: one of the server's endpoints, a protected resource the target
/// maps, or a path of the target's API. Parsed once, when the file loads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EndpointRef {
    /// `token`, `device_authorization`, … (RFC names, [`Endpoint::name`]).
    Known(Endpoint),
    /// `resource:NAME`: the URL the target maps to a protected resource.
    Resource(String),
    /// `api:/PATH`: that path on the target.
    Api(String),
}

impl EndpointRef {
    /// The reference `name` spells, or `None` for a name that is none of the three forms.
    pub fn parse(name: &str) -> Option<EndpointRef> {
        if let Some(e) = Endpoint::from_name(name) {
            return Some(EndpointRef::Known(e));
        }
        if let Some(r) = name.strip_prefix("resource:") {
            return (!r.is_empty() && !r.contains('/')).then(|| EndpointRef::Resource(r.into()));
        }
        name.strip_prefix("api:")
            .filter(|p| p.starts_with('/'))
            .map(|p| EndpointRef::Api(p.into()))
    }
}

impl std::fmt::Display for EndpointRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndpointRef::Known(e) => f.write_str(e.name()),
            EndpointRef::Resource(r) => write!(f, "resource:{r}"),
            EndpointRef::Api(p) => write!(f, "api:{p}"),
        }
    }
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    /// `application/x-www-form-urlencoded`.
    Form(Pairs),
    /// `application/json`.
    Json(Tree),
    /// Sent as it is, with its content type.
    Raw(RawBody),
    /// Parameters in the target's preferred encoding (form for RFC servers, JSON for
    /// Noorle's: the profile's `encoding`).
    Params(Pairs),
}

/// A literal body.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBody {
    /// `Content-Type` to send.
    pub content_type: Template,
    /// The body text.
    pub body: Template,
}

/// How the request authenticates. A client is named by its role (`role: web`: the id and
/// secret of the target's client in that role) or literally (`client`, `secret`); literal
/// fields override the role's (`role: m2m, secret: wrong` sends a wrong secret).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
pub enum Auth {
    /// `Authorization: Basic` with form-urlencoded id and secret (RFC 6749 §2.3.1).
    Basic {
        role: Option<String>,
        client: Option<Template>,
        secret: Option<Template>,
    },
    /// `client_id` and `client_secret` in the body.
    Post {
        role: Option<String>,
        client: Option<Template>,
        secret: Option<Template>,
    },
    /// `client_id` in the body only (public clients).
    None {
        role: Option<String>,
        client: Option<Template>,
    },
    /// `Authorization: Bearer`.
    Bearer { token: Template },
    /// `Authorization: DPoP` (RFC 9449 §7.1): a DPoP-bound access token, with the proof
    /// `dpop:` signs.
    Dpop { token: Template },
    /// A client assertion signed with the client's private key (RFC 7523 §2.2,
    /// `private_key_jwt`).
    PrivateKeyJwt(ClientAssertion),
    /// A client assertion with an HMAC keyed with the client's secret (`client_secret_jwt`).
    ClientSecretJwt(ClientAssertion),
}

/// A signed client assertion (RFC 7523 §2.2) sent as `client_assertion`, with the
/// defaults of conformance matrix §17a: `iss` = `sub` = the client id, `aud` = the
/// target's issuer, `exp` = now + 60, `iat` = now, a fresh `jti` ("now" is the target's
/// clock). The other fields are the deviations negative cases need.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientAssertion {
    /// The client role (`pkj`, `csj`): its id, and its key or secret.
    pub role: Option<String>,
    /// The client id, literally (overrides the role's).
    pub client: Option<Template>,
    /// `client_secret_jwt`: the HMAC secret (default: the role's).
    pub secret: Option<Template>,
    /// The private key that signs: `K`, the role's registered key (the default for
    /// `private_key_jwt`), or `K2`, a key the target does not know.
    pub key: Option<KeyName>,
    /// Sign otherwise: `none` (`alg: none`, an empty signature), `hmac_public_jwk` or
    /// `hmac_public_pem` (HS256 keyed with the bytes of K's public JWK or PEM: algorithm
    /// confusion).
    pub sign: Option<SignWith>,
    /// Claims to set, or to leave out (`null`).
    pub claims: Option<Tree>,
    /// Time claims relative to the target's now, in seconds (`{exp: -300, nbf: 300}`).
    #[serde(default)]
    pub times: BTreeMap<String, i64>,
    /// JOSE header members to set, or to leave out (`null`).
    pub header: Option<Tree>,
    /// Change one byte of the payload after signing.
    #[serde(default)]
    pub tamper: bool,
    /// Send a `client_id` parameter too, with this value.
    pub client_id: Option<Template>,
    /// The `client_assertion_type` to send instead of RFC 7523's.
    pub assertion_type: Option<Template>,
    /// The `client_assertion` to send as written (a saved one, or a malformed one),
    /// instead of signing a new one.
    pub assertion: Option<Template>,
    /// Keep the assertion sent in this variable (a credential: redacted) for a later step.
    pub save_as: Option<String>,
}

/// How a client assertion is signed instead of with its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignWith {
    /// The key (the default).
    Key,
    /// `alg: none`, no signature.
    None,
    /// HS256 keyed with K's public JWK, as JSON.
    HmacPublicJwk,
    /// HS256 keyed with K's public key as PEM.
    HmacPublicPem,
}

impl Auth {
    /// The client id and the secret as templates (`${client.web.id}` for a role), or why
    /// the fields do not say them.
    pub fn client_and_secret(&self) -> Result<(Option<Template>, Option<Template>), String> {
        let of_role = |role: &Option<String>, field: ClientField| {
            role.as_ref()
                .map(|r| Template::from_expr(Expr::Var(field.key(r))))
        };
        match self {
            Auth::Basic {
                role,
                client,
                secret,
            }
            | Auth::Post {
                role,
                client,
                secret,
            } => {
                let c = client.clone().or_else(|| of_role(role, ClientField::Id));
                let s = secret
                    .clone()
                    .or_else(|| of_role(role, ClientField::Secret));
                match (c, s) {
                    (Some(c), Some(s)) => Ok((Some(c), Some(s))),
                    _ => Err("client authentication needs `role`, or `client` and `secret`".into()),
                }
            }
            Auth::None { role, client } => {
                match client.clone().or_else(|| of_role(role, ClientField::Id)) {
                    Some(c) => Ok((Some(c), None)),
                    None => Err("`type: none` needs `role` or `client`".into()),
                }
            }
            Auth::Bearer { .. } | Auth::Dpop { .. } => Ok((None, None)),
            Auth::PrivateKeyJwt(a) => match a
                .client
                .clone()
                .or_else(|| of_role(&a.role, ClientField::Id))
            {
                Some(c) => Ok((Some(c), None)),
                None if a.assertion.is_some() => Ok((None, None)),
                None => Err("`type: private_key_jwt` needs `role` or `client`".into()),
            },
            Auth::ClientSecretJwt(a) => {
                let c = a
                    .client
                    .clone()
                    .or_else(|| of_role(&a.role, ClientField::Id));
                let s = a
                    .secret
                    .clone()
                    .or_else(|| of_role(&a.role, ClientField::Secret));
                match (c, s) {
                    (Some(c), s) if s.is_some() || a.key.is_some() || a.sign.is_some() => {
                        Ok((Some(c), s))
                    }
                    (None, _) if a.assertion.is_some() => Ok((None, None)),
                    _ => Err(
                        "`type: client_secret_jwt` needs `role`, or `client` and `secret`".into(),
                    ),
                }
            }
        }
    }

    /// The role named, if any.
    pub fn role(&self) -> Option<&str> {
        match self {
            Auth::Basic { role, .. } | Auth::Post { role, .. } | Auth::None { role, .. } => {
                role.as_deref()
            }
            Auth::PrivateKeyJwt(a) | Auth::ClientSecretJwt(a) => a.role.as_deref(),
            Auth::Bearer { .. } | Auth::Dpop { .. } => None,
        }
    }
}

/// A poll loop (RFC 8628 §3.5): repeat while the answer is `authorization_pending` or
/// `slow_down`, waiting `interval` (plus 5 s per `slow_down`), until `expires_in`.
#[derive(Debug, Clone)]
pub struct Poll {
    /// The token request to repeat.
    pub request: Request,
    /// Seconds between polls; 5 when not given (RFC 8628 §3.2, CLIENT-2).
    pub interval: Option<Template>,
    /// Stop after this many seconds (CLIENT-5).
    pub expires_in: Option<Template>,
    /// The user code to approve or deny during the loop.
    pub user_code: Option<Template>,
    /// Approve `user_code` after this many pending answers.
    pub approve_after: Option<u32>,
    /// Deny `user_code` after this many pending answers.
    pub deny_after: Option<u32>,
    /// Send the first poll this many seconds early each time (to provoke `slow_down`).
    pub early_by: u64,
    /// Stop after this many polls at most.
    pub max_polls: u32,
}

/// A user code to approve or deny.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCode {
    /// The user code.
    pub user_code: Template,
    /// The user; the target's default when absent.
    pub user: Option<String>,
}

/// An authorization request the user decides on; the response is the redirect.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// The authorization request's query parameters.
    pub query: Pairs,
    /// `approve` (default) or `deny`.
    #[serde(default)]
    pub decision: Decision,
    /// The user; the target's default when absent.
    pub user: Option<String>,
    /// Push the request first (RFC 9126 §2.1: to the PAR endpoint, the client
    /// authenticating as at the token endpoint — Basic with its secret, or its
    /// `client_id` alone for a public client), then consent to `client_id` and the
    /// `request_uri` the push returned (§4).
    #[serde(default)]
    pub par: bool,
}

/// A user's decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Allow.
    #[default]
    Approve,
    /// Refuse.
    Deny,
}

/// Move the clock.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceClock {
    /// Seconds (may use variables).
    pub seconds: Template,
}

/// Wait a while of the target's time.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sleep {
    /// Seconds, fractions allowed (may use variables); at most 60.
    pub seconds: Template,
}

/// Revoke a connected app.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeApp {
    /// The app's client id.
    pub client: Template,
    /// The user; the target's default when absent.
    pub user: Option<String>,
}

/// Name/value pairs in order: a mapping, or a list of one-entry mappings or `[name, value]`
/// pairs (so that a name can repeat, to test duplicate-parameter rules).
#[derive(Debug, Clone, Default)]
pub struct Pairs(pub Vec<(Template, Template)>);

impl Capability {
    /// The name scenario files use (`refuse_consent`).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Every capability. The builtin has those of the policy it runs (one audience rule
    /// set; the OpenID Connect nonce exception and a refresh-token reuse window only where
    /// a scenario is about them);
    /// `oauth21` is the run's contract, never a target's.
    pub const ALL: [Capability; 26] = [
        Capability::Clock,
        Capability::Approve,
        Capability::Deny,
        Capability::Consent,
        Capability::RefuseConsent,
        Capability::Refresh,
        Capability::Registration,
        Capability::DeviceFlow,
        Capability::Audit,
        Capability::RevokeApp,
        Capability::Pages,
        Capability::Iss,
        Capability::OidcClientAuth,
        Capability::JwtAudLegacy,
        Capability::JwtAudIssuerOnly,
        Capability::Race,
        Capability::RtReuseStrict,
        Capability::RtReuseGrace,
        Capability::Oauth21,
        Capability::OidcNonceException,
        Capability::RaceHook,
        Capability::Dpop,
        Capability::DpopRs,
        Capability::DpopJkt,
        Capability::DpopNonceAs,
        Capability::DpopNonceRs,
    ];
}

impl Scenario {
    /// The capabilities the scenario needs: those it declares and those its steps imply
    /// (moving the clock, acting as the user), so that a target without them SKIPS the
    /// scenario even when `requires` forgot one.
    pub fn needs(&self) -> Vec<Capability> {
        let mut out = self.requires.clone();
        for c in self.steps.iter().flat_map(|st| st.action.needs()) {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }

    /// Every request the scenario sends: its steps' and its polls'.
    pub fn requests(&self) -> impl Iterator<Item = &Request> {
        self.steps.iter().filter_map(|st| st.action.request())
    }
}
