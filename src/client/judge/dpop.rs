//! The checks of a client that must use DPoP (RFC 9449), read from every request the
//! server received: the proofs each carried (their claims, unverified) and the server's
//! verdict on them (the answer's `error`), which is the reference server's own §4.3 check.
//!
//! The matrix's DPOP rows are the server's; a client's side of them is §4.2 (what a proof
//! holds), §7.1 (the token goes with the `DPoP` scheme) and §8 (the retry with a nonce).
//! The checks name the server row whose rule the client meets the other side of: DPOP-9
//! (`htu`, the one a client most often gets wrong) and DPOP-13 (the nonce dance).

use super::{held, nothing, Judgement, Seen};
use crate::endpoint::Endpoint;
use crate::server::play::RequestRecord;

/// Where a client's DPoP proofs go: the token endpoint, PAR, and the API with a bound
/// token.
fn needs_proof(r: &RequestRecord) -> bool {
    r.path == Endpoint::Token.path()
        || r.path == Endpoint::PushedAuthorization.path()
        || r.path.starts_with("/api/")
}

fn what(n: usize, r: &RequestRecord) -> String {
    match r.form_value("grant_type") {
        Some(g) => format!("request {n} ({} {}, {g})", r.method, r.path),
        None => format!("request {n} ({} {})", r.method, r.path),
    }
}

/// `sends_valid_proofs`: every token request and every API call carries one proof the
/// server's checks accept, and the API gets the token under the `DPoP` scheme.
pub(super) fn sends_valid_proofs(seen: &Seen) -> Judgement {
    let expected = "every token request and API call carries one DPoP proof that RFC 9449 §4.3's checks accept, the token under the DPoP scheme";
    let mut judged = 0;
    for (n, r) in super::code::client_requests(seen).filter(|(_, r)| needs_proof(r)) {
        judged += 1;
        let api = r.path.starts_with("/api/");
        if api
            && !r
                .auth_scheme
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("dpop"))
        {
            let scheme = r
                .auth_scheme
                .as_deref()
                .unwrap_or("no Authorization header");
            return held(
                expected,
                format!(
                    "{} sent its DPoP-bound token with {scheme}, not the DPoP scheme and a proof (RFC 9449 §7.1)",
                    what(n, r)
                ),
                false,
            );
        }
        if r.dpop.is_empty() {
            return held(
                expected,
                format!(
                    "{} carried no DPoP proof (RFC 9449 §5: a proof goes with every token request of a client that uses DPoP)",
                    what(n, r)
                ),
                false,
            );
        }
        if let Some(("invalid_dpop_proof", why)) =
            r.error.as_ref().map(|(e, d)| (e.as_str(), d.as_str()))
        {
            let htu = match r.dpop.first().and_then(|p| p.htu.as_deref()) {
                Some(htu) if why.contains("htu") => {
                    format!(
                        " (its htu: {htu}; RFC 9449 §4.2: the request's URI without query and fragment)"
                    )
                }
                _ => String::new(),
            };
            return held(
                expected,
                format!("{} was refused, invalid_dpop_proof: {why}{htu}", what(n, r)),
                false,
            );
        }
    }
    all_held(
        expected,
        judged,
        "the client sent no token request",
        format!("{judged} request(s) with a proof the server accepted or asked a nonce for"),
    )
}

/// `retries_with_nonce`: after a `use_dpop_nonce` answer with a `DPoP-Nonce`, the next
/// request to the same place carries that nonce in its proof.
pub(super) fn retries_with_nonce(seen: &Seen) -> Judgement {
    let expected =
        "after use_dpop_nonce, the request is sent again with the DPoP-Nonce given in its proof";
    let requests: Vec<(usize, &RequestRecord)> = super::code::client_requests(seen).collect();
    let mut asked = 0;
    for (i, (n, r)) in requests.iter().enumerate() {
        let (Some("use_dpop_nonce"), Some(nonce)) = (r.error_code(), r.nonce_given.as_deref())
        else {
            continue;
        };
        asked += 1;
        let api = r.path.starts_with("/api/");
        let again = requests[i + 1..]
            .iter()
            .find(|(_, x)| x.path == r.path || (api && x.path.starts_with("/api/")));
        let Some((m, x)) = again else {
            return held(
                expected,
                format!(
                    "{} was answered use_dpop_nonce with a DPoP-Nonce; the client did not send it again (RFC 9449 §8: it \"is expected to retry\" with the nonce)",
                    what(*n, r)
                ),
                false,
            );
        };
        let carried = x.dpop.first().and_then(|p| p.nonce.as_deref());
        if carried != Some(nonce) {
            let how = match carried {
                None => "no nonce",
                Some(_) => "another nonce than the one given",
            };
            return held(
                expected,
                format!(
                    "{} was answered use_dpop_nonce; the next one there, {}, carried {how} in its proof",
                    what(*n, r),
                    what(*m, x)
                ),
                false,
            );
        }
    }
    all_held(
        expected,
        asked,
        "no request was answered use_dpop_nonce",
        format!("{asked} use_dpop_nonce answer(s), each followed by a request with its nonce"),
    )
}

