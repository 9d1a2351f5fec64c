//! Layer unpacking: one streaming pass from a (compressed) layer blob to a directory that is
//! ready to be an overlayfs lower layer.
//!
//! The pass decompresses, hashes the tar stream (the diff id), records a tar-split (the tar
//! stream minus file contents, so `save` can rebuild the exact original bytes) and writes every
//! entry. OCI whiteouts become overlay whiteouts as they are written: `.wh.NAME` becomes a 0/0
//! character device, `.wh..wh..opq` the `trusted.overlay.opaque` xattr on its directory.
//!
//! Safety: a layer is hostile input. Every path is cleaned lexically (an entry that climbs
//! above the layer root with `..` is refused), and every parent directory is then opened with
//! `openat2(RESOLVE_IN_ROOT)`, so a symlink planted by an earlier entry (`etc -> /etc`,
//! `x -> ../../..`) resolves inside the layer, never on the host. The final component is then
//! created with `*at` calls relative to that directory descriptor, with O_NOFOLLOW /
//! AT_SYMLINK_NOFOLLOW, so it cannot be redirected either. Hard link targets are resolved the
//! same way, so a link can only point at a file of this layer.

use std::cell::{Cell, RefCell};
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{
    fchmod, fchmodat, fstatat, futimens, mkdirat, mknodat, utimensat, FchmodatFlags, Mode, SFlag,
    UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use sha2::{Digest as _, Sha256};

use super::oci::Compression;
use crate::error::{Error, Kind, Result};
use crate::sys::path::{clean_path, open_dir_in};

/// A layer entry's path inside the layer; one that climbs out is refused.
fn entry_path(raw: &Path) -> Result<PathBuf> {
    clean_path(raw).ok_or_else(|| {
        Error::new(
            Kind::Corrupt,
            format!(
                "layer entry {:?} points outside the layer",
                raw.display().to_string()
            ),
        )
    })
}

const BUF: usize = 256 * 1024;

/// What unpacking a layer found out about it.
#[derive(Debug, Clone)]
pub struct Unpacked {
    /// sha256 of the uncompressed tar stream.
    pub diff_id: String,
    /// Bytes in the uncompressed tar stream.
    pub size: u64,
}

/// Wraps a blob reader in the decompressor its compression needs.
pub fn decompress<'a, R: Read + 'a>(
    blob: R,
    compression: Compression,
) -> Result<Box<dyn Read + 'a>> {
    let buffered = BufReader::with_capacity(BUF, blob);
    Ok(match compression {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(buffered)
                .map_err(|e| Error::with_source(Kind::Io, "cannot start zstd decoder", e))?,
        ),
    })
}

/// Unpacks one layer blob into `dest` (an existing, empty directory), writing the tar-split
/// record to `split` when given.
pub fn unpack_layer<R: Read>(
    blob: R,
    compression: Compression,
    dest: &Path,
    split: Option<&Path>,
) -> Result<Unpacked> {
    let tar = decompress(blob, compression)?;
    let split_writer = match split {
        Some(p) => Some(SplitWriter::create(p)?),
        None => None,
    };
    let shared = Rc::new(Shared {
        payload: Cell::new(false),
        split: RefCell::new(split_writer),
    });
    let tap = Tap {
        inner: tar,
        hasher: Sha256::new(),
        size: 0,
        shared: shared.clone(),
    };
    let mut archive = tar::Archive::new(tap);
    let root = open_root(dest)?;
    let mut writer = LayerWriter {
        root,
        dest,
        dir_times: Vec::new(),
        buf: vec![0u8; BUF],
    };

    let entries = archive.entries().map_err(|e| tar_error(dest, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| tar_error(dest, e))?;
        writer.entry(&mut entry, &shared)?;
    }
    writer.finish()?;
    let mut tap = archive.into_inner();
    // Whatever follows the end-of-archive blocks is part of the diff id too.
    io::copy(&mut tap, &mut io::sink()).map_err(|e| tar_error(dest, e))?;
    tap.finish()
}

