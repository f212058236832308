//! Mutation testing with the reference server's fault switches (`oauth-harness mutate`):
//! the suite must pass on the clean server with no failure, warning or info, and each
//! fault must be caught at the level of the row it breaks.
//!
//! A kill is defined by that row (conformance matrix §0):
//! - a fault that breaks a MUST row is killed by a FAILED assertion;
//! - one that breaks SHOULD rows only, by a WARNING (a run with it exits 0: CI against such
//!   a server stays green, so the kill is of another kind and is counted as such);
//! - one that takes away an optional behaviour a MAY row describes is a *variation*: the
//!   suite reports it (INFO) but it is no kill;
//! - an ERROR is never a kill: a step that could not run judged no row (the scenario must
//!   capture after asserting, or skip what depends on a value it did not get).
//!
//! A fault caught below its row's level (only a WARNING for a MUST fault) is `weak`; one
//! not caught at all survives. The matrix is also what the ratchet in
//! `tests/blackbox/mutation.rs` snapshots, a row per fault.

use crate::runner::result::{RunResult, ScenarioResult, Status};
use crate::runner::target::TargetSpec;
use crate::runner::{run, RunOptions};
use crate::scenario::model::Level;
use crate::scenario::Loaded;
use crate::server::faults::Fault;
use serde::Serialize;
use std::sync::Arc;

/// How the suite saw a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Caught at the level of the row it breaks (FAILED for MUST, WARNING for SHOULD).
    Killed,
    /// Caught, but only below that level (a WARNING for a MUST row).
    Weak,
    /// An optional behaviour taken away, reported as INFO: no kill, and none expected.
    Variation,
    /// Not caught: no assertion deviated (ERRORs do not count).
    Survived,
    /// A variation the suite must pass with, and did.
    Tolerated,
    /// A variation the suite must pass with, and did not: the harness is too strict.
    NotTolerated,
}

impl Outcome {
    fn text(self) -> &'static str {
        match self {
            Outcome::Killed => "killed",
            Outcome::Weak => "WEAK (caught below its row's level)",
            Outcome::Variation => "variation (MAY row: INFO)",
            Outcome::Survived => "SURVIVED",
            Outcome::Tolerated => "tolerated (as it must be)",
            Outcome::NotTolerated => "NOT TOLERATED (the harness is too strict)",
        }
    }
}

/// One fault's row.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRow {
    /// The switch.
    pub fault: String,
    /// Requirement ids it breaks.
    pub breaks: Vec<String>,
    /// The verdict that kills it: FAILED if it breaks a MUST row, WARNING if its worst row
    /// is a SHOULD, INFO if it only takes away what a MAY row allows.
    pub expected: Status,
    /// The worst verdict of any assertion with the fault on (FAILED, WARNING or INFO).
    pub caught: Option<Status>,
    /// The rows of the assertions that deviated at that verdict.
    pub caught_rows: Vec<String>,
    /// The scenario files with a deviating assertion.
    pub caught_by: Vec<String>,
    /// The scenario files that ended in ERROR (reported; never a kill).
    pub errored: Vec<String>,
    /// Whether a deviating assertion cites a row the fault breaks.
    pub cited: bool,
    /// The outcome.
    pub outcome: Outcome,
}

/// The whole matrix.
#[derive(Debug, Clone, Serialize)]
pub struct KillMatrix {
    /// The clean run's verdict and totals.
    pub clean: String,
    /// Whether the clean run passed with no failure, warning, info or error.
    pub clean_ok: bool,
    /// A row per fault, in the order given.
    pub rows: Vec<FaultRow>,
    /// Per scenario file: the faults it catches.
    pub kills: Vec<(String, Vec<String>)>,
    /// Faults whose run could not finish (a panic in the harness): never a shorter matrix.
    pub failed_runs: Vec<String>,
}

