//! The assessment use case: the one path every surface calls (REST single and batch, `periop
//! score`, rules evaluation, and the EHR adapters and web page to come).
//!
//! validate once → prepared patient (derived features and model row computed once) → predict
//! and explain (each model once per batch) → rules (the active set, taken once per call) →
//! answer → audit record → durable append (a batch in one transaction) → the answer's exact
//! bytes. Nothing is acknowledged before its record is durable; adapters only translate.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::answer::{compose, facts};
use super::error::ServiceError;
use super::model_sets::{ModelHolder, Serving};
use super::predict::predict_jobs;
use super::provenance::{redact_input, ProvenancePolicy};
use super::record::Caller;
use super::request::{parse_request, validate, PatientJob};
use super::sharpen::{missing_input_ranges, MissingInputRanges};
use super::types::{Assessment, AssessmentRequest, PredictionView};
use crate::audit::AuditStore;
use crate::clock::now_millis;
use crate::model::ensemble::ModelSet;
use crate::rules::registry::RuleRegistry;
use crate::rules::{context, RuleSet};

/// Where the rule set of an answer comes from.
#[derive(Clone)]
pub enum RuleSource {
    /// No rules: answers carry no recommendations.
    Off,
    /// One fixed rule set (`periop score` uses the model set's shipped set).
    Fixed(Arc<RuleSet>),
    /// The registry's active set, taken once per call (the server).
    Registry(Arc<RuleRegistry>),
}

impl RuleSource {
    fn current(&self) -> Option<Arc<RuleSet>> {
        match self {
            Self::Off => None,
            Self::Fixed(r) => Some(r.clone()),
            Self::Registry(r) => Some(r.active().rules.clone()),
        }
    }
}

/// One recorded answer: its id and the exact bytes that were stored and are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub assessment_id: String,
    pub body: String,
}

/// The assessment use case over the answering model set (one [`Serving`] snapshot per call, so
/// an activation never splits a call), one rule source and (optionally) one store.
pub struct Assessor {
    models: Arc<ModelHolder>,
    rules: RuleSource,
    store: Option<Arc<dyn AuditStore>>,
    /// The configured sites and reference key (none by default).
    provenance: ProvenancePolicy,
}

impl Assessor {
    /// An assessor; `store: None` answers without recording (`periop score`).
    pub fn new(
        models: Arc<ModelSet>,
        rules: RuleSource,
        store: Option<Arc<dyn AuditStore>>,
    ) -> Self {
        Self::with_holder(Arc::new(ModelHolder::new(models)), rules, store)
    }

    /// An assessor answering with whatever set `holder` holds at each call (the server: the
    /// holder a `ModelSetRegistry` switches).
    pub fn with_holder(
        models: Arc<ModelHolder>,
        rules: RuleSource,
        store: Option<Arc<dyn AuditStore>>,
    ) -> Self {
        Self {
            models,
            rules,
            store,
            provenance: ProvenancePolicy::default(),
        }
    }

    /// The same assessor, checking sites and hashing references with `provenance`.
    pub fn with_provenance(mut self, provenance: ProvenancePolicy) -> Self {
        self.provenance = provenance;
        self
    }

    /// The configured sites and reference key.
    pub fn provenance(&self) -> &ProvenancePolicy {
        &self.provenance
    }

    /// Parses, validates and places one request body: the job and its audit input snapshot (raw
    /// references replaced by their hashes).
    fn job_of(
        &self,
        body: &Value,
        received: String,
        key_site: Option<&str>,
    ) -> Result<(PatientJob, String), ServiceError> {
        let request = parse_request(body)?;
        let origin = self.provenance.resolve(&request.origin, key_site);
        let (job, origin) = match (validate(&request), origin) {
            (Ok(job), Ok(origin)) => (job, origin),
            (job, origin) => {
                let mut errors = match job {
                    Err(ServiceError::Invalid(e)) => e,
                    Err(other) => return Err(other),
                    Ok(_) => Vec::new(),
                };
                errors.extend(origin.err().unwrap_or_default());
                return Err(ServiceError::Invalid(errors));
            }
        };
        let input = redact_input(body, received, &origin);
        Ok((job.with_origin(origin), input))
    }

