//! Image references: `busybox` means docker.io/library/busybox:latest, as everywhere else.

use oci_client::Reference;

use crate::error::{Error, Result};

/// Parses an image reference, quoting the input in the error.
pub fn parse(input: &str) -> Result<Reference> {
    let text = input.trim();
    if text.is_empty() {
        return Err(Error::invalid("invalid image reference \"\": it is empty"));
    }
    // As Docker: a first component is a registry only if it has a dot or a port, or is
    // localhost; everything after the registry must be lower case.
    let name = text.split(['@']).next().unwrap_or(text);
    let (first, rest) = name.split_once('/').unwrap_or(("", name));
    let is_registry = first.contains(['.', ':']) || first == "localhost";
    let repo = if is_registry { rest } else { name };
    let repo = repo
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map(|(r, _)| r)
        .unwrap_or(repo);
    if repo.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(Error::invalid(format!(
            "invalid image reference {input:?}: repository name must be lowercase"
        )));
    }
    text.parse::<Reference>()
        .map_err(|e| Error::invalid(format!("invalid image reference {input:?}: {e}")))
}

/// The canonical name a reference is stored under: `registry/repo:tag` or `registry/repo@digest`.
pub fn canonical(r: &Reference) -> String {
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

/// The host part of a registry name without its port, for deciding about plain HTTP.
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
    }

    #[test]
    fn host_port_tags_and_digests() {
        let r = parse("127.0.0.1:5000/multi:v2").unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(canonical(&r), "127.0.0.1:5000/multi:v2");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("localhost:5000/x/y@{d}")).unwrap();
        assert_eq!(canonical(&r), format!("localhost:5000/x/y@{d}"));
        assert_eq!(familiar("docker.io/someone/app:1"), "someone/app:1");
    }

    #[test]
    fn invalid_references_quote_the_input() {
        for bad in ["", "UPPER/case", "a b", "busybox:", "x@sha256:12"] {
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
