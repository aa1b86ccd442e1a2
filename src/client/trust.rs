//! Trust material: the parts of a `TrustedRoot` (and of a `ClientTrustConfig` around it) that
//! signing and verification need — where the services are, and which keys and certificate
//! authorities are trusted, each over the period its `validFor` states.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::ClientError;
use crate::pki::AuthorityChain;
use crate::public_key::PublicKey;

/// The `TrustedRoot` of the public Sigstore instance, as sigstore-python 4.5.1 ships it.
const PUBLIC_GOOD_TRUSTED_ROOT: &[u8] = include_bytes!("public_good.trusted_root.json");

/// A `validFor` period in Unix seconds; an absent end means "still valid".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Validity {
    /// The first second of the period, if stated.
    pub start: Option<i64>,
    /// The last second of the period (inclusive), if stated.
    pub end: Option<i64>,
}

impl Validity {
    /// Whether `time` falls within the period.
    pub fn contains(&self, time: i64) -> bool {
        self.start.is_none_or(|s| s <= time) && self.end.is_none_or(|e| time <= e)
    }

    fn from_json(v: &Value) -> Validity {
        let at = |field: &str| {
            v[field]
                .as_str()
                .and_then(|s| {
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .map(|t| t.unix_timestamp())
        };
        Validity {
            start: at("start"),
            end: at("end"),
        }
    }
}

/// A trusted log (transparency or certificate transparency).
#[derive(Debug, Clone)]
pub struct TrustedLog {
    /// Its key, parsed once; `None` when it is malformed or of a type sigil cannot check, so
    /// that what it signed fails verification with a reason.
    pub key: Option<PublicKey>,
    /// The log ID entries name it by (`logId.keyId`): SHA-256 of the key for Rekor v1 and CT
    /// logs, the signed-note key ID for Rekor v2 logs.
    pub id: Vec<u8>,
    /// When its key may be used.
    pub valid: Validity,
}

/// A trusted certificate or timestamp authority.
#[derive(Debug, Clone)]
pub struct TrustedAuthority {
    /// Its chain, issuing (or signing) certificate first, root last.
    pub chain: AuthorityChain,
    /// When it may have issued.
    pub valid: Validity,
}

/// Trust material of one deployment.
#[derive(Debug, Clone)]
pub struct TrustMaterial {
    /// Base URL of the Fulcio-compatible CA.
    pub ca_url: String,
    /// Base URL of the Rekor v1 log.
    pub rekor_url: String,
    /// The OIDC issuer the deployment suggests for interactive sign-in, if any.
    pub oidc_url: Option<String>,
    /// Every trusted CT log.
    pub ct_logs: Vec<TrustedLog>,
    /// Every trusted transparency (Rekor) log.
    pub tlogs: Vec<TrustedLog>,
    /// Every trusted certificate authority.
    pub certificate_authorities: Vec<TrustedAuthority>,
    /// Every trusted RFC 3161 timestamp authority.
    pub timestamp_authorities: Vec<TrustedAuthority>,
}

impl TrustMaterial {
    /// The public Sigstore instance's trusted root, shipped inside the binary (verification
    /// only, offline).
    pub fn public_good() -> Result<TrustMaterial, ClientError> {
        let root: Value = serde_json::from_slice(PUBLIC_GOOD_TRUSTED_ROOT)
            .map_err(|e| ClientError::Trust(format!("the built-in public-good root: {e}")))?;
        TrustMaterial::from_trusted_root(&root)
    }

    /// Reads a `TrustedRoot` document alone (enough to verify, not to sign).
    pub fn from_trusted_root(root: &Value) -> Result<TrustMaterial, ClientError> {
        if root["mediaType"] != "application/vnd.dev.sigstore.trustedroot+json;version=0.1" {
            return Err(ClientError::Trust(
                "not a TrustedRoot v0.1 (mediaType)".into(),
            ));
        }
        let decode = |v: &Value| v.as_str().and_then(|s| STANDARD.decode(s).ok());
        let list = |field: &str| {
            root[field]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
        };
        let logs = |field: &str| -> Vec<TrustedLog> {
            list(field)
                .iter()
                .filter_map(|log| {
                    let key = decode(&log["publicKey"]["rawBytes"])?;
                    let id = decode(&log["logId"]["keyId"])
                        .unwrap_or_else(|| sigil_ctlog::rfc6962::sha256(&key).to_vec());
                    Some(TrustedLog {
                        key: PublicKey::from_spki(&key),
                        id,
                        valid: Validity::from_json(&log["publicKey"]["validFor"]),
                    })
                })
                .collect()
        };
        let authorities = |field: &str| -> Vec<TrustedAuthority> {
            list(field)
                .iter()
                .filter_map(|ca| {
                    let chain: Vec<Vec<u8>> = ca["certChain"]["certificates"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|c| decode(&c["rawBytes"]))
                        .collect();
                    (!chain.is_empty()).then(|| TrustedAuthority {
                        chain: AuthorityChain::new(chain),
                        valid: Validity::from_json(&ca["validFor"]),
                    })
                })
                .collect()
        };
        Ok(TrustMaterial {
            ca_url: String::new(),
            rekor_url: String::new(),
            oidc_url: None,
            ct_logs: logs("ctlogs"),
            tlogs: logs("tlogs"),
            certificate_authorities: authorities("certificateAuthorities"),
            timestamp_authorities: authorities("timestampAuthorities"),
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
        if root.ct_logs.is_empty() {
            return Err(bad("trustedRoot.ctlogs lists no key"));
        }
        Ok(TrustMaterial {
            ca_url: first_url("caUrls")?,
            rekor_url: first_url("rekorTlogUrls")?,
            oidc_url: first_url("oidcUrls").ok(),
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
