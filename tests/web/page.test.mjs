// End-to-end tests of the periop web page in real headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core; no browser download). Run by scripts/web-test.sh, which starts
// `periop serve` with one API key per role and passes:
//   WEB_BASE              the server's base URL (loopback)
//   WEB_DEV_BASE          a second server in the explicit development mode (no keys)
//   WEB_KEY_<ROLE>        the API key of each role (EHR, CLINICIAN, QUALITY, ADMIN)
//   WEB_SCREENSHOTS       directory for the screenshots of the main views
//   WEB_FIGURES           file for the measured figures (JSON)
//   WEB_CHROMIUM          the browser (default /usr/bin/chromium)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.WEB_BASE;
const KEYS = {
  ehr: process.env.WEB_KEY_EHR,
  clinician: process.env.WEB_KEY_CLINICIAN,
  quality: process.env.WEB_KEY_QUALITY,
  admin: process.env.WEB_KEY_ADMIN,
};
const SHOTS = process.env.WEB_SCREENSHOTS;
const FIGURES = process.env.WEB_FIGURES;
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

assert.ok(BASE, 'WEB_BASE is set (run scripts/web-test.sh)');
for (const [role, key] of Object.entries(KEYS)) assert.ok(key, `WEB_KEY_${role.toUpperCase()} is set`);

let browser;
let storedId;
/** The page's example patient (web/form.js), as an API client would send it. */
const EXAMPLE = {
  age_years: 67, sex: 'female', bmi: 31.2, height_cm: 162, weight_kg: 81.9, smoking_status: 'former',
  asa_class: 3, functional_status: 'independent', diabetes: 'non_insulin', hypertension: true,
  osteoporosis: true, history_of_vte: false, hemoglobin_g_dl: 12.4, platelets_10e9_l: 230,
  albumin_g_dl: 3.9, creatinine_mg_dl: 0.9, bone_density_hu: 98, stenosis_grade: 2,
  procedure: 'lumbar_fusion', fused_levels: 3, decompressed_levels: 3, fusion_to_sacrum: true,
  planned_duration_min: 240, tranexamic_acid_planned: true, revision_surgery: false,
  minimally_invasive: false, odi_baseline: 48, symptom_duration_over_12mo: true, back_pain_dominant: false,
};
const figures = {};
const pages = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.WEB_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  // A stored assessment for the tests that open one (the form's own path is tested below).
  const made = await api('/v1/assessments', 'clinician', { method: 'POST', body: JSON.stringify({ patient: EXAMPLE, missing_input_ranges: true }) });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  storedId = made.body.assessment_id;
});

after(async () => {
  for (const p of pages) assert.deepEqual(p.problems, [], `console errors or CSP violations on ${p.name}`);
  if (browser) await browser.close();
  if (FIGURES) writeFileSync(FIGURES, `${JSON.stringify(figures, null, 2)}\n`);
});

/** A fresh tab (its own sessionStorage) that records console errors and CSP violations. */
async function tab(name, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const record = { name, problems: [] };
  pages.push(record);
  page.on('console', (msg) => {
    if (msg.type() === 'error' || /Content Security Policy|Refused to/i.test(msg.text())) {
      // A 401/403/422 the page asked for and handled is logged by Chromium as a failed resource;
      // those are expected answers, not faults of the page.
      if (/status of (401|403|404|422)/.test(msg.text())) return;
      record.problems.push(`${msg.type()}: ${msg.text()}`);
    }
  });
  page.on('pageerror', (e) => record.problems.push(`pageerror: ${e.message}`));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return { page, context, record };
}

async function signIn(page, role, path = '/') {
  await page.goto(`${BASE}${path}`);
  await page.locator('#api-key').waitFor({ state: 'visible' });
  await page.locator('#api-key').fill(KEYS[role]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#who').waitFor({ state: 'visible' });
}

async function api(path, role, init = {}) {
  const res = await fetch(`${BASE}${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${KEYS[role]}`, 'Content-Type': 'application/json', ...(init.headers || {}) },
  });
  return { status: res.status, body: await res.json() };
}

/**
 * Text elements whose contrast against their (first opaque ancestor's) background is below
 * 4.5:1 (WCAG AA for normal text), computed from the rendered colours.
 */
