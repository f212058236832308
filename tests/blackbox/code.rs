//! Authorization endpoint and the authorization-code grant with PKCE
//! (RFC 6749 §4.1, RFC 7636; AUTHZ, PKCE and TOK rows).

use crate::common::*;

fn req<'a>(client: &'a str, redirect: &'a str, state: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", redirect),
        ("scope", "api"),
        ("state", state),
    ]
}

#[tokio::test]
async fn state_comes_back_byte_identical_and_registered_query_is_kept() {
    let s = server().await;
    let odd_state = "a b+c/d=e&f?g#h%i~'";
    let r = s.consent(&req("web", R, odd_state)).await;
    assert_eq!(r.status, 302);
    let q = r.location_query();
    assert_eq!(
        q.get("state").map(String::as_str),
        Some(odd_state),
        "AUTHZ-3"
    );
    assert!(q.contains_key("code"), "AUTHZ-2");
    assert!(!r.header("location").contains('#'));
    // AUTHZ-4: the registered URI's own query survives.
    let r = s
        .consent(&req("multi", "https://multi.example/cb?tenant=7", "s"))
        .await;
    let q = r.location_query();
    assert_eq!(q.get("tenant").map(String::as_str), Some("7"));
    assert!(q.contains_key("code"));
}

#[tokio::test]
async fn bad_client_or_redirect_uri_is_a_page_never_a_redirect() {
    let s = server().await;
    let variants = [
        "https://web.example/callback/",
        "https://web.example/Callback",
        "https://web.example/callback?x=1",
        "https://web.example:443/callback",
        "https://web.example/callback/extra",
        "https://web.example%2Fcallback",
        "http://web.example/callback",
        "https://web.example@evil.example/callback",
        "https://evil.example/cb",
    ];
    for v in variants {
        let r = s.consent(&req("web", v, "s")).await;
        assert_eq!(r.status, 400, "AUTHZ-5/7 {v}");
        assert!(r.header("location").is_empty());
        assert!(
            r.text.contains("redirect_uri"),
            "the page names the problem"
        );
    }
    let r = s.consent(&req("invalid-id", R, "s")).await;
    assert_eq!((r.status, r.header("location")), (400, ""), "AUTHZ-8");
    let r = s
        .consent(&[
            ("response_type", "code"),
            ("client_id", "multi"),
            ("state", "s"),
        ])
        .await;
    assert_eq!(r.status, 400, "AUTHZ-6: multi must name its redirect_uri");
    let r = s
        .consent(&[
            ("response_type", "code"),
            ("client_id", "web"),
            ("redirect_uri", R),
            ("redirect_uri", "https://web2.example/callback"),
        ])
        .await;
    assert_eq!(r.status, 400, "AUTHZ-14");
    // The real endpoint behaves the same, before any login.
    let r = s.get("/oauth/authorize?response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fevil.example%2Fcb").await;
    assert_eq!((r.status, r.header("location")), (400, ""));
}

#[tokio::test]
async fn error_redirects_carry_error_and_state() {
    let s = server().await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("client_id", "web"), ("redirect_uri", R), ("state", "S")],
            "invalid_request",
        ), // AUTHZ-9
        (
            vec![
                ("response_type", "foo"),
                ("client_id", "web"),
                ("redirect_uri", R),
                ("state", "S"),
            ],
            "unsupported_response_type",
        ),
        (
            vec![
                ("response_type", "token"),
                ("client_id", "web"),
                ("redirect_uri", R),
                ("state", "S"),
            ],
            "unsupported_response_type",
        ),
        (
            vec![
                ("response_type", "code"),
                ("client_id", "m2m"),
                ("redirect_uri", "https://m2m.example/cb"),
                ("state", "S"),
            ],
            "unauthorized_client",
        ),
        (
            vec![
                ("response_type", "code"),
                ("client_id", "web"),
                ("redirect_uri", R),
                ("scope", "api unknown"),
                ("state", "S"),
            ],
            "invalid_scope",
        ),
        (
            vec![
                ("response_type", "code"),
                ("client_id", "web"),
                ("redirect_uri", R),
                ("state", "S"),
                ("state", "T"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("response_type", "code"),
                ("client_id", "spa"),
                ("redirect_uri", RS),
                ("state", "S"),
            ],
            "invalid_request",
        ), // PKCE-7
        (
            vec![
                ("response_type", "code"),
                ("client_id", "web"),
                ("redirect_uri", R),
                ("state", "S"),
                ("code_challenge", "abc"),
                ("code_challenge_method", "S256"),
            ],
            "invalid_request",
        ), // PKCE-9
        (
            vec![
                ("response_type", "code"),
                ("client_id", "web"),
                ("redirect_uri", R),
                ("state", "S"),
                (
                    "code_challenge",
                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                ),
                ("code_challenge_method", "S512"),
            ],
            "invalid_request",
        ), // PKCE-6
    ];
    for (pairs, error) in cases {
        let r = s.consent(&pairs).await;
        assert_eq!(r.status, 302, "{pairs:?}");
        let q = r.location_query();
        assert_eq!(q.get("error").map(String::as_str), Some(error), "{pairs:?}");
        assert!(
            q.get("state").is_some_and(|st| st == "S"),
            "AUTHZ-16 {pairs:?}"
        );
        let desc = q.get("error_description").cloned().unwrap_or_default();
        assert!(!desc.contains('"') && !desc.contains('\\'));
    }
    // AUTHZ-12: the user says no.
    let mut deny = req("web", R, "S");
    deny.push(("decision", "deny"));
    let q = s.consent(&deny).await.location_query();
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("access_denied", "S")
    );
}

