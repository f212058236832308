//! Property tests of the reference server, one per endpoint: random and malformed requests
//! (any method, wrong and missing content types, JSON that is random, truncated, mutated
//! or has duplicate keys, huge, empty and unicode values, repeated parameters, random
//! grant types, garbage credentials) never get a 5xx; the OAuth endpoints always answer a
//! well-formed RFC 6749 §5.2 error object with the `error_description` the builtin always
//! gives; and no endpoint answers a success the request's credentials and grant do not
//! earn (the 2xx oracle below).
//!
//! `cargo test` runs `OAUTH_HARNESS_FUZZ_CASES` cases per endpoint (default 2,000, on 13
//! endpoints); a longer run is `OAUTH_HARNESS_FUZZ_CASES=10000 cargo test --test blackbox
//! fuzz::` (`docs/reliability.md`).

use oauth_harness::clock::Clock;
use oauth_harness::server::config::ServerConfig;
use proptest::prelude::*;
use std::sync::OnceLock;

/// One server and one runtime for every case.
fn target() -> &'static (tokio::runtime::Runtime, String, reqwest::Client) {
    static T: OnceLock<(tokio::runtime::Runtime, String, reqwest::Client)> = OnceLock::new();
    T.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        // `OAUTH_HARNESS_FUZZ_FAULT=NAME` fuzzes a server with that fault switch on: the
        // way to see a property fail (e.g. accept-unknown-client breaks the 2xx oracle).
        let faults = std::env::var("OAUTH_HARNESS_FUZZ_FAULT")
            .ok()
            .and_then(|n| oauth_harness::server::faults::Fault::from_name(&n))
            .into_iter()
            .collect();
        let handle = rt
            .block_on(oauth_harness::server::start(
                ServerConfig::builtin()
                    .with_test_mode(true)
                    .with_faults(faults),
                "127.0.0.1:0",
                Clock::frozen(),
            ))
            .expect("server");
        let base = handle.base_url();
        // The server lives as long as the test process.
        std::mem::forget(handle);
        // A fresh connection per case: each case tests the server's answer, not a
        // keep-alive race with a connection the previous case left half-read.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        (rt, base, http)
    })
}

fn cases() -> u32 {
    std::env::var("OAUTH_HARNESS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// The error codes of RFC 6749, 6750, 7009, 7591 and 8628, and Noorle's 429.
const ERRORS: [&str; 17] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "access_denied",
    "unsupported_response_type",
    "server_error",
    "authorization_pending",
    "slow_down",
    "expired_token",
    "unsupported_token_type",
    "invalid_redirect_uri",
    "invalid_client_metadata",
    "invalid_token",
    "rate_limited",
];

/// Parameter names a client might send (and some it should not).
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("grant_type".to_string()),
        Just("client_id".to_string()),
        Just("client_secret".to_string()),
        Just("code".to_string()),
        Just("redirect_uri".to_string()),
        Just("code_verifier".to_string()),
        Just("device_code".to_string()),
        Just("refresh_token".to_string()),
        Just("scope".to_string()),
        Just("token".to_string()),
        Just("token_type_hint".to_string()),
        Just("redirect_uris".to_string()),
        Just("user_code".to_string()),
        "[a-z_]{0,12}",
        "\\PC{0,8}",
    ]
}

/// Values: known ones, empty, unicode, control characters, huge (beyond the body limit).
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        9 => small_value(),
        1 => (1usize..200_000).prop_map(|n| "x".repeat(n)),
    ]
}

/// Values short enough for a query string.
fn small_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("authorization_code".to_string()),
        Just("refresh_token".to_string()),
        Just("client_credentials".to_string()),
        Just("urn:ietf:params:oauth:grant-type:device_code".to_string()),
        Just("password".to_string()),
        Just("noorle-cli".to_string()),
        Just("web".to_string()),
        Just("m2m".to_string()),
        Just("https://web.example/callback".to_string()),
        Just("api offline_access".to_string()),
        Just(String::new()),
        "\\PC{0,40}",
        "[\\x00-\\x1f]{1,8}",
    ]
}

#[derive(Debug, Clone)]
enum Body {
    Form(Vec<(String, String)>),
    Json(serde_json::Value),
    Raw(Vec<u8>),
    /// JSON text as sent: truncated, with a byte changed, or with a key twice.
    JsonText(String),
    None,
}

