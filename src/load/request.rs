//! What each request is: its route (from the [`Mix`]), its user, and its body.
//!
//! Users are `u0..u{N-1}`, drawn uniformly, so per-user effects on the service (the slow-users
//! incident) hit a steady share of the traffic. Logins carry the user's valid token except for
//! a configured share that gets a wrong one (a 401, the client errors a real login sees).
//! Predictions carry an applicant drawn from the same population the model was trained on,
//! as the [`World`] has them now, and, for a share of them, the outcome to report later as
//! feedback after an exponential delay. See [`Requests`].

use super::world::World;
use super::Error;
use crate::api::login::{valid_token, LoginRequest};
use crate::api::routes;
use crate::ml::dataset::Generator;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::uri::{Authority, Scheme};
use http::{Method, Request, Uri};
use http_body_util::Full;
use hyper::body::Bytes;
use rand::Rng;
use rand_distr::{Distribution, Exp1};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// A route the load generator sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// `GET /random?user=…`.
    Random,
    /// `POST /login`.
    Login,
    /// `POST /predict`.
    Predict,
}

impl Route {
    /// Every route, in the order [`Mix`] stores weights.
    pub const ALL: [Self; 3] = [Self::Random, Self::Login, Self::Predict];

    /// The name used in `--mix`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::Login => "login",
            Self::Predict => "predict",
        }
    }

    /// The route template, as the service labels it.
    pub fn path(self) -> &'static str {
        match self {
            Self::Random => routes::RANDOM,
            Self::Login => routes::LOGIN,
            Self::Predict => routes::PREDICT,
        }
    }

    /// The HTTP method.
    pub fn method(self) -> Method {
        match self {
            Self::Random => Method::GET,
            Self::Login | Self::Predict => Method::POST,
        }
    }

    /// Position in [`Route::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Relative weights of the routes; at least one is positive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mix {
    weights: [f64; 3],
}

impl Default for Mix {
    /// Mostly reads, some logins, a few predictions: roughly a product's front page.
    fn default() -> Self {
        Self {
            weights: [70.0, 20.0, 10.0],
        }
    }
}

impl Mix {
    /// Parses `random=70,login=20,predict=10`; any subset of the routes, each at most once.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let known = || {
            Route::ALL
                .iter()
                .map(|r| r.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut weights = [0.0; 3];
        let mut seen = [false; 3];
        for part in raw.split(',').map(str::trim) {
            let Some((name, weight)) = part.split_once('=') else {
                return Err(format!(
                    "'{part}' is not ROUTE=WEIGHT (e.g. random=70,login=20,predict=10)"
                ));
            };
            let (name, weight) = (name.trim(), weight.trim());
            let Some(route) = Route::ALL.into_iter().find(|r| r.name() == name) else {
                return Err(format!("unknown route '{name}' (routes are {})", known()));
            };
            if seen[route.index()] {
                return Err(format!("route '{name}' is given twice"));
            }
            seen[route.index()] = true;
            weights[route.index()] = match weight.parse::<f64>() {
                Ok(w) if w.is_finite() && w >= 0.0 => w,
                _ => {
                    return Err(format!(
                        "weight of {name} must be a number >= 0, got '{weight}'"
                    ))
                }
            };
        }
        if weights.iter().sum::<f64>() <= 0.0 {
            return Err("at least one weight must be greater than zero".into());
        }
        Ok(Self { weights })
    }

    /// The weight of `route` (0 when the mix leaves it out).
    pub fn weight(&self, route: Route) -> f64 {
        self.weights[route.index()]
    }

    /// The share of traffic `route` gets, from 0 to 1.
    pub fn share(&self, route: Route) -> f64 {
        self.weight(route) / self.weights.iter().sum::<f64>()
    }

