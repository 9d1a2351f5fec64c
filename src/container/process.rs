//! The process model: who starts whom, and what crosses each pipe.
//!
//! ```text
//!  caller (REPL, script, verb)
//!    │  exec gocker-shim __shim '{ShimArgs}'           fd 3: status pipe ──▶ ShimMessage lines
//!    │                                    (Started{pid} | Failed(WireError); then, foreground:
//!    │                                     Exited{code} once recorded, before files are removed)
//!    │  or, before the container exists (EarlySupervisor: the `run` verb's, and a script's
//!    │  runs after its first, each started during the run before; a detached one double-forks
//!    │  at once): posix_spawn gocker-shim __shim-early '{EarlyShimArgs}'
//!    ▼      fd 4: assignment pipe ◀── the container's id, one line (EOF: none); fd 3 as above
//!  supervisor (__shim; detached: double fork + setsid, outlives the caller)
//!    │  clone3(CLONE_NEW*, CLONE_INTO_CGROUP on v2)    `go` pipe  ──▶ one byte: start
//!    ▼                                                 `err` pipe ◀── WireError, or EOF at
//!  init (PID 1 of the container)                                      execve (close-on-exec)
//!       rootfs, /dev, /proc, /sys, pivot_root ─ waits for go ─ cgroupns, cgroup view,
//!       keyring, capabilities, no_new_privs, seccomp ─ execve(the command)
//!       console socket (tty only) ──▶ the pty master, by SCM_RIGHTS
//!
//!  caller
//!    │  exec gocker-shim __exec '{ExecArgs}'           fd 3: status pipe ──▶ WireError, or
//!    │  (not captured, from a single-threaded caller: fork, then the same entry point)
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

/// An early supervisor's arguments: `__shim-early '{EarlyShimArgs}'`. It is started before
/// its container exists, while the caller still compiles, resolves and records (see
/// `container::EarlySupervisor`), and learns the container's id on descriptor 4: then it is a
/// supervisor as `__shim` starts one. EOF there instead: nothing to supervise, it ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EarlyShimArgs {
    pub root: PathBuf,
    pub detach: bool,
    /// The CPUs its caller may run on: it was started on the others (see
    /// `sys::cpu::steer_away`) and may use all of these again.
    #[serde(default)]
    pub cpus: Vec<usize>,
    /// Its container is expected on a bridge network: it makes a veth pair ahead too.
    #[serde(default)]
    pub bridged: bool,
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
    Started {
        pid: i32,
    },
    Failed(WireError),
    /// A foreground container ended with this status and is recorded (a --rm one removed
    /// from the store; its files may still be going): the caller need not wait for the
    /// supervisor itself.
    Exited {
        code: i32,
    },
}

/// The internal entry points, as `main` dispatches them.
pub const SHIM: &str = "__shim";
pub const SHIM_EARLY: &str = "__shim-early";
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

/// Runs an internal entry point when `args` (a program's whole command line) names one:
/// the container supervisor, the exec helper or the copy helper, each `ENTRY '{json}'`. None
/// for any other command line. Both programs run them: gocker-script, and the small
/// gocker-shim that supervisors and exec helpers are started from (see `helper_program`).
/// They run before anything else, single-threaded.
pub fn internal_entry(args: &[String]) -> Option<i32> {
    let (entry, json) = match args {
        [_, entry, json] if [SHIM, SHIM_EARLY, EXEC, COPY].contains(&entry.as_str()) => {
            (entry.as_str(), json)
        }
        _ => return None,
    };
    crate::trace::set(std::env::var_os("GOCKER_TRACE").is_some());
    let parsed = || -> Result<i32> {
        Ok(match entry {
            SHIM => super::shim::main(&parse_args(entry, json)?),
            SHIM_EARLY => super::shim::main_early(&parse_args(entry, json)?),
            EXEC => super::exec::helper_main(&parse_args(entry, json)?),
            _ => super::copy::helper_main(&parse_args(entry, json)?),
        })
    };
    Some(parsed().unwrap_or_else(|e| {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "gocker-script: {}", e.chain());
        125
    }))
}

/// The program a supervisor or exec helper is started from: gocker-shim beside `program`
/// (gocker-script) when it is installed there. It holds only these helpers, so a detached
/// container's supervisor maps a small program, not the whole scripting host (issue 16:
/// its memory beside conmon's). Without it, `program` itself.
pub fn helper_program(program: &Path) -> PathBuf {
    let real = std::fs::read_link(program).unwrap_or_else(|_| program.to_path_buf());
    // This program was replaced while running (an upgrade): the shim beside the new one may
    // not speak this one's arguments; this program itself does.
    if real.to_string_lossy().ends_with(" (deleted)") {
        return program.to_path_buf();
    }
    let real = if real.is_absolute() {
        real
    } else {
        program.parent().unwrap_or(Path::new("")).join(real)
    };
    match real.parent().map(|d| d.join(SHIM_PROGRAM)) {
        Some(shim) if shim.is_file() => shim,
        _ => program.to_path_buf(),
    }
}

