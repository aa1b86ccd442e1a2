//! The command line: clap definitions and one thin function per subcommand over the
//! library. `main.rs` only parses, runs on [`Cli::runtime`], and reports.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::client::ClientError;
use crate::config::{CaKeyType, Config};
use crate::startup::Application;

/// `sigil`: its subcommands.
#[derive(Parser)]
#[command(name = "sigil", version, about = "A private Sigstore in one binary")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the CA, the logs and the trust endpoints on one HTTP port.
    Serve {
        /// TOML configuration file; every key can also be set as SIGIL_<SECTION>__<KEY>.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Development mode: ephemeral keys and the built-in OIDC issuer at /dev/oidc.
        #[arg(long)]
        dev: bool,
    },
    /// Sign files keylessly: one certificate for all of them, one bundle (v0.3) per file.
    Sign {
        /// Files to sign.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Bundle path (only with one file); default FILE.sigstore.json.
        #[arg(long)]
        bundle: Option<PathBuf>,
        #[command(flatten)]
        signing: SigningArgs,
    },
    /// Sign an in-toto statement about a file as a DSSE envelope.
    Attest {
        /// The file the statement is about.
        file: PathBuf,
        /// The predicate type URI, e.g. https://slsa.dev/provenance/v1.
        #[arg(long)]
        predicate_type: String,
        /// A JSON file holding the predicate.
        #[arg(long)]
        predicate: PathBuf,
        /// Bundle path; default FILE.sigstore.json.
        #[arg(long)]
        bundle: Option<PathBuf>,
        #[command(flatten)]
        signing: SigningArgs,
    },
    /// Verify a bundle: exit 0 only when every check passes.
    Verify {
        /// The artifact, or `sha256:HEX` of it.
        artifact: String,
        /// The Sigstore bundle.
        #[arg(long)]
        bundle: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        trust: VerifyTrustArgs,
    },
    /// Drive a running deployment with load and report throughput, latency and memory.
    Loadtest {
        /// Base URL of the deployment.
        #[arg(long)]
        server: String,
        /// What to send.
        #[arg(long, value_enum)]
        scenario: crate::loadtest::Scenario,
        /// Concurrent keep-alive connections (threads' worth of tasks for `verify`).
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// The measured window, e.g. `30s`.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: std::time::Duration,
        /// Distinct requests prepared beforehand (log entries must be unique).
        #[arg(long, default_value_t = 20_000)]
        prepare: usize,
        /// Identity token; default a token from the server's dev issuer.
        #[arg(long, env = "SIGIL_IDENTITY_TOKEN", hide_env_values = true)]
        identity_token: Option<String>,
        /// Signature algorithm of the dev issuer's token: ES256 or RS256 (what most
        /// production issuers use).
        #[arg(long, default_value = "ES256")]
        token_alg: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the ClientTrustConfig JSON of a deployment (what `sigstore --trust-config` takes).
    TrustConfig {
        /// Base URL of the sigil server.
        #[arg(long)]
        server: url::Url,
    },
    /// Key management.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a root, an intermediate, and CT and Rekor log keys into a directory.
    Generate {
        /// Output directory (created if missing; existing keys are never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// CA key type.
        #[arg(long, value_enum, default_value = "ecdsa-p384")]
        key_type: KeyType,
        /// Encrypt the private keys with the passphrase held in this environment variable.
        #[arg(long)]
        passphrase_env: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum KeyType {
    EcdsaP256,
    EcdsaP384,
    Rsa3072,
}

impl From<KeyType> for CaKeyType {
    fn from(k: KeyType) -> Self {
        match k {
            KeyType::EcdsaP256 => CaKeyType::EcdsaP256,
            KeyType::EcdsaP384 => CaKeyType::EcdsaP384,
            KeyType::Rsa3072 => CaKeyType::Rsa3072,
        }
    }
}

impl Cli {
    /// The runtime the command runs on. The server and the load generator keep every core
    /// busy (the load generator's connections and verifying tasks share the runtime's
    /// threads), so they get a thread per core. The client commands wait on one thing at a
    /// time; starting a thread per core made `sigil verify` of one bundle take 1.0–1.5 ms more,
    /// about as long as the bundle's own checks.
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        let mut builder = match self.command {
            Command::Serve { .. } | Command::Loadtest { .. } => {
                tokio::runtime::Builder::new_multi_thread()
            }
            Command::Sign { .. }
            | Command::Attest { .. }
            | Command::Verify { .. }
            | Command::TrustConfig { .. }
            | Command::Keys { .. } => tokio::runtime::Builder::new_current_thread(),
        };
        builder.enable_all().build()
    }
}

/// Runs one command; the error is the one line `main` prints.
pub async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve { config, dev } => serve(config, dev).await,
        Command::TrustConfig { server } => trust_config(&server).await,
        Command::Loadtest {
            server,
            scenario,
            connections,
            duration,
            prepare,
            identity_token,
            token_alg,
            json,
        } => {
            let report = crate::loadtest::run(crate::loadtest::Options {
                server,
                scenario,
                connections: connections.max(1),
                duration,
                prepare: prepare.max(1),
                identity_token,
                token_alg,
            })
            .await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
                );
            } else {
                println!("{report}");
            }
            Ok(())
        }
        Command::Verify {
            artifact,
            bundle,
            policy,
            trust,
        } => match policy.into_policy() {
            Ok(policy) => verify(&artifact, &bundle, &policy, trust).await,
            Err(e) => Err(e),
        },
        Command::Sign {
            files,
            bundle,
            signing,
        } => sign(files, bundle, signing)
            .await
            .map_err(|e| e.to_string()),
        Command::Attest {
            file,
            predicate_type,
            predicate,
            bundle,
            signing,
        } => attest(file, predicate_type, predicate, bundle, signing)
            .await
            .map_err(|e| e.to_string()),
        Command::Keys {
            command:
                KeysCommand::Generate {
                    out,
                    key_type,
                    passphrase_env,
                },
        } => keys_generate(&out, key_type.into(), passphrase_env.as_deref()),
    }
}

