//! The per-container supervisor (`gocker-script __shim '{ShimArgs}'`; see `process` for the
//! drawing of every process and pipe).
//!
//! A fresh, single-threaded process: it makes the cgroup, clones the init into the new
//! namespaces, reports a `ShimMessage` on descriptor 3, forwards signals,
//! keeps the container's log (and passes a foreground container's output on), and when the init exits records the exit status
//! and removes the cgroup (the mount namespace, and with it every mount, dies with the init).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::sync::Arc;

use nix::sched::CloneFlags;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use rusqlite::params;

use super::fd_from_raw;
use super::logs::{LogWriter, Stream};
use super::process::{EarlyShimArgs, ShimArgs, ShimMessage, StatusWriter};
use super::spec::{Launch, Namespace};
use crate::error::{Error, Kind, Result, WireError};
use crate::network::{Networks, VethAhead};
use crate::runtime::cgroup::{self, ContainerCgroup, Hierarchy, Limits};
use crate::runtime::clone::{self, Placement};
use crate::runtime::init::{self, Confinement};
use crate::runtime::security::{self, Security};
use crate::store::{Db, Paths};
use crate::sys::netlink::NetNs;
use crate::sys::now;

static INIT_PID: AtomicI32 = AtomicI32::new(0);
/// The container's pty master, when it has one: a window size change goes there.
static TTY_MASTER: AtomicI32 = AtomicI32::new(-1);

/// A foreground container: the terminal's Ctrl-C comes to this supervisor.
static FOREGROUND: AtomicBool = AtomicBool::new(false);
/// When the last Ctrl-C came (monotonic milliseconds), so a second one soon after kills.
static LAST_INTERRUPT_MS: AtomicI64 = AtomicI64::new(0);
/// The container was killed for a second Ctrl-C (its exit is then 130, see `supervise`).
static KILLED_BY_INTERRUPT: AtomicBool = AtomicBool::new(false);
/// How soon a second Ctrl-C must follow the first to kill the container.
const SECOND_INTERRUPT_MS: i64 = 2000;

fn monotonic_ms() -> i64 {
    // SAFETY: clock_gettime is async-signal-safe and writes only the timespec given.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000
}

/// Whether `pid` has a handler for SIGINT (the SigCgt mask of /proc/PID/status), read
/// with nothing but async-signal-safe calls and the stack: a PID 1 without one never gets
/// a SIGINT, the kernel drops it.
fn catches_sigint(pid: i32) -> bool {
    let mut path = *b"/proc/\0\0\0\0\0\0\0\0\0\0\0/status\0";
    let mut digits = [0u8; 11];
    let (mut n, mut len) = (pid.max(0) as u32, 0);
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 || len == digits.len() {
            break;
        }
    }
    let mut at = 6;
    for i in (0..len).rev() {
        path[at] = digits[i];
        at += 1;
    }
    let tail = b"/status\0";
    path[at..at + tail.len()].copy_from_slice(tail);
    let mut buf = [0u8; 4096];
    // SAFETY: open, read and close are async-signal-safe; the buffers are ours.
    let got = unsafe {
        let fd = libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return true;
        }
        let got = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        got
    };
    let text = &buf[..got.max(0) as usize];
    let key = b"SigCgt:\t";
    let Some(start) = text.windows(key.len()).position(|w| w == key) else {
        return true;
    };
    // The mask in hex, lowest signal in the last digit: SIGINT (2) is its bit 1.
    let hex = &text[start + key.len()..];
    let end = hex
        .iter()
        .position(|c| !c.is_ascii_hexdigit())
        .unwrap_or(hex.len());
    match end.checked_sub(1).map(|i| hex[i]) {
        Some(last) => {
            let v = (last as char).to_digit(16).unwrap_or(0xf);
            v & 0b10 != 0
        }
        None => true,
    }
}

fn say(text: &[u8]) {
    // SAFETY: write is async-signal-safe.
    unsafe { libc::write(2, text.as_ptr().cast(), text.len()) };
}

extern "C" fn forward(sig: libc::c_int) {
    let pid = INIT_PID.load(Ordering::Relaxed);
    // Ctrl-C on a foreground container: forwarded, and a second one within 2 s kills it
    // (a container's PID 1 without a SIGINT handler would never end of the first).
    if sig == libc::SIGINT && pid > 0 && FOREGROUND.load(Ordering::Relaxed) {
        let now = monotonic_ms();
        let last = LAST_INTERRUPT_MS.swap(now, Ordering::Relaxed);
        if last > 0 && now - last <= SECOND_INTERRUPT_MS {
            KILLED_BY_INTERRUPT.store(true, Ordering::Relaxed);
            // SAFETY: kill is async-signal-safe.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return;
        }
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, libc::SIGINT) };
        if !catches_sigint(pid) {
            say(b"\r\nthe container's PID 1 ignores SIGINT: Ctrl-C again within 2 s kills it\r\n");
        }
        return;
    }

    let master = TTY_MASTER.load(Ordering::Relaxed);
    if sig == libc::SIGWINCH && master >= 0 {
        // SAFETY: ioctl is async-signal-safe; winsize is plain data on our stack.
        unsafe {
            let mut ws: libc::winsize = std::mem::zeroed();
            if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
                libc::ioctl(master, libc::TIOCSWINSZ, &ws);
            }
        }
        return;
    }
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// The supervisor's entry point; returns the process exit status.
pub fn main(args: &ShimArgs) -> i32 {
    let mut status = StatusWriter::take();
    if args.detach {
        if let Some(code) = leave_the_caller(&mut status, &args.id) {
            return code;
        }
    }
    let db = Db::open_lean(&Paths::new(&args.root).db());
    let prepared = Prepared::default();
    supervise_or_tell(&args.root, &args.id, args.detach, &mut status, db, prepared)
}

