//! The server's mutable state: outstanding codes, tokens, grants, sessions, counters.
//!
//! [`Store`] is the only way in: its operations take the one lock, read and change the
//! tables, and let go; handlers never see a table. Where an operation needs a protocol
//! decision (which faults are on, which error to give) it takes a judge: a closure that
//! sees the record under the lock and returns a verdict, which the store then carries out.
//! So a check and the change it allows happen in one critical section, and 100 concurrent
//! redemptions of one code give exactly one success.
//!
//! Memory stays bounded: every entry is queued by its deadline when stored, and each
//! insertion reaps what has fallen due (O(expired), see [`tables`]). Expired device codes
//! are kept for one more lifetime first, so a late poll still gets `expired_token` rather
//! than `invalid_grant` (DEV-19).

mod play_log;
mod records;
mod sealed;
mod tables;

use crate::clock::Timestamp;
use crate::server::config::ScopeSet;
use crate::server::error::OAuthError;
use crate::server::play::{DeviceLog, Hang, PollRecord};
use parking_lot::Mutex;
use sealed::{Sealed, Sealer};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tables::Tables;

pub(crate) use records::{
    normalize_user_code, AccessToken, AuthorizationCode, ClientAudit, DeviceAuthorization,
    DeviceStatus, PkceMethod, PushedRequest, RefreshToken, Rotation, Session, Token,
};
pub(crate) use tables::Lifetimes;

/// Codes, tokens, grants, sessions and counters, behind one lock.
#[derive(Debug)]
pub(crate) struct Store {
    tables: Mutex<Tables>,
    /// Seals client_credentials tokens, which are then kept nowhere; `None` stores them
    /// like every other token (a client under test: its tokens must be known to redact).
    sealer: Option<Sealer>,
}

/// The tokens a granted request gets: what the store keeps and the response shows.
#[derive(Debug, Clone)]
pub struct Issuance {
    /// The client they are issued to.
    pub client_id: Arc<str>,
    /// The resource owner, if any (none for client_credentials).
    pub user: Option<Arc<str>>,
    /// The access token's scope.
    pub scope: ScopeSet,
    /// The access token's lifetime.
    pub access_ttl: Duration,
    /// Whether a refresh token comes with it.
    pub refresh: RefreshPlan,
    /// The DPoP key the access token is bound to (RFC 9449 §5).
    pub jkt: Option<Arc<str>>,
    /// The DPoP key a new refresh token is bound to (a public client's, RFC 9449 §5).
    pub refresh_jkt: Option<Arc<str>>,
}

/// Whether a token response carries a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshPlan {
    /// No refresh token.
    None,
    /// A new refresh token with this scope (REF-5: the scope of the grant). At the refresh
    /// grant, the presented token is rotated: marked used, so a replay is caught.
    New(ScopeSet),
    /// The refresh token presented stays valid (RFC 6749 §6) and is used now.
    Keep,
    /// A rotated-out refresh token inside a declared reuse window (matrix §23): no new
    /// refresh token, the response carries the one that replaced it (the grant never
    /// forks, RACE-5).
    Successor,
}

/// A refresh token presented at the token endpoint, as the judge of [`Store::refresh`]
/// sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Presented<'a> {
    /// Its record.
    pub token: &'a RefreshToken,
    /// Whether its grant is alive.
    pub alive: bool,
    /// Whether it is the token rotated out last: its successor was not rotated itself
    /// (a reuse window covers only that one, RACE-8).
    pub replaced_last: bool,
}

/// What was issued.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Issued {
    /// The access token.
    pub access: Token,
    /// A new refresh token, under [`RefreshPlan::New`].
    pub refresh: Option<Token>,
    /// The access token's scope.
    pub scope: ScopeSet,
}

/// A judge's decision on a code or refresh token presented at the token endpoint.
#[derive(Debug)]
pub enum Verdict {
    /// Refused; nothing changes.
    Refuse(OAuthError),
    /// Refused, and the grant behind the credential dies with all its tokens (a code or a
    /// rotated refresh token replayed: TOK-22, REF-9).
    RefuseRevoking(u64, OAuthError),
    /// Granted: the store issues these tokens.
    Grant(Issuance),
}

