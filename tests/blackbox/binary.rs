//! The binary as a user runs it: `serve` as a separate process, exit codes, help texts.

use crate::common::read;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_oauth-harness");

/// `oauth-harness serve --addr 127.0.0.1:0 ARGS…`, its base URL read from its first line.
pub async fn spawn_serve(args: &[&str]) -> (Child, String) {
    spawn(args, Stdio::null(), None).await
}

/// Sends Ctrl-C (SIGINT) to `child` and waits for it: its exit code and its output.
pub fn interrupt(child: std::process::Child) -> (Option<i32>, String) {
    let sent = std::process::Command::new("sh")
        // The shell's own `kill`: no procps needed on a fresh machine.
        .args(["-c", &format!("kill -INT {}", child.id())])
        .status()
        .expect("kill");
    assert!(sent.success());
    let out = child.wait_with_output().expect("wait");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

/// Reads a child's stream line by line on a thread: a signal the first time a line holds
/// every one of `needles`, and at the end everything read. Tests wait for what a process
/// says it did, never for a guessed time.
pub fn watch_lines(
    stream: impl std::io::Read + Send + 'static,
    needles: &'static [&'static str],
) -> (
    std::sync::mpsc::Receiver<()>,
    std::thread::JoinHandle<String>,
) {
    use std::io::BufRead;
    let (seen, signal) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in std::io::BufReader::new(stream)
            .lines()
            .map_while(Result::ok)
        {
            if needles.iter().all(|n| line.contains(n)) {
                let _ = seen.send(());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    (signal, reader)
}

/// `serve` with trace logging: stderr goes to `log`, and stdout, line by line, to
/// `log` with `.stdout` appended.
pub async fn spawn_serve_logged(args: &[&str], log: &std::path::Path) -> (Child, String) {
    let file = std::fs::File::create(log).expect("log file");
    let mut out = log.as_os_str().to_owned();
    out.push(".stdout");
    spawn_teed(args, Stdio::from(file), Some("trace"), Some(out.into())).await
}

async fn spawn(args: &[&str], stderr: Stdio, level: Option<&str>) -> (Child, String) {
    spawn_teed(args, stderr, level, None).await
}

async fn spawn_teed(
    args: &[&str],
    stderr: Stdio,
    level: Option<&str>,
    stdout_copy: Option<std::path::PathBuf>,
) -> (Child, String) {
    let mut cmd = Command::new(BIN);
    if let Some(l) = level {
        cmd.env("OAUTH_HARNESS_LOG", l);
    }
    let mut child = cmd
        // Snapshots are compared, never written, whatever INSTA_UPDATE says.
        .env("INSTA_UPDATE", "no")
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn oauth-harness serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("serve prints its address")
        .expect("read")
        .expect("a line");
    let base = first.rsplit(' ').next().expect("url").to_string();
    // Keep reading, as a terminal would (and keep a copy when asked).
    let mut copy = stdout_copy.map(|p| {
        let mut f = std::fs::File::create(p).expect("stdout copy");
        use std::io::Write;
        let _ = writeln!(f, "{first}");
        f
    });
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(f) = copy.as_mut() {
                use std::io::Write;
                let _ = writeln!(f, "{line}");
            }
        }
    });
    assert!(base.starts_with("http://127.0.0.1:"), "{first}");
    (child, base)
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(BIN)
        // Snapshots are compared, never written, whatever INSTA_UPDATE says.
        .env("INSTA_UPDATE", "no")
        .args(args)
        // Help wraps at the terminal's width; without a terminal, at this one.
        .env("COLUMNS", "100")
        .output()
        .expect("run binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn exit_codes_and_help_texts() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("help", out);
    let (code, out, _) = run(&["serve", "--help"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("serve_help", out);
    let (code, out, _) = run(&["load", "--help"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("load_help", out);
    let (code, out, _) = run(&["client", "--help"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("client_help", out);
    let (code, out, _) = run(&["load", "list"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("load_list", out);
    let (code, out, _) = run(&["serve", "--list-faults"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("list_faults", out);
    let (code, _, err) = run(&["serve", "--fault", "nope"]);
    assert_eq!(code, 1, "usage errors exit 1");
    insta::assert_snapshot!("bad_fault", err);
    assert_eq!(run(&["no-such-command"]).0, 1);
    let reports = tempfile::tempdir().expect("tempdir");
    let dir = reports.path().to_str().expect("utf-8 path");
    let scenarios = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    let slow_down = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/device/slow_down.yaml"
    );
    let (code, out, _) = run(&["run", scenarios, "--report-dir", dir]);
    assert_eq!(code, 0, "{out}");
    assert!(
        reports.path().join("report.json").exists() && reports.path().join("report.md").exists()
    );
    let (code, out, _) = run(&[
        "run",
        slow_down,
        "--fault",
        "never-slow-down",
        "--report-dir",
        dir,
    ]);
    assert_eq!(code, 4, "assertions failed: {out}");
    assert!(
        out.contains("--> ") && out.contains("slow_down.yaml:"),
        "{out}"
    );
    let bad = reports.path().join("bad.yaml");
    std::fs::write(&bad, "name: x\nsteps:\n  - request: {endpoint: tokn}\n").expect("write");
    let (code, _, err) = run(&["run", bad.to_str().expect("path"), "--report-dir", dir]);
    assert_eq!(code, 2, "bad scenario file: {err}");
    assert!(err.contains("bad.yaml:3:"), "{err}");
    assert_eq!(run(&["run", "/no/such/scenarios"]).0, 1);
    assert_eq!(run(&["run", "--target", "https://example.com"]).0, 1);
    let (code, out, _) = run(&["smoke"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" passed, 0 failed"), "{out}");
    let (code, _, err) = run(&["serve", "--addr", "256.0.0.1:1"]);
    assert_eq!(code, 3, "a runtime error: {err}");
    assert!(err.contains("cannot listen on 256.0.0.1:1"), "{err}");
    let (code, _, err) = run(&["serve", "--clients", "/no/such/file.yaml"]);
    assert_eq!(code, 3);
    assert!(err.contains("/no/such/file.yaml"), "{err}");
}

#[tokio::test]
async fn serve_in_test_mode_runs_the_seed_bash_client_unchanged() {
    for tool in ["bash", "curl", "jq"] {
        assert!(
            std::process::Command::new("which")
                .arg(tool)
                .output()
                .is_ok_and(|o| o.status.success()),
            "{tool} is needed by this test (.ci/run installs it)"
        );
    }
    let (_server, base) = spawn_serve(&["--test-mode"]).await;
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(home.path().join(".noorle")).expect("mkdir");
    // The script sleeps `interval` seconds between polls; this `sleep` moves the server's
    // clock instead, so the run takes milliseconds and the server still sees 5-second gaps.
    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let shim = bin.join("sleep");
    std::fs::write(
        &shim,
        format!("#!/bin/sh\ncurl -s -X POST '{base}/_test/clock/advance' -H 'Content-Type: application/json' -d \"{{\\\"seconds\\\": $1}}\" >/dev/null\n"),
    )
    .expect("write shim");
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut script = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/noorle-cli-flow.sh"
        ))
        .env("NOORLE_API", &base)
        .env("HOME", home.path())
        .env("PATH", path)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("bash");
    let mut lines = BufReader::new(script.stdout.take().expect("stdout")).lines();
    let http = reqwest::Client::new();
    let mut transcript = Vec::new();
    let run = async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if let Some(code) = line.strip_prefix("Enter code: ") {
                let r = http
                    .post(format!("{base}/_test/device/approve"))
                    .json(&serde_json::json!({"user_code": code}))
                    .send()
                    .await
                    .expect("approve");
                assert_eq!(r.status().as_u16(), 200);
            }
            transcript.push(line);
        }
        script.wait().await.expect("exit status")
    };
    let status = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the script finishes");
    assert!(status.success(), "{transcript:?}");
    assert!(
        transcript.iter().any(|l| l == "✓ Authenticated!"),
        "{transcript:?}"
    );
    let token = std::fs::read_to_string(home.path().join(".noorle/token")).expect("token file");
    let me = read(
        http.get(format!("{base}/api/me"))
            .bearer_auth(token.trim())
            .send()
            .await
            .expect("api"),
    )
    .await;
    assert_eq!(me.status, 200);
    let audit = read(
        http.get(format!("{base}/_test/audit"))
            .send()
            .await
            .expect("audit"),
    )
    .await;
    assert_eq!(
        audit.body["clients"]["noorle-cli"]["early_polls"],
        serde_json::json!(0),
        "NOORLE-14: no CLIENT violation"
    );
}

#[test]
fn a_closed_stdout_is_not_a_panic_and_pipes_get_no_colour() {
    let reports = tempfile::tempdir().expect("tempdir");
    let scenarios = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    let mut child = std::process::Command::new(BIN)
        // Snapshots are compared, never written, whatever INSTA_UPDATE says.
        .env("INSTA_UPDATE", "no")
        .args(["run", scenarios, "--report-dir"])
        .arg(reports.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take()); // the reader goes away at once, like `| head -0`
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let (_, text, _) = run(&[
        "run",
        scenarios,
        "--report-dir",
        reports.path().to_str().expect("path"),
    ]);
    assert!(
        !text.contains('\u{1b}'),
        "no escape codes when stdout is not a terminal"
    );
}

#[test]
fn paths_may_be_glob_patterns_and_an_empty_match_is_an_error() {
    let reports = tempfile::tempdir().expect("tempdir");
    let dir = reports.path().to_str().expect("path");
    let pattern = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/**/slow_*.yaml");
    let (code, out, _) = run(&["run", pattern, "--report-dir", dir]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 scenarios against builtin"), "{out}");
    let (code, _, err) = run(&[
        "run",
        concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/**/nothing_*.yaml"),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("no file matches"), "{err}");
    // A pattern's wildcards do not reach into client scenarios; a pattern that names their
    // folder does.
    let root = env!("CARGO_MANIFEST_DIR");
    let found = |pattern: &str| {
        oauth_harness::scenario::discover(&[format!("{root}/{pattern}").into()]).expect("discover")
    };
    assert!(found("scenarios/**/*.yaml")
        .iter()
        .all(|p| !p.starts_with(format!("{root}/scenarios/clients"))));
    let clients = std::fs::read_dir(format!("{root}/scenarios/clients"))
        .expect("scenarios/clients")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        .count();
    assert!(clients > 0);
    assert_eq!(found("scenarios/clients/*.yaml").len(), clients);
}
