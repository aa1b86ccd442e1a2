//! OIDC discovery and JWKS, fetched over HTTP and cached per issuer.
//!
//! A key set is fetched on first use and kept for the configured TTL. A token signed with a key
//! the cached set lacks (the issuer rotated) triggers one refetch, but at most once per
//! `refresh_interval` per issuer, so a stream of tokens with made-up `kid`s cannot turn sigil
//! into a load generator against the IdP. Concurrent misses for one issuer share one fetch.
//!
//! An issuer that goes down must not take sigil down with it. When a refetch fails, the last
//! key set that was fetched successfully keeps verifying tokens (as go-oidc's remote key set
//! does for Fulcio), and the failure is remembered for a few seconds so that requests for an
//! issuer with no usable keys are answered 503 at once instead of each waiting out the fetch
//! timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;

use super::Error;
use super::issuers::ResolvedIssuer;
use super::jws::JwsKey;
use crate::metrics::Metrics;

/// Largest discovery document or JWKS accepted from an issuer.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// Most issuers cached at once; meta-issuers can otherwise grow the cache without bound.
const MAX_CACHED_ISSUERS: u64 = 1000;

/// How long a failed fetch is remembered before the issuer is asked again.
const FAILURE_BACKOFF: Duration = Duration::from_secs(5);

/// An issuer's key set as fetched.
pub struct IssuerKeys {
    keys: Vec<Arc<JwsKey>>,
    fetched_at: Instant,
}

/// The per-issuer cache of key sets.
pub struct KeyCache {
    cache: moka::future::Cache<String, Arc<IssuerKeys>>,
    /// The last key set each issuer served, kept past the TTL for when the issuer is down.
    last_good: moka::sync::Cache<String, Arc<IssuerKeys>>,
    /// Issuers whose last fetch failed, with the failure, for `FAILURE_BACKOFF`.
    failing: moka::sync::Cache<String, Error>,
    refresh_interval: Duration,
    metrics: Metrics,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl KeyCache {
    /// A cache whose entries live `ttl`.
    pub fn new(ttl: Duration, refresh_interval: Duration, metrics: Metrics) -> KeyCache {
        KeyCache {
            cache: moka::future::Cache::builder()
                .max_capacity(MAX_CACHED_ISSUERS)
                .time_to_live(ttl)
                .build(),
            last_good: moka::sync::Cache::new(MAX_CACHED_ISSUERS),
            failing: moka::sync::Cache::builder()
                .max_capacity(MAX_CACHED_ISSUERS)
                .time_to_live(FAILURE_BACKOFF)
                .build(),
            refresh_interval,
            metrics,
        }
    }

    /// The keys of `issuer` that may have signed a token with this `kid` and `alg`.
    pub async fn candidates(
        &self,
        issuer: &ResolvedIssuer,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Vec<Arc<JwsKey>>, Error> {
        let keys = self.get(issuer).await?;
        let found = matching(&keys, kid, alg);
        if !found.is_empty() {
            return Ok(found);
        }
        // The issuer may have rotated its keys since we fetched them.
        if keys.fetched_at.elapsed() >= self.refresh_interval {
            self.cache.invalidate(&issuer.url).await;
            let keys = self.get(issuer).await?;
            let found = matching(&keys, kid, alg);
            if !found.is_empty() {
                return Ok(found);
            }
        }
        Err(Error::UnknownKey(match kid {
            Some(kid) => format!("kid `{kid}`"),
            None => format!("no kid, algorithm {alg:?}"),
        }))
    }

    async fn get(&self, issuer: &ResolvedIssuer) -> Result<Arc<IssuerKeys>, Error> {
        let fetched = match self.failing.get(&issuer.url) {
            Some(recent_failure) => Err(recent_failure),
            None => self
                .cache
                .try_get_with(issuer.url.clone(), async {
                    let result = fetch(issuer).await.map(Arc::new);
                    let label = if result.is_ok() { "ok" } else { "error" };
                    self.metrics.jwks_fetches.with_label_values(&[label]).inc();
                    match &result {
                        Ok(keys) => self.last_good.insert(issuer.url.clone(), keys.clone()),
                        Err(e) => {
                            tracing::warn!(issuer = %issuer.url, error = %e, "JWKS fetch failed");
                            self.failing.insert(issuer.url.clone(), e.clone());
                        }
                    }
                    result
                })
                .await
                .map_err(|e| (*e).clone()),
        };
        fetched.or_else(|e| match self.last_good.get(&issuer.url) {
            Some(stale) => {
                self.metrics
                    .jwks_fetches
                    .with_label_values(&["stale"])
                    .inc();
                Ok(stale)
            }
            None => Err(e),
        })
    }
}

fn matching(keys: &IssuerKeys, kid: Option<&str>, alg: Algorithm) -> Vec<Arc<JwsKey>> {
    keys.keys
        .iter()
        .filter(|k| kid.is_none() || k.kid() == kid)
        .filter(|k| k.serves(alg))
        .cloned()
        .collect()
}

async fn fetch(issuer: &ResolvedIssuer) -> Result<IssuerKeys, Error> {
    let base = issuer.url.trim_end_matches('/');
    let discovery_url = format!("{base}/.well-known/openid-configuration");
    let discovery: Discovery = get_json(issuer, &discovery_url).await?;
    // OpenID Connect Discovery §4.3: the issuer in the document must equal the URL used.
    if discovery.issuer.trim_end_matches('/') != base {
        return Err(Error::IssuerUnavailable(format!(
            "discovery document names issuer `{}`, expected `{}`",
            discovery.issuer, issuer.url
        )));
    }
    let set: JwkSet = get_json(issuer, &discovery.jwks_uri).await?;
    let keys: Vec<Arc<JwsKey>> = set
        .keys
        .iter()
        .filter_map(JwsKey::from_jwk)
        .map(Arc::new)
        .collect();
    if keys.is_empty() {
        return Err(Error::IssuerUnavailable(
            "the issuer's JWKS holds no usable asymmetric key".into(),
        ));
    }
    Ok(IssuerKeys {
        keys,
        fetched_at: Instant::now(),
    })
}

async fn get_json<T: serde::de::DeserializeOwned>(
    issuer: &ResolvedIssuer,
    url: &str,
) -> Result<T, Error> {
    let unavailable = |what: String| Error::IssuerUnavailable(format!("{url}: {what}"));
    let mut response = issuer
        .settings
        .http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(unavailable(format!("HTTP {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| unavailable(e.to_string()))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(unavailable(format!(
                "larger than {MAX_DOCUMENT_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| unavailable(format!("invalid JSON: {e}")))
}
