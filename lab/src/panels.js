// The panels beside and below the charts: firing alerts, incidents with their buttons, the last
// scoreboard, and the recovered distributions.

import { getJson, query, queryExemplars, sampleValue, HttpError } from './api.js';
import { SLOW_SECONDS, SLOW_EXEMPLARS } from './queries.js';
import { duration, clock, num } from './format.js';

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('data-')) e.dataset[k.slice(5).replace(/-(.)/g, (_, c) => c.toUpperCase())] = v;
    else e.setAttribute(k, v);
  }
  e.append(...children.filter((c) => c != null));
  return e;
}

function sevBadge(severity) {
  const known = ['critical', 'major', 'minor'].includes(severity);
  return el('span', { class: `sev sev-${known ? severity : 'other'}`, text: (severity || 'none').toUpperCase() });
}

// ---------------------------------------------------------------- alerts

const SEVERITIES = ['critical', 'major', 'minor'];
// Labels every monlab alert has; the rest tell two alerts of one name apart (route, feature…).
const COMMON = new Set(['alertname', 'severity', 'service', 'job', 'replica', 'prometheus', 'monitor']);

// When the first Watchdog should be in Alertmanager. Prometheus sends it at its first
// evaluation, but a notice sent before Prometheus has discovered Alertmanager (a few seconds
// after start) is lost and goes again only after --rules.alert.resend-delay, 1 minute by
// default: it reached Alertmanager 9 s after three starts of `monlab up` here, and 79 s after a
// fourth. So it is due a resend delay (K times less at a time warp K, as `up --speed` sets it),
// two evaluation intervals and some startup after the later of monlab's and Prometheus's starts.
const RESEND_DELAY = 60;
const STARTUP = 15;
// The shipped evaluation_interval, for when Prometheus cannot be asked for its own.
const DEFAULT_INTERVAL = 15;

async function instant(expr, time) {
  try {
    const r = await query(expr, time);
    return r.length ? sampleValue(r[0].value[1]) : null;
  } catch {
    return null;
  }
}

/** When the first heartbeat is due (seconds since the epoch), and what that was reckoned from. */
async function heartbeatDue(status, ctx) {
  let start = status.started_at;
  let interval = DEFAULT_INTERVAL;
  if (status.prometheus.reachable) {
    const [promStart, groupInterval] = await Promise.all([
      instant('max(process_start_time_seconds{job="prometheus"})', ctx.end),
      instant('max(prometheus_rule_group_interval_seconds{rule_group=~".+;monlab[.]meta"}) or max(prometheus_rule_group_interval_seconds)', ctx.end),
    ]);
    if (promStart != null) start = Math.max(start, promStart);
    if (groupInterval != null) interval = groupInterval;
  }
  return { start, interval, due: start + RESEND_DELAY / (status.speed || 1) + 2 * interval + STARTUP };
}

