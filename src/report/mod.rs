//! Reporters: a [`RunResult`] in, text out. They never run anything.

pub mod console;
pub mod github;
pub mod html;
pub mod junit;
pub mod tap;

use crate::runner::result::{RunResult, Status};
use std::path::{Path, PathBuf};

/// The JSON report: the whole result model.
pub fn json(run: &RunResult) -> String {
    serde_json::to_string_pretty(run)
        .unwrap_or_else(|e| format!("{{\"error\":\"cannot serialize the report: {e}\"}}"))
}

/// A markdown summary for a CI job summary.
pub fn markdown(run: &RunResult) -> String {
    let mut out = format!(
        "## oauth-harness: {}

{}

| result | scenario | requirements | time |
|---|---|---|---|
",
        run.status.label(),
        run.totals()
    );
    for s in &run.scenarios {
        out.push_str(&format!(
            "| {} | `{}` {} | {} | {:.1} ms |\n",
            s.status.label(),
            s.file,
            s.name.replace('|', "\\|"),
            s.requirements.join(", "),
            s.duration_ms
        ));
    }
    let problems: Vec<String> = run
        .scenarios
        .iter()
        .flat_map(|s| s.steps.iter().map(move |st| (s, st)))
        .flat_map(|(s, st)| {
            let mut lines = Vec::new();
            if let Some(e) = &st.error {
                lines.push(format!(
                    "- **ERROR** `{}` step *{}*: {}",
                    st.loc, st.name, e
                ));
            }
            for a in st
                .assertions
                .iter()
                .filter(|a| matches!(a.status, Status::Failed | Status::Warning | Status::Info))
            {
                lines.push(format!("- **{}** {}", a.status.label(), a.one_line()));
            }
            let _ = s;
            lines
        })
        .collect();
    let mut problems = problems;
    for u in &run.unmet_expectations {
        problems.push(format!("- **FAIL** {u}"));
    }
    if !problems.is_empty() {
        out.push_str("\n### Problems\n\n");
        out.push_str(&problems.join("\n"));
        out.push('\n');
    }
    out
}

/// What the reports need beyond the run: copies asked for outside the report folder, the
/// scenario sources (quoted by diagnostics) and the rows the whole suite judges.
#[derive(Debug, Clone, Default)]
pub(crate) struct Copies {
    /// `--report-tap FILE`.
    pub tap: Option<PathBuf>,
    /// `--report-html FILE`.
    pub html: Option<PathBuf>,
    /// Scenario texts by path.
    pub sources: std::collections::HashMap<String, String>,
    /// Row ids some scenario of the suite judges (run or not in this selection).
    pub judged: std::collections::HashSet<String>,
}

/// Writes `report.json`, `junit.xml`, `report.md`, `report.tap` and `report.html` into
/// `dir`, and the copies asked for; the paths written.
pub(crate) fn write_files(
    run: &RunResult,
    dir: &Path,
    copies: &Copies,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let junit = junit::render(run).map_err(std::io::Error::other)?;
    let tap = tap::render(run);
    let html = html::render(run, &copies.sources, &copies.judged);
    let mut files = vec![
        (dir.join("report.json"), json(run)),
        (dir.join("junit.xml"), junit),
        (dir.join("report.md"), markdown(run)),
        (dir.join("report.tap"), tap.clone()),
        (dir.join("report.html"), html.clone()),
    ];
    if let Some(p) = &copies.tap {
        files.push((p.clone(), tap));
    }
    if let Some(p) = &copies.html {
        files.push((p.clone(), html));
    }
    let mut out = Vec::new();
    for (path, text) in files {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        out.push(path);
    }
    Ok(out)
}