fn tar_error(dest: &Path, e: io::Error) -> Error {
    // Errors from the network reader and digest checks travel through the tar reader as
    // io::Error; keep them whole so the caller can name the layer and both digests.
    if e.get_ref()
        .map(|inner| inner.is::<Error>())
        .unwrap_or(false)
    {
        if let Some(inner) = e.into_inner() {
            if let Ok(ours) = inner.downcast::<Error>() {
                return *ours;
            }
            return Error::new(
                Kind::Io,
                format!("cannot read layer for {}", dest.display()),
            );
        }
        return Error::new(
            Kind::Io,
            format!("cannot read layer for {}", dest.display()),
        );
    }
    let kind = match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidInput => {
            Kind::Corrupt
        }
        _ => Kind::Io,
    };
    Error::with_source(kind, "cannot read layer archive", e)
}

/// State shared by the tap (inside the tar reader) and the entry writer (outside it).
struct Shared {
    /// True while file contents are being copied: those bytes stay out of the tar-split.
    payload: Cell<bool>,
    split: RefCell<Option<SplitWriter>>,
}

/// Sits between the decompressor and the tar reader: hashes every tar byte and copies every
/// byte that is not file content into the tar-split record.
struct Tap<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
    shared: Rc<Shared>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        if !self.shared.payload.get() {
            if let Some(split) = self.shared.split.borrow_mut().as_mut() {
                split.meta.extend_from_slice(&buf[..n]);
            }
        }
        Ok(n)
    }
}

impl<R> Tap<R> {
    fn finish(self) -> Result<Unpacked> {
        if let Some(split) = self.shared.split.borrow_mut().take() {
            split.finish()?;
        }
        Ok(Unpacked {
            diff_id: format!("sha256:{}", hex::encode(self.hasher.finalize())),
            size: self.size,
        })
    }
}

/// Tar-split record writer. Format (zstd-compressed): a sequence of records, `M len:u32 bytes`
/// for raw tar bytes and `F size:u64 len:u32 path` for "the contents of this file of the layer".
pub(crate) struct SplitWriter {
    out: zstd::stream::write::Encoder<'static, io::BufWriter<File>>,
    meta: Vec<u8>,
    path: PathBuf,
}

impl SplitWriter {
    fn create(path: &Path) -> Result<SplitWriter> {
        let file = File::create(path).map_err(|e| Error::io("cannot create", path, e))?;
        let out = zstd::stream::write::Encoder::new(io::BufWriter::new(file), 3)
            .map_err(|e| Error::io("cannot start zstd encoder for", path, e))?;
        Ok(SplitWriter {
            out,
            meta: Vec::new(),
            path: path.to_path_buf(),
        })
    }

    fn flush_meta(&mut self) -> Result<()> {
        let io_err = |e| Error::io("cannot write", &self.path, e);
        for chunk in self.meta.chunks(u32::MAX as usize) {
            self.out.write_all(b"M").map_err(io_err)?;
            self.out
                .write_all(&(chunk.len() as u32).to_le_bytes())
                .map_err(io_err)?;
            self.out.write_all(chunk).map_err(io_err)?;
        }
        self.meta.clear();
        Ok(())
    }

    fn file(&mut self, rel: &Path, size: u64) -> Result<()> {
        self.flush_meta()?;
        let name = rel.as_os_str().as_bytes();
        let io_err = |e| Error::io("cannot write", &self.path, e);
        self.out.write_all(b"F").map_err(io_err)?;
        self.out.write_all(&size.to_le_bytes()).map_err(io_err)?;
        self.out
            .write_all(&(name.len() as u32).to_le_bytes())
            .map_err(io_err)?;
        self.out.write_all(name).map_err(io_err)?;
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.flush_meta()?;
        let path = self.path.clone();
        let mut buf = self
            .out
            .finish()
            .map_err(|e| Error::io("cannot finish", &path, e))?;
        buf.flush().map_err(|e| Error::io("cannot write", &path, e))
    }
}

/// One record of a tar-split.
pub(crate) enum SplitRecord {
    Meta(Vec<u8>),
    File { path: PathBuf, size: u64 },
}

/// Reads a tar-split record back.
pub(crate) struct SplitReader {
    inner: Box<dyn BufRead>,
    path: PathBuf,
}

impl SplitReader {
    pub(crate) fn open(path: &Path) -> Result<SplitReader> {
        let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
        let dec = zstd::stream::read::Decoder::new(file)
            .map_err(|e| Error::io("cannot read", path, e))?;
        Ok(SplitReader {
            inner: Box::new(BufReader::new(dec)),
            path: path.to_path_buf(),
        })
    }

