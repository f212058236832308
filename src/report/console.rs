//! The console report: one line per scenario with its time, then rustc/hurl-style
//! diagnostics for every problem — `file:line:col`, the source line, a caret under the
//! culprit, expected vs actual, and the exchange that produced it (already redacted).

use crate::runner::result::{AssertionResult, RunResult, ScenarioResult, Status, StepResult};
use crate::scenario::spans::Loc;
use std::collections::HashMap;

/// Renders the report. `sources` maps file names to their text, for quoting lines.
pub fn render(run: &RunResult, sources: &HashMap<String, String>, verbose: bool) -> String {
    let mut out = String::new();
    for s in &run.scenarios {
        out.push_str(&scenario_line(s));
    }
    for s in &run.scenarios {
        for st in &s.steps {
            if let Some(e) = &st.error {
                out.push('\n');
                out.push_str(&diagnostic(
                    "error",
                    &format!("step `{}` could not run", st.name),
                    &st.loc,
                    sources,
                    e,
                    &[],
                ));
                out.push_str(&exchange_lines(st));
            }
            for a in &st.assertions {
                if matches!(a.status, Status::Failed | Status::Warning | Status::Error) {
                    out.push('\n');
                    out.push_str(&assertion_diagnostic(a, st, sources));
                }
            }
            if verbose {
                for ex in &st.exchanges {
                    out.push_str(&format!("    > {}\n    < {}\n", ex.request, ex.status));
                }
            }
        }
    }
    for u in &run.unmet_expectations {
        out.push_str(&format!("\nerror: {u}\n"));
    }
    let c = run.counts;
    let xfail = if c.expected_failure > 0 {
        format!(", {} expected failures", c.expected_failure)
    } else {
        String::new()
    };
    out.push_str(&format!(
        "\n{} scenarios against {}: {} passed, {} failed, {} warnings, {} skipped, {} errors{xfail} in {:.0} ms\n",
        run.scenarios.len(),
        run.target,
        c.passed,
        c.failed,
        c.warning,
        c.skipped,
        c.error,
        run.duration_ms
    ));
    out
}

fn scenario_line(s: &ScenarioResult) -> String {
    let mut line = format!(
        "{:<5} {}  {} ({:.1} ms)",
        s.status.label(),
        s.file,
        s.name,
        s.duration_ms
    );
    if let Some(r) = &s.skip_reason {
        line.push_str(&format!(" — skipped: {r}"));
    }
    line.push('\n');
    line
}

fn assertion_diagnostic(
    a: &AssertionResult,
    st: &StepResult,
    sources: &HashMap<String, String>,
) -> String {
    let (kind, title) = match a.status {
        Status::Warning => ("warning", "a SHOULD requirement is not met"),
        Status::Error => ("error", "the assertion could not be evaluated"),
        _ => ("error", "assertion failed"),
    };
    let title = match &a.requirement {
        Some(r) => format!("{title} [{r}]"),
        None => title.to_string(),
    };
    let notes = [
        ("expected", a.expected.clone()),
        ("actual", a.actual.clone()),
    ];
    let mut s = diagnostic(kind, &title, &a.loc, sources, &a.description, &notes);
    s.push_str(&exchange_lines(st));
    s
}

fn exchange_lines(st: &StepResult) -> String {
    let Some(ex) = &st.exchange else {
        return String::new();
    };
    let mut s = format!("   = request:  {} -> {}\n", ex.request, ex.status);
    if !ex.request_body.is_empty() {
        s.push_str(&format!("   = sent:     {}\n", one_line(&ex.request_body)));
    }
    if !ex.response_body.is_empty() {
        s.push_str(&format!("   = response: {}\n", one_line(&ex.response_body)));
    }
    s
}

fn one_line(s: &str) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 300 {
        format!("{}…", flat.chars().take(300).collect::<String>())
    } else {
        flat
    }
}

/// A rustc-style block.
pub fn diagnostic(
    kind: &str,
    title: &str,
    loc: &Loc,
    sources: &HashMap<String, String>,
    label: &str,
    notes: &[(&str, String)],
) -> String {
    let line_text = sources
        .get(&*loc.file)
        .and_then(|src| src.lines().nth(loc.line.saturating_sub(1)))
        .unwrap_or("");
    let num = loc.line.to_string();
    let pad = " ".repeat(num.len());
    let caret_pad: String = line_text
        .chars()
        .take(loc.col.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let mut s = format!("{kind}: {title}\n{pad}--> {loc}\n{pad} |\n{num} | {line_text}\n{pad} | {caret_pad}^ {label}\n");
    for (k, v) in notes {
        s.push_str(&format!("{pad} = {k}: {v}\n"));
    }
    s
}
