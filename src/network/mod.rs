//! Bridge networks: a Linux bridge per network, a veth pair per container, addresses from an
//! IPAM in the state database, NAT and published ports in nftables, names in /etc/hosts.
//!
//! ```text
//!   host                                           container (its own network namespace)
//!   gocker0 172.29.0.1/16 ── vethXXXXXXXXXXX ══════ eth0 172.29.0.2/16, default via .1
//!     nft table ip gocker-gocker0: masquerade out, dnat published ports in
//! ```
//!
//! A network is a row until its first container needs it; then its bridge and nftables
//! table are made (once, under a host-wide lock) and stay until `network_remove`. A container's
//! address, veth and forwarded ports live exactly as long as the container runs: the
//! supervisor makes them before the container's first instruction and removes them when it
//! ends; when the supervisor itself is killed, the next look at the store does.

pub mod nft;

use std::fmt;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::error::{Error, Kind, Result};
use crate::runtime::launch::{Interface, Launch, NetworkMode, Protocol, Publish};
use crate::store::{lock, Db, Paths};
use crate::sys::netlink::{NetNs, Netlink};

/// The network `run` uses unless told otherwise, made on first use.
pub const DEFAULT_NETWORK: &str = "bridge";
const DEFAULT_BRIDGE: &str = "gocker0";
const DEFAULT_SUBNET: Subnet = Subnet {
    addr: Ipv4Addr::new(172, 29, 0, 0),
    prefix: 16,
};
/// Where subnets for networks created without one come from: 10.89.N.0/24.
const POOL: (u8, u8) = (10, 89);
/// Host-wide state: the lock around bridges and tables, the saved ip_forward.
const RUN_DIR: &str = "/run/gocker-script";

/// An IPv4 subnet, `a.b.c.d/n` with the host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(text: &str) -> Result<Subnet> {
        let bad = |why: &str| {
            Error::invalid(format!(
                "invalid subnet {text:?}: {why} (use an IPv4 CIDR such as \"10.89.1.0/24\")"
            ))
        };
        let (addr, prefix) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| bad("no prefix length"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| {
            if addr.contains(':') {
                bad("IPv6 networks are not supported yet")
            } else {
                bad("not an IPv4 address")
            }
        })?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| bad("the prefix length must be 0 to 32"))?;
        if !(8..=30).contains(&prefix) {
            return Err(bad("the prefix length must be 8 to 30"));
        }
        let s = Subnet::of(addr, prefix);
        if s.addr != addr {
            return Err(bad(&format!("host bits are set; did you mean {s}?")));
        }
        Ok(s)
    }

    /// The subnet an address with this prefix length belongs to.
    fn of(ip: Ipv4Addr, prefix: u8) -> Subnet {
        let mut s = Subnet { addr: ip, prefix };
        s.addr = Ipv4Addr::from(u32::from(ip) & s.mask());
        s
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// The bridge's own address: the first in the subnet.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + 1)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let mask = self.mask() & other.mask();
        u32::from(self.addr) & mask == u32::from(other.addr) & mask
    }

    /// The addresses containers can get: all but the network, the gateway and broadcast.
    fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.addr) + 2;
        let last = u32::from(self.addr) | !self.mask();
        (first..last).map(Ipv4Addr::from)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A network as the state database records it.
#[derive(Debug, Clone, Serialize)]
pub struct Network {
    pub name: String,
    pub bridge: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    pub created: i64,
}

/// A running container's place on a network.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub network: String,
    pub container: String,
    pub name: String,
    pub hostname: String,
    pub ip: Ipv4Addr,
    /// More names its peers reach it by (docker --network-alias).
    pub aliases: Vec<String>,
}

/// What the supervisor holds for a bridged container while it runs: the published ports stay
/// bound here, so nobody else on the host can take them.
pub struct Attachment {
    pub network: Network,
    pub ip: Ipv4Addr,
    pub veth: String,
    _reserved: Vec<Reservation>,
}

