//! A reference server on 127.0.0.1:0 with a frozen clock, and a client that speaks both
//! encodings. Every test gets its own server: no shared state, no port fights.

use oauth_harness::clock::Clock;
use oauth_harness::runner::target::TargetSpec;
use oauth_harness::runner::RunOptions;
use oauth_harness::server::config::ServerConfig;
use oauth_harness::server::faults::{Fault, FaultSet};
use oauth_harness::server::{start, ServerHandle};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const R: &str = "https://web.example/callback";
pub const RS: &str = "https://spa.example/callback";

/// Which body encoding a request uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enc {
    Form,
    Json,
}

pub const BOTH: [Enc; 2] = [Enc::Form, Enc::Json];

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub fn str(&self, key: &str) -> String {
        self.body[key].as_str().unwrap_or_default().to_string()
    }
    /// The query of the `Location` redirect, decoded.
    pub fn location_query(&self) -> HashMap<String, String> {
        url::Url::parse(self.header("location"))
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default()
    }
    /// The session cookie and anti-CSRF value of an HTML form page.
    pub fn form_session(&self) -> (String, String) {
        let cookie = self
            .header("set-cookie")
            .split(';')
            .next()
            .unwrap_or("")
            .to_string();
        let csrf = self
            .text
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("")
            .to_string();
        (cookie, csrf)
    }

    #[track_caller]
    pub fn assert_error(&self, status: u16, error: &str) {
        assert_eq!(
            (self.status, self.error()),
            (status, error),
            "body: {}",
            self.text
        );
    }
}

pub struct Srv {
    pub handle: ServerHandle,
    pub base: String,
    pub http: reqwest::Client,
}

pub async fn server() -> Srv {
    server_with(ServerConfig::builtin(), &[]).await
}

pub async fn server_with(config: ServerConfig, faults: &[Fault]) -> Srv {
    let config = config
        .with_test_mode(true)
        .with_faults(faults.iter().copied().collect::<FaultSet>());
    let handle = start(config, "127.0.0.1:0", Clock::frozen())
        .await
        .expect("server starts");
    let base = handle.base_url();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Srv { handle, base, http }
}

pub async fn read(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
        text,
    }
}

