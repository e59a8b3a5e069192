//! Example bodies used by the `#[utoipa::path]` attributes (and checked against their schemas by
//! `tests/openapi.rs`).

use super::*;

/// A typical lumbar fusion patient.
pub fn patient() -> Value {
    json!({
        "age_years": 67, "sex": "female", "bmi": 31.2, "height_cm": 162, "weight_kg": 81.9,
        "smoking_status": "former", "asa_class": 3, "functional_status": "independent",
        "diabetes": "non_insulin", "hypertension": true, "osteoporosis": true,
        "history_of_vte": false, "hemoglobin_g_dl": 12.4, "platelets_10e9_l": 230,
        "albumin_g_dl": 3.9, "creatinine_mg_dl": 0.9, "bone_density_hu": 98,
        "stenosis_grade": 2, "procedure": "lumbar_fusion", "fused_levels": 3,
        "decompressed_levels": 3, "fusion_to_sacrum": true, "planned_duration_min": 240,
        "tranexamic_acid_planned": true, "revision_surgery": false,
        "minimally_invasive": false, "odi_baseline": 48, "symptom_duration_over_12mo": true,
        "back_pain_dominant": false
    })
}

/// `POST /v1/assessments` request.
pub fn assessment_request() -> Value {
    json!({"patient": patient(), "outcomes": ["dvt", "blood_loss_ml", "acdf_inpatient_conversion"], "explain": true})
}

/// `POST /v1/assessments:batch` request.
pub fn batch_request() -> Value {
    json!({"items": [assessment_request(), {"patient": patient(), "explain": false}]})
}

/// An abbreviated assessment (explanations show 3 of the contributions).
pub fn assessment() -> Value {
    json!({
        "assessment_id": "5f0c1d4e-8a9b-4c3d-9e2f-1a2b3c4d5e6f",
        "created_at": "2025-01-31T09:30:00.123Z",
        "model_set": {"id": "default", "version": "2025.01.0"},
        "predictions": [
            {
                "outcome": "dvt", "status": "ok", "probability": 0.042, "risk_band": "moderate",
                "baseline": 0.031, "relative_risk": 1.35,
                "model": {"id": "dvt", "version": "dvt@3f2a9c81b0de", "sha256": "3f2a9c81b0de4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b"},
                "explanation": {
                    "scale": "log_odds", "base_value": -3.1, "raw_score": -2.8,
                    "effect_unit": "percentage_points", "effect_base": 4.3,
                    "contributions": [
                        {"feature": "fused_levels", "label": "Fused levels 3", "value": 3, "contribution": 0.21, "effect": 0.9},
                        {"feature": "age_years", "label": "Age 67 y", "value": 67, "unit": "a", "contribution": 0.12, "effect": 0.6},
                        {"feature": "tranexamic_acid_planned", "label": "Tranexamic acid planned: yes", "value": true, "contribution": -0.03, "effect": -0.1}
                    ],
                    "summary": "Higher than the model's average mainly because of Fused levels 3 (+0.9 pp), Age 67 y (+0.6 pp); lowered by Tranexamic acid planned: yes (−0.1 pp). Contributions are associations in the model, not causes."
                }
            },
            {
                "outcome": "blood_loss_ml", "status": "ok",
                "quantity": {"median": 650.0, "p10": 300.0, "p90": 1400.0, "unit": "mL"},
                "risk_band": "moderate", "baseline": 400.0, "relative_risk": 1.63,
                "model": {"id": "blood_loss_ml", "version": "blood_loss_ml@9a8b7c6d5e4f", "sha256": "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"}
            },
            {
                "outcome": "acdf_inpatient_conversion", "status": "not_applicable",
                "reason": "applies to anterior cervical discectomy and fusion only",
                "model": {"id": "acdf_inpatient_conversion", "version": "acdf_inpatient_conversion@0a1b2c3d4e5f", "sha256": "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b"}
            }
        ],
        "recommendations": [recommendation()],
        "rule_set": {"version": "default-1", "sha256": RULES_SHA256},
        "rule_trace": rule_trace(),
        "inputs": {
            "used": [{"feature": "age_years", "value": 67, "unit": "years"}, {"feature": "sex", "value": "female"}],
            "derived": [{"feature": "caprini_score", "value": 7, "unit": "points", "detail": "Caprini score from age, BMI, history of VTE and the planned surgery", "band": "highest"}],
            "missing": []
        },
        "warnings": ["Models trained on SYNTHETIC data: not validated on real patients; do not use for patient care."]
    })
}

/// SHA-256 of the example rule set.
pub const RULES_SHA256: &str = "7d1a0c5e9b3f4a2d8c6e1f0b9a8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c";

