//! `monlab load`: open-loop traffic against a running service, and what it measured.
//!
//! One scheduler task walks the arrival [`schedule`] and sends every request whose intended
//! time has come; a semaphore caps the requests in flight. Waiting for a permit or for a
//! stalled server never moves a request's intended time, and latency is measured from that
//! time, so the report does not hide coordinated omission. Requests go over pooled keep-alive
//! connections (hyper's client). See [`run`] and [`Report`].
//!
//! Alongside, a task reads the service's incidents every second ([`world`]) so applicants
//! drift, lose a feature or default differently while those incidents run, and a share of the
//! approved predictions gets its true outcome sent to `/feedback` after a delay (a declined
//! application never has one). Feedback is extra traffic: it does not count against
//! `--rate` or the mix, and is reported apart.

pub(crate) mod config;
pub(crate) mod progress;
pub(crate) mod report;
pub(crate) mod request;
pub(crate) mod schedule;
pub(crate) mod world;

pub use report::{FeedbackReport, Latency, Report, RouteReport};
pub use request::{Mix, Route};
pub use schedule::{Arrivals, Shape};
pub use world::World;

pub use config::{LoadConfig, LOAD_MAX_DURATION, LOAD_MAX_REQUESTS};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use parking_lot::{Mutex, RwLock};
use rand::rngs::{SmallRng, StdRng};
use rand::{Rng, SeedableRng};
use report::{Failure, Outcome, Recorder, RunFacts};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Why a run could not go ahead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request could not be built (a bug: the config is validated).
    #[error("cannot build a request: {0}")]
    Request(#[from] http::Error),
    /// A request body could not be encoded (a bug: the bodies are plain structs).
    #[error("cannot encode a request body: {0}")]
    Body(#[from] serde_json::Error),
    /// The latency histograms could not be set up.
    #[error("cannot set up the latency histograms: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
}

/// Counters the progress bar reads while the run goes.
#[derive(Debug, Default)]
pub struct Live {
    sent: [AtomicU64; 3],
    finished: AtomicU64,
    /// Transport errors and 5xx responses so far.
    errors: AtomicU64,
    /// Feedback requests sent so far.
    feedback_sent: AtomicU64,
    /// Feedback planned and not yet ended (waiting for its delay or in flight).
    feedback_pending: AtomicU64,
    /// Set once the schedule is done and only pending feedback is awaited: until when.
    feedback_wait_until: Mutex<Option<Instant>>,
}

impl Live {
    /// Requests sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }

    /// Requests sent and not yet ended.
    pub fn in_flight(&self) -> u64 {
        self.sent()
            .saturating_sub(self.finished.load(Ordering::Relaxed))
    }

    /// Feedback sends planned and not yet ended.
    pub fn feedback_pending(&self) -> u64 {
        self.feedback_pending.load(Ordering::Relaxed)
    }

    /// When the wait for pending feedback ends, once the run waits only for that.
    pub fn feedback_wait_until(&self) -> Option<Instant> {
        *self.feedback_wait_until.lock()
    }
}

/// What every request task shares.
struct Shared {
    client: Client<HttpConnector, Full<Bytes>>,
    recorder: Mutex<Recorder>,
    live: Arc<Live>,
    timeout: Duration,
    target: http::uri::Authority,
    /// One permit per feedback waiting for its delay or in flight.
    feedback_permits: Arc<Semaphore>,
}

/// Longest wait for cancelled requests to notice the stop and release their permits.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// How long a finished schedule waits for pending feedback: outcomes due within a request
/// timeout, then a request timeout for their answers. Later ones are cancelled (and reported
/// so), so a short run does not wait out the longest feedback delay.
fn feedback_wait(cfg: &LoadConfig) -> Duration {
    cfg.timeout
        .min(cfg.feedback_delay.mul_f64(request::FEEDBACK_DELAY_CAP))
        + cfg.timeout
}
/// Most feedback waiting at once; past it, feedback is dropped and counted. With outcomes
/// 20 minutes late, about 2,000 wait at a time at `up`'s 2 predictions/s, and 10,000 at
/// `load`'s default 10/s (rates scale with the time warp, delays shrink by it: the same
/// count); the cap (a few hundred bytes each) bounds memory from 80 predictions/s on.
const MAX_PENDING_FEEDBACK: usize = 100_000;
/// Largest `/predict` answer read for its prediction id.
const MAX_PREDICT_ANSWER: usize = 16 * 1024;
/// Largest `/random` answer read for the delay it reports.
const MAX_RANDOM_ANSWER: usize = 256;

/// Sends the configured load until its schedule ends or `stop` resolves, then waits for the
/// requests in flight (at most the request timeout; on `stop` they are cancelled) and returns
/// what was measured.
pub async fn run(cfg: &LoadConfig, stop: impl Future<Output = ()>) -> Result<Report, Error> {
    let mut seeds = match cfg.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_os_rng(),
    };
    // Separate streams, so changing the mix does not change the arrival times of a seed.
    let schedule_rng = SmallRng::seed_from_u64(seeds.random());
    let request_rng = SmallRng::seed_from_u64(seeds.random());

    let client = client(cfg);
    let live = Arc::new(Live::default());
    let shared = Arc::new(Shared {
        client: client.clone(),
        recorder: Mutex::new(Recorder::new()?),
        live: live.clone(),
        timeout: cfg.timeout,
        target: cfg.target.clone(),
        feedback_permits: Arc::new(Semaphore::new(MAX_PENDING_FEEDBACK)),
    });
    let world = Arc::new(RwLock::new(World::default()));
    let poller = tokio::spawn(world::poll(
        client,
        cfg.target.clone(),
        world.clone(),
        cfg.world_poll,
    ));
    let permits = Arc::new(Semaphore::new(cfg.concurrency));
    let (cancel, cancelled) = watch::channel(false);
    let progress = start_progress(cfg, &live);

    let start = Instant::now();
    let mut dispatch = Dispatch::new(cfg, start, world, request_rng, schedule_rng);
    tokio::pin!(stop);
    let stopped_early = tokio::select! {
        // Stop first: at full speed the scheduler is always ready, and Ctrl-C must still win.
        biased;
        () = &mut stop => true,
        result = dispatch.run(cfg, start, &shared, &permits, &cancelled) => {
            result?;
            false
        }
    };
    let elapsed = if stopped_early {
        Instant::now() - start
    } else {
        // The schedule's own end: its length, or the time of the first arrival not sent.
        let planned = dispatch.next.min(cfg.duration.as_secs_f64());
        (dispatch.last_send - start).max(Duration::from_secs_f64(planned))
    };
    let ending = Ending {
        stopped_early,
        cancel,
    };
    ending.drain_requests(cfg, &permits, &mut stop).await;
    ending
        .await_feedback(cfg, &shared, progress.is_some(), &mut stop)
        .await;
    poller.abort();
    if let Some(p) = progress {
        p.finish();
    }
    let report = shared
        .recorder
        .lock()
        .report(run_facts(cfg, &live, elapsed, stopped_early));
    Ok(report)
}

