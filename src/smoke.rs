//! `oauth-harness smoke`: starts the reference server in-process on 127.0.0.1:0 and drives
//! every grant through it once over real HTTP — a quick, honest self-check until the
//! scenario runner (issue #4) replaces it as the main job. Secrets are never printed.

use crate::clock::Clock;
use crate::oauth::s256;
use crate::server::config::ServerConfig;
use anyhow::{anyhow, Context};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;

struct Check<'a, W: Write> {
    out: &'a mut W,
    failed: usize,
    passed: usize,
}

impl<W: Write> Check<'_, W> {
    fn step(&mut self, name: &str, ok: bool, detail: &str) -> anyhow::Result<()> {
        if ok {
            self.passed += 1;
            writeln!(self.out, "PASS  {name}")?;
        } else {
            self.failed += 1;
            writeln!(self.out, "FAIL  {name}: {detail}")?;
        }
        Ok(())
    }
}

async fn send(req: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
    let resp = req.send().await.context("request failed")?;
    let status = resp.status().as_u16();
    let text = resp.text().await.context("reading the body failed")?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Runs the smoke flow; `Ok(true)` when every step passed.
pub async fn run<W: Write>(out: &mut W) -> anyhow::Result<bool> {
    let started = Instant::now();
    let server = crate::server::start(
        ServerConfig::builtin().with_test_mode(true),
        "127.0.0.1:0",
        Clock::system(),
    )
    .await
    .context("cannot start the built-in server")?;
    let base = server.base_url();
    writeln!(out, "built-in reference server on {base}")?;
    let mut smoke = Smoke {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
        base,
        c: Check {
            out,
            failed: 0,
            passed: 0,
        },
    };
    smoke.metadata().await?;
    smoke.device_flow(&server).await?;
    smoke.code_flow().await?;
    smoke.client_credentials().await?;
    server.shutdown().await.context("server shutdown failed")?;
    let (passed, failed) = (smoke.c.passed, smoke.c.failed);
    writeln!(
        smoke.c.out,
        "{passed} passed, {failed} failed in {:.2?}",
        started.elapsed()
    )?;
    Ok(failed == 0)
}

/// The smoke run's HTTP client, the server's address and the tally.
struct Smoke<'a, W: Write> {
    http: reqwest::Client,
    base: String,
    c: Check<'a, W>,
}

fn text(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or("").to_string()
}

