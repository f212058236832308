//! The authorization server's endpoints, defined once: the name scenarios and profiles use,
//! the path the reference server mounts (Noorle's, and the default for a live target that
//! names none), and the RFC 8414 metadata member that advertises it. The router, the
//! metadata document, discovery, the target and the scenario loader all read this.
//!
//! [`Endpoint::all`] is derived (clap's `ValueEnum` lists every variant), and every
//! property is an exhaustive `match`: a new endpoint is named, mounted and advertised, or
//! the build says where it is not.

/// One endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Endpoint {
    /// RFC 6749 §3.2.
    Token,
    /// RFC 8628 §3.1.
    DeviceAuthorization,
    /// RFC 6749 §3.1.
    Authorization,
    /// RFC 7009 §2.
    Revocation,
    /// RFC 7662 §2.
    Introspection,
    /// RFC 7591 §3.
    Registration,
    /// RFC 8414 §3.
    Metadata,
    /// RFC 8628 §3.3: where the user enters the code.
    Verification,
    /// RFC 9126 §2: pushed authorization requests.
    PushedAuthorization,
}

impl Endpoint {
    /// Every endpoint, in declaration order (the derive lists them all).
    pub(crate) fn all() -> &'static [Endpoint] {
        <Endpoint as clap::ValueEnum>::value_variants()
    }

    /// The name scenarios (`endpoint: token`) and profiles (`endpoints:`) use.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Token => "token",
            Endpoint::DeviceAuthorization => "device_authorization",
            Endpoint::Authorization => "authorization",
            Endpoint::Revocation => "revocation",
            Endpoint::Introspection => "introspection",
            Endpoint::Registration => "registration",
            Endpoint::Metadata => "metadata",
            Endpoint::Verification => "verification",
            Endpoint::PushedAuthorization => "par",
        }
    }

    /// The endpoint a name means.
    pub fn from_name(name: &str) -> Option<Endpoint> {
        Endpoint::all().iter().copied().find(|e| e.name() == name)
    }

    /// The reference server's path (Noorle's documented one).
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Token => "/oauth/token",
            Endpoint::DeviceAuthorization => "/oauth/device/authorize",
            Endpoint::Authorization => "/oauth/authorize",
            Endpoint::Revocation => "/oauth/revoke",
            Endpoint::Introspection => "/oauth/introspect",
            Endpoint::Registration => "/oauth/register",
            Endpoint::Metadata => "/.well-known/oauth-authorization-server",
            Endpoint::Verification => "/oauth/device/verify",
            Endpoint::PushedAuthorization => "/oauth/par",
        }
    }

    /// The RFC 8414 / RFC 8628 metadata member that advertises it, if one does.
    pub(crate) fn metadata_member(self) -> Option<&'static str> {
        match self {
            Endpoint::Token => Some("token_endpoint"),
            Endpoint::DeviceAuthorization => Some("device_authorization_endpoint"),
            Endpoint::Authorization => Some("authorization_endpoint"),
            Endpoint::Revocation => Some("revocation_endpoint"),
            Endpoint::Introspection => Some("introspection_endpoint"),
            Endpoint::Registration => Some("registration_endpoint"),
            Endpoint::PushedAuthorization => Some("pushed_authorization_request_endpoint"),
            Endpoint::Metadata | Endpoint::Verification => None,
        }
    }

    /// Every name, for messages (`token, device_authorization, …`).
    pub fn names() -> Vec<&'static str> {
        Endpoint::all().iter().map(|e| e.name()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_paths_and_members_are_distinct_and_round_trip() {
        assert_eq!(Endpoint::all().len(), 9);
        for &e in Endpoint::all() {
            assert_eq!(Endpoint::from_name(e.name()), Some(e));
        }
        let mut paths: Vec<_> = Endpoint::all().iter().map(|e| e.path()).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), Endpoint::all().len());
        assert_eq!(Endpoint::from_name("tokn"), None);
    }
}
