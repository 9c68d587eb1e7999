// Talks to monlab: its own lab API and, through it, the read-only Prometheus and Alertmanager
// proxies. Every call goes to this page's origin; nothing else is ever fetched.

/** An answer that was not 2xx, or no answer at all (status 0). */
export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** GETs (or sends) JSON; throws HttpError with the server's message on any failure. */
export async function getJson(url, options = {}) {
  let resp;
  try {
    resp = await fetch(url, {
      ...options,
      cache: 'no-store',
      headers: { Accept: 'application/json', ...(options.headers || {}) },
    });
  } catch {
    throw new HttpError(0, 'monlab does not answer (is it still running?)');
  }
  const text = await resp.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!resp.ok) {
    // monlab's errors carry `message`; Prometheus's carry `error`.
    const message =
      (body && (body.message || (typeof body.error === 'string' && body.error))) ||
      text.slice(0, 200) ||
      resp.statusText;
    throw new HttpError(resp.status, message);
  }
  return body;
}

const PROM = '/lab/api/prometheus/api/v1';

/** A range query: `[{metric, values: [[t, "v"], …]}, …]`. */
export async function queryRange(expr, start, end, step) {
  const p = new URLSearchParams({ query: expr, start: String(start), end: String(end), step: String(step) });
  const body = await getJson(`${PROM}/query_range?${p}`);
  return body.data.result;
}

/** An instant query: `[{metric, value: [t, "v"]}, …]`. */
export async function query(expr, time) {
  const p = new URLSearchParams({ query: expr, time: String(time) });
  const body = await getJson(`${PROM}/query?${p}`);
  return body.data.result;
}

/** Exemplars of the series `selector` matches: `[{seriesLabels, exemplars: [{labels, value, timestamp}]}]`. */
export async function queryExemplars(selector, start, end) {
  const p = new URLSearchParams({ query: selector, start: String(start), end: String(end) });
  const body = await getJson(`${PROM}/query_exemplars?${p}`);
  return body.data || [];
}

/** Values of one label among the series that match `match`. */
export async function labelValues(label, match, start, end) {
  const p = new URLSearchParams({ 'match[]': match, start: String(start), end: String(end) });
  const body = await getJson(`${PROM}/label/${label}/values?${p}`);
  return body.data;
}

/** Prometheus's text for a sample value: NaN and infinities are gaps, not numbers. */
export function sampleValue(text) {
  const v = Number(text);
  return Number.isFinite(v) ? v : null;
}
