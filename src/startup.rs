//! Building and running the server: configuration in, a listening `Application` out.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, Service};
use actix_web::{App, HttpServer, web};
use sigil_ctlog::ct::CtLog;
use sigil_ctlog::key::LogKey;
use sigil_ctlog::log::{LogOptions, Observer};
use sigil_ctlog::store::Store;

use crate::rekor::RekorLog;
use url::Url;

use crate::ca::CertificateAuthority;
use crate::config::Config;
use crate::dev_idp::{self, DevIdp};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::oidc::{Authenticator, IssuerPool};
use crate::routes;
use crate::scheduling::WorkerPriority;
use crate::worker_load::WorkerLoad;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The issuer file is unusable.
    #[error(transparent)]
    Issuers(#[from] crate::oidc::issuers::IssuerFileError),
    /// The CA could not be set up.
    #[error(transparent)]
    Ca(#[from] crate::ca::Error),
    /// The database could not be opened or migrated.
    #[error("storage.url: {0}")]
    Store(#[from] sigil_ctlog::store::StoreError),
    /// A log could not be opened.
    #[error("log: {0}")]
    Log(#[from] sigil_ctlog::log::LogError),
    /// A log key could not be loaded.
    #[error(transparent)]
    LogKey(#[from] sigil_ctlog::key::KeyError),
    /// Anything else at start-up.
    #[error("{0}")]
    Other(String),
}

/// Everything handlers share. Built once; read-only afterwards.
pub struct AppState {
    /// The configuration, as loaded.
    pub config: Config,
    /// The base URL clients use.
    pub public_url: Url,
    /// The certificate authority.
    pub ca: Arc<CertificateAuthority>,
    /// Token verification and principals.
    pub auth: Authenticator,
    /// The Certificate Transparency log.
    pub ct: CtLog,
    /// The Rekor-compatible signature log.
    pub rekor: RekorLog,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// The dev issuer, only with `--dev`.
    pub dev_idp: Option<DevIdp>,
    /// Rate limiters.
    pub limits: crate::limits::Limits,
    /// The trust documents, built once from the above.
    pub trust: crate::trust::TrustDocuments,
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    /// Dev mode's throwaway database, removed when the server stops.
    throwaway: Option<std::path::PathBuf>,
}

impl Application {
    /// Loads keys and issuers, binds the listener, and prepares the server.
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        let listener =
            TcpListener::bind(config.server.listen).map_err(|source| StartupError::Bind {
                addr: config.server.listen,
                source,
            })?;
        let bound = listener
            .local_addr()
            .map_err(|e| StartupError::Other(e.to_string()))?;
        let public_url = config.public_url(bound);
        let metrics = Metrics::new();

        let mut issuers = load_issuers(&config)?;
        let dev_idp = if config.dev {
            let idp = DevIdp::new(&public_url).map_err(|e| StartupError::Other(e.to_string()))?;
            issuers.insert(
                idp.issuer_settings(config.oidc.fetch_timeout)
                    .map_err(|e| StartupError::Other(e.to_string()))?,
            );
            tracing::warn!(
                issuer = idp.issuer(),
                "DEV MODE: the built-in OIDC issuer mints tokens for any identity"
            );
            Some(idp)
        } else {
            None
        };
        if issuers.is_empty() {
            return Err(StartupError::Other(format!(
                "no OIDC issuers are configured in {}; nobody could obtain a certificate",
                config.oidc.issuers.display()
            )));
        }

        if config.ca.backend == crate::config::CaBackend::Ephemeral {
            tracing::warn!(
                "the CA key is ephemeral: every restart creates a new root (development only)"
            );
        }
        if let Some(path) = &config.ca.key {
            crate::keyfile::warn_if_exposed(path, "ca.key");
        }
        let ca = Arc::new(CertificateAuthority::from_config(&config.ca)?);
        let (url, throwaway) = storage_url(&config);
        let store = Store::connect(&url).await?;
        // Filled as the request workers start, below; the log sequencers read it.
        let workers = Arc::new(WorkerLoad::default());
        let options = log_options(&config, &workers);
        let ct = open_ct_log(
            &config,
            &public_url,
            &ca,
            store.clone(),
            &metrics,
            options.clone(),
        )
        .await?;
        tokio::spawn(ct.log().clone().run_sequencer());
        let rekor = open_rekor_log(&config, &public_url, &ca, store, &metrics, options).await?;
        tokio::spawn(rekor.log().clone().run_sequencer());
        let auth = Authenticator::new(
            issuers,
            config.oidc.jwks_cache_ttl,
            config.oidc.jwks_refresh_interval,
            config.oidc.leeway,
            metrics.clone(),
        );
        tracing::info!(
            listen = %bound,
            public_url = %public_url,
            issuers = auth.issuers().len(),
            "sigil is ready"
        );

        let dev = config.dev;
        let request_timeout = config.limits.request_timeout;
        let connections_per_worker = per_worker(config.limits.max_connections);
        let limits = crate::limits::Limits::new(&config.limits);
        let mut state = AppState {
            config,
            public_url,
            ca,
            auth,
            ct,
            rekor,
            metrics: metrics.clone(),
            dev_idp,
            limits,
            trust: crate::trust::TrustDocuments::empty(),
        };
        state.trust = crate::trust::TrustDocuments::build(&state).map_err(StartupError::Other)?;
        let priority = WorkerPriority::below_current(state.config.server.worker_niceness)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read this thread's priority");
                WorkerPriority::UNCHANGED
            });
        let state = web::Data::new(state);
        let server = HttpServer::new(move || {
            // actix-web builds the app on each worker thread as the worker starts.
            if let Err(e) = priority.apply() {
                tracing::warn!(error = %e, "cannot lower the request worker's priority");
            }
            if let Err(e) = workers.register_current_thread() {
                tracing::warn!(error = %e, "cannot read the request worker's scheduler statistics");
            }
            let metrics = metrics.clone();
            App::new()
                .app_data(state.clone())
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    ApiError::BadRequest(format!("bad query string: {e}")).into()
                }))
                .app_data(web::FormConfig::default().error_handler(|e, _| {
                    ApiError::BadRequest(format!("bad form body: {e}")).into()
                }))
                .wrap(actix_web::middleware::from_fn(crate::limits::per_ip))
                .wrap_fn(move |req, srv| {
                    let start = Instant::now();
                    let method = req.method().to_string();
                    let metrics = metrics.clone();
                    let response = srv.call(req);
                    async move {
                        let response = response.await?;
                        let route = response
                            .request()
                            .match_pattern()
                            .unwrap_or_else(|| "unmatched".to_owned());
                        metrics
                            .http_requests
                            .with_label_values(&[&route, &method, response.status().as_str()])
                            .observe(start.elapsed().as_secs_f64());
                        Ok(response)
                    }
                })
                .configure(routes::configure)
                .configure(|cfg| {
                    if dev {
                        dev_idp::configure(cfg);
                    }
                })
                .default_service(web::to(routes::not_found))
        })
        .max_connections(connections_per_worker)
        .client_request_timeout(request_timeout)
        .client_disconnect_timeout(Duration::from_secs(5))
        .keep_alive(Duration::from_secs(30))
        .shutdown_timeout(10)
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: bound,
            source,
        })?
        .run();

        Ok(Application {
            port: bound.port(),
            server,
            throwaway,
        })
    }

    /// The bound port (useful with `listen = …:0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process is asked to stop (SIGINT/SIGTERM).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let outcome = self.server.await;
        if let Some(path) = &self.throwaway {
            let files = ["", "-wal", "-shm", ".hashes", ".hashes-wal", ".hashes-shm"];
            for suffix in files {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
        }
        outcome
    }
}

