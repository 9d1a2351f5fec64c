//! Copying files into and out of a container's root, or between any two roots (a build
//! context, an image, a container): `docker cp` and the Dockerfile's COPY/ADD.
//!
//! The work is done by a helper (`gocker-script __copy '{CopyArgs}'`, see `process`): a
//! fresh single-threaded process that, when a root is an overlay (an exited or created
//! container, an image), unshares its mount namespace and mounts it there privately, so
//! nothing is left mounted on the host whenever it is killed. Both ends are directory
//! descriptors and every path is resolved inside its root (`openat2(RESOLVE_IN_ROOT)`), so
//! a container's symlinks never lead the copy onto the host.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

use super::process::{self, StatusPipe, StatusWriter};
use crate::error::{Error, Kind, Result, WireError};
use crate::sys::copy::{list_dir, wildcard, Copier, CopyOptions, Ignore};
use crate::sys::path::{clean_path, open_dir_in, owned};

/// A root filesystem to copy from or into.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CopyRoot {
    /// A host directory as the root (a build context; "/" for host paths).
    Dir(PathBuf),
    /// A running container's root as its processes see it, volumes included: the root of
    /// process `pid`, which must still be in container `id`'s cgroup (a pid is reused once
    /// the container ends).
    Proc { pid: i32, id: String },
    /// Layers (and a writable upper) mounted privately by the helper at `target`.
    Overlay {
        lowers: Vec<PathBuf>,
        upper: Option<(PathBuf, PathBuf)>,
        target: PathBuf,
        empty: PathBuf,
    },
}

/// How sources and destination are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CopyMode {
    /// The Dockerfile's COPY: wildcards; a directory's contents go into the destination;
    /// several sources or a trailing `/` make the destination a directory.
    Dockerfile,
    /// `docker cp`: one source; a directory is copied as itself into an existing
    /// directory (its contents with a trailing `/.`), else to the new name.
    Cp,
}

/// The copy helper's arguments: `__copy '{CopyArgs}'`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CopyArgs {
    pub from: CopyRoot,
    pub into: CopyRoot,
    pub sources: Vec<String>,
    pub dest: String,
    pub mode: CopyMode,
    /// `user[:group]`, names looked up in the destination's /etc/passwd and /etc/group.
    pub owner: Option<String>,
    pub chmod: Option<u32>,
    /// .dockerignore patterns, relative to the source root.
    pub ignore: Vec<String>,
    /// ADD: a local tar archive (plain, gzip or zstd) is extracted into the destination.
    #[serde(default)]
    pub extract: bool,
}

/// What the copy helper tells its caller on descriptor 3, once.
#[derive(Debug, Serialize, Deserialize)]
pub enum CopyMessage {
    Done { entries: u64, bytes: u64 },
    Failed(WireError),
}

/// Runs a copy in the helper; returns (entries, bytes) copied.
pub(crate) fn run(helper: &Path, args: &CopyArgs) -> Result<(u64, u64)> {
    let mut cmd = process::helper_command(helper, process::COPY, args)?;
    cmd.stdin(std::process::Stdio::null());
    let status = StatusPipe::attach(&mut cmd)?;
    crate::trace::step(|| {
        format!(
            "exec /proc/self/exe __copy: {:?} from {:?} to {} in {:?}",
            args.sources, args.from, args.dest, args.into
        )
    });
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::with_source(Kind::Runtime, "cannot start the copy helper", e))?;
    let report = status.read_all();
    let _ = child.wait();
    match serde_json::from_str::<CopyMessage>(&report) {
        Ok(CopyMessage::Done { entries, bytes }) => Ok((entries, bytes)),
        Ok(CopyMessage::Failed(w)) => Err(w.into()),
        Err(_) => Err(WireError::decode(if report.is_empty() {
            "the copy helper ended without a word"
        } else {
            &report
        })),
    }
}

/// The helper's body.
pub fn helper_main(args: &CopyArgs) -> i32 {
    let mut status = StatusWriter::take();
    // Hard links keep their first copy's directory open: as many as the host allows.
    if let Ok((_, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        let _ =
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard);
    }
    let message = match copy(args) {
        Ok((entries, bytes)) => CopyMessage::Done { entries, bytes },
        Err(e) => CopyMessage::Failed(WireError::from(&e)),
    };
    let code = matches!(message, CopyMessage::Failed(_)) as i32;
    status.send(&message);
    code
}

