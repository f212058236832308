//! The far side misbehaving on demand (wiremock): the runner reports each problem as a
//! clear FAILED or ERROR with the right exit code, keeps running the other scenarios, and
//! works with servers that differ from ours in ways the RFCs allow.

use oauth_harness::runner::profile::Profile;
use oauth_harness::runner::result::Status;
use oauth_harness::runner::target::TargetSpec;
use oauth_harness::runner::{run, RunOptions};
use oauth_harness::scenario::{load_str, Loaded};
use serde_json::json;
use std::sync::Arc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn profile(base: &str, extra: &str) -> TargetSpec {
    let text = format!("name: mock\nbase_url: {base}\nencoding: form\ntimeout_seconds: 1\n{extra}");
    let p: Profile = serde_yaml::from_str(&text).expect("profile");
    TargetSpec::Live(Arc::new(p))
}

fn scenario(name: &str, text: &str) -> Arc<Loaded> {
    Arc::new(load_str(Arc::from(name), text.to_string()).unwrap_or_else(|e| panic!("{e}")))
}

fn opts(target: TargetSpec) -> RunOptions {
    RunOptions {
        jobs: 2,
        ..crate::common::run_options(target)
    }
}

const TOKEN_ERROR: &str = r#"
name: token error
steps:
  - request:
      endpoint: token
      body: {grant_type: client_credentials, client_id: nobody}
    expect:
      - json: $.error
        equals: invalid_client
"#;

#[tokio::test]
async fn an_html_500_page_is_a_target_error_not_a_verdict() {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(500).set_body_raw(
            "<html><body>Internal Server Error</body></html>",
            "text/html",
        ))
        .mount(&mock)
        .await;
    let r = run(
        vec![scenario("html.yaml", TOKEN_ERROR)],
        &opts(profile(&mock.uri(), "")),
    )
    .await;
    let step = &r.scenarios[0].steps[0];
    assert_eq!(step.status, Status::Error);
    let e = step.error.clone().unwrap_or_default();
    assert!(
        e.contains("the target failed: HTTP 500 (text/html)")
            && e.contains("Internal Server Error"),
        "{e}"
    );
    assert_eq!(r.exit_code(), 3);
    // A step that asks for the 500 gets it as a response to judge.
    let wants = scenario(
        "wants500.yaml",
        "name: wants 500\nsteps:\n  - request: {endpoint: token, body: {a: b}}\n    expect:\n      - status: 500\n",
    );
    let r = run(vec![wants], &opts(profile(&mock.uri(), ""))).await;
    assert_eq!(r.exit_code(), 0, "{:?}", r.scenarios[0].steps[0]);
}

/// A wrong but well-formed answer — an HTML page where the step asserts JSON members — is
/// a verdict on the server (FAILED, exit 4), not a harness error, and the message says
/// what came instead.
#[tokio::test]
async fn an_html_page_where_json_is_asserted_is_failed_with_exit_4() {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_raw("<html><body>Bad request</body></html>", "text/html"),
        )
        .mount(&mock)
        .await;
    let r = run(
        vec![scenario("html400.yaml", TOKEN_ERROR)],
        &opts(profile(&mock.uri(), "")),
    )
    .await;
    let step = &r.scenarios[0].steps[0];
    assert_eq!(step.status, Status::Failed, "{step:?}");
    let a = &step.assertions[0];
    assert_eq!(a.status, Status::Failed, "{a:?}");
    let said = format!("{} {}", a.description, a.actual);
    assert!(said.contains("JSON"), "{said}");
    assert_eq!(r.exit_code(), 4);
}

/// A server that answers every connection with headers promising 1000 bytes, sends 10,
/// and hangs up.
fn reset_mid_body() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten().take(16) {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"access_",
            );
        }
    });
    format!("http://{addr}")
}

