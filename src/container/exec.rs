//! `exec`: a new process inside a running container.
//!
//! A helper (`gocker-script __exec '{ExecArgs}'`; see `process`) is a fresh single-threaded process:
//! it makes itself non-dumpable (so nothing in the container can reach this binary through
//! /proc/PID/exe, runc's CVE-2019-5736), joins the container's cgroup and namespaces with
//! setns (the mount namespace last: it also moves the root and working directory into the
//! container), then forks so the child is inside the PID namespace too, and the child execs
//! with the container's environment, working directory and user.

use std::os::fd::AsFd;
use std::path::Path;
use std::process::Stdio;

use nix::sched::setns;
use nix::sys::wait::{waitpid, WaitStatus};
use serde::{Deserialize, Serialize};

use super::process::{self, ExecArgs, StatusPipe, StatusWriter};
use super::spec::{Launch, Namespace};
use super::Container;
use crate::error::{Error, Kind, Result, WireError};
use crate::runtime::{cgroup::ContainerCgroup, init, security};
use crate::store::Paths;

/// What to run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExecRequest {
    pub argv: Vec<String>,
    /// Extra KEY=VALUE entries on top of the container's environment.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
}

/// How it went: the exit code, and the output when captured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExecOutput {
    pub code: i64,
    pub stdout: String,
    pub stderr: String,
}

