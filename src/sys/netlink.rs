//! The few rtnetlink requests networking needs, over a plain blocking socket: bridges, veth
//! pairs, addresses, a default route. Messages come from `netlink-packet-route`; the request
//! loop (send, then read until the kernel's acknowledgement or the end of a dump) is ours,
//! because the supervisor is a single-threaded process with no async runtime.

use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::error::{Error, Kind, Result};

/// A link as a dump or a lookup reports it.
#[derive(Debug, Clone)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub alias: Option<String>,
    pub up: bool,
}

/// An IPv4 address on some link of this namespace.
#[derive(Debug, Clone)]
pub struct Address {
    pub link: u32,
    pub ip: Ipv4Addr,
    pub prefix: u8,
}

/// A network namespace to put a link in: a process's, or one held by a descriptor (which
/// its process may not have entered yet).
#[derive(Debug, Clone, Copy)]
pub enum NetNs {
    Pid(i32),
    Fd(std::os::fd::RawFd),
}

impl NetNs {
    /// Runs `f` with a socket in this namespace, on a thread of its own (the caller's stays
    /// where it is; a thread may enter another network namespace, a process need not).
    pub fn enter<T: Send>(self, f: impl FnOnce(&mut Netlink) -> Result<T> + Send) -> Result<T> {
        use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
        std::thread::scope(|s| {
            s.spawn(move || {
                let opened: OwnedFd;
                let fd = match self {
                    NetNs::Pid(pid) => {
                        let path = format!("/proc/{pid}/ns/net");
                        opened = std::fs::File::open(&path)
                            .map_err(|e| Error::io("cannot open", std::path::Path::new(&path), e))?
                            .into();
                        opened.as_fd()
                    }
                    // SAFETY: the caller holds the descriptor open across this call.
                    NetNs::Fd(fd) => unsafe { BorrowedFd::borrow_raw(fd) },
                };
                nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                    Error::with_source(
                        Kind::Runtime,
                        format!("cannot enter network namespace {self}"),
                        std::io::Error::from(e),
                    )
                })?;
                f(&mut Netlink::open()?)
            })
            .join()
            .unwrap_or_else(|_| {
                Err(Error::new(
                    Kind::Runtime,
                    "a network namespace thread panicked",
                ))
            })
        })
    }
}

impl std::fmt::Display for NetNs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetNs::Pid(pid) => write!(f, "{pid}"),
            NetNs::Fd(fd) => write!(f, "/proc/self/fd/{fd}"),
        }
    }
}

/// An rtnetlink socket bound to the network namespace of the thread that opened it.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

fn nl_error(what: &str, e: std::io::Error) -> Error {
    let kind = match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => Kind::Permission,
        Some(libc::EEXIST) | Some(libc::EBUSY) | Some(libc::EADDRINUSE) => Kind::Conflict,
        _ => Kind::Runtime,
    };
    Error::with_source(kind, what.to_string(), e)
}

