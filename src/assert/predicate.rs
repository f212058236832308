//! Predicates: what must hold of a value a query selected. One exhaustive `match` names
//! each, and each is a small function of the actual value and the expected one (with its
//! variables interpolated).

use super::{contains, equal, has_type, length, number};
use crate::scenario::model::{JsonType, Predicate};
use crate::scenario::vars::{VarError, Vars};
use serde_json::Value;
use std::collections::BTreeSet;

/// What a predicate said of a value: its words (`one of`), the expected value as shown
/// (empty for `exists`), and whether it held.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The predicate in words.
    pub words: &'static str,
    /// The expected value, as shown in reports.
    pub expected: String,
    /// Whether it held.
    pub held: bool,
}

impl Checked {
    fn new(words: &'static str, expected: impl Into<String>, held: bool) -> Self {
        Checked {
            words,
            expected: expected.into(),
            held,
        }
    }

    /// `equals 200`, or the words alone when nothing is expected.
    pub fn text(&self) -> String {
        if self.expected.is_empty() {
            self.words.to_string()
        } else {
            format!("{} {}", self.words, self.expected)
        }
    }
}

/// Judges `actual` (absent: `None`) by `p`; an error when an expected value cannot be
/// made (a variable an earlier step could not give, a bad regular expression).
pub fn check(p: &Predicate, actual: Option<&Value>, vars: &mut Vars) -> Result<Checked, VarError> {
    Ok(match p {
        Predicate::Equals(v) => equals(actual, vars.json(v)?),
        Predicate::NotEquals(v) => not_equals(actual, vars.json(v)?),
        Predicate::Exists(e) => exists(actual, *e),
        Predicate::Matches(re) => matches(actual, &vars.text(re)?)?,
        Predicate::Contains(v) => contains_value(actual, vars.json(v)?),
        Predicate::NotContains(v) => lacks_value(actual, vars.json(v)?),
        Predicate::OneOf(list) => {
            let vals = list
                .iter()
                .map(|v| vars.json(v))
                .collect::<Result<Vec<_>, _>>()?;
            one_of(actual, vals)
        }
        Predicate::Type(t) => of_type(actual, *t),
        Predicate::GreaterThan(n) => compare(actual, "greater than", *n, |x, n| x > n),
        Predicate::LessThan(n) => compare(actual, "less than", *n, |x, n| x < n),
        Predicate::Length(n) => Checked::new(
            "has length",
            n.to_string(),
            actual.and_then(length) == Some(*n),
        ),
        Predicate::ScopeEquals(s) => scope_equals(actual, &vars.text(s)?),
        Predicate::ScopeLacks(s) => scope_lacks(actual, &vars.text(s)?),
    })
}

fn equals(actual: Option<&Value>, want: Value) -> Checked {
    let held = actual.is_some_and(|x| equal(x, &want));
    Checked::new("equals", want.to_string(), held)
}

fn not_equals(actual: Option<&Value>, other: Value) -> Checked {
    let held = !actual.is_some_and(|x| equal(x, &other));
    Checked::new("not equals", other.to_string(), held)
}

fn exists(actual: Option<&Value>, want: bool) -> Checked {
    let words = if want { "exists" } else { "is absent" };
    Checked::new(words, "", actual.is_some() == want)
}

fn matches(actual: Option<&Value>, pattern: &str) -> Result<Checked, VarError> {
    let rx = regex::Regex::new(pattern).map_err(|e| VarError::Function(e.to_string()))?;
    let held = actual.is_some_and(|x| rx.is_match(&as_text(x)));
    Ok(Checked::new("matches", format!("/{}/", rx.as_str()), held))
}

fn contains_value(actual: Option<&Value>, needle: Value) -> Checked {
    let held = contains(actual, &needle);
    Checked::new("contains", needle.to_string(), held)
}

fn lacks_value(actual: Option<&Value>, needle: Value) -> Checked {
    let held = !contains(actual, &needle);
    Checked::new("does not contain", needle.to_string(), held)
}

