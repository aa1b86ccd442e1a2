//! Rate limits: one token bucket per client IP for write requests, and one per identity for
//! certificates.
//!
//! Buckets live in a bounded moka cache and are forgotten once idle long enough to have filled
//! up again, so a flood of distinct addresses costs bounded memory and a returning client
//! finds exactly the bucket it would have had.

use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;
use ipnet::IpNet;

use crate::error::ApiError;
use crate::startup::AppState;

/// Distinct clients (or identities) tracked at once; beyond this the least recently seen
/// bucket is forgotten first.
const MAX_TRACKED: u64 = 200_000;

/// A refusal: which limit, and how long until one more request would pass.
#[derive(Debug, Clone, thiserror::Error)]
#[error("rate limit of {scope} exceeded: retry in {} s", retry_after_seconds(*.retry_after))]
pub struct RateLimited {
    /// `client IP` or `identity`.
    pub scope: &'static str,
    /// When the bucket will hold one token again.
    pub retry_after: Duration,
}

/// Whole seconds for `Retry-After`, never 0 (0 would invite an immediate retry).
pub fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets keyed by `K`, refilled at `rate` per second up to `burst`.
pub struct RateLimiter<K> {
    scope: &'static str,
    rate: f64,
    burst: f64,
    buckets: moka::sync::Cache<K, Arc<Mutex<Bucket>>>,
}

impl<K: Hash + Eq + Send + Sync + 'static> RateLimiter<K> {
    /// A limiter, or none when `rate` is 0 (the limit is off).
    pub fn new(scope: &'static str, rate: f64, burst: u32) -> Option<Self> {
        if rate <= 0.0 {
            return None;
        }
        let burst = f64::from(burst.max(1));
        // An idle bucket is full again after burst/rate seconds; forgetting it then is exact.
        let refill = Duration::from_secs_f64((burst / rate).clamp(1.0, 24.0 * 3600.0));
        Some(RateLimiter {
            scope,
            rate,
            burst,
            buckets: moka::sync::Cache::builder()
                .max_capacity(MAX_TRACKED)
                .time_to_idle(refill)
                .build(),
        })
    }

    /// Takes one token for `key`, or says how long to wait.
    pub fn check(&self, key: K) -> Result<(), RateLimited> {
        let now = Instant::now();
        let bucket = self.buckets.get_with(key, || {
            Arc::new(Mutex::new(Bucket {
                tokens: self.burst,
                updated: now,
            }))
        });
        let mut bucket = bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(RateLimited {
                scope: self.scope,
                retry_after: Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate),
            })
        }
    }
}

/// The limiters of one server, built from `[limits]`.
pub struct Limits {
    per_ip: Option<RateLimiter<IpAddr>>,
    per_identity: Option<RateLimiter<String>>,
    trusted_proxies: Vec<IpNet>,
}

impl Limits {
    /// The limiters the configuration asks for.
    pub fn new(config: &crate::config::LimitsConfig) -> Limits {
        Limits {
            per_ip: RateLimiter::new("client IP", config.ip_rate, config.ip_burst),
            per_identity: RateLimiter::new("identity", config.identity_rate, config.identity_burst),
            trusted_proxies: config.trusted_proxies.clone(),
        }
    }

    /// Charges one certificate to `identity` (issuer URL and subject, so equal subjects of two
    /// issuers are different people).
    pub fn charge_identity(&self, issuer: &str, subject: &str) -> Result<(), RateLimited> {
        match &self.per_identity {
            Some(limiter) => limiter.check(format!("{issuer}\n{subject}")),
            None => Ok(()),
        }
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the nearest
    /// address in `X-Forwarded-For` that is not itself a trusted proxy. Entries further left
    /// were written by the client and prove nothing.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        let trusted = |ip: &IpAddr| self.trusted_proxies.iter().any(|net| net.contains(ip));
        if !trusted(&peer) {
            return peer;
        }
        let mut client = peer;
        for hop in forwarded_for.unwrap_or_default().rsplit(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !trusted(&ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        client
    }
}

/// Middleware: every write request (POST) is charged to its client IP before its body is
/// read; reads are not limited, so monitors and verifiers are never starved by writers.
pub async fn per_ip(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.method() == Method::POST {
        let verdict = req.app_data::<web::Data<AppState>>().and_then(|state| {
            let limiter = state.limits.per_ip.as_ref()?;
            let peer = req.peer_addr()?.ip();
            let forwarded = req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok());
            limiter.check(state.limits.client_ip(peer, forwarded)).err()
        });
        if let Some(refusal) = verdict {
            // A response rather than an error, so the metrics middleware counts the 429.
            return Ok(req.error_response(ApiError::RateLimited(refusal)));
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_applies() {
        let limiter = RateLimiter::new("test", 10.0, 3).unwrap();
        for _ in 0..3 {
            limiter.check("a").unwrap();
        }
        let refused = limiter.check("a").unwrap_err();
        assert!(refused.retry_after <= Duration::from_millis(100));
        assert_eq!(retry_after_seconds(refused.retry_after), 1);
        // Another key has its own bucket.
        limiter.check("b").unwrap();
        std::thread::sleep(Duration::from_millis(120));
        limiter.check("a").unwrap();
    }

    #[test]
    fn a_zero_rate_is_no_limit() {
        assert!(RateLimiter::<u8>::new("test", 0.0, 10).is_none());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let config = crate::config::LimitsConfig {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            ..Default::default()
        };
        let limits = Limits::new(&config);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // An untrusted peer cannot choose its own address.
        assert_eq!(
            limits.client_ip(ip("203.0.113.9"), Some("198.51.100.1")),
            ip("203.0.113.9")
        );
        // Through two trusted proxies, the first untrusted hop from the right is the client;
        // what the client wrote further left is ignored.
        assert_eq!(
            limits.client_ip(ip("10.0.0.2"), Some("1.2.3.4, 198.51.100.7, 10.0.0.1")),
            ip("198.51.100.7")
        );
        // A trusted proxy without the header is itself the client.
        assert_eq!(limits.client_ip(ip("10.0.0.2"), None), ip("10.0.0.2"));
        // Garbage stops the walk at the last good address.
        assert_eq!(
            limits.client_ip(ip("10.0.0.2"), Some("nonsense, 10.0.0.1")),
            ip("10.0.0.1")
        );
    }
}
