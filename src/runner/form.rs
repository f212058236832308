//! The `form` hook: the test user's browser without JavaScript, driven by a recipe
//! (issue #27). It keeps a cookie jar, follows the server's own redirects, parses each page
//! with html5ever (through `scraper`), and applies the first recipe step whose `on`
//! pattern matches the page's URL: fill fields (by name, id, label or CSS selector), check
//! boxes, choose options, then submit a form, press a button (by name, value or text; the
//! user's decision picks approve or deny) or follow a link. It goes on until:
//!
//! - a redirect leaves the server for the client (`redirect_uri`, or another origin): for
//!   consent, that redirect is the answer;
//! - a page that no step matches: the recipe is done (an error status is the server's
//!   answer; for consent a plain page with no redirect is an ERROR — the recipe stopped
//!   short, which is never taken for "the server did not redirect");
//! - the user's credentials come back: the sign-in page shown again right after the step
//!   that filled `{user.password}` is "sign-in refused" (an ERROR);
//! - the user code comes back: the code-entry page shown again right after the step that
//!   filled `{user_code}` is the server refusing the code (status 400, judged as a refusal).
//!
//! A step that matches a page but finds nothing to act on, a page that loops, and a chain
//! longer than [`MAX_PAGES`] are ERRORs naming the URL, the step, and the forms, fields,
//! buttons and links the page does have. Values are never quoted in a message: only names.

use crate::assert::Exchange;
use crate::runner::hooks::HookError;
use crate::runner::profile::fill;
pub use crate::runner::recipe::{Decision, Press, Recipe, RecipeStep};
use scraper::{ElementRef, Html, Selector};
use std::time::Duration;

/// The most pages one recipe visits.
pub const MAX_PAGES: usize = 30;

/// What the recipe is for: decides what its end means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Consent: the answer is the redirect to the client.
    Consent,
    /// Approval, denial, app revocation: done, or refused.
    Act,
}

/// Where the user's browser stops: the client's redirect URI, when known.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    /// The request's `redirect_uri`.
    pub redirect_uri: Option<String>,
}

/// A request the browser sends next.
#[derive(Debug)]
struct Next {
    method: reqwest::Method,
    url: url::Url,
    form: Option<Vec<(String, String)>>,
}

/// What one page leads to.
#[derive(Debug)]
enum Outcome {
    Send(Next),
    /// A `repeat` step found nothing more to do.
    Done,
}

/// Runs `recipe` from `start` with `values` for its placeholders.
pub async fn run(
    http: &reqwest::Client,
    recipe: &Recipe,
    start: &str,
    goal: Goal,
    stop: &Stop,
    values: &[(&str, &str)],
) -> Result<Exchange, HookError> {
    let compiled = Compiled::new(recipe, "form")?;
    let start = url::Url::parse(start)
        .map_err(|e| HookError(format!("form hook: the start URL is not a URL: {e}")))?;
    let origin = start.origin();
    let mut next = Next {
        method: reqwest::Method::GET,
        url: start,
        form: None,
    };
    let mut walk = Walk {
        goal,
        decision: decision(values),
        acted: None,
        any_acted: false,
        values,
    };
    for _ in 0..MAX_PAGES {
        let (ex, url) = send(http, &next, &origin, stop).await?;
        if (300..400).contains(&ex.status) {
            // A redirect the browser did not follow: it leaves the server.
            return Ok(match goal {
                Goal::Consent => ex,
                Goal::Act => Exchange { status: 200, ..ex },
            });
        }
        let (i, outcome) = {
            // The page, parsed once; not Send, it lives only in this block.
            let page = parse(&ex.body);
            let i = match compiled.visit(recipe, &page, &ex, &url, &walk) {
                Visit::Act(i) => i,
                Visit::End(end) => return end,
            };
            match act(&page, &url, &recipe.steps[i], i, values) {
                Ok(o) => (i, o),
                // An error page with nothing to act on is the server's answer (a bad
                // redirect_uri's page: judged); a sign-in form served with 401 is acted on.
                Err(_) if ex.status >= 400 => return Ok(ex),
                Err(e) => return Err(e),
            }
        };
        match outcome {
            Outcome::Done => return Ok(Exchange { status: 200, ..ex }),
            Outcome::Send(n) => next = n,
        }
        walk.acted = Some(i);
        walk.any_acted = true;
    }
    Err(HookError(format!(
        "form hook: more than {MAX_PAGES} pages without an end (the recipe loops)"
    )))
}

