// Numbers with their units, for axes, legends and the panels.

/** `1.5 req/s`-style numbers: three significant digits, no exponent below a million. */
export function num(v) {
  if (v == null) return '—';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6) return v.toExponential(1);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

/** A ratio as a percentage with three significant digits, `4.2%`. */
export function percent(v) {
  return v == null ? '—' : `${num(v * 100)}%`;
}

/** Seconds as `850 ms` or `1.2 s`. */
export function seconds(v) {
  return v == null ? '—' : secondsTicks([v])[0];
}

/** Decimals that tell ticks `step` apart. */
function decimals(step) {
  if (!(step > 0)) return 0;
  return Math.min(4, Math.max(0, -Math.floor(Math.log10(step))));
}

/** A ratio as a percentage, with as many decimals as the tick spacing needs. */
export function percentTicks(splits) {
  const step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) * 100 : 1;
  const d = decimals(step);
  return splits.map((v) => `${(v * 100).toFixed(d)}%`);
}

/** Seconds as ms below one second, as s above. */
export function secondsTicks(splits) {
  return splits.map((v) => {
    if (v === 0) return '0';
    if (Math.abs(v) < 1) return `${+(v * 1000).toPrecision(3)} ms`;
    return `${+v.toPrecision(3)} s`;
  });
}

/** Plain numbers, with as many decimals as the tick spacing needs. */
export function plainTicks(splits) {
  const step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : 1;
  const d = decimals(step);
  return splits.map((v) => v.toFixed(d));
}

/** A duration in seconds as `4m 12s`, `1h 3m`, `35s`. */
export function duration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${String(r).padStart(2, '0')}s`;
  return `${r}s`;
}

/** A range in seconds as the duration text monlab's APIs take (`15m`, `1h`). */
export function rangeText(seconds) {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** Local wall-clock time, `14:03:27`. */
export function clock(date) {
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}
