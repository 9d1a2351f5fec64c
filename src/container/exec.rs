//! `exec`: a new process inside a running container.
//!
//! A helper (`gocker-script __exec ROOT ID PID REQUEST`) is a fresh single-threaded process:
//! it makes itself non-dumpable (so nothing in the container can reach this binary through
//! /proc/PID/exe, runc's CVE-2019-5736), joins the container's cgroup and namespaces with
//! setns (the mount namespace last: it also moves the root and working directory into the
//! container), then forks so the child is inside the PID namespace too, and the child execs
//! with the container's environment, working directory and user.

use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::sched::{setns, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use serde::{Deserialize, Serialize};

use super::spec::Launch;
use super::Container;
use crate::error::{Error, Kind, Result};
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
    let json = serde_json::to_string(req)
        .map_err(|e| Error::with_source(Kind::Io, "cannot encode exec request", e))?;
    let mut cmd = Command::new(helper);
    cmd.arg("__exec")
        .arg(&paths.root)
        .arg(&c.id)
        .arg(pid.to_string())
        .arg(json);
    if crate::trace::enabled() {
        cmd.env("GOCKER_TRACE", "1");
    }
    crate::trace::step(|| {
        format!("exec /proc/self/exe __exec: setns into the namespaces of PID {pid}, join its cgroup, fork, execve {:?}", req.argv)
    });
    if capture {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = cmd
            .output()
            .map_err(|e| Error::with_source(Kind::Runtime, "cannot start the exec helper", e))?;
        Ok(ExecOutput {
            code: code_of(out.status),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    } else {
        let status = cmd
            .status()
            .map_err(|e| Error::with_source(Kind::Runtime, "cannot start the exec helper", e))?;
        Ok(ExecOutput {
            code: code_of(status),
            ..Default::default()
        })
    }
}

fn code_of(status: std::process::ExitStatus) -> i64 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => c as i64,
        (None, Some(s)) => 128 + s as i64,
        _ => -1,
    }
}

/// The helper's entry point; returns its exit status (the command's, or 126/127).
pub fn helper_main(root: &Path, id: &str, pid: i32, request: &str) -> i32 {
    match join_and_exec(root, id, pid, request) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gocker-script exec: {}", e.chain());
            if e.kind() == Kind::NotFound {
                127
            } else {
                126
            }
        }
    }
}

fn join_and_exec(root: &Path, id: &str, pid: i32, request: &str) -> Result<i32> {
    // Nothing the caller leaked reaches the container (CVE-2024-21626).
    security::close_fds_from(3);
    security::non_dumpable()?;
    let req: ExecRequest = serde_json::from_str(request)
        .map_err(|e| Error::with_source(Kind::InvalidArgument, "bad exec request", e))?;
    let paths = Paths::new(root);
    let launch_path = paths.containers().join(id).join("launch.json");
    let data =
        std::fs::read(&launch_path).map_err(|e| Error::io("cannot read", &launch_path, e))?;
    let launch: Launch = serde_json::from_slice(&data)
        .map_err(|e| Error::with_source(Kind::Corrupt, "launch.json is damaged", e))?;

    // Compiled before joining anything: a bad profile fails here, on the host side.
    let confinement = init::Confinement::resolve(&launch.security)?;
    ContainerCgroup::of(id).add(std::process::id() as i32)?;
    // Open them all first: after joining the mount namespace, /proc is the container's.
    let order = [
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ];
    let mut fds = Vec::new();
    for (name, flag) in order {
        let ns_name = if name == "mnt" { "mount" } else { name };
        if !launch.namespaces.iter().any(|n| n == ns_name) {
            continue;
        }
        let path = format!("/proc/{pid}/ns/{name}");
        let f = std::fs::File::open(&path)
            .map_err(|e| Error::io("cannot open namespace", Path::new(&path), e))?;
        fds.push((f, flag, path));
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
            eprintln!("gocker-script exec: {}", err.chain());
            // SAFETY: leaving the forked child without running the parent's destructors.
            unsafe {
                libc::_exit(if err.kind() == Kind::NotFound {
                    127
                } else {
                    126
                })
            }
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
