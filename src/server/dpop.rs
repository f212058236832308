//! DPoP proofs as the reference server checks them (RFC 9449 §4.3), at the token endpoint,
//! at PAR and at the protected resource; server nonces (§8, §9); a proof's `jti` used once
//! within the window its `iat` is accepted in (§11.1). Each check has its fault switch
//! (matrix §24.3, `dpop-*`).

use crate::jose;
use crate::server::faults::Fault;
use crate::server::AppState;
use axum::http::HeaderMap;
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::HashSet;

/// The JWS algorithms the builtin takes for proofs (metadata
/// `dpop_signing_alg_values_supported`, §5.1): asymmetric only (§11.6).
pub(crate) const ALGS: [&str; 2] = ["ES256", "EdDSA"];

/// Where a server demands nonces (§8 at the AS, §9 at the RS): the builtin's policy.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NoncePolicy {
    /// Nowhere (the default).
    #[default]
    None,
    /// At the token endpoint and PAR.
    As,
    /// At the protected resource.
    Rs,
    /// At both.
    Both,
}

impl NoncePolicy {
    fn demands(self, place: Place) -> bool {
        match place {
            Place::Token | Place::Par => matches!(self, NoncePolicy::As | NoncePolicy::Both),
            Place::Resource => matches!(self, NoncePolicy::Rs | NoncePolicy::Both),
        }
    }
}

/// Where a proof was received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// The token endpoint (§5).
    Token,
    /// The pushed authorization request endpoint (§10.1).
    Par,
    /// The protected resource (§7).
    Resource,
}

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `invalid_dpop_proof`, with a description (ours, never the proof's text).
    Invalid(&'static str),
    /// `use_dpop_nonce`: a nonce is wanted, this one (§8, §9).
    UseNonce(String),
}

/// A proof that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Proof {
    /// The RFC 7638 thumbprint of its key: what a token is bound to (`cnf.jkt`).
    pub jkt: String,
}

/// The state the checks keep: `jti`s seen and the nonce key.
#[derive(Debug)]
pub(crate) struct DpopState {
    jtis: Mutex<Jtis>,
    nonce_key: ring::hmac::Key,
    /// Keys given a nonce (read only under the fault `dpop-nonce-downgrade`).
    given_nonce: Mutex<HashSet<String>>,
}

/// `jti`s of accepted proofs in two generations of one window each: a proof is accepted
/// only within the window of its `iat`, so two windows remember it as long as it could be
/// replayed. Bounded by what a window can accept.
#[derive(Debug, Default)]
struct Jtis {
    epoch: u64,
    current: HashSet<u128>,
    previous: HashSet<u128>,
}

impl Default for DpopState {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
        DpopState {
            jtis: Mutex::default(),
            nonce_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
            given_nonce: Mutex::default(),
        }
    }
}

/// Seconds a nonce lives (it is accepted in its period and the next).
const NONCE_PERIOD: u64 = 300;

impl DpopState {
    /// The nonce of the period `epoch`: an HMAC of the period under the server's key, so
    /// nothing is stored per client.
    fn nonce_of(&self, epoch: u64) -> String {
        let tag = ring::hmac::sign(&self.nonce_key, &epoch.to_be_bytes());
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            &tag.as_ref()[..24],
        )
    }

    /// The nonce to give now.
    pub(crate) fn nonce(&self, now: u64) -> String {
        self.nonce_of(now / NONCE_PERIOD)
    }

    /// Whether `nonce` is one this server gave recently (§8: "exactly match a nonce
    /// recently supplied").
    fn nonce_fresh(&self, nonce: &str, now: u64) -> bool {
        let epoch = now / NONCE_PERIOD;
        nonce == self.nonce_of(epoch) || (epoch > 0 && nonce == self.nonce_of(epoch - 1))
    }

    /// Records a proof's `jti` for its key; `false` if it was seen within the window.
    fn first_use(&self, jkt: &str, jti: &str, now: u64, window: u64) -> bool {
        let digest = ring::digest::digest(&ring::digest::SHA256, format!("{jkt}.{jti}").as_bytes());
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest.as_ref()[..16]);
        let id = u128::from_be_bytes(id);
        let epoch = now / window.max(1);
        let mut j = self.jtis.lock();
        if epoch != j.epoch {
            j.previous = if epoch == j.epoch + 1 {
                std::mem::take(&mut j.current)
            } else {
                HashSet::new()
            };
            j.current.clear();
            j.epoch = epoch;
        }
        if j.previous.contains(&id) {
            return false;
        }
        j.current.insert(id)
    }
}