/// actix-web caps connections per worker thread; it starts one worker per core.
fn per_worker(max_connections: usize) -> usize {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    max_connections.div_ceil(workers).max(1)
}

/// The storage URL. In dev mode the keys are ephemeral, so the default database would hold
/// logs that no later run can continue; dev mode therefore starts from a fresh file unless
/// `storage.url` is set explicitly, and removes that file when it stops.
fn storage_url(config: &Config) -> (String, Option<std::path::PathBuf>) {
    let default = crate::config::StorageConfig::default().url;
    let ephemeral_log_key = config.ct_log.key.is_none() || config.rekor.key.is_none();
    if config.dev && config.storage.url == default && ephemeral_log_key {
        let path = std::env::temp_dir().join(format!(
            "sigil-dev-{}-{}.db",
            std::process::id(),
            sigil_ctlog::log::now_ms()
        ));
        tracing::warn!(path = %path.display(), "DEV MODE: logs live in a throwaway database");
        return (format!("sqlite://{}", path.display()), Some(path));
    }
    (config.storage.url.clone(), None)
}

/// `host:port` of the public URL: the default checkpoint origins are built from it.
pub fn public_host(public_url: &Url) -> String {
    match (public_url.host_str(), public_url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => public_url.as_str().to_owned(),
    }
}

