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
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// A 256-bit random value, base64url without padding (43 characters): codes, tokens,
/// device codes and secrets (TOK-32: ≥ 128 bits from a CSPRNG).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
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

/// A grant: one user's authorization of one client, shared by the tokens it produced.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Client.
    pub client_id: Arc<str>,
    /// User, if any.
    pub user: Option<Arc<str>>,
    /// Revoked: every token of the grant is dead.
    pub revoked: bool,
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

/// Everything mutable, behind one lock.
#[derive(Debug, Default)]
pub struct Store {
    /// device_code → authorization.
    pub devices: HashMap<String, DeviceAuthorization>,
    /// Normalized user code → device_code.
    pub user_codes: HashMap<String, String>,
    /// Authorization codes.
    pub codes: HashMap<String, AuthorizationCode>,
    /// Access tokens.
    pub access: HashMap<String, AccessToken>,
    /// Refresh tokens.
    pub refresh: HashMap<String, RefreshToken>,
    /// Grants by id.
    pub grants: HashMap<u64, Grant>,
    next_grant: u64,
    /// Browser sessions by cookie value.
    pub sessions: HashMap<String, Session>,
    /// Device authorizations per client in the current minute: (window start, count).
    pub device_rate: HashMap<Arc<str>, (Timestamp, u32)>,
    /// Audit counters per client.
    pub audit: HashMap<Arc<str>, ClientAudit>,
    inserts_since_purge: usize,
}

/// Lifetimes the purge needs to know.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// Authorization code lifetime.
    pub code: Duration,
    /// Device code lifetime.
    pub device: Duration,
    /// Refresh-token idle lifetime.
    pub refresh_idle: Duration,
}

impl Store {
    /// Creates a grant and returns its id.
    pub fn new_grant(&mut self, client_id: Arc<str>, user: Option<Arc<str>>) -> u64 {
        self.next_grant += 1;
        let id = self.next_grant;
        self.grants.insert(
            id,
            Grant {
                client_id,
                user,
                revoked: false,
            },
        );
        id
    }

    /// Whether a grant is alive.
    pub fn grant_alive(&self, id: u64) -> bool {
        self.grants.get(&id).is_some_and(|g| !g.revoked)
    }

    /// Revokes a grant: all its tokens die at once (REV-7, REV-8, TOK-22, REF-9).
    pub fn revoke_grant(&mut self, id: u64) {
        if let Some(g) = self.grants.get_mut(&id) {
            g.revoked = true;
        }
    }

    /// Counts an insertion and sweeps when enough have accumulated.
    pub fn note_insert(&mut self, now: Timestamp, life: Lifetimes) {
        self.inserts_since_purge += 1;
        let live = self.devices.len() + self.codes.len() + self.access.len() + self.refresh.len();
        if self.inserts_since_purge >= (live / 4).max(4096) {
            self.purge(now, life);
        }
    }

    /// Removes everything that can no longer change an answer.
    pub fn purge(&mut self, now: Timestamp, life: Lifetimes) {
        self.inserts_since_purge = 0;
        let devices = &mut self.devices;
        devices.retain(|_, d| now < d.expires_at.plus(life.device));
        self.user_codes.retain(|_, dc| devices.contains_key(dc));
        self.codes
            .retain(|_, c| now < c.issued_at.plus(life.code).plus(life.code));
        let grants = &self.grants;
        self.access
            .retain(|_, t| now < t.expires_at && grants.get(&t.grant).is_some_and(|g| !g.revoked));
        self.refresh.retain(|_, t| {
            now < t.last_used.plus(life.refresh_idle)
                && grants.get(&t.grant).is_some_and(|g| !g.revoked)
        });
        let mut live: HashSet<u64> = HashSet::new();
        live.extend(self.access.values().map(|t| t.grant));
        live.extend(self.refresh.values().map(|t| t.grant));
        live.extend(self.codes.values().filter_map(|c| c.redeemed));
        live.extend(self.devices.values().filter_map(|d| match d.status {
            DeviceStatus::Consumed(g) => Some(g),
            _ => None,
        }));
        self.grants.retain(|id, _| live.contains(id));
        self.sessions
            .retain(|_, s| now < s.last_seen.plus(Duration::from_secs(24 * 3600)));
        self.device_rate
            .retain(|_, (start, _)| now < start.plus(Duration::from_secs(60)));
    }

    /// The audit entry of a client.
    pub fn audit_of(&mut self, client_id: &Arc<str>) -> &mut ClientAudit {
        self.audit.entry(client_id.clone()).or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn purge_drops_expired_entries_and_dead_grants() {
        let mut s = Store::default();
        let life = Lifetimes {
            code: Duration::from_secs(600),
            device: Duration::from_secs(1800),
            refresh_idle: Duration::from_secs(3600),
        };
        let t0 = Timestamp::default();
        let client: Arc<str> = Arc::from("c");
        s.devices.insert(
            "dc".into(),
            DeviceAuthorization {
                client_id: client.clone(),
                scope: ScopeSet::default(),
                user_code: "BCDF-GHJK".into(),
                expires_at: t0.plus(Duration::from_secs(1800)),
                interval: Duration::from_secs(5),
                last_poll: None,
                status: DeviceStatus::Pending,
                terminal_sent: false,
            },
        );
        s.user_codes.insert("BCDFGHJK".into(), "dc".into());
        let g = s.new_grant(client.clone(), None);
        s.access.insert(
            "at".into(),
            AccessToken {
                client_id: client,
                user: None,
                scope: ScopeSet::default(),
                expires_at: t0.plus(Duration::from_secs(3600)),
                grant: g,
            },
        );
        // Expired but within the grace period: kept so that polls still see expired_token.
        s.purge(t0.plus(Duration::from_secs(2000)), life);
        assert_eq!(s.devices.len(), 1);
        s.purge(t0.plus(Duration::from_secs(3601)), life);
        assert!(s.devices.is_empty() && s.user_codes.is_empty());
        assert!(s.access.is_empty() && s.grants.is_empty());
    }
}
