//! Fault switches: each makes the reference server break (or vary) exactly one rule.
//!
//! They exist so that every conformance scenario can be shown to fail against a server
//! that breaks the rule it checks (the mutation check of the conformance matrix, §0).
//! A switch is named after what it breaks and lists the requirement ids it breaks;
//! `oauth-harness serve --list-faults` prints this table.

use crate::contract::Contract;
use clap::ValueEnum;

/// One fault switch. The kebab-case variant name is the switch's command-line name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum)]
#[repr(u8)]
pub enum Fault {
    /// Unknown client ids are accepted at the device and token endpoints.
    AcceptUnknownClient,
    /// Any client secret is accepted.
    AcceptWrongSecret,
    /// 401 `invalid_client` is sent without `WWW-Authenticate` after Basic auth.
    NoWwwAuthenticate,
    /// `invalid_client` at the device endpoint is 401 instead of Noorle's 400.
    #[value(name = "invalid-client-401")]
    InvalidClient401,
    /// Error descriptions are generic instead of Noorle's documented messages.
    GenericErrorDescriptions,
    /// Unknown scopes are silently dropped and `scope` is omitted from token responses.
    IgnoreScope,
    /// A refresh may ask for more scope than was granted.
    RefreshWidensScope,
    /// The token endpoint never answers `slow_down`.
    NeverSlowDown,
    /// `slow_down` is sent but the device code's interval does not grow by 5 s.
    SlowDownNoIncrease,
    /// Authorization codes can be exchanged more than once.
    ReuseCode,
    /// A reused code does not revoke the tokens it issued.
    NoRevokeOnCodeReuse,
    /// Authorization codes never expire.
    NeverExpireCodes,
    /// Authorization codes expire one second early (at 599 s).
    EarlyExpireCodes,
    /// Device codes never expire.
    NeverExpireDeviceCodes,
    /// A device code keeps yielding tokens after the first success.
    ReuseDeviceCode,
    /// A denied device code is answered `authorization_pending` forever.
    IgnoreDeviceDenial,
    /// A device code can be redeemed by any client.
    DeviceCodeAnyClient,
    /// An authorization code can be redeemed by any client.
    CodeAnyClient,
    /// A refresh token can be used by any client.
    RefreshAnyClient,
    /// `state` is dropped from redirects.
    DropState,
    /// `state` is altered in redirects (trimmed and re-encoded).
    AlterState,
    /// PKCE verifiers are not checked.
    SkipPkce,
    /// Public clients may omit PKCE.
    PkceNotRequired,
    /// A `code_verifier` is accepted for a code issued without a challenge.
    PkceDowngrade,
    /// A missing `code_challenge_method` is treated as S256 instead of plain.
    PkceDefaultS256,
    /// Redirect URIs are matched by prefix.
    LooseRedirectUri,
    /// The token endpoint does not check `redirect_uri`.
    IgnoreRedirectUriAtToken,
    /// An unknown client or bad redirect URI is answered with a redirect, and the login form
    /// follows any `return_to`.
    RedirectOnBadRequest,
    /// Revocation answers 200 and revokes nothing.
    RevokeNoop,
    /// Revocation of an unknown token answers 400.
    #[value(name = "revoke-unknown-400")]
    RevokeUnknown400,
    /// Revoking a connected app leaves its tokens working.
    ConnectedAppRevokeNoop,
    /// The protected API does not check scope.
    ApiNoScopeCheck,
    /// The protected API answers 401 instead of 403 for insufficient scope.
    #[value(name = "api-401-for-insufficient-scope")]
    Api401ForInsufficientScope,
    /// The protected API accepts expired tokens.
    TokensNeverExpire,
    /// Public clients' refresh tokens are not rotated.
    NoRefreshRotation,
    /// A rotated refresh token presented again is accepted.
    NoRefreshReuseDetection,
    /// No refresh token even when `offline_access` was granted.
    NoRefreshToken,
    /// A refresh token is issued even without `offline_access`, and with client_credentials.
    AlwaysRefreshToken,
    /// `Cache-Control: no-store` and `Pragma: no-cache` are left out.
    NoCacheHeaders,
    /// Repeated parameters are accepted (the last one wins).
    AcceptDuplicateParams,
    /// Registration accepts any redirect URI.
    RegistrationAcceptsBadRedirect,
    /// The device authorization response has no `interval`.
    OmitInterval,
    /// Every device authorization is answered 429 with `Retry-After: 2`.
    #[value(name = "device-429")]
    Device429,
    /// Revocation answers 503 with `Retry-After: 1`.
    #[value(name = "revoke-503")]
    Revoke503,
    /// The authorization endpoint fails internally: error redirect `server_error`.
    #[value(name = "authorize-500")]
    Authorize500,
    /// Unknown members are added to JSON responses and redirects.
    ExtraMembers,
    /// Metadata advertises an `issuer` that differs from the metadata URL.
    WrongIssuer,
    /// Form bodies are refused (JSON only).
    RejectForm,
    /// JSON bodies are refused (form only).
    RejectJson,
    /// The token endpoint accepts `grant_type=password`.
    AllowPasswordGrant,
    /// `response_type=token` is accepted and an access token is put in the fragment
    /// (matrix §24.3's `implicit-enabled`).
    #[value(alias = "implicit-enabled")]
    AllowImplicit,
    /// The device verification page does not limit wrong user codes.
    VerifyNoRateLimit,
    /// The consent form does not check its anti-CSRF value.
    ConsentNoCsrf,
    /// Error redirects are sent before the user has logged in.
    RedirectBeforeLogin,
    /// User-facing pages carry no anti-framing headers.
    NoFrameProtection,
    /// The authorization endpoint answers CORS requests.
    CorsAuthorize,
    /// Introspection answers without client authentication.
    IntrospectNoAuth,
    /// Approving a user code works after the device code expired.
    ApproveAfterExpiry,
    /// Client credentials are accepted from the request URI query.
    CredentialsInQuery,
    /// The token endpoint answers GET requests.
    TokenAcceptsGet,
    /// The device grant is allowed for every client.
    DeviceGrantAnyClient,
    /// Refresh tokens never expire from inactivity.
    RefreshNeverIdleExpires,
    /// Registration accepts inconsistent or unknown client metadata.
    RegistrationAcceptsBadMetadata,
    /// The protected API answers with a bare `WWW-Authenticate: Bearer` challenge.
    BareBearerChallenge,
    /// The login form answers 307, which would make the browser re-send the credentials.
    #[value(name = "login-307")]
    Login307,
    /// The device endpoint never rate-limits.
    NoDeviceRateLimit,
    /// The metadata document does not advertise the device authorization endpoint.
    NoDeviceMetadata,
    /// No RFC 8414 metadata document is published (404).
    NoMetadata,
    /// Revocation does not check that the token was issued to the client asking.
    RevokeAnyClient,
    /// The metadata document does not advertise `code_challenge_methods_supported`.
    NoPkceMetadata,
    /// Authorization responses carry no `iss` (RFC 9207), while the metadata still says they do.
    IssMissing,
    /// Error redirects carry no `iss`; successful ones still do.
    IssMissingOnError,
    /// `iss` in authorization responses is the issuer with a trailing `/`.
    IssWrongValue,
    /// The metadata leaves out `authorization_response_iss_parameter_supported`; `iss` is still sent.
    IssFlagAbsent,
    /// Successful authorization responses carry a foreign `iss` (`https://evil.example`): a mix-up.
    IssForeign,
    /// Error redirects carry a foreign `iss` (`https://evil.example`): a mix-up.
    IssForeignError,
    /// The PAR endpoint takes any client's word for who it is (no secret checked).
    ParNoClientAuth,
    /// A pushed request is answered 200 instead of 201.
    #[value(name = "par-status-200")]
    ParStatus200,
    /// A pushed request's answer has no `expires_in`.
    ParNoExpiresIn,
    /// The authorization endpoint ignores `request_uri` (the pushed request is never used).
    ParIgnoreRequestUri,
    /// A pushed request that carries a `request_uri` of its own is accepted.
    ParAcceptRequestUri,
    /// Pushed requests are kept unvalidated, and their redirect URI trusted at the
    /// authorization endpoint.
    ParSkipValidation,
    /// A `request_uri` works for any client, not only the one that pushed it.
    ParUnboundRequestUri,
    /// `request_uri` values never expire.
    ParNeverExpire,
    /// A `request_uri` yields a code every time it is used.
    ParReusableRequestUri,
    /// The PAR endpoint answers GET as well.
    ParAllowGet,
    /// A client registered with `require_pushed_authorization_requests` may skip PAR.
    ParRequiredIgnored,
    /// The metadata does not advertise the PAR endpoint.
    ParNoMetadata,
    /// PAR errors are sent as a redirect to the client's redirect URI.
    ParErrorRedirect,
    /// Any `client_assertion_type` is taken for the JWT bearer one.
    JwtAnyAssertionType,
    /// A client assertion's `iss` is not checked.
    JwtIgnoreIss,
    /// A client assertion's `sub` is not checked.
    JwtIgnoreSub,
    /// A client assertion's `aud` is not checked.
    JwtIgnoreAud,
    /// Only the issuer, as the sole `aud`, identifies the AS (RFC 9126 §2's token and PAR
    /// endpoint URLs are refused under the original rules).
    JwtAudIssuerOnly,
    /// Under the issuer-only audience rules, the token and PAR endpoint URLs are taken as
    /// `aud` too, and an `aud` array that holds the issuer.
    JwtAudLegacy,
    /// A client assertion without `typ: client-authentication+jwt` is refused.
    JwtRequireTyp,
    /// A client assertion's `exp` is neither required nor checked.
    JwtIgnoreExp,
    /// A client assertion's `nbf` is not checked.
    JwtIgnoreNbf,
    /// A client assertion's signature is not verified.
    JwtSkipSignature,
    /// A client assertion verifies with a key registered by any client.
    JwtAnyRegisteredClientKey,
    /// An unsigned client assertion (`alg: none`) is accepted.
    JwtAcceptAlgNone,
    /// A private_key_jwt client authenticates with an HMAC keyed with its public JWK.
    JwtHmacWithPublicKey,
    /// A client assertion's `jti` is neither required nor checked for replay.
    JwtNoJtiCheck,
    /// A `client_id` parameter naming another client than the assertion is ignored.
    JwtIgnoreClientId,
    /// A client assertion together with another authentication method is accepted.
    JwtMultiAuthOk,
    /// The metadata does not list private_key_jwt and client_secret_jwt.
    MetaNoJwtMethods,
    /// The protected resource takes a token sent by two methods at once (the header wins).
    TwoMethodsAccepted,
    /// A client's `jwks_uri` is never fetched: its keys stay unknown.
    JwksUriIgnored,
    /// The metadata lists JWT methods without `token_endpoint_auth_signing_alg_values_supported`.
    MetaNoAuthSigningAlgs,
    /// The metadata's signing algorithms for client assertions include `none`.
    MetaAuthAlgNone,
    /// Concurrent redemptions of one code: each reads it unused before any marks it used.
    RaceCodeDoubleSpend,
    /// A code's reuse within a second of its issue (a race's losers) revokes nothing.
    RaceCodeNoRevoke,
    /// Concurrent polls of one approved device code each read it unredeemed.
    RaceDeviceDoubleSpend,
    /// Concurrent refreshes with one rotating refresh token each rotate it (a fork).
    RaceRtFork,
    /// Under a reuse window, a rotated-out token's reuse issues a new refresh token: the
    /// grant forks into live branches.
    RaceRtGraceFork,
    /// Under a reuse window, a reuse inside it is taken for replay and revokes the grant.
    RaceRtGraceKillsFamily,
    /// Under a reuse window, the window never closes and covers every generation.
    RaceRtGraceForever,
    /// Concurrent requests with one client assertion each read its `jti` unseen.
    RaceJtiDoubleSpend,
    /// Concurrent approvals of one pushed request each read its `request_uri` unused.
    RaceParDoubleUse,
    /// Under OAuth 2.1, a confidential client may still omit `code_challenge`.
    PkceOptionalConfidential,
    /// Under OAuth 2.1, a code issued without `code_challenge` (the OpenID Connect `nonce`
    /// exception) is redeemed.
    CodeWithoutChallengeRedeemable,
    /// Under OAuth 2.1, the token endpoint still wants the `redirect_uri` of the request.
    RequireRedirectUriAtToken,
    /// Under OAuth 2.1, a replayed code with a wrong verifier revokes the tokens it issued.
    RevokeOnInvalidReplay,
    /// Client credentials in the request body (`client_secret_post`) are refused.
    NoClientSecretPost,
    /// Under OAuth 2.1, an authorization error shown to the user is a 200 page.
    #[value(name = "authorize-error-200")]
    AuthorizeError200,
    /// Under OAuth 2.1, registration takes a private-use redirect scheme without a period.
    AllowSchemeWithoutDot,
    /// Under OAuth 2.1, the `plain` PKCE method is still taken and advertised.
    PkceAllowPlain,
    /// Under OAuth 2.1, a challenge without `code_challenge_method` is taken as `plain`.
    PkceMissingMethodPlain,
    /// A loopback redirect URI must name its registered port (none: the port given).
    LoopbackPortExact,
    /// The protected API takes an access token from the URI query (`?access_token=`).
    QueryTokenAccepted,
    /// A DPoP-bound access token is answered with `token_type` Bearer.
    DpopBearerTokenType,
    /// A request with two `DPoP` headers is taken (the first proof counts).
    DpopAcceptTwoHeaders,
    /// A DPoP proof without `jti`, `htm`, `htu` or `iat` is taken.
    DpopSkipClaims,
    /// A DPoP proof's `typ` is not checked.
    DpopAcceptWrongTyp,
    /// An unsigned DPoP proof (`alg: none`) is taken.
    DpopAcceptAlgNone,
    /// A DPoP proof with an HMAC `alg` is taken, unverified.
    DpopAcceptHs256,
    /// A DPoP proof's signature is not verified.
    DpopSkipSignature,
    /// A DPoP proof whose `jwk` holds the private key is taken.
    DpopAcceptPrivateJwk,
    /// A DPoP proof's `htm` is not compared with the method.
    DpopAcceptWrongHtm,
    /// A DPoP proof's `htu` is not compared with the request's URI.
    DpopAcceptWrongHtu,
    /// A DPoP proof's `htu` is compared code point for code point, not normalized.
    DpopStrictHtu,
    /// A DPoP proof of any age is taken.
    DpopNoIatWindow,
    /// A DPoP proof can be replayed (its `jti` is not remembered).
    DpopNoJtiCheck,
    /// `use_dpop_nonce` comes without a `DPoP-Nonce` header.
    DpopNonceNoHeader,
    /// Any nonce in a DPoP proof is taken.
    DpopNonceIgnoreMismatch,
    /// A key once given a nonce may send proofs without one.
    DpopNonceDowngrade,
    /// Introspection of a DPoP-bound token leaves out `cnf.jkt`.
    DpopNoCnf,
    /// A public client's refresh token is not bound to its DPoP key.
    DpopUnboundPublicRt,
    /// A client registered with `dpop_bound_access_tokens` gets tokens without a proof.
    DpopIgnoreBoundFlag,
    /// `dpop_jkt` of the authorization request is not checked at the token endpoint.
    DpopIgnoreDpopJkt,
    /// A DPoP proof sent to PAR binds nothing.
    DpopParIgnoreHeader,
    /// The protected API takes a DPoP-bound token without a proof.
    DpopRsNoProofOk,
    /// The protected API does not check a proof's `ath`.
    DpopRsSkipAth,
    /// The protected API does not check that the proof's key is the token's.
    DpopRsSkipKeyMatch,
    /// The protected API does not check a proof's `htm` and `htu`.
    DpopRsSkipHtmHtu,
    /// The protected API takes a DPoP-bound token with the Bearer scheme.
    DpopRsAcceptBearer,
    /// The protected API's DPoP challenge carries an error even without credentials.
    DpopRsChallengeErrorAlways,
    /// Metadata lists HS256 among `dpop_signing_alg_values_supported`.
    DpopMetaHs256,
}

