//! `oauth-harness load`: each profile kind run for a second or two against the built-in
//! server (time scale 50, so a 5-second interval passes in 100 ms), with the outcome mix,
//! the harness's own interval discipline, thresholds both ways, stress knees, shards and
//! their merge, and bad input. Each run is its own process: goose's killswitch and
//! Ctrl-C handler are process-wide.

use crate::binary::spawn_serve;
use serde_json::Value;
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_oauth-harness");

/// A device-polling profile whose every device ends within about a second of real time.
const QUICK_DEVICES: &str = "\
kind: device-polling
users: 20
increase_rate: 400
time_scale: 50
device:
  approve: 0.5
  deny: 0.25
  eager: 0.2
  delay: {min: 12s, max: 20s}
server:
  device_code_ttl: 60
thresholds:
  - error_rate < 0.1%
  - p99 < 2s for token
";

pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

pub(crate) fn load(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new(BIN);
    cmd.current_dir(dir).arg("load").args(args);
    if args.first() != Some(&"merge") {
        cmd.arg("--no-progress");
    }
    let out = cmd.output().expect("run oauth-harness load");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub(crate) fn profile(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write profile");
    p.display().to_string()
}

pub(crate) fn summary(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("summary is JSON")
}

fn outcome(s: &Value, name: &str) -> u64 {
    s["outcomes"][name].as_u64().unwrap_or(0)
}

#[test]
fn device_polling_ends_every_device_as_configured_and_obeys_the_interval() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = profile(tmp.path(), "quick.yaml", QUICK_DEVICES);
    let reports = tmp.path().join("r");
    let run = load(
        tmp.path(),
        &[&p, "--report-dir", reports.to_str().unwrap_or("")],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let s = summary(&reports);
    // Roles are dealt by index: 10 approve, 5 deny, 5 never decide.
    assert_eq!(outcome(&s, "success"), 10, "{s:#}");
    assert_eq!(outcome(&s, "access_denied"), 5, "{s:#}");
    assert_eq!(
        outcome(&s, "expired") + outcome(&s, "expired_token"),
        5,
        "{s:#}"
    );
    assert_eq!(outcome(&s, "interval_violation"), 0, "{s:#}");
    assert_eq!(outcome(&s, "unfinished") + outcome(&s, "error"), 0, "{s:#}");
    // Four eager devices each poll early once, before any user decides (12 s > 7.5 s):
    // four slow_downs, and the server's own audit saw exactly those early polls.
    assert_eq!(outcome(&s, "deliberate_early_poll"), 4, "{s:#}");
    assert_eq!(outcome(&s, "slow_down"), 4, "{s:#}");
    // Each of them provoked by an eager poll: none came to a poll that kept the interval.
    assert_eq!(outcome(&s, "slow_down_unprovoked"), 0, "{s:#}");
    assert_eq!(outcome(&s, "server_early_polls"), 4, "{s:#}");
    assert!(outcome(&s, "authorization_pending") >= 20, "{s:#}");
    // Every poll the harness sent, probes included, is one the server counted.
    let polls: u64 = s["requests"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| *k != "device_authorization" && !k.starts_with("harness:"))
                .map(|(_, v)| v["count"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(polls, outcome(&s, "server_polls"), "{s:#}");
    // Named request metrics in goose's own report, and ours beside it.
    let html = std::fs::read_to_string(reports.join("goose-report.html")).expect("goose html");
    for name in [
        "token: authorization_pending",
        "token: slow_down",
        "token: success",
    ] {
        assert!(html.contains(name), "goose's report lacks {name}");
    }
    assert!(reports.join("goose-report.json").exists());
    let md = std::fs::read_to_string(reports.join("summary.md")).expect("summary.md");
    assert!(
        md.contains("| PASS | `count == 0 for harness: interval_violation` |"),
        "{md}"
    );
    // Console: the table, the verdicts, the report files.
    assert!(
        run.stdout.contains("PASS  error_rate < 0.1%"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("summary.json"), "{}", run.stdout);
}

#[test]
fn a_breached_threshold_exits_5_and_prints_the_breached_rule() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = profile(tmp.path(), "quick.yaml", QUICK_DEVICES);
    let reports = tmp.path().join("r");
    let run = load(
        tmp.path(),
        &[
            &p,
            "--users",
            "4",
            "--threshold",
            "p50 < 1us for token",
            "--report-dir",
            reports.to_str().unwrap_or(""),
        ],
    );
    assert_eq!(run.code, 5, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("threshold breached: p50 < 1us for token (observed "),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("FAIL  p50 < 1us for token"),
        "{}",
        run.stdout
    );
    // The results are kept all the same.
    let s = summary(&reports);
    let verdicts = s["thresholds"].as_array().cloned().unwrap_or_default();
    assert!(verdicts
        .iter()
        .any(|v| v["rule"] == "p50 < 1us for token" && v["passed"] == false));
    assert!(verdicts
        .iter()
        .any(|v| v["rule"] == "error_rate < 0.1%" && v["passed"] == true));
}

#[test]
fn token_exchange_runs_each_weighted_grant_without_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let reports = tmp.path().join("r");
    // The shipped profile, with think time so that the test leaves cores for the others.
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/load/token-grants.yaml"),
    )
    .expect("shipped profile");
    let p = profile(
        tmp.path(),
        "te.yaml",
        &format!("{shipped}wait_time: {{min: 2ms, max: 4ms}}\n"),
    );
    let run = load(
        tmp.path(),
        &[
            &p,
            "--users",
            "4",
            "--run-time",
            "1s",
            "--report-dir",
            reports.to_str().unwrap_or(""),
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let s = summary(&reports);
    for grant in ["authorization_code", "refresh_token", "client_credentials"] {
        assert!(outcome(&s, &format!("{grant}_ok")) > 0, "{grant}: {s:#}");
        assert_eq!(outcome(&s, &format!("{grant}_failed")), 0, "{grant}: {s:#}");
        assert_eq!(s["requests"][format!("token: {grant}")]["errors"], 0);
    }
    // Weights 2:3:5. Refresh transactions of a user without a token sign in first, so
    // only client_credentials is exact enough to check: about half of all grants.
    let cc = outcome(&s, "client_credentials_ok") as f64;
    let all: f64 = [
        "authorization_code_ok",
        "refresh_token_ok",
        "client_credentials_ok",
    ]
    .iter()
    .map(|k| outcome(&s, k) as f64)
    .sum();
    assert!((0.4..0.6).contains(&(cc / all)), "{s:#}");
    // The builtin's consent is one request of the server's: timed as `authorize`.
    assert!(
        s["requests"]["authorize"]["count"].as_u64() > Some(0),
        "{s:#}"
    );
    assert!(s["requests"]["consent hook"].is_null(), "{s:#}");
}

/// A consent hook's process is not the server's latency: against a target whose consent
/// is a hook, the sign-in's consent is its own row, `consent hook`, and `authorize` is
/// absent.
#[test]
fn a_consent_hook_is_timed_on_its_own_row() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (_server, base) = rt.block_on(spawn_serve(&["--test-mode"]));
    let tmp = tempfile::tempdir().expect("tempdir");
    let target =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/targets/builtin-process.yaml");
    let p = profile(
        tmp.path(),
        "signin.yaml",
        "kind: token-grants\nusers: 2\nincrease_rate: 100\niterations: 2\n\
         exchange: {weights: {authorization_code: 1, refresh_token: 0, client_credentials: 0}}\n",
    );
    let reports = tmp.path().join("r");
    let (code, text) = load_against(&p, &target, &base, &reports);
    assert_eq!(code, Some(0), "{text}");
    let s = summary(&reports);
    assert!(
        s["requests"]["consent hook"]["count"].as_u64() > Some(0),
        "{s:#}"
    );
    assert!(s["requests"]["authorize"].is_null(), "{s:#}");
}

#[test]
fn stress_reports_the_knee_and_gates_on_required_users() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let text = "\
kind: token-grants
stress: {start_users: 1, factor: 2, steps: 3, step_time: 1s}
wait_time: {min: 2ms, max: 4ms}
thresholds: [\"count > 20 for token\"]
";
    // Held at every step: no knee.
    let p = profile(tmp.path(), "ramp.yaml", text);
    let reports = tmp.path().join("held");
    let run = load(
        tmp.path(),
        &[&p, "--report-dir", reports.to_str().unwrap_or("")],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("knee: not reached"), "{}", run.stdout);
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("stress.json")).expect("stress.json"),
    )
    .expect("json");
    assert_eq!(doc["steps"].as_array().map(Vec::len), Some(3));
    assert_eq!(doc["knee_users"], Value::Null);

    // Broken at the first step: the knee is 1 user, and require_users 2 fails the run.
    let p = profile(
        tmp.path(),
        "ramp2.yaml",
        &text
            .replace("count > 20", "p50 < 1us")
            .replace("step_time: 1s}", "step_time: 1s, require_users: 2}"),
    );
    let reports = tmp.path().join("broke");
    let run = load(
        tmp.path(),
        &[&p, "--report-dir", reports.to_str().unwrap_or("")],
    );
    assert_eq!(run.code, 5, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("knee: thresholds first broke at 1 users"),
        "{}",
        run.stdout
    );
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("stress.json")).expect("stress.json"),
    )
    .expect("json");
    assert_eq!(doc["knee_users"], 1);
    assert_eq!(doc["steps"].as_array().map(Vec::len), Some(1));
}

