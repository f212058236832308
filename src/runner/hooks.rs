//! Profile hooks: the user's part (approve or deny a user code, consent, revoke an app) and
//! a test clock, done by an HTTP request, a shell command, following redirects, or a person.
//!
//! A hook never produces a verdict by failing: a hook that cannot do its work (a command
//! that exits non-zero, prints nothing where it must print something, or times out; a
//! request that cannot be sent) is a [`HookError`], which the runner reports as an ERROR
//! of that step with the hook's own output. What the *server* answered is a response to
//! judge: a command reports it on its last line of output:
//! - `status NNN`: the server answered NNN (a refused user code, an error page that did
//!   not redirect);
//! - for consent, an absolute URL: the server redirected the browser there;
//! - nothing (approval, app revocation, clock): done, as a 200.

use crate::assert::Exchange;
use crate::runner::profile::{fill, fill_json, Hook};
use std::time::Duration;

pub use crate::runner::error::HookError;

/// What a hook is for; decides what its output must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Approve or deny a user code.
    Decide,
    /// Consent to (or refuse) an authorization request: the answer is the redirect.
    Consent,
    /// Revoke a connected app.
    RevokeApp,
    /// Move the clock.
    Clock,
}

impl Purpose {
    fn name(self) -> &'static str {
        match self {
            Purpose::Decide => "approval",
            Purpose::Consent => "consent",
            Purpose::RevokeApp => "revoke_app",
            Purpose::Clock => "clock",
        }
    }
}

/// The most a hook's output is quoted in a message.
const QUOTE: usize = 600;

/// Runs an `http` or `command` hook with `values` for its placeholders.
pub async fn run(
    http: &reqwest::Client,
    hook: &Hook,
    purpose: Purpose,
    values: &[(&str, &str)],
    timeout: Duration,
) -> Result<Exchange, HookError> {
    match hook {
        Hook::Http {
            method,
            url,
            json,
            headers,
        } => {
            let default = if purpose == Purpose::Consent {
                "GET"
            } else {
                "POST"
            };
            let method = method.clone().unwrap_or_else(|| default.into());
            let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                .map_err(|e| HookError(format!("{} hook: method {method}: {e}", purpose.name())))?;
            let url = environment(&fill(url, values, false), purpose, false)?;
            let mut req = http.request(m, &url).timeout(timeout);
            for (k, v) in headers {
                req = req.header(k, environment(&fill(v, values, false), purpose, false)?);
            }
            if let Some(j) = json {
                req = req.json(&fill_json(j, values));
            }
            let resp = req.send().await.map_err(|e| {
                HookError(format!(
                    "{} hook: {}",
                    purpose.name(),
                    crate::runner::http::describe_reqwest(&e)
                ))
            })?;
            crate::runner::http::to_exchange(resp)
                .await
                .map_err(|e| HookError(format!("{} hook: {e}", purpose.name())))
        }
        Hook::Command { run } => command(run, purpose, values, timeout).await,
        Hook::Follow { .. } | Hook::Manual { .. } | Hook::Form(_) | Hook::Browser(_) => {
            Err(HookError(format!(
                "a `{}` hook cannot be used for {}",
                match hook {
                    Hook::Follow { .. } => "follow",
                    Hook::Form(_) => "form",
                    Hook::Browser(_) => "browser",
                    _ => "manual",
                },
                purpose.name()
            )))
        }
    }
}

/// `${env.NAME}` in a hook: the environment variable NAME, which must be set. For a
/// command it becomes the shell's own `${NAME}` (the hook inherits the environment, so the
/// shell expands it and quotes it as the command says); elsewhere, its value.
fn environment(s: &str, purpose: Purpose, shell: bool) -> Result<String, HookError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("${env.") {
        let Some(len) = rest[at..].find('}') else {
            break;
        };
        let name = &rest[at + "${env.".len()..at + len];
        let value = std::env::var(name).map_err(|_| {
            HookError(format!(
                "the {} hook names ${{env.{name}}}, but the environment variable {name} is not set",
                purpose.name()
            ))
        })?;
        out.push_str(&rest[..at]);
        if shell {
            out.push_str(&format!("${{{name}}}"));
        } else {
            out.push_str(&value);
        }
        rest = &rest[at + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

async fn command(
    run: &str,
    purpose: Purpose,
    values: &[(&str, &str)],
    timeout: Duration,
) -> Result<Exchange, HookError> {
    let cmd = environment(&fill(run, values, true), purpose, true)?;
    let out = tokio::time::timeout(
        timeout,
        tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| {
        HookError(format!(
            "the {} hook did not finish within {} s",
            purpose.name(),
            timeout.as_secs()
        ))
    })?
    .map_err(|e| HookError(format!("the {} hook could not start: {e}", purpose.name())))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        let code = out
            .status
            .code()
            .map(|c| format!("exited with {c}"))
            .unwrap_or_else(|| "was killed by a signal".into());
        return Err(HookError(format!(
            "the {} hook {code}: {}",
            purpose.name(),
            quote(&format!("{stdout}{stderr}"))
        )));
    }
    let last = stdout
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("");
    if let Some(code) = last.strip_prefix("status ") {
        let status: u16 = code.trim().parse().map_err(|_| {
            HookError(format!(
                "the {} hook printed `{last}`: a status line is `status NNN`",
                purpose.name()
            ))
        })?;
        return Ok(Exchange {
            status,
            body: stdout,
            ..Exchange::default()
        });
    }
    match purpose {
        Purpose::Consent if last.starts_with("http://") || last.starts_with("https://") => {
            Ok(redirect(last))
        }
        Purpose::Consent => Err(HookError(format!(
            "the consent hook printed {}: it must print the URL the server redirected to, or `status NNN` when the server answered without redirecting",
            if last.is_empty() {
                "nothing".to_string()
            } else {
                format!("`{}`", quote(last))
            }
        ))),
        _ => Ok(Exchange {
            status: 200,
            body: stdout,
            ..Exchange::default()
        }),
    }
}

/// A redirect to `location`, as the browser saw it.
pub fn redirect(location: &str) -> Exchange {
    Exchange {
        status: 302,
        headers: vec![("location".into(), location.to_string())],
        ..Exchange::default()
    }
}

/// A hook's output, shortened, with the values of credential-named parameters
/// (`code=…`, `access_token=…`) blanked: the output of a failed hook is shown, and the
/// redactor may not know yet what it carries.
pub fn quote(text: &str) -> String {
    static PARAM: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)\b([a-z_]*(?:token|code|secret|verifier|password))=([^&\s\x22']+)")
            .unwrap_or_else(|_| unreachable!("a valid pattern"))
    });
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let blanked = PARAM.replace_all(&flat, "$1=[$1]");
    if blanked.chars().count() > QUOTE {
        format!("{}…", blanked.chars().take(QUOTE).collect::<String>())
    } else {
        blanked.into_owned()
    }
}

