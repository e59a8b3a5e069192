//! `GET /v1/models` and `GET /v1/models/{outcome}`: what answers, trained on what, how good.
//! The card is JSON by default and Markdown with `Accept: text/markdown`.

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::api::auth::Permission;
use crate::api::error::{ApiError, AuthErrors, Code, Problem};
use crate::api::{request_id_of, AppState};
use crate::model::manifest::ModelManifest;
use crate::outcomes::Outcome;

/// List the loaded model set.
///
/// The set's id and version, whether it was trained on synthetic data, its training data file,
/// and for each outcome the model version, SHA-256, population, cohort baseline and held-out
/// validation metrics. Roles: `quality`, `admin`.
#[utoipa::path(
    tag = "models",
    responses(
        (status = 200, description = "The model set", body = crate::api::dto::ModelSetDto, content_type = "application/json",
            example = json!(crate::api::dto::examples::model_set())),
        AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/models")]
pub async fn list_models(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.keys.authorize(&req, Permission::ReadModels)?;
    let answering = state.assessor.models();
    let set = answering.set_manifest();
    let models: Vec<Value> = answering
        .outcomes()
        .filter_map(|o| answering.manifest(o))
        .map(summary)
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "id": set.id,
        "version": set.version,
        "synthetic_training_data": set.training_data.synthetic,
        "training_data": {"file": set.training_data.file, "rows": set.training_data.rows, "sha256": set.training_data.sha256},
        "recalibration": set.recalibration,
        "models": models,
    })))
}

/// One outcome's model card.
///
/// Definition, intended use, population, inputs, files with hashes, training rows, calibration,
/// risk bands, metrics and limitations. JSON by default; Markdown with `Accept: text/markdown`.
/// Roles: `quality`, `admin`.
#[utoipa::path(
    tag = "models",
    params(("outcome" = String, Path, description = "Outcome id (`features.md`)", example = "dvt")),
    responses(
        (status = 200, description = "The model card", content(
            (crate::api::dto::ModelCardDto = "application/json", example = json!(crate::api::dto::examples::model_card())),
            (String = "text/markdown", example = "# Model card: `dvt` (dvt@3f2a9c81b0de)\n\n…"),
        )),
        (status = 404, description = "No model for this outcome id (`unknown_model`)", body = Problem, content_type = "application/problem+json",
            example = json!(crate::api::dto::examples::problem(Code::UnknownModel, "no model for this outcome id"))),
        AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/models/{outcome}")]
pub async fn get_model(
    req: HttpRequest,
    outcome: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    state.keys.authorize(&req, Permission::ReadModels)?;
    let answering = state.assessor.models();
    let manifest = Outcome::from_id(&outcome)
        .and_then(|o| answering.manifest(o))
        .ok_or_else(|| {
            ApiError::new(Code::UnknownModel, "no model for this outcome id").with_request_id(rid)
        })?;
    let synthetic = answering.set_manifest().training_data.synthetic;
    let wants_markdown = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/markdown"));
    if wants_markdown {
        return Ok(HttpResponse::Ok()
            .content_type("text/markdown; charset=utf-8")
            .body(markdown_card(manifest, synthetic)));
    }
    Ok(HttpResponse::Ok().json(card(manifest, synthetic)))
}

fn summary(m: &ModelManifest) -> Value {
    json!({
        "outcome": m.outcome,
        "version": m.version,
        "sha256": m.files.first().map(|f| f.sha256.clone()),
        "kind": m.kind,
        "population": m.population,
        "baseline": m.training.baseline,
        "validation": m.metrics["validation"],
    })
}

fn card(m: &ModelManifest, synthetic: bool) -> Value {
    json!({
        "outcome": m.outcome,
        "version": m.version,
        "definition": m.definition,
        "intended_use": "Preoperative estimate for adults scheduled for spine surgery, to support (not replace) planning and counselling by clinicians.",
        "population": m.population,
        "kind": m.kind,
        "inputs": m.features,
        "files": m.files.iter().map(|f| json!({"role": f.role, "path": f.path, "sha256": f.sha256, "trees": f.num_trees})).collect::<Vec<_>>(),
        "training": m.training,
        "synthetic_training_data": synthetic,
        "calibration": m.calibration,
        "risk_bands": m.risk_bands,
        "metrics": m.metrics,
        "limitations": limitations(synthetic),
    })
}

fn limitations(synthetic: bool) -> Vec<&'static str> {
    let mut l = vec![
        "Answers only for its population; other patients get not_applicable.",
        "Missing inputs are not imputed: the model routes them as learned in training, and the answer lists them.",
    ];
    if synthetic {
        l.insert(0, "Trained on SYNTHETIC data (periop synth): not validated on real patients; do not use for patient care.");
    }
    l
}

fn markdown_card(m: &ModelManifest, synthetic: bool) -> String {
    let mut s = format!("# Model card: `{}` ({})\n\n", m.outcome, m.version);
    if synthetic {
        s.push_str("> **SYNTHETIC DATA.** Trained on data generated by `periop synth`; not validated on real patients.\n\n");
    }
    s.push_str(&format!(
        "**Definition:** {}\n\n**Population:** {}\n\n",
        m.definition, m.population
    ));
    s.push_str(&format!(
        "**Training:** {} rows ({} train, {} validation), baseline {:.4}\n\n",
        m.training.rows_total,
        m.training.rows_train,
        m.training.rows_validation,
        m.training.baseline
    ));
    s.push_str("## Files\n\n| role | file | SHA-256 | trees |\n|---|---|---|---|\n");
    for f in &m.files {
        s.push_str(&format!(
            "| {:?} | {} | `{}` | {} |\n",
            f.role, f.path, f.sha256, f.num_trees
        ));
    }
    s.push_str("\n## Risk bands\n\n| band | from | to |\n|---|---|---|\n");
    for b in &m.risk_bands {
        s.push_str(&format!("| {} | {} | {} |\n", b.name, b.lower, b.upper));
    }
    s.push_str(&format!(
        "\n## Validation (from training)\n\n```json\n{}\n```\n",
        serde_json::to_string_pretty(&m.metrics).unwrap_or_default()
    ));
    s.push_str("\n## Limitations\n\n");
    for l in limitations(synthetic) {
        s.push_str(&format!("- {l}\n"));
    }
    s
}
