//! The Markdown text of the quality report and the trend series its plots draw.

use std::fmt::Write;

use super::trend_svg::{Trend, TrendPoint, TrendSeries};
use super::{OutcomeSection, QualityReport, TOP_FEATURES};
use crate::evaluate::text::{cell, num, percent, with_ci};
use crate::outcomes::OutcomeKind;
use crate::service::drift::{PSI_MODERATE, SIGNIFICANCE};
use crate::service::performance::{GroupMetrics, GroupPerformance, PerformanceReport};

/// A missing-rate change (absolute, live − training) at or above this is listed under drift.
const MISSING_RATE_CHANGE: f64 = 0.10;

/// The value and interval a trend plots from one group's metrics.
type Pick = fn(&GroupMetrics) -> Option<(f64, Option<(f64, f64)>)>;

fn auc_of(m: &GroupMetrics) -> Option<(f64, Option<(f64, f64)>)> {
    match m {
        GroupMetrics::Binary(b) => b.auc.map(|a| (a, b.auc_ci)),
        GroupMetrics::Quantity(_) => None,
    }
}

fn slope_of(m: &GroupMetrics) -> Option<(f64, Option<(f64, f64)>)> {
    match m {
        GroupMetrics::Binary(b) => b.calibration.map(|c| (c.slope, Some(c.slope_ci))),
        GroupMetrics::Quantity(_) => None,
    }
}

fn intercept_of(m: &GroupMetrics) -> Option<(f64, Option<(f64, f64)>)> {
    match m {
        GroupMetrics::Binary(b) => b.calibration.map(|c| (c.intercept, Some(c.intercept_ci))),
        GroupMetrics::Quantity(_) => None,
    }
}

fn coverage_of(m: &GroupMetrics) -> Option<(f64, Option<(f64, f64)>)> {
    match m {
        GroupMetrics::Quantity(q) => q.coverage_80.is_finite().then_some((q.coverage_80, None)),
        GroupMetrics::Binary(_) => None,
    }
}

/// One series from a by-month report: the months of `months` that are not suppressed.
fn series(label: &str, by_month: &PerformanceReport, months: &[String], pick: Pick) -> TrendSeries {
    let points = by_month
        .groups
        .iter()
        .filter_map(|g| {
            let month = months.iter().position(|m| *m == g.group)?;
            let (value, ci) = g.metrics.as_ref().and_then(pick)?;
            Some(TrendPoint { month, value, ci })
        })
        .collect();
    TrendSeries {
        label: label.to_string(),
        points,
    }
}

/// The trend plots of one outcome, by file stem: AUC, calibration slope and intercept over the
/// months (binary outcomes), or 80 % interval coverage (blood loss); one line per site and one for
/// all sites.
pub fn trends(report: &QualityReport, s: &OutcomeSection) -> Vec<(&'static str, Trend)> {
    let months: Vec<String> = s.by_month.groups.iter().map(|g| g.group.clone()).collect();
    let plots: &[(&str, &str, Pick, Option<f64>)] = match s.outcome.kind() {
        OutcomeKind::Probability => &[
            ("auc", "AUC", auc_of, None),
            ("slope", "calibration slope", slope_of, Some(1.0)),
            (
                "intercept",
                "calibration intercept",
                intercept_of,
                Some(0.0),
            ),
        ],
        OutcomeKind::Quantity => &[("coverage", "80 % interval coverage", coverage_of, Some(0.8))],
    };
    plots
        .iter()
        .map(|&(stem, label, pick, reference)| {
            let mut lines = vec![series("all sites", &s.by_month, &months, pick)];
            for (site, by_month) in &s.by_site_month {
                lines.push(series(site, by_month, &months, pick));
            }
            let trend = Trend {
                title: format!("{}: {label} by month", s.outcome.id()),
                subtitle: format!(
                    "assessments {} to {} with a recorded outcome",
                    report.query.from.format("%Y-%m-%d"),
                    report.query.to.format("%Y-%m-%d")
                ),
                y_label: label.to_string(),
                months: months.clone(),
                series: lines,
                reference,
                synthetic: report.query.synthetic,
            };
            (stem, trend)
        })
        .collect()
}

