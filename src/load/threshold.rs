//! Pass/fail rules on a run's [`Summary`]: `p99 < 50ms`, `error_rate < 0.1%`,
//! `rps > 200`, `max <= 2s`, `avg < 10ms`, each optionally `for <name>`, where a name
//! is a request name (`token: slow_down`) or a group, the part before the colon
//! (`token`). `dropped == 0` judges an arrival-rate run's arrivals that found the pool of
//! flows full. They are judged on the summary, so a merged run is judged like one.

use super::summary::{micros, Summary, Verdict};

/// What a rule measures.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    /// Latency quantile in (0, 1).
    Quantile(f64),
    Mean,
    Max,
    /// Failed requests, percent.
    ErrorRate,
    /// Requests per second over the run.
    Rps,
    /// Number of requests.
    Count,
    /// Arrivals of an open-model run that were not started (the pool was full).
    Dropped,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl Op {
    fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Op::Lt => observed < limit,
            Op::Le => observed <= limit,
            Op::Gt => observed > limit,
            Op::Ge => observed >= limit,
            Op::Eq => (observed - limit).abs() < 1e-9,
        }
    }
}

/// One parsed rule.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Threshold {
    rule: String,
    metric: Metric,
    op: Op,
    /// Microseconds for latencies, percent for error_rate, plain for rps and count.
    limit: f64,
    target: Option<String>,
}

impl Threshold {
    /// Parses `<metric> <op> <value> [for <name>]`.
    pub fn parse(text: &str) -> Result<Threshold, String> {
        let rule = text.trim().to_string();
        if rule.ends_with(" for") {
            return Err(format!("`{rule}`: nothing after `for`"));
        }
        let (body, target) = match rule.split_once(" for ") {
            Some((b, t)) if !t.trim().is_empty() => (b.trim(), Some(t.trim().to_string())),
            Some(_) => return Err(format!("`{rule}`: nothing after `for`")),
            None => (rule.as_str(), None),
        };
        let at = body.find(['<', '>', '=']).ok_or_else(|| {
            format!("`{rule}`: expected <metric> <op> <value>, such as p99 < 50ms")
        })?;
        let (name, rest) = body.split_at(at);
        let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
            (Op::Le, v)
        } else if let Some(v) = rest.strip_prefix(">=") {
            (Op::Ge, v)
        } else if let Some(v) = rest.strip_prefix("==") {
            (Op::Eq, v)
        } else if let Some(v) = rest.strip_prefix('<') {
            (Op::Lt, v)
        } else if let Some(v) = rest.strip_prefix('>') {
            (Op::Gt, v)
        } else {
            return Err(format!("`{rule}`: the operator must be <, <=, >, >= or =="));
        };
        let name = name.trim();
        let value = value.trim();
        let metric = match name {
            "avg" | "mean" => Metric::Mean,
            "max" => Metric::Max,
            "error_rate" | "error-rate" => Metric::ErrorRate,
            "rps" => Metric::Rps,
            "count" => Metric::Count,
            "dropped" => Metric::Dropped,
            p if p.starts_with('p') => {
                let q: f64 = p[1..].parse().map_err(|_| {
                    format!("`{rule}`: `{p}` is not a percentile such as p99 or p99.9")
                })?;
                if !(q > 0.0 && q < 100.0) {
                    return Err(format!("`{rule}`: a percentile is above 0 and below 100"));
                }
                Metric::Quantile(q / 100.0)
            }
            other => {
                return Err(format!(
                    "`{rule}`: unknown metric `{other}` (pNN, avg, max, error_rate, rps, count, dropped)"
                ))
            }
        };
        if metric == Metric::Dropped && target.is_some() {
            return Err(format!(
                "`{rule}`: `dropped` counts an arrival-rate run's unstarted flows, not requests: it takes no `for`"
            ));
        }
        let limit = limit(metric, value, &rule)?;
        Ok(Threshold {
            rule,
            metric,
            op,
            limit,
            target,
        })
    }

    /// Judges the rule on `s`.
    pub fn judge(&self, s: &Summary) -> Verdict {
        let target = self.target.as_deref();
        let picked = s.select(|name| match target {
            None => true,
            Some(t) => name == t || name.split(':').next().is_some_and(|g| g.trim() == t),
        });
        let (h, count, errors) = match picked {
            Ok(x) => x,
            Err(e) => return self.verdict(format!("unreadable summary: {e}"), false),
        };
        if count == 0 && !matches!(self.metric, Metric::Count | Metric::Dropped) {
            let what = target.map(|t| format!(" for {t}")).unwrap_or_default();
            return self.verdict(format!("no requests{what}"), false);
        }
        let (observed, shown) = match self.metric {
            Metric::Quantile(q) => {
                let v = h.value_at_quantile(q);
                (v as f64, micros(v))
            }
            Metric::Mean => (h.mean(), micros(h.mean().round() as u64)),
            Metric::Max => (h.max() as f64, micros(h.max())),
            Metric::ErrorRate => {
                let r = errors as f64 * 100.0 / count as f64;
                (r, format!("{r:.3}% ({errors} of {count})"))
            }
            Metric::Rps => {
                let r = s.rps(count);
                (r, format!("{r:.1}/s"))
            }
            Metric::Count => (count as f64, count.to_string()),
            Metric::Dropped => return self.dropped(s),
        };
        self.verdict(shown, self.op.holds(observed, self.limit))
    }

    /// An arrival-rate run's unstarted arrivals.
    fn dropped(&self, s: &Summary) -> Verdict {
        match &s.arrivals {
            Some(a) => self.verdict(
                format!(
                    "{} of {} arrivals (at most {} flows in flight)",
                    a.dropped, a.intended, a.max_in_flight
                ),
                self.op.holds(a.dropped as f64, self.limit),
            ),
            None => self.verdict("not an arrival-rate run".into(), false),
        }
    }

    fn verdict(&self, observed: String, passed: bool) -> Verdict {
        Verdict {
            rule: self.rule.clone(),
            observed,
            passed,
        }
    }
}

