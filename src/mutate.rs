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

use crate::contract::Contract;
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

/// One fault's row (a switch under one contract).
#[derive(Debug, Clone, Serialize)]
pub struct FaultRow {
    /// The switch.
    pub fault: String,
    /// The contract the suite judged under (the builtin's `noorle`, or `oauth21` for the
    /// switches that break OAuth 2.1's rules and overrides, matrix §22).
    pub contract: Contract,
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

impl FaultRow {
    /// The switch's name, with `--expect oauth21` when judged under OAuth 2.1.
    pub fn label(&self) -> String {
        label(self.fault.clone(), self.contract)
    }
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
    fn with(&self, o: Outcome) -> Vec<String> {
        self.rows
            .iter()
            .filter(|r| r.outcome == o)
            .map(FaultRow::label)
            .collect()
    }

    /// Faults no assertion catches.
    pub fn survivors(&self) -> Vec<String> {
        self.with(Outcome::Survived)
    }

    /// Faults caught below their row's level.
    pub fn weak(&self) -> Vec<String> {
        self.with(Outcome::Weak)
    }

    /// Tolerated variations that nevertheless broke a scenario: the harness is too strict.
    pub fn intolerant(&self) -> Vec<String> {
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
        let mut switches: Vec<&str> = self.rows.iter().map(|r| r.fault.as_str()).collect();
        switches.sort_unstable();
        switches.dedup();
        format!(
            "{} faults ({} switches, some under two contracts): {} killed ({} by a FAILED MUST row, {} by a WARNING on SHOULD rows), {} variations reported as INFO, {} weak, {} survived; {} variations tolerated, {} not",
            self.rows.len(),
            switches.len(),
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
fn expected(ids: &[&str], contract: Contract) -> Status {
    let rows = crate::coverage::requirements();
    let level = ids
        .iter()
        .filter(|id| contract.judges(id))
        .filter_map(|id| rows.iter().find(|r| r.id == *id))
        .filter(|r| r.scope != "harness")
        // The level the contract gives the row (matrix §22 table A).
        .filter_map(|r| match contract.override_of(&r.id) {
            Some(o) => Level::of_row(&o.level),
            None => Level::of_row(&r.level),
        })
        .map(|l| match l {
            Level::Must => Status::Failed,
            Level::Should => Status::Warning,
            Level::May => Status::Info,
        })
        .max();
    level.unwrap_or(Status::Failed)
}

fn row(f: Fault, contract: Contract, r: &RunResult) -> FaultRow {
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
    let expected = expected(ids, contract);
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
        contract,
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

/// Runs the suite clean and under every fault (`jobs` runs at once), each fault under
/// every contract it lists ([`Fault::contracts`]), each contract's suite clean first.
pub async fn kill_matrix(scenarios: Vec<Arc<Loaded>>, faults: &[Fault], jobs: usize) -> KillMatrix {
    let opts = |faults: &[Fault], contract: Contract| RunOptions {
        target: TargetSpec::Builtin {
            faults: faults.iter().copied().collect(),
        },
        jobs: 2,
        verbose: false,
        expect: Some(contract),
        snapshots: None,
        person: crate::runner::target::Person::nobody(),
        given: Default::default(),
    };
    let runs: Vec<(Fault, Contract)> = faults
        .iter()
        .flat_map(|f| f.contracts().iter().map(move |c| (*f, *c)))
        .collect();
    let mut contracts: Vec<Contract> = vec![Contract::Noorle];
    for (_, c) in &runs {
        if !contracts.contains(c) {
            contracts.push(*c);
        }
    }
    let mut cleans = Vec::new();
    for c in &contracts {
        cleans.push((*c, run(scenarios.clone(), &opts(&[], *c)).await));
    }
    let sem = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, (f, c)) in runs.iter().copied().enumerate() {
        let (sem, sc) = (sem.clone(), scenarios.clone());
        let o = opts(&[f], c);
        set.spawn(async move {
            let _p = sem.acquire_owned().await;
            (i, f, c, run(sc, &o).await)
        });
    }
    let mut rows: Vec<Option<FaultRow>> = vec![None; runs.len()];
    let mut failed_runs = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, f, c, r)) => rows[i] = Some(row(f, c, &r)),
            Err(e) => failed_runs.push(format!("a fault's run did not finish: {e}")),
        }
    }
    for (i, r) in rows.iter().enumerate() {
        if r.is_none() {
            failed_runs.push(label(runs[i].0.name(), runs[i].1));
        }
    }
    let rows: Vec<FaultRow> = rows.into_iter().flatten().collect();
    let clean = &cleans[0].1;
    let kills = clean
        .scenarios
        .iter()
        .map(|s| {
            let k = rows
                .iter()
                .filter(|r| r.caught_by.contains(&s.file))
                .map(|r| label(r.fault.clone(), r.contract))
                .collect();
            (s.file.clone(), k)
        })
        .collect();
    let clean_ok = cleans.iter().all(|(_, r)| {
        r.status == Status::Passed
            && r.assertion_counts.warning == 0
            && r.assertion_counts.info == 0
            && r.counts.error == 0
    });
    KillMatrix {
        clean_ok,
        clean: cleans
            .iter()
            .map(|(_, r)| r.totals())
            .collect::<Vec<_>>()
            .join("\n"),
        rows,
        kills,
        failed_runs,
    }
}

/// A switch's name, with the contract when it is not the builtin's own.
fn label(fault: String, contract: Contract) -> String {
    match contract {
        Contract::Noorle => fault,
        c => format!("{fault} --expect {}", c.name()),
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
    let w = m.rows.iter().map(|r| r.label().len()).max().unwrap_or(5);
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
            r.label(),
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
                r.label(),
                r.outcome,
                r.caught.map(|k| k.label()).unwrap_or("-"),
                r.caught_rows.join(", ")
            )
        })
        .collect()
}
