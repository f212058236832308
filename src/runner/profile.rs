//! Target profiles: how to reach a live authorization server (`--target FILE.yaml`).
//!
//! A profile names the base URL, where the endpoints are (given, or discovered from RFC 8414
//! metadata), the body encoding the server prefers, where the secrets come from (environment
//! variables: profiles never hold secrets), and hooks that act as the user (approve or deny
//! a user code, consent to an authorization request, revoke an app) or move a test clock.
//! Placeholders in hooks: `{base}`, `{user_code}`, `{user}`, `{query}`, `{url}`,
//! `{seconds}`, `{client}`.

use crate::scenario::inputs::Inputs;
use crate::scenario::model::Capability;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// A target profile file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// A name for reports.
    pub name: String,
    /// Base URL; `${env.X}` is expanded.
    pub base_url: String,
    /// Read endpoints from `{base_url}/.well-known/oauth-authorization-server`.
    #[serde(default)]
    pub discovery: bool,
    /// Endpoint name → path or URL (overrides discovery).
    #[serde(default)]
    pub endpoints: BTreeMap<String, String>,
    /// Encoding for `body:` requests: `form` (RFC servers) or `json` (Noorle).
    #[serde(default)]
    pub encoding: BodyEncoding,
    /// Secret name → environment variable that holds it.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Approve / deny a user code.
    pub approval: Option<ApprovalHooks>,
    /// Consent to an authorization request; must yield the final redirect.
    pub consent: Option<Hook>,
    /// Move the server's clock (test servers only).
    pub clock: Option<Hook>,
    /// Revoke a connected app as the user.
    pub revoke_app: Option<Hook>,
    /// Further capabilities the server has (`refresh`, `registration`, `device_flow`).
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// Request timeout in seconds.
    #[serde(default = "timeout")]
    pub timeout_seconds: u64,
    /// TLS settings.
    #[serde(default)]
    pub tls: Tls,
    /// Allow plain `http` to a host that is not loopback (CLIENT-17: refused otherwise).
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Which `aud` the target accepts in client assertions (conformance matrix §24.2 #1):
    /// `legacy` (RFC 7523 §3 item 3 and RFC 9126 §2: issuer, token endpoint URL and PAR
    /// endpoint URL) or `issuer-only` (draft-ietf-oauth-rfc7523bis, adopted by OAuth 2.1:
    /// the issuer as the sole value). Absent: by the contract (`issuer-only` under
    /// `oauth21`, whose -16 §2.4 adopts rfc7523bis; `legacy` otherwise).
    #[serde(default)]
    pub jwt_aud: Option<JwtAud>,
    /// OAuth 2.1's exception to PKCE (draft -16 §7.5.1.1): the target lets a confidential
    /// client that uses the OpenID Connect `nonce` omit `code_challenge` (OAUTH21-1/-2).
    #[serde(default)]
    pub oidc_nonce_exception: bool,
    /// What a rotated refresh token's reuse means on this target (matrix §23).
    #[serde(default)]
    pub rt_reuse: RtReuse,
    /// Races (matrix §23) run against the target only when its profile says so: N
    /// concurrent requests, R rounds. Off by default: a race is a burst of load.
    pub race: Option<RaceSettings>,
    /// A URL (or a path on `base_url`) that approves, as the test user, the authorization
    /// request given in its query and answers with the authorization response's redirect
    /// (as the builtin's `/_test/authorize`): RACE-9 asks it for one pushed request N
    /// times at once.
    pub race_hook: Option<String>,
    /// A URL the target can reach the harness at (`http://HOST:PORT`), where the harness
    /// publishes the public keys of its signing roles while the run lasts
    /// (`{jwks_uri_base}/pkj-uri/jwks.json`, matrix §20 `pkj-uri`): registration gives
    /// the `pkj-uri` role that `jwks_uri` (RFC 7591 §2). It listens on the URL's port,
    /// on the loopback interface when the URL names it. `${env.X}` is expanded.
    pub jwks_uri_base: Option<String>,
    /// The target binds client assertions as OpenID Connect Core §9 says ("These tokens
    /// MUST only be used once"; "jti REQUIRED"), where RFC 7523 §3 item 7 says MAY
    /// (matrix §24.2 #2).
    #[serde(default)]
    pub oidc_client_auth: bool,
    /// The token endpoint takes DPoP proofs and binds tokens (RFC 9449 §5); metadata with
    /// `dpop_signing_alg_values_supported` says so too.
    #[serde(default)]
    pub dpop: bool,
    /// The protected resources take the `DPoP` scheme (RFC 9449 §7).
    #[serde(default)]
    pub dpop_rs: bool,
    /// The authorization endpoint takes `dpop_jkt` (RFC 9449 §10).
    #[serde(default)]
    pub dpop_jkt: bool,
    /// The private key DPoP proofs are signed with (`J`), a JWK file relative to the
    /// profile; the fixture `fixtures/keys/J.jwk` when neither this nor `dpop_key_env` is
    /// given.
    pub dpop_key_file: Option<String>,
    /// … or the environment variable that holds it.
    pub dpop_key_env: Option<String>,
    /// The key read from one of them when the profile loads.
    #[serde(skip)]
    pub dpop_key: Option<std::sync::Arc<crate::jose::SigningKey>>,
    /// Where the target demands DPoP nonces: `none` (the default), `as` (token endpoint and
    /// PAR, §8), `rs` (resources, §9) or `both`.
    #[serde(default)]
    pub dpop_nonce: crate::server::dpop::NoncePolicy,
    /// Which contract the server is held to by default: `rfc` (the standards), `noorle`
    /// (also what Noorle's docs promise) or `oauth21` (the standards with OAuth 2.1's
    /// levels, matrix §22). `--expect` overrides it.
    #[serde(default)]
    pub contract: Contract,
    /// How much faster than real time the server's clock runs (a test server started with
    /// `oauth-harness serve --time-scale N`); load profiles wait intervals and lifetimes
    /// scaled down by it. 1 for any real server.
    #[serde(default = "one")]
    pub time_scale: u32,
    /// Without a `clock` hook: wait out an `advance_clock` of at most this many seconds in
    /// real time, so that expiry scenarios run against a server given short lifetimes.
    /// A longer advance skips the rest of its scenario, with the reason.
    #[serde(default)]
    pub wait_for_expiry: Option<u64>,
    /// The issuer identifier (RFC 8414 §2), when it is not `base_url`: discovery reads the
    /// metadata at the well-known URL it implies and uses it only if its `issuer` is this,
    /// exactly (RFC 8414 §3.3).
    pub issuer: Option<String>,
    /// The target's clients in the suite's roles, or `register` to register them with
    /// RFC 7591 at the start of the run (and delete them with RFC 7592 at the end).
    #[serde(default)]
    pub clients: Clients,
    /// The scopes the suite asks for, by role (`basic`, `second`, `forbidden`): what a
    /// client may ask for, apart from any protected resource.
    #[serde(default)]
    pub scopes: BTreeMap<String, String>,
    /// The protected resources the suite calls, by name (`me`, `items`, `admin`). A target
    /// without a protected API maps none: only the scenarios that call one are SKIPPED.
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceSpec>,
    /// Parameters added to every authorization request (matrix §15 #15: an OpenID Connect
    /// server may want `prompt: consent` before it honours `offline_access`).
    #[serde(default)]
    pub authorization_params: BTreeMap<String, String>,
    /// Lifetimes, in seconds, the target gives (`authorization_code`, `access_token`,
    /// `refresh_token_idle`), so that expiry scenarios know how long to wait.
    #[serde(default)]
    pub lifetimes: BTreeMap<String, u64>,
    /// Where the target documents its PKCE support, when its metadata does not advertise
    /// it (RFC 9700 §2.1.1: clients must be able to detect it; matrix BCP-6): a URL or a
    /// path on `base_url`.
    pub pkce_documentation: Option<String>,
    /// The user account scenarios sign in as on the target's own pages (`${user.username}`,
    /// `${user.password}`).
    pub user: Option<UserSpec>,
}

