//! Control groups, v1 and v2, through cgroups-rs.
//!
//! Each container gets `gocker-script/<id>` in every controller it needs (memory, cpu,
//! cpuacct, pids on v1; one directory on v2). cgroups-rs picks the hierarchy: v2 where
//! /sys/fs/cgroup is a cgroup2 mount, v1 otherwise (hybrid hosts keep their controllers in v1).

use cgroups_rs::cpu::CpuController;
use cgroups_rs::cpuacct::CpuAcctController;
use cgroups_rs::memory::MemController;
use cgroups_rs::pid::PidController;
use cgroups_rs::{hierarchies, Cgroup, CgroupPid, MaxValue};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Kind, Result};
use crate::trace;

/// Resource limits of a container; `None` means unlimited.
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
    /// Most processes at once.
    pub pids: Option<i64>,
}

const CONTROLLERS: &[&str] = &["memory", "cpu", "cpuacct", "pids"];
const PERIOD_US: u64 = 100_000;

/// One container's cgroup.
pub struct ContainerCgroup {
    cg: Cgroup,
    pub path: String,
}

fn rel(id: &str) -> String {
    format!("gocker-script/{id}")
}

fn cg_err(what: &str, id: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::with_source(
        Kind::Io,
        format!("cannot {what} cgroup of container {id}"),
        e,
    )
}

impl ContainerCgroup {
    /// Creates the cgroup and applies `limits`.
    pub fn create(id: &str, limits: &Limits) -> Result<ContainerCgroup> {
        let hier = hierarchies::auto();
        let v2 = hier.v2();
        let present: Vec<String> = hier
            .subsystems()
            .iter()
            .map(|s| s.controller_name())
            .collect();
        for c in CONTROLLERS.iter().filter(|c| !v2 || **c != "cpuacct") {
            if !present.iter().any(|p| p == c) {
                return Err(Error::new(
                    Kind::Unsupported,
                    format!("the {c} cgroup controller is not available on this host"),
                ));
            }
        }
        trace::step(|| {
            format!(
                "create cgroup {} ({})",
                rel(id),
                if v2 {
                    "cgroup v2"
                } else {
                    "cgroup v1: memory, cpu, cpuacct, pids"
                }
            )
        });
        let controllers: Vec<String> = CONTROLLERS.iter().map(|s| s.to_string()).collect();
        let cg = Cgroup::new_with_specified_controllers(hier, rel(id), Some(controllers))
            .map_err(|e| cg_err("create", id, e))?;
        let this = ContainerCgroup { cg, path: rel(id) };
        if let Err(e) = this.apply(id, limits) {
            let _ = this.cg.delete();
            return Err(e);
        }
        Ok(this)
    }

    /// The existing cgroup of a container (it may be gone).
    pub fn load(id: &str) -> ContainerCgroup {
        let controllers: Vec<String> = CONTROLLERS.iter().map(|s| s.to_string()).collect();
        let cg = Cgroup::load_with_specified_controllers(hierarchies::auto(), rel(id), controllers);
        ContainerCgroup { cg, path: rel(id) }
    }

    /// Writes limits (also on a running container).
    pub fn apply(&self, id: &str, l: &Limits) -> Result<()> {
        let v2 = self.cg.v2();
        if let Some(mem) = l.memory {
            let m: &MemController = self.controller(id, "memory")?;
            trace::step(|| {
                format!(
                    "write {} = {mem} ({})",
                    if v2 {
                        "memory.max"
                    } else {
                        "memory.limit_in_bytes"
                    },
                    self.path
                )
            });
            m.set_limit(mem)
                .map_err(|e| limit_err(id, "memory", mem.to_string(), e))?;
            // As Docker: swap defaults to as much again as the memory limit.
            let swap = l.memory_swap.unwrap_or(mem * 2);
            trace::step(|| {
                format!(
                    "write {} = {swap}",
                    if v2 {
                        "memory.swap.max"
                    } else {
                        "memory.memsw.limit_in_bytes"
                    }
                )
            });
            match m.set_memswap_limit(swap) {
                Ok(()) => {}
                // Kernels without swap accounting have no memsw files: memory alone still limits.
                Err(e) if l.memory_swap.is_none() => {
                    trace::step(|| format!("swap limit not available: {e}"))
                }
                Err(e) => return Err(limit_err(id, "memory swap", swap.to_string(), e)),
            }
        }
        if let Some(cpus) = l.cpus {
            let c: &CpuController = self.controller(id, "cpu")?;
            let quota = (cpus * PERIOD_US as f64).round() as i64;
            trace::step(|| {
                format!(
                    "write {} = {quota} per {PERIOD_US} us",
                    if v2 { "cpu.max" } else { "cpu.cfs_quota_us" }
                )
            });
            c.set_cfs_period(PERIOD_US)
                .map_err(|e| limit_err(id, "cpu period", PERIOD_US.to_string(), e))?;
            c.set_cfs_quota(quota)
                .map_err(|e| limit_err(id, "cpus", cpus.to_string(), e))?;
        }
        if let Some(shares) = l.cpu_shares {
            let c: &CpuController = self.controller(id, "cpu")?;
            trace::step(|| {
                format!(
                    "write {} = {shares}",
                    if v2 { "cpu.weight" } else { "cpu.shares" }
                )
            });
            c.set_shares(shares)
                .map_err(|e| limit_err(id, "cpu shares", shares.to_string(), e))?;
        }
        if let Some(pids) = l.pids {
            let p: &PidController = self.controller(id, "pids")?;
            trace::step(|| format!("write pids.max = {pids}"));
            p.set_pid_max(MaxValue::Value(pids))
                .map_err(|e| limit_err(id, "pids", pids.to_string(), e))?;
        }
        Ok(())
    }

