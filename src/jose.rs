//! JOSE for both sides of a client assertion (RFC 7523 §2.2) and a DPoP proof (RFC 9449):
//! the harness signs with the private keys it holds, the reference server verifies with
//! the keys its clients registered or a proof carries. `jsonwebtoken` verifies and does
//! HMACs; aws-lc-rs (already in the tree through rustls, and under jsonwebtoken) signs
//! with a key pair parsed once. This module adds what jsonwebtoken lacks: reading a
//! *private* JWK (it reads PEM and DER only), and writing a JWS with any header, since
//! the negative rows need headers a well-behaved library refuses to write (`alg: none`,
//! an HMAC keyed with a public key).
//!
//! Key material never leaves this module in text: `SigningKey`'s `Debug` names the key
//! by its thumbprint, and no error message quotes a member of a JWK.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The members of a JWK that hold private key material (RFC 7518 §6.2.2, §6.3.2, §6.4;
/// RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Whether a JWK holds private key material (any member of RFC 7518 §6 and RFC 8037 §2
/// that only a private key has): what a client registers, and what a DPoP proof carries,
/// must not.
pub fn holds_private_key(jwk: &Value) -> bool {
    PRIVATE_MEMBERS.iter().any(|m| jwk.get(m).is_some())
}

/// Why a JWK cannot be used to sign. The message names the member at fault, never its
/// value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

/// A private key the harness signs with: its algorithm, the key, and its public half as
/// a JWK (with a `kid`: the JWK's own, else its RFC 7638 thumbprint).
#[derive(Clone)]
pub struct SigningKey {
    alg: Algorithm,
    pair: Pair,
    public: Map<String, Value>,
    /// The private JWK as read, for the one negative case that sends it (DPOP-7).
    private: crate::secret::Secret<Map<String, Value>>,
    spki_der: Vec<u8>,
    thumbprint: String,
}

/// The key pair that signs, parsed once (a load test signs a proof per request; building
/// the pair from its encoding each time would cost a third of the signature).
#[derive(Clone)]
enum Pair {
    /// ES256: ECDSA P-256 with SHA-256, the signature as `r || s` (RFC 7518 §3.4).
    Ec(Arc<aws_lc_rs::signature::EcdsaKeyPair>),
    /// EdDSA over Ed25519 (RFC 8037 §3.1).
    Ed(Arc<aws_lc_rs::signature::Ed25519KeyPair>),
    /// RS256 (RSASSA-PKCS1-v1_5) or PS256 (RSASSA-PSS), SHA-256 (RFC 7518 §3.3, §3.5).
    Rsa(
        Arc<aws_lc_rs::signature::RsaKeyPair>,
        &'static aws_lc_rs::signature::RsaSignatureEncoding,
    ),
}

impl Pair {
    /// The JWS signature of `input`, base64url.
    fn sign(&self, input: &[u8]) -> Result<String, String> {
        match self {
            Pair::Ec(p) => p
                .sign(&aws_lc_rs::rand::SystemRandom::new(), input)
                .map(|s| B64.encode(s.as_ref()))
                .map_err(|_| "cannot sign with the P-256 key".to_string()),
            Pair::Ed(p) => Ok(B64.encode(p.sign(input).as_ref())),
            Pair::Rsa(p, encoding) => {
                let mut sig = vec![0; p.public_modulus_len()];
                p.sign(
                    *encoding,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    input,
                    &mut sig,
                )
                .map_err(|_| "cannot sign with the RSA key".to_string())?;
                Ok(B64.encode(sig))
            }
        }
    }
}

/// A private key is shown by its public identity only.
impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

fn member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, KeyError> {
    jwk.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| KeyError(format!("the JWK has no string member `{name}`")))
}

