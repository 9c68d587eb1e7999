//! Load shedding: at most `limit` work requests at once; the next one gets 503 at once instead
//! of queueing without bound. Only the work routes are limited, so health checks and scrapes
//! still answer when the service is saturated.

use super::error::ApiError;
use super::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::gauge::Gauge;
use std::sync::atomic::{AtomicI64, Ordering};

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
        let before = self.in_use.inc();
        if before >= i64::try_from(self.limit).unwrap_or(i64::MAX) {
            self.in_use.dec();
            None
        } else {
            Some(Permit(self))
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

/// The middleware; add it with `route_layer` to the work routes only.
pub async fn shed(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(_permit) = state.limiter.try_acquire() else {
        return ApiError::Overloaded(state.limiter.limit()).into_response();
    };
    next.run(req).await
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