impl Fault {
    /// Every fault, in declaration order.
    pub fn all() -> &'static [Fault] {
        Fault::value_variants()
    }

    /// The command-line name (`accept-unknown-client`).
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::from_str(name, false).ok()
    }

    /// What the switch breaks, in one line.
    pub fn description(self) -> String {
        self.to_possible_value()
            .and_then(|v| v.get_help().map(|h| h.to_string()))
            .unwrap_or_default()
    }

    /// Whether the switch varies allowed behaviour rather than breaking a rule: a correct
    /// client must tolerate it, so the suite must *pass* with it on (`extra-members`:
    /// unknown members and parameters, CLIENT-15).
    pub(crate) fn must_be_tolerated(self) -> bool {
        matches!(self, Fault::ExtraMembers)
    }

    /// Whether the switch changes responses after their handler (a layer on the router,
    /// so the direct way to the token endpoint closes while it is on).
    pub(crate) fn shapes_responses(self) -> bool {
        matches!(self, Fault::ExtraMembers | Fault::NoCacheHeaders)
    }

    /// The conformance-matrix requirement ids that the switch breaks.
    pub fn requirements(self) -> &'static [&'static str] {
        use Fault::*;
        match self {
            AcceptUnknownClient => &["DEV-9", "TOK-14", "NOORLE-10", "NOORLE-20"],
            AcceptWrongSecret => &["TOK-14", "TOK-15", "DEV-12", "REV-11", "INTRO-5"],
            NoWwwAuthenticate => &["TOK-15", "DEV-9", "REV-11"],
            InvalidClient401 => &["NOORLE-9", "NOORLE-10"],
            GenericErrorDescriptions => &["NOORLE-10", "NOORLE-11"],
            IgnoreScope => &[
                "DEV-10",
                "TOK-28",
                "TOK-9",
                "AUTHZ-13",
                "NOORLE-11",
                "NOORLE-20",
            ],
            RefreshWidensScope => &["REF-3"],
            NeverSlowDown => &["DEV-16"],
            SlowDownNoIncrease => &["DEV-16"],
            ReuseCode => &["TOK-21"],
            NoRevokeOnCodeReuse => &["TOK-22"],
            NeverExpireCodes => &["TOK-19", "TOK-20", "NOORLE-19"],
            EarlyExpireCodes => &["NOORLE-19"],
            NeverExpireDeviceCodes => &["DEV-19", "DEV-20"],
            ReuseDeviceCode => &["DEV-21"],
            IgnoreDeviceDenial => &["DEV-18"],
            DeviceCodeAnyClient => &["DEV-23"],
            CodeAnyClient => &["TOK-23"],
            RefreshAnyClient => &["REF-6"],
            DropState => &["AUTHZ-2", "AUTHZ-3", "AUTHZ-16", "NOORLE-17"],
            AlterState => &["AUTHZ-3", "AUTHZ-16", "NOORLE-17"],
            SkipPkce => &["PKCE-1", "PKCE-2", "PKCE-3", "PKCE-8"],
            PkceNotRequired => &["PKCE-7"],
            PkceDowngrade => &["BCP-7"],
            PkceDefaultS256 => &["PKCE-4"],
            LooseRedirectUri => &["AUTHZ-5", "BCP-1"],
            IgnoreRedirectUriAtToken => &["TOK-24", "TOK-25"],
            RedirectOnBadRequest => &["AUTHZ-6", "AUTHZ-7", "AUTHZ-8", "BCP-4"],
            RevokeNoop => &["REV-2", "REV-3", "REV-7", "REV-8"],
            RevokeUnknown400 => &["REV-5"],
            ConnectedAppRevokeNoop => &["REV-12", "NOORLE-22"],
            ApiNoScopeCheck => &["RES-7", "RES-9", "NOORLE-21"],
            Api401ForInsufficientScope => &["RES-7", "NOORLE-21"],
            TokensNeverExpire => &["RES-9"],
            NoRefreshRotation => &["REF-8", "REF-9"],
            NoRefreshReuseDetection => &["REF-9", "REF-10"],
            NoRefreshToken => &["NOORLE-18", "REF-1"],
            AlwaysRefreshToken => &["TOK-31"],
            NoCacheHeaders => &["TOK-6", "TOK-7", "DEV-3"],
            AcceptDuplicateParams => &["DEV-8", "TOK-4", "AUTHZ-14"],
            RegistrationAcceptsBadRedirect => &["REG-8", "BCP-3"],
            OmitInterval => &["CLIENT-2", "NOORLE-5"],
            Device429 => &["CLIENT-18", "NOORLE-16"],
            Revoke503 => &["REV-13", "CLIENT-18"],
            Authorize500 => &["AUTHZ-17"],
            ExtraMembers => &["CLIENT-15"],
            WrongIssuer => &["META-5", "CLIENT-16"],
            RejectForm => &["TOK-2", "DEV-1"],
            RejectJson => &["NOORLE-3", "NOORLE-12"],
            AllowPasswordGrant => &["BCP-9"],
            AllowImplicit => &["AUTHZ-10", "BCP-8"],
            VerifyNoRateLimit => &["DEV-24"],
            ConsentNoCsrf => &["AUTHZ-18"],
            RedirectBeforeLogin => &["BCP-5"],
            NoFrameProtection => &["BCP-12"],
            CorsAuthorize => &["BCP-11"],
            IntrospectNoAuth => &["INTRO-1"],
            ApproveAfterExpiry => &["DEV-20"],
            CredentialsInQuery => &["TOK-17"],
            TokenAcceptsGet => &["TOK-1"],
            DeviceGrantAnyClient => &["DEV-11"],
            RefreshNeverIdleExpires => &["REF-11"],
            RegistrationAcceptsBadMetadata => &["REG-9", "REG-10"],
            BareBearerChallenge => &["RES-4", "RES-5"],
            Login307 => &["BCP-10"],
            NoDeviceRateLimit => &["NOORLE-16"],
            NoDeviceMetadata => &["META-10"],
            // Without metadata and without documentation, PKCE support is undetectable.
            NoMetadata => &["META-1", "BCP-6"],
            RevokeAnyClient => &["REV-10"],
            NoPkceMetadata => &["META-11", "BCP-6"],
            IssMissing => &["ISS-2", "ISS-3", "ISS-5", "ISS-7"],
            IssMissingOnError => &["ISS-3"],
            IssWrongValue => &["ISS-4"],
            IssFlagAbsent => &["ISS-5", "ISS-8"],
            IssForeign => &["ISS-4", "ISS-6"],
            IssForeignError => &["ISS-4", "ISS-6"],
            ParNoClientAuth => &["PAR-1"],
            ParStatus200 | ParNoExpiresIn => &["PAR-2"],
            ParIgnoreRequestUri => &["PAR-3"],
            ParAcceptRequestUri => &["PAR-4"],
            ParSkipValidation => &["PAR-5", "PAR-13"],
            ParUnboundRequestUri => &["PAR-6"],
            ParNeverExpire => &["PAR-7"],
            ParReusableRequestUri => &["PAR-8"],
            ParAllowGet => &["PAR-9"],
            ParRequiredIgnored => &["PAR-10"],
            ParNoMetadata => &["PAR-11"],
            ParErrorRedirect => &["PAR-14"],
            JwtAnyAssertionType => &["JWTAUTH-2"],
            JwtIgnoreIss => &["JWTAUTH-3"],
            JwtIgnoreSub => &["JWTAUTH-4"],
            JwtIgnoreAud => &["JWTAUTH-5"],
            JwtAudIssuerOnly => &["JWTAUTH-6"],
            JwtAudLegacy => &["JWTAUTH-7"],
            JwtRequireTyp => &["JWTAUTH-8"],
            JwtIgnoreExp => &["JWTAUTH-9"],
            JwtIgnoreNbf => &["JWTAUTH-10"],
            JwtSkipSignature | JwtAnyRegisteredClientKey | JwksUriIgnored => &["JWTAUTH-11"],
            JwtAcceptAlgNone => &["JWTAUTH-12"],
            JwtHmacWithPublicKey => &["JWTAUTH-13"],
            JwtNoJtiCheck => &["JWTAUTH-14", "JWTAUTH-15"],
            JwtIgnoreClientId => &["JWTAUTH-16"],
            JwtMultiAuthOk => &["JWTAUTH-17"],
            MetaNoJwtMethods => &["JWTAUTH-18"],
            MetaNoAuthSigningAlgs | MetaAuthAlgNone => &["JWTAUTH-19"],
            RaceCodeDoubleSpend => &["RACE-1"],
            RaceCodeNoRevoke => &["RACE-2"],
            RaceDeviceDoubleSpend => &["RACE-3"],
            RaceRtFork => &["RACE-4"],
            RaceRtGraceFork => &["RACE-5"],
            RaceRtGraceKillsFamily => &["RACE-6"],
            RaceRtGraceForever => &["RACE-7", "RACE-8"],
            RaceJtiDoubleSpend => &["RACE-10"],
            RaceParDoubleUse => &["RACE-9"],
            PkceOptionalConfidential => &["OAUTH21-1"],
            CodeWithoutChallengeRedeemable => &["OAUTH21-2"],
            RequireRedirectUriAtToken => &["OAUTH21-3"],
            RevokeOnInvalidReplay => &["OAUTH21-4"],
            NoClientSecretPost => &["OAUTH21-5"],
            AuthorizeError200 => &["OAUTH21-6"],
            AllowSchemeWithoutDot => &["OAUTH21-7"],
            PkceAllowPlain => &["PKCE-5", "OAUTH21-8"],
            PkceMissingMethodPlain => &["PKCE-4"],
            LoopbackPortExact => &["BCP-2"],
            QueryTokenAccepted => &["RES-10"],
            TwoMethodsAccepted => &["RES-8"],
            DpopBearerTokenType => &["DPOP-1"],
            DpopAcceptTwoHeaders => &["DPOP-2"],
            DpopSkipClaims => &["DPOP-3"],
            DpopAcceptWrongTyp => &["DPOP-4"],
            DpopAcceptAlgNone => &["DPOP-5"],
            DpopAcceptHs256 => &["DPOP-5"],
            DpopSkipSignature => &["DPOP-6"],
            DpopAcceptPrivateJwk => &["DPOP-7"],
            DpopAcceptWrongHtm => &["DPOP-8"],
            DpopAcceptWrongHtu => &["DPOP-9"],
            DpopStrictHtu => &["DPOP-10"],
            DpopNoIatWindow => &["DPOP-11", "DPOP-24"],
            DpopNoJtiCheck => &["DPOP-12"],
            DpopNonceNoHeader => &["DPOP-13"],
            DpopNonceIgnoreMismatch => &["DPOP-14"],
            DpopNonceDowngrade => &["DPOP-15", "DPOP-27"],
            DpopNoCnf => &["DPOP-16"],
            DpopUnboundPublicRt => &["DPOP-17"],
            DpopIgnoreBoundFlag => &["DPOP-18"],
            DpopIgnoreDpopJkt => &["DPOP-19"],
            DpopParIgnoreHeader => &["DPOP-20"],
            DpopRsNoProofOk => &["DPOP-21"],
            DpopRsSkipAth => &["DPOP-22"],
            DpopRsSkipKeyMatch => &["DPOP-23"],
            DpopRsSkipHtmHtu => &["DPOP-24"],
            DpopRsAcceptBearer => &["DPOP-25"],
            DpopRsChallengeErrorAlways => &["DPOP-26"],
            DpopMetaHs256 => &["DPOP-28"],
        }
    }

    /// The contracts whose suites must catch the switch (`mutate` runs it under each):
    /// the builtin's own (`noorle`), OAuth 2.1's (matrix §22: the switches that break its
    /// rules or its overrides), or both where the rows are judged under both, at the
    /// level each contract gives them (BCP-2 and RES-10 are MAYs under the RFCs, MUSTs
    /// under OAuth 2.1; the implicit grant breaks AUTHZ-10 under both; ISS-1 and PKCE-7
    /// hold on every OAuth 2.1 server, not only on one that opts in).
    pub fn contracts(self) -> &'static [Contract] {
        use Fault::*;
        match self {
            PkceOptionalConfidential
            | CodeWithoutChallengeRedeemable
            | RequireRedirectUriAtToken
            | RevokeOnInvalidReplay
            | NoClientSecretPost
            | AuthorizeError200
            | AllowSchemeWithoutDot
            | PkceAllowPlain
            | PkceMissingMethodPlain => &[Contract::Oauth21],
            AllowImplicit | LoopbackPortExact | QueryTokenAccepted | IssMissing
            | PkceNotRequired | TwoMethodsAccepted => &[Contract::Noorle, Contract::Oauth21],
            _ => &[Contract::Noorle],
        }
    }

    /// Its word in a [`FaultSet`] and its bit there.
    fn place(self) -> (usize, u64) {
        let n = self as u8;
        (usize::from(n >> 6), 1u64 << (n & 63))
    }
}

