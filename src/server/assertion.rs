//! Client authentication by signed assertion: `private_key_jwt` and `client_secret_jwt`
//! (RFC 7523 §2.2, §3; RFC 7521 §4.2; OpenID Connect Core §9), at every endpoint that
//! authenticates clients (token, PAR, revocation, introspection, device authorization).
//!
//! The builtin's policy where the sources leave a choice (conformance matrix §24.2):
//! `aud` is one of its own identifiers (issuer, token or PAR endpoint URL: RFC 9126 §2's
//! "MUST accept"), `jti` is required and used once (OpenID Connect Core §9), and the
//! allowed clock skew is [`SKEW`] seconds.

use crate::endpoint::Endpoint;
use crate::jose::{self, Compact};
use crate::server::config::{Client, JwtAudPolicy};
use crate::server::faults::Fault;
use crate::server::AppState;
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// RFC 7523 §2.2: "The value of the "client_assertion_type" is
/// "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"."
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Seconds of clock skew allowed on `exp` and `nbf` (RFC 7523 §3 item 4: "subject to
/// allowable clock skew between systems").
pub const SKEW: u64 = 30;

/// The JWS algorithms the builtin verifies client assertions with (RFC 8414 §2
/// `token_endpoint_auth_signing_alg_values_supported`; "none" is never one).
pub const SIGNING_ALGS: [&str; 4] = ["ES256", "EdDSA", "RS256", "HS256"];

/// How a client registered to authenticate by assertion (RFC 7591 §2
/// `token_endpoint_auth_method`).
#[derive(Debug, Clone)]
pub enum AssertionMethod {
    /// `private_key_jwt`: signed with a private key whose public half is in `jwks`.
    PrivateKey {
        /// The registered public keys (RFC 7591 §2 `jwks`).
        jwks: Arc<Vec<Value>>,
    },
    /// `private_key_jwt` with the public keys published at `jwks_uri` (RFC 7591 §2):
    /// fetched when the client is registered (or the server starts), and again when no
    /// key on hand verifies an assertion (the client may have rotated them).
    PrivateKeyUri(Arc<RemoteKeys>),
    /// `client_secret_jwt`: an HMAC keyed with the client's secret.
    Secret,
}

/// A client's public keys as its `jwks_uri` last published them.
#[derive(Debug)]
pub struct RemoteKeys {
    /// Where they are published.
    pub uri: String,
    keys: parking_lot::RwLock<Arc<Vec<Value>>>,
    /// A fetch after a miss is under way: at most one at a time.
    refreshing: std::sync::atomic::AtomicBool,
}

/// The largest JWK Set document fetched.
const MAX_JWKS_BYTES: usize = 64 * 1024;

impl RemoteKeys {
    /// Keys at `uri`, none fetched yet.
    pub fn new(uri: &str) -> Self {
        RemoteKeys {
            uri: uri.to_string(),
            keys: Default::default(),
            refreshing: Default::default(),
        }
    }

    /// The keys on hand.
    pub fn keys(&self) -> Arc<Vec<Value>> {
        self.keys.read().clone()
    }

    /// Fetches the JWK Set (RFC 7517 §5) at the URI and keeps its keys, or says why it
    /// cannot: unreachable, not a JWK Set, or holding a key that is not a public key.
    pub async fn fetch(&self) -> Result<usize, String> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("jwks_uri: {e}"))?;
        let resp = http
            .get(&self.uri)
            .send()
            .await
            .map_err(|e| format!("jwks_uri {}: cannot fetch it: {e}", self.uri))?;
        if !resp.status().is_success() {
            return Err(format!("jwks_uri {}: answered {}", self.uri, resp.status()));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("jwks_uri {}: {e}", self.uri))?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(format!(
                "jwks_uri {}: more than {MAX_JWKS_BYTES} bytes",
                self.uri
            ));
        }
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("jwks_uri {}: not JSON: {e}", self.uri))?;
        let keys = public_keys(Some(&doc)).map_err(|e| format!("jwks_uri {}: {e}", self.uri))?;
        let n = keys.len();
        *self.keys.write() = Arc::new(keys);
        Ok(n)
    }

    /// After a miss: fetches the keys again in the background, unless a fetch is under
    /// way (the assertion that missed is refused; the next one sees the new keys).
    fn refresh_later(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.fetch().await {
                tracing::warn!("{e}");
            }
            me.refreshing.store(false, Ordering::Release);
        });
    }
}

