//! Protocol rules a flow checks under load. A sample of flows (the profile's `probes`
//! share) sends one extra request after its normal end, one that a server must refuse at
//! any load, and counts what the server answered:
//!
//! | probe | after | refused when | row (level) | violation |
//! |---|---|---|---|---|
//! | `device_code_again` | a device got its tokens | 400 (`invalid_grant`; `expired_token` tolerated) | DEV-21 (SHOULD) | `advisory: device_code_redeemed_twice` |
//! | `poll_after_expiry` | the device's `expires_in` passed | 400 `expired_token` | DEV-19 (MUST) | `protocol: poll_after_expiry_not_expired_token` |
//! | `code_again` | a code was exchanged | not 200 | TOK-21 (MUST) | `protocol: code_accepted_twice` |
//! | `rotated_refresh_again` | a refresh token was rotated | not 200 | REF-9 (MUST) | `protocol: rotated_refresh_token_accepted` |
//! | `device_other_client` | a device's user approved, when the profile names `device.other_client` | not 200 (`invalid_grant` or `invalid_client`) | DEV-23 (SHOULD) | `advisory: device_code_redeemed_by_another_client` |
//! | `refresh_other_client` | a refresh, when the profile names `exchange.other_client` | not 200 | REF-6 (MUST) | `protocol: refresh_token_accepted_from_another_client` |
//! | `dpop_proof_again` | a client_credentials token under `dpop: true` | not 200 | DPOP-12 (MAY) | `advisory: dpop_proof_replayed_accepted` |
//! | `bound_token_as_bearer` | a DPoP-bound token, where the target maps resource `me` | 401 | DPOP-25 (MUST) | `protocol: bound_token_used_as_bearer_accepted` |
//!
//! A violation is a request row of its own, so a threshold can name it; every profile gets
//! [`RULE`] (`count == 0 for protocol`) unless it names the group itself. SHOULD rows are
//! `advisory:` rows, counted and shown, failing a run only where a profile asks. The probed
//! flow's tokens are given up: a server may revoke them when it sees the replay (TOK-22,
//! REF-9), so the user signs in again next time.

use super::{send, Answer, Ctx, User};

/// The default threshold on protocol violations.
pub(crate) const RULE: &str = "count == 0 for protocol";

/// One kind of probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Probe {
    /// DEV-21: a device code polled again after its tokens.
    DeviceCodeAgain,
    /// DEV-19: a poll after `expires_in`.
    PollAfterExpiry,
    /// TOK-21: a code exchanged again.
    CodeAgain,
    /// REF-9: a rotated refresh token presented again.
    RotatedRefreshAgain,
    /// REF-6: a refresh token presented by another client.
    RefreshOtherClient,
    /// DEV-23: an approved device code polled by another client.
    DeviceOtherClient,
    /// DPOP-12: a token request sent again with the same DPoP proof (a MAY: RFC 9449
    /// §11.1 has no keyword, so a replay taken is advisory).
    DpopProofAgain,
    /// DPOP-25: a DPoP-bound token presented with the Bearer scheme.
    BoundTokenAsBearer,
}

impl Probe {
    /// The outcome counting the probes sent.
    fn sent(self) -> &'static str {
        match self {
            Probe::DeviceCodeAgain => "probe: device_code_again",
            Probe::PollAfterExpiry => "probe: poll_after_expiry",
            Probe::CodeAgain => "probe: code_again",
            Probe::RotatedRefreshAgain => "probe: rotated_refresh_again",
            Probe::RefreshOtherClient => "probe: refresh_other_client",
            Probe::DeviceOtherClient => "probe: device_other_client",
            Probe::DpopProofAgain => "probe: dpop_proof_again",
            Probe::BoundTokenAsBearer => "probe: bound_token_as_bearer",
        }
    }

    /// The request row a violation is recorded under.
    fn violation(self) -> &'static str {
        match self {
            Probe::DeviceCodeAgain => "advisory: device_code_redeemed_twice",
            Probe::PollAfterExpiry => "protocol: poll_after_expiry_not_expired_token",
            Probe::CodeAgain => "protocol: code_accepted_twice",
            Probe::RotatedRefreshAgain => "protocol: rotated_refresh_token_accepted",
            Probe::RefreshOtherClient => "protocol: refresh_token_accepted_from_another_client",
            Probe::DeviceOtherClient => "advisory: device_code_redeemed_by_another_client",
            Probe::DpopProofAgain => "advisory: dpop_proof_replayed_accepted",
            Probe::BoundTokenAsBearer => "protocol: bound_token_used_as_bearer_accepted",
        }
    }

    /// Whether the server's answer keeps the rule, as its matrix row accepts.
    fn kept(self, a: &Answer) -> bool {
        match self {
            Probe::DeviceCodeAgain => a.status == 400,
            Probe::PollAfterExpiry => a.status == 400 && a.error() == Some("expired_token"),
            Probe::CodeAgain
            | Probe::RotatedRefreshAgain
            | Probe::RefreshOtherClient
            | Probe::DeviceOtherClient
            | Probe::DpopProofAgain => a.status != 200,
            Probe::BoundTokenAsBearer => a.status == 401,
        }
    }
}

/// Whether this flow carries a probe (drawn with the profile's share).
pub(super) fn drawn(ctx: &Ctx) -> bool {
    let share = ctx.profile.probes;
    share > 0.0 && rand::random::<f64>() < share
}

/// Sends `req` as `probe` and records it: counted as sent, and as a request under the
/// probe's row (`probe: …`) when the rule held, under its violation's row when not
/// (a failed request for a MUST row, a successful one for an advisory row, so that only
/// MUST rows count in error rates). A probe without an answer counts as
/// `probe_unanswered`, never as a violation.
pub(super) async fn send_probe(
    user: &mut User<'_>,
    ctx: &Ctx,
    probe: Probe,
    req: reqwest::RequestBuilder,
) {
    ctx.recorder.count(probe.sent(), 1);
    let answer = match send(req).await {
        Ok(a) => a,
        Err(failed) => {
            ctx.recorder.count("probe_unanswered", 1);
            tracing::debug!("{}: {}", probe.sent(), failed.why);
            return;
        }
    };
    let (row, ok) = if probe.kept(&answer) {
        (probe.sent(), true)
    } else {
        tracing::debug!(status = answer.status, error = ?answer.error(), "{}", probe.violation());
        ctx.recorder.count(probe.violation(), 1);
        let advisory = matches!(
            probe,
            Probe::DeviceCodeAgain | Probe::DeviceOtherClient | Probe::DpopProofAgain
        );
        (probe.violation(), advisory)
    };
    ctx.record(user, row, answer.latency, ok, Some(answer.status))
        .await;
}
