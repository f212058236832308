//! `--format github` (automatic under `GITHUB_ACTIONS=true`): a FAILED run prints one
//! well-formed workflow command per FAILED assertion (`::error`) and WARNING
//! (`::warning`), each at the file, line and column of its diagnostic in the report, and
//! appends the markdown summary to `$GITHUB_STEP_SUMMARY`.

use serde_json::Value;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_oauth-harness");

/// `(level, file, line, col)` of every annotation, in order.
fn annotations(stdout: &str) -> Vec<(String, String, u64, u64)> {
    let re = regex::Regex::new(
        r"^::(error|warning) file=([^,]+),line=(\d+),col=(\d+),title=([^:]+)::(.+)$",
    )
    .expect("regex");
    stdout
        .lines()
        .filter(|l| l.starts_with("::"))
        .map(|l| {
            let c = re
                .captures(l)
                .unwrap_or_else(|| panic!("malformed workflow command: {l}"));
            let n = |i: usize| c[i].parse::<u64>().expect("a number");
            (c[1].to_string(), c[2].to_string(), n(3), n(4))
        })
        .collect()
}

#[test]
fn a_failed_run_under_github_actions_annotates_each_failure_at_its_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let summary = tmp.path().join("step-summary.md");
    std::fs::write(&summary, "an earlier step\n").expect("summary");
    let reports = tmp.path().join("r");
    let out = Command::new(BIN)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--fault", "no-cache-headers", "--snapshots", "off"])
        .args(["--report-dir", &reports.display().to_string()])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}");
    let mut seen = annotations(&stdout);
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("report.json")).expect("report.json"),
    )
    .expect("JSON");
    let mut expected = Vec::new();
    for st in report["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .flat_map(|s| s["steps"].as_array().cloned().unwrap_or_default())
    {
        for a in st["assertions"].as_array().cloned().unwrap_or_default() {
            let level = match a["status"].as_str() {
                Some("FAILED") => "error",
                Some("WARNING") => "warning",
                _ => continue,
            };
            let loc = &a["loc"];
            expected.push((
                level.to_string(),
                loc["file"].as_str().expect("file").to_string(),
                loc["line"].as_u64().expect("line"),
                loc["col"].as_u64().expect("col"),
            ));
        }
    }
    assert!(expected.iter().any(|e| e.0 == "error") && expected.iter().any(|e| e.0 == "warning"));
    seen.sort();
    expected.sort();
    assert_eq!(
        seen, expected,
        "one annotation per FAILED or WARNING assertion, at its place"
    );
    let md = std::fs::read_to_string(&summary).expect("summary");
    assert!(md.contains("### Problems"), "{md}");
    assert!(
        md.starts_with("an earlier step\n## oauth-harness: FAIL\n"),
        "{md}"
    );

    // Outside GitHub Actions, and with --format console, no workflow command.
    for (env, format) in [(None, None), (Some("true"), Some("console"))] {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["run", "--fault", "no-cache-headers", "--snapshots", "off"])
            .args(["--report-dir", &tmp.path().join("r2").display().to_string()])
            .args(["--requirement", "TOK-7"])
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY");
        if let Some(v) = env {
            cmd.env("GITHUB_ACTIONS", v);
        }
        if let Some(f) = format {
            cmd.args(["--format", f]);
        }
        let out = cmd.output().expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.lines().any(|l| l.starts_with("::")), "{stdout}");
    }
}
