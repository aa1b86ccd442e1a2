//! Prometheus metrics: one registry, built at start-up and shared by clones.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric sigil exports. Cloning shares the underlying counters.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Certificates issued, by issuer type.
    pub certificates_issued: IntCounterVec,
    /// HTTP request latency, by route pattern, method and status.
    pub http_requests: HistogramVec,
    /// Identity tokens refused, by reason.
    pub token_rejections: IntCounterVec,
    /// Discovery + JWKS fetches, by result (`ok`, `error`).
    pub jwks_fetches: IntCounterVec,
    /// Entries committed, by log.
    pub log_entries: IntCounterVec,
    /// Batches that failed to commit, by log.
    pub log_batch_failures: IntCounterVec,
    /// Entries per committed batch, by log.
    pub log_batch_size: HistogramVec,
    /// Time from taking a batch to its durable commit, by log.
    pub log_sequencing: HistogramVec,
    /// Tree size after the last commit, by log.
    pub log_tree_size: IntGaugeVec,
    /// Entries waiting to be sequenced, by log (set when scraped).
    pub log_pool_depth: IntGaugeVec,
}

impl Metrics {
    /// Registers every metric, plus process metrics (resident memory, CPU, open files).
    pub fn new() -> Metrics {
        // No registry-wide prefix: process metrics keep their standard names.
        let registry = Registry::new();
        let certificates_issued = IntCounterVec::new(
            Opts::new(
                "sigil_certificates_issued_total",
                "Certificates issued, by issuer type.",
            ),
            &["issuer_type"],
        )
        .expect("valid metric definition");
        let http_requests = HistogramVec::new(
            HistogramOpts::new(
                "sigil_http_request_duration_seconds",
                "HTTP request latency, by route pattern, method and status.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route", "method", "status"],
        )
        .expect("valid metric definition");
        let token_rejections = IntCounterVec::new(
            Opts::new(
                "sigil_token_rejections_total",
                "Identity tokens refused, by reason.",
            ),
            &["reason"],
        )
        .expect("valid metric definition");
        let jwks_fetches = IntCounterVec::new(
            Opts::new(
                "sigil_oidc_jwks_fetches_total",
                "OIDC discovery + JWKS fetches, by result.",
            ),
            &["result"],
        )
        .expect("valid metric definition");
        let log_entries = IntCounterVec::new(
            Opts::new(
                "sigil_log_entries_appended_total",
                "Entries committed, by log.",
            ),
            &["log"],
        )
        .expect("valid metric definition");
        let log_batch_failures = IntCounterVec::new(
            Opts::new(
                "sigil_log_batch_failures_total",
                "Batches that failed to commit, by log.",
            ),
            &["log"],
        )
        .expect("valid metric definition");
        let log_batch_size = HistogramVec::new(
            HistogramOpts::new(
                "sigil_log_batch_size",
                "Entries per committed batch, by log.",
            )
            .buckets(vec![
                1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 5000.0,
            ]),
            &["log"],
        )
        .expect("valid metric definition");
        let log_sequencing = HistogramVec::new(
            HistogramOpts::new(
                "sigil_log_sequencing_seconds",
                "Time from taking a batch to its durable commit, by log.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["log"],
        )
        .expect("valid metric definition");
        let log_tree_size = IntGaugeVec::new(
            Opts::new(
                "sigil_log_tree_size",
                "Tree size after the last commit, by log.",
            ),
            &["log"],
        )
        .expect("valid metric definition");
        let log_pool_depth = IntGaugeVec::new(
            Opts::new(
                "sigil_log_pool_depth",
                "Entries waiting to be sequenced, by log.",
            ),
            &["log"],
        )
        .expect("valid metric definition");
        let build_info = IntGaugeVec::new(
            Opts::new("sigil_build_info", "Always 1; labels describe the build."),
            &["version"],
        )
        .expect("valid metric definition");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);

        for collector in [
            Box::new(certificates_issued.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_requests.clone()),
            Box::new(token_rejections.clone()),
            Box::new(jwks_fetches.clone()),
            Box::new(log_entries.clone()),
            Box::new(log_batch_failures.clone()),
            Box::new(log_batch_size.clone()),
            Box::new(log_sequencing.clone()),
            Box::new(log_tree_size.clone()),
            Box::new(log_pool_depth.clone()),
            Box::new(build_info),
            Box::new(prometheus::process_collector::ProcessCollector::for_self()),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        Metrics {
            registry,
            certificates_issued,
            http_requests,
            token_rejections,
            jwks_fetches,
            log_entries,
            log_batch_failures,
            log_batch_size,
            log_sequencing,
            log_tree_size,
            log_pool_depth,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl sigil_ctlog::log::Observer for Metrics {
    fn batch_committed(
        &self,
        log: &str,
        entries: usize,
        latency: std::time::Duration,
        tree_size: u64,
    ) {
        self.log_entries
            .with_label_values(&[log])
            .inc_by(entries as u64);
        self.log_batch_size
            .with_label_values(&[log])
            .observe(entries as f64);
        self.log_sequencing
            .with_label_values(&[log])
            .observe(latency.as_secs_f64());
        self.log_tree_size
            .with_label_values(&[log])
            .set(tree_size as i64);
    }

    fn batch_failed(&self, log: &str, _entries: usize) {
        self.log_batch_failures.with_label_values(&[log]).inc();
    }
}
