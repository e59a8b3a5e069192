// Performance and calibration of the quality views (GET /v1/quality/performance): per group (site,
// month, sex, age band, procedure or model version) the AUC and the calibration slope with their
// 95 % intervals as interval plots, every metric in a table, groups too small to report shown as
// suppressed (never drawn), and a reliability diagram of a chosen group.

import * as api from './api.js';
import { h, clear, byId, table, lastDays, problemAlert } from './dom.js';
import { intervalPlot, reliabilityPlot } from './plots.js';

function fail(el, res) {
  clear(el).append(problemAlert(api.problemText(res.problem, res.status), res.problem));
}

/** A 95 % interval as [lo, hi] from `[lo, hi]` or `{lower, upper}` (null when absent). */
function ci(v) {
  if (Array.isArray(v) && v.length === 2) return v;
  if (v && typeof v === 'object' && typeof v.lower === 'number') return [v.lower, v.upper];
  return null;
}

function num(v, digits = 3) {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '—';
}

function withCi(v, interval, digits = 2) {
  if (typeof v !== 'number') return '—';
  return interval ? `${v.toFixed(digits)} (${interval[0].toFixed(digits)}–${interval[1].toFixed(digits)})` : v.toFixed(digits);
}

/** One group of the answer in the page's terms. */
function groupOf(g) {
  const cal = g.calibration || {};
  return {
    label: String(g.group ?? g.key ?? g.value ?? g.name ?? '—'),
    n: g.n, events: g.events, suppressed: !!g.suppressed, reason: g.suppressed_reason || g.reason || null,
    auc: g.auc, aucCi: ci(g.auc_ci), brier: g.brier, ece: g.ece,
    intercept: cal.intercept, interceptCi: ci(cal.intercept_ci), slope: cal.slope, slopeCi: ci(cal.slope_ci),
    reliability: g.reliability || g.reliability_bins || [],
    quantity: g.median_absolute_error !== undefined ? { mae: g.median_absolute_error, maeCi: ci(g.median_absolute_error_ci), coverage: g.coverage_80 } : null,
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
  const overall = body.overall ? { ...groupOf(body.overall), label: 'all' } : null;
  const all = overall ? [overall, ...groups] : groups;
  const suppressed = groups.filter((g) => g.suppressed).length;
  const binary = !all.some((g) => g.quantity);
  const plotRows = (value, interval) => all.map((g) => ({ label: g.label, value: g[value], lo: g[interval]?.[0], hi: g[interval]?.[1], suppressed: g.suppressed, note: g.suppressed ? g.reason || (typeof g.n === 'number' ? `n ${g.n}` : '') : '' }));
  const by = body.group_by || byId('performance-group-by').value;
  const reliabilityChoices = all.filter((g) => !g.suppressed && g.reliability.length);
  clear(el).append(h('div', {},
    h('p', { id: 'performance-summary' },
      `${body.outcome}: ${groups.length} group${groups.length === 1 ? '' : 's'} by ${by.replace(/_/g, ' ')}${suppressed ? `, ${suppressed} suppressed` : ''} (${body.from} to ${body.to}).`,
      body.min_group_size || body.suppression_threshold ? ` Groups below ${body.min_group_size || body.suppression_threshold} are suppressed.` : ''),
    all.length === 0 ? h('p', {}, 'No assessment with a recorded outcome in this window.') : null,
    binary && all.length ? h('div', { class: 'plots' },
      h('figure', { id: 'auc-plot' }, h('figcaption', {}, `AUC by ${by.replace(/_/g, ' ')} (95 % CI; 0.5 = chance)`),
        intervalPlot(plotRows('auc', 'aucCi'), { title: `AUC by ${by}`, reference: 0.5, axisLabel: 'AUC' })),
      h('figure', { id: 'slope-plot' }, h('figcaption', {}, `Calibration slope by ${by.replace(/_/g, ' ')} (95 % CI; 1 = ideal)`),
        intervalPlot(plotRows('slope', 'slopeCi'), { title: `Calibration slope by ${by}`, reference: 1, axisLabel: 'Calibration slope' }))) : null,
    all.length ? table('Every metric', binary
      ? ['Group', 'n', 'Events', 'AUC (95 % CI)', 'Brier', 'Intercept (95 % CI)', 'Slope (95 % CI)', 'ECE']
      : ['Group', 'n', 'Median abs. error (95 % CI)', 'Coverage of the 80 % interval'],
    all.map((g) => ({
      attrs: { 'data-group': g.label, class: g.suppressed ? 'suppressed' : null },
      cells: g.suppressed
        ? [g.label, typeof g.n === 'number' ? String(g.n) : '—', h('span', { class: 'suppressed-text' }, `suppressed${g.reason ? ` (${g.reason})` : ''}`)]
        : (binary
          ? [g.label, String(g.n), String(g.events), withCi(g.auc, g.aucCi), num(g.brier, 4), withCi(g.intercept, g.interceptCi), withCi(g.slope, g.slopeCi), num(g.ece, 4)]
          : [g.label, String(g.n), withCi(g.quantity.mae, g.quantity.maeCi, 0), num(g.quantity.coverage, 3)]),
    })), { id: 'performance-table' }) : null,
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
