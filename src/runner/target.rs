//! Targets: where scenarios run.
//!
//! - `builtin` starts a fresh reference server in-process for every scenario (127.0.0.1:0,
//!   test mode, a frozen clock), so scenarios run concurrently with isolated state and move
//!   time freely. It provides every client role, resource and lifetime from its fixture.
//! - A profile (`--target FILE.yaml`, [`Profile`]) points at a live server. It is made
//!   ready once per run ([`Target::prepare`]: metadata discovered, roles registered when
//!   the profile says `clients: register`); the user's part (approval, consent, app
//!   revocation) and a test clock go through its hooks, and waits take real time unless
//!   a clock hook exists.
//!
//! A [`Session`] is the same for both; what differs (acting as the user, moving time) is a
//! [`Backend`]: [`builtin`](super::builtin) or [`live`](super::live).

use crate::contract::Contract;
use crate::runner::error::TargetError;
use crate::runner::jwks_host::{self, JwksHost};
use crate::runner::live::Live;
use crate::runner::profile::Profile;
use crate::scenario::model::Capability;
use crate::server::config::{JwtAudPolicy, ServerConfig};
use crate::server::faults::FaultSet;
use std::sync::Arc;

pub use crate::runner::session::Person;
pub(crate) use crate::runner::session::Session;

/// What to run against.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// The reference server, with these fault switches on.
    Builtin {
        /// Faults.
        faults: FaultSet,
    },
    /// A live server described by a profile.
    Live(Arc<Profile>),
}

impl TargetSpec {
    /// A one-line description for reports.
    pub(crate) fn describe(&self) -> String {
        match self {
            TargetSpec::Builtin { faults } if faults.is_empty() => "builtin".into(),
            TargetSpec::Builtin { faults } => {
                let names: Vec<String> = faults
                    .iter()
                    .map(|f| format!("--fault {}", f.name()))
                    .collect();
                format!("builtin {}", names.join(" "))
            }
            TargetSpec::Live(p) => format!("profile {}", p.name),
        }
    }
}

/// The person a `manual` hook needs: told what to do, and asked for what the browser
/// showed. The command line's is the terminal (stderr, stdin); the library's default is
/// nobody, so a manual hook fails with a clear error instead of the library printing.
/// A target made ready for a run.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    inner: Inner,
    person: Person,
    contract: Contract,
}

#[derive(Debug, Clone)]
enum Inner {
    /// The fault switches, and where the harness publishes `pkj-uri`'s keys.
    Builtin(FaultSet, Arc<JwksHost>),
    Live(Arc<Live>),
}

/// The builtin's key host: the fixture key K's public half, for its `pkj-uri` client.
async fn builtin_jwks_host() -> Result<Arc<JwksHost>, TargetError> {
    let k = crate::keys::fixture_key(crate::keys::KeyName::K)
        .map_err(|e| TargetError::Setup(format!("the fixture key K: {e}")))?;
    let sets = std::collections::HashMap::from([(jwks_host::ROLE.to_string(), k.public_jwks())]);
    JwksHost::start("127.0.0.1:0", None, sets)
        .await
        .map(Arc::new)
        .map_err(TargetError::Setup)
}

impl Target {
    /// Makes `spec` ready: for a live target, reads the profile's secrets, discovers its
    /// metadata and registers its roles, once for the whole run.
    /// `contract` is the run's: a live profile is held to it (`--expect` overrides the
    /// profile's own), the builtin follows its policy.
    pub(crate) async fn prepare(
        spec: &TargetSpec,
        contract: Contract,
    ) -> Result<Target, TargetError> {
        let inner = match spec {
            TargetSpec::Builtin { faults } => Inner::Builtin(*faults, builtin_jwks_host().await?),
            TargetSpec::Live(p) if p.contract == contract => {
                Inner::Live(Arc::new(Live::prepare(p).await?))
            }
            TargetSpec::Live(p) => {
                let held = Arc::new(Profile {
                    contract,
                    ..(**p).clone()
                });
                Inner::Live(Arc::new(Live::prepare(&held).await?))
            }
        };
        Ok(Target {
            inner,
            person: Person::nobody(),
            contract,
        })
    }

