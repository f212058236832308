//! The compatibility matrix (`oauth-harness compat`, issue #27): the matrix's server rows
//! against the real servers the project runs (its `examples/targets/*`), each cell the
//! verdict that server's last run gave the row, each deviation linked to the sentence it
//! breaks (the reason in the example's expected-failures file). Written from the reports,
//! so `docs/compatibility.md` says only what a run showed; `--check` fails when the file
//! no longer says what the reports say.

use crate::contract::Contract;
use crate::coverage::{Impact, Requirement};
use crate::runner::expected::Expected;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One server's run: its name, its rows' verdicts and its listed deviations.
#[derive(Debug)]
pub struct Server {
    /// The example's folder name (`django-oauth-toolkit`).
    pub name: String,
    /// Row id → what the run says of it.
    pub rows: BTreeMap<String, Cell>,
    /// The expected-failures file: the sentence behind each deviation.
    pub expected: Vec<Expected>,
    /// Which contract judged (`rfc`, `noorle`, `oauth21`), from the report.
    pub contract: String,
}

/// What a run says of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cell {
    /// A FAILED or WARNING assertion, or one listed as a known deviation.
    Deviation {
        /// Whether a finding let something through (`row.impact` of the report).
        security: bool,
    },
    /// An optional behaviour absent or different (INFO).
    Info,
    /// Every assertion held.
    Passed,
    /// Its assertions were not judged (the server lacks what they need).
    Skipped,
}

/// Reads `report.json` of `example` under `reports` and the example's
/// `expected-failures.yaml`; where the example is also held to OAuth 2.1
/// (`expected-failures-oauth21.yaml`), that run as a second column (`NAME/oauth21/`), and
/// where it is also run with a refresh-token reuse window (`expected-failures-grace.yaml`),
/// that run as another (`NAME/grace/`), and where it is run demanding DPoP nonces
/// (`expected-failures-dpop-nonce.yaml`), that run too (`NAME/dpop-nonce/`).
pub fn read(example: &Path, reports: &Path) -> Result<Vec<Server>, String> {
    let name = example
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{}: not a folder", example.display()))?;
    let rfc = example.join("expected-failures.yaml");
    let mut out = vec![server(
        example,
        name.clone(),
        &reports.join(&name),
        std::slice::from_ref(&rfc),
    )?];
    // Held to OAuth 2.1: its own list on top of the RFC one. Restarted with a reuse
    // window for rotated refresh tokens, declared to the harness (`--rt-reuse
    // grace:<s>`): the window's own scenarios alone, with their own list. Restarted
    // demanding DPoP nonces (`--dpop-nonce as`): the DPoP scenarios alone, likewise.
    for (run, extends_rfc) in [("oauth21", true), ("grace", false), ("dpop-nonce", false)] {
        let own = example.join(format!("expected-failures-{run}.yaml"));
        if own.is_file() {
            let lists = match extends_rfc {
                true => vec![rfc.clone(), own],
                false => vec![own],
            };
            let dir = reports.join(&name).join(run);
            out.push(server(example, format!("{name} ({run})"), &dir, &lists)?);
        }
    }
    Ok(out)
}

fn server(example: &Path, name: String, dir: &Path, lists: &[PathBuf]) -> Result<Server, String> {
    let path = dir.join("report.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (run {}/run.sh first)",
            path.display(),
            example.display()
        )
    })?;
    let report: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut expected = Vec::new();
    for l in lists {
        expected.extend(crate::runner::expected::load(l)?);
    }
    Ok(Server {
        name,
        rows: cells(&report),
        expected,
        contract: report["contract"].as_str().unwrap_or("rfc").to_string(),
    })
}

