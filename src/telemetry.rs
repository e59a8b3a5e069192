//! Logs and metrics. Logs are structured JSON lines (tracing) with the request id and never a
//! patient value; metrics are Prometheus counters and a latency histogram (the `prometheus` crate).

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    assessments: IntCounterVec,
}

static METRICS: LazyLock<Option<Metrics>> = LazyLock::new(|| {
    let registry = Registry::new();
    let requests = IntCounterVec::new(
        Opts::new(
            "periop_http_requests_total",
            "HTTP requests by route and status",
        ),
        &["route", "status"],
    )
    .ok()?;
    let latency = HistogramVec::new(
        HistogramOpts::new(
            "periop_http_request_duration_seconds",
            "HTTP request latency by route",
        )
        .buckets(vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ]),
        &["route"],
    )
    .ok()?;
    let assessments = IntCounterVec::new(
        Opts::new(
            "periop_assessments_total",
            "Predictions answered by outcome and status",
        ),
        &["outcome", "status"],
    )
    .ok()?;
    registry.register(Box::new(requests.clone())).ok()?;
    registry.register(Box::new(latency.clone())).ok()?;
    registry.register(Box::new(assessments.clone())).ok()?;
    Some(Metrics {
        registry,
        requests,
        latency,
        assessments,
    })
});

/// Counts one answered HTTP request.
pub fn record_request(route: &str, status: u16, latency: Duration) {
    if let Some(m) = METRICS.as_ref() {
        m.requests
            .with_label_values(&[route, &status.to_string()])
            .inc();
        m.latency
            .with_label_values(&[route])
            .observe(latency.as_secs_f64());
    }
}

/// Counts one prediction of an assessment.
pub fn record_prediction(outcome: &str, status: &str) {
    if let Some(m) = METRICS.as_ref() {
        m.assessments.with_label_values(&[outcome, status]).inc();
    }
}

/// All metrics in the Prometheus text format.
pub fn render_metrics() -> String {
    let Some(m) = METRICS.as_ref() else {
        return String::new();
    };
    let mut out = Vec::new();
    if TextEncoder::new()
        .encode(&m.registry.gather(), &mut out)
        .is_err()
    {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// JSON logs to stderr; `RUST_LOG` filters (default `info`). Safe to call more than once.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        // The request span's fields (its `request_id`) on every line logged inside it.
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
