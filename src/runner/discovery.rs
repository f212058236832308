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
use serde_json::Value;
use std::collections::HashMap;

/// Metadata members that name endpoints, and the harness's endpoint names for them.
pub const ENDPOINT_MEMBERS: &[(&str, &str)] = &[
    ("token_endpoint", "token"),
    ("device_authorization_endpoint", "device_authorization"),
    ("authorization_endpoint", "authorization"),
    ("revocation_endpoint", "revocation"),
    ("introspection_endpoint", "introspection"),
    ("registration_endpoint", "registration"),
];

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
    pub fn endpoints(&self) -> HashMap<String, String> {
        let mut out = HashMap::from([("metadata".to_string(), self.url.clone())]);
        for (member, name) in ENDPOINT_MEMBERS {
            if let Some(u) = self.document.get(member).and_then(Value::as_str) {
                out.insert((*name).to_string(), u.to_string());
            }
        }
        out
    }
}

/// The URLs where the metadata of `issuer` may be, in the order they are tried.
pub fn candidate_urls(issuer: &str) -> Vec<String> {
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
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Metadata, String> {
    let mut tried = Vec::new();
    for url in candidate_urls(issuer) {
        let ex = match http.get(&url).send().await {
            Ok(resp) => crate::runner::to_exchange(resp).await?,
            Err(e) => {
                tried.push(format!("{url}: {}", crate::runner::describe_reqwest(&e)));
                continue;
            }
        };
        match usable(&url, &ex) {
            Some(document) => return checked(url, document, issuer),
            None => tried.push(format!("{url}: HTTP {}", ex.status)),
        }
    }
    Err(format!(
        "discovery: no metadata document for the issuer `{issuer}` ({})",
        tried.join("; ")
    ))
}

fn usable(_url: &str, ex: &Exchange) -> Option<Value> {
    (ex.status == 200)
        .then(|| ex.json.clone())
        .flatten()
        .filter(Value::is_object)
}

fn checked(url: String, document: Value, issuer: &str) -> Result<Metadata, String> {
    let said = document.get("issuer").and_then(Value::as_str).unwrap_or("");
    if said != issuer {
        return Err(format!(
            "discovery: the metadata at {url} names the issuer `{said}`, not `{issuer}` (RFC 8414 §3.3): none of its endpoints are used"
        ));
    }
    Ok(Metadata { url, document })
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
    fn a_document_for_another_issuer_is_refused() {
        let doc = serde_json::json!({"issuer": "https://evil.example", "token_endpoint": "x"});
        assert!(checked("u".into(), doc.clone(), "https://as.example").is_err());
        assert!(checked("u".into(), doc, "https://evil.example").is_ok());
    }
}