/// A device code's poll, as the judge of [`Store::poll_device`] sees it.
#[derive(Debug)]
pub(crate) struct DevicePoll<'a> {
    /// The authorization polled.
    pub device: &'a DeviceAuthorization,
    /// This poll's number for the code, from 1.
    pub number: u32,
    /// Whether it came sooner than the interval after the previous one (CLIENT-1,
    /// DEV-16); the first poll never does (matrix §16 #6).
    pub early: bool,
}

/// A judge's decision on a device code's poll.
#[derive(Debug)]
pub(crate) enum PollVerdict {
    /// A client under test is told to come back later (429 with `Retry-After`).
    Busy(OAuthError, u64),
    /// A client under test gets no answer until it gives up; this one if it waits.
    Hang(OAuthError),
    /// Refused; the code does not change (a code already used).
    Refuse(OAuthError),
    /// The code's last word (`expired_token`, `access_denied`).
    Terminal(OAuthError),
    /// The user has not decided yet. `decided` is a decision made now (by a play's
    /// user), for the next poll; `widen` is added to the interval (`slow_down`).
    Pending {
        /// `authorization_pending` or `slow_down`.
        error: OAuthError,
        /// The status the code takes now, if the user decides.
        decided: Option<DeviceStatus>,
        /// The interval's increase.
        widen: Duration,
    },
    /// Tokens; the code is consumed.
    Grant(Issuance),
}

/// A poll's outcome.
#[derive(Debug)]
pub(crate) enum Polled {
    /// Tokens were issued.
    Tokens(Issued),
    /// An error answer.
    Refused(OAuthError),
    /// An answer the play layer holds (`Hang`) until the client gives up.
    Held(OAuthError, Hang),
}

/// Why a device code was not polled at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PollMiss {
    /// No such device code.
    Unknown,
    /// Issued to another client.
    OtherClient,
}

/// A device authorization about to start.
#[derive(Debug, Clone)]
pub(crate) struct NewDevice {
    /// Its client.
    pub client_id: Arc<str>,
    /// Scope requested.
    pub scope: ScopeSet,
    /// Lifetime (`expires_in`).
    pub ttl: Duration,
    /// Minimum time between polls.
    pub interval: Duration,
}

/// Why a user code could not be decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    /// No such user code.
    #[error("unknown user code")]
    Unknown,
    /// The device code has expired (DEV-20).
    #[error("the code has expired")]
    Expired,
    /// Approved or denied already.
    #[error("the code was already used")]
    AlreadyDecided,
}

/// A token found by its text, with a grant that is still alive.
#[derive(Debug, Clone)]
pub(crate) enum Found {
    /// An access token.
    Access(AccessToken),
    /// A refresh token.
    Refresh(RefreshToken),
}

impl Store {
    /// An empty store whose entries live as `life` says; `sealed`: client_credentials
    /// tokens carry their own state ([`sealed`]) instead of being stored.
    pub(crate) fn new(life: Lifetimes, sealed: bool) -> Self {
        Store {
            tables: Mutex::new(Tables::new(life)),
            sealer: sealed.then(Sealer::new),
        }
    }

    /// Issues tokens for a new grant (password, implicit, client_credentials with a
    /// refresh token); `access` is drawn by the caller, before the lock.
    pub(crate) fn issue(&self, now: Timestamp, access: Token, iss: &Issuance) -> Issued {
        let mut t = self.tables.lock();
        let grant = t.new_grant(iss.client_id.clone(), iss.user.clone());
        t.issue(now, access, grant, iss)
    }