/// A pooled keep-alive client that gives up connecting after the request timeout.
fn client(cfg: &LoadConfig) -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    // Small requests and responses: Nagle's algorithm would only add delay.
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(cfg.timeout));
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(cfg.concurrency)
        .build(connector)
}

/// The progress line, when asked for, sized to the run's requests and longest duration.
fn start_progress(cfg: &LoadConfig, live: &Arc<Live>) -> Option<progress::Progress> {
    if !cfg.progress {
        return None;
    }
    let expected = (cfg.rate * cfg.duration.as_secs_f64())
        .ceil()
        .min(cfg.requests as f64);
    progress::Progress::start(
        live.clone(),
        expected as u64,
        cfg.duration + cfg.timeout + CANCEL_GRACE + feedback_wait(cfg),
    )
}

/// How a run ends once its schedule is done or stopped: how it stopped, and the signal that
/// cancels what is still in flight.
struct Ending {
    stopped_early: bool,
    cancel: watch::Sender<bool>,
}

impl Ending {
    /// Waits until every request has ended. Every request holds a permit until it has
    /// recorded its outcome, so holding all permits means every request has ended.
    async fn drain_requests(
        &self,
        cfg: &LoadConfig,
        permits: &Semaphore,
        stop: &mut (impl Future<Output = ()> + Unpin),
    ) {
        let all = u32::try_from(cfg.concurrency).unwrap_or(u32::MAX);
        let drained = async {
            let _ = permits.acquire_many(all).await;
        };
        if self.stopped_early {
            let _ = self.cancel.send(true);
            let _ = tokio::time::timeout(CANCEL_GRACE, drained).await;
            return;
        }
        // Requests end by their own timeout; a stop while waiting cancels them.
        let bound = cfg.timeout + CANCEL_GRACE;
        tokio::select! {
            biased;
            () = stop => {
                let _ = self.cancel.send(true);
                let _ = tokio::time::timeout(CANCEL_GRACE, permits.acquire_many(all)).await;
            }
            _ = tokio::time::timeout(bound, drained) => {}
        }
    }