fn bytes(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, KeyError> {
    B64.decode(member(jwk, name)?).map_err(|_| {
        KeyError(format!(
            "the JWK's `{name}` is not base64url without padding"
        ))
    })
}

/// An RSA private JWK (RFC 7518 §6.3.2) as a key pair: every member of a two-prime key
/// (`oth`, more primes, is refused), the algorithm its `alg` names (RS256 when none).
fn rsa_pair(jwk: &Map<String, Value>) -> Result<(Algorithm, Pair, Vec<u8>), KeyError> {
    use aws_lc_rs::rsa::{KeyPairComponents, PublicKeyComponents};
    use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256};
    if jwk.contains_key("oth") {
        return Err(KeyError(
            "the RSA JWK has `oth`: keys of more than two primes are not read".into(),
        ));
    }
    let (alg, encoding) = match jwk.get("alg").and_then(Value::as_str) {
        None | Some("RS256") => (Algorithm::RS256, &RSA_PKCS1_SHA256),
        Some("PS256") => (Algorithm::PS256, &RSA_PSS_SHA256),
        Some(other) => {
            return Err(KeyError(format!(
                "the RSA JWK says `alg: {other}`; the harness signs RS256 or PS256"
            )))
        }
    };
    let [n, e, d, p, q, dp, dq, qi] =
        ["n", "e", "d", "p", "q", "dp", "dq", "qi"].map(|m| bytes(jwk, m));
    let components = KeyPairComponents {
        public_key: PublicKeyComponents { n: n?, e: e? },
        d: d?,
        p: p?,
        q: q?,
        dP: dp?,
        dQ: dq?,
        qInv: qi?,
    };
    let pair = RsaKeyPair::from_components(&components).map_err(|_| {
        KeyError(
            "`n`, `e`, `d`, `p`, `q`, `dp`, `dq` and `qi` are not one RSA key pair of 2048 to 8192 bits"
                .into(),
        )
    })?;
    let spki = pair
        .public_key()
        .as_der()
        .map_err(|_| KeyError("the RSA public key cannot be encoded".into()))?;
    let spki = spki.as_ref().to_vec();
    Ok((alg, Pair::Rsa(Arc::new(pair), encoding), spki))
}

impl SigningKey {
    /// Reads a private JWK (RFC 7517): EC P-256 (ES256), OKP Ed25519 (EdDSA), or RSA of
    /// 2048 to 8192 bits with its CRT members (RS256, or PS256 where the JWK's `alg` says
    /// so). Symmetric and public-only keys are refused with the reason.
    pub fn from_jwk(text: &str) -> Result<SigningKey, KeyError> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            KeyError(format!(
                "not a JSON object (a JWK): not JSON at line {} column {}",
                e.line(),
                e.column()
            ))
        })?;
        let Value::Object(jwk) = value else {
            return Err(KeyError("not a JSON object (a JWK)".into()));
        };
        let kty = member(&jwk, "kty")?;
        if kty == "oct" {
            return Err(KeyError(
                "`kty: oct` is a symmetric key; a private EC, OKP or RSA key is needed".into(),
            ));
        }
        if !jwk.contains_key("d") {
            return Err(KeyError(
                "the JWK has no `d`: it is a public key, and signing needs the private one".into(),
            ));
        }
        let (alg, pair, spki_der) = match (kty, jwk.get("crv").and_then(Value::as_str)) {
            ("EC", Some("P-256")) => {
                let (x, y, d) = (bytes(&jwk, "x")?, bytes(&jwk, "y")?, bytes(&jwk, "d")?);
                if x.len() != 32 || y.len() != 32 || d.len() != 32 {
                    return Err(KeyError("a P-256 JWK's `x`, `y` and `d` are 32 bytes each".into()));
                }
                let point = [&[4u8][..], &x, &y].concat();
                let pair = aws_lc_rs::signature::EcdsaKeyPair::from_private_key_and_public_key(
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &d,
                    &point,
                )
                .map_err(|_| KeyError("`x`, `y` and `d` are not one P-256 key pair".into()))?;
                let spki = pair
                    .public_key()
                    .as_der()
                    .map_err(|_| KeyError("the P-256 public key cannot be encoded".into()))?;
                let spki = spki.as_ref().to_vec();
                (Algorithm::ES256, Pair::Ec(Arc::new(pair)), spki)
            }
            ("OKP", Some("Ed25519")) => {
                let (x, d) = (bytes(&jwk, "x")?, bytes(&jwk, "d")?);
                let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_and_public_key(&d, &x)
                    .map_err(|_| KeyError("`x` and `d` are not one Ed25519 key pair".into()))?;
                let spki = pair
                    .public_key()
                    .as_der()
                    .map_err(|_| KeyError("the Ed25519 public key cannot be encoded".into()))?;
                let spki = spki.as_ref().to_vec();
                (Algorithm::EdDSA, Pair::Ed(Arc::new(pair)), spki)
            }
            ("RSA", _) => rsa_pair(&jwk)?,
            (kty, crv) => {
                return Err(KeyError(format!(
                    "`kty: {kty}`{}: the harness signs with EC P-256 (ES256), OKP Ed25519 (EdDSA) or RSA (RS256, PS256) keys",
                    crv.map(|c| format!(", `crv: {c}`")).unwrap_or_default()
                )))
            }
        };
        if let Some(declared) = jwk.get("alg").and_then(Value::as_str) {
            if declared != alg_name(alg) {
                return Err(KeyError(format!(
                    "the JWK says `alg: {declared}`, but its key signs {}",
                    alg_name(alg)
                )));
            }
        }
        let private = crate::secret::Secret::new(jwk.clone());
        let mut public: Map<String, Value> = jwk
            .into_iter()
            .filter(|(k, _)| !PRIVATE_MEMBERS.contains(&k.as_str()))
            .collect();
        let thumbprint = thumbprint(&Value::Object(public.clone()))
            .ok_or_else(|| KeyError("the public key has no RFC 7638 thumbprint".into()))?;
        public
            .entry("kid")
            .or_insert_with(|| Value::String(thumbprint.clone()));
        public
            .entry("alg")
            .or_insert_with(|| Value::String(alg_name(alg).into()));
        Ok(SigningKey {
            alg,
            pair,
            public,
            private,
            spki_der,
            thumbprint,
        })
    }

    /// The JWS algorithm the key signs with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public JWK (with `kid` and `alg`).
    pub fn public_jwk(&self) -> &Map<String, Value> {
        &self.public
    }

    /// The private JWK as it was read: only a negative case sends it, inside a proof
    /// that is redacted whole (DPOP-7: "The jwk JOSE Header Parameter does not contain a
    /// private key").
    pub fn private_jwk(&self) -> &Map<String, Value> {
        self.private.expose()
    }

    /// `{"keys": [public JWK]}`: what a client registers as `jwks` (RFC 7591 §2).
    pub fn public_jwks(&self) -> Value {
        serde_json::json!({ "keys": [self.public] })
    }

    /// The public key as PEM (SubjectPublicKeyInfo): the bytes an algorithm-confusion
    /// attack keys an HMAC with (JWTAUTH-13).
    pub fn public_pem(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.spki_der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    /// The RFC 7638 SHA-256 thumbprint of the public key, base64url.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }
}