/// The early supervisor's entry point (`__shim-early`): it leaves the caller as `main` does,
/// opens the database, and only then waits for its container's id; the caller meanwhile
/// compiles, resolves and records the container (issue 16). Told none, it ends quietly.
pub fn main_early(args: &EarlyShimArgs) -> i32 {
    // Started on the CPUs its caller was not on (see sys::cpu::steer_away).
    crate::sys::cpu::allow(&args.cpus);
    let (mut status, assignment) = StatusWriter::take_with_assignment();
    if args.detach {
        if let Some(code) = leave_the_caller(&mut status, "an early start") {
            return code;
        }
    }
    // While it waits, a Ctrl-C (or the like) to the caller's process group is the
    // caller's to handle: this one must live on for the next start. It ends when its
    // caller does (EOF on the assignment pipe).
    let waiting = [
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGHUP,
    ];
    set_signals(&waiting, SigHandler::SigIgn);
    let db_path = Paths::new(&args.root).db();
    let db = Db::open_lean(&db_path);
    let prepared = Prepared::ahead(args.bridged);
    let Some(id) = super::process::read_assignment(assignment) else {
        return 0;
    };
    set_signals(&waiting, SigHandler::SigDfl);
    // A root made meanwhile (the caller's first use of it): opened now.
    let db = db.or_else(|_| Db::open_lean(&db_path));
    crate::trace::step(|| format!("the supervisor started ahead takes container {}", &id[..12]));
    supervise_or_tell(&args.root, &id, args.detach, &mut status, db, prepared)
}

/// What a supervisor started ahead makes while it waits, for a container with the defaults
/// (issue 16): its cgroup (v1: about 0.2 ms of mkdirs and device rules), its confinement
/// (the capability set and the seccomp filter compiled, 0.1 ms), its network namespace
/// with the loopback up (0.4 ms) and, for a container expected on a bridge, a veth pair with
/// its far end in that namespace (made on a thread of its own while the rest goes on). A
/// container that asks for other limits gets them written over; one with other security
/// settings gets its own confinement; one without a network namespace of its own leaves
/// that one unused, and so does one not on a bridge if the namespace holds a veth end. A
/// plain supervisor prepares nothing.
#[derive(Default)]
struct Prepared {
    cgroup: Option<cgroup::Ahead>,
    confinement: Option<Confinement>,
    netns: Option<OwnedFd>,
    veth: Option<MakingVeth>,
}

/// The thread making a veth pair ahead; joined for its pair (none if it failed).
type MakingVeth = std::thread::JoinHandle<Option<VethAhead>>;

impl Prepared {
    fn ahead(bridged: bool) -> Prepared {
        let defaults = Security::default();
        let netns = init::prepare_network_namespace().ok();
        // The thread holds a namespace descriptor of its own: whatever becomes of ours.
        let veth = netns
            .as_ref()
            .filter(|_| bridged)
            .and_then(|ns| ns.try_clone().ok())
            .and_then(|ns| {
                std::thread::Builder::new()
                    .name("veth ahead".into())
                    .stack_size(64 << 10)
                    .spawn(move || VethAhead::make(ns.as_raw_fd()).ok())
                    .ok()
            });
        Prepared {
            cgroup: Hierarchy::host().prepare_ahead(
                std::process::id(),
                // What a container that asks for no limits gets (see plan::launch).
                &Limits {
                    pids: Some(cgroup::DEFAULT_PIDS_LIMIT),
                    ..Limits::default()
                },
                &security::device_rules(defaults.privileged, &[]),
            ),
            confinement: Confinement::resolve(&defaults).ok(),
            netns,
            veth,
        }
    }

    /// The network namespace made ahead, for a container that gets one of its own, and the
    /// veth pair made in it, for one on a bridge. The thread making the pair is joined
    /// whatever the container (made while the caller compiled, it is done by now, mostly):
    /// the init is cloned from a single-threaded process, or a lock another thread held
    /// (malloc's, say) would stay locked in it for ever.
    fn network(&mut self, launch: &Launch) -> (Option<OwnedFd>, Option<VethAhead>) {
        let netns = self.netns.take();
        let veth = self.veth.take().map(|making| making.join().ok().flatten());
        match (launch.has(Namespace::Net), launch.network.bridge(), veth) {
            (false, _, _) => (None, None),
            (true, Some(_), veth) => (netns, veth.flatten()),
            // Not on a bridge: a namespace with a veth end in it is not its.
            (true, None, Some(_)) => (None, None),
            (true, None, None) => (netns, None),
        }
    }

