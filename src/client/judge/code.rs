//! The checks of a redirect-based client (authorization code with PKCE, CLIENT-9…14),
//! read from every request the server received. The harness's own requests (the
//! browser's consent and the attacker's code, on `/_test/` routes) are not the client's
//! and are left out.

use super::{held, nothing, Judgement, Seen};
use crate::client::browser::ATTACKER;
use crate::endpoint::Endpoint;
use crate::server::play::RequestRecord;

/// The client's requests (numbered from 1 in the order the server received them).
pub(super) fn client_requests(seen: &Seen) -> impl Iterator<Item = (usize, &RequestRecord)> {
    seen.requests
        .iter()
        .filter(|r| !r.path.starts_with("/_test/"))
        .enumerate()
        .map(|(i, r)| (i + 1, r))
}

/// The authorization requests the client's browser loaded.
fn authorizations(seen: &Seen) -> Vec<&RequestRecord> {
    client_requests(seen)
        .map(|(_, r)| r)
        .filter(|r| r.method == "GET" && r.path == Endpoint::Authorization.path())
        .collect()
}

/// The client's code exchanges.
fn exchanges(seen: &Seen) -> Vec<&RequestRecord> {
    client_requests(seen)
        .map(|(_, r)| r)
        .filter(|r| {
            r.path == Endpoint::Token.path()
                && r.form_value("grant_type") == Some("authorization_code")
        })
        .collect()
}

const NO_AUTHORIZATION: &str = "the client sent no authorization request";
const NO_EXCHANGE: &str = "the client redeemed no code";

/// CLIENT-9: a `state` in every authorization request, never the same twice.
pub(super) fn sends_state(seen: &Seen) -> Judgement {
    let expected = "every authorization request carries a state, never the same twice";
    let auths = authorizations(seen);
    if auths.is_empty() {
        return nothing(expected, NO_AUTHORIZATION);
    }
    for (i, a) in auths.iter().enumerate() {
        match a.query_value("state") {
            None | Some("") => {
                return held(
                    expected,
                    format!("authorization request {} carries no state", i + 1),
                    false,
                )
            }
            Some(state) => {
                if let Some(j) = auths[..i]
                    .iter()
                    .position(|b| b.query_value("state") == Some(state))
                {
                    return held(
                        expected,
                        format!(
                            "authorization requests {} and {} carry the same state",
                            j + 1,
                            i + 1
                        ),
                        false,
                    );
                }
            }
        }
    }
    held(
        expected,
        format!(
            "{} authorization request(s), each with its own state",
            auths.len()
        ),
        true,
    )
}

/// Codes a callback the client had to refuse carried, as told in a judgement.
struct Refused<'a> {
    expected: &'static str,
    /// The codes (issued to the attacker, or to the user in a response to reject).
    codes: Vec<&'a String>,
    /// Why there is nothing to judge when there are none.
    none: &'static str,
    /// What presenting one of them was.
    presented: &'static str,
}

/// Held when no code exchange presents any of the refused codes.
fn never_redeemed(seen: &Seen, r: Refused<'_>) -> Judgement {
    if r.codes.is_empty() {
        return nothing(r.expected, r.none);
    }
    let all = exchanges(seen);
    if let Some((n, x)) = all.iter().enumerate().find(|(_, x)| {
        x.form_value("code")
            .is_some_and(|c| r.codes.iter().any(|f| *f == c))
    }) {
        return held(
            r.expected,
            format!(
                "code exchange {} presented {} (answered HTTP {})",
                n + 1,
                r.presented,
                x.status
            ),
            false,
        );
    }
    held(
        r.expected,
        format!(
            "no refused code was presented ({} refused, {} code exchange(s) in all)",
            r.codes.len(),
            all.len()
        ),
        true,
    )
}

/// The codes the consent gave `who` (the attacker, or anyone else).
fn codes_of(seen: &Seen, attacker: bool) -> Vec<&String> {
    seen.code_users
        .iter()
        .filter(|(_, user)| (&***user == ATTACKER) == attacker)
        .map(|(code, _)| code)
        .collect()
}

