//! The scenario runner against the built-in server: the shipped scenarios pass clean and
//! fail under the fault that breaks their rule; predicates, polls, captures, redaction,
//! parse errors and exit codes.

use oauth_harness::runner::result::{RunResult, Status};
use oauth_harness::runner::{run, RunOptions};
use oauth_harness::scenario::{discover, load, load_str, Loaded};
use oauth_harness::server::faults::Fault;
use std::path::PathBuf;
use std::sync::Arc;

fn opts(faults: &[Fault]) -> RunOptions {
    crate::common::run_options(crate::common::builtin(faults))
}

fn shipped() -> Vec<Arc<Loaded>> {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"));
    discover(&[root])
        .expect("scenarios/")
        .iter()
        .map(|p| Arc::new(load(p).unwrap_or_else(|e| panic!("{e}"))))
        .collect()
}

fn inline(text: &str) -> Arc<Loaded> {
    Arc::new(load_str(Arc::from("inline.yaml"), text.to_string()).unwrap_or_else(|e| panic!("{e}")))
}

fn status_of<'a>(
    r: &'a RunResult,
    file_suffix: &str,
) -> &'a oauth_harness::runner::result::ScenarioResult {
    r.scenarios
        .iter()
        .find(|s| s.file.ends_with(file_suffix))
        .unwrap_or_else(|| panic!("no scenario {file_suffix}"))
}

#[tokio::test]
async fn shipped_scenarios_pass_against_the_clean_server() {
    let r = run(shipped(), &opts(&[])).await;
    assert!(r.scenarios.len() >= 4);
    assert_eq!(
        r.status,
        Status::Passed,
        "{}",
        oauth_harness::report::markdown(&r)
    );
    assert_eq!(r.exit_code(), 0);
}

#[tokio::test]
async fn each_shipped_scenario_fails_against_the_fault_that_breaks_its_rule() {
    // The verdict takes the level of the row the fault breaks: a server that never sends
    // slow_down lacks an optional behaviour (DEV-16 is a MAY row): INFO, and exit 0.
    let table: [(&str, Fault, Status, u8); 5] = [
        (
            "device/happy_path.yaml",
            Fault::NoCacheHeaders,
            Status::Failed,
            4,
        ),
        (
            "device/slow_down.yaml",
            Fault::NeverSlowDown,
            Status::Info,
            0,
        ),
        (
            "device/slow_down.yaml",
            Fault::SlowDownNoIncrease,
            Status::Info,
            0,
        ),
        (
            "errors/invalid_client.yaml",
            Fault::AcceptUnknownClient,
            Status::Failed,
            4,
        ),
        (
            "code/pkce_happy_path.yaml",
            Fault::DropState,
            Status::Failed,
            4,
        ),
    ];
    for (file, fault, want, exit) in table {
        let r = run(shipped(), &opts(&[fault])).await;
        let s = status_of(&r, file);
        assert_eq!(s.status, want, "{file} under {}", fault.name());
        assert_eq!(r.exit_code(), exit);
    }
}