    /// Issues an access token that belongs to no grant and comes without a refresh token:
    /// only its own revocation kills it (client_credentials: RFC 6749 §4.4.3). Sealed when
    /// the store seals: then nothing is stored, whatever the rate of issue.
    pub(crate) fn issue_standalone(&self, now: Timestamp, iss: &Issuance) -> Issued {
        debug_assert_eq!(iss.refresh, RefreshPlan::None);
        if let Some(sealer) = &self.sealer {
            let numbered = {
                let mut t = self.tables.lock();
                t.sealed = t.sealed.wrapping_add(1);
                // A DPoP-bound token carries its key's number (RFC 9449 §6).
                let jkt = match &iss.jkt {
                    Some(k) => t.jkt_number(k),
                    None => Some(0),
                };
                t.client_number(&iss.client_id)
                    .zip(jkt)
                    .map(|(n, k)| (n, k, t.sealed))
            };
            if let Some((client, jkt, serial)) = numbered {
                let says = Sealed {
                    expires_at: now.plus(iss.access_ttl),
                    client,
                    scope: iss.scope,
                    jkt,
                };
                return Issued {
                    access: sealer.seal(says, serial),
                    refresh: None,
                    scope: iss.scope,
                };
            }
        }
        let access = Token::random();
        self.tables
            .lock()
            .issue(now, access, records::STANDALONE, iss)
    }

    /// Stores an authorization code.
    pub(crate) fn insert_code(&self, now: Timestamp, key: Token, code: AuthorizationCode) {
        self.tables.lock().insert_code(now, key, code);
    }

    /// Redeems an authorization code as `judge` decides: a grant redeems it (TOK-21) and
    /// starts a grant of its own. Judging and redeeming are one step under the lock;
    /// only a race fault switch passes a `gap` to run between them, unlocked.
    pub(crate) fn redeem_code(
        &self,
        code: &str,
        now: Timestamp,
        judge: impl FnOnce(Option<&AuthorizationCode>) -> Verdict,
        gap: Option<&dyn Fn()>,
    ) -> Result<Issued, OAuthError> {
        let mut t = self.tables.lock();
        let verdict = judge(t.codes.get(code.as_bytes()));
        if let (Some(gap), Verdict::Grant(_)) = (gap, &verdict) {
            drop(t);
            gap();
            t = self.tables.lock();
        }
        match verdict {
            Verdict::Refuse(e) => Err(e),
            Verdict::RefuseRevoking(grant, e) => {
                t.revoke_grant(grant);
                Err(e)
            }
            Verdict::Grant(iss) => {
                let grant = t.new_grant(iss.client_id.clone(), iss.user.clone());
                t.redeem_code(code, grant);
                Ok(t.issue(now, Token::random(), grant, &iss))
            }
        }
    }

