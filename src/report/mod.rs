//! Reporters: a [`RunResult`] in, text out. They never run anything.

pub mod console;
pub mod github;
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

/// Copies of the reports asked for outside the report folder.
#[derive(Debug, Clone, Default)]
pub(crate) struct Copies {
    /// `--report-tap FILE`.
    pub tap: Option<PathBuf>,
}

/// Writes `report.json`, `junit.xml`, `report.md` and `report.tap` into `dir`, and the
/// copies asked for; the paths written.
pub(crate) fn write_files(
    run: &RunResult,
    dir: &Path,
    copies: &Copies,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let junit = junit::render(run).map_err(std::io::Error::other)?;
    let tap = tap::render(run);
    let mut files = vec![
        (dir.join("report.json"), json(run)),
        (dir.join("junit.xml"), junit),
        (dir.join("report.md"), markdown(run)),
        (dir.join("report.tap"), tap.clone()),
    ];
    if let Some(p) = &copies.tap {
        files.push((p.clone(), tap));
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
