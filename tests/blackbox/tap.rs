//! `run --report-tap FILE` (and `report.tap` in the report folder): TAP 14, parsed by a
//! real TAP consumer, node-tap's `tap-parser` (18.x, strict mode). Perl's `TAP::Parser`
//! (Debian's `prove`) stops at TAP 13: it reports "TAP specified version 14 but we don't
//! know about versions later than 13".
//!
//! The parser is found at `OAUTH_HARNESS_TAP_PARSER` (its module folder; `.ci/run` puts
//! it there with `npm install tap-parser@18`). Without it the test says so and passes,
//! unless `OAUTH_HARNESS_REQUIRE_TAP_PARSER=1` (set by `.ci/run`).

use serde_json::Value;
use std::process::Command;

/// Reads the TAP file with tap-parser in strict mode; prints every test point, the
/// subtests' too, with its diagnostics, and the final verdict, as JSON.
const CHECK: &str = r#"
const { Parser } = require(process.argv[2]);
const fs = require('fs');
const points = [];
const errors = [];
const watch = (p, depth) => {
  p.on('assert', (a) => points.push({ depth, ok: a.ok, name: a.name, todo: a.todo, skip: a.skip, diag: a.diag || null }));
  p.on('child', (c) => watch(c, depth + 1));
  p.on('extra', (x) => errors.push('extra: ' + x));
};
const p = new Parser({ strict: true }, (final) => {
  for (const f of final.failures) if (f.tapError) errors.push(f.tapError);
  console.log(JSON.stringify({ ok: final.ok, count: final.count, fail: final.fail, todo: final.todo, plan: final.plan, points, errors }));
});
watch(p, 0);
p.end(fs.readFileSync(process.argv[3], 'utf8'));
"#;

#[test]
fn the_tap_report_passes_a_tap_14_parser_with_each_failure_at_its_line() {
    let parser = std::env::var("OAUTH_HARNESS_TAP_PARSER").ok();
    let Some(parser) = parser.filter(|p| std::path::Path::new(p).join("package.json").exists())
    else {
        let required = std::env::var("OAUTH_HARNESS_REQUIRE_TAP_PARSER").as_deref() == Ok("1");
        assert!(
            !required,
            "tap-parser is required here but OAUTH_HARNESS_TAP_PARSER names none"
        );
        eprintln!("skipped: no tap-parser (npm install tap-parser@18; OAUTH_HARNESS_TAP_PARSER=its folder)");
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let tap = tmp.path().join("out/run.tap");
    let reports = tmp.path().join("r");
    crate::common::run_failing(&[
        "scenarios/code".as_ref(),
        "--fault".as_ref(),
        "reuse-code".as_ref(),
        "--report-dir".as_ref(),
        reports.as_os_str(),
        "--report-tap".as_ref(),
        tap.as_os_str(),
    ]);
    crate::common::same_report(&tap, &reports.join("report.tap"));
    let script = tmp.path().join("check.cjs");
    std::fs::write(&script, CHECK).expect("script");
    let parsed = Command::new("node")
        .arg(&script)
        .arg(&parser)
        .arg(&tap)
        .output()
        .expect("node");
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let v: Value = serde_json::from_slice(&parsed.stdout).expect("the checker's JSON");
    assert_eq!(v["errors"], serde_json::json!([]), "{v:#}");

    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("report.json")).expect("report.json"),
    )
    .expect("JSON");
    let scenarios = report["scenarios"].as_array().expect("scenarios");
    assert_eq!(v["plan"]["end"], scenarios.len(), "{v:#}");
    assert_eq!(v["count"], scenarios.len(), "{v:#}");
    assert_eq!(v["ok"], false);
    // Every FAILED assertion of the report is a failing subtest point whose diagnostic
    // names its requirement and its place, as the console's diagnostic does.
    let mut failed: Vec<(String, u64, u64)> = Vec::new();
    for a in scenarios
        .iter()
        .flat_map(|s| s["steps"].as_array().cloned().unwrap_or_default())
        .flat_map(|st| st["assertions"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["status"] == "FAILED")
    {
        let loc = &a["loc"];
        let n = |k: &str| loc[k].as_u64().expect("number");
        failed.push((
            loc["file"].as_str().expect("file").into(),
            n("line"),
            n("col"),
        ));
    }
    let mut seen: Vec<(String, u64, u64)> = v["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter(|p| p["depth"] == 1 && p["ok"] == false && p["todo"] == false)
        .map(|p| {
            let at = &p["diag"]["at"];
            assert_eq!(p["diag"]["severity"], "fail", "{p:#}");
            assert!(
                p["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("[TOK-21]")),
                "{p:#}"
            );
            let n = |k: &str| at[k].as_u64().expect("number");
            (
                at["file"].as_str().expect("file").into(),
                n("line"),
                n("column"),
            )
        })
        .collect();
    assert!(!failed.is_empty());
    failed.sort();
    seen.sort();
    assert_eq!(seen, failed);
    // What the run could not check is skipped, not passed.
    assert!(
        v["points"]
            .as_array()
            .expect("points")
            .iter()
            .any(|p| p["skip"] != false),
        "{v:#}"
    );
}

/// The TAP text of a failed scenario, as a user reads it (ports blanked).
#[test]
fn the_tap_report_of_a_failed_scenario_reads_as_shown() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let reports = crate::common::reused_code_reports(tmp.path());
    insta::assert_snapshot!("tap_report", reports["report.tap"]);
}
