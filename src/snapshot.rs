//! Response snapshots: a step's response normalized (status, chosen headers, the redirect
//! parsed, the JSON body), with dynamic values replaced by placeholders that keep their
//! shape, stored in insta's `.snap` format so that `cargo insta review` works on them.
//!
//! Placeholders: the RFC fields that carry credentials or instants become
//! `[access_token: base64url, 32-63 chars]`, `[user_code: ****-****]`, `[timestamp]`...;
//! a scenario adds its own (`JSONPath → placeholder`); then every secret the run learned
//! (the scenario's `Redactor`) is blanked from the whole text. A changed shape (a token
//! that became a JWT, a user code without its dash, a missing member) still shows.

use crate::assert::Exchange;
use crate::scenario::vars::Redactor;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a run does with snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Compare; a difference or a missing snapshot fails the step. Writes nothing.
    Check,
    /// Compare, and write `.snap.new` beside each that differs or is missing, for review
    /// (`cargo insta review`, or `oauth-harness snapshots accept`).
    Update,
    /// Write `.snap` files directly (insta's `INSTA_UPDATE=always`).
    Always,
    /// No snapshots.
    Off,
}

impl Mode {
    /// The mode when `--snapshots` is not given: insta's rules. `INSTA_UPDATE=always|new|no`
    /// chooses; otherwise `check` in CI (`CI` set) and `update` elsewhere.
    pub fn from_env() -> Mode {
        match std::env::var("INSTA_UPDATE").as_deref() {
            Ok("always") => Mode::Always,
            Ok("new") | Ok("auto") if !in_ci() => Mode::Update,
            Ok("no") => Mode::Check,
            _ if in_ci() => Mode::Check,
            _ => Mode::Update,
        }
    }

    /// The mode when `--snapshots` is not given: insta's rules for the builtin (the
    /// project's own regression suite); `check` for a live target unless the user named a
    /// snapshot folder, so that a live run writes nothing into the checkout unless asked.
    pub fn default_for(live: bool, dir_given: bool) -> Mode {
        match (live, dir_given) {
            (true, false) => Mode::Check,
            _ => Mode::from_env(),
        }
    }

    /// Whether this mode may write files.
    pub fn writes(self) -> bool {
        matches!(self, Mode::Update | Mode::Always)
    }
}

/// How a run treats snapshots.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Compare, write, or nothing.
    pub mode: Mode,
    /// Where `.snap` files live (`scenarios/__snapshots__`; a live target's in a subfolder
    /// named after its profile).
    pub dir: PathBuf,
    /// Snapshot every step with a response, not only those with `snapshot:`.
    pub all: bool,
}

/// Where snapshots live unless `--snapshot-dir` says otherwise.
pub const DEFAULT_DIR: &str = "scenarios/__snapshots__";

/// Whether the process runs in CI (insta's rule: `CI` set and not `false`/`0`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Headers kept in a snapshot, in this order.
pub const HEADERS: [&str; 6] = [
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

/// Identifiers minted per response.
const IDS: [&str; 3] = ["client_id", "jti", "registration_client_uri"];

/// The normalized, redacted text of a response.
pub fn normalize(
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

/// Where a scenario's snapshot lives: `<dir>/<scenario path below scenarios/, with `/`
/// as `__`>@<name>.snap`.
pub fn file_name(scenario: &str, name: &str) -> String {
    let p = scenario.replace('\\', "/");
    let p = p.trim_start_matches("./");
    let rel = match p.rfind("scenarios/") {
        Some(i) => &p[i + "scenarios/".len()..],
        None => p,
    };
    let rel = rel
        .strip_suffix(".yaml")
        .or_else(|| rel.strip_suffix(".yml"))
        .unwrap_or(rel);
    format!("{}@{}.snap", rel.replace('/', "__"), slug(name))
}

/// A file-name-safe form of a snapshot name.
pub fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The contents of a `.snap` file (after its header), or `None` when it has none.
pub fn read(path: &Path) -> std::io::Result<Option<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(contents(&text).to_string()))
}

/// The part of a `.snap` file's text after its `---` header.
pub fn contents(text: &str) -> &str {
    if let Some(rest) = text.strip_prefix("---\n") {
        if let Some(i) = rest.find("\n---\n") {
            return &rest[i + "\n---\n".len()..];
        }
    }
    text
}

/// The text of a `.snap` file in insta's format.
pub fn render(source: &str, expression: &str, content: &str) -> String {
    format!(
        "---\nsource: {source}\nexpression: {}\n---\n{}\n",
        serde_json::to_string(expression).unwrap_or_default(),
        content.trim_end()
    )
}

/// What a comparison found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Same as stored.
    Matched,
    /// Written as the stored snapshot (`Always`).
    Written,
    /// No stored snapshot; `pending` is the `.snap.new` written for review, if any.
    Missing {
        /// The file written for review.
        pending: Option<PathBuf>,
    },
    /// Different from the stored one.
    Changed {
        /// Unified diff, stored → new.
        diff: String,
        /// The file written for review.
        pending: Option<PathBuf>,
    },
}

