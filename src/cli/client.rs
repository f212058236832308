//! `oauth-harness client [SCENARIO…] -- COMMAND [ARGS…]`, and the scaled `sleep` its
//! clients find on their `PATH`.

use super::{init_logging_at, runtime};
use crate::client::run::OpenUrlFrom;
use crate::exit;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(super) struct ClientArgs {
    /// Client scenario files or folders (default: scenarios/clients/).
    #[arg(value_name = "SCENARIO")]
    paths: Vec<PathBuf>,
    /// The server's clock runs this many times real time (a 5-second interval passes in
    /// 5/N s; a `sleep` on the client's PATH sleeps the scaled time). 1 for real time.
    #[arg(long, value_name = "N", default_value_t = 20)]
    time_scale: u32,
    /// Where a redirect-based client's authorization URL comes from: `browser`, the
    /// client runs `$BROWSER URL` (the harness's browser); `stdout`, the client prints it
    /// (no `BROWSER` is set).
    #[arg(long, value_name = "FROM", value_enum, default_value_t = OpenUrlFrom::Browser)]
    open_url_from: OpenUrlFrom,
    /// Folder for report.json, junit.xml and report.md.
    #[arg(long, value_name = "DIR", default_value = "reports/client")]
    report_dir: PathBuf,
    /// Known deviations of the client (the format of `run --expected-failures`: a YAML list
    /// of {scenario, requirement?, step?, reason}); listed failures, warnings and infos
    /// become XFAIL, and one that does not happen fails the run. Repeatable.
    #[arg(long, value_name = "FILE")]
    expected_failures: Vec<PathBuf>,
    /// A WARNING that no expected-failures entry lists fails the run (exit 4).
    #[arg(long)]
    fail_on_warnings: bool,
    /// The client signs DPoP proofs (RFC 9449) when `OAUTH_HARNESS_DPOP=1` is set: the
    /// scenarios whose server demands DPoP judge it. Without, they are SKIPPED.
    #[arg(long)]
    dpop: bool,
    /// The client: a command and its arguments, after `--`; `{base}` is replaced by the
    /// server's URL.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// Loads the client scenarios under `paths`; bad files are printed (exit 2).
fn load(paths: &[PathBuf]) -> Result<Vec<crate::client::scenario::LoadedClient>, ExitCode> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("scenarios/clients")]
    } else {
        paths.to_vec()
    };
    let files = crate::scenario::discover(&paths).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(exit::USAGE)
    })?;
    let (mut loaded, mut bad) = (Vec::new(), 0);
    for f in files.iter().filter(|f| !f.ends_with("client.schema.json")) {
        match crate::client::scenario::load(f) {
            Ok(l) => loaded.push(l),
            Err(e) => {
                bad += 1;
                eprintln!("error: {e}");
            }
        }
    }
    if bad > 0 {
        eprintln!("{bad} client scenario file(s) could not be used; nothing was run.");
        return Err(ExitCode::from(exit::BAD_SCENARIO));
    }
    if loaded.is_empty() {
        eprintln!("error: no client scenario found");
        return Err(ExitCode::from(exit::USAGE));
    }
    Ok(loaded)
}

pub(super) fn client(args: ClientArgs) -> ExitCode {
    init_logging_at("warn,oauth_harness::server=error");
    if args.time_scale == 0 {
        eprintln!("error: --time-scale is at least 1");
        return ExitCode::from(exit::USAGE);
    }
    let loaded = match load(&args.paths) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let expected = match super::run::expected_failures(args.expected_failures.as_slice()) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let opts = crate::client::run::ClientOptions {
        command: args.command,
        time_scale: args.time_scale,
        harness_bin: std::env::current_exe().ok(),
        open_url_from: args.open_url_from,
        dpop: args.dpop,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return super::report(Err(e)),
    };
    let mut result = rt.block_on(crate::client::run_all(&loaded, &opts));
    if !expected.is_empty() {
        crate::runner::expected::apply(&mut result, &expected);
    }
    if args.fail_on_warnings {
        result.fail_on_warnings();
    }
    let copies = crate::report::Copies {
        sources: loaded
            .iter()
            .map(|l| (l.path.to_string(), l.source.clone()))
            .collect(),
        // The server's rows are judged by `run`, not here: "not run", never "not covered".
        judged: crate::coverage::requirements()
            .into_iter()
            .map(|r| r.id)
            .collect(),
        ..Default::default()
    };
    let format = super::args::Format::or_from_env(None);
    super::run::finish(&result, true, (&args.report_dir, &copies), format)
}

