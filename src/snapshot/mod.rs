//! Response snapshots: a step's response normalized (status, chosen headers, the redirect
//! parsed, the JSON body), with dynamic values replaced by placeholders that keep their
//! shape, stored in insta's `.snap` format so that `cargo insta review` works on them.
//!
//! Placeholders: the RFC fields that carry credentials or instants become
//! `[access_token: base64url, 32-63 chars]`, `[user_code: ****-****]`, `[timestamp]`...;
//! a scenario adds its own (`JSONPath → placeholder`); then every secret the run learned
//! (the scenario's `Redactor`) is blanked from the whole text. A changed shape (a token
//! that became a JWT, a user code without its dash, a missing member) still shows.

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
    pub(crate) fn from_env() -> Mode {
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
    pub(crate) fn default_for(live: bool, dir_given: bool) -> Mode {
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
pub(crate) const DEFAULT_DIR: &str = "scenarios/__snapshots__";

/// Whether the process runs in CI (insta's rule: `CI` set and not `false`/`0`).
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

mod normalize;

pub(crate) use normalize::normalize;

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
    format!(
        "{}@{}.snap",
        rel.replace('/', "__"),
        crate::scenario::slug(name)
    )
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
pub(crate) fn produced(
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
pub(crate) fn unused(
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
}
