//! The `race` step (conformance matrix §17a, *(race N×R)*): one request sent N times at
//! once, each on its own connection, released together after every connection is open
//! (a barrier). Its answers are summed up in one JSON document, the step's response, so
//! that ordinary assertions count them (`json: $.ok, less_than: 2`). The rounds are the
//! scenario's (`rounds:`, [`super::run_scenario`]): each from scratch, with a fresh
//! artefact; a clean run is "not observed", never proof.
//!
//! The `each` step sends one request per member of a list, in turn, and sums its answers
//! up the same way (what a race returned, presented once each: RACE-5, RACE-6).

use crate::assert::Exchange;
use crate::runner::http::to_exchange;
use crate::runner::request::{learn_secrets, resolve, summarize};
use crate::runner::session::Session;
use crate::runner::StepError;
use crate::scenario::model::{Each, Race};
use crate::scenario::template::Tree;
use crate::scenario::vars::Vars;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Runs the race: the summary as the step's exchange, and the request line it reports.
pub(crate) async fn race(
    r: &Race,
    session: &Session,
    vars: &mut Vars,
) -> Result<(Exchange, crate::runner::result::ExchangeSummary), StepError> {
    let n = r.n.unwrap_or(session.race.n) as usize;
    crate::runner::request::know_target_time(session, &r.request).await;
    let spec = resolve(session, vars, &r.request)?;
    for (value, kind) in &spec.secrets {
        vars.redactor.add(value, kind);
    }
    // Every connection open first: N requests that need no credential, at once, so the
    // pool holds N live connections when the racers leave.
    let warm: Vec<_> = (0..n)
        .map(|_| session.http.get(&session.base).send())
        .collect();
    for w in futures_util::future::join_all(warm).await {
        w.map_err(crate::runner::error::TargetError::from)?;
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..n {
        let mut req = session.http.request(spec.method.clone(), &spec.url);
        for (k, v) in &spec.headers {
            req = req.header(k, v);
        }
        if let Some((content_type, text)) = &spec.body {
            req = req.header("content-type", content_type).body(text.clone());
        }
        let barrier = barrier.clone();
        racers.spawn(async move {
            barrier.wait().await;
            let answer = match req.send().await {
                Ok(resp) => to_exchange(resp).await.map_err(StepError::from),
                Err(e) => Err(crate::runner::error::TargetError::from(e).into()),
            };
            (i, answer)
        });
    }
    let mut answers: Vec<(usize, Exchange)> = Vec::with_capacity(n);
    while let Some(joined) = racers.join_next().await {
        let (i, answer) = joined.map_err(|e| StepError::Step(format!("a racer failed: {e}")))?;
        answers.push((i, answer?));
    }
    // In the order they arrived: the last refresh token returned is the newest.
    let answers: Vec<Exchange> = answers.into_iter().map(|(_, ex)| ex).collect();
    for ex in &answers {
        learn_secrets(&mut vars.redactor, ex);
    }
    let summary = summary_of(&answers);
    let body = summary.to_string();
    let ex = Exchange {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body,
        json: Some(summary),
    };
    let sent = spec.body.as_ref().map_or("", |(_, t)| t.as_str());
    let mut line = summarize(
        &vars.redactor,
        spec.method.as_str(),
        &format!("{} (×{n} at once)", spec.url),
        sent,
        &ex,
    );
    line.status = answers.first().map_or(0, |a| a.status);
    Ok((ex, line))
}

/// Runs an `each` step: the request once per member of the list, in turn (reversed, or
/// up to the first 2xx answer, when asked). Its summary is a race's; the report lists
/// every request sent.
pub(crate) async fn each(
    e: &Each,
    session: &Session,
    vars: &mut Vars,
) -> Result<(Exchange, Vec<crate::runner::result::ExchangeSummary>), StepError> {
    let mut members = match vars.json(&e.over)? {
        Value::Array(members) => members,
        // Its kind, never its value (a token, perhaps).
        other => {
            let kind = match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                _ => "an object",
            };
            let named = match &e.over {
                Tree::Text(t) => format!(" ({t})"),
                _ => String::new(),
            };
            return Err(StepError::Step(format!(
                "each: `in`{named} is {kind}, not a list"
            )));
        }
    };
    if e.reverse {
        members.reverse();
    }
    let mut answers = Vec::with_capacity(members.len());
    let mut lines = Vec::with_capacity(members.len());
    for member in members {
        vars.set(&e.bind, member);
        let (ex, line) = crate::runner::request::send(session, vars, &e.request).await?;
        let ok = (200..300).contains(&ex.status);
        answers.push(ex);
        lines.push(line);
        if ok && e.until_ok {
            break;
        }
    }
    let summary = summary_of(&answers);
    let ex = Exchange {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: summary.to_string(),
        json: Some(summary),
    };
    Ok((ex, lines))
}

