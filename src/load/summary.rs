//! What a load run measured: per request name an HDR histogram of latencies in
//! microseconds with its count and errors, the outcome counters, and the harness's own
//! interval violations. A [`Summary`] is the mergeable form written to `summary.json`:
//! its histograms travel as base64 HDR V2 so that `load merge` adds shards exactly.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2Serializer};
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Slowest latency a histogram records exactly: one hour, in microseconds.
const HIGHEST_US: u64 = 3_600_000_000;

pub(crate) fn new_histogram() -> Histogram<u64> {
    // Three significant figures from 1 µs to an hour; cannot fail for these bounds.
    Histogram::new_with_bounds(1, HIGHEST_US, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant figures are valid"))
    })
}

#[derive(Debug)]
struct Request {
    histogram: Histogram<u64>,
    errors: u64,
}

/// Collects measurements while a run goes; shared by every simulated user.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    requests: Mutex<BTreeMap<String, Request>>,
    outcomes: Mutex<BTreeMap<String, u64>>,
}

impl Recorder {
    /// Records one request under `name`.
    pub fn request(&self, name: &str, latency: Duration, ok: bool) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, HIGHEST_US);
        let mut map = self.requests.lock();
        let r = match map.get_mut(name) {
            Some(r) => r,
            None => map.entry(name.to_string()).or_insert_with(|| Request {
                histogram: new_histogram(),
                errors: 0,
            }),
        };
        // In bounds by the clamp above.
        let _ = r.histogram.record(us);
        r.errors += u64::from(!ok);
    }

    /// Counts one outcome (`success`, `slow_down`, `interval_violation`...).
    pub fn count(&self, outcome: &str, n: u64) {
        *self.outcomes.lock().entry(outcome.to_string()).or_default() += n;
    }

    /// Requests recorded so far (for progress lines).
    pub(crate) fn total_requests(&self) -> u64 {
        self.requests
            .lock()
            .values()
            .map(|r| r.histogram.len())
            .sum()
    }

    /// Every request name's figures so far, for live metrics.
    pub(crate) fn views(&self) -> Vec<(String, View)> {
        self.requests
            .lock()
            .iter()
            .map(|(name, r)| {
                let h = &r.histogram;
                let view = View {
                    count: h.len(),
                    errors: r.errors,
                    quantiles_us: LIVE_QUANTILES.map(|q| h.value_at_quantile(q)),
                };
                (name.clone(), view)
            })
            .collect()
    }

    /// A copy of the outcome counters.
    pub fn outcomes(&self) -> BTreeMap<String, u64> {
        self.outcomes.lock().clone()
    }

    /// The summary of everything recorded.
    pub fn summary(&self, meta: RunMeta, duration: Duration) -> Summary {
        let requests = self
            .requests
            .lock()
            .iter()
            .map(|(k, r)| (k.clone(), RequestSummary::new(&r.histogram, r.errors)))
            .collect();
        Summary {
            format: FORMAT.into(),
            meta,
            shards: 1,
            duration_s: duration.as_secs_f64(),
            requests,
            outcomes: self.outcomes(),
            thresholds: Vec::new(),
            notes: Vec::new(),
            arrivals: None,
        }
    }
}

/// The quantiles a [`View`] holds.
pub(crate) const LIVE_QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// One request name's figures at a moment of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct View {
    /// Requests so far.
    pub count: u64,
    /// Of which errors.
    pub errors: u64,
    /// Latency at 0.5, 0.9, 0.99 and 0.999, µs.
    pub quantiles_us: [u64; 4],
}

/// The `format` field of summary files.
pub(crate) const FORMAT: &str = "oauth-harness-load-summary/1";

/// What was run, for the report's header.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunMeta {
    /// Profile name.
    pub profile: String,
    /// Its kind.
    pub kind: String,
    /// Target description.
    pub target: String,
    /// Users of this process.
    pub users: usize,
    /// `index/count` of this process's shard.
    pub shard: String,
    /// Server time per real time.
    pub time_scale: u32,
}

/// One request name's figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestSummary {
    /// Requests.
    pub count: u64,
    /// Of which failed (transport errors, 5xx, answers the transaction did not expect).
    pub errors: u64,
    /// Latency percentiles and extremes, microseconds.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Slowest.
    pub max_us: u64,
    /// Mean.
    pub mean_us: f64,
    /// The histogram, HDR V2 serialized, base64.
    pub histogram: String,
}

impl RequestSummary {
    pub(crate) fn new(h: &Histogram<u64>, errors: u64) -> Self {
        let mut bytes = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = V2Serializer::new().serialize(h, &mut bytes);
        RequestSummary {
            count: h.len(),
            errors,
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: (h.mean() * 10.0).round() / 10.0,
            histogram: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    /// The histogram back from its serialized form.
    pub fn histogram(&self) -> Result<Histogram<u64>, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.histogram)
            .map_err(|e| format!("histogram is not base64: {e}"))?;
        Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("histogram is not HDR V2: {e:?}"))
    }
}

