//! Bridge networking through the real binary: containers reaching each other by address and
//! name, published TCP and UDP ports, NAT to an outside host (a network namespace of the
//! test's own, wired to the host by a veth pair), none and host modes, 50 containers at
//! once, bad input, and nothing left behind.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;

fn image() -> &'static str {
    static IMG: OnceLock<String> = OnceLock::new();
    IMG.get_or_init(|| {
        let reg = registry();
        push_busybox(reg, "net/busybox:1");
        format!("{}/net/busybox:1", reg.addr)
    })
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}\n{}", out(&o), err(&o));
    out(&o)
}

/// Makes a network with a subnet and bridge of its own; returns (subnet, bridge).
fn network(root: &Path, name: &str) -> (String, String) {
    let (subnet, bridge) = unique_subnet();
    ok(gocker(
        root,
        &[
            "network", "create", "--subnet", &subnet, "--bridge", &bridge, name,
        ],
    ));
    (subnet, bridge)
}

/// busybox httpd in the foreground on port 80, serving /www (a `site` bound there).
const HTTPD: [&str; 6] = ["httpd", "-f", "-p", "80", "-h", "/www"];

/// A directory with an index page, for busybox httpd.
fn site(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("index.html"), text).expect("write page");
    dir
}

/// Host-side links of the bridge: one veth per running container.
fn ports_of(bridge: &str) -> Vec<String> {
    let o = Command::new("ip")
        .args(["-o", "link", "show", "master", bridge])
        .output()
        .expect("ip link");
    out(&o).lines().map(str::to_string).collect()
}

