//! The parts of a `ClientTrustConfig` the signer needs: where the CA and the log are, and
//! which CT log keys may vouch for a certificate.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::ClientError;

/// Trust material of one deployment.
#[derive(Debug, Clone)]
pub struct TrustMaterial {
    /// Base URL of the Fulcio-compatible CA.
    pub ca_url: String,
    /// Base URL of the Rekor v1 log.
    pub rekor_url: String,
    /// DER SubjectPublicKeyInfo of every trusted CT log.
    pub ct_log_keys: Vec<Vec<u8>>,
    /// DER SubjectPublicKeyInfo of every trusted transparency (Rekor) log.
    pub tlog_keys: Vec<Vec<u8>>,
    /// Each trusted CA's chain, DER, issuing certificate first, root last.
    pub ca_chains: Vec<Vec<Vec<u8>>>,
}

impl TrustMaterial {
    /// Reads a `TrustedRoot` document alone (enough to verify, not to sign).
    pub fn from_trusted_root(root: &Value) -> Result<TrustMaterial, ClientError> {
        if root["mediaType"] != "application/vnd.dev.sigstore.trustedroot+json;version=0.1" {
            return Err(ClientError::Trust(
                "not a TrustedRoot v0.1 (mediaType)".into(),
            ));
        }
        let keys = |field: &str| -> Vec<Vec<u8>> {
            root[field]
                .as_array()
                .map(|logs| {
                    logs.iter()
                        .filter_map(|l| l["publicKey"]["rawBytes"].as_str())
                        .filter_map(|k| STANDARD.decode(k).ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        let ca_chains = root["certificateAuthorities"]
            .as_array()
            .map(|cas| {
                cas.iter()
                    .map(|ca| {
                        ca["certChain"]["certificates"]
                            .as_array()
                            .map(|c| {
                                c.iter()
                                    .filter_map(|c| c["rawBytes"].as_str())
                                    .filter_map(|c| STANDARD.decode(c).ok())
                                    .collect()
                            })
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(TrustMaterial {
            ca_url: String::new(),
            rekor_url: String::new(),
            ct_log_keys: keys("ctlogs"),
            tlog_keys: keys("tlogs"),
            ca_chains,
        })
    }

    /// Reads a `ClientTrustConfig` document.
    pub fn from_client_trust_config(config: &Value) -> Result<TrustMaterial, ClientError> {
        let bad = |what: &str| ClientError::Trust(what.to_owned());
        if config["mediaType"] != "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json" {
            return Err(bad("not a ClientTrustConfig v0.1 (mediaType)"));
        }
        let first_url = |field: &str| -> Result<String, ClientError> {
            config["signingConfig"][field]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["majorApiVersion"] == 1))
                .and_then(|s| s["url"].as_str())
                .map(|u| u.trim_end_matches('/').to_owned())
                .ok_or_else(|| bad(&format!("signingConfig.{field} has no v1 service")))
        };
        let root = TrustMaterial::from_trusted_root(&config["trustedRoot"])?;
        if root.ct_log_keys.is_empty() {
            return Err(bad("trustedRoot.ctlogs lists no key"));
        }
        Ok(TrustMaterial {
            ca_url: first_url("caUrls")?,
            rekor_url: first_url("rekorTlogUrls")?,
            ..root
        })
    }

    /// Fetches a deployment's `client_trust_config.json`.
    pub async fn from_server(
        http: &reqwest::Client,
        server: &str,
    ) -> Result<(TrustMaterial, Value), ClientError> {
        let url = format!(
            "{}/.well-known/sigstore/client_trust_config.json",
            server.trim_end_matches('/')
        );
        let fail = |message: String| ClientError::Service {
            service: "trust configuration",
            message,
        };
        let response = http
            .get(&url)
            .send()
            .await
            .map_err(|e| fail(format!("{url}: {e}")))?;
        if !response.status().is_success() {
            return Err(fail(format!("{url}: HTTP {}", response.status())));
        }
        let config: Value = response
            .json()
            .await
            .map_err(|e| fail(format!("{url}: {e}")))?;
        Ok((TrustMaterial::from_client_trust_config(&config)?, config))
    }

    /// Reads a `ClientTrustConfig` (or, with `trusted_root_only`, a `TrustedRoot`) file.
    pub fn from_file(
        path: &std::path::Path,
        trusted_root_only: bool,
    ) -> Result<TrustMaterial, ClientError> {
        let text = std::fs::read(path).map_err(|e| ClientError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let config: Value = serde_json::from_slice(&text)
            .map_err(|e| ClientError::Trust(format!("{}: not JSON: {e}", path.display())))?;
        if trusted_root_only {
            TrustMaterial::from_trusted_root(&config)
        } else {
            TrustMaterial::from_client_trust_config(&config)
        }
    }
}