/// Every row a report's assertions judged, with the run's word on it.
fn cells(report: &Value) -> BTreeMap<String, Cell> {
    let mut out: BTreeMap<String, Cell> = BTreeMap::new();
    let scenarios = report["scenarios"].as_array().cloned().unwrap_or_default();
    for s in &scenarios {
        let steps = s["steps"].as_array().cloned().unwrap_or_default();
        for a in steps
            .iter()
            .flat_map(|st| st["assertions"].as_array().cloned().unwrap_or_default())
        {
            let Some(id) = a["requirement"].as_str() else {
                continue;
            };
            let security = a["row"]["impact"] == "security";
            let cell = match a["status"].as_str().unwrap_or("") {
                "FAILED" | "WARNING" | "EXPECTED_FAILURE" | "ERROR" => Cell::Deviation { security },
                "INFO" => Cell::Info,
                "PASSED" => Cell::Passed,
                _ => Cell::Skipped,
            };
            out.entry(id.to_string())
                .and_modify(|c| *c = (*c).min(cell))
                .or_insert(cell);
        }
        // A scenario skipped whole: its rows were not judged here.
        if s["status"] == "SKIPPED" && steps.is_empty() {
            for id in s["requirements"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                out.entry(id.to_string()).or_insert(Cell::Skipped);
            }
        }
    }
    out
}