async function lowContrast(page, { svg = false } = {}) {
  return page.evaluate((withSvg) => {
    const rgb = (c) => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null; const p = m[1].split(',').map((x) => parseFloat(x)); return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 }; };
    const lum = ({ r, g, b }) => { const f = (v) => { const x = v / 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
    const background = (el) => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c && c.a > 0.5) return c; } return { r: 255, g: 255, b: 255, a: 1 }; };
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const seen = new Set();
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      const inSvg = !!el.closest('svg');
      if (!n.textContent.trim() || seen.has(el) || inSvg !== withSvg || el.closest('title')) continue;
      seen.add(el);
      const box = el.getBoundingClientRect();
      if (box.width === 0 || box.height === 0 || getComputedStyle(el).visibility === 'hidden') continue;
      // SVG text is painted with `fill`; HTML text with `color`.
      const fg = rgb(inSvg ? getComputedStyle(el).fill : getComputedStyle(el).color);
      const bg = background(el);
      const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
      const ratio = (a + 0.05) / (b + 0.05);
      if (ratio < 4.5) out.push(`${el.tagName.toLowerCase()}.${el.getAttribute('class') || ''} "${n.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
    }
    return out;
  }, svg);
}

async function shot(page, name, options = {}) {
  if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true, ...options });
}

/** Submits the example patient through the form; resolves to the answer shown. */
async function assessExample(page) {
  await page.locator('#f-age_years').waitFor({ state: 'visible' });
  await page.getByRole('button', { name: 'Load example patient (lumbar fusion)' }).click();
  assert.equal(await page.locator('#f-procedure').inputValue(), 'lumbar_fusion');
  const answer = page.waitForResponse((r) => r.url().endsWith('/v1/assessments') && r.request().method() === 'POST');
  await page.getByRole('button', { name: 'Assess', exact: true }).click();
  const res = await answer;
  assert.equal(res.status(), 201);
  const body = await res.json();
  await page.locator('#result-view').waitFor({ state: 'visible' });
  return body;
}


test('the page is served with the strict CSP and needs no key to load', async () => {
  const { page } = await tab('root');
  const res = await page.goto(`${BASE}/`);
  assert.equal(res.status(), 200);
  const headers = res.headers();
  assert.equal(headers['content-security-policy'], CSP);
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.equal(headers['referrer-policy'], 'no-referrer');
  assert.equal(headers['cache-control'], 'no-store');
  assert.equal(headers['set-cookie'], undefined);
  await page.locator('#signin-view').waitFor({ state: 'visible' });
  // The development-mode offer only appears when the server runs without keys.
  assert.equal(await page.locator('#dev-mode').isVisible(), false);
  // An unknown key is refused and not kept.
  await page.locator('#api-key').fill('not-a-key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#message').getByText('not known').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  assert.deepEqual(await page.context().cookies(), []);
});

test('a clinician assesses the example lumbar fusion patient and sees every outcome and its explanation', async () => {
  const { page } = await tab('clinician-assess');
  await signIn(page, 'clinician');
  // Role-aware navigation: assessing yes, quality never.
  assert.equal(await page.getByRole('link', { name: 'Assess a patient' }).isVisible(), true);
  assert.equal(await page.getByRole('link', { name: 'Quality' }).count() > 0 && await page.getByRole('link', { name: 'Quality' }).isVisible(), false);
  // The form: grouped, labelled, units and ranges shown, required marked.
  assert.deepEqual(await page.locator('#assess-form legend').allTextContents(),
    ['Patient', 'Comorbidities', 'Labs and imaging', 'Planned surgery', 'Tumour (metastatic disease only)', 'Baseline function (patient-reported)']);
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('#assess-form input, #assess-form select')]
    .filter((el) => !document.querySelector(`label[for="${el.id}"]`)).map((el) => el.id));
  assert.deepEqual(unlabelled, []);
  assert.match(await page.locator('#f-age_years-help').textContent(), /18–100 years/);
  assert.match(await page.locator('label[for="f-age_years"]').textContent(), /required/);
  await page.getByRole('button', { name: 'Load example patient (lumbar fusion)' }).click();
  assert.deepEqual(await lowContrast(page), [], 'form contrast');
  await shot(page, 'form');

  const answer = await assessExample(page);
  assert.match(page.url(), new RegExp(`/assessments/${answer.assessment_id}$`));
  const ok = answer.predictions.filter((p) => p.status === 'ok');
  assert.ok(ok.length >= 10, `${ok.length} applicable outcomes`);
  assert.deepEqual(await lowContrast(page), [], 'result contrast');
  await shot(page, 'result', { fullPage: false });
  if (SHOTS) await page.locator('#explanations section[data-outcome="dvt"]').screenshot({ path: join(SHOTS, 'explanation.png') });
  for (const p of ok) {
    const row = page.locator(`#risk-table tr[data-outcome="${p.outcome}"]`);
    assert.equal(await row.count(), 1, p.outcome);
    const expl = page.locator(`#explanations section[data-outcome="${p.outcome}"]`);
    assert.equal(await expl.count(), 1, `explanation of ${p.outcome}`);
    assert.equal(await expl.locator('svg.waterfall').count(), 1, `waterfall of ${p.outcome}`);
    // The waterfall ends at this patient's estimate.
    const end = p.quantity ? `${Math.round(p.explanation.effect_base + p.explanation.contributions.reduce((s, c) => s + c.effect, 0))} mL`
      : `${(p.probability * 100).toFixed(1)} %`;
    assert.ok((await expl.locator('svg.waterfall text.wf-value').allTextContents()).includes(end), `${p.outcome} ends at ${end}`);
    // Exact values on demand: one row per contribution.
    await expl.locator('details.exact summary').click();
    assert.equal(await expl.locator('details.exact tbody tr').count(), p.explanation.contributions.length, p.outcome);
  }
  const dvt = ok.find((p) => p.outcome === 'dvt');
  const dvtRow = await page.locator('#risk-table tr[data-outcome="dvt"]').textContent();
  assert.ok(dvtRow.includes(`${(dvt.probability * 100).toFixed(1)} %`) && dvtRow.includes(`${(dvt.baseline * 100).toFixed(1)} %`), dvtRow);
  assert.ok(dvtRow.includes(dvt.risk_band), dvtRow);
  for (const p of answer.predictions.filter((x) => x.status === 'not_applicable')) {
    assert.match(await page.locator(`#not-applicable li[data-outcome="${p.outcome}"]`).textContent(), new RegExp(p.reason.slice(0, 20)));
  }
  assert.match(await page.locator('#blood-loss').textContent(), /80 % interval .* allowable blood loss/);
  assert.equal(await page.locator('#recommendations li[data-recommendation]').count(), answer.recommendations.length);
  assert.ok(answer.recommendations.length > 0);
  assert.match(await page.locator('#recommendations').textContent(), /Suggested order/);
  assert.equal(await page.locator('[data-label="synthetic"]').count(), 1);
  assert.equal(await page.locator('[data-label="example-policy"]').count(), 1);
  assert.equal(await page.locator('#inputs-used tbody tr').count(), answer.inputs.used.length);
  assert.equal(await page.locator('#missing-ranges tbody tr').count(), answer.missing_input_ranges.inputs.length);
  assert.match(await page.locator('#versions').textContent(), new RegExp(answer.rule_set.version));
});

