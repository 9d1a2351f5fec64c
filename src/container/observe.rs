//! Looking at a container from outside, and the small changes Docker's verbs make to one:
//! its processes (top), its network counters (for stats), its filesystem changes (diff),
//! its name (rename) and its restart policy (update).

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{running_pid, ContainerStore};
use crate::error::{Error, Result};
use crate::runtime::cgroup::ContainerCgroup;
use crate::runtime::launch::Restart;

/// One process of a container, as `top` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessInfo {
    pub uid: u32,
    pub pid: i32,
    pub ppid: i32,
    /// Seconds since the epoch it started.
    pub started: i64,
    /// CPU time used, seconds.
    pub cpu_seconds: u64,
    pub command: String,
}

/// One change of a container's filesystem against its image (docker diff).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// "A" added, "C" changed, "D" deleted.
    pub kind: &'static str,
    pub path: String,
}

/// Docker's rule for container names.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

impl ContainerStore {
    /// The processes of a running container: those of its cgroup, read from /proc.
    pub fn top(&self, id: &str) -> Result<Vec<ProcessInfo>> {
        let c = self.get(id)?;
        running_pid(&c)?;
        let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .filter(|t| *t > 0)
            .unwrap_or(100) as u64;
        let boot = boot_time();
        let mut out: Vec<ProcessInfo> = ContainerCgroup::of(&c.id)
            .procs()
            .into_iter()
            .filter_map(|pid| process_info(pid, ticks, boot))
            .collect();
        out.sort_by_key(|p| p.pid);
        Ok(out)
    }

    /// Bytes received and sent on a running container's interfaces (loopback aside).
    pub fn net_io(&self, pid: i32) -> (u64, u64) {
        // /proc/PID/net is the network namespace of PID.
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
        text.lines()
            .skip(2)
            .filter_map(|l| l.split_once(':'))
            .filter(|(name, _)| name.trim() != "lo")
            .map(|(_, rest)| {
                let f: Vec<u64> = rest
                    .split_whitespace()
                    .map(|n| n.parse().unwrap_or(0))
                    .collect();
                (
                    f.first().copied().unwrap_or(0),
                    f.get(8).copied().unwrap_or(0),
                )
            })
            .fold((0, 0), |(r, t), (a, b)| (r + a, t + b))
    }

    /// What changed in the container's filesystem against its image: the writable layer
    /// read, never followed (a whiteout is a deletion; a path the image's layers have is a
    /// change, else an addition), sorted by path as Docker lists them.
    pub fn diff(&self, id: &str, images: &crate::image::ImageStore) -> Result<Vec<Change>> {
        let c = self.get(id)?;
        let lowers: Vec<PathBuf> = match &c.spec.image_id {
            Some(image) => images
                .get(image)?
                .layers
                .iter()
                .rev()
                .map(|l| self.paths().layer(l.chain_id.trim_start_matches("sha256:")))
                .collect(),
            None => Vec::new(),
        };
        let upper = self.dir(&c.id).join("upper");
        let mut out = Vec::new();
        walk_upper(&upper, Path::new(""), &lowers, &mut out)?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Gives a container another name (docker rename): also the name its network peers
    /// know it by.
    pub fn rename(&self, id: &str, new: &str) -> Result<()> {
        if !valid_name(new) {
            return Err(Error::invalid(format!(
                "invalid container name {new:?}: use letters, digits and _ . - (starting with a letter or digit)"
            )));
        }
        let c = self.get(id)?;
        let mut conn = self.db.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let taken: Option<String> = tx
            .query_row("SELECT id FROM containers WHERE name = ?1", [new], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(other) = taken {
            return Err(Error::conflict(format!(
                "the name {new:?} is already used by container {}",
                &other[..12.min(other.len())]
            )));
        }
        tx.execute(
            "UPDATE containers SET name = ?2 WHERE id = ?1",
            params![c.id, new],
        )?;
        tx.execute(
            "UPDATE addresses SET name = ?2 WHERE container = ?1",
            params![c.id, new],
        )?;
        tx.commit()?;
        drop(conn);
        let mut attrs = serde_json::Map::new();
        attrs.insert("oldName".into(), format!("/{}", c.name).into());
        super::events::record_with(&self.db, &c.id, "rename", attrs);
        Ok(())
    }

    /// The events a query asks for, oldest first (docker events).
    pub fn events(&self, q: &super::events::Query) -> Result<Vec<super::events::Event>> {
        super::events::list(&self.db, q)
    }

    /// Changes the restart policy (docker update --restart): recorded, and read by the
    /// supervisor when the container next exits.
    pub fn update_restart(&self, id: &str, restart: Option<Restart>) -> Result<()> {
        let c = self.get(id)?;
        if restart.is_some() && c.spec.auto_remove {
            return Err(Error::invalid(format!(
                "container {} is removed when it exits (--rm): it cannot have a restart policy",
                c.name
            )));
        }
        self.change_recorded(
            &c,
            |spec| spec.restart = restart,
            |launch| launch.restart = restart,
        )?;
        Ok(())
    }
}

/// Seconds since the epoch at boot (btime of /proc/stat).
fn boot_time() -> i64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn process_info(pid: i32, ticks: u64, boot: i64) -> Option<ProcessInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: the fields follow the last ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    // Fields from 3 (state) on: ppid is 4, utime 14, stime 15, starttime 22.
    let ppid = num(1) as i32;
    let cpu_seconds = (num(11) + num(12)) / ticks;
    let started = boot + (num(19) / ticks) as i64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let command = if cmdline.is_empty() {
        // A kernel-side name only (a zombie): as ps shows it.
        let name = &stat[stat.find('(')? + 1..stat.rfind(')')?];
        format!("[{name}]")
    } else {
        String::from_utf8_lossy(&cmdline)
            .trim_end_matches('\0')
            .replace('\0', " ")
    };
    Some(ProcessInfo {
        uid,
        pid,
        ppid,
        started,
        cpu_seconds,
        command,
    })
}

/// What a lower layer says of a path: there, whited out, or nothing (look further down).
#[derive(PartialEq)]
enum InLayer {
    Present,
    Deleted,
    Absent,
}

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    m.file_type().is_char_device() && m.rdev() == 0
}

