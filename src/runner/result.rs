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
    /// An optional (MAY) capability is absent or differs: reported, never a failure
    /// (conformance matrix §0).
    Info,
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
    /// The worse of two verdicts (Error > Failed > Warning > expected failure > Info >
    /// Passed > Skipped).
    pub(crate) fn worst(self, other: Status) -> Status {
        self.max(other)
    }

    /// Fixed-width label for the console.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Status::Skipped => "SKIP",
            Status::Passed => "PASS",
            Status::Info => "INFO",
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
    /// That requirement's level and impact class, filled in by [`RunResult::new`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<RowClass>,
}

/// What the matrix says of an assertion's row: how strong it is and what breaking it costs.
#[derive(Debug, Clone, Serialize)]
pub struct RowClass {
    /// `MUST`, `SHOULD (derived)`…
    pub level: String,
    /// `security` or `interop`.
    pub impact: crate::coverage::Impact,
}

impl AssertionResult {
    /// Whether breaking this assertion's row is a security matter.
    pub fn is_security(&self) -> bool {
        self.row
            .as_ref()
            .is_some_and(|r| r.impact == crate::coverage::Impact::Security)
    }

    /// ` (MUST, security)` after a requirement id, or nothing for an unknown row.
    pub fn class_label(&self) -> String {
        self.row
            .as_ref()
            .map(|r| format!(" ({}, {})", r.level, r.impact.name()))
            .unwrap_or_default()
    }

    /// `file:line:col: description [REQ]: expected …, actual …`, for one-line reports.
    pub(crate) fn one_line(&self) -> String {
        let req = self
            .requirement
            .as_ref()
            .map(|r| format!(" [{r}]{}", self.class_label()))
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
    /// Whether the server went on with the request: a 2xx, or a redirect whose `Location`
    /// carries no `error` (RFC 6749 §4.1.2.1: an error redirect refuses).
    pub fn accepted(&self) -> bool {
        match self.status {
            200..=299 => true,
            300..=399 => !self.response_headers.iter().any(|h| {
                h.split_once(':').is_some_and(|(name, value)| {
                    name.trim().eq_ignore_ascii_case("location")
                        && url::Url::parse(value.trim()).is_ok_and(|u| {
                            u.query_pairs()
                                .chain(url::form_urlencoded::parse(
                                    u.fragment().unwrap_or("").as_bytes(),
                                ))
                                .any(|(k, _)| k == "error")
                        })
                })
            }),
            _ => false,
        }
    }

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
    /// Why polling stopped without a final answer (`expires_in` left no room).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
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
    /// Why the step was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    /// Skipped because it does not apply: the server took another path its contract
    /// allows (no gap in the verdict).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_applicable: bool,
    /// An assertion on what the server did (its status, the code or error it redirected
    /// with) did not hold: the server may now hold what the scenario never meant.
    #[serde(skip)]
    pub outcome_unexpected: bool,
    /// How often the request was sent again after a 429 or 503 (CLIENT-18).
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// Poll statistics, for poll steps.
    pub poll: Option<PollStats>,
    /// The step's response snapshot, when snapshots are on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotRecord>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl StepResult {
    /// A step that has not run yet (PASSED until something says otherwise).
    pub fn new(name: String, loc: Loc) -> Self {
        StepResult {
            name,
            loc,
            status: Status::Passed,
            duration_ms: 0.0,
            assertions: vec![],
            exchange: None,
            exchanges: vec![],
            error: None,
            skip_reason: None,
            not_applicable: false,
            outcome_unexpected: false,
            retries: 0,
            poll: None,
            snapshot: None,
        }
    }
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
    /// Against a live target, there was no stored snapshot to compare with: recorded
    /// here, not judged (against the builtin a missing one is a failure).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub new: bool,
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
    /// A scenario that races: how many rounds ran and what they showed ("not observed in
    /// 5 rounds of 16", never proof; or the round that showed it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub race: Option<String>,
}

/// Counts per verdict.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub warning: usize,
    pub info: usize,
    pub skipped: usize,
    pub error: usize,
    pub expected_failure: usize,
}

