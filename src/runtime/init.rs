//! The container's first process, from clone to exec, in named stages:
//!
//! ```text
//!   shim (host)                       init (new namespaces, PID 1)
//!   ──────────────────────────────    ──────────────────────────────────────────────
//!   clone(CLONE_NEW*) ──────────────▶ rootfs: overlay, binds, /proc, /dev, /sys,
//!   add init to the cgroup              pivot_root, masked and read-only paths;
//!     (overlapped: a v1 migration       terminal; hostname
//!      waits for an RCU grace period)
//!   write `go` ─────────────────────▶ wait on `go`, then unshare(cgroup ns): its root
//!                                       is now the container's cgroup
//!                                     user, capabilities, no_new_privs
//!   read `err` until EOF ◀──────────  execve (err is close-on-exec: EOF = started)
//!                                     or: write the error to `err`, exit 127
//! ```
//!
//! The init never returns into the shim's code and never panics across the boundary:
//! every failure is a message on `err`.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{execve, setgroups, sethostname, setresgid, setresuid, Gid, Uid};

use super::cgroup::Hierarchy;
use super::launch::{Launch, Namespace};
use super::rootfs::{self, sys};
use super::security::{SeccompProfile, Security};
use super::{seccomp, security};
use crate::error::{Error, Kind, Result, WireError};
use crate::sys::path::{clean_path, open_dir_in};
use crate::trace;

/// The init's entry point, run in the cloned child. Returns only the exit status of a failure.
pub fn child(
    launch: &Launch,
    confinement: &Confinement,
    netns: Option<OwnedFd>,
    go: OwnedFd,
    err: OwnedFd,
    stdio: Option<[i32; 3]>,
    console: Option<OwnedFd>,
) -> isize {
    // A panic must not unwind into the supervisor's copied frames, nor look like a start.
    let run = std::panic::AssertUnwindSafe(|| {
        setup_and_exec(
            launch,
            confinement,
            netns,
            File::from(go),
            err.as_raw_fd(),
            stdio,
            console,
        )
    });
    let e = match std::panic::catch_unwind(run) {
        Ok(Ok(never)) => match never {},
        Ok(Err(e)) => e,
        Err(_) => Error::new(Kind::Runtime, "the container's init panicked"),
    };
    let mut err = File::from(err);
    let _ = err.write_all(&WireError::encode(&e));
    127
}

