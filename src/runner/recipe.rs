//! A `form` or `browser` hook's recipe as a profile writes it: where the test user starts
//! and what they do on each page (data only; [`form`](super::form) and
//! [`browser`](super::browser) carry it out). A leaf of `runner/`, so the profile that holds
//! recipes stands below the hooks that run them.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A recipe: where the user starts and what they do on each page.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// The first URL, with placeholders (`{base}/o/device/`); consent starts at the
    /// authorization request's `{url}` unless it says otherwise.
    pub start: Option<String>,
    /// The steps, each applied to the pages whose URL its `on` pattern matches.
    pub steps: Vec<RecipeStep>,
}

/// What the user does on a page.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeStep {
    /// A regular expression searched in the page's URL (`/accounts/login/`).
    pub on: String,
    /// Only a page that has this (a CSS selector): for servers that show two pages at
    /// one URL (`input[type=password]` for the sign-in form).
    pub has: Option<String>,
    /// Only when the user's decision is this (`approve` or `deny`): for a server whose
    /// refusal is a link and whose consent a button.
    pub when: Option<Decision>,
    /// Only a page whose visible text this regular expression finds.
    pub text: Option<String>,
    /// The page is the end: the user's part is done (the page a server shows after the
    /// user acted, when it looks like one the recipe acts on).
    #[serde(default)]
    pub done: bool,
    /// Fields to fill: a name, an id, a label's text or a CSS selector → a value with
    /// placeholders (`{user.username}`, `{user.password}`, `{user_code}`).
    #[serde(default)]
    pub fill: BTreeMap<String, String>,
    /// Checkboxes to check (name, id, label or selector).
    #[serde(default)]
    pub check: Vec<String>,
    /// Radio groups or selects → the option to choose (its value or its text).
    #[serde(default)]
    pub choose: BTreeMap<String, String>,
    /// Submit this form (a CSS selector) without pressing a button.
    pub submit: Option<String>,
    /// Press a submit button (its name, value or text, or a CSS selector), or one per
    /// decision: `{approve: Authorize, deny: Cancel}`.
    pub press: Option<Press>,
    /// Follow a link (its text, or a CSS selector) instead of submitting a form.
    pub follow: Option<String>,
    /// Only the button or link inside an element whose text names this, as a whole word
    /// (`{client}`: the list item of one app among many).
    pub near: Option<String>,
    /// The step may act on page after page (revoking each of an app's grants in turn);
    /// when it finds nothing more to act on, the recipe is done.
    #[serde(default)]
    pub repeat: bool,
}

/// The user's decision a step is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Consent, or approve a user code.
    Approve,
    /// Refuse, or deny a user code.
    Deny,
}

/// The button to press.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Press {
    /// One button, whatever the decision.
    One(String),
    /// A button per decision.
    ByDecision {
        /// Pressed to approve (or consent).
        approve: String,
        /// Pressed to deny (or refuse).
        deny: String,
    },
}
