//! Access tokens that carry their own state: what client_credentials issues. A saturating
//! client_credentials load issues tens of thousands of tokens a second, each valid for an
//! hour; a table of them would grow by gigabytes (issue #19). A sealed token holds its
//! expiry, client and scope, with an HMAC-SHA256 under a key drawn when the server starts,
//! so the store keeps nothing per token: only the revoked ones, until they expire.
//!
//! Layout of the 32 bytes (43 base64url characters, like every other token):
//! expiry in server milliseconds (6 bytes), the client's number in the store (2), the
//! scope bits (4), the number of the DPoP key it is bound to (2; 0: none, RFC 9449 §6),
//! a serial (2), and the first 16 bytes of the MAC over those 16. A guess succeeds with
//! probability 2^-128 (TOK-32); two tokens never coincide (the serial: 65,536 tokens of
//! one client, scope and key would have to expire in the same millisecond).

use super::records::Token;
use crate::clock::Timestamp;
use crate::server::config::ScopeSet;
use ring::hmac;
use subtle::ConstantTimeEq;

/// Bytes covered by the MAC.
const BODY: usize = 16;
/// Bytes of the MAC kept.
const TAG: usize = 16;

/// What a sealed token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sealed {
    /// When it expires, on the server's clock.
    pub expires_at: Timestamp,
    /// Its client's number in the store.
    pub client: u16,
    /// Its scope.
    pub scope: ScopeSet,
    /// The number of the DPoP key it is bound to (from 1), or 0.
    pub jkt: u16,
}

/// Seals and opens tokens under one server's key.
pub(super) struct Sealer {
    key: hmac::Key,
}

/// The key is a secret: not shown.
impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer with a fresh random key.
    pub(super) fn new() -> Self {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
        Sealer {
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
        }
    }

    /// The token that says `s`, told apart from others like it by `serial`.
    pub(super) fn seal(&self, s: Sealed, serial: u32) -> Token {
        let mut raw = [0u8; BODY + TAG];
        raw[..6].copy_from_slice(&s.expires_at.as_millis().to_be_bytes()[2..]);
        raw[6..8].copy_from_slice(&s.client.to_be_bytes());
        raw[8..12].copy_from_slice(&s.scope.bits().to_be_bytes());
        raw[12..14].copy_from_slice(&s.jkt.to_be_bytes());
        raw[14..16].copy_from_slice(&serial.to_be_bytes()[2..]);
        let tag = hmac::sign(&self.key, &raw[..BODY]);
        raw[BODY..].copy_from_slice(&tag.as_ref()[..TAG]);
        Token::from_raw(&raw)
    }

    /// What `text` says, if this server sealed it.
    pub(super) fn open(&self, text: &str) -> Option<Sealed> {
        let raw = Token::raw_of(text)?;
        let tag = hmac::sign(&self.key, &raw[..BODY]);
        if !bool::from(tag.as_ref()[..TAG].ct_eq(&raw[BODY..])) {
            return None;
        }
        let mut ms = [0u8; 8];
        ms[2..].copy_from_slice(&raw[..6]);
        Some(Sealed {
            expires_at: Timestamp::from_millis(u64::from_be_bytes(ms)),
            client: u16::from_be_bytes([raw[6], raw[7]]),
            scope: ScopeSet::from_bits(u32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]])),
            jkt: u16::from_be_bytes([raw[12], raw[13]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::time::Duration;

    fn sample() -> Sealed {
        Sealed {
            expires_at: Timestamp::default().plus(Duration::from_secs(3600)),
            client: 3,
            scope: ScopeSet::from_bits(0b101),
            jkt: 2,
        }
    }

    #[test]
    fn a_sealed_token_opens_to_what_it_says_and_only_under_its_key() {
        let sealer = Sealer::new();
        let t = sealer.seal(sample(), 7);
        assert_eq!(t.as_str().len(), 43);
        assert_eq!(sealer.open(t.as_str()), Some(sample()));
        assert_eq!(Sealer::new().open(t.as_str()), None, "another server's key");
    }

    #[test]
    fn a_changed_character_or_a_random_token_does_not_open() {
        let sealer = Sealer::new();
        let t = sealer.seal(sample(), 1);
        for i in 0..t.as_str().len() {
            let mut bytes = t.as_str().as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).expect("ASCII");
            if changed != t.as_str() {
                assert_eq!(sealer.open(&changed), None, "character {i} changed");
            }
        }
        for _ in 0..1000 {
            assert_eq!(sealer.open(Token::random().as_str()), None);
        }
        assert_eq!(sealer.open("short"), None);
        assert_eq!(sealer.open(&"é".repeat(22)), None);
    }

    #[test]
    fn serials_keep_equal_tokens_apart() {
        let sealer = Sealer::new();
        let all: HashSet<String> = (0..10_000)
            .map(|n| sealer.seal(sample(), n).as_str().to_string())
            .collect();
        assert_eq!(all.len(), 10_000);
    }
}
