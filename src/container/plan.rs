//! From a Spec and its image's config to a Launch: the decisions `create` makes, as plain
//! functions with no host and no store, so each is unit-tested. Docker's rules throughout:
//! the entrypoint prefixes the command, the spec's env overrides the image's, PATH and
//! HOSTNAME are always set, the working directory and user fall back to the image's.

use std::path::Path;

use super::spec::{Launch, Namespace, NetworkMode, Spec, DEFAULT_PATH};
use crate::error::{Error, Result};
use crate::image::oci::RunConfig;
use crate::runtime::cgroup::{Limits, DEFAULT_PIDS_LIMIT};
use crate::runtime::launch::Bind;
use crate::runtime::security::DeviceNode;

/// The command a container runs: the spec's entrypoint (else the image's), then the
/// command given (else, unless the spec set an entrypoint, the image's Cmd).
pub fn command(spec: &Spec, config: &RunConfig, argv: Option<Vec<String>>) -> Result<Vec<String>> {
    let entrypoint = spec
        .entrypoint
        .clone()
        .or(config.entrypoint.clone())
        .unwrap_or_default();
    let cmd = match argv {
        Some(a) if !a.is_empty() => a,
        _ if spec.entrypoint.is_some() => Vec::new(),
        _ => config.cmd.clone().unwrap_or_default(),
    };
    let command: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if command.is_empty() {
        return Err(Error::invalid(format!(
            "no command given and image {} has no default command",
            spec.image
        )));
    }
    Ok(command)
}

/// Checks what a spec must have and settles what follows from it: a root filesystem and a
/// mount namespace; the host's network means no network namespace (and no namespace means
/// the host's network); ports only on a bridge network, each host port once.
pub fn settle(spec: &mut Spec) -> Result<()> {
    if !spec.rootfs_chosen {
        return Err(Error::invalid(
            "the container has no root filesystem yet: call mount_rootfs() (the image's layers) or mount_rootfs(dir)",
        ));
    }
    if !spec.has(Namespace::Mount) {
        return Err(Error::invalid("a container needs its own mount namespace for its root filesystem: keep \"mount\" in unshare"));
    }
    if spec.network == NetworkMode::Host {
        spec.namespaces.retain(|n| *n != Namespace::Net);
    } else if !spec.has(Namespace::Net) {
        spec.network = NetworkMode::Host;
    }
    if let (None, Some(p)) = (spec.network.bridge(), spec.publish.first()) {
        return Err(Error::invalid(format!(
            "cannot publish port {p}: network {:?} has no ports of its own (use a bridge network)",
            spec.network.as_str()
        )));
    }
    if let (None, Some(a)) = (spec.network.bridge(), spec.network_aliases.first()) {
        return Err(Error::invalid(format!(
            "network alias {a:?}: network {:?} has no names (aliases are for a bridge network)",
            spec.network.as_str()
        )));
    }
    if spec.restart.is_some() && spec.auto_remove {
        return Err(Error::invalid(
            "a restart policy and rm contradict each other: choose one",
        ));
    }
    for (i, p) in spec.publish.iter().enumerate() {
        if spec.publish[..i]
            .iter()
            .any(|q| p.host_port != 0 && q.host_port == p.host_port && q.proto == p.proto)
        {
            return Err(Error::invalid(format!(
                "host port {}/{} is published twice",
                p.host_port, p.proto
            )));
        }
    }
    Ok(())
}

/// The names to try, in order: the one asked for (checked), else generated ones from the id.
pub fn names(spec: &Spec, id: &str) -> Result<Vec<String>> {
    let Some(n) = &spec.name else {
        return Ok(generated_names(id));
    };
    if n.is_empty()
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        || !n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
    {
        return Err(Error::invalid(format!(
            "invalid container name {n:?}: use letters, digits, '_', '.' and '-'"
        )));
    }
    Ok(vec![n.clone()])
}

