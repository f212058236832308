//! What a target provides to scenarios besides its endpoints: its clients in the suite's
//! roles (`client.web.id`, `client.web.secret`, `client.web.redirect_uri`), protected
//! scopes (`scope.basic`), protected resources (`resource.me.url`, `resource.me.scope`)
//! and lifetimes
//! (`lifetime.authorization_code`) and the user account to sign in as (`user.username`,
//! `user.password`). The builtin provides every one from its fixture; a
//! profile maps what the target has, or has the roles registered (RFC 7591) for the run.

use crate::runner::error::TargetError;
use crate::runner::profile::{Clients, Profile};
use crate::scenario::roles::{self, ClientField};
use crate::server::config::ServerConfig;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The values, and why some are unavailable.
#[derive(Debug, Clone, Default)]
pub struct Provided {
    /// `client.web.id` → `"web"`, …
    pub values: HashMap<String, Value>,
    /// A prefix (`client.web`) → why the target has nothing under it.
    pub unavailable: HashMap<String, String>,
    /// The private keys of roles that authenticate with `private_key_jwt`.
    pub keys: crate::keys::Keys,
}

/// The name a protected resource's URL goes by (`resource.me.url`).
fn resource_key(name: &str) -> String {
    format!("resource.{name}.url")
}

impl Provided {
    fn set(&mut self, name: String, value: Value) {
        self.values.insert(name, value);
    }

    fn client(&mut self, role: &str, id: &str, secret: Option<String>, uris: &[String]) {
        self.set(ClientField::Id.key(role), json!(id));
        if let Some(s) = secret {
            self.set(ClientField::Secret.key(role), json!(s));
        }
        for (field, uri) in ClientField::REDIRECTS.iter().zip(uris) {
            self.set(field.key(role), json!(uri));
        }
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.values.get(key).and_then(Value::as_str)
    }

    /// The client id the target gives role `role`, and its redirect URIs.
    pub(crate) fn role(&self, role: &str) -> Option<(&str, Vec<&str>)> {
        let id = self.text(&ClientField::Id.key(role))?;
        let uris = ClientField::REDIRECTS
            .iter()
            .filter_map(|f| self.text(&f.key(role)))
            .collect();
        Some((id, uris))
    }

    /// The secret of the role whose client id is `client_id`, if that role has one.
    pub(crate) fn secret_of_client(&self, client_id: &str) -> Option<&str> {
        let role = roles::ROLES
            .iter()
            .map(|r| r.name)
            .find(|r| self.text(&ClientField::Id.key(r)) == Some(client_id))?;
        self.text(&ClientField::Secret.key(role))
    }

    /// The URL the target maps to protected resource `name`.
    pub(crate) fn resource_url(&self, name: &str) -> Option<&str> {
        self.text(&resource_key(name))
    }

    /// Why the target maps no URL to protected resource `name`, in words for a SKIP.
    pub(crate) fn why_no_resource(&self, name: &str) -> String {
        self.why_missing(&resource_key(name))
    }

    /// Every role, resource and lifetime of the reference server.
    pub fn builtin(config: &ServerConfig, base: &str) -> Provided {
        let mut p = Provided::default();
        for c in &config.clients {
            // The fixture's client ids are the role names (matrix §0).
            if roles::role(&c.id).is_some() {
                let secret = c.secret.as_ref().map(|s| s.expose().clone());
                p.client(&c.id, &c.id, secret, &c.redirect_uris);
            }
        }
        for s in roles::SCOPES {
            p.set(format!("scope.{}", s.name), json!(s.builtin));
        }
        for r in roles::RESOURCES {
            p.set(resource_key(r.name), json!(format!("{base}{}", r.builtin)));
        }
        p.resource_scopes();
        let policy = &config.policy;
        for (kind, secs) in [
            ("authorization_code", policy.authorization_code_ttl),
            ("access_token", policy.access_token_ttl),
            ("refresh_token_idle", policy.refresh_token_idle_ttl),
        ] {
            p.set(format!("lifetime.{kind}"), json!(secs));
        }
        if let Some(secs) = policy.refresh_token_grace {
            let kind = crate::runner::profile::GRACE_LIFETIME;
            p.set(format!("lifetime.{kind}"), json!(secs));
        }
        // The account scenarios sign in as: alice, or the first by name.
        let user = config.accounts.get("alice").or_else(|| {
            config
                .accounts
                .keys()
                .min()
                .and_then(|k| config.accounts.get(k))
        });
        if let Some(a) = user {
            p.set("user.username".into(), json!(&*a.username));
            p.set("user.password".into(), json!(a.password.expose()));
        }
        p
    }