/// A set of fault switches, a bit per switch (room for every `u8` discriminant, so the
/// `#[repr(u8)]` enum can never outgrow it); checking one is a single word test on the
/// hot path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultSet([u64; 4]);

impl FaultSet {
    /// No faults: the conformant server.
    pub fn none() -> Self {
        FaultSet([0; 4])
    }

    /// Whether `f` is switched on.
    pub fn has(self, f: Fault) -> bool {
        let (word, bit) = f.place();
        self.0[word] & bit != 0
    }

    /// Switches `f` on.
    pub(crate) fn insert(&mut self, f: Fault) {
        let (word, bit) = f.place();
        self.0[word] |= bit;
    }

    /// Whether a switch that shapes responses is on.
    pub(crate) fn shapes_responses(self) -> bool {
        self.iter().any(Fault::shapes_responses)
    }

    /// Whether no switch is on.
    pub fn is_empty(self) -> bool {
        self.0 == [0; 4]
    }

    /// The switches that are on.
    pub fn iter(self) -> impl Iterator<Item = Fault> {
        Fault::all().iter().copied().filter(move |f| self.has(*f))
    }
}

impl FromIterator<Fault> for FaultSet {
    fn from_iter<I: IntoIterator<Item = Fault>>(iter: I) -> Self {
        let mut s = FaultSet::none();
        for f in iter {
            s.insert(f);
        }
        s
    }
}

