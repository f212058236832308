//! The open model: flows started at an arrival rate, whatever the server's latency.
//!
//! goose runs a closed model only (N users in a loop; its issue #87 asks for arrival
//! rates): a slow server then receives fewer requests, and its stall hides in the few
//! requests that waited through it (coordinated omission). Bending goose into an open
//! model would mean starting and stopping its users from outside while it owns their
//! loop, so the open model is its own small scheduler on tokio, running the very flow
//! functions the goose transactions run (`device::life`, `exchange::flow`) with the
//! same reqwest client and recorder; goose keeps the closed model.
//!
//! Arrival `i` is due at the moment the plan's cumulative count reaches `i` (a constant
//! rate or a linear ramp). When it is due, it starts as a task unless `max_in_flight`
//! flows are running: then it is *dropped* and counted, never silently absent. A flow's
//! first request is timed from the arrival's intended start, so a generator that falls
//! behind adds its lateness to the latency instead of hiding it, and the lateness itself
//! is reported (`start_lag`).

use super::profile::{parse_span, TokenGrant, Workload};
use super::summary::{ArrivalFigures, RequestSummary};
use super::{Ctx, User};
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;
use tokio::sync::Semaphore;

/// The default threshold of an arrival-rate run.
pub(crate) const RULE: &str = "dropped == 0";

/// What a reader of an open-model run's figures must know.
pub(crate) const NOTE: &str = "Open model: flows started at the arrival rate whatever the server's latency, and the flows in flight when the arrivals ended lived on to their end (within max_time); each flow's first request is timed from its intended start, so a stall shows in the latencies (goose, which runs the closed model, writes no report for this run).";

/// Refresh tokens kept for later refresh arrivals, at most.
const REFRESH_POOL: usize = 10_000;

/// How arrivals come: `from` per second rising (or falling) linearly to `to` over `over`;
/// a constant rate has `from == to`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrivals {
    /// Arrivals per second at the start.
    pub from: f64,
    /// Arrivals per second at the end.
    pub to: f64,
    /// How long arrivals come.
    pub over: Duration,
}

impl Arrivals {
    /// `rate` per second for `over`.
    pub fn constant(rate: f64, over: Duration) -> Arrivals {
        Arrivals {
            from: rate,
            to: rate,
            over,
        }
    }

    /// Parses `2000`, `2000/s`, `120/m` or `7200/h`: arrivals per second.
    pub fn parse_rate(text: &str) -> Result<f64, String> {
        let t = text.trim();
        let (num, per) = match t.split_once('/') {
            None => (t, 1.0),
            Some((n, unit)) => match unit.trim() {
                "s" => (n, 1.0),
                "m" | "min" => (n, 60.0),
                "h" => (n, 3600.0),
                other => {
                    return Err(format!(
                        "`{text}`: unknown unit `/{other}` (a rate is N/s, N/m or N/h)"
                    ))
                }
            },
        };
        num.trim()
            .parse::<f64>()
            .ok()
            .filter(|r| r.is_finite() && *r >= 0.0)
            .map(|r| r / per)
            .ok_or_else(|| format!("`{text}` is not a rate such as 2000/s"))
    }

    /// Parses `100/s..2000/s over 30s`.
    pub fn parse_ramp(text: &str) -> Result<Arrivals, String> {
        let shape = || format!("`{text}` is not a ramp such as `100/s..2000/s over 30s`");
        let (rates, over) = text.split_once(" over ").ok_or_else(shape)?;
        let (from, to) = rates.split_once("..").ok_or_else(shape)?;
        let a = Arrivals {
            from: Arrivals::parse_rate(from)?,
            to: Arrivals::parse_rate(to)?,
            over: parse_span(over)?,
        };
        a.check().map(|()| a)
    }

    /// Some arrival must come, within a run that lasts.
    pub fn check(&self) -> Result<(), String> {
        if self.over.is_zero() {
            return Err("arrivals need a time to come in (above 0 s)".into());
        }
        if self.from <= 0.0 && self.to <= 0.0 {
            return Err("an arrival rate must be above 0".into());
        }
        Ok(())
    }

    /// This shard's part of the arrivals (`count` shards side by side).
    pub fn share(&self, count: usize) -> Arrivals {
        let n = count.max(1) as f64;
        Arrivals {
            from: self.from / n,
            to: self.to / n,
            over: self.over,
        }
    }

