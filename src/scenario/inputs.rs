//! Variables and secrets given from outside the scenarios, for `${NAME}` in scenarios and
//! target profiles (issue #20; hurl's `--variable`, `--variables-file`, `--secrets-file`
//! and `HURL_VARIABLE_*` are the model).
//!
//! Sources, from the lowest precedence to the highest (a higher one sets the value):
//!
//! 1. `--vars-file FILE` (repeatable; a later file over an earlier one): YAML (a mapping
//!    of names to scalars; `.yaml`, `.yml`, `.json`) or dotenv (any other name:
//!    `NAME=value` lines, `#` comments, quotes, `export`, read by `dotenvy`);
//! 2. `--secrets-file FILE` (repeatable, same forms): values that are secrets;
//! 3. `OAUTH_HARNESS_VAR_NAME=value` in the environment (the name as written after the
//!    prefix);
//! 4. `--var NAME=VALUE` (repeatable; a later one over an earlier one).
//!
//! A name that a secrets file defines is a secret whichever source sets its value: it is
//! redacted from every output like the target's secrets. A scenario's own `vars:` and
//! captures are set on top of these, in order, as the run goes.

use super::spans::{Seg, SpanIndex};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// The environment variables' prefix.
pub const ENV_PREFIX: &str = "OAUTH_HARNESS_VAR_";

/// The shortest secret that can be redacted (as for the target's secrets).
const MIN_SECRET: usize = 6;

/// Names a scenario run defines itself, and prefixes the target's values use.
const RESERVED: &[&str] = &[
    "base_url",
    "issuer",
    "metadata_url",
    "token_endpoint",
    "par_endpoint",
    "approval_url",
    "contract",
    "pkce_documentation",
    "dpop_jkt",
    "env",
    "secret",
    "client",
    "resource",
    "lifetime",
    "user",
];

/// One variable's value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// Its value (a YAML file's numbers and booleans keep their type).
    pub value: Value,
    /// Whether a secrets file defines the name.
    pub secret: bool,
    /// `--var`, `OAUTH_HARNESS_VAR_NAME`, or `FILE:LINE:COL`.
    pub origin: String,
}

/// The variables given from outside, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    values: BTreeMap<String, Input>,
}

/// Why the inputs cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A command-line value is malformed (exit 1).
    #[error("{0}")]
    Usage(String),
    /// A file is unreadable or malformed, with where (exit 2).
    #[error("{0}")]
    File(String),
}

impl InputError {
    /// The exit code it ends the run with.
    pub fn exit_code(&self) -> u8 {
        match self {
            InputError::Usage(_) => crate::exit::USAGE,
            InputError::File(_) => crate::exit::BAD_SCENARIO,
        }
    }
}

/// What the command line gave.
#[derive(Debug, Clone, Default)]
pub struct Sources<'a> {
    /// `--var NAME=VALUE`, in order.
    pub vars: &'a [String],
    /// `--vars-file FILE`, in order.
    pub vars_files: &'a [std::path::PathBuf],
    /// `--secrets-file FILE`, in order.
    pub secrets_files: &'a [std::path::PathBuf],
}

