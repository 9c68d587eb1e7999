//! Load shedding: at most `limit` work requests at once; the next one gets 503 at once instead
//! of queueing without bound. Only the work routes are limited, so health checks and scrapes
//! still answer when the service is saturated.
//!
//! See [`ShedLayer`]: a plain tower layer, because `middleware::from_fn` boxes and clones per
//! request, which cost more than the shedding itself (docs/benchmarks.md).

use super::error::ApiError;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::gauge::Gauge;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// Counts admitted requests against the concurrency limit.
///
/// The count lives in the exported gauge itself (`monlab_http_concurrency_in_use`), so the
/// saturation ratio on the dashboard is exactly what the limiter decides on.
#[derive(Debug)]
pub struct Limiter {
    limit: usize,
    in_use: Gauge,
    // Slots held by the `burst` incident's phantom requests, included in `in_use`.
    phantom: AtomicI64,
}

/// An admitted request; frees its slot when dropped (also when the client goes away).
#[derive(Debug)]
pub struct Permit<'a>(&'a Limiter);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.in_use.dec();
    }
}

/// An admitted request holding its limiter; frees its slot when dropped.
#[derive(Debug)]
pub struct OwnedPermit(Arc<Limiter>);

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        self.0.in_use.dec();
    }
}

impl Limiter {
    /// A limiter admitting `limit` requests at once, counting them in `in_use`.
    pub fn new(limit: usize, in_use: Gauge) -> Self {
        Self {
            limit,
            in_use,
            phantom: AtomicI64::new(0),
        }
    }

    /// Holds `n` slots with phantom requests (the `burst` incident); 0 releases them.
    pub fn set_phantom(&self, n: usize) {
        let n = i64::try_from(n.min(self.limit)).unwrap_or(0);
        let before = self.phantom.swap(n, Ordering::AcqRel);
        if n != before {
            self.in_use.inc_by(n - before);
        }
    }

    /// Admits a request, or `None` when the limit is reached.
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        self.admit().then(|| Permit(self))
    }

    /// Like [`Limiter::try_acquire`], with a permit that can outlive the borrow (a response
    /// future holds it).
    pub fn try_acquire_owned(self: &Arc<Self>) -> Option<OwnedPermit> {
        self.admit().then(|| OwnedPermit(self.clone()))
    }

    fn admit(&self) -> bool {
        let before = self.in_use.inc();
        if before >= i64::try_from(self.limit).unwrap_or(i64::MAX) {
            self.in_use.dec();
            false
        } else {
            true
        }
    }

    /// Requests admitted and not yet finished (phantom ones excluded).
    pub fn in_flight(&self) -> usize {
        usize::try_from(self.in_use.get() - self.phantom.load(Ordering::Acquire)).unwrap_or(0)
    }

    /// The configured limit.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// The shedding layer; add it with `route_layer` to the work routes only.
#[derive(Debug, Clone)]
pub(crate) struct ShedLayer(Arc<Limiter>);

impl ShedLayer {
    /// Admits requests through `limiter`.
    pub(crate) fn new(limiter: Arc<Limiter>) -> Self {
        Self(limiter)
    }
}

impl<S> tower::Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Shed<S> {
        Shed {
            inner,
            limiter: self.0.clone(),
        }
    }
}

/// A route behind [`ShedLayer`].
#[derive(Debug, Clone)]
pub(crate) struct Shed<S> {
    inner: S,
    limiter: Arc<Limiter>,
}

impl<S> tower::Service<Request> for Shed<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Shedding<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match self.limiter.try_acquire_owned() {
            // The slot is freed when the answer is ready, or when the client goes away.
            Some(permit) => Shedding::Admitted {
                inner: self.inner.call(req),
                permit: Some(permit),
            },
            None => Shedding::Refused(Some(
                ApiError::Overloaded(self.limiter.limit()).into_response(),
            )),
        }
    }
}

/// The response future of [`Shed`].
#[derive(Debug)]
pub(crate) enum Shedding<F> {
    /// Admitted: the route's answer, holding a slot until it is ready.
    Admitted {
        /// The route's response future.
        inner: F,
        /// The slot, released as soon as the answer is ready.
        permit: Option<OwnedPermit>,
    },
    /// Refused with 503; taken when polled.
    Refused(Option<Response>),
}

/// Polling again after the answer was returned is a caller's bug and panics, as with any
/// completed future.
impl<F> Future for Shedding<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut *self {
            Shedding::Admitted { inner, permit } => {
                let out = std::task::ready!(Pin::new(inner).poll(cx));
                permit.take();
                Poll::Ready(out)
            }
            Shedding::Refused(response) => Poll::Ready(Ok(response
                .take()
                .expect("Shedding polled after it completed"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_and_frees_on_drop() {
        let l = Limiter::new(2, Gauge::default());
        let a = l.try_acquire().unwrap();
        let _b = l.try_acquire().unwrap();
        assert!(l.try_acquire().is_none());
        assert_eq!(l.in_flight(), 2);
        drop(a);
        assert!(l.try_acquire().is_some());
    }

    #[test]
    fn phantom_slots_count_against_the_limit() {
        let l = Limiter::new(4, Gauge::default());
        l.set_phantom(3);
        let _a = l.try_acquire().unwrap();
        assert!(l.try_acquire().is_none());
        assert_eq!(l.in_flight(), 1);
        l.set_phantom(0);
        assert!(l.try_acquire().is_some());
    }
}