    /// When arrival `i` (from 0) is due, after the start; `None` at or past the end.
    pub fn at(&self, i: u64) -> Option<Duration> {
        if i == 0 {
            return Some(Duration::ZERO);
        }
        // The cumulative count N(t) = from·t + a·t², a = (to − from) / (2·over); arrival
        // i comes when N(t) = i: t = 2i / (from + √(from² + 4ai)), the form that stays
        // exact when a is 0 and does not cancel when a is small.
        let over = self.over.as_secs_f64();
        let a = (self.to - self.from) / (2.0 * over);
        let i = i as f64;
        let disc = self.from * self.from + 4.0 * a * i;
        if disc < 0.0 {
            return None;
        }
        let t = 2.0 * i / (self.from + disc.sqrt());
        (t.is_finite() && t < over).then(|| Duration::from_secs_f64(t))
    }

    /// `2000/s for 10s`, `100/s..2000/s over 30s`.
    pub fn describe(&self) -> String {
        let r = |x: f64| {
            if x.fract() == 0.0 {
                format!("{x:.0}/s")
            } else {
                format!("{x:.2}/s")
            }
        };
        let over = humantime::format_duration(self.over);
        if self.from == self.to {
            format!("{} for {over}", r(self.from))
        } else {
            format!("{}..{} over {over}", r(self.from), r(self.to))
        }
    }
}

/// An open-model run: the arrivals and the pool of flows in flight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// When flows start.
    pub arrivals: Arrivals,
    /// Flows in flight at most.
    pub max_in_flight: usize,
}

/// The token-grants transactions dealt to arrivals in the profile's weights.
/// (A device-polling run deals none: each arrival is one device life.)
fn deck(ctx: &Ctx) -> Vec<TokenGrant> {
    let g = match &ctx.profile.workload {
        Workload::Grants(g) => g,
        Workload::Device(_) => return Vec::new(),
    };
    let weights: Vec<(TokenGrant, u64)> = TokenGrant::all()
        .iter()
        .map(|&t| (t, g.exchange.weight(t) as u64))
        .collect();
    deal(&weights)
}

/// One cycle of `weights` spread by smooth weighted round robin (2:3:5 deals
/// `c r a c r c c r a c`), not in blocks; weights are reduced by their common divisor
/// and, past 10,000 in all, scaled down (each kept at 1 at least).
fn deal<T: Copy>(weights: &[(T, u64)]) -> Vec<T> {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let g = weights.iter().fold(0, |g, (_, w)| gcd(g, *w)).max(1);
    let sum: u64 = weights.iter().map(|(_, w)| w / g).sum();
    let scale = (sum as f64 / 10_000.0).max(1.0);
    let weights: Vec<(T, i64)> = weights
        .iter()
        .filter(|(_, w)| *w > 0)
        .map(|(t, w)| (*t, (((w / g) as f64 / scale).round() as i64).max(1)))
        .collect();
    let total: i64 = weights.iter().map(|(_, w)| w).sum();
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::new();
    for _ in 0..total {
        for (c, (_, w)) in current.iter_mut().zip(&weights) {
            *c += w;
        }
        let Some(best) = (0..current.len()).max_by_key(|&k| (current[k], -(k as i64))) else {
            break;
        };
        current[best] -= total;
        out.push(weights[best].0);
    }
    out
}

/// Where arrival `i` stands in the deal of device roles: a stride through 1,000 places,
/// so that every stretch of arrivals carries the profile's mix of decisions.
fn slot(i: u64) -> (usize, usize) {
    (((i % 1000) * 389 % 1000) as usize, 1000)
}

/// What the scheduler did.
#[derive(Debug, Default)]
struct Schedule {
    due: u64,
    started: u64,
    dropped: u64,
    peak: usize,
    elapsed: Duration,
    completed: bool,
}

/// Runs one arrival's flow.
async fn arrival(ctx: Arc<Ctx>, transaction: Option<TokenGrant>, i: u64, late: Duration) {
    let mut user = User::arrival(slot(i), late);
    match (&ctx.profile.workload, transaction) {
        (Workload::Device(d), _) => super::device::life(&mut user, &ctx, d).await,
        // A token-grants deck is never empty: at least one weight is above 0 (checked
        // at load).
        (Workload::Grants(_), None) => {}
        (Workload::Grants(g), Some(transaction)) => {
            if transaction == TokenGrant::RefreshToken {
                user.refresh = ctx.refresh_pool.lock().pop();
            }
            super::exchange::flow(&mut user, &ctx, &g.exchange, transaction).await;
            if let Some(rt) = user.refresh.take() {
                let mut pool = ctx.refresh_pool.lock();
                if pool.len() < REFRESH_POOL {
                    pool.push(rt);
                }
            }
        }
    }
}

