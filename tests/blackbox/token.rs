//! Token endpoint rules common to every grant, client_credentials, and refresh
//! (TOK, REF rows).

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn client_credentials_in_both_encodings_and_both_auth_methods() {
    let s = server().await;
    for enc in BOTH {
        let t = s
            .post(
                "/oauth/token",
                enc,
                &[("grant_type", "client_credentials"), ("scope", "api")],
                Some(("m2m", "m2m-secret")),
            )
            .await;
        assert_eq!(t.status, 200, "{}", t.text);
        assert!(t.body["expires_in"].is_u64(), "TOK-5: a JSON number");
        // The token endpoint bypasses the router (`server::Dispatch`); the length of its
        // answers still goes on the wire, so a client never waits for the connection
        // to close.
        assert_eq!(t.header("content-length"), t.text.len().to_string());
        assert!(t.body.get("refresh_token").is_none(), "TOK-31");
        let t = s
            .post(
                "/oauth/token",
                enc,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", "m2m"),
                    ("client_secret", "m2m-secret"),
                ],
                None,
            )
            .await;
        assert_eq!(
            (t.status, t.str("scope").as_str()),
            (200, "api"),
            "client_secret_post; TOK-29 default scope"
        );
    }
    // TOK-16: id and secret are form-urlencoded before base64.
    let odd = s
        .post(
            "/oauth/token",
            Enc::Form,
            &[("grant_type", "client_credentials")],
            Some(("odd", "s%3Ae%25c+r")),
        )
        .await;
    assert_eq!(odd.status, 200, "{}", odd.text);
}

#[tokio::test]
async fn client_authentication_failures() {
    let s = server().await;
    let r = s
        .post(
            "/oauth/token",
            Enc::Form,
            &[("grant_type", "client_credentials")],
            Some(("m2m", "wrong")),
        )
        .await;
    r.assert_error(401, "invalid_client"); // TOK-15
    assert!(r.header("www-authenticate").starts_with("Basic realm="));
    let r = s
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "m2m"),
                ("client_secret", "wrong"),
            ],
        )
        .await;
    r.assert_error(400, "invalid_client"); // TOK-14
    let r = s
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "invalid-id"),
            ],
        )
        .await;
    r.assert_error(400, "invalid_client");
    // TOK-13: two methods at once.
    let r = s
        .post(
            "/oauth/token",
            Enc::Form,
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", "m2m-secret"),
            ],
            Some(("m2m", "m2m-secret")),
        )
        .await;
    r.assert_error(400, "invalid_request");
    // TOK-17: credentials in the URI.
    let r = s
        .post_form(
            "/oauth/token?client_id=m2m&client_secret=m2m-secret",
            &[("grant_type", "client_credentials")],
        )
        .await;
    r.assert_error(400, "invalid_request");
}

#[tokio::test]
async fn request_shape_errors() {
    let s = server().await;
    let basic = Some(("m2m", "m2m-secret"));
    // TOK-3: empty and unknown parameters are ignored.
    let t = s
        .post(
            "/oauth/token",
            Enc::Form,
            &[
                ("grant_type", "client_credentials"),
                ("scope", ""),
                ("foo", "bar"),
            ],
            basic,
        )
        .await;
    assert_eq!(t.status, 200);
    // TOK-4, TOK-12, TOK-27, BCP-9, TOK-26, TOK-30.
    s.post(
        "/oauth/token",
        Enc::Form,
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ],
        basic,
    )
    .await
    .assert_error(400, "invalid_request");
    s.post("/oauth/token", Enc::Form, &[("scope", "api")], basic)
        .await
        .assert_error(400, "invalid_request");
    s.post(
        "/oauth/token",
        Enc::Form,
        &[("grant_type", "urn:example:nope")],
        basic,
    )
    .await
    .assert_error(400, "unsupported_grant_type");
    s.post(
        "/oauth/token",
        Enc::Form,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password"),
        ],
        Some(("web", "web-secret")),
    )
    .await
    .assert_error(400, "unsupported_grant_type");
    s.post(
        "/oauth/token",
        Enc::Form,
        &[("grant_type", "client_credentials"), ("scope", "api")],
        Some(("web", "web-secret")),
    )
    .await
    .assert_error(400, "unauthorized_client");
    s.post_form(
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "noorle-cli"),
        ],
    )
    .await
    .assert_error(400, "unauthorized_client");
    // TOK-9, TOK-28: scope beyond the client, unknown scope.
    s.post(
        "/oauth/token",
        Enc::Form,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "api read admin"),
        ],
        basic,
    )
    .await
    .assert_error(400, "invalid_scope");
    s.post(
        "/oauth/token",
        Enc::Form,
        &[("grant_type", "client_credentials"), ("scope", "unknown")],
        basic,
    )
    .await
    .assert_error(400, "invalid_scope");
    // TOK-11: error_description never carries `"` or `\`.
    let r = s
        .post(
            "/oauth/token",
            Enc::Form,
            &[("grant_type", "client_credentials"), ("scope", "a\"b\\c")],
            basic,
        )
        .await;
    assert_eq!(r.status, 400);
    let d = r.str("error_description");
    assert!(!d.contains('"') && !d.contains('\\'), "{d}");
    // TOK-1: GET is refused.
    let r = s
        .get("/oauth/token?grant_type=client_credentials&scope=api")
        .await;
    assert_eq!(r.status, 405);
    assert!(r.header("allow").contains("POST"));
}

