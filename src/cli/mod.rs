//! The command line: flags are parsed into a validated configuration here, then handed to
//! the library; nothing below this layer prints or exits.

mod client;

use crate::clock::Clock;
use crate::exit;
use crate::server::config::ServerConfig;
use crate::server::faults::{fault_table, Fault, FaultSet};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Conformance and load testing for OAuth 2.0 authorization servers.
#[derive(Debug, Parser)]
#[command(name = "oauth-harness", version, after_help = exit::HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the built-in reference authorization server.
    #[command(after_help = SERVE_HELP)]
    Serve(ServeArgs),
    /// Run conformance scenarios against the built-in server (default) or a target.
    #[command(after_help = exit::HELP)]
    Run(RunArgs),
    /// List scenarios with their requirement ids and tags.
    List(ListArgs),
    /// The conformance matrix's rows against the scenarios that cite them (exit 4 when a
    /// MUST row has no scenario).
    Coverage(CoverageArgs),
    /// Run the suite against the built-in server with each fault switch on and print the
    /// kill matrix (exit 4 if a fault survives or the clean run is not clean).
    Mutate(MutateArgs),
    /// Run a load profile with goose against the built-in server or a target (exit 5 when
    /// a threshold breaks); `load merge` joins shard summaries.
    Load(LoadArgs),
    /// Response snapshots: remove those no scenario produces, accept pending ones.
    Snapshots {
        #[command(subcommand)]
        action: SnapshotAction,
    },
    /// Print the JSON Schema of scenario files (shipped as scenarios/scenario.schema.json;
    /// `--client`: of client scenarios, scenarios/clients/client.schema.json).
    Schema {
        /// The schema of client scenario files.
        #[arg(long)]
        client: bool,
    },
    /// Write a starter target profile from a server's RFC 8414 / OpenID Connect metadata.
    #[command(after_help = exit::HELP)]
    Init(InitArgs),
    /// Start the built-in server in-process and drive every grant through it once.
    #[command(after_help = exit::HELP)]
    Smoke,
    /// Judge an OAuth client: run COMMAND against a fresh built-in server per client
    /// scenario (scenarios/clients/) and judge it on the CLIENT rows from what the server
    /// saw.
    #[command(after_help = exit::HELP)]
    Client(client::ClientArgs),
    /// `sleep` on the server's scaled clock (the command clients find on their PATH).
    #[command(hide = true)]
    ScaledSleep {
        /// Durations, as coreutils' sleep takes them.
        durations: Vec<String>,
    },
    /// The test user's browser for a client under `client` (the `BROWSER` it is given).
    #[command(hide = true)]
    Browse {
        /// The URL the client opens.
        url: String,
    },
}

