//! Issue #16: a verdict is a claim about someone else's server. Servers that differ from
//! the builtin in every way the RFCs allow — their own client ids, no clients but those
//! registration makes, their own resource paths, short lifetimes and no clock, error
//! codes and challenges of the other allowed forms, no refusal in their UI — get the
//! same verdicts, or SKIPs that say why; never a false FAILED, never a false PASS.

use crate::binary::spawn_serve;
use oauth_harness::runner::profile::{Contract, Profile};
use oauth_harness::runner::result::{RunResult, Status};
use oauth_harness::runner::target::TargetSpec;
use oauth_harness::runner::{run, RunOptions};
use oauth_harness::scenario::{discover, load, Loaded};
use oauth_harness::server::faults::Fault;
use std::path::PathBuf;
use std::sync::Arc;
use wiremock::matchers::{body_string_contains, header, header_exists, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn shipped(sub: &[&str]) -> Vec<Arc<Loaded>> {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"));
    let paths: Vec<PathBuf> = if sub.is_empty() {
        vec![root]
    } else {
        sub.iter().map(|s| root.join(s)).collect()
    };
    discover(&paths)
        .expect("scenarios")
        .iter()
        .map(|p| Arc::new(load(p).unwrap_or_else(|e| panic!("{e}"))))
        .collect()
}

fn live(text: &str) -> TargetSpec {
    let p: Profile = serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    TargetSpec::Live(Arc::new(p))
}

fn opts(target: TargetSpec) -> RunOptions {
    crate::common::run_options(target)
}

/// The secrets of the fixture's clients, as the profiles below read them.
const SECRETS: [(&str, &str); 9] = [
    ("T_SECRET_TV", "tv-secret"),
    ("T_SECRET_WEB", "web-secret"),
    ("T_SECRET_WEB2", "web2-secret"),
    ("T_SECRET_PARC", "parc-secret"),
    (
        "T_SECRET_CSJ",
        "csj-secret-0123456789abcdef0123456789abcdef",
    ),
    ("T_SECRET_MULTI", "multi-secret"),
    ("T_SECRET_M2M", "m2m-secret"),
    ("T_SECRET_ODD", "s:e%c r"),
    ("T_USER_PASSWORD", "alice-password"),
];

/// `oauth-harness run --target PROFILE PATHS…` as a user runs it (secrets in its own
/// environment only): the exit code, report.json parsed, and the output.
async fn run_binary(profile: &str, paths: &[&str]) -> (i32, RunResultJson, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("profile.yaml");
    std::fs::write(&file, profile).expect("write");
    let paths: Vec<String> = paths.iter().map(|p| format!("scenarios/{p}")).collect();
    let out = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_oauth-harness"))
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .envs(SECRETS)
                .env_remove("CI")
                .env_remove("INSTA_UPDATE")
                .arg("run")
                .args(&paths)
                .arg("--target")
                .arg(&file)
                .arg("--report-dir")
                .arg(dir.join("reports"))
                .output()
                .expect("run")
        }
    })
    .await
    .expect("join");
    let report =
        std::fs::read_to_string(dir.path().join("reports/report.json")).unwrap_or_default();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&report).unwrap_or(serde_json::Value::Null),
        text,
    )
}

type RunResultJson = serde_json::Value;

