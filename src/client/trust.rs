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
}

impl TrustMaterial {
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
        let ct_log_keys = config["trustedRoot"]["ctlogs"]
            .as_array()
            .ok_or_else(|| bad("trustedRoot.ctlogs is missing"))?
            .iter()
            .filter_map(|l| l["publicKey"]["rawBytes"].as_str())
            .filter_map(|k| STANDARD.decode(k).ok())
            .collect::<Vec<_>>();
        if ct_log_keys.is_empty() {
            return Err(bad("trustedRoot.ctlogs lists no key"));
        }
        Ok(TrustMaterial {
            ca_url: first_url("caUrls")?,
            rekor_url: first_url("rekorTlogUrls")?,
            ct_log_keys,
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

    /// Reads a `ClientTrustConfig` file.
    pub fn from_file(path: &std::path::Path) -> Result<TrustMaterial, ClientError> {
        let text = std::fs::read(path).map_err(|e| ClientError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let config: Value = serde_json::from_slice(&text)
            .map_err(|e| ClientError::Trust(format!("{}: not JSON: {e}", path.display())))?;
        TrustMaterial::from_client_trust_config(&config)
    }
}
