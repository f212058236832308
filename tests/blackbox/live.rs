//! Live mode: the shipped scenarios through target profiles against `oauth-harness serve`
//! running as a separate process, with the same verdicts as in-process.

use crate::binary::spawn_serve;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_oauth-harness");

/// The fixture clients' secrets, as the shipped target profiles read them.
pub const FIXTURE_SECRETS: [(&str, &str); 9] = [
    ("HARNESS_SECRET_M2M", "m2m-secret"),
    ("HARNESS_SECRET_WEB", "web-secret"),
    ("HARNESS_SECRET_TV", "tv-secret"),
    ("HARNESS_SECRET_WEB2", "web2-secret"),
    ("HARNESS_SECRET_PARC", "parc-secret"),
    (
        "HARNESS_SECRET_CSJ",
        "csj-secret-0123456789abcdef0123456789abcdef",
    ),
    ("HARNESS_SECRET_MULTI", "multi-secret"),
    ("HARNESS_SECRET_ODD", "s:e%c r"),
    ("HARNESS_USER_PASSWORD", "alice-password"),
];

/// Runs `oauth-harness run --target PROFILE` against `base`; exit code and report.json.
pub(crate) fn run_profile(profile: &str, base: &str, extra: &[&str]) -> (i32, Value, String) {
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
            // For the generic profile, the reference server's own pages, Noorle's contract
            // (it holds the target to the RFCs) and OpenID Connect's binding of client
            // assertions (RFC 7523 alone makes replay protection a MAY).
            // For every profile, the audience rules the server process does not follow (it
            // follows one set: its profile says `legacy`, matrix §24.2 #1).
            let generic = profile.ends_with("rfc-generic.yaml");
            // For every profile, OAuth 2.1's own scenarios (the run holds it to another
            // contract), a reuse window's (the profiles declare none), and the client whose
            // keys are fetched from the harness (the profiles publish none).
            // Nor DPoP nonces (the server process demands none).
            let documented = reason.contains("lacks: jwt_aud_issuer_only")
                || reason.contains("OAuth 2.1's contract only")
                || reason.contains("lacks: rt_reuse_grace")
                || reason.contains("lacks: dpop_nonce_")
                || reason.contains("maps no client to role `pkj-uri`")
                || generic
                    && (reason.contains("lacks: pages")
                        || reason.contains("lacks: oidc_client_auth")
                        || reason.contains("lacks: race")
                        || reason.contains("Noorle's documented contract only"));
            assert!(documented, "{profile}: {reason}");
        }
        assert!(report["target"]
            .as_str()
            .is_some_and(|t| t.starts_with("profile ")));
    }
}

