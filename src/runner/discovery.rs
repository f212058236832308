//! Authorization server metadata (RFC 8414): where a live target's endpoints are.
//!
//! The document is looked for where real servers publish it, in this order:
//! 1. RFC 8414 §3.1: `/.well-known/oauth-authorization-server` inserted between the host
//!    and the issuer's path (`https://h/realms/x` → `https://h/.well-known/oauth-authorization-server/realms/x`);
//! 2. OpenID Connect Discovery: `/.well-known/openid-configuration` appended to the issuer
//!    (RFC 8414 §5 notes that servers may publish only this one);
//! 3. RFC 8414 §5's inserted form of the same (`https://h/.well-known/openid-configuration/realms/x`).
//!
//! The first that answers 200 with a JSON object is used, and only if its `issuer` is the
//! expected issuer code point for code point (RFC 8414 §3.3, META-5, CLIENT-16); a
//! mismatch stops there: the server said who it is, and it is not the target.

use crate::assert::Exchange;
use crate::endpoint::Endpoint;
use crate::runner::error::TargetError;
use serde_json::Value;
use std::collections::HashMap;

/// What discovery found.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// The URL the document came from.
    pub url: String,
    /// The document.
    pub document: Value,
}

impl Metadata {
    /// Endpoint name → URL, with `metadata` → where the document was found.
    pub fn endpoints(&self) -> HashMap<Endpoint, String> {
        let mut out = HashMap::from([(Endpoint::Metadata, self.url.clone())]);
        for &e in Endpoint::all() {
            let url = e
                .metadata_member()
                .and_then(|m| self.document.get(m))
                .and_then(Value::as_str);
            if let Some(u) = url {
                out.insert(e, u.to_string());
            }
        }
        out
    }
}

/// The URLs where the metadata of `issuer` may be, in the order they are tried.
pub(crate) fn candidate_urls(issuer: &str) -> Vec<String> {
    let issuer = issuer.trim_end_matches('/');
    let (origin, path) = match url::Url::parse(issuer) {
        Ok(u) => {
            let origin = u.origin().ascii_serialization();
            let path = u.path().trim_end_matches('/').to_string();
            (origin, path)
        }
        Err(_) => (issuer.to_string(), String::new()),
    };
    let mut out = vec![
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{issuer}/.well-known/openid-configuration"),
        format!("{origin}/.well-known/openid-configuration{path}"),
    ];
    out.dedup();
    out
}

/// Fetches the metadata of `issuer`; an error says which URLs answered what.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Metadata, TargetError> {
    let mut tried = Vec::new();
    for url in candidate_urls(issuer) {
        let ex = match http.get(&url).send().await {
            Ok(resp) => crate::runner::http::to_exchange(resp).await?,
            Err(e) => {
                tried.push(format!(
                    "{url}: {}",
                    crate::runner::http::describe_reqwest(&e)
                ));
                continue;
            }
        };
        match usable(&url, &ex) {
            Some(document) => return checked(url, document, issuer),
            None => tried.push(format!("{url}: HTTP {}", ex.status)),
        }
    }
    Err(TargetError::Setup(format!(
        "discovery: no metadata document for the issuer `{issuer}` ({})",
        tried.join("; ")
    )))
}

fn usable(_url: &str, ex: &Exchange) -> Option<Value> {
    (ex.status == 200)
        .then(|| ex.json.clone())
        .flatten()
        .filter(Value::is_object)
}

fn checked(url: String, document: Value, issuer: &str) -> Result<Metadata, TargetError> {
    let said = document.get("issuer").and_then(Value::as_str).unwrap_or("");
    if said != issuer {
        return Err(TargetError::Setup(format!(
            "discovery: the metadata at {url} names the issuer `{said}`, not `{issuer}` (RFC 8414 §3.3): none of its endpoints are used"
        )));
    }
    Ok(Metadata { url, document })
}

