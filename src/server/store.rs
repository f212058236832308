//! The server's mutable state: outstanding codes, tokens, grants, sessions, counters.
//!
//! One `Store` sits behind one mutex; every critical section is a few hash-map operations
//! (random values are generated before the lock is taken). Check-and-set happens under
//! the lock, so that 100 concurrent redemptions of one code give exactly one success.
//!
//! Memory stays bounded: expired entries are purged in a sweep that runs once the number of
//! insertions since the last sweep reaches a quarter of the live entries (amortized O(1)).
//! Expired codes are kept for one more lifetime first, so a late poll still gets
//! `expired_token` rather than `invalid_grant` (DEV-19).

use crate::clock::Timestamp;
use crate::server::config::ScopeSet;
use base64::Engine;
use rand::RngCore;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// A 256-bit random value, base64url without padding (43 characters): codes, tokens,
/// device codes and secrets (TOK-32: ≥ 128 bits from a CSPRNG).
pub fn random_token() -> String {
    Token::random().as_str().to_owned()
}

/// Characters in a [`Token`].
pub const TOKEN_LEN: usize = 43;

/// A value the store keys its tables by: a device code, authorization code, access or
/// refresh token, drawn as [`random_token`] draws it and held inline. Issuing one
/// allocates nothing, and a lookup compares the bytes in the table itself, with no
/// pointer to chase into a table of a million entries. Looked up by the bytes a client
/// presents (`Borrow<[u8]>`; arrays hash as slices do).
///
/// A secret: `Debug` shows only its first characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token([u8; TOKEN_LEN]);

impl Token {
    /// 256 bits from the CSPRNG (TOK-32).
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let mut text = [0u8; TOKEN_LEN];
        let written =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_slice(bytes, &mut text);
        debug_assert_eq!(written, Ok(TOKEN_LEN), "32 bytes are 43 base64 characters");
        Token(text)
    }

    /// The value as text (base64url, so always ASCII).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The value's bytes, as a lookup takes them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::borrow::Borrow<[u8]> for Token {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}…)", self.as_str().get(..4).unwrap_or_default())
    }
}

/// The user-code alphabet: 20 consonants, no vowels (no words) and no confusable
/// characters (RFC 8628 §6.1).
pub const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// A user code `XXXX-XXXX` (8 characters of base 20, about 34.6 bits; brute force is
/// limited by the device code's lifetime and the verification page's lockout, DEV-24).
pub fn random_user_code() -> String {
    let mut rng = rand::rng();
    let mut s = String::with_capacity(9);
    for i in 0..8 {
        if i == 4 {
            s.push('-');
        }
        let idx = (rng.next_u32() % USER_CODE_ALPHABET.len() as u32) as usize;
        s.push(USER_CODE_ALPHABET[idx] as char);
    }
    s
}

/// What users type: case and dashes do not matter (RFC 8628 §6.1, DEV-25).
pub fn normalize_user_code(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Where a device authorization stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStatus {
    /// The user has not decided.
    Pending,
    /// Approved by this user; the next poll gets tokens.
    Approved(Arc<str>),
    /// Denied: polls get `access_denied`.
    Denied,
    /// Tokens were issued (grant id): polls get `invalid_grant` (DEV-21).
    Consumed(u64),
}

/// An outstanding device authorization (RFC 8628 §3.2).
#[derive(Debug, Clone)]
pub struct DeviceAuthorization {
    /// Client it was issued to.
    pub client_id: Arc<str>,
    /// Scope requested.
    pub scope: ScopeSet,
    /// Its user code, as issued (`XXXX-XXXX`).
    pub user_code: String,
    /// When the device and user codes die.
    pub expires_at: Timestamp,
    /// The current minimum gap between polls (grows by 5 s per `slow_down`, DEV-16).
    pub interval: Duration,
    /// Arrival time of the latest poll.
    pub last_poll: Option<Timestamp>,
    /// The decision.
    pub status: DeviceStatus,
    /// A terminal answer (tokens, `access_denied`, `expired_token`) was sent: any later
    /// poll is a client that did not stop (CLIENT-4).
    pub terminal_sent: bool,
    /// Polls so far, and where they are logged when a client is the subject.
    pub seen: Seen,
}

/// A device code's polls so far (what [`crate::server::play::Play`] counts on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// Polls received.
    pub polls: u32,
    /// Of those, answered `authorization_pending` or `slow_down`.
    pub pending: u32,
    /// Its entry in [`Store::device_logs`], when polls are logged.
    pub log: Option<usize>,
}

