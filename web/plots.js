// Plots of the quality views, drawn as inline SVG elements with presentation attributes and CSS
// classes (no chart library, no style attributes: the CSP forbids them): an interval ("forest")
// plot of per-group estimates with confidence intervals, a reliability diagram and a horizontal
// bar chart. Every plot is `role="img"` with a text title naming every value, and is meant to sit
// next to a table of the exact numbers. Text uses the page's ink and muted colours (>= 4.5:1 on
// white and on the panel background).

import { s } from './dom.js';

const WIDTH = 720;
const ROW = 24;

let serial = 0;
function nextId(prefix) {
  serial += 1;
  return `${prefix}-${serial}`;
}

/** About `n` round tick values covering [lo, hi]. */
export function ticks(lo, hi, n = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => (hi - lo) / st <= n) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

function svgRoot(height, title, cls) {
  const titleId = nextId('plot-title');
  const svg = s('svg', { viewBox: `0 0 ${WIDTH} ${height}`, width: '100%', role: 'img', 'aria-labelledby': titleId, class: `plot ${cls}`, preserveAspectRatio: 'xMinYMin meet' });
  svg.append(s('title', { id: titleId }, title));
  return svg;
}

function text(x, y, content, cls, anchor = 'start') {
  return s('text', { x, y, 'text-anchor': anchor, class: cls }, content);
}

/**
 * An interval plot: one row per group with its estimate and 95 % interval on a shared axis, a
 * dashed reference line (e.g. AUC 0.5, calibration slope 1), the value as text at the right, and
 * rows that carry no estimate (`suppressed`, or `value` null) labelled instead of drawn.
 *   rows: [{label, value, lo, hi, suppressed, note}]
 *   options: {title, format(v), reference, referenceLabel, domain: [lo, hi] (optional)}
 */
export function intervalPlot(rows, options) {
  const fmt = options.format || ((v) => v.toFixed(2));
  const labelW = 170;
  const valueW = 170;
  const plotW = WIDTH - labelW - valueW - 20;
  const drawn = rows.filter((r) => !r.suppressed && typeof r.value === 'number');
  const values = drawn.flatMap((r) => [r.value, r.lo, r.hi]).filter((v) => typeof v === 'number' && Number.isFinite(v));
  if (typeof options.reference === 'number') values.push(options.reference);
  let [lo, hi] = options.domain || [Math.min(...values), Math.max(...values)];
  if (!values.length) { lo = 0; hi = 1; }
  if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
  const pad = (hi - lo) * 0.05;
  if (!options.domain) { lo -= pad; hi += pad; }
  const x = (v) => labelW + ((Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo)) * plotW;
  const height = rows.length * ROW + 44;
  const describe = (r) => {
    if (r.suppressed) return `${r.label} suppressed${r.note ? ` (${r.note})` : ''}`;
    if (typeof r.value !== 'number') return `${r.label} not estimable${r.note ? ` (${r.note})` : ''}`;
    return `${r.label} ${fmt(r.value)}${typeof r.lo === 'number' ? ` (95 % CI ${fmt(r.lo)} to ${fmt(r.hi)})` : ''}`;
  };
  const svg = svgRoot(height, `${options.title}: ${rows.map(describe).join('; ')}`, 'interval-plot');
  const axisY = rows.length * ROW + 6;
  for (const t of ticks(lo, hi)) {
    svg.append(s('line', { x1: x(t), x2: x(t), y1: 0, y2: axisY, class: 'plot-grid' }));
    svg.append(text(x(t), axisY + 16, fmt(t), 'plot-tick', 'middle'));
  }
  if (typeof options.reference === 'number') {
    svg.append(s('line', { x1: x(options.reference), x2: x(options.reference), y1: 0, y2: axisY, class: 'plot-reference' }));
  }
  svg.append(s('line', { x1: labelW, x2: labelW + plotW, y1: axisY, y2: axisY, class: 'plot-axis' }));
  if (options.axisLabel) svg.append(text(labelW + plotW / 2, axisY + 34, options.axisLabel, 'plot-label', 'middle'));
  rows.forEach((r, i) => {
    const y = i * ROW + ROW / 2 + 2;
    svg.append(text(labelW - 8, y + 4, r.label, 'plot-label', 'end'));
    if (r.suppressed || typeof r.value !== 'number') {
      svg.append(text(labelW + 4, y + 4, r.suppressed ? `suppressed${r.note ? ` (${r.note})` : ''}` : `not estimable${r.note ? ` (${r.note})` : ''}`, 'plot-muted plot-suppressed'));
      return;
    }
    if (typeof r.lo === 'number' && typeof r.hi === 'number') {
      svg.append(s('line', { x1: x(r.lo), x2: x(r.hi), y1: y, y2: y, class: 'plot-ci' }));
      for (const v of [r.lo, r.hi]) svg.append(s('line', { x1: x(v), x2: x(v), y1: y - 5, y2: y + 5, class: 'plot-ci' }));
    }
    svg.append(s('rect', { x: x(r.value) - 4, y: y - 4, width: 8, height: 8, class: 'plot-point' }));
    svg.append(text(labelW + plotW + 14, y + 4, typeof r.lo === 'number' ? `${fmt(r.value)} (${fmt(r.lo)}–${fmt(r.hi)})` : fmt(r.value), 'plot-value'));
  });
  return svg;
}

/**
 * A reliability diagram: mean predicted risk (x) against the observed event rate (y) per bin,
 * each point's area proportional to its rows, over the diagonal of perfect calibration.
 *   bins: [{mean_predicted, observed_rate, count}]; options: {title}
 */