/** The runbook link of an alert: the embedded copy of docs/runbooks/, or a full URL. */
export function runbookHref(url) {
  if (!url) return null;
  const m = /^docs\/runbooks\/([a-z0-9._-]+\.md)$/.exec(url);
  if (m) return `/lab/runbooks/${m[1]}`;
  if (/^https?:\/\//.test(url)) return url;
  return null;
}

export const alerts = {
  async refresh(status, ctx) {
    let list;
    try {
      list = await getJson('/lab/api/alertmanager/api/v2/alerts?active=true&silenced=false&inhibited=false');
    } catch (e) {
      this.unavailable({ message: e.message });
      return;
    }
    $('alerts-message').hidden = true;
    $('alerts').hidden = false;
    const groups = { critical: [], major: [], minor: [] };
    let heartbeat = false;
    for (const a of list) {
      const sev = a.labels.severity;
      if (a.labels.alertname === 'Watchdog') {
        heartbeat = true;
        continue;
      }
      // An unknown severity still shows, under minor, with its own badge.
      (groups[sev] || groups.minor).push(a);
    }
    for (const sev of SEVERITIES) {
      const ul = $(`alerts-${sev}`);
      const items = groups[sev]
        .sort((x, y) => x.labels.alertname.localeCompare(y.labels.alertname) || x.startsAt.localeCompare(y.startsAt))
        .map((a) => this.item(a));
      ul.replaceChildren(...(items.length ? items : [el('li', { class: 'none', text: 'none firing' })]));
    }
    await this.heartbeat(heartbeat, status, ctx);
  },

  /** Alive, not due yet, or missing: a young stack's silence is not an alarm. */
  async heartbeat(firing, status, ctx) {
    const box = $('heartbeat');
    if (firing) {
      box.dataset.state = 'alive';
      box.textContent = 'Alerting pipeline alive: the Watchdog heartbeat alert is firing, as it always should.';
      return;
    }
    const { start, interval, due } = await heartbeatDue(status, ctx);
    const now = Date.now() / 1000;
    const by = clock(new Date(due * 1000));
    if (now < due) {
      box.dataset.state = 'waiting';
      box.textContent = `Waiting for the first Watchdog heartbeat: the stack started ${duration(now - start)} ago; with rules evaluated every ${duration(interval)} the first one is due by ${by}.`;
    } else {
      box.dataset.state = 'missing';
      box.textContent = `No Watchdog heartbeat, and it was due by ${by}: the alerting pipeline from Prometheus to Alertmanager may be broken.`;
    }
  },

  item(a) {
    const sev = SEVERITIES.includes(a.labels.severity) ? a.labels.severity : 'other';
    const extra = Object.entries(a.labels)
      .filter(([k]) => !COMMON.has(k))
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
    const since = (Date.now() - Date.parse(a.startsAt)) / 1000;
    const href = runbookHref(a.annotations.runbook_url);
    return el(
      'li',
      { 'data-severity': sev, 'data-alertname': a.labels.alertname },
      sevBadge(a.labels.severity),
      ' ',
      el('span', { class: 'alert-name', text: a.labels.alertname }),
      extra ? el('span', { class: 'alert-meta', text: ` (${extra})` }) : null,
      el('br'),
      el('span', { text: a.annotations.summary || '' }),
      ' ',
      el('span', { class: 'alert-meta', text: `firing for ${duration(since)}` }),
      href ? ' · ' : null,
      href ? el('a', { href, target: '_blank', rel: 'noopener noreferrer', text: 'runbook' }) : null,
    );
  },

  /** Alertmanager cannot be read: say so where the alerts would be, never "none firing". */
  unavailable(probe) {
    $('alerts').hidden = true;
    const box = $('alerts-message');
    box.hidden = false;
    box.textContent = `Alerts cannot be shown: ${probe.message}`;
  },
};

// ---------------------------------------------------------------- incidents

// The one parameter that sets an incident's strength, shown as "intensity".
const INTENSITY = {
  'slow-users': { param: 'share', label: 'share of users', step: '0.01', min: '0.001', max: '1' },
  'error-share': { param: 'share', label: 'share of requests', step: '0.05', min: '0.01', max: '1' },
  burst: { param: 'share', label: 'share of the limit', step: '0.05', min: '0.05', max: '1' },
  'extra-latency': { param: 'seconds', label: 'extra seconds', step: '0.1', min: '0.01', max: '60' },
  'feature-drift': { param: 'shift', label: 'shift in SDs', step: '0.25', min: '-3', max: '3' },
};

// The admin token lives in this variable only: never in a URL, a cookie or storage.
let adminToken = null;
const rows = new Map();
let fetchedAt = 0;

function showError(text) {
  $('admin-note').hidden = true;
  const e = $('admin-error');
  e.textContent = text;
  e.hidden = false;
}

function showNote(text) {
  $('admin-error').hidden = true;
  const n = $('admin-note');
  n.textContent = text;
  n.hidden = false;
}

function setToken(token) {
  adminToken = token;
  $('token-form').hidden = token != null;
  $('token-kept').hidden = token == null;
}

async function admin(method, path, body) {
  return getJson(path, {
    method,
    headers: { Authorization: `Bearer ${adminToken}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
}

/** A refused token is forgotten: the next action asks for it again. */
function refused(e, what) {
  if (e instanceof HttpError && e.status === 401) {
    setToken(null);
    showError(`The admin token was refused (${e.message}). Nothing was changed. Enter the right token.`);
    $('token').focus();
  } else if (e instanceof HttpError && e.status === 403) {
    showError(`${what}: ${e.message}`);
  } else {
    showError(`${what}: ${e.message}${e.status ? ` (HTTP ${e.status})` : ''}. Nothing was changed.`);
  }
}

export const incidents = {
  init(onChange) {
    this.onChange = onChange;
    $('token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const input = $('token');
      const token = input.value.trim();
      input.value = '';
      if (!token) {
        showError('Enter the admin token that monlab up printed.');
        return;
      }
      this.useToken(token);
    });
    $('token-forget').addEventListener('click', () => {
      setToken(null);
      showNote('The admin token is forgotten.');
      $('token').focus();
    });
    // Time left counts down between refreshes.
    setInterval(() => this.tick(), 1000);
  },

  /** Checks a token against the admin API before keeping it. */
  async useToken(token) {
    try {
      await getJson('/admin/incidents', { headers: { Authorization: `Bearer ${token}` } });
    } catch (e) {
      refused(e, 'The admin token could not be checked');
      return;
    }
    setToken(token);
    showNote('Admin token accepted: the start and stop buttons work now.');
  },

  async refresh() {
    let list;
    try {
      list = (await getJson('/lab/api/incidents')).incidents;
    } catch (e) {
      $('incidents-body').replaceChildren(el('tr', {}, el('td', { colspan: '6', class: 'error', text: `Incidents cannot be read: ${e.message}` })));
      rows.clear();
      return;
    }
    fetchedAt = Date.now();
    if (rows.size === 0) this.build(list);
    for (const s of list) {
      const r = rows.get(s.name);
      if (!r) continue;
      r.state = s;
      r.tr.dataset.active = String(s.active);
      r.stop.disabled = !s.active;
    }
    this.tick();
  },

  build(list) {
    const body = $('incidents-body');
    body.replaceChildren();
    for (const s of list) {
      const name = s.name;
      const dur = el('input', { type: 'text', value: '5m', 'aria-label': `how long ${name} lasts`, title: 'how long, e.g. 90s, 5m, 1h' });
      const spec = INTENSITY[name];
      let intensity = null;
      if (spec) {
        intensity = el('input', {
          type: 'number',
          step: spec.step,
          min: spec.min,
          max: spec.max,
          value: String(s.params[spec.param] ?? ''),
          'aria-label': `${spec.label} of ${name}`,
          title: spec.label,
        });
      }
      const start = el('button', { type: 'button', 'data-action': 'start', 'data-incident': name, text: 'Start', 'aria-label': `start ${name}` });
      const stop = el('button', { type: 'button', 'data-action': 'stop', 'data-incident': name, text: 'Stop', 'aria-label': `stop ${name}` });
      start.addEventListener('click', () => this.start(name));
      stop.addEventListener('click', () => this.stop(name));
      const stateCell = el('td', { class: 'state' });
      const tr = el(
        'tr',
        { 'data-incident': name, title: s.description },
        el('th', { scope: 'row', text: name }),
        el('td', {}, sevBadge(s.severity)),
        stateCell,
        el('td', {}, dur),
        el('td', {}, intensity ? el('label', { class: 'visually-hidden', text: spec.label }) : null, intensity || el('span', { class: 'muted', text: '—' })),
        el('td', { class: 'actions' }, start, ' ', stop),
      );
      body.append(tr);
      rows.set(name, { tr, stateCell, dur, intensity, spec, start, stop, state: s });
    }
  },

  tick() {
    const elapsed = (Date.now() - fetchedAt) / 1000;
    for (const r of rows.values()) {
      const s = r.state;
      if (s.active) {
        const left = s.remaining_seconds == null ? null : el('span', { class: 'state-left', text: `${duration(s.remaining_seconds - elapsed)} left` });
        r.stateCell.replaceChildren(el('span', { class: 'state-active', text: 'ACTIVE' }), left);
      } else {
        r.stateCell.replaceChildren(el('span', { class: 'muted', text: 'inactive' }));
      }
    }
  },

  async start(name) {
    const r = rows.get(name);
    if (adminToken == null) {
      showError(`Enter the admin token first: starting ${name} needs it. Nothing was changed.`);
      $('token').focus();
      return;
    }
    const body = { for: r.dur.value.trim() || '5m' };
    if (r.intensity && r.intensity.value !== '') body[r.spec.param] = Number(r.intensity.value);
    try {
      const s = await admin('POST', `/admin/incidents/${encodeURIComponent(name)}`, body);
      showNote(`${name} started for ${duration(s.remaining_seconds)}: watch for a ${s.severity} alert.`);
    } catch (e) {
      refused(e, `${name} was not started`);
      return;
    }
    await this.refresh();
    if (this.onChange) this.onChange();
  },

  async stop(name) {
    if (adminToken == null) {
      showError(`Enter the admin token first: stopping ${name} needs it. Nothing was changed.`);
      $('token').focus();
      return;
    }
    try {
      await admin('DELETE', `/admin/incidents/${encodeURIComponent(name)}`);
      showNote(`${name} stopped: its alert should resolve within a few minutes.`);
    } catch (e) {
      refused(e, `${name} was not stopped`);
      return;
    }
    await this.refresh();
    if (this.onChange) this.onChange();
  },
};

// ---------------------------------------------------------------- scoreboard

const secs = (v) => (v == null ? '—' : `${Math.round(v)} s`);

export const scoreboard = {
  async refresh() {
    const box = $('scoreboard');
    let answer;
    try {
      answer = await getJson('/lab/api/scoreboard');
    } catch (e) {
      box.replaceChildren(el('p', { class: 'error', text: `The scoreboard cannot be read: ${e.message}` }));
      return;
    }
    const b = answer.scoreboard;
    if (!b) {
      box.replaceChildren(
        el('p', { class: 'muted', text: 'No scenario played yet. Play one with: monlab incident play scenarios/three-incidents.toml' }),
      );
      return;
    }
    const warp = b.speed > 1 ? ` · time warp ${b.speed}×, times in system seconds` : '';
    const head = el('p', {}, el('strong', { text: b.scenario || 'scenario' }), ` · received ${clock(new Date(b.received_at * 1000))}${warp} · `, el('span', { class: b.passed ? 'verdict-caught' : 'verdict-missed', text: b.passed ? 'every incident caught at its severity' : 'not every incident caught' }));
    const rowsEls = b.rows.map((r) => {
      const caught = r.alert != null && r.over_severity.length === 0;
      const verdict = r.alert == null ? 'MISSED' : r.over_severity.length ? `over-paged: ${r.over_severity.join(', ')}` : 'caught';
      return el(
        'tr',
        {},
        el('th', { scope: 'row', text: r.incident }),
        el('td', {}, sevBadge(r.expected_severity)),
        el('td', { text: r.alert || '—' }),
        el('td', { text: secs(r.detection_seconds) }),
        el('td', { text: secs(r.resolve_seconds) }),
        el('td', { class: caught ? 'verdict-caught' : 'verdict-missed', text: verdict }),
      );
    });
    const table = el(
      'table',
      { class: 'scoreboard' },
      el('thead', {}, el('tr', {}, ...['incident', 'expected', 'alert seen', 'detected', 'resolved', 'verdict'].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, ...rowsEls),
    );
    box.replaceChildren(head, table);
  },
};

// ---------------------------------------------------------------- distributions

export function distributionNote(metric, c) {
  const rec = metric.recoveries[0];
  const fit = rec.fits.fits[0];
  const parts = [`${num(rec.samples)} observations, ${rec.source} histogram ${rec.series}`];
  if (fit) parts.push(`fitted ${fit.family} (AIC's choice; ${fit.verdict} fit)`);
  parts.push(c.truth ? `true: ${c.truth.spec}` : 'true distribution unknown');
  if (rec.accuracy) parts.push(`KS distance of the recovered CDF to the truth ${rec.accuracy.ks.toFixed(4)}`);
  return `${parts.join(' · ')}.`;
}
// ---------------------------------------------------------------- who is slow

/**
 * "Who is slow": the latency histogram's exemplars over the slow threshold in the chosen
 * window, grouped by user, the most slow requests first (what `monlab diagnose
 * slow-requests` prints). A handful of users with many slow requests each is the stuck-users
 * pattern; many users with one each is a slow service.
 */
export const slowUsers = {
  async refresh(ctx) {
    const box = $('slow-users');
    let found;
    try {
      found = await queryExemplars(SLOW_EXEMPLARS, ctx.start, ctx.end);
    } catch (e) {
      box.replaceChildren(el('p', { class: 'muted', text: `No exemplars: ${e.message}` }));
      return;
    }
    const seen = new Set();
    const users = new Map();
    for (const s of found) {
      for (const e of s.exemplars || []) {
        const v = sampleValue(e.value);
        const id = e.labels.request_id;
        const user = e.labels.user_id;
        if (v == null || v <= SLOW_SECONDS || !id || !user || seen.has(id)) continue;
        seen.add(id);
        const u = users.get(user) || { user, n: 0, first: e.timestamp, last: e.timestamp, max: 0, ids: [] };
        u.n += 1;
        u.first = Math.min(u.first, e.timestamp);
        u.last = Math.max(u.last, e.timestamp);
        u.max = Math.max(u.max, v);
        u.ids.push([e.timestamp, id]);
        users.set(user, u);
      }
    }
    const rows = [...users.values()].sort((a, b) => b.n - a.n || b.last - a.last).slice(0, 10);
    box.dataset.users = String(users.size);
    if (rows.length === 0) {
      box.replaceChildren(el('p', { class: 'muted', text: `No request over ${SLOW_SECONDS} s in this window.` }));
      return;
    }
    const head = el('tr', {}, ...['user', 'slow requests', 'first', 'last', 'slowest', 'latest request ids'].map((h) => el('th', { text: h })));
    const body = rows.map((u) =>
      el(
        'tr',
        { 'data-user': u.user },
        el('td', { text: u.user }),
        el('td', { text: String(u.n) }),
        el('td', { text: clock(new Date(u.first * 1000)) }),
        el('td', { text: clock(new Date(u.last * 1000)) }),
        el('td', { text: `${num(u.max)} s` }),
        el('td', { class: 'ids', text: u.ids.sort((a, b) => b[0] - a[0]).slice(0, 3).map(([, id]) => id).join(' ') }),
      ),
    );
    const note = users.size > rows.length ? el('p', { class: 'muted', text: `${users.size - rows.length} more users.` }) : null;
    box.replaceChildren(el('table', { class: 'slow-users' }, el('thead', {}, head), el('tbody', {}, ...body)), note);
  },
};
