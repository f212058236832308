//! The `race` step (conformance matrix §17a, *(race N×R)*): one request sent N times at
//! once, each on its own connection, released together after every connection is open
//! (a barrier). Its answers are summed up in one JSON document, the step's response, so
//! that ordinary assertions count them (`json: $.ok, less_than: 2`). The rounds are the
//! scenario's (`rounds:`, [`super::run_scenario`]): each from scratch, with a fresh
//! artefact; a clean run is "not observed", never proof.

use crate::assert::Exchange;
use crate::runner::http::to_exchange;
use crate::runner::request::{learn_secrets, resolve, summarize};
use crate::runner::session::Session;
use crate::runner::StepError;
use crate::scenario::model::Race;
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
    answers.sort_by_key(|(i, _)| *i);
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

/// The answers counted: `n`, `ok` (2xx), `codes` (redirects whose `Location` carries a
/// `code`: authorization responses), `refused` (every other: a 429 or 5xx counts as a
/// refusal, and shows in `statuses`), `statuses`, `errors` (each `error` member's value),
/// `winner` (the first 2xx answer's JSON body, else null).
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
    json!({
        "n": answers.len(),
        "ok": ok,
        "codes": codes,
        "refused": answers.len() - ok,
        "statuses": counts(statuses),
        "errors": counts(errors),
        "winner": winner,
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
        assert_eq!(s["statuses"], json!({"200": 2, "400": 2, "429": 1}));
        assert_eq!(s["errors"], json!({"invalid_grant": 2}));
        assert_eq!(s["winner"]["access_token"], "a", "the first winner");
        assert_eq!(s["codes"], 0);
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
