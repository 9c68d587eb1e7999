// Charts: uPlot inside a <figure> that always says what it shows. A chart is in one state,
// written to data-state: "loading", "data" (drawn), "empty" (the series exist nowhere in the
// window yet), "unreachable" / "not-configured" (Prometheus), or "error". Only "data" draws;
// every other state replaces the plot with a sentence, so a chart with nothing to show never
// looks like a quiet system.
//
// The legend is the page's own, not uPlot's: uPlot's draws a solid square per series, which
// hides the dash that tells routes apart, and it had to be capped in height. Ours draws each
// series' real line (colour, dash, width), lists every series (grouped by route where a chart
// has routes), and picks a series out on the plot on hover.

import uPlot from 'uplot';
import { queryRange, query, queryExemplars, sampleValue, HttpError } from './api.js';
import { SLOW_SECONDS } from './queries.js';
import { num, clock } from './format.js';

export const PALETTE = ['#1a56db', '#c25400', '#1f7a3a', '#b3161b', '#7c3aed', '#0e7490', '#a16207', '#db2777', '#4b5563', '#65a30d'];
const FONT = '11px system-ui, sans-serif';
const HEIGHT = 150;
const SVG = 'http://www.w3.org/2000/svg';
// The window of the rate rules (`…:rate5m`), in seconds, at real time.
export const RATE_WINDOW = 300;
const WARMUP_FILL = 'rgba(161, 98, 7, 0.13)';
const WARMUP_TEXT = '#7a4a00';

function figure(parent, def) {
  const fig = document.createElement('figure');
  fig.className = 'chart';
  fig.id = `chart-${def.id}`;
  fig.dataset.state = 'loading';
  const cap = document.createElement('figcaption');
  cap.textContent = def.title;
  const plot = document.createElement('div');
  plot.className = 'plot';
  const legend = document.createElement('div');
  legend.className = 'legend';
  legend.setAttribute('aria-label', `legend of ${def.title}`);
  const warm = document.createElement('p');
  warm.className = 'warmup-note';
  warm.hidden = true;
  const msg = document.createElement('p');
  msg.className = 'chart-msg';
  msg.setAttribute('role', 'status');
  msg.textContent = 'Loading…';
  fig.append(cap, plot, legend, warm, msg);
  parent.append(fig);
  return { fig, plot, legend, warm, msg };
}

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) e.setAttribute(k, String(v));
  return e;
}

/** A short line drawn as the series is on the plot: its colour, dash and width (and fill). */
function sampleLine(s) {
  const svg = svgEl('svg', { class: 'legend-line', width: 26, height: 10, viewBox: '0 0 26 10', 'aria-hidden': 'true' });
  if (s.fill) svg.append(svgEl('rect', { x: 1, y: 1, width: 24, height: 8, fill: s.fill }));
  svg.append(
    svgEl('line', {
      x1: 0,
      y1: 5,
      x2: 26,
      y2: 5,
      stroke: s.stroke,
      // The plot's width, a little thicker so that a dotted line still reads as dots this small.
      'stroke-width': Math.max(2, s.width || 1.5),
      'stroke-dasharray': s.dash ? s.dash.join(' ') : null,
    }),
  );
  return svg;
}

/** What a failed fetch means for a chart. */
function failure(e, what) {
  if (e instanceof HttpError && (e.status === 502 || e.status === 504)) return ['unreachable', e.message];
  if (e instanceof HttpError && e.status === 404) return ['not-configured', e.message];
  if (e instanceof HttpError && e.status === 0) return ['error', e.message];
  return ['error', `${what}: ${e.message}`];
}

class Base {
  constructor(parent, def) {
    this.def = def;
    Object.assign(this, figure(parent, def));
    this.uplot = null;
    this.key = '';
    // Series a person hid with a click on the legend, by label; kept across refreshes.
    this.hidden = new Set();
    // Charts follow their column's width.
    new ResizeObserver(() => this.resize()).observe(this.fig);
  }

  width() {
    return Math.max(200, this.fig.clientWidth - 14);
  }