test('a 422 is shown beside its field', async () => {
  const { page } = await tab('clinician-422');
  await signIn(page, 'clinician');
  await page.locator('#f-age_years').waitFor({ state: 'visible' });
  await page.getByRole('button', { name: 'Load example patient (lumbar fusion)' }).click();
  await page.locator('#f-age_years').fill('200');
  const answer = page.waitForResponse((r) => r.url().endsWith('/v1/assessments'));
  await page.getByRole('button', { name: 'Assess', exact: true }).click();
  assert.equal((await answer).status(), 422);
  const error = page.locator('#f-age_years-error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.textContent(), /18\.\.=100/);
  assert.equal(await page.locator('#f-age_years').getAttribute('aria-invalid'), 'true');
  assert.match(await page.locator('#f-age_years').getAttribute('aria-describedby'), /f-age_years-error/);
  assert.equal(await page.locator('#result-view').isVisible(), false);
  assert.equal(await page.locator('.field-error:not([hidden])').count(), 1);
  assert.deepEqual(await lowContrast(page), [], 'error contrast');
  // Keyboard: the summary has focus and links to the field.
  assert.equal(await page.evaluate(() => document.activeElement.id), 'form-errors');
});

test('the result opens by its URL, and the first render time is measured', async () => {
  const { page } = await tab('result-by-url');
  // Signed out: the link asks for a key first, then shows the stored assessment.
  await signIn(page, 'clinician', `/assessments/${storedId}`);
  await page.locator('#result-view').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#assessment-id').textContent(), storedId);
  // Signed in (same tab), on loopback: navigation start -> result visible, five times.
  const times = [];
  for (let i = 0; i < 5; i += 1) {
    await page.goto(`${BASE}/assessments/${storedId}`);
    await page.locator('#risk-table').waitFor({ state: 'visible' });
    times.push(await page.evaluate(() => performance.getEntriesByName('result-visible')[0].startTime));
  }
  times.sort((a, b) => a - b);
  figures.first_render_ms = { runs: times.map((t) => Math.round(t)), median: Math.round(times[2]) };
  console.log(`first render (navigation start -> result visible, loopback): median ${Math.round(times[2])} ms of ${times.map((t) => Math.round(t)).join(', ')}`);
  assert.ok(times[2] > 0);
});

test('the print view is a one-page summary', async () => {
  const { page } = await tab('print');
  await signIn(page, 'clinician', `/assessments/${storedId}`);
  await page.locator('#risk-table').waitFor({ state: 'visible' });
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.locator('#risk-table').isVisible(), true);
  assert.equal(await page.locator('#recommendations').isVisible(), true);
  assert.equal(await page.locator('#blood-loss').isVisible(), true);
  assert.equal(await page.locator('[data-label="synthetic"]').isVisible(), true);
  assert.equal(await page.locator('#explanations').isVisible(), false);
  assert.equal(await page.locator('#inputs').isVisible(), false);
  assert.equal(await page.locator('header.top').isVisible(), false);
  await shot(page, 'print');
  const pdf = await page.pdf({ format: 'A4', printBackground: false });
  const pagesInPdf = (pdf.toString('latin1').match(/\/Type\s*\/Page[^s]/g) || []).length;
  figures.print_pages = pagesInPdf;
  assert.equal(pagesInPdf, 1, `the printed summary has ${pagesInPdf} pages`);
});

test('a quality user opens an assessment by id and sees a model card', async () => {
  const { page } = await tab('quality');
  await signIn(page, 'quality');
  // Quality navigation only; the quality view opens (the role does not assess).
  assert.equal(await page.getByRole('link', { name: 'Quality' }).isVisible(), true);
  assert.equal(await page.getByRole('link', { name: 'Assess a patient' }).isVisible(), false);
  await page.locator('#quality-view').waitFor({ state: 'visible' });
  await page.locator('#models-table').waitFor({ state: 'visible' });
  await page.locator('#rule-versions table').first().waitFor();
  await page.locator('button[data-card="dvt"]').click();
  const card = page.locator('#card-dvt');
  await card.waitFor({ state: 'visible' });
  assert.match(await card.textContent(), /Model card: dvt/);
  assert.match(await card.textContent(), /Intended use/);
  assert.match(await card.textContent(), /Limitations/);
  await page.locator('#overrides p').first().waitFor();
  assert.deepEqual(await lowContrast(page), [], 'quality contrast');
  await shot(page, 'quality');
  // Open the clinician's assessment by its id: exactly as answered.
  const stored = await api(`/v1/assessments/${storedId}`, 'quality');
  assert.equal(stored.status, 200);
  await page.locator('#open-id').fill(storedId);
  await page.getByRole('button', { name: 'Open', exact: true }).click();
  await page.locator('#risk-table').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#assessment-id').textContent(), storedId);
  assert.equal(await page.locator('#risk-table tbody tr').count(), stored.body.predictions.filter((p) => p.status === 'ok').length);
});