fn metrics_cells(g: &GroupPerformance) -> String {
    if g.suppressed {
        return format!(
            "| {} | {} | suppressed (n < minimum) | | | | |",
            cell(&g.group),
            g.n
        );
    }
    match &g.metrics {
        Some(GroupMetrics::Binary(b)) => {
            let cal = b.calibration;
            let brier_ece = format!("{} / {}", num(Some(b.brier), 4), num(b.ece, 4));
            format!(
                "| {} | {} | {} | {} | {} | {} | {} |",
                cell(&g.group),
                g.n,
                b.events,
                with_ci(b.auc, b.auc_ci, 3),
                with_ci(cal.map(|c| c.slope), cal.map(|c| c.slope_ci), 2),
                with_ci(cal.map(|c| c.intercept), cal.map(|c| c.intercept_ci), 2),
                brier_ece,
            )
        }
        Some(GroupMetrics::Quantity(q)) => format!(
            "| {} | {} | — | MAE {} mL | coverage {} | | |",
            cell(&g.group),
            g.n,
            with_ci(Some(q.median_absolute_error), q.median_absolute_error_ci, 0),
            percent(q.coverage_80),
        ),
        None => format!("| {} | {} | no estimate | | | | |", cell(&g.group), g.n),
    }
}

fn performance_table(s: &mut String, r: &PerformanceReport, first_column: &str) {
    let _ = writeln!(
        s,
        "| {first_column} | n | events | AUC [95 % CI] | slope [95 % CI] | intercept [95 % CI] | Brier / ECE |"
    );
    let _ = writeln!(s, "|---|---:|---:|---|---|---|---|");
    let _ = writeln!(s, "{}", metrics_cells(&r.all));
    for g in &r.groups {
        let _ = writeln!(s, "{}", metrics_cells(g));
    }
    let flagged: Vec<String> = r
        .groups
        .iter()
        .flat_map(|g| {
            g.fairness
                .iter()
                .filter(|f| f.flagged)
                .map(move |f| format!("{} {} ratio {}", g.group, f.metric, num(f.ratio, 2)))
        })
        .collect();
    if let Some((reference, _)) = &r.reference {
        let _ = writeln!(
            s,
            "\nFairness ratios against `{}` outside [0.8, 1.25]: {}.",
            cell(reference),
            if flagged.is_empty() {
                "none".to_string()
            } else {
                cell(&flagged.join("; "))
            }
        );
    }
}

fn outcome_section(s: &mut String, report: &QualityReport, o: &OutcomeSection) {
    let id = o.outcome.id();
    let _ = writeln!(s, "\n## {id}\n");
    let _ = writeln!(
        s,
        "{} assessments with a recorded outcome, {} without one (not used); groups of fewer than {} are suppressed.\n",
        o.by_site.with_outcome, o.by_site.without_outcome, o.by_site.settings.min_group_size
    );
    let _ = writeln!(s, "### By site\n");
    performance_table(s, &o.by_site, "site");
    let _ = writeln!(s, "\n### Over time\n");
    for (stem, trend) in trends(report, o) {
        let _ = writeln!(s, "![{}]({stem}-{id}.svg)", trend.title);
    }
    let _ = writeln!(s);
    performance_table(s, &o.by_month, "month");
    let e = &o.explanations;
    let _ = writeln!(s, "\n### Top features (mean |SHAP|, raw scale)\n");
    let _ = writeln!(
        s,
        "{} assessments explained, {} answered without explanations (not counted); {} explanations dominated by missing inputs.\n",
        e.with_shap, e.without_shap, e.missing_dominated.count
    );
    if e.with_shap > 0 {
        let _ = writeln!(s, "![top features of {id}](features-{id}.svg)\n");
        let _ = writeln!(
            s,
            "| rank | feature | mean abs SHAP | mean SHAP | missing |"
        );
        let _ = writeln!(s, "|---:|---|---:|---:|---:|");
        for f in e.features.iter().take(TOP_FEATURES) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                f.rank,
                cell(&f.feature),
                num(Some(f.mean_abs_shap), 4),
                num(Some(f.mean_shap), 4),
                percent(f.missing_rate)
            );
        }
    }
}

