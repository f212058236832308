//! The `oauth2` crate's HTTP client interface over reqwest 0.13 (its own `reqwest`
//! feature wants 0.12; this keeps one reqwest in the tree). Shared by the example and
//! `tests/blackbox/third_party.rs`.

use oauth2::{HttpRequest, HttpResponse};

/// Sends `req` with `http` and hands the answer back as the crate's response type.
pub async fn send(http: reqwest::Client, req: HttpRequest) -> std::io::Result<HttpResponse> {
    let (parts, body) = req.into_parts();
    let resp = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(std::io::Error::other)?;
    let mut out = http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    let bytes = resp.bytes().await.map_err(std::io::Error::other)?;
    out.body(bytes.to_vec()).map_err(std::io::Error::other)
}