    pub(crate) fn next_record(&mut self) -> Result<Option<SplitRecord>> {
        let bad = |p: &Path| Error::corrupt(format!("tar-split record {} is damaged", p.display()));
        let mut tag = [0u8; 1];
        match self.inner.read(&mut tag) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(Error::io("cannot read", &self.path, e)),
        }
        let mut read = |n: usize| -> Result<Vec<u8>> {
            let mut v = vec![0u8; n];
            self.inner.read_exact(&mut v).map_err(|_| bad(&self.path))?;
            Ok(v)
        };
        match tag[0] {
            b'M' => {
                let len =
                    u32::from_le_bytes(read(4)?.try_into().map_err(|_| bad(&self.path))?) as usize;
                Ok(Some(SplitRecord::Meta(read(len)?)))
            }
            b'F' => {
                let size = u64::from_le_bytes(read(8)?.try_into().map_err(|_| bad(&self.path))?);
                let len =
                    u32::from_le_bytes(read(4)?.try_into().map_err(|_| bad(&self.path))?) as usize;
                let name = read(len)?;
                Ok(Some(SplitRecord::File {
                    path: PathBuf::from(OsStr::from_bytes(&name)),
                    size,
                }))
            }
            _ => Err(bad(&self.path)),
        }
    }
}

fn open_root(dest: &Path) -> Result<OwnedFd> {
    let fd = nix::fcntl::open(
        dest,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("cannot open layer directory", dest, e))?;
    // SAFETY: `open` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn owned(fd: i32) -> OwnedFd {
    // SAFETY: callers pass a descriptor a syscall just returned, owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Removes whatever is at `name` in `dir` (recursively for a directory) without following
/// any symlink.
pub fn remove_at(dir: BorrowedFd, name: &OsStr) -> std::result::Result<(), Errno> {
    let st = match fstatat(
        Some(dir.as_raw_fd()),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    ) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        let fd = openat(
            Some(dir.as_raw_fd()),
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let sub = owned(fd);
        let mut listing = nix::dir::Dir::from_fd(nix::unistd::dup(sub.as_raw_fd())?)?;
        let names: Vec<CString> = listing
            .iter()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_owned())
            .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
            .collect();
        for n in names {
            remove_at(sub.as_fd(), OsStr::from_bytes(n.as_bytes()))?;
        }
        unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::RemoveDir)
    } else {
        unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir)
    }
}

struct LayerWriter<'a> {
    root: OwnedFd,
    dest: &'a Path,
    dir_times: Vec<(PathBuf, TimeSpec)>,
    buf: Vec<u8>,
}

/// Metadata of one tar entry that we apply to what we create.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: TimeSpec,
    xattrs: Vec<(CString, Vec<u8>)>,
}

