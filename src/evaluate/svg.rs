//! Reliability plot of one probability model as a hand-written SVG (no plotting crate: the plot is
//! a frame, ticks, a diagonal and a handful of points, and plain SVG keeps the report free of
//! dependencies and byte-for-byte reproducible).
//!
//! Axes run 0–1 on both sides; each quantile bin is a point at (mean predicted, observed rate),
//! joined by a line, with marker area proportional to the bin's row count and a tooltip giving
//! the exact numbers. When every bin lies below 0.5 (rare outcomes crowd the origin) an inset in
//! the empty upper-left corner repeats the plot zoomed to `0–m` on both axes.

use std::fmt::Write;

use super::compute::BinaryMetrics;
use super::text::{num, xml};
use crate::metrics::Bin;

const WIDTH: f64 = 520.0;
const HEIGHT: f64 = 560.0;

/// A square plotting area showing `[0, max]` on both axes.
#[derive(Debug, Clone, Copy)]
struct Panel {
    left: f64,
    top: f64,
    size: f64,
    max: f64,
}

const MAIN: Panel = Panel {
    left: 80.0,
    top: 90.0,
    size: 400.0,
    max: 1.0,
};

impl Panel {
    fn x(self, p: f64) -> f64 {
        self.left + (p / self.max).clamp(0.0, 1.0) * self.size
    }

    fn y(self, p: f64) -> f64 {
        self.top + self.size - (p / self.max).clamp(0.0, 1.0) * self.size
    }
}

/// The zoom of the inset: the smallest "nice" bound above every bin, if the bins stay below 0.5.
fn zoom(bins: &[Bin]) -> Option<f64> {
    let top = bins
        .iter()
        .map(|b| b.upper.max(b.observed_rate))
        .fold(0.0, f64::max)
        * 1.1;
    [0.02, 0.05, 0.1, 0.2, 0.3, 0.5]
        .into_iter()
        .find(|&m| top <= m)
}

/// The reliability plot of a probability outcome.
pub fn reliability_svg(
    outcome: &str,
    model_version: &str,
    metrics: &BinaryMetrics,
    synthetic: bool,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r##"<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15" font-weight="bold">Reliability: {} ({})</text>"#,
        WIDTH / 2.0,
        xml(outcome),
        xml(model_version)
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="44" text-anchor="middle">n = {}, events = {}, {} quantile bins; slope {}, intercept {}</text>"#,
        WIDTH / 2.0,
        metrics.n,
        metrics.events,
        metrics.reliability.len(),
        num(metrics.calibration_slope, 2),
        num(metrics.calibration_intercept, 2)
    );
    if synthetic {
        let _ = writeln!(
            s,
            r##"<text x="{}" y="64" text-anchor="middle" fill="#b00020" font-weight="bold">SYNTHETIC DATA: not validated on real patients</text>"##,
            WIDTH / 2.0
        );
    }
    panel(&mut s, MAIN, &metrics.reliability, 5, 2.5, 6.5);
    axis_titles(&mut s);
    if let Some(max) = zoom(&metrics.reliability) {
        let inset = Panel {
            left: MAIN.left + 45.0,
            top: MAIN.top + 15.0,
            size: 170.0,
            max,
        };
        let _ = writeln!(
            s,
            r##"<rect x="{}" y="{}" width="{}" height="{}" fill="#ffffff" stroke="none"/>"##,
            inset.left - 40.0,
            inset.top - 5.0,
            inset.size + 50.0,
            inset.size + 40.0
        );
        panel(&mut s, inset, &metrics.reliability, 2, 1.5, 4.0);
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle" font-size="11" fill="#555555">zoom: 0–{max} on both axes</text>"##,
            inset.left + inset.size / 2.0,
            inset.top + inset.size + 30.0
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#555555" font-size="11">marker area proportional to rows in the bin; dashed line = perfect calibration</text>"##,
        WIDTH / 2.0,
        HEIGHT - 12.0
    );
    s.push_str("</svg>\n");
    s
}

/// Grid, ticks, frame, diagonal and points of one panel.
fn panel(s: &mut String, p: Panel, bins: &[Bin], ticks: u32, r_min: f64, r_extra: f64) {
    for i in 0..=ticks {
        let v = p.max * f64::from(i) / f64::from(ticks);
        let label = if p.max < 0.1 {
            format!("{v:.3}")
        } else if p.max < 1.0 {
            format!("{v:.2}")
        } else {
            format!("{v:.1}")
        };
        let (x, y) = (p.x(v), p.y(v));
        let (bottom, right) = (p.top + p.size, p.left + p.size);
        let _ = writeln!(
            s,
            r##"<line x1="{x}" y1="{}" x2="{x}" y2="{bottom}" stroke="#e0e0e0"/><line x1="{x}" y1="{bottom}" x2="{x}" y2="{}" stroke="#000000"/><text x="{x}" y="{}" text-anchor="middle">{label}</text>"##,
            p.top,
            bottom + 6.0,
            bottom + 20.0
        );
        let _ = writeln!(
            s,
            r##"<line x1="{}" y1="{y}" x2="{right}" y2="{y}" stroke="#e0e0e0"/><line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#000000"/><text x="{}" y="{}" text-anchor="end">{label}</text>"##,
            p.left,
            p.left - 6.0,
            p.left,
            p.left - 9.0,
            y + 4.0
        );
    }
    // The frame after the grid so grey grid lines never cover it.
    let _ = writeln!(
        s,
        r##"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#000000"/>"##,
        p.left, p.top, p.size, p.size
    );
    let _ = writeln!(
        s,
        r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#888888" stroke-dasharray="6 4"><title>perfect calibration</title></line>"##,
        p.x(0.0),
        p.y(0.0),
        p.x(p.max),
        p.y(p.max)
    );
    points(s, p, bins, r_min, r_extra);
}

