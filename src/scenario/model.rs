//! The scenario language, as typed data. A file is one [`Scenario`]; `docs/scenarios.md`
//! documents every field. Deserialized by serde_yaml with unknown fields refused.

use schemars::JsonSchema;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// One scenario file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name, shown in every report.
    pub name: String,
    /// What the scenario shows, in a sentence or two.
    #[serde(default)]
    pub description: String,
    /// Conformance-matrix ids this scenario checks (`DEV-14`).
    #[serde(default)]
    pub requirements: Vec<String>,
    /// Free-form tags for `--tag`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Capabilities the target must have; otherwise the scenario is SKIPPED.
    #[serde(default)]
    pub requires: Vec<Capability>,
    /// Variables, in order; later ones may use earlier ones.
    #[serde(default)]
    pub vars: Pairs,
    /// The steps, run in order.
    pub steps: Vec<Step>,
    /// Placeholders for this scenario's snapshots, on top of the defaults for the RFC
    /// fields: JSONPath into the body → placeholder (`$.items[*].id: "[item id]"`).
    #[serde(default)]
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
}

/// One step: exactly one action, then captures and expectations.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Shown in reports; defaults to the action.
    pub name: Option<String>,
    /// Matrix ids this step checks, in addition to the scenario's.
    #[serde(default)]
    pub requirements: Vec<String>,
    /// Run the step only when this holds; otherwise it does not apply (an alternative the
    /// row accepts was taken), and neither do the steps that need its captures.
    #[serde(rename = "if")]
    pub if_: Option<Condition>,
    /// Send one HTTP request.
    pub request: Option<Request>,
    /// Repeat a request as RFC 8628 §3.5 demands.
    pub poll: Option<Poll>,
    /// Approve a user code as the user.
    pub approve: Option<UserCode>,
    /// Deny a user code as the user.
    pub deny: Option<UserCode>,
    /// Consent (or refuse) an authorization request as the user.
    pub consent: Option<Consent>,
    /// Move the target's clock forward (builtin only).
    pub advance_clock: Option<AdvanceClock>,
    /// Revoke a connected app as the user.
    pub revoke_app: Option<RevokeApp>,
    /// Perform the action this many times; captures and expectations apply to the last.
    #[serde(default = "one")]
    pub repeat: u32,
    /// Values to keep from the response.
    #[serde(default)]
    pub capture: Vec<CaptureEntry>,
    /// Assertions on the response.
    #[serde(default)]
    pub expect: Vec<Assertion>,
    /// Keep the normalized response as a snapshot under this name and compare it with the
    /// stored one (`--snapshots`).
    pub snapshot: Option<SnapshotSpec>,
}

/// A condition on a variable: the step or assertion that carries it applies only when it
/// holds (an alternative the cited row accepts: `if: {var: answer, equals: 400}`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The variable (a capture of an earlier step; for an assertion, also of its own).
    pub var: String,
    /// Holds when the variable equals this.
    #[schemars(with = "Option<serde_json::Value>")]
    pub equals: Option<serde_yaml::Value>,
    /// Holds when the variable equals one of these.
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub one_of: Option<Vec<serde_yaml::Value>>,
    /// Holds when the variable is anything but this.
    #[schemars(with = "Option<serde_json::Value>")]
    pub not_equals: Option<serde_yaml::Value>,
    /// Holds when the variable is a number greater than this (may be `${…}`).
    #[schemars(with = "Option<serde_json::Value>")]
    pub greater_than: Option<serde_yaml::Value>,
}

/// An HTTP request.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Method; `POST` unless given.
    #[serde(default = "post")]
    pub method: String,
    /// An endpoint name resolved through the target (`token`, `device_authorization`,
    /// `authorization`, `revocation`, `introspection`, `registration`, `metadata`,
    /// `api:/me`).
    pub endpoint: Option<String>,
    /// A literal path (or absolute URL) instead of an endpoint name.
    pub path: Option<String>,
    /// Query parameters (a mapping, or a list of pairs to repeat a name).
    #[serde(default)]
    pub query: Pairs,
    /// Headers.
    #[serde(default)]
    pub headers: Pairs,
    /// A form-encoded body.
    pub form: Option<Pairs>,
    /// A JSON body.
    #[schemars(with = "Option<serde_json::Value>")]
    pub json: Option<serde_yaml::Value>,
    /// A body sent as it is, with its content type.
    pub raw: Option<RawBody>,
    /// Parameters encoded as the target prefers: form for RFC servers, JSON for Noorle's
    /// (the profile's `encoding`; the builtin takes JSON).
    pub body: Option<Pairs>,
    /// Client authentication or a bearer token.
    pub auth: Option<Auth>,
    /// Follow redirects (default: no; an authorization response is a redirect to inspect).
    #[serde(default)]
    pub follow_redirects: bool,
}

