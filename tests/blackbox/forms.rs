//! The `form` hook (issue #27): the test user played in a server's own pages from a
//! recipe. Against the reference server run as a process (`fixtures/targets/builtin-forms
//! .yaml`) the whole suite passes with no test route for the user's part; against
//! wiremock servers that serve forms, every bad recipe or refused sign-in is an ERROR that
//! names the URL and the step, never a PASS.

use oauth_harness::runner::profile::Profile;
use oauth_harness::runner::result::Status;
use oauth_harness::runner::target::TargetSpec;
use oauth_harness::runner::{run, RunOptions};
use oauth_harness::scenario::load_str;
use std::sync::Arc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CONSENT: &str = r#"
name: consent through the server's pages
steps:
  - consent:
      query: {response_type: code, client_id: "${client.web.id}", redirect_uri: "${client.web.redirect_uri}", state: s1}
    expect:
      - redirect: code
        exists: true
        requirement: AUTHZ-2
"#;

const LOGIN: &str = r#"<html><body><form method="post" action="/login">
<input type="hidden" name="csrf" value="c-123"><label>Username <input name="username"></label>
<label>Password <input type="password" name="password"></label><button>Sign in</button></form></body></html>"#;

fn html(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_string(), "text/html")
}

/// Runs the consent scenario against `mock` with a form consent hook of `steps` (YAML).
async fn consent_with(mock: &MockServer, steps: &str) -> oauth_harness::runner::result::StepResult {
    let text = format!(
        "name: mock\nbase_url: {}\nencoding: form\ntimeout_seconds: 2\n\
         endpoints: {{authorization: /authorize}}\n\
         clients:\n  web: {{id: web, redirect_uris: [\"https://web.example/cb\"]}}\n\
         user: {{username: alice, password_env: FORMS_TEST_PASSWORD}}\n\
         consent:\n  type: form\n  steps:\n{steps}",
        mock.uri()
    );
    // The password comes from the environment, as profiles never hold secrets.
    std::env::set_var("FORMS_TEST_PASSWORD", "alice-password-1");
    let profile: Profile = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let opts = RunOptions {
        jobs: 1,
        ..crate::common::run_options(TargetSpec::Live(Arc::new(profile)))
    };
    let l = load_str(Arc::from("consent.yaml"), CONSENT.to_string()).expect("scenario");
    let r = run(vec![Arc::new(l)], &opts).await;
    r.scenarios[0].steps[0].clone()
}

/// A server whose authorization endpoint shows the sign-in form, and whose sign-in answers
/// with `after`.
async fn login_server(after: ResponseTemplate) -> MockServer {
    let mock = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/authorize"))
        .respond_with(html(LOGIN))
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path("/login"))
        .and(wiremock::matchers::body_string_contains("csrf=c-123"))
        .respond_with(after)
        .mount(&mock)
        .await;
    mock
}

const SIGN_IN: &str = "    - {on: /authorize|/login, has: 'input[type=password]', fill: {Username: '{user.username}', Password: '{user.password}'}}\n";

#[tokio::test]
async fn a_recipe_reaches_the_redirect_through_sign_in_and_consent() {
    let mock = login_server(ResponseTemplate::new(303).insert_header("location", "/consent")).await;
    Mock::given(method("GET"))
        .and(path("/consent"))
        .respond_with(html(
            r#"<form method="post" action="/decide"><button name="ok" value="1">Allow</button><button name="no" value="1">Deny</button></form>"#,
        ))
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path("/decide"))
        .and(wiremock::matchers::body_string_contains("ok=1"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", "https://web.example/cb?code=c0de-1&state=s1"),
        )
        .mount(&mock)
        .await;
    let steps = format!("{SIGN_IN}    - {{on: /consent, press: {{approve: Allow, deny: Deny}}}}\n");
    let st = consent_with(&mock, &steps).await;
    assert_eq!(st.status, Status::Passed, "{st:?}");
}

#[tokio::test]
async fn a_step_that_matches_nothing_a_missing_field_and_a_loop_are_errors_naming_url_and_step() {
    // The sign-in form posts back to a page that shows it again, whatever is sent.
    let mock =
        login_server(ResponseTemplate::new(303).insert_header("location", "/authorize")).await;
    for (steps, wanted) in [
        (
            "    - {on: /nowhere, press: Sign in}\n",
            vec![
                "no recipe step matches the page at",
                "/authorize",
                "fields [username (label \"Username\"), password (label \"Password\")]",
            ],
        ),
        (
            "    - {on: /authorize, fill: {email: '{user.username}'}}\n",
            vec![
                "steps[0] (on `/authorize`)",
                "/authorize",
                "no field `email`",
            ],
        ),
        (
            "    - {on: /authorize, press: Sign in}\n",
            vec!["the page loops: steps[0]", "/authorize"],
        ),
    ] {
        let st = consent_with(&mock, steps).await;
        assert_eq!(st.status, Status::Error, "{steps}: {st:?}");
        assert!(
            st.assertions.iter().all(|a| a.status != Status::Passed),
            "{st:?}"
        );
        let e = st.error.clone().unwrap_or_default();
        for w in wanted {
            assert!(e.contains(w), "{steps}: `{w}` not in {e}");
        }
        assert!(!e.contains("c-123"), "a hidden value in {e}");
    }
}

