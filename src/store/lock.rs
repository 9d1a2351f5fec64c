//! Advisory file locks (flock) under `GOCKER_ROOT/locks`, so that two scripts (or two threads)
//! never unpack the same layer twice and `rmi` never deletes a layer a pull is about to use.
//! Locks are released when the guard drops or the process dies, so a killed pull never
//! leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A held lock; dropping it unlocks.
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
    pub path: PathBuf,
}

/// The lock file `name` in `dir`, made if missing.
fn open_lock(dir: &Path, name: &str) -> Result<(File, PathBuf)> {
    let path = dir.join(format!("{name}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("cannot open lock", &path, e))?;
    Ok((file, path))
}

/// Takes an exclusive lock named `name` in `dir`, waiting for it.
pub fn exclusive(dir: &Path, name: &str) -> Result<LockGuard> {
    let (file, path) = open_lock(dir, name)?;
    loop {
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc == 0 {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(Error::io("cannot lock", &path, err));
        }
    }
    Ok(LockGuard { _file: file, path })
}

/// Takes an exclusive lock named `name` in `dir` if nobody holds it; None if somebody does.
pub fn try_exclusive(dir: &Path, name: &str) -> Result<Option<LockGuard>> {
    let (file, path) = open_lock(dir, name)?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(Some(LockGuard { _file: file, path }));
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Ok(None);
    }
    Err(Error::io("cannot lock", &path, err))
}

/// Whether somebody holds the lock `name` in `dir` (a missing lock file: nobody). Tried,
/// not waited for; a lock found free is let go at once.
pub fn held(dir: &Path, name: &str) -> bool {
    let path = dir.join(format!("{name}.lock"));
    let Ok(file) = File::open(&path) else {
        return false;
    };
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK)
}

/// Takes exclusive locks on every name, in sorted order so that two callers locking
/// overlapping sets can never deadlock.
pub fn exclusive_all(dir: &Path, names: &[String]) -> Result<Vec<LockGuard>> {
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    sorted.dedup();
    sorted.into_iter().map(|n| exclusive(dir, n)).collect()
}
