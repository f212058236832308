//! What the suite needs of a target besides its endpoints: clients in roles, protected
//! resources, and lifetimes. Scenarios name roles (`${client.web.id}`, `auth: {role: web}`,
//! `endpoint: resource:me`, `${lifetime.authorization_code}`), never a server's own ids:
//! the builtin fills every role from its fixture, a profile maps each role to the target's
//! client, and a scenario that needs something the target does not provide is SKIPPED
//! with the reason (never run against a guess).
//!
//! The role names are the conformance matrix's fixture clients (§0, "Fixtures").

use serde_json::{json, Value};

/// A client role: what a scenario needs of the client that plays it.
#[derive(Debug)]
pub struct Role {
    /// The name scenarios use (`web`).
    pub name: &'static str,
    /// What the client must be, for the person who maps it.
    pub needs: &'static str,
    /// RFC 7591 client metadata that registers such a client (`clients: register`), or
    /// `None` when registration cannot make one (a secret the harness must choose).
    pub registration: fn() -> Option<Value>,
    /// Whether its client signs client assertions with a private key (a profile may give
    /// it `key_file` / `key_env`).
    pub signs: bool,
}

/// The fields of a client role a scenario may use: `${client.ROLE.FIELD}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientField {
    /// `id`: the client id.
    Id,
    /// `secret`: its secret (confidential roles).
    Secret,
    /// `redirect_uri`: its first redirect URI.
    RedirectUri,
    /// `redirect_uri_2`: its second.
    RedirectUri2,
}

impl ClientField {
    /// Every field.
    pub fn all() -> &'static [ClientField] {
        <ClientField as clap::ValueEnum>::value_variants()
    }

    /// The redirect URI fields, in order.
    pub const REDIRECTS: [ClientField; 2] = [ClientField::RedirectUri, ClientField::RedirectUri2];

    /// The name scenarios use.
    pub fn name(self) -> &'static str {
        match self {
            ClientField::Id => "id",
            ClientField::Secret => "secret",
            ClientField::RedirectUri => "redirect_uri",
            ClientField::RedirectUri2 => "redirect_uri_2",
        }
    }

    /// The field `name` names.
    pub fn from_name(name: &str) -> Option<ClientField> {
        ClientField::all()
            .iter()
            .copied()
            .find(|f| f.name() == name)
    }

    /// The variable that holds this field of `role` (`client.web.id`): the one place that
    /// spells it.
    pub fn key(self, role: &str) -> String {
        format!("client.{role}.{}", self.name())
    }
}

