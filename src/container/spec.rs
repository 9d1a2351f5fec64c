//! What a script asks for (`Spec`) and what the supervisor is handed to make it real
//! (`Launch`): the first records intent and touches nothing; the second is fully resolved.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::runtime::cgroup::Limits;
pub use crate::runtime::launch::{
    Bind, Interface, Launch, Namespace, NetworkMode, Publish, Restart, Tmpfs, Ulimit,
};
use crate::runtime::security::Security;

/// The namespaces a container gets unless the script says otherwise: all but user.
pub const DEFAULT_NAMESPACES: [Namespace; 6] = [
    Namespace::Pid,
    Namespace::Mount,
    Namespace::Uts,
    Namespace::Ipc,
    Namespace::Net,
    Namespace::Cgroup,
];

/// The PATH Docker sets when an image has none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A container as the script describes it, before anything exists on the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The image reference as given, and its id once resolved.
    pub image: String,
    pub image_id: Option<String>,
    pub namespaces: Vec<Namespace>,
    /// A plain directory as the root filesystem instead of the image's layers.
    pub rootfs_dir: Option<PathBuf>,
    /// Whether the root filesystem was chosen (mount_rootfs): a script's bare spec has
    /// none until it says, and spawn tells it so.
    #[serde(default = "chosen")]
    pub rootfs_chosen: bool,
    pub limits: Limits,
    pub hostname: Option<String>,
    pub env: BTreeMap<String, String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub binds: Vec<Bind>,
    pub entrypoint: Option<Vec<String>>,
    pub name: Option<String>,
    /// "none" (loopback only), "host", or a network name.
    pub network: NetworkMode,
    /// Remove the container when it exits.
    pub auto_remove: bool,
    /// Give the container a pseudo terminal (docker run -t).
    #[serde(default)]
    pub tty: bool,
    /// The signal `stop` sends first: the image's StopSignal, else SIGTERM.
    #[serde(default)]
    pub stop_signal: Option<String>,
    #[serde(default)]
    pub publish: Vec<Publish>,
    /// Capabilities, seccomp, devices, read-only root, privileged.
    #[serde(default)]
    pub security: Security,
    #[serde(default)]
    pub tmpfs: Vec<Tmpfs>,
    /// Started again by its supervisor after it exits.
    #[serde(default)]
    pub restart: Option<Restart>,
    /// A health check over the image's (Docker's Healthcheck fields).
    #[serde(default)]
    pub health: Option<serde_json::Value>,
    /// Labels (docker --label). At create the image's labels go under them (the
    /// container's win), as Docker's Config.Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// More names it is reached by on its bridge network (docker --network-alias).
    #[serde(default)]
    pub network_aliases: Vec<String>,
    /// Seconds `stop` waits before it kills, unless told (docker --stop-timeout).
    #[serde(default)]
    pub stop_timeout: Option<i64>,
    /// --add-host: (name, address) lines for /etc/hosts.
    #[serde(default)]
    pub extra_hosts: Vec<(String, String)>,
    /// --dns: name servers for /etc/resolv.conf.
    #[serde(default)]
    pub dns: Vec<String>,
    /// --shm-size: bytes of /dev/shm.
    #[serde(default)]
    pub shm_size: Option<u64>,
    /// --ulimit: resource limits of the command.
    #[serde(default)]
    pub ulimits: Vec<Ulimit>,
    /// --init: a small init (tini) is pid 1 and the command its child.
    #[serde(default)]
    pub init: bool,
}

fn chosen() -> bool {
    true
}

impl Spec {
    /// Docker's defaults: every namespace but user, the image's layers as an overlay root.
    pub fn new(image: &str) -> Spec {
        Spec {
            rootfs_chosen: true,
            namespaces: DEFAULT_NAMESPACES.to_vec(),
            ..Spec::bare(image)
        }
    }

    /// Nothing decided yet: no namespaces and no root filesystem, as a script's
    /// `container(img)` starts, so that `unshare` and `mount_rootfs` say what it gets.
    pub fn bare(image: &str) -> Spec {
        Spec {
            image: image.to_string(),
            image_id: None,
            namespaces: Vec::new(),
            rootfs_dir: None,
            rootfs_chosen: false,
            limits: Limits::default(),
            hostname: None,
            env: BTreeMap::new(),
            workdir: None,
            user: None,
            binds: Vec::new(),
            entrypoint: None,
            name: None,
            network: NetworkMode::None,
            auto_remove: false,
            tty: false,
            stop_signal: None,
            publish: Vec::new(),
            security: Security::default(),
            tmpfs: Vec::new(),
            restart: None,
            health: None,
            labels: BTreeMap::new(),
            network_aliases: Vec::new(),
            stop_timeout: None,
            extra_hosts: Vec::new(),
            dns: Vec::new(),
            shm_size: None,
            ulimits: Vec::new(),
            init: false,
        }
    }

