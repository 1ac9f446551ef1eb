//! Prometheus metrics: requests and latency per GraphQL operation, errors by code, and the database pool.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The gateway's metrics, registered once per process (tests build one per app).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub errors: IntCounterVec,
    pub pool: IntGaugeVec,
}

impl Metrics {
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        // Registration only fails for duplicate or malformed names, which are fixed here.
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("graphql_requests_total", "GraphQL requests by operation and outcome"),
            &["operation", "outcome"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("graphql_request_duration_seconds", "GraphQL request latency by operation")
                .buckets(vec![
                    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
            &["operation"],
        )
        .expect("valid metric");
        let errors =
            IntCounterVec::new(Opts::new("graphql_errors_total", "GraphQL errors by code"), &["code"])
                .expect("valid metric");
        let pool = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state"),
            &["state"],
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(errors.clone()),
            Box::new(pool.clone()),
        ] {
            registry.register(c).expect("unique metric");
        }
        Metrics { registry, requests, latency, errors, pool }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