const ADJECTIVES: &[&str] = &[
    "brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry",
    "nimble", "proud", "quiet", "rapid", "sharp", "tidy", "vivid", "witty", "zesty", "bold",
];
const NOUNS: &[&str] = &[
    "turing", "hopper", "lovelace", "ritchie", "thompson", "torvalds", "knuth", "dijkstra",
    "liskov", "hamilton", "perlman", "wozniak", "kay", "lamport", "backus", "mccarthy", "shannon",
    "noether", "curie", "pike",
];

/// Docker-like names from the container's random id: an adjective, a name and four hex
/// digits, taken from successive parts of the id so that a taken one has a next try.
pub fn generated_names(id: &str) -> Vec<String> {
    let bytes = hex::decode(id).unwrap_or_default();
    (0..bytes.len() / 4)
        .map(|k| {
            let b = &bytes[k * 4..k * 4 + 4];
            format!(
                "{}_{}_{:02x}{:02x}",
                ADJECTIVES[b[0] as usize % ADJECTIVES.len()],
                NOUNS[b[1] as usize % NOUNS.len()],
                b[2],
                b[3]
            )
        })
        .collect()
}

/// The environment: the image's, a default PATH if it has none, the spec's over it, and
/// HOSTNAME unless set.
pub fn environment(config: &RunConfig, spec: &Spec, hostname: &str) -> Vec<String> {
    let mut env: Vec<String> = config.env.clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    for (k, v) in &spec.env {
        env.retain(|e| e.split_once('=').map(|(ek, _)| ek != k).unwrap_or(true));
        env.push(format!("{k}={v}"));
    }
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={hostname}"));
    }
    env
}

/// What `create` has resolved for a container before its launch is drawn up.
pub struct Resolved {
    pub config: RunConfig,
    pub layers: Vec<std::path::PathBuf>,
    pub command: Vec<String>,
    pub devices: Vec<DeviceNode>,
    /// The host's init binary when the spec asks for one (--init).
    pub init: Option<std::path::PathBuf>,
}

/// Where an init (--init) is bound in the container, as Docker puts it.
pub const INIT_TARGET: &str = "/sbin/docker-init";

/// Whether an ELF file, from its first bytes, runs without a dynamic loader (no PT_INTERP
/// program header): only such a binary runs in any image. None when it is not a 64-bit
/// little-endian ELF file (the only kind this host runs) or its headers are cut short.
pub fn static_elf(head: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if head.get(..6) != Some(b"\x7fELF\x02\x01".as_slice()) {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(head.get(o..o + 2)?.try_into().ok()?));
    let phoff = u64::from_le_bytes(head.get(0x20..0x28)?.try_into().ok()?) as usize;
    let (size, count) = (u16_at(0x36)? as usize, u16_at(0x38)? as usize);
    let mut interp = false;
    for i in 0..count {
        let at = phoff.checked_add(i.checked_mul(size)?)?;
        let kind = u32::from_le_bytes(head.get(at..at + 4)?.try_into().ok()?);
        interp |= kind == PT_INTERP;
    }
    Some(!interp)
}