impl Counts {
    fn add(&mut self, status: Status) {
        match status {
            Status::Passed => self.passed += 1,
            Status::Failed => self.failed += 1,
            Status::Warning => self.warning += 1,
            Status::Info => self.info += 1,
            Status::Skipped => self.skipped += 1,
            Status::Error => self.error += 1,
            Status::ExpectedFailure => self.expected_failure += 1,
        }
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// The target, as described to the user (`builtin`, `builtin --fault x`).
    pub target: String,
    /// The contract that judged (`rfc`, `noorle`, `oauth21`); none for a client's run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<crate::contract::Contract>,
    /// Scenarios, in file order.
    pub scenarios: Vec<ScenarioResult>,
    /// Scenario counts.
    pub counts: Counts,
    /// Assertion counts, over every scenario.
    pub assertion_counts: Counts,
    /// The verdict of the run.
    pub status: Status,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
    /// Expected failures that did not happen (each fails the run).
    pub unmet_expectations: Vec<String>,
    /// What the run has to say beyond verdicts (registered clients that could not be
    /// deleted, new snapshots recorded but not written).
    pub notes: Vec<String>,
}

impl RunResult {
    /// Builds the totals from the scenarios.
    pub fn new(target: String, mut scenarios: Vec<ScenarioResult>, duration_ms: f64) -> Self {
        for st in scenarios.iter_mut().flat_map(|s| s.steps.iter_mut()) {
            // A security row broken by a server that refused anyway (a wrong error code)
            // let nobody through: that finding is an interop one.
            let refused = st.exchange.as_ref().is_some_and(|ex| !ex.accepted());
            for a in &mut st.assertions {
                a.row = a
                    .requirement
                    .as_deref()
                    .and_then(crate::coverage::row)
                    .map(|r| RowClass {
                        level: r.level_label(),
                        impact: match r.impact {
                            crate::coverage::Impact::Security if refused => {
                                crate::coverage::Impact::Interop
                            }
                            i => i,
                        },
                    });
            }
        }
        let mut counts = Counts::default();
        let mut assertion_counts = Counts::default();
        let mut status = Status::Passed;
        for s in &scenarios {
            counts.add(s.status);
            for a in s.steps.iter().flat_map(|st| &st.assertions) {
                assertion_counts.add(a.status);
            }
            // A known deviation does not colour the run; it is counted and shown.
            if !matches!(s.status, Status::Skipped | Status::ExpectedFailure) {
                status = status.worst(s.status);
            }
        }
        RunResult {
            target,
            contract: None,
            scenarios,
            counts,
            assertion_counts,
            status,
            duration_ms,
            unmet_expectations: vec![],
            notes: vec![],
        }
    }

    /// Says which contract judged, and gives each assertion's row the level that
    /// contract holds it to (`MUST (oauth21)` where matrix §22 changes it).
    pub(crate) fn judged_under(&mut self, contract: crate::contract::Contract) {
        self.contract = Some(contract);
        for a in self
            .scenarios
            .iter_mut()
            .flat_map(|s| s.steps.iter_mut())
            .flat_map(|st| st.assertions.iter_mut())
        {
            let label = a.requirement.as_deref().and_then(|r| contract.label(r));
            if let (Some(label), Some(row)) = (label, a.row.as_mut()) {
                row.level = label;
            }
        }
    }

    /// The totals every report shows: scenarios by verdict (a scenario counts once, by its
    /// worst assertion), then assertions by verdict, so that "warnings" is never ambiguous.
    pub(crate) fn totals(&self) -> String {
        let (c, a) = (self.counts, self.assertion_counts);
        let optional = |n: usize, what: &str| {
            if n > 0 {
                format!(", {n} {what}")
            } else {
                String::new()
            }
        };
        format!(
            "{} scenarios against {}{}: {} passed, {} failed, {} with warnings{}, {} skipped, {} errors{} in {:.0} ms\n\
             assertions: {} passed, {} failed, {} warnings{}, {} skipped{}",
            self.scenarios.len(),
            self.target,
            self.contract
                .map(|c| format!(" under the {} contract", c.name()))
                .unwrap_or_default(),
            c.passed,
            c.failed,
            c.warning,
            optional(c.info, "with info"),
            c.skipped,
            c.error,
            optional(c.expected_failure, "expected failures"),
            self.duration_ms,
            a.passed,
            a.failed,
            a.warning,
            optional(a.info, "info"),
            a.skipped,
            optional(a.expected_failure, "expected failures"),
        )
    }

    /// Makes any WARNING assertion fail the run (`run --fail-on-warnings`).
    pub(crate) fn fail_on_warnings(&mut self) {
        let n = self.assertion_counts.warning;
        if n > 0 {
            self.status = self.status.worst(Status::Failed);
            self.notes.push(format!(
                "{n} warning(s) that no expected-failures entry lists fail the run (--fail-on-warnings)"
            ));
        }
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
