//! OIDC discovery and JWKS, fetched over HTTP and cached per issuer.
//!
//! A key set is fetched on first use and kept for the configured TTL. A token signed with a key
//! the cached set lacks (the issuer rotated) triggers one refetch, but at most once per
//! `refresh_interval` per issuer, so a stream of tokens with made-up `kid`s cannot turn sigil
//! into a load generator against the IdP. Concurrent misses for one issuer share one fetch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::Error;
use super::issuers::ResolvedIssuer;
use crate::metrics::Metrics;

/// Largest discovery document or JWKS accepted from an issuer.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// Most issuers cached at once; meta-issuers can otherwise grow the cache without bound.
const MAX_CACHED_ISSUERS: u64 = 1000;

/// One usable public key of an issuer.
#[derive(Clone)]
pub struct VerificationKey {
    /// The JWK `kid`, if the issuer set one.
    pub kid: Option<String>,
    /// The JWK `alg`, if the issuer pinned one.
    pub alg: Option<Algorithm>,
    /// The key itself (never an HMAC secret: octet keys are dropped at fetch time).
    pub key: DecodingKey,
}

/// An issuer's key set as fetched.
pub struct IssuerKeys {
    keys: Vec<VerificationKey>,
    fetched_at: Instant,
}

/// The per-issuer cache of key sets.
pub struct KeyCache {
    cache: moka::future::Cache<String, Arc<IssuerKeys>>,
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
    ) -> Result<Vec<VerificationKey>, Error> {
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
        self.cache
            .try_get_with(issuer.url.clone(), async {
                let result = fetch(issuer).await;
                let label = if result.is_ok() { "ok" } else { "error" };
                self.metrics.jwks_fetches.with_label_values(&[label]).inc();
                if let Err(e) = &result {
                    tracing::warn!(issuer = %issuer.url, error = %e, "JWKS fetch failed");
                }
                result.map(Arc::new)
            })
            .await
            .map_err(|e| (*e).clone())
    }
}

fn matching(keys: &IssuerKeys, kid: Option<&str>, alg: Algorithm) -> Vec<VerificationKey> {
    keys.keys
        .iter()
        .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
        .filter(|k| k.alg.is_none_or(|a| a == alg))
        .filter(|k| k.key.family() == alg.family())
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
    let keys: Vec<VerificationKey> = set.keys.iter().filter_map(usable_key).collect();
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

/// Converts one JWK, dropping symmetric keys and keys jsonwebtoken cannot use.
fn usable_key(jwk: &Jwk) -> Option<VerificationKey> {
    if !matches!(
        jwk.algorithm,
        AlgorithmParameters::RSA(_)
            | AlgorithmParameters::EllipticCurve(_)
            | AlgorithmParameters::OctetKeyPair(_)
    ) {
        return None;
    }
    // A key pinned to an algorithm we cannot name (e.g. an encryption key) is skipped.
    let alg = match jwk.common.key_algorithm {
        Some(a) => Some(
            serde_json::to_value(a)
                .ok()?
                .as_str()?
                .parse::<Algorithm>()
                .ok()?,
        ),
        None => None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(VerificationKey {
        kid: jwk.common.key_id.clone(),
        alg,
        key,
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
