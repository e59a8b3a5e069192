// Drift and explanation monitoring of the quality views. Drift (GET /v1/quality/drift): per
// calendar month, each input's shift against the training distribution (PSI with its flag, a KS
// or chi-squared test, the missing rate against training) and each outcome's predictions against
// the window's first month. Explanations (GET /v1/quality/explanations): what drives an
// outcome's explanations over a window (mean |SHAP| per feature, missing rates, explanations
// dominated by missing inputs), and the server's own bar and beeswarm plots
// (GET /v1/quality/explanations.svg), fetched with the key in the header and shown as an <img>
// from a Blob: an image never runs script and is not parsed into this page.

import * as api from './api.js';
import { h, clear, byId, pct, table, lastDays, assessmentLink, problemAlert } from './dom.js';
import { barPlot } from './plots.js';

function fail(el, res) {
  clear(el).append(problemAlert(api.problemText(res.problem, res.status), res.problem));
}

function num(v, digits = 3) {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '—';
}

function pValue(p) {
  if (typeof p !== 'number') return '—';
  return p < 0.001 ? '< 0.001' : p.toFixed(3);
}

const names = { feature: (f) => f, outcome: (o) => o };

async function loadNames() {
  const res = await api.dictionary();
  if (!res.ok) return;
  const feature = new Map([...(res.body.features || []), ...(res.body.derived || [])].map((f) => [f.name, f.label || f.name]));
  const outcome = new Map((res.body.outcomes || []).map((o) => [o.id, o.name || o.id]));
  names.feature = (f) => feature.get(f) || f;
  names.outcome = (o) => outcome.get(o) || o;
  for (const id of ['drift-outcome', 'explain-outcome']) {
    const select = byId(id);
    if (select.options.length <= 1) select.append(...(res.body.outcomes || []).map((o) => h('option', { value: o.id }, `${o.name || o.id} (${o.id})`)));
  }
}

function params(prefix) {
  const out = {};
  for (const name of ['from', 'to', 'site', 'outcome']) {
    const el = byId(`${prefix}-${name}`);
    const v = el ? el.value.trim() : '';
    if (v) out[name] = v;
  }
  return out;
}

// ---------------------------------------------------------------- drift

function driftMonth(report, month) {
  const t = report.thresholds;
  const shifted = month.features.filter((f) => typeof f.psi === 'number')
    .sort((a, b) => b.psi - a.psi || a.feature.localeCompare(b.feature));
  const flagged = month.features.filter((f) => (f.shift && f.shift !== 'none') || f.test?.significant_after_correction);
  return h('section', { class: 'drift-month', 'data-month': month.month, 'aria-label': `Drift in ${month.month}` },
    h('h3', {}, `${month.month}: ${month.assessments} assessments`),
    shifted.length ? barPlot(shifted.slice(0, 12).map((f) => ({
      label: names.feature(f.feature), value: f.psi, note: f.shift && f.shift !== 'none' ? f.shift : '', cls: `shift-${f.shift || 'none'}`,
    })), {
      title: `Input drift in ${month.month}, PSI against training (largest 12)`, format: (v) => v.toFixed(2),
      thresholds: [{ value: t.psi_moderate, label: `moderate ${t.psi_moderate}` }, { value: t.psi_major, label: `major ${t.psi_major}` }],
    }) : h('p', { class: 'help' }, 'No input drift computed (no training distribution, or no present values).'),
    flagged.length
      ? table(`Inputs flagged (PSI ≥ ${t.psi_moderate} or Benjamini–Hochberg q < ${t.significance} over the month's inputs)`, ['Input', 'PSI', 'Shift', 'Test', 'p', 'q', 'Missing', 'Training missing'],
        flagged.map((f) => ({ attrs: { 'data-feature': f.feature }, cells: [names.feature(f.feature), num(f.psi, 3), f.shift || '—', f.test ? f.test.test.replace(/_/g, ' ') : '—', pValue(f.test?.p_value), pValue(f.test?.q_value), pct(f.missing_rate), pct(f.training_missing_rate)] })),
        { class: 'drift-flagged' })
      : h('p', {}, 'No input flagged in this month.'),
    h('details', {}, h('summary', {}, `Every input (${month.features.length})`),
      table(null, ['Input', 'Present', 'Missing', 'Missing rate', 'Training', 'PSI', 'Shift', 'p'],
        month.features.map((f) => [names.feature(f.feature), String(f.present), String(f.missing), pct(f.missing_rate), pct(f.training_missing_rate), num(f.psi, 3), f.shift || '—', pValue(f.test?.p_value)]))),
    month.predictions.length
      ? table('Predictions against the first month of the window', ['Outcome', 'n', 'Mean', 'Baseline', 'Mean / baseline', 'PSI', 'Shift', 'KS p'],
        month.predictions.map((p) => {
          const isMl = p.outcome === 'blood_loss_ml';
          const level = (v) => (typeof v !== 'number' ? '—' : (isMl ? `${Math.round(v)} mL` : pct(v)));
          return { attrs: { 'data-outcome': p.outcome }, cells: [names.outcome(p.outcome), String(p.n), level(p.mean), level(p.baseline), num(p.mean_over_baseline, 2), p.psi === null ? `reference (${p.reference_month})` : num(p.psi, 3), p.shift || '—', pValue(p.ks?.p_value)] };
        }), { class: 'drift-predictions' })
      : null);
}

