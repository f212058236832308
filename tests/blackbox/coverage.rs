//! Requirement coverage: every id a scenario cites is a matrix row, and the observable
//! MUST rows without a scenario are exactly the ones listed — a ratchet that issue #5
//! empties (a new scenario that covers a row makes this fail until the row is removed).

use oauth_harness::coverage::{table, uncovered_musts};
use oauth_harness::scenario::{discover, load};
use std::path::PathBuf;

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