/// One threshold's verdict.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    /// The rule as written.
    pub rule: String,
    /// What was measured, as shown.
    pub observed: String,
    /// Whether it held.
    pub passed: bool,
}

/// The mergeable result of a run (or of merged shards).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// [`FORMAT`].
    pub format: String,
    /// What ran.
    pub meta: RunMeta,
    /// How many shard summaries this one holds.
    pub shards: usize,
    /// Wall time of the run (of the longest shard when merged), seconds.
    pub duration_s: f64,
    /// Per request name.
    pub requests: BTreeMap<String, RequestSummary>,
    /// Outcome counters.
    pub outcomes: BTreeMap<String, u64>,
    /// Threshold verdicts.
    pub thresholds: Vec<Verdict>,
    /// What a reader must know to trust the figures.
    pub notes: Vec<String>,
    /// An open-model run's arrivals (absent for the closed model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrivals: Option<ArrivalFigures>,
}

/// An open-model run's arrivals: what was asked and what was delivered.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ArrivalFigures {
    /// The plan, as written (`2000/s for 10s`, `100/s..2000/s over 30s`).
    pub plan: String,
    /// Arrivals that came due.
    pub intended: u64,
    /// Flows started.
    pub started: u64,
    /// Arrivals not started because `max_in_flight` flows were running.
    pub dropped: u64,
    /// How long the scheduler ran, seconds.
    pub schedule_s: f64,
    /// Arrivals due per second over the plan's time.
    pub intended_rate: f64,
    /// Flows started per second over the time the scheduler took.
    pub achieved_rate: f64,
    /// The pool's bound.
    pub max_in_flight: usize,
    /// The most flows in flight at once (a sum over shards when merged).
    pub peak_in_flight: usize,
    /// Flows still running when the run stopped waiting for them.
    pub abandoned: u64,
    /// How late flows started after their intended time.
    pub start_lag: RequestSummary,
}

impl ArrivalFigures {
    /// Shards side by side: counts and rates add, lags merge.
    fn merge(a: &ArrivalFigures, b: &ArrivalFigures) -> Result<ArrivalFigures, String> {
        let mut lag = a.start_lag.histogram()?;
        lag.add(b.start_lag.histogram()?)
            .map_err(|e| format!("start lag: cannot add histograms: {e:?}"))?;
        Ok(ArrivalFigures {
            plan: a.plan.clone(),
            intended: a.intended + b.intended,
            started: a.started + b.started,
            dropped: a.dropped + b.dropped,
            schedule_s: a.schedule_s.max(b.schedule_s),
            intended_rate: a.intended_rate + b.intended_rate,
            achieved_rate: a.achieved_rate + b.achieved_rate,
            max_in_flight: a.max_in_flight + b.max_in_flight,
            peak_in_flight: a.peak_in_flight + b.peak_in_flight,
            abandoned: a.abandoned + b.abandoned,
            start_lag: RequestSummary::new(&lag, 0),
        })
    }
}

impl Summary {
    /// The merged histogram, count and errors of the requests `select` picks.
    pub(crate) fn select(
        &self,
        select: impl Fn(&str) -> bool,
    ) -> Result<(Histogram<u64>, u64, u64), String> {
        let mut h = new_histogram();
        let mut errors = 0;
        for (name, r) in &self.requests {
            if select(name) {
                h.add(r.histogram()?)
                    .map_err(|e| format!("{name}: cannot add histograms: {e:?}"))?;
                errors += r.errors;
            }
        }
        let n = h.len();
        Ok((h, n, errors))
    }

    /// Merges shard summaries of one profile into one.
    pub fn merge(parts: &[Summary]) -> Result<Summary, String> {
        let first = parts.first().ok_or("nothing to merge")?;
        let mut out = first.clone();
        out.requests.clear();
        out.outcomes.clear();
        out.thresholds.clear();
        out.notes.clear();
        out.shards = 0;
        out.duration_s = 0.0;
        out.arrivals = None;
        out.meta.users = 0;
        let mut hist: BTreeMap<String, (Histogram<u64>, u64)> = BTreeMap::new();
        for p in parts {
            if p.format != FORMAT {
                return Err(format!("unknown summary format `{}`", p.format));
            }
            if p.meta.profile != first.meta.profile || p.meta.kind != first.meta.kind {
                return Err(format!(
                    "cannot merge profile `{}` with `{}`",
                    p.meta.profile, first.meta.profile
                ));
            }
            if p.arrivals.is_some() != first.arrivals.is_some() {
                return Err("cannot merge an arrival-rate run with a closed-model one".into());
            }
            out.arrivals = match (&out.arrivals, &p.arrivals) {
                (Some(x), Some(y)) => Some(ArrivalFigures::merge(x, y)?),
                (_, a) => a.clone(),
            };
            out.shards += p.shards;
            out.meta.users += p.meta.users;
            // Shards run side by side: the run took as long as its longest shard.
            out.duration_s = out.duration_s.max(p.duration_s);
            for (name, r) in &p.requests {
                let h = r.histogram().map_err(|e| format!("{name}: {e}"))?;
                let slot = hist
                    .entry(name.clone())
                    .or_insert_with(|| (new_histogram(), 0));
                slot.0
                    .add(h)
                    .map_err(|e| format!("{name}: cannot add histograms: {e:?}"))?;
                slot.1 += r.errors;
            }
            for (k, v) in &p.outcomes {
                *out.outcomes.entry(k.clone()).or_default() += v;
            }
            for n in &p.notes {
                if !out.notes.contains(n) {
                    out.notes.push(n.clone());
                }
            }
        }
        out.meta.shard = format!("merged {}", out.shards);
        out.requests = hist
            .into_iter()
            .map(|(k, (h, e))| (k, RequestSummary::new(&h, e)))
            .collect();
        Ok(out)
    }

