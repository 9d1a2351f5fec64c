//! The container's root filesystem, built by its init in its own mount namespace, in named
//! stages: make / private, mount the root (overlay or a directory), /etc files, bind mounts,
//! /proc, /dev, /sys, pivot_root, then mask and make read-only what must not be touched.
//!
//! Every mount, mknod and pivot goes through `Host`: `Linux` makes the system calls, and the
//! tests' recorder writes them down, so the decisions (which flags, which paths, in which
//! order) are unit-tested without root. Mount points themselves are real directories, made
//! inside the root with openat2(RESOLVE_IN_ROOT) (a temporary directory in the tests).

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};

use super::devices::DeviceKind;
use super::launch::{Launch, NetworkMode};
use super::security::DeviceNode;
use crate::error::{Error, Kind, Result};
use crate::sys::overlay;
use crate::sys::path::{clean_path, open_dir_in};
use crate::trace;

/// What a path is, for the masks (which differ for directories and files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    Dir,
    File,
}

/// The system calls that build a root filesystem.
pub trait Host {
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()>;
    /// The image's layers as an overlay with a private upper.
    fn mount_overlay(&mut self, l: &Launch, target: &Path) -> Result<()>;
    /// Read-only with everything mounted below it.
    fn read_only_recursively(&mut self, target: &Path) -> nix::Result<()>;
    fn mknod(&mut self, path: &Path, kind: SFlag, mode: u32, dev: libc::dev_t) -> nix::Result<()>;
    /// Makes `root` the root and detaches the old one.
    fn pivot_root(&mut self, root: &Path) -> nix::Result<()>;
    /// What is at an absolute path of the (new) root, if anything.
    fn kind_of(&mut self, path: &Path) -> Option<PathKind>;
}

/// The real thing.
pub struct Linux;

impl Host for Linux {
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn mount_overlay(&mut self, l: &Launch, target: &Path) -> Result<()> {
        overlay::mount_overlay(
            &l.layers,
            Some(overlay::Upper {
                upper: &l.upper,
                work: &l.work,
                volatile: l.auto_remove,
            }),
            target,
            &l.root.join("empty"),
        )
    }

    fn read_only_recursively(&mut self, target: &Path) -> nix::Result<()> {
        read_only_recursively(target)
    }

    fn mknod(&mut self, path: &Path, kind: SFlag, mode: u32, dev: libc::dev_t) -> nix::Result<()> {
        nix::sys::stat::mknod(path, kind, Mode::from_bits_truncate(mode), dev)?;
        // mknod's mode is filtered by the umask.
        nix::sys::stat::fchmodat(
            None,
            path,
            Mode::from_bits_truncate(mode),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
    }

    fn pivot_root(&mut self, root: &Path) -> nix::Result<()> {
        nix::unistd::chdir(root)?;
        nix::unistd::pivot_root(".", ".")?;
        nix::mount::umount2(".", MntFlags::MNT_DETACH)?;
        nix::unistd::chdir("/")
    }

    fn kind_of(&mut self, path: &Path) -> Option<PathKind> {
        std::fs::metadata(path).ok().map(|m| {
            if m.is_dir() {
                PathKind::Dir
            } else {
                PathKind::File
            }
        })
    }
}

/// An errno from a call on `path` as an error naming both (used with map_err).
pub(super) fn sys<'a>(what: &str, path: &'a Path) -> impl Fn(nix::errno::Errno) -> Error + 'a {
    let what = what.to_string();
    move |e| Error::sys(&what, path, e)
}

const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    // Names and numbers of the host's block devices.
    "/sys/dev/block",
];
const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

