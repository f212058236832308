//! The `browser` hook: the same recipe as `form` (`runner::form`), played in real headless
//! Chromium for sign-in pages that need JavaScript (issue #27). The harness starts a
//! fresh Chromium per hook (its own profile folder, on loopback), speaks the DevTools
//! protocol to it over a WebSocket, and for each page that has settled picks the recipe's
//! step exactly as `form` does; the step's fields, buttons and links are then found and
//! used in the page itself (the same rules: name, id, label or CSS selector; a button's
//! name, value or text), so the page's own scripts run as for a person.
//!
//! The redirect to the client's `redirect_uri` is caught before it leaves the browser
//! (the Fetch domain pauses it): that URL is consent's answer. Where no Chromium is
//! installed, a profile's browser hooks give no capability, and their scenarios are
//! SKIPPED saying why.

use crate::assert::Exchange;
use crate::runner::form::{self, Goal, Recipe, Stop, Visit, MAX_PAGES};
use crate::runner::hooks::HookError;
use crate::runner::profile::fill;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;
use tokio_tungstenite::tungstenite::Message;

pub use crate::runner::chromium::chromium;

/// A Chromium process and a DevTools session on one page of it.
struct Browser {
    child: tokio::process::Child,
    profile: std::path::PathBuf,
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    session: String,
    next_id: u64,
    events: std::collections::VecDeque<Value>,
}

fn err(what: impl std::fmt::Display) -> HookError {
    HookError(format!("browser hook: {what}"))
}