test('a quality user back-tests a rule version and sees which assessments would change', async () => {
  // An admin uploads a candidate: the active document with the row that made the stored
  // assessment's first recommendation answering another id instead (not activated).
  const stored = await api(`/v1/assessments/${storedId}`, 'quality');
  assert.equal(stored.status, 200);
  const first = stored.body.recommendations[0];
  assert.ok(first && first.rule, 'the stored assessment has a recommendation with its rule row');
  const active = await api('/v1/rules', 'admin');
  assert.equal(active.status, 200);
  const doc = structuredClone(active.body.document);
  const node = doc.nodes.find((n) => n.id === first.rule.node_id);
  const idColumn = node.content.outputs.find((o) => o.field === 'id').id;
  const row = node.content.rules[first.rule.row];
  assert.equal(JSON.parse(row[idColumn]), first.id);
  row[idColumn] = JSON.stringify('web.backtest_renamed');
  const version = `web-backtest-${Date.now()}`;
  const upload = await api('/v1/rules/versions', 'admin', { method: 'POST', body: JSON.stringify({ version, document: doc, note: 'web test candidate' }) });
  assert.equal(upload.status, 201, JSON.stringify(upload.body));

  const { page } = await tab('quality-backtest');
  await signIn(page, 'quality');
  await page.locator('#quality-view').waitFor({ state: 'visible' });
  await page.locator(`#backtest-version option[value="${version}"]`).waitFor({ state: 'attached' });
  // The active version is the default candidate.
  assert.equal(await page.locator('#backtest-version').inputValue(), active.body.version);
  await page.locator('#backtest-version').selectOption(version);
  const since = await page.locator('#backtest-since').inputValue();
  const until = await page.locator('#backtest-until').inputValue();
  const answer = page.waitForResponse((r) => r.url().endsWith('/v1/rules/backtest'));
  await page.getByRole('button', { name: 'Run back-test' }).click();
  assert.equal((await answer).status(), 200);
  await page.locator('#backtest-summary').waitFor({ state: 'visible' });
  // The same back-test through the API: the page shows exactly its counts.
  const report = (await api('/v1/rules/backtest', 'quality', { method: 'POST', body: JSON.stringify({ version, since, until, max_examples: 5 }) })).body;
  assert.ok(report.changed >= 1, `changed ${report.changed}`);
  assert.match(await page.locator('#backtest-summary').textContent(), new RegExp(`${report.changed} of ${report.compared} compared would change`));
  const changed = report.recommendations.filter((x) => x.gained.count || x.lost.count);
  assert.equal(await page.locator('#backtest-changes tbody tr').count(), changed.length);
  for (const x of changed) {
    const text = await page.locator(`#backtest-changes tr[data-recommendation="${x.id}"]`).textContent();
    assert.ok(text.includes(`+${x.gained.count}`) && text.includes(`−${x.lost.count}`), `${x.id}: ${text}`);
  }
  const renamed = report.recommendations.find((x) => x.id === 'web.backtest_renamed');
  assert.ok(renamed && renamed.gained.count >= 1 && renamed.answered === 0, JSON.stringify(renamed));
  assert.ok(renamed.gained.examples.includes(storedId), 'the stored assessment gains the renamed id');
  assert.deepEqual(await lowContrast(page), [], 'back-test contrast');
  if (SHOTS) await page.locator('#rules-title').locator('..').screenshot({ path: join(SHOTS, 'backtest.png') });
  // An example opens the stored assessment exactly as answered.
  await page.locator(`#backtest-changes tr[data-recommendation="web.backtest_renamed"] a[data-assessment="${storedId}"]`).click();
  await page.locator('#risk-table').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#assessment-id').textContent(), storedId);
  assert.match(page.url(), new RegExp(`/assessments/${storedId}$`));
  assert.equal(await page.locator('#recommendations li[data-recommendation]').count(), stored.body.recommendations.length);
});

