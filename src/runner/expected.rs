//! The expected-failures file: known deviations of a target, so that a suite run against a
//! server that is known to differ stays green until the deviation is fixed — and turns red
//! when a listed failure stops happening, so the list cannot silently go stale. A listed
//! FAILED, WARNING or INFO assertion becomes XFAIL; `run --fail-on-warnings` then makes
//! any unlisted WARNING fail the run, so that exactly the listed deviations happen.
//!
//! ```yaml
//! - scenario: device/slow_down.yaml   # the file (a suffix of its path) or the scenario's name
//!   requirement: DEV-16               # optional: only assertions citing it
//!   step: poll at t=1 is too early    # optional: only this step
//!   reason: the gateway never sends slow_down
//! ```

use crate::runner::result::{RunResult, Status};
use serde::Deserialize;
use std::path::Path;

/// One known deviation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// File path suffix or scenario name.
    pub scenario: String,
    /// Only assertions that cite this requirement.
    pub requirement: Option<String>,
    /// Only this step.
    pub step: Option<String>,
    /// Why it is expected.
    pub reason: String,
}

/// Reads the file; errors name the file and the position.
pub fn load(path: &Path) -> Result<Vec<Expected>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Turns the listed failures into expected ones; records the listed failures that did not
/// happen. Scenarios that were skipped are not held against the list.
pub fn apply(run: &mut RunResult, expected: &[Expected]) {
    let mut used = vec![false; expected.len()];
    for s in &mut run.scenarios {
        let mut any = false;
        for st in &mut s.steps {
            for a in &mut st.assertions {
                // A listed deviation at any level: FAILED (MUST), WARNING (SHOULD) or INFO.
                if !matches!(a.status, Status::Failed | Status::Warning | Status::Info) {
                    continue;
                }
                for (i, e) in expected.iter().enumerate() {
                    let file_or_name = s.file.ends_with(&e.scenario) || s.name == e.scenario;
                    let req = e
                        .requirement
                        .as_ref()
                        .is_none_or(|r| a.requirement.as_ref() == Some(r));
                    let step = e.step.as_ref().is_none_or(|n| *n == st.name);
                    if file_or_name && req && step {
                        a.status = Status::ExpectedFailure;
                        used[i] = true;
                        any = true;
                        break;
                    }
                }
            }
            if any {
                st.status = st.assertions.iter().map(|a| a.status).fold(
                    if st.error.is_some() {
                        Status::Error
                    } else {
                        Status::Passed
                    },
                    Status::worst,
                );
            }
        }
        if any {
            s.status = s
                .steps
                .iter()
                .map(|st| st.status)
                .fold(Status::Passed, Status::worst);
        }
    }
    for (i, e) in expected.iter().enumerate() {
        // A scenario skipped, or a listed row whose every assertion there was not judged
        // (a contract that does not apply it, a step that could not run), is not held
        // against the list.
        let judged = |s: &crate::runner::result::ScenarioResult| {
            e.requirement.as_ref().is_none_or(|r| {
                s.steps
                    .iter()
                    .flat_map(|st| &st.assertions)
                    .any(|a| a.requirement.as_ref() == Some(r) && a.status != Status::Skipped)
            })
        };
        let ran = run.scenarios.iter().any(|s| {
            (s.file.ends_with(&e.scenario) || s.name == e.scenario)
                && s.status != Status::Skipped
                && judged(s)
        });
        if !used[i] && ran {
            run.unmet_expectations.push(format!(
                "expected failure did not happen: {}{} ({})",
                e.scenario,
                e.requirement
                    .as_ref()
                    .map(|r| format!(" [{r}]"))
                    .unwrap_or_default(),
                e.reason
            ));
        }
    }
    let scenarios = std::mem::take(&mut run.scenarios);
    let unmet = std::mem::take(&mut run.unmet_expectations);
    let contract = run.contract;
    *run = RunResult::new(run.target.clone(), scenarios, run.duration_ms);
    if let Some(c) = contract {
        run.judged_under(c);
    }
    if !unmet.is_empty() {
        run.status = run.status.worst(Status::Failed);
    }
    run.unmet_expectations = unmet;
}