pub(crate) fn run(
    helper: &Path,
    paths: &Paths,
    c: &Container,
    pid: i32,
    req: &ExecRequest,
    capture: bool,
) -> Result<ExecOutput> {
    if req.argv.is_empty() {
        return Err(Error::invalid("exec needs a command"));
    }
    let args = ExecArgs {
        root: paths.root.clone(),
        id: c.id.clone(),
        pid,
        request: req.clone(),
    };
    // Not captured, from a single-threaded caller: the helper is a fork of the caller (it
    // never uses the caller's database), not a second start of this binary (issue 16).
    if !capture && process::single_threaded() {
        crate::trace::step(|| {
            format!("fork: the exec helper: setns into the namespaces of PID {pid}, join its cgroup, fork, execve {:?}", req.argv)
        });
        let (child, status) = process::fork_helper(|| helper_main(&args))?;
        let report = status.read_all();
        let code = process::wait_forked(child)?;
        if !report.is_empty() {
            return Err(failed_to_exec(c, &report));
        }
        return Ok(ExecOutput {
            code,
            ..Default::default()
        });
    }
    let mut cmd = process::helper_command(helper, process::EXEC, &args)?;
    if capture {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    }
    let status = StatusPipe::attach(&mut cmd)?;
    crate::trace::step(|| {
        format!("exec /proc/self/exe __exec: setns into the namespaces of PID {pid}, join its cgroup, fork, execve {:?}", req.argv)
    });
    let child = cmd
        .spawn()
        .map_err(|e| Error::with_source(Kind::Runtime, "cannot start the exec helper", e))?;
    // EOF as the command execs (the pipe is close-on-exec); a message if it could not.
    let report = status.read_all();
    let out = child
        .wait_with_output()
        .map_err(|e| Error::with_source(Kind::Runtime, "cannot wait for the exec helper", e))?;
    if !report.is_empty() {
        return Err(failed_to_exec(c, &report));
    }
    Ok(ExecOutput {
        code: code_of(out.status),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// The helper's report that the command could not be run, as an error naming the container.
fn failed_to_exec(c: &Container, report: &str) -> Error {
    let e = WireError::decode(report);
    e.reworded(format!(
        "cannot exec in container {}: {}",
        c.name,
        e.message()
    ))
}

fn code_of(status: std::process::ExitStatus) -> i64 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => c as i64,
        (None, Some(s)) => 128 + s as i64,
        _ => -1,
    }
}

/// The helper's entry point; returns its exit status: the command's, or 126/127 when it
/// could not be run (what went wrong goes to the caller as a `WireError` on descriptor 3).
pub fn helper_main(args: &ExecArgs) -> i32 {
    let mut status = StatusWriter::take();
    match join_and_exec(args, &status) {
        Ok(code) => code,
        Err(e) => {
            status.send(&WireError::from(&e));
            exit_code_of(&e)
        }
    }
}

/// Docker's codes for a command that could not run: 127 not found, 126 anything else.
fn exit_code_of(e: &Error) -> i32 {
    e.command_status().unwrap_or(126)
}

fn join_and_exec(args: &ExecArgs, status: &StatusWriter) -> Result<i32> {
    security::non_dumpable()?;
    let (root, id, pid, req) = (&args.root, args.id.as_str(), args.pid, &args.request);
    let paths = Paths::new(root);
    let launch_path = paths.containers().join(id).join("launch.json");
    let data =
        std::fs::read(&launch_path).map_err(|e| Error::io("cannot read", &launch_path, e))?;
    let launch: Launch = serde_json::from_slice(&data)
        .map_err(|e| Error::with_source(Kind::Corrupt, "launch.json is damaged", e))?;

    // Compiled before joining anything: a bad profile fails here, on the host side.
    let confinement = init::Confinement::resolve(&launch.security)?;
    // Single-threaded here: the helper's one thread joins (no grace period on v1).
    ContainerCgroup::of(id).join_self()?;
    // Open them all first: after joining the mount namespace, /proc is the container's.
    // The mount namespace last: joining it also moves our root and working directory.
    let order = [
        Namespace::Cgroup,
        Namespace::Ipc,
        Namespace::Uts,
        Namespace::Net,
        Namespace::Pid,
        Namespace::Mount,
    ];
    let mut fds = Vec::new();
    for ns in order.into_iter().filter(|ns| launch.has(*ns)) {
        let path = format!("/proc/{pid}/ns/{}", ns.proc_name());
        let f = std::fs::File::open(&path)
            .map_err(|e| Error::io("cannot open namespace", Path::new(&path), e))?;
        fds.push((f, ns.clone_flag(), path));
    }
    for (f, flag, path) in &fds {
        crate::trace::step(|| format!("setns({path})"));
        setns(f.as_fd(), *flag)
            .map_err(|e| Error::sys("cannot join namespace", Path::new(path), e))?;
    }
    drop(fds);
    let mut env = launch.env.clone();
    for kv in &req.env {
        if let Some((k, _)) = kv.split_once('=') {
            env.retain(|e| e.split_once('=').map(|(ek, _)| ek != k).unwrap_or(true));
        }
        env.push(kv.clone());
    }
    let workdir = req
        .workdir
        .clone()
        .unwrap_or_else(|| launch.workdir.clone());
    let user = req.user.clone().or(launch.user.clone());
    // A fork puts the child in the PID namespace we joined.
    // SAFETY: single-threaded process.
    match unsafe { nix::unistd::fork() }
        .map_err(|e| Error::sys("cannot fork into", Path::new(id), e))?
    {
        nix::unistd::ForkResult::Child => {
            let err = match init::exec_as(&req.argv, &env, &workdir, user.as_deref(), &confinement)
            {
                Ok(never) => match never {},
                Err(e) => e,
            };
            // The status pipe is still open here (close-on-exec): the reason goes to the caller.
            if let Some(fd) = status.raw() {
                let text = WireError::encode(&err);
                // SAFETY: write to our own descriptor from a buffer of its length.
                unsafe { libc::write(fd, text.as_ptr().cast(), text.len()) };
            }
            // SAFETY: leaving the forked child without running the parent's destructors.
            unsafe { libc::_exit(exit_code_of(&err)) }
        }
        nix::unistd::ForkResult::Parent { child } => loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, c)) => return Ok(c),
                Ok(WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("cannot wait for", Path::new(id), e)),
            }
        },
    }
}
