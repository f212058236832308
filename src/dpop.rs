//! DPoP (RFC 9449) as both sides write and read it: a proof's claims (§4.2), the access
//! token hash `ath`, and the comparison of `htu` with a request's URI (§4.3 item 9, with
//! RFC 3986 §6.2.2–§6.2.3 normalization). The runner, the load generator and the
//! reference clients sign proofs with [`proof`]; the reference server checks them with
//! the rest. A leaf: it names only `jose`.

use crate::jose::{compact, Signer, SigningKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{Map, Value};

/// The JOSE `typ` of a DPoP proof (§4.2).
pub const TYP: &str = "dpop+jwt";

/// `ath`: base64url of the SHA-256 of the access token's ASCII (§4.2).
pub fn ath(access_token: &str) -> String {
    B64.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        access_token.as_bytes(),
    ))
}

/// The `htu` of a request to `url`: the URI without its query and fragment (§4.2).
pub fn htu_of(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url[..end].to_string()
}

/// `url` after syntax-based and scheme-based normalization (RFC 3986 §6.2.2, §6.2.3: case
/// of scheme and host, the default port, dot segments, an empty path), without query and
/// fragment; `None` when it is no absolute URI.
pub fn normalized(url: &str) -> Option<String> {
    let mut u = url::Url::parse(url).ok()?;
    u.set_query(None);
    u.set_fragment(None);
    Some(u.to_string())
}

/// Whether a proof's `htu` names `request_url` (§4.3 item 9: "ignoring any query and
/// fragment parts"), after normalizing both (§4.3: servers SHOULD normalize, DPOP-10), or
/// only code point for code point when `strict`.
pub fn htu_matches(htu: &str, request_url: &str, strict: bool) -> bool {
    let request = htu_of(request_url);
    if strict {
        return htu == request;
    }
    match (normalized(htu), normalized(&request)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// What a proof says besides its key: method, URI, creation time, and the optional
/// nonce and access token hash.
#[derive(Debug, Clone, Copy)]
pub struct Claims<'a> {
    /// `htm`.
    pub htm: &'a str,
    /// `htu` (a query or fragment is dropped).
    pub htu: &'a str,
    /// `iat`, Unix seconds.
    pub iat: i64,
    /// `nonce`, when the server provided one (§8, §9).
    pub nonce: Option<&'a str>,
    /// The access token the request carries: its hash becomes `ath` (§7).
    pub access_token: Option<&'a str>,
}

impl Claims<'_> {
    /// The claims as a JSON object, with a fresh `jti` (256 random bits).
    pub fn to_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("jti".into(), Value::from(crate::oauth::random_token()));
        m.insert("htm".into(), Value::from(self.htm));
        m.insert("htu".into(), Value::from(htu_of(self.htu)));
        m.insert("iat".into(), Value::from(self.iat));
        if let Some(n) = self.nonce {
            m.insert("nonce".into(), Value::from(n));
        }
        if let Some(t) = self.access_token {
            m.insert("ath".into(), Value::from(ath(t)));
        }
        m
    }
}

/// The protected header of a proof by `key`: `typ`, `alg` and the public `jwk` (§4.2),
/// without `kid` (the key travels in the proof).
pub fn header(key: &SigningKey) -> Map<String, Value> {
    let mut jwk = key.public_jwk().clone();
    jwk.remove("kid");
    jwk.remove("alg");
    let mut h = Map::new();
    h.insert("typ".into(), Value::from(TYP));
    h.insert("alg".into(), Value::from(crate::jose::alg_name(key.alg())));
    h.insert("jwk".into(), Value::Object(jwk));
    h
}

/// A DPoP proof by `key` for `claims` (§4.2).
pub fn proof(key: &SigningKey, claims: &Claims) -> Result<String, String> {
    compact(&header(key), &claims.to_map(), Signer::Key(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{fixture_key, KeyName};

    #[test]
    fn ath_is_rfc_9449s_example() {
        // RFC 9449 §7.1's example access token and its `ath`.
        assert_eq!(
            ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn htu_ignores_query_and_fragment_and_normalizes_unless_strict() {
        let at = "https://as.example/token?x=1#f";
        assert!(htu_matches("https://as.example/token", at, false));
        assert!(htu_matches("HTTPS://AS.EXAMPLE:443/token", at, false));
        assert!(!htu_matches("HTTPS://AS.EXAMPLE:443/token", at, true));
        assert!(htu_matches("https://as.example/token", at, true));
        assert!(!htu_matches("https://as.example/api", at, false));
        assert!(!htu_matches("https://evil.example/token", at, false));
        assert!(!htu_matches("not a uri", at, false));
        assert_eq!(htu_of("http://h/p?q#f"), "http://h/p");
    }

    #[test]
    fn a_proof_carries_the_public_key_and_verifies_with_it() {
        let j = fixture_key(KeyName::J).expect("J");
        let p = proof(
            &j,
            &Claims {
                htm: "POST",
                htu: "https://as.example/token?q",
                iat: 1_700_000_000,
                nonce: Some("n1"),
                access_token: Some("at"),
            },
        )
        .expect("signed");
        let parsed = crate::jose::parse(&p).expect("a JWS");
        assert_eq!(parsed.header["typ"], TYP);
        assert_eq!(parsed.alg(), Some("ES256"));
        let jwk = parsed.header["jwk"].clone();
        assert!(jwk.get("d").is_none(), "no private member");
        assert!(parsed.verify_jwk(&jwk));
        assert_eq!(
            crate::jose::thumbprint(&jwk).as_deref(),
            Some(j.thumbprint())
        );
        assert_eq!(parsed.claims["htu"], "https://as.example/token");
        assert_eq!(parsed.claims["nonce"], "n1");
        assert_eq!(parsed.claims["ath"], Value::from(ath("at")));
        assert!(parsed.claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    }
}
