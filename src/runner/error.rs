//! What goes wrong on the way to a verdict, as types: the target unreachable or unreadable
//! ([`Transport`], [`TargetError`]), a hook that could not do its work, a profile that
//! cannot be used. None of them is ever a verdict on the server; the runner reports them
//! as ERROR with their message.

use std::error::Error as _;
use std::fmt;

/// A request that got no usable answer.
#[derive(Debug, Clone)]
pub struct Transport {
    /// Where it went (without the query, which may carry a code).
    pub url: Option<String>,
    /// What kind of failure.
    pub kind: TransportKind,
    /// The innermost cause, in the library's words.
    pub detail: String,
    /// The server's certificate was not trusted (a TLS error about the certificate).
    pub certificate: bool,
}

/// The kinds of transport failure a user acts on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// No answer within the timeout.
    Timeout,
    /// No connection (refused, unreachable, TLS handshake).
    Connect,
    /// Redirected too often.
    Redirect,
    /// The body could not be read.
    Body,
    /// Anything else.
    Other,
}

impl TransportKind {
    fn words(self) -> &'static str {
        match self {
            TransportKind::Timeout => "timed out",
            TransportKind::Connect => "could not connect",
            TransportKind::Redirect => "too many redirects",
            TransportKind::Body => "the response body could not be read",
            TransportKind::Other => "failed",
        }
    }
}

impl From<&reqwest::Error> for Transport {
    fn from(e: &reqwest::Error) -> Self {
        let kind = if e.is_timeout() {
            TransportKind::Timeout
        } else if e.is_connect() {
            TransportKind::Connect
        } else if e.is_redirect() {
            TransportKind::Redirect
        } else if e.is_body() || e.is_decode() {
            TransportKind::Body
        } else {
            TransportKind::Other
        };
        let mut detail = String::new();
        let mut source = e.source();
        while let Some(s) = source {
            detail = s.to_string();
            source = s.source();
        }
        Transport {
            url: e.url().map(|u| {
                let mut u = u.clone();
                u.set_query(None);
                u.to_string()
            }),
            kind,
            detail,
            certificate: certificate_problem(e),
        }
    }
}

/// Whether a TLS error about the server's certificate is among `e`'s causes (rustls's own
/// error type, also inside the I/O errors that carry it).
fn certificate_problem(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(err) = cause {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            if matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            ) {
                return true;
            }
        }
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref);
        if let Some(inner) = inner {
            if certificate_problem(inner) {
                return true;
            }
        }
        cause = err.source();
    }
    false
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request")?;
        if let Some(u) = &self.url {
            write!(f, " {u}")?;
        }
        write!(f, " {}", self.kind.words())?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        if self.certificate {
            write!(
                f,
                " (a self-signed or private CA certificate? trust it with the profile's `tls.ca_file` or `--ca-file PEM`, or, for a test server only, `tls.insecure: true` / `--insecure`)"
            )?;
        }
        Ok(())
    }
}

/// Why the target could not be reached, read or used (never a verdict).
#[derive(Debug, Clone, thiserror::Error)]
pub enum TargetError {
    /// A request got no usable answer.
    #[error("{0}")]
    Transport(Transport),
    /// The answer's body is larger than the harness reads.
    #[error(
        "the response body is larger than {} MiB; the harness stopped reading it",
        MAX_RESPONSE_BYTES >> 20
    )]
    TooLarge,
    /// The target cannot be used as its profile describes it (a secret not set, plain
    /// http to a remote host, no metadata, an HTTP client that cannot be built).
    #[error("{0}")]
    Setup(String),
    /// A hook could not do its work.
    #[error("{0}")]
    Hook(#[from] HookError),
    /// The target refused what the harness needed of it before any scenario (a client
    /// registration), in its own words.
    #[error("{0}")]
    Refused(String),
}

impl From<&reqwest::Error> for TargetError {
    fn from(e: &reqwest::Error) -> Self {
        TargetError::Transport(e.into())
    }
}

impl From<reqwest::Error> for TargetError {
    fn from(e: reqwest::Error) -> Self {
        TargetError::Transport((&e).into())
    }
}

/// A hook that could not do its work.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct HookError(pub String);

/// The largest response body the runner reads.
pub(crate) const MAX_RESPONSE_BYTES: usize = 8 << 20;
