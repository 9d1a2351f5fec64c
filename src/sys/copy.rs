//! Copying a tree between two roots that are not ours to trust (a build context, a
//! container's root filesystem, an image): both ends are directory descriptors, every name
//! below them is opened relative to its parent with O_NOFOLLOW, so a symlink planted on
//! either side is copied as a symlink and never followed out of its root.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmodat, fstatat, mkdirat, mknodat, utimensat, FchmodatFlags, Mode};
use nix::sys::stat::{SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, linkat, symlinkat, unlinkat};
use nix::unistd::{Gid, Uid, UnlinkatFlags};

use crate::sys::path::owned;
use crate::sys::xattr::{is_opaque, set_opaque};

/// What a copy changes on the way (COPY's --chown and --chmod).
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// Owner of everything copied; None keeps the source's.
    pub owner: Option<(u32, u32)>,
    /// Permission bits of everything copied; None keeps the source's.
    pub mode: Option<u32>,
}

/// One copy: what it read and made, and hard links kept as links.
pub struct Copier<'a> {
    opts: &'a CopyOptions,
    /// Skips a source path (relative to the copy's top) when true: .dockerignore.
    skip: &'a dyn Fn(&Path) -> bool,
    /// (dev, ino) of multiply linked sources → the destination made for the first.
    links: HashMap<(u64, u64), (std::rc::Rc<OwnedFd>, OsString)>,
    /// The destination directories those first copies are in, one descriptor each (a tree
    /// of many hard links must not take a descriptor per link).
    link_dirs: HashMap<(u64, u64), std::rc::Rc<OwnedFd>>,
    /// The sources are image layers as this store keeps them (overlayfs's form): replaying
    /// them one on another squashes them. An opaque directory empties the destination's
    /// first and stays opaque; an entry of another type replaces a directory.
    pub layers: bool,
    pub entries: u64,
    pub bytes: u64,
}

fn flags_ro() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK
}

/// Opens `name` in `dir` as a readable directory, never through a symlink.
pub fn open_dir_at(dir: BorrowedFd, name: &OsStr) -> Result<OwnedFd, Errno> {
    openat(
        Some(dir.as_raw_fd()),
        name,
        flags_ro() | OFlag::O_DIRECTORY,
        Mode::empty(),
    )
    .map(owned)
}

/// The names in a directory, sorted (so copies and digests are in a stable order).
pub fn list_dir(dir: BorrowedFd) -> Result<Vec<OsString>, Errno> {
    let fd = openat(
        Some(dir.as_raw_fd()),
        ".",
        flags_ro() | OFlag::O_DIRECTORY,
        Mode::empty(),
    )?;
    let mut d = nix::dir::Dir::from_fd(fd)?;
    let mut names: Vec<OsString> = d
        .iter()
        .filter_map(|e| e.ok())
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .filter(|n| n != "." && n != "..")
        .collect();
    names.sort();
    Ok(names)
}

