//! Device authorization grant (RFC 8628; DEV and NOORLE rows), in both encodings.

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn device_authorization_response_has_every_member_in_both_encodings() {
    let s = server().await;
    for enc in BOTH {
        let r = s.device_start(enc, "api").await;
        assert!(r.header("content-type").starts_with("application/json"));
        assert!(r.header("cache-control").contains("no-store"), "DEV-3");
        assert_eq!(r.str("device_code").len(), 43);
        let uc = r.str("user_code");
        assert!(
            uc.len() == 9
                && uc
                    .chars()
                    .all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c)),
            "{uc}"
        );
        assert_eq!(r.str("verification_uri"), s.url("/oauth/device/verify"));
        assert!(!r.str("verification_uri").contains(&uc), "DEV-6");
        assert!(r.str("verification_uri_complete").ends_with(&uc), "DEV-5");
        assert_eq!(r.body["expires_in"], json!(1800), "NOORLE-7");
        assert_eq!(r.body["interval"], json!(5), "NOORLE-8");
    }
}

#[tokio::test]
async fn noorle_documented_errors_are_exact() {
    let s = server().await;
    let r = s
        .post(
            "/oauth/device/authorize",
            Enc::Json,
            &[("client_id", "invalid-id"), ("scope", "api")],
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"error":"invalid_client","error_description":"Unknown client: invalid-id"})
    );
    let r = s
        .post(
            "/oauth/device/authorize",
            Enc::Json,
            &[("client_id", "noorle-cli"), ("scope", "unknown")],
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"error":"invalid_scope","error_description":"Scope 'unknown' is not supported"})
    );
    // Form bodies get the same answers.
    let r = s
        .post_form(
            "/oauth/device/authorize",
            &[("client_id", "invalid-id"), ("scope", "api")],
        )
        .await;
    r.assert_error(400, "invalid_client");
}