impl Inputs {
    /// Gathers the sources in precedence order; `env` is the process environment.
    pub fn gather(
        sources: &Sources<'_>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Inputs, InputError> {
        let mut inputs = Inputs::default();
        for f in sources.vars_files {
            for (name, value, origin) in read_file(f)? {
                inputs.put(name, value, false, origin);
            }
        }
        for f in sources.secrets_files {
            for (name, value, origin) in read_file(f)? {
                inputs.put(name, value, true, origin);
            }
        }
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(ENV_PREFIX)?.to_string(), v)))
            .collect();
        env.sort();
        for (name, value) in env {
            check_name(&name).map_err(|m| InputError::Usage(format!("{ENV_PREFIX}{name}: {m}")))?;
            let origin = format!("{ENV_PREFIX}{name}");
            inputs.put(name, Value::String(value), false, origin);
        }
        for v in sources.vars {
            let (name, value) = v
                .split_once('=')
                .ok_or_else(|| InputError::Usage(format!("--var {v}: expected NAME=VALUE")))?;
            check_name(name).map_err(|m| InputError::Usage(format!("--var {v}: {m}")))?;
            inputs.put(
                name.into(),
                Value::String(value.into()),
                false,
                "--var".into(),
            );
        }
        for (name, i) in &inputs.values {
            let len = inputs.text(name).map_or(0, |t| t.chars().count());
            if i.secret && len < MIN_SECRET {
                let m = format!(
                    "{}: secret `{name}` has {len} characters: under {MIN_SECRET} it cannot be told apart from ordinary text, so it could not be kept out of the reports",
                    i.origin
                );
                let usage = i.origin == "--var" || i.origin.starts_with(ENV_PREFIX);
                return Err(if usage {
                    InputError::Usage(m)
                } else {
                    InputError::File(m)
                });
            }
        }
        Ok(inputs)
    }

    fn put(&mut self, name: String, value: Value, secret: bool, origin: String) {
        let was_secret = self.values.get(&name).is_some_and(|i| i.secret);
        self.values.insert(
            name,
            Input {
                value,
                secret: secret || was_secret,
                origin,
            },
        );
    }

    /// One variable.
    pub fn get(&self, name: &str) -> Option<&Input> {
        self.values.get(name)
    }

    /// Every variable, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Input)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Whether a name is given.
    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The value as text (numbers and booleans as written).
    pub fn text(&self, name: &str) -> Option<String> {
        self.values.get(name).map(|i| match &i.value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
}

/// A name that `${NAME}` can reach: letters, digits and `_`, not starting with a digit,
/// and none the run defines itself.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(format!(
            "`{name}` is not a variable name (letters, digits and _, not starting with a digit)"
        ));
    }
    if RESERVED.contains(&name)
        || super::template::Helper::all()
            .iter()
            .any(|h| h.name() == name)
    {
        return Err(format!("`{name}` is a name the run defines itself"));
    }
    Ok(())
}

/// A vars or secrets file's entries, with where each is written.
fn read_file(path: &Path) -> Result<Vec<(String, Value, String)>, InputError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::File(format!("{shown}: cannot read the file: {e}")))?;
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    );
    if yaml {
        read_yaml(&shown, &text)
    } else {
        read_dotenv(&shown, &text)
    }
}

fn read_yaml(file: &str, text: &str) -> Result<Vec<(String, Value, String)>, InputError> {
    let map: BTreeMap<String, serde_yaml::Value> = serde_yaml::from_str(text).map_err(|e| {
        let (line, col, message) = super::spans::yaml_error(&e, text);
        InputError::File(format!(
            "{file}:{line}:{col}: {message} (a vars file is a mapping of names to values)"
        ))
    })?;
    let spans = SpanIndex::new(Arc::from(file), text);
    let mut out = Vec::new();
    for (name, v) in map {
        let at = spans.loc(&[Seg::Key(&name)]).to_string();
        check_name(&name).map_err(|m| InputError::File(format!("{at}: {m}")))?;
        let value = match v {
            serde_yaml::Value::String(s) => Value::String(s),
            serde_yaml::Value::Bool(b) => Value::Bool(b),
            serde_yaml::Value::Number(n) => serde_json::to_value(&n).unwrap_or(Value::Null),
            _ => {
                return Err(InputError::File(format!(
                    "{at}: `{name}` must be a string, a number or a boolean"
                )))
            }
        };
        out.push((name, value, at));
    }
    Ok(out)
}

