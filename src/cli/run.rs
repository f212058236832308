//! `run`: the conformance suite against the builtin or a live target, and its reports.

use super::args::{Format, RunArgs};
use super::{init_logging_at, load_all_with, out, outln, report, runtime, terminal};
use crate::exit;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs the selected scenarios against the target and writes the reports.
pub(super) fn run_scenarios(args: RunArgs) -> ExitCode {
    // Quiet unless asked (`OAUTH_HARNESS_LOG=oauth_harness=debug` shows every exchange);
    // the builtin server's own refusals are the run's verdicts, not log lines.
    init_logging_at("warn,oauth_harness::server=error");
    let given = match args.given.gather() {
        Ok(g) => g,
        Err(code) => return code,
    };
    let target = match target_of(&args, &given) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let (selected, judged) = match selected_scenarios(&args, &given) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut opts = run_options(&args, target);
    opts.given = std::sync::Arc::new(given);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return report(Err(e)),
    };
    let expected = match expected_failures(&args.expected_failures) {
        Ok(e) => e,
        Err(code) => return code,
    };
    // Ctrl-C stops the run; what finished is reported and the reports are written.
    let mut result = rt.block_on(crate::runner::run_until(selected.clone(), &opts, async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }));
    if !expected.is_empty() {
        crate::runner::expected::apply(&mut result, &expected);
    }
    if args.fail_on_warnings {
        result.fail_on_warnings();
    }
    let copies = crate::report::Copies {
        tap: args.report_tap.clone(),
        html: args.report_html.clone(),
        sources: selected
            .iter()
            .map(|l| (l.path.to_string(), l.source.clone()))
            .collect(),
        judged,
    };
    let format = Format::or_from_env(args.format);
    finish(&result, args.verbose, (&args.report_dir, &copies), format)
}

/// The `--expected-failures` file's entries (none without one); a bad file is printed
/// (exit 2).
pub(super) fn expected_failures(
    paths: &[std::path::PathBuf],
) -> Result<Vec<crate::runner::expected::Expected>, ExitCode> {
    let mut all = Vec::new();
    for p in paths {
        let entries = crate::runner::expected::load(p).map_err(|e| {
            eprintln!("error: --expected-failures {e}");
            ExitCode::from(exit::BAD_SCENARIO)
        })?;
        all.extend(entries);
    }
    Ok(all)
}

/// The target `run` is pointed at: the builtin with its faults, or a live profile with the
/// TLS options given on the command line (exit 1 or 2 when they are wrong).
fn target_of(
    args: &RunArgs,
    given: &crate::scenario::inputs::Inputs,
) -> Result<crate::runner::target::TargetSpec, ExitCode> {
    use crate::runner::target::TargetSpec;
    if args.target == "builtin" {
        if args.rt_reuse.is_some() {
            eprintln!(
                "error: --rt-reuse applies to a live target: the builtin declares its reuse window for the scenarios about one (RACE-5…8)"
            );
            return Err(ExitCode::from(exit::USAGE));
        }
        if args.dpop_nonce.is_some() {
            eprintln!(
                "error: --dpop-nonce applies to a live target: the builtin demands DPoP nonces for the scenarios about them (DPOP-13…15, DPOP-27)"
            );
            return Err(ExitCode::from(exit::USAGE));
        }
        return Ok(TargetSpec::Builtin {
            faults: args.faults.iter().copied().collect(),
        });
    }
    let path = PathBuf::from(&args.target);
    if !path.is_file() {
        eprintln!(
            "error: --target {}: not `builtin` and not a profile file",
            args.target
        );
        return Err(ExitCode::from(exit::USAGE));
    }
    if !args.faults.is_empty() {
        eprintln!("error: --fault applies to the builtin target only");
        return Err(ExitCode::from(exit::USAGE));
    }
    if let Some(ca) = &args.ca_file {
        if let Err(e) = crate::runner::profile::ca_certificates(std::path::Path::new(ca)) {
            eprintln!("error: --ca-file {e}");
            return Err(ExitCode::from(exit::USAGE));
        }
    }
    match crate::runner::profile::Profile::load_with(&path, given) {
        Ok(mut p) => {
            p.tls.insecure |= args.insecure;
            if let Some(ca) = &args.ca_file {
                p.tls.ca_file = Some(ca.clone());
            }
            if let Some(reuse) = args.rt_reuse {
                p.rt_reuse = reuse;
            }
            if let Some(nonce) = args.dpop_nonce {
                p.dpop_nonce = nonce;
            }
            Ok(TargetSpec::Live(std::sync::Arc::new(p)))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitCode::from(exit::BAD_SCENARIO))
        }
    }
}

