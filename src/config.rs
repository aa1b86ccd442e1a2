//! All of sigil's configuration: one struct, loaded once at start-up.
//!
//! Sources, later ones winning: the defaults in the types below, the TOML file given with
//! `--config`, then environment variables `SIGIL_<SECTION>__<KEY>` (for example
//! `SIGIL_SERVER__LISTEN=127.0.0.1:0`). Nothing else in sigil reads the environment, except
//! key passphrases and the PKCS#11 PIN, whose variable *names* are configured here.
//!
//! The whole configuration is checked before anything starts: a bad value stops start-up with
//! a message naming the key and the problem, rather than a guess.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or a value has the wrong type.
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    /// A value parsed but is not acceptable.
    #[error("configuration key `{key}`: {problem}")]
    Invalid {
        /// The dotted key, as written in the TOML file.
        key: &'static str,
        /// What is wrong and how to fix it.
        problem: String,
    },
}

impl ConfigError {
    fn invalid(key: &'static str, problem: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key,
            problem: problem.into(),
        }
    }
}

/// The complete configuration of one `sigil serve` process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The HTTP listener.
    #[serde(default)]
    pub server: ServerConfig,
    /// Where the logs keep their state.
    #[serde(default)]
    pub storage: StorageConfig,
    /// The certificate authority.
    #[serde(default)]
    pub ca: CaConfig,
    /// Which OIDC issuers are trusted, and how their keys are fetched.
    #[serde(default)]
    pub oidc: OidcConfig,
    /// The Certificate Transparency log.
    #[serde(default)]
    pub ct_log: CtLogConfig,
    /// The Rekor-compatible signature log.
    #[serde(default)]
    pub rekor: RekorConfig,
    /// Settings shared by both logs.
    #[serde(default)]
    pub log: LogConfig,
    /// Rate limits and connection limits against abuse.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Development mode (`--dev`): ephemeral keys and the built-in OIDC issuer. Not read from
    /// the file; only the command line sets it.
    #[serde(skip)]
    pub dev: bool,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port of the one HTTP port. Port 0 picks a free port. Default
    /// `127.0.0.1:5555`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Base URL that clients use to reach this server; written into the trust configuration
    /// and used as the dev issuer's URL. Default `http://{listen}` (with the bound port).
    #[serde(default)]
    pub public_url: Option<Url>,
    /// Largest request body accepted, in bytes. Default 4 MiB, as Fulcio.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// How many nice levels the request workers run below the process, so that under load
    /// the log's commit path, which every waiting request needs, gets the CPU first (Linux;
    /// 0 to 19). Default 10.
    #[serde(default = "default_worker_niceness")]
    pub worker_niceness: i32,
}

/// `[storage]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite://PATH` or `postgres://…`. Default `sqlite://data/sigil.db`.
    #[serde(default = "default_storage_url")]
    pub url: String,
}

/// Where the CA key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaBackend {
    /// A root and an intermediate generated at start-up and kept in memory.
    Ephemeral,
    /// A PEM chain and a PKCS#8 key from files.
    File,
    /// A key in a PKCS#11 token.
    Pkcs11,
}

/// Key types the CA can generate for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum CaKeyType {
    /// ECDSA on NIST P-256 with SHA-256.
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// ECDSA on NIST P-384 with SHA-384; Fulcio's public instance uses this.
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    /// RSA 3072 with PKCS#1 v1.5 and SHA-256.
    #[serde(rename = "rsa-3072")]
    Rsa3072,
}