/// The name of a JWS algorithm as JOSE headers spell it.
pub fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        // A variant added by a later jsonwebtoken: its Debug form is its JOSE name.
        _ => "unknown",
    }
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK, base64url; `None` for a JWK that is
/// not one of the key types RFC 7638 and RFC 8037 define members for.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let parsed: Jwk = serde_json::from_value(jwk.clone()).ok()?;
    parsed.thumbprint(ThumbprintHash::SHA256).ok()
}

/// A JSON value written with every object's members sorted by name, whatever order
/// serde_json keeps: the one text of a JWK that both sides of an algorithm-confusion test
/// key their HMAC with (JWTAUTH-13).
pub fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut names: Vec<&String> = m.keys().collect();
            names.sort();
            let members: Vec<String> = names
                .into_iter()
                .map(|k| format!("{}:{}", Value::from(k.as_str()), canonical_json(&m[k])))
                .collect();
            format!("{{{}}}", members.join(","))
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// What signs a JWS: a private key, an HMAC secret (any bytes, public ones included), or
/// nothing (`alg: none`, an empty signature: RFC 7519 §6.1).
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    /// The key's own algorithm.
    Key(&'a SigningKey),
    /// HS256 over these bytes.
    Hmac(&'a [u8]),
    /// No signature.
    Unsigned,
}

impl Signer<'_> {
    /// The `alg` header this signer writes.
    pub fn alg(&self) -> &'static str {
        match self {
            Signer::Key(k) => alg_name(k.alg),
            Signer::Hmac(_) => "HS256",
            Signer::Unsigned => "none",
        }
    }
}

/// A JWS in compact serialization: `header` (its `alg` set by `signer` unless the header
/// names one: a negative case may lie) and `claims`, signed.
pub fn compact(
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
    signer: Signer,
) -> Result<String, String> {
    let mut header = header.clone();
    header
        .entry("alg")
        .or_insert_with(|| Value::String(signer.alg().into()));
    if let Signer::Key(k) = signer {
        if let Some(kid) = k.public.get("kid") {
            header.entry("kid").or_insert_with(|| kid.clone());
        }
    }
    let encode = |m: &Map<String, Value>| B64.encode(Value::Object(m.clone()).to_string());
    let input = format!("{}.{}", encode(&header), encode(claims));
    let signature = match signer {
        Signer::Key(k) => k.pair.sign(input.as_bytes())?,
        Signer::Hmac(secret) => {
            let key = EncodingKey::from_secret(secret).map_err(|e| format!("HMAC key: {e}"))?;
            jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256)
                .map_err(|e| format!("cannot sign: {e}"))?
        }
        Signer::Unsigned => String::new(),
    };
    Ok(format!("{input}.{signature}"))
}

