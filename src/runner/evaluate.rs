//! One assertion evaluated against a response: its query selects a value, its predicates
//! judge it, and the verdict takes the cited row's level (FAILED, WARNING or INFO).

use crate::assert::predicate::{self, Checked};
use crate::assert::{self, Exchange};
use crate::contract::{Contract, Weight};
use crate::runner::request::cut;
use crate::runner::result::{AssertionResult, Status};
use crate::runner::StepCtx;
use crate::scenario::model::{Assertion, Check, Condition, Level, Query, Step};
use crate::scenario::spans::Seg;
use crate::scenario::template::Tree;
use crate::scenario::vars::{VarError, Vars};
use serde_json::Value;

fn expected_value(vars: &mut Vars, v: &Tree) -> Result<Value, VarError> {
    vars.json(v)
}

/// Evaluates one assertion into a result (never an `Err`: a query that cannot be evaluated
/// is a failed assertion that says why).
pub(crate) fn evaluate(
    ctx: &StepCtx<'_>,
    j: usize,
    a: &Assertion,
    ex: &Exchange,
    vars: &mut Vars,
    step: &Step,
) -> AssertionResult {
    let loc = ctx.l.spans.loc(&[
        Seg::Key("steps"),
        Seg::Index(ctx.index),
        Seg::Key("expect"),
        Seg::Index(j),
    ]);
    let requirement = a
        .requirement
        .clone()
        .or_else(|| step.requirements.first().cloned());
    let skipped = |expected: String| AssertionResult {
        loc: loc.clone(),
        description: a.query().map(|q| q.to_string()).unwrap_or_default(),
        expected,
        actual: String::new(),
        status: Status::Skipped,
        requirement: requirement.clone(),
        row: None,
    };
    if let Some(id) = requirement.as_deref().filter(|id| !ctx.contract.judges(id)) {
        let (whose, _) = Contract::judged_by(id);
        return skipped(format!(
            "{whose} (not judged under --expect {})",
            ctx.contract.name()
        ));
    }
    // The contract may weigh the row otherwise (matrix §22 table A).
    let level = match ctx.contract.level_of(requirement.as_deref(), a.level) {
        Weight::At(level) => level,
        Weight::NotApplicable(words) => {
            return skipped(format!(
                "not applicable under --expect {}: {words}",
                ctx.contract.name()
            ))
        }
    };
    let fail_status = match level {
        Level::Must => Status::Failed,
        Level::Should => Status::Warning,
        Level::May => Status::Info,
    };
    let (query, predicates) = match &a.check {
        Check::AnyOf(groups) => {
            return any_of(
                ctx,
                j,
                groups,
                ex,
                vars,
                step,
                fail_status,
                requirement,
                loc,
            )
        }
        Check::Value { query, predicates } => (query, predicates),
    };
    let v = judge_value(query, predicates, ex, vars, fail_status);
    AssertionResult {
        loc,
        description: v.description,
        expected: v.expected,
        actual: v.actual,
        status: v.status,
        requirement,
        row: None,
    }
}

/// What one value assertion came to, before its place and row are added.
struct Judged {
    description: String,
    expected: String,
    actual: String,
    status: Status,
}

/// Selects `query` from the exchange and checks every predicate on it: passed, the
/// row's failure status, or not judged when a value an earlier step should have given is
/// missing (SKIPPED) or broken (ERROR). Everything shown is redacted.
fn judge_value(
    query: &Query,
    predicates: &[crate::scenario::model::Predicate],
    ex: &Exchange,
    vars: &mut Vars,
    fail_status: Status,
) -> Judged {
    let red = vars.redactor.clone();
    let actual = match assert::select(query, ex) {
        Ok(v) => v,
        Err(e) => {
            return Judged {
                description: format!("{query}"),
                expected: "a value".into(),
                actual: red.redact(&e),
                status: fail_status,
            };
        }
    };
    let mut checks: Vec<Checked> = Vec::new();
    let mut problem: Option<VarError> = None;
    for p in predicates {
        match predicate::check(p, actual.as_ref(), vars) {
            Ok(c) => checks.push(c),
            Err(e) => problem = Some(e),
        }
    }
    let expected = red.redact(
        &checks
            .iter()
            .map(Checked::text)
            .collect::<Vec<_>>()
            .join(" and "),
    );
    let description = format!("{query} {expected}");
    let status = match problem {
        // A value an earlier step could not give: not judged, with the reason.
        Some(e) => {
            let status = match e {
                VarError::Missing { .. } => Status::Skipped,
                _ => Status::Error,
            };
            return Judged {
                description,
                expected,
                actual: red.redact(&e.to_string()),
                status,
            };
        }
        None if checks.iter().all(|c| c.held) => Status::Passed,
        None => fail_status,
    };
    let shown = match (query, &actual) {
        (Query::Body, Some(Value::String(b))) => cut(b),
        _ => assert::show(actual.as_ref()),
    };
    Judged {
        description,
        expected,
        actual: red.redact(&shown),
        status,
    }
}

