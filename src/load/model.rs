//! What a run's users are and whom they talk to: the model (goose's closed loop of users
//! or arrivals at a rate) from the profile and the command line, each run's time budget,
//! and the clients a load profile names, resolved through the target profile.

use super::profile::{self, LoadProfile, Workload};
use super::{open, share, LoadError, LoadOptions};
use crate::runner::target::Session;
use std::time::Duration;

/// How the users come: goose's closed loop of users, or arrivals at a rate.
#[derive(Debug, Clone, Copy)]
pub(super) enum Model {
    /// This many users, each looping over its flow.
    Closed(usize),
    /// Flows started at the plan's rate.
    Open(open::Plan),
}

/// The command line's open-model flags, written into the profile's `arrival:`.
pub(super) fn arrival_overrides(opts: &LoadOptions, p: &mut LoadProfile) -> Result<(), LoadError> {
    let flag = |flag: &str, message: String| {
        LoadError::Profile(profile::ProfileError {
            location: flag.into(),
            message,
        })
    };
    if opts.arrival_rate.is_some() || opts.ramp.is_some() {
        if p.stress.is_some() {
            return Err(flag(
                "--arrival-rate",
                "a stress profile ramps arrival rates with `stress.start_rate`".into(),
            ));
        }
        let max = p.arrival.as_ref().map(|a| a.max_in_flight);
        p.arrival = Some(profile::ArrivalSettings {
            rate: opts.arrival_rate.clone(),
            ramp: opts.ramp.clone(),
            max_in_flight: max.unwrap_or(10_000),
        });
    }
    if let Some(n) = opts.max_in_flight {
        match &mut p.arrival {
            Some(a) => a.max_in_flight = n,
            None if p.stress.as_ref().is_some_and(|s| s.start_rate.is_some()) => {
                p.arrival = Some(profile::ArrivalSettings {
                    rate: None,
                    ramp: None,
                    max_in_flight: n,
                });
            }
            None => return Err(flag(
                "--max-in-flight",
                "applies to the open model only (--arrival-rate, --ramp or a profile's `arrival:`)"
                    .into(),
            )),
        }
    }
    if let Some(a) = &p.arrival {
        // Users belong to the closed model: a flag for them would be silently ignored.
        let closed_flag = [
            ("--users", opts.users.is_some()),
            ("--increase-rate", opts.increase_rate.is_some()),
        ];
        if let Some((name, _)) = closed_flag.iter().find(|(_, given)| *given) {
            return Err(flag(
                name,
                format!("{name} sets the closed model's users, but this run is the open model (`arrival:`): its arrival rate sets the load"),
            ));
        }
        if p.stress.is_none() {
            let which = if opts.ramp.is_some() {
                "--ramp"
            } else {
                "--arrival-rate"
            };
            a.plan(p.run_time.map(|t| t.0))
                .map_err(|e| flag(which, format!("arrival: {e}")))?;
        }
    }
    Ok(())
}

/// The profile's open-model plan, this shard's share of it.
pub(super) fn plan_of(
    a: &profile::ArrivalSettings,
    p: &LoadProfile,
    shard: (usize, usize),
) -> Result<open::Plan, LoadError> {
    let plan = a.plan(p.run_time.map(|t| t.0)).map_err(|e| {
        LoadError::Profile(profile::ProfileError {
            location: format!("{}: arrival", p.name),
            message: e,
        })
    })?;
    Ok(open::Plan {
        arrivals: plan.arrivals.share(shard.1),
        max_in_flight: share(plan.max_in_flight, shard).max(1),
    })
}

impl Model {
    /// The users of this process (0 in the open model) and how long the run may last:
    /// goose's ramp and run time (or `max_time` for iterations) in the closed model; in
    /// the open model `max_time`, as the flows in flight when the arrivals end live on
    /// to their end.
    pub(super) fn budget(self, p: &LoadProfile) -> (usize, Duration) {
        match self {
            Model::Closed(users) => {
                let rate = p.increase_rate.unwrap_or(users as f64).max(0.001);
                let ramp = Duration::from_secs_f64(users as f64 / rate);
                let budget = match p.run_time {
                    Some(t) => (ramp + t.0).min(p.max_time.0),
                    None => p.max_time.0,
                };
                (users, budget)
            }
            Model::Open(_) => (0, p.max_time.0),
        }
    }
}

/// A load profile names its clients as the suite's roles (`web`, `m2m`, `noorle-cli`) or
/// as the target's client ids: a role the target profile maps is replaced by its id (and
/// the code client's redirect URI by the role's, when the role registers others); a
/// note says what was resolved.
pub(super) fn resolve_roles(p: &mut LoadProfile, session: &Session) -> Vec<String> {
    let mut notes = Vec::new();
    let mut resolve = |name: &mut String| -> Vec<String> {
        let Some((id, uris)) = session.role(name) else {
            return Vec::new();
        };
        if id != name.as_str() {
            notes.push(format!("client role `{name}` is `{id}` on this target"));
            *name = id.to_string();
        }
        uris.into_iter().map(str::to_string).collect()
    };
    match &mut p.workload {
        Workload::Device(d) => {
            resolve(&mut d.client_id);
            if let Some(other) = &mut d.other_client {
                resolve(other);
            }
        }
        Workload::Grants(g) => {
            let e = &mut g.exchange;
            resolve(&mut e.client_credentials_client);
            if let Some(other) = &mut e.other_client {
                resolve(other);
            }
            let uris = resolve(&mut e.code_client);
            if let Some(first) = uris.first() {
                if !uris.contains(&e.redirect_uri) {
                    notes.push(format!(
                        "the code client's redirect URI is its role's {first} ({} is not registered for it on this target)",
                        e.redirect_uri
                    ));
                    e.redirect_uri = first.clone();
                }
            }
        }
    }
    notes
}
