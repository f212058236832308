//! Bare goose against the built-in server's token endpoint: the baseline of
//! `benches/load.sh`. It starts the server in-process exactly as `oauth-harness load`
//! does (clock 1000x, 1-second interval, no rate limit), creates one pending device
//! code per user, and lets every user post its poll in a loop through goose's own
//! request path: no waits, no parsing, no outcome bookkeeping, no histograms.
//!
//!     cargo run --release --example bare_goose -- USERS SECONDS
//!
//! It prints one line: `bare goose: N requests in S s = R req/s`.

use goose::config::GooseConfiguration;
use goose::prelude::*;
use oauth_harness::clock::Clock;
use oauth_harness::server::config::ServerConfig;
use std::sync::Arc;
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let users: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);
    let seconds: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10);

    let mut config = ServerConfig::builtin().with_test_mode(true);
    config.policy.device_authorizations_per_minute = u32::MAX;
    config.policy.device_interval = 1;
    config.policy.device_code_ttl = 86_400;
    let server = oauth_harness::server::start(config, "127.0.0.1:0", Clock::scaled(1000)).await?;
    let base = server.base_url();
    let bulk: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/_test/device/bulk"))
        .json(&serde_json::json!({"client_id": "noorle-cli", "count": users}))
        .send()
        .await?
        .json()
        .await?;
    let codes: Arc<Vec<String>> = Arc::new(
        bulk["devices"]
            .as_array()
            .ok_or("no devices")?
            .iter()
            .filter_map(|d| d["device_code"].as_str().map(str::to_string))
            .collect(),
    );

    let poll: TransactionFunction = Arc::new(move |user| {
        let codes = codes.clone();
        Box::pin(async move {
            let code = &codes[user.weighted_users_index % codes.len()];
            let body = serde_json::json!({
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "device_code": code,
                "client_id": "noorle-cli",
            });
            // 400 (authorization_pending or slow_down) is the expected answer: marked so,
            // goose counts it a success and skips its error bookkeeping.
            let builder = user
                .get_request_builder(&GooseMethod::Post, "/oauth/token")?
                .json(&body);
            let request = GooseRequest::builder()
                .method(GooseMethod::Post)
                .path("/oauth/token")
                .expect_status_code(400)
                .set_request_builder(builder)
                .build();
            let _ = user.request(request).await?;
            Ok(())
        })
    });
    let mut goose = GooseConfiguration::default();
    goose.host = Some(base);
    goose.users = Some(users);
    goose.increase_rate = Some(format!("{users}"));
    goose.run_time = Some(format!("{seconds}"));
    goose.no_reset_metrics = true;
    goose.no_telnet = true;
    goose.no_print_metrics = true;
    goose.quiet = 1;
    let started = Instant::now();
    let metrics = GooseAttack::initialize_with_config(goose)?
        // As `oauth-harness load` does: one client shared by all users.
        .set_client_builder_without_cookies(
            goose::client::GooseClientBuilder::new().without_cookies(),
        )?
        .register_scenario(scenario!("bare").register_transaction(Transaction::new(poll)))
        .execute()
        .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let count: usize = metrics
        .requests
        .values()
        .map(|r| r.success_count + r.fail_count)
        .sum();
    println!(
        "bare goose: {count} requests in {elapsed:.1} s = {:.0} req/s",
        count as f64 / elapsed
    );
    server.shutdown().await?;
    Ok(())
}
