//! The fault layer: route-wide incidents (extra latency, an error share) applied before the
//! handler. It sits inside the golden-signal layer, so injected faults are measured exactly
//! like real ones.
//!
//! See [`InjectLayer`]. With no incident on the route, a request goes straight through: no
//! allocation, two atomic loads. Only while an incident runs does the layer take the general
//! (boxed) path.

use super::error::ApiError;
use super::AppState;
use crate::api::incident::Params;
use crate::incident::Incident;
use axum::extract::{MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// The fault layer; add it with `route_layer` to the work routes.
#[derive(Debug, Clone)]
pub(crate) struct InjectLayer(AppState);

impl InjectLayer {
    /// Applies the incidents in `state.faults`.
    pub(crate) fn new(state: AppState) -> Self {
        Self(state)
    }
}

impl<S> tower::Layer<S> for InjectLayer {
    type Service = Inject<S>;

    fn layer(&self, inner: S) -> Inject<S> {
        Inject {
            inner,
            state: self.0.clone(),
        }
    }
}

/// A route behind [`InjectLayer`].
#[derive(Debug, Clone)]
pub(crate) struct Inject<S> {
    inner: S,
    state: AppState,
}

/// Whether an incident's parameters name this route.
fn on_route(p: &Params, route: Option<&str>) -> bool {
    p.route.as_deref() == route
}

impl<S> tower::Service<Request> for Inject<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + Unpin + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Injecting<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let faults = &self.state.faults;
        let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str());
        if let Some(p) = faults
            .params(Incident::ExtraLatency)
            .filter(|p| on_route(p, route))
        {
            // Wait, then decide on an error share as the request leaves the wait: the
            // general path, for as long as the incident runs.
            let ready = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, ready);
            let state = self.state.clone();
            return Injecting::Delayed(Box::pin(async move {
                tokio::time::sleep(Duration::from_secs_f64(p.seconds.unwrap_or(0.5))).await;
                let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str());
                if injects_error(&state, route) {
                    return Ok(ApiError::Injected.into_response());
                }
                tower::ServiceExt::oneshot(inner, req).await
            }));
        }
        if injects_error(&self.state, route) {
            return Injecting::Failed(Some(ApiError::Injected.into_response()));
        }
        Injecting::Through(self.inner.call(req))
    }
}

/// Whether the error-share incident fails this request.
fn injects_error(state: &AppState, route: Option<&str>) -> bool {
    state
        .faults
        .params(Incident::ErrorShare)
        .filter(|p| on_route(p, route))
        .is_some_and(|p| rand::rng().random::<f64>() < p.share.unwrap_or(0.0))
}

/// The response future of [`Inject`].
pub(crate) enum Injecting<F> {
    /// No incident on the route: the route's own answer.
    Through(F),
    /// The error share picked this request; taken when polled.
    Failed(Option<Response>),
    /// Extra latency first.
    Delayed(Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>),
}

impl<F> std::fmt::Debug for Injecting<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Through(_) => "Injecting::Through",
            Self::Failed(_) => "Injecting::Failed",
            Self::Delayed(_) => "Injecting::Delayed",
        })
    }
}

/// Polling again after the answer was returned is a caller's bug and panics, as with any
/// completed future.
impl<F> Future for Injecting<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut *self {
            Injecting::Through(inner) => Pin::new(inner).poll(cx),
            Injecting::Failed(response) => Poll::Ready(Ok(response
                .take()
                .expect("Injecting polled after it completed"))),
            Injecting::Delayed(fut) => fut.as_mut().poll(cx),
        }
    }
}