/// Compares `content` with the stored snapshot at `path` and writes as `mode` says.
pub fn compare(
    path: &Path,
    mode: Mode,
    source: &str,
    expression: &str,
    content: &str,
) -> std::io::Result<Outcome> {
    let stored = read(path)?;
    let same = stored
        .as_deref()
        .is_some_and(|s| s.trim_end() == content.trim_end());
    let new_path = PathBuf::from(format!("{}.new", path.display()));
    if same {
        // A stale pending file for a snapshot that matches again is noise in a review.
        if mode.writes() && new_path.exists() {
            std::fs::remove_file(&new_path)?;
        }
        return Ok(Outcome::Matched);
    }
    let write = |p: &Path| -> std::io::Result<()> {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(p, render(source, expression, content))
    };
    match mode {
        Mode::Always => {
            write(path)?;
            if new_path.exists() {
                std::fs::remove_file(&new_path)?;
            }
            Ok(Outcome::Written)
        }
        Mode::Check | Mode::Off | Mode::Update => {
            let pending = if mode == Mode::Update {
                write(&new_path)?;
                Some(new_path)
            } else {
                None
            };
            Ok(match stored {
                None => Outcome::Missing { pending },
                Some(old) => Outcome::Changed {
                    diff: diff(&old, content),
                    pending,
                },
            })
        }
    }
}

/// A unified diff, old → new, with 3 lines of context.
pub fn diff(old: &str, new: &str) -> String {
    let old = format!("{}\n", old.trim_end());
    let new = format!("{}\n", new.trim_end());
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header("stored", "received")
        .to_string()
}

/// The file names of the snapshots `scenarios` produce (with `all`, also those of
/// `--snapshot-all`).
pub fn produced(
    scenarios: &[crate::scenario::Loaded],
    all: bool,
) -> std::collections::HashSet<String> {
    let mut out = std::collections::HashSet::new();
    for l in scenarios {
        for (i, step) in l.scenario.steps.iter().enumerate() {
            let name = match &step.snapshot {
                Some(s) => s.name().to_string(),
                None if all && step.action.responds() => format!("step-{:02}", i + 1),
                None => continue,
            };
            out.insert(file_name(&l.path, &name));
        }
    }
    out
}

/// The paths in `dir`; none when it does not exist.
fn entries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(d) => d.map(|e| e.map(|e| e.path())).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Every `.snap` (and `.snap.new`) file under `dir` whose name is not in `keep`.
pub fn unused(
    dir: &Path,
    keep: &std::collections::HashSet<String>,
) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in entries(dir)? {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let base = name.strip_suffix(".new").unwrap_or(&name);
        if base.ends_with(".snap") && !keep.contains(base) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Removes (or, on a dry run, lists) the snapshot files in `dir` and its live targets'
/// subfolders that no scenario produces any longer (`keep`, from [`produced`]); the files
/// concerned, or the error that stopped it with its path.
pub fn prune(
    dir: &Path,
    keep: &std::collections::HashSet<String>,
    dry_run: bool,
) -> Result<Vec<PathBuf>, (PathBuf, std::io::Error)> {
    let mut dirs = vec![dir.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    let mut out = Vec::new();
    for d in dirs {
        for f in unused(&d, keep).map_err(|e| (d.clone(), e))? {
            if !dry_run {
                std::fs::remove_file(&f).map_err(|e| (f.clone(), e))?;
            }
            out.push(f);
        }
    }
    Ok(out)
}

/// Renames every `.snap.new` under `dir` (and its subfolders) over its `.snap`.
pub fn accept(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in entries(dir)? {
        if p.is_dir() {
            out.extend(accept(&p)?);
        } else if let Some(target) = p.to_str().and_then(|s| s.strip_suffix(".new")) {
            if target.ends_with(".snap") {
                std::fs::rename(&p, target)?;
                out.push(PathBuf::from(target));
            }
        }
    }
    out.sort();
    Ok(out)
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
    fn names_follow_the_scenario_path() {
        assert_eq!(
            file_name("scenarios/device/slow_down.yaml", "first poll"),
            "device__slow_down@first_poll.snap"
        );
        assert_eq!(file_name("/abs/repo/scenarios/a.yml", "x"), "a@x.snap");
        assert_eq!(file_name("elsewhere/b.yaml", "x"), "elsewhere__b@x.snap");
    }

    #[test]
    fn compare_writes_only_as_the_mode_allows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a@x.snap");
        let new = dir.path().join("a@x.snap.new");
        assert_eq!(
            compare(&path, Mode::Check, "s.yaml", "x", "status: 200\n").expect("io"),
            Outcome::Missing { pending: None }
        );
        assert!(!path.exists() && !new.exists());
        let o = compare(&path, Mode::Update, "s.yaml", "x", "status: 200\n").expect("io");
        assert_eq!(
            o,
            Outcome::Missing {
                pending: Some(new.clone())
            }
        );
        assert!(!path.exists() && new.exists());
        assert_eq!(accept(dir.path()).expect("io"), vec![path.clone()]);
        assert_eq!(
            compare(&path, Mode::Check, "s.yaml", "x", "status: 200\n").expect("io"),
            Outcome::Matched
        );
        match compare(&path, Mode::Check, "s.yaml", "x", "status: 201\n").expect("io") {
            Outcome::Changed {
                diff,
                pending: None,
            } => {
                assert!(diff.contains("-status: 200\n+status: 201"), "{diff}")
            }
            other => panic!("{other:?}"),
        }
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            "---\nsource: s.yaml\nexpression: \"x\"\n---\nstatus: 200\n"
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