/// The `--list-faults` table: name, requirement ids, description.
pub(crate) fn fault_table() -> String {
    let width = Fault::all()
        .iter()
        .map(|f| f.name().len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for f in Fault::all() {
        out.push_str(&format!(
            "{:<width$}  {:<40}  {}\n",
            f.name(),
            f.requirements().join(","),
            f.description()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_has_a_name_ids_and_a_description_and_fits_the_set() {
        assert!(Fault::all().len() <= 256);
        for f in Fault::all() {
            assert_eq!(Fault::from_name(&f.name()), Some(*f));
            assert!(!f.requirements().is_empty(), "{f:?}");
            assert!(!f.description().is_empty(), "{f:?}");
        }
        let set: FaultSet = [Fault::ReuseCode, Fault::DropState].into_iter().collect();
        assert!(set.has(Fault::ReuseCode) && set.has(Fault::DropState));
        assert!(!set.has(Fault::SkipPkce));
        assert_eq!(set.iter().count(), 2);
        // Past the first word: the last switch, alone.
        let last = *Fault::all().last().unwrap_or(&Fault::ReuseCode);
        let one: FaultSet = [last].into_iter().collect();
        assert!(one.has(last) && !one.has(Fault::ReuseCode) && !one.is_empty());
        assert_eq!(one.iter().collect::<Vec<_>>(), vec![last]);
    }
}
