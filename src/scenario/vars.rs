//! Variables and `${…}` interpolation.
//!
//! `${name}` is a scenario variable or capture, `${env.X}` an environment variable,
//! `${secret.X}` a secret supplied by the target (redacted in every output), and
//! `${f(args)}` a helper: `pkce_verifier()`, `s256(x)`, `random()`, `uuid()`, `add(x, n)`.
//! A string that is exactly one `${…}` takes the value's JSON type (`${expires_in}` stays a
//! number); anywhere else the value is spliced in as text.

use super::template::{Expr, Helper, Part, Template, Tree};
use serde_json::Value;
use std::collections::HashMap;

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
    const WORDS: [&str; 8] = [
        "token",
        "code",
        "secret",
        "verifier",
        "password",
        "assertion",
        "csrf",
        "proof",
    ];
    // `client.web.secret`: the last part of a dotted name says what it is.
    let n = name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase();
    // A pushed request's handle (RFC 9126 §2.2): usable by its client to start the
    // authorization, so kept out of outputs like a code.
    n == "request_uri"
        || WORDS
            .iter()
            .any(|w| n == *w || n.ends_with(&format!("_{w}")))
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

    /// A variable's value, or why there is none.
    pub fn lookup(&self, name: &str) -> Result<Value, VarError> {
        if let Some(v) = self.values.get(name) {
            return Ok(v.clone());
        }
        Err(match self.missing.get(name) {
            Some((reason, not_applicable)) => VarError::Missing {
                name: name.into(),
                reason: reason.clone(),
                not_applicable: *not_applicable,
            },
            None => VarError::Undefined(name.into()),
        })
    }

    fn eval(&mut self, expr: &Expr) -> Result<Value, VarError> {
        match expr {
            Expr::Env(name) => std::env::var(name)
                .map(Value::String)
                .map_err(|_| VarError::Env(name.clone())),
            Expr::Secret(name) => self
                .secrets
                .get(name)
                .cloned()
                .map(Value::String)
                .ok_or_else(|| VarError::Secret(name.clone())),
            Expr::Var(name) => self.lookup(name),
            Expr::Int(n) => Ok(Value::from(*n)),
            Expr::Str(s) => Ok(Value::String(s.clone())),
            Expr::Call(helper, args) => self.call(*helper, args),
        }
    }

    fn call(&mut self, helper: Helper, args: &[Expr]) -> Result<Value, VarError> {
        let text = |v: &Value| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        };
        let values = args
            .iter()
            .map(|a| self.eval(a))
            .collect::<Result<Vec<_>, _>>()?;
        match (helper, values.as_slice()) {
            (Helper::PkceVerifier | Helper::Random, []) => {
                let v = crate::oauth::random_token();
                let label = if helper == Helper::Random {
                    "random"
                } else {
                    "code_verifier"
                };
                self.redactor.add(&v, label);
                Ok(Value::String(v))
            }
            (Helper::Uuid, []) => Ok(Value::String(uuid::Uuid::new_v4().to_string())),
            (Helper::Jwks, [name]) => {
                let name = text(name);
                let Some(key) = crate::keys::KeyName::from_name(&name) else {
                    return Err(VarError::Function(format!(
                        "jwks('{name}'): the harness holds keys K, K2, J and J2"
                    )));
                };
                crate::keys::fixture_key(key)
                    .map(|k| k.public_jwks())
                    .map_err(|e| VarError::Function(format!("jwks: {e}")))
            }
            (Helper::Thumbprint, [name]) => {
                let name = text(name);
                let Some(key) = crate::keys::KeyName::from_name(&name) else {
                    return Err(VarError::Function(format!(
                        "thumbprint('{name}'): the harness holds keys K, K2, J and J2"
                    )));
                };
                let k = crate::keys::fixture_key(key)
                    .map_err(|e| VarError::Function(format!("thumbprint: {e}")))?;
                // Not a secret, but token-shaped: kept out of reports.
                self.redactor.add(k.thumbprint(), "jkt");
                Ok(Value::String(k.thumbprint().to_string()))
            }
            (Helper::Ath, [token]) => {
                let out = crate::dpop::ath(&text(token));
                self.redactor.add(&out, "ath");
                Ok(Value::String(out))
            }
            (Helper::Basic, [id, secret]) => {
                let out = crate::oauth::basic_credentials(&text(id), &text(secret));
                self.redactor.add(&out, "basic_credentials");
                Ok(Value::String(out))
            }
            (Helper::S256, [x]) => {
                let out = crate::oauth::s256(&text(x));
                // Not a secret, but token-shaped and fresh each run: kept out of reports.
                self.redactor.add(&out, "code_challenge");
                Ok(Value::String(out))
            }
            (Helper::Add | Helper::Sub | Helper::Min | Helper::Max, [a, b]) => {
                let num = |v: &Value| {
                    v.as_f64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                };
                let (Some(a), Some(b)) = (num(a), num(b)) else {
                    return Err(VarError::Function(format!(
                        "{}: both arguments must be numbers",
                        Expr::Call(helper, args.to_vec())
                    )));
                };
                let n = match helper {
                    Helper::Add => a + b,
                    Helper::Sub => a - b,
                    Helper::Min => a.min(b),
                    _ => a.max(b),
                };
                Ok(if n.fract() == 0.0 {
                    Value::from(n as i64)
                } else {
                    Value::from(n)
                })
            }
            // The parser checks each helper's arity; a mismatch here is a parser defect.
            _ => Err(VarError::Function(format!(
                "helper `{}` takes {} argument(s), {} given",
                helper.name(),
                helper.arity(),
                args.len()
            ))),
        }
    }

    /// A template's value. Exactly one placeholder (blanks aside) keeps the value's type.
    pub fn value(&mut self, t: &Template) -> Result<Value, VarError> {
        match t.single() {
            Some(e) => self.eval(e),
            None => Ok(Value::String(self.text(t)?)),
        }
    }

    /// A template as text.
    pub fn text(&mut self, t: &Template) -> Result<String, VarError> {
        let mut out = String::with_capacity(t.as_str().len());
        for part in t.parts() {
            match part {
                Part::Text(s) => out.push_str(s),
                Part::Ref(e, _) => match self.eval(e)? {
                    Value::String(s) => out.push_str(&s),
                    other => out.push_str(&other.to_string()),
                },
            }
        }
        Ok(out)
    }

    /// A tree's value as JSON, every template in it interpolated.
    pub fn json(&mut self, v: &Tree) -> Result<Value, VarError> {
        Ok(match v {
            Tree::Null => Value::Null,
            Tree::Bool(b) => Value::Bool(*b),
            Tree::Number(n) => Value::Number(n.clone()),
            Tree::Text(t) => self.value(t)?,
            Tree::List(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.json(i))
                    .collect::<Result<_, _>>()?,
            ),
            Tree::Map(m) => {
                let mut out = serde_json::Map::new();
                for (k, v) in m {
                    let key = self.text(k)?;
                    out.insert(key, self.json(v)?);
                }
                Value::Object(out)
            }
        })
    }

    /// Parses and interpolates a text that is not part of a scenario file (a target
    /// profile's `base_url`): a parse error is told as a function error.
    pub fn render(&mut self, text: &str) -> Result<String, VarError> {
        let t = Template::parse(text).map_err(|e| VarError::Function(format!("`{text}`: {e}")))?;
        self.text(&t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> Template {
        Template::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn interpolation_keeps_types_and_splices_text() {
        let mut v = Vars::new(HashMap::from([(
            "web".to_string(),
            "web-secret".to_string(),
        )]));
        v.set("interval", json!(5));
        v.set("client", json!("noorle-cli"));
        assert_eq!(v.value(&t("${interval}")), Ok(json!(5)));
        assert_eq!(v.value(&t("every ${interval}s")), Ok(json!("every 5s")));
        assert_eq!(v.value(&t("${add(interval, 5)}")), Ok(json!(10)));
        assert_eq!(v.value(&t("${sub(interval, 7)}")), Ok(json!(-2)));
        assert_eq!(v.value(&t("${min(interval, 600)}")), Ok(json!(5)));
        assert_eq!(v.value(&t("${max(interval, 600)}")), Ok(json!(600)));
        v.set_missing("rt", "the server issued none".into(), true);
        assert!(matches!(v.text(&t("${rt}")), Err(VarError::Missing { .. })));
        assert_eq!(v.text(&t("${secret.web}")), Ok("web-secret".into()));
        assert_eq!(
            v.text(&t("${nope}")),
            Err(VarError::Undefined("nope".into()))
        );
        let verifier = v.text(&t("${pkce_verifier()}")).unwrap_or_default();
        assert_eq!(verifier.len(), 43);
        v.set("verifier", json!(verifier));
        assert_eq!(v.text(&t("${s256(verifier)}")).map(|s| s.len()), Ok(43));
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
            "request_uri",
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
            "redirect_uri",
        ] {
            assert!(!is_sensitive_name(n), "{n}");
        }
    }

    #[test]
    fn helpers_nest() {
        let mut v = Vars::default();
        v.set("ttl", json!(4));
        assert_eq!(v.value(&t("${add(min(ttl, 600), 1)}")), Ok(json!(5)));
        assert_eq!(v.value(&t("${max(sub(ttl, 600), 0)}")), Ok(json!(0)));
        assert_eq!(
            v.value(&t("${s256('x')}"))
                .map(|s| s.as_str().map(str::len)),
            Ok(Some(43))
        );
    }
}