/// JSON text that is not quite JSON, or is JSON with duplicate keys.
fn broken_json() -> impl Strategy<Value = String> {
    prop_oneof![
        (json_value(), any::<prop::sample::Index>()).prop_map(|(v, i)| {
            let t = v.to_string();
            let cut = i.index(t.len().max(1));
            t.char_indices()
                .map(|(k, _)| k)
                .take_while(|k| *k <= cut)
                .last()
                .map(|k| t[..k].to_string())
                .unwrap_or_default()
        }),
        (json_value(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(v, i, b)| {
            let mut bytes = v.to_string().into_bytes();
            if !bytes.is_empty() {
                let k = i.index(bytes.len());
                bytes[k] = b;
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }),
        (name(), small_value(), small_value()).prop_map(|(k, a, b)| {
            format!(
                "{{\"{k}\":{},\"{k}\":{},\"grant_type\":\"client_credentials\",\"grant_type\":\"password\"}}",
                serde_json::Value::String(a),
                serde_json::Value::String(b)
            )
        }),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        value().prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec((name(), inner), 0..6)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        prop::collection::vec((name(), value()), 0..8).prop_map(Body::Form),
        json_value().prop_map(Body::Json),
        prop::collection::vec(any::<u8>(), 0..512).prop_map(Body::Raw),
        broken_json().prop_map(Body::JsonText),
        Just(Body::None),
    ]
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("application/x-www-form-urlencoded".to_string())),
        Just(Some("application/json".to_string())),
        Just(Some("application/json; charset=utf-8".to_string())),
        Just(Some("text/plain".to_string())),
        Just(Some("multipart/form-data; boundary=x".to_string())),
        "\\PC{0,20}".prop_map(Some),
    ]
}

fn authorization() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("Basic d2ViOndlYi1zZWNyZXQ=".to_string())),
        Just(Some("Basic !!!".to_string())),
        Just(Some("Bearer ".to_string())),
        "[ -~]{0,60}".prop_map(Some),
    ]
}

fn method() -> impl Strategy<Value = reqwest::Method> {
    prop_oneof![
        4 => Just(reqwest::Method::POST),
        2 => Just(reqwest::Method::GET),
        1 => Just(reqwest::Method::PUT),
        1 => Just(reqwest::Method::DELETE),
        1 => Just(reqwest::Method::PATCH),
        1 => Just(reqwest::Method::HEAD),
        1 => Just(reqwest::Method::OPTIONS),
    ]
}

struct Answer {
    head: bool,
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

fn send(
    path: &str,
    m: reqwest::Method,
    ct: Option<String>,
    auth: Option<String>,
    b: Body,
    query: Vec<(String, String)>,
) -> Result<Answer, String> {
    let (rt, base, http) = target();
    let mut url = url::Url::parse(&format!("{base}{path}")).map_err(|e| e.to_string())?;
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    let mut req = http.request(m.clone(), url);
    if let Some(ct) = ct {
        req = req.header("content-type", ct);
    }
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    req = match b {
        Body::Form(pairs) => req.body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish(),
        ),
        Body::Json(v) => req.body(v.to_string()),
        Body::Raw(bytes) => req.body(bytes),
        Body::JsonText(t) => req.body(t),
        Body::None => req,
    };
    let head = m == reqwest::Method::HEAD;
    // The fixture's `max_body_bytes`: a longer body is refused by its Content-Length with a
    // 413 before it is read, and the server closes the connection; on a loaded machine the
    // client may still be sending then, and sees the connection go instead of the 413:
    // no answer to judge (and no success).
    let oversized = req
        .try_clone()
        .and_then(|r| r.build().ok())
        .and_then(|r| r.body().and_then(|b| b.as_bytes()).map(<[u8]>::len))
        .is_some_and(|n| n > 65_536);
    rt.block_on(async {
        // A connection that was never made is not the server's answer: 26,000 fresh
        // connections a run can meet a port still in TIME_WAIT on a loaded machine (the
        // whole suite opens many more beside them), and a connect then fails. It is tried
        // again, a little later each time. Anything after the connection is the server's,
        // and fails.
        let mut attempts: u32 = 0;
        let resp = loop {
            let attempt = req.try_clone().ok_or("a body that cannot be sent twice")?;
            match attempt.send().await {
                Err(e) if e.is_connect() && attempts < 10 => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(10 * u64::from(attempts)))
                        .await;
                }
                Err(e) if oversized && !e.is_connect() && !e.is_timeout() => {
                    // Status 0: no answer (the connection went); never a success.
                    return Ok(Answer {
                        head,
                        status: 0,
                        content_type: String::new(),
                        body: Vec::new(),
                    });
                }
                other => break other.map_err(|e| format!("transport: {e}"))?,
            }
        };
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_vec();
        Ok(Answer {
            head,
            status,
            content_type,
            body,
        })
    })
}

