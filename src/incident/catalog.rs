//! The incident catalogue: which incidents monlab can simulate, what users see of each, the
//! parameters each takes (with their defaults and limits), the severity at which monitoring
//! must catch it, and which alerts are its signals ([`Incident::signals`]): the one place the
//! scoring rule ([`super::score`]) learns which alert may be credited with catching which
//! incident.

use crate::api::incident::{Params, MAX_DURATION};
use crate::api::Severity;
use std::collections::BTreeMap;

/// The incidents monlab can simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Incident {
    /// The authorization service is down: every login answers 503.
    AuthDown,
    /// The model cannot predict: the fallback rules answer every prediction.
    ModelDown,
    /// A fixed share of users (by user id) gets a large extra delay on every request.
    SlowUsers,
    /// A share of a route's requests fails with 500.
    ErrorShare,
    /// Every request of a route is slowed by a fixed extra latency.
    ExtraLatency,
    /// Phantom requests hold a share of the concurrency limit, as a burst of traffic would.
    Burst,
    /// The applicants change: one numeric feature's values move (the load generator applies it).
    FeatureDrift,
    /// Upstream stops sending one feature: it arrives as null (the load generator applies it).
    MissingFeature,
    /// The model's preprocessing breaks: every score collapses to about one value, one class.
    OutputCollapse,
    /// The relation between features and outcome changes (the load generator's labels follow
    /// [`crate::ml::dataset::Regime::Recession`]); inputs and scores look as before.
    ConceptDrift,
    /// A policy declines every applicant of one employment group whatever the score: the
    /// model's decisions feed back into its labels, since declined applicants never get one.
    DeclinedGroup,
}

impl Incident {
    /// Every incident, in display order.
    pub const ALL: [Incident; 11] = [
        Self::AuthDown,
        Self::ModelDown,
        Self::SlowUsers,
        Self::ErrorShare,
        Self::ExtraLatency,
        Self::Burst,
        Self::FeatureDrift,
        Self::MissingFeature,
        Self::OutputCollapse,
        Self::ConceptDrift,
        Self::DeclinedGroup,
    ];

