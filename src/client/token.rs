//! Where an identity token comes from when none is given: the CI system the process runs in.
//!
//! - GitHub Actions: the job's token endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`, authorized by
//!   `ACTIONS_ID_TOKEN_REQUEST_TOKEN`), asked for `audience=sigstore`; the job needs
//!   `permissions: id-token: write`.
//! - GitLab CI: an `id_tokens:` entry named `SIGSTORE_ID_TOKEN` with `aud: sigstore`.
//! - Buildkite: `buildkite-agent oidc request-token --audience sigstore`.

use serde_json::Value;

use super::ClientError;

/// The audience Sigstore CAs expect.
pub const AUDIENCE: &str = "sigstore";

/// A token from the CI environment, if the process runs in a supported CI system, with the
/// name of the system. `env` reads a variable (the process environment in the CLI).
pub async fn ambient(
    http: &reqwest::Client,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<(String, &'static str)>, ClientError> {
    if let (Some(url), Some(bearer)) = (
        env("ACTIONS_ID_TOKEN_REQUEST_URL"),
        env("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    ) {
        let fail = |message: String| ClientError::Service {
            service: "GitHub Actions token endpoint",
            message,
        };
        let separator = if url.contains('?') { '&' } else { '?' };
        let response = http
            .get(format!("{url}{separator}audience={AUDIENCE}"))
            .bearer_auth(bearer)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!(
                "HTTP {} (does the job have `permissions: id-token: write`?)",
                response.status()
            )));
        }
        let body: Value = response.json().await.map_err(|e| fail(e.to_string()))?;
        let token = body["value"]
            .as_str()
            .ok_or_else(|| fail("no `value` in the answer".into()))?;
        return Ok(Some((token.to_owned(), "GitHub Actions")));
    }
    if env("GITLAB_CI").as_deref() == Some("true") {
        if let Some(token) = env("SIGSTORE_ID_TOKEN").filter(|t| !t.is_empty()) {
            return Ok(Some((token, "GitLab CI")));
        }
    }
    if env("BUILDKITE").as_deref() == Some("true") {
        let out = std::process::Command::new("buildkite-agent")
            .args(["oidc", "request-token", "--audience", AUDIENCE])
            .output()
            .map_err(|e| ClientError::Service {
                service: "buildkite-agent",
                message: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(ClientError::Service {
                service: "buildkite-agent",
                message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        return Ok(Some((
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            "Buildkite",
        )));
    }
    Ok(None)
}