#[tokio::test]
async fn every_predicate_passes_and_fails() {
    // Each predicate twice on the same response: first written to hold, then to fail.
    let l = inline(
        r#"
name: predicates
independent_steps: true
steps:
  - request:
      endpoint: token
      form: {grant_type: client_credentials, scope: api}
      auth: {type: basic, client: m2m, secret: "${secret.m2m}"}
    expect:
      - status: 200
      - status: 201
      - status: [200, 201]
      - status: [400, 401]
  - request:
      endpoint: token
      form: {grant_type: client_credentials, scope: api}
      auth: {type: basic, client: m2m, secret: "${secret.m2m}"}
    expect:
      - json: $.token_type
        equals: Bearer
      - json: $.token_type
        equals: bearer
      - json: $.token_type
        not_equals: MAC
      - json: $.token_type
        not_equals: Bearer
      - json: $.access_token
        exists: true
      - json: $.refresh_token
        exists: true
      - json: $.refresh_token
        absent: true
      - json: $.access_token
        absent: true
      - header: content-type
        matches: ^application/json
      - header: content-type
        matches: ^text/html
      - json: $.scope
        contains: ap
      - json: $.scope
        contains: admin
      - json: $.token_type
        one_of: [Bearer, bearer]
      - json: $.token_type
        one_of: [MAC, DPoP]
      - json: $.expires_in
        type: integer
      - json: $.expires_in
        type: string
      - json: $.expires_in
        greater_than: 0
      - json: $.expires_in
        greater_than: 3600
      - json: $.expires_in
        less_than: 3601
      - json: $.expires_in
        less_than: 10
      - json: $.access_token
        length: 43
      - json: $.access_token
        length: 42
      - body: true
        contains: access_token
      - body: true
        contains: nope
      - json: $.scope
        not_contains: admin
      - json: $.scope
        not_contains: ap
"#,
    );
    let r = run(vec![l], &opts(&[])).await;
    let steps = &r.scenarios[0].steps;
    let a: Vec<_> = steps[0]
        .assertions
        .iter()
        .chain(&steps[1].assertions)
        .collect();
    assert_eq!(a.len(), 30);
    for (i, x) in a.iter().enumerate() {
        let want = if i % 2 == 0 {
            Status::Passed
        } else {
            Status::Failed
        };
        assert_eq!(
            x.status, want,
            "assertion {i}: {} (actual {})",
            x.description, x.actual
        );
    }
    // Failures say what they saw, and point at their line.
    assert_eq!(a[1].actual, "200");
    assert_eq!(a[1].loc.line, 11);
    assert!(!r.scenarios[0].steps[0]
        .exchange
        .as_ref()
        .is_some_and(|e| e.response_body.contains(&"m2m-secret".to_string())));
}

#[tokio::test]
async fn should_level_failures_are_warnings_and_do_not_fail_the_run() {
    let l = inline(
        r#"
name: should
steps:
  - request:
      endpoint: token
      form: {grant_type: client_credentials, scope: api}
      auth: {type: basic, client: m2m, secret: "${secret.m2m}"}
    expect:
      - header: pragma
        equals: no-cache
        requirement: TOK-7
        level: should
"#,
    );
    assert_eq!(
        run(vec![l.clone()], &opts(&[])).await.status,
        Status::Passed
    );
    let r = run(vec![l], &opts(&[Fault::NoCacheHeaders])).await;
    assert_eq!(r.status, Status::Warning);
    assert_eq!(r.exit_code(), 0);
}

fn device_poll(extra: &str) -> String {
    format!(
        r#"
name: poll
steps:
  - request:
      endpoint: device_authorization
      form: {{client_id: noorle-cli, scope: api}}
    capture:
      - device_code: {{json: $.device_code}}
      - user_code: {{json: $.user_code}}
      - interval: {{json: $.interval}}
      - expires_in: {{json: $.expires_in}}
  - poll:
      request:
        endpoint: token
        form:
          grant_type: urn:ietf:params:oauth:grant-type:device_code
          device_code: ${{device_code}}
          client_id: noorle-cli
      interval: ${{interval}}
      expires_in: ${{expires_in}}
      user_code: ${{user_code}}
{extra}
"#
    )
}

#[tokio::test]
async fn poll_obeys_the_interval_and_stops_on_each_terminal_answer() {
    // Approved after 3 pending answers: 4 polls, 5 s apart, no slow_down.
    let r = run(
        vec![inline(&device_poll(
            "      approve_after: 3\n    expect:\n      - status: 200",
        ))],
        &opts(&[]),
    )
    .await;
    let p = r.scenarios[0].steps[1].poll.clone().expect("poll stats");
    assert_eq!(
        (p.polls, p.pending, p.slow_downs, p.waits.clone()),
        (4, 3, 0, vec![5, 5, 5])
    );
    assert_eq!(r.status, Status::Passed);
    // Denied: stops at access_denied.
    let r = run(vec![inline(&device_poll("      deny_after: 1\n    expect:\n      - json: $.error\n        equals: access_denied"))], &opts(&[])).await;
    assert_eq!(
        r.status,
        Status::Passed,
        "{}",
        oauth_harness::report::markdown(&r)
    );
    assert_eq!(
        r.scenarios[0].steps[1].poll.as_ref().map(|p| p.polls),
        Some(2)
    );
    // Nobody decides: the loop stops before expires_in (never loops forever), and the
    // last answer is judged by the step's assertions: a verdict on the row, not an ERROR.
    let r = run(
        vec![inline(&device_poll(
            "      max_polls: 1000\n    expect:\n      - status: 200\n        requirement: DEV-17",
        ))],
        &opts(&[]),
    )
    .await;
    assert_eq!(r.status, Status::Failed);
    let st = &r.scenarios[0].steps[1];
    assert_eq!(st.assertions[0].requirement.as_deref(), Some("DEV-17"));
    assert_eq!(st.assertions[0].actual, "400");
    let p = st.poll.as_ref().expect("poll stats");
    assert_eq!(p.polls, 360, "1800 s / 5 s");
    assert!(
        p.stopped
            .as_deref()
            .is_some_and(|s| s.contains("expires_in")),
        "{:?}",
        p.stopped
    );
    // A client that polls 4 s early gets slow_down and adds 5 s each time (CLIENT-3).
    let r = run(
        vec![inline(&device_poll(
            "      early_by: 4\n      max_polls: 4",
        ))],
        &opts(&[]),
    )
    .await;
    let p = r.scenarios[0].steps[1].poll.clone().expect("poll stats");
    assert_eq!(
        (p.slow_downs, p.waits.clone(), p.final_interval),
        (3, vec![1, 6, 11], 20)
    );
}