    /// The name used in the API, the CLI, scenarios and the metric label.
    pub fn name(self) -> &'static str {
        match self {
            Self::AuthDown => "auth-down",
            Self::ModelDown => "model-down",
            Self::SlowUsers => "slow-users",
            Self::ErrorShare => "error-share",
            Self::ExtraLatency => "extra-latency",
            Self::Burst => "burst",
            Self::FeatureDrift => "feature-drift",
            Self::MissingFeature => "missing-feature",
            Self::OutputCollapse => "output-collapse",
            Self::ConceptDrift => "concept-drift",
            Self::DeclinedGroup => "declined-group",
        }
    }

    /// Looks an incident up by name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.name() == name)
    }

    /// The severity at which monitoring must catch it with its default parameters.
    pub fn severity(self) -> Severity {
        self.severity_for(&self.defaults())
    }

    /// The severity at which monitoring must catch it with `params` (resolved). Only
    /// feature-drift depends on them: a shift whose expected PSI against the shipped reference
    /// reaches [`FEATURE_DRIFT_MAJOR_PSI`] is major, a smaller one minor.
    pub fn severity_for(self, params: &Params) -> Severity {
        match self {
            Self::AuthDown => Severity::Critical,
            Self::ModelDown => Severity::Major,
            // Extra latency on a whole route burns the latency budget fast: a ticket.
            Self::ExtraLatency => Severity::Major,
            // Every answer is still a valid decision, and only a group loses: a low-priority
            // look, not a ticket.
            Self::SlowUsers | Self::Burst | Self::DeclinedGroup => Severity::Minor,
            Self::ErrorShare => Severity::Critical,
            Self::FeatureDrift => {
                let psi = expected_drift_psi(params);
                if psi >= FEATURE_DRIFT_MAJOR_PSI {
                    Severity::Major
                } else {
                    Severity::Minor
                }
            }
            // Answers keep coming, with status 200, but they are wrong or worse: a ticket.
            Self::MissingFeature | Self::OutputCollapse | Self::ConceptDrift => Severity::Major,
        }
    }

    /// How long after the incident ends its effects still reach its signals' inputs, system
    /// seconds. Concept drift's wrong answers are labelled late (an exponential delay of mean
    /// 20 minutes by default: 95 % within an hour) and then stay in the holdout's 1-hour
    /// accuracy for an hour, so its alert may fire, or resolve and fire again, up to two hours
    /// after the drift ended. Every other incident's signals read live traffic: zero.
    pub fn aftermath(self) -> f64 {
        match self {
            Self::ConceptDrift => 2.0 * 3600.0,
            _ => 0.0,
        }
    }

    /// The alerts that are this incident's signals with `params` (resolved): only these can
    /// be credited with catching it. Alerts that name a route or feature must name the one
    /// the incident hits.
    pub fn signals(self, params: &Params) -> Vec<Signal> {
        let on = |label: &'static str, value: &Option<String>| {
            value.as_ref().map(|v| (label, v.clone()))
        };
        let plain = |alertname| Signal {
            alertname,
            label: None,
        };
        let feature = |alertname| Signal {
            alertname,
            label: on("feature", &params.feature),
        };
        match self {
            // /login fails: its own alert pages, and the job-wide ratio may too.
            Self::AuthDown => vec![plain("MonlabLoginsFailing"), plain("MonlabHighErrorRatio")],
            Self::ModelDown => vec![plain("MonlabModelFallbackHigh")],
            Self::SlowUsers => vec![plain("MonlabSlowRequests")],
            Self::ErrorShare => {
                let mut v = vec![plain("MonlabHighErrorRatio")];
                if params.route.as_deref() == Some("/login") {
                    v.push(plain("MonlabLoginsFailing"));
                }
                v
            }
            // From `--seconds 1` on, the route's requests count as slow too.
            Self::ExtraLatency => vec![
                plain("MonlabLatencyBudgetBurn"),
                plain("MonlabSlowRequests"),
            ],
            // At the limit, work requests are shed.
            Self::Burst => vec![plain("MonlabSaturationHigh"), plain("MonlabRequestsShed")],
            Self::FeatureDrift => vec![feature("MonlabFeatureDrift")],
            Self::MissingFeature => vec![feature("MonlabFeatureMissing")],
            Self::OutputCollapse => vec![plain("MonlabOutputCollapse")],
            Self::ConceptDrift => vec![plain("MonlabModelQualityLow")],
            Self::DeclinedGroup => vec![plain("MonlabDeclineShareHigh")],
        }
    }

    /// What a user of the product sees.
    pub fn description(self) -> &'static str {
        match self {
            Self::AuthDown => "the authorization service is down: nobody can log in (503)",
            Self::ModelDown => "the model cannot predict: answers come from the fallback rules",
            Self::SlowUsers => "a share of users (1% by default) hit a loop and wait much longer",
            Self::ErrorShare => "a share of a route's requests fails with 500",
            Self::ExtraLatency => "every request of a route is slower by a fixed amount",
            Self::Burst => "a burst of traffic holds a share of the concurrency limit",
            Self::FeatureDrift => {
                "applicants change: one feature's values move by a number of standard deviations"
            }
            Self::MissingFeature => "upstream stops sending one feature: it arrives as null",
            Self::OutputCollapse => {
                "the model's scores collapse to one value: every applicant is approved"
            }
            Self::ConceptDrift => {
                "a recession changes who defaults: the model's answers look normal but are wrong"
            }
            Self::DeclinedGroup => {
                "a policy declines one group whatever the score (default: the unemployed, 10% of \
                 applicants, 57% of whom default): declines rise from 16% to 20%, the group's \
                 defaults vanish from the labels and approved-only accuracy looks better, while \
                 the holdout shows the decisions got worse"
            }
        }
    }

    /// The parameters it takes, with their defaults (no duration: that is the start's).
    pub(crate) fn defaults(self) -> Params {
        match self {
            Self::SlowUsers => Params {
                share: Some(0.01),
                seconds: Some(2.0),
                ..Params::default()
            },
            Self::ErrorShare => Params {
                share: Some(0.2),
                route: Some("/random".into()),
                ..Params::default()
            },
            Self::ExtraLatency => Params {
                seconds: Some(0.5),
                route: Some("/random".into()),
                ..Params::default()
            },
            Self::Burst => Params {
                share: Some(0.9),
                ..Params::default()
            },
            Self::FeatureDrift => Params {
                feature: Some(DEFAULT_DRIFT_FEATURE.into()),
                shift: Some(DEFAULT_DRIFT_SHIFT),
                ..Params::default()
            },
            Self::MissingFeature => Params {
                feature: Some("income".into()),
                ..Params::default()
            },
            Self::DeclinedGroup => Params {
                group: Some(DEFAULT_DECLINED_GROUP.as_str().into()),
                ..Params::default()
            },
            Self::AuthDown | Self::ModelDown | Self::OutputCollapse | Self::ConceptDrift => {
                Params::default()
            }
        }
    }
}