/// The proofs a request carries in `DPoP` header fields.
pub(crate) fn proofs(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all("dpop")
        .iter()
        .map(|v| v.to_str().unwrap_or(""))
        .collect()
}

/// Checks the request's DPoP proof (§4.3) for `method` at `path` (the request's path, on
/// this server's issuer) at `place`; `access_token` is the token the request presents
/// (the RS checks `ath`, §4.3 item 12). `Ok(None)`: the request has no proof.
pub(crate) fn check(
    st: &AppState,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    place: Place,
    access_token: Option<&str>,
) -> Result<Option<Proof>, Refusal> {
    let f = |fault| st.faults.has(fault);
    let all = proofs(headers);
    let proof = match all.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        // Item 1: "There is not more than one DPoP HTTP request header field."
        [first, ..] if f(Fault::DpopAcceptTwoHeaders) => *first,
        _ => return Err(Refusal::Invalid("More than one DPoP header")),
    };
    // Item 2: "a single and well-formed JWT".
    let Ok(jwt) = jose::parse(proof) else {
        return Err(Refusal::Invalid("The DPoP proof is not a JWT"));
    };
    let claim = |name: &str| jwt.claims.get(name);
    let text = |name: &str| claim(name).and_then(Value::as_str);
    // Item 3: every claim of §4.2.
    let skip_claims = f(Fault::DpopSkipClaims);
    let (jti, htm, htu, iat) = (
        text("jti"),
        text("htm"),
        text("htu"),
        claim("iat").and_then(Value::as_i64),
    );
    if !skip_claims && (jti.is_none() || htm.is_none() || htu.is_none() || iat.is_none()) {
        return Err(Refusal::Invalid(
            "The DPoP proof lacks one of jti, htm, htu, iat",
        ));
    }
    // Item 4: `typ` is `dpop+jwt`.
    if jwt.header.get("typ").and_then(Value::as_str) != Some(crate::dpop::TYP)
        && !f(Fault::DpopAcceptWrongTyp)
    {
        return Err(Refusal::Invalid("The DPoP proof's typ is not dpop+jwt"));
    }
    // Items 5–6: an asymmetric `alg`, not none; the signature verifies with `jwk`.
    let jwk = jwt.header.get("jwk").filter(|j| j.is_object());
    let alg = jwt.alg().unwrap_or("");
    let lax_alg = (alg == "none" && f(Fault::DpopAcceptAlgNone))
        || (alg.starts_with("HS") && f(Fault::DpopAcceptHs256));
    if !lax_alg && !ALGS.contains(&alg) {
        return Err(Refusal::Invalid(
            "The DPoP proof's alg is not an accepted asymmetric algorithm",
        ));
    }
    let Some(jwk) = jwk else {
        return Err(Refusal::Invalid("The DPoP proof has no jwk header"));
    };
    if !lax_alg && !f(Fault::DpopSkipSignature) && !jwt.verify_jwk(jwk) {
        return Err(Refusal::Invalid(
            "The DPoP proof's signature does not verify with its jwk",
        ));
    }
    // Item 7: no private key in `jwk`.
    if jose::holds_private_key(jwk) && !f(Fault::DpopAcceptPrivateJwk) {
        return Err(Refusal::Invalid("The DPoP proof's jwk holds a private key"));
    }
    let rs_lax = place == Place::Resource && f(Fault::DpopRsSkipHtmHtu);
    // Item 8: `htm` is the request's method.
    if htm.is_some_and(|m| m != method) && !f(Fault::DpopAcceptWrongHtm) && !rs_lax {
        return Err(Refusal::Invalid(
            "The DPoP proof's htm is not the request's method",
        ));
    }
    // Item 9: `htu` is the request's URI, query and fragment aside, normalized (DPOP-10).
    let url = format!("{}{path}", st.issuer);
    let strict = f(Fault::DpopStrictHtu);
    if htu.is_some_and(|u| !crate::dpop::htu_matches(u, &url, strict))
        && !f(Fault::DpopAcceptWrongHtu)
        && !rs_lax
    {
        return Err(Refusal::Invalid(
            "The DPoP proof's htu is not the request's URI",
        ));
    }
    let jkt = jose::thumbprint(jwk).ok_or(Refusal::Invalid(
        "The DPoP proof's jwk is not a key RFC 7638 can thumbprint",
    ))?;
    // Unix seconds, as `iat` says.
    let now = st.clock.unix_seconds(st.now());
    // Item 10: the nonce, where the policy demands one (§8, §9).
    if st.policy.dpop_nonce.demands(place) {
        let downgraded = f(Fault::DpopNonceDowngrade) && st.dpop.given_nonce.lock().contains(&jkt);
        match text("nonce") {
            None if downgraded => {}
            Some(_) if f(Fault::DpopNonceIgnoreMismatch) => {}
            Some(n) if st.dpop.nonce_fresh(n, now) => {}
            _ => {
                if f(Fault::DpopNonceDowngrade) {
                    st.dpop.given_nonce.lock().insert(jkt.clone());
                }
                return Err(Refusal::UseNonce(st.dpop.nonce(now)));
            }
        }
    }
    // Item 11: `iat` within the window (§11.1).
    let window = st.policy.dpop_proof_window;
    let now_s = i64::try_from(now).unwrap_or(i64::MAX);
    let window_s = i64::try_from(window).unwrap_or(i64::MAX);
    if iat.is_some_and(|t| (t - now_s).abs() > window_s) && !f(Fault::DpopNoIatWindow) {
        return Err(Refusal::Invalid(
            "The DPoP proof's iat is outside the accepted window",
        ));
    }
    // Item 12 at the RS: `ath` is the hash of the token presented.
    if let Some(token) = access_token {
        let ok = text("ath").is_some_and(|a| a == crate::dpop::ath(token));
        if !ok && !f(Fault::DpopRsSkipAth) {
            return Err(Refusal::Invalid(
                "The DPoP proof's ath is not the hash of the access token",
            ));
        }
    }
    // §11.1: a `jti` is used once while its proof could be accepted (DPOP-12, a MAY;
    // builtin policy: refused).
    if let Some(jti) = jti {
        if !f(Fault::DpopNoJtiCheck) && !st.dpop.first_use(&jkt, jti, now, window * 2) {
            return Err(Refusal::Invalid("The DPoP proof was used before"));
        }
    }
    Ok(Some(Proof { jkt }))
}

