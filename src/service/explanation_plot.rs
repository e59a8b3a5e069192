//! The explanation audit's plots as SVG (`GET /v1/quality/explanations.svg`): a bar chart of mean
//! |SHAP| per feature and a beeswarm (one dot per assessment per top feature, x = its SHAP value,
//! colour = the rank of the feature's value among the window's assessments, hollow grey =
//! missing).
//!
//! Drawn by hand in the style of the evaluation report's reliability plot (`evaluate::svg`: white
//! background, sans-serif 12 px, black frame and ticks, tooltips with the exact numbers).
//! shap-rs's `global_bar`/`beeswarm` would draw from an `Explanation`, but colour dots by a two-
//! colour min–max split without a legend, have no `<title>`/`<desc>` for screen readers and no
//! way to state a subsample, which this audit needs. Every text is black or #444444 on white
//! (contrast 21:1 and 9.7:1, above WCAG's 4.5:1).

use std::fmt::Write;

use super::explanation_audit::ExplanationAudit;
use super::types::Scale;

/// At most this many dots per feature in the beeswarm; larger windows show every k-th assessment
/// of the audit's kept sample (record order), and the plot says how many it shows of all.
pub const MAX_DOTS_PER_FEATURE: usize = 1000;

const WIDTH: f64 = 900.0;
const LEFT: f64 = 260.0;
const RIGHT: f64 = 60.0;
const TOP: f64 = 90.0;
const ROW: f64 = 30.0;
const TEXT: &str = "#000000";
const MUTED: &str = "#444444";

/// Escapes text for XML character data and attribute values.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn scale_name(scale: Option<Scale>) -> &'static str {
    match scale {
        Some(Scale::LogMl) => "ln mL",
        _ => "log-odds",
    }
}

fn window(a: &ExplanationAudit) -> String {
    let site = a
        .site
        .as_deref()
        .map_or_else(|| "all sites".to_string(), |s| format!("site {s}"));
    format!(
        "{} to {}, {site}",
        crate::clock::created_at_text(&a.from),
        crate::clock::created_at_text(&a.to)
    )
}

fn open(s: &mut String, height: f64, title: &str, desc: &str) {
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12" role="img" aria-labelledby="plot-title plot-desc">"#
    );
    let _ = writeln!(s, r#"<title id="plot-title">{}</title>"#, xml(title));
    let _ = writeln!(s, r#"<desc id="plot-desc">{}</desc>"#, xml(desc));
    let _ = writeln!(
        s,
        r##"<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="26" text-anchor="middle" font-size="15" font-weight="bold" fill="{TEXT}">{}</text>"#,
        WIDTH / 2.0,
        xml(title)
    );
}

/// Ticks of `[lo, hi]` at a "nice" step (about five).
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(raw);
    // Multiples of the step (not a running sum, which accumulates rounding error).
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            // 0.6000000000000001 → 0.6: round to the step's decimals.
            let digits = (-mag.log10()).max(0.0) as i32 + 2;
            let f = 10f64.powi(digits);
            (v * f).round() / f
        })
        .collect()
}

fn axis(
    s: &mut String,
    lo: f64,
    hi: f64,
    x: impl Fn(f64) -> f64,
    top: f64,
    bottom: f64,
    caption: &str,
) {
    for v in ticks(lo, hi) {
        let px = x(v);
        let _ = writeln!(
            s,
            r##"<line x1="{px:.2}" y1="{top}" x2="{px:.2}" y2="{bottom}" stroke="#e0e0e0"/><line x1="{px:.2}" y1="{bottom}" x2="{px:.2}" y2="{}" stroke="#000000"/><text x="{px:.2}" y="{}" text-anchor="middle" fill="{TEXT}">{}</text>"##,
            bottom + 6.0,
            bottom + 20.0,
            trim(v)
        );
    }
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{bottom}" x2="{}" y2="{bottom}" stroke="#000000"/>"##,
        WIDTH - RIGHT
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle" fill="{TEXT}">{}</text>"#,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        bottom + 40.0,
        xml(caption)
    );
}

/// A tick label without trailing zeros.
fn trim(v: f64) -> String {
    let t = format!("{v:.3}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    if t == "-0" {
        "0".to_string()
    } else {
        t.to_string()
    }
}