/// Every client role.
pub(crate) const ROLES: &[Role] = &[
    Role {
        name: "noorle-cli",
        signs: false,
        needs: "a public client that may use the device grant and refresh tokens",
        registration: || {
            Some(json!({
                "client_name": "oauth-harness noorle-cli",
                "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
                "response_types": [],
                "token_endpoint_auth_method": "none",
            }))
        },
    },
    Role {
        name: "tv",
        signs: false,
        needs: "a confidential client (client_secret_basic) that may use the device grant",
        registration: || {
            Some(json!({
                "client_name": "oauth-harness tv",
                "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
                "response_types": [],
                "token_endpoint_auth_method": "client_secret_basic",
            }))
        },
    },
    Role {
        name: "web",
        signs: false,
        needs: "a confidential code client (client_secret_basic, refresh tokens) with one redirect URI",
        registration: || Some(code_client("web", &["https://web.example/callback"], "client_secret_basic")),
    },
    Role {
        name: "web2",
        signs: false,
        needs: "a second confidential code client with its own redirect URI",
        registration: || Some(code_client("web2", &["https://web2.example/callback"], "client_secret_basic")),
    },
    Role {
        name: "parc",
        signs: false,
        needs: "a confidential code client registered with require_pushed_authorization_requests: true (RFC 9126 §6), with one redirect URI",
        registration: || {
            let mut m = code_client("parc", &["https://parc.example/callback"], "client_secret_basic");
            m["require_pushed_authorization_requests"] = json!(true);
            Some(m)
        },
    },
    Role {
        name: "multi",
        signs: false,
        needs: "a confidential code client with two redirect URIs, the second with the query `tenant=7`",
        registration: || {
            Some(code_client(
                "multi",
                &["https://multi.example/cb", "https://multi.example/cb?tenant=7"],
                "client_secret_basic",
            ))
        },
    },
    Role {
        name: "spa",
        signs: false,
        needs: "a public code client (PKCE, refresh tokens) with one redirect URI",
        registration: || Some(code_client("spa", &["https://spa.example/callback"], "none")),
    },
    Role {
        name: "dspa",
        signs: false,
        needs: "a public code client registered with dpop_bound_access_tokens: true (RFC 9449 §5.2: its token requests must carry a DPoP proof), with one redirect URI",
        registration: || {
            let mut m = code_client("dspa", &["https://dspa.example/callback"], "none");
            m["dpop_bound_access_tokens"] = json!(true);
            Some(m)
        },
    },
    Role {
        name: "m2m",
        signs: false,
        needs: "a confidential client_credentials client whose scopes are limited (it may have the `basic` and `second` scopes, not `forbidden`), with a redirect URI it may not use",
        registration: || {
            Some(json!({
                "client_name": "oauth-harness m2m",
                "redirect_uris": ["https://m2m.example/cb"],
                "grant_types": ["client_credentials"],
                "response_types": [],
                "token_endpoint_auth_method": "client_secret_basic",
                "scope": "api read",
            }))
        },
    },
    Role {
        name: "native",
        signs: false,
        needs: "a public code client with the loopback redirect URI http://127.0.0.1/cb",
        // OpenID Connect Dynamic Client Registration §2 `application_type`: a server that
        // knows it (oidc-provider) lets a native client's loopback redirect take any port
        // only then (RFC 8252 §7.3); RFC 7591 §2 has others ignore it.
        registration: || {
            let mut c = code_client("native", &["http://127.0.0.1/cb"], "none");
            c["application_type"] = json!("native");
            Some(c)
        },
    },
    Role {
        name: "pkj",
        signs: true,
        needs: "a confidential client that authenticates with private_key_jwt (RFC 7523), its public key K registered as `jwks` (the profile's `key_file`/`key_env`, else fixtures/keys/K.jwk), grants client_credentials and authorization_code, with one redirect URI",
        registration: || {
            let mut m = code_client("pkj", &["https://pkj.example/callback"], "private_key_jwt");
            m["grant_types"] = json!(["client_credentials", "authorization_code", "refresh_token"]);
            m["jwks"] = crate::keys::fixture_key(crate::keys::KeyName::K)
                .map(|k| k.public_jwks())
                .unwrap_or(Value::Null);
            Some(m)
        },
    },
    Role {
        name: "pkj-uri",
        signs: true,
        needs: "a confidential client that authenticates with private_key_jwt (RFC 7523), registered with the `jwks_uri` where the harness publishes its key K (`{jwks_uri_base}/pkj-uri/jwks.json`: the profile's `jwks_uri_base`), grant client_credentials",
        // Its jwks_uri is the profile's `jwks_uri_base`: registration adds it
        // (`clients::register`), or says why it cannot.
        registration: || {
            let mut m = code_client(
                "pkj-uri",
                &["https://pkj-uri.example/callback"],
                "private_key_jwt",
            );
            m["grant_types"] = json!(["client_credentials", "authorization_code", "refresh_token"]);
            Some(m)
        },
    },
    Role {
        name: "csj",
        signs: false,
        needs: "a confidential client_credentials client that authenticates with client_secret_jwt (RFC 7523: HS256 over its secret)",
        registration: || {
            Some(json!({
                "client_name": "oauth-harness csj",
                "grant_types": ["client_credentials"],
                "response_types": [],
                "token_endpoint_auth_method": "client_secret_jwt",
            }))
        },
    },
    Role {
        name: "odd",
        signs: false,
        needs: "a confidential client_credentials client whose secret is `s:e%c r` (characters that Basic credentials must form-encode)",
        // The secret is the point of the role, and a registering server draws its own.
        registration: || None,
    },
];

fn code_client(name: &str, redirect_uris: &[&str], auth: &str) -> Value {
    json!({
        "client_name": format!("oauth-harness {name}"),
        "redirect_uris": redirect_uris,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": auth,
    })
}

/// The role called `name`.
pub fn role(name: &str) -> Option<&'static Role> {
    ROLES.iter().find(|r| r.name == name)
}