    /// Container `id`'s cgroup: the one made ahead, renamed, or a new one.
    fn cgroup(&mut self, id: &str, launch: &Launch) -> Result<ContainerCgroup> {
        let rules = launch.device_rules();
        if let Some(ahead) = self.cgroup.take() {
            match ahead.take(id, &launch.limits, &rules) {
                Ok(cgroup) => return Ok(cgroup),
                Err(e) => crate::trace::step(|| format!("the cgroup made ahead: {}", e.chain())),
            }
        }
        let cgroup = ContainerCgroup::of(id);
        cgroup.create(&launch.limits, &rules)?;
        Ok(cgroup)
    }

    /// The container's confinement: the one compiled ahead if it asks for the defaults.
    fn confinement(&mut self, launch: &Launch) -> Result<Confinement> {
        match self.confinement.take() {
            Some(c) if launch.security == Security::default() => Ok(c),
            _ => Confinement::resolve(&launch.security),
        }
    }
}

/// Double fork: the caller reaps the intermediate at once, and the supervisor, now an
/// orphan in its own session, outlives the script that started it. Some(status) where this
/// process is to end now: in the intermediate (0), or after a fork that failed (125, told).
fn leave_the_caller(status: &mut StatusWriter, what: &str) -> Option<i32> {
    // SAFETY: this process is single-threaded (a fresh exec), so fork is safe.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { .. }) => Some(0),
        Ok(nix::unistd::ForkResult::Child) => {
            let _ = nix::unistd::setsid();
            None
        }
        Err(e) => {
            let e = Error::sys("cannot fork the supervisor of", Path::new(what), e);
            status.send(&ShimMessage::Failed(WireError::from(&e)));
            Some(125)
        }
    }
}

/// Sets each of `signals` to `handler` (SIG_IGN or SIG_DFL).
fn set_signals(signals: &[Signal], handler: SigHandler) {
    let action = SigAction::new(handler, SaFlags::empty(), SigSet::empty());
    for sig in signals {
        // SAFETY: SIG_IGN and SIG_DFL run no code of ours in signal context.
        unsafe {
            let _ = nix::sys::signal::sigaction(*sig, &action);
        }
    }
}

/// Supervises, or tells the caller why it could not.
fn supervise_or_tell(
    root: &Path,
    id: &str,
    detach: bool,
    status: &mut StatusWriter,
    db: Result<Db>,
    prepared: Prepared,
) -> i32 {
    match db.and_then(|db| supervise(root, id, detach, status, db, prepared)) {
        Ok(code) => code,
        Err(e) => {
            status.send(&ShimMessage::Failed(WireError::from(&e)));
            125
        }
    }
}