test('a quality user opens an assessment from the audit list', async (t) => {
  const probe = await fetch(`${BASE}/v1/audit/assessments?limit=1`, { headers: { Authorization: `Bearer ${KEYS.quality}` } });
  if (probe.status === 404) {
    t.skip('GET /v1/audit/assessments is not on this server (the audit search endpoint of issue 10, helper A, is not merged)');
    return;
  }
  assert.equal(probe.status, 200);
  // Eleven more stored assessments by the ehr key, for paging (ten per page: two pages).
  const batch = await api('/v1/assessments:batch', 'ehr', { method: 'POST', body: JSON.stringify({ items: Array.from({ length: 11 }, (_, i) => ({ patient: { ...EXAMPLE, age_years: 60 + i } })) }) });
  assert.equal(batch.status, 200, JSON.stringify(batch.body));
  const stored = await api(`/v1/assessments/${storedId}`, 'quality');
  assert.equal(stored.status, 200);
  const dvt = stored.body.predictions.find((p) => p.outcome === 'dvt' && p.status === 'ok');
  assert.ok(dvt, 'the stored assessment predicts dvt');

  const { page } = await tab('quality-audit');
  const requests = [];
  page.on('request', (r) => requests.push({ url: r.url(), auth: r.headers().authorization || '' }));
  await signIn(page, 'quality');
  await page.locator('#audit-form').waitFor({ state: 'visible' });
  const from = await page.locator('#audit-from').inputValue();
  const to = await page.locator('#audit-to').inputValue();
  const search = async () => {
    const answer = page.waitForResponse((r) => r.url().includes('/v1/audit/assessments?'));
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    const res = await answer;
    assert.equal(res.status(), 200);
    await page.locator('#audit-summary').waitFor({ state: 'visible' });
    return res.json();
  };

  // Paging: the ehr key's assessments, ten per page, newest first, by next_cursor.
  await page.locator('#audit-caller').fill('web-ehr');
  await page.locator('#audit-limit').selectOption('10');
  const first = await search();
  const direct1 = (await api(`/v1/audit/assessments?${new URLSearchParams({ from, to, caller: 'web-ehr', limit: '10' })}`, 'quality')).body;
  assert.equal(direct1.items.length, 10);
  assert.ok(direct1.next_cursor, 'a next page');
  assert.deepEqual(first.items.map((i) => i.assessment_id), direct1.items.map((i) => i.assessment_id));
  assert.deepEqual(await page.locator('#audit-table tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.assessment)), direct1.items.map((i) => i.assessment_id));
  const times = direct1.items.map((i) => i.created_at);
  assert.deepEqual([...times].sort().reverse(), times, 'newest first');
  const next = page.waitForResponse((r) => r.url().includes('/v1/audit/assessments?') && r.url().includes('cursor='));
  await page.getByRole('button', { name: 'Next page' }).click();
  assert.equal((await next).status(), 200);
  await page.locator('#audit-summary').getByText('Page 2').waitFor();
  const direct2 = (await api(`/v1/audit/assessments?${new URLSearchParams({ from, to, caller: 'web-ehr', limit: '10', cursor: direct1.next_cursor })}`, 'quality')).body;
  assert.equal(direct2.items.length, 1);
  assert.equal(direct2.next_cursor, null);
  assert.deepEqual(await page.locator('#audit-table tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.assessment)), direct2.items.map((i) => i.assessment_id));
  assert.equal(await page.locator('#audit-next').count(), 0, 'no next page after the last');
  const batchIds = batch.body.results.map((r) => { assert.equal(r.status, 201, JSON.stringify(r)); return r.assessment.assessment_id; });
  assert.deepEqual([...direct1.items, ...direct2.items].map((i) => i.assessment_id).sort(), [...batchIds].sort());

  // Filters: outcome and band, caller: the clinician's stored assessment is listed with its band.
  await page.locator('#audit-caller').fill('web-clinician');
  await page.locator('#audit-limit').selectOption('25');
  await page.locator('#audit-outcome').selectOption('dvt');
  await page.locator(`#audit-band option[value="${dvt.risk_band}"]`).waitFor({ state: 'attached' });
  await page.locator('#audit-band').selectOption(dvt.risk_band);
  const filtered = await search();
  assert.ok(filtered.items.length >= 1);
  for (const it of filtered.items) {
    assert.equal(it.caller, 'web-clinician');
    assert.equal(it.outcomes.find((o) => o.outcome === 'dvt').risk_band, dvt.risk_band);
  }
  const row = page.locator(`#audit-table tr[data-assessment="${storedId}"]`);
  assert.equal(await row.count(), 1, 'the stored assessment is listed');
  assert.match(await row.locator('li[data-outcome="dvt"]').textContent(), new RegExp(`dvt ${dvt.risk_band} ${(dvt.probability * 100).toFixed(1)} %`));
  assert.deepEqual(await lowContrast(page), [], 'audit list contrast');
  if (SHOTS) await page.locator('#audit-title').locator('..').screenshot({ path: join(SHOTS, 'audit.png') });

  // Exports: the same filters, the key in the header (never the URL), saved from a Blob.
  for (const [format, button] of [['csv', 'CSV'], ['ndjson', 'NDJSON']]) {
    const download = page.waitForEvent('download');
    const answer = page.waitForResponse((r) => r.url().includes('/v1/audit/assessments/export'));
    await page.getByRole('button', { name: button, exact: true }).click();
    const res = await answer;
    assert.equal(res.status(), 200, format);
    assert.equal(new URL(res.url()).searchParams.get('format'), format);
    assert.equal(new URL(res.url()).searchParams.get('band'), dvt.risk_band);
    assert.equal(res.request().headers().authorization, `Bearer ${KEYS.quality}`);
    const file = await download;
    assert.match(file.suggestedFilename(), new RegExp(`\\.${format}$`));
    const text = readFileSync(await file.path(), 'utf8');
    assert.ok(text.includes(storedId), `${format} export holds the stored assessment`);
    if (format === 'ndjson') for (const line of text.trim().split('\n')) JSON.parse(line);
    await page.locator('#audit-export-status').getByText(`.${format}`).waitFor();
  }
  for (const r of requests) for (const key of Object.values(KEYS)) assert.ok(!r.url.includes(key), `a key in ${r.url}`);

  // The row opens the stored assessment exactly as answered.
  await row.locator('a.assessment-link').click();
  await page.locator('#risk-table').waitFor({ state: 'visible' });
  assert.match(page.url(), new RegExp(`/assessments/${storedId}$`));
  assert.equal(await page.locator('#assessment-id').textContent(), storedId);
  assert.equal(await page.locator('#risk-table tbody tr').count(), stored.body.predictions.filter((p) => p.status === 'ok').length);
  assert.ok((await page.locator('#risk-table tr[data-outcome="dvt"]').textContent()).includes(`${(dvt.probability * 100).toFixed(1)} %`));
});

test('the plots draw every value, show suppressed groups as suppressed, and keep SVG text contrast', async () => {
  // The waterfalls of a result.
  const { page } = await tab('plots');
  await signIn(page, 'quality', `/assessments/${storedId}`);
  await page.locator('svg.waterfall').first().waitFor({ state: 'visible' });
  assert.deepEqual(await lowContrast(page, { svg: true }), [], 'waterfall text contrast');
  // The quality plots, drawn by the page's own module into the quality view.
  await page.goto(`${BASE}/#quality`);
  await page.locator('#performance-form').waitFor({ state: 'visible' });
  const drawn = await page.evaluate(async () => {
    const plots = await import('/app/plots.js');
    const host = document.getElementById('performance');
    const rows = [
      { label: 'site-a', value: 0.61, lo: 0.55, hi: 0.67 },
      { label: 'site-b', value: 0.83, lo: 0.78, hi: 0.88 },
      { label: 'site-c', suppressed: true, note: 'n 7' },
    ];
    const interval = plots.intervalPlot(rows, { title: 'AUC by site', reference: 0.5, axisLabel: 'AUC' });
    const bins = [0.02, 0.05, 0.1, 0.2].map((p, i) => ({ mean_predicted: p, observed_rate: p * (0.8 + 0.1 * i), count: 50 + i }));
    const reliability = plots.reliabilityPlot(bins, { title: 'Reliability' });
    const bars = plots.barPlot([{ label: 'Age', value: 0.3 }, { label: 'BMI', value: 0.05 }], { title: 'PSI', thresholds: [{ value: 0.1, label: 'moderate' }, { value: 0.25, label: 'major' }] });
    host.append(interval, reliability, bars);
    const points = [...interval.querySelectorAll('rect.plot-point')].map((r) => Number(r.getAttribute('x')));
    const reference = Number(interval.querySelector('line.plot-reference').getAttribute('x1'));
    const barWidths = [...bars.querySelectorAll('rect.plot-bar')].map((r) => Number(r.getAttribute('width')));
    return {
      points, reference, barWidths,
      title: interval.querySelector('title').textContent,
      suppressed: [...interval.querySelectorAll('text.plot-suppressed')].map((x) => x.textContent),
      dots: reliability.querySelectorAll('circle.plot-dot').length,
      reliabilityTitle: reliability.querySelector('title').textContent,
      role: [interval, reliability, bars].map((x) => x.getAttribute('role')),
    };
  });
  assert.equal(drawn.points.length, 2, 'one point per unsuppressed group');
  assert.ok(drawn.reference < drawn.points[0] && drawn.points[0] < drawn.points[1], JSON.stringify(drawn));
  assert.deepEqual(drawn.suppressed, ['suppressed (n 7)']);
  assert.match(drawn.title, /site-a 0\.61 \(95 % CI 0\.55 to 0\.67\); site-b 0\.83 .*; site-c suppressed/);
  assert.equal(drawn.dots, 4);
  assert.match(drawn.reliabilityTitle, /predicted 2\.0 %, observed 1\.6 % \(50 patients\)/);
  assert.ok(Math.abs(drawn.barWidths[0] / drawn.barWidths[1] - 6) < 0.01, `bars in proportion: ${drawn.barWidths}`);
  assert.deepEqual(drawn.role, ['img', 'img', 'img']);
  assert.deepEqual(await lowContrast(page, { svg: true }), [], 'quality plot text contrast');
  assert.deepEqual(await lowContrast(page), [], 'quality view contrast');
  // The check itself fails on pale SVG text.
  await page.evaluate(() => {
    const t = document.createElementNS('http://www.w3.org/2000/svg', 'text');
    t.setAttribute('x', '10'); t.setAttribute('y', '20'); t.setAttribute('fill', '#bbbbbb'); t.setAttribute('id', 'pale');
    t.textContent = 'pale label';
    document.querySelector('#performance svg.plot').append(t);
  });
  assert.equal((await lowContrast(page, { svg: true })).filter((x) => x.includes('pale label')).length, 1, 'pale SVG text is caught');
});

/** Skips `t` when the server does not offer `path` (an endpoint of another piece of issue 10). */
async function offered(t, path, what) {
  const res = await fetch(`${BASE}${path}`, { headers: { Authorization: `Bearer ${KEYS.quality}` } });
  if (res.status === 404) {
    t.skip(`${what} is not on this server (not merged yet)`);
    return false;
  }
  return true;
}

test('a quality user sees performance and calibration by group, with small groups suppressed', async (t) => {
  if (!(await offered(t, '/v1/quality/performance?outcome=dvt&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z', 'GET /v1/quality/performance'))) return;
  // 45 assessments (40 female, 5 male) with a recorded dvt outcome each.
  const items = Array.from({ length: 45 }, (_, i) => ({
    patient: { ...EXAMPLE, sex: i < 5 ? 'male' : 'female', age_years: 45 + (i * 7) % 50, bmi: 22 + (i % 12), weight_kg: Number(((22 + (i % 12)) * 1.62 * 1.62).toFixed(1)), history_of_vte: i % 9 === 0 },
  }));
  const batch = await api('/v1/assessments:batch', 'ehr', { method: 'POST', body: JSON.stringify({ items }) });
  assert.equal(batch.status, 200, JSON.stringify(batch.body).slice(0, 500));
  const ids = batch.body.results.map((r) => { assert.equal(r.status, 201, JSON.stringify(r).slice(0, 500)); return r.assessment.assessment_id; });
  const recorded = await api('/v1/outcomes', 'quality', { method: 'POST', body: JSON.stringify({ items: ids.map((id, i) => ({ assessment_id: id, outcome: 'dvt', value: i % 4 === 0 || i % 9 === 0 ? 1 : 0 })) }) });
  assert.equal(recorded.status, 200, JSON.stringify(recorded.body).slice(0, 500));

  const { page } = await tab('quality-performance');
  await signIn(page, 'quality');
  await page.locator('#performance-form').waitFor({ state: 'visible' });
  await page.locator('#performance-outcome option[value="dvt"]').waitFor({ state: 'attached' });
  await page.locator('#performance-outcome').selectOption('dvt');
  await page.locator('#performance-group-by').selectOption('sex');
  const from = await page.locator('#performance-from').inputValue();
  const to = await page.locator('#performance-to').inputValue();
  const answer = page.waitForResponse((r) => r.url().includes('/v1/quality/performance?'));
  await page.getByRole('button', { name: 'Show performance' }).click();
  assert.equal((await answer).status(), 200);
  await page.locator('#performance-summary').waitFor({ state: 'visible' });
  const report = (await api(`/v1/quality/performance?${new URLSearchParams({ outcome: 'dvt', group_by: 'sex', from, to })}`, 'quality')).body;
  const male = report.groups.find((g) => g.group === 'male');
  const female = report.groups.find((g) => g.group === 'female');
  assert.ok(male && male.suppressed && male.n === 5, JSON.stringify(male));
  assert.ok(female && !female.suppressed && female.binary, JSON.stringify(female).slice(0, 300));
  assert.match(await page.locator('#performance-summary').textContent(), new RegExp(`^dvt: ${report.rows.with_outcome} assessments with a recorded outcome`));
  // Suppressed groups: labelled, not drawn.
  assert.match(await page.locator('#performance-table tr[data-group="male"]').textContent(), /suppressed/);
  assert.equal(await page.locator('#performance-table tr[data-group="male"]').getAttribute('class'), 'suppressed');
  assert.deepEqual(await page.locator('#auc-plot text.plot-suppressed').allTextContents(), [`suppressed (n 5 < ${report.min_group_size})`]);
  const estimable = [report.all, ...report.groups].filter((g) => !g.suppressed && typeof g.binary?.auc === 'number');
  assert.equal(await page.locator('#auc-plot rect.plot-point').count(), estimable.length);
  const b = female.binary;
  const aucText = `${b.auc.toFixed(2)} (${b.auc_ci.lower.toFixed(2)}–${b.auc_ci.upper.toFixed(2)})`;
  const femaleRow = await page.locator('#performance-table tr[data-group="female"]').textContent();
  assert.ok(femaleRow.includes(aucText), `${aucText} in ${femaleRow}`);
  if (typeof b.calibration_slope === 'number') assert.ok(femaleRow.includes(b.calibration_slope.toFixed(2)), femaleRow);
  assert.ok((await page.locator('#slope-plot svg title').textContent()).includes('female'));
  // The reliability diagram of the first reportable row (all): one dot per bin.
  assert.equal(await page.locator('#reliability-group').inputValue(), 'all');
  assert.equal(await page.locator('#reliability svg circle.plot-dot').count(), report.all.binary.reliability.length);
  await page.locator('#reliability-group').selectOption('female');
  assert.equal(await page.locator('#reliability svg circle.plot-dot').count(), b.reliability.length);
  assert.deepEqual(await lowContrast(page), [], 'performance contrast');
  assert.deepEqual(await lowContrast(page, { svg: true }), [], 'performance plot contrast');
  if (SHOTS) await page.locator('#performance-title').locator('..').screenshot({ path: join(SHOTS, 'performance.png') });
});

test('a quality user sees input and prediction drift by month', async (t) => {
  if (!(await offered(t, '/v1/quality/drift?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z', 'GET /v1/quality/drift'))) return;
  const { page } = await tab('quality-drift');
  await signIn(page, 'quality');
  await page.locator('#drift-form').waitFor({ state: 'visible' });
  const from = await page.locator('#drift-from').inputValue();
  const to = await page.locator('#drift-to').inputValue();
  const answer = page.waitForResponse((r) => r.url().includes('/v1/quality/drift?'));
  await page.getByRole('button', { name: 'Show drift' }).click();
  assert.equal((await answer).status(), 200);
  await page.locator('#drift-summary').waitFor({ state: 'visible' });
  const report = (await api(`/v1/quality/drift?${new URLSearchParams({ from, to })}`, 'quality')).body;
  assert.ok(report.months.length >= 1, 'the stored assessments are in the window');
  const total = report.months.reduce((n, m) => n + m.assessments, 0);
  assert.match(await page.locator('#drift-summary').textContent(), new RegExp(`^${total} assessments in ${report.months.length} month`));
  for (const m of report.months) {
    const section = page.locator(`#drift section[data-month="${m.month}"]`);
    assert.match(await section.locator('h3').textContent(), new RegExp(`${m.assessments} assessments`));
    const flagged = m.features.filter((f) => (f.shift && f.shift !== 'none') || f.test?.significant_after_correction);
    assert.equal(await section.locator('table.drift-flagged tbody tr').count(), flagged.length, m.month);
    assert.equal(await section.locator('table.drift-predictions tbody tr').count(), m.predictions.length, m.month);
    const withPsi = m.features.filter((f) => typeof f.psi === 'number');
    assert.equal(await section.locator('svg.bar-plot rect.plot-bar').count(), Math.min(12, withPsi.length), m.month);
  }
  assert.deepEqual(await lowContrast(page), [], 'drift contrast');
  assert.deepEqual(await lowContrast(page, { svg: true }), [], 'drift plot contrast');
  if (SHOTS) await page.locator('#drift-title').locator('..').screenshot({ path: join(SHOTS, 'drift.png') });
});

test('a quality user sees what drives an outcome\'s explanations, with the server\'s plots', async (t) => {
  if (!(await offered(t, '/v1/quality/explanations?outcome=dvt&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z', 'GET /v1/quality/explanations'))) return;
  const { page } = await tab('quality-explanations');
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  await signIn(page, 'quality');
  await page.locator('#explain-form').waitFor({ state: 'visible' });
  await page.locator('#explain-outcome option[value="dvt"]').waitFor({ state: 'attached' });
  await page.locator('#explain-outcome').selectOption('dvt');
  const from = await page.locator('#explain-from').inputValue();
  const to = await page.locator('#explain-to').inputValue();
  const answer = page.waitForResponse((r) => r.url().includes('/v1/quality/explanations?'));
  await page.getByRole('button', { name: 'Show explanations' }).click();
  assert.equal((await answer).status(), 200);
  await page.locator('#explain-summary').waitFor({ state: 'visible' });
  const audit = (await api(`/v1/quality/explanations?${new URLSearchParams({ outcome: 'dvt', from, to })}`, 'quality')).body;
  assert.ok(audit.with_shap >= 1, 'explained assessments in the window');
  assert.match(await page.locator('#explain-summary').textContent(), new RegExp(`${audit.assessments} assessments predicted it \\(${audit.with_shap} with SHAP values`));
  assert.equal(await page.locator('#explanation-audit svg.bar-plot rect.plot-bar').count(), Math.min(15, audit.features.length));
  assert.equal(await page.locator('#explanation-audit table.explain-table tbody tr').count(), audit.features.length);
  assert.equal(await page.locator('#explanation-audit table.explain-table tbody tr').first().getAttribute('data-feature'), audit.features[0].feature);
  assert.match(await page.locator('#explain-missing').textContent(), new RegExp(`^${audit.missing_dominated.count} explanation`));
  // The server's beeswarm: fetched with the key in the header, shown as an image from a Blob.
  const svg = page.waitForResponse((r) => r.url().includes('/v1/quality/explanations.svg'));
  await page.getByRole('button', { name: 'Server beeswarm plot' }).click();
  const res = await svg;
  assert.equal(res.status(), 200);
  assert.equal(res.request().headers().authorization, `Bearer ${KEYS.quality}`);
  assert.equal(new URL(res.url()).searchParams.get('plot'), 'beeswarm');
  const img = page.locator('#explain-beeswarm-img');
  await img.waitFor({ state: 'visible' });
  await page.waitForFunction(() => document.getElementById('explain-beeswarm-img')?.complete);
  assert.ok(await img.evaluate((el) => el.naturalWidth > 0), 'the beeswarm image renders');
  assert.match(await img.getAttribute('src'), /^blob:/);
  assert.match(await img.getAttribute('alt'), /Beeswarm/);
  for (const url of requests) for (const key of Object.values(KEYS)) assert.ok(!url.includes(key), `a key in ${url}`);
  assert.deepEqual(await lowContrast(page), [], 'explanations contrast');
  assert.deepEqual(await lowContrast(page, { svg: true }), [], 'explanations plot contrast');
  if (SHOTS) await page.locator('#explain-title').locator('..').screenshot({ path: join(SHOTS, 'explanations.png') });
});

test('a clinician key sees no quality navigation and the quality API answers 403', async () => {
  const { page } = await tab('clinician-no-quality');
  await signIn(page, 'clinician');
  assert.equal(await page.locator('a[href="/#quality"]').isVisible(), false);
  await page.goto(`${BASE}/#quality`);
  await page.locator('#message').getByText('may not open the quality views').waitFor();
  assert.equal(await page.locator('#quality-view').isVisible(), false);
  const statuses = await page.evaluate(async () => {
    const key = sessionStorage.getItem('periop.apiKey');
    const out = {};
    for (const path of ['/v1/models', '/v1/models/dvt', '/v1/rules/versions', '/v1/quality/overrides?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z']) {
      out[path] = (await fetch(path, { headers: { Authorization: `Bearer ${key}` } })).status;
    }
    return out;
  });
  for (const [path, status] of Object.entries(statuses)) assert.equal(status, 403, path);
});

test('the form works at tablet width (768 px) and by keyboard', async () => {
  const { page } = await tab('tablet', { width: 768, height: 1024 });
  await signIn(page, 'clinician');
  await page.locator('#f-age_years').waitFor({ state: 'visible' });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `horizontal overflow of ${overflow} px at 768 px`);
  // Keyboard: Tab reaches the example button, Enter loads it, and focus is visible.
  await page.locator('#example-patient').focus();
  await page.keyboard.press('Enter');
  assert.equal(await page.locator('#f-age_years').inputValue(), '67');
  await page.keyboard.press('Tab');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none');
  await shot(page, 'form-tablet', { fullPage: false });
});

test('the quality views work at tablet width (768 px) and by keyboard', async () => {
  const { page } = await tab('quality-tablet', { width: 768, height: 1024 });
  await signIn(page, 'quality');
  await page.locator('#models-table').waitFor({ state: 'visible' });
  await page.locator('#rule-versions table').first().waitFor();
  // By keyboard: the back-test of the active version, run with Enter from the form.
  await page.locator('#backtest-version').focus();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'backtest-since');
  assert.notEqual(await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle), 'none');
  const answer = page.waitForResponse((r) => r.url().endsWith('/v1/rules/backtest'));
  await page.keyboard.press('Enter');
  assert.equal((await answer).status(), 200);
  await page.locator('#backtest-summary').waitFor({ state: 'visible' });
  for (const d of await page.locator('#quality-view details').all()) await d.evaluate((el) => { el.open = true; });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `horizontal overflow of ${overflow} px at 768 px`);
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('#quality-view input, #quality-view select')]
    .filter((el) => !document.querySelector(`label[for="${el.id}"]`)).map((el) => el.id));
  assert.deepEqual(unlabelled, []);
  assert.deepEqual(await lowContrast(page), [], 'quality contrast at 768 px');
  // The in-page links move focus to their section and keep the route.
  await page.getByRole('navigation', { name: 'On this page' }).getByRole('link', { name: 'Drift' }).click();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'drift-title');
  assert.match(page.url(), /#quality$/);
  assert.equal(await page.locator('#quality-view').isVisible(), true);
  await page.locator('#quality-title').scrollIntoViewIfNeeded();
  await shot(page, 'quality-tablet', { fullPage: false });
});

test('development mode is offered only when the server runs without keys, and must be chosen', async () => {
  const dev = process.env.WEB_DEV_BASE;
  assert.ok(dev, 'WEB_DEV_BASE is set');
  const { page } = await tab('development-mode');
  await page.goto(`${dev}/`);
  await page.locator('#dev-mode').waitFor({ state: 'visible' });
  // Not signed in until the user chooses it.
  assert.equal(await page.locator('#nav').isVisible(), false);
  await page.getByRole('button', { name: 'Continue without a key' }).click();
  await page.locator('#who').waitFor({ state: 'visible' });
  assert.match(await page.locator('#who-text').textContent(), /Development mode/);
  assert.equal(await page.getByRole('link', { name: 'Assess a patient' }).isVisible(), true);
  assert.equal(await page.getByRole('link', { name: 'Quality' }).isVisible(), true);
  await page.locator('#f-age_years').waitFor({ state: 'visible' });
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
});
