//! A response as a snapshot holds it: status, chosen headers, the redirect parsed, the
//! JSON body, with dynamic values replaced by placeholders that keep their shape and every
//! secret the run learned blanked.

use crate::assert::Exchange;
use crate::scenario::vars::Redactor;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Headers kept in a snapshot, in this order.
pub(crate) const HEADERS: [&str; 6] = [
    "content-type",
    "cache-control",
    "pragma",
    "www-authenticate",
    "retry-after",
    "location",
];

/// Timestamps: redacted as `[timestamp]` (a value of 0, "never", is kept).
const INSTANTS: [&str; 7] = [
    "iat",
    "exp",
    "nbf",
    "auth_time",
    "client_id_issued_at",
    "client_secret_expires_at",
    "now_ms",
];

/// Identifiers minted per response, or per key (`jkt`, a DPoP key's thumbprint).
const IDS: [&str; 4] = ["client_id", "jti", "registration_client_uri", "jkt"];

/// The normalized, redacted text of a response.
pub(crate) fn normalize(
    ex: &Exchange,
    redactor: &Redactor,
    extra: &BTreeMap<String, String>,
) -> Result<String, String> {
    let mut headers = Map::new();
    for name in HEADERS {
        let Some(v) = ex.header(name) else { continue };
        let value = match name {
            "location" => location(v),
            "retry-after" => Value::String(if v.trim().parse::<u64>().is_ok() {
                "[seconds]".into()
            } else {
                "[date]".into()
            }),
            _ => Value::String(v.to_string()),
        };
        headers.insert(name.into(), value);
    }
    let body = match &ex.json {
        Some(j) => {
            let mut j = placeholders(j, None);
            for (path, label) in extra {
                let p = serde_json_path::JsonPath::parse(path)
                    .map_err(|e| format!("snapshot redaction `{path}`: {e}"))?;
                let pointers: Vec<String> = p
                    .query_located(&j)
                    .iter()
                    .map(|n| n.location().to_json_pointer())
                    .collect();
                for ptr in pointers {
                    if let Some(slot) = j.pointer_mut(&ptr) {
                        *slot = Value::String(label.clone());
                    }
                }
            }
            Some(j)
        }
        None if ex.body.is_empty() => None,
        None => Some(Value::String(format!(
            "[{} body, {}]",
            ex.header("content-type")
                .and_then(|c| c.split(';').next())
                .unwrap_or("untyped"),
            size_class(ex.body.len())
        ))),
    };
    // status, headers, body: in the order a reader looks for them.
    let mut doc = serde_yaml::Mapping::new();
    let yaml =
        |v: Value| serde_yaml::to_value(redact_strings(v, redactor)).map_err(|e| e.to_string());
    doc.insert("status".into(), ex.status.into());
    if !headers.is_empty() {
        doc.insert("headers".into(), yaml(Value::Object(headers))?);
    }
    if let Some(b) = body {
        doc.insert("body".into(), yaml(b)?);
    }
    serde_yaml::to_string(&doc).map_err(|e| e.to_string())
}

/// Every string in `v` with the run's secrets (and the target's address) blanked.
fn redact_strings(v: Value, redactor: &Redactor) -> Value {
    match v {
        Value::String(s) => Value::String(redactor.redact(&s)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|i| redact_strings(i, redactor))
                .collect(),
        ),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (redactor.redact(&k), redact_strings(v, redactor)))
                .collect(),
        ),
        other => other,
    }
}

/// A redirect: where it goes, its query and fragment parameters (placeholders applied).
fn location(v: &str) -> Value {
    // A relative redirect (a login page sending the browser back) is read against a
    // placeholder origin and shown as the path it is.
    const RELATIVE: &str = "http://relative.invalid";
    let (parsed, relative) = match url::Url::parse(v) {
        Ok(u) => (Ok(u), false),
        Err(_) => (url::Url::parse(RELATIVE).and_then(|b| b.join(v)), true),
    };
    let Ok(u) = parsed else {
        return Value::String(v.to_string());
    };
    let mut m = Map::new();
    let mut base = u.clone();
    base.set_query(None);
    base.set_fragment(None);
    let url = if relative {
        base.path().to_string()
    } else {
        base.to_string()
    };
    m.insert("url".into(), Value::String(url));
    let params = |pairs: Vec<(String, String)>| {
        let obj: Map<String, Value> = pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        placeholders(&Value::Object(obj), None)
    };
    let query: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    if !query.is_empty() {
        m.insert("query".into(), params(query));
    }
    if let Some(f) = u.fragment() {
        let frag: Vec<(String, String)> = url::form_urlencoded::parse(f.as_bytes())
            .into_owned()
            .collect();
        m.insert("fragment".into(), params(frag));
    }
    Value::Object(m)
}

