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
