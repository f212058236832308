//! Scenario files: the model ([`model`]), where each node stands ([`spans`]), variables
//! ([`vars`]), and loading with validation. Everything a user can get wrong in a file is
//! found here, before anything runs, and reported as `file:line:col: message` (exit 2).

pub mod inputs;
pub mod model;
pub mod roles;
pub mod spans;
pub mod syntax;
pub mod template;
pub mod vars;
pub mod visit;

use crate::endpoint::Endpoint;
use model::{Action, Assertion, Request, Scenario, Step};
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
    /// `resource.NAME.FIELD`, `scope.ROLE`, `lifetime.KIND` (from its `${…}` references
    /// and its `auth: {role}`), sorted, without repeats. A step's `endpoint:
    /// resource:NAME` is not among them: that step alone is SKIPPED without the resource.
    pub(crate) fn target_references(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        visit::scenario_templates(&self.scenario, &mut |_, _, t| {
            for e in t.exprs() {
                let (mut names, mut secrets) = (Vec::new(), Vec::new());
                e.names_needed(&mut names);
                e.secrets(&mut secrets);
                out.extend(names.into_iter().map(str::to_string));
                out.extend(secrets.into_iter().map(|n| format!("secret.{n}")));
            }
        });
        // A request's `auth: {role}` takes the role's fields without writing them.
        for r in self.scenario.requests() {
            if let Some(Ok((client, secret))) = r.auth.as_ref().map(model::Auth::client_and_secret)
            {
                for t in [client, secret].into_iter().flatten() {
                    out.extend(t.names_needed().into_iter().map(str::to_string));
                }
            }
            // `endpoint: resource:NAME` is not asked of the target here: only the step that
            // calls it is SKIPPED where the target maps no such resource.
        }
        out.retain(|n| roles::provided_name(n).is_some());
        out.sort();
        out.dedup();
        out
    }

    /// The server endpoints the scenario sends requests to (`authorization` for a consent).
    pub(crate) fn endpoints_used(&self) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = self
            .scenario
            .requests()
            .filter_map(|r| r.to.endpoint())
            .collect();
        if self
            .scenario
            .steps
            .iter()
            .any(|st| matches!(st.action, Action::Consent(_)))
        {
            out.push(Endpoint::Authorization);
        }
        out.sort_unstable_by_key(|e| e.name());
        out.dedup();
        out
    }
}

/// Variables the runner sets for every scenario: the target's base URL, its issuer, where
/// its RFC 8414 metadata should be, its token and PAR endpoints' URLs, the contract in
/// force (`rfc` or `noorle`), and where it documents PKCE support ("" when its metadata is
/// the way).
pub(crate) const RUN_VARS: &[&str] = &[
    "base_url",
    "issuer",
    "metadata_url",
    "token_endpoint",
    "par_endpoint",
    "approval_url",
    "contract",
    "pkce_documentation",
    "dpop_jkt",
];

/// Reads and validates one file.
pub fn load(path: &Path) -> Result<Loaded, ScenarioError> {
    let (name, text) = read(path)?;
    load_str(name, text)
}

/// The text of the scenario file at `path` and the name its locations carry.
pub fn read(path: &Path) -> Result<(Arc<str>, String), ScenarioError> {
    let name: Arc<str> = Arc::from(path.display().to_string());
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((name, text)),
        Err(e) => Err(ScenarioError {
            loc: Loc {
                file: name,
                line: 1,
                col: 1,
            },
            message: format!("cannot read the file: {e}"),
        }),
    }
}

/// `text` deserialized with serde_yaml, its errors placed in the file `name`; an empty
/// file is told what it `needs`.
pub fn parse<T: serde::de::DeserializeOwned>(
    name: &Arc<str>,
    text: &str,
    needs: &str,
) -> Result<T, ScenarioError> {
    let at = |line: usize, col: usize, message: String| ScenarioError {
        loc: Loc {
            file: name.clone(),
            line,
            col,
        },
        message,
    };
    if text.trim().is_empty() {
        return Err(at(1, 1, format!("the file is empty; {needs}")));
    }
    serde_yaml::from_str(text).map_err(|e| {
        let (line, col, msg) = spans::yaml_error(&e, text);
        at(line, col, msg)
    })
}