/// The bridge's ports once the kernel has torn down the namespaces of containers that ended
/// (a veth pair goes with its namespace, in the background): at most a few seconds.
fn settled_ports_of(bridge: &str, expected: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ports = ports_of(bridge);
        if ports.len() == expected || Instant::now() > deadline {
            return ports;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

fn nft_table(bridge: &str) -> Option<String> {
    let o = Command::new("nft")
        .args(["list", "table", "ip", &format!("gocker-{bridge}")])
        .output()
        .expect("nft");
    o.status.success().then(|| out(&o))
}

/// A free TCP and UDP port on the host (the kernel's pick, released at once).
fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("0.0.0.0:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        if UdpSocket::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
}

/// Fetches `/` over plain HTTP, retrying while the server starts.
fn http_get(addr: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s =
                TcpStream::connect_timeout(&addr.parse().expect("addr"), Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut body = String::new();
            s.read_to_string(&mut body)?;
            Ok(body)
        })();
        match attempt {
            Ok(body) if body.contains("200 OK") => return body,
            other if Instant::now() > deadline => panic!("no page from {addr}: {other:?}"),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// A shell loop that fetches a URL inside a container, retrying while the server starts.
fn wget_loop(url: &str) -> String {
    format!("(for i in $(seq 100); do wget -q -O - {url} && exit 0; sleep 0.1; done; exit 1)")
}

fn ip_of(root: &Path, name: &str) -> Ipv4Addr {
    let o = gocker(
        root,
        &["-e", &format!("print(find_container({name:?}).ip)")],
    );
    ok(o).trim().parse().expect("an IPv4 address")
}

fn in_subnet(ip: Ipv4Addr, subnet: &str) -> bool {
    let (net, prefix) = subnet.split_once('/').expect("cidr");
    let net: Ipv4Addr = net.parse().expect("net");
    let mask = u32::MAX << (32 - prefix.parse::<u32>().expect("prefix"));
    u32::from(ip) & mask == u32::from(net)
}

#[test]
fn containers_on_a_network_reach_each_other_by_address_and_by_name() {
    let root = root();
    let r = root.path();
    let (subnet, bridge) = network(r, "front");
    let www = site("hello from web\n");
    let vol = format!("{}:/www:ro", www.path().display());
    let mut args = vec![
        "run",
        "-d",
        "--network",
        "front",
        "--name",
        "web",
        "-v",
        &vol,
        // busybox's ping needs a raw socket, which the default set no longer allows.
        "--cap-add",
        "NET_RAW",
        image(),
    ];
    args.extend(HTTPD);
    ok(gocker(r, &args));
    let ip = ip_of(r, "web");
    assert!(in_subnet(ip, &subnet), "{ip} not in {subnet}");
    assert_ne!(ip.octets()[3], 1, "the gateway's address is the bridge's");
    let inspect = ok(gocker(r, &["inspect", "web"]));
    assert!(inspect.contains(&ip.to_string()), "{inspect}");
    assert_eq!(ports_of(&bridge).len(), 1);

    // By address, then by name, from a second container.
    let script = format!(
        "{} && {}",
        wget_loop(&format!("http://{ip}/")),
        wget_loop("http://web/")
    );
    let o = gocker(
        r,
        &[
            "run",
            "--rm",
            "--network",
            "front",
            image(),
            "sh",
            "-c",
            &script,
        ],
    );
    assert_eq!(ok(o), "hello from web\nhello from web\n");

    // Names work both ways: a container started later appears in the earlier one's
    // /etc/hosts, and leaves it when it ends.
    ok(gocker(
        r,
        &[
            "run",
            "-d",
            "--network",
            "front",
            "--name",
            "peer",
            image(),
            "sleep",
            "60",
        ],
    ));
    let peer_ip = ip_of(r, "peer");
    assert_ne!(peer_ip, ip);
    let hosts = ok(gocker(r, &["exec", "web", "cat", "/etc/hosts"]));
    assert!(hosts.contains(&format!("{peer_ip}\tpeer")), "{hosts}");
    let o = gocker(
        r,
        &[
            "exec", "web", "busybox", "ping", "-c", "1", "-W", "2", "peer",
        ],
    );
    assert!(ok(o).contains("1 packets received"));
    ok(gocker(r, &["rm", "-f", "peer"]));
    let hosts = ok(gocker(r, &["exec", "web", "cat", "/etc/hosts"]));
    assert!(!hosts.contains("peer"), "{hosts}");
    assert_eq!(settled_ports_of(&bridge, 1).len(), 1, "peer's veth is gone");

    // The default network of `run`: the same, with nothing made by hand.
    let o = gocker(
        r,
        &[
            "run",
            "--rm",
            image(),
            "ip",
            "-o",
            "-4",
            "addr",
            "show",
            "eth0",
        ],
    );
    assert!(ok(o).contains("inet 10."));

    ok(gocker(r, &["rm", "-f", "web"]));
    assert!(settled_ports_of(&bridge, 0).is_empty());
    ok(gocker(r, &["network", "rm", "front"]));
    assert!(!link_exists(&bridge), "bridge {bridge} left");
    assert!(nft_table(&bridge).is_none(), "nft table left");
}

/// A static UDP echo server (busybox's nc has no UDP mode), built from tests/fixtures.
fn udp_echo() -> PathBuf {
    static BIN: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = BIN.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let o = Command::new("cc")
            .args(["-static", "-O2", "-o"])
            .arg(dir.path().join("udp-echo"))
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/udp-echo.c"
            ))
            .output()
            .expect("cc");
        assert!(o.status.success(), "cc: {}", err(&o));
        dir
    });
    dir.path().to_path_buf()
}

fn udp_roundtrip(to: &str, msg: &[u8]) -> Vec<u8> {
    let sock = UdpSocket::bind("0.0.0.0:0").expect("udp bind");
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    for _ in 0..40 {
        sock.send_to(msg, to).expect("send");
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            return buf[..n].to_vec();
        }
    }
    panic!("no UDP echo from {to}");
}