/// A starter target profile for the server whose metadata is `m` (`oauth-harness init
/// --discover`): its issuer, discovery on, the capabilities its grant types imply, and
/// every client role its grant types allow, to fill in (or `clients: register` where it
/// offers registration).
pub(crate) fn starter_profile(m: &Metadata, issuer: &str) -> String {
    use crate::scenario::roles::ROLES;
    let doc = &m.document;
    let list = |member: &str| -> Vec<String> {
        doc.get(member)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    // RFC 8414 §2: an absent grant_types_supported means authorization_code and implicit.
    let grants = match list("grant_types_supported") {
        g if g.is_empty() => vec!["authorization_code".to_string(), "implicit".to_string()],
        g => g,
    };
    let has = |g: &str| grants.iter().any(|x| x == g);
    let device = has("urn:ietf:params:oauth:grant-type:device_code");
    let mut caps = Vec::new();
    if has("refresh_token") {
        caps.push("refresh");
    }
    if device {
        caps.push("device_flow");
    }
    let registration = doc.get("registration_endpoint").is_some();
    if registration {
        caps.push("registration");
    }
    let url = url::Url::parse(issuer).ok();
    let host = url
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "server".into());
    let origin = url
        .as_ref()
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|| issuer.to_string());
    // OpenID Connect's own scopes change what a server does (an ID token, a refresh
    // token): the suite's scope roles take the server's other scopes first.
    let mut scopes = list("scopes_supported");
    scopes.sort_by_key(|s| ["openid", "offline_access"].contains(&s.as_str()));
    let mut out = format!(
        "# A starter profile for {issuer}, written by `oauth-harness init --discover` from\n\
         # its metadata ({}). Fill in every CHANGE-ME, then:\n\
         #   oauth-harness run --target THIS_FILE\n\
         # docs/scenarios.md (\"Roles\", \"Hooks\") and the README's profile table say what each field is.\n\
         name: {host}\nbase_url: {origin}\n",
        m.url
    );
    if issuer.trim_end_matches('/') != origin {
        out.push_str(&format!("issuer: {issuer}\n"));
    }
    out.push_str("discovery: true\nencoding: form\n");
    if !device {
        out.push_str(
            "# The metadata lists no device grant: the device scenarios will be SKIPPED.\n",
        );
    } else if doc.get("device_authorization_endpoint").is_none() {
        out.push_str(
            "# The metadata lists the device grant but no device_authorization_endpoint:\n\
             # endpoints: {device_authorization: /CHANGE-ME}\n",
        );
    }
    out.push_str(
        "# The suite's client roles → your clients (secrets from environment variables).\n",
    );
    if registration {
        out.push_str(
            "# The server offers RFC 7591 registration: `clients: register` instead of this\n\
             # mapping has the roles registered for each run.\n",
        );
    }
    out.push_str("clients:\n");
    for role in ROLES {
        out.push_str(&role_entry(role, &has));
    }
    out.push_str(&resources_and_hooks(&scopes, &caps));
    out
}

/// A client role's line in the starter profile: commented out when the server lists none of
/// the grant types it needs.
fn role_entry(role: &crate::scenario::roles::Role, has: &dyn Fn(&str) -> bool) -> String {
    let meta = (role.registration)().unwrap_or_default();
    let needs_grant = |g: &str| {
        meta.get("grant_types")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x == g))
    };
    // Every grant type the role needs (bar refresh_token) is one the server lists.
    let possible = [
        "urn:ietf:params:oauth:grant-type:device_code",
        "authorization_code",
        "client_credentials",
    ]
    .iter()
    .all(|g| !needs_grant(g) || has(g));
    let confidential = meta
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .is_none_or(|m| m != "none");
    let uris: Vec<String> = meta
        .get("redirect_uris")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|u| u.as_str().map(|u| format!("\"{u}\"")))
                .collect()
        })
        .unwrap_or_default();
    let mut line = format!("  {}: {{id: CHANGE-ME", role.name);
    if confidential {
        line.push_str(&format!(
            ", secret_env: HARNESS_SECRET_{}",
            role.name.replace('-', "_").to_uppercase()
        ));
    }
    if !uris.is_empty() {
        line.push_str(&format!(", redirect_uris: [{}]", uris.join(", ")));
    }
    line.push('}');
    if possible {
        format!("  # {}\n{line}\n", role.needs)
    } else {
        format!(
            "  # {}: the metadata lists no grant type for it\n  #{line}\n",
            role.needs
        )
    }
}

