//! The kill matrix as a ratchet: the shipped suite passes on the clean server with no
//! failure, warning, info or error; every fault switch is caught at the level of the row it
//! breaks (FAILED for a MUST row, WARNING for SHOULD rows; a MAY row's variation is
//! reported as INFO and is no kill; an ERROR never counts); every scenario catches at
//! least one fault. The snapshot holds one line per fault — its outcome, the verdict that
//! caught it and the rows — so a kill that falls from FAILED to WARNING, a fault newly
//! tolerated, a row that stops catching, or a missing fault all fail this test.

use oauth_harness::mutate::{kill_matrix, summary};
use oauth_harness::scenario::{discover, load};
use oauth_harness::server::faults::Fault;
use std::path::PathBuf;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_is_caught_at_its_rows_level_and_every_scenario_catches_one() {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"));
    let scenarios = discover(&[root])
        .expect("scenarios/")
        .iter()
        .map(|p| Arc::new(load(p).unwrap_or_else(|e| panic!("{e}"))))
        .collect();
    let m = kill_matrix(scenarios, Fault::all(), 4).await;
    let text = oauth_harness::mutate::render(&m);
    assert!(m.clean_ok, "the clean server must pass clean: {}", m.clean);
    assert!(m.failed_runs.is_empty(), "{:?}", m.failed_runs);
    // A row per switch and contract it is judged under (OAuth 2.1's, matrix §22).
    assert_eq!(
        m.rows.len(),
        Fault::all()
            .iter()
            .map(|f| f.contracts().len())
            .sum::<usize>(),
        "one row per fault and contract\n{text}"
    );
    assert!(m.idle_scenarios().is_empty(), "{text}");
    assert!(m.survivors().is_empty() && m.weak().is_empty(), "{text}");
    assert!(m.intolerant().is_empty(), "{text}");
    assert!(m.ok(), "{text}");
    insta::assert_snapshot!("kill_matrix", summary(&m));
}
