//! The on-disk state: where things live under `GOCKER_ROOT`, the SQLite database, advisory locks
//! and crash-safe writes. Everything above this module goes through it to touch the root.

pub mod db;
pub mod lock;

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub use db::Db;

/// The default state directory, as for Docker's /var/lib/docker.
pub const DEFAULT_ROOT: &str = "/var/lib/gocker-script";

/// The directory layout of one gocker-script root.
#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
}

impl Paths {
    /// `GOCKER_ROOT`, or the default.
    pub fn from_env() -> Self {
        let root = std::env::var_os("GOCKER_ROOT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT));
        Paths { root }
    }

    pub fn new(root: impl Into<PathBuf>) -> Self {
        // Always absolute: the root is written into bridge owner tags and supervisor
        // arguments, which other processes (in other directories) read.
        let root: PathBuf = root.into();
        let root = std::path::absolute(&root).unwrap_or(root);
        Paths { root }
    }

    pub fn db(&self) -> PathBuf {
        self.root.join("db.sqlite")
    }
    /// Unpacked layers, one read-only directory per chain id.
    pub fn layers(&self) -> PathBuf {
        self.root.join("layers")
    }
    pub fn layer(&self, chain_hex: &str) -> PathBuf {
        self.layers().join(chain_hex)
    }
    /// The tar-split record of a layer: the tar stream minus file contents, to rebuild the
    /// original bytes (and so the original diff id) on `save`.
    pub fn layer_split(&self, chain_hex: &str) -> PathBuf {
        self.layers().join(format!("{chain_hex}.split"))
    }
    /// What pushes learnt about a layer: the digests of its compressed blobs and the
    /// repositories that hold them (a cache; see image::layer_blob).
    pub fn layer_pushed(&self, chain_hex: &str) -> PathBuf {
        self.layers().join(format!("{chain_hex}.pushed"))
    }
    pub fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }
    /// Read-only image mounts made by `mount_image`.
    pub fn image_mounts(&self) -> PathBuf {
        self.root.join("mounts")
    }
    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }
    /// An empty directory that processes in a private mount namespace of their own mount on:
    /// a container's init its root, the copy helper an overlay. Mounted only in those
    /// namespaces, it is one directory for all of them (issue 16: no directory per start).
    pub fn mount_point(&self) -> PathBuf {
        self.root.join("mnt")
    }
    /// Scratch space on the same filesystem as the store, so finished work can be renamed in.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Creates the directory skeleton (idempotent).
    pub fn ensure(&self) -> Result<()> {
        for dir in [
            self.root.clone(),
            self.layers(),
            self.locks(),
            self.image_mounts(),
            self.containers(),
            self.tmp(),
            self.mount_point(),
        ] {
            fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create directory", &dir, e))?;
        }
        Ok(())
    }
}

/// Writes `data` to `path` so that a reader sees either the old file or the whole new one.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    fs::write(&tmp, data).map_err(|e| Error::io("cannot write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io("cannot rename into place", path, e)
    })
}

/// Removes a directory tree, ignoring "not there". Used on cleanup paths.
pub fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("cannot remove", path, e)),
    }
}