/// The user's decision among a hook's values.
pub(crate) fn decision(values: &[(&str, &str)]) -> Option<Decision> {
    values.iter().find_map(|(k, v)| match (*k, *v) {
        ("decision", "approve") => Some(Decision::Approve),
        ("decision", "deny") => Some(Decision::Deny),
        _ => None,
    })
}

/// What a recipe does with a page.
pub(crate) enum Visit {
    /// Acts on it with step `i`.
    Act(usize),
    /// Ends there: the answer, or an ERROR.
    End(Result<Exchange, HookError>),
}

/// Where a recipe's walk through the pages stands.
pub(crate) struct Walk<'a> {
    /// Consent, or an act.
    pub goal: Goal,
    /// The user's decision, if the hook has one.
    pub decision: Option<Decision>,
    /// The step that acted on the last page.
    pub acted: Option<usize>,
    /// Whether any step has acted yet.
    pub any_acted: bool,
    /// The placeholders' values.
    pub values: &'a [(&'a str, &'a str)],
}

/// A recipe's patterns, compiled once.
pub(crate) struct Compiled {
    patterns: Vec<regex::Regex>,
    texts: Vec<Option<regex::Regex>>,
}

impl Compiled {
    /// Checks and compiles the recipe's patterns, selectors and texts.
    pub(crate) fn new(recipe: &Recipe, kind: &str) -> Result<Compiled, HookError> {
        let re = |i: usize, field: &str, p: &str| {
            regex::Regex::new(p)
                .map_err(|e| HookError(format!("{kind} hook: steps[{i}].{field} `{p}`: {e}")))
        };
        let mut patterns = Vec::new();
        let mut texts = Vec::new();
        for (i, s) in recipe.steps.iter().enumerate() {
            patterns.push(re(i, "on", &s.on)?);
            texts.push(s.text.as_deref().map(|t| re(i, "text", t)).transpose()?);
            if let Some(h) = s.has.as_deref().filter(|h| selector(h).is_none()) {
                return Err(HookError(format!(
                    "{kind} hook: steps[{i}].has `{h}` is not a CSS selector"
                )));
            }
        }
        Ok(Compiled { patterns, texts })
    }

    /// The step for `page` (the body of `ex`, at `url`), or how the recipe ends there.
    pub(crate) fn visit(
        &self,
        recipe: &Recipe,
        page: &Html,
        ex: &Exchange,
        url: &url::Url,
        walk: &Walk<'_>,
    ) -> Visit {
        let Walk {
            goal,
            decision,
            acted,
            any_acted,
            values,
        } = *walk;
        let matched = {
            let text = self
                .texts
                .iter()
                .any(Option::is_some)
                .then(|| visible_text(page));
            (0..recipe.steps.len()).find(|&i| {
                let s = &recipe.steps[i];
                self.patterns[i].is_match(url.as_str())
                    && s.has
                        .as_deref()
                        .is_none_or(|h| select_one(page, h).is_some())
                    && s.when.is_none_or(|w| Some(w) == decision)
                    && self.texts[i]
                        .as_ref()
                        .is_none_or(|t| text.as_deref().is_some_and(|x| t.is_match(x)))
            })
        };
        tracing::debug!(
            url = %without_query(url),
            status = ex.status,
            step = ?matched,
            "recipe hook: a page"
        );
        let Some(i) = matched else {
            return Visit::End(finish(goal, ex.clone(), url, any_acted));
        };
        let step = &recipe.steps[i];
        if step.done && goal == Goal::Act {
            return Visit::End(Ok(Exchange {
                status: 200,
                ..ex.clone()
            }));
        }
        if acted == Some(i) && !step.repeat {
            return Visit::End(again(step, i, ex.clone(), url, values));
        }
        Visit::Act(i)
    }
}

