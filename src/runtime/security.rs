//! Process hardening for container processes (the init and `exec`'s alike), in the order the
//! last stage applies it: no inherited descriptors, a fresh session keyring, the capability
//! set, no_new_privs; seccomp (runtime::seccomp) comes last, just before execve.

use caps::{CapSet, Capability, CapsHashSet};
use serde::{Deserialize, Serialize};

use super::devices::{self, DeviceKind, DeviceRule};
use crate::error::{Error, Kind, Result};

/// How a container is confined, as asked for (Docker's --privileged, --cap-add/--cap-drop,
/// --security-opt, --read-only, --device) and stored with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Security {
    /// Every capability, every device, no seccomp filter, no masked paths.
    #[serde(default)]
    pub privileged: bool,
    #[serde(default)]
    pub cap_add: Vec<String>,
    #[serde(default)]
    pub cap_drop: Vec<String>,
    #[serde(default)]
    pub seccomp: SeccompProfile,
    /// The root filesystem is mounted read-only (volumes keep their own mode).
    #[serde(default)]
    pub read_only: bool,
    /// Host devices made available inside (docker run --device).
    #[serde(default)]
    pub devices: Vec<DeviceRequest>,
}

impl SeccompProfile {
    /// "default", "unconfined", or the path of a profile in Docker's JSON format (read now:
    /// the container keeps the profile it was created with).
    pub fn parse(text: &str) -> Result<SeccompProfile> {
        match text {
            "default" | "" => Ok(SeccompProfile::Default),
            "unconfined" => Ok(SeccompProfile::Unconfined),
            path => {
                let json = std::fs::read_to_string(path).map_err(|e| {
                    Error::io("cannot read seccomp profile", std::path::Path::new(path), e)
                })?;
                // Checked now, so a bad profile is an error where it is named.
                super::seccomp::Profile::from_json(&json).map_err(|e| {
                    Error::new(e.kind(), format!("seccomp profile {path}: {}", e.message()))
                })?;
                Ok(SeccompProfile::Custom {
                    path: path.to_string(),
                    json,
                })
            }
        }
    }
}

/// `--device HOST[:CONTAINER][:PERMISSIONS]`: a host device node, created at CONTAINER
/// (default: the same path) and allowed with PERMISSIONS (default rwm).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceRequest {
    pub host: String,
    pub target: String,
    pub access: String,
}

impl DeviceRequest {
    pub fn parse(text: &str) -> Result<DeviceRequest> {
        let bad = |why: &str| {
            Error::invalid(format!(
                "invalid device {text:?}: {why} (use e.g. \"/dev/fuse\", \"/dev/loop0:/dev/loop0:rw\")"
            ))
        };
        let parts: Vec<&str> = text.split(':').collect();
        let is_access = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
        let (host, target, access) = match parts.as_slice() {
            [h] => (*h, *h, "rwm"),
            [h, a] if is_access(a) => (*h, *h, *a),
            [h, t] => (*h, *t, "rwm"),
            [h, t, a] => (*h, *t, *a),
            _ => return Err(bad("too many ':'")),
        };
        if !host.starts_with('/') || !target.starts_with("/dev/") {
            return Err(bad(
                "the host path must be absolute and the container path under /dev",
            ));
        }
        if !is_access(access) {
            return Err(bad("permissions are letters of rwm"));
        }
        Ok(DeviceRequest {
            host: host.to_string(),
            target: target.to_string(),
            access: access.to_string(),
        })
    }
}

/// A device node the init creates in the container's /dev, and the rule that lets it be
/// opened; resolved from a `DeviceRequest` when the container is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceNode {
    pub target: String,
    pub rule: DeviceRule,
    /// Permission bits of the host node.
    pub mode: u32,
}