#[tokio::test]
async fn device_authorization_errors() {
    let s = server().await;
    // DEV-9: Basic with an unknown client → 401 + challenge.
    let r = s
        .post(
            "/oauth/device/authorize",
            Enc::Form,
            &[("scope", "api")],
            Some(("invalid-id", "x")),
        )
        .await;
    r.assert_error(401, "invalid_client");
    assert!(
        r.header("www-authenticate").starts_with("Basic"),
        "{:?}",
        r.headers
    );
    // DEV-8: repeated parameter, in both encodings.
    let r = s
        .post_form(
            "/oauth/device/authorize",
            &[
                ("client_id", "noorle-cli"),
                ("scope", "api"),
                ("scope", "read"),
            ],
        )
        .await;
    r.assert_error(400, "invalid_request");
    let r = s
        .post_raw(
            "/oauth/device/authorize",
            "application/json",
            r#"{"client_id":"noorle-cli","client_id":"noorle-cli"}"#,
        )
        .await;
    r.assert_error(400, "invalid_request");
    // DEV-11: a client without the device grant.
    let r = s
        .post(
            "/oauth/device/authorize",
            Enc::Form,
            &[("scope", "api")],
            Some(("web", "web-secret")),
        )
        .await;
    r.assert_error(400, "unauthorized_client");
    // DEV-12: a confidential client must authenticate; with its secret it may start.
    let r = s
        .post_form(
            "/oauth/device/authorize",
            &[("client_id", "tv"), ("scope", "api")],
        )
        .await;
    r.assert_error(400, "invalid_client");
    let r = s
        .post(
            "/oauth/device/authorize",
            Enc::Form,
            &[("scope", "api")],
            Some(("tv", "tv-secret")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // NOORLE-4: no client_id → 400.
    let r = s
        .post(
            "/oauth/device/authorize",
            Enc::Json,
            &[("scope", "api")],
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    // §15 #1: any other content type → invalid_request; broken JSON too.
    s.post_raw(
        "/oauth/device/authorize",
        "text/plain",
        "client_id=noorle-cli",
    )
    .await
    .assert_error(400, "invalid_request");
    s.post_raw(
        "/oauth/device/authorize",
        "application/json",
        "{\"client_id\":",
    )
    .await
    .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn empty_and_unknown_parameters_are_ignored_and_default_scope_is_api() {
    let s = server().await;
    let d = s
        .post_form(
            "/oauth/device/authorize",
            &[("client_id", "noorle-cli"), ("scope", ""), ("foo", "bar")],
        )
        .await;
    assert_eq!(d.status, 200, "DEV-7 {}", d.text);
    s.approve(&d.str("user_code")).await;
    let t = s.poll(Enc::Form, &d.str("device_code")).await;
    assert_eq!(t.status, 200);
    assert_eq!(t.str("scope"), "api", "NOORLE-4");
}

#[tokio::test]
async fn pending_then_approved_then_single_use_in_both_encodings() {
    let s = server().await;
    for enc in BOTH {
        let d = s.device_start(enc, "api").await;
        let dc = d.str("device_code");
        s.poll(enc, &dc)
            .await
            .assert_error(400, "authorization_pending");
        assert_eq!(s.approve(&d.str("user_code")).await.status, 200);
        s.advance(5);
        let t = s.poll(enc, &dc).await;
        assert_eq!(t.status, 200, "DEV-17 {}", t.text);
        assert!(t.header("cache-control").contains("no-store"));
        assert_eq!(t.header("pragma"), "no-cache");
        assert!(t.str("token_type").eq_ignore_ascii_case("bearer"));
        assert!(
            t.body.get("refresh_token").is_none(),
            "no offline_access, no refresh token"
        );
        s.advance(5);
        s.poll(enc, &dc).await.assert_error(400, "invalid_grant"); // DEV-21
        assert_eq!(s.api("/api/me", &t.str("access_token")).await.status, 200);
    }
}

#[tokio::test]
async fn slow_down_follows_the_matrix_sequence() {
    // DEV-16: t=0 pending; t=1 slow_down (10); t=6 slow_down (15); t=21 pending.
    let s = server().await;
    let dc = s.device_start(Enc::Form, "api").await.str("device_code");
    s.poll(Enc::Form, &dc)
        .await
        .assert_error(400, "authorization_pending");
    s.advance(1);
    s.poll(Enc::Form, &dc).await.assert_error(400, "slow_down");
    s.advance(5);
    s.poll(Enc::Form, &dc).await.assert_error(400, "slow_down");
    s.advance(15);
    s.poll(Enc::Form, &dc)
        .await
        .assert_error(400, "authorization_pending");
    let audit = s.get("/_test/audit").await;
    assert_eq!(audit.body["clients"]["noorle-cli"]["polls"], json!(4));
    assert_eq!(audit.body["clients"]["noorle-cli"]["early_polls"], json!(2));
}

#[tokio::test]
async fn denied_expired_unknown_and_other_client() {
    let s = server().await;
    let d = s.device_start(Enc::Json, "api").await;
    s.test_json(
        "/_test/device/deny",
        json!({"user_code": d.str("user_code")}),
    )
    .await;
    s.poll(Enc::Json, &d.str("device_code"))
        .await
        .assert_error(400, "access_denied"); // DEV-18

    let d = s.device_start(Enc::Json, "api").await;
    s.advance(1801);
    s.poll(Enc::Json, &d.str("device_code"))
        .await
        .assert_error(400, "expired_token"); // DEV-19
    let late = s.approve(&d.str("user_code")).await;
    assert_eq!(
        (late.status, late.error()),
        (400, "expired_token"),
        "DEV-20"
    );
    s.poll(Enc::Json, &d.str("device_code"))
        .await
        .assert_error(400, "expired_token");
    let audit = s.get("/_test/audit").await;
    assert_eq!(
        audit.body["clients"]["noorle-cli"]["polls_after_terminal"],
        json!(1),
        "CLIENT-4 audit"
    );

    // DEV-22, DEV-13.
    s.poll(Enc::Form, "ABCD1234EFGH5678")
        .await
        .assert_error(400, "invalid_grant");
    s.post_form(
        "/oauth/token",
        &[("grant_type", DEVICE_GRANT), ("client_id", "noorle-cli")],
    )
    .await
    .assert_error(400, "invalid_request");

    // DEV-23: another client cannot redeem it; the owner still can.
    let d = s.device_start(Enc::Form, "api").await;
    s.approve(&d.str("user_code")).await;
    let other = s
        .post(
            "/oauth/token",
            Enc::Form,
            &[
                ("grant_type", DEVICE_GRANT),
                ("device_code", &d.str("device_code")),
            ],
            Some(("tv", "tv-secret")),
        )
        .await;
    other.assert_error(400, "invalid_grant");
    s.advance(5);
    assert_eq!(s.poll(Enc::Form, &d.str("device_code")).await.status, 200);
}

#[tokio::test]
async fn expiry_is_exact_on_the_clock() {
    let s = server().await;
    let d = s.device_start(Enc::Form, "api").await;
    s.advance(1799);
    s.poll(Enc::Form, &d.str("device_code"))
        .await
        .assert_error(400, "authorization_pending");
    s.advance(1);
    s.poll(Enc::Form, &d.str("device_code"))
        .await
        .assert_error(400, "expired_token");
}

#[tokio::test]
async fn offline_access_gives_a_refresh_token() {
    let s = server().await;
    let t = s.device_token("api offline_access").await;
    assert!(t.body["refresh_token"].is_string(), "NOORLE-18");
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_and_resets_with_the_window() {
    let s = server().await;
    for _ in 0..60 {
        s.device_start(Enc::Form, "api").await;
    }
    let r = s
        .post_form("/oauth/device/authorize", &[("client_id", "noorle-cli")])
        .await;
    assert_eq!(r.status, 429, "NOORLE-16");
    let retry: u64 = r.header("retry-after").parse().expect("delta-seconds");
    assert!((1..=60).contains(&retry));
    s.advance(60);
    assert_eq!(
        s.post_form("/oauth/device/authorize", &[("client_id", "noorle-cli")])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn verification_page_approves_and_locks_out_guessing() {
    let s = server().await;
    let d = s.device_start(Enc::Form, "api").await;
    let page = s.get("/oauth/device/verify").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("name=\"user_code\""), "DEV-25");
    assert_eq!(page.header("x-frame-options"), "DENY", "BCP-12");
    let (cookie, csrf) = page.form_session();
    let submit = |code: String| {
        let (s, cookie, csrf) = (&s, cookie.clone(), csrf.clone());
        async move {
            let r = s
                .http
                .post(s.url("/oauth/device/verify"))
                .header("cookie", cookie)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("user_code", code.as_str()),
                    ("username", "alice"),
                    ("password", "alice-password"),
                    ("action", "approve"),
                ])
                .send()
                .await
                .expect("post");
            read(r).await
        }
    };
    // Lower case and without the dash is accepted (RFC 8628 §6.1).
    let typed = d.str("user_code").replace('-', "").to_lowercase();
    assert_eq!(submit(typed).await.status, 200);
    s.advance(5);
    assert_eq!(s.poll(Enc::Form, &d.str("device_code")).await.status, 200);
    // DEV-24: ten wrong codes, then a lockout.
    for _ in 0..10 {
        assert_eq!(submit("BBBB-BBBB".into()).await.status, 400);
    }
    let d2 = s.device_start(Enc::Form, "api").await;
    assert_eq!(submit(d2.str("user_code")).await.status, 429);
    s.advance(301);
    assert_eq!(submit(d2.str("user_code")).await.status, 200);
}