fn read_dotenv(file: &str, text: &str) -> Result<Vec<(String, Value, String)>, InputError> {
    let mut out = Vec::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        let (name, value) = item.map_err(|e| match e {
            dotenvy::Error::LineParse(line, index) => {
                // dotenvy says which line's text failed and where in it.
                let n = text
                    .lines()
                    .position(|l| l == line || l.trim_end() == line.trim_end())
                    .map_or(0, |i| i + 1);
                InputError::File(format!(
                    "{file}:{n}:{}: cannot read this line as NAME=value",
                    index + 1
                ))
            }
            other => InputError::File(format!("{file}: {other}")),
        })?;
        let line = text
            .lines()
            .position(|l| {
                let l = l.trim_start();
                l.strip_prefix("export ")
                    .unwrap_or(l)
                    .trim_start()
                    .starts_with(&format!("{name}="))
                    || l.starts_with(&format!("{name} ="))
            })
            .map_or(0, |i| i + 1);
        let at = format!("{file}:{line}:1");
        check_name(&name).map_err(|m| InputError::File(format!("{at}: {m}")))?;
        out.push((name, Value::String(value), at));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn later_sources_win_and_a_secrets_files_name_stays_secret() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let yaml = file(
            tmp.path(),
            "v.yaml",
            "tenant: acme\nport: 8443\nregion: eu\ntoken_label: x\n",
        );
        let env_file = file(
            tmp.path(),
            "more.env",
            "# later file\nregion=us\nexport audience='api://x'\n",
        );
        let secrets = file(
            tmp.path(),
            "s.env",
            "api_key=\"k-123456789\"\ntenant=from-secrets\n",
        );
        let inputs = Inputs::gather(
            &Sources {
                vars: &["tenant=from-flag".into(), "empty=".into()],
                vars_files: &[yaml.clone(), env_file],
                secrets_files: &[secrets],
            },
            [
                ("OAUTH_HARNESS_VAR_region".into(), "from-env".into()),
                ("OAUTH_HARNESS_VAR_tenant".into(), "from-env".into()),
                ("UNRELATED".into(), "x".into()),
            ],
        )
        .expect("inputs");
        let got = |n: &str| inputs.get(n).cloned().expect(n);
        assert_eq!(got("tenant").value, "from-flag");
        assert_eq!(got("tenant").origin, "--var");
        // Set by a secrets file, then by the flag: still a secret.
        assert!(got("tenant").secret);
        assert_eq!(got("region").value, "from-env");
        assert_eq!(got("audience").value, "api://x");
        assert_eq!(got("port").value, 8443);
        assert_eq!(got("port").origin, format!("{}:2:7", yaml.display()));
        assert!(got("api_key").secret && !got("region").secret);
        assert_eq!(got("empty").value, "");
        assert!(!inputs.contains("UNRELATED"));
    }

    #[test]
    fn bad_names_and_files_say_where() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let gather = |vars: &[String], files: &[PathBuf]| {
            Inputs::gather(
                &Sources {
                    vars,
                    vars_files: files,
                    secrets_files: &[],
                },
                Vec::new(),
            )
        };
        for (v, why) in [
            ("novalue", "expected NAME=VALUE"),
            ("1x=2", "not a variable name"),
            ("a.b=2", "not a variable name"),
            ("base_url=x", "defines itself"),
        ] {
            let e = gather(&[v.into()], &[]).expect_err(v);
            assert!(
                matches!(e, InputError::Usage(_)) && e.to_string().contains(why),
                "{v}: {e}"
            );
        }
        let nested = file(tmp.path(), "n.yaml", "ok: 1\nlist: [1, 2]\n");
        let e = gather(&[], &[nested]).expect_err("nested");
        assert!(e.to_string().contains("n.yaml:2:"), "{e}");
        assert_eq!(e.exit_code(), crate::exit::BAD_SCENARIO);
        let bad = file(tmp.path(), "b.env", "A=1\nthis is not a line\n");
        let e = gather(&[], &[bad]).expect_err("dotenv");
        assert!(e.to_string().contains("b.env:2:"), "{e}");
        let missing = tmp.path().join("none.env");
        assert!(gather(&[], &[missing]).is_err());
        let short = file(tmp.path(), "short.env", "pin=1234\n");
        let e = Inputs::gather(
            &Sources {
                vars: &[],
                vars_files: &[],
                secrets_files: &[short],
            },
            Vec::new(),
        )
        .expect_err("short secret");
        assert!(
            e.to_string()
                .contains("short.env:1:1: secret `pin` has 4 characters"),
            "{e}"
        );
    }
}