#[test]
fn shards_split_the_users_and_merge_into_one_report() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = profile(tmp.path(), "quick.yaml", QUICK_DEVICES);
    let dirs: Vec<_> = (0..2).map(|i| tmp.path().join(format!("s{i}"))).collect();
    let root = tmp.path();
    std::thread::scope(|scope| {
        for (i, d) in dirs.iter().enumerate() {
            let p = p.clone();
            scope.spawn(move || {
                let shard = format!("{i}/2");
                let run = load(
                    root,
                    &[
                        &p,
                        "--users",
                        "7",
                        "--shard",
                        &shard,
                        "--report-dir",
                        d.to_str().unwrap_or(""),
                    ],
                );
                assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
            });
        }
    });
    let parts: Vec<Value> = dirs.iter().map(|d| summary(d)).collect();
    assert_eq!(parts[0]["meta"]["users"], 4);
    assert_eq!(parts[1]["meta"]["users"], 3);
    let merged_dir = tmp.path().join("merged");
    let files: Vec<String> = dirs
        .iter()
        .map(|d| d.join("summary.json").display().to_string())
        .collect();
    let mut args = vec!["merge"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--report-dir", merged_dir.to_str().unwrap_or("")]);
    let run = load(tmp.path(), &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let m = summary(&merged_dir);
    assert_eq!(m["meta"]["users"], 7);
    assert_eq!(m["shards"], 2);
    for key in [
        "success",
        "access_denied",
        "authorization_pending",
        "server_polls",
    ] {
        assert_eq!(
            outcome(&m, key),
            outcome(&parts[0], key) + outcome(&parts[1], key),
            "{key}"
        );
    }
    for (name, r) in m["requests"].as_object().cloned().unwrap_or_default() {
        let sum: u64 = parts
            .iter()
            .map(|p| p["requests"][&name]["count"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(r["count"].as_u64(), Some(sum), "{name}");
    }
    // The shards' rules are judged again on the merged figures.
    assert!(m["thresholds"]
        .as_array()
        .is_some_and(|v| v.iter().any(|v| v["rule"] == "error_rate < 0.1%")));
    // A rule that the merged figures break fails the merge.
    let mut args = vec!["merge"];
    args.extend(files.iter().map(String::as_str));
    let out_dir = tmp.path().join("merged2");
    args.extend([
        "--report-dir",
        out_dir.to_str().unwrap_or(""),
        "--threshold",
        "count > 1000000",
    ]);
    assert_eq!(load(tmp.path(), &args).code, 5);
}

/// `load PROFILE --target TARGET` against a `serve` process at `base` (the fixture's
/// secrets in the environment): its exit code and output.
fn load_against(profile: &str, target: &Path, base: &str, reports: &Path) -> (Option<i32>, String) {
    let out = std::process::Command::new(BIN)
        .args(["load", profile, "--no-progress", "--target"])
        .arg(target)
        .arg("--report-dir")
        .arg(reports)
        .env("OAUTH_HARNESS_TARGET", base)
        .envs(crate::live::FIXTURE_SECRETS)
        .output()
        .expect("run");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[test]
fn device_polling_against_a_separate_serve_process_through_a_target_profile() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (_server, base) = rt.block_on(spawn_serve(&["--test-mode", "--time-scale", "50"]));
    let tmp = tempfile::tempdir().expect("tempdir");
    let target = profile(
        tmp.path(),
        "target.yaml",
        &format!(
            "{}time_scale: 50\n",
            std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/targets/builtin-process.yaml")
            )
            .expect("profile")
        ),
    );
    // The fixture server keeps its policy: 1800 s codes, so only deciders end.
    let p = profile(
        tmp.path(),
        "p.yaml",
        "kind: device-polling\nusers: 6\nincrease_rate: 100\ndevice: {approve: 0.5, deny: 0.5, delay: {min: 6s, max: 10s}}\n",
    );
    let reports = tmp.path().join("r");
    let (code, text) = load_against(&p, Path::new(&target), &base, &reports);
    assert_eq!(code, Some(0), "{text}");
    let s = summary(&reports);
    assert_eq!(outcome(&s, "success"), 3, "{s:#}");
    assert_eq!(outcome(&s, "access_denied"), 3, "{s:#}");
    assert_eq!(
        outcome(&s, "interval_violation") + outcome(&s, "slow_down"),
        0,
        "{s:#}"
    );
    assert_eq!(s["meta"]["target"], "profile builtin-process");
}

/// A load profile names the suite's roles; a target profile maps them to its own ids
/// (`web` is `web2` here, with web2's redirect URI): the load runs as the ids.
#[test]
fn load_profiles_name_roles_that_the_target_profile_maps_to_its_ids() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (_server, base) = rt.block_on(spawn_serve(&["--test-mode"]));
    let tmp = tempfile::tempdir().expect("tempdir");
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/targets/builtin-process.yaml"),
    )
    .expect("profile");
    let target = profile(
        tmp.path(),
        "target.yaml",
        &shipped.replace(
            "web: {id: web, secret_env: HARNESS_SECRET_WEB, redirect_uris: [\"https://web.example/callback\"]}",
            "web: {id: web2, secret_env: HARNESS_SECRET_WEB2, redirect_uris: [\"https://web2.example/callback\"]}",
        ),
    );
    assert!(std::fs::read_to_string(&target)
        .expect("target")
        .contains("web: {id: web2"));
    let p = profile(
        tmp.path(),
        "p.yaml",
        "kind: token-grants\nusers: 2\nincrease_rate: 100\nrun_time: 1s\nwait_time: {min: 5ms, max: 10ms}\nexchange:\n  weights: {authorization_code: 1, refresh_token: 1, client_credentials: 1}\n  code_client: web\n  redirect_uri: https://web.example/callback\n",
    );
    let reports = tmp.path().join("r");
    let (code, text) = load_against(&p, Path::new(&target), &base, &reports);
    assert_eq!(code, Some(0), "{text}");
    let s = summary(&reports);
    assert!(outcome(&s, "authorization_code_ok") > 0, "{s:#}");
    assert_eq!(outcome(&s, "authorize_failed"), 0, "{s:#}");
    assert!(
        text.contains("client role `web` is `web2` on this target"),
        "{text}"
    );
    assert!(
        text.contains("redirect URI is its role's https://web2.example/callback"),
        "{text}"
    );
}