/// The small program of the supervisor and the exec helper.
pub const SHIM_PROGRAM: &str = "gocker-shim";

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
    read: File,
    write: Option<OwnedFd>,
    /// What was read past the message returned last.
    buf: Vec<u8>,
}

impl StatusPipe {
    /// Makes the pipe and arranges for `cmd`'s child to find the write end on descriptor 3.
    pub fn attach(cmd: &mut Command) -> Result<StatusPipe> {
        use std::os::unix::process::CommandExt;
        let (read, write) = pipe("cannot create a status pipe", "pipe")?;
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
        Ok(StatusPipe::new(read, write))
    }

    fn new(read: OwnedFd, write: OwnedFd) -> StatusPipe {
        StatusPipe {
            read: File::from(read),
            write: Some(write),
            buf: Vec::new(),
        }
    }

    /// Once the child is spawned: our copy of the write end goes, and what the child (and
    /// whatever inherited the descriptor) writes is read until all of them close it.
    pub fn read_all(mut self) -> String {
        drop(self.write.take());
        let mut text = String::from_utf8_lossy(&self.buf).into_owned();
        let _ = self.read.read_to_string(&mut text);
        text
    }

    /// One message: a line (each message is one line of JSON), or what there is once every
    /// writer has closed (empty: the child died without a word).
    pub fn read_message(&mut self) -> String {
        drop(self.write.take());
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return String::from_utf8_lossy(&line[..i]).into_owned();
            }
            let mut chunk = [0u8; 4096];
            match self.read.read(&mut chunk) {
                Ok(0) => {
                    return String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned()
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    return String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned()
                }
            }
        }
    }
}

/// A close-on-exec pipe (read end, write end), for every pipe between the caller, its
/// helpers and the init; `what` and `of` name it in the error.
pub(super) fn pipe(what: &str, of: &str) -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys(what, Path::new(of), e))
}

/// The caller's end of an early supervisor's assignment pipe, whose read end the child finds
/// on descriptor 4: the container's id is written once, or the pipe is closed unwritten.
pub struct Assignment {
    write: File,
}

impl Assignment {
    /// Hands the child its container.
    pub fn assign(mut self, id: &str) -> Result<()> {
        use std::io::Write;
        self.write
            .write_all(format!("{id}\n").as_bytes())
            .map_err(|e| Error::with_source(Kind::Runtime, "the early supervisor is gone", e))
    }
}