/// A scope the suite asks for by role: `${scope.basic}`. A scope is apart from any
/// resource, so that an authorization server without a protected API of its own still
/// runs every scenario that only asks for a scope (issue #27): only a step that calls a
/// resource (`endpoint: resource:NAME`) needs that resource's URL.
#[derive(Debug)]
pub(crate) struct ScopeRole {
    /// The name scenarios use (`${scope.basic}`).
    pub name: &'static str,
    /// What it must be.
    pub needs: &'static str,
    /// The builtin's scope.
    pub builtin: &'static str,
}

/// Every scope role.
pub(crate) const SCOPES: &[ScopeRole] = &[
    ScopeRole {
        name: "basic",
        needs: "a scope every role may ask for",
        builtin: "api",
    },
    ScopeRole {
        name: "second",
        needs: "a second scope every role may ask for, other than `basic`",
        builtin: "read",
    },
    ScopeRole {
        name: "forbidden",
        needs: "a scope the server knows and the m2m role may not have",
        builtin: "admin",
    },
];

/// The scope role called `name`.
pub(crate) fn scope_role(name: &str) -> Option<&'static ScopeRole> {
    SCOPES.iter().find(|s| s.name == name)
}

/// A protected resource the suite calls: a URL, and the scope role whose scope a token
/// needs there.
#[derive(Debug)]
pub(crate) struct Resource {
    /// The name scenarios use (`endpoint: resource:me`, `${resource.me.url}`).
    pub name: &'static str,
    /// What it must be.
    pub needs: &'static str,
    /// The scope role a token needs for it (`${resource.me.scope}` is `${scope.basic}`).
    pub scope: &'static str,
    /// The builtin's path.
    pub builtin: &'static str,
}

/// The fields of a resource a scenario may use: `${resource.NAME.FIELD}`.
pub(crate) const RESOURCE_FIELDS: &[&str] = &["url", "scope"];

/// Every resource.
pub(crate) const RESOURCES: &[Resource] = &[
    Resource {
        name: "me",
        needs: "a protected resource (RFC 6750) that a token with scope `basic` may call",
        scope: "basic",
        builtin: "/api/me",
    },
    Resource {
        name: "items",
        needs: "a second protected resource that needs scope `second`",
        scope: "second",
        builtin: "/api/items",
    },
    Resource {
        name: "admin",
        needs: "a protected resource that needs scope `forbidden`, which the m2m role may not have",
        scope: "forbidden",
        builtin: "/api/admin",
    },
];

/// The resource called `name`.
pub(crate) fn resource(name: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.name == name)
}

/// Lifetimes a scenario may wait out: `${lifetime.NAME}`, in seconds.
pub(crate) const LIFETIMES: &[(&str, &str)] = &[
    (
        "authorization_code",
        "how long an authorization code can be exchanged",
    ),
    ("access_token", "how long an access token is accepted"),
    (
        "refresh_token_idle",
        "how long an unused refresh token stays valid",
    ),
    (
        "refresh_token_grace",
        "how long a rotated-out refresh token is still accepted (a profile's `rt_reuse: grace:<s>`)",
    ),
];

/// The fields of the user account scenarios sign in as: `${user.username}`,
/// `${user.password}` (the builtin's `alice`; a profile's `user:`).
pub(crate) const USER_FIELDS: &[&str] = &["username", "password"];

/// What a target must provide for one `${…}` reference, or `None` when the reference is
/// not to the target (a scenario variable, `env.`, a helper).
pub(crate) fn provided_name(expr: &str) -> Option<&str> {
    [
        "client.",
        "resource.",
        "scope.",
        "lifetime.",
        "secret.",
        "user.",
    ]
    .iter()
    .any(|p| expr.starts_with(p))
    .then_some(expr)
}