async function loadDrift(event) {
  if (event) event.preventDefault();
  const el = byId('drift');
  clear(el).append(h('p', { class: 'loading' }, 'Computing drift…'));
  const res = await api.drift(params('drift'));
  if (!res.ok) { fail(el, res); return; }
  const r = res.body;
  const months = r.months || [];
  clear(el).append(h('div', {},
    h('p', { id: 'drift-summary' },
      `${months.reduce((n, m) => n + m.assessments, 0)} assessments in ${months.length} month${months.length === 1 ? '' : 's'} (${r.from} to ${r.to}${r.site ? `, site ${r.site}` : ''}). `,
      r.training.status === 'available' ? `Against the training distribution (${r.training.rows} rows).` : 'No training distribution: input drift is not computed.',
      r.unreadable ? ` ${r.unreadable} unreadable records.` : ''),
    (r.model_sets || []).length ? h('p', { class: 'help' }, `Answered by: ${r.model_sets.map((m) => `${m.id} ${m.version} (${m.assessments})`).join(', ')}.`) : null,
    months.length ? [...months].reverse().map((m) => driftMonth(r, m)) : h('p', {}, 'No assessment in this window.')));
}

// ---------------------------------------------------------------- explanations

async function serverPlot(kind, query, outcome) {
  const el = byId('explain-server-plot');
  clear(el).append(h('p', { class: 'loading' }, `Loading the ${kind} plot…`));
  const res = await api.download(`/v1/quality/explanations.svg${api.query({ ...query, plot: kind })}`, 'image/svg+xml, application/problem+json');
  if (!res.ok) { fail(el, res); return; }
  const url = URL.createObjectURL(res.blob);
  const img = h('img', {
    src: url, class: 'server-plot', id: `explain-${kind}-img`,
    alt: `${kind === 'bar' ? 'Bar plot of the mean absolute SHAP value' : 'Beeswarm of the SHAP values, one dot per assessment,'} per feature for ${outcome}, ${query.from} to ${query.to} (the values are in the table above).`,
  });
  img.addEventListener('load', () => URL.revokeObjectURL(url), { once: true });
  clear(el).append(img);
}

async function loadExplanations(event) {
  if (event) event.preventDefault();
  const el = byId('explanation-audit');
  const query = params('explain');
  if (!query.outcome) {
    clear(el).append(h('p', { class: 'error', role: 'alert' }, 'Choose an outcome.'));
    byId('explain-outcome').focus();
    return;
  }
  clear(el).append(h('p', { class: 'loading' }, 'Reading the explanations…'));
  clear(byId('explain-server-plot'));
  const res = await api.explanations(query);
  if (!res.ok) { fail(el, res); return; }
  const a = res.body;
  const top = (a.features || []).slice(0, 15);
  const scale = a.scale === 'log_ml' ? 'log mL' : 'log-odds';
  const md = a.missing_dominated;
  clear(el).append(h('div', {},
    h('p', { id: 'explain-summary' },
      `${names.outcome(a.outcome)}: ${a.assessments} assessments predicted it (${a.with_shap} with SHAP values, ${a.without_shap} without), ${a.not_predicted} did not; ${a.from} to ${a.to}${a.site ? `, site ${a.site}` : ''}.`,
      a.unreadable ? ` ${a.unreadable} unreadable records.` : ''),
    top.length ? barPlot(top.map((f) => ({ label: names.feature(f.feature), value: f.mean_abs_shap, note: f.missing_rate > 0 ? `(missing ${pct(f.missing_rate)})` : '' })), {
      title: `Mean absolute SHAP value per feature for ${names.outcome(a.outcome)} (${scale}), largest 15`, format: (v) => v.toFixed(3),
    }) : h('p', {}, 'No explained assessment in this window.'),
    top.length ? h('details', {}, h('summary', {}, `Every feature (${a.features.length}), exact values`),
      table(null, ['Rank', 'Feature', 'Mean |SHAP|', 'Mean SHAP', 'Missing'], a.features.map((f) => ({
        attrs: { 'data-feature': f.feature }, cells: [String(f.rank), names.feature(f.feature), f.mean_abs_shap.toFixed(4), f.mean_shap.toFixed(4), pct(f.missing_rate)],
      })), { class: 'explain-table' })) : null,
    h('p', { id: 'explain-missing' }, `${md.count} explanation${md.count === 1 ? '' : 's'} dominated by missing inputs (missing inputs carry at least ${Math.round(md.threshold * 100)} % of Σ|SHAP|)${md.truncated ? `; the first ${md.assessment_ids.length} listed` : ''}.`),
    md.assessment_ids.length ? h('ul', { class: 'ids' }, md.assessment_ids.map((id) => h('li', {}, assessmentLink(id, state.navigate, `${id.slice(0, 8)}…`)))) : null,
    top.length ? h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', id: 'explain-bar', onclick: () => serverPlot('bar', query, names.outcome(a.outcome)) }, 'Server bar plot'),
      h('button', { type: 'button', class: 'secondary', id: 'explain-beeswarm', onclick: () => serverPlot('beeswarm', query, names.outcome(a.outcome)) }, 'Server beeswarm plot')) : null));
}

const state = { navigate: null, wired: false };

/** Wires the drift and explanation forms once (nothing is computed until asked). */
export async function setupMonitoring(navigate) {
  state.navigate = navigate;
  if (!state.wired) {
    state.wired = true;
    const w = lastDays(90);
    for (const prefix of ['drift', 'explain']) {
      byId(`${prefix}-from`).value = w.from;
      byId(`${prefix}-to`).value = w.to;
    }
    byId('drift-form').addEventListener('submit', loadDrift);
    byId('explain-form').addEventListener('submit', loadExplanations);
  }
  await loadNames();
}