/// The host's first non-loopback IPv4 address, if it has one.
fn host_address() -> Option<Ipv4Addr> {
    let o = Command::new("ip")
        .args(["-o", "-4", "addr", "show", "scope", "global"])
        .output()
        .ok()?;
    out(&o)
        .lines()
        .filter(|l| !l.contains(" gk") && !l.contains(" gocker"))
        .find_map(|l| l.split_whitespace().nth(3)?.split('/').next()?.parse().ok())
}

#[test]
fn published_ports_reach_the_container_over_tcp_and_udp() {
    let root = root();
    let r = root.path();
    let (_, bridge) = network(r, "pub");
    let www = site("published page\n");
    let (tcp, udp) = (free_port(), free_port());
    let vols = [
        format!("{}:/www:ro", www.path().display()),
        format!("{}:/opt:ro", udp_echo().display()),
    ];
    let (p1, p2) = (format!("{tcp}:80"), format!("{udp}:5353/udp"));
    ok(gocker(
        r,
        &[
            "run",
            "-d",
            "--network",
            "pub",
            "--name",
            "srv",
            "-p",
            &p1,
            "-p",
            &p2,
            "-v",
            &vols[0],
            "-v",
            &vols[1],
            image(),
            "sh",
            "-c",
            "/opt/udp-echo 5353 & exec httpd -f -p 80 -h /www",
        ],
    ));
    let page = http_get(&format!("127.0.0.1:{tcp}"));
    assert!(page.ends_with("published page\n"), "{page}");
    if let Some(addr) = host_address() {
        let page = http_get(&format!("{addr}:{tcp}"));
        assert!(page.ends_with("published page\n"), "{page}");
    }
    assert_eq!(udp_roundtrip(&format!("127.0.0.1:{udp}"), b"ping"), b"ping");
    let ps = ok(gocker(r, &["ps"]));
    assert!(ps.contains(&format!("0.0.0.0:{tcp}->80/tcp")), "{ps}");

    // While it runs, the host ports are the container's.
    assert!(TcpListener::bind(("0.0.0.0", tcp)).is_err());
    ok(gocker(r, &["rm", "-f", "srv"]));
    assert!(
        TcpListener::bind(("0.0.0.0", tcp)).is_ok(),
        "port {tcp} not freed"
    );
    assert!(
        UdpSocket::bind(("0.0.0.0", udp)).is_ok(),
        "port {udp} not freed"
    );
    let table = nft_table(&bridge).expect("the network's table stays with it");
    assert!(!table.contains(&format!(" {tcp} :")), "{table}");
    assert!(!table.contains(&format!(" {udp} :")), "{table}");
}

/// A network namespace standing for another machine, wired to the host by a veth pair.
struct OutsideHost {
    ns: String,
    host_ip: Ipv4Addr,
    ip: Ipv4Addr,
}

impl OutsideHost {
    fn new() -> OutsideHost {
        let pid = std::process::id();
        let ns = format!("gkt-out-{pid}");
        let (veth, b) = (format!("gkto{}", pid % 100_000), 200 + pid % 50);
        let host_ip = Ipv4Addr::new(10, 250, b as u8, 1);
        let ip = Ipv4Addr::new(10, 250, b as u8, 2);
        let sh = |args: &str| {
            let o = Command::new("sh").arg("-c").arg(args).output().expect("sh");
            assert!(o.status.success(), "{args}: {}", err(&o));
        };
        sh(&format!("ip netns add {ns}"));
        let outside = OutsideHost {
            ns: ns.clone(),
            host_ip,
            ip,
        };
        sh(&format!(
            "ip link add {veth} type veth peer name eth0 netns {ns} && \
             ip addr add {host_ip}/24 dev {veth} && ip link set {veth} up && \
             ip -n {ns} addr add {ip}/24 dev eth0 && ip -n {ns} link set eth0 up && \
             ip -n {ns} link set lo up && ip -n {ns} route add default via {host_ip}"
        ));
        outside
    }

    /// Runs `f` on a thread inside the outside host's network namespace.
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/run/netns/{}", self.ns);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).expect("netns");
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
    }
}

