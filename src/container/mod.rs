//! Containers: creating them from a `Spec`, running them under a supervisor (the shim), and
//! everything after: listing, waiting, stopping, exec, logs, stats, removal.
//!
//! Process model: the caller (REPL, script) never unshares or pivots itself. `start` re-executes
//! this binary's helper as `__shim` (or hands the container to one started ahead,
//! `__shim-early`: see `EarlySupervisor`), a fresh single-threaded process that makes the cgroup, clones the
//! container's init into its namespaces (see `runtime::init`), reports "started" or the error
//! over a pipe, then reaps the init, records the exit status and tears everything down. A
//! detached shim double-forks and calls setsid, so the container outlives the script.

pub mod copy;
pub mod events;
pub mod exec;
pub mod filter;
pub mod health;
mod inspect;
pub mod logs;
pub mod observe;
pub mod plan;
pub mod probe;
pub mod process;
pub mod shim;
pub mod spec;
pub mod volumes;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Kind, Result};
use crate::image::ImageStore;
use crate::runtime::cgroup::{ContainerCgroup, Limits, Stats};
use crate::runtime::security::DeviceNode;
use crate::store::lock::{self, LockGuard};
use crate::store::{remove_tree, write_atomic, Db, Paths};
use crate::sys::now;
use process::{ShimArgs, ShimMessage, StatusPipe};
use spec::{Launch, NetworkMode, Spec};

/// Where a container is in its life, as the state database records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl rusqlite::types::FromSql for Status {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        match v.as_str()? {
            "created" => Ok(Status::Created),
            "running" => Ok(Status::Running),
            "exited" => Ok(Status::Exited),
            other => Err(rusqlite::types::FromSqlError::Other(
                format!("unknown container status {other:?}").into(),
            )),
        }
    }
}

impl PartialEq<&str> for Status {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A container as the state database knows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image: String,
    pub image_id: Option<String>,
    pub command: Vec<String>,
    pub status: Status,
    pub pid: Option<i32>,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    pub created: i64,
    pub started: Option<i64>,
    pub finished: Option<i64>,
    pub spec: Spec,
    /// Its address on its bridge network, while it runs.
    pub ip: Option<String>,
    /// Its supervisor, while it runs.
    #[serde(skip)]
    pub shim_pid: Option<i32>,
    /// Docker's inspect view of what scripts compare with it: Config.Labels.
    #[serde(rename = "Config", default)]
    pub config: InspectConfig,
}

/// The part of Docker's inspect Config that is not already in the spec's own words.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InspectConfig {
    /// The container's labels over its image's.
    #[serde(rename = "Labels")]
    pub labels: std::collections::BTreeMap<String, String>,
}

impl Container {
    pub fn short_id(&self) -> String {
        self.id.chars().take(12).collect()
    }
    /// Docker's status words: "Created", "Up", "Exited (0)".
    pub fn status_text(&self) -> String {
        match self.status {
            Status::Running => "Up".into(),
            Status::Exited => format!("Exited ({})", self.exit_code.unwrap_or(-1)),
            Status::Created => "Created".into(),
        }
    }
}

/// How a started container's stdio is wired.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Attach {
    /// The caller's stdin, stdout and stderr (a foreground run).
    Inherit,
    /// Detached: output goes to the container's log, stdin is /dev/null.
    Detach,
    /// The caller's stdout and stderr, no input (a build's RUN step).
    Output,
    /// Stdout and stderr captured apart for the caller, no input (run's capture).
    Capture,
}

/// A container that has been started.
pub struct Started {
    pub container: Container,
    /// The supervisor of a foreground container, to wait on.
    shim: Option<Supervisor>,
    /// Its status pipe, on which it tells the container's exit.
    status: Option<process::StatusPipe>,
}

/// Supervisors that told their container's exit and were still removing its files, and
/// supervisors started ahead that were never given a container: reaped when they are done,
/// at the next start (a script's loop must not gather zombies).
static UNREAPED: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

fn reap_finished() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let mut list = UNREAPED.lock().unwrap_or_else(|p| p.into_inner());
    list.retain(|pid| {
        matches!(
            waitpid(nix::unistd::Pid::from_raw(*pid), Some(WaitPidFlag::WNOHANG)),
            Ok(WaitStatus::StillAlive)
        )
    });
}

/// A container's supervisor as its starter holds it: spawned by `Command` (its streams may
/// be captured), or started ahead (see `EarlySupervisor`). (A fork of the caller was tried
/// for foreground containers: with gocker-shim to exec it measured the same, 12.0-13.1 ms a
/// run either way, and it needed the caller's database connection closed around the fork.)
enum Supervisor {
    Spawned(std::process::Child),
    Early(nix::unistd::Pid),
}

/// The streams a supervisor (and so its container) gets for `attach`.
fn wire_supervisor(cmd: &mut std::process::Command, attach: Attach) {
    match attach {
        Attach::Inherit => {}
        Attach::Detach => {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        }
        Attach::Output => {
            cmd.stdin(Stdio::null());
        }
        Attach::Capture => {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
        }
    }
}

/// What the start an early supervisor is for will ask: detached or not (one with other
/// streams is of no use to it), and, as a guess, whether its container goes on a bridge
/// (its veth pair is then made ahead; a start that guesses wrong only gets less made ahead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub detach: bool,
    pub bridged: bool,
}

/// An early supervisor being started on a thread of its own (its spawn waits for the
/// program's execve to begin; the caller has other work meanwhile).
pub type EarlyStart = std::thread::JoinHandle<Option<EarlySupervisor>>;

/// A supervisor started before its container exists (`__shim-early`): while the caller
/// compiles the stdlib, resolves the image and records the container, the supervisor's
/// program starts and opens its database connection on the other core, instead of after
/// all that (about 1 ms of a run; issue 16). It is handed the container's id by the start
/// that takes it; dropped unassigned (the run failed first), it reads EOF and ends.
pub struct EarlySupervisor {
    pid: nix::unistd::Pid,
    /// Both taken when it is assigned.
    status: Option<StatusPipe>,
    assignment: Option<process::Assignment>,
    attach: Attach,
}

impl EarlySupervisor {
    /// Starts one for containers of the store at `paths`, detached or with the caller's
    /// streams, from `program`'s helper (see `process::helper_program`); it may run on all
    /// of `cpus` (the caller's: it may be started on fewer, see `start_on_thread`).
    pub fn start(
        paths: &Paths,
        program: &Path,
        expected: Expected,
        cpus: Vec<usize>,
    ) -> Result<EarlySupervisor> {
        let args = process::EarlyShimArgs {
            root: paths.root.clone(),
            detach: expected.detach,
            cpus,
            bridged: expected.bridged,
        };
        let (pid, status, assignment) =
            process::spawn_early_supervisor(&process::helper_program(program), &args)?;
        Ok(EarlySupervisor {
            pid,
            status: Some(status),
            assignment: Some(assignment),
            attach: if expected.detach {
                Attach::Detach
            } else {
                Attach::Inherit
            },
        })
    }

    /// As `start`, on a thread of its own (the spawn waits for the program's execve to
    /// begin; the caller has other work meanwhile): joined by the start that takes it.
    pub fn start_on_thread(
        paths: &Paths,
        program: &Path,
        expected: Expected,
    ) -> Option<EarlyStart> {
        let (paths, program) = (paths.clone(), program.to_path_buf());
        let cpus = crate::sys::cpu::allowed();
        // The thread lives on until it has been steered: steering one that has ended would
        // steer the caller (its thread id is 0 by then).
        let (steered, wait_steered) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("early supervisor".into())
            .stack_size(64 << 10)
            .spawn({
                let cpus = cpus.clone();
                move || {
                    let started = EarlySupervisor::start(&paths, &program, expected, cpus).ok();
                    let _ = wait_steered.recv();
                    started
                }
            })
            .ok()?;
        // Not queued behind us on our CPU while we compile (see sys::cpu); the supervisor
        // lets itself run on all of `cpus` again.
        crate::sys::cpu::steer_away(&thread, &cpus);
        drop(steered);
        Some(thread)
    }

