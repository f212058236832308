//! The tables behind the lock: sharded maps, expiry queues, and the bookkeeping that keeps
//! grants and deadlines consistent with them.

use super::records::*;
use super::{Issuance, Issued, NewDevice, RefreshPlan};
use crate::clock::Timestamp;
use crate::server::play::{DeviceLog, PollRecord, RequestRecord};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// A map split into 64 shards: random keys (codes, tokens) by their first bytes, grant
/// ids by their value. The store keeps its one lock; sharding bounds the cost of a resize:
/// growing a table of a million tokens rehashes one shard (1/64 of them), not all of them,
/// so issuance does not stall for tens of milliseconds every time the table doubles.
///
/// The shards hash with foldhash rather than SipHash: several times cheaper per lookup
/// and per rehashed key, which is what a resize stalls on. SipHash's guarantee is not
/// needed here: every key is drawn by the server (random codes and tokens, consecutive
/// grant ids), so no client can choose keys that collide; a client only looks keys up.
#[derive(Debug)]
pub(super) struct Sharded<V, K = Token> {
    shards: Vec<HashMap<K, V, foldhash::fast::RandomState>>,
}

const SHARDS: usize = 64;

/// Which shard a key lives in (the owned key and its borrowed form agree).
pub(super) trait ShardOf {
    /// The shard, below 64.
    fn shard_of(&self) -> usize;
}

impl ShardOf for [u8] {
    fn shard_of(&self) -> usize {
        // Keys are base64url (64 symbols): two characters spread them over every shard.
        let first = self.first().map_or(0, |c| *c as usize);
        let second = self.get(1).map_or(0, |c| *c as usize);
        (first * 7 + second) % SHARDS
    }
}

impl ShardOf for Token {
    fn shard_of(&self) -> usize {
        self.as_bytes().shard_of()
    }
}

impl ShardOf for u64 {
    fn shard_of(&self) -> usize {
        // Grant ids are consecutive: the low bits spread them evenly.
        (*self % SHARDS as u64) as usize
    }
}

impl<V, K> Default for Sharded<V, K> {
    fn default() -> Self {
        Sharded {
            shards: (0..SHARDS).map(|_| HashMap::default()).collect(),
        }
    }
}

impl<V, K: std::hash::Hash + Eq + ShardOf> Sharded<V, K> {
    /// The value for `key`.
    pub(super) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ShardOf + ?Sized,
    {
        self.shards[key.shard_of()].get(key)
    }

    /// The value for `key`, mutably.
    pub(super) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ShardOf + ?Sized,
    {
        self.shards[key.shard_of()].get_mut(key)
    }

    fn insert(&mut self, key: K, value: V) {
        self.shards[key.shard_of()].insert(key, value);
    }

    fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ShardOf + ?Sized,
    {
        self.shards[key.shard_of()].remove(key)
    }

    /// Number of entries.
    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    /// Every value, in no particular order.
    pub(super) fn values(&self) -> impl Iterator<Item = &V> {
        self.shards.iter().flat_map(HashMap::values)
    }

    /// Every entry, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flat_map(HashMap::iter)
    }
}

/// Deadlines in the order they fall due, each naming a key. Every kind of entry has one
/// lifetime and the clock only moves forward, so pushes arrive in deadline order and the
/// due ones are always at the front: reaping costs O(expired), never a scan. The queue is
/// kept in chunks, so that growing it never copies a million entries under the lock.
#[derive(Debug, Default)]
struct ExpiryQueue {
    chunks: VecDeque<VecDeque<(Timestamp, Token)>>,
}

/// Entries per chunk of an [`ExpiryQueue`].
const CHUNK: usize = 4096;

impl ExpiryQueue {
    fn push(&mut self, deadline: Timestamp, key: Token) {
        match self.chunks.back_mut() {
            Some(last) if last.len() < CHUNK => last.push_back((deadline, key)),
            _ => {
                let mut chunk = VecDeque::with_capacity(CHUNK);
                chunk.push_back((deadline, key));
                self.chunks.push_back(chunk);
            }
        }
    }

