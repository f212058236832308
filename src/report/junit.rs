//! JUnit XML: one `testsuite` per scenario, one `testcase` per step. Failures carry the
//! failing assertions with their `file:line:col`; warnings pass and are noted in
//! `system-out`; a skipped scenario is one skipped test case with its reason.

use crate::runner::result::{RunResult, Status, StepResult};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

fn problems(st: &StepResult, which: &[Status]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(e) = &st.error {
        out.push(format!("{}: {e}", st.loc));
    }
    for a in st.assertions.iter().filter(|a| which.contains(&a.status)) {
        out.push(a.one_line());
    }
    out
}

/// Renders the run as JUnit XML.
pub fn render(run: &RunResult) -> Result<String, String> {
    let mut report = Report::new("oauth-harness");
    report.set_time(Duration::from_secs_f64(run.duration_ms / 1000.0));
    for s in &run.scenarios {
        let mut suite = TestSuite::new(format!("{} ({})", s.name, s.file));
        suite.set_time(Duration::from_secs_f64(s.duration_ms / 1000.0));
        if !s.requirements.is_empty() {
            suite.add_property(("requirements", s.requirements.join(" ").as_str()));
        }
        if s.status == Status::Skipped {
            let mut status = TestCaseStatus::skipped();
            status.set_message(s.skip_reason.clone().unwrap_or_default());
            let mut case = TestCase::new("scenario", status);
            case.set_classname(s.file.clone());
            suite.add_test_case(case);
        }
        for st in &s.steps {
            let status = match st.status {
                Status::Failed | Status::Error => {
                    let kind = if st.status == Status::Error {
                        NonSuccessKind::Error
                    } else {
                        NonSuccessKind::Failure
                    };
                    let list = problems(st, &[Status::Failed, Status::Error]);
                    let mut status = TestCaseStatus::non_success(kind);
                    status.set_message(list.first().cloned().unwrap_or_default());
                    let mut description = list.join("\n");
                    if let Some(ex) = &st.exchange {
                        description.push_str(&format!(
                            "\n{} -> {}\n{}",
                            ex.request, ex.status, ex.response_body
                        ));
                    }
                    status.set_description(description);
                    status
                }
                Status::Skipped => TestCaseStatus::skipped(),
                Status::Passed | Status::Info | Status::Warning | Status::ExpectedFailure => {
                    TestCaseStatus::success()
                }
            };
            let mut case = TestCase::new(st.name.clone(), status);
            case.set_classname(s.file.clone());
            case.set_time(Duration::from_secs_f64(st.duration_ms / 1000.0));
            if st.status == Status::Warning {
                case.set_system_out(format!(
                    "WARNING (SHOULD not met)\n{}",
                    problems(st, &[Status::Warning]).join("\n")
                ));
            }
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report
        .to_string()
        .map_err(|e| format!("cannot write JUnit XML: {e}"))
}