fn copy(args: &CopyArgs) -> Result<(u64, u64)> {
    let private = |r: &CopyRoot| matches!(r, CopyRoot::Overlay { .. });
    if private(&args.from) || private(&args.into) {
        use nix::mount::{mount, MsFlags};
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(|e| {
            Error::sys(
                "cannot unshare the mount namespace of",
                Path::new("the copy helper"),
                e,
            )
        })?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| Error::sys("cannot make private", Path::new("/"), e))?;
    }
    let from = open_root(&args.from)?;
    let into = open_root(&args.into)?;
    let owner = match &args.owner {
        Some(o) => Some(resolve_owner(into.as_fd(), o)?),
        None if args.mode == CopyMode::Dockerfile => Some((0, 0)),
        None => None,
    };
    let opts = CopyOptions {
        owner,
        mode: args.chmod,
    };
    let ignore = Ignore::new(&args.ignore);
    let skip = |p: &Path| ignore.skips(p);
    let mut copier = Copier::new(&opts, &skip);
    let sources = expand_sources(
        from.as_fd(),
        &args.sources,
        args.mode == CopyMode::Dockerfile,
        &ignore,
    )?;
    let dest_raw = args.dest.as_str();
    let dest = clean_path(Path::new(dest_raw))
        .ok_or_else(|| Error::invalid(format!("destination {dest_raw:?} climbs above the root")))?;
    let dest_exists_dir = open_dir_in(into.as_fd(), &dest, false).is_ok();
    let to_dir = match args.mode {
        CopyMode::Dockerfile => {
            dest_raw.ends_with('/')
                || dest_raw.ends_with("/.")
                || sources.len() > 1
                || dest_exists_dir
        }
        CopyMode::Cp => dest_exists_dir,
    };
    for src in &sources {
        let src_raw = src.to_string_lossy();
        let (sdir, sname) = parent_and_name(from.as_fd(), src, "source")?;
        let st = nix::sys::stat::fstatat(
            Some(sdir.as_raw_fd()),
            sname.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| Error::sys("cannot find", Path::new(&*src_raw), e))?;
        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        if args.extract && st.st_mode & libc::S_IFMT == libc::S_IFREG {
            if let Some(archive) = open_archive(sdir.as_fd(), sname.as_os_str(), src)? {
                let ddir = open_dir_in(into.as_fd(), &dest, true).map_err(|e| {
                    Error::sys("cannot make the destination", Path::new(dest_raw), e)
                })?;
                // The archive's owners, unless --chown (as BuildKit's ADD).
                let owner = args.owner.as_ref().and(opts.owner);
                let (n, b) = extract(archive, ddir.as_fd(), src, owner)?;
                copier.entries += n;
                copier.bytes += b;
                continue;
            }
        }
        let contents = match args.mode {
            CopyMode::Dockerfile => is_dir,
            // (The source as given: `dir/.` is cleaned to `dir` on the way.)
            CopyMode::Cp => is_dir && (contents_of(&args.sources) || !dest_exists_dir),
        };
        let failed = |(p, e): (PathBuf, Errno)| Error::sys("cannot copy", &p, e);
        if contents {
            // The directory's entries into the destination directory (made as needed).
            let ddir = open_dir_in(into.as_fd(), &dest, true)
                .map_err(|e| Error::sys("cannot make the destination", Path::new(dest_raw), e))?;
            let s = crate::sys::copy::open_dir_at(sdir.as_fd(), sname.as_os_str())
                .map_err(|e| Error::sys("cannot open", src, e))?;
            for name in list_dir(s.as_fd()).map_err(|e| Error::sys("cannot list", src, e))? {
                let rel = src.join(&name);
                if skip(&rel) {
                    continue;
                }
                copier
                    .copy(s.as_fd(), &name, ddir.as_fd(), &name, &rel)
                    .map_err(failed)?;
            }
            continue;
        }
        let (ddir, dname) = if to_dir {
            let d = open_dir_in(into.as_fd(), &dest, true)
                .map_err(|e| Error::sys("cannot make the destination", Path::new(dest_raw), e))?;
            (d, sname.clone())
        } else {
            let parent = dest.parent().unwrap_or(Path::new(""));
            let name = dest
                .file_name()
                .ok_or_else(|| Error::invalid(format!("destination {dest_raw:?} names no file")))?;
            // COPY makes the destination's parents; cp wants them there.
            let d = open_dir_in(into.as_fd(), parent, args.mode == CopyMode::Dockerfile).map_err(
                |e| {
                    Error::sys(
                        "cannot find the destination directory",
                        Path::new(dest_raw),
                        e,
                    )
                },
            )?;
            (d, name.to_os_string())
        };
        copier
            .copy(
                sdir.as_fd(),
                sname.as_os_str(),
                ddir.as_fd(),
                dname.as_os_str(),
                src,
            )
            .map_err(failed)?;
    }
    Ok((copier.entries, copier.bytes))
}

