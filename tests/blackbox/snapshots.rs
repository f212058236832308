//! Response snapshots: the builtin suite's own snapshots regression-tested with insta, a
//! changed response caught with a readable diff that names the scenario line, secrets kept
//! out of every file, byte-identical reruns, update → accept → check, CI never writing,
//! per-target sets, and prune.

use oauth_harness::runner::profile::Profile;
use oauth_harness::runner::result::{RunResult, Status};
use oauth_harness::runner::target::TargetSpec;
use oauth_harness::runner::{run, RunOptions};
use oauth_harness::scenario::{discover, load_str, Loaded};
use oauth_harness::server::faults::Fault;
use oauth_harness::snapshot::{Mode, Settings};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/__snapshots__");
const BIN: &str = env!("CARGO_BIN_EXE_oauth-harness");

fn suite() -> Vec<Arc<Loaded>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = discover(&[root.join("scenarios")]).expect("scenarios");
    files
        .iter()
        .map(|f| {
            // Paths as the CLI sees them from the repository root.
            let rel = f.strip_prefix(root).unwrap_or(f).display().to_string();
            let text = std::fs::read_to_string(f).expect("read");
            Arc::new(load_str(Arc::from(rel), text).unwrap_or_else(|e| panic!("{e}")))
        })
        .collect()
}

fn opts(faults: &[Fault], mode: Mode, dir: &Path, all: bool) -> RunOptions {
    RunOptions {
        snapshots: Some(Settings {
            mode,
            dir: dir.to_path_buf(),
            all,
        }),
        ..crate::common::run_options(crate::common::builtin(faults))
    }
}

fn snapshot_failures(r: &RunResult) -> Vec<(String, String)> {
    r.scenarios
        .iter()
        .flat_map(|s| &s.steps)
        .flat_map(|st| &st.assertions)
        .filter(|a| a.description.starts_with("snapshot") && a.status != Status::Passed)
        .map(|a| (a.loc.to_string(), a.actual.clone()))
        .collect()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

#[tokio::test]
async fn the_builtin_suites_snapshots_hold_and_insta_agrees() {
    let r = run(suite(), &opts(&[], Mode::Check, Path::new(SHIPPED), false)).await;
    assert_eq!(snapshot_failures(&r), vec![], "stored snapshots differ");
    let records: Vec<_> = r
        .scenarios
        .iter()
        .flat_map(|s| &s.steps)
        .filter_map(|st| st.snapshot.clone())
        .collect();
    assert!(records.len() >= 25, "{} snapshots", records.len());
    // The same files through insta, so `cargo insta review` is the workflow for them.
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../scenarios/__snapshots__");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for rec in &records {
            let name = Path::new(&rec.file)
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".snap"))
                .expect("a .snap name")
                .to_string();
            insta::assert_snapshot!(name, rec.content);
        }
    });
}

#[tokio::test]
async fn a_changed_response_fails_with_a_diff_that_names_the_scenario_line() {
    let r = run(
        suite(),
        &opts(
            &[Fault::GenericErrorDescriptions],
            Mode::Check,
            Path::new(SHIPPED),
            false,
        ),
    )
    .await;
    let failures = snapshot_failures(&r);
    let (loc, diff) = failures
        .iter()
        .find(|(loc, _)| loc.starts_with("scenarios/noorle/documented_errors.yaml"))
        .cloned()
        .unwrap_or_else(|| panic!("no snapshot failure in documented_errors: {failures:#?}"));
    let first = r
        .scenarios
        .iter()
        .find(|s| s.file.ends_with("noorle/documented_errors.yaml"))
        .and_then(|s| s.steps.iter().find(|st| st.status == Status::Failed))
        .expect("a failed step");
    assert_eq!(first.status, Status::Failed);
    insta::assert_snapshot!("changed_response_diff", format!("{loc}\n{diff}"));
}

/// Values that must never be written: the fixture's secrets and passwords.
const FIXTURE_SECRETS: [&str; 9] = [
    "web-secret",
    "web2-secret",
    "parc-secret",
    "csj-secret-0123456789abcdef0123456789abcdef",
    "m2m-secret",
    "tv-secret",
    "multi-secret",
    "alice-password",
    "bob-password",
];