/// Whether a step's or an assertion's `if` holds: `None` when it does, else why it does not
/// apply.
pub(crate) fn condition(c: &Condition, vars: &mut Vars) -> Result<Option<String>, VarError> {
    let actual = vars.lookup(&c.var)?;
    let mut wanted = Vec::new();
    if let Some(v) = &c.equals {
        wanted.push(expected_value(vars, v)?);
    }
    for v in c.one_of.iter().flatten() {
        wanted.push(expected_value(vars, v)?);
    }
    let mut shown: Vec<String> = wanted.iter().map(Value::to_string).collect();
    let mut holds = wanted.iter().any(|w| assert::equal(&actual, w));
    if let Some(v) = &c.not_equals {
        let other = expected_value(vars, v)?;
        holds |= !assert::equal(&actual, &other);
        shown.push(format!("anything but {other}"));
    }
    if let Some(list) = &c.none_of {
        let mut others = Vec::new();
        for v in list {
            others.push(expected_value(vars, v)?);
        }
        holds |= !others.iter().any(|o| assert::equal(&actual, o));
        let names: Vec<String> = others.iter().map(Value::to_string).collect();
        shown.push(format!("none of {}", names.join(", ")));
    }
    if let Some(v) = &c.greater_than {
        let bound = expected_value(vars, v)?;
        holds |= matches!((assert::number(&actual), assert::number(&bound)), (Some(a), Some(b)) if a > b);
        shown.push(format!("greater than {bound}"));
    }
    if holds {
        return Ok(None);
    }
    Ok(Some(format!(
        "not applicable: `{}` is {actual}, and this applies when it is {}",
        c.var,
        shown.join(" or ")
    )))
}

/// `any_of`: holds when all the assertions of one alternative hold.
#[allow(clippy::too_many_arguments)]
fn any_of(
    ctx: &StepCtx<'_>,
    j: usize,
    groups: &[Vec<Assertion>],
    ex: &Exchange,
    vars: &mut Vars,
    step: &Step,
    fail_status: Status,
    requirement: Option<String>,
    loc: crate::scenario::spans::Loc,
) -> AssertionResult {
    let mut texts = Vec::new();
    let mut seen = Vec::new();
    let mut held = false;
    for group in groups {
        let results: Vec<(String, AssertionResult)> = group
            .iter()
            .map(|inner| {
                let query = inner.query().map(|q| q.to_string()).unwrap_or_default();
                let inner = Assertion {
                    requirement: requirement.clone(),
                    ..inner.clone()
                };
                (query, evaluate(ctx, j, &inner, ex, vars, step))
            })
            .collect();
        if let Some((_, e)) = results.iter().find(|(_, r)| r.status == Status::Error) {
            return AssertionResult {
                status: Status::Error,
                loc,
                requirement,
                row: None,
                ..e.clone()
            };
        }
        held |= results.iter().all(|(_, r)| r.status == Status::Passed);
        texts.push(format!(
            "({})",
            results
                .iter()
                .map(|(_, r)| r.description.clone())
                .collect::<Vec<_>>()
                .join(" and ")
        ));
        for (query, r) in &results {
            let shown = format!("{query} is {}", r.actual);
            if !seen.contains(&shown) {
                seen.push(shown);
            }
        }
    }
    AssertionResult {
        loc,
        description: format!("any of {}", texts.join(" or ")),
        expected: texts.join(" or "),
        actual: seen.join(", "),
        status: if held { Status::Passed } else { fail_status },
        requirement,
        row: None,
    }
}
