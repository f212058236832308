//! The runner's HTTP reading: a response read under a size limit into an [`Exchange`],
//! a transport failure in words, and whether a URL names the loopback interface. A leaf
//! of `runner/` (it names only `error`).

use crate::assert::Exchange;
use crate::runner::error::{TargetError, Transport, MAX_RESPONSE_BYTES};

/// Why a request failed, in words a user can act on.
pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    Transport::from(e).to_string()
}

/// Reads a response into an [`Exchange`].
pub(crate) async fn to_exchange(resp: reqwest::Response) -> Result<Exchange, TargetError> {
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    // Read in chunks, so that an endless or enormous body is cut off, not buffered.
    let mut resp = resp;
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(TargetError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    let body = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).ok();
    Ok(Exchange {
        status,
        headers,
        body,
        json,
    })
}

/// Whether `url` names the loopback interface (an address, or `localhost`): plain http
/// is allowed there, and the key host listens there only.
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}
