//! Requirement coverage: every id a scenario cites is a matrix row, and the observable
//! MUST rows without a scenario are exactly the ones listed — a ratchet that issue #5
//! empties (a new scenario that covers a row makes this fail until the row is removed).

use oauth_harness::coverage::{table, uncovered_musts};
use oauth_harness::scenario::{discover, load};
use std::path::PathBuf;

/// Every observable MUST row is judged by some assertion (the three that no scenario can
/// observe are marked so in `fixtures/requirements.yaml`, with what checks them instead).
const MUST_ROWS_WITHOUT_A_SCENARIO: &[&str] = &[];

#[test]
fn cited_ids_exist_and_uncovered_must_rows_are_known() {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"));
    let loaded: Vec<_> = discover(&[root])
        .expect("scenarios/")
        .iter()
        .map(|p| load(p).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let (rows, unknown) = table(&loaded);
    assert!(unknown.is_empty(), "ids not in the matrix: {unknown:?}");
    let mut missing = uncovered_musts(&rows);
    missing.sort_unstable();
    let mut expected = MUST_ROWS_WITHOUT_A_SCENARIO.to_vec();
    expected.sort_unstable();
    assert_eq!(missing, expected, "update MUST_ROWS_WITHOUT_A_SCENARIO");
}

fn shipped() -> Vec<oauth_harness::scenario::Loaded> {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"));
    discover(&[root])
        .expect("scenarios/")
        .iter()
        .map(|p| load(p).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Rows whose "how to observe" column judges one of their checks at another level than
/// the row's own, in the matrix's words; an assertion may carry either level.
const OTHER_LEVEL_BY_THE_MATRIX: &[(&str, oauth_harness::scenario::model::Level, &str)] = &[
    (
        "REG-3",
        oauth_harness::scenario::model::Level::Should,
        "two identical registrations → two different client_ids (equal ⇒ WARNING)",
    ),
    (
        "PAR-11",
        oauth_harness::scenario::model::Level::Must,
        "a non-boolean `require_pushed_authorization_requests` ⇒ FAILED",
    ),
    (
        "RACE-1",
        oauth_harness::scenario::model::Level::Should,
        "0 × 200 ⇒ WARNING (fails closed)",
    ),
    (
        "RACE-4",
        oauth_harness::scenario::model::Level::Should,
        "0 × 200 ⇒ WARNING",
    ),
    (
        "RACE-10",
        oauth_harness::scenario::model::Level::Should,
        "a race that no request wins fails closed (as RACE-1's 0 × 200 ⇒ WARNING)",
    ),
    (
        "JWTAUTH-6",
        oauth_harness::scenario::model::Level::May,
        "at {token}: `aud` = {token} URL and `aud` = ISS → which pass is INFO",
    ),
    (
        "DPOP-1",
        oauth_harness::scenario::model::Level::May,
        "`Bearer` ⇒ INFO (§5: the AS \"MAY elect to issue access tokens that are not DPoP bound\")",
    ),
    (
        "DPOP-11",
        oauth_harness::scenario::model::Level::May,
        "the accepted window (probes at ±10 s, ±300 s) is reported as INFO",
    ),
    (
        "DPOP-28",
        oauth_harness::scenario::model::Level::Must,
        "present ⇒ a non-empty array without `none` and without `HS*` (else FAILED)",
    ),
];

/// A verdict is a claim about someone else's server: every assertion of a shipped scenario
/// names the matrix row it judges, at that row's level (MUST → must, SHOULD → should,
/// MAY → may: FAILED, WARNING, INFO; matrix §0).
#[test]
fn every_shipped_assertion_cites_a_row_at_the_rows_level() {
    use oauth_harness::scenario::model::Level;
    let rows = oauth_harness::coverage::requirements();
    let mut problems = Vec::new();
    for l in shipped() {
        for (i, step) in l.scenario.steps.iter().enumerate() {
            for (j, a) in step.expect.iter().enumerate() {
                let at = format!("{} step {} assertion {}", l.path, i + 1, j + 1);
                let Some(id) = &a.requirement else {
                    problems.push(format!("{at}: cites no requirement"));
                    continue;
                };
                let Some(row) = rows.iter().find(|r| &r.id == id) else {
                    problems.push(format!("{at}: {id} is not a matrix row"));
                    continue;
                };
                let want = OTHER_LEVEL_BY_THE_MATRIX
                    .iter()
                    .find(|(r, _, _)| r == id)
                    .map(|(_, level, _)| Some(*level))
                    .unwrap_or_else(|| Level::of_row(&row.level));
                // A scenario written for OAuth 2.1 cites a row at the level §22 gives it.
                let under_oauth21 = l
                    .scenario
                    .requires
                    .contains(&oauth_harness::scenario::model::Capability::Oauth21)
                    .then(|| oauth_harness::contract::Contract::Oauth21.override_of(id))
                    .flatten()
                    .and_then(|o| Level::of_row(&o.level));
                if want != Some(a.level)
                    && Level::of_row(&row.level) != Some(a.level)
                    && under_oauth21 != Some(a.level)
                {
                    problems.push(format!(
                        "{at}: {id} is {} but the assertion is {:?}",
                        row.level, a.level
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
