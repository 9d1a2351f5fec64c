//! The OCI and Docker image formats, as much of them as gocker-script reads: manifests, indexes,
//! image configs, media types, platforms, digests and chain ids.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Kind, Result};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Every manifest type we can read. The distribution registry answers 404 for an OCI manifest
/// requested without its type, and downgrades a Docker v2 manifest to schema 1 when its type
/// is missing, so all four are always sent.
pub const MANIFEST_TYPES: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// From a layer media type; unknown types are an error naming the type.
    pub fn from_media_type(media_type: &str) -> Result<Compression> {
        let mt = media_type.trim();
        // Non-distributable ("foreign") layers have the same encodings.
        let base = mt.replace(".nondistributable", "").replace(".foreign", "");
        match base.as_str() {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Ok(Compression::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Ok(Compression::Gzip),
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Ok(Compression::Zstd),
            _ => Err(Error::new(
                Kind::Unsupported,
                format!("unsupported layer media type {mt:?}"),
            )),
        }
    }

    /// From a name as scripts and the command line give it: `gzip`, `zstd` or `none`.
    pub fn parse(name: &str) -> Result<Compression> {
        match name.trim().to_ascii_lowercase().as_str() {
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            "none" | "uncompressed" => Ok(Compression::None),
            _ => Err(Error::invalid(format!(
                "unknown compression {name:?}: use gzip, zstd or none"
            ))),
        }
    }

    /// The name `parse` reads.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// From the first bytes of a blob, for archives (docker save) that carry no media type.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Whether an index entry's media type names an image manifest (an entry without one is
/// judged by what it points at).
pub fn is_image_manifest_type(media_type: &str) -> bool {
    matches!(media_type, "" | OCI_MANIFEST | DOCKER_MANIFEST)
}

/// A content descriptor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An image manifest (OCI or Docker v2 schema 2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// An image index or Docker manifest list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// Either kind of document a manifest URL can return.
pub enum ManifestDoc {
    Image(Manifest),
    Index(Index),
}

impl ManifestDoc {
    /// Parses a manifest body, telling index from image by media type (header or body) and
    /// by shape, and rejecting schema 1 with a message that says what to do.
    pub fn parse(body: &[u8], header_type: Option<&str>, what: &str) -> Result<ManifestDoc> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            schema_version: Option<u32>,
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(body).map_err(|e| {
            Error::with_source(
                Kind::Registry,
                format!("manifest of {what} is not valid JSON"),
                e,
            )
        })?;
        let media_type = probe.media_type.as_deref().or(header_type).unwrap_or("");
        if probe.schema_version == Some(1)
            || media_type.starts_with("application/vnd.docker.distribution.manifest.v1")
        {
            return Err(Error::new(
                Kind::Unsupported,
                format!("{what} has a Docker schema 1 manifest, which is deprecated and unsupported: push it again with a current client"),
            ));
        }
        let bad = |e| {
            Error::with_source(
                Kind::Registry,
                format!("cannot parse manifest of {what}"),
                e,
            )
        };
        if media_type == OCI_INDEX || media_type == DOCKER_LIST || probe.manifests.is_some() {
            Ok(ManifestDoc::Index(
                serde_json::from_slice(body).map_err(bad)?,
            ))
        } else {
            Ok(ManifestDoc::Image(
                serde_json::from_slice(body).map_err(bad)?,
            ))
        }
    }
}