    /// Sets the namespaces, checking their names.
    pub fn unshare(&mut self, names: &[String]) -> Result<()> {
        let mut v: Vec<Namespace> = names
            .iter()
            .map(|n| Namespace::parse(n))
            .collect::<Result<_>>()?;
        if v.contains(&Namespace::User) {
            return Err(Error::new(
                crate::Kind::Unsupported,
                "user namespaces are not supported yet: containers run as root mapped to root",
            ));
        }
        v.sort();
        v.dedup();
        self.namespaces = v;
        Ok(())
    }

    pub fn has(&self, ns: Namespace) -> bool {
        self.namespaces.contains(&ns)
    }
}

/// Parses sizes as Docker does: "64m", "1g", "512k", "100b" or a plain number of bytes.
pub fn parse_size(text: &str) -> Result<i64> {
    let t = text.trim().to_ascii_lowercase();
    let (num, mult) = match t.trim_end_matches('b').chars().last() {
        Some('k') => (&t[..t.trim_end_matches('b').len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.trim_end_matches('b').len() - 1], 1i64 << 20),
        Some('g') => (&t[..t.trim_end_matches('b').len() - 1], 1i64 << 30),
        Some('t') => (&t[..t.trim_end_matches('b').len() - 1], 1i64 << 40),
        _ => (t.trim_end_matches('b'), 1),
    };
    let value: f64 = num.trim().parse().map_err(|_| {
        Error::invalid(format!(
            "invalid size {text:?}: use e.g. 64m, 1g or a number of bytes"
        ))
    })?;
    if value.is_nan() || value <= 0.0 || !value.is_finite() {
        return Err(Error::invalid(format!(
            "invalid size {text:?}: must be positive"
        )));
    }
    let bytes = value * mult as f64;
    // Past i64 the cast would quietly saturate into "no limit".
    if bytes >= i64::MAX as f64 {
        return Err(Error::invalid(format!(
            "invalid size {text:?}: too large (at most 8 EiB)"
        )));
    }
    Ok(bytes as i64)
}

/// The variables of an env file as `docker run --env-file` reads it: a `K=V` a line, taken
/// as written (no quotes removed); a bare `K` takes the value `lookup` gives (the caller's
/// environment) and is left out when it has none; blank lines and `#` comments skipped.
/// `origin` names the file in errors.
pub fn parse_env_file(
    text: &str,
    origin: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>> {
    let mut vars = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (line.trim_end(), None),
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(Error::invalid(format!(
                "{origin}, line {}: {name:?} is not a variable name (write NAME=value, or NAME to pass the caller's value)",
                n + 1
            )));
        }
        match value.or_else(|| lookup(name)) {
            Some(v) => vars.push(format!("{name}={v}")),
            None => continue,
        }
    }
    Ok(vars)
}

/// Parses durations: "10s", "500ms", "2m", or seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration> {
    let t = text.trim();
    let bad = || {
        Error::invalid(format!(
            "invalid duration {text:?}: use e.g. 10s, 500ms or 2m"
        ))
    };
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num.parse().map_err(|_| bad())?;
    if v < 0.0 || !v.is_finite() {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs_f64(v * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_read_as_dockers() {
        let text = "\u{feff}# settings\nA=1\n  B=two words \n\nHOME\nMISSING\nC=x=y\n";
        let host = |k: &str| (k == "HOME").then(|| "/root".to_string());
        assert_eq!(
            parse_env_file(text, "app.env", host).unwrap(),
            ["A=1", "B=two words ", "HOME=/root", "C=x=y"]
        );
        let e = parse_env_file("ok=1\nbad name=2\n", "app.env", host).unwrap_err();
        assert!(e.to_string().contains("app.env, line 2"), "{e}");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("64MB").unwrap(), 64 << 20);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("-5m").is_err());
        assert!(parse_size("0").is_err());
        assert!(
            parse_size("99999999999999999999g").is_err(),
            "no silent saturation"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap().as_secs(), 10);
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("2m").unwrap().as_secs(), 120);
        assert_eq!(parse_duration("3").unwrap().as_secs(), 3);
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn namespaces_are_checked() {
        let mut s = Spec::new("busybox");
        assert!(s.unshare(&["pid".into(), "bogus".into()]).is_err());
        assert!(s.unshare(&["pid".into(), "mount".into()]).is_ok());
        assert!(s.has(Namespace::Pid) && !s.has(Namespace::Net));
    }
}
