//! Image references: `busybox` means docker.io/library/busybox:latest, as everywhere else.
//!
//! Parsed by hand to Docker's grammar rather than with oci-client's regular expression:
//! compiling that expression costs tens of milliseconds in every fresh process, and every
//! `run` or `rmi` looks an image up by reference. oci-client's `Reference` is only built
//! (without a regex) when a registry is contacted.

use std::fmt;

use oci_client::Reference;

use crate::error::{Error, Result};

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImageRef {
    pub fn registry(&self) -> &str {
        &self.registry
    }
    pub fn repository(&self) -> &str {
        &self.repository
    }
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The same reference for oci-client.
    pub fn to_oci(&self) -> Reference {
        let (reg, repo) = (self.registry.clone(), self.repository.clone());
        match (&self.tag, &self.digest) {
            (Some(t), Some(d)) => Reference::with_tag_and_digest(reg, repo, t.clone(), d.clone()),
            (None, Some(d)) => Reference::with_digest(reg, repo, d.clone()),
            (Some(t), None) => Reference::with_tag(reg, repo, t.clone()),
            (None, None) => Reference::with_tag(reg, repo, "latest".into()),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&canonical(self))
    }
}

fn component_ok(c: &str) -> bool {
    // [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let ch = b[i];
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            i += 1;
            continue;
        }
        let sep_len = match ch {
            b'.' => 1,
            b'_' if b.get(i + 1) == Some(&b'_') => 2,
            b'_' => 1,
            b'-' => b[i..].iter().take_while(|x| **x == b'-').count(),
            _ => return false,
        };
        i += sep_len;
        if i >= b.len() || !b[i].is_ascii_alphanumeric() {
            return false;
        }
    }
    true
}

fn domain_ok(d: &str) -> bool {
    let (host, port) = match d.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return false,
        },
        None => match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        },
    };
    if let Some(p) = port {
        if p.is_empty()
            || !p.bytes().all(|b| b.is_ascii_digit())
            || p.parse::<u32>().map(|n| n > 65535).unwrap_or(true)
        {
            return false;
        }
    }
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':')
}

/// Parses an image reference, quoting the input in the error.
pub fn parse(input: &str) -> Result<ImageRef> {
    let text = input.trim();
    let bad = |why: &str| Error::invalid(format!("invalid image reference {input:?}: {why}"));
    if text.is_empty() {
        return Err(bad("it is empty"));
    }
    let (name_tag, digest) = match text.split_once('@') {
        Some((n, d)) => {
            let (algo, hex) = d
                .split_once(':')
                .ok_or_else(|| bad("a digest is algorithm:hex"))?;
            let hex_ok = hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if algo != "sha256" || hex.len() != 64 || !hex_ok {
                return Err(bad(
                    "only sha256 digests of 64 lower-case hex digits are supported",
                ));
            }
            (n, Some(d.to_string()))
        }
        None => (text, None),
    };
    // A tag follows the last ':' that comes after the last '/' (a registry port does not).
    let last_slash = name_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => (
            &name_tag[..last_slash + i],
            Some(&name_tag[last_slash + i + 1..]),
        ),
        None => (name_tag, None),
    };
    if let Some(t) = tag {
        let b = t.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 128
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
        if !ok {
            return Err(bad("a tag is up to 128 letters, digits, '_', '.' and '-'"));
        }
    }
    let (registry, path) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':', '[']) || first == "localhost" => {
            if !domain_ok(first) {
                return Err(bad("the registry host is not valid"));
            }
            (first.to_string(), rest.to_string())
        }
        _ => ("docker.io".to_string(), name.to_string()),
    };
    if path.is_empty() || path.len() > 255 {
        return Err(bad("the repository name is empty or too long"));
    }
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(bad("repository name must be lowercase"));
    }
    if !path.split('/').all(component_ok) {
        return Err(bad(
            "repository names are lower-case letters, digits and single separators",
        ));
    }
    let repository = if registry == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    let tag = match (tag, &digest) {
        (Some(t), _) => Some(t.to_string()),
        (None, Some(_)) => None,
        (None, None) => Some("latest".to_string()),
    };
    Ok(ImageRef {
        registry,
        repository,
        tag,
        digest,
    })
}

/// The canonical name a reference is stored under: `registry/repo:tag` or `registry/repo@digest`.
pub fn canonical(r: &ImageRef) -> String {
    match (r.tag(), r.digest()) {
        (_, Some(d)) => format!("{}/{}@{}", r.registry(), r.repository(), d),
        (Some(t), None) => format!("{}/{}:{}", r.registry(), r.repository(), t),
        (None, None) => format!("{}/{}:latest", r.registry(), r.repository()),
    }
}

/// The short form people type and `images` shows: Docker Hub's prefixes dropped.
pub fn familiar(canonical: &str) -> String {
    canonical
        .strip_prefix("docker.io/library/")
        .or_else(|| canonical.strip_prefix("docker.io/"))
        .unwrap_or(canonical)
        .to_string()
}

/// Whether a registry name is on the loopback interface, for deciding about plain HTTP.
pub fn is_loopback_registry(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(registry)
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .map(|a| a.is_loopback())
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_expand_to_docker_hub() {
        let r = parse("busybox").unwrap();
        assert_eq!(canonical(&r), "docker.io/library/busybox:latest");
        assert_eq!(familiar(&canonical(&r)), "busybox:latest");
        assert_eq!(
            canonical(&parse("someone/app").unwrap()),
            "docker.io/someone/app:latest"
        );
        assert_eq!(r.to_oci().resolve_registry(), "index.docker.io");
    }

    #[test]
    fn host_port_tags_and_digests() {
        let r = parse("127.0.0.1:5000/multi:v2").unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(canonical(&r), "127.0.0.1:5000/multi:v2");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("localhost:5000/x/y@{d}")).unwrap();
        assert_eq!(canonical(&r), format!("localhost:5000/x/y@{d}"));
        assert_eq!(r.to_oci().digest(), Some(d.as_str()));
        let r = parse(&format!("busybox:1.36@{d}")).unwrap();
        assert_eq!((r.tag(), r.digest()), (Some("1.36"), Some(d.as_str())));
        assert_eq!(parse("localhost:5000/app").unwrap().tag(), Some("latest"));
        assert_eq!(
            parse("my.registry.io/team/app:1.0-rc_1")
                .unwrap()
                .repository(),
            "team/app"
        );
        assert_eq!(parse("a__b/c-d.e:t").unwrap().repository(), "a__b/c-d.e");
        assert_eq!(familiar("docker.io/someone/app:1"), "someone/app:1");
    }

    #[test]
    fn invalid_references_quote_the_input() {
        for bad in [
            "",
            "UPPER/case",
            "a b",
            "busybox:",
            "x@sha256:12",
            "a/-b",
            "a//b",
            "host:99999/x",
            "x:t@md5:00",
            "-lead",
            "trail-",
        ] {
            let err = parse(bad).err().unwrap_or_else(|| panic!("{bad:?} parsed"));
            assert!(
                err.message().contains(&format!("{bad:?}")),
                "{}",
                err.message()
            );
        }
    }

    #[test]
    fn loopback_registries() {
        assert!(is_loopback_registry("127.0.0.1:5000"));
        assert!(is_loopback_registry("localhost:5000"));
        assert!(is_loopback_registry("[::1]:5000"));
        assert!(!is_loopback_registry("docker.io"));
        assert!(!is_loopback_registry("10.0.0.1:5000"));
    }
}
