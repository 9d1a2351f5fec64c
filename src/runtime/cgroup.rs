//! Control groups: one module that knows the three host layouts and writes the files itself.
//!
//! - **unified** (cgroup v2 only, every current distribution): one tree at /sys/fs/cgroup. A
//!   container gets `gocker-script/<id>`; the controllers it needs are enabled in the parents'
//!   `cgroup.subtree_control` first. Limits use Docker's meanings, which differ from v1's files:
//!   `memory.swap.max` is swap alone (v1's memsw is memory + swap), and cpu shares are
//!   converted to `cpu.weight` (1..10000, default 100) as crun and runc do.
//! - **hybrid** (systemd's compatibility layout, this project's CI): v1 controllers under
//!   /sys/fs/cgroup/<controller> and an empty cgroup2 at /sys/fs/cgroup/unified. Controllers
//!   live in v1, so containers do too.
//! - **legacy** (v1 only): `gocker-script/<id>` in every controller's hierarchy.
//!
//! The root directory is a value (`Hierarchy::at`), not a constant: every decision and every
//! write below is unit-tested against a temporary directory laid out like the kernel's.

use std::fs;
use std::io::ErrorKind;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::devices::{self, DeviceRule};
use crate::error::{Error, Kind, Result};
use crate::trace;

/// Resource limits of a container; `None` means unlimited (pids: the default limit).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Bytes of memory.
    pub memory: Option<i64>,
    /// Bytes of memory plus swap (Docker's --memory-swap); -1 for unlimited swap.
    pub memory_swap: Option<i64>,
    /// CPUs, as Docker's --cpus: 0.5 is half of one CPU.
    pub cpus: Option<f64>,
    /// Relative CPU weight, as Docker's --cpu-shares (1024 is the default).
    pub cpu_shares: Option<u64>,
    /// Most processes at once; 0 or less for no limit.
    pub pids: Option<i64>,
}

/// The pids limit a container gets unless it asks otherwise (podman's default): a fork bomb
/// in one container must not take the host.
pub const DEFAULT_PIDS_LIMIT: i64 = 2048;

/// Where the cgroups of this program's containers live, under each hierarchy's root.
pub const PARENT: &str = "gocker-script";

/// v1 controllers a container is placed in.
const V1_CONTROLLERS: &[&str] = &["memory", "cpu", "cpuacct", "pids", "devices"];
/// v2 controllers enabled for containers (only those the kernel offers are asked for).
const V2_CONTROLLERS: &[&str] = &["cpu", "io", "memory", "pids"];
/// v2 controllers a container cannot do without: its limits and the default pids limit.
const V2_REQUIRED: &[&str] = &["cpu", "memory", "pids"];

const PERIOD_US: u64 = 100_000;

/// How the host mounts its cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Unified,
    Hybrid,
    Legacy,
}

/// A host's cgroup layout: its mode and the directory the hierarchies are mounted under.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub mode: Mode,
    pub root: PathBuf,
}

impl Hierarchy {
    /// This host's layout, detected once per process.
    pub fn host() -> &'static Hierarchy {
        static HOST: OnceLock<Hierarchy> = OnceLock::new();
        HOST.get_or_init(|| Hierarchy::detect(Path::new("/sys/fs/cgroup")))
    }

    /// Reads the layout under `root`: cgroup2 there is unified; a cgroup2 at `root/unified`
    /// beside v1 controllers is hybrid; anything else legacy.
    pub fn detect(root: &Path) -> Hierarchy {
        let mode = if is_cgroup2(root) {
            Mode::Unified
        } else if is_cgroup2(&root.join("unified")) {
            Mode::Hybrid
        } else {
            Mode::Legacy
        };
        Hierarchy::at(mode, root)
    }

    /// A layout at a given directory (tests lay one out in a temporary directory).
    pub fn at(mode: Mode, root: impl Into<PathBuf>) -> Hierarchy {
        Hierarchy {
            mode,
            root: root.into(),
        }
    }

    pub fn is_v2(&self) -> bool {
        self.mode == Mode::Unified
    }

    /// The cgroup of container `id` (which may not exist yet, or any more).
    pub fn container(&self, id: &str) -> ContainerCgroup {
        let dirs = if self.is_v2() {
            vec![self.root.join(PARENT).join(id)]
        } else {
            let mut dirs: Vec<PathBuf> = Vec::new();
            for c in V1_CONTROLLERS {
                // cpu and cpuacct are often one hierarchy ("cpu,cpuacct", with symlinks).
                let base = self.root.join(c);
                let real = fs::canonicalize(&base).unwrap_or(base);
                let dir = real.join(PARENT).join(id);
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
            dirs
        };
        ContainerCgroup {
            id: id.to_string(),
            v2: self.is_v2(),
            root: self.root.clone(),
            dirs,
        }
    }
}

fn is_cgroup2(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

/// One write of a limit: which controller's directory, which file, what text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The limit, as a user names it ("cpus", "memory"), for errors.
    pub what: &'static str,
    pub controller: &'static str,
    pub file: &'static str,
    pub value: String,
    /// A file that kernels without the feature (swap accounting) lack: skipped then.
    pub optional: bool,
}

fn write(
    what: &'static str,
    controller: &'static str,
    file: &'static str,
    value: impl ToString,
) -> Write {
    Write {
        what,
        controller,
        file,
        value: value.to_string(),
        optional: false,
    }
}

/// crun's (and runc 1.3's) mapping of cpu shares (2..262144, default 1024) onto cgroup v2's
/// cpu.weight (1..10000, default 100): a quadratic in log2 that keeps the three fixed points
/// (2 → 1, 1024 → 100, 262144 → 10000), so the default weight stays the default.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    (10f64.powf(exponent).ceil() as u64).clamp(1, 10_000)
}