async fn serve(config: Option<PathBuf>, dev: bool) -> Result<(), String> {
    crate::telemetry::init();
    let config = Config::load(config.as_deref(), dev).map_err(|e| e.to_string())?;
    let app = Application::build(config)
        .await
        .map_err(|e| e.to_string())?;
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

/// Whose keys and authorities `verify` trusts: exactly one source.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct VerifyTrustArgs {
    /// A trusted_root.json.
    #[arg(long)]
    trusted_root: Option<PathBuf>,
    /// A ClientTrustConfig file.
    #[arg(long)]
    trust_config: Option<PathBuf>,
    /// A sigil deployment whose trust config is fetched.
    #[arg(long)]
    server: Option<String>,
    /// The public Sigstore instance, from the trusted root built into sigil (offline).
    #[arg(long)]
    public_good: bool,
}

impl VerifyTrustArgs {
    async fn load(self) -> Result<crate::client::trust::TrustMaterial, String> {
        use crate::client::trust::TrustMaterial;
        match self {
            VerifyTrustArgs {
                trusted_root: Some(path),
                ..
            } => TrustMaterial::from_file(&path, true),
            VerifyTrustArgs {
                trust_config: Some(path),
                ..
            } => TrustMaterial::from_file(&path, false),
            VerifyTrustArgs {
                server: Some(server),
                ..
            } => TrustMaterial::from_server(&reqwest::Client::new(), &server)
                .await
                .map(|(t, _)| t),
            _ => TrustMaterial::public_good(),
        }
        .map_err(|e| e.to_string())
    }
}

/// Who must have signed: used by `verify`.
#[derive(clap::Args)]
struct PolicyArgs {
    /// The exact identity (SAN) the certificate must name.
    #[arg(
        long,
        required_unless_present = "cert_identity_regexp",
        conflicts_with = "cert_identity_regexp"
    )]
    cert_identity: Option<String>,
    /// A regular expression the identity must match in full.
    #[arg(long)]
    cert_identity_regexp: Option<String>,
    /// The exact OIDC issuer the certificate must name.
    #[arg(
        long,
        required_unless_present = "cert_oidc_issuer_regexp",
        conflicts_with = "cert_oidc_issuer_regexp"
    )]
    cert_oidc_issuer: Option<String>,
    /// A regular expression the OIDC issuer must match in full.
    #[arg(long)]
    cert_oidc_issuer_regexp: Option<String>,
    /// GitHub Actions: the workflow trigger (extension 1.2).
    #[arg(long)]
    cert_github_workflow_trigger: Option<String>,
    /// GitHub Actions: the commit SHA (extension 1.3).
    #[arg(long)]
    cert_github_workflow_sha: Option<String>,
    /// GitHub Actions: the workflow name (extension 1.4).
    #[arg(long)]
    cert_github_workflow_name: Option<String>,
    /// GitHub Actions: the repository, owner/name (extension 1.5).
    #[arg(long)]
    cert_github_workflow_repository: Option<String>,
    /// GitHub Actions: the git ref (extension 1.6).
    #[arg(long)]
    cert_github_workflow_ref: Option<String>,
}

