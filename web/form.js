// The assessment form, generated from GET /v1/features: grouped sections, every input with its
// <label for>, unit and accepted range, required fields marked; values read back as the API's
// `patient` object (an empty field is missing, never a guess); a 422 problem's field errors
// shown beside their fields.

import { h, clear, byId, unitText } from './dom.js';

/** The form's sections, in order; `tumour` takes the metastatic-only inputs of the plan. */
const SECTIONS = [
  { id: 'patient', title: 'Patient', groups: ['patient'] },
  { id: 'comorbidities', title: 'Comorbidities', groups: ['comorbidity'] },
  { id: 'labs', title: 'Labs and imaging', groups: ['laboratory', 'imaging'] },
  { id: 'surgery', title: 'Planned surgery', groups: ['surgical_plan'] },
  { id: 'tumour', title: 'Tumour (metastatic disease only)', groups: [] },
  { id: 'function', title: 'Baseline function (patient-reported)', groups: ['patient_reported'] },
];
const TUMOUR = new Set(['tumor_histology', 'tumor_resection', 'preop_embolization']);

/** The example patient: an elective three-level lumbar fusion (as in docs/api.md). */
export const EXAMPLE_PATIENT = {
  age_years: 67, sex: 'female', bmi: 31.2, height_cm: 162, weight_kg: 81.9,
  smoking_status: 'former', asa_class: 3, functional_status: 'independent',
  diabetes: 'non_insulin', hypertension: true, osteoporosis: true, history_of_vte: false,
  hemoglobin_g_dl: 12.4, platelets_10e9_l: 230, albumin_g_dl: 3.9, creatinine_mg_dl: 0.9,
  bone_density_hu: 98, stenosis_grade: 2, procedure: 'lumbar_fusion', fused_levels: 3,
  decompressed_levels: 3, fusion_to_sacrum: true, planned_duration_min: 240,
  tranexamic_acid_planned: true, revision_surgery: false, minimally_invasive: false,
  odi_baseline: 48, symptom_duration_over_12mo: true, back_pain_dominant: false,
};

function sectionOf(feature) {
  if (TUMOUR.has(feature.name)) return 'tumour';
  const section = SECTIONS.find((s) => s.groups.includes(feature.group));
  return section ? section.id : 'patient';
}

function rangeText(f) {
  const unit = unitText(f.unit);
  if (f.type === 'number' || f.type === 'integer') {
    return `${f.min}–${f.max}${unit ? ` ${unit}` : ''}${f.type === 'integer' ? ', whole number' : ''}`;
  }
  return '';
}

function control(f) {
  const id = `f-${f.name}`;
  const common = { id, name: f.name, 'aria-describedby': `${id}-help ${id}-error`, required: f.required };
  if (f.type === 'number' || f.type === 'integer') {
    // No min/max attributes: the server validates and its 422 is shown beside the field.
    return h('input', { ...common, type: 'text', inputmode: 'decimal', autocomplete: 'off', spellcheck: 'false' });
  }
  const options = [h('option', { value: '' }, f.required ? '— choose —' : '— not on file —')];
  if (f.type === 'boolean') {
    options.push(h('option', { value: 'true' }, 'yes'), h('option', { value: 'false' }, 'no'));
  } else {
    (f.levels || []).forEach((level, i) => {
      options.push(h('option', { value: level }, (f.level_labels || [])[i] || level));
    });
  }
  return h('select', common, options);
}

function field(f) {
  const id = `f-${f.name}`;
  const range = rangeText(f);
  const unit = unitText(f.unit);
  return h('div', { class: 'field', 'data-field': f.name },
    h('label', { for: id }, f.label || f.name, f.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null,
      f.required ? h('span', { class: 'visually-hidden' }, ' (required)') : null),
    h('div', { class: 'control' }, control(f), unit && (f.type === 'number' || f.type === 'integer') ? h('span', { class: 'unit' }, unit) : null),
    h('p', { class: 'help', id: `${id}-help` }, f.description, range ? ` · accepted ${range}` : ''),
    h('p', { class: 'field-error', id: `${id}-error`, hidden: true }));
}

/** Builds the form's sections from the dictionary. */
export function buildForm(dictionary) {
  const root = clear(byId('form-groups'));
  const bySection = new Map(SECTIONS.map((s) => [s.id, []]));
  for (const f of dictionary.features) bySection.get(sectionOf(f)).push(f);
  for (const section of SECTIONS) {
    const fields = bySection.get(section.id);
    if (!fields.length) continue;
    root.append(h('fieldset', { class: 'group', id: `group-${section.id}` },
      h('legend', {}, section.title),
      h('div', { class: 'fields' }, fields.map(field))));
  }
}

/** The form's values as a `patient` object (empty fields are left out: missing). */
export function readPatient(dictionary) {
  const patient = {};
  for (const f of dictionary.features) {
    const el = byId(`f-${f.name}`);
    if (!el) continue;
    const raw = el.value.trim();
    if (raw === '') continue;
    if (f.type === 'number' || f.type === 'integer') {
      const n = Number(raw.replace(',', '.'));
      // A non-number is sent as typed, so the server names the field and its constraint.
      patient[f.name] = Number.isFinite(n) ? n : raw;
    } else if (f.type === 'boolean') {
      patient[f.name] = raw === 'true';
    } else {
      patient[f.name] = raw;
    }
  }
  return patient;
}

/** Puts a patient's values in the form (other fields are emptied). */
export function fillPatient(dictionary, patient) {
  clearErrors();
  for (const f of dictionary.features) {
    const el = byId(`f-${f.name}`);
    if (!el) continue;
    const v = patient[f.name];
    el.value = v === undefined || v === null ? '' : String(v);
  }
}

export function clearErrors() {
  for (const el of document.querySelectorAll('.field-error')) { el.textContent = ''; el.hidden = true; }
  for (const el of document.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  const box = byId('form-errors');
  clear(box).hidden = true;
}

/**
 * Shows a 422 problem: each `errors[]` entry beside its field (`patient.<name>`), the rest (and
 * a summary with links to the fields) at the top. Focuses the summary.
 */
export function showProblem(problem, fallbackText) {
  clearErrors();
  const box = byId('form-errors');
  const errors = Array.isArray(problem && problem.errors) ? problem.errors : [];
  const items = [];
  for (const e of errors) {
    const name = String(e.field || '').replace(/^patient\./, '');
    const el = byId(`f-${name}`);
    const text = `${e.detail || e.reason || 'invalid'}${e.reason ? ` (${e.reason})` : ''}`;
    if (el) {
      el.setAttribute('aria-invalid', 'true');
      const msg = byId(`f-${name}-error`);
      msg.textContent = text;
      msg.hidden = false;
      const label = document.querySelector(`label[for="f-${name}"]`);
      items.push(h('li', {}, h('a', { href: `#f-${name}` }, label ? label.firstChild.textContent : name), `: ${text}`));
    } else {
      items.push(h('li', {}, `${e.field || 'request'}: ${text}`));
    }
  }
  box.append(h('p', {}, h('strong', {}, fallbackText)));
  if (items.length) box.append(h('ul', {}, items));
  box.hidden = false;
  box.focus();
}