/// Starts the arrivals of `plan` until its end (or the run's stop), then waits for the
/// flows in flight to end (they stop by themselves at the run's deadline, `max_time`);
/// the figures of what was asked and done.
pub(super) async fn drive(ctx: Arc<Ctx>, plan: Plan) -> ArrivalFigures {
    // goose is not running: Ctrl-C stops the arrivals through goose's killswitch, which
    // the flows already watch.
    let interrupt = tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            goose::trigger_killswitch("interrupted");
        }
    });
    let pool = Arc::new(Semaphore::new(plan.max_in_flight));
    let lag = Arc::new(Mutex::new(super::summary::new_histogram()));
    // The scheduler is a thread of its own: the OS's sleep wakes within tens of
    // microseconds, where tokio's timer rounds up to the next millisecond, which would
    // add up to 2 ms of the generator's own lateness to every flow's first request.
    let runtime = tokio::runtime::Handle::current();
    let (p, l, c) = (pool.clone(), lag.clone(), ctx.clone());
    let schedule = tokio::task::spawn_blocking(move || schedule(&runtime, c, plan, &p, &l))
        .await
        .unwrap_or_default();
    let all = u32::try_from(plan.max_in_flight).unwrap_or(u32::MAX);
    // A request in flight at the deadline gets a few seconds more to come back.
    let drain = ctx.deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(5);
    let abandoned = match tokio::time::timeout(drain, pool.acquire_many(all)).await {
        Ok(_) => 0,
        Err(_) => (plan.max_in_flight - pool.available_permits()) as u64,
    };
    interrupt.abort();
    let window = if schedule.completed {
        plan.arrivals.over
    } else {
        schedule.elapsed
    };
    let secs = |d: Duration| d.as_secs_f64().max(1e-9);
    let lag = lag.lock();
    ArrivalFigures {
        plan: plan.arrivals.describe(),
        intended: schedule.due,
        started: schedule.started,
        dropped: schedule.dropped,
        schedule_s: schedule.elapsed.as_secs_f64(),
        intended_rate: schedule.due as f64 / secs(window),
        achieved_rate: schedule.started as f64 / secs(schedule.elapsed.max(window)),
        max_in_flight: plan.max_in_flight,
        peak_in_flight: schedule.peak,
        abandoned,
        start_lag: RequestSummary::new(&lag, 0),
    }
}

/// The scheduler's loop, on its own thread: each arrival at its time, started on the
/// runtime as a task when the pool has room, dropped and counted when not.
fn schedule(
    runtime: &tokio::runtime::Handle,
    ctx: Arc<Ctx>,
    plan: Plan,
    pool: &Arc<Semaphore>,
    lag: &Arc<Mutex<Histogram<u64>>>,
) -> Schedule {
    let deck = deck(&ctx);
    let start = Instant::now();
    let mut s = Schedule {
        completed: true,
        ..Schedule::default()
    };
    // The run's hard cap (`max_time`) may come before the plan's end.
    let budget = plan.arrivals.over.min(ctx.profile.max_time.0);
    while let Some(offset) = plan.arrivals.at(s.due) {
        let when = start + offset;
        if offset >= budget || !wait_until(when) {
            s.completed = false;
            break;
        }
        let i = s.due;
        s.due += 1;
        let Ok(permit) = pool.clone().try_acquire_owned() else {
            s.dropped += 1;
            continue;
        };
        s.started += 1;
        s.peak = s.peak.max(plan.max_in_flight - pool.available_permits());
        let (c, lag) = (ctx.clone(), lag.clone());
        let transaction = deck.get(i as usize % deck.len().max(1)).copied();
        runtime.spawn(async move {
            let late = Instant::now().saturating_duration_since(when);
            let us = u64::try_from(late.as_micros()).unwrap_or(u64::MAX).max(1);
            // Clamped to the histogram's range by `saturating_record`.
            lag.lock().saturating_record(us);
            arrival(c, transaction, i, late).await;
            drop(permit);
        });
    }
    s.elapsed = start.elapsed();
    s
}

