//! `oauth-harness load` in the open model (issue #19): arrivals at a rate whatever the
//! server's latency, a bounded pool of flows in flight with dropped starts counted, the
//! first request of each flow timed from its intended start. The builtin's `stall`
//! pauses its token endpoint; the open model must show the pause in p99 where the closed
//! model (goose's users in a loop) hides it.

use crate::load::{profile as write, summary};
use serde_json::Value;
use std::path::Path;

/// Token grants, the builtin pausing its token endpoint for 1.5 s two seconds in.
const STALLED_GRANTS: &str = "\
kind: token-grants
run_time: 5s
exchange:
  weights: {authorization_code: 1, refresh_token: 1, client_credentials: 2}
server:
  stall: {after: 2s, for: 1500ms}
";

/// `oauth-harness load ARGS`: its exit code and all it printed.
fn load(dir: &Path, args: &[&str]) -> (i32, String) {
    let run = crate::load::load(dir, args);
    (run.code, run.stdout + &run.stderr)
}

/// A request group's p99 and max, microseconds, from the summary's rows.
fn worst(s: &Value, group: &str) -> (u64, u64) {
    let rows = s["requests"].as_object().expect("requests");
    let pick = |k: &str| {
        rows.iter()
            .filter(|(name, _)| name.starts_with(group))
            .filter_map(|(_, r)| r[k].as_u64())
            .max()
            .unwrap_or(0)
    };
    (pick("p99_us"), pick("max_us"))
}

#[test]
fn a_stall_shows_in_the_open_models_p99_and_hides_in_the_closed_models() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let open = write(
        tmp.path(),
        "open.yaml",
        &format!("{STALLED_GRANTS}arrival: {{rate: 300/s}}\n"),
    );
    let closed = write(
        tmp.path(),
        "closed.yaml",
        &format!("{STALLED_GRANTS}users: 10\nincrease_rate: 100\n"),
    );
    let dir = |n: &str| tmp.path().join(n).display().to_string();
    // Side by side: each its own process and its own server.
    let (o, c) = std::thread::scope(|s| {
        let o = s.spawn(|| load(tmp.path(), &[&open, "--report-dir", &dir("o")]));
        let c = s.spawn(|| load(tmp.path(), &[&closed, "--report-dir", &dir("c")]));
        (o.join().expect("open run"), c.join().expect("closed run"))
    });
    assert_eq!(o.0, 0, "{}", o.1);
    assert_eq!(c.0, 0, "{}", c.1);
    let (so, sc) = (
        summary(&tmp.path().join("o")),
        summary(&tmp.path().join("c")),
    );

    // The open model started every arrival, at the rate asked.
    let a = &so["arrivals"];
    assert_eq!(a["intended"], 1500, "{a:#}");
    assert_eq!(a["started"], 1500, "{a:#}");
    assert_eq!(a["dropped"], 0, "{a:#}");
    let achieved = a["achieved_rate"].as_f64().expect("achieved_rate");
    assert!(
        (achieved - 300.0).abs() <= 6.0,
        "achieved {achieved}/s of 300/s"
    );
    assert!(o.1.contains("arrivals: intended 300.0/s"), "{}", o.1);
    assert!(o.1.contains("PASS  dropped == 0"), "{}", o.1);

    // The stall: 1.5 s of arrivals (a third of the run) waited; the open p99 shows it.
    let (p99, max) = worst(&so, "token");
    assert!(
        p99 >= 1_000_000,
        "open p99 {p99} µs hides the stall\n{}",
        o.1
    );
    assert!(max >= 1_400_000, "open max {max} µs");
    // The closed model's users were stuck in it too (its max), but they sent nothing
    // while they waited, so its p99 does not show it.
    let (p99, max) = worst(&sc, "token");
    assert!(
        max >= 1_400_000,
        "closed max {max} µs: no stall seen\n{}",
        c.1
    );
    assert!(p99 < 100_000, "closed p99 {p99} µs");
    assert!(sc.get("arrivals").is_none(), "{sc:#}");
}

#[test]
fn a_full_pool_drops_arrivals_counts_them_and_fails_the_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = write(
        tmp.path(),
        "small.yaml",
        // A closed-model profile, run in the open model from the command line.
        &STALLED_GRANTS.replace("run_time: 5s", "run_time: 4s\nusers: 10"),
    );
    let (code, text) = load(
        tmp.path(),
        &[
            &p,
            "--arrival-rate",
            "100/s",
            "--max-in-flight",
            "5",
            "--report-dir",
            "r",
        ],
    );
    assert_eq!(code, 5, "{text}");
    let s = summary(&tmp.path().join("r"));
    let a = &s["arrivals"];
    let (due, started, dropped) = (
        a["intended"].as_u64().unwrap_or(0),
        a["started"].as_u64().unwrap_or(0),
        a["dropped"].as_u64().unwrap_or(0),
    );
    assert_eq!(due, 400, "{a:#}");
    assert_eq!(started + dropped, due, "{a:#}");
    // During the pause five flows hold the pool; most of its 150 arrivals find it full.
    assert!(dropped >= 100, "{a:#}");
    assert_eq!(a["peak_in_flight"], 5, "{a:#}");
    assert!(text.contains("threshold breached: dropped == 0"), "{text}");
}