impl Browser {
    async fn launch(timeout: Duration) -> Result<Browser, HookError> {
        let exe = chromium().map_err(HookError)?;
        let profile = std::env::temp_dir().join(format!(
            "oauth-harness-chromium-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        let mut child = tokio::process::Command::new(&exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| err(format!("cannot start {}: {e}", exe.display())))?;
        let stderr = child.stderr.take().ok_or_else(|| err("no stderr"))?;
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let endpoint = tokio::time::timeout(timeout, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    return Some(url.trim().to_string());
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| err("Chromium did not open its DevTools endpoint"))?;
        // Keep reading its stderr so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (ws, _) = tokio_tungstenite::connect_async(endpoint.as_str())
            .await
            .map_err(|e| err(format!("DevTools: {e}")))?;
        let mut b = Browser {
            child,
            profile,
            ws,
            session: String::new(),
            next_id: 0,
            events: Default::default(),
        };
        let target = b
            .browser_call("Target.createTarget", json!({"url": "about:blank"}))
            .await?;
        let target_id = target["targetId"].as_str().unwrap_or_default().to_string();
        let attached = b
            .browser_call(
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
            )
            .await?;
        b.session = attached["sessionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for domain in ["Page.enable", "Network.enable", "Runtime.enable"] {
            b.call(domain, json!({})).await?;
        }
        Ok(b)
    }

    async fn send(
        &mut self,
        method: &str,
        params: Value,
        session: bool,
    ) -> Result<Value, HookError> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if session {
            msg["sessionId"] = json!(self.session);
        }
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .map_err(|e| err(format!("DevTools: {e}")))?;
        loop {
            let m = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .map_err(|_| err(format!("no answer to {method}")))?
                .ok_or_else(|| err("Chromium closed DevTools"))?
                .map_err(|e| err(format!("DevTools: {e}")))?;
            let Message::Text(text) = m else { continue };
            let v: Value = serde_json::from_str(&text).map_err(err)?;
            if v["id"] == json!(id) {
                if let Some(e) = v.get("error") {
                    return Err(err(format!("{method}: {}", e["message"])));
                }
                return Ok(v["result"].clone());
            }
            if v.get("method").is_some() {
                self.events.push_back(v);
            }
        }
    }

    async fn browser_call(&mut self, method: &str, params: Value) -> Result<Value, HookError> {
        self.send(method, params, false).await
    }

    async fn call(&mut self, method: &str, params: Value) -> Result<Value, HookError> {
        self.send(method, params, true).await
    }

    /// Evaluates `expr` in the page; its value.
    async fn eval(&mut self, expr: &str) -> Result<Value, HookError> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            )
            .await?;
        if let Some(e) = r.get("exceptionDetails") {
            return Err(err(format!("a script failed: {}", e["text"])));
        }
        Ok(r["result"]["value"].clone())
    }

    /// Takes the events received so far, and those arriving within `wait`.
    async fn drain(&mut self, wait: Duration) -> Vec<Value> {
        let deadline = Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match tokio::time::timeout(left, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    if let Ok(v) = serde_json::from_str::<Value>(&text) {
                        self.events.push_back(v);
                    }
                }
                Ok(Some(Ok(_))) => {}
                _ => break,
            }
        }
        self.events.drain(..).collect()
    }

    async fn close(mut self) {
        let _ = self.browser_call("Browser.close", json!({})).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// What a settled page gives the recipe, or the redirect to the client.
enum Settled {
    Page { ex: Exchange, url: url::Url },
    Redirect(String),
}

/// Waits until the page has loaded and stopped moving (scripts that submit a form or
/// redirect run first); a paused request to the client's redirect URI ends the wait.
async fn settle(b: &mut Browser, timeout: Duration) -> Result<Settled, HookError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut status = 200u16;
    let mut last_href = String::new();
    let mut quiet = 0;
    while Instant::now() < deadline {
        for e in b.drain(Duration::from_millis(150)).await {
            match e["method"].as_str() {
                Some("Fetch.requestPaused") => {
                    let url = e["params"]["request"]["url"]
                        .as_str()
                        .unwrap_or("")
                        .to_string();
                    let id = e["params"]["requestId"].clone();
                    let _ = b
                        .call(
                            "Fetch.failRequest",
                            json!({"requestId": id, "errorReason": "Aborted"}),
                        )
                        .await;
                    return Ok(Settled::Redirect(url));
                }
                Some("Network.responseReceived") if e["params"]["type"] == "Document" => {
                    status = e["params"]["response"]["status"].as_u64().unwrap_or(200) as u16;
                }
                _ => {}
            }
        }
        // The page the last step acted on carries a mark: a new document has none. A page
        // that changes in place (no navigation) counts as new after a while.
        let state = b
            .eval("JSON.stringify([document.readyState, location.href, !!window.__oauthHarnessActed])")
            .await
            .unwrap_or(Value::Null);
        let (ready, href, old) =
            serde_json::from_str::<(String, String, bool)>(state.as_str().unwrap_or(""))
                .unwrap_or_default();
        let moved_on = !old || started.elapsed() > Duration::from_secs(2);
        if ready == "complete" && moved_on && href == last_href && href != "about:blank" {
            quiet += 1;
            if quiet >= 2 {
                let body = b
                    .eval("document.documentElement.outerHTML")
                    .await?
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                let url = url::Url::parse(&href).map_err(|e| err(format!("{href}: {e}")))?;
                return Ok(Settled::Page {
                    ex: Exchange {
                        status,
                        headers: vec![("content-type".into(), "text/html".into())],
                        json: None,
                        body,
                    },
                    url,
                });
            }
        } else {
            quiet = 0;
            last_href = href;
        }
    }
    Err(err(format!(
        "the page did not settle within {} s",
        timeout.as_secs()
    )))
}

/// One hook's run: the recipe, where it starts, what it is for.
#[derive(Debug)]
pub struct Task<'a> {
    /// The recipe.
    pub recipe: &'a Recipe,
    /// The first URL.
    pub start: &'a str,
    /// Consent, or an act.
    pub goal: Goal,
    /// The client's redirect URI, for consent.
    pub stop: &'a Stop,
    /// The placeholders' values.
    pub values: &'a [(&'a str, &'a str)],
    /// How long a page may take to settle.
    pub timeout: Duration,
}

