// The lab page: builds the charts, then refreshes everything every few seconds. Each refresh
// asks /lab/api/status first and sends no query to an upstream that does not answer; the
// charts say so instead (see charts.js for the states).

import { getJson, labelValues } from './api.js';
import { TimeChart, BucketChart, DensityChart, warmupSpans, RATE_WINDOW } from './charts.js';
import { GOLDEN, ML, SCORE_BUCKETS, DISTRIBUTIONS, warmupExpr, routeRegex } from './queries.js';
import { alerts, incidents, scoreboard, slowUsers, distributionNote } from './panels.js';
import { clock, rangeText } from './format.js';

const $ = (id) => document.getElementById(id);

const golden = GOLDEN.map((d) => new TimeChart($('golden-charts'), d));
const ml = [new BucketChart($('ml-charts'), SCORE_BUCKETS), ...ML.map((d) => new TimeChart($('ml-charts'), d))];
const charts = [...golden, ...ml];
const dist = {
  value: new DensityChart($('dist-charts'), DISTRIBUTIONS.value),
  delay: new DensityChart($('dist-charts'), DISTRIBUTIONS.delay),
};
for (const c of Object.values(dist)) c.setState('empty', 'Not recovered yet: press the button above.');

let timer = null;
let running = false;
let again = false;
let refreshes = 0;

function context() {
  const range = Number($('range').value);
  const end = Math.floor(Date.now() / 1000);
  // About 300 points a line, never finer than a second.
  const step = Math.max(1, Math.ceil(range / 300));
  return { range, start: end - range, end, step, routes: $('route').value };
}

function pill(id, name, probe) {
  const p = $(id);
  if (!probe.configured) {
    p.dataset.state = 'unconfigured';
    p.textContent = `${name}: not configured`;
  } else if (probe.reachable) {
    p.dataset.state = 'ok';
    p.textContent = `${name}: connected`;
  } else {
    p.dataset.state = 'down';
    p.textContent = `${name}: unreachable`;
  }
  p.title = probe.message;
}

/** Adds each route Prometheus knows to the route selector, once. */
async function refreshRoutes(ctx) {
  const sel = $('route');
  const known = new Set([...sel.options].map((o) => o.textContent));
  const routes = await labelValues('route', 'job_route:monlab_http_requests:rate5m{job="monlab"}', ctx.start, ctx.end);
  for (const r of routes.sort()) {
    if (!known.has(r)) sel.append(new Option(r, routeRegex(r)));
  }
}

async function refresh() {
  if (running) {
    again = true;
    return;
  }
  running = true;
  clearTimeout(timer);
  try {
    const ctx = context();
    let status;
    try {
      status = await getJson('/lab/api/status');
      $('banner').hidden = true;
    } catch (e) {
      $('banner').textContent = `${e.message} The page shows what it last saw.`;
      $('banner').hidden = false;
      return;
    }
    pill('status-prometheus', 'Prometheus', status.prometheus);
    pill('status-alertmanager', 'Alertmanager', status.alertmanager);
    // The time warp: charts keep the wall clock, incidents and scoreboards count system time.
    const speed = status.speed || 1;
    $('status-speed').hidden = speed <= 1;
    $('status-speed').textContent = `time warp ${speed}× — 1 wall second is ${speed} system seconds`;
    const jobs = [incidents.refresh(), scoreboard.refresh()];
    if (status.alertmanager.reachable) jobs.push(alerts.refresh(status, ctx));
    else alerts.unavailable(status.alertmanager);
    if (status.prometheus.reachable) {
      // One query for every chart of rates; a failure only leaves the warm-up unmarked.
      const rateWindow = RATE_WINDOW / (status.speed || 1);
      ctx.warmup = warmupSpans(warmupExpr(rateWindow), rateWindow, ctx).catch(() => []);
      for (const c of charts) jobs.push(c.refresh(ctx));
      jobs.push(slowUsers.refresh(ctx));
      if (refreshes % 12 === 0) jobs.push(refreshRoutes(ctx).catch(() => {}));
    } else {
      const state = status.prometheus.configured ? 'unreachable' : 'not-configured';
      for (const c of charts) c.setState(state, status.prometheus.message);
    }
    await Promise.allSettled(jobs);
    refreshes += 1;
    document.body.dataset.refreshes = String(refreshes);
    $('updated').textContent = `updated ${clock(new Date())}`;
  } finally {
    running = false;
    if (again) {
      again = false;
      refresh();
    } else {
      schedule();
    }
  }
}

function schedule() {
  clearTimeout(timer);
  const every = Number($('refresh').value);
  // A hidden tab polls nothing; it refreshes at once when shown again.
  if (every > 0 && !document.hidden) timer = setTimeout(refresh, every * 1000);
}

async function recover() {
  const button = $('recover');
  const note = $('recover-note');
  const window = rangeText(Number($('range').value));
  button.disabled = true;
  note.textContent = `recovering from the last ${window}…`;
  try {
    const answer = await getJson(`/lab/api/recover?window=${encodeURIComponent(window)}`);
    for (const c of answer.curves) {
      const metric = answer.report.metrics.find((m) => m.metric === c.metric);
      dist[c.metric].show(c, distributionNote(metric, c));
    }
    note.textContent = `recovered at ${clock(new Date())} from ${answer.report.window.start} to ${answer.report.window.end}; truth ${answer.report.truth.origin}.`;
  } catch (e) {
    const state = e.status === 502 || e.status === 504 ? 'unreachable' : 'error';
    for (const c of Object.values(dist)) c.setState(state, `Cannot recover: ${e.message}`);
    note.textContent = '';
  } finally {
    button.disabled = false;
  }
}

function rangeChanged() {
  $('recover').textContent = `Recover from the last ${$('range').selectedOptions[0].textContent.replace('last ', '')}`;
  refresh();
}

incidents.init(() => refresh());
$('recover').addEventListener('click', recover);
$('range').addEventListener('change', rangeChanged);
$('route').addEventListener('change', () => refresh());
$('refresh').addEventListener('change', () => refresh());
$('controls').addEventListener('submit', (ev) => ev.preventDefault());
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) refresh();
});
refresh();