/// `[ca]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaConfig {
    /// `ephemeral`, `file` or `pkcs11`. Default `ephemeral`.
    #[serde(default = "default_ca_backend")]
    pub backend: CaBackend,
    /// Key type of an ephemeral CA. Default `ecdsa-p384`.
    #[serde(default = "default_ca_key_type")]
    pub key_type: CaKeyType,
    /// File backend: PEM chain, issuing certificate first and root last.
    #[serde(default)]
    pub chain: Option<PathBuf>,
    /// File backend: PKCS#8 PEM private key of the issuing certificate, optionally encrypted.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Name of the environment variable that holds the key's passphrase.
    #[serde(default)]
    pub key_passphrase_env: Option<String>,
    /// PKCS#11 backend: path of the token's PKCS#11 library, e.g.
    /// `/usr/lib/softhsm/libsofthsm2.so`.
    #[serde(default)]
    pub pkcs11_module: Option<PathBuf>,
    /// PKCS#11 backend: label of the token that holds the key.
    #[serde(default)]
    pub pkcs11_token: Option<String>,
    /// PKCS#11 backend: label of the private key in the token.
    #[serde(default)]
    pub pkcs11_key: Option<String>,
    /// PKCS#11 backend: name of the environment variable that holds the user PIN.
    #[serde(default)]
    pub pkcs11_pin_env: Option<String>,
    /// Lifetime of issued leaf certificates, e.g. `10m`. Default 10 minutes.
    #[serde(default = "default_cert_validity", with = "humantime_serde")]
    pub cert_validity: Duration,
}

/// `[oidc]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// Fulcio-format issuer file, YAML or JSON. Default `config/issuers.yaml`.
    #[serde(default = "default_issuers_path")]
    pub issuers: PathBuf,
    /// How long discovery documents and JWKS stay cached. Default 1 hour.
    #[serde(default = "default_jwks_ttl", with = "humantime_serde")]
    pub jwks_cache_ttl: Duration,
    /// Least time between two refetches of one issuer's JWKS caused by an unknown `kid`.
    /// Default 30 seconds.
    #[serde(default = "default_jwks_refresh", with = "humantime_serde")]
    pub jwks_refresh_interval: Duration,
    /// Timeout of one discovery or JWKS request. Default 5 seconds.
    #[serde(default = "default_fetch_timeout", with = "humantime_serde")]
    pub fetch_timeout: Duration,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Default 30 seconds.
    #[serde(default = "default_leeway", with = "humantime_serde")]
    pub leeway: Duration,
}

/// How the SCT reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SctMode {
    /// In the certificate (precertificate flow); what sigstore-python requires.
    Embedded,
    /// Beside the certificate, as Fulcio's `signedCertificateDetachedSct`.
    Detached,
}

/// `[ct_log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CtLogConfig {
    /// PKCS#8 PEM log key, optionally encrypted; absent means an ephemeral key (development
    /// only).
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Name of the environment variable that holds the key's passphrase.
    #[serde(default)]
    pub key_passphrase_env: Option<String>,
    /// `embedded` or `detached`. Default `embedded`.
    #[serde(default = "default_sct_mode")]
    pub sct: SctMode,
    /// Checkpoint origin. Default `{host:port}/ct` of the public URL.
    #[serde(default)]
    pub origin: Option<String>,
}

/// `[rekor]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RekorConfig {
    /// PKCS#8 PEM log key, optionally encrypted; absent means an ephemeral key (development
    /// only).
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Name of the environment variable that holds the key's passphrase.
    #[serde(default)]
    pub key_passphrase_env: Option<String>,
    /// Checkpoint origin. Default `{host:port}` of the public URL.
    #[serde(default)]
    pub origin: Option<String>,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// How often pending entries are sequenced. Default 100 ms.
    #[serde(default = "default_sequence_interval", with = "humantime_serde")]
    pub sequence_interval: Duration,
    /// Under load, the longest a batch may wait for more entries before it is committed;
    /// within it the linger follows how busy the request workers are. Default 20 ms; 0 commits
    /// every batch at once.
    #[serde(default = "default_batch_linger", with = "humantime_serde")]
    pub batch_linger: Duration,
}

