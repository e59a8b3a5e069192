// The result view of one assessment (the answer of POST /v1/assessments, or the stored copy from
// GET /v1/assessments/{id}): risks against the cohort baseline with their bands, blood loss with
// its 80 % interval against the allowable blood loss, the recommendations, one explanation
// waterfall per outcome with the exact TreeSHAP values on demand, the inputs used, derived and
// missing with the missing-input ranges, versions and labels. Sections marked `screen-only` are
// left out of the printed one-page summary.

import { h, s, clear, byId, pct, ml, valueText, unitText, table } from './dom.js';
import { waterfall } from './waterfall.js';

function names(dictionary) {
  const outcome = new Map((dictionary?.outcomes || []).map((o) => [o.id, o.name]));
  const feature = new Map([...(dictionary?.features || []), ...(dictionary?.derived || [])].map((f) => [f.name, f.label || f.name]));
  return {
    outcome: (id) => outcome.get(id) || id,
    feature: (id) => feature.get(id) || id,
  };
}

/** The allowable blood loss (mL) the rules saw, when the answer carries it. */
export function allowableBloodLoss(assessment) {
  for (const r of assessment.recommendations || []) {
    for (const t of r.triggers || []) {
      if (t.field === 'derived.allowable_blood_loss_ml' && typeof t.value === 'number') return t.value;
    }
  }
  for (const d of assessment.inputs?.derived || []) {
    if (d.feature === 'allowable_blood_loss_ml' && typeof d.value === 'number') return d.value;
  }
  return null;
}

function labels(assessment) {
  const warnings = assessment.warnings || [];
  const badges = [];
  if (warnings.some((w) => /synthetic/i.test(w))) badges.push(h('span', { class: 'badge badge-warn', 'data-label': 'synthetic' }, 'Synthetic data: not for clinical use'));
  if (warnings.some((w) => /example policy/i.test(w))) badges.push(h('span', { class: 'badge badge-warn', 'data-label': 'example-policy' }, 'Example rule policy: review locally'));
  return h('section', { class: 'labels', 'aria-label': 'Labels and warnings' },
    badges.length ? h('p', { class: 'badges' }, badges) : null,
    warnings.length ? h('ul', { class: 'warnings' }, warnings.map((w) => h('li', {}, w))) : null);
}

/** A small comparison bar: this patient against the average patient (both on 0..max). */
function compareBar(value, baseline, max) {
  const w = 160;
  const sx = (v) => Math.max(1, Math.min(w, (v / (max || 1)) * w));
  return s('svg', { viewBox: `0 0 ${w + 2} 22`, width: w + 2, height: 22, class: 'compare', 'aria-hidden': 'true' },
    s('rect', { x: 0, y: 2, width: sx(value), height: 9, class: 'bar-patient' }),
    s('rect', { x: 0, y: 13, width: sx(baseline), height: 7, class: 'bar-baseline' }));
}

function riskTable(assessment, n) {
  const ok = (assessment.predictions || []).filter((p) => p.status === 'ok');
  const rows = ok.map((p) => {
    const isQuantity = !!p.quantity;
    const value = isQuantity ? ml(p.quantity.median) : pct(p.probability);
    const baseline = isQuantity ? ml(p.baseline) : pct(p.baseline);
    const rr = typeof p.relative_risk === 'number' ? `${p.relative_risk.toFixed(1)}×` : '—';
    const bar = isQuantity ? compareBar(p.quantity.median, p.baseline, Math.max(p.quantity.p90, p.baseline))
      : compareBar(p.probability, p.baseline, Math.max(p.probability, p.baseline) * 1.1);
    const tr = h('tr', { 'data-outcome': p.outcome },
      h('th', { scope: 'row' }, n.outcome(p.outcome)),
      h('td', { class: 'num' }, value, isQuantity ? h('span', { class: 'sub' }, ` (80 %: ${ml(p.quantity.p10)}–${ml(p.quantity.p90)})`) : null),
      h('td', { class: 'num' }, baseline),
      h('td', { class: 'num' }, rr),
      h('td', {}, h('span', { class: `band band-${p.risk_band}` }, p.risk_band || '—')),
      h('td', { class: 'screen-only' }, bar));
    return tr;
  });
  return h('table', { class: 'risks', id: 'risk-table' },
    h('caption', {}, 'Your patient’s risk vs the average patient of the training cohort'),
    h('thead', {}, h('tr', {},
      ['Outcome', 'This patient', 'Average patient', 'Relative', 'Band'].map((c) => h('th', { scope: 'col' }, c)),
      h('th', { scope: 'col', class: 'screen-only' }, h('span', { class: 'key key-patient' }, 'patient'), ' ', h('span', { class: 'key key-baseline' }, 'average')))),
    h('tbody', {}, rows));
}