fn one() -> u32 {
    1
}

fn post() -> String {
    "POST".into()
}

/// A literal body.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBody {
    /// `Content-Type` to send.
    pub content_type: String,
    /// The body text.
    pub body: String,
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
        client: Option<String>,
        secret: Option<String>,
    },
    /// `client_id` and `client_secret` in the body.
    Post {
        role: Option<String>,
        client: Option<String>,
        secret: Option<String>,
    },
    /// `client_id` in the body only (public clients).
    None {
        role: Option<String>,
        client: Option<String>,
    },
    /// `Authorization: Bearer`.
    Bearer { token: String },
}

impl Auth {
    /// The client id and the secret as templates (`${client.web.id}` for a role), or why
    /// the fields do not say them.
    pub fn client_and_secret(&self) -> Result<(Option<String>, Option<String>), String> {
        let of_role = |role: &Option<String>, field: &str| {
            role.as_ref().map(|r| format!("${{client.{r}.{field}}}"))
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
                let c = client.clone().or_else(|| of_role(role, "id"));
                let s = secret.clone().or_else(|| of_role(role, "secret"));
                match (c, s) {
                    (Some(c), Some(s)) => Ok((Some(c), Some(s))),
                    _ => Err("client authentication needs `role`, or `client` and `secret`".into()),
                }
            }
            Auth::None { role, client } => match client.clone().or_else(|| of_role(role, "id")) {
                Some(c) => Ok((Some(c), None)),
                None => Err("`type: none` needs `role` or `client`".into()),
            },
            Auth::Bearer { .. } => Ok((None, None)),
        }
    }

    /// The role named, if any.
    pub fn role(&self) -> Option<&str> {
        match self {
            Auth::Basic { role, .. } | Auth::Post { role, .. } | Auth::None { role, .. } => {
                role.as_deref()
            }
            Auth::Bearer { .. } => None,
        }
    }
}

/// A poll loop (RFC 8628 §3.5): repeat while the answer is `authorization_pending` or
/// `slow_down`, waiting `interval` (plus 5 s per `slow_down`), until `expires_in`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Poll {
    /// The token request to repeat.
    pub request: Request,
    /// Seconds between polls; 5 when not given (RFC 8628 §3.2, CLIENT-2).
    pub interval: Option<String>,
    /// Stop after this many seconds (CLIENT-5).
    pub expires_in: Option<String>,
    /// The user code to approve or deny during the loop.
    pub user_code: Option<String>,
    /// Approve `user_code` after this many pending answers.
    pub approve_after: Option<u32>,
    /// Deny `user_code` after this many pending answers.
    pub deny_after: Option<u32>,
    /// Send the first poll this many seconds early each time (to provoke `slow_down`;
    /// a well-behaved client never does this).
    #[serde(default)]
    pub early_by: u64,
    /// Stop after this many polls at most.
    #[serde(default = "max_polls")]
    pub max_polls: u32,
}

fn max_polls() -> u32 {
    100
}

/// A user code to approve or deny.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCode {
    /// The user code.
    pub user_code: String,
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
    pub seconds: String,
}

/// Revoke a connected app.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeApp {
    /// The app's client id.
    pub client: String,
    /// The user; the target's default when absent.
    pub user: Option<String>,
}

/// Where a captured or asserted value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Query {
    /// The HTTP status.
    Status,
    /// A header (case-insensitive name).
    Header(String),
    /// A JSONPath (RFC 9535) into the JSON body.
    Json(String),
    /// A query parameter of the `Location` redirect (or of its fragment).
    Redirect(String),
    /// The `Location` without its query and fragment.
    Location,
    /// The body as text.
    Body,
    /// The first group (or the whole match) of a regular expression on the body: form
    /// values in HTML, such as an anti-CSRF token.
    Regex(String),
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::Status => write!(f, "status"),
            Query::Header(h) => write!(f, "header {h}"),
            Query::Json(p) => write!(f, "json {p}"),
            Query::Redirect(p) => write!(f, "redirect {p}"),
            Query::Location => write!(f, "location"),
            Query::Body => write!(f, "body"),
            Query::Regex(r) => write!(f, "regex /{r}/"),
        }
    }
}