/// A check that held for each of the `n` things it judged: SKIPPED, saying `none`, when
/// there were none.
fn all_held(expected: &str, n: usize, none: &str, said: String) -> Judgement {
    if n == 0 {
        nothing(expected, none)
    } else {
        held(expected, said, true)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{judge, Ending};
    use super::*;
    use crate::client::scenario::ClientCheck;
    use crate::clock::Timestamp;
    use crate::server::play::ProofSeen;
    use std::collections::HashMap;

    fn token(
        proofs: Vec<ProofSeen>,
        error: Option<(&str, &str)>,
        nonce: Option<&str>,
    ) -> RequestRecord {
        RequestRecord {
            at: Timestamp::from_millis(0),
            method: "POST".into(),
            path: Endpoint::Token.path().into(),
            query: Vec::new(),
            auth_scheme: None,
            form: vec![("grant_type".into(), "authorization_code".into())],
            status: if error.is_some() { 400 } else { 200 },
            dpop: proofs,
            error: error.map(|(e, d)| (e.into(), d.into())),
            nonce_given: nonce.map(str::to_string),
        }
    }

    fn proof(htu: &str, nonce: Option<&str>) -> ProofSeen {
        ProofSeen {
            htm: Some("POST".into()),
            htu: Some(htu.into()),
            nonce: nonce.map(str::to_string),
        }
    }

    fn api(scheme: &str, proofs: Vec<ProofSeen>) -> RequestRecord {
        RequestRecord {
            method: "GET".into(),
            path: "/api/me".into(),
            form: Vec::new(),
            auth_scheme: Some(scheme.into()),
            ..token(proofs, None, None)
        }
    }

    fn seen(requests: Vec<RequestRecord>) -> Seen {
        Seen {
            devices: Vec::new(),
            requests,
            code_users: HashMap::new(),
            ending: Ending::Exited(0),
        }
    }

    const U: &str = "http://127.0.0.1:1/oauth/token";

    #[test]
    fn the_nonce_dance_done_right_passes_both_checks() {
        let s = seen(vec![
            token(
                vec![proof(U, None)],
                Some(("use_dpop_nonce", "nonce wanted")),
                Some("n1"),
            ),
            token(vec![proof(U, Some("n1"))], None, None),
            api("DPoP", vec![proof("http://127.0.0.1:1/api/me", Some("n1"))]),
        ]);
        for check in [ClientCheck::SendsValidProofs, ClientCheck::RetriesWithNonce] {
            let j = judge(check, &s);
            assert_eq!(j.held, Some(true), "{check:?}: {}", j.actual);
        }
    }

    #[test]
    fn each_broken_rule_fails_its_check_and_says_where() {
        let wrong_htu = seen(vec![token(
            vec![proof("http://127.0.0.1:1", None)],
            Some((
                "invalid_dpop_proof",
                "The DPoP proof's htu is not the request's URI",
            )),
            None,
        )]);
        let j = judge(ClientCheck::SendsValidProofs, &wrong_htu);
        assert_eq!(j.held, Some(false));
        assert!(
            j.actual
                .contains("request 1 (POST /oauth/token, authorization_code)")
                && j.actual.contains("its htu: http://127.0.0.1:1;"),
            "{}",
            j.actual
        );
        let no_proof = seen(vec![token(Vec::new(), None, None)]);
        let j = judge(ClientCheck::SendsValidProofs, &no_proof);
        assert!(j.actual.contains("carried no DPoP proof"), "{}", j.actual);
        let bearer = seen(vec![api("Bearer", vec![proof(U, None)])]);
        let j = judge(ClientCheck::SendsValidProofs, &bearer);
        assert!(
            j.actual.contains("with Bearer, not the DPoP scheme"),
            "{}",
            j.actual
        );

        let asked = || {
            token(
                vec![proof(U, None)],
                Some(("use_dpop_nonce", "nonce wanted")),
                Some("n1"),
            )
        };
        let ignored = seen(vec![asked(), token(vec![proof(U, None)], None, None)]);
        let j = judge(ClientCheck::RetriesWithNonce, &ignored);
        assert_eq!(j.held, Some(false));
        assert!(j.actual.contains("carried no nonce"), "{}", j.actual);
        let gave_up = seen(vec![asked()]);
        let j = judge(ClientCheck::RetriesWithNonce, &gave_up);
        assert!(j.actual.contains("did not send it again"), "{}", j.actual);
    }

    #[test]
    fn nothing_to_judge_is_said_and_never_a_pass() {
        let none = seen(Vec::new());
        assert_eq!(judge(ClientCheck::SendsValidProofs, &none).held, None);
        let no_nonce = seen(vec![token(vec![proof(U, None)], None, None)]);
        assert_eq!(judge(ClientCheck::RetriesWithNonce, &no_nonce).held, None);
    }
}
