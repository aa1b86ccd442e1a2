//! Start-up checks on private key files.

use std::path::Path;

/// Warns when the key file behind setting `key` is open to everyone, or writable by its
/// group: a CA or log key that others can read is a key that others may already hold.
/// Group read alone is allowed, since orchestrators grant keys to a service through a
/// dedicated group (Kubernetes' `fsGroup`, systemd's `SupplementaryGroups`).
pub fn warn_if_exposed(path: &Path, key: &'static str) {
    if let Some(mode) = exposed_mode(path) {
        tracing::warn!(
            setting = key,
            path = %path.display(),
            mode = format!("{mode:o}"),
            "private key file is readable by others or writable by its group; run `chmod 600` on it"
        );
    }
}

/// The file's permission bits when others have any access to it or its group can write it.
#[cfg(unix)]
fn exposed_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o027 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn exposed_mode(_path: &Path) -> Option<u32> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_owner_only_files_pass() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        std::fs::write(&path, "k").unwrap();
        for (mode, exposed) in [
            (0o600, false),
            (0o400, false),
            (0o440, false),
            (0o640, false),
            (0o660, true),
            (0o604, true),
            (0o644, true),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(exposed_mode(&path).is_some(), exposed, "{mode:o}");
        }
    }
}