#[tokio::test]
async fn no_credential_reaches_any_report() {
    // Under faults the reports quote requests and responses; none may show a credential.
    let r = run(
        shipped(),
        &opts(&[
            Fault::NoCacheHeaders,
            Fault::DropState,
            Fault::NeverSlowDown,
        ]),
    )
    .await;
    let sources = shipped()
        .iter()
        .map(|l| (l.path.to_string(), l.source.clone()))
        .collect();
    let junit = oauth_harness::report::junit::render(&r).expect("junit");
    let parsed =
        quick_junit::Report::deserialize_from_str(&junit).expect("a JUnit consumer reads it");
    assert_eq!(parsed.test_suites.len(), r.scenarios.len());
    assert!(parsed.failures > 0, "the faults show up as failures");
    let outputs = [
        junit,
        oauth_harness::report::json(&r),
        oauth_harness::report::markdown(&r),
        oauth_harness::report::console::render(&r, &sources, true),
    ];
    let credential = regex::Regex::new(r#""(access_token|refresh_token|device_code|code|client_secret|code_verifier)":"([^"\[][^"]*)""#).expect("regex");
    let long_run = regex::Regex::new("[A-Za-z0-9_-]{20,}").expect("regex");
    for out in &outputs {
        assert!(
            !out.contains("m2m-secret") && !out.contains("web-secret"),
            "a client secret leaked"
        );
        let unescaped = out
            .replace("\\\"", "\"")
            .replace("&quot;", "\"")
            .replace("&amp;", "&");
        if let Some(m) = credential.captures(&unescaped) {
            panic!("credential shown: {}", &m[0]);
        }
        for (k, v) in url::form_urlencoded::parse(unescaped.as_bytes()) {
            // Credentials here are 43-character base64url values; short test doubles such
            // as `code=nope` are not credentials.
            // (the redactor's documented minimum).
            if ["code", "code_verifier", "device_code", "refresh_token"].contains(&k.as_ref())
                && long_run.is_match(&v)
            {
                assert!(v.starts_with('['), "{k}={v} in a request line");
            }
        }
    }
}

#[test]
fn scenario_errors_point_at_file_line_and_column() {
    let cases = [
        ("empty", ""),
        ("yaml", "name: x\nsteps: [\n"),
        ("unknown_field", "name: x\nsteps:\n  - request: {endpoint: token}\n    expcet: []\n"),
        ("no_action", "name: x\nsteps:\n  - name: nothing\n"),
        ("two_actions", "name: x\nsteps:\n  - request: {endpoint: token}\n    advance_clock: {seconds: 1}\n"),
        ("unknown_endpoint", "name: x\nsteps:\n  - request:\n      endpoint: tokn\n"),
        ("undefined_var", "name: x\nsteps:\n  - request:\n      endpoint: token\n      form: {code: \"${nope}\"}\n"),
        ("bad_jsonpath", "name: x\nsteps:\n  - request: {endpoint: token}\n    expect:\n      - json: $..[\n        exists: true\n"),
        ("bad_regex", "name: x\nsteps:\n  - request: {endpoint: token}\n    expect:\n      - header: a\n        matches: \"(\"\n"),
        ("no_predicate", "name: x\nsteps:\n  - request: {endpoint: token}\n    expect:\n      - json: $.a\n"),
        ("wrong_type", "name: x\nsteps:\n  - request:\n      endpoint: token\n      follow_redirects: maybe\n"),
        ("unknown_helper", "name: x\nvars:\n  - v: ${frob()}\nsteps:\n  - request: {endpoint: token}\n"),
        ("snapshot_twice", "name: x\nsteps:\n  - request: {endpoint: token}\n    snapshot: a\n  - request: {endpoint: token}\n    snapshot: a\n"),
        ("snapshot_clock", "name: x\nsteps:\n  - advance_clock: {seconds: 1}\n    snapshot: a\n"),
        ("snapshot_redact", "name: x\nsteps:\n  - request: {endpoint: token}\n    snapshot: {name: a, redact: {\"$..[\": \"[x]\"}}\n"),
        ("snapshot_redact_scenario", "name: x\nsnapshot_redact: {\"nope\": \"[x]\"}\nsteps:\n  - request: {endpoint: token}\n"),
    ];
    let mut out = String::new();
    for (name, text) in cases {
        let e =
            load_str(Arc::from(format!("{name}.yaml").as_str()), text.to_string()).expect_err(name);
        out.push_str(&format!("{e}\n"));
    }
    insta::assert_snapshot!("scenario_errors", out);
}

#[test]
fn the_shipped_schema_matches_the_model() {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/scenario.schema.json"
    ))
    .expect("schema file");
    assert!(
        shipped == oauth_harness::scenario::syntax::schema(),
        "scenarios/scenario.schema.json is stale: run `oauth-harness schema > scenarios/scenario.schema.json`"
    );
    let v: serde_json::Value = serde_json::from_str(&shipped).expect("JSON");
    assert_eq!(v["required"], serde_json::json!(["name", "steps"]));
    assert_eq!(
        v["additionalProperties"],
        serde_json::json!(false),
        "unknown fields are refused, as by the loader"
    );
}