  resize() {
    if (this.uplot && this.fig.dataset.state === 'data') this.uplot.setSize({ width: this.width(), height: HEIGHT });
  }

  setState(state, message) {
    this.fig.dataset.state = state;
    this.msg.textContent = message || '';
  }

  fail(e) {
    const [state, message] = failure(e, this.def.title);
    this.setState(state, message);
  }

  /**
   * Draws `data` with `opts.series`, rebuilding the plot only when the series change. A series
   * may carry `group` and `short` (its legend row and its name in that row) and `value` (its
   * latest value, as text).
   */
  draw(opts, data, key) {
    this.setState('data', '');
    for (const s of opts.series.slice(1)) s.show = !this.hidden.has(s.label);
    if (!this.uplot || key !== this.key) {
      if (this.uplot) this.uplot.destroy();
      const o = { width: this.width(), height: HEIGHT, focus: { alpha: 0.2 }, ...opts, legend: { show: false } };
      this.uplot = new uPlot(o, data, this.plot);
      this.key = key;
    } else {
      this.uplot.setData(data);
    }
    this.renderLegend(opts.series);
    this.fig.dataset.series = String(data.length - 1);
  }

  /**
   * Every series with its real line. Series with a `group` form a table, a row per group (a
   * route) and a column per `short` name (a quantile, a status class), so a line is found by
   * its route and its quantile at once; the others follow as a wrapping list.
   */
  renderLegend(series) {
    const grouped = series.map((s, i) => [s, i]).slice(1).filter(([s]) => s.group != null);
    const plain = series.map((s, i) => [s, i]).slice(1).filter(([s]) => s.group == null);
    const els = [];
    if (grouped.length) {
      const cols = [...new Set(grouped.map(([s]) => s.short ?? ''))].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
      const groups = [...new Set(grouped.map(([s]) => s.group))];
      const cell = (tag, text) => {
        const c = document.createElement(tag);
        if (text != null) c.textContent = text;
        return c;
      };
      const head = cell('tr');
      head.append(cell('th'), ...cols.map((c) => cell('th', c)));
      const body = groups.map((g) => {
        const tr = cell('tr');
        const name = cell('th', g);
        name.scope = 'row';
        tr.append(name);
        for (const c of cols) {
          const td = cell('td');
          const hit = grouped.find(([s]) => s.group === g && (s.short ?? '') === c);
          if (hit) td.append(this.legendItem(hit[0], hit[1], false));
          tr.append(td);
        }
        return tr;
      });
      const table = cell('table');
      table.className = 'legend-grid';
      const thead = cell('thead');
      thead.append(head);
      const tbody = cell('tbody');
      tbody.append(...body);
      table.append(thead, tbody);
      els.push(table);
    }
    if (plain.length) {
      const list = document.createElement('div');
      list.className = 'legend-items';
      list.append(...plain.map(([s, i]) => this.legendItem(s, i, true)));
      els.push(list);
    }
    this.legend.replaceChildren(...els);
  }

  /** One series' entry; `named` writes its name (a table cell has it in its row and column). */
  legendItem(s, i, named) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'legend-item';
    b.dataset.label = s.label;
    b.dataset.stroke = s.stroke;
    b.dataset.dash = s.dash ? s.dash.join(',') : '';
    const shown = !this.hidden.has(s.label);
    b.setAttribute('aria-pressed', String(shown));
    b.title = `${s.label}: hover or focus to pick it out on the plot, click to hide or show it`;
    b.setAttribute('aria-label', s.value != null ? `${s.label} ${s.value}` : s.label);
    b.append(sampleLine(s));
    if (named) {
      const name = document.createElement('span');
      name.textContent = s.label;
      b.append(name);
    }
    if (s.value != null) {
      const v = document.createElement('span');
      v.className = 'legend-value';
      v.textContent = s.value;
      b.append(v);
    }
    const pick = () => this.uplot && this.uplot.setSeries(i, { focus: true });
    const unpick = () => this.uplot && this.uplot.setSeries(null, { focus: true });
    b.addEventListener('mouseenter', pick);
    b.addEventListener('focus', pick);
    b.addEventListener('mouseleave', unpick);
    b.addEventListener('blur', unpick);
    b.addEventListener('click', () => {
      const show = this.hidden.has(s.label);
      if (show) this.hidden.delete(s.label);
      else this.hidden.add(s.label);
      b.setAttribute('aria-pressed', String(show));
      if (this.uplot) this.uplot.setSeries(i, { show });
    });
    return b;
  }
}