    /// The model set that answers now (an activation may replace it for later calls).
    pub fn models(&self) -> Arc<ModelSet> {
        self.models.current().models.clone()
    }

    /// Answers prepared jobs without recording them (ids: UUID v4; one time for the batch).
    /// One result per job, in order.
    ///
    /// # Errors
    /// A model failure fails the whole batch.
    pub fn answer(&self, jobs: &[PatientJob]) -> Result<Vec<Assessment>, ServiceError> {
        self.answer_at(jobs, now_millis(), || uuid::Uuid::new_v4().to_string())
    }

    /// [`Assessor::answer`] with a given time and id source (reproducible answers for tests).
    ///
    /// # Errors
    /// As [`Assessor::answer`].
    pub fn answer_at(
        &self,
        jobs: &[PatientJob],
        created_at: DateTime<Utc>,
        mut new_id: impl FnMut() -> String,
    ) -> Result<Vec<Assessment>, ServiceError> {
        self.answer_with(&self.models.current(), jobs, created_at, &mut new_id)
    }

    /// Answers with one given model-set snapshot (the one its records will name).
    fn answer_with(
        &self,
        serving: &Serving,
        jobs: &[PatientJob],
        created_at: DateTime<Utc>,
        new_id: &mut dyn FnMut() -> String,
    ) -> Result<Vec<Assessment>, ServiceError> {
        let rules = self.rules.current();
        let views = predict_jobs(&serving.models, jobs)?;
        let mut answers: Vec<Assessment> = Vec::with_capacity(jobs.len());
        for (job, views) in jobs.iter().zip(views) {
            let ranges = if job.missing_input_ranges {
                let missing = super::inputs::inputs(&job.prepared).missing;
                Some(missing_ranges(&serving.models, job, &missing, &views)?)
            } else {
                None
            };
            answers.push(compose(
                &serving.basis,
                rules.as_deref(),
                job,
                views,
                ranges,
                new_id(),
                created_at,
            ));
        }
        for answer in &answers {
            for p in &answer.predictions {
                crate::telemetry::record_prediction(&p.outcome, p.status.as_str());
            }
        }
        Ok(answers)
    }

    /// Validates and answers one request without recording it.
    ///
    /// # Errors
    /// Invalid input or a model failure.
    pub fn answer_request(&self, request: &AssessmentRequest) -> Result<Assessment, ServiceError> {
        self.answer_request_at(request, uuid::Uuid::new_v4().to_string(), now_millis())
    }

    /// [`Assessor::answer_request`] with a given id and time (reproducible answers).
    ///
    /// # Errors
    /// As [`Assessor::answer_request`].
    pub fn answer_request_at(
        &self,
        request: &AssessmentRequest,
        assessment_id: String,
        created_at: DateTime<Utc>,
    ) -> Result<Assessment, ServiceError> {
        let job = validate(request)?;
        let mut id = Some(assessment_id);
        self.answer_at(std::slice::from_ref(&job), created_at, || {
            id.take().unwrap_or_default()
        })?
        .pop()
        .ok_or(ServiceError::Internal("no answer for the request"))
    }

    /// Validates and answers many requests together without recording them (each model runs
    /// once). One result per request, in order; a model failure is every request's error.
    pub fn answer_requests(
        &self,
        requests: &[AssessmentRequest],
    ) -> Vec<Result<Assessment, ServiceError>> {
        let validated: Vec<Result<PatientJob, ServiceError>> =
            requests.iter().map(validate).collect();
        let jobs: Vec<PatientJob> = validated
            .iter()
            .filter_map(|v| v.as_ref().ok().cloned())
            .collect();
        let mut answers = match self.answer(&jobs) {
            Ok(a) => Ok(a.into_iter()),
            Err(e) => Err(e),
        };
        validated
            .into_iter()
            .map(|v| {
                v?;
                match &mut answers {
                    Ok(it) => it
                        .next()
                        .ok_or(ServiceError::Internal("no answer for a request")),
                    Err(e) => Err(e.for_each_item()),
                }
            })
            .collect()
    }

