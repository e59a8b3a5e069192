// The audit list of the quality views: stored assessments searched by window, site, outcome and
// band, caller, rule-set and model version (GET /v1/audit/assessments, newest first), paged by the
// server's `next_cursor`; each row opens the stored assessment at /assessments/{id} exactly as it
// was answered. The export (GET /v1/audit/assessments/export, CSV or NDJSON, same filters) is
// fetched with the key in the Authorization header, never in a URL, and saved from a Blob.

import * as api from './api.js';
import { h, clear, byId, pct, ml, table, lastDays, assessmentLink, problemAlert, rfc3339 } from './dom.js';

const FILTERS = ['from', 'to', 'site', 'outcome', 'band', 'caller', 'rule_version', 'model_version'];

const state = { filters: null, pages: [], page: 0 };

function fail(el, res) {
  clear(el).append(problemAlert(api.problemText(res.problem, res.status), res.problem));
}

/** The filters as typed (empty ones left out: the server reads an absent filter as "any"). */
function readFilters() {
  const out = {};
  for (const name of FILTERS) {
    const v = byId(`audit-${name.replace(/_/g, '-')}`).value.trim();
    if (v) out[name] = v;
  }
  return out;
}

function outcomeChip(o) {
  if (o.not_applicable) return h('li', { class: 'chip chip-na', 'data-outcome': o.outcome }, `${o.outcome}: not applicable`);
  const value = typeof o.probability === 'number' ? pct(o.probability) : (typeof o.median_ml === 'number' ? ml(o.median_ml) : '');
  return h('li', { class: o.match ? 'chip chip-match' : 'chip', 'data-outcome': o.outcome },
    `${o.outcome} `, o.risk_band ? h('span', { class: `band band-${o.risk_band}` }, o.risk_band) : null, value ? ` ${value}` : '');
}

/** The searched outcome first (marked), then the others in the answer's order. */
function ordered(outcomes) {
  const wanted = state.filters?.outcome;
  if (!wanted) return outcomes;
  return [...outcomes.filter((o) => o.outcome === wanted).map((o) => ({ ...o, match: true })), ...outcomes.filter((o) => o.outcome !== wanted)];
}

function render(body, navigate) {
  const el = byId('audit-results');
  const items = body.items || [];
  const n = state.page + 1;
  clear(el).append(h('div', {},
    h('p', { id: 'audit-summary', tabindex: '-1' }, items.length
      ? `Page ${n}: ${items.length} stored assessment${items.length === 1 ? '' : 's'}, newest first.`
      : (n === 1 ? 'No stored assessment matches these filters.' : `Page ${n}: no more stored assessments.`)),
    items.length ? table(null, ['Answered at', 'Site', 'Outcomes (band)', 'Caller', 'Model set / rule set'], items.map((it) => ({
      attrs: { 'data-assessment': it.assessment_id },
      cells: [
        h('span', {}, assessmentLink(it.assessment_id, navigate, it.created_at), h('br'), h('code', { class: 'sub' }, it.assessment_id)),
        it.site || '—',
        h('ul', { class: 'chips' }, ordered(it.outcomes || []).map(outcomeChip)),
        it.caller || '—',
        `${it.model_set_version || '—'} / ${it.rule_set_version || '—'}`,
      ],
    })), { id: 'audit-table' }) : null,
    h('div', { class: 'actions' },
      state.page > 0 ? h('button', { type: 'button', class: 'secondary', id: 'audit-previous', onclick: () => go(state.page - 1, navigate) }, 'Previous page') : null,
      body.next_cursor ? h('button', { type: 'button', class: 'secondary', id: 'audit-next', onclick: () => go(state.page + 1, navigate, body.next_cursor) }, 'Next page') : null)));
}

/** Shows page `page`; a new page is fetched with `cursor`, a page seen before with its own cursor again. */
async function go(page, navigate, cursor) {
  const el = byId('audit-results');
  if (page === state.pages.length) state.pages.push(cursor);
  const params = { ...state.filters, limit: byId('audit-limit').value, cursor: state.pages[page] };
  clear(el).append(h('p', { class: 'loading' }, 'Searching the audit trail…'));
  const res = await api.auditSearch(params);
  if (!res.ok) { fail(el, res); return; }
  state.page = page;
  state.pages.length = page + 1;
  render(res.body, navigate);
  if (page > 0) byId('audit-summary').focus();
}

function search(event, navigate) {
  event.preventDefault();
  state.filters = readFilters();
  state.pages = [];
  state.page = 0;
  return go(0, navigate, null);
}

async function exportAs(format) {
  const status = byId('audit-export-status');
  const filters = readFilters();
  clear(status).append(`Exporting ${format.toUpperCase()}…`);
  const accept = format === 'csv' ? 'text/csv, application/problem+json' : 'application/x-ndjson, application/problem+json';
  const res = await api.download(`/v1/audit/assessments/export${api.query({ format, ...filters })}`, accept);
  if (!res.ok) { clear(status).append(problemAlert(api.problemText(res.problem, res.status), res.problem)); return; }
  const url = URL.createObjectURL(res.blob);
  const name = `periop-audit-${rfc3339(new Date()).replace(/[:]/g, '')}.${format}`;
  const link = h('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked once the browser has taken the file.
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  clear(status).append(`Saved ${name} (${res.blob.size.toLocaleString('en-GB')} bytes).`);
}

/** The bands of the chosen outcome, from its model card ("any" when no outcome is chosen). */
async function fillBands() {
  const outcome = byId('audit-outcome').value;
  const select = byId('audit-band');
  clear(select).append(h('option', { value: '' }, 'any'));
  select.disabled = !outcome;
  if (!outcome) return;
  const res = await api.model(outcome);
  if (!res.ok || byId('audit-outcome').value !== outcome) return;
  select.append(...(res.body.risk_bands || []).map((b) => h('option', { value: b.name }, b.name)));
}

let wired = false;

/** Wires the audit list's form once and fills its choices (outcomes, rule versions). */
export async function setupAudit(navigate) {
  if (!wired) {
    wired = true;
    const w = lastDays(30);
    byId('audit-from').value = w.from;
    byId('audit-to').value = w.to;
    byId('audit-form').addEventListener('submit', (e) => search(e, navigate));
    byId('audit-outcome').addEventListener('change', fillBands);
    byId('audit-export-csv').addEventListener('click', () => exportAs('csv'));
    byId('audit-export-ndjson').addEventListener('click', () => exportAs('ndjson'));
    await fillBands();
  }
  const [features, rules] = await Promise.all([api.dictionary(), api.ruleVersions()]);
  const outcome = byId('audit-outcome');
  if (features.ok && outcome.options.length <= 1) {
    outcome.append(...(features.body.outcomes || []).map((o) => h('option', { value: o.id }, `${o.name || o.id} (${o.id})`)));
  }
  const rule = byId('audit-rule-version');
  if (rules.ok) {
    const keep = rule.value;
    clear(rule).append(h('option', { value: '' }, 'any'), ...[...(rules.body.versions || [])].reverse().map((v) => h('option', { value: v.version }, v.version)));
    rule.value = keep;
  }
}
