//! Requirement coverage: every id a scenario cites is a matrix row, and the observable
//! MUST rows without a scenario are exactly the ones listed — a ratchet that issue #5
//! empties (a new scenario that covers a row makes this fail until the row is removed).

use oauth_harness::coverage::{table, uncovered_musts};
use oauth_harness::scenario::{discover, load};
use std::path::PathBuf;

const MUST_ROWS_WITHOUT_A_SCENARIO: &[&str] = &[
    "DEV-7",
    "DEV-12",
    "AUTHZ-4",
    "AUTHZ-6",
    "AUTHZ-9",
    "AUTHZ-11",
    "AUTHZ-14",
    "AUTHZ-15",
    "AUTHZ-18",
    "TOK-2",
    "TOK-3",
    "TOK-10",
    "TOK-11",
    "TOK-16",
    "TOK-26",
    "TOK-29",
    "TOK-32",
    "PKCE-6",
    "PKCE-10",
    "REF-2",
    "REF-5",
    "REF-6",
    "REF-7",
    "REV-2",
    "REV-4",
    "REV-6",
    "REV-10",
    "RES-4",
    "RES-5",
    "REG-6",
    "REG-7",
    "REG-9",
    "REG-10",
    "META-2",
    "META-9",
    "INTRO-2",
    "INTRO-3",
    "INTRO-5",
    "NOORLE-1",
    "NOORLE-2",
    "NOORLE-4",
    "NOORLE-6",
    "NOORLE-14",
    "NOORLE-15",
    "NOORLE-23",
    "NOORLE-25",
    "BCP-6",
    "BCP-10",
];

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