impl<'a> Copier<'a> {
    pub fn new(opts: &'a CopyOptions, skip: &'a dyn Fn(&Path) -> bool) -> Copier<'a> {
        Copier {
            opts,
            skip,
            links: HashMap::new(),
            link_dirs: HashMap::new(),
            layers: false,
            entries: 0,
            bytes: 0,
        }
    }

    /// Copies `src_name` in `src_dir` to `dst_name` in `dst_dir`: a directory with
    /// everything under it, a file, a symlink (as a link), a device or a FIFO. `rel` is the
    /// source's path relative to the copy's top, for `skip` and for errors.
    pub fn copy(
        &mut self,
        src_dir: BorrowedFd,
        src_name: &OsStr,
        dst_dir: BorrowedFd,
        dst_name: &OsStr,
        rel: &Path,
    ) -> Result<(), (PathBuf, Errno)> {
        let at = |e: Errno| (rel.to_path_buf(), e);
        let st = fstatat(
            Some(src_dir.as_raw_fd()),
            src_name,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(at)?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let mode = self.opts.mode.unwrap_or(st.st_mode & 0o7777);
        let (uid, gid) = self.opts.owner.unwrap_or((st.st_uid, st.st_gid));
        self.entries += 1;
        if kind == SFlag::S_IFDIR {
            let src = open_dir_at(src_dir, src_name).map_err(at)?;
            let dst = self.make_dir(dst_dir, dst_name).map_err(at)?;
            if self.layers && is_opaque(src.as_fd()) {
                for name in list_dir(dst.as_fd()).map_err(at)? {
                    remove_tree_at(dst.as_fd(), &name).map_err(at)?;
                }
                set_opaque(dst.as_fd()).map_err(at)?;
            }
            for name in list_dir(src.as_fd()).map_err(at)? {
                let child = rel.join(&name);
                if (self.skip)(&child) {
                    continue;
                }
                self.copy(src.as_fd(), &name, dst.as_fd(), &name, &child)?;
            }
            fchownat(
                Some(dst.as_raw_fd()),
                ".",
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(at)?;
            fchmodat(
                Some(dst.as_raw_fd()),
                ".",
                Mode::from_bits_truncate(mode),
                FchmodatFlags::FollowSymlink,
            )
            .map_err(at)?;
            crate::sys::xattr::copy_content_xattrs(src.as_raw_fd(), dst.as_raw_fd()).map_err(at)?;
            set_times(dst.as_fd(), ".", &st).map_err(at)?;
            return Ok(());
        }
        // Anything else replaces what is there (but never a directory with a non-directory).
        match fstatat(
            Some(dst_dir.as_raw_fd()),
            dst_name,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(old) if old.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFDIR.bits() => {
                if !self.layers {
                    return Err(at(Errno::EISDIR));
                }
                remove_tree_at(dst_dir, dst_name).map_err(at)?;
            }
            Ok(_) => unlinkat(
                Some(dst_dir.as_raw_fd()),
                dst_name,
                UnlinkatFlags::NoRemoveDir,
            )
            .map_err(at)?,
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(at(e)),
        }
        if st.st_nlink > 1 {
            if let Some((first_dir, first_name)) = self.links.get(&(st.st_dev, st.st_ino)) {
                return linkat(
                    Some(first_dir.as_raw_fd()),
                    first_name.as_os_str(),
                    Some(dst_dir.as_raw_fd()),
                    dst_name,
                    AtFlags::empty(),
                )
                .map_err(at);
            }
        }
        match kind {
            SFlag::S_IFREG => {
                let src = openat(
                    Some(src_dir.as_raw_fd()),
                    src_name,
                    flags_ro(),
                    Mode::empty(),
                )
                .map(owned)
                .map_err(at)?;
                let mut src = File::from(src);
                // A file replaced since it was stat'ed (renamed over, as programs write their
                // files): the one opened is copied, with its own mode and owner, if it is a
                // regular file too; anything else (a device, a FIFO) is refused.
                let now = nix::sys::stat::fstat(src.as_raw_fd()).map_err(at)?;
                let (mode, uid, gid) = if now.st_ino != st.st_ino || now.st_dev != st.st_dev {
                    if SFlag::from_bits_truncate(now.st_mode & SFlag::S_IFMT.bits())
                        != SFlag::S_IFREG
                    {
                        return Err(at(Errno::EAGAIN));
                    }
                    let (uid, gid) = self.opts.owner.unwrap_or((now.st_uid, now.st_gid));
                    (self.opts.mode.unwrap_or(now.st_mode & 0o7777), uid, gid)
                } else {
                    (mode, uid, gid)
                };
                let dst = openat(
                    Some(dst_dir.as_raw_fd()),
                    dst_name,
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map(owned)
                .map_err(at)?;
                let mut dst = File::from(dst);
                self.bytes += std::io::copy(&mut src, &mut dst)
                    .map_err(|e| at(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))?;
                nix::unistd::fchown(
                    dst.as_raw_fd(),
                    Some(Uid::from_raw(uid)),
                    Some(Gid::from_raw(gid)),
                )
                .map_err(at)?;
                nix::sys::stat::fchmod(dst.as_raw_fd(), Mode::from_bits_truncate(mode))
                    .map_err(at)?;
                // File capabilities, ACLs, user.*: after the owner, which clears capabilities.
                crate::sys::xattr::copy_content_xattrs(src.as_raw_fd(), dst.as_raw_fd())
                    .map_err(at)?;
            }
            SFlag::S_IFLNK => {
                let target = readlinkat(Some(src_dir.as_raw_fd()), src_name).map_err(at)?;
                symlinkat(target.as_os_str(), Some(dst_dir.as_raw_fd()), dst_name).map_err(at)?;
                fchownat(
                    Some(dst_dir.as_raw_fd()),
                    dst_name,
                    Some(Uid::from_raw(uid)),
                    Some(Gid::from_raw(gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(at)?;
            }
            SFlag::S_IFIFO | SFlag::S_IFCHR | SFlag::S_IFBLK => {
                mknodat(
                    Some(dst_dir.as_raw_fd()),
                    dst_name,
                    kind,
                    Mode::from_bits_truncate(mode),
                    st.st_rdev,
                )
                .map_err(at)?;
                fchownat(
                    Some(dst_dir.as_raw_fd()),
                    dst_name,
                    Some(Uid::from_raw(uid)),
                    Some(Gid::from_raw(gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(at)?;
            }
            // Sockets are not content.
            _ => return Ok(()),
        }
        set_times(dst_dir, dst_name, &st).map_err(at)?;
        if st.st_nlink > 1 && kind != SFlag::S_IFLNK {
            let d = nix::sys::stat::fstat(dst_dir.as_raw_fd()).map_err(at)?;
            let dir = match self.link_dirs.get(&(d.st_dev, d.st_ino)) {
                Some(dir) => dir.clone(),
                None => {
                    let dir = std::rc::Rc::new(
                        nix::unistd::dup(dst_dir.as_raw_fd())
                            .map(owned)
                            .map_err(at)?,
                    );
                    self.link_dirs.insert((d.st_dev, d.st_ino), dir.clone());
                    dir
                }
            };
            self.links
                .insert((st.st_dev, st.st_ino), (dir, dst_name.to_os_string()));
        }
        Ok(())
    }

    /// The directory `name` in `dir`, made (0755) unless a directory is there already; a
    /// non-directory in its place is replaced.
    fn make_dir(&self, dir: BorrowedFd, name: &OsStr) -> Result<OwnedFd, Errno> {
        match mkdirat(Some(dir.as_raw_fd()), name, Mode::from_bits_truncate(0o755)) {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                let st = fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
                if st.st_mode & SFlag::S_IFMT.bits() != SFlag::S_IFDIR.bits() {
                    unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir)?;
                    mkdirat(Some(dir.as_raw_fd()), name, Mode::from_bits_truncate(0o755))?;
                    if self.layers {
                        // A directory made where a layer deleted something (a whiteout):
                        // opaque, or what the base had there would come back.
                        let made = open_dir_at(dir, name)?;
                        set_opaque(made.as_fd())?;
                        return Ok(made);
                    }
                }
            }
            Err(e) => return Err(e),
        }
        open_dir_at(dir, name)
    }
}

/// Removes `name` in `dir` and, for a directory, everything under it, never through a link.
pub fn remove_tree_at(dir: BorrowedFd, name: &OsStr) -> Result<(), Errno> {
    let st = fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    if st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFDIR.bits() {
        let d = open_dir_at(dir, name)?;
        for child in list_dir(d.as_fd())? {
            remove_tree_at(d.as_fd(), &child)?;
        }
        unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::RemoveDir)
    } else {
        unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir)
    }
}

fn set_times<P: ?Sized + nix::NixPath>(
    dir: BorrowedFd,
    name: &P,
    st: &nix::sys::stat::FileStat,
) -> Result<(), Errno> {
    utimensat(
        Some(dir.as_raw_fd()),
        name,
        &TimeSpec::new(st.st_atime, st.st_atime_nsec),
        &TimeSpec::new(st.st_mtime, st.st_mtime_nsec),
        UtimensatFlags::NoFollowSymlink,
    )
}

/// Whether `name` matches a shell wildcard pattern (`*`, `?`, `[...]`, `\` escapes), as
/// Go's filepath.Match does for one path component.
pub fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let (mut star_p, mut star_n) = (None, 0);
    while n < name.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star_p = Some(p);
                    star_n = n;
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' => {
                    if let Some((true, len)) = class(&pattern[p..], name[n]) {
                        p += len;
                        n += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pattern.len() && pattern[p + 1] == name[n] => {
                    p += 2;
                    n += 1;
                    continue;
                }
                c if c == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star_p {
            Some(sp) => {
                p = sp + 1;
                star_n += 1;
                n = star_n;
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

/// A `[...]` class at the start of `pattern`: whether `c` is in it, and the class's length.
fn class(pattern: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pattern.get(i), Some(b'^') | Some(b'!'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < pattern.len() && (first || pattern[i] != b']') {
        first = false;
        let lo = pattern[i];
        if i + 2 < pattern.len() && pattern[i + 1] == b'-' && pattern[i + 2] != b']' {
            if lo <= c && c <= pattern[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if lo == c {
                matched = true;
            }
            i += 1;
        }
    }
    if i >= pattern.len() {
        return None;
    }
    Some((matched != negate, i + 1))
}

/// .dockerignore: patterns of paths (relative to the context), `**` for any number of
/// directories, `!` to take an exclusion back; the last matching pattern decides, and a
/// path is excluded when it or a directory above it is.
pub struct Ignore {
    patterns: Vec<(bool, Vec<Vec<u8>>)>,
}

impl Ignore {
    pub fn new(lines: &[String]) -> Ignore {
        let patterns = lines
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| {
                let (keep, p) = match l.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, l),
                };
                let clean = crate::sys::path::clean_path(Path::new(p))?;
                let parts: Vec<Vec<u8>> = clean
                    .components()
                    .map(|c| c.as_os_str().as_bytes().to_vec())
                    .collect();
                (!parts.is_empty()).then_some((keep, parts))
            })
            .collect();
        Ignore { patterns }
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `rel` (a cleaned path in the context) is left out.
    pub fn excludes(&self, rel: &Path) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let parts: Vec<&[u8]> = rel.components().map(|c| c.as_os_str().as_bytes()).collect();
        let mut excluded = false;
        for (keep, pattern) in &self.patterns {
            // The path itself or any directory above it.
            let hit = (1..=parts.len()).any(|n| matches_parts(pattern, &parts[..n]));
            if hit {
                excluded = !keep;
            }
        }
        excluded
    }

    /// Whether a walk leaves `rel` out entirely: it is excluded and no exception (`!`)
    /// could take back anything below it (`docs` then `!docs/README.md` keeps walking docs).
    pub fn skips(&self, rel: &Path) -> bool {
        if !self.excludes(rel) {
            return false;
        }
        let parts: Vec<&[u8]> = rel.components().map(|c| c.as_os_str().as_bytes()).collect();
        !self
            .patterns
            .iter()
            .any(|(keep, pattern)| *keep && could_match_below(pattern, &parts))
    }
}

/// Whether `pattern` could match a path strictly below the directory `parts`.
fn could_match_below(pattern: &[Vec<u8>], parts: &[&[u8]]) -> bool {
    match (pattern.split_first(), parts.split_first()) {
        (None, _) => false,
        (Some((first, _)), _) if first.as_slice() == b"**" => true,
        (Some(_), None) => true,
        (Some((first, rest)), Some((p, more))) => {
            wildcard(first, p) && could_match_below(rest, more)
        }
    }
}

fn matches_parts(pattern: &[Vec<u8>], parts: &[&[u8]]) -> bool {
    match pattern.split_first() {
        None => parts.is_empty(),
        Some((first, rest)) if first.as_slice() == b"**" => {
            (0..=parts.len()).any(|skip| matches_parts(rest, &parts[skip..]))
        }
        Some((first, rest)) => match parts.split_first() {
            Some((p, more)) => wildcard(first, p) && matches_parts(rest, more),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_go() {
        for (p, n, want) in [
            ("*.txt", "a.txt", true),
            ("*.txt", "a.txt.bak", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("[a-c]x", "bx", true),
            ("[!a-c]x", "bx", false),
            ("[^a-c]x", "dx", true),
            ("*", "", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("\\*", "*", true),
            ("\\*", "a", false),
        ] {
            assert_eq!(wildcard(p.as_bytes(), n.as_bytes()), want, "{p} ~ {n}");
        }
    }

    #[test]
    fn dockerignore_patterns_exclude_and_take_back() {
        let ig = Ignore::new(&[
            "# a comment".into(),
            "*.log".into(),
            "build/".into(),
            "**/secret".into(),
            "docs/*.md".into(),
            "!docs/README.md".into(),
        ]);
        for (p, want) in [
            ("a.log", true),
            ("dir/a.log", false),
            ("build", true),
            ("build/x/y", true),
            ("secret", true),
            ("a/b/secret", true),
            ("a/b/secret/inner", true),
            ("docs/x.md", true),
            ("docs/README.md", false),
            ("src/main.rs", false),
        ] {
            assert_eq!(ig.excludes(Path::new(p)), want, "{p}");
        }
        // An excluded directory is still walked when an exception may keep something in it.
        let ig = Ignore::new(&["docs".into(), "!docs/README.md".into(), "build".into()]);
        assert!(ig.excludes(Path::new("docs")) && !ig.skips(Path::new("docs")));
        assert!(!ig.excludes(Path::new("docs/README.md")));
        assert!(ig.skips(Path::new("docs/other.md")));
        assert!(ig.skips(Path::new("build")));
        assert!(!Ignore::new(&[]).excludes(Path::new("anything")));
    }

    #[test]
    fn a_tree_is_copied_with_links_as_links() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir_all(src.join("d/e")).unwrap();
        std::fs::write(src.join("d/f"), b"data").unwrap();
        std::fs::hard_link(src.join("d/f"), src.join("d/g")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("d/l")).unwrap();
        std::fs::write(src.join("d/skip.me"), b"x").unwrap();
        let xattr_set = {
            let p = std::ffi::CString::new(src.join("d/f").as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: valid strings and buffer.
            unsafe {
                libc::setxattr(
                    p.as_ptr(),
                    c"user.kept".as_ptr(),
                    b"yes".as_ptr().cast(),
                    3,
                    0,
                ) == 0
            }
        };
        let dst = t.path().join("dst");
        std::fs::create_dir(&dst).unwrap();
        let a = File::open(t.path()).unwrap();
        let b = File::open(&dst).unwrap();
        let opts = CopyOptions {
            owner: None,
            mode: Some(0o640),
        };
        let skip = |p: &Path| p.ends_with("skip.me");
        let mut c = Copier::new(&opts, &skip);
        c.copy(
            a.as_fd(),
            OsStr::new("src"),
            b.as_fd(),
            OsStr::new("out"),
            Path::new(""),
        )
        .unwrap();
        let out = dst.join("out");
        assert_eq!(std::fs::read(out.join("d/f")).unwrap(), b"data");
        if xattr_set {
            let got =
                crate::sys::xattr::content_xattrs(File::open(out.join("d/f")).unwrap().as_raw_fd());
            assert_eq!(got, vec![(b"user.kept".to_vec(), b"yes".to_vec())]);
        }
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            std::fs::metadata(out.join("d/f")).unwrap().ino(),
            std::fs::metadata(out.join("d/g")).unwrap().ino()
        );
        assert_eq!(
            std::fs::read_link(out.join("d/l")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert!(!out.join("d/skip.me").exists());
        assert_eq!(
            std::fs::metadata(out.join("d/f")).unwrap().mode() & 0o7777,
            0o640
        );
        // Again over itself: files replaced, a directory never replaced by a file.
        let mut c = Copier::new(&opts, &skip);
        c.copy(
            a.as_fd(),
            OsStr::new("src"),
            b.as_fd(),
            OsStr::new("out"),
            Path::new(""),
        )
        .unwrap();
        let mut c = Copier::new(&opts, &skip);
        let e = c
            .copy(
                File::open(src.join("d")).unwrap().as_fd(),
                OsStr::new("f"),
                File::open(&out).unwrap().as_fd(),
                OsStr::new("d"),
                Path::new("f"),
            )
            .unwrap_err();
        assert_eq!(e.1, Errno::EISDIR);
    }
}