    fn pop_due(&mut self, now: Timestamp) -> Option<Token> {
        let first = self.chunks.front_mut()?;
        let due = matches!(first.front(), Some((deadline, _)) if *deadline <= now);
        if !due {
            return None;
        }
        let key = first.pop_front().map(|(_, k)| k);
        if first.is_empty() {
            self.chunks.pop_front();
        }
        key
    }
}

/// Everything mutable, behind one lock.
#[derive(Debug, Default)]
pub(super) struct Tables {
    /// device_code → authorization.
    pub(super) devices: Sharded<DeviceAuthorization>,
    /// Normalized user code → device_code.
    pub(super) user_codes: HashMap<String, Token>,
    /// Authorization codes.
    pub(super) codes: Sharded<AuthorizationCode>,
    /// Access tokens.
    pub(super) access: Sharded<AccessToken>,
    /// Refresh tokens.
    pub(super) refresh: Sharded<RefreshToken>,
    /// Grants by id.
    pub(super) grants: Sharded<Grant, u64>,
    next_grant: u64,
    /// Browser sessions by cookie value.
    pub(super) sessions: HashMap<String, Session>,
    /// Pushed authorization requests by `request_uri` (RFC 9126).
    pub(super) pushed: HashMap<String, PushedRequest>,
    /// Audit counters per client.
    pub(super) audit: HashMap<Arc<str>, ClientAudit>,
    /// Every device code's polls, when a client is the subject (`Play` on); else empty.
    pub(super) device_logs: Vec<DeviceLog>,
    /// Every request, when a client is the subject (`Play` on); else empty.
    pub(super) requests: Vec<RequestRecord>,
    /// Clients by the number sealed tokens carry, and numbers by client.
    pub(super) client_names: Vec<Arc<str>>,
    client_numbers: HashMap<Arc<str>, u16>,
    /// DPoP key thumbprints by the number sealed tokens carry (from 1; 0 is unbound), and
    /// numbers by thumbprint.
    pub(super) jkt_names: Vec<Arc<str>>,
    jkt_numbers: HashMap<Arc<str>, u16>,
    /// Sealed tokens issued so far (each one's serial).
    pub(super) sealed: u32,
    /// Sealed tokens revoked, until they expire.
    pub(super) revoked: Sharded<()>,
    revoked_q: ExpiryQueue,
    life: Lifetimes,
    device_q: ExpiryQueue,
    code_q: ExpiryQueue,
    access_q: ExpiryQueue,
    refresh_q: ExpiryQueue,
    session_inserts: usize,
}

/// Lifetimes the reaper needs to know.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Lifetimes {
    /// Authorization code lifetime.
    pub(crate) code: Duration,
    /// Device code lifetime.
    pub(crate) device: Duration,
    /// Refresh-token idle lifetime.
    pub(crate) refresh_idle: Duration,
}

/// Browser sessions unused this long are dropped.
const SESSION_IDLE: Duration = Duration::from_secs(24 * 3600);

impl Tables {
    /// How many entries each kind of record has. The destructuring is exhaustive: a new
    /// table is counted here, or named as not counted, or the build fails.
    pub(super) fn counts(&self) -> Vec<(&'static str, usize)> {
        let Tables {
            devices,
            codes,
            access,
            refresh,
            grants,
            sessions,
            revoked,
            pushed,
            // Indexes, counters and queues of the tables above, not records of their own.
            user_codes: _,
            next_grant: _,
            audit: _,
            device_logs: _,
            requests: _,
            client_names: _,
            client_numbers: _,
            jkt_names: _,
            jkt_numbers: _,
            sealed: _,
            revoked_q: _,
            life: _,
            device_q: _,
            code_q: _,
            access_q: _,
            refresh_q: _,
            session_inserts: _,
        } = self;
        vec![
            ("device_codes", devices.len()),
            ("authorization_codes", codes.len()),
            ("access_tokens", access.len()),
            ("revoked_sealed_tokens", revoked.len()),
            ("refresh_tokens", refresh.len()),
            ("grants", grants.len()),
            ("sessions", sessions.len()),
            ("pushed_requests", pushed.len()),
        ]
    }

    /// An empty store whose entries live as `life` says.
    pub(super) fn new(life: Lifetimes) -> Self {
        Tables {
            life,
            ..Tables::default()
        }
    }