    /// Every prediction has ended, so no feedback is added now. Waits for the pending ones as
    /// long as a request may take, then cancels the rest (reported as cancelled).
    async fn await_feedback(
        &self,
        cfg: &LoadConfig,
        shared: &Shared,
        progress_shown: bool,
        stop: &mut (impl Future<Output = ()> + Unpin),
    ) {
        let pending = async {
            let all = u32::try_from(MAX_PENDING_FEEDBACK).unwrap_or(u32::MAX);
            let _ = shared.feedback_permits.acquire_many(all).await;
        };
        tokio::pin!(pending);
        let live = &shared.live;
        let pending_now = live.feedback_pending();
        let waited = if self.stopped_early {
            None
        } else if pending_now == 0 {
            Some(())
        } else {
            // Say what the run still waits for and how long: the progress line counts down,
            // and without one a log line says it once.
            let feedback_wait = feedback_wait(cfg);
            let until = Instant::now() + feedback_wait;
            *live.feedback_wait_until.lock() = Some(until);
            if !progress_shown {
                tracing::info!(
                    pending = pending_now,
                    up_to_seconds = feedback_wait.as_secs(),
                    "Waiting for the feedback of predictions whose outcome is due after the run; Ctrl-C ends the wait."
                );
            }
            tokio::select! {
                biased;
                () = stop => None,
                r = tokio::time::timeout_at(until, &mut pending) => r.ok(),
            }
        };
        if waited.is_none() {
            let _ = self.cancel.send(true);
            let _ = tokio::time::timeout(CANCEL_GRACE, &mut pending).await;
        }
    }
}

/// What the report states about the run besides its measurements.
fn run_facts(cfg: &LoadConfig, live: &Live, elapsed: Duration, stopped_early: bool) -> RunFacts {
    RunFacts {
        target: format!("http://{}", cfg.target),
        arrivals: cfg.arrivals,
        mix: cfg.mix.to_string(),
        target_rate: cfg.rate,
        elapsed,
        stopped_early,
        sent: [0, 1, 2].map(|i| live.sent[i].load(Ordering::Relaxed)),
        feedback_sent: live.feedback_sent.load(Ordering::Relaxed),
        feedback_share: cfg.feedback_share,
        feedback_delay: cfg.feedback_delay,
        routes: Route::ALL
            .into_iter()
            .filter(|r| cfg.mix.weight(*r) > 0.0)
            .collect(),
    }
}

/// The scheduler's state; it outlives the scheduler future so a stop can read how far it got.
struct Dispatch {
    schedule: schedule::Schedule,
    requests: request::Requests,
    world: Arc<RwLock<World>>,
    rng: SmallRng,
    /// Intended time of the next arrival, in seconds from the start.
    next: f64,
    sent: u64,
    last_send: Instant,
}

/// How early a request may leave. Tokio's timer rounds every wake-up up to the next
/// millisecond, so sleeping until the intended time would send nearly every request late and
/// add that lag to its latency. Waking a tick early and sending what is due within it keeps
/// sends within a millisecond of the schedule either way, and latency then starts at the
/// earlier of the intended and actual send times.
const EARLY: Duration = Duration::from_millis(1);

/// Sends in a row before the scheduler yields, so request tasks and the stop get a turn while
/// it catches up on overdue arrivals.
const BATCH: u32 = 64;

impl Dispatch {
    /// The scheduler of `cfg`'s arrivals and requests, starting at `start`.
    fn new(
        cfg: &LoadConfig,
        start: Instant,
        world: Arc<RwLock<World>>,
        rng: SmallRng,
        schedule_rng: SmallRng,
    ) -> Self {
        Self {
            schedule: schedule::Schedule::shaped(cfg.arrivals, cfg.rate, cfg.shape, schedule_rng),
            requests: request::Requests::new(
                cfg.target.clone(),
                cfg.mix,
                cfg.users,
                cfg.bad_login_share,
            )
            .with_feedback(cfg.feedback_share, cfg.feedback_delay),
            world,
            rng,
            next: 0.0,
            sent: 0,
            last_send: start,
        }
    }

