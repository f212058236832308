//! Where the harness publishes the public keys its signing roles hold (conformance matrix
//! §20, fixture `pkj-uri`: a `private_key_jwt` client whose keys the target fetches from
//! its `jwks_uri`, RFC 7591 §2). A small HTTP server, on 127.0.0.1 for the builtin or at
//! a live profile's `jwks_uri_base`, answers `GET /{role}/jwks.json` with the role's
//! JWK Set — public members only (RFC 7517 §5) — for as long as the run lasts.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// The role whose keys are fetched from a `jwks_uri`.
pub const ROLE: &str = "pkj-uri";

/// A running key host; it stops when dropped.
#[derive(Debug)]
pub struct JwksHost {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl JwksHost {
    /// Serves `sets` (role → public JWK Set) on `bind` (`127.0.0.1:0` for any free port),
    /// announced as `public_base` (the URL the target reaches it at), else as
    /// `http://<bound address>`.
    pub async fn start(
        bind: &str,
        public_base: Option<&str>,
        sets: HashMap<String, Value>,
    ) -> Result<JwksHost, String> {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| format!("cannot serve the client keys on {bind}: {e}"))?;
        let bound = listener
            .local_addr()
            .map_err(|e| format!("cannot serve the client keys on {bind}: {e}"))?;
        let app = axum::Router::new()
            .route("/{role}/jwks.json", get(jwks))
            .with_state(Arc::new(sets));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        let base = public_base
            .map(|b| b.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://{bound}"));
        Ok(JwksHost {
            base,
            stop: Some(tx),
        })
    }

    /// Where `role`'s keys are published: its `jwks_uri`.
    pub fn uri(&self, role: &str) -> String {
        format!("{}/{role}/jwks.json", self.base)
    }
}

impl Drop for JwksHost {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn jwks(
    State(sets): State<Arc<HashMap<String, Value>>>,
    Path(role): Path<String>,
) -> Response {
    match sets.get(&role) {
        Some(set) => (
            [(header::CONTENT_TYPE, "application/jwk-set+json")],
            set.to_string(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The address to listen on for a profile's `jwks_uri_base` (the URL the target reaches
/// the harness at): its port, on the loopback interface when the URL names it, else on
/// every interface.
pub fn bind_address(base: &str) -> Result<String, String> {
    let url = url::Url::parse(base).map_err(|e| format!("`{base}` is not a URL: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "`{base}`: the harness serves the keys over plain http (a URL the target can reach)"
        ));
    }
    let port = url
        .port()
        .ok_or_else(|| format!("`{base}` names no port to listen on"))?;
    Ok(if crate::runner::http::is_loopback(&url) {
        format!("127.0.0.1:{port}")
    } else {
        format!("0.0.0.0:{port}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_gives_the_address_to_listen_on() {
        assert_eq!(
            bind_address("http://127.0.0.1:9400").as_deref(),
            Ok("127.0.0.1:9400")
        );
        assert_eq!(
            bind_address("http://harness.internal:9400/").as_deref(),
            Ok("0.0.0.0:9400")
        );
        assert!(bind_address("http://127.0.0.1").is_err(), "no port");
        assert!(bind_address("https://127.0.0.1:9400").is_err(), "not http");
        assert!(bind_address("not a url").is_err());
    }

    #[tokio::test]
    async fn it_serves_each_roles_set_and_nothing_else() {
        let set = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]});
        let host = JwksHost::start(
            "127.0.0.1:0",
            None,
            HashMap::from([(ROLE.to_string(), set.clone())]),
        )
        .await
        .expect("started");
        let got: Value = reqwest::get(host.uri(ROLE))
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(got, set);
        let other = reqwest::get(host.uri("pkj")).await.expect("get");
        assert_eq!(other.status(), reqwest::StatusCode::NOT_FOUND);
    }
}
