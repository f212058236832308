//! The direct way to the token endpoint, the load tests' target: a token request is read
//! and answered in place, without the router's per-request boxing; everything else goes
//! through the router. One route constant ([`Endpoint::Token`]) and one rule for when the
//! way is closed (a fault that shapes responses) live here.

use super::{params, token, AppState};
use crate::endpoint::Endpoint;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// `POST` to [`Endpoint::Token`]'s path goes straight to its handler; every other request
/// goes through the router. Nothing on the direct way is boxed ([`DispatchFuture`]); the
/// handler, its body reading and the error mapping around it are the router's own, and a
/// fault that shapes responses ([`FaultSet::shapes_responses`]) sends everything through
/// the router, where its layer is.
#[derive(Clone, Debug)]
pub struct Dispatch {
    state: Arc<AppState>,
    router: Router,
    direct: bool,
}

impl Dispatch {
    /// Over `router`; the direct way only when `direct` and no fault shapes responses.
    pub(super) fn new(state: Arc<AppState>, router: Router, direct: bool) -> Dispatch {
        // A pause waits in the routed handler: the direct way answers without waiting.
        let direct = direct && !state.faults.shapes_responses() && state.pause.is_none();
        Dispatch {
            state,
            router,
            direct,
        }
    }

    /// Whether token requests take the direct way.
    #[cfg(test)]
    pub(crate) fn is_direct(&self) -> bool {
        self.direct
    }
}

impl tower::Service<Request> for Dispatch {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = DispatchFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> DispatchFuture {
        // The path only: a query may carry a state or a code.
        tracing::debug!(method = %req.method(), path = %req.uri().path(), "request");
        if self.direct
            && req.method() == axum::http::Method::POST
            && req.uri().path() == Endpoint::Token.path()
        {
            let (head, body) = req.into_parts();
            return DispatchFuture::Token(TokenRequest {
                reader: params::BodyReader::new(self.state.policy.max_body_bytes),
                state: self.state.clone(),
                head: Some(head),
                body,
            });
        }
        DispatchFuture::Router(tower::Service::call(&mut self.router, req))
    }
}

/// What [`Dispatch`] answers with: a token request read and answered in place, or the
/// router's own future. Neither is boxed; both are `Unpin`.
pub enum DispatchFuture {
    /// `POST /oauth/token`.
    Token(TokenRequest),
    /// Everything else.
    Router(axum::routing::future::RouteFuture<std::convert::Infallible>),
}

impl std::fmt::Debug for DispatchFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DispatchFuture::Token(t) => f.debug_tuple("Token").field(t).finish(),
            DispatchFuture::Router(_) => f.write_str("Router(..)"),
        }
    }
}

impl std::future::Future for DispatchFuture {
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            DispatchFuture::Token(t) => Pin::new(t).poll(cx),
            DispatchFuture::Router(r) => Pin::new(r).poll(cx),
        }
    }
}

/// A token request whose body is being read; then [`token::answer`] answers it, as the
/// routed [`token::token`] does.
pub struct TokenRequest {
    state: Arc<AppState>,
    head: Option<axum::http::request::Parts>,
    body: Body,
    reader: params::BodyReader,
}

/// Headers and body carry credentials: not shown.
impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest").finish_non_exhaustive()
    }
}

impl std::future::Future for TokenRequest {
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let read = std::task::ready!(this.reader.poll_read(&mut this.body, cx));
        let Some(head) = this.head.take() else {
            // Polled again after it answered: a caller's bug, answered rather than a panic.
            return Poll::Ready(Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response()));
        };
        let mut res = match read {
            Ok(body) => token::answer(
                &this.state,
                &params::Posted {
                    uri: head.uri,
                    headers: head.headers,
                    body,
                },
            ),
            Err(rejection) => rejection,
        };
        super::stamp_date(&this.state, &mut res);
        Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::server::config::ServerConfig;

    /// A server with no fault takes the direct way only where its router allows it (that
    /// no fault is bypassed by it: `server::tests::no_fault_is_bypassed_by_the_direct_way`).
    #[test]
    fn the_direct_way_is_taken_only_where_allowed() {
        let clean = Arc::new(AppState::new(
            ServerConfig::builtin(),
            "http://127.0.0.1:1".into(),
            Clock::frozen(),
        ));
        assert!(Dispatch::new(clean.clone(), Router::new(), true).is_direct());
        assert!(!Dispatch::new(clean, Router::new(), false).is_direct());
    }
}