/** Wall-clock ticks: hours and minutes, and seconds when ticks are closer than a minute. */
function timeTicks(u, splits) {
  const fine = splits.length > 1 && splits[1] - splits[0] < 60;
  return splits.map((t) =>
    new Date(t * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: fine ? '2-digit' : undefined, hour12: false }),
  );
}

function yAxis(def) {
  return {
    label: def.axis,
    labelFont: FONT,
    labelSize: 16,
    font: FONT,
    size: 60,
    values: (u, splits) => def.ticks(splits),
  };
}

function yRange(def) {
  return (u, min, max) => {
    const lo = def.zero === false ? min : Math.min(0, min ?? 0);
    let hi = max ?? lo + (def.minSpan || 1);
    if (hi - lo < (def.minSpan || 0)) hi = lo + def.minSpan;
    if (hi <= lo) hi = lo + 1;
    return [lo, hi + (hi - lo) * 0.08];
  };
}

/**
 * A time-series chart fed by range queries. `def.queries(ctx)` gives
 * `[{expr, legend(metric), group?(metric), short?(metric), style?(metric, i)}]`; `def.format`
 * writes a value for the legend. A chart of rates (`def.warmup`) shades the time when its
 * 5-minute windows still reach back before monlab's first data (`ctx.warmup`).
 */
export class TimeChart extends Base {
  async refresh(ctx) {
    const { start, end, step } = ctx;
    let results;
    let warm = [];
    try {
      [results, warm] = await Promise.all([
        Promise.all(this.def.queries(ctx).map(async (q) => ({ q, r: await queryRange(q.expr, start, end, step) }))),
        this.def.warmup && ctx.warmup ? ctx.warmup : [],
      ]);
    } catch (e) {
      this.fail(e);
      return;
    }
    const n = Math.floor((end - start) / step) + 1;
    const xs = Array.from({ length: n }, (_, i) => start + i * step);
    const lines = [];
    for (const { q, r } of results) {
      for (const s of r) {
        const ys = new Array(n).fill(null);
        let any = false;
        for (const [t, v] of s.values) {
          const i = Math.round((t - start) / step);
          if (i >= 0 && i < n) {
            ys[i] = sampleValue(v);
            any = any || ys[i] != null;
          }
        }
        if (any) lines.push({ label: q.legend(s.metric), metric: s.metric, ys, q });
      }
    }
    this.showWarmup(warm);
    if (lines.length === 0) {
      this.setState('empty', this.def.empty || 'No data in this window yet: none of these series has a value here.');
      return;
    }
    // Slow requests' exemplars as points, the slowest per step; a Prometheus without
    // exemplar storage just shows none.
    let slow = null;
    if (this.def.exemplars) {
      const found = await queryExemplars(this.def.exemplars(ctx), start, end).catch(() => []);
      const ys = new Array(n).fill(null);
      for (const s of found) {
        for (const e of s.exemplars || []) {
          const v = sampleValue(e.value);
          const i = Math.round((e.timestamp - start) / step);
          if (v == null || v <= SLOW_SECONDS || i < 0 || i >= n) continue;
          if (ys[i] == null || v > ys[i]) ys[i] = v;
        }
      }
      const count = ys.filter((y) => y != null).length;
      this.fig.dataset.exemplars = String(count);
      if (count > 0) slow = { ys, count };
    }
    lines.sort((a, b) => (a.q.order ?? 0) - (b.q.order ?? 0) || a.label.localeCompare(b.label));
    const format = this.def.format || num;
    const series = [
      {},
      ...lines.map((l, i) => {
        const style = (l.q.style || this.def.style || (() => ({})))(l.metric, i);
        const now = l.ys[n - 1];
        return {
          label: l.label,
          group: l.q.group ? l.q.group(l.metric) : undefined,
          short: l.q.short ? l.q.short(l.metric) : undefined,
          value: now == null ? '—' : format(now),
          stroke: style.stroke || PALETTE[i % PALETTE.length],
          dash: style.dash,
          width: style.width || 1.5,
          spanGaps: false,
          points: { show: false },
        };
      }),
    ];
    const data = [xs, ...lines.map((l) => l.ys)];
    if (slow) {
      series.push({
        label: `slow requests (> ${SLOW_SECONDS} s, exemplars)`,
        value: `${slow.count} points`,
        stroke: '#b3161b',
        fill: '#b3161b',
        width: 1,
        paths: () => null,
        points: { show: true, size: 6 },
      });
      data.push(slow.ys);
    }
    const opts = {
      series,
      scales: { y: { range: yRange(this.def) } },
      axes: [{ label: 'time (local)', labelFont: FONT, labelSize: 16, font: FONT, size: 24, space: 44, values: timeTicks }, yAxis(this.def)],
      cursor: { drag: { x: false, y: false } },
      // Under the lines, so the band never hides a series.
      hooks: { drawClear: [(u) => this.paintWarmup(u)] },
    };
    this.draw(opts, data, series.map((l) => l.label).join('|'));
  }