/// `[limits]`: what one client may cost the server. A rate of 0 turns that limit off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Write requests (every POST) per second from one client IP, sustained. Default 50.
    #[serde(default = "default_ip_rate")]
    pub ip_rate: f64,
    /// Write requests one client IP may send at once before the rate applies. Default 500.
    #[serde(default = "default_ip_burst")]
    pub ip_burst: u32,
    /// Certificates per second for one identity (issuer and subject), sustained. Default 2.
    #[serde(default = "default_identity_rate")]
    pub identity_rate: f64,
    /// Certificates one identity may obtain at once before the rate applies. Default 100.
    #[serde(default = "default_identity_burst")]
    pub identity_burst: u32,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client.
    /// Requests from anywhere else are limited by their own address. Default none.
    #[serde(default)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Open connections the server accepts at once; more wait in the kernel's backlog.
    /// Default 10000.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Time a client has to send its request headers, and again its body. Slower clients are
    /// disconnected (headers) or answered 408 (body). Default 10 seconds.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5555))
}
fn default_ip_rate() -> f64 {
    50.0
}
fn default_ip_burst() -> u32 {
    500
}
fn default_identity_rate() -> f64 {
    2.0
}
fn default_identity_burst() -> u32 {
    100
}
fn default_max_connections() -> usize {
    10_000
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_max_body_bytes() -> usize {
    4 * 1024 * 1024
}
fn default_worker_niceness() -> i32 {
    10
}
fn default_storage_url() -> String {
    "sqlite://data/sigil.db".to_owned()
}
fn default_ca_backend() -> CaBackend {
    CaBackend::Ephemeral
}
fn default_ca_key_type() -> CaKeyType {
    CaKeyType::EcdsaP384
}
fn default_cert_validity() -> Duration {
    Duration::from_secs(600)
}
fn default_issuers_path() -> PathBuf {
    PathBuf::from("config/issuers.yaml")
}
fn default_jwks_ttl() -> Duration {
    Duration::from_secs(3600)
}
fn default_jwks_refresh() -> Duration {
    Duration::from_secs(30)
}
fn default_fetch_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_leeway() -> Duration {
    Duration::from_secs(30)
}
fn default_sct_mode() -> SctMode {
    SctMode::Embedded
}
fn default_sequence_interval() -> Duration {
    Duration::from_millis(100)
}
/// The longest linger, which the sequencer reaches only while the request workers stay busy
/// (`sigil_ctlog::linger`). A fixed linger suits one machine and one client count: on the
/// 2-core project machine 2 ms left 10–15% of the cores idle at 16 connections, while 64
/// connections kept them busy at up to 10 ms; another machine lost a fifth of its P-384 rate at
/// 5 ms. With the linger following the workers, a longest of 20 ms rather than 10 ms let
/// batches at 64 connections grow from about 14 entries to about 38 and raised the rate by
/// 3–5%, and changed nothing at 8 or 16 (`docs/performance-history.md`, sessions 14, 17, 23
/// and 24).
fn default_batch_linger() -> Duration {
    Duration::from_millis(20)
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            public_url: None,
            max_body_bytes: default_max_body_bytes(),
            worker_niceness: default_worker_niceness(),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            url: default_storage_url(),
        }
    }
}

impl Default for CaConfig {
    fn default() -> Self {
        CaConfig {
            backend: default_ca_backend(),
            key_type: default_ca_key_type(),
            chain: None,
            key: None,
            key_passphrase_env: None,
            pkcs11_module: None,
            pkcs11_token: None,
            pkcs11_key: None,
            pkcs11_pin_env: None,
            cert_validity: default_cert_validity(),
        }
    }
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            issuers: default_issuers_path(),
            jwks_cache_ttl: default_jwks_ttl(),
            jwks_refresh_interval: default_jwks_refresh(),
            fetch_timeout: default_fetch_timeout(),
            leeway: default_leeway(),
        }
    }
}