#[tokio::test]
async fn a_faulty_live_server_fails_the_scenario_that_checks_its_rule() {
    let (_server, base) = spawn_serve(&["--test-mode", "--fault", "reuse-code"]).await;
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
    assert!(failed[0].ends_with("code/reused_code.yaml"), "{failed:?}");
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

#[tokio::test]
async fn a_live_server_with_short_lifetimes_runs_expiry_scenarios_in_real_time() {
    // The server under test keeps its codes 2 seconds instead of 600.
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/clients.yaml"
    ))
    .expect("fixture")
    .replace("authorization_code_ttl: 600", "authorization_code_ttl: 2");
    let clients = dir.path().join("short.yaml");
    std::fs::write(&clients, fixture).expect("write");
    let (_server, base) =
        spawn_serve(&["--test-mode", "--clients", clients.to_str().unwrap_or("")]).await;
    // No clock hook: real waits of up to 5 seconds instead.
    let profile = |extra: &str| {
        let p = dir.path().join(format!("p{}.yaml", extra.len()));
        std::fs::write(
            &p,
            format!(
                "name: short\nbase_url: {base}\nencoding: json\nsecrets: {{web: HARNESS_SECRET_WEB}}\nconsent: {{type: http, url: \"{{base}}/_test/authorize?{{query}}&decision={{decision}}\"}}\n{extra}"
            ),
        )
        .expect("write");
        p
    };
    let scenario = dir.path().join("expiry.yaml");
    std::fs::write(
        &scenario,
        "name: a code expires\nsteps:\n  - consent:\n      query: {response_type: code, client_id: web, redirect_uri: https://web.example/callback, scope: api, state: a}\n    capture:\n      - code: {redirect: code}\n  - advance_clock: {seconds: 3}\n  - request:\n      endpoint: token\n      form: {grant_type: authorization_code, code: \"${code}\", redirect_uri: https://web.example/callback}\n      auth: {type: basic, client: web, secret: \"${secret.web}\"}\n    expect:\n      - status: 400\n      - json: $.error\n        equals: invalid_grant\n",
    )
    .expect("write");
    let run = |p: std::path::PathBuf| {
        let scenario = scenario.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let reports = tempfile::tempdir().expect("tempdir");
                let out = std::process::Command::new(BIN)
                    .env("INSTA_UPDATE", "no")
                    .args(["run", "--snapshots", "off", "--target"])
                    .arg(&p)
                    .arg(&scenario)
                    .arg("--report-dir")
                    .arg(reports.path())
                    .envs(FIXTURE_SECRETS)
                    .output()
                    .expect("run");
                let text = String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr);
                (out.status.code().unwrap_or(-1), text)
            })
            .await
            .expect("join")
        }
    };
    let started = std::time::Instant::now();
    let (code, out) = run(profile("wait_for_expiry: 5\n")).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 passed"), "{out}");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(3),
        "the wait was real"
    );
    // Without it, the scenario needs a clock the target does not have: skipped.
    let (code, out) = run(profile("")).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("1 skipped") && out.contains("the target lacks: clock"),
        "{out}"
    );
    // A longer advance than the profile allows is skipped too.
    let (code, out) = run(profile("wait_for_expiry: 2\n")).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 skipped"), "{out}");
}

/// An authorization server without a protected API of its own (issue #27): the builtin's
/// profile with no `resources:` runs every scenario that calls none, and each one it skips
/// names the resource it calls.
#[tokio::test]
async fn a_server_without_a_protected_api_runs_every_scenario_that_calls_none() {
    let (_server, base) = spawn_serve(&["--test-mode"]).await;
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/targets/builtin-process.yaml"
    ))
    .expect("profile");
    let start = shipped.find("\nresources:\n").expect("a resources block") + 1;
    let end = start
        + shipped[start..]
            .find("\nuser:")
            .expect("user after resources")
        + 1;
    let no_api = format!("{}{}", &shipped[..start], &shipped[end..]);
    assert!(!no_api.contains("/api/"), "{no_api}");
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("no-api.yaml");
    std::fs::write(&profile, no_api).expect("write");
    let profile = profile.to_string_lossy().into_owned();
    let (code, report, out) =
        tokio::task::spawn_blocking(move || run_profile(&profile, &base, &[]))
            .await
            .expect("join");
    assert_eq!(code, 0, "{out}");
    let v = verdicts(&report);
    assert_eq!(v.len(), 104, "{v:?}");
    let passed = v.iter().filter(|(_, s)| s == "PASSED").count();
    assert!(passed >= 53, "{passed} of 104 passed: {v:?}");
    for s in report["scenarios"].as_array().into_iter().flatten() {
        if s["status"] == "PASSED" {
            continue;
        }
        assert_eq!(s["status"], "SKIPPED", "{s}");
        let reason = s["skip_reason"].as_str().unwrap_or("");
        assert!(
            reason.contains("lacks: jwt_aud_issuer_only")
                || reason.contains("OAuth 2.1's contract only")
                || reason.contains("lacks: rt_reuse_grace")
                || reason.contains("lacks: dpop_nonce_")
                || reason.contains("maps no client to role `pkj-uri`")
                || ["me", "items", "admin"]
                    .iter()
                    .any(|r| reason.contains(&format!("no protected resource `{r}`"))),
            "{}: {reason}",
            s["file"]
        );
    }
}

