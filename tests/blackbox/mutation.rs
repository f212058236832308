//! The kill matrix: the shipped suite passes on the clean server with no warnings, fails
//! with each fault switch on, and every scenario catches at least one fault.
//!
//! `STILL_SURVIVING` is a ratchet, not a pass list: it names the faults no scenario catches
//! yet (issue #5 adds the scenarios). A new scenario that kills one makes this test fail
//! until the name is removed; a change that lets a killed fault survive fails it too.

use oauth_harness::mutate::kill_matrix;
use oauth_harness::scenario::{discover, load};
use oauth_harness::server::faults::Fault;
use std::path::PathBuf;
use std::sync::Arc;

const STILL_SURVIVING: &[&str] = &[
    "accept-duplicate-params",
    "allow-implicit",
    "allow-password-grant",
    "always-refresh-token",
    "api-401-for-insufficient-scope",
    "api-no-scope-check",
    "approve-after-expiry",
    "code-any-client",
    "connected-app-revoke-noop",
    "consent-no-csrf",
    "cors-authorize",
    "credentials-in-query",
    "device-code-any-client",
    "device-grant-any-client",
    "early-expire-codes",
    "extra-members",
    "ignore-device-denial",
    "ignore-redirect-uri-at-token",
    "ignore-scope",
    "introspect-no-auth",
    "loose-redirect-uri",
    "never-expire-codes",
    "never-expire-device-codes",
    "no-frame-protection",
    "no-refresh-reuse-detection",
    "no-refresh-rotation",
    "no-revoke-on-code-reuse",
    "pkce-default-s256",
    "pkce-downgrade",
    "pkce-not-required",
    "redirect-before-login",
    "redirect-on-bad-request",
    "refresh-never-idle-expires",
    "refresh-widens-scope",
    "registration-accepts-bad-redirect",
    "reuse-code",
    "reuse-device-code",
    "revoke-503",
    "revoke-noop",
    "revoke-unknown-400",
    "skip-pkce",
    "token-accepts-get",
    "tokens-never-expire",
    "verify-no-rate-limit",
    "wrong-issuer",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_kills_a_fault_and_the_survivors_are_known() {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"));
    let scenarios = discover(&[root])
        .expect("scenarios/")
        .iter()
        .map(|p| Arc::new(load(p).unwrap_or_else(|e| panic!("{e}"))))
        .collect();
    let m = kill_matrix(scenarios, Fault::all(), 4).await;
    assert!(
        m.clean_ok,
        "the clean server must pass with no warnings: {}",
        m.clean
    );
    assert!(
        m.idle_scenarios().is_empty(),
        "scenarios that catch no fault: {:?}",
        m.idle_scenarios()
    );
    let mut survivors: Vec<&str> = m.survivors();
    survivors.sort_unstable();
    let mut expected: Vec<&str> = STILL_SURVIVING.to_vec();
    expected.sort_unstable();
    assert_eq!(
        survivors,
        expected,
        "update STILL_SURVIVING (a fault was killed, or a killed one now survives)\n{}",
        oauth_harness::mutate::render(&m)
    );
}