#[tokio::test]
async fn a_refused_sign_in_is_an_error_that_says_so() {
    // Wrong credentials: the sign-in form again, with a message (200, as many servers do).
    let mock = login_server(html(&LOGIN.replace("<form", "<p>Wrong password.</p><form"))).await;
    let st = consent_with(&mock, SIGN_IN).await;
    assert_eq!(st.status, Status::Error, "{st:?}");
    let e = st.error.clone().unwrap_or_default();
    assert!(e.contains("sign-in refused"), "{e}");
    assert!(!e.contains("alice-password-1"), "{e}");
}

/// The whole suite through `builtin-forms.yaml`: the user's part is played in the
/// reference server's own pages (sign-in, consent, the verification page, connected
/// apps), with no test route but the clock.
#[tokio::test]
async fn the_suite_passes_against_the_reference_servers_own_pages() {
    let (_server, base) = crate::binary::spawn_serve(&["--test-mode"]).await;
    let (code, report, text) = tokio::task::spawn_blocking(move || {
        crate::live::run_profile("fixtures/targets/builtin-forms.yaml", &base, &[])
    })
    .await
    .expect("join");
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(
            "104 scenarios against profile builtin-forms under the noorle contract: 90 passed"
        ),
        "{text}"
    );
    assert_eq!(report["status"], "PASSED");
    // The user's part goes through the pages: the profile names no test route but the clock.
    let profile = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/targets/builtin-forms.yaml"
    ))
    .expect("profile");
    assert_eq!(profile.matches("/_test/").count(), 1, "{profile}");
    assert!(profile.contains("/_test/clock/advance"));
}

/// The same recipes in real headless Chromium (`fixtures/targets/builtin-browser.yaml`):
/// the scenarios where the user signs in, consents or refuses, approves or denies a device
/// and revokes an app pass through the reference server's own pages. Without Chromium
/// they are SKIPPED, saying why (and the test says it checked only that, unless CI
/// requires Chromium).
#[tokio::test]
async fn the_browser_hook_plays_the_same_recipes_in_chromium_or_skips_saying_why() {
    let (_server, base) = crate::binary::spawn_serve(&["--test-mode"]).await;
    let scenarios = [
        "scenarios/code/refusal.yaml",
        "scenarios/code/pkce_happy_path.yaml",
        "scenarios/device/denied.yaml",
        "scenarios/device/happy_path.yaml",
        "scenarios/token/connected_app.yaml",
    ];
    let profile = "fixtures/targets/builtin-browser.yaml";
    // No Chromium where the profile looks: SKIPPED, with the reason.
    let without = std::process::Command::new(env!("CARGO_BIN_EXE_oauth-harness"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--snapshots", "off", "--target", profile])
        .args(scenarios)
        .arg("--report-dir")
        .arg(tempfile::tempdir().expect("tempdir").path())
        .env("OAUTH_HARNESS_TARGET", &base)
        .env("OAUTH_HARNESS_CHROMIUM", "/nonexistent/chromium")
        .envs(crate::live::FIXTURE_SECRETS)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&without.stdout).into_owned();
    assert_eq!(without.status.code(), Some(0), "{text}");
    assert!(text.contains("5 skipped"), "{text}");
    assert!(
        text.contains("needs Chromium, and OAUTH_HARNESS_CHROMIUM names no file"),
        "{text}"
    );

    let present = oauth_harness::runner::browser::chromium().is_ok();
    let required = std::env::var("OAUTH_HARNESS_REQUIRE_CHROMIUM").as_deref() == Ok("1");
    assert!(
        present || !required,
        "chromium is required here but not installed"
    );
    if !present {
        eprintln!("no chromium (apt-get install chromium): the browser hook was checked to skip");
        return;
    }
    let mut args: Vec<&str> = scenarios.to_vec();
    args.push("--jobs");
    args.push("2");
    let (code, report, out) =
        tokio::task::spawn_blocking(move || crate::live::run_profile(profile, &base, &args))
            .await
            .expect("join");
    assert_eq!(code, 0, "{out}");
    assert_eq!(report["counts"]["passed"], 5, "{out}");
}