#[tokio::test]
async fn expected_failures_turn_known_deviations_green_and_fail_when_they_stop() {
    use oauth_harness::runner::expected::{apply, Expected};
    let list = vec![
        Expected {
            scenario: "device/happy_path.yaml".into(),
            requirement: None,
            step: None,
            reason: "this server sends no Cache-Control (RFC 6749 §5.1)".into(),
        },
        Expected {
            scenario: "code/pkce_happy_path.yaml".into(),
            requirement: Some("TOK-6".into()),
            step: None,
            reason: "this server sends no Cache-Control (RFC 6749 §5.1)".into(),
        },
    ];
    // The deviation happens: the run passes, the assertions are XFAIL.
    let mut r = run(shipped(), &opts(&[Fault::NoCacheHeaders])).await;
    apply(&mut r, &list);
    assert_eq!(
        r.status,
        Status::Passed,
        "{}",
        oauth_harness::report::markdown(&r)
    );
    assert_eq!(
        status_of(&r, "device/happy_path.yaml").status,
        Status::ExpectedFailure
    );
    assert_eq!(r.counts.expected_failure, 2);
    // Warnings (TOK-7, a SHOULD row) are listed deviations too.
    assert_eq!(r.assertion_counts.warning, 0);
    assert_eq!(r.exit_code(), 0);
    // The server was fixed: the listed failures did not happen, and the run fails.
    let mut r = run(shipped(), &opts(&[])).await;
    apply(&mut r, &list);
    assert_eq!(r.status, Status::Failed);
    assert_eq!(r.unmet_expectations.len(), 2);
    assert_eq!(r.exit_code(), 4);
    // Other failures stay failures.
    let mut r = run(shipped(), &opts(&[Fault::NoCacheHeaders, Fault::DropState])).await;
    apply(&mut r, &list);
    assert_eq!(r.status, Status::Failed);
    assert_eq!(
        status_of(&r, "code/pkce_happy_path.yaml").status,
        Status::Failed
    );
}