    /// Requests per second over the whole run, for the requests `select` picks.
    pub(crate) fn rps(&self, count: u64) -> f64 {
        if self.duration_s > 0.0 {
            count as f64 / self.duration_s
        } else {
            0.0
        }
    }
}

/// `1234 µs` as `1.23 ms`, `870 µs` as `870 µs`.
pub(crate) fn micros(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.2} s", us as f64 / 1e6)
    } else if us >= 1_000 {
        format!("{:.2} ms", us as f64 / 1e3)
    } else {
        format!("{us} µs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> RunMeta {
        RunMeta {
            profile: "p".into(),
            kind: "device-polling".into(),
            target: "builtin".into(),
            users: 2,
            shard: "0/2".into(),
            time_scale: 1,
        }
    }

    #[test]
    fn merging_shards_adds_histograms_exactly() {
        let a = Recorder::default();
        let b = Recorder::default();
        let whole = Recorder::default();
        for i in 1..=1000u64 {
            let d = Duration::from_micros(i * 7);
            let r = if i % 3 == 0 { &a } else { &b };
            r.request("token: success", d, i % 100 != 0);
            whole.request("token: success", d, i % 100 != 0);
        }
        a.count("success", 3);
        b.count("success", 4);
        let sa = a.summary(meta(), Duration::from_secs(10));
        let sb = b.summary(meta(), Duration::from_secs(12));
        let merged = Summary::merge(&[sa, sb]).expect("same profile");
        let w = whole.summary(meta(), Duration::from_secs(12));
        assert_eq!(merged.requests, w.requests);
        assert_eq!(merged.outcomes["success"], 7);
        assert_eq!(merged.shards, 2);
        assert_eq!(merged.meta.users, 4);
        assert_eq!(merged.duration_s, 12.0);
        let r = &merged.requests["token: success"];
        assert_eq!((r.count, r.errors), (1000, 10));
        // 3 significant figures: the median of 7..7000 µs is 3500 µs, give or take.
        assert!((3490..=3510).contains(&r.p50_us), "{}", r.p50_us);
    }

    #[test]
    fn merging_arrival_rate_shards_adds_their_arrivals() {
        let part = |started: u64, dropped: u64, lag_us: u64| {
            let mut s = Recorder::default().summary(meta(), Duration::from_secs(10));
            let mut lag = new_histogram();
            let _ = lag.record(lag_us);
            s.arrivals = Some(ArrivalFigures {
                plan: "50/s for 10s".into(),
                intended: started + dropped,
                started,
                dropped,
                schedule_s: 10.0,
                intended_rate: 50.0,
                achieved_rate: started as f64 / 10.0,
                max_in_flight: 100,
                peak_in_flight: 7,
                abandoned: 0,
                start_lag: RequestSummary::new(&lag, 0),
            });
            s
        };
        let merged = Summary::merge(&[part(500, 0, 100), part(490, 10, 900)]).expect("merge");
        let a = merged.arrivals.expect("arrivals");
        assert_eq!((a.intended, a.started, a.dropped), (1000, 990, 10));
        assert_eq!((a.intended_rate, a.achieved_rate), (100.0, 99.0));
        assert_eq!((a.max_in_flight, a.start_lag.count), (200, 2));
        assert!(
            (899..=901).contains(&a.start_lag.max_us),
            "{}",
            a.start_lag.max_us
        );
        // A closed-model run does not merge with them.
        let closed = Recorder::default().summary(meta(), Duration::from_secs(10));
        assert!(Summary::merge(&[part(1, 0, 1), closed]).is_err());
    }

    #[test]
    fn merge_refuses_other_profiles_and_formats() {
        let s = Recorder::default().summary(meta(), Duration::from_secs(1));
        let mut other = s.clone();
        other.meta.profile = "q".into();
        assert!(Summary::merge(&[s.clone(), other]).is_err());
        let mut old = s.clone();
        old.format = "v0".into();
        assert!(Summary::merge(&[s, old]).is_err());
        assert!(Summary::merge(&[]).is_err());
    }

    #[test]
    fn micros_reads_well() {
        assert_eq!(micros(870), "870 µs");
        assert_eq!(micros(1234), "1.23 ms");
        assert_eq!(micros(2_500_000), "2.50 s");
    }
}