    /// The route for a uniform draw `u` in [0, 1).
    fn pick(&self, u: f64) -> Route {
        let mut left = u * self.weights.iter().sum::<f64>();
        for route in Route::ALL {
            let w = self.weights[route.index()];
            if w > 0.0 && left < w {
                return route;
            }
            left -= w;
        }
        // Rounding can leave `left` a hair above the last weight: take the last positive one.
        Route::ALL
            .into_iter()
            .rev()
            .find(|r| self.weight(*r) > 0.0)
            .unwrap_or(Route::Random)
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = Route::ALL
            .iter()
            .filter(|r| self.weight(**r) > 0.0)
            .map(|r| format!("{}={}", r.name(), self.weight(*r)))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Builds the requests of one run.
#[derive(Debug, Clone)]
pub(crate) struct Requests {
    authority: Authority,
    mix: Mix,
    users: u64,
    bad_login_share: f64,
    applicants: Generator,
    feedback_share: f64,
    feedback_delay: Duration,
}

/// The outcome of a prediction, to send to `/feedback` once its delay has passed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PlannedFeedback {
    /// Whether the applicant defaulted.
    pub label: bool,
    /// How long after the answer the outcome becomes known.
    pub delay: Duration,
}

/// One request, ready to send, and the route it goes to.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// Where it goes.
    pub route: Route,
    /// The request (absolute URI, as hyper's pooled client needs).
    pub request: Request<Full<Bytes>>,
    /// For a prediction picked for feedback, the outcome to report.
    pub feedback: Option<PlannedFeedback>,
}

/// Longest feedback delay, as a multiple of its mean: the exponential's tail is cut there
/// so every outcome arrives in bounded time (an exponential passes 10 means once in 22,000).
pub(crate) const FEEDBACK_DELAY_CAP: f64 = 10.0;

impl Requests {
    /// Requests to `authority` (host and port) with the given mix, user count (at least 1)
    /// and share of wrong login tokens.
    pub(crate) fn new(authority: Authority, mix: Mix, users: u64, bad_login_share: f64) -> Self {
        Self {
            authority,
            mix,
            users: users.max(1),
            bad_login_share,
            applicants: Generator::default(),
            feedback_share: 0.0,
            feedback_delay: Duration::ZERO,
        }
    }

    /// Reports the outcome of a `share` (0 to 1) of predictions, each after an exponential
    /// delay of mean `delay` (cut at [`FEEDBACK_DELAY_CAP`] means).
    pub(crate) fn with_feedback(mut self, share: f64, delay: Duration) -> Self {
        self.feedback_share = share;
        self.feedback_delay = delay;
        self
    }

    /// Draws the next request, with applicants as `world` has them.
    pub(crate) fn next<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        world: &World,
    ) -> Result<Prepared, Error> {
        let route = self.mix.pick(rng.random());
        let user = format!("u{}", rng.random_range(0..self.users));
        let mut feedback = None;
        let (path, body) = match route {
            Route::Random => (format!("{}?user={user}", routes::RANDOM), None),
            Route::Login => {
                let token = if rng.random::<f64>() < self.bad_login_share {
                    // Not the user's token, but well-formed: the service must answer 401.
                    format!("wrong-{user}")
                } else {
                    valid_token(&user)
                };
                let body = serde_json::to_vec(&LoginRequest { user, token })?;
                (routes::LOGIN.to_string(), Some(Bytes::from(body)))
            }
            Route::Predict => {
                let (features, label) = world.applicant(&self.applicants, rng);
                // Both draws happen whatever the share, so the share changes nothing else.
                let picked = rng.random::<f64>() < self.feedback_share;
                let e: f64 = Exp1.sample(rng);
                if picked {
                    feedback = Some(PlannedFeedback {
                        label,
                        delay: self.feedback_delay.mul_f64(e.min(FEEDBACK_DELAY_CAP)),
                    });
                }
                let mut body = features.to_json();
                if let Some(fields) = body.as_object_mut() {
                    fields.insert("user".into(), user.into());
                }
                let body = serde_json::to_vec(&body)?;
                (routes::PREDICT.to_string(), Some(Bytes::from(body)))
            }
        };
        Ok(Prepared {
            route,
            request: build(&self.authority, route.method(), path, body)?,
            feedback,
        })
    }
}