    async fn run(
        &mut self,
        cfg: &LoadConfig,
        start: Instant,
        shared: &Arc<Shared>,
        permits: &Arc<Semaphore>,
        cancelled: &watch::Receiver<bool>,
    ) -> Result<(), Error> {
        let end = cfg.duration.as_secs_f64();
        let mut burst = 0;
        self.next = self.schedule.next_offset();
        while self.sent < cfg.requests && self.next < end {
            let intended = start + Duration::from_secs_f64(self.next);
            if intended > Instant::now() + EARLY {
                tokio::time::sleep_until(intended - EARLY).await;
                burst = 0;
            } else if burst >= BATCH {
                tokio::task::yield_now().await;
                burst = 0;
            }
            // Waiting here delays the send, not the intended time: the wait shows in latency.
            let permit = match permits.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => match permits.clone().acquire_owned().await {
                    Ok(p) => p,
                    // The semaphore is never closed; if it were, no request could be sent.
                    Err(_) => break,
                },
            };
            let world = *self.world.read();
            let prepared = self.requests.next(&mut self.rng, &world)?;
            shared.live.sent[prepared.route.index()].fetch_add(1, Ordering::Relaxed);
            tokio::spawn(send(
                shared.clone(),
                prepared,
                intended,
                permit,
                cancelled.clone(),
            ));
            self.sent += 1;
            self.last_send = Instant::now();
            burst += 1;
            self.next = self.schedule.next_offset();
        }
        Ok(())
    }
}

/// Sends a request and reads the whole response (so the connection goes back to the pool),
/// keeping up to `keep` bytes of its body.
async fn exchange(
    shared: &Shared,
    request: http::Request<Full<Bytes>>,
    keep: usize,
) -> Result<(u16, Vec<u8>), Failure> {
    let response = shared.client.request(request).await.map_err(|e| {
        if e.is_connect() {
            Failure::Connect
        } else {
            Failure::Http
        }
    })?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut kept = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Failure::Http)?;
        if let Some(data) = frame.data_ref() {
            if kept.len() + data.len() <= keep {
                kept.extend_from_slice(data);
            }
        }
    }
    Ok((status, kept))
}

/// Sends one request, reads the whole response, records the outcome, and for a prediction
/// picked for feedback, plans its feedback.
async fn send(
    shared: Arc<Shared>,
    prepared: request::Prepared,
    intended: Instant,
    permit: OwnedSemaphorePermit,
    mut cancelled: watch::Receiver<bool>,
) {
    let request::Prepared {
        route,
        request,
        feedback,
    } = prepared;
    let keep = if feedback.is_some() {
        MAX_PREDICT_ANSWER
    } else if route == Route::Random {
        MAX_RANDOM_ANSWER
    } else {
        0
    };
    let sent_at = Instant::now();
    let (outcome, body) = tokio::select! {
        biased;
        _ = cancelled.wait_for(|c| *c) => (Outcome::Cancelled, Vec::new()),
        r = tokio::time::timeout(shared.timeout, exchange(&shared, request, keep)) => match r {
            Ok(Ok((status, body))) => (Outcome::Response(status), body),
            Ok(Err(failure)) => (Outcome::Failed(failure), Vec::new()),
            Err(_) => (Outcome::Failed(Failure::Timeout), Vec::new()),
        },
    };
    let done = Instant::now();
    // A request sent early (see EARLY) was late by nothing: it started when it left.
    let began = intended.min(sent_at);
    if matches!(outcome, Outcome::Failed(_) | Outcome::Response(500..)) {
        shared.live.errors.fetch_add(1, Ordering::Relaxed);
    }
    // `/random` says how long it waited on purpose; the rest of its service time was added.
    let reported = (route == Route::Random && outcome == Outcome::Response(200))
        .then(|| serde_json::from_slice::<ReportedDelay>(&body).ok())
        .flatten()
        .and_then(|r| Duration::try_from_secs_f64(r.delay_seconds).ok());
    {
        let mut recorder = shared.recorder.lock();
        recorder.record(route, outcome, done - began, done - sent_at);
        if let Some(delay) = reported {
            recorder.record_added(route, (done - sent_at).saturating_sub(delay));
        }
    }
    if let Some(planned) = feedback {
        plan_feedback(&shared, planned, outcome, &body, done, cancelled);
    }
    shared.live.finished.fetch_add(1, Ordering::Relaxed);
    // Released only now, so holding every permit means every outcome is recorded.
    drop(permit);
}