/// Validates scenario text; `name` is used in locations.
pub fn load_str(name: Arc<str>, text: String) -> Result<Loaded, ScenarioError> {
    load_str_with(name, text, &inputs::Inputs::default())
}

/// [`load_str`], with the variables given from outside (`--var`...) defined.
pub fn load_str_with(
    name: Arc<str>,
    text: String,
    given: &inputs::Inputs,
) -> Result<Loaded, ScenarioError> {
    let doc: syntax::ScenarioDoc = parse(&name, &text, "a scenario needs `name` and `steps`")?;
    let spans = SpanIndex::new(name.clone(), &text);
    let scenario = syntax::lower(doc).map_err(|b| ScenarioError {
        loc: spans.loc(&b.path),
        message: b.message,
    })?;
    let loaded = Loaded {
        path: name,
        source: text,
        scenario,
        spans,
    };
    validate(&loaded, given)?;
    Ok(loaded)
}

fn err(l: &Loaded, path: &[Seg<'_>], message: impl Into<String>) -> ScenarioError {
    ScenarioError {
        loc: l.spans.loc(path),
        message: message.into(),
    }
}

fn validate(l: &Loaded, given: &inputs::Inputs) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let mut defined: HashSet<String> = RUN_VARS.iter().map(|v| v.to_string()).collect();
    defined.extend(given.iter().map(|(name, _)| name.to_string()));
    for (i, (name, value)) in s.vars.0.iter().enumerate() {
        // A reference to itself or to a later variable is a cycle or an ordering mistake:
        // vars are defined in order, each from the ones before it.
        let name = name.as_str();
        for needed in value.names_needed() {
            {
                let later = s.vars.0[i..].iter().any(|(n, _)| n.as_str() == needed);
                if later && !defined.contains(needed) {
                    let what = if needed == name {
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
        defined.insert(name.to_string());
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
        check_step(l, &base, step, &mut defined, &mut snapshot_names)?;
    }
    Ok(())
}

/// One step: every interpolated text against the variables defined by then (the step's
/// own captures count for its assertions, never for its action), then what only this
/// step can get wrong. Adds the step's captures to `defined`.
fn check_step<'a>(
    l: &Loaded,
    base: &[Seg<'a>],
    step: &'a Step,
    defined: &mut HashSet<String>,
    snapshot_names: &mut HashSet<String>,
) -> Result<(), ScenarioError> {
    let at = |rel: &[Seg<'a>]| -> Vec<Seg<'a>> { base.iter().chain(rel).copied().collect() };
    let mut texts = Vec::new();
    visit::step_templates(step, &mut |path, stage, text| {
        texts.push((path.to_vec(), stage, text));
    });
    let mut after = defined.clone();
    after.extend(step.capture.iter().map(|c| c.name.clone()));
    // A client assertion kept with `save_as` is defined for the steps after this one.
    let saved = step
        .action
        .request()
        .and_then(|r| r.auth.as_ref())
        .and_then(|a| match a {
            model::Auth::PrivateKeyJwt(c) | model::Auth::ClientSecretJwt(c) => c.save_as.clone(),
            _ => None,
        });
    after.extend(saved);
    // So is a DPoP proof kept with `save_as`.
    let proof = step
        .action
        .request()
        .and_then(|r| r.dpop.as_ref())
        .and_then(|d| d.save_as.clone());
    after.extend(proof);
    // An `each` binds its variable for its request alone.
    let mut bound = defined.clone();
    if let Action::Each(e) = &step.action {
        if !bound.insert(e.bind.clone()) {
            return Err(err(
                l,
                &at(&[Seg::Key("each"), Seg::Key("as")]),
                format!("each: `as`: `{}` is a variable already", e.bind),
            ));
        }
    }
    let in_each_request =
        |path: &[Seg<'_>]| matches!(path, [Seg::Key("each"), Seg::Key("request"), ..]);
    for (path, stage, text) in &texts {
        let known = match stage {
            visit::Stage::BeforeCaptures if in_each_request(path) => &bound,
            visit::Stage::BeforeCaptures => &*defined,
            visit::Stage::AfterCaptures => &after,
        };
        check_refs(l, &at(path), text, known)?;
    }
    if let Some(c) = &step.if_ {
        check_condition(l, &at(&[Seg::Key("if")]), c, defined)?;
    }
    if let Some(r) = step.action.request() {
        let key = match step.action {
            Action::Poll(_) => vec![Seg::Key("poll"), Seg::Key("request")],
            Action::Race(_) => vec![Seg::Key("race"), Seg::Key("request")],
            Action::Each(_) => vec![Seg::Key("each"), Seg::Key("request")],
            _ => vec![Seg::Key("request")],
        };
        check_request(l, &at(&key), r)?;
    }
    if let Some(snap) = &step.snapshot {
        check_snapshot(l, &at(&[Seg::Key("snapshot")]), step, snap, snapshot_names)?;
    }
    for (j, c) in step.capture.iter().enumerate() {
        let here = at(&[Seg::Key("capture"), Seg::Index(j)]);
        check_query(l, &here, &c.query).map_err(|e| ScenarioError {
            message: format!("capture `{}`: {}", c.name, e.message),
            ..e
        })?;
    }
    for (j, a) in step.expect.iter().enumerate() {
        check_assertion(l, &at(&[Seg::Key("expect"), Seg::Index(j)]), a, &after)?;
    }
    *defined = after;
    Ok(())
}

fn check_snapshot(
    l: &Loaded,
    here: &[Seg<'_>],
    step: &Step,
    snap: &model::SnapshotSpec,
    names: &mut HashSet<String>,
) -> Result<(), ScenarioError> {
    if !step.action.responds() {
        return Err(err(
            l,
            here,
            format!(
                "snapshot: the step's action (`{}`) has no response to keep",
                step.action.name()
            ),
        ));
    }
    if snap.name().trim().is_empty() {
        return Err(err(l, here, "snapshot: the name is empty"));
    }
    if !names.insert(slug(snap.name())) {
        return Err(err(
            l,
            here,
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
                here,
                format!("snapshot.redact: `{path}` is not a JSONPath: {e}"),
            ));
        }
    }
    Ok(())
}

/// A query's own text: a JSONPath or a regular expression that does not parse.
fn check_query(l: &Loaded, here: &[Seg<'_>], q: &model::Query) -> Result<(), ScenarioError> {
    match q {
        model::Query::Json(p) => serde_json_path::JsonPath::parse(p)
            .map(|_| ())
            .map_err(|e| err(l, here, format!("invalid JSONPath `{p}`: {e}"))),
        model::Query::Regex(r) => regex::Regex::new(r)
            .map(|_| ())
            .map_err(|e| err(l, here, format!("invalid regular expression: {e}"))),
        _ => Ok(()),
    }
}

fn check_refs(
    l: &Loaded,
    path: &[Seg<'_>],
    t: &template::Template,
    defined: &HashSet<String>,
) -> Result<(), ScenarioError> {
    for name in t.names_needed() {
        if roles::provided_name(name).is_some() {
            // Supplied by the target (a role's client, a resource, a lifetime): only its
            // shape can be checked here; a target without it SKIPS the scenario.
            roles::check_reference(name).map_err(|m| err(l, path, m))?;
            continue;
        }
        if !defined.contains(name) {
            return Err(err(
                l,
                path,
                format!("undefined variable `{name}` (define it in `vars`, capture it in an earlier step, or give it with --var, --vars-file, --secrets-file or {}{name})", inputs::ENV_PREFIX),
            ));
        }
    }
    Ok(())
}

/// A signed JWT's `claims:` and `header:` edits (client assertions, DPoP proofs) are
/// mappings of names to values.
fn edits_are_maps(
    l: &Loaded,
    at: &[Seg<'_>],
    edits: [(&'static str, &Option<crate::scenario::template::Tree>); 2],
) -> Result<(), ScenarioError> {
    for (field, tree) in edits {
        if tree.as_ref().is_some_and(|t| !t.is_map()) {
            let mut here = at.to_vec();
            here.push(Seg::Key(field));
            return Err(err(
                l,
                &here,
                format!("`{field}` is a mapping of names to values (`null` leaves one out)"),
            ));
        }
    }
    Ok(())
}

fn check_request(l: &Loaded, path: &[Seg<'_>], r: &Request) -> Result<(), ScenarioError> {
    if let Some(a) = &r.auth {
        let mut at = path.to_vec();
        at.push(Seg::Key("auth"));
        a.client_and_secret().map_err(|m| err(l, &at, m))?;
        // Credentials that go in the body need a body they can go in: a `raw:` body is
        // sent as written, so they would be dropped without a word.
        let in_body = matches!(
            a,
            model::Auth::Post { .. }
                | model::Auth::None { .. }
                | model::Auth::PrivateKeyJwt(_)
                | model::Auth::ClientSecretJwt(_)
        );
        if let model::Auth::PrivateKeyJwt(c) | model::Auth::ClientSecretJwt(c) = a {
            edits_are_maps(l, &at, [("claims", &c.claims), ("header", &c.header)])?;
            if let Some(name) = &c.save_as {
                if !vars::is_sensitive_name(name) {
                    let mut here = at.clone();
                    here.push(Seg::Key("save_as"));
                    return Err(err(l, &here, format!("`save_as: {name}`: a saved assertion is a credential, so its name must say so (end it in `assertion`, e.g. `{name}_assertion`): reports redact such variables")));
                }
            }
        }
        let no_room = match &r.body {
            Some(model::Body::Raw(_)) => true,
            Some(model::Body::Json(v)) => !v.is_map(),
            _ => false,
        };
        if in_body && no_room {
            return Err(err(
                l,
                &at,
                "this auth puts the client's credentials in the body, and this body has no room for them (a `raw:` body is sent as written; a `json:` body that is not an object has no members): write `client_id` (and `client_secret`) into it and drop `auth`, or use `form:`, a `json:` object or `body:`".to_string(),
            ));
        }
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
    }
    if let Some(d) = &r.dpop {
        let mut at = path.to_vec();
        at.push(Seg::Key("dpop"));
        edits_are_maps(l, &at, [("claims", &d.claims), ("header", &d.header)])?;
        if let Some(name) = &d.save_as {
            if !vars::is_sensitive_name(name) {
                let mut here = at.clone();
                here.push(Seg::Key("save_as"));
                return Err(err(l, &here, format!("`save_as: {name}`: a saved DPoP proof is a credential, so its name must say so (end it in `proof`, e.g. `{name}_proof`): reports redact such variables")));
            }
        }
        if matches!(d.sign, Some(model::SignWith::HmacPublicPem)) {
            let mut here = at.clone();
            here.push(Seg::Key("sign"));
            return Err(err(
                l,
                &here,
                "a DPoP proof is signed with its key, `none` or `hmac_public_jwk`".to_string(),
            ));
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
        && c.none_of.is_none()
        && c.greater_than.is_none()
    {
        return Err(err(
            l,
            path,
            "if: needs `equals`, `one_of`, `not_equals`, `none_of` or `greater_than`",
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
    Ok(())
}

/// An assertion's conditions, queries and regular expressions (its interpolated texts are
/// checked with the rest of the step's).
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
    match &a.check {
        model::Check::AnyOf(groups) => {
            for (g, group) in groups.iter().enumerate() {
                for (k, inner) in group.iter().enumerate() {
                    let mut at = path.to_vec();
                    at.extend([Seg::Key("any_of"), Seg::Index(g), Seg::Index(k)]);
                    check_assertion(l, &at, inner, defined)?;
                }
            }
        }
        model::Check::Value { query, predicates } => {
            check_query(l, path, query)?;
            for p in predicates {
                if let model::Predicate::Matches(re) = p {
                    // A pattern with placeholders is checked once interpolated.
                    if re.exprs().next().is_some() {
                        continue;
                    }
                    regex::Regex::new(re.as_str())
                        .map_err(|e| err(l, path, format!("invalid regular expression: {e}")))?;
                }
            }
        }
    }
    Ok(())
}

/// Which scenarios a run takes: those with one of `tags`, citing one of `requirements`
/// (the scenario's or a step's); an empty list selects all.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selection {
    /// `--tag`.
    pub tags: Vec<String>,
    /// `--requirement`.
    pub requirements: Vec<String>,
}

impl Selection {
    /// Whether `s` is selected.
    pub(crate) fn selects(&self, s: &Scenario) -> bool {
        let tagged = self.tags.is_empty() || s.tags.iter().any(|t| self.tags.contains(t));
        let cites = |ids: &[String]| ids.iter().any(|r| self.requirements.contains(r));
        let cited = self.requirements.is_empty()
            || cites(&s.requirements)
            || s.steps.iter().any(|st| cites(&st.requirements));
        tagged && cited
    }
}

/// Why a set of scenario files could not be used: a path that names nothing, or files
/// that do not load (all of them, each with its place).
#[derive(Debug)]
pub(crate) enum LoadAllError {
    /// A path or pattern names no file (usage).
    Paths(std::io::Error),
    /// These files are bad (exit 2; nothing runs).
    Files(Vec<ScenarioError>),
}

/// Every scenario under `paths` (`scenarios/` when empty), all loaded before any runs.
pub(crate) fn load_all(
    paths: &[PathBuf],
    given: &inputs::Inputs,
) -> Result<Vec<Loaded>, LoadAllError> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths.to_vec()
    };
    let files = discover(&paths).map_err(LoadAllError::Paths)?;
    let mut loaded = Vec::new();
    let mut bad = Vec::new();
    for f in &files {
        match read(f).and_then(|(name, text)| load_str_with(name, text, given)) {
            Ok(l) => loaded.push(l),
            Err(e) => bad.push(e),
        }
    }
    if bad.is_empty() {
        Ok(loaded)
    } else {
        Err(LoadAllError::Files(bad))
    }
}

/// The scenario files under `paths` (files as given, folders searched for `*.yaml` and
/// `*.yml`, glob patterns such as `'scenarios/**/slow_*.yaml'` expanded), sorted, without
/// duplicates. A path or pattern that names nothing is an error, never an empty run. Folders
/// that hold other files (see [`searched`]) are left out of a search and of a pattern's
/// wildcards, never when named.
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
                .filter(|m| within_searched(p, m))
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

/// Whether a search goes into the folder `name`: not into `load/` (load profiles),
/// `clients/` (client scenarios, `oauth-harness client`), `__snapshots__/` (response
/// snapshots) or hidden folders.
fn searched(name: &str) -> bool {
    !name.starts_with('.') && !name.starts_with("__") && name != "load" && name != "clients"
}

/// Whether `found`, a match of `pattern`, reaches its folder through searched folders only
/// from where the pattern's wildcards begin (`scenarios/**/slow_*.yaml` does not reach into
/// `scenarios/clients/`; `scenarios/clients/*.yaml` names it).
fn within_searched(pattern: &Path, found: &Path) -> bool {
    let literal = pattern
        .components()
        .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '[']))
        .count();
    let folders: Vec<_> = found.components().skip(literal).collect();
    folders
        .iter()
        .take(folders.len().saturating_sub(1))
        .all(|c| searched(&c.as_os_str().to_string_lossy()))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if searched(name) {
                walk(&p, out)?;
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            out.push(p);
        }
    }
    Ok(())
}

/// The step's display name.
pub(crate) fn step_name(step: &Step, index: usize) -> String {
    step.name
        .clone()
        .unwrap_or_else(|| format!("step {} ({})", index + 1, step.action.name()))
}

/// A file-name-safe form of a snapshot name.
pub(crate) fn slug(name: &str) -> String {
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
