//! TAP 14 (<https://testanything.org/tap-version-14-specification.html>): one test point
//! per scenario, each a subtest with one test point per assertion (and one for a step
//! that could not run), YAML diagnostics on every point that did not simply pass.
//!
//! Verdicts map onto TAP's two outcomes and its directives: FAILED and ERROR are `not ok`;
//! an expected failure (listed in the expected-failures file) is `not ok … # TODO`, which
//! a TAP consumer counts as no failure; SKIPPED and not-applicable are `ok … # SKIP why`;
//! WARNING (a SHOULD not met) and INFO are `ok`, with a diagnostic naming the severity.
//! Unmet expectations of the expected-failures file are a last `not ok` point each.

use crate::runner::result::{AssertionResult, RunResult, ScenarioResult, Status, StepResult};
use std::fmt::Write as _;

/// A test point's line and its optional YAML diagnostic, before numbering.
struct Point {
    ok: bool,
    description: String,
    directive: Option<String>,
    yaml: Vec<(&'static str, String)>,
    at: Option<(String, usize, usize)>,
}

/// Renders the run as TAP 14.
pub fn render(run: &RunResult) -> String {
    let mut out = String::from("TAP version 14\n");
    let top = run.scenarios.len() + run.unmet_expectations.len();
    let _ = writeln!(out, "1..{top}");
    let mut n = 0;
    for s in &run.scenarios {
        n += 1;
        let points = scenario_points(s);
        let _ = writeln!(out, "# Subtest: {}", escape(&s.name));
        let _ = writeln!(out, "    1..{}", points.len());
        for (i, p) in points.iter().enumerate() {
            write_point(&mut out, "    ", i + 1, p);
        }
        let summary = Point {
            ok: !matches!(s.status, Status::Failed | Status::Error),
            description: format!("{} ({})", s.name, s.file),
            directive: match s.status {
                Status::Skipped => Some(format!(
                    "SKIP {}",
                    s.skip_reason.as_deref().unwrap_or("skipped")
                )),
                Status::ExpectedFailure => Some("TODO expected failure".into()),
                _ => None,
            },
            yaml: Vec::new(),
            at: None,
        };
        write_point(&mut out, "", n, &summary);
    }
    for u in &run.unmet_expectations {
        n += 1;
        let p = Point {
            ok: false,
            description: "expected-failures file".into(),
            directive: None,
            yaml: vec![("message", u.clone()), ("severity", "fail".into())],
            at: None,
        };
        write_point(&mut out, "", n, &p);
    }
    out
}

/// A scenario's points: a skipped scenario is one `# SKIP` point; otherwise each step's
/// assertions, and a point for a step's error or skip.
fn scenario_points(s: &ScenarioResult) -> Vec<Point> {
    if s.status == Status::Skipped && s.steps.is_empty() {
        return vec![Point {
            ok: true,
            description: s.name.clone(),
            directive: Some(format!(
                "SKIP {}",
                s.skip_reason.as_deref().unwrap_or("skipped")
            )),
            yaml: Vec::new(),
            at: None,
        }];
    }
    let mut points = Vec::new();
    for st in &s.steps {
        if let Some(e) = &st.error {
            points.push(Point {
                ok: false,
                description: format!("{}: could not run", st.name),
                directive: None,
                yaml: vec![("message", e.clone()), ("severity", "error".into())],
                at: Some((st.loc.file.to_string(), st.loc.line, st.loc.col)),
            });
        }
        if st.status == Status::Skipped || st.not_applicable {
            points.push(skipped_step(st));
            continue;
        }
        points.extend(st.assertions.iter().map(|a| assertion_point(st, a)));
    }
    if points.is_empty() {
        points.push(Point {
            ok: true,
            description: format!("{}: no assertions", s.name),
            directive: None,
            yaml: Vec::new(),
            at: None,
        });
    }
    points
}

fn skipped_step(st: &StepResult) -> Point {
    Point {
        ok: true,
        description: st.name.clone(),
        directive: Some(format!(
            "SKIP {}",
            st.skip_reason.as_deref().unwrap_or("not applicable")
        )),
        yaml: Vec::new(),
        at: None,
    }
}

fn assertion_point(st: &StepResult, a: &AssertionResult) -> Point {
    let req = a
        .requirement
        .as_ref()
        .map(|r| format!("[{r}] "))
        .unwrap_or_default();
    let description = format!("{req}{} ({})", a.description, st.name);
    let (ok, directive, severity) = match a.status {
        Status::Passed => (true, None, None),
        Status::Info => (true, None, Some("info")),
        Status::Warning => (true, None, Some("warning")),
        Status::Skipped => {
            let why = st
                .skip_reason
                .as_deref()
                .unwrap_or("an earlier assertion of its step did not hold");
            (true, Some(format!("SKIP not checked: {why}")), None)
        }
        Status::ExpectedFailure => (
            false,
            Some("TODO expected failure (expected-failures file)".to_string()),
            Some("fail"),
        ),
        Status::Failed => (false, None, Some("fail")),
        Status::Error => (false, None, Some("error")),
    };
    let mut yaml = Vec::new();
    if let Some(sev) = severity {
        yaml.push(("message", format!("{}: {}", a.loc, a.description)));
        yaml.push(("severity", sev.to_string()));
        yaml.push(("expected", a.expected.clone()));
        yaml.push(("actual", a.actual.clone()));
        if let Some(r) = &a.requirement {
            yaml.push(("requirement", r.clone()));
        }
        if let Some(row) = &a.row {
            yaml.push(("level", row.level.clone()));
            yaml.push(("impact", row.impact.name().to_string()));
        }
        if let Some(ex) = st.exchange.as_ref().filter(|_| !ok) {
            yaml.push(("request", ex.request.clone()));
            yaml.push(("status", ex.status.to_string()));
        }
    }
    Point {
        ok,
        description,
        directive,
        at: severity.map(|_| (a.loc.file.to_string(), a.loc.line, a.loc.col)),
        yaml,
    }
}

/// `ok 3 - description # DIRECTIVE`, then its YAML block indented two more spaces.
fn write_point(out: &mut String, indent: &str, n: usize, p: &Point) {
    let _ = write!(
        out,
        "{indent}{} {n} - {}",
        if p.ok { "ok" } else { "not ok" },
        escape(&p.description)
    );
    if let Some(d) = &p.directive {
        let _ = write!(out, " # {}", escape(d));
    }
    out.push('\n');
    if p.yaml.is_empty() && p.at.is_none() {
        return;
    }
    let _ = writeln!(out, "{indent}  ---");
    for (k, v) in &p.yaml {
        let _ = writeln!(out, "{indent}  {k}: {}", yaml_string(v));
    }
    if let Some((file, line, col)) = &p.at {
        let _ = writeln!(out, "{indent}  at:");
        let _ = writeln!(out, "{indent}    file: {}", yaml_string(file));
        let _ = writeln!(out, "{indent}    line: {line}");
        let _ = writeln!(out, "{indent}    column: {col}");
    }
    let _ = writeln!(out, "{indent}  ...");
}

/// A test point's description may not hold a `#` (it would start a directive) nor a line
/// break; TAP 14 escapes `#` and `\` with a backslash.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('#', "\\#")
        .replace(['\n', '\r'], " ")
}

/// A YAML scalar, always double-quoted (JSON's string syntax is YAML's), so that no
/// value can end the block or change its shape.
fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_cannot_start_a_directive_or_break_a_line() {
        assert_eq!(escape("a # SKIP b\\c\nd"), "a \\# SKIP b\\\\c d");
        assert_eq!(yaml_string("x\n...\n"), "\"x\\n...\\n\"");
    }
}