/// Runs the task's recipe in a fresh Chromium.
pub async fn run(task: Task<'_>) -> Result<Exchange, HookError> {
    let compiled = form::Compiled::new(task.recipe, "browser")?;
    let mut b = Browser::launch(task.timeout).await?;
    let result = drive(&mut b, &compiled, &task).await;
    b.close().await;
    result
}

async fn drive(
    b: &mut Browser,
    compiled: &form::Compiled,
    task: &Task<'_>,
) -> Result<Exchange, HookError> {
    let Task {
        recipe,
        start,
        goal,
        stop,
        values,
        timeout,
    } = *task;
    if let Some(r) = &stop.redirect_uri {
        let pattern = format!("{}*", r.replace('*', "\\*").replace('?', "\\?"));
        b.call(
            "Fetch.enable",
            json!({"patterns": [{"urlPattern": pattern, "requestStage": "Request"}]}),
        )
        .await?;
    }
    b.call("Page.navigate", json!({"url": start})).await?;
    let mut walk = form::Walk {
        goal,
        decision: form::decision(values),
        acted: None,
        any_acted: false,
        values,
    };
    for _ in 0..MAX_PAGES {
        let (ex, url) = match settle(b, timeout).await? {
            Settled::Redirect(to) => {
                let status = if goal == Goal::Consent { 302 } else { 200 };
                return Ok(Exchange {
                    status,
                    headers: vec![("location".into(), to)],
                    ..Exchange::default()
                });
            }
            Settled::Page { ex, url } => (ex, url),
        };
        let visit = compiled.visit(recipe, &form::parse(&ex.body), &ex, &url, &walk);
        let i = match visit {
            Visit::Act(i) => i,
            Visit::End(end) => return end,
        };
        let step = &recipe.steps[i];
        let op = operation(step, values);
        let answer = b
            .eval(&format!(
                "(window.__oauthHarnessActed = true, ({ACT})({op}))"
            ))
            .await?;
        match answer["outcome"].as_str() {
            Some("acted") => {}
            Some("done") => return Ok(Exchange { status: 200, ..ex }),
            _ if ex.status >= 400 => return Ok(ex),
            _ => {
                let page = form::parse(&ex.body);
                return Err(err(format!(
                    "steps[{i}] (on `{}`) at {}: {}; {}",
                    step.on,
                    form::without_query(&url),
                    answer["error"].as_str().unwrap_or("the step could not act"),
                    form::describe(&page)
                )));
            }
        }
        walk.acted = Some(i);
        walk.any_acted = true;
    }
    Err(err(format!(
        "more than {MAX_PAGES} pages without an end (the recipe loops)"
    )))
}

/// The step as data for [`ACT`], its placeholders filled.
fn operation(step: &form::RecipeStep, values: &[(&str, &str)]) -> Value {
    let f = |s: &str| fill(s, values, false);
    let press = match &step.press {
        None => Value::Null,
        Some(form::Press::One(b)) => json!(f(b)),
        Some(form::Press::ByDecision { approve, deny }) => {
            json!(f(if form::decision(values) == Some(form::Decision::Deny) {
                deny
            } else {
                approve
            }))
        }
    };
    json!({
        "fill": step.fill.iter().map(|(k, v)| [f(k), f(v)]).collect::<Vec<_>>(),
        "check": step.check.iter().map(|k| f(k)).collect::<Vec<_>>(),
        "choose": step.choose.iter().map(|(k, v)| [f(k), f(v)]).collect::<Vec<_>>(),
        "press": press,
        "submit": step.submit.as_deref().map(f),
        "follow": step.follow.as_deref().map(f),
        "near": step.near.as_deref().map(f),
        "repeat": step.repeat,
    })
}