/// An authorization code and what it was issued for.
#[derive(Debug, Clone)]
pub struct AuthorizationCode {
    /// Client it was issued to.
    pub client_id: Arc<str>,
    /// User who consented.
    pub user: Arc<str>,
    /// `redirect_uri` of the authorization request, if it had one (TOK-24, TOK-25).
    pub redirect_uri: Option<String>,
    /// Scope granted.
    pub scope: ScopeSet,
    /// PKCE challenge and method (`S256` or `plain`).
    pub challenge: Option<(String, PkceMethod)>,
    /// Issue time.
    pub issued_at: Timestamp,
    /// Set once redeemed: the grant its tokens belong to (TOK-21, TOK-22).
    pub redeemed: Option<u64>,
}

/// PKCE transformation (RFC 7636 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkceMethod {
    /// `S256`.
    S256,
    /// `plain`.
    Plain,
}

/// An issued access token.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// Client it was issued to.
    pub client_id: Arc<str>,
    /// Resource owner (`None` for client_credentials).
    pub user: Option<Arc<str>>,
    /// Scope.
    pub scope: ScopeSet,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Grant it belongs to (revoking the grant kills it).
    pub grant: u64,
}

/// An issued refresh token.
#[derive(Debug, Clone)]
pub struct RefreshToken {
    /// Client it was issued to.
    pub client_id: Arc<str>,
    /// Resource owner.
    pub user: Option<Arc<str>>,
    /// Scope originally granted (REF-2, REF-5).
    pub scope: ScopeSet,
    /// Last use (or issue); idle expiry counts from here (REF-11).
    pub last_used: Timestamp,
    /// Grant it belongs to.
    pub grant: u64,
    /// Replaced by rotation; presenting it again is replay (REF-9).
    pub rotated: bool,
}

/// The grant of a token that nothing else can revoke: a client_credentials access token
/// has no code, no refresh token and no user behind it, only its own revocation and
/// expiry. It has no entry in the grant table (issuance skips one insert into a large
/// table), is always alive, and counts no references.
pub const STANDALONE: u64 = 0;

/// A grant: one user's authorization of one client, shared by the tokens it produced.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Client.
    pub client_id: Arc<str>,
    /// User, if any.
    pub user: Option<Arc<str>>,
    /// Revoked: every token of the grant is dead.
    pub revoked: bool,
    /// Tokens and codes that refer to it; at zero the grant is dropped.
    pub refs: u32,
}

/// A browser session at the login, consent and verification pages.
#[derive(Debug, Clone)]
pub struct Session {
    /// Logged-in user, if any.
    pub user: Option<Arc<str>>,
    /// Anti-CSRF value bound to the session (AUTHZ-18).
    pub csrf: String,
    /// Wrong user codes in a row at the verification page (DEV-24).
    pub verify_failures: u32,
    /// Verification attempts are refused until then.
    pub locked_until: Option<Timestamp>,
    /// Last use.
    pub last_seen: Timestamp,
}

/// Per-client counters of client behaviour (CLIENT-1, CLIENT-4, CLIENT-5).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ClientAudit {
    /// Token-endpoint polls of device codes.
    pub polls: u64,
    /// Polls that arrived sooner than the current interval after the previous one.
    pub early_polls: u64,
    /// Polls after the device code had answered a terminal error or tokens.
    pub polls_after_terminal: u64,
    /// Device authorizations started.
    pub device_authorizations: u64,
}

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
pub struct Sharded<V, K = Token> {
    shards: Vec<HashMap<K, V, foldhash::fast::RandomState>>,
}

const SHARDS: usize = 64;

/// Which shard a key lives in (the owned key and its borrowed form agree).
pub trait ShardOf {
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
        self.0[..].shard_of()
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
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ShardOf + ?Sized,
    {
        self.shards[key.shard_of()].get(key)
    }

    /// The value for `key`, mutably.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
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
    pub fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(HashMap::is_empty)
    }

    /// Every value, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.shards.iter().flat_map(HashMap::values)
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
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
pub struct Store {
    /// device_code → authorization.
    pub devices: Sharded<DeviceAuthorization>,
    /// Normalized user code → device_code.
    pub user_codes: HashMap<String, Token>,
    /// Authorization codes.
    pub codes: Sharded<AuthorizationCode>,
    /// Access tokens.
    pub access: Sharded<AccessToken>,
    /// Refresh tokens.
    pub refresh: Sharded<RefreshToken>,
    /// Grants by id.
    pub grants: Sharded<Grant, u64>,
    next_grant: u64,
    /// Browser sessions by cookie value.
    pub sessions: HashMap<String, Session>,
    /// Device authorizations per client in the current minute: (window start, count).
    pub device_rate: HashMap<Arc<str>, (Timestamp, u32)>,
    /// Audit counters per client.
    pub audit: HashMap<Arc<str>, ClientAudit>,
    /// Every device code's polls, when a client is the subject (`Play` on); else empty.
    device_logs: Vec<crate::server::play::DeviceLog>,
    /// Every request, when a client is the subject (`Play` on); else empty.
    requests: Vec<crate::server::play::RequestRecord>,
    life: Lifetimes,
    device_q: ExpiryQueue,
    code_q: ExpiryQueue,
    access_q: ExpiryQueue,
    refresh_q: ExpiryQueue,
    session_inserts: usize,
}