fn setup_and_exec(
    l: &Launch,
    confinement: &Confinement,
    netns: Option<OwnedFd>,
    mut go: File,
    err_fd: i32,
    stdio: Option<[i32; 3]>,
    console: Option<OwnedFd>,
) -> Result<std::convert::Infallible> {
    // If the supervisor dies, so does the container: nothing runs unsupervised.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    security::non_dumpable()?;
    // A network namespace made ahead (see prepare_network_namespace): entered first, in
    // place of a new one from the clone; its loopback is up already.
    let net_ready = match netns {
        Some(fd) => {
            trace::step(|| {
                "setns(CLONE_NEWNET): the network namespace made ahead, lo up".to_string()
            });
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).map_err(sys(
                "cannot enter the network namespace of",
                Path::new(&l.id),
            ))?;
            true
        }
        None => false,
    };
    if let Some(fds) = stdio {
        for (i, fd) in fds.iter().enumerate() {
            nix::unistd::dup2(*fd, i as i32)
                .map_err(|e| Error::sys("cannot set up stdio", Path::new("/dev/stdio"), e))?;
        }
    }
    // Only what the init needs stays open: nothing the supervisor or its caller held can
    // be reached from the container (CVE-2024-21626), not even before execve.
    let mut keep = vec![go.as_raw_fd(), err_fd];
    if let Some(c) = &console {
        keep.push(c.as_raw_fd());
    }
    security::close_fds_except(&keep);
    // Read while the host's /sys/fs/cgroup is still in view (after pivot_root it is not).
    let hierarchy = Hierarchy::host();
    let v1_view = if hierarchy.is_v2() {
        Vec::new()
    } else {
        // On v1 the init moves itself into its cgroup, first thing, before it resolves a
        // path of the container's: a move by its own thread skips the grace period a move
        // by the supervisor waits (see join_self). Failing that, it does not run at all.
        let cgroup = hierarchy.container(&l.id);
        cgroup.join_self()?;
        cgroup.v1_hierarchies()
    };
    if l.has(Namespace::Net) && !net_ready {
        loopback_up()?;
        allow_unprivileged_ping();
    }
    if l.has(Namespace::Mount) {
        rootfs::prepare(&mut rootfs::Linux, l)?;
    }
    if let Some(sock) = console {
        open_terminal(&sock)?;
    }
    if l.has(Namespace::Uts) {
        trace::step(|| format!("sethostname({})", l.hostname));
        sethostname(&l.hostname).map_err(sys("cannot set hostname", Path::new(&l.hostname)))?;
    }
    // The supervisor moves us into the cgroup while we build the root filesystem (a cgroup
    // v1 migration waits for an RCU grace period, milliseconds better spent overlapped);
    // nothing of the container's own runs before it says so.
    let mut byte = [0u8; 1];
    if !matches!(go.read(&mut byte), Ok(1)) {
        return Err(Error::new(
            Kind::Runtime,
            "the supervisor went away before the container started",
        ));
    }
    drop(go);
    if l.has(Namespace::Cgroup) {
        trace::step(|| {
            "unshare(CLONE_NEWCGROUP): the container sees its own cgroup as the root".to_string()
        });
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP).map_err(sys(
            "cannot unshare the cgroup namespace of",
            Path::new(&l.id),
        ))?;
        if l.has(Namespace::Mount) {
            mount_cgroup_view(hierarchy.is_v2(), &v1_view)?;
        }
    }
    if l.security.read_only && l.has(Namespace::Mount) {
        trace::step(|| "mount -o remount,ro / (read-only root filesystem)".to_string());
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(sys("cannot make the root read-only:", Path::new("/")))?;
    }
    // Resource limits while still privileged (raising a hard limit needs CAP_SYS_RESOURCE):
    // they pass through the change of user and execve to the command.
    for u in &l.ulimits {
        trace::step(|| format!("setrlimit({}, {}, {})", u.name, u.soft, u.hard));
        u.apply()?;
    }
    exec_as(&l.argv, &l.env, &l.workdir, l.user.as_deref(), confinement)
}

/// What the last stage applies: the capability set and the seccomp filter.
pub struct Confinement {
    pub caps: caps::CapsHashSet,
    pub seccomp: Option<seccomp::Program>,
    pub describe: String,
}

impl Confinement {
    /// Compiles the container's security settings (by the supervisor, before the clone: a
    /// bad profile fails the start at once, and one started ahead compiles the default
    /// while it waits).
    pub fn resolve(sec: &Security) -> Result<Confinement> {
        let caps = security::capability_set(sec.privileged, &sec.cap_add, &sec.cap_drop)?;
        let names = security::capability_names(&caps);
        let profile = match (&sec.seccomp, sec.privileged) {
            (SeccompProfile::Unconfined, _) | (SeccompProfile::Default, true) => None,
            (SeccompProfile::Default, false) => Some(seccomp::Profile::docker_default()),
            (SeccompProfile::Custom { path, json }, _) => {
                Some(seccomp::Profile::from_json(json).map_err(|e| {
                    Error::new(e.kind(), format!("seccomp profile {path}: {}", e.message()))
                })?)
            }
        };
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let seccomp = profile.map(|p| p.compile(&name_refs)).transpose()?;
        let describe = format!(
            "capabilities {}; {}",
            if sec.privileged {
                "ALL".to_string()
            } else {
                names.join(",")
            },
            seccomp
                .as_ref()
                .map(|p| p.describe())
                .unwrap_or_else(|| "no seccomp filter (unconfined)".to_string())
        );
        Ok(Confinement {
            caps,
            seccomp,
            describe,
        })
    }
}

