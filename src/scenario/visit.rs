//! Every text of a step that is interpolated at run time (`${…}`), with where it is and
//! when: before the step's captures exist (its condition, its action) or after (its
//! assertions, its captures' defaults). Validation walks this and nothing else, so no
//! field escapes the undefined-variable check: each type is taken apart field by field,
//! and a field added to the model does not compile until it is listed here.

use super::model::{
    Action, AdvanceClock, Assertion, Auth, Body, CaptureEntry, Check, ClientAssertion, Condition,
    Consent, Destination, DpopProof, Each, Poll, Predicate, Query, Race, RawBody, Request,
    RevokeApp, Scenario, Sleep, Step, UserCode,
};
use super::spans::Seg;
use super::template::{Template, Tree};

/// When a text is interpolated, relative to its step's captures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// With the variables defined before the step (its `if`, its action).
    BeforeCaptures,
    /// With the step's own captures too (its assertions, its captures' defaults).
    AfterCaptures,
}

/// The callback of a walk: a template's path, its stage, the template.
pub type Visit<'a, 'f> = &'f mut dyn FnMut(&[Seg<'a>], Stage, &'a Template);

/// Calls `f` with every template of the scenario: its `vars` (at `vars`, stage
/// `BeforeCaptures`), then each step's, with paths from the file's root. Every derived
/// query over templates (the secrets and target values a scenario needs) walks this.
pub fn scenario_templates<'a>(s: &'a Scenario, f: Visit<'a, '_>) {
    for (name, value) in &s.vars.0 {
        f(
            &[Seg::Key("vars"), Seg::Key(name.as_str())],
            Stage::BeforeCaptures,
            value,
        );
    }
    for (i, step) in s.steps.iter().enumerate() {
        step_templates(step, &mut |path, stage, t| {
            let mut at = vec![Seg::Key("steps"), Seg::Index(i)];
            at.extend_from_slice(path);
            f(&at, stage, t)
        });
    }
}

/// Calls `f` with each template of `step`: its path below the step, the stage, and the
/// template (every string inside a YAML value, keys included).
pub fn step_templates<'a>(step: &'a Step, f: Visit<'a, '_>) {
    let Step {
        name: _,
        requirements: _,
        if_,
        action,
        repeat: _,
        stands_alone: _,
        capture,
        expect,
        snapshot: _,
    } = step;
    let mut w = Walker {
        path: Vec::new(),
        stage: Stage::BeforeCaptures,
        f,
    };
    if let Some(c) = if_ {
        w.at(Seg::Key("if"), |w| w.condition(c));
    }
    w.action(action);
    w.stage = Stage::AfterCaptures;
    for (j, a) in expect.iter().enumerate() {
        w.at(Seg::Key("expect"), |w| {
            w.at(Seg::Index(j), |w| w.assertion(a))
        });
    }
    for (j, c) in capture.iter().enumerate() {
        let CaptureEntry {
            name: _,
            query: _,
            default,
            optional: _,
        } = c;
        if let Some(d) = default {
            w.at(Seg::Key("capture"), |w| w.at(Seg::Index(j), |w| w.yaml(d)));
        }
    }
}

struct Walker<'a, 'f> {
    path: Vec<Seg<'a>>,
    stage: Stage,
    f: Visit<'a, 'f>,
}

