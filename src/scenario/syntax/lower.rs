//! Lowering: a scenario document, as serde read it, into the typed
//! [`model`](crate::scenario::model), each rule checked at the node that breaks it.

use super::{AssertionDoc, PollDoc, RequestDoc, ScenarioDoc, StepDoc};
use crate::scenario::model::{
    Action, ActionKind, Assertion, Body, Check, Destination, Each, EndpointRef, Level, Poll,
    Predicate, Query, Race, Request, Scenario, Step,
};
use crate::scenario::spans::Seg;
use crate::scenario::template::Tree;

/// A rule of the language a document breaks, and where (a path into the document).
#[derive(Debug, Clone)]
pub struct Broken {
    /// Where, as a path from the top of the document.
    pub path: Vec<Seg<'static>>,
    /// What is wrong.
    pub message: String,
}

fn broken(path: &[Seg<'static>], message: impl Into<String>) -> Broken {
    Broken {
        path: path.to_vec(),
        message: message.into(),
    }
}

fn at(path: &[Seg<'static>], more: &[Seg<'static>]) -> Vec<Seg<'static>> {
    let mut p = path.to_vec();
    p.extend_from_slice(more);
    p
}

/// The typed scenario a document says, or the first rule it breaks.
pub fn lower(doc: ScenarioDoc) -> Result<Scenario, Broken> {
    let ScenarioDoc {
        name,
        description,
        requirements,
        tags,
        requires,
        vars,
        steps,
        rounds,
        independent_steps,
        snapshot_redact,
    } = doc;
    if rounds == Some(0) || rounds.is_some_and(|r| r > 1000) {
        return Err(broken(&[Seg::Key("rounds")], "`rounds`: from 1 to 1000"));
    }
    if steps.is_empty() {
        return Err(broken(
            &[Seg::Key("steps")],
            "a scenario needs at least one step",
        ));
    }
    let steps = steps
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let mut step = lower_step(s, &[Seg::Key("steps"), Seg::Index(i)])?;
            step.stands_alone |= independent_steps;
            Ok(step)
        })
        .collect::<Result<_, _>>()?;
    Ok(Scenario {
        name,
        description,
        requirements,
        tags,
        requires,
        vars,
        steps,
        rounds,
        snapshot_redact,
    })
}