/// Mounts the container's own cgroups read-only at /sys/fs/cgroup, in its cgroup namespace,
/// so the programs inside (a JVM, Go, .NET, Node) see the limits they were given. On a
/// host-network container this also hides the host's cgroup mounts under its /sys.
fn mount_cgroup_view(v2: bool, hierarchies: &[String]) -> Result<()> {
    let target = Path::new("/sys/fs/cgroup");
    let ro = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY;
    if v2 {
        trace::step(|| {
            "mount -t cgroup2 -o ro cgroup2 /sys/fs/cgroup (the container's own cgroup as root)"
                .to_string()
        });
        return mount(Some("cgroup2"), target, Some("cgroup2"), ro, None::<&str>)
            .map_err(sys("cannot mount cgroup2 on", target));
    }
    // v1: a tmpfs holding one mount per hierarchy the container was placed in; hierarchies
    // it was not placed in would show the host's whole tree, so they are left out.
    trace::step(|| {
        format!(
            "mount -t tmpfs /sys/fs/cgroup; mount -t cgroup -o ro {} (the container's own cgroups as roots)",
            hierarchies.join(" ")
        )
    });
    mount(
        Some("tmpfs"),
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755,size=64k"),
    )
    .map_err(sys("cannot mount a tmpfs on", target))?;
    for name in hierarchies {
        let dir = target.join(name);
        std::fs::create_dir(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        mount(
            Some("cgroup"),
            &dir,
            Some("cgroup"),
            ro,
            Some(name.as_str()),
        )
        .map_err(sys("cannot mount the cgroup hierarchy on", &dir))?;
        // "cpu,cpuacct" is also reachable as cpu and cpuacct, as on the host.
        if name.contains(',') {
            for part in name.split(',') {
                let _ = std::os::unix::fs::symlink(name, target.join(part));
            }
        }
    }
    mount(
        None::<&str>,
        target,
        None::<&str>,
        MsFlags::MS_REMOUNT | ro,
        Some("mode=755,size=64k"),
    )
    .map_err(sys("cannot make read-only", target))
}

/// The last stage of every container process, the init and `exec`'s alike, in this order:
/// working directory (inside the root), user, fresh session keyring, capabilities,
/// no_new_privs, no inherited descriptors, seccomp, execve.
pub fn exec_as(
    argv: &[String],
    env: &[String],
    workdir: &str,
    user: Option<&str>,
    confinement: &Confinement,
) -> Result<std::convert::Infallible> {
    let (uid, gid, groups, home) = resolve_user(user)?;
    let mut env = env.to_vec();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    enter_workdir(workdir)?;
    let first = argv
        .first()
        .ok_or_else(|| Error::invalid("empty command"))?;
    let program = find_program(first, &env).map_err(Error::command_failed)?;
    let args: Vec<CString> = argv.iter().map(|a| cstring(a)).collect::<Result<_>>()?;
    let envp: Vec<CString> = env.iter().map(|a| cstring(a)).collect::<Result<_>>()?;
    let prog = CString::new(program.as_os_str().as_bytes())
        .map_err(|_| Error::invalid("program path has a NUL byte"))?;

    trace::step(|| "keyctl(JOIN_SESSION_KEYRING): a fresh, empty session keyring".to_string());
    security::fresh_session_keyring()?;
    // A session of its own, without a controlling terminal: a container must not push
    // keystrokes into the caller's terminal (TIOCSTI) when it shares it. (With a pseudo
    // terminal of its own the init already leads a session: EPERM then, harmlessly.)
    let _ = nix::unistd::setsid();
    // Identity and privileges in runc's order: the bounding set shrinks while we hold
    // CAP_SETPCAP; the identity changes while we still hold CAP_SETUID/SETGID (kept across
    // the uid change by KEEPCAPS); only then the final sets, which may lack both.
    security::drop_bounding(&confinement.caps)?;
    trace::step(|| {
        format!(
            "setgroups, setgid({gid}), setuid({uid}); no_new_privs; {}",
            confinement.describe
        )
    });
    security::keep_caps(true)?;
    setgroups(&groups).map_err(sys("cannot set groups", Path::new("/etc/group")))?;
    setresgid(gid, gid, gid).map_err(sys("cannot set group id", Path::new("/etc/group")))?;
    setresuid(uid, uid, uid).map_err(sys("cannot set user id", Path::new("/etc/passwd")))?;
    security::keep_caps(false)?;
    security::set_capabilities(&confinement.caps)?;
    // A change of credentials clears the parent-death signal: the init must still die with
    // its supervisor, whatever user it runs as.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    security::no_new_privs()?;
    security::cloexec_fds()?;
    security::reset_signals();
    // Last: from here on only what the filter allows, and execve is allowed.
    if let Some(filter) = &confinement.seccomp {
        filter.install()?;
    }
    trace::step(|| format!("execve({}, {argv:?})", program.display()));
    let e = execve(&prog, &args, &envp)
        .err()
        .unwrap_or(nix::errno::Errno::EINVAL);
    Err(Error::with_source(
        if e == nix::errno::Errno::ENOENT {
            Kind::NotFound
        } else {
            Kind::Runtime
        },
        format!("cannot run {first:?} in the container"),
        std::io::Error::from(e),
    )
    .command_failed())
}

/// Enters the working directory, made if missing, resolved inside the container's root:
/// symlinks in it resolve against the root, and /proc's magic links (`/proc/self/fd/N`, the
/// way out of runc's CVE-2024-21626) are refused rather than followed.
fn enter_workdir(workdir: &str) -> Result<()> {
    let path = Path::new(workdir);
    if !path.is_absolute() {
        return Err(Error::invalid(format!(
            "working directory {workdir:?} must be an absolute path"
        )));
    }
    let root = File::open("/").map_err(|e| Error::io("cannot open", Path::new("/"), e))?;
    let rel = clean_path(path).ok_or_else(|| {
        Error::new(
            Kind::Permission,
            format!("working directory {workdir} leads outside the container's root; refused"),
        )
    })?;
    let dir = open_dir_in(root.as_fd(), &rel, true).map_err(|e| {
        if e == nix::errno::Errno::ELOOP || e == nix::errno::Errno::EXDEV {
            Error::new(
                Kind::Permission,
                format!("working directory {workdir} leads outside the container's root (through a /proc magic link or out of the root); refused"),
            )
        } else {
            Error::sys("cannot enter working directory", path, e)
        }
    })?;
    trace::step(|| format!("chdir {workdir} (resolved inside the root, no magic links)"));
    nix::unistd::fchdir(dir.as_raw_fd()).map_err(sys("cannot enter working directory", path))
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(format!("{s:?} contains a NUL byte")))
}