/// The parameters a request carried (form pairs or a JSON object's string members, and the
/// query), for the 2xx oracle.
fn params(b: &Body, query: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = query.to_vec();
    match b {
        Body::Form(pairs) => out.extend(pairs.iter().cloned()),
        Body::Json(serde_json::Value::Object(m)) => out.extend(
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))),
        ),
        _ => {}
    }
    out
}

/// What a request could legitimately succeed with, per endpoint: the fuzz holds the
/// secret of one client only (`web`, through its Basic header), and no valid code, device
/// code or token, so a 2xx must come from one of these or the server gave away a success.
fn may_succeed(path: &str, auth: Option<&str>, p: &[(String, String)]) -> bool {
    let web_basic = auth == Some("Basic d2ViOndlYi1zZWNyZXQ=");
    let has = |k: &str, v: &str| p.iter().any(|(n, x)| n == k && x == v);
    let public = ["noorle-cli", "spa", "native"];
    match path {
        // No grant the fuzz can make is valid, for any client.
        "/oauth/token" => false,
        // A device code for a client that may ask for one without a secret.
        "/oauth/device/authorize" => has("client_id", "noorle-cli"),
        // 200 for any token once the client authenticated (RFC 7009 §2.2).
        "/oauth/revoke" => web_basic || public.iter().any(|c| has("client_id", c)),
        // Only an authenticated confidential client learns about tokens (RFC 7662 §2.1).
        "/oauth/introspect" => web_basic,
        _ => true,
    }
}

/// No 5xx ever; on the OAuth JSON endpoints every refusal is an RFC error object.
fn check(path: &str, oauth_json: bool, a: &Answer) -> Result<(), TestCaseError> {
    if a.status == 0 {
        // An oversized body refused by closing the connection (see `send`).
        return Ok(());
    }
    prop_assert!(a.status < 500, "{path}: HTTP {}", a.status);
    if oauth_json && a.status >= 400 {
        prop_assert!(
            a.content_type.starts_with("application/json"),
            "{path}: HTTP {} with content-type {:?}",
            a.status,
            a.content_type
        );
        if a.head {
            // A HEAD answer has no body to check.
            return Ok(());
        }
        let v: serde_json::Value = serde_json::from_slice(&a.body)
            .map_err(|e| TestCaseError::fail(format!("{path}: not JSON: {e}")))?;
        let code = v["error"].as_str().unwrap_or("");
        prop_assert!(ERRORS.contains(&code), "{path}: error {v}");
        // The builtin explains every refusal (RFC 6749 §5.2 makes it optional; its
        // policy is to give one).
        let d = v.get("error_description");
        prop_assert!(d.is_some(), "{path}: no error_description in {v}");
        if let Some(d) = d {
            // RFC 6749 §5.2: printable ASCII except " and \.
            let d = d.as_str().unwrap_or("\u{0}");
            prop_assert!(
                d.chars()
                    .all(|c| (' '..='~').contains(&c) && c != '"' && c != '\\'),
                "{path}: error_description {d:?}"
            );
        }
    }
    Ok(())
}

macro_rules! endpoint {
    ($test:ident, $path:expr, $oauth_json:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]
            #[test]
            fn $test(
                m in method(),
                ct in content_type(),
                auth in authorization(),
                b in body(),
                query in prop::collection::vec((name(), small_value()), 0..3),
            ) {
                let p = params(&b, &query);
                let may = may_succeed($path, auth.as_deref(), &p);
                let a = send($path, m, ct, auth, b, query).map_err(TestCaseError::fail)?;
                check($path, $oauth_json, &a)?;
                prop_assert!(
                    !(200..300).contains(&a.status) || may,
                    "{}: a success the request does not earn: HTTP {} {}",
                    $path,
                    a.status,
                    String::from_utf8_lossy(&a.body)
                );
            }
        }
    };
}

endpoint!(token_endpoint, "/oauth/token", true);
endpoint!(
    device_authorization_endpoint,
    "/oauth/device/authorize",
    true
);
endpoint!(revocation_endpoint, "/oauth/revoke", true);
endpoint!(registration_endpoint, "/oauth/register", true);
endpoint!(introspection_endpoint, "/oauth/introspect", true);
endpoint!(authorization_endpoint, "/oauth/authorize", false);
endpoint!(verification_page, "/oauth/device/verify", false);
endpoint!(protected_api, "/api/me", false);
endpoint!(metadata, "/.well-known/oauth-authorization-server", false);
endpoint!(login_form, "/oauth/login", false);
endpoint!(consent_decision, "/oauth/authorize/decision", false);
endpoint!(apps_page, "/account/apps", false);
endpoint!(apps_revoke, "/account/apps/revoke", false);
