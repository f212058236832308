//! The command line: flags are parsed into a validated configuration here, then handed to
//! the library; nothing below this layer prints or exits.

mod args;
mod client;
mod load;
mod run;

use crate::clock::Clock;
use crate::exit;
use crate::server::config::ServerConfig;
use crate::server::faults::{fault_table, Fault, FaultSet};
use anyhow::Context;
use args::{
    Cli, Command, CompatArgs, CoverageArgs, InitArgs, ListArgs, MutateArgs, ServeArgs,
    SnapshotAction,
};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

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
        Command::Run(args) => run::run_scenarios(args),
        Command::List(args) => list_scenarios(args),
        Command::Mutate(args) => mutate(args),
        Command::Load(args) => load::load(args),
        Command::Snapshots { action } => snapshots(action),
        Command::Coverage(args) => coverage(args),
        Command::Compat(args) => compat(args),
        Command::Init(args) => init(args),
        Command::Client(args) => client::client(args),
        Command::DpopProof(args) => client::dpop_proof(args),
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
/// The scenario files under `paths`, with the variables that `OAUTH_HARNESS_VAR_*` gives
/// (the commands that run nothing take no `--var`).
fn load_all(paths: &[PathBuf]) -> Result<Vec<crate::scenario::Loaded>, ExitCode> {
    let given = args::VarArgs::default().gather()?;
    load_all_with(paths, &given)
}

/// The scenario files under `paths`, `${NAME}` checked against `given`.
fn load_all_with(
    paths: &[PathBuf],
    given: &crate::scenario::inputs::Inputs,
) -> Result<Vec<crate::scenario::Loaded>, ExitCode> {
    use crate::scenario::LoadAllError;
    crate::scenario::load_all(paths, given).map_err(|e| match e {
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

fn compat(args: CompatArgs) -> ExitCode {
    let examples = if args.examples.is_empty() {
        let mut found: Vec<std::path::PathBuf> = std::fs::read_dir("examples/targets")
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.join("expected-failures.yaml").is_file())
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        found
    } else {
        args.examples.clone()
    };
    if examples.is_empty() {
        eprintln!(
            "error: no example folder with an expected-failures.yaml (give them as arguments)"
        );
        return ExitCode::from(exit::USAGE);
    }
    let mut servers = Vec::new();
    for e in &examples {
        match crate::compat::read(e, &args.reports) {
            Ok(s) => servers.extend(s),
            Err(m) => {
                eprintln!("error: {m}");
                return ExitCode::from(exit::RUNTIME);
            }
        }
    }
    let text = crate::compat::markdown(&crate::compat::server_rows(), &servers);
    if args.check {
        let current = std::fs::read_to_string(&args.out).unwrap_or_default();
        if current == text {
            out(&format!("{} is current\n", args.out.display()));
            return ExitCode::from(exit::PASSED);
        }
        eprintln!(
            "error: {} is not what the examples' reports say; run `oauth-harness compat --out {}` and commit it",
            args.out.display(),
            args.out.display()
        );
        for d in similar::TextDiff::from_lines(&current, &text)
            .unified_diff()
            .context_radius(1)
            .iter_hunks()
            .take(5)
        {
            eprint!("{d}");
        }
        return ExitCode::from(exit::ASSERTIONS_FAILED);
    }
    if let Err(e) = std::fs::write(&args.out, &text) {
        eprintln!("error: cannot write {}: {e}", args.out.display());
        return ExitCode::from(exit::RUNTIME);
    }
    out(&format!("wrote {}\n", args.out.display()));
    ExitCode::from(exit::PASSED)
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
    if args.oauth21 {
        config.policy.follow_oauth21();
    }
    if args.refresh_token_grace.is_some() {
        config.policy.refresh_token_grace = args.refresh_token_grace;
    }
    config.policy.dpop_nonce = args.dpop_nonce;
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