/// A rule's value in the metric's unit: microseconds for latencies, percent for
/// error_rate, plain for rps, count and dropped.
fn limit(metric: Metric, value: &str, rule: &str) -> Result<f64, String> {
    match metric {
        Metric::Quantile(_) | Metric::Mean | Metric::Max => parse_time(value)
            .ok_or_else(|| format!("`{rule}`: `{value}` is not a time such as 50ms, 800us or 2s")),
        Metric::ErrorRate => value
            .strip_suffix('%')
            .unwrap_or(value)
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("`{rule}`: `{value}` is not a percentage such as 0.1%")),
        Metric::Rps | Metric::Count | Metric::Dropped => value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("`{rule}`: `{value}` is not a number")),
    }
}

/// `50ms`, `800us`, `800µs`, `2s` → microseconds (a unit is required).
fn parse_time(v: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = v.strip_suffix("us").or_else(|| v.strip_suffix("µs")) {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .map(|x| x * scale)
}

/// Judges every rule; the verdicts in order.
pub(crate) fn judge_all(rules: &[String], s: &Summary) -> Result<Vec<Verdict>, String> {
    rules
        .iter()
        .map(|r| Threshold::parse(r).map(|t| t.judge(s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::summary::{Recorder, RunMeta};
    use super::*;
    use std::time::Duration;

    fn summary() -> Summary {
        let r = Recorder::default();
        for i in 1..=100u64 {
            r.request(
                "token: authorization_pending",
                Duration::from_millis(i),
                true,
            );
        }
        r.request("token: success", Duration::from_millis(500), false);
        r.summary(
            RunMeta {
                profile: "p".into(),
                kind: "device-polling".into(),
                target: "builtin".into(),
                users: 1,
                shard: "0/1".into(),
                time_scale: 1,
            },
            Duration::from_secs(10),
        )
    }

    fn judge(rule: &str) -> (bool, String) {
        let v = Threshold::parse(rule)
            .expect("valid rule")
            .judge(&summary());
        (v.passed, v.observed)
    }

    #[test]
    fn rules_judge_both_ways() {
        assert!(judge("p99 < 200ms").0);
        assert!(!judge("p99 < 50ms").0);
        assert!(judge("p50<=51ms for token: authorization_pending").0);
        assert!(!judge("max < 400ms for token").0);
        assert!(judge("max < 400ms for token: authorization_pending").0);
        assert_eq!(judge("error_rate < 1%"), (true, "0.990% (1 of 101)".into()));
        assert!(!judge("error_rate < 0.5%").0);
        assert!(judge("rps > 10").0);
        assert!(!judge("rps > 10.1").0);
        assert!(judge("count == 1 for token: success").0);
        assert_eq!(
            judge("p99 < 1s for revoke"),
            (false, "no requests for revoke".into())
        );
    }

    #[test]
    fn dropped_arrivals_are_judged_on_the_arrivals_only() {
        let mut s = summary();
        let rule = Threshold::parse("dropped == 0").expect("valid rule");
        assert_eq!(
            (rule.judge(&s).passed, rule.judge(&s).observed),
            (false, "not an arrival-rate run".into())
        );
        let lag = crate::load::summary::new_histogram();
        s.arrivals = Some(crate::load::summary::ArrivalFigures {
            plan: "100/s for 10s".into(),
            intended: 1000,
            started: 997,
            dropped: 3,
            schedule_s: 10.0,
            intended_rate: 100.0,
            achieved_rate: 99.7,
            max_in_flight: 5,
            peak_in_flight: 5,
            abandoned: 0,
            start_lag: crate::load::summary::RequestSummary::new(&lag, 0),
        });
        let v = rule.judge(&s);
        assert_eq!(
            (v.passed, v.observed.as_str()),
            (false, "3 of 1000 arrivals (at most 5 flows in flight)")
        );
        assert!(
            Threshold::parse("dropped <= 3")
                .expect("rule")
                .judge(&s)
                .passed
        );
    }

    #[test]
    fn bad_rules_say_why() {
        for (rule, why) in [
            ("p99 < 50", "not a time"),
            ("p100 < 5ms", "below 100"),
            ("latency < 5ms", "unknown metric"),
            ("p99 50ms", "expected <metric>"),
            ("rps > lots", "not a number"),
            ("p99 < 5ms for ", "nothing after"),
            ("dropped == 0 for token", "takes no `for`"),
        ] {
            let e = Threshold::parse(rule).expect_err(rule);
            assert!(e.contains(why), "{rule}: {e}");
        }
    }
}
