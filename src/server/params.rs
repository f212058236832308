//! Request parameters from either encoding the builtin accepts (matrix §15 #1):
//! `application/x-www-form-urlencoded` (RFC 6749, RFC 8628, what client libraries send)
//! and `application/json` (Noorle's documented bodies). Both keep repeats visible, because
//! a repeated parameter is an error (RFC 6749 §3.1, §3.2; DEV-8, TOK-4), and both treat an
//! empty value as omitted (DEV-7, TOK-3).

use crate::server::error::OAuthError;
use axum::http::{header, HeaderMap};
use serde::de::{Deserializer, MapAccess, Visitor};
use std::fmt;

/// The body encodings a request may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `application/json`.
    Json,
}

/// Name/value pairs in request order, empty values already dropped.
#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
    last_wins: bool,
}

impl Params {
    /// Parses a form-urlencoded string (a body or a query).
    pub fn from_form(bytes: &[u8]) -> Params {
        let pairs = url::form_urlencoded::parse(bytes)
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Params {
            pairs,
            last_wins: false,
        }
    }

    /// Parses a JSON object whose members are strings (numbers and booleans are taken
    /// as their text; `null` as omitted). Repeated keys are kept, so they can be refused.
    pub fn from_json(bytes: &[u8]) -> Result<Params, OAuthError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let pairs = de
            .deserialize_map(PairsVisitor)
            .and_then(|p| de.end().map(|_| p))
            .map_err(|e| OAuthError::invalid_request(format!("Malformed JSON body: {e}")))?;
        let mut out = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let text = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s,
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => {
                    return Err(OAuthError::invalid_request(format!(
                        "Parameter '{k}' must be a string"
                    )))
                }
            };
            if !text.is_empty() {
                out.push((k, text));
            }
        }
        Ok(Params {
            pairs: out,
            last_wins: false,
        })
    }

    /// Lets the last of repeated parameters win instead of refusing them
    /// (fault `accept-duplicate-params`).
    pub fn accept_duplicates(&mut self) {
        self.last_wins = true;
    }

    /// The first parameter name that appears more than once, unless repeats are accepted.
    pub fn duplicate(&self) -> Option<&str> {
        if self.last_wins {
            return None;
        }
        for (i, (k, _)) in self.pairs.iter().enumerate() {
            if self.pairs[..i].iter().any(|(k2, _)| k2 == k) {
                return Some(k);
            }
        }
        None
    }

    /// A parameter's value (empty values count as absent).
    pub fn get(&self, name: &str) -> Option<&str> {
        let mut it = self.pairs.iter().filter(|(k, _)| k == name);
        let found = if self.last_wins {
            it.next_back()
        } else {
            it.next()
        };
        found.map(|(_, v)| v.as_str())
    }

    /// How many times a parameter appears with a value.
    pub fn get_all(&self, name: &str) -> usize {
        self.pairs.iter().filter(|(k, _)| k == name).count()
    }

    /// Whether the parameter is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Adds pairs from another source (query credentials under a fault).
    pub fn extend(&mut self, other: Params) {
        self.pairs.extend(other.pairs);
    }

    /// Refuses a repeated parameter with `invalid_request`.
    pub fn reject_duplicates(&self) -> Result<(), OAuthError> {
        match self.duplicate() {
            Some(name) => Err(OAuthError::invalid_request(format!(
                "Parameter '{name}' was sent more than once"
            ))),
            None => Ok(()),
        }
    }
}

struct PairsVisitor;

impl<'de> Visitor<'de> for PairsVisitor {
    type Value = Vec<(String, serde_json::Value)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
            out.push((k, v));
        }
        Ok(out)
    }
}

/// Which encoding the `Content-Type` names, if one the builtin accepts.
pub fn encoding_of(headers: &HeaderMap) -> Option<Encoding> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Some(Encoding::Form)
    } else if essence.eq_ignore_ascii_case("application/json") {
        Some(Encoding::Json)
    } else {
        None
    }
}

/// Parses a body by its `Content-Type`; any other type is `invalid_request` (§15 #1).
/// `allowed` lists the encodings this server accepts (faults can narrow it).
pub fn parse_body(
    headers: &HeaderMap,
    body: &[u8],
    allowed: &[Encoding],
) -> Result<Params, OAuthError> {
    let enc = encoding_of(headers)
        .filter(|e| allowed.contains(e))
        .ok_or_else(|| {
            OAuthError::invalid_request(
                "Content-Type must be application/x-www-form-urlencoded or application/json",
            )
        })?;
    match enc {
        Encoding::Form => Ok(Params::from_form(body)),
        Encoding::Json => Params::from_json(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_keeps_repeats_and_drops_empty_values() {
        let p = Params::from_form(b"client_id=noorle-cli&scope=&foo=bar&scope=api&scope=read");
        assert_eq!(p.get("scope"), Some("api"));
        assert_eq!(p.duplicate(), Some("scope"));
        let p = Params::from_form(b"client_id=a&scope=");
        assert_eq!(p.get("scope"), None);
        assert_eq!(p.duplicate(), None);
    }

    #[test]
    fn json_keeps_repeats_and_refuses_nested_values() {
        let p = Params::from_json(br#"{"client_id":"a","client_id":"b"}"#).expect("object");
        assert_eq!(p.duplicate(), Some("client_id"));
        let e = Params::from_json(br#"{"scope":["api"]}"#).expect_err("array");
        assert_eq!(e.code, crate::oauth::ErrorCode::InvalidRequest);
        assert!(Params::from_json(b"[1]").is_err());
        assert!(Params::from_json(br#"{"a":"b"} trailing"#).is_err());
        let p = Params::from_json(br#"{"n":5,"z":null}"#).expect("object");
        assert_eq!(p.get("n"), Some("5"));
        assert!(!p.has("z"));
    }

    #[test]
    fn last_wins_under_the_fault() {
        let mut p = Params::from_form(b"a=1&a=2");
        p.accept_duplicates();
        assert_eq!(p.duplicate(), None);
        assert_eq!(p.get("a"), Some("2"));
    }
}