const SERVE_HELP: &str = "Test-mode routes (only with --test-mode; 404 otherwise):
  POST /_test/clock/advance   {\"seconds\": N}
  POST /_test/device/approve  {\"user_code\": \"...\"}
  POST /_test/device/deny     {\"user_code\": \"...\"}
  GET  /_test/authorize?<authorization request>[&decision=deny]
  GET  /_test/audit";

#[derive(Debug, Args)]
struct InitArgs {
    /// The server's issuer identifier (its metadata is looked for where RFC 8414 and
    /// OpenID Connect Discovery put it).
    #[arg(long, value_name = "ISSUER")]
    discover: String,
    /// Write the profile here instead of standard output (an existing file is kept).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Accept any TLS certificate (self-signed test servers only).
    #[arg(long)]
    insecure: bool,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Scenario files or folders (default: scenarios/).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct CoverageArgs {
    /// Scenario files or folders (default: scenarios/).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Also write the table as markdown to this file.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct MutateArgs {
    /// Scenario files or folders (default: scenarios/).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Only these faults (repeatable; default: all).
    #[arg(long = "fault", value_name = "NAME", value_parser = parse_fault)]
    faults: Vec<Fault>,
    /// Faulty servers at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    jobs: usize,
    /// Also write the matrix as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct LoadArgs {
    #[command(subcommand)]
    action: Option<LoadAction>,
    /// A built-in profile (device-polling, token-grants, stress) or a profile file
    /// (see scenarios/load/).
    #[arg(value_name = "PROFILE", required = true)]
    profile: Option<String>,
    /// Where to run: `builtin` (the reference server, in-process) or a target profile file
    /// (see fixtures/targets/).
    #[arg(long, default_value = "builtin")]
    target: String,
    /// Users (devices) instead of the profile's.
    #[arg(long, value_name = "N")]
    users: Option<usize>,
    /// Run time instead of the profile's, such as 30s or 2m.
    #[arg(long, value_name = "TIME", value_parser = parse_span)]
    run_time: Option<std::time::Duration>,
    /// Users started per second instead of the profile's.
    #[arg(long, value_name = "RATE")]
    increase_rate: Option<f64>,
    /// A rule added to the profile's, such as "p99 < 50ms for token" (repeatable).
    #[arg(long = "threshold", value_name = "RULE")]
    thresholds: Vec<String>,
    /// Report folder (default: reports/load/<profile>[-shard-I]).
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
    /// Run shard I of N: this process takes its share of the users (for N processes,
    /// e.g. a Kubernetes Indexed Job; join them with `load merge`).
    #[arg(long, value_name = "I/N", env = "OAUTH_HARNESS_SHARD", value_parser = parse_shard, default_value = "0/1")]
    shard: (usize, usize),
    /// No progress line on the terminal.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Debug, Subcommand)]
enum SnapshotAction {
    /// Remove the snapshots (and pending .snap.new files) that no scenario produces any more.
    Prune {
        /// Scenario files or folders (default: scenarios/).
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Keep the snapshots that `run --snapshot-all` produces too.
        #[arg(long)]
        snapshot_all: bool,
        /// Where snapshots live.
        #[arg(long, value_name = "DIR", default_value = "scenarios/__snapshots__")]
        snapshot_dir: PathBuf,
        /// Only list what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Accept every pending .snap.new (as `cargo insta accept` does).
    Accept {
        /// Where snapshots live.
        #[arg(long, value_name = "DIR", default_value = "scenarios/__snapshots__")]
        snapshot_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum LoadAction {
    /// Merge shard summaries (summary.json files) into one report and judge the
    /// thresholds on the merged figures.
    Merge {
        /// The shards' summary.json files.
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
        /// Report folder (default: reports/load/<profile>-merged).
        #[arg(long, value_name = "DIR")]
        report_dir: Option<PathBuf>,
        /// A rule added to those the shards were judged by (repeatable).
        #[arg(long = "threshold", value_name = "RULE")]
        thresholds: Vec<String>,
    },
    /// List the built-in profiles.
    List,
}

fn parse_span(s: &str) -> Result<std::time::Duration, String> {
    crate::load::profile::parse_span(s)
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{s}` is not a shard like 0/4 (index from 0, below the count)");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Scenario files or folders (default: scenarios/).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Where to run: `builtin` (the reference server, in-process, one per scenario) or a
    /// target profile file (see fixtures/targets/).
    #[arg(long, default_value = "builtin")]
    target: String,
    /// Switch a fault on in the built-in server (repeatable); see `serve --list-faults`.
    #[arg(long = "fault", value_name = "NAME", value_parser = parse_fault)]
    faults: Vec<Fault>,
    /// Accept any TLS certificate from the target (self-signed test servers only;
    /// overrides the profile's `tls.insecure`).
    #[arg(long)]
    insecure: bool,
    /// Also trust the CA certificates in this PEM file (overrides the profile's
    /// `tls.ca_file`).
    #[arg(long, value_name = "PEM")]
    ca_file: Option<String>,
    /// Run only scenarios with this tag (repeatable: any of them).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Run only scenarios that cite this requirement id (repeatable: any of them).
    #[arg(long = "requirement", value_name = "ID")]
    requirements: Vec<String>,
    /// Scenarios at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Folder for report.json and report.md.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    report_dir: PathBuf,
    /// Show every exchange of every poll.
    #[arg(long)]
    verbose: bool,
    /// The contract to hold the target to: `noorle` (the builtin's default) or `rfc` (a
    /// profile's default unless it says `contract: noorle`); NOORLE rows are skipped under `rfc`.
    #[arg(long, value_name = "CONTRACT")]
    expect: Option<crate::runner::profile::Contract>,
    /// Known deviations of the target (YAML list of {scenario, requirement?, step?, reason});
    /// listed failures, warnings and infos become XFAIL, and one that does not happen fails
    /// the run.
    #[arg(long, value_name = "FILE")]
    expected_failures: Option<PathBuf>,
    /// A WARNING (a SHOULD row not met) that no expected-failures entry lists fails the
    /// run (exit 4): with an expected-failures file, exactly the listed deviations pass.
    #[arg(long)]
    fail_on_warnings: bool,
    /// Response snapshots: `check` (compare, write nothing), `update` (also write
    /// `.snap.new` for review), `always` (overwrite `.snap`), `off`. Default: for the
    /// builtin, insta's rules (`INSTA_UPDATE`; `check` when `CI` is set, `update`
    /// otherwise); for a live target `check`, unless `--snapshot-dir` is given: a live run
    /// writes nothing into the checkout unless asked.
    #[arg(long, value_enum, value_name = "MODE")]
    snapshots: Option<crate::snapshot::Mode>,
    /// Snapshot every step that has a response, not only those with `snapshot:`.
    #[arg(long)]
    snapshot_all: bool,
    /// Where snapshots live, default scenarios/__snapshots__ (a live target's in a
    /// subfolder named after its profile).
    #[arg(long, value_name = "DIR")]
    snapshot_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Serve the /_test/ control API and let it move the clock.
    #[arg(long)]
    test_mode: bool,
    /// Switch a fault on (repeatable); see --list-faults.
    #[arg(long = "fault", value_name = "NAME", value_parser = parse_fault)]
    faults: Vec<Fault>,
    /// Clients, accounts and policy (default: the embedded fixtures/clients.yaml).
    #[arg(long, value_name = "FILE")]
    clients: Option<PathBuf>,
    /// Issuer identifier to advertise (default: http://<bound address>).
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// Device authorizations per client per minute before 429 (overrides the fixture).
    #[arg(long, value_name = "N")]
    device_rate_limit: Option<u32>,
    /// Run the server's clock N times faster than real time (load profiles with
    /// `time_scale: N` then obey intervals and lifetimes in server time, N times sooner).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    time_scale: u32,
    /// Print the fault switches with the requirement ids they break, then exit.
    #[arg(long)]
    list_faults: bool,
}

fn parse_fault(s: &str) -> Result<Fault, String> {
    Fault::from_name(s)
        .ok_or_else(|| format!("unknown fault '{s}' (see `oauth-harness serve --list-faults`)"))
}

/// Parses the command line and runs the command; the process's exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // clap exits 2 on usage errors; here 2 means "bad scenario file".
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::PASSED
            });
        }
    };
    match cli.command {
        Command::Serve(args) if args.list_faults => {
            out(&fault_table());
            ExitCode::from(exit::PASSED)
        }
        Command::Serve(args) => report(runtime().and_then(|rt| rt.block_on(serve(args)))),
        Command::Run(args) => run_scenarios(args),
        Command::List(args) => list_scenarios(args),
        Command::Mutate(args) => mutate(args),
        Command::Load(args) => load(args),
        Command::Snapshots { action } => snapshots(action),
        Command::Coverage(args) => coverage(args),
        Command::Init(args) => init(args),
        Command::Client(args) => client::client(args),
        Command::ScaledSleep { durations } => client::scaled_sleep(&durations),
        Command::Browse { url } => client::browse(&url),
        Command::Schema { client } => {
            out(&if client {
                crate::client::scenario::schema()
            } else {
                crate::scenario::syntax::schema()
            });
            ExitCode::from(exit::PASSED)
        }
        Command::Smoke => {
            match runtime().and_then(|rt| rt.block_on(crate::smoke::run(&mut std::io::stdout()))) {
                Ok(true) => ExitCode::from(exit::PASSED),
                Ok(false) => ExitCode::from(exit::ASSERTIONS_FAILED),
                Err(e) => report(Err(e)),
            }
        }
    }
}

/// Loads every scenario under `paths`; errors are printed and give the exit code.
fn load_all(paths: &[PathBuf]) -> Result<Vec<crate::scenario::Loaded>, ExitCode> {
    use crate::scenario::LoadAllError;
    crate::scenario::load_all(paths).map_err(|e| match e {
        LoadAllError::Paths(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::USAGE)
        }
        LoadAllError::Files(bad) => {
            for e in &bad {
                eprintln!("error: {e}");
            }
            eprintln!(
                "{} scenario file(s) could not be used; nothing was run.",
                bad.len()
            );
            ExitCode::from(exit::BAD_SCENARIO)
        }
    })
}

fn init(args: InitArgs) -> ExitCode {
    let issuer = args.discover.trim_end_matches('/').to_string();
    if let Some(out) = &args.out {
        if out.exists() {
            eprintln!("error: {} exists; not overwritten", out.display());
            return ExitCode::from(exit::USAGE);
        }
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return report(Err(e)),
    };
    let http = match reqwest::Client::builder()
        .danger_accept_invalid_certs(args.insecure)
        .timeout(std::time::Duration::from_secs(30))
        .build()
    {
        Ok(h) => h,
        Err(e) => return report(Err(anyhow::anyhow!("cannot build an HTTP client: {e}"))),
    };
    let meta = match rt.block_on(crate::runner::discovery::discover(&http, &issuer)) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    let text = crate::runner::discovery::starter_profile(&meta, &issuer);
    match &args.out {
        None => out(&text),
        Some(path) => {
            if let Err(e) = std::fs::write(path, &text) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::from(exit::RUNTIME);
            }
            outln(&format!(
                "wrote {} (fill in every CHANGE-ME)",
                path.display()
            ));
        }
    }
    ExitCode::from(exit::PASSED)
}

fn coverage(args: CoverageArgs) -> ExitCode {
    let loaded = match load_all(&args.paths) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let (rows, unknown) = crate::coverage::table(&loaded);
    let text = crate::coverage::markdown(&rows, &unknown);
    out(&text);
    if let Some(path) = &args.markdown {
        if let Err(e) = std::fs::write(path, &text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(exit::RUNTIME);
        }
    }
    if crate::coverage::uncovered_musts(&rows).is_empty() && unknown.is_empty() {
        ExitCode::from(exit::PASSED)
    } else {
        ExitCode::from(exit::ASSERTIONS_FAILED)
    }
}

fn mutate(args: MutateArgs) -> ExitCode {
    let loaded = match load_all(&args.paths) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let faults: Vec<Fault> = if args.faults.is_empty() {
        Fault::all().to_vec()
    } else {
        args.faults.clone()
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return report(Err(e)),
    };
    let scenarios = loaded.into_iter().map(std::sync::Arc::new).collect();
    let m = rt.block_on(crate::mutate::kill_matrix(scenarios, &faults, args.jobs));
    out(&crate::mutate::render(&m));
    if let Some(path) = &args.json {
        if let Err(e) = std::fs::write(path, serde_json::to_string_pretty(&m).unwrap_or_default()) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(exit::RUNTIME);
        }
    }
    if m.ok() {
        ExitCode::from(exit::PASSED)
    } else {
        ExitCode::from(exit::ASSERTIONS_FAILED)
    }
}

fn list_scenarios(args: ListArgs) -> ExitCode {
    let loaded = match load_all(&args.paths) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let width = loaded.iter().map(|l| l.path.len()).max().unwrap_or(0);
    for l in &loaded {
        let s = &l.scenario;
        outln(&format!(
            "{:<width$}  {}  [{}]{}",
            l.path,
            s.name,
            s.requirements.join(", "),
            if s.tags.is_empty() {
                String::new()
            } else {
                format!("  #{}", s.tags.join(" #"))
            }
        ));
    }
    outln(&format!("{} scenarios", loaded.len()));
    ExitCode::from(exit::PASSED)
}

fn run_scenarios(args: RunArgs) -> ExitCode {
    // Quiet unless asked (`OAUTH_HARNESS_LOG=oauth_harness=debug` shows every exchange);
    // the builtin server's own refusals are the run's verdicts, not log lines.
    init_logging_at("warn,oauth_harness::server=error");
    let target = match target_of(&args) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let selected = match selected_scenarios(&args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let opts = run_options(&args, target);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return report(Err(e)),
    };
    let expected = match &args.expected_failures {
        None => vec![],
        Some(p) => match crate::runner::expected::load(p) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: --expected-failures {e}");
                return ExitCode::from(exit::BAD_SCENARIO);
            }
        },
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
    let sources = selected
        .iter()
        .map(|l| (l.path.to_string(), l.source.clone()))
        .collect();
    finish(&result, &sources, args.verbose, &args.report_dir)
}

/// The target `run` is pointed at: the builtin with its faults, or a live profile with the
/// TLS options given on the command line (exit 1 or 2 when they are wrong).
fn target_of(args: &RunArgs) -> Result<crate::runner::target::TargetSpec, ExitCode> {
    use crate::runner::target::TargetSpec;
    if args.target == "builtin" {
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
    match crate::runner::profile::Profile::load(&path) {
        Ok(mut p) => {
            p.tls.insecure |= args.insecure;
            if let Some(ca) = &args.ca_file {
                p.tls.ca_file = Some(ca.clone());
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
fn selected_scenarios(
    args: &RunArgs,
) -> Result<Vec<std::sync::Arc<crate::scenario::Loaded>>, ExitCode> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        args.paths.clone()
    };
    let loaded = load_all(&paths)?;
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
    Ok(selected)
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
    }
}

/// Prints the run's console report (from the scenarios' `sources`, by path), writes the
/// report files into `dir` and gives the run's exit code (3 when the files cannot be written).
fn finish(
    result: &crate::runner::result::RunResult,
    sources: &std::collections::HashMap<String, String>,
    verbose: bool,
    dir: &std::path::Path,
) -> ExitCode {
    out(&crate::report::console::render_with(
        result,
        sources,
        verbose,
        crate::report::console::Paint(true),
    ));
    match crate::report::write_files(result, dir) {
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

/// Writes to standard output, in colour where `anstream` allows it (a terminal, no
/// `NO_COLOR`). A closed pipe (`… | head`) is not an error worth dying for: output stops.
fn out(text: &str) {
    use std::io::Write;
    let mut o = anstream::stdout();
    let _ = o.write_all(text.as_bytes()).and_then(|_| o.flush());
}

fn outln(text: &str) {
    out(&format!("{text}\n"));
}

fn report(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::from(exit::PASSED),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::RUNTIME)
        }
    }
}

/// The person at the terminal, for `manual` hooks: told on stderr, answering on stdin.
fn terminal() -> crate::runner::target::Person {
    crate::runner::target::Person::new(
        |what| eprintln!("oauth-harness: {what}"),
        |question| {
            eprintln!("oauth-harness: {question}");
            let mut line = String::new();
            match std::io::stdin().read_line(&mut line) {
                Ok(0) | Err(_) => None,
                Ok(_) => Some(line),
            }
        },
    )
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn init_logging() {
    init_logging_at("info");
}

/// Logs to stderr, filtered by `OAUTH_HARNESS_LOG` or `default`. It also takes the `log`
/// crate's records (goose's), so goose never prints its own log lines on stdout.
fn init_logging_at(default: &str) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("OAUTH_HARNESS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // cookie_store logs whole cookies (session credentials) at debug: never below warn,
    // whatever the environment asks.
    if let Ok(d) = "cookie_store=warn".parse() {
        filter = filter.add_directive(d);
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours for a terminal only: a log file or a CI log gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let mut config = match &args.clients {
        Some(path) => ServerConfig::from_file(path)?,
        None => ServerConfig::builtin(),
    };
    config.faults = args.faults.iter().copied().collect::<FaultSet>();
    config.test_mode = args.test_mode;
    config.issuer = args.issuer.clone();
    if let Some(n) = args.device_rate_limit {
        config.policy.device_authorizations_per_minute = n;
    }
    let faults = config.faults;
    let handle = crate::server::start(config, &args.addr, Clock::scaled(args.time_scale)).await?;
    outln(&format!(
        "oauth-harness reference server listening on {}",
        handle.base_url()
    ));
    if args.test_mode {
        outln("test mode: /_test/ control API enabled");
    }
    if args.time_scale > 1 {
        outln(&format!(
            "time scale: the clock runs {}x real time",
            args.time_scale
        ));
    }
    for f in faults.iter() {
        outln(&format!(
            "fault switch on: {} ({})",
            f.name(),
            f.requirements().join(", ")
        ));
    }
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")?;
    tracing::info!("shutting down");
    handle
        .shutdown()
        .await
        .context("server stopped with an error")?;
    Ok(())
}

fn load(args: LoadArgs) -> ExitCode {
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
    let target = if args.target == "builtin" {
        None
    } else {
        match crate::runner::profile::Profile::load(std::path::Path::new(&args.target)) {
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
        thresholds: args.thresholds,
        report_dir: args.report_dir,
        shard: args.shard,
        progress: !args.no_progress,
        person: terminal(),
    };
    let outcome = match runtime().map_err(|e| e.to_string()) {
        Ok(rt) => rt.block_on(crate::load::run(&opts)),
        Err(e) => Err(crate::load::LoadError::Runtime(e)),
    };
    match outcome {
        Ok(o) => {
            if o.steps.is_empty() {
                out(&crate::load::report::console(&o.summary));
            } else if let Ok(p) = crate::load::profile::load(&opts.profile) {
                out(&crate::load::report::stress_text(&p, &o, false));
            }
            let files: Vec<String> = o.files.iter().map(|f| f.display().to_string()).collect();
            outln(&format!("reports: {}", files.join(", ")));
            let broken: Vec<_> = o.summary.thresholds.iter().filter(|v| !v.passed).collect();
            if o.exit == exit::THRESHOLD_BREACHED {
                if o.steps.is_empty() {
                    for v in &broken {
                        eprintln!("threshold breached: {} (observed {})", v.rule, v.observed);
                    }
                } else {
                    eprintln!("threshold breached: the knee came before the required users");
                }
            }
            ExitCode::from(o.exit)
        }
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

fn snapshots(action: SnapshotAction) -> ExitCode {
    match action {
        SnapshotAction::Accept { snapshot_dir } => match crate::snapshot::accept(&snapshot_dir) {
            Ok(files) => {
                for f in &files {
                    outln(&format!("accepted {}", f.display()));
                }
                outln(&format!("{} snapshot(s) accepted", files.len()));
                ExitCode::from(exit::PASSED)
            }
            Err(e) => {
                eprintln!("error: {}: {e}", snapshot_dir.display());
                ExitCode::from(exit::RUNTIME)
            }
        },
        SnapshotAction::Prune {
            paths,
            snapshot_all,
            snapshot_dir,
            dry_run,
        } => {
            let loaded = match load_all(&paths) {
                Ok(l) => l,
                Err(code) => return code,
            };
            let keep = crate::snapshot::produced(&loaded, snapshot_all);
            let files = match crate::snapshot::prune(&snapshot_dir, &keep, dry_run) {
                Ok(f) => f,
                Err((path, e)) => {
                    eprintln!("error: {}: {e}", path.display());
                    return ExitCode::from(exit::RUNTIME);
                }
            };
            let verb = if dry_run { "would remove" } else { "removed" };
            for f in &files {
                outln(&format!("{verb} {}", f.display()));
            }
            let removed = files.len();
            outln(&format!(
                "{removed} unused snapshot file(s){}",
                if dry_run { " (dry run)" } else { "" }
            ));
            ExitCode::from(exit::PASSED)
        }
    }
}
