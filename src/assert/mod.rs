//! Evaluating queries and predicates against a response. Pure functions: an
//! [`Exchange`] and an assertion in, values and verdicts out.

pub mod predicate;

use crate::scenario::model::{JsonType, Query};
use serde_json::Value;

/// A response as the harness saw it.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// Status code.
    pub status: u16,
    /// Headers in order (names lower-cased).
    pub headers: Vec<(String, String)>,
    /// Body as text.
    pub body: String,
    /// Body as JSON, when it parses.
    pub json: Option<Value>,
}

impl Exchange {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A header's field value: its field lines joined with `, ` (RFC 9110 §5.3: "the field
/// value" of repeated lines; two `WWW-Authenticate` challenges read as one list), except
/// `Set-Cookie`'s first line (§5.3's exception).
fn header_value(ex: &Exchange, name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    if lower == "set-cookie" {
        return ex.header(name).map(str::to_string);
    }
    let lines: Vec<&str> = ex
        .headers
        .iter()
        .filter(|(k, _)| *k == lower)
        .map(|(_, v)| v.as_str())
        .collect();
    (!lines.is_empty()).then(|| lines.join(", "))
}

/// The value a query selects, `None` when absent.
pub(crate) fn select(q: &Query, ex: &Exchange) -> Result<Option<Value>, String> {
    Ok(match q {
        Query::Status => Some(Value::from(ex.status)),
        Query::Header(h) => header_value(ex, h).map(Value::String),
        Query::Body => Some(Value::String(ex.body.clone())),
        Query::Json(path) => {
            let Some(json) = &ex.json else {
                return Err(format!(
                    "the response body is not JSON (content-type {})",
                    ex.header("content-type").unwrap_or("none")
                ));
            };
            let p = serde_json_path::JsonPath::parse(path)
                .map_err(|e| format!("invalid JSONPath: {e}"))?;
            let found: Vec<&Value> = p.query(json).all();
            match found.len() {
                0 => None,
                1 => Some(found[0].clone()),
                _ => Some(Value::Array(found.into_iter().cloned().collect())),
            }
        }
        Query::Redirect(param) => {
            let Some(loc) = ex.header("location") else {
                return Ok(None);
            };
            let url = url::Url::parse(loc)
                .map_err(|e| format!("Location `{loc}` is not an absolute URL: {e}"))?;
            let in_query = url
                .query_pairs()
                .find(|(k, _)| k == param)
                .map(|(_, v)| v.into_owned());
            let in_fragment = || {
                url.fragment().and_then(|f| {
                    url::form_urlencoded::parse(f.as_bytes())
                        .find(|(k, _)| k == param)
                        .map(|(_, v)| v.into_owned())
                })
            };
            in_query.or_else(in_fragment).map(Value::String)
        }
        Query::RedirectAll(param) => {
            let Some(loc) = ex.header("location") else {
                return Ok(None);
            };
            let url = url::Url::parse(loc)
                .map_err(|e| format!("Location `{loc}` is not an absolute URL: {e}"))?;
            let fragment = url.fragment().unwrap_or_default().as_bytes();
            let all: Vec<Value> = url
                .query_pairs()
                .chain(url::form_urlencoded::parse(fragment))
                .filter(|(k, _)| k == param)
                .map(|(_, v)| Value::String(v.into_owned()))
                .collect();
            Some(Value::Array(all))
        }
        Query::Regex(pattern) => {
            let re = regex::Regex::new(pattern)
                .map_err(|e| format!("invalid regular expression: {e}"))?;
            re.captures(&ex.body)
                .and_then(|c| c.get(1).or_else(|| c.get(0)))
                .map(|m| Value::String(m.as_str().to_string()))
        }
        Query::Location => ex.header("location").map(|loc| {
            let base = loc.split(['?', '#']).next().unwrap_or(loc);
            Value::String(base.to_string())
        }),
    })
}

/// JSON equality where numbers compare by value, and a number equals its decimal text
/// (a status `200` equals `"200"` from a variable).
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            s.parse::<f64>().ok() == n.as_f64()
        }
        _ => a == b,
    }
}