/// The one field of a `/random` answer the load generator reads.
#[derive(serde::Deserialize)]
struct ReportedDelay {
    delay_seconds: f64,
}

/// Schedules the feedback of an approved prediction, or counts why it cannot be sent. A
/// declined application never gets an outcome (the holdout is answered as approved).
fn plan_feedback(
    shared: &Arc<Shared>,
    planned: request::PlannedFeedback,
    outcome: Outcome,
    body: &[u8],
    answered: Instant,
    cancelled: watch::Receiver<bool>,
) {
    let answer = matches!(outcome, Outcome::Response(200))
        .then(|| serde_json::from_slice::<serde_json::Value>(body).ok())
        .flatten();
    let Some((id, decision)) = answer
        .as_ref()
        .and_then(|v| Some((v["prediction_id"].as_str()?, v["decision"].as_str()?)))
    else {
        // Nothing to label: the prediction failed.
        shared.recorder.lock().feedback_skipped();
        return;
    };
    if decision != "approve" {
        shared.recorder.lock().feedback_declined();
        return;
    }
    let id = id.to_string();
    let Ok(permit) = shared.feedback_permits.clone().try_acquire_owned() else {
        shared.recorder.lock().feedback_dropped();
        return;
    };
    shared.recorder.lock().feedback_planned();
    shared.live.feedback_pending.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(send_feedback(
        shared.clone(),
        id,
        planned,
        answered + planned.delay,
        permit,
        cancelled,
    ));
}

/// Waits until the outcome is known, then sends it to `/feedback` and records the answer.
async fn send_feedback(
    shared: Arc<Shared>,
    prediction_id: String,
    planned: request::PlannedFeedback,
    due: Instant,
    permit: OwnedSemaphorePermit,
    mut cancelled: watch::Receiver<bool>,
) {
    let waited = tokio::select! {
        biased;
        _ = cancelled.wait_for(|c| *c) => false,
        () = tokio::time::sleep_until(due) => true,
    };
    let outcome = if waited {
        let request = feedback_request(&shared.target, prediction_id, planned.label);
        match request {
            Ok(request) => {
                shared.live.feedback_sent.fetch_add(1, Ordering::Relaxed);
                let sent_at = Instant::now();
                let outcome = tokio::select! {
                    biased;
                    _ = cancelled.wait_for(|c| *c) => Outcome::Cancelled,
                    r = tokio::time::timeout(shared.timeout, exchange(&shared, request, 0)) => match r {
                        Ok(Ok((status, _))) => Outcome::Response(status),
                        Ok(Err(failure)) => Outcome::Failed(failure),
                        Err(_) => Outcome::Failed(Failure::Timeout),
                    },
                };
                Some((outcome, Instant::now() - sent_at))
            }
            // The parts are fixed and valid; if building ever failed, the label is dropped.
            Err(e) => {
                tracing::warn!(error = %e, "Cannot build a feedback request; its label is dropped.");
                None
            }
        }
    } else {
        Some((Outcome::Cancelled, Duration::ZERO))
    };
    match outcome {
        Some((outcome, took)) => shared.recorder.lock().record_feedback(outcome, took),
        None => shared.recorder.lock().feedback_dropped(),
    }
    shared.live.feedback_pending.fetch_sub(1, Ordering::Relaxed);
    drop(permit);
}

/// The `/feedback` request telling the service the true outcome of prediction `id`.
fn feedback_request(
    target: &http::uri::Authority,
    prediction_id: String,
    label: bool,
) -> Result<http::Request<Full<Bytes>>, Error> {
    let body = serde_json::to_vec(&crate::api::predict::FeedbackRequest {
        prediction_id,
        label,
    })?;
    request::build(
        target,
        http::Method::POST,
        crate::api::routes::FEEDBACK.into(),
        Some(Bytes::from(body)),
    )
}
