//! The trusted OIDC issuers, read from a Fulcio-format issuer file (YAML or JSON).
//!
//! The format is Fulcio's (`fulcio:pkg/config/config.go`): `oidc-issuers` (exact URLs),
//! `meta-issuers` (URLs with `*` wildcards) and `ci-issuer-metadata` (templates for
//! `ci-provider` issuers), with Fulcio's JSON spellings accepted as aliases. Every rule Fulcio
//! checks at load time is checked here too, so a file that loads cannot fail later for a
//! reason that was visible in the file.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use url::Url;

use super::template::Template;
use crate::ca::extensions::FulcioExt;

/// Why an issuer file was refused.
#[derive(Debug, thiserror::Error)]
pub enum IssuerFileError {
    /// The file could not be read.
    #[error("cannot read issuer file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid YAML/JSON of the expected shape.
    #[error("issuer file {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message, with line and column.
        source: serde_yaml_ng::Error,
    },
    /// An issuer entry breaks one of the rules.
    #[error("issuer `{issuer}`: {problem}")]
    Invalid {
        /// The issuer URL (or pattern) as written in the file.
        issuer: String,
        /// What is wrong.
        problem: String,
    },
}

fn invalid(issuer: &str, problem: impl Into<String>) -> IssuerFileError {
    IssuerFileError::Invalid {
        issuer: issuer.to_owned(),
        problem: problem.into(),
    }
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuerFile {
    #[serde(default, rename = "oidc-issuers", alias = "OIDCIssuers")]
    oidc_issuers: BTreeMap<String, IssuerEntry>,
    #[serde(default, rename = "meta-issuers", alias = "MetaIssuers")]
    meta_issuers: BTreeMap<String, IssuerEntry>,
    #[serde(default, rename = "ci-issuer-metadata", alias = "CIIssuerMetadata")]
    ci_issuer_metadata: BTreeMap<String, CiMetadataEntry>,
    /// Fulcio's own file keeps YAML anchors under `define`; its content is not configuration.
    #[serde(default, rename = "define")]
    _define: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuerEntry {
    #[serde(default, rename = "issuer-url", alias = "IssuerURL")]
    issuer_url: Option<String>,
    #[serde(rename = "client-id", alias = "ClientID")]
    client_id: String,
    #[serde(rename = "type", alias = "Type")]
    kind: String,
    #[serde(default, rename = "ci-provider", alias = "CIProvider")]
    ci_provider: Option<String>,
    #[serde(default, rename = "issuer-claim", alias = "IssuerClaim")]
    issuer_claim: Option<String>,
    #[serde(default, rename = "subject-domain", alias = "SubjectDomain")]
    subject_domain: Option<String>,
    #[serde(default, rename = "spiffe-trust-domain", alias = "SPIFFETrustDomain")]
    spiffe_trust_domain: Option<String>,
    #[serde(default, rename = "challenge-claim", alias = "ChallengeClaim")]
    challenge_claim: Option<String>,
    #[serde(default, rename = "ca-cert", alias = "CACert")]
    ca_cert: Option<String>,
    #[serde(
        default,
        rename = "skip-email-verification",
        alias = "SkipEmailVerification"
    )]
    skip_email_verification: bool,
    #[serde(default, alias = "Description")]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default, alias = "Contact")]
    #[allow(dead_code)]
    contact: Option<String>,
    #[serde(default, alias = "Environment")]
    #[allow(dead_code)]
    environment: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CiMetadataEntry {
    #[serde(
        default,
        rename = "default-template-values",
        alias = "DefaultTemplateValues"
    )]
    default_template_values: BTreeMap<String, String>,
    #[serde(default, rename = "extension-templates", alias = "ExtensionTemplates")]
    extension_templates: BTreeMap<String, String>,
    #[serde(
        rename = "subject-alternative-name-template",
        alias = "SubjectAlternativeNameTemplate"
    )]
    subject_alternative_name_template: String,
}

