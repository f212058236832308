//! The command line's grammar: every subcommand and flag, as clap parses them.

use crate::exit;
use crate::server::faults::Fault;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Conformance and load testing for OAuth 2.0 authorization servers.
#[derive(Debug, Parser)]
#[command(name = "oauth-harness", version, after_help = exit::HELP)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Debug, Subcommand)]
pub(super) enum Command {
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
    /// The compatibility matrix: the matrix's rows × the real servers of
    /// `examples/targets/`, from their last runs' reports (`--check`: exit 4 when the file
    /// is not what the reports say).
    #[command(after_help = exit::HELP)]
    Compat(CompatArgs),
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
    Client(super::client::ClientArgs),
    /// Print a DPoP proof (RFC 9449 §4) for one request: for shell and curl clients, and
    /// for clients under `client --dpop` that cannot sign (the harness is on their PATH).
    DpopProof(super::client::DpopProofArgs),
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
pub(super) struct InitArgs {
    /// The server's issuer identifier (its metadata is looked for where RFC 8414 and
    /// OpenID Connect Discovery put it).
    #[arg(long, value_name = "ISSUER")]
    pub(super) discover: String,
    /// Write the profile here instead of standard output (an existing file is kept).
    #[arg(long, value_name = "FILE")]
    pub(super) out: Option<PathBuf>,
    /// Accept any TLS certificate (self-signed test servers only).
    #[arg(long)]
    pub(super) insecure: bool,
}

#[derive(Debug, Args)]
pub(super) struct ListArgs {
    /// Scenario files or folders (default: scenarios/).
    #[arg(value_name = "PATH")]
    pub(super) paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct CoverageArgs {
    /// Scenario files or folders (default: scenarios/).
    #[arg(value_name = "PATH")]
    pub(super) paths: Vec<PathBuf>,
    /// Also write the table as markdown to this file.
    #[arg(long, value_name = "FILE")]
    pub(super) markdown: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct CompatArgs {
    /// Example folders, each with an `expected-failures.yaml` (default: every one under
    /// examples/targets/).
    #[arg(value_name = "EXAMPLE")]
    pub(super) examples: Vec<PathBuf>,
    /// Where the examples' runs wrote their reports (`DIR/NAME/report.json`).
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub(super) reports: PathBuf,
    /// The markdown file to write (or to check).
    #[arg(long, value_name = "FILE", default_value = "docs/compatibility.md")]
    pub(super) out: PathBuf,
    /// Write nothing; exit 4 when the file differs from what the reports say.
    #[arg(long)]
    pub(super) check: bool,
}

#[derive(Debug, Args)]
pub(super) struct MutateArgs {
    /// Scenario files or folders (default: scenarios/).
    #[arg(value_name = "PATH")]
    pub(super) paths: Vec<PathBuf>,
    /// Only these faults (repeatable; default: all).
    #[arg(long = "fault", value_name = "NAME", value_parser = parse_fault)]
    pub(super) faults: Vec<Fault>,
    /// Faulty servers at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub(super) jobs: usize,
    /// Also write the matrix as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub(super) json: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(super) struct LoadArgs {
    #[command(subcommand)]
    pub(super) action: Option<LoadAction>,
    /// A built-in profile (device-polling, token-grants, stress) or a profile file
    /// (see scenarios/load/).
    #[arg(value_name = "PROFILE", required = true)]
    pub(super) profile: Option<String>,
    /// Where to run: `builtin` (the reference server, in-process) or a target profile file
    /// (see fixtures/targets/).
    #[arg(long, default_value = "builtin")]
    pub(super) target: String,
    /// Users (devices) instead of the profile's.
    #[arg(long, value_name = "N")]
    pub(super) users: Option<usize>,
    /// Run time instead of the profile's, such as 30s or 2m.
    #[arg(long, value_name = "TIME", value_parser = parse_span)]
    pub(super) run_time: Option<std::time::Duration>,
    /// Users started per second instead of the profile's.
    #[arg(long, value_name = "RATE")]
    pub(super) increase_rate: Option<f64>,
    /// The open model: start flows at this rate (2000/s, 120/m) for the run time,
    /// whatever the server's latency, instead of looping users.
    #[arg(long, value_name = "RATE", conflicts_with_all = ["ramp", "users", "increase_rate"],
          value_parser = parse_rate)]
    pub(super) arrival_rate: Option<String>,
    /// The open model with a linear ramp of arrival rates: "100/s..2000/s over 30s".
    #[arg(long, value_name = "R1..R2 over T", conflicts_with_all = ["users", "increase_rate"],
          value_parser = parse_ramp)]
    pub(super) ramp: Option<String>,
    /// The open model: flows in flight at most; an arrival beyond is dropped and
    /// counted (default: the profile's, else 10000).
    #[arg(long, value_name = "N")]
    pub(super) max_in_flight: Option<usize>,
    /// A rule added to the profile's, such as "p99 < 50ms for token" (repeatable).
    #[arg(long = "threshold", value_name = "RULE")]
    pub(super) thresholds: Vec<String>,
    /// Report folder (default: reports/load/<profile>[-shard-I]).
    #[arg(long, value_name = "DIR")]
    pub(super) report_dir: Option<PathBuf>,
    /// Run shard I of N: this process takes its share of the users (for N processes,
    /// e.g. a Kubernetes Indexed Job; join them with `load merge`).
    #[arg(long, value_name = "I/N", env = "OAUTH_HARNESS_SHARD", value_parser = parse_shard, default_value = "0/1")]
    pub(super) shard: (usize, usize),
    /// No progress line on the terminal.
    #[arg(long)]
    pub(super) no_progress: bool,
    /// Serve the live figures for Prometheus to scrape at http://ADDR/metrics while the
    /// run goes (request counts and errors, latency quantiles, outcomes).
    #[arg(long, value_name = "ADDR")]
    pub(super) metrics_addr: Option<std::net::SocketAddr>,
    /// Push the live figures every 2 s (and once at the end) to this Prometheus
    /// remote-write endpoint, e.g. http://127.0.0.1:9090/api/v1/write.
    #[arg(long, value_name = "URL", value_parser = parse_http_url)]
    pub(super) prometheus_remote_write: Option<String>,
    #[command(flatten)]
    pub(super) given: VarArgs,
}