/// The page.
pub fn markdown(rows: &[Requirement], servers: &[Server]) -> String {
    let mut out = String::from(
        "# Compatibility of real servers\n\n\
         <!-- Written by `oauth-harness compat` from the examples' last runs; do not edit. -->\n\n\
         Each column is a real authorization server nobody here wrote, run by `.ci/run` through\n\
         its example in `examples/targets/` (which passes only when exactly its listed\n\
         deviations happen); a column marked (oauth21) is the same server held to OAuth 2.1\n\
         (`--expect oauth21`, matrix §22: its level overrides follow the row's RFC level); a\n\
         column marked (grace) is the same server restarted with a reuse window for rotated\n\
         refresh tokens, declared with `--rt-reuse grace:<s>`, running only the window's\n\
         scenarios (matrix §23, RACE-5…8, and the rotation scenario it breaks by design); a\n\
         column marked (dpop-nonce) is the same server restarted demanding DPoP nonces\n\
         (RFC 9449 §8), declared with `--dpop-nonce as`, running only the DPoP scenarios.\n\
         Each row is a server row of the conformance matrix; each cell is\n\
         what that run showed: ✓ held, ✗ a deviation (linked to the sentence it breaks,\n\
         **security** when the server let something through), ℹ an optional behaviour absent,\n\
         – not judged (the server lacks what the row needs: a protected API, a hook, a\n\
         capability). Regenerate: `oauth-harness compat --out docs/compatibility.md`\n\
         after the examples' `run.sh`.\n\n",
    );
    out.push_str("| server | contract | rows held | deviations | security | not judged |\n|---|---|---|---|---|---|\n");
    for s in servers {
        let count = |f: &dyn Fn(&Cell) -> bool| s.rows.values().filter(|c| f(c)).count();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            s.name,
            s.contract,
            count(&|c| *c == Cell::Passed),
            count(&|c| matches!(c, Cell::Deviation { .. })),
            count(&|c| *c == Cell::Deviation { security: true }),
            rows.iter()
                .filter(|r| !matches!(
                    s.rows.get(&r.id),
                    Some(Cell::Passed | Cell::Deviation { .. } | Cell::Info)
                ))
                .count(),
        );
    }
    out.push('\n');
    let mut header = String::from("| row | level | impact |");
    let mut rule = String::from("|---|---|---|");
    for s in servers {
        let _ = write!(header, " {} |", s.name);
        rule.push_str("---|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for r in rows {
        let _ = write!(out, "| {} | {} | {} |", r.id, level(r), r.impact.name());
        for s in servers {
            let cell = match s.rows.get(&r.id) {
                Some(Cell::Passed) => "✓".to_string(),
                Some(Cell::Info) => "ℹ".to_string(),
                Some(Cell::Deviation { security }) => format!(
                    "[✗{}](#{})",
                    if *security { " **security**" } else { "" },
                    anchor(&s.name, &r.id)
                ),
                Some(Cell::Skipped) | None => "–".to_string(),
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    for s in servers {
        let _ = writeln!(out, "\n## Deviations of {}\n", s.name);
        for r in rows {
            if !matches!(s.rows.get(&r.id), Some(Cell::Deviation { .. })) {
                continue;
            }
            let reasons: Vec<String> = s
                .expected
                .iter()
                .filter(|e| e.requirement.as_deref() == Some(r.id.as_str()))
                .map(|e| {
                    format!(
                        "`{}`: {}",
                        e.scenario,
                        e.reason.split_whitespace().collect::<Vec<_>>().join(" ")
                    )
                })
                .collect();
            let why = if reasons.is_empty() {
                "not in its expected-failures file: a new deviation, or a false verdict to look into".to_string()
            } else {
                reasons.join(" — ")
            };
            // A security row's finding is interop where the server refused anyway.
            let class = match (r.impact, s.rows.get(&r.id)) {
                (Impact::Interop, _) => "interop".to_string(),
                (Impact::Security, Some(Cell::Deviation { security: true })) => {
                    "security".to_string()
                }
                (Impact::Security, _) => {
                    "a security row, refused here: an interop finding".to_string()
                }
            };
            let _ = writeln!(
                out,
                "- <a id=\"{}\"></a>**{}** ({}, {class}): {}",
                anchor(&s.name, &r.id),
                r.id,
                match Contract::Oauth21.label(&r.id) {
                    Some(label) if s.contract == Contract::Oauth21.name() => label,
                    _ => r.level_label(),
                },
                why
            );
        }
    }
    out
}

fn anchor(server: &str, row: &str) -> String {
    format!("{server}-{row}")
        .to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The row's level, and OAuth 2.1's where matrix §22 changes it (`MAY · MUST (oauth21)`).
fn level(r: &Requirement) -> String {
    match Contract::Oauth21.label(&r.id) {
        Some(label) => format!("{} · {label}", r.level_label()),
        None => r.level_label(),
    }
}

/// The server rows of the matrix, security first within each area's order.
pub fn server_rows() -> Vec<Requirement> {
    let mut rows: Vec<Requirement> = crate::coverage::requirements()
        .into_iter()
        .filter(|r| r.scope == "server" && !r.id.starts_with("NOORLE-"))
        .collect();
    rows.sort_by_key(|r| (area(&r.id), r.impact != Impact::Security));
    rows
}

/// The matrix's order of areas.
fn area(id: &str) -> usize {
    crate::coverage::section_of(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_row_is_its_worst_assertion_and_a_deviation_links_its_sentence() {
        let report = json!({"target": "profile x", "scenarios": [
            {"status": "EXPECTED_FAILURE", "requirements": ["TOK-21"], "steps": [
                {"assertions": [
                    {"requirement": "TOK-21", "status": "PASSED"},
                    {"requirement": "TOK-21", "status": "EXPECTED_FAILURE", "row": {"impact": "security"}},
                    {"requirement": "TOK-11", "status": "PASSED"},
                    {"requirement": "DEV-16", "status": "INFO"}]}]},
            {"status": "SKIPPED", "requirements": ["RES-1"], "steps": []}]});
        let rows = cells(&report);
        assert_eq!(rows["TOK-21"], Cell::Deviation { security: true });
        assert_eq!(rows["TOK-11"], Cell::Passed);
        assert_eq!(rows["DEV-16"], Cell::Info);
        assert_eq!(rows["RES-1"], Cell::Skipped);
        let server = Server {
            name: "x".into(),
            rows,
            expected: vec![Expected {
                scenario: "code/reused_code.yaml".into(),
                requirement: Some("TOK-21".into()),
                step: None,
                reason: "RFC 6749 §4.1.2: the client MUST NOT use the\n code more than once."
                    .into(),
            }],
            contract: "rfc".into(),
        };
        let page = markdown(&server_rows(), &[server]);
        assert!(
            page.contains("| TOK-21 | MUST | security | [✗ **security**](#x-tok-21) |"),
            "{page}"
        );
        assert!(page.contains("| TOK-11 | MUST | interop | ✓ |"), "{page}");
        assert!(page.contains("<a id=\"x-tok-21\"></a>**TOK-21** (MUST, security): `code/reused_code.yaml`: RFC 6749 §4.1.2: the client MUST NOT use the code more than once."), "{page}");
        assert!(page.contains("| RES-1 | MUST | interop | – |"), "{page}");
        // OAuth 2.1's level beside the RFC's, where matrix §22 changes it.
        assert!(
            page.contains("| BCP-8 | SHOULD (derived) · MUST (oauth21) | security | – |"),
            "{page}"
        );
    }

    #[test]
    fn a_column_held_to_oauth21_has_anchors_a_browser_can_follow() {
        assert_eq!(
            anchor("django-oauth-toolkit (oauth21)", "OAUTH21-1"),
            "django-oauth-toolkit-oauth21-oauth21-1"
        );
        assert_eq!(anchor("x", "TOK-21"), "x-tok-21");
    }
}
