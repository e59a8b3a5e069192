//! The quality committee's report (`periop quality report`): Markdown and SVG files built from
//! the audit store by the same use cases the quality API serves — model performance
//! ([`crate::service::performance`]), drift ([`crate::service::drift`]), the explanation audit
//! ([`crate::service::explanation_audit`]) and CDS Hooks overrides
//! ([`crate::service::overrides`]) — so a number in the report is the number the API answers for
//! the same window.
//!
//! An adapter like `ehr` (it only renders what the services compute), hence its own layer above
//! them. The report holds aggregates only: no assessment id, no input of any patient, so writing
//! it is not a patient-level read (the store is opened read-only and nothing is recorded).
//!
//! Cost: one store scan per outcome for the performance by site, one more per site and outcome for
//! the months of that site, one per outcome for the explanations and one for drift (each scan reads
//! the window's assessment records; `docs/quality.md` has the figures).

mod markdown;
pub mod trend_svg;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::audit::AuditStore;
use crate::model::training_distribution::TrainingDistribution;
use crate::outcomes::Outcome;
use crate::service::drift::{drift_report, DriftQuery, DriftReport};
use crate::service::explanation_audit::{explanation_audit, ExplanationAudit, ExplanationQuery};
use crate::service::explanation_plot::bar_svg;
use crate::service::overrides::{override_summary, OverrideSummary};
use crate::service::performance::{
    performance, GroupBy, PerformanceQuery, PerformanceReport, PerformanceSettings,
};
use crate::service::quality_rows::QualityQuery;
use crate::service::ServiceError;

/// Features shown in the "top features" tables and bar plots.
pub const TOP_FEATURES: usize = 10;

/// File name of the Markdown report inside the output directory.
pub const REPORT_FILE: &str = "README.md";

/// What the report covers.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    /// Window start (assessment `created_at`), inclusive.
    pub from: DateTime<Utc>,
    /// Window end, exclusive.
    pub to: DateTime<Utc>,
    /// Outcomes to report (every outcome when empty).
    pub outcomes: Vec<Outcome>,
    /// Safe-to-print description of the store (never a password).
    pub store: String,
    /// `true` when the served model set was trained on synthetic data.
    pub synthetic: bool,
    /// When the report is written.
    pub generated_at: DateTime<Utc>,
}

/// One outcome's part of the report.
#[derive(Debug, Clone)]
pub struct OutcomeSection {
    pub outcome: Outcome,
    /// Every site's row (and "all").
    pub by_site: PerformanceReport,
    /// Per site with enough rows: the same site by month.
    pub by_site_month: Vec<(String, PerformanceReport)>,
    /// All sites by month.
    pub by_month: PerformanceReport,
    pub explanations: ExplanationAudit,
}

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct QualityReport {
    pub query: ReportQuery,
    pub outcomes: Vec<OutcomeSection>,
    pub drift: DriftReport,
    pub overrides: OverrideSummary,
}

/// A report that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Computes the report of `query` from the store.
///
/// # Errors
/// [`ReportError::Service`] for a reversed window or a store failure.
pub fn compute(
    store: &dyn AuditStore,
    training: Option<&TrainingDistribution>,
    query: ReportQuery,
    settings: &PerformanceSettings,
) -> Result<QualityReport, ReportError> {
    let outcomes = if query.outcomes.is_empty() {
        Outcome::ALL.to_vec()
    } else {
        query.outcomes.clone()
    };
    let mut sections = Vec::new();
    for outcome in outcomes {
        let rows = QualityQuery {
            outcome,
            from: query.from,
            to: query.to,
            site: None,
        };
        let by = |rows: QualityQuery, group_by| PerformanceQuery {
            rows,
            group_by: Some(group_by),
            reference: None,
        };
        let by_site = performance(store, &by(rows.clone(), GroupBy::Site), settings)?;
        if by_site.with_outcome == 0 && by_site.without_outcome == 0 {
            // Not predicted in the window: nothing to show, said once in the summary.
            continue;
        }
        let by_month = performance(store, &by(rows.clone(), GroupBy::Month), settings)?;
        let sites: BTreeSet<String> = by_site
            .groups
            .iter()
            .filter(|g| !g.suppressed)
            .map(|g| g.group.clone())
            .collect();
        let mut by_site_month = Vec::new();
        for site in sites {
            let one = QualityQuery {
                site: Some(site.clone()),
                ..rows.clone()
            };
            by_site_month.push((
                site,
                performance(store, &by(one, GroupBy::Month), settings)?,
            ));
        }
        let explanations = explanation_audit(
            store,
            &ExplanationQuery {
                outcome: outcome.id().to_string(),
                from: query.from,
                to: query.to,
                site: None,
            },
        )?;
        sections.push(OutcomeSection {
            outcome,
            by_site,
            by_site_month,
            by_month,
            explanations,
        });
    }
    let drift = drift_report(
        store,
        training,
        &DriftQuery {
            from: query.from,
            to: query.to,
            site: None,
            outcome: None,
        },
    )?;
    let overrides = override_summary(store, query.from, query.to)?;
    Ok(QualityReport {
        query,
        outcomes: sections,
        drift,
        overrides,
    })
}

/// Writes `README.md` and the SVG plots into `out` (created if needed); returns the files written.
///
/// # Errors
/// [`ReportError::Write`] naming the file.
pub fn write(report: &QualityReport, out: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Write { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut files: Vec<(String, String)> = Vec::new();
    for section in &report.outcomes {
        let id = section.outcome.id();
        for (name, trend) in markdown::trends(report, section) {
            files.push((format!("{name}-{id}.svg"), trend_svg::trend_svg(&trend)));
        }
        if section.explanations.with_shap > 0 {
            files.push((
                format!("features-{id}.svg"),
                bar_svg(&section.explanations, TOP_FEATURES),
            ));
        }
    }
    files.push((REPORT_FILE.to_string(), markdown::report(report)));
    let mut written = Vec::new();
    for (name, text) in files {
        let path = out.join(&name);
        std::fs::write(&path, text).map_err(io(&path))?;
        written.push(path);
    }
    Ok(written)
}