impl KillMatrix {
    fn with(&self, o: Outcome) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|r| r.outcome == o)
            .map(|r| r.fault.as_str())
            .collect()
    }

    /// Faults no assertion catches.
    pub fn survivors(&self) -> Vec<&str> {
        self.with(Outcome::Survived)
    }

    /// Faults caught below their row's level.
    pub fn weak(&self) -> Vec<&str> {
        self.with(Outcome::Weak)
    }

    /// Tolerated variations that nevertheless broke a scenario: the harness is too strict.
    pub fn intolerant(&self) -> Vec<&str> {
        self.with(Outcome::NotTolerated)
    }

    /// Whether everything holds: the clean run clean, every run finished, every fault
    /// killed at its level (or reported as the variation it is), variations tolerated.
    pub fn ok(&self) -> bool {
        self.clean_ok
            && self.failed_runs.is_empty()
            && self.survivors().is_empty()
            && self.weak().is_empty()
            && self.intolerant().is_empty()
    }

    /// Scenarios that catch no fault.
    pub fn idle_scenarios(&self) -> Vec<&str> {
        self.kills
            .iter()
            .filter(|(_, k)| k.is_empty())
            .map(|(f, _)| f.as_str())
            .collect()
    }

    /// The counts by kind, as the README quotes them.
    pub fn counts(&self) -> String {
        let n = |o: Outcome| self.with(o).len();
        let by = |s: Status| {
            self.rows
                .iter()
                .filter(|r| r.outcome == Outcome::Killed && r.caught == Some(s))
                .count()
        };
        format!(
            "{} faults: {} killed ({} by a FAILED MUST row, {} by a WARNING on SHOULD rows), {} variations reported as INFO, {} weak, {} survived; {} variations tolerated, {} not",
            self.rows.len(),
            n(Outcome::Killed),
            by(Status::Failed),
            by(Status::Warning),
            n(Outcome::Variation),
            n(Outcome::Weak),
            n(Outcome::Survived),
            n(Outcome::Tolerated),
            n(Outcome::NotTolerated),
        )
    }
}

/// The verdict that kills a fault breaking `ids`: that of its highest row about the
/// server (rows about the client side, such as CLIENT-18, say how the harness copes).
fn expected(ids: &[&str]) -> Status {
    let rows = crate::coverage::requirements();
    let level = ids
        .iter()
        .filter_map(|id| rows.iter().find(|r| r.id == *id))
        .filter(|r| r.scope != "harness")
        .filter_map(|r| Level::of_row(&r.level))
        .map(|l| match l {
            Level::Must => Status::Failed,
            Level::Should => Status::Warning,
            Level::May => Status::Info,
        })
        .max();
    level.unwrap_or(Status::Failed)
}

fn row(f: Fault, r: &RunResult) -> FaultRow {
    let ids = f.requirements();
    let deviates = |s: Status| matches!(s, Status::Failed | Status::Warning | Status::Info);
    let assertions = |s: &ScenarioResult| {
        s.steps
            .iter()
            .flat_map(|st| &st.assertions)
            .filter(|a| deviates(a.status))
            .cloned()
            .collect::<Vec<_>>()
    };
    let caught = r
        .scenarios
        .iter()
        .flat_map(assertions)
        .map(|a| a.status)
        .max();
    let mut caught_rows: Vec<String> = r
        .scenarios
        .iter()
        .flat_map(assertions)
        .filter(|a| Some(a.status) == caught)
        .filter_map(|a| a.requirement)
        .collect();
    caught_rows.sort();
    caught_rows.dedup();
    let caught_by: Vec<String> = r
        .scenarios
        .iter()
        .filter(|s| !assertions(s).is_empty())
        .map(|s| s.file.clone())
        .collect();
    let errored = r
        .scenarios
        .iter()
        .filter(|s| s.status == Status::Error)
        .map(|s| s.file.clone())
        .collect();
    let cited = r
        .scenarios
        .iter()
        .flat_map(assertions)
        .any(|a| a.requirement.as_deref().is_some_and(|id| ids.contains(&id)));
    let expected = expected(ids);
    let outcome = match (f.must_be_tolerated(), caught) {
        (true, None) => Outcome::Tolerated,
        (true, Some(_)) => Outcome::NotTolerated,
        (false, None) => Outcome::Survived,
        (false, Some(_)) if expected == Status::Info => Outcome::Variation,
        (false, Some(c)) if c >= expected => Outcome::Killed,
        (false, Some(_)) => Outcome::Weak,
    };
    FaultRow {
        fault: f.name(),
        breaks: ids.iter().map(|s| s.to_string()).collect(),
        expected,
        caught,
        caught_rows,
        caught_by,
        errored,
        cited,
        outcome,
    }
}