/// Templates for the well-known CI providers, used when the issuer file does not define
/// metadata of the same name; they produce the same certificates as Fulcio's public
/// configuration.
const BUILTIN_CI_METADATA: &str = include_str!("builtin_ci_metadata.yaml");

/// How one extension value of a `ci-provider` issuer is produced.
#[derive(Debug, Clone)]
pub enum ExtensionSource {
    /// Copy this claim (or default) verbatim; missing is an error.
    Claim(String),
    /// Render this template.
    Template(Template),
}

/// Templates of one CI provider.
#[derive(Debug, Clone)]
pub struct CiMetadata {
    /// Values used when the token lacks the claim.
    pub defaults: BTreeMap<String, String>,
    /// One source per extension, in OID order.
    pub extensions: Vec<(FulcioExt, ExtensionSource)>,
    /// The SAN (a URI).
    pub san: Template,
}

/// What kind of identity an issuer vouches for, with the settings of that kind.
#[derive(Debug, Clone)]
pub enum IssuerKind {
    /// An email address (`email` claim), verified unless `skip_email_verification`.
    Email {
        /// A dotted claim path (`$.a.b`) whose value replaces `iss` in the issuer extension.
        issuer_claim: Option<Vec<String>>,
        /// Accept tokens without `email_verified: true` (Entra ID, ADFS).
        skip_email_verification: bool,
    },
    /// `sub` is a URI under `subject_domain`.
    Uri {
        /// Scheme and host that `sub` must have.
        subject_domain: Url,
    },
    /// `sub` is a user name, certified as `sub!subject_domain` in an otherName SAN.
    Username {
        /// The domain appended after `!`.
        subject_domain: String,
    },
    /// A Kubernetes service account token.
    Kubernetes,
    /// `sub` is a SPIFFE ID in `trust_domain`.
    Spiffe {
        /// The only trust domain accepted.
        trust_domain: String,
    },
    /// A CI workload; SAN and extensions come from templates.
    Ci(Arc<CiMetadata>),
}

impl IssuerKind {
    /// The claim the proof of possession signs, as advertised by `/api/v2/configuration`.
    pub fn challenge_claim(&self) -> &'static str {
        match self {
            IssuerKind::Email { .. } => "email",
            _ => "sub",
        }
    }
}

/// One trusted issuer (or family of issuers, for a meta-issuer).
#[derive(Debug)]
pub struct IssuerSettings {
    /// The URL or wildcard pattern, as written in the file.
    pub url: String,
    /// Whether `url` is a wildcard pattern.
    pub wildcard: bool,
    /// The expected `aud`.
    pub client_id: String,
    /// The `type` as written (e.g. `github-workflow`): metrics label and `issuerType`.
    pub type_name: String,
    /// Identity rules for this issuer.
    pub kind: IssuerKind,
    /// The subject domain, for `/api/v2/configuration`.
    pub subject_domain: Option<String>,
    /// HTTP client for discovery and JWKS; trusts `ca-cert` when the file sets one.
    pub http: reqwest::Client,
}

/// A token's issuer, matched against the configuration.
#[derive(Debug, Clone)]
pub struct ResolvedIssuer {
    /// The token's `iss`, which matched.
    pub url: String,
    /// The configuration that matched.
    pub settings: Arc<IssuerSettings>,
}

/// All trusted issuers, looked up by a token's `iss`.
#[derive(Debug, Default)]
pub struct IssuerPool {
    exact: BTreeMap<String, Arc<IssuerSettings>>,
    meta: Vec<(Regex, Arc<IssuerSettings>)>,
}