#[tokio::test]
async fn the_rfc_contract_skips_noorle_rows_and_the_noorle_contract_enforces_them() {
    use oauth_harness::runner::profile::Contract;
    // These servers break only what Noorle's docs promise (its exact messages; 400 rather
    // than the 401 that RFC 6749 §5.2 also allows).
    for fault in [Fault::GenericErrorDescriptions, Fault::InvalidClient401] {
        let mut o = opts(&[fault]);
        o.expect = Some(Contract::Noorle);
        assert_eq!(
            run(shipped(), &o).await.status,
            Status::Failed,
            "{} under noorle",
            fault.name()
        );
        o.expect = Some(Contract::Rfc);
        let r = run(shipped(), &o).await;
        assert_eq!(
            r.status,
            Status::Passed,
            "{} under rfc: {}",
            fault.name(),
            oauth_harness::report::markdown(&r)
        );
        let skipped = r.assertion_counts.skipped;
        assert!(
            skipped > 0,
            "NOORLE assertions are reported as skipped, not passed"
        );
    }
    // A fault that breaks an RFC rule fails under both.
    let mut o = opts(&[Fault::NeverExpireCodes]);
    o.expect = Some(Contract::Rfc);
    assert_eq!(run(shipped(), &o).await.status, Status::Failed);
}

/// `sleep` waits the target's time: on the builtin its clock moves at once (two polls a
/// `sleep` of the interval apart are not too early: `authorization_pending`, where without
/// it the second is `slow_down`); past 60 s it is an ERROR that says so.
#[tokio::test]
async fn sleep_waits_the_targets_time_and_refuses_long_waits() {
    let scenario = |wait: &str| {
        format!(
            r#"
name: sleep
steps:
  - request:
      endpoint: device_authorization
      form: {{client_id: noorle-cli, scope: api}}
    capture:
      - device_code: {{json: $.device_code}}
      - interval: {{json: $.interval}}
  - sleep: {{seconds: "${{interval}}"}}
  - request: &poll
      endpoint: token
      form: {{grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code: "${{device_code}}", client_id: noorle-cli}}
  - {wait}
  - request: *poll
    expect:
      - json: $.error
        equals: authorization_pending
"#
        )
    };
    let r = run(
        vec![
            inline(&scenario("sleep: {seconds: \"${interval}\"}")),
            inline(&scenario("sleep: {seconds: 0.5}")),
            inline(&scenario("sleep: {seconds: 61}")),
        ],
        &opts(&[]),
    )
    .await;
    let verdicts: Vec<Status> = r.scenarios.iter().map(|s| s.status).collect();
    assert_eq!(
        verdicts,
        [Status::Passed, Status::Failed, Status::Error],
        "{}",
        oauth_harness::report::markdown(&r)
    );
    let long = &r.scenarios[2].steps[3];
    assert!(
        long.error
            .as_deref()
            .is_some_and(|e| e.contains("from 0 to 60")),
        "{long:?}"
    );
}

/// `each` (matrix §23, RACE-5 and RACE-6): one request per member of a list, summed up
/// as a race is — reversed and stopped at the first 2xx when asked; a variable that holds
/// no list is an ERROR of the step that names its kind, never its value.
#[tokio::test]
async fn each_sends_one_request_per_member_and_refuses_what_is_no_list() {
    let scenario = |each: &str, expect: &str| {
        format!(
            r#"
name: each
steps:
  - request:
      endpoint: token
      form: {{grant_type: client_credentials, scope: api}}
      auth: {{type: basic, role: m2m}}
    capture:
      - access_token: {{json: $.access_token}}
  - name: the API with each token
    each:
      {each}
      request:
        method: GET
        endpoint: resource:me
        auth: {{type: bearer, token: "${{t}}"}}
    expect:
{expect}
"#
        )
    };
    let list = r#"in: ["${access_token}", "not-a-token", "nor-this"]"#;
    let counts = |n: u32, ok: u32| {
        format!("      - json: $.n\n        equals: {n}\n      - json: $.ok\n        equals: {ok}")
    };
    let r = run(
        vec![
            inline(&scenario(&format!("{list}\n      as: t"), &counts(3, 1))),
            // Last first, up to the first 2xx: the two refusals, then the token.
            inline(&scenario(
                &format!("{list}\n      as: t\n      reverse: true\n      until_ok: true"),
                &format!(
                    "{}\n      - json: $.statuses['401']\n        equals: 2",
                    counts(3, 1)
                ),
            )),
            inline(&scenario(
                &format!("{list}\n      as: t\n      until_ok: true"),
                &counts(1, 1),
            )),
            inline(&scenario(
                "in: \"${access_token}\"\n      as: t",
                &counts(1, 1),
            )),
        ],
        &opts(&[]),
    )
    .await;
    let verdicts: Vec<Status> = r.scenarios.iter().map(|s| s.status).collect();
    assert_eq!(
        verdicts,
        [
            Status::Passed,
            Status::Passed,
            Status::Passed,
            Status::Error
        ],
        "{}",
        oauth_harness::report::markdown(&r)
    );
    let e = r.scenarios[3].steps[1].error.as_deref().unwrap_or("");
    assert!(
        e.contains("each: `in` (${access_token}) is a string, not a list"),
        "{e}"
    );
}