/// The files to write for `limits`, in order, with Docker's meanings on both versions.
pub fn limit_writes(v2: bool, l: &Limits) -> Result<Vec<Write>> {
    let mut out = Vec::new();
    if let Some(swap) = l.memory_swap {
        let Some(mem) = l.memory else {
            return Err(Error::invalid(
                "a memory-swap limit needs a memory limit too (set_memory_limit)",
            ));
        };
        if swap != -1 && swap < mem {
            return Err(Error::invalid(format!(
                "memory-swap limit {swap} is below the memory limit {mem}: it counts memory plus swap (use -1 for unlimited swap)"
            )));
        }
    }
    if let Some(mem) = l.memory {
        // Docker: --memory-swap defaults to twice --memory, i.e. as much swap as memory.
        let total = l.memory_swap.unwrap_or(mem.saturating_mul(2));
        let swap_asked = l.memory_swap.is_some();
        if v2 {
            out.push(write("memory", "memory", "memory.max", mem));
            let swap = if total == -1 {
                "max".to_string()
            } else {
                total.saturating_sub(mem).to_string()
            };
            out.push(Write {
                optional: !swap_asked,
                ..write("memory-swap", "memory", "memory.swap.max", swap)
            });
        } else {
            out.push(write("memory", "memory", "memory.limit_in_bytes", mem));
            out.push(Write {
                optional: !swap_asked,
                ..write(
                    "memory-swap",
                    "memory",
                    "memory.memsw.limit_in_bytes",
                    total,
                )
            });
        }
    }
    if let Some(cpus) = l.cpus {
        check_cpus(cpus)?;
        let quota = (cpus * PERIOD_US as f64).round() as u64;
        if v2 {
            out.push(write(
                "cpus",
                "cpu",
                "cpu.max",
                format!("{quota} {PERIOD_US}"),
            ));
        } else {
            out.push(write("cpus", "cpu", "cpu.cfs_period_us", PERIOD_US));
            out.push(write("cpus", "cpu", "cpu.cfs_quota_us", quota));
        }
    }
    if let Some(shares) = l.cpu_shares {
        if v2 {
            out.push(write(
                "cpu-shares",
                "cpu",
                "cpu.weight",
                shares_to_weight(shares),
            ));
        } else {
            out.push(write(
                "cpu-shares",
                "cpu",
                "cpu.shares",
                shares.clamp(2, 262_144),
            ));
        }
    }
    if let Some(pids) = l.pids {
        let value = if pids > 0 {
            pids.to_string()
        } else {
            "max".to_string()
        };
        out.push(write("pids", "pids", "pids.max", value));
    }
    Ok(out)
}

/// A CPU limit as Docker takes it: a positive number of CPUs, at most this host's.
pub fn check_cpus(cpus: f64) -> Result<f64> {
    let host = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if !(cpus > 0.0 && cpus.is_finite()) {
        return Err(Error::invalid(format!(
            "invalid cpu limit {cpus}: give a positive number of CPUs, e.g. 0.5"
        )));
    }
    if cpus > host as f64 {
        return Err(Error::invalid(format!(
            "invalid cpu limit {cpus}: this host has {host} CPU(s)"
        )));
    }
    Ok(cpus)
}

/// One container's cgroup: a directory on v2, one per controller on v1.
#[derive(Debug, Clone)]
pub struct ContainerCgroup {
    id: String,
    v2: bool,
    root: PathBuf,
    /// v2: the one directory; v1: one per controller (deduplicated).
    dirs: Vec<PathBuf>,
}

impl ContainerCgroup {
    /// The container's cgroup on this host.
    pub fn of(id: &str) -> ContainerCgroup {
        Hierarchy::host().container(id)
    }

    pub fn is_v2(&self) -> bool {
        self.v2
    }

