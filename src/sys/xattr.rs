//! Extended attributes that are a file's content (file capabilities, ACLs, user.*), read
//! and written through descriptors.

use std::ffi::CString;

/// Whether an attribute is the file's own: not overlayfs's bookkeeping (trusted.overlay.*)
/// nor the host's SELinux label.
fn is_content(name: &[u8]) -> bool {
    !name.starts_with(b"trusted.overlay.") && name != b"security.selinux"
}

/// The content attributes of an open file, sorted by name.
pub fn content_xattrs(fd: i32) -> Vec<(Vec<u8>, Vec<u8>)> {
    // SAFETY: a null buffer of size 0 asks for the size.
    let size = unsafe { libc::flistxattr(fd, std::ptr::null_mut(), 0) };
    if size <= 0 {
        return Vec::new();
    }
    let mut names = vec![0u8; size as usize];
    // SAFETY: the buffer is valid for its length.
    let n = unsafe { libc::flistxattr(fd, names.as_mut_ptr().cast(), names.len()) };
    if n <= 0 {
        return Vec::new();
    }
    names.truncate(n as usize);
    let mut out = Vec::new();
    for name in names
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty() && is_content(n))
    {
        let Ok(cname) = CString::new(name) else {
            continue;
        };
        // SAFETY: cname is NUL-terminated; a null buffer of size 0 asks for the size.
        let len = unsafe { libc::fgetxattr(fd, cname.as_ptr(), std::ptr::null_mut(), 0) };
        if len < 0 {
            continue;
        }
        let mut value = vec![0u8; len as usize];
        // SAFETY: cname is NUL-terminated; the buffer is valid for its length.
        let got =
            unsafe { libc::fgetxattr(fd, cname.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
        if got >= 0 {
            value.truncate(got as usize);
            out.push((name.to_vec(), value));
        }
    }
    out.sort();
    out
}

/// Copies the content attributes of `from` onto `to` (both open files or directories);
/// a destination that cannot hold them is not an error.
pub fn copy_content_xattrs(from: i32, to: i32) -> Result<(), nix::errno::Errno> {
    for (name, value) in content_xattrs(from) {
        let Ok(cname) = CString::new(name) else {
            continue;
        };
        // SAFETY: cname is NUL-terminated; the value is valid for its length.
        let r =
            unsafe { libc::fsetxattr(to, cname.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
        match nix::errno::Errno::result(r) {
            // A destination filesystem without them (or without that namespace): the
            // file is copied without, as cp -a and docker cp do.
            Err(nix::errno::Errno::EOPNOTSUPP) => {}
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    Ok(())
}

const OPAQUE: &std::ffi::CStr = c"trusted.overlay.opaque";

/// Whether an open directory is overlayfs-opaque (it hides the layers below it).
pub fn is_opaque(dir: std::os::fd::BorrowedFd) -> bool {
    use std::os::fd::AsRawFd;
    let mut buf = [0u8; 2];
    // SAFETY: OPAQUE is NUL-terminated; the buffer is valid for its length.
    let n = unsafe {
        libc::fgetxattr(
            dir.as_raw_fd(),
            OPAQUE.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}

/// Marks an open directory overlayfs-opaque.
pub fn set_opaque(dir: std::os::fd::BorrowedFd) -> Result<(), nix::errno::Errno> {
    use std::os::fd::AsRawFd;
    // SAFETY: OPAQUE is NUL-terminated; the value is one byte.
    let r =
        unsafe { libc::fsetxattr(dir.as_raw_fd(), OPAQUE.as_ptr(), b"y".as_ptr().cast(), 1, 0) };
    nix::errno::Errno::result(r).map(drop)
}