#[test]
fn target_faults_are_errors_with_reasons_and_every_report_is_written() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mock = rt.block_on(MockServer::start());
    rt.block_on(async {
        // A redirect to itself, forever.
        Mock::given(method("GET"))
            .and(path("/loop"))
            .respond_with(ResponseTemplate::new(302).insert_header("location", "/loop"))
            .mount(&mock)
            .await;
        // 9 MiB of JSON-ish nothing.
        Mock::given(method("GET"))
            .and(path("/huge"))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(vec![b' '; 9 << 20], "application/json"),
            )
            .mount(&mock)
            .await;
        Mock::given(method("GET"))
            .and(path("/fine"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
            .mount(&mock)
            .await;
    });
    let reset = reset_mid_body();
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    let scenarios = [
        write("a_loop.yaml", "name: loop\nsteps:\n  - request: {method: GET, path: /loop, follow_redirects: true}\n    expect: [{status: 200}]\n"),
        write("b_huge.yaml", "name: huge\nsteps:\n  - request: {method: GET, path: /huge}\n    expect: [{status: 200}]\n"),
        write("c_reset.yaml", &format!("name: reset\nsteps:\n  - request: {{method: GET, path: \"{reset}/token\"}}\n    expect: [{{status: 200}}]\n")),
        write("d_fine.yaml", "name: fine\nsteps:\n  - request: {method: GET, path: /fine}\n    expect: [{status: 200}]\n"),
    ];
    let target = write(
        "target.yaml",
        &format!(
            "name: faulty\nbase_url: {}\ntimeout_seconds: 5\n",
            mock.uri()
        ),
    );
    let reports = dir.path().join("reports");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oauth-harness"))
        .env("INSTA_UPDATE", "no")
        .args(["run", "--snapshots", "off", "--target"])
        .arg(&target)
        .args(&scenarios)
        .arg("--report-dir")
        .arg(&reports)
        .output()
        .expect("run");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    for why in [
        "too many redirects",
        "larger than 8 MiB",
        "the response body could not be read",
    ] {
        assert!(text.contains(why), "no `{why}` in\n{text}");
    }
    // Every report holds every scenario, the fine one passed.
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("report.json")).expect("report.json"),
    )
    .expect("json");
    let statuses: Vec<String> = report["scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["status"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        statuses,
        ["ERROR", "ERROR", "ERROR", "PASSED"],
        "{report:#}"
    );
    let junit = std::fs::read_to_string(reports.join("junit.xml")).expect("junit.xml");
    assert_eq!(junit.matches("<testcase").count(), 4, "{junit}");
    assert!(std::fs::read_to_string(reports.join("report.md"))
        .expect("report.md")
        .contains("fine"));
}

#[tokio::test]
async fn unreachable_and_slow_targets_are_errors_and_the_other_scenarios_still_run() {
    // A port that nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let r = run(
        vec![
            scenario("a.yaml", TOKEN_ERROR),
            scenario("b.yaml", TOKEN_ERROR),
        ],
        &opts(profile(&format!("http://{closed}"), "")),
    )
    .await;
    assert_eq!(r.scenarios.len(), 2, "results are never lost");
    for s in &r.scenarios {
        assert_eq!(s.status, Status::Error);
        let e = s.steps[0].error.clone().unwrap_or_default();
        assert!(e.contains("could not connect"), "{e}");
    }
    assert_eq!(r.exit_code(), 3);

    // A response slower than the profile's 1-second timeout.
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(3)))
        .mount(&mock)
        .await;
    let r = run(
        vec![scenario("slow.yaml", TOKEN_ERROR)],
        &opts(profile(&mock.uri(), "")),
    )
    .await;
    let e = r.scenarios[0].steps[0].error.clone().unwrap_or_default();
    assert!(e.contains("timed out"), "{e}");
    assert_eq!(r.exit_code(), 3);
}

