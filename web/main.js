// The page's entry point: sign-in (an API key kept in this tab's sessionStorage, or the server's
// explicit development mode), role-aware navigation from GET /v1/session, and the views: the
// assessment form (/ and /#assess), a result (/assessments/{id}) and the quality views
// (/#quality). Every view is built from API answers with DOM calls; nothing is inlined.

import * as api from './api.js';
import { byId, h, clear } from './dom.js';
import { buildForm, readPatient, fillPatient, showProblem, clearErrors, EXAMPLE_PATIENT } from './form.js';
import { renderResult } from './result.js';
import { showQuality } from './quality.js';

const state = { session: null, dictionary: null, formBuilt: false };

const VIEWS = ['signin-view', 'assess-view', 'result-view', 'quality-view'];

function can(permission) {
  return !!state.session && state.session.permissions.includes(permission);
}

function show(view) {
  byId('loading').hidden = true;
  for (const v of VIEWS) byId(v).hidden = v !== view;
}

function message(text) {
  const el = byId('message');
  if (!text) { el.hidden = true; el.textContent = ''; return; }
  el.textContent = text;
  el.hidden = false;
}

function applyRole() {
  const signedIn = !!state.session;
  byId('nav').hidden = !signedIn;
  byId('who').hidden = !signedIn;
  for (const el of document.querySelectorAll('[data-needs]')) {
    // Elements for a permission the role lacks are removed from view and from the focus order.
    el.hidden = !can(el.dataset.needs);
  }
  if (signedIn) {
    const s = state.session;
    byId('who-text').textContent = s.development_mode ? 'Development mode (no key)' : `Signed in as ${s.key_id} (${s.role})`;
  }
}

function routeOf() {
  const m = window.location.pathname.match(/^\/assessments\/([^/]+)$/);
  if (m) return { view: 'result', id: decodeURIComponent(m[1]) };
  if (window.location.hash === '#quality') return { view: 'quality' };
  return { view: 'assess' };
}

export function navigate(path) {
  window.history.pushState({}, '', path);
  route();
}

async function ensureDictionary() {
  if (state.dictionary) return true;
  const res = await api.features();
  if (!res.ok) { message(api.problemText(res.problem, res.status)); return false; }
  state.dictionary = res.body;
  return true;
}

async function showAssess() {
  if (!can('assess')) {
    show('assess-view');
    byId('assess-view').hidden = true;
    message(can('read_quality') ? 'This role does not assess patients: see the quality views.' : 'This role may not assess patients.');
    if (can('read_quality')) navigate('/#quality');
    return;
  }
  if (!(await ensureDictionary())) return;
  if (!state.formBuilt) { buildForm(state.dictionary); state.formBuilt = true; }
  show('assess-view');
}

async function showResult(id) {
  // The stored answer and the dictionary (for labels) are fetched together.
  const [res] = await Promise.all([api.assessment(id), ensureDictionary()]);
  if (!res.ok) {
    show('result-view');
    clear(byId('result')).append(h('h1', { id: 'result-title' }, 'Assessment not shown'),
      h('p', { class: 'error', role: 'alert' }, res.status === 403
        ? 'Your role may not read stored assessments.' : api.problemText(res.problem, res.status)));
    return;
  }
  renderResult(res.body, state.dictionary);
  show('result-view');
  performance.mark('result-visible');
}

async function route() {
  message('');
  if (!state.session) { show('signin-view'); return; }
  const r = routeOf();
  if (r.view === 'result') return showResult(r.id);
  if (r.view === 'quality') {
    if (!can('read_quality')) {
      show('quality-view');
      byId('quality-view').hidden = true;
      message('Your role may not open the quality views.');
      return;
    }
    show('quality-view');
    return showQuality(navigate);
  }
  return showAssess();
}

async function signIn(key) {
  const res = await api.session(key);
  if (!res.ok) {
    api.forgetKey();
    state.session = null;
    return res;
  }
  if (key) api.storeKey(key);
  state.session = res.body;
  applyRole();
  return res;
}

async function submitAssessment(event) {
  event.preventDefault();
  const button = byId('submit-assessment');
  button.disabled = true;
  clearErrors();
  try {
    const res = await api.assess(readPatient(state.dictionary));
    if (res.status === 201) {
      window.history.pushState({}, '', `/assessments/${encodeURIComponent(res.body.assessment_id)}`);
      renderResult(res.body, state.dictionary);
      show('result-view');
      performance.mark('result-visible');
      byId('result-title').focus();
    } else if (res.status === 422) {
      showProblem(res.problem, 'The assessment was not made: correct the fields below.');
    } else {
      showProblem(res.problem, api.problemText(res.problem, res.status));
    }
  } finally {
    button.disabled = false;
  }
}

function wire() {
  byId('signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = byId('api-key').value.trim();
    if (!key) { message('Enter your API key.'); byId('api-key').focus(); return; }
    const res = await signIn(key);
    byId('api-key').value = '';
    if (!res.ok) { message(res.status === 401 ? 'That API key is not known to this server.' : api.problemText(res.problem, res.status)); byId('api-key').focus(); return; }
    route();
  });
  byId('dev-continue').addEventListener('click', async () => {
    const res = await signIn(null);
    if (res.ok) route(); else message(api.problemText(res.problem, res.status));
  });
  byId('sign-out').addEventListener('click', () => {
    api.forgetKey();
    state.session = null;
    state.dictionary = null;
    state.formBuilt = false;
    clear(byId('form-groups'));
    clear(byId('result'));
    applyRole();
    navigate('/');
  });
  byId('assess-form').addEventListener('submit', submitAssessment);
  byId('example-patient').addEventListener('click', () => fillPatient(state.dictionary, EXAMPLE_PATIENT));
  byId('clear-form').addEventListener('click', () => fillPatient(state.dictionary, {}));
  byId('print-result').addEventListener('click', () => window.print());
  window.addEventListener('popstate', route);
  window.addEventListener('hashchange', route);
}

async function start() {
  wire();
  const key = api.storedKey();
  const res = await signIn(key);
  if (!res.ok) {
    // No (valid) key: offer the development mode only when the server says it runs in it.
    byId('dev-mode').hidden = true;
    if (key && res.status === 401) message('Your API key is no longer accepted: sign in again.');
  } else if (!key && res.body.development_mode) {
    // Development mode answers without a key; still ask the user to confirm it explicitly.
    state.session = null;
    applyRole();
    byId('dev-mode').hidden = false;
  }
  route();
}

start();