    /// Creates a grant and returns its id. It lives while something refers to it.
    /// Ids start at 1: 0 is [`STANDALONE`].
    pub(super) fn new_grant(&mut self, client_id: Arc<str>, user: Option<Arc<str>>) -> u64 {
        self.next_grant += 1;
        let id = self.next_grant;
        self.grants.insert(
            id,
            Grant {
                client_id,
                user,
                revoked: false,
                refs: 0,
            },
        );
        id
    }

    fn grant_ref(&mut self, id: u64) {
        if id == STANDALONE {
            return;
        }
        if let Some(g) = self.grants.get_mut(&id) {
            g.refs += 1;
        }
    }

    fn grant_unref(&mut self, id: u64) {
        if id == STANDALONE {
            return;
        }
        if let Some(g) = self.grants.get_mut(&id) {
            g.refs = g.refs.saturating_sub(1);
            if g.refs == 0 {
                self.grants.remove(&id);
            }
        }
    }

    /// Whether a grant is alive.
    pub(super) fn grant_alive(&self, id: u64) -> bool {
        id == STANDALONE || self.grants.get(&id).is_some_and(|g| !g.revoked)
    }

    /// Revokes a grant: all its tokens die at once (REV-7, REV-8, TOK-22, REF-9).
    pub(super) fn revoke_grant(&mut self, id: u64) {
        if let Some(g) = self.grants.get_mut(&id) {
            g.revoked = true;
        }
    }

    /// Stores a device authorization under its device code and normalized user code.
    pub(super) fn insert_device(&mut self, now: Timestamp, key: Token, d: DeviceAuthorization) {
        self.user_codes
            .insert(normalize_user_code(&d.user_code), key);
        // Kept one lifetime past expiry, so late polls still get expired_token (DEV-19).
        self.device_q.push(d.expires_at.plus(self.life.device), key);
        self.devices.insert(key, d);
        self.reap(now);
    }

    /// Marks a device authorization as redeemed for `grant`.
    pub(super) fn consume_device(&mut self, device_code: &str, grant: u64) {
        if let Some(d) = self.devices.get_mut(device_code.as_bytes()) {
            d.status = DeviceStatus::Consumed(grant);
            d.terminal_sent = true;
            self.grant_ref(grant);
        }
    }

    /// Starts the poll log of a device code (a client under test); its index.
    pub(super) fn log_device(&mut self, log: DeviceLog) -> usize {
        self.device_logs.push(log);
        self.device_logs.len() - 1
    }

    /// Adds a poll to the device log `log`, if the code has one; its index there.
    pub(super) fn log_poll(&mut self, log: Option<usize>, poll: PollRecord) -> Option<usize> {
        let entry = self.device_logs.get_mut(log?)?;
        entry.polls.push(poll);
        Some(entry.polls.len() - 1)
    }

    /// The number sealed tokens carry for `client`; `None` once 65,536 clients have one
    /// (the fixture's and at most 10,000 registered ones never reach it).
    pub(super) fn client_number(&mut self, client: &Arc<str>) -> Option<u16> {
        if let Some(n) = self.client_numbers.get(client) {
            return Some(*n);
        }
        let n = u16::try_from(self.client_names.len()).ok()?;
        self.client_names.push(client.clone());
        self.client_numbers.insert(client.clone(), n);
        Some(n)
    }

    /// The number sealed tokens carry for the DPoP key `jkt` (from 1); `None` once 65,535
    /// keys have one (a token bound to another key is then stored).
    pub(super) fn jkt_number(&mut self, jkt: &Arc<str>) -> Option<u16> {
        if let Some(n) = self.jkt_numbers.get(jkt) {
            return Some(*n);
        }
        let n = u16::try_from(self.jkt_names.len() + 1)
            .ok()
            .filter(|n| *n < u16::MAX)?;
        self.jkt_names.push(jkt.clone());
        self.jkt_numbers.insert(jkt.clone(), n);
        Some(n)
    }

    /// Revokes a sealed token until it expires.
    pub(super) fn revoke_sealed(&mut self, now: Timestamp, key: Token, expires_at: Timestamp) {
        if now < expires_at && self.revoked.get(&key).is_none() {
            self.revoked_q.push(expires_at, key);
            self.revoked.insert(key, ());
        }
        self.reap(now);
    }

