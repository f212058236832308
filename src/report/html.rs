//! `report.html`: one self-contained page (inline CSS, no script, no fetch) that shows
//! where a server stands row by row: the run's summary, then every row of the conformance
//! matrix grouped by section with its verdict in this run — passed, failed, warning,
//! info, expected failure, skipped (with why), not run, not covered, not observable, or
//! checked by the harness's own tests. A row that did not pass opens (`<details>`, no
//! JavaScript) onto its rustc-style diagnostics and the exchanges, redacted as in every
//! report. For a live target the expected failures are listed, and those that did not
//! happen.

use super::console::{assertion_diagnostic, Paint};
use crate::coverage::{Requirement, SECTIONS};
use crate::runner::result::{RunResult, Status};
use html_escape::encode_text as esc;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// A row's verdict in this run, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verdict {
    Failed,
    Warning,
    ExpectedFailure,
    Info,
    Passed,
    Skipped,
    NotRun,
    NotCovered,
    NotObservable,
    Harness,
}

impl Verdict {
    /// Every verdict, in the summary's order.
    pub(crate) const ALL: [Verdict; 10] = [
        Verdict::Failed,
        Verdict::Warning,
        Verdict::ExpectedFailure,
        Verdict::Info,
        Verdict::Passed,
        Verdict::Skipped,
        Verdict::NotRun,
        Verdict::NotCovered,
        Verdict::NotObservable,
        Verdict::Harness,
    ];

    /// The class and `data-verdict` value.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Verdict::Failed => "failed",
            Verdict::Warning => "warning",
            Verdict::ExpectedFailure => "xfail",
            Verdict::Info => "info",
            Verdict::Passed => "passed",
            Verdict::Skipped => "skipped",
            Verdict::NotRun => "not-run",
            Verdict::NotCovered => "not-covered",
            Verdict::NotObservable => "not-observable",
            Verdict::Harness => "harness",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Verdict::Failed => "FAILED",
            Verdict::Warning => "WARNING",
            Verdict::ExpectedFailure => "XFAIL",
            Verdict::Info => "INFO",
            Verdict::Passed => "passed",
            Verdict::Skipped => "skipped",
            Verdict::NotRun => "not run",
            Verdict::NotCovered => "not covered",
            Verdict::NotObservable => "not observable",
            Verdict::Harness => "harness tests",
        }
    }

    fn meaning(self) -> &'static str {
        match self {
            Verdict::Failed => "a MUST broken (or an assertion that could not be evaluated)",
            Verdict::Warning => "a SHOULD not met",
            Verdict::ExpectedFailure => "a deviation the expected-failures file lists",
            Verdict::Info => "an optional (MAY) behaviour absent",
            Verdict::Passed => "every assertion on the row held",
            Verdict::Skipped => "the run could not check it here (the reason is given)",
            Verdict::NotRun => "scenarios judge it, but none of them ran in this selection",
            Verdict::NotCovered => "no scenario among the files given judges it",
            Verdict::NotObservable => "not visible on the wire; the row says what checks it",
            Verdict::Harness => "binds the harness itself; its own tests check it",
        }
    }

    fn of_status(s: Status) -> Verdict {
        match s {
            Status::Failed | Status::Error => Verdict::Failed,
            Status::Warning => Verdict::Warning,
            Status::ExpectedFailure => Verdict::ExpectedFailure,
            Status::Info => Verdict::Info,
            Status::Passed => Verdict::Passed,
            Status::Skipped => Verdict::Skipped,
        }
    }
}

/// What the run says about one row.
#[derive(Debug, Default)]
struct Seen {
    statuses: Vec<Status>,
    /// Diagnostics of the assertions that did not pass, with their exchanges.
    details: Vec<String>,
    /// Why the assertions on it were skipped.
    skipped: Vec<String>,
    /// The scenario files that judged it.
    files: Vec<String>,
    /// Whether a finding on it let something through (its assertions' class).
    security: bool,
}

