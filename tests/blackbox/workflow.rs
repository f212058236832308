//! `.github/workflows/conformance.yml`, the example a user copies: its steps that start
//! the server and run the suite are run here as written (the port and the report folder
//! moved, `oauth-harness` the binary under test), and must pass with the reports the
//! upload step keeps; README.md shows the same file.

use serde_yaml::Value;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_oauth-harness");

fn step<'a>(steps: &'a [Value], name: &str) -> &'a Value {
    steps
        .iter()
        .find(|s| s["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no step `{name}`"))
}

/// Stops the `serve` processes listening on `port` (the step leaves it in the background).
fn stop_serve(port: u16) {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in dir.flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(" serve ") && cmdline.contains(&format!("127.0.0.1:{port}")) {
            let pid = entry.file_name().to_string_lossy().into_owned();
            let _ = Command::new("kill").arg(pid).status();
        }
    }
}

#[test]
fn the_example_workflow_runs_the_suite_against_a_server_and_keeps_the_reports() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(".github/workflows/conformance.yml"))
        .expect("the workflow");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    assert!(
        readme.contains(text.trim_end()),
        "README.md shows the workflow as it is"
    );
    let doc: Value = serde_yaml::from_str(&text).expect("YAML");
    let steps = doc["jobs"]["conformance"]["steps"]
        .as_sequence()
        .expect("steps");
    let upload = step(steps, "Keep the reports");
    assert_eq!(upload["if"].as_str(), Some("always()"));
    let kept = upload["with"]["path"].as_str().expect("paths");
    for f in ["reports/junit.xml", "reports/report.html"] {
        assert!(kept.contains(f), "{f} is not kept");
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let tmp = tempfile::tempdir().expect("tempdir");
    let reports = tmp.path().join("reports");
    let moved = |s: &str| {
        s.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
            .replace(
                "--report-dir reports",
                &format!("--report-dir {}", reports.display()),
            )
            .replace(
                "> serve.log",
                &format!("> {}/serve.log", tmp.path().display()),
            )
            .replace(
                "cat serve.log",
                &format!("cat {}/serve.log", tmp.path().display()),
            )
    };
    let start = moved(
        step(steps, "Start the server under test")["run"]
            .as_str()
            .expect("run"),
    );
    let suite_step = step(steps, "Conformance suite");
    let suite = moved(suite_step["run"].as_str().expect("run"));
    assert!(suite.contains("--expected-failures"), "{suite}");
    let bin_dir = Path::new(BIN).parent().expect("the binary's folder");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.current_dir(root)
        .arg("-ec")
        .arg(format!("(\n{start}\n)\n{suite}"))
        .env("PATH", path)
        .env_remove("GITHUB_ACTIONS");
    for (k, v) in suite_step["env"].as_mapping().expect("env") {
        cmd.env(k.as_str().expect("name"), moved(v.as_str().expect("value")));
    }
    let out = cmd.output().expect("bash");
    stop_serve(port);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("against profile builtin-process"), "{text}");
    for f in ["junit.xml", "report.html", "report.tap", "report.md"] {
        assert!(reports.join(f).exists(), "{f} was not written");
    }
}
