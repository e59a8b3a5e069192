// Performance and calibration of the quality views (GET /v1/quality/performance): per group (site,
// month, sex, age band, procedure or model version) and for `all`, the AUC and the calibration
// slope with their 95 % intervals as interval plots, every metric and the fairness flags in a
// table, groups too small to report shown as suppressed (never drawn), and a reliability diagram
// of a chosen group. Blood loss (a quantity) has its error and interval coverage instead.

import * as api from './api.js';
import { h, clear, byId, table, lastDays, problemAlert } from './dom.js';
import { intervalPlot, reliabilityPlot } from './plots.js';

function fail(el, res) {
  clear(el).append(problemAlert(api.problemText(res.problem, res.status), res.problem));
}

/** A 95 % interval `{lower, upper}` as [lower, upper] (null when absent). */
function ci(v) {
  return v && typeof v.lower === 'number' && typeof v.upper === 'number' ? [v.lower, v.upper] : null;
}

function num(v, digits = 3) {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '—';
}

function withCi(v, interval, digits = 2) {
  if (typeof v !== 'number') return '—';
  return interval ? `${v.toFixed(digits)} (${interval[0].toFixed(digits)}–${interval[1].toFixed(digits)})` : v.toFixed(digits);
}

/** One row of the answer (a group, or `all`) in the page's terms. */
function groupOf(g) {
  const b = g.binary || {};
  const q = g.quantity || null;
  return {
    label: g.group, n: g.n, suppressed: !!g.suppressed,
    events: b.events, auc: b.auc, aucCi: ci(b.auc_ci), brier: b.brier, ece: b.ece,
    intercept: b.calibration_intercept, interceptCi: ci(b.calibration_intercept_ci),
    slope: b.calibration_slope, slopeCi: ci(b.calibration_slope_ci),
    reliability: b.reliability || [],
    quantity: q ? { mae: q.median_absolute_error_ml, maeCi: ci(q.median_absolute_error_ci), coverage: q.coverage_80 } : null,
    flagged: (g.fairness || []).filter((f) => f.flagged),
  };
}

function showReliability(groups, label) {
  const el = byId('reliability');
  const g = groups.find((x) => x.label === label);
  if (!g) { clear(el); return; }
  const bins = g.reliability;
  clear(el).append(h('div', {},
    bins.length ? reliabilityPlot(bins, { title: `Reliability diagram, ${g.label}` })
      : h('p', {}, g.suppressed ? `${g.label} is suppressed: no reliability diagram.` : `No reliability bins for ${g.label}.`),
    bins.length ? h('details', {}, h('summary', {}, 'Bins, exact values'),
      table(null, ['Predicted from', 'to', 'Mean predicted', 'Observed rate', 'Patients'],
        bins.map((b) => [num(b.lower, 4), num(b.upper, 4), num(b.mean_predicted, 4), num(b.observed_rate, 4), String(b.count)]))) : null));
}