/// `v` with the default placeholders; `key` is the member name `v` is under.
fn placeholders(v: &Value, key: Option<&str>) -> Value {
    match (v, key) {
        // A JWK (RFC 7517 §4): its type and algorithm are the shape; the key material
        // and its id are values (a registered client's keys, a fresh key per run).
        (Value::Object(m), _) if m.get("kty").is_some_and(Value::is_string) => Value::Object(
            m.iter()
                .map(|(k, v)| match (k.as_str(), v) {
                    ("kty" | "crv" | "alg" | "use", _) => (k.clone(), v.clone()),
                    (_, Value::String(s)) => {
                        (k.clone(), Value::String(format!("[{k}: {}]", shape(s))))
                    }
                    _ => (k.clone(), placeholders(v, Some(k))),
                })
                .collect(),
        ),
        (Value::Object(m), _) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), placeholders(v, Some(k))))
                .collect(),
        ),
        (Value::Array(items), _) => {
            Value::Array(items.iter().map(|i| placeholders(i, key)).collect())
        }
        (Value::Number(n), Some(k)) if INSTANTS.contains(&k) => {
            if n.as_u64() == Some(0) {
                v.clone()
            } else {
                Value::String("[timestamp]".into())
            }
        }
        (Value::String(s), Some("user_code")) => {
            Value::String(format!("[user_code: {}]", pattern(s)))
        }
        // A PKCE challenge is fresh for every authorization request (CLIENT-11).
        (Value::String(s), Some("code_challenge")) => {
            Value::String(format!("[code_challenge: {}]", shape(s)))
        }
        (Value::String(s), Some("verification_uri_complete")) => {
            Value::String(match url::Url::parse(s) {
                Ok(u) => {
                    let mut base = u.clone();
                    base.set_query(None);
                    let names: Vec<String> = u.query_pairs().map(|(k, _)| k.into_owned()).collect();
                    format!(
                        "{base}?{}",
                        names
                            .iter()
                            .map(|n| format!("{n}=[{n}]"))
                            .collect::<Vec<_>>()
                            .join("&")
                    )
                }
                Err(_) => "[verification_uri_complete]".into(),
            })
        }
        (Value::String(s), Some(k))
            if crate::scenario::vars::is_sensitive_name(k) || IDS.contains(&k) || k == "state" =>
        {
            Value::String(format!("[{k}: {}]", shape(s)))
        }
        (other, Some(k)) if crate::scenario::vars::is_sensitive_name(k) => {
            Value::String(format!("[{k}: {}]", type_name(other)))
        }
        _ => v.clone(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `BCDF-GHJK` → `****-****`: the length and the separators, nothing of the characters
/// (RFC 8628 §6.1 codes mix letters and digits at random, so a letter/digit pattern would
/// change from run to run).
fn pattern(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_alphanumeric() { '*' } else { c })
        .collect()
}

/// The charset and length class of an opaque value.
fn shape(s: &str) -> String {
    let charset = if s.split('.').count() == 3
        && s.split('.')
            .all(|p| !p.is_empty() && p.chars().all(is_b64url))
    {
        "jwt"
    } else if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
        "digits"
    } else if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    {
        "hex"
    } else if s.len() == 36 && uuid::Uuid::parse_str(s).is_ok() {
        "uuid"
    } else if s.chars().all(is_b64url) {
        "base64url"
    } else {
        "text"
    };
    format!("{charset}, {}", length_class(s.chars().count()))
}