/// (file below scenarios/, status, skip reason) of each scenario in a report.json.
fn json_by_file(r: &RunResultJson) -> Vec<(String, String, String)> {
    r["scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["file"]
                    .as_str()
                    .unwrap_or("")
                    .rsplit("scenarios/")
                    .next()
                    .unwrap_or("")
                    .to_string(),
                s["status"].as_str().unwrap_or("").to_string(),
                s["skip_reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn json_status<'a>(r: &'a RunResultJson, file: &str) -> &'a serde_json::Value {
    r["scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["file"].as_str().is_some_and(|f| f.ends_with(file)))
        .unwrap_or_else(|| panic!("no {file} in {r}"))
}

fn by_file(r: &RunResult) -> Vec<(String, Status, Option<String>)> {
    r.scenarios
        .iter()
        .map(|s| {
            let file = s.file.rsplit("scenarios/").next().unwrap_or("").to_string();
            (file, s.status, s.skip_reason.clone())
        })
        .collect()
}

fn status<'a>(r: &'a RunResult, file: &str) -> &'a oauth_harness::runner::result::ScenarioResult {
    r.scenarios
        .iter()
        .find(|s| s.file.ends_with(file))
        .unwrap_or_else(|| panic!("no {file}"))
}

const HOOKS: &str = r#"
approval:
  approve: {type: http, url: "{base}/_test/device/approve", json: {user_code: "{user_code}"}}
  deny: {type: http, url: "{base}/_test/device/deny", json: {user_code: "{user_code}"}}
consent: {type: http, url: "{base}/_test/authorize?{query}&decision={decision}"}
revoke_app: {type: http, url: "{base}/_test/apps/revoke", json: {client_id: "{client}"}}
"#;

/// The builtin's fixture with every client id replaced (`web` → `acme-web-7f3`).
fn renamed_fixture(dir: &std::path::Path) -> PathBuf {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/clients.yaml"
    ))
    .expect("fixture");
    let renamed = regex::Regex::new(r"(?m)^(\s*- id: )([a-z0-9-]+)")
        .expect("re")
        .replace_all(&text, "${1}acme-${2}-7f3")
        .into_owned();
    assert!(renamed.contains("acme-web-7f3") && !renamed.contains("id: web\n"));
    let p = dir.join("renamed.yaml");
    std::fs::write(&p, renamed).expect("write");
    p
}

/// Roles mapped to the renamed clients; the secrets as the fixture has them.
fn renamed_profile(base: &str) -> String {
    let mut clients = String::from("clients:\n");
    for (role, secret, uris) in [
        ("noorle-cli", None, ""),
        ("tv", Some("tv-secret"), ""),
        ("web", Some("web-secret"), "https://web.example/callback"),
        ("web2", Some("web2-secret"), "https://web2.example/callback"),
        ("parc", Some("parc-secret"), "https://parc.example/callback"),
        (
            "multi",
            Some("multi-secret"),
            "https://multi.example/cb, \"https://multi.example/cb?tenant=7\"",
        ),
        ("spa", None, "https://spa.example/callback"),
        ("dspa", None, "https://dspa.example/callback"),
        ("m2m", Some("m2m-secret"), "https://m2m.example/cb"),
        ("native", None, "http://127.0.0.1/cb"),
        ("odd", Some("s:e%c r"), ""),
        ("pkj", None, "https://pkj.example/callback"),
        (
            "csj",
            Some("csj-secret-0123456789abcdef0123456789abcdef"),
            "",
        ),
    ] {
        let env = format!("T_SECRET_{}", role.replace('-', "_").to_uppercase());
        clients.push_str(&format!(
            "  {role}: {{id: acme-{role}-7f3{}, redirect_uris: [{uris}]}}\n",
            secret
                .map(|_| format!(", secret_env: {env}"))
                .unwrap_or_default()
        ));
    }
    format!(
        "name: renamed\nbase_url: {base}\nencoding: json\ncontract: noorle\noidc_client_auth: true\ndpop: true\ndpop_rs: true\ndpop_jkt: true\nrace: {{n: 16, rounds: 5}}\nrace_hook: /_test/authorize\n{clients}\
         resources:\n  me: {{url: /api/me, scope: api}}\n  items: {{url: /api/items, scope: read}}\n  admin: {{url: /api/admin, scope: admin}}\n\
         lifetimes: {{authorization_code: 600, access_token: 3600, refresh_token_idle: 2592000}}\n\
         user: {{username: alice, password_env: T_USER_PASSWORD}}\n\
         clock: {{type: http, url: \"{{base}}/_test/clock/advance\", json: {{seconds: \"{{seconds}}\"}}}}\n\
         capabilities: [refresh, registration, device_flow, pages]\n{HOOKS}"
    )
}