/// Sends one request, following the server's own redirects (same origin, not the
/// client's redirect URI); the answer and the URL it came from.
async fn send(
    http: &reqwest::Client,
    next: &Next,
    origin: &url::Origin,
    stop: &Stop,
) -> Result<(Exchange, url::Url), HookError> {
    let mut method = next.method.clone();
    let mut url = next.url.clone();
    let mut form = next.form.clone();
    for _ in 0..20 {
        let mut req = http.request(method.clone(), url.clone());
        if let Some(f) = &form {
            req = req.form(f);
        }
        let resp = req.send().await.map_err(|e| {
            HookError(format!(
                "form hook: {method} {}: {}",
                without_query(&url),
                crate::runner::http::describe_reqwest(&e)
            ))
        })?;
        let ex = crate::runner::http::to_exchange(resp)
            .await
            .map_err(|e| HookError(format!("form hook: {e}")))?;
        let location = ex.header("location").map(str::to_string);
        let (true, Some(location)) = ((300..400).contains(&ex.status), location) else {
            return Ok((ex, url));
        };
        let target = url.join(&location).map_err(|e| {
            HookError(format!(
                "form hook: a redirect from {} to an invalid URL: {e}",
                without_query(&url)
            ))
        })?;
        let to_client = stop
            .redirect_uri
            .as_deref()
            .is_some_and(|r| target.as_str().starts_with(r));
        if to_client || target.origin() != *origin {
            return Ok((ex, url));
        }
        // 307 and 308 repeat the request; the others become a GET (RFC 9110 §15.4).
        if !matches!(ex.status, 307 | 308) {
            method = reqwest::Method::GET;
            form = None;
        }
        url = target;
    }
    Err(HookError(format!(
        "form hook: more than 20 redirects from {}",
        without_query(&next.url)
    )))
}

/// The end of the recipe on a page no step matches.
fn finish(
    goal: Goal,
    ex: Exchange,
    url: &url::Url,
    any_acted: bool,
) -> Result<Exchange, HookError> {
    if ex.status >= 400 {
        // The server's own answer (an error page): judged.
        return Ok(ex);
    }
    if goal == Goal::Consent || !any_acted {
        let page = parse(&ex.body);
        return Err(HookError(format!(
            "form hook: no recipe step matches the page at {} (status {}){}; {}",
            without_query(url),
            ex.status,
            if goal == Goal::Consent {
                ", and the server did not redirect to the client"
            } else {
                ""
            },
            describe(&page)
        )));
    }
    Ok(ex)
}

/// A step met its page again right after acting on it.
fn again(
    step: &RecipeStep,
    i: usize,
    ex: Exchange,
    url: &url::Url,
    values: &[(&str, &str)],
) -> Result<Exchange, HookError> {
    let fills = |placeholder: &str| step.fill.values().any(|v| v.contains(placeholder));
    let code = fills("{user_code}") && values.iter().any(|(k, _)| *k == "user_code");
    // A page that asks for both: 401 or 403 says the credentials were refused.
    if fills("{user.password}") && (!code || matches!(ex.status, 401 | 403)) {
        return Err(HookError(format!(
            "form hook: sign-in refused: the server showed the sign-in page ({}) again after \
             steps[{i}] submitted the user's credentials (is `user:` in the profile right?)",
            without_query(url)
        )));
    }
    if code {
        // The code-entry page again: the server refused the code (unknown, expired, used).
        let status = if ex.status >= 400 { ex.status } else { 400 };
        return Ok(Exchange { status, ..ex });
    }
    let page = parse(&ex.body);
    Err(HookError(format!(
        "form hook: the page loops: steps[{i}] (on `{}`) matched {} again right after acting \
         on it; {}",
        step.on,
        without_query(url),
        describe(&page)
    )))
}