impl IssuerPool {
    /// Reads and validates an issuer file.
    pub fn load(path: &Path, fetch_timeout: Duration) -> Result<IssuerPool, IssuerFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| IssuerFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string(), fetch_timeout)
    }

    /// Parses and validates issuer-file text; `origin` names it in errors.
    pub fn parse(
        text: &str,
        origin: &str,
        fetch_timeout: Duration,
    ) -> Result<IssuerPool, IssuerFileError> {
        let file: IssuerFile =
            serde_yaml_ng::from_str(text).map_err(|source| IssuerFileError::Parse {
                path: origin.to_owned(),
                source,
            })?;
        let builtin: IssuerFile =
            serde_yaml_ng::from_str(BUILTIN_CI_METADATA).map_err(|source| {
                IssuerFileError::Parse {
                    path: "built-in CI metadata".to_owned(),
                    source,
                }
            })?;
        let mut metadata = BTreeMap::new();
        for (name, entry) in builtin
            .ci_issuer_metadata
            .into_iter()
            .chain(file.ci_issuer_metadata)
        {
            metadata.insert(name.clone(), Arc::new(compile_ci_metadata(&name, entry)?));
        }

        let mut pool = IssuerPool::default();
        for (key, entry) in file.oidc_issuers {
            let url = match &entry.issuer_url {
                Some(url) if *url != key => {
                    return Err(invalid(
                        &key,
                        format!("issuer-url `{url}` differs from its key"),
                    ));
                }
                _ => key.clone(),
            };
            let settings = compile_issuer(&url, false, entry, &metadata, fetch_timeout)?;
            pool.exact.insert(url, Arc::new(settings));
        }
        for (pattern, entry) in file.meta_issuers {
            let regex = meta_issuer_regex(&pattern)?;
            let settings = compile_issuer(&pattern, true, entry, &metadata, fetch_timeout)?;
            pool.meta.push((regex, Arc::new(settings)));
        }
        Ok(pool)
    }

    /// Adds one issuer whose settings were built in code (the dev issuer).
    pub fn insert(&mut self, settings: IssuerSettings) {
        self.exact.insert(settings.url.clone(), Arc::new(settings));
    }

    /// Finds the issuer of `iss`: exact match first, then the anchored wildcard patterns.
    pub fn resolve(&self, iss: &str) -> Option<ResolvedIssuer> {
        let settings = self.exact.get(iss).or_else(|| {
            self.meta
                .iter()
                .find(|(re, _)| re.is_match(iss))
                .map(|(_, s)| s)
        })?;
        Some(ResolvedIssuer {
            url: iss.to_owned(),
            settings: settings.clone(),
        })
    }

    /// Every configured issuer, exact ones first.
    pub fn all(&self) -> impl Iterator<Item = &IssuerSettings> {
        self.exact
            .values()
            .chain(self.meta.iter().map(|(_, s)| s))
            .map(|s| s.as_ref())
    }

    /// How many issuers are configured.
    pub fn len(&self) -> usize {
        self.exact.len() + self.meta.len()
    }

    /// Whether no issuer is configured.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `^` + the escaped pattern with each `*` as `[-_a-zA-Z0-9]+` + `$`: a wildcard never
/// matches `.` or `/`, and the anchors stop the SSRF of GHSA-59jp-pj84-45mr.
fn meta_issuer_regex(pattern: &str) -> Result<Regex, IssuerFileError> {
    if !pattern.contains('*') {
        return Err(invalid(pattern, "a meta-issuer needs at least one `*`"));
    }
    let parsed = Url::parse(&pattern.replace('*', "x"))
        .map_err(|e| invalid(pattern, format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(pattern, "must be an http or https URL"));
    }
    let escaped = regex::escape(pattern).replace(r"\*", "[-_a-zA-Z0-9]+");
    Regex::new(&format!("^{escaped}$")).map_err(|e| invalid(pattern, e.to_string()))
}