/// No scenario names the builtin's own client ids: a server whose clients have other ids,
/// mapped to the roles, gets the builtin's verdicts, scenario for scenario.
#[tokio::test]
async fn a_server_with_its_own_client_ids_gets_the_builtins_verdicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = renamed_fixture(dir.path());
    let (_server, base) =
        spawn_serve(&["--test-mode", "--clients", fixture.to_str().unwrap_or("")]).await;
    let in_process = run(shipped(&[]), &opts(crate::common::builtin(&[]))).await;
    let (code, renamed, out) = run_binary(&renamed_profile(&base), &[]).await;
    assert_eq!(code, 0, "{out}");
    let (a, b) = (by_file(&in_process), json_by_file(&renamed));
    assert_eq!(a.len(), b.len());
    // The one scenario on the updated audience rules: the builtin in-process follows them
    // for it, the server process the original ones its profile names (matrix §24.2 #1).
    // And OAuth 2.1's own scenarios, which neither run judges (both hold the server to
    // another contract).
    // And the reuse window's (RACE-5…8): the builtin declares one for them alone, the
    // profile none.
    let other_rules = |file: &str| {
        file.ends_with("jwtauth/issuer_only.yaml")
            || file.contains("oauth21/")
            || file.contains("race/refresh_grace_")
            // The client whose keys the builtin fetches where the harness publishes them:
            // the server process has none (its profile maps no `pkj-uri`).
            || file.ends_with("jwtauth/jwks_uri.yaml")
            // DPoP nonces: the builtin demands them for their scenarios alone, the server
            // process never.
            || file.ends_with("dpop/nonce.yaml")
            || file.ends_with("dpop/resource_nonce.yaml")
    };
    let differ: Vec<_> = a
        .iter()
        .zip(&b)
        .filter(|(x, _)| !other_rules(&x.0))
        .filter(|(x, y)| format!("{:?}", x.1).to_uppercase() != y.1.replace('_', ""))
        .map(|(x, y)| format!("{}: in-process {:?}, renamed {} {}", x.0, x.1, y.1, y.2))
        .collect();
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    assert!(
        b.iter().all(|s| s.1 == "PASSED" || other_rules(&s.0)),
        "{b:?}"
    );
}

/// `clients: register`: a server with no client at all gets every role it can register
/// from RFC 7591 registration, and the suite runs; only what registration cannot make
/// (the `odd` role's chosen secret) and what the target lacks (here its pages and a user
/// account) are SKIPPED.
#[tokio::test]
async fn a_server_with_no_clients_gets_them_registered_and_the_suite_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/clients.yaml"
    ))
    .expect("fixture");
    let (head, tail) = text.split_once("clients:").expect("clients");
    let accounts = tail
        .split_once("accounts:")
        .map(|(_, a)| a)
        .expect("accounts");
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, format!("{head}clients: []\n\naccounts:{accounts}")).expect("write");
    let (_server, base) =
        spawn_serve(&["--test-mode", "--clients", empty.to_str().unwrap_or("")]).await;
    // Where the harness publishes pkj-uri's key: a free port on the loopback interface.
    let jwks_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let profile = format!(
        "name: register\nbase_url: {base}\ndiscovery: true\nencoding: form\nclients: register\noidc_client_auth: true\ndpop_rs: true\ndpop_jkt: true\nrace: {{n: 16, rounds: 5}}\nrace_hook: /_test/authorize\njwks_uri_base: http://127.0.0.1:{jwks_port}\n\
         resources:\n  me: {{url: /api/me, scope: api}}\n  items: {{url: /api/items, scope: read}}\n  admin: {{url: /api/admin, scope: admin}}\n\
         lifetimes: {{authorization_code: 600, access_token: 3600, refresh_token_idle: 2592000}}\n\
         clock: {{type: http, url: \"{{base}}/_test/clock/advance\", json: {{seconds: \"{{seconds}}\"}}}}\n\
         capabilities: [refresh, registration, device_flow]\n{HOOKS}"
    );
    let r = run(shipped(&[]), &opts(live(&profile))).await;
    assert_eq!(
        r.status,
        Status::Passed,
        "{}",
        oauth_harness::report::markdown(&r)
    );
    let ran = r
        .scenarios
        .iter()
        .filter(|s| s.status == Status::Passed)
        .count();
    assert!(ran >= 45, "{ran} scenarios passed");
    // The role registered with a jwks_uri (RFC 7591 §2): the server fetched its key from
    // where the harness published it.
    let by_uri = r
        .scenarios
        .iter()
        .find(|s| s.file.ends_with("jwtauth/jwks_uri.yaml"))
        .map(|s| s.status);
    assert_eq!(by_uri, Some(Status::Passed));
    for s in r.scenarios.iter().filter(|s| s.status == Status::Skipped) {
        let why = s.skip_reason.as_deref().unwrap_or("");
        assert!(
            why.contains("cannot be registered")
                || why.contains("OAuth 2.1's contract only")
                || why.contains("lacks: pages")
                || why.contains("lacks: jwt_aud_issuer_only")
                || why.contains("lacks: rt_reuse_grace")
                || why.contains("lacks: dpop_nonce_")
                || why.contains("names no user account")
                || why.contains("Noorle's documented contract"),
            "{}: {why}",
            s.file
        );
    }
}

