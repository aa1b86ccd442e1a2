//! `sigil keys generate`: a root, an intermediate, and the two log keys, as files.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;

use crate::ca::generate::generate_ca;
use crate::config::CaKeyType;

/// What went wrong while writing a key set.
#[derive(Debug, thiserror::Error)]
pub enum KeygenError {
    /// Generating a key or certificate failed.
    #[error(transparent)]
    Ca(#[from] crate::ca::Error),
    /// OpenSSL failed.
    #[error(transparent)]
    OpenSsl(#[from] openssl::error::ErrorStack),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The output directory already holds a key set.
    #[error("{0} already exists; refusing to overwrite keys")]
    Exists(PathBuf),
}

/// Files written by [`generate`], relative to the output directory.
pub const FILES: &[&str] = &[
    "root.pem",
    "root.key.pem",
    "chain.pem",
    "intermediate.key.pem",
    "ct-log.key.pem",
    "rekor.key.pem",
];

/// Writes a key set into `dir`. Private keys are PKCS#8 PEM, mode 0600, and encrypted with
/// `passphrase` when one is given. `chain.pem` + `intermediate.key.pem` are what
/// `ca.backend = "file"` reads; `root.key.pem` belongs offline.
pub fn generate(dir: &Path, kind: CaKeyType, passphrase: Option<&[u8]>) -> Result<(), KeygenError> {
    fs::create_dir_all(dir).map_err(|source| KeygenError::Io {
        path: dir.to_owned(),
        source,
    })?;
    for name in FILES {
        let path = dir.join(name);
        if path.exists() {
            return Err(KeygenError::Exists(path));
        }
    }
    let ca = generate_ca(kind, "sigil")?;
    let root_pem = ca.root.to_pem()?;
    let chain_pem = [ca.intermediate.to_pem()?, root_pem.clone()].concat();
    write(dir, "root.pem", &root_pem, false)?;
    write(dir, "chain.pem", &chain_pem, false)?;
    write(
        dir,
        "root.key.pem",
        &ca.root_key.to_pkcs8_pem(passphrase)?,
        true,
    )?;
    write(
        dir,
        "intermediate.key.pem",
        &ca.intermediate_key.to_pkcs8_pem(passphrase)?,
        true,
    )?;
    for name in ["ct-log.key.pem", "rekor.key.pem"] {
        write(dir, name, &p256_pkcs8(passphrase)?, true)?;
    }
    Ok(())
}

/// A fresh ECDSA P-256 key as PKCS#8 PEM, the default for both logs.
fn p256_pkcs8(passphrase: Option<&[u8]>) -> Result<Vec<u8>, KeygenError> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
    Ok(match passphrase {
        Some(p) => {
            key.private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_256_cbc(), p)?
        }
        None => key.private_key_to_pem_pkcs8()?,
    })
}

fn write(dir: &Path, name: &str, contents: &[u8], secret: bool) -> Result<(), KeygenError> {
    let path = dir.join(name);
    let io = |source| KeygenError::Io {
        path: path.clone(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut file = options.open(&path).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::CertificateAuthority;
    use crate::ca::signer::{CaChain, CaKey};

    #[test]
    fn generated_set_loads_as_a_file_ca_with_and_without_passphrase() {
        for passphrase in [None, Some(&b"correct horse"[..])] {
            let dir = tempfile::tempdir().unwrap();
            generate(dir.path(), CaKeyType::EcdsaP256, passphrase).unwrap();
            let key =
                CaKey::from_pem_file(&dir.path().join("intermediate.key.pem"), passphrase).unwrap();
            let chain = CaChain::from_pem_file(&dir.path().join("chain.pem")).unwrap();
            assert_eq!(chain.certs().len(), 2);
            CertificateAuthority::new(key, chain, std::time::Duration::from_secs(600)).unwrap();
            assert!(matches!(
                generate(dir.path(), CaKeyType::EcdsaP256, None),
                Err(KeygenError::Exists(_))
            ));
        }
    }

    #[test]
    fn keys_example_is_a_usable_file_ca() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-example");
        let config = crate::config::CaConfig {
            backend: crate::config::CaBackend::File,
            chain: Some(dir.join("chain.pem")),
            key: Some(dir.join("intermediate.key.pem")),
            ..Default::default()
        };
        let ca = CertificateAuthority::from_config(&config).unwrap();
        assert_eq!(ca.chain().certs().len(), 2);
    }

    #[test]
    fn encrypted_key_with_the_wrong_passphrase_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), CaKeyType::EcdsaP256, Some(b"right")).unwrap();
        let err = CaKey::from_pem_file(&dir.path().join("intermediate.key.pem"), Some(b"wrong"))
            .unwrap_err();
        assert!(err.to_string().contains("passphrase"), "{err}");
    }
}
