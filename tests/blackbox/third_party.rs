//! A real third-party client, the `oauth2` crate, unchanged against the reference server:
//! the device flow with its own polling loop, and the authorization code + PKCE exchange.
//! Its sleeps move the server's clock, so a 5-second interval costs no real time.

use crate::common::*;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, DeviceAuthorizationUrl,
    HttpRequest, PkceCodeChallenge, RedirectUrl, Scope, StandardDeviceAuthorizationResponse,
    TokenResponse, TokenUrl,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[path = "../../examples/oauth2_client/http_adapter.rs"]
mod http_adapter;
use http_adapter::send;

#[tokio::test]
async fn oauth2_crate_device_flow_polls_until_approved() {
    let s = Arc::new(server().await);
    let http = s.http.clone();
    let client_fn = move |req: HttpRequest| send(http.clone(), req);
    let client = BasicClient::new(ClientId::new("noorle-cli".into()))
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(s.url("/oauth/device/authorize")).expect("url"),
        )
        .set_token_uri(TokenUrl::new(s.url("/oauth/token")).expect("url"));
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("api".into()))
        .request_async(&client_fn)
        .await
        .expect("device authorization");
    assert_eq!(details.interval().as_secs(), 5);
    let user_code = details.user_code().secret().clone();
    let sleeps = Arc::new(AtomicUsize::new(0));
    let (srv, n) = (s.clone(), sleeps.clone());
    // The client's sleeps move the clock; the user approves after its second wait.
    let sleep_fn = move |d: std::time::Duration| {
        let (srv, n, code) = (srv.clone(), n.clone(), user_code.clone());
        async move {
            srv.handle.clock().advance(d);
            if n.fetch_add(1, Ordering::SeqCst) == 1 {
                srv.approve(&code).await;
            }
        }
    };
    let token = client
        .exchange_device_access_token(&details)
        .request_async(&client_fn, sleep_fn, None)
        .await
        .expect("device token");
    assert!(
        sleeps.load(Ordering::SeqCst) >= 2,
        "the client saw authorization_pending"
    );
    let me = s.api("/api/me", token.access_token().secret()).await;
    assert_eq!(me.status, 200);
    let audit = s.get("/_test/audit").await;
    assert_eq!(
        audit.body["clients"]["noorle-cli"]["early_polls"],
        serde_json::json!(0),
        "a well-behaved client"
    );
}

#[tokio::test]
async fn oauth2_crate_code_flow_with_pkce_public_and_confidential() {
    let s = server().await;
    let http = s.http.clone();
    let client_fn = move |req: HttpRequest| send(http.clone(), req);
    for (id, secret, redirect) in [("spa", None, RS), ("web", Some("web-secret"), R)] {
        let mut client = BasicClient::new(ClientId::new(id.into()))
            .set_auth_uri(AuthUrl::new(s.url("/oauth/authorize")).expect("url"))
            .set_token_uri(TokenUrl::new(s.url("/oauth/token")).expect("url"))
            .set_redirect_uri(RedirectUrl::new(redirect.into()).expect("url"));
        if let Some(sec) = secret {
            client = client.set_client_secret(ClientSecret::new(sec.into()));
        }
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (auth_url, csrf) = client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("api".into()))
            .add_scope(Scope::new("offline_access".into()))
            .set_pkce_challenge(challenge)
            .url();
        // The user's consent, through the test route, for exactly that URL.
        let consent = s
            .get(&format!(
                "/_test/authorize?{}",
                auth_url.query().unwrap_or("")
            ))
            .await;
        let q = consent.location_query();
        assert_eq!(
            q.get("state"),
            Some(csrf.secret()),
            "{id}: state comes back"
        );
        let token = client
            .exchange_code(AuthorizationCode::new(q["code"].clone()))
            .set_pkce_verifier(verifier)
            .request_async(&client_fn)
            .await
            .unwrap_or_else(|e| panic!("{id}: exchange failed: {e:?}"));
        assert!(token.refresh_token().is_some(), "{id}");
        assert_eq!(
            s.api("/api/me", token.access_token().secret()).await.status,
            200,
            "{id}"
        );
        let refreshed = client
            .exchange_refresh_token(token.refresh_token().expect("refresh token"))
            .request_async(&client_fn)
            .await
            .unwrap_or_else(|e| panic!("{id}: refresh failed: {e:?}"));
        assert_eq!(
            s.api("/api/me", refreshed.access_token().secret())
                .await
                .status,
            200,
            "{id}"
        );
    }
}
