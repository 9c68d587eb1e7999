// What the charts show: the recording rules of deploy/prometheus/rules/ that the Grafana
// dashboards (deploy/grafana/dashboards/) read, so the page and the dashboards agree.
// `ctx.routes` is a PromQL-quoted regular expression of route templates.

import { PALETTE } from './charts.js';
import { percentTicks, secondsTicks, plainTicks, num, percent, seconds } from './format.js';

const JOB = 'job="monlab"';

// Status classes keep their colour whatever the route; routes differ by dash.
const CLASS_COLOUR = { '1xx': '#4b5563', '2xx': '#1f7a3a', '3xx': '#1a56db', '4xx': '#c25400', '5xx': '#b3161b' };
const QUANTILE_COLOUR = { '0.5': '#1f7a3a', '0.9': '#c25400', '0.99': '#b3161b' };
const DASHES = [undefined, [7, 4], [2, 3], [10, 3, 2, 3], [4, 4]];
const routeDash = (() => {
  const known = ['/random', '/login', '/predict'];
  const seen = new Map();
  return (route) => {
    const i = known.indexOf(route);
    if (i >= 0) return DASHES[i];
    if (!seen.has(route)) seen.set(route, DASHES[3 + (seen.size % 2)]);
    return seen.get(route);
  };
})();
const byRoute = (m, i) => ({ stroke: PALETTE[i % PALETTE.length], dash: routeDash(m.route) });
const perSecond = (v) => `${num(v)}/s`;

/**
 * 1 where monlab's metrics exist but did not one rate window (`window` seconds: 5 minutes, K
 * times less at a time warp K) earlier: the rates of the 5-minute rules are partial there. A
 * restart of monlab within the window keeps the series (rate() handles the reset), so only a
 * first start, or a return after more than a window away, shows. Only the charts of rates shade
 * it: a ratio of two partial rates, or a quantile of a partial window, is not biased low, just
 * drawn from fewer requests.
 */
export function warmupExpr(window) {
  const sel = `process_start_time_seconds{${JOB}}`;
  return `count(${sel}) unless count(${sel} offset ${Math.round(window * 1000)}ms)`;
}