/// The group declined-group declines by default: the unemployed, 10% of applicants, the
/// group that defaults most (57% against 30% overall). The model already declines two thirds
/// of them, so the policy turns 3.5% of all decisions into declines (16% to 20%); declining
/// the self-employed instead (`group = "self_employed"`: 15% of applicants, 33% default,
/// 82% approved by the model) turns 12% (16% to 28%).
pub(crate) const DEFAULT_DECLINED_GROUP: crate::ml::features::Employment =
    crate::ml::features::Employment::Unemployed;

/// The employment category named `group`, if it is one.
pub(crate) fn employment_group(group: &str) -> Option<crate::ml::features::Employment> {
    crate::ml::features::Employment::ALL
        .into_iter()
        .find(|e| e.as_str() == group)
}

/// An alert that signals an incident: its name, and a label it must carry, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// The alert's `alertname`.
    pub alertname: &'static str,
    /// A label the alert must carry with this value (the route or feature the incident hits).
    pub label: Option<(&'static str, String)>,
}

impl Signal {
    /// Whether an alert with these labels is this signal.
    pub fn matches(&self, alertname: &str, labels: &BTreeMap<String, String>) -> bool {
        alertname == self.alertname
            && self
                .label
                .as_ref()
                .is_none_or(|(k, v)| labels.get(*k) == Some(v))
    }
}

/// The feature feature-drift moves by default.
pub(crate) const DEFAULT_DRIFT_FEATURE: &str = "income";
/// The default shift: a quarter of a standard deviation of income (about 6,800 more), a
/// moderate drift (expected PSI about 0.16 against the shipped reference): minor.
pub(crate) const DEFAULT_DRIFT_SHIFT: f64 = 0.25;
/// Expected PSI from which a feature-drift is major; the alert rules use the same bands
/// (0.1 minor, 0.25 major: the usual reading of PSI).
pub(crate) const FEATURE_DRIFT_MAJOR_PSI: f64 = 0.25;

/// The PSI a feature-drift with `params` would show once the whole window has shifted: the
/// shipped reference sample moved as the load generator moves requests, binned against the
/// reference edges. 0 for anything that is not a numeric feature.
pub(crate) fn expected_drift_psi(params: &Params) -> f64 {
    let Some(feature) = params
        .feature
        .as_deref()
        .filter(|f| crate::ml::features::NUMERIC.contains(f))
    else {
        return 0.0;
    };
    let reference = crate::ml::reference::Reference::shipped();
    let r = reference.numeric(feature);
    let moved: Vec<f64> = r
        .sample
        .iter()
        .map(|x| shift_value(feature, *x, params.shift.unwrap_or(0.0), r.std_dev))
        .collect();
    crate::ml::drift::psi(
        &crate::ml::drift::shares(&r.edges, &r.sample),
        &crate::ml::drift::shares(&r.edges, &moved),
    )
}