impl Default for CtLogConfig {
    fn default() -> Self {
        CtLogConfig {
            key: None,
            key_passphrase_env: None,
            sct: default_sct_mode(),
            origin: None,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            sequence_interval: default_sequence_interval(),
            batch_linger: default_batch_linger(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            ip_rate: default_ip_rate(),
            ip_burst: default_ip_burst(),
            identity_rate: default_identity_rate(),
            identity_burst: default_identity_burst(),
            trusted_proxies: Vec::new(),
            max_connections: default_max_connections(),
            request_timeout: default_request_timeout(),
        }
    }
}

/// A secret (passphrase or PIN) from the environment variable that setting `key` names.
pub fn secret_from_env(
    key: &'static str,
    var: Option<&str>,
) -> Result<Option<String>, ConfigError> {
    var.map(|var| {
        std::env::var(var)
            .map_err(|_| ConfigError::invalid(key, format!("names `{var}`, which is not set")))
    })
    .transpose()
}

/// The environment variables that are configuration: `SIGIL_<SECTION>__<KEY>`. Other
/// `SIGIL_` variables (`SIGIL_IDENTITY_TOKEN`, `SIGIL_TEST_DATABASE_URL`) belong to other
/// parts of sigil and must not be mistaken for unknown keys.
fn config_variables(vars: impl Iterator<Item = (String, String)>) -> config::Map<String, String> {
    vars.filter(|(name, _)| {
        name.strip_prefix("SIGIL_")
            .is_some_and(|rest| rest.contains("__"))
    })
    .collect()
}

impl Config {
    /// Loads the configuration: defaults, then `file` if given, then `SIGIL_` variables.
    pub fn load(file: Option<&Path>, dev: bool) -> Result<Config, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).required(true));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("SIGIL")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(config_variables(std::env::vars()))),
        );
        let mut config: Config = builder.build()?.try_deserialize()?;
        config.dev = dev;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values that parse but cannot work together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.server.max_body_bytes < 1024 {
            return Err(ConfigError::invalid(
                "server.max_body_bytes",
                "must be at least 1024 bytes",
            ));
        }
        if !(0..=19).contains(&self.server.worker_niceness) {
            return Err(ConfigError::invalid(
                "server.worker_niceness",
                "must be between 0 (off) and 19",
            ));
        }
        if let Some(url) = &self.server.public_url {
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(ConfigError::invalid(
                    "server.public_url",
                    format!("`{url}` must be an http or https URL with a host"),
                ));
            }
        }
        if !(self.storage.url.starts_with("sqlite://")
            || self.storage.url.starts_with("postgres://")
            || self.storage.url.starts_with("postgresql://"))
        {
            return Err(ConfigError::invalid(
                "storage.url",
                "must start with sqlite:// or postgres://",
            ));
        }
        let validity = self.ca.cert_validity;
        if validity < Duration::from_secs(60) || validity > Duration::from_secs(24 * 3600) {
            return Err(ConfigError::invalid(
                "ca.cert_validity",
                format!(
                    "{} is outside 1m..=24h; short-lived certificates are the point",
                    humantime::format_duration(validity)
                ),
            ));
        }
        match self.ca.backend {
            CaBackend::Ephemeral => {}
            CaBackend::File => {
                if self.ca.chain.is_none() {
                    return Err(ConfigError::invalid(
                        "ca.chain",
                        "required when ca.backend = \"file\" (PEM chain, issuing cert first)",
                    ));
                }
                if self.ca.key.is_none() {
                    return Err(ConfigError::invalid(
                        "ca.key",
                        "required when ca.backend = \"file\" (PKCS#8 PEM private key)",
                    ));
                }
            }
            CaBackend::Pkcs11 => {
                let required = [
                    ("ca.chain", self.ca.chain.is_some()),
                    ("ca.pkcs11_module", self.ca.pkcs11_module.is_some()),
                    ("ca.pkcs11_token", self.ca.pkcs11_token.is_some()),
                    ("ca.pkcs11_key", self.ca.pkcs11_key.is_some()),
                    ("ca.pkcs11_pin_env", self.ca.pkcs11_pin_env.is_some()),
                ];
                if let Some((key, _)) = required.iter().find(|(_, set)| !set) {
                    return Err(ConfigError::invalid(
                        key,
                        "required when ca.backend = \"pkcs11\"",
                    ));
                }
            }
        }
        if self.log.sequence_interval < Duration::from_millis(1)
            || self.log.sequence_interval > Duration::from_secs(10)
        {
            return Err(ConfigError::invalid(
                "log.sequence_interval",
                "must be between 1ms and 10s",
            ));
        }
        if self.log.batch_linger > self.log.sequence_interval {
            return Err(ConfigError::invalid(
                "log.batch_linger",
                "must not exceed log.sequence_interval",
            ));
        }
        for (key, rate, burst) in [
            ("limits.ip_rate", self.limits.ip_rate, self.limits.ip_burst),
            (
                "limits.identity_rate",
                self.limits.identity_rate,
                self.limits.identity_burst,
            ),
        ] {
            if !rate.is_finite() || rate < 0.0 {
                return Err(ConfigError::invalid(
                    key,
                    "must be a number of requests per second, 0 or more (0 turns it off)",
                ));
            }
            if rate > 0.0 && burst == 0 {
                return Err(ConfigError::invalid(
                    key,
                    "its burst must be at least 1 when the rate is positive",
                ));
            }
        }
        if self.limits.max_connections == 0 {
            return Err(ConfigError::invalid(
                "limits.max_connections",
                "must be at least 1",
            ));
        }
        if self.limits.request_timeout < Duration::from_millis(100) {
            return Err(ConfigError::invalid(
                "limits.request_timeout",
                "must be at least 100ms",
            ));
        }
        if self.oidc.fetch_timeout.is_zero() {
            return Err(ConfigError::invalid(
                "oidc.fetch_timeout",
                "must be positive",
            ));
        }
        Ok(())
    }

    /// The base URL clients use, once the listener's real address is known.
    pub fn public_url(&self, bound: SocketAddr) -> Url {
        match &self.server.public_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("http://{bound}"))
                .expect("a socket address always forms a valid http URL"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_design_table() {
        let config: Config = config::Config::builder()
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:5555".parse().unwrap());
        assert_eq!(config.server.max_body_bytes, 4_194_304);
        assert_eq!(config.server.worker_niceness, 10);
        assert_eq!(config.storage.url, "sqlite://data/sigil.db");
        assert_eq!(config.ca.backend, CaBackend::Ephemeral);
        assert_eq!(config.ca.key_type, CaKeyType::EcdsaP384);
        assert_eq!(config.ca.cert_validity, Duration::from_secs(600));
        assert_eq!(config.ct_log.sct, SctMode::Embedded);
        assert_eq!(config.log.sequence_interval, Duration::from_millis(100));
        assert_eq!(config.log.batch_linger, Duration::from_millis(20));
        config.validate().unwrap();
    }

    #[test]
    fn the_shipped_sigil_toml_loads_and_equals_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sigil.toml");
        let shipped = Config::load(Some(&path), false).unwrap();
        let defaults: Config = config::Config::builder()
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        assert_eq!(format!("{shipped:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn only_section_key_variables_are_configuration() {
        let vars = [
            ("SIGIL_SERVER__LISTEN", "127.0.0.1:0"),
            ("SIGIL_IDENTITY_TOKEN", "a.b.c"),
            ("SIGIL_TEST_DATABASE_URL", "postgres://x"),
            ("PATH", "/bin"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let kept = config_variables(vars.into_iter());
        assert_eq!(
            kept.keys().collect::<Vec<_>>(),
            vec!["SIGIL_SERVER__LISTEN"]
        );
    }

    #[test]
    fn file_backend_without_chain_names_the_key() {
        let mut config: Config = config::Config::builder()
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        config.ca.backend = CaBackend::File;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("ca.chain"), "{err}");
    }

    #[test]
    fn a_linger_longer_than_the_heartbeat_is_refused() {
        let mut config: Config = config::Config::builder()
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        config.log.batch_linger = Duration::from_millis(200);
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("log.batch_linger"), "{err}");
        config.log.batch_linger = Duration::ZERO;
        config.validate().unwrap();
    }

    #[test]
    fn a_worker_niceness_outside_0_to_19_is_refused() {
        let mut config: Config = config::Config::builder()
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        for bad in [-1, 20] {
            config.server.worker_niceness = bad;
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains("server.worker_niceness"), "{err}");
        }
        config.server.worker_niceness = 0;
        config.validate().unwrap();
    }

    #[test]
    fn toml_file_values_are_read_and_typos_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sigil.toml");
        std::fs::write(
            &path,
            "[ca]\ncert_validity = \"5m\"\nkey_type = \"ecdsa-p256\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&path), false).unwrap();
        assert_eq!(config.ca.cert_validity, Duration::from_secs(300));
        assert_eq!(config.ca.key_type, CaKeyType::EcdsaP256);

        std::fs::write(&path, "[ca]\ncert_valdity = \"5m\"\n").unwrap();
        let err = Config::load(Some(&path), false).unwrap_err().to_string();
        assert!(err.contains("cert_valdity"), "{err}");

        std::fs::write(&path, "[ca]\nkey_type = \"ed25519\"\n").unwrap();
        let err = Config::load(Some(&path), false).unwrap_err().to_string();
        assert!(err.contains("ed25519"), "{err}");
    }
}