#[tokio::test]
async fn pkce_s256_with_the_rfc_vector_and_every_failure() {
    let s = server().await;
    // PKCE-1: RFC 7636 Appendix B.
    let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let code = s.spa_code(v, "api").await;
    assert!(
        !code.contains("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
        "PKCE-10"
    );
    let t = s.exchange_spa(&code, v).await;
    assert_eq!(t.status, 200, "{}", t.text);
    // PKCE-2: another well-formed verifier.
    let code = s.spa_code(&verifier(), "api").await;
    s.exchange_spa(&code, &verifier())
        .await
        .assert_error(400, "invalid_grant");
    // PKCE-3: none at all.
    let code = s.spa_code(&verifier(), "api").await;
    s.post_form(
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", RS),
            ("client_id", "spa"),
        ],
    )
    .await
    .assert_error(400, "invalid_grant");
    // PKCE-8: a 42-character verifier whose S256 is the challenge.
    let short = &verifier()[..42];
    let code = s.spa_code(short, "api").await;
    assert_eq!(s.exchange_spa(&code, short).await.status, 400);
    // BCP-7: a verifier for a code issued without a challenge.
    let code = s.web_code("api").await;
    let r = s
        .post(
            "/oauth/token",
            Enc::Form,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", R),
                ("code_verifier", &verifier()),
            ],
            Some(("web", "web-secret")),
        )
        .await;
    r.assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn pkce_plain_and_missing_method_mean_plain() {
    let s = server().await;
    let v = verifier();
    for method in [Some("plain"), None] {
        let mut pairs = req("spa", RS, "s");
        pairs.push(("code_challenge", &v));
        if let Some(m) = method {
            pairs.push(("code_challenge_method", m));
        }
        let code = s
            .consent(&pairs)
            .await
            .location_query()
            .get("code")
            .cloned()
            .expect("code");
        assert_eq!(
            s.exchange_spa(&code, &v).await.status,
            200,
            "PKCE-4/5 {method:?}"
        );
    }
}

