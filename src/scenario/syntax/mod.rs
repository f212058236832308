//! What a scenario file says, as serde reads it: structs of optional fields that mirror
//! the YAML (unknown fields refused), and the JSON Schema editors check files against.
//! [`lower`] turns a document into the typed [`model`](super::model) — one action per
//! step, one body per request, one query and its predicates per assertion — and every
//! rule it enforces is reported at the node that breaks it.

mod lower;

pub use lower::{lower, Broken};

use super::model::{
    AdvanceClock, Auth, Capability, CaptureEntry, Condition, Consent, DpopProof, JsonType, Level,
    Pairs, Query, RawBody, RevokeApp, Sleep, SnapshotSpec, UserCode,
};
use super::template::{Template, Tree};
use schemars::JsonSchema;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// One scenario file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    rename = "Scenario",
    expecting = "a scenario: a mapping with `name` and `steps`"
)]
pub struct ScenarioDoc {
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
    pub steps: Vec<StepDoc>,
    /// How many times the whole scenario runs, each round from scratch (a fresh artefact
    /// to race for); the first round that does not hold ends it. A scenario with a `race`
    /// step defaults to the target's `race.rounds`, else 5.
    pub rounds: Option<u32>,
    /// Every step is a probe of its own (a fresh request that builds on nothing an
    /// earlier step did): each is judged even after an earlier one that the server
    /// accepted did not hold. The same as `stands_alone: true` on every step.
    #[serde(default)]
    pub independent_steps: bool,
    /// Placeholders for this scenario's snapshots, on top of the defaults for the RFC
    /// fields: JSONPath into the body → placeholder (`$.items[*].id: "[item id]"`).
    #[serde(default)]
    pub snapshot_redact: BTreeMap<String, String>,
}

/// One step: exactly one action, then captures and expectations.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "Step")]
pub struct StepDoc {
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
    pub request: Option<RequestDoc>,
    /// Repeat a request as RFC 8628 §3.5 demands.
    pub poll: Option<PollDoc>,
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
    /// Wait a while of the target's time (its clock moves if it can; else real time).
    pub sleep: Option<Sleep>,
    /// Send one request N times at once, each on its own connection.
    pub race: Option<RaceDoc>,
    /// Send one request per member of a list, in turn.
    pub each: Option<EachDoc>,
    /// Perform the action this many times; captures and expectations apply to the last.
    #[serde(default = "one")]
    pub repeat: u32,
    /// The step is judged even after an earlier step that changed the server's state did
    /// not hold (it builds on nothing that step did: a fresh request of its own).
    #[serde(default)]
    pub stands_alone: bool,
    /// Values to keep from the response.
    #[serde(default)]
    pub capture: Vec<CaptureEntry>,
    /// Assertions on the response.
    #[serde(default)]
    pub expect: Vec<AssertionDoc>,
    /// Keep the normalized response as a snapshot under this name and compare it with the
    /// stored one (`--snapshots`).
    pub snapshot: Option<SnapshotSpec>,
}

fn one() -> u32 {
    1
}

fn post() -> String {
    "POST".into()
}

fn max_polls() -> u32 {
    100
}

/// N identical requests released together after all their connections are open: the
/// step's response is a summary of the answers (`n`, `ok`, `refused`, `statuses`,
/// `errors`, `winner`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "Race")]
pub struct RaceDoc {
    /// The request.
    pub request: RequestDoc,
    /// How many at once (default: the target's `race.n`, else 16).
    pub n: Option<u32>,
}

/// One request per member of a list, sent in turn with the member bound to a variable:
/// the step's response is the same summary a race gives (`n`, `ok`, `refused`,
/// `statuses`, `errors`, `winner`, `refresh_tokens`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "Each")]
pub struct EachDoc {
    /// The list: `${name}` of a variable that holds a JSON array (a race's
    /// `refresh_tokens`), or a list written out.
    #[serde(rename = "in")]
    pub over: Tree,
    /// The variable each member is bound to, for the request.
    #[serde(rename = "as")]
    pub bind: String,
    /// Last member first (a race's `refresh_tokens` are in the order the answers arrived:
    /// reversed, the newest first).
    #[serde(default)]
    pub reverse: bool,
    /// Stop after the first 2xx answer.
    #[serde(default)]
    pub until_ok: bool,
    /// The request.
    pub request: RequestDoc,
}

