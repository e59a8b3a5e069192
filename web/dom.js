// Small DOM helpers: elements are built with createElement and textContent only (never HTML
// strings), so nothing the server or a user sends is ever parsed as markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: h('p', {class: 'x', for: 'id'}, 'text', otherNode). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  return append(el, children);
}

/** An SVG element with presentation attributes (no style attribute: the CSP forbids them). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    el.setAttribute(name, String(value));
  }
  return append(el, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function byId(id) {
  return document.getElementById(id);
}

/** A probability as a percentage with one decimal ("12.3 %"), or with two below 1 %. */
export function pct(p) {
  if (typeof p !== 'number' || !Number.isFinite(p)) return '—';
  const x = p * 100;
  return `${x < 1 ? x.toFixed(2) : x.toFixed(1)} %`;
}

/** Percentage points with a sign ("+2.8 pp"). */
export function pp(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '—';
  const v = Math.abs(x) < 0.05 ? x.toFixed(2) : x.toFixed(1);
  return `${x >= 0 ? '+' : '−'}${v.replace('-', '')} pp`;
}

/** Millilitres, rounded to 10 mL. */
export function ml(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '—';
  return `${(Math.round(x / 10) * 10).toLocaleString('en-GB')} mL`;
}

/** A signed mL effect ("+17 mL"). */
export function mlEffect(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '—';
  const v = Math.abs(x) < 1 ? Math.abs(x).toFixed(1) : Math.round(Math.abs(x)).toString();
  return `${x >= 0 ? '+' : '−'}${v} mL`;
}

/** A JSON value as text (exact numbers, `null` as "not on file"). */
export function valueText(v) {
  if (v === null || v === undefined) return 'not on file';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return String(v);
}

/** UCUM units in words for people. */
const UNIT_TEXT = {
  a: 'years', '{ratio}': 'ratio', '{score}': 'score', '10*9/L': '×10⁹/L', "[hnsf'U]": 'HU',
  'mg/L{FEU}': 'mg/L FEU', 'kg/m2': 'kg/m²', min: 'min', s: 's',
};
export function unitText(u) {
  if (!u) return '';
  return UNIT_TEXT[u] || u;
}

/**
 * A table from a header row and rows of cells (strings or nodes); a row is an array of cells, or
 * `{cells, attrs}` to give the row attributes (e.g. a `data-` key for tests and styling).
 */
export function table(caption, head, rows, attrs = {}) {
  const row = (r) => {
    const cells = Array.isArray(r) ? r : r.cells;
    return h('tr', Array.isArray(r) ? {} : r.attrs, cells.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c) : h('td', {}, c))));
  };
  return h('table', attrs,
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.map(row)));
}

/** A time as RFC 3339 in UTC, to the second ("2026-12-01T20:55:00Z"). */
export function rfc3339(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The default window of the quality views: the last `days` days, to a minute from now. */
export function lastDays(days) {
  const now = Date.now();
  return { from: rfc3339(new Date(now - days * 24 * 3600 * 1000)), to: rfc3339(new Date(now + 60 * 1000)) };
}

/**
 * A link to a stored assessment's page (`/assessments/{id}`), opened in this page by `navigate`
 * (the same view a CDS Hooks card link opens). `text` defaults to the id.
 */
export function assessmentLink(id, navigate, text = id) {
  const href = `/assessments/${encodeURIComponent(id)}`;
  return h('a', {
    href, class: 'assessment-link', 'data-assessment': id, 'aria-label': text === id ? null : `assessment ${id}`,
    onclick: (e) => { e.preventDefault(); navigate(href); },
  }, text);
}

/** An error answer as an alert: the problem's title and detail, and each `errors[]` entry. */
export function problemAlert(text, problem) {
  const errors = Array.isArray(problem?.errors) ? problem.errors : [];
  return h('div', { class: 'error', role: 'alert' }, h('p', {}, text),
    errors.length ? h('ul', {}, errors.map((e) => h('li', {}, `${e.field || ''}${e.field ? ': ' : ''}${e.detail || e.reason || ''}`))) : null);
}
