//! Variables and `${…}` interpolation.
//!
//! `${name}` is a scenario variable or capture, `${env.X}` an environment variable,
//! `${secret.X}` a secret supplied by the target (redacted in every output), and
//! `${f(args)}` a helper: `pkce_verifier()`, `s256(x)`, `random()`, `uuid()`, `add(x, n)`.
//! A string that is exactly one `${…}` takes the value's JSON type (`${expires_in}` stays a
//! number); anywhere else the value is spliced in as text.

use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::LazyLock;

static REF: LazyLock<Regex> = LazyLock::new(|| {
    // The pattern is a constant; a failure here is a build defect caught by every test.
    Regex::new(r"\$\{([^}]*)\}").unwrap_or_else(|e| panic!("variable pattern: {e}"))
});

/// Why a reference could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarError {
    #[error("undefined variable `{0}`")]
    Undefined(String),
    #[error("environment variable `{0}` is not set")]
    Env(String),
    #[error("the target has no secret `{0}`")]
    Secret(String),
    #[error("{0}")]
    Function(String),
}

/// Names that hold credentials: values captured under them are redacted everywhere
/// (`access_token`, `device_code`, `client_secret`, `code_verifier`, `code`, `password`…;
/// not `token_type` or `code_challenge_method`).
pub fn is_sensitive_name(name: &str) -> bool {
    const WORDS: [&str; 7] = [
        "token",
        "code",
        "secret",
        "verifier",
        "password",
        "assertion",
        "csrf",
    ];
    let n = name.to_ascii_lowercase();
    WORDS
        .iter()
        .any(|w| n == *w || n.ends_with(&format!("_{w}")))
}

/// The references in a string: `(expression, byte offset)`.
pub fn references(s: &str) -> Vec<(String, usize)> {
    REF.captures_iter(s)
        .filter_map(|c| c.get(1).map(|m| (m.as_str().trim().to_string(), m.start())))
        .collect()
}

/// The variable names an expression needs (helpers' arguments included).
pub fn names_needed(expr: &str) -> Vec<String> {
    if expr.starts_with("env.") || expr.starts_with("secret.") {
        return vec![];
    }
    match expr.find('(') {
        Some(open) => expr[open + 1..]
            .trim_end_matches(')')
            .split(',')
            .map(str::trim)
            .filter(|a| {
                !a.is_empty()
                    && a.parse::<f64>().is_err()
                    && !a.starts_with('\'')
                    && !a.starts_with('"')
            })
            .map(str::to_string)
            .collect(),
        None => vec![expr.to_string()],
    }
}

/// Known helper functions.
pub const FUNCTIONS: &[&str] = &["pkce_verifier", "s256", "random", "uuid", "add"];

/// How many arguments a helper takes.
pub fn arity(func: &str) -> Option<usize> {
    match func {
        "pkce_verifier" | "random" | "uuid" => Some(0),
        "s256" => Some(1),
        "add" => Some(2),
        _ => None,
    }
}

/// The arguments written in a helper call `f(a, b)`.
pub fn call_args(expr: &str) -> Vec<&str> {
    match (expr.find('('), expr.rfind(')')) {
        (Some(open), Some(close)) if close > open => expr[open + 1..close]
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

/// Values that must not appear in any output, with the label that replaces them.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<(String, String)>,
}

impl Redactor {
    /// Registers a secret value; short values (under 6 characters) are not, lest common
    /// words be blanked out of reports.
    pub fn add(&mut self, value: &str, label: &str) {
        if value.len() >= 6 && !self.secrets.iter().any(|(v, _)| v == value) {
            self.secrets.push((value.to_string(), format!("[{label}]")));
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        }
    }

    /// `text` with every registered secret replaced by its label.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (v, label) in &self.secrets {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), label);
            }
        }
        out
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

/// The variables of one scenario run.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: HashMap<String, Value>,
    secrets: HashMap<String, String>,
    /// Secrets seen so far.
    pub redactor: Redactor,
}