#[tokio::test]
async fn an_rfc_server_without_interval_with_401s_and_extra_members_passes() {
    let mock = MockServer::start().await;
    // Device authorization without `interval` (RFC 8628 §3.2: the client uses 5 s).
    Mock::given(method("POST"))
        .and(path("/device"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "device_code": "dc-0123456789abcdef", "user_code": "WDJB-MJHT",
            "verification_uri": "https://as.example/device", "expires_in": 600, "x_vendor": true
        })))
        .mount(&mock)
        .await;
    // One pending answer, then tokens with members ours does not send (CLIENT-15).
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"error": "authorization_pending"})),
        )
        .up_to_n_times(1)
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "at-0123456789abcdef", "token_type": "bearer", "expires_in": 60, "id_token": "x.y.z", "x_extra": 1
        })))
        .mount(&mock)
        .await;
    // A clock hook, so the 5-second wait costs no real time.
    Mock::given(method("POST"))
        .and(path("/clock"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&mock)
        .await;
    // A bad client is 401 here (RFC 6749 §5.2 allows it).
    Mock::given(method("POST"))
        .and(path("/bad-client"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client"})))
        .mount(&mock)
        .await;
    let extra = "endpoints: {device_authorization: /device, token: /token}\nclock: {type: http, url: \"{base}/clock\"}\n";
    let s = scenario(
        "rfc.yaml",
        r#"
name: rfc server
steps:
  - request:
      endpoint: device_authorization
      body: {client_id: cli, scope: api}
    capture:
      - device_code: {json: $.device_code}
  - poll:
      request:
        endpoint: token
        body: {grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code: "${device_code}", client_id: cli}
    expect:
      - status: 200
      - json: $.token_type
        matches: (?i)^bearer$
  - request:
      path: /bad-client
      body: {grant_type: client_credentials, client_id: nobody}
    expect:
      - status: [400, 401]
      - json: $.error
        equals: invalid_client
"#,
    );
    let r = run(vec![s], &opts(profile(&mock.uri(), extra))).await;
    assert_eq!(
        r.status,
        Status::Passed,
        "{}",
        oauth_harness::report::markdown(&r)
    );
    let p = r.scenarios[0].steps[1].poll.clone().expect("poll stats");
    assert_eq!(
        p.waits,
        vec![5],
        "no interval in the response: 5 seconds (CLIENT-2)"
    );
    // Form bodies were sent, as the profile says.
    let reqs = mock.received_requests().await.unwrap_or_default();
    let device = reqs
        .iter()
        .find(|q| q.url.path() == "/device")
        .expect("device request");
    assert_eq!(
        device
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-www-form-urlencoded")
    );
}

const CONSENT: &str = r#"
name: consent through a hook
steps:
  - consent:
      query: {response_type: code, client_id: c, redirect_uri: "https://client.example/cb", state: S}
    expect:
      - redirect: code
        equals: xyz
      - redirect: state
        equals: S
"#;

#[tokio::test]
async fn the_follow_hook_walks_login_and_consent_with_cookies_to_the_redirect_uri() {
    use wiremock::matchers::header;
    let mock = MockServer::start().await;
    let base = mock.uri();
    Mock::given(method("GET"))
        .and(path("/authorize"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("location", format!("{base}/login").as_str()),
        )
        .mount(&mock)
        .await;
    Mock::given(method("GET"))
        .and(path("/login"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{base}/consent").as_str())
                .insert_header("set-cookie", "sid=1; Path=/"),
        )
        .mount(&mock)
        .await;
    Mock::given(method("GET"))
        .and(path("/consent"))
        .and(header("cookie", "sid=1"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", "https://client.example/cb?code=xyz&state=S"),
        )
        .mount(&mock)
        .await;
    Mock::given(method("GET"))
        .and(path("/consent"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&mock)
        .await;
    let target = profile(
        &base,
        "endpoints: {authorization: /authorize}\nconsent: {type: follow}\n",
    );
    let r = run(vec![scenario("follow.yaml", CONSENT)], &opts(target)).await;
    assert_eq!(
        r.status,
        Status::Passed,
        "{}",
        oauth_harness::report::markdown(&r)
    );
    // Without the cookie the chain stops at 401: a clear error, not a pass.
    let mock2 = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&mock2)
        .await;
    let target = profile(
        &mock2.uri(),
        "endpoints: {authorization: /authorize}\nconsent: {type: follow}\n",
    );
    let r = run(vec![scenario("follow.yaml", CONSENT)], &opts(target)).await;
    assert_eq!(r.status, Status::Error);
    let e = r.scenarios[0].steps[0].error.clone().unwrap_or_default();
    assert!(e.contains("stopped at status 401"), "{e}");
}

#[test]
fn the_manual_hook_reads_the_redirect_from_a_person() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("manual.yaml");
    std::fs::write(&profile, "name: manual\nbase_url: http://127.0.0.1:9\nconsent: {type: manual, timeout_seconds: 30}\n").expect("write");
    let scenario = dir.path().join("consent.yaml");
    std::fs::write(&scenario, CONSENT).expect("write");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_oauth-harness"))
        // Snapshots are compared, never written, whatever INSTA_UPDATE says.
        .env("INSTA_UPDATE", "no")
        .args(["run", "--target"])
        .arg(&profile)
        .arg(&scenario)
        .arg("--report-dir")
        .arg(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"https://client.example/cb?code=xyz&state=S\n")
        .expect("type the redirect");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("open this URL") && stderr.contains("http://127.0.0.1:9/oauth/authorize?"),
        "{stderr}"
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn scenarios_that_need_what_the_target_lacks_are_skipped_never_passed() {
    let mock = MockServer::start().await;
    // Declares nothing, but moves the clock and approves: the steps imply the needs.
    let s = scenario(
        "needs.yaml",
        r#"
name: implied needs
steps:
  - advance_clock: {seconds: 1}
  - approve: {user_code: ABCD-EFGH}
"#,
    );
    let r = run(vec![s], &opts(profile(&mock.uri(), ""))).await;
    assert_eq!(r.scenarios[0].status, Status::Skipped);
    let reason = r.scenarios[0].skip_reason.clone().unwrap_or_default();
    assert!(
        reason.contains("clock") && reason.contains("approve"),
        "{reason}"
    );
    assert!(
        mock.received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "nothing was sent"
    );
    assert_eq!(r.exit_code(), 0);
}

#[tokio::test]
async fn captures_come_from_headers_redirects_status_and_body() {
    let mock = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/r"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", "https://c.example/cb?code=abc&state=xyz")
                .insert_header("x-request-id", "rid-42")
                .set_body_string("moved"),
        )
        .mount(&mock)
        .await;
    let s = scenario(
        "captures.yaml",
        r#"
name: captures
steps:
  - request: {method: GET, path: /r}
    capture:
      - rid: {header: x-request-id}
      - st: {redirect: state}
      - status_seen: {status: true}
      - text: {body: true}
      - where: {location: true}
  - request:
      method: GET
      path: "/r?rid=${rid}&st=${st}&s=${status_seen}&t=${text}&w=${where}"
    expect:
      - status: 302
"#,
    );
    let r = run(vec![s], &opts(profile(&mock.uri(), ""))).await;
    assert_eq!(
        r.status,
        Status::Passed,
        "{}",
        oauth_harness::report::markdown(&r)
    );
    let reqs = mock.received_requests().await.unwrap_or_default();
    let q = reqs
        .last()
        .and_then(|q| q.url.query().map(str::to_string))
        .unwrap_or_default();
    assert_eq!(q, "rid=rid-42&st=xyz&s=302&t=moved&w=https://c.example/cb");
}

#[test]
fn ctrl_c_during_a_run_keeps_what_finished_and_writes_every_report() {
    use std::io::{BufRead, Write};
    // A target that answers /fast at once and never answers /never.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (arrived, request_in_flight) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut s in listener.incoming().flatten().take(8) {
            let mut first = String::new();
            let _ = std::io::BufReader::new(&s).read_line(&mut first);
            if first.contains("/fast") {
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            } else {
                held.push(s);
                let _ = arrived.send(());
            }
        }
        std::thread::sleep(std::time::Duration::from_secs(60));
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("target.yaml");
    std::fs::write(
        &target,
        format!("name: silent\nbase_url: http://{addr}\ntimeout_seconds: 60\n"),
    )
    .expect("write");
    let hang = dir.path().join("hang.yaml");
    std::fs::write(
        &hang,
        "name: hangs\nsteps:\n  - request: {method: GET, path: /never}\n    expect: [{status: 200}]\n",
    )
    .expect("write");
    let fast = dir.path().join("fast.yaml");
    std::fs::write(
        &fast,
        "name: finishes\nsteps:\n  - request: {method: GET, path: /fast}\n    expect: [{status: 200}]\n",
    )
    .expect("write");
    let reports = dir.path().join("reports");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_oauth-harness"))
        .env("INSTA_UPDATE", "no")
        .args(["run", "--snapshots", "off", "--jobs", "2", "--target"])
        // The runner logs each scenario as it finishes.
        .env("OAUTH_HARNESS_LOG", "oauth_harness::runner=info")
        .arg(&target)
        .arg(&fast)
        .arg(&hang)
        .arg("--report-dir")
        .arg(&reports)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Ctrl-C once the hanging request is in flight and the fast scenario is done.
    let (fast_done, lines) = crate::binary::watch_lines(
        child.stderr.take().expect("stderr"),
        &["scenario done", "finishes"],
    );
    for (what, signal) in [
        ("the hanging request", &request_in_flight),
        ("the fast scenario", &fast_done),
    ] {
        signal
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{what} did not arrive"));
    }
    let (code, rest) = crate::binary::interrupt(child);
    let text = rest + &lines.join().expect("stderr reader");
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("interrupted (Ctrl-C)"), "{text}");
    // Every report holds both: the finished one PASSED, the other interrupted.
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("report.json")).expect("report.json"),
    )
    .expect("json");
    let status = |name: &str| {
        report["scenarios"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["name"] == name)
            .map(|s| s["status"].clone())
    };
    assert_eq!(
        status("finishes"),
        Some(serde_json::json!("PASSED")),
        "{report}"
    );
    assert_eq!(
        status("hangs"),
        Some(serde_json::json!("ERROR")),
        "{report}"
    );
    let junit = std::fs::read_to_string(reports.join("junit.xml")).expect("junit.xml");
    assert!(
        junit.contains("finishes") && junit.contains("hangs"),
        "{junit}"
    );
    assert!(junit.contains("interrupted (Ctrl-C)"), "{junit}");
    let md = std::fs::read_to_string(reports.join("report.md")).expect("report.md");
    assert!(md.contains("finishes") && md.contains("hangs"), "{md}");
    assert!(md.contains("| PASS |") && md.contains("| ERROR |"), "{md}");
}

