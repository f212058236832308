//! Scenario files: the model ([`model`]), where each node stands ([`spans`]), variables
//! ([`vars`]), and loading with validation. Everything a user can get wrong in a file is
//! found here, before anything runs, and reported as `file:line:col: message` (exit 2).

pub mod model;
pub mod roles;
pub mod spans;
pub mod vars;

use model::{Assertion, Request, Scenario, Step};
use spans::{Loc, Seg, SpanIndex};
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A scenario file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// Where.
    pub loc: Loc,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.loc, self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// A parsed and validated scenario with its source and spans.
#[derive(Debug)]
pub struct Loaded {
    /// The file as named on the command line.
    pub path: Arc<str>,
    /// Its text, for diagnostics that quote the line.
    pub source: String,
    /// The scenario.
    pub scenario: Scenario,
    /// Node locations.
    pub spans: SpanIndex,
}

impl Loaded {
    /// What the scenario asks of the target by name: `secret.X`, `client.ROLE.FIELD`,
    /// `resource.NAME.FIELD`, `lifetime.KIND` (from its `${…}` references, its `auth:
    /// {role}` and its `endpoint: resource:NAME`), sorted, without repeats.
    pub fn target_references(&self) -> Vec<String> {
        let mut out: Vec<String> = vars::references(&self.source)
            .into_iter()
            .flat_map(|(expr, _)| {
                let mut names = vars::names_needed(&expr);
                if expr.starts_with("secret.") {
                    names.push(expr.clone());
                }
                names
            })
            .filter(|n| roles::provided_name(n).is_some())
            .collect();
        for r in self.scenario.requests() {
            let role = r
                .auth
                .as_ref()
                .and_then(|a| Some((a.role()?, a.client_and_secret().ok()?)));
            if let Some((role, (client, secret))) = role {
                // The role's fields that the request takes from it (not written beside it).
                for (field, given) in [("id", client), ("secret", secret)] {
                    if given.as_deref() == Some(format!("${{client.{role}.{field}}}").as_str()) {
                        out.push(format!("client.{role}.{field}"));
                    }
                }
            }
            if let Some(name) = r
                .endpoint
                .as_deref()
                .and_then(|e| e.strip_prefix("resource:"))
            {
                out.push(format!("resource.{name}.url"));
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The endpoint names the scenario sends requests to (`authorization` for a consent).
    pub fn endpoints_used(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .scenario
            .requests()
            .filter_map(|r| r.endpoint.as_deref())
            .filter(|e| ENDPOINTS.contains(e))
            .collect();
        if self.scenario.steps.iter().any(|st| st.consent.is_some()) {
            out.push("authorization");
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Variables the runner sets for every scenario: the target's base URL, its issuer, where
/// its RFC 8414 metadata should be, the contract in force (`rfc` or `noorle`), and where it
/// documents PKCE support ("" when its metadata is the way).
pub const RUN_VARS: &[&str] = &[
    "base_url",
    "issuer",
    "metadata_url",
    "contract",
    "pkce_documentation",
];

/// Endpoint names a request may use instead of a path.
pub const ENDPOINTS: &[&str] = &[
    "token",
    "device_authorization",
    "authorization",
    "revocation",
    "introspection",
    "registration",
    "metadata",
    "verification",
];

/// Reads and validates one file.
pub fn load(path: &Path) -> Result<Loaded, ScenarioError> {
    let name: Arc<str> = Arc::from(path.display().to_string());
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        loc: Loc {
            file: name.clone(),
            line: 1,
            col: 1,
        },
        message: format!("cannot read the file: {e}"),
    })?;
    load_str(name, text)
}

/// Validates scenario text; `name` is used in locations.
pub fn load_str(name: Arc<str>, text: String) -> Result<Loaded, ScenarioError> {
    let at = |line: usize, col: usize, message: String| ScenarioError {
        loc: Loc {
            file: name.clone(),
            line,
            col,
        },
        message,
    };
    if text.trim().is_empty() {
        return Err(at(
            1,
            1,
            "the file is empty; a scenario needs `name` and `steps`".into(),
        ));
    }
    let scenario: Scenario = serde_yaml::from_str(&text).map_err(|e| {
        let (line, col, msg) = spans::yaml_error(&e, &text);
        at(line, col, msg)
    })?;
    let spans = SpanIndex::new(name.clone(), &text);
    let loaded = Loaded {
        path: name,
        source: text,
        scenario,
        spans,
    };
    validate(&loaded)?;
    Ok(loaded)
}

fn err(l: &Loaded, path: &[Seg<'_>], message: impl Into<String>) -> ScenarioError {
    ScenarioError {
        loc: l.spans.loc(path),
        message: message.into(),
    }
}

fn validate(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    if s.steps.is_empty() {
        return Err(err(
            l,
            &[Seg::Key("steps")],
            "a scenario needs at least one step",
        ));
    }
    let mut defined: HashSet<String> = RUN_VARS.iter().map(|v| v.to_string()).collect();
    for (i, (name, value)) in s.vars.0.iter().enumerate() {
        // A reference to itself or to a later variable is a cycle or an ordering mistake:
        // vars are defined in order, each from the ones before it.
        for (expr, _) in vars::references(value) {
            for needed in vars::names_needed(&expr) {
                let later = s.vars.0[i..].iter().any(|(n, _)| *n == needed);
                if later && !defined.contains(&needed) {
                    let what = if needed == *name {
                        "refers to itself".to_string()
                    } else {
                        format!("refers to `{needed}`, which is defined after it")
                    };
                    return Err(err(
                        l,
                        &[Seg::Key("vars"), Seg::Index(i)],
                        format!("vars.{name}: {what} (vars are defined in order, each from the ones before it)"),
                    ));
                }
            }
        }
        check_refs(l, &[Seg::Key("vars")], value, &defined).map_err(|e| ScenarioError {
            message: format!("vars.{name}: {}", e.message),
            ..e
        })?;
        let _ = i;
        defined.insert(name.clone());
    }
    for path in s.snapshot_redact.keys() {
        if let Err(e) = serde_json_path::JsonPath::parse(path) {
            return Err(err(
                l,
                &[Seg::Key("snapshot_redact")],
                format!("snapshot_redact: `{path}` is not a JSONPath: {e}"),
            ));
        }
    }
    let mut snapshot_names = HashSet::new();
    for (i, step) in s.steps.iter().enumerate() {
        let base = [Seg::Key("steps"), Seg::Index(i)];
        let action = step.action().map_err(|m| err(l, &base, m))?;
        if let Some(c) = &step.if_ {
            check_condition(l, &[base[0], base[1], Seg::Key("if")], c, &defined)?;
        }
        match action {
            "request" => {
                if let Some(r) = &step.request {
                    check_request(l, &[base[0], base[1], Seg::Key("request")], r, &defined)?;
                }
            }
            "poll" => {
                if let Some(p) = &step.poll {
                    let here = [base[0], base[1], Seg::Key("poll")];
                    check_request(
                        l,
                        &[here[0], here[1], here[2], Seg::Key("request")],
                        &p.request,
                        &defined,
                    )?;
                    for v in [&p.interval, &p.expires_in, &p.user_code]
                        .into_iter()
                        .flatten()
                    {
                        check_refs(l, &here, v, &defined)?;
                    }
                    if (p.approve_after.is_some() || p.deny_after.is_some())
                        && p.user_code.is_none()
                    {
                        return Err(err(
                            l,
                            &here,
                            "approve_after and deny_after need `user_code`",
                        ));
                    }
                }
            }
            "approve" | "deny" => {
                let u = step.approve.as_ref().or(step.deny.as_ref());
                if let Some(u) = u {
                    check_refs(
                        l,
                        &[base[0], base[1], Seg::Key(action)],
                        &u.user_code,
                        &defined,
                    )?;
                }
            }
            "consent" => {
                if let Some(c) = &step.consent {
                    for (_, v) in &c.query.0 {
                        check_refs(
                            l,
                            &[base[0], base[1], Seg::Key("consent"), Seg::Key("query")],
                            v,
                            &defined,
                        )?;
                    }
                }
            }
            "advance_clock" => {
                if let Some(a) = &step.advance_clock {
                    check_refs(
                        l,
                        &[base[0], base[1], Seg::Key("advance_clock")],
                        &a.seconds,
                        &defined,
                    )?;
                }
            }
            _ => {}
        }
        if let Some(snap) = &step.snapshot {
            let here = [base[0], base[1], Seg::Key("snapshot")];
            if action == "advance_clock" {
                return Err(err(
                    l,
                    &here,
                    "snapshot: an advance_clock step has no response to keep",
                ));
            }
            if snap.name().trim().is_empty() {
                return Err(err(l, &here, "snapshot: the name is empty"));
            }
            let slug = crate::snapshot::slug(snap.name());
            if !snapshot_names.insert(slug) {
                return Err(err(
                    l,
                    &here,
                    format!(
                        "snapshot: the name `{}` is already used by an earlier step",
                        snap.name()
                    ),
                ));
            }
            for path in snap.redact().into_iter().flat_map(|m| m.keys()) {
                if let Err(e) = serde_json_path::JsonPath::parse(path) {
                    return Err(err(
                        l,
                        &here,
                        format!("snapshot.redact: `{path}` is not a JSONPath: {e}"),
                    ));
                }
            }
        }
        // The runner captures before it evaluates: a step's expectations may use its own
        // captures (never its request, which is sent before anything is captured).
        for c in &step.capture {
            defined.insert(c.name.clone());
        }
        for (j, a) in step.expect.iter().enumerate() {
            check_assertion(
                l,
                &[base[0], base[1], Seg::Key("expect"), Seg::Index(j)],
                a,
                &defined,
            )?;
        }
        if step.repeat == 0 {
            return Err(err(l, &base, "repeat must be at least 1"));
        }
        for (j, c) in step.capture.iter().enumerate() {
            if let model::Query::Regex(r) = &c.query {
                regex::Regex::new(r).map_err(|e| {
                    err(
                        l,
                        &[base[0], base[1], Seg::Key("capture"), Seg::Index(j)],
                        format!("capture `{}`: invalid regular expression: {e}", c.name),
                    )
                })?;
            }
            if let model::Query::Json(p) = &c.query {
                serde_json_path::JsonPath::parse(p).map_err(|e| {
                    err(
                        l,
                        &[base[0], base[1], Seg::Key("capture"), Seg::Index(j)],
                        format!("capture `{}`: invalid JSONPath `{p}`: {e}", c.name),
                    )
                })?;
            }
        }
        for c in &step.capture {
            defined.insert(c.name.clone());
        }
    }
    Ok(())
}

fn check_refs(
    l: &Loaded,
    path: &[Seg<'_>],
    s: &str,
    defined: &HashSet<String>,
) -> Result<(), ScenarioError> {
    for (expr, _) in vars::references(s) {
        for (f, given) in vars::calls(&expr) {
            if !vars::FUNCTIONS.contains(&f.as_str()) {
                return Err(err(
                    l,
                    path,
                    format!(
                        "unknown helper `{f}()` (helpers: {})",
                        vars::FUNCTIONS.join(", ")
                    ),
                ));
            }
            if let Some(want) = vars::arity(&f).filter(|w| *w != given) {
                return Err(err(
                    l,
                    path,
                    format!("helper `{f}` takes {want} argument(s), `{expr}` gives {given}"),
                ));
            }
        }
        for name in vars::names_needed(&expr) {
            if roles::provided_name(&name).is_some() {
                // Supplied by the target (a role's client, a resource, a lifetime): only
                // its shape can be checked here; a target without it SKIPS the scenario.
                roles::check_reference(&name).map_err(|m| err(l, path, m))?;
                continue;
            }
            if !defined.contains(&name) {
                return Err(err(
                    l,
                    path,
                    format!("undefined variable `{name}` (define it in `vars` or capture it in an earlier step)"),
                ));
            }
        }
    }
    Ok(())
}

fn check_yaml_refs(
    l: &Loaded,
    path: &[Seg<'_>],
    v: &serde_yaml::Value,
    defined: &HashSet<String>,
) -> Result<(), ScenarioError> {
    match v {
        serde_yaml::Value::String(s) => check_refs(l, path, s, defined),
        serde_yaml::Value::Sequence(items) => items
            .iter()
            .try_for_each(|i| check_yaml_refs(l, path, i, defined)),
        serde_yaml::Value::Mapping(m) => m.iter().try_for_each(|(k, v)| {
            check_yaml_refs(l, path, k, defined)?;
            check_yaml_refs(l, path, v, defined)
        }),
        _ => Ok(()),
    }
}

fn check_request(
    l: &Loaded,
    path: &[Seg<'_>],
    r: &Request,
    defined: &HashSet<String>,
) -> Result<(), ScenarioError> {
    match (&r.endpoint, &r.path) {
        (Some(_), Some(_)) => return Err(err(l, path, "give `endpoint` or `path`, not both")),
        (None, None) => {
            return Err(err(
                l,
                path,
                "a request needs `endpoint` (a name) or `path`",
            ))
        }
        (Some(e), None) => {
            let known = ENDPOINTS.contains(&e.as_str())
                || e.starts_with("api:/")
                || e.strip_prefix("resource:")
                    .is_some_and(|n| !n.is_empty() && !n.contains('/'));
            if !known {
                let mut p = path.to_vec();
                p.push(Seg::Key("endpoint"));
                return Err(err(
                    l,
                    &p,
                    format!(
                        "unknown endpoint `{e}` (known: {}, resource:NAME, api:/PATH)",
                        ENDPOINTS.join(", ")
                    ),
                ));
            }
        }
        (None, Some(p)) => check_refs(l, path, p, defined)?,
    }
    let bodies = [r.form.is_some(), r.json.is_some(), r.raw.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if bodies > 1 {
        return Err(err(
            l,
            path,
            "a request has at most one body: form, json or raw",
        ));
    }
    if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        .contains(&r.method.to_ascii_uppercase().as_str())
    {
        let mut p = path.to_vec();
        p.push(Seg::Key("method"));
        return Err(err(l, &p, format!("unknown method `{}`", r.method)));
    }
    for pairs in [Some(&r.query), Some(&r.headers), r.form.as_ref()]
        .into_iter()
        .flatten()
    {
        for (k, v) in &pairs.0 {
            check_refs(l, path, k, defined)?;
            check_refs(l, path, v, defined)?;
        }
    }
    if let Some(j) = &r.json {
        check_yaml_refs(l, path, j, defined)?;
    }
    if let Some(raw) = &r.raw {
        check_refs(l, path, &raw.body, defined)?;
    }
    if let Some(a) = &r.auth {
        let mut at = path.to_vec();
        at.push(Seg::Key("auth"));
        if let model::Auth::Bearer { token } = a {
            check_refs(l, &at, token, defined)?;
        } else {
            let (client, secret) = a.client_and_secret().map_err(|m| err(l, &at, m))?;
            if let Some(role) = a.role() {
                if roles::role(role).is_none() {
                    return Err(err(
                        l,
                        &at,
                        format!(
                            "auth: unknown client role `{role}` (roles: {})",
                            roles::ROLES
                                .iter()
                                .map(|r| r.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
            for f in [client, secret].into_iter().flatten() {
                check_refs(l, &at, &f, defined)?;
            }
        }
    }
    Ok(())
}

fn check_condition(
    l: &Loaded,
    path: &[Seg<'_>],
    c: &model::Condition,
    defined: &HashSet<String>,
) -> Result<(), ScenarioError> {
    if c.equals.is_none()
        && c.one_of.is_none()
        && c.not_equals.is_none()
        && c.greater_than.is_none()
    {
        return Err(err(
            l,
            path,
            "if: needs `equals`, `one_of`, `not_equals` or `greater_than`",
        ));
    }
    if !defined.contains(&c.var) && roles::provided_name(&c.var).is_none() {
        return Err(err(
            l,
            path,
            format!(
                "if: undefined variable `{}` (define it in `vars` or capture it in an earlier step)",
                c.var
            ),
        ));
    }
    for v in c
        .equals
        .iter()
        .chain(c.one_of.iter().flatten())
        .chain(c.not_equals.iter())
        .chain(c.greater_than.iter())
    {
        check_yaml_refs(l, path, v, defined)?;
    }
    Ok(())
}

fn check_assertion(
    l: &Loaded,
    path: &[Seg<'_>],
    a: &Assertion,
    defined: &HashSet<String>,
) -> Result<(), ScenarioError> {
    if let Some(c) = &a.if_ {
        let mut at = path.to_vec();
        at.push(Seg::Key("if"));
        check_condition(l, &at, c, defined)?;
    }
    if let Some(groups) = &a.any_of {
        if a.query().is_ok() {
            return Err(err(
                l,
                path,
                "an assertion with `any_of` has no query of its own: put each outcome in an alternative",
            ));
        }
        if groups.is_empty() || groups.iter().any(Vec::is_empty) {
            return Err(err(l, path, "any_of: every alternative needs an assertion"));
        }
        for (g, group) in groups.iter().enumerate() {
            for (k, inner) in group.iter().enumerate() {
                let mut at = path.to_vec();
                at.extend([Seg::Key("any_of"), Seg::Index(g), Seg::Index(k)]);
                if inner.requirement.is_some()
                    || inner.if_.is_some()
                    || inner.any_of.is_some()
                    || inner.level != model::Level::Must
                {
                    return Err(err(
                        l,
                        &at,
                        "any_of: an alternative's assertions take the requirement, level and `if` of the assertion that holds them",
                    ));
                }
                check_assertion(l, &at, inner, defined)?;
            }
        }
        return Ok(());
    }
    let q = a.query().map_err(|m| err(l, path, m))?;
    let predicates = [
        a.equals.is_some(),
        a.not_equals.is_some(),
        a.exists.is_some(),
        a.absent.is_some(),
        a.matches.is_some(),
        a.contains.is_some(),
        a.not_contains.is_some(),
        a.one_of.is_some(),
        a.type_.is_some(),
        a.greater_than.is_some(),
        a.less_than.is_some(),
        a.length.is_some(),
        a.scope_equals.is_some(),
        a.scope_lacks.is_some(),
    ];
    let n = predicates.iter().filter(|p| **p).count();
    if let Some(status) = &a.status {
        let ok = match status {
            serde_yaml::Value::Number(_) | serde_yaml::Value::String(_) => true,
            serde_yaml::Value::Sequence(s) => s.iter().all(|v| v.is_number() || v.is_string()),
            _ => false,
        };
        if !ok || n > 0 {
            return Err(err(
                l,
                path,
                "`status` takes a number or a list of numbers, and no other predicate",
            ));
        }
        if let serde_yaml::Value::String(s) = status {
            check_refs(l, path, s, defined)?;
        }
    } else if n == 0 {
        return Err(err(
            l,
            path,
            format!("assertion on `{q}` has no predicate (equals, not_equals, exists, absent, matches, contains, not_contains, one_of, type, greater_than, less_than, length, scope_equals, scope_lacks)"),
        ));
    }
    if let model::Query::Json(p) = &q {
        serde_json_path::JsonPath::parse(p)
            .map_err(|e| err(l, path, format!("invalid JSONPath `{p}`: {e}")))?;
    }
    if let Some(re) = &a.matches {
        regex::Regex::new(re)
            .map_err(|e| err(l, path, format!("invalid regular expression: {e}")))?;
        check_refs(l, path, re, defined)?;
    }
    for v in [&a.equals, &a.not_equals, &a.contains, &a.not_contains]
        .into_iter()
        .flatten()
    {
        check_yaml_refs(l, path, v, defined)?;
    }
    for s in [&a.scope_equals, &a.scope_lacks].into_iter().flatten() {
        check_refs(l, path, s, defined)?;
    }
    if let Some(list) = &a.one_of {
        for v in list {
            check_yaml_refs(l, path, v, defined)?;
        }
    }
    Ok(())
}

/// The scenario files under `paths` (files as given, folders searched for `*.yaml` and
/// `*.yml`, glob patterns such as `'scenarios/**/slow_*.yaml'` expanded), sorted, without
/// duplicates. A path or pattern that names nothing is an error, never an empty run.
pub fn discover(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let text = p.to_string_lossy();
        if text.contains(['*', '?', '[']) && !p.exists() {
            let matches: Vec<PathBuf> = glob::glob(&text)
                .map_err(|e| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{text}: {e}"))
                })?
                .filter_map(Result::ok)
                .collect();
            if matches.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{text}: no file matches"),
                ));
            }
            for m in matches {
                if m.is_dir() {
                    walk(&m, &mut out)?;
                } else {
                    out.push(m);
                }
            }
            continue;
        }
        if p.is_dir() {
            walk(p, &mut out)?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{}: no such file or folder", p.display()),
            ));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            // `load/` holds load profiles, `__snapshots__/` response snapshots.
            if !name.starts_with('.') && !name.starts_with("__") && name != "load" {
                walk(&p, out)?;
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            out.push(p);
        }
    }
    Ok(())
}

/// The step's display name.
pub fn step_name(step: &Step, index: usize) -> String {
    step.name
        .clone()
        .unwrap_or_else(|| format!("step {} ({})", index + 1, step.action().unwrap_or("?")))
}