/// Starts an early supervisor, `program __shim-early '{args}'`, with its status pipe's write
/// end on descriptor 3 and its assignment pipe's read end on descriptor 4, stdio /dev/null
/// when `detach`, else the caller's. By posix_spawn (a vfork: the caller stands still only
/// until the child's execve begins), not `Command::spawn`, which must fork and wait for the
/// whole execve when the child's descriptors are arranged by hand: half a millisecond of a
/// run (issue 16); a plain fork without the wait made the caller pay in copy-on-write faults
/// instead.
pub fn spawn_early_supervisor(
    program: &Path,
    args: &EarlyShimArgs,
) -> Result<(nix::unistd::Pid, StatusPipe, Assignment)> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c_string = |bytes: &[u8]| {
        CString::new(bytes).map_err(|_| {
            Error::new(
                Kind::InvalidArgument,
                "a NUL byte in the supervisor's command line or environment",
            )
        })
    };
    let json = serde_json::to_string(args)
        .map_err(|e| Error::with_source(Kind::Io, "cannot encode the helper's arguments", e))?;
    let argv = [
        c_string(program.as_os_str().as_bytes())?,
        c_string(SHIM_EARLY.as_bytes())?,
        c_string(json.as_bytes())?,
    ];
    let mut envp = Vec::new();
    for (k, v) in std::env::vars_os() {
        if k != "GOCKER_TRACE" {
            envp.push(c_string(&[k.as_bytes(), b"=", v.as_bytes()].concat())?);
        }
    }
    if crate::trace::enabled() {
        envp.push(c_string(b"GOCKER_TRACE=1")?);
    }
    let argv_ptrs: Vec<*const libc::c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp_ptrs: Vec<*const libc::c_char> = envp
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let (status_read, status_write) = pipe("cannot create a pipe for", "the supervisor")?;
    let (assign_read, assign_write) = pipe("cannot create a pipe for", "the supervisor")?;
    let null = if args.detach {
        Some(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
                .map_err(|e| Error::io("cannot open", Path::new("/dev/null"), e))?,
        )
    } else {
        None
    };
    // Copies above the descriptors they become (either may be 0 to 4 itself), close-on-exec
    // here; the spawn's dup2s give the child its own, without.
    let high = |fd: &dyn AsRawFd| {
        nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(10))
            .map(super::fd_from_raw)
            .map_err(|e| {
                Error::sys(
                    "cannot duplicate a pipe for",
                    Path::new("the supervisor"),
                    e,
                )
            })
    };
    let s = high(&status_write)?;
    let a = high(&assign_read)?;
    let n = null.as_ref().map(|f| high(f)).transpose()?;
    let failed = |what: &str, rc: i32| {
        Error::sys(
            what,
            Path::new("the supervisor"),
            nix::errno::Errno::from_raw(rc),
        )
    };
    // SAFETY: the file actions and attributes are initialised before use and destroyed
    // after; every pointer handed to posix_spawn lives until it returns.
    let pid = unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        // The first failure is the one told.
        let mut rc = libc::posix_spawn_file_actions_init(&mut actions);
        if rc != 0 {
            return Err(failed("cannot prepare to start", rc));
        }
        rc = libc::posix_spawnattr_init(&mut attr);
        if let Some(n) = &n {
            for fd in 0..3 {
                if rc == 0 {
                    rc = libc::posix_spawn_file_actions_adddup2(&mut actions, n.as_raw_fd(), fd);
                }
            }
        }
        if rc == 0 {
            rc = libc::posix_spawn_file_actions_adddup2(&mut actions, s.as_raw_fd(), 3);
        }
        if rc == 0 {
            rc = libc::posix_spawn_file_actions_adddup2(&mut actions, a.as_raw_fd(), 4);
        }
        // As Command leaves a child: SIGPIPE at its default, nothing blocked.
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        let mut pipe_signal: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut pipe_signal);
        libc::sigaddset(&mut pipe_signal, libc::SIGPIPE);
        if rc == 0 {
            rc = libc::posix_spawnattr_setsigmask(&mut attr, &none);
        }
        if rc == 0 {
            rc = libc::posix_spawnattr_setsigdefault(&mut attr, &pipe_signal);
        }
        if rc == 0 {
            rc = libc::posix_spawnattr_setflags(
                &mut attr,
                (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short,
            );
        }
        let mut pid: libc::pid_t = 0;
        if rc == 0 {
            rc = libc::posix_spawn(
                &mut pid,
                argv_ptrs[0],
                &actions,
                &attr,
                argv_ptrs.as_ptr() as *const *mut libc::c_char,
                envp_ptrs.as_ptr() as *const *mut libc::c_char,
            );
        }
        libc::posix_spawn_file_actions_destroy(&mut actions);
        libc::posix_spawnattr_destroy(&mut attr);
        if rc != 0 {
            return Err(failed("cannot start", rc));
        }
        pid
    };
    // Our copies of the child's ends go: its read sees EOF once we close ours.
    drop((s, a, n, null, assign_read));
    Ok((
        nix::unistd::Pid::from_raw(pid),
        StatusPipe::new(status_read, status_write),
        Assignment {
            write: File::from(assign_write),
        },
    ))
}

/// Starts a helper (the exec helper) as a fork of the caller instead of an exec of a
/// program (issue 16: 5.3-5.6 ms an exec of `true` against 6.0-6.1 with gocker-shim exec'd);
/// `entry` is the helper's entry point and its result the exit status. Only for a
/// single-threaded caller (another thread could hold a lock the child would need), and only
/// for a helper that never touches the caller's SQLite connection (SQLite's locks are per
/// process). The child is made to look like a fresh exec: default signal handling, nothing
/// blocked, the status pipe on descriptor 3, and every other descriptor above stderr closed
/// by the entry point (`StatusWriter::take`) before anything else, so nothing the caller
/// holds (its database, its locks, its files) reaches the container.
pub fn fork_helper(entry: impl FnOnce() -> i32) -> Result<(nix::unistd::Pid, StatusPipe)> {
    let (read, write) = pipe("cannot create a status pipe", "pipe")?;
    // What the caller has buffered is written once, by the caller.
    {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
    }
    // SAFETY: the caller is single-threaded (see above), so the child may run any code.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok((child, StatusPipe::new(read, write))),
        Ok(nix::unistd::ForkResult::Child) => {
            signals_as_after_exec();
            // SAFETY: dup2 of a descriptor this process owns onto 3.
            if unsafe { libc::dup2(write.as_raw_fd(), 3) } < 0 {
                // SAFETY: _exit ends the child without running the caller's destructors.
                unsafe { libc::_exit(125) };
            }
            // A panic must not unwind into the caller's code (its destructors, its terminal).
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(entry)).unwrap_or(125);
            // Never return into the caller's code, nor run its exit handlers.
            // SAFETY: as above.
            unsafe { libc::_exit(code) }
        }
        Err(e) => Err(Error::sys("cannot fork a helper", Path::new("fork"), e)),
    }
}