  /** Keeps the warm-up spans for the plot and says in words what the shading means. */
  showWarmup(spans) {
    this.warmSpans = spans;
    const last = spans[spans.length - 1];
    if (!last) {
      this.warm.hidden = true;
      this.fig.dataset.warmup = '';
      return;
    }
    this.warm.hidden = false;
    this.fig.dataset.warmup = last.ongoing ? 'ongoing' : 'past';
    const from = clock(new Date(last.from * 1000));
    const until = clock(new Date(last.until * 1000));
    this.warm.textContent = last.ongoing
      ? `Warming up until ${until} (shaded): 5-minute rates hold only the data since ${from}, so they read low.`
      : `Shaded ${from}–${until}: warming up, when 5-minute rates held less than a full window of data and read low.`;
  }

  paintWarmup(u) {
    const spans = this.warmSpans || [];
    if (!spans.length) return;
    const { ctx, bbox } = u;
    ctx.save();
    for (const s of spans) {
      const x0 = Math.max(bbox.left, u.valToPos(s.from, 'x', true));
      const x1 = Math.min(bbox.left + bbox.width, u.valToPos(Math.min(s.until, u.scales.x.max), 'x', true));
      if (x1 <= x0) continue;
      ctx.fillStyle = WARMUP_FILL;
      ctx.fillRect(x0, bbox.top, x1 - x0, bbox.height);
      const px = uPlot.pxRatio;
      if (x1 - x0 > 70 * px) {
        ctx.fillStyle = WARMUP_TEXT;
        ctx.font = `${Math.round(10 * px)}px system-ui, sans-serif`;
        ctx.textBaseline = 'top';
        ctx.fillText('warming up', x0 + 4 * px, bbox.top + 3 * px);
      }
    }
    ctx.restore();
  }
}

/**
 * When 5-minute rates are partial: the steps of the range where monlab's metrics exist but did
 * not one rate window (`window` seconds) before (`expr` is 1 there), as spans
 * `{from, until, ongoing}`. A span that runs into the present ends a window after it began.
 */
export async function warmupSpans(expr, window, ctx) {
  const r = await queryRange(expr, ctx.start, ctx.end, ctx.step);
  const spans = [];
  for (const [t] of r.length ? r[0].values : []) {
    const last = spans[spans.length - 1];
    if (last && t - last.to <= ctx.step * 1.5) last.to = t;
    else spans.push({ from: t, to: t });
  }
  return spans.map(({ from, to }) => {
    const ongoing = to + ctx.step > ctx.end;
    return { from, until: ongoing ? from + window : to + ctx.step, ongoing };
  });
}

