//! The command line: flags are parsed into a validated configuration here, then handed to
//! the library; nothing below this layer prints or exits.

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
    /// Run conformance scenarios (not yet available: see issue #4).
    Run,
    /// Start the built-in server in-process and drive every grant through it once.
    #[command(after_help = exit::HELP)]
    Smoke,
}

const SERVE_HELP: &str = "Test-mode routes (only with --test-mode; 404 otherwise):
  POST /_test/clock/advance   {\"seconds\": N}
  POST /_test/device/approve  {\"user_code\": \"...\"}
  POST /_test/device/deny     {\"user_code\": \"...\"}
  GET  /_test/authorize?<authorization request>[&decision=deny]
  GET  /_test/audit";

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
            print!("{}", fault_table());
            ExitCode::from(exit::PASSED)
        }
        Command::Serve(args) => report(runtime().and_then(|rt| rt.block_on(serve(args)))),
        Command::Run => {
            eprintln!("oauth-harness run: the scenario runner is not available yet (issue #4); use `oauth-harness smoke`.");
            ExitCode::from(exit::USAGE)
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

fn report(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::from(exit::PASSED),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::RUNTIME)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OAUTH_HARNESS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
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
    let handle = crate::server::start(config, &args.addr, Clock::system()).await?;
    println!(
        "oauth-harness reference server listening on {}",
        handle.base_url()
    );
    if args.test_mode {
        println!("test mode: /_test/ control API enabled");
    }
    for f in faults.iter() {
        println!(
            "fault switch on: {} ({})",
            f.name(),
            f.requirements().join(", ")
        );
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