fn drift_section(s: &mut String, report: &QualityReport) {
    let d = &report.drift;
    let _ = writeln!(s, "\n## Drift against the training data\n");
    if d.months.is_empty() {
        let _ = writeln!(s, "No assessments in the window.");
        return;
    }
    let mut listed = 0;
    let _ = writeln!(
        s,
        "Inputs with PSI ≥ {PSI_MODERATE} (or a Benjamini–Hochberg q < {SIGNIFICANCE} over the month's input tests), or a missing rate {} points or more away from training:\n",
        MISSING_RATE_CHANGE * 100.0
    );
    let _ = writeln!(
        s,
        "| month | assessments | input | PSI | shift | test p | q | missing (training) |"
    );
    let _ = writeln!(s, "|---|---:|---|---:|---|---:|---:|---|");
    for m in &d.months {
        for f in &m.features {
            let missing_moved =
                (f.missing_rate - f.training_missing_rate).abs() >= MISSING_RATE_CHANGE;
            let shifted = f.psi.is_some_and(|p| p >= PSI_MODERATE)
                || f.q_value.is_some_and(|q| q < SIGNIFICANCE);
            if !(missing_moved || shifted) {
                continue;
            }
            listed += 1;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} ({}) |",
                m.month,
                m.assessments,
                cell(&f.feature),
                num(f.psi, 3),
                f.shift.map_or("—", |x| x.as_str()),
                num(f.test.map(|t| t.p_value()), 4),
                num(f.q_value, 4),
                percent(f.missing_rate),
                percent(f.training_missing_rate)
            );
        }
    }
    if listed == 0 {
        let _ = writeln!(s, "| — | | none | | | | | |");
    }
    let _ = writeln!(
        s,
        "\nPredictions by month (mean against the cohort baseline; PSI against the first month):\n"
    );
    let _ = writeln!(
        s,
        "| month | outcome | n | mean | mean / baseline | PSI | shift |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---|");
    for m in &d.months {
        for p in &m.predictions {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                m.month,
                cell(&p.outcome),
                p.n,
                num(Some(p.mean), 4),
                num(p.mean_over_baseline, 2),
                num(p.psi, 3),
                p.shift.map_or("—", |x| x.as_str())
            );
        }
    }
}

fn overrides_section(s: &mut String, report: &QualityReport) {
    let o = &report.overrides;
    let _ = writeln!(s, "\n## CDS Hooks cards accepted and overridden\n");
    if o.totals.accepted + o.totals.overridden == 0 {
        let _ = writeln!(s, "No feedback on cards in the window.");
        return;
    }
    let _ = writeln!(
        s,
        "{} accepted, {} overridden ({} without a reason).\n",
        o.totals.accepted, o.totals.overridden, o.totals.without_reason
    );
    let _ = writeln!(s, "| recommendation | accepted | overridden | top reason |");
    let _ = writeln!(s, "|---|---:|---:|---|");
    for r in &o.recommendations {
        let top = r.counts.reasons.first().map_or("—".to_string(), |x| {
            format!("{} ({})", x.display.as_deref().unwrap_or(&x.code), x.count)
        });
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            cell(&r.id),
            r.counts.accepted,
            r.counts.overridden,
            cell(&top)
        );
    }
}

/// The Markdown report.
pub fn report(report: &QualityReport) -> String {
    let q = &report.query;
    let mut s = String::new();
    let _ = writeln!(s, "# periop quality report\n");
    if q.synthetic {
        let _ = writeln!(
            s,
            "> **SYNTHETIC DATA.** The served model set was trained on a synthetic cohort: these figures describe the software, not any real patient population.\n"
        );
    }
    let _ = writeln!(
        s,
        "Assessments made from {} to {} (exclusive), read from `{}`; written {}. Aggregates only: no assessment id or patient input appears here.\n",
        q.from.to_rfc3339(),
        q.to.to_rfc3339(),
        cell(&q.store),
        q.generated_at.to_rfc3339()
    );
    let _ = writeln!(s, "Model sets that answered:\n");
    for m in &report.drift.model_sets {
        let _ = writeln!(
            s,
            "- `{}` version `{}`: {} assessments",
            cell(&m.model_set.id),
            cell(&m.model_set.version),
            m.assessments
        );
    }
    let _ = writeln!(s, "\n## Summary\n");
    let _ = writeln!(
        s,
        "| outcome | n | events | AUC [95 % CI] | slope [95 % CI] | intercept [95 % CI] | Brier / ECE |"
    );
    let _ = writeln!(s, "|---|---:|---:|---|---|---|---|");
    for o in &report.outcomes {
        let row = GroupPerformance {
            group: o.outcome.id().to_string(),
            ..o.by_site.all.clone()
        };
        let _ = writeln!(s, "{}", metrics_cells(&row));
    }
    if report.outcomes.is_empty() {
        let _ = writeln!(s, "| no outcome predicted in the window | | | | | | |");
    }
    let _ = writeln!(
        s,
        "\nCIs: AUC by percentile bootstrap, calibration by Wald intervals (docs/api.md, \"Model performance\"). A slope below 1 means predictions too extreme, above 1 too moderate; an intercept above 0 means the model under-predicts."
    );
    for o in &report.outcomes {
        outcome_section(&mut s, report, o);
    }
    drift_section(&mut s, report);
    overrides_section(&mut s, report);
    s
}