/// A JWS in compact serialization, taken apart and not yet verified.
#[derive(Debug)]
pub struct Compact<'a> {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The claims.
    pub claims: Map<String, Value>,
    signing_input: &'a str,
    signature: &'a str,
}

/// Why a text is not one JWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// Not three dot-separated parts (RFC 7515 §7.1; RFC 7523 §2.2: "MUST NOT contain
    /// more than one JWT").
    #[error("a JWT has exactly three base64url parts")]
    Parts,
    /// A part is not base64url of a JSON object.
    #[error("a JWT's header and claims are base64url JSON objects")]
    Encoding,
}

/// Takes a compact JWS apart.
pub fn parse(jwt: &str) -> Result<Compact<'_>, Malformed> {
    let mut parts = jwt.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Malformed::Parts);
    };
    let object = |part: &str| -> Result<Map<String, Value>, Malformed> {
        let raw = B64.decode(part).map_err(|_| Malformed::Encoding)?;
        match serde_json::from_slice(&raw) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(Malformed::Encoding),
        }
    };
    Ok(Compact {
        header: object(h)?,
        claims: object(c)?,
        signing_input: &jwt[..h.len() + 1 + c.len()],
        signature: s,
    })
}

impl Compact<'_> {
    /// The header's `alg`.
    pub fn alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }

    /// Whether the signature is empty (`alg: none`).
    pub fn unsigned(&self) -> bool {
        self.signature.is_empty()
    }

    fn algorithm(&self) -> Option<Algorithm> {
        self.alg()?.parse().ok()
    }

    /// Whether the signature verifies with the public JWK `jwk` under the header's
    /// asymmetric `alg`. An HMAC `alg` never verifies here: a public key is no secret.
    pub fn verify_jwk(&self, jwk: &Value) -> bool {
        let Some(alg) = self.algorithm() else {
            return false;
        };
        if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return false;
        }
        let Ok(parsed) = serde_json::from_value::<Jwk>(jwk.clone()) else {
            return false;
        };
        let Ok(key) = DecodingKey::from_jwk(&parsed) else {
            return false;
        };
        jsonwebtoken::crypto::verify(self.signature, self.signing_input.as_bytes(), &key, alg)
            .unwrap_or(false)
    }

    /// Whether the signature is an HMAC (HS256/384/512, as the header says) with `secret`.
    pub fn verify_hmac(&self, secret: &[u8]) -> bool {
        let Some(alg) = self.algorithm() else {
            return false;
        };
        if !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return false;
        }
        let Ok(key) = DecodingKey::from_secret(secret) else {
            return false;
        };
        jsonwebtoken::crypto::verify(self.signature, self.signing_input.as_bytes(), &key, alg)
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const K: &str = include_str!("../fixtures/keys/K.jwk");
    const K2: &str = include_str!("../fixtures/keys/K2.jwk");

    fn claims() -> Map<String, Value> {
        json!({"iss": "pkj", "sub": "pkj", "aud": "https://as.example"})
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn a_signed_assertion_verifies_with_its_public_key_only() {
        let k = SigningKey::from_jwk(K).expect("K");
        let k2 = SigningKey::from_jwk(K2).expect("K2");
        let jwt = compact(&Map::new(), &claims(), Signer::Key(&k)).expect("signed");
        let parsed = parse(&jwt).expect("three parts");
        assert_eq!(parsed.alg(), Some("ES256"));
        assert_eq!(parsed.header["kid"], k.public_jwk()["kid"]);
        assert!(parsed.verify_jwk(&Value::Object(k.public_jwk().clone())));
        assert!(!parsed.verify_jwk(&Value::Object(k2.public_jwk().clone())));
        // One payload byte changed: the signature no longer holds.
        let mut tampered = jwt.clone().into_bytes();
        let at = jwt.find('.').unwrap_or(0) + 3;
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap_or_default();
        if let Ok(p) = parse(&tampered) {
            assert!(!p.verify_jwk(&Value::Object(k.public_jwk().clone())));
        }
    }

    #[test]
    fn hmac_and_unsigned_tokens_never_verify_as_asymmetric_ones() {
        let k = SigningKey::from_jwk(K).expect("K");
        let public = Value::Object(k.public_jwk().clone());
        let pem = k.public_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        let hs = compact(&Map::new(), &claims(), Signer::Hmac(pem.as_bytes())).expect("hs");
        let p = parse(&hs).expect("hs parts");
        assert_eq!(p.alg(), Some("HS256"));
        assert!(
            !p.verify_jwk(&public),
            "HMAC keyed with the PEM is not a signature by K"
        );
        assert!(p.verify_hmac(pem.as_bytes()));
        let none = compact(&Map::new(), &claims(), Signer::Unsigned).expect("none");
        let p = parse(&none).expect("none parts");
        assert!(p.unsigned() && p.alg() == Some("none"));
        assert!(!p.verify_jwk(&public) && !p.verify_hmac(b""));
    }

    #[test]
    fn only_one_compact_jws_parses() {
        let k = SigningKey::from_jwk(K).expect("K");
        let jwt = compact(&Map::new(), &claims(), Signer::Key(&k)).expect("signed");
        assert_eq!(parse("abc").err(), Some(Malformed::Parts));
        assert_eq!(parse(&format!("{jwt}.{jwt}")).err(), Some(Malformed::Parts));
        assert_eq!(parse("a.b.c").err(), Some(Malformed::Encoding));
    }

    #[test]
    fn keys_that_cannot_sign_are_refused_without_quoting_them() {
        let k: Value = serde_json::from_str(K).expect("json");
        let d = k["d"].as_str().unwrap_or_default().to_string();
        let mut public = k.clone();
        public.as_object_mut().map(|m| m.remove("d"));
        let mut wrong_d = k.clone();
        wrong_d["d"] = json!(B64.encode([7u8; 32]));
        let mut bad_b64 = k.clone();
        bad_b64["d"] = json!(format!("{d}!"));
        let cases = [
            ("not json".to_string(), "not a JSON object"),
            ("[1]".to_string(), "not a JSON object"),
            (public.to_string(), "no `d`"),
            (json!({"kty": "oct", "k": d}).to_string(), "symmetric"),
            (
                json!({"kty": "RSA", "n": "x", "e": "AQAB", "d": d}).to_string(),
                "`n` is not base64url",
            ),
            (
                json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "d": d}).to_string(),
                "no string member `p`",
            ),
            (wrong_d.to_string(), "not one P-256 key pair"),
            (bad_b64.to_string(), "`d` is not base64url"),
            (
                json!({"kty": "EC", "crv": "P-384", "d": d}).to_string(),
                "crv: P-384",
            ),
        ];
        for (text, want) in cases {
            let e = SigningKey::from_jwk(&text).expect_err(want).to_string();
            assert!(e.contains(want), "{e} should say {want}");
            assert!(!e.contains(&d), "{e} quotes the key");
        }
        let shown = format!("{:?}", SigningKey::from_jwk(K).expect("K"));
        assert!(
            !shown.contains(&d) && shown.contains("thumbprint"),
            "{shown}"
        );
    }

    /// A test RSA key of 2048 bits (`fixtures/keys/R.jwk`).
    const R: &str = include_str!("../fixtures/keys/R.jwk");

    #[test]
    fn an_rsa_key_signs_rs256_or_ps256_as_its_alg_says_and_a_broken_one_is_refused() {
        let r: Value = serde_json::from_str(R).expect("json");
        for (alg, want) in [(None, Algorithm::RS256), (Some("PS256"), Algorithm::PS256)] {
            let mut jwk = r.clone();
            if let Some(a) = alg {
                jwk["alg"] = json!(a);
            }
            let key = SigningKey::from_jwk(&jwk.to_string()).expect("an RSA key");
            assert_eq!(key.alg(), want);
            let jws = compact(
                &Map::from_iter([("alg".to_string(), json!(alg_name(want)))]),
                &claims(),
                Signer::Key(&key),
            )
            .expect("signed");
            let public = Value::Object(key.public_jwk().clone());
            assert!(
                !holds_private_key(&public),
                "the public JWK has no private member"
            );
            assert!(parse(&jws).expect("jws").verify_jwk(&public), "{alg:?}");
        }
        let d = r["d"].as_str().expect("d").to_string();
        let mut broken = r.clone();
        broken["qi"] = r["dp"].clone();
        let mut es = r.clone();
        es["alg"] = json!("ES256");
        for (jwk, want) in [(broken, "not one RSA key pair"), (es, "`alg: ES256`")] {
            let e = SigningKey::from_jwk(&jwk.to_string())
                .expect_err(want)
                .to_string();
            assert!(e.contains(want) && !e.contains(&d), "{e}");
        }
    }

    #[test]
    fn the_thumbprint_is_rfc_7638s() {
        // RFC 7638 §3.1's example key and thumbprint.
        let rsa = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(&rsa).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
        let k = SigningKey::from_jwk(K).expect("K");
        assert_eq!(k.public_jwk()["kid"], json!(k.thumbprint()));
    }
}