/// Whether `actual` contains `needle`: a substring of a string, or an element of an array.
/// Nothing contains anything when absent.
pub fn contains(actual: Option<&Value>, needle: &Value) -> bool {
    match (actual, needle) {
        (Some(Value::String(s)), Value::String(sub)) => s.contains(sub.as_str()),
        (Some(Value::Array(items)), needle) => items.iter().any(|i| equal(i, needle)),
        _ => false,
    }
}

/// Whether `v` has JSON type `t`.
pub(crate) fn has_type(v: &Value, t: JsonType) -> bool {
    match t {
        JsonType::String => v.is_string(),
        JsonType::Integer => v.is_i64() || v.is_u64(),
        JsonType::Number => v.is_number(),
        JsonType::Boolean => v.is_boolean(),
        JsonType::Array => v.is_array(),
        JsonType::Object => v.is_object(),
        JsonType::Null => v.is_null(),
    }
}

/// A value for messages: strings quoted, absent as `<absent>`.
pub fn show(v: Option<&Value>) -> String {
    match v {
        None => "<absent>".into(),
        Some(v) => {
            let s = v.to_string();
            if s.len() > 200 {
                format!(
                    "{}…",
                    &s[..s
                        .char_indices()
                        .take_while(|(i, _)| *i < 200)
                        .last()
                        .map(|(i, c)| i + c.len_utf8())
                        .unwrap_or(0)]
                )
            } else {
                s
            }
        }
    }
}

/// Numeric view of a value (numbers, and strings that hold one).
pub fn number(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// Length of a string (characters) or array.
pub fn length(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => Some(s.chars().count() as u64),
        Value::Array(a) => Some(a.len() as u64),
        Value::Object(o) => Some(o.len() as u64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ex() -> Exchange {
        Exchange {
            status: 302,
            headers: vec![
                (
                    "location".into(),
                    "https://r.example/cb?tenant=7&code=abc&state=a+b#x=1".into(),
                ),
                ("content-type".into(), "application/json".into()),
            ],
            body: r#"{"a":{"b":[1,2]},"s":"x"}"#.into(),
            json: Some(json!({"a":{"b":[1,2]},"s":"x"})),
        }
    }

    #[test]
    fn queries_select_values() {
        let e = ex();
        assert_eq!(select(&Query::Status, &e), Ok(Some(json!(302))));
        assert_eq!(
            select(&Query::Header("Content-Type".into()), &e),
            Ok(Some(json!("application/json")))
        );
        assert_eq!(
            select(&Query::Json("$.a.b[1]".into()), &e),
            Ok(Some(json!(2)))
        );
        assert_eq!(
            select(&Query::Json("$.a.b[*]".into()), &e),
            Ok(Some(json!([1, 2])))
        );
        assert_eq!(select(&Query::Json("$.nope".into()), &e), Ok(None));
        assert_eq!(
            select(&Query::Redirect("state".into()), &e),
            Ok(Some(json!("a b")))
        );
        assert_eq!(
            select(&Query::Redirect("x".into()), &e),
            Ok(Some(json!("1"))),
            "fragment parameters too"
        );
        assert_eq!(
            select(&Query::Location, &e),
            Ok(Some(json!("https://r.example/cb")))
        );
        let mut not_json = e.clone();
        not_json.json = None;
        assert!(select(&Query::Json("$.a".into()), &not_json).is_err());
    }

    #[test]
    fn equality_types_and_lengths() {
        assert!(equal(&json!(200), &json!(200.0)));
        assert!(equal(&json!(5), &json!("5")));
        assert!(!equal(&json!("a"), &json!("b")));
        assert!(
            has_type(&json!(3), JsonType::Integer) && !has_type(&json!(3.5), JsonType::Integer)
        );
        assert_eq!(length(&json!("héllo")), Some(5));
        assert_eq!(show(None), "<absent>");
        assert!(contains(Some(&json!("api read")), &json!("read")));
        assert!(contains(Some(&json!(["a", 2])), &json!(2)));
        assert!(!contains(Some(&json!("api")), &json!("admin")));
        assert!(!contains(None, &json!("x")));
    }
}
