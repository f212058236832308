//! Requirement coverage: every row of the conformance matrix against the scenarios that
//! cite it (`oauth-harness coverage`). The rows ship as `fixtures/requirements.yaml`,
//! generated from the matrix, so the command works without the matrix beside the repo.

use crate::scenario::Loaded;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The rows, embedded.
pub(crate) const REQUIREMENTS: &str = include_str!("../fixtures/requirements.yaml");

/// One requirement row.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// `DEV-14`.
    pub id: String,
    /// MUST, SHOULD, MAY, MUST NOT, SHOULD NOT.
    pub level: String,
    /// `server` (scenarios observe it) or `harness` (the harness's own tests do).
    pub scope: String,
    /// What a violation costs.
    pub impact: Impact,
    /// Where it comes from.
    pub source: String,
    /// What it says.
    pub requirement: String,
    /// Why no scenario can observe it on the wire, and what checks it instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_observable: Option<String>,
}

/// What breaking a row costs (issue #27): reports list security findings first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    /// Its violation lets someone get, keep or use a token or code they should not have.
    Security,
    /// Anything else a client can trip on.
    Interop,
}

impl Impact {
    /// `security` or `interop`.
    pub fn name(self) -> &'static str {
        match self {
            Impact::Security => "security",
            Impact::Interop => "interop",
        }
    }
}

impl Requirement {
    /// MUST or MUST NOT.
    pub(crate) fn is_must(&self) -> bool {
        self.level.starts_with("MUST")
    }

    /// Whether the matrix derived the row where its source is silent on this exact case.
    pub fn derived(&self) -> bool {
        self.source.contains("derived")
    }

    /// `MUST`, `SHOULD (derived)`: the level, and "derived" where the source is silent.
    pub fn level_label(&self) -> String {
        if self.derived() {
            format!("{} (derived)", self.level)
        } else {
            self.level.clone()
        }
    }
}

/// The matrix's sections, by id prefix, in the order reports list them. Every row's prefix
/// is here (a unit test holds it), so no report drops a section it does not know.
pub const SECTIONS: &[(&str, &str)] = &[
    ("DEV", "Device authorization grant (RFC 8628)"),
    ("AUTHZ", "Authorization endpoint (RFC 6749 §3.1, §4.1)"),
    ("TOK", "Token endpoint (RFC 6749 §3.2, §4.1.3, §5)"),
    ("PKCE", "Proof key for code exchange (RFC 7636)"),
    ("REF", "Refresh tokens (RFC 6749 §6; Security BCP)"),
    ("REV", "Revocation (RFC 7009) and revoking a connected app"),
    ("RES", "Bearer tokens at a protected resource (RFC 6750)"),
    ("REG", "Dynamic client registration (RFC 7591)"),
    ("META", "Authorization server metadata (RFC 8414)"),
    ("INTRO", "Token introspection (RFC 7662)"),
    ("NOORLE", "What Noorle's docs state beyond the RFCs"),
    ("BCP", "Security Best Current Practice (RFC 9700)"),
    ("CLIENT", "What the client side must do"),
    ("ISS", "Issuer in the authorization response (RFC 9207)"),
    ("PAR", "Pushed authorization requests (RFC 9126)"),
    (
        "JWTAUTH",
        "Client authentication by signed assertion (RFC 7523)",
    ),
    ("DPOP", "Demonstrating proof of possession (RFC 9449)"),
    ("OAUTH21", "The oauth21 contract (draft-ietf-oauth-v2-1)"),
    ("RACE", "Single use under concurrency"),
];

/// The position of a row's section in [`SECTIONS`] (past the end for none).
pub fn section_of(id: &str) -> usize {
    let prefix = id.split('-').next().unwrap_or("");
    SECTIONS
        .iter()
        .position(|(p, _)| *p == prefix)
        .unwrap_or(SECTIONS.len())
}

/// The rows.
pub fn requirements() -> Vec<Requirement> {
    // The embedded file is checked by a unit test; a failure here is a build defect.
    serde_yaml::from_str(REQUIREMENTS).unwrap_or_else(|e| panic!("fixtures/requirements.yaml: {e}"))
}

static ROWS: std::sync::LazyLock<std::collections::HashMap<String, Requirement>> =
    std::sync::LazyLock::new(|| {
        requirements()
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect()
    });

/// The row with id `id`.
pub fn row(id: &str) -> Option<&'static Requirement> {
    ROWS.get(id)
}

/// A row and the scenario files that cite it.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The requirement.
    pub requirement: Requirement,
    /// Files of scenarios with an assertion that judges it.
    pub scenarios: Vec<String>,
}

impl Row {
    /// `covered`, `not covered`, `not observable` (no scenario can see it on the wire; the
    /// row says what checks it), or `harness` for rows the harness's tests check.
    pub fn state(&self) -> &'static str {
        match (self.requirement.scope.as_str(), self.scenarios.is_empty()) {
            ("harness", _) => "harness",
            (_, false) => "covered",
            (_, true) if self.requirement.not_observable.is_some() => "not observable",
            (_, true) => "not covered",
        }
    }
}