/// A user account on the target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// The login name (`${env.X}` is expanded).
    pub username: String,
    /// The environment variable that holds its password (profiles never hold secrets).
    pub password_env: Option<String>,
}

/// The target's clients in the suite's roles.
#[derive(Debug, Clone, Default)]
pub enum Clients {
    /// Each role mapped to a client the target already has (roles not listed are not
    /// available: scenarios that need them are SKIPPED).
    Mapped(BTreeMap<String, ClientSpec>),
    /// Register every role that registration can make (RFC 7591) when the run starts.
    Register,
    /// No roles.
    #[default]
    None,
}

impl<'de> Deserialize<'de> for Clients {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_yaml::Value::deserialize(d)? {
            serde_yaml::Value::String(s) if s == "register" => Ok(Clients::Register),
            serde_yaml::Value::Null => Ok(Clients::None),
            v @ serde_yaml::Value::Mapping(_) => serde_yaml::from_value(v)
                .map(Clients::Mapped)
                .map_err(serde::de::Error::custom),
            _ => Err(serde::de::Error::custom(
                "clients: `register`, or a mapping of role names to {id, secret_env, redirect_uris}",
            )),
        }
    }
}

/// One role's client on the target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// The client id (`${env.X}` is expanded).
    pub id: String,
    /// The environment variable that holds its secret (profiles never hold secrets).
    pub secret_env: Option<String>,
    /// Its registered redirect URIs, in the order the role describes.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// `private_key_jwt` roles: a file holding the client's private JWK (the key `K`
    /// whose public half the target registered), relative to the profile.
    pub key_file: Option<String>,
    /// … or the environment variable that holds it.
    pub key_env: Option<String>,
    /// The key read from either, when the profile loads.
    #[serde(skip)]
    pub key: Option<std::sync::Arc<crate::jose::SigningKey>>,
}