#[tokio::test]
async fn code_lifetime_is_ten_minutes_exactly() {
    let s = server().await;
    let c1 = s.web_code("api").await;
    s.advance(599);
    assert_eq!(s.exchange_web(&c1).await.status, 200, "NOORLE-19 at 599 s");
    let c2 = s.web_code("api").await;
    s.advance(601);
    s.exchange_web(&c2).await.assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn code_is_single_use_and_reuse_revokes_its_tokens() {
    let s = server().await;
    let code = s.web_code("api offline_access").await;
    let t = s.exchange_web(&code).await;
    assert_eq!(t.status, 200);
    assert_eq!(s.api("/api/me", &t.str("access_token")).await.status, 200);
    s.exchange_web(&code)
        .await
        .assert_error(400, "invalid_grant"); // TOK-21
    assert_eq!(
        s.api("/api/me", &t.str("access_token")).await.status,
        401,
        "TOK-22"
    );
    let r = s
        .post(
            "/oauth/token",
            Enc::Form,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &t.str("refresh_token")),
            ],
            Some(("web", "web-secret")),
        )
        .await;
    r.assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn code_binding_to_client_and_redirect_uri() {
    let s = server().await;
    let code = s.web_code("api").await;
    let r = s
        .post(
            "/oauth/token",
            Enc::Form,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", R),
            ],
            Some(("web2", "web2-secret")),
        )
        .await;
    r.assert_error(400, "invalid_grant"); // TOK-23
    let code = s.web_code("api").await;
    let r = s
        .post(
            "/oauth/token",
            Enc::Form,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://web.example/callback/other"),
            ],
            Some(("web", "web-secret")),
        )
        .await;
    r.assert_error(400, "invalid_grant"); // TOK-24
    let code = s.web_code("api").await;
    let r = s
        .post(
            "/oauth/token",
            Enc::Form,
            &[("grant_type", "authorization_code"), ("code", &code)],
            Some(("web", "web-secret")),
        )
        .await;
    r.assert_error(400, "invalid_request"); // TOK-25
    let r = s
        .post(
            "/oauth/token",
            Enc::Form,
            &[
                ("grant_type", "authorization_code"),
                ("code", "nope"),
                ("redirect_uri", R),
            ],
            Some(("web", "web-secret")),
        )
        .await;
    r.assert_error(400, "invalid_grant"); // TOK-18
                                          // TOK-14: a confidential client must authenticate at the exchange.
    let code = s.web_code("api").await;
    let r = s
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", R),
                ("client_id", "web"),
            ],
        )
        .await;
    r.assert_error(400, "invalid_client");
}

#[tokio::test]
async fn native_loopback_redirect_may_use_any_port() {
    let s = server().await;
    let v = verifier();
    let ch = oauth_harness::oauth::s256(&v);
    let mut ok = req("native", "http://127.0.0.1:53123/cb", "s");
    ok.extend([
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    assert_eq!(s.consent(&ok).await.status, 302, "BCP-2");
    let mut bad = req("native", "http://127.0.0.1:53123/cb2", "s");
    bad.extend([
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    assert_eq!(s.consent(&bad).await.status, 400);
}

#[tokio::test]
async fn browser_flow_login_consent_and_csrf() {
    let s = server().await;
    let q = "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcallback&scope=unknown&state=S";
    // BCP-5: a fresh browser sees the login page, even for a request that will fail.
    let login = s.get(&format!("/oauth/authorize?{q}")).await;
    assert_eq!(login.status, 200);
    assert!(login.text.contains("Sign in"));
    assert!(login
        .header("content-security-policy")
        .contains("frame-ancestors 'none'"));
    assert!(
        login.header("access-control-allow-origin").is_empty(),
        "BCP-11"
    );
    let (cookie, _) = login.form_session();
    // BCP-4: login's return_to cannot point elsewhere.
    let r = read(
        s.http
            .post(s.url("/oauth/login"))
            .header("cookie", &cookie)
            .form(&[
                ("username", "alice"),
                ("password", "alice-password"),
                ("return_to", "https://evil.example"),
            ])
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(r.status, 303, "BCP-10");
    assert!(r.header("location").starts_with('/'));
    // Signed in: the bad scope now comes back as an error redirect.
    let r = read(
        s.http
            .get(s.url(&format!("/oauth/authorize?{q}")))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(
        r.location_query().get("error").map(String::as_str),
        Some("invalid_scope")
    );
    // A good request shows the consent form; approving it redirects with a code.
    let good = "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcallback&scope=api&state=S";
    let consent = read(
        s.http
            .get(s.url(&format!("/oauth/authorize?{good}")))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(consent.status, 200);
    let (_, csrf) = consent.form_session();
    let decide = |csrf: String| {
        let (s, cookie) = (&s, cookie.clone());
        async move {
            read(
                s.http
                    .post(s.url("/oauth/authorize/decision"))
                    .header("cookie", cookie)
                    .form(&[
                        ("csrf", csrf.as_str()),
                        ("request", good),
                        ("decision", "approve"),
                    ])
                    .send()
                    .await
                    .expect("post"),
            )
            .await
        }
    };
    let forged = decide("forged".into()).await;
    assert_eq!(
        (forged.status, forged.header("location")),
        (403, ""),
        "AUTHZ-18"
    );
    let ok = decide(csrf).await;
    assert_eq!(ok.status, 303);
    let q = ok.location_query();
    assert_eq!(q.get("state").map(String::as_str), Some("S"));
    assert_eq!(s.exchange_web(&q["code"]).await.status, 200);
}
