//! overlayfs mounts of image layers.
//!
//! Layer directories are passed to the kernel as `/proc/self/fd/N` of descriptors we hold open,
//! not as their full paths: mount options are limited to one page, and 64-hex-digit paths
//! would cap an image at a few dozen layers. The kernel resolves the descriptors at mount time.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, Kind, Result};

/// The writable part of an overlay: `upper` receives changes, `work` is overlay's scratch.
pub struct Upper<'a> {
    pub upper: &'a Path,
    pub work: &'a Path,
    /// Mounted `volatile`: the overlay never syncs its upper layer, not even when it is
    /// unmounted. For an upper thrown away with its container (`--rm`, as podman does):
    /// otherwise the unmount at the container's exit syncs the whole filesystem under it
    /// (every dirty page of the host's, and a disk flush: 1-2 ms on an idle disk, a hundred
    /// and more under another program's writes; issue 16).
    pub volatile: bool,
}

/// Mounts `lowers` (bottom layer first, as images list them) at `target`, read-only when no
/// upper is given. An image with no layers at all gets an empty read-only directory.
pub fn mount_overlay(
    lowers: &[PathBuf],
    upper: Option<Upper>,
    target: &Path,
    empty_dir: &Path,
) -> Result<()> {
    let mut lowers: Vec<PathBuf> = lowers.to_vec();
    // overlayfs needs two lower layers when there is no upper; a read-only mount of a
    // one-layer image gets an empty directory underneath.
    if (upper.is_none() && lowers.len() < 2) || lowers.is_empty() {
        std::fs::create_dir_all(empty_dir).map_err(|e| Error::io("cannot create", empty_dir, e))?;
        lowers.insert(0, empty_dir.to_path_buf());
    }
    let mut held = Vec::with_capacity(lowers.len());
    for dir in lowers.iter().rev() {
        let f = File::open(dir).map_err(|e| Error::io("cannot open layer", dir, e))?;
        held.push(f);
    }
    let lowerdir: Vec<String> = held
        .iter()
        .map(|f| format!("/proc/self/fd/{}", f.as_raw_fd()))
        .collect();
    let mut data = format!("lowerdir={}", lowerdir.join(":"));
    let mut flags = MsFlags::empty();
    match &upper {
        Some(u) => data.push_str(&format!(
            ",upperdir={},workdir={}",
            u.upper.display(),
            u.work.display()
        )),
        None => flags |= MsFlags::MS_RDONLY,
    }
    if data.len() >= 4096 {
        return Err(Error::new(
            Kind::Unsupported,
            format!("image has too many layers ({}) to mount", lowers.len()),
        ));
    }
    crate::trace::step(|| {
        format!(
            "mount overlay on {} ({} layers{})",
            target.display(),
            lowers.len(),
            match &upper {
                Some(u) if u.volatile => " + writable upper, volatile: thrown away, never synced",
                Some(_) => " + writable upper",
                None => ", read-only",
            }
        )
    });
    let mount_with =
        |data: &str| mount(Some("overlay"), target, Some("overlay"), flags, Some(data));
    let done = if upper.is_some() {
        // The writable layer must hold plain changes for commit to read back: no renamed
        // directories recorded as redirects, no metadata-only copies, no inode index
        // (kernels or distributions may turn them on by default). A kernel too old to know
        // the options has none of them.
        let plain = format!("{data},redirect_dir=off,metacopy=off,index=off");
        let volatile = upper.as_ref().is_some_and(|u| u.volatile);
        // A kernel before 5.10 has no volatile: its overlay syncs, as it always did.
        let tried = if volatile {
            match mount_with(&format!("{plain},volatile")) {
                Err(nix::errno::Errno::EINVAL) => mount_with(&plain),
                other => other,
            }
        } else {
            mount_with(&plain)
        };
        match tried {
            Err(nix::errno::Errno::EINVAL) => mount_with(&data),
            other => other,
        }
    } else {
        mount_with(&data)
    };
    done.map_err(|e| Error::sys("cannot mount overlay on", target, e))?;
    drop(held);
    Ok(())
}

/// Unmounts `target`; "not mounted" is not an error.
pub fn unmount(target: &Path) -> Result<()> {
    match umount2(target, MntFlags::UMOUNT_NOFOLLOW) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(nix::errno::Errno::EBUSY) => {
            // Someone is still inside: detach now, the kernel frees it when they leave.
            umount2(target, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW)
                .map_err(|e| Error::sys("cannot unmount", target, e))
        }
        Err(e) => Err(Error::sys("cannot unmount", target, e)),
    }
}

/// Whether `path` is a mount point, from /proc/self/mountinfo.
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines().any(|l| {
        l.split(' ')
            .nth(4)
            .map(|m| unescape(m) == want)
            .unwrap_or(false)
    })
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}
