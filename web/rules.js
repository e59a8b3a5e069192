// The rule-set versions and activations (GET /v1/rules/versions), and the back-test of a version
// against the stored assessments of a window (POST /v1/rules/backtest): how many would change,
// and per recommendation id which assessments would gain it (added) or lose it (removed), with
// counts and example assessments that open exactly as answered. Nothing is stored by a back-test.

import * as api from './api.js';
import { h, clear, byId, table, lastDays, assessmentLink, problemAlert } from './dom.js';

function fail(el, res) {
  clear(el).append(problemAlert(api.problemText(res.problem, res.status), res.problem));
}

/** Example assessment ids as links (first 8 characters shown, the full id for assistive technology). */
function examples(ids, navigate) {
  if (!ids || !ids.length) return null;
  return h('ul', { class: 'ids' }, ids.map((id) => h('li', {}, assessmentLink(id, navigate, `${id.slice(0, 8)}…`))));
}

function changeCell(list, sign, navigate) {
  return h('div', {}, h('span', { class: `delta delta-${list.count === 0 ? 'zero' : (sign === '+' ? 'up' : 'down')}` }, `${sign === '+' ? '+' : '−'}${list.count}`),
    examples(list.examples, navigate));
}

function renderBacktest(r, navigate) {
  const el = byId('backtest');
  const changed = (r.recommendations || []).filter((x) => x.gained.count > 0 || x.lost.count > 0);
  const unchanged = (r.recommendations || []).filter((x) => x.gained.count === 0 && x.lost.count === 0);
  const skipped = r.skipped || { count: 0, reasons: [] };
  clear(el).append(h('div', {},
    h('p', { id: 'backtest-summary' },
      `Version ${r.candidate.version} on the ${r.considered} stored assessments of ${r.since} to ${r.until}: `,
      h('strong', {}, `${r.changed} of ${r.compared} compared would change`), '.',
      skipped.count ? ` ${skipped.count} skipped (${skipped.reasons.map((x) => `${x.reason.replace(/_/g, ' ')} ${x.count}`).join(', ')}).` : ''),
    (r.answered_rule_sets || []).length
      ? h('p', { class: 'help' }, `Answered with: ${r.answered_rule_sets.map((a) => `${a.version} (${a.count})`).join(', ')}.`) : null,
    changed.length
      ? table('Recommendations that would change', ['Recommendation', 'Answered', 'With this version', 'Added to', 'Removed from'],
        changed.map((x) => ({
          attrs: { 'data-recommendation': x.id },
          cells: [x.id, String(x.answered), String(x.candidate), changeCell(x.gained, '+', navigate), changeCell(x.lost, '−', navigate)],
        })), { id: 'backtest-changes' })
      : h('p', { id: 'backtest-none' }, 'No compared assessment\'s recommendations would change.'),
    unchanged.length
      ? h('details', {}, h('summary', {}, `${unchanged.length} recommendations unchanged`),
        table(null, ['Recommendation', 'Answered', 'With this version'], unchanged.map((x) => [x.id, String(x.answered), String(x.candidate)])))
      : null,
    skipped.reasons.some((x) => (x.examples || []).length)
      ? h('div', {}, h('h4', {}, 'Skipped assessments'), skipped.reasons.map((x) => h('div', {}, h('p', {}, x.reason.replace(/_/g, ' ')), examples(x.examples, navigate))))
      : null));
}

async function runBacktest(event, navigate) {
  event.preventDefault();
  const el = byId('backtest');
  const button = byId('backtest-run');
  const body = { since: byId('backtest-since').value.trim(), until: byId('backtest-until').value.trim() };
  const version = byId('backtest-version').value;
  if (version) body.version = version;
  const n = byId('backtest-examples').value.trim();
  if (n !== '') body.max_examples = Number(n);
  button.disabled = true;
  clear(el).append(h('p', { class: 'loading' }, 'Running the back-test…'));
  try {
    const res = await api.backtest(body);
    if (!res.ok) { fail(el, res); return; }
    renderBacktest(res.body, navigate);
  } finally {
    button.disabled = false;
  }
}

let wired = false;

/** Loads the versions and activations, and offers the back-test of any version. */
export async function loadRules(navigate) {
  if (!wired) {
    wired = true;
    byId('backtest-form').addEventListener('submit', (e) => runBacktest(e, navigate));
    const w = lastDays(30);
    byId('backtest-since').value = w.from;
    byId('backtest-until').value = w.to;
  }
  const el = byId('rule-versions');
  const res = await api.ruleVersions();
  if (!res.ok) { fail(el, res); return; }
  const r = res.body;
  clear(el).append(
    table(`Active: ${r.active}`, ['Version', 'Uploaded by', 'Uploaded at', 'Note', 'SHA-256', 'Active'],
      (r.versions || []).map((v) => [v.version, v.uploaded_by, v.uploaded_at, v.note || '', h('code', {}, (v.sha256 || '').slice(0, 12)), v.active ? 'yes' : 'no'])),
    table('Activations', ['Version', 'Activated by', 'At', 'Replaced'],
      (r.activations || []).map((a) => [a.version, a.activated_by, a.activated_at, a.previous_version || '—'])));
  // Newest first; the active version is the default candidate.
  const select = byId('backtest-version');
  const previous = select.value;
  clear(select).append(...[...(r.versions || [])].reverse().map((v) => h('option', { value: v.version }, v.active ? `${v.version} (active)` : v.version)));
  select.value = (r.versions || []).some((v) => v.version === previous) ? previous : r.active;
}