/// The scenarios `run` runs: loaded from the paths, narrowed to the selection (exit 2 for a
/// bad file, 1 when nothing matches).
/// The scenarios the tags and requirements select, and the rows all the loaded ones judge.
#[allow(clippy::type_complexity)]
fn selected_scenarios(
    args: &RunArgs,
    given: &crate::scenario::inputs::Inputs,
) -> Result<
    (
        Vec<std::sync::Arc<crate::scenario::Loaded>>,
        std::collections::HashSet<String>,
    ),
    ExitCode,
> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        args.paths.clone()
    };
    let loaded = load_all_with(&paths, given)?;
    let judged = loaded.iter().flat_map(crate::coverage::cited).collect();
    let selection = crate::scenario::Selection {
        tags: args.tags.clone(),
        requirements: args.requirements.clone(),
    };
    let selected: Vec<std::sync::Arc<crate::scenario::Loaded>> = loaded
        .into_iter()
        .filter(|l| selection.selects(&l.scenario))
        .map(std::sync::Arc::new)
        .collect();
    if selected.is_empty() {
        eprintln!(
            "error: no scenario matches (looked in {})",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Err(ExitCode::from(exit::USAGE));
    }
    Ok((selected, judged))
}

/// How `run` runs: jobs, verbosity, the contract, snapshots (their mode by target), and the
/// terminal for manual hooks.
fn run_options(
    args: &RunArgs,
    target: crate::runner::target::TargetSpec,
) -> crate::runner::RunOptions {
    use crate::runner::target::TargetSpec;
    let live = matches!(target, TargetSpec::Live(_));
    crate::runner::RunOptions {
        target,
        jobs: args.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }),
        verbose: args.verbose,
        expect: args.expect,
        snapshots: Some(crate::snapshot::Settings {
            mode: args.snapshots.unwrap_or_else(|| {
                crate::snapshot::Mode::default_for(live, args.snapshot_dir.is_some())
            }),
            dir: args
                .snapshot_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(crate::snapshot::DEFAULT_DIR)),
            all: args.snapshot_all,
        }),
        person: terminal(),
        given: Default::default(),
    }
}

/// Prints the run's console report (from the scenarios' `sources`, by path), writes the
/// report files into `dir` and gives the run's exit code (3 when the files cannot be written).
pub(super) fn finish(
    result: &crate::runner::result::RunResult,
    verbose: bool,
    (dir, copies): (&std::path::Path, &crate::report::Copies),
    format: Format,
) -> ExitCode {
    out(&crate::report::console::render_with(
        result,
        &copies.sources,
        verbose,
        crate::report::console::Paint(true),
    ));
    if format == Format::Github {
        out(&crate::report::github::annotations(result));
        if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY") {
            if let Err(e) = append(Path::new(&summary), &crate::report::markdown(result)) {
                eprintln!(
                    "error: cannot append to $GITHUB_STEP_SUMMARY ({}): {e}",
                    Path::new(&summary).display()
                );
                return ExitCode::from(exit::RUNTIME);
            }
        }
    }
    match crate::report::write_files(result, dir, copies) {
        Ok(files) => {
            let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
            outln(&format!("reports: {}", names.join(", ")));
        }
        Err(e) => {
            eprintln!("error: cannot write reports to {}: {e}", dir.display());
            return ExitCode::from(exit::RUNTIME);
        }
    }
    ExitCode::from(result.exit_code())
}

/// Appends `text` to the file at `path` (GitHub's step summary collects every step's).
fn append(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}