#[test]
fn bad_profiles_exit_2_naming_the_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = profile(
        tmp.path(),
        "bad.yaml",
        "kind: device-polling\nusers: 3\nthresholds:\n  - p99 < 50\n",
    );
    let run = load(tmp.path(), &[&p]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("bad.yaml:4:5: thresholds[0]: `p99 < 50`: `50` is not a time"),
        "{}",
        run.stderr
    );
    let p = profile(
        tmp.path(),
        "typo.yaml",
        "kind: device-polling\nusers: 3\nuser: 4\n",
    );
    let run = load(tmp.path(), &[&p]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("typo.yaml:3:1: unknown field `user`"),
        "{}",
        run.stderr
    );
    let run = load(tmp.path(), &["no-such-profile"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run
        .stderr
        .contains("not a built-in name (device-polling, token-grants, stress)"));
    let run = load(tmp.path(), &["device-polling", "--shard", "2/2"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    // A target that cannot do what the users need is refused before any load is sent.
    let bare = profile(
        tmp.path(),
        "bare-target.yaml",
        "name: bare\nbase_url: http://127.0.0.1:9\n",
    );
    let run = load(tmp.path(), &["device-polling", "--target", &bare]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "target bare: device users must approve or deny, but the profile has no approval hook"
        ),
        "{}",
        run.stderr
    );
    let garbage = profile(tmp.path(), "summary.json", "{\"not\": \"a summary\"}");
    let run = load(tmp.path(), &["merge", &garbage]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not a load summary"), "{}", run.stderr);
}

#[test]
fn ctrl_c_stops_the_run_and_keeps_its_reports() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let reports = tmp.path().join("r");
    let mut child = std::process::Command::new(BIN)
        .args([
            "load",
            "device-polling",
            "--run-time",
            "5m",
            "--no-progress",
            "--report-dir",
        ])
        .arg(&reports)
        // The users say when a poll was answered `authorization_pending`.
        .env("OAUTH_HARNESS_LOG", "oauth_harness::load::device=trace")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Interrupt once a device has polled and been told to wait, not after a guessed time.
    let (seen, log) = crate::binary::watch_lines(
        child.stderr.take().expect("stderr"),
        &["poll: authorization_pending"],
    );
    seen.recv_timeout(std::time::Duration::from_secs(120))
        .expect("no device polled within 2 minutes");
    let (code, out) = crate::binary::interrupt(child);
    let text = out + &log.join().expect("stderr reader");
    assert!(matches!(code, Some(0 | 5)), "{text}");
    let s = summary(&reports);
    assert!(outcome(&s, "authorization_pending") > 0, "{s:#}");
    assert!(
        s["notes"].as_array().is_some_and(|n| n
            .iter()
            .any(|n| n.as_str().is_some_and(|n| n.contains("stopped early")))),
        "{s:#}"
    );
    assert!(reports.join("goose-report.html").exists());
}

/// Devices that all carry a probe: half get tokens (then poll again), half are never
/// decided (then poll after `expires_in`).
const PROBED_DEVICES: &str = "\
kind: device-polling
users: 10
increase_rate: 400
time_scale: 50
probes: 1
device:
  approve: 0.5
  deny: 0
  delay: {min: 6s, max: 10s}
  other_client: tv
server:
  device_code_ttl: 40
";

/// Sign-ins and refreshes of the public client `spa` (its refresh tokens rotate), half of
/// them probed (a probed flow gives its tokens up, so some must be left to refresh).
const PROBED_GRANTS: &str = "\
kind: token-grants
users: 2
increase_rate: 100
run_time: 1s
probes: 0.5
wait_time: {min: 2ms, max: 4ms}
exchange:
  weights: {authorization_code: 1, refresh_token: 1, client_credentials: 0}
  code_client: spa
  redirect_uri: https://spa.example/callback
  scope: api offline_access
  client_credentials_client: m2m
  other_client: web2
";

/// Machine tokens with DPoP (RFC 9449), every flow probed: the same proof sent again
/// (DPOP-12), the bound token presented as Bearer (DPOP-25). The builtin maps resource
/// `me`.
const PROBED_DPOP: &str = "\
kind: token-grants
users: 2
increase_rate: 100
run_time: 1s
probes: 1
dpop: true
wait_time: {min: 2ms, max: 4ms}
exchange:
  weights: {authorization_code: 0, refresh_token: 0, client_credentials: 1}
  client_credentials_client: m2m
";

/// The load kill matrix: each rule the probes check, broken by the builtin's fault switch
/// for it, is caught (a MUST row fails the run with exit 5, the SHOULD row is counted
/// as advisory), and the clean builtin raises no alarm.
#[test]
fn protocol_probes_catch_each_broken_rule_and_stay_quiet_on_the_clean_builtin() {
    struct Case {
        profile: &'static str,
        fault: Option<&'static str>,
        probes: &'static [&'static str],
        violation: Option<&'static str>,
        /// The threshold that fails the run (exit 5), if one does.
        broke: Option<&'static str>,
    }
    let device_probes: &[&str] = &[
        "probe: device_code_again",
        "probe: poll_after_expiry",
        "probe: device_other_client",
    ];
    let grant_probes: &[&str] = &[
        "probe: code_again",
        "probe: rotated_refresh_again",
        "probe: refresh_other_client",
    ];
    let dpop_probes: &[&str] = &["probe: dpop_proof_again", "probe: bound_token_as_bearer"];
    let cases = [
        Case {
            profile: PROBED_DEVICES,
            fault: None,
            probes: device_probes,
            violation: None,
            broke: None,
        },
        Case {
            profile: PROBED_DEVICES,
            fault: Some("reuse-device-code"),
            probes: device_probes,
            violation: Some("advisory: device_code_redeemed_twice"),
            broke: None,
        },
        Case {
            profile: PROBED_DEVICES,
            fault: Some("device-code-any-client"),
            probes: &["probe: device_other_client"],
            violation: Some("advisory: device_code_redeemed_by_another_client"),
            // The other client took the tokens: the devices got none, which the
            // device-polling default rule fails; the advisory row itself fails nothing.
            broke: Some("count > 0 for token: success"),
        },
        Case {
            profile: PROBED_DEVICES,
            fault: Some("never-expire-device-codes"),
            probes: &["probe: poll_after_expiry"],
            violation: Some("protocol: poll_after_expiry_not_expired_token"),
            broke: Some("count == 0 for protocol"),
        },
        Case {
            profile: PROBED_GRANTS,
            fault: None,
            probes: grant_probes,
            violation: None,
            broke: None,
        },
        Case {
            profile: PROBED_GRANTS,
            fault: Some("reuse-code"),
            probes: &["probe: code_again"],
            violation: Some("protocol: code_accepted_twice"),
            broke: Some("count == 0 for protocol"),
        },
        Case {
            profile: PROBED_GRANTS,
            fault: Some("no-refresh-reuse-detection"),
            probes: &["probe: rotated_refresh_again"],
            violation: Some("protocol: rotated_refresh_token_accepted"),
            broke: Some("count == 0 for protocol"),
        },
        Case {
            profile: PROBED_GRANTS,
            fault: Some("refresh-any-client"),
            probes: &["probe: refresh_other_client"],
            violation: Some("protocol: refresh_token_accepted_from_another_client"),
            broke: Some("count == 0 for protocol"),
        },
        Case {
            profile: PROBED_DPOP,
            fault: None,
            probes: dpop_probes,
            violation: None,
            broke: None,
        },
        Case {
            profile: PROBED_DPOP,
            fault: Some("dpop-no-jti-check"),
            probes: &["probe: dpop_proof_again"],
            violation: Some("advisory: dpop_proof_replayed_accepted"),
            broke: None,
        },
        Case {
            profile: PROBED_DPOP,
            fault: Some("dpop-rs-accept-bearer"),
            probes: &["probe: bound_token_as_bearer"],
            violation: Some("protocol: bound_token_used_as_bearer_accepted"),
            broke: Some("count == 0 for protocol"),
        },
    ];
    let violations = [
        "advisory: device_code_redeemed_twice",
        "advisory: device_code_redeemed_by_another_client",
        "protocol: poll_after_expiry_not_expired_token",
        "protocol: code_accepted_twice",
        "protocol: rotated_refresh_token_accepted",
        "protocol: refresh_token_accepted_from_another_client",
        "advisory: dpop_proof_replayed_accepted",
        "protocol: bound_token_used_as_bearer_accepted",
    ];
    for case in &cases {
        let tmp = tempfile::tempdir().expect("tempdir");
        // Both profiles end with their `server:` section (or none): the fault joins it.
        let text = match (case.fault, case.profile.contains("server:")) {
            (Some(f), true) => format!("{}  faults: [{f}]\n", case.profile),
            (Some(f), false) => format!("{}server:\n  faults: [{f}]\n", case.profile),
            (None, _) => case.profile.to_string(),
        };
        let p = profile(tmp.path(), "probed.yaml", &text);
        let reports = tmp.path().join("r");
        let run = load(
            tmp.path(),
            &[&p, "--report-dir", reports.to_str().unwrap_or("")],
        );
        let what = format!("{:?}", case.fault);
        let exit = if case.broke.is_some() { 5 } else { 0 };
        assert_eq!(run.code, exit, "{what}\n{}\n{}", run.stdout, run.stderr);
        let s = summary(&reports);
        for probe in case.probes {
            assert!(outcome(&s, probe) > 0, "{what}: no `{probe}` sent: {s:#}");
        }
        for v in violations {
            let seen = outcome(&s, v);
            if Some(v) == case.violation {
                assert!(seen > 0, "{what}: `{v}` not caught: {s:#}");
            } else {
                assert_eq!(seen, 0, "{what}: false alarm `{v}`: {s:#}");
            }
        }
        if let Some(rule) = case.broke {
            assert!(run.stderr.contains(rule), "{what}: {}", run.stderr);
        }
    }
}