impl LayerWriter<'_> {
    fn fail(&self, what: &str, rel: &Path, e: Errno) -> Error {
        Error::with_source(
            Kind::Io,
            format!(
                "cannot {what} {} in layer {}",
                rel.display(),
                self.dest.display()
            ),
            io::Error::from(e),
        )
    }

    /// One tar entry, written under the layer root: the root itself, a whiteout, or a file
    /// of one kind, each made by `*at` calls relative to its parent (resolved in the root),
    /// never following a link in the last component.
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>, shared: &Shared) -> Result<()> {
        let raw_path = entry
            .path()
            .map_err(|e| tar_error(self.dest, e))?
            .into_owned();
        let rel = entry_path(&raw_path)?;
        let kind = entry.header().entry_type();
        let meta = self.meta(entry)?;
        let dev = device(entry.header());

        if rel.as_os_str().is_empty() {
            return self.root_entry(kind, rel, meta);
        }

        let name = rel
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        let parent_rel = rel.parent().map(Path::to_path_buf).unwrap_or_default();
        let parent = open_dir_in(self.root.as_fd(), &parent_rel, true)
            .map_err(|e| self.fail("create directory", &parent_rel, e))?;
        if self.whiteout(&parent, &parent_rel, &name, &rel)? {
            return Ok(());
        }

        let existing = fstatat(
            Some(parent.as_raw_fd()),
            name.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .ok();
        let existing_is_dir = existing
            .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
            .unwrap_or(false);
        if existing.is_some() && !(kind.is_dir() && existing_is_dir) {
            remove_at(parent.as_fd(), &name).map_err(|e| self.fail("replace", &rel, e))?;
        }
        let pfd = parent.as_raw_fd();
        use tar::EntryType as T;
        match kind {
            T::Directory => self.make_dir(pfd, &name, rel, meta, existing_is_dir),
            T::Regular | T::Continuous | T::GNUSparse => {
                self.write_file(entry, shared, pfd, &name, &rel, &meta)
            }
            T::Symlink => self.make_symlink(entry, pfd, &name, &rel, &meta),
            T::Link => self.make_hardlink(entry, pfd, &name, &rel),
            T::Char | T::Block | T::Fifo => self.make_node(kind, dev, pfd, &name, &rel, &meta),
            // PAX global headers and unknown types carry no file; the tar reader skips them.
            _ => Ok(()),
        }
    }

    /// The root directory itself ("./"): its mode and owner.
    fn root_entry(&mut self, kind: tar::EntryType, rel: PathBuf, meta: Meta) -> Result<()> {
        if kind.is_dir() {
            let fd = open_dir_in(self.root.as_fd(), Path::new(""), false)
                .map_err(|e| self.fail("open", &rel, e))?;
            let dir = self.reopen(&fd, &rel)?;
            self.apply(&dir, &rel, &meta)?;
            self.dir_times.push((rel, meta.mtime));
        }
        Ok(())
    }

    /// OCI whiteouts: `.wh..wh..opq` makes the parent opaque, `.wh.NAME` hides NAME (an
    /// overlayfs whiteout, a 0/0 character device), other `.wh..wh.` names are aufs
    /// bookkeeping. Returns whether the entry was one.
    fn whiteout(
        &self,
        parent: &OwnedFd,
        parent_rel: &Path,
        name: &OsStr,
        rel: &Path,
    ) -> Result<bool> {
        let name_bytes = name.as_bytes();
        if name_bytes == b".wh..wh..opq" {
            let dir = self.reopen(parent, parent_rel)?;
            set_xattr(&dir, c"trusted.overlay.opaque", b"y")
                .map_err(|e| self.fail("mark opaque", parent_rel, e))?;
            return Ok(true);
        }
        if name_bytes.starts_with(b".wh..wh.") {
            return Ok(true);
        }
        let Some(hidden) = name_bytes.strip_prefix(b".wh.") else {
            return Ok(false);
        };
        let hidden = OsStr::from_bytes(hidden);
        if hidden.is_empty() {
            return Err(Error::corrupt(format!(
                "layer entry {} is an empty whiteout",
                rel.display()
            )));
        }
        remove_at(parent.as_fd(), hidden).map_err(|e| self.fail("remove", rel, e))?;
        mknodat(
            Some(parent.as_raw_fd()),
            hidden,
            SFlag::S_IFCHR,
            Mode::empty(),
            libc::makedev(0, 0),
        )
        .map_err(|e| self.fail("create whiteout", rel, e))?;
        Ok(true)
    }

    fn make_dir(
        &mut self,
        pfd: i32,
        name: &OsStr,
        rel: PathBuf,
        meta: Meta,
        existing_is_dir: bool,
    ) -> Result<()> {
        if !existing_is_dir {
            mkdirat(Some(pfd), name, Mode::from_bits_truncate(0o700))
                .map_err(|e| self.fail("create directory", &rel, e))?;
        }
        let fd = openat(
            Some(pfd),
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.fail("open directory", &rel, e))?;
        let dir = File::from(owned(fd));
        self.apply(&dir, &rel, &meta)?;
        self.dir_times.push((rel, meta.mtime));
        Ok(())
    }

    fn write_file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        shared: &Shared,
        pfd: i32,
        name: &OsStr,
        rel: &Path,
        meta: &Meta,
    ) -> Result<()> {
        let fd = openat(
            Some(pfd),
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| self.fail("create", rel, e))?;
        let mut file = File::from(owned(fd));
        let size = entry.size();
        if let Some(split) = shared.split.borrow_mut().as_mut() {
            split.file(rel, size)?;
        }
        shared.payload.set(true);
        let copied = copy(entry, &mut file, &mut self.buf);
        shared.payload.set(false);
        let copied = copied.map_err(|e| match e {
            CopyError::Read(e) => tar_error(self.dest, e),
            CopyError::Write(e) => Error::with_source(
                Kind::Io,
                format!(
                    "cannot write {} in layer {}",
                    rel.display(),
                    self.dest.display()
                ),
                e,
            ),
        })?;
        if copied != size {
            return Err(Error::corrupt(format!(
                "layer entry {} is truncated",
                rel.display()
            )));
        }
        self.apply(&file, rel, meta)?;
        futimens(file.as_raw_fd(), &meta.mtime, &meta.mtime)
            .map_err(|e| self.fail("set times of", rel, e))?;
        Ok(())
    }

    fn make_symlink<R: Read>(
        &self,
        entry: &mut tar::Entry<R>,
        pfd: i32,
        name: &OsStr,
        rel: &Path,
        meta: &Meta,
    ) -> Result<()> {
        let target = entry
            .link_name()
            .map_err(|e| tar_error(self.dest, e))?
            .ok_or_else(|| Error::corrupt(format!("symlink {} has no target", rel.display())))?;
        symlinkat(target.as_ref(), Some(pfd), name)
            .map_err(|e| self.fail("create symlink", rel, e))?;
        chown_at(pfd, name, meta).map_err(|e| self.fail("chown", rel, e))?;
        utimensat(
            Some(pfd),
            name,
            &meta.mtime,
            &meta.mtime,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| self.fail("set times of", rel, e))?;
        Ok(())
    }

    /// A hard link, to a file earlier in this layer: the target resolves inside the root.
    fn make_hardlink<R: Read>(
        &self,
        entry: &mut tar::Entry<R>,
        pfd: i32,
        name: &OsStr,
        rel: &Path,
    ) -> Result<()> {
        let raw_target = entry
            .link_name()
            .map_err(|e| tar_error(self.dest, e))?
            .ok_or_else(|| Error::corrupt(format!("hard link {} has no target", rel.display())))?
            .into_owned();
        let target = entry_path(&raw_target)?;
        let tname = target.file_name().ok_or_else(|| {
            Error::corrupt(format!(
                "hard link {} points at the layer root",
                rel.display()
            ))
        })?;
        let tparent_rel = target.parent().map(Path::to_path_buf).unwrap_or_default();
        let tparent = open_dir_in(self.root.as_fd(), &tparent_rel, false)
            .map_err(|e| self.fail("find link target", &target, e))?;
        linkat(
            Some(tparent.as_raw_fd()),
            tname,
            Some(pfd),
            name,
            nix::fcntl::AtFlags::empty(),
        )
        .map_err(|e| self.fail(&format!("link {} to", rel.display()), &target, e))?;
        Ok(())
    }

    fn make_node(
        &self,
        kind: tar::EntryType,
        dev: libc::dev_t,
        pfd: i32,
        name: &OsStr,
        rel: &Path,
        meta: &Meta,
    ) -> Result<()> {
        use tar::EntryType as T;
        let (flag, dev) = match kind {
            T::Char => (SFlag::S_IFCHR, dev),
            T::Block => (SFlag::S_IFBLK, dev),
            _ => (SFlag::S_IFIFO, 0),
        };
        mknodat(Some(pfd), name, flag, Mode::empty(), dev)
            .map_err(|e| self.fail("create node", rel, e))?;
        chown_at(pfd, name, meta).map_err(|e| self.fail("chown", rel, e))?;
        fchmodat(
            Some(pfd),
            name,
            Mode::from_bits_truncate(meta.mode),
            FchmodatFlags::FollowSymlink,
        )
        .map_err(|e| self.fail("chmod", rel, e))?;
        Ok(())
    }

    /// Opens a directory we hold as O_PATH for real, so its metadata can be changed.
    fn reopen(&self, fd: &OwnedFd, rel: &Path) -> Result<File> {
        let fd = openat(
            Some(fd.as_raw_fd()),
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.fail("open directory", rel, e))?;
        Ok(File::from(owned(fd)))
    }

    fn meta<R: Read>(&self, entry: &mut tar::Entry<R>) -> Result<Meta> {
        let h = entry.header();
        let bad = |what: &str, e: io::Error| {
            Error::with_source(Kind::Corrupt, format!("layer entry has a bad {what}"), e)
        };
        let mode = h.mode().map_err(|e| bad("mode", e))? & 0o7777;
        let mut uid = h.uid().map_err(|e| bad("uid", e))? as u32;
        let mut gid = h.gid().map_err(|e| bad("gid", e))? as u32;
        let mut mtime = TimeSpec::new(h.mtime().map_err(|e| bad("mtime", e))? as i64, 0);
        let mut xattrs = Vec::new();
        if let Some(exts) = entry.pax_extensions().map_err(|e| bad("pax header", e))? {
            for ext in exts {
                let ext = ext.map_err(|e| bad("pax header", e))?;
                let Ok(key) = ext.key() else { continue };
                let value = ext.value_bytes();
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    // A layer must not plant overlayfs's own metadata (redirects, metacopy):
                    // only this unpacker decides what overlay sees.
                    if name.starts_with("trusted.overlay.") {
                        continue;
                    }
                    if let Ok(c) = CString::new(name) {
                        xattrs.push((c, value.to_vec()));
                    }
                } else if key == "mtime" {
                    if let Some(ts) = std::str::from_utf8(value).ok().and_then(parse_pax_time) {
                        mtime = ts;
                    }
                } else if key == "uid" {
                    if let Some(v) = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()) {
                        uid = v;
                    }
                } else if key == "gid" {
                    if let Some(v) = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()) {
                        gid = v;
                    }
                }
            }
        }
        Ok(Meta {
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        })
    }

    /// Owner, then mode (chown clears setuid), then xattrs.
    fn apply(&self, file: &File, rel: &Path, meta: &Meta) -> Result<()> {
        let fd = file.as_raw_fd();
        fchown(
            fd,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
        )
        .map_err(|e| self.fail("chown", rel, e))?;
        fchmod(fd, Mode::from_bits_truncate(meta.mode)).map_err(|e| self.fail("chmod", rel, e))?;
        for (name, value) in &meta.xattrs {
            match set_xattr(file, name, value) {
                Ok(()) | Err(Errno::ENOTSUP) => {}
                Err(e) => {
                    return Err(self.fail(
                        &format!("set xattr {} on", name.to_string_lossy()),
                        rel,
                        e,
                    ))
                }
            }
        }
        Ok(())
    }

    /// Directory times last, deepest first: creating entries inside a directory changes its
    /// mtime, so setting it earlier would not stick.
    fn finish(&mut self) -> Result<()> {
        let times = std::mem::take(&mut self.dir_times);
        for (rel, ts) in times.iter().rev() {
            let fd = match open_dir_in(self.root.as_fd(), rel, false) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => continue, // replaced later in the layer
                Err(e) => return Err(self.fail("open", rel, e)),
            };
            let dir = self.reopen(&fd, rel)?;
            futimens(dir.as_raw_fd(), ts, ts).map_err(|e| self.fail("set times of", rel, e))?;
        }
        Ok(())
    }
}