/// The container's supervisor lock, for this supervisor's whole life. Another supervisor of
/// the same container (two starts at once) holds it while its container runs: after a short
/// wait (one that has just told its exit may still be finishing) that is a conflict, never
/// a second init nor a wait as long as the other container lives.
fn supervisor_lock(paths: &Paths, id: &str) -> Result<crate::store::lock::LockGuard> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        if let Some(held) = super::Lock::Supervisor.try_take(paths, id)? {
            return Ok(held);
        }
        if std::time::Instant::now() >= deadline {
            return Err(Error::conflict(format!(
                "container {} already has a supervisor: it is running",
                &id[..12.min(id.len())]
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

pub(super) fn read_launch(paths: &Paths, id: &str) -> Result<Launch> {
    let path = paths.containers().join(id).join("launch.json");
    let data = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
    serde_json::from_slice(&data)
        .map_err(|e| Error::with_source(Kind::Corrupt, format!("{} is damaged", path.display()), e))
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    super::process::pipe("cannot create a pipe", "pipe")
}

fn supervise(
    root: &Path,
    id: &str,
    detach: bool,
    status: &mut StatusWriter,
    db: Db,
    mut prepared: Prepared,
) -> Result<i32> {
    let paths = Paths::new(root);
    // Held for as long as this supervisor lives: it is how others tell it is alive.
    let alive = supervisor_lock(&paths, id)?;
    // Held until the start is recorded: a remover waits for it (see Lock::Starting).
    let starting = super::Lock::Starting.take(&paths, id)?;
    let mut launch = read_launch(&paths, id)?;
    let db = Arc::new(db);
    let name: String =
        db.lock()
            .query_row("SELECT name FROM containers WHERE id = ?1", [id], |r| {
                r.get(0)
            })?;
    let networks = Networks::new(paths.clone(), db.clone());
    prepare_exit_record(alive.file(), &paths, id)?;
    let confinement = prepared.confinement(&launch)?;
    let cgroup = prepared.cgroup(id, &launch)?;
    // Address, (empty) hosts file, ports and bridge before the clone; the hosts files'
    // content and the veth pair after it.
    let attachment = networks.prepare(&mut launch, &name);
    let (netns, veth) = prepared.network(&launch);
    let netns_fd = netns.as_ref().map(|fd| fd.as_raw_fd());
    let (net_ref, launch_ref) = (&networks, &launch);
    let started = attachment.and_then(|attachment| {
        // The veth's far end goes into the namespace made ahead, or the init's own.
        let connect = attachment.as_ref().map(|a| {
            move |pid: i32| {
                let ns = netns_fd.map_or(NetNs::Pid(pid), NetNs::Fd);
                net_ref.connect(a, launch_ref, ns, veth)
            }
        });
        let connect = connect
            .as_ref()
            .map(|f| f as &(dyn Fn(i32) -> Result<()> + Sync));
        start_init(launch_ref, &confinement, netns, &cgroup, detach, connect)
            .map(|s| (s, attachment))
    });
    let ((pid, logs), attachment) = match started {
        Ok(v) => v,
        Err(e) => {
            networks.disconnect(id, &launch.network, &launch.publish, true);
            let _ = cgroup.destroy();
            return Err(e);
        }
    };
    INIT_PID.store(pid.as_raw(), Ordering::Relaxed);
    FOREGROUND.store(!detach, Ordering::Relaxed);
    let handler = SigAction::new(
        SigHandler::Handler(forward),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        // SAFETY: the handler only calls kill, which is async-signal-safe.
        unsafe {
            let _ = nix::sys::signal::sigaction(sig, &handler);
        }
    }
    // The start and its event in one commit.
    let recorded = (|| -> Result<()> {
        let mut conn = db.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE containers SET status = 'running', pid = ?2, shim_pid = ?3, started = ?4, exit_code = NULL, oom_killed = 0, finished = NULL WHERE id = ?1",
            params![id, pid.as_raw(), std::process::id() as i64, now()],
        )?;
        super::events::record_in(&tx, id, "start", Default::default())?;
        tx.commit()?;
        Ok(())
    })();
    if let Err(e) = recorded {
        // Unrecorded, nobody would ever reconcile it: undo the start here.
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        networks.disconnect(id, &launch.network, &launch.publish, true);
        drop(attachment);
        let _ = cgroup.destroy();
        return Err(e);
    }
    // Host ports chosen at start (port 0) are the container's from now on: ps, port() and
    // whoever cleans up after it read them from its row.
    if launch.publish.iter().any(|p| p.host_port != 0) {
        if let Err(e) = record_ports(&db, id, &launch.publish) {
            crate::trace::step(|| format!("cannot record the published ports: {}", e.chain()));
        }
    }
    drop(starting);
    // A foreground caller hears again when the container has exited.
    if detach {
        status.send(&ShimMessage::Started { pid: pid.as_raw() });
    } else {
        status.tell(&ShimMessage::Started { pid: pid.as_raw() });
    }
    let up_since = std::time::Instant::now();
    // The health check runs beside the container, for as long as it runs.
    match launch
        .health
        .as_ref()
        .map(super::health::Check::from_config)
    {
        Some(Ok(Some(check))) => {
            let store = super::ContainerStore::new(paths.clone(), db.clone());
            let id = id.to_string();
            std::thread::spawn(move || super::health::run_checks(store, id, check));
        }
        Some(Err(e)) => crate::trace::step(|| format!("no health check: {}", e.chain())),
        _ => {}
    }

    if detach {
        // From here on it waits, copies logs and tears down: its start-up pages go back
        // (about 0.7 MB a supervisor otherwise keeps mapped; issue 16), SQLite's cached
        // pages first.
        let _ = db.lock().execute_batch("PRAGMA shrink_memory");
        crate::sys::memory::shed_startup_pages();
    }
    match logs {
        Output::Inherit => {}
        Output::Logs { sources, pass_on } => {
            copy_logs(&paths.containers().join(id), sources, pass_on)
        }
        Output::Tty(master) if detach => copy_logs(
            &paths.containers().join(id),
            vec![(Stream::Stdout, master)],
            false,
        ),
        Output::Tty(master) => relay_tty(master),
    }
    let code = loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, c)) => break c,
            // Killed for a second Ctrl-C: it ends as the user's interrupt, 130, as a
            // shell reports a job stopped by Ctrl-C (the SIGKILL only carried it out).
            Ok(WaitStatus::Signaled(_, Signal::SIGKILL, _))
                if KILLED_BY_INTERRUPT.load(Ordering::Relaxed) =>
            {
                break 128 + libc::SIGINT
            }
            Ok(WaitStatus::Signaled(_, s, _)) => break 128 + s as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break 255,
        }
    };
    INIT_PID.store(0, Ordering::Relaxed);
    // The init is gone and with it, once the kernel is done, its network namespace and
    // the veth pair: the address and ports are free now.
    networks.disconnect(id, &launch.network, &launch.publish, false);
    drop(attachment);
    let oom = cgroup.oom_killed();
    // The exit is written first into its record's space, set aside at the start: a full
    // disk cannot lose it, and if the database cannot take it either, whoever looks next
    // finishes the container from the record.
    write_exit_record(alive.file(), code, oom);
    // The exit's events: an OOM kill, then the death with its status.
    let exit_events = |tx: &rusqlite::Transaction| -> Result<()> {
        if oom {
            super::events::record_in(tx, id, "oom", Default::default())?;
        }
        let mut attrs = serde_json::Map::new();
        attrs.insert("exitCode".into(), code.into());
        Ok(super::events::record_in(tx, id, "die", attrs)?)
    };
    if launch.auto_remove {
        // Out of the store at once: the files set aside in one rename, the exit's events,
        // the destroy event and the row's deletion in one commit. Then the caller is told,
        // and only then do the cgroup and the files go: the caller waits for neither (issue
        // 16). One killed before it is done leaves them set aside, for the next look to
        // sweep. None: a remover (rm -f) got there first; the exit is told all the same.
        let aside = match retried(|| super::erase_aside(&paths, &db, id, &exit_events)) {
            Ok(aside) => aside,
            Err(e) => {
                // Unrecorded: whoever looks next finishes it (from its exit record).
                let _ = cgroup.destroy();
                return Err(e);
            }
        };
        status.send(&ShimMessage::Exited { code });
        let _ = cgroup.destroy();
        // The lock file first: killed after it, the files set aside are swept by the next
        // look (no supervisor holds them); the other way round, nothing would ever remove it.
        let _ = super::Lock::remove_file(&paths, id);
        if let Some(aside) = aside {
            if let Err(e) = crate::store::remove_tree(&aside) {
                crate::trace::step(|| format!("cannot remove {}: {}", aside.display(), e.chain()));
            }
        }
        return Ok(code);
    }
    let _ = cgroup.destroy();
    // The exit and its events in one commit.
    retried(|| {
        let mut conn = db.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE containers SET status = 'exited', exit_code = ?2, oom_killed = ?3, pid = NULL, shim_pid = NULL, finished = ?4 WHERE id = ?1",
            params![id, code, oom as i64, now()],
        )?;
        exit_events(&tx)?;
        tx.commit()?;
        Ok(())
    })?;
    // Read again now: `update --restart` may have changed it while the container ran.
    if let Some(policy) = read_launch(&paths, id)
        .map(|l| l.restart)
        .unwrap_or(launch.restart)
    {
        // The next supervisor takes the lock this one lets go (its exit is recorded).
        drop(alive);
        restart_if_due(&paths, &db, id, policy, code, up_since.elapsed());
    }
    status.send(&ShimMessage::Exited { code });
    Ok(code)
}