    /// Counts a device poll in its client's audit (CLIENT-1, CLIENT-4).
    pub(super) fn audit_poll(&mut self, client: &Arc<str>, early: bool, after_terminal: bool) {
        let audit = self.audit_of(client);
        audit.polls += 1;
        audit.early_polls += u64::from(early);
        audit.polls_after_terminal += u64::from(after_terminal);
        if early {
            tracing::warn!(client = %client, "device poll arrived before the interval (CLIENT-1)");
        }
    }

    /// The audit entry of a client.
    pub(super) fn audit_of(&mut self, client_id: &Arc<str>) -> &mut ClientAudit {
        self.audit.entry(client_id.clone()).or_default()
    }

    /// Stores a pending device authorization for `new` under `key`, with a user code no
    /// outstanding one has; that user code.
    pub(super) fn start_device(
        &mut self,
        now: Timestamp,
        key: Token,
        new: &NewDevice,
        log: Option<usize>,
    ) -> String {
        let user_code = loop {
            let candidate = random_user_code();
            if !self
                .user_codes
                .contains_key(&normalize_user_code(&candidate))
            {
                break candidate;
            }
        };
        let device = DeviceAuthorization {
            client_id: new.client_id.clone(),
            scope: new.scope,
            user_code: user_code.clone(),
            expires_at: now.plus(new.ttl),
            interval: new.interval,
            last_poll: None,
            status: DeviceStatus::Pending,
            terminal_sent: false,
            seen: Seen {
                log,
                ..Seen::default()
            },
        };
        self.insert_device(now, key, device);
        user_code
    }

    /// Stores the tokens of `grant` as `iss` says, the access token under `access`.
    pub(super) fn issue(
        &mut self,
        now: Timestamp,
        access: Token,
        grant: u64,
        iss: &Issuance,
    ) -> Issued {
        self.insert_access(
            now,
            access,
            AccessToken {
                client_id: iss.client_id.clone(),
                user: iss.user.clone(),
                scope: iss.scope,
                expires_at: now.plus(iss.access_ttl),
                grant,
                jkt: iss.jkt.clone(),
            },
        );
        let refresh = match iss.refresh {
            RefreshPlan::New(scope) => {
                let token = Token::random();
                let record = RefreshToken {
                    client_id: iss.client_id.clone(),
                    user: iss.user.clone(),
                    scope,
                    last_used: now,
                    grant,
                    jkt: iss.refresh_jkt.clone(),
                    rotated: None,
                };
                self.insert_refresh(now, token, record);
                Some(token)
            }
            RefreshPlan::None | RefreshPlan::Keep | RefreshPlan::Successor => None,
        };
        Issued {
            access,
            refresh,
            scope: iss.scope,
        }
    }

    /// Stores an authorization code.
    pub(super) fn insert_code(&mut self, now: Timestamp, key: Token, c: AuthorizationCode) {
        self.code_q
            .push(c.issued_at.plus(self.life.code).plus(self.life.code), key);
        self.codes.insert(key, c);
        self.reap(now);
    }

    /// Marks a code as redeemed for `grant` (TOK-21).
    pub(super) fn redeem_code(&mut self, code: &str, grant: u64) {
        if let Some(c) = self.codes.get_mut(code.as_bytes()) {
            c.redeemed = Some(grant);
            self.grant_ref(grant);
        }
    }

    /// Stores an access token.
    pub(super) fn insert_access(&mut self, now: Timestamp, key: Token, t: AccessToken) {
        self.grant_ref(t.grant);
        self.access_q.push(t.expires_at, key);
        self.access.insert(key, t);
        self.reap(now);
    }

    /// Removes an access token (revocation, RFC 7009).
    pub(super) fn remove_access(&mut self, token: &[u8]) {
        if let Some(t) = self.access.remove(token) {
            self.grant_unref(t.grant);
        }
    }

    /// Stores a refresh token.
    pub(super) fn insert_refresh(&mut self, now: Timestamp, key: Token, t: RefreshToken) {
        self.grant_ref(t.grant);
        self.refresh_q
            .push(t.last_used.plus(self.life.refresh_idle), key);
        self.refresh.insert(key, t);
        self.reap(now);
    }