const NOSUID_NODEV_NOEXEC: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// Builds the container's filesystem in its mount namespace and makes it the root.
pub fn prepare(host: &mut dyn Host, l: &Launch) -> Result<()> {
    make_private(host)?;
    mount_root(host, l)?;
    let root_dir =
        File::open(&l.mount_point).map_err(|e| Error::io("cannot open", &l.mount_point, e))?;
    if l.dir.is_none() {
        write_etc_files(&root_dir, l);
    }
    bind_hosts_file(host, &root_dir, l)?;
    bind_volumes(host, &root_dir, l)?;
    mount_tmpfs(host, &root_dir, l)?;
    mount_proc(host, &root_dir)?;
    setup_dev(host, &root_dir, &l.devices, l.shm_size)?;
    mount_sys(host, &root_dir)?;
    drop(root_dir);
    trace::step(|| {
        format!(
            "pivot_root {} (the old root is detached: no host mount stays reachable)",
            l.mount_point.display()
        )
    });
    host.pivot_root(&l.mount_point)
        .map_err(sys("cannot pivot_root to", &l.mount_point))?;
    if l.security.privileged {
        trace::step(|| "privileged: no masked or read-only paths".to_string());
        return Ok(());
    }
    mask_paths(host)
}

fn make_private(host: &mut dyn Host) -> Result<()> {
    trace::step(|| "mount --make-rprivate / (nothing propagates back to the host)".to_string());
    host.mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )
    .map_err(sys("cannot make / private", Path::new("/")))
}

/// The image's layers as an overlay, or a plain directory bound recursively.
fn mount_root(host: &mut dyn Host, l: &Launch) -> Result<()> {
    let root = &l.mount_point;
    match &l.dir {
        Some(dir) => {
            trace::step(|| format!("mount --rbind {} {}", dir.display(), root.display()));
            host.mount(
                Some(dir.as_path()),
                root,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )
            .map_err(sys("cannot bind the root directory on", root))
        }
        None => host.mount_overlay(l, root),
    }
}

/// On a bridge network /etc/hosts names the other containers, and the supervisor rewrites
/// it as they come and go: it is a file of the container's directory, bound in.
fn bind_hosts_file(host: &mut dyn Host, root: &File, l: &Launch) -> Result<()> {
    let Some(iface) = &l.interface else {
        return Ok(());
    };
    let target = mountpoint(root, "/etc/hosts", false)?;
    trace::step(|| format!("mount --bind {} /etc/hosts", iface.hosts_file.display()));
    host.mount(
        Some(&iface.hosts_file),
        &target,
        None,
        MsFlags::MS_BIND,
        None,
    )
    .map_err(sys("cannot bind /etc/hosts from", &iface.hosts_file))
}

/// Volumes: host paths bound recursively; `:ro` ones read-only with everything below them.
fn bind_volumes(host: &mut dyn Host, root: &File, l: &Launch) -> Result<()> {
    for b in &l.binds {
        let target = mountpoint(root, &b.target, b.source.is_dir())?;
        trace::step(|| {
            format!(
                "mount --rbind {} {}{}",
                b.source.display(),
                b.target,
                if b.readonly { " (read-only)" } else { "" }
            )
        });
        host.mount(
            Some(b.source.as_path()),
            &target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )
        .map_err(sys("cannot bind-mount", &b.source))?;
        if b.readonly {
            host.read_only_recursively(&target)
                .map_err(sys("cannot make read-only", &b.source))?;
        }
    }
    Ok(())
}

/// tmpfs mounts (docker --tmpfs): noexec, nosuid, nodev unless asked otherwise.
fn mount_tmpfs(host: &mut dyn Host, root: &File, l: &Launch) -> Result<()> {
    for t in &l.tmpfs {
        let target = mountpoint(root, &t.target, true)?;
        let (flags, data) = t.flags_and_data()?;
        trace::step(|| format!("mount -t tmpfs tmpfs {} ({})", t.target, t.options));
        host.mount(
            Some(Path::new("tmpfs")),
            &target,
            Some("tmpfs"),
            flags,
            Some(data.as_str()).filter(|d| !d.is_empty()),
        )
        .map_err(sys("cannot mount tmpfs on", Path::new(&t.target)))?;
    }
    Ok(())
}

