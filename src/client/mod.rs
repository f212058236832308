//! `oauth-harness client`: OAuth *clients* judged by the reference server. A client
//! scenario ([`scenario`]) says what the server and its user do; [`run`] starts a fresh
//! server with a scaled clock for each, runs the client's command against it, and
//! [`judge`] reads the server's log of the client's requests against the matrix's CLIENT
//! rows. Results are the runner's [`RunResult`](crate::runner::result::RunResult), so
//! every report format works unchanged.

pub mod browser;
pub mod judge;
pub mod run;
pub mod scenario;

use crate::runner::result::RunResult;
use scenario::LoadedClient;
use std::time::Instant;

/// Runs every client scenario, one after another (each has its own server and `HOME`;
/// one at a time keeps the machine's latency out of the scaled gaps).
pub(crate) async fn run_all(scenarios: &[LoadedClient], opts: &run::ClientOptions) -> RunResult {
    let started = Instant::now();
    let mut results = Vec::new();
    for l in scenarios {
        tracing::info!(scenario = %l.scenario.name, "client scenario");
        results.push(run::run_client(l, opts).await);
    }
    let target = format!(
        "client `{}` (server clock ×{})",
        opts.command.join(" "),
        opts.time_scale
    );
    RunResult::new(target, results, started.elapsed().as_secs_f64() * 1000.0)
}