/// The reference server's fixture with short lifetimes, for waiting expiry out in real time.
fn short_lived(dir: &std::path::Path) -> PathBuf {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/clients.yaml"
    ))
    .expect("fixture")
    .replace("authorization_code_ttl: 600", "authorization_code_ttl: 2")
    .replace("device_code_ttl: 1800", "device_code_ttl: 2")
    .replace("access_token_ttl: 3600", "access_token_ttl: 2");
    let p = dir.join("short.yaml");
    std::fs::write(&p, text).expect("write");
    p
}

/// Defect 7: the expiry checks run on a live target that has no clock but short
/// lifetimes: the waits come from what the server says (`expires_in`) or what the profile
/// declares (`lifetimes`), and are waited out in real time up to `wait_for_expiry`; a
/// longer one skips the rest of its scenario, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_is_judged_on_a_live_server_with_short_lifetimes_and_no_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = short_lived(dir.path());
    let (_server, base) =
        spawn_serve(&["--test-mode", "--clients", fixture.to_str().unwrap_or("")]).await;
    let mut profile = renamed_profile(&base)
        .replace("acme-", "")
        .replace("-7f3", "")
        .replace(
            "lifetimes: {authorization_code: 600, access_token: 3600, refresh_token_idle: 2592000}",
            "lifetimes: {authorization_code: 2, access_token: 2}\nwait_for_expiry: 4",
        );
    // No clock hook: time passes for real.
    profile = profile
        .lines()
        .filter(|l| !l.starts_with("clock:"))
        .collect::<Vec<_>>()
        .join("\n");
    let (_, r, out) = run_binary(
        &profile,
        &[
            "code/expired_code.yaml",
            "device/expired.yaml",
            "resource/expiry.yaml",
            "device/rate_limit.yaml",
        ],
    )
    .await;
    for file in [
        "code/expired_code.yaml",
        "device/expired.yaml",
        "resource/expiry.yaml",
    ] {
        let s = json_status(&r, file);
        assert_eq!(s["status"], "PASSED", "{file}: {out}");
        assert!(
            s["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|st| st["status"] != "SKIPPED"),
            "{file} judged every step"
        );
    }
    // A 61-second wait is more than the profile allows: the rest of that scenario is
    // SKIPPED with the reason, never passed.
    let rl = json_status(&r, "device/rate_limit.yaml");
    assert_eq!(rl["status"], "SKIPPED");
    assert!(
        rl["skip_reason"]
            .as_str()
            .is_some_and(|w| w.contains("wait_for_expiry (4 s)")),
        "{rl}"
    );
}