/// OAuth 2.1's contract over the wire (matrix §22): `--expect oauth21` through a profile
/// against `serve --oauth21` passes, OAuth 2.1's own scenarios among the passed; against
/// the server of the RFCs (plain allowed and advertised, PKCE optional for confidential
/// clients) the same scenarios fail on the rows §22 makes MUSTs.
#[tokio::test]
async fn the_oauth21_contract_judges_a_server_process() {
    let (_s21, base21) = spawn_serve(&["--test-mode", "--oauth21"]).await;
    let (code, report, out) = tokio::task::spawn_blocking(move || {
        run_profile(
            "fixtures/targets/builtin-process.yaml",
            &base21,
            &["--expect", "oauth21"],
        )
    })
    .await
    .expect("join");
    assert_eq!(code, 0, "{out}");
    assert_eq!(report["contract"], "oauth21", "{out}");
    assert!(
        out.contains("under the oauth21 contract"),
        "the totals say which contract judged: {out}"
    );
    let v = verdicts(&report);
    // The profile does not declare the OpenID Connect nonce exception (OAUTH21-2 needs it).
    let ours: Vec<_> = v
        .iter()
        .filter(|(f, _)| f.contains("oauth21/") && !f.ends_with("nonce_exception.yaml"))
        .collect();
    assert!(
        ours.len() >= 4 && ours.iter().all(|(_, s)| s == "PASSED"),
        "{ours:?}"
    );

    let (_s, base) = spawn_serve(&["--test-mode"]).await;
    let (code, report, out) = tokio::task::spawn_blocking(move || {
        run_profile(
            "fixtures/targets/builtin-process.yaml",
            &base,
            &["--expect", "oauth21", "scenarios/oauth21/pkce.yaml"],
        )
    })
    .await
    .expect("join");
    assert_eq!(code, 4, "{out}");
    let failed: std::collections::BTreeSet<String> = report["scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["steps"].as_array().cloned().unwrap_or_default())
        .flat_map(|st| st["assertions"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["status"] == "FAILED")
        .filter_map(|a| a["requirement"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        failed.into_iter().collect::<Vec<_>>(),
        ["OAUTH21-1", "OAUTH21-8", "PKCE-4", "PKCE-5"],
        "{out}"
    );
}

/// A declared reuse window over the wire (matrix §23, RACE-5…8): `serve
/// --refresh-token-grace 30` addressed through a profile that says `rt_reuse: grace:30`
/// passes the window's scenarios (the clock moved through the test route); with a switch
/// that forks the grant inside the window, RACE-5 fails.
#[tokio::test]
async fn a_declared_reuse_window_is_judged_through_a_profile() {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/targets/builtin-process.yaml"
    ))
    .expect("profile");
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("grace.yaml");
    std::fs::write(&profile, format!("{shipped}rt_reuse: grace:30\n")).expect("write");
    let profile = profile.to_string_lossy().into_owned();
    let scenarios = [
        "scenarios/race/refresh_grace_fork.yaml",
        "scenarios/race/refresh_grace_benign.yaml",
        "scenarios/race/refresh_grace_window.yaml",
        "scenarios/race/refresh_grace_generations.yaml",
        "scenarios/race/refresh.yaml",
    ];
    for (faults, expected) in [(&[][..], 0), (&["--fault", "race-rt-grace-fork"][..], 4)] {
        let mut args = vec!["--test-mode", "--refresh-token-grace", "30"];
        args.extend_from_slice(faults);
        let (_s, base) = spawn_serve(&args).await;
        let profile = profile.clone();
        let (code, report, out) =
            tokio::task::spawn_blocking(move || run_profile(&profile, &base, &scenarios))
                .await
                .expect("join");
        assert_eq!(code, expected, "{faults:?}: {out}");
        let v = verdicts(&report);
        let status = |file: &str| {
            v.iter()
                .find(|(f, _)| f.ends_with(file))
                .map(|(_, s)| s.clone())
                .unwrap_or_default()
        };
        // Strict reuse detection is not this target's: RACE-4 does not apply.
        assert_eq!(status("race/refresh.yaml"), "SKIPPED", "{out}");
        let fork = if faults.is_empty() {
            "PASSED"
        } else {
            "FAILED"
        };
        assert_eq!(status("refresh_grace_fork.yaml"), fork, "{out}");
        for other in ["benign", "window", "generations"] {
            assert_eq!(
                status(&format!("refresh_grace_{other}.yaml")),
                "PASSED",
                "{out}"
            );
        }
    }
}