/// Looks `name` up in the container's PATH, as a shell would.
pub fn find_program(name: &str, env: &[String]) -> Result<PathBuf> {
    if name.is_empty() {
        return Err(Error::invalid("empty command"));
    }
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(name);
        if let Ok(meta) = std::fs::metadata(&candidate) {
            use std::os::unix::fs::PermissionsExt;
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    Err(Error::not_found(format!(
        "executable {name:?} not found in the container's PATH ({path})"
    )))
}

/// "uid[:gid]" or "name[:group]" against the container's /etc/passwd and /etc/group.
fn resolve_user(user: Option<&str>) -> Result<(Uid, Gid, Vec<Gid>, String)> {
    let Some(spec) = user.filter(|u| !u.is_empty()) else {
        return Ok((
            Uid::from_raw(0),
            Gid::from_raw(0),
            vec![Gid::from_raw(0)],
            "/root".into(),
        ));
    };
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && (f[0] == u || f[2] == u));
    let uid: u32 = match (&entry, u.parse::<u32>()) {
        (_, Ok(n)) => n,
        (Some(f), _) => f[2]
            .parse()
            .map_err(|_| Error::corrupt(format!("bad uid for {u} in /etc/passwd")))?,
        (None, _) => {
            return Err(Error::not_found(format!(
                "user {u:?} not found in the container's /etc/passwd"
            )))
        }
    };
    let home = entry
        .as_ref()
        .map(|f| f[5].to_string())
        .unwrap_or_else(|| "/".into());
    let group_file = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let gid: u32 = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group_file
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| {
                    Error::not_found(format!(
                        "group {g:?} not found in the container's /etc/group"
                    ))
                })?,
        },
        None => entry
            .as_ref()
            .and_then(|f| f[3].parse().ok())
            .unwrap_or(uid),
    };
    Ok((
        Uid::from_raw(uid),
        Gid::from_raw(gid),
        vec![Gid::from_raw(gid)],
        home,
    ))
}