/** Golden signals per route. */
export const GOLDEN = [
  {
    id: 'traffic',
    title: 'Request rate by status class',
    axis: 'requests/s',
    ticks: plainTicks,
    format: perSecond,
    warmup: true,
    queries: (ctx) => [
      {
        expr: `sum by (route, class) (label_replace(job_route_code:monlab_http_requests:rate5m{${JOB}, route=~"${ctx.routes}"}, "class", "\${1}xx", "code", "([0-9])[0-9][0-9]"))`,
        legend: (m) => `${m.route} ${m.class}`,
        group: (m) => m.route,
        short: (m) => m.class,
        style: (m) => ({ stroke: CLASS_COLOUR[m.class] || '#4b5563', dash: routeDash(m.route) }),
      },
    ],
  },
  {
    id: 'errors',
    title: 'Server error ratio (share of answers that are 5xx)',
    axis: 'share of requests',
    ticks: percentTicks,
    format: percent,
    minSpan: 0.01,
    queries: (ctx) => [
      { expr: `job_route:monlab_http_errors:ratio_rate5m{${JOB}, route=~"${ctx.routes}"}`, legend: (m) => `${m.route}, 5m`, style: byRoute },
      // Drawn first and wide, so the routes' lines stay visible on top of it.
      { expr: `job:monlab_http_errors:ratio_rate5m{${JOB}}`, legend: () => 'whole job, 5m', order: -1, style: () => ({ stroke: '#6b21a8', width: 3 }) },
    ],
  },
  {
    id: 'latency',
    title: 'Latency p50 / p90 / p99',
    axis: 'latency',
    ticks: secondsTicks,
    format: seconds,
    minSpan: 0.01,
    queries: (ctx) => [
      {
        expr: `job_route_quantile:monlab_http_request_duration_seconds:histogram_quantile{${JOB}, route=~"${ctx.routes}"}`,
        legend: (m) => `${m.route} p${Math.round(Number(m.quantile) * 100)}`,
        group: (m) => m.route,
        short: (m) => `p${Math.round(Number(m.quantile) * 100)}`,
        style: (m) => ({ stroke: QUANTILE_COLOUR[m.quantile] || '#4b5563', dash: routeDash(m.route) }),
      },
    ],
    // Requests over the slow threshold, as points: each carries its request and user id
    // (exemplars of the latency histogram; docs/diagnosing.md).
    exemplars: (ctx) => `monlab_http_request_duration_seconds_bucket{${JOB}, route=~"${ctx.routes}"}`,
  },
  {
    id: 'concurrency',
    title: 'In flight vs the concurrency limit',
    axis: 'requests',
    ticks: plainTicks,
    queries: () => [
      { expr: `job:monlab_http_requests_in_flight:sum{${JOB}}`, legend: () => 'in flight (every route)', style: () => ({ stroke: PALETTE[0] }) },
      { expr: `sum(monlab_http_concurrency_in_use{${JOB}})`, legend: () => 'limit in use (work routes)', order: 1, style: () => ({ stroke: PALETTE[1], dash: [7, 4] }) },
      { expr: `sum(monlab_http_concurrency_limit{${JOB}})`, legend: () => 'concurrency limit', order: 2, style: () => ({ stroke: '#b3161b', width: 2 }) },
    ],
  },
  {
    id: 'shed',
    title: 'Shed requests (turned away at the limit)',
    axis: 'requests/s',
    ticks: plainTicks,
    format: perSecond,
    warmup: true,
    minSpan: 0.1,
    queries: (ctx) => [
      { expr: `job_route:monlab_http_requests_shed:rate5m{${JOB}, route=~"${ctx.routes}"}`, legend: (m) => m.route, style: byRoute },
    ],
  },
  {
    id: 'slo',
    title: 'Latency SLO: share of work requests slower than 0.25 s',
    axis: 'share of requests',
    ticks: percentTicks,
    format: percent,
    minSpan: 0.02,
    queries: () => [
      { expr: `job:monlab_http_latency_slo_errors:ratio_rate5m{${JOB}}`, legend: () => 'slow share, 5m', style: () => ({ stroke: PALETTE[3] }) },
      { expr: `job:monlab_http_latency_slo_errors:ratio_rate1h{${JOB}}`, legend: () => 'slow share, 1h', order: 1, style: () => ({ stroke: PALETTE[4], dash: [7, 4] }) },
    ],
    empty: 'No work requests in this window: the share of slow ones is undefined.',
  },
];

const byFeature = (m, i) => ({ stroke: PALETTE[i % PALETTE.length] });

/** The model: outputs, drift, fallback, quality. The first is a bar chart (see main.js). */
export const SCORE_BUCKETS = {
  id: 'score-buckets',
  title: 'Score distribution (predictions in the range, by score bucket)',
  axis: 'predictions',
  ticks: plainTicks,
  xAxis: 'score (probability of default)',
  xTicks: (s) => s.map((v) => v.toFixed(2)),
  legend: 'model answers per 0.05 of score',
  expr: (ctx) => `sum by (le) (increase(monlab_model_score_bucket{${JOB}}[${ctx.range}s]))`,
  empty: 'No model scores in this window: /predict has had no model answers.',
};

