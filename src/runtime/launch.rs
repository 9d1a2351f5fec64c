//! What the supervisor and the container's init are handed: the launch description, fully
//! resolved (`containers/<id>/launch.json`), with the kinds of things it names — namespaces,
//! bind mounts, published ports, the bridged interface. The runtime consumes it; container/
//! makes it from a Spec; network/ fills in the interface.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::cgroup::Limits;
use super::security::{DeviceNode, Security};
use crate::error::{Error, Result};

/// Where a container's network comes from. Stored and shown as Docker names it: "none",
/// "host", or the name of a bridge network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum NetworkMode {
    /// Its own network namespace with loopback only.
    None,
    /// The host's network namespace.
    Host,
    /// Its own namespace, with a veth on this bridge network.
    Bridge(String),
}

impl NetworkMode {
    pub fn as_str(&self) -> &str {
        match self {
            NetworkMode::None => "none",
            NetworkMode::Host => "host",
            NetworkMode::Bridge(name) => name,
        }
    }

    /// The bridge network's name, if it is one.
    pub fn bridge(&self) -> Option<&str> {
        match self {
            NetworkMode::Bridge(name) => Some(name),
            _ => None,
        }
    }
}

impl From<String> for NetworkMode {
    fn from(s: String) -> NetworkMode {
        match s.as_str() {
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            _ => NetworkMode::Bridge(s),
        }
    }
}

impl From<&str> for NetworkMode {
    fn from(s: &str) -> NetworkMode {
        NetworkMode::from(s.to_string())
    }
}

impl From<NetworkMode> for String {
    fn from(m: NetworkMode) -> String {
        m.as_str().to_string()
    }
}

impl std::fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A published port's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Linux namespace a container can get, by the names scripts use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Namespace {
    Pid,
    Mount,
    Uts,
    Ipc,
    Net,
    Cgroup,
    User,
}

impl Namespace {
    pub const ALL: [Namespace; 7] = [
        Namespace::Pid,
        Namespace::Mount,
        Namespace::Uts,
        Namespace::Ipc,
        Namespace::Net,
        Namespace::Cgroup,
        Namespace::User,
    ];

    /// The name scripts use ("mount").
    pub fn name(self) -> &'static str {
        match self {
            Namespace::Pid => "pid",
            Namespace::Mount => "mount",
            Namespace::Uts => "uts",
            Namespace::Ipc => "ipc",
            Namespace::Net => "net",
            Namespace::Cgroup => "cgroup",
            Namespace::User => "user",
        }
    }

    /// Its file under /proc/PID/ns ("mnt" for mount).
    pub fn proc_name(self) -> &'static str {
        match self {
            Namespace::Mount => "mnt",
            other => other.name(),
        }
    }

    pub fn clone_flag(self) -> nix::sched::CloneFlags {
        use nix::sched::CloneFlags as F;
        match self {
            Namespace::Pid => F::CLONE_NEWPID,
            Namespace::Mount => F::CLONE_NEWNS,
            Namespace::Uts => F::CLONE_NEWUTS,
            Namespace::Ipc => F::CLONE_NEWIPC,
            Namespace::Net => F::CLONE_NEWNET,
            Namespace::Cgroup => F::CLONE_NEWCGROUP,
            Namespace::User => F::CLONE_NEWUSER,
        }
    }

    pub fn parse(name: &str) -> Result<Namespace> {
        Namespace::ALL
            .into_iter()
            .find(|n| n.name() == name)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown namespace {name:?} (known: {})",
                    Namespace::ALL.map(|n| n.name()).join(", ")
                ))
            })
    }
}

impl std::fmt::Display for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A bind mount of a host path into the container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bind {
    pub source: PathBuf,
    pub target: String,
    pub readonly: bool,
}

/// When the supervisor starts a container again after it exits (docker --restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Restart {
    /// After a non-zero exit, at most `max` times (no limit when None).
    OnFailure { max: Option<u32> },
    /// After any exit, unless stopped by `stop`; `resume` (at boot) starts it either way.
    Always,
    /// As always, but a container its user stopped stays stopped through `resume` too.
    UnlessStopped,
}