    /// Hands it its container: from here on it is that container's supervisor. (If it died
    /// first, its status pipe closes without a word, and the start says so.)
    /// None when it is gone already (killed while it waited): the start starts its own.
    fn assign(mut self, id: &str) -> Option<(Supervisor, StatusPipe)> {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        if !matches!(
            waitpid(self.pid, Some(WaitPidFlag::WNOHANG)),
            Ok(WaitStatus::StillAlive)
        ) {
            self.assignment.take();
            return None;
        }
        if self.assignment.take()?.assign(id).is_err() {
            let _ = waitpid(self.pid, None);
            return None;
        }
        Some((Supervisor::Early(self.pid), self.status.take()?))
    }
}

impl Drop for EarlySupervisor {
    fn drop(&mut self) {
        // Unassigned (its assignment pipe closes with it): it ends at once; reaped at the
        // next start, or by init once we are gone.
        if self.assignment.is_some() {
            UNREAPED
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(self.pid.as_raw());
        }
    }
}

impl Supervisor {
    /// The container's exit code (128 + signal for a signal): as the supervisor tells it on
    /// its status pipe, once the exit is recorded (it may still be removing files, and is
    /// reaped later), else its own exit status.
    fn wait(&mut self, status: Option<&mut process::StatusPipe>) -> Result<i64> {
        // A foreground container gets the terminal's signals itself (the supervisor forwards
        // them); the caller must not die of a Ctrl-C meant for the container.
        let _guard = IgnoreInterrupts::new();
        if let Some(status) = status {
            if let Ok(ShimMessage::Exited { code }) =
                serde_json::from_str::<ShimMessage>(&status.read_message())
            {
                let pid = match self {
                    Supervisor::Spawned(child) => child.id() as i32,
                    Supervisor::Early(pid) => pid.as_raw(),
                };
                UNREAPED.lock().unwrap_or_else(|p| p.into_inner()).push(pid);
                reap_finished();
                return Ok(code as i64);
            }
        }
        let failed =
            |e| Error::with_source(Kind::Runtime, "cannot wait for the container supervisor", e);
        match self {
            Supervisor::Spawned(child) => {
                use std::os::unix::process::ExitStatusExt;
                let status = child.wait().map_err(failed)?;
                Ok(match (status.code(), status.signal()) {
                    (Some(c), _) => c as i64,
                    (None, Some(s)) => 128 + s as i64,
                    _ => -1,
                })
            }
            Supervisor::Early(pid) => process::wait_forked(*pid),
        }
    }
}

impl Started {
    /// Waits for a foreground container; returns its exit code (128 + signal for a signal).
    pub fn wait(&mut self, store: &ContainerStore) -> Result<i64> {
        // Captured output is read (and dropped) while waiting: a full pipe would block it.
        self.wait_output(store).map(|o| o.code)
    }

    /// Waits, and returns the exit code with what a captured container wrote to stdout
    /// and stderr (empty for one that was not captured).
    pub fn wait_output(&mut self, store: &ContainerStore) -> Result<exec::ExecOutput> {
        let mut supervisor = match self.shim.take() {
            Some(supervisor) => supervisor,
            None => {
                let code = store.wait(&self.container.id, None)?;
                return Ok(exec::ExecOutput {
                    code,
                    ..Default::default()
                });
            }
        };
        // A reader thread only for a captured stream (two threads cost 0.4 ms a run).
        let read_all = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            pipe.map(|mut p| {
                std::thread::spawn(move || {
                    let mut out = Vec::new();
                    let _ = p.read_to_end(&mut out);
                    String::from_utf8_lossy(&out).into_owned()
                })
            })
        };
        let (stdout, stderr) = match &mut supervisor {
            Supervisor::Spawned(child) => (
                read_all(
                    child
                        .stdout
                        .take()
                        .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
                ),
                read_all(
                    child
                        .stderr
                        .take()
                        .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
                ),
            ),
            Supervisor::Early(_) => (None, None),
        };
        let code = supervisor.wait(self.status.as_mut())?;
        Ok(exec::ExecOutput {
            code,
            stdout: stdout.and_then(|t| t.join().ok()).unwrap_or_default(),
            stderr: stderr.and_then(|t| t.join().ok()).unwrap_or_default(),
        })
    }
}

struct IgnoreInterrupts {
    old: Option<nix::sys::signal::SigAction>,
}

impl IgnoreInterrupts {
    fn new() -> IgnoreInterrupts {
        use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
        let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
        // SAFETY: installing SIG_IGN runs no code in signal context.
        let old = unsafe { sigaction(Signal::SIGINT, &ignore) }.ok();
        IgnoreInterrupts { old }
    }
}

impl Drop for IgnoreInterrupts {
    fn drop(&mut self) {
        if let Some(old) = &self.old {
            // SAFETY: restoring the previous disposition.
            unsafe {
                let _ = nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGINT, old);
            }
        }
    }
}

/// The containers of one root.
#[derive(Clone)]
pub struct ContainerStore {
    paths: Paths,
    db: Arc<Db>,
    /// The binary re-executed as supervisor and exec helper: this one, unless a library
    /// user (a test binary) points elsewhere.
    helper: PathBuf,
    /// A supervisor being started ahead for the next start (see `EarlySupervisor`).
    early: Arc<std::sync::Mutex<Option<EarlyStart>>>,
    /// Whether each start starts the next one's supervisor ahead (a script's runs).
    ahead: bool,
}

const COLUMNS: &str = "id, name, image, image_id, command, spec, status, pid, exit_code, oom_killed, created, started, finished, (SELECT ip FROM addresses WHERE container = containers.id), shim_pid";

fn from_row(r: &Row) -> rusqlite::Result<Container> {
    let command: String = r.get(4)?;
    let spec: String = r.get(5)?;
    let spec: Spec = serde_json::from_str(&spec).map_err(|e| corrupt_column(5, e))?;
    Ok(Container {
        id: r.get(0)?,
        name: r.get(1)?,
        image: r.get(2)?,
        image_id: r.get(3)?,
        // A damaged row is an error that says so, never a default that would make reconcile
        // forget the container's address and ports.
        command: serde_json::from_str(&command).map_err(|e| corrupt_column(4, e))?,
        config: InspectConfig {
            labels: spec.labels.clone(),
        },
        spec,
        status: r.get(6)?,
        pid: r.get(7)?,
        exit_code: r.get(8)?,
        oom_killed: r.get::<_, i64>(9)? != 0,
        created: r.get(10)?,
        started: r.get(11)?,
        finished: r.get(12)?,
        ip: r.get(13)?,
        shim_pid: r.get(14)?,
    })
}

/// A UNIQUE violation on a container's name is a conflict, said as one.
fn unique_as_conflict(e: rusqlite::Error, name: &str) -> Error {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Error::conflict(format!("the name {name:?} is already used"))
        }
        _ => e.into(),
    }
}

/// A container stopped by `stop` has this file: its restart policy leaves it down until
/// it is started again.
pub(crate) const STOPPED: &str = "stopped";