    /// What a profile maps (registration, when asked, comes later: [`register`]).
    pub(crate) fn from_profile(profile: &Profile, base: &str) -> Result<Provided, TargetError> {
        let mut p = Provided::default();
        let mut vars = crate::scenario::vars::Vars::default();
        let setup = |what: String| TargetError::Setup(format!("profile {}: {what}", profile.name));
        let mut text =
            |what: &str, s: &str| vars.render(s).map_err(|e| setup(format!("{what}: {e}")));
        let env = |name: &str, whose: String| {
            std::env::var(name).map_err(|_| {
                setup(format!(
                    "{whose}: environment variable {name} (its {}) is not set",
                    if whose == "user" {
                        "password"
                    } else {
                        "secret"
                    }
                ))
            })
        };
        if let Clients::Mapped(map) = &profile.clients {
            for (role, spec) in map {
                let id = text(&format!("clients.{role}.id"), &spec.id)?;
                let secret = match &spec.secret_env {
                    Some(name) => Some(env(name, format!("clients.{role}"))?),
                    None => None,
                };
                let mut uris = Vec::new();
                for u in &spec.redirect_uris {
                    uris.push(text(&format!("clients.{role}.redirect_uris"), u)?);
                }
                p.client(role, &id, secret, &uris);
                if let Some(key) = &spec.key {
                    p.keys.insert(role, key.clone());
                }
            }
        }
        if let Some(j) = &profile.dpop_key {
            p.keys.insert(crate::keys::DPOP_ROLE, j.clone());
        }
        for (name, scope) in &profile.scopes {
            if roles::scope_role(name).is_none() {
                return Err(setup(format!(
                    "scopes.{name}: no such scope role (scope roles: {})",
                    names(roles::SCOPES.iter().map(|s| s.name))
                )));
            }
            p.set(
                format!("scope.{name}"),
                json!(text(&format!("scopes.{name}"), scope)?),
            );
        }
        for (name, r) in &profile.resources {
            let Some(resource) = roles::resource(name) else {
                return Err(setup(format!(
                    "resources.{name}: no such resource (resources: {})",
                    names(roles::RESOURCES.iter().map(|r| r.name))
                )));
            };
            if let Some(url) = &r.url {
                let url = text(&format!("resources.{name}.url"), url)?;
                let url = if url.starts_with("http://") || url.starts_with("https://") {
                    url
                } else {
                    format!("{base}{url}")
                };
                p.set(resource_key(name), json!(url));
            }
            // A resource's scope is its scope role's: given here, it names that role's
            // scope (profiles written before `scopes:`), and the two must agree.
            if let Some(scope) = &r.scope {
                let key = format!("scope.{}", resource.scope);
                match p.values.get(&key).and_then(Value::as_str) {
                    Some(given) if given != scope => {
                        return Err(setup(format!(
                            "resources.{name}.scope is `{scope}` but scopes.{} is `{given}`: \
                             resource `{name}` needs the `{}` scope; give it once, in `scopes:`",
                            resource.scope, resource.scope
                        )))
                    }
                    Some(_) => {}
                    None => p.set(key, json!(scope)),
                }
            }
        }
        p.resource_scopes();
        for (kind, secs) in &profile.lifetimes {
            p.set(format!("lifetime.{kind}"), json!(secs));
        }
        if let crate::runner::profile::RtReuse::Grace(secs) = profile.rt_reuse {
            let kind = crate::runner::profile::GRACE_LIFETIME;
            p.set(format!("lifetime.{kind}"), json!(secs));
        }
        if let Some(user) = &profile.user {
            p.set(
                "user.username".into(),
                json!(text("user.username", &user.username)?),
            );
            if let Some(name) = &user.password_env {
                let password = env(name, "user".into())?;
                p.set("user.password".into(), json!(password));
            }
        }
        Ok(p)
    }

    /// `resource.NAME.scope` for each resource whose scope role is provided: the scope a
    /// token needs there, whether or not the target maps the resource's URL.
    fn resource_scopes(&mut self) {
        for r in roles::RESOURCES {
            if let Some(scope) = self.values.get(&format!("scope.{}", r.scope)).cloned() {
                self.set(format!("resource.{}.scope", r.name), scope);
            }
        }
    }

    /// Whether `name` (`client.web.id`) is provided.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Why `name` is not provided, in words for a SKIPPED scenario.
    pub(crate) fn why_missing(&self, name: &str) -> String {
        let mut prefix = name;
        while let Some((head, _)) = prefix.rsplit_once('.') {
            if let Some(why) = self.unavailable.get(head) {
                return why.clone();
            }
            prefix = head;
        }
        roles::missing_reason(name)
    }
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    it.collect::<Vec<_>>().join(", ")
}