#[tokio::test]
async fn refresh_keeps_scope_refuses_widening_and_binds_client() {
    let s = server().await;
    let code = s.web_code("api read offline_access").await;
    let t = s.exchange_web(&code).await;
    let rt = t.str("refresh_token");
    let refresh = |scope: Option<&'static str>, who: (&'static str, &'static str), rt: String| {
        let s = &s;
        async move {
            let mut pairs = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.as_str()),
            ];
            if let Some(sc) = scope {
                pairs.push(("scope", sc));
            }
            s.post("/oauth/token", Enc::Form, &pairs, Some(who)).await
        }
    };
    let r = refresh(None, ("web", "web-secret"), rt.clone()).await;
    assert_eq!(
        (r.status, r.str("scope").as_str()),
        (200, "api read offline_access"),
        "REF-1, REF-2"
    );
    assert_eq!(
        r.str("refresh_token"),
        rt,
        "confidential clients keep their refresh token"
    );
    refresh(Some("api admin"), ("web", "web-secret"), rt.clone())
        .await
        .assert_error(400, "invalid_scope"); // REF-3
    let narrow = refresh(Some("read"), ("web", "web-secret"), rt.clone()).await;
    assert_eq!(narrow.str("scope"), "read", "REF-4");
    let me = s.api("/api/me", &narrow.str("access_token")).await;
    assert_eq!(me.status, 403, "narrowed token lacks api");
    assert!(me
        .header("www-authenticate")
        .contains("error=\"insufficient_scope\""));
    assert_eq!(
        refresh(None, ("web", "web-secret"), rt.clone())
            .await
            .str("scope"),
        "api read offline_access",
        "REF-5"
    );
    refresh(None, ("web2", "web2-secret"), rt.clone())
        .await
        .assert_error(400, "invalid_grant"); // REF-6
    s.post_form(
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "nope"),
            ("client_id", "noorle-cli"),
        ],
    )
    .await
    .assert_error(400, "invalid_grant"); // REF-7
}

#[tokio::test]
async fn public_refresh_tokens_rotate_and_replay_revokes_the_grant() {
    let s = server().await;
    let v = verifier();
    let code = s.spa_code(&v, "api offline_access").await;
    let t = s.exchange_spa(&code, &v).await;
    let rt1 = t.str("refresh_token");
    let refresh = |rt: String| {
        let s = &s;
        async move {
            s.post_form(
                "/oauth/token",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.as_str()),
                    ("client_id", "spa"),
                ],
            )
            .await
        }
    };
    let r2 = refresh(rt1.clone()).await;
    assert_eq!(r2.status, 200);
    let rt2 = r2.str("refresh_token");
    assert_ne!(rt1, rt2, "REF-8");
    refresh(rt1).await.assert_error(400, "invalid_grant"); // REF-9
    refresh(rt2).await.assert_error(400, "invalid_grant");
    assert_eq!(
        s.api("/api/me", &r2.str("access_token")).await.status,
        401,
        "REF-10"
    );
}

#[tokio::test]
async fn refresh_tokens_expire_when_idle() {
    let s = server().await;
    let t = s.device_token("api offline_access").await;
    s.advance(30 * 24 * 3600 + 1);
    let r = s
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &t.str("refresh_token")),
                ("client_id", "noorle-cli"),
            ],
        )
        .await;
    r.assert_error(400, "invalid_grant"); // REF-11
}

