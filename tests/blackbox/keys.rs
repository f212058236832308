//! The keys a target profile gives its `private_key_jwt` roles: read when the profile
//! loads, refused at their line with exit 2 when they cannot sign, never shown; and used
//! (a key the server does not hold makes the server refuse, which proves it signed).

const BIN: &str = env!("CARGO_BIN_EXE_oauth-harness");
use std::process::Command;

/// Where no server listens: a profile refused when it loads never reaches it.
const NOWHERE: &str = "http://127.0.0.1:9";

fn run(dir: &std::path::Path, client: &str, env: &[(&str, &str)]) -> (i32, String) {
    run_profile(
        dir,
        (NOWHERE, &format!("clients:\n  {client}")),
        &["scenarios/jwtauth/claims.yaml"],
        env,
    )
}

/// `run --verbose --target` with a profile for `base` whose lines after `name` and
/// `base_url` are `body`, on `scenarios` (reports in `dir/r`): the exit code and what was
/// said, the folder's path masked.
fn run_profile(
    dir: &std::path::Path,
    (base, body): (&str, &str),
    scenarios: &[&str],
    env: &[(&str, &str)],
) -> (i32, String) {
    let profile = dir.join("p.yaml");
    std::fs::write(&profile, format!("name: k\nbase_url: {base}\n{body}\n")).expect("write");
    let out = Command::new(BIN)
        .args(["run", "--snapshots", "off", "--verbose", "--report-dir"])
        .arg(dir.join("r"))
        .arg("--target")
        .arg(&profile)
        .args(scenarios)
        .envs(env.iter().copied())
        .output()
        .expect("run");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (
        out.status.code().unwrap_or(-1),
        text.replace(&dir.display().to_string(), "[dir]"),
    )
}

/// A fixture key as read, its private member `d` (to search outputs for), and its public
/// half.
fn key_halves(fixture: &str) -> (serde_json::Value, String, serde_json::Value) {
    let key: serde_json::Value = serde_json::from_str(fixture).expect("a fixture JWK");
    let d = key["d"].as_str().expect("d").to_string();
    let mut public = key.clone();
    public.as_object_mut().map(|m| m.remove("d"));
    (key, d, public)
}

#[test]
fn a_key_that_cannot_sign_is_refused_at_its_line_and_never_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, d, public) = key_halves(oauth_harness::keys::FIXTURE_K);
    for (name, text) in [
        ("public.jwk", public.to_string()),
        ("garbage.jwk", "-----BEGIN PRIVATE KEY-----\n".to_string()),
        (
            "oct.jwk",
            serde_json::json!({"kty": "oct", "k": d}).to_string(),
        ),
    ] {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let mut seen = Vec::new();
    for (client, env) in [
        ("pkj: {id: pkj, key_file: missing.jwk}", vec![]),
        ("pkj: {id: pkj, key_file: public.jwk}", vec![]),
        ("pkj: {id: pkj, key_file: garbage.jwk}", vec![]),
        (
            "pkj: {id: pkj, key_env: PKJ_KEY}",
            vec![("PKJ_KEY", format!("{{\"kty\":\"oct\",\"k\":\"{d}\"}}"))],
        ),
        ("pkj: {id: pkj, key_env: UNSET_PKJ_KEY}", vec![]),
        ("web: {id: web, key_file: oct.jwk}", vec![]),
    ] {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (code, text) = run(dir.path(), client, &env);
        assert_eq!(code, 2, "{client}: {text}");
        assert!(!text.contains(&d), "{client}: the key is shown: {text}");
        seen.push(format!("{client}\n  {}", text.trim()));
    }
    insta::assert_snapshot!("bad_keys", seen.join("\n"));
}

/// The profile's key is the one that signs: the builtin holds K for `pkj`, so a profile
/// that gives `pkj` the key K2 gets every assertion refused.
#[tokio::test]
async fn the_profiles_key_is_the_one_that_signs() {
    let (_server, base) = crate::binary::spawn_serve(&["--test-mode"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("k2.jwk"), oauth_harness::keys::FIXTURE_K2).expect("write");
    let profile = |key: &str| {
        format!("name: k\nbase_url: {base}\nscopes: {{basic: api}}\nclients:\n  pkj: {{id: pkj, key_file: {key}}}\n  web: {{id: web}}\n")
    };
    for (key, want) in [("k.jwk", 0), ("k2.jwk", 4)] {
        std::fs::write(dir.path().join("k.jwk"), oauth_harness::keys::FIXTURE_K).expect("write");
        let p = dir.path().join("p.yaml");
        std::fs::write(&p, profile(key)).expect("write");
        let reports = dir.path().join("r");
        let out = tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .args(["run", "--snapshots", "off", "--report-dir"])
                .arg(&reports)
                .arg("--target")
                .arg(&p)
                .arg("scenarios/jwtauth/time.yaml")
                .output()
                .expect("run")
        })
        .await
        .expect("join");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(want), "{key}: {text}");
    }
}