/// One capture: `name: {json: $.x}`, with what to do when the value is absent.
#[derive(Debug, Clone)]
pub struct CaptureEntry {
    /// The variable.
    pub name: String,
    /// Where from.
    pub query: Query,
    /// The value to use when the response lacks it (a default the RFC gives, such as
    /// RFC 8628 §3.2's `interval` of 5).
    pub default: Option<serde_yaml::Value>,
    /// Why the value may be absent (the contract does not promise it): the steps that
    /// need it are then SKIPPED with this reason, never ERROR.
    pub optional: Option<String>,
}

/// One assertion: a query and one or more predicates.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Assertion {
    /// `status: 200` or `status: [400, 401]` (shorthand for equals / one_of).
    #[schemars(with = "Option<serde_json::Value>")]
    pub status: Option<serde_yaml::Value>,
    /// A header.
    pub header: Option<String>,
    /// A JSONPath.
    pub json: Option<String>,
    /// A redirect query parameter.
    pub redirect: Option<String>,
    /// `location: true`: the redirect target.
    pub location: Option<bool>,
    /// `body: true`: the body text.
    pub body: Option<bool>,
    /// Equal to (JSON comparison; numbers as numbers).
    #[schemars(with = "Option<serde_json::Value>")]
    pub equals: Option<serde_yaml::Value>,
    /// Not equal to.
    #[schemars(with = "Option<serde_json::Value>")]
    pub not_equals: Option<serde_yaml::Value>,
    /// Present (`true`) or absent (`false`).
    pub exists: Option<bool>,
    /// Absent (`true`).
    pub absent: Option<bool>,
    /// Matches a regular expression.
    pub matches: Option<String>,
    /// Contains a substring (strings) or an element (arrays).
    #[schemars(with = "Option<serde_json::Value>")]
    pub contains: Option<serde_yaml::Value>,
    /// Does not contain a substring or an element (an absent value contains nothing).
    #[schemars(with = "Option<serde_json::Value>")]
    pub not_contains: Option<serde_yaml::Value>,
    /// Equal to one of.
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub one_of: Option<Vec<serde_yaml::Value>>,
    /// JSON type: string, integer, number, boolean, array, object, null.
    #[serde(rename = "type")]
    pub type_: Option<JsonType>,
    /// A number greater than.
    pub greater_than: Option<f64>,
    /// A number less than.
    pub less_than: Option<f64>,
    /// Length of a string or array.
    pub length: Option<u64>,
    /// A scope string equal to this one as a set (RFC 6749 §3.3: space-delimited, order
    /// does not matter).
    pub scope_equals: Option<String>,
    /// A scope string without this scope token (an absent value lacks it too).
    pub scope_lacks: Option<String>,
    /// Holds when every assertion of one of these groups holds: the outcomes a row
    /// accepts, as alternatives (`[[{status: 405}], [{status: 400}, {json: $.error,
    /// equals: invalid_request}]]`). No query or predicate of its own.
    #[schemars(with = "Option<Vec<Vec<serde_json::Value>>>")]
    pub any_of: Option<Vec<Vec<Assertion>>>,
    /// Judge only when this holds (an alternative the row accepts: the error code is
    /// asserted when the status says the request was refused).
    #[serde(rename = "if")]
    pub if_: Option<Condition>,
    /// The requirement this assertion checks (defaults to the step's / scenario's).
    pub requirement: Option<String>,
    /// The cited row's level (conformance matrix §0): `must` (default; a violation
    /// FAILS), `should` (a WARNING) or `may` (INFO: an optional capability is absent).
    #[serde(default)]
    pub level: Level,
}

/// JSON value types for the `type` predicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JsonType {
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Object,
    Null,
}

/// How much a violated assertion weighs (conformance matrix §0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// MUST: FAILED.
    #[default]
    Must,
    /// SHOULD: WARNING.
    Should,
    /// MAY: INFO.
    May,
}

impl Level {
    /// The level of a matrix row (`MUST NOT` is `must`, `SHOULD NOT` is `should`).
    pub fn of_row(level: &str) -> Option<Level> {
        match level {
            "MUST" | "MUST NOT" => Some(Level::Must),
            "SHOULD" | "SHOULD NOT" => Some(Level::Should),
            "MAY" => Some(Level::May),
            _ => None,
        }
    }
}

/// Name/value pairs in order: a mapping, or a list of one-entry mappings or `[name, value]`
/// pairs (so that a name can repeat, to test duplicate-parameter rules).
#[derive(Debug, Clone, Default)]
pub struct Pairs(pub Vec<(String, String)>);