/// A veth pair made by a supervisor started ahead while it waits for its container (issue
/// 16: creating the pair is the most of a bridged start's own work, about 0.6 ms here, 1.5 on
/// a slower machine). Its far end, `eth0`, is in the network namespace made ahead and goes
/// with it, whatever becomes of the supervisor; its host end is down, named after the
/// supervisor, until `connect` gives it the container's name and a bridge.
#[derive(Debug, Clone, Copy)]
pub struct VethAhead {
    index: u32,
}

impl VethAhead {
    /// Makes the pair, its far end in the namespace held by `ns` (not yet anyone's).
    pub fn make(ns: std::os::fd::RawFd) -> Result<VethAhead> {
        let name = format!("gkahead{:x}", std::process::id());
        crate::trace::step(|| {
            format!("ip link add {name} type veth peer name eth0 netns (made ahead)")
        });
        let index = Netlink::open()?.create_veth(&name, "eth0", NetNs::Fd(ns))?;
        Ok(VethAhead { index })
    }
}

enum Reservation {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

impl Reservation {
    /// The host port held.
    fn port(&self) -> u16 {
        match self {
            Reservation::Tcp(l) => l.local_addr().map(|a| a.port()).unwrap_or(0),
            Reservation::Udp(u) => u.local_addr().map(|a| a.port()).unwrap_or(0),
        }
    }
}

/// A network's name, or a name on one (an alias): letters, digits, `_`, `.`, `-`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

fn valid_bridge(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
}

/// The host side of a container's veth pair (interface names have at most 15 bytes).
pub fn veth_name(container_id: &str) -> String {
    format!("veth{}", &container_id[..11.min(container_id.len())])
}

fn network_from_row(r: &rusqlite::Row) -> rusqlite::Result<Network> {
    let subnet: String = r.get(2)?;
    let subnet = Subnet::parse(&subnet).unwrap_or(DEFAULT_SUBNET);
    Ok(Network {
        name: r.get(0)?,
        bridge: r.get(1)?,
        gateway: subnet.gateway(),
        subnet,
        created: r.get(3)?,
    })
}

/// Whether a bridge's owner tag ("gocker-script ROOT NETWORK") names a root that is gone
/// (no state database there any more), or a network that root no longer has.
fn owner_is_gone(tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix("gocker-script ") else {
        return false;
    };
    let Some((root, network)) = rest.rsplit_once(' ') else {
        return false;
    };
    // Only an absolute root can be judged from here (a relative one is someone else's view).
    if !Path::new(root).is_absolute() {
        return false;
    }
    let db = Paths::new(root).db();
    if !db.exists() {
        return true;
    }
    // The root exists: the bridge is stale only if its network is gone from it.
    match rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) {
        Ok(conn) => conn
            .query_row(
                "SELECT COUNT(*) FROM networks WHERE name = ?1",
                [network],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n == 0)
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Networks, addresses and attachments of one root.
pub struct Networks {
    paths: Paths,
    db: Arc<Db>,
}

impl Networks {
    pub fn new(paths: Paths, db: Arc<Db>) -> Networks {
        Networks { paths, db }
    }

    /// Who owns a bridge: written on the bridge as its alias, checked before reuse.
    fn owner_tag(&self, network: &str) -> String {
        format!("gocker-script {} {network}", self.paths.root.display())
    }

    /// Records a bridge network. Its bridge appears when its first container starts.
    pub fn create(
        &self,
        name: &str,
        subnet: Option<&str>,
        bridge: Option<&str>,
    ) -> Result<Network> {
        if !valid_name(name) || ["none", "host"].contains(&name) {
            return Err(Error::invalid(format!(
                "invalid network name {name:?}: use letters, digits, '_', '.' and '-' (not \"none\" or \"host\")"
            )));
        }
        let bridge = match bridge {
            Some(b) if !valid_bridge(b) => {
                return Err(Error::invalid(format!(
                    "invalid bridge name {b:?}: at most 15 letters, digits, '_' or '-'"
                )))
            }
            Some(b) => b.to_string(),
            None if name == DEFAULT_NETWORK => DEFAULT_BRIDGE.to_string(),
            None => {
                let mut h = sha2::Sha256::default();
                sha2::Digest::update(&mut h, self.owner_tag(name).as_bytes());
                format!("gk-{}", &hex::encode(sha2::Digest::finalize(h))[..10])
            }
        };
        let subnet = subnet.map(Subnet::parse).transpose()?;
        let host = {
            let _lock = host_lock()?;
            let mut nl = Netlink::open()?;
            sweep_stale_bridges(&mut nl)?;
            host_subnets_with(&mut nl)?
        };
        let mut conn = self.db.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Vec<Network> = {
            let mut stmt = tx.prepare("SELECT name, bridge, subnet, created FROM networks")?;
            let rows = stmt
                .query_map([], network_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows
        };
        if existing.iter().any(|n| n.name == name) {
            return Err(Error::conflict(format!("network {name:?} already exists")));
        }
        if let Some(other) = existing.iter().find(|n| n.bridge == bridge) {
            return Err(Error::conflict(format!(
                "bridge {bridge} is already used by network {:?}",
                other.name
            )));
        }
        let clash = |s: &Subnet| -> Option<String> {
            existing
                .iter()
                .find(|n| n.subnet.overlaps(s))
                .map(|n| format!("network {:?} ({})", n.name, n.subnet))
                .or_else(|| {
                    host.iter()
                        .find(|(_, h)| h.overlaps(s))
                        .map(|(dev, h)| format!("{h} on the host's {dev}"))
                })
        };
        let subnet = match subnet {
            Some(s) => {
                if let Some(what) = clash(&s) {
                    return Err(Error::conflict(format!(
                        "subnet {s} of network {name:?} overlaps {what}"
                    )));
                }
                s
            }
            None if name == DEFAULT_NETWORK => DEFAULT_SUBNET,
            None => (0..=255u8)
                .map(|n| Subnet {
                    addr: Ipv4Addr::new(POOL.0, POOL.1, n, 0),
                    prefix: 24,
                })
                .find(|s| clash(s).is_none())
                .ok_or_else(|| {
                    Error::conflict("no free subnet left in 10.89.0.0/16: give one with subnet")
                })?,
        };
        let created = crate::sys::now();
        tx.execute(
            "INSERT INTO networks (name, bridge, subnet, created) VALUES (?1, ?2, ?3, ?4)",
            params![name, bridge, subnet.to_string(), created],
        )?;
        tx.commit()?;
        Ok(Network {
            name: name.to_string(),
            bridge,
            gateway: subnet.gateway(),
            subnet,
            created,
        })
    }

    fn find(&self, name: &str) -> Result<Option<Network>> {
        Ok(self
            .db
            .lock()
            .query_row(
                "SELECT name, bridge, subnet, created FROM networks WHERE name = ?1",
                [name],
                network_from_row,
            )
            .optional()?)
    }

    /// A network by name; the default one is made on first use.
    pub fn get(&self, name: &str) -> Result<Network> {
        if let Some(n) = self.find(name)? {
            return Ok(n);
        }
        if name == DEFAULT_NETWORK {
            return match self.create(name, None, None) {
                Err(e) if e.kind() == Kind::Conflict => self.find(name)?.ok_or(e),
                other => other,
            };
        }
        Err(Error::not_found(format!(
            "network {name:?} does not exist (make it with network_create({name:?}, #{{subnet: \"10.89.1.0/24\"}}))"
        )))
    }

    /// Every network, the default one first. Listing records nothing: the default network
    /// is shown as it would be made on first use, and `network_create("bridge", ...)` can
    /// still give it a subnet of the user's own.
    pub fn list(&self) -> Result<Vec<Network>> {
        let conn = self.db.lock();
        let mut stmt = conn.prepare(
            "SELECT name, bridge, subnet, created FROM networks ORDER BY name != 'bridge', name",
        )?;
        let mut rows = stmt
            .query_map([], network_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if !rows.iter().any(|n| n.name == DEFAULT_NETWORK) {
            rows.insert(
                0,
                Network {
                    name: DEFAULT_NETWORK.to_string(),
                    bridge: DEFAULT_BRIDGE.to_string(),
                    subnet: DEFAULT_SUBNET,
                    gateway: DEFAULT_SUBNET.gateway(),
                    created: 0,
                },
            );
        }
        Ok(rows)
    }

    /// The running containers of a network (or of every network).
    pub fn members(&self, network: Option<&str>) -> Result<Vec<Member>> {
        let conn = self.db.lock();
        let mut stmt = conn.prepare(
            "SELECT network, container, name, hostname, ip, aliases FROM addresses WHERE ?1 IS NULL OR network = ?1 ORDER BY network, ip",
        )?;
        let rows = stmt
            .query_map([network], |r| {
                let ip: String = r.get(4)?;
                Ok(Member {
                    network: r.get(0)?,
                    container: r.get(1)?,
                    name: r.get(2)?,
                    hostname: r.get(3)?,
                    ip: ip.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
                    aliases: r
                        .get::<_, String>(5)?
                        .split_whitespace()
                        .map(str::to_string)
                        .collect(),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Removes a network with no running containers: its bridge and rules go too.
    pub fn remove(&self, name: &str) -> Result<()> {
        let net = self
            .find(name)?
            .ok_or_else(|| Error::not_found(format!("network {name:?} does not exist")))?;
        let members = self.members(Some(name))?;
        if !members.is_empty() {
            let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
            return Err(Error::conflict(format!(
                "network {name:?} has running containers: {}",
                names.join(", ")
            )));
        }
        let _lock = host_lock()?;
        let mut nl = Netlink::open()?;
        // A bridge of that name that another root owns, and its table, are left alone.
        let ours = match nl.link(&net.bridge)? {
            Some(link) if link.alias.as_deref() == Some(self.owner_tag(name).as_str()) => {
                crate::trace::step(|| format!("ip link del {}", net.bridge));
                nl.delete_link(link.index)?;
                true
            }
            Some(_) => false,
            None => true,
        };
        if ours {
            nft::uninstall(&net.bridge)?;
            restore_ip_forward();
        }
        self.db
            .lock()
            .execute("DELETE FROM networks WHERE name = ?1", [name])?;
        Ok(())
    }

    /// Makes the network's bridge and rules if they are not there (under the host lock).
    fn ensure_bridge(&self, net: &Network, nl: &mut Netlink) -> Result<u32> {
        let tag = self.owner_tag(&net.name);
        // Ours and up (every start but a network's first): nothing to sweep or make.
        if let Some(link) = nl.link(&net.bridge)? {
            if link.alias.as_deref() == Some(tag.as_str()) && link.up {
                return Ok(link.index);
            }
        }
        sweep_stale_bridges(nl)?;
        if let Some(link) = nl.link(&net.bridge)? {
            if link.alias.as_deref() == Some(tag.as_str()) {
                if link.up {
                    return Ok(link.index);
                }
                // Ours, but its making was cut short (it goes up last): make it again.
                nl.delete_link(link.index)?;
                return self.ensure_bridge(net, nl);
            }
            return Err(Error::conflict(format!(
                "a link named {} already exists on this host and is not the bridge of network {:?} here ({}): give the network another bridge name",
                net.bridge,
                net.name,
                link.alias.unwrap_or_else(|| "no owner".into())
            )));
        }
        if let Some((dev, s)) = host_subnets_with(nl)?
            .into_iter()
            .find(|(_, s)| s.overlaps(&net.subnet))
        {
            return Err(Error::conflict(format!(
                "subnet {} of network {:?} overlaps {s} on the host's {dev}",
                net.subnet, net.name
            )));
        }
        crate::trace::step(|| {
            format!(
                "ip link add {} type bridge; ip addr add {}/{} dev {0}; ip link set {0} up",
                net.bridge, net.gateway, net.subnet.prefix
            )
        });
        let index = nl.create_bridge(&net.bridge, &tag)?;
        let made = (|| -> Result<()> {
            nl.add_address(index, net.gateway, net.subnet.prefix)?;
            sysctl(
                &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", net.bridge),
                "1",
            )?;
            enable_ip_forward()?;
            nft::install(&net.bridge, net.subnet)?;
            nl.set_up(index, None)
        })();
        if let Err(e) = made {
            let _ = nl.delete_link(index);
            let _ = nft::uninstall(&net.bridge);
            return Err(e);
        }
        Ok(index)
    }

    /// Before the clone: the container's address (unique on its network: the IPAM is one
    /// SQLite transaction), its (empty) hosts file, its published ports bound, and the
    /// bridge.
    pub fn prepare(&self, launch: &mut Launch, name: &str) -> Result<Option<Attachment>> {
        let Some(network) = launch.network.bridge() else {
            return Ok(None);
        };
        let net = self.get(network)?;
        let dir = self.paths.containers().join(&launch.id);
        let mut reserved = Vec::new();
        for p in launch.publish.iter_mut() {
            let addr = (p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED), p.host_port);
            let r = if p.proto == Protocol::Udp {
                UdpSocket::bind(addr).map(Reservation::Udp)
            } else {
                TcpListener::bind(addr).map(Reservation::Tcp)
            };
            let r = r.map_err(|e| {
                let kind = if e.kind() == std::io::ErrorKind::AddrInUse {
                    Kind::Conflict
                } else {
                    Kind::Runtime
                };
                Error::with_source(
                    kind,
                    format!("cannot publish port {p}: the host port is not free"),
                    e,
                )
            })?;
            // Port 0: the kernel chose a free one, held from now on; it is the one published.
            if p.host_port == 0 {
                p.host_port = r.port();
            }
            reserved.push(r);
        }
        let ip = self.allocate(&net, launch, name)?;
        let attached = (|| -> Result<Attachment> {
            {
                let _lock = host_lock()?;
                let mut nl = Netlink::open()?;
                self.ensure_bridge(&net, &mut nl)?;
            }
            // Made here, once: rewrites never create it, so a container being removed
            // meanwhile gets no new file in the directory its remover is emptying.
            let hosts_file = dir.join("hosts");
            std::fs::File::create(&hosts_file)
                .map_err(|e| Error::io("cannot create", &hosts_file, e))?;
            launch.interface = Some(Interface {
                ip,
                prefix: net.subnet.prefix,
                gateway: net.gateway,
                hosts_file,
                resolv_conf: crate::runtime::launch::with_dns(&resolv_conf(), &launch.dns),
            });
            // --add-host lines: kept beside the hosts file, which every rewrite appends them to.
            if !launch.extra_hosts.is_empty() {
                let extra = dir.join("extra-hosts");
                std::fs::write(
                    &extra,
                    crate::runtime::launch::extra_hosts_text(&launch.extra_hosts),
                )
                .map_err(|e| Error::io("cannot write", &extra, e))?;
            }
            Ok(Attachment {
                ip,
                veth: veth_name(&launch.id),
                network: net.clone(),
                _reserved: std::mem::take(&mut reserved),
            })
        })();
        if attached.is_err() {
            self.release(&launch.id);
        }
        attached.map(Some)
    }

    /// The next free address of the network after the last one given out, recorded for the
    /// container. Going round rather than taking the lowest keeps a just-freed address (still
    /// in its peers' ARP caches with the old interface's MAC) out of use for a while.
    fn allocate(&self, net: &Network, launch: &Launch, name: &str) -> Result<Ipv4Addr> {
        let mut conn = self.db.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last: Option<Ipv4Addr> = tx
            .query_row(
                "SELECT last_ip FROM networks WHERE name = ?1",
                [&net.name],
                |r| r.get::<_, Option<String>>(0),
            )?
            .and_then(|s| s.parse().ok());
        let used: std::collections::HashSet<Ipv4Addr> = {
            let mut stmt = tx.prepare("SELECT ip FROM addresses WHERE network = ?1")?;
            let rows = stmt
                .query_map([&net.name], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.iter().filter_map(|s| s.parse().ok()).collect()
        };
        let after = |ip: &Ipv4Addr| last.is_some_and(|l| *ip > l);
        let ip = net
            .subnet
            .hosts()
            .filter(after)
            .chain(net.subnet.hosts().filter(|ip| !after(ip)))
            .find(|ip| !used.contains(ip))
            .ok_or_else(|| {
                Error::conflict(format!(
                    "network {:?} ({}) has no free address left",
                    net.name, net.subnet
                ))
            })?;
        tx.execute(
            "INSERT INTO addresses (network, ip, container, name, hostname, aliases) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                net.name,
                ip.to_string(),
                launch.id,
                name,
                launch.hostname,
                launch.network_aliases.join(" ")
            ],
        )?;
        tx.execute(
            "UPDATE networks SET last_ip = ?2 WHERE name = ?1",
            params![net.name, ip.to_string()],
        )?;
        tx.commit()?;
        crate::trace::step(|| format!("ipam: {ip} on network {} for {name}", net.name));
        Ok(ip)
    }

    /// After the clone, while the init builds its root, before the container runs: the
    /// hosts files of the network, its veth pair (made now, or the one made `ahead`; the far
    /// end is `eth0` in its namespace, given its address and default route from inside it)
    /// and its published ports.
    pub fn connect(
        &self,
        att: &Attachment,
        launch: &Launch,
        ns: NetNs,
        ahead: Option<VethAhead>,
    ) -> Result<()> {
        // Its peers learn its name, it theirs (its file is bound already; the content is
        // the init's to read only after the go-ahead, which waits for this).
        self.write_hosts(&att.network.name)?;
        let mut nl = Netlink::open()?;
        let bridge = nl.link(&att.network.bridge)?.ok_or_else(|| {
            Error::new(
                Kind::Runtime,
                format!(
                    "bridge {} of network {:?} is gone",
                    att.network.bridge, att.network.name
                ),
            )
        })?;
        // The pair of this container's previous run, its namespace still being torn down by
        // the kernel, holds the name: it goes now, and the name is tried again.
        let remove_old = |nl: &mut Netlink| -> Result<()> {
            if let Some(old) = nl.link(&att.veth)? {
                nl.delete_link(old.index)?;
            }
            Ok(())
        };
        match ahead {
            Some(VethAhead { index }) => {
                crate::trace::step(|| {
                    format!(
                        "ip link set (the veth made ahead) name {} master {} up",
                        att.veth, att.network.bridge
                    )
                });
                match nl.rename_and_set_up(index, &att.veth, bridge.index) {
                    Err(e) if e.kind() == Kind::Conflict => {
                        remove_old(&mut nl)?;
                        nl.rename_and_set_up(index, &att.veth, bridge.index)?
                    }
                    other => other?,
                }
            }
            None => {
                crate::trace::step(|| {
                    format!(
                        "ip link add {} type veth peer name eth0 netns {ns}; ip link set {0} master {} up",
                        att.veth, att.network.bridge
                    )
                });
                let index = match nl.create_veth(&att.veth, "eth0", ns) {
                    Err(e) if e.kind() == Kind::Conflict => {
                        remove_old(&mut nl)?;
                        nl.create_veth(&att.veth, "eth0", ns)?
                    }
                    other => other?,
                };
                nl.set_up(index, Some(bridge.index))?;
            }
        }
        if !launch.publish.is_empty() {
            nft::add_ports(&att.network.bridge, &launch.publish, att.ip)?;
        }
        // Its end, from inside its namespace: here, while the init builds its root, not by
        // the init after the go-ahead (0.4 ms a bridged start waited; issue 16).
        let (ip, prefix, gateway) = (att.ip, att.network.subnet.prefix, att.network.gateway);
        crate::trace::step(|| {
            format!(
                "in netns {ns}: ip addr add {ip}/{prefix} dev eth0; ip link set eth0 up; ip route add default via {gateway}"
            )
        });
        ns.enter(|nl| {
            let link = nl
                .link("eth0")?
                .ok_or_else(|| Error::new(Kind::Runtime, "the container's eth0 did not arrive"))?;
            nl.add_address(link.index, ip, prefix)?;
            nl.set_up(link.index, None)?;
            nl.add_default_route(gateway)
        })
    }

    /// Frees the container's address and tells its network's other members.
    fn release(&self, container: &str) {
        let network: Option<String> = self
            .db
            .lock()
            .query_row(
                "DELETE FROM addresses WHERE container = ?1 RETURNING network",
                [container],
                |r| r.get(0),
            )
            .optional()
            .ok()
            .flatten();
        if let Some(n) = network {
            let _ = self.write_hosts(&n);
        }
    }

    /// Undoes everything `prepare` and `connect` made for a container; safe to repeat, and
    /// safe when only part was made. The veth pair goes with the container's network
    /// namespace when its last process is gone (the kernel tears it down in the background;
    /// deleting it here would cost the caller a ~15 ms RCU wait): `delete_link` removes it
    /// now, for when something may still hold the namespace.
    pub fn disconnect(
        &self,
        container: &str,
        network: &NetworkMode,
        publish: &[Publish],
        delete_link: bool,
    ) {
        let Some(network) = network.bridge() else {
            return;
        };
        if delete_link {
            if let Ok(mut nl) = Netlink::open() {
                if let Ok(Some(link)) = nl.link(&veth_name(container)) {
                    crate::trace::step(|| format!("ip link del {}", link.name));
                    let _ = nl.delete_link(link.index);
                }
            }
        }
        if !publish.is_empty() {
            if let Ok(Some(net)) = self.find(network) {
                nft::delete_ports(&net.bridge, publish);
            }
        }
        self.release(container);
    }

    /// Rewrites /etc/hosts of every running container of a network: itself, then the others
    /// by name. Each file is bound into its container, so it is rewritten in place.
    fn write_hosts(&self, network: &str) -> Result<()> {
        let members = self.members(Some(network))?;
        for m in &members {
            let mut text =
                String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
            text.push_str(&hosts_line(m, &m.hostname, &m.name));
            for o in members.iter().filter(|o| o.container != m.container) {
                text.push_str(&hosts_line(o, &o.name, &o.hostname));
            }
            let dir = self.paths.containers().join(&m.container);
            if let Ok(extra) = std::fs::read_to_string(dir.join("extra-hosts")) {
                text.push_str(&extra);
            }
            // One member's directory going away (it is being removed) must not stop the
            // others, nor a new container's start: its own file missing fails its bind.
            let path = dir.join("hosts");
            if let Err(e) = write_in_place(&path, text.as_bytes()) {
                crate::trace::step(|| format!("hosts of {}: {}", m.name, e.chain()));
            }
        }
        Ok(())
    }
}

/// A member's line in a hosts file: its address, `first`, then its other names once each
/// (`second`, its network aliases).
fn hosts_line(m: &Member, first: &str, second: &str) -> String {
    let mut names: Vec<&str> = vec![first];
    for n in std::iter::once(second).chain(m.aliases.iter().map(String::as_str)) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    format!("{}\t{}\n", m.ip, names.join(" "))
}

/// Writes an existing file without replacing it (a bind mount holds on to the inode).
fn write_in_place(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| Error::io("cannot write", path, e))?;
    f.write_all(data)
        .map_err(|e| Error::io("cannot write", path, e))
}

/// The host's resolv.conf for a container behind NAT: a nameserver on the host's loopback
/// cannot be reached from the container, so those lines go (Docker's fallback is Google's
/// public resolvers when nothing is left).
fn resolv_conf() -> Vec<u8> {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            match words
                .next()
                .and_then(|a| a.parse::<std::net::IpAddr>().ok())
            {
                Some(a) if a.is_loopback() => continue,
                Some(_) => servers += 1,
                None => continue,
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out.into_bytes()
}

/// The host's IPv4 subnets, by device, to keep networks off them.
/// Removes the bridges (and their nftables tables) of roots or networks that are gone:
/// left by a deleted root or an interrupted demo, nobody would ever use or remove them, and
/// they would hold their names and subnets against everyone else. Under the host lock.
fn sweep_stale_bridges(nl: &mut Netlink) -> Result<()> {
    for link in nl.links()? {
        let Some(alias) = link.alias.as_deref() else {
            continue;
        };
        if owner_is_gone(alias) {
            crate::trace::step(|| format!("ip link del {} (stale: {alias})", link.name));
            nl.delete_link(link.index)?;
            nft::uninstall(&link.name)?;
            restore_ip_forward();
        }
    }
    Ok(())
}

fn host_subnets_with(nl: &mut Netlink) -> Result<Vec<(String, Subnet)>> {
    let links = nl.links()?;
    Ok(nl
        .addresses()?
        .into_iter()
        .filter(|a| !a.ip.is_loopback())
        .map(|a| {
            let dev = links
                .iter()
                .find(|l| l.index == a.link)
                .map(|l| l.name.clone())
                .unwrap_or_else(|| format!("link {}", a.link));
            (dev, Subnet::of(a.ip, a.prefix))
        })
        .collect())
}

/// Serialises bridge and table changes across every root on the host.
fn host_lock() -> Result<lock::LockGuard> {
    let dir = PathBuf::from(RUN_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
    lock::exclusive(&dir, "network")
}

fn sysctl(path: &str, value: &str) -> Result<()> {
    crate::trace::step(|| format!("echo {value} > {path}"));
    std::fs::write(path, value).map_err(|e| Error::io("cannot write", Path::new(path), e))
}

/// Containers behind NAT need the host to forward; the value found is kept, and put back
/// when the last network goes.
fn enable_ip_forward() -> Result<()> {
    let path = "/proc/sys/net/ipv4/ip_forward";
    let current = std::fs::read_to_string(path).unwrap_or_default();
    if current.trim() == "1" {
        return Ok(());
    }
    let saved = Path::new(RUN_DIR).join("ip_forward");
    if !saved.exists() {
        std::fs::write(&saved, current.trim()).map_err(|e| Error::io("cannot write", &saved, e))?;
    }
    sysctl(path, "1")
}

fn restore_ip_forward() {
    let saved = Path::new(RUN_DIR).join("ip_forward");
    if let Ok(value) = std::fs::read_to_string(&saved) {
        if !nft::any_installed() {
            let _ = sysctl("/proc/sys/net/ipv4/ip_forward", value.trim());
            let _ = std::fs::remove_file(&saved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_refuse_clearly() {
        let s = Subnet::parse("10.89.1.0/24").unwrap();
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 89, 1, 1));
        assert_eq!(s.hosts().next(), Some(Ipv4Addr::new(10, 89, 1, 2)));
        assert_eq!(s.hosts().last(), Some(Ipv4Addr::new(10, 89, 1, 254)));
        assert!(s.contains(Ipv4Addr::new(10, 89, 1, 77)));
        assert!(s.overlaps(&Subnet::parse("10.89.0.0/16").unwrap()));
        assert!(!s.overlaps(&Subnet::parse("10.89.2.0/24").unwrap()));
        for (bad, says) in [
            ("10.89.1.0", "no prefix length"),
            ("10.89.1.5/24", "did you mean 10.89.1.0/24"),
            ("10.89.1.0/33", "0 to 32"),
            ("10.89.1.0/31", "8 to 30"),
            ("fd00::/64", "IPv6"),
            ("banana/24", "not an IPv4 address"),
        ] {
            let e = Subnet::parse(bad).unwrap_err();
            assert_eq!(e.kind(), Kind::InvalidArgument, "{bad}");
            assert!(e.message().contains(says), "{bad}: {}", e.message());
        }
    }

    #[test]
    fn published_ports_parse_docker_notation() {
        let p = Publish::parse("8080:80").unwrap();
        assert_eq!(
            (p.host_ip, p.host_port, p.container_port, p.proto.as_str()),
            (None, 8080, 80, "tcp")
        );
        // A free host port at start: 0, or only the container's port.
        assert_eq!(Publish::parse("0:80").unwrap().host_port, 0);
        let p = Publish::parse("80").unwrap();
        assert_eq!((p.host_port, p.container_port), (0, 80));
        let p = Publish::parse("127.0.0.1:5353:53/udp").unwrap();
        assert_eq!(p.host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(p.to_string(), "127.0.0.1:5353:53/udp");
        for bad in ["8080:70000", "8080:80/sctp", "x:8080:80", "1:2:3:4"] {
            assert_eq!(
                Publish::parse(bad).unwrap_err().kind(),
                Kind::InvalidArgument,
                "{bad}"
            );
        }
    }

    #[test]
    fn rewriting_hosts_never_creates_a_file() {
        // A member being removed while a neighbour leaves: its remover is emptying the
        // directory, and a file made meanwhile fails the removal (ENOTEMPTY).
        let t = tempfile::tempdir().unwrap();
        let gone = t.path().join("hosts");
        assert!(write_in_place(&gone, b"x").is_err());
        assert!(!gone.exists());
        std::fs::write(&gone, b"old old old").unwrap();
        write_in_place(&gone, b"new").unwrap();
        assert_eq!(std::fs::read(&gone).unwrap(), b"new");
    }
}