/// `run --target` with a profile whose third line is `field: value`, on `scenario`: the
/// exit code and what was said on stderr.
fn run_with_field(field: &str, value: &str, scenario: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p.yaml");
    std::fs::write(
        &profile,
        format!("name: k\nbase_url: http://127.0.0.1:9\n{field}: {value}\n"),
    )
    .expect("write");
    let out = Command::new(BIN)
        .args(["run", "--snapshots", "off", "--report-dir"])
        .arg(dir.path().join("r"))
        .arg("--target")
        .arg(&profile)
        .arg(scenario)
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The other fields of matrix §24.4 are read as strictly: `rt_reuse: grace:abc` is exit 2
/// at its line and column, naming the forms it may take.
#[test]
fn a_malformed_rt_reuse_is_refused_at_its_line() {
    for (value, ok) in [
        ("grace:abc", false),
        ("lenient", false),
        ("grace:60", true),
        ("bound", true),
        ("strict", true),
    ] {
        let (code, text) = run_with_field("rt_reuse", value, "scenarios/race/refresh.yaml");
        if ok {
            assert_ne!(code, Some(2), "{value}: {text}");
        } else {
            assert_eq!(code, Some(2), "{value}: {text}");
            assert!(
                text.contains("p.yaml: 3:11: rt_reuse: `"),
                "{value}: {text}"
            );
            assert!(text.contains("`grace:<seconds>`"), "{value}: {text}");
        }
    }
}

/// An unknown contract is exit 2 at its line and column, naming the contracts there are;
/// `oauth21` is one of them (matrix §22).
#[test]
fn an_unknown_contract_is_refused_at_its_line() {
    for (value, ok) in [("oauth22", false), ("oauth21", true), ("rfc", true)] {
        let (code, text) = run_with_field("contract", value, "scenarios/oauth21/pkce.yaml");
        if ok {
            assert_ne!(code, Some(2), "{value}: {text}");
        } else {
            assert_eq!(code, Some(2), "{value}: {text}");
            assert!(
                text.contains("p.yaml: 3:11: contract: unknown variant `oauth22`, expected one of `rfc`, `noorle`, `oauth21`"),
                "{text}"
            );
        }
    }
    let out = Command::new(BIN)
        .args(["run", "--expect", "oauth22"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "a bad flag is a usage error");
}

/// Where the harness publishes its keys (`jwks_uri_base`, matrix §24.4) must be a URL it
/// can listen on: an http URL with a port, else exit 2 at its line and column.
#[test]
fn a_jwks_uri_base_that_cannot_be_served_is_refused_at_its_line() {
    for (value, why) in [
        ("http://127.0.0.1", "names no port"),
        ("https://127.0.0.1:9400", "plain http"),
        ("not-a-url", "is not a URL"),
    ] {
        let (code, text) =
            run_with_field("jwks_uri_base", value, "scenarios/jwtauth/jwks_uri.yaml");
        assert_eq!(code, Some(2), "{value}: {text}");
        assert!(
            text.contains("p.yaml: 3:16: jwks_uri_base: `"),
            "{value}: {text}"
        );
        assert!(text.contains(why), "{value}: {text}");
    }
}

/// A profile's DPoP key (`dpop_key_file` / `dpop_key_env`, matrix §21's `J`) is read as
/// strictly: a public, symmetric or unreadable key, or both fields, is exit 2 at the
/// field's line, and the key's private member is never shown.
#[test]
fn a_dpop_key_that_cannot_sign_is_refused_at_its_line_and_never_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, d, public) = key_halves(oauth_harness::keys::FIXTURE_J);
    std::fs::write(dir.path().join("public.jwk"), public.to_string()).expect("write");
    std::fs::write(
        dir.path().join("oct.jwk"),
        serde_json::json!({"kty": "oct", "k": d}).to_string(),
    )
    .expect("write");
    let mut seen = Vec::new();
    for (fields, env) in [
        ("dpop_key_file: public.jwk", vec![]),
        ("dpop_key_file: oct.jwk", vec![]),
        ("dpop_key_file: missing.jwk", vec![]),
        (
            "dpop_key_env: DPOP_KEY",
            vec![("DPOP_KEY", format!("{{\"kty\":\"oct\",\"k\":\"{d}\"}}"))],
        ),
        ("dpop_key_env: UNSET_DPOP_KEY", vec![]),
        ("dpop_key_file: oct.jwk\ndpop_key_env: DPOP_KEY", vec![]),
    ] {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (code, text) = run_profile(
            dir.path(),
            (NOWHERE, fields),
            &["scenarios/dpop/token.yaml"],
            &env,
        );
        assert_eq!(code, 2, "{fields}: {text}");
        assert!(!text.contains(&d), "{fields}: the key is shown: {text}");
        seen.push(format!("{fields}\n  {}", text.trim()));
    }
    insta::assert_snapshot!("bad_dpop_keys", seen.join("\n"));
}