/// `follow`: opens the authorization URL with a cookie jar and follows the server's
/// redirects (an automatic test login and consent) until one leads to `redirect_uri`;
/// that redirect is the answer. A final answer of 4xx or 5xx is the server's answer to
/// judge (it did not redirect); stopping at a 2xx page means a person is needed.
pub async fn follow(
    start: &str,
    redirect_uri: Option<&str>,
    max: usize,
    timeout: Duration,
    tls: impl FnOnce(
        reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, crate::runner::error::TargetError>,
) -> Result<Exchange, HookError> {
    let stop_at = redirect_uri.map(str::to_string);
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        let target = attempt.url().as_str().to_string();
        if stop_at.as_deref().is_some_and(|r| target.starts_with(r)) {
            attempt.stop()
        } else if attempt.previous().len() >= max {
            attempt.error(format!("more than {max} redirects"))
        } else {
            attempt.follow()
        }
    });
    let builder = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(policy)
        .timeout(timeout);
    let http = tls(builder)
        .map_err(|e| HookError(e.to_string()))?
        .build()
        .map_err(|e| HookError(format!("cannot build an HTTP client: {e}")))?;
    let resp = http.get(start).send().await.map_err(|e| {
        HookError(format!(
            "follow: {}",
            crate::runner::http::describe_reqwest(&e)
        ))
    })?;
    let answered_directly = resp.url().as_str() == start;
    let ex = crate::runner::http::to_exchange(resp)
        .await
        .map_err(|e| HookError(format!("follow: {e}")))?;
    let reached = ex
        .header("location")
        .is_some_and(|l| redirect_uri.is_none_or(|r| l.starts_with(r)));
    if (300..400).contains(&ex.status) && reached {
        return Ok(ex);
    }
    // The authorization endpoint's own refusal (an error page for a bad redirect_uri) is
    // its answer to judge; a page further along the chain, or one that asks to sign in
    // (401, 403), is where the automation ended.
    if answered_directly && ex.status >= 400 && !matches!(ex.status, 401 | 403 | 407) {
        return Ok(ex);
    }
    Err(HookError(format!(
        "follow: the chain of redirects stopped at status {} without reaching the redirect_uri: the page may need a person (use a `manual` or `command` consent hook)",
        ex.status
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn consent(run: &str) -> Result<Exchange, HookError> {
        command(run, Purpose::Consent, &[], Duration::from_secs(5)).await
    }

    #[test]
    fn environment_references_reach_a_shell_as_its_own_variables_and_must_be_set() {
        // PATH is set wherever tests run.
        assert_eq!(
            environment("x ${env.PATH} y", Purpose::Consent, true)
                .ok()
                .as_deref(),
            Some("x ${PATH} y")
        );
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(
            environment("${env.PATH}/z", Purpose::Consent, false).ok(),
            Some(format!("{path}/z"))
        );
        let e = environment("${env.OAUTH_HARNESS_SURELY_UNSET_9}", Purpose::Decide, true)
            .expect_err("unset");
        assert!(
            e.0.contains("OAUTH_HARNESS_SURELY_UNSET_9 is not set"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_hook_that_fails_or_says_nothing_is_an_error_never_an_answer() {
        assert!(consent("true").await.is_err(), "empty output");
        assert!(consent("echo oops; exit 3").await.is_err(), "non-zero exit");
        assert!(consent("echo not-a-url").await.is_err(), "not a URL");
        let slow = command("sleep 5", Purpose::Decide, &[], Duration::from_millis(200)).await;
        assert!(slow.is_err(), "timeout");
    }

    #[tokio::test]
    async fn a_hook_reports_what_the_server_answered() {
        let ex = consent("echo https://web.example/cb?code=x").await;
        assert_eq!(ex.map(|e| e.status).ok(), Some(302));
        let ex = consent("echo 'status 400'").await;
        assert_eq!(ex.map(|e| e.status).ok(), Some(400));
        let ex = command("true", Purpose::Decide, &[], Duration::from_secs(5)).await;
        assert_eq!(ex.map(|e| e.status).ok(), Some(200));
        let ex = command(
            "echo status 404",
            Purpose::Decide,
            &[],
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(ex.map(|e| e.status).ok(), Some(404));
    }

    #[test]
    fn quoted_output_shows_no_credentials() {
        let q = quote("redirect https://x/cb?code=SECRET123&state=s access_token=abc");
        assert!(!q.contains("SECRET123") && !q.contains("abc"), "{q}");
        assert!(q.contains("state=s"), "{q}");
    }
}