/// An exit must not be lost to a busy or momentarily failing database: five tries, 200 ms
/// apart (the exit record keeps it if all fail).
fn retried<T>(mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let mut result = f();
    for _ in 1..5 {
        if result.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        result = f();
    }
    result
}

/// The restart policy's turn: unless `stop` stopped it, a container whose exit the policy
/// covers is started again (by a new supervisor) after the backoff; the count is kept in
/// its `restarts` file. The backoff doubles with each quick exit and starts over after a
/// run of 10 s or more (Docker's), kept in its `backoff` file.
fn restart_if_due(
    paths: &Paths,
    db: &Arc<Db>,
    id: &str,
    policy: crate::runtime::launch::Restart,
    code: i32,
    ran_for: std::time::Duration,
) {
    let dir = paths.containers().join(id);
    let count_file = dir.join("restarts");
    let restarts = super::restarts(&dir);
    let stopped = || dir.join(super::STOPPED).exists() || !dir.join("launch.json").exists();
    if stopped() || !policy.applies(code, restarts) {
        return;
    }
    let backoff_file = dir.join("backoff");
    let previous = std::fs::read_to_string(&backoff_file)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok());
    let backoff = backoff_step(previous, ran_for);
    std::thread::sleep(crate::runtime::launch::Restart::delay(backoff));
    // Stopped or removed during the wait: it stays down.
    if stopped() {
        return;
    }
    let _ = std::fs::write(&backoff_file, (backoff + 1).to_string());
    let _ = std::fs::write(&count_file, (restarts + 1).to_string());
    crate::trace::step(|| format!("restart {id} (restart {} by its policy)", restarts + 1));
    let store = super::ContainerStore::new(paths.clone(), db.clone());
    if let Err(e) = store.start(id, super::Attach::Detach) {
        crate::trace::step(|| format!("cannot restart {id}: {}", e.chain()));
    }
}

/// How many quick exits in a row this one makes: a run of 10 s or more starts over.
fn backoff_step(previous: Option<u32>, ran_for: std::time::Duration) -> u32 {
    if ran_for >= std::time::Duration::from_secs(10) {
        0
    } else {
        previous.unwrap_or(0)
    }
}

/// Writes the published ports as bound into the container's recorded spec.
fn record_ports(db: &Db, id: &str, publish: &[crate::runtime::launch::Publish]) -> Result<()> {
    let conn = db.lock();
    let raw: String = conn.query_row("SELECT spec FROM containers WHERE id = ?1", [id], |r| {
        r.get(0)
    })?;
    let mut spec: super::spec::Spec = serde_json::from_str(&raw)
        .map_err(|e| Error::with_source(Kind::Corrupt, "the container's spec is damaged", e))?;
    if spec.publish == publish {
        return Ok(());
    }
    spec.publish = publish.to_vec();
    let raw = serde_json::to_string(&spec)
        .map_err(|e| Error::with_source(Kind::Io, "cannot encode the spec", e))?;
    conn.execute(
        "UPDATE containers SET spec = ?2 WHERE id = ?1",
        params![id, raw],
    )?;
    Ok(())
}

