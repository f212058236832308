//! Races: one authorization code, device code or refresh token redeemed by 100 concurrent
//! requests. Exactly one wins; every other gets `invalid_grant`; a code that was redeemed
//! twice has the tokens it issued revoked (RFC 6749 §4.1.2, §10.5).

use crate::common::{server, verifier, Enc, Resp, Srv, DEVICE_GRANT, RS};
use std::sync::Arc;

const RACERS: usize = 100;

/// Sends `RACERS` copies of one token request at once; the answers.
async fn race(srv: &Arc<Srv>, pairs: Vec<(String, String)>) -> Vec<Resp> {
    let mut set = tokio::task::JoinSet::new();
    // Every racer waits at the barrier, so the requests leave together.
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    for _ in 0..RACERS {
        let srv = srv.clone();
        let pairs = pairs.clone();
        let barrier = barrier.clone();
        set.spawn(async move {
            let p: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            barrier.wait().await;
            srv.post("/oauth/token", Enc::Form, &p, None).await
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.expect("racer"));
    }
    out
}

fn tally(answers: &[Resp]) -> (usize, usize, Vec<String>) {
    let wins = answers.iter().filter(|r| r.status == 200).count();
    let refused = answers
        .iter()
        .filter(|r| r.status == 400 && r.error() == "invalid_grant")
        .count();
    let other = answers
        .iter()
        .filter(|r| r.status != 200 && !(r.status == 400 && r.error() == "invalid_grant"))
        .map(|r| format!("{} {}", r.status, r.text))
        .collect();
    (wins, refused, other)
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_authorization_code_redeemed_by_100_at_once_wins_once_and_revokes_its_tokens() {
    let srv = Arc::new(server().await);
    let v = verifier();
    let code = srv.spa_code(&v, "api").await;
    let answers = race(
        &srv,
        pairs(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", RS),
            ("client_id", "spa"),
            ("code_verifier", &v),
        ]),
    )
    .await;
    let (wins, refused, other) = tally(&answers);
    assert_eq!((wins, refused), (1, RACERS - 1), "{other:?}");
    // The code was presented again after it was used: what it issued is revoked.
    let token = answers
        .iter()
        .find(|r| r.status == 200)
        .map(|r| r.str("access_token"))
        .expect("the winner");
    let api = srv.api("/api/me", &token).await;
    assert_eq!(api.status, 401, "{}", api.text);
    // Control: a token from a code redeemed once is accepted there, so the 401 above is
    // the revocation, not a token the API would refuse anyway.
    let v = verifier();
    let code = srv.spa_code(&v, "api").await;
    let control = srv.exchange_spa(&code, &v).await;
    assert_eq!(control.status, 200, "{}", control.text);
    let api = srv.api("/api/me", &control.str("access_token")).await;
    assert_eq!(api.status, 200, "{}", api.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_device_code_polled_by_100_at_once_yields_tokens_once() {
    let srv = Arc::new(server().await);
    let start = srv.device_start(Enc::Form, "api").await;
    let device_code = start.str("device_code");
    assert_eq!(srv.approve(&start.str("user_code")).await.status, 200);
    let answers = race(
        &srv,
        pairs(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", &device_code),
            ("client_id", "noorle-cli"),
        ]),
    )
    .await;
    let (wins, refused, other) = tally(&answers);
    assert_eq!((wins, refused), (1, RACERS - 1), "{other:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_rotating_refresh_token_used_by_100_at_once_refreshes_once() {
    let srv = Arc::new(server().await);
    let v = verifier();
    let code = srv.spa_code(&v, "api offline_access").await;
    let first = srv.exchange_spa(&code, &v).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let rt = first.str("refresh_token");
    let answers = race(
        &srv,
        pairs(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", "spa"),
        ]),
    )
    .await;
    let (wins, refused, other) = tally(&answers);
    assert_eq!((wins, refused), (1, RACERS - 1), "{other:?}");
    // Reuse of a rotated token ends the grant (REF-9): the winner's token dies too.
    let winner = answers
        .iter()
        .find(|r| r.status == 200)
        .map(|r| r.str("refresh_token"))
        .expect("the winner");
    let again = srv
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &winner),
                ("client_id", "spa"),
            ],
        )
        .await;
    again.assert_error(400, "invalid_grant");
    // Control: in a grant nobody raced, the rotated token refreshes, so the refusal above
    // is the replay ending the grant, not a token that could never refresh.
    let v = verifier();
    let code = srv.spa_code(&v, "api offline_access").await;
    let other = srv.exchange_spa(&code, &v).await;
    let mut rt = other.str("refresh_token");
    for _ in 0..2 {
        let next = srv
            .post_form(
                "/oauth/token",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &rt),
                    ("client_id", "spa"),
                ],
            )
            .await;
        assert_eq!(next.status, 200, "{}", next.text);
        rt = next.str("refresh_token");
    }
}