#[tokio::test]
async fn revocation_rfc7009() {
    let s = server().await;
    let code = s.web_code("api offline_access").await;
    let t = s.exchange_web(&code).await;
    let (at, rt) = (t.str("access_token"), t.str("refresh_token"));
    let web = Some(("web", "web-secret"));
    // REV-10: another client cannot revoke it.
    assert_eq!(
        s.post(
            "/oauth/revoke",
            Enc::Form,
            &[("token", &at)],
            Some(("web2", "web2-secret"))
        )
        .await
        .status,
        200
    );
    assert_eq!(s.api("/api/me", &at).await.status, 200);
    // REV-5: unknown tokens are 200.
    assert_eq!(
        s.post(
            "/oauth/revoke",
            Enc::Form,
            &[("token", "does-not-exist")],
            web
        )
        .await
        .status,
        200
    );
    // REV-11.
    s.post(
        "/oauth/revoke",
        Enc::Form,
        &[("token", &at)],
        Some(("web", "wrong")),
    )
    .await
    .assert_error(401, "invalid_client");
    s.post("/oauth/revoke", Enc::Form, &[], web)
        .await
        .assert_error(400, "invalid_request");
    // REV-6 and REV-8: a refresh token under a wrong hint; its access token dies too.
    assert_eq!(
        s.post(
            "/oauth/revoke",
            Enc::Form,
            &[("token", &rt), ("token_type_hint", "access_token")],
            web
        )
        .await
        .status,
        200
    );
    s.post(
        "/oauth/token",
        Enc::Form,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        web,
    )
    .await
    .assert_error(400, "invalid_grant");
    assert_eq!(s.api("/api/me", &at).await.status, 401);
    assert_eq!(
        s.post("/oauth/revoke", Enc::Form, &[("token", &rt)], web)
            .await
            .status,
        200,
        "twice is fine"
    );
    // REV-3, REV-7: access tokens, in JSON too.
    let t2 = s.cc_token("api").await;
    assert_eq!(
        s.post(
            "/oauth/revoke",
            Enc::Json,
            &[
                ("token", &t2.str("access_token")),
                ("token_type_hint", "bogus")
            ],
            Some(("m2m", "m2m-secret"))
        )
        .await
        .status,
        200
    );
    let r = s.api("/api/me", &t2.str("access_token")).await;
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .contains("error=\"invalid_token\""));
}

#[tokio::test]
async fn connected_app_revocation_kills_only_that_app() {
    let s = server().await;
    let web = s
        .exchange_web(&s.web_code("api offline_access").await)
        .await;
    let dev = s.device_token("api").await;
    let apps = s.get("/_test/apps").await;
    assert_eq!(apps.body["apps"]["web"], json!(2));
    let r = s
        .test_json("/_test/apps/revoke", json!({"client_id": "web"}))
        .await;
    assert_eq!(r.body["revoked_grants"], json!(1));
    assert_eq!(
        s.api("/api/me", &web.str("access_token")).await.status,
        401,
        "REV-12, NOORLE-22"
    );
    s.post(
        "/oauth/token",
        Enc::Form,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &web.str("refresh_token")),
        ],
        Some(("web", "web-secret")),
    )
    .await
    .assert_error(400, "invalid_grant");
    assert_eq!(
        s.api("/api/me", &dev.str("access_token")).await.status,
        200,
        "other apps keep working"
    );
}

#[tokio::test]
async fn protected_api_challenges() {
    let s = server().await;
    let r = s.get("/api/me").await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        "Bearer realm=\"oauth-harness\"",
        "RES-2, RES-3, RES-4"
    );
    let r = s.api("/api/me", "not-a-token").await;
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .contains("error=\"invalid_token\""),
        "RES-6"
    );
    let t = s.cc_token("read").await.str("access_token");
    let r = s.api("/api/me", &t).await;
    assert_eq!(r.status, 403, "RES-7");
    assert!(r.header("www-authenticate").contains("scope=\"api\""));
    assert_eq!(s.api("/api/items", &t).await.status, 200);
    let r = read(
        s.http
            .get(s.url(&format!("/api/items?access_token={t}")))
            .bearer_auth(&t)
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(r.status, 400, "RES-8");
    let r = s.get(&format!("/api/items?access_token={t}")).await;
    assert_eq!(r.status, 401, "RES-10: query tokens are not credentials");
    assert!(!r.header("www-authenticate").contains("error="));
    s.advance(3600);
    assert_eq!(s.api("/api/items", &t).await.status, 401, "RES-9");
}

#[tokio::test]
async fn introspection() {
    let s = server().await;
    let t = s.cc_token("api").await.str("access_token");
    let r = s.post_form("/oauth/introspect", &[("token", &t)]).await;
    assert_eq!(r.status, 401, "INTRO-1");
    let r = s.introspect(&t).await;
    assert_eq!(
        (r.status, &r.body["active"], r.str("client_id").as_str()),
        (200, &json!(true), "m2m"),
        "INTRO-2"
    );
    let r = s.introspect("nope").await;
    assert_eq!(r.body, json!({"active": false}), "INTRO-3, INTRO-4");
    let r = s
        .post(
            "/oauth/introspect",
            Enc::Form,
            &[("token", &t)],
            Some(("web", "wrong")),
        )
        .await;
    assert_eq!(r.status, 401, "INTRO-5");
}