impl Restart {
    /// `no`, `on-failure[:MAX]`, `always`, `unless-stopped`; None for `no`.
    pub fn parse(text: &str) -> Result<Option<Restart>> {
        let (name, max) = match text.split_once(':') {
            Some((n, m)) => (n, Some(m)),
            None => (text, None),
        };
        let bad = || {
            Error::invalid(format!(
                "restart policy {text:?} is not one of no, on-failure[:max], always, unless-stopped"
            ))
        };
        Ok(match (name, max) {
            ("no", None) => None,
            ("on-failure", None) => Some(Restart::OnFailure { max: None }),
            ("on-failure", Some(m)) => Some(Restart::OnFailure {
                max: Some(m.parse().map_err(|_| bad())?),
            }),
            ("always", None) => Some(Restart::Always),
            ("unless-stopped", None) => Some(Restart::UnlessStopped),
            _ => return Err(bad()),
        })
    }

    /// Whether an exit with `code`, after `restarts` restarts so far, starts it again.
    pub fn applies(self, code: i32, restarts: u32) -> bool {
        match self {
            Restart::OnFailure { max } => code != 0 && max.is_none_or(|m| restarts < m),
            Restart::Always | Restart::UnlessStopped => true,
        }
    }

    /// How long to wait before a restart after `quick` exits in a row (each within 10 s of
    /// its start): 100 ms doubling, at most a minute (Docker's backoff).
    pub fn delay(quick: u32) -> std::time::Duration {
        std::time::Duration::from_millis(100u64.saturating_mul(1 << quick.min(10)).min(60_000))
    }
}

/// A tmpfs mounted in the container (docker --tmpfs PATH[:OPTIONS]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tmpfs {
    pub target: String,
    /// Mount options: ro/rw, exec/noexec, suid/nosuid, dev/nodev, and tmpfs's own
    /// (size=, mode=, uid=, gid=, nr_inodes=).
    pub options: String,
}

impl Tmpfs {
    /// `PATH[:OPTIONS]`, as docker's --tmpfs.
    pub fn parse(text: &str) -> Result<Tmpfs> {
        let (target, options) = text.split_once(':').unwrap_or((text, ""));
        if !target.starts_with('/') {
            return Err(Error::invalid(format!(
                "tmpfs {text:?}: the path must be absolute (e.g. \"/run:size=64m\")"
            )));
        }
        let t = Tmpfs {
            target: target.to_string(),
            options: options.to_string(),
        };
        t.flags_and_data()?;
        Ok(t)
    }

    /// The mount flags (Docker's defaults: noexec, nosuid, nodev) and tmpfs's options.
    pub fn flags_and_data(&self) -> Result<(nix::mount::MsFlags, String)> {
        use nix::mount::MsFlags;
        let mut flags = MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        let mut data = Vec::new();
        for o in self
            .options
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
        {
            match o {
                "ro" => flags |= MsFlags::MS_RDONLY,
                "rw" => flags.remove(MsFlags::MS_RDONLY),
                "exec" => flags.remove(MsFlags::MS_NOEXEC),
                "noexec" => flags |= MsFlags::MS_NOEXEC,
                "suid" => flags.remove(MsFlags::MS_NOSUID),
                "nosuid" => flags |= MsFlags::MS_NOSUID,
                "dev" => flags.remove(MsFlags::MS_NODEV),
                "nodev" => flags |= MsFlags::MS_NODEV,
                o if ["size=", "mode=", "uid=", "gid=", "nr_inodes="]
                    .iter()
                    .any(|k| o.starts_with(k)) =>
                {
                    data.push(o.to_string())
                }
                o => {
                    return Err(Error::invalid(format!(
                        "tmpfs {}: unknown option {o:?} (known: ro, rw, exec, noexec, suid, nosuid, dev, nodev, size=, mode=, uid=, gid=, nr_inodes=)",
                        self.target
                    )))
                }
            }
        }
        Ok((flags, data.join(",")))
    }
}