impl Drop for OutsideHost {
    fn drop(&mut self) {
        // The veth pair goes with the namespace.
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

#[test]
fn an_outside_host_sees_nat_and_reaches_published_ports() {
    let root = root();
    let r = root.path();
    let (subnet, _) = network(r, "edge");
    let outside = OutsideHost::new();

    // Outbound: the container reaches the outside host, which sees the host's address.
    let bind = format!("{}:8000", outside.ip);
    let server = outside.run(move || {
        let l = TcpListener::bind(&bind).expect("bind outside");
        let (mut s, peer) = l.accept().expect("accept");
        let mut req = [0u8; 1024];
        let _ = s.read(&mut req);
        let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\nhello from outside\n");
        peer
    });
    let o = gocker(
        r,
        &[
            "run",
            "--rm",
            "--network",
            "edge",
            image(),
            "sh",
            "-c",
            &wget_loop(&format!("http://{}:8000/", outside.ip)),
        ],
    );
    assert_eq!(ok(o), "hello from outside\n");
    let peer = server.join().expect("server");
    let std::net::IpAddr::V4(seen) = peer.ip() else {
        panic!("{peer}")
    };
    assert_eq!(seen, outside.host_ip, "masqueraded to the host's address");
    assert!(!in_subnet(seen, &subnet));

    // Inbound: the outside host reaches a published port through the host's address.
    let www = site("seen from outside\n");
    let vol = format!("{}:/www:ro", www.path().display());
    let port = free_port();
    let publish = format!("{port}:80");
    let mut args = vec![
        "run",
        "-d",
        "--network",
        "edge",
        "--name",
        "edge-web",
        "-p",
        &publish,
        "-v",
        &vol,
        image(),
    ];
    args.extend(HTTPD);
    ok(gocker(r, &args));
    let target = format!("{}:{port}", outside.host_ip);
    let page = outside
        .run(move || http_get(&target))
        .join()
        .expect("client");
    assert!(page.ends_with("seen from outside\n"), "{page}");
}

#[test]
fn none_has_only_loopback_and_host_shares_the_hosts_interfaces() {
    let root = root();
    let r = root.path();
    let o = gocker(
        r,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            image(),
            "sh",
            "-c",
            "ls /sys/class/net",
        ],
    );
    assert_eq!(ok(o).split_whitespace().collect::<Vec<_>>(), ["lo"]);
    let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .expect("sysfs")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    host.sort();
    let o = gocker(
        r,
        &[
            "run",
            "--rm",
            "--network",
            "host",
            image(),
            "ip",
            "-o",
            "link",
        ],
    );
    let seen = ok(o);
    for name in host
        .iter()
        .filter(|n| !n.starts_with("veth") && !n.starts_with("gk"))
    {
        assert!(
            seen.contains(&format!(": {name}")),
            "{name} missing from {seen}"
        );
    }
    let o = gocker(r, &["-e", "print(networks().len())"]);
    assert_eq!(ok(o).trim(), "1", "only the default network, never made");
}

/// A script's bridged run finds its supervisor started ahead with a veth pair made (issue
/// 16): the pair becomes the container's, named after it, on its network's bridge, its end
/// given the container's address and route. The run after it, on no network, gets nothing of
/// the kind: its supervisor made a pair too (the run before was bridged), and the namespace
/// holding that pair's end is not the container's.
#[test]
fn a_veth_pair_made_ahead_is_the_bridged_containers_and_no_one_elses() {
    let root = root();
    let r = root.path();
    let (subnet, bridge) = network(r, "ahead");
    let net: Ipv4Addr = subnet.split('/').next().unwrap().parse().unwrap();
    let gateway = Ipv4Addr::from(u32::from(net) + 1);
    // The bridge (and its address) is made at the first start: listened for on every one.
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("listen");
    let port = listener.local_addr().unwrap().port();
    // What the container reads from the host's end of its bridge, if it gets there.
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let _ = conn.write_all(b"reached\n");
        }
    });
    let script = r.join("ahead.rhai");
    std::fs::write(
        &script,
        format!(
            "run({img:?}, [\"true\"], #{{ rm: true, network: \"ahead\" }});\n\
             run({img:?}, [\"sh\", \"-c\", \"ip -o -4 addr show eth0; ip route | grep ^default; nc -w 5 {gateway} {port} </dev/null\"], #{{ rm: true, network: \"ahead\" }});\n\
             run({img:?}, [\"ls\", \"/sys/class/net\"], #{{ rm: true, network: \"none\" }});",
            img = image()
        ),
    )
    .unwrap();
    let o = gocker(r, &["--trace", script.to_str().unwrap()]);
    let text = ok(o.clone());
    let trace = err(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    // eth0 with an address of the network, the default route through its bridge, and a
    // connection to the host's end of that bridge.
    let addr = lines[0]
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .and_then(|a| a.parse::<Ipv4Addr>().ok())
        .unwrap_or_else(|| panic!("no address on eth0: {text}"));
    assert!(in_subnet(addr, &subnet), "{addr} not in {subnet}");
    assert!(
        lines[1].starts_with(&format!("default via {gateway} dev eth0")),
        "{text}"
    );
    assert_eq!(lines[2], "reached", "{text}");
    assert_eq!(lines[3], "lo", "only loopback on no network: {text}");
    // The second run's pair was the one made ahead, renamed the container's, on the bridge.
    let renamed: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("ip link set (the veth made ahead) name veth"))
        .collect();
    assert_eq!(renamed.len(), 1, "{trace}");
    assert!(
        renamed[0].contains(&format!("master {bridge} up")),
        "{trace}"
    );
    assert!(settled_ports_of(&bridge, 0).is_empty());
    let deadline = Instant::now() + Duration::from_secs(10);
    while host_links().iter().any(|l| l.starts_with("gkahead")) {
        assert!(Instant::now() < deadline, "left: {:?}", host_links());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn host_links() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .expect("sysfs")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn fifty_concurrent_containers_get_distinct_addresses_and_leave_nothing() {
    let root = root();
    let r = root.path().to_path_buf();
    let (subnet, bridge) = network(&r, "many");
    let image = image();
    let ports: Vec<u16> = (0..10).map(|_| free_port()).collect();
    let started: Vec<_> = (0..50)
        .map(|i| {
            let r = r.clone();
            let publish = ports.get(i).map(|p| format!("{p}:80"));
            std::thread::spawn(move || {
                let name = format!("m{i}");
                let mut args = vec!["run", "-d", "--network", "many", "--name", &name];
                if let Some(p) = &publish {
                    args.extend(["-p", p]);
                }
                args.extend([image, "sleep", "120"]);
                gocker(&r, &args)
            })
        })
        .collect();
    for t in started {
        ok(t.join().expect("thread"));
    }
    let o = gocker(&r, &["-e", "for c in containers() { print(c.ip) }"]);
    let mut ips: Vec<Ipv4Addr> = ok(o)
        .lines()
        .map(|l| l.parse().expect("an address"))
        .collect();
    assert_eq!(ips.len(), 50);
    assert!(ips.iter().all(|ip| in_subnet(*ip, &subnet)));
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 50, "addresses are distinct");
    assert_eq!(ports_of(&bridge).len(), 50);
    let table = nft_table(&bridge).expect("table");
    for p in &ports {
        assert!(
            table.contains(&format!("tcp . {p} :")),
            "{p} not forwarded: {table}"
        );
    }

    let removed: Vec<_> = (0..50)
        .map(|i| {
            let r = r.clone();
            std::thread::spawn(move || gocker(&r, &["rm", "-f", &format!("m{i}")]))
        })
        .collect();
    for t in removed {
        ok(t.join().expect("thread"));
    }
    let left = settled_ports_of(&bridge, 0);
    assert!(left.is_empty(), "veths left: {left:?}");
    let table = nft_table(&bridge).expect("table");
    assert!(!table.contains("elements"), "forwarding left: {table}");
    let o = gocker(
        &r,
        &[
            "-e",
            "print(networks().filter(|n| n.name == \"many\")[0].containers.len())",
        ],
    );
    assert_eq!(ok(o).trim(), "0", "addresses left in the IPAM");
    ok(gocker(&r, &["network", "rm", "many"]));
    assert!(!link_exists(&bridge));
    assert!(nft_table(&bridge).is_none());
}

