//! Exit codes, the same for every command (README, `--help`).

/// Everything passed.
pub const PASSED: u8 = 0;
/// The command line was wrong.
pub(crate) const USAGE: u8 = 1;
/// A scenario file could not be parsed or validated.
pub(crate) const BAD_SCENARIO: u8 = 2;
/// A runtime or target error: the target was unreachable, a step could not run.
pub(crate) const RUNTIME: u8 = 3;
/// Assertions failed.
pub(crate) const ASSERTIONS_FAILED: u8 = 4;
/// A load threshold was breached.
pub(crate) const THRESHOLD_BREACHED: u8 = 5;

/// The table printed in `--help`.
pub(crate) const HELP: &str = "Exit codes: 0 passed, 1 usage error, 2 bad scenario file, \
3 runtime/target error, 4 assertions failed, 5 load threshold breached.";