/// An OS/architecture/variant triple, as in `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this binary runs on, in OCI's words.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            other => (other, None),
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.map(String::from),
        }
    }

    /// Parses `os/arch[/variant]`.
    pub fn parse(text: &str) -> Result<Platform> {
        let parts: Vec<&str> = text.split('/').collect();
        let ok = |s: &&str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(variant.to_string()),
            }),
            _ => Err(Error::invalid(format!(
                "invalid platform {text:?}: expected os/arch or os/arch/variant"
            ))),
        }
    }

    /// Whether an index entry's platform satisfies this wanted platform. A wanted platform
    /// without a variant accepts any variant; arm64 entries without a variant are v8.
    pub fn matches(&self, have: &Platform) -> bool {
        if self.os != have.os || self.architecture != have.architecture {
            return false;
        }
        let norm = |p: &Platform| match (&p.variant, p.architecture.as_str()) {
            (None, "arm64") => Some("v8".to_string()),
            (v, _) => v.clone(),
        };
        match (&self.variant, norm(have)) {
            (None, _) => true,
            (Some(_), _) if self.architecture == "arm64" => norm(self) == norm(have),
            (Some(want), Some(got)) => *want == got,
            (Some(_), None) => false,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The image configuration file (the parts we use; unknown fields are kept in the raw JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default)]
    pub config: RunConfig,
    pub rootfs: RootFs,
}

/// How the image wants to be run: Docker's `config` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    /// Test, Interval, Timeout, StartPeriod (ns), Retries, as Docker writes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The hex part of a sha256 digest, validated (it becomes a file name).
pub fn digest_hex(digest: &str) -> Result<&str> {
    let hex = digest.strip_prefix("sha256:").ok_or_else(|| {
        Error::new(
            Kind::Unsupported,
            format!("unsupported digest {digest:?}: only sha256 is supported"),
        )
    })?;
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(Error::invalid(format!("invalid digest {digest:?}")));
    }
    Ok(hex)
}

/// Chain ids of a stack of layers: the identity of "this layer on top of those", which is what
/// an unpacked layer directory really is, so images share directories exactly when they share
/// a whole prefix of layers.
pub fn chain_ids(diff_ids: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff in diff_ids {
        digest_hex(diff)?;
        let next = match out.last() {
            None => diff.clone(),
            Some(parent) => sha256_digest(format!("{parent} {diff}").as_bytes()),
        };
        out.push(next);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_id_of_one_layer_is_its_diff_id() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(chain_ids(std::slice::from_ref(&d)).unwrap(), vec![d]);
    }

    #[test]
    fn chain_id_follows_the_spec_formula() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let ids = chain_ids(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(ids[1], sha256_digest(format!("{a} {b}").as_bytes()));
    }

    #[test]
    fn bad_digests_are_rejected() {
        assert!(digest_hex("sha256:xyz").is_err());
        assert!(digest_hex("md5:abc").is_err());
        assert!(digest_hex(&format!("sha256:{}", "0".repeat(63))).is_err());
        assert!(digest_hex(&format!("sha256:../{}", "0".repeat(61))).is_err());
    }

    #[test]
    fn platform_matching() {
        let want = Platform::parse("linux/arm64").unwrap();
        let have = Platform::parse("linux/arm64/v8").unwrap();
        assert!(want.matches(&have));
        assert!(Platform::parse("linux/arm64/v8")
            .unwrap()
            .matches(&Platform::parse("linux/arm64").unwrap()));
        assert!(!Platform::parse("linux/arm/v7")
            .unwrap()
            .matches(&Platform::parse("linux/arm/v6").unwrap()));
        assert!(!Platform::parse("linux/amd64").unwrap().matches(&have));
        assert!(Platform::parse("linux").is_err());
    }

    #[test]
    fn compression_from_media_types() {
        assert_eq!(
            Compression::from_media_type("application/vnd.oci.image.layer.v1.tar+zstd").unwrap(),
            Compression::Zstd
        );
        assert_eq!(
            Compression::from_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip")
                .unwrap(),
            Compression::Gzip
        );
        assert!(Compression::from_media_type("text/plain").is_err());
    }

    #[test]
    fn schema1_is_rejected_clearly() {
        let body = br#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#;
        let err = ManifestDoc::parse(body, None, "x:y").err().unwrap();
        assert!(err.message().contains("schema 1"), "{}", err.message());
    }
}
