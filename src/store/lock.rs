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

impl LockGuard {
    /// The lock file, open for writing (a container's also keeps its exit record).
    pub fn file(&self) -> &File {
        &self._file
    }
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

/// One of several locks kept as bytes of one lock file: open file description locks, which
/// like flock belong to the descriptor and go with it (a killed holder never leaves one
/// held, and two descriptors conflict even in one process), and unlike flock let one file
/// hold several. A container's three locks are one file (issue 16: each new file cost a
/// start 20-120 µs on this host's store).
fn ofd_lock(
    file: &File,
    cmd: libc::c_int,
    kind: libc::c_int,
    byte: u8,
) -> std::io::Result<libc::flock> {
    // SAFETY: flock is plain data; all-zero is a valid value, filled in below.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = byte as libc::off_t;
    lock.l_len = 1;
    // SAFETY: fcntl reads and writes the struct we pass, on a descriptor we own.
    if unsafe { libc::fcntl(file.as_raw_fd(), cmd, &mut lock) } == 0 {
        Ok(lock)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Takes byte `byte` of lock file `name` in `dir` exclusively, waiting for it.
pub fn exclusive_byte(dir: &Path, name: &str, byte: u8) -> Result<LockGuard> {
    let (file, path) = open_lock(dir, name)?;
    loop {
        match ofd_lock(&file, libc::F_OFD_SETLKW, libc::F_WRLCK, byte) {
            Ok(_) => return Ok(LockGuard { _file: file, path }),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("cannot lock", &path, e)),
        }
    }
}

/// Takes byte `byte` of lock file `name` in `dir` exclusively if nobody holds it; None if
/// somebody does.
pub fn try_exclusive_byte(dir: &Path, name: &str, byte: u8) -> Result<Option<LockGuard>> {
    let (file, path) = open_lock(dir, name)?;
    match ofd_lock(&file, libc::F_OFD_SETLK, libc::F_WRLCK, byte) {
        Ok(_) => Ok(Some(LockGuard { _file: file, path })),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => Ok(None),
        Err(e) => Err(Error::io("cannot lock", &path, e)),
    }
}

/// Whether somebody holds byte `byte` of lock file `name` in `dir` (a missing file: nobody).
pub fn held_byte(dir: &Path, name: &str, byte: u8) -> bool {
    let Ok(file) = File::open(dir.join(format!("{name}.lock"))) else {
        return false;
    };
    ofd_lock(&file, libc::F_OFD_GETLK, libc::F_WRLCK, byte)
        .is_ok_and(|l| l.l_type != libc::F_UNLCK as libc::c_short)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_of_one_file_are_separate_locks_that_go_with_their_holder() {
        let t = tempfile::tempdir().unwrap();
        let first = exclusive_byte(t.path(), "c", 0).unwrap();
        assert!(held_byte(t.path(), "c", 0));
        assert!(!held_byte(t.path(), "c", 1), "another byte is another lock");
        assert!(
            try_exclusive_byte(t.path(), "c", 0).unwrap().is_none(),
            "taken, even in this process"
        );
        let second = try_exclusive_byte(t.path(), "c", 1)
            .unwrap()
            .expect("byte 1 is free");
        drop(first);
        assert!(!held_byte(t.path(), "c", 0), "let go with its descriptor");
        assert!(held_byte(t.path(), "c", 1));
        drop(second);
        assert!(
            !held_byte(t.path(), "nothing", 0),
            "no file: nobody holds it"
        );
    }
}