    fn controller<'a, T>(&'a self, id: &str, name: &str) -> Result<&'a T>
    where
        &'a T: From<&'a cgroups_rs::Subsystem>,
        T: cgroups_rs::Controller + cgroups_rs::ControllIdentifier,
    {
        self.cg.controller_of::<T>().ok_or_else(|| {
            Error::new(
                Kind::Unsupported,
                format!("the {name} cgroup controller is not available for container {id}"),
            )
        })
    }

    /// Moves a process into the cgroup.
    pub fn add(&self, pid: i32) -> Result<()> {
        trace::step(|| format!("write {pid} to cgroup.procs of {}", self.path));
        self.cg
            .add_task_by_tgid(CgroupPid::from(pid as u64))
            .map_err(|e| cg_err("join", &self.path, e))
    }

    /// Whether the memory controller saw an OOM kill.
    pub fn oom_killed(&self) -> bool {
        if self.cg.v2() {
            // v2 counts kills in memory.events, which cgroups-rs does not read.
            let events = std::path::Path::new(hierarchies::UNIFIED_MOUNTPOINT)
                .join(&self.path)
                .join("memory.events");
            return std::fs::read_to_string(events)
                .map(|t| keyed_value(&t, "oom_kill") > 0)
                .unwrap_or(false);
        }
        self.cg
            .controller_of::<MemController>()
            .map(|m| m.memory_stat().oom_control.oom_kill > 0)
            .unwrap_or(false)
    }

    /// Memory in use, its limit, CPU time used (ns) and processes.
    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        if let Some(m) = self.cg.controller_of::<MemController>() {
            let st = m.memory_stat();
            s.memory = st.usage_in_bytes;
            s.memory_limit = st.limit_in_bytes.max(0) as u64;
        }
        if let Some(c) = self.cg.controller_of::<CpuAcctController>() {
            s.cpu_ns = c.cpuacct().usage;
        } else if let Some(c) = self.cg.controller_of::<CpuController>() {
            s.cpu_ns = parse_usage_usec(&c.cpu().stat) * 1000;
        }
        if let Some(p) = self.cg.controller_of::<PidController>() {
            s.pids = p.get_pid_current().unwrap_or(0);
        }
        s
    }

    /// Kills every process left and removes the cgroup.
    pub fn destroy(&self) -> Result<()> {
        if !self.cg.exists() {
            return Ok(());
        }
        trace::step(|| format!("remove cgroup {}", self.path));
        let _ = self.cg.kill();
        let mut last = None;
        for _ in 0..100 {
            match self.cg.delete() {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        match last {
            Some(e) => Err(cg_err("remove", &self.path, e)),
            None => Ok(()),
        }
    }
}

fn parse_usage_usec(stat: &str) -> u64 {
    keyed_value(stat, "usage_usec")
}

/// The number after `key` in a cgroup v2 "key value" file (memory.events, cpu.stat); 0 when
/// the key is missing.
fn keyed_value(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn limit_err(
    id: &str,
    what: &str,
    value: String,
    e: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::with_source(
        Kind::InvalidArgument,
        format!("the host refused {what} limit {value} for container {id}"),
        e,
    )
}

/// A cgroup's usage figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub memory: u64,
    pub memory_limit: u64,
    pub cpu_ns: u64,
    pub pids: u64,
}

#[cfg(test)]
mod tests {
    use super::keyed_value;

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
}
