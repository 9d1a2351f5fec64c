//! The process model: who starts whom, and what crosses each pipe.
//!
//! ```text
//!  caller (REPL, script, verb)
//!    │  exec /proc/self/exe __shim '{ShimArgs}'        fd 3: status pipe ──▶ ShimMessage
//!    ▼                                                        (Started{pid} | Failed(WireError))
//!  supervisor (__shim; detached: double fork + setsid, outlives the caller)
//!    │  clone3(CLONE_NEW*, CLONE_INTO_CGROUP on v2)    `go` pipe  ──▶ one byte: start
//!    ▼                                                 `err` pipe ◀── WireError, or EOF at
//!  init (PID 1 of the container)                                      execve (close-on-exec)
//!       rootfs, /dev, /proc, /sys, pivot_root ─ waits for go ─ cgroupns, cgroup view,
//!       keyring, capabilities, no_new_privs, seccomp ─ execve(the command)
//!       console socket (tty only) ──▶ the pty master, by SCM_RIGHTS
//!
//!  caller
//!    │  exec /proc/self/exe __exec '{ExecArgs}'        fd 3: status pipe ──▶ WireError, or
//!    ▼                                                        EOF when the command runs
//!  exec helper: non-dumpable; joins the cgroup and the namespaces; fork
//!    ▼
//!  the command (in the container's PID namespace): keyring, capabilities, no_new_privs,
//!       seccomp ─ execve. stdout/stderr: the caller's, or pipes it captures.
//! ```
//!
//!  caller
//!    │  exec /proc/self/exe __copy '{CopyArgs}'        fd 3: status pipe ──▶ CopyMessage
//!    ▼                                                        (Done{entries,bytes} | Failed)
//!  copy helper: a private mount namespace where an exited container's or an image's
//!       overlay is mounted; copies between two roots, every path resolved inside its root
//!
//! Every descriptor above stderr that the caller might have leaked is closed on entry to the
//! supervisor and the exec helper, and again in the init, before any path is resolved.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::exec::ExecRequest;
use crate::error::{Error, Kind, Result, WireError};

/// The supervisor's arguments: `__shim '{ShimArgs}'`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimArgs {
    pub root: PathBuf,
    pub id: String,
    pub detach: bool,
}

/// The exec helper's arguments: `__exec '{ExecArgs}'`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecArgs {
    pub root: PathBuf,
    pub id: String,
    /// The container's init, whose namespaces are joined.
    pub pid: i32,
    pub request: ExecRequest,
}

/// What the supervisor tells its caller on descriptor 3, once: the container's init is
/// running (with its pid), or it could not be started and why.
#[derive(Debug, Serialize, Deserialize)]
pub enum ShimMessage {
    Started { pid: i32 },
    Failed(WireError),
}

/// The internal entry points, as `main` dispatches them.
pub const SHIM: &str = "__shim";
pub const EXEC: &str = "__exec";
pub const COPY: &str = "__copy";

/// A command line for one of this binary's internal helpers: the entry point and its
/// arguments as one JSON word.
pub fn helper_command(helper: &Path, entry: &str, args: &impl Serialize) -> Result<Command> {
    let json = serde_json::to_string(args)
        .map_err(|e| Error::with_source(Kind::Io, "cannot encode the helper's arguments", e))?;
    let mut cmd = Command::new(helper);
    cmd.arg(entry).arg(json);
    if crate::trace::enabled() {
        cmd.env("GOCKER_TRACE", "1");
    }
    Ok(cmd)
}

/// Reads a helper's arguments back.
pub fn parse_args<T: serde::de::DeserializeOwned>(entry: &str, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| {
        Error::with_source(
            Kind::InvalidArgument,
            format!("bad arguments for {entry} (an internal entry point)"),
            e,
        )
    })
}

/// The read end of a status pipe whose write end the child gets as descriptor 3.
pub struct StatusPipe {
    read: OwnedFd,
    write: Option<OwnedFd>,
}

impl StatusPipe {
    /// Makes the pipe and arranges for `cmd`'s child to find the write end on descriptor 3.
    pub fn attach(cmd: &mut Command) -> Result<StatusPipe> {
        use std::os::unix::process::CommandExt;
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::sys("cannot create a status pipe", Path::new("pipe"), e))?;
        let wfd = write.as_raw_fd();
        // SAFETY: between fork and exec only async-signal-safe calls (dup2).
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(wfd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(StatusPipe {
            read,
            write: Some(write),
        })
    }

    /// Once the child is spawned: our copy of the write end goes, and what the child (and
    /// whatever inherited the descriptor) writes is read until all of them close it.
    pub fn read_all(mut self) -> String {
        drop(self.write.take());
        let mut text = String::new();
        let _ = File::from(self.read).read_to_string(&mut text);
        text
    }
}

/// The status pipe as a helper sees it: descriptor 3, close-on-exec, written once.
pub struct StatusWriter(Option<File>);

impl StatusWriter {
    /// Takes descriptor 3 and closes every other descriptor above stderr, before anything
    /// else: nothing the caller leaked may reach a container (CVE-2024-21626).
    pub fn take() -> StatusWriter {
        crate::runtime::security::close_fds_from(4);
        // SAFETY: fcntl on descriptor 3, which the caller gave us.
        let ok = unsafe { libc::fcntl(3, libc::F_SETFD, libc::FD_CLOEXEC) } == 0;
        // SAFETY: descriptor 3 is ours (checked just above) and nothing else owns it.
        StatusWriter(
            ok.then(|| File::from(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(3) })),
        )
    }

    pub fn send(&mut self, message: &impl Serialize) {
        use std::io::Write;
        if let Some(mut f) = self.0.take() {
            if let Ok(text) = serde_json::to_vec(message) {
                let _ = f.write_all(&text);
            }
        }
    }

    /// The raw descriptor, for a forked child to report through (it is close-on-exec).
    pub fn raw(&self) -> Option<i32> {
        self.0.as_ref().map(|f| f.as_raw_fd())
    }
}