/// Everything the run says, by row id.
fn seen(run: &RunResult, sources: &HashMap<String, String>) -> BTreeMap<String, Seen> {
    let mut by: BTreeMap<String, Seen> = BTreeMap::new();
    for s in &run.scenarios {
        if s.steps.is_empty() && s.status == Status::Skipped {
            for id in &s.requirements {
                let e = by.entry(id.clone()).or_default();
                e.statuses.push(Status::Skipped);
                let why = s.skip_reason.clone().unwrap_or_else(|| "skipped".into());
                e.skipped.push(format!("{}: {why}", s.file));
                e.files.push(s.file.clone());
            }
        }
        for st in &s.steps {
            for a in &st.assertions {
                let Some(id) = &a.requirement else { continue };
                let e = by.entry(id.clone()).or_default();
                e.statuses.push(a.status);
                if !e.files.contains(&s.file) {
                    e.files.push(s.file.clone());
                }
                match a.status {
                    Status::Passed => {}
                    Status::Skipped => {
                        let why = st
                            .skip_reason
                            .clone()
                            .or_else(|| s.skip_reason.clone())
                            .unwrap_or_else(|| "an earlier assertion of its step failed".into());
                        let line = format!("{} › {}: {why}", s.file, st.name);
                        if !e.skipped.contains(&line) {
                            e.skipped.push(line);
                        }
                    }
                    _ => {
                        e.security |= a.is_security();
                        e.details
                            .push(assertion_diagnostic(a, st, sources, Paint(false)))
                    }
                }
            }
        }
    }
    by
}

/// A row's verdict: the worst of what its assertions got; without any, what the suite
/// can say about it.
fn verdict(r: &Requirement, seen: Option<&Seen>, judged_by_suite: bool) -> Verdict {
    if r.scope == "harness" {
        return Verdict::Harness;
    }
    if let Some(worst) = seen.and_then(|s| s.statuses.iter().map(|s| Verdict::of_status(*s)).min())
    {
        return worst;
    }
    if r.not_observable.is_some() {
        Verdict::NotObservable
    } else if judged_by_suite {
        Verdict::NotRun
    } else {
        Verdict::NotCovered
    }
}

