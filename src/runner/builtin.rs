//! The builtin target's [`Backend`]: a reference server of the session's own, in-process;
//! the user acts through its test-mode API and its clock moves at once.

use crate::assert::Exchange;
use crate::runner::clients::Provided;
use crate::runner::error::TargetError;
use crate::runner::profile::BodyEncoding;
use crate::runner::session::{client, Backend, Fut, Session};
use crate::scenario::model::{Capability, Decision};
use crate::server::config::{JwtAudPolicy, ServerConfig};
use crate::server::ServerHandle;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The session's own server.
#[derive(Debug)]
pub(crate) struct Builtin {
    server: ServerHandle,
}

/// Starts the built-in server with `config` (test mode on) on 127.0.0.1 and opens a
/// session on it; the session owns the server.
pub(crate) async fn session(
    config: ServerConfig,
    clock: crate::clock::Clock,
) -> Result<Session, TargetError> {
    let secrets = config
        .clients
        .iter()
        .filter_map(|c| {
            c.secret
                .as_ref()
                .map(|s| (c.id.to_string(), s.expose().clone()))
        })
        .collect();
    let config = config.with_test_mode(true);
    let server = crate::server::start(config.clone(), "127.0.0.1:0", clock)
        .await
        .map_err(|e| TargetError::Setup(format!("cannot start the built-in server: {e}")))?;
    let base = server.base_url();
    let approval_url = format!("{base}/_test/authorize");
    let timeout = Duration::from_secs(30);
    let jar = Arc::new(reqwest::cookie::Jar::default());
    Ok(Session {
        provided: Provided::builtin(&config, &base),
        issuer: base.clone(),
        http: client(false, timeout, None, &jar)?,
        http_follow: client(true, timeout, None, &jar)?,
        base,
        secrets,
        // The audience rules its policy follows, not the other.
        capabilities: Capability::ALL
            .into_iter()
            .filter(|c| {
                *c != match config.policy.jwt_aud {
                    JwtAudPolicy::Legacy => Capability::JwtAudIssuerOnly,
                    JwtAudPolicy::IssuerOnly => Capability::JwtAudLegacy,
                }
            })
            // The OpenID Connect exception only where its policy is on.
            .filter(|c| *c != Capability::OidcNonceException || config.policy.oidc_nonce_exception)
            // DPoP nonces where its policy demands them.
            .filter(|c| {
                use crate::server::dpop::NoncePolicy;
                let nonce = config.policy.dpop_nonce;
                match c {
                    Capability::DpopNonceAs => {
                        matches!(nonce, NoncePolicy::As | NoncePolicy::Both)
                    }
                    Capability::DpopNonceRs => {
                        matches!(nonce, NoncePolicy::Rs | NoncePolicy::Both)
                    }
                    _ => true,
                }
            })
            // Strict reuse detection, or the reuse window it declares.
            .filter(|c| {
                *c != match config.policy.refresh_token_grace {
                    Some(_) => Capability::RtReuseStrict,
                    None => Capability::RtReuseGrace,
                }
            })
            .collect(),
        encoding: BodyEncoding::Json,
        pkce_documentation: String::new(),
        endpoints: HashMap::new(),
        discovered_only: false,
        // What the builtin's metadata says (the flag is left out only by a fault).
        iss_required: !config
            .faults
            .has(crate::server::faults::Fault::IssFlagAbsent),
        authorization_params: Vec::new(),
        timeout,
        backend: Box::new(Builtin { server }),
        verification: Default::default(),
        date_offset: Default::default(),
        dpop_nonces: Default::default(),
        race: Default::default(),
        approval_url: Some(approval_url),
    })
}

/// `body` posted as JSON to a test-mode route, with `user` when one is named.
fn test_route<'a>(
    s: &'a Session,
    path: &'static str,
    mut body: serde_json::Value,
    user: Option<&'a str>,
) -> Fut<'a, Exchange> {
    if let Some(u) = user {
        body["user"] = serde_json::json!(u);
    }
    Box::pin(s.fetch(s.http.post(format!("{}{path}", s.base)).json(&body)))
}

impl Backend for Builtin {
    fn decide<'a>(
        &'a self,
        s: &'a Session,
        user_code: &'a str,
        user: Option<&'a str>,
        approve: bool,
    ) -> Fut<'a, Exchange> {
        let path = if approve {
            "/_test/device/approve"
        } else {
            "/_test/device/deny"
        };
        test_route(s, path, serde_json::json!({ "user_code": user_code }), user)
    }

    fn consent<'a>(
        &'a self,
        s: &'a Session,
        query: String,
        decision: Decision,
        user: Option<&'a str>,
    ) -> Fut<'a, (String, Exchange)> {
        Box::pin(async move {
            let mut q = query;
            if decision == Decision::Deny {
                q.push_str("&decision=deny");
            }
            if let Some(u) = user {
                q.push_str("&user=");
                q.extend(url::form_urlencoded::byte_serialize(u.as_bytes()));
            }
            let url = format!("{}/_test/authorize?{q}", s.base);
            let ex = s.fetch(s.http.get(&url)).await?;
            Ok((url, ex))
        })
    }

    fn revoke_app<'a>(
        &'a self,
        s: &'a Session,
        client: &'a str,
        user: Option<&'a str>,
    ) -> Fut<'a, Exchange> {
        test_route(
            s,
            "/_test/apps/revoke",
            serde_json::json!({ "client_id": client }),
            user,
        )
    }

    fn advance<'a>(&'a self, _: &'a Session, secs: f64) -> Fut<'a, bool> {
        self.server
            .clock()
            .advance(Duration::from_secs_f64(secs.max(0.0)));
        Box::pin(async { Ok(true) })
    }

    fn cannot_wait(&self, secs: f64) -> String {
        format!("the builtin moves its clock by any amount; {secs} s was refused")
    }

    fn now(&self) -> Option<u64> {
        Some(self.server.clock().unix_now())
    }

    fn close(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let _ = self.server.shutdown().await;
        })
    }
}