/** A histogram's buckets as bars, from one instant query of cumulative `le` counts. */
export class BucketChart extends Base {
  async refresh(ctx) {
    let r;
    try {
      r = await query(this.def.expr(ctx), ctx.end);
    } catch (e) {
      this.fail(e);
      return;
    }
    const cumulative = r
      .map((s) => [Number(s.metric.le), sampleValue(s.value[1])])
      .filter(([le, c]) => Number.isFinite(le) && c != null)
      .sort((a, b) => a[0] - b[0]);
    const xs = [];
    const ys = [];
    let prevLe = this.def.lowest ?? 0;
    let prevCount = 0;
    for (const [le, c] of cumulative) {
      xs.push((prevLe + le) / 2);
      ys.push(Math.max(0, c - prevCount));
      prevLe = le;
      prevCount = c;
    }
    if (ys.every((y) => y === 0)) {
      this.setState('empty', this.def.empty);
      return;
    }
    const opts = {
      series: [
        {},
        {
          label: this.def.legend,
          stroke: PALETTE[0],
          fill: 'rgba(26, 86, 219, 0.35)',
          paths: uPlot.paths.bars({ size: [0.9, 60] }),
          points: { show: false },
        },
      ],
      scales: { x: { time: false }, y: { range: yRange(this.def) } },
      axes: [{ label: this.def.xAxis, labelFont: FONT, labelSize: 16, font: FONT, size: 30, values: (u, s) => this.def.xTicks(s) }, yAxis(this.def)],
      cursor: { drag: { x: false, y: false } },
    };
    this.draw(opts, [xs, ys], 'bars');
  }
}

/**
 * The recovered density of a distribution (as steps, bucket by bucket) with the fitted and the
 * true densities (as curves), from `/lab/api/recover`'s `curves`.
 */
export class DensityChart extends Base {
  show(c, note) {
    const xsSet = new Set();
    for (const [l, u] of c.bins) {
      xsSet.add(l);
      xsSet.add(u);
    }
    for (const curve of [c.fitted, c.truth]) if (curve) curve.x.forEach((x) => xsSet.add(x));
    const xs = [...xsSet].sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    const recovered = new Array(xs.length).fill(null);
    for (const [l, , d] of c.bins) recovered[at.get(l)] = d;
    const last = c.bins[c.bins.length - 1];
    if (last && recovered[at.get(last[1])] == null) recovered[at.get(last[1])] = last[2];
    const curve = (k) => {
      const ys = new Array(xs.length).fill(null);
      c[k].x.forEach((x, i) => {
        ys[at.get(x)] = c[k].density[i];
      });
      return ys;
    };
    const series = [{}, { label: 'recovered from the buckets', stroke: PALETTE[0], fill: 'rgba(26, 86, 219, 0.18)', paths: uPlot.paths.stepped({ align: 1 }), spanGaps: true, points: { show: false } }];
    const data = [xs, recovered];
    if (c.fitted) {
      series.push({ label: `fitted: ${c.fitted.spec}`, stroke: PALETTE[1], width: 2, spanGaps: true, points: { show: false } });
      data.push(curve('fitted'));
    }
    if (c.truth) {
      series.push({ label: `true: ${c.truth.spec}`, stroke: PALETTE[2], width: 2, dash: [6, 4], spanGaps: true, points: { show: false } });
      data.push(curve('truth'));
    }
    const opts = {
      series,
      scales: { x: { time: false }, y: { range: yRange(this.def) } },
      axes: [
        { label: this.def.xAxis, labelFont: FONT, labelSize: 16, font: FONT, size: 30, values: (u, s) => this.def.xTicks(s) },
        yAxis(this.def),
      ],
      cursor: { drag: { x: false, y: false } },
    };
    this.draw(opts, data, series.map((s) => s.label).join('|'));
    this.note.textContent = note;
  }

  constructor(parent, def) {
    super(parent, def);
    this.note = document.createElement('p');
    this.note.className = 'dist-text';
    this.fig.append(this.note);
  }
}