/// Every id the scenario's assertions judge. A row named only in the scenario's (or a
/// step's) `requirements` list is not covered: nothing there can fail on it.
pub(crate) fn cited(l: &Loaded) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for st in &l.scenario.steps {
        for a in &st.expect {
            if let Some(id) = a
                .requirement
                .clone()
                .or_else(|| st.requirements.first().cloned())
            {
                ids.push(id);
            }
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

/// Every id the scenario names anywhere (its lists and its assertions), for the check
/// that each is a matrix row.
pub fn named(l: &Loaded) -> Vec<String> {
    let s = &l.scenario;
    let mut ids: Vec<String> = s.requirements.clone();
    for st in &s.steps {
        ids.extend(st.requirements.iter().cloned());
        ids.extend(st.expect.iter().filter_map(|a| a.requirement.clone()));
    }
    ids.sort();
    ids.dedup();
    ids
}

/// The coverage table; also the ids scenarios cite that are not in the matrix.
pub fn table(scenarios: &[Loaded]) -> (Vec<Row>, Vec<(String, String)>) {
    let reqs = requirements();
    let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unknown = Vec::new();
    for l in scenarios {
        for id in named(l) {
            if !reqs.iter().any(|r| r.id == id) {
                unknown.push((l.path.to_string(), id));
            }
        }
        for id in cited(l) {
            if reqs.iter().any(|r| r.id == id) {
                by_id.entry(id).or_default().push(l.path.to_string());
            }
        }
    }
    let rows = reqs
        .into_iter()
        .map(|r| Row {
            scenarios: by_id.remove(&r.id).unwrap_or_default(),
            requirement: r,
        })
        .collect();
    (rows, unknown)
}

/// Observable MUST rows that no scenario cites.
pub fn uncovered_musts(rows: &[Row]) -> Vec<&str> {
    rows.iter()
        .filter(|r| r.requirement.is_must() && r.state() == "not covered")
        .map(|r| r.requirement.id.as_str())
        .collect()
}

/// The table as markdown (also readable on a console).
pub fn markdown(rows: &[Row], unknown: &[(String, String)]) -> String {
    let mut out = String::from("| id | level | state | scenarios |\n|---|---|---|---|\n");
    for r in rows {
        let cell = match (&r.requirement.not_observable, r.scenarios.is_empty()) {
            (Some(why), true) => why.clone(),
            _ => r
                .scenarios
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {cell} |\n",
            r.requirement.id,
            r.requirement.level,
            r.state(),
        ));
    }
    let count = |level: fn(&Requirement) -> bool| {
        let of: Vec<&Row> = rows
            .iter()
            .filter(|r| level(&r.requirement) && r.requirement.scope == "server")
            .collect();
        (
            of.iter().filter(|r| !r.scenarios.is_empty()).count(),
            of.len(),
        )
    };
    let (must_c, must_n) = count(Requirement::is_must);
    let (all_c, all_n) = count(|_| true);
    out.push_str(&format!(
        "\nMUST rows covered: {must_c} of {must_n}; all server rows covered: {all_c} of {all_n}; not observable by a scenario: {}; harness rows: {}\n",
        rows.iter().filter(|r| r.state() == "not observable").count(),
        rows.iter().filter(|r| r.requirement.scope == "harness").count()
    ));
    for (file, id) in unknown {
        out.push_str(&format!("unknown requirement id `{id}` cited in {file}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_counts_as_covered_only_where_an_assertion_judges_it() {
        let l = crate::scenario::load_str(
            "x.yaml".into(),
            "name: x\nrequirements: [TOK-4, DEV-13]\nsteps:\n  - request: {endpoint: token}\n    expect:\n      - status: 400\n        requirement: DEV-13\n"
                .into(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cited(&l), vec!["DEV-13".to_string()]);
        assert_eq!(named(&l), vec!["DEV-13".to_string(), "TOK-4".to_string()]);
        let (rows, _) = table(&[l]);
        let state = |id: &str| rows.iter().find(|r| r.requirement.id == id).map(Row::state);
        assert_eq!(state("TOK-4"), Some("not covered"));
        assert_eq!(state("DEV-13"), Some("covered"));
    }

    #[test]
    fn every_row_belongs_to_a_known_section() {
        for r in requirements() {
            assert!(section_of(&r.id) < SECTIONS.len(), "{}: no section", r.id);
        }
    }

    #[test]
    fn the_embedded_matrix_has_every_row() {
        let r = requirements();
        assert_eq!(r.len(), 291);
        assert!(r.iter().any(|x| x.id == "DEV-16" && x.level == "MAY"));
        // The 19 CLIENT rows, NOORLE-13 (Noorle's own client rules) and ISS-6…ISS-8
        // (RFC 9207's client rules).
        assert_eq!(r.iter().filter(|x| x.scope == "harness").count(), 23);
    }

    #[test]
    fn every_row_has_an_impact_class_and_the_rfc_9700_rows_are_security() {
        // `impact` is a required field: a row without one fails to parse, whichever row.
        let without = REQUIREMENTS.replacen("  impact: interop\n", "", 1);
        assert!(serde_yaml::from_str::<Vec<Requirement>>(&without).is_err());
        let text_rows = REQUIREMENTS.matches("\n- id: ").count();
        assert_eq!(REQUIREMENTS.matches("\n  impact: ").count(), text_rows);
        let r = requirements();
        for id in [
            "BCP-1", "BCP-7", "TOK-21", "REF-6", "REF-9", "DEV-21", "AUTHZ-7",
        ] {
            assert_eq!(row(id).map(|x| x.impact), Some(Impact::Security), "{id}");
        }
        for id in ["TOK-11", "META-8", "DEV-4", "NOORLE-10"] {
            assert_eq!(row(id).map(|x| x.impact), Some(Impact::Interop), "{id}");
        }
        assert!(r.iter().any(|x| x.impact == Impact::Interop));
        assert_eq!(
            row("DEV-21").map(|x| x.level_label()).as_deref(),
            Some("SHOULD (derived)")
        );
        assert_eq!(
            row("TOK-21").map(|x| x.level_label()).as_deref(),
            Some("MUST")
        );
    }
}