impl DeviceNode {
    /// Reads the host node's type and numbers.
    pub fn resolve(req: &DeviceRequest) -> Result<DeviceNode> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let path = std::path::Path::new(&req.host);
        let meta = std::fs::metadata(path).map_err(|e| Error::io("cannot find device", path, e))?;
        let kind = if meta.file_type().is_char_device() {
            DeviceKind::Char
        } else if meta.file_type().is_block_device() {
            DeviceKind::Block
        } else {
            return Err(Error::invalid(format!(
                "{} is not a device node (a character or block device)",
                req.host
            )));
        };
        let rdev = meta.rdev();
        Ok(DeviceNode {
            target: req.target.clone(),
            rule: DeviceRule {
                allow: true,
                kind,
                major: Some(libc::major(rdev)),
                minor: Some(libc::minor(rdev)),
                access: req.access.clone(),
            },
            mode: meta.mode() & 0o7777,
        })
    }
}

/// The device rules of a container's cgroup: every device when privileged, else the
/// standard allow-list plus the devices asked for.
pub fn device_rules(privileged: bool, nodes: &[DeviceNode]) -> Vec<DeviceRule> {
    if privileged {
        return vec![DeviceRule::all(true)];
    }
    let mut rules = devices::default_rules();
    rules.extend(nodes.iter().map(|n| n.rule.clone()));
    rules
}

/// Which seccomp filter a container gets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum SeccompProfile {
    /// Docker's default profile.
    #[default]
    Default,
    /// No filter (seccomp=unconfined).
    Unconfined,
    /// A profile in Docker's JSON format, read when the container was created.
    Custom { path: String, json: String },
}

/// The capabilities a container keeps by default: Docker's set without NET_RAW, MKNOD and
/// AUDIT_WRITE, as podman does. Without MKNOD device nodes are made by the runtime only
/// (the device rules guard opening them); without NET_RAW there is no packet spoofing on a
/// shared bridge.
pub const DEFAULT_CAPS: &[Capability] = &[
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
];

/// Parses a capability name as Docker takes it: "NET_ADMIN", "cap_net_admin", or "ALL".
pub fn parse_capability(name: &str) -> Result<Option<Capability>> {
    use std::str::FromStr;
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(None);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    Capability::from_str(&full).map(Some).map_err(|_| {
        Error::invalid(format!(
            "unknown capability {name:?}: use a name such as NET_ADMIN or SYS_PTRACE, or ALL"
        ))
    })
}

/// The capability set of a container: the defaults (or every capability when privileged),
/// plus `add`, minus `drop`, in Docker's order (drop ALL then add keeps only what is added).
pub fn capability_set(privileged: bool, add: &[String], drop: &[String]) -> Result<CapsHashSet> {
    // "All" is all this process can hand on: a runtime that was itself started without
    // some capability cannot grant it.
    let all: CapsHashSet = caps::read(None, CapSet::Permitted).unwrap_or_else(|_| caps::all());
    let mut set: CapsHashSet = if privileged {
        all.clone()
    } else {
        DEFAULT_CAPS.iter().copied().collect()
    };
    let drops: Vec<Option<Capability>> = drop
        .iter()
        .map(|n| parse_capability(n))
        .collect::<Result<_>>()?;
    let adds: Vec<Option<Capability>> = add
        .iter()
        .map(|n| parse_capability(n))
        .collect::<Result<_>>()?;
    // Docker: --cap-add ALL is every capability but those dropped; otherwise drops first
    // (ALL clears the set), then adds.
    if adds.contains(&None) {
        set = all;
        for c in drops.iter().flatten() {
            set.remove(c);
        }
        return Ok(set);
    }
    for d in &drops {
        match d {
            None => set.clear(),
            Some(c) => {
                set.remove(c);
            }
        }
    }
    set.extend(adds.into_iter().flatten());
    Ok(set)
}

/// Capability names, sorted, as the trace and seccomp's conditions know them.
pub fn capability_names(set: &CapsHashSet) -> Vec<String> {
    let mut v: Vec<String> = set.iter().map(|c| c.to_string()).collect();
    v.sort();
    v
}

