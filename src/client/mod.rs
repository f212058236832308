//! `oauth-harness client`: OAuth *clients* judged by the reference server. A client
//! scenario ([`scenario`]) says what the server and its user do; [`run`] starts a fresh
//! server with a scaled clock for each, runs the client's command against it, and
//! [`judge`] reads the server's log of the client's requests against the matrix's CLIENT
//! rows. Results are the runner's [`RunResult`](crate::runner::result::RunResult), so
//! every report format works unchanged.

pub mod browser;
pub mod judge;
pub mod pace;
pub mod run;
pub mod scenario;

use crate::runner::result::{RunResult, ScenarioResult};
use scenario::LoadedClient;
use std::time::Instant;

/// Runs every client scenario. Scaled runs go one at a time (each has its own server and
/// `HOME`; one at a time keeps the machine's latency, which the scale multiplies, out of
/// the gaps). Runs at real time, where the machine's latency is counted once, go side by
/// side afterwards: scenarios with `time_scale: 1`, and, once one scenario has shown that
/// the client keeps its own clock ([`pace`]), every later device scenario, with no scaled
/// run first.
pub(crate) async fn run_all(scenarios: &[LoadedClient], opts: &run::ClientOptions) -> RunResult {
    use run::{Pace, Paced};
    let started = Instant::now();
    let mut results: Vec<Option<ScenarioResult>> = vec![None; scenarios.len()];
    let mut real_time: Vec<(usize, Pace)> = Vec::new();
    let mut own_clock: Option<String> = None;
    for (i, l) in scenarios.iter().enumerate() {
        let s = &l.scenario;
        if s.time_scale == Some(1) || opts.time_scale == 1 {
            real_time.push((i, Pace::Scaled));
            continue;
        }
        if let (Some(why), scenario::Flow::Device) = (&own_clock, s.flow) {
            real_time.push((i, Pace::RealTime(why.clone())));
            continue;
        }
        tracing::info!(scenario = %s.name, "client scenario");
        match run::run_paced(l, opts, &Pace::Scaled).await {
            Paced::Judged(r) => results[i] = Some(r),
            Paced::OwnClock(why) => {
                own_clock = Some(format!(
                    "the client keeps its own clock, as {} showed",
                    l.path
                ));
                real_time.push((i, Pace::RealTime(why)));
            }
        }
    }
    let at_real_time = real_time
        .iter()
        .filter(|(_, pace)| matches!(pace, Pace::RealTime(_)))
        .count();
    let side_by_side = real_time.iter().map(|(i, pace)| async move {
        let l = &scenarios[*i];
        tracing::info!(scenario = %l.scenario.name, "client scenario, real time");
        (*i, run::run_client_at(l, opts, pace.clone()).await)
    });
    for (i, r) in futures_util::future::join_all(side_by_side).await {
        results[i] = Some(r);
    }
    let results: Vec<ScenarioResult> = results.into_iter().flatten().collect();
    let mut target = format!(
        "client `{}` (server clock ×{}",
        opts.command.join(" "),
        opts.time_scale
    );
    if at_real_time > 0 {
        target.push_str(&format!(
            "; {at_real_time} device scenario(s) at real time: the client keeps its own clock"
        ));
    }
    target.push(')');
    RunResult::new(target, results, started.elapsed().as_secs_f64() * 1000.0)
}