/// The step's actions in the page, by the rules `form` uses: `{outcome: "acted"}`,
/// `{outcome: "done"}` (a repeating step found nothing more), or `{error}`.
const ACT: &str = r#"function (op) {
  const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const same = (a, b) => norm(a).replace(/:$/, '').trim().toLowerCase() === norm(b).toLowerCase();
  const qs = (sel) => { try { return [...document.querySelectorAll(sel)]; } catch (e) { return []; } };
  const controls = () => [...document.querySelectorAll('input, select, textarea')];
  const field = (k) => {
    const c = controls();
    return c.find((e) => e.name === k) || c.find((e) => e.id === k)
      || c.find((e) => e.labels && [...e.labels].some((l) => same(l.textContent, k)))
      || qs(k)[0];
  };
  const names = (text, n) => norm(text).split(/[^\p{L}\p{N}\-_.]+/u).includes(n);
  const closest = (els) => {
    if (!op.near) return els[0];
    for (let depth = 1; depth <= 3; depth++) {
      const hit = els.find((e) => {
        let h = e;
        for (let d = 0; d < depth && h; d++) h = h.parentElement;
        return h && names(h.textContent, op.near);
      });
      if (hit) return hit;
    }
    return undefined;
  };
  const nothing = (what) => (op.repeat ? { outcome: 'done' } : { error: what + (op.near ? ' near `' + op.near + '`' : '') });
  const fire = (e) => { e.dispatchEvent(new Event('input', { bubbles: true })); e.dispatchEvent(new Event('change', { bubbles: true })); };
  for (const [k, v] of op.fill) {
    const f = field(k);
    if (!f) return { error: 'no field `' + k + '`' };
    f.focus(); f.value = v; fire(f);
  }
  for (const k of op.check) {
    const f = field(k);
    if (!f) return { error: 'no checkbox `' + k + '`' };
    f.checked = true; fire(f);
  }
  for (const [k, v] of op.choose) {
    const sel = controls().find((e) => e.tagName === 'SELECT' && (e.name === k || e.id === k));
    if (sel) {
      const o = [...sel.options].find((o) => o.value === v || same(o.textContent, v));
      if (!o) return { error: 'no option `' + v + '` for `' + k + '`' };
      sel.value = o.value; fire(sel); continue;
    }
    const r = controls().find((e) => e.type === 'radio' && e.name === k
      && (e.value === v || (e.labels && [...e.labels].some((l) => same(l.textContent, v)))));
    if (!r) return { error: 'no option `' + v + '` for `' + k + '`' };
    r.checked = true; fire(r);
  }
  if (op.follow) {
    const links = [...document.querySelectorAll('a[href]')].filter((a) => same(a.textContent, op.follow));
    const a = closest(links.length ? links : qs(op.follow));
    if (!a) return nothing('no link `' + op.follow + '`');
    a.click(); return { outcome: 'acted' };
  }
  if (op.press) {
    const buttons = [...document.querySelectorAll('button, input[type=submit], input[type=image]')]
      .filter((b) => b.tagName !== 'BUTTON' || (b.getAttribute('type') || 'submit').toLowerCase() === 'submit');
    const by = buttons.filter((b) => b.name === op.press || same(b.value, op.press) || same(b.textContent, op.press));
    const b = closest(by.length ? by : qs(op.press));
    if (!b) return nothing('no button `' + op.press + '`');
    b.click(); return { outcome: 'acted' };
  }
  let form;
  if (op.submit) {
    form = qs(op.submit)[0];
    if (!form) return { error: 'no form `' + op.submit + '`' };
  } else if (op.fill.length) {
    form = field(op.fill[0][0]).form;
  } else {
    const forms = [...document.forms];
    if (forms.length !== 1) return { error: 'the step says neither what to press nor which form to submit, and the page has ' + forms.length + ' forms' };
    form = forms[0];
  }
  if (!form) return { error: 'the filled field is in no form' };
  form.requestSubmit ? form.requestSubmit() : form.submit();
  return { outcome: 'acted' };
}"#;