    /// How races run on this target: the builtin's defaults, or a live profile's `race`.
    pub(crate) fn race_settings(&self) -> crate::runner::profile::RaceSettings {
        match &self.inner {
            Inner::Builtin(..) => Default::default(),
            Inner::Live(live) => live.race_settings(),
        }
    }

    /// The person `manual` hooks ask.
    pub(crate) fn with_person(mut self, person: Person) -> Target {
        self.person = person;
        self
    }

    /// A fresh session for one scenario.
    pub async fn session(&self) -> Result<Session, TargetError> {
        self.session_for(&[]).await
    }

    /// A fresh session for a scenario that needs `needs`. The builtin takes, among the
    /// policies the sources leave open, the one the scenario is about: a scenario on the
    /// `issuer-only` audience rules (draft-ietf-oauth-rfc7523bis) gets a server that
    /// follows them, every other one the original rules (matrix §24.2 #1).
    pub async fn session_for(&self, needs: &[Capability]) -> Result<Session, TargetError> {
        match &self.inner {
            Inner::Builtin(faults, keys) => {
                let mut config = ServerConfig::builtin()
                    .with_test_mode(true)
                    .with_faults(*faults);
                // A private_key_jwt client whose keys the server fetches (RFC 7591 §2
                // `jwks_uri`) from where the harness publishes them.
                let role = jwks_host::ROLE;
                config.add_jwks_uri_client(
                    role,
                    &keys.uri(role),
                    "https://pkj-uri.example/callback",
                );
                if self.contract == Contract::Oauth21 {
                    config.policy.follow_oauth21();
                }
                if needs.contains(&Capability::JwtAudIssuerOnly) {
                    config.policy.jwt_aud = JwtAudPolicy::IssuerOnly;
                }
                if needs.contains(&Capability::OidcNonceException) {
                    config.policy.oidc_nonce_exception = true;
                }
                // The reuse window of the scenarios about one (matrix §23): Amazon
                // Cognito's largest, 60 s.
                if needs.contains(&Capability::RtReuseGrace) {
                    config.policy.refresh_token_grace = Some(60);
                }
                // DPoP nonces (RFC 9449 §8, §9) for the scenarios about them.
                {
                    use crate::server::dpop::NoncePolicy;
                    let (as_, rs) = (
                        needs.contains(&Capability::DpopNonceAs),
                        needs.contains(&Capability::DpopNonceRs),
                    );
                    config.policy.dpop_nonce = match (as_, rs) {
                        (true, true) => NoncePolicy::Both,
                        (true, false) => NoncePolicy::As,
                        (false, true) => NoncePolicy::Rs,
                        (false, false) => NoncePolicy::None,
                    };
                }
                Session::start_builtin(config, crate::clock::Clock::frozen()).await
            }
            Inner::Live(live) => live.session(self.person.clone()),
        }
    }

    /// Ends the run: deletes the clients registered for it (RFC 7592), where the server
    /// allows; the notes say what could not be deleted.
    pub async fn finish(&self) -> Vec<String> {
        match &self.inner {
            Inner::Live(live) => live.finish().await,
            Inner::Builtin(..) => Vec::new(),
        }
    }
}

impl Session {
    /// Opens a session on the target (made ready for this session alone), with `person`
    /// for its `manual` hooks.
    pub async fn open(spec: &TargetSpec, person: Person) -> Result<Session, TargetError> {
        let contract = match spec {
            TargetSpec::Live(p) => p.contract,
            TargetSpec::Builtin { .. } => Contract::Noorle,
        };
        Target::prepare(spec, contract)
            .await?
            .with_person(person)
            .session()
            .await
    }

    /// Starts the built-in server with `config` (test mode on) on 127.0.0.1 and opens a
    /// session on it; the session owns the server and stops it on [`Session::close`].
    pub(crate) async fn start_builtin(
        config: ServerConfig,
        clock: crate::clock::Clock,
    ) -> Result<Session, TargetError> {
        crate::runner::builtin::session(config, clock).await
    }
}