/// The source as a tar stream if it is an archive (by its first bytes: gzip, zstd, or a
/// tar header's "ustar" magic), decompressed; None for any other file (copied as it is).
fn open_archive(
    dir: BorrowedFd,
    name: &OsStr,
    shown: &Path,
) -> Result<Option<Box<dyn std::io::Read>>> {
    use std::io::{Read, Seek};
    let fd = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        name,
        nix::fcntl::OFlag::O_RDONLY
            | nix::fcntl::OFlag::O_NOFOLLOW
            | nix::fcntl::OFlag::O_CLOEXEC
            | nix::fcntl::OFlag::O_NONBLOCK,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("cannot open", shown, e))?;
    let mut f = File::from(owned(fd));
    let mut head = [0u8; 512];
    let mut got = 0;
    while got < head.len() {
        match f.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(Error::io("cannot read", shown, e)),
        }
    }
    f.rewind().map_err(|e| Error::io("cannot read", shown, e))?;
    let compression = crate::image::oci::Compression::sniff(&head[..got]);
    let is_tar = got == 512 && &head[257..262] == b"ustar";
    if compression == crate::image::oci::Compression::None && !is_tar {
        return Ok(None);
    }
    Ok(Some(crate::image::unpack::decompress(f, compression)?))
}

/// Extracts a tar stream into `dest` (a directory inside the destination root): every
/// entry is created relative to a directory opened inside the root, never through a link,
/// and names that climb out (`../`) are refused. Owners are the archive's unless `owner`.
fn extract(
    archive: Box<dyn std::io::Read>,
    dest: BorrowedFd,
    shown: &Path,
    owner: Option<(u32, u32)>,
) -> Result<(u64, u64)> {
    use nix::sys::stat::{Mode, SFlag};
    let bad =
        |what: &str, e: std::io::Error| Error::io(&format!("cannot extract {what} from"), shown, e);
    let mut ar = tar::Archive::new(archive);
    let (mut entries, mut bytes) = (0u64, 0u64);
    for entry in ar.entries().map_err(|e| bad("entries", e))? {
        let mut e = entry.map_err(|e| bad("an entry", e))?;
        let raw = e.path().map_err(|e| bad("a name", e))?.into_owned();
        let Some(rel) = clean_path(&raw).filter(|p| !p.as_os_str().is_empty()) else {
            if raw
                .components()
                .any(|c| c == std::path::Component::ParentDir)
            {
                return Err(Error::invalid(format!(
                    "{}: entry {} climbs out of the destination",
                    shown.display(),
                    raw.display()
                )));
            }
            continue;
        };
        let parent = rel.parent().unwrap_or(Path::new(""));
        let name = rel
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        let at = |e: Errno| Error::sys("cannot extract", &rel, e);
        let pdir = open_dir_in(dest, parent, true).map_err(at)?;
        let h = e.header().clone();
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let (uid, gid) =
            owner.unwrap_or((h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32));
        let kind = h.entry_type();
        let remove_old = |pdir: &OwnedFd| {
            if let Ok(st) = nix::sys::stat::fstatat(
                Some(pdir.as_raw_fd()),
                name.as_os_str(),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            ) {
                if st.st_mode & libc::S_IFMT != libc::S_IFDIR || !kind.is_dir() {
                    let flag = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                        nix::unistd::UnlinkatFlags::RemoveDir
                    } else {
                        nix::unistd::UnlinkatFlags::NoRemoveDir
                    };
                    let _ = nix::unistd::unlinkat(Some(pdir.as_raw_fd()), name.as_os_str(), flag);
                }
            }
        };
        remove_old(&pdir);
        let chown = |pdir: &OwnedFd| {
            nix::unistd::fchownat(
                Some(pdir.as_raw_fd()),
                name.as_os_str(),
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
        };
        if kind.is_dir() {
            match nix::sys::stat::mkdirat(
                Some(pdir.as_raw_fd()),
                name.as_os_str(),
                Mode::from_bits_truncate(mode),
            ) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(at(e)),
            }
            // Owner and mode through the directory itself, never a link in its place.
            let d = crate::sys::copy::open_dir_at(pdir.as_fd(), name.as_os_str()).map_err(at)?;
            nix::unistd::fchown(
                d.as_raw_fd(),
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
            )
            .map_err(at)?;
            nix::sys::stat::fchmod(d.as_raw_fd(), Mode::from_bits_truncate(mode)).map_err(at)?;
        } else if kind.is_file() {
            let fd = nix::fcntl::openat(
                Some(pdir.as_raw_fd()),
                name.as_os_str(),
                nix::fcntl::OFlag::O_WRONLY
                    | nix::fcntl::OFlag::O_CREAT
                    | nix::fcntl::OFlag::O_EXCL
                    | nix::fcntl::OFlag::O_NOFOLLOW
                    | nix::fcntl::OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )
            .map_err(at)?;
            let mut f = File::from(owned(fd));
            bytes +=
                std::io::copy(&mut e, &mut f).map_err(|e| Error::io("cannot extract", &rel, e))?;
            nix::unistd::fchown(
                f.as_raw_fd(),
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
            )
            .map_err(at)?;
            nix::sys::stat::fchmod(f.as_raw_fd(), Mode::from_bits_truncate(mode)).map_err(at)?;
        } else if kind.is_symlink() {
            let target = h
                .link_name()
                .map_err(|e| bad("a link", e))?
                .unwrap_or_default();
            nix::unistd::symlinkat(target.as_os_str(), Some(pdir.as_raw_fd()), name.as_os_str())
                .map_err(at)?;
            chown(&pdir).map_err(at)?;
        } else if kind.is_hard_link() {
            let target = h
                .link_name()
                .map_err(|e| bad("a link", e))?
                .unwrap_or_default();
            let target = clean_path(&target).ok_or_else(|| {
                Error::invalid(format!(
                    "{}: link {} climbs out",
                    shown.display(),
                    rel.display()
                ))
            })?;
            let tdir =
                open_dir_in(dest, target.parent().unwrap_or(Path::new("")), false).map_err(at)?;
            let tname = target
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_default();
            nix::unistd::linkat(
                Some(tdir.as_raw_fd()),
                tname.as_os_str(),
                Some(pdir.as_raw_fd()),
                name.as_os_str(),
                nix::fcntl::AtFlags::empty(),
            )
            .map_err(at)?;
        } else if kind.is_fifo() || kind.is_character_special() || kind.is_block_special() {
            let k = if kind.is_fifo() {
                SFlag::S_IFIFO
            } else if kind.is_character_special() {
                SFlag::S_IFCHR
            } else {
                SFlag::S_IFBLK
            };
            let dev = libc::makedev(
                h.device_major().ok().flatten().unwrap_or(0),
                h.device_minor().ok().flatten().unwrap_or(0),
            );
            nix::sys::stat::mknodat(
                Some(pdir.as_raw_fd()),
                name.as_os_str(),
                k,
                Mode::from_bits_truncate(mode),
                dev,
            )
            .map_err(at)?;
            chown(&pdir).map_err(at)?;
        } else {
            continue;
        }
        if let Ok(mtime) = h.mtime() {
            let t = nix::sys::time::TimeSpec::new(mtime as i64, 0);
            let _ = nix::sys::stat::utimensat(
                Some(pdir.as_raw_fd()),
                name.as_os_str(),
                &t,
                &t,
                nix::sys::stat::UtimensatFlags::NoFollowSymlink,
            );
        }
        entries += 1;
    }
    Ok((entries, bytes))
}

