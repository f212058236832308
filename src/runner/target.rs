//! Targets: where scenarios run. `builtin` starts a fresh reference server in-process for
//! every scenario (127.0.0.1:0, test mode, a frozen clock), so scenarios run concurrently
//! with isolated state and move time freely. Live targets (profiles) come with issue #4's
//! next increment.

use crate::assert::Exchange;
use crate::scenario::model::{Capability, Decision};
use crate::server::config::ServerConfig;
use crate::server::faults::FaultSet;
use crate::server::ServerHandle;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// What to run against.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// The reference server, with these fault switches on.
    Builtin {
        /// Faults.
        faults: FaultSet,
    },
}

impl TargetSpec {
    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        match self {
            TargetSpec::Builtin { faults } if faults.is_empty() => "builtin".into(),
            TargetSpec::Builtin { faults } => {
                let names: Vec<String> = faults
                    .iter()
                    .map(|f| format!("--fault {}", f.name()))
                    .collect();
                format!("builtin {}", names.join(" "))
            }
        }
    }
}

/// One scenario's connection to its target.
#[derive(Debug)]
pub struct Session {
    /// `http://host:port`.
    pub base: String,
    /// No redirects followed.
    pub http: reqwest::Client,
    /// Redirects followed.
    pub http_follow: reqwest::Client,
    /// Secrets by name (`${secret.web}`).
    pub secrets: HashMap<String, String>,
    /// What the target can do.
    pub capabilities: HashSet<Capability>,
    server: Option<ServerHandle>,
}

fn clients(follow: bool) -> Result<reqwest::Client, String> {
    let policy = if follow {
        reqwest::redirect::Policy::limited(10)
    } else {
        reqwest::redirect::Policy::none()
    };
    reqwest::Client::builder()
        .redirect(policy)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

impl Session {
    /// Opens a session on the target.
    pub async fn open(spec: &TargetSpec) -> Result<Session, String> {
        match spec {
            TargetSpec::Builtin { faults } => {
                let config = ServerConfig::builtin();
                let secrets = config
                    .clients
                    .iter()
                    .filter_map(|c| {
                        c.secret
                            .as_ref()
                            .map(|s| (c.id.to_string(), s.expose().clone()))
                    })
                    .collect();
                let config = config.with_test_mode(true).with_faults(*faults);
                let server =
                    crate::server::start(config, "127.0.0.1:0", crate::clock::Clock::frozen())
                        .await
                        .map_err(|e| format!("cannot start the built-in server: {e}"))?;
                use Capability::*;
                Ok(Session {
                    base: server.base_url(),
                    http: clients(false)?,
                    http_follow: clients(true)?,
                    secrets,
                    capabilities: [
                        Clock,
                        Approve,
                        Consent,
                        Refresh,
                        Registration,
                        DeviceFlow,
                        Audit,
                        RevokeApp,
                    ]
                    .into_iter()
                    .collect(),
                    server: Some(server),
                })
            }
        }
    }

    /// The URL of an endpoint name, or of a literal path.
    pub fn url(&self, endpoint: Option<&str>, path: Option<&str>) -> String {
        if let Some(p) = path {
            if p.starts_with("http://") || p.starts_with("https://") {
                return p.to_string();
            }
            return format!("{}{p}", self.base);
        }
        let e = endpoint.unwrap_or("");
        let p = match e {
            "token" => "/oauth/token",
            "device_authorization" => "/oauth/device/authorize",
            "authorization" => "/oauth/authorize",
            "revocation" => "/oauth/revoke",
            "introspection" => "/oauth/introspect",
            "registration" => "/oauth/register",
            "metadata" => "/.well-known/oauth-authorization-server",
            "verification" => "/oauth/device/verify",
            other => other.strip_prefix("api:").unwrap_or(other),
        };
        format!("{}{p}", self.base)
    }

    /// Moves the target's clock (builtin only).
    pub fn advance(&self, secs: f64) -> Result<(), String> {
        match &self.server {
            Some(s) => {
                s.clock().advance(Duration::from_secs_f64(secs.max(0.0)));
                Ok(())
            }
            None => Err("this target has no clock to move".into()),
        }
    }

    /// Waits `secs` between polls: the builtin's clock moves, a live target's takes real time.
    pub async fn wait(&self, secs: f64) {
        match &self.server {
            Some(s) => s.clock().advance(Duration::from_secs_f64(secs.max(0.0))),
            None => tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await,
        }
    }

    async fn fetch(&self, req: reqwest::RequestBuilder) -> Result<Exchange, String> {
        let resp = req
            .send()
            .await
            .map_err(|e| crate::runner::describe_reqwest(&e))?;
        crate::runner::to_exchange(resp).await
    }

    /// Approves or denies a user code as the user (builtin: the test-mode route).
    pub async fn decide(
        &self,
        user_code: &str,
        user: Option<&str>,
        approve: bool,
    ) -> Result<Exchange, String> {
        let path = if approve {
            "/_test/device/approve"
        } else {
            "/_test/device/deny"
        };
        let mut body = serde_json::json!({ "user_code": user_code });
        if let Some(u) = user {
            body["user"] = serde_json::json!(u);
        }
        self.fetch(self.http.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    /// The redirect that the user's decision on an authorization request produces.
    pub async fn consent(
        &self,
        query: &[(String, String)],
        decision: Decision,
        user: Option<&str>,
    ) -> Result<(String, Exchange), String> {
        let query = {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            ser.extend_pairs(query);
            if decision == Decision::Deny {
                ser.append_pair("decision", "deny");
            }
            if let Some(u) = user {
                ser.append_pair("user", u);
            }
            ser.finish()
        };
        let url = format!("{}/_test/authorize?{query}", self.base);
        let ex = self.fetch(self.http.get(&url)).await?;
        Ok((url, ex))
    }

    /// Revokes a connected app as the user.
    pub async fn revoke_app(&self, client: &str, user: Option<&str>) -> Result<Exchange, String> {
        let mut body = serde_json::json!({ "client_id": client });
        if let Some(u) = user {
            body["user"] = serde_json::json!(u);
        }
        self.fetch(
            self.http
                .post(format!("{}/_test/apps/revoke", self.base))
                .json(&body),
        )
        .await
    }

    /// Ends the session (stops a builtin server).
    pub async fn close(mut self) {
        if let Some(s) = self.server.take() {
            let _ = s.shutdown().await;
        }
    }
}