fn compile_ci_metadata(name: &str, entry: CiMetadataEntry) -> Result<CiMetadata, IssuerFileError> {
    let where_ = format!("ci-issuer-metadata {name}");
    let mut extensions = Vec::new();
    for (key, source) in entry.extension_templates {
        let ext = FulcioExt::from_config_name(&key)
            .ok_or_else(|| invalid(&where_, format!("unknown extension `{key}`")))?;
        if !ext.is_templatable() {
            return Err(invalid(
                &where_,
                format!("`{key}` is always taken from the token"),
            ));
        }
        let source = if source.contains("{{") {
            ExtensionSource::Template(
                Template::parse(&source).map_err(|e| invalid(&where_, e.to_string()))?,
            )
        } else {
            ExtensionSource::Claim(source)
        };
        extensions.push((ext, source));
    }
    extensions.sort_by_key(|(ext, _)| *ext);
    let san = Template::parse(&entry.subject_alternative_name_template)
        .map_err(|e| invalid(&where_, e.to_string()))?;
    Ok(CiMetadata {
        defaults: entry.default_template_values,
        extensions,
        san,
    })
}

/// The last two DNS labels of a host, which Fulcio requires an issuer and its subject domain
/// to share.
fn registrable_suffix(host: &str) -> String {
    let labels: Vec<&str> = host.rsplit('.').take(2).collect();
    labels.into_iter().rev().collect::<Vec<_>>().join(".")
}

fn compile_issuer(
    url: &str,
    wildcard: bool,
    entry: IssuerEntry,
    metadata: &BTreeMap<String, Arc<CiMetadata>>,
    fetch_timeout: Duration,
) -> Result<IssuerSettings, IssuerFileError> {
    let parsed =
        Url::parse(&url.replace('*', "x")).map_err(|e| invalid(url, format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(url, "must be an http or https URL"));
    }
    let issuer_host = parsed.host_str().unwrap_or_default().to_owned();
    if entry.client_id.trim().is_empty() {
        return Err(invalid(url, "client-id must not be empty"));
    }
    if entry.issuer_claim.is_some() && entry.kind != "email" {
        return Err(invalid(
            url,
            "issuer-claim is only allowed for email issuers",
        ));
    }
    let subject_domain_text = entry.subject_domain.clone();
    let kind = match entry.kind.as_str() {
        "email" => IssuerKind::Email {
            issuer_claim: entry
                .issuer_claim
                .as_deref()
                .map(|p| parse_claim_path(url, p))
                .transpose()?,
            skip_email_verification: entry.skip_email_verification,
        },
        "uri" => {
            let domain = entry
                .subject_domain
                .ok_or_else(|| invalid(url, "a uri issuer needs subject-domain"))?;
            let parsed = Url::parse(&domain)
                .map_err(|_| invalid(url, "subject-domain of a uri issuer needs a scheme"))?;
            let host = parsed
                .host_str()
                .ok_or_else(|| invalid(url, "subject-domain has no host"))?;
            if registrable_suffix(host) != registrable_suffix(&issuer_host) {
                return Err(invalid(
                    url,
                    "subject-domain must share its last two labels with the issuer host",
                ));
            }
            IssuerKind::Uri {
                subject_domain: parsed,
            }
        }
        "username" => {
            let domain = entry
                .subject_domain
                .ok_or_else(|| invalid(url, "a username issuer needs subject-domain"))?;
            if domain.contains("://") {
                return Err(invalid(
                    url,
                    "subject-domain of a username issuer has no scheme",
                ));
            }
            if registrable_suffix(&domain) != registrable_suffix(&issuer_host) {
                return Err(invalid(
                    url,
                    "subject-domain must share its last two labels with the issuer host",
                ));
            }
            IssuerKind::Username {
                subject_domain: domain,
            }
        }
        "kubernetes" => IssuerKind::Kubernetes,
        "spiffe" => {
            if wildcard {
                return Err(invalid(url, "a meta-issuer cannot be of type spiffe"));
            }
            let domain = entry
                .spiffe_trust_domain
                .ok_or_else(|| invalid(url, "a spiffe issuer needs spiffe-trust-domain"))?;
            if domain.is_empty()
                || !domain
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._".contains(c))
            {
                return Err(invalid(
                    url,
                    format!("`{domain}` is not a SPIFFE trust domain"),
                ));
            }
            IssuerKind::Spiffe {
                trust_domain: domain,
            }
        }
        "ci-provider" | "github-workflow" | "gitlab-pipeline" | "buildkite-job"
        | "codefresh-workflow" => {
            // The legacy types are the ci-provider of the same name (Fulcio moved them to
            // templates); an explicit `ci-provider` key wins.
            let provider = match (entry.kind.as_str(), &entry.ci_provider) {
                (_, Some(p)) => p.clone(),
                ("ci-provider", None) => {
                    return Err(invalid(url, "a ci-provider issuer needs ci-provider"));
                }
                (legacy, None) => legacy.to_owned(),
            };
            let meta = metadata
                .get(&provider)
                .ok_or_else(|| invalid(url, format!("no ci-issuer-metadata named `{provider}`")))?;
            IssuerKind::Ci(meta.clone())
        }
        other => {
            return Err(invalid(
                url,
                format!(
                    "unknown type `{other}` (expected email, uri, username, kubernetes, spiffe, \
                     ci-provider, github-workflow, gitlab-pipeline, buildkite-job or \
                     codefresh-workflow)"
                ),
            ));
        }
    };
    if let Some(claim) = &entry.challenge_claim {
        if claim != kind.challenge_claim() {
            return Err(invalid(
                url,
                format!(
                    "challenge-claim `{claim}` differs from `{}`",
                    kind.challenge_claim()
                ),
            ));
        }
    }
    let mut http = reqwest::Client::builder()
        .timeout(fetch_timeout)
        .connect_timeout(fetch_timeout)
        // Connections are not reused: fetches are rare (keys are cached) and a pooled
        // connection would outlive the worker runtime that opened it.
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("sigil/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = &entry.ca_cert {
        // reqwest parses lazily; OpenSSL tells a bad PEM apart now, at load time.
        let certs = openssl::x509::X509::stack_from_pem(pem.as_bytes())
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| invalid(url, "ca-cert is not a PEM certificate"))?;
        for cert in certs {
            let der = cert.to_der().map_err(|e| invalid(url, e.to_string()))?;
            let cert = reqwest::Certificate::from_der(&der)
                .map_err(|e| invalid(url, format!("ca-cert: {e}")))?;
            http = http.tls_certs_merge([cert]);
        }
    }
    let http = http
        .build()
        .map_err(|e| invalid(url, format!("cannot build an HTTP client: {e}")))?;
    Ok(IssuerSettings {
        url: url.to_owned(),
        wildcard,
        client_id: entry.client_id,
        type_name: entry.kind,
        kind,
        subject_domain: subject_domain_text,
        http,
    })
}

