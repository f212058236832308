//! `benches/dpop.sh`, part one: the reference server's client_credentials rate with DPoP
//! (RFC 9449: each request's proof parsed and verified, its `jti` recorded, the token
//! bound to the key and stored) against the same requests without, in one process and
//! one run, rounds alternating. The proofs are signed before a DPoP round starts, so the
//! signing is not what is measured; each carries its own `jti` and the server's `iat`.
//!
//!     cargo run --release --example dpop_bench -- [SECONDS] [CONNECTIONS] [ROUNDS]
//!
//! Loopback only, bounded by SECONDS per round.

use oauth_harness::clock::Clock;
use oauth_harness::dpop::{proof, Claims};
use oauth_harness::keys::{fixture_key, KeyName};
use oauth_harness::server::config::ServerConfig;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One round's figures.
struct Round {
    ok: usize,
    refused: usize,
    seconds: f64,
}

impl Round {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.seconds
    }
}

/// `connections` clients sending client_credentials requests for `seconds`; with
/// `proofs`, each request takes the next one (the round ends early if they run out).
async fn round(
    url: &str,
    seconds: u64,
    connections: usize,
    proofs: Option<Arc<Vec<String>>>,
) -> Round {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
        .expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let workers = (0..connections).map(|_| {
        let (http, next, proofs, url) =
            (http.clone(), next.clone(), proofs.clone(), url.to_string());
        tokio::spawn(async move {
            let (mut ok, mut refused) = (0usize, 0usize);
            while Instant::now() < deadline {
                let mut req = http
                    .post(&url)
                    .basic_auth("m2m", Some("m2m-secret"))
                    .form(&[("grant_type", "client_credentials"), ("scope", "api")]);
                if let Some(p) = &proofs {
                    let Some(one) = p.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    req = req.header("DPoP", one);
                }
                match req.send().await {
                    Ok(r) if r.status() == 200 => {
                        let _ = r.bytes().await;
                        ok += 1;
                    }
                    _ => refused += 1,
                }
            }
            (ok, refused)
        })
    });
    let mut r = Round {
        ok: 0,
        refused: 0,
        seconds: 0.0,
    };
    for w in futures_util::future::join_all(workers).await {
        let (ok, refused) = w.expect("worker");
        r.ok += ok;
        r.refused += refused;
    }
    r.seconds = started.elapsed().as_secs_f64();
    r
}

/// `n` proofs for `url`, signed on every core.
fn sign(n: usize, url: &str, iat: i64) -> Vec<String> {
    let j = fixture_key(KeyName::J).expect("J");
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = n.div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..threads)
            .map(|_| {
                let j = j.clone();
                s.spawn(move || {
                    (0..per)
                        .map(|_| {
                            let claims = Claims {
                                htm: "POST",
                                htu: url,
                                iat,
                                nonce: None,
                                access_token: None,
                            };
                            proof(&j, &claims).expect("signed")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().expect("signer"))
            .collect()
    })
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = args.first().copied().unwrap_or(10);
    let connections = usize::try_from(args.get(1).copied().unwrap_or(32)).unwrap_or(32);
    let rounds = args.get(2).copied().unwrap_or(2);
    let clock = Clock::scaled(1);
    let server =
        oauth_harness::server::start(ServerConfig::builtin(), "127.0.0.1:0", clock.clone())
            .await
            .expect("server");
    let url = format!("{}/oauth/token", server.base_url());
    println!("client_credentials at {url}: {connections} connections, {seconds} s a round, {rounds} rounds each");
    let (mut bearer, mut dpop) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        let b = round(&url, seconds, connections, None).await;
        println!(
            "round {}: Bearer {:>8.0} tokens/s ({} refused)",
            i + 1,
            b.rate(),
            b.refused
        );
        // Enough proofs for this round at the Bearer rate, signed before it starts.
        let need = (b.rate() * seconds as f64 * 1.1) as usize + 1000;
        let signing = Instant::now();
        let proofs = Arc::new(sign(
            need,
            &url,
            i64::try_from(clock.unix_now()).unwrap_or(0),
        ));
        let signed_in = signing.elapsed();
        let d = round(&url, seconds, connections, Some(proofs)).await;
        println!(
            "round {}: DPoP   {:>8.0} tokens/s ({} refused; {} proofs signed beforehand in {:.1} s)",
            i + 1,
            d.rate(),
            d.refused,
            need,
            signed_in.as_secs_f64()
        );
        bearer.push(b.rate());
        dpop.push(d.rate());
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!(
        "DPoP / Bearer: {:.2} (mean of {rounds} rounds: {:.0} / {:.0} tokens/s)",
        mean(&dpop) / mean(&bearer),
        mean(&dpop),
        mean(&bearer)
    );
    let _ = server.shutdown().await;
    where_the_time_goes(&url, mean(&bearer));
}

/// Where a DPoP request's time goes, on one core, the servers stopped: signing a proof
/// (the client's part), and the server's part: taking the JWS apart, verifying its
/// signature with the `jwk` it carries, and the key's thumbprint; beside the whole of a
/// Bearer request (both cores' time over the Bearer rate, client included).
fn where_the_time_goes(url: &str, bearer_rate: f64) {
    let j = fixture_key(KeyName::J).expect("J");
    let n = 2000u32;
    let claims = Claims {
        htm: "POST",
        htu: url,
        iat: 1,
        nonce: None,
        access_token: None,
    };
    let started = Instant::now();
    let proofs: Vec<String> = (0..n)
        .map(|_| proof(&j, &claims).expect("signed"))
        .collect();
    let sign = started.elapsed() / n;
    let started = Instant::now();
    let parsed: Vec<_> = proofs
        .iter()
        .map(|p| oauth_harness::jose::parse(p).expect("a JWS"))
        .collect();
    let parse = started.elapsed() / n;
    let jwk = parsed[0].header["jwk"].clone();
    let started = Instant::now();
    for p in &parsed {
        assert!(p.verify_jwk(&jwk));
    }
    let verify = started.elapsed() / n;
    let started = Instant::now();
    for _ in 0..n {
        let _ = oauth_harness::jose::thumbprint(&jwk);
    }
    let thumb = started.elapsed() / n;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let bearer = Duration::from_secs_f64(cores / bearer_rate.max(1.0));
    println!(
        "per request, one core: signing a proof {sign:.1?}; the server's check: parse {parse:.1?}, ES256 verify {verify:.1?}, thumbprint {thumb:.1?}; a whole Bearer request (client and server, {cores} cores over its rate) {bearer:.1?}"
    );
}