/// How many times a container's restart policy has started it again (its `restarts` file).
pub(crate) fn restarts(dir: &Path) -> u32 {
    std::fs::read_to_string(dir.join("restarts"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// A container's locks: bytes of its one lock file, `locks/container-<id>.lock` (see
/// `lock::exclusive_byte`), which is made by its creator before its row and removed after
/// it (a `--rm` container's by its supervisor, once it is done with its files). The file
/// also keeps the exit record its supervisor writes (see `shim`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lock {
    /// Its creator's, from before its row exists until it has started.
    Creator = 0,
    /// A supervisor's, from before it reads the container's launch file until it has
    /// recorded the start: a remover takes it too, so it never deletes the files of a
    /// container a supervisor is starting (whose creator may have been killed meanwhile).
    Starting = 1,
    /// Its supervisor's, for as long as it lives: how anyone tells a live supervisor from a
    /// dead one (a pid can be reused; a lock goes with its holder).
    Supervisor = 2,
}

impl Lock {
    fn file(id: &str) -> String {
        format!("container-{id}")
    }

    /// Takes container `id`'s lock, waiting for it.
    pub(crate) fn take(self, paths: &Paths, id: &str) -> Result<LockGuard> {
        lock::exclusive_byte(&paths.locks(), &Lock::file(id), self as u8)
    }

    /// Takes container `id`'s lock if nobody holds it; None if somebody does.
    pub(crate) fn try_take(self, paths: &Paths, id: &str) -> Result<Option<LockGuard>> {
        lock::try_exclusive_byte(&paths.locks(), &Lock::file(id), self as u8)
    }

    /// Whether somebody holds container `id`'s lock (a supervisor of a version before the
    /// one lock file holds its own: `shim-<id>.lock`, with flock).
    pub(crate) fn held(self, locks: &Path, id: &str) -> bool {
        lock::held_byte(locks, &Lock::file(id), self as u8)
            || matches!(self, Lock::Supervisor) && lock::held(locks, &format!("shim-{id}"))
    }

    /// Container `id`'s lock file.
    pub(crate) fn path(paths: &Paths, id: &str) -> PathBuf {
        paths.locks().join(format!("{}.lock", Lock::file(id)))
    }

    /// Removes container `id`'s lock file, once the container is gone and no supervisor of
    /// it lives (a remover of its lock file must hold or have checked the others); and the
    /// three of a version before the one file, if any.
    pub(crate) fn remove_file(paths: &Paths, id: &str) -> Result<()> {
        for legacy in ["start", "shim"] {
            let _ = std::fs::remove_file(paths.locks().join(format!("{legacy}-{id}.lock")));
        }
        let path = Lock::path(paths, id);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io("cannot remove", &path, e))
            }
            _ => Ok(()),
        }
    }
}

/// A container's files: its directory and its lock file; the row is the caller's. Only for
/// the holder of the container's lock (its creator undoing a failed create).
pub(crate) fn remove_traces(paths: &Paths, id: &str) -> Result<()> {
    remove_tree(&paths.containers().join(id))?;
    Lock::remove_file(paths, id)
}

/// Removes a container's files, then its row, then its lock file, holding its lock
/// throughout: a remover killed half-way leaves a row without files, which the next look
/// finishes, and the lock tells that look whether somebody is still at it.
pub(crate) fn erase(paths: &Paths, db: &Db, id: &str) -> Result<()> {
    let _held = Lock::Creator.take(paths, id)?;
    let _starting = Lock::Starting.take(paths, id)?;
    // Checked again under the locks: a `run` may have started it while we waited for it.
    let status: Option<Status> = db
        .lock()
        .query_row("SELECT status FROM containers WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    if status == Some(Status::Running) {
        return Err(Error::conflict(format!(
            "container {} started meanwhile: stop it first, or force",
            &id[..12.min(id.len())]
        )));
    }
    erase_locked(paths, db, id)
}

/// As `erase`, for the supervisor of a --rm container that tells its caller before the
/// container's files are gone: the directory is set aside under tmp (one rename: a
/// container is there or not); `last_events` (its exit's), the destroy event and the row's
/// deletion go in one commit; the lock file stays, its supervisor's lock held in it.
/// Returns where the files are now, for the supervisor to remove; files it never removes
/// (killed meanwhile) are swept by the next `ps` (see `sweep_aside`). Can be tried again:
/// files set aside by a try are found there.
pub(crate) fn erase_aside(
    paths: &Paths,
    db: &Db,
    id: &str,
    last_events: &dyn Fn(&rusqlite::Transaction) -> Result<()>,
) -> Result<Option<PathBuf>> {
    let _held = Lock::Creator.take(paths, id)?;
    let _starting = Lock::Starting.take(paths, id)?;
    let dir = paths.containers().join(id);
    let aside = paths.tmp().join(format!("{ASIDE}{id}"));
    let moved = match std::fs::rename(&dir, &aside) {
        Ok(()) => Some(aside),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && aside.exists() => Some(aside),
        // Already gone (a remover got there first, once its row was no longer running).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("cannot set aside", &dir, e)),
    };
    // The lock file stays: the supervisor holds its lock in it until it is done.
    delete_row_after(db, id, last_events)?;
    Ok(moved)
}

/// A container's row goes, with its destroy event, in one commit.
fn delete_row(db: &Db, id: &str) -> Result<()> {
    delete_row_after(db, id, &|_| Ok(()))
}

/// As `delete_row`, with `events` recorded first in the same commit.
fn delete_row_after(
    db: &Db,
    id: &str,
    events: &dyn Fn(&rusqlite::Transaction) -> Result<()>,
) -> Result<()> {
    let mut conn = db.lock();
    let tx = conn.transaction()?;
    events(&tx)?;
    events::record_in(&tx, id, "destroy", Default::default())?;
    tx.execute("DELETE FROM containers WHERE id = ?1", [id])?;
    tx.commit()?;
    Ok(())
}

/// The prefix of a removed container's files set aside under tmp.
const ASIDE: &str = "removed-";

/// Removes the files and cgroups of removed containers that were set aside and whose
/// supervisor is gone (killed before it removed them), and the cgroups made ahead by
/// supervisors killed while they waited for a container. Best effort.
fn sweep_aside(paths: &Paths) {
    crate::runtime::cgroup::Hierarchy::host().sweep_ahead();
    let Ok(entries) = std::fs::read_dir(paths.tmp()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_prefix(ASIDE)) else {
            continue;
        };
        if !Lock::Supervisor.held(&paths.locks(), id) {
            crate::trace::step(|| format!("remove the files of removed container {id}"));
            // Its supervisor destroys the cgroup after telling the exit: maybe not yet.
            let _ = ContainerCgroup::of(id).destroy();
            let _ = remove_tree(&e.path());
            let _ = Lock::remove_file(paths, id);
        }
    }
}

fn erase_locked(paths: &Paths, db: &Db, id: &str) -> Result<()> {
    remove_tree(&paths.containers().join(id))?;
    delete_row(db, id)?;
    let _ = Lock::remove_file(paths, id);
    Ok(())
}

fn corrupt_column(index: usize, e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
}

fn random_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io("cannot read", Path::new("/dev/urandom"), e))?;
    Ok(hex::encode(bytes))
}

impl ContainerStore {
    pub fn new(paths: Paths, db: Arc<Db>) -> ContainerStore {
        ContainerStore {
            paths,
            db,
            helper: PathBuf::from("/proc/self/exe"),
            early: Default::default(),
            ahead: false,
        }
    }

    /// Each start from now on starts the next one's supervisor ahead (with its streams), so
    /// that a script's runs after its first find theirs ready: its program started and its
    /// database open, while the container before ran (issue 16). The one left unused when
    /// the script ends reads EOF and ends.
    pub fn set_start_ahead(&mut self, on: bool) {
        self.ahead = on;
    }

    /// The next start with `early`'s stdio uses this supervisor, started ahead; a start
    /// with other stdio starts its own (and `early`, unused, ends).
    pub fn set_early_supervisor(&mut self, early: EarlyStart) {
        self.early = Arc::new(std::sync::Mutex::new(Some(early)));
    }

