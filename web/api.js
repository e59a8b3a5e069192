// The API client of the page: same origin, JSON, the API key from sessionStorage sent as a bearer
// header. No cookie is used, so a cross-site page can never make the browser send a credential.

const KEY = 'periop.apiKey';

export function storedKey() {
  try { return sessionStorage.getItem(KEY); } catch { return null; }
}
export function storeKey(key) { sessionStorage.setItem(KEY, key); }
export function forgetKey() { sessionStorage.removeItem(KEY); }

/**
 * One API call. Resolves to {status, ok, body, problem} (problem: the problem+json body of an
 * error); network failures resolve to status 0 with a problem naming them.
 */
export async function call(path, { method = 'GET', body, key = storedKey(), accept = 'application/json' } = {}) {
  const headers = { Accept: accept };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit', cache: 'no-store', redirect: 'error',
    });
  } catch (e) {
    return { status: 0, ok: false, body: null, problem: { title: 'Network error', detail: String(e) } };
  }
  const type = res.headers.get('content-type') || '';
  let parsed = null;
  if (type.includes('json')) {
    try { parsed = await res.json(); } catch { parsed = null; }
  } else {
    parsed = await res.text();
  }
  return { status: res.status, ok: res.ok, body: res.ok ? parsed : null, problem: res.ok ? null : (parsed || { title: `HTTP ${res.status}` }) };
}

export const session = (key) => call('/v1/session', { key });
export const features = () => call('/v1/features');
export const assess = (patient) => call('/v1/assessments', { method: 'POST', body: { patient, missing_input_ranges: true } });
export const assessment = (id) => call(`/v1/assessments/${encodeURIComponent(id)}`);
export const models = () => call('/v1/models');
export const model = (outcome) => call(`/v1/models/${encodeURIComponent(outcome)}`);
export const ruleVersions = () => call('/v1/rules/versions');
export const overrides = (from, to) => call(`/v1/quality/overrides?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
export const backtest = (body) => call('/v1/rules/backtest', { method: 'POST', body });
export const auditSearch = (params) => call(`/v1/audit/assessments${query(params)}`);
export const qualityPerformance = (params) => call(`/v1/quality/performance${query(params)}`);
export const drift = (params) => call(`/v1/quality/drift${query(params)}`);
export const explanations = (params) => call(`/v1/quality/explanations${query(params)}`);

let dictionaryAnswer = null;
/** The feature dictionary (GET /v1/features), fetched once per page load while it answers 200. */
export function dictionary() {
  if (!dictionaryAnswer) {
    dictionaryAnswer = features().then((res) => { if (!res.ok) dictionaryAnswer = null; return res; });
  }
  return dictionaryAnswer;
}

/** A query string from the non-empty members of `params` ("" when none; `+` is sent as %2B). */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.append(k, String(v));
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}

/**
 * A file download: the body as a Blob, fetched with the key in the Authorization header (never
 * in the URL). Resolves to {status, ok, blob, problem}.
 */
export async function download(path, accept) {
  const headers = { Accept: accept };
  const key = storedKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  let res;
  try {
    res = await fetch(path, { headers, credentials: 'omit', cache: 'no-store', redirect: 'error' });
  } catch (e) {
    return { status: 0, ok: false, blob: null, problem: { title: 'Network error', detail: String(e) } };
  }
  if (!res.ok) {
    let problem = null;
    try { problem = await res.json(); } catch { problem = { title: `HTTP ${res.status}` }; }
    return { status: res.status, ok: false, blob: null, problem };
  }
  return { status: res.status, ok: true, blob: await res.blob(), problem: null };
}

/** A problem as one sentence for people. */
export function problemText(problem, status) {
  if (!problem || typeof problem !== 'object') return `The server answered ${status}.`;
  const title = problem.title || `HTTP ${status}`;
  return problem.detail ? `${title}: ${problem.detail}` : title;
}
