//! A metric over calendar months, one line per site, as a hand-written SVG (the same reason as
//! `evaluate::svg`: a frame, ticks and a few polylines need no plotting crate, and plain SVG keeps
//! the report reproducible byte for byte).
//!
//! Each point is a month's estimate with its 95 % interval as a vertical whisker; months whose
//! group was suppressed or had no estimate are gaps, never interpolated. An optional reference line
//! marks the ideal value (calibration slope 1). Colours are the Okabe–Ito palette, darkened where
//! needed so every line and label keeps a contrast of at least 4.5:1 on white.

use std::fmt::Write;

use crate::evaluate::text::xml;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 380.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 70.0;

/// Okabe–Ito colours with contrast ≥ 4.5:1 against white (blue, vermillion, bluish green,
/// reddish purple, and darker orange and sky blue).
pub const LINE_COLOURS: [&str; 6] = [
    "#0060a0", "#b34700", "#007a5a", "#a3477a", "#8a5a00", "#1f6f99",
];

/// One month's value of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendPoint {
    /// Index into [`Trend::months`].
    pub month: usize,
    pub value: f64,
    /// 95 % interval.
    pub ci: Option<(f64, f64)>,
}

/// One line (a site, or all sites).
#[derive(Debug, Clone, PartialEq)]
pub struct TrendSeries {
    pub label: String,
    pub points: Vec<TrendPoint>,
}

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    pub title: String,
    pub subtitle: String,
    pub y_label: String,
    /// `YYYY-MM` labels of the x axis, in order.
    pub months: Vec<String>,
    pub series: Vec<TrendSeries>,
    /// The ideal value, drawn dashed (e.g. 1 for the calibration slope).
    pub reference: Option<f64>,
    pub synthetic: bool,
}

