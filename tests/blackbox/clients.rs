//! `oauth-harness client`: clients judged by the reference server. A reference device
//! client (`fixtures/clients/device-client.sh`) that keeps every CLIENT row passes every
//! client scenario; each of its `--break` modes fails exactly the rows it breaks (a kill
//! matrix, as `mutate` is for the server); the same for a reference code-flow client
//! (`fixtures/clients/code-client.py`, Python's standard library); Noorle's own example
//! script gets the verdicts docs/clients.md explains. Needs bash, curl, jq and python3
//! (`.ci/run` installs them).

use oauth_harness::client::run::{run_client, ClientOptions};
use oauth_harness::client::scenario::{load, load_str, LoadedClient};
use oauth_harness::runner::result::{ScenarioResult, Status};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_oauth-harness");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn shipped() -> Vec<Arc<LoadedClient>> {
    let dir = PathBuf::from(ROOT).join("scenarios/clients");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/clients")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| Arc::new(load(p).unwrap_or_else(|e| panic!("{e}"))))
        .collect()
}

fn options(command: &[&str]) -> ClientOptions {
    ClientOptions {
        command: command.iter().map(|s| s.to_string()).collect(),
        // Not the default 20: a client that polls flat out takes 100–250 ms of real time
        // per poll on a loaded 2-core machine, which at ×20 is up to 5 s of the server's
        // clock, the interval itself; at ×10 the margin is twice that.
        time_scale: 10,
        harness_bin: Some(PathBuf::from(BIN)),
        open_url_from: oauth_harness::client::run::OpenUrlFrom::Browser,
        // The fixture clients sign proofs (through `oauth-harness dpop-proof`) when told
        // to; no other subject is said to, and the DPoP scenarios skip them.
        dpop: command
            .iter()
            .any(|c| c.ends_with("code-client.py") || c.ends_with("device-client.sh")),
    }
}

/// Runs `scenarios` for each subject, a few at a time (every run has its own server and
/// `HOME`; a busy machine only makes gaps longer, but a client that keeps its own time
/// needs the machine to keep up with it).
async fn run_each(
    subjects: &[(&'static str, Vec<&'static str>)],
    scenarios: &[Arc<LoadedClient>],
) -> BTreeMap<&'static str, Vec<ScenarioResult>> {
    let mut set = tokio::task::JoinSet::new();
    // One pool for every test of this file: the kill matrices run side by side.
    static SLOTS: std::sync::OnceLock<Arc<tokio::sync::Semaphore>> = std::sync::OnceLock::new();
    let slots = SLOTS
        .get_or_init(|| Arc::new(tokio::sync::Semaphore::new(6)))
        .clone();
    for (name, command) in subjects {
        for (i, l) in scenarios.iter().enumerate() {
            let (l, opts, name, slots) = (l.clone(), options(command), *name, slots.clone());
            set.spawn(async move {
                let _slot = slots.acquire_owned().await;
                (name, i, run_client(&l, &opts).await)
            });
        }
    }
    let mut out: BTreeMap<&str, Vec<(usize, ScenarioResult)>> = BTreeMap::new();
    while let Some(r) = set.join_next().await {
        let (name, i, result) = r.expect("client run");
        out.entry(name).or_default().push((i, result));
    }
    out.into_iter()
        .map(|(k, mut v)| {
            v.sort_by_key(|(i, _)| *i);
            (k, v.into_iter().map(|(_, r)| r).collect())
        })
        .collect()
}

/// The rows each run failed (FAILED or WARNING), with what the server saw.
fn failed_rows(results: &[ScenarioResult]) -> BTreeMap<String, Vec<String>> {
    let mut rows: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in results {
        for a in s.steps.iter().flat_map(|st| &st.assertions) {
            if matches!(a.status, Status::Failed | Status::Warning) {
                let row = a.requirement.clone().unwrap_or_else(|| "(no row)".into());
                // What the client printed, for a verdict nobody expected.
                let output = s
                    .steps
                    .first()
                    .and_then(|st| st.exchange.as_ref())
                    .map(|x| x.response_body.as_str())
                    .unwrap_or_default();
                rows.entry(row).or_default().push(format!(
                    "{}: {} (the client said: {output})",
                    s.file, a.actual
                ));
            }
        }
    }
    rows
}