impl PolicyArgs {
    fn into_policy(self) -> Result<crate::client::verify::Policy, String> {
        use crate::client::verify::{Matcher, Policy};
        let matcher = |exact: Option<String>, pattern: Option<String>| match (exact, pattern) {
            (Some(exact), _) => Ok(Matcher::Exact(exact)),
            (None, Some(pattern)) => Matcher::regex(&pattern),
            (None, None) => Err("an identity and an issuer are required".to_owned()),
        };
        let claims = [
            (2, self.cert_github_workflow_trigger),
            (3, self.cert_github_workflow_sha),
            (4, self.cert_github_workflow_name),
            (5, self.cert_github_workflow_repository),
            (6, self.cert_github_workflow_ref),
        ]
        .into_iter()
        .filter_map(|(arc, value)| value.map(|v| (arc, v)))
        .collect();
        Ok(Policy {
            identity: matcher(self.cert_identity, self.cert_identity_regexp)?,
            issuer: matcher(self.cert_oidc_issuer, self.cert_oidc_issuer_regexp)?,
            claims,
        })
    }
}

/// Where to sign, and as whom: used by `sign` and `attest`.
#[derive(clap::Args)]
struct SigningArgs {
    /// The OIDC identity token to certify.
    #[arg(long, env = "SIGIL_IDENTITY_TOKEN", hide_env_values = true)]
    identity_token: Option<String>,
    /// Take a token from the dev issuer of a `sigil serve --dev` server (needs --server).
    #[arg(long)]
    dev: bool,
    /// The sigil deployment, whose trust config is fetched.
    #[arg(long, conflicts_with = "trust_config")]
    server: Option<String>,
    /// A ClientTrustConfig file instead of --server.
    #[arg(long)]
    trust_config: Option<PathBuf>,
    /// Sign in interactively with this OIDC issuer (default: the deployment's, if it names
    /// one) when no other token is available.
    #[arg(long)]
    oidc_issuer: Option<String>,
    /// The OAuth client ID for the interactive sign-in.
    #[arg(long, default_value = "sigstore")]
    oidc_client_id: String,
    /// Which interactive sign-in: the browser where one can be opened, else a device code.
    #[arg(long, value_enum, default_value = "auto")]
    oauth_flow: crate::client::login::Flow,
    /// Print the sign-in URL without launching a browser.
    #[arg(long)]
    no_browser: bool,
}

/// A signer for the chosen deployment, a certificate for the chosen identity.
async fn signing_certificate(
    args: SigningArgs,
) -> Result<
    (
        crate::client::sign::Signer,
        crate::client::sign::SigningCertificate,
    ),
    ClientError,
> {
    use crate::client::sign::Signer;
    use crate::client::trust::TrustMaterial;
    let http = reqwest::Client::new();
    let trust = match (&args.server, &args.trust_config) {
        (Some(server), _) => TrustMaterial::from_server(&http, server).await?.0,
        (None, Some(path)) => TrustMaterial::from_file(path, false)?,
        (None, None) => {
            return Err(ClientError::Trust(
                "pass --server URL or --trust-config FILE".into(),
            ));
        }
    };
    let token = identity_token(&http, &args, &trust).await?;
    let signer = Signer::new(trust);
    eprintln!("Requesting a signing certificate (ephemeral P-256 key, kept in memory)...");
    let certificate = signer.certificate(&token).await?;
    eprintln!("Certificate received; its embedded SCT verifies against the trusted CT log.");
    Ok((signer, certificate))
}