fn open_root(root: &CopyRoot) -> Result<OwnedFd> {
    let open = |p: &Path| -> Result<OwnedFd> {
        File::open(p)
            .map(OwnedFd::from)
            .map_err(|e| Error::io("cannot open", p, e))
    };
    match root {
        CopyRoot::Dir(p) => open(p),
        CopyRoot::Proc { pid, id } => {
            use nix::fcntl::{openat, OFlag};
            let shown = PathBuf::from(format!("/proc/{pid}"));
            let proc_dir = File::open(&shown).map_err(|e| Error::io("cannot open", &shown, e))?;
            // The same /proc/PID directory is asked for its cgroup and then its root: a pid
            // reused by another process meanwhile would not be this directory any more.
            let cgroup = openat(
                Some(proc_dir.as_raw_fd()),
                "cgroup",
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map(|fd| File::from(owned(fd)))
            .map_err(|e| Error::sys("cannot read", &shown.join("cgroup"), e))?;
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::Read::take(cgroup, 1 << 16), &mut text)
                .map_err(|e| Error::io("cannot read", &shown.join("cgroup"), e))?;
            if !text.contains(&format!("/{}/{id}", crate::runtime::cgroup::PARENT)) {
                return Err(Error::conflict(format!(
                    "container {} is not running any more",
                    &id[..12.min(id.len())]
                )));
            }
            openat(
                Some(proc_dir.as_raw_fd()),
                "root",
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map(owned)
            .map_err(|e| Error::sys("cannot open", &shown.join("root"), e))
        }
        CopyRoot::Overlay {
            lowers,
            upper,
            target,
            empty,
        } => {
            let upper = upper.as_ref().map(|(u, w)| crate::sys::overlay::Upper {
                upper: u,
                work: w,
                volatile: false,
            });
            std::fs::create_dir_all(target).map_err(|e| Error::io("cannot create", target, e))?;
            crate::sys::overlay::mount_overlay(lowers, upper, target, empty)?;
            open(target)
        }
    }
}

/// The sources as cleaned paths in the root, wildcards in their last name expanded (the
/// Dockerfile's COPY), leaving out what `ignore` excludes. The build's cache digest reads
/// the same list.
/// Whether `docker cp`'s one source asks for a directory's contents (`dir/.`).
fn contents_of(sources: &[String]) -> bool {
    sources
        .first()
        .is_some_and(|raw| raw == "." || raw.ends_with("/."))
}

pub fn expand_sources(
    root: BorrowedFd,
    sources: &[String],
    wildcards: bool,
    ignore: &Ignore,
) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for raw in sources {
        let clean = clean_path(Path::new(raw)).ok_or_else(|| {
            Error::invalid(format!("source {raw:?} is outside the build context"))
        })?;
        let name = clean
            .file_name()
            .map(|n| n.as_encoded_bytes().to_vec())
            .unwrap_or_default();
        if !(wildcards && name.iter().any(|b| matches!(b, b'*' | b'?' | b'['))) {
            // Left out of the context by .dockerignore: not there, as Docker has it.
            if ignore.excludes(&clean) {
                return Err(Error::not_found(format!(
                    "COPY failed: {raw} is excluded by .dockerignore"
                )));
            }
            out.push(clean);
            continue;
        }
        let parent = clean.parent().unwrap_or(Path::new("")).to_path_buf();
        let dir =
            open_dir_in(root, &parent, false).map_err(|e| Error::sys("cannot find", &parent, e))?;
        let before = out.len();
        let names = crate::sys::copy::open_dir_at(dir.as_fd(), OsStr::new("."))
            .and_then(|d| list_dir(d.as_fd()))
            .map_err(|e| Error::sys("cannot list", &parent, e))?;
        for n in names {
            if wildcard(&name, n.as_encoded_bytes()) && !ignore.excludes(&parent.join(&n)) {
                out.push(parent.join(n));
            }
        }
        if out.len() == before {
            return Err(Error::not_found(format!("no source file matches {raw:?}")));
        }
    }
    if out.is_empty() {
        return Err(Error::invalid("no source files were given"));
    }
    Ok(out)
}

