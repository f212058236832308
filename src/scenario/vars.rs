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
    /// A value an earlier step could not give (an optional capture the server left out,
    /// or a skipped step's capture): the steps that need it are SKIPPED with the reason.
    #[error("`{name}` is not available: {reason}")]
    Missing {
        /// The variable.
        name: String,
        /// Why it has no value.
        reason: String,
        /// The value is absent because the server took another path its contract allows
        /// (an `optional` capture, a step whose `if` did not hold): what needs it does not
        /// apply, which is no gap in the verdict.
        not_applicable: bool,
    },
}

/// Names that hold credentials: values captured under them are redacted everywhere
/// (`access_token`, `device_code`, `client_secret`, `code_verifier`, `code`, `password`…;
/// not `token_type` or `code_challenge_method`).
pub(crate) fn is_sensitive_name(name: &str) -> bool {
    const WORDS: [&str; 7] = [
        "token",
        "code",
        "secret",
        "verifier",
        "password",
        "assertion",
        "csrf",
    ];
    // `client.web.secret`: the last part of a dotted name says what it is.
    let n = name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase();
    WORDS
        .iter()
        .any(|w| n == *w || n.ends_with(&format!("_{w}")))
}

/// The references in a string: `(expression, byte offset)`.
pub(crate) fn references(s: &str) -> Vec<(String, usize)> {
    REF.captures_iter(s)
        .filter_map(|c| c.get(1).map(|m| (m.as_str().trim().to_string(), m.start())))
        .collect()
}

/// A helper call's name and the text between its parentheses (`add(min(a, 1), 2)` →
/// `("add", "min(a, 1), 2")`), or `None` when the expression is no call.
fn call_parts(expr: &str) -> Option<(&str, &str)> {
    let open = expr.find('(')?;
    let close = expr.rfind(')')?;
    (close > open).then(|| (expr[..open].trim(), &expr[open + 1..close]))
}