/// The identity token, first match wins: an explicit token, the CI system's, the dev server's,
/// an interactive sign-in.
async fn identity_token(
    http: &reqwest::Client,
    args: &SigningArgs,
    trust: &crate::client::trust::TrustMaterial,
) -> Result<String, ClientError> {
    if let Some(token) = &args.identity_token {
        return Ok(token.clone());
    }
    if let Some((token, source)) =
        crate::client::token::ambient(http, |name| std::env::var(name).ok()).await?
    {
        eprintln!("Using the identity token of {source}.");
        return Ok(token);
    }
    if let (true, Some(server)) = (args.dev, &args.server) {
        let url = format!("{}/dev/oidc/token", server.trim_end_matches('/'));
        let dev_issuer = |message: String| ClientError::Service {
            service: "dev issuer",
            message,
        };
        let answer: serde_json::Value = http
            .get(&url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| dev_issuer(format!("{url}: {e}")))?
            .json()
            .await
            .map_err(|e| dev_issuer(e.to_string()))?;
        return answer["id_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or(ClientError::NoToken);
    }
    // Without a person at a terminal (CI jobs, scripts) nobody can sign in; waiting for one
    // would hang until the code expires. An explicit --oauth-flow says someone will.
    let attended = std::io::IsTerminal::is_terminal(&std::io::stdin())
        && !std::env::var("CI").is_ok_and(|v| v == "true");
    let explicit_flow = args.oauth_flow != crate::client::login::Flow::Auto;
    let issuer = args.oidc_issuer.clone().or_else(|| trust.oidc_url.clone());
    match issuer {
        Some(issuer) if attended || explicit_flow => {
            let login = crate::client::login::Login {
                issuer,
                client_id: args.oidc_client_id.clone(),
                flow: args.oauth_flow,
                open_browser: !args.no_browser,
            };
            let token = login.token(http, &|line| eprintln!("{line}")).await?;
            eprintln!("Signed in.");
            Ok(token)
        }
        _ => Err(ClientError::NoToken),
    }
}

async fn sign(
    files: Vec<PathBuf>,
    bundle: Option<PathBuf>,
    args: SigningArgs,
) -> Result<(), ClientError> {
    if bundle.is_some() && files.len() != 1 {
        return Err(ClientError::Trust(
            "--bundle takes exactly one file to sign".into(),
        ));
    }
    let (signer, certificate) = signing_certificate(args).await?;
    for file in &files {
        let out = bundle
            .clone()
            .unwrap_or_else(|| crate::client::sign::default_bundle_path(file));
        signer.sign_file(&certificate, file, &out).await?;
        eprintln!("Signed {} -> {}", file.display(), out.display());
    }
    Ok(())
}

async fn attest(
    file: PathBuf,
    predicate_type: String,
    predicate: PathBuf,
    bundle: Option<PathBuf>,
    args: SigningArgs,
) -> Result<(), ClientError> {
    let text = std::fs::read(&predicate).map_err(|e| ClientError::File {
        path: predicate.display().to_string(),
        message: e.to_string(),
    })?;
    let predicate_json: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| ClientError::File {
            path: predicate.display().to_string(),
            message: format!("not JSON: {e}"),
        })?;
    let (signer, certificate) = signing_certificate(args).await?;
    let out = bundle.unwrap_or_else(|| crate::client::sign::default_bundle_path(&file));
    signer
        .attest_file(&certificate, &file, &predicate_type, predicate_json, &out)
        .await?;
    eprintln!("Attested {} -> {}", file.display(), out.display());
    Ok(())
}

async fn verify(
    artifact: &str,
    bundle: &std::path::Path,
    policy: &crate::client::verify::Policy,
    trust: VerifyTrustArgs,
) -> Result<(), String> {
    let trust = trust.load().await?;
    let digest: [u8; 32] = match artifact.strip_prefix("sha256:") {
        Some(hex) => (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|b| u8::from_str_radix(b, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| format!("`{artifact}`: expected sha256: and 64 hex digits"))?,
        None => {
            openssl::sha::sha256(&std::fs::read(artifact).map_err(|e| format!("{artifact}: {e}"))?)
        }
    };
    let bytes = std::fs::read(bundle).map_err(|e| format!("{}: {e}", bundle.display()))?;
    let verified = crate::client::verify::verify(&bytes, &digest, &trust, policy)
        .map_err(|e| format!("verification failed: {e}"))?;
    println!(
        "OK: {artifact} (log index {}, signed at {})",
        verified.log_index, verified.signed_time
    );
    Ok(())
}

async fn trust_config(server: &url::Url) -> Result<(), String> {
    let url = server
        .join("/.well-known/sigstore/client_trust_config.json")
        .map_err(|e| e.to_string())?;
    let response = reqwest::get(url.clone())
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let config: serde_json::Value = response
        .json()
        .await
        .map_err(|e| format!("{url}: not JSON: {e}"))?;
    if config["mediaType"] != "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json" {
        return Err(format!("{url}: not a ClientTrustConfig"));
    }
    let text = serde_json::to_string_pretty(&config).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

fn keys_generate(
    out: &std::path::Path,
    kind: CaKeyType,
    passphrase_env: Option<&str>,
) -> Result<(), String> {
    let passphrase = match passphrase_env {
        Some(var) => Some(
            std::env::var(var)
                .map_err(|_| format!("--passphrase-env names `{var}`, which is not set"))?,
        ),
        None => None,
    };
    crate::keygen::generate(out, kind, passphrase.as_deref().map(str::as_bytes))
        .map_err(|e| e.to_string())?;
    println!(
        "wrote {} to {}",
        crate::keygen::FILES.join(", "),
        out.display()
    );
    Ok(())
}