/// A client the harness registered, to delete at the end (RFC 7592 §2.3).
#[derive(Debug, Clone)]
pub struct Registered {
    /// The role it plays.
    pub role: String,
    /// Its client configuration endpoint.
    pub uri: Option<String>,
    /// Its registration access token.
    pub token: Option<String>,
}

/// Registers every role that registration can make at `endpoint` (RFC 7591 §3.1), and
/// provides the clients the server made. A role whose registration fails is unavailable,
/// with the server's answer as the reason.
///
/// `jwks_uri` is where the harness publishes the `pkj-uri` role's keys (a profile's
/// `jwks_uri_base`); without it that role cannot be registered.
pub async fn register(
    http: &reqwest::Client,
    endpoint: &str,
    provided: &mut Provided,
    jwks_uri: Option<&str>,
) -> Vec<Registered> {
    // The m2m role's scopes: `basic` and `second`, never `forbidden`.
    let m2m_scope: Vec<String> = ["basic", "second"]
        .iter()
        .filter_map(|r| provided.values.get(&format!("scope.{r}")))
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let mut out = Vec::new();
    for role in roles::ROLES {
        let metadata = match ((role.registration)(), jwks_uri) {
            (None, _) => Err("map it in the profile"),
            // Its jwks_uri is where the harness publishes its key.
            (Some(_), None) if role.name == crate::runner::jwks_host::ROLE => {
                Err("give the profile a `jwks_uri_base` where the harness can publish its key")
            }
            (Some(mut m), uri) => {
                if role.name == "m2m" && !m2m_scope.is_empty() {
                    m["scope"] = json!(m2m_scope.join(" "));
                }
                if role.name == crate::runner::jwks_host::ROLE {
                    m["jwks_uri"] = json!(uri);
                }
                Ok(m)
            }
        };
        let metadata = match metadata {
            Ok(m) => m,
            Err(what) => {
                provided.unavailable.insert(
                    format!("client.{}", role.name),
                    format!(
                        "role `{}` cannot be registered ({}): {what}",
                        role.name, role.needs
                    ),
                );
                continue;
            }
        };
        match register_one(http, endpoint, &metadata).await {
            Ok(answer) => {
                let get = |k: &str| answer.get(k).and_then(Value::as_str).map(str::to_string);
                let uris: Vec<String> = answer
                    .get("redirect_uris")
                    .or_else(|| metadata.get("redirect_uris"))
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|u| u.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let id = get("client_id").unwrap_or_default();
                provided.client(role.name, &id, get("client_secret"), &uris);
                out.push(Registered {
                    role: role.name.to_string(),
                    uri: get("registration_client_uri"),
                    token: get("registration_access_token"),
                });
            }
            Err(why) => {
                provided.unavailable.insert(
                    format!("client.{}", role.name),
                    format!("registering role `{}` failed: {why}", role.name),
                );
            }
        }
    }
    out
}

async fn register_one(
    http: &reqwest::Client,
    endpoint: &str,
    metadata: &Value,
) -> Result<Value, TargetError> {
    let resp = http.post(endpoint).json(metadata).send().await?;
    let ex = crate::runner::http::to_exchange(resp).await?;
    match (&ex.json, ex.status) {
        (Some(j), 201 | 200) if j.get("client_id").and_then(Value::as_str).is_some() => {
            Ok(j.clone())
        }
        (Some(j), status) => Err(TargetError::Refused(format!(
            "HTTP {status} {}",
            j.get("error").and_then(Value::as_str).unwrap_or("")
        ))),
        (None, status) => Err(TargetError::Refused(format!("HTTP {status}"))),
    }
}

/// Deletes registered clients where the server says how (RFC 7592 §2.3); the notes say
/// what could not be deleted.
pub(crate) async fn unregister(http: &reqwest::Client, registered: &[Registered]) -> Vec<String> {
    let mut notes = Vec::new();
    for r in registered {
        let (Some(uri), Some(token)) = (&r.uri, &r.token) else {
            continue;
        };
        let outcome = http.delete(uri).bearer_auth(token).send().await;
        match outcome {
            Ok(resp) if resp.status().is_success() => {}
            Ok(resp) => notes.push(format!(
                "the client registered for role `{}` could not be deleted: HTTP {}",
                r.role,
                resp.status().as_u16()
            )),
            Err(e) => notes.push(format!(
                "the client registered for role `{}` could not be deleted: {}",
                r.role,
                crate::runner::http::describe_reqwest(&e)
            )),
        }
    }
    notes
}
