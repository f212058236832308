//! The token-grants flows, as weighted goose transactions:
//!
//! - `authorization_code`: a PKCE S256 pair, the authorization request answered by the
//!   user's consent (the built-in server's test-mode route; a live target's consent
//!   hook), then the code exchanged at the token endpoint with the verifier;
//! - `refresh_token`: the user's refresh token exchanged, and the rotated one kept
//!   (a user without one first runs the code flow);
//! - `client_credentials`: the machine client's grant.
//!
//! A share of the flows (the profile's `probes`) ends with a replay the server must refuse
//! (`super::probes`: a code exchanged twice, a rotated refresh token presented again).
//!
//! Requests are recorded as `authorize`, `token: authorization_code`,
//! `token: refresh_token` and `token: client_credentials`. `authorize` is the server's time
//! (the builtin's consent route, or a `follow` hook's requests); a consent hook that runs a
//! command, calls the user's own service or waits for a person is timed as `consent hook`
//! instead, so its process never reads as the server's latency.

use super::probes::{self, Probe};
use super::profile::{ExchangeSettings, GrantSettings, TokenGrant};
use super::{send, Ctx, User};
use crate::endpoint::Endpoint;
use crate::scenario::model::Decision;
use goose::prelude::*;
use std::sync::Arc;

/// What the flows need of the target, checked before any load is sent: the code client
/// may be public (no secret: its id goes in the body, and its refresh tokens rotate); the
/// machine client cannot.
pub(super) fn check(ctx: &Ctx, e: &ExchangeSettings) -> Result<(), String> {
    let machine = e.weight(TokenGrant::ClientCredentials) > 0;
    let client = &e.client_credentials_client;
    if machine && ctx.session.secret_of(client).is_none() {
        return Err(format!(
            "token-grants needs the secret of client `{client}` (a target profile gives it for the role that client plays, under `clients:`)"
        ));
    }
    if let Some(other) = &e.other_client {
        if ctx.session.secret_of(other).is_none() {
            return Err(format!(
                "exchange.other_client `{other}` must be a confidential client whose secret the target profile gives (it presents the code client's refresh tokens with its own credentials)"
            ));
        }
    }
    Ok(())
}

pub(super) fn scenario(ctx: &Arc<Ctx>, g: &GrantSettings) -> Result<Scenario, String> {
    let e = Arc::new(g.exchange.clone());
    check(ctx, &e)?;
    let mut s = scenario!("token-grants");
    if let Some(w) = &g.wait_time {
        s = s
            .set_wait_time(w.min.0, w.max.0)
            .map_err(|e| format!("goose: wait_time: {e}"))?;
    }
    for &grant in TokenGrant::all() {
        let weight = e.weight(grant);
        if weight == 0 {
            continue;
        }
        let (c, e) = (ctx.clone(), e.clone());
        let f: TransactionFunction = Arc::new(move |user| {
            let (c, e) = (c.clone(), e.clone());
            Box::pin(async move {
                if c.ending() {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    return Ok(());
                }
                let mut user = User::goose(user, c.users);
                flow(&mut user, &c, &e, grant).await;
                user.keep();
                Ok(())
            })
        });
        let t = Transaction::new(f)
            .set_name(grant.name())
            .set_weight(weight)
            .map_err(|e| format!("goose: {e}"))?;
        s = s.register_transaction(t);
    }
    Ok(s)
}

/// One transaction of the mix.
pub(super) async fn flow(
    user: &mut User<'_>,
    ctx: &Ctx,
    e: &ExchangeSettings,
    transaction: TokenGrant,
) {
    match transaction {
        TokenGrant::AuthorizationCode => {
            code_flow(user, ctx, e).await;
        }
        TokenGrant::RefreshToken => refresh(user, ctx, e).await,
        TokenGrant::ClientCredentials => client_credentials(user, ctx, e).await,
    }
}

/// How `client` authenticates: Basic with its secret, or, a public client (no secret),
/// its `client_id` in the body.
fn credentials<'a>(
    ctx: &'a Ctx,
    client: &'a str,
    params: &mut Vec<(&'a str, &'a str)>,
) -> Option<(&'a str, &'a str)> {
    let basic = ctx.session.secret_of(client).map(|s| (client, s));
    if basic.is_none() {
        params.push(("client_id", client));
    }
    basic
}

/// The code flow; true when it got tokens.
async fn code_flow(user: &mut User<'_>, ctx: &Ctx, e: &ExchangeSettings) -> bool {
    let verifier = crate::oauth::random_token();
    let challenge = crate::oauth::s256(&verifier);
    let state = crate::oauth::random_token();
    let query: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", e.code_client.as_str()),
        ("redirect_uri", e.redirect_uri.as_str()),
        ("scope", e.scope.as_str()),
        ("state", state.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let started = std::time::Instant::now();
    let consent = ctx.session.consent(&query, Decision::Approve, None).await;
    let latency = started.elapsed();
    let code = consent.ok().and_then(|(_, ex)| {
        let location = ex.header("location")?;
        let url = url::Url::parse(location).ok()?;
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let got_state = pairs
            .iter()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.as_str());
        if got_state != Some(state.as_str()) {
            return None;
        }
        pairs.into_iter().find(|(k, _)| k == "code").map(|(_, v)| v)
    });
    let row = if ctx.session.consent_is_server_time() {
        "authorize"
    } else {
        "consent hook"
    };
    ctx.record(user, row, latency, code.is_some(), None).await;
    let Some(code) = code else {
        ctx.recorder.count("authorize_failed", 1);
        return false;
    };
    let token_url = ctx.session.endpoint_url(Endpoint::Token);
    let mut params = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", e.redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let basic = credentials(ctx, &e.code_client, &mut params);
    let got = tokens(user, ctx, "authorization_code", &token_url, &params, basic).await;
    if got && probes::drawn(ctx) {
        // TOK-21: the same exchange again must be refused; the server may revoke what
        // the code gave (TOK-22), so this user signs in again next time.
        let replay = ctx.post(&token_url, &params, basic);
        probes::send_probe(user, ctx, Probe::CodeAgain, replay).await;
        user.refresh = None;
    }
    got
}

