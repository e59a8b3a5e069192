// The quality views: the audit list (audit.js), open any stored assessment by id, the model cards,
// the rule-set versions with their back-test (rules.js), the CDS Hooks override summary,
// performance and calibration (performance.js), drift and explanations (monitoring.js).

import * as api from './api.js';
import { h, clear, byId, pct, table, lastDays } from './dom.js';
import { loadRules } from './rules.js';
import { setupAudit } from './audit.js';
import { setupMonitoring } from './monitoring.js';
import { setupPerformance } from './performance.js';

function fail(el, res) {
  clear(el).append(h('p', { class: 'error', role: 'alert' }, api.problemText(res.problem, res.status)));
}

function metricText(m) {
  if (!m || typeof m !== 'object') return '—';
  return Object.entries(m).filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => `${k.replace(/_/g, ' ')} ${Number.isInteger(v) ? v : v.toFixed(3)}`).join(' · ');
}

async function showCard(outcome) {
  const el = byId('model-card');
  clear(el).append(h('p', { class: 'loading' }, 'Loading the model card…'));
  const res = await api.model(outcome);
  if (!res.ok) { fail(el, res); return; }
  const c = res.body;
  const level = (v) => (c.kind === 'probability' ? pct(v) : `${v} mL`);
  const bands = (c.risk_bands || []).map((b) => [b.name, level(b.lower), level(b.upper)]);
  const validation = c.metrics?.validation || c.metrics || {};
  clear(el).append(h('article', { class: 'card', id: `card-${c.outcome}`, 'aria-labelledby': 'card-title', tabindex: '-1' },
    h('h3', { id: 'card-title' }, `Model card: ${c.outcome}`),
    c.synthetic_training_data ? h('p', { class: 'badge badge-warn' }, 'Trained on synthetic data: not validated on real patients') : null,
    h('dl', { class: 'facts' },
      h('dt', {}, 'Version'), h('dd', {}, c.version),
      h('dt', {}, 'Definition'), h('dd', {}, c.definition),
      h('dt', {}, 'Intended use'), h('dd', {}, c.intended_use),
      h('dt', {}, 'Population'), h('dd', {}, c.population),
      h('dt', {}, 'Kind'), h('dd', {}, c.kind),
      h('dt', {}, 'Training'), h('dd', {}, c.training ? `${c.training.rows_total} rows (${c.training.rows_train} train, ${c.training.rows_validation} validation), baseline ${c.kind === 'probability' ? pct(c.training.baseline) : c.training.baseline}` : '—'),
      h('dt', {}, 'Validation'), h('dd', {}, metricText(validation)),
      h('dt', {}, 'Inputs'), h('dd', {}, (c.inputs || []).length ? `${c.inputs.length} features` : '—')),
    bands.length ? table('Risk bands', ['Band', 'From', 'To'], bands) : null,
    h('h4', {}, 'Limitations'),
    h('ul', {}, (c.limitations || []).map((l) => h('li', {}, l)))));
  byId(`card-${c.outcome}`).focus();
}

async function loadModels() {
  const el = byId('models');
  const res = await api.models();
  if (!res.ok) { fail(el, res); return; }
  const set = res.body;
  clear(el).append(
    h('p', {}, `Model set ${set.id} ${set.version}`, set.synthetic_training_data ? ' · trained on synthetic data' : ''),
    table(null, ['Outcome', 'Version', 'Population', 'Baseline', 'Validation', 'Card'], (set.models || []).map((m) => [
      m.outcome, m.version, m.population, m.kind === 'probability' ? pct(m.baseline) : `${m.baseline} mL`, metricText(m.validation),
      h('button', { type: 'button', class: 'secondary', 'data-card': m.outcome, onclick: () => showCard(m.outcome) }, `View card`, h('span', { class: 'visually-hidden' }, ` for ${m.outcome}`)),
    ]), { id: 'models-table' }));
}

async function loadOverrides(event) {
  if (event) event.preventDefault();
  const el = byId('overrides');
  const from = byId('overrides-from').value.trim();
  const to = byId('overrides-to').value.trim();
  const res = await api.overrides(from, to);
  if (!res.ok) { fail(el, res); return; }
  const o = res.body;
  const t = o.totals || {};
  clear(el).append(
    h('p', {}, `Accepted ${t.accepted ?? 0}, overridden ${t.overridden ?? 0} (feedback received ${o.from} to ${o.to}).`),
    (o.recommendations || []).length
      ? table('By recommendation', ['Recommendation', 'Accepted', 'Overridden', 'Override reasons'], o.recommendations.map((r) => [
        r.id, String(r.counts.accepted), String(r.counts.overridden),
        (r.counts.reasons || []).map((x) => `${x.display || x.code} (${x.count})`).join(', ') || '—']))
      : h('p', {}, 'No card feedback in this window.'));
}

let wired = false;

/** Shows the quality views (the server refuses them anyway for roles without permission). */
export function showQuality(navigate) {
  if (!wired) {
    wired = true;
    byId('open-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const id = byId('open-id').value.trim();
      if (id) navigate(`/assessments/${encodeURIComponent(id)}`);
    });
    byId('overrides-form').addEventListener('submit', loadOverrides);
    // In-page links move focus to their section without touching the route (the hash is the route).
    for (const a of document.querySelectorAll('a[data-jump]')) {
      a.addEventListener('click', (e) => {
        e.preventDefault();
        const target = byId(a.dataset.jump);
        target.scrollIntoView({ block: 'start' });
        target.focus({ preventScroll: true });
      });
    }
    const w = lastDays(30);
    byId('overrides-from').value = w.from;
    byId('overrides-to').value = w.to;
  }
  clear(byId('model-card'));
  return Promise.all([setupAudit(navigate), loadModels(), loadRules(navigate), loadOverrides(), setupPerformance(), setupMonitoring(navigate)]);
}