/// The public keys of a JWK Set document (`{"keys": [...]}`, not empty), or why not.
fn public_keys(jwks: Option<&Value>) -> Result<Vec<Value>, String> {
    let keys = jwks
        .and_then(|j| j.get("keys"))
        .and_then(Value::as_array)
        .filter(|k| !k.is_empty())
        .ok_or("a JWK Set needs a non-empty `keys` array")?;
    if let Some(bad) = keys.iter().find(|k| jose::thumbprint(k).is_none()) {
        let kty = bad.get("kty").and_then(Value::as_str).unwrap_or("?");
        return Err(format!(
            "the JWK Set holds a key of kty '{kty}' that is not a public key"
        ));
    }
    if keys.iter().any(crate::jose::holds_private_key) {
        return Err("the JWK Set must hold public keys only".into());
    }
    Ok(keys.clone())
}

impl AssertionMethod {
    /// The RFC 7591 name.
    pub fn name(&self) -> &'static str {
        match self {
            AssertionMethod::PrivateKey { .. } | AssertionMethod::PrivateKeyUri(_) => {
                "private_key_jwt"
            }
            AssertionMethod::Secret => "client_secret_jwt",
        }
    }

    /// The method registered as `name` with `jwks` or `jwks_uri`, or why it cannot be.
    pub fn from_registration(
        name: &str,
        jwks: Option<&Value>,
        jwks_uri: Option<&str>,
    ) -> Result<Option<Self>, String> {
        match (name, jwks_uri) {
            // RFC 7591 §2: "The "jwks_uri" and "jwks" parameters MUST NOT both be present".
            (_, Some(_)) if jwks.is_some() => Err("give jwks or jwks_uri, not both".into()),
            ("private_key_jwt", Some(uri)) => {
                let ok = url::Url::parse(uri)
                    .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.has_host());
                if !ok {
                    return Err(format!("jwks_uri '{uri}' is not an http(s) URL"));
                }
                Ok(Some(AssertionMethod::PrivateKeyUri(Arc::new(
                    RemoteKeys::new(uri),
                ))))
            }
            ("private_key_jwt", None) => {
                let keys = public_keys(jwks)
                    .map_err(|e| format!("private_key_jwt needs `jwks` or `jwks_uri`: {e}"))?;
                Ok(Some(AssertionMethod::PrivateKey {
                    jwks: Arc::new(keys),
                }))
            }
            ("client_secret_jwt", _) => Ok(Some(AssertionMethod::Secret)),
            _ => Ok(None),
        }
    }

    /// The public keys it verifies with, for `private_key_jwt` (those on hand, for
    /// `jwks_uri`).
    pub fn public_keys(&self) -> Option<Arc<Vec<Value>>> {
        match self {
            AssertionMethod::PrivateKey { jwks } => Some(jwks.clone()),
            AssertionMethod::PrivateKeyUri(remote) => Some(remote.keys()),
            AssertionMethod::Secret => None,
        }
    }
}

/// The `jti` values seen, per client, until their assertion expires (OpenID Connect
/// Core §9: "These tokens MUST only be used once").
#[derive(Debug, Default)]
pub(crate) struct SeenJtis(Mutex<HashMap<(Arc<str>, String), u64>>);

impl SeenJtis {
    /// Most remembered at once; past it, expired entries are dropped first, and a flood
    /// of live ones is refused rather than grown without bound.
    const MAX: usize = 100_000;

    /// Whether `jti` of `client` is on record (the read half of [`Self::first_use`], for
    /// the race fault only).
    fn seen(&self, client: &Arc<str>, jti: &str, now: u64) -> bool {
        self.0
            .lock()
            .get(&(client.clone(), jti.to_string()))
            .is_some_and(|t| *t >= now)
    }

    /// Records `jti` of `client` until `until` (the write half, for the race fault only).
    fn record(&self, client: &Arc<str>, jti: &str, until: u64) {
        self.0
            .lock()
            .insert((client.clone(), jti.to_string()), until);
    }

    /// Records `jti` of `client` until `until`; `false` if it was seen (a replay) or the
    /// table is full.
    fn first_use(&self, client: &Arc<str>, jti: &str, until: u64, now: u64) -> bool {
        let mut seen = self.0.lock();
        if seen.len() >= Self::MAX {
            seen.retain(|_, t| *t >= now);
            if seen.len() >= Self::MAX {
                return false;
            }
        }
        let key = (client.clone(), jti.to_string());
        match seen.get(&key) {
            Some(t) if *t >= now => false,
            _ => {
                seen.insert(key, until);
                true
            }
        }
    }
}

/// The client an assertion names (`sub`, else `iss`), read before anything is verified:
/// only to find whose keys verify it. `None` when it is no JWT or names no one.
pub(crate) fn claimed_client(assertion: &str) -> Option<String> {
    let c = jose::parse(assertion).ok()?;
    ["sub", "iss"]
        .iter()
        .find_map(|k| c.claims.get(*k).and_then(Value::as_str))
        .map(str::to_string)
}