/// Waits for a forked helper; its exit status (128 + signal for a signal).
pub fn wait_forked(pid: nix::unistd::Pid) -> Result<i64> {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, c)) => return Ok(c as i64),
            Ok(WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i64),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(Error::sys(
                    "cannot wait for a helper",
                    Path::new("waitpid"),
                    e,
                ))
            }
        }
    }
}

/// Whether this process has one thread (the Threads: line of /proc/self/status).
pub fn single_threaded() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .map(|n| n.trim() == "1")
        })
        .unwrap_or(false)
}

/// Signal handling as execve leaves it: caught signals back to their default (ignored ones
/// stay ignored), and none blocked. Not `security::reset_signals`, which the container's
/// init uses to give its program every signal's default, ignored ones included.
fn signals_as_after_exec() {
    for sig in 1..libc::SIGRTMIN() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: sigaction with a zeroed struct for the old action only reads it; a
        // handler is replaced by SIG_DFL, which runs no code.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction != libc::SIG_IGN
                && old.sa_sigaction != libc::SIG_DFL
            {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
    }
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
}

/// The status pipe as a helper sees it: descriptor 3, close-on-exec, written once.
pub struct StatusWriter(Option<File>);

impl StatusWriter {
    /// Takes descriptor 3 and closes every other descriptor above stderr, before anything
    /// else: nothing the caller leaked may reach a container (CVE-2024-21626).
    pub fn take() -> StatusWriter {
        crate::runtime::security::close_fds_from(4);
        StatusWriter(adopt(3))
    }

    /// As `take`, for an early supervisor: also descriptor 4, where its container's id
    /// comes (see `read_assignment`).
    pub fn take_with_assignment() -> (StatusWriter, Option<File>) {
        crate::runtime::security::close_fds_from(5);
        (StatusWriter(adopt(3)), adopt(4))
    }

    /// Writes the last message and closes the pipe.
    pub fn send(&mut self, message: &impl Serialize) {
        self.tell(message);
        self.0.take();
    }

    /// Writes a message, one line of JSON, and keeps the pipe open for another (a foreground
    /// supervisor tells its start, and later its container's exit).
    pub fn tell(&mut self, message: &impl Serialize) {
        use std::io::Write;
        if let Some(f) = self.0.as_mut() {
            if let Ok(mut text) = serde_json::to_vec(message) {
                text.push(b'\n');
                let _ = f.write_all(&text);
            }
        }
    }

    /// The raw descriptor, for a forked child to report through (it is close-on-exec).
    pub fn raw(&self) -> Option<i32> {
        self.0.as_ref().map(|f| f.as_raw_fd())
    }
}

/// A descriptor the caller gave a helper (3 or 4), made close-on-exec; None if it is not
/// open.
fn adopt(fd: i32) -> Option<File> {
    // SAFETY: fcntl on a descriptor number; no memory is involved.
    let open = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } == 0;
    // SAFETY: the descriptor is open (checked just above), the caller gave it to this
    // process, and nothing else in it owns it.
    open.then(|| File::from(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }))
}

/// The container an early supervisor is given: a container id, or None when its caller
/// closed the pipe without one (it had nothing to start after all).
pub fn read_assignment(pipe: Option<File>) -> Option<String> {
    // To the end of its line, not to EOF: a copy of the write end that another child
    // inherited must not keep it waiting.
    let mut text = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(pipe?), &mut text).ok()?;
    let id = text.trim();
    let is_id = id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
    is_id.then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_start_from_gocker_shim_beside_the_program_when_it_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("gocker-script");
        std::fs::write(&program, b"").unwrap();
        assert_eq!(helper_program(&program), program, "no gocker-shim: itself");
        let shim = dir.path().join(SHIM_PROGRAM);
        std::fs::write(&shim, b"").unwrap();
        assert_eq!(helper_program(&program), shim);
        // Through a symbolic link (as /proc/self/exe is one): beside the real program.
        let other = tempfile::tempdir().unwrap();
        let link = other.path().join("gocker-script");
        std::os::unix::fs::symlink(&program, &link).unwrap();
        assert_eq!(helper_program(&link), shim);
    }

    #[test]
    fn only_the_internal_entries_are_taken() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(internal_entry(&args(&["gocker-script", "ps"])), None);
        assert_eq!(internal_entry(&args(&["gocker-script", SHIM])), None);
        // A malformed argument is an error status, not a panic.
        assert_eq!(internal_entry(&args(&["x", EXEC, "{not json"])), Some(125));
    }
}