/// Everything the supervisor and the init need, for container `id` in `dir` of `root`.
pub fn launch(spec: &Spec, r: Resolved, id: &str, root: &Path, dir: &Path) -> Result<Launch> {
    let Resolved {
        config,
        layers,
        command,
        devices,
        init,
    } = r;
    let config = &config;
    for b in &spec.binds {
        if !b.source.exists() {
            return Err(Error::not_found(format!(
                "volume source {} does not exist",
                b.source.display()
            )));
        }
    }
    let hostname = spec
        .hostname
        .clone()
        .unwrap_or_else(|| id.chars().take(12).collect());
    Ok(Launch {
        id: id.to_string(),
        root: root.to_path_buf(),
        layers,
        dir: spec.rootfs_dir.clone(),
        upper: dir.join("upper"),
        work: dir.join("work"),
        mount_point: crate::store::Paths::new(root).mount_point(),
        namespaces: spec.namespaces.clone(),
        env: environment(config, spec, &hostname),
        hostname,
        argv: match &init {
            // tini's way: the init, "--", then the command as its child.
            Some(_) => [INIT_TARGET.to_string(), "--".to_string()]
                .into_iter()
                .chain(command)
                .collect(),
            None => command,
        },
        workdir: spec
            .workdir
            .clone()
            .or(config.working_dir.clone())
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into()),
        user: spec
            .user
            .clone()
            .or(config.user.clone())
            .filter(|u| !u.is_empty()),
        binds: spec
            .binds
            .iter()
            .cloned()
            .chain(init.map(|source| Bind {
                source,
                target: INIT_TARGET.to_string(),
                readonly: true,
            }))
            .collect(),
        tmpfs: spec.tmpfs.clone(),
        restart: spec.restart,
        health: spec.health.clone().or(config.healthcheck.clone()),
        limits: Limits {
            // podman's default: a fork bomb stops at 2048 processes (0 or -1: no limit).
            pids: spec.limits.pids.or(Some(DEFAULT_PIDS_LIMIT)),
            ..spec.limits.clone()
        },
        network: spec.network.clone(),
        auto_remove: spec.auto_remove,
        tty: spec.tty,
        publish: spec.publish.clone(),
        security: spec.security.clone(),
        devices,
        network_aliases: spec.network_aliases.clone(),
        extra_hosts: spec.extra_hosts.clone(),
        dns: spec.dns.clone(),
        shm_size: spec.shm_size,
        ulimits: spec.ulimits.clone(),
        interface: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::spec::Publish;

    fn config() -> RunConfig {
        RunConfig {
            entrypoint: Some(vec!["/entry".into()]),
            cmd: Some(vec!["serve".into()]),
            env: Some(vec!["PATH=/opt/bin".into(), "MODE=image".into()]),
            working_dir: Some("/srv".into()),
            user: Some("app".into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_entrypoint_prefixes_the_command_as_docker_does() {
        let spec = Spec::new("img");
        assert_eq!(
            command(&spec, &config(), None).unwrap(),
            ["/entry", "serve"]
        );
        assert_eq!(
            command(&spec, &config(), Some(vec!["x".into()])).unwrap(),
            ["/entry", "x"]
        );
        let mut own = Spec::new("img");
        own.entrypoint = Some(vec!["sh".into()]);
        assert_eq!(
            command(&own, &config(), None).unwrap(),
            ["sh"],
            "no image Cmd then"
        );
        let e = command(&Spec::new("img"), &RunConfig::default(), None).unwrap_err();
        assert!(e.message().contains("no default command"), "{e}");
    }

    #[test]
    fn the_environment_layers_like_docker() {
        let mut spec = Spec::new("img");
        spec.env.insert("MODE".into(), "spec".into());
        let env = environment(&config(), &spec, "box");
        assert_eq!(env, ["PATH=/opt/bin", "MODE=spec", "HOSTNAME=box"]);
        let env = environment(&RunConfig::default(), &Spec::new("img"), "h");
        assert_eq!(env[0], DEFAULT_PATH, "a default PATH");
    }

    #[test]
    fn settling_a_spec() {
        let mut bare = Spec::bare("img");
        assert!(settle(&mut bare)
            .unwrap_err()
            .message()
            .contains("mount_rootfs"));
        bare.rootfs_chosen = true;
        assert!(settle(&mut bare)
            .unwrap_err()
            .message()
            .contains("mount namespace"));
        let mut host = Spec::new("img");
        host.network = NetworkMode::Host;
        settle(&mut host).unwrap();
        assert!(
            !host.has(Namespace::Net),
            "the host's network: no net namespace"
        );
        let mut no_net = Spec::new("img");
        no_net.namespaces.retain(|n| *n != Namespace::Net);
        settle(&mut no_net).unwrap();
        assert_eq!(no_net.network, NetworkMode::Host);
        let mut ports = Spec::new("img");
        ports.publish.push(Publish::parse("8080:80").unwrap());
        assert!(settle(&mut ports)
            .unwrap_err()
            .message()
            .contains("bridge network"));
        ports.network = NetworkMode::Bridge("front".into());
        ports.publish.push(Publish::parse("8080:81").unwrap());
        assert!(settle(&mut ports)
            .unwrap_err()
            .message()
            .contains("published twice"));
    }

    #[test]
    fn names_asked_for_are_checked_and_generated_ones_vary() {
        let mut s = Spec::new("img");
        s.name = Some("-bad".into());
        assert!(names(&s, "00").is_err());
        s.name = Some("web.1".into());
        assert_eq!(names(&s, "00").unwrap(), ["web.1"]);
        let id = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"an id"));
        let generated = names(&Spec::new("img"), &id).unwrap();
        assert_eq!(generated.len(), 8, "a retry for every 4 bytes of the id");
        let distinct: std::collections::HashSet<_> = generated.iter().collect();
        assert_eq!(distinct.len(), 8);
    }

    #[test]
    fn a_launch_takes_the_images_defaults_and_podmans_pids_limit() {
        let spec = Spec::new("img");
        let id = "ab".repeat(32);
        let resolved = |command: Vec<String>| Resolved {
            config: config(),
            layers: vec![],
            command,
            devices: vec![],
            init: None,
        };
        let l = launch(
            &spec,
            resolved(vec!["true".into()]),
            &id,
            Path::new("/root"),
            Path::new("/root/containers/x"),
        )
        .unwrap();
        assert_eq!(l.workdir, "/srv");
        assert_eq!(l.user.as_deref(), Some("app"));
        assert_eq!(l.hostname, "abababababab");
        assert_eq!(l.limits.pids, Some(DEFAULT_PIDS_LIMIT));
        assert_eq!(l.mount_point, Path::new("/root/mnt"));
        let mut vol = Spec::new("img");
        vol.binds.push(crate::container::spec::Bind {
            source: "/no/such/dir".into(),
            target: "/data".into(),
            readonly: false,
        });
        let e = launch(&vol, resolved(vec![]), &id, Path::new("/"), Path::new("/x"));
        assert!(e
            .unwrap_err()
            .message()
            .contains("volume source /no/such/dir"));
    }

    #[test]
    fn an_init_is_bound_read_only_and_runs_the_command_as_its_child() {
        let spec = Spec::new("img");
        let r = Resolved {
            config: config(),
            layers: vec![],
            command: vec!["sh".into(), "-c".into(), "x".into()],
            devices: vec![],
            init: Some("/usr/bin/tini-static".into()),
        };
        let l = launch(&spec, r, &"cd".repeat(32), Path::new("/"), Path::new("/x")).unwrap();
        assert_eq!(l.argv, [INIT_TARGET, "--", "sh", "-c", "x"]);
        let b = l.binds.last().unwrap();
        assert_eq!(
            (b.source.as_path(), b.target.as_str(), b.readonly),
            (Path::new("/usr/bin/tini-static"), INIT_TARGET, true)
        );
    }

    /// A 64-bit little-endian ELF header with program headers of the given types.
    fn elf(types: &[u32]) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56 * types.len()];
        b[..6].copy_from_slice(b"\x7fELF\x02\x01");
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&(types.len() as u16).to_le_bytes());
        for (i, t) in types.iter().enumerate() {
            b[64 + 56 * i..68 + 56 * i].copy_from_slice(&t.to_le_bytes());
        }
        b
    }

    #[test]
    fn only_a_binary_without_an_interpreter_is_static() {
        assert_eq!(static_elf(&elf(&[1, 1, 4])), Some(true));
        assert_eq!(static_elf(&elf(&[6, 3, 1])), Some(false));
        assert_eq!(static_elf(b"#!/bin/sh\n"), None);
        let cut = elf(&[1, 3]);
        assert_eq!(static_elf(&cut[..100]), None, "headers cut short");
        // This test binary is a dynamically linked one.
        let me = std::fs::read("/proc/self/exe").unwrap();
        assert_eq!(static_elf(&me[..4096]), Some(false));
    }
}