impl<'a> Walker<'a, '_> {
    fn at(&mut self, seg: Seg<'a>, inner: impl FnOnce(&mut Self)) {
        self.path.push(seg);
        inner(self);
        self.path.pop();
    }

    fn text(&mut self, s: &'a Template) {
        (self.f)(&self.path, self.stage, s);
    }

    fn key_text(&mut self, key: &'static str, s: &'a Template) {
        self.at(Seg::Key(key), |w| w.text(s));
    }

    fn yaml(&mut self, v: &'a Tree) {
        for t in v.templates() {
            self.text(t);
        }
    }

    fn pairs(&mut self, key: &'static str, pairs: &'a [(Template, Template)]) {
        self.at(Seg::Key(key), |w| {
            for (k, v) in pairs {
                w.text(k);
                w.at(Seg::Key(k.as_str()), |w| w.text(v));
            }
        });
    }

    fn condition(&mut self, c: &'a Condition) {
        let Condition {
            var: _,
            equals,
            one_of,
            not_equals,
            none_of,
            greater_than,
        } = c;
        for v in equals
            .iter()
            .chain(one_of.iter().flatten())
            .chain(not_equals)
            .chain(none_of.iter().flatten())
            .chain(greater_than)
        {
            self.yaml(v);
        }
    }

    fn action(&mut self, a: &'a Action) {
        match a {
            Action::Request(r) => self.at(Seg::Key("request"), |w| w.request(r)),
            Action::Poll(p) => self.at(Seg::Key("poll"), |w| w.poll(p)),
            Action::Approve(u) => self.at(Seg::Key("approve"), |w| w.user_code(u)),
            Action::Deny(u) => self.at(Seg::Key("deny"), |w| w.user_code(u)),
            Action::Consent(c) => self.at(Seg::Key("consent"), |w| {
                let Consent {
                    query,
                    decision: _,
                    user: _,
                    par: _,
                } = c;
                w.pairs("query", &query.0);
            }),
            Action::AdvanceClock(AdvanceClock { seconds }) => self
                .at(Seg::Key("advance_clock"), |w| {
                    w.key_text("seconds", seconds)
                }),
            Action::RevokeApp(RevokeApp { client, user: _ }) => {
                self.at(Seg::Key("revoke_app"), |w| w.key_text("client", client))
            }
            Action::Sleep(Sleep { seconds }) => {
                self.at(Seg::Key("sleep"), |w| w.key_text("seconds", seconds))
            }
            Action::Race(Race { request, n: _ }) => self.at(Seg::Key("race"), |w| {
                w.at(Seg::Key("request"), |w| w.request(request))
            }),
            Action::Each(Each {
                over,
                bind: _,
                reverse: _,
                until_ok: _,
                request,
            }) => self.at(Seg::Key("each"), |w| {
                w.at(Seg::Key("in"), |w| w.yaml(over));
                w.at(Seg::Key("request"), |w| w.request(request))
            }),
        }
    }

    fn user_code(&mut self, u: &'a UserCode) {
        let UserCode { user_code, user: _ } = u;
        self.key_text("user_code", user_code);
    }

    fn poll(&mut self, p: &'a Poll) {
        let Poll {
            request,
            interval,
            expires_in,
            user_code,
            approve_after: _,
            deny_after: _,
            early_by: _,
            max_polls: _,
        } = p;
        self.at(Seg::Key("request"), |w| w.request(request));
        for (key, v) in [
            ("interval", interval),
            ("expires_in", expires_in),
            ("user_code", user_code),
        ] {
            if let Some(v) = v {
                self.key_text(key, v);
            }
        }
    }

    fn request(&mut self, r: &'a Request) {
        let Request {
            method: _,
            to,
            query,
            headers,
            body,
            auth,
            dpop,
            follow_redirects: _,
        } = r;
        match to {
            // A name the loader checks, never a template.
            Destination::Endpoint(_) => {}
            Destination::Path(p) => self.key_text("path", p),
        }
        self.pairs("query", &query.0);
        self.pairs("headers", &headers.0);
        match body {
            Some(Body::Form(p)) => self.pairs("form", &p.0),
            Some(Body::Params(p)) => self.pairs("body", &p.0),
            Some(Body::Json(v)) => self.at(Seg::Key("json"), |w| w.yaml(v)),
            Some(Body::Raw(RawBody { content_type, body })) => self.at(Seg::Key("raw"), |w| {
                w.key_text("content_type", content_type);
                w.key_text("body", body);
            }),
            None => {}
        }
        if let Some(a) = auth {
            self.at(Seg::Key("auth"), |w| match a {
                Auth::Basic {
                    role: _,
                    client,
                    secret,
                }
                | Auth::Post {
                    role: _,
                    client,
                    secret,
                } => {
                    for v in [client, secret].into_iter().flatten() {
                        w.text(v);
                    }
                }
                Auth::None { role: _, client } => {
                    if let Some(c) = client {
                        w.key_text("client", c);
                    }
                }
                Auth::Bearer { token } | Auth::Dpop { token } => w.key_text("token", token),
                Auth::PrivateKeyJwt(c) | Auth::ClientSecretJwt(c) => {
                    let ClientAssertion {
                        role: _,
                        client,
                        secret,
                        key: _,
                        sign: _,
                        claims,
                        times: _,
                        header,
                        tamper: _,
                        client_id,
                        assertion_type,
                        assertion,
                        save_as: _,
                    } = c;
                    for (k, v) in [
                        ("client", client),
                        ("secret", secret),
                        ("client_id", client_id),
                        ("assertion_type", assertion_type),
                        ("assertion", assertion),
                    ] {
                        if let Some(v) = v {
                            w.key_text(k, v);
                        }
                    }
                    for (k, v) in [("claims", claims), ("header", header)] {
                        if let Some(v) = v {
                            w.at(Seg::Key(k), |w| w.yaml(v));
                        }
                    }
                }
            });
        }
        if let Some(d) = dpop {
            self.at(Seg::Key("dpop"), |w| {
                let DpopProof {
                    key: _,
                    sign_with: _,
                    sign: _,
                    htm,
                    htu,
                    htu_spelling: _,
                    claims,
                    times: _,
                    header,
                    private_jwk: _,
                    ath_of,
                    proof,
                    twice: _,
                    retry_nonce: _,
                    save_as: _,
                } = d;
                for (k, v) in [
                    ("htm", htm),
                    ("htu", htu),
                    ("ath_of", ath_of),
                    ("proof", proof),
                ] {
                    if let Some(v) = v {
                        w.key_text(k, v);
                    }
                }
                for (k, v) in [("claims", claims), ("header", header)] {
                    if let Some(v) = v {
                        w.at(Seg::Key(k), |w| w.yaml(v));
                    }
                }
            });
        }
    }

    fn assertion(&mut self, a: &'a Assertion) {
        let Assertion {
            check,
            if_,
            requirement: _,
            level: _,
        } = a;
        if let Some(c) = if_ {
            self.at(Seg::Key("if"), |w| w.condition(c));
        }
        match check {
            Check::Value { query, predicates } => {
                for p in predicates {
                    // `status: 200` is an `equals` written under the query's own key.
                    let key = match query {
                        Query::Status => "status",
                        _ => p.key(),
                    };
                    self.at(Seg::Key(key), |w| w.predicate(p));
                }
            }
            Check::AnyOf(groups) => self.at(Seg::Key("any_of"), |w| {
                for (g, group) in groups.iter().enumerate() {
                    w.at(Seg::Index(g), |w| {
                        for (k, inner) in group.iter().enumerate() {
                            w.at(Seg::Index(k), |w| w.assertion(inner));
                        }
                    });
                }
            }),
        }
    }

    fn predicate(&mut self, p: &'a Predicate) {
        match p {
            Predicate::Equals(v)
            | Predicate::NotEquals(v)
            | Predicate::Contains(v)
            | Predicate::NotContains(v) => self.yaml(v),
            Predicate::OneOf(list) => list.iter().for_each(|v| self.yaml(v)),
            Predicate::Matches(s) | Predicate::ScopeEquals(s) | Predicate::ScopeLacks(s) => {
                self.text(s)
            }
            Predicate::Exists(_)
            | Predicate::Type(_)
            | Predicate::GreaterThan(_)
            | Predicate::LessThan(_)
            | Predicate::Length(_) => {}
        }
    }
}