/// A protected resource on the target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    /// An absolute URL, or a path on `base_url`.
    pub url: Option<String>,
    /// The scope a token needs there: the scope role's (`me` needs `basic`, `items`
    /// `second`, `admin` `forbidden`), for profiles that do not say `scopes:`.
    pub scope: Option<String>,
}

fn one() -> u32 {
    1
}

/// How races run against a target (matrix §24.4): N requests at once, R rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaceSettings {
    /// Requests at once (default 16).
    #[serde(default = "race_n")]
    pub n: u32,
    /// Rounds, each with a fresh artefact (default 5).
    #[serde(default = "race_rounds")]
    pub rounds: u32,
}

/// How many requests race when neither the step nor the target says (matrix §17a).
fn race_n() -> u32 {
    16
}

/// How many rounds a scenario with a race runs when neither it nor the target says.
fn race_rounds() -> u32 {
    5
}

impl Default for RaceSettings {
    fn default() -> Self {
        RaceSettings {
            n: race_n(),
            rounds: race_rounds(),
        }
    }
}

/// The lifetime `${lifetime.refresh_token_grace}` scenarios read: the window of a
/// profile's `rt_reuse: grace:<s>`, or of the builtin's reuse-window policy.
pub(crate) const GRACE_LIFETIME: &str = "refresh_token_grace";

/// What the target does when a rotated refresh token is presented again (matrix §23,
/// §24.2 #4): `strict` (the default: every reuse is replay, RFC 9700 §4.14.2), `grace:<s>`
/// (the target documents a reuse window of s seconds, as Amazon Cognito, Curity and
/// django-oauth-toolkit can; no RFC allows one), `bound` (sender-constrained refresh
/// tokens, REF-8: the rotation races do not apply).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RtReuse {
    /// Every reuse is replay.
    #[default]
    Strict,
    /// A documented window, seconds.
    Grace(u64),
    /// Sender-constrained refresh tokens.
    Bound,
}

impl std::str::FromStr for RtReuse {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "rt_reuse: `{text}`: expected `strict`, `bound` or `grace:<seconds>` (e.g. `grace:60`)"
            )
        };
        match text {
            "strict" => Ok(RtReuse::Strict),
            "bound" => Ok(RtReuse::Bound),
            other => {
                let secs = other.strip_prefix("grace:").ok_or_else(bad)?;
                secs.trim().parse().map(RtReuse::Grace).map_err(|_| bad())
            }
        }
    }
}

impl<'de> Deserialize<'de> for RtReuse {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The audience rules of client assertions a target follows (matrix §24.2 #1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JwtAud {
    /// RFC 7523 §3 item 3 and RFC 9126 §2.
    #[default]
    Legacy,
    /// draft-ietf-oauth-rfc7523bis.
    IssuerOnly,
}

pub use crate::contract::Contract;

fn timeout() -> u64 {
    30
}

/// Body encoding preference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyEncoding {
    /// `application/x-www-form-urlencoded`.
    #[default]
    Form,
    /// `application/json`.
    Json,
}

/// TLS options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Accept any certificate (self-signed test servers only).
    #[serde(default)]
    pub insecure: bool,
    /// A PEM file of extra trusted CA certificates.
    pub ca_file: Option<String>,
}