/// Looks `rel` up in one layer without following any link on the way (a link in a layer
/// could point anywhere on the host).
fn in_layer(layer: &Path, rel: &Path) -> InLayer {
    let mut at = layer.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        let Ok(m) = std::fs::symlink_metadata(&at) else {
            return InLayer::Absent;
        };
        if is_whiteout(&m) {
            return InLayer::Deleted;
        }
        let last = i + 1 == parts.len();
        if last {
            return InLayer::Present;
        }
        if !m.is_dir() {
            return InLayer::Absent;
        }
        // An opaque directory hides what the layers below have under it.
        if let Ok(d) = std::fs::File::open(&at) {
            if crate::sys::xattr::is_opaque(d.as_fd()) {
                let rest: PathBuf = parts[i + 1..].iter().collect();
                return match std::fs::symlink_metadata(at.join(rest)) {
                    Ok(m) if !is_whiteout(&m) => InLayer::Present,
                    _ => InLayer::Deleted,
                };
            }
        }
    }
    InLayer::Present
}

/// Whether the image's layers (top first) have `rel`.
fn in_image(lowers: &[PathBuf], rel: &Path) -> bool {
    for layer in lowers {
        match in_layer(layer, rel) {
            InLayer::Present => return true,
            InLayer::Deleted => return false,
            InLayer::Absent => {}
        }
    }
    false
}

fn walk_upper(upper: &Path, rel: &Path, lowers: &[PathBuf], out: &mut Vec<Change>) -> Result<()> {
    let dir = upper.join(rel);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        // A container that never mounted its root has no upper directory: no changes.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && rel.as_os_str().is_empty() => {
            return Ok(())
        }
        Err(e) => return Err(Error::io("cannot read", &dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("cannot read", &dir, e))?;
        let path = rel.join(entry.file_name());
        let m = entry
            .metadata()
            .map_err(|e| Error::io("cannot stat", &entry.path(), e))?;
        let shown = format!("/{}", path.display());
        if is_whiteout(&m) {
            out.push(Change {
                kind: "D",
                path: shown,
            });
            continue;
        }
        let kind = if in_image(lowers, &path) { "C" } else { "A" };
        out.push(Change { kind, path: shown });
        if m.is_dir() {
            walk_upper(upper, &path, lowers, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_follow_dockers_rule() {
        for ok in ["web", "a1", "my_app.v2-x"] {
            assert!(super::valid_name(ok), "{ok}");
        }
        for bad in ["", "-x", "a b", "a/b", "é"] {
            assert!(!super::valid_name(bad), "{bad}");
        }
    }
}