/// One recommendation with its provenance.
pub fn recommendation() -> Value {
    json!({
        "id": "vte.combined_prophylaxis",
        "category": "vte_prophylaxis",
        "text": "Combine mechanical and pharmacologic VTE prophylaxis.",
        "rationale": "DVT risk elevated and a Caprini score of 7 (highest band).",
        "strength": "recommend",
        "order": {"system": "https://periop.example.org/order", "code": "vte-combined", "display": "Mechanical and pharmacologic VTE prophylaxis"},
        "rule": {"node_id": "vte", "node_name": "VTE prophylaxis", "row": 0, "row_id": "r1"},
        "triggers": [
            {"field": "predictions.dvt.risk_band", "condition": "\"high\", \"elevated\"", "value": "elevated"},
            {"field": "derived.caprini_score", "condition": ">= 5", "value": 7}
        ]
    })
}

/// The trace of the example evaluation.
pub fn rule_trace() -> Value {
    json!({"nodes": [
        {"node_id": "vte", "node_name": "VTE prophylaxis", "kind": "decisionTableNode", "matched_rows": [0]}
    ]})
}

/// `POST /v1/assessments:batch` answer: one answered item, one invalid.
pub fn batch_response() -> Value {
    let invalid = ApiError::invalid(vec![FieldProblem {
        field: "patient.age_years".into(),
        reason: "out_of_range".into(),
        detail: "must be between 18 and 110 years".into(),
    }])
    .with_request_id(Some(REQUEST_ID.into()))
    .problem();
    json!({"results": [
        {"status": 201, "assessment": assessment()},
        {"status": 422, "problem": invalid}
    ]})
}

/// `GET /v1/models` answer (one model shown).
pub fn model_set() -> Value {
    json!({
        "id": "default", "version": "2025.01.0", "synthetic_training_data": true,
        "training_data": {"file": "synthetic.csv", "rows": 150000, "sha256": "b1946ac92492d2347c6235b4d2611184b1946ac92492d2347c6235b4d2611184"},
        "models": [{
            "outcome": "dvt", "version": "dvt@3f2a9c81b0de",
            "sha256": "3f2a9c81b0de4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b",
            "kind": "probability", "population": "all spine surgery patients", "baseline": 0.031,
            "validation": {"auc": 0.81, "brier_calibrated": 0.085, "rows": 30000}
        }]
    })
}

/// `GET /v1/models/{outcome}` answer.
pub fn model_card() -> Value {
    json!({
        "outcome": "dvt", "version": "dvt@3f2a9c81b0de",
        "definition": "Deep vein thrombosis within 30 days of surgery",
        "intended_use": "Preoperative estimate for adults scheduled for spine surgery, to support (not replace) planning and counselling by clinicians.",
        "population": "all spine surgery patients", "kind": "probability",
        "inputs": ["age_years", "sex", "bmi"],
        "files": [{"role": "probability", "path": "model.txt", "sha256": "3f2a9c81b0de4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b", "trees": 592}],
        "training": {"population": "all spine surgery patients", "rows_total": 150000, "rows_train": 120000, "rows_validation": 30000, "events": 4650, "baseline": 0.031, "synthetic": true},
        "synthetic_training_data": true,
        "calibration": {"method": "platt", "a": 1.036, "b": 0.053},
        "risk_bands": [{"name": "low", "lower": 0.0, "upper": 0.02}, {"name": "moderate", "lower": 0.02, "upper": 0.05}, {"name": "high", "lower": 0.05, "upper": 1.0}],
        "metrics": {"validation": {"auc": 0.81, "brier_calibrated": 0.085, "rows": 30000}},
        "limitations": ["Answers only for its population; other patients get not_applicable."]
    })
}

/// `GET /readyz` answer.
pub fn ready() -> Value {
    json!({"status": "ready", "model_set": {"id": "default", "version": "2025.01.0"}, "audit_store": "ok"})
}

/// `GET /readyz` answer when the audit store does not answer.
pub fn not_ready() -> Value {
    json!({"status": "not_ready", "model_set": {"id": "default", "version": "2025.01.0"}, "audit_store": "unavailable"})
}

/// A request id as the server generates them.
pub const REQUEST_ID: &str = "req_8f14e45fceea467a9d2c5b1e0b3e6a7d";

/// The problem+json body the server answers for `code` with `detail`.
pub fn problem(code: Code, detail: &str) -> Value {
    json!(ApiError::new(code, detail)
        .with_request_id(Some(REQUEST_ID.into()))
        .problem())
}

/// A 422 body listing every invalid field.
pub fn invalid_input() -> Value {
    json!(ApiError::invalid(vec![
        FieldProblem {
            field: "patient.age_years".into(),
            reason: "out_of_range".into(),
            detail: "must be between 18 and 110 years".into(),
        },
        FieldProblem {
            field: "patient.fusion_to_sacrum".into(),
            reason: "contradiction".into(),
            detail: "fusion to the sacrum is not possible on a cervical procedure".into(),
        },
    ])
    .with_request_id(Some(REQUEST_ID.into()))
    .problem())
}