async fn refresh(user: &mut User<'_>, ctx: &Ctx, e: &ExchangeSettings) {
    let Some(rt) = user.refresh.clone() else {
        // Nothing to refresh yet: this user signs in first.
        code_flow(user, ctx, e).await;
        return;
    };
    let token_url = ctx.session.endpoint_url(Endpoint::Token);
    let mut params = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
    ];
    let basic = credentials(ctx, &e.code_client, &mut params);
    let got = tokens(user, ctx, "refresh_token", &token_url, &params, basic).await;
    let rotated = user.refresh.as_deref().is_some_and(|new| new != rt);
    if !got || !probes::drawn(ctx) {
        return;
    }
    // Of the probes that apply, one, drawn.
    let other = e.other_client.as_deref().filter(|o| *o != e.code_client);
    let probe = match (rotated, other) {
        (true, Some(_)) if rand::random::<bool>() => Probe::RefreshOtherClient,
        (true, _) => Probe::RotatedRefreshAgain,
        (false, Some(_)) => Probe::RefreshOtherClient,
        (false, None) => return,
    };
    let request = match (probe, other) {
        // REF-9: a rotated refresh token presented again must be refused; the server
        // then revokes the grant.
        (Probe::RotatedRefreshAgain, _) => ctx.post(&token_url, &params, basic),
        // REF-6: the token just returned (the one still valid), presented by another
        // client with its own credentials, must be refused.
        (_, Some(other)) => {
            let current = user.refresh.clone().unwrap_or(rt);
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", current.as_str()),
            ];
            let secret = ctx.session.secret_of(other).unwrap_or_default();
            ctx.post(&token_url, &form, Some((other, secret)))
        }
        _ => return,
    };
    probes::send_probe(user, ctx, probe, request).await;
    // The probed grant is given up: a server may revoke it on the replay.
    user.refresh = None;
}

async fn client_credentials(user: &mut User<'_>, ctx: &Ctx, e: &ExchangeSettings) {
    let client = e.client_credentials_client.clone();
    let token_url = ctx.session.endpoint_url(Endpoint::Token);
    let mut params = vec![("grant_type", "client_credentials")];
    let basic = credentials(ctx, &client, &mut params);
    if ctx.dpop.is_none() || !probes::drawn(ctx) {
        tokens(user, ctx, "client_credentials", &token_url, &params, basic).await;
        return;
    }
    // Under DPoP, a probed flow keeps its request, proof and all, to send it again
    // (DPOP-12), and presents the bound token as a Bearer token (DPOP-25).
    let req = ctx.post(&token_url, &params, basic);
    let replay = req.try_clone();
    let answer = match send(req).await {
        Ok(a) => a,
        Err(failed) => {
            ctx.record(
                user,
                "token: client_credentials",
                failed.latency,
                false,
                None,
            )
            .await;
            ctx.recorder.count("client_credentials_failed", 1);
            return;
        }
    };
    let ok = answer.status == 200 && answer.str("access_token").is_some();
    ctx.record(
        user,
        "token: client_credentials",
        answer.latency,
        ok,
        Some(answer.status),
    )
    .await;
    ctx.recorder.count(
        &format!("client_credentials_{}", if ok { "ok" } else { "failed" }),
        1,
    );
    if !ok {
        return;
    }
    if let Some(replay) = replay {
        probes::send_probe(user, ctx, Probe::DpopProofAgain, replay).await;
    }
    let bound = answer
        .str("token_type")
        .is_some_and(|t| t.eq_ignore_ascii_case("dpop"));
    if let (true, Some(resource), Some(token)) = (
        bound,
        ctx.session.provided.resource_url("me"),
        answer.str("access_token"),
    ) {
        let url = ctx.session.path_url(resource);
        let req = ctx.session.http.get(url).bearer_auth(token);
        probes::send_probe(user, ctx, Probe::BoundTokenAsBearer, req).await;
    }
}

/// A token request; keeps a returned refresh token. True when tokens came back.
async fn tokens(
    user: &mut User<'_>,
    ctx: &Ctx,
    grant: &str,
    url: &str,
    params: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> bool {
    let name = format!("token: {grant}");
    let answer = match ctx.send_post(url, params, basic).await {
        Ok(a) => a,
        Err(failed) => {
            ctx.record(user, &name, failed.latency, false, None).await;
            ctx.recorder.count(&format!("{grant}_failed"), 1);
            tracing::debug!("{grant}: {}", failed.why);
            return false;
        }
    };
    let ok = answer.status == 200 && answer.str("access_token").is_some();
    ctx.record(user, &name, answer.latency, ok, Some(answer.status))
        .await;
    ctx.recorder
        .count(&format!("{grant}_{}", if ok { "ok" } else { "failed" }), 1);
    if ok {
        // A rotated token replaces the old one; without one, the old one stays valid.
        if let Some(refresh) = answer.str("refresh_token") {
            user.refresh = Some(refresh.to_string());
        }
    } else if grant == "refresh_token" {
        // A refused refresh token is dropped; the user signs in again next time.
        user.refresh = None;
    }
    ok
}