/// The page. `judged` holds the ids that some scenario of the whole suite judges (so a
/// row outside this run's selection reads "not run", not "not covered").
pub fn render(
    run: &RunResult,
    sources: &HashMap<String, String>,
    judged: &std::collections::HashSet<String>,
) -> String {
    let rows = crate::coverage::requirements();
    let by = seen(run, sources);
    let verdicts: Vec<(Requirement, Verdict)> = rows
        .into_iter()
        .map(|r| {
            let v = verdict(&r, by.get(&r.id), judged.contains(&r.id));
            (r, v)
        })
        .collect();
    let mut out = String::with_capacity(64 * 1024);
    head(&mut out, run);
    summary(&mut out, run, &verdicts);
    findings(&mut out, &verdicts, &by);
    for (prefix, title) in SECTIONS {
        let in_section: Vec<&(Requirement, Verdict)> = verdicts
            .iter()
            .filter(|(r, _)| r.id.split('-').next() == Some(prefix))
            .collect();
        if in_section.is_empty() {
            continue;
        }
        section(&mut out, prefix, title, &in_section, &by);
    }
    expected(&mut out, run);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

const STYLE: &str = "
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1b1f24;background:#fff}
header,main{max-width:1200px;margin:0 auto;padding:0 1.5rem}
header{padding-top:1.2rem}
h1{font-size:1.5rem;margin:.2rem 0}
h3{font-size:1rem;margin:1.2rem 0 .2rem;font-weight:600}
h2{font-size:1.15rem;margin:2rem 0 .5rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
.meta{color:#57606a;margin:.2rem 0 1rem}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid #eaeef2}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;color:#57606a}
td.id{white-space:nowrap;font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
td.files{font-size:.8rem;color:#57606a;font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
.v{display:inline-block;min-width:6.5em;text-align:center;border-radius:1em;padding:0 .6em;font-size:.8rem;font-weight:600;white-space:nowrap}
.v.failed{background:#ffebe9;color:#a40e26;border:1px solid #ff8182}
.v.warning{background:#fff8c5;color:#7d4e00;border:1px solid #d4a72c}
.v.xfail{background:#fbefff;color:#6e3c96;border:1px solid #c297ff}
.v.info{background:#ddf4ff;color:#0550ae;border:1px solid #80ccff}
.v.passed{background:#dafbe1;color:#116329;border:1px solid #4ac26b}
.v.skipped,.v.not-run{background:#f6f8fa;color:#57606a;border:1px solid #d0d7de}
.v.not-covered{background:#fff;color:#a40e26;border:1px dashed #ff8182}
.v.not-observable,.v.harness{background:#fff;color:#57606a;border:1px dashed #d0d7de}
tr.failed td{background:#fff8f7}
details{margin:.3rem 0}
summary{cursor:pointer;color:#0969da}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.6rem;overflow-x:auto;font-size:.8rem;line-height:1.35;white-space:pre-wrap;word-break:break-word}
.counts td{border:0;padding:.15rem .6rem .15rem 0}
.why{color:#57606a;font-size:.85rem}
nav{margin:.5rem 0 0;font-size:.9rem}
nav a{margin-right:.8rem}
.impact{font-size:.75rem;font-weight:600;text-transform:uppercase;letter-spacing:.03em}
.impact.security{color:#a40e26}
.impact.interop{color:#57606a}
";

fn head(out: &mut String, run: &RunResult) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>oauth-harness: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&run.target)
    );
}

fn summary(out: &mut String, run: &RunResult, verdicts: &[(Requirement, Verdict)]) {
    let c = &run.counts;
    let _ = write!(
        out,
        "<header>\n<h1>Conformance of {}</h1>\n<p class=\"meta\" id=\"run\" data-status=\"{}\">{} — {} scenarios: {} passed, {} failed, {} with warnings, {} skipped, {} errors, {} expected failures; in {:.1} s.</p>\n",
        esc(&run.target),
        run.status.label().to_ascii_lowercase(),
        run.status.label(),
        run.scenarios.len(),
        c.passed,
        c.failed,
        c.warning,
        c.skipped,
        c.error,
        c.expected_failure,
        run.duration_ms / 1000.0
    );
    out.push_str("<table class=\"counts\" id=\"counts\">\n");
    for v in Verdict::ALL {
        let n = verdicts.iter().filter(|(_, x)| *x == v).count();
        let _ = writeln!(
            out,
            "<tr data-verdict=\"{}\" data-count=\"{n}\"><td><span class=\"v {}\">{}</span></td><td>{n} row{}</td><td class=\"why\">{}</td></tr>",
            v.key(),
            v.key(),
            v.label(),
            if n == 1 { "" } else { "s" },
            esc(v.meaning())
        );
    }
    out.push_str("</table>\n");
    // The rows to look at first, each a link to its place.
    let attention: Vec<&(Requirement, Verdict)> = verdicts
        .iter()
        .filter(|(_, v)| matches!(v, Verdict::Failed | Verdict::Warning | Verdict::Info))
        .collect();
    if !attention.is_empty() {
        out.push_str("<p id=\"attention\">Did not pass: ");
        for (r, v) in attention {
            let _ = write!(
                out,
                "<a class=\"v {k}\" href=\"#row-{id}\">{id}</a> ",
                k = v.key(),
                id = esc(&r.id)
            );
        }
        out.push_str("</p>\n");
    }
    out.push_str("<nav>");
    for (prefix, title) in SECTIONS {
        let _ = write!(
            out,
            "<a href=\"#{prefix}\" title=\"{}\">{prefix}</a>",
            esc(title)
        );
    }
    out.push_str("</nav>\n</header>\n<main>\n");
    for n in &run.notes {
        let _ = writeln!(out, "<p class=\"why\">note: {}</p>", esc(n));
    }
}

/// The rows that did not pass, first, each with its diagnostics open.
fn findings(out: &mut String, verdicts: &[(Requirement, Verdict)], by: &BTreeMap<String, Seen>) {
    let mut found: Vec<&(Requirement, Verdict)> = verdicts
        .iter()
        .filter(|(_, v)| matches!(v, Verdict::Failed | Verdict::Warning | Verdict::Info))
        .collect();
    if found.is_empty() {
        return;
    }
    // Security findings first (issue #27), then by verdict; the sort is stable, so rows
    // keep the matrix's order within each group.
    let impact = |r: &Requirement| {
        if by.get(&r.id).is_some_and(|s| s.security) {
            crate::coverage::Impact::Security
        } else {
            crate::coverage::Impact::Interop
        }
    };
    found.sort_by_key(|(r, v)| (impact(r), *v));
    out.push_str("<section id=\"findings\">\n<h2>Findings</h2>\n");
    for (r, v) in found {
        let _ = write!(
            out,
            "<div class=\"finding {k}\" data-row=\"{id}\" data-impact=\"{impact}\"><h3><span class=\"v {k}\">{label}</span> <span class=\"impact {impact}\">{impact}</span> <a href=\"#row-{id}\">{id}</a> {level}: {text}</h3><div class=\"why\">{source}</div>",
            k = v.key(),
            id = esc(&r.id),
            label = v.label(),
            impact = impact(r).name(),
            level = esc(&r.level_label()),
            text = esc(&r.requirement),
            source = esc(&r.source),
        );
        for d in by
            .get(&r.id)
            .map(|s| s.details.as_slice())
            .unwrap_or_default()
        {
            let _ = write!(out, "<pre>{}</pre>", esc(d.trim_end()));
        }
        out.push_str("</div>\n");
    }
    out.push_str("</section>\n");
}

fn section(
    out: &mut String,
    prefix: &str,
    title: &str,
    rows: &[&(Requirement, Verdict)],
    by: &BTreeMap<String, Seen>,
) {
    let _ = write!(
        out,
        "<section id=\"{prefix}\">\n<h2>{prefix} — {}</h2>\n<table class=\"rows\">\n<thead><tr><th>row</th><th>level</th><th>impact</th><th>verdict</th><th>requirement</th><th>scenarios</th></tr></thead>\n<tbody>\n",
        esc(title)
    );
    for (r, v) in rows {
        let seen = by.get(&r.id);
        let _ = write!(
            out,
            "<tr class=\"row {k}\" id=\"row-{id}\" data-verdict=\"{k}\" data-impact=\"{impact}\"><td class=\"id\">{id}</td><td>{level}</td><td><span class=\"impact {impact}\">{impact}</span></td><td><span class=\"v {k}\">{label}</span></td><td>{text}<div class=\"why\">{source}</div>",
            k = v.key(),
            id = esc(&r.id),
            impact = r.impact.name(),
            level = esc(&r.level_label()),
            label = v.label(),
            text = esc(&r.requirement),
            source = esc(&r.source),
        );
        if let Some(s) = seen {
            if !s.details.is_empty() {
                let _ = write!(
                    out,
                    "<details><summary>{} finding(s): diagnostics and exchanges</summary>",
                    s.details.len()
                );
                for d in &s.details {
                    let _ = write!(out, "<pre>{}</pre>", esc(d.trim_end()));
                }
                out.push_str("</details>");
            }
            if *v == Verdict::Skipped && !s.skipped.is_empty() {
                let _ = write!(
                    out,
                    "<div class=\"why skip\">skipped: {}</div>",
                    esc(&s.skipped.join("; "))
                );
            }
        }
        if let (Verdict::NotObservable, Some(why)) = (v, &r.not_observable) {
            let _ = write!(out, "<div class=\"why\">{}</div>", esc(why));
        }
        let files: Vec<String> = seen
            .map(|s| s.files.iter().map(|f| esc(f).into_owned()).collect())
            .unwrap_or_default();
        let files = files.join("<br>");
        let _ = writeln!(out, "</td><td class=\"files\">{files}</td></tr>");
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn expected(out: &mut String, run: &RunResult) {
    let xfails: Vec<String> = run
        .scenarios
        .iter()
        .filter(|s| s.status == Status::ExpectedFailure)
        .map(|s| format!("{} ({})", s.name, s.file))
        .collect();
    if xfails.is_empty() && run.unmet_expectations.is_empty() {
        return;
    }
    out.push_str("<section id=\"expected\">\n<h2>Expected failures</h2>\n<ul>\n");
    for x in &xfails {
        let _ = writeln!(
            out,
            "<li><span class=\"v xfail\">XFAIL</span> {}</li>",
            esc(x)
        );
    }
    for u in &run.unmet_expectations {
        let _ = writeln!(
            out,
            "<li class=\"unmet\"><span class=\"v failed\">UNMET</span> {}</li>",
            esc(u)
        );
    }
    out.push_str("</ul>\n</section>\n");
}