/// Defect 8: a hook never produces a PASS. A consent command that prints nothing is an
/// ERROR (it was "no redirect", so AUTHZ-7 and BCP-1 passed without a request reaching
/// the server); a `follow` hook cannot refuse, a profile without a deny hook cannot deny:
/// those scenarios are SKIPPED, saying so.
#[tokio::test]
async fn hooks_that_fail_are_errors_and_missing_refusals_are_skips() {
    let (_server, base) = spawn_serve(&["--test-mode"]).await;
    let base_profile = renamed_profile(&base)
        .replace("acme-", "")
        .replace("-7f3", "");
    let silent = base_profile.replace(
        "consent: {type: http, url: \"{base}/_test/authorize?{query}&decision={decision}\"}",
        "consent: {type: command, run: 'true'}",
    );
    let (code, r, out) = run_binary(&silent, &["code/redirect_uri.yaml"]).await;
    assert_eq!(code, 3, "{out}");
    let s = json_status(&r, "code/redirect_uri.yaml");
    assert_eq!(s["status"], "ERROR", "{out}");
    let e = s["steps"][0]["error"].as_str().unwrap_or("");
    assert!(e.contains("printed nothing"), "{e}");
    // Refusals the target cannot make.
    let follow = base_profile
        .replace(
            "consent: {type: http, url: \"{base}/_test/authorize?{query}&decision={decision}\"}",
            "consent: {type: follow}",
        )
        .replace(
            "  deny: {type: http, url: \"{base}/_test/device/deny\", json: {user_code: \"{user_code}\"}}\n",
            "",
        );
    let (_, r, out) = run_binary(&follow, &["code/refusal.yaml", "device/denied.yaml"]).await;
    for (file, lacks) in [
        ("code/refusal.yaml", "refuse_consent"),
        ("device/denied.yaml", "deny"),
    ] {
        let s = json_status(&r, file);
        assert_eq!(s["status"], "SKIPPED", "{file}: {out}");
        assert!(
            s["skip_reason"]
                .as_str()
                .is_some_and(|w| w.contains(&format!("lacks: {lacks}"))),
            "{file}: {s}"
        );
    }
}

/// Defect 4: values the contract does not promise never turn into an ERROR. Without
/// `interval` the poll waits RFC 8628 §3.2's 5 s; without a refresh token the refresh
/// checks do not apply; a server that refuses plain PKCE takes the path PKCE-4 allows.
#[tokio::test]
async fn values_the_rfcs_do_not_promise_default_or_skip_never_error() {
    let mut o = opts(crate::common::builtin(&[Fault::OmitInterval]));
    o.expect = Some(Contract::Rfc);
    let r = run(shipped(&["device/happy_path.yaml"]), &o).await;
    assert_eq!(status(&r, "device/happy_path.yaml").status, Status::Passed);
    let mut o = opts(crate::common::builtin(&[Fault::NoRefreshToken]));
    o.expect = Some(Contract::Rfc);
    let r = run(
        shipped(&["token/refresh.yaml", "token/revoke_refresh.yaml"]),
        &o,
    )
    .await;
    for s in &r.scenarios {
        assert_eq!(s.status, Status::Skipped, "{}", s.file);
        assert!(
            s.skip_reason
                .as_deref()
                .is_some_and(|w| w.contains("RFC 6749 §5.1")),
            "{}: {:?}",
            s.file,
            s.skip_reason
        );
    }
    assert_eq!(r.exit_code(), 0);
}