fn mount_proc(host: &mut dyn Host, root: &File) -> Result<()> {
    let proc_dir = mountpoint(root, "/proc", true)?;
    trace::step(|| "mount -t proc proc /proc (a fresh view of the new PID namespace)".to_string());
    host.mount(
        Some(Path::new("proc")),
        &proc_dir,
        Some("proc"),
        NOSUID_NODEV_NOEXEC,
        None,
    )
    .map_err(sys("cannot mount /proc on", &proc_dir))
}

/// A fresh sysfs, read-only, with no submounts: even a host-network container (whose sysfs
/// shows the host's interfaces) never sees the host's debugfs, tracefs or bpffs, which a
/// recursive bind would carry along writable.
fn mount_sys(host: &mut dyn Host, root: &File) -> Result<()> {
    let sys_dir = mountpoint(root, "/sys", true)?;
    trace::step(|| "mount -t sysfs -o ro sysfs /sys".to_string());
    host.mount(
        Some(Path::new("sysfs")),
        &sys_dir,
        Some("sysfs"),
        NOSUID_NODEV_NOEXEC | MsFlags::MS_RDONLY,
        None,
    )
    .map_err(sys("cannot mount /sys on", &sys_dir))
}

/// After pivot_root: masked paths (an empty read-only tmpfs on a directory, /dev/null on a
/// file) and read-only ones.
fn mask_paths(host: &mut dyn Host) -> Result<()> {
    trace::step(|| {
        format!(
            "mask {} ; read-only {}",
            MASKED.join(" "),
            READONLY.join(" ")
        )
    });
    for p in MASKED {
        let path = Path::new(p);
        match host.kind_of(path) {
            Some(PathKind::Dir) => host
                .mount(
                    Some(Path::new("tmpfs")),
                    path,
                    Some("tmpfs"),
                    MsFlags::MS_RDONLY,
                    None,
                )
                .map_err(sys("cannot mask", path))?,
            Some(PathKind::File) => host
                .mount(
                    Some(Path::new("/dev/null")),
                    path,
                    None,
                    MsFlags::MS_BIND,
                    None,
                )
                .map_err(sys("cannot mask", path))?,
            None => {}
        }
    }
    for p in READONLY {
        let path = Path::new(p);
        if host.kind_of(path).is_some() {
            host.mount(
                Some(path),
                path,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )
            .map_err(sys("cannot bind", path))?;
            host.mount(
                None,
                path,
                None,
                MsFlags::MS_BIND
                    | MsFlags::MS_REMOUNT
                    | MsFlags::MS_RDONLY
                    | MsFlags::MS_REC
                    | NOSUID_NODEV_NOEXEC,
                None,
            )
            .map_err(sys("cannot make read-only", path))?;
        }
    }
    Ok(())
}

/// Makes a bind mount read-only with everything mounted below it (a remount alone would
/// leave the submounts of a recursive bind writable). mount_setattr is Linux 5.12; older
/// kernels get the plain remount.
fn read_only_recursively(target: &Path) -> nix::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_RDONLY: u64 = 1;
    const AT_RECURSIVE: libc::c_int = 0x8000;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let path =
        CString::new(target.as_os_str().as_bytes()).map_err(|_| nix::errno::Errno::EINVAL)?;
    // SAFETY: a NUL-terminated path and a mount_attr of the size passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = nix::errno::Errno::last();
    if e != nix::errno::Errno::ENOSYS {
        return Err(e);
    }
    nix::mount::mount(
        None::<&str>,
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC,
        None::<&str>,
    )
}