/// Sets the owner of `name` in directory `dir` without following a symlink.
fn chown_at(dir: i32, name: &OsStr, meta: &Meta) -> std::result::Result<(), Errno> {
    fchownat(
        Some(dir),
        name,
        Some(Uid::from_raw(meta.uid)),
        Some(Gid::from_raw(meta.gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
}

fn device(h: &tar::Header) -> libc::dev_t {
    let major = h.device_major().ok().flatten().unwrap_or(0);
    let minor = h.device_minor().ok().flatten().unwrap_or(0);
    libc::makedev(major, minor)
}

fn parse_pax_time(s: &str) -> Option<TimeSpec> {
    let (secs, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: i64 = 0;
    if !frac.is_empty() {
        let digits: String = frac.chars().take(9).collect();
        nanos = digits.parse::<i64>().ok()? * 10i64.pow(9 - digits.len() as u32);
    }
    Some(TimeSpec::new(secs, if secs < 0 { -nanos } else { nanos }))
}

fn set_xattr(
    file: &impl AsRawFd,
    name: &std::ffi::CStr,
    value: &[u8],
) -> std::result::Result<(), Errno> {
    // SAFETY: name is NUL-terminated and value is a valid slice for the call's duration.
    let rc = unsafe {
        libc::fsetxattr(
            file.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(rc).map(drop)
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

fn copy(
    from: &mut impl Read,
    to: &mut File,
    buf: &mut [u8],
) -> std::result::Result<u64, CopyError> {
    let mut total = 0u64;
    loop {
        let n = match from.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        to.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
}