    /// The directory a v1 controller (or, on v2, the one directory).
    fn dir(&self, controller: &str) -> Option<&PathBuf> {
        if self.v2 {
            return self.dirs.first();
        }
        self.dirs.iter().find(|d| {
            d.parent()
                .and_then(Path::parent)
                .and_then(Path::file_name)
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.split(',').any(|c| c == controller))
        })
    }

    /// The v1 hierarchies the container is placed in, by their mount names ("memory",
    /// "cpu,cpuacct"): what its own view of /sys/fs/cgroup mounts.
    pub fn v1_hierarchies(&self) -> Vec<String> {
        self.dirs
            .iter()
            .filter_map(|d| d.parent()?.parent()?.file_name()?.to_str())
            .map(str::to_string)
            .collect()
    }

    /// The v2 directory, for clone3(CLONE_INTO_CGROUP).
    pub fn path(&self) -> &Path {
        &self.dirs[0]
    }

    /// Creates the cgroup, writes `limits` and the device rules (none given: no device
    /// filter); on failure nothing is left.
    pub fn create(&self, limits: &Limits, devices: &[DeviceRule]) -> Result<()> {
        let writes = limit_writes(self.v2, limits)?;
        trace::step(|| {
            format!(
                "mkdir {} ({})",
                self.dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                if self.v2 { "cgroup v2" } else { "cgroup v1" }
            )
        });
        if self.v2 {
            self.prepare_v2_parents()?;
        }
        let made = (|| {
            for d in &self.dirs {
                match fs::create_dir_all(d) {
                    Ok(()) => {}
                    Err(e) if !self.v2 && e.kind() == ErrorKind::NotFound => {
                        return Err(Error::new(
                            Kind::Unsupported,
                            format!(
                                "cgroup v1 controller directory {} is missing: the host does not mount that controller",
                                d.parent().and_then(Path::parent).unwrap_or(d).display()
                            ),
                        ))
                    }
                    Err(e) => return Err(Error::io("cannot create cgroup", d, e)),
                }
            }
            self.apply_writes(&writes)?;
            if !devices.is_empty() {
                self.set_devices(devices)?;
            }
            Ok(())
        })();
        if let Err(e) = made {
            let _ = self.destroy();
            return Err(e);
        }
        Ok(())
    }

    /// On v2 the controllers must be enabled in every parent's subtree_control, from the root
    /// down, before a child can use them.
    fn prepare_v2_parents(&self) -> Result<()> {
        let parent = self.root.join(PARENT);
        enable_controllers(&self.root, true)?;
        if let Err(e) = fs::create_dir(&parent) {
            if e.kind() != ErrorKind::AlreadyExists {
                return Err(Error::io("cannot create cgroup", &parent, e));
            }
        }
        enable_controllers(&parent, false)
    }

    /// Which device nodes the container may create and open: the v1 devices controller's
    /// lists, or on v2 an eBPF program attached to the cgroup (v2 has no devices files).
    fn set_devices(&self, rules: &[DeviceRule]) -> Result<()> {
        trace::step(|| {
            format!(
                "device rules ({}): {}",
                if self.v2 {
                    "eBPF BPF_CGROUP_DEVICE program"
                } else {
                    "devices.deny a, devices.allow"
                },
                rules
                    .iter()
                    .map(|r| format!("{} {r}", if r.allow { "allow" } else { "deny" }))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        if self.v2 {
            let dir = self.open_dir()?;
            return devices::attach(dir.as_fd(), rules);
        }
        let dir = self.dir("devices").ok_or_else(|| {
            Error::new(
                Kind::Unsupported,
                "the devices cgroup controller is not available on this host",
            )
        })?;
        devices::write_v1(dir, rules)
    }

    /// Writes limits (also on a running container).
    pub fn apply(&self, limits: &Limits) -> Result<()> {
        self.apply_writes(&limit_writes(self.v2, limits)?)
    }

    fn apply_writes(&self, writes: &[Write]) -> Result<()> {
        let mut i = 0;
        while i < writes.len() {
            let w = &writes[i];
            // v1 refuses a memory limit above memsw and a memsw below memory: when raising,
            // memsw goes first.
            if w.file == "memory.limit_in_bytes" {
                if let Some(next) = writes.get(i + 1) {
                    if next.file == "memory.memsw.limit_in_bytes" {
                        if let Err(e) = self.write_one(w) {
                            if e.source_errno() != Some(libc::EINVAL) {
                                return Err(e);
                            }
                            self.write_one(next)?;
                            self.write_one(w)?;
                        } else {
                            self.write_one(next)?;
                        }
                        i += 2;
                        continue;
                    }
                }
            }
            self.write_one(w)?;
            i += 1;
        }
        Ok(())
    }

    fn write_one(&self, w: &Write) -> Result<()> {
        let Some(dir) = self.dir(w.controller) else {
            return Err(Error::new(
                Kind::Unsupported,
                format!(
                    "the {} cgroup controller is not available for container {}",
                    w.controller,
                    short(&self.id)
                ),
            ));
        };
        let path = dir.join(w.file);
        trace::step(|| format!("write {} = {}", path.display(), w.value));
        match write_file(&path, &w.value) {
            Ok(()) => Ok(()),
            Err(e) if w.optional && e.kind() == ErrorKind::NotFound => {
                trace::step(|| format!("{} is missing (no swap accounting): skipped", w.file));
                Ok(())
            }
            Err(e) => {
                let kind = match e.raw_os_error() {
                    Some(libc::EINVAL) | Some(libc::ERANGE) => Kind::InvalidArgument,
                    _ if e.kind() == ErrorKind::NotFound => Kind::Unsupported,
                    _ => Kind::Io,
                };
                Err(Error::with_source(
                    kind,
                    format!(
                        "the host refused the {} limit of container {}: {:?} in {}",
                        w.what,
                        short(&self.id),
                        w.value,
                        path.display(),
                    ),
                    e,
                ))
            }
        }
    }

    /// Moves a process into the cgroup (every controller's on v1).
    pub fn add(&self, pid: i32) -> Result<()> {
        for d in &self.dirs {
            let path = d.join("cgroup.procs");
            trace::step(|| format!("write {} = {pid}", path.display()));
            write_file(&path, &pid.to_string())
                .map_err(|e| Error::io("cannot move the process into", &path, e))?;
        }
        Ok(())
    }

    /// Moves the calling thread into the cgroup (every hierarchy's) on v1, by a write of "0"
    /// (itself) to `tasks`; on v2 a write of its pid to `cgroup.procs`. Only for a
    /// single-threaded process (the init before its execve, the exec helper), whose one
    /// thread is the process.
    ///
    /// Why not `cgroup.procs` on v1: a process moved there takes the cgroup threadgroup lock,
    /// a percpu rw-semaphore whose writer waits out an RCU grace period unless another went
    /// before it within about one: 8 to 23 ms measured here per start, in 4 of 10 back-to-back
    /// runs and in every run after a pause (issue 16). A thread that moves itself needs no
    /// threadgroup stability (it cannot exit or exec meanwhile), and the kernel skips that
    /// lock: 0.2 ms for all five hierarchies.
    pub fn join_self(&self) -> Result<()> {
        if self.v2 {
            return self.add(std::process::id() as i32);
        }
        for d in &self.dirs {
            let path = d.join("tasks");
            trace::step(|| format!("write {} = 0 (this thread joins)", path.display()));
            write_file(&path, "0").map_err(|e| Error::io("cannot join", &path, e))?;
        }
        Ok(())
    }

    /// An open handle on the v2 directory, for clone3(CLONE_INTO_CGROUP).
    pub fn open_dir(&self) -> Result<OwnedFd> {
        let path = self.path();
        fs::File::open(path)
            .map(OwnedFd::from)
            .map_err(|e| Error::io("cannot open cgroup", path, e))
    }

    /// Whether the memory controller killed a process for lack of memory.
    pub fn oom_killed(&self) -> bool {
        let (file, key) = if self.v2 {
            ("memory.events", "oom_kill")
        } else {
            ("memory.oom_control", "oom_kill")
        };
        self.read("memory", file)
            .map(|t| keyed_value(&t, key) > 0)
            .unwrap_or(false)
    }

    fn read(&self, controller: &str, file: &str) -> Option<String> {
        fs::read_to_string(self.dir(controller)?.join(file)).ok()
    }

    fn read_number(&self, controller: &str, file: &str) -> u64 {
        self.read(controller, file)
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Memory in use, its limit, CPU time used (ns) and processes.
    pub fn stats(&self) -> Stats {
        if self.v2 {
            Stats {
                memory: self.read_number("memory", "memory.current"),
                // "max" (no limit) reads as 0, as an absent limit.
                memory_limit: self.read_number("memory", "memory.max"),
                cpu_ns: self
                    .read("cpu", "cpu.stat")
                    .map(|t| keyed_value(&t, "usage_usec") * 1000)
                    .unwrap_or(0),
                pids: self.read_number("pids", "pids.current"),
                ..Stats::default()
            }
            .with_block_io(self.read("io", "io.stat").map(|t| v2_block_io(&t)))
        } else {
            Stats {
                memory: self.read_number("memory", "memory.usage_in_bytes"),
                // No limit reads as the largest page-aligned i64 (9223372036854771712):
                // 0 here, as v2's "max".
                memory_limit: Some(self.read_number("memory", "memory.limit_in_bytes"))
                    .filter(|n| *n < 1 << 62)
                    .unwrap_or(0),
                cpu_ns: self.read_number("cpuacct", "cpuacct.usage"),
                pids: self.read_number("pids", "pids.current"),
                ..Stats::default()
            }
        }
    }

    /// The processes in the container's cgroup (its sub-cgroups too), by host pid.
    pub fn procs(&self) -> Vec<i32> {
        fn collect(dir: &Path, out: &mut Vec<i32>) {
            if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
                out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
            if let Ok(entries) = fs::read_dir(dir) {
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        collect(&e.path(), out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        if let Some(dir) = self.dir("pids").or_else(|| self.dirs.first()) {
            collect(dir, &mut out);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The v1 freezer cgroup, made on the first pause (starts do not pay for it).
    fn v1_freezer(&self) -> PathBuf {
        let base = self.root.join("freezer");
        fs::canonicalize(&base)
            .unwrap_or(base)
            .join(PARENT)
            .join(&self.id)
    }

    /// Whether the container's processes are frozen (paused).
    pub fn is_frozen(&self) -> bool {
        if self.v2 {
            return self
                .read("", "cgroup.events")
                .is_some_and(|t| keyed_value(&t, "frozen") == 1);
        }
        fs::read_to_string(self.v1_freezer().join("freezer.state"))
            .is_ok_and(|s| s.trim() == "FROZEN")
    }

    /// Freezes every process of the container (docker pause), or thaws them, and waits until
    /// the kernel says it is done. v2: cgroup.freeze; v1: the freezer hierarchy, into which
    /// the processes are moved on the first pause (their children follow them there).
    pub fn freeze(&self, frozen: bool) -> Result<()> {
        trace::step(|| {
            format!(
                "{} cgroup {PARENT}/{}",
                if frozen { "freeze" } else { "thaw" },
                self.id
            )
        });
        let (file, value, done): (PathBuf, &str, Box<dyn Fn() -> bool>) = if self.v2 {
            let dir = self.dirs[0].clone();
            let want = frozen as u64;
            let events = dir.join("cgroup.events");
            (
                dir.join("cgroup.freeze"),
                if frozen { "1" } else { "0" },
                Box::new(move || {
                    fs::read_to_string(&events).is_ok_and(|t| keyed_value(&t, "frozen") == want)
                }),
            )
        } else {
            let dir = self.v1_freezer();
            if frozen {
                fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create cgroup", &dir, e))?;
                self.move_into_freezer(&dir);
            } else if !dir.exists() {
                return Ok(());
            }
            let state = dir.join("freezer.state");
            let want = if frozen { "FROZEN" } else { "THAWED" };
            (
                state.clone(),
                want,
                Box::new(move || fs::read_to_string(&state).is_ok_and(|s| s.trim() == want)),
            )
        };
        write_file(&file, value).map_err(|e| Error::io("cannot write", &file, e))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        let settled = || -> bool {
            while !done() {
                if Instant::now() > deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            true
        };
        let mut ok = settled();
        if ok && frozen && !self.v2 {
            // A process forked by one not yet moved stayed behind: move it into the frozen
            // cgroup (which freezes it) until nothing is left outside.
            let dir = self.v1_freezer();
            for _ in 0..10 {
                if !self.move_into_freezer(&dir) {
                    break;
                }
                ok = settled();
            }
        }
        if !ok {
            if frozen {
                // Never left half-paused: a failed pause is undone.
                let _ = write_file(&file, if self.v2 { "0" } else { "THAWED" });
            }
            return Err(Error::new(
                crate::error::Kind::Runtime,
                format!(
                    "the processes of container {} did not {} within 5 s",
                    short(&self.id),
                    if frozen { "freeze" } else { "thaw" }
                ),
            ));
        }
        Ok(())
    }

    /// v1: moves every process of the container that is not in the freezer cgroup `dir`
    /// there (until a listing finds none); whether any had to be moved.
    fn move_into_freezer(&self, dir: &Path) -> bool {
        let procs = |d: &Path| -> Vec<String> {
            fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect()
        };
        let mut moved = false;
        for _ in 0..10 {
            let inside = procs(dir);
            let outside: Vec<String> = procs(&self.dirs[0])
                .into_iter()
                .filter(|p| !inside.contains(p))
                .collect();
            if outside.is_empty() {
                break;
            }
            for pid in outside {
                // A process that exited meanwhile is not an error.
                let _ = write_file(&dir.join("cgroup.procs"), &pid);
            }
            moved = true;
        }
        moved
    }

    /// Kills every process left in the cgroup and removes it, with any cgroups a privileged
    /// container made below it (deepest first); gone already is fine.
    pub fn destroy(&self) -> Result<()> {
        // Frozen processes would not die (v1) or be reaped: thaw first.
        if self.is_frozen() {
            let _ = self.freeze(false);
        }
        let freezer = (!self.v2).then(|| self.v1_freezer());
        let present: Vec<&PathBuf> = self
            .dirs
            .iter()
            .chain(freezer.iter())
            .filter(|d| d.exists())
            .collect();
        if present.is_empty() {
            return Ok(());
        }
        trace::step(|| format!("kill the processes left, rmdir cgroup {PARENT}/{}", self.id));
        let deadline = Instant::now() + Duration::from_secs(5);
        for top in present {
            // v2 (5.14+) kills the whole tree in one write; else signal each process listed.
            let killed_all = self.v2 && write_file(&top.join("cgroup.kill"), "1").is_ok();
            for d in subtree_deepest_first(top) {
                loop {
                    if !killed_all {
                        kill_listed(&d);
                    }
                    match fs::remove_dir(&d) {
                        Ok(()) => break,
                        Err(e) if e.kind() == ErrorKind::NotFound => break,
                        // EBUSY while dying processes are still being reaped.
                        Err(_) if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(5))
                        }
                        Err(e) => return Err(Error::io("cannot remove cgroup", &d, e)),
                    }
                }
            }
        }
        Ok(())
    }
}

/// The name prefix of cgroups made ahead (see `Ahead`); the maker's pid follows.
const AHEAD: &str = "ahead-";

/// A v1 cgroup made before its container exists, by a supervisor started ahead (issue 16):
/// its directory in every hierarchy, the default limits and device rules written, under a
/// name of its own (`ahead-<pid>`), while the caller is still recording the container.
/// `take` renames it the container's; dropped untaken it is removed, and one whose maker
/// was killed is swept by the next look (`Hierarchy::sweep_ahead`). None on v2, which
/// refuses to rename a cgroup (and makes one with a single mkdir).
#[derive(Debug)]
pub struct Ahead {
    made: Option<ContainerCgroup>,
    limits: Limits,
    devices: Vec<DeviceRule>,
}

impl Hierarchy {
    /// Makes a cgroup ahead for process `pid` with `limits` and `devices` (see `Ahead`).
    pub fn prepare_ahead(
        &self,
        pid: u32,
        limits: &Limits,
        devices: &[DeviceRule],
    ) -> Option<Ahead> {
        if self.is_v2() {
            return None;
        }
        let cgroup = self.container(&format!("{AHEAD}{pid}"));
        cgroup.create(limits, devices).ok()?;
        Some(Ahead {
            made: Some(cgroup),
            limits: limits.clone(),
            devices: devices.to_vec(),
        })
    }

    /// Removes the cgroups made ahead by processes that are gone (killed while they
    /// waited for a container). Best effort.
    pub fn sweep_ahead(&self) {
        if self.is_v2() {
            return;
        }
        let parent = self.root.join(V1_CONTROLLERS[0]).join(PARENT);
        let Ok(entries) = fs::read_dir(&parent) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix(AHEAD))
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            // Its maker is a waiting supervisor (a pid can be reused: by its command line).
            // (A sweeper in another pid namespace takes a live one for gone: its maker then
            // finds it missing when it is assigned, and makes one as usual.)
            let alive = fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.windows(12).any(|w| w == b"__shim-early"))
                .unwrap_or(false);
            if !alive {
                trace::step(|| {
                    format!(
                        "remove cgroup {PARENT}/{AHEAD}{pid}, made ahead by a process that is gone"
                    )
                });
                let _ = self.container(&format!("{AHEAD}{pid}")).destroy();
            }
        }
    }
}

impl Ahead {
    /// Becomes container `id`'s cgroup with `limits` and `devices`: renamed in every
    /// hierarchy, and written again only where they differ from what it was made with. On
    /// failure nothing of it is left; the caller then makes one as usual.
    pub fn take(
        mut self,
        id: &str,
        limits: &Limits,
        devices: &[DeviceRule],
    ) -> Result<ContainerCgroup> {
        let made = self
            .made
            .take()
            .ok_or_else(|| Error::new(Kind::Runtime, "the cgroup made ahead was taken already"))?;
        let cgroup = ContainerCgroup {
            id: id.to_string(),
            v2: false,
            root: made.root.clone(),
            dirs: made.dirs.iter().map(|d| d.with_file_name(id)).collect(),
        };
        trace::step(|| {
            format!(
                "rename cgroup {PARENT}/{} to {PARENT}/{id} (made ahead)",
                made.id
            )
        });
        // The first hierarchy last: it is where a sweep looks for cgroups made ahead, so one
        // killed half-way through is still found there.
        let mut renamed = Vec::new();
        let taken = (|| {
            for (from, to) in made.dirs.iter().zip(&cgroup.dirs).rev() {
                fs::rename(from, to).map_err(|e| Error::io("cannot rename cgroup", from, e))?;
                renamed.push(to.clone());
            }
            if *limits != self.limits {
                cgroup.apply(limits)?;
            }
            if devices != self.devices.as_slice() {
                cgroup.set_devices(devices)?;
            }
            Ok(())
        })();
        if let Err(e) = taken {
            // Only what was renamed, never a cgroup of that name that was there before.
            let _ = ContainerCgroup {
                dirs: renamed,
                ..cgroup
            }
            .destroy();
            let _ = made.destroy();
            return Err(e);
        }
        Ok(cgroup)
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        if let Some(made) = self.made.take() {
            let _ = made.destroy();
        }
    }
}

/// A cgroup directory and every cgroup below it, children before their parents.
fn subtree_deepest_first(top: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(top) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.extend(subtree_deepest_first(&e.path()));
            }
        }
    }
    out.push(top.to_path_buf());
    out
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Sends SIGKILL to every process a cgroup directory lists.
fn kill_listed(dir: &Path) {
    if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
        for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            // SAFETY: kill with a pid the kernel just listed; a stale one just fails.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Writes a cgroup interface file, which must exist: a missing one means a missing
/// controller or feature, never a file to create.
fn write_file(path: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)?;
    f.write_all(value.as_bytes())
}

/// The controllers a v2 directory offers: `cgroup.controllers`, whitespace separated. (The
/// file ends in a newline; a parser that keeps it never matches the last controller.)
pub fn parse_controllers(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// Enables the containers' controllers (those `dir` offers) in its `cgroup.subtree_control`.
///
/// A v2 cgroup that holds processes cannot hand controllers to children ("no internal
/// processes"). The host's root is exempt, but inside a container on a v2 host (a CI job,
/// Docker-in-Docker) `/sys/fs/cgroup` is the container's own cgroup and holds its
/// processes. As podman and Docker's dind do, those processes move into a leaf `init`
/// first: the kernel then lets the controllers through.
fn enable_controllers(dir: &Path, may_evacuate: bool) -> Result<()> {
    let offered_path = dir.join("cgroup.controllers");
    let offered = fs::read_to_string(&offered_path)
        .map(|t| parse_controllers(&t))
        .map_err(|e| Error::io("cannot read", &offered_path, e))?;
    for c in V2_REQUIRED {
        if !offered.iter().any(|o| o == c) {
            return Err(Error::new(
                Kind::Unsupported,
                format!(
                    "the {c} cgroup controller is not available in {} (offered: {}); enable it in the parent's cgroup.subtree_control",
                    offered_path.display(),
                    if offered.is_empty() { "none".to_string() } else { offered.join(" ") }
                ),
            ));
        }
    }
    let control = dir.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&control)
        .map(|t| parse_controllers(&t))
        .map_err(|e| Error::io("cannot read", &control, e))?;
    let missing: Vec<String> = V2_CONTROLLERS
        .iter()
        .filter(|c| offered.iter().any(|o| o == *c) && !enabled.iter().any(|e| e == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let line = missing.join(" ");
    trace::step(|| format!("write {} = {line}", control.display()));
    match write_file(&control, &line) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) && may_evacuate => {
            evacuate(dir)?;
            write_file(&control, &line).map_err(|e| {
                Error::io("cannot enable cgroup controllers in", &control, e)
            })
        }
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Err(Error::with_source(
            Kind::Runtime,
            format!(
                "cannot enable cgroup controllers in {}: it holds processes, and a v2 cgroup with processes cannot hand controllers to children; move them into a child cgroup",
                control.display()
            ),
            e,
        )),
        Err(e) => Err(Error::io("cannot enable cgroup controllers in", &control, e)),
    }
}

/// Moves every process of `dir` into the leaf `dir/init`.
fn evacuate(dir: &Path) -> Result<()> {
    let leaf = dir.join("init");
    trace::step(|| {
        format!(
            "{} holds processes: move them into {} (no internal processes on cgroup v2)",
            dir.display(),
            leaf.display()
        )
    });
    if let Err(e) = fs::create_dir(&leaf) {
        if e.kind() != ErrorKind::AlreadyExists {
            return Err(Error::io("cannot create cgroup", &leaf, e));
        }
    }
    let procs = dir.join("cgroup.procs");
    let leaf_procs = leaf.join("cgroup.procs");
    // Processes may come and go while we move them; a few rounds catch the late ones.
    for _ in 0..5 {
        let listed = fs::read_to_string(&procs).map_err(|e| Error::io("cannot read", &procs, e))?;
        let pids: Vec<&str> = listed.split_whitespace().collect();
        if pids.is_empty() {
            return Ok(());
        }
        for pid in pids {
            match write_file(&leaf_procs, pid) {
                Ok(()) => {}
                // Gone meanwhile.
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => {
                    return Err(Error::io(
                        &format!("cannot move process {pid} into"),
                        &leaf_procs,
                        e,
                    ))
                }
            }
        }
    }
    Ok(())
}

/// The number after `key` in a "key value" file (memory.events, cpu.stat, oom_control); 0
/// when the key is missing.
fn keyed_value(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// A cgroup's usage figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub memory: u64,
    pub memory_limit: u64,
    pub cpu_ns: u64,
    pub pids: u64,
    /// Bytes read from and written to block devices (v2's io.stat; None on v1, whose blkio
    /// counts only devices with throttling rules, so a container is not put in it).
    pub block_read: Option<u64>,
    pub block_write: Option<u64>,
}

impl Stats {
    fn with_block_io(self, io: Option<(u64, u64)>) -> Stats {
        Stats {
            block_read: io.map(|(r, _)| r),
            block_write: io.map(|(_, w)| w),
            ..self
        }
    }
}

/// v2 io.stat: a line per device, `MAJ:MIN rbytes=N wbytes=N rios=N ...`; summed.
fn v2_block_io(text: &str) -> (u64, u64) {
    let mut io = (0, 0);
    for word in text.split_whitespace() {
        let n = |v: &str| v.parse::<u64>().unwrap_or(0);
        if let Some(v) = word.strip_prefix("rbytes=") {
            io.0 += n(v);
        } else if let Some(v) = word.strip_prefix("wbytes=") {
            io.1 += n(v);
        }
    }
    io
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_io_is_summed_over_devices() {
        let v2 = "8:0 rbytes=4096 wbytes=100 rios=1 wios=1 dbytes=0 dios=0\n259:0 rbytes=1 wbytes=2 rios=1 wios=1\n";
        assert_eq!(v2_block_io(v2), (4097, 102));
    }

    #[test]
    fn v2_key_value_files() {
        let events = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(
            keyed_value(events, "oom_kill"),
            2,
            "not confused by oom or oom_group_kill"
        );
        assert_eq!(keyed_value(events, "oom"), 3);
        assert_eq!(
            keyed_value("usage_usec 1234\nuser_usec 1000\n", "usage_usec"),
            1234
        );
        assert_eq!(keyed_value("", "oom_kill"), 0);
    }

    #[test]
    fn controllers_file_ends_in_newline() {
        assert_eq!(
            parse_controllers("cpuset cpu io memory pids\n"),
            ["cpuset", "cpu", "io", "memory", "pids"]
        );
        assert!(parse_controllers("\n").is_empty());
    }

    #[test]
    fn shares_convert_like_crun() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(
            shares_to_weight(1024),
            100,
            "Docker's default is v2's default"
        );
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(512), 59);
        assert_eq!(shares_to_weight(2048), 174);
        assert_eq!(
            shares_to_weight(1_000_000),
            10_000,
            "clamped, never refused"
        );
        let mut last = 0;
        for s in (2..262_144).step_by(997) {
            let w = shares_to_weight(s);
            assert!(w >= last && (1..=10_000).contains(&w), "monotonic at {s}");
            last = w;
        }
    }

    fn limits() -> Limits {
        Limits {
            memory: Some(64 << 20),
            memory_swap: None,
            cpus: Some(0.5),
            cpu_shares: Some(1024),
            pids: Some(64),
        }
    }

    fn files(w: &[Write]) -> Vec<(&str, &str)> {
        w.iter().map(|w| (w.file, w.value.as_str())).collect()
    }

    #[test]
    fn docker_meanings_on_v2() {
        let w = limit_writes(true, &limits()).unwrap();
        assert_eq!(
            files(&w),
            [
                ("memory.max", "67108864"),
                // Docker's default --memory-swap is twice the memory: 64m of swap, not 128m.
                ("memory.swap.max", "67108864"),
                ("cpu.max", "50000 100000"),
                ("cpu.weight", "100"),
                ("pids.max", "64"),
            ]
        );
        let swap = |total| {
            let l = Limits {
                memory_swap: Some(total),
                ..limits()
            };
            limit_writes(true, &l).unwrap()[1].value.clone()
        };
        assert_eq!(swap(64 << 20), "0", "memory-swap == memory: no swap");
        assert_eq!(swap(-1), "max");
        assert_eq!(swap(100 << 20), (36 << 20).to_string());
    }

    #[test]
    fn docker_meanings_on_v1() {
        let w = limit_writes(false, &limits()).unwrap();
        assert_eq!(
            files(&w),
            [
                ("memory.limit_in_bytes", "67108864"),
                ("memory.memsw.limit_in_bytes", "134217728"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "50000"),
                ("cpu.shares", "1024"),
                ("pids.max", "64"),
            ]
        );
        assert!(
            w[1].optional,
            "memsw missing without swap accounting is fine"
        );
    }

    #[test]
    fn bad_limits_are_refused_before_the_host() {
        let below = Limits {
            memory_swap: Some(1 << 20),
            ..limits()
        };
        let e = limit_writes(true, &below).unwrap_err();
        assert_eq!(e.kind(), Kind::InvalidArgument);
        assert!(e.message().contains("below the memory limit"), "{e}");
        let alone = Limits {
            memory: None,
            memory_swap: Some(1 << 20),
            ..Limits::default()
        };
        assert!(limit_writes(false, &alone).is_err());
        let no_cpu = Limits {
            cpus: Some(0.0),
            ..Limits::default()
        };
        assert!(limit_writes(true, &no_cpu).is_err());
        let unlimited = Limits {
            pids: Some(-1),
            ..Limits::default()
        };
        assert_eq!(
            files(&limit_writes(true, &unlimited).unwrap()),
            [("pids.max", "max")]
        );
    }

    /// A v2 root as the kernel lays it out: interface files in the root; children get
    /// theirs when made (the fake makes them like the kernel would).
    fn fake_v2(offered: &str) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for (f, v) in [
            ("cgroup.controllers", offered),
            ("cgroup.subtree_control", ""),
            ("cgroup.procs", ""),
        ] {
            fs::write(t.path().join(f), v).unwrap();
        }
        t
    }

    /// What mkdir in a real v2 tree would give the new directory.
    fn fake_v2_child(dir: &Path, offered: &str) {
        fs::create_dir_all(dir).unwrap();
        for (f, v) in [
            ("cgroup.controllers", offered),
            ("cgroup.subtree_control", ""),
            ("cgroup.procs", ""),
            ("memory.max", "max"),
            ("memory.swap.max", "max"),
            ("cpu.max", "max 100000"),
            ("cpu.weight", "100"),
            ("pids.max", "max"),
            ("memory.events", "oom 1\noom_kill 1\n"),
            ("memory.current", "4096"),
            ("cpu.stat", "usage_usec 7\n"),
            ("pids.current", "3"),
        ] {
            fs::write(dir.join(f), v).unwrap();
        }
    }

    #[test]
    fn v2_create_enables_controllers_and_writes_limits() {
        let t = fake_v2("cpuset cpu io memory pids hugetlb\n");
        let h = Hierarchy::at(Mode::Unified, t.path());
        let cg = h.container("abc");
        fake_v2_child(&t.path().join(PARENT), "cpu io memory pids\n");
        fake_v2_child(&t.path().join(PARENT).join("abc"), "");
        cg.create(&limits(), &[]).unwrap();
        let read = |p: &str| fs::read_to_string(t.path().join(p)).unwrap();
        // Only what the containers need, and the last controller of the file too.
        assert_eq!(read("cgroup.subtree_control"), "+cpu +io +memory +pids");
        assert_eq!(
            read("gocker-script/cgroup.subtree_control"),
            "+cpu +io +memory +pids"
        );
        assert_eq!(read("gocker-script/abc/memory.max"), "67108864");
        assert_eq!(read("gocker-script/abc/memory.swap.max"), "67108864");
        assert_eq!(read("gocker-script/abc/cpu.max"), "50000 100000");
        assert_eq!(read("gocker-script/abc/cpu.weight"), "100");
        assert_eq!(read("gocker-script/abc/pids.max"), "64");
        assert!(cg.oom_killed());
        let s = cg.stats();
        assert_eq!((s.memory, s.cpu_ns, s.pids), (4096, 7000, 3));
        cg.add(42).unwrap();
        assert_eq!(read("gocker-script/abc/cgroup.procs"), "42");
    }

    #[test]
    fn v2_controllers_already_enabled_are_not_written_again() {
        let t = fake_v2("cpu io memory pids");
        let control = t.path().join("cgroup.subtree_control");
        fs::write(&control, "cpu io memory pids\n").unwrap();
        enable_controllers(t.path(), true).unwrap();
        // A write would have replaced the text with "+cpu ...".
        assert_eq!(
            fs::read_to_string(&control).unwrap(),
            "cpu io memory pids\n"
        );
    }

    #[test]
    fn v2_missing_controller_is_a_clear_error() {
        let t = fake_v2("cpu io pids\n");
        let cg = Hierarchy::at(Mode::Unified, t.path()).container("abc");
        let e = cg.create(&limits(), &[]).unwrap_err();
        assert_eq!(e.kind(), Kind::Unsupported);
        assert!(e.message().contains("memory cgroup controller"), "{e}");
        assert!(!t.path().join(PARENT).join("abc").exists(), "nothing left");
    }

    #[test]
    fn v1_create_writes_each_controller_and_destroy_removes_all() {
        let t = tempfile::tempdir().unwrap();
        // cpu and cpuacct co-mounted behind symlinks, as on most v1 hosts.
        for c in ["memory", "cpu,cpuacct", "pids", "devices"] {
            fs::create_dir(t.path().join(c)).unwrap();
        }
        std::os::unix::fs::symlink("cpu,cpuacct", t.path().join("cpu")).unwrap();
        std::os::unix::fs::symlink("cpu,cpuacct", t.path().join("cpuacct")).unwrap();
        let cg = Hierarchy::at(Mode::Hybrid, t.path()).container("abc");
        assert_eq!(cg.dirs.len(), 4, "cpu and cpuacct are one directory");
        for d in &cg.dirs {
            fs::create_dir_all(d).unwrap();
        }
        for (c, f) in [
            ("memory", "memory.limit_in_bytes"),
            ("cpu,cpuacct", "cpu.cfs_period_us"),
            ("cpu,cpuacct", "cpu.cfs_quota_us"),
            ("cpu,cpuacct", "cpu.shares"),
            ("pids", "pids.max"),
        ] {
            fs::write(t.path().join(c).join(PARENT).join("abc").join(f), "").unwrap();
        }
        // No memsw file: a kernel without swap accounting. Not asked for, so skipped.
        cg.create(&limits(), &[]).unwrap();
        let file = |c: &str, f: &str| {
            fs::read_to_string(t.path().join(c).join(PARENT).join("abc").join(f)).unwrap()
        };
        assert_eq!(file("memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(file("cpu,cpuacct", "cpu.cfs_quota_us"), "50000");
        assert_eq!(file("cpu,cpuacct", "cpu.shares"), "1024");
        assert_eq!(file("pids", "pids.max"), "64");
        // Asked explicitly, a missing memsw file is an error.
        let e = cg
            .apply(&Limits {
                memory_swap: Some(128 << 20),
                ..limits()
            })
            .unwrap_err();
        assert!(e.message().contains("memory.memsw.limit_in_bytes"), "{e}");
    }

    /// A v1 layout (cpu and cpuacct co-mounted behind symlinks, as on most v1 hosts) with
    /// the interface files of cgroups `names`, as mkdir in the kernel's would give them.
    fn fake_v1(names: &[&str]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let files: [(&str, &[&str]); 4] = [
            ("memory", &["memory.limit_in_bytes"]),
            (
                "cpu,cpuacct",
                &["cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.shares"],
            ),
            ("pids", &["pids.max"]),
            ("devices", &["devices.allow", "devices.deny"]),
        ];
        for (c, interface) in files {
            for name in names {
                let dir = t.path().join(c).join(PARENT).join(name);
                fs::create_dir_all(&dir).unwrap();
                for f in interface {
                    fs::write(dir.join(f), "").unwrap();
                }
            }
        }
        std::os::unix::fs::symlink("cpu,cpuacct", t.path().join("cpu")).unwrap();
        std::os::unix::fs::symlink("cpu,cpuacct", t.path().join("cpuacct")).unwrap();
        t
    }

    #[test]
    fn a_cgroup_made_ahead_becomes_the_containers_with_its_own_limits() {
        let t = fake_v1(&["ahead-41", "ahead-42"]);
        let h = Hierarchy::at(Mode::Hybrid, t.path());
        let read = |c: &str, name: &str, f: &str| {
            fs::read_to_string(t.path().join(c).join(PARENT).join(name).join(f)).unwrap()
        };
        let pids = Limits {
            pids: Some(DEFAULT_PIDS_LIMIT),
            ..Limits::default()
        };
        let rules = devices::default_rules();
        let ahead = h.prepare_ahead(41, &pids, &rules).unwrap();
        assert_eq!(read("pids", "ahead-41", "pids.max"), "2048");
        assert_eq!(read("devices", "ahead-41", "devices.deny"), "a *:* rwm");
        // Taken with what it was made with: renamed in every hierarchy, nothing rewritten.
        fs::write(
            t.path()
                .join("pids")
                .join(PARENT)
                .join("ahead-41")
                .join("pids.max"),
            "kept",
        )
        .unwrap();
        let cg = ahead.take("abc", &pids, &rules).unwrap();
        assert_eq!(cg.dirs, h.container("abc").dirs);
        for c in ["memory", "cpu,cpuacct", "pids", "devices"] {
            assert!(
                !t.path().join(c).join(PARENT).join("ahead-41").exists(),
                "{c}"
            );
            assert!(t.path().join(c).join(PARENT).join("abc").is_dir(), "{c}");
        }
        assert_eq!(read("pids", "abc", "pids.max"), "kept");
        // Taken by a container with limits and devices of its own: they are written.
        let ahead = h.prepare_ahead(42, &pids, &rules).unwrap();
        fs::write(
            t.path()
                .join("devices")
                .join(PARENT)
                .join("ahead-42")
                .join("devices.allow"),
            "",
        )
        .unwrap();
        let privileged = [DeviceRule::all(true)];
        ahead.take("def", &limits(), &privileged).unwrap();
        assert_eq!(read("memory", "def", "memory.limit_in_bytes"), "67108864");
        assert_eq!(read("pids", "def", "pids.max"), "64");
        assert_eq!(read("devices", "def", "devices.allow"), "a *:* rwm");
        // Never taken: it goes with its maker's handle. (Made here with nothing to write: a
        // plain temporary directory with files in it refuses rmdir, as cgroupfs does not.)
        drop(h.prepare_ahead(43, &Limits::default(), &[]).unwrap());
        assert!(!t
            .path()
            .join("memory")
            .join(PARENT)
            .join("ahead-43")
            .exists());
    }

    #[test]
    fn cgroups_made_ahead_by_processes_gone_are_swept() {
        // Ours is alive but no supervisor waiting: its pid may have been reused.
        let names = [
            "ahead-999999999".to_string(),
            format!("ahead-{}", std::process::id()),
            "abc".into(),
        ];
        let t = tempfile::tempdir().unwrap();
        let h = Hierarchy::at(Mode::Legacy, t.path());
        for name in &names {
            // Empty: a plain temporary directory with files in it refuses rmdir.
            for d in &h.container(name).dirs {
                fs::create_dir_all(d).unwrap();
            }
        }
        h.sweep_ahead();
        for c in V1_CONTROLLERS {
            let dir = t.path().join(c).join(PARENT);
            assert!(!dir.join(&names[0]).exists(), "{c}");
            assert!(!dir.join(&names[1]).exists(), "{c}");
            assert!(dir.join("abc").exists(), "a container's own is left alone");
        }
    }

    #[test]
    fn destroy_removes_cgroups_made_inside_deepest_first() {
        let t = fake_v2("cpu io memory pids\n");
        let cg = Hierarchy::at(Mode::Unified, t.path()).container("abc");
        // A privileged container running systemd made these (empty cgroup directories;
        // a plain temp dir refuses rmdir of a non-empty one, as the kernel would).
        fs::create_dir_all(cg.path().join("system.slice/inner")).unwrap();
        fs::create_dir_all(cg.path().join("init.scope")).unwrap();
        cg.destroy().unwrap();
        assert!(!cg.path().exists());
    }

    #[test]
    fn huge_memory_does_not_overflow() {
        let l = Limits {
            memory: Some(i64::MAX),
            ..Limits::default()
        };
        assert_eq!(
            limit_writes(false, &l).unwrap()[1].value,
            i64::MAX.to_string()
        );
    }

    #[test]
    fn failed_create_leaves_nothing() {
        let t = fake_v2("cpu io memory pids\n");
        let cg = Hierarchy::at(Mode::Unified, t.path()).container("abc");
        fake_v2_child(&t.path().join(PARENT), "cpu io memory pids\n");
        // The child directory is made by create (no interface files in a plain temp dir):
        // the first limit write fails, and the directory goes.
        let e = cg.create(&limits(), &[]).unwrap_err();
        assert!(e.message().contains("memory.max"), "{e}");
        assert!(!t.path().join(PARENT).join("abc").exists());
    }
}