impl Netlink {
    pub fn open() -> Result<Netlink> {
        let mut socket =
            Socket::new(NETLINK_ROUTE).map_err(|e| nl_error("cannot open a netlink socket", e))?;
        socket
            .bind_auto()
            .map_err(|e| nl_error("cannot bind a netlink socket", e))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(|e| nl_error("cannot connect a netlink socket", e))?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// Sends one request and collects the replies: for a dump, every message until the end;
    /// otherwise the kernel's acknowledgement (an error becomes `Err`).
    fn request(
        &mut self,
        what: &str,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut packet =
            NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(message));
        // Every request asks for the kernel's acknowledgement, which ends the reply: a
        // lookup answers with its message first, then the acknowledgement.
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        packet.header.flags = NLM_F_REQUEST | flags | if dump { 0 } else { NLM_F_ACK };
        packet.header.sequence_number = self.seq;
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket
            .send(&buf, 0)
            .map_err(|e| nl_error(&format!("cannot send the netlink request to {what}"), e))?;
        let mut replies = Vec::new();
        let mut rx = vec![0u8; 64 << 10];
        loop {
            let size = self
                .socket
                .recv(&mut &mut rx[..], 0)
                .map_err(|e| nl_error(&format!("cannot read the netlink reply to {what}"), e))?;
            let mut offset = 0;
            while offset < size {
                let reply: NetlinkMessage<RouteNetlinkMessage> =
                    NetlinkMessage::deserialize(&rx[offset..size]).map_err(|e| {
                        Error::new(
                            Kind::Runtime,
                            format!("cannot parse the netlink reply to {what}: {e}"),
                        )
                    })?;
                let len = reply.header.length as usize;
                if reply.header.sequence_number == self.seq {
                    match reply.payload {
                        NetlinkPayload::Done(_) => return Ok(replies),
                        NetlinkPayload::Error(e) if e.code.is_none() && !dump => {
                            return Ok(replies)
                        }
                        NetlinkPayload::Error(e) if e.code.is_none() => {}
                        NetlinkPayload::Error(e) => {
                            return Err(nl_error(&format!("cannot {what}"), e.to_io()))
                        }
                        NetlinkPayload::InnerMessage(m) => replies.push(m),
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
    }

    fn links_from(replies: Vec<RouteNetlinkMessage>) -> Vec<Link> {
        replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })
            .map(|l| {
                let mut link = Link {
                    index: l.header.index,
                    name: String::new(),
                    alias: None,
                    up: l.header.flags.contains(LinkFlags::Up),
                };
                for a in l.attributes {
                    match a {
                        LinkAttribute::IfName(n) => link.name = n,
                        LinkAttribute::IfAlias(a) => link.alias = Some(a),
                        _ => {}
                    }
                }
                link
            })
            .collect()
    }

    /// The link called `name`, if there is one.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(
            &format!("look up link {name}"),
            RouteNetlinkMessage::GetLink(msg),
            0,
        ) {
            Ok(replies) => Ok(Self::links_from(replies).into_iter().next()),
            Err(e) if e.source_errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every link of the namespace.
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let replies = self.request(
            "list links",
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(Self::links_from(replies))
    }

    /// Every IPv4 address of the namespace.
    pub fn addresses(&mut self) -> Result<Vec<Address>> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        let replies = self.request(
            "list addresses",
            RouteNetlinkMessage::GetAddress(msg),
            NLM_F_DUMP,
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => Some(a),
                _ => None,
            })
            .filter_map(|a| {
                let ip = a.attributes.iter().find_map(|attr| match attr {
                    AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
                    _ => None,
                })?;
                Some(Address {
                    link: a.header.index,
                    ip,
                    prefix: a.header.prefix_len,
                })
            })
            .collect())
    }

    fn new_link(&mut self, what: &str, msg: LinkMessage) -> Result<()> {
        self.request(
            what,
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }

    /// Creates a bridge, labelled with `alias` so its owner can be told later.
    pub fn create_bridge(&mut self, name: &str, alias: &str) -> Result<u32> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.new_link(&format!("create bridge {name}"), msg)?;
        let index = self
            .link(name)?
            .ok_or_else(|| Error::new(Kind::Runtime, format!("bridge {name} vanished")))?
            .index;
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes
            .push(LinkAttribute::IfAlias(alias.to_string()));
        self.request(
            &format!("label bridge {name}"),
            RouteNetlinkMessage::SetLink(msg),
            0,
        )?;
        Ok(index)
    }

    /// Creates a veth pair: `host` here, `peer` in network namespace `ns`.
    pub fn create_veth(&mut self, host: &str, peer: &str, ns: NetNs) -> Result<u32> {
        let mut peer_msg = LinkMessage::default();
        peer_msg
            .attributes
            .push(LinkAttribute::IfName(peer.to_string()));
        peer_msg.attributes.push(match ns {
            NetNs::Pid(pid) => LinkAttribute::NetNsPid(pid as u32),
            NetNs::Fd(fd) => LinkAttribute::NetNsFd(fd),
        });
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(host.to_string()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.new_link(&format!("create veth pair {host}/{peer}"), msg)?;
        Ok(self
            .link(host)?
            .ok_or_else(|| Error::new(Kind::Runtime, format!("veth {host} vanished")))?
            .index)
    }

    /// Sets a link up, optionally enslaving it to a bridge first.
    pub fn set_up(&mut self, index: u32, controller: Option<u32>) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        if let Some(c) = controller {
            msg.attributes.push(LinkAttribute::Controller(c));
        }
        self.request(
            &format!("bring link {index} up"),
            RouteNetlinkMessage::SetLink(msg),
            0,
        )
        .map(drop)
    }

    /// Gives a link that is down its name, enslaves it to a bridge and sets it up, in one
    /// request: the kernel renames before it changes the flags (a link that is up cannot be
    /// renamed).
    pub fn rename_and_set_up(&mut self, index: u32, name: &str, controller: u32) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::Controller(controller));
        self.request(
            &format!("rename link {index} to {name} and bring it up"),
            RouteNetlinkMessage::SetLink(msg),
            0,
        )
        .map(drop)
    }

    pub fn delete_link(&mut self, index: u32) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.request(
            &format!("delete link {index}"),
            RouteNetlinkMessage::DelLink(msg),
            0,
        )
        .map(drop)
    }

    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(IpAddr::V4(ip)));
        msg.attributes
            .push(AddressAttribute::Address(IpAddr::V4(ip)));
        let host_bits = 32 - u32::from(prefix);
        let broadcast = if host_bits >= 2 {
            Ipv4Addr::from(u32::from(ip) | ((1u32 << host_bits) - 1))
        } else {
            ip
        };
        msg.attributes.push(AddressAttribute::Broadcast(broadcast));
        self.request(
            &format!("add address {ip}/{prefix}"),
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }

    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<()> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.request(
            &format!("add a default route via {gateway}"),
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }
}