/// CLIENT-9: the code of a forged callback is never redeemed.
pub(super) fn refuses_forged_callback(seen: &Seen) -> Judgement {
    never_redeemed(
        seen,
        Refused {
            expected:
                "a callback whose state is forged or missing is refused: its code is never redeemed",
            codes: codes_of(seen, true),
            none: "no forged callback was delivered",
            presented: "the attacker's code from the forged callback",
        },
    )
}

/// ISS-6, ISS-7 (RFC 9207 §2.4: "clients MUST reject the authorization response and MUST
/// NOT proceed with the authorization grant"): every authorization response of the
/// scenario is one to reject (the server plays a foreign or a missing `iss`), so no code
/// the user's consent produced is ever presented.
pub(super) fn refuses_mixed_up_response(seen: &Seen) -> Judgement {
    never_redeemed(
        seen,
        Refused {
            expected: "an authorization response with a foreign iss, or without the iss its server promises, is rejected: its code is never redeemed",
            codes: codes_of(seen, false),
            none: "no authorization response was delivered",
            presented: "the code of a response the client had to reject",
        },
    )
}

/// CLIENT-10: PKCE with `S256` in every authorization request.
pub(super) fn uses_pkce_s256(seen: &Seen) -> Judgement {
    let expected =
        "every authorization request carries a code_challenge with code_challenge_method=S256";
    let auths = authorizations(seen);
    if auths.is_empty() {
        return nothing(expected, NO_AUTHORIZATION);
    }
    for (i, a) in auths.iter().enumerate() {
        let n = i + 1;
        let problem = match (
            a.query_value("code_challenge"),
            a.query_value("code_challenge_method"),
        ) {
            (None, _) => Some(format!(
                "authorization request {n} carries no code_challenge"
            )),
            (Some(_), None) => Some(format!(
                "authorization request {n} has no code_challenge_method, so plain (RFC 7636 §4.3)"
            )),
            (Some(_), Some("S256")) => None,
            (Some(_), Some(m)) => Some(format!(
                "authorization request {n} has code_challenge_method={m}"
            )),
        };
        if let Some(p) = problem {
            return held(expected, p, false);
        }
    }
    held(
        expected,
        format!("{} authorization request(s), each with S256", auths.len()),
        true,
    )
}

