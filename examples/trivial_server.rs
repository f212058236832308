//! The baseline for `benches/token_endpoint.sh`: the smallest axum server, on the same
//! runtime settings as the reference server, answering every POST with a fixed JSON body
//! of about the size of an OAuth error. The token endpoint's rate is reported as a ratio
//! to this one, measured in the same run (these machines are noisy; ratios are not).

use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

async fn handler() -> Json<Value> {
    Json(
        json!({"error": "authorization_pending", "error_description": "The user has not decided yet"}),
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "trivial server listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, Router::new().route("/", post(handler))).await
}