/// The exit record's size: room for any, written in place.
const EXIT_RECORD_SIZE: usize = 64;

/// Sets aside the space of the exit record (blank) at the start of the container's lock
/// file (see `Lock`), so that writing it at the exit needs no new space: a full disk cannot
/// lose it, and if the database cannot take the exit either, whoever looks next finishes
/// the container from the record. (The lock file, made by the creator, serves: one file
/// fewer for each start than an exit file of its own; issue 16.)
fn prepare_exit_record(lock_file: &File, paths: &Paths, id: &str) -> Result<()> {
    use std::os::unix::fs::FileExt;
    lock_file
        .write_all_at(&[b' '; EXIT_RECORD_SIZE], 0)
        .map_err(|e| Error::io("cannot write", &super::Lock::path(paths, id), e))
}

/// Records "CODE OOM" over the blank record, without truncating or growing the file.
fn write_exit_record(lock_file: &File, code: i32, oom: bool) {
    use std::os::unix::fs::FileExt;
    let mut record = format!("{code} {}", u8::from(oom)).into_bytes();
    record.resize(EXIT_RECORD_SIZE, b' ');
    // Not synced: its space was taken at the start, and it stands in for a database that
    // could not take the exit, not for a machine that lost power (the container is gone
    // then anyway). A sync here cost every exit 0.1-0.5 ms, and more while another program
    // writes (issue 16).
    let _ = lock_file.write_all_at(&record, 0);
}

/// The exit a supervisor recorded in `file` (its container's lock file), if it got that
/// far: (exit code, OOM-killed).
pub fn read_exit_record(file: &Path) -> Option<(i64, bool)> {
    let text = std::fs::read_to_string(file).ok()?;
    let mut parts = text.split_whitespace();
    let code = parts.next()?.parse().ok()?;
    let oom = parts.next()? == "1";
    Some((code, oom))
}

fn open_devnull() -> Result<OwnedFd> {
    let path = Path::new("/dev/null");
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|e| Error::io("cannot open", path, e))
}

/// Where the container's output goes.
enum Output {
    /// Straight to the caller's terminal or pipes.
    Inherit,
    /// Pipes whose contents go to the log and, with `pass_on` (a foreground container),
    /// to our own stdout and stderr as well.
    Logs {
        sources: Vec<(Stream, File)>,
        pass_on: bool,
    },
    /// The master side of the container's pseudo terminal.
    Tty(File),
}

