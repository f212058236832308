//! Every fault switch changes what it says, and nothing passes by accident: for each
//! switch a probe that holds on the clean server and fails with that one switch on.
//! The `match` has no wildcard arm, so a new switch does not compile without its probe.

use crate::common::*;
use oauth_harness::contract::Contract;
use oauth_harness::jose;
use oauth_harness::keys::fixture_key;
use oauth_harness::runner::jwks_host::JwksHost;
use oauth_harness::scenario::model::KeyName;
use oauth_harness::server::faults::Fault;
use serde_json::{json, Map, Value};

/// A good pushed request of the `web` client (RFC 9126 §2.1).
const PUSH: &[(&str, &str)] = &[
    ("response_type", "code"),
    ("client_id", "web"),
    ("redirect_uri", R),
    ("scope", "api"),
];

/// A client assertion of `client` signed with the fixture key `key` (or HS256 with
/// `hmac`, or unsigned), with the matrix's default claims edited by `edit`.
fn assertion(
    s: &Srv,
    client: &str,
    signer: Sig,
    edit: impl FnOnce(&mut Map<String, Value>),
) -> String {
    let now = s.handle.clock().unix_now();
    let mut claims: Map<String, Value> = json!({
        "iss": client, "sub": client, "aud": s.base, "exp": now + 60, "iat": now,
        "jti": oauth_harness::oauth::random_token(),
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    edit(&mut claims);
    let k = fixture_key(KeyName::K).expect("K");
    let k2 = fixture_key(KeyName::K2).expect("K2");
    let jwk = jose::canonical_json(&Value::Object(k.public_jwk().clone()));
    let signer = match signer {
        Sig::K => jose::Signer::Key(&k),
        Sig::K2 => jose::Signer::Key(&k2),
        Sig::Hmac(secret) => jose::Signer::Hmac(secret.as_bytes()),
        Sig::HmacJwk => jose::Signer::Hmac(jwk.as_bytes()),
        Sig::None => jose::Signer::Unsigned,
    };
    jose::compact(&Map::new(), &claims, signer).expect("signed")
}

#[derive(Clone, Copy)]
enum Sig {
    K,
    K2,
    Hmac(&'static str),
    HmacJwk,
    None,
}

const BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `client_credentials` for `pkj` with `assertion`, plus `extra` parameters.
async fn cc_jwt(
    s: &Srv,
    assertion: &str,
    extra: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Resp {
    let mut pairs = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", BEARER),
        ("client_assertion", assertion),
    ];
    pairs.extend_from_slice(extra);
    s.post("/oauth/token", Enc::Form, &pairs, basic).await
}

/// `pairs` posted to the token endpoint by 8 at once (optionally with Basic
/// credentials): how many got a 200.
async fn race_wins(s: &Srv, pairs: &[(&str, &str)], basic: Option<(&str, &str)>) -> usize {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let basic = basic.map(|(a, b)| (a.to_string(), b.to_string()));
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let racers = (0..8).map(|_| {
        let (pairs, basic, barrier) = (pairs.clone(), basic.clone(), barrier.clone());
        async move {
            let p: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            barrier.wait().await;
            s.post(
                "/oauth/token",
                Enc::Form,
                &p,
                basic.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
            )
            .await
            .status
        }
    });
    futures_util::future::join_all(racers)
        .await
        .into_iter()
        .filter(|st| *st == 200)
        .count()
}

fn urlencoding(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

async fn q(s: &Srv, pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    s.consent(pairs).await.location_query()
}

/// A DPoP proof's header and claims by `key` for `htm` at `path` on `s` (matrix §17a's
/// `P(J; m; u)`), `ath` of `token` when given; the probe edits and signs them.
fn proof_parts(
    s: &Srv,
    key: KeyName,
    htm: &str,
    path: &str,
    token: Option<&str>,
) -> (Map<String, Value>, Map<String, Value>) {
    let k = fixture_key(key).expect("key");
    let url = s.url(path);
    let claims = oauth_harness::dpop::Claims {
        htm,
        htu: &url,
        iat: i64::try_from(s.handle.clock().unix_now()).unwrap_or(0),
        nonce: None,
        access_token: token,
    }
    .to_map();
    (oauth_harness::dpop::header(&k), claims)
}

/// A DPoP proof by `key`, edited by `edit` (header, claims), signed by `key`.
fn proof(
    s: &Srv,
    key: KeyName,
    htm: &str,
    path: &str,
    token: Option<&str>,
    edit: impl FnOnce(&mut Map<String, Value>, &mut Map<String, Value>),
) -> String {
    let (mut h, mut c) = proof_parts(s, key, htm, path, token);
    edit(&mut h, &mut c);
    let k = fixture_key(key).expect("key");
    jose::compact(&h, &c, jose::Signer::Key(&k)).expect("signed")
}

/// A client_credentials request of `m2m` with these `DPoP` headers.
async fn cc_dpop(s: &Srv, proofs: &[String]) -> Resp {
    let mut req = s
        .http
        .post(s.url("/oauth/token"))
        .basic_auth("m2m", Some("m2m-secret"))
        .form(&[("grant_type", "client_credentials"), ("scope", "api")]);
    for p in proofs {
        req = req.header("DPoP", p);
    }
    read(req.send().await.expect("request")).await
}

/// `pairs` posted to `path` (form, optional Basic) with these `DPoP` headers.
async fn post_dpop(
    s: &Srv,
    path: &str,
    pairs: &[(&str, &str)],
    basic: Option<(&str, &str)>,
    proofs: &[String],
) -> Resp {
    let mut req = s.http.post(s.url(path)).form(pairs);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    for p in proofs {
        req = req.header("DPoP", p);
    }
    read(req.send().await.expect("request")).await
}

/// `GET /api/me` with `authorization` and these `DPoP` headers.
async fn api_dpop(s: &Srv, authorization: &str, proofs: &[String]) -> Resp {
    let mut req = s
        .http
        .get(s.url("/api/me"))
        .header("authorization", authorization);
    for p in proofs {
        req = req.header("DPoP", p);
    }
    read(req.send().await.expect("request")).await
}

/// A client_credentials token bound to J.
async fn bound_token(s: &Srv) -> String {
    let p = proof(s, KeyName::J, "POST", "/oauth/token", None, |_, _| {});
    let t = cc_dpop(s, &[p]).await;
    assert_eq!(t.status, 200, "{}", t.text);
    t.str("access_token")
}

/// A code of `client` (public, PKCE) with these extra authorization parameters, and its
/// verifier.
async fn public_code(
    s: &Srv,
    client: &str,
    redirect: &str,
    extra: &[(&str, &str)],
) -> (String, String) {
    let v = verifier();
    let ch = oauth_harness::oauth::s256(&v);
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", redirect),
        ("scope", "api offline_access"),
        ("state", "s1"),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    let code = q(s, &pairs).await.get("code").cloned().unwrap_or_default();
    (code, v)
}

/// A public client's code exchanged with these `DPoP` headers.
async fn exchange_dpop(
    s: &Srv,
    client: &str,
    redirect: &str,
    code: &str,
    v: &str,
    proofs: &[String],
) -> Resp {
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("client_id", client),
        ("code_verifier", v),
    ];
    post_dpop(s, "/oauth/token", &pairs, None, proofs).await
}

/// Whether the rule that `fault` breaks holds on `s`.
async fn probe(fault: Fault, s: &Srv) -> bool {
    use Fault::*;
    let web = Some(("web", "web-secret"));
    let m2m = Some(("m2m", "m2m-secret"));
    match fault {
        AcceptUnknownClient => s.post_form("/oauth/device/authorize", &[("client_id", "invalid-id")]).await.error() == "invalid_client",
        AcceptWrongSecret => s.post("/oauth/token", Enc::Form, &[("grant_type", "client_credentials")], Some(("m2m", "wrong"))).await.status == 401,
        NoWwwAuthenticate => !s.post("/oauth/token", Enc::Form, &[("grant_type", "client_credentials")], Some(("m2m", "wrong"))).await.header("www-authenticate").is_empty(),
        InvalidClient401 => s.post("/oauth/device/authorize", Enc::Json, &[("client_id", "invalid-id")], None).await.status == 400,
        GenericErrorDescriptions => s.post("/oauth/device/authorize", Enc::Json, &[("client_id", "invalid-id")], None).await.str("error_description") == "Unknown client: invalid-id",
        IgnoreScope => s.post_form("/oauth/device/authorize", &[("client_id", "noorle-cli"), ("scope", "unknown")]).await.error() == "invalid_scope",
        RefreshWidensScope => {
            let t = s.exchange_web(&s.web_code("api offline_access").await).await;
            s.post("/oauth/token", Enc::Form, &[("grant_type", "refresh_token"), ("refresh_token", &t.str("refresh_token")), ("scope", "api admin")], web).await.error() == "invalid_scope"
        }
        NeverSlowDown | SlowDownNoIncrease => {
            let dc = s.device_start(Enc::Form, "api").await.str("device_code");
            s.poll(Enc::Form, &dc).await;
            s.advance(1);
            let first = s.poll(Enc::Form, &dc).await.error() == "slow_down";
            s.advance(6);
            first && s.poll(Enc::Form, &dc).await.error() == "slow_down"
        }
        ReuseCode => {
            let c = s.web_code("api").await;
            s.exchange_web(&c).await;
            s.exchange_web(&c).await.status == 400
        }
        NoRevokeOnCodeReuse => {
            let c = s.web_code("api").await;
            let t = s.exchange_web(&c).await;
            s.exchange_web(&c).await;
            s.api("/api/me", &t.str("access_token")).await.status == 401
        }
        NeverExpireCodes => {
            let c = s.web_code("api").await;
            s.advance(601);
            s.exchange_web(&c).await.status == 400
        }
        EarlyExpireCodes => {
            let c = s.web_code("api").await;
            s.advance(599);
            s.exchange_web(&c).await.status == 200
        }
        NeverExpireDeviceCodes => {
            let dc = s.device_start(Enc::Form, "api").await.str("device_code");
            s.advance(1801);
            s.poll(Enc::Form, &dc).await.error() == "expired_token"
        }
        ReuseDeviceCode => {
            let d = s.device_start(Enc::Form, "api").await;
            s.approve(&d.str("user_code")).await;
            s.poll(Enc::Form, &d.str("device_code")).await;
            s.advance(5);
            s.poll(Enc::Form, &d.str("device_code")).await.status == 400
        }
        IgnoreDeviceDenial => {
            let d = s.device_start(Enc::Form, "api").await;
            s.test_json("/_test/device/deny", json!({"user_code": d.str("user_code")})).await;
            s.poll(Enc::Form, &d.str("device_code")).await.error() == "access_denied"
        }
        DeviceCodeAnyClient => {
            let d = s.device_start(Enc::Form, "api").await;
            s.approve(&d.str("user_code")).await;
            s.post("/oauth/token", Enc::Form, &[("grant_type", DEVICE_GRANT), ("device_code", &d.str("device_code"))], Some(("tv", "tv-secret"))).await.status == 400
        }
        RefreshAnyClient => {
            let t = s.exchange_web(&s.web_code("api offline_access").await).await;
            s.post("/oauth/token", Enc::Form, &[("grant_type", "refresh_token"), ("refresh_token", &t.str("refresh_token"))], Some(("web2", "web2-secret"))).await.status == 400
        }
        CodeAnyClient => {
            let c = s.web_code("api").await;
            s.post("/oauth/token", Enc::Form, &[("grant_type", "authorization_code"), ("code", &c), ("redirect_uri", R)], Some(("web2", "web2-secret"))).await.status == 400
        }
        DropState | AlterState => {
            let st = "a b+c/d=e&f?g#h%i~' and a long tail of state";
            q(s, &[("response_type", "code"), ("client_id", "web"), ("redirect_uri", R), ("state", st)]).await.get("state").map(String::as_str) == Some(st)
        }
        SkipPkce => {
            let c = s.spa_code(&verifier(), "api").await;
            s.exchange_spa(&c, &verifier()).await.status == 400
        }
        PkceNotRequired => q(s, &[("response_type", "code"), ("client_id", "spa"), ("redirect_uri", RS)]).await.contains_key("error"),
        PkceDowngrade => {
            let c = s.web_code("api").await;
            s.post("/oauth/token", Enc::Form, &[("grant_type", "authorization_code"), ("code", &c), ("redirect_uri", R), ("code_verifier", &verifier())], web).await.status == 400
        }
        PkceDefaultS256 => {
            let v = verifier();
            let c = q(s, &[("response_type", "code"), ("client_id", "spa"), ("redirect_uri", RS), ("code_challenge", &v)]).await;
            s.exchange_spa(c.get("code").map(String::as_str).unwrap_or(""), &v).await.status == 200
        }
        LooseRedirectUri => s.consent(&[("response_type", "code"), ("client_id", "web"), ("redirect_uri", "https://web.example/callback/extra")]).await.status == 400,
        IgnoreRedirectUriAtToken => {
            let c = s.web_code("api").await;
            s.post("/oauth/token", Enc::Form, &[("grant_type", "authorization_code"), ("code", &c), ("redirect_uri", "https://web.example/other")], web).await.status == 400
        }
        RedirectOnBadRequest => s.consent(&[("response_type", "code"), ("client_id", "web"), ("redirect_uri", "https://evil.example/cb")]).await.header("location").is_empty(),
        RevokeNoop => {
            let t = s.cc_token("api").await.str("access_token");
            s.post("/oauth/revoke", Enc::Form, &[("token", &t)], m2m).await;
            s.api("/api/me", &t).await.status == 401
        }
        RevokeUnknown400 => s.post("/oauth/revoke", Enc::Form, &[("token", "nope")], m2m).await.status == 200,
        ConnectedAppRevokeNoop => {
            let t = s.exchange_web(&s.web_code("api").await).await;
            s.test_json("/_test/apps/revoke", json!({"client_id": "web"})).await;
            s.api("/api/me", &t.str("access_token")).await.status == 401
        }
        ApiNoScopeCheck | Api401ForInsufficientScope => s.api("/api/me", &s.cc_token("read").await.str("access_token")).await.status == 403,
        TokensNeverExpire => {
            let t = s.cc_token("api").await.str("access_token");
            s.advance(3601);
            s.api("/api/me", &t).await.status == 401
        }
        NoRefreshRotation | NoRefreshReuseDetection => {
            let v = verifier();
            let t = s.exchange_spa(&s.spa_code(&v, "api offline_access").await, &v).await;
            let rt = t.str("refresh_token");
            let r2 = s.post_form("/oauth/token", &[("grant_type", "refresh_token"), ("refresh_token", &rt), ("client_id", "spa")]).await;
            let again = s.post_form("/oauth/token", &[("grant_type", "refresh_token"), ("refresh_token", &rt), ("client_id", "spa")]).await;
            r2.str("refresh_token") != rt && again.status == 400
        }
        NoRefreshToken => s.device_token("api offline_access").await.body["refresh_token"].is_string(),
        AlwaysRefreshToken => s.cc_token("api").await.body.get("refresh_token").is_none(),
        NoCacheHeaders => s.cc_token("api").await.header("cache-control").contains("no-store"),
        AcceptDuplicateParams => s.post_form("/oauth/device/authorize", &[("client_id", "noorle-cli"), ("scope", "api"), ("scope", "read")]).await.status == 400,
        RegistrationAcceptsBadRedirect => s.test_json("/oauth/register", json!({"redirect_uris": ["http://client.example/cb"]})).await.status == 400,
        OmitInterval => s.device_start(Enc::Form, "api").await.body["interval"] == json!(5),
        Device429 => s.post_form("/oauth/device/authorize", &[("client_id", "noorle-cli")]).await.status == 200,
        Revoke503 => s.post("/oauth/revoke", Enc::Form, &[("token", "x")], m2m).await.status == 200,
        Authorize500 => q(s, &[("response_type", "code"), ("client_id", "web"), ("redirect_uri", R)]).await.contains_key("code"),
        ExtraMembers => s.cc_token("api").await.body.get("x_extra").is_none(),
        WrongIssuer => s.get("/.well-known/oauth-authorization-server").await.str("issuer") == s.base,
        RejectForm => s.post_form("/oauth/token", &[("grant_type", "client_credentials"), ("client_id", "m2m"), ("client_secret", "m2m-secret")]).await.status == 200,
        RejectJson => s.post("/oauth/token", Enc::Json, &[("grant_type", "client_credentials"), ("client_id", "m2m"), ("client_secret", "m2m-secret")], None).await.status == 200,
        AllowPasswordGrant => s.post("/oauth/token", Enc::Form, &[("grant_type", "password"), ("username", "alice"), ("password", "alice-password")], web).await.status == 400,
        AllowImplicit => q(s, &[("response_type", "token"), ("client_id", "web"), ("redirect_uri", R)]).await.get("error").map(String::as_str) == Some("unsupported_response_type"),
        VerifyNoRateLimit | ConsentNoCsrf => {
            // Wrong codes lock the page out; a forged CSRF value is refused.
            let page = s.get("/oauth/device/verify").await;
            let (cookie, csrf) = page.form_session();
            let post = |csrf: String, code: &'static str| {
                let cookie = cookie.clone();
                async move {
                    s.http.post(s.url("/oauth/device/verify")).header("cookie", cookie).form(&[("csrf", csrf.as_str()), ("user_code", code), ("username", "alice"), ("password", "alice-password")]).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
                }
            };
            let forged_refused = post("forged".into(), "BBBB-BBBB").await == 403;
            for _ in 0..10 {
                post(csrf.clone(), "BBBB-BBBB").await;
            }
            forged_refused && post(csrf, "BBBB-BBBB").await == 429
        }
        RedirectBeforeLogin => s.get("/oauth/authorize?response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcallback&scope=unknown").await.status == 200,
        NoFrameProtection => s.get("/oauth/device/verify").await.header("x-frame-options") == "DENY",
        CorsAuthorize => s.get("/oauth/authorize?client_id=web").await.header("access-control-allow-origin").is_empty(),
        IntrospectNoAuth => s.post_form("/oauth/introspect", &[("token", "x")]).await.status == 401,
        ApproveAfterExpiry => {
            let d = s.device_start(Enc::Form, "api").await;
            s.advance(1801);
            s.approve(&d.str("user_code")).await.status == 400
        }
        CredentialsInQuery => s.post_form("/oauth/token?client_id=m2m&client_secret=m2m-secret", &[("grant_type", "client_credentials")]).await.status == 400,
        TokenAcceptsGet => s.get("/oauth/token?grant_type=client_credentials&client_id=m2m&client_secret=m2m-secret").await.status == 405,
        DeviceGrantAnyClient => s.post("/oauth/device/authorize", Enc::Form, &[], web).await.error() == "unauthorized_client",
        RegistrationAcceptsBadMetadata => s.test_json("/oauth/register", json!({"redirect_uris": ["https://x.example/cb"], "token_endpoint_auth_method": "bogus"})).await.status == 400,
        NoDeviceRateLimit => {
            for _ in 0..60 {
                s.post_form("/oauth/device/authorize", &[("client_id", "noorle-cli")]).await;
            }
            s.post_form("/oauth/device/authorize", &[("client_id", "noorle-cli")]).await.status == 429
        }
        RevokeAnyClient => {
            let t = s.cc_token("api").await.str("access_token");
            s.post("/oauth/revoke", Enc::Form, &[("token", &t)], web).await;
            s.api("/api/me", &t).await.status == 200
        }
        NoMetadata => s.get("/.well-known/oauth-authorization-server").await.status == 200,
        NoDeviceMetadata => s.get("/.well-known/oauth-authorization-server").await.body["device_authorization_endpoint"].is_string(),
        NoPkceMetadata => s.get("/.well-known/oauth-authorization-server").await.body["code_challenge_methods_supported"].is_array(),
        IssMissing | IssWrongValue | IssForeign => {
            let good = q(s, &[("response_type", "code"), ("client_id", "web"), ("redirect_uri", R)]).await;
            good.contains_key("code") && good.get("iss") == Some(&s.base)
        }
        IssMissingOnError | IssForeignError => q(s, &[("client_id", "web"), ("redirect_uri", R)]).await.get("iss") == Some(&s.base),
        IssFlagAbsent => s.get("/.well-known/oauth-authorization-server").await.body["authorization_response_iss_parameter_supported"] == json!(true),
        ParNoClientAuth => s.post("/oauth/par", Enc::Form, PUSH, Some(("web", "wrong"))).await.status == 401,
        ParStatus200 => s.post("/oauth/par", Enc::Form, PUSH, web).await.status == 201,
        ParNoExpiresIn => s.post("/oauth/par", Enc::Form, PUSH, web).await.body["expires_in"].is_u64(),
        ParAcceptRequestUri => s.post("/oauth/par", Enc::Form, &[PUSH, &[("request_uri", "urn:x")]].concat(), web).await.status == 400,
        ParSkipValidation => s.post("/oauth/par", Enc::Form, &[("response_type", "code"), ("client_id", "web"), ("redirect_uri", "https://evil.example/cb")], web).await.status == 400,
        ParErrorRedirect => s.post("/oauth/par", Enc::Form, &[PUSH, &[("request_uri", "urn:x")]].concat(), web).await.header("location").is_empty(),
        ParAllowGet => s.get("/oauth/par?response_type=code&client_id=spa").await.status == 405,
        ParNoMetadata => s.get("/.well-known/oauth-authorization-server").await.body["pushed_authorization_request_endpoint"].is_string(),
        ParRequiredIgnored => q(s, &[("response_type", "code"), ("client_id", "parc"), ("redirect_uri", "https://parc.example/callback")]).await.get("error").map(String::as_str) == Some("invalid_request"),
        ParIgnoreRequestUri | ParUnboundRequestUri | ParNeverExpire | ParReusableRequestUri => {
            let uri = s.post("/oauth/par", Enc::Form, PUSH, web).await.str("request_uri");
            let by = |client: &'static str| [("client_id", client), ("request_uri", uri.as_str())];
            match fault {
                ParIgnoreRequestUri => q(s, &by("web")).await.contains_key("code"),
                ParUnboundRequestUri => !q(s, &by("web2")).await.contains_key("code"),
                ParNeverExpire => {
                    s.advance(61);
                    !q(s, &by("web")).await.contains_key("code")
                }
                _ => q(s, &by("web")).await.contains_key("code") && !q(s, &by("web")).await.contains_key("code"),
            }
        }
        Login307 => s.post_form("/oauth/login", &[("username", "alice"), ("password", "alice-password"), ("return_to", "/account/apps")]).await.status == 303,
        BareBearerChallenge => s.get("/api/me").await.header("www-authenticate").starts_with("Bearer realm="),
        JwtAnyAssertionType => {
            let a = assertion(s, "pkj", Sig::K, |_| {});
            s.post("/oauth/token", Enc::Form, &[("grant_type", "client_credentials"), ("client_assertion_type", "urn:example:other"), ("client_assertion", &a)], None).await.error() == "invalid_client"
        }
        JwtIgnoreIss => cc_jwt(s, &assertion(s, "pkj", Sig::K, |c| { c.insert("iss".into(), json!("web")); }), &[], None).await.status == 400,
        JwtIgnoreSub => cc_jwt(s, &assertion(s, "pkj", Sig::K, |c| { c.remove("sub"); }), &[], None).await.status == 400,
        JwtIgnoreAud => cc_jwt(s, &assertion(s, "pkj", Sig::K, |c| { c.insert("aud".into(), json!("https://evil.example")); }), &[], None).await.status == 400,
        JwtAudIssuerOnly => {
            let token_url = format!("{}/oauth/token", s.base);
            cc_jwt(s, &assertion(s, "pkj", Sig::K, |c| { c.insert("aud".into(), json!(token_url)); }), &[], None).await.status == 200
        }
        JwtAudLegacy => {
            let token_url = format!("{}/oauth/token", s.base);
            cc_jwt(s, &assertion(s, "pkj", Sig::K, |c| { c.insert("aud".into(), json!(token_url)); }), &[], None).await.status == 400
        }
        JwtRequireTyp => cc_jwt(s, &assertion(s, "pkj", Sig::K, |_| {}), &[], None).await.status == 200,
        JwtIgnoreExp => cc_jwt(s, &assertion(s, "pkj", Sig::K, |c| { c.remove("exp"); }), &[], None).await.status == 400,
        JwtIgnoreNbf => {
            let nbf = assertion(s, "pkj", Sig::K, |c| { let n = c["iat"].as_u64().unwrap_or(0) + 300; c.insert("nbf".into(), json!(n)); });
            cc_jwt(s, &nbf, &[], None).await.status == 400
        }
        JwtSkipSignature | JwtAnyRegisteredClientKey => {
            // K2 registered by another client first: its key still does not speak for pkj.
            let k2 = fixture_key(KeyName::K2).expect("K2").public_jwks();
            s.test_json("/oauth/register", json!({"grant_types": ["client_credentials"], "response_types": [], "token_endpoint_auth_method": "private_key_jwt", "jwks": k2})).await;
            cc_jwt(s, &assertion(s, "pkj", Sig::K2, |_| {}), &[], None).await.status == 400
                && cc_jwt(s, &assertion(s, "csj", Sig::Hmac("wrong"), |_| {}), &[], None).await.status == 400
                && cc_jwt(s, &assertion(s, "pkj", Sig::K, |_| {}), &[], None).await.status == 200
        }
        JwtAcceptAlgNone => cc_jwt(s, &assertion(s, "pkj", Sig::None, |_| {}), &[], None).await.status == 400,
        JwtHmacWithPublicKey => cc_jwt(s, &assertion(s, "pkj", Sig::HmacJwk, |_| {}), &[], None).await.status == 400,
        JwtNoJtiCheck => {
            let a = assertion(s, "pkj", Sig::K, |_| {});
            cc_jwt(s, &a, &[], None).await.status == 200 && cc_jwt(s, &a, &[], None).await.error() == "invalid_client"
        }
        JwtIgnoreClientId => cc_jwt(s, &assertion(s, "pkj", Sig::K, |_| {}), &[("client_id", "web")], None).await.status == 400,
        JwtMultiAuthOk => cc_jwt(s, &assertion(s, "pkj", Sig::K, |_| {}), &[], web).await.status == 401,
        MetaNoJwtMethods => s.get("/.well-known/oauth-authorization-server").await.body["token_endpoint_auth_methods_supported"].as_array().is_some_and(|m| m.contains(&json!("private_key_jwt"))),
        MetaNoAuthSigningAlgs | MetaAuthAlgNone => s.get("/.well-known/oauth-authorization-server").await.body["token_endpoint_auth_signing_alg_values_supported"].as_array().is_some_and(|a| !a.is_empty() && !a.contains(&json!("none"))),
        // The pkj-uri client's keys, at the jwks_uri the test publishes (below).
        JwksUriIgnored => cc_jwt(s, &assertion(s, "pkj-uri", Sig::K, |_| {}), &[], None).await.status == 200,
        RaceCodeDoubleSpend | RaceCodeNoRevoke => {
            let c = s.web_code("api").await;
            let pairs = [("grant_type", "authorization_code"), ("code", c.as_str()), ("redirect_uri", R)];
            let wins = race_wins(s, &pairs, web).await;
            match fault {
                RaceCodeDoubleSpend => wins == 1,
                // Replayed right away, as a race's loser is: what the code issued dies.
                _ => {
                    let c = s.web_code("api").await;
                    let t = s.exchange_web(&c).await;
                    s.exchange_web(&c).await;
                    s.api("/api/me", &t.str("access_token")).await.status == 401
                }
            }
        }
        RaceDeviceDoubleSpend => {
            let d = s.device_start(Enc::Form, "api").await;
            s.approve(&d.str("user_code")).await;
            let dc = d.str("device_code");
            race_wins(s, &[("grant_type", DEVICE_GRANT), ("device_code", &dc), ("client_id", "noorle-cli")], None).await == 1
        }
        RaceRtFork => {
            let v = verifier();
            let code = s.spa_code(&v, "api offline_access").await;
            let rt = s.exchange_spa(&code, &v).await.str("refresh_token");
            race_wins(s, &[("grant_type", "refresh_token"), ("refresh_token", &rt), ("client_id", "spa")], None).await == 1
        }
        // Under the builtin's 60 s reuse window (below): rt1 → rt2, then rt1 again.
        RaceRtGraceFork | RaceRtGraceKillsFamily | RaceRtGraceForever => {
            let v = verifier();
            let code = s.spa_code(&v, "api offline_access").await;
            let rt1 = s.exchange_spa(&code, &v).await.str("refresh_token");
            let refresh = |rt: String| async move {
                s.post_form("/oauth/token", &[("grant_type", "refresh_token"), ("refresh_token", &rt), ("client_id", "spa")]).await
            };
            let first = refresh(rt1.clone()).await;
            if fault == RaceRtGraceForever {
                s.advance(61);
            }
            let again = refresh(rt1).await;
            match fault {
                // The same successor, not a second branch.
                RaceRtGraceFork => again.status == 200 && again.str("refresh_token") == first.str("refresh_token"),
                RaceRtGraceKillsFamily => again.status == 200,
                _ => again.status == 400,
            }
        }
        RaceJtiDoubleSpend => {
            let a = assertion(s, "pkj", Sig::K, |_| {});
            race_wins(s, &[("grant_type", "client_credentials"), ("client_assertion_type", BEARER), ("client_assertion", &a)], None).await == 1
        }
        RaceParDoubleUse => {
            let uri = s.post("/oauth/par", Enc::Form, PUSH, web).await.str("request_uri");
            let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
            let path = format!("/_test/authorize?client_id=web&request_uri={}", urlencoding(&uri));
            let approvals = (0..8).map(|_| {
                let (barrier, path) = (barrier.clone(), path.clone());
                async move {
                    barrier.wait().await;
                    s.get(&path).await.location_query().contains_key("code")
                }
            });
            futures_util::future::join_all(approvals).await.into_iter().filter(|c| *c).count() == 1
        }
        // OAuth 2.1 (the server runs its oauth21 policy for these, below).
        PkceOptionalConfidential => q(s, &[("response_type", "code"), ("client_id", "web"), ("redirect_uri", R), ("scope", "api")]).await.get("error").map(String::as_str) == Some("invalid_request"),
        CodeWithoutChallengeRedeemable => {
            let c = q(s, &[("response_type", "code"), ("client_id", "web"), ("redirect_uri", R), ("scope", "openid api"), ("nonce", "n-1")]).await.get("code").cloned().unwrap_or_default();
            !c.is_empty() && s.post("/oauth/token", Enc::Form, &[("grant_type", "authorization_code"), ("code", &c), ("redirect_uri", R)], web).await.error() == "invalid_grant"
        }
        RequireRedirectUriAtToken => {
            let v = verifier();
            let c = s.spa_code(&v, "api").await;
            s.post_form("/oauth/token", &[("grant_type", "authorization_code"), ("code", &c), ("code_verifier", &v), ("client_id", "spa")]).await.status == 200
        }
        RevokeOnInvalidReplay => {
            let v = verifier();
            let c = s.spa_code(&v, "api").await;
            let t = s.exchange_spa(&c, &v).await;
            let replay = s.exchange_spa(&c, &verifier()).await.status == 400;
            replay && s.api("/api/me", &t.str("access_token")).await.status == 200
        }
        NoClientSecretPost => s.post_form("/oauth/token", &[("grant_type", "client_credentials"), ("scope", "api"), ("client_id", "m2m"), ("client_secret", "m2m-secret")]).await.status == 200,
        AuthorizeError200 => s.consent(&[("response_type", "code"), ("client_id", "invalid-id"), ("redirect_uri", R)]).await.status == 400,
        AllowSchemeWithoutDot => s.post_raw("/oauth/register", "application/json", r#"{"redirect_uris":["myapp:/cb"],"token_endpoint_auth_method":"none"}"#).await.error() == "invalid_redirect_uri",
        PkceAllowPlain => {
            let v = verifier();
            let refused = q(s, &[("response_type", "code"), ("client_id", "spa"), ("redirect_uri", RS), ("code_challenge", &v), ("code_challenge_method", "plain")]).await.contains_key("error");
            let methods = s.get("/.well-known/oauth-authorization-server").await.body["code_challenge_methods_supported"].clone();
            refused && methods == json!(["S256"])
        }
        PkceMissingMethodPlain => q(s, &[("response_type", "code"), ("client_id", "spa"), ("redirect_uri", RS), ("code_challenge", &verifier())]).await.get("error").map(String::as_str) == Some("invalid_request"),
        LoopbackPortExact => {
            let ch = oauth_harness::oauth::s256(&verifier());
            q(s, &[("response_type", "code"), ("client_id", "native"), ("redirect_uri", "http://127.0.0.1:53123/cb"), ("code_challenge", &ch), ("code_challenge_method", "S256")]).await.contains_key("code")
        }
        // A query token beside the header (the server's RFC policy, below).
        TwoMethodsAccepted => {
            let t = s.cc_token("api").await.str("access_token");
            s.api(&format!("/api/me?access_token={t}"), &t).await.status == 400
        }
        QueryTokenAccepted => {
            let t = s.cc_token("api").await.str("access_token");
            s.get(&format!("/api/me?access_token={t}")).await.status == 401
        }
        DpopBearerTokenType => {
            let p = proof(s, KeyName::J, "POST", "/oauth/token", None, |_, _| {});
            cc_dpop(s, &[p]).await.str("token_type") == "DPoP"
        }
        DpopAcceptTwoHeaders => {
            let p = |_: ()| proof(s, KeyName::J, "POST", "/oauth/token", None, |_, _| {});
            cc_dpop(s, &[p(()), p(())]).await.status == 400
        }
        DpopSkipClaims => {
            let p = proof(s, KeyName::J, "POST", "/oauth/token", None, |_, c| {
                c.remove("jti");
            });
            cc_dpop(s, &[p]).await.status == 400
        }
        DpopAcceptWrongTyp => {
            let p = proof(s, KeyName::J, "POST", "/oauth/token", None, |h, _| {
                h.insert("typ".into(), json!("JWT"));
            });
            cc_dpop(s, &[p]).await.status == 400
        }
        DpopAcceptAlgNone | DpopAcceptHs256 => {
            let (mut h, c) = proof_parts(s, KeyName::J, "POST", "/oauth/token", None);
            let signer = if fault == DpopAcceptAlgNone {
                h.insert("alg".into(), json!("none"));
                jose::Signer::Unsigned
            } else {
                h.insert("alg".into(), json!("HS256"));
                jose::Signer::Hmac(b"a key anyone can write")
            };
            let p = jose::compact(&h, &c, signer).expect("signed");
            cc_dpop(s, &[p]).await.status == 400
        }
        DpopSkipSignature => {
            let (h, c) = proof_parts(s, KeyName::J, "POST", "/oauth/token", None);
            let j2 = fixture_key(KeyName::J2).expect("J2");
            let p = jose::compact(&h, &c, jose::Signer::Key(&j2)).expect("signed");
            cc_dpop(s, &[p]).await.status == 400
        }
        DpopAcceptPrivateJwk => {
            let p = proof(s, KeyName::J, "POST", "/oauth/token", None, |h, _| {
                let private: Value =
                    serde_json::from_str(oauth_harness::keys::FIXTURE_J).expect("J");
                h.insert("jwk".into(), private);
            });
            cc_dpop(s, &[p]).await.status == 400
        }
        DpopAcceptWrongHtm => {
            let p = proof(s, KeyName::J, "GET", "/oauth/token", None, |_, _| {});
            cc_dpop(s, &[p]).await.status == 400
        }
        DpopAcceptWrongHtu => {
            let p = proof(s, KeyName::J, "POST", "/oauth/token", None, |_, c| {
                c.insert("htu".into(), json!("https://evil.example/token"));
            });
            cc_dpop(s, &[p]).await.status == 400
        }
        DpopStrictHtu => {
            let upper = s.url("/oauth/token").replacen("http://", "HTTP://", 1);
            let p = proof(s, KeyName::J, "POST", "/oauth/token", None, |_, c| {
                c.insert("htu".into(), json!(upper));
            });
            cc_dpop(s, &[p]).await.status == 200
        }
        DpopNoIatWindow => {
            let p = proof(s, KeyName::J, "POST", "/oauth/token", None, |_, c| {
                let iat = c["iat"].as_i64().unwrap_or(0);
                c.insert("iat".into(), json!(iat - 86_400));
            });
            cc_dpop(s, &[p]).await.status == 400
        }
        DpopNoJtiCheck => {
            let p = proof(s, KeyName::J, "POST", "/oauth/token", None, |_, _| {});
            cc_dpop(s, std::slice::from_ref(&p)).await.status == 200
                && cc_dpop(s, &[p]).await.status == 400
        }
        DpopNonceNoHeader | DpopNonceIgnoreMismatch | DpopNonceDowngrade => {
            let bare = || proof(s, KeyName::J, "POST", "/oauth/token", None, |_, _| {});
            let first = cc_dpop(s, &[bare()]).await;
            let asked = first.status == 400 && first.error() == "use_dpop_nonce";
            match fault {
                DpopNonceNoHeader => asked && !first.header("dpop-nonce").is_empty(),
                DpopNonceIgnoreMismatch => {
                    let p = proof(s, KeyName::J, "POST", "/oauth/token", None, |_, c| {
                        c.insert("nonce".into(), json!("bogus"));
                    });
                    asked && cc_dpop(s, &[p]).await.status == 400
                }
                _ => asked && cc_dpop(s, &[bare()]).await.status == 400,
            }
        }
        DpopNoCnf => {
            let t = bound_token(s).await;
            let thumb = fixture_key(KeyName::J).expect("J").thumbprint().to_string();
            s.introspect(&t).await.body["cnf"]["jkt"] == json!(thumb)
        }
        DpopUnboundPublicRt => {
            let (code, v) = public_code(s, "spa", RS, &[]).await;
            let p = proof(s, KeyName::J, "POST", "/oauth/token", None, |_, _| {});
            let t = exchange_dpop(s, "spa", RS, &code, &v, &[p]).await;
            let rt = t.str("refresh_token");
            let p2 = proof(s, KeyName::J2, "POST", "/oauth/token", None, |_, _| {});
            let pairs = [("grant_type", "refresh_token"), ("refresh_token", rt.as_str()), ("client_id", "spa")];
            post_dpop(s, "/oauth/token", &pairs, None, &[p2]).await.status == 400
        }
        DpopIgnoreBoundFlag => {
            let rd = "https://dspa.example/callback";
            let (code, v) = public_code(s, "dspa", rd, &[]).await;
            exchange_dpop(s, "dspa", rd, &code, &v, &[]).await.status == 400
        }
        DpopIgnoreDpopJkt => {
            let thumb = fixture_key(KeyName::J).expect("J").thumbprint().to_string();
            let (code, v) = public_code(s, "spa", RS, &[("dpop_jkt", thumb.as_str())]).await;
            let p2 = proof(s, KeyName::J2, "POST", "/oauth/token", None, |_, _| {});
            exchange_dpop(s, "spa", RS, &code, &v, &[p2]).await.status == 400
        }
        DpopParIgnoreHeader => {
            let v = verifier();
            let ch = oauth_harness::oauth::s256(&v);
            let push = [
                ("response_type", "code"),
                ("client_id", "spa"),
                ("redirect_uri", RS),
                ("scope", "api"),
                ("code_challenge", ch.as_str()),
                ("code_challenge_method", "S256"),
            ];
            let p = proof(s, KeyName::J, "POST", "/oauth/par", None, |_, _| {});
            let pushed = post_dpop(s, "/oauth/par", &push, None, &[p]).await;
            let uri = pushed.str("request_uri");
            let code = q(s, &[("client_id", "spa"), ("request_uri", uri.as_str())])
                .await
                .get("code")
                .cloned()
                .unwrap_or_default();
            let p2 = proof(s, KeyName::J2, "POST", "/oauth/token", None, |_, _| {});
            exchange_dpop(s, "spa", RS, &code, &v, &[p2]).await.status == 400
        }
        DpopRsNoProofOk | DpopRsSkipAth | DpopRsSkipKeyMatch | DpopRsSkipHtmHtu | DpopRsAcceptBearer => {
            let t = bound_token(s).await;
            let auth = format!("DPoP {t}");
            let good = proof(s, KeyName::J, "GET", "/api/me", Some(&t), |_, _| {});
            let ok = api_dpop(s, &auth, &[good]).await.status == 200;
            let refused = match fault {
                DpopRsNoProofOk => api_dpop(s, &auth, &[]).await,
                DpopRsSkipAth => {
                    let p = proof(s, KeyName::J, "GET", "/api/me", Some("another"), |_, _| {});
                    api_dpop(s, &auth, &[p]).await
                }
                DpopRsSkipKeyMatch => {
                    let p = proof(s, KeyName::J2, "GET", "/api/me", Some(&t), |_, _| {});
                    api_dpop(s, &auth, &[p]).await
                }
                DpopRsSkipHtmHtu => {
                    let p = proof(s, KeyName::J, "POST", "/api/me", Some(&t), |_, _| {});
                    api_dpop(s, &auth, &[p]).await
                }
                _ => s.api("/api/me", &t).await,
            };
            ok && refused.status == 401
        }
        DpopRsChallengeErrorAlways => {
            let r = s.get("/api/me").await;
            r.status == 401
                && r.headers
                    .get_all("www-authenticate")
                    .iter()
                    .all(|v| !v.to_str().unwrap_or("").contains("error="))
        }
        DpopMetaHs256 => {
            let m = s.get("/.well-known/oauth-authorization-server").await;
            let algs = &m.body["dpop_signing_alg_values_supported"];
            algs.is_array() && !algs.as_array().is_some_and(|a| a.contains(&json!("HS256")))
        }
        RefreshNeverIdleExpires => {
            let t = s.device_token("api offline_access").await;
            s.advance(30 * 24 * 3600 + 1);
            s.post_form("/oauth/token", &[("grant_type", "refresh_token"), ("refresh_token", &t.str("refresh_token")), ("client_id", "noorle-cli")]).await.status == 400
        }
    }
}

// Several workers: the race faults' rendezvous holds a request on its thread until a
// second one arrives (on a one-thread runtime it has nobody to meet, and skips the gap).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_breaks_its_probe_and_the_clean_server_passes_it() {
    let mut tasks = tokio::task::JoinSet::new();
    for &fault in Fault::all() {
        tasks.spawn(async move {
            // A client whose keys the server fetches from where this test publishes them.
            let host = match fault {
                Fault::JwksUriIgnored => {
                    let k = fixture_key(KeyName::K).expect("K").public_jwks();
                    let sets = std::collections::HashMap::from([("pkj-uri".to_string(), k)]);
                    Some(
                        JwksHost::start("127.0.0.1:0", None, sets)
                            .await
                            .expect("key host"),
                    )
                }
                _ => None,
            };
            // A switch that breaks the updated audience rules is seen on a server that
            // follows them (the policy the matrix leaves to the server, §24.2 #1).
            let config = || {
                let mut c = oauth_harness::server::config::ServerConfig::builtin();
                if fault == Fault::JwtAudLegacy {
                    c.policy.jwt_aud = oauth_harness::server::config::JwtAudPolicy::IssuerOnly;
                }
                // OAuth 2.1's switches break its policy (matrix §22).
                if !fault.contracts().contains(&Contract::Noorle) {
                    c.policy.oauth21 = true;
                    c.policy.oidc_nonce_exception = fault == Fault::CodeWithoutChallengeRedeemable;
                }
                // The reuse-window switches break a server that declares one (matrix §23).
                if matches!(
                    fault,
                    Fault::RaceRtGraceFork
                        | Fault::RaceRtGraceKillsFamily
                        | Fault::RaceRtGraceForever
                ) {
                    c.policy.refresh_token_grace = Some(60);
                }
                // The nonce switches break a server that demands nonces (RFC 9449 §8).
                if matches!(
                    fault,
                    Fault::DpopNonceNoHeader
                        | Fault::DpopNonceIgnoreMismatch
                        | Fault::DpopNonceDowngrade
                ) {
                    c.policy.dpop_nonce = oauth_harness::server::dpop::NoncePolicy::Both;
                }
                if let Some(h) = &host {
                    c.add_jwks_uri_client(
                        "pkj-uri",
                        &h.uri("pkj-uri"),
                        "https://pkj-uri.example/callback",
                    );
                }
                c
            };
            let clean = server_with(config(), &[]).await;
            let broken = server_with(config(), &[fault]).await;
            (
                fault,
                probe(fault, &clean).await,
                probe(fault, &broken).await,
            )
        });
    }
    let mut wrong = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (fault, clean, broken) = r.expect("probe task");
        if !clean || broken {
            wrong.push(format!(
                "{} (clean holds: {clean}, faulted holds: {broken})",
                fault.name()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "probes that do not tell the servers apart:\n{}",
        wrong.join("\n")
    );
}