    /// Assesses one request body and records the answer; returns it once durable.
    /// `received` is the body as it arrived (stored as the record's input).
    ///
    /// # Errors
    /// Invalid input, a model failure, or a store that cannot record (nothing acknowledged).
    pub fn assess(
        &self,
        body: &Value,
        received: String,
        caller: &Caller,
    ) -> Result<Recorded, ServiceError> {
        self.assess_from(body, received, caller, None)
    }

    /// [`Assessor::assess`] for a caller whose API key belongs to `key_site` (the answer's site
    /// unless the request names one, which must then be the same).
    ///
    /// # Errors
    /// As [`Assessor::assess`]; a site or reference problem is invalid input naming its member.
    pub fn assess_from(
        &self,
        body: &Value,
        received: String,
        caller: &Caller,
        key_site: Option<&str>,
    ) -> Result<Recorded, ServiceError> {
        let job = self.job_of(body, received, key_site)?;
        let mut recorded = self.record(vec![job], caller)?;
        recorded
            .pop()
            .ok_or(ServiceError::Internal("no answer for the request"))
    }

    /// Assesses a batch of request bodies: each item validated on its own (an invalid item is
    /// its own error), the valid ones predicted together and recorded in one durable
    /// transaction. One result per item, in order.
    ///
    /// # Errors
    /// A model failure or a store that cannot record fails the whole batch (nothing
    /// acknowledged).
    pub fn assess_batch(
        &self,
        items: &[Value],
        caller: &Caller,
    ) -> Result<Vec<Result<Recorded, ServiceError>>, ServiceError> {
        self.assess_batch_from(items, caller, None)
    }

    /// [`Assessor::assess_batch`] for a caller whose API key belongs to `key_site`.
    ///
    /// # Errors
    /// As [`Assessor::assess_batch`].
    pub fn assess_batch_from(
        &self,
        items: &[Value],
        caller: &Caller,
        key_site: Option<&str>,
    ) -> Result<Vec<Result<Recorded, ServiceError>>, ServiceError> {
        let mut slots: Vec<Result<usize, ServiceError>> = Vec::with_capacity(items.len());
        let mut jobs = Vec::new();
        for item in items {
            match self.job_of(item, item.to_string(), key_site) {
                Ok(job) => {
                    slots.push(Ok(jobs.len()));
                    jobs.push(job);
                }
                Err(e) => slots.push(Err(e)),
            }
        }
        let mut recorded = self
            .record(jobs, caller)?
            .into_iter()
            .map(Some)
            .collect::<Vec<_>>();
        Ok(slots
            .into_iter()
            .map(|slot| {
                let i = slot?;
                recorded[i]
                    .take()
                    .ok_or(ServiceError::Internal("no answer for a batch item"))
            })
            .collect())
    }

    /// Assesses one patient validated by an adapter (FHIR, CDS Hooks) and records the answer;
    /// `decorate` adds what the adapter delivers with it (`Assessment::delivery`) before the
    /// answer is serialised, so the record holds exactly what was sent. `received` is the input as
    /// it arrived (without credentials).
    ///
    /// # Errors
    /// A model failure or a store that cannot record (nothing acknowledged).
    pub fn assess_job(
        &self,
        job: PatientJob,
        received: String,
        caller: &Caller,
        decorate: &mut dyn FnMut(&mut Assessment),
    ) -> Result<Recorded, ServiceError> {
        self.record_with(vec![(job, received)], caller, decorate)?
            .pop()
            .ok_or(ServiceError::Internal("no answer for the request"))
    }

    /// Answers, records in one append and returns the stored bodies.
    fn record(
        &self,
        jobs: Vec<(PatientJob, String)>,
        caller: &Caller,
    ) -> Result<Vec<Recorded>, ServiceError> {
        self.record_with(jobs, caller, &mut |_| {})
    }

