//! Starting a container's first process: clone3 into new namespaces and, on cgroup v2,
//! straight into the container's cgroup (CLONE_INTO_CGROUP, Linux 5.7+). A process born
//! in its cgroup never runs a single instruction outside its limits and costs no migration.
//! Older kernels and cgroup v1 get a plain clone; the caller then moves the child.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::sched::CloneFlags;
use nix::unistd::Pid;

use crate::error::{Error, Kind, Result};

/// Where the child started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Already in the cgroup it was asked into.
    InCgroup,
    /// In the caller's cgroup: move it before it runs the container's code.
    Outside,
}

/// Forks a child into new namespaces (`flags`), in `cgroup` when given and the kernel can.
/// The child runs `child` and exits with its status; it never returns into the caller's
/// frames.
///
/// # Safety
/// The calling process must be single-threaded (as after fork): the child is a copy of it
/// with one thread, and `child` may only use what such a copy can.
pub unsafe fn clone_child(
    flags: CloneFlags,
    cgroup: Option<BorrowedFd>,
    child: impl FnOnce() -> i32,
) -> Result<(Pid, Placement)> {
    let mut placement = Placement::Outside;
    // SAFETY: clone3 without CLONE_VM is a fork: the child gets a copy of our memory and
    // continues from here with a return value of 0.
    let mut rc = match cgroup {
        Some(fd) => {
            let rc = unsafe { clone3(flags, Some(fd.as_raw_fd())) };
            match rc {
                // E2BIG: a kernel that predates the cgroup field; EINVAL/EOPNOTSUPP: one that
                // cannot place into this cgroup.
                Err(libc::E2BIG) | Err(libc::EINVAL) | Err(libc::EOPNOTSUPP) => unsafe {
                    clone3(flags, None)
                },
                Ok(pid) => {
                    placement = Placement::InCgroup;
                    Ok(pid)
                }
                other => other,
            }
        }
        None => unsafe { clone3(flags, None) },
    };
    if rc == Err(libc::ENOSYS) {
        // Before Linux 5.3: the classic clone, fork-like with no new stack.
        // SAFETY: as above; a null stack means "continue on a copy of this one".
        let r = unsafe {
            libc::syscall(
                libc::SYS_clone,
                flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
        rc = if r < 0 {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        } else {
            Ok(r as i32)
        };
    }
    match rc {
        Ok(0) => {
            let code = child();
            // SAFETY: the child leaves without running the parent's destructors or atexit.
            unsafe { libc::_exit(code) }
        }
        Ok(pid) => Ok((Pid::from_raw(pid), placement)),
        Err(errno) => Err(Error::with_source(
            Kind::Runtime,
            "cannot clone the container's init",
            std::io::Error::from_raw_os_error(errno),
        )),
    }
}

/// Linux 5.7's flag; libc's constant is an overflowing c_int.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// clone3 with SIGCHLD as the exit signal; Ok(0) in the child.
unsafe fn clone3(flags: CloneFlags, cgroup: Option<i32>) -> std::result::Result<i32, i32> {
    // SAFETY: clone_args is plain data; all-zero is its "nothing asked" value.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = flags.bits() as u64;
    args.exit_signal = libc::SIGCHLD as u64;
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: args lives across the call and its size is passed with it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(r as i32)
    }
}

/// The flags' names, for the trace and for errors.
pub fn flag_names(f: CloneFlags) -> String {
    let names = [
        (CloneFlags::CLONE_NEWPID, "CLONE_NEWPID"),
        (CloneFlags::CLONE_NEWNS, "CLONE_NEWNS"),
        (CloneFlags::CLONE_NEWUTS, "CLONE_NEWUTS"),
        (CloneFlags::CLONE_NEWIPC, "CLONE_NEWIPC"),
        (CloneFlags::CLONE_NEWNET, "CLONE_NEWNET"),
        (CloneFlags::CLONE_NEWCGROUP, "CLONE_NEWCGROUP"),
    ];
    let v: Vec<&str> = names
        .iter()
        .filter(|(b, _)| f.contains(*b))
        .map(|(_, n)| *n)
        .collect();
    v.join("|")
}