/// An HTTP request.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "Request")]
pub struct RequestDoc {
    /// Method; `POST` unless given.
    #[serde(default = "post")]
    pub method: String,
    /// An endpoint name resolved through the target (`token`, `device_authorization`,
    /// `authorization`, `revocation`, `introspection`, `registration`, `metadata`,
    /// `verification`, `resource:NAME`, `api:/PATH`).
    pub endpoint: Option<String>,
    /// A literal path (or absolute URL) instead of an endpoint name.
    pub path: Option<Template>,
    /// Query parameters (a mapping, or a list of pairs to repeat a name).
    #[serde(default)]
    pub query: Pairs,
    /// Headers.
    #[serde(default)]
    pub headers: Pairs,
    /// A form-encoded body.
    pub form: Option<Pairs>,
    /// A JSON body.
    pub json: Option<Tree>,
    /// A body sent as it is, with its content type.
    pub raw: Option<RawBody>,
    /// Parameters encoded as the target prefers: form for RFC servers, JSON for Noorle's
    /// (the profile's `encoding`; the builtin takes JSON).
    pub body: Option<Pairs>,
    /// Client authentication or a bearer token.
    pub auth: Option<Auth>,
    /// A DPoP proof (RFC 9449) to send with the request: `{key: J}` signs one for it.
    pub dpop: Option<DpopProof>,
    /// Follow redirects (default: no; an authorization response is a redirect to inspect).
    #[serde(default)]
    pub follow_redirects: bool,
}

/// A poll loop (RFC 8628 §3.5): repeat while the answer is `authorization_pending` or
/// `slow_down`, waiting `interval` (plus 5 s per `slow_down`), until `expires_in`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "Poll")]
pub struct PollDoc {
    /// The token request to repeat.
    pub request: RequestDoc,
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
    /// Send the first poll this many seconds early each time (to provoke `slow_down`;
    /// a well-behaved client never does this).
    #[serde(default)]
    pub early_by: u64,
    /// Stop after this many polls at most.
    #[serde(default = "max_polls")]
    pub max_polls: u32,
}

/// One assertion: a query and one or more predicates.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "Assertion")]
pub struct AssertionDoc {
    /// `status: 200` or `status: [400, 401]` (shorthand for equals / one_of).
    pub status: Option<Tree>,
    /// A header.
    pub header: Option<String>,
    /// A JSONPath.
    pub json: Option<String>,
    /// A redirect query parameter.
    pub redirect: Option<String>,
    /// Every value of a redirect parameter, in order, as an array (`length: 1`: exactly one).
    pub redirect_all: Option<String>,
    /// `location: true`: the redirect target.
    pub location: Option<bool>,
    /// `body: true`: the body text.
    pub body: Option<bool>,
    /// Equal to (JSON comparison; numbers as numbers).
    pub equals: Option<Tree>,
    /// Not equal to.
    pub not_equals: Option<Tree>,
    /// Present (`true`) or absent (`false`).
    pub exists: Option<bool>,
    /// Absent (`true`).
    pub absent: Option<bool>,
    /// Matches a regular expression.
    pub matches: Option<Template>,
    /// Contains a substring (strings) or an element (arrays).
    pub contains: Option<Tree>,
    /// Does not contain a substring or an element (an absent value contains nothing).
    pub not_contains: Option<Tree>,
    /// Equal to one of.
    pub one_of: Option<Vec<Tree>>,
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
    pub scope_equals: Option<Template>,
    /// A scope string without this scope token (an absent value lacks it too).
    pub scope_lacks: Option<Template>,
    /// Holds when every assertion of one of these groups holds: the outcomes a row
    /// accepts, as alternatives (`[[{status: 405}], [{status: 400}, {json: $.error,
    /// equals: invalid_request}]]`). No query or predicate of its own.
    #[schemars(with = "Option<Vec<Vec<serde_json::Value>>>")]
    pub any_of: Option<Vec<Vec<AssertionDoc>>>,
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

fn scalar_text<E: de::Error>(v: serde_yaml::Value) -> Result<Template, E> {
    let text = match v {
        serde_yaml::Value::String(s) => s,
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Null => String::new(),
        _ => return Err(E::custom("expected a string, number or boolean")),
    };
    Template::parse(&text).map_err(|e| E::custom(format!("`{text}`: {e}")))
}

/// One name and its value, a value that does not parse told under its name.
fn pair<E: de::Error>(
    k: serde_yaml::Value,
    v: serde_yaml::Value,
) -> Result<(Template, Template), E> {
    let k: Template = scalar_text(k)?;
    let v = scalar_text::<E>(v).map_err(|e| E::custom(format!("{k}: {e}")))?;
    Ok((k, v))
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
                while let Some((k, v)) = m.next_entry::<serde_yaml::Value, serde_yaml::Value>()? {
                    out.push(pair(k, v)?);
                }
                Ok(Pairs(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Pairs, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = s.next_element::<serde_yaml::Value>()? {
                    match item {
                        serde_yaml::Value::Sequence(pair) if pair.len() == 2 => {
                            let mut it = pair.into_iter();
                            let (k, v) = (it.next(), it.next());
                            out.push(self::pair(k.unwrap_or_default(), v.unwrap_or_default())?);
                        }
                        serde_yaml::Value::Mapping(m) if m.len() == 1 => {
                            for (k, v) in m {
                                out.push(self::pair(k, v)?);
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
            default: Option<Tree>,
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
            name: name.to_string(),
            query: queries.remove(0),
            default: spec.default,
            optional: spec.optional,
        })
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
    let s = schemars::schema_for!(ScenarioDoc);
    serde_json::to_string_pretty(&s).unwrap_or_default() + "\n"
}