/// Defect 3: every alternative a row accepts passes. A resource server whose challenges
/// carry other auth-params (`realm` and `scope`, RFC 9728's `resource_metadata`) and a
/// token endpoint without a default scope (TOK-29's invalid_scope) are conformant.
#[tokio::test]
async fn the_other_forms_the_rows_accept_pass() {
    let mock = MockServer::start().await;
    let token = "tok-0123456789abcdef";
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("scope=api"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": token, "token_type": "bearer", "expires_in": 60, "scope": "api"
        })))
        .mount(&mock)
        .await;
    // No default scope: a request without one is refused (RFC 6749 §3.3).
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": "invalid_scope"
        })))
        .mount(&mock)
        .await;
    Mock::given(method("GET"))
        .and(path("/rs/me"))
        .and(query_param("access_token", token))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("www-authenticate", "Bearer error=\"invalid_request\""),
        )
        .mount(&mock)
        .await;
    Mock::given(method("GET"))
        .and(path("/rs/me"))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&mock)
        .await;
    Mock::given(method("GET"))
        .and(path("/rs/me"))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "www-authenticate",
            "Bearer resource_metadata=\"https://rs.example/.well-known/oauth-protected-resource\", error=\"invalid_token\"",
        ))
        .mount(&mock)
        .await;
    Mock::given(method("GET"))
        .and(path("/rs/me"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("www-authenticate", "Bearer realm=\"x\", scope=\"api\""),
        )
        .mount(&mock)
        .await;
    let profile = format!(
        "name: alternatives\nbase_url: {}\nencoding: form\nendpoints: {{token: /token}}\n\
         clients:\n  m2m: {{id: service-a, secret_env: T_SECRET_M2M}}\n\
         resources:\n  me: {{url: /rs/me, scope: api}}\n",
        mock.uri()
    );
    let (code, r, out) = run_binary(
        &profile,
        &["resource/challenges.yaml", "token/defaults.yaml"],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    for (file, status, _) in json_by_file(&r) {
        assert_eq!(status, "PASSED", "{file}: {out}");
    }
}

/// BCP-6: a server whose metadata does not advertise PKCE fails unless its profile points
/// at the documentation that tells clients (RFC 9700 §2.1.1's "documented" way), which
/// must then be there.
#[tokio::test]
async fn pkce_support_is_detectable_from_metadata_or_the_documentation_a_profile_names() {
    let mock = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/oauth-authorization-server"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "issuer": mock.uri(),
            "token_endpoint": format!("{}/token", mock.uri()),
            "response_types_supported": ["code"],
        })))
        .mount(&mock)
        .await;
    Mock::given(method("GET"))
        .and(path("/docs/pkce"))
        .respond_with(ResponseTemplate::new(200).set_body_string("PKCE: S256 is required"))
        .mount(&mock)
        .await;
    let base = format!(
        "name: pkce
base_url: {}
encoding: form
",
        mock.uri()
    );
    for (extra, want, status) in [
        ("", 4, "FAILED"),
        ("pkce_documentation: /docs/pkce\n", 0, "PASSED"),
        ("pkce_documentation: /docs/none\n", 4, "FAILED"),
    ] {
        let (code, r, out) = run_binary(
            &format!("{base}{extra}"),
            &["metadata/pkce_detectable.yaml"],
        )
        .await;
        assert_eq!(code, want, "{extra}: {out}");
        let verdicts = json_by_file(&r);
        assert_eq!(verdicts.len(), 1, "{out}");
        assert_eq!(verdicts[0].1, status, "{extra}: {out}");
    }
}