    /// Uses `path` (a gocker-script binary) as supervisor and exec helper.
    pub fn set_helper(&mut self, path: impl Into<PathBuf>) {
        self.helper = path.into();
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The networks of this root.
    pub fn networks(&self) -> crate::network::Networks {
        crate::network::Networks::new(self.paths.clone(), self.db.clone())
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.paths.containers().join(id)
    }

    /// Creates a container from a spec: resolves the image and the command, records it, and
    /// makes its directories. Nothing runs yet.
    pub fn create(
        &self,
        images: &ImageStore,
        spec: &Spec,
        argv: Option<Vec<String>>,
    ) -> Result<Container> {
        self.create_locked(images, spec, argv)
            .map(|(c, _creating)| c)
    }

    /// Creates, and returns the lock its creator holds until the container has started: a
    /// "created" container whose lock is free was abandoned (its creator was killed).
    fn create_locked(
        &self,
        images: &ImageStore,
        spec: &Spec,
        argv: Option<Vec<String>>,
    ) -> Result<(Container, LockGuard)> {
        let mut spec = spec.clone();
        // 1. The root filesystem: the image's layers and config, or a directory.
        let (config, layers) = self.resolve_root(images, &mut spec)?;
        // 2. What follows from the spec, and what it may not ask for.
        let command = plan::command(&spec, &config, argv)?;
        plan::settle(&mut spec)?;
        if let NetworkMode::Bridge(name) = &spec.network {
            // Checked now, made when the container starts.
            self.networks().get(name)?;
        }
        // 3. An id, its creator's lock, and the names to try.
        let id = random_id()?;
        let names = plan::names(&spec, &id)?;
        let devices: Vec<DeviceNode> = spec
            .security
            .devices
            .iter()
            .map(DeviceNode::resolve)
            .collect::<Result<_>>()?;
        let dir = self.dir(&id);
        let resolved = plan::Resolved {
            config,
            layers,
            command: command.clone(),
            devices,
            init: if spec.init {
                Some(init_binary()?)
            } else {
                None
            },
        };
        // Named volumes bound as their directories (made on first use); the row keeps names.
        let (bound, empty_volumes) = self.with_volumes(&spec)?;
        let launch = plan::launch(&bound, resolved, &id, &self.paths.root, &dir)?;
        // 4. The row, with its name claimed; then the files (a kill in between leaves an
        //    abandoned "created" container, which prune removes).
        let creating = Lock::Creator.take(&self.paths, &id)?;
        if let Err(e) = self.record(&id, &names, &spec, &command) {
            let _ = Lock::remove_file(&self.paths, &id);
            return Err(e);
        }
        let made = (|| -> Result<()> {
            for d in [&launch.upper, &launch.work] {
                std::fs::create_dir_all(d).map_err(|e| Error::io("cannot create", d, e))?;
            }
            let data = serde_json::to_vec_pretty(&launch)
                .map_err(|e| Error::with_source(Kind::Io, "cannot encode launch", e))?;
            write_atomic(&dir.join("launch.json"), &data)?;
            for (data, target) in &empty_volumes {
                if launch.dir.is_none() {
                    self.populate(&launch.layers, &launch.mount_point, data, target)?;
                }
            }
            Ok(())
        })();
        if let Err(e) = made {
            self.forget(&id);
            return Err(e);
        }
        Ok((self.get(&id)?, creating))
    }

    /// The image's config and layer directories (recording the image id in the spec), or
    /// none for a directory root.
    fn resolve_root(
        &self,
        images: &ImageStore,
        spec: &mut Spec,
    ) -> Result<(crate::image::oci::RunConfig, Vec<PathBuf>)> {
        let (config, layers, image_id) = match &spec.rootfs_dir {
            Some(dir) => {
                if !dir.is_dir() {
                    return Err(Error::not_found(format!(
                        "root filesystem directory {} does not exist",
                        dir.display()
                    )));
                }
                (Default::default(), Vec::new(), None)
            }
            None => {
                let img = images.image(spec.image_id.as_deref().unwrap_or(&spec.image))?;
                let layers = images.layer_dirs(&img)?;
                (img.config.clone(), layers, Some(img.id.clone()))
            }
        };
        spec.image_id = image_id;
        // Docker's Config.Labels: the image's, under the container's own.
        for (k, v) in config.labels.iter().flatten() {
            spec.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if spec.stop_signal.is_none() {
            spec.stop_signal = config.stop_signal.clone().filter(|s| !s.is_empty());
        }
        Ok((config, layers))
    }

    /// Inserts the container's row under the first free name of `names`, checked and claimed
    /// in one transaction: two scripts asking for the same name at once get a conflict,
    /// never a database error.
    fn record(&self, id: &str, names: &[String], spec: &Spec, command: &[String]) -> Result<()> {
        let spec_json = serde_json::to_string(spec)
            .map_err(|e| Error::with_source(Kind::Io, "cannot encode spec", e))?;
        let command_json = serde_json::to_string(command)
            .map_err(|e| Error::with_source(Kind::Io, "cannot encode command", e))?;
        let mut conn = self.db.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut chosen = None;
        for candidate in names {
            let taken: Option<String> = tx
                .query_row(
                    "SELECT id FROM containers WHERE name = ?1",
                    [candidate],
                    |r| r.get(0),
                )
                .optional()?;
            match taken {
                None => {
                    chosen = Some(candidate.clone());
                    break;
                }
                Some(other) if spec.name.is_some() => {
                    return Err(Error::conflict(format!(
                        "the name {candidate:?} is already used by container {}",
                        &other[..12.min(other.len())]
                    )));
                }
                Some(_) => {}
            }
        }
        let name = chosen.ok_or_else(|| {
            Error::conflict("no free container name: every generated one is taken")
        })?;
        tx.execute(
            "INSERT INTO containers (id, name, image, image_id, command, spec, status, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'created', ?7)",
            params![id, name, spec.image, spec.image_id, command_json, spec_json, now()],
        )
        .map_err(|e| unique_as_conflict(e, &name))?;
        events::record_in(&tx, id, "create", Default::default())?;
        tx.commit()?;
        Ok(())
    }

    /// Removes every trace of a container that never ran (or is gone): row and directory.
    fn forget(&self, id: &str) {
        let _ = remove_traces(&self.paths, id);
        let _ = self
            .db
            .lock()
            .execute("DELETE FROM containers WHERE id = ?1", [id]);
    }

    /// Starts a created (or exited) container under a supervisor.
    pub fn start(&self, id_or_name: &str, attach: Attach) -> Result<Started> {
        let c = self.get(id_or_name)?;
        if c.status == Status::Running {
            return Err(Error::conflict(format!(
                "container {} is already running",
                c.name
            )));
        }
        let fresh = c.status == Status::Created;
        if !self.dir(&c.id).join("launch.json").exists() {
            return Err(Error::conflict(format!(
                "container {} was never completely created (its creator was stopped half-way): remove it",
                c.name
            )));
        }
        let _ = std::fs::remove_file(self.dir(&c.id).join(STOPPED));
        let args = ShimArgs {
            root: self.paths.root.clone(),
            id: c.id.clone(),
            detach: attach == Attach::Detach,
        };
        let (mut shim, mut status) = self.exec_supervisor(&c, &args, attach)?;
        reap_finished();
        let report = status.read_message();
        if attach == Attach::Detach {
            // The intermediate process exits at once; the supervisor lives on.
            let _ = shim.wait(None);
        }
        let message = serde_json::from_str::<ShimMessage>(&report).map_err(|_| {
            if report.is_empty() {
                Error::new(
                    Kind::Runtime,
                    "the container supervisor died before starting it",
                )
            } else {
                Error::new(Kind::Runtime, report.trim())
            }
        });
        let e = match message {
            Ok(ShimMessage::Started { .. }) => {
                return Ok(Started {
                    // A short-lived --rm container may be gone already: the snapshot will do.
                    // (The row as recorded: reconciling here could finish a --rm container
                    // whose supervisor is gone, under the creator lock this caller holds.)
                    container: match self.get_row(&c.id) {
                        Err(e) if e.kind() == Kind::NotFound => c.clone(),
                        other => other?,
                    },
                    shim: (attach != Attach::Detach).then_some(shim),
                    status: (attach != Attach::Detach).then_some(status),
                });
            }
            Ok(ShimMessage::Failed(w)) => Error::from(w),
            Ok(ShimMessage::Exited { code }) => Error::new(
                Kind::Runtime,
                format!("the container supervisor told an exit ({code}) before a start"),
            ),
            Err(e) => e,
        };
        if attach != Attach::Detach {
            let _ = shim.wait(None);
        }
        if fresh {
            // A supervisor killed after recording the start leaves its cgroup and network
            // behind: they go with the container.
            let _ = ContainerCgroup::of(&c.id).destroy();
            self.networks()
                .disconnect(&c.id, &c.spec.network, &c.spec.publish, true);
            self.forget(&c.id);
        }
        Err(e.reworded(format!(
            "cannot start container {} ({}): {}",
            c.name,
            c.short_id(),
            e.message()
        )))
    }

    /// Starts the supervisor as a fresh exec of this binary (`__shim`), with the streams
    /// `attach` asks for; or hands the container to the supervisor started ahead.
    fn exec_supervisor(
        &self,
        c: &Container,
        args: &ShimArgs,
        attach: Attach,
    ) -> Result<(Supervisor, StatusPipe)> {
        // Taken either way: one with other streams is of no use, and ends when dropped.
        let early = self.early.lock().unwrap_or_else(|p| p.into_inner()).take();
        let early = early.and_then(|e| e.join().ok().flatten());
        let supervisor = match early.filter(|e| e.attach == attach) {
            Some(early) => {
                let pid = early.pid;
                let assigned = early.assign(&c.id);
                if assigned.is_some() {
                    crate::trace::step(|| {
                        format!(
                            "container {} to the supervisor started ahead (gocker-shim __shim-early, pid {pid})",
                            &c.id[..12]
                        )
                    });
                }
                assigned
            }
            None => None,
        };
        let supervisor = match supervisor {
            Some(s) => s,
            None => self.spawn_supervisor(c, args, attach)?,
        };
        // The next start's, while this one's container starts.
        if self.ahead && matches!(attach, Attach::Inherit | Attach::Detach) {
            let expected = Expected {
                detach: attach == Attach::Detach,
                bridged: c.spec.network.bridge().is_some(),
            };
            let next = EarlySupervisor::start_on_thread(&self.paths, &self.helper, expected);
            *self.early.lock().unwrap_or_else(|p| p.into_inner()) = next;
        }
        Ok(supervisor)
    }

    /// Starts the supervisor as a fresh exec of this binary's helper (`__shim`).
    fn spawn_supervisor(
        &self,
        c: &Container,
        args: &ShimArgs,
        attach: Attach,
    ) -> Result<(Supervisor, StatusPipe)> {
        let mut cmd =
            process::helper_command(&process::helper_program(&self.helper), process::SHIM, args)?;
        wire_supervisor(&mut cmd, attach);
        let status = StatusPipe::attach(&mut cmd)?;
        crate::trace::step(|| {
            format!(
                "exec /proc/self/exe __shim {} (the supervisor; it clones the container's init)",
                &c.id[..12]
            )
        });
        let child = cmd.spawn().map_err(|e| {
            Error::with_source(Kind::Runtime, "cannot start the container supervisor", e)
        })?;
        Ok((Supervisor::Spawned(child), status))
    }

    /// Creates and starts.
    pub fn run(
        &self,
        images: &ImageStore,
        spec: &Spec,
        argv: Option<Vec<String>>,
        attach: Attach,
    ) -> Result<Started> {
        let (c, _creating) = self.create_locked(images, spec, argv)?;
        self.start(&c.id, attach)
    }

    /// The row of a container by full id, without reconciling.
    fn get_row(&self, id: &str) -> Result<Container> {
        Ok(self.db.lock().query_row(
            &format!("SELECT {COLUMNS} FROM containers WHERE id = ?1"),
            [id],
            from_row,
        )?)
    }

    /// Finds a container by name, id or unique id prefix.
    pub fn get(&self, spec: &str) -> Result<Container> {
        let found = self.find_row(spec)?;
        if found.status == Status::Exited && !self.dir(&found.id).join("launch.json").exists() {
            // Being removed, or half removed by a remover that was killed: gone either way
            // (and finished here in the second case).
            self.finish_half_removed_one(&found.id)?;
            return Err(Error::not_found(format!(
                "no container named or with id {spec:?}"
            )));
        }
        // Only this one is looked at: a lookup costs the same with 1 or 1000 containers.
        if found.status == Status::Running && !found.shim_alive(&self.paths.locks()) {
            self.finish_dead(&found)?;
            return self.get_row(&found.id);
        }
        Ok(found)
    }

    /// The row named by name, id or unique id prefix, as recorded.
    fn find_row(&self, spec: &str) -> Result<Container> {
        let conn = self.db.lock();
        let by_name: Option<Container> = conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM containers WHERE name = ?1 OR id = ?1"),
                [spec],
                from_row,
            )
            .optional()?;
        if let Some(c) = by_name {
            return Ok(c);
        }
        if spec.len() >= 3 && spec.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM containers WHERE id LIKE ?1 LIMIT 2"
            ))?;
            let found: Vec<Container> = stmt
                .query_map([format!("{spec}%")], from_row)?
                .collect::<rusqlite::Result<_>>()?;
            let mut found = found.into_iter();
            match (found.next(), found.next()) {
                (Some(one), None) => return Ok(one),
                (Some(_), Some(_)) => {
                    return Err(Error::conflict(format!(
                        "container id prefix {spec:?} is ambiguous"
                    )))
                }
                _ => {}
            }
        }
        Err(Error::not_found(format!(
            "no container named or with id {spec:?}"
        )))
    }

    /// Every container, newest first.
    pub fn list(&self) -> Result<Vec<Container>> {
        self.reconcile()?;
        let conn = self.db.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM containers ORDER BY created DESC, rowid DESC"
        ))?;
        let v = stmt
            .query_map([], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    /// Ids and names of the containers using an image (for `rmi`).
    pub fn users_of(&self, image_id: &str) -> Result<Vec<String>> {
        let conn = self.db.lock();
        let mut stmt = conn.prepare("SELECT name FROM containers WHERE image_id = ?1")?;
        let v = stmt
            .query_map([image_id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(v)
    }

    /// Containers recorded as running whose supervisor is gone (killed, or the machine
    /// rebooted) are marked exited and their cgroups removed.
    fn reconcile(&self) -> Result<()> {
        let running: Vec<Container> = {
            let conn = self.db.lock();
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM containers WHERE status = 'running'"
            ))?;
            let rows = stmt
                .query_map([], from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows
        };
        for c in running
            .iter()
            .filter(|c| !c.shim_alive(&self.paths.locks()))
        {
            self.finish_dead(c)?;
        }
        self.finish_half_removed()
    }

    /// A started container whose files are gone was being removed when its remover was
    /// killed (files go first, the row last): the row goes now.
    fn finish_half_removed(&self) -> Result<()> {
        sweep_aside(&self.paths);
        let ids: Vec<String> = {
            let conn = self.db.lock();
            let mut stmt = conn.prepare("SELECT id FROM containers WHERE status != 'created'")?;
            let rows = stmt
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            rows
        };
        for id in ids {
            if !self.dir(&id).join("launch.json").exists() {
                self.finish_half_removed_one(&id)?;
            }
        }
        Ok(())
    }

    /// Finishes one container's removal if nobody is at it (its lock is free) and it is
    /// still half-removed once we hold the lock.
    fn finish_half_removed_one(&self, id: &str) -> Result<()> {
        let Some(_held) = Lock::Creator.try_take(&self.paths, id)? else {
            return Ok(());
        };
        let row: Option<Status> = self
            .db
            .lock()
            .query_row("SELECT status FROM containers WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        let half = matches!(row, Some(s) if s != Status::Created && s != Status::Running)
            && !self.dir(id).join("launch.json").exists();
        if half {
            crate::trace::step(|| format!("finish the removal of {id} (its files are gone)"));
            erase_locked(&self.paths, &self.db, id)?;
        } else if row.is_none() && !Lock::Supervisor.held(&self.paths.locks(), id) {
            // (An --rm container's supervisor removes it once done with its files.)
            let _ = Lock::remove_file(&self.paths, id);
        }
        Ok(())
    }

    /// Whether a "created" container was abandoned: its creator is gone without starting it
    /// (killed half-way), so nothing will ever start it. prune removes those.
    pub fn abandoned(&self, c: &Container) -> Result<bool> {
        if c.status != Status::Created {
            return Ok(false);
        }
        Ok(Lock::Creator.try_take(&self.paths, &c.id)?.is_some())
    }

    /// Finishes the life of a container whose supervisor died: its cgroup and network go,
    /// the exit the supervisor managed to record is kept (137, killed,
    /// otherwise), and a --rm container is removed, as its supervisor would have.
    fn finish_dead(&self, c: &Container) -> Result<()> {
        // The snapshot may be stale: act only if the row still names this dead supervisor
        // (a restart meanwhile has a live one, and its cgroup and network are not ours).
        let now_row = self.get_row(&c.id);
        let locks = self.paths.locks();
        let still = matches!(&now_row, Ok(r) if r.status == Status::Running && r.shim_pid == c.shim_pid && !r.shim_alive(&locks));
        if !still {
            return Ok(());
        }
        crate::trace::step(|| format!("the supervisor of {} is gone: finish it", c.name));
        let _ = ContainerCgroup::of(&c.id).destroy();
        self.networks()
            .disconnect(&c.id, &c.spec.network, &c.spec.publish, true);
        // (Its lock file outlives its row; a supervisor of an earlier version kept the record
        // in the container's directory, set aside under tmp by a --rm one.)
        let exit = shim::read_exit_record(&Lock::path(&self.paths, &c.id))
            .or_else(|| shim::read_exit_record(&self.dir(&c.id).join("exit")))
            .or_else(|| {
                shim::read_exit_record(&self.paths.tmp().join(format!("{ASIDE}{}/exit", c.id)))
            });
        let changed = self.db.lock().execute(
            "UPDATE containers SET status = 'exited', exit_code = COALESCE(?2, exit_code, 137), oom_killed = COALESCE(?3, oom_killed), pid = NULL, shim_pid = NULL, finished = ?4 WHERE id = ?1 AND status = 'running' AND shim_pid IS ?5",
            params![c.id, exit.map(|e| e.0), exit.map(|e| e.1 as i64), now(), c.shim_pid],
        )?;
        if changed > 0 {
            let mut attrs = serde_json::Map::new();
            attrs.insert("exitCode".into(), exit.map(|e| e.0).unwrap_or(137).into());
            events::record_with(&self.db, &c.id, "die", attrs);
        }
        if c.spec.auto_remove {
            erase(&self.paths, &self.db, &c.id)?;
        }
        Ok(())
    }

    /// Waits until the container has exited; returns its exit code.
    pub fn wait(&self, id: &str, timeout: Option<Duration>) -> Result<i64> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(2);
        loop {
            let c = self.get(id)?;
            if c.status == Status::Exited {
                return Ok(c.exit_code.unwrap_or(-1));
            }
            if c.status == Status::Created {
                return Err(Error::conflict(format!(
                    "container {} has not been started",
                    c.name
                )));
            }
            if let Some(t) = timeout.filter(|t| start.elapsed() >= *t) {
                return Err(Error::new(
                    Kind::Timeout,
                    format!("container {} is still running after {t:?}", c.name),
                ));
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }

    /// Sends a signal to the container's init.
    pub fn kill(&self, id: &str, signal: &str) -> Result<()> {
        let c = self.get(id)?;
        let pid = running_pid(&c)?;
        let sig = parse_signal(signal)?;
        crate::trace::step(|| format!("kill({pid}, {sig})"));
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig)
            .map_err(|e| Error::sys("cannot signal", Path::new(&format!("/proc/{pid}")), e))?;
        let mut attrs = serde_json::Map::new();
        attrs.insert("signal".into(), (sig as i32).into());
        events::record_with(&self.db, &c.id, "kill", attrs);
        // A paused container takes its signals once thawed; a kill must not wait for that.
        if sig == nix::sys::signal::Signal::SIGKILL {
            let cg = ContainerCgroup::of(&c.id);
            if cg.is_frozen() {
                cg.freeze(false)?;
            }
        }
        Ok(())
    }

    /// docker pause: freezes every process of a running container.
    pub fn pause(&self, id: &str) -> Result<Container> {
        let c = self.get(id)?;
        running_pid(&c)?;
        ContainerCgroup::of(&c.id).freeze(true)?;
        events::record(&self.db, &c.id, "pause");
        Ok(c)
    }

    /// docker unpause.
    pub fn unpause(&self, id: &str) -> Result<Container> {
        let c = self.get(id)?;
        running_pid(&c)?;
        let cg = ContainerCgroup::of(&c.id);
        if !cg.is_frozen() {
            return Err(Error::conflict(format!(
                "container {} is not paused",
                c.name
            )));
        }
        cg.freeze(false)?;
        events::record(&self.db, &c.id, "unpause");
        Ok(c)
    }

    /// Whether a running container is paused.
    pub fn paused(&self, c: &Container) -> bool {
        c.status == Status::Running && ContainerCgroup::of(&c.id).is_frozen()
    }

    /// The image's StopSignal (default SIGTERM), then SIGKILL after `timeout`.
    pub fn stop(&self, id: &str, timeout: Duration) -> Result<Container> {
        let c = self.get(id)?;
        // Stopped by hand: its restart policy must not bring it back (also when it is
        // between two runs, waiting for its restart).
        let _ = std::fs::write(self.dir(&c.id).join(STOPPED), b"");
        if c.status != Status::Running {
            return Ok(c);
        }
        // A --rm container removes itself once stopped: gone is stopped.
        let stopped = |c: &Container| Container {
            status: Status::Exited,
            pid: None,
            ..c.clone()
        };
        // A paused container is thawed to take its stop signal (as Docker does).
        let cg = ContainerCgroup::of(&c.id);
        if cg.is_frozen() {
            cg.freeze(false)?;
        }
        let _ = self.kill(&c.id, c.spec.stop_signal.as_deref().unwrap_or("SIGTERM"));
        match self.wait(&c.id, Some(timeout)) {
            Ok(_) => {}
            Err(e) if e.kind() == Kind::NotFound => return Ok(stopped(&c)),
            Err(_) => {
                crate::trace::step(|| {
                    format!(
                        "{} did not stop in {timeout:?}: kill every process of its cgroup",
                        c.name
                    )
                });
                let _ = self.kill(&c.id, "SIGKILL");
                let _ = ContainerCgroup::of(&c.id).destroy();
                match self.wait(&c.id, Some(Duration::from_secs(10))) {
                    Err(e) if e.kind() == Kind::NotFound => return Ok(stopped(&c)),
                    other => {
                        other?;
                    }
                }
            }
        }
        match self.get(&c.id) {
            Err(e) if e.kind() == Kind::NotFound => Ok(stopped(&c)),
            other => {
                events::record(&self.db, &c.id, "stop");
                other
            }
        }
    }

    /// Removes a container; a running one only with `force` (it is killed first).
    pub fn remove(&self, id: &str, force: bool) -> Result<()> {
        let mut c = self.get(id)?;
        // Twice at most: a supervisor may finish starting it while we take its locks.
        for attempt in 0..2 {
            if c.status == Status::Running {
                if !force {
                    return Err(Error::conflict(format!(
                        "container {} is running: stop it first, or force",
                        c.name
                    )));
                }
                // Removed is stopped: its restart policy must not start it meanwhile.
                let _ = std::fs::write(self.dir(&c.id).join(STOPPED), b"");
                let _ = self.kill(&c.id, "SIGKILL");
                match self.wait(&c.id, Some(Duration::from_secs(10))) {
                    // A --rm container removed itself: done.
                    Err(e) if e.kind() == Kind::NotFound => return Ok(()),
                    other => {
                        other?;
                    }
                }
            }
            match erase(&self.paths, &self.db, &c.id) {
                Err(e) if e.kind() == Kind::Conflict && force && attempt == 0 => {
                    c = self.get_row(&c.id)?;
                }
                other => {
                    other?;
                    break;
                }
            }
        }
        let _ = ContainerCgroup::of(&c.id).destroy();
        Ok(())
    }

    /// The lines of the container's log the query asks for (see `logs`).
    pub fn logs(&self, id: &str, q: &logs::LogQuery) -> Result<Vec<logs::Entry>> {
        let c = self.get(id)?;
        Ok(logs::read(&self.dir(&c.id), q))
    }

    /// Everything the container wrote, both streams as one text.
    pub fn log_text(&self, id: &str) -> Result<String> {
        let lines = self.logs(id, &logs::LogQuery::default())?;
        Ok(lines.iter().map(|e| e.text.as_str()).collect())
    }

    /// Hands `out` the lines the query asks for; with `follow`, then, as the container
    /// writes them, the new ones until it exits (docker logs -f) or `out` fails.
    pub fn write_logs(
        &self,
        id: &str,
        q: &logs::LogQuery,
        follow: bool,
        out: &mut dyn FnMut(&logs::Entry) -> std::io::Result<()>,
    ) -> Result<()> {
        let io_err = |e| Error::with_source(Kind::Io, "cannot write logs", e);
        if !follow {
            for e in &self.logs(id, q)? {
                out(e).map_err(io_err)?;
            }
            return Ok(());
        }
        let c = self.get(id)?;
        let dir = self.dir(&c.id);
        let (first, mut follower) = logs::read_and_follow(&dir, q);
        for e in &first {
            out(e).map_err(io_err)?;
        }
        let mut send = |lines: Vec<logs::Entry>| -> Result<()> {
            for e in lines.iter().filter(|e| q.wants(e)) {
                out(e).map_err(io_err)?;
            }
            Ok(())
        };
        loop {
            let running = self
                .get(&c.id)
                .map(|c| c.status == Status::Running)
                .unwrap_or(false);
            send(follower.more()?)?;
            if !running {
                return send(follower.finish());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Memory, CPU and process figures from the cgroup of a running container.
    pub fn stats(&self, id: &str) -> Result<Stats> {
        let c = self.get(id)?;
        running_pid(&c)?;
        let mut stats = ContainerCgroup::of(&c.id).stats();
        // No limit of its own: the host's memory is the limit, as docker stats shows it.
        if stats.memory_limit == 0 {
            stats.memory_limit = host_memory().unwrap_or(0);
        }
        Ok(stats)
    }

    /// Changes limits: recorded in the spec, and written to the live cgroup when running.
    pub fn update_limits(&self, id: &str, limits: &Limits) -> Result<Container> {
        let c = self.get(id)?;
        // The default pids limit stays unless a limit (or none, 0/-1) is asked for.
        let limits = &Limits {
            pids: limits
                .pids
                .or(Some(crate::runtime::cgroup::DEFAULT_PIDS_LIMIT)),
            ..limits.clone()
        };
        if c.status == Status::Running {
            ContainerCgroup::of(&c.id).apply(limits)?;
        }
        self.change_recorded(
            &c,
            |spec| spec.limits = limits.clone(),
            |launch| launch.limits = limits.clone(),
        )?;
        self.get(&c.id)
    }

    /// Changes what is recorded of a container: its spec in its row, and its launch file
    /// (read by its supervisor at each start and exit), the same change in both.
    pub(crate) fn change_recorded(
        &self,
        c: &Container,
        in_spec: impl FnOnce(&mut Spec),
        in_launch: impl FnOnce(&mut Launch),
    ) -> Result<()> {
        let mut spec = c.spec.clone();
        in_spec(&mut spec);
        let json = serde_json::to_string(&spec)
            .map_err(|e| Error::with_source(Kind::Io, "cannot encode spec", e))?;
        self.db.lock().execute(
            "UPDATE containers SET spec = ?2 WHERE id = ?1",
            params![c.id, json],
        )?;
        if let Ok(mut launch) = shim::read_launch(&self.paths, &c.id) {
            in_launch(&mut launch);
            let out = serde_json::to_vec_pretty(&launch)
                .map_err(|e| Error::with_source(Kind::Io, "cannot encode launch", e))?;
            write_atomic(&self.dir(&c.id).join("launch.json"), &out)?;
        }
        Ok(())
    }

    /// A new image from a container: its image plus its writable layer (docker commit).
    /// Works on running and exited containers; a running one is paused meanwhile (unless
    /// `opts.no_pause`).
    pub fn commit(
        &self,
        images: &ImageStore,
        id: &str,
        name: Option<&str>,
        opts: &crate::image::commit::CommitOptions,
    ) -> Result<crate::image::Image> {
        let c = self.get(id)?;
        let parent_id = c.spec.image_id.clone().ok_or_else(|| {
            Error::new(
                Kind::Unsupported,
                format!(
                    "container {} has a directory as its root, not an image: nothing to commit onto",
                    c.name
                ),
            )
        })?;
        let parent = images.get(&parent_id)?;
        let upper = self.dir(&c.id).join("upper");
        let tar =
            self.paths
                .tmp()
                .join(format!("commit-{}-{}.tar", &c.id[..12], std::process::id()));
        crate::trace::step(|| {
            format!(
                "tar {} into a layer (whiteouts as .wh. entries)",
                upper.display()
            )
        });
        // A running container is paused while its files are read (docker commit --pause),
        // so the layer is one moment of it; one paused already stays paused.
        let cg = ContainerCgroup::of(&c.id);
        let pause = c.status == Status::Running && !opts.no_pause && !cg.is_frozen();
        if pause {
            cg.freeze(true)?;
        }
        let made = crate::image::commit::diff_layer(&upper, &tar);
        if pause {
            cg.freeze(false)?;
        }
        let made =
            made.and_then(|diff_id| images.commit_layer(&parent, &tar, &diff_id, opts, name));
        let _ = std::fs::remove_file(&tar);
        made
    }

    /// Runs a command inside a running container; see `exec`.
    pub fn exec(
        &self,
        id: &str,
        req: &exec::ExecRequest,
        capture: bool,
    ) -> Result<exec::ExecOutput> {
        let c = self.get(id)?;
        let pid = running_pid(&c)?;
        if ContainerCgroup::of(&c.id).is_frozen() {
            return Err(Error::conflict(format!(
                "container {} is paused: unpause it first",
                c.name
            )));
        }
        exec::run(
            &process::helper_program(&self.helper),
            &self.paths,
            &c,
            pid,
            req,
            capture,
        )
    }
}

impl ContainerStore {
    /// A container's root for a copy: as its processes see it while it runs (volumes
    /// included), else its layers and writable layer, which the copy helper mounts privately.
    pub fn copy_root(
        &self,
        id: &str,
    ) -> Result<(Container, copy::CopyRoot, Option<lock::LockGuard>)> {
        let c = self.get(id)?;
        let running = |c: &Container| match (c.status, c.pid) {
            (Status::Running, Some(pid)) => Some(copy::CopyRoot::Proc {
                pid,
                id: c.id.clone(),
            }),
            _ => None,
        };
        if let Some(root) = running(&c) {
            return Ok((c, root, None));
        }
        // Its writable layer is mounted by the copy helper: no supervisor may start it (and
        // mount the same upper directory) meanwhile. Held by the caller until the copy ends.
        let held = Lock::Starting.take(&self.paths, &c.id)?;
        let c = self.get_row(&c.id)?;
        if let Some(root) = running(&c) {
            return Ok((c, root, None));
        }
        let launch = shim::read_launch(&self.paths, &c.id)?;
        let root = match &launch.dir {
            Some(dir) => copy::CopyRoot::Dir(dir.clone()),
            None => copy::CopyRoot::Overlay {
                lowers: launch.layers.clone(),
                upper: Some((launch.upper.clone(), launch.work.clone())),
                target: launch.mount_point.clone(),
                empty: self.paths.root.join("empty"),
            },
        };
        Ok((c, root, Some(held)))
    }

    /// Whether something accepts TCP connections on `port` inside a running container's
    /// network (tried for at most `timeout`).
    pub fn port_open(&self, id: &str, port: u16, timeout: Duration) -> Result<bool> {
        let c = self.get(id)?;
        let pid = running_pid(&c)?;
        let ip = c.ip.as_deref().and_then(|i| i.parse().ok());
        Ok(probe::connect(pid, ip, port, timeout).is_ok())
    }

    /// `GET path` on `port` inside a running container's network: status and body.
    pub fn http_get(
        &self,
        id: &str,
        port: u16,
        path: &str,
        timeout: Duration,
    ) -> Result<(u16, String)> {
        let c = self.get(id)?;
        let pid = running_pid(&c)?;
        let ip = c.ip.as_deref().and_then(|i| i.parse().ok());
        probe::http_get(pid, ip, port, path, timeout)
    }

    /// Starts again the containers whose restart policy says they should be running, as
    /// Docker's daemon does when it starts: after the host came back up, or after their
    /// supervisor died. `always` ones, and `unless-stopped` ones that were not stopped by
    /// the user; never `on-failure` or `no` ones. Returns each one tried with how it went.
    pub fn resume(&self) -> Result<Vec<(String, Result<()>)>> {
        use crate::runtime::launch::Restart;
        let mut tried = Vec::new();
        for row in self.list()? {
            let due = match row.spec.restart {
                Some(Restart::Always) => true,
                Some(Restart::UnlessStopped) => !self.dir(&row.id).join(STOPPED).exists(),
                _ => false,
            };
            if !due {
                continue;
            }
            // Looked at again: a supervisor that died is noticed here (its container exited).
            let c = match self.get(&row.id) {
                Ok(c) => c,
                Err(e) if e.kind() == Kind::NotFound => continue,
                Err(e) => return Err(e),
            };
            // Running ones are fine; created ones never ran (Docker leaves them too).
            if c.status != Status::Exited {
                continue;
            }
            crate::trace::step(|| {
                format!("resume {} (restart policy {:?})", c.name, row.spec.restart)
            });
            let started = self.start(&c.id, Attach::Detach).map(|_| ());
            tried.push((c.name, started));
        }
        Ok(tried)
    }

    /// How many times its restart policy has started the container again.
    pub fn restart_count(&self, id: &str) -> Result<u32> {
        let c = self.get(id)?;
        Ok(restarts(&self.dir(&c.id)))
    }

    /// Copies between two roots in the copy helper; returns (entries, bytes).
    pub fn copy(&self, args: &copy::CopyArgs) -> Result<(u64, u64)> {
        copy::run(&self.helper, args)
    }

    /// `docker cp HOST_PATH CONTAINER:PATH`.
    pub fn copy_in(&self, id: &str, host: &Path, dest: &str) -> Result<(u64, u64)> {
        let (_, into, _held) = self.copy_root(id)?;
        self.copy(&copy::CopyArgs {
            from: copy::CopyRoot::Dir(PathBuf::from("/")),
            into,
            sources: vec![absolute(host)?],
            dest: dest.to_string(),
            mode: copy::CopyMode::Cp,
            owner: None,
            chmod: None,
            ignore: Vec::new(),
            extract: false,
        })
    }

    /// `docker cp CONTAINER:PATH HOST_PATH`.
    pub fn copy_out(&self, id: &str, src: &str, host: &Path) -> Result<(u64, u64)> {
        let (_, from, _held) = self.copy_root(id)?;
        self.copy(&copy::CopyArgs {
            from,
            into: copy::CopyRoot::Dir(PathBuf::from("/")),
            sources: vec![src.to_string()],
            dest: absolute(host)?,
            mode: copy::CopyMode::Cp,
            owner: None,
            chmod: None,
            ignore: Vec::new(),
            extract: false,
        })
    }
}

/// A host path as an absolute one (relative to the working directory), keeping a trailing
/// `/` or `/.`, which mean something to cp.
fn absolute(p: &Path) -> Result<String> {
    let text = p.to_string_lossy().to_string();
    if p.is_absolute() {
        return Ok(text);
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Error::with_source(Kind::Io, "cannot read the working directory", e))?;
    Ok(format!("{}/{text}", cwd.display()))
}

/// The host's memory in bytes (MemTotal of /proc/meminfo).
fn host_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The init's pid of a running container, or a conflict error naming it.
fn running_pid(c: &Container) -> Result<i32> {
    match (c.status, c.pid) {
        (Status::Running, Some(p)) => Ok(p),
        _ => Err(Error::conflict(format!(
            "container {} is not running",
            c.name
        ))),
    }
}

impl Container {
    /// Whether its supervisor still runs (a recycled pid is not it).
    fn shim_alive(&self, locks: &Path) -> bool {
        self.shim_pid.is_some_and(|p| shim_alive(p, &self.id))
            || Lock::Supervisor.held(locks, &self.id)
    }
}

fn shim_alive(pid: i32, id: &str) -> bool {
    // The pid must still be our supervisor for this container, not a recycled pid: its
    // command line is `__shim '{ShimArgs}'` naming the id. (Supervisors also hold their
    // supervisor lock, the surer sign; this check keeps those started before it existed.
    // One started ahead, `__shim-early`, does not name its container: its lock alone tells.)
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            let args: Vec<&[u8]> = c.split(|b| *b == 0).collect();
            args.get(1) == Some(&process::SHIM.as_bytes())
                && args
                    .get(2)
                    .and_then(|a| {
                        process::parse_args::<ShimArgs>(process::SHIM, &String::from_utf8_lossy(a))
                            .ok()
                    })
                    .is_some_and(|a| a.id == id)
        })
        .unwrap_or(false)
}

/// "SIGTERM", "TERM", "term" or "15".
pub fn parse_signal(s: &str) -> Result<nix::sys::signal::Signal> {
    use std::str::FromStr;
    if let Ok(n) = s.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n)
            .map_err(|_| Error::invalid(format!("invalid signal {s:?}")));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    nix::sys::signal::Signal::from_str(&name)
        .map_err(|_| Error::invalid(format!("invalid signal {s:?}")))
}

/// Wraps a raw descriptor number the shim was handed.
pub(crate) fn fd_from_raw(fd: i32) -> OwnedFd {
    // SAFETY: the caller passes a descriptor it owns and nothing else will close.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// The host's init for --init: `GOCKER_INIT_PATH`, else the first found of tini's static
/// build (Debian's tini package), Docker's docker-init and podman's catatonit. It is bound
/// into images that have no C library of their own, so it must be statically linked.
fn init_binary() -> Result<PathBuf> {
    const CANDIDATES: &[&str] = &[
        "/usr/bin/tini-static",
        "/usr/libexec/docker/docker-init",
        "/usr/libexec/podman/catatonit",
    ];
    let path = match std::env::var_os("GOCKER_INIT_PATH") {
        Some(p) => PathBuf::from(p),
        None => CANDIDATES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| {
                Error::not_found(format!(
                    "--init needs a static init on this host and none of {} is there: install tini (apt-get install tini) or set GOCKER_INIT_PATH",
                    CANDIDATES.join(", ")
                ))
            })?,
    };
    let mut head = vec![0u8; 4096];
    let n = std::fs::File::open(&path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(|e| Error::io("cannot read the init", &path, e))?;
    head.truncate(n);
    match plan::static_elf(&head) {
        Some(true) => Ok(path),
        Some(false) => Err(Error::invalid(format!(
            "the init {} is dynamically linked and would not run inside an image: use a static one such as /usr/bin/tini-static",
            path.display()
        ))),
        None => Err(Error::invalid(format!(
            "the init {} is not an executable for this host (a 64-bit ELF file)",
            path.display()
        ))),
    }
}
