//! Live mode: the shipped scenarios through target profiles against `oauth-harness serve`
//! running as a separate process, with the same verdicts as in-process.

use crate::binary::spawn_serve;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_oauth-harness");

/// The fixture clients' secrets, as the shipped target profiles read them.
pub const FIXTURE_SECRETS: [(&str, &str); 4] = [
    ("HARNESS_SECRET_M2M", "m2m-secret"),
    ("HARNESS_SECRET_WEB", "web-secret"),
    ("HARNESS_SECRET_TV", "tv-secret"),
    ("HARNESS_SECRET_WEB2", "web2-secret"),
];

/// Runs `oauth-harness run --target PROFILE` against `base`; exit code and report.json.
fn run_profile(profile: &str, base: &str, extra: &[&str]) -> (i32, Value, String) {
    let reports = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(BIN)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        // Verdicts, not response shapes: snapshots are the subject of snapshots.rs.
        .args([
            "run",
            "--snapshots",
            "off",
            "--target",
            profile,
            "--report-dir",
        ])
        .arg(reports.path())
        .args(extra)
        .env("OAUTH_HARNESS_TARGET", base)
        .envs(FIXTURE_SECRETS)
        .output()
        .expect("run");
    let stdout =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let report = std::fs::read_to_string(reports.path().join("report.json")).unwrap_or_default();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&report).unwrap_or(Value::Null),
        stdout,
    )
}

fn verdicts(report: &Value) -> Vec<(String, String)> {
    report["scenarios"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["file"].as_str().unwrap_or("").to_string(),
                        s["status"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn shipped_scenarios_pass_through_both_profiles_against_a_separate_process() {
    let (_server, base) = spawn_serve(&["--test-mode"]).await;
    for profile in [
        "fixtures/targets/builtin-process.yaml",
        "fixtures/targets/rfc-generic.yaml",
    ] {
        let (code, report, out) = tokio::task::spawn_blocking({
            let base = base.clone();
            move || run_profile(profile, &base, &[])
        })
        .await
        .expect("join");
        assert_eq!(code, 0, "{profile}:\n{out}");
        // Same verdicts as in-process, except the documented skips.
        let v = verdicts(&report);
        assert!(
            v.len() >= 4 && v.iter().all(|(_, s)| s == "PASSED" || s == "SKIPPED"),
            "{profile}: {v:?}"
        );
        for s in report["scenarios"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["status"] == "SKIPPED")
        {
            let reason = s["skip_reason"].as_str().unwrap_or("");
            // The builtin-only `odd` secret; for the generic profile, the reference server's
            // own pages.
            let generic = profile.ends_with("rfc-generic.yaml");
            let documented = reason.contains("supplies no secret: odd")
                || (generic && reason.contains("lacks: pages"))
                || (generic && reason.contains("Noorle's documented contract only"));
            assert!(documented, "{profile}: {reason}");
        }
        assert!(report["target"]
            .as_str()
            .is_some_and(|t| t.starts_with("profile ")));
    }
}

#[tokio::test]
async fn a_faulty_live_server_fails_the_scenario_that_checks_its_rule() {
    let (_server, base) = spawn_serve(&["--test-mode", "--fault", "never-slow-down"]).await;
    let (code, report, out) = tokio::task::spawn_blocking(move || {
        run_profile("fixtures/targets/rfc-generic.yaml", &base, &[])
    })
    .await
    .expect("join");
    assert_eq!(code, 4, "{out}");
    let v = verdicts(&report);
    let failed: Vec<&String> = v
        .iter()
        .filter(|(_, s)| s == "FAILED")
        .map(|(f, _)| f)
        .collect();
    assert_eq!(failed.len(), 1, "{v:?}");
    assert!(failed[0].ends_with("slow_down.yaml"));
}

#[test]
fn profiles_refuse_plain_http_to_remote_hosts_and_missing_secrets() {
    // No request is sent to example.com: the profile is refused before any.
    let (code, report, out) = run_profile(
        "fixtures/targets/builtin-process.yaml",
        "http://example.com",
        &["scenarios/errors"],
    );
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("refusing plain http to http://example.com"),
        "{out}"
    );
    assert_eq!(report["status"], "ERROR");
}