/// The profile's DPoP key is the one that signs: with `dpop_key_file` naming another key
/// (the fixture K2, an EC P-256 key like J), the token bound to it shows that key's
/// thumbprint in introspection, which `${dpop_jkt}` follows (the scenario passes); and
/// no output of a run that sends a proof with its private key
/// in `jwk` (DPOP-7's probe) holds that key's private member.
#[tokio::test]
async fn the_profiles_dpop_key_is_the_one_that_signs_and_is_never_shown() {
    let (_server, base) = crate::binary::spawn_serve(&["--test-mode"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("own.jwk"), oauth_harness::keys::FIXTURE_K2).expect("write");
    let (code, mut outputs) = run_profile(
        dir.path(),
        (
            &base,
            "dpop: true\ndpop_key_file: own.jwk\nscopes: {basic: api}\nclients:\n  m2m: {id: m2m, secret_env: T_M2M}\n  web: {id: web, secret_env: T_WEB}",
        ),
        &["scenarios/dpop/token.yaml", "scenarios/dpop/proof.yaml"],
        &[("T_M2M", "m2m-secret"), ("T_WEB", "web-secret")],
    );
    assert_eq!(code, 0, "{outputs}");
    for e in std::fs::read_dir(dir.path().join("r"))
        .expect("reports")
        .flatten()
    {
        outputs.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
    }
    for key in [
        oauth_harness::keys::FIXTURE_J,
        oauth_harness::keys::FIXTURE_J2,
        oauth_harness::keys::FIXTURE_K2,
    ] {
        let (_, d, _) = key_halves(key);
        assert!(!outputs.contains(&d), "a private key reached an output");
    }
}

/// `dpop-proof` (for shell clients, and the code client under `client --dpop`): the proof
/// it prints is one the builtin accepts; a key that cannot sign is exit 2, an unreadable
/// key or an unset token variable exit 1, and no message quotes a key or a token.
#[test]
fn dpop_proof_signs_for_shell_clients_and_refuses_bad_keys_plainly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (j, d, public) = key_halves(oauth_harness::keys::FIXTURE_J);
    let public_file = dir.path().join("public.jwk");
    std::fs::write(&public_file, public.to_string()).expect("write");
    let j_file = dir.path().join("J.jwk");
    std::fs::write(&j_file, j.to_string()).expect("write");
    let proof = |args: &[&str], env: &[(&str, &str)]| {
        let out = std::process::Command::new(BIN)
            .arg("dpop-proof")
            .args(args)
            .envs(env.iter().copied())
            .output()
            .expect("dpop-proof");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        )
    };
    let url = "https://as.example/oauth/token?x=1#f";
    // The fixture key, a P-256 JWK file, and an RSA one (RS256).
    let rsa = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/keys/R.jwk");
    for key in ["J", j_file.to_str().expect("path"), rsa] {
        let (code, jws, err) = proof(
            &[
                "--key",
                key,
                "--htu",
                url,
                // A nonce is base64url: it may begin with `-`.
                "--nonce",
                "-n-1",
                "--ath-of-env",
                "TOKEN",
            ],
            &[("TOKEN", "token-value")],
        );
        assert_eq!(code, Some(0), "{err}");
        let parsed = oauth_harness::jose::parse(&jws).expect("a compact JWS");
        assert_eq!(parsed.header["typ"], "dpop+jwt");
        assert!(
            parsed.verify_jwk(&parsed.header["jwk"]),
            "the signature verifies"
        );
        assert_eq!(parsed.claims["htm"], "POST");
        assert_eq!(parsed.claims["htu"], "https://as.example/oauth/token");
        assert_eq!(parsed.claims["nonce"], "-n-1");
        assert_eq!(
            parsed.claims["ath"],
            oauth_harness::dpop::ath("token-value")
        );
        assert!(!jws.contains(&d));
    }
    let mut seen = Vec::new();
    let public_path = public_file.to_str().expect("path");
    for (args, env, want) in [
        (vec!["--key", public_path], vec![], 2),
        (vec!["--key", "/nonexistent/J.jwk"], vec![], 1),
        (vec!["--ath-of-env", "UNSET_TOKEN_VARIABLE"], vec![], 1),
    ] {
        let mut all = args.clone();
        all.extend(["--htu", url]);
        let (code, out, err) = proof(&all, &env);
        assert_eq!(code, Some(want), "{args:?}: {err}");
        assert!(out.is_empty() && !err.contains(&d), "{args:?}: {err}");
        seen.push(format!(
            "{}\n  {}",
            args.join(" ").replace(public_path, "public.jwk"),
            err.replace(public_path, "public.jwk")
        ));
    }
    insta::assert_snapshot!("bad_dpop_proof_keys", seen.join("\n"));
}