/// A refusal at the authorization server (token endpoint, PAR) as RFC 9449 §5 and §8
/// answer it: 400 `invalid_dpop_proof`, or 400 `use_dpop_nonce` with one `DPoP-Nonce`.
pub(crate) fn as_error(st: &AppState, r: Refusal) -> crate::server::error::OAuthError {
    use crate::oauth::ErrorCode;
    use crate::server::error::OAuthError;
    match r {
        Refusal::Invalid(why) => OAuthError::new(ErrorCode::InvalidDpopProof, why),
        Refusal::UseNonce(nonce) => {
            let mut e = OAuthError::new(
                ErrorCode::UseDpopNonce,
                "Authorization server requires nonce in DPoP proof",
            );
            // DPOP-13's fault: the error comes without the nonce to use.
            if !st.faults.has(Fault::DpopNonceNoHeader) {
                e.dpop_nonce = Some(nonce);
            }
            e
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_refused_within_two_windows_and_forgotten_after() {
        let s = DpopState::default();
        let t = |secs: u64| secs;
        assert!(s.first_use("k", "a", t(1000), 120));
        assert!(!s.first_use("k", "a", t(1001), 120), "replayed");
        assert!(s.first_use("k2", "a", t(1001), 120), "another key's jti");
        assert!(
            !s.first_use("k", "a", t(1100), 120),
            "the next window remembers it"
        );
        assert!(
            s.first_use("k", "a", t(1500), 120),
            "forgotten after two windows"
        );
    }

    #[test]
    fn a_nonce_holds_for_its_period_and_the_next() {
        let s = DpopState::default();
        let t = |secs: u64| secs;
        let n = s.nonce(t(1000));
        assert!(s.nonce_fresh(&n, t(1000)));
        assert!(s.nonce_fresh(&n, t(1000 + NONCE_PERIOD)));
        assert!(!s.nonce_fresh(&n, t(1000 + 3 * NONCE_PERIOD)));
        assert!(!s.nonce_fresh("bogus", t(1000)));
        assert_ne!(n, DpopState::default().nonce(t(1000)), "a key per server");
    }
}