/// What the step does on `page`: the next request, or done.
fn act(
    page: &Html,
    url: &url::Url,
    step: &RecipeStep,
    i: usize,
    values: &[(&str, &str)],
) -> Result<Outcome, HookError> {
    let fail = |what: String| {
        HookError(format!(
            "form hook: steps[{i}] (on `{}`) at {}: {what}; {}",
            step.on,
            without_query(url),
            describe(page)
        ))
    };
    let near = step.near.as_deref().map(|n| fill(n, values, false));
    if let Some(link) = &step.follow {
        return match find_link(page, link, near.as_deref()) {
            Some(href) => {
                let target = url
                    .join(&href)
                    .map_err(|e| fail(format!("link `{href}`: {e}")))?;
                Ok(Outcome::Send(Next {
                    method: reqwest::Method::GET,
                    url: target,
                    form: None,
                }))
            }
            None if step.repeat => Ok(Outcome::Done),
            None => Err(fail(format!(
                "no link `{link}`{}",
                near.map(|n| format!(" near `{n}`")).unwrap_or_default()
            ))),
        };
    }
    let forms = forms(page);
    let decision = values
        .iter()
        .find(|(k, _)| *k == "decision")
        .map(|(_, v)| *v);
    let press = match &step.press {
        None => None,
        Some(Press::One(b)) => Some(b.as_str()),
        Some(Press::ByDecision { approve, deny }) => Some(match decision {
            Some("deny") => deny.as_str(),
            _ => approve.as_str(),
        }),
    };
    // The form: the pressed button's, the filled fields', the one named, or the only one.
    let located = match (press, &step.submit) {
        (Some(b), _) => match find_button(page, &forms, b, near.as_deref()) {
            Some((f, b)) => Some((f, Some(b))),
            None if step.repeat => return Ok(Outcome::Done),
            None => {
                return Err(fail(format!(
                    "no button `{b}`{}",
                    near.map(|n| format!(" near `{n}`")).unwrap_or_default()
                )))
            }
        },
        (None, Some(sel)) => {
            let matched =
                select_one(page, sel).and_then(|e| forms.iter().position(|f| f.node == e.id()));
            match matched {
                Some(f) => Some((f, None)),
                None => return Err(fail(format!("no form `{sel}`"))),
            }
        }
        (None, None) => None,
    };
    let first_key = step
        .fill
        .keys()
        .chain(&step.check)
        .chain(step.choose.keys())
        .next();
    let (fi, button) = match (located, first_key) {
        (Some(l), _) => l,
        (None, Some(key)) => match find_field(page, &forms, key) {
            Some((f, _)) => (f, None),
            None => return Err(fail(format!("no field `{key}`"))),
        },
        (None, None) if forms.len() == 1 => (0, None),
        (None, None) => {
            return Err(fail(format!(
                "the step says neither what to press nor which form to submit, and the page has {} forms",
                forms.len()
            )))
        }
    };
    let mut fields = forms[fi].fields.clone();
    for (key, value) in &step.fill {
        let j = field_in(page, &forms[fi], key).ok_or_else(|| fail(format!("no field `{key}`")))?;
        fields[j].value = fill(value, values, false);
    }
    for key in &step.check {
        let j =
            field_in(page, &forms[fi], key).ok_or_else(|| fail(format!("no checkbox `{key}`")))?;
        fields[j].checked = true;
    }
    for (key, wanted) in &step.choose {
        let wanted = fill(wanted, values, false);
        choose(&mut fields, key, &wanted)
            .ok_or_else(|| fail(format!("no option `{wanted}` for `{key}`")))?;
    }
    let form = &forms[fi];
    let mut pairs: Vec<(String, String)> = fields
        .iter()
        .filter(|f| f.sent())
        .map(|f| (f.name.clone(), f.value.clone()))
        .collect();
    let mut action = form.action.clone();
    let mut method = form.method.clone();
    if let Some(b) = button.map(|b| &form.buttons[b]) {
        if let Some(name) = &b.name {
            pairs.push((name.clone(), b.value.clone()));
        }
        if let Some(a) = &b.formaction {
            action = Some(a.clone());
        }
        if let Some(m) = &b.formmethod {
            method = m.clone();
        }
    }
    let target = match action.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => url
            .join(a)
            .map_err(|e| fail(format!("form action `{a}`: {e}")))?,
        None => url.clone(),
    };
    if method.eq_ignore_ascii_case("get") {
        let mut target = target;
        target.set_query(None);
        target.query_pairs_mut().extend_pairs(&pairs);
        Ok(Outcome::Send(Next {
            method: reqwest::Method::GET,
            url: target,
            form: None,
        }))
    } else {
        Ok(Outcome::Send(Next {
            method: reqwest::Method::POST,
            url: target,
            form: Some(pairs),
        }))
    }
}

/// A form on a page, as a browser would submit it.
#[derive(Debug)]
struct PageForm {
    node: ego_tree::NodeId,
    method: String,
    action: Option<String>,
    fields: Vec<Field>,
    buttons: Vec<Button>,
}

#[derive(Debug, Clone)]
struct Field {
    node: ego_tree::NodeId,
    name: String,
    id: Option<String>,
    kind: String,
    value: String,
    checked: bool,
    disabled: bool,
    label: Option<String>,
    /// A select's options: value and text.
    options: Vec<(String, String)>,
}

impl Field {
    /// Whether a browser sends it (RFC-less but HTML's "constructing the entry list").
    fn sent(&self) -> bool {
        !self.disabled
            && !self.name.is_empty()
            && match self.kind.as_str() {
                "checkbox" | "radio" => self.checked,
                "submit" | "image" | "button" | "reset" | "file" => false,
                _ => true,
            }
    }
}

#[derive(Debug)]
struct Button {
    node: ego_tree::NodeId,
    name: Option<String>,
    value: String,
    text: String,
    formaction: Option<String>,
    formmethod: Option<String>,
}