/// A call's arguments, split at the commas outside nested calls and quotes.
fn split_args(inner: &str) -> Vec<&str> {
    let (mut depth, mut quote, mut start) = (0usize, None, 0);
    let mut out = Vec::new();
    for (i, c) in inner.char_indices() {
        match (c, quote) {
            ('\'' | '"', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            (_, Some(_)) => {}
            ('(', None) => depth += 1,
            (')', None) => depth = depth.saturating_sub(1),
            (',', None) if depth == 0 => {
                out.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(inner[start..].trim());
    out.retain(|a| !a.is_empty());
    out
}

fn is_literal(a: &str) -> bool {
    a.parse::<f64>().is_ok() || a.starts_with('\'') || a.starts_with('"')
}

/// The variable names an expression needs (helpers' arguments included, nested calls too).
pub(crate) fn names_needed(expr: &str) -> Vec<String> {
    if expr.starts_with("env.") || expr.starts_with("secret.") {
        return vec![];
    }
    match call_parts(expr) {
        Some((_, inner)) => split_args(inner)
            .into_iter()
            .filter(|a| !is_literal(a))
            .flat_map(names_needed)
            .collect(),
        None => vec![expr.to_string()],
    }
}

/// Every helper call in an expression, nested ones too: `(name, arguments given)`.
pub(crate) fn calls(expr: &str) -> Vec<(String, usize)> {
    match call_parts(expr) {
        Some((f, inner)) => {
            let args = split_args(inner);
            let mut out = vec![(f.to_string(), args.len())];
            for a in args.into_iter().filter(|a| !is_literal(a)) {
                out.extend(calls(a));
            }
            out
        }
        None => Vec::new(),
    }
}

/// Known helper functions.
pub(crate) const FUNCTIONS: &[&str] = &[
    "pkce_verifier",
    "s256",
    "random",
    "uuid",
    "add",
    "sub",
    "min",
    "max",
];

/// How many arguments a helper takes.
pub(crate) fn arity(func: &str) -> Option<usize> {
    match func {
        "pkce_verifier" | "random" | "uuid" => Some(0),
        "s256" => Some(1),
        "add" | "sub" | "min" | "max" => Some(2),
        _ => None,
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
    ///
    /// A secret is also registered in the forms it takes on the wire and in reports: form-
    /// and percent-encoded (a body, a query, Basic credentials before base64) and escaped
    /// for JSON.
    pub(crate) fn add(&mut self, value: &str, label: &str) {
        if value.len() < 6 {
            return;
        }
        let form: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        let percent = form.replace('+', "%20");
        let json = serde_json::to_string(value)
            .map(|q| q[1..q.len() - 1].to_string())
            .unwrap_or_default();
        for v in [value.to_string(), form, percent, json] {
            if !v.is_empty() && !self.secrets.iter().any(|(known, _)| *known == v) {
                self.secrets.push((v, format!("[{label}]")));
            }
        }
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
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
    missing: HashMap<String, (String, bool)>,
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
            missing: HashMap::new(),
            secrets,
            redactor,
        }
    }

    /// Sets the variables given from outside the scenario; a secret's value is redacted
    /// from every output as `[secret NAME]`.
    pub(crate) fn seed(&mut self, given: &super::inputs::Inputs) {
        for (name, input) in given.iter() {
            if input.secret {
                if let Some(text) = given.text(name) {
                    self.redactor.add(&text, &format!("secret {name}"));
                }
            }
            self.set(name, input.value.clone());
        }
    }

    /// Records that `name` has no value, and why; using it skips the step that does
    /// (as not applicable when the server took another path its contract allows).
    pub(crate) fn set_missing(&mut self, name: &str, reason: String, not_applicable: bool) {
        self.values.remove(name);
        self.missing
            .insert(name.to_string(), (reason, not_applicable));
    }

    /// Sets a variable; a sensitive name makes its value a secret.
    pub fn set(&mut self, name: &str, value: Value) {
        if is_sensitive_name(name) {
            if let Some(s) = value.as_str() {
                self.redactor.add(s, name);
            }
        }
        self.missing.remove(name);
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
        if let Some((func, inner)) = call_parts(expr) {
            return self.call(func, &split_args(inner));
        }
        if let Some(v) = self.values.get(expr) {
            return Ok(v.clone());
        }
        Err(match self.missing.get(expr) {
            Some((reason, not_applicable)) => VarError::Missing {
                name: expr.into(),
                reason: reason.clone(),
                not_applicable: *not_applicable,
            },
            None => VarError::Undefined(expr.into()),
        })
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
                let v = crate::oauth::random_token();
                self.redactor.add(&v, if func == "random" { "random" } else { "code_verifier" });
                Ok(Value::String(v))
            }
            ("uuid", []) => Ok(Value::String(uuid::Uuid::new_v4().to_string())),
            ("s256", [x]) => {
                let v = self.arg(x)?;
                let out = crate::oauth::s256(&text(&v));
                // Not a secret, but token-shaped and fresh each run: kept out of reports.
                self.redactor.add(&out, "code_challenge");
                Ok(Value::String(out))
            }
            ("add" | "sub" | "min" | "max", [x, y]) => {
                let (a, b) = (self.arg(x)?, self.arg(y)?);
                let num = |v: &Value| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
                let (Some(a), Some(b)) = (num(&a), num(&b)) else {
                    return Err(VarError::Function(format!("{func}({x}, {y}): both must be numbers")));
                };
                let n = match func {
                    "add" => a + b,
                    "sub" => a - b,
                    "min" => a.min(b),
                    _ => a.max(b),
                };
                Ok(if n.fract() == 0.0 { Value::from(n as i64) } else { Value::from(n) })
            }
            _ => Err(VarError::Function(format!(
                "unknown helper `{func}` with {} argument(s) (helpers: pkce_verifier(), s256(x), random(), uuid(), add(x, n), sub(x, n), min(x, y), max(x, y))",
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
        assert_eq!(v.value("${sub(interval, 7)}"), Ok(json!(-2)));
        assert_eq!(v.value("${min(interval, 600)}"), Ok(json!(5)));
        assert_eq!(v.value("${max(interval, 600)}"), Ok(json!(600)));
        v.set_missing("rt", "the server issued none".into(), true);
        assert!(matches!(v.text("${rt}"), Err(VarError::Missing { .. })));
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
    fn a_secret_is_redacted_in_its_encoded_forms_too() {
        let mut red = Redactor::default();
        red.add("s:e%c r\"x", "client_secret");
        for text in [
            "s:e%c r\"x",        // as it is
            "s%3Ae%25c+r%22x",   // a form body, Basic before base64
            "s%3Ae%25c%20r%22x", // a query or path
            "s:e%c r\\\"x",      // inside a JSON string
        ] {
            assert_eq!(
                red.redact(&format!("<{text}>")),
                "<[client_secret]>",
                "{text}"
            );
        }
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
        assert_eq!(names_needed("add(min(ttl, 600), 1)"), vec!["ttl"]);
        assert_eq!(
            calls("add(min(ttl, 600), 1)"),
            vec![("add".to_string(), 2), ("min".to_string(), 2)]
        );
    }

    #[test]
    fn helpers_nest() {
        let mut v = Vars::default();
        v.set("ttl", json!(4));
        assert_eq!(v.value("${add(min(ttl, 600), 1)}"), Ok(json!(5)));
        assert_eq!(v.value("${max(sub(ttl, 600), 0)}"), Ok(json!(0)));
        assert_eq!(
            v.value("${s256('x')}").map(|s| s.as_str().map(str::len)),
            Ok(Some(43))
        );
    }
}