/// A refusal's description (always `invalid_client`, RFC 7521 §4.2.1).
pub(crate) type Refusal = &'static str;

/// Verifies `assertion` as `client`'s authentication by `method` (RFC 7523 §3).
pub(crate) fn verify(
    st: &AppState,
    client: &Client,
    method: &AssertionMethod,
    assertion: &str,
) -> Result<(), Refusal> {
    let jwt = jose::parse(assertion).map_err(|_| "The client assertion is not one JWT")?;
    signature(st, client, method, &jwt)?;
    claims(st, client, &jwt)
}

/// RFC 7523 §3 item 9: "The JWT MUST be digitally signed or have a Message
/// Authentication Code (MAC) applied by the issuer. The authorization server MUST reject
/// JWTs with an invalid signature or MAC." — with a credential registered for the client.
fn signature(
    st: &AppState,
    client: &Client,
    method: &AssertionMethod,
    jwt: &Compact,
) -> Result<(), Refusal> {
    if jwt.unsigned() || jwt.alg() == Some("none") {
        return if st.faults.has(Fault::JwtAcceptAlgNone) {
            Ok(())
        } else {
            Err("Unsigned client assertions are refused")
        };
    }
    // draft-ietf-oauth-rfc7523bis: "it is NOT RECOMMENDED for servers to reject JWTs that
    // do not have explicit types" (JWTAUTH-8): only the fault does.
    let typed = jwt.header.get("typ").and_then(Value::as_str) == Some("client-authentication+jwt");
    if st.faults.has(Fault::JwtRequireTyp) && !typed {
        return Err("The client assertion is not typed client-authentication+jwt");
    }
    if st.faults.has(Fault::JwtSkipSignature) {
        return Ok(());
    }
    let hmac = jwt.alg().is_some_and(|a| a.starts_with("HS"));
    let ok = match method.public_keys() {
        Some(jwks) if hmac => {
            // Algorithm confusion: an HMAC keyed with a public key proves nothing.
            st.faults.has(Fault::JwtHmacWithPublicKey)
                && jwks
                    .iter()
                    .any(|k| jwt.verify_hmac(jose::canonical_json(k).as_bytes()))
        }
        Some(jwks) => {
            let own = jwks.iter().any(|k| jwt.verify_jwk(k));
            if let (false, AssertionMethod::PrivateKeyUri(remote)) = (own, method) {
                if !st.faults.has(Fault::JwksUriIgnored) {
                    remote.refresh_later();
                }
            }
            own || (st.faults.has(Fault::JwtAnyRegisteredClientKey)
                && st.every_client().iter().any(|c| {
                    c.assertion
                        .as_ref()
                        .and_then(AssertionMethod::public_keys)
                        .is_some_and(|keys| keys.iter().any(|k| jwt.verify_jwk(k)))
                }))
        }
        None if !hmac => false,
        None => client
            .secret
            .as_ref()
            .is_some_and(|s| jwt.verify_hmac(s.expose().as_bytes())),
    };
    if ok {
        Ok(())
    } else {
        Err("The client assertion's signature does not verify with the client's registered credentials")
    }
}

fn claims(st: &AppState, client: &Client, jwt: &Compact) -> Result<(), Refusal> {
    let text = |k: &str| jwt.claims.get(k).and_then(Value::as_str);
    let number = |k: &str| jwt.claims.get(k).and_then(Value::as_u64);
    let faults = &st.faults;
    // RFC 7521 §5.2: "If an assertion is self-issued, the Issuer MUST be the value of the
    // client's "client_id"."
    if text("iss") != Some(&*client.id) && !faults.has(Fault::JwtIgnoreIss) {
        return Err("The client assertion's iss is not the client's id");
    }
    // RFC 7523 §3 item 2.B: "For client authentication, the subject MUST be the
    // "client_id" of the OAuth client."
    if text("sub") != Some(&*client.id) && !faults.has(Fault::JwtIgnoreSub) {
        return Err("The client assertion's sub is not the client's id");
    }
    if !faults.has(Fault::JwtIgnoreAud) && !audience_ok(st, jwt.claims.get("aud")) {
        return Err("The client assertion's aud does not identify this authorization server");
    }
    let now = st.clock.unix_seconds(st.now());
    // RFC 7523 §3 item 4: "The JWT MUST contain an "exp" (expiration time) claim … The
    // authorization server MUST reject any JWT with an expiration time that has passed".
    let exp = number("exp");
    if !faults.has(Fault::JwtIgnoreExp) {
        match exp {
            None => return Err("The client assertion has no exp"),
            Some(exp) if exp + SKEW <= now => return Err("The client assertion has expired"),
            Some(_) => {}
        }
    }
    // RFC 7523 §3 item 5: "the time before which the token MUST NOT be accepted".
    if let Some(nbf) = number("nbf") {
        if nbf > now + SKEW && !faults.has(Fault::JwtIgnoreNbf) {
            return Err("The client assertion is not valid yet (nbf)");
        }
    }
    if faults.has(Fault::JwtNoJtiCheck) {
        return Ok(());
    }
    // OpenID Connect Core §9: "jti REQUIRED." … "These tokens MUST only be used once".
    let Some(jti) = text("jti") else {
        return Err("The client assertion has no jti");
    };
    let until = exp.unwrap_or(now).max(now) + SKEW;
    // RACE-10's fault: two requests read the jti unseen, meet, and both record it.
    if st.faults.has(Fault::RaceJtiDoubleSpend) && !st.assertion_jtis.seen(&client.id, jti, now) {
        st.rendezvous.meet(jti.as_bytes());
        st.assertion_jtis.record(&client.id, jti, until);
        return Ok(());
    }
    if !st.assertion_jtis.first_use(&client.id, jti, until, now) {
        return Err("The client assertion was used before (jti)");
    }
    Ok(())
}