fn script(args: &[&'static str]) -> Vec<&'static str> {
    let mut v = vec!["bash", "fixtures/clients/device-client.sh"];
    v.extend_from_slice(args);
    v
}

/// The kill matrix for clients: the reference client passes every scenario; each broken
/// mode fails the rows it breaks and no other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_broken_client_fails_exactly_the_rows_it_breaks() {
    let scenarios = shipped();
    assert!(scenarios.len() >= 7, "{} client scenarios", scenarios.len());
    // A client that does not wait breaks every rule about waiting; ignoring slow_down
    // breaks CLIENT-1 too, since the interval in force grew by 5 s.
    kill_matrix(
        script,
        &[
            ("reference", &[]),
            (
                "polls-too-fast",
                &["CLIENT-1", "CLIENT-2", "CLIENT-3", "CLIENT-6", "CLIENT-18"],
            ),
            ("ignores-slow-down", &["CLIENT-1", "CLIENT-3"]),
            // Its run never ends: an INFO on CLIENT-4 (ending the run is no row's MUST).
            ("never-stops", &["CLIENT-4"]),
            ("ignores-expiry", &["CLIENT-5"]),
            ("asks-again", &["CLIENT-7"]),
            ("ignores-retry-after", &["CLIENT-18"]),
            ("retries-at-once", &["CLIENT-6"]),
            // Ending the flow breaks no MUST (#28): a WARNING on CLIENT-18; after a
            // timeout, an INFO on CLIENT-6 (not listed: INFO is no failure).
            ("gives-up-on-429", &["CLIENT-18"]),
            ("gives-up-on-timeout", &[]),
            // Its poll is refused: no tokens, an INFO on the outcome, not listed.
            ("dpop-wrong-htu", &["DPOP-9"]),
            ("dpop-ignores-nonce", &["DPOP-13"]),
        ],
        &scenarios,
    )
    .await;
}

/// Runs `program` in each mode (`--break MODE`; "reference": none) against `scenarios`
/// and checks that each fails (FAILED or WARNING) exactly the rows listed for it, and that
/// none errs.
async fn kill_matrix(
    program: fn(&[&'static str]) -> Vec<&'static str>,
    cases: &[(&'static str, &[&str])],
    scenarios: &[Arc<LoadedClient>],
) {
    let subjects: Vec<(&'static str, Vec<&'static str>)> = cases
        .iter()
        .map(|(mode, _)| {
            let args: &[&'static str] = if *mode == "reference" {
                &[]
            } else {
                &["--break", mode]
            };
            (*mode, program(args))
        })
        .collect();
    let results = run_each(&subjects, scenarios).await;
    for (name, breaks) in cases {
        let r = &results[name];
        for s in r {
            assert_ne!(s.status, Status::Error, "{name}: {} {:?}", s.file, s.steps);
        }
        let got = failed_rows(r);
        let got_rows: BTreeSet<&str> = got.keys().map(String::as_str).collect();
        let want: BTreeSet<&str> = breaks.iter().copied().collect();
        assert_eq!(got_rows, want, "{name}: {got:#?}");
    }
}

fn code_client(args: &[&'static str]) -> Vec<&'static str> {
    let mut v = vec!["python3", "fixtures/clients/code-client.py"];
    v.extend_from_slice(args);
    v
}

/// The kill matrix of redirect-based clients: the reference code client (Python's
/// `webbrowser` opening `$BROWSER`) passes the code-flow scenarios; each broken mode fails
/// the rows it breaks and no other; each flow's client is skipped by the other flow's
/// scenarios, and the URL can come from the client's output instead of `$BROWSER`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_broken_code_client_fails_exactly_the_rows_it_breaks() {
    let all = shipped();
    let (code, device): (Vec<_>, Vec<_>) = all
        .iter()
        .cloned()
        .partition(|l| l.scenario.flow == oauth_harness::client::scenario::Flow::Code);
    assert!(code.len() >= 3, "{} code-flow scenarios", code.len());
    // Without PKCE or with two authentication methods the server refuses the exchange: no
    // tokens, an INFO on CLIENT-12 (no row requires the outcome), not listed.
    kill_matrix(
        code_client,
        &[
            ("reference", &[]),
            ("no-pkce", &["CLIENT-10"]),
            ("plain-pkce", &["CLIENT-10"]),
            ("no-state", &["CLIENT-9"]),
            ("fixed-state", &["CLIENT-9"]),
            ("accepts-any-state", &["CLIENT-9"]),
            ("ignores-iss", &["ISS-6", "ISS-7"]),
            ("same-verifier", &["CLIENT-11"]),
            ("reuses-code", &["CLIENT-12"]),
            ("two-auth-methods", &["CLIENT-13"]),
            // Under DPoP the token in the query is not under the DPoP scheme either.
            ("token-in-query", &["CLIENT-14", "DPOP-9"]),
            ("refresh-loop", &["CLIENT-19"]),
            // Its exchange is refused: no tokens, an INFO on the outcome, not listed.
            ("dpop-wrong-htu", &["DPOP-9"]),
            ("dpop-ignores-nonce", &["DPOP-13"]),
        ],
        &code,
    )
    .await;
    // The URL read from the client's output instead.
    let mut printed = options(&code_client(&["--print-url"]));
    printed.open_url_from = oauth_harness::client::run::OpenUrlFrom::Stdout;
    for l in &code {
        let r = run_client(l, &printed).await;
        assert_eq!(r.status, Status::Passed, "{}: {:?}", r.file, r.steps);
    }
    // Each flow's client is not judged by the other flow's scenarios.
    let r = run_client(&device[0], &options(&code_client(&[]))).await;
    assert_eq!(r.status, Status::Skipped, "{:?}", r.steps);
    assert_eq!(
        r.skip_reason.as_deref(),
        Some("not applicable: the client ran the code flow")
    );
    let r = run_client(&code[0], &options(&script(&[]))).await;
    assert_eq!(r.status, Status::Skipped, "{:?}", r.steps);
    assert_eq!(
        r.skip_reason.as_deref(),
        Some("not applicable: the client ran the device flow")
    );
    // A DPoP scenario judges only a client said to sign proofs (`client --dpop`).
    let dpop = code
        .iter()
        .find(|l| l.scenario.server.dpop)
        .expect("a DPoP client scenario");
    let mut unsaid = options(&code_client(&[]));
    unsaid.dpop = false;
    let r = run_client(dpop, &unsaid).await;
    assert_eq!(r.status, Status::Skipped, "{:?}", r.steps);
    assert_eq!(
        r.skip_reason.as_deref(),
        Some("not applicable: the client is not said to sign DPoP proofs (client --dpop)")
    );
}

/// Noorle's own example script (`fixtures/noorle-cli-flow.sh`, byte for byte but for its
/// host) as a subject: what the suite says of it, explained in docs/clients.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noorles_example_script_gets_the_verdicts_the_docs_explain() {
    let scenarios = shipped();
    let subjects = vec![("seed", vec!["bash", "fixtures/noorle-cli-flow.sh"])];
    let results = run_each(&subjects, &scenarios).await;
    let verdicts: BTreeMap<String, Status> = results["seed"]
        .iter()
        .map(|s| {
            (
                s.file.rsplit('/').next().unwrap_or("").to_string(),
                s.status,
            )
        })
        .collect();
    let expected: BTreeMap<String, Status> = [
        ("approve.yaml", Status::Passed),
        // A 429 is an error to it: it gives up. No MUST asks it to carry on; CLIENT-18
        // (a SHOULD) does: a WARNING.
        ("busy.yaml", Status::Warning),
        ("denied.yaml", Status::Passed),
        // It polls until the server says expired_token (CLIENT-5, a SHOULD).
        ("expiry.yaml", Status::Warning),
        ("extra_members.yaml", Status::Passed),
        // `jq -r .interval` gives "null", `sleep null` fails at once: it polls flat out.
        ("no_interval.yaml", Status::Failed),
        ("slow_down.yaml", Status::Passed),
        // It has no timeout: it waits out the held poll, so CLIENT-6 has nothing to judge.
        ("timeout.yaml", Status::Passed),
        // A device-flow client: the code-flow scenarios do not apply.
        ("code_approve.yaml", Status::Skipped),
        ("code_forged_state.yaml", Status::Skipped),
        ("code_iss_foreign.yaml", Status::Skipped),
        ("code_iss_missing.yaml", Status::Skipped),
        ("code_missing_state.yaml", Status::Skipped),
        ("code_revoked.yaml", Status::Skipped),
        // Not said to sign DPoP proofs.
        ("dpop.yaml", Status::Skipped),
        ("dpop_device.yaml", Status::Skipped),
        ("dpop_nonce.yaml", Status::Skipped),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(verdicts, expected, "{:#?}", failed_rows(&results["seed"]));
    let rows = failed_rows(&results["seed"]);
    assert!(rows.contains_key("CLIENT-2"), "{rows:#?}");
    assert!(rows.contains_key("CLIENT-5"), "{rows:#?}");
}

/// The `oauth2` crate's device and PKCE flows (`examples/oauth2_client/main.rs`, written as the
/// crate's documentation shows) as subjects: the verdicts docs/clients.md explains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oauth2_crate_gets_the_verdicts_the_docs_explain() {
    let example = PathBuf::from(BIN)
        .parent()
        .expect("target dir")
        .join("examples/oauth2_client");
    let example: &'static str = Box::leak(example.display().to_string().into_boxed_str());
    let scenarios = shipped();
    let subjects = vec![
        ("device", vec![example, "device"]),
        ("code", vec![example, "code"]),
    ];
    let results = run_each(&subjects, &scenarios).await;
    let verdicts = |subject: &str| -> BTreeMap<String, Status> {
        results[subject]
            .iter()
            .map(|s| {
                (
                    s.file.rsplit('/').next().unwrap_or("").to_string(),
                    s.status,
                )
            })
            .collect()
    };
    let device = verdicts("device");
    let code = verdicts("code");
    for (file, status) in &device {
        // The crate has no DPoP: the DPoP scenarios skip it.
        let expected = if file.starts_with("code_") || file.starts_with("dpop") {
            Status::Skipped
        } else if file == "busy.yaml" {
            // A 429 is an error to the crate: the flow ends (no MUST broken; CLIENT-18, a
            // SHOULD, asks it to carry on).
            Status::Warning
        } else {
            Status::Passed
        };
        assert_eq!(
            *status,
            expected,
            "device, {file}: {:#?}",
            failed_rows(&results["device"])
        );
    }
    for (file, status) in &code {
        // Written as the crate's documentation shows, it never looks at `iss` (the crate
        // has no RFC 9207 support): it redeems a mixed-up response's code (ISS-6, ISS-7).
        let expected = if file.starts_with("code_iss_") {
            Status::Failed
        } else if file.starts_with("code_") {
            Status::Passed
        } else {
            Status::Skipped
        };
        assert_eq!(
            *status,
            expected,
            "code, {file}: {:#?}",
            failed_rows(&results["code"])
        );
    }
    // Without a timeout of its own it waits out the held poll: CLIENT-6 is not judged.
    let timeout = results["device"]
        .iter()
        .find(|s| s.file.ends_with("timeout.yaml"))
        .expect("timeout.yaml");
    let skipped: Vec<_> = timeout
        .steps
        .iter()
        .flat_map(|st| &st.assertions)
        .filter(|a| a.status == Status::Skipped)
        .map(|a| a.actual.as_str())
        .collect();
    assert_eq!(
        skipped,
        ["poll 2 was held and the client waited for its answer"]
    );
    // It keeps its own clock (tokio's): every device scenario was judged at real time.
    for s in results["device"]
        .iter()
        .filter(|s| !s.file.contains("code_") && !s.file.contains("/dpop"))
    {
        let at_real_time =
            s.file.ends_with("expiry.yaml") || s.steps[0].name.contains("at real time");
        assert!(at_real_time, "{}: {}", s.file, s.steps[0].name);
    }
}

/// A client that hangs is stopped at the scenario's time limit: an ERROR (nothing to
/// judge), and every report is still written; one that prints its token and codes has
/// them blanked everywhere.
#[test]
fn a_hanging_client_is_stopped_and_a_chatty_one_redacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = dir.path().join("hang.yaml");
    std::fs::write(
        &scenario,
        "name: hang\nflow: device\ntime_limit: 20\nexpect:\n  - {check: gets_tokens, requirement: CLIENT-1, level: should}\n",
    )
    .expect("write");
    let reports = dir.path().join("r");
    let out = std::process::Command::new(BIN)
        .current_dir(ROOT)
        .args(["client", "--report-dir"])
        .arg(&reports)
        .arg(&scenario)
        .args(["--", "sh", "-c", "exec /bin/sleep 30"])
        .output()
        .expect("client");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("asked for no device code"), "{text}");
    assert!(text.contains("still running at the time limit"), "{text}");
    for f in ["report.json", "junit.xml", "report.md"] {
        assert!(reports.join(f).exists(), "no {f}");
    }
    // A client that prints what it should keep to itself.
    let reports = dir.path().join("r2");
    let out = std::process::Command::new(BIN)
        .current_dir(ROOT)
        .args(["client", "scenarios/clients/approve.yaml", "--report-dir"])
        .arg(&reports)
        .args([
            "--",
            "bash",
            "fixtures/clients/device-client.sh",
            "--print-token",
        ])
        .output()
        .expect("client");
    let mut all =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{all}");
    for f in ["report.json", "junit.xml", "report.md"] {
        all.push_str(&std::fs::read_to_string(reports.join(f)).expect("report"));
    }
    assert!(all.contains("access token: [access_token]"), "{all}");
    assert!(all.contains("device code: [device_code]"), "{all}");
    assert!(all.contains("enter [user_code]"), "{all}");
    let token = regex::Regex::new(r"[A-Za-z0-9_-]{43}").expect("re");
    assert!(token.find(&all).is_none(), "{all}");
}

/// Bad client scenario files are refused with `file:line:col` and exit 2; nothing runs.
#[test]
fn bad_client_scenarios_are_refused_at_their_line() {
    let cases = [
        ("no-expect.yaml", "name: x\nflow: device\nexpect: []\n", "3:", "judges at least one thing"),
        (
            "unknown-check.yaml",
            "name: x\nflow: device\nexpect:\n  - {check: waits_forever, requirement: CLIENT-1}\n",
            "4:",
            "unknown variant `waits_forever`",
        ),
        (
            "wrong-level.yaml",
            "name: x\nflow: device\nexpect:\n  - {check: stops_at_expiry, requirement: CLIENT-5}\n",
            "4:",
            "CLIENT-5 is a SHOULD row",
        ),
        (
            "no-row.yaml",
            "name: x\nflow: device\nexpect:\n  - {check: waits_the_interval}\n",
            "4:",
            "name it with `requirement`",
        ),
        (
            "unknown-field.yaml",
            "name: x\nflow: device\nserver: {intervall: 5}\nexpect:\n  - {check: gets_tokens}\n",
            "3:",
            "unknown field `intervall`",
        ),
        (
            "outcome-without-row.yaml",
            "name: x\nflow: device\nexpect:\n  - {check: gets_tokens}\n",
            "4:",
            "an outcome is judged on the row that asks for it",
        ),
        (
            "outcome-above-its-row.yaml",
            "name: x\nflow: device\nexpect:\n  - {check: gets_tokens, requirement: CLIENT-18}\n",
            "4:",
            "CLIENT-18 is a SHOULD row",
        ),
        (
            "real-time-for-code.yaml",
            "name: x\nflow: code\nreal_time: {time_limit: 30}\nexpect:\n  - {check: sends_state, requirement: CLIENT-9}\n",
            "3:",
            "`real_time` is for `flow: device`",
        ),
        (
            "real-time-other-decision.yaml",
            "name: x\nflow: device\nuser: {decision: deny}\nreal_time:\n  user: {decision: approve}\nexpect:\n  - {check: asks_once, requirement: CLIENT-7, level: should}\n",
            "5:",
            "the user decides the same at real time",
        ),
        (
            "real-time-zero-interval.yaml",
            "name: x\nflow: device\nreal_time:\n  server: {interval: 0}\nexpect:\n  - {check: asks_once, requirement: CLIENT-7, level: should}\n",
            "4:",
            "whole seconds above 0",
        ),
        (
            "omit-with-interval.yaml",
            "name: x\nflow: device\nserver: {omit_interval: true, interval: 7}\nexpect:\n  - {check: gets_tokens}\n",
            "3:",
            "leave interval at 5",
        ),
        (
            "proofs-without-dpop.yaml",
            "name: x\nflow: code\nexpect:\n  - {check: sends_valid_proofs, requirement: DPOP-9}\n",
            "4:",
            "give `server: {dpop: true}`",
        ),
        (
            "retry-without-nonces.yaml",
            "name: x\nflow: code\nserver: {dpop: true}\nexpect:\n  - {check: retries_with_nonce, requirement: DPOP-13, level: should}\n",
            "5:",
            "needs a server that asks for nonces",
        ),
        (
            "nonce-without-dpop.yaml",
            "name: x\nflow: code\nserver:\n  dpop_nonce: as\nexpect:\n  - {check: sends_state, requirement: CLIENT-9}\n",
            "4:",
            "DPoP nonces go with `dpop: true`",
        ),
        (
            "proofs-below-their-row.yaml",
            "name: x\nflow: code\nserver: {dpop: true}\nexpect:\n  - {check: sends_valid_proofs, requirement: DPOP-9, level: should}\n",
            "5:",
            "DPOP-9 is a MUST row",
        ),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text, at, says) in cases {
        let e = load_str(Arc::from(name), text.to_string())
            .expect_err(name)
            .to_string();
        assert!(e.starts_with(&format!("{name}:{at}")), "{e}");
        assert!(e.contains(says), "{e}");
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let out = std::process::Command::new(BIN)
        .current_dir(ROOT)
        .arg("client")
        .arg(dir.path())
        .args(["--", "true"])
        .output()
        .expect("client");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{} client scenario file(s) could not be used",
            cases.len()
        )),
        "{stderr}"
    );
}

#[test]
fn the_shipped_client_schema_matches_the_model() {
    let shipped = std::fs::read_to_string(format!("{ROOT}/scenarios/clients/client.schema.json"))
        .expect("schema");
    assert!(
        shipped == oauth_harness::client::scenario::schema(),
        "scenarios/clients/client.schema.json is stale: run `oauth-harness schema --client > scenarios/clients/client.schema.json`"
    );
}

/// No outcome fails a run unless a MUST row says so (#28): a client that ends its flow on a
/// 429, and one that ends it on a timed-out poll, exit 0 — a WARNING on CLIENT-18 (a
/// SHOULD), an INFO on CLIENT-6 (which says how to poll again, not that one must).
#[test]
fn a_client_that_gives_up_on_429_or_a_timeout_is_reported_not_failed() {
    for (mode, scenario, said) in [
        (
            "gives-up-on-429",
            "scenarios/clients/busy.yaml",
            "warning: a SHOULD requirement is not met [CLIENT-18]",
        ),
        (
            "gives-up-on-timeout",
            "scenarios/clients/timeout.yaml",
            "info: an optional (MAY) behaviour is absent [CLIENT-6]",
        ),
    ] {
        let reports = tempfile::tempdir().expect("tempdir");
        let out = std::process::Command::new(BIN)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["client", scenario, "--report-dir"])
            .arg(reports.path())
            .args([
                "--",
                "bash",
                "fixtures/clients/device-client.sh",
                "--break",
                mode,
            ])
            .output()
            .expect("client");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{mode}: {text}");
        assert!(text.contains(said), "{mode}: {text}");
    }
}

