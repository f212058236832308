//! The result model: what a run produced, as data. Reporters render it; nothing here
//! prints. Every text in it has already been through the scenario's redactor.

use crate::scenario::spans::Loc;
use serde::Serialize;

/// The verdict of an assertion, a step, a scenario or a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Not run, with a reason (a capability the target lacks).
    Skipped,
    /// Held.
    Passed,
    /// Failed as listed in the expected-failures file (a known deviation).
    ExpectedFailure,
    /// A SHOULD requirement was not met.
    Warning,
    /// A MUST requirement was not met.
    Failed,
    /// Could not run: the target or the harness failed.
    Error,
}

impl Status {
    /// The worse of two verdicts (Error > Failed > Warning > Passed > Skipped).
    pub fn worst(self, other: Status) -> Status {
        self.max(other)
    }

    /// Fixed-width label for the console.
    pub fn label(self) -> &'static str {
        match self {
            Status::Skipped => "SKIP",
            Status::Passed => "PASS",
            Status::ExpectedFailure => "XFAIL",
            Status::Warning => "WARN",
            Status::Failed => "FAIL",
            Status::Error => "ERROR",
        }
    }
}

/// One assertion's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct AssertionResult {
    /// Where it is written.
    pub loc: Loc,
    /// `json $.error equals "authorization_pending"`.
    pub description: String,
    /// What was expected.
    pub expected: String,
    /// What was seen (`<absent>` if nothing).
    pub actual: String,
    /// The verdict.
    pub status: Status,
    /// The requirement it checks, if one is named.
    pub requirement: Option<String>,
}

impl AssertionResult {
    /// `file:line:col: description [REQ]: expected …, actual …`, for one-line reports.
    pub fn one_line(&self) -> String {
        let req = self
            .requirement
            .as_ref()
            .map(|r| format!(" [{r}]"))
            .unwrap_or_default();
        format!(
            "{}: {}{req}: expected {}, actual {}",
            self.loc, self.description, self.expected, self.actual
        )
    }
}

/// What was sent and received, excerpted and redacted.
#[derive(Debug, Clone, Serialize)]
pub struct ExchangeSummary {
    /// `POST http://127.0.0.1:1234/oauth/token`.
    pub request: String,
    /// The request body as sent (redacted, at most 2 KiB).
    pub request_body: String,
    /// Response status.
    pub status: u16,
    /// Response headers, one `name: value` per entry.
    pub response_headers: Vec<String>,
    /// Response body (redacted, at most 2 KiB).
    pub response_body: String,
}

impl ExchangeSummary {
    /// Blanks secrets learned after the summary was made (a value captured from this very
    /// response, such as a form's CSRF token).
    pub fn redact(&mut self, red: &crate::scenario::vars::Redactor) {
        self.request = red.redact(&self.request);
        self.request_body = red.redact(&self.request_body);
        self.response_body = red.redact(&self.response_body);
        for h in &mut self.response_headers {
            *h = red.redact(h);
        }
    }
}

/// What a poll loop did (RFC 8628 §3.5).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PollStats {
    /// Requests sent.
    pub polls: u32,
    /// `authorization_pending` answers.
    pub pending: u32,
    /// `slow_down` answers.
    pub slow_downs: u32,
    /// The waits between polls, in seconds.
    pub waits: Vec<u64>,
    /// The final interval.
    pub final_interval: u64,
}

/// One step's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    /// Name.
    pub name: String,
    /// Where the step is written.
    pub loc: Loc,
    /// The verdict.
    pub status: Status,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
    /// Assertions, in order.
    pub assertions: Vec<AssertionResult>,
    /// The last exchange, if the step sent a request.
    pub exchange: Option<ExchangeSummary>,
    /// Every exchange of the step (polls), in `--verbose` runs.
    pub exchanges: Vec<ExchangeSummary>,
    /// Why the step could not run.
    pub error: Option<String>,
    /// Poll statistics, for poll steps.
    pub poll: Option<PollStats>,
    /// The step's response snapshot, when snapshots are on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotRecord>,
}

/// A step's normalized, redacted response and where it is stored.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotRecord {
    /// Its name (`--snapshot-all` names unnamed steps `step-NN`).
    pub name: String,
    /// The `.snap` file.
    pub file: String,
    /// The normalized text.
    pub content: String,
}

/// One scenario's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// The file.
    pub file: String,
    /// Name.
    pub name: String,
    /// Requirement ids it cites.
    pub requirements: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// The verdict.
    pub status: Status,
    /// Why it was skipped.
    pub skip_reason: Option<String>,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
    /// Steps, in order (up to the first that could not run).
    pub steps: Vec<StepResult>,
}

/// Counts per verdict.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub warning: usize,
    pub skipped: usize,
    pub error: usize,
    pub expected_failure: usize,
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// The target, as described to the user (`builtin`, `builtin --fault x`).
    pub target: String,
    /// Scenarios, in file order.
    pub scenarios: Vec<ScenarioResult>,
    /// Scenario counts.
    pub counts: Counts,
    /// The verdict of the run.
    pub status: Status,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
    /// Expected failures that did not happen (each fails the run).
    pub unmet_expectations: Vec<String>,
}

impl RunResult {
    /// Builds the totals from the scenarios.
    pub fn new(target: String, scenarios: Vec<ScenarioResult>, duration_ms: f64) -> Self {
        let mut counts = Counts::default();
        let mut status = Status::Passed;
        for s in &scenarios {
            match s.status {
                Status::Passed => counts.passed += 1,
                Status::Failed => counts.failed += 1,
                Status::Warning => counts.warning += 1,
                Status::Skipped => counts.skipped += 1,
                Status::Error => counts.error += 1,
                Status::ExpectedFailure => counts.expected_failure += 1,
            }
            // A known deviation does not colour the run; it is counted and shown.
            if !matches!(s.status, Status::Skipped | Status::ExpectedFailure) {
                status = status.worst(s.status);
            }
        }
        RunResult {
            target,
            scenarios,
            counts,
            status,
            duration_ms,
            unmet_expectations: vec![],
        }
    }

    /// `N scenarios: P passed, F failed, … in T ms`, the totals every report shows.
    pub fn totals(&self) -> String {
        let c = self.counts;
        let xfail = if c.expected_failure > 0 {
            format!(", {} expected failures", c.expected_failure)
        } else {
            String::new()
        };
        let skipped_checks = self.skipped_assertions();
        let xfail = if skipped_checks > 0 {
            format!("{xfail} ({skipped_checks} assertions skipped under the contract)")
        } else {
            xfail
        };
        format!(
            "{} scenarios against {}: {} passed, {} failed, {} warnings, {} skipped, {} errors{xfail} in {:.0} ms",
            self.scenarios.len(),
            self.target,
            c.passed,
            c.failed,
            c.warning,
            c.skipped,
            c.error,
            self.duration_ms
        )
    }

    /// Assertions skipped under the run's contract (NOORLE rows under `--expect rfc`).
    pub fn skipped_assertions(&self) -> usize {
        self.scenarios
            .iter()
            .flat_map(|s| &s.steps)
            .flat_map(|st| &st.assertions)
            .filter(|a| a.status == Status::Skipped)
            .count()
    }

    /// The process exit code for this run (README, `--help`).
    pub fn exit_code(&self) -> u8 {
        match self.status {
            Status::Error => crate::exit::RUNTIME,
            Status::Failed => crate::exit::ASSERTIONS_FAILED,
            _ => crate::exit::PASSED,
        }
    }
}