/// A server that accepts a replayed refresh token and rotates the grant on it (issue
/// #27): the replay is FAILED on REF-9, and the later checks that "the newest refresh
/// token and its access token died with the grant" — which this server's rotation makes
/// look true — are not judged, SKIPPED with the reason, never PASSED.
#[tokio::test]
async fn a_check_on_a_state_an_accepted_replay_made_is_not_judged() {
    use wiremock::matchers::body_string_contains;
    let mock = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/consent"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", "https://spa.example/callback?code=code-1"),
        )
        .mount(&mock)
        .await;
    let tokens = |at: &str, rt: &str| {
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": at, "token_type": "Bearer", "expires_in": 3600, "refresh_token": rt
        }))
    };
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(tokens("at-1-xxxxxxxx", "rt-1-xxxxxxxx"))
        .mount(&mock)
        .await;
    // rt-1: the first use rotates to rt-2; the replay is accepted and rotates to rt-3.
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("refresh_token=rt-1-xxxxxxxx"))
        .respond_with(tokens("at-2-xxxxxxxx", "rt-2-xxxxxxxx"))
        .up_to_n_times(1)
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("refresh_token=rt-1-xxxxxxxx"))
        .respond_with(tokens("at-3-xxxxxxxx", "rt-3-xxxxxxxx"))
        .mount(&mock)
        .await;
    // The rotation by the replay retired rt-2 and at-2: refused, as if the grant died.
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("refresh_token=rt-2-xxxxxxxx"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"})))
        .mount(&mock)
        .await;
    Mock::given(method("GET"))
        .and(path("/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sub": "alice"})))
        .up_to_n_times(1)
        .mount(&mock)
        .await;
    Mock::given(method("GET"))
        .and(path("/me"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("www-authenticate", "Bearer error=\"invalid_token\""),
        )
        .mount(&mock)
        .await;
    let target = profile(
        &mock.uri(),
        "clients:\n  spa: {id: spa, redirect_uris: [\"https://spa.example/callback\"]}\n\
         scopes: {basic: api}\nresources:\n  me: {url: /me}\n\
         consent: {type: http, url: \"{base}/consent?{query}\"}\ncapabilities: [refresh]\n",
    );
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/token/refresh.yaml");
    let text = std::fs::read_to_string(path).expect("scenario");
    let r = run(vec![scenario("token/refresh.yaml", &text)], &opts(target)).await;
    let s = &r.scenarios[0];
    let step = |name: &str| {
        s.steps
            .iter()
            .find(|st| st.name == name)
            .unwrap_or_else(|| panic!("no step {name}: {:?}", s.steps))
    };
    assert_eq!(
        step("the old refresh token is refused").status,
        Status::Failed
    );
    for later in [
        "and the newest one died with the grant",
        "so did its access token",
    ] {
        let st = step(later);
        assert_eq!(st.status, Status::Skipped, "{later}: {st:?}");
        let why = st.skip_reason.clone().unwrap_or_default();
        assert!(
            why.contains("an earlier step failed and changed the server's state"),
            "{why}"
        );
        assert!(!st.assertions.is_empty());
        assert!(
            st.assertions.iter().all(|a| a.status == Status::Skipped),
            "{later}: {:?}",
            st.assertions
        );
    }
    assert_eq!(s.status, Status::Failed);
    assert_eq!(r.exit_code(), 4);
}
