//! `load`: a load profile run (or a stress ramp), and `load merge` of shard summaries.

use super::args::{LoadAction, LoadArgs};
use super::{init_logging_at, out, outln, runtime, terminal};
use crate::exit;
use crate::load::{Progress, ProgressSink};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Runs `load`: a profile or the merge of shard summaries.
pub(super) fn load(args: LoadArgs) -> ExitCode {
    // The in-process server's warnings (a deliberately early poll) are the run's to count,
    // not to print.
    init_logging_at("warn,oauth_harness::server=error");
    match args.action {
        Some(LoadAction::List) => {
            let mut text = String::new();
            for (name, yaml) in crate::load::profile::BUILTIN {
                let description = crate::load::profile::parse(name, name, yaml)
                    .ok()
                    .and_then(|p| p.description)
                    .unwrap_or_default();
                text.push_str(&format!("{name:<16} {description}\n"));
            }
            out(&text);
            ExitCode::from(exit::PASSED)
        }
        Some(LoadAction::Merge {
            files,
            report_dir,
            thresholds,
        }) => load_merge(&files, report_dir, &thresholds),
        None => load_run(args),
    }
}

fn load_run(args: LoadArgs) -> ExitCode {
    // What the profile reader accepted but wants said (an old name); its errors come with
    // the run.
    if let Ok(p) = crate::load::profile::load(args.profile.as_deref().unwrap_or_default()) {
        for w in &p.warnings {
            eprintln!("warning: {w}");
        }
    }
    // A load profile has no `${NAME}`; a target profile may.
    let given = match args.given.gather() {
        Ok(g) => g,
        Err(code) => return code,
    };
    let target = if args.target == "builtin" {
        None
    } else {
        match crate::runner::profile::Profile::load_with(std::path::Path::new(&args.target), &given)
        {
            Ok(p) => Some(std::sync::Arc::new(p)),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(exit::BAD_SCENARIO);
            }
        }
    };
    let opts = crate::load::LoadOptions {
        profile: args.profile.unwrap_or_default(),
        target,
        users: args.users,
        run_time: args.run_time,
        increase_rate: args.increase_rate,
        arrival_rate: args.arrival_rate,
        ramp: args.ramp,
        max_in_flight: args.max_in_flight,
        thresholds: args.thresholds,
        report_dir: args.report_dir,
        shard: args.shard,
        progress: (!args.no_progress).then(|| Arc::new(Spinner::new()) as Arc<dyn ProgressSink>),
        person: terminal(),
        metrics_addr: args.metrics_addr,
        remote_write: args.prometheus_remote_write,
    };
    let outcome = match runtime().map_err(|e| e.to_string()) {
        Ok(rt) => rt.block_on(crate::load::run(&opts)),
        Err(e) => Err(crate::load::LoadError::Runtime(e)),
    };
    match outcome {
        Ok(o) => shown(&o, &opts.profile),
        Err(crate::load::LoadError::Profile(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::BAD_SCENARIO)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::RUNTIME)
        }
    }
}

/// Prints a finished run (its table, or the stress ramp of `profile`), the files written
/// and what broke; its exit code.
fn shown(o: &crate::load::LoadOutcome, profile: &str) -> ExitCode {
    if o.steps.is_empty() {
        out(&crate::load::report::console(&o.summary));
    } else if let Ok(p) = crate::load::profile::load(profile) {
        out(&crate::load::report::stress_text(&p, o, false));
    }
    let files: Vec<String> = o.files.iter().map(|f| f.display().to_string()).collect();
    outln(&format!("reports: {}", files.join(", ")));
    if o.exit == exit::THRESHOLD_BREACHED {
        if o.steps.is_empty() {
            for v in o.summary.thresholds.iter().filter(|v| !v.passed) {
                eprintln!("threshold breached: {} (observed {})", v.rule, v.observed);
            }
        } else {
            let what = if o.knee_rate.is_some() {
                "arrival rate"
            } else {
                "users"
            };
            eprintln!("threshold breached: the knee came before the required {what}");
        }
    }
    ExitCode::from(o.exit)
}

fn load_merge(files: &[PathBuf], report_dir: Option<PathBuf>, extra: &[String]) -> ExitCode {
    use crate::load::summary::Summary;
    let mut parts = Vec::new();
    for f in files {
        let parsed = std::fs::read_to_string(f)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Summary>(&t).map_err(|e| e.to_string()));
        match parsed {
            Ok(s) => parts.push(s),
            Err(e) => {
                eprintln!("error: {}: not a load summary: {e}", f.display());
                return ExitCode::from(exit::BAD_SCENARIO);
            }
        }
    }
    let mut rules: Vec<String> = Vec::new();
    for r in parts
        .iter()
        .flat_map(|p| p.thresholds.iter().map(|v| v.rule.clone()))
        .chain(extra.iter().cloned())
    {
        if !rules.contains(&r) {
            rules.push(r);
        }
    }
    let mut merged = match Summary::merge(&parts) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: cannot merge: {e}");
            return ExitCode::from(exit::BAD_SCENARIO);
        }
    };
    merged.thresholds = match crate::load::threshold::judge_all(&rules, &merged) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: --threshold {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let dir = report_dir.unwrap_or_else(|| {
        PathBuf::from("reports")
            .join("load")
            .join(format!("{}-merged", merged.meta.profile))
    });
    let written =
        std::fs::create_dir_all(&dir).and_then(|()| crate::load::report::write(&dir, &merged));
    out(&crate::load::report::console(&merged));
    match written {
        Ok(files) => {
            let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            outln(&format!("reports: {}", names.join(", ")));
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", dir.display());
            return ExitCode::from(exit::RUNTIME);
        }
    }
    let broken: Vec<_> = merged.thresholds.iter().filter(|v| !v.passed).collect();
    for v in &broken {
        eprintln!("threshold breached: {} (observed {})", v.rule, v.observed);
    }
    ExitCode::from(if broken.is_empty() {
        exit::PASSED
    } else {
        exit::THRESHOLD_BREACHED
    })
}

/// The progress line of a load test: indicatif's spinner on stderr (hidden when stderr is
/// not a terminal).
struct Spinner(indicatif::ProgressBar);

impl Spinner {
    fn new() -> Self {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        Spinner(bar)
    }
}

impl ProgressSink for Spinner {
    fn update(&self, p: &Progress) {
        let mix: Vec<String> = p.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        self.0.set_message(format!(
            "{} {:>5.1}s  {} requests  {}",
            p.kind,
            p.elapsed.as_secs_f64(),
            p.requests,
            mix.join(" · ")
        ));
        self.0.tick();
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