/// The answers counted: `n`, `ok` (2xx), `codes` (redirects whose `Location` carries a
/// `code`: authorization responses), `refused` (every other: a 429 or 5xx counts as a
/// refusal, and shows in `statuses`), `statuses`, `errors` (each `error` member's value),
/// `winner` (the first 2xx answer's JSON body, else null), `refresh_tokens` (the distinct
/// `refresh_token` values of the 2xx answers, in the answers' order), `server_errors`
/// (the 5xx answers, among the refused).
pub(crate) fn summary_of(answers: &[Exchange]) -> Value {
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for a in answers {
        *statuses.entry(a.status.to_string()).or_default() += 1;
        if let Some(e) = a
            .json
            .as_ref()
            .and_then(|j| j.get("error"))
            .and_then(Value::as_str)
        {
            *errors.entry(e.to_string()).or_default() += 1;
        }
    }
    let ok = answers
        .iter()
        .filter(|a| (200..300).contains(&a.status))
        .count();
    let winner = answers
        .iter()
        .find(|a| (200..300).contains(&a.status))
        .and_then(|a| a.json.clone())
        .unwrap_or(Value::Null);
    let counts = |m: BTreeMap<String, u64>| -> Map<String, Value> {
        m.into_iter().map(|(k, v)| (k, json!(v))).collect()
    };
    // Authorization responses: the redirects that carry a code (RACE-9).
    let codes = answers
        .iter()
        .filter(|a| {
            a.header("location")
                .and_then(|l| l.split_once('?'))
                .is_some_and(|(_, q)| {
                    let q = q.split('#').next().unwrap_or_default();
                    url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "code")
                })
        })
        .count();
    let mut refresh_tokens: Vec<Value> = Vec::new();
    for a in answers.iter().filter(|a| (200..300).contains(&a.status)) {
        let rt = a.json.as_ref().and_then(|j| j.get("refresh_token"));
        if let Some(rt) = rt.filter(|rt| rt.is_string() && !refresh_tokens.contains(rt)) {
            refresh_tokens.push(rt.clone());
        }
    }
    let server_errors = answers.iter().filter(|a| a.status >= 500).count();
    json!({
        "n": answers.len(),
        "ok": ok,
        "codes": codes,
        "refused": answers.len() - ok,
        "server_errors": server_errors,
        "statuses": counts(statuses),
        "errors": counts(errors),
        "winner": winner,
        "refresh_tokens": refresh_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Exchange {
        Exchange {
            status,
            json: serde_json::from_str(body).ok(),
            body: body.into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_summary_counts_winners_refusals_statuses_and_errors() {
        let s = summary_of(&[
            answer(400, r#"{"error":"invalid_grant"}"#),
            answer(200, r#"{"access_token":"a"}"#),
            answer(429, ""),
            answer(200, r#"{"access_token":"b"}"#),
            answer(400, r#"{"error":"invalid_grant"}"#),
        ]);
        assert_eq!(s["n"], 5);
        assert_eq!(s["ok"], 2);
        assert_eq!(s["refused"], 3);
        assert_eq!(s["server_errors"], 0, "a 429 is no server error");
        assert_eq!(s["statuses"], json!({"200": 2, "400": 2, "429": 1}));
        assert_eq!(s["errors"], json!({"invalid_grant": 2}));
        assert_eq!(s["winner"]["access_token"], "a", "the first winner");
        assert_eq!(s["codes"], 0);
        assert_eq!(s["refresh_tokens"], json!([]));
        let rotated = summary_of(&[
            answer(200, r#"{"refresh_token":"r2"}"#),
            answer(400, r#"{"error":"invalid_grant","refresh_token":"x"}"#),
            answer(500, ""),
            answer(200, r#"{"refresh_token":"r3"}"#),
            answer(200, r#"{"refresh_token":"r2"}"#),
        ]);
        assert_eq!(
            rotated["refresh_tokens"],
            json!(["r2", "r3"]),
            "distinct, of 2xx answers, in order"
        );
        let redirect = |q: &str| Exchange {
            status: 302,
            headers: vec![("location".into(), format!("https://c.example/cb?{q}"))],
            ..Default::default()
        };
        let approvals = summary_of(&[
            redirect("code=a&state=s"),
            redirect("error=invalid_request&state=s"),
            redirect("state=s&code=b"),
        ]);
        assert_eq!(approvals["codes"], 2, "{approvals}");
        let none = summary_of(&[answer(400, r#"{"error":"invalid_grant"}"#)]);
        assert_eq!(
            (none["ok"].clone(), none["winner"].clone()),
            (json!(0), Value::Null)
        );
    }
}