/// Security findings first (issue #27): a stolen-code replay (TOK-21) is printed before
/// the wrong `state` of a scenario that comes earlier in file order, each diagnostic says
/// its row's level and impact, and a closing line sums the findings by impact.
#[test]
fn the_console_and_the_html_report_list_security_findings_first() {
    let reports = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oauth-harness"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "--snapshots",
            "off",
            "--fault",
            "alter-state",
            "--fault",
            "reuse-code",
        ])
        .args([
            "scenarios/code/pkce_happy_path.yaml",
            "scenarios/code/reused_code.yaml",
        ])
        .arg("--report-dir")
        .arg(reports.path())
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let html = std::fs::read_to_string(reports.path().join("report.html")).expect("html");
    let impacts: Vec<&str> = regex::Regex::new(
        r#"<div class="finding [a-z]+" data-row="[A-Z]+-\d+" data-impact="([a-z]+)""#,
    )
    .expect("regex")
    .captures_iter(&html)
    .filter_map(|c| c.get(1).map(|m| m.as_str()))
    .collect();
    assert_eq!(impacts, ["security", "interop"], "{html}");
    assert_eq!(out.status.code(), Some(4), "{text}");
    let security = text
        .find("error: assertion failed [TOK-21] (MUST, security)")
        .unwrap_or_else(|| panic!("{text}"));
    let interop = text
        .find("error: assertion failed [AUTHZ-3] (MUST, interop)")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(security < interop, "{text}");
    // pkce_happy_path.yaml comes first in the scenario lines.
    assert!(text.find("pkce_happy_path.yaml").unwrap_or(usize::MAX) < security);
    assert!(
        text.contains("findings by impact: 1 security (TOK-21 MUST); 1 interop (AUTHZ-3 MUST)"),
        "{text}"
    );
}

/// ISS-6…ISS-8 (the harness as a client, RFC 9207 §2.4): a code from a response with a
/// foreign `iss`, or without one from a server whose metadata promises it, is never
/// redeemed; a correct `iss` from a server that does not advertise it is accepted.
#[tokio::test]
async fn the_harness_redeems_no_code_from_a_mixed_up_authorization_response() {
    let happy = || {
        let path = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/code/pkce_happy_path.yaml"
        ));
        vec![Arc::new(load(&path).unwrap_or_else(|e| panic!("{e}")))]
    };
    for (fault, row) in [(Fault::IssForeign, "ISS-6"), (Fault::IssMissing, "ISS-7")] {
        let r = run(happy(), &opts(&[fault])).await;
        let steps = &r.scenarios[0].steps;
        let exchange = &steps[1];
        assert_eq!(exchange.status, Status::Skipped, "{fault:?}: {exchange:?}");
        let why = exchange.skip_reason.clone().unwrap_or_default();
        assert!(
            why.contains("the harness rejected the authorization response") && why.contains(row),
            "{fault:?}: {why}"
        );
        assert!(
            exchange.exchange.is_none(),
            "{fault:?}: no token request is sent"
        );
    }
    // ISS-8: iss without the metadata flag, equal to the issuer: accepted, the flow runs.
    let r = run(happy(), &opts(&[Fault::IssFlagAbsent])).await;
    assert_eq!(
        r.status,
        Status::Passed,
        "{}",
        oauth_harness::report::markdown(&r)
    );
}