/// One value of `feature` moved by `shift` standard deviations (`std_dev`), then rounded and
/// kept in range the way the population writes it.
pub(crate) fn shift_value(feature: &str, x: f64, shift: f64, std_dev: f64) -> f64 {
    crate::ml::dataset::round_like_population(feature, x + shift * std_dev)
}

/// A start request refused; the message names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParamError {
    /// The field to blame.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

/// `field`'s value `got` is none of `allowed`: the message lists them and quotes at most 40
/// characters of what came, so free text never floods it.
fn not_one_of(field: &'static str, allowed: &[&str], got: &str) -> ParamError {
    ParamError {
        field,
        message: format!(
            "{field} must be one of {}, got {:?}",
            allowed.join(", "),
            got.chars().take(40).collect::<String>()
        ),
    }
}

impl Incident {
    /// Fills the defaults of the parameters this incident takes into `params` and checks
    /// them: only parameters it takes, each in its range, and a duration in (0, 24h] if one
    /// is given (it stays as given: the default duration is the caller's to apply). `routes`
    /// are the route templates an incident may hit.
    pub fn resolve(self, p: Params, routes: &[&str]) -> Result<Params, ParamError> {
        let d = self.defaults();
        let refuse = |field: &'static str| ParamError {
            field,
            message: format!("{} takes no {field}", self.name()),
        };
        if p.duration.is_some_and(|t| t.is_zero() || t > MAX_DURATION) {
            return Err(ParamError {
                field: "for",
                message: "for must be more than 0 and at most 24h".into(),
            });
        }
        if p.share.is_some() && d.share.is_none() {
            return Err(refuse("share"));
        }
        if p.seconds.is_some() && d.seconds.is_none() {
            return Err(refuse("seconds"));
        }
        if p.route.is_some() && d.route.is_none() {
            return Err(refuse("route"));
        }
        if p.feature.is_some() && d.feature.is_none() {
            return Err(refuse("feature"));
        }
        if p.shift.is_some() && d.shift.is_none() {
            return Err(refuse("shift"));
        }
        if p.group.is_some() && d.group.is_none() {
            return Err(refuse("group"));
        }
        let p = Params {
            duration: p.duration,
            share: p.share.or(d.share),
            seconds: p.seconds.or(d.seconds),
            route: p.route.or(d.route),
            feature: p.feature.or(d.feature),
            shift: p.shift.or(d.shift),
            group: p.group.or(d.group),
        };
        if let Some(g) = &p.group {
            if employment_group(g).is_none() {
                let known: Vec<&str> = crate::ml::features::Employment::ALL
                    .iter()
                    .map(|e| e.as_str())
                    .collect();
                return Err(not_one_of("group", &known, g));
            }
        }
        if let Some(f) = &p.feature {
            use crate::ml::features::{CATEGORICAL, NUMERIC};
            let allowed: Vec<&str> = if self == Incident::FeatureDrift {
                NUMERIC.to_vec()
            } else {
                NUMERIC.iter().chain(CATEGORICAL.iter()).copied().collect()
            };
            if !allowed.contains(&f.as_str()) {
                return Err(not_one_of("feature", &allowed, f));
            }
        }
        if let Some(s) = p.shift {
            if !(s.is_finite() && s != 0.0 && (-3.0..=3.0).contains(&s)) {
                return Err(ParamError {
                    field: "shift",
                    message: format!("shift must be in [-3, 3] and not 0, got {s}"),
                });
            }
        }
        if let Some(s) = p.share {
            if !(s.is_finite() && s > 0.0 && s <= 1.0) {
                return Err(ParamError {
                    field: "share",
                    message: format!("share must be in (0, 1], got {s}"),
                });
            }
        }
        if let Some(s) = p.seconds {
            if !(s.is_finite() && s > 0.0 && s <= 60.0) {
                return Err(ParamError {
                    field: "seconds",
                    message: format!("seconds must be in (0, 60], got {s}"),
                });
            }
        }
        if let Some(r) = &p.route {
            if !routes.contains(&r.as_str()) {
                return Err(ParamError {
                    field: "route",
                    message: format!("route must be one of {}, got {r:?}", routes.join(", ")),
                });
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn params_are_checked_per_incident() {
        let routes = ["/random", "/login"];
        let p = Incident::SlowUsers
            .resolve(Params::default(), &routes)
            .unwrap();
        assert_eq!((p.share, p.seconds), (Some(0.01), Some(2.0)));
        let bad = |p: Params, i: Incident| i.resolve(p, &routes).unwrap_err().field;
        let share = |s| Params {
            share: Some(s),
            ..Default::default()
        };
        assert_eq!(bad(share(0.0), Incident::SlowUsers), "share");
        assert_eq!(bad(share(1.5), Incident::ErrorShare), "share");
        assert_eq!(bad(share(0.5), Incident::AuthDown), "share");
        let route = Params {
            route: Some("/nope".into()),
            ..Default::default()
        };
        assert_eq!(bad(route, Incident::ErrorShare), "route");
        let secs = Params {
            seconds: Some(-1.0),
            ..Default::default()
        };
        assert_eq!(bad(secs, Incident::ExtraLatency), "seconds");
        let feature = |f: &str| Params {
            feature: Some(f.into()),
            ..Default::default()
        };
        // Drift moves numbers; a missing feature may be any feature; others take none.
        assert_eq!(bad(feature("region"), Incident::FeatureDrift), "feature");
        assert_eq!(
            bad(feature("shoe_size"), Incident::MissingFeature),
            "feature"
        );
        assert_eq!(bad(feature("age"), Incident::ConceptDrift), "feature");
        assert!(Incident::MissingFeature
            .resolve(feature("region"), &routes)
            .is_ok());
        for s in [0.0, 3.5, f64::NAN] {
            let p = Params {
                shift: Some(s),
                ..Default::default()
            };
            assert_eq!(bad(p, Incident::FeatureDrift), "shift");
        }
        let p = Params {
            shift: Some(1.0),
            ..Default::default()
        };
        assert_eq!(bad(p, Incident::MissingFeature), "shift");
        // Any incident runs for a while, at most a day; the duration is kept as given.
        for d in [Duration::ZERO, MAX_DURATION + Duration::from_secs(1)] {
            assert_eq!(bad(Params::lasting(d), Incident::AuthDown), "for");
        }
        let p = Incident::AuthDown
            .resolve(Params::lasting(MAX_DURATION), &routes)
            .unwrap();
        assert_eq!(p.duration, Some(MAX_DURATION));
    }

    #[test]
    fn feature_drift_is_major_only_when_large() {
        let p = Incident::FeatureDrift
            .resolve(Params::default(), &[])
            .unwrap();
        assert_eq!(p.feature.as_deref(), Some(DEFAULT_DRIFT_FEATURE));
        // The default sits inside the minor band with room on both sides for window noise.
        let psi = expected_drift_psi(&p);
        assert!((0.13..0.19).contains(&psi), "default expected PSI {psi}");
        assert_eq!(Incident::FeatureDrift.severity_for(&p), Severity::Minor);
        assert_eq!(Incident::FeatureDrift.severity(), Severity::Minor);
        let large = Params {
            feature: Some("age".into()),
            shift: Some(1.0),
            ..Default::default()
        };
        assert!(expected_drift_psi(&large) > 1.0);
        assert_eq!(Incident::FeatureDrift.severity_for(&large), Severity::Major);
        for i in [
            Incident::MissingFeature,
            Incident::OutputCollapse,
            Incident::ConceptDrift,
        ] {
            assert_eq!(i.severity(), Severity::Major, "{}", i.name());
        }
        assert_eq!(Incident::DeclinedGroup.severity(), Severity::Minor);
    }

    #[test]
    fn declined_group_takes_an_employment_category() {
        let resolve = |group: Option<&str>| {
            Incident::DeclinedGroup.resolve(
                Params {
                    group: group.map(Into::into),
                    ..Params::default()
                },
                &[],
            )
        };
        assert_eq!(resolve(None).unwrap().group.as_deref(), Some("unemployed"));
        assert_eq!(
            resolve(Some("student")).unwrap().group.as_deref(),
            Some("student")
        );
        assert_eq!(resolve(Some("pirates")).unwrap_err().field, "group");
        let p = Params {
            group: Some("student".into()),
            ..Params::default()
        };
        assert_eq!(
            Incident::ConceptDrift.resolve(p, &[]).unwrap_err().field,
            "group"
        );
        assert_eq!(
            Incident::DeclinedGroup.signals(&Params::default())[0].alertname,
            "MonlabDeclineShareHigh"
        );
    }

    /// What the catalogue says of declined-group, measured on the population and the shipped
    /// model: the default group is a sizeable share with a high default rate; declining it
    /// raises the decline share above what the scores call for and lowers the accuracy of the
    /// system's decisions on the whole population (what the holdout sees), while the
    /// approved-only labels read better.
    #[test]
    fn declining_the_unemployed_hides_defaults_and_raises_the_decline_share() {
        use crate::ml::dataset::Generator;
        use rand::SeedableRng;
        let model = crate::ml::model::Model::shipped();
        let generator = Generator::default();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(19);
        let n = 40_000;
        let (mut group, mut group_defaults, mut defaults) = (0, 0, 0);
        // Before and during the incident: declines, right decisions, approvals and the
        // approvals that defaulted.
        let mut before = [0usize; 4];
        let mut during = [0usize; 4];
        for _ in 0..n {
            let (f, defaulted) = generator.sample(&mut rng);
            let in_group = f.employment == Some(DEFAULT_DECLINED_GROUP);
            group += usize::from(in_group);
            group_defaults += usize::from(in_group && defaulted);
            defaults += usize::from(defaulted);
            let own = model.declines(model.score(&f));
            for (counts, declines) in [(&mut before, own), (&mut during, own || in_group)] {
                counts[0] += usize::from(declines);
                counts[1] += usize::from(declines == defaulted);
                counts[2] += usize::from(!declines);
                counts[3] += usize::from(!declines && defaulted);
            }
        }
        let share = |a: usize, b: usize| a as f64 / b as f64;
        let (group_share, group_rate) = (share(group, n), share(group_defaults, group));
        assert!(
            (0.08..0.12).contains(&group_share),
            "group share {group_share}"
        );
        assert!(
            group_rate > 1.5 * share(defaults, n),
            "group default rate {group_rate}"
        );
        let declined = (share(before[0], n), share(during[0], n));
        assert!(
            declined.1 - declined.0 > 0.025,
            "decline share {declined:?}"
        );
        let accuracy = (share(before[1], n), share(during[1], n));
        assert!(
            accuracy.1 < accuracy.0 - 0.005,
            "accuracy on everyone {accuracy:?}"
        );
        let approved_bad = (share(before[3], before[2]), share(during[3], during[2]));
        assert!(
            approved_bad.1 < approved_bad.0,
            "approved-only default rate {approved_bad:?}"
        );
        println!(
            "{}: share {group_share:.3}, default rate {group_rate:.3}; decline share \
             {declined:.3?}; accuracy on everyone {accuracy:.3?}; approved-only default rate \
             {approved_bad:.3?}",
            DEFAULT_DECLINED_GROUP.as_str()
        );
    }
}