#[test]
fn device_arrivals_live_their_lives_with_the_profiles_mix() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = write(
        tmp.path(),
        "devices.yaml",
        "\
kind: device-polling
arrival: {rate: 20/s}
run_time: 2s
time_scale: 50
max_time: 30s
device:
  approve: 0.5
  deny: 0.25
  delay: {min: 6s, max: 10s}
server:
  device_code_ttl: 40
",
    );
    let (code, text) = load(tmp.path(), &[&p, "--report-dir", "r"]);
    assert_eq!(code, 0, "{text}");
    let s = summary(&tmp.path().join("r"));
    let n = |k: &str| s["outcomes"][k].as_u64().unwrap_or(0);
    assert_eq!(s["arrivals"]["started"], 40, "{s:#}");
    // The arrivals stop after 2 s; the devices then live their lives to the end: each
    // gets its tokens, its denial or its expiry, none is cut. An expiry is the device's
    // own reckoning (`expired`) or, when a loaded machine makes its last poll late by the
    // server's 50× clock, the server's word (`expired_token`).
    assert_eq!(n("unfinished"), 0, "{s:#}");
    assert_eq!(
        n("success") + n("access_denied") + n("expired") + n("expired_token"),
        40,
        "{s:#}"
    );
    assert!(
        n("success") > 0 && n("access_denied") > 0 && n("expired") > 0,
        "{s:#}"
    );
    assert_eq!(n("interval_violation"), 0, "{s:#}");
    assert!(text.contains("count > 0 for token: success"), "{text}");
}

#[test]
fn stress_ramps_arrival_rates_to_the_knee() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let text = "\
kind: token-grants
stress: {start_rate: 20/s, factor: 2, steps: 3, step_time: 1s}
exchange:
  weights: {client_credentials: 1}
thresholds: [\"count > 30 for token\"]
";
    // 20/s for 1 s is 20 requests: the first step breaks, the knee is 20/s, and a
    // required 40/s fails the run.
    let p = write(
        tmp.path(),
        "ramp.yaml",
        &text.replace("step_time: 1s}", "step_time: 1s, require_rate: 40/s}"),
    );
    let (code, out) = load(tmp.path(), &[&p, "--report-dir", "broke"]);
    assert_eq!(code, 5, "{out}");
    assert!(
        out.contains("knee: thresholds first broke at 20 arrivals/s"),
        "{out}"
    );
    assert!(
        out.contains("the knee came before the required arrival rate"),
        "{out}"
    );
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("broke/stress.json")).expect("stress.json"),
    )
    .expect("json");
    assert_eq!(doc["knee_rate"], 20.0);
    // With `count > 10` every step holds: 20, 40 and 80/s.
    let p = write(
        tmp.path(),
        "held.yaml",
        &text.replace("count > 30", "count > 10"),
    );
    let (code, out) = load(tmp.path(), &[&p, "--report-dir", "held"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("knee: not reached"), "{out}");
    for rate in ["20/s", "40/s", "80/s"] {
        assert!(out.contains(rate), "{rate} missing\n{out}");
    }
}

#[test]
fn bad_arrival_settings_say_where_and_why() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = write(
        tmp.path(),
        "norun.yaml",
        "kind: token-grants\narrival:\n  rate: 10/s\n",
    );
    let (code, text) = load(tmp.path(), &[&p]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("norun.yaml:3:"), "{text}");
    assert!(text.contains("run_time"), "{text}");
    let (code, text) = load(tmp.path(), &["token-grants", "--arrival-rate", "fast"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("not a rate"), "{text}");
    let (code, text) = load(tmp.path(), &["token-grants", "--max-in-flight", "3"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--max-in-flight"), "{text}");
    // An open-model profile takes no closed-model flag: it would be ignored.
    let open = write(
        tmp.path(),
        "open.yaml",
        "kind: token-grants\narrival: {rate: 10/s}\nrun_time: 1s\n",
    );
    let (code, text) = load(tmp.path(), &[&open, "--users", "50"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("--users sets the closed model's users"),
        "{text}"
    );
}