#[tokio::test]
async fn dynamic_registration() {
    let s = server().await;
    let body = json!({"redirect_uris": ["https://new.example/cb"], "client_name": "harness", "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic"});
    let a = s.test_json("/oauth/register", body.clone()).await;
    let b = s.test_json("/oauth/register", body).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_ne!(a.str("client_id"), b.str("client_id"), "REG-3");
    assert_ne!(a.str("client_secret"), b.str("client_secret"), "REG-4");
    assert_eq!(a.body["client_secret_expires_at"], json!(0));
    for k in [
        "redirect_uris",
        "grant_types",
        "response_types",
        "token_endpoint_auth_method",
    ] {
        assert!(a.body.get(k).is_some(), "REG-6 {k}");
    }
    let d = s
        .test_json(
            "/oauth/register",
            json!({"redirect_uris": ["https://new.example/cb"]}),
        )
        .await;
    assert_eq!(
        (
            d.body["grant_types"].clone(),
            d.str("token_endpoint_auth_method")
        ),
        (
            json!(["authorization_code"]),
            "client_secret_basic".to_string()
        ),
        "REG-7"
    );
    let n = s.test_json("/oauth/register", json!({"redirect_uris": ["https://new.example/cb"], "token_endpoint_auth_method": "none"})).await;
    assert!(n.body.get("client_secret").is_none(), "REG-11");
    for bad in [
        "https://client.example/cb#frag",
        "not a uri",
        "http://client.example/cb",
    ] {
        s.test_json("/oauth/register", json!({"redirect_uris": [bad]}))
            .await
            .assert_error(400, "invalid_redirect_uri");
    }
    s.test_json(
        "/oauth/register",
        json!({"redirect_uris": ["https://x.example/cb"], "response_types": ["token"]}),
    )
    .await
    .assert_error(400, "invalid_client_metadata");
    s.test_json(
        "/oauth/register",
        json!({"redirect_uris": ["https://x.example/cb"], "token_endpoint_auth_method": "bogus"}),
    )
    .await
    .assert_error(400, "invalid_client_metadata");
    // REG-12: the new client works at once with its redirect URI.
    let id = a.str("client_id");
    let q = s
        .consent(&[
            ("response_type", "code"),
            ("client_id", &id),
            ("redirect_uri", "https://new.example/cb"),
            ("scope", "api"),
        ])
        .await
        .location_query();
    let t = s
        .post(
            "/oauth/token",
            Enc::Form,
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("redirect_uri", "https://new.example/cb"),
            ],
            Some((&id, &a.str("client_secret"))),
        )
        .await;
    assert_eq!(t.status, 200, "{}", t.text);
}

#[tokio::test]
async fn metadata_advertises_every_endpoint() {
    let s = server().await;
    let m = s.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(m.status, 200);
    assert_eq!(m.str("issuer"), s.base, "META-5");
    assert_eq!(m.str("token_endpoint"), s.url("/oauth/token"));
    assert_eq!(
        m.str("device_authorization_endpoint"),
        s.url("/oauth/device/authorize"),
        "NOORLE-1, META-10"
    );
    assert!(m.body["grant_types_supported"]
        .as_array()
        .is_some_and(|a| a.contains(&json!(DEVICE_GRANT))));
    assert!(
        m.body["code_challenge_methods_supported"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("S256"))),
        "META-11"
    );
    assert!(
        m.body
            .as_object()
            .is_some_and(|o| o.values().all(|v| v != &json!([]))),
        "META-9"
    );
}

#[tokio::test]
async fn test_routes_are_404_without_test_mode() {
    let handle = oauth_harness::server::start(
        oauth_harness::server::config::ServerConfig::builtin(),
        "127.0.0.1:0",
        oauth_harness::clock::Clock::frozen(),
    )
    .await
    .expect("start");
    let http = reqwest::Client::new();
    for (method, path) in [
        ("POST", "/_test/clock/advance"),
        ("POST", "/_test/device/approve"),
        ("POST", "/_test/device/deny"),
        ("GET", "/_test/authorize"),
        ("GET", "/_test/audit"),
    ] {
        let req = if method == "POST" {
            http.post(format!("{}{path}", handle.base_url()))
                .json(&json!({"seconds": 1}))
        } else {
            http.get(format!("{}{path}", handle.base_url()))
        };
        assert_eq!(
            req.send().await.expect("send").status().as_u16(),
            404,
            "{path}"
        );
    }
    handle.shutdown().await.expect("graceful shutdown");
}
