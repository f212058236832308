//! Contracts: the expectation set a run holds the target to (conformance matrix §0, §17a).
//!
//! `rfc` is the matrix's rows as written; `noorle` adds Noorle's documented behaviour (the
//! builtin's default); `oauth21` is `rfc` with the level overrides of matrix §22 table A,
//! kept as data in `fixtures/contracts/oauth21.yaml`, and the rows of its table B
//! (OAUTH21-*), which only it judges. The evaluator asks [`Contract::level_of`] what an
//! assertion's verdict weighs; nothing else knows which rows a contract changes.

use crate::scenario::model::Level;
use serde::Deserialize;
use std::sync::OnceLock;

/// The expectation set a run holds the target to.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Contract {
    /// The RFCs only: assertions on NOORLE rows are SKIPPED with the reason.
    #[default]
    Rfc,
    /// The RFCs and Noorle's documented behaviour (the builtin's default).
    Noorle,
    /// The RFCs with OAuth 2.1's stricter levels (draft-ietf-oauth-v2-1-16, matrix §22).
    #[value(name = "oauth21")]
    #[serde(rename = "oauth21")]
    Oauth21,
}

/// What a contract makes of an assertion's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// Judged at this level.
    At(Level),
    /// The row does not apply under the contract: SKIPPED, with the draft's words.
    NotApplicable(&'static str),
}

/// One level override (a row of matrix §22 table A).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// The row.
    pub id: String,
    /// Its level under the `rfc` contract, as the matrix says it.
    pub rfc: String,
    /// Its level under this contract (`not applicable`: SKIPPED).
    pub level: String,
    /// The draft's section and sentence.
    pub words: String,
    /// What changes in the observation.
    pub observation: String,
}

/// A contract's overrides, as `fixtures/contracts/*.yaml` holds them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// The contract's name.
    pub name: String,
    /// The text that defines it.
    pub source: String,
    /// The rows whose level it changes.
    pub overrides: Vec<Override>,
}

const OAUTH21: &str = include_str!("../fixtures/contracts/oauth21.yaml");

impl Contract {
    /// The name reports and `${contract}` use.
    pub fn name(self) -> &'static str {
        match self {
            Contract::Rfc => "rfc",
            Contract::Noorle => "noorle",
            Contract::Oauth21 => "oauth21",
        }
    }

    /// Whether Noorle's documented behaviour (NOORLE-* rows) is judged.
    pub fn judges_noorle(self) -> bool {
        self == Contract::Noorle
    }

    /// Whether a row is judged under this contract: NOORLE-* rows only under `noorle`,
    /// OAUTH21-* rows (matrix §22 table B) only under `oauth21`.
    pub fn judges(self, row: &str) -> bool {
        if row.starts_with("NOORLE-") {
            self.judges_noorle()
        } else if row.starts_with("OAUTH21-") {
            self == Contract::Oauth21
        } else {
            true
        }
    }

    /// The contract that judges a row this one does not, and its `--expect` name.
    pub fn judged_by(row: &str) -> (&'static str, &'static str) {
        if row.starts_with("OAUTH21-") {
            ("OAuth 2.1's contract", "oauth21")
        } else {
            ("Noorle's documented contract", "noorle")
        }
    }

    /// The level overrides this contract makes (none for `rfc` and `noorle`).
    pub fn overrides(self) -> &'static [Override] {
        static OAUTH21_OVERRIDES: OnceLock<Overrides> = OnceLock::new();
        match self {
            Contract::Rfc | Contract::Noorle => &[],
            Contract::Oauth21 => {
                &OAUTH21_OVERRIDES
                    .get_or_init(|| {
                        serde_yaml::from_str(OAUTH21)
                            .expect("fixtures/contracts/oauth21.yaml is embedded and tested")
                    })
                    .overrides
            }
        }
    }

    /// The override of `row` under this contract, if any.
    pub fn override_of(self, row: &str) -> Option<&'static Override> {
        self.overrides().iter().find(|o| o.id == row)
    }

    /// The level this contract gives `row` where it changes it (`MUST (oauth21)`).
    pub fn label(self, row: &str) -> Option<String> {
        self.override_of(row)
            .map(|o| format!("{} ({})", o.level, self.name()))
    }

    /// What an assertion citing `row`, written at `written`, weighs under this contract.
    /// An assertion written at the row's own (`rfc`) level takes the contract's level; one
    /// written at another level (a check the matrix judges apart, or a scenario written
    /// for this contract) keeps its own.
    pub fn level_of(self, row: Option<&str>, written: Level) -> Weight {
        let Some(o) = row.and_then(|r| self.override_of(r)) else {
            return Weight::At(written);
        };
        if o.level == "not applicable" {
            return Weight::NotApplicable(&o.words);
        }
        let rfc = row
            .and_then(crate::coverage::row)
            .and_then(|r| Level::of_row(&r.level));
        match (rfc, Level::of_row(&o.level)) {
            (Some(rfc), Some(level)) if rfc == written => Weight::At(level),
            _ => Weight::At(written),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_override_names_a_row_and_a_level() {
        let o = Contract::Oauth21.overrides();
        assert!(o.len() >= 10, "{}", o.len());
        for x in o {
            assert!(crate::coverage::row(&x.id).is_some(), "{} is no row", x.id);
            assert!(
                x.level == "not applicable" || Level::of_row(&x.level).is_some(),
                "{}: {}",
                x.id,
                x.level
            );
            assert!(x.words.starts_with('§'), "{}: cite the section", x.id);
        }
        assert!(Contract::Rfc.overrides().is_empty());
    }

    #[test]
    fn an_override_weighs_assertions_written_at_the_rows_own_level() {
        let c = Contract::Oauth21;
        // BCP-8 is a SHOULD under the RFCs, a MUST under OAuth 2.1 (§10.1).
        assert_eq!(
            c.level_of(Some("BCP-8"), Level::Should),
            Weight::At(Level::Must)
        );
        assert_eq!(
            Contract::Rfc.level_of(Some("BCP-8"), Level::Should),
            Weight::At(Level::Should)
        );
        // TOK-16 (Basic) is a MAY under OAuth 2.1 (§2.4.1).
        assert_eq!(
            c.level_of(Some("TOK-16"), Level::Must),
            Weight::At(Level::May)
        );
        // An assertion written at the contract's level keeps it.
        assert_eq!(
            c.level_of(Some("BCP-2"), Level::Must),
            Weight::At(Level::Must)
        );
        assert_eq!(
            c.level_of(Some("BCP-2"), Level::May),
            Weight::At(Level::Must)
        );
        assert!(matches!(
            c.level_of(Some("TOK-25"), Level::Must),
            Weight::NotApplicable(w) if w.contains("§10.2")
        ));
        assert_eq!(
            c.level_of(Some("TOK-24"), Level::Must),
            Weight::At(Level::Must)
        );
        assert_eq!(c.level_of(None, Level::Should), Weight::At(Level::Should));
    }
}
