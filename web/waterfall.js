// The explanation waterfall on the outcome's own scale (percentage points of probability, or mL
// of the blood-loss median): from the model's average patient (`effect_base`) through each
// input's `effect`, in the order they were taken along the SHAP path (largest raw contribution
// first), to this patient's estimate. Built as SVG elements with presentation attributes.

import { s, pp, mlEffect } from './dom.js';

const TOP = 8;
const ROW = 26;
const LABEL_W = 250;
const WIDTH = 720;
const PLOT_W = WIDTH - LABEL_W - 90;

/** The steps of the waterfall: the top inputs by |raw contribution|, the rest as one step. */
export function steps(explanation) {
  const contributions = (explanation.contributions || [])
    .map((c, i) => ({ ...c, index: i }))
    .sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution) || a.index - b.index);
  const shown = contributions.slice(0, TOP).filter((c) => c.effect !== 0);
  const rest = contributions.filter((c) => !shown.includes(c));
  const out = shown.map((c) => ({ label: c.label || c.feature, effect: c.effect }));
  const restEffect = rest.reduce((sum, c) => sum + (c.effect || 0), 0);
  if (rest.length) out.push({ label: `${rest.length} other inputs`, effect: restEffect });
  return out;
}

/**
 * The waterfall SVG of one explanation. `outcomeName` names it for assistive technology.
 */
export function waterfall(explanation, outcomeName, idPrefix) {
  const isMl = explanation.effect_unit === 'ml';
  const fmtEffect = isMl ? mlEffect : pp;
  const fmtLevel = isMl ? (x) => `${Math.round(x)} mL` : (x) => `${x.toFixed(1)} %`;
  const list = steps(explanation);
  const base = explanation.effect_base;
  let running = base;
  const rows = list.map((st) => {
    const from = running;
    running += st.effect;
    return { ...st, from, to: running };
  });
  const end = running;
  const levels = [base, end, ...rows.map((r) => r.to)];
  // The axis starts at zero so the bars of the starting point and of this patient compare
  // honestly; the top leaves room for the value labels.
  const lo = 0;
  const top = Math.max(...levels);
  const hi = isMl ? top * 1.08 : Math.min(100, top * 1.08);
  const x = (v) => LABEL_W + ((v - lo) / (hi - lo || 1)) * PLOT_W;
  const height = (rows.length + 2) * ROW + 30;
  const titleId = `${idPrefix}-title`;
  const svg = s('svg', {
    viewBox: `0 0 ${WIDTH} ${height}`, width: '100%', role: 'img', 'aria-labelledby': titleId,
    class: 'waterfall', preserveAspectRatio: 'xMinYMin meet',
  });
  svg.append(s('title', { id: titleId },
    `${outcomeName}: model starting point ${fmtLevel(base)}; ${rows.map((r) => `${r.label} ${fmtEffect(r.effect)}`).join('; ')}; this patient ${fmtLevel(end)}`));
  const line = (yy, label, value, cls) => {
    svg.append(s('text', { x: LABEL_W - 8, y: yy + 17, 'text-anchor': 'end', class: `wf-label ${cls}` }, label));
    svg.append(s('rect', { x: x(lo), y: yy + 5, width: Math.max(1, x(value) - x(lo)), height: ROW - 10, class: `wf-total ${cls}` }));
    svg.append(s('text', { x: x(value) + 6, y: yy + 17, class: 'wf-value' }, fmtLevel(value)));
  };
  line(0, 'Model starting point', base, 'wf-base');
  rows.forEach((r, i) => {
    const yy = (i + 1) * ROW;
    const left = Math.min(x(r.from), x(r.to));
    const w = Math.max(1.5, Math.abs(x(r.to) - x(r.from)));
    const cls = r.effect >= 0 ? 'wf-up' : 'wf-down';
    svg.append(s('text', { x: LABEL_W - 8, y: yy + 17, 'text-anchor': 'end', class: 'wf-label' }, r.label));
    svg.append(s('rect', { x: left, y: yy + 5, width: w, height: ROW - 10, class: cls }));
    svg.append(s('text', { x: Math.max(x(r.from), x(r.to)) + 6, y: yy + 17, class: 'wf-value' }, fmtEffect(r.effect)));
    svg.append(s('line', { x1: x(r.to), x2: x(r.to), y1: yy + ROW - 5, y2: yy + ROW + 5, class: 'wf-connector' }));
  });
  line((rows.length + 1) * ROW, 'This patient', end, 'wf-end');
  const axisY = (rows.length + 2) * ROW + 4;
  svg.append(s('line', { x1: x(lo), x2: x(hi), y1: axisY, y2: axisY, class: 'wf-axis' }));
  for (const v of [lo, (lo + hi) / 2, hi]) {
    svg.append(s('text', { x: x(v), y: axisY + 18, 'text-anchor': 'middle', class: 'wf-tick' }, fmtLevel(v)));
  }
  return svg;
}