#[tokio::test]
async fn every_snapshot_of_every_step_is_free_of_secrets_and_identical_on_a_rerun() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let ra = run(suite(), &opts(&[], Mode::Always, a.path(), true)).await;
    let rb = run(suite(), &opts(&[], Mode::Always, b.path(), true)).await;
    assert_eq!(ra.exit_code(), 0);
    assert_eq!(rb.exit_code(), 0);
    let fa = files(a.path());
    assert!(fa.len() > 100, "{} files", fa.len());
    // Opaque values of 20 or more URL-safe characters (tokens, codes, ids) that are not
    // plain words joined by `_`.
    let opaque = regex::Regex::new(r"[A-Za-z0-9_-]{20,}").expect("regex");
    for f in &fa {
        let text = std::fs::read_to_string(f).expect("read");
        for s in FIXTURE_SECRETS {
            assert!(!text.contains(s), "{}: holds {s}", f.display());
        }
        for m in opaque.find_iter(&text) {
            let word_like = m
                .as_str()
                .split(['_', '-'])
                .all(|w| w.chars().all(|c| c.is_ascii_lowercase()));
            assert!(
                word_like,
                "{}: `{}` looks like a credential",
                f.display(),
                m.as_str()
            );
        }
        let other = b.path().join(f.file_name().expect("name"));
        assert_eq!(
            std::fs::read(f).expect("read"),
            std::fs::read(&other).unwrap_or_default(),
            "{} differs between two runs",
            f.display()
        );
    }
    assert_eq!(fa.len(), files(b.path()).len());
}

#[tokio::test]
async fn a_far_side_canary_never_reaches_a_snapshot() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "CANARYaccess0123456789",
            "refresh_token": "CANARYrefresh0123456789",
            "id_token": "CANARYhead.CANARYbody.CANARYsig",
            "token_type": "Bearer",
            "note": "echoes CANARYaccess0123456789 back",
            "issued": {"iat": 1764480000}
        })))
        .mount(&mock)
        .await;
    let p: Profile = serde_yaml::from_str(&format!(
        "name: canary target\nbase_url: {}\nsecrets: {{m2m: CANARY_SECRET_ENV}}\n",
        mock.uri()
    ))
    .expect("profile");
    std::env::set_var("CANARY_SECRET_ENV", "CANARYclientsecret42");
    let scenario = load_str(
        Arc::from("canary.yaml"),
        "name: canary\nsteps:\n  - request:\n      endpoint: token\n      auth: {type: basic, client: m2m, secret: \"${secret.m2m}\"}\n      body: {grant_type: client_credentials, echo: \"${secret.m2m}\"}\n    snapshot: token\n"
            .to_string(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut o = opts(&[], Mode::Always, dir.path(), false);
    o.target = TargetSpec::Live(Arc::new(p));
    let r = run(vec![Arc::new(scenario)], &o).await;
    assert_eq!(r.exit_code(), 0, "{:#?}", r.scenarios[0].steps);
    // A live target keeps its own set, in a folder named after its profile.
    let file = dir.path().join("canary_target").join("canary@token.snap");
    let text = std::fs::read_to_string(&file).expect("the target's own set");
    assert!(!text.contains("CANARY"), "{text}");
    insta::assert_snapshot!("far_side_canary", oauth_harness::snapshot::contents(&text));
}

fn harness(args: &[&str], dir: &Path, ci: bool) -> (i32, String) {
    let mut cmd = std::process::Command::new(BIN);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .arg("--snapshot-dir")
        .arg(dir)
        .env_remove("INSTA_UPDATE");
    if ci {
        cmd.env("CI", "true");
    } else {
        cmd.env_remove("CI");
    }
    let out = cmd.output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn update_then_accept_then_check_passes_and_ci_never_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reports = tempfile::tempdir().expect("tempdir");
    let rd = reports.path().to_str().expect("utf-8");
    let one = "scenarios/device/happy_path.yaml";
    // CI, no stored snapshots: the steps fail and nothing is written.
    let (code, out) = harness(&["run", one, "--report-dir", rd], dir.path(), true);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("no stored snapshot"), "{out}");
    assert!(
        files(dir.path()).is_empty(),
        "CI wrote {:?}",
        files(dir.path())
    );
    // Locally, the default is update: pending files for review, and the run still fails.
    let (code, out) = harness(&["run", one, "--report-dir", rd], dir.path(), false);
    assert_eq!(code, 4, "{out}");
    let pending = files(dir.path());
    assert_eq!(pending.len(), 2, "{pending:?}");
    assert!(pending
        .iter()
        .all(|p| p.to_string_lossy().ends_with(".snap.new")));
    // Accept, then check: passes.
    let (code, out) = harness(&["snapshots", "accept"], dir.path(), false);
    assert_eq!(code, 0, "{out}");
    let (code, out) = harness(
        &["run", one, "--report-dir", rd, "--snapshots", "check"],
        dir.path(),
        true,
    );
    assert_eq!(code, 0, "{out}");
    // Prune: a snapshot no scenario produces goes; the others stay.
    std::fs::write(dir.path().join("gone__scenario@x.snap"), "---\n---\nx\n").expect("write");
    let (code, out) = harness(&["snapshots", "prune"], dir.path(), false);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("removed") && out.contains("gone__scenario@x.snap"),
        "{out}"
    );
    let left: Vec<String> = files(dir.path())
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert_eq!(
        left,
        vec![
            "device__happy_path@device-authorization.snap",
            "device__happy_path@device-tokens.snap"
        ]
    );
}