/// Clones the init, puts it in the cgroup, lets it go and waits for it to exec, in four
/// stages: the descriptors it gets, the clone, its place (cgroup, veth), the go-ahead.
/// `connect` runs between the clone and the go-ahead: the init exists (its namespaces can be
/// handed things) but nothing of the container's own has run.
fn start_init(
    launch: &Launch,
    confinement: &Confinement,
    netns: Option<OwnedFd>,
    cgroup: &ContainerCgroup,
    detach: bool,
    connect: Option<&(dyn Fn(i32) -> Result<()> + Sync)>,
) -> Result<(Pid, Output)> {
    let mut flags = clone_flags(launch);
    if netns.is_some() {
        // The init enters the one made ahead instead.
        flags.remove(CloneFlags::CLONE_NEWNET);
    }
    let netns_fd = netns.as_ref().map(|fd| fd.as_raw_fd());
    let (go_r, go_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let console = console_pair(launch)?;
    let wiring = wire_stdio(launch, detach)?;
    // The child's copies of our ends must go, or a failure here would leave the init waiting
    // for a "go" that its own copy of the pipe keeps from ever reaching EOF (and us waiting
    // for an EOF on `err` that its copy keeps open). Descriptor 3 is the caller's status pipe.
    let mut theirs_to_close = vec![go_w.as_raw_fd(), err_r.as_raw_fd(), 3];
    if let Some((ours, _)) = &console {
        theirs_to_close.push(ours.as_raw_fd());
    }
    let cgroup_dir = if cgroup.is_v2() {
        Some(cgroup.open_dir()?)
    } else {
        None
    };
    let (go_fd, err_fd) = (go_r.as_raw_fd(), err_w.as_raw_fd());
    let console_fd = console.as_ref().map(|(_, theirs)| theirs.as_raw_fd());
    let stdio = wiring.fds;
    // SAFETY: this process is single-threaded here (the connect thread starts after the
    // clone; threads of a supervisor started ahead are joined before it: checked in debug
    // builds, which the tests run); the child only runs the init, which execs or exits.
    debug_assert!(
        super::process::single_threaded(),
        "the init's clone needs a single-threaded supervisor"
    );
    let (pid, placement) = unsafe {
        clone::clone_child(flags, cgroup_dir.as_ref().map(|d| d.as_fd()), || {
            for fd in &theirs_to_close {
                libc::close(*fd);
            }
            // The child owns its copies of these descriptors.
            init::child(
                launch,
                confinement,
                netns_fd.map(fd_from_raw),
                fd_from_raw(go_fd),
                fd_from_raw(err_fd),
                stdio,
                console_fd.map(fd_from_raw),
            ) as i32
        })
    }
    .map_err(|e| {
        Error::new(
            e.kind(),
            format!("{} ({})", e.chain(), clone::flag_names(flags)),
        )
    })?;
    crate::trace::step(|| {
        format!(
            "clone({}{}) with clone3 -> the container's init, PID 1 of its namespaces: {pid}",
            clone::flag_names(flags),
            if placement == Placement::InCgroup {
                "|CLONE_INTO_CGROUP"
            } else {
                ""
            }
        )
    });
    // Our copies of the child's ends go: EOF on `err` now means the init exec'd or died.
    drop((cgroup_dir, go_r, err_w, wiring.keep));
    let ours = console.map(|(ours, _theirs)| ours);
    if let Err(e) = place(pid, placement, cgroup, connect) {
        return Err(kill_and_explain(pid, e, err_r));
    }
    let mut go = File::from(go_w);
    if let Err(e) = go.write_all(b"g") {
        let e = Error::with_source(
            Kind::Runtime,
            "the container's init died before it started",
            e,
        );
        return Err(kill_and_explain(pid, e, err_r));
    }
    drop(go);
    await_exec(launch, pid, err_r, ours, wiring.output)
}

/// The namespaces the clone makes (the cgroup namespace is unshared by the init itself,
/// once it is in its cgroup).
fn clone_flags(launch: &Launch) -> CloneFlags {
    launch
        .namespaces
        .iter()
        .filter(|ns| **ns != Namespace::Cgroup)
        .fold(CloneFlags::empty(), |f, ns| f | ns.clone_flag())
}

/// With a terminal, the init opens it inside the container (so it is /dev/pts/0 of the
/// container's own devpts) and hands us the master over this socket pair.
fn console_pair(launch: &Launch) -> Result<Option<(OwnedFd, OwnedFd)>> {
    if !launch.tty {
        return Ok(None);
    }
    nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::Stream,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .map(Some)
    .map_err(|e| {
        Error::sys(
            "cannot create the console socket for",
            Path::new(&launch.id),
            e,
        )
    })
}

/// The init's standard descriptors and where its output goes.
struct Wiring {
    /// What the init makes its 0, 1, 2 (None: inherited).
    fds: Option<[i32; 3]>,
    output: Output,
    /// Our copies of the init's ends, closed after the clone.
    keep: Vec<OwnedFd>,
}

/// A container without a terminal writes into pipes whose contents go to its log (and, in
/// the foreground, on to ours); a detached one reads /dev/null, a foreground one our stdin.
/// One with a terminal gets it from its init (see `console_pair`).
fn wire_stdio(launch: &Launch, detach: bool) -> Result<Wiring> {
    if launch.tty {
        return Ok(Wiring {
            fds: None,
            output: Output::Inherit,
            keep: Vec::new(),
        });
    }
    let (out_r, out_w) = pipe()?;
    let (e_r, e_w) = pipe()?;
    let null = if detach { Some(open_devnull()?) } else { None };
    let stdin = null.as_ref().map_or(0, |n| n.as_raw_fd());
    let fds = [stdin, out_w.as_raw_fd(), e_w.as_raw_fd()];
    let mut keep = vec![out_w, e_w];
    keep.extend(null);
    Ok(Wiring {
        fds: Some(fds),
        output: Output::Logs {
            sources: vec![
                (Stream::Stdout, File::from(out_r)),
                (Stream::Stderr, File::from(e_r)),
            ],
            pass_on: !detach,
        },
        keep,
    })
}

/// Puts the init in its place: into its cgroup when clone3 could not start it there on v2
/// (on v1 the init joins its cgroup itself, first thing: see `ContainerCgroup::join_self`),
/// while its veth pair is made on another thread.
fn place(
    pid: Pid,
    placement: Placement,
    cgroup: &ContainerCgroup,
    connect: Option<&(dyn Fn(i32) -> Result<()> + Sync)>,
) -> Result<()> {
    let (added, connected) = std::thread::scope(|s| {
        let connecting = connect.map(|f| s.spawn(move || f(pid.as_raw())));
        let added = match placement {
            Placement::InCgroup => Ok(()),
            Placement::Outside if cgroup.is_v2() => cgroup.add(pid.as_raw()),
            Placement::Outside => Ok(()),
        };
        let connected = match connecting {
            Some(h) => h.join().unwrap_or_else(|_| {
                Err(Error::new(
                    Kind::Runtime,
                    "connecting the container panicked",
                ))
            }),
            None => Ok(()),
        };
        (added, connected)
    });
    added.and(connected)
}

/// Any failure after the clone kills the init first: it holds nothing we wait on any more,
/// so the error comes back at once. If the init failed on its own first, its message says
/// more, and is the one returned.
fn kill_and_explain(pid: Pid, e: Error, err_r: OwnedFd) -> Error {
    let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
    let _ = waitpid(pid, None);
    let mut message = String::new();
    let _ = File::from(err_r).read_to_string(&mut message);
    if message.is_empty() {
        e
    } else {
        WireError::decode(&message)
    }
}

/// Waits for the init's execve (EOF on `err`) or its error, and, with a terminal, its pty
/// master, which arrives first.
fn await_exec(
    launch: &Launch,
    pid: Pid,
    err_r: OwnedFd,
    console: Option<OwnedFd>,
    output: Output,
) -> Result<(Pid, Output)> {
    let master = console.and_then(|sock| receive_fd(&sock));
    let mut message = String::new();
    let _ = File::from(err_r).read_to_string(&mut message);
    if !message.is_empty() {
        let _ = waitpid(pid, None);
        return Err(WireError::decode(&message));
    }
    match master {
        Some(m) => {
            // The terminal starts at the caller's size.
            // SAFETY: winsize is plain data; the ioctls only read or write it.
            unsafe {
                let mut ws: libc::winsize = std::mem::zeroed();
                if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
                    libc::ioctl(m.as_raw_fd(), libc::TIOCSWINSZ, &ws);
                }
            }
            TTY_MASTER.store(m.as_raw_fd(), Ordering::Relaxed);
            Ok((pid, Output::Tty(File::from(m))))
        }
        None if launch.tty => {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            Err(Error::new(
                Kind::Runtime,
                "the container did not send its terminal",
            ))
        }
        None => Ok((pid, output)),
    }
}