/// Clients that keep their own clock (#28): a Node client that waits with `setTimeout`
/// and a Python one with `time.sleep` (`fixtures/clients/own-clock.*`), run by the default
/// command. Polling every second whatever the interval, each is FAILED on CLIENT-1 (exit
/// 4); their well-behaved twins (the interval, +5 s after slow_down) pass every device
/// scenario — all judged at real time, since neither waits through the scaled `sleep`.
/// Needs python3, and node (`OAUTH_HARNESS_REQUIRE_NODE=1`, set by `.ci/run`, makes a
/// missing node a failure).
#[test]
fn clients_that_keep_their_own_clock_are_judged_at_real_time() {
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let required = std::env::var("OAUTH_HARNESS_REQUIRE_NODE").as_deref() == Ok("1");
    assert!(node || !required, "node is required here but not installed");
    let mut clients = vec![vec!["python3", "fixtures/clients/own-clock.py"]];
    if node {
        clients.push(vec!["node", "fixtures/clients/own-clock.mjs"]);
    } else {
        eprintln!("no node (apt-get install nodejs): only the Python client was judged");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let runs: Vec<(Vec<&str>, bool)> = clients
        .iter()
        .flat_map(|c| [(c.clone(), false), (c.clone(), true)])
        .collect();
    let outcomes: Vec<(i32, serde_json::Value, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .enumerate()
            .map(|(i, (command, too_fast))| {
                let reports = dir.path().join(i.to_string());
                scope.spawn(move || {
                    let mut args = command.clone();
                    if *too_fast {
                        args.extend(["--poll-every", "1"]);
                    }
                    let out = std::process::Command::new(BIN)
                        .current_dir(ROOT)
                        .args(["client", "--report-dir"])
                        .arg(&reports)
                        .arg("--")
                        .args(&args)
                        .output()
                        .expect("client");
                    let report: serde_json::Value = serde_json::from_str(
                        &std::fs::read_to_string(reports.join("report.json")).expect("report"),
                    )
                    .expect("json");
                    let text = String::from_utf8_lossy(&out.stdout).into_owned();
                    (out.status.code().unwrap_or(-1), report, text)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("run"))
            .collect()
    });
    // A 1-s poll on a busy machine may come a few tenths late, never early.
    let gap = regex::Regex::new(r"came 1\.[0-4] s after poll 1; the interval then was 2\.0 s")
        .expect("pattern");
    for ((command, too_fast), (code, report, text)) in runs.iter().zip(&outcomes) {
        let who = format!(
            "{}{}",
            command.join(" "),
            if *too_fast { " --poll-every 1" } else { "" }
        );
        let scenarios = report["scenarios"].as_array().expect("scenarios");
        if *too_fast {
            assert_eq!(*code, 4, "{who}: {text}");
            let approve = scenarios
                .iter()
                .find(|s| {
                    s["file"]
                        .as_str()
                        .is_some_and(|f| f.ends_with("approve.yaml"))
                })
                .expect("approve.yaml");
            let failed: Vec<String> = approve["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|st| st["assertions"].as_array().cloned().unwrap_or_default())
                .filter(|a| a["status"] == "FAILED")
                .map(|a| format!("{} {}", a["requirement"], a["actual"]))
                .collect();
            assert!(
                failed
                    .iter()
                    .any(|f| f.contains("CLIENT-1") && gap.is_match(f)),
                "{who}: {failed:#?}"
            );
            continue;
        }
        assert_eq!(*code, 0, "{who}: {text}");
        for s in scenarios {
            let file = s["file"].as_str().unwrap_or("");
            let want = if file.contains("code_") || file.contains("/dpop") {
                "SKIPPED"
            } else {
                "PASSED"
            };
            assert_eq!(s["status"], want, "{who}, {file}: {text}");
            let runs = s["steps"][0]["name"].as_str().unwrap_or("");
            if want == "PASSED" && !file.ends_with("expiry.yaml") {
                assert!(runs.contains("at real time"), "{who}, {file}: {runs}");
            }
        }
    }
}
