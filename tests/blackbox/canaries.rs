//! Secret canaries: the suite and a load profile run against `oauth-harness serve` whose
//! clients and accounts carry known canary secrets, with every output at its most
//! verbose (`--verbose`, trace logs on both sides, every step snapshotted). Then every
//! byte written — stdout, stderr, the server's log, JSON, JUnit and markdown reports,
//! snapshots, load summaries and goose's reports, both processes' stdout and stderr — is
//! scanned for the canaries in every form they take on the wire (raw, form- and
//! percent-encoded, JSON-escaped, base64 at any alignment as in Basic credentials) and for
//! anything shaped like a token, code, verifier or user code. The count must be 0.

use crate::binary::spawn_serve_logged;
use crate::live::FIXTURE_SECRETS;
use std::path::{Path, PathBuf};

const BIN: &str = env!("CARGO_BIN_EXE_oauth-harness");

/// Canary secret for each fixture secret.
fn canary(secret: &str) -> String {
    format!("CANARY{}Zq7", secret.replace('-', ""))
}

fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            all_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The forms a canary can take in an output: as it is, form- and percent-encoded (a body,
/// a query; Basic credentials before base64), JSON-escaped, and base64 of each of those at
/// every alignment (in `Basic base64(id:secret)` the secret starts anywhere in a group of
/// three bytes): the run of base64 characters that depends on the canary's bytes alone.
fn forms(canary: &str) -> Vec<(String, String)> {
    use base64::Engine;
    let form: String = url::form_urlencoded::byte_serialize(canary.as_bytes()).collect();
    let quoted = serde_json::to_string(canary).expect("json");
    let plain = [
        ("raw", canary.to_string()),
        ("form-encoded", form.clone()),
        ("percent-encoded", form.replace('+', "%20")),
        ("JSON-escaped", quoted.trim_matches('"').to_string()),
    ];
    let mut out: Vec<(String, String)> = Vec::new();
    for (how, v) in &plain {
        out.push((how.to_string(), v.clone()));
        for k in 0..3usize {
            let mut bytes = vec![b'x'; k];
            bytes.extend_from_slice(v.as_bytes());
            let enc = base64::engine::general_purpose::STANDARD.encode(&bytes);
            // Whole groups of three bytes that hold canary bytes only.
            let start = if k == 0 { 0 } else { 4 };
            let end = bytes.len() / 3 * 4;
            if end > start + 8 {
                let core = &enc[start..end];
                out.push((format!("base64 of {how}"), core.to_string()));
                out.push((
                    format!("base64url of {how}"),
                    core.replace('+', "-").replace('/', "_"),
                ));
            }
        }
    }
    // One name per distinct string (a canary without special characters has one form).
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out.dedup_by(|a, b| a.1 == b.1);
    out
}

/// What each finding is: `(where, what)`.
fn scan(name: &str, text: &str, canaries: &[String], found: &mut Vec<(String, String)>) {
    // Load summaries carry HDR histograms as standard base64: not a credential.
    let histograms = regex::Regex::new(r#""histogram":\s*"[^"]*""#).expect("re");
    let text = &histograms.replace_all(text, "\"histogram\": \"\"");
    for c in canaries {
        for (how, form) in forms(c) {
            if text.contains(form.as_str()) {
                found.push((name.to_string(), format!("{c} ({how})")));
            }
        }
    }
    // The server's tokens, codes and PKCE verifiers: 43 base64url characters (32 random
    // bytes), which in practice mix digits, capitals and small letters.
    // PKCE challenges travel in the front channel by design (RFC 7636 §4.3): public.
    let challenge =
        regex::Regex::new(r#"code_challenge(?:=|\\?"?: ?\\?")([A-Za-z0-9_-]{43})"#).expect("re");
    let mut public: Vec<String> = challenge
        .captures_iter(text)
        .filter_map(|c| c.get(1).map(|m| m.as_str().to_string()))
        .collect();
    // The harness's keys: their public members (a registration sends them) are public;
    // their private ones (`d`) must appear nowhere, in any form.
    for text_of_key in [
        oauth_harness::keys::FIXTURE_K,
        oauth_harness::keys::FIXTURE_K2,
        oauth_harness::keys::FIXTURE_J,
        oauth_harness::keys::FIXTURE_J2,
    ] {
        let jwk: serde_json::Value = serde_json::from_str(text_of_key).expect("a JWK");
        for member in ["x", "y"] {
            public.extend(jwk[member].as_str().map(str::to_string));
        }
        let kid = oauth_harness::jose::SigningKey::from_jwk(text_of_key).expect("key");
        public.push(kid.thumbprint().to_string());
        let d = jwk["d"].as_str().expect("a private JWK");
        if text.contains(d) {
            found.push((
                name.to_string(),
                format!("private key member d {}…", &d[..6]),
            ));
        }
    }
    let token = regex::Regex::new(r"[A-Za-z0-9_-]{43,}").expect("re");
    for m in token.find_iter(text) {
        let s = m.as_str();
        if public.iter().any(|p| p == s) {
            continue;
        }
        let mixed = s.chars().any(|c| c.is_ascii_digit())
            && s.chars().any(|c| c.is_ascii_uppercase())
            && s.chars().any(|c| c.is_ascii_lowercase());
        if mixed {
            found.push((name.to_string(), format!("token-shaped {}…", &s[..8])));
        }
    }
    // User codes: two groups of four from the RFC 8628 §6.1 alphabet.
    let user_code =
        regex::Regex::new(r"\b[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}\b").expect("re");
    for m in user_code.find_iter(text) {
        found.push((name.to_string(), format!("user code {}", m.as_str())));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_any_output_of_a_run_or_a_load_test() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The fixture with every client secret and account password replaced by a canary.
    let mut fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/clients.yaml"
    ))
    .expect("fixture");
    let mut canaries = Vec::new();
    for s in [
        "web-secret",
        "web2-secret",
        "parc-secret",
        "csj-secret-0123456789abcdef0123456789abcdef",
        "m2m-secret",
        "tv-secret",
        "multi-secret",
        "s:e%c r",
        "alice-password",
        "bob-password",
    ] {
        fixture = fixture.replace(s, &canary(s));
        canaries.push(canary(s));
    }
    let clients = dir.path().join("clients.yaml");
    std::fs::write(&clients, fixture).expect("write");
    let server_log = dir.path().join("server.log");
    let (_server, base) = spawn_serve_logged(
        &["--test-mode", "--clients", clients.to_str().unwrap_or("")],
        &server_log,
    )
    .await;
    let envs: Vec<(String, String)> = FIXTURE_SECRETS
        .iter()
        .map(|(k, v)| (k.to_string(), canary(v)))
        .chain([
            ("OAUTH_HARNESS_TARGET".to_string(), base.clone()),
            // Every crate's trace logs: the harness's exchanges, reqwest's, goose's.
            ("OAUTH_HARNESS_LOG".to_string(), "trace".to_string()),
            ("INSTA_UPDATE".to_string(), "no".to_string()),
        ])
        .collect();
    let out_dir = dir.path().join("out");
    let target = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/targets/builtin-process.yaml"
    );
    let run = {
        let envs = envs.clone();
        let out_dir = out_dir.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(BIN)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .envs(envs)
                .args([
                    "run",
                    "--verbose",
                    "--snapshot-all",
                    "--snapshots",
                    "always",
                    "--target",
                    target,
                ])
                .arg("--snapshot-dir")
                .arg(out_dir.join("snapshots"))
                .arg("--report-dir")
                .arg(out_dir.join("run"))
                .output()
                .expect("run")
        })
        .await
        .expect("join")
    };
    let run_text =
        String::from_utf8_lossy(&run.stdout).into_owned() + &String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{run_text}");
    let load = {
        let out_dir = out_dir.clone();
        tokio::task::spawn_blocking(move || {
            let profile = out_dir.join("te.yaml");
            std::fs::create_dir_all(&out_dir).expect("dir");
            std::fs::write(
                &profile,
                "kind: token-grants\nusers: 3\nincrease_rate: 10\nrun_time: 1s\nwait_time: {min: 5ms, max: 10ms}\ndpop: true\n",
            )
            .expect("write");
            std::process::Command::new(BIN)
                .envs(envs)
                .arg("load")
                .arg(&profile)
                .args(["--target", target, "--no-progress", "--report-dir"])
                .arg(out_dir.join("load"))
                .output()
                .expect("load")
        })
        .await
        .expect("join")
    };
    let load_text =
        String::from_utf8_lossy(&load.stdout).into_owned() + &String::from_utf8_lossy(&load.stderr);
    assert_eq!(load.status.code(), Some(0), "{load_text}");
    assert!(load_text.contains("token: refresh_token"), "{load_text}");

    let mut files = Vec::new();
    all_files(&out_dir, &mut files);
    let mut found = Vec::new();
    scan("run stdout+stderr", &run_text, &canaries, &mut found);
    scan("load stdout+stderr", &load_text, &canaries, &mut found);
    let log = std::fs::read_to_string(&server_log).unwrap_or_default();
    scan("server stderr (log)", &log, &canaries, &mut found);
    let mut stdout_path = server_log.as_os_str().to_owned();
    stdout_path.push(".stdout");
    let server_stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    assert!(server_stdout.contains("listening on"), "{server_stdout}");
    scan("server stdout", &server_stdout, &canaries, &mut found);
    let mut scanned = 0;
    for f in &files {
        let text = String::from_utf8_lossy(&std::fs::read(f).expect("read")).into_owned();
        scan(&f.display().to_string(), &text, &canaries, &mut found);
        scanned += 1;
    }
    // The scan saw real output: reports, snapshots and goose's reports.
    for part in [
        "report.json",
        "junit.xml",
        "report.md",
        "goose-report.html",
        "summary.json",
    ] {
        assert!(files.iter().any(|f| f.ends_with(part)), "no {part}");
    }
    assert!(scanned > 100, "{scanned} files");
    // The logs were on: the server logged every request and refusal, the run every
    // exchange with its bodies.
    for (text, what) in [
        (&log, "path=/oauth/token"),
        (&log, "refused"),
        (&run_text, "response_body="),
        (&run_text, "step done"),
    ] {
        assert!(text.contains(what), "no `{what}` in a log");
    }
    // And the canaries were used: the run passed with them, so every secret was sent, and
    // the odd one (`s:e%c r`) has form-, percent- and Basic forms unlike its raw one.
    let odd = canary("s:e%c r");
    assert!(forms(&odd).len() > forms(&canary("web-secret")).len());
    assert_eq!(found, Vec::<(String, String)>::new(), "secrets found");
}
