//! The private keys the harness signs client assertions with (conformance matrix §17a):
//! `K`, the key registered for a role (a target profile's `key_file` / `key_env`, else
//! the fixture `fixtures/keys/K.jwk` that the builtin registers), `K2`, which no
//! client registered, and `J`, `J2`, the ES256 keys DPoP proofs are signed with (RFC 9449:
//! a client's own key pair, registered nowhere). A key is read once, when the target is prepared; its private
//! members never appear in any output (`SigningKey` shows only its thumbprint).

use crate::jose::{KeyError, SigningKey};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

/// A private key the harness holds (conformance matrix §17a), as scenarios name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
pub enum KeyName {
    /// The key registered for the role (`pkj`): the profile's, else `fixtures/keys/K.jwk`.
    K,
    /// A key no client registered (`fixtures/keys/K2.jwk`).
    K2,
    /// The DPoP key (`fixtures/keys/J.jwk`): proofs are signed with it unless a scenario
    /// names another.
    J,
    /// A second DPoP key (`fixtures/keys/J2.jwk`): a key a token is not bound to.
    J2,
}

impl KeyName {
    /// The key called `name` (`K`, `K2`, `J`, `J2`).
    pub fn from_name(name: &str) -> Option<KeyName> {
        match name {
            "K" => Some(KeyName::K),
            "K2" => Some(KeyName::K2),
            "J" => Some(KeyName::J),
            "J2" => Some(KeyName::J2),
            _ => None,
        }
    }
}

/// The fixture key `K`: what the builtin registers for `pkj`, and what a role that names
/// no key of its own signs with (the target must then have registered its public half).
pub const FIXTURE_K: &str = include_str!("../fixtures/keys/K.jwk");
/// The fixture key `K2`: registered by nobody.
pub const FIXTURE_K2: &str = include_str!("../fixtures/keys/K2.jwk");
/// The fixture DPoP key `J`.
pub const FIXTURE_J: &str = include_str!("../fixtures/keys/J.jwk");
/// The fixture DPoP key `J2`.
pub const FIXTURE_J2: &str = include_str!("../fixtures/keys/J2.jwk");

fn fixture(text: &'static str) -> Result<Arc<SigningKey>, KeyError> {
    SigningKey::from_jwk(text).map(Arc::new)
}

static K: LazyLock<Result<Arc<SigningKey>, KeyError>> = LazyLock::new(|| fixture(FIXTURE_K));
static K2: LazyLock<Result<Arc<SigningKey>, KeyError>> = LazyLock::new(|| fixture(FIXTURE_K2));
static J: LazyLock<Result<Arc<SigningKey>, KeyError>> = LazyLock::new(|| fixture(FIXTURE_J));
static J2: LazyLock<Result<Arc<SigningKey>, KeyError>> = LazyLock::new(|| fixture(FIXTURE_J2));

/// The fixture key `name`.
pub fn fixture_key(name: KeyName) -> Result<Arc<SigningKey>, KeyError> {
    match name {
        KeyName::K => K.clone(),
        KeyName::K2 => K2.clone(),
        KeyName::J => J.clone(),
        KeyName::J2 => J2.clone(),
    }
}

/// Where [`Keys`] keeps a profile's own DPoP key (`dpop_key_file` / `dpop_key_env`),
/// which stands for `J`: no client role has this name.
pub const DPOP_ROLE: &str = "(dpop)";

/// The keys of a target's roles.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    by_role: HashMap<String, Arc<SigningKey>>,
}

impl Keys {
    /// Gives `role` its own key `K` (or, under the name [`DPOP_ROLE`], the DPoP key `J`).
    pub fn insert(&mut self, role: &str, key: Arc<SigningKey>) {
        self.by_role.insert(role.to_string(), key);
    }

    /// The key `name` as `role` holds it: `K` is the role's own key (else the fixture's),
    /// `J` the profile's DPoP key (else the fixture's), `K2` and `J2` the fixture keys.
    pub fn get(&self, name: KeyName, role: Option<&str>) -> Result<Arc<SigningKey>, KeyError> {
        match (name, role.and_then(|r| self.by_role.get(r))) {
            (KeyName::K, Some(k)) => Ok(k.clone()),
            (KeyName::J, _) => match self.by_role.get(DPOP_ROLE) {
                Some(j) => Ok(j.clone()),
                None => fixture_key(name),
            },
            _ => fixture_key(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_keys_read_and_differ() {
        let k = fixture_key(KeyName::K).expect("K");
        let k2 = fixture_key(KeyName::K2).expect("K2");
        assert_ne!(k.thumbprint(), k2.thumbprint());
        let mut keys = Keys::default();
        assert_eq!(
            keys.get(KeyName::K, Some("pkj")).expect("K").thumbprint(),
            k.thumbprint()
        );
        keys.insert(
            "pkj",
            Arc::new(SigningKey::from_jwk(FIXTURE_K2).expect("K2")),
        );
        assert_eq!(
            keys.get(KeyName::K, Some("pkj")).expect("own").thumbprint(),
            k2.thumbprint()
        );
        assert_eq!(
            keys.get(KeyName::K, Some("other")).expect("K").thumbprint(),
            k.thumbprint()
        );
    }
}