fn parse_rate(s: &str) -> Result<String, String> {
    match crate::load::open::Arrivals::parse_rate(s)? {
        r if r > 0.0 => Ok(s.to_string()),
        _ => Err("an arrival rate must be above 0".into()),
    }
}

fn parse_ramp(s: &str) -> Result<String, String> {
    crate::load::open::Arrivals::parse_ramp(s).map(|_| s.to_string())
}

fn parse_http_url(s: &str) -> Result<String, String> {
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(s.to_string()),
        Ok(u) => Err(format!("`{}` is not http or https", u.scheme())),
        Err(e) => Err(format!("not a URL: {e}")),
    }
}

#[derive(Debug, Subcommand)]
pub(super) enum SnapshotAction {
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
pub(super) enum LoadAction {
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

/// Variables and secrets for `${NAME}` in scenarios and target profiles.
#[derive(Debug, Clone, Default, Args)]
pub(super) struct VarArgs {
    /// Set `${NAME}` for scenarios and target profiles (repeatable). Precedence, highest
    /// first: --var, OAUTH_HARNESS_VAR_NAME, --secrets-file, --vars-file.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub(super) vars: Vec<String>,
    /// Variables from a file: YAML (.yaml, .yml, .json: a mapping of names to values) or
    /// dotenv (NAME=value lines) (repeatable; a later file wins).
    #[arg(long = "vars-file", value_name = "FILE")]
    pub(super) vars_files: Vec<PathBuf>,
    /// Secrets from a file (the same forms): `${NAME}` values redacted from every output,
    /// whichever source sets them (repeatable).
    #[arg(long = "secrets-file", value_name = "FILE")]
    pub(super) secrets_files: Vec<PathBuf>,
}

impl VarArgs {
    /// The variables from every source, or the exit code after saying why not.
    pub(super) fn gather(&self) -> Result<crate::scenario::inputs::Inputs, std::process::ExitCode> {
        use crate::scenario::inputs::{Inputs, Sources};
        let sources = Sources {
            vars: &self.vars,
            vars_files: &self.vars_files,
            secrets_files: &self.secrets_files,
        };
        Inputs::gather(&sources, std::env::vars()).map_err(|e| {
            eprintln!("error: {e}");
            std::process::ExitCode::from(e.exit_code())
        })
    }
}

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// Scenario files or folders (default: scenarios/).
    #[arg(value_name = "PATH")]
    pub(super) paths: Vec<PathBuf>,
    /// Where to run: `builtin` (the reference server, in-process, one per scenario) or a
    /// target profile file (see fixtures/targets/).
    #[arg(long, default_value = "builtin")]
    pub(super) target: String,
    /// Switch a fault on in the built-in server (repeatable); see `serve --list-faults`.
    #[arg(long = "fault", value_name = "NAME", value_parser = parse_fault)]
    pub(super) faults: Vec<Fault>,
    /// Accept any TLS certificate from the target (self-signed test servers only;
    /// overrides the profile's `tls.insecure`).
    #[arg(long)]
    pub(super) insecure: bool,
    /// Also trust the CA certificates in this PEM file (overrides the profile's
    /// `tls.ca_file`).
    #[arg(long, value_name = "PEM")]
    pub(super) ca_file: Option<String>,
    /// Run only scenarios with this tag (repeatable: any of them).
    #[arg(long = "tag", value_name = "TAG")]
    pub(super) tags: Vec<String>,
    /// Run only scenarios that cite this requirement id (repeatable: any of them).
    #[arg(long = "requirement", value_name = "ID")]
    pub(super) requirements: Vec<String>,
    /// Scenarios at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub(super) jobs: Option<usize>,
    /// Folder for report.json, junit.xml, report.md and report.tap.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub(super) report_dir: PathBuf,
    /// Also write the TAP 14 report here (one test point per assertion).
    #[arg(long, value_name = "FILE")]
    pub(super) report_tap: Option<PathBuf>,
    /// Also write the HTML report here (the matrix row by row, one self-contained file).
    #[arg(long, value_name = "FILE")]
    pub(super) report_html: Option<PathBuf>,
    #[command(flatten)]
    pub(super) given: VarArgs,
    /// Show every exchange of every poll.
    #[arg(long)]
    pub(super) verbose: bool,
    /// The contract to hold the target to: `noorle` (the builtin's default), `rfc` (a
    /// profile's default unless it says `contract:`) or `oauth21` (the RFCs with OAuth 2.1's
    /// levels, matrix §22); NOORLE rows are judged only under `noorle`, OAUTH21 rows only
    /// under `oauth21`.
    #[arg(long, value_name = "CONTRACT")]
    pub(super) expect: Option<crate::runner::profile::Contract>,
    /// What a rotated refresh token's reuse means on a live target, overriding its
    /// profile's `rt_reuse`: `strict`, `grace:<seconds>` (a reuse window it documents:
    /// RACE-5…8 run) or `bound` (matrix §23).
    #[arg(long, value_name = "POLICY")]
    pub(super) rt_reuse: Option<crate::runner::profile::RtReuse>,
    /// Where a live target demands DPoP nonces, overriding its profile's `dpop_nonce`:
    /// `none`, `as` (token endpoint and PAR), `rs` (resources) or `both` (RFC 9449 §8, §9).
    #[arg(long, value_enum, value_name = "WHERE", hide_possible_values = true)]
    pub(super) dpop_nonce: Option<crate::server::dpop::NoncePolicy>,
    /// Known deviations of the target (YAML list of {scenario, requirement?, step?, reason});
    /// listed failures, warnings and infos become XFAIL, and one that does not happen fails
    /// the run. Repeatable: the lists are joined (a server's deviations from the RFCs, and
    /// from OAuth 2.1 apart).
    #[arg(long, value_name = "FILE")]
    pub(super) expected_failures: Vec<PathBuf>,
    /// A WARNING (a SHOULD row not met) that no expected-failures entry lists fails the
    /// run (exit 4): with an expected-failures file, exactly the listed deviations pass.
    #[arg(long)]
    pub(super) fail_on_warnings: bool,
    /// Response snapshots: `check` (compare, write nothing), `update` (also write
    /// `.snap.new` for review), `always` (overwrite `.snap`), `off`. Default: for the
    /// builtin, insta's rules (`INSTA_UPDATE`; `check` when `CI` is set, `update`
    /// otherwise); for a live target `check`, unless `--snapshot-dir` is given: a live run
    /// writes nothing into the checkout unless asked.
    #[arg(long, value_enum, value_name = "MODE")]
    pub(super) snapshots: Option<crate::snapshot::Mode>,
    /// Snapshot every step that has a response, not only those with `snapshot:`.
    #[arg(long)]
    pub(super) snapshot_all: bool,
    /// Where snapshots live, default scenarios/__snapshots__ (a live target's in a
    /// subfolder named after its profile).
    #[arg(long, value_name = "DIR")]
    pub(super) snapshot_dir: Option<PathBuf>,
    /// `github`: after the console report, a GitHub Actions annotation per FAILED
    /// assertion (`::error`) and WARNING (`::warning`) at its scenario line, and the
    /// markdown summary appended to `$GITHUB_STEP_SUMMARY`. Default: `github` when
    /// `GITHUB_ACTIONS=true`, else `console`.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(super) format: Option<Format>,
}

/// How a run reports on the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Format {
    /// The console report only.
    Console,
    /// The console report, then GitHub Actions workflow commands.
    Github,
}