function bloodLoss(assessment) {
  const p = (assessment.predictions || []).find((x) => x.outcome === 'blood_loss_ml' && x.status === 'ok' && x.quantity);
  if (!p) return null;
  const abl = allowableBloodLoss(assessment);
  const q = p.quantity;
  const w = 480;
  const max = Math.max(q.p90, abl || 0) * 1.1;
  const x = (v) => 10 + (v / max) * (w - 20);
  const svg = s('svg', { viewBox: `0 0 ${w} 56`, width: '100%', class: 'blood-loss-plot', role: 'img', 'aria-labelledby': 'blood-loss-plot-title' },
    s('title', { id: 'blood-loss-plot-title' }, `Blood loss median ${ml(q.median)}, 80 % interval ${ml(q.p10)} to ${ml(q.p90)}${abl ? `, allowable ${ml(abl)}` : ''}`),
    s('line', { x1: x(0), x2: x(max), y1: 30, y2: 30, class: 'wf-axis' }),
    s('rect', { x: x(q.p10), y: 22, width: Math.max(2, x(q.p90) - x(q.p10)), height: 16, class: 'bl-interval' }),
    s('line', { x1: x(q.median), x2: x(q.median), y1: 16, y2: 44, class: 'bl-median' }),
    abl ? s('line', { x1: x(abl), x2: x(abl), y1: 8, y2: 52, class: 'bl-allowable' }) : null,
    abl ? s('text', { x: Math.min(x(abl), w - 4), y: 8, 'text-anchor': 'end', class: 'wf-tick' }, `allowable ${ml(abl)}`) : null,
    s('text', { x: x(q.median), y: 54, 'text-anchor': 'middle', class: 'wf-tick' }, `median ${ml(q.median)}`));
  return h('section', { class: 'panel', id: 'blood-loss', 'aria-labelledby': 'blood-loss-title' },
    h('h2', { id: 'blood-loss-title' }, 'Blood loss'),
    h('p', {}, 'Median ', h('strong', {}, ml(q.median)), `, 80 % interval ${ml(q.p10)} to ${ml(q.p90)}`,
      abl ? `; allowable blood loss ${ml(abl)} (the 90th percentile is ${Math.round((q.p90 / abl) * 100)} % of it).` : '; the allowable blood loss is not in this answer (it needs sex, height, weight and haemoglobin).'),
    svg);
}

function notApplicable(assessment, n) {
  const na = (assessment.predictions || []).filter((p) => p.status === 'not_applicable');
  if (!na.length) return null;
  return h('section', { class: 'panel', id: 'not-applicable', 'aria-labelledby': 'na-title' },
    h('h2', { id: 'na-title' }, 'Not estimated for this patient'),
    h('ul', {}, na.map((p) => h('li', { 'data-outcome': p.outcome }, h('strong', {}, n.outcome(p.outcome)), `: ${p.reason || 'outside the model’s population'}`))));
}

function recommendations(assessment) {
  const recs = assessment.recommendations || [];
  return h('section', { class: 'panel', id: 'recommendations', 'aria-labelledby': 'recs-title' },
    h('h2', { id: 'recs-title' }, 'What to prepare (options to consider)'),
    recs.length ? h('ol', { class: 'recs' }, recs.map((r) => h('li', { 'data-recommendation': r.id },
      h('p', {}, h('strong', {}, r.text), r.strength ? h('span', { class: 'sub' }, ` (${r.strength})`) : null),
      r.rationale ? h('p', { class: 'rationale' }, 'Why: ', r.rationale) : null,
      r.order ? h('p', { class: 'order' }, 'Suggested order: ', h('strong', {}, r.order.display || r.order.code), h('span', { class: 'sub' }, ` (${r.order.code})`)) : null,
      r.rule ? h('p', { class: 'sub screen-only' }, `Rule: ${r.rule.node_name || r.rule.node_id}, row ${r.rule.row}${r.rule.row_id ? ` (${r.rule.row_id})` : ''}`) : null)))
      : h('p', {}, 'No recommendation from the active rule set.'),
    assessment.rule_set ? h('p', { class: 'sub screen-only' }, `Rule set ${assessment.rule_set.version}`) : null);
}

function explanationDetails(p, n) {
  const e = p.explanation;
  const rows = (e.contributions || []).map((c) => [
    c.label || n.feature(c.feature), c.feature, valueText(c.value), c.unit || '', String(c.contribution), String(c.effect)]);
  return h('details', { class: 'exact' },
    h('summary', {}, 'Exact values (TreeSHAP)'),
    h('p', {}, `Scale ${e.scale}: base value ${e.base_value}, raw score ${e.raw_score}; effects in ${e.effect_unit === 'ml' ? 'mL' : 'percentage points'} from ${e.effect_base}. The contributions sum to the raw score.`),
    table(null, ['Input', 'Feature', 'Value', 'Unit', `Contribution (${e.scale})`, `Effect (${e.effect_unit})`], rows, { class: 'exact-table' }));
}