/// The directory holding `path` in the root, and the last name (or "." for the root).
fn parent_and_name(
    root: BorrowedFd,
    path: &Path,
    what: &str,
) -> Result<(OwnedFd, std::ffi::OsString)> {
    let parent = path.parent().unwrap_or(Path::new(""));
    let name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| ".".into());
    let dir = open_dir_in(root, parent, false)
        .map_err(|e| Error::sys(&format!("cannot find the {what}"), path, e))?;
    Ok((dir, name))
}

/// `user[:group]` as numbers, names looked up in the root's /etc/passwd and /etc/group; a
/// user alone gives the group of the same number, as Docker's --chown.
fn resolve_owner(root: BorrowedFd, spec: &str) -> Result<(u32, u32)> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str| -> Result<u32> {
        if let Ok(n) = name.parse::<u32>() {
            return Ok(n);
        }
        let text = read_in_root(root, file).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.first() == Some(&name)).then(|| f.get(2).and_then(|n| n.parse().ok()))?
            })
            .next()
            .ok_or_else(|| Error::not_found(format!("--chown: no {name:?} in the image's /{file}")))
    };
    let uid = lookup("etc/passwd", user)?;
    let gid = match group {
        Some(g) => lookup("etc/group", g)?,
        None => uid,
    };
    Ok((uid, gid))
}

fn read_in_root(root: BorrowedFd, rel: &str) -> Option<String> {
    // Only a regular file: an image's /etc/passwd may be a device node of the host's.
    let f = crate::sys::path::open_file_in(root, Path::new(rel)).ok()?;
    // An image's /etc/passwd is small; a huge one is not read whole.
    let mut s = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(f, 4 << 20), &mut s).ok()?;
    Some(s)
}
