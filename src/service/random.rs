//! `GET /random`: a value drawn from one distribution, answered after a delay drawn from
//! another. The delay is an async sleep, so thousands of requests can wait at once on a few
//! threads. `GET /distributions` tells what is drawn, so `recover` can compare against it.

use super::error::{ApiError, Query};
use super::AppState;
use super::RandomConfig;
use crate::api::distributions::{Distributions, RandomAnswer, RandomParams};
use crate::distribution::Sampler;
use axum::extract::State;
use axum::Json;
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::time::Duration;

/// Draws (value, delay) pairs; seeded for reproducible runs.
#[derive(Debug)]
pub struct RandomSource {
    value: Sampler,
    delay: Sampler,
    max_delay: f64,
    rng: Mutex<StdRng>,
    config: RandomConfig,
}

/// One draw.
#[derive(Debug, Clone, Copy)]
pub struct Draw {
    /// The value to return.
    pub value: f64,
    /// The delay before returning, in seconds, capped at `max_delay`.
    pub delay_seconds: f64,
}

impl RandomSource {
    /// Builds the samplers from a validated config.
    pub fn new(cfg: &RandomConfig) -> Self {
        let rng = match cfg.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Self {
            value: cfg.value.sampler(),
            delay: cfg.delay.sampler(),
            max_delay: cfg.max_delay.as_secs_f64(),
            rng: Mutex::new(rng),
            config: cfg.clone(),
        }
    }

    /// Draws the next value and delay.
    pub fn draw(&self) -> Draw {
        let mut rng = self.rng.lock();
        let value = self.value.sample(&mut *rng);
        let delay_seconds = self.delay.sample(&mut *rng).clamp(0.0, self.max_delay);
        Draw {
            value,
            delay_seconds,
        }
    }
}

/// Checks a user id: bounded and plain, since it may reach logs and fault decisions.
pub(crate) fn validate_user(user: &str) -> Result<(), ApiError> {
    if crate::telemetry::exemplars::valid_user(user) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "query parameter user must be 1-64 characters of A-Z, a-z, 0-9, '_', '-', '.'".into(),
        ))
    }
}

/// `GET /random`.
pub(crate) async fn random(
    State(state): State<AppState>,
    Query(params): Query<RandomParams>,
) -> Result<Json<RandomAnswer>, ApiError> {
    if let Some(user) = &params.user {
        validate_user(user)?;
        // The slow-users incident: the same share of users waits longer on every request.
        if let Some(extra) = state.faults.slow_user_delay(user) {
            tokio::time::sleep(extra).await;
        }
    }
    let draw = state.random.draw();
    // A zero delay must not wait for the timer's next 1 ms tick.
    if draw.delay_seconds > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(draw.delay_seconds)).await;
    }
    // The golden-signal layer names the request; without it (metrics off) no exemplar.
    let request = crate::telemetry::exemplars::current();
    state
        .metrics
        .random
        .observe(draw.value, draw.delay_seconds, request);
    Ok(Json(RandomAnswer {
        value: draw.value,
        delay_seconds: draw.delay_seconds,
    }))
}

/// `GET /distributions`.
pub(crate) async fn distributions(State(state): State<AppState>) -> Json<Distributions> {
    let c = &state.random.config;
    Json(Distributions {
        value: (&c.value).into(),
        delay: (&c.delay).into(),
        max_delay_seconds: c.max_delay.as_secs_f64(),
        seed: c.seed,
    })
}