/// Defects 1 and 5: RFC rows are judged on RFC requests. Noorle's JSON bodies and its
/// literal paths appear only in steps whose assertions all cite NOORLE rows (or in
/// scenarios about the builtin's own pages, `requires: [pages]`); registration is JSON by
/// RFC 7591 §3.
#[test]
fn noorle_requests_appear_only_in_noorle_steps() {
    let mut problems = Vec::new();
    for l in shipped(&[]) {
        let pages = l
            .scenario
            .requires
            .contains(&oauth_harness::scenario::model::Capability::Pages);
        for (i, st) in l.scenario.steps.iter().enumerate() {
            use oauth_harness::scenario::model::{Action, Body, Destination};
            let Action::Request(r) = &st.action else {
                continue;
            };
            let json = matches!(r.body, Some(Body::Json(_)))
                && r.to.endpoint() != Some(oauth_harness::endpoint::Endpoint::Registration);
            let literal = matches!(&r.to, Destination::Path(p) if p.as_str().starts_with('/'));
            let noorle_only = !st.expect.is_empty()
                && st.expect.iter().all(|a| {
                    a.requirement
                        .as_deref()
                        .is_some_and(|r| r.starts_with("NOORLE-"))
                });
            if (json || literal) && !noorle_only && !pages {
                problems.push(format!("{} step {}", l.path, i + 1));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "Noorle-only requests under RFC rows: {problems:#?}"
    );
}

/// Defect 6: a live run writes no snapshot into the checkout unless asked, and a missing
/// stored snapshot is recorded as new, never a FAILED verdict.
#[tokio::test]
async fn a_first_live_run_records_snapshots_as_new_and_writes_nothing() {
    let (_server, base) = spawn_serve(&["--test-mode"]).await;
    let profile = renamed_profile(&base)
        .replace("acme-", "")
        .replace("-7f3", "")
        .replace("name: renamed", "name: first-live-run");
    let (code, _, text) = run_binary(&profile, &["device"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("had no stored one to compare with"), "{text}");
    let written = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/__snapshots__/first-live-run"
    ));
    assert!(!written.exists(), "a live run wrote {}", written.display());
}

/// Discovery where real servers publish: an issuer with a path (RFC 8414 §3.1 puts the
/// well-known segment between host and path) that publishes only OpenID Connect's
/// document (RFC 8414 §5); the issuer is still compared exactly.
#[tokio::test]
async fn discovery_finds_path_issuers_and_openid_configuration_and_checks_the_issuer() {
    let mock = MockServer::start().await;
    let issuer = format!("{}/realms/acme", mock.uri());
    Mock::given(method("GET"))
        .and(path("/realms/acme/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "issuer": issuer,
            "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
        })))
        .mount(&mock)
        .await;
    let http = reqwest::Client::new();
    let m = oauth_harness::runner::discovery::discover(&http, &issuer)
        .await
        .expect("found");
    assert!(m
        .url
        .ends_with("/realms/acme/.well-known/openid-configuration"));
    assert_eq!(
        m.endpoints()
            .get(&oauth_harness::endpoint::Endpoint::Token)
            .map(String::as_str),
        Some(format!("{issuer}/protocol/openid-connect/token").as_str())
    );
    // The same document claimed for another issuer is refused (RFC 8414 §3.3).
    let other = format!("{}/realms/other", mock.uri());
    Mock::given(method("GET"))
        .and(path("/realms/other/.well-known/openid-configuration"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"issuer": issuer})),
        )
        .mount(&mock)
        .await;
    let e = oauth_harness::runner::discovery::discover(&http, &other)
        .await
        .expect_err("issuer mismatch")
        .to_string();
    assert!(e.contains("RFC 8414 §3.3"), "{e}");
}

/// `init --discover`: a starter profile from the server's metadata, loadable once the
/// CHANGE-ME values are filled in, naming the capabilities its grant types imply.
#[tokio::test]
async fn init_writes_a_starter_profile_from_the_metadata() {
    let (_server, base) = spawn_serve(&["--test-mode"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("starter.yaml");
    let out = tokio::task::spawn_blocking({
        let (base, file) = (base.clone(), file.clone());
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_oauth-harness"))
                .args(["init", "--discover", &base, "--out"])
                .arg(&file)
                .output()
                .expect("init")
        }
    })
    .await
    .expect("join");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file)
        .expect("written")
        .replace("CHANGE-ME", "filled");
    let p: Profile = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(p.discovery);
    assert_eq!(p.base_url, base);
    use oauth_harness::scenario::model::Capability;
    for c in [
        Capability::Refresh,
        Capability::DeviceFlow,
        Capability::Registration,
    ] {
        assert!(p.capabilities.contains(&c), "{c:?} in {text}");
    }
    assert!(text.contains("clients: register"), "{text}");
    // An existing file is kept; a server without metadata is a runtime error.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_oauth-harness"))
        .args(["init", "--discover", &base, "--out"])
        .arg(&file)
        .output()
        .expect("init");
    assert_eq!(again.status.code(), Some(1));
    let mock = MockServer::start().await;
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_oauth-harness"))
        .args(["init", "--discover", &mock.uri()])
        .output()
        .expect("init");
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no metadata document"));
}