impl Vars {
    /// Variables backed by the target's secrets.
    pub fn new(secrets: HashMap<String, String>) -> Self {
        let mut redactor = Redactor::default();
        for (k, v) in &secrets {
            redactor.add(v, &format!("secret.{k}"));
        }
        Vars {
            values: HashMap::new(),
            secrets,
            redactor,
        }
    }

    /// Sets a variable; a sensitive name makes its value a secret.
    pub fn set(&mut self, name: &str, value: Value) {
        if is_sensitive_name(name) {
            if let Some(s) = value.as_str() {
                self.redactor.add(s, name);
            }
        }
        self.values.insert(name.to_string(), value);
    }

    /// A variable's value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    fn eval(&mut self, expr: &str) -> Result<Value, VarError> {
        if let Some(name) = expr.strip_prefix("env.") {
            return std::env::var(name)
                .map(Value::String)
                .map_err(|_| VarError::Env(name.into()));
        }
        if let Some(name) = expr.strip_prefix("secret.") {
            return self
                .secrets
                .get(name)
                .cloned()
                .map(Value::String)
                .ok_or_else(|| VarError::Secret(name.into()));
        }
        if let Some(open) = expr.find('(') {
            let func = expr[..open].trim();
            let args: Vec<&str> = expr[open + 1..]
                .trim_end_matches(')')
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .collect();
            return self.call(func, &args);
        }
        self.values
            .get(expr)
            .cloned()
            .ok_or_else(|| VarError::Undefined(expr.into()))
    }

    fn arg(&mut self, a: &str) -> Result<Value, VarError> {
        if let Ok(n) = a.parse::<i64>() {
            return Ok(Value::from(n));
        }
        if let Some(s) = a.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
            return Ok(Value::String(s.into()));
        }
        self.eval(a)
    }

    fn call(&mut self, func: &str, args: &[&str]) -> Result<Value, VarError> {
        let text = |v: &Value| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        };
        match (func, args) {
            ("pkce_verifier", []) | ("random", []) => {
                let v = crate::server::store::random_token();
                self.redactor.add(&v, if func == "random" { "random" } else { "code_verifier" });
                Ok(Value::String(v))
            }
            ("uuid", []) => Ok(Value::String(uuid::Uuid::new_v4().to_string())),
            ("s256", [x]) => {
                let v = self.arg(x)?;
                Ok(Value::String(crate::server::token::s256(&text(&v))))
            }
            ("add", [x, y]) => {
                let (a, b) = (self.arg(x)?, self.arg(y)?);
                let num = |v: &Value| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
                match (num(&a), num(&b)) {
                    (Some(a), Some(b)) if (a + b).fract() == 0.0 => Ok(Value::from((a + b) as i64)),
                    (Some(a), Some(b)) => Ok(Value::from(a + b)),
                    _ => Err(VarError::Function(format!("add({x}, {y}): both must be numbers"))),
                }
            }
            _ => Err(VarError::Function(format!(
                "unknown helper `{func}` with {} argument(s) (helpers: pkce_verifier(), s256(x), random(), uuid(), add(x, n))",
                args.len()
            ))),
        }
    }

    /// Interpolates a string. Exactly one `${…}` keeps the value's type.
    pub fn value(&mut self, s: &str) -> Result<Value, VarError> {
        let refs = references(s);
        if refs.len() == 1
            && s.trim().starts_with("${")
            && s.trim().ends_with('}')
            && REF.find(s).is_some_and(|m| m.as_str() == s.trim())
        {
            return self.eval(&refs[0].0);
        }
        Ok(Value::String(self.text(s)?))
    }

    /// Interpolates a string into text.
    pub fn text(&mut self, s: &str) -> Result<String, VarError> {
        let mut out = String::with_capacity(s.len());
        let mut last = 0;
        let caps: Vec<(usize, usize, String)> = REF
            .captures_iter(s)
            .filter_map(|c| {
                let whole = c.get(0)?;
                Some((
                    whole.start(),
                    whole.end(),
                    c.get(1)?.as_str().trim().to_string(),
                ))
            })
            .collect();
        for (start, end, expr) in caps {
            out.push_str(&s[last..start]);
            let v = self.eval(&expr)?;
            match v {
                Value::String(t) => out.push_str(&t),
                other => out.push_str(&other.to_string()),
            }
            last = end;
        }
        out.push_str(&s[last..]);
        Ok(out)
    }

    /// Interpolates every string inside a YAML value, giving JSON.
    pub fn json(&mut self, v: &serde_yaml::Value) -> Result<Value, VarError> {
        Ok(match v {
            serde_yaml::Value::Null => Value::Null,
            serde_yaml::Value::Bool(b) => Value::Bool(*b),
            serde_yaml::Value::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
            serde_yaml::Value::String(s) => self.value(s)?,
            serde_yaml::Value::Sequence(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.json(i))
                    .collect::<Result<_, _>>()?,
            ),
            serde_yaml::Value::Mapping(m) => {
                let mut out = serde_json::Map::new();
                for (k, v) in m {
                    let key = match k {
                        serde_yaml::Value::String(s) => self.text(s)?,
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    out.insert(key, self.json(v)?);
                }
                Value::Object(out)
            }
            serde_yaml::Value::Tagged(t) => self.json(&t.value)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn interpolation_keeps_types_and_splices_text() {
        let mut v = Vars::new(HashMap::from([(
            "web".to_string(),
            "web-secret".to_string(),
        )]));
        v.set("interval", json!(5));
        v.set("client", json!("noorle-cli"));
        assert_eq!(v.value("${interval}"), Ok(json!(5)));
        assert_eq!(v.value("every ${interval}s"), Ok(json!("every 5s")));
        assert_eq!(v.value("${add(interval, 5)}"), Ok(json!(10)));
        assert_eq!(v.text("${secret.web}"), Ok("web-secret".into()));
        assert_eq!(v.text("${nope}"), Err(VarError::Undefined("nope".into())));
        assert!(matches!(v.text("${frob()}"), Err(VarError::Function(_))));
        let verifier = v.text("${pkce_verifier()}").unwrap_or_default();
        assert_eq!(verifier.len(), 43);
        v.set("verifier", json!(verifier));
        assert_eq!(v.text("${s256(verifier)}").map(|s| s.len()), Ok(43));
    }

    #[test]
    fn secrets_and_sensitive_captures_are_redacted() {
        let mut v = Vars::new(HashMap::from([(
            "web".to_string(),
            "web-secret".to_string(),
        )]));
        v.set("access_token", json!("tok-0123456789"));
        v.set("interval", json!("123456789"));
        let r = v
            .redactor
            .redact("Basic web-secret and tok-0123456789 at 123456789");
        assert_eq!(r, "Basic [secret.web] and [access_token] at 123456789");
    }

    #[test]
    fn credential_names_are_recognized_and_others_are_not() {
        for n in [
            "access_token",
            "refresh_token",
            "device_code",
            "user_code",
            "code",
            "client_secret",
            "code_verifier",
            "password",
        ] {
            assert!(is_sensitive_name(n), "{n}");
        }
        for n in [
            "token_type",
            "token_type_hint",
            "code_challenge_method",
            "expires_in",
            "interval",
            "state",
            "scope",
        ] {
            assert!(!is_sensitive_name(n), "{n}");
        }
    }

    #[test]
    fn names_needed_sees_through_helpers() {
        assert_eq!(names_needed("s256(verifier)"), vec!["verifier"]);
        assert_eq!(names_needed("add(expires_in, 1)"), vec!["expires_in"]);
        assert!(names_needed("env.HOME").is_empty());
        assert!(names_needed("uuid()").is_empty());
    }
}