fn scalar_text<E: de::Error>(v: serde_yaml::Value) -> Result<String, E> {
    match v {
        serde_yaml::Value::String(s) => Ok(s),
        serde_yaml::Value::Number(n) => Ok(n.to_string()),
        serde_yaml::Value::Bool(b) => Ok(b.to_string()),
        serde_yaml::Value::Null => Ok(String::new()),
        _ => Err(E::custom("expected a string, number or boolean")),
    }
}

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pairs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of names to values, or a list of [name, value] pairs")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Pairs, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, serde_yaml::Value>()? {
                    out.push((k, scalar_text(v)?));
                }
                Ok(Pairs(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Pairs, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = s.next_element::<serde_yaml::Value>()? {
                    match item {
                        serde_yaml::Value::Sequence(pair) if pair.len() == 2 => {
                            let mut it = pair.into_iter();
                            let k = scalar_text(it.next().unwrap_or_default())?;
                            let v = scalar_text(it.next().unwrap_or_default())?;
                            out.push((k, v));
                        }
                        serde_yaml::Value::Mapping(m) if m.len() == 1 => {
                            for (k, v) in m {
                                out.push((scalar_text(k)?, scalar_text(v)?));
                            }
                        }
                        _ => {
                            return Err(de::Error::custom(
                                "each item must be [name, value] or {name: value}",
                            ))
                        }
                    }
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for CaptureEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Spec {
            json: Option<String>,
            header: Option<String>,
            redirect: Option<String>,
            status: Option<bool>,
            location: Option<bool>,
            body: Option<bool>,
            regex: Option<String>,
            default: Option<serde_yaml::Value>,
            optional: Option<String>,
        }
        let m = serde_yaml::Mapping::deserialize(d)?;
        if m.len() != 1 {
            return Err(de::Error::custom(
                "a capture is one `name: {json|header|redirect|status|location|body: …}`",
            ));
        }
        let (k, v) = m
            .into_iter()
            .next()
            .ok_or_else(|| de::Error::custom("empty capture"))?;
        let name = scalar_text(k)?;
        let spec: Spec = serde_yaml::from_value(v).map_err(de::Error::custom)?;
        let mut queries = Vec::new();
        if let Some(p) = spec.json {
            queries.push(Query::Json(p));
        }
        if let Some(h) = spec.header {
            queries.push(Query::Header(h));
        }
        if let Some(r) = spec.redirect {
            queries.push(Query::Redirect(r));
        }
        if spec.status == Some(true) {
            queries.push(Query::Status);
        }
        if spec.location == Some(true) {
            queries.push(Query::Location);
        }
        if spec.body == Some(true) {
            queries.push(Query::Body);
        }
        if let Some(r) = spec.regex {
            queries.push(Query::Regex(r));
        }
        if queries.len() != 1 {
            return Err(de::Error::custom(format!(
                "capture `{name}` needs exactly one source"
            )));
        }
        if spec.default.is_some() && spec.optional.is_some() {
            return Err(de::Error::custom(format!(
                "capture `{name}`: `default` and `optional` exclude each other"
            )));
        }
        Ok(CaptureEntry {
            name,
            query: queries.remove(0),
            default: spec.default,
            optional: spec.optional,
        })
    }
}

impl Assertion {
    /// Whether the assertion judges the status (itself, or in one of its alternatives).
    pub fn judges_status(&self) -> bool {
        self.status.is_some()
            || self
                .any_of
                .iter()
                .flatten()
                .flatten()
                .any(Assertion::judges_status)
    }

    /// The one query of this assertion, or why not.
    pub fn query(&self) -> Result<Query, String> {
        let mut q = Vec::new();
        if self.status.is_some() {
            q.push(Query::Status);
        }
        if let Some(h) = &self.header {
            q.push(Query::Header(h.clone()));
        }
        if let Some(p) = &self.json {
            q.push(Query::Json(p.clone()));
        }
        if let Some(r) = &self.redirect {
            q.push(Query::Redirect(r.clone()));
        }
        if self.location == Some(true) {
            q.push(Query::Location);
        }
        if self.body == Some(true) {
            q.push(Query::Body);
        }
        match q.len() {
            1 => Ok(q.remove(0)),
            0 if self.any_of.is_some() => {
                Err("`any_of` alternatives have their own queries".into())
            }
            0 => Err(
                "an assertion needs one of status, header, json, redirect, location, body, any_of"
                    .into(),
            ),
            _ => Err(
                "an assertion has exactly one of status, header, json, redirect, location, body"
                    .into(),
            ),
        }
    }
}

impl Capability {
    /// The name scenario files use (`refuse_consent`).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Every capability (the builtin has them all).
    pub const ALL: [Capability; 11] = [
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
    ];
}

impl Scenario {
    /// The capabilities the scenario needs: those it declares and those its steps imply
    /// (moving the clock, acting as the user), so that a target without them SKIPS the
    /// scenario even when `requires` forgot one.
    pub fn needs(&self) -> Vec<Capability> {
        let mut out = self.requires.clone();
        for st in &self.steps {
            let poll = st.poll.as_ref();
            let implied = [
                (st.advance_clock.is_some(), Capability::Clock),
                (st.approve.is_some(), Capability::Approve),
                (st.deny.is_some(), Capability::Deny),
                (
                    poll.is_some_and(|p| p.approve_after.is_some()),
                    Capability::Approve,
                ),
                (
                    poll.is_some_and(|p| p.deny_after.is_some()),
                    Capability::Deny,
                ),
                (st.consent.is_some(), Capability::Consent),
                (
                    st.consent
                        .as_ref()
                        .is_some_and(|c| c.decision == Decision::Deny),
                    Capability::RefuseConsent,
                ),
                (st.revoke_app.is_some(), Capability::RevokeApp),
            ];
            for (yes, c) in implied {
                if yes && !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        out
    }
}

impl Scenario {
    /// Every request the scenario sends: its steps' and its polls'.
    pub fn requests(&self) -> impl Iterator<Item = &Request> {
        self.steps.iter().flat_map(|st| {
            st.request
                .iter()
                .chain(st.poll.as_ref().map(|p| &p.request))
        })
    }

    /// The `${secret.NAME}` names the scenario uses anywhere.
    pub fn secrets_needed(source: &str) -> Vec<String> {
        let mut out: Vec<String> = crate::scenario::vars::references(source)
            .into_iter()
            .filter_map(|(e, _)| e.strip_prefix("secret.").map(str::to_string))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

impl Step {
    /// The action's name, or an error if there is not exactly one.
    pub fn action(&self) -> Result<&'static str, String> {
        let actions = [
            ("request", self.request.is_some()),
            ("poll", self.poll.is_some()),
            ("approve", self.approve.is_some()),
            ("deny", self.deny.is_some()),
            ("consent", self.consent.is_some()),
            ("advance_clock", self.advance_clock.is_some()),
            ("revoke_app", self.revoke_app.is_some()),
        ];
        let present: Vec<&'static str> = actions
            .iter()
            .filter(|(_, p)| *p)
            .map(|(n, _)| *n)
            .collect();
        match present.as_slice() {
            [one] => Ok(one),
            [] => Err("a step needs one action: request, poll, approve, deny, consent, advance_clock or revoke_app".into()),
            many => Err(format!("a step has exactly one action, this one has {}", many.join(", "))),
        }
    }
}

impl JsonSchema for Pairs {
    fn schema_name() -> Cow<'static, str> {
        "Pairs".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let scalar = serde_json::json!({"type": ["string", "number", "boolean", "null"]});
        schemars::json_schema!({
            "description": "Name/value pairs: a mapping, or a list of {name: value} items or [name, value] pairs (to repeat a name).",
            "oneOf": [
                {"type": "object", "additionalProperties": scalar},
                {"type": "array", "items": {"oneOf": [
                    {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": scalar},
                    {"type": "array", "minItems": 2, "maxItems": 2, "items": scalar}
                ]}}
            ]
        })
    }
}

impl JsonSchema for CaptureEntry {
    fn schema_name() -> Cow<'static, str> {
        "CaptureEntry".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "One capture: `name: {json: PATH}` (or header, redirect, status, location, body, regex).",
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "additionalProperties": {
                "type": "object",
                "additionalProperties": false,
                "minProperties": 1,
                "maxProperties": 2,
                "properties": {
                    "json": {"type": "string", "description": "JSONPath (RFC 9535)"},
                    "header": {"type": "string"},
                    "redirect": {"type": "string", "description": "a parameter of the Location redirect"},
                    "status": {"const": true},
                    "location": {"const": true},
                    "body": {"const": true},
                    "regex": {"type": "string", "description": "first group of a regex on the body"},
                    "default": {"description": "the value when the response lacks it"},
                    "optional": {"type": "string", "description": "why the value may be absent: steps that need it are then SKIPPED with this reason"}
                }
            }
        })
    }
}

/// The JSON Schema of scenario files (`oauth-harness schema`, `scenarios/scenario.schema.json`).
pub fn schema() -> String {
    let s = schemars::schema_for!(Scenario);
    serde_json::to_string_pretty(&s).unwrap_or_default() + "\n"
}
