//! Prometheus metrics: one registry, built at start-up and shared by clones.

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
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
    /// Batches sequenced again after losing their compare-and-swap, by log.
    pub log_batch_rebases: IntCounterVec,
    /// Entries per committed batch, by log.
    pub log_batch_size: HistogramVec,
    /// Time from taking a batch to its durable commit, by log.
    pub log_sequencing: HistogramVec,
    /// Tree size after the last commit, by log.
    pub log_tree_size: IntGaugeVec,
    /// Entries waiting to be sequenced, by log (set when scraped).
    pub log_pool_depth: IntGaugeVec,
    /// How long the next batch may linger under load, by log (`sigil_ctlog::linger`).
    pub log_batch_linger: GaugeVec,
}

/// Latency buckets, in seconds, from half a millisecond to five seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

// Metric definitions are constants of this file: a failure to build or register one is a bug
// found by the first test that starts a server, never by a request.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("each metric is registered once");
    metric
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric =
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    registered(registry, metric)
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    registered(registry, metric)
}

fn float_gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let metric = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    registered(registry, metric)
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    let metric = HistogramVec::new(opts, labels).expect("valid metric definition");
    registered(registry, metric)
}

impl Metrics {
    /// Registers every metric, plus process metrics (resident memory, CPU, open files).
    pub fn new() -> Metrics {
        // No registry-wide prefix: process metrics keep their standard names.
        let r = Registry::new();
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("each metric is registered once");
        gauge(
            &r,
            "sigil_build_info",
            "Always 1; labels describe the build.",
            &["version"],
        )
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
        let log = &["log"];
        Metrics {
            certificates_issued: counter(
                &r,
                "sigil_certificates_issued_total",
                "Certificates issued, by issuer type.",
                &["issuer_type"],
            ),
            http_requests: histogram(
                &r,
                "sigil_http_request_duration_seconds",
                "HTTP request latency, by route pattern, method and status.",
                &["route", "method", "status"],
                LATENCY_BUCKETS,
            ),
            token_rejections: counter(
                &r,
                "sigil_token_rejections_total",
                "Identity tokens refused, by reason.",
                &["reason"],
            ),
            jwks_fetches: counter(
                &r,
                "sigil_oidc_jwks_fetches_total",
                "OIDC discovery + JWKS fetches by result (ok, error), and tokens checked against the last good key set while the issuer failed (stale).",
                &["result"],
            ),
            log_entries: counter(
                &r,
                "sigil_log_entries_appended_total",
                "Entries committed, by log.",
                log,
            ),
            log_batch_failures: counter(
                &r,
                "sigil_log_batch_failures_total",
                "Batches that failed to commit, by log.",
                log,
            ),
            log_batch_rebases: counter(
                &r,
                "sigil_log_batch_rebases_total",
                "Batches sequenced again on the stored head after another commit moved it first \
                 (another replica's, or a failed one), by log.",
                log,
            ),
            log_batch_size: histogram(
                &r,
                "sigil_log_batch_size",
                "Entries per committed batch, by log.",
                log,
                &[
                    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 5000.0,
                ],
            ),
            log_sequencing: histogram(
                &r,
                "sigil_log_sequencing_seconds",
                "Time from taking a batch to its durable commit, by log.",
                log,
                LATENCY_BUCKETS,
            ),
            log_tree_size: gauge(
                &r,
                "sigil_log_tree_size",
                "Tree size after the last commit, by log.",
                log,
            ),
            log_pool_depth: gauge(
                &r,
                "sigil_log_pool_depth",
                "Entries waiting to be sequenced, by log.",
                log,
            ),
            log_batch_linger: float_gauge(
                &r,
                "sigil_log_batch_linger_seconds",
                "How long the next batch may linger under load, by log.",
                log,
            ),
            registry: r,
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

    fn batch_rebased(&self, log: &str) {
        self.log_batch_rebases.with_label_values(&[log]).inc();
    }

    fn linger_changed(&self, log: &str, linger: std::time::Duration) {
        self.log_batch_linger
            .with_label_values(&[log])
            .set(linger.as_secs_f64());
    }
}