/// A request for `path` on `authority`, with a JSON body when there is one.
pub(crate) fn build(
    authority: &Authority,
    method: Method,
    path: String,
    json: Option<Bytes>,
) -> Result<Request<Full<Bytes>>, Error> {
    let uri = Uri::builder()
        .scheme(Scheme::HTTP)
        .authority(authority.clone())
        .path_and_query(path)
        .build()?;
    let builder = Request::builder().method(method).uri(uri);
    Ok(match json {
        Some(body) => builder
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Full::new(body))?,
        None => builder.body(Full::new(Bytes::new()))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn mix_parses_subsets_and_names_what_is_wrong() {
        let m = Mix::parse("random=50, predict=50").unwrap();
        assert_eq!(m.weight(Route::Login), 0.0);
        assert_eq!(m.share(Route::Predict), 0.5);
        assert_eq!(m.to_string(), "random=50,predict=50");
        assert_eq!(
            Mix::parse(&Mix::default().to_string()).unwrap(),
            Mix::default()
        );
        for (raw, want) in [
            (
                "random=x",
                "weight of random must be a number >= 0, got 'x'",
            ),
            (
                "bogus=1",
                "unknown route 'bogus' (routes are random, login, predict)",
            ),
            ("random", "'random' is not ROUTE=WEIGHT"),
            ("random=1,random=2", "route 'random' is given twice"),
            ("random=0", "at least one weight"),
            ("login=-1", "weight of login must be a number >= 0"),
            ("login=inf", "weight of login must be a number >= 0"),
        ] {
            let err = Mix::parse(raw).unwrap_err();
            assert!(err.contains(want), "{raw}: {err}");
        }
    }

    #[test]
    fn picks_follow_the_weights_and_skip_zero_weights() {
        let m = Mix::parse("random=70,login=0,predict=30").unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let mut counts = [0u32; 3];
        for _ in 0..100_000 {
            counts[m.pick(rng.random()).index()] += 1;
        }
        assert_eq!(counts[Route::Login.index()], 0);
        let random = f64::from(counts[Route::Random.index()]) / 100_000.0;
        assert!((random - 0.7).abs() < 0.01, "{random}");
        assert_eq!(m.pick(0.999_999_999_999), Route::Predict);
        assert_eq!(m.pick(0.0), Route::Random);
    }

    async fn body_json(p: Prepared) -> serde_json::Value {
        let bytes = p.request.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn requests_carry_users_tokens_and_features_the_service_accepts() {
        let reqs = Requests::new("127.0.0.1:9".parse().unwrap(), Mix::default(), 5, 0.25)
            .with_feedback(0.5, Duration::from_secs(4));
        let mut rng = SmallRng::seed_from_u64(3);
        let (mut logins, mut wrong, mut predicts, mut randoms) = (0, 0, 0, 0);
        let (mut feedback, mut delay) = (0u32, Duration::ZERO);
        for _ in 0..4_000 {
            let p = reqs.next(&mut rng, &World::default()).unwrap();
            if let Some(f) = p.feedback {
                assert_eq!(p.route, Route::Predict);
                assert!(f.delay <= Duration::from_secs(40));
                feedback += 1;
                delay += f.delay;
            }
            assert_eq!(p.request.uri().authority().unwrap().as_str(), "127.0.0.1:9");
            assert_eq!(p.request.method(), p.route.method());
            assert_eq!(p.request.uri().path(), p.route.path());
            match p.route {
                Route::Random => {
                    randoms += 1;
                    let q = p.request.uri().query().unwrap();
                    let k: u64 = q.strip_prefix("user=u").unwrap().parse().unwrap();
                    assert!(k < 5);
                }
                Route::Login => {
                    logins += 1;
                    let b = body_json(p).await;
                    let user = b["user"].as_str().unwrap().to_string();
                    if b["token"] != valid_token(&user) {
                        wrong += 1;
                    }
                }
                Route::Predict => {
                    predicts += 1;
                    let b = body_json(p).await;
                    assert!(crate::ml::features::parse(&b, &["user"]).is_ok(), "{b}");
                    assert!(b["user"].as_str().unwrap().starts_with('u'));
                }
            }
        }
        assert!(randoms > 0 && predicts > 0);
        let share = f64::from(feedback) / f64::from(predicts);
        assert!((share - 0.5).abs() < 0.08, "feedback share {share}");
        let mean = delay.as_secs_f64() / f64::from(feedback);
        assert!((mean - 4.0).abs() < 0.8, "mean feedback delay {mean}");
        let share = f64::from(wrong) / f64::from(logins);
        assert!((share - 0.25).abs() < 0.05, "wrong-token share {share}");
    }
}