/// Whether `aud` names this AS. Under the original rules (policy `legacy`), one of its
/// identifiers (RFC 9126 §2: "the authorization server MUST accept its issuer identifier,
/// token endpoint URL, or pushed authorization request endpoint URL"), alone or among
/// others (RFC 7519 §4.1.3). Under `issuer-only` (draft-ietf-oauth-rfc7523bis: "The
/// authorization server MUST reject any JWT that does not contain its issuer identifier
/// as its sole audience value.") only the issuer. Each fault switch applies the other
/// rule.
fn audience_ok(st: &AppState, aud: Option<&Value>) -> bool {
    let values: Vec<&str> = match aud {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => return false,
    };
    let issuer = st.issuer.trim_end_matches('/');
    let same = |v: &str, id: &str| v.trim_end_matches('/') == id.trim_end_matches('/');
    let issuer_only = match st.policy.jwt_aud {
        JwtAudPolicy::Legacy => st.faults.has(Fault::JwtAudIssuerOnly),
        JwtAudPolicy::IssuerOnly => !st.faults.has(Fault::JwtAudLegacy),
    };
    if issuer_only {
        return values.len() == 1 && same(values[0], issuer);
    }
    let ours = [
        issuer.to_string(),
        st.url(Endpoint::Token.path()),
        st.url(Endpoint::PushedAuthorization.path()),
    ];
    values.iter().any(|v| ours.iter().any(|o| same(v, o)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_used_once_until_it_expires() {
        let seen = SeenJtis::default();
        let pkj: Arc<str> = Arc::from("pkj");
        let other: Arc<str> = Arc::from("other");
        assert!(seen.first_use(&pkj, "j1", 100, 10));
        assert!(!seen.first_use(&pkj, "j1", 100, 50), "replayed");
        assert!(
            seen.first_use(&other, "j1", 100, 50),
            "another client's jti"
        );
        assert!(
            seen.first_use(&pkj, "j1", 300, 101),
            "after expiry it is forgotten"
        );
    }

    #[test]
    fn registration_takes_public_jwks_only() {
        let k = jose::SigningKey::from_jwk(include_str!("../../fixtures/keys/K.jwk")).expect("K");
        let good = k.public_jwks();
        assert!(matches!(
            AssertionMethod::from_registration("private_key_jwt", Some(&good), None),
            Ok(Some(AssertionMethod::PrivateKey { .. }))
        ));
        let private: Value =
            serde_json::from_str(include_str!("../../fixtures/keys/K.jwk")).expect("json");
        let e = AssertionMethod::from_registration(
            "private_key_jwt",
            Some(&serde_json::json!({"keys": [private]})),
            None,
        )
        .expect_err("a private key");
        assert!(e.contains("public keys only"), "{e}");
        assert!(AssertionMethod::from_registration("private_key_jwt", None, None).is_err());
        assert!(matches!(
            AssertionMethod::from_registration("client_secret_basic", None, None),
            Ok(None)
        ));
        // By reference (RFC 7591 §2 jwks_uri): an http(s) URL, never beside jwks.
        let uri = "https://client.example/jwks.json";
        assert!(matches!(
            AssertionMethod::from_registration("private_key_jwt", None, Some(uri)),
            Ok(Some(AssertionMethod::PrivateKeyUri(_)))
        ));
        let both = AssertionMethod::from_registration("private_key_jwt", Some(&good), Some(uri));
        assert!(both.is_err_and(|e| e.contains("not both")));
        let ftp = AssertionMethod::from_registration("private_key_jwt", None, Some("ftp://x/k"));
        assert!(ftp.is_err_and(|e| e.contains("not an http(s) URL")));
    }
}