/// Why a reference to the target is malformed, if it is (`client.wbe.id`).
pub(crate) fn check_reference(expr: &str) -> Result<(), String> {
    let parts: Vec<&str> = expr.split('.').collect();
    match parts.as_slice() {
        ["client", role_name, field] => {
            if role(role_name).is_none() {
                return Err(format!(
                    "unknown client role `{role_name}` (roles: {})",
                    ROLES.iter().map(|r| r.name).collect::<Vec<_>>().join(", ")
                ));
            }
            if ClientField::from_name(field).is_none() {
                let fields: Vec<&str> = ClientField::all().iter().map(|f| f.name()).collect();
                return Err(format!(
                    "`client.{role_name}.{field}`: a client role has {}",
                    fields.join(", ")
                ));
            }
            Ok(())
        }
        ["resource", name, field] if RESOURCE_FIELDS.contains(field) => match resource(name) {
            Some(_) => Ok(()),
            None => Err(format!(
                "unknown resource `{name}` (resources: {})",
                RESOURCES
                    .iter()
                    .map(|r| r.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        },
        ["resource", ..] => Err(format!(
            "`{expr}`: a resource is named as `resource.NAME.{}`",
            RESOURCE_FIELDS.join("|")
        )),
        ["scope", name] if scope_role(name).is_some() => Ok(()),
        ["scope", ..] => Err(format!(
            "`{expr}`: scope roles are {}",
            SCOPES
                .iter()
                .map(|s| format!("scope.{}", s.name))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        ["lifetime", kind] if LIFETIMES.iter().any(|(k, _)| k == kind) => Ok(()),
        ["lifetime", ..] => Err(format!(
            "`{expr}`: lifetimes are {}",
            LIFETIMES
                .iter()
                .map(|(k, _)| format!("lifetime.{k}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        ["client", ..] => Err(format!(
            "`{expr}`: a client role is named as `client.ROLE.FIELD`"
        )),
        ["user", field] if USER_FIELDS.contains(field) => Ok(()),
        ["user", ..] => Err(format!(
            "`{expr}`: the user account has {}",
            USER_FIELDS
                .iter()
                .map(|f| format!("user.{f}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => Ok(()),
    }
}

/// Why a target lacks `name` (a reference such as `client.web.secret`), in words for a
/// SKIPPED scenario.
pub(crate) fn missing_reason(name: &str) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        ["client", r, "secret"] => format!("the target supplies no secret for client role `{r}`"),
        ["client", r, field] if field.starts_with("redirect_uri") => {
            format!("the target's client for role `{r}` has no {field}")
        }
        ["client", r, _] => format!(
            "the target maps no client to role `{r}` ({})",
            role(r).map(|x| x.needs).unwrap_or("a client")
        ),
        ["resource", r, "scope"] => format!(
            "the target names no scope for resource `{r}` (`scopes: {{{}: …}}` in its profile)",
            resource(r).map(|x| x.scope).unwrap_or("ROLE")
        ),
        ["resource", r, _] => format!(
            "the target maps no protected resource `{r}` ({}; `resources: {{{r}: {{url: …}}}}` in its profile)",
            resource(r)
                .map(|x| x.needs)
                .unwrap_or("a resource URL")
        ),
        ["scope", s] => format!(
            "the target names no `{s}` scope ({}; `scopes: {{{s}: …}}` in its profile)",
            scope_role(s).map(|x| x.needs).unwrap_or("a scope")
        ),
        ["lifetime", "refresh_token_grace"] => {
            "the target declares no reuse window for refresh tokens (`rt_reuse: grace:<s>` in its profile)".into()
        }
        ["lifetime", k] => {
            format!("the target declares no `{k}` lifetime (`lifetimes:` in its profile)")
        }
        ["secret", s] => format!("the target supplies no secret `{s}`"),
        ["user", _] => "the target names no user account to sign in as \
                        (`user: {username, password_env}` in its profile)"
            .to_string(),
        _ => format!("the target provides no `{name}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_to_the_target_are_checked_for_shape() {
        assert!(check_reference("client.web.id").is_ok());
        assert!(check_reference("resource.me.url").is_ok());
        assert!(check_reference("lifetime.authorization_code").is_ok());
        assert!(check_reference("scope.basic").is_ok());
        assert!(check_reference("state").is_ok());
        for bad in [
            "client.wbe.id",
            "client.web.ids",
            "resource.me",
            "resource.you.url",
            "scope.admin",
            "lifetime.code",
            "user.name",
            "user.alice.password",
        ] {
            assert!(check_reference(bad).is_err(), "{bad}");
        }
        assert_eq!(provided_name("client.web.id"), Some("client.web.id"));
        assert_eq!(provided_name("verifier"), None);
    }

    #[test]
    fn every_registrable_role_asks_for_what_it_needs() {
        for r in ROLES {
            if let Some(meta) = (r.registration)() {
                assert!(meta["grant_types"].is_array(), "{}", r.name);
                assert!(meta["token_endpoint_auth_method"].is_string(), "{}", r.name);
            }
        }
    }
}