fn verifier_well_formed(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// CLIENT-11: well-formed verifiers, and no code challenge (so no verifier) used twice.
pub(super) fn fresh_verifier(seen: &Seen) -> Judgement {
    let expected = "each code_verifier has 43–128 unreserved characters and is new for every authorization request";
    let auths = authorizations(seen);
    let challenges: Vec<&str> = auths
        .iter()
        .filter_map(|a| a.query_value("code_challenge"))
        .collect();
    for (i, c) in challenges.iter().enumerate() {
        if let Some(j) = challenges[..i].iter().position(|d| d == c) {
            return held(
                expected,
                format!(
                    "authorization requests {} and {} carry the same code_challenge: the verifier was used again",
                    j + 1,
                    i + 1
                ),
                false,
            );
        }
    }
    let verifiers: Vec<&str> = exchanges(seen)
        .iter()
        .filter_map(|x| x.form_value("code_verifier"))
        .collect();
    if verifiers.is_empty() {
        return nothing(expected, "the client sent no code_verifier");
    }
    for (i, v) in verifiers.iter().enumerate() {
        if !verifier_well_formed(v) {
            return held(
                expected,
                format!(
                    "the code_verifier of code exchange {} has {} characters{}",
                    i + 1,
                    v.len(),
                    if v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
                    {
                        ""
                    } else {
                        ", not all of them unreserved"
                    }
                ),
                false,
            );
        }
    }
    let freshness = if challenges.len() < 2 {
        " (one authorization request: `runs: 2` judges freshness)"
    } else {
        ", and every authorization request had its own challenge"
    };
    held(
        expected,
        format!(
            "{} well-formed code_verifier(s){freshness}",
            verifiers.len()
        ),
        true,
    )
}

/// CLIENT-12: each code presented once; `client_id` in an exchange that does not
/// authenticate the client.
pub(super) fn redeems_once(seen: &Seen) -> Judgement {
    let expected = "each code is presented once, and an exchange without client authentication carries client_id";
    let all = exchanges(seen);
    if all.is_empty() {
        return nothing(expected, NO_EXCHANGE);
    }
    for (i, x) in all.iter().enumerate() {
        let code = x.form_value("code");
        if let Some(j) = all[..i].iter().position(|y| y.form_value("code") == code) {
            return held(
                expected,
                format!(
                    "code exchanges {} and {} presented the same code (the second was answered HTTP {})",
                    j + 1,
                    i + 1,
                    x.status
                ),
                false,
            );
        }
        let authenticated = x.auth_scheme.is_some() || x.form_value("client_secret").is_some();
        if !authenticated && x.form_value("client_id").is_none() {
            return held(
                expected,
                format!(
                    "code exchange {} neither authenticates the client nor carries client_id",
                    i + 1
                ),
                false,
            );
        }
    }
    held(
        expected,
        format!("{} code exchange(s), each with its own code", all.len()),
        true,
    )
}

/// CLIENT-13: one client-authentication method and one way of sending the token per
/// request.
pub(super) fn one_auth_method(seen: &Seen) -> Judgement {
    let expected =
        "one client-authentication method and one way of sending the access token per request";
    let mut judged = 0;
    for (n, r) in client_requests(seen) {
        let basic = r
            .auth_scheme
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("basic"));
        let bearer = r
            .auth_scheme
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("bearer"));
        let in_body_secret = r.form_value("client_secret").is_some();
        let assertion = r.form_value("client_assertion").is_some();
        let token_elsewhere =
            r.query_value("access_token").is_some() || r.form_value("access_token").is_some();
        let problem = if [basic, in_body_secret, assertion]
            .iter()
            .filter(|b| **b)
            .count()
            > 1
        {
            Some("authenticates the client in more than one way (RFC 6749 §2.3)")
        } else if bearer && token_elsewhere {
            Some("sends the access token both in the header and in the request (RFC 6750 §2)")
        } else {
            None
        };
        if let Some(p) = problem {
            return held(
                expected,
                format!("request {n} ({} {}) {p}", r.method, r.path),
                false,
            );
        }
        if basic || bearer || in_body_secret || assertion || token_elsewhere {
            judged += 1;
        }
    }
    if judged == 0 {
        return nothing(expected, "no request carried client credentials or a token");
    }
    held(
        expected,
        format!("{judged} request(s) with credentials, each in one way"),
        true,
    )
}

/// CLIENT-14: no access token in a request URI.
pub(super) fn token_not_in_uri(seen: &Seen) -> Judgement {
    let expected = "access tokens go in the Authorization header, never in a request URI";
    let got_tokens = exchanges(seen).iter().any(|x| x.status == 200)
        || seen
            .devices
            .iter()
            .flat_map(|d| &d.polls)
            .any(|p| p.answer == "tokens");
    if !got_tokens {
        return nothing(expected, "the client got no access token");
    }
    let mut api = 0;
    for (n, r) in client_requests(seen) {
        if r.query_value("access_token").is_some() {
            return held(
                expected,
                format!(
                    "request {n} ({} {}) carries access_token in its query",
                    r.method, r.path
                ),
                false,
            );
        }
        if r.path.starts_with("/api/") {
            api += 1;
        }
    }
    held(
        expected,
        format!("no request URI carried an access token ({api} API call(s))"),
        true,
    )
}