/// Runs the suite clean and under every fault (`jobs` runs at once).
pub async fn kill_matrix(scenarios: Vec<Arc<Loaded>>, faults: &[Fault], jobs: usize) -> KillMatrix {
    let opts = |faults: &[Fault]| RunOptions {
        target: TargetSpec::Builtin {
            faults: faults.iter().copied().collect(),
        },
        jobs: 2,
        verbose: false,
        expect: None,
        snapshots: None,
        person: crate::runner::target::Person::nobody(),
        given: Default::default(),
    };
    let clean: RunResult = run(scenarios.clone(), &opts(&[])).await;
    let sem = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, f) in faults.iter().copied().enumerate() {
        let (sem, sc) = (sem.clone(), scenarios.clone());
        let o = opts(&[f]);
        set.spawn(async move {
            let _p = sem.acquire_owned().await;
            (i, f, run(sc, &o).await)
        });
    }
    let mut rows: Vec<Option<FaultRow>> = vec![None; faults.len()];
    let mut failed_runs = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, f, r)) => rows[i] = Some(row(f, &r)),
            Err(e) => failed_runs.push(format!("a fault's run did not finish: {e}")),
        }
    }
    for (i, r) in rows.iter().enumerate() {
        if r.is_none() {
            failed_runs.push(faults[i].name());
        }
    }
    let rows: Vec<FaultRow> = rows.into_iter().flatten().collect();
    let kills = clean
        .scenarios
        .iter()
        .map(|s| {
            let k = rows
                .iter()
                .filter(|r| r.caught_by.contains(&s.file))
                .map(|r| r.fault.clone())
                .collect();
            (s.file.clone(), k)
        })
        .collect();
    KillMatrix {
        clean_ok: clean.status == Status::Passed
            && clean.assertion_counts.warning == 0
            && clean.assertion_counts.info == 0
            && clean.counts.error == 0,
        clean: clean.totals(),
        rows,
        kills,
        failed_runs,
    }
}

/// The matrix as text: a row per fault with its expected and observed kill kinds, the rows
/// that caught it and where.
pub fn render(m: &KillMatrix) -> String {
    let mut out = format!(
        "clean server: {}{}\n\n",
        m.clean,
        if m.clean_ok {
            ""
        } else {
            "  <- must pass with no failure, warning, info or error"
        }
    );
    let w = m.rows.iter().map(|r| r.fault.len()).max().unwrap_or(5);
    out.push_str(&format!(
        "{:<w$}  {:<5}  {:<5}  {:<34}  {}\n",
        "fault", "needs", "seen", "outcome", "caught by (rows; scenarios)"
    ));
    for r in &m.rows {
        let seen = r.caught.map(|k| k.label()).unwrap_or("-");
        let mut by = if r.caught_rows.is_empty() {
            String::new()
        } else {
            format!("{}; ", r.caught_rows.join(", "))
        };
        by.push_str(&r.caught_by.join(", "));
        if !r.cited && r.caught.is_some() {
            by.push_str(" (no row it breaks)");
        }
        if !r.errored.is_empty() {
            by.push_str(&format!(" [ERROR, not counted: {}]", r.errored.join(", ")));
        }
        out.push_str(&format!(
            "{:<w$}  {:<5}  {:<5}  {:<34}  {by}\n",
            r.fault,
            r.expected.label(),
            seen,
            r.outcome.text(),
        ));
    }
    let active = m.kills.len() - m.idle_scenarios().len();
    out.push_str(&format!(
        "\n{}; {active} of {} scenarios catch at least one fault\n",
        m.counts(),
        m.kills.len()
    ));
    for s in m.idle_scenarios() {
        out.push_str(&format!("scenario catches no fault: {s}\n"));
    }
    for f in &m.failed_runs {
        out.push_str(&format!("run failed: {f}\n"));
    }
    out
}

/// One line per fault — `fault: outcome at KIND (rows)` — for the ratchet's snapshot.
pub fn summary(m: &KillMatrix) -> String {
    m.rows
        .iter()
        .map(|r| {
            format!(
                "{}: {:?} at {} ({})\n",
                r.fault,
                r.outcome,
                r.caught.map(|k| k.label()).unwrap_or("-"),
                r.caught_rows.join(", ")
            )
        })
        .collect()
}
