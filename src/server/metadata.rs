//! RFC 8414 authorization server metadata at `/.well-known/oauth-authorization-server`,
//! so that RFC clients find the Noorle-style paths (META-1…11).

use crate::endpoint::Endpoint;
use crate::oauth::GrantType;
use crate::server::assertion;
use crate::server::faults::Fault;
use crate::server::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

/// `GET /.well-known/oauth-authorization-server`.
pub async fn metadata(State(st): State<Arc<AppState>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    if st.faults.has(Fault::NoMetadata) {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
    let issuer = if st.faults.has(Fault::WrongIssuer) {
        "https://wrong-issuer.example".to_string()
    } else {
        st.issuer.clone()
    };
    let grants: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
    let mut doc = json!({
        "issuer": issuer,
        "scopes_supported": st.scopes.names(),
        "response_types_supported": ["code"],
        "grant_types_supported": grants,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none", "private_key_jwt", "client_secret_jwt"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none", "private_key_jwt", "client_secret_jwt"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "client_secret_jwt"],
        "code_challenge_methods_supported": ["S256", "plain"],
        // RFC 9207 §2.3: "The server MUST indicate its support for the iss parameter by
        // setting the metadata parameter authorization_response_iss_parameter_supported
        // ... to true."
        "authorization_response_iss_parameter_supported": true,
    });
    if let Some(m) = doc.as_object_mut() {
        for &e in Endpoint::all() {
            if let Some(member) = e.metadata_member() {
                m.insert(member.into(), json!(st.url(e.path())));
            }
        }
        if st.faults.has(Fault::NoDeviceMetadata) {
            m.remove("device_authorization_endpoint");
        }
        // OAuth 2.1 -16 §7.5.2: plain "is explicitly forbidden" (OAUTH21-8).
        if st.policy.oauth21 && !st.faults.has(Fault::PkceAllowPlain) {
            m.insert("code_challenge_methods_supported".into(), json!(["S256"]));
        }
        if st.faults.has(Fault::NoPkceMetadata) {
            m.remove("code_challenge_methods_supported");
        }
        if st.faults.has(Fault::IssFlagAbsent) {
            m.remove("authorization_response_iss_parameter_supported");
        }
        // RFC 8414 §2 `token_endpoint_auth_signing_alg_values_supported`: "This metadata
        // entry MUST be present if either of these authentication methods are specified
        // in the "token_endpoint_auth_methods_supported" entry. … The value "none" MUST
        // NOT be used." (The same for revocation and introspection.)
        let mut algs: Vec<&str> = assertion::SIGNING_ALGS.to_vec();
        if st.faults.has(Fault::MetaAuthAlgNone) {
            algs.push("none");
        }
        for prefix in ["token", "revocation", "introspection"] {
            let methods = format!("{prefix}_endpoint_auth_methods_supported");
            if st.faults.has(Fault::MetaNoJwtMethods) {
                if let Some(Value::Array(list)) = m.get_mut(&methods) {
                    list.retain(|v| {
                        !matches!(v.as_str(), Some("private_key_jwt" | "client_secret_jwt"))
                    });
                }
                continue;
            }
            if !st.faults.has(Fault::MetaNoAuthSigningAlgs) {
                m.insert(
                    format!("{prefix}_endpoint_auth_signing_alg_values_supported"),
                    json!(algs),
                );
            }
        }
        // RFC 9126 §5.
        m.insert(
            "require_pushed_authorization_requests".into(),
            json!(st.policy.require_pushed_authorization_requests),
        );
        if st.faults.has(Fault::ParNoMetadata) {
            m.remove("pushed_authorization_request_endpoint");
        }
        // RFC 9449 §5.1, §11.6: asymmetric algorithms only (DPOP-28).
        let mut dpop: Vec<&str> = crate::server::dpop::ALGS.to_vec();
        if st.faults.has(Fault::DpopMetaHs256) {
            dpop.push("HS256");
        }
        m.insert("dpop_signing_alg_values_supported".into(), json!(dpop));
    }
    Json(doc).into_response()
}