/// CLIENT-19: after an API call answered 401, at most one refresh, and no API call again
/// until a refresh succeeded or the user authorized anew.
pub(super) fn refreshes_once_after_401(seen: &Seen) -> Judgement {
    let expected =
        "after an API's 401, at most one refresh, and no API call again without new tokens";
    let requests: Vec<(usize, &RequestRecord)> = client_requests(seen).collect();
    let Some(first) = requests
        .iter()
        .position(|(_, r)| r.path.starts_with("/api/") && r.status == 401)
    else {
        return nothing(expected, "no API call was answered 401");
    };
    let (mut refreshes, mut fresh_tokens) = (0, 0);
    for (n, r) in &requests[first + 1..] {
        let new_flow = (r.method == "GET" && r.path == Endpoint::Authorization.path())
            || r.path == Endpoint::DeviceAuthorization.path();
        if new_flow {
            break;
        }
        if r.path == Endpoint::Token.path() && r.form_value("grant_type") == Some("refresh_token") {
            refreshes += 1;
            fresh_tokens += usize::from(r.status == 200);
            if refreshes > 1 {
                return held(
                    expected,
                    format!("request {n} is refresh {refreshes} after the API's 401"),
                    false,
                );
            }
        }
        if r.path.starts_with("/api/") {
            if fresh_tokens == 0 {
                return held(
                    expected,
                    format!(
                        "request {n} ({} {}) called the API again after its 401, with no new token",
                        r.method, r.path
                    ),
                    false,
                );
            }
            fresh_tokens -= 1;
        }
    }
    held(
        expected,
        format!("{refreshes} refresh(es) after the API's 401, no API call with the dead token"),
        true,
    )
}

/// The code flow's outcome: tokens from a code exchange, and exit 0.
pub(super) fn gets_tokens(seen: &Seen) -> Judgement {
    let expected = "the client gets tokens for its code and exits 0";
    let ok_exchanges = exchanges(seen).iter().filter(|x| x.status == 200).count();
    held(
        expected,
        format!(
            "{ok_exchanges} code exchange(s) answered 200; {}",
            super::describe(seen.ending)
        ),
        ok_exchanges >= 1 && seen.ending == super::Ending::Exited(0),
    )
}

#[cfg(test)]
mod tests {
    use super::super::{judge, Ending};
    use super::*;
    use crate::client::scenario::ClientCheck;
    use crate::clock::Timestamp;
    use std::collections::HashMap;
    use std::sync::Arc;

    fn request(
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> RequestRecord {
        let pairs = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        RequestRecord {
            at: Timestamp::from_millis(0),
            method: method.into(),
            path: path.into(),
            query: pairs(query),
            auth_scheme: None,
            form: pairs(form),
            status: 200,
            dpop: Vec::new(),
            error: None,
            nonce_given: None,
        }
    }

    fn seen(requests: Vec<RequestRecord>) -> Seen {
        Seen {
            devices: Vec::new(),
            requests,
            code_users: HashMap::from([
                ("c1".to_string(), Arc::from("alice")),
                ("evil".to_string(), Arc::from(ATTACKER)),
            ]),
            ending: Ending::Exited(0),
        }
    }

    const V: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn authz(state: &str, challenge: &str, method: &str) -> RequestRecord {
        request(
            "GET",
            Endpoint::Authorization.path(),
            &[
                ("state", state),
                ("code_challenge", challenge),
                ("code_challenge_method", method),
            ],
            &[],
        )
    }

    fn exchange(code: &str, verifier: &str) -> RequestRecord {
        request(
            "POST",
            Endpoint::Token.path(),
            &[],
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("code_verifier", verifier),
                ("client_id", "native"),
            ],
        )
    }

    #[test]
    fn a_well_behaved_exchange_passes_every_check() {
        let s = seen(vec![
            authz("s1", "ch1", "S256"),
            authz("s2", "ch2", "S256"),
            exchange("c1", V),
            request("GET", "/api/me", &[], &[]),
        ]);
        for check in [
            ClientCheck::SendsState,
            ClientCheck::UsesPkceS256,
            ClientCheck::FreshVerifier,
            ClientCheck::RedeemsOnce,
            ClientCheck::TokenNotInUri,
            ClientCheck::RefusesForgedCallback,
            ClientCheck::GetsTokens,
        ] {
            let j = judge(check, &s);
            assert_eq!(j.held, Some(true), "{check:?}: {}", j.actual);
        }
    }

