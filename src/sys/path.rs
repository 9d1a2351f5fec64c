//! Paths inside a root that is not ours to trust (an image layer, a container's root
//! filesystem): every lookup is `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, so a
//! symlink planted inside resolves inside, and /proc's magic links are refused.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{mkdirat, Mode};

/// A path relative to its root: drops `/` and `.`, applies `..`; None when it climbs above
/// the root. The empty path is the root itself.
pub fn clean_path(raw: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for comp in raw.components() {
        match comp {
            Component::Normal(c) => out.push(c),
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

/// A descriptor a system call just returned, owned: only for one nothing else owns.
pub(crate) fn owned(fd: i32) -> OwnedFd {
    // SAFETY: callers pass a descriptor a syscall just returned, owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn in_root() -> ResolveFlag {
    ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS
}

/// Opens `rel` (a cleaned path) as a directory inside `root`, resolving symlinks in the root.
/// With `create`, missing directories are made (mode 0755, like tar).
pub fn open_dir_in(
    root: BorrowedFd,
    rel: &Path,
    create: bool,
) -> std::result::Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(in_root());
    let target: &Path = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    match openat2(root.as_raw_fd(), target, how) {
        Ok(fd) => return Ok(owned(fd)),
        Err(Errno::ENOENT) if create => {}
        Err(e) => return Err(e),
    }
    let mut dir = owned(openat2(root.as_raw_fd(), ".", how)?);
    let mut so_far = PathBuf::new();
    for comp in rel.components() {
        so_far.push(comp);
        match openat2(root.as_raw_fd(), &so_far, how) {
            Ok(fd) => dir = owned(fd),
            Err(Errno::ENOENT) => {
                match mkdirat(
                    Some(dir.as_raw_fd()),
                    comp.as_os_str(),
                    Mode::from_bits_truncate(0o755),
                ) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e),
                }
                dir = owned(openat2(root.as_raw_fd(), &so_far, how)?);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(dir)
}

/// A regular file, opened for reading without opening anything else on the way: `path`
/// (an O_PATH descriptor) must be a regular file, and the file opened must be that one.
/// Opening a device or a FIFO to read it could block, or act (a tape rewinds, a watchdog
/// arms), so they are refused before they are opened.
pub fn reopen_regular(path: OwnedFd) -> std::result::Result<std::fs::File, Errno> {
    let st = nix::sys::stat::fstat(path.as_raw_fd())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Errno::EINVAL);
    }
    let fd = nix::fcntl::open(
        format!("/proc/self/fd/{}", path.as_raw_fd()).as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK,
        Mode::empty(),
    )?;
    let file = std::fs::File::from(owned(fd));
    let now = nix::sys::stat::fstat(file.as_raw_fd())?;
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) {
        return Err(Errno::EAGAIN);
    }
    Ok(file)
}

/// `rel` inside `root` as a regular file for reading (see reopen_regular).
pub fn open_file_in(root: BorrowedFd, rel: &Path) -> std::result::Result<std::fs::File, Errno> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(in_root());
    reopen_regular(owned(openat2(root.as_raw_fd(), rel, how)?))
}