fn caps_err(what: &str, e: caps::errors::CapsError) -> Error {
    Error::new(Kind::Permission, format!("cannot {what}: {e}"))
}

/// Drops every capability outside `keep` from the bounding set, so no exec can regain them.
pub fn drop_bounding(keep: &CapsHashSet) -> Result<()> {
    for cap in caps::all() {
        if !keep.contains(&cap) {
            // Caps the kernel does not know fail with EINVAL; nothing to drop then.
            let _ = caps::drop(None, CapSet::Bounding, cap);
        }
    }
    Ok(())
}

/// PR_SET_KEEPCAPS: keep the permitted set across the change from root to another uid.
pub fn keep_caps(on: bool) -> Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(Error::with_source(
            Kind::Permission,
            "cannot set PR_SET_KEEPCAPS",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Limits the process's own sets to `keep` (after the identity change).
pub fn set_capabilities(keep: &CapsHashSet) -> Result<()> {
    caps::set(None, CapSet::Inheritable, &CapsHashSet::new())
        .map_err(|e| caps_err("clear inheritable capabilities", e))?;
    let _ = caps::clear(None, CapSet::Ambient);
    // Permitted first when shrinking is not possible the other way round: effective must
    // stay a subset of permitted at every step.
    caps::set(None, CapSet::Effective, keep)
        .map_err(|e| caps_err("set effective capabilities", e))?;
    caps::set(None, CapSet::Permitted, keep)
        .map_err(|e| caps_err("set permitted capabilities", e))?;
    Ok(())
}

/// Every signal back to its default action, none blocked: what this Rust process ignores
/// (SIGPIPE, which Rust's runtime ignores) or blocks would otherwise pass to the container's
/// program through execve, and `yes | head` would never end.
pub fn reset_signals() {
    // The kernel's own rt_sigaction: the C library refuses the two real-time signals it
    // keeps for itself (32, 33), which a caller may still have left ignored.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: a sigaction of the kernel's layout and its mask's size (8 bytes); it runs
        // no code, and numbers the kernel refuses just fail.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &default as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
    }
    // SAFETY: an empty set, filled by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// No exec can gain privileges (setuid binaries, file capabilities) from here on.
pub fn no_new_privs() -> Result<()> {
    // SAFETY: prctl with integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(Error::with_source(
            Kind::Permission,
            "cannot set no_new_privs",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Makes the process non-dumpable: other processes (those of the container included) can no
/// longer open its /proc/PID/exe or memory. This is the defence against runc's
/// CVE-2019-5736, where a container overwrote the runtime binary through /proc/PID/exe of a
/// runtime process that had joined it.
pub fn non_dumpable() -> Result<()> {
    // SAFETY: prctl with integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if rc != 0 {
        return Err(Error::with_source(
            Kind::Permission,
            "cannot make the process non-dumpable",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Closes every descriptor from `first` up. A descriptor leaked by whoever started us must
/// not reach a container: runc's CVE-2024-21626 let a leaked host directory descriptor
/// become the container's working directory (`/proc/self/fd/N`), a way out of its root.
pub fn close_fds_from(first: i32) {
    close_range(first as u32, u32::MAX);
}

/// Closes every descriptor above stderr except `keep`. Allocates nothing: it runs in a
/// freshly cloned child.
pub fn close_fds_except(keep: &[i32]) {
    let mut from = 3u32;
    loop {
        let next = keep
            .iter()
            .filter(|fd| **fd >= 0 && **fd as u32 >= from)
            .map(|fd| *fd as u32)
            .min();
        match next {
            Some(fd) => {
                if fd > from {
                    close_range(from, fd - 1);
                }
                from = fd + 1;
            }
            None => return close_range(from, u32::MAX),
        }
    }
}

fn close_range(first: u32, last: u32) {
    if close_range_syscall(first, last, 0) {
        return;
    }
    // Kernels before 5.9: walk /proc/self/fd (the directory's own descriptor fails to
    // close once listed and gone, harmlessly).
    for fd in open_fds().unwrap_or_default() {
        if (first..=last).contains(&fd) {
            // SAFETY: closing a descriptor of this process; the caller owns them all.
            unsafe { libc::close(fd as i32) };
        }
    }
}

/// Marks every descriptor above stderr close-on-exec: the last guard before execve, for
/// anything opened since the descriptors were closed.
pub fn cloexec_fds() -> Result<()> {
    if close_range_syscall(3, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) {
        return Ok(());
    }
    for fd in open_fds()?.into_iter().filter(|fd| *fd > 2) {
        // SAFETY: setting FD_CLOEXEC on a descriptor number; a stale number just fails.
        unsafe { libc::fcntl(fd as i32, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// close_range(2) (Linux 5.9); false where the kernel lacks it.
fn close_range_syscall(first: u32, last: u32, flags: libc::c_uint) -> bool {
    // SAFETY: close_range only closes (or flags) descriptors of this process, whose owner
    // asked for it.
    unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) == 0 }
}

/// The descriptors this process has open, from /proc/self/fd.
fn open_fds() -> Result<Vec<u32>> {
    Ok(std::fs::read_dir("/proc/self/fd")
        .map_err(|e| Error::with_source(Kind::Io, "cannot list open descriptors", e))?
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect())
}

/// Joins a new anonymous session keyring: the caller's session keyring (its keys, tokens,
/// credentials) is otherwise shared with every process of the container. podman does the
/// same per container.
pub fn fresh_session_keyring() -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl with a null name: the kernel makes an anonymous keyring.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        // Kernels built without keys have nothing to share.
        if e.raw_os_error() == Some(libc::ENOSYS) {
            return Ok(());
        }
        return Err(Error::with_source(
            Kind::Runtime,
            "cannot join a fresh session keyring",
            e,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(set: &CapsHashSet) -> u64 {
        set.iter().fold(0, |m, c| m | c.bitmask())
    }

    #[test]
    fn default_set_is_podmans() {
        let set = capability_set(false, &[], &[]).unwrap();
        assert_eq!(
            mask(&set),
            0x8004_05fb,
            "Docker's minus NET_RAW, MKNOD, AUDIT_WRITE"
        );
    }

    #[test]
    fn add_and_drop_as_docker() {
        let set = capability_set(false, &["net_raw".into()], &["CAP_CHOWN".into()]).unwrap();
        assert!(set.contains(&Capability::CAP_NET_RAW));
        assert!(!set.contains(&Capability::CAP_CHOWN));
        let only = capability_set(false, &["KILL".into()], &["ALL".into()]).unwrap();
        assert_eq!(only.len(), 1);
        let all = capability_set(true, &[], &[]).unwrap();
        assert!(all.contains(&Capability::CAP_SYS_ADMIN));
        let most = capability_set(false, &["ALL".into()], &["SYS_ADMIN".into()]).unwrap();
        assert!(
            !most.contains(&Capability::CAP_SYS_ADMIN),
            "add ALL keeps the drops"
        );
        assert!(most.contains(&Capability::CAP_NET_ADMIN));
        let e = capability_set(false, &["FLY".into()], &[]).unwrap_err();
        assert!(e.message().contains("unknown capability \"FLY\""), "{e}");
    }

    #[test]
    fn closing_keeps_what_is_asked() {
        // Run in a child: closing descriptors under the test harness would be rude.
        // SAFETY: the child only makes syscalls and exits.
        match unsafe { libc::fork() } {
            0 => {
                // SAFETY (all below): plain syscalls on descriptors this child owns.
                let fds =
                    [0; 4].map(|_| unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) });
                close_fds_except(&[fds[3], fds[1]]);
                let open = |fd: i32| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0;
                let ok = !open(fds[0]) && open(fds[1]) && !open(fds[2]) && open(fds[3]);
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            pid => {
                let mut status = 0;
                unsafe { libc::waitpid(pid, &mut status, 0) };
                assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
            }
        }
    }
}
