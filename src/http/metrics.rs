//! Prometheus metrics: requests and latency per GraphQL operation, errors by code, and the database pool.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// How many distinct operation names get a label of their own.
pub const MAX_OPERATIONS: usize = 200;

/// The gateway's metrics, registered once per process (tests build one per app).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Operation names seen so far: clients choose them, so their number is capped to keep the label set bounded.
    operations: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub errors: IntCounterVec,
    pub pool: IntGaugeVec,
    /// Reads that could go to a replica, by where they ran (`replica`, or `primary` as the fallback).
    pub replica_reads: IntCounterVec,
    /// Requests answered with a kept answer (see `http::answers`).
    pub kept_answers: IntCounter,
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
        let replica_reads = IntCounterVec::new(
            Opts::new(
                "db_replica_reads_total",
                "Reads a replica could serve, by where they ran (replica, or primary as the fallback)",
            ),
            &["target"],
        )
        .expect("valid metric");
        let kept_answers = IntCounter::new(
            "graphql_kept_answers_total",
            "GraphQL requests answered with the bytes kept for the same text (no parsing or execution)",
        )
        .expect("valid metric");
        for c in [
            Box::new(kept_answers.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(requests.clone()),
            Box::new(latency.clone()),
            Box::new(errors.clone()),
            Box::new(pool.clone()),
            Box::new(replica_reads.clone()),
        ] {
            registry.register(c).expect("unique metric");
        }
        Metrics {
            registry,
            operations: Default::default(),
            requests,
            latency,
            errors,
            pool,
            replica_reads,
            kept_answers,
        }
    }

    /// The label for a client's operation name: the name itself while it is a plain GraphQL name and fewer than
    /// [`MAX_OPERATIONS`] names have been seen, `other` after that. A name holding a run of six digits or more
    /// (an identity number, a phone) is `other` too: labels are kept and shown, personal data must not be.
    pub fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name else { return "anonymous".to_owned() };
        let digit_run = name.as_bytes().split(|b| !b.is_ascii_digit()).map(<[u8]>::len).max().unwrap_or(0);
        let plain =
            name.len() <= 64 && digit_run < 6 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plain {
            return "other".to_owned();
        }
        let Ok(mut seen) = self.operations.lock() else { return "other".to_owned() };
        if seen.contains(name) || (seen.len() < MAX_OPERATIONS && seen.insert(name.to_owned())) {
            name.to_owned()
        } else {
            "other".to_owned()
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_are_bounded() {
        let m = Metrics::new();
        assert_eq!(m.operation_label(None), "anonymous");
        assert_eq!(m.operation_label(Some("Report")), "Report");
        assert_eq!(m.operation_label(Some("drop table; --")), "other");
        assert_eq!(m.operation_label(Some("Lookup_079912345678")), "other");
        assert_eq!(m.operation_label(Some("Report2024")), "Report2024");
        for i in 0..MAX_OPERATIONS {
            m.operation_label(Some(&format!("Op{i}")));
        }
        assert_eq!(m.operation_label(Some("Report")), "Report", "names seen before keep their label");
        assert_eq!(m.operation_label(Some("Brand_new")), "other");
    }
}
