//! Readiness probes from the host into a container's network, whatever its mode: a thread
//! joins the container's network namespace (a thread's own, setns(CLONE_NEWNET) changes
//! nothing else) and connects there, to 127.0.0.1 and to the container's address.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Kind, Result};

/// A TCP connection to `port` inside the network namespace of process `pid`, within
/// `timeout` per address tried.
pub fn connect(pid: i32, ip: Option<Ipv4Addr>, port: u16, timeout: Duration) -> Result<TcpStream> {
    let ns_path = format!("/proc/{pid}/ns/net");
    let ns = std::fs::File::open(&ns_path)
        .map_err(|e| Error::io("cannot open", Path::new(&ns_path), e))?;
    std::thread::spawn(move || -> Result<TcpStream> {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
            Error::sys("cannot enter the network namespace", Path::new(&ns_path), e)
        })?;
        let mut addrs = vec![Ipv4Addr::LOCALHOST];
        addrs.extend(ip);
        let mut last = None;
        for a in addrs {
            match TcpStream::connect_timeout(&SocketAddr::from((a, port)), timeout) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(Error::with_source(
            Kind::Io,
            format!("nothing accepts connections on port {port}"),
            last.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        ))
    })
    .join()
    .map_err(|_| Error::new(Kind::Runtime, "the probe thread panicked"))?
}

/// `GET path` over HTTP/1.0 on `port` inside the container's network: the status code and
/// the body (at most 1 MiB).
pub fn http_get(
    pid: i32,
    ip: Option<Ipv4Addr>,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String)> {
    let mut s = connect(pid, ip, port, timeout)?;
    let io = |e| Error::with_source(Kind::Io, format!("HTTP GET {path} on port {port}"), e);
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.set_write_timeout(Some(timeout)).map_err(io)?;
    s.write_all(
        format!("GET {path} HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .map_err(io)?;
    let mut raw = Vec::new();
    s.take(1 << 20).read_to_end(&mut raw).map_err(io)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| {
            Error::new(
                Kind::Io,
                format!(
                    "port {port} did not answer HTTP (got {:?})",
                    text.chars().take(40).collect::<String>()
                ),
            )
        })?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