#[derive(Debug, Args)]
pub(super) struct DpopProofArgs {
    /// The key that signs: `J` or `J2` (the fixture keys), or a file holding a private
    /// JWK (EC P-256, Ed25519 or RSA).
    #[arg(long, value_name = "J|J2|FILE", default_value = "J")]
    key: String,
    /// The request's method (`htm`).
    #[arg(long, value_name = "METHOD", default_value = "POST")]
    htm: String,
    /// The request's URL (`htu`: its query and fragment are left out).
    #[arg(long, value_name = "URL")]
    htu: String,
    /// The nonce the server gave in `DPoP-Nonce` (§8, §9); it may begin with `-`.
    #[arg(long, value_name = "NONCE", allow_hyphen_values = true)]
    nonce: Option<String>,
    /// The environment variable that holds the access token the request presents (its
    /// hash goes in `ath`, §4.2); a token is never taken on the command line.
    #[arg(long, value_name = "VAR")]
    ath_of_env: Option<String>,
}

/// `dpop-proof`: one proof on standard output, dated by this machine's clock. A key that
/// cannot sign is exit 2, a missing variable exit 1; neither quotes a secret.
pub(super) fn dpop_proof(args: DpopProofArgs) -> ExitCode {
    use crate::keys::{fixture_key, KeyName};
    let key = match args.key.as_str() {
        "J" => fixture_key(KeyName::J),
        "J2" => fixture_key(KeyName::J2),
        path => match std::fs::read_to_string(path) {
            Ok(text) => crate::jose::SigningKey::from_jwk(&text).map(std::sync::Arc::new),
            Err(e) => {
                eprintln!("error: cannot read the key {path}: {e}");
                return ExitCode::from(exit::USAGE);
            }
        },
    };
    let key = match key {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: the key {}: {e}", args.key);
            return ExitCode::from(exit::BAD_SCENARIO);
        }
    };
    let token = match &args.ath_of_env {
        None => None,
        Some(var) => match std::env::var(var) {
            Ok(t) if !t.is_empty() => Some(t),
            _ => {
                eprintln!("error: --ath-of-env {var}: the variable is not set");
                return ExitCode::from(exit::USAGE);
            }
        },
    };
    let iat = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let claims = crate::dpop::Claims {
        htm: &args.htm,
        htu: &args.htu,
        iat,
        nonce: args.nonce.as_deref(),
        access_token: token.as_deref(),
    };
    match crate::dpop::proof(&key, &claims) {
        Ok(p) => {
            println!("{p}");
            ExitCode::from(exit::PASSED)
        }
        Err(e) => {
            eprintln!("error: cannot sign: {e}");
            ExitCode::from(exit::RUNTIME)
        }
    }
}

/// `scaled-sleep DURATION…`: coreutils' `sleep` (numbers with an optional s, m, h or d
/// suffix, summed) divided by `OAUTH_HARNESS_TIME_SCALE`.
pub(super) fn scaled_sleep(args: &[String]) -> ExitCode {
    let scale: f64 = std::env::var("OAUTH_HARNESS_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| *s >= 1.0)
        .unwrap_or(1.0);
    let mut total = 0.0;
    for a in args {
        let (number, unit) = match a.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => (&a[..i], c),
            _ => (a.as_str(), 's'),
        };
        let factor = match unit {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            'd' => 86400.0,
            _ => {
                eprintln!("sleep: invalid time interval '{a}'");
                return ExitCode::from(1);
            }
        };
        match number.parse::<f64>() {
            Ok(n) if n >= 0.0 => total += n * factor,
            _ => {
                eprintln!("sleep: invalid time interval '{a}'");
                return ExitCode::from(1);
            }
        }
    }
    let real = std::time::Duration::from_secs_f64(total / scale);
    // `oauth-harness client` reads the naps to know the client's waits were scaled.
    if let Some(log) = std::env::var_os("OAUTH_HARNESS_SLEEP_LOG") {
        crate::client::pace::log_nap(std::path::Path::new(&log), real);
    }
    std::thread::sleep(real);
    ExitCode::SUCCESS
}

/// `browse URL`: the harness's browser, as a client's `$BROWSER` runs it (its part from the
/// environment the client inherited); one line on what it did, exit 0, or 3 when the visit
/// failed.
pub(super) fn browse(url: &str) -> ExitCode {
    let part = match crate::client::browser::Browse::from_env() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("oauth-harness browser: {e} (run by `oauth-harness client` only)");
            return ExitCode::from(exit::USAGE);
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return super::report(Err(e)),
    };
    match rt.block_on(crate::client::browser::visit(&part, url)) {
        Ok(done) => {
            eprintln!("oauth-harness browser: {done}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("oauth-harness browser: error: {e}");
            ExitCode::from(exit::RUNTIME)
        }
    }
}
