//! NAT and published ports with nftables: one table per bridge (`ip gocker-BRIDGE`), so a
//! network's rules are made and removed whole and never touch anyone else's.
//!
//! ```text
//! table ip gocker-BRIDGE
//!   map ports       proto . host port             -> container ip . port   (any host address)
//!   map addr_ports  host ip . proto . host port   -> container ip . port   (one host address)
//!   prerouting, output (nat):  to a local address: dnat through the maps
//!   postrouting (nat):         masquerade the subnet going elsewhere, a container reaching a
//!                              published port of its own network, and 127.0.0.1 -> container
//! ```
//!
//! Reaching a published port through 127.0.0.1 needs `route_localnet` on the bridge (set when
//! the bridge is made): the kernel otherwise drops a loopback source routed off the host.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use super::Subnet;
use crate::error::{Error, Kind, Result};
use crate::runtime::launch::Publish;

pub fn table(bridge: &str) -> String {
    format!("gocker-{bridge}")
}

/// Runs `nft -f -` on a script.
fn run(script: &str) -> Result<()> {
    crate::trace::step(|| format!("nft -f - <<EOF\n{}EOF", script));
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            let kind = if e.kind() == std::io::ErrorKind::NotFound {
                Kind::Unsupported
            } else {
                Kind::Runtime
            };
            Error::with_source(
                kind,
                "cannot run nft (bridge networking needs nftables: apt-get install nftables)",
                e,
            )
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(script.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::with_source(Kind::Runtime, "nft did not finish", e))?;
    if !out.status.success() {
        return Err(Error::new(
            Kind::Runtime,
            format!(
                "nft refused the rules: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(())
}

/// Makes (or remakes, empty) the table of one bridge network.
pub fn install(bridge: &str, subnet: Subnet) -> Result<()> {
    let t = table(bridge);
    let dnat =
        "fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @addr_ports\n    \
                fib daddr type local dnat ip to meta l4proto . th dport map @ports";
    run(&format!(
        "add table ip {t}\ndelete table ip {t}\n\
table ip {t} {{\n  \
  map ports {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}\n  \
  map addr_ports {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}\n  \
  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n    {dnat}\n  }}\n  \
  chain output {{\n    type nat hook output priority -100; policy accept;\n    {dnat}\n  }}\n  \
  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n    \
    ip saddr {subnet} ip daddr != {subnet} masquerade\n    \
    ct status dnat ip saddr {subnet} ip daddr {subnet} masquerade\n    \
    ip saddr 127.0.0.0/8 oifname \"{bridge}\" masquerade\n  }}\n\
}}\n"
    ))
}

/// Removes the table of a bridge network, if it is there.
pub fn uninstall(bridge: &str) -> Result<()> {
    let t = table(bridge);
    run(&format!("add table ip {t}\ndelete table ip {t}\n"))
}

/// Whether any network's table is left (so host-wide settings can be put back).
pub fn any_installed() -> bool {
    Command::new("nft")
        .args(["list", "tables"])
        .stderr(Stdio::null())
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("table ip gocker-"))
        })
        .unwrap_or(false)
}

fn element(p: &Publish, ip: Ipv4Addr) -> (&'static str, String) {
    match p.host_ip {
        Some(h) => (
            "addr_ports",
            format!(
                "{h} . {} . {} : {ip} . {}",
                p.proto, p.host_port, p.container_port
            ),
        ),
        None => (
            "ports",
            format!(
                "{} . {} : {ip} . {}",
                p.proto, p.host_port, p.container_port
            ),
        ),
    }
}

fn key(p: &Publish) -> (&'static str, String) {
    match p.host_ip {
        Some(h) => ("addr_ports", format!("{h} . {} . {}", p.proto, p.host_port)),
        None => ("ports", format!("{} . {}", p.proto, p.host_port)),
    }
}

/// Forwards the published ports to a container's address.
pub fn add_ports(bridge: &str, ports: &[Publish], ip: Ipv4Addr) -> Result<()> {
    let t = table(bridge);
    let script: String = ports
        .iter()
        .map(|p| {
            let (map, e) = element(p, ip);
            format!("add element ip {t} {map} {{ {e} }}\n")
        })
        .collect();
    run(&script)
}

/// Stops forwarding the ports (each separately: one already gone does not keep the rest).
pub fn delete_ports(bridge: &str, ports: &[Publish]) {
    let t = table(bridge);
    let script: String = ports
        .iter()
        .map(|p| {
            let (map, k) = key(p);
            format!("delete element ip {t} {map} {{ {k} }}\n")
        })
        .collect();
    if run(&script).is_err() {
        for p in ports {
            let (map, k) = key(p);
            let _ = run(&format!("delete element ip {t} {map} {{ {k} }}\n"));
        }
    }
}