fn one_of(actual: Option<&Value>, vals: Vec<Value>) -> Checked {
    let held = actual.is_some_and(|x| vals.iter().any(|v| equal(x, v)));
    Checked::new("one of", Value::Array(vals).to_string(), held)
}

fn of_type(actual: Option<&Value>, t: JsonType) -> Checked {
    let held = actual.is_some_and(|x| has_type(x, t));
    Checked::new("has type", format!("{t:?}").to_lowercase(), held)
}

fn compare(
    actual: Option<&Value>,
    words: &'static str,
    n: f64,
    f: fn(f64, f64) -> bool,
) -> Checked {
    let held = actual.and_then(number).is_some_and(|x| f(x, n));
    Checked::new(words, n.to_string(), held)
}

/// RFC 6749 §3.3: a scope is a set of space-delimited tokens; order does not matter.
fn scope(v: &Value) -> BTreeSet<String> {
    v.as_str()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn scope_equals(actual: Option<&Value>, want: &str) -> Checked {
    let held = actual.is_some_and(|x| scope(x) == scope(&Value::String(want.to_string())));
    Checked::new("is the scope", format!("\"{want}\""), held)
}

fn scope_lacks(actual: Option<&Value>, token: &str) -> Checked {
    let held = !actual.is_some_and(|x| scope(x).contains(token));
    Checked::new("is a scope without", format!("\"{token}\""), held)
}

fn as_text(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::template::{Template, Tree};
    use serde_json::json;

    fn y(v: serde_json::Value) -> Tree {
        Tree::from_yaml(&serde_yaml::to_value(v).unwrap_or_default()).unwrap_or(Tree::Null)
    }

    /// Each predicate holds on one value and not on another; absent values hold only
    /// for the predicates about absence.
    #[test]
    fn every_predicate_holds_and_fails() {
        let mut vars = Vars::default();
        let cases: Vec<(Predicate, Value, Value)> = vec![
            (Predicate::Equals(y(json!(200))), json!(200), json!(400)),
            (Predicate::NotEquals(y(json!("a"))), json!("b"), json!("a")),
            (
                Predicate::Matches(Template::literal("^ab+$")),
                json!("abb"),
                json!("ba"),
            ),
            (
                Predicate::Contains(y(json!("S256"))),
                json!(["S256"]),
                json!(["plain"]),
            ),
            (
                Predicate::NotContains(y(json!("x"))),
                json!("abc"),
                json!("xyz"),
            ),
            (
                Predicate::OneOf(vec![y(json!(400)), y(json!(401))]),
                json!(401),
                json!(403),
            ),
            (Predicate::Type(JsonType::Integer), json!(5), json!("5")),
            (Predicate::GreaterThan(3.0), json!(4), json!(3)),
            (Predicate::LessThan(3.0), json!(2), json!(3)),
            (Predicate::Length(2), json!([1, 2]), json!([1])),
            (
                Predicate::ScopeEquals(Template::literal("b a")),
                json!("a b"),
                json!("a"),
            ),
            (
                Predicate::ScopeLacks(Template::literal("admin")),
                json!("api"),
                json!("api admin"),
            ),
        ];
        for (p, holds, fails) in cases {
            let yes = check(&p, Some(&holds), &mut vars).map(|c| c.held);
            let no = check(&p, Some(&fails), &mut vars).map(|c| c.held);
            assert_eq!((yes, no), (Ok(true), Ok(false)), "{p:?}");
        }
        let absent = |p: Predicate| check(&p, None, &mut Vars::default()).map(|c| c.held);
        assert_eq!(absent(Predicate::Exists(false)), Ok(true));
        assert_eq!(absent(Predicate::Exists(true)), Ok(false));
        assert_eq!(
            check(&Predicate::Exists(true), Some(&json!(null)), &mut vars).map(|c| c.held),
            Ok(true)
        );
        assert_eq!(absent(Predicate::NotContains(y(json!("x")))), Ok(true));
        assert_eq!(absent(Predicate::Equals(y(json!(1)))), Ok(false));
    }
}