/// The resources, lifetimes, hooks and capabilities of the starter profile.
fn resources_and_hooks(scopes: &[String], caps: &[&str]) -> String {
    let scope = |i: usize| scopes.get(i).cloned().unwrap_or_else(|| "CHANGE-ME".into());
    format!(
        "# Scopes the suite asks for: `basic` and `second` any client may ask for, `forbidden`\n\
         # one the server knows that the m2m client may not have.\n\
         scopes: {{basic: {}, second: {}, forbidden: {}}}\n\
         # Protected resources, if you have an API that takes these tokens (RFC 6750): a URL\n\
         # on any host; `me` needs scope `basic`, `items` `second`, `admin` `forbidden`.\n\
         # Without them, only the scenarios that call a resource are SKIPPED.\n\
         # resources:\n#   me: {{url: https://api.example/me}}\n#   items: {{url: https://api.example/items}}\n#   admin: {{url: https://api.example/admin}}\n\
         # Lifetimes in seconds, for the expiry scenarios; give a test server short ones and\n\
         # let the harness wait them out:\n\
         # lifetimes: {{authorization_code: 5, access_token: 20, refresh_token_idle: 30}}\n\
         # wait_for_expiry: 25\n\
         # The test user's account, and recipes that play it in your server's own pages\n\
         # (docs/scenarios.md, \"Hooks\", `type: form`): each step acts on the pages whose URL\n\
         # matches `on`. Open each page in a browser and put its field names and button texts\n\
         # here; a step that finds nothing says what the page has.\n\
         # user: {{username: CHANGE-ME, password_env: HARNESS_USER_PASSWORD}}\n\
         # consent:\n\
         #   type: form                      # starts at the authorization request\n\
         #   steps:\n\
         #     - on: /login                  # your sign-in page\n\
         #       fill: {{username: \"{{user.username}}\", password: \"{{user.password}}\"}}\n\
         #     - on: /authorize              # your consent page\n\
         #       press: {{approve: Allow, deny: Deny}}\n\
         # approval:\n\
         #   approve: &device\n\
         #     type: form                    # starts at the device's verification_uri\n\
         #     steps:\n\
         #       - on: /login\n\
         #         fill: {{username: \"{{user.username}}\", password: \"{{user.password}}\"}}\n\
         #       - on: /device\n\
         #         has: \"input[name=user_code]\"\n\
         #         fill: {{user_code: \"{{user_code}}\"}}\n\
         #       - on: /device\n\
         #         press: {{approve: Approve, deny: Deny}}\n\
         #   deny: *device\n\
         # revoke_app:\n\
         #   type: form\n\
         #   start: \"{{base}}/account/apps\"     # where your users see their connected apps\n\
         #   steps:\n\
         #     - on: /login\n\
         #       fill: {{username: \"{{user.username}}\", password: \"{{user.password}}\"}}\n\
         #     - on: /account/apps\n\
         #       press: Revoke\n\
         #       near: \"{{client}}\"\n\
         #       repeat: true\n\
         capabilities: [{}]\n",
        scope(0),
        scope(1),
        scope(2),
        caps.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_well_known_segment_goes_between_host_and_issuer_path() {
        assert_eq!(
            candidate_urls("https://as.example/realms/x"),
            vec![
                "https://as.example/.well-known/oauth-authorization-server/realms/x",
                "https://as.example/realms/x/.well-known/openid-configuration",
                "https://as.example/.well-known/openid-configuration/realms/x",
            ]
        );
        assert_eq!(
            candidate_urls("http://127.0.0.1:8080"),
            vec![
                "http://127.0.0.1:8080/.well-known/oauth-authorization-server",
                "http://127.0.0.1:8080/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn the_commented_recipe_skeleton_is_a_valid_profile_once_uncommented() {
        let text = resources_and_hooks(&["api".into(), "read".into(), "admin".into()], &[]);
        let start = text.find("# user:").expect("the skeleton");
        let end = text.find("capabilities:").expect("its end");
        let hooks: String = text[start..end]
            .lines()
            .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or(l)))
            .collect();
        let profile = format!("name: x\nbase_url: http://127.0.0.1:1\n{hooks}");
        let p: crate::runner::profile::Profile =
            serde_yaml::from_str(&profile).unwrap_or_else(|e| panic!("{e}\n{profile}"));
        use crate::runner::profile::Hook;
        assert!(matches!(p.consent, Some(Hook::Form(_))));
        assert!(matches!(p.revoke_app, Some(Hook::Form(_))));
        assert!(p
            .approval
            .is_some_and(|a| matches!(a.deny, Some(Hook::Form(_)))));
    }

    #[test]
    fn a_document_for_another_issuer_is_refused() {
        let doc = serde_json::json!({"issuer": "https://evil.example", "token_endpoint": "x"});
        assert!(checked("u".into(), doc.clone(), "https://as.example").is_err());
        assert!(checked("u".into(), doc, "https://evil.example").is_ok());
    }
}
