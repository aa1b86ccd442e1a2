//! `sigil loadtest`: drives a running deployment over keep-alive HTTP connections and reports
//! throughput, latency percentiles, errors by status and the server's resident memory.
//!
//! Everything a request needs — tokens, keys, CSRs, signed entries, chains — is prepared
//! (`scenario`) before the measured window, so the window measures the server, not the
//! generator's own signing.

mod http1;
mod scenario;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

pub use scenario::{Scenario, dev_token};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Base URL of the deployment.
    pub server: String,
    /// Which requests.
    pub scenario: Scenario,
    /// Concurrent keep-alive connections (or verifying threads for `verify`).
    pub connections: usize,
    /// Length of the measured window.
    pub duration: Duration,
    /// How many distinct requests to prepare (entries must be unique to be logged).
    pub prepare: usize,
    /// An identity token; default a 1-hour token from the server's dev issuer.
    pub identity_token: Option<String>,
    /// The dev issuer token's signature algorithm, `ES256` or `RS256`.
    pub token_alg: String,
}

/// The outcome of one run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// Concurrent connections.
    pub connections: usize,
    /// The measured window, in seconds.
    pub seconds: f64,
    /// Requests that got the expected answer.
    pub ok: u64,
    /// Successful requests per second.
    pub rate: f64,
    /// Latency percentiles of successful requests, in milliseconds.
    pub latency_ms: Latency,
    /// Failed requests by HTTP status (0: transport error).
    pub errors: BTreeMap<u16, u64>,
    /// The server's `process_resident_memory_bytes` after the window, in MiB.
    pub server_rss_mib: Option<f64>,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

impl Latency {
    fn of(mut micros: Vec<u32>) -> Latency {
        if micros.is_empty() {
            return Latency::default();
        }
        micros.sort_unstable();
        let at = |q: f64| {
            let i = ((micros.len() as f64 * q).ceil() as usize).clamp(1, micros.len()) - 1;
            f64::from(micros[i]) / 1000.0
        };
        Latency {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "scenario {} · {} connections · {:.1} s",
            self.scenario, self.connections, self.seconds
        )?;
        writeln!(f, "  ok        {} ({:.0}/s)", self.ok, self.rate)?;
        let l = &self.latency_ms;
        writeln!(
            f,
            "  latency   p50 {:.2} ms · p95 {:.2} ms · p99 {:.2} ms · max {:.2} ms",
            l.p50, l.p95, l.p99, l.max
        )?;
        if self.errors.is_empty() {
            writeln!(f, "  errors    none")?;
        } else {
            let errors: Vec<String> = self
                .errors
                .iter()
                .map(|(status, n)| format!("{n} × {status}"))
                .collect();
            writeln!(f, "  errors    {}", errors.join(", "))?;
        }
        match self.server_rss_mib {
            Some(rss) => write!(f, "  server    {rss:.1} MiB resident"),
            None => write!(f, "  server    resident memory not reported"),
        }
    }
}

/// One request's outcome: its latency, or the status it failed with (0: transport error).
type Outcome = Result<Duration, u16>;

/// Prepares the scenario, runs it for the window, and reports.
pub async fn run(options: Options) -> Result<Report, String> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.connections)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    eprintln!(
        "Preparing {} ({} requests) ...",
        options.scenario, options.prepare
    );
    let work = Arc::new(scenario::prepare(&http, &options).await?);
    eprintln!(
        "Running {} on {} connections for {} s ...",
        options.scenario,
        options.connections,
        options.duration.as_secs_f64()
    );
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + options.duration;
    let mut tasks = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        let (work, next) = (work.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut connections = scenario::Connections::default();
            let mut latencies = Vec::new();
            let mut errors: BTreeMap<u16, u64> = BTreeMap::new();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                match work.execute(&mut connections, i).await {
                    Ok(took) => latencies.push(took.as_micros().min(u32::MAX as u128) as u32),
                    Err(status) => *errors.entry(status).or_default() += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors: BTreeMap<u16, u64> = BTreeMap::new();
    for task in tasks {
        let (l, e) = task.await.map_err(|e| e.to_string())?;
        latencies.extend(l);
        for (status, n) in e {
            *errors.entry(status).or_default() += n;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let ok = latencies.len() as u64;
    Ok(Report {
        scenario: options.scenario.to_string(),
        connections: options.connections,
        seconds,
        ok,
        rate: ok as f64 / seconds,
        latency_ms: Latency::of(latencies),
        errors,
        server_rss_mib: server_rss(&http, &options.server).await,
    })
}

/// `process_resident_memory_bytes` from the server's `/metrics`.
async fn server_rss(http: &reqwest::Client, server: &str) -> Option<f64> {
    let text = http
        .get(format!("{}/metrics", server.trim_end_matches('/')))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|bytes| bytes / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let l = Latency::of((1..=100).map(|ms| ms * 1000).collect());
        assert_eq!((l.p50, l.p95, l.p99, l.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(Latency::of(vec![]).max, 0.0);
    }
}