fn axis_titles(s: &mut String) {
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">Mean predicted probability</text>"#,
        MAIN.left + MAIN.size / 2.0,
        MAIN.top + MAIN.size + 42.0
    );
    let (lx, ly) = (MAIN.left - 48.0, MAIN.top + MAIN.size / 2.0);
    let _ = writeln!(
        s,
        r#"<text x="{lx}" y="{ly}" text-anchor="middle" transform="rotate(-90 {lx} {ly})">Observed event rate</text>"#
    );
}

fn points(s: &mut String, p: Panel, bins: &[Bin], r_min: f64, r_extra: f64) {
    if bins.is_empty() {
        return;
    }
    let path: Vec<String> = bins
        .iter()
        .map(|b| format!("{:.2},{:.2}", p.x(b.mean_predicted), p.y(b.observed_rate)))
        .collect();
    let _ = writeln!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>"##,
        path.join(" ")
    );
    let max = bins.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
    for b in bins {
        let r = r_min + r_extra * (b.count as f64 / max).sqrt();
        let _ = writeln!(
            s,
            r##"<circle cx="{:.2}" cy="{:.2}" r="{r:.2}" fill="#1f77b4" fill-opacity="0.7"><title>predicted {:.4}–{:.4} (mean {:.4}); observed {:.4}; n = {}</title></circle>"##,
            p.x(b.mean_predicted),
            p.y(b.observed_rate),
            b.lower,
            b.upper,
            b.mean_predicted,
            b.observed_rate,
            b.count
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::compute::{binary_metrics, BinaryInput, Groups};
    use crate::evaluate::settings::Settings;

    fn metrics(scale: f64, event_every: u32) -> BinaryMetrics {
        let n = 40;
        let input = BinaryInput {
            probs: (0..n).map(|i| scale * f64::from(i) / 40.0).collect(),
            labels: (0..n).map(|i| i % event_every == 0).collect(),
            truth: vec![None; 40],
            groups: Groups {
                site: vec!["a".into(); 40],
                sex: vec!["female".into(); 40],
                age_band: vec!["50-64".into(); 40],
            },
        };
        binary_metrics(
            &input,
            &Settings {
                bootstrap_replicates: 50,
                ..Settings::default()
            },
        )
    }

    #[test]
    fn plot_has_frame_diagonal_points_and_labels() {
        let m = metrics(1.0, 3);
        let svg = reliability_svg("dvt", "dvt@abc<def>", &m, true);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), m.reliability.len());
        assert_eq!(svg.matches("stroke-dasharray").count(), 1);
        assert!(svg.contains("SYNTHETIC DATA"));
        assert!(svg.contains("dvt@abc&lt;def&gt;"), "version escaped");
        assert!(svg.contains(">0.6</text>"));
        assert!(!svg.contains("zoom"));
        assert!(!reliability_svg("dvt", "v", &m, false).contains("SYNTHETIC"));
    }

    #[test]
    fn rare_outcomes_get_a_zoomed_inset() {
        let m = metrics(0.05, 20);
        let svg = reliability_svg("csf_leak", "v", &m, false);
        assert!(svg.contains("zoom: 0–"));
        assert_eq!(svg.matches("<circle").count(), 2 * m.reliability.len());
        assert_eq!(svg.matches("stroke-dasharray").count(), 2);
    }

    #[test]
    fn zoom_picks_the_smallest_nice_bound() {
        let bin = |upper: f64, observed: f64| Bin {
            lower: 0.0,
            upper,
            mean_predicted: upper,
            observed_rate: observed,
            count: 1,
        };
        assert_eq!(zoom(&[bin(0.01, 0.015)]), Some(0.02));
        assert_eq!(zoom(&[bin(0.04, 0.03)]), Some(0.05));
        assert_eq!(zoom(&[bin(0.25, 0.1)]), Some(0.3));
        assert_eq!(zoom(&[bin(0.6, 0.1)]), None);
    }

    #[test]
    fn coordinates_map_unit_square_to_frame() {
        assert_eq!(MAIN.x(0.0), MAIN.left);
        assert_eq!(MAIN.x(1.0), MAIN.left + MAIN.size);
        assert_eq!(MAIN.y(0.0), MAIN.top + MAIN.size);
        assert_eq!(MAIN.y(1.0), MAIN.top);
        assert_eq!(MAIN.x(2.0), MAIN.left + MAIN.size);
        let zoomed = Panel { max: 0.1, ..MAIN };
        assert_eq!(zoomed.x(0.05), MAIN.left + MAIN.size / 2.0);
    }
}
