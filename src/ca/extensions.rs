//! Fulcio's certificate extensions under `1.3.6.1.4.1.57264.1`: OIDs, encodings and the names
//! the issuer file uses for them.
//!
//! Encodings follow `fulcio:pkg/certificate/extensions.go`: 1.1–1.6 hold the raw UTF-8 bytes
//! (no DER wrapper; deprecated but still read by sigstore-python's `verify identity`), and
//! 1.8–1.24 hold a DER UTF8String. An extension with an empty value is omitted.

use der::Encode;
use der::asn1::ObjectIdentifier;

/// How an extension value is written into `extnValue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The raw UTF-8 bytes of the value (OIDs 1.1–1.6).
    Raw,
    /// A DER UTF8String (OIDs 1.8–1.24).
    Utf8String,
}

macro_rules! fulcio_extensions {
    ($( $variant:ident = $arc:literal, $enc:ident, $yaml:literal, $json:literal; )*) => {
        /// One of Fulcio's custom certificate extensions.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum FulcioExt {
            $(
                #[doc = concat!("OID 1.3.6.1.4.1.57264.1.", stringify!($arc), " (`", $yaml, "`)")]
                $variant,
            )*
        }

        impl FulcioExt {
            /// Every extension, in OID order, which is also the order they are written in.
            pub const ALL: &'static [FulcioExt] = &[$(FulcioExt::$variant),*];

            /// The last arc of the OID under 1.3.6.1.4.1.57264.1.
            pub fn arc(self) -> u64 {
                match self { $(FulcioExt::$variant => $arc),* }
            }

            /// The full OID.
            pub fn object_id(self) -> ObjectIdentifier {
                match self {
                    $(FulcioExt::$variant => const {
                        ObjectIdentifier::new_unwrap(concat!("1.3.6.1.4.1.57264.1.", $arc))
                    }),*
                }
            }

            /// How the value is encoded.
            pub fn encoding(self) -> Encoding {
                match self { $(FulcioExt::$variant => Encoding::$enc),* }
            }

            /// The key that names this extension in a YAML issuer file.
            pub fn yaml_name(self) -> &'static str {
                match self { $(FulcioExt::$variant => $yaml),* }
            }

            /// The extension whose OID is encoded as `bytes` (the contents octets, as
            /// x509-parser's `Oid::as_bytes` gives them), if it is one of Fulcio's.
            pub fn from_oid_bytes(bytes: &[u8]) -> Option<FulcioExt> {
                FulcioExt::ALL
                    .iter()
                    .copied()
                    .find(|e| e.object_id().as_bytes() == bytes)
            }

            /// Looks up an `extension-templates` key, in YAML or Fulcio's JSON spelling.
            pub fn from_config_name(name: &str) -> Option<FulcioExt> {
                match name {
                    $($yaml | $json => Some(FulcioExt::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

fulcio_extensions! {
    Issuer = 1, Raw, "issuer", "Issuer";
    GithubWorkflowTrigger = 2, Raw, "github-workflow-trigger", "GithubWorkflowTrigger";
    GithubWorkflowSha = 3, Raw, "github-workflow-sha", "GithubWorkflowSHA";
    GithubWorkflowName = 4, Raw, "github-workflow-name", "GithubWorkflowName";
    GithubWorkflowRepository = 5, Raw, "github-workflow-repository", "GithubWorkflowRepository";
    GithubWorkflowRef = 6, Raw, "github-workflow-ref", "GithubWorkflowRef";
    IssuerV2 = 8, Utf8String, "issuer-v2", "IssuerV2";
    BuildSignerUri = 9, Utf8String, "build-signer-uri", "BuildSignerURI";
    BuildSignerDigest = 10, Utf8String, "build-signer-digest", "BuildSignerDigest";
    RunnerEnvironment = 11, Utf8String, "runner-environment", "RunnerEnvironment";
    SourceRepositoryUri = 12, Utf8String, "source-repository-uri", "SourceRepositoryURI";
    SourceRepositoryDigest = 13, Utf8String, "source-repository-digest", "SourceRepositoryDigest";
    SourceRepositoryRef = 14, Utf8String, "source-repository-ref", "SourceRepositoryRef";
    SourceRepositoryIdentifier = 15, Utf8String, "source-repository-identifier", "SourceRepositoryIdentifier";
    SourceRepositoryOwnerUri = 16, Utf8String, "source-repository-owner-uri", "SourceRepositoryOwnerURI";
    SourceRepositoryOwnerIdentifier = 17, Utf8String, "source-repository-owner-identifier", "SourceRepositoryOwnerIdentifier";
    BuildConfigUri = 18, Utf8String, "build-config-uri", "BuildConfigURI";
    BuildConfigDigest = 19, Utf8String, "build-config-digest", "BuildConfigDigest";
    BuildTrigger = 20, Utf8String, "build-trigger", "BuildTrigger";
    RunInvocationUri = 21, Utf8String, "run-invocation-uri", "RunInvocationURI";
    SourceRepositoryVisibilityAtSigning = 22, Utf8String, "source-repository-visibility-at-signing", "SourceRepositoryVisibilityAtSigning";
    DeploymentEnvironment = 23, Utf8String, "deployment-environment", "DeploymentEnvironment";
    Subject = 24, Utf8String, "subject", "Subject";
}

/// The otherName type-id of the `username` SAN.
pub const OTHERNAME_SAN_OID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");

impl FulcioExt {
    /// Whether an issuer file may set this extension from a template. Issuer and subject are
    /// always taken from the token itself, as in Fulcio.
    pub fn is_templatable(self) -> bool {
        !matches!(
            self,
            FulcioExt::Issuer | FulcioExt::IssuerV2 | FulcioExt::Subject
        )
    }

    /// The `extnValue` contents for `value`.
    pub fn encode(self, value: &str) -> der::Result<Vec<u8>> {
        match self.encoding() {
            Encoding::Raw => Ok(value.as_bytes().to_vec()),
            Encoding::Utf8String => der::asn1::Utf8StringRef::new(value)?.to_der(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arcs_are_unique_and_ordered() {
        let arcs: Vec<u64> = FulcioExt::ALL.iter().map(|e| e.arc()).collect();
        let mut sorted = arcs.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(arcs, sorted);
        assert!(
            !arcs.contains(&7),
            "1.7 is the otherName type-id, not an extension"
        );
    }

    #[test]
    fn every_extension_is_found_by_its_encoded_oid_and_nothing_else_is() {
        for ext in FulcioExt::ALL {
            assert_eq!(
                FulcioExt::from_oid_bytes(ext.object_id().as_bytes()),
                Some(*ext)
            );
        }
        assert_eq!(
            FulcioExt::from_oid_bytes(OTHERNAME_SAN_OID.as_bytes()),
            None
        );
        let sct_list = sigil_ctlog::rfc6962::SCT_LIST_OID;
        assert_eq!(FulcioExt::from_oid_bytes(sct_list.as_bytes()), None);
    }

    #[test]
    fn object_ids_end_in_their_arc() {
        for ext in FulcioExt::ALL {
            assert_eq!(
                ext.object_id().to_string(),
                format!("1.3.6.1.4.1.57264.1.{}", ext.arc())
            );
        }
    }

    #[test]
    fn encodings_match_fulcio() {
        assert_eq!(FulcioExt::Issuer.encode("https://a").unwrap(), b"https://a");
        // UTF8String tag 0x0c, length 9.
        assert_eq!(
            FulcioExt::IssuerV2.encode("https://a").unwrap(),
            [&[0x0c, 9][..], b"https://a"].concat()
        );
    }

    #[test]
    fn config_names_in_both_spellings() {
        assert_eq!(
            FulcioExt::from_config_name("build-signer-uri"),
            Some(FulcioExt::BuildSignerUri)
        );
        assert_eq!(
            FulcioExt::from_config_name("GithubWorkflowSHA"),
            Some(FulcioExt::GithubWorkflowSha)
        );
        assert_eq!(FulcioExt::from_config_name("nope"), None);
    }
}
