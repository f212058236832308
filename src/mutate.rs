//! Mutation testing with the reference server's fault switches: the suite must pass on the
//! clean server (no failures, no warnings) and fail with each fault on, and the scenarios
//! that fail should include one citing a requirement the fault breaks. The result is the
//! kill matrix (`oauth-harness mutate`).

use crate::runner::result::{RunResult, Status};
use crate::runner::target::TargetSpec;
use crate::runner::{run, RunOptions};
use crate::scenario::Loaded;
use crate::server::faults::Fault;
use serde::Serialize;
use std::sync::Arc;

/// One fault's row.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRow {
    /// The switch.
    pub fault: String,
    /// Requirement ids it breaks.
    pub breaks: Vec<String>,
    /// Scenario files that failed, errored, warned or reported INFO with it on.
    pub killed_by: Vec<String>,
    /// How the suite saw it: the worst verdict among those scenarios (FAILED, ERROR,
    /// WARNING for a SHOULD row, INFO for an optional behaviour a MAY row describes).
    pub kind: Option<Status>,
    /// Whether a killing scenario cites one of the broken requirements.
    pub cited: bool,
    /// A variation the suite must pass with (see `Fault::must_be_tolerated`).
    pub tolerated: bool,
}

/// The whole matrix.
#[derive(Debug, Clone, Serialize)]
pub struct KillMatrix {
    /// The clean run's verdict and totals.
    pub clean: String,
    /// Whether the clean run passed with zero failures and zero warnings.
    pub clean_ok: bool,
    /// A row per fault.
    pub rows: Vec<FaultRow>,
    /// Per scenario file: the faults it kills.
    pub kills: Vec<(String, Vec<String>)>,
}

impl KillMatrix {
    /// Faults no scenario catches (tolerated variations are not faults to catch).
    pub fn survivors(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|r| !r.tolerated && r.killed_by.is_empty())
            .map(|r| r.fault.as_str())
            .collect()
    }

    /// Tolerated variations that nevertheless broke a scenario: the harness is too strict.
    pub fn intolerant(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|r| r.tolerated && !r.killed_by.is_empty())
            .map(|r| r.fault.as_str())
            .collect()
    }

    /// Whether everything holds: clean run clean, every fault killed, variations tolerated.
    pub fn ok(&self) -> bool {
        self.clean_ok && self.survivors().is_empty() && self.intolerant().is_empty()
    }

    /// Scenarios that catch no fault.
    pub fn idle_scenarios(&self) -> Vec<&str> {
        self.kills
            .iter()
            .filter(|(_, k)| k.is_empty())
            .map(|(f, _)| f.as_str())
            .collect()
    }
}

fn cites(s: &crate::runner::result::ScenarioResult, ids: &[&str]) -> bool {
    s.requirements.iter().any(|r| ids.contains(&r.as_str()))
        || s.steps.iter().any(|st| {
            st.assertions
                .iter()
                .any(|a| a.requirement.as_deref().is_some_and(|r| ids.contains(&r)))
        })
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
    while let Some(Ok((i, f, r))) = set.join_next().await {
        let ids = f.requirements();
        // A warning or an INFO counts: the clean run has none, so the suite noticed (SHOULD
        // rows, and MAY rows whose optional behaviour the fault takes away).
        let seen = |s: Status| {
            matches!(
                s,
                Status::Failed | Status::Error | Status::Warning | Status::Info
            )
        };
        let failed: Vec<&crate::runner::result::ScenarioResult> = r
            .scenarios
            .iter()
            .filter(|s| {
                seen(s.status)
                    || s.steps
                        .iter()
                        .flat_map(|st| &st.assertions)
                        .any(|a| a.status == Status::Info)
            })
            .collect();
        let kind = r
            .scenarios
            .iter()
            .flat_map(|s| {
                std::iter::once(s.status).chain(
                    s.steps
                        .iter()
                        .flat_map(|st| st.assertions.iter().map(|a| a.status)),
                )
            })
            .filter(|st| seen(*st))
            .max();
        rows[i] = Some(FaultRow {
            fault: f.name(),
            breaks: ids.iter().map(|s| s.to_string()).collect(),
            killed_by: failed.iter().map(|s| s.file.clone()).collect(),
            kind,
            cited: failed.iter().any(|s| cites(s, ids)),
            tolerated: f.must_be_tolerated(),
        });
    }
    let rows: Vec<FaultRow> = rows.into_iter().flatten().collect();
    let kills = clean
        .scenarios
        .iter()
        .map(|s| {
            let k = rows
                .iter()
                .filter(|r| r.killed_by.contains(&s.file))
                .map(|r| r.fault.clone())
                .collect();
            (s.file.clone(), k)
        })
        .collect();
    KillMatrix {
        clean_ok: clean.status == Status::Passed
            && clean.assertion_counts.warning == 0
            && clean.assertion_counts.info == 0,
        clean: clean.totals(),
        rows,
        kills,
    }
}

/// The matrix as text.
pub fn render(m: &KillMatrix) -> String {
    let mut out = format!(
        "clean server: {}{}\n\n",
        m.clean,
        if m.clean_ok {
            ""
        } else {
            "  <- must pass with no warnings"
        }
    );
    let w = m.rows.iter().map(|r| r.fault.len()).max().unwrap_or(5);
    for r in &m.rows {
        let verdict = match (r.tolerated, r.killed_by.is_empty(), r.cited) {
            (true, true, _) => "tolerated (as it must be)",
            (true, false, _) => "NOT TOLERATED (the harness is too strict)",
            (false, true, _) => "SURVIVED",
            (false, false, true) => "killed",
            (false, false, false) => "killed (by no scenario citing it)",
        };
        let kind = r
            .kind
            .map(|k| format!("{:<5}", k.label()))
            .unwrap_or_else(|| " ".repeat(5));
        out.push_str(&format!(
            "{:<w$}  {kind}  {:<34}  {}\n",
            r.fault,
            verdict,
            r.killed_by.join(", ")
        ));
    }
    let faults = m.rows.iter().filter(|r| !r.tolerated).count();
    let killed = faults - m.survivors().len();
    let active = m.kills.len() - m.idle_scenarios().len();
    out.push_str(&format!(
        "\n{killed} of {faults} faults killed; {} variations tolerated; {active} of {} scenarios kill at least one fault\n",
        m.rows.len() - faults - m.intolerant().len(),
        m.kills.len()
    ));
    for s in m.idle_scenarios() {
        out.push_str(&format!("scenario kills no fault: {s}\n"));
    }
    out
}
