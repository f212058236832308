//! A live target behind TLS with a self-signed certificate (`fixtures/tls/`, a test-only
//! key for 127.0.0.1 and localhost): refused by default with an error that says what to
//! do, and reachable with the profile's `tls.ca_file` or `tls.insecure`, or `--ca-file` /
//! `--insecure`.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_oauth-harness");
const TLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tls");

/// An HTTPS server on 127.0.0.1 that answers every request `200 {"ok":true}`.
async fn https_server() -> String {
    let certs = CertificateDer::pem_file_iter(Path::new(TLS).join("cert.pem"))
        .expect("cert")
        .collect::<Result<Vec<_>, _>>()
        .expect("certs");
    let key = PrivateKeyDer::from_pem_file(Path::new(TLS).join("key.pem")).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A refused handshake (the harness distrusting the certificate) ends here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let body = br#"{"ok":true}"#;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(body).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://127.0.0.1:{}", addr.port())
}

fn run(dir: &Path, profile_extra: &str, flags: &[&str], base: &str) -> (i32, String) {
    let profile = dir.join("tls.yaml");
    std::fs::write(
        &profile,
        format!("name: tls\nbase_url: {base}\ntimeout_seconds: 5\n{profile_extra}"),
    )
    .expect("profile");
    let scenario = dir.join("health.yaml");
    std::fs::write(
        &scenario,
        "name: health\nsteps:\n  - request: {method: GET, path: /health}\n    expect:\n      - status: 200\n      - json: $.ok\n        equals: true\n",
    )
    .expect("scenario");
    let out = std::process::Command::new(BIN)
        .env("INSTA_UPDATE", "no")
        .args(["run", "--snapshots", "off", "--target"])
        .arg(&profile)
        .arg(&scenario)
        .args(flags)
        .arg("--report-dir")
        .arg(dir.join("reports"))
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_target_is_refused_clearly_and_reached_with_its_ca_or_insecure() {
    let base = https_server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_path_buf();
    let ca = format!("{TLS}/cert.pem");
    let cases: Vec<(&str, String, Vec<String>, i32)> = vec![
        ("default", String::new(), vec![], 3),
        (
            "profile ca_file",
            format!("tls: {{ca_file: {ca}}}\n"),
            vec![],
            0,
        ),
        (
            "profile insecure",
            "tls: {insecure: true}\n".into(),
            vec![],
            0,
        ),
        (
            "--ca-file",
            String::new(),
            vec!["--ca-file".into(), ca.clone()],
            0,
        ),
        ("--insecure", String::new(), vec!["--insecure".into()], 0),
        // A CA that did not sign the server's certificate trusts nothing more.
        (
            "profile ca_file of another CA",
            format!("tls: {{ca_file: {TLS}/other-ca.pem}}\n"),
            vec![],
            3,
        ),
        (
            "--ca-file of another CA",
            String::new(),
            vec!["--ca-file".into(), format!("{TLS}/other-ca.pem")],
            3,
        ),
    ];
    for (what, extra, flags, want) in cases {
        let (d, base) = (d.clone(), base.clone());
        let (code, out) = tokio::task::spawn_blocking(move || {
            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
            run(&d, &extra, &flags, &base)
        })
        .await
        .expect("join");
        assert_eq!(code, want, "{what}:\n{out}");
        if want == 3 {
            assert!(
                out.contains("certificate")
                    && out.contains("tls.ca_file")
                    && out.contains("--insecure"),
                "{what}: the error does not say what to do:\n{out}"
            );
        }
    }
}

/// A CA file that cannot be read or holds no certificate is refused before anything runs
/// (it would otherwise trust nothing more, silently): `--ca-file` as a usage error, a
/// profile's `tls.ca_file` as a bad profile naming its file.
#[test]
fn a_ca_file_without_a_certificate_is_refused_before_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let not_pem = format!("{TLS}/README.md");
    let cases: Vec<(&str, String, Vec<String>, i32, &str)> = vec![
        (
            "--ca-file missing",
            String::new(),
            vec!["--ca-file".into(), "/nonexistent/ca.pem".into()],
            1,
            "--ca-file /nonexistent/ca.pem: cannot read the file",
        ),
        (
            "--ca-file not PEM",
            String::new(),
            vec!["--ca-file".into(), not_pem.clone()],
            1,
            "holds no certificate",
        ),
        (
            "profile ca_file not PEM",
            format!("tls: {{ca_file: {not_pem}}}\n"),
            vec![],
            2,
            "tls.yaml: tls.ca_file: ",
        ),
        (
            "profile ca_file missing, relative to the profile",
            "tls: {ca_file: missing.pem}\n".into(),
            vec![],
            2,
            "missing.pem: cannot read the file",
        ),
    ];
    for (what, extra, flags, want, says) in cases {
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let (code, out) = run(d, &extra, &flags, "https://127.0.0.1:9");
        assert_eq!(code, want, "{what}:\n{out}");
        assert!(out.contains(says), "{what}: no `{says}` in\n{out}");
        assert!(!d.join("reports").exists(), "{what}: something ran");
    }
}
