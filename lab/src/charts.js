// Charts: uPlot inside a <figure> that always says what it shows. A chart is in one state,
// written to data-state: "loading", "data" (drawn), "empty" (the series exist nowhere in the
// window yet), "unreachable" / "not-configured" (Prometheus), or "error". Only "data" draws;
// every other state replaces the plot with a sentence, so a chart with nothing to show never
// looks like a quiet system.

import uPlot from 'uplot';
import { queryRange, query, sampleValue, HttpError } from './api.js';

export const PALETTE = ['#1a56db', '#c25400', '#1f7a3a', '#b3161b', '#7c3aed', '#0e7490', '#a16207', '#db2777', '#4b5563', '#65a30d'];
const FONT = '11px system-ui, sans-serif';
const HEIGHT = 150;

function figure(parent, def) {
  const fig = document.createElement('figure');
  fig.className = 'chart';
  fig.id = `chart-${def.id}`;
  fig.dataset.state = 'loading';
  const cap = document.createElement('figcaption');
  cap.textContent = def.title;
  const plot = document.createElement('div');
  plot.className = 'plot';
  const msg = document.createElement('p');
  msg.className = 'chart-msg';
  msg.setAttribute('role', 'status');
  msg.textContent = 'Loading…';
  fig.append(cap, plot, msg);
  parent.append(fig);
  return { fig, plot, msg };
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

  /** Draws `data` with `series`, rebuilding the plot only when the series change. */
  draw(opts, data, key) {
    this.setState('data', '');
    if (!this.uplot || key !== this.key) {
      if (this.uplot) this.uplot.destroy();
      this.uplot = new uPlot({ width: this.width(), height: HEIGHT, ...opts }, data, this.plot);
      this.key = key;
    } else {
      this.uplot.setData(data);
    }
    this.fig.dataset.series = String(data.length - 1);
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
    size: 54,
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
 * A time-series chart fed by range queries. `def.queries(ctx)` gives `[{expr, legend(metric)}]`;
 * `def.style(metric, i)` gives a series' stroke and dash.
 */
export class TimeChart extends Base {
  async refresh(ctx) {
    const { start, end, step } = ctx;
    let results;
    try {
      results = await Promise.all(
        this.def.queries(ctx).map(async (q) => ({ q, r: await queryRange(q.expr, start, end, step) })),
      );
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
    if (lines.length === 0) {
      this.setState('empty', this.def.empty || 'No data in this window yet: none of these series has a value here.');
      return;
    }
    lines.sort((a, b) => (a.q.order ?? 0) - (b.q.order ?? 0) || a.label.localeCompare(b.label));
    const series = [
      {},
      ...lines.map((l, i) => {
        const style = (l.q.style || this.def.style || (() => ({})))(l.metric, i);
        return {
          label: l.label,
          stroke: style.stroke || PALETTE[i % PALETTE.length],
          dash: style.dash,
          width: style.width || 1.5,
          spanGaps: false,
          points: { show: false },
        };
      }),
    ];
    const opts = {
      series,
      scales: { y: { range: yRange(this.def) } },
      axes: [{ label: 'time (local)', labelFont: FONT, labelSize: 16, font: FONT, size: 24, space: 44, values: timeTicks }, yAxis(this.def)],
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
    };
    this.draw(opts, [xs, ...lines.map((l) => l.ys)], lines.map((l) => l.label).join('|'));
  }
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
      legend: { live: false },
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
      legend: { live: false },
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