fn lower_step(doc: StepDoc, here: &[Seg<'static>]) -> Result<Step, Broken> {
    let StepDoc {
        name,
        requirements,
        if_,
        request,
        poll,
        approve,
        deny,
        consent,
        advance_clock,
        revoke_app,
        sleep,
        race,
        each,
        repeat,
        stands_alone,
        capture,
        expect,
        snapshot,
    } = doc;
    let mut actions: Vec<Action> = Vec::new();
    if let Some(r) = request {
        actions.push(Action::Request(lower_request(
            r,
            &at(here, &[Seg::Key("request")]),
        )?));
    }
    if let Some(p) = poll {
        actions.push(Action::Poll(lower_poll(p, &at(here, &[Seg::Key("poll")]))?));
    }
    if let Some(r) = race {
        let at_race = at(here, &[Seg::Key("race")]);
        if r.n.is_some_and(|n| !(2..=256).contains(&n)) {
            return Err(broken(
                &at_race,
                "`n`: a race is between 2 and 256 requests",
            ));
        }
        actions.push(Action::Race(Race {
            request: lower_request(r.request, &at(&at_race, &[Seg::Key("request")]))?,
            n: r.n,
        }));
    }
    if let Some(e) = each {
        let at_each = at(here, &[Seg::Key("each")]);
        if let Err(why) = crate::scenario::inputs::check_name(&e.bind) {
            return Err(broken(
                &at(&at_each, &[Seg::Key("as")]),
                format!("each: `as`: {why}"),
            ));
        }
        actions.push(Action::Each(Each {
            over: e.over,
            bind: e.bind,
            reverse: e.reverse,
            until_ok: e.until_ok,
            request: lower_request(e.request, &at(&at_each, &[Seg::Key("request")]))?,
        }));
    }
    let others = [
        approve.map(Action::Approve),
        deny.map(Action::Deny),
        consent.map(Action::Consent),
        advance_clock.map(Action::AdvanceClock),
        revoke_app.map(Action::RevokeApp),
        sleep.map(Action::Sleep),
    ];
    actions.extend(others.into_iter().flatten());
    let action = match actions.len() {
        1 => actions.remove(0),
        0 => {
            return Err(broken(
                here,
                format!(
                    "a step needs one action: {}",
                    in_words(
                        &ActionKind::all()
                            .iter()
                            .map(|k| k.name())
                            .collect::<Vec<_>>()
                    )
                ),
            ))
        }
        _ => {
            let names: Vec<&str> = actions.iter().map(Action::name).collect();
            return Err(broken(
                here,
                format!(
                    "a step has exactly one action, this one has {}",
                    names.join(", ")
                ),
            ));
        }
    };
    if repeat == 0 {
        return Err(broken(here, "repeat must be at least 1"));
    }
    let expect = expect
        .into_iter()
        .enumerate()
        .map(|(j, a)| lower_assertion(a, &at(here, &[Seg::Key("expect"), Seg::Index(j)])))
        .collect::<Result<_, _>>()?;
    Ok(Step {
        name,
        requirements,
        if_,
        action,
        repeat,
        stands_alone,
        capture,
        expect,
        snapshot,
    })
}

fn lower_request(doc: RequestDoc, here: &[Seg<'static>]) -> Result<Request, Broken> {
    let RequestDoc {
        method,
        endpoint,
        path,
        query,
        headers,
        form,
        json,
        raw,
        body,
        auth,
        dpop,
        follow_redirects,
    } = doc;
    let to = match (endpoint, path) {
        (Some(_), Some(_)) => return Err(broken(here, "give `endpoint` or `path`, not both")),
        (None, None) => {
            return Err(broken(
                here,
                "a request needs `endpoint` (a name) or `path`",
            ))
        }
        (Some(e), None) => match EndpointRef::parse(&e) {
            Some(r) => Destination::Endpoint(r),
            None => {
                return Err(broken(
                    &at(here, &[Seg::Key("endpoint")]),
                    format!(
                        "unknown endpoint `{e}` (known: {}, resource:NAME, api:/PATH)",
                        crate::endpoint::Endpoint::names().join(", ")
                    ),
                ))
            }
        },
        (None, Some(p)) => Destination::Path(p),
    };
    let mut bodies: Vec<(&str, Body)> = Vec::new();
    if let Some(f) = form {
        bodies.push(("form", Body::Form(f)));
    }
    if let Some(j) = json {
        bodies.push(("json", Body::Json(j)));
    }
    if let Some(r) = raw {
        bodies.push(("raw", Body::Raw(r)));
    }
    if let Some(b) = body {
        bodies.push(("body", Body::Params(b)));
    }
    let body = match bodies.len() {
        0 => None,
        1 => Some(bodies.remove(0).1),
        _ => {
            let names: Vec<&str> = bodies.iter().map(|(n, _)| *n).collect();
            return Err(broken(
                here,
                format!(
                    "a request has at most one body (form, json, raw or body), this one has {}",
                    names.join(", ")
                ),
            ));
        }
    };
    if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        .contains(&method.to_ascii_uppercase().as_str())
    {
        return Err(broken(
            &at(here, &[Seg::Key("method")]),
            format!("unknown method `{method}`"),
        ));
    }
    Ok(Request {
        method,
        to,
        query,
        headers,
        body,
        auth,
        dpop,
        follow_redirects,
    })
}

fn lower_poll(doc: PollDoc, here: &[Seg<'static>]) -> Result<Poll, Broken> {
    let PollDoc {
        request,
        interval,
        expires_in,
        user_code,
        approve_after,
        deny_after,
        early_by,
        max_polls,
    } = doc;
    if (approve_after.is_some() || deny_after.is_some()) && user_code.is_none() {
        return Err(broken(
            here,
            "approve_after and deny_after need `user_code`",
        ));
    }
    Ok(Poll {
        request: lower_request(request, &at(here, &[Seg::Key("request")]))?,
        interval,
        expires_in,
        user_code,
        approve_after,
        deny_after,
        early_by,
        max_polls,
    })
}

const PREDICATES: &str = "equals, not_equals, exists, absent, matches, contains, not_contains, one_of, type, greater_than, less_than, length, scope_equals, scope_lacks";

fn lower_assertion(doc: AssertionDoc, here: &[Seg<'static>]) -> Result<Assertion, Broken> {
    let queries = queries_of(&doc);
    let (predicates, from_status) = predicates_of(&doc, here)?;
    let AssertionDoc {
        any_of,
        if_,
        requirement,
        level,
        ..
    } = doc;
    let check = match (any_of, queries.as_slice()) {
        (Some(_), [_, ..]) => {
            return Err(broken(
                here,
                "an assertion with `any_of` has no query of its own: put each outcome in an alternative",
            ))
        }
        (Some(_), []) if !predicates.is_empty() => {
            return Err(broken(
                here,
                "an assertion with `any_of` has no predicate of its own: put each outcome in an alternative",
            ))
        }
        (Some(groups), []) => Check::AnyOf(lower_any_of(groups, here)?),
        (None, []) => {
            return Err(broken(
                here,
                "an assertion needs one of status, header, json, redirect, redirect_all, location, body, any_of",
            ))
        }
        (None, [query]) => {
            if from_status && predicates.len() > 1 {
                return Err(broken(
                    here,
                    "`status` takes a number or a list of numbers, and no other predicate",
                ));
            }
            if predicates.is_empty() {
                return Err(broken(
                    here,
                    format!("assertion on `{query}` has no predicate ({PREDICATES})"),
                ));
            }
            Check::Value {
                query: query.clone(),
                predicates,
            }
        }
        (None, _) => {
            return Err(broken(
                here,
                "an assertion has exactly one of status, header, json, redirect, redirect_all, location, body",
            ))
        }
    };
    Ok(Assertion {
        check,
        if_,
        requirement,
        level,
    })
}

/// The queries an assertion names (one is right; `any_of` has none).
fn queries_of(doc: &AssertionDoc) -> Vec<Query> {
    let mut queries = Vec::new();
    if doc.status.is_some() {
        queries.push(Query::Status);
    }
    queries.extend(doc.header.clone().map(Query::Header));
    queries.extend(doc.json.clone().map(Query::Json));
    queries.extend(doc.redirect.clone().map(Query::Redirect));
    queries.extend(doc.redirect_all.clone().map(Query::RedirectAll));
    if doc.location == Some(true) {
        queries.push(Query::Location);
    }
    if doc.body == Some(true) {
        queries.push(Query::Body);
    }
    queries
}

/// The predicates an assertion names, in the order descriptions list them (`equals 1 and
/// one of [1, 2]`), and whether the first is `status`'s own.
fn predicates_of(
    doc: &AssertionDoc,
    here: &[Seg<'static>],
) -> Result<(Vec<Predicate>, bool), Broken> {
    let mut predicates = Vec::new();
    match &doc.status {
        Some(Tree::List(list)) if list.iter().all(Tree::is_scalar) => {
            predicates.push(Predicate::OneOf(list.clone()));
        }
        Some(v) if v.is_scalar() => predicates.push(Predicate::Equals(v.clone())),
        Some(_) => {
            return Err(broken(
                here,
                "`status` takes a number or a list of numbers, and no other predicate",
            ))
        }
        None => {}
    }
    let from_status = !predicates.is_empty();
    let d = doc.clone();
    predicates.extend(d.equals.map(Predicate::Equals));
    predicates.extend(d.not_equals.map(Predicate::NotEquals));
    predicates.extend(d.exists.map(Predicate::Exists));
    predicates.extend(d.absent.map(|a| Predicate::Exists(!a)));
    predicates.extend(d.matches.map(Predicate::Matches));
    predicates.extend(d.contains.map(Predicate::Contains));
    predicates.extend(d.not_contains.map(Predicate::NotContains));
    predicates.extend(d.one_of.map(Predicate::OneOf));
    predicates.extend(d.type_.map(Predicate::Type));
    predicates.extend(d.greater_than.map(Predicate::GreaterThan));
    predicates.extend(d.less_than.map(Predicate::LessThan));
    predicates.extend(d.length.map(Predicate::Length));
    predicates.extend(d.scope_equals.map(Predicate::ScopeEquals));
    predicates.extend(d.scope_lacks.map(Predicate::ScopeLacks));
    Ok((predicates, from_status))
}

/// `any_of`'s alternatives: each assertion takes the requirement, level and `if` of the
/// one that holds them.
fn lower_any_of(
    groups: Vec<Vec<AssertionDoc>>,
    here: &[Seg<'static>],
) -> Result<Vec<Vec<Assertion>>, Broken> {
    if groups.is_empty() || groups.iter().any(Vec::is_empty) {
        return Err(broken(here, "any_of: every alternative needs an assertion"));
    }
    let mut out = Vec::new();
    for (g, group) in groups.into_iter().enumerate() {
        let mut alternative = Vec::new();
        for (k, inner) in group.into_iter().enumerate() {
            let path = at(here, &[Seg::Key("any_of"), Seg::Index(g), Seg::Index(k)]);
            if inner.requirement.is_some()
                || inner.if_.is_some()
                || inner.any_of.is_some()
                || inner.level != Level::Must
            {
                return Err(broken(
                    &path,
                    "any_of: an alternative's assertions take the requirement, level and `if` of the assertion that holds them",
                ));
            }
            alternative.push(lower_assertion(inner, &path)?);
        }
        out.push(alternative);
    }
    Ok(out)
}

/// `a, b or c`.
fn in_words(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