/// Sleeps the thread until `when`; false when the run is stopped first.
fn wait_until(when: Instant) -> bool {
    loop {
        if goose::is_killswitch_triggered() {
            return false;
        }
        let now = Instant::now();
        if now >= when {
            return true;
        }
        // Short steps, so that a stop is seen within a quarter of a second even between
        // arrivals minutes apart.
        std::thread::sleep((when - now).min(Duration::from_millis(250)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(a: &Arrivals) -> usize {
        (0..).take_while(|i| a.at(*i).is_some()).count()
    }

    fn secs(a: &Arrivals, i: u64) -> f64 {
        a.at(i).map_or(f64::NAN, |d| d.as_secs_f64())
    }

    #[test]
    fn a_constant_rate_spaces_arrivals_evenly_and_ends_before_its_end() {
        let a = Arrivals::constant(2000.0, Duration::from_secs(10));
        assert_eq!(secs(&a, 0), 0.0);
        assert!((secs(&a, 1) - 0.0005).abs() < 1e-12);
        assert!((secs(&a, 19_999) - 9.9995).abs() < 1e-9);
        assert_eq!(a.at(20_000), None);
        assert_eq!(total(&a), 20_000);
    }

    #[test]
    fn a_ramp_comes_as_the_integral_of_its_rate() {
        // 0 → 100/s over 10 s: 500 arrivals, half of them in the last 2.93 s.
        let a = Arrivals {
            from: 0.0,
            to: 100.0,
            over: Duration::from_secs(10),
        };
        assert_eq!(total(&a), 500);
        assert!((secs(&a, 250) - 50f64.sqrt()).abs() < 1e-9);
        // Falling: 100 → 0/s; the gaps widen toward the end.
        let down = Arrivals {
            from: 100.0,
            to: 0.0,
            over: Duration::from_secs(10),
        };
        assert_eq!(total(&down), 500);
        assert!(secs(&down, 2) - secs(&down, 1) < secs(&down, 499) - secs(&down, 498));
    }

    #[test]
    fn rates_and_ramps_read_as_written() {
        assert_eq!(Arrivals::parse_rate("2000/s"), Ok(2000.0));
        assert_eq!(Arrivals::parse_rate("2000"), Ok(2000.0));
        assert_eq!(Arrivals::parse_rate("120/m"), Ok(2.0));
        let r = Arrivals::parse_ramp("100/s..2000/s over 30s").expect("ramp");
        assert_eq!(
            (r.from, r.to, r.over),
            (100.0, 2000.0, Duration::from_secs(30))
        );
        assert_eq!(r.describe(), "100/s..2000/s over 30s");
        assert_eq!(
            Arrivals::constant(2.5, Duration::from_secs(60)).describe(),
            "2.50/s for 1m"
        );
        for bad in ["fast", "10/week", "-3/s"] {
            assert!(Arrivals::parse_rate(bad).is_err(), "{bad}");
        }
        for bad in ["100..200", "0/s..0/s over 5s", "1..2 over never"] {
            assert!(Arrivals::parse_ramp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn transactions_are_dealt_in_their_weights_and_spread() {
        let w = [("a", 2000), ("r", 3000), ("c", 5000), ("none", 0)];
        let d = deal(&w);
        assert_eq!(d.len(), 10);
        let n = |t: &str| d.iter().filter(|x| **x == t).count();
        assert_eq!((n("a"), n("r"), n("c"), n("none")), (2, 3, 5, 0));
        // Spread: no transaction twice in a row more than the weights force.
        assert!(
            d.windows(3).all(|x| !(x[0] == x[1] && x[1] == x[2])),
            "{d:?}"
        );
        // Huge weights stay a bounded deck, every transaction in it.
        let big = deal(&[("a", 1), ("c", u64::from(u32::MAX))]);
        assert!(big.len() <= 10_001 && big.contains(&"a"), "{}", big.len());
    }

    #[test]
    fn every_stretch_of_device_arrivals_carries_the_mix() {
        // The first 100 arrivals take 100 distinct places spread over the 1,000.
        let places: std::collections::BTreeSet<usize> = (0..100).map(|i| slot(i).0).collect();
        assert_eq!(places.len(), 100);
        let low = places.iter().filter(|p| **p < 500).count();
        assert!((40..=60).contains(&low), "{low} of 100 in the lower half");
    }
}