/// The CA certificates of a PEM file (`tls.ca_file`, `--ca-file`): a file that cannot be
/// read or holds none is refused before anything runs, never trusted as nothing.
pub(crate) fn ca_certificates(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("{shown}: cannot read the file: {e}"))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("{shown}: not a PEM certificate bundle: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "{shown}: holds no certificate (expected `-----BEGIN CERTIFICATE-----` blocks)"
        ));
    }
    Ok(certs)
}

/// The approval hooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalHooks {
    /// Approves `{user_code}`.
    pub approve: Hook,
    /// Denies `{user_code}`.
    pub deny: Option<Hook>,
}

/// A hook: an HTTP request or a shell command.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
pub enum Hook {
    /// An HTTP request to the server's test or admin API.
    Http {
        /// Method (default POST; consent defaults to GET).
        method: Option<String>,
        /// URL with placeholders.
        url: String,
        /// A JSON body with placeholders in its strings.
        json: Option<serde_json::Value>,
        /// Headers with placeholders.
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
    /// A shell command (`sh -c`). Exit 0 reads as status 200, anything else as 400 (refused);
    /// for consent, its last line of output is the final redirect URL, and no output means
    /// that no redirect happened.
    Command {
        /// The command with placeholders (values are shell-quoted).
        run: String,
    },
    /// Consent only: open the authorization URL with a cookie jar and follow the server's
    /// redirects (an automatic test login and consent) until one leads to the request's
    /// `redirect_uri`; that redirect is the answer.
    Follow {
        /// Most redirects to follow.
        #[serde(default = "max_redirects")]
        max_redirects: usize,
    },
    /// The test user's browser without JavaScript: a cookie jar, the server's redirects,
    /// and a recipe of steps applied to the server's own pages by URL (fill, check,
    /// choose, submit, press, follow); `docs/scenarios.md`, "Hooks".
    Form(crate::runner::recipe::Recipe),
    /// The same recipe in real headless Chromium, for pages that need JavaScript (no
    /// Chromium: the hook gives no capability, and its scenarios are SKIPPED saying why).
    Browser(crate::runner::recipe::Recipe),
    /// Ask a person: print the URL or user code on the terminal. For consent, read the
    /// final redirect URL from standard input, within `timeout_seconds`.
    Manual {
        /// How long to wait for the person.
        #[serde(default = "manual_timeout")]
        timeout_seconds: u64,
    },
}

fn max_redirects() -> usize {
    20
}

fn manual_timeout() -> u64 {
    300
}

/// A profile that could not be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ProfileError {
    /// The file.
    pub path: String,
    /// What is wrong (with line and column from the parser when it has them).
    pub message: String,
}

/// The private key a role's client signs its assertions with (`key_file`, relative to the
/// profile at `path`, or `key_env`), or the field at fault and why. The key's text is
/// never quoted.
fn read_role_key(
    path: &Path,
    role: &str,
    spec: &ClientSpec,
) -> Result<Option<std::sync::Arc<crate::jose::SigningKey>>, (&'static str, String)> {
    let fields = ("key_file", "key_env");
    let Some((field, text)) = read_key_text(path, (&spec.key_file, &spec.key_env), fields)? else {
        return Ok(None);
    };
    if crate::scenario::roles::role(role).is_some_and(|r| !r.signs) {
        return Err((field, format!("role `{role}` does not sign client assertions; only private_key_jwt roles (pkj) have a key")));
    }
    crate::jose::SigningKey::from_jwk(&text)
        .map(|k| Some(std::sync::Arc::new(k)))
        .map_err(|e| (field, format!("not a usable private JWK: {e}")))
}

/// The text of a private key given as a file (relative to the profile at `path`) or an
/// environment variable, with the field it came from; `None` when neither is given.
fn read_key_text(
    path: &Path,
    (file, env): (&Option<String>, &Option<String>),
    (file_field, env_field): (&'static str, &'static str),
) -> Result<Option<(&'static str, String)>, (&'static str, String)> {
    match (file, env) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err((
            env_field,
            format!("give `{file_field}` or `{env_field}`, not both"),
        )),
        (Some(file), None) => {
            let full = path.parent().map_or_else(|| file.into(), |d| d.join(file));
            let text = std::fs::read_to_string(&full).map_err(|e| {
                (
                    file_field,
                    format!("{}: cannot read the file: {e}", full.display()),
                )
            })?;
            Ok(Some((file_field, text)))
        }
        (None, Some(var)) => {
            let text = std::env::var(var)
                .map_err(|_| (env_field, format!("environment variable {var} is not set")))?;
            Ok(Some((env_field, text)))
        }
    }
}

