//! Assertions and captures: a [`Query`] into the response and the [`Predicate`]s its
//! value must meet, or alternatives; the [`Level`] a violation weighs.

use super::Condition;
use crate::scenario::template::{Template, Tree};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

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
    /// Every value of a `Location` parameter (query, then fragment), as an array: a
    /// parameter that must appear exactly once (`iss`, RFC 9207 §2).
    RedirectAll(String),
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
            Query::RedirectAll(p) => write!(f, "every redirect {p}"),
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
    pub default: Option<Tree>,
    /// Why the value may be absent (the contract does not promise it): the steps that
    /// need it are then SKIPPED with this reason, never ERROR.
    pub optional: Option<String>,
}

/// One assertion: what it checks, when, and what a violation weighs.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// A value and its predicates, or alternatives.
    pub check: Check,
    /// Judge only when this holds (an alternative the row accepts: the error code is
    /// asserted when the status says the request was refused).
    pub if_: Option<Condition>,
    /// The requirement this assertion checks (defaults to the step's / scenario's).
    pub requirement: Option<String>,
    /// The cited row's level (conformance matrix §0).
    pub level: Level,
}

/// What an assertion checks.
#[derive(Debug, Clone)]
pub enum Check {
    /// One value of the response, and what must hold of it (all of them).
    Value {
        /// Where the value comes from.
        query: Query,
        /// What must hold, in the order the description lists them.
        predicates: Vec<Predicate>,
    },
    /// Holds when every assertion of one alternative holds: the outcomes a row accepts.
    AnyOf(Vec<Vec<Assertion>>),
}

/// What must hold of a value. Expected values may use variables (`${…}`).
#[derive(Debug, Clone)]
pub enum Predicate {
    /// Equal (JSON comparison; numbers as numbers).
    Equals(Tree),
    /// Not equal.
    NotEquals(Tree),
    /// Present (`true`) or absent (`false`).
    Exists(bool),
    /// Matches a regular expression.
    Matches(Template),
    /// Contains a substring (strings) or an element (arrays).
    Contains(Tree),
    /// Contains neither (an absent value contains nothing).
    NotContains(Tree),
    /// Equal to one of.
    OneOf(Vec<Tree>),
    /// Of this JSON type.
    Type(JsonType),
    /// A number greater than.
    GreaterThan(f64),
    /// A number less than.
    LessThan(f64),
    /// A string or array of this length.
    Length(u64),
    /// A scope string equal to this one as a set (RFC 6749 §3.3).
    ScopeEquals(Template),
    /// A scope string without this scope token.
    ScopeLacks(Template),
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

impl Predicate {
    /// The key files write it under.
    pub fn key(&self) -> &'static str {
        match self {
            Predicate::Equals(_) => "equals",
            Predicate::NotEquals(_) => "not_equals",
            Predicate::Exists(_) => "exists",
            Predicate::Matches(_) => "matches",
            Predicate::Contains(_) => "contains",
            Predicate::NotContains(_) => "not_contains",
            Predicate::OneOf(_) => "one_of",
            Predicate::Type(_) => "type",
            Predicate::GreaterThan(_) => "greater_than",
            Predicate::LessThan(_) => "less_than",
            Predicate::Length(_) => "length",
            Predicate::ScopeEquals(_) => "scope_equals",
            Predicate::ScopeLacks(_) => "scope_lacks",
        }
    }
}

impl Assertion {
    /// Whether the assertion judges the status (itself, or in one of its alternatives).
    pub fn judges_status(&self) -> bool {
        match &self.check {
            Check::Value { query, .. } => *query == Query::Status,
            Check::AnyOf(groups) => groups.iter().flatten().any(Assertion::judges_status),
        }
    }

    /// The literal status codes it names (its own, or in its alternatives).
    pub fn statuses(&self) -> Vec<u64> {
        match &self.check {
            Check::Value {
                query: Query::Status,
                predicates,
            } => predicates
                .iter()
                .flat_map(|p| match p {
                    Predicate::Equals(v) => v.as_u64().into_iter().collect::<Vec<_>>(),
                    Predicate::OneOf(list) => list.iter().filter_map(|v| v.as_u64()).collect(),
                    _ => vec![],
                })
                .collect(),
            Check::Value { .. } => vec![],
            Check::AnyOf(groups) => groups
                .iter()
                .flatten()
                .flat_map(Assertion::statuses)
                .collect(),
        }
    }

    /// The query, when the assertion has one of its own.
    /// Whether it judges what the server *did* rather than how it said it: the status, or
    /// the code or error an authorization response carries (own or in an alternative).
    /// When such an assertion fails on a response the server accepted, the server did
    /// something the scenario did not intend.
    pub fn judges_outcome(&self) -> bool {
        match &self.check {
            Check::Value { query, .. } => {
                matches!(query, Query::Status | Query::Redirect(_))
                    && !matches!(query, Query::Redirect(p) if p != "code" && p != "error")
            }
            Check::AnyOf(groups) => groups.iter().flatten().any(Assertion::judges_outcome),
        }
    }

    pub fn query(&self) -> Option<&Query> {
        match &self.check {
            Check::Value { query, .. } => Some(query),
            Check::AnyOf(_) => None,
        }
    }
}