    /// [`Assessor::record`] with each answer decorated before it is serialised.
    fn record_with(
        &self,
        jobs: Vec<(PatientJob, String)>,
        caller: &Caller,
        decorate: &mut dyn FnMut(&mut Assessment),
    ) -> Result<Vec<Recorded>, ServiceError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let store = self
            .store
            .as_ref()
            .ok_or(ServiceError::Internal("this assessor has no audit store"))?;
        let (jobs, inputs): (Vec<PatientJob>, Vec<String>) = jobs.into_iter().unzip();
        let serving = self.models.current();
        let mut answers = self.answer_with(&serving, &jobs, now_millis(), &mut || {
            uuid::Uuid::new_v4().to_string()
        })?;
        answers.iter_mut().for_each(decorate);
        let mut records = Vec::with_capacity(answers.len());
        for ((answer, job), input) in answers.iter().zip(&jobs).zip(inputs) {
            let body = serde_json::to_string(answer)?;
            records.push(
                serving
                    .template
                    .record(answer, body, &job.prepared, input, caller),
            );
        }
        let stored = store.append_all(&records);
        stored
            .into_iter()
            .zip(records)
            .map(|(result, record)| {
                result?;
                Ok(Recorded {
                    assessment_id: record.assessment_id,
                    body: record.output,
                })
            })
            .collect()
    }

    /// A stored answer, byte for byte as it was sent.
    ///
    /// # Errors
    /// [`ServiceError::AssessmentNotFound`], or a store that cannot be read.
    pub fn stored(&self, assessment_id: &str) -> Result<String, ServiceError> {
        let store = self
            .store
            .as_ref()
            .ok_or(ServiceError::Internal("this assessor has no audit store"))?;
        store
            .get(assessment_id)?
            .filter(|s| s.record.kind == crate::audit::KIND_ASSESSMENT)
            .map(|s| s.record.output)
            .ok_or(ServiceError::AssessmentNotFound)
    }

    /// The waterfall SVG of one outcome's explanation in a stored answer (`None`: the answer has
    /// no explanation of that outcome), labelled synthetic when the answering set was.
    ///
    /// # Errors
    /// As [`Assessor::stored`], or a stored answer that no longer parses.
    pub fn stored_explanation_svg(
        &self,
        assessment_id: &str,
        outcome: &str,
    ) -> Result<Option<String>, ServiceError> {
        let body = self.stored(assessment_id)?;
        let answer: Assessment = serde_json::from_str(&body)
            .map_err(|_| super::backtest::Unreadable("the stored answer does not parse"))?;
        let synthetic = answer.answered_by_synthetic_set();
        Ok(answer
            .predictions
            .iter()
            .find(|p| p.outcome == outcome)
            .and_then(|p| super::explain::explanation_svg(p, synthetic)))
    }

    /// The rule context of a patient predicted now (every outcome, no explanations), as
    /// `POST /v1/rules/evaluate` and regression cases see it.
    ///
    /// # Errors
    /// Invalid patient or a model failure.
    pub fn rule_context_of(
        &self,
        patient: serde_json::Map<String, Value>,
    ) -> Result<Value, ServiceError> {
        let request = AssessmentRequest {
            patient,
            outcomes: None,
            explain: false,
            missing_input_ranges: false,
            origin: Default::default(),
        };
        rule_context(&self.models.current().models, &validate(&request)?)
    }
}

/// The missing-input ranges of one answered job (`service::sharpen`).
fn missing_ranges(
    models: &ModelSet,
    job: &PatientJob,
    missing: &[String],
    views: &[PredictionView],
) -> Result<MissingInputRanges, ServiceError> {
    let distribution = models.training_distribution();
    let plausible = |feature: &str| distribution.and_then(|d| d.plausible_values(feature));
    let plausible: Option<super::sharpen::PlausibleValues<'_>> =
        distribution.map(|_| &plausible as super::sharpen::PlausibleValues<'_>);
    missing_input_ranges(models, plausible, job, missing, views)
}

/// The rule context of one job: its prepared patient and its predictions made now.
///
/// # Errors
/// A model failure.
pub fn rule_context(models: &ModelSet, job: &PatientJob) -> Result<Value, ServiceError> {
    let views: Vec<PredictionView> = predict_jobs(models, std::slice::from_ref(job))?
        .pop()
        .unwrap_or_default();
    Ok(context::build(
        job.patient(),
        &job.prepared.derived,
        &facts(&views),
    ))
}