/// Defect 9: protocol misbehaviour is a verdict on the row it breaks, never an ERROR with
/// no row. A server that answers `authorization_pending` for ever, the interval respected
/// and the user approved with polls still to come, fails DEV-17 (after approval a poll
/// gets tokens); one that answers `authorization_pending` after `expires_in` fails DEV-19.
/// But a server whose `slow_down` leaves its short-lived code no room for a poll after the
/// approval has not been seen to break DEV-17: that step is SKIPPED, naming the lifetime,
/// the interval and where the approval fell (issue #27), never FAILED.
#[tokio::test]
async fn a_server_that_never_stops_pending_fails_the_rows_it_breaks() {
    let answer = |error: &str| {
        ResponseTemplate::new(400).set_body_json(serde_json::json!({ "error": error }))
    };
    // A device endpoint, an approval hook and a token endpoint that always says `error`.
    let server = |error: &'static str, expires_in: u64| async move {
        let mock = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/device"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "device_code": "dc-0123456789abcdef", "user_code": "ABCD-EFGH",
                "verification_uri": "https://as.example/device", "expires_in": expires_in,
                "interval": 1
            })))
            .mount(&mock)
            .await;
        Mock::given(method("POST"))
            .and(path("/approve"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&mock)
            .await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(answer(error))
            .mount(&mock)
            .await;
        mock
    };
    let pending_4 = server("authorization_pending", 4).await;
    let pending_2 = server("authorization_pending", 2).await;
    let slow_2 = server("slow_down", 2).await;
    for (mock, file, verdict) in [
        (&pending_4, "device/happy_path.yaml", Ok("DEV-17")),
        (&pending_2, "device/expired.yaml", Ok("DEV-19")),
        (&slow_2, "device/happy_path.yaml", Err("expires_in 2 s")),
    ] {
        let profile = format!(
            "name: stuck\nbase_url: {base}\nencoding: form\n\
             endpoints: {{device_authorization: /device, token: /token}}\n\
             clients:\n  noorle-cli: {{id: cli}}\n\
             resources:\n  me: {{url: /me, scope: api}}\n\
             approval:\n  approve: {{type: http, url: \"{{base}}/approve\"}}\n\
             capabilities: [device_flow]\nwait_for_expiry: 5\n",
            base = mock.uri(),
        );
        let (code, r, out) = run_binary(&profile, &[file]).await;
        let steps = r["scenarios"][0]["steps"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let failed: Vec<&str> = steps
            .iter()
            .flat_map(|st| st["assertions"].as_array().into_iter().flatten())
            .filter(|a| a["status"] == "FAILED")
            .filter_map(|a| a["requirement"].as_str())
            .collect();
        assert!(!out.contains("ERROR"), "{file}: {out}");
        match verdict {
            Ok(row) => {
                assert_eq!(code, 4, "{file}: {out}");
                assert!(failed.contains(&row), "{file}: {failed:?}\n{out}");
            }
            Err(lifetime) => {
                assert!(failed.is_empty(), "{file}: {failed:?}\n{out}");
                let poll = steps
                    .iter()
                    .find(|st| st["poll"].is_object())
                    .unwrap_or_else(|| panic!("no poll step: {out}"));
                assert_eq!(poll["status"], "SKIPPED", "{out}");
                let why = poll["skip_reason"].as_str().unwrap_or("");
                assert!(
                    why.contains(lifetime)
                        && why.contains("interval 6 s")
                        && why.contains("approval came after the poll at 0 s"),
                    "{why}"
                );
                // The mock's responses lack no-store (DEV-3, a SHOULD): a WARNING, no FAILED.
                assert_eq!(r["scenarios"][0]["status"], "WARNING", "{out}");
                assert_eq!(code, 0, "{out}");
            }
        }
    }
}
