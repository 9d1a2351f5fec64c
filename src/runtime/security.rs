//! Process hardening applied just before a container process execs: Docker's default
//! capability set, no_new_privs, and no inherited file descriptors.

use caps::{CapSet, Capability, CapsHashSet};

use crate::error::{Error, Kind, Result};

/// Docker's default capabilities.
pub const DEFAULT_CAPS: &[Capability] = &[
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

fn caps_err(what: &str, e: caps::errors::CapsError) -> Error {
    Error::new(Kind::Permission, format!("cannot {what}: {e}"))
}

/// Drops every capability outside Docker's default set from the bounding set (so no exec can
/// regain them), then limits the process's own sets to it.
pub fn drop_capabilities() -> Result<()> {
    let keep: CapsHashSet = DEFAULT_CAPS.iter().copied().collect();
    for cap in caps::all() {
        if !keep.contains(&cap) {
            // Caps the kernel does not know fail with EINVAL; nothing to drop then.
            let _ = caps::drop(None, CapSet::Bounding, cap);
        }
    }
    caps::set(None, CapSet::Inheritable, &CapsHashSet::new())
        .map_err(|e| caps_err("clear inheritable capabilities", e))?;
    let _ = caps::clear(None, CapSet::Ambient);
    caps::set(None, CapSet::Effective, &keep)
        .map_err(|e| caps_err("set effective capabilities", e))?;
    caps::set(None, CapSet::Permitted, &keep)
        .map_err(|e| caps_err("set permitted capabilities", e))?;
    Ok(())
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

/// Marks every descriptor above stderr close-on-exec, so none of the host's leaks into the
/// container (CVE-2024-21626 leaked a host directory descriptor as the cwd).
pub fn close_inherited_fds() -> Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on descriptors.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    // Older kernels: walk /proc/self/fd.
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| Error::with_source(Kind::Io, "cannot list open descriptors", e))?
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: setting FD_CLOEXEC on a descriptor number; a stale number just fails.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}