export function reliabilityPlot(bins, options) {
  const size = 300;
  const left = 60;
  const top = 12;
  const maxV = Math.max(0.05, ...bins.flatMap((b) => [b.mean_predicted, b.observed_rate]));
  const hi = Math.min(1, ticks(0, maxV * 1.05, 5).find((t) => t >= maxV * 1.05) ?? maxV * 1.1);
  const x = (v) => left + (v / hi) * size;
  const y = (v) => top + size - (v / hi) * size;
  const pctText = (v) => `${(v * 100).toFixed(v * 100 < 10 ? 1 : 0)} %`;
  const maxCount = Math.max(1, ...bins.map((b) => b.count));
  const title = `${options.title}: ${bins.map((b) => `predicted ${pctText(b.mean_predicted)}, observed ${pctText(b.observed_rate)} (${b.count} patients)`).join('; ')}`;
  const titleId = nextId('plot-title');
  const svg = s('svg', { viewBox: `0 0 ${left + size + 20} ${top + size + 50}`, width: '100%', role: 'img', 'aria-labelledby': titleId, class: 'plot reliability-plot', preserveAspectRatio: 'xMinYMin meet' });
  svg.append(s('title', { id: titleId }, title));
  for (const t of ticks(0, hi, 5)) {
    svg.append(s('line', { x1: x(t), x2: x(t), y1: top, y2: top + size, class: 'plot-grid' }));
    svg.append(s('line', { x1: left, x2: left + size, y1: y(t), y2: y(t), class: 'plot-grid' }));
    svg.append(text(x(t), top + size + 16, pctText(t), 'plot-tick', 'middle'));
    svg.append(text(left - 6, y(t) + 4, pctText(t), 'plot-tick', 'end'));
  }
  svg.append(s('line', { x1: x(0), y1: y(0), x2: x(hi), y2: y(hi), class: 'plot-reference' }));
  svg.append(s('rect', { x: left, y: top, width: size, height: size, class: 'plot-frame' }));
  if (bins.length > 1) {
    svg.append(s('polyline', { points: bins.map((b) => `${x(b.mean_predicted)},${y(b.observed_rate)}`).join(' '), class: 'plot-line' }));
  }
  for (const b of bins) {
    svg.append(s('circle', { cx: x(b.mean_predicted), cy: y(b.observed_rate), r: 2.5 + 5 * Math.sqrt(b.count / maxCount), class: 'plot-dot' }));
  }
  svg.append(text(left + size / 2, top + size + 36, 'Mean predicted risk', 'plot-label', 'middle'));
  svg.append(s('text', { x: 14, y: top + size / 2, 'text-anchor': 'middle', class: 'plot-label', transform: `rotate(-90 14 ${top + size / 2})` }, 'Observed rate'));
  return svg;
}

/**
 * A horizontal bar chart: one bar per row from 0, the value as text beside it, optional
 * vertical threshold lines (e.g. PSI 0.1 and 0.25) with their labels.
 *   rows: [{label, value, note, cls}]; options: {title, format(v), thresholds: [{value, label}]}
 */
export function barPlot(rows, options) {
  const fmt = options.format || ((v) => v.toFixed(3));
  const labelW = 230;
  const plotW = WIDTH - labelW - 150;
  const values = rows.map((r) => r.value).filter((v) => typeof v === 'number' && Number.isFinite(v));
  const hi = Math.max(1e-9, ...values, ...(options.thresholds || []).map((t) => t.value)) * 1.05;
  const x = (v) => labelW + (Math.max(0, v) / hi) * plotW;
  const height = rows.length * ROW + 30 + ((options.thresholds || []).length ? 14 : 0);
  const top = (options.thresholds || []).length ? 14 : 0;
  const svg = svgRoot(height, `${options.title}: ${rows.map((r) => `${r.label} ${typeof r.value === 'number' ? fmt(r.value) : 'not available'}${r.note ? ` (${r.note})` : ''}`).join('; ')}`, 'bar-plot');
  const axisY = top + rows.length * ROW + 4;
  // The threshold lines are dashed; their names go in one legend line (labels on the lines would
  // overlap when the thresholds are close on the axis).
  for (const t of options.thresholds || []) {
    svg.append(s('line', { x1: x(t.value), x2: x(t.value), y1: top - 2, y2: axisY, class: 'plot-reference' }));
  }
  if ((options.thresholds || []).length) {
    svg.append(text(labelW, 10, `Dashed lines: ${options.thresholds.map((t) => t.label).join(', ')}`, 'plot-tick'));
  }
  rows.forEach((r, i) => {
    const y = top + i * ROW;
    svg.append(text(labelW - 8, y + 16, r.label, 'plot-label', 'end'));
    if (typeof r.value !== 'number') {
      svg.append(text(labelW + 4, y + 16, 'not available', 'plot-muted'));
      return;
    }
    svg.append(s('rect', { x: labelW, y: y + 5, width: Math.max(1, x(r.value) - labelW), height: ROW - 10, class: `plot-bar ${r.cls || ''}` }));
    svg.append(text(x(r.value) + 6, y + 16, `${fmt(r.value)}${r.note ? ` ${r.note}` : ''}`, 'plot-value'));
  });
  svg.append(s('line', { x1: labelW, x2: labelW + plotW, y1: axisY, y2: axisY, class: 'plot-axis' }));
  for (const t of ticks(0, hi, 4)) svg.append(text(x(t), axisY + 16, fmt(t), 'plot-tick', 'middle'));
  return svg;
}