/// Parses the JSONPath subset Fulcio's configurations use for `issuer-claim`: `$.a.b.c`.
fn parse_claim_path(url: &str, path: &str) -> Result<Vec<String>, IssuerFileError> {
    let rest = path
        .strip_prefix("$.")
        .ok_or_else(|| invalid(url, format!("issuer-claim `{path}` must start with `$.`")))?;
    let parts: Vec<String> = rest.split('.').map(str::to_owned).collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || p.contains(['[', ']', '*']))
    {
        return Err(invalid(
            url,
            format!("issuer-claim `{path}`: only dotted paths like `$.a.b` are supported"),
        ));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(1);

    fn pool(yaml: &str) -> Result<IssuerPool, IssuerFileError> {
        IssuerPool::parse(yaml, "test", T)
    }

    #[test]
    fn loads_the_shipped_issuer_file() {
        let pool = IssuerPool::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("config/issuers.yaml"),
            T,
        )
        .unwrap();
        assert!(
            pool.resolve("https://token.actions.githubusercontent.com")
                .is_some()
        );
        assert!(pool.resolve("https://accounts.google.com").is_some());
    }

    #[test]
    fn wildcards_are_anchored_and_never_cross_dots_or_slashes() {
        let pool = pool(
            "meta-issuers:\n  https://oidc.eks.*.amazonaws.com/id/*:\n    client-id: sigstore\n    type: kubernetes\n",
        )
        .unwrap();
        assert!(
            pool.resolve("https://oidc.eks.us-west-2.amazonaws.com/id/ABC123")
                .is_some()
        );
        for bad in [
            "https://oidc.eks.evil.com/x.amazonaws.com/id/A",
            "https://oidc.eks.a.b.amazonaws.com/id/A",
            "https://oidc.eks.a.amazonaws.com/id/A/extra",
            "https://oidc.eks.a.amazonaws.com/id/A.evil.com",
            "xhttps://oidc.eks.a.amazonaws.com/id/A",
            "https://oidc.eks..amazonaws.com/id/A",
        ] {
            assert!(pool.resolve(bad).is_none(), "{bad} must not match");
        }
    }

    #[test]
    fn json_spelling_is_accepted() {
        let pool = pool(
            r#"{"OIDCIssuers": {"https://issuer.example.com": {"IssuerURL": "https://issuer.example.com", "ClientID": "sigstore", "Type": "email", "SkipEmailVerification": true}}}"#,
        )
        .unwrap();
        let issuer = pool.resolve("https://issuer.example.com").unwrap();
        assert!(matches!(
            issuer.settings.kind,
            IssuerKind::Email {
                skip_email_verification: true,
                ..
            }
        ));
    }

    #[test]
    fn fulcio_load_rules_are_enforced() {
        let cases = [
            (
                "oidc-issuers:\n  https://a.example.com:\n    client-id: s\n    type: email\n    typo: 1\n",
                "typo",
            ),
            (
                "oidc-issuers:\n  https://a.example.com:\n    client-id: s\n    type: uri\n",
                "subject-domain",
            ),
            (
                "oidc-issuers:\n  https://a.example.com:\n    client-id: s\n    type: uri\n    subject-domain: https://other.org\n",
                "last two labels",
            ),
            (
                "oidc-issuers:\n  https://a.example.com:\n    client-id: s\n    type: username\n    subject-domain: https://example.com\n",
                "no scheme",
            ),
            (
                "oidc-issuers:\n  https://a.example.com:\n    client-id: s\n    type: spiffe\n",
                "spiffe-trust-domain",
            ),
            (
                "oidc-issuers:\n  https://a.example.com:\n    client-id: s\n    type: kubernetes\n    issuer-claim: $.x\n",
                "only allowed for email",
            ),
            (
                "oidc-issuers:\n  https://a.example.com:\n    client-id: s\n    type: ci-provider\n    ci-provider: nope\n",
                "nope",
            ),
            (
                "oidc-issuers:\n  https://a.example.com:\n    client-id: s\n    type: magic\n",
                "unknown type",
            ),
            (
                "oidc-issuers:\n  https://a.example.com:\n    client-id: \"\"\n    type: email\n",
                "client-id",
            ),
            (
                "meta-issuers:\n  https://*.example.com:\n    client-id: s\n    type: spiffe\n    spiffe-trust-domain: example.com\n",
                "meta-issuer",
            ),
            (
                "oidc-issuers:\n  https://a.example.com:\n    client-id: s\n    type: email\n    ca-cert: nope\n",
                "ca-cert",
            ),
            (
                "ci-issuer-metadata:\n  x:\n    extension-templates:\n      issuer: iss\n    subject-alternative-name-template: a\n",
                "always taken from the token",
            ),
            (
                "ci-issuer-metadata:\n  x:\n    subject-alternative-name-template: '{{ range . }}'\n",
                "unsupported",
            ),
        ];
        for (yaml, needle) in cases {
            let err = match pool(yaml) {
                Ok(_) => panic!("should fail: {yaml}"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
    }

    #[test]
    fn legacy_ci_types_use_builtin_templates() {
        let pool = pool(
            "oidc-issuers:\n  https://gitlab.example.com:\n    client-id: sigstore\n    type: gitlab-pipeline\n",
        )
        .unwrap();
        let issuer = pool.resolve("https://gitlab.example.com").unwrap();
        assert!(matches!(issuer.settings.kind, IssuerKind::Ci(_)));
    }
}