/// Bar chart of the `top` features by mean |SHAP| (every feature when fewer).
pub fn bar_svg(a: &ExplanationAudit, top: usize) -> String {
    let shown: Vec<_> = a.features.iter().take(top).collect();
    let height = TOP + ROW * shown.len().max(1) as f64 + 90.0;
    let title = format!("Mean |SHAP| per feature: {}", a.outcome);
    let list: Vec<String> = shown
        .iter()
        .map(|f| format!("{} {:.4}", f.feature, f.mean_abs_shap))
        .collect();
    let desc = format!(
        "Horizontal bar chart of the mean absolute SHAP value ({}) of the {} most influential features of {} over {} explained assessments ({}; {} more without stored SHAP values). Largest first: {}.",
        scale_name(a.scale),
        shown.len(),
        a.outcome,
        a.with_shap,
        window(a),
        a.without_shap,
        list.join("; ")
    );
    let mut s = String::new();
    open(&mut s, height, &title, &desc);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="48" text-anchor="middle" fill="{MUTED}">{}; {} explained assessments, {} without SHAP</text>"#,
        WIDTH / 2.0,
        xml(&window(a)),
        a.with_shap,
        a.without_shap
    );
    let max = shown.first().map_or(1.0, |f| f.mean_abs_shap).max(1e-12);
    let span = WIDTH - LEFT - RIGHT;
    let x = |v: f64| LEFT + v / max * span;
    let bottom = TOP + ROW * shown.len().max(1) as f64;
    axis(
        &mut s,
        0.0,
        max,
        x,
        TOP,
        bottom,
        &format!("mean |SHAP| ({})", scale_name(a.scale)),
    );
    for (i, f) in shown.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let w = (f.mean_abs_shap / max * span).max(0.0);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{:.2}" text-anchor="end" dominant-baseline="middle" fill="{TEXT}">{}</text>"#,
            LEFT - 8.0,
            y + ROW / 2.0,
            xml(&f.feature)
        );
        let _ = writeln!(
            s,
            r##"<rect class="bar" data-feature="{}" x="{LEFT}" y="{:.2}" width="{w:.2}" height="{:.2}" fill="#1f77b4"><title>{}: mean |SHAP| {:.5}, mean SHAP {:+.5}, missing in {:.1} %</title></rect>"##,
            xml(&f.feature),
            y + ROW * 0.2,
            ROW * 0.6,
            xml(&f.feature),
            f.mean_abs_shap,
            f.mean_shap,
            f.missing_rate * 100.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.2}" y="{:.2}" dominant-baseline="middle" fill="{TEXT}" font-size="11">{:.4}</text>"#,
            (LEFT + w + 5.0).min(WIDTH - RIGHT + 5.0),
            y + ROW / 2.0,
            f.mean_abs_shap
        );
    }
    if shown.is_empty() {
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle" fill="{MUTED}">No explained assessment in the window.</text>"#,
            WIDTH / 2.0,
            TOP + ROW / 2.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Colour of a value rank in `[0, 1]`: blue (low) to red (high) through purple, never near
/// white (dots stay visible on the white background).
fn rank_colour(q: f64) -> String {
    let q = if q.is_finite() {
        q.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let (lo, hi) = ((33.0, 102.0, 172.0), (178.0, 24.0, 43.0));
    let mix = |a: f64, b: f64| (a + (b - a) * q).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(lo.0, hi.0),
        mix(lo.1, hi.1),
        mix(lo.2, hi.2)
    )
}

/// Mid-ranks of the present values scaled to `[0, 1]` (`NaN` stays `NaN`; a single value → 0.5).
fn value_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).filter(|&i| !values[i].is_nan()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let n = order.len();
    let mut out = vec![f64::NAN; values.len()];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0;
        for &k in &order[i..=j] {
            out[k] = if n > 1 { mid / (n - 1) as f64 } else { 0.5 };
        }
        i = j + 1;
    }
    out
}

