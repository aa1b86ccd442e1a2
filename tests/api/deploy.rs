//! The deployment examples stay loadable: the compose file's and the Kubernetes ConfigMap's
//! sigil.toml pass sigil's configuration checks, and the ConfigMap's issuer file loads.

use std::path::Path;
use std::time::Duration;

use sigil::config::Config;
use sigil::oidc::issuers::IssuerPool;

fn deploy(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

#[test]
fn the_compose_configuration_loads() {
    let config = Config::load(Some(&deploy("sigil.toml")), false).unwrap();
    assert_eq!(config.limits.trusted_proxies.len(), 1);
}

#[test]
fn the_kubernetes_configmap_loads() {
    let manifest = std::fs::read_to_string(deploy("kubernetes/sigil.yaml")).unwrap();
    let config_map: serde_yaml_ng::Value = serde_yaml_ng::Deserializer::from_str(&manifest)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .find(|doc: &serde_yaml_ng::Value| doc["kind"] == "ConfigMap")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("sigil.toml");
    std::fs::write(&toml, config_map["data"]["sigil.toml"].as_str().unwrap()).unwrap();
    let config = Config::load(Some(&toml), false).unwrap();
    assert_eq!(config.ca.backend, sigil::config::CaBackend::File);
    assert!(config.rekor.key_passphrase_env.is_some());

    let issuers = config_map["data"]["issuers.yaml"].as_str().unwrap();
    let pool = IssuerPool::parse(issuers, "issuers.yaml", Duration::from_secs(5)).unwrap();
    assert_eq!(pool.len(), 2);
}