function render(body) {
  const el = byId('performance');
  const groups = (body.groups || []).map(groupOf);
  const all = [groupOf(body.all), ...groups];
  const suppressed = groups.filter((g) => g.suppressed).length;
  const binary = body.outcome_kind !== 'quantity';
  const min = body.min_group_size;
  const note = (g) => (g.suppressed ? `n ${g.n} < ${min}` : '');
  const plotRows = (value, interval) => all.map((g) => ({ label: g.label, value: g[value], lo: g[interval]?.[0], hi: g[interval]?.[1], suppressed: g.suppressed, note: note(g) }));
  const by = (body.group_by || 'all').replace(/_/g, ' ');
  const reliabilityChoices = all.filter((g) => !g.suppressed && g.reliability.length);
  const rows = body.rows || {};
  const fairness = (g) => (g.flagged.length ? g.flagged.map((f) => `${f.metric.replace(/_/g, ' ')} ${num(f.ratio, 2)}×`).join(', ') : '—');
  clear(el).append(h('div', {},
    h('p', { id: 'performance-summary' },
      `${body.outcome}: ${rows.with_outcome ?? all[0].n} assessments with a recorded outcome${typeof rows.without_outcome === 'number' ? ` (${rows.without_outcome} without, not used)` : ''}, ${body.from} to ${body.to}${body.site ? `, site ${body.site}` : ''}. `,
      body.group_by ? `${groups.length} group${groups.length === 1 ? '' : 's'} by ${by}${suppressed ? `, ${suppressed} suppressed (fewer than ${min} rows)` : ''}.` : '',
      body.reference ? ` Fairness reference: ${body.reference.group} (${body.reference.chosen}); ratios outside ${(body.fairness_bounds || []).join('–')} are flagged.` : '',
      rows.unreadable ? ` ${rows.unreadable} unreadable records.` : ''),
    binary ? h('div', { class: 'plots' },
      h('figure', { id: 'auc-plot' }, h('figcaption', {}, `AUC by ${by} (95 % bootstrap CI; 0.5 = chance)`),
        intervalPlot(plotRows('auc', 'aucCi'), { title: `AUC by ${by}`, reference: 0.5, axisLabel: 'AUC' })),
      h('figure', { id: 'slope-plot' }, h('figcaption', {}, `Calibration slope by ${by} (95 % CI; 1 = ideal)`),
        intervalPlot(plotRows('slope', 'slopeCi'), { title: `Calibration slope by ${by}`, reference: 1, axisLabel: 'Calibration slope' }))) : null,
    table('Every metric', binary
      ? ['Group', 'n', 'Events', 'AUC (95 % CI)', 'Brier', 'Intercept (95 % CI)', 'Slope (95 % CI)', 'ECE', 'Fairness flags']
      : ['Group', 'n', 'Median abs. error, mL (95 % CI)', 'Coverage of the 80 % interval', 'Fairness flags'],
    all.map((g) => ({
      attrs: { 'data-group': g.label, class: g.suppressed ? 'suppressed' : null },
      cells: g.suppressed
        ? [g.label, String(g.n), h('span', { class: 'suppressed-text' }, `suppressed (fewer than ${min} rows)`)]
        : (binary
          ? [g.label, String(g.n), String(g.events ?? '—'), withCi(g.auc, g.aucCi), num(g.brier, 4), withCi(g.intercept, g.interceptCi), withCi(g.slope, g.slopeCi), num(g.ece, 4), fairness(g)]
          : [g.label, String(g.n), withCi(g.quantity?.mae, g.quantity?.maeCi, 0), num(g.quantity?.coverage, 3), fairness(g)]),
    })), { id: 'performance-table' }),
    binary && reliabilityChoices.length ? h('div', { class: 'reliability-choice' },
      h('label', { for: 'reliability-group' }, 'Reliability diagram of'),
      h('select', { id: 'reliability-group', onchange: (e) => showReliability(all, e.target.value) },
        reliabilityChoices.map((g) => h('option', { value: g.label }, g.label)))) : null,
    h('div', { id: 'reliability' })));
  if (binary && reliabilityChoices.length) showReliability(all, reliabilityChoices[0].label);
}

async function loadPerformance(event) {
  event.preventDefault();
  const el = byId('performance');
  const query = {
    outcome: byId('performance-outcome').value, group_by: byId('performance-group-by').value,
    from: byId('performance-from').value.trim(), to: byId('performance-to').value.trim(),
    site: byId('performance-site').value.trim(),
  };
  if (!query.outcome) {
    clear(el).append(h('p', { class: 'error', role: 'alert' }, 'Choose an outcome.'));
    byId('performance-outcome').focus();
    return;
  }
  clear(el).append(h('p', { class: 'loading' }, 'Computing performance…'));
  const res = await api.qualityPerformance(query);
  if (!res.ok) { fail(el, res); return; }
  render(res.body);
}

let wired = false;

/** Wires the performance form once and fills its outcomes (binary outcomes first). */
export async function setupPerformance() {
  if (!wired) {
    wired = true;
    const w = lastDays(365);
    byId('performance-from').value = w.from;
    byId('performance-to').value = w.to;
    byId('performance-form').addEventListener('submit', loadPerformance);
  }
  const res = await api.dictionary();
  const select = byId('performance-outcome');
  if (res.ok && select.options.length <= 1) {
    select.append(...(res.body.outcomes || []).map((o) => h('option', { value: o.id }, `${o.name || o.id} (${o.id})`)));
  }
}
