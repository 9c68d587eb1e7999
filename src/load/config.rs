//! Everything `monlab load` needs, validated: the load generator's own config type.

use std::time::Duration;

/// The longest run `monlab load` accepts.
pub const LOAD_MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// Default mean delay of an outcome: 20 minutes of system time.
pub(crate) const DEFAULT_FEEDBACK_DELAY: Duration = Duration::from_secs(1200);
/// Longest mean feedback delay `monlab load` accepts.
pub(crate) const MAX_FEEDBACK_DELAY: Duration = Duration::from_secs(24 * 3600);
/// The most requests `monlab load` accepts in one run.
pub const LOAD_MAX_REQUESTS: u64 = 1_000_000_000;

/// Everything `monlab load` needs, validated. Both bounds are always set, so every run ends.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Host and port of the service (plain HTTP).
    pub target: http::uri::Authority,
    /// Requests per second the schedule aims at (> 0).
    pub rate: f64,
    /// How arrivals are spaced.
    pub arrivals: super::Arrivals,
    /// How the rate varies over the run (`rate` is its peak).
    pub shape: super::Shape,
    /// Longest run; [`LOAD_MAX_DURATION`] when only a request count was given.
    pub duration: Duration,
    /// Most requests; [`LOAD_MAX_REQUESTS`] when only a duration was given.
    pub requests: u64,
    /// Route weights.
    pub mix: super::Mix,
    /// Users `u0..u{users-1}` (at least 1).
    pub users: u64,
    /// Share of logins with a wrong token, from 0 to 1.
    pub bad_login_share: f64,
    /// Most requests in flight at once.
    pub concurrency: usize,
    /// Longest wait for one response, from its actual send.
    pub timeout: Duration,
    /// Seed for a reproducible run; `None` draws one from the OS.
    pub seed: Option<u64>,
    /// Whether to draw a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
    /// Share of approved predictions whose true outcome is sent to `/feedback`, from 0 to 1
    /// (declined ones never have an outcome).
    pub feedback_share: f64,
    /// Mean delay before an outcome is sent (exponential, cut at 10 means).
    pub feedback_delay: Duration,
    /// How often the load asks the service which incidents run (the world incidents it
    /// applies start that much late at most).
    pub world_poll: Duration,
}

impl Default for LoadConfig {
    /// The `monlab load` defaults, bounded only by the maxima: what `monlab up` runs until stopped.
    fn default() -> Self {
        Self {
            target: http::uri::Authority::from_static("127.0.0.1:8080"),
            rate: 100.0,
            arrivals: super::Arrivals::Poisson,
            shape: super::Shape::Flat,
            duration: LOAD_MAX_DURATION,
            requests: LOAD_MAX_REQUESTS,
            mix: super::Mix::default(),
            users: 1000,
            bad_login_share: 0.02,
            concurrency: 1024,
            timeout: Duration::from_secs(10),
            seed: None,
            progress: false,
            // As in credit: every approved applicant's outcome becomes known, late. Twenty
            // minutes is long against the 5-minute alert windows (months, in life), so what
            // can be known before any label shows apart from what labels tell.
            feedback_share: 1.0,
            feedback_delay: DEFAULT_FEEDBACK_DELAY,
            world_poll: super::world::POLL_INTERVAL,
        }
    }
}

impl LoadConfig {
    /// The same load in the time warp's wall time: K times the rate, so every window holds
    /// as many requests as at K = 1; the duration and the feedback delay, system times, K
    /// times shorter, and so is the shape's day. The request count and the mix stay.
    pub fn warped(mut self, speed: crate::warp::Speed) -> Self {
        self.rate *= f64::from(speed.get());
        if self.duration < LOAD_MAX_DURATION {
            self.duration = speed.scale(self.duration);
        }
        self.feedback_delay = speed.scale(self.feedback_delay);
        self.shape = self.shape.warped(speed);
        // A world incident then starts within a second of system time, as at K = 1.
        self.world_poll = speed.scale(self.world_poll);
        self
    }
}
