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
        target,
        jobs: 2,
        verbose: false,
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
async fn an_html_error_page_fails_the_assertion_and_says_why() {
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
    let a = &r.scenarios[0].steps[0].assertions[0];
    assert_eq!(a.status, Status::Failed);
    assert!(
        a.actual.contains("not JSON") && a.actual.contains("text/html"),
        "{}",
        a.actual
    );
    assert_eq!(r.exit_code(), 4);
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