/// Creates (inside the root, resolving symlinks there) and returns a mount point.
fn mountpoint(root: &File, target: &str, dir: bool) -> Result<PathBuf> {
    let rel = clean_path(Path::new(target)).ok_or_else(|| {
        Error::new(
            Kind::Permission,
            format!("mount point {target} leads outside the container"),
        )
    })?;
    let fd = if dir {
        open_dir_in(root.as_fd(), &rel, true)
            .map_err(|e| Error::sys("cannot create mount point", Path::new(target), e))?
    } else {
        let parent = rel.parent().unwrap_or(Path::new(""));
        let name = rel.file_name().unwrap_or(OsStr::new("."));
        let pfd = open_dir_in(root.as_fd(), parent, true)
            .map_err(|e| Error::sys("cannot create mount point", Path::new(target), e))?;
        let f = nix::fcntl::openat(
            Some(pfd.as_raw_fd()),
            name,
            nix::fcntl::OFlag::O_CREAT
                | nix::fcntl::OFlag::O_WRONLY
                | nix::fcntl::OFlag::O_NOFOLLOW
                | nix::fcntl::OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .map_err(|e| Error::sys("cannot create mount point", Path::new(target), e))?;
        // SAFETY: openat just returned it.
        unsafe { OwnedFd::from_raw_fd(f) }
    };
    // The kernel resolved the path inside the root; its real name is what we mount on. No
    // other process runs in this fresh mount namespace, so it cannot change in between.
    let real = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map_err(|e| Error::io("cannot resolve mount point", Path::new(target), e))?;
    let base = std::fs::read_link(format!("/proc/self/fd/{}", root.as_raw_fd()))
        .map_err(|e| Error::io("cannot resolve root", Path::new(target), e))?;
    if !real.starts_with(&base) {
        return Err(Error::new(
            Kind::Permission,
            format!("mount point {target} resolves outside the container"),
        ));
    }
    Ok(real)
}

/// /etc/hostname and /etc/hosts for the container's own network namespace; the host's
/// resolv.conf. Written into the writable layer; a symlink there is left alone.
fn write_etc_files(root: &File, l: &Launch) {
    let Ok(etc) = open_dir_in(root.as_fd(), Path::new("etc"), true) else {
        return;
    };
    let put = |name: &str, data: &[u8]| {
        let flags = nix::fcntl::OFlag::O_CREAT
            | nix::fcntl::OFlag::O_TRUNC
            | nix::fcntl::OFlag::O_WRONLY
            | nix::fcntl::OFlag::O_NOFOLLOW
            | nix::fcntl::OFlag::O_CLOEXEC;
        if let Ok(fd) = nix::fcntl::openat(
            Some(etc.as_raw_fd()),
            name,
            flags,
            Mode::from_bits_truncate(0o644),
        ) {
            // SAFETY: openat just returned it.
            let mut f = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
            let _ = f.write_all(data);
        }
    };
    put("hostname", format!("{}\n", l.hostname).as_bytes());
    if l.network == NetworkMode::Host {
        if let Ok(hosts) = std::fs::read("/etc/hosts") {
            put("hosts", &hosts);
        }
    } else {
        put(
            "hosts",
            format!(
                "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{}\n{}",
                l.hostname,
                super::launch::extra_hosts_text(&l.extra_hosts)
            )
            .as_bytes(),
        );
    }
    if let Some(iface) = &l.interface {
        put("resolv.conf", &iface.resolv_conf);
    } else if let Ok(resolv) = std::fs::read("/etc/resolv.conf") {
        put("resolv.conf", &super::launch::with_dns(&resolv, &l.dns));
    }
}

/// The character devices every container gets: (name, major, minor).
const STANDARD_DEVICES: &[(&str, u32, u32)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// A /dev with only the standard devices and those asked for (--device).
fn setup_dev(
    host: &mut dyn Host,
    root: &File,
    devices: &[DeviceNode],
    shm_size: Option<u64>,
) -> Result<()> {
    let dev = mountpoint(root, "/dev", true)?;
    trace::step(|| {
        "mount -t tmpfs tmpfs /dev; mknod null zero full random urandom tty; devpts, shm, mqueue"
            .to_string()
    });
    host.mount(
        Some(Path::new("tmpfs")),
        &dev,
        Some("tmpfs"),
        // noexec, nosuid: nothing in /dev runs (podman's flags).
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )
    .map_err(sys("cannot mount /dev", Path::new("/dev")))?;
    for (name, major, minor) in STANDARD_DEVICES {
        let p = dev.join(name);
        host.mknod(&p, SFlag::S_IFCHR, 0o666, libc::makedev(*major, *minor))
            .map_err(sys("cannot create", &p))?;
    }
    for d in devices {
        let rel = clean_path(Path::new(d.target.trim_start_matches("/dev/"))).ok_or_else(|| {
            Error::invalid(format!("device path {} leads outside /dev", d.target))
        })?;
        let p = dev.join(&rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
        }
        let kind = match d.rule.kind {
            DeviceKind::Block => SFlag::S_IFBLK,
            _ => SFlag::S_IFCHR,
        };
        let (major, minor) = (d.rule.major.unwrap_or(0), d.rule.minor.unwrap_or(0));
        trace::step(|| format!("mknod {} ({}) (--device)", d.target, d.rule));
        host.mknod(&p, kind, d.mode, libc::makedev(major, minor))
            .map_err(sys("cannot create device", &p))?;
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
        ("core", "/proc/kcore"),
    ] {
        let p = dev.join(name);
        std::os::unix::fs::symlink(target, &p).map_err(|e| Error::io("cannot create", &p, e))?;
    }
    let shm = format!("mode=1777,size={}", shm_size.unwrap_or(64 << 20));
    for (name, fstype, flags, data) in [
        (
            "pts",
            "devpts",
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            "newinstance,ptmxmode=0666,mode=0620,gid=5",
        ),
        ("shm", "tmpfs", NOSUID_NODEV_NOEXEC, shm.as_str()),
        ("mqueue", "mqueue", NOSUID_NODEV_NOEXEC, ""),
    ] {
        let p = dev.join(name);
        std::fs::create_dir(&p).map_err(|e| Error::io("cannot create", &p, e))?;
        let data = (!data.is_empty()).then_some(data);
        host.mount(Some(Path::new(fstype)), &p, Some(fstype), flags, data)
            .map_err(sys("cannot mount", &p))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::devices::DeviceRule;
    use crate::runtime::launch::{Bind, Namespace};

    /// Writes down every call, and answers `kind_of` from a table (the new root's /proc and
    /// /sys).
    #[derive(Default)]
    struct Recorder {
        calls: Vec<String>,
        present: Vec<(&'static str, PathKind)>,
    }

    impl Recorder {
        fn rel(&self, base: &Path, p: &Path) -> String {
            p.strip_prefix(base)
                .map(|r| format!("/{}", r.display()))
                .unwrap_or_else(|_| p.display().to_string())
        }
    }

    thread_local! {
        static BASE: std::cell::RefCell<PathBuf> = const { std::cell::RefCell::new(PathBuf::new()) };
    }

    fn base() -> PathBuf {
        BASE.with(|b| b.borrow().clone())
    }

    fn flags(f: MsFlags) -> String {
        let names = [
            (MsFlags::MS_RDONLY, "ro"),
            (MsFlags::MS_NOSUID, "nosuid"),
            (MsFlags::MS_NODEV, "nodev"),
            (MsFlags::MS_NOEXEC, "noexec"),
            (MsFlags::MS_BIND, "bind"),
            (MsFlags::MS_REC, "rec"),
            (MsFlags::MS_REMOUNT, "remount"),
            (MsFlags::MS_PRIVATE, "private"),
        ];
        names
            .iter()
            .filter(|(b, _)| f.contains(*b))
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(",")
    }

    impl Host for Recorder {
        fn mount(
            &mut self,
            source: Option<&Path>,
            target: &Path,
            fstype: Option<&str>,
            f: MsFlags,
            data: Option<&str>,
        ) -> nix::Result<()> {
            let b = base();
            self.calls.push(format!(
                "mount {} {} {} [{}]{}",
                source
                    .map(|s| self.rel(&b, s))
                    .unwrap_or_else(|| "-".into()),
                self.rel(&b, target),
                fstype.unwrap_or("-"),
                flags(f),
                data.map(|d| format!(" {d}")).unwrap_or_default()
            ));
            Ok(())
        }
        fn mount_overlay(&mut self, _l: &Launch, target: &Path) -> Result<()> {
            let b = base();
            self.calls.push(format!("overlay {}", self.rel(&b, target)));
            Ok(())
        }
        fn read_only_recursively(&mut self, target: &Path) -> nix::Result<()> {
            let b = base();
            self.calls
                .push(format!("ro-recursive {}", self.rel(&b, target)));
            Ok(())
        }
        fn mknod(
            &mut self,
            path: &Path,
            kind: SFlag,
            mode: u32,
            dev: libc::dev_t,
        ) -> nix::Result<()> {
            let b = base();
            let k = if kind == SFlag::S_IFBLK { "b" } else { "c" };
            self.calls.push(format!(
                "mknod {} {k} {}:{} {mode:o}",
                self.rel(&b, path),
                libc::major(dev),
                libc::minor(dev)
            ));
            Ok(())
        }
        fn pivot_root(&mut self, root: &Path) -> nix::Result<()> {
            let b = base();
            self.calls
                .push(format!("pivot_root {}", self.rel(&b, root)));
            Ok(())
        }
        fn kind_of(&mut self, path: &Path) -> Option<PathKind> {
            self.present
                .iter()
                .find(|(p, _)| Path::new(p) == path)
                .map(|(_, k)| *k)
        }
    }

    fn launch(t: &Path) -> Launch {
        let mount_point = t.join("mnt");
        std::fs::create_dir_all(&mount_point).unwrap();
        let vol = t.join("vol");
        std::fs::create_dir_all(&vol).unwrap();
        Launch {
            id: "abc".into(),
            root: t.to_path_buf(),
            layers: vec![],
            dir: None,
            upper: t.join("upper"),
            work: t.join("work"),
            mount_point,
            namespaces: vec![Namespace::Mount, Namespace::Pid, Namespace::Net],
            hostname: "box".into(),
            argv: vec!["true".into()],
            env: vec![],
            workdir: "/".into(),
            user: None,
            binds: vec![Bind {
                source: vol,
                target: "/data".into(),
                readonly: true,
            }],
            limits: Default::default(),
            network: NetworkMode::None,
            auto_remove: false,
            tty: false,
            publish: vec![],
            security: Default::default(),
            devices: vec![DeviceNode {
                target: "/dev/fuse".into(),
                rule: DeviceRule::parse("c 10:229 rwm").unwrap(),
                mode: 0o666,
            }],
            tmpfs: vec![super::super::launch::Tmpfs::parse("/scratch:size=1m,exec").unwrap()],
            restart: None,
            health: None,
            network_aliases: vec![],
            extra_hosts: vec![],
            dns: vec![],
            shm_size: None,
            ulimits: vec![],
            interface: None,
        }
    }

    fn prepared(l: &Launch, t: &Path) -> Vec<String> {
        BASE.with(|b| *b.borrow_mut() = t.join("mnt"));
        let mut r = Recorder {
            present: vec![
                ("/proc/kcore", PathKind::File),
                ("/proc/acpi", PathKind::Dir),
                ("/sys/dev/block", PathKind::Dir),
                ("/proc/sys", PathKind::Dir),
            ],
            ..Default::default()
        };
        prepare(&mut r, l).unwrap();
        r.calls
    }

    #[test]
    fn a_root_filesystem_step_by_step() {
        let t = tempfile::tempdir().unwrap();
        let l = launch(t.path());
        let calls = prepared(&l, t.path());
        let at = |needle: &str| {
            calls
                .iter()
                .position(|c| c.starts_with(needle))
                .unwrap_or_else(|| panic!("no {needle:?} in {calls:#?}"))
        };
        assert_eq!(
            calls[0], "mount - / - [rec,private]",
            "nothing propagates to the host"
        );
        assert_eq!(calls[1], "overlay /");
        assert_eq!(
            calls[at("mount proc ")],
            "mount proc /proc proc [nosuid,nodev,noexec]"
        );
        assert!(
            calls[at("ro-recursive /data")].ends_with("/data"),
            ":ro volumes, submounts too"
        );
        assert_eq!(
            calls[at("mount tmpfs /scratch ")],
            "mount tmpfs /scratch tmpfs [nosuid,nodev] size=1m",
            "--tmpfs: nosuid and nodev kept, exec as asked"
        );
        assert_eq!(
            calls[at("mount tmpfs /dev ")],
            "mount tmpfs /dev tmpfs [nosuid,noexec] mode=755,size=65536k",
            "/dev: nothing in it runs"
        );
        for dev in [
            "null c 1:3",
            "zero c 1:5",
            "full c 1:7",
            "random c 1:8",
            "urandom c 1:9",
            "tty c 5:0",
        ] {
            let name = dev.split(' ').next().unwrap_or("");
            assert!(
                calls.contains(&format!("mknod /dev/{name} {} 666", &dev[name.len() + 1..])),
                "{dev}: {calls:#?}"
            );
        }
        assert!(
            calls.contains(&"mknod /dev/fuse c 10:229 666".to_string()),
            "--device"
        );
        assert_eq!(
            calls.iter().filter(|c| c.starts_with("mknod")).count(),
            7,
            "no other device"
        );
        assert_eq!(
            calls[at("mount sysfs")],
            "mount sysfs /sys sysfs [ro,nosuid,nodev,noexec]"
        );
        let pivot = at("pivot_root");
        assert!(
            pivot > at("mount sysfs") && pivot > at("mount mqueue"),
            "every mount first"
        );
        // After the pivot: the masks, in the new root.
        assert_eq!(
            calls[at("mount /dev/null /proc/kcore")],
            "mount /dev/null /proc/kcore - [bind]"
        );
        assert_eq!(
            calls[at("mount tmpfs /proc/acpi")],
            "mount tmpfs /proc/acpi tmpfs [ro]"
        );
        assert!(calls.contains(&"mount tmpfs /sys/dev/block tmpfs [ro]".to_string()));
        assert!(calls.contains(
            &"mount - /proc/sys - [ro,nosuid,nodev,noexec,bind,rec,remount]".to_string()
        ));
        assert!(at("mount /dev/null /proc/kcore") > pivot);
        assert!(
            !calls.iter().any(|c| c.contains("/proc/keys")),
            "absent paths are skipped"
        );
        // Mount points were made inside the root.
        assert!(t.path().join("mnt/data").is_dir());
        assert!(t.path().join("mnt/etc/hostname").is_file());
    }

    #[test]
    fn privileged_masks_nothing() {
        let t = tempfile::tempdir().unwrap();
        let mut l = launch(t.path());
        l.security.privileged = true;
        let calls = prepared(&l, t.path());
        let pivot = calls
            .iter()
            .position(|c| c.starts_with("pivot_root"))
            .unwrap();
        assert_eq!(
            pivot,
            calls.len() - 1,
            "nothing after the pivot: {calls:#?}"
        );
    }

    #[test]
    fn a_directory_root_is_bound_and_gets_no_etc_files() {
        let t = tempfile::tempdir().unwrap();
        let mut l = launch(t.path());
        let dir = t.path().join("rootfs");
        std::fs::create_dir_all(&dir).unwrap();
        l.dir = Some(dir);
        l.binds.clear();
        let calls = prepared(&l, t.path());
        assert!(
            calls[1].starts_with("mount ") && calls[1].ends_with("/ - [bind,rec]"),
            "{}",
            calls[1]
        );
        assert!(!t.path().join("mnt/etc/hostname").exists());
    }

    #[test]
    fn a_volume_target_cannot_climb_out_of_the_root() {
        let t = tempfile::tempdir().unwrap();
        let mut l = launch(t.path());
        l.binds[0].target = "/../../outside".into();
        BASE.with(|b| *b.borrow_mut() = t.path().join("mnt"));
        let e = prepare(&mut Recorder::default(), &l).unwrap_err();
        assert_eq!(e.kind(), Kind::Permission, "{e}");
        assert!(!t.path().join("outside").exists());
    }
}