/// A published port: traffic to `host_port` on the host (one address, or all of them) goes to
/// `container_port` of the container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Publish {
    pub host_ip: Option<std::net::Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Protocol,
}

impl Publish {
    /// Docker's notation: `[HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|/udp]`; host port 0, or
    /// only the container's port, for a free host port chosen at start.
    pub fn parse(text: &str) -> Result<Publish> {
        let bad = |why: &str| {
            Error::invalid(format!(
                "invalid published port {text:?}: {why} (use e.g. \"8080:80\", \"127.0.0.1:8080:80\" or \"5353:53/udp\")"
            ))
        };
        let (ports, proto) = match text.rsplit_once('/') {
            Some((p, proto)) => match proto.to_ascii_lowercase().as_str() {
                "tcp" => (p, Protocol::Tcp),
                "udp" => (p, Protocol::Udp),
                _ => return Err(bad("the protocol must be tcp or udp")),
            },
            None => (text, Protocol::Tcp),
        };
        let parts: Vec<&str> = ports.split(':').collect();
        let (host_ip, host, container) = match parts.as_slice() {
            [h, c] => (None, *h, *c),
            [ip, h, c] => {
                let ip: std::net::Ipv4Addr = ip
                    .parse()
                    .map_err(|_| bad("the host address must be an IPv4 address"))?;
                (Some(ip).filter(|ip| !ip.is_unspecified()), *h, *c)
            }
            // Only the container's port: a free host port is chosen at start (docker -p 80).
            [c] => (None, "0", *c),
            _ => return Err(bad("too many ':'")),
        };
        let port = |p: &str| -> Result<u16> {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(bad(&format!("{p:?} is not a port (1-65535)"))),
            }
        };
        // Host port 0: a free one, chosen when the container starts.
        let host_port = if host == "0" { 0 } else { port(host)? };
        Ok(Publish {
            host_ip,
            host_port,
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
    /// Where the init mounts the container's root, in its own mount namespace: the store's
    /// `mnt`, one empty directory every private mount namespace mounts on (a container has
    /// no directory of its own for it). Launches written before it was shared name theirs.
    #[serde(alias = "merged")]
    pub mount_point: PathBuf,
    pub namespaces: Vec<Namespace>,
    pub hostname: String,
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
    pub user: Option<String>,
    pub binds: Vec<Bind>,
    pub limits: Limits,
    pub network: NetworkMode,
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
    #[serde(default)]
    pub tmpfs: Vec<Tmpfs>,
    #[serde(default)]
    pub restart: Option<Restart>,
    /// The health check (Docker's Healthcheck: Test, Interval, ...), the supervisor's to run.
    #[serde(default)]
    pub health: Option<serde_json::Value>,
    /// More names for it in its network's hosts files (docker --network-alias).
    #[serde(default)]
    pub network_aliases: Vec<String>,
    /// More names in /etc/hosts (docker --add-host): (name, address).
    #[serde(default)]
    pub extra_hosts: Vec<(String, String)>,
    /// Name servers for /etc/resolv.conf instead of the host's (docker --dns).
    #[serde(default)]
    pub dns: Vec<String>,
    /// The size of /dev/shm in bytes (docker --shm-size; 64 MiB without).
    #[serde(default)]
    pub shm_size: Option<u64>,
    /// Resource limits the init sets before it runs the command (docker --ulimit).
    #[serde(default)]
    pub ulimits: Vec<Ulimit>,
    /// Filled in by the supervisor for a bridged container, just before the clone.
    #[serde(skip)]
    pub interface: Option<Interface>,
}

/// A resource limit, as docker --ulimit NAME=SOFT[:HARD] (-1 for unlimited).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// The limits --ulimit knows, by Docker's names.
pub const ULIMITS: &[(&str, libc::__rlimit_resource_t)] = &[
    ("as", libc::RLIMIT_AS),
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

impl Ulimit {
    /// `NAME=SOFT[:HARD]`; -1 (or "unlimited") is no limit; HARD defaults to SOFT.
    pub fn parse(text: &str) -> Result<Ulimit> {
        let bad = |why: String| {
            Error::invalid(format!(
                "invalid ulimit {text:?}: {why} (use e.g. \"nofile=1024:2048\" or \"core=-1\")"
            ))
        };
        let (name, values) = text.split_once('=').ok_or_else(|| bad("no =".into()))?;
        if !ULIMITS.iter().any(|(n, _)| *n == name) {
            let names: Vec<&str> = ULIMITS.iter().map(|(n, _)| *n).collect();
            return Err(bad(format!(
                "unknown limit {name}; the limits are {}",
                names.join(", ")
            )));
        }
        let num = |v: &str| -> Result<u64> {
            match v.trim() {
                "-1" | "unlimited" => Ok(libc::RLIM_INFINITY),
                n => n.parse().map_err(|_| bad(format!("{n:?} is not a number"))),
            }
        };
        let (soft, hard) = match values.split_once(':') {
            Some((s, h)) => (num(s)?, num(h)?),
            None => (num(values)?, num(values)?),
        };
        if soft > hard {
            return Err(bad("the soft limit is above the hard one".into()));
        }
        Ok(Ulimit {
            name: name.to_string(),
            soft,
            hard,
        })
    }

    /// Sets it on this process (the init, before it runs the command: inherited across
    /// execve and the change of user).
    pub fn apply(&self) -> Result<()> {
        let resource = ULIMITS
            .iter()
            .find(|(n, _)| *n == self.name)
            .map(|(_, r)| *r)
            .ok_or_else(|| Error::invalid(format!("unknown ulimit {}", self.name)))?;
        let lim = libc::rlimit {
            rlim_cur: self.soft,
            rlim_max: self.hard,
        };
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(resource, &lim) } != 0 {
            return Err(Error::sys(
                "cannot set the limit",
                std::path::Path::new(&format!("ulimit {}", self.name)),
                nix::errno::Errno::last(),
            ));
        }
        Ok(())
    }
}

/// `name:ip` of --add-host, checked.
pub fn parse_extra_host(text: &str) -> Result<(String, String)> {
    let (name, ip) = text
        .split_once(':')
        .or_else(|| text.split_once('='))
        .ok_or_else(|| {
            Error::invalid(format!(
                "invalid host {text:?}: use NAME:IP, e.g. \"db:10.0.0.5\""
            ))
        })?;
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(Error::invalid(format!("invalid host name in {text:?}")));
    }
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if ip.parse::<std::net::IpAddr>().is_err() && ip != "host-gateway" {
        return Err(Error::invalid(format!(
            "invalid address in host {text:?}: {ip:?} is not an IP address"
        )));
    }
    Ok((name.to_string(), ip.to_string()))
}

/// The /etc/hosts lines of --add-host.
pub fn extra_hosts_text(hosts: &[(String, String)]) -> String {
    hosts.iter().map(|(n, ip)| format!("{ip}\t{n}\n")).collect()
}

/// A resolv.conf with `dns` as its name servers (the other lines kept); as given without.
pub fn with_dns(resolv: &[u8], dns: &[String]) -> Vec<u8> {
    if dns.is_empty() {
        return resolv.to_vec();
    }
    let text = String::from_utf8_lossy(resolv);
    let mut out: String = dns.iter().map(|d| format!("nameserver {d}\n")).collect();
    for line in text.lines() {
        if !line.trim_start().starts_with("nameserver") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.into_bytes()
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

impl Launch {
    pub fn has(&self, ns: Namespace) -> bool {
        self.namespaces.contains(&ns)
    }

    /// Which devices the container's cgroup lets it create and open, derived here each
    /// time (never stored): a launch file without them must not mean "no filter".
    pub fn device_rules(&self) -> Vec<super::devices::DeviceRule> {
        super::security::device_rules(self.security.privileged, &self.devices)
    }
}