/// Beeswarm of the `top` features by mean |SHAP|.
pub fn beeswarm_svg(a: &ExplanationAudit, top: usize) -> String {
    let shown: Vec<_> = a.features.iter().take(top).collect();
    let step = a.rows.len().div_ceil(MAX_DOTS_PER_FEATURE).max(1);
    let sample: Vec<usize> = (0..a.rows.len()).step_by(step).collect();
    let height = TOP + ROW * 1.4 * shown.len().max(1) as f64 + 110.0;
    let row_h = ROW * 1.4;
    let title = format!("SHAP values per assessment: {}", a.outcome);
    // One dot per `one_in` explained assessments: the audit's own sample stride times ours.
    let one_in = a.row_stride.max(1) * step as u64;
    let thinning = if one_in > 1 {
        format!(
            " Showing one in {one_in} of {} explained assessments ({} dots per feature).",
            a.with_shap,
            sample.len()
        )
    } else {
        String::new()
    };
    let names: Vec<&str> = shown.iter().map(|f| f.feature.as_str()).collect();
    let desc = format!(
        "Beeswarm plot of {} ({}): one dot per explained assessment for each of the {} most influential features ({}); horizontal position is the SHAP value ({}), colour the rank of the feature's value among these assessments from blue (lowest) to red (highest), hollow grey dots are missing values.{thinning}",
        a.outcome,
        window(a),
        shown.len(),
        names.join(", "),
        scale_name(a.scale)
    );
    let mut s = String::new();
    open(&mut s, height, &title, &desc);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="48" text-anchor="middle" fill="{MUTED}">{}; {} explained assessments{}</text>"#,
        WIDTH / 2.0,
        xml(&window(a)),
        a.with_shap,
        if one_in > 1 {
            format!(", one in {one_in} shown")
        } else {
            String::new()
        }
    );
    let columns: Vec<usize> = shown
        .iter()
        .filter_map(|f| a.feature_names.iter().position(|n| *n == f.feature))
        .collect();
    let extent = columns
        .iter()
        .flat_map(|&j| sample.iter().map(move |&i| a.rows[i].shap[j].abs()))
        .fold(0.0, f64::max)
        .max(1e-6);
    let span = WIDTH - LEFT - RIGHT;
    let x = |v: f64| LEFT + (v + extent) / (2.0 * extent) * span;
    let bottom = TOP + row_h * shown.len().max(1) as f64;
    axis(
        &mut s,
        -extent,
        extent,
        x,
        TOP,
        bottom,
        &format!(
            "SHAP value ({}); right of 0 raises the prediction",
            scale_name(a.scale)
        ),
    );
    let _ = writeln!(
        s,
        r##"<line x1="{:.2}" y1="{TOP}" x2="{:.2}" y2="{bottom}" stroke="#888888"/>"##,
        x(0.0),
        x(0.0)
    );
    for (r, (&j, f)) in columns.iter().zip(&shown).enumerate() {
        let cy = TOP + row_h * (r as f64 + 0.5);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{cy:.2}" text-anchor="end" dominant-baseline="middle" fill="{TEXT}">{}</text>"#,
            LEFT - 8.0,
            xml(&f.feature)
        );
        let values: Vec<f64> = sample.iter().map(|&i| a.rows[i].values[j]).collect();
        let ranks = value_ranks(&values);
        // Stack dots that share a 3 px column alternately above and below the row's centre.
        let mut stacks: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
        let _ = writeln!(s, r#"<g data-feature="{}">"#, xml(&f.feature));
        for (k, &i) in sample.iter().enumerate() {
            let phi = a.rows[i].shap[j];
            let px = x(phi);
            let count = stacks.entry((px / 3.0).round() as i64).or_default();
            let level = (*count).div_ceil(2) as f64 * if *count % 2 == 1 { -1.0 } else { 1.0 };
            *count += 1;
            let max_level = (row_h * 0.45 / 2.2).floor().max(1.0);
            let dy = level.clamp(-max_level, max_level) * 2.2;
            let v = values[k];
            let (fill, stroke) = if v.is_nan() {
                ("none".to_string(), "#888888".to_string())
            } else {
                (rank_colour(ranks[k]), "none".to_string())
            };
            let shown_value = if v.is_nan() {
                "missing".to_string()
            } else {
                format!("{v}")
            };
            let _ = writeln!(
                s,
                r#"<circle cx="{px:.2}" cy="{:.2}" r="2.5" fill="{fill}" stroke="{stroke}" fill-opacity="0.8"><title>{}: SHAP {phi:+.4}, value {}</title></circle>"#,
                cy + dy,
                xml(&a.rows[i].assessment_id),
                xml(&shown_value)
            );
        }
        s.push_str("</g>\n");
    }
    // Legend: the colour ramp and the missing marker.
    let ly = bottom + 62.0;
    let _ = writeln!(
        s,
        r#"<defs><linearGradient id="rank-ramp"><stop offset="0" stop-color="{}"/><stop offset="1" stop-color="{}"/></linearGradient></defs>"#,
        rank_colour(0.0),
        rank_colour(1.0)
    );
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="{}" fill="{TEXT}">feature value: low</text><rect x="{}" y="{}" width="120" height="10" fill="url(#rank-ramp)"/><text x="{}" y="{}" fill="{TEXT}">high</text><circle cx="{}" cy="{}" r="3" fill="none" stroke="#888888"/><text x="{}" y="{}" fill="{TEXT}">missing</text>"##,
        ly + 9.0,
        LEFT + 118.0,
        ly,
        LEFT + 244.0,
        ly + 9.0,
        LEFT + 300.0,
        ly + 5.0,
        LEFT + 308.0,
        ly + 9.0
    );
    if shown.is_empty() {
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle" fill="{MUTED}">No explained assessment in the window.</text>"#,
            WIDTH / 2.0,
            TOP + ROW / 2.0
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::service::explanation_audit::{ExplainedRow, FeatureImportance, MissingDominated};

    fn audit(rows: usize) -> ExplanationAudit {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let rows: Vec<ExplainedRow> = (0..rows)
            .map(|i| ExplainedRow {
                assessment_id: format!("id-{i}"),
                shap: vec![i as f64 / 10.0 - 1.0, 0.1],
                values: vec![i as f64, if i % 2 == 0 { f64::NAN } else { 1.0 }],
            })
            .collect();
        ExplanationAudit {
            outcome: "dvt".into(),
            from: t("2026-03-01T00:00:00Z"),
            to: t("2026-04-01T00:00:00Z"),
            site: Some("a<b".into()),
            scale: Some(Scale::LogOdds),
            assessments: rows.len() as u64,
            with_shap: rows.len() as u64,
            without_shap: 0,
            not_predicted: 0,
            row_stride: 1,
            features: vec![
                FeatureImportance {
                    feature: "age_years".into(),
                    rank: 1,
                    mean_abs_shap: 0.5,
                    mean_shap: 0.0,
                    missing_rate: 0.0,
                },
                FeatureImportance {
                    feature: "albumin_g_dl".into(),
                    rank: 2,
                    mean_abs_shap: 0.1,
                    mean_shap: 0.1,
                    missing_rate: 0.5,
                },
            ],
            missing_dominated: MissingDominated {
                count: 0,
                assessment_ids: Vec::new(),
                truncated: false,
            },
            unreadable: 0,
            feature_names: vec!["age_years".into(), "albumin_g_dl".into()],
            rows,
        }
    }

    #[test]
    fn bars_one_per_feature_shown_with_title_and_desc() {
        let a = audit(20);
        let svg = bar_svg(&a, 1);
        assert_eq!(svg.matches(r#"class="bar""#).count(), 1);
        assert_eq!(bar_svg(&a, 10).matches(r#"class="bar""#).count(), 2);
        assert!(
            svg.contains("<title id=\"plot-title\">") && svg.contains("<desc id=\"plot-desc\">")
        );
        assert!(svg.contains("site a&lt;b"));
    }

    #[test]
    fn beeswarm_has_a_dot_per_assessment_per_feature_and_thins_large_windows() {
        let svg = beeswarm_svg(&audit(20), 2);
        assert_eq!(
            svg.matches("<circle").count(),
            20 * 2 + 1,
            "dots plus the legend marker"
        );
        assert_eq!(
            svg.matches(r##"stroke="#888888" fill-opacity"##).count(),
            10,
            "missing hollow"
        );
        let big = beeswarm_svg(&audit(2500), 1);
        assert_eq!(big.matches("<circle").count(), 834 + 1);
        assert!(big.contains("one in 3 shown"));
    }

    #[test]
    fn ranks_and_colours() {
        let r = value_ranks(&[3.0, f64::NAN, 1.0, 3.0, 2.0]);
        assert_eq!(r[2], 0.0);
        assert!(r[1].is_nan());
        assert_eq!(r[0], 2.5 / 3.0);
        assert_eq!(r[0], r[3]);
        assert_eq!(rank_colour(0.0), "#2166ac");
        assert_eq!(rank_colour(1.0), "#b2182b");
        assert_eq!(ticks(0.0, 1.0), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
    }
}
