//! `--var`, `--vars-file`, `OAUTH_HARNESS_VAR_NAME` and `--secrets-file` (issue #20): the
//! precedence of the sources, a secret kept out of every output, a target profile's
//! `${NAME}`, and an undefined name at its file, line and column (exit 2).

use crate::binary::spawn_serve;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_oauth-harness");

/// A machine token for the scope the variables say; the grant echoes the scope, so the
/// run shows which source set it.
const SCENARIO: &str = "\
name: the scope comes from outside
requirements: [TOK-5]
steps:
  - name: a machine token for the given scope
    request:
      endpoint: token
      auth: {type: basic, role: m2m}
      body: {grant_type: client_credentials, scope: \"${wanted_scope}\", marker: \"${marker}\"}
    expect:
      - status: 200
        requirement: TOK-5
      - json: $.scope
        equals: \"${wanted_scope}\"
        requirement: TOK-5
";

/// The run's exit code and everything it wrote: stdout, stderr and the report files.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(BIN)
        .current_dir(dir)
        .args([
            "run",
            "--snapshots",
            "off",
            "--report-dir",
            "r",
            "--report-tap",
            "r/t.tap",
        ])
        .args(args)
        .env_remove("OAUTH_HARNESS_VAR_wanted_scope")
        .envs(env.iter().copied())
        .output()
        .expect("run");
    let mut all =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    for f in ["report.json", "report.md", "junit.xml", "report.tap"] {
        all += &std::fs::read_to_string(dir.join("r").join(f)).unwrap_or_default();
    }
    (out.status.code().unwrap_or(-1), all)
}

#[test]
fn the_sources_take_precedence_in_order_and_a_secret_is_never_shown() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    std::fs::write(d.join("scope.yaml"), SCENARIO).expect("scenario");
    std::fs::write(d.join("vars.yaml"), "wanted_scope: from-the-file\n").expect("vars");
    std::fs::write(d.join("later.env"), "wanted_scope=read\n").expect("vars");
    std::fs::write(d.join("secrets.env"), "marker='m4rker-s3cret-value'\n").expect("secrets");
    let files = [
        "--vars-file",
        "vars.yaml",
        "--secrets-file",
        "secrets.env",
        "scope.yaml",
    ];
    let env = [("OAUTH_HARNESS_VAR_wanted_scope", "from-the-env")];

    // --var over the environment over the file: `api` is granted.
    let (code, text) = run(
        d,
        &[&files[..], &["--var", "wanted_scope=api"]].concat(),
        &env,
    );
    assert_eq!(code, 0, "{text}");
    // The environment over the file: an unknown scope, refused, and the run says so.
    let (code, text) = run(d, &files, &env);
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("from-the-env"), "{text}");
    // The file alone; a later file over an earlier one.
    let (code, text) = run(d, &files, &[]);
    assert_eq!(code, 4, "{text}");
    assert!(
        text.contains("from-the-file") && !text.contains("from-the-env"),
        "{text}"
    );
    let (code, text) = run(
        d,
        &[&files[..], &["--vars-file", "later.env"]].concat(),
        &[],
    );
    assert_eq!(code, 0, "{text}");

    // The secret went out in the body of a failed step, whose exchange the reports
    // show: redacted everywhere.
    let (_, text) = run(d, &files, &env);
    assert!(text.contains("[secret marker]"), "{text}");
    assert!(
        !text.contains("m4rker-s3cret-value"),
        "the secret leaked:\n{text}"
    );
}

#[test]
fn an_undefined_name_is_exit_2_at_its_line_in_a_scenario_and_in_a_profile() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    std::fs::write(d.join("scope.yaml"), SCENARIO).expect("scenario");
    let (code, text) = run(d, &["--var", "wanted_scope=api", "scope.yaml"], &[]);
    assert_eq!(code, 2, "{text}");
    // `marker` is not given: line 8, in the body.
    assert!(text.contains("scope.yaml:8:"), "{text}");
    assert!(text.contains("undefined variable `marker`"), "{text}");
    assert!(text.contains("--var"), "{text}");

    std::fs::write(d.join("target.yaml"), "name: t\nbase_url: ${where}\n").expect("profile");
    let (code, text) = run(
        d,
        &[
            "--target",
            "target.yaml",
            "--var",
            "wanted_scope=api",
            "--var",
            "marker=xyz",
            "scope.yaml",
        ],
        &[],
    );
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("target.yaml: 2:11: undefined variable `where`"),
        "{text}"
    );

    // Bad command-line values are usage errors; a bad file is exit 2 at its line.
    let (code, text) = run(d, &["--var", "no-equals-sign", "scope.yaml"], &[]);
    assert_eq!(code, 1, "{text}");
    std::fs::write(d.join("bad.yaml"), "ok: 1\nnested: {a: 1}\n").expect("vars");
    let (code, text) = run(d, &["--vars-file", "bad.yaml", "scope.yaml"], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("bad.yaml:2:"), "{text}");
}

#[test]
fn a_target_profile_takes_its_base_url_from_a_variable() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (_server, base) = rt.block_on(spawn_serve(&["--test-mode"]));
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    std::fs::write(d.join("scope.yaml"), SCENARIO).expect("scenario");
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/targets/builtin-process.yaml"),
    )
    .expect("profile");
    let profile = shipped.replace("${env.OAUTH_HARNESS_TARGET}", "${target}");
    assert_ne!(profile, shipped);
    std::fs::write(d.join("target.yaml"), profile).expect("profile");
    let target = format!("target={base}");
    let (code, text) = run(
        d,
        &[
            "--target",
            "target.yaml",
            "--var",
            &target,
            "--var",
            "wanted_scope=api",
            "--var",
            "marker=x",
            "scope.yaml",
        ],
        &crate::live::FIXTURE_SECRETS,
    );
    assert_eq!(code, 0, "{text}");
}