/// A log key from its file (decrypted with the passphrase `passphrase_env` names), or an
/// ephemeral one, loudly.
fn log_key(
    path: Option<&std::path::Path>,
    passphrase_env: Option<&str>,
    key_name: &'static str,
    passphrase_key: &'static str,
) -> Result<Arc<LogKey>, StartupError> {
    Ok(Arc::new(match path {
        Some(path) => {
            let passphrase = crate::config::secret_from_env(passphrase_key, passphrase_env)
                .map_err(|e| StartupError::Other(e.to_string()))?;
            crate::keyfile::warn_if_exposed(path, key_name);
            LogKey::from_pem_file(path, passphrase.as_deref().map(str::as_bytes))?
        }
        None => {
            tracing::warn!("{key_name} is not set: this log key is ephemeral (development only)");
            LogKey::generate_p256()?
        }
    }))
}

fn log_options(config: &Config, workers: &Arc<WorkerLoad>) -> LogOptions {
    LogOptions {
        interval: config.log.sequence_interval,
        linger: config.log.batch_linger,
        workload: Some(workers.clone()),
        ..LogOptions::default()
    }
}

/// Opens the Rekor-compatible log: its key, its origin (`{host:port}` by default, which
/// sigstore-js requires to appear in the log's `baseUrl`), admitting this CA's certificates.
async fn open_rekor_log(
    config: &Config,
    public_url: &Url,
    ca: &CertificateAuthority,
    store: Store,
    metrics: &Metrics,
    options: LogOptions,
) -> Result<RekorLog, StartupError> {
    let key = log_key(
        config.rekor.key.as_deref(),
        config.rekor.key_passphrase_env.as_deref(),
        "rekor.key",
        "rekor.key_passphrase_env",
    )?;
    let origin = config
        .rekor
        .origin
        .clone()
        .unwrap_or_else(|| public_host(public_url));
    let observer: Arc<dyn Observer> = Arc::new(metrics.clone());
    Ok(RekorLog::open(
        "rekor",
        store,
        key,
        origin,
        ca.chain().certs(),
        Some(observer),
        options,
    )
    .await?)
}

/// Opens the CT log: its key (or an ephemeral one, loudly), its origin, and the CA root as
/// its accepted root.
async fn open_ct_log(
    config: &Config,
    public_url: &Url,
    ca: &CertificateAuthority,
    store: Store,
    metrics: &Metrics,
    options: LogOptions,
) -> Result<CtLog, StartupError> {
    let key = log_key(
        config.ct_log.key.as_deref(),
        config.ct_log.key_passphrase_env.as_deref(),
        "ct_log.key",
        "ct_log.key_passphrase_env",
    )?;
    let origin = config
        .ct_log
        .origin
        .clone()
        .unwrap_or_else(|| format!("{}/ct", public_host(public_url)));
    let observer: Arc<dyn Observer> = Arc::new(metrics.clone());
    Ok(CtLog::open(
        "ct",
        store,
        key,
        origin,
        ca.chain().ders().last().cloned().into_iter().collect(),
        Some(observer),
        options,
    )
    .await?)
}

/// The issuer file; in dev mode a missing default file just means "only the dev issuer".
fn load_issuers(config: &Config) -> Result<IssuerPool, StartupError> {
    let path = &config.oidc.issuers;
    if config.dev && !path.exists() {
        tracing::info!(path = %path.display(), "no issuer file; only the dev issuer is trusted");
        return Ok(IssuerPool::default());
    }
    Ok(IssuerPool::load(path, config.oidc.fetch_timeout)?)
}