impl Format {
    /// `format`, or what the environment says: GitHub Actions sets `GITHUB_ACTIONS=true`.
    pub(super) fn or_from_env(format: Option<Format>) -> Format {
        format.unwrap_or_else(|| {
            if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
                Format::Github
            } else {
                Format::Console
            }
        })
    }
}

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(super) addr: String,
    /// Serve the /_test/ control API and let it move the clock.
    #[arg(long)]
    pub(super) test_mode: bool,
    /// Switch a fault on (repeatable); see --list-faults.
    #[arg(long = "fault", value_name = "NAME", value_parser = parse_fault)]
    pub(super) faults: Vec<Fault>,
    /// Clients, accounts and policy (default: the embedded fixtures/clients.yaml).
    #[arg(long, value_name = "FILE")]
    pub(super) clients: Option<PathBuf>,
    /// Issuer identifier to advertise (default: http://<bound address>).
    #[arg(long, value_name = "URL")]
    pub(super) issuer: Option<String>,
    /// Device authorizations per client per minute before 429 (overrides the fixture).
    #[arg(long, value_name = "N")]
    pub(super) device_rate_limit: Option<u32>,
    /// Run the server's clock N times faster than real time (load profiles with
    /// `time_scale: N` then obey intervals and lifetimes in server time, N times sooner).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(super) time_scale: u32,
    /// Follow OAuth 2.1's rules (draft-ietf-oauth-v2-1-16, matrix §22): the server a
    /// profile with `contract: oauth21` (or `run --expect oauth21`) holds to them.
    #[arg(long)]
    pub(super) oauth21: bool,
    /// Accept a rotated-out refresh token for S seconds after its rotation (matrix §23: a
    /// deviation some servers document; a profile says `rt_reuse: grace:S`). Only the
    /// token rotated out last, answered with the one that replaced it.
    #[arg(long, value_name = "S")]
    pub(super) refresh_token_grace: Option<u64>,
    /// Demand DPoP nonces (RFC 9449 §8, §9): `none`, at the token endpoint and PAR (`as`),
    /// at the protected resource (`rs`) or `both`; a profile says `dpop_nonce:` the same.
    #[arg(
        long,
        value_enum,
        value_name = "WHERE",
        default_value = "none",
        hide_possible_values = true
    )]
    pub(super) dpop_nonce: crate::server::dpop::NoncePolicy,
    /// Print the fault switches with the requirement ids they break, then exit.
    #[arg(long)]
    pub(super) list_faults: bool,
}

fn parse_fault(s: &str) -> Result<Fault, String> {
    Fault::from_name(s)
        .ok_or_else(|| format!("unknown fault '{s}' (see `oauth-harness serve --list-faults`)"))
}
