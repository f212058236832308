//! The harness as the client of an authorization response: RFC 9207 §2.4's mix-up
//! defence (ISS-6…ISS-8). A response whose `iss` is not the issuer the request went to,
//! or that lacks `iss` from a target known to send it, is rejected: its code and tokens
//! are not kept, so no later step redeems them. The step's assertions still judge the
//! response as the server sent it.

use crate::assert::Exchange;
use crate::scenario::model::Query;

/// Why the authorization response in `ex` is rejected, or `None` when it is accepted.
/// `required`: the target is known to send `iss` (its metadata's
/// `authorization_response_iss_parameter_supported`, or its profile).
pub(crate) fn rejected(ex: &Exchange, issuer: &str, required: bool) -> Option<String> {
    // Every `iss` of the redirect, query and fragment: the query `redirect_all` reads.
    let all = crate::assert::select(&Query::RedirectAll("iss".into()), ex).ok()??;
    let iss: Vec<&str> = all
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    match iss.as_slice() {
        // ISS-6 (RFC 9207 §2.4): "If the value does not match the expected issuer
        // identifier, clients MUST reject the authorization response and MUST NOT proceed
        // with the authorization grant." ISS-8: the same check whether or not the target
        // advertises support (the local policy §2.4 allows).
        [one] if *one == issuer => None,
        [one] => Some(format!(
            "the harness rejected the authorization response: its iss `{one}` is not the issuer the request went to (`{issuer}`), a mix-up (RFC 9207 §2.4, ISS-6), so its code is not redeemed"
        )),
        [] if required => Some(
            "the harness rejected the authorization response: it has no iss, and the target says its responses carry one (RFC 9207 §2.4, ISS-7), so its code is not redeemed"
                .to_string(),
        ),
        [] => None,
        _ => Some(format!(
            "the harness rejected the authorization response: it has {} iss parameters, so its issuer is unknown (RFC 9207 §2.4, ISS-6), and its code is not redeemed",
            iss.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect(location: &str) -> Exchange {
        Exchange {
            status: 302,
            headers: vec![("location".into(), location.into())],
            ..Exchange::default()
        }
    }

    #[test]
    fn the_issuer_decides_whether_a_response_is_kept() {
        let issuer = "https://as.example";
        let at = |q: &str, required: bool| {
            rejected(
                &redirect(&format!("https://c.example/cb?{q}")),
                issuer,
                required,
            )
        };
        // ISS-6: the right issuer (form-decoded) is kept; any other is a mix-up.
        assert_eq!(at("code=c&iss=https%3A%2F%2Fas.example", true), None);
        assert!(
            at("code=c&iss=https%3A%2F%2Fevil.example", false).is_some_and(|w| w.contains("ISS-6"))
        );
        assert!(
            at("code=c&iss=https%3A%2F%2Fas.example%2F", true).is_some(),
            "a trailing / is another issuer"
        );
        assert!(at("code=c&iss=a&iss=b", false).is_some_and(|w| w.contains("2 iss")));
        // ISS-7: none from a target that sends it is rejected; from one that does not, kept.
        assert!(at("code=c", true).is_some_and(|w| w.contains("ISS-7")));
        assert_eq!(at("code=c", false), None);
        // ISS-8: a fragment response is read too.
        assert!(rejected(
            &redirect("https://c.example/cb#access_token=t&iss=x"),
            issuer,
            false
        )
        .is_some());
        assert_eq!(
            rejected(&Exchange::default(), issuer, true),
            None,
            "no redirect, nothing to keep"
        );
    }
}