impl<W: Write> Smoke<'_, W> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn metadata(&mut self) -> anyhow::Result<()> {
        let (s, meta) = send(
            self.http
                .get(self.url("/.well-known/oauth-authorization-server")),
        )
        .await?;
        self.c.step(
            "metadata: 200 and issuer matches (META-3, META-5)",
            s == 200 && meta["issuer"] == json!(self.base),
            &format!("status {s}"),
        )
    }

    /// The device flow, JSON bodies as Noorle documents them.
    async fn device_flow(&mut self, server: &crate::server::ServerHandle) -> anyhow::Result<()> {
        let (s, dev) = send(
            self.http
                .post(self.url("/oauth/device/authorize"))
                .json(&json!({"client_id": "noorle-cli", "scope": "api"})),
        )
        .await?;
        self.c.step(
            "device authorize: 200 with the five members (NOORLE-5)",
            s == 200
                && [
                    "device_code",
                    "user_code",
                    "verification_uri",
                    "expires_in",
                    "interval",
                ]
                .iter()
                .all(|k| !dev[*k].is_null()),
            &format!("status {s}"),
        )?;
        let poll = json!({"grant_type": crate::oauth::DEVICE_CODE_GRANT, "device_code": text(&dev, "device_code"), "client_id": "noorle-cli"});
        let (s, body) = send(self.http.post(self.url("/oauth/token")).json(&poll)).await?;
        self.c.step(
            "poll before approval: 400 authorization_pending (DEV-14)",
            s == 400 && body["error"] == "authorization_pending",
            &format!("status {s}, error {}", body["error"]),
        )?;
        let (s, _) = send(
            self.http
                .post(self.url("/_test/device/approve"))
                .json(&json!({"user_code": text(&dev, "user_code")})),
        )
        .await?;
        self.c
            .step("approve the user code", s == 200, &format!("status {s}"))?;
        server.clock().advance(std::time::Duration::from_secs(5));
        let (s, tok) = send(self.http.post(self.url("/oauth/token")).json(&poll)).await?;
        self.c.step(
            "poll after approval: 200 with a Bearer token (DEV-17)",
            s == 200 && tok["token_type"] == "Bearer",
            &format!("status {s}"),
        )?;
        let at = text(&tok, "access_token");
        let (s, _) = send(self.http.get(self.url("/api/me")).bearer_auth(&at)).await?;
        self.c.step(
            "API call with the device token: 200 (RES-1)",
            s == 200,
            &format!("status {s}"),
        )
    }

    /// The consent redirect's query for an authorization request of the public SPA client.
    async fn consent(&mut self, verifier: &str) -> anyhow::Result<HashMap<String, String>> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", "spa"),
                ("redirect_uri", "https://spa.example/callback"),
                ("scope", "api offline_access"),
                ("state", "smoke-state"),
                ("code_challenge", &s256(verifier)),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        let resp = self
            .http
            .get(self.url(&format!("/_test/authorize?{query}")))
            .send()
            .await?;
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_default();
        let redirect = url::Url::parse(&location)
            .map_err(|_| anyhow!("no redirect from the authorization endpoint"));
        Ok(redirect
            .iter()
            .flat_map(|u| u.query_pairs().into_owned())
            .collect())
    }

    /// Authorization code + PKCE, refresh rotation and code reuse, form bodies as RFC
    /// clients send.
    async fn code_flow(&mut self) -> anyhow::Result<()> {
        let verifier = crate::oauth::random_token();
        let pairs = self.consent(&verifier).await?;
        self.c.step(
            "consent: redirect with code and unchanged state (AUTHZ-2, AUTHZ-3)",
            pairs.get("state").map(String::as_str) == Some("smoke-state")
                && pairs.contains_key("code"),
            "no code or state in the redirect",
        )?;
        let code = pairs.get("code").cloned().unwrap_or_default();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://spa.example/callback"),
            ("client_id", "spa"),
            ("code_verifier", &verifier),
        ];
        let (s, tok) = send(self.http.post(self.url("/oauth/token")).form(&form)).await?;
        self.c.step(
            "code exchange with PKCE: 200 with a refresh token (PKCE-1, NOORLE-18)",
            s == 200 && tok["refresh_token"].is_string(),
            &format!("status {s}"),
        )?;
        let rt = text(&tok, "refresh_token");
        let (s, refreshed) = self.refresh(&rt).await?;
        self.c.step(
            "refresh: 200 with a rotated refresh token (REF-1, REF-8)",
            s == 200 && refreshed["refresh_token"].as_str().is_some_and(|n| n != rt),
            &format!("status {s}"),
        )?;
        let (s, again) = send(self.http.post(self.url("/oauth/token")).form(&form)).await?;
        self.c.step(
            "code reuse: 400 invalid_grant (TOK-21)",
            s == 400 && again["error"] == "invalid_grant",
            &format!("status {s}"),
        )?;
        let (s, _) = self.refresh(&text(&refreshed, "refresh_token")).await?;
        self.c.step(
            "after code reuse the grant is revoked: its refresh token is refused (TOK-22)",
            s == 400,
            &format!("status {s}"),
        )
    }

    async fn refresh(&self, refresh_token: &str) -> anyhow::Result<(u16, Value)> {
        send(self.http.post(self.url("/oauth/token")).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "spa"),
        ]))
        .await
    }

    /// Client credentials with HTTP Basic, revocation, and an unknown client.
    async fn client_credentials(&mut self) -> anyhow::Result<()> {
        let (s, cc) = send(
            self.http
                .post(self.url("/oauth/token"))
                .basic_auth("m2m", Some("m2m-secret"))
                .form(&[("grant_type", "client_credentials"), ("scope", "api")]),
        )
        .await?;
        self.c.step(
            "client_credentials: 200 without a refresh token (TOK-31)",
            s == 200 && cc["refresh_token"].is_null(),
            &format!("status {s}"),
        )?;
        let cc_at = text(&cc, "access_token");
        let (s, _) = send(
            self.http
                .post(self.url("/oauth/revoke"))
                .basic_auth("m2m", Some("m2m-secret"))
                .form(&[("token", cc_at.as_str())]),
        )
        .await?;
        self.c
            .step("revoke: 200 (REV-1)", s == 200, &format!("status {s}"))?;
        let (s, _) = send(self.http.get(self.url("/api/me")).bearer_auth(&cc_at)).await?;
        self.c.step(
            "revoked token at the API: 401 (REV-7)",
            s == 401,
            &format!("status {s}"),
        )?;
        let (s, e) = send(
            self.http
                .post(self.url("/oauth/device/authorize"))
                .json(&json!({"client_id": "invalid-id", "scope": "api"})),
        )
        .await?;
        self.c.step(
            "unknown client: 400 invalid_client (NOORLE-10)",
            s == 400 && e["error"] == "invalid_client",
            &format!("status {s}"),
        )
    }
}
