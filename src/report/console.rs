//! The console report: one line per scenario with its time, then rustc/hurl-style
//! diagnostics for every problem — `file:line:col`, the source line, a caret under the
//! culprit, expected vs actual, and the exchange that produced it (already redacted).

use crate::runner::result::{AssertionResult, RunResult, ScenarioResult, Status, StepResult};
use crate::scenario::spans::Loc;
use anstyle::{AnsiColor, Style};
use std::collections::HashMap;

/// ANSI styling, or none. The CLI renders with colour and prints through `anstream`, which
/// removes it for pipes, files, `NO_COLOR` and `CLICOLOR=0`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paint(pub bool);

impl Paint {
    fn with(self, style: Style, text: &str) -> String {
        if self.0 {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }

    fn status(self, s: Status) -> String {
        let color = match s {
            Status::Passed => AnsiColor::Green,
            Status::Failed | Status::Error => AnsiColor::Red,
            Status::Warning | Status::ExpectedFailure => AnsiColor::Yellow,
            Status::Skipped => AnsiColor::BrightBlack,
            Status::Info => AnsiColor::Cyan,
        };
        self.with(
            Style::new().fg_color(Some(color.into())).bold(),
            &format!("{:<5}", s.label()),
        )
    }

    fn kind(self, kind: &str) -> String {
        let color = match kind {
            "warning" => AnsiColor::Yellow,
            "info" => AnsiColor::Cyan,
            _ => AnsiColor::Red,
        };
        self.with(Style::new().fg_color(Some(color.into())).bold(), kind)
    }

    fn gutter(self, text: &str) -> String {
        self.with(
            Style::new().fg_color(Some(AnsiColor::Blue.into())).bold(),
            text,
        )
    }
}

/// Renders the report. `sources` maps file names to their text, for quoting lines.
pub fn render(run: &RunResult, sources: &HashMap<String, String>, verbose: bool) -> String {
    render_with(run, sources, verbose, Paint(false))
}

/// [`render`] with or without colour.
pub(crate) fn render_with(
    run: &RunResult,
    sources: &HashMap<String, String>,
    verbose: bool,
    p: Paint,
) -> String {
    let mut out = String::new();
    for s in &run.scenarios {
        out.push_str(&scenario_line(s, p));
    }
    // Security findings first (issue #27): a stolen-code replay before a wrong error code.
    let mut security = String::new();
    let mut rest = String::new();
    for s in &run.scenarios {
        for st in &s.steps {
            if let Some(e) = &st.error {
                rest.push('\n');
                rest.push_str(&diagnostic(
                    p,
                    "error",
                    &format!("step `{}` could not run", st.name),
                    &st.loc,
                    sources,
                    e,
                    &[],
                ));
                rest.push_str(&exchange_lines(st));
            }
            for a in &st.assertions {
                if matches!(
                    a.status,
                    Status::Failed | Status::Warning | Status::Info | Status::Error
                ) {
                    let into = if a.is_security() && a.status != Status::Info {
                        &mut security
                    } else {
                        &mut rest
                    };
                    into.push('\n');
                    into.push_str(&assertion_diagnostic(a, st, sources, p));
                }
            }
            if verbose {
                rest.push_str(&verbose_step(s, st, p));
            }
        }
    }
    out.push_str(&security);
    out.push_str(&rest);
    for u in &run.unmet_expectations {
        out.push_str(&format!("\n{}: {u}\n", p.kind("error")));
    }
    for n in &run.notes {
        out.push_str(&format!("\n{}: {n}\n", p.kind("note")));
    }
    out.push_str(&format!("\n{}\n", run.totals()));
    out.push_str(&findings_line(run));
    out
}

/// `findings: 1 security (TOK-21 MUST), 2 interop (TOK-11 MUST, DEV-3 SHOULD)`, or
/// nothing when every assertion held.
fn findings_line(run: &RunResult) -> String {
    let mut security: Vec<String> = Vec::new();
    let mut interop: Vec<String> = Vec::new();
    for a in run
        .scenarios
        .iter()
        .flat_map(|s| &s.steps)
        .flat_map(|st| &st.assertions)
        .filter(|a| matches!(a.status, Status::Failed | Status::Warning))
    {
        let (Some(id), Some(row)) = (&a.requirement, &a.row) else {
            continue;
        };
        let item = format!("{id} {}", row.level);
        let list = if a.is_security() {
            &mut security
        } else {
            &mut interop
        };
        if !list.contains(&item) {
            list.push(item);
        }
    }
    if security.is_empty() && interop.is_empty() {
        return String::new();
    }
    let part = |n: &str, v: &[String]| match v.len() {
        0 => format!("0 {n}"),
        k => format!("{k} {n} ({})", v.join(", ")),
    };
    format!(
        "findings by impact: {}; {}\n",
        part("security", &security),
        part("interop", &interop)
    )
}

fn verbose_step(s: &ScenarioResult, st: &StepResult, p: Paint) -> String {
    let why = st
        .skip_reason
        .as_ref()
        .map(|r| format!(" — {r}"))
        .unwrap_or_default();
    let mut out = format!("  {} {} › {}{why}\n", p.status(st.status), s.file, st.name);
    for ex in &st.exchanges {
        out.push_str(&format!("      > {}\n", ex.request));
        if !ex.request_body.is_empty() {
            out.push_str(&format!("      > {}\n", one_line(&ex.request_body)));
        }
        out.push_str(&format!(
            "      < {} {}\n",
            ex.status,
            one_line(&ex.response_body)
        ));
    }
    out
}

fn scenario_line(s: &ScenarioResult, p: Paint) -> String {
    let mut line = format!(
        "{} {}  {} ({:.1} ms)",
        p.status(s.status),
        s.file,
        s.name,
        s.duration_ms
    );
    if let Some(r) = &s.skip_reason {
        line.push_str(&format!(" — skipped: {r}"));
    }
    if let Some(r) = &s.race {
        line.push_str(&format!(" — race: {r}"));
    }
    line.push('\n');
    line
}

pub(crate) fn assertion_diagnostic(
    a: &AssertionResult,
    st: &StepResult,
    sources: &HashMap<String, String>,
    p: Paint,
) -> String {
    let (kind, title) = match a.status {
        Status::Warning => ("warning", "a SHOULD requirement is not met"),
        Status::Info => ("info", "an optional (MAY) behaviour is absent"),
        Status::Error => ("error", "the assertion could not be evaluated"),
        _ => ("error", "assertion failed"),
    };
    let title = match &a.requirement {
        Some(r) => format!("{title} [{r}]{}", a.class_label()),
        None => title.to_string(),
    };
    let notes = [
        ("expected", a.expected.clone()),
        ("actual", a.actual.clone()),
    ];
    let mut s = diagnostic(p, kind, &title, &a.loc, sources, &a.description, &notes);
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
pub(crate) fn diagnostic(
    p: Paint,
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
    let bar = p.gutter("|");
    let mut s = format!(
        "{}: {title}\n{pad}{} {loc}\n{pad} {bar}\n{} {bar} {line_text}\n{pad} {bar} {caret_pad}{}\n",
        p.kind(kind),
        p.gutter("-->"),
        p.gutter(&num),
        p.with(Style::new().bold(), &format!("^ {label}"))
    );
    for (k, v) in notes {
        // Continuation lines (a snapshot's diff) stay inside the diagnostic's margin.
        let v = v
            .trim_end()
            .replace('\n', &format!("\n{pad}   {}", " ".repeat(k.len() + 2)));
        s.push_str(&format!("{pad} = {k}: {v}\n"));
    }
    s
}
