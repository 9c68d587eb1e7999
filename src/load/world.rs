//! The world the applicants come from, and what incidents do to it.
//!
//! Three incidents happen outside the service, so the load generator plays them: it reads
//! the service's public `GET /incidents` every [`POLL_INTERVAL`] and changes what it sends.
//! `feature-drift` moves one numeric feature by a number of standard deviations of its
//! training values; `missing-feature` sends one feature as `null`; `concept-drift` draws the
//! outcomes it reports as feedback from the recession's relation
//! ([`crate::ml::dataset::Regime::Recession`]). See [`World`] and [`poll`].

use crate::api::incident::{IncidentList, Params};
use crate::incident::catalog::shift_value;
use crate::incident::Incident;
use crate::ml::dataset::{Generator, Regime};
use crate::ml::features::{Features, NUMERIC};
use crate::ml::reference::Reference;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use parking_lot::RwLock;
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;

/// How often the load generator asks which incidents are in progress.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Longest wait for one answer of `GET /incidents`.
const POLL_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest answer read (ten incidents take about 3 KB).
const MAX_ANSWER: usize = 64 * 1024;

/// What the world is like now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct World {
    /// `feature-drift`: the index in [`NUMERIC`] and the shift in standard deviations.
    pub drift: Option<(usize, f64)>,
    /// `missing-feature`: the feature sent as null.
    pub missing: Option<&'static str>,
    /// Which relation draws the outcomes.
    pub regime: Regime,
}

fn feature_name(params: &Params) -> Option<&'static str> {
    let name = params.feature.as_deref()?;
    NUMERIC
        .iter()
        .chain(crate::ml::features::CATEGORICAL.iter())
        .copied()
        .find(|f| *f == name)
}

impl World {
    /// The world the incidents in progress describe; incidents that are not about the
    /// world, and parameters this build does not know, are ignored.
    pub fn from_incidents(list: &IncidentList) -> Self {
        let mut world = Self::default();
        for state in list.incidents.iter().filter(|s| s.active) {
            match Incident::from_name(&state.name) {
                Some(Incident::FeatureDrift) => {
                    let index = feature_name(&state.params)
                        .and_then(|f| NUMERIC.iter().position(|n| *n == f));
                    if let (Some(i), Some(shift)) = (index, state.params.shift) {
                        world.drift = Some((i, shift));
                    }
                }
                Some(Incident::MissingFeature) => world.missing = feature_name(&state.params),
                Some(Incident::ConceptDrift) => world.regime = Regime::Recession,
                _ => {}
            }
        }
        world
    }

    /// Draws one applicant as the world has them now: the features to send and whether the
    /// applicant will default. The outcome follows the applicant's real features (a drifted
    /// feature is real; a missing one is only not sent).
    pub fn applicant<R: Rng + ?Sized>(
        &self,
        population: &Generator,
        rng: &mut R,
    ) -> (Features, bool) {
        let mut f = population.features(rng);
        if let Some((i, shift)) = self.drift {
            let name = NUMERIC[i];
            let sd = Reference::shipped().numeric(name).std_dev;
            let v = f.numeric_mut(i);
            *v = v.map(|x| shift_value(name, x, shift, sd));
        }
        let defaulted = Generator::outcome(self.regime, &f, rng);
        if let Some(name) = self.missing {
            f.clear(name);
        }
        (f, defaulted)
    }
}

/// Asks `GET /incidents` on `target` every `every` ([`POLL_INTERVAL`] at K = 1) and publishes the world it
/// describes into `world`, until the task is aborted. A failed or refused poll keeps the last
/// world (a service without the route is a world without incidents).
pub(crate) async fn poll(
    client: Client<HttpConnector, Full<Bytes>>,
    target: http::uri::Authority,
    world: Arc<RwLock<World>>,
    every: Duration,
) {
    let uri = http::Uri::builder()
        .scheme(http::uri::Scheme::HTTP)
        .authority(target)
        .path_and_query(crate::api::routes::INCIDENTS)
        .build();
    let Ok(uri) = uri else {
        return;
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Ok(request) = http::Request::get(uri.clone()).body(Full::new(Bytes::new())) else {
            return;
        };
        let answer = async {
            let response = client.request(request).await.ok()?;
            if !response.status().is_success() {
                return None;
            }
            let body = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .ok()?
                .to_bytes();
            serde_json::from_slice::<IncidentList>(&body).ok()
        };
        if let Ok(Some(list)) = tokio::time::timeout(POLL_TIMEOUT, answer).await {
            let now = World::from_incidents(&list);
            let mut w = world.write();
            if *w != now {
                tracing::info!(world = ?now, "The world changed.");
            }
            *w = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::Faults;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn world_of(faults: &Faults) -> World {
        World::from_incidents(&IncidentList {
            speed: 1,
            incidents: faults.states(),
        })
    }

    #[test]
    fn incidents_become_the_world() {
        let f = Faults::default();
        assert_eq!(world_of(&f), World::default());
        let minute = Duration::from_secs(60);
        let drift = Incident::FeatureDrift
            .resolve(Params::default(), &[])
            .unwrap();
        f.start(Incident::FeatureDrift, drift, minute);
        let employment = Params {
            feature: Some("employment".into()),
            ..Params::default()
        };
        let missing = Incident::MissingFeature.resolve(employment, &[]).unwrap();
        f.start(Incident::MissingFeature, missing, minute);
        f.start(Incident::ConceptDrift, Params::default(), minute);
        f.start(Incident::AuthDown, Params::default(), minute);
        let w = world_of(&f);
        assert_eq!(
            w.drift,
            Some((1, crate::incident::catalog::DEFAULT_DRIFT_SHIFT))
        );
        assert_eq!(w.missing, Some("employment"));
        assert_eq!(w.regime, Regime::Recession);
    }

    #[test]
    fn applicants_follow_the_world() {
        let g = Generator::default();
        let mean_age = |w: World| {
            let mut rng = SmallRng::seed_from_u64(4);
            (0..5000)
                .map(|_| w.applicant(&g, &mut rng).0.age.unwrap())
                .sum::<f64>()
                / 5000.0
        };
        let older = World {
            drift: Some((0, 1.0)),
            ..World::default()
        };
        let moved = mean_age(older) - mean_age(World::default());
        // One standard deviation of age is about 11.7 years (less where 100 caps it).
        assert!((10.5..12.5).contains(&moved), "{moved}");
        let mut rng = SmallRng::seed_from_u64(5);
        let no_income = World {
            missing: Some("income"),
            ..World::default()
        };
        assert!((0..100).all(|_| no_income.applicant(&g, &mut rng).0.income.is_none()));
        let default_rate = |w: World| {
            let mut rng = SmallRng::seed_from_u64(6);
            (0..20_000).filter(|_| w.applicant(&g, &mut rng).1).count() as f64 / 20_000.0
        };
        let recession = World {
            regime: Regime::Recession,
            ..World::default()
        };
        assert!(default_rate(World::default()) < 0.34);
        assert!(default_rate(recession) > 0.43);
    }
}