impl Srv {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST with the given encoding; `basic` adds client_secret_basic.
    pub async fn post(
        &self,
        path: &str,
        enc: Enc,
        pairs: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Resp {
        let mut req = self.http.post(self.url(path));
        req = match enc {
            Enc::Form => req.form(pairs),
            Enc::Json => {
                let obj: serde_json::Map<String, Value> = pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect();
                req.json(&obj)
            }
        };
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        read(req.send().await.expect("request")).await
    }

    pub async fn post_form(&self, path: &str, pairs: &[(&str, &str)]) -> Resp {
        self.post(path, Enc::Form, pairs, None).await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: &str) -> Resp {
        let r = self
            .http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        read(r).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        read(self.http.get(self.url(path)).send().await.expect("request")).await
    }

    pub async fn api(&self, path: &str, token: &str) -> Resp {
        read(
            self.http
                .get(self.url(path))
                .bearer_auth(token)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub async fn test_json(&self, path: &str, body: Value) -> Resp {
        read(
            self.http
                .post(self.url(path))
                .json(&body)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub fn advance(&self, secs: u64) {
        self.handle.clock().advance(Duration::from_secs(secs));
    }

    /// Device authorization for `noorle-cli`.
    pub async fn device_start(&self, enc: Enc, scope: &str) -> Resp {
        let r = self
            .post(
                "/oauth/device/authorize",
                enc,
                &[("client_id", "noorle-cli"), ("scope", scope)],
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r
    }

    pub async fn poll(&self, enc: Enc, device_code: &str) -> Resp {
        self.post(
            "/oauth/token",
            enc,
            &[
                ("grant_type", DEVICE_GRANT),
                ("device_code", device_code),
                ("client_id", "noorle-cli"),
            ],
            None,
        )
        .await
    }

    pub async fn approve(&self, user_code: &str) -> Resp {
        self.test_json("/_test/device/approve", json!({ "user_code": user_code }))
            .await
    }

    /// Consent through the test route; the redirect response.
    pub async fn consent(&self, pairs: &[(&str, &str)]) -> Resp {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.get(&format!("/_test/authorize?{q}")).await
    }

    /// A code for `spa` with an S256 challenge of `verifier`.
    pub async fn spa_code(&self, verifier: &str, scope: &str) -> String {
        let ch = oauth_harness::oauth::s256(verifier);
        let r = self
            .consent(&[
                ("response_type", "code"),
                ("client_id", "spa"),
                ("redirect_uri", RS),
                ("scope", scope),
                ("state", "s1"),
                ("code_challenge", &ch),
                ("code_challenge_method", "S256"),
            ])
            .await;
        r.location_query()
            .get("code")
            .cloned()
            .unwrap_or_else(|| panic!("no code: {:?}", r.header("location")))
    }

    /// A code for `web` (confidential, no PKCE).
    pub async fn web_code(&self, scope: &str) -> String {
        let r = self
            .consent(&[
                ("response_type", "code"),
                ("client_id", "web"),
                ("redirect_uri", R),
                ("scope", scope),
                ("state", "s1"),
            ])
            .await;
        r.location_query()
            .get("code")
            .cloned()
            .unwrap_or_else(|| panic!("no code: {:?}", r.header("location")))
    }

    pub async fn exchange_spa(&self, code: &str, verifier: &str) -> Resp {
        self.post_form(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", RS),
                ("client_id", "spa"),
                ("code_verifier", verifier),
            ],
        )
        .await
    }

    pub async fn exchange_web(&self, code: &str) -> Resp {
        self.post(
            "/oauth/token",
            Enc::Form,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", R),
            ],
            Some(("web", "web-secret")),
        )
        .await
    }

    /// A device-flow token for `noorle-cli` with `scope`.
    pub async fn device_token(&self, scope: &str) -> Resp {
        let d = self.device_start(Enc::Json, scope).await;
        assert_eq!(self.approve(&d.str("user_code")).await.status, 200);
        let t = self.poll(Enc::Json, &d.str("device_code")).await;
        assert_eq!(t.status, 200, "{}", t.text);
        t
    }

    /// Introspects `token` as the confidential client `web` (RFC 7662).
    pub async fn introspect(&self, token: &str) -> Resp {
        self.post(
            "/oauth/introspect",
            Enc::Form,
            &[("token", token)],
            Some(("web", "web-secret")),
        )
        .await
    }

    pub async fn cc_token(&self, scope: &str) -> Resp {
        self.post(
            "/oauth/token",
            Enc::Form,
            &[("grant_type", "client_credentials"), ("scope", scope)],
            Some(("m2m", "m2m-secret")),
        )
        .await
    }
}

/// A fresh 43-character PKCE verifier.
pub fn verifier() -> String {
    oauth_harness::oauth::random_token()
}

/// Runner options for in-process runs: four scenarios at once, the target's own
/// contract, no snapshots.
pub fn run_options(target: TargetSpec) -> RunOptions {
    RunOptions {
        target,
        jobs: 4,
        verbose: false,
        expect: None,
        snapshots: None,
        person: oauth_harness::runner::target::Person::nobody(),
        given: Default::default(),
    }
}

/// The built-in target with these faults on.
pub fn builtin(faults: &[Fault]) -> TargetSpec {
    TargetSpec::Builtin {
        faults: faults.iter().copied().collect(),
    }
}

/// A report written twice (`--report-tap FILE`, `--report-html FILE` and the report
/// folder's own): the two must be one text, returned.
pub fn same_report(copy: &std::path::Path, original: &std::path::Path) -> String {
    let text = std::fs::read_to_string(copy).unwrap_or_else(|e| panic!("{}: {e}", copy.display()));
    let again =
        std::fs::read_to_string(original).unwrap_or_else(|e| panic!("{}: {e}", original.display()));
    assert_eq!(
        text,
        again,
        "{} differs from {}",
        copy.display(),
        original.display()
    );
    text
}

/// `run scenarios/code/reused_code.yaml --fault reuse-code` (a FAILED MUST, two SHOULD
/// warnings) with its reports in `dir`: the reports, ports blanked, by file name.
pub fn reused_code_reports(dir: &std::path::Path) -> std::collections::HashMap<String, String> {
    run_failing(&[
        "scenarios/code/reused_code.yaml".as_ref(),
        "--fault".as_ref(),
        "reuse-code".as_ref(),
        "--report-dir".as_ref(),
        dir.as_os_str(),
    ]);
    let port = regex::Regex::new(r"127\.0\.0\.1:\d+").expect("regex");
    ["report.tap", "report.html"]
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(dir.join(f)).expect(f);
            (
                f.to_string(),
                port.replace_all(&text, "127.0.0.1:PORT").into_owned(),
            )
        })
        .collect()
}

/// `oauth-harness run ARGS --snapshots off` from the repository's root, which must fail its
/// assertions (exit 4).
pub fn run_failing(args: &[&std::ffi::OsStr]) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oauth-harness"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("run")
        .args(args)
        .args(["--snapshots", "off"])
        .output()
        .expect("run");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{text}");
}