/// Receives one descriptor sent with SCM_RIGHTS.
fn receive_fd(sock: &OwnedFd) -> Option<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut byte = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ok()?;
    for cmsg in msg.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            return fds.first().map(|fd| fd_from_raw(*fd));
        }
    }
    None
}

/// Copies the container's stdout and stderr into its log until both close (see
/// `logs::LogWriter`); with `pass_on`, also to our stdout and stderr. When our reader of
/// one is gone (`run ... | head`), that pipe is closed: the container gets its SIGPIPE, as
/// it would writing to the reader itself. The log is made at the first output: a container
/// that writes nothing has none (`logs` reads that as empty), and its start and exit make
/// one file fewer (issue 16).
fn copy_logs(dir: &Path, mut sources: Vec<(Stream, File)>, pass_on: bool) {
    let mut log: Option<Option<LogWriter>> = None;
    let mut buf = vec![0u8; 64 * 1024];
    while !sources.is_empty() {
        let mut polls: Vec<libc::pollfd> = sources
            .iter()
            .map(|(_, f)| libc::pollfd {
                fd: f.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: polls is a valid array of pollfd for the call's duration.
        let n = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        let mut closed = Vec::new();
        for (i, p) in polls.iter().enumerate() {
            if p.revents == 0 {
                continue;
            }
            let (stream, source) = &mut sources[i];
            match source.read(&mut buf) {
                Ok(0) | Err(_) => closed.push(i),
                Ok(k) => {
                    if let Some(log) = log.get_or_insert_with(|| LogWriter::open(dir).ok()) {
                        log.write(*stream, &buf[..k]);
                    }
                    if pass_on && !pass(*stream, &buf[..k]) {
                        closed.push(i);
                    }
                }
            }
        }
        for i in closed.into_iter().rev() {
            sources.remove(i);
        }
    }
}

/// Writes a foreground container's output to our stream of the same name; false when
/// nobody reads it any more.
fn pass(stream: Stream, bytes: &[u8]) -> bool {
    let written = match stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|_| out.flush())
        }
        Stream::Stderr => std::io::stderr().lock().write_all(bytes),
    };
    !matches!(written, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Relays between the caller's terminal and the container's pseudo terminal, with the
/// caller's terminal in raw mode (keys, Ctrl-C included, go to the container), until the
/// container side closes.
fn relay_tty(mut master: File) {
    use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).ok();
    if let Some(t) = &saved {
        let mut raw = t.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &raw);
    }
    let mut buf = vec![0u8; 16 * 1024];
    let mut stdin_open = true;
    loop {
        let mut polls = vec![libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if stdin_open {
            polls.push(libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: polls is a valid array for the call's duration.
        let n = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        if polls[0].revents != 0 {
            match master.read(&mut buf) {
                // EIO: every process holding the slave has exited.
                Ok(0) | Err(_) => break,
                Ok(k) => {
                    let mut out = std::io::stdout();
                    let _ = out.write_all(&buf[..k]);
                    let _ = out.flush();
                }
            }
        }
        if stdin_open && polls.len() > 1 && polls[1].revents != 0 {
            // Unbuffered: poll says what the descriptor holds, not what a buffer would.
            match nix::unistd::read(0, &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(k) => {
                    let _ = master.write_all(&buf[..k]);
                }
            }
        }
    }
    if let Some(t) = &saved {
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, t);
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_step;
    use crate::runtime::launch::Restart;
    use std::time::Duration;

    #[test]
    fn the_backoff_doubles_with_quick_exits_and_starts_over_after_ten_seconds_up() {
        let quick = Duration::from_millis(50);
        let mut step = None;
        let mut delays = Vec::new();
        for _ in 0..4 {
            let s = backoff_step(step, quick);
            delays.push(Restart::delay(s).as_millis());
            step = Some(s + 1);
        }
        assert_eq!(delays, [100, 200, 400, 800]);
        let s = backoff_step(step, Duration::from_secs(10));
        assert_eq!(Restart::delay(s).as_millis(), 100);
        assert_eq!(Restart::delay(30).as_secs(), 60);
    }
}
