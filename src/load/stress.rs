//! Stress ramps: steps of growing users (the closed model) or arrival rates (the open
//! model) of another kind, until a threshold breaks; the first step that broke is the
//! knee.

use super::model::Model;
use super::profile::{self, LoadProfile};
use super::{one_run, open, report, share, LoadError, LoadOptions, LoadOutcome, Step};
use std::path::Path;

pub(super) async fn run(
    opts: &LoadOptions,
    p: LoadProfile,
    stress: profile::StressSettings,
    dir: &Path,
) -> Result<LoadOutcome, LoadError> {
    // Checked when the profile was read: a rate or users, never both.
    let start_rate = stress
        .start_rate
        .as_deref()
        .and_then(|r| open::Arrivals::parse_rate(r).ok());
    let max_in_flight = p.arrival.as_ref().map_or(10_000, |a| a.max_in_flight);
    let mut level = start_rate.unwrap_or(stress.start_users.unwrap_or(1) as f64);
    let mut steps: Vec<Step> = Vec::new();
    let mut files = Vec::new();
    let mut knee = None;
    let mut step_profile = p.clone();
    step_profile.run_time = Some(stress.step_time);
    for i in 0..stress.steps {
        let (model, users, label) = step_model(
            opts,
            start_rate.map(|_| level),
            level,
            &stress,
            max_in_flight,
        );
        if let Model::Closed(n) = model {
            step_profile.users = n;
        }
        let step_dir = dir.join(format!("step-{:02}-{label}", i + 1));
        std::fs::create_dir_all(&step_dir).map_err(|e| {
            LoadError::Runtime(format!("cannot create {}: {e}", step_dir.display()))
        })?;
        let (summary, f) = one_run(opts, &step_profile, model, &step_dir, false).await?;
        files.extend(f);
        let broke = summary.thresholds.iter().any(|v| !v.passed);
        if opts.progress.is_none() {
            tracing::info!(step = %label, broke, "stress step done");
        }
        let rate = start_rate.map(|_| level);
        steps.push(Step {
            users,
            rate,
            summary,
        });
        if broke {
            knee = Some(steps.len() - 1);
            break;
        }
        if goose::is_killswitch_triggered() {
            break;
        }
        level *= stress.factor;
    }
    let outcome = judged(steps, knee, files, &stress)?;
    let written = report::write_stress(dir, &p, &outcome)
        .map_err(|e| LoadError::Runtime(format!("cannot write reports: {e}")))?;
    Ok(LoadOutcome {
        files: [outcome.files.clone(), written].concat(),
        ..outcome
    })
}

/// The ramp's outcome: the last step's summary, the knee (users or a rate), and exit 5
/// when the knee came before the rate or users the profile requires.
fn judged(
    steps: Vec<Step>,
    knee: Option<usize>,
    files: Vec<std::path::PathBuf>,
    stress: &profile::StressSettings,
) -> Result<LoadOutcome, LoadError> {
    let last = steps
        .last()
        .map(|s| s.summary.clone())
        .ok_or_else(|| LoadError::Runtime("the stress ramp ran no step".into()))?;
    let knee_step = knee.map(|k| &steps[k]);
    let required_rate = stress
        .require_rate
        .as_deref()
        .and_then(|r| open::Arrivals::parse_rate(r).ok());
    let too_soon = match (knee_step, stress.require_users, required_rate) {
        (Some(k), Some(req), _) => k.users < req,
        (Some(k), _, Some(req)) => k.rate.is_some_and(|r| r < req),
        _ => false,
    };
    Ok(LoadOutcome {
        summary: last,
        knee: knee_step.filter(|k| k.rate.is_none()).map(|k| k.users),
        knee_rate: knee_step.and_then(|k| k.rate),
        exit: if too_soon {
            crate::exit::THRESHOLD_BREACHED
        } else {
            crate::exit::PASSED
        },
        steps,
        files,
    })
}

/// A step's model at `level` (arrivals per second when `open_rate` is given, else users):
/// this shard's share, its users (0 in the open model) and the step folder's label.
fn step_model(
    opts: &LoadOptions,
    open_rate: Option<f64>,
    level: f64,
    stress: &profile::StressSettings,
    max_in_flight: usize,
) -> (Model, usize, String) {
    match open_rate {
        Some(rate) => {
            let plan = open::Plan {
                arrivals: open::Arrivals::constant(rate, stress.step_time.0).share(opts.shard.1),
                max_in_flight: share(max_in_flight, opts.shard).max(1),
            };
            (Model::Open(plan), 0, format!("{rate:.0}-per-s"))
        }
        None => {
            let n = share(level.round() as usize, opts.shard).max(1);
            (Model::Closed(n), n, format!("{n}-users"))
        }
    }
}