export const ML = [
  {
    id: 'score-quantiles',
    title: 'Score p10 / p50 / p90',
    axis: 'score (0 to 1)',
    ticks: plainTicks,
    minSpan: 0.1,
    queries: () => [
      { expr: `job_quantile:monlab_model_score:histogram_quantile{${JOB}}`, legend: (m) => `p${Math.round(Number(m.quantile) * 100)}`, style: byFeature },
    ],
  },
  {
    id: 'psi',
    title: 'Drift: PSI per feature (alerts at 0.1 minor, 0.25 major)',
    axis: 'PSI (no unit)',
    ticks: plainTicks,
    minSpan: 0.3,
    queries: () => [{ expr: `job_feature:monlab_model_drift_psi:max{${JOB}}`, legend: (m) => m.feature, style: byFeature }],
    empty: 'No drift values yet: each feature needs 100 values in its window first.',
  },
  {
    id: 'ks',
    title: 'Drift: KS statistic per feature',
    axis: 'KS (0 to 1)',
    ticks: plainTicks,
    minSpan: 0.1,
    queries: () => [{ expr: `job_feature:monlab_model_drift_ks:max{${JOB}}`, legend: (m) => m.feature, style: byFeature }],
    empty: 'No drift values yet: each feature needs 100 values in its window first.',
  },
  {
    id: 'fallback',
    title: 'Fallback share (predictions the rules answered)',
    axis: 'share of predictions',
    ticks: percentTicks,
    format: percent,
    minSpan: 0.05,
    queries: () => [{ expr: `job:monlab_predictions_fallback:ratio_rate5m{${JOB}}`, legend: () => 'fallback share, 5m', style: () => ({ stroke: PALETTE[1] }) }],
    empty: 'No predictions in this window: the share is undefined.',
  },
  {
    // Estimated from the scores before any label, against realised on the holdout (the
    // unbiased labels) and on the approved-only labels (all approvals: biased upwards).
    id: 'accuracy',
    title: 'Accuracy: estimated (10m) against realised, holdout (1h) and approved-only (5m)',
    axis: 'share correct',
    ticks: percentTicks,
    format: percent,
    zero: false,
    minSpan: 0.05,
    queries: () => [
      { expr: `job:monlab_model_expected_accuracy:ratio_rate10m{${JOB}}`, legend: () => 'estimated, 10m', style: () => ({ stroke: PALETTE[0], dash: [7, 4] }) },
      { expr: `job_source_cohort:monlab_model_accuracy:ratio_rate1h{${JOB}, source="model", cohort="holdout"}`, legend: () => 'holdout, 1h', order: 1, style: () => ({ stroke: PALETTE[1] }) },
      { expr: `job_source:monlab_model_accuracy:ratio_rate5m{${JOB}, source="model"}`, legend: () => 'approved-only, 5m', order: 2, style: () => ({ stroke: PALETTE[2] }) },
    ],
    empty: 'No model predictions in this window: neither the estimate nor the labels exist yet.',
  },
  {
    id: 'default-rate',
    title: 'Default rate: expected (10m) against realised, holdout and approved-only (1h)',
    axis: 'share defaulted',
    ticks: percentTicks,
    format: percent,
    minSpan: 0.05,
    queries: () => [
      { expr: `job:monlab_model_expected_default_rate:ratio_rate10m{${JOB}}`, legend: () => 'expected, 10m', style: () => ({ stroke: PALETTE[0], dash: [7, 4] }) },
      { expr: `job_source_cohort:monlab_model_feedback_defaults:ratio_rate1h{${JOB}, source="model", cohort="holdout"}`, legend: () => 'holdout, 1h', order: 1, style: () => ({ stroke: PALETTE[1] }) },
      { expr: `job_source_cohort:monlab_model_feedback_defaults:ratio_rate1h{${JOB}, source="model", cohort="decided"}`, legend: () => 'approved-only, 1h', order: 2, style: () => ({ stroke: PALETTE[2] }) },
    ],
    empty: 'No model predictions in this window: neither the expected rate nor the labels exist yet.',
  },
];

/** Axes of the two recovered distributions. */
export const DISTRIBUTIONS = {
  value: { id: 'dist-value', title: 'Value returned by /random', axis: 'density (per unit)', ticks: plainTicks, xAxis: 'value (no unit)', xTicks: plainTicks },
  delay: { id: 'dist-delay', title: 'Delay of /random', axis: 'density (per second)', ticks: plainTicks, xAxis: 'delay', xTicks: secondsTicks },
};

/** A route template as a PromQL-quoted regular expression matching exactly it. */
export function routeRegex(route) {
  const re = route.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return re.replace(/\\/g, '\\\\');
}

/** Slow means longer than this, as MonlabSlowRequests and `monlab diagnose slow-requests` say. */
export const SLOW_SECONDS = 1;

/** The exemplars behind "who is slow". */
export const SLOW_EXEMPLARS = `monlab_http_request_duration_seconds_bucket{${JOB}}`;
