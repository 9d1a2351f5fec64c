//! What a script asks for (`Spec`) and what the supervisor is handed to make it real
//! (`Launch`): the first records intent and touches nothing; the second is fully resolved.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::runtime::cgroup::Limits;
use crate::runtime::devices::DeviceRule;
use crate::runtime::security::{DeviceNode, Security};

/// The namespaces a container gets unless the script says otherwise: all but user.
pub const DEFAULT_NAMESPACES: &[&str] = &["pid", "mount", "uts", "ipc", "net", "cgroup"];
pub const ALL_NAMESPACES: &[&str] = &["pid", "mount", "uts", "ipc", "net", "cgroup", "user"];

/// The PATH Docker sets when an image has none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A bind mount of a host path into the container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bind {
    pub source: PathBuf,
    pub target: String,
    pub readonly: bool,
}

/// A published port: traffic to `host_port` on the host (one address, or all of them) goes to
/// `container_port` of the container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Publish {
    pub host_ip: Option<std::net::Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
    /// "tcp" or "udp".
    pub proto: String,
}

impl Publish {
    /// Docker's notation: `[HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|/udp]`.
    pub fn parse(text: &str) -> Result<Publish> {
        let bad = |why: &str| {
            Error::invalid(format!(
                "invalid published port {text:?}: {why} (use e.g. \"8080:80\", \"127.0.0.1:8080:80\" or \"5353:53/udp\")"
            ))
        };
        let (ports, proto) = match text.rsplit_once('/') {
            Some((p, proto)) => (p, proto.to_ascii_lowercase()),
            None => (text, "tcp".to_string()),
        };
        if proto != "tcp" && proto != "udp" {
            return Err(bad("the protocol must be tcp or udp"));
        }
        let parts: Vec<&str> = ports.split(':').collect();
        let (host_ip, host, container) = match parts.as_slice() {
            [h, c] => (None, *h, *c),
            [ip, h, c] => {
                let ip: std::net::Ipv4Addr = ip
                    .parse()
                    .map_err(|_| bad("the host address must be an IPv4 address"))?;
                (Some(ip).filter(|ip| !ip.is_unspecified()), *h, *c)
            }
            [_] => return Err(bad("give both the host port and the container port")),
            _ => return Err(bad("too many ':'")),
        };
        let port = |p: &str| -> Result<u16> {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(bad(&format!("{p:?} is not a port (1-65535)"))),
            }
        };
        Ok(Publish {
            host_ip,
            host_port: port(host)?,
            container_port: port(container)?,
            proto,
        })
    }
}

impl std::fmt::Display for Publish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(ip) = self.host_ip {
            write!(f, "{ip}:")?;
        }
        write!(
            f,
            "{}:{}/{}",
            self.host_port, self.container_port, self.proto
        )
    }
}

/// A container as the script describes it, before anything exists on the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The image reference as given, and its id once resolved.
    pub image: String,
    pub image_id: Option<String>,
    pub namespaces: Vec<String>,
    /// A plain directory as the root filesystem instead of the image's layers.
    pub rootfs_dir: Option<PathBuf>,
    pub limits: Limits,
    pub hostname: Option<String>,
    pub env: BTreeMap<String, String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub binds: Vec<Bind>,
    pub entrypoint: Option<Vec<String>>,
    pub name: Option<String>,
    /// "none" (loopback only), "host", or a network name.
    pub network: String,
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
}

impl Spec {
    pub fn new(image: &str) -> Spec {
        Spec {
            image: image.to_string(),
            image_id: None,
            namespaces: DEFAULT_NAMESPACES.iter().map(|s| s.to_string()).collect(),
            rootfs_dir: None,
            limits: Limits::default(),
            hostname: None,
            env: BTreeMap::new(),
            workdir: None,
            user: None,
            binds: Vec::new(),
            entrypoint: None,
            name: None,
            network: "none".into(),
            auto_remove: false,
            tty: false,
            stop_signal: None,
            publish: Vec::new(),
            security: Security::default(),
        }
    }

    /// Sets the namespaces, checking their names.
    pub fn unshare(&mut self, names: &[String]) -> Result<()> {
        for n in names {
            if !ALL_NAMESPACES.contains(&n.as_str()) {
                return Err(Error::invalid(format!(
                    "unknown namespace {n:?} (known: {})",
                    ALL_NAMESPACES.join(", ")
                )));
            }
        }
        if names.iter().any(|n| n == "user") {
            return Err(Error::new(
                crate::Kind::Unsupported,
                "user namespaces are not supported yet: containers run as root mapped to root",
            ));
        }
        let mut v: Vec<String> = names.to_vec();
        v.sort();
        v.dedup();
        self.namespaces = v;
        Ok(())
    }

    pub fn has(&self, ns: &str) -> bool {
        self.namespaces.iter().any(|n| n == ns)
    }
}

/// Everything the supervisor and the container's init need, resolved and written to
/// `containers/<id>/launch.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Launch {
    pub id: String,
    pub root: PathBuf,
    /// Image layers, bottom first; empty when `dir` is set.
    pub layers: Vec<PathBuf>,
    pub dir: Option<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
    pub namespaces: Vec<String>,
    pub hostname: String,
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
    pub user: Option<String>,
    pub binds: Vec<Bind>,
    pub limits: Limits,
    pub network: String,
    pub auto_remove: bool,
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub publish: Vec<Publish>,
    #[serde(default)]
    pub security: Security,
    /// Host devices to create in /dev, resolved at create.
    #[serde(default)]
    pub devices: Vec<DeviceNode>,
    /// Which devices the container's cgroup lets it create and open.
    #[serde(default)]
    pub device_rules: Vec<DeviceRule>,
    /// Filled in by the supervisor for a bridged container, just before the clone.
    #[serde(skip)]
    pub interface: Option<Interface>,
}

/// The address a bridged container's `eth0` gets, and the file bound onto its /etc/hosts.
#[derive(Debug, Clone)]
pub struct Interface {
    pub ip: std::net::Ipv4Addr,
    pub prefix: u8,
    pub gateway: std::net::Ipv4Addr,
    pub hosts_file: PathBuf,
    pub resolv_conf: Vec<u8>,
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
    Ok((value * mult as f64) as i64)
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
    fn sizes() {
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("64MB").unwrap(), 64 << 20);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("-5m").is_err());
        assert!(parse_size("0").is_err());
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
        assert!(s.has("pid") && !s.has("net"));
    }
}