    /// Stores a browser session.
    pub(super) fn insert_session(&mut self, now: Timestamp, id: String, s: Session) {
        self.sessions.insert(id, s);
        self.session_inserts += 1;
        if self.session_inserts >= (self.sessions.len() / 2).max(1024) {
            self.session_inserts = 0;
            self.sessions
                .retain(|_, s| now < s.last_seen.plus(SESSION_IDLE));
        }
    }

    /// Drops every entry whose deadline has passed: O(what expired).
    pub(super) fn reap(&mut self, now: Timestamp) {
        while let Some(k) = self.device_q.pop_due(now) {
            if let Some(d) = self.devices.remove(&k) {
                // Only if it still names this device: callers keep user codes unique, and
                // a reused code must never lose another device's entry.
                let key = normalize_user_code(&d.user_code);
                if self.user_codes.get(&key).is_some_and(|dc| *dc == k) {
                    self.user_codes.remove(&key);
                }
                if let DeviceStatus::Consumed(g) = d.status {
                    self.grant_unref(g);
                }
            }
        }
        while let Some(k) = self.code_q.pop_due(now) {
            if let Some(c) = self.codes.remove(&k) {
                if let Some(g) = c.redeemed {
                    self.grant_unref(g);
                }
            }
        }
        while let Some(k) = self.access_q.pop_due(now) {
            self.remove_access(k.as_bytes());
        }
        while let Some(k) = self.revoked_q.pop_due(now) {
            self.revoked.remove(&k);
        }
        while let Some(k) = self.refresh_q.pop_due(now) {
            // Use extends a refresh token's life: re-queue it at its new deadline.
            let deadline = self
                .refresh
                .get(&k)
                .map(|t| t.last_used.plus(self.life.refresh_idle));
            match deadline {
                Some(d) if d > now => self.refresh_q.push(d, k),
                Some(_) => {
                    if let Some(t) = self.refresh.remove(&k) {
                        self.grant_unref(t.grant);
                    }
                }
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::ScopeSet;
    use std::collections::HashSet;

    #[test]
    fn tokens_are_found_by_the_text_a_client_presents_and_never_shown_whole() {
        let t = Token::random();
        assert_eq!(t.as_str().len(), TOKEN_LEN);
        assert!(t
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let mut table: Sharded<u32> = Sharded::default();
        table.insert(t, 7);
        let presented: String = t.as_str().to_owned();
        assert_eq!(table.get(presented.as_bytes()), Some(&7));
        assert_eq!(
            table.get(&presented.as_bytes()[..42]),
            None,
            "a prefix is not the token"
        );
        let shown = format!("{t:?}");
        assert!(
            !shown.contains(t.as_str()) && shown.contains(&t.as_str()[..4]),
            "{shown}"
        );
    }

    #[test]
    fn random_values_are_long_and_distinct() {
        let set: HashSet<String> = (0..10_000).map(|_| crate::oauth::random_token()).collect();
        assert_eq!(set.len(), 10_000);
        assert!(set.iter().all(|t| t.len() == 43));
        let uc = random_user_code();
        assert_eq!(uc.len(), 9);
        assert_eq!(&uc[4..5], "-");
        assert!(uc
            .bytes()
            .filter(|b| *b != b'-')
            .all(|b| USER_CODE_ALPHABET.contains(&b)));
        assert_eq!(normalize_user_code("bcdf-ghjk"), "BCDFGHJK");
    }

    fn device(expires_at: Timestamp) -> DeviceAuthorization {
        device_with_code(expires_at, random_user_code())
    }

    /// Random user codes collide by the birthday bound over tens of thousands of entries;
    /// tests that count entries use distinct ones, as the server's callers guarantee.
    fn device_with_code(expires_at: Timestamp, user_code: String) -> DeviceAuthorization {
        DeviceAuthorization {
            client_id: Arc::from("c"),
            scope: ScopeSet::default(),
            user_code,
            expires_at,
            interval: Duration::from_secs(5),
            last_poll: None,
            status: DeviceStatus::Pending,
            terminal_sent: false,
            seen: Seen::default(),
        }
    }

    /// A store with the builtin's code and device lifetimes.
    fn store(refresh_idle: Duration) -> Tables {
        Tables::new(Lifetimes {
            code: Duration::from_secs(600),
            device: Duration::from_secs(1800),
            refresh_idle,
        })
    }

    #[test]
    fn expired_entries_and_their_grants_are_reaped() {
        let secs = Duration::from_secs;
        let mut s = store(secs(3600));
        let t0 = Timestamp::default();
        s.insert_device(t0, Token::random(), device(t0.plus(secs(1800))));
        let g = s.new_grant(Arc::from("c"), None);
        let at = AccessToken {
            client_id: Arc::from("c"),
            user: None,
            scope: ScopeSet::default(),
            expires_at: t0.plus(secs(3600)),
            grant: g,
            jkt: None,
        };
        s.insert_access(t0, Token::random(), at);
        // Expired but within the grace period: kept so that polls still see expired_token.
        s.reap(t0.plus(secs(2000)));
        assert_eq!(s.devices.len(), 1);
        s.reap(t0.plus(secs(3600)));
        assert!(s.devices.len() == 0 && s.user_codes.is_empty());
        assert!(
            s.access.len() == 0 && s.grants.len() == 0,
            "the grant dies with its last token"
        );
    }

    #[test]
    fn standalone_tokens_have_no_grant_and_only_their_own_revocation() {
        let secs = Duration::from_secs;
        let mut s = store(secs(3600));
        let t0 = Timestamp::default();
        let other = s.new_grant(Arc::from("c"), None);
        assert_ne!(other, STANDALONE, "grant ids start at 1");
        let at = AccessToken {
            client_id: Arc::from("m2m"),
            user: None,
            scope: ScopeSet::default(),
            expires_at: t0.plus(secs(3600)),
            grant: STANDALONE,
            jkt: None,
        };
        let (cc1, cc2) = (Token::random(), Token::random());
        s.insert_access(t0, cc1, at.clone());
        s.insert_access(t0, cc2, at);
        assert_eq!(s.grants.len(), 1, "only the other grant");
        s.revoke_grant(STANDALONE);
        assert!(s.grant_alive(STANDALONE), "no grant to revoke");
        s.remove_access(cc1.as_bytes());
        assert!(s.access.get(cc1.as_bytes()).is_none());
        assert!(
            s.access.get(cc2.as_str().as_bytes()).is_some(),
            "found by its text"
        );
        s.reap(t0.plus(secs(3600)));
        assert!(s.access.len() == 0);
    }

    #[test]
    fn used_refresh_tokens_are_requeued_not_dropped() {
        let secs = Duration::from_secs;
        let mut s = store(secs(100));
        let t0 = Timestamp::default();
        let g = s.new_grant(Arc::from("c"), None);
        let rt = RefreshToken {
            client_id: Arc::from("c"),
            user: None,
            scope: ScopeSet::default(),
            last_used: t0,
            grant: g,
            jkt: None,
            rotated: None,
        };
        let key = Token::random();
        s.insert_refresh(t0, key, rt);
        if let Some(t) = s.refresh.get_mut(key.as_bytes()) {
            t.last_used = t0.plus(secs(90));
        }
        s.reap(t0.plus(secs(150)));
        assert_eq!(s.refresh.len(), 1, "used at 90 s: alive until 190 s");
        s.reap(t0.plus(secs(190)));
        assert!(s.refresh.len() == 0 && s.grants.len() == 0);
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_short_lived_entries() {
        let secs = Duration::from_secs;
        let mut s = store(secs(3600));
        let mut now = Timestamp::default();
        for i in 0..200_000u32 {
            now = now.plus(Duration::from_millis(100));
            s.insert_device(
                now,
                Token::random(),
                device_with_code(now.plus(secs(1800)), format!("U{i:08}")),
            );
        }
        // Each lives 1800 s plus the 1800 s grace: 36,000 entries at 10 per second.
        assert!(s.devices.len() <= 36_001, "{}", s.devices.len());
        assert_eq!(s.devices.len(), s.user_codes.len());
    }
}