    #[test]
    fn each_broken_rule_fails_its_check_and_says_where() {
        let cases: Vec<(ClientCheck, Vec<RequestRecord>, &str)> = vec![
            (
                ClientCheck::SendsState,
                vec![authz("", "c", "S256")],
                "carries no state",
            ),
            (
                ClientCheck::SendsState,
                vec![authz("s", "a", "S256"), authz("s", "b", "S256")],
                "requests 1 and 2 carry the same state",
            ),
            (
                ClientCheck::UsesPkceS256,
                vec![authz("s", "c", "plain")],
                "code_challenge_method=plain",
            ),
            (
                ClientCheck::UsesPkceS256,
                vec![request(
                    "GET",
                    Endpoint::Authorization.path(),
                    &[("state", "s")],
                    &[],
                )],
                "no code_challenge",
            ),
            (
                ClientCheck::FreshVerifier,
                vec![authz("s1", "same", "S256"), authz("s2", "same", "S256")],
                "the same code_challenge",
            ),
            (
                ClientCheck::FreshVerifier,
                vec![exchange("c1", "short")],
                "has 5 characters",
            ),
            (
                ClientCheck::RedeemsOnce,
                vec![exchange("c1", V), exchange("c1", V)],
                "presented the same code",
            ),
            (
                ClientCheck::RefusesForgedCallback,
                vec![exchange("evil", V)],
                "the attacker's code",
            ),
            (
                ClientCheck::TokenNotInUri,
                vec![
                    exchange("c1", V),
                    request("GET", "/api/me", &[("access_token", "t")], &[]),
                ],
                "carries access_token in its query",
            ),
        ];
        for (check, requests, says) in cases {
            let j = judge(check, &seen(requests));
            assert_eq!(j.held, Some(false), "{check:?}: {}", j.actual);
            assert!(j.actual.contains(says), "{check:?}: {}", j.actual);
        }
        let mut both = request(
            "POST",
            Endpoint::Token.path(),
            &[],
            &[("client_secret", "x")],
        );
        both.auth_scheme = Some("Basic".into());
        let j = judge(ClientCheck::OneAuthMethod, &seen(vec![both]));
        assert_eq!(j.held, Some(false), "{}", j.actual);
        assert!(j.actual.contains("more than one way"), "{}", j.actual);
    }

    #[test]
    fn nothing_to_judge_is_said_and_never_a_pass() {
        let s = seen(vec![]);
        for check in [
            ClientCheck::SendsState,
            ClientCheck::UsesPkceS256,
            ClientCheck::FreshVerifier,
            ClientCheck::RedeemsOnce,
            ClientCheck::OneAuthMethod,
            ClientCheck::TokenNotInUri,
        ] {
            assert_eq!(judge(check, &s).held, None, "{check:?}");
        }
        let mut honest = seen(vec![exchange("c1", V)]);
        honest.code_users.remove("evil");
        assert_eq!(
            judge(ClientCheck::RefusesForgedCallback, &honest).held,
            None
        );
        let mut seen_harness = seen(vec![request(
            "GET",
            "/_test/authorize",
            &[("access_token", "x")],
            &[],
        )]);
        seen_harness.requests.push(exchange("c1", V));
        assert_eq!(
            judge(ClientCheck::TokenNotInUri, &seen_harness).held,
            Some(true)
        );
    }

    #[test]
    fn after_an_apis_401_one_refresh_and_no_call_with_the_dead_token() {
        let mut denied = request("GET", "/api/me", &[], &[]);
        denied.status = 401;
        let mut refresh = request(
            "POST",
            Endpoint::Token.path(),
            &[],
            &[("grant_type", "refresh_token")],
        );
        refresh.status = 400;
        let cases = [
            (
                vec![denied.clone(), refresh.clone(), authz("s", "c", "S256")],
                Some(true),
            ),
            (
                vec![denied.clone(), refresh.clone(), refresh.clone()],
                Some(false),
            ),
            (
                vec![denied.clone(), refresh.clone(), denied.clone()],
                Some(false),
            ),
            (vec![exchange("c1", V)], None),
        ];
        for (requests, want) in cases {
            let j = judge(ClientCheck::RefreshesOnceAfter401, &seen(requests));
            assert_eq!(j.held, want, "{}", j.actual);
        }
        let mut renewed = refresh.clone();
        renewed.status = 200;
        let j = judge(
            ClientCheck::RefreshesOnceAfter401,
            &seen(vec![
                denied.clone(),
                renewed,
                request("GET", "/api/me", &[], &[]),
            ]),
        );
        assert_eq!(j.held, Some(true), "{}", j.actual);
    }
}
