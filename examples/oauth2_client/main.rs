//! The `oauth2` crate (5.0) as a subject of `oauth-harness client`: its device flow and its
//! authorization code flow with PKCE, written the way its documentation and examples show,
//! so the suite can say what it thinks of the most used Rust OAuth client.
//!
//!     cargo build --example oauth2_client
//!     oauth-harness client -- target/debug/examples/oauth2_client device
//!     oauth-harness client -- target/debug/examples/oauth2_client code
//!
//! The only harness-specific parts: the endpoints come from `OAUTH_HARNESS_*` variables,
//! and the HTTP client is reqwest 0.13 through the crate's `AsyncHttpClient` closure (its
//! own `reqwest` feature wants 0.12). The device poll sleeps with `tokio::time::sleep`, on
//! its own clock: the harness sees that and judges it at real time (docs/clients.md).

mod http_adapter;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, DeviceAuthorizationUrl, HttpRequest,
    PkceCodeChallenge, RedirectUrl, Scope, StandardDeviceAuthorizationResponse, TokenResponse,
    TokenUrl,
};
use std::error::Error;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn var(name: &str) -> Result<String> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

/// The crate's HTTP client: a closure over reqwest 0.13, redirects off (as the crate
/// advises).
fn http_client() -> Result<impl Fn(HttpRequest) -> HttpFuture> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    Ok(move |req: HttpRequest| -> HttpFuture { Box::pin(http_adapter::send(http.clone(), req)) })
}

type HttpFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = std::io::Result<oauth2::HttpResponse>> + Send>,
>;

async fn device() -> Result<()> {
    let client = BasicClient::new(ClientId::new(var("OAUTH_HARNESS_CLIENT_ID")?))
        .set_token_uri(TokenUrl::new(var("OAUTH_HARNESS_TOKEN_URL")?)?)
        .set_device_authorization_url(DeviceAuthorizationUrl::new(var(
            "OAUTH_HARNESS_DEVICE_AUTHORIZATION_URL",
        )?)?);
    let http = http_client()?;
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("api".into()))
        .request_async(&http)
        .await?;
    println!(
        "Open {} and enter the code {}",
        details.verification_uri().as_str(),
        details.user_code().secret()
    );
    let token = client
        .exchange_device_access_token(&details)
        .request_async(&http, tokio::time::sleep, None)
        .await?;
    call_api(token.access_token().secret()).await
}

async fn code() -> Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let registered = url::Url::parse(&var("OAUTH_HARNESS_REDIRECT_URI")?)?;
    let redirect = format!(
        "http://127.0.0.1:{}{}",
        listener.local_addr()?.port(),
        registered.path()
    );
    let client = BasicClient::new(ClientId::new(var("OAUTH_HARNESS_CLIENT_ID")?))
        .set_auth_uri(AuthUrl::new(var("OAUTH_HARNESS_AUTHORIZATION_URL")?)?)
        .set_token_uri(TokenUrl::new(var("OAUTH_HARNESS_TOKEN_URL")?)?)
        .set_redirect_uri(RedirectUrl::new(redirect)?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .url();
    match std::env::var("BROWSER") {
        Ok(browser) => {
            std::process::Command::new(browser)
                .arg(url.as_str())
                .status()?;
        }
        Err(_) => println!("Open this URL to sign in: {url}"),
    }
    let query = callback(&listener).await?;
    let value = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(e) = value("error") {
        return Err(format!("the authorization server said {e}").into());
    }
    if value("state").as_deref() != Some(csrf.secret().as_str()) {
        return Err("state mismatch: the callback is not the answer to our request".into());
    }
    let code = value("code").ok_or("the callback has no code")?;
    let http = http_client()?;
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await?;
    call_api(token.access_token().secret()).await
}

/// The query of the first request to the loopback listener, answered with a short page.
async fn callback(listener: &tokio::net::TcpListener) -> Result<String> {
    let (mut conn, _) = tokio::time::timeout(Duration::from_secs(60), listener.accept()).await??;
    let mut buf = vec![0u8; 8192];
    let n = conn.read(&mut buf).await?;
    let head = String::from_utf8_lossy(&buf[..n]);
    let target = head.split_whitespace().nth(1).unwrap_or("/");
    let query = target.split_once('?').map_or("", |(_, q)| q).to_string();
    conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nYou may close this window.\n")
        .await?;
    Ok(query)
}

async fn call_api(token: &str) -> Result<()> {
    let status = reqwest::Client::new()
        .get(var("OAUTH_HARNESS_API_URL")?)
        .bearer_auth(token)
        .send()
        .await?
        .status();
    println!("signed in; the API answered {}", status.as_u16());
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let flow = std::env::args().nth(1).unwrap_or_default();
    let done = match flow.as_str() {
        "device" => device().await,
        "code" => code().await,
        _ => Err("usage: oauth2_client device|code".into()),
    };
    match done {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
