//! Reporters: a [`RunResult`] in, text out. They never run anything.

pub mod console;
pub mod github;
pub mod junit;

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

/// Writes `report.json`, `junit.xml` and `report.md` into `dir`; the paths written.
pub(crate) fn write_files(run: &RunResult, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let junit = junit::render(run).map_err(std::io::Error::other)?;
    let files = [
        ("report.json", json(run)),
        ("junit.xml", junit),
        ("report.md", markdown(run)),
    ];
    let mut out = Vec::new();
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::write(&p, text)?;
        out.push(p);
    }
    Ok(out)
}