/// A page as a browser without JavaScript builds it: `<noscript>` content is markup (a
/// "Continue" button for the user whose browser did not submit the form by script).
pub(crate) fn parse(body: &str) -> Html {
    use html5ever::tendril::TendrilSink;
    let mut opts = html5ever::driver::ParseOpts::default();
    opts.tree_builder.scripting_enabled = false;
    html5ever::driver::parse_document(scraper::HtmlTreeSink::new(Html::new_document()), opts)
        .one(body)
}

fn selector(s: &str) -> Option<Selector> {
    Selector::parse(s).ok()
}

fn select_one<'a>(page: &'a Html, css: &str) -> Option<ElementRef<'a>> {
    page.select(&selector(css)?).next()
}

fn text_of(e: &ElementRef<'_>) -> String {
    e.text()
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn same_text(a: &str, b: &str) -> bool {
    a.trim()
        .trim_end_matches(':')
        .trim()
        .eq_ignore_ascii_case(b.trim())
}

fn forms(page: &Html) -> Vec<PageForm> {
    let (Some(form_sel), Some(field_sel), Some(label_sel)) = (
        selector("form"),
        selector("input, select, textarea, button"),
        selector("label"),
    ) else {
        return Vec::new();
    };
    let option_sel = selector("option");
    let labels: Vec<(Option<String>, String, Vec<ego_tree::NodeId>)> = page
        .select(&label_sel)
        .map(|l| {
            let inner = l.descendent_elements().map(|d| d.id()).collect();
            (l.attr("for").map(str::to_string), text_of(&l), inner)
        })
        .collect();
    page.select(&form_sel)
        .map(|f| {
            let mut fields = Vec::new();
            let mut buttons = Vec::new();
            // Its controls: those inside it, and those elsewhere that name it with a
            // `form` attribute (HTML's form owner), in document order.
            let owner = f.attr("id");
            let controls: Vec<ElementRef<'_>> = page
                .select(&field_sel)
                .filter(|e| match e.attr("form") {
                    Some(id) => Some(id) == owner,
                    None => e.ancestors().any(|a| a.id() == f.id()),
                })
                .collect();
            for e in controls {
                let tag = e.value().name();
                let kind = match tag {
                    "input" => e.attr("type").unwrap_or("text").to_ascii_lowercase(),
                    "button" => e.attr("type").unwrap_or("submit").to_ascii_lowercase(),
                    other => other.to_string(),
                };
                if matches!(kind.as_str(), "submit" | "image") {
                    buttons.push(Button {
                        node: e.id(),
                        name: e.attr("name").map(str::to_string),
                        value: e.attr("value").unwrap_or("").to_string(),
                        text: if tag == "button" {
                            text_of(&e)
                        } else {
                            e.attr("value").unwrap_or("").to_string()
                        },
                        formaction: e.attr("formaction").map(str::to_string),
                        formmethod: e.attr("formmethod").map(str::to_string),
                    });
                    continue;
                }
                let id = e.attr("id").map(str::to_string);
                let label = labels
                    .iter()
                    .find(|(for_, _, inner)| {
                        for_.is_some() && *for_ == id || inner.contains(&e.id())
                    })
                    .map(|(_, t, _)| t.clone());
                let options: Vec<(String, String)> = match (tag, &option_sel) {
                    ("select", Some(os)) => e
                        .select(os)
                        .map(|o| {
                            let t = text_of(&o);
                            (
                                o.attr("value")
                                    .map(str::to_string)
                                    .unwrap_or_else(|| t.clone()),
                                t,
                            )
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                let value = match tag {
                    "textarea" => e.text().collect(),
                    "select" => option_sel
                        .as_ref()
                        .and_then(|os| {
                            e.select(os)
                                .find(|o| o.attr("selected").is_some())
                                .map(|o| {
                                    o.attr("value")
                                        .map(str::to_string)
                                        .unwrap_or_else(|| text_of(&o))
                                })
                        })
                        .or_else(|| options.first().map(|(v, _)| v.clone()))
                        .unwrap_or_default(),
                    _ if matches!(kind.as_str(), "checkbox" | "radio") => {
                        e.attr("value").unwrap_or("on").to_string()
                    }
                    _ => e.attr("value").unwrap_or("").to_string(),
                };
                fields.push(Field {
                    node: e.id(),
                    name: e.attr("name").unwrap_or("").to_string(),
                    id,
                    kind,
                    value,
                    checked: e.attr("checked").is_some(),
                    disabled: e.attr("disabled").is_some(),
                    label,
                    options,
                });
            }
            PageForm {
                node: f.id(),
                method: f.attr("method").unwrap_or("get").to_string(),
                action: f.attr("action").map(str::to_string),
                fields,
                buttons,
            }
        })
        .collect()
}

/// A field of `form` by name, id, label or CSS selector.
fn field_in(page: &Html, form: &PageForm, key: &str) -> Option<usize> {
    let by = |f: &Field| {
        f.name == key
            || f.id.as_deref() == Some(key)
            || f.label.as_deref().is_some_and(|l| same_text(l, key))
    };
    form.fields.iter().position(by).or_else(|| {
        let sel = selector(key)?;
        page.select(&sel)
            .find_map(|e| form.fields.iter().position(|f| f.node == e.id()))
    })
}

fn find_field(page: &Html, forms: &[PageForm], key: &str) -> Option<(usize, usize)> {
    forms
        .iter()
        .enumerate()
        .find_map(|(i, f)| field_in(page, f, key).map(|j| (i, j)))
}

fn find_button(
    page: &Html,
    forms: &[PageForm],
    key: &str,
    near: Option<&str>,
) -> Option<(usize, usize)> {
    let by = |b: &Button| {
        b.name.as_deref() == Some(key) || same_text(&b.value, key) || same_text(&b.text, key)
    };
    let mut found: Vec<(usize, usize, ego_tree::NodeId)> = forms
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            f.buttons
                .iter()
                .enumerate()
                .filter(|(_, b)| by(b))
                .map(move |(j, b)| (i, j, b.node))
        })
        .collect();
    if found.is_empty() {
        if let Some(sel) = selector(key) {
            found = page
                .select(&sel)
                .filter_map(|e| {
                    forms.iter().enumerate().find_map(|(i, f)| {
                        f.buttons
                            .iter()
                            .position(|b| b.node == e.id())
                            .map(|j| (i, j, e.id()))
                    })
                })
                .collect();
        }
    }
    let nodes: Vec<ElementRef<'_>> = found
        .iter()
        .filter_map(|(_, _, n)| page.tree.get(*n).and_then(ElementRef::wrap))
        .collect();
    let pick = closest(&nodes, near)?;
    found.get(pick).map(|(i, j, _)| (*i, *j))
}

/// Which of `elements` sits closest inside an element whose text names `near` as a whole
/// word: the parent first (a list item), then further out, so that a list naming every app
/// picks the right one. Without `near`, the first.
fn closest(elements: &[ElementRef<'_>], near: Option<&str>) -> Option<usize> {
    let Some(near) = near else {
        return (!elements.is_empty()).then_some(0);
    };
    let names = |text: &str| {
        text.split(|c: char| !(c.is_alphanumeric() || "-_.".contains(c)))
            .any(|w| w == near)
    };
    (1..=3).find_map(|depth| {
        elements.iter().position(|e| {
            e.ancestors()
                .filter_map(ElementRef::wrap)
                .nth(depth - 1)
                .is_some_and(|holder| names(&text_of(&holder)))
        })
    })
}

/// Chooses `wanted` (a value or an option's text) in the radio group or select `key`.
fn choose(fields: &mut [Field], key: &str, wanted: &str) -> Option<()> {
    if let Some(s) = fields
        .iter_mut()
        .find(|f| f.kind == "select" && (f.name == key || f.id.as_deref() == Some(key)))
    {
        let (v, _) = s
            .options
            .iter()
            .find(|(v, t)| v == wanted || same_text(t, wanted))?
            .clone();
        s.value = v;
        return Some(());
    }
    let radios: Vec<usize> = fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.kind == "radio" && f.name == key)
        .map(|(i, _)| i)
        .collect();
    let pick = radios.iter().copied().find(|i| {
        fields[*i].value == wanted
            || fields[*i]
                .label
                .as_deref()
                .is_some_and(|l| same_text(l, wanted))
    })?;
    for i in radios {
        fields[i].checked = i == pick;
    }
    Some(())
}

/// The href of a link by text (or CSS selector), inside an element whose text has `near`.
fn find_link(page: &Html, link: &str, near: Option<&str>) -> Option<String> {
    let a = selector("a[href]")?;
    let links: Vec<ElementRef<'_>> = page
        .select(&a)
        .filter(|e| same_text(&text_of(e), link))
        .chain(
            selector(link)
                .into_iter()
                .flat_map(|s| page.select(&s).collect::<Vec<_>>()),
        )
        .collect();
    links
        .get(closest(&links, near)?)
        .and_then(|e| e.attr("href").map(str::to_string))
}

/// The forms, fields, buttons and links of a page, by name (never a value), for a
/// message that says what the recipe could have matched.
pub(crate) fn describe(page: &Html) -> String {
    let forms = forms(page);
    let mut parts: Vec<String> = forms
        .iter()
        .map(|f| {
            let fields: Vec<String> = f
                .fields
                .iter()
                .filter(|x| x.kind != "hidden")
                .map(|x| {
                    let mut s = if x.name.is_empty() {
                        format!("#{}", x.id.clone().unwrap_or_default())
                    } else {
                        x.name.clone()
                    };
                    if let Some(l) = &x.label {
                        s.push_str(&format!(" (label \"{l}\")"));
                    }
                    s
                })
                .collect();
            let buttons: Vec<String> = f
                .buttons
                .iter()
                .map(|b| {
                    format!(
                        "\"{}\"",
                        if b.text.is_empty() {
                            b.name.clone().unwrap_or_default()
                        } else {
                            b.text.clone()
                        }
                    )
                })
                .collect();
            format!(
                "form {} {}: fields [{}], buttons [{}]",
                f.method.to_ascii_uppercase(),
                f.action.as_deref().unwrap_or("(this page)"),
                fields.join(", "),
                buttons.join(", ")
            )
        })
        .collect();
    if let Some(a) = selector("a[href]") {
        let links: Vec<String> = page
            .select(&a)
            .map(|e| format!("\"{}\"", text_of(&e)))
            .filter(|t| t.len() > 2)
            .take(12)
            .collect();
        if !links.is_empty() {
            parts.push(format!("links [{}]", links.join(", ")));
        }
    }
    if parts.is_empty() {
        "the page has no form and no link".to_string()
    } else {
        format!("the page has: {}", parts.join("; "))
    }
}

/// A page's visible text (of its body, whitespace collapsed).
fn visible_text(page: &Html) -> String {
    selector("body")
        .and_then(|b| page.select(&b).next().map(|b| text_of(&b)))
        .unwrap_or_default()
}

/// A URL without its query and fragment (they may carry a code or a state).
pub(crate) fn without_query(u: &url::Url) -> String {
    let mut u = u.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// A client with a cookie jar that follows no redirect itself (the recipe does).
pub fn client(
    timeout: Duration,
    tls: impl FnOnce(
        reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, crate::runner::error::TargetError>,
) -> Result<reqwest::Client, HookError> {
    let b = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout);
    tls(b)
        .map_err(|e| HookError(e.to_string()))?
        .build()
        .map_err(|e| HookError(format!("cannot build an HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGIN: &str = r#"<html><body>
      <form method="post" action="/login?next=/x" id="login">
        <input type="hidden" name="csrf" value="t0k">
        <label for="u">Username</label><input id="u" name="username">
        <label>Password <input type="password" name="password"></label>
        <input type="checkbox" name="remember">
        <select name="lang"><option value="en">English</option><option value="fr" selected>French</option></select>
        <input type="radio" name="mode" value="a" checked><input type="radio" name="mode" value="b">
        <button type="submit" name="go" value="1">Sign in</button>
        <input type="submit" value="Cancel" name="cancel">
        <input name="off" value="x" disabled>
      </form>
      <ul><li>web (<a href="/revoke/1">revoke</a>)</li><li>tv (<a href="/revoke/2">revoke</a>)</li></ul>
    </body></html>"#;

    fn step(yaml: &str) -> RecipeStep {
        serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{e}"))
    }

    fn next(yaml: &str, values: &[(&str, &str)]) -> Result<Next, String> {
        let page = parse(LOGIN);
        let url = url::Url::parse("http://as.test/login?next=/x").map_err(|e| e.to_string())?;
        match act(&page, &url, &step(yaml), 0, values).map_err(|e| e.0)? {
            Outcome::Send(n) => Ok(n),
            Outcome::Done => Err("done".into()),
        }
    }

    #[test]
    fn fields_are_found_by_name_id_label_and_selector_and_sent_as_a_browser_would() {
        let n = next(
            "{on: login, fill: {Username: '{user.username}', password: '{user.password}'}, check: [remember], choose: {mode: b, lang: English}, press: Sign in}",
            &[("user.username", "alice"), ("user.password", "pw")],
        )
        .expect("next");
        assert_eq!(n.method, reqwest::Method::POST);
        assert_eq!(n.url.as_str(), "http://as.test/login?next=/x");
        let form = n.form.expect("form");
        let got: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            [
                ("csrf", "t0k"),
                ("username", "alice"),
                ("password", "pw"),
                ("remember", "on"),
                ("lang", "en"),
                ("mode", "b"),
                ("go", "1"),
            ]
        );
        let by_selector = next(
            "{on: login, fill: {'#u': bob}, press: 'input[name=cancel]'}",
            &[],
        )
        .expect("next");
        let form = by_selector.form.expect("form");
        assert!(form.contains(&("username".into(), "bob".into())));
        assert!(form.contains(&("cancel".into(), "Cancel".into())));
        assert!(!form.iter().any(|(k, _)| k == "go" || k == "off"));
    }

    #[test]
    fn the_decision_picks_the_button_and_links_are_found_near_their_text() {
        let press = "{on: login, press: {approve: Sign in, deny: Cancel}}";
        let approve = next(press, &[("decision", "approve")])
            .expect("next")
            .form
            .expect("form");
        assert!(approve.contains(&("go".into(), "1".into())));
        let deny = next(press, &[("decision", "deny")])
            .expect("next")
            .form
            .expect("form");
        assert!(deny.contains(&("cancel".into(), "Cancel".into())));
        let link = next(
            "{on: x, follow: revoke, near: '{client}'}",
            &[("client", "tv")],
        )
        .expect("next");
        assert_eq!(link.url.as_str(), "http://as.test/revoke/2");
        assert_eq!(link.method, reqwest::Method::GET);
    }

    #[test]
    fn a_browser_without_javascript_sees_noscript_and_buttons_outside_their_form() {
        // oidc-provider's pages: a form that submits itself by script, with a <noscript>
        // button; and buttons outside the form that name it with `form=`.
        let page = parse(
            r#"<form method="post" action="/cb"><input type="hidden" name="x" value="1">
            <noscript><button type="submit">Continue</button></noscript></form>
            <form id="f2" method="post" action="/device"><input type="hidden" name="confirm" value="yes"></form>
            <button type="submit" form="f2">Go</button>
            <button type="submit" form="f2" name="abort" value="yes">[ Abort ]</button>"#,
        );
        let url = url::Url::parse("http://as.test/device").expect("url");
        let press = |b: &str| match act(
            &page,
            &url,
            &step(&format!("{{on: x, press: '{b}'}}")),
            0,
            &[],
        ) {
            Ok(Outcome::Send(n)) => (n.url.path().to_string(), n.form.unwrap_or_default()),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            press("Continue"),
            ("/cb".to_string(), vec![("x".into(), "1".into())])
        );
        assert_eq!(
            press("Go"),
            (
                "/device".to_string(),
                vec![("confirm".into(), "yes".into())]
            )
        );
        let (_, abort) = press("[ Abort ]");
        assert!(abort.contains(&("abort".into(), "yes".into())), "{abort:?}");
    }

    #[test]
    fn near_names_a_whole_word_so_web_is_not_web2() {
        let page = parse(
            r#"<ul><li>web2 <form method="post" action="/r/2"><button>Revoke</button></form></li>
            <li>web <form method="post" action="/r/1"><button>Revoke</button></form></li></ul>"#,
        );
        let url = url::Url::parse("http://as.test/apps").expect("url");
        let s = step("{on: apps, press: Revoke, near: '{client}'}");
        match act(&page, &url, &s, 0, &[("client", "web")]) {
            Ok(Outcome::Send(n)) => assert_eq!(n.url.path(), "/r/1"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_step_that_matches_nothing_names_the_page_and_never_a_value() {
        for (yaml, missing) in [
            ("{on: login, fill: {email: x}}", "no field `email`"),
            ("{on: login, press: Authorize}", "no button `Authorize`"),
            ("{on: login, follow: delete}", "no link `delete`"),
        ] {
            let e = next(yaml, &[]).expect_err(yaml);
            assert!(e.contains(missing), "{e}");
            assert!(e.contains("at http://as.test/login: "), "{e}");
            assert!(e.contains("fields [username (label \"Username\"), password (label \"Password\"), remember, lang, mode, mode, off]"), "{e}");
            assert!(e.contains("buttons [\"Sign in\", \"Cancel\"]"), "{e}");
            assert!(!e.contains("t0k"), "a hidden value in {e}");
        }
        // A repeating step that finds nothing more is done.
        assert_eq!(
            next("{on: x, follow: delete, repeat: true}", &[]).expect_err("done"),
            "done"
        );
    }
}