fn is_b64url(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn length_class(n: usize) -> String {
    match n {
        0 => "empty".into(),
        1..=15 => "1-15 chars".into(),
        _ => {
            let lo = 1usize << (usize::BITS - 1 - n.leading_zeros());
            format!("{lo}-{} chars", lo * 2 - 1)
        }
    }
}

fn size_class(n: usize) -> String {
    if n < 1024 {
        "under 1 KiB".into()
    } else {
        let kib = n / 1024;
        let lo = 1usize << (usize::BITS - 1 - kib.leading_zeros());
        format!("{lo}-{} KiB", lo * 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ex(json: Value) -> Exchange {
        Exchange {
            status: 200,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("date".into(), "Mon, 30 Nov 2026 06:00:00 GMT".into()),
                ("cache-control".into(), "no-store".into()),
            ],
            body: json.to_string(),
            json: Some(json),
        }
    }

    #[test]
    fn a_jwk_keeps_its_type_and_drops_its_key_material() {
        let jwk = json!({"kty": "EC", "crv": "P-256", "alg": "ES256",
            "x": "6en9Cb6hYCKQxxeWv0tAD1rCBhJBAe69rugkteH6hVY", "kid": "e_5tcfum9o-yrQaUmsTHV8gvPpQvOHfuUopBLv_8NHE"});
        let out = placeholders(&json!({"jwks": {"keys": [jwk]}}), None);
        let k = &out["jwks"]["keys"][0];
        assert_eq!(
            (k["kty"].as_str(), k["crv"].as_str(), k["alg"].as_str()),
            (Some("EC"), Some("P-256"), Some("ES256"))
        );
        assert!(
            k["x"].as_str().is_some_and(|x| x.starts_with("[x: ")),
            "{k}"
        );
        assert!(
            k["kid"].as_str().is_some_and(|x| x.starts_with("[kid: ")),
            "{k}"
        );
    }

    #[test]
    fn placeholders_keep_the_shape_and_drop_the_value() {
        let mut red = Redactor::default();
        red.add("web-secret", "client_secret");
        let e = ex(json!({
            "access_token": "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5",
            "token_type": "Bearer",
            "expires_in": 3600,
            "user_code": "BCDF-GHJK",
            "id_token": "aaa.bbb.ccc",
            "client_id_issued_at": 1764480000,
            "client_secret_expires_at": 0,
            "error_description": "secret web-secret is wrong",
            "verification_uri_complete": "https://x.example/verify?user_code=BCDF-GHJK",
        }));
        let text = normalize(&e, &red, &BTreeMap::new()).expect("normalizes");
        for gone in ["Zm9v", "BCDF", "web-secret", "1764480000", "Mon, 30 Nov"] {
            assert!(!text.contains(gone), "{gone} in\n{text}");
        }
        for kept in [
            "[access_token: base64url, 32-63 chars]",
            "[user_code: ****-****]",
            "[id_token: jwt, 1-15 chars]",
            "client_secret_expires_at: 0",
            "client_id_issued_at: '[timestamp]'",
            "expires_in: 3600",
            "token_type: Bearer",
            "secret [client_secret] is wrong",
            "user_code=[user_code]",
            "cache-control: no-store",
        ] {
            assert!(text.contains(kept), "{kept} not in\n{text}");
        }
    }

    #[test]
    fn redirects_are_parsed_and_scenario_redactions_apply() {
        let e = Exchange {
            status: 302,
            headers: vec![(
                "location".into(),
                "https://web.example/callback?code=abcdefghijklmnop&state=s1".into(),
            )],
            body: String::new(),
            json: None,
        };
        let text = normalize(&e, &Redactor::default(), &BTreeMap::new()).expect("ok");
        assert!(text.contains("url: https://web.example/callback"), "{text}");
        assert!(
            text.contains("code: '[code: base64url, 16-31 chars]'"),
            "{text}"
        );
        let e = ex(json!({"items": [{"id": "x1", "n": 1}, {"id": "x2", "n": 2}]}));
        let extra = BTreeMap::from([("$.items[*].id".to_string(), "[item id]".to_string())]);
        let text = normalize(&e, &Redactor::default(), &extra).expect("ok");
        assert!(
            !text.contains("x1") && text.matches("[item id]").count() == 2,
            "{text}"
        );
    }

    #[test]
    fn length_classes() {
        assert_eq!(length_class(43), "32-63 chars");
        assert_eq!(length_class(16), "16-31 chars");
        assert_eq!(length_class(9), "1-15 chars");
        assert_eq!(size_class(5000), "4-8 KiB");
    }
}