/// Lets every group of the container open ICMP echo sockets in its own network namespace,
/// as Docker and podman do: ping keeps working without CAP_NET_RAW (and raw sockets).
fn allow_unprivileged_ping() {
    trace::step(|| {
        "sysctl net.ipv4.ping_group_range=\"0 2147483647\" (this network namespace)".to_string()
    });
    // Kernels without the sysctl simply have no unprivileged ping.
    let _ = std::fs::write("/proc/sys/net/ipv4/ping_group_range", "0 2147483647");
}

/// A new network namespace with its loopback up and unprivileged ping allowed, made on a
/// thread of its own (this process stays in its own namespace) and kept by the descriptor
/// returned. A supervisor started ahead makes one while it waits, and its container's init
/// enters it in place of one made by the clone (issue 16: a network namespace costs 0.4 ms
/// to make here, more than any other).
pub fn prepare_network_namespace() -> Result<OwnedFd> {
    let made = std::thread::Builder::new()
        .name("netns".into())
        .stack_size(64 << 10)
        .spawn(|| -> Result<OwnedFd> {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(sys(
                "cannot make a network namespace:",
                Path::new("/proc/thread-self/ns/net"),
            ))?;
            loopback_up()?;
            allow_unprivileged_ping();
            let path = Path::new("/proc/thread-self/ns/net");
            File::open(path)
                .map(OwnedFd::from)
                .map_err(|e| Error::io("cannot open", path, e))
        })
        .map_err(|e| Error::with_source(Kind::Runtime, "cannot start a thread", e))?;
    made.join()
        .map_err(|_| Error::new(Kind::Runtime, "making a network namespace panicked"))?
}

/// Brings the loopback interface of a new network namespace up.
fn loopback_up() -> Result<()> {
    trace::step(|| "ip link set lo up (new network namespace)".to_string());
    // SAFETY: a plain socket; ifreq is zeroed and filled with a NUL-terminated name.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return Err(Error::with_source(
                Kind::Runtime,
                "cannot open a socket to bring up lo",
                std::io::Error::last_os_error(),
            ));
        }
        let sock = OwnedFd::from_raw_fd(sock);
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(Error::with_source(
                Kind::Runtime,
                "cannot read flags of lo",
                std::io::Error::last_os_error(),
            ));
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(Error::with_source(
                Kind::Runtime,
                "cannot bring lo up",
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}

/// Opens a pseudo terminal in the container's own devpts, sends the master to the supervisor
/// and makes the slave this process's stdio and controlling terminal, in a new session.
fn open_terminal(sock: &OwnedFd) -> Result<()> {
    use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    trace::step(|| {
        "open /dev/ptmx in the container, send the master to the supervisor, slave as stdio and controlling terminal".to_string()
    });
    let pty_err = |e: nix::errno::Errno| {
        Error::sys("cannot open a pseudo terminal", Path::new("/dev/ptmx"), e)
    };
    let master = posix_openpt(
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
    )
    .map_err(pty_err)?;
    grantpt(&master).map_err(pty_err)?;
    unlockpt(&master).map_err(pty_err)?;
    let name = ptsname_r(&master).map_err(pty_err)?;
    nix::unistd::setsid()
        .map_err(|e| Error::sys("cannot start a session for", Path::new(&name), e))?;
    let slave = nix::fcntl::open(name.as_str(), nix::fcntl::OFlag::O_RDWR, Mode::empty())
        .map_err(|e| Error::sys("cannot open", Path::new(&name), e))?;
    let iov = [std::io::IoSlice::new(b"t")];
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| {
        Error::sys(
            "cannot send the terminal through",
            Path::new("console socket"),
            e,
        )
    })?;
    drop(master);
    for i in 0..3 {
        nix::unistd::dup2(slave, i)
            .map_err(|e| Error::sys("cannot set up stdio on", Path::new(&name), e))?;
    }
    let _ = nix::unistd::close(slave);
    // SAFETY: TIOCSCTTY on stdin, which is now the slave.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        return Err(Error::with_source(
            Kind::Runtime,
            "cannot take the terminal as controlling terminal",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}