    /// Uses a refresh token as `judge` decides, told whether its grant is alive: a grant
    /// issues within the token's grant, rotating the token under [`RefreshPlan::New`]
    /// and renewing its idle lifetime under [`RefreshPlan::Keep`].
    pub(crate) fn refresh(
        &self,
        token: &str,
        now: Timestamp,
        judge: impl FnOnce(Option<Presented<'_>>) -> Verdict,
        gap: Option<&dyn Fn()>,
    ) -> Result<Issued, OAuthError> {
        let mut t = self.tables.lock();
        let found = t.refresh.get(token.as_bytes());
        let verdict = judge(found.map(|r| Presented {
            token: r,
            alive: t.grant_alive(r.grant),
            replaced_last: r.rotated.is_some_and(|rot| {
                t.refresh
                    .get(rot.successor.as_bytes())
                    .is_some_and(|next| next.rotated.is_none())
            }),
        }));
        if let (Some(gap), Verdict::Grant(_)) = (gap, &verdict) {
            drop(t);
            gap();
            t = self.tables.lock();
        }
        match verdict {
            Verdict::Refuse(e) => Err(e),
            Verdict::RefuseRevoking(grant, e) => {
                t.revoke_grant(grant);
                Err(e)
            }
            Verdict::Grant(iss) => {
                let Some(old) = t.refresh.get_mut(token.as_bytes()) else {
                    return Err(OAuthError::invalid_grant("Unknown refresh token"));
                };
                let successor = old.rotated.map(|r| r.successor);
                match iss.refresh {
                    RefreshPlan::New(_) | RefreshPlan::Successor => {}
                    RefreshPlan::Keep | RefreshPlan::None => old.last_used = now,
                }
                let grant = old.grant;
                let mut issued = t.issue(now, Token::random(), grant, &iss);
                match (iss.refresh, issued.refresh) {
                    (RefreshPlan::New(_), Some(next)) => {
                        if let Some(old) = t.refresh.get_mut(token.as_bytes()) {
                            old.rotated = Some(Rotation {
                                at: now,
                                successor: next,
                            });
                        }
                    }
                    (RefreshPlan::Successor, _) => issued.refresh = successor,
                    _ => {}
                }
                Ok(issued)
            }
        }
    }

    /// Starts a device authorization under `device_code` with a fresh user code (the
    /// caller has admitted it under NOORLE-16's rate, [`crate::server::rate`]). Returns
    /// the user code.
    pub(crate) fn start_device(
        &self,
        now: Timestamp,
        device_code: Token,
        new: NewDevice,
        log: Option<DeviceLog>,
    ) -> String {
        let mut t = self.tables.lock();
        let log = log.map(|l| t.log_device(l));
        t.audit_of(&new.client_id).device_authorizations += 1;
        t.start_device(now, device_code, &new, log)
    }

    /// Starts `count` device authorizations for `new`'s client at once, with no rate limit
    /// and no audit (test mode's bulk creation); `each` sees every device and user code.
    pub(crate) fn start_devices(
        &self,
        now: Timestamp,
        new: &NewDevice,
        count: usize,
        mut each: impl FnMut(Token, &str),
    ) {
        let mut t = self.tables.lock();
        for _ in 0..count {
            let device_code = Token::random();
            let user_code = t.start_device(now, device_code, new, None);
            each(device_code, &user_code);
        }
    }

    /// Polls a device code as `judge` decides (RFC 8628 §3.4–§3.5), for `client` (or any
    /// client when `any_client`). Every poll counts in the client's audit and, for a
    /// client under test, in the code's poll log.
    pub(crate) fn poll_device(
        &self,
        device_code: &str,
        now: Timestamp,
        client: &Arc<str>,
        any_client: bool,
        judge: impl FnOnce(&DevicePoll) -> PollVerdict,
        gap: Option<&dyn Fn()>,
    ) -> Result<Polled, PollMiss> {
        let mut t = self.tables.lock();
        let d = t
            .devices
            .get_mut(device_code.as_bytes())
            .ok_or(PollMiss::Unknown)?;
        if d.client_id != *client && !any_client {
            return Err(PollMiss::OtherClient);
        }
        // Only a race fault passes a `gap`: the poll reads the authorization, waits there
        // unlocked, and is judged on what it read (neither early nor already redeemed).
        let read = gap.map(|_| d.clone());
        if let Some(gap) = gap {
            drop(t);
            gap();
            t = self.tables.lock();
        }
        let d = t
            .devices
            .get_mut(device_code.as_bytes())
            .ok_or(PollMiss::Unknown)?;
        let early = read.is_none() && d.last_poll.is_some_and(|last| now.since(last) < d.interval);
        d.last_poll = Some(now);
        d.seen.polls += 1;
        let after_terminal = d.terminal_sent;
        let (log, interval) = (d.seen.log, d.interval);
        let verdict = judge(&DevicePoll {
            device: read.as_ref().unwrap_or(d),
            number: d.seen.polls,
            early,
        });
        let record = |answer: &str, retry_after: Option<u64>| PollRecord {
            retry_after: retry_after.map(Duration::from_secs),
            ..PollRecord::new(now, answer, interval)
        };
        let outcome = match verdict {
            PollVerdict::Busy(e, secs) => {
                t.log_poll(log, record("429", Some(secs)));
                return Ok(Polled::Refused(e));
            }
            PollVerdict::Hang(e) => {
                let poll = t.log_poll(log, record("no answer", None));
                return Ok(match (log, poll) {
                    (Some(log), Some(poll)) => Polled::Held(e, Hang { log, poll }),
                    _ => Polled::Refused(e),
                });
            }
            PollVerdict::Refuse(e) => Err(e),
            PollVerdict::Terminal(e) => {
                d.terminal_sent = true;
                Err(e)
            }
            PollVerdict::Pending {
                error,
                decided,
                widen,
            } => {
                d.seen.pending += 1;
                if let Some(status) = decided {
                    d.status = status;
                }
                d.interval += widen;
                Err(error)
            }
            PollVerdict::Grant(iss) => Ok(iss),
        };
        let answer = match &outcome {
            Ok(_) => "tokens",
            Err(e) => e.code.as_str(),
        };
        t.log_poll(log, record(answer, None));
        t.audit_poll(client, early, after_terminal);
        match outcome {
            Err(e) => Ok(Polled::Refused(e)),
            Ok(iss) => {
                let grant = t.new_grant(iss.client_id.clone(), iss.user.clone());
                t.consume_device(device_code, grant);
                Ok(Polled::Tokens(t.issue(now, Token::random(), grant, &iss)))
            }
        }
    }

    /// Approves (for `user`) or denies the device authorization behind `user_code`; an
    /// expired one only when `after_expiry`.
    pub(crate) fn decide_device(
        &self,
        user_code: &str,
        now: Timestamp,
        after_expiry: bool,
        decision: DeviceStatus,
    ) -> Result<(), DecideError> {
        let mut t = self.tables.lock();
        let dc = *t
            .user_codes
            .get(&normalize_user_code(user_code))
            .ok_or(DecideError::Unknown)?;
        let d = t
            .devices
            .get_mut(dc.as_bytes())
            .ok_or(DecideError::Unknown)?;
        if now >= d.expires_at && !after_expiry {
            return Err(DecideError::Expired);
        }
        if d.status != DeviceStatus::Pending {
            return Err(DecideError::AlreadyDecided);
        }
        d.status = decision;
        Ok(())
    }

    /// The token whose text is `token`, if its grant is alive and it was not revoked
    /// (expiry is the caller's).
    pub(crate) fn find(&self, token: &str) -> Option<Found> {
        {
            let t = self.tables.lock();
            if let Some(a) = t.access.get(token.as_bytes()) {
                return t.grant_alive(a.grant).then(|| Found::Access(a.clone()));
            }
            if let Some(r) = t.refresh.get(token.as_bytes()) {
                return t.grant_alive(r.grant).then(|| Found::Refresh(r.clone()));
            }
        }
        let says = self.sealer.as_ref()?.open(token)?;
        let (client_id, jkt) = {
            let t = self.tables.lock();
            if t.revoked.get(token.as_bytes()).is_some() {
                return None;
            }
            let jkt = match says.jkt {
                0 => None,
                n => Some(t.jkt_names.get(usize::from(n) - 1)?.clone()),
            };
            (t.client_names.get(usize::from(says.client))?.clone(), jkt)
        };
        Some(Found::Access(AccessToken {
            client_id,
            user: None,
            scope: says.scope,
            expires_at: says.expires_at,
            grant: records::STANDALONE,
            jkt,
        }))
    }

    /// Revokes the token whose text is `token` if `owns` its client (RFC 7009 §2.1): an
    /// access token alone, a refresh token with its grant, access tokens included
    /// (REV-8); a sealed token until it expires. Whether the token exists.
    pub(crate) fn revoke(&self, token: &str, now: Timestamp, owns: impl Fn(&str) -> bool) -> bool {
        {
            let mut t = self.tables.lock();
            if let Some(a) = t.access.get(token.as_bytes()) {
                if owns(&a.client_id) {
                    t.remove_access(token.as_bytes());
                }
                return true;
            }
            if let Some(r) = t.refresh.get(token.as_bytes()) {
                if owns(&r.client_id) {
                    let grant = r.grant;
                    t.revoke_grant(grant);
                }
                return true;
            }
        }
        let Some(says) = self.sealer.as_ref().and_then(|s| s.open(token)) else {
            return false;
        };
        let mut t = self.tables.lock();
        let owned = t
            .client_names
            .get(usize::from(says.client))
            .is_some_and(|client| owns(client));
        if let (true, Some(raw)) = (owned, Token::raw_of(token)) {
            t.revoke_sealed(now, Token::from_raw(&raw), says.expires_at);
        }
        true
    }

    /// The apps `user` has live tokens for, with how many.
    pub(crate) fn connected_apps(&self, user: &str, now: Timestamp) -> BTreeMap<String, usize> {
        let t = self.tables.lock();
        let mut apps = BTreeMap::new();
        let live = |grant: u64| t.grant_alive(grant);
        for a in t.access.values() {
            if a.user.as_deref() == Some(user) && live(a.grant) && now < a.expires_at {
                *apps.entry(a.client_id.to_string()).or_insert(0) += 1;
            }
        }
        for r in t.refresh.values() {
            if r.user.as_deref() == Some(user) && live(r.grant) && r.rotated.is_none() {
                *apps.entry(r.client_id.to_string()).or_insert(0) += 1;
            }
        }
        apps
    }

    /// Revokes every grant of `client_id` for `user`; how many died.
    pub(crate) fn revoke_app(&self, user: &str, client_id: &str) -> usize {
        let mut t = self.tables.lock();
        let ids: Vec<u64> = t
            .grants
            .iter()
            .filter(|(_, g)| {
                !g.revoked && &*g.client_id == client_id && g.user.as_deref() == Some(user)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            t.revoke_grant(*id);
        }
        ids.len()
    }

    /// The session with this id, last seen now.
    pub(crate) fn touch_session(&self, id: &str, now: Timestamp) -> Option<Session> {
        let mut t = self.tables.lock();
        let s = t.sessions.get_mut(id)?;
        s.last_seen = now;
        Some(s.clone())
    }

    /// The session with this id.
    pub(crate) fn session(&self, id: &str) -> Option<Session> {
        self.tables.lock().sessions.get(id).cloned()
    }

    /// Stores a new browser session.
    pub(crate) fn insert_session(&self, now: Timestamp, id: String, session: Session) {
        self.tables.lock().insert_session(now, id, session);
    }

    /// Binds `user` to a session, with a fresh anti-CSRF value (signing in).
    pub(crate) fn sign_in(&self, id: &str, user: &str) {
        if let Some(s) = self.tables.lock().sessions.get_mut(id) {
            s.user = Some(Arc::from(user));
            s.csrf = crate::oauth::random_token();
        }
    }

    /// Counts a wrong or expired user code at the verification page: the `max`th in a
    /// row locks the session for `lockout` (DEV-24). A right one (`ok`) resets the count.
    pub(crate) fn verify_attempt(
        &self,
        id: &str,
        now: Timestamp,
        ok: bool,
        max: u32,
        lockout: Duration,
    ) {
        let mut t = self.tables.lock();
        let Some(s) = t.sessions.get_mut(id) else {
            return;
        };
        if ok {
            s.verify_failures = 0;
            return;
        }
        s.verify_failures += 1;
        if s.verify_failures >= max {
            s.locked_until = Some(now.plus(lockout));
            s.verify_failures = 0;
        }
    }

    /// Every client's audit counters.
    pub(crate) fn audit(&self) -> HashMap<String, ClientAudit> {
        let t = self.tables.lock();
        t.audit
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    /// How many of each thing the store holds (`/_test/stats`): sealed tokens are held
    /// nowhere, only the revoked ones until they expire.
    pub(crate) fn counts(&self) -> Vec<(&'static str, usize)> {
        self.tables.lock().counts()
    }

    /// Keeps a pushed authorization request under `uri` (RFC 9126 §2.2); those that
    /// expired before `now` are dropped.
    pub(crate) fn push_request(&self, now: Timestamp, uri: String, r: PushedRequest) {
        let mut t = self.tables.lock();
        t.pushed.retain(|_, p| p.expires_at > now);
        t.pushed.insert(uri, r);
    }

    /// The pushed request `uri` names, if any (expired or used ones too: the caller
    /// judges them).
    pub(crate) fn pushed_request(&self, uri: &str) -> Option<PushedRequest> {
        self.tables.lock().pushed.get(uri).cloned()
    }

    /// Records that a code is issued for the pushed request `uri` (PAR-8): whether this
    /// call claimed it (false: another approval used it first). Read and write under one
    /// lock, so that of concurrent approvals one claims it (RACE-9).
    pub(crate) fn use_pushed_request(&self, uri: &str) -> bool {
        match self.tables.lock().pushed.get_mut(uri) {
            Some(p) => !std::mem::replace(&mut p.used, true),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Each operation's verdict handling: what the store does with a judge's decision.

    use super::*;

    fn store() -> Store {
        Store::new(
            Lifetimes {
                code: Duration::from_secs(600),
                device: Duration::from_secs(1800),
                refresh_idle: Duration::from_secs(86_400),
            },
            false,
        )
    }

    fn at(s: u64) -> Timestamp {
        Timestamp::from_millis(s * 1000)
    }

    fn issuance(refresh: RefreshPlan) -> Issuance {
        Issuance {
            client_id: "web".into(),
            user: Some("alice".into()),
            scope: ScopeSet::default(),
            access_ttl: Duration::from_secs(3600),
            refresh,
            jkt: None,
            refresh_jkt: None,
        }
    }

    fn refused() -> OAuthError {
        OAuthError::invalid_grant("no")
    }

    /// A code stored under `key`.
    fn with_code(s: &Store) -> Token {
        let key = Token::random();
        s.insert_code(
            at(0),
            key,
            AuthorizationCode {
                client_id: "web".into(),
                user: "alice".into(),
                redirect_uri: None,
                scope: ScopeSet::default(),
                challenge: None,
                issued_at: at(0),
                dpop_jkt: None,
                redeemed: None,
            },
        );
        key
    }

    #[test]
    fn a_dpop_bound_client_credentials_token_is_sealed_with_its_key() {
        let s = Store::new(
            Lifetimes {
                code: Duration::from_secs(600),
                device: Duration::from_secs(1800),
                refresh_idle: Duration::from_secs(86_400),
            },
            true,
        );
        let mut iss = issuance(RefreshPlan::None);
        iss.user = None;
        let bound = |k: &str| Issuance {
            jkt: Some(Arc::from(k)),
            ..iss.clone()
        };
        let (a, b, c) = (
            s.issue_standalone(at(0), &bound("key-one")),
            s.issue_standalone(at(0), &bound("key-two")),
            s.issue_standalone(at(0), &iss),
        );
        let jkt_of = |t: &Issued| match s.find(t.access.as_str()) {
            Some(Found::Access(a)) => a.jkt.map(|k| k.to_string()),
            _ => Some("not found".into()),
        };
        assert_eq!(jkt_of(&a).as_deref(), Some("key-one"));
        assert_eq!(jkt_of(&b).as_deref(), Some("key-two"));
        assert_eq!(jkt_of(&c), None, "unbound");
        let stored = s.counts().into_iter().find(|(k, _)| *k == "access_tokens");
        assert_eq!(stored, Some(("access_tokens", 0)), "sealed, stored nowhere");
    }

    #[test]
    fn a_code_is_redeemed_only_by_a_grant_and_a_revoking_refusal_kills_its_grant() {
        let s = store();
        let code = with_code(&s);
        let code = code.as_str();
        // Unknown: the judge sees nothing.
        let e = s.redeem_code(
            "nope",
            at(1),
            |rec| {
                assert!(rec.is_none());
                Verdict::Refuse(refused())
            },
            None,
        );
        assert!(e.is_err());
        // A refusal changes nothing: the code is still unredeemed.
        assert!(s
            .redeem_code(code, at(1), |_| Verdict::Refuse(refused()), None)
            .is_err());
        let issued = s
            .redeem_code(
                code,
                at(2),
                |rec| {
                    assert_eq!(rec.map(|r| r.redeemed), Some(None));
                    Verdict::Grant(issuance(RefreshPlan::New(ScopeSet::default())))
                },
                None,
            )
            .expect("granted");
        let access = issued.access;
        assert!(s.find(access.as_str()).is_some());
        // Redeemed: the judge sees the grant, and a revoking refusal ends it (TOK-22).
        let grant = std::cell::Cell::new(None);
        let e = s.redeem_code(
            code,
            at(3),
            |rec| {
                let g = rec.and_then(|r| r.redeemed).expect("redeemed");
                grant.set(Some(g));
                Verdict::RefuseRevoking(g, refused())
            },
            None,
        );
        assert!(e.is_err() && grant.get().is_some());
        assert!(s.find(access.as_str()).is_none(), "the code's tokens died");
        let refresh = issued.refresh.expect("a refresh token");
        assert!(s.find(refresh.as_str()).is_none());
    }

    #[test]
    fn a_refresh_rotates_or_renews_as_the_plan_says_and_a_replay_can_kill_the_grant() {
        let s = store();
        let code = with_code(&s);
        let first = s
            .redeem_code(
                code.as_str(),
                at(1),
                |_| Verdict::Grant(issuance(RefreshPlan::New(ScopeSet::default()))),
                None,
            )
            .expect("granted");
        let rt = first.refresh.expect("refresh token");
        // Keep: the token stays and is used now.
        s.refresh(
            rt.as_str(),
            at(5),
            |found| {
                let p = found.expect("found");
                assert!(p.alive && p.token.rotated.is_none());
                Verdict::Grant(issuance(RefreshPlan::Keep))
            },
            None,
        )
        .expect("kept");
        // New: the presented token is rotated.
        let second = s
            .refresh(
                rt.as_str(),
                at(6),
                |found| {
                    let p = found.expect("found");
                    assert_eq!(p.token.last_used, at(5), "Keep renewed its idle lifetime");
                    Verdict::Grant(issuance(RefreshPlan::New(ScopeSet::default())))
                },
                None,
            )
            .expect("rotated");
        // The rotated one, replayed: the judge sees it rotated and revokes the grant.
        let e = s.refresh(
            rt.as_str(),
            at(7),
            |found| {
                let p = found.expect("found");
                assert!(p.token.rotated.is_some() && p.alive && p.replaced_last);
                Verdict::RefuseRevoking(p.token.grant, refused())
            },
            None,
        );
        assert!(e.is_err());
        assert!(
            s.find(second.access.as_str()).is_none(),
            "REF-9: the grant died"
        );
        s.refresh(
            rt.as_str(),
            at(8),
            |found| {
                let alive = found.map(|p| p.alive);
                assert_eq!(alive, Some(false), "the judge is told the grant is dead");
                Verdict::Refuse(refused())
            },
            None,
        )
        .expect_err("refused");
    }

    #[test]
    fn a_poll_keeps_what_its_verdict_says() {
        let s = store();
        let new = NewDevice {
            client_id: "cli".into(),
            scope: ScopeSet::default(),
            ttl: Duration::from_secs(1800),
            interval: Duration::from_secs(5),
        };
        let dc = Token::random();
        s.start_device(at(0), dc, new, None);
        let client: Arc<str> = "cli".into();
        let dc = dc.as_str();
        let pending = |widen: u64, decided: Option<DeviceStatus>| PollVerdict::Pending {
            error: refused(),
            decided,
            widen: Duration::from_secs(widen),
        };
        // Another client's poll never reaches the judge.
        let other: Arc<str> = "web".into();
        assert_eq!(
            s.poll_device(dc, at(1), &other, false, |_| unreachable!(), None)
                .err(),
            Some(PollMiss::OtherClient)
        );
        // slow_down: the interval grows by what the verdict says, for every later poll.
        let _ = s.poll_device(
            dc,
            at(1),
            &client,
            false,
            |p| {
                assert_eq!((p.number, p.early), (1, false));
                pending(5, None)
            },
            None,
        );
        let _ = s.poll_device(
            dc,
            at(3),
            &client,
            false,
            |p| {
                assert_eq!(p.device.interval, Duration::from_secs(10));
                assert_eq!((p.number, p.early, p.device.seen.pending), (2, true, 1));
                // The user decides now; the next poll sees it.
                pending(0, Some(DeviceStatus::Approved("alice".into())))
            },
            None,
        );
        let polled = s.poll_device(
            dc,
            at(20),
            &client,
            false,
            |p| {
                assert!(matches!(p.device.status, DeviceStatus::Approved(_)));
                PollVerdict::Grant(issuance(RefreshPlan::None))
            },
            None,
        );
        assert!(matches!(polled, Ok(Polled::Tokens(_))));
        // Consumed: later polls see it; the tokens were the code's last word, so both
        // later polls count as polls after a final answer (CLIENT-4's audit).
        let _ = s.poll_device(
            dc,
            at(30),
            &client,
            false,
            |p| {
                assert!(matches!(p.device.status, DeviceStatus::Consumed(_)));
                PollVerdict::Terminal(refused())
            },
            None,
        );
        let _ = s.poll_device(
            dc,
            at(40),
            &client,
            false,
            |_| PollVerdict::Refuse(refused()),
            None,
        );
        let audit = &s.audit()["cli"];
        assert_eq!((audit.polls, audit.polls_after_terminal), (5, 2));
    }
}