function explanations(assessment, n) {
  const ok = (assessment.predictions || []).filter((p) => p.status === 'ok' && p.explanation);
  if (!ok.length) return null;
  return h('section', { class: 'panel screen-only', id: 'explanations', 'aria-labelledby': 'expl-title' },
    h('h2', { id: 'expl-title' }, 'Why: what moved each estimate'),
    h('p', { class: 'help' }, 'From the model’s starting point (its TreeSHAP base value on the probability scale, which is not the cohort average in the table above) to this patient, one input at a time (largest first). Contributions are associations in the model, not causes.'),
    ok.map((p) => h('section', { class: 'explanation', 'data-outcome': p.outcome, 'aria-labelledby': `expl-${p.outcome}` },
      h('h3', { id: `expl-${p.outcome}` }, n.outcome(p.outcome)),
      p.explanation.summary ? h('p', {}, p.explanation.summary) : null,
      waterfall(p.explanation, n.outcome(p.outcome), `wf-${p.outcome}`),
      explanationDetails(p, n))));
}

function rangeText(o) {
  const fmt = o.unit === 'mL' ? ml : pct;
  return `${fmt(o.low)}–${fmt(o.high)}`;
}

function inputs(assessment, n) {
  const used = assessment.inputs?.used || [];
  const derived = assessment.inputs?.derived || [];
  const missing = assessment.inputs?.missing || [];
  const ranges = assessment.missing_input_ranges;
  const parts = [
    h('h2', { id: 'inputs-title' }, 'Inputs'),
    table(`Used (${used.length})`, ['Input', 'Value', 'Unit'], used.map((u) => [n.feature(u.feature), valueText(u.value), unitText(u.unit)]), { id: 'inputs-used' }),
    table(`Derived (${derived.length})`, ['Feature', 'Value', 'How'], derived.map((d) => [n.feature(d.feature), valueText(d.value),
      `${d.detail || ''}${d.unassessed?.length ? ` · unassessed: ${d.unassessed.join(', ')}` : ''}`]), { id: 'inputs-derived' }),
    h('h3', {}, `Missing (${missing.length})`),
    missing.length ? h('p', { id: 'inputs-missing' }, missing.map(n.feature).join(', '), '. Missing inputs are treated as unknown, never imputed.') : h('p', {}, 'None.'),
  ];
  if (ranges && Array.isArray(ranges.inputs)) {
    const outcomeIds = (assessment.predictions || []).filter((p) => p.status === 'ok').map((p) => p.outcome);
    const rows = ranges.inputs.map((inp) => {
      const changes = (inp.outcomes || []).filter((o) => o.high !== o.low);
      return [inp.label || n.feature(inp.feature),
        changes.length ? h('ul', { class: 'plain' }, changes.map((o) => h('li', {}, `${n.outcome(o.outcome)} ${rangeText(o)}`))) : 'no change to any estimate',
        `${(inp.values || []).length} values${inp.values_skipped ? `, ${inp.values_skipped} skipped` : ''}`];
    });
    parts.push(h('h3', {}, 'What would sharpen the estimate'),
      h('p', { class: 'help' }, `Each missing input tried over its plausible values (one at a time, ${ranges.patients_evaluated} patients and ${ranges.model_evaluations} model runs), most influential first, for ${outcomeIds.length} outcomes.`),
      table(null, ['Missing input', 'Estimates across its plausible values', 'Tried'], rows, { id: 'missing-ranges' }));
  }
  return h('section', { class: 'panel screen-only', id: 'inputs', 'aria-labelledby': 'inputs-title' }, parts);
}

function versions(assessment, n) {
  const rows = (assessment.predictions || []).filter((p) => p.model).map((p) => [n.outcome(p.outcome), p.model.version, h('code', {}, (p.model.sha256 || '').slice(0, 12))]);
  return h('section', { class: 'panel', id: 'versions', 'aria-labelledby': 'versions-title' },
    h('h2', { id: 'versions-title' }, 'Versions'),
    h('p', {}, `Model set ${assessment.model_set?.id} ${assessment.model_set?.version}`,
      assessment.rule_set ? ` · rule set ${assessment.rule_set.version} (${(assessment.rule_set.sha256 || '').slice(0, 12)})` : ''),
    h('details', { class: 'screen-only' }, h('summary', {}, 'Model versions'),
      table(null, ['Outcome', 'Model version', 'SHA-256'], rows)));
}

/** Renders an assessment into #result and marks the time it became visible. */
export function renderResult(assessment, dictionary) {
  const n = names(dictionary);
  const root = clear(byId('result'));
  root.append(
    h('h1', { id: 'result-title', tabindex: '-1' }, 'Risk assessment'),
    h('p', { class: 'meta' }, `Assessment `, h('code', { id: 'assessment-id' }, assessment.assessment_id), ` · ${assessment.created_at}`),
    labels(assessment),
    h('section', { class: 'panel', 'aria-label': 'Risks' }, riskTable(assessment, n)),
    bloodLoss(assessment),
    notApplicable(assessment, n),
    recommendations(assessment),
    explanations(assessment, n),
    inputs(assessment, n),
    versions(assessment, n),
    h('p', { class: 'print-only' }, `Printed summary of assessment ${assessment.assessment_id}. Estimates support, and do not replace, clinical judgement.`),
  );
}