/// The profile with each `${NAME}` replaced by its value given from outside; an error
/// `LINE:COL: …` for a name not given.
fn substitute(profile: Profile, text: &str, given: &Inputs) -> Result<Profile, String> {
    let mut any = text.contains("$${");
    for m in PROFILE_REF.captures_iter(text) {
        let (Some(whole), Some(expr)) = (m.get(0), m.get(1)) else {
            continue;
        };
        let expr = expr.as_str().trim();
        if whole.as_str().starts_with("$$") || !bare(expr) {
            continue;
        }
        if !given.contains(expr) {
            let before = &text[..whole.start()];
            let line = before.matches('\n').count() + 1;
            let col = before
                .rfind('\n')
                .map_or(before.len(), |nl| before.len() - nl - 1)
                + 1;
            return Err(format!(
                "{line}:{col}: undefined variable `{expr}` (give it with --var, --vars-file, \
                 --secrets-file or {}{expr}; in a hook's `run:`, a shell variable is written \
                 `$${{{expr}}}` or `${expr}`, and `${{env.{expr}}}` is the environment's)",
                crate::scenario::inputs::ENV_PREFIX
            ));
        }
        any = true;
    }
    if !any {
        return Ok(profile);
    }
    // The text parsed as a profile already: as a YAML value it parses too.
    let mut value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    replace_strings(&mut value, &|s: &str| {
        PROFILE_REF
            .replace_all(s, |c: &regex::Captures| {
                let whole = c.get(0).map_or("", |m| m.as_str());
                let expr = c.get(1).map_or("", |m| m.as_str()).trim();
                if whole.starts_with("$$") {
                    // `$${NAME}`: a literal `${NAME}`, for the shell.
                    return whole[1..].to_string();
                }
                match (bare(expr), given.text(expr)) {
                    (true, Some(v)) => v,
                    _ => whole.to_string(),
                }
            })
            .into_owned()
    });
    serde_yaml::from_value(value).map_err(|e| format!("after substituting variables: {e}"))
}

/// `${NAME}`, or its escape `$${NAME}` (a literal `${NAME}`, for a hook's shell).
static PROFILE_REF: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    // The pattern is a constant; a failure here is a build defect caught by every test.
    regex::Regex::new(r"\$?\$\{([^}]*)\}").unwrap_or_else(|e| panic!("profile reference: {e}"))
});

/// Whether `${expr}` in a profile is one of the run's variables (not `env.`, `secret.` or
/// a helper call, which are read later).
fn bare(expr: &str) -> bool {
    !expr.starts_with("env.") && !expr.starts_with("secret.") && !expr.contains('(')
}

fn replace_strings(v: &mut serde_yaml::Value, f: &dyn Fn(&str) -> String) {
    match v {
        serde_yaml::Value::String(s) => *s = f(s),
        serde_yaml::Value::Sequence(items) => items.iter_mut().for_each(|i| replace_strings(i, f)),
        serde_yaml::Value::Mapping(m) => m.iter_mut().for_each(|(_, i)| replace_strings(i, f)),
        serde_yaml::Value::Tagged(t) => replace_strings(&mut t.value, f),
        _ => {}
    }
}