/// Lifetimes the reaper needs to know.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lifetimes {
    /// Authorization code lifetime.
    pub code: Duration,
    /// Device code lifetime.
    pub device: Duration,
    /// Refresh-token idle lifetime.
    pub refresh_idle: Duration,
}

/// Browser sessions unused this long are dropped.
const SESSION_IDLE: Duration = Duration::from_secs(24 * 3600);

impl Store {
    /// An empty store whose entries live as `life` says.
    pub fn new(life: Lifetimes) -> Self {
        Store {
            life,
            ..Store::default()
        }
    }

    /// Creates a grant and returns its id. It lives while something refers to it.
    /// Ids start at 1: 0 is [`STANDALONE`].
    pub fn new_grant(&mut self, client_id: Arc<str>, user: Option<Arc<str>>) -> u64 {
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
    pub fn grant_alive(&self, id: u64) -> bool {
        id == STANDALONE || self.grants.get(&id).is_some_and(|g| !g.revoked)
    }

    /// Revokes a grant: all its tokens die at once (REV-7, REV-8, TOK-22, REF-9).
    pub fn revoke_grant(&mut self, id: u64) {
        if let Some(g) = self.grants.get_mut(&id) {
            g.revoked = true;
        }
    }

    /// Stores a device authorization under its device code and normalized user code.
    pub fn insert_device(&mut self, now: Timestamp, key: Token, d: DeviceAuthorization) {
        self.user_codes
            .insert(normalize_user_code(&d.user_code), key);
        // Kept one lifetime past expiry, so late polls still get expired_token (DEV-19).
        self.device_q.push(d.expires_at.plus(self.life.device), key);
        self.devices.insert(key, d);
        self.reap(now);
    }

    /// Marks a device authorization as redeemed for `grant`.
    pub fn consume_device(&mut self, device_code: &str, grant: u64) {
        if let Some(d) = self.devices.get_mut(device_code.as_bytes()) {
            d.status = DeviceStatus::Consumed(grant);
            d.terminal_sent = true;
            self.grant_ref(grant);
        }
    }

    /// Every credential the store holds or was sent while a client was the subject, with
    /// its kind (`device_code`, `user_code`, `access_token`, `refresh_token`, `code`,
    /// `code_verifier`, `client_secret`), for redaction.
    pub fn credentials(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (code, d) in self.devices.iter() {
            out.push(("device_code", code.as_str().to_string()));
            out.push(("user_code", d.user_code.clone()));
        }
        out.extend(
            self.access
                .iter()
                .map(|(t, _)| ("access_token", t.as_str().to_string())),
        );
        out.extend(
            self.refresh
                .iter()
                .map(|(t, _)| ("refresh_token", t.as_str().to_string())),
        );
        out.extend(
            self.codes
                .iter()
                .map(|(c, _)| ("code", c.as_str().to_string())),
        );
        const SENT: [&str; 5] = [
            "code_verifier",
            "client_secret",
            "access_token",
            "refresh_token",
            "code",
        ];
        for r in &self.requests {
            for (k, v) in r.form.iter().chain(&r.query) {
                if let Some(kind) = SENT.iter().find(|s| **s == k.as_str()) {
                    out.push((kind, v.clone()));
                }
            }
        }
        out
    }

    /// What a client under test did, as the play logs kept it, with the user behind each
    /// authorization code issued.
    pub fn play_record(&self) -> crate::server::play::PlayRecord {
        crate::server::play::PlayRecord {
            devices: self.device_logs.clone(),
            requests: self.requests.clone(),
            code_users: self
                .codes
                .iter()
                .map(|(code, c)| (code.as_str().to_string(), c.user.clone()))
                .collect(),
        }
    }

    /// Whether a request to `path` has been kept (a client under test).
    pub fn requested(&self, path: &str) -> bool {
        self.requests.iter().any(|r| r.path == path)
    }

    /// Starts the poll log of a device code (a client under test); its index.
    pub fn log_device(&mut self, log: crate::server::play::DeviceLog) -> usize {
        self.device_logs.push(log);
        self.device_logs.len() - 1
    }

    /// Adds a poll to the device log `log`; its index there.
    pub fn log_poll(&mut self, log: usize, poll: crate::server::play::PollRecord) -> Option<usize> {
        let entry = self.device_logs.get_mut(log)?;
        entry.polls.push(poll);
        Some(entry.polls.len() - 1)
    }

    /// Notes when the client gave up waiting for a held poll.
    pub fn log_abandoned(&mut self, hang: crate::server::play::Hang, at: Timestamp) {
        if let Some(p) = self
            .device_logs
            .get_mut(hang.log)
            .and_then(|l| l.polls.get_mut(hang.poll))
        {
            p.abandoned = Some(at);
        }
    }

    /// Whether a kept request to `path` was answered 200.
    pub fn answered_200(&self, path: &str) -> bool {
        self.requests
            .iter()
            .any(|r| r.path == path && r.status == 200)
    }

    /// Keeps a request (a client under test).
    pub fn keep_request(&mut self, record: crate::server::play::RequestRecord) {
        self.requests.push(record);
    }

    /// How many of each thing the store holds (`/_test/stats`).
    pub fn counts(&self) -> [(&'static str, usize); 6] {
        [
            ("device_codes", self.devices.len()),
            ("authorization_codes", self.codes.len()),
            ("access_tokens", self.access.len()),
            ("refresh_tokens", self.refresh.len()),
            ("grants", self.grants.len()),
            ("sessions", self.sessions.len()),
        ]
    }

    /// Stores an authorization code.
    pub fn insert_code(&mut self, now: Timestamp, key: Token, c: AuthorizationCode) {
        self.code_q
            .push(c.issued_at.plus(self.life.code).plus(self.life.code), key);
        self.codes.insert(key, c);
        self.reap(now);
    }

    /// Marks a code as redeemed for `grant` (TOK-21).
    pub fn redeem_code(&mut self, code: &str, grant: u64) {
        if let Some(c) = self.codes.get_mut(code.as_bytes()) {
            c.redeemed = Some(grant);
            self.grant_ref(grant);
        }
    }

    /// Stores an access token.
    pub fn insert_access(&mut self, now: Timestamp, key: Token, t: AccessToken) {
        self.grant_ref(t.grant);
        self.access_q.push(t.expires_at, key);
        self.access.insert(key, t);
        self.reap(now);
    }

    /// Removes an access token (revocation, RFC 7009).
    pub fn remove_access(&mut self, token: &[u8]) {
        if let Some(t) = self.access.remove(token) {
            self.grant_unref(t.grant);
        }
    }

    /// Stores a refresh token.
    pub fn insert_refresh(&mut self, now: Timestamp, key: Token, t: RefreshToken) {
        self.grant_ref(t.grant);
        self.refresh_q
            .push(t.last_used.plus(self.life.refresh_idle), key);
        self.refresh.insert(key, t);
        self.reap(now);
    }

    /// Stores a browser session.
    pub fn insert_session(&mut self, now: Timestamp, id: String, s: Session) {
        self.sessions.insert(id, s);
        self.session_inserts += 1;
        if self.session_inserts >= (self.sessions.len() / 2).max(1024) {
            self.session_inserts = 0;
            self.sessions
                .retain(|_, s| now < s.last_seen.plus(SESSION_IDLE));
        }
    }

    /// Drops every entry whose deadline has passed: O(what expired).
    pub fn reap(&mut self, now: Timestamp) {
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

    /// The audit entry of a client.
    pub fn audit_of(&mut self, client_id: &Arc<str>) -> &mut ClientAudit {
        if !self.audit.contains_key(client_id) {
            self.audit.insert(client_id.clone(), ClientAudit::default());
        }
        match self.audit.get_mut(client_id) {
            Some(a) => a,
            None => unreachable!("inserted above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let set: HashSet<String> = (0..10_000).map(|_| random_token()).collect();
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
    fn store(refresh_idle: Duration) -> Store {
        Store::new(Lifetimes {
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
        };
        s.insert_access(t0, Token::random(), at);
        // Expired but within the grace period: kept so that polls still see expired_token.
        s.reap(t0.plus(secs(2000)));
        assert_eq!(s.devices.len(), 1);
        s.reap(t0.plus(secs(3600)));
        assert!(s.devices.is_empty() && s.user_codes.is_empty());
        assert!(
            s.access.is_empty() && s.grants.is_empty(),
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
        assert!(s.access.is_empty());
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
            rotated: false,
        };
        let key = Token::random();
        s.insert_refresh(t0, key, rt);
        if let Some(t) = s.refresh.get_mut(key.as_bytes()) {
            t.last_used = t0.plus(secs(90));
        }
        s.reap(t0.plus(secs(150)));
        assert_eq!(s.refresh.len(), 1, "used at 90 s: alive until 190 s");
        s.reap(t0.plus(secs(190)));
        assert!(s.refresh.is_empty() && s.grants.is_empty());
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