/// The y range: every value, interval end and the reference, padded and rounded to 0.1.
fn y_range(t: &Trend) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for p in t.series.iter().flat_map(|s| &s.points) {
        let (a, b) = p.ci.unwrap_or((p.value, p.value));
        for v in [p.value, a, b] {
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    if let Some(r) = t.reference {
        lo = lo.min(r);
        hi = hi.max(r);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let lo = (lo * 10.0).floor() / 10.0;
    let hi = (hi * 10.0).ceil() / 10.0;
    if hi - lo < 0.2 {
        (lo - 0.1, hi + 0.1)
    } else {
        (lo, hi)
    }
}

/// The SVG of a trend.
pub fn trend_svg(t: &Trend) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let (y0, y1) = y_range(t);
    let months = t.months.len().max(1);
    let x = |m: usize| {
        if months == 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * m as f64 / (months - 1) as f64
        }
    };
    let y = |v: f64| TOP + plot_h - (v.clamp(y0, y1) - y0) / (y1 - y0) * plot_h;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12" role="img" aria-labelledby="title desc">"#
    );
    let _ = writeln!(s, "<title id=\"title\">{}</title>", xml(&t.title));
    let _ = writeln!(
        s,
        "<desc id=\"desc\">{}: {} by month, one line per group, whiskers are 95 % intervals.</desc>",
        xml(&t.subtitle),
        xml(&t.y_label)
    );
    let _ = writeln!(
        s,
        r##"<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
        WIDTH / 2.0,
        xml(&t.title)
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="40" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        xml(&t.subtitle)
    );
    if t.synthetic {
        let _ = writeln!(
            s,
            r##"<text x="{}" y="56" text-anchor="middle" fill="#b00020" font-weight="bold">SYNTHETIC DATA: not validated on real patients</text>"##,
            WIDTH / 2.0
        );
    }
    // Grid and y ticks.
    for i in 0..=4 {
        let v = y0 + (y1 - y0) * f64::from(i) / 4.0;
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#d0d0d0"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#333333">{v:.2}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            yy + 4.0
        );
    }
    for (m, label) in t.months.iter().enumerate() {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#333333">{}</text>"##,
            x(m),
            TOP + plot_h + 18.0,
            xml(label)
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333333"/>"##
    );
    let _ = writeln!(
        s,
        r##"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})" fill="#333333">{}</text>"##,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        xml(&t.y_label)
    );
    if let Some(r) = t.reference {
        let yy = y(r);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#333333" stroke-dasharray="5 4"/>"##,
            LEFT + plot_w
        );
    }
    for (i, series) in t.series.iter().enumerate() {
        let colour = LINE_COLOURS[i % LINE_COLOURS.len()];
        // Consecutive months only: a gap (suppressed or no estimate) breaks the line.
        let mut run: Vec<(f64, f64)> = Vec::new();
        let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut last: Option<usize> = None;
        for p in series.points.iter().filter(|p| p.value.is_finite()) {
            if last.is_some_and(|l| l + 1 != p.month) && !run.is_empty() {
                runs.push(std::mem::take(&mut run));
            }
            run.push((x(p.month), y(p.value)));
            last = Some(p.month);
        }
        if !run.is_empty() {
            runs.push(run);
        }
        for r in runs.iter().filter(|r| r.len() > 1) {
            let pts: Vec<String> = r.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                pts.join(" ")
            );
        }
        for p in series.points.iter().filter(|p| p.value.is_finite()) {
            let (px, py) = (x(p.month), y(p.value));
            if let Some((lo, hi)) = p.ci {
                let _ = writeln!(
                    s,
                    r#"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="{colour}" stroke-width="1.5"/>"#,
                    y(lo),
                    y(hi)
                );
            }
            let ci =
                p.ci.map(|(lo, hi)| format!(" [{lo:.3}, {hi:.3}]"))
                    .unwrap_or_default();
            let _ = writeln!(
                s,
                r#"<circle cx="{px:.1}" cy="{py:.1}" r="4" fill="{colour}"><title>{} {}: {:.3}{ci}</title></circle>"#,
                xml(&series.label),
                xml(t.months.get(p.month).map_or("", String::as_str)),
                p.value
            );
        }
        let ly = TOP + 10.0 + 20.0 * i as f64;
        let lx = LEFT + plot_w + 14.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}" fill="{colour}">{}</text>"#,
            lx + 18.0,
            lx + 24.0,
            ly + 4.0,
            xml(&series.label)
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#555555" font-size="11">whiskers: 95 % intervals; gaps: suppressed or no estimate{}</text>"##,
        WIDTH / 2.0,
        HEIGHT - 14.0,
        if t.reference.is_some() {
            "; dashed line: ideal value"
        } else {
            ""
        }
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trend() -> Trend {
        Trend {
            title: "Calibration slope: delirium".into(),
            subtitle: "by site".into(),
            y_label: "slope".into(),
            months: vec!["2026-01".into(), "2026-02".into(), "2026-03".into()],
            series: vec![
                TrendSeries {
                    label: "site-a".into(),
                    points: vec![
                        TrendPoint {
                            month: 0,
                            value: 0.9,
                            ci: Some((0.7, 1.1)),
                        },
                        TrendPoint {
                            month: 2,
                            value: 1.2,
                            ci: None,
                        },
                    ],
                },
                TrendSeries {
                    label: "site-<b>".into(),
                    points: vec![
                        TrendPoint {
                            month: 0,
                            value: 1.0,
                            ci: None,
                        },
                        TrendPoint {
                            month: 1,
                            value: 1.1,
                            ci: None,
                        },
                    ],
                },
            ],
            reference: Some(1.0),
            synthetic: true,
        }
    }

    #[test]
    fn a_gap_breaks_the_line_and_labels_are_escaped() {
        let svg = trend_svg(&trend());
        // site-a has months 0 and 2 only: two points, no polyline; site-<b> has one of 2 points.
        assert_eq!(svg.matches("<polyline").count(), 1, "{svg}");
        assert_eq!(svg.matches("<circle").count(), 4);
        assert!(svg.contains("site-&lt;b&gt;") && !svg.contains("site-<b>"));
        assert!(svg.contains("SYNTHETIC DATA"));
        assert!(svg.contains("stroke-dasharray"));
        // One whisker: only site-a's first point has an interval.
        assert_eq!(svg.matches("stroke-width=\"1.5\"").count(), 1);
    }

    #[test]
    fn the_range_covers_values_intervals_and_the_reference() {
        let (lo, hi) = y_range(&trend());
        assert!(lo <= 0.7 && hi >= 1.2, "{lo} {hi}");
        let empty = Trend {
            series: vec![],
            reference: None,
            ..trend()
        };
        assert_eq!(y_range(&empty), (0.0, 1.0));
    }

    /// WCAG relative luminance contrast of each line colour against white.
    #[test]
    fn line_colours_keep_a_contrast_of_4_5_on_white() {
        fn channel(c: u8) -> f64 {
            let c = f64::from(c) / 255.0;
            if c <= 0.039_28 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        }
        for hex in LINE_COLOURS {
            let v = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex colour");
            let l = 0.2126 * channel(v(1)) + 0.7152 * channel(v(3)) + 0.0722 * channel(v(5));
            let contrast = 1.05 / (l + 0.05);
            assert!(contrast >= 4.5, "{hex}: {contrast:.2}");
        }
    }
}