impl Profile {
    /// Reads a profile.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        Profile::load_with(path, &Inputs::default())
    }

    /// Reads a profile whose `${NAME}` are the variables `given` from outside (`--var`,
    /// `--vars-file`, `--secrets-file`, `OAUTH_HARNESS_VAR_NAME`); `${env.X}` and
    /// `${secret.X}` are left for later. A name not given is an error at its line.
    pub fn load_with(path: &Path, given: &Inputs) -> Result<Profile, ProfileError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
            path: p.clone(),
            message: format!("cannot read the file: {e}"),
        })?;
        let profile: Profile = serde_yaml::from_str(&text).map_err(|e| {
            let (line, col, msg) = crate::scenario::spans::yaml_error(&e, &text);
            ProfileError {
                path: p.clone(),
                message: format!("{line}:{col}: {msg}"),
            }
        })?;
        let profile = substitute(profile, &text, given).map_err(|message| ProfileError {
            path: p.clone(),
            message,
        })?;
        if let Clients::Mapped(m) = &profile.clients {
            for role in m.keys() {
                if crate::scenario::roles::role(role).is_none() {
                    return Err(ProfileError {
                        path: p,
                        message: format!(
                            "clients: unknown role `{role}` (roles: {})",
                            crate::scenario::roles::ROLES
                                .iter()
                                .map(|r| r.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                }
            }
        }
        let mut profile = profile;
        if let Clients::Mapped(m) = &mut profile.clients {
            let spans =
                crate::scenario::spans::SpanIndex::new(std::sync::Arc::from(p.as_str()), &text);
            for (role, spec) in m.iter_mut() {
                spec.key = read_role_key(path, role, spec).map_err(|(field, message)| {
                    use crate::scenario::spans::Seg;
                    let at = spans.loc(&[Seg::Key("clients"), Seg::Key(role), Seg::Key(field)]);
                    ProfileError {
                        path: p.clone(),
                        message: format!(
                            "{}:{}: clients.{role}.{field}: {message}",
                            at.line, at.col
                        ),
                    }
                })?;
            }
        }
        // The DPoP key (J), read now: a key that cannot sign is exit 2 at its field.
        let fields = ("dpop_key_file", "dpop_key_env");
        let read = read_key_text(
            path,
            (&profile.dpop_key_file, &profile.dpop_key_env),
            fields,
        )
        .and_then(|found| match found {
            None => Ok(None),
            Some((field, text)) => crate::jose::SigningKey::from_jwk(&text)
                .map(|k| Some(std::sync::Arc::new(k)))
                .map_err(|e| (field, format!("not a usable private JWK: {e}"))),
        });
        match read {
            Ok(key) => profile.dpop_key = key,
            Err((field, message)) => {
                use crate::scenario::spans::Seg;
                let spans =
                    crate::scenario::spans::SpanIndex::new(std::sync::Arc::from(p.as_str()), &text);
                let at = spans.loc(&[Seg::Key(field)]);
                return Err(ProfileError {
                    path: p,
                    message: format!("{}:{}: {field}: {message}", at.line, at.col),
                });
            }
        }
        // A literal URL is checked now (one from the environment when the run starts).
        if let Some(base) = profile
            .jwks_uri_base
            .as_deref()
            .filter(|b| !b.contains("${"))
        {
            if let Err(message) = crate::runner::jwks_host::bind_address(base) {
                use crate::scenario::spans::Seg;
                let spans =
                    crate::scenario::spans::SpanIndex::new(std::sync::Arc::from(p.as_str()), &text);
                let at = spans.loc(&[Seg::Key("jwks_uri_base")]);
                return Err(ProfileError {
                    path: p,
                    message: format!("{}:{}: jwks_uri_base: {message}", at.line, at.col),
                });
            }
        }
        for kind in profile.lifetimes.keys() {
            if kind == GRACE_LIFETIME {
                return Err(ProfileError {
                    path: p,
                    message: format!(
                        "lifetimes: `{kind}` is declared as `rt_reuse: grace:<seconds>` (a reuse window is a deviation the target documents, matrix §23)"
                    ),
                });
            }
            if !crate::scenario::roles::LIFETIMES
                .iter()
                .any(|(k, _)| k == kind)
            {
                return Err(ProfileError {
                    path: p,
                    message: format!(
                        "lifetimes: unknown lifetime `{kind}` (known: {})",
                        crate::scenario::roles::LIFETIMES
                            .iter()
                            .map(|(k, _)| *k)
                            .filter(|k| *k != GRACE_LIFETIME)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        let unknown = |field: &str, name: &str, known: Vec<&str>| ProfileError {
            path: p.clone(),
            message: format!(
                "{field}: unknown {} `{name}` (known: {})",
                if field == "scopes" {
                    "scope role"
                } else {
                    "resource"
                },
                known.join(", ")
            ),
        };
        use crate::scenario::roles::{resource, scope_role, RESOURCES, SCOPES};
        if let Some(name) = profile.scopes.keys().find(|n| scope_role(n).is_none()) {
            return Err(unknown(
                "scopes",
                name,
                SCOPES.iter().map(|s| s.name).collect(),
            ));
        }
        if let Some(name) = profile.resources.keys().find(|n| resource(n).is_none()) {
            return Err(unknown(
                "resources",
                name,
                RESOURCES.iter().map(|r| r.name).collect(),
            ));
        }
        if let Some(ca) = &profile.tls.ca_file {
            // Relative to the profile's folder, like every path a file names.
            let ca = path
                .parent()
                .map(|d| d.join(ca))
                .unwrap_or_else(|| ca.into());
            ca_certificates(&ca).map_err(|m| ProfileError {
                path: p.clone(),
                message: format!("tls.ca_file: {m}"),
            })?;
            profile.tls.ca_file = Some(ca.display().to_string());
        }
        for name in profile.endpoints.keys() {
            if crate::endpoint::Endpoint::from_name(name).is_none() {
                return Err(ProfileError {
                    path: p,
                    message: format!(
                        "endpoints: unknown endpoint name `{name}` (known: {})",
                        crate::endpoint::Endpoint::names().join(", ")
                    ),
                });
            }
        }
        Ok(profile)
    }

    /// What the profile lets scenarios do.
    /// The audience rules of client assertions: the profile's, else its contract's.
    pub fn jwt_aud(&self) -> JwtAud {
        self.jwt_aud.unwrap_or(match self.contract {
            Contract::Oauth21 => JwtAud::IssuerOnly,
            Contract::Rfc | Contract::Noorle => JwtAud::Legacy,
        })
    }

    pub fn capabilities(&self) -> Vec<Capability> {
        let mut c = self.capabilities.clone();
        // A browser hook without a Chromium to run it gives nothing (`browser_missing`).
        let usable = |h: &Hook| {
            !matches!(h, Hook::Browser(_)) || crate::runner::chromium::chromium().is_ok()
        };
        if let Some(a) = self.approval.as_ref().filter(|a| usable(&a.approve)) {
            c.push(Capability::Approve);
            if a.deny.as_ref().is_some_and(usable) {
                c.push(Capability::Deny);
            }
        }
        if let Some(hook) = self.consent.as_ref().filter(|h| usable(h)) {
            c.push(Capability::Consent);
            // Refusing needs a hook that is told the decision; `follow` only follows.
            let refuses = match hook {
                Hook::Http { url, json, .. } => {
                    url.contains("{decision}")
                        || json
                            .as_ref()
                            .is_some_and(|j| j.to_string().contains("{decision}"))
                }
                Hook::Command { run } => run.contains("{decision}"),
                Hook::Manual { .. } => true,
                // A recipe refuses when it presses a button per decision.
                Hook::Form(r) | Hook::Browser(r) => r.steps.iter().any(|s| {
                    matches!(
                        s.press,
                        Some(crate::runner::recipe::Press::ByDecision { .. })
                    ) || s.when == Some(crate::runner::recipe::Decision::Deny)
                        || s.fill.values().any(|v| v.contains("{decision}"))
                }),
                Hook::Follow { .. } => false,
            };
            if refuses {
                c.push(Capability::RefuseConsent);
            }
        }
        if self.clock.is_some() {
            c.push(Capability::Clock);
        }
        if self.oidc_nonce_exception {
            c.push(Capability::OidcNonceException);
        }
        c.push(match self.jwt_aud() {
            JwtAud::Legacy => Capability::JwtAudLegacy,
            JwtAud::IssuerOnly => Capability::JwtAudIssuerOnly,
        });
        if self.oidc_client_auth {
            c.push(Capability::OidcClientAuth);
        }
        for (on, cap) in [
            (self.dpop, Capability::Dpop),
            (self.dpop_rs, Capability::DpopRs),
            (self.dpop_jkt, Capability::DpopJkt),
        ] {
            if on {
                c.push(cap);
            }
        }
        {
            use crate::server::dpop::NoncePolicy;
            if matches!(self.dpop_nonce, NoncePolicy::As | NoncePolicy::Both) {
                c.push(Capability::DpopNonceAs);
            }
            if matches!(self.dpop_nonce, NoncePolicy::Rs | NoncePolicy::Both) {
                c.push(Capability::DpopNonceRs);
            }
        }
        if self.race.is_some() {
            c.push(Capability::Race);
        }
        if self.race_hook.is_some() {
            c.push(Capability::RaceHook);
        }
        match self.rt_reuse {
            RtReuse::Strict => c.push(Capability::RtReuseStrict),
            RtReuse::Grace(_) => c.push(Capability::RtReuseGrace),
            RtReuse::Bound => {}
        }
        if self.revoke_app.as_ref().is_some_and(usable) {
            c.push(Capability::RevokeApp);
        }
        c
    }

    /// Why the profile's `type: browser` hooks cannot run here, if it has any and no
    /// Chromium is installed: said beside the capabilities their scenarios lack.
    pub fn browser_missing(&self) -> Option<String> {
        let hooks = [
            self.consent.as_ref(),
            self.revoke_app.as_ref(),
            self.approval.as_ref().map(|a| &a.approve),
            self.approval.as_ref().and_then(|a| a.deny.as_ref()),
        ];
        let any = hooks
            .iter()
            .flatten()
            .any(|h| matches!(h, Hook::Browser(_)));
        if any {
            crate::runner::chromium::chromium().err()
        } else {
            None
        }
    }
}

/// Substitutes `{name}` placeholders; `quote` shell-quotes the values (for commands).
pub(crate) fn fill(template: &str, values: &[(&str, &str)], quote: bool) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        let v = if quote {
            format!("'{}'", v.replace('\'', "'\\''"))
        } else {
            (*v).to_string()
        };
        out = out.replace(&format!("{{{k}}}"), &v);
    }
    out
}

/// [`fill`] on every string of a JSON value.
pub(crate) fn fill_json(v: &serde_json::Value, values: &[(&str, &str)]) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) => {
            let filled = fill(s, values, false);
            // `"{seconds}"` becomes a number when the whole string was one numeric placeholder.
            match filled.parse::<f64>() {
                Ok(n) if s.starts_with('{') && s.ends_with('}') => serde_json::json!(n),
                _ => serde_json::Value::String(filled),
            }
        }
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.iter().map(|x| fill_json(x, values)).collect())
        }
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), fill_json(x, values)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_quoted_for_shells() {
        assert_eq!(
            fill(
                "{base}/x?c={user_code}",
                &[("base", "http://h"), ("user_code", "AB-CD")],
                false
            ),
            "http://h/x?c=AB-CD"
        );
        assert_eq!(
            fill("approve {user_code}", &[("user_code", "a'b")], true),
            "approve 'a'\\''b'"
        );
        let v = fill_json(
            &serde_json::json!({"seconds": "{seconds}", "s": "x{seconds}"}),
            &[("seconds", "5")],
        );
        assert_eq!(v, serde_json::json!({"seconds": 5.0, "s": "x5"}));
    }

    fn profile_with(hook_run: &str, vars: &[String]) -> Result<Profile, String> {
        let text = format!(
            "name: p\nbase_url: http://127.0.0.1:1\nconsent: {{type: command, run: '{hook_run}'}}\n"
        );
        let parsed: Profile = serde_yaml::from_str(&text).map_err(|e| e.to_string())?;
        let sources = crate::scenario::inputs::Sources {
            vars,
            vars_files: &[],
            secrets_files: &[],
        };
        let given =
            Inputs::gather(&sources, Vec::<(String, String)>::new()).map_err(|e| e.to_string())?;
        substitute(parsed, &text, &given)
    }

    fn run_of(p: &Profile) -> String {
        match &p.consent {
            Some(Hook::Command { run }) => run.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_shell_variable_in_a_hook_is_written_with_two_dollars() {
        // `$${NAME}` reaches the shell as `${NAME}`; `$NAME` and `${env.NAME}` are left for
        // later (the hook runner turns the latter into the shell's own `${NAME}`).
        let p = profile_with(
            "my-consent $${MY_HOOKS:?unset}/x $HOME ${env.HOOKS} {url}",
            &[],
        )
        .expect("profile");
        assert_eq!(
            run_of(&p),
            "my-consent ${MY_HOOKS:?unset}/x $HOME ${env.HOOKS} {url}"
        );
        // A harness input is substituted; its escape is not.
        let p = profile_with("a ${tenant} $${tenant}", &["tenant=acme".into()]).expect("profile");
        assert_eq!(run_of(&p), "a acme ${tenant}");
        // An undefined one says how to write a shell variable.
        let e = profile_with("my-consent ${MY_HOOKS:?unset}", &[]).expect_err("undefined");
        assert!(e.starts_with("3:"), "{e}");
        assert!(e.contains("`$${MY_HOOKS:?unset}`"), "{e}");
    }
}