#[test]
fn bad_network_input_fails_clearly_and_leaves_nothing() {
    let root = root();
    let r = root.path();
    let (subnet, bridge) = network(r, "strict");
    let fails = |args: &[&str], says: &str| {
        let o = gocker(r, args);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(err(&o).contains(says), "{args:?}: {}", err(&o));
    };
    fails(
        &["network", "create", "--subnet", "10.77.1.9/24", "odd"],
        "did you mean 10.77.1.0/24",
    );
    fails(
        &["network", "create", "--subnet", "fd00::/64", "v6"],
        "IPv6",
    );
    fails(
        &["network", "create", "--subnet", &subnet, "twin"],
        "overlaps network \"strict\"",
    );
    fails(&["network", "create", "strict"], "already exists");
    fails(&["network", "rm", "nosuch"], "does not exist");
    fails(
        &["run", "--rm", "--network", "nosuch", image(), "true"],
        "network \"nosuch\" does not exist",
    );
    fails(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "-p",
            "8080:80",
            image(),
            "true",
        ],
        "use a bridge network",
    );
    fails(
        &["run", "--rm", "-p", "80:", image(), "true"],
        "is not a port",
    );

    // A host port someone else holds.
    let taken = TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let publish = format!("{port}:80");
    fails(
        &[
            "run",
            "-d",
            "--network",
            "strict",
            "--name",
            "clash",
            "-p",
            &publish,
            image(),
            "sleep",
            "30",
        ],
        &format!("cannot publish port {port}:80/tcp"),
    );
    let o = gocker(r, &["ps", "-a"]);
    assert!(!ok(o).contains("clash"), "the failed container was kept");
    assert!(ports_of(&bridge).is_empty());
    let o = gocker(
        r,
        &[
            "-e",
            "print(networks().filter(|n| n.name == \"strict\")[0].containers.len())",
        ],
    );
    assert_eq!(ok(o).trim(), "0");

    // A network in use cannot go.
    ok(gocker(
        r,
        &[
            "run",
            "-d",
            "--network",
            "strict",
            "--name",
            "holder",
            image(),
            "sleep",
            "30",
        ],
    ));
    fails(
        &["network", "rm", "strict"],
        "has running containers: holder",
    );

    // Another store naming the same bridge neither adopts nor removes it.
    let other = common::root();
    let (other_subnet, _) = unique_subnet();
    ok(gocker(
        other.path(),
        &[
            "network",
            "create",
            "--subnet",
            &other_subnet,
            "--bridge",
            &bridge,
            "shadow",
        ],
    ));
    let o = gocker(
        other.path(),
        &["run", "--rm", "--network", "shadow", image(), "true"],
    );
    assert!(!o.status.success());
    assert!(
        err(&o).contains("is not the bridge of network \"shadow\""),
        "{}",
        err(&o)
    );
    ok(gocker(other.path(), &["network", "rm", "shadow"]));
    assert!(link_exists(&bridge), "another store removed our bridge");
    assert!(
        nft_table(&bridge).is_some(),
        "another store removed our rules"
    );
    ok(gocker(r, &["rm", "-f", "holder"]));
    ok(gocker(r, &["network", "rm", "strict"]));
    assert!(!link_exists(&bridge));
}
