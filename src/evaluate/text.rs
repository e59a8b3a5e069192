//! Small text helpers shared by the Markdown and SVG renderers: number formatting, pass/fail
//! marks and escaping.

/// `0.812`, or `—` when absent or not finite.
pub fn num(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.decimals$}"),
        _ => "—".to_string(),
    }
}

/// Signed: `+0.012` / `-0.034`, or `—`.
pub fn signed(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:+.decimals$}"),
        _ => "—".to_string(),
    }
}

/// `0.812 [0.790, 0.833]`.
pub fn with_ci(v: Option<f64>, ci: Option<(f64, f64)>, decimals: usize) -> String {
    match ci {
        Some((lo, hi)) => format!("{} [{lo:.decimals$}, {hi:.decimals$}]", num(v, decimals)),
        None => num(v, decimals),
    }
}

/// `12.3 %`.
pub fn percent(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1} %", v * 100.0)
    } else {
        "—".to_string()
    }
}

/// `✓`, `✗`, or `—` when not applicable.
pub fn mark(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "✓",
        Some(false) => "✗",
        None => "—",
    }
}

/// Escapes text for a Markdown table cell (pipes and newlines).
pub fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Escapes text for XML character data and attribute values.
pub fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(num(Some(0.81234), 3), "0.812");
        assert_eq!(num(None, 3), "—");
        assert_eq!(num(Some(f64::NAN), 3), "—");
        assert_eq!(signed(Some(-0.0341), 3), "-0.034");
        assert_eq!(
            with_ci(Some(0.8), Some((0.75, 0.85)), 2),
            "0.80 [0.75, 0.85]"
        );
        assert_eq!(percent(0.123), "12.3 %");
        assert_eq!(mark(Some(false)), "✗");
        assert_eq!(cell("a|b\nc"), "a\\|b c");
        assert_eq!(xml("<a & 'b'>"), "&lt;a &amp; &apos;b&apos;&gt;");
    }
}
